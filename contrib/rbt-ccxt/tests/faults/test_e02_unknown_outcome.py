"""Scenario 2 (reliability.md §E): a submit whose outcome is unknown is resolved by client
id, never resent; a deliberate resubmit with the same client id is not sent again (and the
venue would refuse it as a duplicate)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from rbt_ccxt.testing import EventLog, broker_for

from rbt.kernel.errors import OrderOutcomeUnknownError
from rbt.kernel.model import OrderStatus


def _posts(sim) -> list[dict]:
    return [r for r in sim.requests() if r["path"] == "/api/v3/order" and r["method"] == "POST"]


@pytest.fixture
def sim(venue_sim_factory):
    return venue_sim_factory(symbols=["BTC/USDT"])


def test_accepted_then_answered_too_late(sim):
    broker = broker_for(sim)
    log = EventLog()
    broker.connect(log)
    broker.client.timeout = 1000  # ms
    (btc,) = broker.instruments()
    sim.add_fault("delay", method="POST", path="/api/v3/order", seconds=3)
    order = log.new_order(btc, "0.01")
    with pytest.raises(OrderOutcomeUnknownError, match="look it up by client id") as caught:
        broker.submit(order)
    assert "signature" not in str(caught.value)
    assert log.order(order.id).status is OrderStatus.SUBMITTED  # still in flight
    assert len(_posts(sim)) == 1  # no automatic resend
    venue = broker.lookup(order.id)
    assert venue is not None
    assert (venue.status, venue.filled) == ("filled", Decimal("0.01"))
    # the lookup also resolved the order in the engine's books, exactly once
    assert log.order(order.id).status is OrderStatus.FILLED
    assert log.filled(order.id) == Decimal("0.01")
    assert len(_posts(sim)) == 1


def test_503_before_processing_is_not_at_the_venue(sim):
    broker = broker_for(sim)
    log = EventLog()
    broker.connect(log)
    (btc,) = broker.instruments()
    sim.add_fault("http_error", method="POST", path="/api/v3/order", status=503)
    order = log.new_order(btc, "0.01")
    with pytest.raises(OrderOutcomeUnknownError):
        broker.submit(order)
    assert broker.lookup(order.id) is None
    assert len(_posts(sim)) == 1


def test_reset_after_accept_then_a_deliberate_resubmit_is_a_duplicate(sim):
    broker = broker_for(sim)
    log = EventLog()
    broker.connect(log)
    (btc,) = broker.instruments()
    price = Decimal(sim.state()["prices"]["BTCUSDT"])
    limit = str((price * Decimal("0.9")).quantize(Decimal("0.01")))
    sim.add_fault("drop", method="POST", path="/api/v3/order")  # processed, then reset
    order = log.new_order(btc, "0.01", limit=limit)
    with pytest.raises(OrderOutcomeUnknownError):
        broker.submit(order)
    venue = broker.lookup(order.id)
    assert venue is not None
    assert venue.status == "open"
    assert log.order(order.id).status is OrderStatus.ACCEPTED
    # a deliberate resubmit with the same client id: the adapter finds it at the venue and
    # does not send it again
    again = EventLog()
    broker.connect(again)
    retry = again.new_order(btc, "0.01", limit=limit, order_id=order.id)
    broker.submit(retry)
    assert again.order(order.id).status is OrderStatus.ACCEPTED
    assert len(_posts(sim)) == 1
    # and were it sent (the check switched off), the venue refuses the duplicate
    raw = broker_for(sim, check_client_ids=False)
    third = EventLog()
    raw.connect(third)
    (btc,) = raw.instruments()
    raw.submit(third.new_order(btc, "0.01", limit=limit, order_id=order.id))
    assert third.order(order.id).status is OrderStatus.REJECTED
    assert "Duplicate order" in third.order(order.id).reason
    open_orders = sim.state()["open_orders"]["main"]
    assert [o["clientOrderId"] for o in open_orders] == [order.id]


@pytest.mark.slow
def test_the_live_engine_resolves_a_timed_out_submit(venue_sim_factory, tmp_path):
    """Through the live engine: the venue takes the order but answers after ccxt's 10 s
    timeout; the engine looks it up by client id, books it once and trades on."""
    from pathlib import Path

    from rbt_ccxt.testing import finish, reap, start_live, step, wait_streaming, write_path

    closes = [50000, 50040, 49980, 50110, 50200]
    path, start = write_path(tmp_path, closes)
    sim = venue_sim_factory(
        symbols=["BTC/USDT"], path=path, args=["--balance", "BTC=0", "--balance", "ETH=0"]
    )
    home = tmp_path / "home"
    strategy = Path(__file__).resolve().parents[1] / "e2e" / "strategy_e2e.py"
    proc = start_live(sim, home, strategy, start, len(closes) - 1)
    try:
        wait_streaming(sim, proc)
        sim.add_fault("delay", method="POST", path="/api/v3/order", seconds=12)
        for i in range(len(closes) - 1):
            step(sim, proc, home, start, i, timeout=90)
        result = finish(proc)
    finally:
        reap(proc)
    posts = _posts(sim)
    first = posts[0]["body"]["newClientOrderId"]
    assert [p["body"]["newClientOrderId"] for p in posts].count(first) == 1  # never resent
    assert result["trading_state"] == "ACTIVE", result["reason"]
    assert first in {f["order"] for f in result["fills"]}
    venue_btc = Decimal(sim.state()["accounts"]["main"]["BTC"]["free"])
    assert Decimal(result["positions"]["BTC/USDT"]) == venue_btc
