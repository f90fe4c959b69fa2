"""Scenario 6 (reliability.md §E): 30 % and 30 % fills, a cancel acknowledged before the
second fill's report arrives (reports reordered); the filled quantity is exact, the state
machine is never violated; an overfill with a new trade id raises an alert and halts."""

from __future__ import annotations

from decimal import Decimal

from rbt_ccxt.testing import EventLog, broker_for, streaming, until

from rbt.kernel.model import OrderStatus


def _limit(sim) -> str:
    price = Decimal(sim.state()["prices"]["BTCUSDT"])
    return str((price * Decimal("0.97")).quantize(Decimal("0.01")))


def test_partial_partial_cancel_then_the_late_report(venue_sim_factory):
    sim = venue_sim_factory(symbols=["BTC/USDT"])
    broker = broker_for(sim)
    log = EventLog()
    broker.connect(log)
    (btc,) = broker.instruments()
    order = log.new_order(btc, "0.1", limit=_limit(sim))

    async def scenario():
        broker.submit(order)
        await until(lambda: sim.fill("BTC/USDT", client_order_id=order.id, qty="0.03"))
        await until(lambda: log.filled(order.id) == Decimal("0.03"))
        # the second fill's report is held and delivered after the cancel's
        await until(lambda: sim.add_fault("reorder_reports", count=2))
        await until(lambda: sim.fill("BTC/USDT", client_order_id=order.id, qty="0.03"))
        log.cancel_requested(order.id)
        broker.cancel(order.id)
        await until(lambda: log.order(order.id).status is OrderStatus.CANCELLED)
        await until(lambda: broker.duplicates_dropped >= 1)  # the late report came, once

    streaming(broker, sim, scenario)
    final = log.order(order.id)
    assert final.filled == Decimal("0.06")  # exact
    assert log.kinds(order.id) == ["accept", "fill", "fill", "cancel"]
    venue = broker.lookup(order.id)
    assert venue is not None
    assert (venue.status, venue.filled) == ("cancelled", Decimal("0.06"))


def test_an_overfill_with_a_new_trade_id_halts(venue_sim_factory):
    sim = venue_sim_factory(symbols=["BTC/USDT"])
    broker = broker_for(sim)
    log = EventLog()
    broker.connect(log)
    (btc,) = broker.instruments()
    order = log.new_order(btc, "0.02", limit=_limit(sim))

    async def scenario():
        broker.submit(order)
        bogus = {"t": 987654321, "l": "0.02000000", "z": "0.03000000"}
        await until(lambda: sim.add_fault("noisy_reports", set=bogus))
        await until(lambda: sim.fill("BTC/USDT", client_order_id=order.id, qty="0.01"))
        await until(lambda: broker.alerts)

    streaming(broker, sim, scenario)
    assert log.filled(order.id) == Decimal("0.01")  # the overfill was never booked
    assert broker.halt_reason.startswith("OVERFILL")
    again = log.new_order(btc, "0.01")
    broker.submit(again)
    assert log.order(again.id).status is OrderStatus.REJECTED
    assert log.order(again.id).reason_code == "HALTED"
