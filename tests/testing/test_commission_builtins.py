"""The kit's commission cases run against every built-in commission model."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from rbt.testing import CommissionModelConformance

COSTS = ("rbt.plugins.costs",)  # only the plugin under test: fast, and isolated


class TestPerShare(CommissionModelConformance):
    builtins = COSTS
    provider = "per_share"


class TestPerShareWithMinimum(CommissionModelConformance):
    builtins = COSTS
    provider = "per_share"
    provider_kwargs: ClassVar[Mapping[str, str]] = {"cost": "0.005", "min_trade_cost": "1"}


class TestPerTrade(CommissionModelConformance):
    builtins = COSTS
    provider = "per_trade"
    provider_kwargs: ClassVar[Mapping[str, str]] = {"cost": "4.95"}


class TestPerDollar(CommissionModelConformance):
    builtins = COSTS
    provider = "per_dollar"


class TestNoCommission(CommissionModelConformance):
    builtins = COSTS
    provider = "none"
