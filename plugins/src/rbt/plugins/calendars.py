"""Built-in trading calendars: exchange-calendars' exchanges and a 24/7 calendar.

Provider names are lower-case exchange codes (``xnys``, ``xlon``, ...) plus
``always_open`` for crypto (UTC days, open 00:00, close 24:00). Any other
exchange-calendars code is reachable through :func:`get_calendar`.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from rbt.data.home import RbtHome
from rbt.kernel import hookimpl
from rbt.kernel.clock import SessionTimes, TradingCalendar, to_ns
from rbt.kernel.errors import ConfigError
from rbt.kernel.model import positional_builder
from rbt.kernel.registry import Provider, ProviderKind

__all__ = ["AlwaysOpenCalendar", "ExchangeCalendar", "get_calendar"]

_EXCHANGES = {
    "xnys": "New York Stock Exchange",
    "xnas": "Nasdaq",
    "xlon": "London Stock Exchange",
    "xetr": "Xetra (Frankfurt)",
    "xtks": "Tokyo Stock Exchange",
    "xhkg": "Hong Kong Exchanges",
    "xtse": "Toronto Stock Exchange",
    "xasx": "Australian Securities Exchange",
    "cmes": "CME Globex (equity futures)",
}

_ALWAYS_OPEN_NAMES = ("always_open", "24/7", "crypto")
_NS_PER_DAY = 86_400_000_000_000
#: ``SessionTimes(session, open, close)`` in one call: a run asks for every session's twice
_session_times = positional_builder(SessionTimes)


class ExchangeCalendar:
    """A :class:`~rbt.kernel.clock.TradingCalendar` over an exchange's schedule.

    The schedule (1990 to two years ahead) comes from exchange-calendars and is
    cached as arrays under ``$RBT_HOME/cache`` keyed by that library's version, so
    a run does not import pandas just to know the sessions.
    """

    def __init__(self, code: str, cache_dir: Path | None = None) -> None:
        self.name = code.upper()
        days, opens, closes = _load_schedule(self.name, cache_dir or RbtHome().cache)
        self._days = days  # datetime64[D], sorted
        self._opens = opens  # int64 ns
        self._closes = closes
        self._index = {d: i for i, d in enumerate(days.tolist())}

    @property
    def first_session(self) -> dt.date:
        """The first session the calendar knows."""
        return self._days[0].item()  # type: ignore[no-any-return]

    @property
    def last_session(self) -> dt.date:
        """The last session the calendar knows."""
        return self._days[-1].item()  # type: ignore[no-any-return]

    def sessions(self, start: dt.date, end: dt.date) -> Sequence[dt.date]:
        """Sessions from ``start`` to ``end`` inclusive."""
        lo = int(np.searchsorted(self._days, np.datetime64(start, "D"), side="left"))
        hi = int(np.searchsorted(self._days, np.datetime64(end, "D"), side="right"))
        return self._days[lo:hi].tolist()  # type: ignore[no-any-return]

    def session_times(self, session: dt.date) -> SessionTimes:
        """Open and close of ``session``."""
        try:
            i = self._index[session]
        except KeyError:
            raise ConfigError(f"{session} is not a {self.name} session") from None
        return _session_times(session, self._opens.item(i), self._closes.item(i))

    def is_session(self, day: dt.date) -> bool:
        """Whether ``day`` is a session."""
        return day in self._index


def _load_schedule(
    code: str, cache_dir: Path
) -> tuple[npt.NDArray[np.datetime64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    from rbt.runs.versions import installed_version

    path = cache_dir / "calendars" / f"{code}-{installed_version('exchange-calendars')}.npz"
    if path.exists():
        with np.load(path) as cached:
            return cached["days"], cached["opens"], cached["closes"]
    import exchange_calendars as xcals

    try:
        with warnings.catch_warnings():
            # exchange-calendars 4.x calls Series.values on tz-aware columns; pandas >= 3.1
            # deprecates that (attributed to pandas itself, so a module filter cannot catch it)
            warnings.filterwarnings(
                "ignore", message="Series.values returning an ndarray", category=DeprecationWarning
            )
            cal = xcals.get_calendar(code, start="1990-01-01")
    except Exception as exc:  # exchange_calendars raises its own InvalidCalendarName
        raise ConfigError(
            f"unknown trading calendar {code!r}; built-in: "
            f"{', '.join([*_EXCHANGES, 'always_open'])} (or any exchange-calendars code)"
        ) from exc
    schedule = cal.schedule
    days = schedule.index.values.astype("datetime64[D]")
    # tz-aware UTC columns: drop the zone explicitly (``.values`` on them warns in pandas >= 3.1)
    opens = schedule["open"].dt.tz_convert(None).to_numpy().astype("datetime64[ns]")
    closes = schedule["close"].dt.tz_convert(None).to_numpy().astype("datetime64[ns]")
    opens, closes = opens.astype(np.int64), closes.astype(np.int64)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
    np.savez(tmp, days=days, opens=opens, closes=closes)
    os.replace(tmp, path)  # atomic: concurrent runs never read half a file
    return days, opens, closes


class AlwaysOpenCalendar:
    """Every UTC day is a session from 00:00 to 24:00 (crypto markets)."""

    name = "ALWAYS_OPEN"

    def sessions(self, start: dt.date, end: dt.date) -> Sequence[dt.date]:
        """Every day from ``start`` to ``end`` inclusive."""
        return list(_days(start, end))

    def session_times(self, session: dt.date) -> SessionTimes:
        """00:00 to 24:00 UTC of ``session``."""
        midnight = to_ns(dt.datetime(session.year, session.month, session.day, tzinfo=dt.UTC))
        return SessionTimes(session, midnight, midnight + _NS_PER_DAY)

    def is_session(self, day: dt.date) -> bool:
        """Always true."""
        return True


def _days(start: dt.date, end: dt.date) -> Iterator[dt.date]:
    day = start
    while day <= end:
        yield day
        day += dt.timedelta(days=1)


@functools.lru_cache(maxsize=32)
def get_calendar(name: str) -> TradingCalendar:
    """The calendar called ``name`` (case-insensitive); cached per process.

    :raises ConfigError: for an unknown name, listing the built-in ones.
    """
    key = name.strip().lower()
    if key in _ALWAYS_OPEN_NAMES:
        return AlwaysOpenCalendar()
    return ExchangeCalendar(key)


@hookimpl
def rbt_register_calendars() -> Iterator[Provider]:
    """Register the exchange calendars and the 24/7 calendar."""
    for code, summary in _EXCHANGES.items():
        yield Provider(
            kind=ProviderKind.CALENDAR,
            name=code,
            factory=functools.partial(get_calendar, code),
            summary=summary,
        )
    yield Provider(
        kind=ProviderKind.CALENDAR,
        name="always_open",
        factory=functools.partial(get_calendar, "always_open"),
        summary="24/7: every UTC day, 00:00-24:00 (crypto)",
    )
