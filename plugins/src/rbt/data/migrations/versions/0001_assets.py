"""Bundles, assets and symbol history.

Revision ID: 0001_assets
Revises:
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_assets"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bundles",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("frequency", sa.String(8), nullable=False),
        sa.Column("calendar", sa.String(40), nullable=False),
        sa.Column("source", sa.String(100), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("manifest_hash", sa.String(64), nullable=False),
        sa.Column("first_session", sa.Date, nullable=False),
        sa.Column("last_session", sa.Date, nullable=False),
        sa.Column("asset_count", sa.Integer, nullable=False),
        sa.Column("row_count", sa.BigInteger, nullable=False),
        sa.Column("ingested_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "assets",
        sa.Column(
            "bundle",
            sa.String(200),
            sa.ForeignKey("bundles.name", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("sid", sa.Integer, primary_key=True),
        sa.Column("symbol", sa.String(64), nullable=False),
        sa.Column("asset_class", sa.String(16), nullable=False),
        sa.Column("exchange", sa.String(64), nullable=False),
        sa.Column("calendar", sa.String(40), nullable=False),
        sa.Column("quote_currency", sa.String(16), nullable=False),
        # Decimals as TEXT: exact, never a float
        sa.Column("tick_size", sa.Text, nullable=False),
        sa.Column("lot_size", sa.Text, nullable=False),
        sa.Column("min_notional", sa.Text, nullable=False),
        sa.Column("multiplier", sa.Text, nullable=False),
        sa.Column("price_scale", sa.Integer, nullable=False),
        sa.Column("volume_scale", sa.Integer, nullable=False),
        sa.Column("start_date", sa.Date, nullable=True),
        sa.Column("end_date", sa.Date, nullable=True),
        sa.Column("auto_close_date", sa.Date, nullable=True),
        sa.Column("note", sa.Text, nullable=False, server_default=""),
    )
    op.create_index("ix_assets_bundle_symbol", "assets", ["bundle", "symbol"])
    op.create_table(
        "symbol_history",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("bundle", sa.String(200), nullable=False),
        sa.Column("symbol", sa.String(64), nullable=False),
        sa.Column("sid", sa.Integer, nullable=False),
        sa.Column("start_date", sa.Date, nullable=False),
        sa.Column("end_date", sa.Date, nullable=False),
        sa.ForeignKeyConstraint(
            ["bundle", "sid"], ["assets.bundle", "assets.sid"], ondelete="CASCADE"
        ),
    )
    op.create_index("ix_symbol_history_bundle_symbol", "symbol_history", ["bundle", "symbol"])


def downgrade() -> None:
    op.drop_index("ix_symbol_history_bundle_symbol", "symbol_history")
    op.drop_table("symbol_history")
    op.drop_index("ix_assets_bundle_symbol", "assets")
    op.drop_table("assets")
    op.drop_table("bundles")
