"""The asyncio engine: one strategy, unchanged, on a paper (or live) session.

The same :class:`~rbt.kernel.session.Session` and :class:`~rbt.api.engine.Engine` as a
backtest; only the clock (a :class:`~rbt.kernel.realtime.RealtimeClock` over the feed's
schedule), the feed and the broker differ.

Crash safety (design.md §2.5): every order intent is committed with its client order id
(``paper-<run_id>-<seq>``) before the broker sees it; fills are journaled once per trade
id; a checkpoint (positions, strategy state, watermark ``last_ts``) is committed at
every session close. A restart with the same inputs re-derives the run up to the
watermark without sleeping — the strategy re-decides the same bars and so reproduces the
same client ids; intents already journaled are not recorded again and the paper venue
does not take a known client id twice; fills already journaled are not inserted again —
then checks the re-derived books against the checkpoint and the venue's own store
(reconciliation; policy ``halt`` keeps an unexplained mismatch HALTED, ``adopt`` records
it and trades on) and finishes the replay.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import sqlalchemy as sa

from rbt.api.engine import Engine
from rbt.api.params import merge_params
from rbt.api.results import build_frames
from rbt.api.runner import (
    DEFAULT_CAPITAL,
    as_capital,
    as_date,
    resolve_model,
    run_id_for,
    sessions_in_bundle,
    strategy_from,
)
from rbt.data.home import RbtHome
from rbt.data.portal import BarPortal
from rbt.kernel.broker import ClientOrderIds
from rbt.kernel.clock import ClockEvent, ClockEventKind
from rbt.kernel.errors import ConfigError, RbtError
from rbt.kernel.ledger import Ledger
from rbt.kernel.model import Asset, Fill, Order, OrderStyle
from rbt.kernel.orders import OrderEventKind
from rbt.kernel.realtime import RealtimeClock
from rbt.kernel.registry import ProviderKind
from rbt.kernel.session import Session
from rbt.live.feed import ReplayFeed
from rbt.live.journal import Journal, dump_state, load_state
from rbt.live.paper import PaperBroker, VenueStore
from rbt.live.risk import ACTIVE, HALTED, REDUCING, Breaker

__all__ = ["LiveSession", "PaperResult", "PaperRun", "ReconciliationError", "run_paper"]

POLICIES = ("halt", "adopt")


class PersistenceError(RbtError):
    """The journal could not be written; the order was not sent."""


class ReconciliationError(RbtError):
    """Engine books and the venue disagree, and the policy is to stay halted."""


class LiveSession(Session):
    """A :class:`Session` that journals before it sends and honours the kill switch."""

    journal: Journal
    catching_up: bool = False
    trading_state: str = ACTIVE
    state_reason: str = ""
    on_halt: Callable[[str], None] | None = None
    max_orders_per_session: int | None = None
    _rate: dict[Any, int] = {}  # noqa: RUF012 (replaced per instance on first use)

    def place_order(self, asset: Asset, amount: Decimal, style: OrderStyle) -> Order:
        order = Order(
            id=self.order_ids.next(), asset=asset, amount=amount, created=self.now, style=style
        )
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
        except (TimeoutError, ConnectionError) as exc:
            self._resolve_unknown(order, exc)
        return self.orders.get(order.id) or order

    def _resolve_unknown(self, order: Order, exc: BaseException) -> None:
        """An unknown submit outcome is resolved by client id, never by a blind resend."""
        self.journal.audit(self.now, "unknown_outcome", order.id, {"error": repr(exc)})
        lookup = getattr(self.broker, "lookup", None)
        found = lookup(order.id) if lookup is not None else None
        self.journal.audit(self.now, "resolved", order.id, {"venue_has_it": found is not None})
        current = self.orders.get(order.id)
        if found is None and current is not None and current.is_open:
            self._order_changed(
                order.id,
                OrderEventKind.REJECT,
                "UNKNOWN_OUTCOME: the venue never received it (looked up by client id); not resent",
            )
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

    def fill(self, fill: Fill) -> None:
        """Apply each trade id once; a fill of an unknown order halts instead of crashing."""
        if fill.id in self._seen_fills:
            self.journal.audit(self.now, "duplicate_fill", fill.order_id, {"trade_id": fill.id})
            return
        if self.orders.get(fill.order_id) is None:
            self.journal.audit(self.now, "unknown_fill", fill.order_id, {"trade_id": fill.id})
            self.halt(f"fill {fill.id} for unknown order {fill.order_id}")
            return
        self._seen_fills.add(fill.id)
        self.journal.record_fill(fill)
        super().fill(fill)
        if not self.catching_up:
            order = self.orders.get(fill.order_id)
            assert order is not None
            self.journal.record_order_state(order, self.now)

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
    def _seen_fills(self) -> set[str]:
        seen: set[str] | None = self.__dict__.get("_seen")
        if seen is None:
            seen = self.__dict__["_seen"] = set()
        return seen


def _fault(point: str, count: int) -> None:
    """Fault injection for the crash tests: ``RBT_LIVE_FAULT=after_intent:N`` kills the
    process (SIGKILL) right after the N-th intent commit, before the broker call."""
    spec = os.environ.get("RBT_LIVE_FAULT")
    if spec and spec == f"{point}:{count}":
        os.kill(os.getpid(), signal.SIGKILL)


@attrs.frozen
class PaperResult:
    """What a paper run produced (frames as :class:`rbt.api.results.BacktestResult`'s)."""

    run_id: str
    perf: Any
    transactions: Any
    orders: Any
    positions: Any
    final_value: Decimal
    trading_state: str
    state_reason: str
    completed: bool


class PaperRun:
    """Compose a paper run over a bundle replay and drive it with asyncio."""

    def __init__(
        self,
        strategy: Any,
        *,
        start: Any,
        end: Any,
        bundle: str = "demo",
        home: RbtHome | str | Path | None = None,
        capital_base: Any = DEFAULT_CAPITAL,
        params: Mapping[str, Any] | None = None,
        commission: Any = "per_share",
        slippage: Any = "fixed_bps",
        fill_timing: str = "next_close",
        speed: float | None = None,
        latency: dt.timedelta = dt.timedelta(0),
        venue_path: str | Path | None = None,
        policy: str = "halt",
        breakers: Sequence[Breaker] = (),
        on_event: Callable[[ClockEvent], None] | None = None,
        max_orders_per_session: int | None = None,
        unknown_outcome_at: frozenset[int] = frozenset(),
        lost_at: frozenset[int] = frozenset(),
    ) -> None:
        from rbt.data.bundles import bundle_hash, load_bundle
        from rbt.data.db import open_database
        from rbt.plugins import plugin_manager
        from rbt.plugins.calendars import get_calendar

        if policy not in POLICIES:
            raise ConfigError(
                f"unknown reconciliation policy {policy!r}; choose: "
                f"{', '.join(POLICIES)} (flatten is not implemented yet)"
            )
        self.home = home if isinstance(home, RbtHome) else RbtHome(home) if home else RbtHome()
        start_date, end_date = as_date(start, "start"), as_date(end, "end")
        capital = as_capital(capital_base)
        instance, source_hash = strategy_from(strategy)
        pm = plugin_manager()
        commission_model = resolve_model(pm, ProviderKind.COMMISSION_MODEL, commission)
        slippage_model = resolve_model(pm, ProviderKind.SLIPPAGE_MODEL, slippage)
        bars = load_bundle(self.home, bundle)
        calendar = get_calendar(bars.calendar)
        self.sessions = sessions_in_bundle(bars, calendar, start_date, end_date, bundle)
        params_obj = merge_params(instance.PARAMS, dict(params or {}))
        latency_ns = int(latency.total_seconds() * 1_000_000_000)
        self.run_id = run_id_for(
            source_hash,
            params_obj.to_dict(),
            bundle_hash(self.home, bundle),
            start_date,
            end_date,
            capital,
            commission_model,
            slippage_model,
            fill_timing,
            accounts={"mode": "paper", "latency_ns": str(latency_ns)},
        )
        self.capital = capital
        self.policy = policy
        self.breakers = list(breakers)
        self.speed = speed
        self.on_event = on_event
        self.feed = ReplayFeed(bars, calendar)
        self.bars = bars
        portal = BarPortal(bars, calendar)
        venue = (
            Path(venue_path) if venue_path else self.home.root / "paper" / f"{self.run_id}.sqlite"
        )
        self.store = VenueStore(venue, account="paper", cash=capital)
        broker = pm.get_provider(ProviderKind.BROKER, "paper").create(
            portal,
            commission=commission_model,
            slippage=slippage_model,
            fill_timing=fill_timing,
            store=self.store,
            latency_ns=latency_ns,
        )
        assert isinstance(broker, PaperBroker)
        broker.unknown_outcome_at = unknown_outcome_at
        broker.lost_at = lost_at
        self.broker = broker
        self.db = open_database(self.home)
        self.journal = Journal(self.db, self.run_id, venue="paper", account="paper")
        previous = self.journal.start_session(
            "paper",
            str(strategy),
            {
                "bundle": bundle,
                "start": start_date,
                "end": end_date,
                "latency_ns": latency_ns,
                "policy": policy,
            },
            capital,
        )
        self.previous = previous
        self.journal.record_connection(
            f"paper-{self.run_id}", "paper", {"store": str(venue), "latency_ns": latency_ns}
        )
        self.ledger = Ledger(capital, "USD")
        session = LiveSession(
            portal=portal,
            broker=self.broker,
            ledger=self.ledger,
            order_ids=ClientOrderIds("paper", self.run_id),
            manager=pm,
        )
        session.journal = self.journal
        session.max_orders_per_session = max_orders_per_session
        state, why = self.journal.trading_state()
        session.trading_state, session.state_reason = state, why
        self.session = session
        from rbt.api.actions import AccountEvents

        AccountEvents(
            session,
            portal,
            calendar,
            borrow_rate=Decimal(0),
            financing_rate=Decimal(0),
            on_positions_changed=lambda: self.engine.sync_positions(),
        )
        by_symbol = {a.symbol: a for a in bars.assets}

        def lookup(ticker: str, as_of: dt.date | None) -> Asset:
            try:
                return by_symbol[ticker]
            except KeyError:
                raise LookupError(f"unknown symbol {ticker!r} in bundle {bundle!r}") from None

        self.engine = Engine(
            instance,
            session,
            portal,
            params_obj,
            self.sessions,
            lookup,
            commission_model,
            slippage_model,
        )
        self.strategy = instance
        hook = getattr(instance, "on_broker_message", None)
        if hook is not None:

            def on_message(message: dict[str, Any]) -> None:
                with self.engine.active():
                    hook(self.engine.context, message)

            self.broker.on_message = on_message
        self.watermark: int | None = previous["last_ts"] if previous else None
        self.peak = (
            Decimal(previous["peak_value"]) if previous and previous["peak_value"] else capital
        )
        self.session_start_value = capital
        self.completed = previous is not None and previous["status"] == "completed"
        self.reconciled = self.watermark is None

    def value(self) -> Decimal:
        return self.ledger.cash + self.ledger.positions_value()

    def _after_step(self, event: ClockEvent) -> None:
        kind = event.kind
        if kind is ClockEventKind.SESSION_START:
            self.session_start_value = self.value()
        if kind is ClockEventKind.SESSION_END:
            value = self.value()
            self.peak = max(self.peak, value)
            if not self.session.catching_up:
                for breaker in self.breakers:
                    why = breaker.check(value, self.peak, self.session_start_value)
                    if why is not None and self.session.trading_state != HALTED:
                        self.session.halt(why)
                self._checkpoint(event, value)
        else:
            self.journal.commit()
        if (
            kind in (ClockEventKind.SESSION_START, ClockEventKind.BAR)
            and not self.session.catching_up
        ):
            # rbt halt / rbt resume from another process take effect here
            state, why = self.journal.trading_state()
            self.session.trading_state, self.session.state_reason = state, why

    def _checkpoint(self, event: ClockEvent, value: Decimal) -> None:
        state = dump_state(self.strategy, self.engine.context)  # StateError names the attribute
        try:
            self.journal.checkpoint(
                event.ts,
                cash=self.ledger.cash,
                value=value,
                positions=list(self.ledger.iter_holdings()),
                state=state,
                peak=self.peak,
                session_start=self.session_start_value,
            )
        except sa.exc.SQLAlchemyError as exc:
            self.journal.conn.rollback()
            raise PersistenceError(
                f"could not write the checkpoint of {event.session} ({exc.__class__.__name__}); "
                "the run stopped: nothing was sent after it"
            ) from exc

    # -- reconciliation -------------------------------------------------------------------
    def reconcile(self) -> list[str]:
        """Compare the re-derived books with the checkpoint and with the venue's store."""
        assert self.watermark is not None
        problems = []
        books = {a.sid: amt for a, amt, _p in self.ledger.iter_holdings() if amt != 0}
        saved = self.journal.positions()
        if books != saved:
            problems.append(f"positions {books} differ from the checkpoint {saved}")
        saved_cash = self.previous["cash"] if self.previous else None
        if saved_cash is not None and Decimal(saved_cash) != self.ledger.cash:
            problems.append(f"cash {self.ledger.cash} differs from the checkpoint {saved_cash}")
        venue_fills = {
            r[0]
            for r in self.store.db.execute(
                "SELECT trade_id FROM venue_fills WHERE ts <= ?", (self.watermark,)
            )
        }
        ours = {f.id for f in self.session.fills}
        if venue_fills != ours:
            extra = sorted(venue_fills - ours)[:5]
            missing = sorted(ours - venue_fills)[:5]
            problems.append(f"venue fills differ: venue-only {extra}, engine-only {missing}")
        venue_pos: dict[int, Decimal] = {}
        for sid, amount in self.store.db.execute(
            "SELECT sid, amount FROM venue_fills WHERE ts <= ?", (self.watermark,)
        ):
            venue_pos[sid] = venue_pos.get(sid, Decimal(0)) + Decimal(amount)
        venue_pos = {k: v for k, v in venue_pos.items() if v != 0}
        if venue_pos != books:
            problems.append(f"venue positions {venue_pos} differ from the engine's {books}")
        foreign = self.store.open_order_ids() - {o.id for o in self.session.orders}
        if foreign:
            problems.append(f"venue has orders the engine does not know: {sorted(foreign)[:5]}")
        saved_state = self.journal.strategy_state()
        if saved_state is not None:
            try:
                now_state = dump_state(self.strategy, self.engine.context)
            except RbtError:
                now_state = None
            if now_state != saved_state:  # the checkpoint is the truth: restore it
                load_state(
                    self.strategy,
                    self.engine.context,
                    saved_state,
                    {a.sid: a for a in self.bars.assets},
                )
        self.journal.audit(
            self.watermark, "reconcile", None, {"problems": problems, "policy": self.policy}
        )
        self.journal.commit()
        return problems

    # -- driving ----------------------------------------------------------------------------
    async def run(self) -> PaperResult:
        """Replay the feed through the session; returns when the replay ends."""
        if self.completed:
            raise ConfigError(f"paper run {self.run_id} already completed; see rbt status")
        clock = RealtimeClock(
            self.feed.schedule(self.sessions[0], self.sessions[-1]), speed=self.speed
        )
        session = self.session
        self.engine.initialize()
        session.start()
        session.catching_up = self.watermark is not None
        outcome = "failed"
        try:
            async for event in clock.events(
                skip_until=None if self.watermark is None else self.watermark + 1
            ):
                if session.catching_up and event.ts > (self.watermark or 0):
                    session.catching_up = False
                    problems = self.reconcile()
                    self.reconciled = True
                    if problems:
                        if self.policy == "halt":
                            session.halt("reconciliation: " + "; ".join(problems))
                        else:
                            self.journal.audit(event.ts, "adopt", None, {"problems": problems})
                    state, why = self.journal.trading_state()
                    session.trading_state, session.state_reason = state, why
                session.step(event)
                self._after_step(event)
                if self.on_event is not None:
                    self.on_event(event)
            outcome = "completed"
        finally:
            session.finish(outcome)
            try:
                self.journal.set_status(outcome)
            except sa.exc.SQLAlchemyError:
                if outcome == "completed":
                    raise
                self.journal.conn.rollback()  # keep the original error; the row stays running
        return self.result(completed=True)

    def result(self, completed: bool) -> PaperResult:
        session_of = {r.ts: r.session for r in self.engine.records}
        for fill in self.session.fills:
            session_of.setdefault(fill.ts, dt.datetime.fromtimestamp(fill.ts / 1e9, dt.UTC).date())
        perf, transactions, orders, positions = build_frames(
            self.engine.records,
            self.session.fills,
            list(self.session.orders),
            {a.sid: a for a in self.bars.assets},
            self.capital,
            session_of,
        )
        return PaperResult(
            run_id=self.run_id,
            perf=perf,
            transactions=transactions,
            orders=orders,
            positions=positions,
            final_value=self.value(),
            trading_state=self.session.trading_state,
            state_reason=self.session.state_reason,
            completed=completed,
        )

    def close(self) -> None:
        self.journal.close()
        self.store.close()


def run_paper(strategy: Any, **kwargs: Any) -> PaperResult:
    """Compose and run a paper replay synchronously (tests, notebooks)."""
    run = PaperRun(strategy, **kwargs)
    try:
        return asyncio.run(run.run())
    finally:
        run.close()
