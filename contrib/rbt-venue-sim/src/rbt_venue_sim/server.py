"""The Binance-spot-shaped façade (aiohttp): REST, market streams, the WebSocket API
user-data stream, and the ``/_sim`` control API. See the README for the endpoint list.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import logging
import math
import re
import secrets
import time
import urllib.parse
from collections.abc import Awaitable, Callable, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

import attrs
from aiohttp import WSMsgType, web

from rbt_venue_sim.engine import (
    BalanceEvent,
    Bar,
    Engine,
    ExecutionEvent,
    Fill,
    LiquidityModel,
    Order,
    OrderType,
    PublicTrade,
    Side,
    TimeInForce,
    VenueError,
)
from rbt_venue_sim.faults import FaultBook
from rbt_venue_sim.markets import SymbolSpec
from rbt_venue_sim.pricepath import INTERVALS, PricePath

__all__ = ["Account", "SimConfig", "Venue", "build_app"]

log = logging.getLogger("rbt_venue_sim")

_NUM = re.compile(r"^([0-9]{1,20})(\.[0-9]{1,20})?$")
_CLIENT_ID = re.compile(r"^[a-zA-Z0-9\-_.]{1,36}$")
_EIGHT = Decimal("0.00000001")

# request weights of Binance spot (REST API docs, 2025)
_WEIGHTS: dict[tuple[str, str], int] = {
    ("GET", "/api/v3/ping"): 1,
    ("GET", "/api/v3/time"): 1,
    ("GET", "/api/v3/exchangeInfo"): 20,
    ("GET", "/api/v3/klines"): 2,
    ("GET", "/api/v3/depth"): 5,
    ("GET", "/api/v3/trades"): 25,
    ("GET", "/api/v3/ticker/price"): 2,
    ("POST", "/api/v3/order"): 1,
    ("POST", "/api/v3/order/test"): 1,
    ("GET", "/api/v3/order"): 4,
    ("DELETE", "/api/v3/order"): 1,
    ("GET", "/api/v3/openOrders"): 6,
    ("DELETE", "/api/v3/openOrders"): 1,
    ("GET", "/api/v3/allOrders"): 20,
    ("GET", "/api/v3/account"): 20,
    ("GET", "/api/v3/myTrades"): 20,
    ("POST", "/api/v3/userDataStream"): 2,
    ("PUT", "/api/v3/userDataStream"): 2,
    ("DELETE", "/api/v3/userDataStream"): 2,
}


def fmt(value: Decimal) -> str:
    """A Binance decimal string: 8 decimals, no exponent (``"0.00100000"``)."""
    return format(value.quantize(_EIGHT), "f")


@attrs.define(kw_only=True)
class Account:
    name: str
    api_key: str
    secret: str
    balances: dict[str, Decimal] = attrs.Factory(dict)


@attrs.define(kw_only=True)
class SimConfig:
    specs: Sequence[SymbolSpec]
    path: PricePath
    accounts: Sequence[Account]
    liquidity: LiquidityModel = attrs.Factory(LiquidityModel)
    maker_rate: Decimal = Decimal("0.001")
    taker_rate: Decimal = Decimal("0.001")
    weight_limit: int = 6000
    weight_window_s: float = 60.0
    ban_after: int = 3  # requests ignoring a 429 before a 418
    ban_seconds: float = 120.0
    max_recv_window: int = 60000
    auto_advance_s: float | None = None


class _ResponseDropped(Exception):
    pass


@attrs.define
class _Client:
    ws: web.WebSocketResponse
    kind: str  # "market", "user" (listenKey stream) or "api" (WebSocket API)
    streams: set[str] = attrs.Factory(set)
    combined: bool = False
    account: str | None = None  # user stream / ws-api subscription
    subscription_id: int | None = None
    queue: asyncio.Queue[dict[str, Any]] = attrs.Factory(asyncio.Queue)
    writer: asyncio.Task[None] | None = None

    def start(self) -> None:
        """One writer task per socket keeps the messages in order."""

        async def write() -> None:
            while True:
                msg = await self.queue.get()
                try:
                    await self.ws.send_str(json.dumps(msg))
                except (ConnectionError, RuntimeError):
                    return

        self.writer = asyncio.create_task(write())

    def stop(self) -> None:
        if self.writer is not None:
            self.writer.cancel()


class Venue:
    """All state behind the server; one per process."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.skew_ms = 0
        self.specs = {s.symbol: s for s in config.specs}
        self.path = config.path
        times = sorted({b.open_time for bars in self.path.bars.values() for b in bars})
        self.times = times
        self.bars_at: dict[str, dict[int, Bar]] = {
            sym: {b.open_time: b for b in bars} for sym, bars in self.path.bars.items()
        }
        self.cursor = min(self.path.history, len(times))  # number of revealed times
        revealed = self.times[: self.cursor]
        prices = {}
        for sym, bars in self.bars_at.items():
            past = [bars[t] for t in revealed if t in bars]
            prices[sym] = (past[-1] if past else self.path.bars[sym][0]).close
        self.engine = Engine(
            config.specs,
            prices=prices,
            clock=self.now_ms,
            maker_rate=config.maker_rate,
            taker_rate=config.taker_rate,
            liquidity=config.liquidity,
        )
        self.accounts: dict[str, Account] = {}
        self.by_key: dict[str, Account] = {}
        for acct in config.accounts:
            self.add_account(acct)
        self.faults = FaultBook()
        self.requests: list[dict[str, Any]] = []
        self._req_seq = itertools.count(1)
        self.clients: list[_Client] = []
        self.listen_keys: dict[str, str] = {}  # listenKey -> account
        self._sub_ids = itertools.count(0)
        self._held_reports: list[tuple[str, dict[str, Any]]] = []
        self.market_trade_ids: dict[str, int] = {}
        # rate limiting (one IP: everything is loopback)
        self.used_weight = 0
        self.window_start = 0.0
        self.throttled_until = 0.0
        self.banned_until = 0.0
        self.violations = 0
        self.order_count_10s: list[float] = []
        self.refuse_ws_until = 0.0  # monotonic: WebSocket upgrades answered 503 until then
        self.order_count_1d = 0

    # ------------------------------------------------------------------ time
    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000 + self.skew_ms

    # ------------------------------------------------------------------ accounts
    def add_account(self, acct: Account) -> None:
        self.accounts[acct.name] = acct
        self.by_key[acct.api_key] = acct
        self.engine.add_account(acct.name, acct.balances)

    # ------------------------------------------------------------------ market data
    def revealed_bars(self, symbol: str) -> list[Bar]:
        bars = self.bars_at[symbol]
        return [bars[t] for t in self.times[: self.cursor] if t in bars]

    def advance(self, n: int = 1) -> list[int]:
        """Reveal the next ``n`` bar times; the engine walks each bar's path."""
        done = []
        for _ in range(n):
            if self.cursor >= len(self.times):
                break
            t = self.times[self.cursor]
            self.cursor += 1
            for sym in sorted(self.bars_at):
                bar = self.bars_at[sym].get(t)
                if bar is None:
                    continue
                self._emit_path_trades(sym, bar)
                self.engine.apply_bar(sym, bar)
                self._broadcast_kline(sym, bar, closed=True)
            done.append(t)
            self.flush()
        return done

    def _emit_path_trades(self, symbol: str, bar: Bar) -> None:
        points = bar.path()
        spec = self.specs[symbol]
        qty = bar.volume / len(points)
        step = spec.step_size
        if step > 0:
            qty = (qty / step).to_integral_value() * step
        if qty <= 0:
            return
        now = self.now_ms()
        for i, p in enumerate(points):
            tid = self.market_trade_ids.get(symbol, 0) + 1
            self.market_trade_ids[symbol] = tid
            self._broadcast_trade(
                PublicTrade(
                    symbol=symbol,
                    trade_id=10_000_000 + tid,
                    price=p,
                    qty=qty,
                    time=now,
                    buyer_is_maker=i % 2 == 1,
                )
            )

    # ------------------------------------------------------------------ klines
    def klines(
        self, symbol: str, interval: str, start: int | None, end: int | None, limit: int
    ) -> list[list[Any]]:
        base_ms = self.path.interval_ms
        if interval not in INTERVALS:
            raise VenueError(-1120, "Invalid interval.")
        ms = INTERVALS[interval]
        if ms % base_ms != 0:
            raise VenueError(-1120, "Invalid interval.")
        rows: list[tuple[int, list[Bar]]] = []
        for bar in self.revealed_bars(symbol):
            key = bar.open_time - (bar.open_time % ms) if ms != base_ms else bar.open_time
            if rows and rows[-1][0] == key:
                rows[-1][1].append(bar)
            else:
                rows.append((key, [bar]))
        if start is not None:
            rows = [r for r in rows if r[0] >= start]
        if end is not None:
            rows = [r for r in rows if r[0] <= end]
        rows = rows[:limit] if start is not None else rows[-limit:]
        return [self._kline_row(t, bars, ms) for t, bars in rows]

    @staticmethod
    def _kline_row(t: int, bars: list[Bar], ms: int) -> list[Any]:
        o, c = bars[0].open, bars[-1].close
        h = max(b.high for b in bars)
        lo = min(b.low for b in bars)
        v = sum((b.volume for b in bars), Decimal(0))
        quote = sum(((b.open + b.high + b.low + b.close) / 4 * b.volume for b in bars), Decimal(0))
        n = sum(4 for b in bars if b.volume > 0)
        return [
            t,
            fmt(o),
            fmt(h),
            fmt(lo),
            fmt(c),
            fmt(v),
            t + ms - 1,
            fmt(quote),
            n,
            fmt(v / 2),
            fmt(quote / 2),
            "0",
        ]

    # ------------------------------------------------------------------ streams
    def _send(self, client: _Client, payload: dict[str, Any], stream: str | None = None) -> None:
        if client.ws.closed:
            return
        msg = {"stream": stream, "data": payload} if client.combined and stream else payload
        client.queue.put_nowait(msg)

    def _broadcast_market(self, stream: str, payload: dict[str, Any]) -> None:
        for c in list(self.clients):
            if c.kind == "market" and stream in c.streams:
                self._send(c, payload, stream)

    def _broadcast_trade(self, trade: PublicTrade) -> None:
        low = trade.symbol.lower()
        payload = {
            "e": "trade",
            "E": self.now_ms(),
            "s": trade.symbol,
            "t": trade.trade_id,
            "p": fmt(trade.price),
            "q": fmt(trade.qty),
            "T": trade.time,
            "m": trade.buyer_is_maker,
            "M": True,
        }
        self._broadcast_market(f"{low}@trade", payload)
        agg = {
            "e": "aggTrade",
            "E": payload["E"],
            "s": trade.symbol,
            "a": trade.trade_id,
            "p": payload["p"],
            "q": payload["q"],
            "f": trade.trade_id,
            "l": trade.trade_id,
            "T": trade.time,
            "m": trade.buyer_is_maker,
            "M": True,
        }
        self._broadcast_market(f"{low}@aggTrade", agg)

    def _broadcast_kline(self, symbol: str, bar: Bar, *, closed: bool) -> None:
        interval = self.path.interval
        row = self._kline_row(bar.open_time, [bar], self.path.interval_ms)
        payload = {
            "e": "kline",
            "E": self.now_ms(),
            "s": symbol,
            "k": {
                "t": row[0],
                "T": row[6],
                "s": symbol,
                "i": interval,
                "f": -1,
                "L": -1,
                "o": row[1],
                "c": row[4],
                "h": row[2],
                "l": row[3],
                "v": row[5],
                "n": row[8],
                "x": closed,
                "q": row[7],
                "V": row[9],
                "Q": row[10],
                "B": "0",
            },
        }
        self._broadcast_market(f"{symbol.lower()}@kline_{interval}", payload)

    def flush(self) -> None:
        """Send what the engine produced: public trades and user-data events."""
        for trade in self.engine.drain_public_trades():
            self._broadcast_trade(trade)
        for event in self.engine.drain_events():
            if isinstance(event, ExecutionEvent):
                self._report(event.account, execution_report(event))
            elif isinstance(event, BalanceEvent):
                self._user_event(event.account, self._account_position(event))

    def _account_position(self, event: BalanceEvent) -> dict[str, Any]:
        return {
            "e": "outboundAccountPosition",
            "E": event.time,
            "u": event.time,
            "B": [
                {
                    "a": a,
                    "f": fmt(self.engine.balance(event.account, a)[0]),
                    "l": fmt(self.engine.balance(event.account, a)[1]),
                }
                for a in event.assets
            ],
        }

    def _report(self, account: str, payload: dict[str, Any]) -> None:
        """Deliver one execution report, through the report faults."""
        if self.faults.take({"drop_reports"}):
            return
        rule = self.faults.take({"reorder_reports"})
        if rule is not None:
            self._held_reports.append((account, payload))
            if rule not in self.faults.rules:
                held, self._held_reports = self._held_reports, []
                for acct, p in reversed(held):
                    self._user_event(acct, p)
            return
        self._user_event(account, payload)
        if self.faults.take({"duplicate_reports"}):
            self._user_event(account, payload)
        noisy = self.faults.take({"noisy_reports"})
        if noisy is not None:
            self._user_event(account, {**payload, **dict(noisy.params.get("set") or {})})

    def _user_event(self, account: str, payload: dict[str, Any]) -> None:
        for c in list(self.clients):
            if c.account != account:
                continue
            if c.kind == "api" and c.subscription_id is not None:
                self._send(c, {"subscriptionId": c.subscription_id, "event": payload})
            elif c.kind == "user":
                self._send(c, payload)

    async def close_sockets(self, kind: str = "all", refuse_seconds: float = 0.0) -> int:
        """Close the sockets of ``kind`` (``none``: none) and refuse new ones for
        ``refuse_seconds`` (0 lifts an earlier refusal)."""
        self.refuse_ws_until = time.monotonic() + refuse_seconds
        n = 0
        for c in list(self.clients):
            if kind in ("all", c.kind):
                n += 1
                await c.ws.close(code=1001, message=b"closed by rbt-venue-sim fault")
        return n

    # ------------------------------------------------------------------ weights
    def rate_check(
        self, method: str, path: str, params: dict[str, str]
    ) -> tuple[web.Response | None, int]:
        now = time.monotonic()
        window = self.config.weight_window_s
        if self.banned_until > now:
            return self._ban_response(now), self.used_weight
        if self.throttled_until > now:
            self.violations += 1
            if self.violations >= self.config.ban_after:
                self.banned_until = now + self.config.ban_seconds
                return self._ban_response(now), self.used_weight
            return self._throttle_response(now), self.used_weight
        self.violations = 0
        wall = time.time()
        start = math.floor(wall / window) * window
        if start != self.window_start:
            self.window_start = start
            self.used_weight = 0
        weight = _WEIGHTS.get((method, path), 1)
        if path == "/api/v3/openOrders" and method == "GET" and "symbol" not in params:
            weight = 80
        if path == "/api/v3/klines":
            limit = int(params.get("limit", "500") or 500)
            weight = 2 if limit < 100 else 5 if limit < 500 else 10 if limit <= 1000 else 2
        if self.used_weight + weight > self.config.weight_limit:
            self.used_weight += weight
            self.throttled_until = now + max(0.001, start + window - wall)
            return self._throttle_response(now), self.used_weight
        self.used_weight += weight
        return None, self.used_weight

    def _throttle_response(self, now: float) -> web.Response:
        retry = max(1, math.ceil(self.throttled_until - now))
        body = {
            "code": -1003,
            "msg": (
                f"Too much request weight used; current limit is {self.config.weight_limit} "
                "request weight per 1 MINUTE. Please use WebSocket Streams for live updates to "
                "avoid polling the API."
            ),
        }
        return web.json_response(
            body,
            status=429,
            headers={"Retry-After": str(retry), "X-MBX-USED-WEIGHT-1M": str(self.used_weight)},
        )

    def _ban_response(self, now: float) -> web.Response:
        until_ms = int((time.time() + (self.banned_until - now)) * 1000)
        retry = max(1, math.ceil(self.banned_until - now))
        body = {
            "code": -1003,
            "msg": (
                f"Way too much request weight used; IP banned until {until_ms}. Please use "
                "WebSocket Streams for live updates to avoid bans."
            ),
        }
        return web.json_response(
            body,
            status=418,
            headers={"Retry-After": str(retry), "X-MBX-USED-WEIGHT-1M": str(self.used_weight)},
        )

    # ------------------------------------------------------------------ auth
    def verify_signed(
        self,
        headers: Any,
        query: str,
        body: str,
        params: dict[str, str],
        *,
        need_signature: bool = True,
    ) -> Account:
        key = headers.get("X-MBX-APIKEY")
        if not key:
            raise VenueError(-2014, "API-key format invalid.", 401)
        acct = self.by_key.get(key)
        if acct is None:
            raise VenueError(-2015, "Invalid API-key, IP, or permissions for action.", 401)
        if not need_signature:
            return acct
        self.check_timestamp(params)
        signature = params.get("signature")
        if not signature:
            raise VenueError(
                -1102, "Mandatory parameter 'signature' was not sent, was empty/null, or malformed."
            )
        total = query + body  # Binance: totalParams = query string concatenated with body
        payload = "&".join(p for p in total.split("&") if not p.startswith("signature="))
        expected = hmac.new(acct.secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature.lower()):
            raise VenueError(-1022, "Signature for this request is not valid.")
        return acct

    def check_timestamp(self, params: dict[str, str]) -> None:
        ts = params.get("timestamp")
        if ts is None or not ts.lstrip("-").isdigit():
            raise VenueError(
                -1102, "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed."
            )
        recv = params.get("recvWindow", "5000")
        try:
            recv_window = int(Decimal(recv))
        except InvalidOperation:
            raise VenueError(
                -1100,
                "Illegal characters found in parameter 'recvWindow'; legal "
                "range is '^[0-9]{1,20}$'.",
            ) from None
        if recv_window > self.config.max_recv_window:
            raise VenueError(-1131, f"recvWindow must be less than {self.config.max_recv_window}.")
        server = self.now_ms()
        t = int(ts)
        if t >= server + 1000:
            raise VenueError(
                -1021, "Timestamp for this request was 1000ms ahead of the server's time."
            )
        if server - t > recv_window:
            raise VenueError(-1021, "Timestamp for this request is outside of the recvWindow.")


