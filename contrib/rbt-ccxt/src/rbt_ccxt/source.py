"""``ccxt.<exchange>`` data source: OHLCV candles through ccxt ``fetch_ohlcv`` for ``rbt ingest``.

::

    rbt ingest ccxt.binance -o symbols=BTC/USDT,ETH/USDT -o start=2024-01-01 \\
        -o end=2024-01-31 --frequency 1m [-o url=http://127.0.0.1:PORT]   # url: the simulator

* **Pagination**: ``limit`` candles per request (Binance spot: 1000), the next request
  starting one interval after the last candle received, until ``end``.
* **Rate limits**: requests draw from the venue's shared
  :class:`~rbt_ccxt.limiter.VenueRateLimiter` (``klines`` weight by ``limit``); a 429/418
  blocks for ``Retry-After`` and the read is retried.
* **Only closed candles**: a candle whose end is after the venue's current time is still
  forming and is left out.
* **Exact values**: ccxt hands floats; each becomes ``Decimal(repr(x))`` quantized to the
  market's tick (prices) or to 8 decimals (volume) — a value off that grid is refused,
  naming the candle.

Intraday bars are stamped with their end (design.md §2.1a.4); daily bars with their UTC
session date. The calendar is ``always_open``.
"""

from __future__ import annotations

import datetime as dt
import time
import urllib.parse
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from rbt.data.source import AssetInfo
from rbt.kernel.broker import VenueEndpoint
from rbt.kernel.clock import Frequency
from rbt.kernel.errors import ConfigError, DataUnavailableError, RateLimitedError, SchemaError
from rbt.kernel.model import AssetClass
from rbt_ccxt.endpoint import make_client
from rbt_ccxt.errors import describe
from rbt_ccxt.limiter import VenueRateLimiter, limiter_for
from rbt_ccxt.markets import TICK_SIZE, asset_from_market, to_decimal

if TYPE_CHECKING:
    import polars as pl

__all__ = ["CcxtOhlcvSource", "binance_source"]

_INTERVAL_MS = {Frequency.MINUTE: 60_000, Frequency.DAILY: 86_400_000}
_MAX_RETRIES = 5


def _klines_weight(limit: int) -> int:
    """Binance spot ``klines`` weight for ``limit`` rows."""
    return 2 if limit < 100 else 5 if limit < 500 else 10


def _day(text: str, name: str) -> dt.date:
    try:
        return dt.date.fromisoformat(str(text))
    except ValueError:
        raise ConfigError(
            f"ccxt source: {name}={text!r}; expected a date like 2024-01-31"
        ) from None


