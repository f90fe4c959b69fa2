"""The account's order-update stream of :class:`~rbt_ccxt.broker.CcxtBroker` (``run``).

``ccxt.pro.<exchange>`` watches the account's trades and order updates (Binance spot: the
WebSocket API's signed user-data subscription, as ccxt 4.5.90 does it). Trades are
watched beside orders because ccxt folds the reports of one order into one update, where
a stale report can hide a fill. After every (re)connect — exponential backoff with full
jitter — the fills since the watermark and the state of every open order are fetched
over REST before new stream events are applied.

ccxt resolves a watch only when a message arrives while a watch is pending: a report
that lands between one watch's answer and the next call waits in ccxt's cache for the
*next* message, which in a quiet market may never come. When the stream is idle for
``IDLE_SWEEP_S`` the tails of those caches are swept; each raw report is delivered once
per watch (remembered by the identity of its ``info`` dict, which ccxt keeps alive).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
from collections import OrderedDict
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from rbt_ccxt.endpoint import make_pro_client
from rbt_ccxt.errors import describe

if TYPE_CHECKING:
    from rbt.kernel.broker import VenueEndpoint

__all__ = ["UserDataStream"]

log = logging.getLogger("rbt_ccxt.broker")
MS = 1_000_000
IDLE_SWEEP_S = 0.25
_SWEPT_TAIL = 64  # cache entries looked at per sweep
_REMEMBERED = 4096  # delivered reports remembered per watch (far more than the tail)


class UserDataStream:
    """The ``run()`` half of the broker: stream, reconnect, catch up (a mixin)."""

    name: str
    exchange_id: str
    endpoint: VenueEndpoint
    symbols: tuple[str, ...]
    client: Any
    backoff: tuple[float, float]
    reconnects: int
    catch_ups: int
    _closing: bool
    _close_event: asyncio.Event | None
    _loop: asyncio.AbstractEventLoop | None
    _watermark_ms: int
    _orders: dict[str, Any]
    _by_venue_id: dict[tuple[str, str], str]
    _ready: Callable[[], None]
    _trades_since: Callable[[str, int], list[Mapping[str, Any]]]
    _fetch_by_client_id: Callable[..., dict[str, Any] | None]
    _apply_trade_row: Callable[[Any, Mapping[str, Any]], None]
    _apply_rest_order: Callable[[Any, Mapping[str, Any]], None]
    _track_venue_id: Callable[[Any, str, Any], None]
    _fill_id: Callable[[str, str], str]
    _catch_up_order: Callable[[Any], None]
    _apply_fill: Callable[..., None]
    _apply_status: Callable[[Any, str, Decimal, int], None]

    async def run(self) -> None:
        """Stream order updates into the sink until :meth:`close` (see the module doc)."""
        import ccxt

        self._loop = asyncio.get_running_loop()
        self._close_event = asyncio.Event()
        if self._closing:
            return
        await asyncio.to_thread(self._ready)
        pro = make_pro_client(self.endpoint, self.exchange_id)
        pro.set_markets(self.client.markets)
        pro.options["timeDifference"] = self.client.options.get("timeDifference", 0)
        closer = asyncio.create_task(self._close_event.wait())
        # order updates carry the states; trades are watched too, because ccxt folds the
        # reports of one order into one update (a stale report can hide a fill there)
        sources = {"trades": pro.watch_my_trades, "orders": pro.watch_orders}
        watches: dict[str, asyncio.Future[Any]] = {}
        caches = {"trades": "myTrades", "orders": "orders"}  # ccxt.pro's cache attributes
        delivered: dict[str, OrderedDict[int, Any]] = {key: OrderedDict() for key in sources}
        attempt = 0
        # the first subscription is a reconnect too: reports sent between connect() and
        # the subscription are fetched over REST
        catch_up = True
        if self._watermark_ms == 0:
            self._watermark_ms = int(self.client.milliseconds()) - 60_000
        try:
            while not self._closing:
                try:
                    for key, watch_fn in sources.items():
                        if key not in watches:
                            watches[key] = asyncio.ensure_future(watch_fn())
                    if catch_up:
                        await self._subscribed(pro, watches["orders"])
                        await self._catch_up()
                        catch_up = False
                    done, _ = await asyncio.wait(
                        {*watches.values(), closer},
                        timeout=IDLE_SWEEP_S,
                        return_when=asyncio.FIRST_COMPLETED,
                    )
                    if closer in done:
                        break
                    if not done:
                        for key, attr in caches.items():
                            cache = getattr(pro, attr, None) or ()
                            tail = list(itertools.islice(reversed(cache), _SWEPT_TAIL))
                            self._deliver(reversed(tail), delivered[key])  # oldest first
                    for key, future in list(watches.items()):
                        if future in done:
                            del watches[key]
                            updates = future.result()
                            attempt = 0
                            self._deliver(updates, delivered[key])
                except (ccxt.NetworkError, ccxt.ExchangeClosedByUser, ConnectionError) as exc:
                    await _cancel_all(watches)
                    if self._closing:
                        break
                    attempt += 1
                    self.reconnects += 1
                    base, cap = self.backoff
                    delay = random.uniform(0, min(cap, base * 2**attempt))  # full jitter
                    log.warning(
                        "%s: user stream lost (%s); reconnecting in %.2f s",
                        self.name,
                        describe(exc),
                        delay,
                    )
                    await asyncio.sleep(delay)
                    catch_up = True
                    if self._watermark_ms == 0:
                        self._watermark_ms = int(self.client.milliseconds()) - 60_000
        finally:
            closer.cancel()
            await _cancel_all(watches)
            with contextlib.suppress(BaseException):
                await pro.close()

    def _deliver(self, updates: Any, delivered: OrderedDict[int, Any]) -> None:
        """Apply the updates whose raw report this watch has not delivered yet."""
        for update in updates:
            info = update.get("info")
            if info is not None:
                if id(info) in delivered:
                    continue
                delivered[id(info)] = info  # the reference keeps the id unique
                if len(delivered) > _REMEMBERED:
                    delivered.popitem(last=False)
            self._on_stream_order(update)

    async def _subscribed(self, pro: Any, watch: asyncio.Future[Any]) -> None:
        """Wait until the user-data subscription is confirmed (or the watch ended)."""
        for _ in range(500):
            if watch.done():
                watch.result()  # raises the reconnect failure
                return
            url = pro.urls["api"]["ws"]["ws-api"]["spot"]
            client = pro.clients.get(url)
            if (
                client is not None
                and "spot" in client.subscriptions
                and "authenticate:signature:spot" not in client.futures
            ):
                return
            await asyncio.sleep(0.01)

    async def _catch_up(self) -> None:
        """After a reconnect: missed fills and final states of the tracked open orders."""
        since = self._watermark_ms
        rows = {s: await asyncio.to_thread(self._trades_since, s, since) for s in self.symbols}
        states: dict[str, dict[str, Any] | None] = {}
        for t in list(self._orders.values()):
            if t.status.is_open:
                states[t.cid] = await asyncio.to_thread(self._fetch_by_client_id, t.cid, t.symbol)
        for symbol, infos in rows.items():
            for info in infos:
                cid = self._by_venue_id.get((symbol, str(info["orderId"])))
                owner = self._orders.get(cid) if cid is not None else None
                if owner is not None:
                    self._apply_trade_row(owner, info)
        for cid, order in states.items():
            if order is not None:
                self._apply_rest_order(self._orders[cid], order)
        self.catch_ups += 1
        log.info("%s: caught up after a reconnect (fills since %d ms)", self.name, since)

    def _on_stream_order(self, update: Mapping[str, Any]) -> None:
        """One ccxt order update; ``info`` is the raw ``executionReport``."""
        info = update.get("info") or {}
        if info.get("e") != "executionReport":
            return
        cid = str(info.get("C") or info.get("c") or "")
        t = self._orders.get(cid)
        if t is None:
            log.debug("%s: report for a foreign order %s ignored", self.name, cid)
            return
        self._track_venue_id(t, str(info.get("i")), info.get("s"))
        ts = int(info.get("E") or 0) * MS
        cumulative = Decimal(str(info.get("z", "0")))
        if info.get("x") == "TRADE":
            qty = Decimal(str(info["l"]))
            fill_id = self._fill_id(t.symbol, str(info["t"]))
            if fill_id not in t.trades and t.filled + qty != cumulative:
                # the report does not add up (a copy with other numbers, or reports ccxt
                # folded away): the venue's trade list is the authority
                log.warning(
                    "%s: report for %s does not add up (%s + %s != %s); fetching its trades",
                    self.name,
                    t.cid,
                    t.filled,
                    qty,
                    cumulative,
                )
                self._catch_up_order(t)
            self._apply_fill(
                t,
                trade_id=str(info["t"]),
                qty=qty,
                price=Decimal(str(info["L"])),
                fee=Decimal(str(info.get("n") or "0")),
                fee_asset=str(info.get("N") or ""),
                ts=int(info.get("T") or info.get("E") or 0) * MS,
            )
        if cumulative > t.filled:
            # ccxt folds several reports of one order into one update: fetch what we missed
            self._catch_up_order(t)
        self._apply_status(t, str(info.get("X")), cumulative, ts)


async def _cancel_all(futures: dict[str, asyncio.Future[Any]]) -> None:
    """Cancel pending watches and collect their outcome (no "never retrieved" warnings)."""
    for future in futures.values():
        future.cancel()
    for future in futures.values():
        with contextlib.suppress(BaseException):
            await future
    futures.clear()
