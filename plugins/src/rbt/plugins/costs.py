"""Built-in commission and slippage models, registered as providers.

Names: commissions ``per_share``, ``per_trade``, ``per_dollar``, ``maker_taker``,
``none``; slippage ``fixed_bps``, ``volume_share``, ``volume_impact``, ``spread``,
``fixed_spread``, ``none``. Each class documents its semantics. The classes live in
:mod:`rbt.finance.commission` and :mod:`rbt.finance.slippage` (Zipline's paths).
"""

from __future__ import annotations

from collections.abc import Iterator

from rbt.kernel import hookimpl
from rbt.kernel.registry import Provider, ProviderKind

_C = "rbt.finance.commission:"
_S = "rbt.finance.slippage:"


@hookimpl
def rbt_register_commission_models() -> Iterator[Provider]:
    """Register the built-in commission models."""
    kind = ProviderKind.COMMISSION_MODEL
    yield Provider(
        kind=kind,
        name="per_share",
        factory=_C + "PerShare",
        capabilities={"order_additive"},
        summary="cost per share with a per-order minimum (Zipline default 0.001)",
    )
    yield Provider(
        kind=kind,
        name="per_trade",
        factory=_C + "PerTrade",
        capabilities={"order_additive"},
        summary="flat cost per order",
    )
    yield Provider(
        kind=kind,
        name="per_dollar",
        factory=_C + "PerDollar",
        capabilities={"order_additive"},
        summary="cost per dollar traded",
    )
    yield Provider(
        kind=kind,
        name="maker_taker",
        factory=_C + "MakerTaker",
        summary="per-dollar maker rate for passive limit fills, taker otherwise; volume tiers",
    )
    yield Provider(
        kind=kind,
        name="none",
        factory=_C + "NoCommission",
        capabilities={"order_additive"},
        summary="free trading",
    )


@hookimpl
def rbt_register_slippage_models() -> Iterator[Provider]:
    """Register the built-in slippage models."""
    kind = ProviderKind.SLIPPAGE_MODEL
    yield Provider(
        kind=kind,
        name="fixed_bps",
        factory=_S + "FixedBasisPointsSlippage",
        summary="fixed basis points against the order, volume-capped (Zipline default)",
        capabilities={"volume_limit"},
    )
    yield Provider(
        kind=kind,
        name="volume_share",
        factory=_S + "VolumeShareSlippage",
        summary="Zipline's volume share: capped partial fills, quadratic price impact",
        capabilities={"volume_limit"},
    )
    yield Provider(
        kind=kind,
        name="volume_impact",
        factory=_S + "VolumeImpactSlippage",
        summary="square-root market impact of the bar's volume share, volume-capped",
        capabilities={"volume_limit"},
    )
    yield Provider(
        kind=kind,
        name="spread",
        factory=_S + "SpreadSlippage",
        summary="half a bid-ask spread: bps of the price or a fraction of high-low",
    )
    yield Provider(
        kind=kind,
        name="fixed_spread",
        factory=_S + "FixedSlippage",
        summary="half a fixed spread against the order",
    )
    yield Provider(
        kind=kind,
        name="none",
        factory=_S + "NoSlippage",
        summary="fill everything at the reference price",
    )
