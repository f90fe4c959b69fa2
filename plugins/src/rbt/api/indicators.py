"""Precomputed indicators: computed once over the whole run, read point in time per bar.

The idiom of backtesting.py's ``I()``: a vectorized function turns a bar field of
the whole bundle (``float64[bars, assets]``, NaN where an asset has no bar) into
an indicator array of the same shape, once, in ``initialize``; every bar then
reads its own row, which costs an array view instead of a window and a sum::

    from rbt.api import order, symbols
    from rbt.api.indicators import indicator, sma

    def initialize(context):
        context.assets = symbols("AAA", "BBB")
        context.fast = indicator(sma, "close", context.assets, 10)

    def handle_data(context, data):
        fast = context.fast.current  # float64[n_assets] at this bar (read-only)

Point in time: ``current`` and ``window`` only return rows up to the cursor. The
function itself must be *causal* (row t computed from rows <= t only, as rolling
means, EMAs and cumulative sums are); ``indicator`` checks that by recomputing on
a prefix of the data and refuses a function whose values there change (lookahead).
The bars are as stored (not adjusted for splits or dividends): with corporate
actions in the bundle, use ``data.history``, whose windows are adjusted.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from rbt.kernel.errors import RbtError
from rbt.kernel.model import Asset

__all__ = ["Indicator", "indicator", "sma"]

Array = npt.NDArray[np.float64]


class Indicator:
    """A precomputed ``float64[bars, assets]`` array read at the portal's cursor."""

    __slots__ = ("_current", "_nan", "_portal", "name", "values")

    def __init__(self, values: Array, portal: Any, name: str) -> None:
        values.flags.writeable = False
        self.values = values
        self.name = name
        self._portal = portal
        self._nan = np.full(values.shape[1:], np.nan)
        self._nan.flags.writeable = False
        self._current: tuple[int, Array] = (-1, self._nan)  # the last row read, and its view

    @property
    def current(self) -> Array:
        """The row at the current bar (NaN before the first bar): a read-only view, the
        same object for every read within a bar."""
        row = self._portal.row
        cached = self._current
        if cached[0] == row:  # read several times per bar: one view per bar
            return cached[1]
        view = self.values[row] if row >= 0 else self._nan
        self._current = (row, view)
        return view

    def window(self, bar_count: int) -> Array:
        """The last ``bar_count`` rows up to the current bar, NaN-padded before the first."""
        if bar_count < 1:
            raise ValueError(f"bar_count must be at least 1, got {bar_count}")
        end = self._portal.row + 1
        start = end - bar_count
        if start >= 0:
            return self.values[start:end]
        pad = np.full((-start, *self.values.shape[1:]), np.nan)
        return np.concatenate([pad, self.values[: max(end, 0)]])

    def __repr__(self) -> str:
        return f"Indicator({self.name}, shape={self.values.shape})"


def indicator(
    func: Callable[..., Any],
    field: str,
    assets: Asset | Sequence[Asset],
    *args: Any,
    name: str | None = None,
    check_causal: bool = True,
    **kwargs: Any,
) -> Indicator:
    """Compute ``func(bars, *args, **kwargs)`` once over ``field`` of ``assets``.

    ``bars`` is ``float64[bars, len(assets)]`` (``[bars]`` for a single asset) of the
    whole bundle; ``func`` returns an array of that shape. Call it from ``initialize``.

    :raises RbtError: outside a running algorithm, for a result of the wrong shape, or
        when ``func`` looks ahead (its values on a prefix differ from the full run's).
    """
    from rbt.api.engine import current_engine

    portal = current_engine().portal
    single = isinstance(assets, Asset)
    asset_list: Sequence[Asset] = [assets] if isinstance(assets, Asset) else assets
    cols = np.array([portal.bars.column(a) for a in asset_list], dtype=np.intp)
    data = portal._field(field)[:, cols]
    label = name or getattr(func, "__name__", "indicator")

    def compute(bars: Array) -> Array:
        out = np.asarray(func(bars[:, 0] if single else bars, *args, **kwargs), dtype=np.float64)
        out = out.reshape(len(bars), 1) if single and out.ndim == 1 else out
        if out.shape != bars.shape:
            raise RbtError(
                f"indicator {label!r}: expected an array of shape "
                f"{bars.shape[0] if single else bars.shape}, got {out.shape}"
            )
        return out

    values = compute(data)
    if check_causal and len(data) > 1:
        cut = len(data) // 2
        prefix = compute(data[:cut])
        if not np.array_equal(prefix, values[:cut], equal_nan=True):
            raise RbtError(
                f"indicator {label!r} looks ahead: its first {cut} rows change when the "
                "later bars are removed (row t may only use bars up to t)"
            )
    return Indicator(values[:, 0] if single else values, portal, label)


def sma(values: Array, k: int) -> Array:
    """Simple moving average over ``k`` bars along axis 0 (NaN for the first ``k - 1`` rows):
    the sum of the window divided by ``k``, from running sums."""
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    sums = np.cumsum(values, axis=0)
    out = np.full(values.shape, np.nan)
    if len(values) >= k:
        window = sums[k - 1 :].copy()
        window[1:] -= sums[: len(values) - k]
        out[k - 1 :] = window / k
    return out
