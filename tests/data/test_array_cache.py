"""A bundle's decoded arrays, cached in $RBT_HOME/cache: later loads map them, checked.

Real bundles written by a real ingest, real cache files damaged on disk; nothing mocked.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
import zlib
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from rbt.data import array_cache, bundles
from rbt.data.array_cache import MAGIC, CachedArrays, read_arrays, write_arrays
from rbt.data.bars import OHLCV, BarArrays, content_digest
from rbt.data.bundles import array_cache_file, load_bundle, read_manifest
from rbt.data.home import RbtHome
from rbt.data.ingest import ingest
from rbt.kernel.errors import DataError


def _cache_file(home: RbtHome, name: str) -> Path:
    return array_cache_file(home, name)


def _where(raw: bytes) -> tuple[int, int]:
    at = len(MAGIC)
    return int.from_bytes(raw[at : at + 8], "little"), int.from_bytes(
        raw[at + 8 : at + 16], "little"
    )


def _header(path: Path) -> dict:
    raw = path.read_bytes()
    where, length = _where(raw)
    return json.loads(raw[where : where + length])


def _rewrite_header(path: Path, change) -> None:
    """Rewrite the header (the file's end) through ``change(dict)``, with a valid CRC-32 of
    the new text: damage a checksum cannot see."""
    raw = path.read_bytes()
    where, length = _where(raw)
    header = json.loads(raw[where : where + length])
    change(header)
    text = json.dumps(header, sort_keys=True).encode()
    crc = zlib.crc32(text).to_bytes(4, "little")
    prefix = MAGIC + where.to_bytes(8, "little") + len(text).to_bytes(8, "little") + crc
    path.write_bytes(prefix + raw[len(prefix) : where] + text)


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
    """``name`` decoded from its Parquet files, the cache neither read nor written."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RBT_ARRAY_CACHE", "off")
        return load_bundle(home, name)


def test_a_later_load_maps_the_cache_and_gives_the_decoded_arrays(home, bundle):
    path = _cache_file(home, "b")
    assert path.read_bytes().startswith(MAGIC)
    cached = load_bundle(home, "b")
    decoded = _decoded(home, "b")
    assert decoded.floats["close"].flags.owndata  # allocated and filled by the decoder
    assert not cached.floats["close"].flags.owndata  # a view of the mapped file
    _assert_same_bars(cached, decoded)


def test_the_checksums_are_the_standard_crc32_of_each_array_and_the_header(home, bundle):
    # written with zlib-ng (faster), the same CRC-32 the standard library computes: a cache
    # file stays readable by either
    path = _cache_file(home, "b")
    raw = path.read_bytes()
    where, length = _where(raw)
    at = array_cache._PREFIX - array_cache._CRC_BYTES  # after the header's offset and length
    assert zlib.crc32(raw[where : where + length]) == int.from_bytes(raw[at : at + 4], "little")
    arrays = _header(path)["arrays"]
    assert len(arrays) >= 7  # the timeline, its sessions, five fields' floats, ...
    for entry in arrays:
        start = entry["offset"]
        data = raw[start : start + 8 * int(np.prod(entry["shape"]))]
        assert zlib.crc32(data) == entry["crc32"]


def test_the_first_load_decodes_into_the_cache_file_and_maps_it(home, manager, csv_dir):
    header = "date,open,high,low,close,volume"
    rows = ["2024-01-02,1,1,1,1,1", "2024-01-03,2.5,3,2,2.25,2", "2025-01-02,3,3,3,3,3"]
    ingest(home, "csv", "s", {"path": str(csv_dir({"A": [header, *rows]}))}, manager=manager)
    first = load_bundle(home, "s")
    assert not first.floats["close"].flags.owndata  # a view of the published file
    assert _cache_file(home, "s").exists()
    assert [p.name for p in _cache_file(home, "s").parent.iterdir()] == [
        _cache_file(home, "s").name
    ]  # no temporary file left
    before = _cache_file(home, "s").read_bytes()
    first.floats["close"][0, 0] = -1.0
    assert _cache_file(home, "s").read_bytes() == before  # copy-on-write, as later loads
    _assert_same_bars(load_bundle(home, "s"), _decoded(home, "s"))


