"""A loaded bundle's dense bar arrays, kept in one file that later loads map into memory.

Decoding a bundle's Parquet files into dense ``[bar, asset]`` arrays costs far more
than the files' size suggests: the decoder's buffers and the arrays themselves are
fresh memory, and a fresh page costs a fault (several microseconds on a virtual
machine) before it is first written. A bundle's first load therefore writes its
arrays to ``$RBT_HOME/cache/bundles/<name>-<content hash>.arrays``; later loads map
that file copy-on-write instead of decoding: its pages come from the operating
system's file cache, and nothing is copied unless it is written to.

The file is derived data. It is written atomically (a temporary file renamed into
place) but not fsynced, and checked on every read: its layout version, a CRC-32 of its
header, the identity it was written for (the bundle's content hash and the decoder's
version), the name, dtype, shape and place of every array, and a CRC-32 of each. A
file that fails a check is not used (the caller decodes the Parquet files again and
writes a new one).

Layout: :data:`MAGIC`, the header's length (8 bytes, little-endian) and CRC-32 (4
bytes), the header (JSON: ``identity``, ``rows``, ``columns`` and one entry per array
with its name, dtype, shape, offset and CRC-32), then the arrays, each at a 64-byte
aligned offset.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import mmap
import os
import time
import uuid
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt

__all__ = ["MAGIC", "CachedArrays", "cache_path", "read_arrays", "write_arrays"]

log = logging.getLogger(__name__)

#: The file's first bytes; the digit is the layout version (a new one ignores old files).
MAGIC = b"RBTARRAYS2\n"
_ALIGN = 64
_LENGTH_BYTES = 8
_CRC_BYTES = 4
_PREFIX = len(MAGIC) + _LENGTH_BYTES + _CRC_BYTES
#: What each array must be: the timeline and sessions (days since 1970) one value per
#: row, the floats and stored mantissas one per row and column, all little-endian.
_DTYPES = {"ts": "<i8", "sessions": "<i8", "floats": "<f8", "stored": "<i8"}
#: A temporary file older than this is a crashed writer's, removed by the next writer.
_STALE_TMP_S = 3600.0


@attrs.frozen(eq=False)
class CachedArrays:
    """The arrays of a bundle that :func:`~rbt.data.bundles.load_bundle` builds from its
    bar files: the timeline, its sessions, each field's floats, and the mantissas of the
    fields too large to derive from their floats (``stored``)."""

    ts: npt.NDArray[np.int64]
    sessions: npt.NDArray[np.datetime64]
    floats: Mapping[str, npt.NDArray[np.float64]]
    stored: Mapping[str, npt.NDArray[np.int64]]

    @property
    def columns(self) -> int:
        """How many assets (columns) the arrays hold."""
        return next(iter(self.floats.values())).shape[1] if self.floats else 0


def cache_path(cache_dir: Path, bundle: str, identity: str) -> Path:
    """Where bundle ``bundle`` keeps the arrays written for ``identity`` (see
    :func:`write_arrays`)."""
    digest = hashlib.sha256(identity.encode()).hexdigest()[:32]
    return cache_dir / "bundles" / f"{bundle}-{digest}.arrays"


def _named(arrays: CachedArrays) -> dict[str, npt.NDArray[Any]]:
    named: dict[str, npt.NDArray[Any]] = {
        "ts": arrays.ts.astype("<i8"),
        "sessions": arrays.sessions.astype("datetime64[D]").view(np.int64).astype("<i8"),
    }
    named.update({f"floats/{f}": v.astype("<f8") for f, v in arrays.floats.items()})
    named.update({f"stored/{f}": v.astype("<i8") for f, v in arrays.stored.items()})
    return {k: np.ascontiguousarray(v) for k, v in named.items()}


def write_arrays(path: Path, identity: str, arrays: CachedArrays) -> None:
    """Write ``arrays`` to ``path`` atomically, for ``identity`` (what a reader must ask
    for: the bundle's content and the decoder that made the arrays). A failure to write
    (a read-only home, a full disk) is logged and leaves no file behind: the cache is an
    optimization."""
    named = _named(arrays)
    entries: list[dict[str, Any]] = []
    offset = 0
    for key, values in named.items():
        entries.append(
            {
                "name": key,
                "dtype": values.dtype.str,
                "shape": list(values.shape),
                "offset": offset,
                "crc32": zlib.crc32(_bytes(values)),
            }
        )
        offset += _aligned(values.nbytes)
    header = json.dumps(
        {
            "identity": identity,
            "rows": len(arrays.ts),
            "columns": arrays.columns,
            "arrays": entries,
        },
        sort_keys=True,
    ).encode()
    start = _aligned(_PREFIX + len(header))
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tmp.open("wb") as out:
            out.write(MAGIC)
            out.write(len(header).to_bytes(_LENGTH_BYTES, "little"))
            out.write(zlib.crc32(header).to_bytes(_CRC_BYTES, "little"))
            out.write(header)
            for entry, values in zip(entries, named.values(), strict=True):
                out.seek(start + entry["offset"])
                out.write(_bytes(values))
            out.truncate(start + offset)
        os.replace(tmp, path)  # readers see no file or the whole file
    except BaseException as exc:  # interrupted too: no temporary file is left behind
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        if not isinstance(exc, OSError):
            raise
        log.info("bundle arrays not cached at %s: %s", path, exc)
        return
    _remove_stale(path)


def _bytes(values: npt.NDArray[Any]) -> memoryview:
    return values.reshape(-1).view(np.uint8).data  # a flat byte view, empty or not


def _remove_stale(path: Path) -> None:
    """Remove the files of the same bundle for other content, and crashed writers' temporary
    files; one that cannot be removed (mapped by a process, on Windows) stays."""
    bundle = path.name.rpartition("-")[0]  # the digest holds no "-"; a bundle name may
    now = time.time()
    for other in path.parent.iterdir():
        with contextlib.suppress(OSError):
            if other.name.endswith(".arrays") and other != path:
                if other.name.rpartition("-")[0] == bundle:
                    other.unlink()
            elif other.name.endswith(".tmp") and now - other.stat().st_mtime > _STALE_TMP_S:
                other.unlink()


def read_arrays(path: Path, identity: str, fields: Sequence[str]) -> CachedArrays | None:
    """The arrays cached at ``path`` for ``identity``, mapped copy-on-write, with the
    floats of every one of ``fields``; None when there is no file or it fails a check,
    which is logged."""
    try:
        return _read(path, identity, fields)
    except (FileNotFoundError, NotADirectoryError):  # none written (or none can be)
        return None
    except Exception as exc:  # whatever is wrong with a cache, the bundle is decoded
        log.warning("ignoring the cached bundle arrays %s: %s; decoding the bundle", path, exc)
        return None


class _Unusable(Exception):
    """Why a cache file is not used."""


def _read(path: Path, identity: str, fields: Sequence[str]) -> CachedArrays:
    with path.open("rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        if size < _PREFIX:
            raise _Unusable("it is truncated")
        # ACCESS_COPY: arrays written by a caller change its private copy, not the file
        mapped = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_COPY)
    if mapped[: len(MAGIC)] != MAGIC:
        raise _Unusable("it has another layout version")
    length = int.from_bytes(mapped[len(MAGIC) : len(MAGIC) + _LENGTH_BYTES], "little")
    crc = int.from_bytes(mapped[len(MAGIC) + _LENGTH_BYTES : _PREFIX], "little")
    text = mapped[_PREFIX : _PREFIX + length]  # a copy of the header only
    if len(text) != length or zlib.crc32(text) != crc:
        raise _Unusable("its header fails its CRC-32 check")
    header = json.loads(text)
    if header["identity"] != identity:
        raise _Unusable("it was written for another content of the bundle or another decoder")
    rows, columns = header["rows"], header["columns"]
    if not all(type(n) is int and n >= 0 for n in (rows, columns)):
        raise _Unusable(f"its shape {rows!r} x {columns!r} is not two counts")
    start = _aligned(_PREFIX + length)
    arrays: dict[str, npt.NDArray[Any]] = {}
    for entry in header["arrays"]:
        name = entry["name"]
        kind, _, field = name.partition("/")
        if name in ("ts", "sessions"):
            want: tuple[int, ...] = (rows,)
        elif kind in ("floats", "stored") and field in fields:
            want = (rows, columns)
        else:
            raise _Unusable(f"it holds an unknown array {name!r}")
        if name in arrays or entry["dtype"] != _DTYPES[kind] or tuple(entry["shape"]) != want:
            raise _Unusable(f"array {name!r} is not {_DTYPES[kind]} of shape {want}")
        offset, count = entry["offset"], int(np.prod(want))
        if (
            type(offset) is not int
            or offset < 0
            or offset % _ALIGN
            or start + offset + count * 8 > size
        ):
            raise _Unusable(f"array {name!r} lies outside the file")
        values = np.frombuffer(mapped, dtype=_DTYPES[kind], count=count, offset=start + offset)
        if zlib.crc32(_bytes(values)) != entry["crc32"]:
            raise _Unusable(f"array {name!r} fails its CRC-32 check")
        arrays[name] = values.reshape(want)
    missing = [n for n in ("ts", "sessions", *(f"floats/{f}" for f in fields)) if n not in arrays]
    if missing:
        raise _Unusable(f"it lacks {', '.join(missing)}")
    return CachedArrays(
        arrays["ts"],
        arrays["sessions"].view("datetime64[D]"),
        {f: arrays[f"floats/{f}"] for f in fields},
        {f: arrays[f"stored/{f}"] for f in fields if f"stored/{f}" in arrays},
    )


def _aligned(offset: int) -> int:
    return -(-offset // _ALIGN) * _ALIGN
