"""The matching engine: pure Python, ``Decimal`` only, no I/O, deterministic.

One :class:`Engine` holds, per symbol, a limit order book of the users' resting
orders (price-time priority), the users' pending stop orders, and a *synthetic
market* built around the current price of the price path; per account it holds
balances (``free`` / ``locked``) by asset.

Liquidity model (README, "Matching model"):

* The price path gives the market's last price ``p``. Around it the synthetic
  market quotes ``levels`` price levels per side: the best bid is ``p`` lowered by
  ``half_spread_bps`` (floored to the tick, at least one tick below ``p``), the
  best ask ``p`` raised likewise (ceiled, at least one tick above); further levels
  are ``level_step_ticks`` ticks apart. Each level holds ``level_qty`` (or
  ``depth_notional / price`` floored to the step). Liquidity taken from a level is
  gone until the price path moves again.
* An incoming order matches against the merged opposite side — resting user
  orders and synthetic levels — best price first; at one price the synthetic
  level goes first (it was there before any user order), then users' orders in
  time order. The incoming order is the taker and pays the taker fee.
* When the path moves from ``a`` to ``b`` (one *segment*), every resting order
  whose price the segment reaches fills at its own price as maker (a buy limit
  when the segment's low <= its price, a sell limit when the high >= it), in the
  order the moving price meets them (then time priority); stop orders trigger
  where the segment crosses their stop price. A bar is the segments
  open -> high -> low -> close when the close is below the open, else
  open -> low -> high -> close; the segment from the previous close to the next
  open is a *gap*: a stop triggered in a gap executes at the open, not at its stop.
  With ``participation`` set, the quantity filled this way per bar is capped at
  ``participation * bar volume``, which gives partial fills.
* User orders never move the price path (the simulator is a price taker).

Fees (as Binance spot charges them without BNB): the buyer pays commission in the
base asset it receives, the seller in the quote asset it receives;
``commission = quantity * rate`` (buyer) or ``quote quantity * rate`` (seller),
rounded half-up to the symbol's commission precision (8 decimals). Makers pay the
maker rate, takers the taker rate; commissions go to the ``venue-fees`` account.
The synthetic market's counterparty is the ``market`` account, which may go
negative (it is the outside world); every asset is conserved across all accounts.
"""

from __future__ import annotations

import copy
import enum
import heapq
import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Any

import attrs

from rbt_venue_sim.markets import SymbolSpec

__all__ = [
    "FEE_ACCOUNT",
    "MARKET_ACCOUNT",
    "Bar",
    "Engine",
    "ExecutionEvent",
    "Fill",
    "LiquidityModel",
    "Order",
    "OrderStatus",
    "OrderType",
    "PublicTrade",
    "Side",
    "TimeInForce",
    "VenueError",
]

ZERO = Decimal(0)
MARKET_ACCOUNT = "market"
FEE_ACCOUNT = "venue-fees"
_INFINITE = Decimal("1e30")


class VenueError(Exception):
    """A request the venue refuses: a Binance error ``code`` and ``msg``."""

    def __init__(self, code: int, msg: str, http_status: int = 400) -> None:
        super().__init__(f"{code}: {msg}")
        self.code = code
        self.msg = msg
        self.http_status = http_status


def _insufficient() -> VenueError:
    return VenueError(-2010, "Account has insufficient balance for requested action.")


class Side(enum.StrEnum):
    BUY = "BUY"
    SELL = "SELL"


class OrderType(enum.StrEnum):
    LIMIT = "LIMIT"
    MARKET = "MARKET"
    LIMIT_MAKER = "LIMIT_MAKER"
    STOP_LOSS = "STOP_LOSS"
    STOP_LOSS_LIMIT = "STOP_LOSS_LIMIT"
    TAKE_PROFIT = "TAKE_PROFIT"
    TAKE_PROFIT_LIMIT = "TAKE_PROFIT_LIMIT"

    @property
    def is_stop(self) -> bool:
        return self in _STOPS

    @property
    def has_limit_price(self) -> bool:
        return self in (
            OrderType.LIMIT,
            OrderType.LIMIT_MAKER,
            OrderType.STOP_LOSS_LIMIT,
            OrderType.TAKE_PROFIT_LIMIT,
        )


_STOPS = frozenset(
    {
        OrderType.STOP_LOSS,
        OrderType.STOP_LOSS_LIMIT,
        OrderType.TAKE_PROFIT,
        OrderType.TAKE_PROFIT_LIMIT,
    }
)


class TimeInForce(enum.StrEnum):
    GTC = "GTC"
    IOC = "IOC"
    FOK = "FOK"


class OrderStatus(enum.StrEnum):
    NEW = "NEW"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    EXPIRED = "EXPIRED"
    EXPIRED_IN_MATCH = "EXPIRED_IN_MATCH"

    @property
    def is_open(self) -> bool:
        return self in (OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED)


@attrs.define(kw_only=True)
class Order:
    """A venue order (mutable inside the engine; events carry copies)."""

    order_id: int
    client_order_id: str
    account: str
    symbol: str
    side: Side
    type: OrderType
    time_in_force: TimeInForce
    price: Decimal  # 0 for market-type orders, as Binance reports it
    stop_price: Decimal  # 0 when none
    orig_qty: Decimal  # 0 for a quote-quantity market order until it fills
    orig_quote_order_qty: Decimal
    stp_mode: str
    time: int
    update_time: int
    working_time: int  # -1 for an untriggered stop
    is_working: bool
    seq: int
    iceberg_qty: Decimal = ZERO
    executed_qty: Decimal = ZERO
    cummulative_quote_qty: Decimal = ZERO
    status: OrderStatus = OrderStatus.NEW
    locked: Decimal = ZERO  # balance still locked for this order
    locked_asset: str = ""
    cancel_client_order_id: str | None = None

    @property
    def remaining(self) -> Decimal:
        return self.orig_qty - self.executed_qty

    def snapshot(self) -> Order:
        return copy.copy(self)


