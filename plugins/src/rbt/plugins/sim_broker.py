"""The simulated broker: matches open orders against each new bar.

Timing (Zipline's, design.md §2.1a.1): an order placed on bar *t* is matched
from bar *t+1* on. A bar without data or with zero volume fills nothing and the
order keeps working (IOC and FOK orders end there, see below). The slippage
model decides how much fills (volume caps) and at what price, starting from the
*base price* of the table below; the commission model what it costs. Within a
bar, orders are matched oldest first and share the bar's volume cap per asset.

Order types — trigger and base price on the bar ``(O, H, L, C)`` (buys; sells
mirror: swap H/L, min/max and the inequalities):

===================  ================================  ===================================
type                 fills on a bar when               base price
===================  ================================  ===================================
market               always                            ``C`` (``next_close``, Zipline's) or
                                                       ``O`` (``next_open``)
limit ``L``          ``L_ <= L`` (the low reaches it)  ``min(O, L)``: a gap down through
                                                       the limit fills at the better open
stop ``S``           triggers when ``H >= S``          ``max(O, S)``: a gap up through the
                                                       stop fills at the worse open; once
                                                       triggered it is a market order
stop-limit ``S, L``  triggers when ``H >= S``; then    on the trigger bar ``max(O, S)`` if
                     a limit order at ``L``            that is ``<= L``, else no fill on
                                                       that bar; later bars as a limit
trailing stop        a stop whose trigger follows the  as a stop
(amount ``a`` or     market: placed at last close
percent ``p``)       ``+ a`` (``× (1 + p)``), lowered
                     to ``L_ + a`` after every bar
===================  ================================  ===================================

(``L_`` is the bar's low.) The slippage model moves the base price against the
order, but a limit order never fills beyond its limit price: the slipped price
is capped at ``L`` (a passive fill at the limit pays no slippage). Prices of a
trailing stop are on the tick grid, rounded so it triggers later, never earlier.
A trailing stop is checked against the trigger as of the bar's start, then
ratchets with that bar's extreme (the order of high and low inside a bar is
unknown, so a bar never both raises and hits the trigger). Fills at stop and
limit prices are inside ``[L_, H]``; only slippage can move a price outside.

Time in force:

* **GTC** (default, Zipline's): works until filled or cancelled.
* **DAY**: works for the session of the first bar it may match (for daily bars:
  the next session) and expires at that session's close (``DAY`` reason).
* **GTD** ``good_till``: like GTC, expires after the close of ``good_till``.
* **IOC**: matched on its first eligible bar only; what cannot fill then
  (volume cap, price not reached, no bar, zero volume) expires (``IOC``...).
* **FOK**: as IOC, but all or nothing: unless the whole order fills on that
  bar, nothing fills and it expires (``FOK``).

Links:

* **OCO group** (``oco_group``): the first fill of any member cancels the
  other members (``OCO`` reason). When one bar could fill several members,
  a member the bar *opened* through fills first; otherwise stops before limits
  (the adverse case is assumed).
* **Bracket**: an entry plus a take-profit limit and a stop-loss, placed
  together (``rbt.finance.execution.BracketOrder``). The exits carry
  ``parent_id`` and share an OCO group; they are inactive until the entry
  fills and then work, from the next bar on, for the quantity the entry has
  filled so far minus what the exits already filled. When the entry ends
  without any fill, the exits are cancelled; when the entry is done and the
  exits have closed its whole quantity, the remaining exit is cancelled.
* **Cancel and replace** (``rbt.api.replace_order``): the old order is
  cancelled and a new one placed with ``replaces`` pointing at it. The
  simulator cancels at once, so the replacement never overlaps; a live venue's
  fill can race the cancel (then both may fill — the state machine allows it).

Reasons are ``"CODE: message"`` (codes in :class:`rbt.kernel.orders.ReasonCode`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any

import attrs

from rbt.data.portal import BarPortal
from rbt.finance.commission import NoCommission
from rbt.finance.slippage import NoSlippage
from rbt.kernel import hookimpl
from rbt.kernel.broker import BrokerEvents, TakeRow
from rbt.kernel.costs import BarSnapshot, CommissionModel, SlippageModel
from rbt.kernel.errors import ConfigError
from rbt.kernel.model import (
    MARKET,
    Asset,
    AssetClass,
    Fill,
    Order,
    OrderType,
    TimeInForce,
    new_fill,
    new_order,
    replace_order,
)
from rbt.kernel.numeric import ZERO, ledger_context, quantize
from rbt.kernel.orders import OrderEventKind, ReasonCode, reason, validate_market
from rbt.kernel.registry import Provider, ProviderKind

__all__ = ["FILL_TIMINGS", "SimBroker"]

#: Fill-model names and the bar field they take the reference price from.
FILL_TIMINGS = {"next_close": "close", "next_open": "open"}

_SUPPORTED = frozenset(OrderType)
#: Values of ``RBT_ORDER_ROWS`` that turn rows off (every order an Order from the start).
_OFF = ("off", "0", "false", "no")
_STOPS = (OrderType.STOP, OrderType.STOP_LIMIT, OrderType.TRAILING_STOP)


class SimBroker:
    """A backtest broker over a :class:`~rbt.data.portal.BarPortal`.

    :param portal: the run's data portal (already advanced to the bar).
    :param commission: commission model (the default for every asset class).
    :param slippage: slippage model (the default for every asset class).
    :param fill_timing: ``"next_close"`` or ``"next_open"``.

    ``commission_by_class`` / ``slippage_by_class`` map an
    :class:`~rbt.kernel.model.AssetClass` to the model its assets use instead.
    """

    name = "sim"

    def __init__(
        self,
        portal: BarPortal,
        *,
        commission: CommissionModel,
        slippage: SlippageModel,
        fill_timing: str = "next_close",
    ) -> None:
        try:
            self._price_field = FILL_TIMINGS[fill_timing]
        except KeyError:
            raise ConfigError(
                f"unknown fill timing {fill_timing!r}; choose one of: {', '.join(FILL_TIMINGS)}"
            ) from None
        self.portal = portal
        self.commission = commission
        self.slippage = slippage
        self.commission_by_class: dict[AssetClass, CommissionModel] = {}
        self.slippage_by_class: dict[AssetClass, SlippageModel] = {}
        self.fill_timing = fill_timing
        self._events: BrokerEvents | None = None
        self._working: dict[str, Order] = {}
        self._fill_seq: dict[str, int] = {}
        self._matched_row = -1
        # state of orders that are not plain GTC market orders
        self._special: set[str] = set()
        self._session: dict[str, Any] = {}  # DAY/IOC/FOK: session of the first eligible bar
        self._triggered: set[str] = set()  # stops and stop-limits that triggered
        self._trail: dict[str, Decimal] = {}  # trailing stops: current trigger
        self._groups: dict[str, list[str]] = {}  # OCO group -> member ids
        self._children: dict[str, list[str]] = {}  # bracket entry -> exit ids
        self._known: dict[str, Order] = {}  # broker-side state of bracket entries and exits
        # fills of plain orders on the bar being matched, for a sink that books them
        # together (BooksFillBatches); None: each fill is reported as it happens
        self._batch: list[Fill] | None = None
        # plain market orders worked as rows (take_row), oldest first: (id, asset, column,
        # amount, created); only while no order works as an Order (then they become ones)
        self._market_rows: list[tuple[str, Asset, int, Decimal, int]] = []
        # RBT_ORDER_ROWS (read at connect: per run): the free plain market path, rows and
        # all; off, every order is an Order and every fill goes through _match
        self._fast_market = True

    def connect(self, events: BrokerEvents) -> None:
        """Report to ``events``."""
        self._events = events
        self._fast_market = os.environ.get("RBT_ORDER_ROWS", "on").lower() not in _OFF

    # -- orders -------------------------------------------------------------------
    def submit(self, order: Order) -> None:
        """Accept ``order``; it is matched from the next bar on."""
        events = self._require_events()
        rejection = self._take(order)
        if rejection is None:
            events.order_event(order.id, OrderEventKind.ACCEPT, self.portal.now)
        else:
            events.order_event(order.id, OrderEventKind.REJECT, self.portal.now, rejection)

    @property
    def accept_or_reject(self) -> Callable[[Order], str | None] | None:
        """The decision :meth:`submit` reports, for a session that records it itself
        (:class:`~rbt.kernel.broker.DecidesAtOnce`); None for a subclass that submits
        otherwise (a paper broker's latency, say)."""
        return self._take if type(self).submit is SimBroker.submit else None

    @property
    def take_row(self) -> TakeRow | None:
        """Work a plain market order as a row (:class:`~rbt.kernel.broker.WorksRows`):
        while no other order works, for an asset in the bundle without a minimum notional.
        None for a subclass, and with ``RBT_ORDER_ROWS=off``.

        Rows are matched as rows when every fill is free (no slippage, no commission);
        otherwise they become orders at the next bar, before it is matched."""
        if type(self) is not SimBroker or not self._fast_market:
            return None
        return self._take_row

    def _take_row(
        self, order_id: str, asset: Asset, amount: Decimal, created: int, session_label: Any
    ) -> bool:
        if self._working or asset.min_notional > 0:
            return False
        try:
            col = self.portal.bars.column(asset)
        except KeyError:
            return False  # rejected as an Order (NO_DATA)
        if validate_market(asset, amount, session_label) is not None:
            return False  # denied as an Order, with its reason
        self._market_rows.append((order_id, asset, col, amount, created))
        return True

    def _market_rows_to_orders(self) -> None:
        """Work the rows as orders from now on (oldest first: nothing else works); without
        rows, nothing to do."""
        if not self._market_rows:
            return
        for oid, asset, _col, amount, created in self._market_rows:
            self._working[oid] = new_order(oid, asset, amount, created, MARKET)
        self._market_rows = []

    def _take(self, order: Order) -> str | None:
        """Start working ``order`` (None) or say why it is rejected (nothing kept)."""
        self._market_rows_to_orders()
        style = order.style
        if style.type not in _SUPPORTED:  # pragma: no cover - every kernel type is supported
            return reason(ReasonCode.UNSUPPORTED, f"{style.type.value} orders are not simulated")
        try:
            self.portal.bars.column(order.asset)
        except KeyError:
            return reason(ReasonCode.NO_DATA, f"{order.asset!r} has no data in this bundle")
        if style is MARKET:  # the shared plain market style: nothing else to check or track
            self._working[order.id] = order
            return None
        parent = self._known.get(style.parent_id) if style.parent_id else None
        if style.parent_id is not None and parent is None:
            return reason(ReasonCode.BRACKET, f"unknown bracket entry {style.parent_id}")
        last: Decimal | None = None
        if style.type is OrderType.TRAILING_STOP:
            last = self.portal.exact_price(order.asset, "close")
            if last is None:
                return reason(ReasonCode.NO_DATA, "a trailing stop needs a last price to trail")
        self._working[order.id] = order
        if style.is_plain_market:
            return None
        self._special.add(order.id)
        if style.type is OrderType.TRAILING_STOP:
            self._trail[order.id] = self._trail_level(order, last, None)
        if style.oco_group is not None:
            self._groups.setdefault(style.oco_group, []).append(order.id)
        if style.parent_id is not None:
            self._children.setdefault(style.parent_id, []).append(order.id)
            self._known[order.id] = order
        return None

    def register_bracket_entry(self, order_id: str) -> None:
        """Mark ``order_id`` as a bracket entry, before its exits are submitted."""
        self._market_rows_to_orders()
        order = self._working.get(order_id)
        if order is not None:
            self._special.add(order_id)
            self._known[order_id] = order
            self._children.setdefault(order_id, [])

    def cancel(self, order_id: str) -> None:
        """Cancel a working order at once."""
        self._market_rows_to_orders()
        self._end(order_id, OrderEventKind.CANCEL, "")

    def open_orders(self) -> list[Order]:
        """Orders still working."""
        self._market_rows_to_orders()
        return list(self._working.values())

    def _end(self, order_id: str, kind: OrderEventKind, text: str) -> None:
        """Stop working ``order_id`` (cancel or expire) and report it."""
        order = self._working.pop(order_id, None)
        if order is None:
            return
        self._fill_seq.pop(order_id, None)  # a partly filled order fills no more
        self._require_events().order_event(order_id, kind, self.portal.now, text)
        self._forget(order)
        self._after_end(order)

    def _forget(self, order: Order) -> None:
        oid = order.id
        if oid not in self._special:
            return
        self._special.discard(oid)
        self._session.pop(oid, None)
        self._triggered.discard(oid)
        self._trail.pop(oid, None)
        group = order.style.oco_group
        if group is not None:
            members = self._groups.get(group)
            if members is not None and oid in members:
                members.remove(oid)
                if not members:
                    del self._groups[group]

    def _after_end(self, order: Order) -> None:
        """Bracket bookkeeping when an entry or an exit stops working."""
        oid = order.id
        if oid in self._children:  # an entry ended
            if order.filled == 0:
                for child in list(self._children[oid]):
                    self._end(
                        child,
                        OrderEventKind.CANCEL,
                        reason(ReasonCode.BRACKET, f"entry {oid} ended without a fill"),
                    )
            else:
                self._close_bracket_if_done(oid)
        parent = order.style.parent_id
        if parent is not None:
            self._close_bracket_if_done(parent)

    def _exit_capacity(self, parent_id: str) -> Decimal:
        """Quantity the exits of a bracket may still close (absolute)."""
        parent = self._known[parent_id]
        closed = sum((abs(self._known[c].filled) for c in self._children[parent_id]), ZERO)
        return abs(parent.filled) - closed

    def _close_bracket_if_done(self, parent_id: str) -> None:
        if parent_id in self._working or parent_id not in self._known:
            return  # the entry may still fill: its exits keep working
        if self._exit_capacity(parent_id) > 0:
            return
        for child in list(self._children.get(parent_id, ())):
            if child in self._working:
                self._end(
                    child,
                    OrderEventKind.CANCEL,
                    reason(ReasonCode.BRACKET, f"the exits closed all of entry {parent_id}"),
                )

    # -- matching -------------------------------------------------------------------
    def on_bar(self, ts: int) -> None:
        """Match working orders placed before ``ts`` against the bar at the cursor."""
        row = self.portal.row
        if row == self._matched_row:
            return  # no new bar (a session missing from the data): never re-match the old one
        self._matched_row = row  # matched even when idle: a later order waits for a new row
        if self._market_rows and row >= 0:
            book = getattr(self._events, "book_fills", None)
            if book is not None and self._free() and self._match_market_rows(row, ts, book):
                return  # nothing else works meanwhile
            self._market_rows_to_orders()  # fills priced by models or reported one by one
        if not self._working or row < 0:
            return
        bars = self.portal.bars
        volumes = bars.floats["volume"]
        closes_now, volumes_now = bars.floats["close"][row], volumes[row]
        used: dict[int, Decimal] = {}
        special = self._special
        session = bars.sessions[row] if special else None
        capacity: dict[str, Decimal] = {}
        if self._children:  # exits work for what the entry filled *before* this bar
            capacity = {p: self._exit_capacity(p) for p in self._children if p in self._known}
        # the plain orders' fills go to the sink together when it takes them so
        # (BooksFillBatches), reported before anything else is
        book = self._batches()
        free = self._fast_market and type(self)._match is SimBroker._match and self._free()
        working, fill_seq, field = self._working, self._fill_seq, self._price_field
        try:
            for order in self._ordered(list(working.values()), row):
                oid = order.id
                if oid not in working or order.created >= ts:
                    continue
                order = working[oid]  # an earlier fill this bar may have changed it
                col = bars.column(order.asset)
                if oid not in special:  # plain GTC market order: the hot path
                    close = closes_now.item(col)  # NaN: no bar (BarArrays.has_bar)
                    if close != close or not volumes_now.item(col) > 0:
                        continue
                    base = bars.exact(field, row, col)
                    batch = self._batch
                    if free and batch is not None:
                        amount = order.open_amount
                        if order.filled + amount == order.amount:
                            # _match's fill, which leaves it done: neither kept nor counted
                            seq = fill_seq.pop(oid, 0) + 1
                            del working[oid]
                            batch.append(_free_fill(oid, seq, order.asset, amount, base, ts))
                            continue
                    self._match(order, None, base, used, ts, row=row, col=col)
                    continue
                if book is not None:
                    self._flush(book)
                self._match_special(order, row, col, session, used, ts, capacity)
                book = self._batches()  # its reports ran handlers: one may watch fills now
            if book is not None:
                self._flush(book)
        except BaseException:
            if book is not None:  # what filled before the failure is reported, as one by one
                self._flush(book)
            raise
        finally:
            self._batch = None
        if special:
            self._expire_at_close(row, session)

    def _match_market_rows(self, row: int, ts: int, book: Callable[[Sequence[Fill]], None]) -> bool:
        """The free fills of the rows placed before ``ts`` whose asset has a bar with volume
        at ``row`` (what the plain order path gives them), booked together. False when a
        row's open amount does not come out whole (rounded by a Decimal context too narrow
        for it): the fills before it are booked, and the caller matches the rest as orders."""
        bars = self.portal.bars
        closes, volumes = bars.floats["close"][row], bars.floats["volume"][row]
        price = bars.exact_in_row(self._price_field, row)
        fills: list[Fill] = []
        waiting = []
        rows = self._market_rows
        whole = True
        for i, item in enumerate(rows):
            oid, asset, col, amount, created = item
            close = closes.item(col)  # NaN: no bar
            if created >= ts or close != close or not volumes.item(col) > 0:
                waiting.append(item)
                continue
            open_amount = amount - ZERO  # as Order.open_amount (nothing filled yet) gives it
            if open_amount != amount:
                waiting += rows[i:]
                whole = False
                break
            fills.append(_free_fill(oid, 1, asset, open_amount, price(col), ts))
        self._market_rows = waiting
        if fills:
            book(fills)
        return whole

    def _free(self) -> bool:
        """Whether every asset fills without slippage or commission (the whole open amount
        at the base price, commission zero): :meth:`_match`'s result known in advance."""
        return (
            self.slippage.__class__ is NoSlippage
            and self.commission.__class__ is NoCommission
            and not self.slippage_by_class
            and not self.commission_by_class
        )

    def _batches(self) -> Callable[[Sequence[Fill]], None] | None:
        # the sink's book_fills now (None: each fill reported as it happens), and a new batch
        book: Callable[[Sequence[Fill]], None] | None = getattr(self._events, "book_fills", None)
        self._batch = [] if book is not None else None
        return book

    def _flush(self, book: Callable[[Sequence[Fill]], None]) -> None:
        batch = self._batch
        if batch:
            self._batch = []  # emptied first: a failing book() is not retried with the same
            book(batch)

    def _ordered(self, orders: list[Order], row: int) -> list[Order]:
        """Oldest first; within an OCO group, the member this bar fills first leads."""
        if not self._groups:
            return orders
        bars = self.portal.bars
        first: dict[str, int] = {}
        for i, order in enumerate(orders):
            group = order.style.oco_group
            if group is not None:
                first.setdefault(group, i)

        def key(item: tuple[int, Order]) -> tuple[int, int, int]:
            i, order = item
            group = order.style.oco_group
            if group is None:
                return (i, 0, 0)
            col = bars.column(order.asset)
            gap = 0
            if bars.has_bar(row, col):
                o = bars.exact("open", row, col)
                gap = 0 if self._opens_through(order, o) else 1
            stop_first = 0 if order.style.type in _STOPS else 1
            return (first[group], gap, stop_first)

        return [o for _, o in sorted(enumerate(orders), key=key)]

    def _opens_through(self, order: Order, open_: Decimal) -> bool:
        style, buy = order.style, order.amount > 0
        if style.type is OrderType.LIMIT and style.limit_price is not None:
            return open_ <= style.limit_price if buy else open_ >= style.limit_price
        stop = self._trail.get(order.id, style.stop_price)
        if style.type in _STOPS and stop is not None:
            return open_ >= stop if buy else open_ <= stop
        return False

    def _match_special(
        self,
        order: Order,
        row: int,
        col: int,
        session: Any,
        used: dict[int, Decimal],
        ts: int,
        capacity: dict[str, Decimal],
    ) -> None:
        oid, style = order.id, order.style
        tif = style.time_in_force
        bars = self.portal.bars
        if tif is not TimeInForce.GTC:
            first = self._session.setdefault(oid, session)
            if tif is TimeInForce.DAY and session != first:
                return self._end(
                    oid,
                    OrderEventKind.EXPIRE,
                    reason(ReasonCode.DAY, f"day order ended with its session {first}"),
                )
            good_till = style.good_till
            if tif is TimeInForce.GTD and good_till is not None and session.item() > good_till:
                return self._end(
                    oid, OrderEventKind.EXPIRE, reason(ReasonCode.GTD, f"good till {good_till}")
                )
        immediate = tif in (TimeInForce.IOC, TimeInForce.FOK)
        limit_to: Decimal | None = None
        if style.parent_id is not None:
            room = capacity.get(style.parent_id, ZERO)
            if room <= 0:
                return None  # nothing of the entry to close yet (or the other exit did)
            limit_to = min(room, abs(order.open_amount))
        if not bars.has_bar(row, col):
            if immediate:
                self._end(
                    oid,
                    OrderEventKind.EXPIRE,
                    reason(ReasonCode.NO_BAR, f"{tif.value.upper()}: {order.asset!r} has no bar"),
                )
            return None
        if not self.portal.bars.floats["volume"][row, col] > 0:
            if immediate:
                self._end(
                    oid,
                    OrderEventKind.EXPIRE,
                    reason(ReasonCode.NO_VOLUME, f"{tif.value.upper()}: the bar has no volume"),
                )
            return None
        snapshot = _snapshot(bars, row, col)
        base, cap = self._base_price(order, snapshot)
        if style.type is OrderType.TRAILING_STOP and oid not in self._triggered:
            self._trail[oid] = self._trail_level(order, None, snapshot)
        if base is None:
            if immediate:
                self._end(
                    oid,
                    OrderEventKind.EXPIRE,
                    reason(ReasonCode.NOT_TRIGGERED, f"{tif.value.upper()}: price not reached"),
                )
            return None
        match_order = order
        if limit_to is not None and limit_to < abs(order.open_amount):
            match_order = attrs.evolve(order, amount=order.filled + limit_to * order.direction)
        filled = self._match(
            match_order, snapshot, base, used, ts, cap=cap, fok=tif is TimeInForce.FOK, real=order
        )
        if filled and style.parent_id is not None:
            capacity[style.parent_id] -= abs(filled)
        if oid in self._working:
            if tif is TimeInForce.FOK and not filled:
                self._end(
                    oid,
                    OrderEventKind.EXPIRE,
                    reason(
                        ReasonCode.FOK, "fill-or-kill: the whole quantity could not fill on the bar"
                    ),
                )
            elif tif is TimeInForce.IOC:
                self._end(
                    oid,
                    OrderEventKind.EXPIRE,
                    reason(ReasonCode.IOC, "immediate-or-cancel: the unfilled rest is cancelled"),
                )
        return None

    def _base_price(self, order: Order, bar: BarSnapshot) -> tuple[Decimal | None, Decimal | None]:
        """(base price, limit cap) of ``order`` on ``bar``; base None when it does not fill."""
        style, buy, oid = order.style, order.amount > 0, order.id
        kind = style.type
        o, h, low = bar.open, bar.high, bar.low
        market = o if self._price_field == "open" else bar.close
        if kind is OrderType.MARKET:
            return market, None
        if kind is OrderType.LIMIT:
            limit = style.limit_price
            assert limit is not None
            if buy:
                return (min(o, limit) if low <= limit else None), limit
            return (max(o, limit) if h >= limit else None), limit
        if kind in (OrderType.STOP, OrderType.TRAILING_STOP):
            if oid in self._triggered:
                return market, None  # triggered earlier: a market order now
            stop = self._trail[oid] if kind is OrderType.TRAILING_STOP else style.stop_price
            assert stop is not None
            if buy and h >= stop:
                self._triggered.add(oid)
                return max(o, stop), None
            if not buy and low <= stop:
                self._triggered.add(oid)
                return min(o, stop), None
            return None, None
        # stop-limit
        limit, stop = style.limit_price, style.stop_price
        assert limit is not None
        assert stop is not None
        if oid in self._triggered:  # a limit order now
            if buy:
                return (min(o, limit) if low <= limit else None), limit
            return (max(o, limit) if h >= limit else None), limit
        if buy and h >= stop:
            self._triggered.add(oid)
            trigger = max(o, stop)
            return (trigger if trigger <= limit else None), limit
        if not buy and low <= stop:
            self._triggered.add(oid)
            trigger = min(o, stop)
            return (trigger if trigger >= limit else None), limit
        return None, None

    def _trail_level(self, order: Order, last: Decimal | None, bar: BarSnapshot | None) -> Decimal:
        """The trailing stop's trigger from ``last`` (placement) or after ``bar`` (ratchet)."""
        style, buy = order.style, order.amount > 0
        tick = order.asset.tick_size
        with ledger_context():
            if bar is not None:
                ref = bar.low if buy else bar.high
            else:
                assert last is not None
                ref = last
            if style.trail_amount is not None:
                level = ref + style.trail_amount if buy else ref - style.trail_amount
            else:
                assert style.trail_percent is not None
                level = ref * (1 + style.trail_percent) if buy else ref * (1 - style.trail_percent)
            # rounded so it triggers later: buy stops up, sell stops down
            level = quantize(level, tick, ROUND_CEILING if buy else ROUND_FLOOR)
            if bar is None:
                return level
            current = self._trail[order.id]
            return min(current, level) if buy else max(current, level)

    def _match(
        self,
        order: Order,
        snapshot: BarSnapshot | None,
        base: Decimal,
        used: dict[int, Decimal],
        ts: int,
        *,
        cap: Decimal | None = None,
        fok: bool = False,
        real: Order | None = None,
        row: int = -1,
        col: int = -1,
    ) -> Decimal:
        """Fill ``order`` on the bar through the slippage and commission models.

        Returns the signed amount filled (zero for none). ``real`` is the order to book
        when ``order`` is a copy with a smaller amount (a bracket exit's room).
        ``snapshot`` None: the bar at ``(row, col)``, built only for a model that reads it.
        """
        asset = order.asset
        sid = asset.sid
        slippage = (
            self.slippage_by_class.get(asset.asset_class, self.slippage)
            if (self.slippage_by_class)
            else self.slippage
        )
        free = slippage.__class__ is NoSlippage
        if free:
            # NoSlippage.fill without the call: all of it at the base price. It reads
            # neither the bar nor the volume used, so no other order of the asset (same
            # model) needs this one's volume either.
            amount, price = order.open_amount, base
            if snapshot is None:
                snapshot = _NO_BAR
        else:
            if snapshot is None:
                snapshot = _snapshot(self.portal.bars, row, col)
            result = slippage.fill(order, snapshot, base, used.get(sid, ZERO))
            if result is None:
                return ZERO
            amount, price = result
        if amount == 0:
            return ZERO
        if fok and amount != order.open_amount:
            return ZERO
        if cap is not None:  # a limit order never fills beyond its limit
            price = min(price, cap) if amount > 0 else max(price, cap)
        order = real if real is not None else order
        commission_model = (
            self.commission_by_class.get(asset.asset_class, self.commission)
            if (self.commission_by_class)
            else self.commission
        )
        maker = getattr(commission_model, "calculate_liquidity", None)
        if maker is not None:
            passive = cap is not None and price == cap and snapshot.open != cap
            commission = maker(order, amount, price, passive=passive)
        else:
            commission = commission_model.calculate(order, amount, price)
        oid = order.id
        seq = self._fill_seq.get(oid, 0) + 1
        fill = new_fill(f"{oid}-f{seq}", oid, asset, amount, price, ts, commission)
        if not free:  # the volume the asset's next orders share
            used[sid] = used.get(sid, ZERO) + abs(amount)
        filled = order.filled + amount
        done = filled == order.amount
        if done:  # never fills again: its count is not kept (one entry per working order)
            self._fill_seq.pop(oid, None)
        else:
            self._fill_seq[oid] = seq
        tracked = oid in self._known or oid in self._special
        # the broker's copy of the order after this fill: only kept while it works on, or
        # for the bookkeeping of linked and timed orders (a plain order done: not needed)
        updated = (
            replace_order(order, filled=filled, commission=order.commission + commission)
            if tracked or not done
            else order
        )
        if done:
            del self._working[oid]
        else:
            self._working[oid] = updated
        if oid in self._known:
            self._known[oid] = updated
        batch = self._batch
        if batch is not None and oid not in self._special:
            batch.append(fill)
        else:
            self._require_events().fill(fill)
        if oid in self._special:
            self._after_fill(updated, done)
        return amount

    def _after_fill(self, order: Order, done: bool) -> None:
        group = order.style.oco_group
        if group is not None and order.style.parent_id is None:
            for other in list(self._groups.get(group, ())):
                if other != order.id:
                    self._end(
                        other,
                        OrderEventKind.CANCEL,
                        reason(ReasonCode.OCO, f"{order.id} of group {group!r} filled"),
                    )
        if done:
            self._forget(order)
            self._after_end(order)

    def _expire_at_close(self, row: int, session: Any) -> None:
        """End DAY orders (and GTD orders on their date) after their session's last bar."""
        bars = self.portal.bars
        if row + 1 < len(bars.sessions) and bars.sessions[row + 1] == session:
            return  # not the session's last bar
        label = session.item()
        for oid in list(self._special):
            order = self._working.get(oid)
            if order is None:
                continue
            style = order.style
            if style.time_in_force is TimeInForce.DAY and self._session.get(oid) == session:
                self._end(
                    oid,
                    OrderEventKind.EXPIRE,
                    reason(ReasonCode.DAY, f"day order ended with its session {label}"),
                )
            elif (
                style.time_in_force is TimeInForce.GTD
                and style.good_till is not None
                and label >= style.good_till
            ):
                self._end(
                    oid,
                    OrderEventKind.EXPIRE,
                    reason(ReasonCode.GTD, f"good till {style.good_till}"),
                )

    def close(self) -> None:
        """Nothing to release."""

    def _require_events(self) -> BrokerEvents:
        if self._events is None:
            raise RuntimeError("SimBroker.connect() must be called before use")
        return self._events


def _free_fill(
    order_id: str, seq: int, asset: Asset, amount: Decimal, price: Decimal, ts: int
) -> Fill:
    """What :meth:`SimBroker._match` gives under free models (:meth:`SimBroker._free`): all
    of the open ``amount`` at the base ``price``, no commission, the order's ``seq``-th fill."""
    return new_fill(f"{order_id}-f{seq}", order_id, asset, amount, price, ts, ZERO)


#: What :class:`NoSlippage` (which never reads the bar) is given instead of the bar.
_NO_BAR = BarSnapshot(open=ZERO, high=ZERO, low=ZERO, close=ZERO, volume=ZERO)


def _snapshot(bars: Any, row: int, col: int) -> BarSnapshot:
    o, h, low, c, v = bars.exact_bar(row, col)
    return BarSnapshot(open=o, high=h, low=low, close=c, volume=v)


@hookimpl
def rbt_register_brokers() -> Iterator[Provider]:
    """Register the simulated broker."""
    yield Provider(
        kind=ProviderKind.BROKER,
        name="sim",
        factory="rbt.plugins.sim_broker:SimBroker",
        summary="backtest broker: fills against bars with slippage and commission models",
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
            }
        ),
    )


@hookimpl
def rbt_register_fill_models() -> Iterator[Provider]:
    """Register the fill timings."""
    for name, field in FILL_TIMINGS.items():
        yield Provider(
            kind=ProviderKind.FILL_MODEL,
            name=name,
            factory=lambda f=name: f,
            summary=f"an order placed on a bar fills at the next bar's {field}",
        )
