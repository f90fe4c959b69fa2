"""The asyncio engine: one strategy, unchanged, on a paper or live session.

The same :class:`~rbt.kernel.session.Session` and :class:`~rbt.api.engine.Engine` as a
backtest; only the clock, the feed and the broker differ. :class:`LiveRun` composes them
with the feed (a bundle :class:`Replay`, or a venue's :class:`~rbt.live.feed.BarStream`
whose bars grow a :class:`~rbt.live.stream.GrowingPortal` and drive the clock) and the
broker (the paper broker, or any :class:`~rbt.kernel.broker.LiveBroker`) injected;
:class:`PaperRun` is its paper composition over a replay.

Crash safety (design.md §2.5): every order intent is committed with its client order id
(``<tag>-<run_id>-<seq>``) before the broker sees it; fills are journaled once per trade
id; a checkpoint (positions, strategy state, watermark ``last_ts``) is committed at
every session close (and at every bar when there is no replay to recover from).

Recovery after a crash, with the same command:

* *replay recovery* (paper broker over a replay): the run is re-derived up to the
  watermark without sleeping — the strategy re-decides the same bars and so reproduces
  the same client ids; known intents are not recorded again and the paper venue does not
  take a known client id twice; known fills are not inserted again — then the books are
  checked against the checkpoint and the venue's own store;
* *journal recovery* (a streaming feed or a live broker): orders, ledger, strategy state
  and sequence are restored from the journal, in-flight orders are resolved by client id,
  the venue's missed fills are fetched and applied once, and the positions are compared
  (:mod:`rbt.live.reconcile`).

An unexplained mismatch applies the policy: ``halt`` keeps the run HALTED, ``adopt``
records it and trades on, ``flatten`` cancels our open orders and closes what the books
cannot explain, then trades on.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
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
from rbt.kernel.broker import Broker, ClientOrderIds, LiveBroker, VenueEndpoint
from rbt.kernel.clock import ClockEvent, ClockEventKind, TradingCalendar
from rbt.kernel.errors import ConfigError, RbtError
from rbt.kernel.events import BarClosed
from rbt.kernel.ledger import Ledger
from rbt.kernel.model import Asset, AssetClass
from rbt.kernel.realtime import RealtimeClock
from rbt.kernel.registry import ProviderKind
from rbt.live.feed import BarStream, ReplayFeed
from rbt.live.journal import Journal, dump_state
from rbt.live.observers import LiveObserver, Observers
from rbt.live.paper import PaperBroker, VenueStore
from rbt.live.reconcile import POLICIES, Reconciler
from rbt.live.risk import HALTED, Breaker
from rbt.live.session import LiveSession, PersistenceError, ReconciliationError
from rbt.live.stream import GrowingPortal, StreamClock, frequency_of
from rbt.live.stream import session_of as stream_session_of

__all__ = [
    "BrokerLinkError",
    "LiveResult",
    "LiveRun",
    "LiveSession",
    "PaperResult",
    "PaperRun",
    "PersistenceError",
    "ReconciliationError",
    "Replay",
    "run_live",
    "run_paper",
]


@attrs.frozen
class PaperResult:
    """What a paper or live run produced (frames as :class:`rbt.api.results.BacktestResult`'s)."""

    run_id: str
    perf: Any
    transactions: Any
    orders: Any
    positions: Any
    final_value: Decimal
    trading_state: str
    state_reason: str
    completed: bool


LiveResult = PaperResult


@attrs.frozen
class Replay:
    """A replay feed: a bundle's bars from ``start`` to ``end`` (inclusive sessions),
    paced by ``speed`` (None: ``max``, no sleeping)."""

    bundle: str
    start: Any
    end: Any
    speed: float | None = None


#: far enough ahead for schedule_function rules of an open-ended streaming run
STREAM_YEARS = 10
_EPOCH = dt.date(1970, 1, 1)


class LiveRun:
    """One strategy on a live session, with its feed and broker injected.

    :param strategy: what :func:`rbt.api.runner.strategy_from` accepts (a file, a class,
        an instance); kept as :attr:`strategy_spec` so observers can build a second copy.
    :param feed: a :class:`Replay` (bundle bars on their own timestamps) or a
        :class:`~rbt.live.feed.BarStream` (closed bars from a venue; the clock follows them).
    :param broker: ``"paper"`` (the paper broker and its venue store), the name of a BROKER
        provider whose factory is ``factory(endpoint, *, symbols)`` and returns a
        :class:`~rbt.kernel.broker.LiveBroker`, or a broker object.
    :param endpoint: where a named live broker connects (mode, URLs, credentials).
    :param observers: :class:`~rbt.live.observers.LiveObserver` objects; their failures
        are audited and detach them, never stop trading.
    :param reconcile_every: reconcile with the venue every N bars (None: only at start).
    :param start: first session of a streaming run's calendar (schedule_function rules);
        default: today (UTC).
    :param manager: the plugin manager providers are resolved in (default: installed).
    :param database: the journal's database URL (default: the home's, ``RBT_DATABASE_URL``
        or ``$RBT_HOME/rbt.sqlite``); PostgreSQL as ``postgresql://...``.

    Public attributes for observers: ``run_id``, ``session``, ``portal``, ``calendar``,
    ``assets`` (sid → Asset), ``strategy_spec``, ``params``, ``capital``,
    ``commission_model``, ``slippage_model``, ``fill_timing``, ``journal``, ``db``,
    ``mode``, and :meth:`trip`.
    """

    def __init__(
        self,
        strategy: Any,
        *,
        feed: Replay | BarStream,
        broker: str | Broker = "paper",
        endpoint: VenueEndpoint | None = None,
        home: RbtHome | str | Path | None = None,
        capital_base: Any = DEFAULT_CAPITAL,
        params: Mapping[str, Any] | None = None,
        commission: Any = "per_share",
        slippage: Any = "fixed_bps",
        fill_timing: str = "next_close",
        latency: dt.timedelta = dt.timedelta(0),
        venue_path: str | Path | None = None,
        policy: str = "halt",
        breakers: Sequence[Breaker] = (),
        on_event: Callable[[ClockEvent], None] | None = None,
        observers: Sequence[LiveObserver] = (),
        max_orders_per_session: int | None = None,
        reconcile_every: int | None = None,
        mode: str | None = None,
        start: Any = None,
        database: str | None = None,
        manager: Any = None,
        unknown_outcome_at: frozenset[int] = frozenset(),
        lost_at: frozenset[int] = frozenset(),
    ) -> None:
        from rbt.data.db import open_database
        from rbt.plugins import plugin_manager
        from rbt.plugins.calendars import get_calendar

        if policy not in POLICIES:
            raise ConfigError(
                f"unknown reconciliation policy {policy!r}; choose: {', '.join(POLICIES)}"
            )
        if reconcile_every is not None and reconcile_every < 1:
            raise ConfigError(
                f"reconcile_every must be a positive bar count, got {reconcile_every}"
            )
        self.home = home if isinstance(home, RbtHome) else RbtHome(home) if home else RbtHome()
        self.capital = as_capital(capital_base)
        self.strategy_spec = strategy
        instance, source_hash = strategy_from(strategy)
        pm = manager if manager is not None else plugin_manager()
        self.commission_model = resolve_model(pm, ProviderKind.COMMISSION_MODEL, commission)
        self.slippage_model = resolve_model(pm, ProviderKind.SLIPPAGE_MODEL, slippage)
        self.fill_timing = fill_timing
        self.policy = policy
        self.breakers = list(breakers)
        self.on_event = on_event
        self.reconcile_every = reconcile_every
        latency_ns = int(latency.total_seconds() * 1_000_000_000)
        paper = isinstance(broker, str) and broker == "paper"
        self.replay = isinstance(feed, Replay)
        self.stream: BarStream | None = None if isinstance(feed, Replay) else feed

        # -- feed, assets, calendar ---------------------------------------------------
        live_broker: Broker | None = None
        if isinstance(feed, Replay):
            from rbt.data.bundles import bundle_hash, load_bundle

            start_date, end_date = as_date(feed.start, "start"), as_date(feed.end, "end")
            bars = load_bundle(self.home, feed.bundle)
            self.calendar: TradingCalendar = get_calendar(bars.calendar)
            self.sessions = sessions_in_bundle(
                bars, self.calendar, start_date, end_date, feed.bundle
            )
            self.speed = feed.speed
            symbols: tuple[str, ...] = tuple(a.symbol for a in bars.assets)
            feed_key = bundle_hash(self.home, feed.bundle)
            feed_config: dict[str, Any] = {
                "bundle": feed.bundle,
                "start": start_date,
                "end": end_date,
            }
        else:
            self.calendar = get_calendar("always_open")
            symbols = tuple(feed.symbols)
            start_date = as_date(start, "start") if start is not None else _utc_today()
            end_date = start_date + dt.timedelta(days=366 * STREAM_YEARS)
            self.sessions = list(self.calendar.sessions(start_date, end_date))
            self.speed = None
            feed_key = f"stream:{feed.name}:{','.join(symbols)}:{feed.interval_ns}"
            feed_config = {
                "stream": feed.name,
                "symbols": list(symbols),
                "interval_ns": feed.interval_ns,
            }
        if not paper:
            live_broker = self._make_live_broker(pm, broker, endpoint, symbols)
        assets = (
            list(bars.assets)
            if isinstance(feed, Replay) and not isinstance(live_broker, LiveBroker)
            else self._assets(live_broker, symbols)
        )
        self.assets: dict[int, Asset] = {a.sid: a for a in assets}
        if isinstance(feed, Replay):
            self.feed: Any = ReplayFeed(bars, self.calendar)
            self.bars = bars
            portal: BarPortal = BarPortal(bars, self.calendar)
        else:
            self.feed = feed
            portal = GrowingPortal(assets, self.calendar, frequency_of(feed.interval_ns))
            self.bars = portal.bars
        self.portal = portal

        # -- identity -------------------------------------------------------------------
        params_obj = merge_params(instance.PARAMS, dict(params or {}))
        self.params = params_obj
        if paper:
            self.mode = mode or "paper"
            accounts = {"mode": "paper", "latency_ns": str(latency_ns)}
            broker_name, tag = "paper", "paper"
        else:
            assert live_broker is not None
            broker_name = live_broker.name
            self.mode = mode or (endpoint.mode if endpoint is not None else "live")
            accounts = {"mode": self.mode, "broker": broker_name, "feed": feed_key}
            tag = "rbt"
        if not self.replay:
            accounts["feed"] = feed_key
        self.run_id = run_id_for(
            source_hash,
            params_obj.to_dict(),
            feed_key,
            start_date if self.replay else _EPOCH,
            end_date if self.replay else _EPOCH,
            self.capital,
            self.commission_model,
            self.slippage_model,
            fill_timing,
            accounts=accounts,
        )
        # replays through the paper broker recover by re-deriving the run (the paper venue
        # is deterministic); anything else restores the books from the journal
        self.recovery = "replay" if (paper and self.replay) else "journal"

        # -- broker -------------------------------------------------------------------
        if paper:
            venue = (
                Path(venue_path)
                if venue_path
                else self.home.root / "paper" / f"{self.run_id}.sqlite"
            )
            self.store: VenueStore | None = VenueStore(venue, account="paper", cash=self.capital)
            paper_broker = pm.get_provider(ProviderKind.BROKER, "paper").create(
                portal,
                commission=self.commission_model,
                slippage=self.slippage_model,
                fill_timing=fill_timing,
                store=self.store,
                latency_ns=latency_ns,
            )
            assert isinstance(paper_broker, PaperBroker)
            paper_broker.unknown_outcome_at = unknown_outcome_at
            paper_broker.lost_at = lost_at
            self.broker: Broker = paper_broker
            account, connection = "paper", {"store": str(venue), "latency_ns": latency_ns}
        else:
            assert live_broker is not None
            self.store = None
            self.broker = live_broker
            account = self.mode
            connection = {
                "mode": self.mode,
                "urls": _public_urls(endpoint.urls) if endpoint is not None else {},
                "symbols": list(symbols),
            }
        self.live_broker = live_broker if isinstance(live_broker, LiveBroker) else None

        # -- journal ------------------------------------------------------------------
        self.db = open_database(database or self.home)
        self.journal = Journal(self.db, self.run_id, venue=broker_name, account=account)
        self.previous = self.journal.start_session(
            self.mode,
            str(strategy),
            {**feed_config, "broker": broker_name, "latency_ns": latency_ns, "policy": policy},
            self.capital,
        )
        self.journal.record_connection(f"{broker_name}-{self.run_id}", broker_name, connection)

        # -- session and engine ---------------------------------------------------------
        quotes = {a.quote_currency for a in assets}
        self.ledger = Ledger(self.capital, quotes.pop() if len(quotes) == 1 else "USD")
        # journal recovery re-decides the bars after the checkpoint: the same ids come out
        seq = (
            int(self.previous["checkpoint_seq"] or 0)
            if self.previous and self.recovery == "journal"
            else 0
        )
        session = LiveSession(
            portal=portal,
            broker=self.broker,
            ledger=self.ledger,
            order_ids=ClientOrderIds(tag, self.run_id, start=seq),
            manager=pm,
        )
        session.journal = self.journal
        session.max_orders_per_session = max_orders_per_session
        session.trading_state, session.state_reason = self.journal.trading_state()
        self.session = session
        from rbt.api.actions import AccountEvents

        AccountEvents(
            session,
            portal,
            self.calendar,
            borrow_rate=Decimal(0),
            financing_rate=Decimal(0),
            on_positions_changed=lambda: self.engine.sync_positions(),
        )
        by_symbol = {a.symbol: a for a in assets}
        source = f"bundle {feed.bundle!r}" if isinstance(feed, Replay) else f"{broker_name}"

        def lookup(ticker: str, as_of: dt.date | None) -> Asset:
            try:
                return by_symbol[ticker]
            except KeyError:
                raise LookupError(f"unknown symbol {ticker!r} in {source}") from None

        self.engine = Engine(
            instance,
            session,
            portal,
            params_obj,
            self.sessions,
            lookup,
            self.commission_model,
            self.slippage_model,
        )
        self.strategy = instance
        hook = getattr(instance, "on_broker_message", None)
        if hook is not None and hasattr(self.broker, "on_message"):

            def on_message(message: dict[str, Any]) -> None:
                with self.engine.active():
                    hook(self.engine.context, message)

            self.broker.on_message = on_message
        previous = self.previous
        self.watermark: int | None = previous["last_ts"] if previous else None
        self.peak = (
            Decimal(previous["peak_value"]) if previous and previous["peak_value"] else self.capital
        )
        self.session_start_value = self.capital
        self.completed = previous is not None and previous["status"] == "completed"
        self.reconciled = self.watermark is None
        self.observers = Observers(self, observers)
        self.bars_stepped = 0

    # -- composition helpers ------------------------------------------------------------
    @staticmethod
    def _make_live_broker(
        pm: Any, broker: str | Broker, endpoint: VenueEndpoint | None, symbols: Sequence[str]
    ) -> Broker:
        if not isinstance(broker, str):
            if not isinstance(broker, Broker):
                raise ConfigError(f"{broker!r} does not implement the Broker protocol")
            return broker
        if endpoint is None:
            raise ConfigError(f"broker {broker!r} needs an endpoint (sandbox, testnet or live)")
        made = pm.get_provider(ProviderKind.BROKER, broker).create(endpoint, symbols=list(symbols))
        if not isinstance(made, LiveBroker):
            raise ConfigError(
                f"broker provider {broker!r} did not build a LiveBroker (it has no instruments, "
                "lookup, snapshot, fills_since or run): it cannot trade live"
            )
        return made

    @staticmethod
    def _assets(broker: Broker | None, symbols: Sequence[str]) -> list[Asset]:
        if isinstance(broker, LiveBroker):
            listed = {a.symbol: a for a in broker.instruments()}
            missing = [s for s in symbols if s not in listed]
            if missing:
                raise ConfigError(f"broker {broker.name!r} does not list {missing}")
            return [listed[s] for s in symbols]
        # paper trading on a stream: crypto spot assets with sids in symbol order
        return [
            Asset(
                sid=i + 1,
                symbol=s,
                asset_class=AssetClass.CRYPTO,
                calendar="always_open",
                quote_currency=s.partition("/")[2] or "USD",
                tick_size=Decimal("0.00000001"),
                lot_size=Decimal("0.00000001"),
                price_scale=8,
            )
            for i, s in enumerate(symbols)
        ]

    def value(self) -> Decimal:
        """Cash plus the marked value of the positions."""
        return self.ledger.cash + self.ledger.positions_value()

    def trip(self, reason: str, details: Mapping[str, Any]) -> None:
        """Set the persisted kill switch to HALTED (survives restarts; ``rbt resume`` resets
        it) and audit ``details``. For observers and breakers that must stop trading."""
        self.journal.audit(self.session.now, "trip", None, {"reason": reason, **details})
        self.session.halt(reason)
        self.journal.commit()

    # -- per event -------------------------------------------------------------------------
    def _after_step(self, event: ClockEvent) -> None:
        kind = event.kind
        catching_up = self.session.catching_up
        if kind is ClockEventKind.SESSION_START:
            self.session_start_value = self.value()
        if kind is ClockEventKind.SESSION_END:
            value = self.value()
            self.peak = max(self.peak, value)
            if not catching_up:
                for breaker in self.breakers:
                    why = breaker.check(value, self.peak, self.session_start_value)
                    if why is not None and self.session.trading_state != HALTED:
                        self.session.halt(why)
                self._checkpoint(event, value)
        elif kind is ClockEventKind.BAR and self.recovery == "journal":
            # no replay to re-derive from: the strategy state is saved at every bar
            self._checkpoint(event, self.value())
        else:
            self.journal.commit()
        if kind is ClockEventKind.BAR and not catching_up:
            self.bars_stepped += 1
            every = self.reconcile_every
            if every is not None and self.bars_stepped % every == 0:
                self.reconcile_periodic(event.ts)
        if kind in (ClockEventKind.SESSION_START, ClockEventKind.BAR) and not catching_up:
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
                seq=self.session.order_ids.seq,
            )
        except sa.exc.SQLAlchemyError as exc:
            self.journal.conn.rollback()
            raise PersistenceError(
                f"could not write the checkpoint at {event.ts} ({exc.__class__.__name__}); "
                "the run stopped: nothing was sent after it"
            ) from exc

    # -- reconciliation ---------------------------------------------------------------
    def reconcile(self) -> list[str]:
        """Compare the books with the checkpoint and the venue; return the problems."""
        return Reconciler(self).at_restart()

    def reconcile_periodic(self, ts: int) -> list[str]:
        """Compare the books with the venue now; a mismatch applies the policy."""
        reconciler = Reconciler(self)
        problems = reconciler.against_venue(ts)
        reconciler.apply_policy(problems, ts, "periodic")
        return problems

    # -- driving ----------------------------------------------------------------------------
    def _events(self) -> AsyncIterator[ClockEvent]:
        if self.replay:
            skip = self.watermark + 1 if self.watermark is not None else None
            clock = RealtimeClock(
                self.feed.schedule(self.sessions[0], self.sessions[-1]), speed=self.speed
            )
            return clock.events(skip_until=skip)
        assert self.stream is not None
        assert isinstance(self.portal, GrowingPortal)
        return StreamClock(self.stream, self.portal, self.calendar, after=self.watermark).events()

    async def run(self) -> PaperResult:
        """Drive the session from the feed until it ends; returns the result."""
        if self.completed:
            raise ConfigError(f"{self.mode} run {self.run_id} already completed; see rbt status")
        from rbt.security.redaction import install_redaction

        install_redaction()  # runs started from code are masked like the CLI's (idempotent)
        session = self.session
        self.engine.initialize()
        session.start()
        reconciler = Reconciler(self)
        if self.previous is not None and self.recovery == "journal":
            # a restart (maybe before the first checkpoint): the journal has the books
            reconciler.restore_from_journal()
            if isinstance(self.broker, PaperBroker):
                self.broker.resume(self.session.orders.open_orders())
        session.catching_up = self.watermark is not None and self.recovery == "replay"
        outcome = "failed"
        broker_task: asyncio.Task[None] | None = None
        self.observers.attach(self.watermark or 0)
        try:
            if self.live_broker is not None:
                broker_task = asyncio.create_task(self.live_broker.run(), name="broker")
                await asyncio.sleep(0)
            if self.recovery == "journal":
                reconciler.at_start()
                self.reconciled = True
            session.bus.subscribe(BarClosed, session.drain_reports)
            session.defer_reports = True
            events = self._events()
            if broker_task is not None:
                events = _until_broken(events, broker_task, self.broker.name)
            async for event in events:
                if self.recovery == "journal" and event.ts <= (self.watermark or -1):
                    continue  # a replay under a live broker: already traded
                if session.catching_up and event.ts > (self.watermark or 0):
                    session.catching_up = False
                    reconciler.apply_policy(reconciler.at_restart(), event.ts, "restart")
                    self.reconciled = True
                session.step(event)
                self._after_step(event)
                self.observers.on_event(event)
                if self.on_event is not None:
                    self.on_event(event)
                if broker_task is not None and broker_task.done():
                    broker_task.result()  # the broker's stream died: raise its error
                    raise BrokerLinkError(
                        f"broker {self.broker.name!r} stopped streaming order updates"
                    )
            if session._pending:  # reports after the last bar: booked just after it
                session.now += 1
                session.drain_reports()
            if not self.replay and session.now:
                self._checkpoint(ClockEvent(ClockEventKind.BAR, session.now, _EPOCH), self.value())
            outcome = "completed"
        finally:
            session.defer_reports = False  # nothing steps any more: apply reports at once
            if broker_task is not None:
                broker_task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await broker_task
            if self.stream is not None:
                with contextlib.suppress(Exception):
                    await self.stream.aclose()
            self.observers.close(session.now)
            session.finish(outcome)
            try:
                self.journal.set_status(outcome if self.replay else _stream_status(outcome))
            except sa.exc.SQLAlchemyError:
                if outcome == "completed":
                    raise
                self.journal.conn.rollback()  # keep the original error; the row stays running
        return self.result(completed=True)

    def result(self, completed: bool) -> PaperResult:
        session_of = {r.ts: r.session for r in self.engine.records}
        for fill in self.session.fills:
            day = (
                dt.datetime.fromtimestamp(fill.ts / 1e9, dt.UTC).date()
                if self.replay
                else stream_session_of(fill.ts)  # a bar ending at 24:00 closes its day
            )
            session_of.setdefault(fill.ts, day)
        perf, transactions, orders, positions = build_frames(
            self.engine.records,
            self.session.fills,
            self.session.orders.columns(),
            self.assets,
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
        """Release the journal and the venue store (the broker closed with the session)."""
        self.journal.close()
        if self.store is not None:
            self.store.close()


async def _until_broken(
    events: AsyncIterator[ClockEvent], broker: asyncio.Task[None], name: str
) -> AsyncIterator[ClockEvent]:
    """``events``, but stop at once (raising the broker's error) when the broker's report
    stream dies: trading on without order updates would be trading blind."""
    iterator = events.__aiter__()
    while True:
        step = asyncio.ensure_future(iterator.__anext__())
        await asyncio.wait({step, broker}, return_when=asyncio.FIRST_COMPLETED)
        if broker.done():
            step.cancel()
            with contextlib.suppress(BaseException):
                await step
            broker.result()  # its error, if it failed
            raise BrokerLinkError(f"broker {name!r} stopped streaming order updates")
        try:
            event = step.result()
        except StopAsyncIteration:
            return
        yield event


def _stream_status(outcome: str) -> str:
    # a stream that ended is not a finished strategy: the same command resumes it
    return "stopped" if outcome == "completed" else outcome


def _public_urls(urls: Mapping[str, str]) -> dict[str, str]:
    """URLs as recorded in ``broker_connections``: no user info, query or fragment (never
    a secret in the database, even one pasted into a URL)."""
    from urllib.parse import urlsplit, urlunsplit

    out = {}
    for role, url in urls.items():
        parts = urlsplit(url)
        host = parts.hostname or ""
        host = f"[{host}]" if ":" in host else host
        netloc = f"{host}:{parts.port}" if parts.port else host
        out[role] = urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    return out


def _utc_today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


class BrokerLinkError(RbtError):
    """The live broker's order-update stream stopped; the run stops (restart reconciles)."""


class PaperRun(LiveRun):
    """A paper run over a bundle replay: :class:`LiveRun` with the paper broker."""

    def __init__(
        self,
        strategy: Any,
        *,
        start: Any,
        end: Any,
        bundle: str = "demo",
        speed: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(strategy, feed=Replay(bundle, start, end, speed), broker="paper", **kwargs)


def run_paper(strategy: Any, **kwargs: Any) -> PaperResult:
    """Compose and run a paper replay synchronously (tests, notebooks)."""
    run = PaperRun(strategy, **kwargs)
    try:
        return asyncio.run(run.run())
    finally:
        run.close()


def run_live(strategy: Any, **kwargs: Any) -> PaperResult:
    """Compose and run a :class:`LiveRun` synchronously until its feed ends."""
    run = LiveRun(strategy, **kwargs)
    try:
        return asyncio.run(run.run())
    finally:
        run.close()
