"""Persistence, save-before-send, exactly-once fills, audit chain, kill switch, breakers,
reconciliation and strategy state of paper runs (real SQLite files)."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
import sqlite3
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import attrs
import pytest

from rbt.cli.main import main as rbt_main
from rbt.data.home import RbtHome
from rbt.kernel.errors import RbtError
from rbt.live.engine import PaperRun, PersistenceError, run_paper
from rbt.live.journal import StateError, dump_state, load_state, verify_audit
from rbt.live.risk import HALTED, DailyLoss, Drawdown, make_breaker

SPAN = {"start": "2016-01-04", "end": "2016-06-30", "bundle": "demo"}


@pytest.fixture
def home(tmp_path: Path, demo_home: RbtHome) -> RbtHome:
    """A fresh home (own database) sharing the session's ingested bundle."""
    fresh = RbtHome(tmp_path / "home")
    fresh.bundles.mkdir(parents=True)
    (fresh.bundles / "demo").symlink_to(demo_home.bundle("demo"))
    return fresh


def _db(home: RbtHome) -> sqlite3.Connection:
    return sqlite3.connect(home.root / "rbt.sqlite")


def test_orders_fills_audit_state_are_persisted(home: RbtHome, small_strategy: Path) -> None:
    run = PaperRun(small_strategy, home=home, **SPAN)
    try:
        result = asyncio.run(run.run())
        with _db(home) as db:
            orders = db.execute("SELECT client_order_id, seq, status FROM orders").fetchall()
            fills = db.execute("SELECT count(*) FROM fills").fetchone()[0]
            (seq,) = db.execute("SELECT seq FROM live_sessions").fetchone()
            (state,) = db.execute("SELECT state FROM strategy_state").fetchone()
            mode = db.execute("PRAGMA journal_mode").fetchone()[0]
            assert db.execute("SELECT count(*) FROM alignment_metrics").fetchone()[0] == 0
            (conn_row,) = db.execute(
                "SELECT name, broker, venue, account, options FROM broker_connections"
            ).fetchall()
        assert mode == "wal"
        assert conn_row[:4] == (f"paper-{result.run_id}", "paper", "paper", "paper")
        assert "secret" not in conn_row[4]
        assert "key" not in conn_row[4]
        assert len(orders) == result.orders.height
        assert fills == result.transactions.height
        assert {cid for cid, s, _ in orders} == {f"paper-{result.run_id}-{s}" for _, s, _ in orders}
        assert seq == max(s for _, s, _ in orders)
        assert '"fills":' in state  # on_order_fill ran and its count is in the saved state
        assert run.engine.context.fills == fills
        assert verify_audit(run.db, result.run_id) > len(orders) + fills

        # a duplicate fill is applied once; a fill for an unknown order halts, nothing crashes
        fill = run.session.fills[-1]
        position = run.ledger.position_amount(fill.asset)
        run.session.fill(fill)
        run.journal.commit()
        assert run.ledger.position_amount(fill.asset) == position
        assert len(run.session.fills) == fills
        stray = attrs.evolve(fill, id="stray-1", order_id="nobody-1")
        run.session.fill(stray)
        assert run.journal.trading_state()[0] == HALTED
        with _db(home) as db:
            assert db.execute("SELECT count(*) FROM fills").fetchone()[0] == fills
            events = {e for (e,) in db.execute("SELECT event FROM order_audit_log")}
        assert {"duplicate_fill", "unknown_fill", "trading_state"} <= events

        # tampering with the audit log is detected
        with _db(home) as db:
            db.execute("UPDATE order_audit_log SET payload = '{}' WHERE id = 3")
        with pytest.raises(RbtError, match="audit chain broken at row 3"):
            verify_audit(run.db, result.run_id)
    finally:
        run.close()


def test_read_only_database_nothing_sent(home: RbtHome, small_strategy: Path) -> None:
    run = PaperRun(small_strategy, home=home, **SPAN)
    try:
        run.journal.conn.exec_driver_sql("PRAGMA query_only=ON")
        with pytest.raises(PersistenceError, match="nothing was sent"):
            asyncio.run(run.run())
        assert run.store.db.execute("SELECT count(*) FROM venue_orders").fetchone()[0] == 0
    finally:
        run.close()


