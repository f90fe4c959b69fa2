"""Slippage models with Zipline's names and semantics, computed exactly.

A model sees one open order and the bar it may fill on, plus the fill model's
reference price (the bar's close by default, its open with next-open fills),
and returns ``(signed amount, price)`` or None. Volume caps count what other
orders for the same asset already filled on the bar.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, Decimal

from rbt.finance._convert import as_decimal
from rbt.kernel.costs import BarSnapshot
from rbt.kernel.model import Order
from rbt.kernel.numeric import LEDGER_SCALE, ZERO, ledger_context

__all__ = [
    "FixedBasisPointsSlippage",
    "FixedSlippage",
    "NoSlippage",
    "SpreadSlippage",
    "VolumeImpactSlippage",
    "VolumeShareSlippage",
]

_BPS = Decimal("0.0001")


def _volume_limit(value: float | Decimal | str) -> Decimal:
    """A positive fraction of the bar's volume."""
    limit = as_decimal(value, "volume_limit", minimum=ZERO)
    if limit == 0:
        raise ValueError("volume_limit must be positive")
    return limit


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
        self.volume_limit = _volume_limit(volume_limit)

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


def _against(price: Decimal, direction: int) -> Decimal:
    """Round a computed price to :data:`LEDGER_SCALE` against the order (buys up)."""
    return price.quantize(LEDGER_SCALE, rounding=ROUND_CEILING if direction > 0 else ROUND_FLOOR)


class VolumeShareSlippage:
    """Zipline's ``VolumeShareSlippage``: at most ``volume_limit`` of the bar's volume
    (shared by all orders of the asset on the bar, the rest carries over), at

        price = base × (1 + direction × price_impact × share²),
        share = min((volume already filled on the bar + this fill) / bar volume, volume_limit)

    Zipline's defaults: ``volume_limit=0.025``, ``price_impact=0.1``. Prices are
    rounded to 1e-12 against the order.
    """

    def __init__(
        self,
        volume_limit: float | Decimal | str = "0.025",
        price_impact: float | Decimal | str = "0.1",
    ) -> None:
        self.volume_limit = _volume_limit(volume_limit)
        self.price_impact = as_decimal(price_impact, "price_impact", minimum=ZERO)

    def fill(
        self, order: Order, bar: BarSnapshot, base_price: Decimal, volume_used: Decimal
    ) -> tuple[Decimal, Decimal] | None:
        """The capped quantity at the quadratic-impact price."""
        with ledger_context():
            quantity = _capped(order, bar, self.volume_limit, volume_used)
            if quantity <= 0:
                return None
            share = min((volume_used + quantity) / bar.volume, self.volume_limit)
            impact = self.price_impact * share * share * order.direction
            return quantity * order.direction, _against(base_price * (1 + impact), order.direction)

    def __repr__(self) -> str:
        return (
            f"VolumeShareSlippage(volume_limit={self.volume_limit}, "
            f"price_impact={self.price_impact})"
        )


class VolumeImpactSlippage:
    """Square-root market impact: at most ``volume_limit`` of the bar's volume, at

        price = base × (1 + direction × coefficient × share ** exponent),
        share = (volume already filled on the bar + this fill) / bar volume

    (``exponent=0.5`` is the square-root law). Prices are rounded to 1e-12 against
    the order.
    """

    def __init__(
        self,
        coefficient: float | Decimal | str = "0.1",
        volume_limit: float | Decimal | str = "0.1",
        exponent: float | Decimal | str = "0.5",
    ) -> None:
        self.coefficient = as_decimal(coefficient, "coefficient", minimum=ZERO)
        self.volume_limit = _volume_limit(volume_limit)
        self.exponent = as_decimal(exponent, "exponent", minimum=ZERO)

    def fill(
        self, order: Order, bar: BarSnapshot, base_price: Decimal, volume_used: Decimal
    ) -> tuple[Decimal, Decimal] | None:
        """The capped quantity at the impacted price."""
        with ledger_context():
            quantity = _capped(order, bar, self.volume_limit, volume_used)
            if quantity <= 0:
                return None
            share = (volume_used + quantity) / bar.volume
            scaled = share.sqrt() if self.exponent == Decimal("0.5") else share**self.exponent
            impact = self.coefficient * scaled * order.direction
            price = _against(base_price * (1 + impact), order.direction)
            return (quantity * order.direction, price) if price > 0 else None

    def __repr__(self) -> str:
        return (
            f"VolumeImpactSlippage(coefficient={self.coefficient}, "
            f"volume_limit={self.volume_limit}, exponent={self.exponent})"
        )


class SpreadSlippage:
    """Pay half a bid-ask spread: ``spread_bps`` of the base price (default 10 bp), or
    ``high_low_fraction`` × (high − low) of the bar when that is given. The whole
    order fills unless ``volume_limit`` caps it. A sell priced at or below zero does
    not fill on that bar.
    """

    def __init__(
        self,
        spread_bps: float | Decimal | str = "10",
        *,
        high_low_fraction: float | Decimal | str | None = None,
        volume_limit: float | Decimal | str | None = None,
    ) -> None:
        self.spread_bps = as_decimal(spread_bps, "spread_bps", minimum=ZERO)
        self.high_low_fraction = (
            None
            if high_low_fraction is None
            else as_decimal(high_low_fraction, "high_low_fraction", minimum=ZERO)
        )
        self.volume_limit = None if volume_limit is None else _volume_limit(volume_limit)

    def fill(
        self, order: Order, bar: BarSnapshot, base_price: Decimal, volume_used: Decimal
    ) -> tuple[Decimal, Decimal] | None:
        """The (capped) quantity, half the spread worse."""
        with ledger_context():
            if self.volume_limit is None:
                quantity = abs(order.open_amount)
            else:
                quantity = _capped(order, bar, self.volume_limit, volume_used)
            if quantity <= 0:
                return None
            if self.high_low_fraction is not None:
                half = self.high_low_fraction * (bar.high - bar.low) / 2
            else:
                half = base_price * self.spread_bps * _BPS / 2
            price = base_price + half * order.direction
            return (quantity * order.direction, price) if price > 0 else None

    def __repr__(self) -> str:
        return (
            f"SpreadSlippage(spread_bps={self.spread_bps}, "
            f"high_low_fraction={self.high_low_fraction}, volume_limit={self.volume_limit})"
        )
