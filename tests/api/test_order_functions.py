"""The ``order*`` functions: amounts, Zipline's rounding, and what reaches the books.

Rounding (design.md §2.1a.2, Zipline's): an amount within 1e-4 of a whole lot snaps
to it; anything else rounds toward zero; an amount that rounds to 0 places no order
and returns None. Values and percentages are sized at the asset's latest price.

Prices in these runs (conftest): AAA closes at 100 + 0.5·i on session i (100.00 on the
first), BBB at 50 + 0.25·i. Capital is 1 000 000.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rbt.api import (
    TradingAlgorithm,
    cancel_order,
    get_open_orders,
    get_order,
    order,
    order_percent,
    order_target,
    order_target_percent,
    order_target_value,
    order_value,
)
from rbt.kernel.errors import RbtError
from rbt.kernel.model import Asset, OrderStatus
from rbt.plugins.calendars import get_calendar

D = Decimal
SESSIONS = list(get_calendar("XNYS").sessions(dt.date(2024, 1, 2), dt.date(2024, 3, 28)))
AAA = Asset(sid=1, symbol="AAA")
BBB = Asset(sid=2, symbol="BBB")
BTC = Asset(sid=3, symbol="BTC", lot_size="0.001")


class OnFirstBar(TradingAlgorithm):
    """Calls ``placements`` (label → zero-argument callable) on the first bar only."""

    def __init__(self, placements):
        self.placements = placements
        self.ids = {}

    def handle_data(self, context, data):
        if not self.ids:
            self.ids = {label: place() for label, place in self.placements.items()}


def _amounts(result, ids):
    amounts = dict(zip(result.orders["id"], result.orders["amount"], strict=True))
    return {label: (None if oid is None else amounts[oid]) for label, oid in ids.items()}


def test_order_amount_rounding(run):
    strategy = OnFirstBar(
        {
            "int": lambda: order(AAA, 3),
            "negative int": lambda: order(AAA, -3),
            "snaps up": lambda: order(AAA, 10.99995),  # 5e-5 from 11
            "snaps down": lambda: order(AAA, -3.00004),  # 4e-5 from -3
            "toward zero": lambda: order(AAA, 10.9998),  # 2e-4 from 11: not near → 10
            "negative toward zero": lambda: order(AAA, -10.5),
            "decimal": lambda: order(AAA, D("2.7")),
            "tiny": lambda: order(AAA, 0.00005),
            "zero": lambda: order(AAA, 0),
            "zero float": lambda: order(AAA, 0.0),
            "below one": lambda: order(AAA, 0.9),
        }
    )
    result = run(strategy)
    assert _amounts(result, strategy.ids) == {
        "int": D(3),
        "negative int": D(-3),
        "snaps up": D(11),
        "snaps down": D(-3),
        "toward zero": D(10),
        "negative toward zero": D(-10),
        "decimal": D(2),
        "tiny": None,
        "zero": None,
        "zero float": None,
        "below one": None,
    }
    assert len(result.orders) == 7


def test_fractional_assets_round_to_their_lot(run, build_bars):
    """BTC's lot is 0.001: 0.12345 → 0.123 (toward zero); 0.12299995 is within 1e-4 lots
    of 123 lots → 0.123; 0.0004 → nothing."""
    bars = build_bars(assets=(AAA, BTC))
    strategy = OnFirstBar(
        {
            "down": lambda: order(BTC, 0.12345),
            "snap": lambda: order(BTC, 0.12299995),
            "negative": lambda: order(BTC, -1.0005),
            "dust": lambda: order(BTC, 0.0004),
        }
    )
    result = run(strategy, bars=bars)
    assert _amounts(result, strategy.ids) == {
        "down": D("0.123"),
        "snap": D("0.123"),
        "negative": D("-1.000"),
        "dust": None,
    }


def test_value_and_percent_orders_are_sized_at_the_last_price(run):
    """First bar: AAA at 100.00, BBB at 50.00, portfolio value 1 000 000.

    * order_value(AAA, 1050) → 10.5 shares → 10; −1050 → −10; 1099.999 → 10.99999 → 11
    * order_percent(AAA, 0.001) → 1000 / 100 = 10; order_percent(BBB, −0.00105) → −21
    * nothing held, so order_target(AAA, 30) → 30, order_target_value(AAA, 2550) → 25,
      order_target_percent(BBB, 0.0025) → 2500 / 50 = 50
    """
    strategy = OnFirstBar(
        {
            "value": lambda: order_value(AAA, 1050.0),
            "negative value": lambda: order_value(AAA, -1050),
            "value snaps": lambda: order_value(AAA, 1099.999),
            "percent": lambda: order_percent(AAA, 0.001),
            "negative percent": lambda: order_percent(BBB, -0.00105),
            "target": lambda: order_target(AAA, 30),
            "target value": lambda: order_target_value(AAA, 2550.0),
            "target percent": lambda: order_target_percent(BBB, 0.0025),
            "small value": lambda: order_value(AAA, 99.0),
        }
    )
    result = run(strategy)
    assert _amounts(result, strategy.ids) == {
        "value": D(10),
        "negative value": D(-10),
        "value snaps": D(11),
        "percent": D(10),
        "negative percent": D(-21),
        "target": D(30),
        "target value": D(25),
        "target percent": D(50),
        "small value": None,
    }


def test_sized_orders_pass_their_prices_and_style_on(run):
    """limit_price, stop_price and style given to the sized functions reach the order."""
    from rbt.finance.execution import LimitOrder
    from rbt.kernel.model import OrderType

    styles = {}

    def place(label, oid):
        order_ = get_order(oid)
        style = order_.style
        styles[label] = (style.type, style.limit_price, style.stop_price)
        return oid

    strategy = OnFirstBar(
        {
            "value": lambda: place("value", order_value(AAA, 1050.0, limit_price=99.5)),
            "percent": lambda: place("percent", order_percent(AAA, 0.001, stop_price=120.0)),
            "target": lambda: place(
                "target", order_target(BBB, 30, limit_price=49.0, stop_price=51.0)
            ),
            "target value": lambda: place(
                "target value", order_target_value(AAA, 2550.0, style=LimitOrder(98.0))
            ),
            "target percent": lambda: place(
                "target percent", order_target_percent(BBB, 0.0025, limit_price=48.5)
            ),
        }
    )
    run(strategy)
    assert styles == {
        "value": (OrderType.LIMIT, D("99.5"), None),
        "percent": (OrderType.STOP, None, D(120)),
        "target": (OrderType.STOP_LIMIT, D(49), D(51)),
        "target value": (OrderType.LIMIT, D(98), None),
        "target percent": (OrderType.LIMIT, D("48.5"), None),
    }


class Targets(TradingAlgorithm):
    """Bar 0: buy 40 AAA. Bar 2 (40 held; AAA at 101.00, PV 1 000 040): targets."""

    def initialize(self, context):
        self.ids = {}
        self.pv = None
        context.bar = 0

    def handle_data(self, context, data):
        if context.bar == 0:
            order(AAA, 40)
        elif context.bar == 2:
            self.pv = context.portfolio.portfolio_value
            self.held = context.portfolio.positions[AAA].amount
            self.ids = {
                "target": order_target(AAA, 30),
                "target float": order_target(AAA, 30.0),
                "target same": order_target(AAA, 40),
                "target value": order_target_value(AAA, 0.0),
                "target value up": order_target_value(AAA, 5050.0),
                "target percent": order_target_percent(AAA, 0.01),
                "target short": order_target(AAA, -10),
            }
            self.open_after = len(get_open_orders(AAA))
        context.bar += 1


def test_target_orders_net_the_position_but_not_open_orders(run):
    """Zero costs: 40 AAA bought at bar 1's close (100.50), valued at bar 2's 101.00, so
    PV = 1 000 000 + 40 × 0.50 = 1 000 020.

    * order_target(30) → −10 (twice: open orders are not netted, as in Zipline)
    * order_target(40) → 0, no order
    * order_target_value(0) → −40; order_target_value(5050) → 50 − 40 = 10
    * order_target_percent(0.01) → 10 000.2 / 101 = 99.01… → 99 − 40 = 59
    * order_target(−10) → −50
    """
    strategy = Targets()
    result = run(strategy, commission="none", slippage="none")
    assert strategy.pv == pytest.approx(1_000_020.0, rel=0, abs=1e-9)
    assert strategy.held == 40.0
    assert _amounts(result, strategy.ids) == {
        "target": D(-10),
        "target float": D(-10),
        "target same": None,
        "target value": D(-40),
        "target value up": D(10),
        "target percent": D(59),
        "target short": D(-50),
    }
    assert strategy.open_after == 6


class Misuse(TradingAlgorithm):
    def initialize(self, context):
        self.errors = []

    def handle_data(self, context, data):
        if self.errors:
            return
        for bad in (
            lambda: order(AAA, True),
            lambda: order(AAA, "10"),
            lambda: order(AAA, float("nan")),
            lambda: order(AAA, float("inf")),
            lambda: order("AAA", 10),
        ):
            try:
                bad()
            except (TypeError, ValueError) as exc:
                self.errors.append(type(exc).__name__)


def test_bad_order_arguments_raise(run):
    strategy = Misuse()
    result = run(strategy)
    assert strategy.errors == ["TypeError", "TypeError", "ValueError", "ValueError", "TypeError"]
    assert len(result.orders) == 0


def test_sizing_without_a_price_is_an_error(run, build_bars):
    """BBB has no bar yet on the first session: order_value cannot size it."""
    bars = build_bars()
    bars.floats["close"][0, 1] = float("nan")

    class Early(TradingAlgorithm):
        def handle_data(self, context, data):
            order_value(BBB, 1000)

    with pytest.raises(RbtError, match="has no price yet"):
        run(Early(), bars=bars)


class Lifecycle(TradingAlgorithm):
    def initialize(self, context):
        self.seen = {}
        context.bar = 0

    def handle_data(self, context, data):
        if context.bar == 0:
            self.oid = order(AAA, 100)
            placed = get_order(self.oid)
            self.seen["placed"] = (placed.status, placed.amount, placed.filled)
            self.seen["open"] = [o.id for o in get_open_orders(AAA)]
            self.seen["open by asset"] = {
                a: [o.id for o in os] for a, os in get_open_orders().items()
            }
        elif context.bar == 1:
            filled = get_order(self.oid)
            self.seen["filled"] = (filled.status, filled.filled)
            self.seen["open later"] = get_open_orders()
        context.bar += 1


def test_order_objects_and_open_orders(run):
    strategy = Lifecycle()
    result = run(strategy)
    oid = strategy.oid
    assert oid.startswith(f"bt-{result.run_id}-")
    assert strategy.seen["placed"] == (OrderStatus.ACCEPTED, D(100), D(0))
    assert strategy.seen["open"] == [oid]
    assert strategy.seen["open by asset"] == {AAA: [oid]}
    assert strategy.seen["filled"] == (OrderStatus.FILLED, D(100))
    assert strategy.seen["open later"] == {}


def _zipline_amount(amount: float) -> int:
    """zipline.algorithm: ``int(round_if_near_integer(amount))`` with epsilon 1e-4."""
    nearest = round(amount)
    return int(nearest if abs(amount - nearest) <= 1e-4 else amount)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    st.lists(
        st.one_of(
            st.floats(-1e6, 1e6, allow_nan=False),
            st.integers(-1000, 1000).flatmap(lambda n: st.floats(n - 2e-4, n + 2e-4)),
        ),
        min_size=1,
        max_size=40,
    )
)
def test_amounts_round_like_zipline(run, build_bars, amounts):
    """Random float amounts (many within ±2e-4 of a whole share) give Zipline's int amount."""
    bars = build_bars(sessions=SESSIONS[:2])
    strategy = OnFirstBar({i: (lambda a=a: order(AAA, a)) for i, a in enumerate(amounts)})
    result = run(strategy, bars=bars, end=SESSIONS[1])
    got = _amounts(result, strategy.ids)
    for i, amount in enumerate(amounts):
        expected = _zipline_amount(amount)
        assert got[i] == (D(expected) if expected else None), amount


