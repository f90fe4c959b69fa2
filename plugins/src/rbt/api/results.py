"""Results of a backtest: Polars frames, Parquet files, the summary metrics.

Exact values (cash, prices, quantities, commissions) are Polars ``Decimal``
columns with the scale they need; returns and ratios are floats. Files are
written atomically into ``$RBT_HOME/results/<run_id>/`` and contain nothing
that varies between identical runs, so the same inputs give byte-identical files.
"""

from __future__ import annotations

import functools
import json
import operator
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from decimal import Decimal
from itertools import repeat
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from rbt.kernel.broker import order_columns
from rbt.kernel.model import Asset, Fill, Order, OrderStatus, OrderType

if TYPE_CHECKING:
    import polars as pl

    from rbt.api.engine import PositionBlock, PositionRows, SessionRecord

__all__ = [
    "PERF_COLUMNS",
    "BacktestResult",
    "build_frames",
    "decimal_column",
    "decimal_columns",
    "orders_frame",
    "perf_frame",
    "positions_frame",
    "transactions_frame",
    "write_results",
]

_MAX_SCALE = 18

#: Columns of the perf frame that recorded variables may not reuse.
PERF_COLUMNS = frozenset(
    {
        "session",
        "ts",
        "portfolio_value",
        "cash",
        "positions_value",
        "pnl",
        "returns",
        "orders",
        "transactions",
        "positions",
    }
)


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def decimal_column(name: str, values: Sequence[Decimal | None]) -> pl.Series:
    """An exact Polars column: Decimal with the smallest scale that holds every value."""
    return decimal_columns({name: values})[name]


def decimal_columns(columns: Mapping[str, Sequence[Decimal | None]]) -> dict[str, pl.Series]:
    """:func:`decimal_column` of several columns of the same length.

    Each column's fixed-point texts are read in numpy when they can be
    (:func:`_parse_fixed_point`: no null, at most 18 digits); the others go through
    polars' string cast, with one query for their scales and one for their casts.
    """
    import numpy as np

    out: dict[str, pl.Series] = {}
    for name, values in columns.items():
        if values and values[0] is not None and all(map(operator.is_, values, repeat(values[0]))):
            # one object in every row (the commissions of free fills): its text read once
            parsed = _parse_fixed_point([str(values[0])])
            if parsed is not None:
                one, scale = parsed
                parsed = np.repeat(one, len(values)), scale
        else:
            parsed = _parse_fixed_point(list(map(str, values)))
        if parsed is not None:
            out[name] = _decimal_from_ints(name, *parsed)
    rest = {name: values for name, values in columns.items() if name not in out}
    if rest:
        out.update(_decimal_columns_by_cast(rest))
    return {name: out[name] for name in columns}


def _decimal_columns_by_cast(
    columns: Mapping[str, Sequence[Decimal | None]],
) -> dict[str, pl.Series]:
    """:func:`decimal_columns` through text: any value (nulls, any scale, beyond int64),
    one query for the columns' scales and one for their casts."""
    import polars as pl

    texts = pl.DataFrame(
        [pl.Series(name, _fixed_point(values), dtype=pl.String) for name, values in columns.items()]
    )

    def digits(name: str) -> pl.Expr:  # after the point; null (no point) is ignored by max
        text = pl.col(name)
        return text.str.len_bytes().cast(pl.Int64) - text.str.find(".", literal=True) - 1

    found = texts.select([digits(name).max() for name in columns]).row(0) if columns else ()
    scales = [int(scale or 0) for scale in found]
    exact = texts.select(
        [
            # beyond what we store as Decimal: keep the exact text
            pl.col(name) if scale > _MAX_SCALE else pl.col(name).cast(pl.Decimal(38, scale))
            for name, scale in zip(columns, scales, strict=True)
        ]
    )
    return {name: exact.get_column(name) for name in columns}


#: Digits a mantissa may have in :func:`_parse_fixed_point`: 10**18 - 1 < 2**63.
_MAX_DIGITS = 18


@functools.cache
def _powers_of_ten() -> Any:
    """10**0 .. 10**_MAX_DIGITS as int64."""
    import numpy as np

    return 10 ** np.arange(_MAX_DIGITS + 1, dtype=np.int64)