@pytest.mark.parametrize("reducing", [False, True])
def test_kill_switch_persists_and_denies_before_the_broker(
    home: RbtHome, small_strategy: Path, reducing: bool
) -> None:
    run = PaperRun(small_strategy, home=home, **SPAN)  # creates the run's row
    run.close()
    args = ["--home", str(home.root)]
    assert rbt_main(["halt", *args, *(["--reducing"] if reducing else [])]) == 0
    run = PaperRun(small_strategy, home=home, **SPAN)
    try:
        result = asyncio.run(run.run())
        assert set(result.orders["status"].to_list()) == {"denied"}
        reason = result.orders["reason"][0]
        assert reason.startswith(
            "KILL_SWITCH: trading is " + ("REDUCING" if reducing else "HALTED")
        )
        assert run.store.db.execute("SELECT count(*) FROM venue_orders").fetchone()[0] == 0
        assert result.trading_state == ("REDUCING" if reducing else HALTED)
    finally:
        run.close()
    assert rbt_main(["resume", *args]) == 0
    with _db(home) as db:
        assert db.execute("SELECT trading_state FROM live_sessions").fetchone()[0] == "ACTIVE"


def test_breakers_trip_and_halt(home: RbtHome, small_strategy: Path) -> None:
    result = run_paper(small_strategy, home=home, breakers=[Drawdown(Decimal("0.000001"))], **SPAN)
    assert result.trading_state == HALTED
    assert result.state_reason.startswith("drawdown breaker")
    assert "denied" in result.orders["status"].to_list()
    assert DailyLoss(Decimal("0.1")).check(Decimal(80), Decimal(100), Decimal(100))
    assert make_breaker("daily_loss=0.05") == DailyLoss(Decimal("0.05"))
    with pytest.raises(ValueError, match="unknown breaker"):
        make_breaker("nope=0.1")


@pytest.mark.parametrize("policy", ["halt", "adopt", "flatten"])
def test_restart_with_unexplained_venue_state(
    tmp_path: Path, small_strategy: Path, demo_home: RbtHome, policy: str
) -> None:
    home = RbtHome(tmp_path / "home")
    home.bundles.mkdir(parents=True)
    (home.bundles / "demo").symlink_to(demo_home.bundle("demo"))
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "rbt.cli.main",
            "paper",
            str(small_strategy),
            "--feed",
            "replay:demo",
            "--start",
            SPAN["start"],
            "--end",
            SPAN["end"],
            "--home",
            str(home.root),
        ],
        env={**os.environ, "RBT_LIVE_FAULT": "after_intent:20"},
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    (venue,) = (home.root / "paper").glob("*.sqlite")
    with sqlite3.connect(venue) as db:  # someone traded on the account while we were down
        db.execute(
            "INSERT INTO venue_orders (client_order_id, sid, amount, created, status) "
            "VALUES ('manual-1', 1, '7', 1, 'accepted')"
        )
        db.execute("INSERT INTO venue_fills VALUES ('manual-f1', 'manual-1', 1, '7', '10', '0', 1)")
    result = run_paper(small_strategy, home=home, policy=policy, **SPAN)
    if policy == "halt":
        assert result.trading_state == HALTED
        assert "reconciliation" in result.state_reason
        assert "manual-f1" in result.state_reason
    else:
        assert result.trading_state == "ACTIVE"
    if policy == "flatten":  # the foreign 7 shares were sold back at the venue
        with sqlite3.connect(venue) as db:
            flat = db.execute(
                "SELECT sid, amount FROM venue_fills WHERE client_order_id LIKE 'flat-%'"
            ).fetchall()
        assert sum(Decimal(a) for _sid, a in flat) == Decimal(-7)
        assert {sid for sid, _a in flat} == {1}


def test_strategy_state_round_trip_and_refusal(demo_home: RbtHome) -> None:
    from rbt.data.bundles import load_bundle

    asset = load_bundle(demo_home, "demo").assets[0]

    class Ctx:
        pass

    class Plain:
        pass

    ctx = Ctx()
    ctx.portfolio = object()  # reserved names are not user state
    ctx.price = Decimal("1.25")
    ctx.when = dt.datetime(2020, 1, 2, 3, 4, tzinfo=dt.UTC)
    ctx.asset = asset
    ctx.book = {"a": [1, 2.5, None, asset]}
    text = dump_state(Plain(), ctx)
    other = Ctx()
    load_state(Plain(), other, text, {asset.sid: asset})
    assert (other.price, other.when, other.asset) == (ctx.price, ctx.when, asset)
    assert other.book == ctx.book
    ctx.handler = lambda: None
    with pytest.raises(StateError, match=r"context\.handler is a function"):
        dump_state(Plain(), ctx)

    class Custom:
        def get_state(self, context):
            return {"n": 3}

        def set_state(self, context, state):
            context.restored = state["n"]

    text = dump_state(Custom(), ctx)  # get_state wins over the unpersistable attribute
    load_state(Custom(), other, text, {})
    assert other.restored == 3


