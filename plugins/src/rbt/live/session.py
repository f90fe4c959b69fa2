"""The live session: a kernel :class:`~rbt.kernel.session.Session` that journals before it
sends, honours the kill switch and the order-rate limit, resolves unknown submit outcomes
by client id, applies each fill once, and books broker reports that arrive between clock
events at the next bar."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from rbt.kernel.broker import LiveBroker
from rbt.kernel.clock import ClockEvent
from rbt.kernel.errors import AuthenticationError, BrokerError, InvalidTransitionError, RbtError
from rbt.kernel.events import OrderFilled
from rbt.kernel.model import Asset, Fill, Order, OrderStatus, OrderStyle
from rbt.kernel.orders import OrderEventKind
from rbt.kernel.session import Session
from rbt.live.journal import Journal
from rbt.live.reconcile import FLATTEN_PREFIX, venue_order_of
from rbt.live.risk import ACTIVE, HALTED, REDUCING

__all__ = ["LiveSession", "PersistenceError", "ReconciliationError"]


class PersistenceError(RbtError):
    """The journal could not be written; the order was not sent."""


class ReconciliationError(RbtError):
    """Engine books and the venue disagree, and the policy is to stay halted."""


class LiveSession(Session):
    """A :class:`Session` that journals before it sends and honours the kill switch."""

    journal: Journal
    catching_up: bool = False
    in_step: bool = False
    #: once the clock runs, reports arriving between events wait for the next bar
    defer_reports: bool = False
    _draining: bool = False
    trading_state: str = ACTIVE
    state_reason: str = ""
    on_halt: Callable[[str], None] | None = None
    max_orders_per_session: int | None = None
    _rate: dict[Any, int] = {}  # noqa: RUF012 (replaced per instance on first use)

    def place_order(self, asset: Asset, amount: Decimal, style: OrderStyle) -> Order:
        order = Order(
            id=self.order_ids.next(), asset=asset, amount=amount, created=self.now, style=style
        )
        restored = self.orders.get(order.id)
        if restored is not None:
            # a bar re-decided after a journal restore: this intent is already journaled
            # (and maybe at the venue) — never sent twice
            same = restored.asset == asset and restored.amount == amount
            self.journal.audit(self.now, "redecided", order.id, {"same": same})
            return restored
        self.orders.add(order)
        known = self.journal.known_order(order.id)
        denial = self._rate_denial(order) or (None if known else self._kill_switch_denial(order))
        for check in [] if denial else self.checks:
            denial = check(order, self)
            if denial is not None:
                break
        if denial is not None:
            return self._order_changed(order.id, OrderEventKind.DENY, denial)
        # save before send: the intent and its id are committed before the broker call
        try:
            recorded = self.journal.record_intent(order, self.order_ids.seq)
        except sa.exc.SQLAlchemyError as exc:
            self.journal.conn.rollback()
            raise PersistenceError(
                f"could not commit the intent of order {order.id} ({exc.__class__.__name__}: "
                f"{exc.orig if hasattr(exc, 'orig') else exc}); nothing was sent"
            ) from exc
        if recorded:
            _fault("after_intent", self.order_ids.seq)
        order = self._order_changed(order.id, OrderEventKind.SUBMIT)
        try:
            self.broker.submit(order)
        except AuthenticationError as exc:  # definitive: nothing was placed, and nothing will be
            self._order_changed(order.id, OrderEventKind.REJECT, f"AUTHENTICATION: {exc}")
            self.halt(f"the venue refused our credentials: {exc}")
        except (TimeoutError, ConnectionError, BrokerError) as exc:
            # timeouts, resets, 5xx, 429 on the execution path: the outcome is unknown
            self._resolve_unknown(order, exc)
        if recorded:
            _fault("after_submit", self.order_ids.seq)
        return self.orders.get(order.id) or order

    def request_cancel(self, order_id: str) -> None:
        """Cancel now, or at the next bar when the clock is between events (reconciliation
        acting before the first event after a restart)."""
        if self._deferring():
            self._pending.append(order_id)
        else:
            self.cancel_order(order_id)

    def cancel_order(self, order_id: str) -> None:
        """Ask the venue to cancel; a failed request leaves the order PENDING_CANCEL (the
        next reconciliation looks it up) instead of stopping the strategy."""
        try:
            super().cancel_order(order_id)
        except (TimeoutError, ConnectionError, BrokerError) as exc:
            self.journal.audit(self.now, "cancel_unknown", order_id, {"error": repr(exc)})
            self._commit_outside_step()

    def _resolve_unknown(self, order: Order, exc: BaseException) -> None:
        """An unknown submit outcome is resolved by client id, never by a blind resend."""
        self.journal.audit(self.now, "unknown_outcome", order.id, {"error": repr(exc)})
        self.journal.commit()
        lookup = getattr(self.broker, "lookup", None)
        found = venue_order_of(lookup(order.id), order.asset.symbol) if lookup else None
        self.journal.audit(self.now, "resolved", order.id, {"venue_has_it": found is not None})
        current = self.orders.get(order.id)
        if found is None and current is not None and current.is_open:
            self._order_changed(
                order.id,
                OrderEventKind.REJECT,
                "UNKNOWN_OUTCOME: the venue never received it (looked up by client id); not resent",
            )
        elif found is not None and current is not None and current.status is OrderStatus.SUBMITTED:
            # the venue has it: take its state, and its fills so far (applied once by id)
            if found.status == "rejected":
                self._order_changed(order.id, OrderEventKind.REJECT, "venue rejected it")
            else:
                self._order_changed(order.id, OrderEventKind.ACCEPT)
                if isinstance(self.broker, LiveBroker) and found.filled != 0:
                    for fill in self.broker.fills_since(order.created):
                        if fill.order_id == order.id:
                            self.fill(fill)
                kind = {"cancelled": OrderEventKind.CANCEL, "expired": OrderEventKind.EXPIRE}
                after = self.orders.get(order.id)
                if found.status in kind and after is not None and after.is_open:
                    self._order_changed(order.id, kind[found.status], f"venue: {found.status}")
        self.journal.commit()

    def order_event(self, order_id: str, kind: OrderEventKind, ts: int, reason: str = "") -> None:
        """Apply a broker-reported state change; reconciliation's own orders are audited only,
        and a report for an order we do not know is audited, not a crash."""
        if self._deferring():
            self._pending.append((order_id, kind, ts, reason))
            return
        if order_id.startswith(FLATTEN_PREFIX):
            self.journal.audit(self.now, "flatten_report", order_id, {"event": kind.value})
            self._commit_outside_step()
            return
        if self.orders.get(order_id) is None:
            self.journal.audit(self.now, "unknown_order_event", order_id, {"event": kind.value})
            self._commit_outside_step()
            return
        try:
            super().order_event(order_id, kind, ts, reason)
        except InvalidTransitionError as exc:  # reliability A.4.1: audit, never crash the loop
            self.journal.audit(self.now, "invalid_transition", order_id, {"error": str(exc)})
        self._commit_outside_step()

    def _commit_outside_step(self) -> None:
        if not self.in_step and not self.catching_up:
            self.journal.commit()

    def _rate_denial(self, order: Order) -> str | None:
        limit = self.max_orders_per_session
        if limit is None:
            return None
        key = self.session_label
        count = self._rate.get(key, 0) + 1
        self._rate = {key: count}
        if count > limit:
            return f"RATE_LIMIT: more than {limit} orders in session {key}"
        return None

    def _kill_switch_denial(self, order: Order) -> str | None:
        if self.trading_state == HALTED:
            return f"KILL_SWITCH: trading is HALTED ({self.state_reason or 'no reason given'})"
        if self.trading_state == REDUCING:
            held = (
                self.ledger.position_amount(order.asset)
                + self.orders.open_amount(order.asset.sid)
                - order.amount  # the order itself is already tracked
            )
            if abs(held + order.amount) > abs(held) or (held + order.amount) * held < 0:
                return "KILL_SWITCH: trading is REDUCING: only orders that shrink a position"
        return None

    def step(self, event: ClockEvent) -> None:
        self.in_step = True
        try:
            super().step(event)
        finally:
            self.in_step = False

    def _deferring(self) -> bool:
        return self.defer_reports and not self.in_step and not self._draining

    def drain_reports(self, *_event: object) -> None:
        """Apply the broker reports that arrived between clock events, in arrival order.

        Called when the next bar is visible (before the strategy's turn: the same place a
        backtest books that bar's fills) and after the run's feed ended.
        """
        pending, self._pending = self._pending, []
        if not pending:
            return
        self._draining = True
        try:
            for report in pending:
                if isinstance(report, Fill):
                    self.fill(report)
                elif isinstance(report, str):  # a cancel requested between events
                    self.cancel_order(report)
                else:
                    self.order_event(*report)
        finally:
            self._draining = False

    def fill(self, fill: Fill) -> None:
        """Apply each trade id once; a fill of an unknown order halts instead of crashing."""
        if self._deferring():  # the bus is past this instant: book it at the next bar
            self._pending.append(fill)
            return
        if fill.order_id.startswith(FLATTEN_PREFIX):
            self.journal.audit(
                self.now,
                "flatten_fill",
                fill.order_id,
                {"trade_id": fill.id, "amount": str(fill.amount)},
            )
            self._commit_outside_step()
            return
        if fill.id in self._seen_fills:
            self.journal.audit(self.now, "duplicate_fill", fill.order_id, {"trade_id": fill.id})
            return
        if self.orders.get(fill.order_id) is None:
            self.journal.audit(self.now, "unknown_fill", fill.order_id, {"trade_id": fill.id})
            self.halt(f"fill {fill.id} for unknown order {fill.order_id}")
            return
        try:
            self.orders.apply_fill(fill)  # first: an overfill must not reach the books
        except InvalidTransitionError as exc:
            self.journal.audit(
                self.now, "bad_fill", fill.order_id, {"trade_id": fill.id, "error": str(exc)}
            )
            self.halt(f"fill {fill.id} refused: {exc}")
            return
        self._seen_fills.add(fill.id)
        self.journal.record_fill(fill)
        amount = self.ledger.apply_fill(fill)
        self.fills.append(fill)
        if self.booked is not None:
            self.booked((fill,), (amount,))
        order = self.orders.get(fill.order_id)
        assert order is not None
        self.bus.publish(OrderFilled(self.now, fill, order))
        if not self.catching_up:
            self.journal.record_order_state(order, self.now)
        self._commit_outside_step()

    def _order_changed(self, order_id: str, kind: OrderEventKind, reason: str = "") -> Order:
        order = super()._order_changed(order_id, kind, reason)
        if not self.catching_up and kind is not OrderEventKind.DENY:
            self.journal.record_order_state(order, self.now)
        elif kind is OrderEventKind.DENY and not self.catching_up:
            self.journal.audit(self.now, "denied", order_id, {"reason": reason})
        return order

    def halt(self, reason: str) -> None:
        self.trading_state, self.state_reason = HALTED, reason
        self.journal.set_trading_state(HALTED, reason, self.now)
        if self.on_halt is not None:
            self.on_halt(reason)

    @property
    def _pending(self) -> list[Any]:
        pending: list[Any] | None = self.__dict__.get("_pending_reports")
        if pending is None:
            pending = self.__dict__["_pending_reports"] = []
        return pending

    @_pending.setter
    def _pending(self, value: list[Any]) -> None:
        self.__dict__["_pending_reports"] = value

    @property
    def _seen_fills(self) -> set[str]:
        seen: set[str] | None = self.__dict__.get("_seen")
        if seen is None:
            seen = self.__dict__["_seen"] = set()
        return seen


def _fault(point: str, count: int) -> None:
    """Fault injection for the crash tests: ``RBT_LIVE_FAULT=after_intent:N`` kills the
    process (SIGKILL) right after the N-th intent commit, before the broker call;
    ``after_submit:N`` right after the broker took the N-th order (its reply unseen)."""
    spec = os.environ.get("RBT_LIVE_FAULT")
    if spec and spec == f"{point}:{count}":
        os.kill(os.getpid(), signal.SIGKILL)
