"""FIFO matching of a transactions frame in integer arrays (no Python loop per fill).

The same matching as :func:`rbt.analytics.trades.round_trips_by_fill` (see
:mod:`rbt.analytics.trades` for the definition), computed on the exact integer mantissas of
the frame's Decimal columns:

1. fills in time order (the frame's order on ties), zero amounts dropped;
2. per asset, the position before each fill splits it into a *closing* part (up to the
   open position, when the fill goes the other way) and an *opening* part (the rest);
3. per asset and direction, the opening parts laid end to end cover ``[0, opened)`` in
   cumulative quantity, the closing parts cover ``[0, closed)``: first in, first out means
   that closed unit ``u`` is opened unit ``u``. Every position returns to zero before it
   changes direction, so one line per (asset, direction) holds across every episode;
4. a round trip is a non-empty overlap of a closing part with an opening part, in the
   order the closing fills happen (the lots of one fill oldest first).

:func:`fifo_matches` returns None when the frame does not qualify (dict rows, amounts or
prices that are not Decimal or integer columns, nulls, values that could overflow 63 bits):
the caller then takes the fill-by-fill definition.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    import polars as pl

__all__ = ["FifoMatches", "fifo_matches", "fits_sums"]

Ints = npt.NDArray[np.int64]

#: Sums and products of mantissas stay below this (exact in int64, with a margin).
_LIMIT = 2**62
_NS_PER_DAY = 86_400 * 1_000_000_000


class FifoMatches:
    """The round trips of a frame as arrays, one element per round trip, in closing order.

    :param frame: the transactions frame.
    :param entry: row (in ``frame``) of the fill that opened the lot.
    :param exit: row of the fill that closed it.
    :param sign: +1 for a long round trip, -1 for a short one.
    :param matched: matched quantity, as a mantissa of the amount column's scale.
    :param lot_left: what the lot still held before this match (same scale).
    :param fill_left: what the closing fill still had to trade before this match.
    :param lot_size: the lot's quantity when it was opened.
    :param lot_after_close: the lot is the rest of a fill that first closed a position.
    :param fill_size: the closing fill's whole quantity.
    :param columns: per-row mantissas of ``amount``, ``price``, ``commission`` and
        ``multiplier`` (0 and null multipliers read as 1, as the definition does) and ``ts``.
    :param scales: decimal scale of each of those columns.
    """

    __slots__ = (
        "columns",
        "entry",
        "exit",
        "fill_left",
        "fill_size",
        "frame",
        "lot_after_close",
        "lot_left",
        "lot_size",
        "matched",
        "scales",
        "sign",
    )

    def __init__(
        self,
        frame: pl.DataFrame,
        entry: Ints,
        exit: Ints,
        sign: Ints,
        matched: Ints,
        lot_left: Ints,
        fill_left: Ints,
        lot_size: Ints,
        lot_after_close: npt.NDArray[np.bool_],
        fill_size: Ints,
        columns: dict[str, Ints],
        scales: dict[str, int],
    ) -> None:
        self.frame = frame
        self.entry = entry
        self.exit = exit
        self.sign = sign
        self.matched = matched
        self.lot_left = lot_left
        self.fill_left = fill_left
        self.lot_size = lot_size
        self.lot_after_close = lot_after_close
        self.fill_size = fill_size
        self.columns = columns
        self.scales = scales

    def __len__(self) -> int:
        return len(self.entry)

    @property
    def free(self) -> bool:
        """True when no fill pays a commission (every round trip's fees are zero)."""
        return not self.columns["commission"].any()

    def pnl_mantissas(self) -> Ints | None:
        """``direction × (exit − entry price) × quantity × multiplier`` of each round trip,
        before fees, as exact integers at scale :attr:`pnl_scale`; None when a product or
        the sum of them all might not fit in 63 bits."""
        price = self.columns["price"]
        if len(price) and _magnitude(price) >= _LIMIT // 2:  # a difference might not fit
            return None
        move = self.sign * (price[self.exit] - price[self.entry])
        multiplier = self.columns["multiplier"][self.exit]
        bound = 1
        for factor in (move, self.matched, multiplier):
            bound *= _magnitude(factor) if len(factor) else 0
        if bound >= _LIMIT:  # a product might not fit
            return None
        out: Ints = move * self.matched * multiplier
        return out if fits_sums(out) else None

    def holding_days(self) -> list[float]:
        """Time held of each round trip, in days (24 h), as ``int / int`` gives it."""
        ts = self.columns["ts"]
        held = ts[self.exit] - ts[self.entry]
        if len(held) and int(np.abs(held).max()) > 2**53:  # not exact as a float64
            return [h / _NS_PER_DAY for h in held.tolist()]
        # exact operands: the division is correctly rounded, as Python's int / int is
        days: list[float] = (held.astype(np.float64) / float(_NS_PER_DAY)).tolist()
        return days

    @property
    def pnl_scale(self) -> int:
        """Decimal scale of :meth:`pnl_mantissas`."""
        return self.scales["price"] + self.scales["amount"] + self.scales["multiplier"]


def fits_sums(values: Ints) -> bool:
    """Every sum of a subset of ``values`` is exact in int64 (with a wide margin: the
    float64 estimate of Σ|v| is far below 2**63)."""
    return float(np.abs(values.astype(np.float64)).sum()) < 2.0**61


def _mantissas(frame: pl.DataFrame, name: str) -> tuple[Ints, int] | None:
    """A Decimal or integer column as int64 mantissas and its scale; None for other types,
    nulls or values beyond int64."""
    import polars as pl

    column = frame.get_column(name)
    dtype = column.dtype
    if isinstance(dtype, pl.Decimal):
        scale = int(dtype.scale or 0)
        physical = column.to_physical()
    elif dtype.is_integer():
        scale, physical = 0, column
    else:
        return None
    if physical.null_count():
        return None
    try:
        values = physical.cast(pl.Int64, strict=True).to_numpy()
    except pl.exceptions.InvalidOperationError:  # beyond int64
        return None
    return np.ascontiguousarray(values, dtype=np.int64), scale


def _magnitude(values: Ints) -> int:
    """Largest absolute value, as a Python int (``np.abs`` wraps at -2**63)."""
    return max(int(values.max()), -int(values.min()))


def _group_starts(keys: Ints) -> npt.NDArray[np.bool_]:
    """True where a run of equal keys starts (keys sorted)."""
    starts = np.ones(len(keys), dtype=np.bool_)
    starts[1:] = keys[1:] != keys[:-1]
    return starts


def _cumsum_by_group(values: Ints, starts: npt.NDArray[np.bool_]) -> Ints:
    """Running sums of ``values`` restarting at each group start."""
    total = np.cumsum(values)
    before = (total - values)[starts]  # the running sum just before each group
    out: Ints = total - before[np.cumsum(starts) - 1]
    return out


def fifo_matches(transactions: Any) -> FifoMatches | None:
    """The FIFO round trips of a transactions frame as arrays; None when the frame does
    not qualify (see the module docs)."""
    if not hasattr(transactions, "get_column"):
        return None
    frame: pl.DataFrame = transactions
    present = set(frame.columns)
    if not {"sid", "ts", "amount", "price"} <= present:
        return None
    columns: dict[str, Ints] = {}
    scales: dict[str, int] = {}
    for name in ("sid", "ts", "amount", "price", "commission", "multiplier"):
        if name not in present:
            read: tuple[Ints, int] | None = (np.zeros(frame.height, dtype=np.int64), 0)
        elif name in ("commission", "multiplier"):  # optional values: null is 0
            read = _mantissas(frame.select(frame.get_column(name).fill_null(0)), name)
        else:
            read = _mantissas(frame, name)
        if read is None:
            return None
        columns[name], scales[name] = read
    if scales["sid"] or scales["ts"]:
        return None
    multiplier = columns["multiplier"]
    if not multiplier.all():  # a missing, null or zero multiplier is 1 ("raw or 1")
        columns["multiplier"] = np.where(multiplier == 0, 10 ** scales["multiplier"], multiplier)
    amount = columns["amount"]
    sid = columns["sid"]
    for values in (amount, sid):  # running sums of amounts, 2·sid keys: exact in int64
        if len(values) and _magnitude(values) >= _LIMIT // len(values):
            return None
    keep = np.flatnonzero(amount != 0)
    # time order, the frame's order on ties (a stable sort by time alone)
    timed = keep[np.argsort(columns["ts"][keep], kind="stable")]
    rank = np.empty(frame.height, dtype=np.int64)
    rank[timed] = np.arange(len(timed))
    # per asset, in time order: the position before each fill
    rows = timed[np.argsort(sid[timed], kind="stable")]
    qty = amount[rows]
    after = _cumsum_by_group(qty, _group_starts(sid[rows]))
    before = after - qty
    reverses = (before != 0) & ((before > 0) != (qty > 0))
    closing = np.where(reverses, np.minimum(np.abs(qty), np.abs(before)), 0)
    opening = np.abs(qty) - closing
    # one line per (asset, direction): key = 2·sid + (1 if long), lines ordered by key then
    # time (rows are in (sid, time) order already, so a stable sort by key keeps time order)
    open_at = np.flatnonzero(opening)
    open_keys = 2 * sid[rows[open_at]] + (qty[open_at] > 0)
    by_key = np.argsort(open_keys, kind="stable")
    open_at, open_keys = open_at[by_key], open_keys[by_key]
    open_end = np.cumsum(opening[open_at])  # all lines end to end
    open_start = open_end - opening[open_at]
    open_starts = _group_starts(open_keys)
    line_keys, line_offset = open_keys[open_starts], open_start[open_starts]
    close_at = np.flatnonzero(closing)
    close_keys = 2 * sid[rows[close_at]] + (before[close_at] > 0)
    by_key = np.argsort(close_keys, kind="stable")
    close_at, close_keys = close_at[by_key], close_keys[by_key]
    close_end = _cumsum_by_group(closing[close_at], _group_starts(close_keys))
    offset = line_offset[np.searchsorted(line_keys, close_keys)]
    close_end = close_end + offset
    close_start = close_end - closing[close_at]
    # closing parts in the order their fills happen
    in_time = np.argsort(rank[rows[close_at]], kind="stable")
    close_at, close_start, close_end = close_at[in_time], close_start[in_time], close_end[in_time]
    first = np.searchsorted(open_end, close_start, side="right")
    last = np.searchsorted(open_end, close_end, side="left")
    counts = last - first + 1
    part = np.repeat(np.arange(len(close_at)), counts)
    lot = first[part] + (np.arange(len(part)) - np.repeat(np.cumsum(counts) - counts, counts))
    start = np.maximum(close_start[part], open_start[lot])  # where this overlap begins
    matched = np.minimum(close_end[part], open_end[lot]) - start
    return FifoMatches(
        frame,
        entry=rows[open_at][lot],
        exit=rows[close_at][part],
        sign=np.where(before[close_at][part] > 0, 1, -1).astype(np.int64),
        matched=matched,
        # what the lot and the closing fill still hold when this overlap is matched
        lot_left=open_end[lot] - start,
        fill_left=np.abs(qty[close_at][part]) - (start - close_start[part]),
        lot_size=opening[open_at][lot],
        lot_after_close=closing[open_at][lot] > 0,
        fill_size=np.abs(qty[close_at][part]),
        columns=columns,
        scales=scales,
    )
