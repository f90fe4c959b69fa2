"""Which engine the module-level ``rbt.api`` functions act on: a backtest's run is inside
its engine's ``active()`` (not switched per bar), so a run that fails, or a backtest run
from inside another one's ``handle_data``, must leave the right engine (or none) current."""

from __future__ import annotations

import pytest

import rbt.api as api
from rbt.api import TradingAlgorithm
from rbt.kernel.errors import RbtError

from .conftest import AAA, BBB, SESSIONS


class Boom(TradingAlgorithm):
    def handle_data(self, context, data):
        raise ValueError("strategy failed")


def test_a_failed_run_leaves_no_engine_current(run) -> None:
    with pytest.raises(ValueError, match="strategy failed"):
        run(Boom(), end=SESSIONS[3])
    with pytest.raises(RbtError, match="only inside a running algorithm"):
        api.get_datetime()


class Inner(TradingAlgorithm):
    def handle_data(self, context, data):
        api.order(BBB, 3)
        api.record(inner=1)


class Outer(TradingAlgorithm):
    """Runs a whole backtest from its first bar, then orders and records through the
    module functions: they must reach this (outer) engine again."""

    def initialize(self, context):
        context.bar = 0
        self.inner_fills: list[int] = []
        self.times: list[object] = []

    def handle_data(self, context, data):
        if context.bar == 0:
            inner = api.run_backtest(
                Inner(),
                start=SESSIONS[0],
                end=SESSIONS[4],
                bars=self.bars,
                manager=self.manager,
                capital_base=10_000,
                write=False,
            )
            self.inner_fills.append(len(inner.transactions))
            api.order(AAA, 2)
        api.record(outer=context.bar)
        self.times.append(api.get_datetime())
        context.bar += 1


def test_a_backtest_run_inside_a_strategy_hands_the_api_back(run, bars, manager) -> None:
    outer = Outer()
    outer.bars, outer.manager = bars, manager
    result = run(outer, end=SESSIONS[5])
    assert outer.inner_fills == [4]  # the inner run's own orders, in its own books
    assert result.perf["outer"].to_list() == list(range(6))
    assert "inner" not in result.perf.columns
    traded = {(t["sid"], t["amount"]) for t in result.transactions.to_dicts()}
    assert traded == {(AAA.sid, 2)}  # the outer order only: none of the inner's reached it
    assert len(set(outer.times)) == 6  # the outer engine's clock, bar after bar
    with pytest.raises(RbtError, match="only inside a running algorithm"):
        api.get_datetime()