def test_paper_latency_delays_fills(home: RbtHome, small_strategy: Path) -> None:
    base = run_paper(small_strategy, home=home, **SPAN)
    late = run_paper(small_strategy, home=home, latency=dt.timedelta(days=1, minutes=1), **SPAN)
    assert late.transactions["ts"][0] > base.transactions["ts"][0]


def test_fills_unique_per_trade_id_in_the_database(home: RbtHome, small_strategy: Path) -> None:
    run_paper(small_strategy, home=home, **SPAN)
    with _db(home) as db:
        row = db.execute(
            "SELECT venue, account, trade_id, run_id, client_order_id, sid, amount,"
            " price, commission, ts FROM fills LIMIT 1"
        ).fetchone()
        with pytest.raises(sqlite3.IntegrityError):
            db.execute(
                "INSERT INTO fills (venue, account, trade_id, run_id, client_order_id, "
                "sid, amount, price, commission, ts) VALUES (?,?,?,?,?,?,?,?,?,?)",
                row,
            )


def test_restart_restores_the_saved_strategy_state(
    tmp_path: Path, small_strategy: Path, demo_home: RbtHome
) -> None:
    import json

    home = RbtHome(tmp_path / "home")
    home.bundles.mkdir(parents=True)
    (home.bundles / "demo").symlink_to(demo_home.bundle("demo"))
    proc = subprocess.run(
        [
            *[sys.executable, "-m", "rbt.cli.main", "paper", str(small_strategy)],
            *["--feed", "replay:demo", "--start", SPAN["start"], "--end", SPAN["end"]],
            *["--home", str(home.root)],
        ],
        env={**os.environ, "RBT_LIVE_FAULT": "after_intent:20"},
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    with _db(home) as db:  # the saved state is the truth on restart
        (text,) = db.execute("SELECT state FROM strategy_state").fetchone()
        state = json.loads(text)
        state["attrs"]["fills"] += 1000
        db.execute("UPDATE strategy_state SET state = ?", (json.dumps(state),))
    result = run_paper(small_strategy, home=home, **SPAN)
    with _db(home) as db:
        (text,) = db.execute("SELECT state FROM strategy_state").fetchone()
    assert json.loads(text)["attrs"]["fills"] == result.transactions.height + 1000


class _SkippingBackFeed:
    """A feed whose schedule jumps back in time after ``after`` events (a broken source)."""

    def __init__(self, inner: object, after: int) -> None:
        self.inner = inner
        self.after = after
        self.name = "broken"

    def schedule(self, start: dt.date, end: dt.date) -> object:
        from rbt.live.feed import checked

        def events() -> object:
            first = None
            for i, event in enumerate(self.inner.schedule(start, end)):  # type: ignore[attr-defined]
                first = first or event
                if i == self.after:
                    yield first  # an old message again: out of order
                yield event

        return checked(events())  # type: ignore[arg-type]


def test_out_of_order_feed_stops_clearly_and_nothing_is_lost(
    home: RbtHome, tmp_path: Path, demo_home: RbtHome, small_strategy: Path
) -> None:
    from rbt.live.feed import FeedError

    run = PaperRun(small_strategy, home=home, **SPAN)
    run.feed = _SkippingBackFeed(run.feed, after=200)  # type: ignore[assignment]
    try:
        with pytest.raises(FeedError, match="out-of-order"):
            asyncio.run(run.run())
    finally:
        run.close()
    with _db(home) as db:
        assert db.execute("SELECT status FROM live_sessions").fetchone()[0] == "failed"
    resumed = run_paper(small_strategy, home=home, **SPAN)  # the same command, a good feed
    clean_home = RbtHome(tmp_path / "clean")
    clean_home.bundles.mkdir(parents=True)
    (clean_home.bundles / "demo").symlink_to(demo_home.bundle("demo"))
    clean = run_paper(small_strategy, home=clean_home, **SPAN)
    assert resumed.final_value == clean.final_value
    assert resumed.trading_state == "ACTIVE"
    assert verify_audit(run.db, resumed.run_id) > 0
