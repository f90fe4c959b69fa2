"""Provider records: what register hooks return.

A provider is one named thing a plugin offers (a broker, a data source, a
commission model, ...). Its ``factory`` is lazy: a callable, or a
``"module:attr"`` string resolved only when the provider is used, so listing
plugins never imports a vendor SDK.
"""

from __future__ import annotations

import enum
import importlib
import re
from collections.abc import Callable
from typing import Any

import attrs

from rbt.kernel.errors import PluginError

__all__ = ["NAME_PATTERN", "Provider", "ProviderKind"]

#: Provider names: lower case, dotted, namespaced by the plugin's entry-point name.
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$")


class ProviderKind(enum.Enum):
    """The kinds of provider; each has one register hook ``rbt_register_<value>``."""

    CLOCK = "clocks"
    CALENDAR = "calendars"
    DATA_SOURCE = "data_sources"
    BUNDLE_STORE = "bundle_stores"
    FEED = "feeds"
    BROKER = "brokers"
    FILL_MODEL = "fill_models"
    SLIPPAGE_MODEL = "slippage_models"
    COMMISSION_MODEL = "commission_models"
    METRIC = "metrics"
    REPORT = "reports"
    OPTIMIZER = "optimizers"
    EXECUTOR = "executors"
    SHADOW_CHECK = "shadow_checks"
    COMMAND = "commands"

    @property
    def hook_name(self) -> str:
        """Name of the register hook for this kind."""
        return f"rbt_register_{self.value}"


def _valid_name(_inst: object, _attr: attrs.Attribute[str], value: str) -> None:
    if not NAME_PATTERN.match(value):
        raise ValueError(
            f"invalid provider name {value!r}: expected lower-case dotted words "
            f"like 'sim' or 'ccxt.kraken' ({NAME_PATTERN.pattern})"
        )


@attrs.frozen(kw_only=True)
class Provider:
    """One named provider offered by a plugin.

    :param kind: what it provides.
    :param name: what users write, e.g. ``"per_share"`` or ``"ccxt.kraken"``.
    :param factory: a callable building it, or ``"module:attr"`` resolved lazily.
    :param summary: one line for ``rbt plugins``.
    :param capabilities: flags the conformance kit and ``rbt plugins`` read.
    :param plugin: name of the registering plugin (set by the manager).
    :param dist: distribution of the registering plugin (set by the manager).
    :param version: its version (set by the manager).
    """

    kind: ProviderKind
    name: str = attrs.field(validator=_valid_name)
    factory: Callable[..., Any] | str
    summary: str = ""
    capabilities: frozenset[str] = attrs.field(default=frozenset(), converter=frozenset)
    plugin: str = ""
    dist: str = ""
    version: str = ""

    @property
    def factory_name(self) -> str:
        """The factory as ``module:qualname`` text."""
        if isinstance(self.factory, str):
            return self.factory
        module = getattr(self.factory, "__module__", "?")
        return f"{module}:{getattr(self.factory, '__qualname__', repr(self.factory))}"

    def load(self) -> Callable[..., Any]:
        """Resolve the factory, importing its module if it is given as text.

        :raises PluginError: when the module or attribute cannot be found.
        """
        if not isinstance(self.factory, str):
            return self.factory
        module_name, _, attr = self.factory.partition(":")
        try:
            obj: Any = importlib.import_module(module_name)
            for part in attr.split("."):
                obj = getattr(obj, part)
        except (ImportError, AttributeError) as exc:
            raise PluginError(
                f"{self.kind.value[:-1]} {self.name!r} (plugin {self.plugin or '?'}): "
                f"cannot load factory {self.factory!r}: {exc}"
            ) from exc
        if not callable(obj):
            raise PluginError(f"factory {self.factory!r} of {self.name!r} is not callable")
        return obj  # type: ignore[no-any-return]

    def create(self, *args: Any, **kwargs: Any) -> Any:
        """Build the provided object."""
        return self.load()(*args, **kwargs)
