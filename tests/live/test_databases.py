"""Persistence, the audit chain and exactly-once fills on SQLite and on PostgreSQL (the
same migrations, the same journal code, a real server on 127.0.0.1)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import attrs
import pytest
import sqlalchemy as sa

from rbt.data.db import dispose_all, open_database
from rbt.data.home import RbtHome
from rbt.kernel.errors import RbtError
from rbt.live.engine import PaperRun
from rbt.live.journal import verify_audit
from rbt.live.risk import HALTED

from . import venue_run

SPAN = {"start": "2016-01-04", "end": "2016-04-29", "bundle": "demo"}
LIVE_TABLES = {
    "live_sessions",
    "orders",
    "fills",
    "order_audit_log",
    "live_positions",
    "strategy_state",
    "broker_connections",
    "alignment_metrics",
    "runs",
}


def _home(tmp_path: Path, demo_home: RbtHome) -> RbtHome:
    home = RbtHome(tmp_path / "home")
    home.bundles.mkdir(parents=True)
    (home.bundles / "demo").symlink_to(demo_home.bundle("demo"))
    return home


def _scalar(engine: sa.Engine, sql: str, **params: object) -> object:
    with engine.connect() as conn:
        return conn.execute(sa.text(sql), params).scalar()


def test_migrations_reach_head(database: str) -> None:
    engine = open_database(database)
    tables = set(sa.inspect(engine).get_table_names())
    assert tables >= LIVE_TABLES
    assert _scalar(engine, "SELECT version_num FROM alembic_version") == (
        "0005_live_checkpoint_seq"
    )
    columns = {c["name"] for c in sa.inspect(engine).get_columns("live_sessions")}
    assert "checkpoint_seq" in columns


def test_persistence_audit_chain_and_exactly_once(
    database: str, tmp_path: Path, demo_home: RbtHome, small_strategy: Path
) -> None:
    import asyncio

    run = PaperRun(small_strategy, home=_home(tmp_path, demo_home), database=database, **SPAN)
    try:
        result = asyncio.run(run.run())
        engine = run.db
        assert engine.dialect.name == database.split(":")[0].split("+")[0]
        assert _scalar(engine, "SELECT count(*) FROM orders") == result.orders.height
        fills = result.transactions.height
        assert fills > 0
        assert _scalar(engine, "SELECT count(*) FROM fills") == fills
        assert _scalar(engine, "SELECT status FROM live_sessions") == "completed"
        assert '"fills":' in str(_scalar(engine, "SELECT state FROM strategy_state"))
        chain = verify_audit(engine, result.run_id)
        assert chain > result.orders.height + fills

        # exactly once: a duplicate fill is dropped (audited), the key refuses a copy
        fill = run.session.fills[-1]
        position = run.ledger.position_amount(fill.asset)
        run.session.fill(fill)
        run.journal.commit()
        assert run.ledger.position_amount(fill.asset) == position
        assert _scalar(engine, "SELECT count(*) FROM fills") == fills
        assert (
            _scalar(engine, "SELECT count(*) FROM order_audit_log WHERE event = 'duplicate_fill'")
            == 1
        )
        with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO fills (venue, account, run_id, trade_id, client_order_id, sid, "
                    "amount, price, commission, ts) VALUES ('paper', 'paper', :r, :t, :c, 1, "
                    "'1', '1', '0', 1)"
                ),
                {"r": result.run_id, "t": fill.id, "c": fill.order_id},
            )
        # a fill for an unknown order halts, and the switch is persisted
        run.session.fill(attrs.evolve(fill, id="stray-1", order_id="nobody-1"))
        assert _scalar(engine, "SELECT trading_state FROM live_sessions") == HALTED
        assert verify_audit(engine, result.run_id) == chain + 3  # dup, unknown, state

        # tampering is detected
        with engine.begin() as conn:
            third = conn.execute(
                sa.text("SELECT id FROM order_audit_log ORDER BY id LIMIT 1 OFFSET 2")
            ).scalar()
            conn.execute(
                sa.text("UPDATE order_audit_log SET payload = '{}' WHERE id = :i"), {"i": third}
            )
        with pytest.raises(RbtError, match=f"audit chain broken at row {third}"):
            verify_audit(engine, result.run_id)
    finally:
        run.close()


def test_sigkill_and_restart_exactly_once(database: str, tmp_path: Path) -> None:
    """A live session (journal recovery) killed after the venue took an order, restarted:
    no order twice, every fill once, the audit chain verifies — on both databases."""
    strategy = tmp_path / "crypto.py"
    strategy.write_text(venue_run.STRATEGY)
    (tmp_path / "venue").mkdir()
    env = {**os.environ, "RBT_LIVE_FAULT": "after_submit:5", "RBT_DATABASE_URL": database}
    proc = subprocess.run(
        [
            sys.executable,
            venue_run.__file__,
            str(tmp_path / "home"),
            str(tmp_path / "venue"),
            str(strategy),
            "--days",
            "24",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    result, live = venue_run.run(
        tmp_path / "home", tmp_path / "venue", strategy, days=24, database=database
    )
    engine = live.db
    ids = [r[0] for r in _rows(engine, "SELECT client_order_id FROM orders")]
    assert len(ids) == len(set(ids)) == result.orders.height
    trades = [r[0] for r in _rows(engine, "SELECT trade_id FROM fills")]
    assert len(trades) == len(set(trades)) == result.transactions.height
    assert result.trading_state == "ACTIVE"
    assert _scalar(engine, "SELECT count(*) FROM order_audit_log WHERE event = 'restored'") == 1
    assert verify_audit(engine, result.run_id) > len(ids)
    dispose_all()


def _rows(engine: sa.Engine, sql: str) -> list[tuple[object, ...]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(sql))]
