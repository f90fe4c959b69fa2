"""The installed distribution's plugin appears in a manager with autoload on."""

from __future__ import annotations

from importlib.metadata import distribution, entry_points

from rbt.kernel.manager import make_plugin_manager
from rbt.kernel.registry import ProviderKind
from rbt_template.commission import BpsWithMinimum


def test_the_entry_point_is_installed() -> None:
    (ep,) = [ep for ep in entry_points(group="rbt.plugins") if ep.name == "template"]
    assert ep.value == "rbt_template.hooks"
    assert ep.dist is not None
    assert ep.dist.name == "rbt-template"


def test_the_plugin_appears_with_autoload_on() -> None:
    # the test session disables autoload through the environment; ask for it explicitly
    pm = make_plugin_manager(autoload=True, strict=True)
    record = pm.get_provider(ProviderKind.COMMISSION_MODEL, "template.bps_with_minimum")
    version = distribution("rbt-template").version
    assert (record.plugin, record.dist, record.version) == ("template", "rbt-template", version)
    assert isinstance(record.create(), BpsWithMinimum)
    info = next(i for i in pm.plugin_infos() if i.name == "template")
    assert info.hooks == ("rbt_register_commission_models",)
    assert not info.builtin


def test_the_plugin_stays_out_when_blocked_or_autoload_is_off() -> None:
    assert make_plugin_manager(autoload=True, block=["template"]).get_plugin("template") is None
    assert make_plugin_manager(autoload=False).get_plugin("template") is None
