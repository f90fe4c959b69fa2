"""Parquet bundles: verified loads, quarantine of damaged bundles, listing, load-path imports."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rbt.data import bundles
from rbt.data.bundles import (
    Manifest,
    bundle_hash,
    list_bundles,
    load_bundle,
    read_manifest,
)
from rbt.data.home import RbtHome
from rbt.data.ingest import ingest
from rbt.kernel.errors import DataError, DataUnavailableError
from tests.fresh_interpreter import imported_by


@pytest.fixture
def bundle(home, manager, make_csv_dir, tmp_path) -> Manifest:
    """A 4-asset, 30-session CSV bundle called ``b``."""
    directory = make_csv_dir(tmp_path / "csv", 4, 30)
    return ingest(home, "csv", "b", {"path": str(directory)}, manager=manager)


def _version_dir(home: RbtHome, name: str) -> Path:
    return home.bundle(name).resolve()


def _assert_quarantined(home: RbtHome, info: pytest.ExceptionInfo[DataError], file: str) -> None:
    message = str(info.value)
    assert file in message
    quarantined = list((home.bundles / ".quarantine").iterdir())
    assert len(quarantined) == 1
    assert quarantined[0].name.startswith("b-")
    assert str(quarantined[0]) in message
    assert not home.bundle("b").exists()
    assert (quarantined[0] / "manifest.json").exists()  # moved whole, for inspection
    assert [b.status for b in list_bundles(home)] == ["quarantined"]
    with pytest.raises(DataUnavailableError, match=r"no bundle 'b'"):
        load_bundle(home, "b")


def test_load_gives_dense_arrays_with_sessions_and_exact_values(home, bundle):
    bars = load_bundle(home, "b")
    assert bars.shape == (30, 4)
    assert [a.symbol for a in bars.assets] == ["S0000", "S0001", "S0002", "S0003"]
    assert [a.sid for a in bars.assets] == [0, 1, 2, 3]
    assert str(bars.sessions[0]) == "2010-01-04"
    assert np.all(np.diff(bars.ts) > 0)
    assert bars.floats["close"].dtype == np.float64
    assert bars.mantissas["close"].dtype == np.int64
    for field in ("open", "close", "volume"):
        scale = bars.volume_scales if field == "volume" else bars.price_scales
        assert np.array_equal(bars.floats[field], bars.mantissas[field] / 10.0**scale)
    assert bundle_hash(home, "b") == bundle.content_hash


def test_sparse_assets_get_nan_and_zero_where_they_have_no_bar(home, manager, csv_dir):
    rows = ["2024-01-02,1,1,1,1,1", "2024-01-03,2,2,2,2,2", "2024-01-04,3,3,3,3,3"]
    directory = csv_dir(
        {
            "A": ["date,open,high,low,close,volume", *rows],
            "B": ["date,open,high,low,close,volume", rows[1]],
        }
    )
    ingest(home, "csv", "s", {"path": str(directory)}, manager=manager)
    bars = load_bundle(home, "s")
    assert bars.shape == (3, 2)
    assert np.isnan(bars.floats["close"][[0, 2], 1]).all()
    assert bars.mantissas["close"][0, 1] == 0
    assert bars.floats["close"][1, 1] == 2.0
    assert not bars.has_bar(0, 1)
    assert bars.has_bar(1, 1)


@pytest.mark.parametrize("damage", ["flip a byte", "truncate", "delete"])
def test_damaged_parquet_is_quarantined_and_raises(home, bundle, damage):
    target = _version_dir(home, "b") / "bars" / "2010.parquet"
    data = target.read_bytes()
    if damage == "flip a byte":
        target.write_bytes(data[:100] + bytes([data[100] ^ 0xFF]) + data[101:])
    elif damage == "truncate":
        target.write_bytes(data[: len(data) // 2])
    else:
        target.unlink()
    with pytest.raises(DataError) as info:
        load_bundle(home, "b")
    _assert_quarantined(home, info, "bars/2010.parquet")


def test_manifest_hash_mismatch_is_quarantined(home, bundle):
    path = _version_dir(home, "b") / "manifest.json"
    data = json.loads(path.read_text())
    data["files"]["assets.parquet"]["sha256"] = "0" * 64
    path.write_text(json.dumps(data))
    with pytest.raises(DataError, match=r"sha256") as info:
        load_bundle(home, "b")
    _assert_quarantined(home, info, "assets.parquet")


def test_unreadable_parquet_with_matching_hash_is_quarantined(home, bundle):
    # A file that is not Parquet but matches its (rewritten) manifest entry.
    import hashlib

    root = _version_dir(home, "b")
    junk = b"not parquet at all"
    (root / "assets.parquet").write_bytes(junk)
    data = json.loads((root / "manifest.json").read_text())
    data["files"]["assets.parquet"] = {
        "sha256": hashlib.sha256(junk).hexdigest(),
        "size": len(junk),
    }
    (root / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(DataError, match=r"not readable Parquet") as info:
        load_bundle(home, "b")
    _assert_quarantined(home, info, "assets.parquet")


def test_garbled_manifest_is_quarantined(home, bundle):
    (_version_dir(home, "b") / "manifest.json").write_text("{ not json")
    with pytest.raises(DataError) as info:
        load_bundle(home, "b")
    _assert_quarantined(home, info, "manifest.json")


def test_manifest_records_source_range_counts_and_hashes(home, bundle):
    manifest = read_manifest(home, "b")
    assert manifest.schema_version == 1
    assert manifest.name == "b"
    assert manifest.source == "csv"
    assert manifest.source_options["calendar"] == "XNYS"
    assert manifest.frequency == "1d"
    assert manifest.calendar == "XNYS"
    assert (manifest.first_session, manifest.last_session) == ("2010-01-04", "2010-02-16")
    assert manifest.asset_count == 4
    assert manifest.row_count == 120
    assert set(manifest.files) == {"assets.parquet", "bars/2010.parquet"}
    root = _version_dir(home, "b")
    for name, entry in manifest.files.items():
        assert (root / name).stat().st_size == entry["size"]
    assert Manifest.from_json(manifest.to_json()) == manifest


def test_reingest_replaces_atomically_and_keeps_one_version(home, manager, bundle, tmp_path):
    old = _version_dir(home, "b")
    manifest = ingest(home, "csv", "b", {"path": str(tmp_path / "csv")}, manager=manager)
    assert manifest.content_hash == bundle.content_hash  # same input, same bytes
    assert _version_dir(home, "b") != old
    assert not old.exists()
    assert home.bundle("b").is_symlink()
    assert len(list((home.bundles / ".versions" / "b").iterdir())) == 1


def test_list_bundles_reports_each_bundle(home, bundle):
    (info,) = list_bundles(home)
    assert (info.name, info.frequency, info.calendar, info.status) == ("b", "1d", "XNYS", "ok")
    assert (info.first, info.last, info.assets, info.rows) == ("2010-01-04", "2010-02-16", 4, 120)
    assert info.size_bytes > 0
    (_version_dir(home, "b") / "assets.parquet").write_bytes(b"short")
    assert list_bundles(home)[0].status == "damaged"


def test_unknown_bundle_lists_the_known_ones(home, bundle):
    with pytest.raises(DataUnavailableError, match=r"no bundle 'nope'.*bundles: b"):
        load_bundle(home, "nope")


def test_load_path_imports_neither_pandas_nor_sqlalchemy(home, bundle):
    code = (
        "from rbt.data.bundles import load_bundle\n"
        "from rbt.data.home import RbtHome\n"
        f"bars = load_bundle(RbtHome({str(home.root)!r}), 'b')\n"
        "assert bars.shape == (30, 4)\n"
    )
    assert imported_by(code, ["pandas", "sqlalchemy", "alembic", "exchange_calendars"]) == []


def test_leftovers_of_a_crashed_writer_are_removed_on_next_ingest(home, manager, bundle, tmp_path):
    versions = home.bundles / ".versions" / "b"
    (versions / ".tmp-20250101T000000000000Z-dead").mkdir()  # crashed while writing
    (versions / "20250101T000000000000Z-beef").mkdir()  # crashed before publishing
    ingest(home, "csv", "b", {"path": str(tmp_path / "csv")}, manager=manager)
    assert list(versions.iterdir()) == [home.bundle("b").resolve()]
    assert [b.name for b in list_bundles(home)] == ["b"]


def test_small_and_large_files_load_the_same_arrays(home, manager, csv_dir, bundle, monkeypatch):
    header = "date,open,high,low,close,volume"
    rows = ["2024-01-02,1,1,1,1,1", "2024-01-03,2.5,3,2,2.25,2", "2025-01-02,3,3,3,3,3"]
    directory = csv_dir({"A": [header, *rows], "B": [header, rows[1]]})  # sparse, two years
    ingest(home, "csv", "s", {"path": str(directory)}, manager=manager)
    together = {name: load_bundle(home, name) for name in ("b", "s")}
    monkeypatch.setattr(bundles, "_DECODE_AT_ONCE", 0)  # every file decoded column by column
    monkeypatch.setenv("RBT_ARRAY_CACHE", "off")  # decoded again, not mapped
    for name, bars in together.items():
        by_column = load_bundle(home, name)
        assert by_column.floats["close"].flags.owndata
        assert np.array_equal(bars.ts, by_column.ts)
        for field in ("open", "high", "low", "close", "volume"):
            assert np.array_equal(bars.floats[field], by_column.floats[field], equal_nan=True)
            assert np.array_equal(bars.mantissas[field], by_column.mantissas[field])
