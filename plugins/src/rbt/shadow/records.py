"""What the shadow compares: order intents and their executions, on either side.

A :class:`Recorder` subscribes to one session's bus and keeps, per client order id, the
intent (asset, signed amount, style, the bar it was decided on) and the execution so far
(filled quantity, volume-weighted price, commission, and the bar's reference price at
each fill, which calibration needs). It hands out immutable :class:`OrderRecord`
snapshots: the orders decided since the last call, and the orders that stopped working.
"""

from __future__ import annotations

import enum
from collections import OrderedDict
from decimal import Decimal
from typing import Any

import attrs

from rbt.kernel.events import OrderFilled, OrderUpdated
from rbt.kernel.model import Fill, Order, OrderStatus
from rbt.kernel.numeric import ZERO
from rbt.kernel.session import Session

__all__ = ["RETIRED_MAX", "OrderRecord", "Recorder", "Side"]

#: finished order ids remembered (to ignore their late reports) before the oldest go
RETIRED_MAX = 100_000


class Side(enum.Enum):
    """Which run an order or fill comes from."""

    LIVE = "live"
    SHADOW = "shadow"


@attrs.frozen(kw_only=True)
class OrderRecord:
    """One order of one side: the intent and its execution so far.

    ``amount`` and ``filled`` are signed (buys positive). ``avg_price`` is the
    volume-weighted fill price (None before a fill); ``ref_price`` the volume-weighted
    reference price of the bars the fills happened on (the fill model's base price
    without slippage, None when unknown); ``volume_share`` the filled quantity over the
    summed volume of those bars.
    """

    side: Side
    id: str
    sid: int
    symbol: str
    amount: Decimal
    created: int
    bar: int
    order_type: str
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    status: str = OrderStatus.NEW.value
    reason: str = ""
    filled: Decimal = ZERO
    avg_price: Decimal | None = None
    commission: Decimal = ZERO
    ref_price: Decimal | None = None
    volume_share: float | None = None
    closed_bar: int | None = None

    @property
    def direction(self) -> int:
        return 1 if self.amount > 0 else -1

    @property
    def is_open(self) -> bool:
        return OrderStatus(self.status).is_open

    def to_json(self) -> dict[str, Any]:
        """JSON-ready fields (Decimals as text)."""
        out: dict[str, Any] = {}
        for field in attrs.fields(OrderRecord):
            value = getattr(self, field.name)
            if isinstance(value, Decimal):
                value = str(value)
            elif isinstance(value, Side):
                value = value.value
            out[field.name] = value
        return out


class _Book:
    """Mutable execution totals of one order."""

    __slots__ = ("commission", "filled", "notional", "ref_notional", "ref_qty", "volume")

    def __init__(self) -> None:
        self.filled = ZERO
        self.notional = ZERO
        self.commission = ZERO
        self.ref_notional = ZERO
        self.ref_qty = ZERO
        self.volume = 0.0


