"""Parameter sweeps and their trials (rbt.research): checkpoints for resumable sweeps.

Revision ID: 0003_sweeps
Revises: 0002_runs
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_sweeps"
down_revision = "0002_runs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sweeps",
        sa.Column("id", sa.String(64), primary_key=True),  # hash of the sweep's configuration
        sa.Column("strategy", sa.Text, nullable=False),
        sa.Column("search", sa.String(64), nullable=False),
        sa.Column("objective", sa.Text, nullable=False),
        sa.Column("config", sa.Text, nullable=False),  # JSON
        sa.Column("status", sa.String(16), nullable=False),  # running / finished
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "trials",
        sa.Column("id", sa.String(64), primary_key=True),  # hash of (sweep id, params)
        sa.Column(
            "sweep_id",
            sa.String(64),
            sa.ForeignKey("sweeps.id", ondelete="CASCADE", name="fk_trials_sweep_id_sweeps"),
            nullable=False,
        ),
        sa.Column("number", sa.Integer, nullable=False),  # order of first request
        sa.Column("params", sa.Text, nullable=False),  # JSON
        sa.Column("status", sa.String(16), nullable=False),  # ok / failed
        sa.Column("value", sa.Float, nullable=True),  # the objective
        sa.Column("metrics", sa.Text, nullable=False),  # JSON
        sa.Column("run_id", sa.String(64), nullable=True),
        sa.Column("error", sa.Text, nullable=True),  # traceback of a failed trial
        sa.Column("attempts", sa.Integer, nullable=False, server_default="1"),
        sa.Column("duration", sa.Float, nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_trials_sweep_id", "trials", ["sweep_id"])


def downgrade() -> None:
    op.drop_index("ix_trials_sweep_id", "trials")
    op.drop_table("trials")
    op.drop_table("sweeps")
