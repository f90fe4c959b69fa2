"""Shared fixtures of the strategy-API tests: real XNYS bars, a plugin manager, a runner.

Nothing here mocks the engine: runs go through :func:`rbt.api.run_backtest` with real
:class:`BarArrays` and never write outside ``tmp_path`` (``write=False`` or ``home=tmp_path``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest

from rbt.api import run_backtest
from rbt.api.results import BacktestResult
from rbt.data.bars import BarArrays, bars_from_floats
from rbt.kernel.manager import RbtPluginManager
from rbt.kernel.model import Asset
from rbt.plugins import plugin_manager
from rbt.plugins.calendars import get_calendar

CAL = get_calendar("XNYS")
#: 2024-01-02 .. 2024-03-28: 61 XNYS sessions (MLK day, Presidents' day and Good Friday off).
SESSIONS: list[dt.date] = list(CAL.sessions(dt.date(2024, 1, 2), dt.date(2024, 3, 28)))
AAA = Asset(sid=1, symbol="AAA")
BBB = Asset(sid=2, symbol="BBB")


def build_bars(
    assets: Sequence[Asset] = (AAA, BBB),
    sessions: Sequence[dt.date] = SESSIONS,
    close: Any = None,
    volume: Any = None,
) -> BarArrays:
    """Daily bars: by default AAA closes at 100 + 0.5·i, BBB at 50 + 0.25·i, volume 1e6."""
    n, m = len(sessions), len(assets)
    if close is None:
        steps = np.arange(n, dtype=float)[:, None]
        close = 100.0 / (np.arange(m) + 1) + steps * (0.5 / (np.arange(m) + 1))
    close = np.asarray(close, dtype=float)
    volume = np.full((n, m), 1e6) if volume is None else np.asarray(volume, dtype=float)
    return bars_from_floats(
        list(assets),
        list(sessions),
        {
            "open": close - 0.25,
            "high": close + 1,
            "low": close - 1,
            "close": close,
            "volume": volume,
        },
        calendar="XNYS",
    )


def make_manager() -> RbtPluginManager:
    """The built-ins only: installed third-party plugins cannot change these results."""
    return plugin_manager(autoload=False, strict=True)


@pytest.fixture
def manager() -> RbtPluginManager:
    return make_manager()


@pytest.fixture
def bars() -> BarArrays:
    return build_bars()


@pytest.fixture
def run(manager: RbtPluginManager, bars: BarArrays) -> Callable[..., BacktestResult]:
    """``run(strategy, **overrides)``: a backtest over :data:`SESSIONS`, nothing written."""

    def _run(strategy: Any, **kwargs: Any) -> BacktestResult:
        kwargs.setdefault("start", SESSIONS[0])
        kwargs.setdefault("end", SESSIONS[-1])
        kwargs.setdefault("bars", bars)
        kwargs.setdefault("manager", manager)
        kwargs.setdefault("capital_base", 1_000_000)
        if "home" not in kwargs:
            kwargs.setdefault("write", False)
        return run_backtest(strategy, **kwargs)

    return _run


@pytest.fixture(name="build_bars")
def build_bars_fixture() -> Callable[..., BarArrays]:
    """The :func:`build_bars` helper, for tests that plant their own prices."""
    return build_bars
