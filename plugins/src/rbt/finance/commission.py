"""Commission models with Zipline's names and semantics, computed exactly.

Every model returns a non-negative Decimal for one fill. Minimums apply per
order: a later fill of the same order pays only what brings the order's total
up to ``max(minimum, rate × quantity so far)``. No rounding is applied (fees are
exact products of the rates given); round in a custom model if your venue does.
"""

from __future__ import annotations

from decimal import Decimal

from rbt.finance._convert import as_decimal
from rbt.kernel.model import Order
from rbt.kernel.numeric import ZERO

__all__ = ["NoCommission", "PerDollar", "PerShare", "PerTrade"]


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
