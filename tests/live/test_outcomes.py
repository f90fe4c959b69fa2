"""Unknown submit outcomes are resolved by client id (never a blind resend); order-rate
limits deny before the broker."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from rbt.data.home import RbtHome
from rbt.live.engine import run_paper

SPAN = {"start": "2016-01-04", "end": "2016-06-30", "bundle": "demo"}


@pytest.fixture
def home(tmp_path: Path, demo_home: RbtHome) -> RbtHome:
    fresh = RbtHome(tmp_path / "home")
    fresh.bundles.mkdir(parents=True)
    (fresh.bundles / "demo").symlink_to(demo_home.bundle("demo"))
    return fresh


def _venue_orders(home: RbtHome) -> list[str]:
    (path,) = (home.root / "paper").glob("*.sqlite")
    with sqlite3.connect(path) as db:
        return [r[0] for r in db.execute("SELECT client_order_id FROM venue_orders")]


def _audit(home: RbtHome, event: str) -> list[str]:
    with sqlite3.connect(home.root / "rbt.sqlite") as db:
        return [
            r[0]
            for r in db.execute(
                "SELECT payload FROM order_audit_log WHERE event = ? ORDER BY id", (event,)
            )
        ]


def test_timeout_after_the_venue_took_the_order_is_resolved_not_resent(
    home: RbtHome, tmp_path: Path, demo_home: RbtHome, small_strategy: Path
) -> None:
    clean_home = RbtHome(tmp_path / "clean")
    clean_home.bundles.mkdir(parents=True)
    (clean_home.bundles / "demo").symlink_to(demo_home.bundle("demo"))
    clean = run_paper(small_strategy, home=clean_home, **SPAN)
    faulty = run_paper(small_strategy, home=home, unknown_outcome_at=frozenset({2, 5}), **SPAN)
    assert faulty.final_value == clean.final_value
    assert faulty.transactions.drop("order_id").equals(clean.transactions.drop("order_id"))
    orders = _venue_orders(home)
    assert len(orders) == len(set(orders)) == len(_venue_orders(clean_home))
    assert len(_audit(home, "unknown_outcome")) == 2
    assert _audit(home, "resolved") == ['{"venue_has_it":true}'] * 2


def test_lost_submit_is_rejected_after_lookup_never_resent(
    home: RbtHome, small_strategy: Path
) -> None:
    result = run_paper(small_strategy, home=home, lost_at=frozenset({1}), **SPAN)
    first = result.orders.row(0, named=True)
    assert first["status"] == "rejected"
    assert first["reason"].startswith("UNKNOWN_OUTCOME: the venue never received it")
    assert first["id"] not in _venue_orders(home)  # not resent
    assert _audit(home, "resolved") == ['{"venue_has_it":false}']


def test_order_rate_limit_denies_before_the_broker(home: RbtHome, small_strategy: Path) -> None:
    result = run_paper(small_strategy, home=home, max_orders_per_session=0, **SPAN)
    assert set(result.orders["status"].to_list()) == {"denied"}
    assert result.orders["reason"][0].startswith("RATE_LIMIT: more than 0 orders")
    assert _venue_orders(home) == []


def test_reducing_mid_run_allows_only_orders_that_shrink(
    home: RbtHome, small_strategy: Path
) -> None:
    from rbt.kernel.clock import ClockEventKind
    from rbt.live.engine import PaperRun

    box: dict[str, object] = {}
    sessions = {"n": 0}

    def switch(event: object) -> None:
        if getattr(event, "kind", None) is ClockEventKind.SESSION_END:
            sessions["n"] += 1
            if sessions["n"] == 10:
                run = box["run"]
                run.journal.set_trading_state("REDUCING", "test", event.ts)  # type: ignore[attr-defined]
                box["ts"] = event.ts

    import asyncio

    run = PaperRun(small_strategy, home=home, on_event=switch, **SPAN)
    box["run"] = run
    try:
        result = asyncio.run(run.run())
    finally:
        run.close()
    after = result.orders.filter(result.orders["created"] > box["ts"])
    denied = after.filter(after["status"] == "denied")
    allowed = after.filter(after["status"] != "denied")
    assert denied.height > 0
    assert allowed.height > 0
    assert all(a > 0 for a in denied["amount"].to_list())  # buys that would grow a position
    assert all(a < 0 for a in allowed["amount"].to_list())  # sells back to flat
    assert result.trading_state == "REDUCING"


def test_rate_limited_submit_is_resolved_and_refused_credentials_halt(
    home: RbtHome, small_strategy: Path
) -> None:
    """A 429 on submit is an unknown outcome (looked up, not resent); refused credentials
    reject the order and halt trading."""
    import asyncio

    from rbt.kernel.errors import AuthenticationError, RateLimitedError
    from rbt.live.engine import PaperRun

    run = PaperRun(small_strategy, home=home, **SPAN)
    run.broker.refuse_at = {  # type: ignore[attr-defined]
        1: RateLimitedError("429 Too Many Requests", venue="paper", retry_after=1.0),
        3: AuthenticationError("signature refused", venue="paper"),
    }
    try:
        result = asyncio.run(run.run())
    finally:
        run.close()
    first, second, third = result.orders.head(3).iter_rows(named=True)
    assert first["status"] == "rejected"
    assert first["reason"].startswith("UNKNOWN_OUTCOME: the venue never received it")
    assert second["status"] in ("accepted", "filled")  # trading went on after the 429
    assert second["id"] in _venue_orders(home)
    assert third["status"] == "rejected"
    assert third["reason"] == "AUTHENTICATION: signature refused"
    assert result.trading_state == "HALTED"
    assert result.state_reason.startswith("the venue refused our credentials")
    assert set(result.orders["status"].to_list()[3:]) == {"denied"}
    assert first["id"] not in _venue_orders(home)
    assert "RateLimitedError" in _audit(home, "unknown_outcome")[0]
