"""The session: one run composed of clock, portal, broker, ledger and checks.

Backtest, paper and live trading differ only in the clock, data feed and
broker plugged in. The session advances one clock event at a time
(:meth:`Session.step`), so a synchronous backtest loop and an asyncio live
loop drive the same object. It is also the brokers' event sink: every order
change goes through the one state machine, every fill into the ledger, and
both onto the bus.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from functools import partial
from typing import TYPE_CHECKING, Any

from rbt.kernel.broker import Broker, ClientOrderIds, OrderTracker, TakeRow
from rbt.kernel.bus import EventBus
from rbt.kernel.clock import ClockEvent, ClockEventKind, ClockSegment, SimClock
from rbt.kernel.events import (
    BarClosed,
    BeforeTradingStart,
    OrderFilled,
    OrderUpdated,
    SessionClosed,
    SessionStarted,
    StrategyTurn,
)
from rbt.kernel.ledger import Ledger
from rbt.kernel.model import MARKET, Asset, Fill, Order, OrderStatus, OrderStyle, new_order
from rbt.kernel.orders import OrderEventKind, validation_check
from rbt.kernel.portal import DataPortal, advance_each

if TYPE_CHECKING:
    from rbt.kernel.manager import RbtPluginManager

__all__ = ["BookedHandler", "PreTradeCheck", "Session", "TurnHandler"]

#: A pre-trade check returns a denial reason, or None to let the order pass.
PreTradeCheck = Callable[[Order, "Session"], str | None]

#: The strategy's turn called directly: ``(bar end ts, session label)``.
TurnHandler = Callable[[int, Any], None]

#: The books' mirror told of fills just booked: ``(fills, position amount after each)``.
BookedHandler = Callable[[Sequence[Fill], Sequence[Decimal]], None]

_TURN_RANK = StrategyTurn.rank
_ACCEPTED = (OrderEventKind.SUBMIT, OrderEventKind.ACCEPT)
_REJECTED = (OrderEventKind.SUBMIT, OrderEventKind.REJECT)


class Session:
    """Compose the parts of one run and drive them event by event.

    :param portal: point-in-time data.
    :param broker: where orders go.
    :param ledger: the exact books.
    :param order_ids: client order id generator.
    :param checks: pre-trade checks; a denial never reaches the broker.
    :param manager: the plugin manager (lifecycle hooks), optional.
    """

    def __init__(
        self,
        *,
        portal: DataPortal,
        broker: Broker,
        ledger: Ledger,
        order_ids: ClientOrderIds,
        checks: Sequence[PreTradeCheck] = (),
        manager: RbtPluginManager | None = None,
        mark_field: str = "close",
    ) -> None:
        self.portal = portal
        self.broker = broker
        self.ledger = ledger
        self.order_ids = order_ids
        self.checks = list(checks)
        self.manager = manager
        self.bus = EventBus()
        self.orders = OrderTracker()
        self.fills: list[Fill] = []
        self.mark_field = mark_field
        self.now = 0
        self.session_label: Any = None
        #: The strategy's turn, called at every bar before the bus's StrategyTurn
        #: subscribers (the one per-bar handler every run has: no event object for it).
        self.turn: TurnHandler | None = None
        #: The strategy's view of the books (its portfolio), told of every booking right
        #: after the ledger and before OrderFilled subscribers: of a batch
        #: (:meth:`book_fills`) once, with the books as of its last fill.
        self.booked: BookedHandler | None = None
        broker.connect(self)
        # a broker that decides while an order is submitted (DecidesAtOnce), or None; not
        # for a subclass that hears the broker's reports or the state changes itself
        hears = type(self).order_event, type(self)._order_changed
        self._decide: Callable[[Order], str | None] | None = (
            getattr(broker, "accept_or_reject", None)
            if hears == (Session.order_event, Session._order_changed)
            else None
        )
        # a broker that works plain market orders as rows (WorksRows), with the same
        # condition and placing not overridden: the states between placing and accepting,
        # and the order itself, are nobody's to see
        self._take_row: TakeRow | None = (
            getattr(broker, "take_row", None)
            if self._decide is not None and type(self).place_order is Session.place_order
            else None
        )

    # -- driving ---------------------------------------------------------------
    def start(self) -> None:
        """Announce the session to plugins."""
        if self.manager is not None:
            self.manager.session_start(self)

    def step(self, event: ClockEvent) -> None:
        """Advance by one clock event, in the order documented in :mod:`rbt.kernel.events`."""
        kind = event.kind
        if kind is ClockEventKind.BAR:
            self._bars(advance_each(self.portal, (event.ts,)), event.session)
            return
        self.now = event.ts
        # every event moves the portal's clock (data.current_dt in before_trading_start is
        # that event's time); only a bar's own event makes the bar visible
        self.portal.advance(event.ts)
        if kind is ClockEventKind.SESSION_START:
            self.session_label = event.session
            self._announce(SessionStarted, event.ts, event.session)
        elif kind is ClockEventKind.BEFORE_TRADING_START:
            self._announce(BeforeTradingStart, event.ts, event.session)
        elif kind is ClockEventKind.SESSION_END:
            self.mark_positions()
            self._announce(SessionClosed, event.ts, event.session)

    def run(self, events: Iterable[ClockEvent]) -> None:
        """Drive the session through ``events`` and finish it (backtests).

        A :class:`~rbt.kernel.clock.SimClock` is walked session by session
        (:meth:`~rbt.kernel.clock.SimClock.segments`), without an event object per bar:
        the same steps, in the same order, as :meth:`step` takes. A clock that orders its
        own events (overrides ``__iter__``) or a session subclass with its own
        :meth:`step` gets every event through :meth:`step`.
        """
        self.start()
        outcome = "failed"
        try:
            if (
                type(self).step is Session.step
                and isinstance(events, SimClock)
                and type(events).__iter__ is SimClock.__iter__
            ):
                self._run_segments(events.segments())
            else:
                for event in events:
                    self.step(event)
            outcome = "completed"
        finally:
            self.finish(outcome)

    def _bars(self, times: Iterable[int], session: Any) -> None:
        """Bars' steps, the portal's cursor already at each of ``times`` as it is yielded:
        the broker matches, then the strategy decides (the per-bar fixed cost: an event
        nobody subscribes to is not built)."""
        bus = self.bus
        handlers = bus.handlers
        on_bar = self.broker.on_bar
        mark = bus.mark
        for ts in times:
            self.now = ts
            if BarClosed in handlers:
                bus.publish(BarClosed(ts, session))
            on_bar(ts)
            turn = self.turn
            if turn is not None:
                mark(ts, _TURN_RANK, "StrategyTurn")
                turn(ts, session)
            subscribers = handlers.get(StrategyTurn)
            if subscribers:
                bus.deliver(StrategyTurn(ts, session), subscribers)

    def _run_segments(self, segments: Iterable[ClockSegment]) -> None:
        """:meth:`step` of each segment's events, inlined: no ClockEvent, and no event
        object that nobody receives (a daily backtest's per-session fixed cost)."""
        # a portal that walks a session's bars (moving its cursor as it yields each) in
        # one go, or one advance() per bar
        walk: Callable[[Sequence[int]], Iterable[int]] = getattr(
            self.portal, "walk", None
        ) or partial(advance_each, self.portal)
        advance = self.portal.advance
        announce = self._announce
        for segment in segments:
            session, start = segment.session, segment.start
            # SESSION_START, then BEFORE_TRADING_START at the same time (the portal's
            # cursor already there: advancing to the current time moves nothing)
            self.now = start
            advance(start)
            self.session_label = session
            announce(SessionStarted, start, session)
            announce(BeforeTradingStart, start, session)
            self._bars(walk(segment.bars), session)
            close = segment.close
            self.now = close
            advance(close)
            self.mark_positions()
            announce(SessionClosed, close, session)

    def _announce(
        self,
        kind: type[SessionStarted | BeforeTradingStart | SessionClosed],
        ts: int,
        session: Any,
    ) -> None:
        # bus.publish(kind(ts, session)), the event built only for its subscribers
        bus = self.bus
        subscribers = bus.handlers.get(kind)
        if subscribers:
            bus.deliver(kind(ts, session), subscribers)
        else:
            bus.mark(ts, kind.rank, kind.__name__)

    def finish(self, outcome: str) -> None:
        """Close the broker, verify the ledger by replay and notify plugins."""
        self.broker.close()
        if outcome == "completed":
            self.ledger.verify_replay()
        if self.manager is not None:
            self.manager.session_finish(self, outcome)

    def mark_positions(self) -> None:
        """Value every open position at the portal's current exact price.

        A portal that can price "as of now" later (``deferred_exact_prices``, the
        backtest portal) lets the ledger defer the marks until a price is read.
        """
        deferred = getattr(self.portal, "deferred_exact_prices", None)
        pricer = deferred(self.mark_field) if deferred is not None else None
        if pricer is not None:
            self.ledger.defer_marks(pricer)
            return
        assets = [asset for asset, _amount, _last in self.ledger.iter_holdings()]
        if not assets:
            return
        for asset, price in zip(
            assets, self.portal.exact_prices(assets, self.mark_field), strict=True
        ):
            if price is not None:
                self.ledger.mark(asset, price)

    # -- orders ----------------------------------------------------------------
    def place_order(self, asset: Asset, amount: Decimal, style: OrderStyle) -> Order:
        """Create an order, run the pre-trade checks, and send it unless denied."""
        return self._place(self.order_ids.next(), asset, amount, style)

    def place_market_order(self, asset: Asset, amount: Decimal) -> str:
        """``place_order(asset, amount, MARKET).id``, the order built only when something
        reads it, while nothing else can see it meanwhile: the broker works it as a row
        (:class:`~rbt.kernel.broker.WorksRows`), the only check is
        :func:`~rbt.kernel.orders.validation_check`, nobody subscribes to ``OrderUpdated``,
        and neither :meth:`place_order` nor the state changes are overridden. Otherwise, and
        for an order the broker does not take so, as :meth:`place_order`.

        .. versionadded:: 0.1
        """
        take = self._take_row
        checks = self.checks
        if (
            take is None
            or len(checks) != 1
            or checks[0] is not validation_check
            or OrderUpdated in self.bus.handlers
        ):
            return self.place_order(asset, amount, MARKET).id
        order_id = self.order_ids.next()
        self.orders.add_row(order_id, asset, amount, self.now)  # a duplicate: before the broker
        if take(order_id, asset, amount, self.now, self.session_label):
            return order_id
        self.orders.discard_row(order_id)
        return self._place(order_id, asset, amount, MARKET).id

    def _place(self, order_id: str, asset: Asset, amount: Decimal, style: OrderStyle) -> Order:
        order = new_order(order_id, asset, amount, self.now, style)
        self.orders.add(order)
        for check in self.checks:
            reason = check(order, self)
            if reason is not None:
                return self._order_changed(order.id, OrderEventKind.DENY, reason)
        decide = self._decide
        if decide is not None and OrderUpdated not in self.bus.handlers:
            # nobody watches the states between: SUBMIT and the decision in one step
            rejection = decide(order)
            if rejection is None:
                return self.orders.advance(order.id, _ACCEPTED)
            return self.orders.advance(order.id, _REJECTED, rejection)
        order = self._order_changed(order.id, OrderEventKind.SUBMIT)
        self.broker.submit(order)
        return self.orders.get(order.id) or order

    def cancel_order(self, order_id: str) -> None:
        """Ask the broker to cancel an open order (ignored for closed ones)."""
        order = self.orders.get(order_id)
        if order is None:
            raise KeyError(f"unknown order id {order_id!r}")
        if order.is_open and order.status is not OrderStatus.PENDING_CANCEL:
            self._order_changed(order_id, OrderEventKind.CANCEL_REQUEST)
            self.broker.cancel(order_id)

    # -- broker event sink (BrokerEvents) -----------------------------------------
    def order_event(self, order_id: str, kind: OrderEventKind, ts: int, reason: str = "") -> None:
        """Apply a broker-reported state change."""
        self._order_changed(order_id, kind, reason)

    def fill(self, fill: Fill) -> None:
        """Apply a broker-reported fill: order, ledger, then the bus."""
        order = self.orders.apply_fill(fill)
        amount = self.ledger.apply_fill(fill)
        self.fills.append(fill)
        if self.booked is not None:
            self.booked((fill,), (amount,))
        bus = self.bus
        subscribers = bus.handlers.get(OrderFilled)
        if subscribers:
            bus.deliver(OrderFilled(self.now, fill, order), subscribers)
        else:  # nobody listens: no event, the order of events still checked
            bus.mark(self.now, OrderFilled.rank, "OrderFilled")

    @property
    def book_fills(self) -> Callable[[Sequence[Fill]], None] | None:
        """Fills of one instant booked together (:class:`BooksFillBatches`), or None while
        something sees each fill on its own: an ``OrderFilled`` subscriber, or a
        subclass's own :meth:`fill`.

        .. versionadded:: 0.1
        """
        if (
            self.bus.handlers.get(OrderFilled)
            or type(self).fill is not Session.fill
            or "fill" in vars(self)
        ):
            return None
        return self._book_fills

    def _book_fills(self, fills: Sequence[Fill]) -> None:
        # as fill() for each, with nobody to see the books between two of them: the
        # orders, then the ledger take them all, and the mirror hears them once
        self.orders.apply_fills(fills)
        amounts = self.ledger.apply_fills(fills)
        self.fills.extend(fills)
        if self.booked is not None:
            self.booked(fills, amounts)
        self.bus.mark(self.now, OrderFilled.rank, "OrderFilled")

    def _order_changed(self, order_id: str, kind: OrderEventKind, reason: str = "") -> Order:
        if not self.bus.wants(OrderUpdated):  # nobody listens: the state machine only
            return self.orders.transition(order_id, kind, reason)
        previous = self.orders.get(order_id)
        assert previous is not None
        order = self.orders.transition(order_id, kind, reason)
        self.bus.publish(OrderUpdated(self.now, order, previous.status))  # frozen: no copy
        return order
