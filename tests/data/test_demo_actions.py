"""The demo's synthetic corporate actions: XBB's 2-for-1 split and XAA/XBB dividends.

The generator itself stays pinned (test_demo_source.GOLDEN); the actions are applied on
top of it deterministically, and a run across the split sees no jump in its value.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy as np

from rbt.api import TradingAlgorithm, order, run_backtest, symbol
from rbt.data.bundles import load_bundle, read_manifest
from rbt.data.demo import DemoSource
from rbt.data.ingest import ingest
from rbt.plugins import plugin_manager

OPTIONS = {"start": "2020-07-01", "end": "2020-10-30", "symbols": 30}


def test_demo_actions_are_deterministic_and_consistent_with_the_bars(home, manager):
    one = ingest(home, "demo", "d1", OPTIONS, manager=manager)
    two = ingest(home, "demo", "d2", OPTIONS, manager=manager)
    assert one.content_hash == two.content_hash
    assert "adjustments.parquet" in read_manifest(home, "d1").files
    bars = load_bundle(home, "d1")
    actions = bars.actions
    xbb = next(a for a in bars.assets if a.symbol == "XBB")
    assert [(s.sid, s.ex_date, s.ratio) for s in actions.splits] == [
        (xbb.sid, dt.date(2020, 8, 31), Decimal(2))
    ]
    payers = {bars.assets[d.sid].symbol for d in actions.dividends}
    assert payers == {"XAA", "XBB"}
    assert all(d.pay_date > d.ex_date and d.amount > 0 for d in actions.dividends)
    # as traded: XBB's close halves across the split (the walk itself moves < 10 %)
    col = bars.column(xbb)
    ex = int(np.searchsorted(bars.sessions, np.datetime64("2020-08-31")))
    ratio = bars.floats["close"][ex - 1, col] / bars.floats["close"][ex, col]
    assert 1.8 < ratio < 2.2
    # the 28 other symbols are the generated walk, unchanged
    full = DemoSource(start="2020-07-01", end="2020-10-30")
    assert "AAA" not in {bars.assets[d.sid].symbol for d in actions.dividends}
    assert full.corporate_actions() is not None


class HoldXBB(TradingAlgorithm):
    def initialize(self, context):
        self.values = {}

    def handle_data(self, context, data):
        if not self.values:
            order(symbol("XBB"), 100)
        self.values[data.current_dt.date()] = (
            context.portfolio.portfolio_value,
            context.portfolio.positions[symbol("XBB")].amount,
        )


def test_a_run_holds_xbb_through_its_split(home, manager):
    ingest(home, "demo", "demo", OPTIONS, manager=manager)
    strategy = HoldXBB()
    result = run_backtest(
        strategy,
        start="2020-08-20",
        end="2020-09-04",
        bundle="demo",
        home=home,
        manager=plugin_manager(autoload=False, strict=True),
        commission="none",
        slippage="none",
        write=False,
    )
    before, after = strategy.values[dt.date(2020, 8, 28)], strategy.values[dt.date(2020, 8, 31)]
    assert (before[1], after[1]) == (100.0, 200.0)
    assert abs(after[0] / before[0] - 1) < 0.01  # a split is not a loss
    assert result.perf["positions"][-1] == 1
