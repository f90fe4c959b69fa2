"""Real daily returns for the analytics tests: the SPY benchmark file zipline-reloaded ships."""

from __future__ import annotations

import csv
import datetime as dt
import importlib.util
from pathlib import Path

import numpy as np
import pytest


def spy_csv() -> Path:
    """``zipline/resources/market_data/SPY_benchmark.csv`` (found without importing zipline)."""
    spec = importlib.util.find_spec("zipline")
    assert spec is not None, "zipline-reloaded is a dev dependency"
    assert spec.submodule_search_locations
    path = Path(
        next(iter(spec.submodule_search_locations)), "resources", "market_data", "SPY_benchmark.csv"
    )
    assert path.is_file(), path
    return path


def load_spy() -> tuple[list[dt.date], np.ndarray]:
    with spy_csv().open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    days = [dt.date.fromisoformat(r["date"][:10]) for r in rows]
    return days, np.array([float(r["return"]) for r in rows])


@pytest.fixture(scope="session")
def spy() -> tuple[list[dt.date], np.ndarray]:
    return load_spy()
