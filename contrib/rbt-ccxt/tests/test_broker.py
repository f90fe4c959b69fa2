"""The ccxt.binance broker against rbt-venue-sim: orders, fills, cancels, reads."""

from __future__ import annotations

from decimal import Decimal

import pytest
from rbt_ccxt.testing import EventLog, broker_for, streaming, until

from rbt.kernel.model import OrderStatus


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


def _price(sim, symbol="BTCUSDT") -> Decimal:
    return Decimal(sim.state()["prices"][symbol])


def test_a_resting_limit_fills_through_the_stream(sim):
    broker = broker_for(sim)
    log = EventLog()
    broker.connect(log)
    (btc,) = broker.instruments()
    price = _price(sim)
    limit = (price * Decimal("0.99")).quantize(Decimal("0.01"))
    order = log.new_order(btc, "0.02", limit=str(limit))

    async def scenario():
        broker.submit(order)
        assert log.order(order.id).status is OrderStatus.ACCEPTED
        await until(lambda: sim.set_price("BTC/USDT", str(limit - 5)))
        await until(lambda: log.order(order.id).status is OrderStatus.FILLED)

    streaming(broker, sim, scenario)
    (fill,) = [f for f in log.fills if f.order_id == order.id]
    assert (fill.amount, fill.price) == (Decimal("0.02"), limit)
    # the buyer pays the fee in BTC: reported in USDT at the fill price, exactly
    assert fill.commission == Decimal("0.02") * Decimal("0.001") * limit
    assert log.kinds(order.id) == ["accept", "fill"]


def test_partial_fill_then_cancel_is_exact(sim):
    broker = broker_for(sim)
    log = EventLog()
    broker.connect(log)
    (btc,) = broker.instruments()
    limit = (_price(sim) * Decimal("0.95")).quantize(Decimal("0.01"))
    order = log.new_order(btc, "0.05", limit=str(limit))

    async def scenario():
        broker.submit(order)
        await until(lambda: sim.fill("BTC/USDT", client_order_id=order.id, qty="0.015"))
        await until(lambda: log.filled(order.id) == Decimal("0.015"))
        log.cancel_requested(order.id)
        broker.cancel(order.id)
        await until(lambda: log.order(order.id).status is OrderStatus.CANCELLED)

    streaming(broker, sim, scenario)
    final = log.order(order.id)
    assert final.filled == Decimal("0.015")
    assert log.kinds(order.id).count("cancel") == 1


def test_rounding_to_the_venue_grid(sim):
    broker = broker_for(sim)
    log = EventLog()
    broker.connect(log)
    (btc,) = broker.instruments()
    assert (btc.tick_size, btc.lot_size) == (Decimal("0.01"), Decimal("0.00001"))
    price = _price(sim)
    # a buy limit off the tick is floored (passive), the quantity cut toward zero
    limit = (price * Decimal("0.9")).quantize(Decimal("0.01")) + Decimal("0.009")
    order = log.new_order(btc, "0.0123456", limit=str(limit))
    broker.submit(order)
    body = [r for r in sim.requests() if r["path"] == "/api/v3/order"][-1]["body"]
    assert body["quantity"] == "0.01234"
    assert Decimal(body["price"]) == limit - Decimal("0.009")
    # min notional (BTCUSDT: 5 USDT) is refused before the network
    sim.clear_requests()
    tiny = log.new_order(
        btc, "0.00002", limit=str((price * Decimal("0.9")).quantize(Decimal("0.01")))
    )
    broker.submit(tiny)
    assert log.order(tiny.id).status is OrderStatus.REJECTED
    assert log.order(tiny.id).reason_code == "BELOW_MIN_NOTIONAL"
    assert [r for r in sim.requests() if r["path"] == "/api/v3/order"] == []


def test_a_quantity_cut_by_the_lot_expires_its_remainder(sim):
    broker = broker_for(sim)
    log = EventLog()
    broker.connect(log)
    (btc,) = broker.instruments()
    order = log.new_order(btc, "0.010009")
    broker.submit(order)
    final = log.order(order.id)
    assert final.filled == Decimal("0.01")
    assert final.status is OrderStatus.EXPIRED
    assert final.reason_code == "OFF_GRID"


