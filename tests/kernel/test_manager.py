"""The plugin manager: built-ins, real entry points, conflicts, load errors, lookups."""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator
from pathlib import Path

import pluggy
import pytest

from rbt.kernel import hookimpl
from rbt.kernel.errors import (
    PluginConflictError,
    PluginError,
    PluginLoadError,
    UnknownPluginError,
)
from rbt.kernel.manager import RbtPluginManager, make_plugin_manager
from rbt.kernel.registry import Provider, ProviderKind
from rbt.testing.distributions import TempDistributions

COMMISSION = ProviderKind.COMMISSION_MODEL


def _hooks_source(namespace: str, *names: str, factory: str = "decimal:Decimal") -> str:
    records = "\n".join(
        f"    yield Provider(kind=ProviderKind.COMMISSION_MODEL, name={namespace + '.' + n!r}, "
        f"factory={factory!r}, summary='test')"
        for n in names
    )
    return (
        "from rbt.kernel import hookimpl\n"
        "from rbt.kernel.registry import Provider, ProviderKind\n\n"
        "@hookimpl\n"
        "def rbt_register_commission_models():\n"
        f"{records}\n"
    )


@pytest.fixture
def dists(rbt_tmp_dists: TempDistributions) -> TempDistributions:
    return rbt_tmp_dists


def _plugin_module(name: str, **functions: object) -> types.ModuleType:
    module = types.ModuleType(name)
    for attr, value in functions.items():
        setattr(module, attr, value)
    return module


def _commission_plugin(
    module_name: str, *names: str, factory: object = "decimal:Decimal"
) -> types.ModuleType:
    @hookimpl
    def rbt_register_commission_models() -> Iterator[Provider]:
        for name in names:
            yield Provider(kind=COMMISSION, name=name, factory=factory)  # type: ignore[arg-type]

    return _plugin_module(
        module_name, rbt_register_commission_models=rbt_register_commission_models
    )


# -- built-ins ------------------------------------------------------------------------


def test_builtins_are_registered_by_module_name_in_order(dists: TempDistributions) -> None:
    dists.install(
        "rbt-test-builtins",
        modules={
            "rbt_test_builtins.alpha": _hooks_source("x", "a").replace("x.a", "alpha_fee"),
            "rbt_test_builtins.beta": "",
        },
    )
    pm = make_plugin_manager(
        builtins=["rbt_test_builtins.alpha", "rbt_test_builtins.beta"],
        builtin_dist=("rbt-test-builtins", "1.0"),
        autoload=False,
    )
    assert pm.get_plugin("alpha") is sys.modules["rbt_test_builtins.alpha"]
    assert pm.get_plugin("beta") is sys.modules["rbt_test_builtins.beta"]
    infos = {info.name: info for info in pm.plugin_infos()}
    assert infos["alpha"].builtin
    assert infos["alpha"].dist == "rbt-test-builtins"
    assert infos["alpha"].hooks == ("rbt_register_commission_models",)
    record = pm.get_provider(COMMISSION, "alpha_fee")
    assert (record.plugin, record.dist, record.version) == ("alpha", "rbt-test-builtins", "1.0")


def test_the_product_builtins_are_all_registered() -> None:
    from rbt.plugins import BUILTINS, plugin_manager

    pm = plugin_manager(autoload=False)
    for module_name in BUILTINS:
        short = module_name.rsplit(".", 1)[-1]
        assert pm.get_plugin(short) is sys.modules[module_name]
    assert all(info.builtin for info in pm.plugin_infos())
    assert pm.load_errors == []


def test_every_manager_is_independent() -> None:
    first = make_plugin_manager(
        plugins=[("one", _commission_plugin("one", "flat"))], autoload=False
    )
    second = make_plugin_manager(autoload=False)
    assert set(first.providers(COMMISSION)) == {"flat"}
    assert set(second.providers(COMMISSION)) == set()


# -- misuse caught at registration ------------------------------------------------------


def test_check_pending_catches_a_misspelt_hook() -> None:
    @hookimpl
    def rbt_register_broker() -> Iterator[Provider]:  # singular: a typo
        yield from ()

    typo = _plugin_module("typo_plugin", rbt_register_broker=rbt_register_broker)
    with pytest.raises(pluggy.PluginValidationError, match="rbt_register_broker"):
        make_plugin_manager(plugins=[("typo", typo)], autoload=False)


def test_a_class_instead_of_an_instance_is_refused_clearly() -> None:
    class MyPlugin:
        @hookimpl
        def rbt_register_commission_models(self) -> Iterator[Provider]:
            yield from ()

    with pytest.raises(PluginError, match=r"'mine' is the class .*MyPlugin; register an instance"):
        make_plugin_manager(plugins=[("mine", MyPlugin)], autoload=False)
    pm = make_plugin_manager(plugins=[("mine", MyPlugin())], autoload=False)
    assert pm.get_plugin("mine") is not None


# -- provider lookup --------------------------------------------------------------------