# ---------------------------------------------------------------------- formatting
def order_json(o: Order, *, full: bool = True) -> dict[str, Any]:
    """``GET /api/v3/order`` shape (see the recorded fetchOrder response)."""
    out: dict[str, Any] = {
        "symbol": o.symbol,
        "orderId": o.order_id,
        "orderListId": -1,
        "clientOrderId": o.client_order_id,
        "price": fmt(o.price),
        "origQty": fmt(o.orig_qty),
        "executedQty": fmt(o.executed_qty),
        "cummulativeQuoteQty": fmt(o.cummulative_quote_qty),
        "status": o.status.value,
        "timeInForce": o.time_in_force.value,
        "type": o.type.value,
        "side": o.side.value,
        "stopPrice": fmt(o.stop_price),
        "icebergQty": fmt(o.iceberg_qty),
        "time": o.time,
        "updateTime": o.update_time,
        "isWorking": o.is_working,
        "workingTime": o.working_time,
        "origQuoteOrderQty": fmt(o.orig_quote_order_qty),
        "selfTradePreventionMode": o.stp_mode,
    }
    return out


def new_order_json(o: Order, fills: Sequence[Fill], resp_type: str) -> dict[str, Any]:
    """``POST /api/v3/order`` shape for ``newOrderRespType`` ACK / RESULT / FULL."""
    out: dict[str, Any] = {
        "symbol": o.symbol,
        "orderId": o.order_id,
        "orderListId": -1,
        "clientOrderId": o.client_order_id,
        "transactTime": o.time,
    }
    if resp_type == "ACK":
        return out
    out.update(
        {
            "price": fmt(o.price),
            "origQty": fmt(o.orig_qty),
            "executedQty": fmt(o.executed_qty),
            "origQuoteOrderQty": fmt(o.orig_quote_order_qty),
            "cummulativeQuoteQty": fmt(o.cummulative_quote_qty),
            "status": o.status.value,
            "timeInForce": o.time_in_force.value,
            "type": o.type.value,
            "side": o.side.value,
            "workingTime": o.working_time,
            "selfTradePreventionMode": o.stp_mode,
        }
    )
    if o.type.is_stop:
        out["stopPrice"] = fmt(o.stop_price)
    if o.iceberg_qty:
        out["icebergQty"] = fmt(o.iceberg_qty)
    if resp_type == "FULL":
        out["fills"] = [
            {
                "price": fmt(f.price),
                "qty": fmt(f.qty),
                "commission": fmt(f.commission),
                "commissionAsset": f.commission_asset,
                "tradeId": f.trade_id,
            }
            for f in fills
        ]
    return out


