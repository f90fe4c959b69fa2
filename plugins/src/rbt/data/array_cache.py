"""A loaded bundle's dense bar arrays, kept in one file that later loads map into memory.

Decoding a bundle's Parquet files into dense ``[bar, asset]`` arrays costs far more
than the files' size suggests: the decoder's buffers and the arrays themselves are
fresh memory, and a fresh page costs a fault (several microseconds on a virtual
machine) before it is first written. A bundle's first load therefore decodes its
arrays straight into ``$RBT_HOME/cache/bundles/<name>-<digest>.arrays``
(:class:`ArrayFile`); later loads map that file copy-on-write instead of decoding: its
pages come from the operating system's file cache, and nothing is copied unless it is
written to.

The file is derived data. It is renamed into place when complete (readers never see a
part of one) but not fsynced, and checked on every read: its layout version, a CRC-32
of its header, the identity it was written for (the bundle's content hash and the
decoder's version), the name, dtype, shape and place of every array, and a CRC-32 of
each. A file that fails a check is not used (the caller decodes the Parquet files again
and writes a new one).

Layout: :data:`MAGIC`, the header's offset and length (8 bytes each, little-endian) and
its CRC-32 (4 bytes); the arrays, each at a 64-byte aligned offset from 64 on (the
timeline, its sessions, the floats, then any stored and kept mantissas); the header last (JSON:
``identity``, ``rows``, ``columns`` and each array's name, dtype, shape, offset and
CRC-32).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import itertools
import json
import logging
import math
import mmap
import os
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt
from zlib_ng.zlib_ng import crc32  # zlib.crc32's values, ≈ 5× faster (SIMD)

__all__ = [
    "MAGIC",
    "ArrayFile",
    "CachedArrays",
    "cache_path",
    "new_array_file",
    "read_arrays",
    "write_arrays",
]

log = logging.getLogger(__name__)

#: The file's first bytes; the digit is the layout version (a new one ignores old files).
MAGIC = b"RBTARRAYS3\n"
_ALIGN = 64
_LENGTH_BYTES = 8
_CRC_BYTES = 4
_PREFIX = len(MAGIC) + 2 * _LENGTH_BYTES + _CRC_BYTES
#: What each array must be: the timeline and sessions (days since 1970) one value per
#: row, the floats and the stored and kept mantissas one per row and column, all
#: little-endian.
_DTYPES = {"ts": "<i8", "sessions": "<i8", "floats": "<f8", "stored": "<i8", "kept": "<i8"}
#: Bundle names longer than this (bytes) are shortened in cache file names (:func:`_stem`).
_LONGEST_NAME = 120
#: A temporary file older than this is a crashed writer's, removed by the next writer.
_STALE_TMP_S = 3600.0


@attrs.frozen(eq=False)
class CachedArrays:
    """The arrays of a bundle that :func:`~rbt.data.bundles.load_bundle` builds from its
    bar files: the timeline, its sessions, each field's floats, the mantissas of the
    fields too large to derive from their floats (``stored``: part of the content), and
    mantissas derived from the floats, kept so that a later load need not derive them
    again (``kept``: a cache of what the floats give)."""

    ts: npt.NDArray[np.int64]
    sessions: npt.NDArray[np.datetime64]
    floats: Mapping[str, npt.NDArray[np.float64]]
    stored: Mapping[str, npt.NDArray[np.int64]]
    kept: Mapping[str, npt.NDArray[np.int64]] = attrs.field(factory=dict)

    @property
    def columns(self) -> int:
        """How many assets (columns) the arrays hold."""
        return next(iter(self.floats.values())).shape[1] if self.floats else 0


def cache_path(cache_dir: Path, bundle: str, identity: str) -> Path:
    """Where bundle ``bundle`` keeps the arrays written for ``identity`` (the content and
    decoder they come from)."""
    digest = hashlib.sha256(identity.encode()).hexdigest()[:32]
    return cache_dir / "bundles" / f"{_stem(bundle)}-{digest}.arrays"


def _stem(bundle: str) -> str:
    """The bundle's part of a cache file name: the name, or for a long one (file names end
    at 255 bytes, and a temporary one adds ~60) its start and a digest of the rest."""
    if len(bundle.encode()) <= _LONGEST_NAME:
        return bundle
    return f"{bundle[:64]}~{hashlib.sha256(bundle.encode()).hexdigest()[:16]}"


class ArrayFile:
    """A cache file being written: its timeline and float arrays are allocated in the file
    (a shared mapping of space reserved on disk) for a decoder to fill in place, so the
    arrays are never also built in memory and copied out; :meth:`publish` then adds the
    rest and renames it into place.

    :raises OSError: when the file cannot be made (a read-only home, a full disk).
    """

    def __init__(self, path: Path, rows: int, columns: int, fields: Sequence[str]) -> None:
        self.path = path
        self._tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
        shapes: dict[str, tuple[int, ...]] = {"ts": (rows,), "sessions": (rows,)}
        shapes.update({f"floats/{f}": (rows, columns) for f in fields})
        self._offsets: dict[str, int] = {}
        end = _ALIGN  # the prefix's block first
        for name, shape in shapes.items():
            self._offsets[name] = end
            end += _aligned(8 * math.prod(shape))
        self._end, self._rows, self._columns, self._fields = end, rows, columns, tuple(fields)
        path.parent.mkdir(parents=True, exist_ok=True)
        if hasattr(os, "statvfs"):
            # room for the file and as much again: a copy-on-write or network file system
            # may need blocks beyond those reserved below when a page is written
            disk = os.statvfs(path.parent)
            if disk.f_bavail * disk.f_frsize < 2 * end:
                raise OSError(errno.ENOSPC, f"less than {2 * end} bytes free", str(path.parent))
        fd = os.open(self._tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            if hasattr(os, "posix_fallocate"):
                # the blocks now: a full disk fails here, not as SIGBUS when a page is filled
                os.posix_fallocate(fd, 0, end)
            else:  # pragma: no cover - not on Linux
                os.ftruncate(fd, end)
            mapped = mmap.mmap(fd, end, access=mmap.ACCESS_WRITE)
        except BaseException:
            os.close(fd)
            self._tmp.unlink(missing_ok=True)
            raise
        os.close(fd)  # the mapping keeps the file
        self._map: mmap.mmap | None = mapped
        self.arrays = {
            name: np.frombuffer(
                mapped, dtype=_DTYPES[name.partition("/")[0]], count=math.prod(shape),
                offset=self._offsets[name],
            ).reshape(shape)
            for name, shape in shapes.items()
        }  # fmt: skip

    @property
    def floats(self) -> dict[str, npt.NDArray[np.float64]]:
        """Each field's float array, to fill."""
        return {f: self.arrays[f"floats/{f}"] for f in self._fields}

    def publish(self, identity: str, arrays: CachedArrays) -> CachedArrays:
        """Complete the file with ``arrays`` (its floats must be :attr:`floats`, filled) and
        rename it into place for ``identity``; return the arrays mapped copy-on-write from
        it, or, when that fails (logged), copies of them in memory."""
        try:
            written = self._publish(identity, arrays)
            # its arrays' CRC-32s were just computed from these pages: not checked again,
            # unless another process's file took the name meanwhile
            mine = os.stat(self.path).st_ino == written
            published = _read(self.path, identity, self._fields, check_arrays=not mine)
        except Exception as exc:
            log.info("bundle arrays not cached at %s: %s", self.path, exc)
            published = CachedArrays(
                arrays.ts.copy(),
                arrays.sessions.copy(),
                {f: v.copy() for f, v in arrays.floats.items()},
                dict(arrays.stored),
                dict(arrays.kept),
            )
            self.discard()
        except BaseException:  # interrupted: no temporary file is left behind
            self.discard()
            raise
        self._drop()
        _remove_stale(self.path)
        return published

    def _drop(self) -> None:
        # the shared mapping is unmapped with its last view: the decoder's arrays, which an
        # exception's traceback may keep (and the file's space with them) for a while
        self.arrays = {}
        self._map = None

    def _publish(self, identity: str, arrays: CachedArrays) -> int:
        """Complete and rename the file; return its inode number."""
        mine = self.arrays
        if any(arrays.floats[f] is not mine[f"floats/{f}"] for f in self._fields):
            raise ValueError("the floats to publish are not this file's")
        mine["ts"][:] = arrays.ts
        mine["sessions"][:] = arrays.sessions.astype("datetime64[D]").view(np.int64)
        named = dict(mine)
        named.update(
            {
                f"{kind}/{f}": np.ascontiguousarray(v, "<i8")
                for kind, mantissas in (("stored", arrays.stored), ("kept", arrays.kept))
                for f, v in mantissas.items()
            }
        )
        end = self._end
        entries: list[dict[str, Any]] = []
        with self._tmp.open("r+b") as out:
            inode = os.fstat(out.fileno()).st_ino
            for name, values in named.items():
                data = _bytes(values)
                offset = self._offsets.get(name)
                if offset is None:  # a stored or kept mantissa array: after the mapped part
                    offset, end = end, end + _aligned(values.nbytes)
                    out.seek(offset)
                    out.write(data)
                entries.append(
                    {
                        "name": name,
                        "dtype": values.dtype.str,
                        "shape": list(values.shape),
                        "offset": offset,
                        "crc32": crc32(data),
                    }
                )
            header = json.dumps(
                {
                    "identity": identity,
                    "rows": self._rows,
                    "columns": self._columns,
                    "arrays": entries,
                },
                sort_keys=True,
            ).encode()
            out.seek(end)
            out.write(header)
            out.truncate(end + len(header))
            out.seek(0)
            out.write(
                MAGIC
                + end.to_bytes(_LENGTH_BYTES, "little")
                + len(header).to_bytes(_LENGTH_BYTES, "little")
                + crc32(header).to_bytes(_CRC_BYTES, "little")
            )
        os.replace(self._tmp, self.path)  # readers see no file or the whole file
        return inode

    def discard(self) -> None:
        """Remove the unfinished file (its arrays stay readable while referenced)."""
        self._drop()
        with contextlib.suppress(OSError):
            self._tmp.unlink(missing_ok=True)


