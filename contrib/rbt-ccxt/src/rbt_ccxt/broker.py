"""``ccxt.<exchange>``: a :class:`~rbt.kernel.broker.LiveBroker` over the unmodified ccxt client.

REST calls (``submit``, ``cancel``, ``lookup``, ``snapshot``, ``fills_since``) use the
synchronous ``ccxt.<exchange>``; :meth:`CcxtBroker.run` streams the account's order
updates with ``ccxt.pro.<exchange>.watch_orders`` (Binance spot: the WebSocket API's
signed user-data subscription, as ccxt 4.5.90 does it).

What the engine can rely on:

* **Client order ids** are the engine's order ids (``newClientOrderId``); an id the venue
  already has (Binance refuses duplicates only among *open* orders) is never sent again:
  the existing order's state and fills are reported instead.
* **Rounding before the network** (reliability.md §D.1) with the venue's precision and
  limits; an order that fails the checks is REJECTED with a ``CODE: message`` reason and
  no request is sent. A quantity the venue's lot cut down is sent rounded; the rest is
  EXPIRED (``OFF_GRID``) once the sent part is done.
* **Unknown outcomes**: ccxt's ``NetworkError`` family while placing an order (timeout,
  reset, 5xx, 429) raises :class:`~rbt.kernel.errors.OrderOutcomeUnknownError` — never a
  retry; :meth:`CcxtBroker.lookup` finds the order by client id (``origClientOrderId``).
* **Exactly once**: every fill carries ``<market id>-<venue trade id>`` as ``Fill.id``, the
  same from the order response, the stream and ``myTrades``; a repeated trade id is
  dropped (a "noisy" repeat with other numbers is logged and dropped). Order events are
  mirrored through the kernel's state machine, so a stale or reordered report never
  produces an invalid transition.
* **Reconnects** with exponential backoff and full jitter; after each reconnect, fills
  since the watermark and the state of every open order are fetched over REST before
  new stream events are applied.
* **Rate limits**: one :class:`~rbt_ccxt.limiter.VenueRateLimiter` per venue; 429/418
  block the venue for ``Retry-After``; a placement that would have to wait is refused
  before the network (``RATE_LIMITED``).
* **Clock**: the venue offset is measured at connect and after a ``-1021``, applied to
  both clients; beyond ``max_skew_ms`` the broker halts (:class:`~rbt_ccxt.skew.ClockSkewError`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any, TypeVar

import attrs

from rbt.kernel.broker import AccountSnapshot, BrokerEvents, VenueEndpoint, VenueOrder
from rbt.kernel.errors import (
    AuthenticationError,
    BrokerConnectionError,
    BrokerError,
    ConfigError,
    InvalidTransitionError,
    OrderOutcomeUnknownError,
    RateLimitedError,
)
from rbt.kernel.model import Asset, Fill, Order, OrderStatus
from rbt.kernel.orders import OrderEventKind, next_status
from rbt_ccxt.endpoint import make_client
from rbt_ccxt.errors import describe
from rbt_ccxt.limiter import VenueRateLimiter, limiter_for
from rbt_ccxt.markets import assets_from_markets, prepare_order
from rbt_ccxt.skew import ClockOffset, ClockSkewError, apply_offset, check_offset, measure_offset
from rbt_ccxt.stream import UserDataStream

__all__ = ["CcxtBroker", "binance_broker"]

log = logging.getLogger("rbt_ccxt.broker")
T = TypeVar("T")

MS = 1_000_000  # ns per ms
#: the longest a placement waits for the rate limiter (pacing); a longer back-off refuses it
WRITE_MAX_WAIT = 1.0

# Binance spot request weights of the calls the adapter makes
WEIGHTS = {
    "load_markets": 20,
    "fetch_time": 1,
    "create_order": 1,
    "cancel_order": 1,
    "fetch_order": 4,
    "fetch_open_orders": 6,
    "fetch_balance": 20,
    "fetch_my_trades": 20,
}

_OPEN = frozenset({"NEW", "PARTIALLY_FILLED", "PENDING_NEW"})
_STATUS_NAMES = {
    "NEW": "open",
    "PARTIALLY_FILLED": "open",
    "PENDING_NEW": "open",
    "FILLED": "filled",
    "CANCELED": "cancelled",
    "PENDING_CANCEL": "open",
    "REJECTED": "rejected",
    "EXPIRED": "expired",
    "EXPIRED_IN_MATCH": "expired",
}


@attrs.define
class _Tracked:
    """What the broker knows about one of the engine's orders (mirrors its state)."""

    cid: str
    asset: Asset
    amount: Decimal  # signed, as the engine ordered
    sent: Decimal  # signed, as rounded and sent
    symbol: str
    status: OrderStatus = OrderStatus.SUBMITTED
    filled: Decimal = Decimal(0)
    venue_id: str | None = None
    trades: dict[str, tuple[Decimal, Decimal]] = attrs.Factory(dict)