def cancel_json(o: Order) -> dict[str, Any]:
    return {
        "symbol": o.symbol,
        "origClientOrderId": o.client_order_id,
        "orderId": o.order_id,
        "orderListId": -1,
        "clientOrderId": o.cancel_client_order_id or o.client_order_id,
        "transactTime": o.update_time,
        "price": fmt(o.price),
        "origQty": fmt(o.orig_qty),
        "executedQty": fmt(o.executed_qty),
        "origQuoteOrderQty": fmt(o.orig_quote_order_qty),
        "cummulativeQuoteQty": fmt(o.cummulative_quote_qty),
        "status": o.status.value,
        "timeInForce": o.time_in_force.value,
        "type": o.type.value,
        "side": o.side.value,
        "selfTradePreventionMode": o.stp_mode,
    }


def trade_json(f: Fill) -> dict[str, Any]:
    """``GET /api/v3/myTrades`` row (see the recorded fetchMyTrades response)."""
    return {
        "symbol": f.symbol,
        "id": f.trade_id,
        "orderId": f.order_id,
        "orderListId": -1,
        "price": fmt(f.price),
        "qty": fmt(f.qty),
        "quoteQty": fmt(f.quote_qty),
        "commission": fmt(f.commission),
        "commissionAsset": f.commission_asset,
        "time": f.time,
        "isBuyer": f.is_buyer,
        "isMaker": f.is_maker,
        "isBestMatch": True,
    }


