"""Scenario 3 (reliability.md §E): the user-data socket drops, orders fill while the client
cannot reconnect, then it reconnects (backoff with jitter, re-authenticated) and catches up
over REST: fills and final states equal the venue's ledger."""

from __future__ import annotations

from decimal import Decimal

from rbt_ccxt.testing import EventLog, broker_for, streaming, until, user_stream_subscribed

from rbt.kernel.model import OrderStatus


def _resting_buys(venue_sim_factory, *below: str):
    """A broker on a fresh venue, its event log, and resting 0.01 BTC buy orders (not sent
    yet) limited at ``below`` × the venue's price."""
    sim = venue_sim_factory(symbols=["BTC/USDT"])
    broker = broker_for(sim, backoff=(0.05, 0.5))
    log = EventLog()
    broker.connect(log)
    (btc,) = broker.instruments()
    price = Decimal(sim.state()["prices"]["BTCUSDT"])
    limits = [(price * Decimal(p)).quantize(Decimal("0.01")) for p in below]
    return sim, broker, log, [log.new_order(btc, "0.01", limit=str(lim)) for lim in limits]


def test_fills_while_disconnected_are_caught_up(venue_sim_factory):
    sim, broker, log, orders = _resting_buys(venue_sim_factory, "0.97", "0.96", "0.95")

    async def scenario():
        # the stream is up, and its first catch-up over REST done, before it drops: the fills
        # below can then reach the broker only through the reconnect's catch-up
        await until(lambda: user_stream_subscribed(sim) and broker.catch_ups >= 1)
        for order in orders:
            broker.submit(order)
        # drop the user stream and refuse reconnects for 5 s (long enough for the fills below,
        # even on a loaded machine)
        await until(lambda: sim.close_sockets("api", refuse_seconds=5.0))
        await until(lambda: sim.fill("BTC/USDT", client_order_id=orders[0].id))
        await until(lambda: sim.fill("BTC/USDT", client_order_id=orders[1].id, qty="0.004"))
        await until(
            lambda: sim.control(
                "POST", "fill", {"symbol": "BTC/USDT", "origClientOrderId": orders[2].id}
            )
        )
        assert all(log.filled(o.id) == 0 for o in orders)  # nothing arrived while down
        await until(lambda: log.order(orders[2].id).status is OrderStatus.FILLED, timeout=30)
        await until(lambda: log.filled(orders[1].id) == Decimal("0.004"))
        await until(lambda: user_stream_subscribed(sim))  # re-authenticated

    streaming(broker, sim, scenario)
    assert broker.reconnects >= 1
    assert log.order(orders[0].id).status is OrderStatus.FILLED
    assert log.order(orders[1].id).status is OrderStatus.PARTIALLY_FILLED
    venue_trades = broker.client.fetch_my_trades("BTC/USDT")
    assert sorted(f"BTCUSDT-{t['info']['id']}" for t in venue_trades) == sorted(
        f.id for f in log.fills
    )
    assert sum(f.amount for f in log.fills) == sum(Decimal(t["info"]["qty"]) for t in venue_trades)
    requests = [r["path"] for r in sim.requests()]
    assert requests.count("/ws-api/v3#userDataStream.subscribe.signature") >= 2


def test_a_partial_fill_older_than_a_fill_seen_meanwhile_is_caught_up(venue_sim_factory):
    """While the stream is down, A fills in part and then B in full; a cancel of B learns
    B's fill over REST before the reconnect. The trades since the latest known fill then
    leave A's older partial fill out: the catch-up finds it from A's executed quantity."""
    sim, broker, log, (a, b) = _resting_buys(venue_sim_factory, "0.97", "0.96")

    async def scenario():
        import asyncio

        await until(lambda: user_stream_subscribed(sim) and broker.catch_ups >= 1)
        broker.submit(a)
        broker.submit(b)
        await until(lambda: sim.close_sockets("api", refuse_seconds=3.0))
        await until(lambda: sim.fill("BTC/USDT", client_order_id=a.id, qty="0.004"))
        await asyncio.sleep(0.05)  # B's trade strictly later than A's
        await until(lambda: sim.fill("BTC/USDT", client_order_id=b.id))
        broker.cancel(b.id)  # too late: the venue reports B filled, with its trade
        assert log.order(b.id).status is OrderStatus.FILLED
        await until(lambda: log.filled(a.id) == Decimal("0.004"), timeout=30)

    streaming(broker, sim, scenario)
    assert broker.reconnects >= 1
    assert log.order(a.id).status is OrderStatus.PARTIALLY_FILLED
