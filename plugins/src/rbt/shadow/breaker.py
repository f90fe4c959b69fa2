"""The alignment circuit breaker: halts trading when live drifts from the shadow.

It is a check placed after the others (:mod:`rbt.shadow.checks`): it reads their
measurements of the same observation and returns a ``trip`` measurement the first time
one crosses its threshold. The shadow engine then calls the live run's kill switch
(HALTED, persisted: it survives a restart and only ``rbt resume`` resets it).

Thresholds (:class:`Thresholds`; defaults by run mode, design.md §2.6):

================  =========================  ======  ====================
metric            trips when                 paper   live and sandbox
================  =========================  ======  ====================
match_rate        below                      0.99    0.95
slippage (bps)    \\|rolling mean\\| above     10      50
fill-rate error   rolling mean above         0.20    0.20
================  =========================  ======  ====================

It judges a metric only once it rests on enough samples: ``min_signals`` classified
signals (default 20) for the match rate, ``min_fills`` paired fills (default 5) for the
execution metrics. The means cover the last ``rolling`` paired fills (default 20, see
:class:`~rbt.shadow.checks.ExecutionQuality`), so when every paired fill from some
point on is beyond the threshold, the breaker trips **at the latest ``rolling`` paired
fills later** (and never before ``min_fills`` paired fills in all). Its report names the
metric, value, threshold, sample count and the worst orders of the window.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs

from rbt.kernel.errors import ConfigError
from rbt.shadow.checks import Measurement, Observation

__all__ = ["AlignmentBreaker", "Thresholds", "default_thresholds"]


@attrs.frozen(kw_only=True)
class Thresholds:
    """Where the breaker trips (see the module docs)."""

    match_rate: float = 0.99
    slippage_bps: float = 10.0
    fill_rate_error: float = 0.20
    min_signals: int = 20
    min_fills: int = 5

    def __attrs_post_init__(self) -> None:
        if not 0 <= self.match_rate <= 1:
            raise ConfigError(f"match_rate threshold must be in [0, 1], got {self.match_rate}")
        if self.slippage_bps < 0 or self.fill_rate_error < 0:
            raise ConfigError("slippage and fill-rate thresholds must not be negative")
        if self.min_signals < 1 or self.min_fills < 1:
            raise ConfigError("min_signals and min_fills must be at least 1")


def default_thresholds(mode: str) -> Thresholds:
    """Paper: match ≥ 0.99, slippage ≤ 10 bps; live and sandbox: ≥ 0.95, ≤ 50 bps."""
    if mode == "paper":
        return Thresholds()
    if mode in ("live", "sandbox"):
        return Thresholds(match_rate=0.95, slippage_bps=50.0)
    raise ConfigError(f"unknown run mode {mode!r}; expected paper, live or sandbox")


class AlignmentBreaker:
    """Trip once when a measured metric crosses its threshold (see the module docs)."""

    name = "alignment_breaker"

    def __init__(self, thresholds: Thresholds | None = None, mode: str = "paper") -> None:
        self.thresholds = thresholds or default_thresholds(mode)
        self.tripped: dict[str, Any] | None = None

    @classmethod
    def from_settings(cls, settings: Any) -> AlignmentBreaker:
        """The provider factory: the engine's thresholds."""
        return cls(settings.thresholds)

    def reset(self) -> None:
        """Arm again (after an operator reset of the kill switch)."""
        self.tripped = None

    def observe(self, observation: Observation) -> Sequence[Measurement]:
        if self.tripped is not None:
            return ()
        crossed = [c for m in observation.measurements if (c := self._crossed(m)) is not None]
        if not crossed:
            return ()
        reason = "shadow alignment breaker: " + "; ".join(c["text"] for c in crossed)
        self.tripped = {"reason": reason, "ts": observation.ts, "crossed": crossed}
        return (
            Measurement(
                check=self.name,
                metric="trip",
                value=1.0,
                samples=max(c["samples"] for c in crossed),
                details={
                    "reason": reason,
                    "crossed": crossed,
                    "thresholds": attrs.asdict(self.thresholds),
                },
            ),
        )

    def _crossed(self, m: Measurement) -> dict[str, Any] | None:
        t = self.thresholds
        if m.value is None:
            return None
        value = m.value
        if m.metric == "match_rate":
            if m.samples < t.min_signals or value >= t.match_rate:
                return None
            text = f"match rate {value:.4f} < {t.match_rate} over {m.samples} signals"
            limit: float = t.match_rate
            orders = list(m.details.get("mismatched_orders", ()))
        elif m.metric == "slippage_error_bps":
            if m.samples < t.min_fills or abs(value) <= t.slippage_bps:
                return None
            text = (
                f"slippage error {value:.2f} bps beyond {t.slippage_bps} bps "
                f"over {m.samples} paired fills"
            )
            limit = t.slippage_bps
            orders = list(m.details.get("worst", ()))
        elif m.metric == "fill_rate_error":
            if m.samples < t.min_fills or value <= t.fill_rate_error:
                return None
            text = (
                f"fill-rate error {value:.2%} > {t.fill_rate_error:.0%} "
                f"over {m.samples} paired fills"
            )
            limit = t.fill_rate_error
            orders = list(m.details.get("worst", ()))
        else:
            return None
        return {
            "metric": m.metric,
            "value": value,
            "threshold": limit,
            "samples": m.samples,
            "orders": orders,
            "text": text,
        }