def execution_report(ev: ExecutionEvent) -> dict[str, Any]:
    """A user-data ``executionReport`` (Binance spot user data stream docs)."""
    o, f = ev.order, ev.fill
    canceled = ev.execution_type == "CANCELED"
    out: dict[str, Any] = {
        "e": "executionReport",
        "E": ev.time,
        "s": o.symbol,
        "c": (o.cancel_client_order_id or o.client_order_id) if canceled else o.client_order_id,
        "S": o.side.value,
        "o": o.type.value,
        "f": o.time_in_force.value,
        "q": fmt(o.orig_qty),
        "p": fmt(o.price),
        "P": fmt(o.stop_price),
        "F": fmt(o.iceberg_qty),
        "g": -1,
        "C": o.client_order_id if canceled else "",
        "x": ev.execution_type,
        "X": o.status.value,
        "r": "NONE",
        "i": o.order_id,
        "l": fmt(f.qty) if f else fmt(Decimal(0)),
        "z": fmt(o.executed_qty),
        "L": fmt(f.price) if f else fmt(Decimal(0)),
        "n": fmt(f.commission) if f else "0",
        "N": f.commission_asset if f else None,
        "T": f.time if f else ev.time,
        "t": f.trade_id if f else -1,
        "I": 0,
        "w": o.status.is_open and o.is_working,
        "m": f.is_maker if f else False,
        "M": bool(f),
        "O": o.time,
        "Z": fmt(o.cummulative_quote_qty),
        "Y": fmt(f.quote_qty) if f else fmt(Decimal(0)),
        "Q": fmt(o.orig_quote_order_qty),
        "W": o.working_time,
        "V": o.stp_mode,
    }
    return out


# ---------------------------------------------------------------------- params
def _dec_param(params: dict[str, str], name: str) -> Decimal | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    if not _NUM.match(raw):
        raise VenueError(
            -1100,
            f"Illegal characters found in parameter '{name}'; legal range is "
            "'^([0-9]{1,20})(\\.[0-9]{1,20})?$'.",
        )
    value = Decimal(raw)
    if value.as_tuple().exponent < -8 and value != value.quantize(_EIGHT):  # type: ignore[operator]
        raise VenueError(-1111, "Precision is over the maximum defined for this asset.")
    return value


def _int_param(params: dict[str, str], name: str) -> int | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    if not raw.lstrip("-").isdigit():
        raise VenueError(
            -1100,
            f"Illegal characters found in parameter '{name}'; legal range is '^[0-9]{{1,20}}$'.",
        )
    return int(raw)


def _enum_param(params: dict[str, str], name: str, enum: Any, code: int, msg: str) -> Any:
    raw = params.get(name)
    if raw is None:
        return None
    try:
        return enum(raw)
    except ValueError:
        raise VenueError(code, msg) from None


def _required(params: dict[str, str], name: str) -> str:
    value = params.get(name)
    if value is None or value == "":
        raise VenueError(
            -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed."
        )
    return value


def _symbol(venue: Venue, params: dict[str, str]) -> str:
    sym = _required(params, "symbol")
    if sym not in venue.specs:
        raise VenueError(-1121, "Invalid symbol.")
    return sym


def _new_client_id(params: dict[str, str], name: str) -> str:
    cid = params.get(name)
    if cid is None or cid == "":
        return "rbtsim" + secrets.token_hex(11)
    if not _CLIENT_ID.match(cid):
        raise VenueError(
            -1100,
            f"Illegal characters found in parameter '{name}'; legal range is "
            "'^[a-zA-Z0-9-_.]{1,36}$'.",
        )
    return cid


# ---------------------------------------------------------------------- handlers
Handler = Callable[[Venue, web.Request, dict[str, str], Account | None], Awaitable[Any] | Any]


def _place(venue: Venue, acct: Account, params: dict[str, str], *, test: bool) -> Any:
    sym = _symbol(venue, params)
    side = _enum_param(params, "side", Side, -1117, "Invalid side.")
    if side is None:
        _required(params, "side")
    type_ = _enum_param(params, "type", OrderType, -1116, "Invalid orderType.")
    if type_ is None:
        _required(params, "type")
    tif = _enum_param(params, "timeInForce", TimeInForce, -1115, "Invalid timeInForce.")
    resp_type = params.get("newOrderRespType") or (
        "FULL" if type_ in (OrderType.MARKET, OrderType.LIMIT) else "ACK"
    )
    if resp_type not in ("ACK", "RESULT", "FULL"):
        raise VenueError(-1100, "Illegal characters found in parameter 'newOrderRespType'.")
    if params.get("trailingDelta"):
        raise VenueError(-1013, "Trailing-delta orders are not supported by rbt-venue-sim.")
    rule = venue.faults.take({"reject"}, "POST", "/api/v3/order")
    if rule is not None and not test:
        raise VenueError(
            int(rule.params.get("code", -2010)),
            str(rule.params.get("msg", "Order was rejected by the simulator.")),
        )
    order, fills = venue.engine.place_order(
        acct.name,
        sym,
        side,
        type_,
        quantity=_dec_param(params, "quantity"),
        quote_order_qty=_dec_param(params, "quoteOrderQty"),
        price=_dec_param(params, "price"),
        stop_price=_dec_param(params, "stopPrice"),
        time_in_force=tif,
        client_order_id=_new_client_id(params, "newClientOrderId"),
        stp_mode=params.get("selfTradePreventionMode"),
        iceberg_qty=_dec_param(params, "icebergQty"),
        test=test,
    )
    if test:
        return {}
    return new_order_json(order, fills, resp_type)


