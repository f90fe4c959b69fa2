"""Scenario 9 (reliability.md §E): while the bot is stopped, its position is closed by
hand and a foreign order is added at the venue. On restart, reconciliation notices what
the books cannot explain: policy ``halt`` keeps the run HALTED with the reason (nothing
is sent; it never "assumes flat"). (Policy ``adopt`` audits the difference and trades on
without rewriting the books: that is the live engine's policy, tested with it.)"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from rbt_ccxt.endpoint import make_client
from rbt_ccxt.testing import (
    finish,
    reap,
    sandbox_endpoint,
    start_live,
    step,
    wait_streaming,
    write_path,
)

pytestmark = pytest.mark.slow
E2E = Path(__file__).resolve().parents[1] / "e2e"
CLOSES = [50000, 50040, 49980, 50110, 50200, 50150, 50090, 50300]


def _posts(sim) -> list[dict]:
    return [r for r in sim.requests() if r["path"] == "/api/v3/order" and r["method"] == "POST"]


def _first_part(sim, home, start) -> dict:
    proc = start_live(sim, home, E2E / "strategy_e2e.py", start, 2)  # until bar 2
    try:
        wait_streaming(sim, proc)
        for i in range(2):
            step(sim, proc, home, start, i)
        return finish(proc)
    finally:
        reap(proc)


def _meddle(sim) -> None:
    """By hand, with the bot stopped: sell the whole position, add a foreign order."""
    client = make_client(sandbox_endpoint(sim), "binance")
    client.load_markets()
    client.create_order(
        "BTC/USDT", "market", "sell", "0.02", None, {"newClientOrderId": "manual-close-1"}
    )
    client.create_order(
        "BTC/USDT", "limit", "buy", "0.01", "40000", {"newClientOrderId": "foreign-1"}
    )


def test_restart_after_venue_changes_stays_halted(venue_sim_factory, tmp_path):
    path, start = write_path(tmp_path, CLOSES)
    sim = venue_sim_factory(
        symbols=["BTC/USDT"], path=path, args=["--balance", "BTC=0", "--balance", "ETH=0"]
    )
    home = tmp_path / "home"
    first = _first_part(sim, home, start)
    assert first["positions"]["BTC/USDT"] == "0.02000000"
    _meddle(sim)
    sent_before = len(_posts(sim))

    again = start_live(sim, home, E2E / "strategy_e2e.py", start, len(CLOSES) - 1, policy="halt")
    try:
        wait_streaming(sim, again)
        for i in range(2, len(CLOSES) - 1):
            step(sim, again, home, start, i)
        result = finish(again)
    finally:
        reap(again)
    assert result["trading_state"] == "HALTED"
    assert "BTC/USDT" in result["reason"]  # the reason names what does not add up
    assert len(_posts(sim)) == sent_before  # nothing sent while halted
    assert Decimal(result["positions"]["BTC/USDT"]) == Decimal("0.02")  # never "assumes flat"
    assert Decimal(sim.state()["accounts"]["main"]["BTC"]["free"]) == 0  # the venue's truth
    # the foreign order is never touched
    open_ids = [o["clientOrderId"] for o in sim.state()["open_orders"]["main"]]
    assert "foreign-1" in open_ids
