"""Replay feed and realtime clock: pacing, speed and malformed or out-of-order messages."""

from __future__ import annotations

import asyncio
import datetime as dt
import time

import pytest

from rbt.kernel.clock import ClockEvent, ClockEventKind
from rbt.kernel.realtime import RealtimeClock, parse_speed
from rbt.live.feed import FeedError, checked

D = dt.date(2020, 1, 2)
S = 1_000_000_000


def _events(n: int) -> list[ClockEvent]:
    return [ClockEvent(ClockEventKind.BAR, i * S, D) for i in range(n)]


async def _drain(clock: RealtimeClock, **kw: int) -> list[ClockEvent]:
    return [e async for e in clock.events(**kw)]


def test_speed_scales_the_events_own_timestamps() -> None:
    t0 = time.monotonic()
    out = asyncio.run(_drain(RealtimeClock(_events(3), speed=10.0)))  # 2 s of bars at 10x
    elapsed = time.monotonic() - t0
    assert len(out) == 3
    assert 0.18 <= elapsed < 1.5
    t0 = time.monotonic()
    asyncio.run(_drain(RealtimeClock(_events(1000), speed=None)))
    assert time.monotonic() - t0 < 1.0
    t0 = time.monotonic()  # a restart catches up without sleeping
    asyncio.run(_drain(RealtimeClock(_events(3), speed=0.001), skip_until=10 * S))
    assert time.monotonic() - t0 < 1.0


def test_parse_speed() -> None:
    assert parse_speed("max") is None
    assert parse_speed("60") == 60.0
    for bad in ("0", "-1", "fast"):
        with pytest.raises(ValueError, match="speed must be"):
            parse_speed(bad)


def test_malformed_and_out_of_order_feed_messages_are_refused() -> None:
    with pytest.raises(FeedError, match="out-of-order"):
        list(checked(list(reversed(_events(2)))))
    with pytest.raises(FeedError, match="malformed"):
        list(checked([_events(1)[0], ("bar", 5)]))  # type: ignore[list-item]


def test_trades_aggregate_into_bars_with_the_close_rule() -> None:
    from decimal import Decimal as Dec

    from rbt.live.feed import Bar, BarAggregator, Trade

    m = 60 * S
    agg = BarAggregator(m, grace_ns=2 * S)
    assert agg.add(Trade(10 * S, Dec("10"), Dec("1"))) == []
    assert agg.add(Trade(30 * S, Dec("12"), Dec("2"))) == []
    assert agg.add(Trade(59 * S, Dec("9"), Dec("1"))) == []
    closed = agg.add(Trade(m, Dec("11"), Dec("5")))  # on the boundary: opens the next bar
    assert closed == [Bar(m, Dec("10"), Dec("12"), Dec("9"), Dec("9"), Dec("4"), 3)]
    assert agg.close_due(2 * m + S) == []  # inside the grace period
    (late_close,) = agg.close_due(2 * m + 2 * S)
    assert (late_close.end, late_close.volume, late_close.trades) == (2 * m, Dec("5"), 1)
    with pytest.raises(FeedError, match="late trade"):
        agg.add(Trade(2 * m - 1, Dec("11"), Dec("1")))
    with pytest.raises(FeedError, match="malformed trade"):
        agg.add(Trade(3 * m, Dec("-1"), Dec("1")))
    # an interval without trades gives no bar
    agg.add(Trade(5 * m + 1, Dec("11"), Dec("1")))
    (bar,) = agg.add(Trade(7 * m, Dec("11"), Dec("1")))
    assert bar.end == 6 * m
