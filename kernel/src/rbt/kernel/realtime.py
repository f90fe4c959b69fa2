"""A realtime clock: clock events released on wall time (live, paper and replays).

:class:`RealtimeClock` takes the scheduled :class:`~rbt.kernel.clock.ClockEvent`
stream of a market (the same events a :class:`~rbt.kernel.clock.SimClock` yields)
and releases each one when wall time reaches it, so the asyncio engine drives
:meth:`rbt.kernel.session.Session.step` exactly as a backtest does. For a replay
the events' own timestamps are mapped onto wall time from the first event,
scaled by ``speed`` (``None``: no sleeping at all). Stdlib only.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterable

from rbt.kernel.clock import ClockEvent

__all__ = ["RealtimeClock", "parse_speed"]

NS = 1_000_000_000


def parse_speed(text: str | float | None) -> float | None:
    """``"max"``/None → None (no sleeping); a positive number → that factor.

    :raises ValueError: for zero, negative or unparsable speeds.
    """
    if text is None or (isinstance(text, str) and text.strip().lower() == "max"):
        return None
    try:
        speed = float(text)
    except ValueError:
        raise ValueError(f"speed must be a positive number or 'max', got {text!r}") from None
    if not speed > 0:
        raise ValueError(f"speed must be a positive number or 'max', got {text!r}")
    return speed


class RealtimeClock:
    """Release scheduled clock events on wall time.

    :param schedule: events in non-decreasing ``(ts, kind)`` order.
    :param speed: replay factor (1.0 = real time of the events' own stamps; None =
        as fast as possible). With ``live=True`` events are released at their own
        timestamps against the wall clock (``speed`` ignored).
    :param now: wall clock in ns (injectable for tests).
    """

    def __init__(
        self,
        schedule: Iterable[ClockEvent],
        *,
        speed: float | None = None,
        live: bool = False,
        now: Callable[[], int] = time.time_ns,
    ) -> None:
        self._schedule = schedule
        self.speed = speed
        self.live = live
        self._now = now
        self.released = 0

    def delay_ns(self, event: ClockEvent, origin_event: int, origin_wall: int) -> int:
        """Wall-clock nanoseconds to wait before ``event`` may be released."""
        if self.live:
            return event.ts - self._now()
        if self.speed is None:
            return 0
        due = origin_wall + int((event.ts - origin_event) / self.speed)
        return due - self._now()

    async def events(self, skip_until: int | None = None) -> AsyncIterator[ClockEvent]:
        """Yield events when they are due; events with ``ts < skip_until`` go out at once
        (a restarted replay catches up without sleeping)."""
        origin_event: int | None = None
        origin_wall = 0
        for event in self._schedule:
            if skip_until is not None and event.ts < skip_until:
                self.released += 1
                yield event
                continue
            if origin_event is None:
                origin_event, origin_wall = event.ts, self._now()
            wait = self.delay_ns(event, origin_event, origin_wall)
            if wait > 0:
                await asyncio.sleep(wait / NS)
            else:
                await asyncio.sleep(0)  # let feed and broker tasks run
            self.released += 1
            yield event
