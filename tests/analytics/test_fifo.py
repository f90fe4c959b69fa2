"""The array FIFO matching (``rbt.analytics.fifo``) against the fill-by-fill definition
(``round_trips_by_fill``): the same round trips, Decimal for Decimal (exponents included),
in the same order, and the same statistics, float for float."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from rbt.analytics.fifo import fifo_matches
from rbt.analytics.trades import (
    round_trip_statistics,
    round_trips,
    round_trips_by_fill,
    trade_statistics,
)
from rbt.api.results import decimal_column

DAY = 86_400 * 1_000_000_000

fill_rows = st.lists(
    st.tuples(
        st.integers(1, 3),  # sid
        st.integers(0, 8),  # ts (in days): ties and out-of-order times
        st.integers(-6, 6),  # amount (zero rows are skipped)
        st.integers(1, 900),  # price in thousandths
        st.integers(0, 3),  # commission in cents
        st.sampled_from([None, 0, 1, 50]),  # multiplier (None and 0 read as 1)
    ),
    max_size=50,
)


def _frame(fills: list[tuple[Any, ...]], *, free: bool, scale_amount: int) -> pl.DataFrame:
    amounts = [Decimal(q).scaleb(-scale_amount) for _, _, q, *_ in fills]
    return pl.DataFrame(
        {
            "sid": pl.Series([f[0] for f in fills], dtype=pl.Int64),
            "symbol": pl.Series([f"S{f[0]}" for f in fills], dtype=pl.String),
            "ts": pl.Series([f[1] * DAY + 7 for f in fills], dtype=pl.Int64),
            "session": pl.Series(
                [dt.date(2024, 1, 1) + dt.timedelta(days=f[1]) for f in fills], dtype=pl.Date
            ),
            "amount": pl.Series(amounts, dtype=pl.Decimal(38, scale_amount)),
            "price": pl.Series([Decimal(f[3]) / 1000 for f in fills], dtype=pl.Decimal(38, 3)),
            "commission": pl.Series(
                [Decimal(0 if free else f[4]) / 100 for f in fills], dtype=pl.Decimal(38, 2)
            ),
            "multiplier": pl.Series(
                [None if f[5] is None else Decimal(f[5]) for f in fills], dtype=pl.Decimal(38, 0)
            ),
        }
    )


@given(fills=fill_rows, free=st.booleans(), scale_amount=st.sampled_from([0, 2]))
@settings(max_examples=150, deadline=None)
def test_array_matching_equals_the_fill_by_fill_definition(
    fills: list[tuple[Any, ...]], free: bool, scale_amount: int
) -> None:
    frame = _frame(fills, free=free, scale_amount=scale_amount)
    assert fifo_matches(frame) is not None  # the array path is the one tested
    expected = round_trips_by_fill(frame)
    actual = round_trips(frame)
    assert [repr(t) for t in actual] == [repr(t) for t in expected]
    assert actual == expected
    assert round_trip_statistics(frame) == trade_statistics(expected)


def test_a_position_reversing_many_times_matches_lot_by_lot() -> None:
    """Long 3; sell 5 (closes 3, opens 2 short); cover 1; buy 4 (covers 1, opens 3 long);
    sell 3: each episode first in, first out; a reversing fill's commission is shared between
    what it closes and the lot it opens, and the books end flat, so every cent is allocated."""
    fills = [(1, 0, 3, 100, 3, 1), (1, 1, -5, 110, 5, 1), (1, 2, 1, 120, 0, 1),
             (1, 3, 4, 90, 4, 1), (1, 4, -3, 95, 1, 1)]  # fmt: skip
    frame = _frame(fills, free=False, scale_amount=0)
    trips = round_trips(frame)
    assert [(t.direction, t.amount, t.entry_ts // DAY, t.exit_ts // DAY) for t in trips] == [
        ("long", Decimal(3), 0, 1),
        ("short", Decimal(1), 1, 2),
        ("short", Decimal(1), 1, 3),
        ("long", Decimal(3), 3, 4),
    ]
    assert sum(t.commission for t in trips) == Decimal("0.13")
    assert [repr(t) for t in trips] == [repr(t) for t in round_trips_by_fill(frame)]


def test_frames_the_arrays_cannot_take_use_the_definition() -> None:
    """Text amounts (a scale beyond 18 is stored as text), a null amount: same answers."""
    frame = pl.DataFrame(
        {
            "sid": [1, 1],
            "ts": [1, 2],
            "amount": ["1.0000000000000000001", "-1.0000000000000000001"],
            "price": decimal_column("price", [Decimal("10"), Decimal("12")]),
        }
    )
    assert fifo_matches(frame) is None
    (trip,) = round_trips(frame)
    assert trip.pnl == Decimal("2.0000000000000000002")
    with_null = pl.DataFrame(
        {
            "sid": [1, 1, 1],
            "ts": [1, 2, 3],
            "amount": pl.Series([Decimal(2), None, Decimal(-2)], dtype=pl.Decimal(38, 0)),
            "price": decimal_column("price", [Decimal("10"), Decimal("11"), Decimal("12")]),
        }
    )
    assert fifo_matches(with_null) is None
    assert round_trip_statistics(with_null)["expectancy"] == 4.0


def test_values_that_could_overflow_take_the_exact_decimal_sums() -> None:
    """Products beyond 63 bits: the statistics come from the Decimal round trips."""
    big = Decimal(10) ** 12
    frame = pl.DataFrame(
        {
            "sid": [1, 1],
            "ts": [1, 2 + 400 * DAY],  # held > 2**53 ns: holding days through int / int
            "amount": decimal_column("amount", [big, -big]),
            "price": decimal_column("price", [Decimal("1.5"), big]),
        }
    )
    matches = fifo_matches(frame)
    assert matches is not None
    assert matches.pnl_mantissas() is None
    stats = round_trip_statistics(frame)
    assert stats == trade_statistics(round_trips_by_fill(frame))
    assert stats["expectancy"] == float((big - Decimal("1.5")) * big)
    assert stats["avg_holding_days"] == (1 + 400 * DAY) / DAY


def test_split_commissions_on_large_values_keep_exact_statistics() -> None:
    """Lots split in thirds (commission shares quantized to 1e-12) on prices near 10**6:
    net P&L at scale 12 leaves int64, and the sums stay exact (Python integers)."""
    fills = [(1, 0, 3000, 999_999_999, 1, 1), (1, 1, -1000, 1, 0, 1),
             (1, 2, -1000, 900_000_000, 0, 1), (1, 3, -1000, 990_000_001, 0, 1),
             (2, 0, -7, 500_000_000, 3, 1), (2, 4, 7, 400_000_000, 3, 1)]  # fmt: skip
    frame = _frame(fills, free=False, scale_amount=0)
    expected = round_trips_by_fill(frame)
    assert any(t.commission.as_tuple().exponent == -12 for t in expected)  # a quantized share
    assert round_trip_statistics(frame) == trade_statistics(expected)
    assert [repr(t) for t in round_trips(frame)] == [repr(t) for t in expected]


def _scaled_frame(amounts, prices, price_scale, commissions=None):
    columns = {
        "sid": [1] * len(amounts),
        "ts": list(range(len(amounts))),
        "amount": pl.Series([Decimal(a) for a in amounts], dtype=pl.Decimal(38, 0)),
        "price": pl.Series([Decimal(p) for p in prices], dtype=pl.Decimal(38, price_scale)),
    }
    if commissions is not None:
        columns["commission"] = pl.Series(
            [Decimal(c) for c in commissions], dtype=pl.Decimal(38, 2)
        )
    return pl.DataFrame(columns)


def test_fee_scaling_beyond_int64_falls_back_to_python_integers() -> None:
    """Prices 23 decimal places finer than the commission: the fee's scale-up factor alone
    exceeds int64 (a regression: it raised OverflowError)."""
    frame = _scaled_frame([1, -1, 1], ["1E-20", "2E-20", "1E-20"], 25, ["0", "0", "0.01"])
    expected = trade_statistics(round_trips_by_fill(frame))
    assert round_trip_statistics(frame) == expected


def test_a_non_default_decimal_context_is_left_to_the_definition() -> None:
    import decimal

    frame = _scaled_frame([7, -7, 13, -13], ["1234.567", "2469.134", "1000.123", "987.651"], 3)
    with decimal.localcontext() as context:
        context.prec = 6  # a strategy module may set this
        assert round_trip_statistics(frame) == trade_statistics(round_trips_by_fill(frame))
