"""The kit's broker cases run against the built-in simulated broker."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from rbt.finance.commission import PerShare
from rbt.finance.slippage import FixedBasisPointsSlippage, NoSlippage
from rbt.testing import BrokerConformance


class TestSimBrokerZiplineDefaults(BrokerConformance):
    builtins = ("rbt.plugins.sim_broker",)
    provider = "sim"
    provider_kwargs: ClassVar[Mapping[str, Any]] = {
        "commission": PerShare(),
        "slippage": FixedBasisPointsSlippage(),
    }


class TestSimBrokerNextOpenNoCosts(BrokerConformance):
    builtins = ("rbt.plugins.sim_broker",)
    provider = "sim"
    provider_kwargs: ClassVar[Mapping[str, Any]] = {
        "commission": PerShare(cost="0"),
        "slippage": NoSlippage(),
        "fill_timing": "next_open",
    }