class Recorder:
    """Collect one side's orders and fills from its session's bus.

    :param side: live or shadow.
    :param session: the session whose bus to listen to.
    :param reference: ``(asset) -> (price, volume)`` of the bar at the portal's cursor,
        read at each fill (None: unknown; calibration then skips the order).
    """

    def __init__(self, side: Side, session: Session, reference: Any = None) -> None:
        self.side = side
        self.reference = reference
        self.bar = 0
        #: orders created before this time (UTC ns) are ignored (decided before a restart)
        self.since: int | None = None
        self._intents: dict[str, OrderRecord] = {}
        self._books: dict[str, _Book] = {}
        self._status: dict[str, tuple[str, str]] = {}
        self._new: list[str] = []
        self._closed: list[str] = []
        self._closing: set[str] = set()  # closed since the last drain
        # finished and handed out: forgotten (bounded memory for long live runs); a late
        # report of one of them (a fill after a cancel) is ignored
        self._retired: OrderedDict[str, None] = OrderedDict()
        self._inbox: list[tuple[Order, Fill | None, int]] = []
        session.bus.subscribe(OrderUpdated, self._on_update)
        session.bus.subscribe(OrderFilled, self._on_fill)

    # -- bus handlers: they run inside the session's step (for live: on the order path),
    # so they only append; the bookkeeping happens in drain(), after the step ------------
    def _on_update(self, event: OrderUpdated) -> None:
        self._inbox.append((event.order, None, self.bar))

    def _on_fill(self, event: OrderFilled) -> None:
        self._inbox.append((event.order, event.fill, self.bar))

    def _process(self) -> None:
        """Apply the queued bus events (the portal is still at the event they came from)."""
        inbox = self._inbox
        if not inbox:
            return
        for order, fill, bar in inbox:
            oid = order.id
            if oid in self._retired:
                continue
            if oid not in self._intents:
                if self.since is not None and order.created < self.since:
                    continue  # decided before a restart
                self._intents[oid] = self._intent(order, bar)
                self._books[oid] = _Book()
                self._new.append(oid)
            if fill is not None:
                self._book(self._books[oid], fill)
            self._status[oid] = (order.status.value, order.reason)
            if not order.status.is_open and oid not in self._closing:
                self._closing.add(oid)
                self._closed.append(oid)
        inbox.clear()

    def _book(self, book: _Book, fill: Fill) -> None:
        book.filled += fill.amount
        book.notional += fill.amount * fill.price
        book.commission += fill.commission
        if self.reference is not None:
            ref = self.reference(fill.asset)
            if ref is not None:
                price, volume = ref
                qty = abs(fill.amount)
                book.ref_notional += qty * price
                book.ref_qty += qty
                book.volume += volume

    def _intent(self, order: Order, bar: int) -> OrderRecord:
        style = order.style
        return OrderRecord(
            side=self.side,
            id=order.id,
            sid=order.asset.sid,
            symbol=order.asset.symbol,
            amount=order.amount,
            created=order.created,
            bar=bar,
            order_type=style.type.value,
            limit_price=style.limit_price,
            stop_price=style.stop_price,
        )

    # -- snapshots -------------------------------------------------------------------------
    def record(self, oid: str) -> OrderRecord:
        """The current snapshot of order ``oid``."""
        self._process()
        intent = self._intents[oid]
        book = self._books[oid]
        status, reason = self._status.get(oid, (OrderStatus.NEW.value, ""))
        avg = None
        if book.filled != 0:
            avg = book.notional / book.filled
        ref = book.ref_notional / book.ref_qty if book.ref_qty != 0 else None
        share = None
        if book.volume > 0:
            share = float(abs(book.filled)) / book.volume
        return attrs.evolve(
            intent,
            status=status,
            reason=reason,
            filled=book.filled,
            avg_price=avg,
            commission=book.commission,
            ref_price=ref,
            volume_share=share,
            closed_bar=self.bar if oid in self._closing else None,
        )

    def drain(self) -> tuple[tuple[OrderRecord, ...], tuple[OrderRecord, ...]]:
        """(orders decided, orders that stopped working) since the last call."""
        self._process()
        new = tuple(self._intents[oid] for oid in self._new)
        closed = tuple(self.record(oid) for oid in self._closed)
        for oid in self._closed:
            del self._intents[oid], self._books[oid]
            self._status.pop(oid, None)
            self._retired[oid] = None
        while len(self._retired) > RETIRED_MAX:
            self._retired.popitem(last=False)
        self._new.clear()
        self._closed.clear()
        self._closing.clear()
        return new, closed

    @property
    def tracked(self) -> int:
        """Orders held in memory (finished ones are dropped once handed out)."""
        return len(self._intents)

    def open_ids(self) -> list[str]:
        """Ids of orders still working."""
        self._process()
        return [oid for oid in self._intents if oid not in self._closing]
