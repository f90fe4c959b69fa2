"""Cost-model contracts: commission and slippage models.

Models are plain objects built by provider factories. They see one proposed
fill at a time and return exact Decimals. The same model objects serve the
backtest, paper trading and the shadow backtest.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Protocol, runtime_checkable

import attrs

from rbt.kernel.model import Order

__all__ = ["BarSnapshot", "CommissionModel", "SlippageModel"]


@attrs.frozen(kw_only=True)
class BarSnapshot:
    """The exact bar a simulated fill is priced from."""

    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal


@runtime_checkable
class CommissionModel(Protocol):
    """Computes the commission of one fill."""

    def calculate(self, order: Order, amount: Decimal, price: Decimal) -> Decimal:
        """Commission (>= 0, base currency) of filling ``amount`` (signed) at ``price``.

        ``order.filled`` and ``order.commission`` are the totals *before* this fill,
        so per-order minimums can be applied once.
        """
        ...


@runtime_checkable
class SlippageModel(Protocol):
    """Decides how much of an order fills on a bar, and at what price."""

    def fill(
        self, order: Order, bar: BarSnapshot, base_price: Decimal, volume_used: Decimal
    ) -> tuple[Decimal, Decimal] | None:
        """Return ``(signed amount, price)`` to fill now, or None for no fill.

        :param base_price: the fill model's reference price (next open or close).
        :param volume_used: volume of this asset already filled on this bar.
        """
        ...
