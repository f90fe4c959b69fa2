"""Hook specifications: the contract between the kernel and every plugin.

Four kinds of hook (style.md §2.4):

* **register** hooks ``rbt_register_<kind>`` return providers
  (:class:`~rbt.kernel.registry.Provider`) with lazy factories;
* **lifecycle** hooks notify (``rbt_addhooks``, ``rbt_configure``,
  ``rbt_session_start``, ``rbt_session_finish``, ``rbt_unconfigure``);
* **decision** hooks are ``firstresult``: the first non-None answer wins
  (``rbt_resolve_asset``);
* wrappers (``@hookimpl(wrapper=True)``) may wrap decision hooks.

Call hooks through the facade methods of
:class:`~rbt.kernel.manager.RbtPluginManager`, not ``pm.hook`` directly.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from rbt.kernel.model import Asset
    from rbt.kernel.registry import Provider
    from rbt.kernel.session import Session

PROJECT = "rbt"
_spec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

# -- register hooks ------------------------------------------------------------


@_spec
def rbt_register_clocks() -> Iterable[Provider]:  # type: ignore[empty-body]
    """Yield the clocks (simulated, realtime) this plugin provides.

    Called once per plugin manager, lazily. Each record's ``kind`` must be
    ``ProviderKind.CLOCK``; its factory is resolved only when the provider is used.

    Example::

        @hookimpl
        def rbt_register_clocks():
            yield Provider(kind=ProviderKind.CLOCK, name="sim",
                           factory="rbt.plugins.clocks:SimClockFactory", summary="...")

    .. versionadded:: 0.1
    """


@_spec
def rbt_register_calendars() -> Iterable[Provider]:  # type: ignore[empty-body]
    """Yield the trading calendars this plugin provides.

    Called once per plugin manager, lazily. Each record's ``kind`` must be
    ``ProviderKind.CALENDAR``; its factory is resolved only when the provider is used.

    Example::

        @hookimpl
        def rbt_register_calendars():
            yield Provider(kind=ProviderKind.CALENDAR, name="xnys",
                           factory="rbt.plugins.calendars:exchange_calendar", summary="...")

    .. versionadded:: 0.1
    """


@_spec
def rbt_register_data_sources() -> Iterable[Provider]:  # type: ignore[empty-body]
    """Yield the data sources that ingest into a bundle this plugin provides.

    Called once per plugin manager, lazily. Each record's ``kind`` must be
    ``ProviderKind.DATA_SOURCE``; its factory is resolved only when the provider is used.

    Example::

        @hookimpl
        def rbt_register_data_sources():
            yield Provider(kind=ProviderKind.DATA_SOURCE, name="csv",
                           factory="rbt.plugins.csv_source:CsvDirectorySource", summary="...")

    .. versionadded:: 0.1
    """


@_spec
def rbt_register_bundle_stores() -> Iterable[Provider]:  # type: ignore[empty-body]
    """Yield the bundle storage backends this plugin provides.

    Called once per plugin manager, lazily. Each record's ``kind`` must be
    ``ProviderKind.BUNDLE_STORE``; its factory is resolved only when the provider is used.

    Example::

        @hookimpl
        def rbt_register_bundle_stores():
            yield Provider(kind=ProviderKind.BUNDLE_STORE, name="parquet",
                           factory="rbt.plugins.bundles.store:ParquetBundleStore", summary="...")

    .. versionadded:: 0.1
    """


@_spec
def rbt_register_feeds() -> Iterable[Provider]:  # type: ignore[empty-body]
    """Yield the streaming market-data feeds this plugin provides.

    Called once per plugin manager, lazily. Each record's ``kind`` must be
    ``ProviderKind.FEED``; its factory is resolved only when the provider is used.

    Example::

        @hookimpl
        def rbt_register_feeds():
            yield Provider(kind=ProviderKind.FEED, name="replay",
                           factory="rbt_kraken.feed:KrakenFeed", summary="...")

    .. versionadded:: 0.1
    """


@_spec
def rbt_register_brokers() -> Iterable[Provider]:  # type: ignore[empty-body]
    """Yield the brokers (simulated, paper, live) this plugin provides.

    Called once per plugin manager, lazily. Each record's ``kind`` must be
    ``ProviderKind.BROKER``; its factory is resolved only when the provider is used.

    Example::

        @hookimpl
        def rbt_register_brokers():
            yield Provider(kind=ProviderKind.BROKER, name="kraken.spot",
                           factory="rbt_kraken.broker:KrakenBroker", summary="...")

    .. versionadded:: 0.1
    """


@_spec
def rbt_register_fill_models() -> Iterable[Provider]:  # type: ignore[empty-body]
    """Yield the fill models (when and how much an order fills) this plugin provides.

    Called once per plugin manager, lazily. Each record's ``kind`` must be
    ``ProviderKind.FILL_MODEL``; its factory is resolved only when the provider is used.

    Example::

        @hookimpl
        def rbt_register_fill_models():
            yield Provider(kind=ProviderKind.FILL_MODEL, name="next_open",
                           factory="rbt.plugins.sim_broker:NextOpenFill", summary="...")

    .. versionadded:: 0.1
    """


@_spec
def rbt_register_slippage_models() -> Iterable[Provider]:  # type: ignore[empty-body]
    """Yield the slippage models this plugin provides.

    Called once per plugin manager, lazily. Each record's ``kind`` must be
    ``ProviderKind.SLIPPAGE_MODEL``; its factory is resolved only when the provider is used.

    Example::

        @hookimpl
        def rbt_register_slippage_models():
            yield Provider(kind=ProviderKind.SLIPPAGE_MODEL, name="fixed_bps",
                           factory="rbt.plugins.costs:FixedBasisPointsSlippage", summary="...")

    .. versionadded:: 0.1
    """


@_spec
def rbt_register_commission_models() -> Iterable[Provider]:  # type: ignore[empty-body]
    """Yield the commission models this plugin provides.

    Called once per plugin manager, lazily. Each record's ``kind`` must be
    ``ProviderKind.COMMISSION_MODEL``; its factory is resolved only when the provider is used.

    Example::

        @hookimpl
        def rbt_register_commission_models():
            yield Provider(kind=ProviderKind.COMMISSION_MODEL, name="per_share",
                           factory="rbt.plugins.costs:PerShare", summary="...")

    .. versionadded:: 0.1
    """


@_spec
def rbt_register_metrics() -> Iterable[Provider]:  # type: ignore[empty-body]
    """Yield the performance metrics this plugin provides.

    Called once per plugin manager, lazily. Each record's ``kind`` must be
    ``ProviderKind.METRIC``; its factory is resolved only when the provider is used.

    Example::

        @hookimpl
        def rbt_register_metrics():
            yield Provider(kind=ProviderKind.METRIC, name="sharpe",
                           factory="rbt.plugins.metrics:sharpe", summary="...")

    .. versionadded:: 0.1
    """


@_spec
def rbt_register_reports() -> Iterable[Provider]:  # type: ignore[empty-body]
    """Yield the report writers this plugin provides.

    Called once per plugin manager, lazily. Each record's ``kind`` must be
    ``ProviderKind.REPORT``; its factory is resolved only when the provider is used.

    Example::

        @hookimpl
        def rbt_register_reports():
            yield Provider(kind=ProviderKind.REPORT, name="html",
                           factory="rbt_fancy.report:write_html", summary="...")

    .. versionadded:: 0.1
    """


@_spec
def rbt_register_optimizers() -> Iterable[Provider]:  # type: ignore[empty-body]
    """Yield the parameter searches this plugin provides.

    Called once per plugin manager, lazily. Each record's ``kind`` must be
    ``ProviderKind.OPTIMIZER``; its factory is resolved only when the provider is used.

    Example::

        @hookimpl
        def rbt_register_optimizers():
            yield Provider(kind=ProviderKind.OPTIMIZER, name="grid",
                           factory="rbt_fancy.search:GridSearch", summary="...")

    .. versionadded:: 0.1
    """


@_spec
def rbt_register_executors() -> Iterable[Provider]:  # type: ignore[empty-body]
    """Yield the execution backends for many runs this plugin provides.

    Called once per plugin manager, lazily. Each record's ``kind`` must be
    ``ProviderKind.EXECUTOR``; its factory is resolved only when the provider is used.

    Example::

        @hookimpl
        def rbt_register_executors():
            yield Provider(kind=ProviderKind.EXECUTOR, name="local",
                           factory="rbt_fancy.exec:LocalPool", summary="...")

    .. versionadded:: 0.1
    """


@_spec
def rbt_register_shadow_checks() -> Iterable[Provider]:  # type: ignore[empty-body]
    """Yield the shadow-trading checks this plugin provides.

    Called once per plugin manager, lazily. Each record's ``kind`` must be
    ``ProviderKind.SHADOW_CHECK``; its factory is resolved only when the provider is used.

    Example::

        @hookimpl
        def rbt_register_shadow_checks():
            yield Provider(kind=ProviderKind.SHADOW_CHECK, name="signal_alignment",
                           factory="rbt_fancy.shadow:SignalAlignment", summary="...")

    .. versionadded:: 0.1
    """


@_spec
def rbt_register_commands() -> Iterable[Provider]:  # type: ignore[empty-body]
    """Yield the CLI sub-commands (``factory`` is ``module:typer_app``) this plugin provides.

    Called once per plugin manager, lazily. Each record's ``kind`` must be
    ``ProviderKind.COMMAND``; its factory is resolved only when the provider is used.

    Example::

        @hookimpl
        def rbt_register_commands():
            yield Provider(kind=ProviderKind.COMMAND, name="kraken",
                           factory="rbt_kraken.cli:app", summary="...")

    .. versionadded:: 0.1
    """


# -- lifecycle hooks -------------------------------------------------------------


@_spec(historic=True)
def rbt_addhooks(pluginmanager: pluggy.PluginManager) -> None:
    """Add new hook specifications to ``pluginmanager`` (for plugins of plugins).

    :param pluginmanager: the manager being set up.

    .. versionadded:: 0.1
    """


@_spec(historic=True)
def rbt_configure(config: Mapping[str, Any]) -> None:
    """Read the run's configuration once the manager is set up.

    :param config: the merged configuration (home, run options).

    .. versionadded:: 0.1
    """


@_spec
def rbt_session_start(session: Session) -> None:
    """A session was composed and is about to run.

    Subscribe to per-bar events here through ``session.bus``.

    :param session: the session.

    .. versionadded:: 0.1
    """


@_spec
def rbt_session_finish(session: Session, outcome: str) -> None:
    """A session ended.

    :param session: the session.
    :param outcome: ``"completed"``, ``"failed"`` or ``"halted"``.

    .. versionadded:: 0.1
    """


@_spec
def rbt_unconfigure(config: Mapping[str, Any]) -> None:
    """The process is done with the manager; release resources.

    :param config: the configuration given to ``rbt_configure``.

    .. versionadded:: 0.1
    """


# -- decision hooks --------------------------------------------------------------


@_spec(firstresult=True)
def rbt_resolve_asset(symbol: str, venue: str) -> Asset | None:
    """Return the asset for ``symbol`` on ``venue``, or None to defer.

    Stops at the first non-None result.

    :param symbol: venue-native symbol, e.g. ``"BTC/USDT"``.
    :param venue: provider name, e.g. ``"ccxt.kraken"``.

    .. versionadded:: 0.1
    """


__all__ = [
    "PROJECT",
    "hookimpl",
    "rbt_addhooks",
    "rbt_configure",
    "rbt_register_brokers",
    "rbt_register_bundle_stores",
    "rbt_register_calendars",
    "rbt_register_clocks",
    "rbt_register_commands",
    "rbt_register_commission_models",
    "rbt_register_data_sources",
    "rbt_register_executors",
    "rbt_register_feeds",
    "rbt_register_fill_models",
    "rbt_register_metrics",
    "rbt_register_optimizers",
    "rbt_register_reports",
    "rbt_register_shadow_checks",
    "rbt_register_slippage_models",
    "rbt_resolve_asset",
    "rbt_session_finish",
    "rbt_session_start",
    "rbt_unconfigure",
]
