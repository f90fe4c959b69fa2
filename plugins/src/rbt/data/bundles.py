"""Parquet bundles: atomic writes, verified loads, quarantine.

Layout under ``$RBT_HOME/bundles``::

    <name> -> .versions/<name>/<version>     a symlink, swapped atomically
    .versions/<name>/<version>/
        manifest.json                        schema version, source, range, file hashes
        assets.parquet                       one row per asset (sid, symbol, trading rules)
        bars/<year>.parquet                  long table sorted by (ts, sid)
        adjustments.parquet                  splits and dividends (optional, rbt.data.actions)
        funding.parquet                      perpetuals' funding rates (optional)
    .quarantine/<name>-<timestamp>/          bundles that failed verification

Bars hold exact int64 mantissas (``value = mantissa / 10**scale``; the price and
volume scales are per asset, in ``assets.parquet``), ``ts`` (bar end, UTC ns:
a daily bar's session close) and ``session`` (its session date).

A new version is written into a temporary directory, fsynced, renamed into
``.versions`` and published by replacing the ``<name>`` symlink with
``os.replace`` — readers see the old bundle or the new one, never half of
one. Loading verifies every file's size and sha256 against the manifest; a
mismatch moves the bundle to ``.quarantine`` and raises
:class:`~rbt.kernel.errors.DataError`.

The first load of a bundle's content keeps the dense arrays it decodes in
``$RBT_HOME/cache/bundles`` (:mod:`rbt.data.array_cache`); later loads map them
from there instead of decoding the bar files again, and still verify every file.

This module (the load path) imports polars and numpy only — never pandas or
sqlalchemy — so loading a bundle stays fast.

.. versionadded:: 0.1
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import hashlib
import io
import json
import logging
import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType
from typing import Any

import attrs
import numpy as np
import polars as pl

from rbt.data.actions import ADJUSTMENTS, FUNDING, CorporateActions
from rbt.data.array_cache import (
    ArrayFile,
    CachedArrays,
    cache_path,
    new_array_file,
    read_arrays,
)
from rbt.data.bars import DERIVABLE, OHLCV, BarArrays, DerivedMantissas, derive_mantissas
from rbt.data.home import RbtHome
from rbt.data.runs import run_starts
from rbt.kernel.clock import Frequency
from rbt.kernel.errors import ConfigError, DataError, DataUnavailableError
from rbt.kernel.model import Asset, AssetClass

__all__ = [
    "SCHEMA_VERSION",
    "BundleInfo",
    "Manifest",
    "ParquetBundleStore",
    "array_cache_file",
    "bundle_hash",
    "bundle_lock",
    "check_bundle_name",
    "list_bundles",
    "load_bundle",
    "read_assets",
    "read_manifest",
    "write_bundle",
]

log = logging.getLogger(__name__)

#: Version of the on-disk layout; a loader refuses bundles it does not know.
SCHEMA_VERSION = 1
VERSIONS = ".versions"
QUARANTINE = ".quarantine"
MANIFEST = "manifest.json"
ASSETS = "assets.parquet"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def _frozen_map(value: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(value))


@attrs.frozen(kw_only=True)
class Manifest:
    """What ``manifest.json`` records about a bundle.

    Everything but ``created_at`` is a deterministic function of the input:
    ingesting the same data twice gives the same ``content_hash``.

    :param files: relative path -> ``{"sha256": ..., "size": ...}``.
    :param content_hash: sha256 over the sorted file hashes (the bundle's identity).
    """

    schema_version: int = SCHEMA_VERSION
    name: str
    source: str
    source_options: Mapping[str, Any] = attrs.field(converter=_frozen_map)
    note: str = ""
    frequency: str
    calendar: str
    first: str
    last: str
    first_session: str
    last_session: str
    asset_count: int
    row_count: int
    created_at: str
    files: Mapping[str, Mapping[str, Any]] = attrs.field(converter=_frozen_map)
    content_hash: str

    def to_json(self) -> str:
        """The manifest as stable, sorted JSON text."""
        data = attrs.asdict(
            self,
            value_serializer=lambda _i, _a, v: dict(v) if isinstance(v, MappingProxyType) else v,
        )
        return json.dumps(data, indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        """Parse ``manifest.json`` text.

        :raises ValueError: for text that is not a manifest of a known schema version.
        """
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("schema_version") != SCHEMA_VERSION:
            version = data.get("schema_version") if isinstance(data, dict) else None
            raise ValueError(
                f"unknown manifest schema version {version!r}; "
                f"this rbt reads version {SCHEMA_VERSION}"
            )
        return cls(**data)


@attrs.frozen(kw_only=True)
class BundleInfo:
    """One row of ``rbt bundles``."""

    name: str
    frequency: str
    calendar: str
    first: str
    last: str
    assets: int
    rows: int
    size_bytes: int
    status: str
    created_at: str
    path: str


def check_bundle_name(name: str) -> str:
    """Return ``name`` if it is a valid bundle name.

    :raises ConfigError: for names with path separators, leading dots or blanks.
    """
    if not _NAME.match(name):
        raise ConfigError(
            f"invalid bundle name {name!r}; expected letters, digits, '_', '.', "
            "'-' and no leading dot"
        )
    return name


# -- writing ----------------------------------------------------------------------------


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_file(root: Path, relative: str, write: Any) -> dict[str, Any]:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    write(path)
    _fsync(path)
    data = path.read_bytes()
    return {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}


def _content_hash(files: Mapping[str, Mapping[str, Any]]) -> str:
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(f"{name}\0{files[name]['sha256']}\n".encode())
    return digest.hexdigest()


def _write_parquet(frame: Callable[[], pl.DataFrame]) -> Any:
    # Fixed options: the same frame gives the same bytes (content hashes are stable).
    # lz4 without column statistics: a third less CPU than zstd with them, files ~20 %
    # larger, faster to decode; the loader reads whole files, so statistics go unused.
    return lambda path: frame().write_parquet(path, compression="lz4", statistics=False)


_BAR_FILE_COLUMNS = ("ts", "session", "sid", *OHLCV)
_EPOCH = dt.date(1970, 1, 1)


def _by_year(
    bars: pl.DataFrame, order: np.ndarray[Any, Any] | None = None
) -> list[tuple[int, Callable[[], pl.DataFrame]]]:
    """Each year's bars in ``(ts, sid)`` order, built when called (in a writer thread)."""
    if order is not None:
        days = bars["session"].to_physical().to_numpy()[order]  # days since 1970, as ordered
        if len(days) and (np.diff(days) >= 0).all():  # (sessions follow ts: always, here)
            # each year's rows are contiguous: cut where January 1st of the next one falls
            first, last = (_EPOCH + dt.timedelta(days=int(d)) for d in (days[0], days[-1]))
            span = range(first.year, last.year + 1)
            jan1 = [(dt.date(y, 1, 1) - _EPOCH).days for y in span[1:]]
            cuts = np.r_[0, np.searchsorted(days, jan1), len(days)]
            return [
                (year, functools.partial(_gather, bars, order[lo:hi]))
                for year, lo, hi in zip(span, cuts[:-1], cuts[1:], strict=True)
                if hi > lo
            ]
        years_of = bars["session"].dt.year().to_numpy()[order]
        cuts = np.flatnonzero(years_of[1:] != years_of[:-1]) + 1
        bounds = zip(np.r_[0, cuts], np.r_[cuts, len(years_of)], strict=True)
        return [
            (int(years_of[lo]), functools.partial(_gather, bars, order[lo:hi])) for lo, hi in bounds
        ]
    years = bars["session"].dt.year().to_numpy()
    if len(years) and (np.diff(years) >= 0).all():  # sorted by time: zero-copy slices
        cuts = np.flatnonzero(np.diff(years)) + 1
        bounds = zip(np.r_[0, cuts], np.r_[cuts, len(years)], strict=True)
        return [(int(years[lo]), functools.partial(bars.slice, lo, hi - lo)) for lo, hi in bounds]
    series = bars["session"].dt.year()
    return [
        (year, functools.partial(bars.filter, series == year))
        for year in series.unique().sort().to_list()
    ]


def _gather(bars: pl.DataFrame, rows: np.ndarray[Any, Any]) -> pl.DataFrame:
    # An expression, not bars[rows]: select runs without holding the GIL, so the writer
    # threads gather their years side by side (bars[rows] serialized them: ~65 ms on L).
    return bars.select(pl.col(_BAR_FILE_COLUMNS).gather(pl.Series(rows)))


def _same(frame: pl.DataFrame) -> pl.DataFrame:
    return frame


@attrs.frozen
class _Published:
    manifest: Manifest
    previous: Path | None  # the version the symlink pointed at before, for rollback


def write_bundle(
    home: RbtHome,
    name: str,
    bars: pl.DataFrame,
    assets: pl.DataFrame,
    meta: Mapping[str, Any],
    extra: Mapping[str, pl.DataFrame | None] | None = None,
    order: np.ndarray[Any, Any] | None = None,
) -> _Published:
    """Write a bundle version and publish it atomically (see the module doc).

    The previous version is kept until :func:`finish_publish` (or rolled back
    with :func:`rollback_publish`), so a later failure (the asset database)
    can restore it.

    :param bars: ``ts, session, sid, open..volume`` sorted by ``(ts, sid)`` — or in any
        order when ``order`` is given.
    :param order: the rows of ``bars`` in ``(ts, sid)`` order (e.g. from ``np.lexsort``);
        each year's rows are then gathered in the writer threads, side by side.
    :param assets: one row per asset (see ``assets.parquet``).
    :param meta: the manifest fields that describe the data (source, range, ...).
    :param extra: more tables by file name (``adjustments.parquet``, ``funding.parquet``);
        None or empty ones are not written.
    """
    check_bundle_name(name)
    versions = home.bundles / VERSIONS / name
    versions.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC)
    version = f"{stamp:%Y%m%dT%H%M%S%fZ}-{uuid.uuid4().hex[:8]}"
    tmp = versions / f".tmp-{version}"
    tmp.mkdir()
    try:
        files: dict[str, dict[str, Any]] = {}
        jobs = {f"bars/{year}.parquet": part for year, part in _by_year(bars, order)}
        jobs[ASSETS] = functools.partial(_same, assets)
        for file_name, table in (extra or {}).items():
            if table is not None and table.height:
                jobs[file_name] = functools.partial(_same, table)
        # polars releases the GIL while encoding: write the files side by side (more files
        # than cores: one file's fsync waits while another is encoded)
        with ThreadPoolExecutor(max_workers=4) as pool:
            futures = {
                name: pool.submit(_write_file, tmp, name, _write_parquet(frame))
                for name, frame in jobs.items()
            }
        files.update({name: futures[name].result() for name in sorted(futures)})
        manifest = Manifest(
            **meta,
            name=name,
            created_at=stamp.isoformat(timespec="seconds"),
            files=files,
            content_hash=_content_hash(files),
        )
        _write_file(tmp, MANIFEST, lambda p: p.write_text(manifest.to_json()))
        _fsync(tmp / "bars")
        _fsync(tmp)
        final = versions / version
        os.rename(tmp, final)
        _fsync(versions)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    previous = _point(home, name, final)
    return _Published(manifest=manifest, previous=previous)


