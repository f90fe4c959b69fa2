"""The kit itself: isolation, env guard, recorder, capability skips, and failing bad providers."""

from __future__ import annotations

import datetime as dt
import os
import types
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from rbt.finance.commission import PerShare
from rbt.kernel import hookimpl
from rbt.kernel.bus import EventBus
from rbt.kernel.costs import BarSnapshot
from rbt.kernel.errors import PluginLoadError
from rbt.kernel.events import BarClosed, SessionClosed, SessionStarted
from rbt.kernel.model import Order
from rbt.kernel.registry import Provider, ProviderKind
from rbt.testing import CommissionModelConformance, RbtHarness, SlippageModelConformance
from rbt.testing.capabilities import ORDER_ADDITIVE, VOLUME_LIMIT, requires
from rbt.testing.distributions import TempDistributions
from rbt.testing.harness import environ_unchanged

DAY = dt.date(2024, 1, 2)


# -- bad models, registered in-process ------------------------------------------------
class NegativeFee:
    def calculate(self, order: Order, amount: Decimal, price: Decimal) -> Decimal:
        return Decimal("-0.01")


class FloatFee:
    def calculate(self, order: Order, amount: Decimal, price: Decimal) -> Any:
        return float(abs(amount)) * 0.01


class RegressiveFee:  # cheaper for bigger orders: not monotone
    def calculate(self, order: Order, amount: Decimal, price: Decimal) -> Decimal:
        return max(Decimal(0), Decimal(1000) - abs(amount))


class Overfill:
    def fill(
        self, order: Order, bar: BarSnapshot, base_price: Decimal, volume_used: Decimal
    ) -> tuple[Decimal, Decimal] | None:
        return order.open_amount * 2, base_price


class WrongWay:
    def fill(
        self, order: Order, bar: BarSnapshot, base_price: Decimal, volume_used: Decimal
    ) -> tuple[Decimal, Decimal] | None:
        return -order.open_amount, base_price


class Uncapped(Overfill):
    volume_limit = Decimal("0.1")

    def fill(
        self, order: Order, bar: BarSnapshot, base_price: Decimal, volume_used: Decimal
    ) -> tuple[Decimal, Decimal] | None:
        return order.open_amount, base_price


@hookimpl
def rbt_register_commission_models() -> Iterator[Provider]:
    kind = ProviderKind.COMMISSION_MODEL
    yield Provider(kind=kind, name="kit.negative", factory=NegativeFee)
    yield Provider(kind=kind, name="kit.float", factory=FloatFee)
    yield Provider(kind=kind, name="kit.regressive", factory=RegressiveFee)
    yield Provider(kind=kind, name="kit.additive", factory=PerShare, capabilities={ORDER_ADDITIVE})


@hookimpl
def rbt_register_slippage_models() -> Iterator[Provider]:
    kind = ProviderKind.SLIPPAGE_MODEL
    yield Provider(kind=kind, name="kit.overfill", factory=Overfill)
    yield Provider(kind=kind, name="kit.wrong_way", factory=WrongWay)
    yield Provider(kind=kind, name="kit.uncapped", factory=Uncapped, capabilities={VOLUME_LIMIT})


KIT_PLUGIN = types.ModuleType("kit_test_plugin")
KIT_PLUGIN.rbt_register_commission_models = rbt_register_commission_models  # type: ignore[attr-defined]
KIT_PLUGIN.rbt_register_slippage_models = rbt_register_slippage_models  # type: ignore[attr-defined]


class TestInProcessOrderAdditive(CommissionModelConformance):
    """An in-process plugin declaring a capability: TC-C06 runs instead of skipping."""

    builtins = ()
    plugins = (("kit", KIT_PLUGIN),)
    provider = "kit.additive"


class _Commission(CommissionModelConformance):
    builtins = ()
    plugins = (("kit", KIT_PLUGIN),)


class _Slippage(SlippageModelConformance):
    builtins = ()
    plugins = (("kit", KIT_PLUGIN),)


def _run_case(base: type[Any], provider: str, case: str) -> None:
    suite = type("Suite", (base,), {"provider": provider})
    record = suite.make_harness().provider(suite.kind, provider)
    getattr(suite(), case)(rbt_provider_record=record)


