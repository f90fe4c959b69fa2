"""Reconciliation of a live run's books with the venue (design.md §2.5, reliability.md A.4.5).

* **Restore** (:meth:`Reconciler.restore_from_journal`): a run that cannot be re-derived
  by replaying its feed (a streaming feed, or a live broker) restores its books from the
  journal on restart: orders with their states, the ledger from the journaled fills (in
  order), the strategy state of the last checkpoint, the client-id sequence.
* **Start halted** (:meth:`Reconciler.at_start`): before the first event, in-flight orders
  are resolved by client id (never resent), fills the venue made meanwhile are fetched
  (``fills_since``) and applied exactly once, and the venue's positions are compared with
  the books. Positions the account held when the run first started (the *baseline*,
  recorded once in the audit log) are not the run's.
* **Periodic** (:meth:`Reconciler.against_venue`): every N bars, the same catch-up and
  comparison while trading.
* **Policies** on an unexplained mismatch: ``halt`` (stay HALTED until ``rbt resume``),
  ``adopt`` (audit it; the venue's position becomes part of the baseline; trade on),
  ``flatten`` (cancel our open orders, close the positions the books cannot explain with
  orders of their own ids ``flat-<run_id>-<n>``, which never enter the run's books; trade
  on).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from rbt.kernel.broker import AccountSnapshot, LiveBroker, VenueOrder
from rbt.kernel.errors import BrokerError, RbtError
from rbt.kernel.model import Asset, Fill, Order, OrderStatus, OrderStyle, OrderType, TimeInForce
from rbt.kernel.orders import OrderEventKind
from rbt.live.journal import dump_state, load_state
from rbt.live.risk import HALTED

if TYPE_CHECKING:
    from rbt.live.engine import LiveRun

__all__ = ["FLATTEN_PREFIX", "POLICIES", "Reconciler", "style_from_json"]

POLICIES = ("halt", "adopt", "flatten")
FLATTEN_PREFIX = "flat-"
_OPEN_VENUE = ("open", "accepted", "new", "partially_filled")
_VENUE_EVENT = {
    "cancelled": OrderEventKind.CANCEL,
    "canceled": OrderEventKind.CANCEL,
    "expired": OrderEventKind.EXPIRE,
    "rejected": OrderEventKind.REJECT,
}


def style_from_json(text: str) -> OrderStyle:
    """Rebuild an :class:`OrderStyle` from the journal's ``style`` column."""
    raw = json.loads(text)
    kw: dict[str, Any] = {}
    if "type" in raw:
        kw["type"] = OrderType(raw["type"])
    if "time_in_force" in raw:
        kw["time_in_force"] = TimeInForce(raw["time_in_force"])
    for key in ("limit_price", "stop_price", "trail_amount", "trail_percent"):
        if key in raw:
            kw[key] = Decimal(raw[key])
    for key in ("oco_group", "parent_id", "replaces"):
        if key in raw:
            kw[key] = raw[key]
    if "good_till" in raw:
        import datetime as dt

        kw["good_till"] = dt.date.fromisoformat(raw["good_till"])
    return OrderStyle(**kw)


def venue_order_of(row: dict[str, Any] | VenueOrder | None, symbol: str = "") -> VenueOrder | None:
    """A lookup result as a :class:`VenueOrder` (the paper store answers with a dict)."""
    if row is None or isinstance(row, VenueOrder):
        return row
    return VenueOrder(
        client_order_id=row["client_order_id"],
        venue_order_id=row["client_order_id"],
        symbol=symbol,
        status="open" if row["status"] == "accepted" else row["status"],
        amount=Decimal(row["amount"]),
        filled=Decimal(row["filled"]),
    )


def _fill(
    tid: str, cid: str, asset: Asset, amount: str, price: str, commission: str, ts: int
) -> Fill:
    return Fill(
        id=tid,
        order_id=cid,
        asset=asset,
        amount=Decimal(amount),
        price=Decimal(price),
        ts=ts,
        commission=Decimal(commission),
    )


