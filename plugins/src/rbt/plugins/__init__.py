"""Built-in plugins. Each module is an ordinary plugin of ``@hookimpl`` functions.

They are registered explicitly, by module name, in :data:`BUILTINS` order —
never through entry points — so they load the same from a checkout or an
installed wheel, and stay when external plugins are switched off.
"""

from __future__ import annotations

from collections.abc import Sequence

from rbt.kernel.manager import RbtPluginManager, make_plugin_manager

__all__ = ["BUILTINS", "DIST_NAME", "plugin_manager"]

DIST_NAME = "rustybt-framework"

BUILTINS: tuple[str, ...] = (
    "rbt.plugins.calendars",
    "rbt.plugins.clocks",
    "rbt.plugins.csv_source",
    "rbt.plugins.demo_source",
    "rbt.plugins.bundle_store",
    "rbt.plugins.sim_broker",
    "rbt.plugins.costs",
    "rbt.plugins.metrics",
    "rbt.plugins.optimizers",
    "rbt.plugins.executors",
    "rbt.plugins.live",
    "rbt.plugins.shadow_checks",
)


def plugin_manager(
    *,
    autoload: bool | None = None,
    allow: Sequence[str] | None = None,
    block: Sequence[str] = (),
    plugins: Sequence[tuple[str, object]] = (),
    strict: bool | None = None,
) -> RbtPluginManager:
    """Build a plugin manager with the built-ins plus installed plugins."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        dist_version = version(DIST_NAME)
    except PackageNotFoundError:  # running from a source tree without install
        dist_version = "0+unknown"
    return make_plugin_manager(
        builtins=BUILTINS,
        builtin_dist=(DIST_NAME, dist_version),
        autoload=autoload,
        allow=allow,
        block=block,
        plugins=plugins,
        strict=strict,
    )
