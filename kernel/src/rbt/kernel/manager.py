"""The plugin manager: built-ins, external plugins, and provider lookup.

:func:`make_plugin_manager` registers, in order (style.md §2.5):

1. the hook specifications;
2. the built-in plugin modules, imported by name (never through entry points);
3. external plugins from the entry-point group ``rbt.plugins`` — filtered by
   allow and block lists *before* loading, each loaded in isolation so one
   broken plugin is recorded as a :class:`PluginLoadError`, not fatal
   (unless ``strict``);
4. plugin objects passed in by an embedding application;

then runs ``check_pending()`` so a misspelt hook fails loudly. There is no
module-level manager: every session or test builds its own.

Environment mirrors: ``RBT_DISABLE_PLUGIN_AUTOLOAD=1``, ``RBT_PLUGINS=a,b``
(allow-list), ``RBT_DISABLED_PLUGINS=a,b`` (block-list),
``RBT_STRICT_PLUGINS=1``, ``RBT_TRACE_PLUGINS=1``.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from importlib.metadata import EntryPoint, entry_points
from types import ModuleType
from typing import Any

import attrs
import pluggy

from rbt.kernel import hookspecs
from rbt.kernel.errors import (
    PluginConflictError,
    PluginError,
    PluginLoadError,
    UnknownPluginError,
)
from rbt.kernel.registry import Provider, ProviderKind

__all__ = ["ENTRY_POINT_GROUP", "PluginInfo", "RbtPluginManager", "make_plugin_manager"]

#: The one entry-point group for every plugin. We do not own ``rbt`` on PyPI;
#: the group name is a deliberate, documented choice (style.md §2.1).
ENTRY_POINT_GROUP = "rbt.plugins"


def _env_list(name: str) -> list[str] | None:
    raw = os.environ.get(name)
    if raw is None:
        return None
    return [item.strip() for item in raw.split(",") if item.strip()]


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


@attrs.frozen(kw_only=True)
class PluginInfo:
    """What ``rbt plugins`` shows about one registered plugin."""

    name: str
    dist: str
    version: str
    builtin: bool
    hooks: tuple[str, ...]


class RbtPluginManager(pluggy.PluginManager):
    """pluggy's manager with RustyBT's provider registry and load-error records."""

    def __init__(self) -> None:
        super().__init__(hookspecs.PROJECT)
        self.add_hookspecs(hookspecs)
        self.load_errors: list[PluginLoadError] = []
        self._dists: dict[str, tuple[str, str]] = {}  # plugin name -> (dist, version)
        self._builtin: set[str] = set()
        self._providers: dict[ProviderKind, dict[str, Provider]] | None = None

    # -- registration ----------------------------------------------------------
    def register_module(
        self, module: ModuleType | object, name: str, *, dist: str = "", version: str = ""
    ) -> None:
        """Register a plugin object and remember where it came from."""
        if isinstance(module, type):
            raise PluginError(
                f"plugin {name!r} is the class {module.__qualname__}; "
                "register an instance or a module, not a class"
            )
        self.register(module, name=name)
        self._dists[name] = (dist, version)
        self._providers = None

    def load_builtins(
        self, modules: Iterable[str], *, dist: str = "builtin", version: str = ""
    ) -> None:
        """Import and register built-in plugin modules (in the given order)."""
        for module_name in modules:
            module = importlib.import_module(module_name)
            short = module_name.rsplit(".", 1)[-1]
            self.register_module(module, short, dist=dist, version=version)
            self._builtin.add(short)

    def load_entry_points(
        self,
        *,
        allow: Sequence[str] | None = None,
        block: Sequence[str] = (),
        strict: bool = False,
    ) -> None:
        """Load external plugins from :data:`ENTRY_POINT_GROUP`.

        :param allow: load only these entry-point names (None: all).
        :param block: never load these.
        :param strict: raise the first load error instead of recording it.
        :raises PluginConflictError: when two distributions claim one name.
        """
        eps = entry_points(group=ENTRY_POINT_GROUP)
        by_name: dict[str, list[EntryPoint]] = {}
        for ep in eps:
            by_name.setdefault(ep.name, []).append(ep)
        for name, claims in sorted(by_name.items()):
            if name in block or (allow is not None and name not in allow):
                continue  # filtered before anything else: blocking is the remedy for a clash
            dists = sorted({_dist_label(ep) for ep in claims})
            if len(dists) > 1:
                raise PluginConflictError(
                    f"plugin name {name!r} is claimed by several distributions: "
                    f"{' and '.join(dists)}; uninstall one or block it with -p no:{name}"
                )
            if name in self._builtin:
                raise PluginConflictError(
                    f"plugin {name!r} from {dists[0]} uses the name of a built-in plugin"
                )
            ep = claims[0]
            dist_name, dist_version = _dist_info(ep)
            try:
                module = ep.load()
                self.register_module(module, name, dist=dist_name, version=dist_version)
                self._validate_providers(name)
            except Exception as exc:  # one broken plugin must not take the host down
                if self.get_plugin(name) is not None:
                    self.unregister(name=name)
                    self._dists.pop(name, None)
                error = PluginLoadError(
                    name, dist_name, dist_version, f"{type(exc).__name__}: {exc}"
                )
                error.__cause__ = exc
                if strict:
                    raise error from exc
                self.load_errors.append(error)

    def _validate_providers(self, plugin_name: str) -> None:
        # external providers must be namespaced by the entry-point name (style.md §2.1)
        plugin = self.get_plugin(plugin_name)
        for kind in ProviderKind:
            impl = getattr(plugin, kind.hook_name, None)
            if impl is None:
                continue
            for record in impl() or ():
                if not isinstance(record, Provider) or record.kind is not kind:
                    raise PluginError(
                        f"{kind.hook_name} returned {record!r}, not a {kind} Provider"
                    )
                # a command may take the plugin's own name: ``rbt <plugin> ...``
                own_command = kind is ProviderKind.COMMAND and record.name == plugin_name
                if not own_command and not record.name.startswith(plugin_name + "."):
                    raise PluginError(
                        f"provider name {record.name!r} must start with {plugin_name + '.'!r}"
                    )

    # -- providers -------------------------------------------------------------
    def providers(self, kind: ProviderKind) -> Mapping[str, Provider]:
        """All providers of ``kind`` by name.

        :raises PluginConflictError: when two plugins register the same name.
        """
        if self._providers is None:
            self._providers = self._collect()
        return self._providers[kind]

    def _collect(self) -> dict[ProviderKind, dict[str, Provider]]:
        found: dict[ProviderKind, dict[str, Provider]] = {kind: {} for kind in ProviderKind}
        for kind in ProviderKind:
            caller = getattr(self.hook, kind.hook_name)
            for impl in reversed(caller.get_hookimpls()):  # registration order
                plugin_name = self.get_name(impl.plugin) or "?"
                dist, version = self._dists.get(plugin_name, ("", ""))
                for record in impl.function() or ():
                    if not isinstance(record, Provider) or record.kind is not kind:
                        raise PluginError(
                            f"{kind.hook_name} of plugin {plugin_name!r} returned {record!r}; "
                            f"expected Provider records of kind {kind.name}"
                        )
                    record = attrs.evolve(record, plugin=plugin_name, dist=dist, version=version)
                    other = found[kind].get(record.name)
                    if other is not None:
                        raise PluginConflictError(
                            f"{kind.value[:-1].replace('_', ' ')} {record.name!r} is registered "
                            f"twice: by {other.factory_name} ({other.dist or other.plugin}) and by "
                            f"{record.factory_name} ({record.dist or record.plugin})"
                        )
                    found[kind][record.name] = record
        return found

    def get_provider(self, kind: ProviderKind, name: str) -> Provider:
        """The provider of ``kind`` called ``name``.

        :raises UnknownPluginError: listing the valid names.
        """
        available = self.providers(kind)
        try:
            return available[name]
        except KeyError:
            label = kind.value[:-1].replace("_", " ")
            choices = ", ".join(sorted(available)) or "none installed"
            raise UnknownPluginError(
                f"unknown {label} {name!r}; choose one of: {choices}"
            ) from None

    # -- facades for hooks ------------------------------------------------------
    def resolve_asset(self, symbol: str, venue: str) -> Any:
        """Ask plugins for the asset of ``symbol`` on ``venue`` (first answer wins)."""
        return self.hook.rbt_resolve_asset(symbol=symbol, venue=venue)

    def configure(self, config: Mapping[str, Any]) -> None:
        """Tell plugins the configuration (historic: late plugins hear it too)."""
        self.hook.rbt_configure.call_historic(kwargs={"config": config})

    def session_start(self, session: Any) -> None:
        """Notify plugins that ``session`` is about to run."""
        self.hook.rbt_session_start(session=session)

    def session_finish(self, session: Any, outcome: str) -> None:
        """Notify plugins that ``session`` ended with ``outcome``."""
        self.hook.rbt_session_finish(session=session, outcome=outcome)

    # -- reporting ---------------------------------------------------------------
    def plugin_infos(self) -> list[PluginInfo]:
        """Every registered plugin with its distribution and implemented hooks."""
        infos = []
        for name, plugin in self.list_name_plugin():
            if plugin is None:
                continue
            hooks = tuple(sorted(caller.name for caller in self.get_hookcallers(plugin) or ()))
            dist, version = self._dists.get(name, ("", ""))
            infos.append(
                PluginInfo(
                    name=name,
                    dist=dist,
                    version=version,
                    builtin=name in self._builtin,
                    hooks=hooks,
                )
            )
        return infos


def _dist_info(ep: EntryPoint) -> tuple[str, str]:
    dist = ep.dist
    if dist is None:
        return "?", "?"
    return dist.metadata["Name"] or "?", dist.version


def _dist_label(ep: EntryPoint) -> str:
    name, version = _dist_info(ep)
    return f"{name} {version}"


def make_plugin_manager(
    *,
    builtins: Sequence[str] = (),
    builtin_dist: tuple[str, str] = ("builtin", ""),
    autoload: bool | None = None,
    allow: Sequence[str] | None = None,
    block: Sequence[str] = (),
    plugins: Sequence[tuple[str, object]] = (),
    strict: bool | None = None,
    trace: bool | None = None,
) -> RbtPluginManager:
    """Build a fresh plugin manager.

    :param builtins: module names of built-in plugins, registered first.
    :param builtin_dist: (distribution, version) reported for the built-ins.
    :param autoload: load entry-point plugins (default: unless
        ``RBT_DISABLE_PLUGIN_AUTOLOAD`` is set).
    :param allow: allow-list of entry-point names (default: ``RBT_PLUGINS``).
    :param block: block-list (added to ``RBT_DISABLED_PLUGINS``).
    :param plugins: ``(name, object)`` pairs an embedding app registers.
    :param strict: a broken plugin raises (default: ``RBT_STRICT_PLUGINS``).
    :param trace: print every hook call (default: ``RBT_TRACE_PLUGINS``).
    """
    pm = RbtPluginManager()
    pm.load_builtins(builtins, dist=builtin_dist[0], version=builtin_dist[1])
    if autoload is None:
        autoload = not _env_flag("RBT_DISABLE_PLUGIN_AUTOLOAD")
    if allow is None:
        allow = _env_list("RBT_PLUGINS")
    blocked = [*block, *(_env_list("RBT_DISABLED_PLUGINS") or [])]
    if strict is None:
        strict = _env_flag("RBT_STRICT_PLUGINS")
    if autoload or allow:
        pm.load_entry_points(allow=allow, block=blocked, strict=strict)
    for name, obj in plugins:
        pm.register_module(obj, name)
    pm.hook.rbt_addhooks.call_historic(kwargs={"pluginmanager": pm})
    pm.check_pending()
    if trace if trace is not None else _env_flag("RBT_TRACE_PLUGINS"):
        pm.trace.root.setwriter(lambda text: sys.stderr.write(text))
        pm.enable_tracing()
    return pm
