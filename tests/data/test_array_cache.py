"""A bundle's decoded arrays, cached in $RBT_HOME/cache: later loads map them, checked.

Real bundles written by a real ingest, real cache files damaged on disk; nothing mocked.
"""

from __future__ import annotations

import json
import logging
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from rbt.data.array_cache import MAGIC, CachedArrays, cache_path, read_arrays, write_arrays
from rbt.data.bars import OHLCV, BarArrays
from rbt.data.bundles import load_bundle, read_manifest
from rbt.data.home import RbtHome
from rbt.data.ingest import ingest
from rbt.kernel.errors import DataError


def _cache_file(home: RbtHome, name: str) -> Path:
    manifest = read_manifest(home, name)
    return cache_path(home.cache, name, manifest.content_hash)


def _assert_same_bars(a: BarArrays, b: BarArrays) -> None:
    assert np.array_equal(a.ts, b.ts)
    assert np.array_equal(a.sessions, b.sessions)
    assert a.sessions.dtype == b.sessions.dtype == np.dtype("datetime64[D]")
    assert a.assets == b.assets
    for field in OHLCV:
        assert np.array_equal(a.floats[field], b.floats[field], equal_nan=True)
        assert np.array_equal(a.mantissas[field], b.mantissas[field])


@pytest.fixture
def bundle(home, manager, make_csv_dir, tmp_path) -> str:
    """A 4-asset, 30-session CSV bundle called ``b``, loaded once (its cache written)."""
    ingest(home, "csv", "b", {"path": str(make_csv_dir(tmp_path / "csv", 4, 30))}, manager=manager)
    assert not _cache_file(home, "b").exists()  # ingest writes no cache: the first load does
    load_bundle(home, "b")
    return "b"


def _decoded(home: RbtHome, name: str) -> BarArrays:
    """``name`` loaded from its Parquet files (the cache moved away and back)."""
    path = _cache_file(home, name)
    aside = path.with_name("aside")
    path.rename(aside)
    try:
        return load_bundle(home, name)
    finally:
        aside.replace(path)


def test_a_later_load_maps_the_cache_and_gives_the_decoded_arrays(home, bundle):
    path = _cache_file(home, "b")
    assert path.read_bytes().startswith(MAGIC)
    cached = load_bundle(home, "b")
    decoded = _decoded(home, "b")
    assert decoded.floats["close"].flags.owndata  # allocated and filled by the decoder
    assert not cached.floats["close"].flags.owndata  # a view of the mapped file
    _assert_same_bars(cached, decoded)


def test_writing_a_mapped_array_changes_the_process_copy_not_the_file(home, bundle):
    before = _cache_file(home, "b").read_bytes()
    bars = load_bundle(home, "b")
    bars.floats["close"][0, 0] = -1.0  # arrays stay writable, as decoded ones are
    assert _cache_file(home, "b").read_bytes() == before
    assert load_bundle(home, "b").floats["close"][0, 0] != -1.0


def test_huge_mantissas_are_cached_with_the_floats(home, manager, csv_dir):
    big = "123456789012345678"  # beyond float64: load_bundle stores this field's mantissas
    rows = [f"2024-01-02,1,1,1,1,{big}", "2024-01-03,2.5,2.5,2,2,7", "2024-01-04,3,3,3,3,9"]
    header = "date,open,high,low,close,volume"
    directory = csv_dir({"A": [header, *rows], "B": [header, rows[2]]})  # B: sparse
    ingest(home, "csv", "h", {"path": str(directory)}, manager=manager)
    decoded = load_bundle(home, "h")
    cached = load_bundle(home, "h")
    assert cached.mantissas.stored_fields == ("volume",)  # type: ignore[attr-defined]
    assert cached.exact("volume", 0, 0) == Decimal(big)
    assert np.isnan(cached.floats["close"][0, 1])
    _assert_same_bars(cached, decoded)


