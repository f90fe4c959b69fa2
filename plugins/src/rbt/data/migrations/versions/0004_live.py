"""Live and paper trading (rbt.live): orders, fills, audit log, positions, state.

Revision ID: 0004_live
Revises: 0003_sweeps
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_live"
down_revision = "0003_sweeps"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "live_sessions",
        sa.Column("run_id", sa.String(64), primary_key=True),
        sa.Column("mode", sa.String(16), nullable=False),  # paper / live
        sa.Column("strategy", sa.Text, nullable=False),
        sa.Column("config", sa.Text, nullable=False),  # JSON
        sa.Column("status", sa.String(16), nullable=False),  # running / completed / failed
        sa.Column("trading_state", sa.String(16), nullable=False),  # ACTIVE/REDUCING/HALTED
        sa.Column("state_reason", sa.Text, nullable=False, server_default=""),
        sa.Column("seq", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_ts", sa.BigInteger, nullable=True),
        sa.Column("capital", sa.Text, nullable=False),
        sa.Column("cash", sa.Text, nullable=True),
        sa.Column("portfolio_value", sa.Text, nullable=True),
        sa.Column("peak_value", sa.Text, nullable=True),
        sa.Column("session_start_value", sa.Text, nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "orders",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("venue", sa.String(64), nullable=False),
        sa.Column("account", sa.String(64), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("client_order_id", sa.String(128), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("sid", sa.Integer, nullable=False),
        sa.Column("symbol", sa.String(64), nullable=False),
        sa.Column("amount", sa.Text, nullable=False),
        sa.Column("style", sa.Text, nullable=False),
        sa.Column("created", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("filled", sa.Text, nullable=False, server_default="0"),
        sa.Column("reason", sa.Text, nullable=False, server_default=""),
        sa.UniqueConstraint("venue", "account", "client_order_id"),
    )
    op.create_table(
        "fills",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("venue", sa.String(64), nullable=False),
        sa.Column("account", sa.String(64), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("trade_id", sa.String(160), nullable=False),
        sa.Column("client_order_id", sa.String(128), nullable=False),
        sa.Column("sid", sa.Integer, nullable=False),
        sa.Column("amount", sa.Text, nullable=False),
        sa.Column("price", sa.Text, nullable=False),
        sa.Column("commission", sa.Text, nullable=False),
        sa.Column("ts", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("venue", "account", "trade_id"),
    )
    op.create_table(
        "order_audit_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("ts", sa.BigInteger, nullable=False),
        sa.Column("event", sa.String(32), nullable=False),
        sa.Column("client_order_id", sa.String(128), nullable=True),
        sa.Column("payload", sa.Text, nullable=False),  # canonical JSON
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False, unique=True),
    )
    op.create_table(
        "live_positions",
        sa.Column("run_id", sa.String(64), primary_key=True),
        sa.Column("sid", sa.Integer, primary_key=True),
        sa.Column("symbol", sa.String(64), nullable=False),
        sa.Column("amount", sa.Text, nullable=False),
        sa.Column("last_price", sa.Text, nullable=False),
    )
    op.create_table(
        "strategy_state",
        sa.Column("run_id", sa.String(64), primary_key=True),
        sa.Column("ts", sa.BigInteger, nullable=False),
        sa.Column("state", sa.Text, nullable=False),  # JSON with tagged Decimal/datetime/Asset
    )
    op.create_table(
        "broker_connections",  # never secrets: those live in the credentials store
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("broker", sa.String(64), nullable=False),
        sa.Column("venue", sa.String(64), nullable=False),
        sa.Column("account", sa.String(64), nullable=False),
        sa.Column("options", sa.Text, nullable=False, server_default="{}"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "alignment_metrics",  # shadow trading (design.md §2.6); filled later
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("ts", sa.BigInteger, nullable=False),
        sa.Column("metric", sa.String(64), nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("details", sa.Text, nullable=False, server_default="{}"),
    )


def downgrade() -> None:
    for table in (
        "alignment_metrics",
        "broker_connections",
        "strategy_state",
        "live_positions",
        "order_audit_log",
        "fills",
        "orders",
        "live_sessions",
    ):
        op.drop_table(table)