def test_snapshot_and_fills_since(sim):
    broker = broker_for(sim, symbols=("BTC/USDT", "ETH/USDT"))
    log = EventLog()
    broker.connect(log)
    btc, eth = broker.instruments()
    start = broker.client.milliseconds() * 1_000_000 - 1
    buy = log.new_order(btc, "0.01")
    sell = log.new_order(eth, "-0.5")
    broker.submit(buy)
    broker.submit(sell)
    snap = broker.snapshot()
    venue = sim.state()["accounts"]["main"]
    assert snap.cash["USDT"] == Decimal(venue["USDT"]["free"]) + Decimal(venue["USDT"]["locked"])
    assert snap.positions["BTC/USDT"] == Decimal(venue["BTC"]["free"])
    fills = broker.fills_since(start)
    assert {f.order_id for f in fills} == {buy.id, sell.id}

    def key(f):  # an order answer stamps its fills with the order's transactTime, the trade
        # list with the trade's own time (the simulator may read its clock 1 ms apart)
        return (f.id, f.order_id, f.asset, f.amount, f.price, f.commission)

    assert sorted(map(key, fills)) == sorted(map(key, log.fills))
    assert all(
        abs(a.ts - b.ts) <= 1_000_000
        for a, b in zip(
            sorted(fills, key=lambda f: f.id), sorted(log.fills, key=lambda f: f.id), strict=True
        )
    )


def test_refused_credentials_never_show_the_secret(venue_sim_factory, caplog):
    import logging

    from rbt_ccxt.broker import CcxtBroker
    from rbt_ccxt.limiter import VenueRateLimiter

    from rbt.kernel.broker import VenueEndpoint
    from rbt.kernel.secrets import Secret

    sim = venue_sim_factory(symbols=["BTC/USDT"])
    canary = "CANARY-secret-9f8e7d"
    endpoint = VenueEndpoint(
        mode="sandbox",
        urls={"rest": sim.base_url},
        credentials={"apiKey": Secret(sim.api_key), "secret": Secret(canary)},
    )
    broker = CcxtBroker(endpoint, symbols=["BTC/USDT"], limiter=VenueRateLimiter("canary"))
    log = EventLog()
    with caplog.at_level(logging.DEBUG):
        broker.connect(log)
        (btc,) = broker.instruments()
        order = log.new_order(btc, "0.01")
        broker.submit(order)  # the lookup before sending is refused (-1022): not sent
    final = log.order(order.id)
    assert final.status is OrderStatus.REJECTED
    assert canary not in final.reason
    assert "signature=" not in final.reason
    assert canary not in caplog.text
    assert canary not in repr(broker.endpoint)
    assert broker.client.verbose is False


def test_a_sandbox_endpoint_must_be_loopback():
    from rbt_ccxt.broker import CcxtBroker

    from rbt.kernel.broker import VenueEndpoint
    from rbt.kernel.errors import ConfigError
    from rbt.kernel.secrets import Secret

    for url in ("https://api.binance.com", "http://10.0.0.5:8080"):
        endpoint = VenueEndpoint(
            mode="sandbox",
            urls={"rest": url},
            credentials={"apiKey": Secret("k"), "secret": Secret("s")},
        )
        with pytest.raises(ConfigError, match="not a loopback address"):
            CcxtBroker(endpoint, symbols=["BTC/USDT"])
    with pytest.raises(ConfigError, match="needs an API key and secret"):
        CcxtBroker(
            VenueEndpoint(mode="sandbox", urls={"rest": "http://127.0.0.1:1"}), symbols=["BTC/USDT"]
        )


def test_cancel_an_order_of_an_earlier_run(sim):
    first = broker_for(sim)
    log = EventLog()
    first.connect(log)
    (btc,) = first.instruments()
    limit = (_price(sim) * Decimal("0.9")).quantize(Decimal("0.01"))
    order = log.new_order(btc, "0.01", limit=str(limit))
    first.submit(order)
    # a new process: its broker never saw the order
    second = broker_for(sim)
    log.cancel_requested(order.id)
    second.connect(log)
    second.cancel(order.id)
    assert log.order(order.id).status is OrderStatus.CANCELLED
    assert sim.state()["open_orders"]["main"] == []
    with pytest.raises(KeyError, match="no open order"):
        second.cancel("never-placed-1")
