"""pandas frames for the per-bar and per-session hot paths, built from their blocks.

``pd.DataFrame(...)`` and ``pd.Index(...)`` check and infer what they are given; for
arrays the caller shaped itself (a history window, a pipeline's columns for one session)
that is most of the cost of a small frame. Here the same frames are built through
pandas' block API (the one pyarrow builds frames with): one block per dtype, the axes as
given. Without that API (another pandas), under copy-on-write, or for input the fast
path does not cover, the public constructors build them, so the result is the same
object either way: equal frames, the same dtypes and blocks, the same errors.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from importlib import import_module
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["ColumnFrames", "object_index", "owned", "window_frame"]


class _BlockApi:
    """pandas' block constructors (``usable`` is False where this pandas has none)."""

    def __init__(self) -> None:
        import pandas as pd

        self.pd = pd
        self.usable = False
        if not pd.__version__.startswith("2."):  # pragma: no cover - pandas 3: copy-on-write only
            return
        # internals, typed Any: pandas-stubs describe only the public API
        frame_class: Any = pd.DataFrame
        index_class: Any = pd.Index
        try:
            self.copy_on_write: Callable[[], bool] = import_module(
                "pandas._config"
            ).using_copy_on_write
            self.placement = import_module("pandas._libs.internals").BlockPlacement
            self.manager = import_module("pandas.core.internals").BlockManager
            self.block = import_module("pandas.core.internals.api").make_block
            self.from_mgr = frame_class._from_mgr
            self.simple_index = index_class._simple_new
        except (ImportError, AttributeError):  # pragma: no cover - another pandas layout
            return
        self._spans: dict[int, Any] = {}
        self.usable = True

    def span(self, n: int) -> Any:
        """The placement of a block holding columns ``0 .. n-1`` (one per width, reused)."""
        placement = self._spans.get(n)
        if placement is None:
            placement = self._spans[n] = self.placement(slice(0, n))
        return placement

    def frame(self, blocks: tuple[Any, ...], columns: Any, index: Any) -> Any:
        manager = self.manager(blocks, [columns, index], verify_integrity=False)
        return self.from_mgr(manager, axes=manager.axes)


_API: _BlockApi | None = None


def _api() -> _BlockApi:
    global _API
    if _API is None:
        _API = _BlockApi()
    return _API


def owned(values: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """``values`` for a frame the caller may write to: a copy when it is read-only (a view
    of the bars), itself otherwise (already a private copy)."""
    return values if values.flags.writeable else values.copy()


def window_frame(values: npt.NDArray[np.float64], index: Any, columns: Any) -> Any:
    """``pd.DataFrame(values, index=index, columns=columns)`` for a 2-D float window: one
    block over ``values`` (the constructor's checks and inference are ≈ 5 of a pandas
    history call's ≈ 25 µs on 100 assets). The frame is the caller's to write to: a
    read-only ``values`` (a view of the bars) is copied into the block; under
    copy-on-write the constructor copies it and builds the frame."""
    api = _api()
    if (
        not api.usable
        or values.dtype != np.float64
        or values.ndim != 2
        or len(columns) != values.shape[1]
        or len(index) != values.shape[0]
        or api.copy_on_write()
    ):
        return api.pd.DataFrame(values, index=index, columns=columns)  # it says what is wrong
    values = owned(values)
    block = api.block(values.T, placement=api.span(values.shape[1]), ndim=2)
    return api.frame((block,), columns, index)


def object_index(values: Sequence[Any]) -> Any:
    """``pd.Index(list(values), dtype=object)`` (assets as labels) without inferring a type
    the labels cannot have (≈ 2 µs instead of ≈ 15)."""
    api = _api()
    labels = np.empty(len(values), dtype=object)
    labels[:] = values
    if not api.usable:
        return api.pd.Index(labels, dtype=object)
    return api.simple_index(labels)


class ColumnFrames:
    """Frames of the same named columns, one equal-length array each, built as
    ``pd.DataFrame(dict(zip(names, arrays)), index=index)`` builds them: the arrays
    copied, one block per dtype (≈ 25 µs instead of ≈ 90 for five short columns).

    :param names: the column names, in order.
    :param dtypes: each column's numpy dtype (float64, int64, bool or object).
    """

    _SIMPLE = frozenset({np.dtype(np.float64), np.dtype(np.int64), np.dtype(np.bool_)})

    def __init__(self, names: Sequence[str], dtypes: Sequence[np.dtype[Any]]) -> None:
        api = _api()
        self._names = list(names)
        self._dtypes = list(dtypes)
        groups: dict[np.dtype[Any], list[int]] = {}
        for i, dtype in enumerate(self._dtypes):
            groups.setdefault(dtype, []).append(i)
        self._fast = api.usable and all(
            dtype in self._SIMPLE or dtype == np.dtype(object) for dtype in groups
        )
        if self._fast:
            self._columns = api.pd.Index(self._names)
            self._plan = [
                (indices, api.placement(np.array(indices, dtype=np.intp)))
                for indices in groups.values()
            ]

    def build(self, arrays: Sequence[npt.NDArray[Any]], index: Any) -> Any:
        """The frame of ``arrays`` (one per name, each ``len(index)`` long) over ``index``."""
        api = _api()
        if (
            not self._fast
            or api.copy_on_write()
            or len(arrays) != len(self._names)
            or any(
                a.dtype != d or a.ndim != 1 or len(a) != len(index)
                for a, d in zip(arrays, self._dtypes, strict=True)
            )
        ):
            return api.pd.DataFrame(dict(zip(self._names, arrays, strict=True)), index=index)
        blocks = tuple(
            api.block(np.stack([arrays[i] for i in indices]), placement=placement, ndim=2)
            for indices, placement in self._plan
        )
        return api.frame(blocks, self._columns.view(), index)
