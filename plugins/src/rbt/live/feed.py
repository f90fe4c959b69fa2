"""Streaming feeds: where a paper or live session's bars and clock come from.

A :class:`Feed` exposes the bar arrays the portal reads and the clock schedule of
its market; the :class:`~rbt.kernel.realtime.RealtimeClock` releases that schedule on
wall time. :class:`ReplayFeed` replays a bundle as if live: its events carry the
bars' own timestamps and are paced by ``speed`` (``None`` = ``max``: no sleeping).

:class:`BarAggregator` turns trade prints into bars under a stated bar-close rule.
:class:`BarStream` is what a venue's feed plugin yields (closed bars); the engine appends
them to a growing portal and derives the clock from them (:mod:`rbt.live.stream`). Not
done yet: quote aggregation.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Iterable, Iterator
from decimal import Decimal
from typing import Any, Protocol

import attrs

from rbt.data.bars import BarArrays
from rbt.kernel.clock import ClockEvent, SimClock, TradingCalendar

__all__ = [
    "Bar",
    "BarAggregator",
    "BarStream",
    "Feed",
    "FeedError",
    "ReplayFeed",
    "Trade",
    "checked",
]


class FeedError(ValueError):
    """A malformed or out-of-order feed message."""


class Feed(Protocol):
    """A source of bars and of the market's clock schedule."""

    name: str
    bars: BarArrays
    calendar: TradingCalendar

    def schedule(self, start: dt.date, end: dt.date) -> Iterable[ClockEvent]:
        """Clock events from ``start`` to ``end`` (inclusive sessions)."""
        ...


class BarStream(Protocol):
    """Closed bars pushed by a venue (klines, or trades aggregated into bars).

    Yields ``(symbol, bar)`` pairs in bar-end order; a bar is yielded only once it is
    closed (the venue marked it final, or a later bar of the symbol arrived, or the grace
    period after its end passed). ``interval_ns`` is 60 s or one day (design.md §2.1a.4).
    The live engine appends the bars to its portal and derives the clock from them.
    """

    name: str
    symbols: tuple[str, ...]
    interval_ns: int

    def bars(self) -> AsyncIterator[tuple[str, Bar]]:
        """The closed bars, as they close."""
        ...

    async def aclose(self) -> None:
        """Stop streaming; release connections."""
        ...


def checked(events: Iterable[ClockEvent]) -> Iterator[ClockEvent]:
    """Pass events through, refusing out-of-order or malformed ones with a clear error."""
    last: tuple[int, int] | None = None
    for event in events:
        if not isinstance(event, ClockEvent):
            raise FeedError(f"malformed feed message {event!r}: expected a ClockEvent")
        key = (event.ts, int(event.kind))
        if last is not None and key < last:
            raise FeedError(
                f"out-of-order feed message {event.kind.name} at {event.ts} after {last[0]}"
            )
        last = key
        yield event


class ReplayFeed:
    """A bundle's bars streamed as if live, on their own timestamps."""

    name = "replay"

    def __init__(self, bars: BarArrays, calendar: TradingCalendar) -> None:
        self.bars = bars
        self.calendar = calendar

    def schedule(self, start: dt.date, end: dt.date) -> Iterable[ClockEvent]:
        return checked(SimClock(self.calendar, start, end, self.bars.frequency))


@attrs.frozen
class Trade:
    """One trade print: time (UTC ns), price, size."""

    ts: int
    price: Decimal
    size: Decimal


@attrs.frozen
class Bar:
    """An aggregated bar, stamped with its end time (design.md §2.1a.4)."""

    end: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    trades: int


class BarAggregator:
    """Trades of one instrument → bars of ``interval_ns``.

    Bar-close rule: the bar ending at ``end`` holds the trades with
    ``end - interval <= ts < end`` (a trade exactly on a boundary opens the next bar). A
    bar closes when a trade at or after its end arrives, or when :meth:`close_due` is
    called with a wall time at or after ``end + grace_ns`` (venues publish late). Intervals
    without trades give no bar. A trade older than the last closed bar's end is refused
    (:class:`FeedError`) — it would rewrite a bar the strategy already saw.
    """

    def __init__(self, interval_ns: int, grace_ns: int = 0) -> None:
        if interval_ns <= 0:
            raise ValueError(f"bar interval must be positive, got {interval_ns}")
        self.interval = interval_ns
        self.grace = grace_ns
        self._end: int | None = None
        self._bar: list[Any] | None = None  # [open, high, low, close, volume, trades]
        self.closed_until = -(2**63)

    def _end_of(self, ts: int) -> int:
        return (ts // self.interval + 1) * self.interval

    def add(self, trade: Trade) -> list[Bar]:
        """Add a trade; return the bars it closed (zero or one)."""
        if not isinstance(trade, Trade) or trade.price <= 0 or trade.size < 0:
            raise FeedError(f"malformed trade {trade!r}")
        if trade.ts < self.closed_until:
            raise FeedError(
                f"late trade at {trade.ts}: the bar up to {self.closed_until} already closed"
            )
        closed: list[Bar] = []
        end = self._end_of(trade.ts)
        if self._end is not None and end != self._end:
            closed.extend(self._close())
        if self._bar is None:
            self._end = end
            self._bar = [trade.price, trade.price, trade.price, trade.price, trade.size, 1]
        else:
            bar = self._bar
            bar[1] = max(bar[1], trade.price)
            bar[2] = min(bar[2], trade.price)
            bar[3] = trade.price
            bar[4] += trade.size
            bar[5] += 1
        return closed

    def close_due(self, now: int) -> list[Bar]:
        """Close the open bar if ``now`` is past its end plus the grace period."""
        if self._end is not None and now >= self._end + self.grace:
            return self._close()
        return []

    def _close(self) -> list[Bar]:
        assert self._end is not None
        assert self._bar is not None
        o, h, low, c, v, n = self._bar
        bar = Bar(self._end, o, h, low, c, v, n)
        self.closed_until = self._end
        self._end, self._bar = None, None
        return [bar]
