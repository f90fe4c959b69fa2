"""The kit's slippage cases run against every built-in slippage model."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import ClassVar

from rbt.kernel.costs import BarSnapshot
from rbt.kernel.model import Asset, Order
from rbt.testing import SlippageModelConformance

COSTS = ("rbt.plugins.costs",)  # only the plugin under test: fast, and isolated


class TestFixedBasisPoints(SlippageModelConformance):
    builtins = COSTS
    provider = "fixed_bps"


class TestFixedBasisPointsWide(SlippageModelConformance):
    builtins = COSTS
    provider = "fixed_bps"
    provider_kwargs: ClassVar[Mapping[str, str]] = {"basis_points": "25", "volume_limit": "0.025"}


class TestFixedSpread(SlippageModelConformance):
    builtins = COSTS
    provider = "fixed_spread"
    provider_kwargs: ClassVar[Mapping[str, str]] = {"spread": "0.02"}


def test_fixed_spread_never_fills_at_a_negative_price(rbt_harness: object) -> None:
    model = TestFixedSpread.make(
        TestFixedSpread.make_harness().provider(TestFixedSpread.kind, "fixed_spread")
    )
    asset = Asset(sid=1, symbol="PENNY", tick_size="0.0001")
    order = Order(id="t-1", asset=asset, amount=Decimal(-5), created=0)
    price = Decimal("0.005")
    bar = BarSnapshot(open=price, high=price, low=price, close=price, volume=Decimal(100))
    result = model.fill(order, bar, price, Decimal(0))
    assert result is None or result[1] > 0


class TestNoSlippage(SlippageModelConformance):
    builtins = COSTS
    provider = "none"
