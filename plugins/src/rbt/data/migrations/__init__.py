"""Alembic migrations of ``rbt.sqlite``: one history for every table (see :mod:`rbt.data.db`)."""