def test_a_bundle_failing_midway_through_decoding_leaves_no_cache_file(home, bundle, monkeypatch):
    # a bar file without its volume column, its manifest entry (and content hash) made to
    # match: the timeline is read, the file's arrays are allocated, then the decode fails
    import polars as pl

    root = home.bundle("b").resolve()
    _cache_file(home, "b").unlink()
    target = root / "bars" / "2010.parquet"
    pl.read_parquet(target).drop("volume").write_parquet(target)
    manifest = json.loads((root / "manifest.json").read_text())
    data = target.read_bytes()
    manifest["files"]["bars/2010.parquet"] = {
        "sha256": hashlib.sha256(data).hexdigest(),
        "size": len(data),
    }
    manifest["content_hash"] = bundles._content_hash(manifest["files"])
    (root / "manifest.json").write_text(json.dumps(manifest))
    folder = _cache_file(home, "b").parent
    made = []

    def recording(*args):  # the real file, recorded: the failure comes after it was made
        made.append(array_cache.new_array_file(*args))
        return made[-1]

    monkeypatch.setattr(bundles, "new_array_file", recording)
    with pytest.raises(DataError, match=r"bars/2010.parquet is not readable Parquet"):
        load_bundle(home, "b")
    assert len(made) == 1
    assert made[0] is not None
    assert list(folder.iterdir()) == []


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
    first, cached = load_bundle(home, "h"), load_bundle(home, "h")  # written, then mapped
    names = [entry["name"] for entry in _header(_cache_file(home, "h"))["arrays"]]
    assert "stored/volume" in names
    assert "kept/close" in names  # derivable, kept: every run reads them whole
    decoded = _decoded(home, "h")
    for bars in (first, cached):
        assert not bars.floats["close"].flags.owndata  # both from the file
        assert not bars.mantissas["close"].flags.owndata
        assert bars.mantissas.stored_fields == ("volume",)  # type: ignore[attr-defined]
        assert content_digest(bars) == content_digest(decoded)  # kept: not content
        assert bars.exact("volume", 0, 0) == Decimal(big)
        assert np.isnan(bars.floats["close"][0, 1])
        _assert_same_bars(bars, _decoded(home, "h"))


