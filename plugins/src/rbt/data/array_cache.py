"""A loaded bundle's dense bar arrays, kept in one file that later loads map into memory.

Decoding a bundle's Parquet files into dense ``[bar, asset]`` arrays costs far more
than the files' size suggests: the decoder's buffers and the arrays themselves are
fresh memory, and a fresh page costs a fault (several microseconds on a virtual
machine) before it is first written. A bundle's first load therefore writes its
arrays to ``$RBT_HOME/cache/bundles/<name>-<content hash>.arrays``; later loads map
that file copy-on-write instead of decoding: its pages come from the operating
system's file cache, and nothing is copied unless it is written to.

The file is derived data. It is written atomically (a temporary file renamed into
place) but not fsynced, and checked on every read: its layout version, the bundle's
content hash, the shapes, and a CRC-32 of every array. A file that fails a check is
not used (the caller decodes the Parquet files again and writes a new one).

Layout: :data:`MAGIC`, the header's length (8 bytes, little-endian), the header
(JSON: ``content_hash``, ``rows``, ``columns`` and one entry per array with its
dtype, shape, offset and CRC-32), then the arrays, each at a 64-byte aligned offset.
"""

from __future__ import annotations

import contextlib
import json
import logging
import mmap
import os
import uuid
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt

__all__ = ["MAGIC", "CachedArrays", "cache_path", "read_arrays", "write_arrays"]

log = logging.getLogger(__name__)

#: The file's first bytes; the digit is the layout version (a new one ignores old files).
MAGIC = b"RBTARRAYS1\n"
_ALIGN = 64
_LENGTH_BYTES = 8


@attrs.frozen(eq=False)
class CachedArrays:
    """The arrays of a bundle that :func:`~rbt.data.bundles.load_bundle` builds from its
    bar files: the timeline, its sessions, each field's floats, and the mantissas of the
    fields too large to derive from their floats (``stored``)."""

    ts: npt.NDArray[np.int64]
    sessions: npt.NDArray[np.datetime64]
    floats: Mapping[str, npt.NDArray[np.float64]]
    stored: Mapping[str, npt.NDArray[np.int64]]


def cache_path(cache_dir: Path, bundle: str, content_hash: str) -> Path:
    """Where bundle ``bundle`` with content hash ``content_hash`` keeps its arrays."""
    return cache_dir / "bundles" / f"{bundle}-{content_hash[:32]}.arrays"


def _named(arrays: CachedArrays) -> dict[str, npt.NDArray[Any]]:
    named: dict[str, npt.NDArray[Any]] = {
        "ts": arrays.ts,
        "sessions": arrays.sessions.astype("datetime64[D]").view(np.int64),
    }
    named.update({f"floats/{field}": values for field, values in arrays.floats.items()})
    named.update({f"stored/{field}": values for field, values in arrays.stored.items()})
    return named


def write_arrays(path: Path, content_hash: str, arrays: CachedArrays) -> None:
    """Write ``arrays`` to ``path`` atomically; a failure (a read-only home, a full disk)
    is logged and leaves no file behind: the cache is an optimization."""
    named = {k: np.ascontiguousarray(v) for k, v in _named(arrays).items()}
    rows, columns = len(arrays.ts), next(iter(arrays.floats.values())).shape[1]
    entries: list[dict[str, Any]] = []
    offset = 0
    for key, values in named.items():
        entries.append(
            {
                "name": key,
                "dtype": values.dtype.str,
                "shape": list(values.shape),
                "offset": offset,
                "crc32": zlib.crc32(values.data),
            }
        )
        offset += _aligned(values.nbytes)
    header = json.dumps(
        {"content_hash": content_hash, "rows": rows, "columns": columns, "arrays": entries},
        sort_keys=True,
    ).encode()
    start = _aligned(len(MAGIC) + _LENGTH_BYTES + len(header))
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tmp.open("wb") as out:
            out.write(MAGIC + len(header).to_bytes(_LENGTH_BYTES, "little") + header)
            for entry, values in zip(entries, named.values(), strict=True):
                out.seek(start + entry["offset"])
                out.write(values.data.cast("B"))
            out.truncate(start + offset)
        os.replace(tmp, path)  # readers see no file or the whole file
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        log.info("bundle arrays not cached at %s: %s", path, exc)
        return
    bundle = path.name.rpartition("-")[0]  # the hash holds no "-"; a bundle name may
    for stale in path.parent.glob("*.arrays"):
        if stale != path and stale.name.rpartition("-")[0] == bundle:  # an older content
            stale.unlink(missing_ok=True)