class CancelAndHooks(TradingAlgorithm):
    """Bar 0: buy 300 000 (volume 1e6 → 100 000 per bar); bar 2: cancel the rest."""

    def initialize(self, context):
        self.fills, self.cancels = [], []
        context.bar = 0

    def handle_data(self, context, data):
        if context.bar == 0:
            self.oid = order(AAA, 300_000)
        elif context.bar == 2:
            cancel_order(get_order(self.oid))
        context.bar += 1

    def on_order_fill(self, context, fill):
        self.fills.append((fill.order_id, fill.amount))

    def on_order_cancel(self, context, order):
        self.cancels.append((order.id, order.status, order.filled))


def test_cancel_order_and_the_optional_hooks(run):
    """Two capped fills of 100 000 (bars 1 and 2, before bar 2's turn), then the cancel:
    the order ends cancelled with 200 000 filled; the hooks saw both fills and the cancel."""
    strategy = CancelAndHooks()
    result = run(strategy)
    oid = strategy.oid
    assert strategy.fills == [(oid, D(100_000)), (oid, D(100_000))]
    assert strategy.cancels == [(oid, OrderStatus.CANCELLED, D(200_000))]
    row = result.orders.row(0, named=True)
    assert (row["status"], row["filled"], row["amount"]) == ("cancelled", D(200_000), D(300_000))