class CcxtOhlcvSource:
    """OHLCV of ``symbols`` from ``start`` to ``end`` (inclusive UTC days).

    :param symbols: comma-separated unified symbols (``BTC/USDT,ETH/USDT``).
    :param frequency: ``1m`` or ``1d``.
    :param url: the venue simulator's base URL (sandbox); without it ``mode`` decides.
    :param mode: ``sandbox`` (needs ``url``), ``testnet`` or ``live`` (public data).
    :param limit: candles per request.
    """

    calendar = "always_open"

    def __init__(
        self,
        *,
        exchange: str = "binance",
        symbols: str | Sequence[str] = "",
        start: str = "",
        end: str = "",
        frequency: str = "1m",
        url: str | None = None,
        mode: str | None = None,
        limit: int | str = 1000,
        limiter: VenueRateLimiter | None = None,
        **unknown: Any,
    ) -> None:
        unknown.pop("calendar", None)  # always_open; the CLI passes what the user gave
        unknown.pop("tz", None)
        unknown.pop("path", None)
        if unknown:
            raise ConfigError(f"ccxt source: unknown options {sorted(unknown)}")
        names = symbols.split(",") if isinstance(symbols, str) else list(symbols)
        self._symbols = [s.strip() for s in names if s.strip()]
        if not self._symbols:
            raise ConfigError("ccxt source: symbols=BTC/USDT[,ETH/USDT...] is required")
        if not start or not end:
            raise ConfigError("ccxt source: start= and end= (dates, inclusive) are required")
        self._start, self._end = _day(start, "start"), _day(end, "end")
        if self._start > self._end:
            raise ConfigError(f"ccxt source: start {self._start} is after end {self._end}")
        self.frequency = Frequency.parse(frequency)
        self._limit = int(limit)
        if not 1 <= self._limit <= 1000:
            raise ConfigError(f"ccxt source: limit={limit}; expected 1..1000")
        self.exchange = exchange
        mode = mode or ("sandbox" if url else "live")
        self._endpoint = VenueEndpoint(mode=mode, urls={"rest": url} if url else {})
        self._url = url
        self._client: Any = None
        host = urllib.parse.urlsplit(url or "").netloc or mode
        self._limiter = limiter or limiter_for(f"{exchange}@{host}")
        self._cache: dict[str, pl.DataFrame] = {}

    # -- DataSource -----------------------------------------------------------------
    @property
    def options(self) -> Mapping[str, Any]:
        return {
            "exchange": self.exchange,
            "symbols": ",".join(self._symbols),
            "start": self._start.isoformat(),
            "end": self._end.isoformat(),
            "frequency": self.frequency.value,
            "mode": self._endpoint.mode,
            "url": self._url,
            "limit": self._limit,
        }

    def symbols(self) -> Sequence[str]:
        return list(self._symbols)

    def origin(self, symbol: str) -> str:
        where = self._url or self._endpoint.mode
        return f"ccxt:{self.exchange}:{symbol}@{where}"

    def asset_info(self, symbol: str) -> AssetInfo:
        market = self._market(symbol)
        asset = asset_from_market(self.exchange, market, self._precision_mode())
        return AssetInfo(
            symbol=symbol,
            asset_class=AssetClass.CRYPTO,
            exchange=self.exchange,
            calendar=self.calendar,
            quote_currency=asset.quote_currency,
            tick_size=asset.tick_size,
            lot_size=asset.lot_size,
            min_notional=asset.min_notional,
        )

    def read(self, symbol: str) -> pl.DataFrame:
        if symbol not in self._cache:
            self._cache[symbol] = self._read(symbol)
        return self._cache[symbol]

    # -- fetching -------------------------------------------------------------------
    def _connected(self) -> Any:
        if self._client is None:
            client = make_client(self._endpoint, self.exchange)
            self._request(20, client.load_markets)
            self._client = client
        return self._client

    def _precision_mode(self) -> int:
        return int(getattr(self._connected(), "precisionMode", TICK_SIZE))

    def _market(self, symbol: str) -> Mapping[str, Any]:
        markets = self._connected().markets
        if symbol not in markets:
            raise ConfigError(f"ccxt source: {self.exchange} does not list {symbol!r}")
        market: Mapping[str, Any] = markets[symbol]
        return market

    def _request(self, weight: int, fn: Any, *args: Any) -> Any:
        """A read through the venue limiter; 429/418 and network errors retried."""
        import ccxt

        for attempt in range(_MAX_RETRIES + 1):
            self._limiter.acquire(weight, max_wait=120.0)
            client = self._client
            try:
                result = fn(*args)
            except ccxt.DDoSProtection as exc:
                headers = getattr(client, "last_response_headers", None) if client else None
                self._limiter.limited(headers)
                if attempt == _MAX_RETRIES:
                    raise RateLimitedError(f"ccxt source: {describe(exc)}") from None
                continue
            except ccxt.NetworkError as exc:
                if attempt == _MAX_RETRIES:
                    raise DataUnavailableError(
                        f"ccxt source: {self.exchange} did not answer ({describe(exc)}) after "
                        f"{_MAX_RETRIES + 1} attempts"
                    ) from None
                time.sleep(min(5.0, 0.05 * 2**attempt))  # a 5xx or a reset: back off a little
                continue
            except ccxt.BaseError as exc:  # never chained: ccxt's messages may quote URLs
                raise DataUnavailableError(f"ccxt source: {describe(exc)}") from None
            if client is not None:
                self._limiter.observe(client.last_response_headers)
            return result
        raise AssertionError("unreachable")  # pragma: no cover

    def _read(self, symbol: str) -> pl.DataFrame:
        import polars as pl

        client = self._connected()
        market = self._market(symbol)
        asset = asset_from_market(self.exchange, market, self._precision_mode())
        step = _INTERVAL_MS[self.frequency]
        first = int(dt.datetime.combine(self._start, dt.time(), dt.UTC).timestamp() * 1000)
        stop = int(
            dt.datetime.combine(self._end + dt.timedelta(days=1), dt.time(), dt.UTC).timestamp()
            * 1000
        )
        now = int(self._request(1, client.fetch_time))
        rows: dict[int, list[Any]] = {}
        since = first
        while since < stop:
            page = self._request(
                _klines_weight(self._limit),
                client.fetch_ohlcv,
                symbol,
                self.frequency.value,
                since,
                self._limit,
            )
            fresh = [c for c in page if since <= int(c[0]) < stop]
            for candle in fresh:
                rows[int(candle[0])] = candle
            if not page or not fresh:
                break
            since = max(int(c[0]) for c in fresh) + step
        times = sorted(t for t in rows if t + step <= now)  # closed candles only
        # volumes: Binance reports 8 decimals whatever the lot
        price_q, volume_q = asset.tick_size.normalize(), Decimal("0.00000001")
        values: dict[str, list[Decimal]] = {k: [] for k in ("open", "high", "low", "close")}
        values["volume"] = []
        for t in times:
            candle = rows[t]
            for index, name in enumerate(("open", "high", "low", "close", "volume"), start=1):
                values[name].append(
                    _exact(
                        candle[index], volume_q if name == "volume" else price_q, symbol, t, name
                    )
                )
        if self.frequency is Frequency.DAILY:
            ts = pl.Series(
                "ts", [dt.datetime.fromtimestamp(t / 1000, dt.UTC).date() for t in times], pl.Date
            )
        else:
            ts = pl.Series("ts", [(t + step) * 1_000_000 for t in times], pl.Int64).cast(
                pl.Datetime("ns", "UTC")
            )
        price_scale = max(0, -int(price_q.as_tuple().exponent))
        volume_scale = max(0, -int(volume_q.as_tuple().exponent))
        return pl.DataFrame(
            [
                ts,
                *(
                    pl.Series(name, values[name], pl.Decimal(38, price_scale))
                    for name in ("open", "high", "low", "close")
                ),
                pl.Series("volume", values["volume"], pl.Decimal(38, volume_scale)),
            ]
        )


def _exact(value: Any, quantum: Decimal, symbol: str, t: int, field: str) -> Decimal:
    """``value`` on the grid ``quantum``, or a :class:`SchemaError` naming the candle."""
    try:
        number = to_decimal(value)
        exact = number.quantize(quantum)
    except (InvalidOperation, TypeError, ValueError):
        raise SchemaError(
            f"ccxt source: {symbol} candle at {t} ms: {field}={value!r} is not a number"
        ) from None
    if exact != number:
        raise SchemaError(
            f"ccxt source: {symbol} candle at {t} ms: {field}={number} is not a multiple of "
            f"{quantum} (the market's grid)"
        )
    return exact


def binance_source(**options: Any) -> CcxtOhlcvSource:
    """Factory of the ``ccxt.binance`` data source."""
    return CcxtOhlcvSource(exchange="binance", **options)
