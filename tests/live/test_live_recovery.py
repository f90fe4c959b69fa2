"""Journal recovery and reconciliation of live runs (a streaming feed and a venue outside
the engine, used as a LiveBroker): SIGKILLed processes restart from the journal, resolve
in-flight orders by client id and never resend; start-up and periodic reconciliation
apply the halt / adopt / flatten policies."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from rbt.data.db import dispose_all, open_database
from rbt.data.home import RbtHome
from rbt.kernel.clock import ClockEvent, ClockEventKind
from rbt.kernel.errors import BrokerConnectionError
from rbt.live.journal import verify_audit

from . import venue_run
from .venue_run import STRATEGY, run

SCRIPT = Path(venue_run.__file__)


@pytest.fixture
def strategy(tmp_path: Path) -> Path:
    path = tmp_path / "crypto.py"
    path.write_text(STRATEGY)
    return path


def _venue(venue_dir: Path) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    with sqlite3.connect(venue_dir / "venue.sqlite") as db:
        orders = db.execute(
            "SELECT client_order_id, status, filled FROM venue_orders ORDER BY client_order_id"
        ).fetchall()
        fills = db.execute("SELECT trade_id, amount FROM venue_fills ORDER BY trade_id").fetchall()
    return orders, fills


def _audit(home: Path, event: str) -> list[dict[str, Any]]:
    with sqlite3.connect(home / "rbt.sqlite") as db:
        rows = db.execute(
            "SELECT payload FROM order_audit_log WHERE event = ? ORDER BY id", (event,)
        ).fetchall()
    return [json.loads(r[0]) for r in rows]


def _venue_positions(venue_dir: Path) -> dict[str, Decimal]:
    venue = venue_run.PaperVenue(venue_dir)  # the venue's own records, reopened
    try:
        return {k: v for k, v in venue.broker.snapshot().positions.items() if v}
    finally:
        venue.close()


def _books_match_venue(live: Any) -> None:
    venue = _venue_positions(Path(live.venue.store.path).parent)
    books = {a.symbol: amt for a, amt, _p in live.ledger.iter_holdings() if amt}
    assert venue == books


class _Reference:
    """An uninterrupted run's outcome (a short repr: hypothesis prints fixture values)."""

    def __init__(self, *parts: Any) -> None:
        self.parts = parts

    def __iter__(self) -> Any:
        return iter(self.parts)

    def __repr__(self) -> str:
        return "<uninterrupted reference run>"


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> _Reference:
    root = tmp_path_factory.mktemp("reference")
    path = root / "crypto.py"
    path.write_text(STRATEGY)
    (root / "venue").mkdir()
    result, _live = run(root / "home", root / "venue", path)
    orders, fills = _venue(root / "venue")
    return _Reference(result, orders, fills)


def test_uninterrupted_run_against_an_outside_venue(
    tmp_path: Path, strategy: Path, reference: _Reference
) -> None:
    (tmp_path / "venue").mkdir()
    result, live = run(tmp_path / "home", tmp_path / "venue", strategy)
    assert live.mode == "sandbox"
    assert live.recovery == "journal"
    assert result.trading_state == "ACTIVE"
    assert result.orders.height > 10
    assert result.final_value == reference.parts[0].final_value
    assert live.session.order_ids.prefix.startswith("rbt-")
    _books_match_venue(live)
    (baseline,) = _audit(tmp_path / "home", "baseline")
    assert baseline == {"positions": {}}
    assert all(not p["problems"] for p in _audit(tmp_path / "home", "reconcile"))


def _killed(tmp_path: Path, strategy: Path, fault: str) -> None:
    (tmp_path / "venue").mkdir()
    proc = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            str(tmp_path / "home"),
            str(tmp_path / "venue"),
            str(strategy),
        ],
        env={**os.environ, "RBT_LIVE_FAULT": fault},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr


def test_killed_after_the_venue_took_an_order_restarts_without_resending(
    tmp_path: Path, strategy: Path, reference: _Reference
) -> None:
    _killed(tmp_path, strategy, "after_submit:7")
    orders_before, _ = _venue(tmp_path / "venue")
    in_flight = orders_before[-1][0]
    assert in_flight.endswith("-7")
    result, live = run(tmp_path / "home", tmp_path / "venue", strategy)
    orders, fills = _venue(tmp_path / "venue")
    ids = [o[0] for o in orders]
    assert len(ids) == len(set(ids))  # never sent twice
    # the restarted run re-decided the interrupted bar, recognised the journaled order
    # (same client id) and let the venue keep working it: the uninterrupted outcome
    assert result.final_value == reference.parts[0].final_value
    assert orders == reference.parts[1]
    assert fills == reference.parts[2]
    assert result.trading_state == "ACTIVE"
    assert any(r["same"] for r in _audit(tmp_path / "home", "redecided"))
    restored = _audit(tmp_path / "home", "restored")
    assert len(restored) == 1
    _books_match_venue(live)
    dispose_all()
    assert verify_audit(open_database(RbtHome(tmp_path / "home")), result.run_id) > 0
    dispose_all()