@pytest.mark.parametrize(
    ("base", "provider", "case", "message"),
    [
        (
            _Commission,
            "kit.negative",
            "test_tc_c01_fees_are_non_negative_decimals",
            "must not be negative",
        ),
        (
            _Commission,
            "kit.float",
            "test_tc_c01_fees_are_non_negative_decimals",
            "must be a Decimal",
        ),
        (_Commission, "kit.regressive", "test_tc_c04_fees_are_monotone_in_quantity", "costs"),
        (_Slippage, "kit.overfill", "test_tc_s02_never_more_than_the_open_amount", "open"),
        (_Slippage, "kit.wrong_way", "test_tc_s03_never_the_wrong_direction", "for an order"),
        (_Slippage, "kit.uncapped", "test_tc_s07_respects_the_volume_limit", "limit"),
    ],
)
def test_the_kit_fails_bad_providers(
    base: type[Any], provider: str, case: str, message: str
) -> None:
    with pytest.raises(AssertionError, match=message):
        _run_case(base, provider, case)


# -- capability skips -----------------------------------------------------------------
def test_requires_accumulates_capabilities() -> None:
    @requires("a")
    @requires("b", "c")
    def case() -> None: ...

    from rbt.testing.capabilities import missing_capabilities, required_capabilities

    assert required_capabilities(case) == {"a", "b", "c"}
    assert missing_capabilities(case, {"b"}) == ["a", "c"]


# -- harness --------------------------------------------------------------------------
def test_the_harness_autoloads_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RBT_DISABLE_PLUGIN_AUTOLOAD", "0")
    monkeypatch.setenv("RBT_PLUGINS", "template")
    harness = RbtHarness(builtins=())
    assert harness.manager.get_plugin("template") is None
    harness = RbtHarness(builtins=(), entry_points=["template"])
    assert harness.manager.get_plugin("template") is not None


def test_the_harness_loads_strictly(rbt_tmp_dists: TempDistributions) -> None:
    rbt_tmp_dists.install(
        "rbt-broken",
        entry_points={"broken": "rbt_broken_hooks"},
        modules={"rbt_broken_hooks": "raise ImportError('no sdk')\n"},
    )
    harness = RbtHarness(builtins=(), entry_points=["broken"])
    with pytest.raises(PluginLoadError, match="'broken' from rbt-broken"):
        _ = harness.manager


def test_the_harness_fixture_builds_models(rbt_harness: RbtHarness) -> None:
    rbt_harness.add_plugin("kit", KIT_PLUGIN)
    assert isinstance(rbt_harness.commission_model("kit.additive"), PerShare)
    assert isinstance(rbt_harness.slippage_model("kit.wrong_way"), WrongWay)
    with pytest.raises(RuntimeError, match="already built"):
        rbt_harness.add_plugin("late", object())
    ledger = rbt_harness.ledger("1000")
    assert ledger.cash == Decimal(1000)
    clock = rbt_harness.sim_clock(DAY, DAY)
    assert len(list(clock)) == 4


def test_environ_unchanged_reports_leaks() -> None:
    try:
        with pytest.raises(AssertionError, match=r"added \['RBT_KIT_LEAK'\]"), environ_unchanged():
            os.environ["RBT_KIT_LEAK"] = "1"
    finally:
        os.environ.pop("RBT_KIT_LEAK", None)


def test_event_recorder() -> None:
    bus = EventBus()
    recorder = RbtHarness.recorder(bus)
    for event in (SessionStarted(1, DAY), BarClosed(2, DAY), SessionClosed(2, DAY)):
        bus.publish(event)
    recorder.assert_sequence([SessionStarted, SessionClosed])
    recorder.assert_sequence([SessionStarted, BarClosed, SessionClosed], exact=True)
    recorder.assert_ordered()
    assert recorder.names() == ["SessionStarted", "BarClosed", "SessionClosed"]
    with pytest.raises(AssertionError, match="matched the first 1"):
        recorder.assert_sequence([SessionClosed, SessionStarted])


def test_the_package_exports_lazily() -> None:
    import rbt.testing

    assert set(rbt.testing.__all__) <= set(dir(rbt.testing))
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        _ = rbt.testing.Nope  # type: ignore[attr-defined]
