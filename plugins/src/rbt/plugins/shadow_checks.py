"""Built-in shadow checks (``SHADOW_CHECK`` providers, design.md §2.6).

Each factory takes the shadow engine's :class:`~rbt.shadow.engine.ShadowSettings` and
returns a :class:`~rbt.shadow.checks.ShadowCheck`. The engine runs checks in registration
order, those with the ``breaker`` capability last (they read the others' measurements).
"""

from __future__ import annotations

from collections.abc import Iterator

from rbt.kernel import hookimpl
from rbt.kernel.registry import Provider, ProviderKind


@hookimpl
def rbt_register_shadow_checks() -> Iterator[Provider]:
    """Register signal alignment, execution quality and the alignment breaker."""
    kind = ProviderKind.SHADOW_CHECK
    yield Provider(
        kind=kind,
        name="signal_alignment",
        factory="rbt.shadow.checks:SignalAlignment.from_settings",
        summary="live vs shadow orders by asset, side and bar window; rolling match rate",
    )
    yield Provider(
        kind=kind,
        name="execution_quality",
        factory="rbt.shadow.checks:ExecutionQuality.from_settings",
        summary="slippage error (bps), fill-rate error and commission error of paired fills",
    )
    yield Provider(
        kind=kind,
        name="alignment_breaker",
        factory="rbt.shadow.breaker:AlignmentBreaker.from_settings",
        summary="halts trading below a match rate or above a slippage or fill-rate error",
        capabilities=frozenset({"breaker"}),
    )
