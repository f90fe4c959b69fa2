"""Built-in live/paper providers: the realtime clock, the replay feed, the paper broker."""

from __future__ import annotations

from collections.abc import Iterator

from rbt.kernel import hookimpl
from rbt.kernel.registry import Provider, ProviderKind


@hookimpl
def rbt_register_clocks() -> Iterator[Provider]:
    """Register the realtime clock."""
    yield Provider(
        kind=ProviderKind.CLOCK,
        name="realtime",
        factory="rbt.kernel.realtime:RealtimeClock",
        summary="releases a market's clock events on wall time (paper, live, replays)",
    )


@hookimpl
def rbt_register_feeds() -> Iterator[Provider]:
    """Register the replay feed."""
    yield Provider(
        kind=ProviderKind.FEED,
        name="replay",
        factory="rbt.live.feed:ReplayFeed",
        summary="streams a bundle's bars as if live, on their own timestamps scaled by --speed",
    )


@hookimpl
def rbt_register_brokers() -> Iterator[Provider]:
    """Register the paper broker."""
    yield Provider(
        kind=ProviderKind.BROKER,
        name="paper",
        factory="rbt.live.paper:PaperBroker",
        summary="paper trading: the backtest's fill, slippage and commission models, with "
        "latency and its own venue store",
        capabilities=frozenset(
            {
                "market",
                "limit",
                "stop",
                "stop_limit",
                "trailing_stop",
                "bracket",
                "oco",
                "tif",
                "cancel",
                "partial_fills",
                "latency",
                "lookup_by_client_id",
                "reconnect",
                "reconciliation",
            }
        ),
    )
