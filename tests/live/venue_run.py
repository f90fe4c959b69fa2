"""A paper venue outside the engine, used as a :class:`~rbt.kernel.broker.LiveBroker`, and
a script that runs a streaming live session against it (the crash tests run it as a
subprocess and SIGKILL it).

The venue is real: the paper broker's matching over its own portal of the streamed bars,
and its own SQLite store (orders, fills, balance, and how far it has matched), so a
restarted engine reconciles against state that survived the crash.

    python venue_run.py HOME VENUE_DIR STRATEGY [--policy P] [--bars N] [--reconcile-every N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import AsyncIterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from rbt.finance.commission import PerShare
from rbt.finance.slippage import FixedBasisPointsSlippage
from rbt.kernel.model import Asset, AssetClass
from rbt.live.feed import Bar
from rbt.live.paper import PaperBroker, VenueStore
from rbt.live.stream import GrowingPortal, frequency_of
from rbt.plugins.calendars import get_calendar

DAY = 86_400_000_000_000
T0 = 1_704_067_200_000_000_000  # 2024-01-01 00:00 UTC
SYMBOLS = ("BTC/USDT", "ETH/USDT")
CAPITAL = 100_000

STRATEGY = """
from rbt.api import order, order_target, symbol

def initialize(context):
    context.btc = symbol("BTC/USDT")
    context.eth = symbol("ETH/USDT")
    context.n = 0
    context.fills = 0

def handle_data(context, data):
    context.n += 1
    if context.n % 4 == 1:
        order(context.btc, 0.5)
    elif context.n % 4 == 3:
        order_target(context.btc, 0)
    if context.n % 5 == 2:
        order(context.eth, 2, limit_price=round(data.current(context.eth, "close") * 0.999, 2))

def on_order_fill(context, fill):
    context.fills += 1
"""


def assets() -> list[Asset]:
    return [
        Asset(
            sid=i + 1,
            symbol=s,
            asset_class=AssetClass.CRYPTO,
            calendar="always_open",
            quote_currency="USDT",
            tick_size=Decimal("0.01"),
            lot_size=Decimal("0.0001"),
        )
        for i, s in enumerate(SYMBOLS)
    ]


def daily(days: int) -> list[tuple[str, Bar]]:
    """A deterministic zig-zag market of ``days`` daily bars per symbol."""
    out = []
    for i in range(days):
        end = T0 + (i + 1) * DAY
        wave = Decimal((i * 7) % 11 - 5)
        for symbol, base, step in (("BTC/USDT", 40000, 150), ("ETH/USDT", 2000, 9)):
            close = Decimal(base) + wave * step
            bar = Bar(end, close - step, close + step, close - 2 * step, close, Decimal(500), 40)
            out.append((symbol, bar))
    return out


class PaperVenue:
    """The paper broker and its store, fed the bars before the engine sees them."""

    def __init__(self, root: Path, interval_ns: int = DAY) -> None:
        self.interval_ns = interval_ns
        self.assets = assets()
        self.portal = GrowingPortal(
            self.assets, get_calendar("always_open"), frequency_of(interval_ns)
        )
        self.store = VenueStore(root / "venue.sqlite", account="sandbox", cash=Decimal(CAPITAL))
        self.broker = PaperBroker(
            self.portal,
            commission=PerShare(),
            slippage=FixedBasisPointsSlippage(),
            store=self.store,
        )
        self.broker.name = "venue"

    def stream(self, messages: Sequence[tuple[str, Bar]]) -> VenueStream:
        return VenueStream(self, messages)

    def publish(self, end: int, bars: dict[int, Bar]) -> None:
        """A bar end at the venue: it joins the venue's data and (once) matches orders."""
        if self.portal.last_end is None or end > self.portal.last_end:
            self.portal.append(end, bars)
            self.portal.advance(end)
        if end > self.store.matched_until():
            self.broker.on_bar(end)
            self.store.set_matched_until(end)

    def close(self) -> None:
        self.store.close()


