"""A per-venue request-weight limiter that honours ``Retry-After`` (reliability.md §A.4.7).

One :class:`VenueRateLimiter` per venue scope (exchange and host) is shared by every
client of the process (:func:`limiter_for`): the broker's REST calls, the data source
and the feed's REST catch-up draw from the same budget.

* Requests spend their endpoint weight from a sliding window of ``limit × headroom``;
  the venue's own count (``X-MBX-USED-WEIGHT-1M``) is adopted when it is higher.
* A 429/418 answer blocks *every* request of the scope until its ``Retry-After`` has
  passed — a client that keeps sending during a back-off is what gets an IP banned
  (Binance: 418).
* ``max_consecutive`` limited answers in a row trip the breaker: :meth:`check` raises
  :class:`~rbt.kernel.errors.RateLimitedError` until :meth:`reset`, so the live session
  halts instead of hammering the venue.
"""

from __future__ import annotations

import asyncio
import collections
import math
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from rbt.kernel.errors import RateLimitedError

__all__ = ["VenueRateLimiter", "limiter_for", "retry_after_seconds"]

_REGISTRY: dict[str, VenueRateLimiter] = {}
_REGISTRY_LOCK = threading.Lock()


def limiter_for(scope: str, **kwargs: Any) -> VenueRateLimiter:
    """The process-wide limiter of ``scope`` (created with ``kwargs`` on first use)."""
    with _REGISTRY_LOCK:
        limiter = _REGISTRY.get(scope)
        if limiter is None:
            limiter = _REGISTRY[scope] = VenueRateLimiter(scope, **kwargs)
        return limiter


def retry_after_seconds(headers: Mapping[str, Any] | None, default: float = 1.0) -> float:
    """``Retry-After`` of a response (seconds; header names are case-insensitive)."""
    for key, value in (headers or {}).items():
        if str(key).lower() == "retry-after":
            try:
                return max(0.0, float(value))
            except (TypeError, ValueError):
                return default
    return default


def used_weight(headers: Mapping[str, Any] | None) -> int | None:
    """The venue's weight count of the current minute (``X-MBX-USED-WEIGHT-1M``), if sent."""
    for key, value in (headers or {}).items():
        if str(key).lower() == "x-mbx-used-weight-1m":
            try:
                return int(value)
            except (TypeError, ValueError):
                return None
    return None


class VenueRateLimiter:
    """Weighted sliding-window budget plus a ``Retry-After`` block (see the module doc).

    :param limit: the venue's weight per window (Binance spot: 6000 per minute).
    :param window_s: window length in seconds.
    :param headroom: fraction of ``limit`` this process allows itself.
    :param max_consecutive: limited answers in a row that trip the breaker.
    """

    def __init__(
        self,
        scope: str,
        *,
        limit: int = 6000,
        window_s: float = 60.0,
        headroom: float = 0.8,
        max_consecutive: int = 3,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.scope = scope
        self.limit = limit
        self.window_s = window_s
        self.headroom = headroom
        self.max_consecutive = max_consecutive
        self._clock = clock
        self._lock = threading.Lock()
        self._spent: collections.deque[tuple[float, int]] = collections.deque()
        self.blocked_until = 0.0
        self.consecutive = 0
        self.limited_total = 0
        self.tripped = False

    # -- budget ----------------------------------------------------------------------
    @property
    def budget(self) -> int:
        return max(1, math.floor(self.limit * self.headroom))

    def _prune(self, now: float) -> None:
        while self._spent and self._spent[0][0] <= now - self.window_s:
            self._spent.popleft()

    def delay(self, weight: int = 1) -> float:
        """Seconds to wait before a request of ``weight`` may go (0: now)."""
        with self._lock:
            now = self._clock()
            self._prune(now)
            wait = max(0.0, self.blocked_until - now)
            spent = sum(w for _, w in self._spent)
            if spent + weight > self.budget and self._spent:
                # wait until enough of the window has expired
                freed, need = 0, spent + weight - self.budget
                for ts, w in self._spent:
                    freed += w
                    if freed >= need:
                        wait = max(wait, ts + self.window_s - now)
                        break
            return wait

    def _record(self, weight: int) -> None:
        with self._lock:
            self._spent.append((self._clock(), weight))

    def check(self) -> None:
        """Raise :class:`RateLimitedError` once the breaker has tripped."""
        if self.tripped:
            raise RateLimitedError(
                f"{self.scope}: {self.consecutive} rate-limit answers in a row; requests "
                "stopped to avoid a ban (reset the limiter after investigating)",
                venue=self.scope,
                retry_after=max(0.0, self.blocked_until - self._clock()),
            )

    def acquire(self, weight: int = 1, *, max_wait: float = math.inf) -> None:
        """Block until a request of ``weight`` may go, then spend it.

        :raises RateLimitedError: when the breaker has tripped, or the wait would exceed
            ``max_wait`` (a write is then refused before the network, not delayed).
        """
        self.check()
        wait = self.delay(weight)
        if wait > max_wait:
            raise RateLimitedError(
                f"{self.scope}: backing off for {wait:.1f} s more (Retry-After)",
                venue=self.scope,
                retry_after=wait,
            )
        if wait > 0:
            time.sleep(wait)
        self._record(weight)

    async def acquire_async(self, weight: int = 1) -> None:
        """:meth:`acquire` for coroutines (sleeps without blocking the loop)."""
        self.check()
        wait = self.delay(weight)
        if wait > 0:
            await asyncio.sleep(wait)
        self._record(weight)

    # -- what the venue said ------------------------------------------------------------
    def observe(self, headers: Mapping[str, Any] | None) -> None:
        """A normal answer: adopt the venue's weight count if it is higher than ours."""
        with self._lock:
            self.consecutive = 0
            used = used_weight(headers)
            now = self._clock()
            self._prune(now)
            spent = sum(w for _, w in self._spent)
            if used is not None and used > spent:
                self._spent.append((now, used - spent))

    def limited(self, headers: Mapping[str, Any] | None) -> float:
        """A 429/418 answer: block the scope for ``Retry-After``; return that wait."""
        wait = retry_after_seconds(headers)
        with self._lock:
            now = self._clock()
            self.blocked_until = max(self.blocked_until, now + wait)
            self.consecutive += 1
            self.limited_total += 1
            if self.consecutive >= self.max_consecutive:
                self.tripped = True
        return wait

    def reset(self) -> None:
        """Clear the breaker and the back-off (an operator decision)."""
        with self._lock:
            self.tripped = False
            self.consecutive = 0
            self.blocked_until = 0.0