def test_killed_before_the_order_left_is_resolved_by_lookup_not_sent(
    tmp_path: Path, strategy: Path
) -> None:
    _killed(tmp_path, strategy, "after_intent:7")
    orders_before, _ = _venue(tmp_path / "venue")
    assert not any(o[0].endswith("-7") for o in orders_before)
    result, live = run(tmp_path / "home", tmp_path / "venue", strategy)
    orders, _fills = _venue(tmp_path / "venue")
    seventh = [o for o in result.orders.iter_rows(named=True) if o["id"].endswith("-7")]
    assert [o["status"] for o in seventh] == ["rejected"]
    assert seventh[0]["reason"].startswith("UNKNOWN_OUTCOME: the venue never received it")
    assert not any(o[0].endswith("-7") for o in orders)  # looked up, never sent
    assert result.trading_state == "ACTIVE"
    _books_match_venue(live)


def _stop_early(tmp_path: Path, strategy: Path) -> None:
    (tmp_path / "venue").mkdir()
    run(tmp_path / "home", tmp_path / "venue", strategy, days=20)  # the stream ended


def _foreign_fill(venue_dir: Path, amount: str) -> None:
    """Someone traded BTC on the account while the engine was down."""
    with sqlite3.connect(venue_dir / "venue.sqlite") as db:
        db.execute(
            "INSERT INTO venue_orders (client_order_id, sid, amount, created, status, filled) "
            "VALUES ('manual-1', 1, ?, 1, 'filled', ?)",
            (amount, amount),
        )
        db.execute(
            "INSERT INTO venue_fills VALUES ('manual-f1', 'manual-1', 1, ?, '40000', '0', ?)",
            (amount, venue_run.T0 + 20 * venue_run.DAY),
        )


@pytest.mark.parametrize("policy", ["halt", "adopt", "flatten"])
def test_start_up_mismatch_applies_the_policy(tmp_path: Path, strategy: Path, policy: str) -> None:
    _stop_early(tmp_path, strategy)
    _foreign_fill(tmp_path / "venue", "0.3")
    result, live = run(tmp_path / "home", tmp_path / "venue", strategy, policy=policy)
    (start,) = [r for r in _audit(tmp_path / "home", "reconcile") if r["when"] == "start"][-1:]
    assert start["problems"] == ["BTC/USDT: venue holds 0.3, the books explain 0"] or any(
        "BTC/USDT: venue holds" in p for p in start["problems"]
    )
    venue_btc = _venue_positions(tmp_path / "venue").get("BTC/USDT", Decimal(0))
    books_btc = live.ledger.position_amount(live.assets[1])
    if policy == "halt":
        assert result.trading_state == "HALTED"
        assert "reconciliation (start)" in result.state_reason
        assert "BTC/USDT: venue holds" in result.state_reason
        restart = venue_run.T0 + 20 * venue_run.DAY
        after = result.orders.filter(result.orders["created"] > restart)
        assert after.height > 0
        assert set(after["status"].to_list()) == {"denied"}
    elif policy == "adopt":
        assert result.trading_state == "ACTIVE"
        (adopted,) = _audit(tmp_path / "home", "adopt_baseline")
        assert Decimal(adopted["positions"]["1"]) == Decimal("0.3")
        assert venue_btc == books_btc + Decimal("0.3")  # the foreign 0.3 is not the run's
    else:
        assert result.trading_state == "ACTIVE"
        (flat,) = _audit(tmp_path / "home", "flatten_order")
        assert Decimal(flat["amount"]) == Decimal("-0.3")
        assert _audit(tmp_path / "home", "flatten_fill")  # the venue sold the 0.3
        assert venue_btc == books_btc  # what the books could not explain is gone
        assert not any(f.order_id.startswith("flat-") for f in live.session.fills)


class ForeignTrader:
    """At the 10th bar, trades on the venue account behind the engine's back."""

    name = "foreign"

    def __init__(self) -> None:
        self.live: Any = None
        self.bars = 0

    def attach(self, run: Any) -> None:
        self.live = run

    def on_event(self, event: ClockEvent) -> None:
        if event.kind is ClockEventKind.BAR:
            self.bars += 1
            if self.bars == 10:
                store = self.live.venue.store
                store.db.execute(
                    "INSERT INTO venue_orders (client_order_id, sid, amount, created, status, "
                    "filled) VALUES ('manual-2', 2, '1', ?, 'filled', '1')",
                    (event.ts,),
                )
                store.db.execute(
                    "INSERT INTO venue_fills VALUES ('manual-f2', 'manual-2', 2, '1', '2000', "
                    "'0', ?)",
                    (event.ts,),
                )

    def close(self) -> None:
        pass


