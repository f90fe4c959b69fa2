"""Fixtures of the data-layer tests: a fresh RBT home, CSV directories, the real GOOG/EURUSD files.

Nothing is mocked: ingests read real files, write real Parquet bundles and a real
SQLite database under ``tmp_path``.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest

from rbt.data.home import RbtHome
from rbt.kernel.manager import RbtPluginManager, make_plugin_manager
from rbt.plugins.calendars import get_calendar

#: Built-in plugins the data layer needs.
PLUGINS = (
    "rbt.plugins.calendars",
    "rbt.plugins.csv_source",
    "rbt.plugins.demo_source",
    "rbt.plugins.bundle_store",
)
HEADER = "Date,Open,High,Low,Close,Volume"


def xnys_sessions(count: int, start: dt.date) -> list[dt.date]:
    """The first ``count`` XNYS sessions from ``start``."""
    days = get_calendar("XNYS").sessions(start, start + dt.timedelta(days=count * 2 + 10))
    return list(days[:count])


def write_csv_dir(directory: Path, n_files: int, n_rows: int, seed: int = 7) -> Path:
    """Write ``n_files`` valid daily CSVs of ``n_rows`` XNYS sessions each (exact text)."""
    directory.mkdir(parents=True, exist_ok=True)
    dates = [d.isoformat() for d in xnys_sessions(n_rows, dt.date(2010, 1, 4))]
    rng = np.random.default_rng(seed)

    def money(cents: int) -> str:
        return f"{cents // 100}.{cents % 100:02d}"

    for i in range(n_files):
        close = 10_000 + np.abs(np.cumsum(rng.integers(-150, 151, size=n_rows)))
        open_ = np.maximum(close + rng.integers(-50, 51, size=n_rows), 1)
        high = np.maximum(open_, close) + rng.integers(0, 80, size=n_rows)
        low = np.maximum(np.minimum(open_, close) - rng.integers(0, 80, size=n_rows), 1)
        vol = rng.integers(0, 5_000_000, size=n_rows)
        lines = [HEADER] + [
            f"{d},{money(o)},{money(h)},{money(lo)},{money(c)},{v}"
            for d, o, h, lo, c, v in zip(dates, open_, high, low, close, vol, strict=True)
        ]
        (directory / f"S{i:04d}.csv").write_text("\n".join(lines) + "\n")
    return directory


@pytest.fixture
def make_csv_dir() -> Callable[..., Path]:
    """:func:`write_csv_dir`: many valid synthetic daily CSV files."""
    return write_csv_dir


@pytest.fixture
def home(tmp_path: Path) -> RbtHome:
    """A fresh RBT home (bundles and rbt.sqlite) under ``tmp_path``."""
    return RbtHome(tmp_path / "home")


@pytest.fixture(scope="session")
def manager() -> RbtPluginManager:
    """Built-in data plugins only; no entry points."""
    return make_plugin_manager(builtins=PLUGINS, autoload=False)


@pytest.fixture
def csv_dir(tmp_path: Path) -> Callable[[dict[str, Sequence[str] | str]], Path]:
    """Write ``{symbol: lines or raw text}`` as ``<symbol>.csv`` files; return the directory."""

    def make(files: dict[str, Sequence[str] | str]) -> Path:
        directory = tmp_path / "csv"
        directory.mkdir(exist_ok=True)
        for symbol, content in files.items():
            text = content if isinstance(content, str) else "\n".join(content) + "\n"
            (directory / f"{symbol}.csv").write_text(text)
        return directory

    return make


@pytest.fixture(scope="session")
def backtesting_data() -> Path:
    """The directory of the real OHLCV CSVs shipped inside the ``backtesting`` package."""
    # find_spec, not import: importing backtesting pulls in pandas and bokeh (1.5 s)
    spec = importlib.util.find_spec("backtesting")
    assert spec is not None, "backtesting (dev group) is not installed"
    assert spec.origin is not None
    return Path(spec.origin).parent / "test"