def _point(home: RbtHome, name: str, target: Path | None) -> Path | None:
    """Make ``bundles/<name>`` point at ``target`` (or remove it); return the old target."""
    link = home.bundle(name)
    previous: Path | None = None
    if link.is_symlink():
        previous = link.resolve()
    elif link.exists():
        raise DataError(
            f"{link} is not a bundle written by rbt (expected a symlink to "
            f"{VERSIONS}/{name}/...); move it away and ingest again"
        )
    if target is None:
        if link.is_symlink():
            link.unlink()
    else:
        tmp_link = link.with_name(f".{name}.{uuid.uuid4().hex[:8]}.link")
        os.symlink(os.path.relpath(target, link.parent), tmp_link)
        os.replace(tmp_link, link)  # atomic: readers see the old or the new version
    _fsync(link.parent)
    return previous


@contextlib.contextmanager
def bundle_lock(home: RbtHome, name: str) -> Iterator[None]:
    """Hold the writer lock of bundle ``name``: concurrent ingests of it run one at a time.

    Readers never need it (they follow the symlink). Under the lock, leftovers of
    a crashed writer (temporary or unpublished versions) are removed first.
    """
    check_bundle_name(name)
    locks = home.bundles / ".locks"
    locks.mkdir(parents=True, exist_ok=True)
    with (locks / f"{name}.lock").open("a+b") as handle:
        try:
            import fcntl
        except ImportError:  # Windows: no advisory locks; single writer assumed
            fcntl = None  # type: ignore[assignment]
        if fcntl is not None:
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            _remove_stale_versions(home, name)
            yield
        finally:
            if fcntl is not None:
                fcntl.flock(handle, fcntl.LOCK_UN)


