"""Splits and dividends applied point-in-time in a backtest (hand-computed).

Bars are stored as traded; the strategy sees positions adjusted at the ex-date's
session start, dividends as receivables until their pay-date, and ``data.history``
adjusted only for actions whose ex-date has come.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy as np

from rbt.api import TradingAlgorithm, order
from rbt.data.actions import CorporateActions, DividendAction, SplitAction
from rbt.kernel.model import Asset

from .conftest import XNYS, daily

AAA = Asset(sid=1, symbol="AAA")
#: 2024-01-02 .. 2024-01-12: 9 sessions; the action's ex-date is Monday 2024-01-08 (row 4)
SESSIONS = list(XNYS.sessions(dt.date(2024, 1, 2), dt.date(2024, 1, 12)))
EX = dt.date(2024, 1, 8)
EX_ROW = SESSIONS.index(EX)


class BuyAndWatch(TradingAlgorithm):
    """Buys 101 AAA on the first bar; records what it sees before and during each session."""

    def initialize(self, context):
        self.seen = {}
        self.before = {}

    def before_trading_start(self, context, data):
        day = data.current_dt.date()
        pos = context.portfolio.positions[AAA]
        self.before[day] = (
            pos.amount,
            pos.cost_basis,
            context.portfolio.cash,
            list(data.history(AAA, "close", 3, "1d")),
            data.current(AAA, "price"),
            context.portfolio.positions_value,
        )

    def handle_data(self, context, data):
        if not self.seen:
            order(AAA, 101)
        day = data.current_dt.date()
        self.seen[day] = (
            list(data.history(AAA, "close", 3, "1d", frame="numpy")),
            list(data.history(AAA, "volume", 3, "1d", frame="numpy")),
        )


def test_three_for_two_split(run):
    """Close 30.00 before the ex-date, 20.00 from it (a 3-for-2 split, ratio 1.5).

    Buy 101 on day 1 → fills day 2 at 30.00: cash 100000 − 3030 = 96970.00.
    At the ex-date's session start: 101 × 1.5 = 151.5 → 151 shares, cost per share
    30 / 1.5 = 20.00, the 0.5 share paid at 20.00 → cash 96980.00.
    Final value: 96980 + 151 × 20 = 100000.00 (the 10.00 cash-out + 3020 in shares
    = the 3030 paid: no P&L).
    History (close, 3 bars): on 2024-01-05 → [30, 30, 30] (the split is not yet known);
    before trading on the ex-date → [20, 20, 20]; on the ex-date → [20, 20, 20];
    volume before the ex-date × 1.5.
    """
    close = np.where(np.arange(len(SESSIONS)) < EX_ROW, 30.0, 20.0)
    actions = CorporateActions(splits=(SplitAction(1, EX, Decimal("1.5")),))
    strategy = BuyAndWatch()
    result = run(strategy, daily([AAA], SESSIONS, close, actions))
    day_before = dt.date(2024, 1, 5)
    assert strategy.seen[day_before][0] == [30.0, 30.0, 30.0]
    assert strategy.seen[day_before][1] == [1e6, 1e6, 1e6]
    amount, cost, cash, history, price, value = strategy.before[EX]
    assert (amount, cost, cash) == (151.0, 20.0, 96980.0)
    assert history == [20.0, 20.0, 20.0]
    assert price == 20.0  # the previous close, in post-split units
    assert value == 151 * 20.0
    assert strategy.seen[EX][0] == [20.0, 20.0, 20.0]
    assert strategy.seen[EX][1] == [1.5e6, 1.5e6, 1e6]
    perf = result.perf
    assert perf["cash"][-1] == Decimal("96980.00")
    assert perf["portfolio_value"][-1] == Decimal("100000.00")
    assert perf["portfolio_value"][EX_ROW - 1] == Decimal("100000.00")  # 101 × 30 + cash


def test_cash_dividend_is_received_on_the_pay_date(run):
    """Close 50.00 before the ex-date, 49.75 from it; a 0.25 dividend, ex 2024-01-08,
    paid 2024-01-10.

    Buy 101 → fills day 2 at 50.00: cash 100000 − 5050 = 94950.00.
    Ex-date: receivable 101 × 0.25 = 25.25; cash unchanged, and (as in Zipline) the
    portfolio value drops with the price: 94950 + 101 × 49.75 = 99974.75.
    Pay-date: cash 94975.25; value 100000.00 again.
    History on the ex-date: previous closes × (1 − 0.25 / 50) = 49.75.
    """
    pay = dt.date(2024, 1, 10)
    close = np.where(np.arange(len(SESSIONS)) < EX_ROW, 50.0, 49.75)
    actions = CorporateActions(dividends=(DividendAction(1, EX, pay, Decimal("0.25")),))
    strategy = BuyAndWatch()
    result = run(strategy, daily([AAA], SESSIONS, close, actions))
    assert strategy.seen[dt.date(2024, 1, 5)][0] == [50.0, 50.0, 50.0]
    assert strategy.before[EX][2] == 94950.0
    assert strategy.before[EX][3] == [49.75, 49.75, 49.75]
    assert strategy.before[pay][2] == 94975.25
    perf = result.perf
    by_day = dict(zip(perf["session"].to_list(), perf["portfolio_value"].to_list(), strict=True))
    assert by_day[EX] == Decimal("99974.75")
    assert by_day[dt.date(2024, 1, 9)] == Decimal("99974.75")
    assert by_day[pay] == Decimal("100000.00")
    assert perf["cash"][-1] == Decimal("94975.25")


def test_actions_without_a_position_change_nothing(run):
    close = np.where(np.arange(len(SESSIONS)) < EX_ROW, 30.0, 20.0)
    actions = CorporateActions(
        splits=(SplitAction(1, EX, Decimal("1.5")),),
        dividends=(DividendAction(1, EX, EX, Decimal("1")),),
    )

    class Idle(TradingAlgorithm):
        def handle_data(self, context, data):
            pass

    result = run(Idle(), daily([AAA], SESSIONS, close, actions))
    assert set(result.perf["portfolio_value"].to_list()) == {Decimal("100000")}


class RestingLimit(TradingAlgorithm):
    """Places a buy limit far below the market on the first bar; it rests until the split."""

    def initialize(self, context):
        self.cancelled = []
        self.order_id = None

    def handle_data(self, context, data):
        if self.order_id is None:
            self.order_id = order(AAA, 10, limit_price=1.0)

    def on_order_cancel(self, context, cancelled):
        self.cancelled.append(cancelled.id)


def test_a_split_cancels_open_orders_of_the_asset(run):
    """A resting limit at 1.00 (pre-split units) is cancelled at the ex-date's session start,
    so it can never fill at a price that means something else after the split."""
    close = np.where(np.arange(len(SESSIONS)) < EX_ROW, 30.0, 20.0)
    actions = CorporateActions(splits=(SplitAction(1, EX, Decimal("1.5")),))
    strategy = RestingLimit()
    result = run(strategy, daily([AAA], SESSIONS, close, actions))
    assert strategy.cancelled == [strategy.order_id]
    status = dict(
        zip(result.orders["id"].to_list(), result.orders["status"].to_list(), strict=True)
    )
    assert status[strategy.order_id] == "cancelled"
    assert len(result.transactions) == 0
