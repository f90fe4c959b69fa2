"""Slippage models with Zipline's names and semantics, computed exactly.

A model sees one open order and the bar it may fill on, plus the fill model's
reference price (the bar's close by default, its open with next-open fills),
and returns ``(signed amount, price)`` or None. Volume caps count what other
orders for the same asset already filled on the bar.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal

from rbt.finance._convert import as_decimal
from rbt.kernel.costs import BarSnapshot
from rbt.kernel.model import Order
from rbt.kernel.numeric import ZERO, ledger_context

__all__ = ["FixedBasisPointsSlippage", "FixedSlippage", "NoSlippage"]

_BPS = Decimal("0.0001")


def _capped(order: Order, bar: BarSnapshot, volume_limit: Decimal, volume_used: Decimal) -> Decimal:
    # whole units of the bar's volume share still available, toward zero
    lot = order.asset.lot_size
    cap = (volume_limit * bar.volume / lot).to_integral_value(rounding=ROUND_DOWN) * lot
    return min(abs(order.open_amount), cap - volume_used)


class FixedBasisPointsSlippage:
    """Fill at the reference price moved ``basis_points`` against the order,
    at most ``volume_limit`` of the bar's volume (Zipline's default: 5 bp, 10 %).
    """

    def __init__(
        self, basis_points: float | Decimal | str = "5", volume_limit: float | Decimal | str = "0.1"
    ) -> None:
        self.basis_points = as_decimal(basis_points, "basis_points", minimum=ZERO)
        self.volume_limit = as_decimal(volume_limit, "volume_limit", minimum=ZERO)
        if self.volume_limit == 0:
            raise ValueError("volume_limit must be positive")

    def fill(
        self, order: Order, bar: BarSnapshot, base_price: Decimal, volume_used: Decimal
    ) -> tuple[Decimal, Decimal] | None:
        """Return the capped fill, or None when the bar's volume share is used up."""
        with ledger_context():
            quantity = _capped(order, bar, self.volume_limit, volume_used)
            if quantity <= 0:
                return None
            price = base_price * (1 + self.basis_points * _BPS * order.direction)
            return quantity * order.direction, price

    def __repr__(self) -> str:
        return (
            f"FixedBasisPointsSlippage(basis_points={self.basis_points}, "
            f"volume_limit={self.volume_limit})"
        )


class FixedSlippage:
    """Fill the whole order at the reference price ± half a fixed ``spread``.

    Unlike Zipline, a sell priced below half the spread does not fill at a zero
    or negative price: it does not fill on that bar.
    """

    def __init__(self, spread: float | Decimal | str = 0) -> None:
        self.spread = as_decimal(spread, "spread", minimum=ZERO)

    def fill(
        self, order: Order, bar: BarSnapshot, base_price: Decimal, volume_used: Decimal
    ) -> tuple[Decimal, Decimal] | None:
        """The whole open amount, half the spread worse (no fill below a positive price)."""
        with ledger_context():
            price = base_price + self.spread / 2 * order.direction
            return (order.open_amount, price) if price > 0 else None

    def __repr__(self) -> str:
        return f"FixedSlippage(spread={self.spread})"


class NoSlippage:
    """Fill the whole order at the reference price."""

    def fill(
        self, order: Order, bar: BarSnapshot, base_price: Decimal, volume_used: Decimal
    ) -> tuple[Decimal, Decimal] | None:
        """The whole open amount at ``base_price``."""
        return order.open_amount, base_price

    def __repr__(self) -> str:
        return "NoSlippage()"