def _flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    "damage",
    ["flip a byte of an array", "truncate", "garble the header", "another layout", "empty"],
)
def test_a_damaged_cache_is_ignored_logged_and_replaced(home, bundle, damage, caplog):
    path = _cache_file(home, "b")
    good = path.read_bytes()
    if damage == "flip a byte of an array":
        _flip(path, len(good) - 9)  # inside the last array
    elif damage == "truncate":
        path.write_bytes(good[: len(good) // 2])
    elif damage == "garble the header":
        path.write_bytes(good[: len(MAGIC) + 8] + b"{not json" + good[len(MAGIC) + 17 :])
    elif damage == "another layout":
        path.write_bytes(b"RBTARRAYS0\n" + good[len(MAGIC) :])
    else:
        path.write_bytes(b"")
    with caplog.at_level(logging.WARNING, logger="rbt.data.array_cache"):
        bars = load_bundle(home, "b")
    assert [r.getMessage() for r in caplog.records if str(path) in r.getMessage()]
    _assert_same_bars(bars, _decoded(home, "b"))
    assert path.read_bytes() == good  # written again, the same bytes
    assert not list(path.parent.glob(".*.tmp"))


def test_a_cache_of_other_content_is_not_used(home, bundle, tmp_path):
    path = _cache_file(home, "b")
    manifest = read_manifest(home, "b")
    assert read_arrays(path, manifest.content_hash, manifest.asset_count) is not None
    assert read_arrays(path, "0" * 64, manifest.asset_count) is None
    assert read_arrays(path, manifest.content_hash, manifest.asset_count + 1) is None
    assert read_arrays(tmp_path / "nothing.arrays", manifest.content_hash, 4) is None


def test_bar_files_are_still_checked_when_the_cache_is_used(home, bundle):
    target = home.bundle("b").resolve() / "bars" / "2010.parquet"
    _flip(target, 100)
    with pytest.raises(DataError, match=r"bars/2010.parquet has sha256"):
        load_bundle(home, "b")
    assert not home.bundle("b").exists()  # quarantined, as without a cache


def test_new_content_replaces_the_old_cache_and_other_bundles_keep_theirs(
    home, manager, make_csv_dir, tmp_path
):
    for name in ("a", "a-b"):  # one name is the other's prefix up to a "-"
        directory = make_csv_dir(tmp_path / name, 2, 10)
        ingest(home, "csv", name, {"path": str(directory)}, manager=manager)
        load_bundle(home, name)
    first = _cache_file(home, "a")
    ingest(home, "csv", "a", {"path": str(make_csv_dir(tmp_path / "c", 3, 12))}, manager=manager)
    bars = load_bundle(home, "a")
    assert bars.shape == (12, 3)
    assert not first.exists()
    assert sorted(p.name.rpartition("-")[0] for p in first.parent.glob("*.arrays")) == ["a", "a-b"]
    assert load_bundle(home, "a").shape == (12, 3)  # from the new cache


def test_an_unwritable_cache_leaves_the_load_alone(home, manager, make_csv_dir, tmp_path, caplog):
    home.cache.mkdir(parents=True)
    (home.cache / "bundles").write_text("a file where the cache directory would go")
    ingest(home, "csv", "b", {"path": str(make_csv_dir(tmp_path / "csv", 2, 10))}, manager=manager)
    with caplog.at_level(logging.INFO, logger="rbt.data.array_cache"):
        first = load_bundle(home, "b")
    assert "not cached" in caplog.text
    _assert_same_bars(first, load_bundle(home, "b"))
    assert (home.cache / "bundles").is_file()


_shapes = st.tuples(st.integers(1, 7), st.integers(1, 5))


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data(), shape=_shapes, stored=st.sets(st.sampled_from(OHLCV)))
def test_written_arrays_read_back_equal(tmp_path, data, shape, stored):
    rows, columns = shape
    floats = {
        f: data.draw(hnp.arrays(np.float64, shape, elements=st.floats(allow_infinity=False)))
        for f in OHLCV
    }
    big = st.integers(-(2**63), 2**63 - 1)
    mantissas = {f: data.draw(hnp.arrays(np.int64, shape, elements=big)) for f in sorted(stored)}
    ts = np.arange(rows, dtype=np.int64) * 7 + data.draw(st.integers(0, 2**40))
    days = (np.arange(rows) + 14_000).astype("datetime64[D]")
    path = tmp_path / "bundles" / f"x-{'ab' * 16}.arrays"
    write_arrays(path, "ab" * 32, CachedArrays(ts, days, floats, mantissas))
    back = read_arrays(path, "ab" * 32, columns)
    assert back is not None
    assert np.array_equal(back.ts, ts)
    assert np.array_equal(back.sessions, days)
    for f in OHLCV:
        assert np.array_equal(back.floats[f], floats[f], equal_nan=True)
    assert set(back.stored) == stored
    for f in stored:
        assert np.array_equal(back.stored[f], mantissas[f])
    raw = path.read_bytes()
    length = int.from_bytes(raw[len(MAGIC) : len(MAGIC) + 8], "little")
    header = json.loads(raw[len(MAGIC) + 8 : len(MAGIC) + 8 + length])
    assert all(entry["offset"] % 64 == 0 for entry in header["arrays"])
