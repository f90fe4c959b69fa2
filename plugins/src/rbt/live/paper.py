"""The paper broker: the backtest's matching, slippage and commission models on live or
replayed bars, with its own venue-side store.

:class:`PaperBroker` *is* a :class:`~rbt.plugins.sim_broker.SimBroker` (the same matching
code and the same model objects: ``set_commission``/``set_slippage`` reach it the same
way), plus:

* **latency** (``latency_ns``): an order reaches the venue that much later in feed time;
  it can first match on a bar closing at or after ``created + latency`` (0: the backtest's
  timing, which the equality tests use);
* a **venue store** — a SQLite file of its own (WAL, ``synchronous=FULL``) with the
  venue's orders, fills and balance — separate from the engine's database, so restart
  reconciliation compares two independent records;
* lookups by client order id (:meth:`lookup`), the way unknown outcomes are resolved.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs

from rbt.data.portal import BarPortal
from rbt.kernel.broker import AccountSnapshot, BrokerEvents, VenueOrder
from rbt.kernel.costs import CommissionModel, SlippageModel
from rbt.kernel.model import Asset, Fill, Order
from rbt.kernel.orders import OrderEventKind
from rbt.plugins.sim_broker import SimBroker

__all__ = ["PaperBroker", "VenueStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS venue_orders (
    client_order_id TEXT PRIMARY KEY,
    sid INTEGER NOT NULL,
    amount TEXT NOT NULL,
    created INTEGER NOT NULL,
    status TEXT NOT NULL,
    filled TEXT NOT NULL DEFAULT '0',
    reason TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS venue_fills (
    trade_id TEXT PRIMARY KEY,
    client_order_id TEXT NOT NULL REFERENCES venue_orders(client_order_id),
    sid INTEGER NOT NULL,
    amount TEXT NOT NULL,
    price TEXT NOT NULL,
    commission TEXT NOT NULL,
    ts INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS venue_balances (
    account TEXT PRIMARY KEY,
    cash TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS venue_clock (
    name TEXT PRIMARY KEY,
    ts INTEGER NOT NULL
);
"""


