"""The packaging checks find each kind of packaging mistake in real installed distributions."""

from __future__ import annotations

import pytest

from rbt.testing.distributions import TempDistributions
from rbt.testing.packaging import CheckResult, imported_modules, run_packaging_checks

GOOD = """
from rbt.kernel import hookimpl
from rbt.kernel.registry import Provider, ProviderKind

@hookimpl
def rbt_register_commission_models():
    yield Provider(kind=ProviderKind.COMMISSION_MODEL, name="{name}.fee",
                   factory="rbt_{name}_impl:Fee")
"""
IMPL = """
class Fee:
    def calculate(self, order, amount, price):
        return 0
"""


def _install(
    dists: TempDistributions,
    name: str,
    hooks: str,
    *,
    keywords: bool = True,
    target: str | None = None,
) -> None:
    site = dists.install(
        f"rbt-{name}",
        "1.0",
        entry_points={name: target or f"rbt_{name}_hooks"},
        modules={f"rbt_{name}_hooks": hooks.format(name=name), f"rbt_{name}_impl": IMPL},
    )
    if keywords:
        (metadata,) = site.glob("*.dist-info/METADATA")
        metadata.write_text(metadata.read_text() + "Keywords: trading,rbt-plugin\n")


def _by_code(results: list[CheckResult]) -> dict[str, CheckResult]:
    return {r.code: r for r in results}


def test_a_well_packaged_plugin_passes_every_check(rbt_tmp_dists: TempDistributions) -> None:
    _install(rbt_tmp_dists, "good", GOOD)
    results = run_packaging_checks("good")
    assert [r.code for r in results] == [f"TC-P0{i}" for i in range(1, 7)]
    assert all(r.passed for r in results), results
    assert _by_code(results)["TC-P03"].detail == "good.fee"


def test_a_missing_entry_point_lists_the_installed_ones(rbt_tmp_dists: TempDistributions) -> None:
    _install(rbt_tmp_dists, "good", GOOD)
    results = _by_code(run_packaging_checks("nope"))
    assert not results["TC-P01"].passed
    assert "no entry point 'nope'" in results["TC-P01"].detail
    assert "good" in results["TC-P01"].detail
    assert results["TC-P04"].detail == "not run: TC-P01 failed"


def test_an_entry_point_that_fails_to_import(rbt_tmp_dists: TempDistributions) -> None:
    _install(rbt_tmp_dists, "broken", "import rbt_sdk_that_is_not_installed\n")
    result = _by_code(run_packaging_checks("broken"))["TC-P01"]
    assert not result.passed
    assert "ModuleNotFoundError" in result.detail


def test_an_entry_point_naming_a_class(rbt_tmp_dists: TempDistributions) -> None:
    hooks = GOOD + "\nclass Plugin:\n    pass\n"
    _install(rbt_tmp_dists, "klass", hooks, target="rbt_klass_hooks:Plugin")
    result = _by_code(run_packaging_checks("klass"))["TC-P01"]
    assert not result.passed
    assert "is the class Plugin" in result.detail


def test_a_heavy_import_breaks_the_budget(rbt_tmp_dists: TempDistributions) -> None:
    # a fake vendor SDK installed next to the plugin, imported eagerly by the hooks module
    rbt_tmp_dists.install("fake-sdk", modules={"ccxt": "VERSION = '0'\n"})
    _install(rbt_tmp_dists, "eager", "import ccxt\n" + GOOD)
    result = _by_code(run_packaging_checks("eager"))["TC-P02"]
    assert not result.passed
    assert result.detail == "imported: ccxt"
    assert "ccxt" in imported_modules("eager")


def test_providers_must_be_namespaced(rbt_tmp_dists: TempDistributions) -> None:
    _install(rbt_tmp_dists, "sloppy", GOOD.replace('"{name}.fee"', '"fee"'))
    result = _by_code(run_packaging_checks("sloppy"))["TC-P03"]
    assert not result.passed
    assert "'fee' must start with 'sloppy.'" in result.detail


def test_a_misspelt_hook_fails_check_pending(rbt_tmp_dists: TempDistributions) -> None:
    typo = "\n@hookimpl\ndef rbt_register_broker():\n    return []\n"
    _install(rbt_tmp_dists, "typo", GOOD + typo)
    result = _by_code(run_packaging_checks("typo"))["TC-P04"]
    assert not result.passed
    assert "rbt_register_broker" in result.detail


def test_an_unresolvable_factory(rbt_tmp_dists: TempDistributions) -> None:
    _install(rbt_tmp_dists, "lazy", GOOD.replace(":Fee", ":Missing"))
    result = _by_code(run_packaging_checks("lazy"))["TC-P05"]
    assert not result.passed
    assert "cannot load factory 'rbt_lazy_impl:Missing'" in result.detail


def test_the_rbt_plugin_keyword(rbt_tmp_dists: TempDistributions) -> None:
    _install(rbt_tmp_dists, "hidden", GOOD, keywords=False)
    result = _by_code(run_packaging_checks("hidden"))["TC-P06"]
    assert not result.passed
    assert result.detail == "keywords: none"


@pytest.mark.parametrize("forbidden", [frozenset({"rbt_custom_heavy"})])
def test_the_forbidden_set_is_configurable(
    rbt_tmp_dists: TempDistributions, forbidden: frozenset[str]
) -> None:
    rbt_tmp_dists.install("heavy", modules={"rbt_custom_heavy": ""})
    _install(rbt_tmp_dists, "custom", "import rbt_custom_heavy\n" + GOOD)
    assert _by_code(run_packaging_checks("custom"))["TC-P02"].passed
    assert not _by_code(run_packaging_checks("custom", forbidden=forbidden))["TC-P02"].passed
