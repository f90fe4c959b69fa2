"""The shadow backtest: the live strategy again, on the same bars, with backtest fills.

:class:`ShadowBacktestEngine` is a live-run observer (``attach`` / ``on_event`` /
``close``). On ``attach`` it composes a second, isolated run of the same strategy: a new
strategy instance (a strategy file is loaded again, so module globals are not shared),
its own kernel :class:`~rbt.kernel.session.Session`, its own
:class:`~rbt.kernel.ledger.Ledger` and a simulated broker
(:class:`~rbt.plugins.sim_broker.SimBroker`) with the backtest's fill timing, slippage
and commission models — by default the very model objects the live run was configured
with. It reads the live run's portal, so it sees exactly the bars live saw.

After the live session has stepped a clock event, ``on_event`` steps the shadow session
through the same event, then runs the checks (:mod:`rbt.shadow.checks`, the breaker last)
on what changed on both sides. The live order path is untouched: the shadow only adds
two bus subscribers to the live session (they append to lists) and does its own work
after the live step.

A failure of the shadow (its strategy, its models, a check) never stops trading: it is
audited (``shadow_failed`` in ``order_audit_log``), stored in ``alignment_metrics`` and
shown by ``rbt shadow status``; the shadow marks itself failed and stops observing. A
failing third-party check is dropped alone. A ``trip`` measurement (the alignment
breaker's) halts trading through the live run's kill switch, once; the halt is persisted
and survives restart until ``rbt resume``, which re-arms the breaker with fresh windows.
"""

from __future__ import annotations

import datetime as dt
import inspect
import logging
import traceback
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from rbt.kernel.broker import ClientOrderIds
from rbt.kernel.clock import ClockEvent, ClockEventKind
from rbt.kernel.errors import ConfigError
from rbt.kernel.events import BarClosed
from rbt.kernel.ledger import Ledger
from rbt.kernel.model import Asset
from rbt.kernel.registry import ProviderKind
from rbt.kernel.session import Session
from rbt.shadow.breaker import AlignmentBreaker, Thresholds, default_thresholds
from rbt.shadow.checks import Measurement, Observation, ShadowCheck
from rbt.shadow.records import OrderRecord, Recorder, Side
from rbt.shadow.store import ShadowStore

__all__ = ["ShadowBacktestEngine", "ShadowSettings", "second_instance"]

log = logging.getLogger(__name__)

HALTED, ACTIVE = "HALTED", "ACTIVE"
_BAR = ClockEventKind.BAR
CHECKPOINT_METRICS = ("match_rate", "slippage_error_bps", "fill_rate_error", "commission_error_bps")


class ShadowSettings:
    """What check factories receive: the run mode, the breaker thresholds, the signal
    window and any extra options (``ShadowBacktestEngine(options=...)``)."""

    def __init__(
        self,
        mode: str,
        thresholds: Thresholds,
        window_bars: int = 0,
        options: Mapping[str, Any] | None = None,
    ) -> None:
        self.mode = mode
        self.thresholds = thresholds
        self.window_bars = window_bars
        self.options = dict(options or {})


def second_instance(spec: Any) -> Any:
    """A fresh strategy instance equal to a new run of ``spec`` (path, class or instance).

    A strategy from a file is loaded again (its module globals are its own); a
    :class:`~rbt.api.algorithm.TradingAlgorithm` instance gives ``type(instance)()``; a
    function strategy whose functions live in a file reloads that file, else reuses the
    functions (then module globals are shared: keep state on ``context``).
    """
    from rbt.api.algorithm import FunctionStrategy, TradingAlgorithm
    from rbt.api.runner import strategy_from

    if isinstance(spec, str | Path | type):
        return strategy_from(spec)[0]
    if isinstance(spec, FunctionStrategy):
        init = spec._initialize
        source = None
        try:
            source = inspect.getsourcefile(init) if init is not None else None
        except TypeError:
            source = None
        if spec.name.startswith("rbt_strategy_") and source and Path(source).is_file():
            return strategy_from(Path(source))[0]  # loaded from a file: load it again
        hooks = {
            h: getattr(spec, h)
            for h in ("on_order_fill", "on_order_cancel", "on_order_reject", "on_broker_message")
            if callable(getattr(spec, h, None))
        }
        return FunctionStrategy(
            spec._initialize,
            spec._handle_data,
            spec._before,
            spec._analyze,
            params=spec.PARAMS,
            hooks=hooks,
            name=spec.name,
        )
    if isinstance(spec, TradingAlgorithm):
        return type(spec)()
    raise ConfigError(f"the shadow cannot run {spec!r}: expected a strategy path, class or object")