def _parse_fixed_point(texts: Sequence[str]) -> tuple[Any, int] | None:
    """``(mantissas, scale)`` of plain fixed-point texts (``-?digits(.digits)?``, what
    ``str()`` gives a Decimal with a small negative or zero exponent, or an int): int64
    mantissas at the smallest scale holding every value, the values the string cast of
    :func:`_decimal_columns_by_cast` gives. None (then that cast decides) for no texts,
    any other text (a null's "None", an exponent, NaN, a sign "+", spaces ...), a scale
    beyond :data:`_MAX_SCALE` or a mantissa of more than :data:`_MAX_DIGITS` digits.

    Why: polars' string column, the query for the scales and the cast cost ≈ 60 ns a value;
    checking the joined text in a few numpy passes and reading its integers (points
    dropped) with numpy's text parser costs a fraction of that, and there is no query.
    """
    import numpy as np

    if not texts:
        return None
    data = ",".join(texts)
    if not data or not data.isascii():  # no text but an empty one, or not ASCII
        return None
    raw = np.frombuffer(data.encode("ascii"), dtype=np.uint8)
    # only "," "-" "." (44, 45, 46) and the digits (48 to 57); below 44 wraps around
    if np.count_nonzero((raw - 44) > 13) or np.count_nonzero(raw == ord("/")):
        return None
    separators = np.flatnonzero(raw == ord(","))
    if len(separators) != len(texts) - 1:  # a comma inside a text
        return None
    starts = np.concatenate(([0], separators + 1))
    ends = np.concatenate((separators, [len(raw)]))  # one past each text's last byte
    size = len(raw)
    negative = raw[np.minimum(starts, size - 1)] == ord("-")
    first = np.minimum(starts + negative, size - 1)  # where the digits start
    minuses = np.count_nonzero(raw == ord("-"))
    points = np.flatnonzero(raw == ord("."))
    digit = np.zeros(len(raw) + 1, dtype=np.bool_)  # one more: a point may end the data
    digit[:-1] = raw >= ord("0")  # "," "-" "." are below "0", the digits above
    # a minus only first, then a digit (so no text is empty), a point only between digits
    if (
        minuses != np.count_nonzero(negative)
        or not digit[first].all()
        or (starts + negative >= ends).any()
        or not digit[points - 1].all()
        or not digit[points + 1].all()
    ):
        return None
    if len(points) == len(texts) and (points > starts).all() and (points < ends).all():
        owner = np.arange(len(texts))  # one point in each text (prices, cash): no search
    else:
        owner = np.searchsorted(separators, points)  # the text of each point
        if (owner[1:] == owner[:-1]).any():  # two points in a text
            return None
    places = np.zeros(len(texts), dtype=np.int64)  # digits after the point
    places[owner] = ends[owner] - points - 1
    scale = int(places.max())
    digits = ends - starts - negative - (places > 0)
    if scale > _MAX_SCALE or int((digits - places).max()) + scale > _MAX_DIGITS:
        return None
    # the texts without their points: each mantissa at its own places, then at the scale
    mantissas = np.fromstring(data.replace(".", ""), dtype=np.int64, sep=",")
    if len(mantissas) != len(texts):
        return None
    if (places != scale).any():
        mantissas *= _powers_of_ten()[scale - places]
    return mantissas, scale


def _fixed_point(values: Sequence[Decimal | None]) -> list[str | None]:
    """Fixed-point text of each value (None stays None).

    Text, then one vectorized cast: building Decimal columns from Python Decimals is an
    order of magnitude slower, and the cast is exact at a wide-enough scale. str() is
    fixed-point text for every value with exponent <= 0 that is not tiny (the usual money
    and quantities) and twice as fast as format(v, "f"); the others (an "E" in the text)
    are formatted again.
    """
    texts: list[str | None] = list(map(str, values))
    # looked for among the texts: `None in values` compares every Decimal with None, slowly
    if nulls := "None" in texts:
        texts = [_text(v) for v in values]
    present = [t for t in texts if t is not None] if nulls else texts
    joined = "".join(present)  # type: ignore[arg-type]  # no None left
    if "E" in joined or "e" in joined:
        texts = [None if v is None else format(v, "f") for v in values]
    return texts


