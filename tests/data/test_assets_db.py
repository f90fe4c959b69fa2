"""The asset database: migrations, rows written by ingest, symbol lookup."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import sqlalchemy as sa
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from rbt.data.assets_db import bundle_assets, lookup_symbol
from rbt.data.db import MIGRATIONS, open_database, upgrade
from rbt.data.ingest import ingest
from rbt.kernel.errors import DataUnavailableError
from rbt.kernel.model import AssetClass


def test_fresh_database_upgrades_to_head_with_wal_and_foreign_keys(home):
    engine = open_database(home)
    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    with engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == head
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    tables = set(sa.inspect(engine).get_table_names())
    assert {"bundles", "assets", "symbol_history", "alembic_version"} <= tables
    upgrade(engine)  # idempotent
    assert (home.root / "rbt.sqlite").exists()


def test_ingest_writes_assets_with_decimals_as_text(home, manager, csv_dir):
    directory = csv_dir(
        {
            "ETH-USD": [
                "date,open,high,low,close,volume",
                "2024-01-02,2300.5,2310.25,2290,2305.125,12.5",
            ]
        }
    )
    ingest(
        home,
        "csv",
        "c",
        {
            "path": str(directory),
            "calendar": "always_open",
            "asset_class": "crypto",
            "lot_size": "0.0001",
            "quote_currency": "USDT",
        },
        manager=manager,
    )
    with open_database(home).connect() as conn:
        row = conn.execute(
            sa.text(
                "SELECT tick_size, lot_size, typeof(tick_size), price_scale, "
                "volume_scale FROM assets WHERE bundle='c'"
            )
        ).one()
    assert tuple(row) == ("0.001", "0.0001", "text", 3, 1)
    (asset,) = bundle_assets(home, "c")
    assert asset.asset_class is AssetClass.CRYPTO
    assert asset.quote_currency == "USDT"
    assert asset.lot_size == Decimal("0.0001")
    assert asset.fractional


def test_lookup_symbol_by_date_and_close_matches(home, manager, csv_dir):
    rows = ["date,open,high,low,close,volume", "2024-01-02,1,1,1,1,1", "2024-01-03,1,1,1,1,1"]
    directory = csv_dir({"AAPL": rows, "MSFT": rows[:2], "GOOG": rows})
    ingest(home, "csv", "eq", {"path": str(directory)}, manager=manager)
    asset = lookup_symbol(home, "eq", "MSFT")
    assert (asset.sid, asset.start_date, asset.end_date) == (
        2,
        dt.date(2024, 1, 2),
        dt.date(2024, 1, 2),
    )
    assert lookup_symbol(home, "eq", "AAPL", as_of=dt.date(2024, 1, 3)).sid == 0
    with pytest.raises(DataUnavailableError, match=r"not listed on 2024-01-03.*2024-01-02"):
        lookup_symbol(home, "eq", "MSFT", as_of=dt.date(2024, 1, 3))
    with pytest.raises(DataUnavailableError, match=r"unknown symbol 'APPL'.*did you mean AAPL"):
        lookup_symbol(home, "eq", "APPL")
    with pytest.raises(DataUnavailableError, match=r"unknown bundle 'nope'.*bundles: eq"):
        lookup_symbol(home, "nope", "AAPL")


def test_reingest_replaces_rows_in_one_go(home, manager, csv_dir):
    rows = ["date,open,high,low,close,volume", "2024-01-02,1,1,1,1,1"]
    directory = csv_dir({"A": rows, "B": rows})
    ingest(home, "csv", "r", {"path": str(directory)}, manager=manager)
    (directory / "A.csv").unlink()
    ingest(home, "csv", "r", {"path": str(directory)}, manager=manager)
    assert [(a.sid, a.symbol) for a in bundle_assets(home, "r")] == [(0, "B")]
    with open_database(home).connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM symbol_history")).scalar() == 1
