"""Venue clock offset (reliability.md §A.4.11, scenario 8).

The offset is measured against the venue's server time (``fetch_time``, the midpoint of
the round trip) and applied to both ccxt clients through ``options['timeDifference']``
(ccxt stamps signed requests with ``milliseconds() - timeDifference``). An offset larger
than ``max_skew_ms``, or a round trip so slow that the measurement is less precise than
the venue's ``recvWindow``, is not corrected: private calls are refused and the broker
halts with :class:`ClockSkewError`.
"""

from __future__ import annotations

import time
from typing import Any

import attrs

from rbt.kernel.errors import BrokerError

__all__ = ["ClockOffset", "ClockSkewError", "apply_offset", "check_offset", "measure_offset"]


class ClockSkewError(BrokerError):
    """The local clock is too far from the venue's to sign requests safely."""

    retryable = False


@attrs.frozen
class ClockOffset:
    """``server - local`` in milliseconds, and the round trip it was measured over."""

    offset_ms: int
    rtt_ms: int


def measure_offset(fetch_time: Any, *, now_ms: Any = None) -> ClockOffset:
    """Call ``fetch_time()`` (venue ms) and compare it with the local clock's midpoint."""
    now = now_ms or (lambda: time.time_ns() // 1_000_000)
    before = now()
    server = int(fetch_time())
    after = now()
    return ClockOffset(offset_ms=server - (before + after) // 2, rtt_ms=after - before)


def apply_offset(client: Any, offset: ClockOffset) -> None:
    """Stamp ``client``'s signed requests with the venue's time."""
    client.options["timeDifference"] = -offset.offset_ms


def check_offset(offset: ClockOffset, *, max_skew_ms: int, recv_window_ms: int, venue: str) -> None:
    """Raise :class:`ClockSkewError` when ``offset`` is beyond what the broker corrects."""
    if abs(offset.offset_ms) > max_skew_ms:
        raise ClockSkewError(
            f"CLOCK_SKEW: the local clock is {offset.offset_ms / 1000:+.3f} s off the venue's "
            f"(more than the {max_skew_ms / 1000:g} s this broker corrects); private calls are "
            "refused and trading halts — fix the system clock (NTP) and restart",
            venue=venue,
        )
    if offset.rtt_ms // 2 >= recv_window_ms:
        raise ClockSkewError(
            f"CLOCK_SKEW: the venue's time could not be measured within its recvWindow "
            f"({recv_window_ms} ms; round trip {offset.rtt_ms} ms); trading halts",
            venue=venue,
        )