def new_array_file(path: Path, rows: int, columns: int, fields: Sequence[str]) -> ArrayFile | None:
    """An :class:`ArrayFile` at ``path``, or None (logged) when it cannot be made."""
    try:
        return ArrayFile(path, rows, columns, fields)
    except OSError as exc:
        log.info("bundle arrays not cached at %s: %s", path, exc)
        return None


def write_arrays(path: Path, identity: str, arrays: CachedArrays) -> None:
    """Write ``arrays`` to ``path`` atomically, for ``identity`` (what a reader must ask
    for: the bundle's content and the decoder that made the arrays). A failure to write
    (a read-only home, a full disk) is logged and leaves no file behind: the cache is an
    optimization."""
    target = new_array_file(path, len(arrays.ts), arrays.columns, tuple(arrays.floats))
    if target is None:
        return
    floats = target.floats
    for field, values in arrays.floats.items():
        floats[field][:] = values
    target.publish(identity, attrs.evolve(arrays, floats=floats))


def _bytes(values: npt.NDArray[Any]) -> memoryview:
    return values.reshape(-1).view(np.uint8).data  # a flat byte view, empty or not


def _remove_stale(path: Path) -> None:
    """Remove the files of the same bundle for other content, and crashed writers' temporary
    files; one that cannot be removed (mapped by a process, on Windows) stays."""
    bundle = path.name.rpartition("-")[0]  # the digest holds no "-"; a bundle name may
    now = time.time()
    with contextlib.suppress(OSError):  # the folder itself unreadable or gone: nothing to do
        for other in list(path.parent.iterdir()):
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