def _remove_stale_versions(home: RbtHome, name: str) -> None:
    versions = home.bundles / VERSIONS / name
    if not versions.is_dir():
        return
    link = home.bundle(name)
    current = link.resolve() if link.is_symlink() else None
    for entry in versions.iterdir():
        if entry != current:
            shutil.rmtree(entry, ignore_errors=True)


def finish_publish(published: _Published) -> None:
    """Delete the version a publish replaced (after everything else succeeded)."""
    if published.previous is not None:
        shutil.rmtree(published.previous, ignore_errors=True)


def rollback_publish(home: RbtHome, published: _Published) -> None:
    """Undo a publish: point the bundle back at the previous version (or remove it)."""
    name = published.manifest.name
    current = home.bundle(name).resolve() if home.bundle(name).is_symlink() else None
    _point(home, name, published.previous)
    if current is not None:
        shutil.rmtree(current, ignore_errors=True)
    versions = home.bundles / VERSIONS / name
    with contextlib.suppress(OSError):  # only when empty: nothing of value is removed
        versions.rmdir()


# -- reading ----------------------------------------------------------------------------


def _quarantine(home: RbtHome, name: str, reason: str) -> DataError:
    link = home.bundle(name)
    source = link.resolve()
    target_root = home.bundles / QUARANTINE
    target_root.mkdir(parents=True, exist_ok=True)
    target = target_root / f"{name}-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S%fZ}"
    if source.exists():
        os.rename(source, target)
    if link.is_symlink():
        link.unlink()
    return DataError(
        f"bundle {name!r} is damaged: {reason}. It was moved to {target}; nothing from it was "
        f"used. Ingest it again (rbt ingest ... --bundle {name})."
    )


