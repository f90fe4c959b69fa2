"""``exposure_series`` places the per-session sums in one step per series; the result equals
the definition's placement row by row through a dict of dates, bit for bit (sessions in any
order, repeated, missing from the run, or null)."""

from __future__ import annotations

import datetime as dt
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
