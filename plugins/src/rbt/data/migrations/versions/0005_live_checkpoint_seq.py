"""Live runs: the client-id sequence at the last checkpoint.

A run restored from its journal (streaming feed, live broker) re-decides the bars after
its last checkpoint; restarting the id sequence there reproduces the same client order
ids, so an order already journaled (and maybe sent) is recognised, never sent twice.

Revision ID: 0005_live_checkpoint_seq
Revises: 0004_live
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_live_checkpoint_seq"
down_revision = "0004_live"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("live_sessions") as batch:
        batch.add_column(sa.Column("checkpoint_seq", sa.Integer, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("live_sessions") as batch:
        batch.drop_column("checkpoint_seq")
