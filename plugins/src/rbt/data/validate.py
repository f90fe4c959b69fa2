"""Validation of bars at ingest: one set of rules for every source.

Rules (design.md §2.3): prices are positive; ``high >= low``,
``high >= max(open, close)``, ``low <= min(open, close)``; volume is not
negative; timestamps of one symbol are sorted and unique; daily bars fall on
the calendar's sessions; intraday bars end on a whole minute. The first
offending row rejects the whole ingest with a
:class:`~rbt.kernel.errors.SchemaError` naming the origin (file), the line (or
row) and the field, what was found and what was expected.

Checks compare int64 mantissas (the prices of one symbol share one scale), so
they are exact, and run vectorized over many symbols at once.

.. versionadded:: 0.1
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import numpy as np
import numpy.typing as npt
import polars as pl

from rbt.data.source import LINE_COLUMN, BarBatch
from rbt.kernel.clock import Frequency
from rbt.kernel.errors import SchemaError
from rbt.kernel.numeric import EXACT_CONTEXT

__all__ = ["check_batch", "check_sessions", "row_error", "where"]

_NS_PER_MINUTE = 60_000_000_000


def where(origin: str, frame: pl.DataFrame, row: int) -> str:
    """``"<origin>, line N"`` (or ``row N`` for sources without line numbers)."""
    if LINE_COLUMN in frame.columns:
        return f"{origin}, line {frame[LINE_COLUMN][row]}"
    if "symbol_index" in frame.columns:  # row within the symbol's own rows
        sym = frame["symbol_index"]
        first = int(np.argmax(sym.to_numpy() == sym[row]))
        return f"{origin}, row {row - first + 1}"
    return f"{origin}, row {row + 1}"


def row_error(origin: str, frame: pl.DataFrame, row: int, field: str, problem: str) -> SchemaError:
    """A :class:`SchemaError` located at ``row`` of ``frame`` and naming ``field``."""
    return SchemaError(f"{where(origin, frame, row)}, field {field!r}: {problem}")


def _first(mask: pl.Series | npt.NDArray[np.bool_]) -> int | None:
    values = mask.to_numpy() if isinstance(mask, pl.Series) else mask
    hits = np.flatnonzero(values)
    return int(hits[0]) if hits.size else None


def check_batch(batch: BarBatch) -> None:
    """Check every symbol's bars in ``batch``; raise on the first bad row.

    :raises SchemaError: naming origin, line and field of the first bad row.
    """
    frame = batch.frame
    present = set(frame["symbol_index"].unique().to_list())
    for i, symbol in enumerate(batch.symbols):
        if i not in present:
            raise SchemaError(
                f"{batch.origins[i]}: no bars for {symbol}; expected at least one data row"
            )
    o, h, lo, c, v = (pl.col(n) for n in ("open", "high", "low", "close", "volume"))
    ts, sym = pl.col("ts"), pl.col("symbol_index")
    same = sym == sym.shift(1)
    masks = frame.select(
        order=(ts <= ts.shift(1)) & same,
        open=o <= 0,
        high=h <= 0,
        low=lo <= 0,
        close=c <= 0,
        high_low=h < lo,
        high_oc=h < pl.max_horizontal(o, c),
        low_oc=lo > pl.min_horizontal(o, c),
        volume=v < 0,
    )
    if not masks.select(pl.any_horizontal(pl.all().any())).item():
        return

    def origin(row: int) -> str:
        return batch.origins[int(frame["symbol_index"][row])]

    def value(row: int, field: str) -> str:
        index = frame["symbol_index"][row]
        scale = (batch.volume_scales if field == "volume" else batch.price_scales)[index]
        return str(Decimal(int(frame[field][row])).scaleb(-scale, EXACT_CONTEXT))

    # One message per row, in the order a reader fixes a file: time, then fields.
    problems: list[tuple[int, str, str]] = []
    row = _first(masks["order"])
    if row is not None:
        now, before = frame["ts"][row], frame["ts"][row - 1]
        previous = where(origin(row), frame, row - 1).rsplit(", ", 1)[-1]
        if now == before:
            problems.append(
                (
                    row,
                    "ts",
                    f"duplicate timestamp {now} (also at {previous}); "
                    "expected one bar per timestamp",
                )
            )
        else:
            problems.append(
                (
                    row,
                    "ts",
                    f"timestamp {now} is before {before} at {previous}; "
                    "expected rows sorted by time, oldest first",
                )
            )
    for field in ("open", "high", "low", "close"):
        row = _first(masks[field])
        if row is not None:
            problems.append(
                (row, field, f"price {value(row, field)} is not positive; expected a price > 0")
            )
    row = _first(masks["high_low"])
    if row is not None:
        problems.append(
            (
                row,
                "high",
                f"high {value(row, 'high')} is below low {value(row, 'low')}; expected high >= low",
            )
        )
    row = _first(masks["high_oc"])
    if row is not None:
        problems.append(
            (
                row,
                "high",
                f"high {value(row, 'high')} is below open "
                f"{value(row, 'open')} or close {value(row, 'close')}; "
                "expected high >= max(open, close)",
            )
        )
    row = _first(masks["low_oc"])
    if row is not None:
        problems.append(
            (
                row,
                "low",
                f"low {value(row, 'low')} is above open "
                f"{value(row, 'open')} or close {value(row, 'close')}; "
                "expected low <= min(open, close)",
            )
        )
    row = _first(masks["volume"])
    if row is not None:
        problems.append(
            (row, "volume", f"volume {value(row, 'volume')} is negative; expected volume >= 0")
        )
    row, field, problem = min(problems, key=lambda p: p[0])  # the earliest row wins
    raise row_error(origin(row), frame, row, field, problem)


def check_sessions(
    batch: BarBatch, frequency: Frequency, sessions: Sequence[object], calendar: str
) -> None:
    """Check daily bars fall on ``sessions``, intraday bars end on a whole minute.

    :param sessions: the calendar's sessions (``datetime.date``) spanning the batch.
    :raises SchemaError: naming the first offending bar's line and date.
    """
    frame = batch.frame
    if frequency is Frequency.DAILY:
        known = np.array(sessions, dtype="datetime64[D]")
        days = frame["ts"].to_numpy().astype("datetime64[D]")
        at = np.minimum(np.searchsorted(known, days), max(len(known) - 1, 0))
        row = _first(known[at] != days if len(known) else np.ones(len(days), dtype=bool))
        if row is not None:
            day = frame["ts"][row]
            raise row_error(
                batch.origins[frame["symbol_index"][row]],
                frame,
                row,
                "ts",
                f"{day} ({day:%A}) is not a {calendar} session; expected daily bars on trading "
                "sessions only (choose the calendar with the 'calendar' option)",
            )
        return
    ns = frame["ts"].to_physical().to_numpy()
    row = _first(ns % _NS_PER_MINUTE != 0)
    if row is not None:
        raise row_error(
            batch.origins[frame["symbol_index"][row]],
            frame,
            row,
            "ts",
            f"{frame['ts'][row]} does not end on a whole minute; expected minute-aligned bars",
        )