def _bundle_dir(home: RbtHome, name: str) -> Path:
    check_bundle_name(name)
    path = home.bundle(name)
    if not path.exists():
        known = ", ".join(b.name for b in list_bundles(home)) or "none"
        raise DataUnavailableError(
            f"no bundle {name!r} in {home.bundles}; bundles: {known} (try `rbt ingest demo`)"
        )
    return path


def read_manifest(home: RbtHome, name: str) -> Manifest:
    """The manifest of bundle ``name`` (not verified against the files).

    :raises DataUnavailableError: when there is no such bundle.
    :raises DataError: when the manifest is unreadable (the bundle is quarantined).
    """
    path = _bundle_dir(home, name) / MANIFEST
    try:
        return Manifest.from_json(path.read_text())
    except (OSError, ValueError, TypeError) as exc:
        raise _quarantine(home, name, f"{MANIFEST} is unreadable ({exc})") from exc


def bundle_hash(home: RbtHome, name: str) -> str:
    """The content hash of bundle ``name`` (identifies its data in run ids)."""
    return read_manifest(home, name).content_hash


def _verified_bytes(
    home: RbtHome,
    name: str,
    manifest: Manifest | None = None,
    checked_only: Callable[[str], bool] | None = None,
) -> tuple[Manifest, dict[str, bytes]]:
    """The manifest and every file's bytes, each checked for size and sha256; the files
    ``checked_only`` selects are checked the same way but not kept (read in chunks)."""
    manifest = manifest or read_manifest(home, name)
    root = home.bundle(name)
    blobs: dict[str, bytes] = {}
    for relative, expected in sorted(manifest.files.items()):
        keep = checked_only is None or not checked_only(relative)
        try:
            if keep:
                data = (root / relative).read_bytes()
                size, digest = len(data), hashlib.sha256(data).hexdigest()
            else:
                with (root / relative).open("rb") as handle:
                    size = os.fstat(handle.fileno()).st_size
                    digest = hashlib.file_digest(handle, "sha256").hexdigest()
        except OSError as exc:
            raise _quarantine(home, name, f"{relative} is missing ({exc.strerror})") from exc
        if size != expected["size"]:
            raise _quarantine(
                home,
                name,
                f"{relative} has {size} bytes, the manifest says {expected['size']} (truncated?)",
            )
        if digest != expected["sha256"]:
            raise _quarantine(
                home,
                name,
                f"{relative} has sha256 {digest[:12]}…, the manifest "
                f"says {expected['sha256'][:12]}…",
            )
        if keep:
            blobs[relative] = data
    return manifest, blobs


