"""Bars for the pipeline tests: real XNYS sessions, seeded random walks, no mocks."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import numpy as np
import pytest

from rbt.data.bars import BarArrays, bars_from_floats
from rbt.kernel.model import Asset
from rbt.plugins.calendars import get_calendar

CAL = get_calendar("XNYS")
SESSIONS: list[dt.date] = list(CAL.sessions(dt.date(2023, 1, 3), dt.date(2023, 6, 30)))


def random_bars(
    n_assets: int = 8,
    sessions: Sequence[dt.date] = SESSIONS,
    seed: int = 0,
    holes: float = 0.0,
    assets: Sequence[Asset] | None = None,
) -> BarArrays:
    """Random-walk bars on a 1/8 grid; ``holes`` is the share of missing bars."""
    rng = np.random.default_rng(seed)
    n = len(sessions)
    steps = rng.normal(0, 0.02, (n, n_assets))
    close = np.round(50 * np.exp(np.cumsum(steps, axis=0)) * 8) / 8 + 1
    volume = rng.integers(1_000, 100_000, (n, n_assets)).astype(float)
    if holes:
        missing = rng.random((n, n_assets)) < holes
        close[missing] = np.nan
        volume[missing] = np.nan
    fields = {
        "open": close,
        "high": close + 0.5,
        "low": close - 0.5,
        "close": close,
        "volume": volume,
    }
    chosen = assets or [Asset(sid=i, symbol=f"S{i:02d}") for i in range(n_assets)]
    return bars_from_floats(list(chosen), list(sessions), fields)


@pytest.fixture
def bars() -> BarArrays:
    return random_bars()