def read_arrays(path: Path, content_hash: str, columns: int) -> CachedArrays | None:
    """The arrays cached at ``path``, mapped copy-on-write; None when there is no file or
    it fails a check (another layout, another bundle content, not ``columns`` assets, a
    bad CRC-32), which is logged."""
    try:
        return _read(path, content_hash, columns)
    except (FileNotFoundError, NotADirectoryError):  # none written (or none can be)
        return None
    except _Unusable as exc:
        log.warning("ignoring the cached bundle arrays %s: %s; decoding the bundle", path, exc)
        return None


class _Unusable(Exception):
    """Why a cache file is not used."""


def _read(path: Path, content_hash: str, columns: int) -> CachedArrays:
    try:
        with path.open("rb") as handle:
            if os.fstat(handle.fileno()).st_size < len(MAGIC) + _LENGTH_BYTES:
                raise _Unusable("it is truncated")
            # ACCESS_COPY: arrays written by a caller change its private copy, not the file
            mapped = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_COPY)
    except (FileNotFoundError, NotADirectoryError):
        raise
    except (OSError, ValueError) as exc:
        raise _Unusable(str(exc)) from exc
    if mapped[: len(MAGIC)] != MAGIC:
        raise _Unusable("it has another layout version")
    length = int.from_bytes(mapped[len(MAGIC) : len(MAGIC) + _LENGTH_BYTES], "little")
    try:
        header = json.loads(mapped[len(MAGIC) + _LENGTH_BYTES :][:length])
        if header["content_hash"] != content_hash:
            raise _Unusable("it holds another content of the bundle")
        if header["columns"] != columns:
            raise _Unusable(f"it has {header['columns']} assets, the bundle {columns}")
        start = _aligned(len(MAGIC) + _LENGTH_BYTES + length)
        arrays: dict[str, npt.NDArray[Any]] = {}
        for entry in header["arrays"]:
            shape = tuple(entry["shape"])
            values = np.frombuffer(
                mapped,
                dtype=np.dtype(entry["dtype"]),
                count=int(np.prod(shape)),
                offset=start + entry["offset"],
            ).reshape(shape)
            if zlib.crc32(values.data) != entry["crc32"]:
                raise _Unusable(f"{entry['name']} fails its CRC-32 check")
            arrays[entry["name"]] = values
        rows = header["rows"]
        ts, days = arrays.pop("ts"), arrays.pop("sessions")
    except (ValueError, KeyError, TypeError) as exc:  # a garbled header or offsets
        raise _Unusable(f"its header is unreadable ({exc})") from exc
    if ts.shape != (rows,) or days.shape != (rows,):
        raise _Unusable("its timeline has the wrong length")
    floats = {k.partition("/")[2]: v for k, v in arrays.items() if k.startswith("floats/")}
    stored = {k.partition("/")[2]: v for k, v in arrays.items() if k.startswith("stored/")}
    if any(v.shape != (rows, columns) for v in (*floats.values(), *stored.values())):
        raise _Unusable("an array has the wrong shape")
    return CachedArrays(ts, days.view("datetime64[D]"), floats, stored)


def _aligned(offset: int) -> int:
    return -(-offset // _ALIGN) * _ALIGN