class ShadowBacktestEngine:
    """Run the live run's strategy as a backtest beside it and compare (module docs).

    :param strategy: what to run (default: the live run's ``strategy_spec``).
    :param checks: check objects (default: every ``SHADOW_CHECK`` provider, breakers last).
    :param thresholds: breaker thresholds (default: by the run's mode).
    :param commission: commission model or provider name (default: the live run's).
    :param slippage: slippage model or provider name (default: the live run's).
    :param fill_timing: ``next_close`` or ``next_open`` (default: the live run's).
    :param window_bars: signal matching window in bars (0: the same bar).
    :param mode: ``paper``, ``live`` or ``sandbox`` (default: the live run's, else paper).
    :param options: extra options handed to check factories.
    :param manager: the plugin manager to find check providers in (default: the built-ins
        plus installed plugins).
    """

    name = "shadow"

    def __init__(
        self,
        *,
        strategy: Any = None,
        checks: Sequence[ShadowCheck] | None = None,
        thresholds: Thresholds | None = None,
        commission: Any = None,
        slippage: Any = None,
        fill_timing: str | None = None,
        window_bars: int = 0,
        mode: str | None = None,
        options: Mapping[str, Any] | None = None,
        manager: Any = None,
    ) -> None:
        self.strategy_spec = strategy
        self._manager = manager
        self._checks_given = list(checks) if checks is not None else None
        self._thresholds = thresholds
        self._commission = commission
        self._slippage = slippage
        self._fill_timing = fill_timing
        self.window_bars = window_bars
        self.mode = mode
        self.options = dict(options or {})
        self.run: Any = None
        self.checks: list[ShadowCheck] = []
        self.failed: str | None = None
        self.tripped: dict[str, Any] | None = None
        self.latest: dict[str, Measurement] = {}
        self.events = 0
        self.store: ShadowStore | None = None
        self._live_phase = False
        self._tripped_in_catch_up = False
        self._checkpointed: int | None = None

    # -- composition ------------------------------------------------------------------------
    def attach(self, run: Any) -> None:
        """Compose the shadow run beside ``run`` (once, before the first event)."""
        self.run = run
        self.run_id = str(run.run_id)
        journal = getattr(run, "journal", None)
        if journal is not None:
            self.store = ShadowStore(journal.conn, self.run_id, journal.commit)
        try:
            self._compose(run)
        except Exception as exc:  # the shadow must never stop the live run
            self._fail(0, exc)
            return
        if self.store is not None:  # written at every (re)start: a new shadow, a new state
            self.store.add(
                max(0, self.store.high_water or 0),
                "shadow_started",
                self.mode,
                {"checks": [c.name for c in self.checks], "thresholds": self._thr_json()},
                force=True,
            )

    def _compose(self, run: Any) -> None:
        from rbt.api.actions import AccountEvents
        from rbt.api.engine import Engine
        from rbt.api.params import Params, merge_params
        from rbt.api.runner import resolve_model
        from rbt.plugins import plugin_manager

        pm = self._manager or plugin_manager()
        live_session = run.session
        live_engine = getattr(run, "engine", None)
        self.mode = self.mode or str(getattr(run, "mode", "paper"))
        thresholds = self._thresholds or default_thresholds(self.mode)
        self.settings = ShadowSettings(self.mode, thresholds, self.window_bars, self.options)
        portal = getattr(run, "portal", None) or getattr(live_engine, "portal", None)
        if portal is None:
            raise ConfigError("the shadow needs the live run's portal (run.portal)")
        self.portal = portal
        calendar = getattr(run, "calendar", None) or run.feed.calendar
        spec = self.strategy_spec
        if spec is None:
            spec = getattr(run, "strategy_spec", None) or getattr(run, "strategy", None)
        if spec is None:
            raise ConfigError("the shadow needs the strategy: pass strategy= or a run with one")
        instance = second_instance(spec)
        params = getattr(run, "params", None)
        if params is None and live_engine is not None:
            params = live_engine.context.params
        if not isinstance(params, Params):
            params = merge_params(instance.PARAMS, dict(params or {}))
        broker_live = getattr(run, "broker", None)
        commission = self._commission or getattr(run, "commission_model", None)
        commission = commission or getattr(broker_live, "commission", None) or "per_share"
        slippage = self._slippage or getattr(run, "slippage_model", None)
        slippage = slippage or getattr(broker_live, "slippage", None) or "fixed_bps"
        commission = resolve_model(pm, ProviderKind.COMMISSION_MODEL, commission)
        slippage = resolve_model(pm, ProviderKind.SLIPPAGE_MODEL, slippage)
        fill_timing = self._fill_timing or getattr(run, "fill_timing", None)
        fill_timing = fill_timing or getattr(broker_live, "fill_timing", None) or "next_close"
        self.price_field = "open" if fill_timing == "next_open" else "close"
        broker = pm.get_provider(ProviderKind.BROKER, "sim").create(
            portal, commission=commission, slippage=slippage, fill_timing=fill_timing
        )
        capital = getattr(run, "capital", None) or live_session.ledger.starting_cash
        ledger = Ledger(Decimal(capital), live_session.ledger.base_currency)
        session = Session(
            portal=portal,
            broker=broker,
            ledger=ledger,
            order_ids=ClientOrderIds("shadow", self.run_id),
        )
        AccountEvents(
            session,
            portal,
            calendar,
            on_positions_changed=lambda: self.engine.sync_positions(),
        )
        by_symbol: dict[str, Asset] = {a.symbol: a for a in portal.bars.assets}

        def lookup(ticker: str, as_of: dt.date | None) -> Asset:
            try:
                return by_symbol[ticker]
            except KeyError:
                raise LookupError(f"unknown symbol {ticker!r}") from None

        sessions = getattr(run, "sessions", None)
        if sessions is None:
            sessions = [d.item() for d in portal.bars.sessions]
        self.engine = Engine(
            instance,
            session,
            portal,
            params,
            sessions,
            lookup,
            commission,
            slippage,
            account=getattr(live_engine, "account", "margin"),
        )
        self.session = session
        self.broker = broker
        self.ledger = ledger
        self.live = Recorder(Side.LIVE, live_session, self._reference)
        self.shadow = Recorder(Side.SHADOW, session, self._reference)
        live_session.bus.subscribe(BarClosed, self._live_bar)
        session.bus.subscribe(BarClosed, self._shadow_bar)
        self.checks = self._make_checks(pm)
        self.engine.initialize()
        session.start()
        if (
            getattr(run, "watermark", None) is not None
            and getattr(run, "recovery", "") == "journal"
        ):
            self._seed_from_live(run)

    def _seed_from_live(self, run: Any) -> None:
        """A journal-recovery restart (a live venue: no replay to re-derive from) restores
        the live books from the journal before observers attach. The shadow starts from
        the same books and strategy state, so the comparison resumes from agreement; what
        drifted before the restart stays in the stored series."""
        from rbt.live.journal import load_state

        for fill in run.session.fills:
            self.ledger.apply_fill(fill)
            self.session.fills.append(fill)
        for asset, _amount, last in list(run.ledger.iter_holdings()):
            self.ledger.mark(asset, last)
        saved = run.journal.strategy_state()
        if saved is not None:
            load_state(self.engine.strategy, self.engine.context, saved, run.assets)
        self.engine.sync_positions()
        # orders decided before the restart are not compared; the ones still working at the
        # venue work in the shadow too (for what is left of them), so both books move alike
        self.live.since = self.shadow.since = int(run.watermark) + 1
        for order in run.session.orders.open_orders():
            self.session.place_order(order.asset, order.open_amount, order.style)

    def _make_checks(self, pm: Any) -> list[ShadowCheck]:
        if self._checks_given is not None:
            checks = list(self._checks_given)
        else:
            providers = list(pm.providers(ProviderKind.SHADOW_CHECK).values())
            providers.sort(key=lambda p: "breaker" in p.capabilities)  # breakers last
            checks = [p.create(self.settings) for p in providers]
        return checks

    def _live_bar(self, event: BarClosed) -> None:
        self.live.bar += 1

    def _shadow_bar(self, event: BarClosed) -> None:
        self.shadow.bar += 1

    def _reference(self, asset: Asset) -> tuple[Decimal, float] | None:
        portal = self.portal
        price = portal.exact_price(asset, self.price_field)
        if price is None or portal.row < 0:
            return None
        volume = float(portal.bars.floats["volume"][portal.row, portal.bars.column(asset)])
        return price, volume if volume == volume else 0.0

    def _lookup(self, side: Side, order_id: str) -> OrderRecord:
        return (self.live if side is Side.LIVE else self.shadow).record(order_id)

    # -- driving ------------------------------------------------------------------------------
    def on_event(self, event: ClockEvent) -> None:
        """Step the shadow through ``event`` (after the live session did) and check."""
        if self.failed is not None:
            return
        try:
            self._step(event)
        except Exception as exc:  # never let the shadow stop trading
            self._fail(event.ts, exc)

    def _step(self, event: ClockEvent) -> None:
        self.events += 1
        self.session.step(event)
        catching_up = bool(getattr(self.run.session, "catching_up", False))
        if not catching_up and not self._live_phase:
            self._enter_live_phase(event.ts)
        live_new, live_closed = self.live.drain()
        shadow_new, shadow_closed = self.shadow.drain()
        # on every bar too: paired orders may be waiting for a grace period to pass
        if live_new or live_closed or shadow_new or shadow_closed or event.kind is _BAR:
            observation = Observation(
                ts=event.ts,
                bar=self.live.bar,
                live_new=live_new,
                live_closed=live_closed,
                shadow_new=shadow_new,
                shadow_closed=shadow_closed,
                lookup=self._lookup,
            )
            self._observe(observation, catching_up)
        if not catching_up:
            self._maybe_reset(event.ts)
        if event.kind is ClockEventKind.SESSION_END:
            self._checkpoint(event.ts)

    def _observe(self, observation: Observation, catching_up: bool) -> None:
        for check in list(self.checks):
            try:
                found = check.observe(observation)
            except Exception as exc:  # a broken check is dropped, the others go on
                self.checks.remove(check)
                self._report("shadow_check_failed", observation.ts, check.name, exc)
                continue
            observation.measurements.extend(found)
        store = self.store
        for measurement in observation.measurements:
            self.latest[measurement.metric] = measurement
        if store is not None:
            for match in observation.matches:
                if match.kind.value != "exact":
                    store.add(observation.ts, "signal", match.kind.value, match.to_json())
            for sample in observation.samples:
                store.add(observation.ts, "execution", sample.kind, sample.to_json())
        for measurement in observation.measurements:
            if measurement.metric == "trip":
                if catching_up:
                    self._tripped_in_catch_up = True
                else:
                    self._trip(observation.ts, measurement)

    def _trip(self, ts: int, measurement: Measurement) -> None:
        details = dict(measurement.details)
        reason = str(details.get("reason", "shadow alignment breaker"))
        self.tripped = {"ts": ts, **details}
        if self.store is not None:
            self.store.add(ts, "trip", measurement.value, details)
            self.store.flush()
        trip = getattr(self.run, "trip", None)
        if callable(trip):
            trip(reason, details)
        else:
            journal = getattr(self.run, "journal", None)
            if journal is not None:
                journal.audit(ts, "shadow_trip", None, details)
            self.run.session.halt(reason)
        log.warning("%s (run %s)", reason, self.run_id)

    def _breakers(self) -> list[Any]:
        return [c for c in self.checks if isinstance(c, AlignmentBreaker)]

    def _enter_live_phase(self, ts: int) -> None:
        """First event past a restart's catch-up: settle the breaker with the stored state."""
        self._live_phase = True
        store = self.store
        if store is None:
            return
        trip = store.stored_event("trip")
        reset = store.stored_event("breaker_reset")
        outstanding = trip is not None and (reset is None or reset["id"] < trip["id"])
        state = getattr(self.run.session, "trading_state", ACTIVE)
        if outstanding and state == HALTED:
            assert trip is not None
            self.tripped = {"ts": trip["ts"], **trip["details"]}
            for breaker in self._breakers():
                breaker.tripped = self.tripped
        elif outstanding or self._tripped_in_catch_up:
            self._reset_checks(
                ts,
                "operator reset while the run was stopped"
                if outstanding
                else "restart after an earlier reset",
            )

    def _maybe_reset(self, ts: int) -> None:
        if self.tripped is None:
            return
        if getattr(self.run.session, "trading_state", HALTED) == ACTIVE:
            self._reset_checks(ts, "kill switch reset to ACTIVE")

    def _reset_checks(self, ts: int, why: str) -> None:
        trip = self.tripped or (self.store.stored_event("trip") if self.store else None)
        if trip is not None:  # recorded no earlier than the trip it resets
            ts = max(ts, int(trip["ts"]))
        self.tripped = None
        for check in self.checks:
            reset = getattr(check, "reset", None)
            if callable(reset):
                reset()
        if self.store is not None:
            self.store.add(ts, "breaker_reset", "", {"why": why}, force=True)
            self.store.flush()

    def _checkpoint(self, ts: int) -> None:
        store = self.store
        if store is None or ts == self._checkpointed:
            return
        self._checkpointed = ts
        for metric in CHECKPOINT_METRICS:
            m = self.latest.get(metric)
            if m is not None:
                store.add(
                    ts,
                    metric,
                    m.value,
                    {"samples": m.samples, **{k: v for k, v in m.details.items() if k != "new"}},
                )
        live_ledger = self.run.session.ledger
        store.add(
            ts,
            "portfolio",
            self.ledger.cash + self.ledger.positions_value(),
            {
                "live": str(live_ledger.cash + live_ledger.positions_value()),
                "shadow_orders": len(self.session.orders),
                "live_orders": len(self.run.session.orders),
            },
        )
        store.flush()

    # -- failures ---------------------------------------------------------------------------
    def _fail(self, ts: int, exc: BaseException) -> None:
        self.failed = f"{type(exc).__name__}: {exc}"
        self._report("shadow_failed", ts, "shadow", exc)

    def _report(self, what: str, ts: int, name: str, exc: BaseException) -> None:
        frames = traceback.format_exception(type(exc), exc, exc.__traceback__)[-6:]
        details = {"name": name, "error": f"{type(exc).__name__}: {exc}", "traceback": frames}
        log.error("%s: %s failed (%s); trading goes on", what, name, details["error"])
        try:
            journal = getattr(self.run, "journal", None)
            if journal is not None:
                journal.audit(ts, what, None, {"name": name, "error": details["error"]})
                journal.commit()
            if self.store is not None:
                self.store.add(ts, what, details["error"], details, force=True)
                self.store.flush()
        except Exception:  # reporting must not fail the live run either
            log.exception("could not record the shadow failure")

    def close(self) -> None:
        """Write a last checkpoint (the live run is ending)."""
        if self.failed is None and self.run is not None and self.store is not None:
            try:
                ts = self.portal.now
                self._checkpoint(ts)
            except Exception as exc:
                self._fail(0, exc)

    # -- views -----------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        """State, latest metrics and trip report (what ``rbt shadow status`` shows)."""
        state = "failed" if self.failed else "tripped" if self.tripped else "running"
        return {
            "state": state,
            "error": self.failed,
            "trip": self.tripped,
            "events": self.events,
            "metrics": {
                k: {"value": m.value, "samples": m.samples} for k, m in self.latest.items()
            },
        }

    def _thr_json(self) -> dict[str, Any]:
        import attrs

        return attrs.asdict(self.settings.thresholds)
