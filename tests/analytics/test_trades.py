"""FIFO round trips and per-trade statistics, against hand-computed cases."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from decimal import Decimal as D

import pytest

from rbt.analytics.trades import round_trips, round_trips_frame, trade_statistics

DAY = 86_400 * 1_000_000_000


def fill(day: int, amount: str, price: str, commission: str = "0", sid: int = 1) -> dict:
    return {
        "sid": sid,
        "symbol": {1: "AAA", 2: "BBB"}[sid],
        "ts": day * DAY,
        "session": dt.date(2024, 1, 1) + dt.timedelta(days=day),
        "amount": D(amount),
        "price": D(price),
        "commission": D(commission),
    }


FILLS = [
    fill(0, "10", "100", "1"),
    fill(1, "10", "110", "1"),
    fill(3, "-15", "120", "1.5"),  # closes lot 1 (10) and half of lot 2 (5)
    fill(5, "-10", "90", "1"),  # closes lot 2's rest (5) and opens a short of 5
    fill(8, "5", "80", "0"),  # covers the short
]


def test_fifo_matching_by_hand() -> None:
    trips = round_trips(FILLS)
    assert [(t.direction, t.amount, t.entry_price, t.exit_price) for t in trips] == [
        ("long", D(10), D(100), D(120)),
        ("long", D(5), D(110), D(120)),
        ("long", D(5), D(110), D(90)),
        ("short", D(5), D(90), D(80)),
    ]
    # commissions shared by quantity: 10/15 and 5/15 of 1.5; halves of lot 2's 1 and of 1
    assert [t.commission for t in trips] == [D("2"), D("1"), D("1"), D("0.5")]
    assert [t.pnl for t in trips] == [D("198"), D("49"), D("-101"), D("49.5")]
    assert [t.holding_days for t in trips] == [3.0, 2.0, 4.0, 3.0]
    assert trips[0].return_pct == pytest.approx(198 / 1000)


def test_statistics_by_hand() -> None:
    stats = trade_statistics(round_trips(FILLS))
    assert stats == {
        "round_trips": 4.0,
        "win_rate": 0.75,
        "profit_factor": pytest.approx(296.5 / 101),
        "expectancy": pytest.approx(195.5 / 4),
        "avg_holding_days": 3.0,
    }


def test_assets_are_matched_separately_and_open_lots_are_not_trips() -> None:
    fills = [fill(0, "3", "10", sid=1), fill(0, "-2", "50", sid=2), fill(2, "-1", "12", sid=1)]
    trips = round_trips(fills)
    assert [(t.symbol, t.amount, t.pnl) for t in trips] == [("AAA", D(1), D(2))]


def test_no_trades() -> None:
    assert round_trips([]) == []
    assert trade_statistics([]) == dict.fromkeys(
        ("round_trips", "win_rate", "profit_factor", "expectancy", "avg_holding_days"), 0.0
    )


def test_only_winners_has_profit_factor_zero_by_convention() -> None:
    stats = trade_statistics(round_trips([fill(0, "1", "10"), fill(1, "-1", "11")]))
    assert stats["win_rate"] == 1.0
    assert stats["profit_factor"] == 0.0  # undefined (no loss): 0.0, documented


def test_partial_commission_shares_add_up_exactly() -> None:
    trips = round_trips([fill(0, "3", "10", "1"), fill(1, "-1", "10"), fill(2, "-1", "10"),
                         fill(3, "-1", "10")])  # fmt: skip
    assert sum(t.commission for t in trips) == D("1")
    frame = round_trips_frame(trips)
    assert frame.columns[:3] == ["sid", "symbol", "direction"]
    assert frame["pnl"].to_list() == [t.pnl for t in trips]


def test_round_trip_pnl_and_turnover_scale_with_the_contract_multiplier() -> None:
    """Futures: 2 contracts × 50 bought at 4700.00, sold at 4740.00 → P&L 4000.00 − fees."""
    import polars as pl

    from rbt.api.results import decimal_column

    frame = pl.DataFrame(
        {
            "sid": [7, 7],
            "symbol": ["ESH4", "ESH4"],
            "ts": [1, 2],
            "session": [None, None],
            "amount": decimal_column("amount", [Decimal(2), Decimal(-2)]),
            "price": decimal_column("price", [Decimal("4700.00"), Decimal("4740.00")]),
            "commission": decimal_column("commission", [Decimal("1.00"), Decimal("1.00")]),
            "multiplier": decimal_column("multiplier", [Decimal(50), Decimal(50)]),
        }
    )
    (trip,) = round_trips(frame)
    assert trip.pnl == Decimal("3998.00")
    assert trip.multiplier == Decimal(50)
    assert trip.return_pct == float(Decimal("3998.00") / Decimal("470000.00"))
