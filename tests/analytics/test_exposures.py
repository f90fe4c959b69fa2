"""``exposure_series`` places the per-session sums in one step per series; the result equals
the definition's placement row by row through a dict of dates, bit for bit (sessions in any
order, repeated, missing from the run, or null)."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal
from typing import Any

import numpy as np
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from rbt.analytics.metrics import exposure_series

DAY0 = dt.date(2024, 1, 1)


def _reference(perf: pl.DataFrame, positions: pl.DataFrame, transactions: pl.DataFrame) -> Any:
    """The same sums, placed row by row through ``{session: index}``."""
    sessions = perf["session"].to_list()
    index = {s: i for i, s in enumerate(sessions)}
    value = perf["portfolio_value"].cast(pl.Float64).to_numpy()
    net_value = perf["positions_value"].cast(pl.Float64).to_numpy()
    gross_value, largest = np.abs(net_value), np.zeros(len(sessions))
    if len(positions):
        held = positions.select(
            "session",
            (
                pl.col("amount").cast(pl.Float64)
                * pl.col("last_price").cast(pl.Float64)
                * pl.col("multiplier").cast(pl.Float64)
            )
            .abs()
            .alias("notional"),
        )
        per_session = held.group_by("session").agg(
            pl.col("notional").sum().alias("gross"), pl.col("notional").max().alias("largest")
        )
        gross_value = np.zeros(len(sessions))
        for session, gross, big in per_session.iter_rows():
            i = index.get(session)
            if i is not None:
                gross_value[i], largest[i] = gross, big
    traded = np.zeros(len(sessions))
    if len(transactions):
        notional = transactions.select(
            "session",
            (
                pl.col("amount").cast(pl.Float64)
                * pl.col("price").cast(pl.Float64)
                * pl.col("multiplier").cast(pl.Float64)
            )
            .abs()
            .alias("notional"),
        )
        for session, amount in notional.group_by("session").agg(pl.col("notional").sum()).rows():
            i = index.get(session)
            if i is not None:
                traded[i] = amount
    positive = value > 0
    denominator = np.where(positive, value, 1.0)
    return {
        "gross": np.where(positive, gross_value / denominator, 0.0),
        "max_weight": np.where(positive, largest / denominator, 0.0),
        "turnover": np.where(positive, traded / denominator, 0.0),
        "held": (gross_value > 0).astype(np.float64),
    }


def _day(k: int | None) -> dt.date | None:
    return None if k is None else DAY0 + dt.timedelta(days=k)


def _decimals(values: list[int], scale: int) -> pl.Series:
    return pl.Series([Decimal(v).scaleb(-scale) for v in values], dtype=pl.Decimal(38, scale))


day_keys = st.one_of(st.none(), st.integers(0, 12))


@given(
    run_days=st.one_of(
        st.lists(st.integers(0, 12), unique=True, max_size=10).map(sorted),  # the usual
        st.lists(st.integers(0, 12), max_size=10),  # any order, repeats
    ),
    held=st.lists(st.tuples(day_keys, st.integers(-50, 50), st.integers(1, 10**5)), max_size=25),
    traded=st.lists(st.tuples(day_keys, st.integers(-50, 50), st.integers(1, 10**5)), max_size=25),
    values=st.lists(st.integers(-(10**6), 10**7), min_size=10, max_size=10),
)
@settings(max_examples=120, deadline=None)
def test_exposures_equal_the_placement_by_dict(
    run_days: list[int],
    held: list[tuple[Any, ...]],
    traded: list[tuple[Any, ...]],
    values: list[int],
) -> None:
    n = len(run_days)
    perf = pl.DataFrame(
        {
            "session": pl.Series([_day(d) for d in run_days], dtype=pl.Date),
            "portfolio_value": _decimals(values[:n], 2),
            "positions_value": _decimals([v // 3 for v in values[:n]], 2),
        }
    )
    positions = pl.DataFrame(
        {
            "session": pl.Series([_day(d) for d, _, _ in held], dtype=pl.Date),
            "amount": _decimals([q for _, q, _ in held], 0),
            "last_price": _decimals([p for _, _, p in held], 3),
            "multiplier": _decimals([1 for _ in held], 0),
        }
    )
    transactions = pl.DataFrame(
        {
            "session": pl.Series([_day(d) for d, _, _ in traded], dtype=pl.Date),
            "amount": _decimals([q for _, q, _ in traded], 0),
            "price": _decimals([p for _, _, p in traded], 3),
            "multiplier": _decimals([50 for _ in traded], 0),
        }
    )
    got = exposure_series(perf, positions, transactions)
    want = _reference(perf, positions, transactions)
    for name, expected in want.items():
        assert got[name].tobytes() == expected.tobytes(), name


def _polars_notional(frame: pl.DataFrame, price: str) -> pl.DataFrame:
    """The definition: the three columns cast to Float64 by polars and multiplied."""
    multiplier = pl.col("multiplier").cast(pl.Float64) if "multiplier" in frame.columns else 1.0
    return frame.select(
        "session",
        (pl.col("amount").cast(pl.Float64) * pl.col(price).cast(pl.Float64) * multiplier)
        .abs()
        .alias("notional"),
    )


def _chunked(frame: pl.DataFrame, cuts: list[int]) -> pl.DataFrame:
    """``frame`` as several chunks (each column cut at the same rows), as the positions frame
    of a long run is."""
    bounds = [0, *sorted({min(c, frame.height) for c in cuts}), frame.height]
    parts = [frame.slice(lo, hi - lo) for lo, hi in itertools.pairwise(bounds)]
    return pl.concat([p for p in parts if p.height], rechunk=False) if frame.height else frame


mantissas = st.one_of(
    st.integers(-(10**6), 10**6),
    st.integers(-(2**53), 2**53),  # the edges of the exact doubles ...
    st.integers(-(2**70), 2**70),  # ... and beyond them
)


@given(
    rows=st.lists(st.tuples(day_keys, mantissas, mantissas, mantissas), min_size=1, max_size=20),
    scales=st.tuples(st.integers(0, 3), st.integers(0, 24), st.integers(0, 2)),
    cuts=st.lists(st.integers(0, 20), max_size=3),
    nulls=st.booleans(),
    multiplier=st.booleans(),
)
@settings(max_examples=300, deadline=None)
def test_notional_in_numpy_equals_polars_casts(
    rows: list[tuple[Any, ...]],
    scales: tuple[int, int, int],
    cuts: list[int],
    nulls: bool,
    multiplier: bool,
) -> None:
    """The notional computed in numpy is polars' cast-and-multiply bit for bit, in the same
    chunks; where numpy does not apply (mantissas beyond 2**53, scales beyond 22, nulls,
    differently chunked columns) polars computes it."""
    from rbt.analytics.metrics import _notional, _product_chunks

    def column(k: int, scale: int) -> pl.Series:
        values = [None if nulls and i == 0 else row[k] for i, row in enumerate(rows)]
        return pl.Series(
            [None if v is None else Decimal(v).scaleb(-scale) for v in values],
            dtype=pl.Decimal(38, scale),
        )

    columns = {
        "session": pl.Series([_day(row[0]) for row in rows], dtype=pl.Date),
        "amount": column(1, scales[0]),
        "price": column(2, scales[1]),
    }
    if multiplier:
        columns["multiplier"] = column(3, scales[2])
    frame = _chunked(pl.DataFrame(columns), cuts)
    got = _notional(frame, "price")
    want = _polars_notional(frame, "price")
    assert got.schema == want.schema
    assert got["notional"].to_numpy().tobytes() == want["notional"].to_numpy().tobytes()
    assert [len(c) for c in got["notional"].get_chunks()] == [
        len(c) for c in want["notional"].get_chunks()
    ]
    factors = [frame[name] for name in frame.columns if name != "session"]
    small = all(abs(row[k]) <= 2**53 for row in rows for k in range(1, 2 + multiplier + 1))
    layouts = {tuple(len(c) for c in frame[name].get_chunks()) for name in frame.columns}
    # the numpy branch is taken exactly when every mantissa and 10**scale are exact doubles,
    # no value is null and the columns are cut into the same chunks (polars may merge some)
    fast = small and scales[1] <= 22 and not nulls and len(layouts) == 1
    assert (_product_chunks(factors, frame["session"]) is not None) == fast


def test_notional_of_other_column_types_is_polars_casts() -> None:
    from rbt.analytics.metrics import _notional, _product_chunks

    frame = pl.DataFrame(
        {
            "session": pl.Series([DAY0, DAY0], dtype=pl.Date),
            "amount": pl.Series([3, -2], dtype=pl.Int64),
            "price": pl.Series([1.25, 7.5], dtype=pl.Float64),
        }
    )
    assert _product_chunks([frame["amount"], frame["price"]], frame["session"]) is None
    assert _notional(frame, "price")["notional"].to_list() == [3.75, 15.0]


def test_only_decimal128_chunks_are_read_as_words() -> None:
    """A chunk of another decimal width (what a later polars might export) is not read as
    16-byte words: the caller takes polars' casts instead."""
    import numpy as np
    import pyarrow as pa

    from rbt.analytics.metrics import _chunk_floats

    out = np.empty(2)
    wide = pa.array([Decimal("1.5"), Decimal("-2.25")], type=pa.decimal256(40, 2))
    assert not _chunk_floats(wide, out)
    narrow = pa.array([Decimal("1.5"), Decimal("-2.25")], type=pa.decimal128(38, 2))
    assert _chunk_floats(narrow, out)
    assert out.tolist() == [1.5, -2.25]