def _parquet(
    home: RbtHome, name: str, relative: str, data: bytes, columns: list[str] | None = None
) -> pl.DataFrame:
    """Decode one verified file (quarantining the bundle if it is not readable Parquet)."""
    try:
        return pl.read_parquet(io.BytesIO(data), columns=columns)
    except Exception as exc:  # polars raises several types for corrupt files
        raise _quarantine(home, name, f"{relative} is not readable Parquet ({exc})") from exc


def _verified(home: RbtHome, name: str) -> tuple[Manifest, dict[str, pl.DataFrame]]:
    manifest, blobs = _verified_bytes(home, name)
    return manifest, {rel: _parquet(home, name, rel, data) for rel, data in blobs.items()}


def _date(value: Any) -> dt.date | None:
    return value if isinstance(value, dt.date) else None


def assets_from_frame(frame: pl.DataFrame) -> tuple[Asset, ...]:
    """Build :class:`~rbt.kernel.model.Asset` objects from an ``assets.parquet`` frame."""
    return tuple(
        Asset(
            sid=row["sid"],
            symbol=row["symbol"],
            asset_class=AssetClass(row["asset_class"]),
            exchange=row["exchange"],
            calendar=row["calendar"],
            quote_currency=row["quote_currency"],
            tick_size=Decimal(row["tick_size"]),
            lot_size=Decimal(row["lot_size"]),
            min_notional=Decimal(row["min_notional"]),
            multiplier=Decimal(row["multiplier"]),
            price_scale=row["price_scale"],
            start_date=_date(row["start_date"]),
            end_date=_date(row["end_date"]),
            auto_close_date=_date(row["auto_close_date"]),
        )
        for row in frame.iter_rows(named=True)
    )


def read_assets(home: RbtHome, name: str) -> tuple[Asset, ...]:
    """The assets of bundle ``name`` (verified like :func:`load_bundle`)."""
    _, frames = _verified(home, name)
    return assets_from_frame(frames[ASSETS])