class CcxtBroker(UserDataStream):
    """A live broker on one ccxt exchange (see the module doc).

    :param endpoint: where to connect and with which credentials.
    :param exchange: the ccxt exchange id (``binance``).
    :param symbols: the unified symbols traded (``BTC/USDT``).
    :param max_skew_ms: the largest clock offset corrected; beyond it the broker halts.
    :param read_retries: retries of a read after a network error or rate limit.
    :param backoff: reconnect backoff (base, cap) in seconds; full jitter.
    :param check_client_ids: look every client id up before sending it (one extra read per
        order): the venue refuses a duplicate id only among open orders.
    """

    def __init__(
        self,
        endpoint: VenueEndpoint,
        *,
        exchange: str = "binance",
        symbols: Sequence[str],
        max_skew_ms: int = 10_000,
        read_retries: int = 3,
        backoff: tuple[float, float] = (0.2, 30.0),
        limiter: VenueRateLimiter | None = None,
        check_client_ids: bool = True,
    ) -> None:
        if not symbols:
            raise ConfigError("a ccxt broker needs at least one symbol (--symbols BTC/USDT)")
        if not endpoint.credentials.get("apiKey") or not endpoint.credentials.get("secret"):
            raise ConfigError(
                f"ccxt.{exchange} needs an API key and secret: for --sandbox, start the "
                "simulator with `rbt sandbox` (it writes its keys to sandbox.json) or pass "
                "--credentials NAME; otherwise --credentials NAME (see rbt credentials)"
            )
        self.name = f"ccxt.{exchange}"
        self.exchange_id = exchange
        self.endpoint = endpoint
        self.symbols = tuple(symbols)
        self.max_skew_ms = max_skew_ms
        self.read_retries = read_retries
        self.backoff = backoff
        self.check_client_ids = check_client_ids
        self.client: Any = make_client(endpoint, exchange)
        host = urllib.parse.urlsplit(str(endpoint.urls.get("rest", ""))).netloc or endpoint.mode
        self.limiter = limiter or limiter_for(f"{exchange}@{host}")
        self.offset: ClockOffset | None = None
        self.halt_reason = ""
        self.reconnects = 0
        self.catch_ups = 0  # REST catch-ups done (the first subscription's, then reconnects')
        self.duplicates_dropped = 0
        self.noisy_dropped = 0
        self.alerts: list[str] = []
        self._events: BrokerEvents | None = None
        self._assets: dict[str, Asset] = {}
        self._orders: dict[str, _Tracked] = {}
        self._by_venue_id: dict[tuple[str, str], str] = {}
        self._lock = threading.RLock()
        self._closing = False
        self._close_event: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._watermark_ms = 0

    # ---------------------------------------------------------------- plumbing
    def _call(
        self,
        what: str,
        fn: Callable[..., T],
        *args: Any,
        write: bool = False,
        max_wait: float | None = None,
    ) -> T:
        """One REST call through the limiter; reads are retried, writes never.

        ``max_wait``: the longest wait before sending (default: 1 s of pacing for a write —
        never a ``Retry-After`` back-off — and 60 s for a read); longer raises
        :class:`RateLimitedError`, nothing sent.
        """
        import ccxt

        attempts = 1 if write else self.read_retries + 1
        wait_limit = max_wait if max_wait is not None else (WRITE_MAX_WAIT if write else 60.0)
        for attempt in range(attempts):
            self.limiter.acquire(WEIGHTS.get(what, 1), max_wait=wait_limit)
            with self._lock:
                try:
                    result = fn(*args)
                except ccxt.DDoSProtection as exc:
                    wait = self.limiter.limited(self.client.last_response_headers)
                    log.warning(
                        "%s: rate limited (%s); backing off %.1f s", what, describe(exc), wait
                    )
                    if write or attempt == attempts - 1:
                        raise
                    continue
                except ccxt.InvalidNonce:
                    raise
                except ccxt.NetworkError as exc:
                    if write or attempt == attempts - 1:
                        raise
                    log.warning("%s: %s; retrying a read", what, describe(exc))
                    continue
                self.limiter.observe(self.client.last_response_headers)
                return result
        raise AssertionError("unreachable")  # pragma: no cover

    def _read(self, what: str, fn: Callable[..., T], *args: Any) -> T:
        """A read; network failures become :class:`BrokerConnectionError`."""
        import ccxt

        try:
            return self._call(what, fn, *args)
        except ccxt.DDoSProtection as exc:
            raise RateLimitedError(
                f"{self.name}: {what}: {describe(exc)}", venue=self.name
            ) from None
        except ccxt.NetworkError as exc:
            raise BrokerConnectionError(
                f"{self.name}: {what} failed: {describe(exc)}", venue=self.name
            ) from None
        except ccxt.BaseError as exc:  # never chained: ccxt's messages quote signed URLs
            raise _venue_error(self.name, what, exc) from None

    def _ready(self) -> None:
        """Markets loaded and the clock offset measured (once)."""
        if not self._assets:
            self._read("load_markets", self.client.load_markets)
            missing = [s for s in self.symbols if s not in self.client.markets]
            if missing:
                raise ConfigError(
                    f"{self.name}: unknown symbols {missing}; the venue lists "
                    f"{sorted(self.client.markets)[:20]}"
                )
            assets = assets_from_markets(
                self.exchange_id, self.client.markets, self.symbols, self.client.precisionMode
            )
            self._assets = {a.symbol: a for a in assets}
        if self.offset is None:
            self.sync_clock()

    def sync_clock(self) -> ClockOffset:
        """Measure the venue offset and apply it; halt beyond ``max_skew_ms``."""
        offset = measure_offset(lambda: self._read("fetch_time", self.client.fetch_time))
        recv = int(self.client.options.get("recvWindow", 5000))
        try:
            check_offset(offset, max_skew_ms=self.max_skew_ms, recv_window_ms=recv, venue=self.name)
        except ClockSkewError as exc:
            self.halt_reason = str(exc)
            self.offset = offset
            raise
        apply_offset(self.client, offset)
        self.offset = offset
        log.info(
            "%s: venue clock offset %+d ms (rtt %d ms)", self.name, offset.offset_ms, offset.rtt_ms
        )
        return offset

    def _sink(self) -> BrokerEvents:
        if self._events is None:
            raise RuntimeError(f"{self.name}: connect() was not called")
        return self._events

    def _emit(self, t: _Tracked, kind: OrderEventKind, ts: int, reason: str = "") -> bool:
        """Send a state change if the state machine allows it from the mirrored state."""
        try:
            status = next_status(t.status, kind)
        except InvalidTransitionError:
            log.info(
                "%s: stale %s for %s in state %s ignored",
                self.name,
                kind.value,
                t.cid,
                t.status.value,
            )
            return False
        t.status = status
        self._sink().order_event(t.cid, kind, ts, reason)
        return True

    # ---------------------------------------------------------------- Broker
    def connect(self, events: BrokerEvents) -> None:
        """Load markets, measure the clock, and report to ``events`` from now on."""
        self._events = events
        self._ready()

    def instruments(self) -> Sequence[Asset]:
        """The traded symbols as crypto assets with the venue's tick, lot and min notional."""
        self._ready()
        return tuple(self._assets[s] for s in self.symbols)

    def on_bar(self, ts: int) -> None:
        """Nothing: the venue matches orders itself."""

    def submit(self, order: Order) -> None:
        """Send ``order`` (see the module doc for rejections and unknown outcomes)."""
        import ccxt

        self._sink()
        self._ready()
        venue_asset = self._assets.get(order.asset.symbol)
        t = _Tracked(
            cid=order.id,
            asset=order.asset,
            amount=order.amount,
            sent=order.amount,
            symbol=order.asset.symbol,
            status=order.status if order.status is not OrderStatus.NEW else OrderStatus.SUBMITTED,
        )
        self._orders[order.id] = t
        now = order.created
        if venue_asset is None:
            self._emit(
                t,
                OrderEventKind.REJECT,
                now,
                f"INSTRUMENT_NOT_FOUND: {order.asset.symbol} "
                f"is not traded by {self.name} (symbols: {', '.join(self.symbols)})",
            )
            return
        if self.client.markets[venue_asset.symbol].get("active") is False:
            self._emit(
                t,
                OrderEventKind.REJECT,
                now,
                f"INSTRUMENT_INACTIVE: {venue_asset.symbol} is not trading at the venue",
            )
            return
        if self.halt_reason:
            self._emit(t, OrderEventKind.REJECT, now, f"HALTED: {self.halt_reason}")
            return
        prepared = prepare_order(order, venue_asset)
        if isinstance(prepared, str):
            self._emit(t, OrderEventKind.REJECT, now, prepared)
            return
        t.sent = prepared.amount if order.amount > 0 else -prepared.amount
        if self.check_client_ids:
            # Binance refuses a client id only while its order is open: an id whose order
            # already filled (a restart re-deciding a bar) would become a second order
            try:
                # a back-off is not sat out here: the order is refused, nothing sent
                existing = self._fetch_by_client_id(
                    order.id, venue_asset.symbol, max_wait=WRITE_MAX_WAIT
                )
            except RateLimitedError as exc:
                self._emit(t, OrderEventKind.REJECT, now, f"RATE_LIMITED: not sent ({exc})")
                return
            except BrokerConnectionError as exc:
                code = "CLOCK_SKEW" if "InvalidNonce" in str(exc) else "NOT_SENT"
                self._emit(t, OrderEventKind.REJECT, now, f"{code}: {exc}")
                return
            except BrokerError as exc:
                self._emit(t, OrderEventKind.REJECT, now, f"VENUE_REJECTED: {exc}")
                return
            if existing is not None:
                log.warning(
                    "%s: client id %s is already at the venue; not sent again", self.name, order.id
                )
                self._apply_rest_order(t, existing)
                return
        try:
            response = self._call(
                "create_order",
                lambda: self.client.create_order(*prepared.args, dict(prepared.params)),
                write=True,
            )
        except RateLimitedError as exc:
            self._emit(t, OrderEventKind.REJECT, now, f"RATE_LIMITED: not sent ({exc})")
            return
        except ccxt.InvalidNonce as exc:
            # -1021: the venue refused the timestamp before looking at the order
            reason = f"CLOCK_SKEW: {describe(exc)}"
            with contextlib.suppress(ClockSkewError):
                self.sync_clock()
            self._emit(t, OrderEventKind.REJECT, now, reason)
            return
        except ccxt.NetworkError as exc:
            raise OrderOutcomeUnknownError(
                f"{self.name}: order {order.id}: {describe(exc)} while placing it; the venue may "
                "or may not have it — look it up by client id, do not resend",
                venue=self.name,
            ) from None
        except ccxt.BaseError as exc:
            self._emit(t, OrderEventKind.REJECT, now, f"VENUE_REJECTED: {describe(exc)}")
            return
        self._apply_rest_order(t, response)

    def cancel(self, order_id: str) -> None:
        """Cancel by client id; the outcome (cancel, or the fills that won) is reported."""
        import ccxt

        t = self._orders.get(order_id)
        if t is None:
            self.lookup(order_id)  # an order of an earlier run: adopted if still open
            t = self._orders.get(order_id)
        if t is None:
            raise KeyError(f"{self.name}: no open order {order_id!r} at the venue")
        with contextlib.suppress(InvalidTransitionError):
            t.status = next_status(t.status, OrderEventKind.CANCEL_REQUEST)
        try:
            response = self._call(
                "cancel_order",
                lambda: self.client.cancel_order(None, t.symbol, {"origClientOrderId": order_id}),
                write=True,
            )
        except ccxt.OrderNotFound:
            self._resolve(t)  # already done (filled or cancelled): report what the venue has
            return
        except (ccxt.NetworkError, RateLimitedError) as exc:
            log.warning(
                "%s: cancel of %s: %s; resolving by client id", self.name, order_id, describe(exc)
            )
            with contextlib.suppress(BrokerConnectionError, RateLimitedError):
                self._resolve(t)
            return
        except ccxt.BaseError as exc:
            self._emit(
                t, OrderEventKind.REJECT, self._now_ns(), f"CANCEL_REJECTED: {describe(exc)}"
            )
            return
        self._apply_rest_order(t, response)

    def close(self) -> None:
        """Stop :meth:`run` and release the clients."""
        self._closing = True
        loop, event = self._loop, self._close_event
        if loop is not None and event is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(event.set)

    # ---------------------------------------------------------------- applying venue data
    def _now_ns(self) -> int:
        return int(self.client.milliseconds()) * MS

    def _apply_rest_order(self, t: _Tracked, order: Mapping[str, Any]) -> None:
        """Apply a REST order answer (create / cancel / fetch): ack, its fills, its end."""
        info = order.get("info") or {}
        venue_id = str(info.get("orderId", order.get("id")))
        self._track_venue_id(t, venue_id, info.get("symbol"))
        ts = int(info.get("transactTime") or info.get("updateTime") or info.get("time") or 0) * MS
        ts = ts or self._now_ns()
        status = str(info.get("status", "NEW"))
        for raw in info.get("fills") or ():
            self._apply_fill(
                t,
                trade_id=str(raw["tradeId"]),
                qty=Decimal(str(raw["qty"])),
                price=Decimal(str(raw["price"])),
                fee=Decimal(str(raw.get("commission", "0"))),
                fee_asset=str(raw.get("commissionAsset") or ""),
                ts=ts,
            )
        executed = Decimal(str(info.get("executedQty", "0")))
        self._apply_status(t, status, executed, ts)

    def _track_venue_id(self, t: _Tracked, venue_id: str, market_id: Any) -> None:
        if venue_id and venue_id != "None":
            t.venue_id = venue_id
            self._by_venue_id[(t.symbol, venue_id)] = t.cid

    def _market_id(self, symbol: str) -> str:
        market = self.client.markets.get(symbol) if self.client.markets else None
        return str(market["id"]) if market else symbol.replace("/", "")

    def _fill_id(self, symbol: str, trade_id: str) -> str:
        return f"{self._market_id(symbol)}-{trade_id}"

    def _quote_fee(self, symbol: str, fee: Decimal, fee_asset: str, price: Decimal) -> Decimal:
        """The commission in the quote currency (Binance charges buys in the base asset)."""
        market = self.client.markets.get(symbol) or {}
        if not fee or not fee_asset or fee_asset == market.get("quote"):
            return fee
        if fee_asset == market.get("base"):
            return fee * price
        log.warning(
            "%s: commission in %s is not converted (neither base nor quote)", self.name, fee_asset
        )
        return Decimal(0)

    def _apply_fill(
        self,
        t: _Tracked,
        *,
        trade_id: str,
        qty: Decimal,
        price: Decimal,
        fee: Decimal,
        fee_asset: str,
        ts: int,
    ) -> None:
        """Report one venue trade of ``t`` once (by trade id)."""
        fill_id = self._fill_id(t.symbol, trade_id)
        seen = t.trades.get(fill_id)
        if seen is not None:
            if seen == (qty, price):
                self.duplicates_dropped += 1
                log.info("%s: duplicate trade %s of %s dropped", self.name, fill_id, t.cid)
            else:
                self.noisy_dropped += 1
                log.warning(
                    "%s: trade %s of %s repeated with other numbers (%s @ %s, first %s @ %s); "
                    "dropped",
                    self.name,
                    fill_id,
                    t.cid,
                    qty,
                    price,
                    seen[0],
                    seen[1],
                )
            return
        if qty <= 0:
            return
        if t.filled + qty > abs(t.amount):
            # a new trade id beyond the order's quantity: never booked; trading halts
            self.halt_reason = (
                f"OVERFILL: trade {fill_id} of {qty} would fill {t.filled + qty} of order "
                f"{t.cid} for {abs(t.amount)}; quarantined, reconcile before trading"
            )
            log.error("%s: %s", self.name, self.halt_reason)
            self.alerts.append(self.halt_reason)
            return
        t.trades[fill_id] = (qty, price)
        signed = qty if t.amount > 0 else -qty
        t.filled += qty
        kind = OrderEventKind.FILL if t.filled == abs(t.amount) else OrderEventKind.PARTIAL_FILL
        with contextlib.suppress(InvalidTransitionError):
            t.status = next_status(t.status, kind)
        self._watermark_ms = max(self._watermark_ms, ts // MS)
        self._sink().fill(
            Fill(
                id=fill_id,
                order_id=t.cid,
                asset=t.asset,
                amount=signed,
                price=price,
                ts=ts,
                commission=self._quote_fee(t.symbol, fee, fee_asset, price),
            )
        )

    def _apply_status(self, t: _Tracked, status: str, executed: Decimal, ts: int) -> None:
        """Apply the venue's order status, after making sure its fills are applied."""
        if executed > t.filled:
            # the stream or the answer missed some trades, of a finished order or of one
            # still working (a partial fill while the stream was down): the venue's trade
            # list is the authority, and its trade ids keep each fill single
            self._catch_up_order(t)
        if status in _OPEN:
            if t.status is OrderStatus.SUBMITTED:
                self._emit(t, OrderEventKind.ACCEPT, ts)
        elif status == "FILLED":
            if t.status is OrderStatus.SUBMITTED:
                self._emit(t, OrderEventKind.ACCEPT, ts)
            if t.filled < abs(t.amount) and t.filled >= abs(t.sent):
                self._emit(
                    t,
                    OrderEventKind.EXPIRE,
                    ts,
                    f"OFF_GRID: {abs(t.amount) - t.filled} below the venue's lot was not sent",
                )
        elif status == "CANCELED":
            self._emit(t, OrderEventKind.CANCEL, ts)
        elif status in ("EXPIRED", "EXPIRED_IN_MATCH"):
            self._emit(
                t, OrderEventKind.EXPIRE, ts, f"EXPIRED: the venue expired the order ({status})"
            )
        elif status == "REJECTED":
            self._emit(t, OrderEventKind.REJECT, ts, "VENUE_REJECTED: REJECTED")

    def _catch_up_order(self, t: _Tracked) -> None:
        """Fetch the trades of one order over REST and apply the missing ones."""
        if t.venue_id is None:
            return
        trades = self._read(
            "fetch_my_trades",
            lambda: self.client.fetch_my_trades(t.symbol, None, 1000, {"orderId": t.venue_id}),
        )
        for trade in trades:
            self._apply_trade_row(t, trade["info"])

    def _apply_trade_row(self, t: _Tracked, info: Mapping[str, Any]) -> None:
        """A ``myTrades`` row (raw strings) → fill."""
        self._apply_fill(
            t,
            trade_id=str(info["id"]),
            qty=Decimal(str(info["qty"])),
            price=Decimal(str(info["price"])),
            fee=Decimal(str(info.get("commission", "0"))),
            fee_asset=str(info.get("commissionAsset") or ""),
            ts=int(info["time"]) * MS,
        )

    def _resolve(self, t: _Tracked) -> None:
        """Ask the venue for ``t`` by client id and apply what it says."""
        order = self._fetch_by_client_id(t.cid, t.symbol)
        if order is not None:
            self._apply_rest_order(t, order)

    def _fetch_by_client_id(
        self, cid: str, symbol: str, *, max_wait: float | None = None
    ) -> dict[str, Any] | None:
        import ccxt

        try:
            result: dict[str, Any] = self._call(
                "fetch_order",
                lambda: self.client.fetch_order(None, symbol, {"origClientOrderId": cid}),
                max_wait=max_wait,
            )
        except ccxt.OrderNotFound:
            return None
        except ccxt.InvalidNonce as exc:
            with contextlib.suppress(ClockSkewError):
                self.sync_clock()
            raise BrokerConnectionError(
                f"{self.name}: lookup of {cid}: {describe(exc)} (clock offset measured again)",
                venue=self.name,
            ) from None
        except ccxt.DDoSProtection as exc:
            raise RateLimitedError(
                f"{self.name}: lookup: {describe(exc)}", venue=self.name
            ) from None
        except ccxt.NetworkError as exc:
            raise BrokerConnectionError(
                f"{self.name}: lookup of {cid} failed: {describe(exc)}", venue=self.name
            ) from None
        except ccxt.BaseError as exc:
            raise _venue_error(self.name, f"lookup of {cid}", exc) from None
        return result

    # ---------------------------------------------------------------- LiveBroker reads
    def lookup(self, client_order_id: str) -> VenueOrder | None:
        """The venue's record of an order by client id (every traded symbol is asked)."""
        self._ready()
        t = self._orders.get(client_order_id)
        symbols = [t.symbol] if t is not None else list(self.symbols)
        for symbol in symbols:
            order = self._fetch_by_client_id(client_order_id, symbol)
            if order is None:
                continue
            venue = self._venue_order(order)
            if t is not None and self._events is not None:
                self._apply_rest_order(t, order)  # resolves an unknown outcome in the stream too
            elif t is None:
                self._adopt(venue)
            return venue
        return None

    def _adopt(self, venue: VenueOrder) -> None:
        """Track an order of an earlier run (found by :meth:`lookup`) for the stream.

        Its trades so far are the engine's to fetch (``fills_since``); only later trades
        are streamed.
        """
        asset = self._assets[venue.symbol]
        t = _Tracked(
            cid=venue.client_order_id,
            asset=asset,
            amount=venue.amount,
            sent=venue.amount,
            symbol=venue.symbol,
            status=OrderStatus.ACCEPTED if venue.status == "open" else OrderStatus.SUBMITTED,
            filled=abs(venue.filled),
            venue_id=venue.venue_order_id,
        )
        if venue.status == "open":
            self._orders[t.cid] = t
            self._by_venue_id[(t.symbol, venue.venue_order_id)] = t.cid
            with contextlib.suppress(BrokerConnectionError, RateLimitedError):
                trades = self._read(
                    "fetch_my_trades",
                    lambda: self.client.fetch_my_trades(
                        t.symbol, None, 1000, {"orderId": t.venue_id}
                    ),
                )
                for trade in trades:
                    t.trades[self._fill_id(t.symbol, str(trade["info"]["id"]))] = (
                        Decimal(str(trade["info"]["qty"])),
                        Decimal(str(trade["info"]["price"])),
                    )

    def _venue_order(self, order: Mapping[str, Any]) -> VenueOrder:
        info = order.get("info") or {}
        sign = (
            Decimal(1)
            if str(info.get("side", order.get("side", "BUY"))).upper() == "BUY"
            else Decimal(-1)
        )
        price = Decimal(str(info.get("price", "0")))
        return VenueOrder(
            client_order_id=str(info.get("clientOrderId", order.get("clientOrderId"))),
            venue_order_id=str(info.get("orderId", order.get("id"))),
            symbol=str(order["symbol"]),
            status=_STATUS_NAMES.get(str(info.get("status")), str(order.get("status"))),
            amount=sign * Decimal(str(info.get("origQty", "0"))),
            filled=sign * Decimal(str(info.get("executedQty", "0"))),
            limit_price=price if price > 0 else None,
        )

    def snapshot(self) -> AccountSnapshot:
        """Balances (free + locked), base-asset positions and open orders of the symbols."""
        self._ready()
        balance = self._read("fetch_balance", self.client.fetch_balance)
        cash: dict[str, Decimal] = {}
        for row in (balance.get("info") or {}).get("balances", ()):
            total = Decimal(str(row["free"])) + Decimal(str(row["locked"]))
            if total:
                cash[str(row["asset"])] = total
        positions: dict[str, Decimal] = {}
        for symbol in self.symbols:
            base = self.client.markets[symbol]["base"]
            if cash.get(base):
                positions[symbol] = cash[base]
        open_orders: list[VenueOrder] = []
        for symbol in self.symbols:
            rows = self._read(
                "fetch_open_orders", lambda s=symbol: self.client.fetch_open_orders(s)
            )
            open_orders.extend(self._venue_order(o) for o in rows)
        return AccountSnapshot(cash=cash, positions=positions, open_orders=tuple(open_orders))

    def fills_since(self, ts: int) -> Sequence[Fill]:
        """The account's fills of the traded symbols at or after ``ts`` (UTC ns), oldest first."""
        self._ready()
        out: list[Fill] = []
        for symbol in self.symbols:
            for info in self._trades_since(symbol, ts // MS):
                out.append(self._fill_from_row(symbol, info))
        out.sort(key=lambda f: (f.ts, f.id))
        return out

    def _trades_since(self, symbol: str, since_ms: int) -> list[Mapping[str, Any]]:
        """``myTrades`` from ``since_ms`` on, paginated by time (1000 per page)."""
        rows: dict[str, Mapping[str, Any]] = {}
        since = since_ms
        while True:
            page = self._read(
                "fetch_my_trades",
                lambda s=since: self.client.fetch_my_trades(symbol, s, 1000),
            )
            new = [t["info"] for t in page if str(t["info"]["id"]) not in rows]
            for info in new:
                rows[str(info["id"])] = info
            if len(page) < 1000 or not new:
                break
            since = max(int(info["time"]) for info in new)
        return sorted(rows.values(), key=lambda r: (int(r["time"]), int(r["id"])))

    def _client_id_of(self, symbol: str, venue_id: str) -> str:
        cid = self._by_venue_id.get((symbol, venue_id))
        if cid is None:
            order = self._read("fetch_order", lambda: self.client.fetch_order(venue_id, symbol))
            cid = str(order["info"]["clientOrderId"])
            self._by_venue_id[(symbol, venue_id)] = cid
        return cid

    def _fill_from_row(self, symbol: str, info: Mapping[str, Any]) -> Fill:
        cid = self._client_id_of(symbol, str(info["orderId"]))
        qty = Decimal(str(info["qty"]))
        price = Decimal(str(info["price"]))
        t = self._orders.get(cid)
        asset = t.asset if t is not None else self._assets[symbol]
        return Fill(
            id=self._fill_id(symbol, str(info["id"])),
            order_id=cid,
            asset=asset,
            amount=qty if info.get("isBuyer") in (True, "true") else -qty,
            price=price,
            ts=int(info["time"]) * MS,
            commission=self._quote_fee(
                symbol,
                Decimal(str(info.get("commission", "0"))),
                str(info.get("commissionAsset") or ""),
                price,
            ),
        )


def _venue_error(venue: str, what: str, exc: BaseException) -> BrokerError:
    """A ccxt error as a kernel error, with the venue's code and message only."""
    import ccxt

    text = f"{venue}: {what}: {describe(exc)}"
    if isinstance(exc, ccxt.AuthenticationError):
        return AuthenticationError(text, venue=venue)
    return BrokerError(text, venue=venue)


def binance_broker(
    endpoint: VenueEndpoint, *, symbols: Sequence[str], **options: Any
) -> CcxtBroker:
    """Factory of the ``ccxt.binance`` broker provider."""
    return CcxtBroker(endpoint, exchange="binance", symbols=symbols, **options)
