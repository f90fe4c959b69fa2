"""Commission models with Zipline's names and semantics, computed exactly.

Every model returns a non-negative Decimal for one fill. Minimums apply per
order: a later fill of the same order pays only what brings the order's total
up to ``max(minimum, rate × quantity so far)``. No rounding is applied (fees are
exact products of the rates given); round in a custom model if your venue does.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from rbt.finance._convert import as_decimal
from rbt.kernel.model import Order
from rbt.kernel.numeric import ZERO

__all__ = ["MakerTaker", "NoCommission", "PerDollar", "PerShare", "PerTrade"]


class PerShare:
    """``cost`` per share (or contract), at least ``min_trade_cost`` per order.

    Zipline's default for equities is ``PerShare(cost=0.001, min_trade_cost=0)``.
    """

    def __init__(
        self, cost: float | Decimal | str = "0.001", min_trade_cost: float | Decimal | str = 0
    ) -> None:
        self.cost = as_decimal(cost, "cost", minimum=ZERO)
        self.min_trade_cost = as_decimal(min_trade_cost, "min_trade_cost", minimum=ZERO)

    def calculate(self, order: Order, amount: Decimal, price: Decimal) -> Decimal:
        """Commission of filling ``amount`` of ``order``."""
        total = max(self.min_trade_cost, (abs(order.filled) + abs(amount)) * self.cost)
        return max(ZERO, total - order.commission)

    def __repr__(self) -> str:
        return f"PerShare(cost={self.cost}, min_trade_cost={self.min_trade_cost})"


class PerTrade:
    """A flat ``cost`` per order, charged on its first fill."""

    def __init__(self, cost: float | Decimal | str = 0) -> None:
        self.cost = as_decimal(cost, "cost", minimum=ZERO)

    def calculate(self, order: Order, amount: Decimal, price: Decimal) -> Decimal:
        """The flat cost on the first fill, nothing after."""
        return self.cost if order.filled == 0 else ZERO

    def __repr__(self) -> str:
        return f"PerTrade(cost={self.cost})"


class PerDollar:
    """``cost`` per dollar traded (``0.0015`` = 15 bps of notional)."""

    def __init__(self, cost: float | Decimal | str = "0.0015") -> None:
        self.cost = as_decimal(cost, "cost", minimum=ZERO)

    def calculate(self, order: Order, amount: Decimal, price: Decimal) -> Decimal:
        """``cost`` × |amount × price × multiplier|."""
        return abs(amount * price * order.asset.multiplier) * self.cost

    def __repr__(self) -> str:
        return f"PerDollar(cost={self.cost})"


class NoCommission:
    """Free trading."""

    def calculate(self, order: Order, amount: Decimal, price: Decimal) -> Decimal:
        """Always zero."""
        return ZERO

    def __repr__(self) -> str:
        return "NoCommission()"


class MakerTaker:
    """Per-dollar rates by liquidity: ``maker`` for passive limit fills (a resting
    limit filled at its limit price), ``taker`` for everything else (market and
    stop orders, and limits that were marketable — filled at the open through
    the limit). Rates are fractions of notional (``0.0002`` = 2 bp).

    ``tiers`` lowers the rates with volume: ``[(threshold, maker, taker), ...]``;
    a fill pays the rates of the highest threshold not above the notional this
    model has charged before it (the tier applies from the fill *after* the one
    crossing the threshold). The running notional lives in the model, so use a
    fresh instance per run; it is updated once per fill.
    """

    def __init__(
        self,
        maker: float | Decimal | str = "0.0002",
        taker: float | Decimal | str = "0.0005",
        tiers: Sequence[tuple[Any, Any, Any]] = (),
    ) -> None:
        self.maker = as_decimal(maker, "maker", minimum=ZERO)
        self.taker = as_decimal(taker, "taker", minimum=ZERO)
        parsed = [
            (
                as_decimal(t, "tier threshold", minimum=ZERO),
                as_decimal(m, "tier maker", minimum=ZERO),
                as_decimal(k, "tier taker", minimum=ZERO),
            )
            for t, m, k in tiers
        ]
        self.tiers = tuple(sorted(parsed))
        self.traded = ZERO

    def rates(self) -> tuple[Decimal, Decimal]:
        """(maker, taker) at the notional traded so far."""
        maker, taker = self.maker, self.taker
        for threshold, tier_maker, tier_taker in self.tiers:
            if self.traded >= threshold:
                maker, taker = tier_maker, tier_taker
        return maker, taker

    def calculate_liquidity(
        self, order: Order, amount: Decimal, price: Decimal, *, passive: bool
    ) -> Decimal:
        """Commission of one fill, knowing whether it added liquidity."""
        maker, taker = self.rates()
        notional = abs(amount * price * order.asset.multiplier)
        self.traded += notional
        return notional * (maker if passive else taker)

    def calculate(self, order: Order, amount: Decimal, price: Decimal) -> Decimal:
        """Without liquidity information: the taker rate."""
        return self.calculate_liquidity(order, amount, price, passive=False)

    def __repr__(self) -> str:
        tiers = [tuple(str(v) for v in tier) for tier in self.tiers]
        return f"MakerTaker(maker={self.maker}, taker={self.taker}, tiers={tiers})"