def load_bundle(home: RbtHome, name: str) -> BarArrays:
    """Load bundle ``name`` into :class:`~rbt.data.bars.BarArrays`.

    Every file is checked against the manifest (size, sha256, readable Parquet)
    before any of it is used. The timeline is the union of all bar timestamps;
    an asset without a bar at a row has NaN floats and 0 mantissas there.

    The first load keeps the decoded arrays in ``$RBT_HOME/cache``
    (:mod:`rbt.data.array_cache`); later loads of the same content map them from there
    instead of decoding the bar files (which are still checked against the manifest).
    ``RBT_ARRAY_CACHE=off`` neither reads nor writes that cache.

    Memory: the final arrays are allocated once and filled file by file (one year
    of bars decoded at a time), so the peak stays near the arrays themselves.

    :raises DataUnavailableError: when there is no such bundle.
    :raises DataError: when a file is missing, truncated, altered or corrupt; the
        bundle is moved to ``bundles/.quarantine/<name>-<timestamp>`` first.
    """
    manifest = read_manifest(home, name)
    # the cache is found by the content hash: files changed under an unchanged one would
    # be verified, then not used
    consistent = _content_hash(manifest.files) == manifest.content_hash
    identity = _cache_identity(manifest)
    cache = cache_path(home.cache, name, identity)
    use_cache = os.environ.get("RBT_ARRAY_CACHE", "on").lower() not in _OFF
    cached = None
    if use_cache and consistent and _exists(cache):
        with ThreadPoolExecutor(max_workers=1) as pool:
            # the files are checked beside the cache (hashlib and zlib release the GIL);
            # the bar files' bytes are not kept, the cache holds what they decode to
            checked = pool.submit(_verified_bytes, home, name, manifest, _is_bar_file)
            cached = read_arrays(cache, identity, OHLCV)
            _, blobs = checked.result()
    if cached is None:
        _, blobs = _verified_bytes(home, name, manifest)
    asset_frame = _parquet(home, name, ASSETS, blobs.pop(ASSETS))
    if not consistent:  # after the checks that name a damaged file
        raise _quarantine(home, name, f"{MANIFEST}'s content_hash does not match its files")
    assets = assets_from_frame(asset_frame)
    if cached is not None and cached.columns != len(assets):  # not for these assets
        log.warning("ignoring the cached arrays %s: not %d assets wide", cache, len(assets))
        cached = None
        _, blobs = _verified_bytes(home, name, manifest)
    extra = {k: _parquet(home, name, k, blobs.pop(k)) for k in (ADJUSTMENTS, FUNDING) if k in blobs}
    actions = CorporateActions.from_frames(extra.get(ADJUSTMENTS), extra.get(FUNDING))
    price_scales = asset_frame["price_scale"].to_numpy().astype(np.int64)
    volume_scales = asset_frame["volume_scale"].to_numpy().astype(np.int64)
    if cached is None:
        sids = asset_frame["sid"].to_numpy().astype(np.int64)
        scales = {f: volume_scales if f == "volume" else price_scales for f in OHLCV}
        target: list[ArrayFile] = []  # the cache file being written, when there is one

        def allocate(shape: tuple[int, int]) -> dict[str, np.ndarray[Any, Any]]:
            made = new_array_file(cache, *shape, OHLCV) if use_cache and all(shape) else None
            if made is None:
                return {f: np.empty(shape, dtype=np.float64) for f in OHLCV}
            target.append(made)
            return made.floats  # decoded straight into the file

        try:
            cached = _decode_bars(home, name, blobs, sids, scales, allocate)
        except BaseException:
            for unfinished in target:
                unfinished.discard()
            raise
        if target:
            # the close mantissas too, which every run reads whole (the positions' value at
            # each close): mapped from the file, not derived from the floats per run
            if _KEPT_MANTISSAS not in cached.stored:
                close = derive_mantissas(cached.floats[_KEPT_MANTISSAS], price_scales)
                cached = attrs.evolve(cached, kept={_KEPT_MANTISSAS: close})
            cached = target[0].publish(identity, cached)
    return BarArrays(
        frequency=Frequency(manifest.frequency),
        calendar=manifest.calendar,
        assets=assets,
        ts=cached.ts,
        sessions=cached.sessions,
        floats=cached.floats,
        mantissas=DerivedMantissas(
            cached.floats, price_scales, volume_scales, cached.stored, built=cached.kept
        ),
        price_scales=price_scales,
        volume_scales=volume_scales,
        actions=actions,
    )


def array_cache_file(home: RbtHome, name: str) -> Path:
    """Where :func:`load_bundle` keeps the decoded arrays of bundle ``name``'s current
    content (there or not)."""
    return cache_path(home.cache, name, _cache_identity(read_manifest(home, name)))


def _cache_identity(manifest: Manifest) -> str:
    return f"{manifest.content_hash} decoded by {_DECODER}"


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except OSError:  # a name too long, a folder that cannot be searched: no cache there
        return False


