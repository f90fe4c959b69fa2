"""Recorded variables cannot replace the exact performance columns."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from rbt.api import TradingAlgorithm, record, run_backtest
from rbt.api.results import PERF_COLUMNS
from rbt.data.bars import bars_from_floats
from rbt.kernel.model import Asset
from rbt.plugins.calendars import get_calendar


def _bars():  # type: ignore[no-untyped-def]
    sessions = get_calendar("XNYS").sessions(dt.date(2020, 1, 2), dt.date(2020, 1, 10))
    n = len(sessions)
    prices = np.full((n, 1), 10.0)
    return bars_from_floats(
        [Asset(sid=0, symbol="A")],
        sessions,
        {
            "open": prices,
            "high": prices,
            "low": prices,
            "close": prices,
            "volume": np.full((n, 1), 1000.0),
        },
    )


@pytest.mark.parametrize("name", sorted(PERF_COLUMNS))
def test_recording_a_builtin_column_name_is_refused(name: str) -> None:
    class Recorder(TradingAlgorithm):
        def handle_data(self, context, data):  # type: ignore[no-untyped-def]
            record(**{name: 1.0})

    bars = _bars()
    with pytest.raises(ValueError, match="built-in performance column"):
        run_backtest(Recorder, start="2020-01-02", end="2020-01-10", bars=bars, write=False)


def test_other_names_become_perf_columns() -> None:
    class Recorder(TradingAlgorithm):
        def handle_data(self, context, data):  # type: ignore[no-untyped-def]
            record(signal=2.5)

    result = run_backtest(Recorder, start="2020-01-02", end="2020-01-10", bars=_bars(), write=False)
    assert result.perf["signal"].to_list() == [2.5] * len(result.perf)
