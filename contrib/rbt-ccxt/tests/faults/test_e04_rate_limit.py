"""Scenario 4 (reliability.md §E): 429 + ``Retry-After`` is honoured by the per-venue
limiter — reads wait and are retried, a write is never retried, nothing is sent during a
back-off, the venue never answers 418 — and a persistent burst trips the breaker."""

from __future__ import annotations

from decimal import Decimal

import pytest
from rbt_ccxt.testing import EventLog, broker_for

from rbt.kernel.errors import OrderOutcomeUnknownError, RateLimitedError
from rbt.kernel.model import OrderStatus


def _statuses(sim) -> list[object]:
    return [r["status"] for r in sim.requests()]


def test_a_burst_is_waited_out_and_reads_retried(venue_sim_factory):
    sim = venue_sim_factory(symbols=["BTC/USDT"], args=["--ban-after", "2"])
    broker = broker_for(sim)
    log = EventLog()
    broker.connect(log)
    broker.instruments()
    sim.add_fault("rate_limit", seconds=1)
    snap = broker.snapshot()  # 429, wait Retry-After, retried
    assert snap.cash["USDT"] > 0
    statuses = _statuses(sim)
    assert statuses.count(429) == 1
    assert (
        418 not in statuses
    )  # --ban-after 2: a second request during the back-off would be banned
    assert broker.limiter.limited_total >= 1


def test_a_write_during_a_back_off_is_refused_before_the_network(venue_sim_factory):
    sim = venue_sim_factory(symbols=["BTC/USDT"], args=["--ban-after", "2"])
    # without the client-id check the placement itself meets the 429
    broker = broker_for(sim, check_client_ids=False)
    log = EventLog()
    broker.connect(log)
    (btc,) = broker.instruments()
    sim.add_fault("rate_limit", seconds=3)
    first = log.new_order(btc, "0.01")
    with pytest.raises(OrderOutcomeUnknownError):  # a 429 on a write: unknown, not retried
        broker.submit(first)
    second = log.new_order(btc, "0.01")
    broker.submit(second)  # the limiter knows the venue is backing off: nothing is sent
    assert log.order(second.id).status is OrderStatus.REJECTED
    assert log.order(second.id).reason_code == "RATE_LIMITED"
    posts = [r for r in sim.requests() if r["path"] == "/api/v3/order"]
    assert len(posts) == 1
    assert 418 not in _statuses(sim)
    assert broker.lookup(first.id) is None  # waited out the back-off, then resolved
    assert 418 not in _statuses(sim)


def test_the_client_id_check_during_a_back_off_sends_nothing(venue_sim_factory):
    sim = venue_sim_factory(symbols=["BTC/USDT"], args=["--ban-after", "2"])
    broker = broker_for(sim)
    log = EventLog()
    broker.connect(log)
    (btc,) = broker.instruments()
    sim.add_fault("rate_limit", seconds=3)
    order = log.new_order(btc, "0.01")
    broker.submit(order)  # the lookup before sending meets the 429: refused, not sent
    assert log.order(order.id).reason_code == "RATE_LIMITED"
    assert [r for r in sim.requests() if r["method"] == "POST"] == []
    assert 418 not in _statuses(sim)


def test_a_persistent_burst_trips_the_breaker(venue_sim_factory):
    sim = venue_sim_factory(symbols=["BTC/USDT"])
    broker = broker_for(sim, read_retries=5)
    log = EventLog()
    broker.connect(log)
    broker.instruments()
    # a one-second window of 1 weight: every snapshot read (weight 20) is refused
    sim.set_limits(weight_limit=1, weight_window_s=1, reset=True)
    with pytest.raises(RateLimitedError, match="rate-limit answers in a row"):
        broker.snapshot()
    with pytest.raises(RateLimitedError):
        broker.snapshot()  # stays tripped: nothing sent
    statuses = _statuses(sim)
    assert statuses.count(429) == broker.limiter.max_consecutive
    assert 418 not in statuses
    assert Decimal(broker.limiter.max_consecutive) == 3
