"""Clocks: what time it is in a run, and which events time produces.

Time is ``int`` nanoseconds since the Unix epoch, UTC, everywhere in the kernel.
A session is labelled by its date. :class:`SimClock` walks a trading
calendar's sessions; a realtime clock (live trading) implements the same
:class:`Clock` protocol from wall time.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterator, Sequence
from typing import NamedTuple, Protocol, runtime_checkable

import attrs

__all__ = [
    "Clock",
    "ClockEvent",
    "ClockEventKind",
    "ClockSegment",
    "Frequency",
    "SessionTimes",
    "SimClock",
    "TradingCalendar",
    "to_ns",
]

NS_PER_MINUTE = 60_000_000_000


def to_ns(moment: dt.datetime) -> int:
    """Convert an aware datetime to UTC nanoseconds.

    :raises ValueError: for a naive datetime (its time zone would be a guess).
    """
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment.isoformat()}: give a time zone")
    delta = moment - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000


class Frequency(enum.Enum):
    """Bar intervals the engine simulates."""

    DAILY = "1d"
    MINUTE = "1m"

    @classmethod
    def parse(cls, text: str) -> Frequency:
        """Accept ``1d``/``daily`` and ``1m``/``minute``; reject anything else clearly."""
        aliases = {"1d": cls.DAILY, "daily": cls.DAILY, "1m": cls.MINUTE, "minute": cls.MINUTE}
        try:
            return aliases[text.strip().lower()]
        except KeyError:
            raise ValueError(
                f"unsupported bar interval {text!r}; supported: 1d (daily), 1m (minute)"
            ) from None


@attrs.frozen
class SessionTimes:
    """Open and close of one session, UTC nanoseconds."""

    session: dt.date
    open: int
    close: int


@runtime_checkable
class TradingCalendar(Protocol):
    """The sessions of a market. Implemented by calendar plugins."""

    name: str

    def sessions(self, start: dt.date, end: dt.date) -> Sequence[dt.date]:
        """Sessions from ``start`` to ``end``, both inclusive."""
        ...

    def session_times(self, session: dt.date) -> SessionTimes:
        """Open and close of ``session``."""
        ...

    def is_session(self, day: dt.date) -> bool:
        """Whether the market trades on ``day``."""
        ...


class ClockEventKind(enum.IntEnum):
    """Events a clock emits. Their numeric order is the order within one timestamp."""

    SESSION_START = 0
    BEFORE_TRADING_START = 1
    BAR = 2
    SESSION_END = 4


class ClockEvent(NamedTuple):
    """One tick of a clock (an immutable record: clocks build one per bar, cheaply)."""

    kind: ClockEventKind
    ts: int
    session: dt.date


class ClockSegment(NamedTuple):
    """One session of a simulated clock: SESSION_START and BEFORE_TRADING_START at
    ``start``, a BAR at each of ``bars`` (ascending), SESSION_END at ``close``."""

    session: dt.date
    start: int
    bars: Sequence[int]
    close: int


class Clock(Protocol):
    """A source of clock events, in non-decreasing (ts, kind) order."""

    def __iter__(self) -> Iterator[ClockEvent]: ...


class SimClock:
    """A simulated clock over a trading calendar's sessions.

    Per session it emits SESSION_START and BEFORE_TRADING_START ``before_open``
    before the open (Zipline's 45 minutes; never before the previous close, so
    24/7 sessions start where the last one ended), one BAR per bar and
    SESSION_END at the close. Daily bars are stamped with the close;
    minute bars with each minute's end.

    :param calendar: the market's calendar.
    :param start: first session (inclusive).
    :param end: last session (inclusive).
    """

    def __init__(
        self,
        calendar: TradingCalendar,
        start: dt.date,
        end: dt.date,
        frequency: Frequency = Frequency.DAILY,
        before_open: dt.timedelta = dt.timedelta(minutes=45),
    ) -> None:
        if start > end:
            raise ValueError(f"start {start} is after end {end}")
        self.calendar = calendar
        self.frequency = frequency
        self.sessions: Sequence[dt.date] = calendar.sessions(start, end)
        if not self.sessions:
            raise ValueError(f"calendar {calendar.name} has no sessions from {start} to {end}")
        self._before_open_ns = int(before_open.total_seconds()) * 1_000_000_000

    def segments(self) -> Iterator[ClockSegment]:
        """The events session by session, compactly: what :meth:`__iter__` yields as
        objects (a backtest loop walks the bar times without an event object per bar)."""
        minute = self.frequency is Frequency.MINUTE
        previous_close = -(2**63)
        for session in self.sessions:
            times = self.calendar.session_times(session)
            # a market without overnight gap (24/7) has no time before its open:
            # the session then starts where the previous one closed
            start = max(times.open - self._before_open_ns, previous_close + 1)
            bars: Sequence[int] = (
                range(times.open + NS_PER_MINUTE, times.close + 1, NS_PER_MINUTE)
                if minute
                else (times.close,)
            )
            yield ClockSegment(session, start, bars, times.close)
            previous_close = times.close

    def __iter__(self) -> Iterator[ClockEvent]:
        for segment in self.segments():
            session = segment.session
            yield ClockEvent(ClockEventKind.SESSION_START, segment.start, session)
            yield ClockEvent(ClockEventKind.BEFORE_TRADING_START, segment.start, session)
            for ts in segment.bars:
                yield ClockEvent(ClockEventKind.BAR, ts, session)
            yield ClockEvent(ClockEventKind.SESSION_END, segment.close, session)
