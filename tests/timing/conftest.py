"""Helpers of the timing tests: daily and minute bar arrays built in memory, a runner.

Nothing is mocked: runs go through :func:`rbt.api.run_backtest` with real
:class:`BarArrays` (and real CSV ingests where the format is under test).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest

from rbt.api import run_backtest
from rbt.api.results import BacktestResult
from rbt.data.actions import CorporateActions
from rbt.data.bars import BarArrays, bars_from_floats
from rbt.kernel.clock import NS_PER_MINUTE, Frequency
from rbt.kernel.model import Asset
from rbt.plugins import plugin_manager
from rbt.plugins.calendars import get_calendar

XNYS = get_calendar("XNYS")


def daily(
    assets: Sequence[Asset],
    sessions: Sequence[dt.date],
    close: Any,
    actions: CorporateActions | None = None,
    calendar: str = "XNYS",
    volume: float = 1e6,
) -> BarArrays:
    """Daily bars with open = close, high/low = close ± 1 % (NaN close: no bar)."""
    close = np.asarray(close, dtype=float).reshape(len(sessions), len(assets))
    return bars_from_floats(
        list(assets),
        list(sessions),
        {
            "open": close,
            "high": close * 1.01,
            "low": close * 0.99,
            "close": close,
            "volume": np.where(np.isnan(close), np.nan, volume),
        },
        calendar=calendar,
        actions=actions,
    )


def minute(
    assets: Sequence[Asset],
    sessions: Sequence[dt.date],
    price: Callable[[int, int], float],
    calendar: str = "XNYS",
    actions: CorporateActions | None = None,
) -> BarArrays:
    """Minute bars over every minute of ``sessions``: ``price(minute_index, col)`` is the
    close; open = close − 0.01, high = close + 0.02, low = close − 0.02, volume 1000."""
    cal = get_calendar(calendar)
    ts, labels = [], []
    for session in sessions:
        times = cal.session_times(session)
        stamps = range(times.open + NS_PER_MINUTE, times.close + 1, NS_PER_MINUTE)
        ts.extend(stamps)
        labels.extend([session] * len(stamps))
    n = len(ts)
    close = np.array([[price(i, j) for j in range(len(assets))] for i in range(n)])
    close = np.round(close, 2)
    fields = {
        "close": close,
        "open": close - 0.01,
        "high": close + 0.02,
        "low": close - 0.02,
        "volume": np.full_like(close, 1000.0),
    }
    mantissas = {
        k: np.round(v * (1 if k == "volume" else 100)).astype(np.int64) for k, v in fields.items()
    }
    floats = {k: mantissas[k] / (1 if k == "volume" else 100) for k in fields}
    return BarArrays(
        frequency=Frequency.MINUTE,
        calendar=calendar,
        assets=tuple(assets),
        ts=np.array(ts, dtype=np.int64),
        sessions=np.array(labels, dtype="datetime64[D]"),
        floats=floats,
        mantissas=mantissas,
        price_scales=np.full(len(assets), 2, dtype=np.int64),
        volume_scales=np.zeros(len(assets), dtype=np.int64),
        actions=actions or CorporateActions(),
    )


@pytest.fixture(scope="session")
def manager():
    return plugin_manager(autoload=False, strict=True)


@pytest.fixture
def run(manager) -> Callable[..., BacktestResult]:
    """``run(strategy, bars, **overrides)``: zero costs, next-close fills, nothing written."""

    def _run(strategy: Any, bars: BarArrays, **kwargs: Any) -> BacktestResult:
        sessions = sorted(set(bars.sessions.tolist()))
        kwargs.setdefault("start", sessions[0])
        kwargs.setdefault("end", sessions[-1])
        kwargs.setdefault("capital_base", 100_000)
        kwargs.setdefault("commission", "none")
        kwargs.setdefault("slippage", "none")
        return run_backtest(strategy, bars=bars, manager=manager, write=False, **kwargs)

    return _run