class Reconciler:
    """Compares one run's books with its venue (the paper store or a live broker)."""

    def __init__(self, run: LiveRun) -> None:
        self.run = run
        self.session = run.session
        self.journal = run.journal
        self.by_symbol = {a.symbol: a for a in run.assets.values()}

    # -- the venue's view ---------------------------------------------------------------
    def _snapshot(self) -> AccountSnapshot:
        broker = self.run.broker
        if isinstance(broker, LiveBroker):
            return broker.snapshot()
        store = self.run.store
        assert store is not None
        positions = {
            self.run.assets[sid].symbol: amount
            for sid, amount in store.positions().items()
            if sid in self.run.assets
        }
        opened = tuple(
            VenueOrder(cid, cid, "", "open", Decimal(0), Decimal(0))
            for cid in sorted(store.open_order_ids())
        )
        return AccountSnapshot(
            cash={self.run.ledger.base_currency: store.cash()},
            positions=positions,
            open_orders=opened,
        )

    def _venue_fills(self, since: int) -> Sequence[Fill]:
        broker = self.run.broker
        if isinstance(broker, LiveBroker):
            return broker.fills_since(since)
        store = self.run.store
        assert store is not None
        out = []
        for tid, cid, sid, amount, price, commission, ts in store.db.execute(
            "SELECT trade_id, client_order_id, sid, amount, price, commission, ts FROM "
            "venue_fills WHERE ts >= ? ORDER BY ts, rowid",
            (since,),
        ):
            asset = self.run.assets.get(sid)
            if asset is not None:
                out.append(_fill(tid, cid, asset, amount, price, commission, ts))
        return out

    def _lookup(self, order: Order) -> VenueOrder | None:
        lookup = getattr(self.run.broker, "lookup", None)
        if lookup is None:
            return None
        return venue_order_of(lookup(order.id), order.asset.symbol)

    def _positions(self, snapshot: AccountSnapshot) -> dict[int, Decimal]:
        out: dict[int, Decimal] = {}
        for symbol, amount in snapshot.positions.items():
            asset = self.by_symbol.get(symbol)
            if asset is not None and amount != 0:
                out[asset.sid] = Decimal(amount)
        return out

    # -- baseline -------------------------------------------------------------------------
    def baseline(self) -> dict[int, Decimal] | None:
        """The venue positions that are not the run's (recorded at its first start)."""
        row = self.journal.conn.execute(
            sa.text(
                "SELECT payload FROM order_audit_log WHERE run_id = :r AND event IN "
                "('baseline', 'adopt_baseline') ORDER BY id DESC LIMIT 1"
            ),
            {"r": self.run.run_id},
        ).fetchone()
        self.journal.commit()
        if row is None:
            return None
        return {int(k): Decimal(v) for k, v in json.loads(row[0])["positions"].items()}

    def _record_baseline(self, ts: int, positions: dict[int, Decimal], event: str) -> None:
        payload = {"positions": {str(k): str(v) for k, v in sorted(positions.items()) if v}}
        self.journal.audit(ts, event, None, payload)
        self.journal.commit()

    # -- restore ----------------------------------------------------------------------------
    def restore_from_journal(self) -> None:
        """Rebuild orders, ledger, strategy state and sequence from the journal."""
        run, session = self.run, self.session
        conn = self.journal.conn
        fills_by_order: dict[str, list[Fill]] = {}
        fills: list[Fill] = []
        rows = conn.execute(
            sa.text(
                "SELECT trade_id, client_order_id, sid, amount, price, commission, ts FROM fills "
                "WHERE run_id = :r ORDER BY id"
            ),
            {"r": run.run_id},
        ).fetchall()
        for tid, cid, sid, amount, price, commission, ts in rows:
            asset = self._asset(sid)
            fill = _fill(tid, cid, asset, amount, price, commission, ts)
            fills.append(fill)
            fills_by_order.setdefault(cid, []).append(fill)
        orders = conn.execute(
            sa.text(
                "SELECT client_order_id, sid, amount, style, created, status, reason FROM orders "
                "WHERE run_id = :r ORDER BY seq"
            ),
            {"r": run.run_id},
        ).fetchall()
        self.journal.commit()
        for cid, sid, amount, style, created, status, reason in orders:
            own = fills_by_order.get(cid, [])
            filled = sum((f.amount for f in own), Decimal(0))
            state = OrderStatus.SUBMITTED if status == "submitting" else OrderStatus(status)
            if filled == Decimal(amount) and filled != 0:
                state = OrderStatus.FILLED
            order = Order(
                id=cid,
                asset=self._asset(sid),
                amount=Decimal(amount),
                created=created,
                style=style_from_json(style),
                status=state,
                filled=filled,
                commission=sum((f.commission for f in own), Decimal(0)),
                reason=reason,
            )
            session.orders.add(order)
        for fill in fills:
            run.ledger.apply_fill(fill)
            session.fills.append(fill)
            session._seen_fills.add(fill.id)
        for asset, _amount, _last in list(run.ledger.iter_holdings()):
            saved = self.journal.last_price(asset.sid)
            if saved is not None:
                run.ledger.mark(asset, saved)
        saved_state = self.journal.strategy_state()
        if saved_state is not None:
            load_state(run.strategy, run.engine.context, saved_state, run.assets)
        run.engine.sync_positions()
        previous = run.previous or {}
        if previous.get("peak_value"):
            run.peak = Decimal(previous["peak_value"])
        self.journal.audit(
            run.watermark or 0,
            "restored",
            None,
            {"orders": len(orders), "fills": len(fills), "cash": str(run.ledger.cash)},
        )
        self.journal.commit()

    def _asset(self, sid: int) -> Asset:
        try:
            return self.run.assets[sid]
        except KeyError:
            raise RbtError(
                f"the journal of run {self.run.run_id} has asset id {sid}, which the feed and "
                "broker no longer list; restart with the same symbols"
            ) from None

    # -- checks -------------------------------------------------------------------------
    def _catch_up(self, ts: int) -> list[str]:
        """Resolve in-flight orders by client id and apply the venue's missed fills once."""
        problems: list[str] = []
        session = self.session
        open_orders = list(session.orders.open_orders())
        resolved: list[tuple[Order, VenueOrder | None]] = []
        for order in open_orders:
            resolved.append((order, self._lookup(order)))
        since = min([o.created for o in open_orders] + [self.run.watermark or ts, ts])
        ours = session.order_ids.prefix
        for fill in self._venue_fills(since):
            if fill.order_id.startswith(FLATTEN_PREFIX):
                continue
            if session.orders.get(fill.order_id) is None:
                if fill.order_id.startswith(ours):
                    problems.append(f"venue fill {fill.id} of our order {fill.order_id} we lost")
                continue  # a foreign fill shows up in the positions
            if fill.id not in session._seen_fills:
                self.journal.audit(ts, "caught_up_fill", fill.order_id, {"trade_id": fill.id})
                session.fill(fill)
        session.drain_reports()  # called between a bar's turn and its close: book them now
        for order, venue in resolved:
            current = session.orders.get(order.id)
            assert current is not None
            if not current.is_open:
                continue
            if venue is None:
                if current.status is OrderStatus.SUBMITTED:
                    session._order_changed(
                        order.id,
                        OrderEventKind.REJECT,
                        "UNKNOWN_OUTCOME: the venue never received it (looked up by client id);"
                        " not resent",
                    )
                else:
                    problems.append(
                        f"order {order.id} is {current.status.value} here, unknown there"
                    )
                continue
            if current.status is OrderStatus.SUBMITTED and venue.status != "rejected":
                session._order_changed(order.id, OrderEventKind.ACCEPT)
            kind = _VENUE_EVENT.get(venue.status)
            current = session.orders.get(order.id)
            assert current is not None
            if kind is not None and current.is_open:
                if current.status is OrderStatus.PARTIALLY_FILLED and kind is OrderEventKind.REJECT:
                    kind = OrderEventKind.CANCEL
                session._order_changed(order.id, kind, f"venue says {venue.status}")
        self.journal.commit()
        return problems

    def _compare(self, snapshot: AccountSnapshot) -> list[str]:
        problems: list[str] = []
        base = self.baseline() or {}
        books = {a.sid: amt for a, amt, _p in self.run.ledger.iter_holdings() if amt != 0}
        expected = {
            sid: base.get(sid, Decimal(0)) + books.get(sid, Decimal(0))
            for sid in set(base) | set(books)
        }
        expected = {k: v for k, v in expected.items() if v != 0}
        venue = self._positions(snapshot)
        for sid in sorted(set(expected) | set(venue)):
            want, have = expected.get(sid, Decimal(0)), venue.get(sid, Decimal(0))
            if want != have:
                symbol = self.run.assets[sid].symbol
                problems.append(f"{symbol}: venue holds {have}, the books explain {want}")
        ours = self.session.order_ids.prefix
        known = {o.id for o in self.session.orders}
        for venue_order in snapshot.open_orders:
            cid = venue_order.client_order_id
            if cid.startswith(ours) and cid not in known:
                problems.append(f"venue has our order {cid} the journal does not know")
        return problems

    def diffs(self, snapshot: AccountSnapshot) -> dict[int, Decimal]:
        """Per asset: venue position minus what the books explain (non-zero only)."""
        base = self.baseline() or {}
        books = {a.sid: amt for a, amt, _p in self.run.ledger.iter_holdings()}
        venue = self._positions(snapshot)
        out = {}
        for sid in set(base) | set(books) | set(venue):
            diff = (
                venue.get(sid, Decimal(0)) - base.get(sid, Decimal(0)) - books.get(sid, Decimal(0))
            )
            if diff:
                out[sid] = diff
        return out

    def at_start(self) -> list[str]:
        """Start-halted check of a journal-recovered run (also the first start)."""
        ts = self.run.watermark or 0
        snapshot = self._snapshot()
        if self.baseline() is None:
            self._record_baseline(ts, self._positions(snapshot), "baseline")
            if self.run.previous is None:
                return []  # a first start: nothing to reconcile yet
        problems = self._catch_up(ts)
        snapshot = self._snapshot()
        problems += self._compare(snapshot)
        self.apply_policy(problems, ts, "start", snapshot)
        return problems

    def against_venue(self, ts: int) -> list[str]:
        """Periodic check while trading: catch up, then compare positions."""
        problems = self._catch_up(ts)
        return problems + self._compare(self._snapshot())

    def at_restart(self) -> list[str]:
        """Replay recovery (paper): the re-derived books against the checkpoint and the
        paper venue's store, up to the watermark."""
        run = self.run
        assert run.watermark is not None
        store = run.store
        assert store is not None
        problems = []
        books = {a.sid: amt for a, amt, _p in run.ledger.iter_holdings() if amt != 0}
        saved = self.journal.positions()
        if books != saved:
            problems.append(f"positions {books} differ from the checkpoint {saved}")
        saved_cash = run.previous["cash"] if run.previous else None
        if saved_cash is not None and Decimal(saved_cash) != run.ledger.cash:
            problems.append(f"cash {run.ledger.cash} differs from the checkpoint {saved_cash}")
        venue_fills = {
            r[0]
            for r in store.db.execute(
                "SELECT trade_id FROM venue_fills WHERE ts <= ?", (run.watermark,)
            )
            if not r[0].startswith(FLATTEN_PREFIX)
        }
        ours = {f.id for f in self.session.fills}
        if venue_fills != ours:
            extra = sorted(venue_fills - ours)[:5]
            missing = sorted(ours - venue_fills)[:5]
            problems.append(f"venue fills differ: venue-only {extra}, engine-only {missing}")
        venue_pos: dict[int, Decimal] = {}
        for sid, amount, cid in store.db.execute(
            "SELECT sid, amount, client_order_id FROM venue_fills WHERE ts <= ?", (run.watermark,)
        ):
            if not cid.startswith(FLATTEN_PREFIX):
                venue_pos[sid] = venue_pos.get(sid, Decimal(0)) + Decimal(amount)
        venue_pos = {k: v for k, v in venue_pos.items() if v != 0}
        if venue_pos != books:
            problems.append(f"venue positions {venue_pos} differ from the engine's {books}")
        # orders journaled after the watermark are ours: the replay re-decides them next
        foreign = store.open_order_ids() - {o.id for o in self.session.orders}
        foreign -= self.journal.order_ids()
        foreign = {c for c in foreign if not c.startswith(FLATTEN_PREFIX)}
        if foreign:
            problems.append(f"venue has orders the engine does not know: {sorted(foreign)[:5]}")
        saved_state = self.journal.strategy_state()
        if saved_state is not None:
            try:
                now_state = dump_state(run.strategy, run.engine.context)
            except RbtError:
                now_state = None
            if now_state != saved_state:  # the checkpoint is the truth: restore it
                load_state(run.strategy, run.engine.context, saved_state, run.assets)
        self.journal.audit(
            run.watermark, "reconcile", None, {"problems": problems, "policy": run.policy}
        )
        self.journal.commit()
        return problems

    # -- policies -------------------------------------------------------------------------
    def apply_policy(
        self, problems: list[str], ts: int, when: str, snapshot: AccountSnapshot | None = None
    ) -> None:
        """Act on ``problems`` by the run's policy (nothing to do when there are none)."""
        run, session = self.run, self.session
        self.journal.audit(
            ts, "reconcile", None, {"when": when, "problems": problems, "policy": run.policy}
        )
        self.journal.commit()
        if not problems:
            return
        if run.policy == "halt":
            session.halt(f"reconciliation ({when}): " + "; ".join(problems))
        elif run.policy == "adopt":
            snap = snapshot or self._snapshot()
            base = self.baseline() or {}
            for sid, diff in self.diffs(snap).items():
                base[sid] = base.get(sid, Decimal(0)) + diff
            self._record_baseline(ts, base, "adopt_baseline")
            self.journal.audit(ts, "adopt", None, {"problems": problems})
        else:
            self.flatten(ts, problems, snapshot)
        self.journal.commit()
        if session.trading_state != HALTED:
            session.trading_state, session.state_reason = self.journal.trading_state()

    def flatten(self, ts: int, problems: list[str], snapshot: AccountSnapshot | None) -> None:
        """Cancel our open orders; close what the books cannot explain (audited)."""
        session = self.session
        for order in list(session.orders.open_orders()):
            self.journal.audit(ts, "flatten_cancel", order.id, {})
            session.request_cancel(order.id)
        snap = snapshot or self._snapshot()
        count = self._count_events("flatten_order")
        for sid, diff in sorted(self.diffs(snap).items()):
            count += 1
            asset = self.run.assets[sid]
            order = Order(
                id=f"{FLATTEN_PREFIX}{self.run.run_id}-{count}",
                asset=asset,
                amount=-diff,
                created=ts,
                status=OrderStatus.SUBMITTED,
            )
            self.journal.audit(
                ts, "flatten_order", order.id, {"sid": sid, "amount": str(order.amount)}
            )
            self.journal.commit()  # save before send, as for every order
            try:
                self.run.broker.submit(order)
            except (TimeoutError, ConnectionError, BrokerError) as exc:
                self.journal.audit(ts, "flatten_unknown", order.id, {"error": repr(exc)})
        self.journal.audit(ts, "flatten", None, {"problems": problems})

    def _count_events(self, event: str) -> int:
        count = self.journal.conn.execute(
            sa.text("SELECT count(*) FROM order_audit_log WHERE run_id = :r AND event = :e"),
            {"r": self.run.run_id, "e": event},
        ).scalar_one()
        self.journal.commit()
        return int(count)
