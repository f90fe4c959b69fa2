"""Scenario 8 (reliability.md §E): the venue clock is shifted against ours (the simulator's
``/_sim/clock`` skew stands in for running the client under faketime: only the difference
matters to ``recvWindow``). The offset is measured from server time and applied; beyond
the broker's limit private calls are refused and trading halts with the reason."""

from __future__ import annotations

from decimal import Decimal

import ccxt
import pytest
from rbt_ccxt.endpoint import make_client
from rbt_ccxt.skew import ClockSkewError
from rbt_ccxt.testing import EventLog, broker_for, sandbox_endpoint

from rbt.kernel.model import OrderStatus


def _posts(sim) -> list[dict]:
    return [r for r in sim.requests() if r["path"] == "/api/v3/order" and r["method"] == "POST"]


@pytest.mark.parametrize("skew_ms", [-3000, 3000, -8000])
def test_a_skew_within_the_limit_is_measured_and_corrected(venue_sim_factory, skew_ms):
    sim = venue_sim_factory(symbols=["BTC/USDT"])
    sim.set_skew(skew_ms)
    if skew_ms < -1000:
        # uncorrected, ccxt's timestamps are ahead of the venue: -1021
        raw = make_client(sandbox_endpoint(sim), "binance")
        with pytest.raises(ccxt.InvalidNonce):
            raw.fetch_balance()
    broker = broker_for(sim)
    log = EventLog()
    broker.connect(log)
    assert broker.offset is not None
    assert abs(broker.offset.offset_ms - skew_ms) < 500
    (btc,) = broker.instruments()
    order = log.new_order(btc, "0.01")
    broker.submit(order)
    assert log.order(order.id).status is OrderStatus.FILLED
    # stored timestamps are the venue's UTC times (ms -> ns), monotonic per order
    (fill,) = log.fills
    assert abs(fill.ts // 1_000_000 - (broker.client.milliseconds() + skew_ms)) < 5000


@pytest.mark.parametrize("skew_ms", [30_000, -30_000])
def test_a_skew_beyond_the_limit_halts(venue_sim_factory, skew_ms):
    sim = venue_sim_factory(symbols=["BTC/USDT"])
    sim.set_skew(skew_ms)
    broker = broker_for(sim)
    log = EventLog()
    with pytest.raises(ClockSkewError, match=r"CLOCK_SKEW: the local clock is .* off"):
        broker.connect(log)
    assert broker.halt_reason.startswith("CLOCK_SKEW")
    (btc,) = broker.instruments()
    order = log.new_order(btc, "0.01")
    broker.submit(order)
    assert log.order(order.id).status is OrderStatus.REJECTED
    assert log.order(order.id).reason_code == "HALTED"
    assert _posts(sim) == []  # private calls refused


def test_a_clock_that_jumps_while_running_is_resynchronised(venue_sim_factory):
    sim = venue_sim_factory(symbols=["BTC/USDT"])
    broker = broker_for(sim)
    log = EventLog()
    broker.connect(log)
    (btc,) = broker.instruments()
    sim.set_skew(-6000)  # after connect: the applied offset is now wrong
    first = log.new_order(btc, "0.01")
    broker.submit(first)  # -1021: refused by the venue before it looked at the order
    assert log.order(first.id).reason_code == "CLOCK_SKEW"
    assert abs(broker.offset.offset_ms + 6000) < 500  # measured again
    second = log.new_order(btc, "0.01")
    broker.submit(second)
    assert log.order(second.id).status is OrderStatus.FILLED
    assert log.filled(second.id) == Decimal("0.01")