async def h_ping(venue: Venue, request: web.Request, params: dict[str, str], acct: Any) -> Any:
    return {}


async def h_time(venue: Venue, request: web.Request, params: dict[str, str], acct: Any) -> Any:
    return {"serverTime": venue.now_ms()}


async def h_exchange_info(
    venue: Venue, request: web.Request, params: dict[str, str], acct: Any
) -> Any:
    wanted: list[str] | None = None
    if params.get("symbol"):
        wanted = [params["symbol"]]
    elif params.get("symbols"):
        wanted = json.loads(params["symbols"])
    records = []
    for sym, spec in venue.specs.items():
        if wanted is None or sym in wanted:
            records.append(spec.record)
    if wanted is not None and len(records) != len(wanted):
        raise VenueError(-1121, "Invalid symbol.")
    return {
        "timezone": "UTC",
        "serverTime": venue.now_ms(),
        "rateLimits": [
            {
                "rateLimitType": "REQUEST_WEIGHT",
                "interval": "MINUTE",
                "intervalNum": 1,
                "limit": venue.config.weight_limit,
            },
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
            {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200000},
            {
                "rateLimitType": "RAW_REQUESTS",
                "interval": "MINUTE",
                "intervalNum": 5,
                "limit": 61000,
            },
        ],
        "exchangeFilters": [],
        "symbols": records,
    }


async def h_klines(venue: Venue, request: web.Request, params: dict[str, str], acct: Any) -> Any:
    sym = _symbol(venue, params)
    interval = _required(params, "interval")
    limit = _int_param(params, "limit") or 500
    if limit < 1:
        raise VenueError(-1100, "Illegal characters found in parameter 'limit'.")
    limit = min(limit, 1000)
    return venue.klines(
        sym, interval, _int_param(params, "startTime"), _int_param(params, "endTime"), limit
    )


async def h_depth(venue: Venue, request: web.Request, params: dict[str, str], acct: Any) -> Any:
    sym = _symbol(venue, params)
    limit = min(_int_param(params, "limit") or 100, 5000)
    book = venue.engine.book(sym)

    def side(syn: list[Any], users: list[Order], reverse: bool) -> list[list[str]]:
        levels: dict[Decimal, Decimal] = {}
        for lvl in syn:
            if lvl.qty > 0:
                levels[lvl.price] = levels.get(lvl.price, Decimal(0)) + lvl.qty
        for o in users:
            levels[o.price] = levels.get(o.price, Decimal(0)) + o.remaining
        return [[fmt(p), fmt(q)] for p, q in sorted(levels.items(), reverse=reverse)][:limit]

    return {
        "lastUpdateId": venue.now_ms(),
        "bids": side(book.syn_bids, book.bids, True),
        "asks": side(book.syn_asks, book.asks, False),
    }


async def h_ticker_price(
    venue: Venue, request: web.Request, params: dict[str, str], acct: Any
) -> Any:
    if params.get("symbol"):
        sym = _symbol(venue, params)
        return {"symbol": sym, "price": fmt(venue.engine.last_price(sym))}
    return [{"symbol": s, "price": fmt(venue.engine.last_price(s))} for s in venue.specs]


async def h_order_post(
    venue: Venue, request: web.Request, params: dict[str, str], acct: Account | None
) -> Any:
    assert acct is not None
    now = time.monotonic()
    venue.order_count_10s = [t for t in venue.order_count_10s if now - t < 10] + [now]
    venue.order_count_1d += 1
    return _place(venue, acct, params, test=False)


async def h_order_test(
    venue: Venue, request: web.Request, params: dict[str, str], acct: Account | None
) -> Any:
    assert acct is not None
    return _place(venue, acct, params, test=True)


async def h_order_get(
    venue: Venue, request: web.Request, params: dict[str, str], acct: Account | None
) -> Any:
    assert acct is not None
    sym = _symbol(venue, params)
    oid = _int_param(params, "orderId")
    cid = params.get("origClientOrderId")
    if oid is None and not cid:
        raise VenueError(
            -1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!"
        )
    return order_json(venue.engine.get_order(acct.name, sym, order_id=oid, client_order_id=cid))


async def h_order_delete(
    venue: Venue, request: web.Request, params: dict[str, str], acct: Account | None
) -> Any:
    assert acct is not None
    sym = _symbol(venue, params)
    oid = _int_param(params, "orderId")
    cid = params.get("origClientOrderId")
    if oid is None and not cid:
        raise VenueError(
            -1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!"
        )
    new_cid = _new_client_id(params, "newClientOrderId")
    order = venue.engine.cancel_order(
        acct.name, sym, order_id=oid, client_order_id=cid, cancel_client_order_id=new_cid
    )
    return cancel_json(order)


async def h_open_orders(
    venue: Venue, request: web.Request, params: dict[str, str], acct: Account | None
) -> Any:
    assert acct is not None
    sym = _symbol(venue, params) if params.get("symbol") else None
    return [order_json(o) for o in venue.engine.open_orders(acct.name, sym)]


async def h_cancel_all(
    venue: Venue, request: web.Request, params: dict[str, str], acct: Account | None
) -> Any:
    assert acct is not None
    sym = _symbol(venue, params)
    out = []
    for o in venue.engine.open_orders(acct.name, sym):
        out.append(
            cancel_json(
                venue.engine.cancel_order(
                    acct.name,
                    sym,
                    order_id=o.order_id,
                    cancel_client_order_id=_new_client_id({}, "x"),
                )
            )
        )
    if not out:
        raise VenueError(-2011, "Unknown order sent.")
    return out


async def h_all_orders(
    venue: Venue, request: web.Request, params: dict[str, str], acct: Account | None
) -> Any:
    assert acct is not None
    sym = _symbol(venue, params)
    orders = venue.engine.all_orders(acct.name, sym)
    oid = _int_param(params, "orderId")
    start, end = _int_param(params, "startTime"), _int_param(params, "endTime")
    if oid is not None:
        orders = [o for o in orders if o.order_id >= oid]
    if start is not None:
        orders = [o for o in orders if o.time >= start]
    if end is not None:
        orders = [o for o in orders if o.time <= end]
    limit = min(_int_param(params, "limit") or 500, 1000)
    return [order_json(o) for o in orders[:limit]]