@attrs.frozen(kw_only=True)
class BacktestResult:
    """Everything a run produced.

    :param perf: one row per session (portfolio value, cash, returns, recorded values).
    :param transactions: one row per fill.
    :param orders: one row per order, in its final state.
    :param positions: one row per open position per session.
    :param metrics: summary metrics by name.
    """

    run_id: str
    perf: pl.DataFrame
    transactions: pl.DataFrame
    orders: pl.DataFrame
    positions: pl.DataFrame
    metrics: Mapping[str, float]
    manifest: Mapping[str, Any]
    path: Path | None = None

    @property
    def final_value(self) -> Decimal:
        """Exact portfolio value at the last close."""
        values = self.perf["portfolio_value"]
        return Decimal(str(values[-1])) if len(values) else Decimal(0)

    def to_pandas(self) -> Any:
        """``perf`` as a pandas frame indexed by session close (Zipline's ``perf``)."""
        import pandas as pd

        frame = self.perf.to_pandas()
        frame.index = pd.DatetimeIndex(
            pd.to_datetime(frame.pop("ts"), unit="ns", utc=True), name=None
        )
        for column in ("portfolio_value", "cash", "positions_value", "pnl", "capital_used"):
            if column in frame:
                frame[column] = frame[column].astype("float64")
        return frame


