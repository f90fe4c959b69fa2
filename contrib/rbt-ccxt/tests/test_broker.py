"""The ccxt.binance broker against rbt-venue-sim: orders, fills, cancels, reads."""

from __future__ import annotations

from decimal import Decimal

import pytest

from rbt.kernel.model import OrderStatus
from rbt_ccxt.testing import EventLog, broker_for


@pytest.fixture
def sim(venue_sim_factory):
    return venue_sim_factory(symbols=["BTC/USDT", "ETH/USDT"])


def test_market_buy_fills_with_the_engine_client_id(sim):
    broker = broker_for(sim)
    log = EventLog()
    broker.connect(log)
    (btc,) = broker.instruments()
    order = log.new_order(btc, "0.01")
    broker.submit(order)
    assert log.order(order.id).status is OrderStatus.FILLED
    assert log.filled(order.id) == Decimal("0.01")
    (fill,) = [f for f in log.fills if f.order_id == order.id]
    assert fill.id.startswith("BTCUSDT-")
    posted = [r for r in sim.requests() if r["path"] == "/api/v3/order" and r["method"] == "POST"]
    assert posted[-1]["body"]["newClientOrderId"] == order.id
    venue = broker.lookup(order.id)
    assert venue is not None
    assert venue.status == "filled"
    assert venue.filled == Decimal("0.01")
