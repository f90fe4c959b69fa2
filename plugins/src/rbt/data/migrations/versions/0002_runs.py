"""Run registry: one row per backtest run (rbt.runs).

Revision ID: 0002_runs
Revises: 0001_assets
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_runs"
down_revision = "0001_assets"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("id", sa.String(64), primary_key=True),  # the run id (a content hash)
        sa.Column("strategy", sa.Text, nullable=False),  # file path or module:qualname
        sa.Column("strategy_hash", sa.String(64), nullable=False),
        sa.Column("params", sa.Text, nullable=False),  # JSON
        sa.Column("bundle", sa.String(200), nullable=False),
        sa.Column("bundle_hash", sa.String(64), nullable=False),
        sa.Column("start", sa.Date, nullable=False),
        sa.Column("end", sa.Date, nullable=False),
        sa.Column("capital_base", sa.Text, nullable=False),  # exact Decimal text
        sa.Column("final_value", sa.Text, nullable=False),
        sa.Column("benchmark", sa.Text, nullable=True),
        sa.Column("metrics", sa.Text, nullable=False),  # JSON
        sa.Column("manifest", sa.Text, nullable=False),  # JSON: the results' manifest
        sa.Column("versions", sa.Text, nullable=False),  # JSON
        sa.Column("results_path", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("run_count", sa.Integer, nullable=False, server_default="1"),
    )
    op.create_index("ix_runs_updated_at", "runs", ["updated_at"])


def downgrade() -> None:
    op.drop_index("ix_runs_updated_at", "runs")
    op.drop_table("runs")
