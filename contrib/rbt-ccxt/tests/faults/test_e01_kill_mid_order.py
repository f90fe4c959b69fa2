"""Scenario 1 (reliability.md §E): the trading process is SIGKILLed while the venue holds
its order request (accepted, answer delayed); the restarted process reconciles by client
id: exactly one venue order, the books match the venue, nothing is resent."""

from __future__ import annotations

import signal
import time
from decimal import Decimal
from pathlib import Path

import pytest
from rbt_ccxt.testing import (
    finish,
    orders_at_venue,
    reap,
    start_live,
    step,
    wait_streaming,
    write_path,
)

E2E = Path(__file__).resolve().parents[1] / "e2e"

pytestmark = pytest.mark.slow


def _posts(sim):
    return [r for r in sim.requests() if r["path"] == "/api/v3/order" and r["method"] == "POST"]


def test_kill_while_the_venue_holds_the_order(venue_sim_factory, tmp_path):
    closes = [50000, 50040, 49980, 50110, 50200, 50150, 50090, 50300]
    path, start = write_path(tmp_path, closes)
    sim = venue_sim_factory(
        symbols=["BTC/USDT"], path=path, args=["--balance", "BTC=0", "--balance", "ETH=0"]
    )
    home = tmp_path / "home"
    strategy = E2E / "strategy_e2e.py"  # buys 0.02 at its first bar
    proc = start_live(sim, home, strategy, start, len(closes) - 1)
    try:
        wait_streaming(sim, proc)
        # the venue accepts the order and answers after 30 s; the process dies meanwhile
        sim.add_fault("delay", method="POST", path="/api/v3/order", seconds=30)
        sim.advance(1)
        deadline = time.monotonic() + 30
        while not _posts(sim):
            assert time.monotonic() < deadline, "the strategy did not place its order"
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)  # a real kill, mid-order
        proc.wait(timeout=10)
    finally:
        reap(proc)
    (posted,) = _posts(sim)
    cid = posted["body"]["newClientOrderId"]
    assert Decimal(sim.state()["accounts"]["main"]["BTC"]["free"]) == Decimal("0.02")
    sim.clear_faults()

    # restart: reconciliation finds the order by its client id and books its fill
    again = start_live(sim, home, strategy, start, len(closes) - 1)
    try:
        wait_streaming(sim, again)
        for i in range(1, len(closes) - 1):
            step(sim, again, home, start, i)
        result = finish(again)
    finally:
        reap(again)
    assert orders_at_venue(sim, cid) == 1  # never resent
    assert result["trading_state"] == "ACTIVE", result["reason"]
    assert cid in {f["order"] for f in result["fills"]}
    venue_btc = Decimal(sim.state()["accounts"]["main"]["BTC"]["free"])
    assert Decimal(result["positions"]["BTC/USDT"]) == venue_btc  # the books match the venue
    # every client id the run used reached the venue exactly once
    cids = {
        r["body"]["newClientOrderId"]
        for r in sim.requests()
        if r["path"] == "/api/v3/order" and r["method"] == "POST"
    }
    assert all(orders_at_venue(sim, c) == 1 for c in cids)