def _flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    "damage",
    [
        "flip a byte of an array",
        "truncate",
        "flip a byte of the header",
        "big-endian floats",
        "a field renamed",
        "a negative row count",
        "two arrays overlapping",
        "an array past the end",
        "another layout",
        "empty",
    ],
)
def test_a_damaged_cache_is_ignored_logged_and_replaced(home, bundle, damage, caplog):
    path = _cache_file(home, "b")
    good = path.read_bytes()
    if damage == "flip a byte of an array":
        close = next(e for e in _header(path)["arrays"] if e["name"] == "floats/close")
        _flip(path, close["offset"] + 5)  # inside the first close
    elif damage == "truncate":
        path.write_bytes(good[: len(good) // 2])
    elif damage == "flip a byte of the header":
        _flip(path, _where(good)[0] + 20)
    elif damage == "big-endian floats":  # the header's own CRC-32 made right again
        _rewrite_header(path, lambda h: h["arrays"][2].update(dtype=">f8"))
    elif damage == "a field renamed":
        _rewrite_header(path, lambda h: h["arrays"][2].update(name="floats/clos"))
    elif damage == "a negative row count":
        _rewrite_header(path, lambda h: h.update(rows=-1))
    elif damage == "two arrays overlapping":
        _rewrite_header(path, lambda h: h["arrays"][3].update(offset=h["arrays"][2]["offset"]))
    elif damage == "an array past the end":
        _rewrite_header(path, lambda h: h["arrays"][-1].update(offset=10**9))
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


def test_a_cache_for_another_identity_or_fields_is_not_used(home, bundle, tmp_path):
    path = _cache_file(home, "b")
    identity = _header(path)["identity"]
    assert read_manifest(home, "b").content_hash in identity
    assert read_arrays(path, identity, OHLCV) is not None
    older = identity.replace("decoded by ", "decoded by an older ")
    assert read_arrays(path, older, OHLCV) is None  # another decoder
    assert read_arrays(path, identity, (*OHLCV, "vwap")) is None  # a field it lacks
    assert read_arrays(tmp_path / "nothing.arrays", identity, OHLCV) is None


def test_a_manifest_whose_content_hash_is_not_its_files_is_quarantined(home, bundle):
    # the cache is keyed on the content hash: files changed under an unchanged hash would
    # otherwise be verified and then not used
    root = home.bundle("b").resolve()
    data = json.loads((root / "manifest.json").read_text())
    data["content_hash"] = "0" * 64
    (root / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(DataError, match=r"content_hash does not match its files"):
        load_bundle(home, "b")
    assert not home.bundle("b").exists()


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("flip a bar file's byte", r"bars/2010.parquet has sha256"),
        ("truncate a bar file", r"bars/2010.parquet has \d+ bytes"),
        ("delete a bar file", r"bars/2010.parquet is missing"),
        ("flip an assets byte", r"assets.parquet has sha256"),
    ],
)
def test_the_bundle_files_are_still_checked_when_the_cache_is_used(home, bundle, damage, message):
    root = home.bundle("b").resolve()
    target = root / ("assets.parquet" if "assets" in damage else "bars/2010.parquet")
    if damage.startswith("flip"):
        _flip(target, 100)
    elif damage.startswith("truncate"):
        target.write_bytes(target.read_bytes()[:50])
    else:
        target.unlink()
    assert _cache_file(home, "b").exists()
    with pytest.raises(DataError, match=message):
        load_bundle(home, "b")
    assert not home.bundle("b").exists()  # quarantined, as without a cache


def test_writing_empty_arrays_leaves_a_readable_file_and_no_temporary_one(tmp_path):
    floats = {f: np.zeros((0, 3)) for f in OHLCV}
    empty = CachedArrays(np.zeros(0, np.int64), np.zeros(0, "datetime64[D]"), floats, {})
    path = tmp_path / "bundles" / "e-0.arrays"
    write_arrays(path, "id", empty)
    back = read_arrays(path, "id", OHLCV)
    assert back is not None
    assert back.columns == 3
    assert back.floats["close"].shape == (0, 3)
    assert [p.name for p in path.parent.iterdir()] == [path.name]


def test_a_crashed_writers_old_temporary_file_is_removed_by_the_next_writer(home, bundle):
    folder = _cache_file(home, "b").parent
    old, fresh = folder / ".b-x.arrays.dead.tmp", folder / ".b-x.arrays.busy.tmp"
    for path in (old, fresh):
        path.write_bytes(b"half")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    _cache_file(home, "b").unlink()
    load_bundle(home, "b")  # writes the cache again
    assert not old.exists()
    assert fresh.exists()  # perhaps another process's, still writing


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
@given(
    data=st.data(),
    shape=_shapes,
    stored=st.sets(st.sampled_from(OHLCV)),
    kept=st.sets(st.sampled_from(OHLCV)),
)
def test_written_arrays_read_back_equal(tmp_path, data, shape, stored, kept):
    rows, columns = shape
    floats = {
        f: data.draw(hnp.arrays(np.float64, shape, elements=st.floats(allow_infinity=False)))
        for f in OHLCV
    }
    big = st.integers(-(2**63), 2**63 - 1)
    mantissas = {f: data.draw(hnp.arrays(np.int64, shape, elements=big)) for f in sorted(stored)}
    derived = {f: data.draw(hnp.arrays(np.int64, shape, elements=big)) for f in sorted(kept)}
    ts = np.arange(rows, dtype=np.int64) * 7 + data.draw(st.integers(0, 2**40))
    days = (np.arange(rows) + 14_000).astype("datetime64[D]")
    path = tmp_path / "bundles" / f"x-{'ab' * 16}.arrays"
    write_arrays(path, "ab" * 32, CachedArrays(ts, days, floats, mantissas, derived))
    back = read_arrays(path, "ab" * 32, OHLCV)
    assert back is not None
    assert back.columns == columns
    assert np.array_equal(back.ts, ts)
    assert np.array_equal(back.sessions, days)
    for f in OHLCV:
        assert np.array_equal(back.floats[f], floats[f], equal_nan=True)
    assert set(back.stored) == stored
    for f in stored:
        assert np.array_equal(back.stored[f], mantissas[f])
    assert set(back.kept) == kept
    for f in kept:
        assert np.array_equal(back.kept[f], derived[f])
    assert all(entry["offset"] % 64 == 0 for entry in _header(path)["arrays"])


def test_a_cache_as_wide_as_other_assets_is_not_used(home, bundle, caplog):
    path = _cache_file(home, "b")
    identity = _header(path)["identity"]
    right = load_bundle(home, "b")
    floats = {f: np.ones((len(right.ts), 5)) for f in OHLCV}  # 5 columns, the bundle has 4
    write_arrays(path, identity, CachedArrays(right.ts, right.sessions, floats, {}))
    with caplog.at_level(logging.WARNING, logger="rbt.data.bundles"):
        bars = load_bundle(home, "b")
    assert "not 4 assets wide" in caplog.text
    _assert_same_bars(bars, right)
    assert read_arrays(path, identity, OHLCV).columns == 4  # written again, for 4


def test_the_cache_can_be_turned_off(home, manager, make_csv_dir, tmp_path, monkeypatch):
    ingest(home, "csv", "b", {"path": str(make_csv_dir(tmp_path / "csv", 2, 10))}, manager=manager)
    monkeypatch.setenv("RBT_ARRAY_CACHE", "off")
    first, second = load_bundle(home, "b"), load_bundle(home, "b")
    assert not _cache_file(home, "b").exists()
    assert second.floats["close"].flags.owndata  # decoded, not mapped
    _assert_same_bars(first, second)
    monkeypatch.setenv("RBT_ARRAY_CACHE", "on")
    load_bundle(home, "b")
    assert _cache_file(home, "b").exists()


def test_a_failed_publish_gives_the_decoded_arrays_and_leaves_no_temporary_file(
    home, manager, make_csv_dir, tmp_path, caplog
):
    ingest(home, "csv", "b", {"path": str(make_csv_dir(tmp_path / "csv", 2, 10))}, manager=manager)
    path = _cache_file(home, "b")
    (path / "in the way").mkdir(parents=True)  # a folder where the file would be renamed to
    with caplog.at_level(logging.INFO, logger="rbt.data.array_cache"):
        bars = load_bundle(home, "b")
    assert "not cached" in caplog.text
    assert bars.floats["close"].flags.owndata  # copies: the file was not published
    _assert_same_bars(bars, _decoded(home, "b"))
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # the folder only


def test_a_long_bundle_name_gets_a_short_cache_file_name(home, manager, make_csv_dir, tmp_path):
    name = "b" * 220
    ingest(home, "csv", name, {"path": str(make_csv_dir(tmp_path / "csv", 2, 10))}, manager=manager)
    load_bundle(home, name)
    path = _cache_file(home, name)
    assert path.exists()
    assert len(path.name) + len(".{}.12345678.tmp") < 160  # its temporary name too, < 255
    assert not load_bundle(home, name).floats["close"].flags.owndata  # mapped