class VenueStream:
    """The venue's bar stream: each bar end is published at the venue, then streamed."""

    name = "venue"

    def __init__(self, venue: PaperVenue, messages: Sequence[tuple[str, Bar]]) -> None:
        self.venue = venue
        self.symbols = SYMBOLS
        self.interval_ns = venue.interval_ns
        self.messages = list(messages)
        self.on_bar_end: Any = None

    async def bars(self) -> AsyncIterator[tuple[str, Bar]]:
        col = {s: i for i, s in enumerate(SYMBOLS)}
        i = 0
        while i < len(self.messages):
            end = self.messages[i][1].end
            group = []
            while i < len(self.messages) and self.messages[i][1].end == end:
                group.append(self.messages[i])
                i += 1
            self.venue.publish(end, {col[s]: b for s, b in group})
            if self.on_bar_end is not None:
                self.on_bar_end(end)
            for message in group:
                await asyncio.sleep(0)
                yield message

    async def aclose(self) -> None:
        return None


def run(
    home: Path,
    venue_dir: Path,
    strategy: Path,
    *,
    days: int = 40,
    policy: str = "halt",
    reconcile_every: int | None = None,
    observers: Sequence[Any] = (),
    database: str | None = None,
) -> tuple[Any, Any]:
    """Compose and run the session against the venue; returns (result, run)."""
    from rbt.data.home import RbtHome
    from rbt.live.engine import LiveRun

    venue = PaperVenue(venue_dir)
    live = LiveRun(
        strategy,
        feed=venue.stream(daily(days)),
        broker=venue.broker,
        home=RbtHome(home),
        capital_base=CAPITAL,
        policy=policy,
        reconcile_every=reconcile_every,
        mode="sandbox",
        start="2024-01-01",
        observers=observers,
        database=database,
    )
    live.venue = venue  # type: ignore[attr-defined]
    try:
        result = asyncio.run(live.run())
    finally:
        live.close()
        venue.close()
    return result, live


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("home", type=Path)
    parser.add_argument("venue", type=Path)
    parser.add_argument("strategy", type=Path)
    parser.add_argument("--policy", default="halt")
    parser.add_argument("--days", type=int, default=40)
    args = parser.parse_args(argv)
    result, _live = run(args.home, args.venue, args.strategy, days=args.days, policy=args.policy)
    print(
        json.dumps(
            {
                "run_id": result.run_id,
                "final_value": str(result.final_value),
                "trading_state": result.trading_state,
                "reason": result.state_reason,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))


class VenuePlugin:
    """An in-process plugin registering the paper venue as the ``venue`` broker and feed.

    Factories follow the live contract (``factory(endpoint, *, symbols)`` and
    ``factory(endpoint, *, symbols, interval)``); the endpoint's ``rest`` URL selects the
    venue in :attr:`venues`, as a URL selects a simulator.
    """

    def __init__(self, days: int) -> None:
        self.venues: dict[str, PaperVenue] = {}
        self.days = days
        self.endpoints: list[Any] = []

    def add(self, url: str, root: Path) -> PaperVenue:
        venue = self.venues[url] = PaperVenue(root)
        return venue

    def broker(self, endpoint: Any, *, symbols: Sequence[str]) -> PaperBroker:
        self.endpoints.append(endpoint)
        venue = self.venues[endpoint.urls["rest"]]
        assert tuple(symbols) == SYMBOLS
        return venue.broker

    def feed(self, endpoint: Any, *, symbols: Sequence[str], interval: str) -> VenueStream:
        venue = self.venues[endpoint.urls["rest"]]
        assert tuple(symbols) == SYMBOLS
        assert interval == "1d"
        return venue.stream(daily(self.days))

    def register(self) -> Any:
        from rbt.kernel import hookimpl
        from rbt.kernel.registry import Provider, ProviderKind

        plugin = self

        class Hooks:
            @hookimpl
            def rbt_register_brokers(self) -> Any:
                yield Provider(
                    kind=ProviderKind.BROKER,
                    name="venue",
                    factory=plugin.broker,
                    summary="the paper venue of the tests",
                )

            @hookimpl
            def rbt_register_feeds(self) -> Any:
                yield Provider(
                    kind=ProviderKind.FEED,
                    name="venue",
                    factory=plugin.feed,
                    summary="the paper venue's bars",
                )

        return Hooks()