@attrs.frozen(kw_only=True)
class Fill:
    """One execution of one account's order (a row of ``myTrades``)."""

    trade_id: int
    order_id: int
    client_order_id: str
    account: str
    symbol: str
    side: Side
    price: Decimal
    qty: Decimal
    quote_qty: Decimal
    commission: Decimal
    commission_asset: str
    time: int
    is_maker: bool

    @property
    def is_buyer(self) -> bool:
        return self.side is Side.BUY


@attrs.frozen(kw_only=True)
class PublicTrade:
    """A trade of the public trade stream."""

    symbol: str
    trade_id: int
    price: Decimal
    qty: Decimal
    time: int
    buyer_is_maker: bool


@attrs.frozen(kw_only=True)
class ExecutionEvent:
    """What a user-data ``executionReport`` reports: an order snapshot and why."""

    account: str
    order: Order
    execution_type: str  # NEW, CANCELED, TRADE, EXPIRED, TRADE_PREVENTION
    fill: Fill | None
    time: int


@attrs.frozen(kw_only=True)
class BalanceEvent:
    """Balances of ``assets`` changed for ``account`` (``outboundAccountPosition``)."""

    account: str
    assets: tuple[str, ...]
    time: int


@attrs.frozen(kw_only=True)
class Bar:
    """One bar of the price path (open time in ms)."""

    open_time: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal

    def path(self) -> tuple[Decimal, ...]:
        """The price points the bar walks through (see the module docstring)."""
        if self.close < self.open:
            return (self.open, self.high, self.low, self.close)
        return (self.open, self.low, self.high, self.close)


@attrs.frozen(kw_only=True)
class LiquidityModel:
    """Synthetic liquidity around the path price (see the module docstring)."""

    half_spread_bps: Decimal = Decimal(1)
    levels: int = 10
    level_step_ticks: int = 1
    level_qty: Decimal | None = None
    depth_notional: Decimal = Decimal(1_000_000)
    participation: Decimal | None = None


@attrs.define
class _Balance:
    free: Decimal = ZERO
    locked: Decimal = ZERO


@attrs.define
class _Level:
    price: Decimal
    qty: Decimal


@attrs.define
class _Book:
    spec: SymbolSpec
    last: Decimal
    bids: list[Order] = attrs.Factory(list)  # best first, then time
    asks: list[Order] = attrs.Factory(list)
    stops: list[Order] = attrs.Factory(list)
    syn_bids: list[_Level] = attrs.Factory(list)
    syn_asks: list[_Level] = attrs.Factory(list)
    next_order_id: int = 1
    next_trade_id: int = 1
    bar_budget: Decimal | None = None


def _q(value: Decimal, places: int) -> Decimal:
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def _floor_to(value: Decimal, step: Decimal) -> Decimal:
    if step <= 0:
        return value
    return (value / step).to_integral_value(rounding=ROUND_FLOOR) * step


def _ceil_to(value: Decimal, step: Decimal) -> Decimal:
    if step <= 0:
        return value
    return (value / step).to_integral_value(rounding=ROUND_CEILING) * step


def _on_grid(value: Decimal, origin: Decimal, step: Decimal) -> bool:
    if step <= 0:
        return True
    return ((value - origin) % step) == 0


