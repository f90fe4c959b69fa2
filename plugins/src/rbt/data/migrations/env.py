"""Alembic environment: run migrations on the connection :func:`rbt.data.db.upgrade` passes."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

import rbt.data.assets_db  # registers its tables on Base.metadata
import rbt.runs.registry  # noqa: F401  (the runs table)
from rbt.data.db import Base

config = context.config
connection = config.attributes.get("connection")


def _run(conn: sa.Connection) -> None:
    # Batch mode: SQLite cannot ALTER most things in place; Alembic copies the table.
    context.configure(connection=conn, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


if connection is not None:
    _run(connection)
else:  # the alembic command line, with sqlalchemy.url set in its ini file
    engine = sa.create_engine(config.get_main_option("sqlalchemy.url") or "sqlite://")
    with engine.begin() as conn:
        _run(conn)