@pytest.mark.parametrize("policy", ["halt", "adopt", "flatten"])
def test_periodic_reconciliation_applies_the_policy_while_trading(
    tmp_path: Path, strategy: Path, policy: str
) -> None:
    (tmp_path / "venue").mkdir()
    result, live = run(
        tmp_path / "home",
        tmp_path / "venue",
        strategy,
        policy=policy,
        reconcile_every=3,
        observers=[ForeignTrader()],
    )
    periodic = [r for r in _audit(tmp_path / "home", "reconcile") if r["when"] == "periodic"]
    assert len(periodic) == 40 // 3
    assert not periodic[2]["problems"]  # bar 9: all agrees
    (problem,) = periodic[3]["problems"]  # bar 12: one ETH more than the books explain
    have, want = (Decimal(x) for x in re.findall(r"[\d.]+(?=,|$)", problem))
    assert problem.startswith("ETH/USDT: venue holds")
    assert have - want == 1
    eth = _venue_positions(tmp_path / "venue").get("ETH/USDT", Decimal(0))
    books_eth = live.ledger.position_amount(live.assets[2])
    if policy == "halt":
        assert result.trading_state == "HALTED"
        assert "reconciliation (periodic)" in result.state_reason
        assert "denied" in result.orders["status"].to_list()
        return
    assert result.trading_state == "ACTIVE"
    assert "denied" not in result.orders["status"].to_list()
    assert not any(r["problems"] for r in periodic[4:])  # settled after one application
    if policy == "adopt":
        assert eth == books_eth + 1  # the foreign unit stays, outside the run's books
    else:
        assert eth == books_eth  # sold back by a flatten order
        (flat,) = _audit(tmp_path / "home", "flatten_order")
        assert Decimal(flat["amount"]) == -1


@pytest.mark.slow
@settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(point=st.sampled_from(["after_intent", "after_submit"]), n=st.integers(1, 24))
def test_sigkill_at_chosen_points_then_restart(
    point: str,
    n: int,
    tmp_path_factory: pytest.TempPathFactory,
    reference: _Reference,
) -> None:
    """Killed right after the n-th intent was committed (before or after the venue took
    it), restarted from the journal: nothing is sent twice, the books equal the venue's,
    the audit chain verifies; killed after the venue took it, the run ends exactly as an
    uninterrupted one."""
    ref_result, ref_orders, ref_fills = reference
    assume(n <= ref_result.orders.height)
    root = tmp_path_factory.mktemp("kill")
    strategy = root / "crypto.py"
    strategy.write_text(STRATEGY)
    _killed(root, strategy, f"{point}:{n}")
    result, live = run(root / "home", root / "venue", strategy)
    orders, fills = _venue(root / "venue")
    assert len({o[0] for o in orders}) == len(orders)
    assert len({f[0] for f in fills}) == len(fills)
    assert result.trading_state == "ACTIVE"
    _books_match_venue(live)
    journal_fills = list(result.transactions["id"].to_list())
    assert sorted(journal_fills) == sorted(f[0] for f in fills)
    if point == "after_submit":
        assert result.final_value == ref_result.final_value
        assert orders == ref_orders
        assert fills == ref_fills
    else:
        lost = [o for o in result.orders.iter_rows(named=True) if o["id"].endswith(f"-{n}")]
        assert [o["status"] for o in lost] == ["rejected"]
        assert not any(o[0].endswith(f"-{n}") for o in orders)
    dispose_all()
    assert verify_audit(open_database(RbtHome(root / "home")), result.run_id) > len(orders)
    dispose_all()


class StreamBreaker:
    """After the 5th bar, the broker's order-update stream dies for good."""

    name = "stream-breaker"

    def __init__(self) -> None:
        self.live: Any = None
        self.bars = 0

    def attach(self, run: Any) -> None:
        self.live = run

    def on_event(self, event: ClockEvent) -> None:
        if event.kind is ClockEventKind.BAR:
            self.bars += 1
            if self.bars == 5:
                self.live.live_broker.break_stream(
                    BrokerConnectionError("user-data stream refused", venue="venue")
                )

    def close(self) -> None:
        pass


def test_a_dead_order_stream_stops_trading_at_once_and_the_restart_reconciles(
    tmp_path: Path, strategy: Path, reference: _Reference
) -> None:
    (tmp_path / "venue").mkdir()
    with pytest.raises(BrokerConnectionError, match="user-data stream refused"):
        run(tmp_path / "home", tmp_path / "venue", strategy, observers=[StreamBreaker()])
    with sqlite3.connect(tmp_path / "home" / "rbt.sqlite") as db:
        status, last_ts = db.execute("SELECT status, last_ts FROM live_sessions").fetchone()
    assert status == "failed"
    assert last_ts == venue_run.T0 + 5 * venue_run.DAY  # no bar stepped after the failure
    result, live = run(tmp_path / "home", tmp_path / "venue", strategy)
    assert result.trading_state == "ACTIVE"
    assert result.final_value == reference.parts[0].final_value
    _books_match_venue(live)