class VenueStore:
    """The paper venue's own records (one SQLite file)."""

    def __init__(self, path: str | Path, account: str = "paper", cash: Decimal = Decimal(0)):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.account = account
        self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.execute("PRAGMA foreign_keys=ON")
        self.db.executescript(_SCHEMA)
        self.db.execute(
            "INSERT OR IGNORE INTO venue_balances (account, cash) VALUES (?, ?)",
            (account, str(cash)),
        )

    def has_order(self, client_order_id: str) -> bool:
        row = self.db.execute(
            "SELECT 1 FROM venue_orders WHERE client_order_id = ?", (client_order_id,)
        ).fetchone()
        return row is not None

    def order(self, client_order_id: str) -> dict[str, Any] | None:
        """The venue's view of an order, or None (never received)."""
        cur = self.db.execute(
            "SELECT client_order_id, sid, amount, status, filled, reason FROM venue_orders "
            "WHERE client_order_id = ?",
            (client_order_id,),
        )
        row = cur.fetchone()
        if row is None:
            return None
        keys = ("client_order_id", "sid", "amount", "status", "filled", "reason")
        return dict(zip(keys, row, strict=True))

    def add_order(self, order: Order) -> bool:
        """Record a received order; False when the client id is already known (dedupe)."""
        cur = self.db.execute(
            "INSERT OR IGNORE INTO venue_orders (client_order_id, sid, amount, created, status) "
            "VALUES (?, ?, ?, ?, 'accepted')",
            (order.id, order.asset.sid, str(order.amount), order.created),
        )
        return cur.rowcount == 1

    def set_status(self, client_order_id: str, status: str, reason: str = "") -> None:
        self.db.execute(
            "UPDATE venue_orders SET status = ?, reason = ? WHERE client_order_id = ?",
            (status, reason, client_order_id),
        )

    def add_fill(self, fill: Fill) -> bool:
        """Record a fill once (by trade id); False when it was already recorded."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            cur = self.db.execute(
                "INSERT OR IGNORE INTO venue_fills "
                "(trade_id, client_order_id, sid, amount, price, commission, ts) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    fill.id,
                    fill.order_id,
                    fill.asset.sid,
                    str(fill.amount),
                    str(fill.price),
                    str(fill.commission),
                    fill.ts,
                ),
            )
            new = cur.rowcount == 1
            if new:
                (filled,) = self.db.execute(
                    "SELECT filled FROM venue_orders WHERE client_order_id = ?", (fill.order_id,)
                ).fetchone()
                self.db.execute(
                    "UPDATE venue_orders SET filled = ? WHERE client_order_id = ?",
                    (str(Decimal(filled) + fill.amount), fill.order_id),
                )
                (cash,) = self.db.execute(
                    "SELECT cash FROM venue_balances WHERE account = ?", (self.account,)
                ).fetchone()
                cash = Decimal(cash) - fill.notional - fill.commission
                self.db.execute(
                    "UPDATE venue_balances SET cash = ? WHERE account = ?",
                    (str(cash), self.account),
                )
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        return new

    def positions(self) -> dict[int, Decimal]:
        """Net amount per asset id from the venue's fills (zero positions left out)."""
        totals: dict[int, Decimal] = {}
        for sid, amount in self.db.execute("SELECT sid, amount FROM venue_fills"):
            totals[sid] = totals.get(sid, Decimal(0)) + Decimal(amount)
        return {sid: amount for sid, amount in totals.items() if amount != 0}

    def open_order_ids(self) -> set[str]:
        cur = self.db.execute("SELECT client_order_id FROM venue_orders WHERE status = 'accepted'")
        return {row[0] for row in cur}

    def fill_ids(self) -> set[str]:
        return {row[0] for row in self.db.execute("SELECT trade_id FROM venue_fills")}

    def cash(self) -> Decimal:
        (cash,) = self.db.execute(
            "SELECT cash FROM venue_balances WHERE account = ?", (self.account,)
        ).fetchone()
        return Decimal(cash)

    def matched_until(self) -> int:
        """The last bar end the venue matched orders on (a restarted venue goes on after it)."""
        row = self.db.execute("SELECT ts FROM venue_clock WHERE name = 'matched'").fetchone()
        return int(row[0]) if row else -(2**63)

    def set_matched_until(self, ts: int) -> None:
        self.db.execute(
            "INSERT INTO venue_clock (name, ts) VALUES ('matched', ?) "
            "ON CONFLICT(name) DO UPDATE SET ts = excluded.ts",
            (ts,),
        )

    def close(self) -> None:
        self.db.close()


_STATUS = {
    OrderEventKind.CANCEL: "cancelled",
    OrderEventKind.EXPIRE: "expired",
    OrderEventKind.REJECT: "rejected",
}