def _is_bar_file(relative: str) -> bool:
    return relative.startswith("bars/")


def _decode_bars(
    home: RbtHome,
    name: str,
    blobs: dict[str, bytes],
    sids: np.ndarray[Any, np.dtype[np.int64]],
    scales: Mapping[str, np.ndarray[Any, np.dtype[np.int64]]],
    allocate: Callable[[tuple[int, int]], dict[str, np.ndarray[Any, Any]]],
) -> CachedArrays:
    """The dense arrays of the bar files in ``blobs`` (verified bytes, consumed), one
    column per asset of ``sids``; the floats are filled into ``allocate(shape)``."""
    files = sorted(k for k in blobs if _is_bar_file(k))
    # Pass 1: the timeline (rows are sorted by (ts, sid): a new row where ts changes).
    times, sessions, heights = [], [], []
    for relative in files:
        frame = _parquet(home, name, relative, blobs[relative], ["ts", "session"])
        heights.append(frame.height)
        ts = frame["ts"].to_numpy()
        starts = run_starts(ts)
        times.append(ts[starts].astype(np.int64))
        sessions.append(frame["session"].to_numpy()[starts].astype("datetime64[D]"))
    timeline = np.concatenate(times) if times else np.zeros(0, np.int64)
    if len(timeline) > 1 and not (np.diff(timeline) > 0).all():
        raise _quarantine(home, name, "its bar files overlap in time")
    shape = (len(timeline), len(sids))
    column_of = np.full(int(sids.max(initial=-1)) + 1, -1, dtype=np.int64)
    column_of[sids] = np.arange(len(sids))
    powers = {f: np.power(10.0, scales[f]) for f in OHLCV}
    # The floats hold the bars: the mantissas are rebuilt from them on demand
    # (DerivedMantissas), except for a field holding a mantissa too large for that (a
    # cache file also keeps the closes', load_bundle's choice).
    floats = allocate(shape)
    stored: dict[str, np.ndarray[Any, np.dtype[np.int64]]] = {}
    # Pass 2: each file's values straight into the final arrays.
    row0 = 0
    for relative, block_ts, height in zip(files, times, heights, strict=True):
        data = blobs.pop(relative)
        # A small file is decoded in one read (each read has a fixed cost); a large one a
        # column at a time: polars' allocator keeps what it frees, so decode little.
        together = height * len(OHLCV) <= _DECODE_AT_ONCE
        frame = _parquet(home, name, relative, data, ["sid", *(OHLCV if together else ())])
        rows = slice(row0, row0 + len(block_ts))
        bar_sids = frame["sid"].to_numpy()
        block = (len(block_ts), len(sids))
        dense = _is_dense(bar_sids, sids, block)
        if not dense:
            bar_ts = _parquet(home, name, relative, data, ["ts"])["ts"].to_numpy()
            row = row0 + np.searchsorted(block_ts, bar_ts)
            column = column_of[bar_sids]
            flat = row * shape[1] + column
        for field in OHLCV:
            column_frame = frame if together else _parquet(home, name, relative, data, [field])
            values = column_frame[field].to_numpy()
            if field not in stored and len(values) and _too_large(values):
                stored[field] = np.zeros(shape, dtype=np.int64)  # earlier rows were derivable
                stored[field][:row0] = derive_mantissas(floats[field][:row0], scales[field])
            exact = stored.get(field)
            # m / 10**s with both exact in float64 (s <= 9, |m| < 2**53) is correctly
            # rounded: the nearest float to the decimal, as float("123.45") gives.
            if dense:
                values = values.reshape(block)
                np.divide(values, powers[field][None, :], out=floats[field][rows])
                if exact is not None:
                    exact[rows] = values
            else:
                floats[field][rows] = np.nan
                floats[field].ravel()[flat] = values / powers[field][column]
                if exact is not None:
                    exact[rows] = 0
                    exact.ravel()[flat] = values
        row0 += len(block_ts)
    days = np.concatenate(sessions) if sessions else np.zeros(0, "datetime64[D]")
    return CachedArrays(timeline, days, floats, stored)


