"""Real runs for the registry and report tests: synthetic XNYS bars, a strategy file, a real home.

Nothing is mocked: runs go through :func:`rbt.api.run_backtest`, write their results and
record themselves in a real SQLite file under ``tmp_path``.
"""

from __future__ import annotations

import datetime as dt
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rbt.api import run_backtest
from rbt.api.results import BacktestResult
from rbt.data.bars import BarArrays, bars_from_floats
from rbt.data.home import RbtHome
from rbt.kernel.model import Asset
from rbt.plugins import plugin_manager
from rbt.plugins.calendars import get_calendar

SESSIONS: list[dt.date] = list(
    get_calendar("XNYS").sessions(dt.date(2017, 1, 3), dt.date(2018, 3, 29))
)
ASSETS = (Asset(sid=1, symbol="AAA"), Asset(sid=2, symbol="BBB"), Asset(sid=3, symbol="IDX"))

STRATEGY = textwrap.dedent(
    """\
    from rbt.api import order_target_percent, record, set_benchmark, symbols, symbol

    PARAMS = {"fast": 5, "slow": 20}

    def initialize(context):
        context.assets = symbols("AAA", "BBB")
        set_benchmark(symbol("IDX"))

    def handle_data(context, data):
        closes = data.history(context.assets, "close", context.params.slow, "1d", frame="numpy")
        fast = closes[-context.params.fast:].mean(axis=0)
        slow = closes.mean(axis=0)
        for i, asset in enumerate(context.assets):
            order_target_percent(asset, 0.45 if fast[i] > slow[i] else 0.0)
        record(fast0=float(fast[0]))
    """
)


def build_bars(seed: int = 7) -> BarArrays:
    """Random-walk closes (a fixed seed) for AAA, BBB and an index IDX."""
    rng = np.random.default_rng(seed)
    steps = rng.normal(0.0004, 0.012, size=(len(SESSIONS), len(ASSETS)))
    close = 100.0 * np.cumprod(1 + steps, axis=0)
    return bars_from_floats(
        list(ASSETS),
        SESSIONS,
        {"open": close * 0.999, "high": close * 1.01, "low": close * 0.99, "close": close,
         "volume": np.full(close.shape, 1e7)},
    )  # fmt: skip


@pytest.fixture(scope="session")
def bars() -> BarArrays:
    return build_bars()


@pytest.fixture
def home(tmp_path: Path) -> RbtHome:
    return RbtHome(tmp_path / "home")


@pytest.fixture
def strategy_file(tmp_path: Path) -> Path:
    path = tmp_path / "crossover.py"
    path.write_text(STRATEGY, encoding="utf-8")
    return path


@pytest.fixture
def make_run(bars: BarArrays, home: RbtHome, strategy_file: Path) -> Callable[..., BacktestResult]:
    """``make_run(**overrides)``: a written, recorded backtest over :data:`SESSIONS`."""
    manager = plugin_manager(autoload=False, strict=True)

    def _run(**kwargs: Any) -> BacktestResult:
        kwargs.setdefault("start", SESSIONS[0])
        kwargs.setdefault("end", SESSIONS[-1])
        kwargs.setdefault("bars", bars)
        kwargs.setdefault("bundle_hash", "synthetic-seed-7")
        kwargs.setdefault("manager", manager)
        kwargs.setdefault("capital_base", 1_000_000)
        kwargs.setdefault("home", home)
        return run_backtest(kwargs.pop("strategy", strategy_file), **kwargs)

    return _run