class PaperBroker(SimBroker):
    """Paper trading: :class:`SimBroker` matching plus latency and a venue store.

    :param portal: the live (or replayed) bar portal.
    :param commission: the backtest's commission model object.
    :param slippage: the backtest's slippage model object.
    :param store: the venue store (its own SQLite file).
    :param latency_ns: how long an order takes to reach the venue, in feed time.
    """

    name = "paper"

    def __init__(
        self,
        portal: BarPortal,
        *,
        commission: CommissionModel,
        slippage: SlippageModel,
        fill_timing: str = "next_close",
        store: VenueStore,
        latency_ns: int = 0,
    ) -> None:
        super().__init__(portal, commission=commission, slippage=slippage, fill_timing=fill_timing)
        self.store = store
        self.latency_ns = latency_ns
        self._downstream: BrokerEvents | None = None
        self.messages = 0
        #: called with every raw venue report (a dict), before it is applied
        self.on_message: Callable[[dict[str, Any]], None] | None = None
        #: fault injection: for these submit numbers (1-based) the venue takes the order but
        #: the reply is lost (``TimeoutError``), as after a network timeout
        self.unknown_outcome_at: frozenset[int] = frozenset()
        #: fault injection: these submits are lost before the venue sees them (ConnectionError)
        self.lost_at: frozenset[int] = frozenset()
        #: fault injection: these submits fail with the given error before the venue sees
        #: them (a 429, a refused signature, ...)
        self.refuse_at: dict[int, BaseException] = {}
        self.submits = 0
        #: the link to the engine is down: the venue keeps working and recording, but its
        #: reports are not delivered until :meth:`reconnect` (which catches up)
        self.link_down_since: int | None = None
        self._missed: list[tuple[str, OrderEventKind, int, str]] = []
        self.reconnects = 0
        self._stream_error: BaseException | None = None
        self._stream_wake: asyncio.Event | None = None

    def disconnect(self) -> None:
        """Drop the report stream (fault injection: fills made meanwhile are not pushed)."""
        if self.link_down_since is None:
            self.link_down_since = self.portal.now

    def reconnect(self) -> None:
        """Restore the stream and catch up like a venue client: order states, then the
        fills since the link went down (the engine applies each trade id once)."""
        since = self.link_down_since
        if since is None:
            return
        self.link_down_since = None
        self.reconnects += 1
        missed, self._missed = self._missed, []
        assert self._downstream is not None
        for order_id, kind, ts, reason in missed:
            self._downstream.order_event(order_id, kind, ts, reason)
        for fill in self.fills_since(since):
            self._downstream.fill(fill)

    def connect(self, events: BrokerEvents) -> None:
        """Report to ``events`` after the venue store has recorded each report."""
        self._downstream = events
        super().connect(_VenueSink(self))

    def submit(self, order: Order) -> None:
        """The venue receives ``order`` (recorded once per client id) and works it."""
        self.submits += 1
        refusal = self.refuse_at.get(self.submits)
        if refusal is not None:
            raise refusal
        if self.submits in self.lost_at:
            raise ConnectionError(f"connection reset before {order.id} was sent (injected)")
        self.store.add_order(order)  # a re-sent known id is not a second order
        venue_copy = attrs.evolve(order, created=order.created + self.latency_ns)
        super().submit(venue_copy)
        if self.submits in self.unknown_outcome_at:
            raise TimeoutError(f"no reply from the paper venue for {order.id} (injected)")

    def lookup(self, client_order_id: str) -> VenueOrder | None:
        """Resolve an order by client id (None: the venue never received it)."""
        row = self.store.order(client_order_id)
        if row is None:
            return None
        asset = self._asset(row["sid"])
        return VenueOrder(
            client_order_id=client_order_id,
            venue_order_id=client_order_id,
            symbol=asset.symbol if asset is not None else str(row["sid"]),
            status="open" if row["status"] == "accepted" else row["status"],
            amount=Decimal(row["amount"]),
            filled=Decimal(row["filled"]),
        )

    def _asset(self, sid: int) -> Asset | None:
        for asset in self.portal.bars.assets:
            if asset.sid == sid:
                return asset
        return None

    # -- the LiveBroker side: what reconciliation and the conformance kit use ------------
    def instruments(self) -> Sequence[Asset]:
        """The assets of the portal the paper venue matches against."""
        return tuple(self.portal.bars.assets)

    def snapshot(self) -> AccountSnapshot:
        """Balance, positions (net of the venue's fills) and open orders from the store."""
        positions = {}
        for sid, amount in self.store.positions().items():
            asset = self._asset(sid)
            positions[asset.symbol if asset is not None else str(sid)] = amount
        opened = []
        for cid in sorted(self.store.open_order_ids()):
            found = self.lookup(cid)
            if found is not None:
                opened.append(found)
        currency = self.portal.bars.assets[0].quote_currency if self.portal.bars.assets else "USD"
        return AccountSnapshot(
            cash={currency: self.store.cash()}, positions=positions, open_orders=tuple(opened)
        )

    def fills_since(self, ts: int) -> Sequence[Fill]:
        """The venue's fills at or after ``ts``, in the order it made them."""
        out = []
        rows = self.store.db.execute(
            "SELECT trade_id, client_order_id, sid, amount, price, commission, ts FROM "
            "venue_fills WHERE ts >= ? ORDER BY rowid",
            (ts,),
        )
        for tid, cid, sid, amount, price, commission, fts in rows:
            asset = self._asset(sid)
            if asset is None:
                continue
            out.append(
                Fill(
                    id=tid,
                    order_id=cid,
                    asset=asset,
                    amount=Decimal(amount),
                    price=Decimal(price),
                    ts=fts,
                    commission=Decimal(commission),
                )
            )
        return out

    async def run(self) -> None:
        """The paper venue reports synchronously on each bar: nothing to stream, until
        :meth:`break_stream` makes the stream fail."""
        self._stream_wake = asyncio.Event()
        if self._stream_error is None:
            await self._stream_wake.wait()
        if self._stream_error is not None:
            raise self._stream_error

    def break_stream(self, error: BaseException) -> None:
        """Fault injection: the report stream dies with ``error`` (as a venue link that
        cannot reconnect, or refused credentials)."""
        self._stream_error = error
        if self._stream_wake is not None:
            self._stream_wake.set()

    def resume(self, orders: Sequence[Order]) -> None:
        """After a restart restored from the journal: keep working the orders the store
        still has open (the in-memory matching state died with the process)."""
        open_ids = self.store.open_order_ids()
        events = self._events
        self._events = _Quiet()
        try:
            for order in orders:
                if order.id not in open_ids:
                    continue
                SimBroker.submit(self, attrs.evolve(order, created=order.created + self.latency_ns))
                (count,) = self.store.db.execute(
                    "SELECT count(*) FROM venue_fills WHERE client_order_id = ?", (order.id,)
                ).fetchone()
                self._fill_seq[order.id] = int(count)
        finally:
            self._events = events

    def close(self) -> None:
        """Keep the store open for reconciliation; :meth:`VenueStore.close` closes it."""


