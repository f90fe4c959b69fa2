"""A strategy defined in exec'd code (a notebook cell, ``python -c``) runs and gets a stable id."""

from __future__ import annotations

import datetime as dt

import numpy as np

from rbt.api import run_backtest
from rbt.data.bars import bars_from_floats
from rbt.kernel.model import Asset
from rbt.plugins.calendars import get_calendar

SOURCE = """
from rbt.api import TradingAlgorithm, order

class Cell(TradingAlgorithm):
    def handle_data(self, context, data):
        if not context.portfolio.positions:
            order(context.asset if hasattr(context, "asset") else data_asset(), {qty})

def data_asset():
    from rbt.api import sid
    return sid(0)
"""


def _strategy(qty: int) -> type:
    namespace: dict[str, object] = {}
    exec(compile(SOURCE.format(qty=qty), "<notebook-cell>", "exec"), namespace)
    return namespace["Cell"]  # type: ignore[return-value]


def _bars():  # type: ignore[no-untyped-def]
    sessions = get_calendar("XNYS").sessions(dt.date(2021, 3, 1), dt.date(2021, 3, 12))
    prices = np.full((len(sessions), 1), 10.0)
    return bars_from_floats(
        [Asset(sid=0, symbol="A")],
        sessions,
        {
            "open": prices,
            "high": prices,
            "low": prices,
            "close": prices,
            "volume": np.full((len(sessions), 1), 1e6),
        },
    )


def test_exec_defined_strategies_run_with_distinct_stable_ids() -> None:
    bars = _bars()
    kwargs = {"start": "2021-03-01", "end": "2021-03-12", "bars": bars, "write": False}
    first = run_backtest(_strategy(5), **kwargs)
    again = run_backtest(_strategy(5), **kwargs)
    other = run_backtest(_strategy(7), **kwargs)
    assert len(first.transactions) == 1
    assert first.run_id == again.run_id
    assert other.run_id != first.run_id
