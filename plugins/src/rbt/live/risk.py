"""Kill switch states and breakers.

The trading state is ``ACTIVE`` (trade), ``REDUCING`` (only orders that shrink a
position) or ``HALTED`` (no new orders); it is persisted in ``live_sessions`` and
survives restarts, and ``rbt halt`` / ``rbt resume`` change it from another process.

Breakers are looked up by name in :data:`BREAKERS`, a plain registry here: the kernel's
:class:`~rbt.kernel.registry.ProviderKind` has no breaker kind yet. A breaker sees the
portfolio value at each bar and returns a reason to trip (→ HALTED), or None.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import attrs

__all__ = [
    "ACTIVE",
    "BREAKERS",
    "HALTED",
    "REDUCING",
    "Breaker",
    "DailyLoss",
    "Drawdown",
    "make_breaker",
]

ACTIVE, REDUCING, HALTED = "ACTIVE", "REDUCING", "HALTED"
STATES = (ACTIVE, REDUCING, HALTED)


class Breaker:
    """Base: ``check(value, peak, session_start)`` returns a trip reason or None."""

    name = "breaker"

    def check(self, value: Decimal, peak: Decimal, session_start: Decimal) -> str | None:
        raise NotImplementedError


@attrs.define
class Drawdown(Breaker):
    """Trip when the value falls ``limit`` (a fraction) below its running peak."""

    limit: Decimal
    name = "drawdown"

    def check(self, value: Decimal, peak: Decimal, session_start: Decimal) -> str | None:
        if peak > 0 and (peak - value) / peak > self.limit:
            return f"drawdown breaker: {(peak - value) / peak:.4f} > {self.limit}"
        return None


@attrs.define
class DailyLoss(Breaker):
    """Trip when the value falls ``limit`` (a fraction) below the session's start."""

    limit: Decimal
    name = "daily_loss"

    def check(self, value: Decimal, peak: Decimal, session_start: Decimal) -> str | None:
        if session_start > 0 and (session_start - value) / session_start > self.limit:
            loss = (session_start - value) / session_start
            return f"daily-loss breaker: {loss:.4f} > {self.limit}"
        return None


BREAKERS: dict[str, Callable[[Decimal], Breaker]] = {"drawdown": Drawdown, "daily_loss": DailyLoss}


def make_breaker(spec: str) -> Breaker:
    """``name=limit`` (e.g. ``drawdown=0.2``) → a breaker.

    :raises ValueError: for an unknown name or a bad limit.
    """
    name, _, limit = spec.partition("=")
    factory = BREAKERS.get(name.strip())
    if factory is None:
        raise ValueError(f"unknown breaker {name!r}; choose one of: {', '.join(BREAKERS)}")
    try:
        value = Decimal(limit.strip())
    except ArithmeticError:
        raise ValueError(f"breaker {name}: bad limit {limit!r}") from None
    if not 0 < value < 1:
        raise ValueError(f"breaker {name}: limit must be a fraction in (0, 1), got {limit!r}")
    return factory(value)