def test_duplicate_provider_names_name_both_factories() -> None:
    first = _commission_plugin("first_mod", "flat", factory="first_pkg.fees:Flat")
    second = _commission_plugin("second_mod", "flat", factory="second_pkg.fees:Flat")
    pm = make_plugin_manager(plugins=[("first", first), ("second", second)], autoload=False)
    with pytest.raises(PluginConflictError) as info:
        pm.providers(COMMISSION)
    message = str(info.value)
    assert "'flat' is registered twice" in message
    assert "first_pkg.fees:Flat" in message
    assert "second_pkg.fees:Flat" in message


def test_unknown_provider_lists_the_valid_names() -> None:
    pm = make_plugin_manager(
        plugins=[("fees", _commission_plugin("fees", "flat", "tiered"))], autoload=False
    )
    with pytest.raises(
        UnknownPluginError,
        match=r"unknown commission model 'flta'; "
        r"choose one of: flat, tiered",
    ) as info:
        pm.get_provider(COMMISSION, "flta")
    assert isinstance(info.value, LookupError)
    with pytest.raises(UnknownPluginError, match="choose one of: none installed"):
        pm.get_provider(ProviderKind.BROKER, "sim")


def test_a_provider_of_the_wrong_kind_is_reported() -> None:
    @hookimpl
    def rbt_register_brokers() -> Iterator[Provider]:
        yield Provider(kind=COMMISSION, name="oops", factory="decimal:Decimal")

    pm = make_plugin_manager(
        plugins=[("wrong", _plugin_module("wrong", rbt_register_brokers=rbt_register_brokers))],
        autoload=False,
    )
    with pytest.raises(PluginError, match="rbt_register_brokers of plugin 'wrong'"):
        pm.providers(ProviderKind.BROKER)


def test_string_factories_load_lazily_and_fail_clearly() -> None:
    record = Provider(kind=COMMISSION, name="dec", factory="decimal:Decimal")
    assert record.create("1.5") == __import__("decimal").Decimal("1.5")
    assert record.factory_name == "decimal:Decimal"
    missing = Provider(kind=COMMISSION, name="gone", factory="rbt_no_such_module:Thing")
    with pytest.raises(PluginError, match="cannot load factory 'rbt_no_such_module:Thing'"):
        missing.load()
    not_callable = Provider(kind=COMMISSION, name="pi", factory="math:pi")
    with pytest.raises(PluginError, match="is not callable"):
        not_callable.load()


@pytest.mark.parametrize("name", ["Sim", "1x", "a..b", "ccxt.", "a-b", ""])
def test_invalid_provider_names_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="invalid provider name"):
        Provider(kind=COMMISSION, name=name, factory="decimal:Decimal")


# -- external plugins from real entry points ----------------------------------------------


def _install_plugin(
    dists: TempDistributions,
    name: str,
    *,
    dist: str | None = None,
    source: str | None = None,
    version: str = "1.0",
) -> Path:
    module = f"rbt_{name}_hooks"
    return dists.install(
        dist or f"rbt-{name}",
        version,
        entry_points={name: module},
        modules={module: source if source is not None else _hooks_source(name, "fee")},
    )


def test_an_installed_plugin_is_found_through_its_entry_point(dists: TempDistributions) -> None:
    _install_plugin(dists, "alpha", version="2.5")
    pm = make_plugin_manager(autoload=True, allow=["alpha"])
    record = pm.get_provider(COMMISSION, "alpha.fee")
    assert (record.plugin, record.dist, record.version) == ("alpha", "rbt-alpha", "2.5")
    info = next(i for i in pm.plugin_infos() if i.name == "alpha")
    assert not info.builtin
    assert info.dist == "rbt-alpha"


def test_autoload_is_off_when_the_environment_says_so(
    dists: TempDistributions, monkeypatch: pytest.MonkeyPatch
) -> None:
    _install_plugin(dists, "alpha")
    monkeypatch.setenv("RBT_DISABLE_PLUGIN_AUTOLOAD", "1")
    monkeypatch.delenv("RBT_PLUGINS", raising=False)
    assert make_plugin_manager().get_plugin("alpha") is None
    monkeypatch.setenv("RBT_DISABLE_PLUGIN_AUTOLOAD", "0")
    monkeypatch.setenv("RBT_PLUGINS", "alpha")  # allow-list keeps the test's world small
    assert make_plugin_manager().get_plugin("alpha") is not None


def _loaded(pm: RbtPluginManager) -> list[bool]:
    return [pm.get_plugin(n) is not None for n in ("alpha", "beta", "gamma")]