async def h_account(
    venue: Venue, request: web.Request, params: dict[str, str], acct: Account | None
) -> Any:
    assert acct is not None
    maker = venue.config.maker_rate
    taker = venue.config.taker_rate
    balances = venue.engine.balances(acct.name)
    omit_zero = params.get("omitZeroBalances") == "true"
    rows = [
        {"asset": a, "free": fmt(f), "locked": fmt(lk)}
        for a, (f, lk) in balances.items()
        if not (omit_zero and f == 0 and lk == 0)
    ]
    return {
        "makerCommission": int(maker * 10000),
        "takerCommission": int(taker * 10000),
        "buyerCommission": 0,
        "sellerCommission": 0,
        "commissionRates": {
            "maker": fmt(maker),
            "taker": fmt(taker),
            "buyer": fmt(Decimal(0)),
            "seller": fmt(Decimal(0)),
        },
        "canTrade": True,
        "canWithdraw": False,
        "canDeposit": False,
        "brokered": False,
        "requireSelfTradePrevention": False,
        "preventSor": False,
        "updateTime": venue.now_ms(),
        "accountType": "SPOT",
        "balances": rows,
        "permissions": ["SPOT"],
        "uid": 1000 + list(venue.accounts).index(acct.name),
    }


async def h_my_trades(
    venue: Venue, request: web.Request, params: dict[str, str], acct: Account | None
) -> Any:
    assert acct is not None
    sym = _symbol(venue, params)
    fills = venue.engine.my_trades(acct.name, sym)
    oid = _int_param(params, "orderId")
    from_id = _int_param(params, "fromId")
    start, end = _int_param(params, "startTime"), _int_param(params, "endTime")
    if oid is not None:
        fills = [f for f in fills if f.order_id == oid]
    if from_id is not None:
        fills = [f for f in fills if f.trade_id >= from_id]
    if start is not None:
        fills = [f for f in fills if f.time >= start]
    if end is not None:
        fills = [f for f in fills if f.time <= end]
    limit = min(_int_param(params, "limit") or 500, 1000)
    recent = from_id is None and start is None and end is None
    fills = fills[-limit:] if recent else fills[:limit]
    return [trade_json(f) for f in fills]


async def h_listen_key(
    venue: Venue, request: web.Request, params: dict[str, str], acct: Account | None
) -> Any:
    assert acct is not None
    if request.method == "POST":
        key = secrets.token_urlsafe(45)[:60]
        venue.listen_keys[key] = acct.name
        return {"listenKey": key}
    key = _required(params, "listenKey")
    if venue.listen_keys.get(key) != acct.name:
        raise VenueError(-1125, "This listenKey does not exist.")
    if request.method == "DELETE":
        del venue.listen_keys[key]
    return {}


# (method, path) -> (handler, security): "none", "key" (API key only) or "signed"
ROUTES: dict[tuple[str, str], tuple[Handler, str]] = {
    ("GET", "/api/v3/ping"): (h_ping, "none"),
    ("GET", "/api/v3/time"): (h_time, "none"),
    ("GET", "/api/v3/exchangeInfo"): (h_exchange_info, "none"),
    ("GET", "/api/v3/klines"): (h_klines, "none"),
    ("GET", "/api/v3/depth"): (h_depth, "none"),
    ("GET", "/api/v3/ticker/price"): (h_ticker_price, "none"),
    ("POST", "/api/v3/order"): (h_order_post, "signed"),
    ("POST", "/api/v3/order/test"): (h_order_test, "signed"),
    ("GET", "/api/v3/order"): (h_order_get, "signed"),
    ("DELETE", "/api/v3/order"): (h_order_delete, "signed"),
    ("GET", "/api/v3/openOrders"): (h_open_orders, "signed"),
    ("DELETE", "/api/v3/openOrders"): (h_cancel_all, "signed"),
    ("GET", "/api/v3/allOrders"): (h_all_orders, "signed"),
    ("GET", "/api/v3/account"): (h_account, "signed"),
    ("GET", "/api/v3/myTrades"): (h_my_trades, "signed"),
    ("POST", "/api/v3/userDataStream"): (h_listen_key, "key"),
    ("PUT", "/api/v3/userDataStream"): (h_listen_key, "key"),
    ("DELETE", "/api/v3/userDataStream"): (h_listen_key, "key"),
}


def _error(err: VenueError) -> web.Response:
    return web.json_response({"code": err.code, "msg": err.msg}, status=err.http_status)


async def rest_handler(request: web.Request) -> web.StreamResponse:
    venue: Venue = request.app["venue"]
    method, path = request.method, request.path
    query = request.query_string
    body = (await request.text()) if request.can_read_body else ""
    params: dict[str, str] = dict(urllib.parse.parse_qsl(query, keep_blank_values=True))
    body_params = dict(urllib.parse.parse_qsl(body, keep_blank_values=True))
    params.update(body_params)
    entry: dict[str, Any] = {
        "seq": next(venue._req_seq),
        "time": venue.now_ms(),
        "method": method,
        "path": path,
        "query": dict(urllib.parse.parse_qsl(query, keep_blank_values=True)),
        "body": body_params,
        "api_key": request.headers.get("X-MBX-APIKEY"),
        "status": None,
    }
    venue.requests.append(entry)
    resp = await _dispatch(venue, request, method, path, query, body, params)
    entry["status"] = resp.status if resp is not None else "dropped"
    if resp is None:
        transport = request.transport
        if transport is not None:
            transport.abort()
        raise _ResponseDropped
    return resp


async def _dispatch(
    venue: Venue,
    request: web.Request,
    method: str,
    path: str,
    query: str,
    body: str,
    params: dict[str, str],
) -> web.Response | None:
    limited, used = venue.rate_check(method, path, params)
    if limited is not None:
        return limited
    headers = {"X-MBX-USED-WEIGHT-1M": str(used)}
    route = ROUTES.get((method, path))
    if route is None:
        return web.json_response(
            {"msg": f"rbt-venue-sim does not serve {method} {path}"}, status=404, headers=headers
        )
    handler, security = route
    faults = venue.faults
    before_delay = faults.take({"delay"}, method, path) if faults.peek({"delay"}) else None
    if before_delay is not None and before_delay.params.get("before"):
        await asyncio.sleep(float(before_delay.params.get("seconds", 1)))
        before_delay = None
    err_rule = faults.take({"http_error"}, method, path)
    if err_rule is not None and not err_rule.params.get("process"):
        return _http_error(err_rule.params, headers)
    drop_rule = faults.take({"drop"}, method, path)
    if drop_rule is not None and drop_rule.params.get("process") is False:
        return None
    try:
        acct = None
        if security != "none":
            acct = venue.verify_signed(
                request.headers, query, body, params, need_signature=security == "signed"
            )
        result = handler(venue, request, params, acct)
        if asyncio.iscoroutine(result):
            result = await result
        if method == "POST" and path == "/api/v3/order":
            headers["X-MBX-ORDER-COUNT-10S"] = str(len(venue.order_count_10s))
            headers["X-MBX-ORDER-COUNT-1D"] = str(venue.order_count_1d)
        resp = web.json_response(result, headers=headers)
    except VenueError as err:
        resp = _error(err)
        resp.headers.update(headers)
    finally:
        venue.flush()
    if before_delay is not None:
        await asyncio.sleep(float(before_delay.params.get("seconds", 1)))
    if drop_rule is not None:
        return None
    if err_rule is not None:
        return _http_error(err_rule.params, headers)
    return resp


