"""Streaming feeds: where a paper or live session's bars and clock come from.

A :class:`Feed` exposes the bar arrays the portal reads and the clock schedule of
its market; the :class:`~rbt.kernel.realtime.RealtimeClock` releases that schedule on
wall time. :class:`ReplayFeed` replays a bundle as if live: its events carry the
bars' own timestamps and are paced by ``speed`` (``None`` = ``max``: no sleeping).

Not done yet: feeds of trades/quotes aggregated into bars (a bar-close rule) and
feeds that append bars to the arrays as they arrive.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from typing import Protocol

from rbt.data.bars import BarArrays
from rbt.kernel.clock import ClockEvent, SimClock, TradingCalendar

__all__ = ["Feed", "FeedError", "ReplayFeed", "checked"]


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