def _read(
    path: Path, identity: str, fields: Sequence[str], *, check_arrays: bool = True
) -> CachedArrays:
    with path.open("rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        if size < _PREFIX:
            raise _Unusable("it is truncated")
        # ACCESS_COPY: arrays written by a caller change its private copy, not the file
        mapped = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_COPY)
    if mapped[: len(MAGIC)] != MAGIC:
        raise _Unusable("it has another layout version")
    at = len(MAGIC)
    where = int.from_bytes(mapped[at : at + _LENGTH_BYTES], "little")
    length = int.from_bytes(mapped[at + _LENGTH_BYTES : at + 2 * _LENGTH_BYTES], "little")
    crc = int.from_bytes(mapped[at + 2 * _LENGTH_BYTES : _PREFIX], "little")
    text = mapped[where : where + length]  # a copy of the header only
    if len(text) != length or crc32(text) != crc:
        raise _Unusable("its header fails its CRC-32 check")
    header = json.loads(text)
    if header["identity"] != identity:
        raise _Unusable("it was written for another content of the bundle or another decoder")
    rows, columns = header["rows"], header["columns"]
    if not all(type(n) is int and n >= 0 for n in (rows, columns)):
        raise _Unusable(f"its shape {rows!r} x {columns!r} is not two counts")
    arrays: dict[str, npt.NDArray[Any]] = {}
    spans: list[tuple[int, int]] = []
    for entry in header["arrays"]:
        name = entry["name"]
        kind, _, field = name.partition("/")
        if name in ("ts", "sessions"):
            want: tuple[int, ...] = (rows,)
        elif kind in ("floats", "stored", "kept") and field in fields:
            want = (rows, columns)
        else:
            raise _Unusable(f"it holds an unknown array {name!r}")
        if name in arrays or entry["dtype"] != _DTYPES[kind] or tuple(entry["shape"]) != want:
            raise _Unusable(f"array {name!r} is not {_DTYPES[kind]} of shape {want}")
        offset, count = entry["offset"], math.prod(want)
        inside = type(offset) is int and offset >= _PREFIX and offset + count * 8 <= where
        if not inside or offset % _ALIGN:
            raise _Unusable(f"array {name!r} lies outside the file")
        values = np.frombuffer(mapped, dtype=_DTYPES[kind], count=count, offset=offset)
        if check_arrays and crc32(_bytes(values)) != entry["crc32"]:
            raise _Unusable(f"array {name!r} fails its CRC-32 check")
        arrays[name] = values.reshape(want)
        spans.append((offset, offset + count * 8))
    spans.sort()
    if any(end > start for (_, end), (start, _) in itertools.pairwise(spans)):
        raise _Unusable("two of its arrays overlap")
    missing = [n for n in ("ts", "sessions", *(f"floats/{f}" for f in fields)) if n not in arrays]
    if missing:
        raise _Unusable(f"it lacks {', '.join(missing)}")
    return CachedArrays(
        arrays["ts"],
        arrays["sessions"].view("datetime64[D]"),
        {f: arrays[f"floats/{f}"] for f in fields},
        {f: arrays[f"stored/{f}"] for f in fields if f"stored/{f}" in arrays},
        {f: arrays[f"kept/{f}"] for f in fields if f"kept/{f}" in arrays},
    )


def _aligned(offset: int) -> int:
    return -(-offset // _ALIGN) * _ALIGN
