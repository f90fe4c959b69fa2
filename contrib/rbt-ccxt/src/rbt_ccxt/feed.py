"""``ccxt.<exchange>`` bar stream: closed candles over ccxt.pro ``watch_ohlcv``.

A candle is yielded once it is closed: a later candle of the same symbol arrived, or
``grace`` seconds passed after its end (venue time: local clock plus the measured
offset). Bars of all symbols come out in bar-end order: a closed bar waits until every
symbol is known up to its end (or the grace has passed). ccxt drops Binance's "closed"
flag (``k.x``), so the rule does not rely on it.
After a dropped connection the stream reconnects with backoff and full jitter and fetches
the candles it missed over REST (``fetch_ohlcv`` since the last one yielded).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import random
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

from rbt.kernel.broker import VenueEndpoint
from rbt.kernel.errors import ConfigError
from rbt.live.feed import Bar
from rbt_ccxt.endpoint import make_pro_client
from rbt_ccxt.errors import describe
from rbt_ccxt.markets import to_decimal

__all__ = ["CcxtBarStream", "binance_feed"]

log = logging.getLogger("rbt_ccxt.feed")

_INTERVALS_MS = {"1m": 60_000, "1d": 86_400_000}
MS = 1_000_000


class CcxtBarStream:
    """Closed bars of ``symbols`` at ``interval`` (``1m`` or ``1d``); a
    :class:`rbt.live.feed.BarStream`.

    :param grace: seconds after a bar's end before it counts as closed without a later one.
    :param until: UTC ns; the stream ends after the bars ending at it (None: never).
    """

    def __init__(
        self,
        endpoint: VenueEndpoint,
        *,
        exchange: str = "binance",
        symbols: Sequence[str],
        interval: str = "1m",
        grace: float = 5.0,
        backoff: tuple[float, float] = (0.2, 30.0),
        until: int | None = None,
    ) -> None:
        if interval not in _INTERVALS_MS:
            raise ConfigError(f"bar interval {interval!r} is not supported; use 1m or 1d")
        if not symbols:
            raise ConfigError("a ccxt feed needs at least one symbol")
        self.name = f"ccxt.{exchange}"
        self.exchange = exchange
        self.endpoint = endpoint
        self.symbols = tuple(symbols)
        self.interval = interval
        self.interval_ns = _INTERVALS_MS[interval] * MS
        self.grace = grace
        self.backoff = backoff
        self.until = until
        self.reconnects = 0
        self._closing = asyncio.Event()
        self._pro: Any = None
        self._offset_ms = 0

    async def aclose(self) -> None:
        self._closing.set()

    def _venue_ms(self) -> int:
        return time.time_ns() // MS + self._offset_ms

    async def bars(self) -> AsyncIterator[tuple[str, Bar]]:
        pro = self._pro = make_pro_client(self.endpoint, self.exchange)
        queue: asyncio.Queue[tuple[str, list[Any]]] = asyncio.Queue()
        tasks: list[asyncio.Task[None]] = []
        try:
            await pro.load_markets()
            server = await pro.fetch_time()
            self._offset_ms = int(server) - time.time_ns() // MS
            pending: dict[str, list[Any]] = {}
            last_end: dict[str, int] = {}
            # a heap in bar-end order: (end, symbol index, when it closed, symbol, bar)
            closed: list[tuple[int, int, float, str, Bar]] = []
            order = {s: i for i, s in enumerate(self.symbols)}
            tasks = [
                asyncio.create_task(self._watch(pro, s, queue, last_end)) for s in self.symbols
            ]
            closing = asyncio.create_task(self._closing.wait())
            while not self._closing.is_set():
                getter = asyncio.create_task(queue.get())
                done, _ = await asyncio.wait(
                    {getter, closing}, timeout=0.25, return_when=asyncio.FIRST_COMPLETED
                )
                if getter not in done:
                    getter.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await getter
                else:
                    symbol, candle = getter.result()
                    for bar in self._accept(symbol, candle, pending, last_end):
                        heapq.heappush(
                            closed, (bar.end, order[symbol], time.monotonic(), symbol, bar)
                        )
                now_ns = self._venue_ms() * MS
                grace_ns = int(self.grace * 1e9)
                for symbol in list(pending):  # the grace rule closes the open candle
                    bar = self._bar(pending[symbol])
                    if now_ns >= bar.end + grace_ns:
                        del pending[symbol]
                        last_end[symbol] = bar.end
                        heapq.heappush(
                            closed, (bar.end, order[symbol], time.monotonic(), symbol, bar)
                        )
                # release in bar-end order: a bar goes once no symbol can still close an
                # earlier one (each is known up to its open candle), or after the grace
                known = min(
                    (int(pending[s][0]) * MS if s in pending else last_end.get(s, -1))
                    for s in self.symbols
                )
                # (or ``grace`` seconds after it closed: a symbol without trades gives no bar)
                while closed and (
                    closed[0][0] <= known or time.monotonic() >= closed[0][2] + self.grace
                ):
                    _, _, _, symbol, bar = heapq.heappop(closed)
                    if self.until is not None and bar.end > self.until:
                        continue
                    yield symbol, bar
                if (
                    self.until is not None
                    and all(last_end.get(s, -1) >= self.until for s in self.symbols)
                    and not any(end <= self.until for end, *_ in closed)
                ):
                    return  # every symbol delivered its bar ending at ``until``
            closing.cancel()
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(BaseException):
                    await task
            with contextlib.suppress(BaseException):
                await pro.close()

    def _accept(
        self,
        symbol: str,
        candle: list[Any],
        pending: dict[str, list[Any]],
        last_end: dict[str, int],
    ) -> list[Bar]:
        """Take a candle update; return the bar it closed (if any)."""
        end_ns = (int(candle[0]) + _INTERVALS_MS[self.interval]) * MS
        if end_ns <= last_end.get(symbol, -1):
            return []  # already yielded: a repeat or a late update of a closed candle
        held = pending.get(symbol)
        if held is None or int(held[0]) == int(candle[0]):
            pending[symbol] = list(candle)  # the open candle (or its update)
            return []
        if int(candle[0]) < int(held[0]):
            return []  # an older candle after a newer one: stale
        pending[symbol] = list(candle)
        bar = self._bar(held)
        last_end[symbol] = bar.end
        return [bar]

    def _bar(self, candle: list[Any]) -> Bar:
        o, h, low, c, v = (to_decimal(x) for x in candle[1:6])
        end = (int(candle[0]) + _INTERVALS_MS[self.interval]) * MS
        return Bar(end=end, open=o, high=h, low=low, close=c, volume=v, trades=0)

    async def _watch(
        self,
        pro: Any,
        symbol: str,
        queue: asyncio.Queue[tuple[str, list[Any]]],
        last_end: dict[str, int],
    ) -> None:
        import ccxt

        attempt = 0
        catch_up = False
        while not self._closing.is_set():
            try:
                if catch_up and symbol in last_end:
                    since = last_end[symbol] // MS
                    for candle in await pro.fetch_ohlcv(symbol, self.interval, since, 1000):
                        queue.put_nowait((symbol, candle))
                    catch_up = False
                candles = await pro.watch_ohlcv(symbol, self.interval)
                attempt = 0
                for candle in candles:
                    queue.put_nowait((symbol, candle))
            except (ccxt.NetworkError, ConnectionError) as exc:
                attempt += 1
                self.reconnects += 1
                base, cap = self.backoff
                delay = random.uniform(0, min(cap, base * 2**attempt))
                log.warning(
                    "%s: %s stream lost (%s); again in %.2f s",
                    self.name,
                    symbol,
                    describe(exc),
                    delay,
                )
                await asyncio.sleep(delay)
                catch_up = True


def binance_feed(
    endpoint: VenueEndpoint, *, symbols: Sequence[str], interval: str = "1m", **options: Any
) -> CcxtBarStream:
    """Factory of the ``ccxt.binance`` feed provider."""
    return CcxtBarStream(
        endpoint, exchange="binance", symbols=symbols, interval=interval, **options
    )
