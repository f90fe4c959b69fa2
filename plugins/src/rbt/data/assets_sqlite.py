"""Recording an ingested bundle in an up-to-date SQLite asset database, without SQLAlchemy.

Importing SQLAlchemy and Alembic and checking the migrations costs about 0.4 s of CPU
(and 0.1 s more at interpreter exit) — more than parsing a million CSV rows. When the
database is the default SQLite file, already exists and is at the newest migration,
``rbt ingest`` writes its rows with the standard :mod:`sqlite3` module instead: the same
rows, with the values SQLAlchemy would store (``tests/data/test_assets_sqlite.py``
compares the two writers row by row, and checks the column lists against the ORM tables).

Anything else — a fresh home, a pending migration, ``RBT_DATABASE_URL`` pointing at
another database — goes through :func:`rbt.data.assets_db.record_bundle`, which
migrates first.

.. versionadded:: 0.1
"""

from __future__ import annotations

import ast
import datetime as dt
import functools
import hashlib
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rbt.data.home import RbtHome

if TYPE_CHECKING:
    import polars as pl

    from rbt.data.bundles import Manifest

__all__ = [
    "ASSET_COLUMNS",
    "BUNDLE_COLUMNS",
    "HISTORY_COLUMNS",
    "head_revision",
    "is_current",
    "record_bundle_sqlite",
]

_VERSIONS = Path(__file__).with_name("migrations") / "versions"
#: Columns written, in the tables of migration ``0001_assets`` (as ``assets_db`` maps them).
BUNDLE_COLUMNS = (
    "name",
    "frequency",
    "calendar",
    "source",
    "content_hash",
    "manifest_hash",
    "first_session",
    "last_session",
    "asset_count",
    "row_count",
    "ingested_at",
)
ASSET_COLUMNS = (
    "bundle",
    "sid",
    "symbol",
    "asset_class",
    "exchange",
    "calendar",
    "quote_currency",
    "tick_size",
    "lot_size",
    "min_notional",
    "multiplier",
    "price_scale",
    "volume_scale",
    "start_date",
    "end_date",
    "auto_close_date",
    "note",
)
HISTORY_COLUMNS = ("bundle", "symbol", "sid", "start_date", "end_date")


@functools.cache
def head_revision() -> str | None:
    """The newest migration of ``rbt/data/migrations`` (None unless there is exactly one head).

    Read from the revision files' ``revision`` / ``down_revision`` assignments, as Alembic
    does, without importing it.
    """
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in _VERSIONS.glob("*.py"):
        if path.name.startswith("_"):  # __init__.py
            continue
        found: dict[str, Any] = {}
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (OSError, SyntaxError, ValueError):
            return None
        for node in tree.body:
            if isinstance(node, ast.Assign) and len(node.targets) == 1:
                target = node.targets[0]
                if isinstance(target, ast.Name) and target.id in ("revision", "down_revision"):
                    try:
                        found[target.id] = ast.literal_eval(node.value)
                    except ValueError:
                        return None
        if not isinstance(found.get("revision"), str):
            return None
        revisions.add(found["revision"])
        down = found.get("down_revision")
        parents.update([down] if isinstance(down, str) else list(down or ()))
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def _sqlite_file(home: RbtHome) -> Path | None:
    url = home.database_url
    prefix = "sqlite:///"
    if not url.startswith(prefix) or "?" in url or url == prefix or url.endswith(":memory:"):
        return None
    return Path(url[len(prefix) :])


def _connect(path: Path) -> sqlite3.Connection:
    # The settings rbt.data.db gives every SQLite connection.
    connection = sqlite3.connect(path, timeout=10.0, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA foreign_keys=ON")
    connection.execute("PRAGMA busy_timeout=10000")
    return connection


def _version(connection: sqlite3.Connection) -> str | None:
    try:
        rows = connection.execute("SELECT version_num FROM alembic_version").fetchall()
    except sqlite3.DatabaseError:
        return None
    return str(rows[0][0]) if len(rows) == 1 else None


def is_current(home: RbtHome) -> bool:
    """Whether ``home``'s database is an existing SQLite file at the newest migration."""
    path = _sqlite_file(home)
    head = head_revision()
    if path is None or head is None or not path.is_file():
        return False
    try:
        connection = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=10.0)
    except sqlite3.Error:
        return False
    try:
        return _version(connection) == head
    finally:
        connection.close()


def _date(value: Any) -> str | None:
    # SQLAlchemy's SQLite Date type stores ISO text
    return value.isoformat() if isinstance(value, dt.date) else None


def _datetime(value: dt.datetime) -> str:
    # SQLAlchemy's SQLite DateTime type: fixed-width text, microseconds, no zone
    return f"{value:%Y-%m-%d %H:%M:%S}.{value.microsecond:06d}"


def _insert(table: str, columns: Sequence[str]) -> str:
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"


def record_bundle_sqlite(home: RbtHome, manifest: Manifest, assets: pl.DataFrame) -> bool:
    """Replace the rows of ``manifest.name`` with this bundle's, in one transaction.

    The same rows as :func:`rbt.data.assets_db.record_bundle`.

    :return: False (nothing written) when the database is not an existing SQLite file at
        the newest migration; the caller then uses ``record_bundle``.
    :raises sqlite3.Error: when the database refuses the write (rolled back).
    """
    path = _sqlite_file(home)
    head = head_revision()
    if path is None or head is None or not path.is_file():
        return False
    name = manifest.name
    bundle_row = (
        name,
        manifest.frequency,
        manifest.calendar,
        manifest.source,
        manifest.content_hash,
        hashlib.sha256(manifest.to_json().encode()).hexdigest(),
        _date(dt.date.fromisoformat(manifest.first_session)),
        _date(dt.date.fromisoformat(manifest.last_session)),
        manifest.asset_count,
        manifest.row_count,
        _datetime(dt.datetime.fromisoformat(manifest.created_at)),
    )
    # rows as tuples, read by position (no dict per row)
    at = {c: i for i, c in enumerate(assets.columns)}
    rows = assets.rows()
    asset_rows = [
        tuple(
            name if c == "bundle" else _date(r[at[c]]) if c.endswith("_date") else r[at[c]]
            for c in ASSET_COLUMNS
        )
        for r in rows
    ]
    symbol, sid, start, end = (at[c] for c in ("symbol", "sid", "start_date", "end_date"))
    history_rows = [(name, r[symbol], r[sid], _date(r[start]), _date(r[end])) for r in rows]
    connection = _connect(path)
    try:
        connection.execute("BEGIN IMMEDIATE")  # the writer lock, before the version is read
        if _version(connection) != head:
            connection.execute("ROLLBACK")
            return False
        try:
            # children first, as record_bundle does
            connection.execute("DELETE FROM symbol_history WHERE bundle = ?", (name,))
            connection.execute("DELETE FROM assets WHERE bundle = ?", (name,))
            connection.execute("DELETE FROM bundles WHERE name = ?", (name,))
            connection.execute(_insert("bundles", BUNDLE_COLUMNS), bundle_row)
            connection.executemany(_insert("assets", ASSET_COLUMNS), asset_rows)
            connection.executemany(_insert("symbol_history", HISTORY_COLUMNS), history_rows)
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise
    finally:
        connection.close()
    return True
