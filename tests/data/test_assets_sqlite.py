"""The sqlite3 writer of ingest's asset rows equals the SQLAlchemy one, row for row.

Both write real SQLite files migrated by Alembic; nothing is mocked.
"""

from __future__ import annotations

import sqlite3

import polars as pl
import pytest
from alembic.script import ScriptDirectory

from rbt.data import db
from rbt.data.assets_db import AssetRow, BundleRow, SymbolHistoryRow, lookup_symbol, record_bundle
from rbt.data.assets_sqlite import (
    ASSET_COLUMNS,
    BUNDLE_COLUMNS,
    HISTORY_COLUMNS,
    head_revision,
    is_current,
    record_bundle_sqlite,
)
from rbt.data.bundles import read_manifest
from rbt.data.db import MIGRATIONS, dispose_all, open_database
from rbt.data.home import RbtHome
from rbt.data.ingest import ingest


def _rows(home: RbtHome) -> dict[str, list[tuple[object, ...]]]:
    with sqlite3.connect(home.root / "rbt.sqlite") as connection:
        return {
            table: connection.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall()
            for table in ("bundles", "assets")
        } | {
            "symbol_history": connection.execute(
                "SELECT bundle, symbol, sid, start_date, end_date FROM symbol_history ORDER BY 1, 3"
            ).fetchall()
        }


@pytest.fixture
def ingested(home, manager, csv_dir):
    """A bundle with a sparse asset, a metadata override and an auto-close date."""
    rows = ["2024-01-02,1.5,2,1,1.75,10", "2024-01-03,2,2.5,1.5,2.25,20"]
    directory = csv_dir(
        {
            "AAA": ["date,open,high,low,close,volume", *rows],
            "BBB": ["date,open,high,low,close,volume", rows[1]],
            "metadata": ["symbol,exchange,auto_close_date", "BBB,NYSE,2024-06-28"],
        }
    )
    ingest(home, "csv", "b", {"path": str(directory)}, manager=manager)
    manifest = read_manifest(home, "b")
    assets = pl.read_parquet(home.bundle("b") / "assets.parquet")
    return manifest, assets


def test_head_revision_is_alembics():
    assert head_revision() == ScriptDirectory(str(MIGRATIONS)).get_current_head()


def test_column_lists_match_the_orm_tables():
    assert tuple(c.name for c in BundleRow.__table__.columns) == BUNDLE_COLUMNS
    assert tuple(c.name for c in AssetRow.__table__.columns) == ASSET_COLUMNS
    orm = [c.name for c in SymbolHistoryRow.__table__.columns if c.name != "id"]
    assert tuple(orm) == HISTORY_COLUMNS


def test_both_writers_store_the_same_rows(ingested, tmp_path):
    manifest, assets = ingested
    homes = RbtHome(tmp_path / "orm"), RbtHome(tmp_path / "sqlite3")
    for h in homes:
        open_database(h)  # migrated to head
        record_bundle(h, manifest, assets)  # rows to be replaced
    assert record_bundle_sqlite(homes[1], manifest, assets)
    record_bundle(homes[0], manifest, assets)
    expected, written = _rows(homes[0]), _rows(homes[1])
    assert written == expected
    assert len(written["assets"]) == 2
    assert written["assets"][1][15] == "2024-06-28"  # auto_close_date
    # and the ORM reads them back
    assert lookup_symbol(homes[1], "b", "BBB").exchange == "NYSE"


def test_ingest_into_a_current_database_uses_sqlite3(home, manager, csv_dir, ingested):
    assert is_current(home)
    dispose_all()  # forget cached engines: this ingest must not need one
    ingest(home, "csv", "b", {"path": str(csv_dir({}))}, manager=manager)
    assert not db._engines  # no SQLAlchemy engine was opened
    assert lookup_symbol(home, "b", "AAA").sid == 0
    assert len(_rows(home)["assets"]) == 2


def test_a_pending_migration_or_a_fresh_home_is_left_to_alembic(ingested, home, tmp_path):
    manifest, assets = ingested
    fresh = RbtHome(tmp_path / "fresh")
    assert not is_current(fresh)
    assert not record_bundle_sqlite(fresh, manifest, assets)
    assert not (fresh.root / "rbt.sqlite").exists()
    with sqlite3.connect(home.root / "rbt.sqlite") as connection:
        connection.execute("UPDATE alembic_version SET version_num = '0001_assets'")
    assert not is_current(home)
    assert not record_bundle_sqlite(home, manifest, assets)


def test_other_database_urls_are_left_to_sqlalchemy(monkeypatch, ingested, tmp_path):
    manifest, assets = ingested
    monkeypatch.setenv("RBT_DATABASE_URL", f"sqlite:///{tmp_path / 'other.sqlite'}?timeout=5")
    home = RbtHome(tmp_path / "h")
    assert not is_current(home)
    assert not record_bundle_sqlite(home, manifest, assets)


def test_a_refused_sqlite3_write_rolls_the_bundle_and_rows_back(home, manager, csv_dir, ingested):
    manifest, _ = ingested
    with sqlite3.connect(home.root / "rbt.sqlite") as connection:  # a real refusal, in SQLite
        connection.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON assets "
            "BEGIN SELECT RAISE(ABORT, 'refused by the test trigger'); END"
        )
    directory = csv_dir({"CCC": ["date,open,high,low,close,volume", "2024-01-04,1,1,1,1,1"]})
    with pytest.raises(sqlite3.IntegrityError, match="refused by the test trigger"):
        ingest(home, "csv", "b", {"path": str(directory)}, manager=manager)
    assert read_manifest(home, "b") == manifest  # the previous version is back
    rows = _rows(home)
    assert [r[2] for r in rows["assets"]] == ["AAA", "BBB"]  # rows untouched
    assert len(list((home.bundles / ".versions" / "b").iterdir())) == 1
