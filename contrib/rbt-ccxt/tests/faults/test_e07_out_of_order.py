"""Scenario 7 (reliability.md §E): fill before ack and stale updates after newer ones; no
invalid transition, the final state is right, stale reports are ignored."""

from __future__ import annotations

from decimal import Decimal

import pytest
from rbt_ccxt.testing import EventLog, broker_for, streaming, until

from rbt.kernel.errors import OrderOutcomeUnknownError
from rbt.kernel.model import OrderStatus


def _limit(sim) -> str:
    price = Decimal(sim.state()["prices"]["BTCUSDT"])
    return str((price * Decimal("0.97")).quantize(Decimal("0.01")))


def test_fill_report_before_the_new_report(venue_sim_factory):
    sim = venue_sim_factory(symbols=["BTC/USDT"])
    broker = broker_for(sim)
    log = EventLog()
    broker.connect(log)
    (btc,) = broker.instruments()
    order = log.new_order(btc, "0.02", limit=_limit(sim))

    async def scenario():
        await until(lambda: sim.add_fault("reorder_reports", count=2))
        # the order answer is lost (accepted, then reset): only the stream tells
        await until(lambda: sim.add_fault("drop", method="POST", path="/api/v3/order"))
        with pytest.raises(OrderOutcomeUnknownError):
            broker.submit(order)
        await until(lambda: sim.fill("BTC/USDT", client_order_id=order.id))
        await until(lambda: log.order(order.id).status is OrderStatus.FILLED)

    streaming(broker, sim, scenario)
    # TRADE arrived before NEW: SUBMITTED -> FILLED directly, the stale NEW ignored
    assert log.kinds(order.id) == ["fill"]
    assert log.order(order.id).filled == Decimal("0.02")


def test_a_stale_update_after_a_newer_one_is_ignored(venue_sim_factory):
    sim = venue_sim_factory(symbols=["BTC/USDT"])
    broker = broker_for(sim)
    log = EventLog()
    broker.connect(log)
    (btc,) = broker.instruments()
    order = log.new_order(btc, "0.02", limit=_limit(sim))

    async def scenario():
        broker.submit(order)
        await until(lambda: sim.add_fault("reorder_reports", count=2))
        await until(lambda: sim.fill("BTC/USDT", client_order_id=order.id, qty="0.005"))
        await until(lambda: sim.fill("BTC/USDT", client_order_id=order.id))
        await until(lambda: log.order(order.id).status is OrderStatus.FILLED)
        await until(lambda: broker.duplicates_dropped >= 1)  # the older report, last

    streaming(broker, sim, scenario)
    assert log.kinds(order.id) == ["accept", "fill", "fill"]
    assert [abs(f.amount) for f in log.fills] == [Decimal("0.005"), Decimal("0.015")]
