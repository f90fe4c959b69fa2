"""``schedule_function`` rules: which sessions (date rules) and when in them (time rules).

Date rules pick sessions from the calendar: every day, the n-th session from a
week's or month's start or end. Time rules give an offset from the open or
the close. With daily bars every scheduled function runs at the session's
bar, after ``handle_data``, in the order they were scheduled (as in Zipline).

With minute bars (stamped with their end time) a function runs after
``handle_data`` of one minute bar per chosen session, as in Zipline:

* ``market_open(minutes=n)`` — the bar ending ``n`` minutes after the open
  (``n = 1``, the default, is the session's first bar: 09:31 on XNYS);
* ``market_close(minutes=n)`` — the bar ending ``n`` minutes before the close
  (the default ``n = 1`` is 15:59 on a regular XNYS day, 12:59 on a 13:00
  early close: offsets count from each session's own close);
* ``every_minute()`` — every bar of the session.

An offset that falls outside a session (e.g. ``market_open(hours=5)`` on a
half day) never fires that session. ``half_days=False`` skips sessions shorter
than six hours altogether.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import attrs

__all__ = ["DateRule", "TimeRule", "date_rules", "time_rules"]


@attrs.frozen
class DateRule:
    """Selects sessions. ``kind``: every_day, week_start, week_end, month_start, month_end."""

    kind: str
    days_offset: int = 0

    def sessions(self, sessions: Sequence[dt.date]) -> frozenset[dt.date]:
        """The subset of ``sessions`` this rule fires on."""
        if self.kind == "every_day":
            return frozenset(sessions)
        key = _week if self.kind.startswith("week") else _month
        groups: dict[tuple[int, ...], list[dt.date]] = {}
        for day in sessions:
            groups.setdefault(key(day), []).append(day)
        chosen = set()
        for days in groups.values():
            if self.days_offset < len(days):
                chosen.add(
                    days[self.days_offset]
                    if self.kind.endswith("start")
                    else days[-1 - self.days_offset]
                )
        return frozenset(chosen)


@attrs.frozen
class TimeRule:
    """An offset from the session's open (``anchor="open"``) or close."""

    anchor: str
    offset: dt.timedelta = dt.timedelta(0)

    def fire_time(self, open_ns: int, close_ns: int) -> int | None:
        """End time (UTC ns) of the minute bar this rule fires at in a session from
        ``open_ns`` to ``close_ns``; None for every bar (``every_minute``) and ``-1``
        when the offset falls outside the session."""
        if self.anchor == "every_minute":
            return None
        offset = (self.offset.days * 86_400 + self.offset.seconds) * 1_000_000_000 + (
            self.offset.microseconds * 1_000
        )
        at = open_ns + offset if self.anchor == "open" else close_ns - offset
        return at if open_ns < at <= close_ns else -1


def _week(day: dt.date) -> tuple[int, ...]:
    return tuple(day.isocalendar()[:2])


def _month(day: dt.date) -> tuple[int, ...]:
    return (day.year, day.month)


def _offset(days_offset: int) -> int:
    if days_offset < 0:
        raise ValueError(f"days_offset must be >= 0, got {days_offset}")
    return days_offset


class date_rules:
    """Factories of :class:`DateRule` with Zipline's names."""

    @staticmethod
    def every_day() -> DateRule:
        """Every session."""
        return DateRule("every_day")

    @staticmethod
    def week_start(days_offset: int = 0) -> DateRule:
        """The ``days_offset``-th session of each week."""
        return DateRule("week_start", _offset(days_offset))

    @staticmethod
    def week_end(days_offset: int = 0) -> DateRule:
        """The ``days_offset``-th session before each week's last."""
        return DateRule("week_end", _offset(days_offset))

    @staticmethod
    def month_start(days_offset: int = 0) -> DateRule:
        """The ``days_offset``-th session of each month."""
        return DateRule("month_start", _offset(days_offset))

    @staticmethod
    def month_end(days_offset: int = 0) -> DateRule:
        """The ``days_offset``-th session before each month's last."""
        return DateRule("month_end", _offset(days_offset))


class time_rules:
    """Factories of :class:`TimeRule` with Zipline's names."""

    @staticmethod
    def market_open(
        offset: dt.timedelta | None = None, hours: int = 0, minutes: int = 0
    ) -> TimeRule:
        """``offset`` (or hours/minutes) after the open; Zipline's default is one minute."""
        delta = offset if offset is not None else dt.timedelta(hours=hours, minutes=minutes)
        return TimeRule("open", delta or dt.timedelta(minutes=1))

    @staticmethod
    def market_close(
        offset: dt.timedelta | None = None, hours: int = 0, minutes: int = 0
    ) -> TimeRule:
        """``offset`` (or hours/minutes) before the close; Zipline's default is one minute."""
        delta = offset if offset is not None else dt.timedelta(hours=hours, minutes=minutes)
        return TimeRule("close", delta or dt.timedelta(minutes=1))

    @staticmethod
    def every_minute() -> TimeRule:
        """Every bar."""
        return TimeRule("every_minute")
