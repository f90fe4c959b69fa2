"""Hook implementations (the ``ccxt`` entry point): lazy factories only, so listing
plugins never imports ccxt."""

from __future__ import annotations

from collections.abc import Iterator

from rbt.kernel import hookimpl
from rbt.kernel.registry import Provider, ProviderKind

__all__ = ["rbt_register_brokers", "rbt_register_data_sources", "rbt_register_feeds"]

#: exchanges proven against a venue that speaks their protocol (rbt-venue-sim: Binance spot)
EXCHANGES = ("binance",)

BROKER_CAPABILITIES = frozenset(
    {
        "market",
        "limit",
        "cancel",
        "partial_fills",
        "lookup_by_client_id",
        "reconnect",
        "reconciliation",
        "live",
    }
)


@hookimpl
def rbt_register_brokers() -> Iterator[Provider]:
    """Register ``ccxt.<exchange>`` live brokers."""
    for exchange in EXCHANGES:
        yield Provider(
            kind=ProviderKind.BROKER,
            name=f"ccxt.{exchange}",
            factory=f"rbt_ccxt.broker:{exchange}_broker",
            summary=f"{exchange} spot through the unmodified ccxt client (REST + ccxt.pro "
            "user-data stream)",
            capabilities=set(BROKER_CAPABILITIES),
        )


@hookimpl
def rbt_register_feeds() -> Iterator[Provider]:
    """Register ``ccxt.<exchange>`` bar streams (closed klines over ``watch_ohlcv``)."""
    for exchange in EXCHANGES:
        yield Provider(
            kind=ProviderKind.FEED,
            name=f"ccxt.{exchange}",
            factory=f"rbt_ccxt.feed:{exchange}_feed",
            summary=f"{exchange} closed candles streamed through ccxt.pro watch_ohlcv",
        )


@hookimpl
def rbt_register_data_sources() -> Iterator[Provider]:
    """Register ``ccxt.<exchange>`` OHLCV sources for ``rbt ingest``."""
    for exchange in EXCHANGES:
        yield Provider(
            kind=ProviderKind.DATA_SOURCE,
            name=f"ccxt.{exchange}",
            factory=f"rbt_ccxt.source:{exchange}_source",
            summary=f"{exchange} OHLCV candles through ccxt fetch_ohlcv (paginated, rate limited)",
        )