def _http_error(params: dict[str, Any], headers: dict[str, str]) -> web.Response:
    status = int(params.get("status", 503))
    body = params.get("body")
    if isinstance(body, (dict, list)):
        return web.json_response(body, status=status, headers=headers)
    text = body if isinstance(body, str) else f"{status} Service Unavailable (rbt-venue-sim fault)"
    return web.Response(text=text, status=status, headers=headers, content_type="text/plain")


# ---------------------------------------------------------------------- websockets
def _ws_refused() -> web.Response:
    """A WebSocket upgrade while the venue refuses them (``/_sim/close`` ``refuse_seconds``)."""
    return web.Response(status=503, text="WebSocket connections refused (rbt-venue-sim fault)")


async def ws_market(request: web.Request) -> web.StreamResponse:
    """``/ws``, ``/ws/<stream or listenKey>``, ``/stream?streams=a/b``."""
    venue: Venue = request.app["venue"]
    if venue.refuse_ws_until > time.monotonic():
        return _ws_refused()
    ws = web.WebSocketResponse(heartbeat=None, autoping=True)
    await ws.prepare(request)
    tail = request.match_info.get("tail", "")
    client = _Client(ws=ws, kind="market")
    if request.path.startswith("/stream"):
        client.combined = True
        for s in request.query.get("streams", "").split("/"):
            if s:
                client.streams.add(s)
    elif tail:
        if tail in venue.listen_keys:
            client.kind = "user"
            client.account = venue.listen_keys[tail]
        elif "@" in tail:
            client.streams.add(tail)
    venue.clients.append(client)
    client.start()
    try:
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            try:
                req = json.loads(msg.data)
            except json.JSONDecodeError:
                client.queue.put_nowait({"code": 3, "msg": "Invalid JSON"})
                continue
            rid = req.get("id")
            method = req.get("method")
            streams = req.get("params") or []
            if method == "SUBSCRIBE":
                client.streams.update(streams)
                client.queue.put_nowait({"result": None, "id": rid})
            elif method == "UNSUBSCRIBE":
                client.streams.difference_update(streams)
                client.queue.put_nowait({"result": None, "id": rid})
            elif method == "LIST_SUBSCRIPTIONS":
                client.queue.put_nowait({"result": sorted(client.streams), "id": rid})
            else:
                client.queue.put_nowait(
                    {"code": 2, "msg": f"Invalid request: unknown method {method!r}", "id": rid}
                )
    finally:
        if client in venue.clients:
            venue.clients.remove(client)
        client.stop()
    return ws


async def ws_api(request: web.Request) -> web.StreamResponse:
    """``/ws-api/v3``: the WebSocket API methods ccxt 4.5.90 uses for spot user data."""
    venue: Venue = request.app["venue"]
    if venue.refuse_ws_until > time.monotonic():
        return _ws_refused()
    ws = web.WebSocketResponse(heartbeat=None, autoping=True)
    await ws.prepare(request)
    client = _Client(ws=ws, kind="api")
    venue.clients.append(client)
    client.start()

    async def reply(rid: Any, result: Any = None, error: VenueError | None = None) -> None:
        if error is not None:
            msg = {
                "id": rid,
                "status": error.http_status,
                "error": {"code": error.code, "msg": error.msg},
            }
        else:
            msg = {
                "id": rid,
                "status": 200,
                "result": result,
                "rateLimits": [
                    {
                        "rateLimitType": "REQUEST_WEIGHT",
                        "interval": "MINUTE",
                        "intervalNum": 1,
                        "limit": venue.config.weight_limit,
                        "count": venue.used_weight,
                    }
                ],
            }
        client.queue.put_nowait(msg)

    try:
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            try:
                req = json.loads(msg.data)
            except json.JSONDecodeError:
                await reply(None, error=VenueError(-1000, "Invalid JSON"))
                continue
            rid, method = req.get("id"), req.get("method")
            params = {k: str(v) for k, v in (req.get("params") or {}).items()}
            venue.requests.append(
                {
                    "seq": next(venue._req_seq),
                    "time": venue.now_ms(),
                    "method": "WS",
                    "path": f"/ws-api/v3#{method}",
                    "query": {},
                    "body": dict(params),
                    "api_key": params.get("apiKey"),
                    "status": None,
                }
            )
            try:
                if method == "ping":
                    await reply(rid, {})
                elif method == "time":
                    await reply(rid, {"serverTime": venue.now_ms()})
                elif method == "userDataStream.subscribe.signature":
                    acct = _ws_verify(venue, params)
                    client.account = acct.name
                    client.subscription_id = next(venue._sub_ids)
                    await reply(rid, {"subscriptionId": client.subscription_id})
                elif method == "userDataStream.unsubscribe":
                    client.subscription_id = None
                    await reply(rid, {})
                else:
                    raise VenueError(
                        -1000, f"rbt-venue-sim does not serve the WebSocket API method {method!r}"
                    )
            except VenueError as err:
                await reply(rid, error=err)
    finally:
        if client in venue.clients:
            venue.clients.remove(client)
        client.stop()
    return ws


def _ws_verify(venue: Venue, params: dict[str, str]) -> Account:
    """WebSocket API signature: HMAC of the params except ``signature``, sorted by key."""
    key = params.get("apiKey")
    acct = venue.by_key.get(key or "")
    if acct is None:
        raise VenueError(-2015, "Invalid API-key, IP, or permissions for action.", 401)
    venue.check_timestamp(params)
    payload = "&".join(f"{k}={params[k]}" for k in sorted(params) if k != "signature")
    expected = hmac.new(acct.secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, params.get("signature", "").lower()):
        raise VenueError(-1022, "Signature for this request is not valid.")
    return acct


# ---------------------------------------------------------------------- control API
async def _json_body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    text = await request.text()
    return json.loads(text) if text.strip() else {}