def test_allow_and_block_lists_filter_before_loading(
    dists: TempDistributions, monkeypatch: pytest.MonkeyPatch
) -> None:
    _install_plugin(dists, "alpha")
    _install_plugin(dists, "beta")
    # a broken plugin that is filtered out is never imported, so it cannot break anything
    _install_plugin(dists, "gamma", source="raise ImportError('gamma needs vendor_sdk')\n")
    pm = make_plugin_manager(autoload=True, allow=["alpha"])
    assert _loaded(pm) == [True, False, False]
    assert "rbt_gamma_hooks" not in sys.modules
    assert pm.load_errors == []

    pm = make_plugin_manager(autoload=True, allow=["alpha", "beta", "gamma"], block=["gamma"])
    assert _loaded(pm) == [True, True, False]
    assert pm.load_errors == []

    monkeypatch.setenv("RBT_PLUGINS", "beta,gamma")
    monkeypatch.setenv("RBT_DISABLED_PLUGINS", " gamma ")
    pm = make_plugin_manager(autoload=True)
    assert _loaded(pm) == [False, True, False]


def test_a_broken_plugin_is_recorded_not_fatal(dists: TempDistributions) -> None:
    _install_plugin(dists, "alpha")
    _install_plugin(
        dists, "broken", version="0.3", source="import rbt_vendor_sdk_that_is_not_installed\n"
    )
    pm = make_plugin_manager(autoload=True, allow=["alpha", "broken"], strict=False)
    assert pm.get_plugin("alpha") is not None
    assert pm.get_plugin("broken") is None
    (error,) = pm.load_errors
    assert (error.name, error.dist, error.version) == ("broken", "rbt-broken", "0.3")
    assert isinstance(error.__cause__, ImportError)
    assert "plugin 'broken' from rbt-broken 0.3 failed to load: ModuleNotFoundError" in str(error)


def test_a_broken_plugin_is_fatal_when_strict(
    dists: TempDistributions, monkeypatch: pytest.MonkeyPatch
) -> None:
    _install_plugin(dists, "broken", source="raise ImportError('no vendor sdk')\n")
    with pytest.raises(PluginLoadError, match=r"'broken' from rbt-broken 1\.0 failed") as info:
        make_plugin_manager(autoload=True, allow=["broken"], strict=True)
    assert isinstance(info.value.__cause__, ImportError)
    monkeypatch.setenv("RBT_STRICT_PLUGINS", "1")
    with pytest.raises(PluginLoadError):
        make_plugin_manager(autoload=True, allow=["broken"])


def test_external_providers_must_be_namespaced(dists: TempDistributions) -> None:
    _install_plugin(dists, "alpha", source=_hooks_source("other", "fee"))
    pm = make_plugin_manager(autoload=True, allow=["alpha"])
    (error,) = pm.load_errors
    assert "provider name 'other.fee' must start with 'alpha.'" in str(error)
    assert pm.get_plugin("alpha") is None  # unregistered again: no half-loaded plugin


def test_two_distributions_claiming_one_name_conflict(dists: TempDistributions) -> None:
    _install_plugin(dists, "alpha", dist="rbt-alpha", version="1.0")
    _install_plugin(dists, "alpha", dist="rbt-alpha-fork", version="0.9")
    with pytest.raises(PluginConflictError) as info:
        make_plugin_manager(autoload=True, allow=["alpha"])
    assert "rbt-alpha 1.0" in str(info.value)
    assert "rbt-alpha-fork 0.9" in str(info.value)


def test_an_external_plugin_cannot_take_a_builtin_name(dists: TempDistributions) -> None:
    dists.install("rbt-test-builtins", modules={"rbt_test_builtins.alpha": ""})
    _install_plugin(dists, "alpha")
    with pytest.raises(PluginConflictError, match="uses the name of a built-in plugin"):
        make_plugin_manager(builtins=["rbt_test_builtins.alpha"], autoload=True, allow=["alpha"])


# -- hook facades -------------------------------------------------------------------------


def test_decision_and_lifecycle_facades() -> None:
    seen: list[tuple[str, object]] = []

    class Resolver:
        def __init__(self, answer: object) -> None:
            self.answer = answer

        @hookimpl
        def rbt_resolve_asset(self, symbol: str, venue: str) -> object:
            seen.append(("resolve", self.answer))
            return self.answer

        @hookimpl
        def rbt_configure(self, config: dict[str, object]) -> None:
            seen.append(("configure", config["home"]))

    pm = make_plugin_manager(
        plugins=[("declines", Resolver(None)), ("answers", Resolver(0))], autoload=False
    )
    # firstresult: the first non-None answer wins, even a falsy one (0)
    assert pm.resolve_asset(symbol="AAA", venue="sim") == 0
    pm.configure({"home": "/tmp/x"})
    late = Resolver("late")
    pm.register(late, name="late")  # historic: a late plugin hears the configuration too
    assert seen.count(("configure", "/tmp/x")) == 3


def test_blocking_a_conflicting_name_resolves_the_conflict(dists: TempDistributions) -> None:
    _install_plugin(dists, "alpha", dist="rbt-alpha")
    _install_plugin(dists, "alpha", dist="rbt-alpha-fork")
    pm = make_plugin_manager(autoload=True, allow=["beta"], block=["alpha"])
    assert pm.get_plugin("alpha") is None
