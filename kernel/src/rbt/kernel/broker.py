"""The broker contract and the order tracker shared by every broker.

A broker receives orders and reports back through a :class:`BrokerEvents`
sink: order state changes and fills. The :class:`OrderTracker` applies those
reports to orders through the one state machine (:mod:`rbt.kernel.orders`)
and refuses overfills, so simulated, paper and live brokers behave alike.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any, Protocol, runtime_checkable

import attrs

from rbt.kernel.errors import InvalidTransitionError
from rbt.kernel.model import (
    MARKET,
    OPEN_STATUSES,
    Asset,
    Fill,
    Order,
    OrderStatus,
    new_order,
    replace_order,
)
from rbt.kernel.numeric import ZERO
from rbt.kernel.orders import TRANSITIONS, OrderEventKind, next_status
from rbt.kernel.secrets import Secret

__all__ = [
    "ORDER_COLUMNS",
    "AccountSnapshot",
    "BooksFillBatches",
    "Broker",
    "BrokerEvents",
    "ClientOrderIds",
    "DecidesAtOnce",
    "LiveBroker",
    "OrderTracker",
    "TakeRow",
    "VenueEndpoint",
    "VenueOrder",
    "WorksRows",
    "order_columns",
]

#: The state machine as a plain dict (the read-only proxy costs a call per lookup).
_TRANSITIONS = dict(TRANSITIONS)
#: Where a sequence of state changes leads from a state (:meth:`OrderTracker.advance`), for
#: the sequences taken so far: the machine is fixed, so each is walked through it once.
_PATHS: dict[tuple[OrderStatus, tuple[OrderEventKind, ...]], OrderStatus] = {}
#: A row's states (OrderTracker.add_row): placed and accepted, then filled whole.
_ROW_ACCEPTED = next_status(
    next_status(OrderStatus.NEW, OrderEventKind.SUBMIT), OrderEventKind.ACCEPT
)
_ROW_FILLED = next_status(_ROW_ACCEPTED, OrderEventKind.FILL)
#: The fields of :func:`order_columns`, in order (an :class:`Order`'s).
ORDER_COLUMNS = tuple(f.name for f in attrs.fields(Order))


def order_columns(orders: Sequence[Order]) -> dict[str, list[Any]]:
    """Each of :data:`ORDER_COLUMNS` of ``orders`` as a list (attribute loads: several
    times faster here than ``getattr`` or ``attrgetter``).

    .. versionadded:: 0.1
    """
    return {
        "id": [o.id for o in orders],
        "asset": [o.asset for o in orders],
        "amount": [o.amount for o in orders],
        "created": [o.created for o in orders],
        "style": [o.style for o in orders],
        "status": [o.status for o in orders],
        "filled": [o.filled for o in orders],
        "commission": [o.commission for o in orders],
        "reason": [o.reason for o in orders],
    }


class BrokerEvents(Protocol):
    """Where a broker reports what happened to orders."""

    def order_event(self, order_id: str, kind: OrderEventKind, ts: int, reason: str = "") -> None:
        """An order changed state without a fill (accepted, rejected, cancelled, ...)."""
        ...

    def fill(self, fill: Fill) -> None:
        """An order (partly) filled."""
        ...


@runtime_checkable
class Broker(Protocol):
    """Accepts orders and reports their outcome to the sink given to :meth:`connect`."""

    name: str

    def connect(self, events: BrokerEvents) -> None:
        """Start reporting to ``events``."""
        ...

    def submit(self, order: Order) -> None:
        """Send ``order`` (state SUBMITTED). The outcome arrives through the sink."""
        ...

    def cancel(self, order_id: str) -> None:
        """Request the cancellation of an open order."""
        ...

    def on_bar(self, ts: int) -> None:
        """A bar closed at ``ts``; simulated brokers match open orders against it."""
        ...

    def close(self) -> None:
        """Stop; release connections."""
        ...


class DecidesAtOnce(Protocol):
    """A broker that accepts or rejects an order while it is being submitted, reporting
    nothing else meanwhile (the simulator). Its ``accept_or_reject`` may be None (a
    subclass that submits otherwise); when it is not, a session nobody watches order
    states on asks it for the decision instead of the ACCEPT/REJECT report, and records
    SUBMIT and the outcome in one step (:meth:`OrderTracker.advance`)."""

    @property
    def accept_or_reject(self) -> Callable[[Order], str | None] | None:
        """The decision, or None: a function that takes ``order`` (state NEW; the copy the
        broker keeps stays NEW) and returns None when it now works (accepted), or why it
        is rejected (then nothing of it is kept)."""
        ...


#: ``take_row(order_id, asset, amount, created, session_label)``: see :class:`WorksRows`.
TakeRow = Callable[[str, Asset, Decimal, int, Any], bool]


class WorksRows(Protocol):
    """A broker that can work a plain market order (the shared ``MARKET`` style) without
    an :class:`Order` object (the simulator), for a session that keeps it as a row too
    (:meth:`OrderTracker.add_row`) until something reads it.

    Its ``take_row`` is None when it cannot; otherwise a function that checks the order as
    :func:`~rbt.kernel.orders.validation_check` would and as its decision would
    (:class:`DecidesAtOnce`), and either works it (True) or keeps nothing of it (False:
    then the session places it as an :class:`Order`, which gets the reason). Its fills are
    reported as any others, each of all of the order at once.

    .. versionadded:: 0.1
    """

    @property
    def take_row(self) -> TakeRow | None:
        """The function that takes a plain market order as a row, or None (see above)."""
        ...


class BooksFillBatches(Protocol):
    """A broker event sink that can take the fills of one instant together (the session).

    Its ``book_fills`` is None while something must see each fill as it happens (then
    report them one by one with :meth:`BrokerEvents.fill`); otherwise a function that
    books ``fills`` as :meth:`BrokerEvents.fill` would each, in order. A broker reads it
    before reporting fills so (the simulator: a bar's plain market orders) and reads it
    again after anything else it reported, which may have run a handler that subscribed.

    .. versionadded:: 0.1
    """

    @property
    def book_fills(self) -> Callable[[Sequence[Fill]], None] | None:
        """The function that books fills of one instant together, or None (see above)."""
        ...


@attrs.frozen
class VenueOrder:
    """What a venue says about one order, looked up by its client order id.

    :param status: ``open``, ``filled``, ``cancelled``, ``rejected`` or ``expired``.
    :param amount: signed ordered quantity (negative sells).
    :param filled: signed quantity filled so far.
    """

    client_order_id: str
    venue_order_id: str
    symbol: str
    status: str
    amount: Decimal
    filled: Decimal
    limit_price: Decimal | None = None


@attrs.frozen
class AccountSnapshot:
    """The venue's view of the account, for reconciliation.

    :param cash: total (free + locked) balance per currency.
    :param positions: signed amount per symbol (spot: the base asset's total balance).
    :param open_orders: the account's open orders, ours and foreign ones.
    """

    cash: Mapping[str, Decimal]
    positions: Mapping[str, Decimal]
    open_orders: tuple[VenueOrder, ...] = ()


@attrs.frozen
class VenueEndpoint:
    """Where a live broker connects (design.md §2.1a.10).

    :param mode: ``sandbox`` (the local venue simulator on 127.0.0.1), ``testnet`` or
        ``live``.
    :param urls: endpoint overrides by role, e.g. ``{"rest": ..., "ws": ...}``; a sandbox
        endpoint must name loopback URLs only.
    :param credentials: ``apiKey`` / ``secret`` / ``password`` as :class:`Secret` values.
    """

    mode: str
    urls: Mapping[str, str] = attrs.field(factory=dict)
    credentials: Mapping[str, Secret] = attrs.field(factory=dict)


@runtime_checkable
class LiveBroker(Broker, Protocol):
    """A broker at a real (or simulated) venue: what crash safety and reconciliation need.

    ``submit`` raises :class:`~rbt.kernel.errors.OrderOutcomeUnknownError` when the venue
    may or may not have the order (timeout, dropped connection, 5xx); the session then
    resolves it with :meth:`lookup`, never by resending. Fills reported through the sink
    carry the venue's trade id as ``Fill.id`` so a duplicate is recognised.
    """

    def instruments(self) -> Sequence[Asset]:
        """The tradable assets with the venue's tick size, lot size and minimum notional.

        Sids are stable across restarts (the same symbol always gets the same sid).
        """
        ...

    def lookup(self, client_order_id: str) -> VenueOrder | None:
        """The venue's record of an order by client id, or ``None`` if it has none."""
        ...

    def snapshot(self) -> AccountSnapshot:
        """Balances, positions and open orders as the venue reports them now."""
        ...

    def fills_since(self, ts: int) -> Sequence[Fill]:
        """The account's fills at or after ``ts`` (UTC ns): catch-up after a reconnect."""
        ...

    async def run(self) -> None:
        """Stream order updates and fills into the sink until :meth:`close`.

        Reconnects with backoff and jitter; after a reconnect it reports the fills missed
        meanwhile (via :meth:`fills_since`) before new ones.
        """
        ...


class ClientOrderIds:
    """Deterministic client order ids ``<tag>-<run_id>-<seq>`` (design.md §2.1a.8).

    ``seq`` counts intents in decision order, starting after ``start``, so a run
    that re-decides the same bars reproduces the same ids.
    """

    def __init__(self, tag: str, run_id: str, start: int = 0) -> None:
        self.prefix = f"{tag}-{run_id}-"
        self.seq = start

    def next(self) -> str:
        """Return the next id."""
        self.seq += 1
        return f"{self.prefix}{self.seq}"


@attrs.define(eq=False)
class OrderTracker:
    """Orders of a run, updated only through the state machine.

    Holds every order by id; :meth:`open_orders` are those that may still fill.
    """

    _orders: dict[str, Order] = attrs.field(factory=dict)
    _open: dict[str, Order] = attrs.field(factory=dict)
    # accepted plain market orders not built yet (add_row), newer than every order in
    # _orders: id -> [asset, amount, created, (filled, commission) once filled whole]; a
    # read of an order builds them first (_build_rows), len() and ``in`` do not
    _rows: dict[str, list[Any]] = attrs.field(factory=dict)

    def add(self, order: Order) -> None:
        """Track a new order.

        :raises ValueError: for a duplicate client order id.
        """
        self._build_rows()
        if order.id in self._orders:
            raise ValueError(f"duplicate client order id {order.id!r}")
        self._orders[order.id] = order
        if order.is_open:
            self._open[order.id] = order

    def add_row(self, order_id: str, asset: Asset, amount: Decimal, created: int) -> None:
        """Track an accepted plain market order (the shared ``MARKET`` style) without
        building it: it is built when first read, equal to the order :meth:`add` and
        :meth:`advance` would hold (a fill of all of it taken by :meth:`apply_fills`
        included).

        :raises ValueError: for a duplicate client order id.

        .. versionadded:: 0.1
        """
        if order_id in self._orders or order_id in self._rows:
            raise ValueError(f"duplicate client order id {order_id!r}")
        self._rows[order_id] = [asset, amount, created, None]

    def discard_row(self, order_id: str) -> None:
        """Forget the row :meth:`add_row` just added (a broker that did not take it).

        .. versionadded:: 0.1
        """
        del self._rows[order_id]

    def get(self, order_id: str) -> Order | None:
        """The order with ``order_id``, or None."""
        self._build_rows()
        return self._orders.get(order_id)

    def __contains__(self, order_id: object) -> bool:
        return order_id in self._orders or order_id in self._rows

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, OrderTracker):
            return NotImplemented
        for tracker in (self, other):
            tracker._build_rows()
        return (self._orders, self._open) == (other._orders, other._open)

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __iter__(self) -> Iterator[Order]:
        self._build_rows()
        return iter(self._orders.values())

    def __len__(self) -> int:
        return len(self._orders) + len(self._rows)

    def open_orders(self) -> Sequence[Order]:
        """Orders that may still fill, oldest first."""
        self._build_rows()
        return tuple(self._open.values())

    def transition(self, order_id: str, kind: OrderEventKind, reason: str = "") -> Order:
        """Apply a state change and return the updated order.

        :raises KeyError: for an unknown order id.
        :raises InvalidTransitionError: when the state machine forbids it, or for a
            fill event (fills go through :meth:`apply_fill`).
        """
        return self.advance(order_id, (kind,), reason)

    def apply_fill(self, fill: Fill) -> Order:
        """Add a fill to its order and return the updated order.

        :raises KeyError: for a fill of an unknown order.
        :raises InvalidTransitionError: for a fill that exceeds the order or goes
            the wrong way.
        """
        self._build_rows()
        order = self._orders[fill.order_id]
        amount, ordered = fill.amount, order.amount
        filled = order.filled + amount
        buy = ordered > 0
        if not amount or (amount > 0) != buy:
            raise InvalidTransitionError(
                f"fill {fill.id} of {fill.amount} does not match order {order.id} "
                f"for {order.amount}"
            )
        if filled > ordered if buy else filled < ordered:  # |filled| > |ordered|, same sign
            raise InvalidTransitionError(
                f"fill {fill.id} overfills order {order.id}: {filled} of {order.amount}"
            )
        kind = OrderEventKind.FILL if filled == order.amount else OrderEventKind.PARTIAL_FILL
        status = _TRANSITIONS.get((order.status, kind))
        if status is None:
            status = next_status(order.status, kind)  # raises, naming the allowed events
        updated = replace_order(
            order, status=status, filled=filled, commission=order.commission + fill.commission
        )
        self._store(updated)
        return updated

    def apply_fills(self, fills: Sequence[Fill]) -> None:
        """:meth:`apply_fill` each of ``fills`` in turn, without returning the orders: a
        fill of all of an order still kept as a row (:meth:`add_row`) is kept with it.

        :raises KeyError: as :meth:`apply_fill`.
        :raises InvalidTransitionError: as :meth:`apply_fill`.

        .. versionadded:: 0.1
        """
        rows = self._rows
        for fill in fills:
            row = rows.get(fill.order_id) if rows else None
            if row is not None and row[3] is None:
                # apply_fill's sums, done now: in the Decimal context of now
                filled = ZERO + fill.amount
                if filled == row[1]:  # all of it (so neither nothing nor the wrong way)
                    commission = fill.commission
                    # ZERO + ZERO is ZERO itself (value, exponent, sign): the one object
                    # lets the orders frame read a column of free fills' commissions once
                    row[3] = (filled, commission if commission is ZERO else ZERO + commission)
                    continue
            self.apply_fill(fill)  # builds the rows first

    def columns(self) -> dict[str, list[Any]]:
        """Every order's :data:`ORDER_COLUMNS` as lists, oldest first: what reading each
        order gives, the rows read without being built (a run's results).

        .. versionadded:: 0.1
        """
        columns = order_columns(list(self._orders.values()))
        rows = list(self._rows.values())
        done = [row[3] for row in rows]
        columns["id"] += self._rows
        columns["asset"] += [row[0] for row in rows]
        columns["amount"] += [row[1] for row in rows]
        columns["created"] += [row[2] for row in rows]
        columns["style"] += [MARKET] * len(rows)
        columns["status"] += [_ROW_ACCEPTED if d is None else _ROW_FILLED for d in done]
        columns["filled"] += [ZERO if d is None else d[0] for d in done]
        columns["commission"] += [ZERO if d is None else d[1] for d in done]
        columns["reason"] += [""] * len(rows)
        return columns

    def _build_rows(self) -> None:
        """Turn the rows into the orders :meth:`add`, :meth:`advance` (SUBMIT, ACCEPT) and
        :meth:`apply_fill` of the fill kept with each would have left (every read of an
        order does this first; without rows, nothing to do)."""
        if not self._rows:
            return
        orders, opened = self._orders, self._open
        for oid, (asset, amount, created, filled) in self._rows.items():
            if filled is None:
                orders[oid] = opened[oid] = new_order(
                    oid, asset, amount, created, MARKET, _ROW_ACCEPTED
                )
            else:
                orders[oid] = new_order(oid, asset, amount, created, MARKET, _ROW_FILLED, *filled)
        self._rows.clear()  # in place: a caller's reference to it sees it built

    def advance(self, order_id: str, kinds: Sequence[OrderEventKind], reason: str = "") -> Order:
        """Apply several state changes in a row and return the updated order: what
        :meth:`transition` gives for each of ``kinds`` in turn, building one order for the
        last state (the states between are not kept: for a caller nobody watches).

        :raises KeyError: for an unknown order id.
        :raises InvalidTransitionError: as :meth:`transition`, for the first refused change.
        """
        self._build_rows()
        order = self._orders[order_id]
        path = (order.status, tuple(kinds))  # read once: ``kinds`` may be an iterator
        status = _PATHS.get(path)
        if status is None:  # not taken before: step through the state machine
            status = order.status
            for kind in path[1]:
                if kind in (OrderEventKind.FILL, OrderEventKind.PARTIAL_FILL):
                    # a fill changes quantities: only apply_fill may produce it (overfill checks)
                    raise InvalidTransitionError(
                        f"order {order_id}: {kind.value} needs a Fill; use apply_fill"
                    )
                nxt = _TRANSITIONS.get((status, kind))
                status = next_status(status, kind) if nxt is None else nxt  # raises, naming why
            _PATHS[path] = status
        updated = replace_order(order, status=status, reason=reason or order.reason)
        self._store(updated)
        return updated

    def _store(self, order: Order) -> None:
        self._orders[order.id] = order
        if order.status in OPEN_STATUSES:
            self._open[order.id] = order
        else:
            self._open.pop(order.id, None)

    def open_amount(self, sid: int) -> Decimal:
        """Signed open quantity of all open orders for asset ``sid``."""
        self._build_rows()
        return sum((o.open_amount for o in self._open.values() if o.asset.sid == sid), Decimal(0))

    def status_counts(self) -> dict[OrderStatus, int]:
        """How many orders are in each state."""
        counts: dict[OrderStatus, int] = {}
        for order in self:
            counts[order.status] = counts.get(order.status, 0) + 1
        return counts