class Engine:
    """The venue's books, accounts and matching (see the module docstring)."""

    def __init__(
        self,
        specs: Iterable[SymbolSpec],
        *,
        prices: dict[str, Decimal],
        clock: Callable[[], int],
        maker_rate: Decimal = Decimal("0.001"),
        taker_rate: Decimal = Decimal("0.001"),
        liquidity: LiquidityModel | None = None,
    ) -> None:
        self.clock = clock
        self.maker_rate = maker_rate
        self.taker_rate = taker_rate
        self.liquidity = liquidity or LiquidityModel()
        self.books: dict[str, _Book] = {}
        for spec in specs:
            book = _Book(spec=spec, last=prices[spec.symbol])
            self.books[spec.symbol] = book
            self._refresh_synthetic(book)
        self.accounts: dict[str, dict[str, _Balance]] = {MARKET_ACCOUNT: {}, FEE_ACCOUNT: {}}
        self.orders: dict[str, dict[int, Order]] = {s: {} for s in self.books}
        self.fills: list[Fill] = []
        self.public_trades: list[PublicTrade] = []
        self.events: list[ExecutionEvent | BalanceEvent] = []
        self._seq = itertools.count(1)
        self._changed: dict[str, set[str]] = {}

    # ----------------------------------------------------------------- accounts
    def add_account(self, name: str, balances: dict[str, Decimal] | None = None) -> None:
        acct = self.accounts.setdefault(name, {})
        for asset, amount in (balances or {}).items():
            acct.setdefault(asset, _Balance()).free += Decimal(amount)

    def balance(self, account: str, asset: str) -> tuple[Decimal, Decimal]:
        bal = self.accounts[account].get(asset)
        return (bal.free, bal.locked) if bal else (ZERO, ZERO)

    def balances(self, account: str) -> dict[str, tuple[Decimal, Decimal]]:
        return {a: (b.free, b.locked) for a, b in sorted(self.accounts[account].items())}

    def totals(self) -> dict[str, Decimal]:
        """Sum of free + locked of every asset over every account (conservation)."""
        out: dict[str, Decimal] = {}
        for acct in self.accounts.values():
            for asset, bal in acct.items():
                out[asset] = out.get(asset, ZERO) + bal.free + bal.locked
        return out

    def _bal(self, account: str, asset: str) -> _Balance:
        return self.accounts[account].setdefault(asset, _Balance())

    def _touch(self, account: str, *assets: str) -> None:
        if account in (MARKET_ACCOUNT, FEE_ACCOUNT):
            return
        self._changed.setdefault(account, set()).update(assets)

    def _flush_balance_events(self) -> None:
        now = self.clock()
        for account, assets in sorted(self._changed.items()):
            self.events.append(
                BalanceEvent(account=account, assets=tuple(sorted(assets)), time=now)
            )
        self._changed.clear()

    def _lock(self, account: str, asset: str, amount: Decimal) -> None:
        bal = self._bal(account, asset)
        if amount > bal.free:
            raise _insufficient()
        bal.free -= amount
        bal.locked += amount
        self._touch(account, asset)

    def _release(self, order: Order) -> None:
        if order.locked and order.locked_asset:
            bal = self._bal(order.account, order.locked_asset)
            bal.locked -= order.locked
            bal.free += order.locked
            self._touch(order.account, order.locked_asset)
        order.locked = ZERO

    # ----------------------------------------------------------------- queries
    def book(self, symbol: str) -> _Book:
        try:
            return self.books[symbol]
        except KeyError:
            raise VenueError(-1121, "Invalid symbol.") from None

    def last_price(self, symbol: str) -> Decimal:
        return self.book(symbol).last

    def get_order(
        self,
        account: str,
        symbol: str,
        *,
        order_id: int | None = None,
        client_order_id: str | None = None,
    ) -> Order:
        order = self._find(account, symbol, order_id, client_order_id)
        if order is None:
            raise VenueError(-2013, "Order does not exist.")
        return order

    def _find(
        self, account: str, symbol: str, order_id: int | None, client_order_id: str | None
    ) -> Order | None:
        orders = self.orders[self.book(symbol).spec.symbol]
        if order_id is not None:
            order = orders.get(order_id)
            if order is None or order.account != account:
                return None
            if client_order_id is not None and order.client_order_id != client_order_id:
                return None
            return order
        if client_order_id is None:
            raise VenueError(
                -1102,
                "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!",
            )
        found = [
            o
            for o in orders.values()
            if o.account == account and o.client_order_id == client_order_id
        ]
        if not found:
            return None
        open_ = [o for o in found if o.status.is_open]
        return (open_ or found)[-1]

    def open_orders(self, account: str, symbol: str | None = None) -> list[Order]:
        symbols = [self.book(symbol).spec.symbol] if symbol else sorted(self.orders)
        return [
            o
            for s in symbols
            for o in self.orders[s].values()
            if o.account == account and o.status.is_open
        ]

    def all_orders(self, account: str, symbol: str) -> list[Order]:
        return [
            o for o in self.orders[self.book(symbol).spec.symbol].values() if o.account == account
        ]

    def my_trades(self, account: str, symbol: str) -> list[Fill]:
        sym = self.book(symbol).spec.symbol
        return [f for f in self.fills if f.account == account and f.symbol == sym]

    def drain_events(self) -> list[ExecutionEvent | BalanceEvent]:
        out, self.events = self.events, []
        return out

    def drain_public_trades(self) -> list[PublicTrade]:
        out, self.public_trades = self.public_trades, []
        return out

    # ----------------------------------------------------------------- placing
    def place_order(self, *args: Any, **kwargs: Any) -> tuple[Order, list[Fill]]:
        """Place an order (see :meth:`_place_order`); one instant for the whole request.

        The order's ``transactTime``, its fills' trade times and its reports share the
        clock reading taken on arrival, as one matching event does at Binance.
        """
        now = self.clock()
        clock = self.clock
        self.clock = lambda: now
        try:
            return self._place_order(*args, **kwargs)
        finally:
            self.clock = clock

    def _place_order(
        self,
        account: str,
        symbol: str,
        side: Side,
        type_: OrderType,
        *,
        quantity: Decimal | None = None,
        quote_order_qty: Decimal | None = None,
        price: Decimal | None = None,
        stop_price: Decimal | None = None,
        time_in_force: TimeInForce | None = None,
        client_order_id: str,
        stp_mode: str | None = None,
        iceberg_qty: Decimal | None = None,
        test: bool = False,
    ) -> tuple[Order, list[Fill]]:
        """Validate and place an order; returns it and the fills it made at once.

        Rejections raise :class:`VenueError` with Binance's code and message and leave
        no trace (Binance does not keep rejected orders). With ``test`` the order is
        validated only.
        """
        book = self.book(symbol)
        spec = book.spec
        if account not in self.accounts:
            raise VenueError(-2015, "Invalid API-key, IP, or permissions for action.", 401)
        if type_.value not in spec.order_types:
            raise VenueError(-1013, "This order type is not supported for this symbol.")
        self._validate(
            book,
            account,
            side,
            type_,
            quantity,
            quote_order_qty,
            price,
            stop_price,
            time_in_force,
            stp_mode,
            iceberg_qty,
        )
        for o in self.orders[spec.symbol].values():
            if o.account == account and o.client_order_id == client_order_id and o.status.is_open:
                raise VenueError(-2010, "Duplicate order sent.")
        now = self.clock()
        if type_.is_stop:
            self._check_stop_not_immediate(book, side, type_, stop_price or ZERO)
        order = Order(
            order_id=book.next_order_id,
            client_order_id=client_order_id,
            account=account,
            symbol=spec.symbol,
            side=side,
            type=type_,
            time_in_force=time_in_force or TimeInForce.GTC,
            price=price if price is not None else ZERO,
            stop_price=stop_price if stop_price is not None else ZERO,
            orig_qty=quantity if quantity is not None else ZERO,
            orig_quote_order_qty=quote_order_qty if quote_order_qty is not None else ZERO,
            stp_mode=stp_mode or spec.default_stp,
            time=now,
            update_time=now,
            working_time=-1 if type_.is_stop else now,
            is_working=not type_.is_stop,
            seq=next(self._seq),
            iceberg_qty=iceberg_qty or ZERO,
        )
        # Balance checks (and locks) before the order exists; a failure leaves no order.
        if type_ is OrderType.MARKET:
            self._check_market_affordable(book, order)
        elif type_.is_stop:
            self._check_stop_affordable(book, order, dry=test)
        else:
            if type_ is OrderType.LIMIT_MAKER and self._would_cross(book, order):
                raise VenueError(-2010, "Order would immediately match and take.")
            self._check_limit_affordable(book, order, dry=test)
        if test:
            return order, []
        book.next_order_id += 1
        self.orders[spec.symbol][order.order_id] = order
        self._emit(order, "NEW", None)
        fills: list[Fill] = []
        if type_.is_stop:
            book.stops.append(order)
        else:
            fills = self._execute(book, order)
        self._flush_balance_events()
        return order, fills

    def _validate(
        self,
        book: _Book,
        account: str,
        side: Side,
        type_: OrderType,
        quantity: Decimal | None,
        quote_order_qty: Decimal | None,
        price: Decimal | None,
        stop_price: Decimal | None,
        tif: TimeInForce | None,
        stp_mode: str | None,
        iceberg_qty: Decimal | None,
    ) -> None:
        spec = book.spec
        if type_.has_limit_price and price is None:
            raise VenueError(
                -1102, "Mandatory parameter 'price' was not sent, was empty/null, or malformed."
            )
        if type_.is_stop and stop_price is None:
            raise VenueError(
                -1102, "Mandatory parameter 'stopPrice' was not sent, was empty/null, or malformed."
            )
        needs_tif = type_ in (
            OrderType.LIMIT,
            OrderType.STOP_LOSS_LIMIT,
            OrderType.TAKE_PROFIT_LIMIT,
        )
        if needs_tif and tif is None:
            raise VenueError(
                -1102,
                "Mandatory parameter 'timeInForce' was not sent, was empty/null, or malformed.",
            )
        if not needs_tif and tif is not None:
            raise VenueError(-1106, "Parameter 'timeInForce' sent when not required.")
        if not type_.has_limit_price and price is not None:
            raise VenueError(-1106, "Parameter 'price' sent when not required.")
        if not type_.is_stop and stop_price is not None:
            raise VenueError(-1106, "Parameter 'stopPrice' sent when not required.")
        if quote_order_qty is not None:
            if type_ is not OrderType.MARKET:
                raise VenueError(-1106, "Parameter 'quoteOrderQty' sent when not required.")
            if quantity is not None:
                raise VenueError(
                    -1102,
                    "Param 'quantity' or 'quoteOrderQty' must be sent, but both were empty/null!",
                )
            if quote_order_qty <= 0:
                raise VenueError(-1013, "Invalid quantity.")
        elif quantity is None:
            if type_ is OrderType.MARKET:
                raise VenueError(
                    -1102,
                    "Param 'quantity' or 'quoteOrderQty' must be sent, but both were empty/null!",
                )
            raise VenueError(
                -1102, "Mandatory parameter 'quantity' was not sent, was empty/null, or malformed."
            )
        if stp_mode is not None and stp_mode not in spec.allowed_stp:
            raise VenueError(-1013, "Invalid selfTradePreventionMode.")
        # PRICE_FILTER on price and stopPrice
        for value in (price, stop_price):
            if value is None:
                continue
            if (
                value <= 0
                or value < spec.min_price
                or value > spec.max_price
                or not _on_grid(value, spec.min_price, spec.tick_size)
            ):
                raise VenueError(-1013, "Filter failure: PRICE_FILTER")
        # PERCENT_PRICE_BY_SIDE against the last price
        if price is not None and spec.bid_multiplier_up is not None:
            last = book.last
            if side is Side.BUY:
                lo, hi = last * (spec.bid_multiplier_down or ZERO), last * spec.bid_multiplier_up
            else:
                lo = last * (spec.ask_multiplier_down or ZERO)
                hi = last * (spec.ask_multiplier_up or _INFINITE)
            if not lo <= price <= hi:
                raise VenueError(-1013, "Filter failure: PERCENT_PRICE_BY_SIDE")
        # LOT_SIZE and MARKET_LOT_SIZE
        if quantity is not None:
            if quantity <= 0:
                raise VenueError(-1013, "Invalid quantity.")
            if (
                quantity < spec.min_qty
                or quantity > spec.max_qty
                or not _on_grid(quantity, spec.min_qty, spec.step_size)
            ):
                raise VenueError(-1013, "Filter failure: LOT_SIZE")
            if type_ in (OrderType.MARKET, OrderType.STOP_LOSS, OrderType.TAKE_PROFIT) and (
                quantity < spec.market_min_qty
                or quantity > spec.market_max_qty
                or not _on_grid(quantity, spec.market_min_qty, spec.market_step_size)
            ):
                raise VenueError(-1013, "Filter failure: MARKET_LOT_SIZE")
        # NOTIONAL
        is_market = not type_.has_limit_price
        if quote_order_qty is not None:
            notional = quote_order_qty
        else:
            ref = price if price is not None else (stop_price or book.last)
            notional = (quantity or ZERO) * ref
        if (not is_market or spec.apply_min_to_market) and notional < spec.min_notional:
            raise VenueError(-1013, "Filter failure: NOTIONAL")
        if (not is_market or spec.apply_max_to_market) and notional > spec.max_notional:
            raise VenueError(-1013, "Filter failure: NOTIONAL")
        # MAX_NUM_ORDERS / MAX_NUM_ALGO_ORDERS
        open_ = [
            o
            for o in self.orders[spec.symbol].values()
            if o.account == account and o.status.is_open
        ]
        if len(open_) >= spec.max_num_orders:
            raise VenueError(-1013, "Filter failure: MAX_NUM_ORDERS")
        if (
            type_.is_stop
            and sum(1 for o in open_ if o.type.is_stop and not o.is_working)
            >= spec.max_num_algo_orders
        ):
            raise VenueError(-1013, "Filter failure: MAX_NUM_ALGO_ORDERS")

    @staticmethod
    def _stop_rises(side: Side, type_: OrderType) -> bool:
        """Whether the stop triggers on a rising price (else on a falling one)."""
        stop_loss = type_ in (OrderType.STOP_LOSS, OrderType.STOP_LOSS_LIMIT)
        return (side is Side.BUY) == stop_loss

    def _check_stop_not_immediate(
        self, book: _Book, side: Side, type_: OrderType, stop: Decimal
    ) -> None:
        rises = self._stop_rises(side, type_)
        if (rises and book.last >= stop) or (not rises and book.last <= stop):
            raise VenueError(-2010, "Stop price would trigger immediately.")

    # ----------------------------------------------------------------- balances per order
    def _check_limit_affordable(self, book: _Book, order: Order, *, dry: bool) -> None:
        spec = book.spec
        if order.side is Side.BUY:
            asset, amount = spec.quote, order.price * order.orig_qty
        else:
            asset, amount = spec.base, order.orig_qty
        if dry:
            if amount > self.balance(order.account, asset)[0]:
                raise _insufficient()
            return
        self._lock(order.account, asset, amount)
        order.locked, order.locked_asset = amount, asset

    def _check_stop_affordable(self, book: _Book, order: Order, *, dry: bool) -> None:
        spec = book.spec
        if order.side is Side.BUY:
            ref = order.price if order.type.has_limit_price else order.stop_price
            asset, amount = spec.quote, ref * order.orig_qty
        else:
            asset, amount = spec.base, order.orig_qty
        if dry:
            if amount > self.balance(order.account, asset)[0]:
                raise _insufficient()
            return
        self._lock(order.account, asset, amount)
        order.locked, order.locked_asset = amount, asset

    def _check_market_affordable(self, book: _Book, order: Order) -> None:
        spec = book.spec
        if order.side is Side.BUY:
            if order.orig_quote_order_qty:
                need = order.orig_quote_order_qty
            else:
                need = sum((p * q for p, q in self._simulate(book, order)), ZERO)
            if need > self.balance(order.account, spec.quote)[0]:
                raise _insufficient()
        else:
            if order.orig_quote_order_qty:
                need = sum((q for _, q in self._simulate(book, order)), ZERO)
            else:
                need = order.orig_qty
            if need > self.balance(order.account, spec.base)[0]:
                raise _insufficient()

    # ----------------------------------------------------------------- matching
    def _levels(self, book: _Book, taker_side: Side) -> Iterator[tuple[Decimal, _Level | Order]]:
        """Opposite liquidity, best first; at one price the synthetic level first."""
        buy = taker_side is Side.BUY
        syn, users = (book.syn_asks, book.asks) if buy else (book.syn_bids, book.bids)
        merged: list[tuple[Decimal, int, int, _Level | Order]] = []
        for i, lvl in enumerate(syn):
            merged.append((lvl.price if buy else -lvl.price, 0, i, lvl))
        for o in users:
            merged.append((o.price if buy else -o.price, 1, o.seq, o))
        merged.sort(key=lambda t: (t[0], t[1], t[2]))
        for _, _, _, item in merged:
            yield (item.price, item)

    def _simulate(self, book: _Book, order: Order) -> list[tuple[Decimal, Decimal]]:
        """(price, qty) the order would take now, without changing anything."""
        out: list[tuple[Decimal, Decimal]] = []
        step = book.spec.step_size
        qty_left = order.remaining if order.orig_qty else None
        quote_left = (
            order.orig_quote_order_qty - order.cummulative_quote_qty
            if order.orig_quote_order_qty
            else None
        )
        limit = order.price if order.type.has_limit_price else None
        for price, item in self._levels(book, order.side):
            if limit is not None and (price > limit if order.side is Side.BUY else price < limit):
                break
            avail = item.qty if isinstance(item, _Level) else item.remaining
            if qty_left is not None:
                take = min(avail, qty_left)
            else:
                assert quote_left is not None
                take = min(avail, _floor_to(quote_left / price, step))
            if take <= 0:
                break
            out.append((price, take))
            if qty_left is not None:
                qty_left -= take
                if qty_left <= 0:
                    break
            else:
                assert quote_left is not None
                quote_left -= take * price
        return out

    def _would_cross(self, book: _Book, order: Order) -> bool:
        for price, _ in self._levels(book, order.side):
            return price <= order.price if order.side is Side.BUY else price >= order.price
        return False

    def _execute(self, book: _Book, order: Order) -> list[Fill]:
        """Match a working order as taker, then rest, expire or finish it."""
        fills: list[Fill] = []
        if order.time_in_force is TimeInForce.FOK:
            can = sum((q for _, q in self._simulate(book, order)), ZERO)
            if can < order.remaining:
                self._finish(order, OrderStatus.EXPIRED, "EXPIRED")
                return fills
        step = book.spec.step_size
        limit = order.price if order.type.has_limit_price else None
        expired_in_match = False
        for price, item in list(self._levels(book, order.side)):
            if limit is not None and (price > limit if order.side is Side.BUY else price < limit):
                break
            if order.orig_qty:
                want = order.remaining
            else:
                left = order.orig_quote_order_qty - order.cummulative_quote_qty
                want = _floor_to(left / price, step)
            if want <= 0:
                break
            if isinstance(item, _Level):
                take = min(item.qty, want)
                if take <= 0:
                    continue
                if order.side is Side.BUY and not self._affordable_buy(order, price, take):
                    take = self._max_affordable(order, price, take, step)
                    if take <= 0:
                        break
                item.qty -= take
                fills.extend(self._trade(book, order, None, price, take, taker_is_order=True))
            else:
                maker = item
                if maker.account == order.account and order.stp_mode != "NONE":
                    mode = order.stp_mode
                    if mode in ("EXPIRE_MAKER", "EXPIRE_BOTH"):
                        self._remove_resting(book, maker)
                        self._finish(maker, OrderStatus.EXPIRED_IN_MATCH, "TRADE_PREVENTION")
                    if mode in ("EXPIRE_TAKER", "EXPIRE_BOTH"):
                        expired_in_match = True
                        break
                    continue
                take = min(maker.remaining, want)
                fills.extend(self._trade(book, order, maker, price, take, taker_is_order=True))
                if maker.remaining <= 0:
                    self._remove_resting(book, maker)
            if order.orig_qty and order.remaining <= 0:
                break
        self._after_taking(book, order, expired_in_match)
        return fills

    def _affordable_buy(self, order: Order, price: Decimal, qty: Decimal) -> bool:
        if order.locked_asset:
            return True  # limit buys and quote-quantity market buys are pre-locked
        return price * qty <= self.balance(order.account, self.books[order.symbol].spec.quote)[0]

    def _max_affordable(self, order: Order, price: Decimal, qty: Decimal, step: Decimal) -> Decimal:
        free = self.balance(order.account, self.books[order.symbol].spec.quote)[0]
        return min(qty, _floor_to(free / price, step))

    def _after_taking(self, book: _Book, order: Order, expired_in_match: bool) -> None:
        if expired_in_match:
            self._finish(order, OrderStatus.EXPIRED_IN_MATCH, "TRADE_PREVENTION")
            return
        done = (order.remaining <= 0) if order.orig_qty else False
        if done:
            self._finish(order, OrderStatus.FILLED, None)
        elif (
            order.type is OrderType.MARKET
            or order.type in (OrderType.STOP_LOSS, OrderType.TAKE_PROFIT)
            or order.time_in_force is not TimeInForce.GTC
        ):
            if order.type is OrderType.MARKET and not order.orig_qty and order.executed_qty > 0:
                # a quote-quantity market order is done when its quote is spent
                order.orig_qty = order.executed_qty
                self._finish(order, OrderStatus.FILLED, None)
            else:
                self._finish(order, OrderStatus.EXPIRED, "EXPIRED")
        else:
            self._rest(book, order)

    def _rest(self, book: _Book, order: Order) -> None:
        side = book.bids if order.side is Side.BUY else book.asks
        side.append(order)
        if order.side is Side.BUY:
            side.sort(key=lambda o: (-o.price, o.seq))
        else:
            side.sort(key=lambda o: (o.price, o.seq))

    def _remove_resting(self, book: _Book, order: Order) -> None:
        for side in (book.bids, book.asks, book.stops):
            if order in side:
                side.remove(order)

    def _finish(self, order: Order, status: OrderStatus, exec_type: str | None) -> None:
        order.status = status
        order.update_time = self.clock()
        self._release(order)
        if exec_type is not None:
            self._emit(order, exec_type, None)

    def _emit(self, order: Order, exec_type: str, fill: Fill | None) -> None:
        self.events.append(
            ExecutionEvent(
                account=order.account,
                order=order.snapshot(),
                execution_type=exec_type,
                fill=fill,
                time=self.clock(),
            )
        )

    def _trade(
        self,
        book: _Book,
        taker: Order | None,
        maker: Order | None,
        price: Decimal,
        qty: Decimal,
        *,
        taker_is_order: bool,
    ) -> list[Fill]:
        """Settle one trade; ``None`` on a side means the synthetic market."""
        spec = book.spec
        now = self.clock()
        quote_qty = price * qty
        fills: list[Fill] = []
        trade_id = book.next_trade_id
        book.next_trade_id += 1
        for order, is_maker in ((taker, False), (maker, True)):
            if order is None:
                continue
            rate = self.maker_rate if is_maker else self.taker_rate
            if order.side is Side.BUY:
                commission = _q(qty * rate, spec.base_commission_precision)
                commission_asset = spec.base
                self._pay(order, spec.quote, quote_qty, price, qty)
                self._credit(order.account, spec.base, qty - commission)
            else:
                commission = _q(quote_qty * rate, spec.quote_commission_precision)
                commission_asset = spec.quote
                self._pay(order, spec.base, qty, price, qty)
                self._credit(order.account, spec.quote, quote_qty - commission)
            self._credit(FEE_ACCOUNT, commission_asset, commission)
            order.executed_qty += qty
            order.cummulative_quote_qty += quote_qty
            order.update_time = now
            if order.orig_qty and order.remaining <= 0:
                order.status = OrderStatus.FILLED
                self._release(order)
            else:
                order.status = OrderStatus.PARTIALLY_FILLED
            fill = Fill(
                trade_id=trade_id,
                order_id=order.order_id,
                client_order_id=order.client_order_id,
                account=order.account,
                symbol=spec.symbol,
                side=order.side,
                price=price,
                qty=qty,
                quote_qty=quote_qty,
                commission=commission,
                commission_asset=commission_asset,
                time=now,
                is_maker=is_maker,
            )
            self.fills.append(fill)
            fills.append(fill)
            self._emit(order, "TRADE", fill)
        # the synthetic market is the other side when one side is None
        user = taker if taker is not None else maker
        assert user is not None
        if taker is None or maker is None:
            if user.side is Side.BUY:
                self._credit(MARKET_ACCOUNT, spec.quote, quote_qty)
                self._credit(MARKET_ACCOUNT, spec.base, -qty)
            else:
                self._credit(MARKET_ACCOUNT, spec.base, qty)
                self._credit(MARKET_ACCOUNT, spec.quote, -quote_qty)
        if taker is not None and taker.side is Side.BUY:
            buyer_is_maker = False
        elif maker is not None and maker.side is Side.BUY:
            buyer_is_maker = True
        else:  # the synthetic market bought: it is the maker when the user took
            buyer_is_maker = maker is None
        self.public_trades.append(
            PublicTrade(
                symbol=spec.symbol,
                trade_id=trade_id,
                price=price,
                qty=qty,
                time=now,
                buyer_is_maker=buyer_is_maker,
            )
        )
        return fills

    def _pay(self, order: Order, asset: str, amount: Decimal, price: Decimal, qty: Decimal) -> None:
        """Take ``amount`` of ``asset`` from the order's lock (if any) or free balance."""
        bal = self._bal(order.account, asset)
        if order.locked_asset == asset and order.locked > 0:
            if order.side is Side.BUY and order.type.has_limit_price:
                # the lock was priced at the limit; a better price gives the rest back
                release = min(order.locked, order.price * qty)
            else:
                release = min(order.locked, amount)
            order.locked -= release
            bal.locked -= release
            bal.free += release
        if amount > bal.free:  # pragma: no cover - guarded by the affordability checks
            raise _insufficient()
        bal.free -= amount
        self._touch(order.account, asset)

    def _credit(self, account: str, asset: str, amount: Decimal) -> None:
        self._bal(account, asset).free += amount
        self._touch(account, asset)

    # ----------------------------------------------------------------- cancel
    def cancel_order(
        self,
        account: str,
        symbol: str,
        *,
        order_id: int | None = None,
        client_order_id: str | None = None,
        cancel_client_order_id: str | None = None,
    ) -> Order:
        order = self._find(account, symbol, order_id, client_order_id)
        if order is None or not order.status.is_open:
            raise VenueError(-2011, "Unknown order sent.")
        book = self.book(symbol)
        self._remove_resting(book, order)
        order.cancel_client_order_id = cancel_client_order_id
        self._finish(order, OrderStatus.CANCELED, "CANCELED")
        self._flush_balance_events()
        return order

    # ----------------------------------------------------------------- price path
    def _refresh_synthetic(self, book: _Book, center: Decimal | None = None) -> None:
        spec = book.spec
        liq = self.liquidity
        p = center if center is not None else book.last
        h = liq.half_spread_bps / Decimal(10000)
        tick = spec.tick_size
        bid = _floor_to(p * (1 - h), tick)
        if bid >= p:
            bid = _floor_to(p, tick) - tick if _floor_to(p, tick) == p else _floor_to(p, tick)
        ask = _ceil_to(p * (1 + h), tick)
        if ask <= p:
            ask = _ceil_to(p, tick) + tick if _ceil_to(p, tick) == p else _ceil_to(p, tick)
        gap = tick * liq.level_step_ticks
        book.syn_bids = []
        book.syn_asks = []
        for i in range(liq.levels):
            for price, levels in ((bid - gap * i, book.syn_bids), (ask + gap * i, book.syn_asks)):
                if price <= 0:
                    continue
                if liq.level_qty is not None:
                    qty = liq.level_qty
                else:
                    qty = _floor_to(liq.depth_notional / price, spec.step_size)
                levels.append(_Level(price=price, qty=qty))

    def apply_bar(self, symbol: str, bar: Bar) -> None:
        """Walk the market through one bar (gap to its open, then its path)."""
        book = self.book(symbol)
        liq = self.liquidity
        book.bar_budget = (
            (liq.participation * bar.volume) if liq.participation is not None else None
        )
        points = bar.path()
        self._move(book, points[0], gap=True)
        for p in points[1:]:
            self._move(book, p, gap=False)
        book.bar_budget = None
        self._flush_balance_events()

    def set_price(self, symbol: str, price: Decimal, *, gap: bool = False) -> None:
        """Move the market to ``price`` (one segment of the path)."""
        book = self.book(symbol)
        self._move(book, price, gap=gap)
        self._flush_balance_events()

    def _move(self, book: _Book, target: Decimal, *, gap: bool) -> None:
        start = book.last
        if target == start:
            # nothing is crossed; only a touch at exactly this price may be pending
            self._sweep_touch(book, target)
            book.last = target
            self._refresh_synthetic(book)
            return
        up = target > start
        heap: list[tuple[Decimal, int, int, Order]] = []
        counter = itertools.count()

        def push(order: Order, at: Decimal) -> None:
            heapq.heappush(heap, (at if up else -at, order.seq, next(counter), order))

        def in_range(x: Decimal) -> bool:
            return start <= x <= target if up else target <= x <= start

        for o in book.asks if up else book.bids:
            if (o.price <= target) if up else (o.price >= target):
                push(o, max(o.price, start) if up else min(o.price, start))
        for o in list(book.stops):
            if self._stop_rises(o.side, o.type) == up and in_range(o.stop_price):
                push(o, o.stop_price)
        hit_side = Side.SELL if up else Side.BUY
        while heap:
            key, _, _, order = heapq.heappop(heap)
            at = key if up else -key
            if not order.status.is_open:
                continue
            if order.type.is_stop and not order.is_working:
                exec_price = target if gap else at
                self._trigger(book, order, exec_price)
                if (
                    order.status.is_open
                    and order.side is hit_side
                    and order in (book.bids + book.asks)
                    and ((order.price <= target) if up else (order.price >= target))
                ):
                    push(
                        order, max(order.price, exec_price) if up else min(order.price, exec_price)
                    )
                continue
            if order in book.bids or order in book.asks:
                fill_price = order.price
                if gap:  # a gap fills a crossed limit at the open when that is better
                    fill_price = (
                        min(order.price, target)
                        if order.side is Side.BUY
                        else max(order.price, target)
                    )
                self._fill_resting(book, order, fill_price)
        book.last = target
        self._refresh_synthetic(book)

    def _sweep_touch(self, book: _Book, price: Decimal) -> None:
        for o in list(book.bids):
            if o.price >= price:
                self._fill_resting(book, o, o.price)
        for o in list(book.asks):
            if o.price <= price:
                self._fill_resting(book, o, o.price)

    def _fill_resting(
        self, book: _Book, order: Order, price: Decimal, qty: Decimal | None = None
    ) -> list[Fill]:
        take = order.remaining if qty is None else min(qty, order.remaining)
        if book.bar_budget is not None:
            take = min(take, _floor_to(book.bar_budget, book.spec.step_size))
        if take <= 0:
            return []
        if book.bar_budget is not None:
            book.bar_budget -= take
        fills = self._trade(book, None, order, price, take, taker_is_order=False)
        if order.remaining <= 0:
            self._remove_resting(book, order)
        return fills

    def _trigger(self, book: _Book, order: Order, at: Decimal) -> None:
        """A stop's price was reached: it starts working at market price ``at``."""
        book.stops.remove(order)
        order.is_working = True
        order.working_time = self.clock()
        self._release(order)
        self._emit(order, "NEW", None)
        saved = book.last
        book.last = at
        self._refresh_synthetic(book, at)
        try:
            if order.type.has_limit_price:
                try:
                    self._check_limit_affordable(book, order, dry=False)
                except VenueError:
                    self._finish(order, OrderStatus.EXPIRED, "EXPIRED")
                    return
            elif (
                order.side is Side.SELL
                and order.remaining > self.balance(order.account, book.spec.base)[0]
            ):
                self._finish(order, OrderStatus.EXPIRED, "EXPIRED")
                return
            self._execute(book, order)
        finally:
            book.last = saved

    def external_fill(
        self, symbol: str, order_id: int, qty: Decimal | None = None, price: Decimal | None = None
    ) -> list[Fill]:
        """An outside counterparty takes (part of) a resting order at its price."""
        book = self.book(symbol)
        order = self.orders[book.spec.symbol].get(order_id)
        if (
            order is None
            or not order.status.is_open
            or (order not in book.bids and order not in book.asks)
        ):
            raise VenueError(-2011, "Unknown order sent.")
        if qty is not None and (qty <= 0 or not _on_grid(qty, ZERO, book.spec.step_size)):
            raise VenueError(-1013, "Filter failure: LOT_SIZE")
        fills = self._fill_resting(book, order, price if price is not None else order.price, qty)
        self._flush_balance_events()
        return fills


def quantize_down(value: Decimal, step: Decimal) -> Decimal:
    """``value`` rounded toward zero to ``step`` (helper for callers)."""
    if step <= 0:
        return value
    return (value / step).to_integral_value(rounding=ROUND_DOWN) * step


def iter_fills(fills: Sequence[Fill], order_id: int) -> Iterator[Fill]:
    return (f for f in fills if f.order_id == order_id)
