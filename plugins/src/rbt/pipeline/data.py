"""Datasets: ``USEquityPricing`` (alias ``EquityPricing``), the bundle's daily bars.

Every column is float64 (volume included, as in Zipline); a missing bar is NaN.
"""

from __future__ import annotations

from rbt.pipeline._terms import BoundColumn

__all__ = ["BoundColumn", "EquityPricing", "USEquityPricing"]


class _PricingDataSet:
    """Open, high, low, close and volume of the bundle's bars."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.open = BoundColumn("open", name)
        self.high = BoundColumn("high", name)
        self.low = BoundColumn("low", name)
        self.close = BoundColumn("close", name)
        self.volume = BoundColumn("volume", name)

    @property
    def columns(self) -> frozenset[BoundColumn]:
        return frozenset([self.open, self.high, self.low, self.close, self.volume])

    def __repr__(self) -> str:
        return self.name


EquityPricing = _PricingDataSet("EquityPricing")
#: Zipline's name; the same columns as :data:`EquityPricing`.
USEquityPricing = EquityPricing
