"""Decimal text -> int64 mantissas through float64, when that is provably exact.

The exact path (:func:`rbt.data.exact.text_to_mantissas`) works on the text
itself and is slow on millions of values. This fast path parses each value as
a float64 (polars' parser is correctly rounded) and recovers the decimal from
it. That is exact whenever every text has at most 15 characters and every
mantissa stays below ``10**15``:

* a decimal ``d`` with at most 15 significant digits is the *only* such decimal
  whose nearest double is ``x = float(d)`` (IEEE 754 guarantees 15 digits
  round-trip), so ``d`` has at most ``s`` decimal places exactly when
  ``rint(x * 10**s) / 10**s == x`` (the product is off by far less than 0.5
  below ``10**15``; the quotient of two exact doubles is correctly rounded);
* the mantissa at scale ``s`` is then ``rint(x * 10**s)``.

The values may also come as float64 columns parsed by polars' CSV reader (also
correctly rounded) from fields the caller checked to hold at most ``MAX_TEXT``
characters of number: the same argument applies.

Whenever a condition does not hold (a longer text, an exponent, NaN or
infinity, an empty or unparsable value, more than :data:`~rbt.data.source.MAX_SCALE`
places) the caller falls back to the exact text path, which also words the
error. So this path accepts only input the exact path accepts, with the same
scales and mantissas (a hypothesis test checks that).

.. versionadded:: 0.1
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt
import polars as pl

from rbt.data.runs import run_starts
from rbt.data.source import MAX_SCALE

__all__ = ["MAX_TEXT", "float_mantissas"]

#: Longest text (in bytes) this path takes: 15 characters hold at most 15 digits.
MAX_TEXT = 15
_LIMIT = 10.0**15  # mantissas below this are exact in float64 arithmetic (< 2**53)
_POW10 = 10.0 ** np.arange(MAX_SCALE + 1)


def float_mantissas(
    frame: pl.DataFrame,
    groups: Mapping[str, Sequence[str]],
    symbols: int,
    *,
    check_exponents: bool = True,
) -> tuple[pl.DataFrame, dict[str, npt.NDArray[np.int64]]] | None:
    """Int64 mantissas of the text ``groups`` columns, one scale per symbol and group.

    :param frame: text columns plus ``symbol_index`` (UInt32; rows of a symbol contiguous);
        or float64 columns read from numbers of at most :data:`MAX_TEXT` characters.
    :param groups: columns sharing one scale, e.g. ``{"price": (...), "volume": ("volume",)}``.
    :param symbols: how many symbols ``symbol_index`` counts.
    :param check_exponents: look for ``1e5``-style text (declined: the exact path rejects
        it); callers skip the scan when the raw bytes contain no ``e``.
    :return: ``frame`` with Int64 columns, and per group the scale of each symbol index
        (``-1`` for symbols without rows) — or ``None`` when the fast path does not apply.
    """
    columns = [c for cols in groups.values() for c in cols]
    if all(frame.schema[c] == pl.Float64 for c in columns):
        values = frame.select(columns)  # parsed already, from short numbers
    else:
        lengths = frame.select(pl.col(columns).str.len_bytes().max()).row(0)
        if any(n is None or n > MAX_TEXT for n in lengths):
            return None
        if (
            check_exponents
            and frame.select(pl.any_horizontal(pl.col(columns).str.contains("[eE]").any())).item()
        ):
            return None
        values = frame.select(pl.col(columns).cast(pl.Float64, strict=False))
    if any(values.null_count().row(0)):
        return None
    sym = frame["symbol_index"].to_numpy()
    starts = run_starts(sym)
    runs = np.diff(np.r_[starts, len(sym)])
    out: dict[str, npt.NDArray[np.int64]] = {}
    scales: dict[str, npt.NDArray[np.int64]] = {}
    for group, cols in groups.items():
        arrays = [values[c].to_numpy() for c in cols]
        scale = _run_scales(arrays, starts)
        if scale is None:
            return None
        # one scale for all: multiply by a number, not by a per-row array
        factor = _POW10[scale[0]] if (scale == scale[0]).all() else _POW10[np.repeat(scale, runs)]
        for c, x in zip(cols, arrays, strict=True):
            m = np.rint(x * factor)
            # below the limit the scale test above was exact (see the module doc); NaN and
            # infinity fail here too
            if not (np.abs(m) < _LIMIT).all():
                return None
            out[c] = m.astype(np.int64)
        by_symbol = np.full(symbols, -1, dtype=np.int64)
        by_symbol[sym[starts]] = scale
        scales[group] = by_symbol
    return frame.with_columns(pl.Series(c, out[c]) for c in columns), scales


def _run_scales(
    arrays: Sequence[npt.NDArray[np.float64]], starts: npt.NDArray[np.int64]
) -> npt.NDArray[np.int64] | None:
    """Fewest decimal places that hold every value of each run of rows (see the module doc).

    A run holds its values at ``s`` places, and at every ``s`` above. Usually every run
    needs the same ``s`` (one source, one format): the first run's is tried on all of them
    first, with ``s - 1`` to confirm none needs fewer (two passes instead of ``s + 1``).
    """
    scale = np.full(len(starts), -1, dtype=np.int64)
    if not len(starts):
        return scale
    end = starts[1] if len(starts) > 1 else len(arrays[0])
    first = _run_scales_from_zero([x[:end] for x in arrays], starts[:1])
    if first is not None and len(starts) > 1:
        guess = int(first[0])
        if _exact(arrays, starts, guess).all() and not (
            guess and _exact(arrays, starts, guess - 1).any()
        ):
            scale[:] = guess
            return scale
    return _run_scales_from_zero(arrays, starts) if len(starts) > 1 else first


def _run_scales_from_zero(
    arrays: Sequence[npt.NDArray[np.float64]], starts: npt.NDArray[np.int64]
) -> npt.NDArray[np.int64] | None:
    scale = np.full(len(starts), -1, dtype=np.int64)
    for s in range(MAX_SCALE + 1):
        done = _exact(arrays, starts, s) & (scale < 0)
        scale[done] = s
        if (scale >= 0).all():
            return scale
    return None  # more than MAX_SCALE places, or too many digits: the exact path explains


def _exact(
    arrays: Sequence[npt.NDArray[np.float64]], starts: npt.NDArray[np.int64], s: int
) -> npt.NDArray[np.bool_]:
    """Whether every value of each run is held at ``s`` decimal places."""
    p = _POW10[s]
    work = np.empty_like(arrays[0])
    exact = np.ones(len(work), dtype=np.bool_)
    same = np.empty(len(work), dtype=np.bool_)
    for x in arrays:
        np.multiply(x, p, out=work)
        np.rint(work, out=work)
        np.divide(work, p, out=work)
        exact &= np.equal(work, x, out=same)
    return np.logical_and.reduceat(exact, starts)
