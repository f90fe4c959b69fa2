"""The result frames' shortcuts (per-asset and per-time columns gathered, enum values by
table, ids made distinct by a lookup table) give exactly the frames the row-by-row
definitions give."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import numpy as np
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from rbt.api.results import _distinct, decimal_column, orders_frame, transactions_frame
from rbt.kernel.model import Asset, Fill, Order, OrderStatus, OrderStyle, OrderType

ASSETS = [
    Asset(sid=3, symbol="AAA"),
    Asset(sid=7, symbol="BBB", multiplier=Decimal(50)),
    Asset(sid=3, symbol="AAA.OLD"),  # the same sid, another object: each fill keeps its own
    Asset(sid=900, symbol="CCC", multiplier=Decimal("0.1")),
]
DAY0 = dt.date(2024, 1, 2)
NS = 86_400 * 1_000_000_000


def _reference_transactions(fills: list[Fill], session_of: dict[int, Any]) -> pl.DataFrame:
    """Every column read fill by fill (the definition)."""
    return pl.DataFrame(
        {
            "id": pl.Series([f.id for f in fills], dtype=pl.String),
            "order_id": pl.Series([f.order_id for f in fills], dtype=pl.String),
            "session": pl.Series([session_of.get(f.ts) for f in fills], dtype=pl.Date),
            "ts": pl.Series([f.ts for f in fills], dtype=pl.Int64),
            "sid": pl.Series([f.asset.sid for f in fills], dtype=pl.Int64),
            "symbol": pl.Series([f.asset.symbol for f in fills], dtype=pl.String),
            "amount": decimal_column("amount", [f.amount for f in fills]),
            "price": decimal_column("price", [f.price for f in fills]),
            "commission": decimal_column("commission", [f.commission for f in fills]),
            "multiplier": decimal_column("multiplier", [f.asset.multiplier for f in fills]),
        }
    )


def _reference_orders(orders: list[Order]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "id": pl.Series([o.id for o in orders], dtype=pl.String),
            "created": pl.Series([o.created for o in orders], dtype=pl.Int64),
            "sid": pl.Series([o.asset.sid for o in orders], dtype=pl.Int64),
            "symbol": pl.Series([o.asset.symbol for o in orders], dtype=pl.String),
            "type": pl.Series([o.style.type.value for o in orders], dtype=pl.String),
            "amount": decimal_column("amount", [o.amount for o in orders]),
            "filled": decimal_column("filled", [o.filled for o in orders]),
            "commission": decimal_column("commission", [o.commission for o in orders]),
            "status": pl.Series([o.status.value for o in orders], dtype=pl.String),
            "reason": pl.Series([o.reason for o in orders], dtype=pl.String),
        }
    )


def _same(got: pl.DataFrame, want: pl.DataFrame) -> None:
    assert got.schema == want.schema
    assert got.equals(want, null_equal=True)


fills_drawn = st.lists(
    st.tuples(
        st.integers(0, len(ASSETS) - 1),
        st.integers(0, 5),  # session: repeated times
        st.integers(-500, 500),  # amount in hundredths
        st.integers(1, 10**6),  # price in thousandths
        st.integers(0, 9),  # commission in cents
        st.booleans(),  # the time has a session (else null)
    ),
    max_size=30,
)


@given(fills_drawn)
@settings(max_examples=80, deadline=None)
def test_transactions_frame_equals_reading_every_fill(drawn: list[tuple[Any, ...]]) -> None:
    fills = [
        Fill(
            id=f"f{i}",
            order_id=f"o{i // 2}",
            asset=ASSETS[a],
            amount=Decimal(q).scaleb(-2),
            price=Decimal(p).scaleb(-3),
            ts=t * NS,
            commission=Decimal(c).scaleb(-2),
        )
        for i, (a, t, q, p, c, _) in enumerate(drawn)
    ]
    session_of = {t * NS: DAY0 + dt.timedelta(days=t) for _, t, *_, known in drawn if known}
    _same(transactions_frame(fills, session_of), _reference_transactions(fills, session_of))


@given(
    st.lists(
        st.tuples(
            st.integers(0, len(ASSETS) - 1),
            st.sampled_from(list(OrderType)),
            st.sampled_from(list(OrderStatus)),
            st.integers(-50, 50),
            st.integers(0, 50),
        ),
        max_size=20,
    )
)
@settings(max_examples=60, deadline=None)
def test_orders_frame_equals_reading_every_order(drawn: list[tuple[Any, ...]]) -> None:
    orders = [
        Order(
            id=f"o{i}",
            asset=ASSETS[a],
            amount=Decimal(q),
            created=i,
            style=OrderStyle(type=kind, limit_price=Decimal(1), stop_price=Decimal(1)),
            status=status,
            filled=Decimal(f),
            reason="" if i % 3 else "REJECTED: no",
        )
        for i, (a, kind, status, q, f) in enumerate(drawn)
    ]
    _same(orders_frame(orders), _reference_orders(orders))


@given(st.lists(st.integers(-(2**40), 2**40) | st.integers(0, 300), max_size=200))
@settings(max_examples=150, deadline=None)
def test_distinct_ids_equal_numpy_unique(values: list[int]) -> None:
    array = np.array(values, dtype=np.int64)
    unique, inverse = _distinct(array)
    want_unique, want_inverse = np.unique(array, return_inverse=True)
    assert unique.tolist() == want_unique.tolist()
    assert inverse.tolist() == want_inverse.tolist()


def test_empty_frames_keep_their_schema() -> None:
    _same(transactions_frame([], {}), _reference_transactions([], {}))
    _same(orders_frame([]), _reference_orders([]))


def test_a_run_without_sessions_has_empty_frames_and_zero_metrics() -> None:
    """A paper run stopped before its first close: frames with their columns, no rows."""
    from rbt.analytics import MetricInputs, compute_metrics
    from rbt.api.results import build_frames

    perf, transactions, orders, positions = build_frames([], [], [], {}, Decimal(1000), {})
    assert perf.height == transactions.height == orders.height == positions.height == 0
    assert {"session", "portfolio_value", "returns"} <= set(perf.columns)
    inputs = MetricInputs(perf["returns"].to_numpy(), 252, perf=perf,
                          transactions=transactions, positions=positions)  # fmt: skip
    metrics = compute_metrics(inputs)
    assert metrics["round_trips"] == metrics["exposure"] == metrics["sharpe"] == 0.0
