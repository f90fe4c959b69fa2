"""The one database of an RBT home (``rbt.sqlite`` by default), and its migrations.

Every table of every plugin lives in one Alembic migration history shipped in
:mod:`rbt.data.migrations` (design.md §2.1a.7); :func:`open_database` upgrades
it to ``head`` before handing out an engine. The URL comes from
:attr:`RbtHome.database_url <rbt.data.home.RbtHome.database_url>`: a SQLite
file by default (WAL journal, foreign keys on), any SQLAlchemy URL through
``RBT_DATABASE_URL``.

Imports SQLAlchemy and Alembic: keep it off the bundle load path.

.. versionadded:: 0.1
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase

from rbt.data.home import RbtHome

__all__ = ["MIGRATIONS", "Base", "database_url", "open_database", "upgrade"]

#: Directory of the Alembic environment and its ``versions/``.
MIGRATIONS = Path(__file__).with_name("migrations")

_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base of every ORM table in ``rbt.sqlite`` (stable constraint names)."""

    metadata = sa.MetaData(naming_convention=_CONVENTION)


_engines: dict[str, Engine] = {}
_lock = threading.Lock()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers do not block the writer
    cursor.execute("PRAGMA foreign_keys=ON")  # SQLite leaves them off by default
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def database_url(target: RbtHome | str) -> str:
    """The SQLAlchemy URL of ``target`` (a home, or a URL as given with ``--db``).

    ``postgresql://`` and ``postgres://`` URLs get the psycopg (3) driver.
    """
    url = target.database_url if isinstance(target, RbtHome) else str(target)
    for scheme in ("postgresql://", "postgres://"):
        if url.startswith(scheme):
            return "postgresql+psycopg://" + url[len(scheme) :]
    return url


def open_database(home: RbtHome | str) -> Engine:
    """An engine on ``home``'s database (or on the database URL given), migrated to the
    newest schema: a SQLite file by default (WAL journal; the live journal's connections
    add ``synchronous=FULL``), PostgreSQL (``postgresql://...``) or any SQLAlchemy URL.

    Engines are cached per URL for the life of the process.
    """
    url = database_url(home)
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            sa_url = sa.make_url(url)
            sqlite = sa_url.get_backend_name() == "sqlite"
            if sqlite and sa_url.database not in (None, "", ":memory:"):
                Path(sa_url.database).parent.mkdir(parents=True, exist_ok=True)
            engine = sa.create_engine(url, pool_pre_ping=not sqlite)
            if sqlite:
                sa.event.listen(engine, "connect", _sqlite_pragmas)
            upgrade(engine)
            _engines[url] = engine
        return engine


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Run the Alembic migrations on ``engine`` up to ``revision``."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def dispose_all() -> None:
    """Close every cached engine (tests, and processes that fork)."""
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()