def _state(venue: Venue) -> dict[str, Any]:
    eng = venue.engine
    return {
        "server_time": venue.now_ms(),
        "skew_ms": venue.skew_ms,
        "cursor": venue.cursor,
        "bars": len(venue.times),
        "prices": {s: fmt(eng.last_price(s)) for s in venue.specs},
        "accounts": {
            name: {
                a: {"free": fmt(f), "locked": fmt(lk)} for a, (f, lk) in eng.balances(name).items()
            }
            for name in eng.accounts
        },
        "open_orders": {
            name: [order_json(o) for o in eng.open_orders(name)] for name in venue.accounts
        },
        "clients": [
            {"kind": c.kind, "streams": sorted(c.streams), "account": c.account}
            for c in venue.clients
        ],
        "weight": {"used": venue.used_weight, "limit": venue.config.weight_limit},
        "faults": [r.to_json() for r in venue.faults.rules],
    }


async def control_handler(request: web.Request) -> web.StreamResponse:
    venue: Venue = request.app["venue"]
    action = request.match_info["action"]
    method = request.method
    try:
        body = await _json_body(request)
        result = await _control(venue, method, action, body, request)
    except VenueError as err:
        return _error(err)
    except (ValueError, KeyError, TypeError) as exc:
        return web.json_response({"error": f"{type(exc).__name__}: {exc}"}, status=400)
    finally:
        venue.flush()
    return web.json_response(result)


async def _control(
    venue: Venue, method: str, action: str, body: dict[str, Any], request: web.Request
) -> Any:
    eng = venue.engine
    if action == "health":
        return {"ok": True, "server_time": venue.now_ms()}
    if action == "state":
        return _state(venue)
    if action == "faults":
        if method == "POST":
            rule = venue.faults.add(body)
            if rule.kind == "rate_limit":
                venue.faults.rules.remove(rule)
                venue.throttled_until = time.monotonic() + float(rule.params.get("seconds", 1))
                venue.violations = 0
            return rule.to_json()
        if method == "DELETE":
            venue.faults.clear()
            venue._held_reports.clear()
            venue.throttled_until = venue.banned_until = 0.0
            venue.violations = 0
            return {"cleared": True}
        return [r.to_json() for r in venue.faults.rules]
    if action == "clock":
        if method == "POST":
            venue.skew_ms = int(body.get("skew_ms", 0))
        return {"skew_ms": venue.skew_ms, "server_time": venue.now_ms()}
    if action == "limits":
        cfg = venue.config
        for name in ("weight_limit", "ban_after"):
            if name in body:
                setattr(cfg, name, int(body[name]))
        for name in ("weight_window_s", "ban_seconds"):
            if name in body:
                setattr(cfg, name, float(body[name]))
        if body.get("reset"):
            venue.used_weight = 0
            venue.throttled_until = venue.banned_until = 0.0
            venue.violations = 0
        return {
            "weight_limit": cfg.weight_limit,
            "weight_window_s": cfg.weight_window_s,
            "ban_after": cfg.ban_after,
            "ban_seconds": cfg.ban_seconds,
            "used": venue.used_weight,
        }
    if action == "advance":
        done = venue.advance(int(body.get("bars", 1)))
        return {
            "revealed": done,
            "cursor": venue.cursor,
            "prices": {s: fmt(eng.last_price(s)) for s in venue.specs},
        }
    if action == "price":
        sym = _sym_any(venue, body["symbol"])
        eng.set_price(sym, Decimal(str(body["price"])), gap=bool(body.get("gap", False)))
        return {"symbol": sym, "price": fmt(eng.last_price(sym))}
    if action == "fill":
        sym = _sym_any(venue, body["symbol"])
        order_id = body.get("orderId")
        if order_id is None:
            account = body.get("account") or next(iter(venue.accounts))
            order_id = eng.get_order(
                account, sym, client_order_id=body["origClientOrderId"]
            ).order_id
        qty = Decimal(str(body["qty"])) if body.get("qty") is not None else None
        price = Decimal(str(body["price"])) if body.get("price") is not None else None
        fills = eng.external_fill(sym, int(order_id), qty, price)
        return {"fills": [trade_json(f) for f in fills]}
    if action == "close":
        return {
            "closed": await venue.close_sockets(
                str(body.get("kind", "all")), float(body.get("refuse_seconds", 0))
            )
        }
    if action == "requests":
        if method == "DELETE":
            venue.requests.clear()
            return {"cleared": True}
        since = int(request.query.get("since", "0"))
        return [r for r in venue.requests if r["seq"] > since]
    if action == "accounts" and method == "POST":
        acct = Account(
            name=body["name"],
            api_key=body["api_key"],
            secret=body["secret"],
            balances={k: Decimal(str(v)) for k, v in body.get("balances", {}).items()},
        )
        venue.add_account(acct)
        return {"name": acct.name}
    if action == "balance" and method == "POST":
        account = body.get("account") or next(iter(venue.accounts))
        eng.add_account(account, {body["asset"]: Decimal(str(body["amount"]))})
        return {
            "account": account,
            "asset": body["asset"],
            "free": fmt(eng.balance(account, body["asset"])[0]),
        }
    raise ValueError(f"unknown control action {method} /_sim/{action}")


def _sym_any(venue: Venue, name: str) -> str:
    if name in venue.specs:
        return name
    for sym, spec in venue.specs.items():
        if spec.unified == name:
            return sym
    raise VenueError(-1121, "Invalid symbol.")


# ---------------------------------------------------------------------- app
@web.middleware
async def _drop_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        return await handler(request)  # type: ignore[no-any-return]
    except _ResponseDropped:
        # the transport is already aborted; give aiohttp something it will not send
        resp = web.Response(status=500)
        resp.force_close()
        return resp


def build_app(venue: Venue) -> web.Application:
    app = web.Application(middlewares=[_drop_middleware], client_max_size=1 << 20)
    app["venue"] = venue
    app.router.add_route("*", "/_sim/{action}", control_handler)
    app.router.add_get("/ws", ws_market)
    app.router.add_get("/ws/{tail}", ws_market)
    app.router.add_get("/stream", ws_market)
    app.router.add_get("/ws-api/v3", ws_api)
    app.router.add_route("*", "/api/{tail:.*}", rest_handler)
    app.router.add_route("*", "/sapi/{tail:.*}", rest_handler)

    async def _auto_advance(app: web.Application) -> Any:
        task = None
        if venue.config.auto_advance_s:

            async def loop() -> None:
                while True:
                    await asyncio.sleep(venue.config.auto_advance_s or 1.0)
                    venue.advance(1)

            task = asyncio.create_task(loop())
        yield
        if task is not None:
            task.cancel()

    async def _close_ws(app: web.Application) -> None:
        await venue.close_sockets("all")

    app.cleanup_ctx.append(_auto_advance)
    app.on_shutdown.append(_close_ws)
    return app
