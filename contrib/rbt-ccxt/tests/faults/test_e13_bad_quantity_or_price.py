"""Scenario 13 (reliability.md §E): bad quantities and prices are rounded per §D.1 or
refused with a reason before the network; property tests over the rounding."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rbt_ccxt.markets import DECIMAL_PLACES, WireOrder, asset_from_market, prepare_order, wire
from rbt_ccxt.testing import EventLog, broker_for

from rbt.kernel.model import Asset, Order, OrderStatus, OrderStyle, OrderType

FIXTURE = Path("/work/shared/fixtures/ccxt/markets/binance.json")


def _recorded_btc() -> Asset:
    """BTC/USDT from ccxt's recorded market fixture (DECIMAL_PLACES precision)."""
    markets = json.loads(FIXTURE.read_text()) if FIXTURE.exists() else None
    if markets is None:
        pytest.skip("the shared ccxt fixtures are not on this machine")
    return asset_from_market("binance", markets["BTC/USDT"], DECIMAL_PLACES)


BTC = Asset(
    sid=1,
    symbol="BTC/USDT",
    tick_size=Decimal("0.01"),
    lot_size=Decimal("0.00001"),
    min_notional=Decimal(5),
    price_scale=2,
)


def _order(amount: Decimal, limit: Decimal | None = None) -> Order:
    style = (
        OrderStyle(type=OrderType.LIMIT, limit_price=limit) if limit is not None else OrderStyle()
    )
    return Order(id="p-1-1", asset=BTC, amount=amount, created=0, style=style)


def test_the_recorded_market_gives_the_venue_grid():
    btc = _recorded_btc()
    assert (btc.tick_size, btc.lot_size, btc.min_notional) == (
        Decimal("0.01"),
        Decimal("0.00001"),
        Decimal(5),
    )
    assert (btc.quote_currency, btc.calendar, btc.price_scale) == ("USDT", "always_open", 2)


@pytest.mark.parametrize(
    ("amount", "limit", "code"),
    [
        ("0", None, "INVALID_QUANTITY"),
        ("NaN", None, "INVALID_QUANTITY"),
        ("Infinity", None, "INVALID_QUANTITY"),
        ("0.000009", None, "INVALID_QUANTITY"),  # rounds to zero on the lot
        ("0.01", "-5", "INVALID_PRICE"),
        ("0.01", "0", "INVALID_PRICE"),
        ("0.01", "NaN", "INVALID_PRICE"),
        ("0.0001", "40000", "BELOW_MIN_NOTIONAL"),  # 4 USDT < 5
        ("-0.0001", "40000", "BELOW_MIN_NOTIONAL"),
    ],
)
def test_bad_orders_are_refused_with_a_reason(amount, limit, code):
    result = prepare_order(_order(Decimal(amount), Decimal(limit) if limit else None), BTC)
    assert isinstance(result, str)
    assert result.startswith(code + ":"), result


def test_refusals_send_nothing(venue_sim_factory):
    sim = venue_sim_factory(symbols=["BTC/USDT"])
    broker = broker_for(sim)
    log = EventLog()
    broker.connect(log)
    (btc,) = broker.instruments()
    sim.clear_requests()
    for amount, limit in (("0", None), ("-0.0001", "40000"), ("0.000001", None), ("1", "0")):
        order = log.new_order(btc, amount, limit=limit)
        broker.submit(order)
        assert log.order(order.id).status is OrderStatus.REJECTED
    assert sim.requests() == []


amounts = st.decimals(
    min_value=Decimal("-50"),
    max_value=Decimal("50"),
    places=9,
    allow_nan=False,
    allow_infinity=False,
)
prices = st.decimals(
    min_value=Decimal("1"),
    max_value=Decimal("200000"),
    places=6,
    allow_nan=False,
    allow_infinity=False,
)


@settings(max_examples=300, deadline=None)
@given(amount=amounts, limit=prices)
def test_rounding_is_toward_zero_passive_and_idempotent(amount, limit):
    result = prepare_order(_order(amount, limit), BTC)
    if isinstance(result, str):
        return
    assert isinstance(result, WireOrder)
    buy = amount > 0
    assert result.side == ("buy" if buy else "sell")
    assert 0 < result.amount <= abs(amount)  # never more than asked
    assert abs(amount) - result.amount < BTC.lot_size
    assert result.amount % BTC.lot_size == 0
    assert result.price is not None
    assert result.price % BTC.tick_size == 0
    if buy:  # never more aggressive than asked
        assert limit - BTC.tick_size < result.price <= limit
    else:
        assert limit <= result.price < limit + BTC.tick_size
    assert result.amount * result.price >= BTC.min_notional
    # rounding the rounded order again changes nothing; the wire text has no exponent
    signed = result.amount if buy else -result.amount
    again = prepare_order(_order(signed, result.price), BTC)
    assert again == result
    for text in result.args[3:]:
        assert text is not None
        assert "E" not in text.upper()
        assert Decimal(text) in (result.amount, result.price)


@given(
    st.decimals(
        min_value=Decimal("0.00000001"),
        max_value=Decimal("1e9"),
        places=8,
        allow_nan=False,
        allow_infinity=False,
    )
)
def test_wire_text_round_trips(value):
    text = wire(value)
    assert Decimal(text) == value
    assert "E" not in text.upper()
