"""Exact numbers in frames: decimal text or ``pl.Decimal`` -> int64 mantissas, and back.

A stored value is ``mantissa / 10**scale`` with an int64 mantissa. Text is
never parsed through a float: each file's scale is detected from the text
itself (most fractional digits) and the text is then cast to ``pl.Decimal``
with at least that scale — casting with a smaller scale would round silently.

.. versionadded:: 0.1
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal

import numpy as np
import numpy.typing as npt
import polars as pl

from rbt.data.source import MAX_SCALE
from rbt.data.validate import row_error
from rbt.kernel.errors import SchemaError

__all__ = ["from_mantissas", "text_to_mantissas", "to_mantissas"]

_HINT = "expected a plain decimal number like 123.45 (no NaN, exponent or thousands separator)"


def text_to_mantissas(
    frame: pl.DataFrame,
    groups: Mapping[str, Sequence[str]],
    origins: Sequence[str],
    *,
    check_exponents: bool = True,
) -> tuple[pl.DataFrame, dict[str, npt.NDArray[np.int64]]]:
    """Turn decimal-text columns into int64 mantissas with one scale per symbol and group.

    :param frame: text columns plus ``symbol_index`` (rows of a symbol contiguous).
    :param groups: columns sharing one scale, e.g. ``{"price": (open, high, low,
        close), "volume": ("volume",)}``.
    :param origins: file of each symbol index, for messages.
    :param check_exponents: look for ``1e5``-style text (which ``pl.Decimal``
        would accept and possibly round); callers skip it when the raw bytes
        contain no ``e``.
    :return: the frame with Int64 columns, and per group the scale of each
        symbol index (``-1`` for symbols without rows).
    :raises SchemaError: naming file, line and field of the first bad value.
    """
    columns = [c for cols in groups.values() for c in cols]
    if check_exponents:
        _reject_exponents(frame, columns, origins)
    try:
        return _convert(frame, groups, origins)
    except SchemaError:
        # Blanks around values are rare: strip only when a conversion failed, then retry.
        stripped = frame.with_columns(pl.col(columns).str.strip_chars())
        return _convert(stripped, groups, origins)


def _convert(
    frame: pl.DataFrame, groups: Mapping[str, Sequence[str]], origins: Sequence[str]
) -> tuple[pl.DataFrame, dict[str, npt.NDArray[np.int64]]]:
    # Decimal places of each value: characters after the dot, trailing zeros not
    # counted ("1.50" has one), 0 without a dot. Counting the zeros would cast at a
    # needlessly large scale, where a big value no longer fits the int64 mantissa.
    frac = {c: _places(pl.col(c)) for cols in groups.values() for c in cols}
    row_frac = frame.select(
        "symbol_index",
        *(pl.max_horizontal(frac[c] for c in cols).alias(g) for g, cols in groups.items()),
    )
    per_file = row_frac.group_by("symbol_index", maintain_order=True).max()
    scales: dict[str, npt.NDArray[np.int64]] = {}
    for group, cols in groups.items():
        if per_file[group].max() > MAX_SCALE:  # type: ignore[operator]
            significant = _significant(frame, cols, row_frac[group].to_numpy(), origins)
            row_frac = row_frac.with_columns(pl.Series(group, significant))
            per_file = row_frac.group_by("symbol_index", maintain_order=True).max()
        by_symbol = np.full(len(origins), -1, dtype=np.int64)
        by_symbol[per_file["symbol_index"].to_numpy()] = per_file[group].to_numpy()
        scales[group] = by_symbol
    top = {g: max(int(scales[g].max()), 0) for g in groups}
    # One parallel pass: text -> Decimal(38, top scale) -> int64 mantissa (null: bad or too big).
    cast = frame.select(
        pl.col(c)
        .cast(pl.Decimal(38, top[g]), strict=False)
        .to_physical()
        .cast(pl.Int64, strict=False)
        for g, cols in groups.items()
        for c in cols
    )
    if any(cast.null_count().row(0)):
        _explain_null(frame, cast, top, groups, origins)
    lower = []
    for group, cols in groups.items():
        shift = np.maximum(top[group] - scales[group], 0)
        if shift.any():  # lower each file to its own scale: exact, its extra digits are 0
            factor = pl.Series(10**shift, dtype=pl.Int64).gather(frame["symbol_index"])
            lower += [(pl.col(c) // factor).alias(c) for c in cols]
    if lower:
        cast = cast.with_columns(lower)
    cast = _strip_trailing_zeros(cast, frame["symbol_index"], groups, scales)
    return frame.with_columns(cast), scales


def _places(text: pl.Expr) -> pl.Expr:
    significant = (
        pl.when(text.str.contains(".", literal=True))
        .then(text.str.strip_chars_end("0"))
        .otherwise(text)
    )
    dot = significant.str.find(".", literal=True)
    return (significant.str.len_bytes().cast(pl.Int32) - dot - 1).fill_null(0)


def _strip_trailing_zeros(
    cast: pl.DataFrame,
    symbol_index: pl.Series,
    groups: Mapping[str, Sequence[str]],
    scales: dict[str, npt.NDArray[np.int64]],
) -> pl.DataFrame:
    # Trailing zeros do not count as decimal places ("1.50" has one): lower each
    # file's scale while every one of its values is a multiple of 10. Done on the
    # int64 mantissas (cheaper than on text); usually one pass settles every file.
    lower = []
    for group, cols in groups.items():
        zeros = np.zeros(len(scales[group]), dtype=np.int64)
        candidates = scales[group] > 0
        k = 0
        while candidates.any():
            k += 1
            divisible = (
                cast.select(
                    symbol_index,
                    pl.all_horizontal((pl.col(c) % 10**k) == 0 for c in cols).alias("d"),
                )
                .group_by("symbol_index")
                .agg(pl.col("d").all())
            )
            ok = np.zeros(len(zeros), dtype=bool)
            ok[divisible["symbol_index"].to_numpy()] = divisible["d"].to_numpy()
            candidates &= ok
            zeros[candidates] = k
            candidates &= scales[group] > k
        if zeros.any():
            scales[group] = scales[group] - zeros
            factor = pl.Series(10**zeros, dtype=pl.Int64).gather(symbol_index)
            lower += [(pl.col(c) // factor).alias(c) for c in cols]
    return cast.with_columns(lower) if lower else cast


def _reject_exponents(frame: pl.DataFrame, columns: Sequence[str], origins: Sequence[str]) -> None:
    for c in columns:
        mask = frame[c].str.contains("[eE]").fill_null(False).to_numpy()
        if mask.any():
            row = int(np.argmax(mask))
            origin = origins[frame["symbol_index"][row]]
            raise row_error(origin, frame, row, c, f"{frame[c][row]!r} is not a number; {_HINT}")


def _significant(
    frame: pl.DataFrame,
    cols: Sequence[str],
    row_frac: npt.NDArray[np.int64],
    origins: Sequence[str],
) -> npt.NDArray[np.int64]:
    # Slow path, only for text with more than MAX_SCALE decimals: trailing zeros
    # do not count ("1.50000000000" has one decimal place).
    row_frac = row_frac.copy()
    for row in np.flatnonzero(row_frac > MAX_SCALE).tolist():
        digits = 0
        for c in cols:
            text = frame[c][row] or ""
            fraction = text.partition(".")[2].rstrip("0")
            if len(fraction) > MAX_SCALE:
                origin = origins[frame["symbol_index"][row]]
                raise row_error(
                    origin,
                    frame,
                    row,
                    c,
                    f"{text!r} has {len(fraction)} decimal places; at most {MAX_SCALE} are "
                    "supported (round the input: nothing is rounded silently)",
                )
            digits = max(digits, len(fraction))
        row_frac[row] = digits
    return row_frac


def _explain_null(
    frame: pl.DataFrame,
    cast: pl.DataFrame,
    top: Mapping[str, int],
    groups: Mapping[str, Sequence[str]],
    origins: Sequence[str],
) -> None:
    rows = [
        (int(np.argmax(cast[c].is_null().to_numpy())), c, g)
        for g, cols in groups.items()
        for c in cols
        if cast[c].has_nulls()
    ]
    row, column, group = min(rows)
    origin = origins[frame["symbol_index"][row]]
    text = frame[column][row]
    if text is None or text == "":
        problem = f"value is empty; {_HINT}"
    elif frame[column][row : row + 1].cast(pl.Decimal(38, top[group]), strict=False)[0] is None:
        problem = f"{text!r} is not a number; {_HINT}"
    else:
        problem = (
            f"{text!r} is too large to store exactly with {top[group]} decimal places; "
            "expected at most 18 digits in all"
        )
    raise row_error(origin, frame, row, column, problem)


def to_mantissas(
    frame: pl.DataFrame, columns: Sequence[str], origin: str
) -> tuple[pl.DataFrame, int]:
    """Replace exact ``columns`` (``pl.Decimal`` or integer) with int64 mantissas on one scale.

    :return: the frame and the common scale (the largest of the columns').
    :raises SchemaError: for a float column, a scale above
        :data:`~rbt.data.source.MAX_SCALE`, a missing value or one too large for int64.
    """
    scale = 0
    for name in columns:
        dtype = frame.schema[name]
        if isinstance(dtype, pl.Decimal):
            scale = max(scale, dtype.scale)
        elif not dtype.is_integer():
            raise SchemaError(
                f"{origin}: column {name!r} has dtype {dtype}; expected pl.Decimal or an "
                "integer (floats cannot hold every price exactly)"
            )
    if scale > MAX_SCALE:
        raise SchemaError(
            f"{origin}: columns {', '.join(columns)} have {scale} decimal "
            f"places; at most {MAX_SCALE} are supported"
        )
    out = []
    for name in columns:
        # Raising the scale of a Decimal or an integer is exact; its physical value is the mantissa.
        mantissa = (
            frame[name].cast(pl.Decimal(38, scale)).to_physical().cast(pl.Int64, strict=False)
        )
        if mantissa.has_nulls():
            row = int(np.argmax(mantissa.is_null().to_numpy()))
            value = frame[name][row]
            problem = (
                "value is missing; expected a number"
                if value is None
                else f"{value} is too large to store with {scale} decimal places"
            )
            raise row_error(origin, frame, row, name, problem)
        out.append(mantissa)
    return frame.with_columns(out), scale


def from_mantissas(mantissas: npt.ArrayLike, scale: int, name: str = "") -> pl.Series:
    """A ``pl.Decimal(38, scale)`` series with values ``mantissas / 10**scale``, exactly."""
    ints = pl.Series(name, np.asarray(mantissas, dtype=np.int64)).cast(pl.Decimal(38, 0))
    if scale == 0:
        return ints
    # Decimal × Decimal adds the scales: (scale 0) × 10**-scale (scale ``scale``) is exact.
    return (ints * pl.Series([Decimal(1).scaleb(-scale)], dtype=pl.Decimal(38, scale))).alias(name)