#: Values of ``RBT_ARRAY_CACHE`` that turn the array cache off.
_OFF = ("off", "0", "false", "no")

#: The field whose mantissas a cache file holds even where they are derivable.
_KEPT_MANTISSAS = "close"

#: The version of :func:`_decode_bars`' output (and the bound below which mantissas are
#: derived from the floats, and the field whose mantissas are kept all the same): a cache
#: written by another version is not used.
_DECODER = f"v3 derivable<{DERIVABLE} kept {_KEPT_MANTISSAS}"

#: Most values (rows x fields) of a bar file decoded in one read by :func:`load_bundle`.
_DECODE_AT_ONCE = 1 << 18


def _too_large(values: np.ndarray[Any, Any]) -> bool:
    return bool(values.max() >= DERIVABLE or values.min() <= -DERIVABLE)


def _is_dense(
    bar_sids: np.ndarray[Any, Any], sids: np.ndarray[Any, Any], block: tuple[int, int]
) -> bool:
    """Whether a file has every asset at every one of its times, in column order."""
    return (
        len(bar_sids) == block[0] * block[1]
        and np.array_equal(sids, np.arange(len(sids)))
        and bool((bar_sids.reshape(block) == sids).all())
    )


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def list_bundles(home: RbtHome) -> list[BundleInfo]:
    """Every bundle in ``home`` (status ``ok``, ``damaged`` or ``quarantined``), by name.

    Cheap: reads manifests and file sizes, does not hash (``load_bundle`` does).
    """
    root = home.bundles
    if not root.is_dir():
        return []
    found: list[BundleInfo] = []
    for link in sorted(root.iterdir()):
        if link.name.startswith(".") or not link.is_dir():
            continue
        found.append(_info(link, link.name, "ok"))
    quarantine = root / QUARANTINE
    if quarantine.is_dir():
        for path in sorted(quarantine.iterdir()):
            found.append(_info(path, path.name, "quarantined"))
    return found


def _info(path: Path, name: str, status: str) -> BundleInfo:
    try:
        m = Manifest.from_json((path / MANIFEST).read_text())
    except (OSError, ValueError, TypeError):
        return BundleInfo(
            name=name,
            frequency="?",
            calendar="?",
            first="?",
            last="?",
            assets=0,
            rows=0,
            size_bytes=_size(path),
            status="damaged" if status == "ok" else status,
            created_at="?",
            path=str(path),
        )
    if status == "ok":
        for relative, expected in m.files.items():
            file = path / relative
            if not file.is_file() or file.stat().st_size != expected["size"]:
                status = "damaged"
    return BundleInfo(
        name=name,
        frequency=m.frequency,
        calendar=m.calendar,
        first=m.first_session,
        last=m.last_session,
        assets=m.asset_count,
        rows=m.row_count,
        size_bytes=_size(path),
        status=status,
        created_at=m.created_at,
        path=str(path),
    )


class ParquetBundleStore:
    """The ``parquet`` bundle store (``ProviderKind.BUNDLE_STORE``) for one RBT home.

    :param home: the RBT home (default: ``$RBT_HOME``).
    """

    def __init__(self, home: RbtHome | None = None) -> None:
        self.home = home or RbtHome()

    def load(self, name: str) -> BarArrays:
        """See :func:`load_bundle`."""
        return load_bundle(self.home, name)

    def list(self) -> list[BundleInfo]:
        """See :func:`list_bundles`."""
        return list_bundles(self.home)

    def manifest(self, name: str) -> Manifest:
        """See :func:`read_manifest`."""
        return read_manifest(self.home, name)

    def write(
        self,
        name: str,
        bars: pl.DataFrame,
        assets: pl.DataFrame,
        meta: Mapping[str, Any],
        extra: Mapping[str, pl.DataFrame | None] | None = None,
    ) -> _Published:
        """See :func:`write_bundle`."""
        return write_bundle(self.home, name, bars, assets, meta, extra)