def build_frames(
    records: Sequence[SessionRecord],
    fills: Sequence[Fill],
    orders: Sequence[Order] | Mapping[str, Sequence[Any]],
    assets: Mapping[int, Asset],
    starting_cash: Decimal,
    session_of: Mapping[int, Any],
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Turn the engine's records into (perf, transactions, orders, positions) frames."""
    return (
        perf_frame(records, starting_cash),
        transactions_frame(fills, session_of),
        orders_frame(orders),
        positions_frame(records, assets),
    )


def perf_frame(records: Sequence[SessionRecord], starting_cash: Decimal) -> pl.DataFrame:
    """One row per session: value, cash, returns, counts and the recorded variables."""
    import polars as pl

    values = [r.cash + r.positions_value for r in records]
    previous = [starting_cash, *values[:-1]][: len(values)]  # no sessions: no rows
    returns = [float(v / p - 1) if p else 0.0 for v, p in zip(values, previous, strict=True)]
    perf_columns: dict[str, Any] = {
        "session": pl.Series("session", [r.session for r in records], dtype=pl.Date),
        "ts": pl.Series("ts", [r.ts for r in records], dtype=pl.Int64),
        **decimal_columns(
            {
                "portfolio_value": values,
                "cash": [r.cash for r in records],
                "positions_value": [r.positions_value for r in records],
                "pnl": [v - p for v, p in zip(values, previous, strict=True)],
            }
        ),
        "returns": pl.Series("returns", returns, dtype=pl.Float64),
        "orders": pl.Series("orders", [r.orders for r in records], dtype=pl.Int64),
        "transactions": pl.Series("transactions", [r.fills for r in records], dtype=pl.Int64),
        "positions": pl.Series("positions", [len(r.positions) for r in records], dtype=pl.Int64),
    }
    recorded_names: list[str] = []
    for record in records:
        for key in record.recorded:
            if key not in recorded_names:
                recorded_names.append(key)
    for key in recorded_names:
        column = [r.recorded.get(key) for r in records]
        perf_columns[key] = pl.Series(key, [_plain(v) for v in column], strict=False)
    return pl.DataFrame(perf_columns)


def transactions_frame(fills: Sequence[Fill], session_of: Mapping[int, Any]) -> pl.DataFrame:
    """One row per fill. Per-asset columns (sid, symbol, multiplier) and the session are
    built once per distinct asset / time and gathered."""
    import numpy as np
    import polars as pl

    stamps = [f.ts for f in fills]
    # the distinct times and assets and each row's code among them found in numpy (a sort of
    # the rows' integers, not a dict lookup a row)
    times, time_codes = np.unique(
        np.fromiter(stamps, dtype=np.int64, count=len(stamps)), return_inverse=True
    )
    session = pl.Series([session_of.get(t) for t in times.tolist()], dtype=pl.Date).gather(
        _int64_series("", time_codes)
    )
    held = [f.asset for f in fills]
    # assets by identity (what each fill holds), not by sid: the same columns as reading
    # every fill's own asset
    identities, asset_codes = np.unique(
        np.fromiter(map(id, held), dtype=np.uint64, count=len(held)), return_inverse=True
    )
    row_of = np.empty(len(identities), dtype=np.int64)  # a row holding each distinct asset
    row_of[asset_codes] = np.arange(len(held))
    distinct = [held[row] for row in row_of.tolist()]
    codes = _int64_series("", asset_codes)
    return pl.DataFrame(
        {
            "id": pl.Series([f.id for f in fills], dtype=pl.String),
            "order_id": pl.Series([f.order_id for f in fills], dtype=pl.String),
            "session": session,
            "ts": pl.Series(stamps, dtype=pl.Int64),
            "sid": pl.Series([a.sid for a in distinct], dtype=pl.Int64).gather(codes),
            "symbol": pl.Series([a.symbol for a in distinct], dtype=pl.String).gather(codes),
            **decimal_columns(
                {
                    "amount": [f.amount for f in fills],
                    "price": [f.price for f in fills],
                    "commission": [f.commission for f in fills],
                }
            ),
            "multiplier": decimal_column("multiplier", [a.multiplier for a in distinct]).gather(
                codes
            ),
        }
    )


def orders_frame(orders: Sequence[Order] | Mapping[str, Sequence[Any]]) -> pl.DataFrame:
    """One row per order, in its final state: from the orders, or from their columns
    (:meth:`~rbt.kernel.broker.OrderTracker.columns`, which need no order built)."""
    import polars as pl

    columns = orders if isinstance(orders, Mapping) else order_columns(orders)
    assets = columns["asset"]
    return pl.DataFrame(
        {
            "id": pl.Series(columns["id"], dtype=pl.String),
            "created": pl.Series(columns["created"], dtype=pl.Int64),
            "sid": pl.Series([a.sid for a in assets], dtype=pl.Int64),
            "symbol": pl.Series([a.symbol for a in assets], dtype=pl.String),
            # enum values through a dict: Enum.value is a slow descriptor
            "type": pl.Series(
                list(map(_TYPE_VALUE.__getitem__, [s.type for s in columns["style"]])),
                dtype=pl.String,
            ),
            **decimal_columns({name: columns[name] for name in ("amount", "filled", "commission")}),
            "status": pl.Series(
                list(map(_STATUS_VALUE.__getitem__, columns["status"])), dtype=pl.String
            ),
            "reason": pl.Series(columns["reason"], dtype=pl.String),
        }
    )


_TYPE_VALUE = {t: t.value for t in OrderType}
_STATUS_VALUE = {s: s.value for s in OrderStatus}


def positions_frame(records: Sequence[SessionRecord], assets: Mapping[int, Asset]) -> pl.DataFrame:
    """One row per open position per session (from integer arrays when the records hold
    :class:`~rbt.api.engine.PositionRows`)."""
    import polars as pl

    positions = _positions_from_arrays(records, assets)
    if positions is not None:
        return positions
    rows = [(r.session, sid, amount, price) for r in records for sid, amount, price in r.positions]
    return pl.DataFrame(
        {
            "session": pl.Series([row[0] for row in rows], dtype=pl.Date),
            "sid": pl.Series([row[1] for row in rows], dtype=pl.Int64),
            "symbol": pl.Series([assets[row[1]].symbol for row in rows], dtype=pl.String),
            "amount": decimal_column("amount", [row[2] for row in rows]),
            "last_price": decimal_column("last_price", [row[3] for row in rows]),
            "multiplier": decimal_column("multiplier", [assets[row[1]].multiplier for row in rows]),
        }
    )


def _positions_from_arrays(
    records: Sequence[SessionRecord], assets: Mapping[int, Asset], block_rows: int = 1 << 17
) -> pl.DataFrame | None:
    """The positions frame built from integer arrays (:class:`~rbt.api.engine.PositionRows`)
    in a few vectorized steps, ``block_rows`` rows at most at a time (a session's rows kept
    together); the same frame as the row-by-row path. None (then the caller builds it row by
    row) without rows, when a record holds Decimal rows, when the prices have more than one
    scale, or when some multipliers need text (beyond a Decimal column's scale)."""
    import numpy as np
    import polars as pl

    from rbt.api.engine import PositionRows

    parts = [r.positions for r in records]
    if not all(isinstance(p, PositionRows) or len(p) == 0 for p in parts):
        return None
    lengths = [len(p) for p in parts]
    if not any(lengths):
        return None  # no rows at all: the general path builds the empty frame
    # a block of sessions at a time, the blocks' frames chained (not copied): each step's
    # arrays stay below the size numpy asks huge pages for (4 MiB), which a page fault may
    # stall on while the kernel compacts memory (0-70 ms of an L run here)
    sessions = pl.Series("session", [r.session for r in records], dtype=pl.Date)
    frames: list[pl.DataFrame] = []
    top: int | None = None
    lo = 0
    while lo < len(parts):
        hi, rows = lo, 0
        while hi < len(parts) and (hi == lo or rows + lengths[hi] <= block_rows):
            rows += lengths[hi]
            hi += 1
        filled = _spans([p for p in parts[lo:hi] if isinstance(p, PositionRows) and len(p)])
        if filled:
            scales = _column(filled, "scales")
            scale = int(scales.max())
            if scale > _MAX_SCALE or int(scales.min()) != scale or top not in (None, scale):
                return None  # not one Decimal scale: the row-by-row path
            top = scale
            which = _int64_series("which", np.repeat(np.arange(lo, hi), lengths[lo:hi]))
            frames.append(_positions_block(filled, sessions.gather(which), scale, assets))
        lo = hi
    # each block's multipliers at the smallest scale holding its own: all at the largest,
    # the row-by-row path's scale (exact), or that path when one needs text
    kinds = [frame.schema["multiplier"] for frame in frames]
    if len(set(kinds)) > 1:
        decimals = [kind for kind in kinds if isinstance(kind, pl.Decimal)]
        if len(decimals) < len(kinds):
            return None
        widest = max(decimals, key=lambda kind: kind.scale)
        frames = [frame.with_columns(pl.col("multiplier").cast(widest)) for frame in frames]
    return frames[0] if len(frames) == 1 else pl.concat(frames, rechunk=False)


def _spans(rows: Sequence[PositionRows]) -> list[tuple[PositionBlock, int, int]]:
    """``rows`` as spans ``(block, lo, hi)``, the rows of consecutive sessions of one block
    joined: the sessions valued together give one span, read without a copy per session."""
    spans: list[tuple[PositionBlock, int, int]] = []
    for p in rows:
        if spans and spans[-1][0] is p.block and spans[-1][2] == p.lo:
            spans[-1] = (p.block, spans[-1][1], p.hi)
        else:
            spans.append((p.block, p.lo, p.hi))
    return spans


def _column(spans: Sequence[tuple[PositionBlock, int, int]], field: str) -> Any:
    """Array ``field`` of the blocks (a :class:`~rbt.api.engine.PositionBlock` field), span
    by span."""
    import numpy as np

    parts = [getattr(block, field)[lo:hi] for block, lo, hi in spans]
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def _positions_block(
    filled: Sequence[tuple[PositionBlock, int, int]],
    sessions: pl.Series,
    scale: int,
    assets: Mapping[int, Asset],
) -> pl.DataFrame:
    """The rows of some sessions' PositionRows (``filled``: their :func:`_spans`;
    ``sessions``: each row's), their prices all at ``scale``."""
    import polars as pl

    sids = _column(filled, "sids")
    unique, inverse_array = _distinct(sids)
    inverse = _int64_series("inverse", inverse_array)
    symbols = pl.Series([assets[int(sid)].symbol for sid in unique], dtype=pl.String)
    multipliers = decimal_column("multiplier", [assets[int(sid)].multiplier for sid in unique])
    return pl.DataFrame(
        {
            "session": sessions,
            "sid": _int64_series("sid", sids),
            "symbol": symbols.gather(inverse).alias("symbol"),
            "amount": _decimal_from_ints("amount", _column(filled, "amounts"), 0),
            "last_price": _decimal_from_ints("last_price", _column(filled, "mantissas"), scale),
            "multiplier": multipliers.gather(inverse),
        }
    )


def _distinct(values: Any) -> tuple[Any, Any]:
    """``np.unique(values, return_inverse=True)`` for integer ids, through a lookup table
    when they are small non-negative numbers (linear, not a sort of every row)."""
    import numpy as np

    if len(values) and int(values.min()) >= 0 and int(values.max()) <= 4 * len(values) + 1024:
        seen = np.zeros(int(values.max()) + 1, dtype=np.bool_)
        seen[values] = True
        unique = np.flatnonzero(seen)
        code = np.cumsum(seen) - 1
        return unique, code[values]
    return np.unique(values, return_inverse=True)


def _decimal_from_ints(name: str, mantissas: Any, scale: int) -> pl.Series:
    """A Decimal(38, ``scale``) column whose values are ``mantissas / 10**scale``, exactly
    (the 128-bit integers are written directly: no text, no float)."""
    import numpy as np
    import polars as pl
    import pyarrow as pa

    words = np.empty((len(mantissas), 2), dtype=np.int64)
    words[:, 0] = mantissas
    # two's complement sign extension of the low word written (-1 below zero, else 0)
    np.right_shift(words[:, 0], 63, out=words[:, 1])
    array = pa.Array.from_buffers(
        pa.decimal128(38, scale),
        len(mantissas),
        [None, pa.py_buffer(words)],  # no copy
    )
    return pl.Series(name, _ArrowArray(array)).alias(name)


class _ArrowArray:
    """Hands a pyarrow array to polars through the Arrow C data interface, without a copy.

    ``pl.Series(pyarrow_array)`` and ``pl.Series(numpy_array)`` would import
    ``pyarrow.compute`` and ``numpy.ma`` (≈ 95 ms together, once per process) for
    features these plain columns never use.
    """

    __slots__ = ("_array",)

    def __init__(self, array: Any) -> None:
        self._array = array

    def __arrow_c_array__(self, requested_schema: Any = None) -> Any:
        return self._array.__arrow_c_array__(requested_schema)


def _int64_series(name: str, values: Any) -> pl.Series:
    """An Int64 column from a numpy integer array (through Arrow, see :class:`_ArrowArray`)."""
    import numpy as np

    return numpy_series(name, np.ascontiguousarray(values, dtype=np.int64))


def numpy_series(name: str, values: Any) -> pl.Series:
    """An Int64 or Float64 column on a contiguous int64 or float64 numpy array, without a
    copy (through Arrow: ``pl.Series(array)`` would import ``numpy.ma``, see
    :class:`_ArrowArray`)."""
    import polars as pl
    import pyarrow as pa

    kind = {"int64": pa.int64(), "float64": pa.float64()}[values.dtype.name]
    array = pa.Array.from_buffers(kind, len(values), [None, pa.py_buffer(values)])
    return pl.Series(name, _ArrowArray(array)).alias(name)


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return value.item()
    return value


def write_results(result: BacktestResult, directory: Path) -> Path:
    """Write the result files atomically into ``directory`` (replacing an older copy)."""
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    try:
        for name in ("perf", "transactions", "orders", "positions"):
            frame: pl.DataFrame = getattr(result, name)
            frame.write_parquet(staging / f"{name}.parquet", statistics=False)
        manifest = dict(result.manifest)
        manifest["metrics"] = {k: (None if v != v else v) for k, v in result.metrics.items()}
        text = json.dumps(manifest, indent=2, sort_keys=True, default=str) + "\n"
        (staging / "manifest.json").write_text(text, encoding="utf-8")
        for path in staging.iterdir():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
        backup = None
        if directory.exists():
            backup = directory.with_name(f".{directory.name}.old")
            shutil.rmtree(backup, ignore_errors=True)
            os.replace(directory, backup)
        os.replace(staging, directory)
        if backup is not None:
            shutil.rmtree(backup, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return directory
