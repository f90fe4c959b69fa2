"""Order rounding and validation (reliability.md §D.1): one place, used by every broker.

Invalid orders end DENIED with a reason code; nothing reaches the broker or the ledger.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rbt.kernel.model import MARKET, Asset, Order, OrderStatus, OrderStyle, OrderType, TimeInForce
from rbt.kernel.orders import round_order, validate_market, validate_order

from .conftest import CAPITAL, SESSIONS, A, Sim, ohlcv

D = Decimal
VOL = 100_000.0
BTC = Asset(sid=7, symbol="BTC", lot_size="0.001", tick_size="0.5", min_notional="10")


def style(kind: OrderType = OrderType.MARKET, **kw) -> OrderStyle:
    return OrderStyle(type=kind, **kw)


def test_rounding_is_passive_and_toward_zero():
    """Lot 0.001, tick 0.5: quantity 1.23456 → 1.234 (toward zero), −1.23456 → −1.234.
    Buy limit 100.7 → 100.5 (down); sell limit 100.2 → 100.5 (up). Buy stop 100.2 → 100.5
    (up: triggers later); sell stop 100.7 → 100.5 (down). Trailing distance 0.7 → 1.0."""
    amount, s = round_order(BTC, D("1.23456"), style(OrderType.LIMIT, limit_price=D("100.7")))
    assert (amount, s.limit_price) == (D("1.234"), D("100.5"))
    amount, s = round_order(BTC, D("-1.23456"), style(OrderType.LIMIT, limit_price=D("100.2")))
    assert (amount, s.limit_price) == (D("-1.234"), D("100.5"))
    assert round_order(BTC, D(1), style(OrderType.STOP, stop_price=D("100.2")))[1].stop_price == D(
        "100.5"
    )
    assert round_order(BTC, D(-1), style(OrderType.STOP, stop_price=D("100.7")))[1].stop_price == D(
        "100.5"
    )
    trail = style(OrderType.TRAILING_STOP, trail_amount=D("0.7"))
    assert round_order(BTC, D(-1), trail)[1].trail_amount == D("1.0")


prices = st.decimals(min_value=D("0.0001"), max_value=D("1e7"), places=4)
quantities = st.decimals(min_value=D("-1e6"), max_value=D("1e6"), places=5)


@settings(max_examples=200, deadline=None)
@given(
    quantities,
    prices,
    prices,
    st.sampled_from(["0.01", "0.5", "0.05", "1", "0.125"]),
    st.sampled_from(["1", "0.001", "0.1", "5"]),
)
def test_rerounding_is_idempotent(amount, limit, stop, tick, lot):
    asset = Asset(sid=9, symbol="X", tick_size=tick, lot_size=lot)
    first = round_order(
        asset, amount, style(OrderType.STOP_LIMIT, limit_price=limit, stop_price=stop)
    )
    assert round_order(asset, *first) == first
    rounded, s = first
    assert abs(rounded) <= abs(amount)  # never trade more than asked
    assert s.limit_price is not None
    assert s.stop_price is not None
    if amount > 0:  # a buy: the limit never rises, the stop never falls
        assert s.limit_price <= limit
        assert s.stop_price >= stop
    elif amount < 0:
        assert s.limit_price >= limit
        assert s.stop_price <= stop


def _order(amount: str, s: OrderStyle | None = None, asset: Asset = A) -> Order:
    return Order(id="o", asset=asset, amount=D(amount), created=0, style=s or OrderStyle())


@pytest.mark.parametrize(
    ("amount", "s", "last", "code"),
    [
        ("0", OrderStyle(), None, "INVALID_QUANTITY"),
        ("NaN", OrderStyle(), None, "INVALID_QUANTITY"),
        ("Infinity", OrderStyle(), None, "INVALID_QUANTITY"),
        ("1.5", OrderStyle(), None, "OFF_GRID"),
        ("10", style(OrderType.LIMIT, limit_price=D("-1")), None, "INVALID_PRICE"),
        ("10", style(OrderType.LIMIT, limit_price=D("0")), None, "INVALID_PRICE"),
        ("10", style(OrderType.LIMIT, limit_price=D("NaN")), None, "INVALID_PRICE"),
        ("10", style(OrderType.LIMIT, limit_price=D("10.005")), None, "OFF_GRID"),
        ("10", style(OrderType.LIMIT), None, "INVALID_STYLE"),
        ("10", style(OrderType.MARKET, limit_price=D("10")), None, "INVALID_STYLE"),
        ("10", style(OrderType.STOP, stop_price=D("9.50")), D(10), "STOP_WOULD_TRIGGER"),
        ("-10", style(OrderType.STOP, stop_price=D("10.50")), D(10), "STOP_WOULD_TRIGGER"),
        ("10", style(OrderType.TRAILING_STOP), None, "INVALID_STYLE"),
        ("10", style(OrderType.TRAILING_STOP, trail_percent=D("1.5")), None, "INVALID_STYLE"),
        ("10", OrderStyle(time_in_force=TimeInForce.GTD), None, "INVALID_STYLE"),
    ],
)
def test_invalid_orders_get_a_reason_code(amount, s, last, code):
    reason = validate_order(_order(amount, s), last_price=last)
    assert reason is not None
    assert reason.startswith(code + ": ")


@given(
    amount=st.one_of(
        st.integers(-(10**40), 10**40).map(D),
        st.sampled_from(["0", "-0", "0E+2", "0.0", "1E+1", "1.0", "-5.00", "2.5", "1E-3"]).map(D),
        st.sampled_from(["NaN", "-NaN", "sNaN", "Infinity", "-Infinity"]).map(D),
        st.decimals(places=3, allow_nan=False),
    ),
    lot=st.sampled_from(["1", "1.0", "1E+0", "0.001", "5", "1E+2", "0.5"]),
    dates=st.tuples(
        *(st.none() | st.dates(dt.date(2020, 1, 1), dt.date(2020, 12, 31)) for _ in range(3))
    ),
    session=st.none() | st.dates(dt.date(2020, 1, 1), dt.date(2020, 12, 31)),
)
def test_validate_market_is_validate_order_of_a_plain_market_order(amount, lot, dates, session):
    start, end, auto_close = dates
    asset = Asset(sid=9, symbol="X", lot_size=lot, start_date=start, end_date=end,
                  auto_close_date=auto_close)  # fmt: skip
    order = Order(id="o", asset=asset, amount=amount, created=0, style=MARKET)
    assert validate_market(asset, amount, session) == validate_order(order, session=session)


def test_marketable_limits_are_valid_and_stops_on_the_right_side_too():
    """A buy limit above the market is a marketable limit: accepted (see orders.py)."""
    assert (
        validate_order(_order("10", style(OrderType.LIMIT, limit_price=D(11))), last_price=D(10))
        is None
    )
    assert (
        validate_order(_order("10", style(OrderType.STOP, stop_price=D(11))), last_price=D(10))
        is None
    )


def test_min_notional_and_listed_life():
    """BTC min notional 10: 0.019 × 500 = 9.5 < 10 denied; 0.02 × 500 = 10 passes."""
    small = _order("0.019", style(OrderType.LIMIT, limit_price=D(500)), BTC)
    assert validate_order(small).startswith("BELOW_MIN_NOTIONAL")
    assert validate_order(_order("0.020", style(OrderType.LIMIT, limit_price=D(500)), BTC)) is None
    old = Asset(sid=5, symbol="OLD", end_date=dt.date(2024, 3, 5))
    assert validate_order(_order("1", asset=old), session=dt.date(2024, 3, 6)).startswith(
        "ASSET_NOT_TRADING"
    )
    new = Asset(sid=6, symbol="NEW", start_date=dt.date(2024, 3, 7))
    assert validate_order(_order("1", asset=new), session=dt.date(2024, 3, 6)).startswith(
        "ASSET_NOT_TRADING"
    )


def test_denied_orders_never_reach_the_broker_or_the_ledger():
    """Through a real session: NaN, zero, off-grid and a stop that would trigger at once
    are DENIED (status and reason); the broker never sees them; cash is untouched; the run
    ends with the ledger replay check passing."""
    sim = Sim(ohlcv([(10, 10, 10, 10, VOL)] * 3))
    bad = [
        sim.place(0, a, s)
        for a, s in [
            ("NaN", OrderStyle()),
            ("0", OrderStyle()),
            ("2.5", OrderStyle()),
            ("5", style(OrderType.STOP, stop_price=D("9.50"))),
            ("5", style(OrderType.LIMIT, limit_price=D("9.999"))),
        ]
    ]
    sim.run()
    codes = [sim.order(ids).reason_code for ids in bad]
    assert codes == [
        "INVALID_QUANTITY",
        "INVALID_QUANTITY",
        "OFF_GRID",
        "STOP_WOULD_TRIGGER",
        "OFF_GRID",
    ]
    assert all(sim.order(ids).status is OrderStatus.DENIED for ids in bad)
    assert sim.broker.open_orders() == []
    assert sim.session.fills == []
    assert sim.ledger.cash == CAPITAL


def test_an_asset_past_its_end_date_is_denied_in_a_run():
    gone = Asset(sid=1, symbol="AAA", end_date=SESSIONS[0])
    sim = Sim(ohlcv([(10, 10, 10, 10, VOL)] * 3, asset=gone))
    ids = sim.place(1, 5, asset=gone)
    sim.run()
    assert sim.order(ids).reason_code == "ASSET_NOT_TRADING"
