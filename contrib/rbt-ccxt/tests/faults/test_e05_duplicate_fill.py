"""Scenario 5 (reliability.md §E): the same execution report twice (same trade id) on the
stream and again in the REST fill list is applied once; a "noisy" repeat (same trade id,
other quantity) is logged and dropped; the position is unchanged."""

from __future__ import annotations

import logging
from decimal import Decimal

from rbt_ccxt.testing import EventLog, broker_for, streaming, until

from rbt.kernel.model import OrderStatus


def _resting(sim, log, btc, qty="0.02"):
    price = Decimal(sim.state()["prices"]["BTCUSDT"])
    limit = str((price * Decimal("0.97")).quantize(Decimal("0.01")))
    return log.new_order(btc, qty, limit=limit)


def test_duplicate_reports_are_applied_once(venue_sim_factory):
    sim = venue_sim_factory(symbols=["BTC/USDT"])
    broker = broker_for(sim)
    log = EventLog()
    broker.connect(log)
    (btc,) = broker.instruments()
    order = _resting(sim, log, btc)

    async def scenario():
        broker.submit(order)
        await until(lambda: sim.add_fault("duplicate_reports", count=2))
        await until(lambda: sim.fill("BTC/USDT", client_order_id=order.id, qty="0.005"))
        await until(lambda: sim.fill("BTC/USDT", client_order_id=order.id))
        await until(lambda: log.order(order.id).status is OrderStatus.FILLED)
        # a reconnect's REST catch-up lists the same trades again (at or after the watermark)
        await until(lambda: sim.close_sockets("api"))
        await until(lambda: broker.duplicates_dropped >= 1)

    streaming(broker, sim, scenario)
    assert broker.reconnects >= 1
    assert [abs(f.amount) for f in log.fills] == [Decimal("0.005"), Decimal("0.015")]
    assert log.order(order.id).filled == Decimal("0.02")
    assert len({f.id for f in log.fills}) == 2
    assert log.kinds(order.id) == ["accept", "fill", "fill"]


def test_a_noisy_repeat_is_logged_and_dropped(venue_sim_factory, caplog):
    sim = venue_sim_factory(symbols=["BTC/USDT"])
    broker = broker_for(sim)
    log = EventLog()
    broker.connect(log)
    (btc,) = broker.instruments()
    order = _resting(sim, log, btc)

    async def scenario():
        broker.submit(order)
        await until(lambda: sim.add_fault("noisy_reports", set={"l": "0.00700000"}))
        await until(lambda: sim.fill("BTC/USDT", client_order_id=order.id, qty="0.005"))
        await until(lambda: broker.noisy_dropped >= 1)

    with caplog.at_level(logging.WARNING, logger="rbt_ccxt.broker"):
        streaming(broker, sim, scenario)
    assert log.order(order.id).filled == Decimal("0.005")
    assert log.order(order.id).status is OrderStatus.PARTIALLY_FILLED
    assert any("repeated with other numbers" in r.getMessage() for r in caplog.records)