class _Quiet:
    """Swallows the acceptance a resumed order would report a second time."""

    def order_event(self, order_id: str, kind: OrderEventKind, ts: int, reason: str = "") -> None:
        return None

    def fill(self, fill: Fill) -> None:  # pragma: no cover - resume never fills
        raise AssertionError("a resumed order filled during resume")


class _VenueSink:
    """Records what the simulated venue reports, then forwards it to the engine."""

    def __init__(self, broker: PaperBroker) -> None:
        self.broker = broker

    def order_event(self, order_id: str, kind: OrderEventKind, ts: int, reason: str = "") -> None:
        status = _STATUS.get(kind)
        if status is not None:
            self.broker.store.set_status(order_id, status, reason)
        self.broker.messages += 1
        if self.broker.on_message is not None:
            self.broker.on_message(
                {
                    "type": "order",
                    "order_id": order_id,
                    "event": kind.value,
                    "ts": ts,
                    "reason": reason,
                }
            )
        if self.broker.link_down_since is not None:
            self.broker._missed.append((order_id, kind, ts, reason))
            return
        assert self.broker._downstream is not None
        self.broker._downstream.order_event(order_id, kind, ts, reason)

    def fill(self, fill: Fill) -> None:
        self.broker.store.add_fill(fill)
        order = self.broker.store.order(fill.order_id)
        if order is not None and Decimal(order["filled"]) == Decimal(order["amount"]):
            self.broker.store.set_status(fill.order_id, "filled")
        self.broker.messages += 1
        if self.broker.on_message is not None:
            self.broker.on_message(
                {
                    "type": "fill",
                    "order_id": fill.order_id,
                    "trade_id": fill.id,
                    "ts": fill.ts,
                    "amount": fill.amount,
                    "price": fill.price,
                }
            )
        if self.broker.link_down_since is not None:
            return  # recorded at the venue; delivered by the catch-up on reconnect
        assert self.broker._downstream is not None
        self.broker._downstream.fill(fill)
