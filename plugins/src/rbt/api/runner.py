"""Compose and run a backtest: bundle → portal → simulated broker → session → results.

The composition helpers (dates, capital, models, sessions, strategy identity, run ids)
are public: the paper engine (:mod:`rbt.live.engine`) composes its session with them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import hashlib
import inspect
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs

from rbt.api.algorithm import FunctionStrategy, TradingAlgorithm
from rbt.api.engine import Engine
from rbt.api.params import merge_params
from rbt.api.results import BacktestResult, build_frames, write_results
from rbt.data.bars import BarArrays
from rbt.data.home import RbtHome
from rbt.data.portal import BarPortal
from rbt.kernel.broker import ClientOrderIds
from rbt.kernel.clock import SimClock
from rbt.kernel.errors import ConfigError, DataUnavailableError
from rbt.kernel.ledger import Ledger
from rbt.kernel.manager import RbtPluginManager
from rbt.kernel.model import Asset, AssetClass
from rbt.kernel.numeric import decimal_from_float, to_decimal
from rbt.kernel.registry import ProviderKind
from rbt.kernel.session import Session

__all__ = [
    "DEFAULT_CAPITAL",
    "as_capital",
    "as_date",
    "code_bytes",
    "resolve_model",
    "run_backtest",
    "run_id_for",
    "sessions_in_bundle",
    "strategy_from",
]

DEFAULT_CAPITAL = Decimal(10_000_000)
_RESULT_SCHEMA = 1


def as_date(value: Any, name: str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if hasattr(value, "date") and callable(value.date):  # pandas Timestamp
        result = value.date()
        if isinstance(result, dt.date):
            return result
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            raise ConfigError(f"{name}: expected a date like 2020-01-31, got {value!r}") from None
    raise ConfigError(f"{name}: expected a date, got {value!r}")


def as_capital(value: Any) -> Decimal:
    if isinstance(value, float):
        result = decimal_from_float(value)
    else:
        try:
            result = to_decimal(value)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"capital: {exc}") from None
    if result <= 0:
        raise ConfigError(f"capital must be positive, got {result}")
    return result


def strategy_from(strategy: Any) -> tuple[TradingAlgorithm, str]:
    """An instance and a source hash for a strategy object, class or file path."""
    if isinstance(strategy, str | Path):
        from rbt.api.loader import load_strategy

        loaded = load_strategy(strategy)
        return loaded.strategy, loaded.source_hash
    if isinstance(strategy, type) and issubclass(strategy, TradingAlgorithm):
        strategy = strategy()
    if not isinstance(strategy, TradingAlgorithm):
        raise ConfigError(f"not a strategy: {strategy!r}")
    target = type(strategy) if not isinstance(strategy, FunctionStrategy) else None
    parts = []
    funcs = (
        [target]
        if target
        else [strategy._initialize, strategy._handle_data, strategy._before, strategy._analyze]
    )
    funcs = [obj for obj in funcs if obj is not None]
    # A strategy defined in a file is identified by the whole file, as when it is run by path
    # (helpers and module constants change results too; the same file gives the same run id).
    files = sorted({_source_file(obj) or "" for obj in funcs})
    if funcs and "" not in files:
        digests = [hashlib.sha256(Path(f).read_bytes()).hexdigest() for f in files]
        if len(digests) == 1:
            return strategy, digests[0]
        return strategy, hashlib.sha256("\n".join(digests).encode()).hexdigest()
    for obj in funcs:
        try:
            parts.append(inspect.getsource(obj).encode())
        except (OSError, TypeError):  # defined in exec'd code or a REPL: hash its bytecode
            parts.append(code_bytes(obj))
    return strategy, hashlib.sha256(b"\n".join(parts)).hexdigest()


def code_bytes(obj: Any) -> bytes:
    import marshal

    members = vars(obj).values() if isinstance(obj, type) else [obj]
    codes = [m.__code__ for m in members if hasattr(m, "__code__")]
    return getattr(obj, "__qualname__", "").encode() + b"".join(marshal.dumps(c) for c in codes)


def _source_file(obj: Any) -> str | None:
    try:
        name = inspect.getsourcefile(obj)
    except (OSError, TypeError):
        return None
    return name if name and Path(name).is_file() else None


@contextlib.contextmanager
def _frozen_heap() -> Iterator[None]:
    """The run's garbage collections scan only what the run allocates.

    Everything alive before the run (imported modules, the caller's data: a hundred
    thousand objects or more) moves to the collector's permanent generation for the run
    (:func:`gc.freeze`) and back after it, instead of being walked by every full
    collection the run's own allocations trigger (a few percent of a backtest). A
    process that freezes objects itself, or runs without the collector, is left as it is;
    so is a run inside a run. Cyclic garbage among the frozen objects waits for the end of
    the run, and the unfreeze also returns what anything else froze during it.
    """
    if gc.get_freeze_count() or not gc.isenabled():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


@_frozen_heap()
def run_backtest(
    strategy: Any,
    *,
    start: Any,
    end: Any,
    capital_base: Any = DEFAULT_CAPITAL,
    bundle: str = "demo",
    bars: BarArrays | None = None,
    bundle_hash: str = "",
    home: RbtHome | str | Path | None = None,
    params: Mapping[str, Any] | None = None,
    commission: Any = "per_share",
    slippage: Any = "fixed_bps",
    fill_timing: str = "next_close",
    record_positions: bool = True,
    write: bool = True,
    manager: RbtPluginManager | None = None,
    analyze: Callable[[Any, Any], None] | None = None,
    benchmark: Any = None,
    metrics: Sequence[str] | None = None,
    base_currency: str = "USD",
    borrow_rate: Any = 0,
    financing_rate: Any = 0,
    account: str | None = None,
) -> BacktestResult:
    """Run ``strategy`` from ``start`` to ``end`` (inclusive sessions) and return its results.

    Defaults are Zipline's: fills at the next bar's close, 5 bp slippage capped
    at 10 % of the bar's volume, $0.001 per share. ``fill_timing="next_open"``,
    ``commission="none"`` and ``slippage="none"`` give the zero-cost next-open model.

    :param strategy: a :class:`TradingAlgorithm` (instance or class) or a path to a strategy file.
    :param bars: run on these arrays instead of loading ``bundle``.
    :param params: overrides of the strategy's declared ``PARAMS``.
    :param write: write result files under ``$RBT_HOME/results/<run_id>/`` and record the
        run in the registry (``rbt runs``).
    :param benchmark: a symbol of the bundle, an Asset, a returns CSV path, or returns by
        date; overrides the strategy's ``set_benchmark`` (see :mod:`rbt.analytics.benchmark`).
    :param metrics: names of the METRIC providers to compute (default: all registered).
    :param base_currency: the account's currency; assets quoted in another currency are
        converted at the bundle's conversion series (see :mod:`rbt.api.actions`).
    :param borrow_rate: annual rate charged on the value of short positions, accrued at
        each session close (0: Zipline's behaviour).
    :param account: ``"margin"`` (Zipline's: no cash check) or ``"cash"`` (a buy beyond
        the free cash is denied, see :mod:`rbt.api.controls`). Default: ``"cash"`` when
        every asset of the bundle is crypto spot, else ``"margin"`` (design §2.1a.3).
    :param financing_rate: annual rate charged on negative cash (leverage), accrued at
        each session close (0: Zipline's behaviour).
    """
    from rbt.plugins import plugin_manager
    from rbt.plugins.calendars import get_calendar

    home = home if isinstance(home, RbtHome) else RbtHome(home) if home is not None else RbtHome()
    start_date, end_date = as_date(start, "start"), as_date(end, "end")
    if start_date > end_date:
        raise ConfigError(f"start {start_date} is after end {end_date}")
    capital = as_capital(capital_base)
    instance, source_hash = strategy_from(strategy)
    pm = manager or plugin_manager()
    commission_model = resolve_model(pm, ProviderKind.COMMISSION_MODEL, commission)
    slippage_model = resolve_model(pm, ProviderKind.SLIPPAGE_MODEL, slippage)
    if bars is None:
        from rbt.data.bundles import bundle_hash as _bundle_hash
        from rbt.data.bundles import load_bundle

        bars = load_bundle(home, bundle)
        bundle_hash = _bundle_hash(home, bundle)
    calendar = get_calendar(bars.calendar)
    sessions = sessions_in_bundle(bars, calendar, start_date, end_date, bundle)
    if account is None:
        crypto = bool(bars.assets) and all(a.asset_class is AssetClass.CRYPTO for a in bars.assets)
        account = "cash" if crypto else "margin"
    params_obj = merge_params(instance.PARAMS, dict(params or {}))
    from rbt.analytics.benchmark import resolve_benchmark

    explicit = resolve_benchmark(benchmark, bars=bars, sessions=sessions, bundle=bundle)
    run_id = run_id_for(
        source_hash,
        params_obj.to_dict(),
        bundle_hash,
        start_date,
        end_date,
        capital,
        commission_model,
        slippage_model,
        fill_timing,
        benchmark=explicit.digest if explicit is not None else "",
        accounts=_account_options(base_currency, borrow_rate, financing_rate)
        | ({"account": account} if account != "margin" else {}),
    )

    portal = BarPortal(bars, calendar)
    broker = pm.get_provider(ProviderKind.BROKER, "sim").create(
        portal, commission=commission_model, slippage=slippage_model, fill_timing=fill_timing
    )
    ledger = Ledger(capital, base_currency)
    session = Session(
        portal=portal,
        broker=broker,
        ledger=ledger,
        order_ids=ClientOrderIds("bt", run_id),
        manager=pm,
    )
    from rbt.api.actions import AccountEvents

    # before the engine: its session-close accruals precede the engine's record
    AccountEvents(
        session,
        portal,
        calendar,
        borrow_rate=_rate(borrow_rate, "borrow_rate"),
        financing_rate=_rate(financing_rate, "financing_rate"),
        on_positions_changed=lambda: engine.sync_positions(),
    )
    by_symbol = {a.symbol: a for a in bars.assets}

    def lookup(ticker: str, as_of: dt.date | None) -> Asset:
        try:
            return by_symbol[ticker]
        except KeyError:
            import difflib

            close = difflib.get_close_matches(ticker, list(by_symbol), n=5)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise LookupError(f"unknown symbol {ticker!r} in bundle {bundle!r}{hint}") from None

    engine = Engine(
        instance,
        session,
        portal,
        params_obj,
        sessions,
        lookup,
        commission_model,
        slippage_model,
        record_positions=record_positions,
        account=account,
    )
    engine.initialize()
    clock = SimClock(calendar, sessions[0], sessions[-1], bars.frequency)
    with engine.active():  # the API's target for the whole run, not switched per bar
        session.run(clock)

    session_of = {r.ts: r.session for r in engine.records}
    for fill in session.fills:
        if fill.ts not in session_of:
            session_of[fill.ts] = dt.datetime.fromtimestamp(fill.ts / 1e9, dt.UTC).date()
    perf, transactions, orders, positions = build_frames(
        engine.records,
        session.fills,
        session.orders.columns(),  # the rows read as they are, none built
        {a.sid: a for a in bars.assets},
        capital,
        session_of,
    )
    from rbt.analytics.metrics import MetricInputs, compute_metrics

    periods = 365 if calendar.name == "ALWAYS_OPEN" else 252
    bench = resolve_benchmark(
        explicit if explicit is not None else engine.benchmark,
        bars=bars,
        sessions=perf["session"].to_list(),
        bundle=bundle,
    )
    inputs = MetricInputs(
        perf["returns"].to_numpy(),
        periods,
        benchmark=None if bench is None else bench.returns,
        perf=perf,
        transactions=transactions,
        positions=positions,
    )
    computed = compute_metrics(inputs, metrics, pm)
    manifest = {
        "schema": _RESULT_SCHEMA,
        "run_id": run_id,
        "strategy_hash": source_hash,
        "params": params_obj.to_dict(),
        "bundle": bundle,
        "bundle_hash": bundle_hash,
        "start": start_date.isoformat(),
        "end": end_date.isoformat(),
        "capital_base": str(capital),
        "commission": repr(commission_model),
        "slippage": repr(slippage_model),
        "fill_timing": fill_timing,
        "final_value": str(ledger.cash + ledger.positions_value()),
    }
    from rbt.runs.recording import package_versions

    manifest["versions"] = package_versions()
    manifest["periods_per_year"] = periods
    if bench is not None:
        manifest["benchmark"] = bench.manifest()
    result = BacktestResult(
        run_id=run_id,
        perf=perf,
        transactions=transactions,
        orders=orders,
        positions=positions,
        metrics=computed,
        manifest=manifest,
    )
    if write:
        result = attrs.evolve(result, path=write_results(result, home.results / run_id))
        from rbt.runs.recording import record

        record(home, result, strategy, instance, bench)
    finisher = analyze or (instance.analyze if _defines_analyze(instance) else None)
    if finisher is not None:  # the pandas perf frame is built only for an analyze to read
        with engine.active():
            finisher(engine.context, result.to_pandas())
    return result


def _defines_analyze(strategy: TradingAlgorithm) -> bool:
    if isinstance(strategy, FunctionStrategy):
        return strategy._analyze is not None
    return type(strategy).analyze is not TradingAlgorithm.analyze


def resolve_model(pm: RbtPluginManager, kind: ProviderKind, choice: Any) -> Any:
    if isinstance(choice, str):
        return pm.get_provider(kind, choice).create()
    return choice


def sessions_in_bundle(
    bars: BarArrays, calendar: Any, start: dt.date, end: dt.date, bundle: str
) -> list[dt.date]:
    if not len(bars.sessions):
        raise DataUnavailableError(f"bundle {bundle!r} has no bars")
    first = bars.sessions[0].item()
    last = bars.sessions[-1].item()
    if start < first or end > last:
        raise DataUnavailableError(
            f"dates {start}..{end} are outside bundle {bundle!r}, which covers {first}..{last}"
        )
    sessions = list(calendar.sessions(start, end))
    if not sessions:
        raise DataUnavailableError(f"no {calendar.name} sessions between {start} and {end}")
    return sessions


def _rate(value: Any, name: str) -> Decimal:
    try:
        rate = decimal_from_float(value) if isinstance(value, float) else to_decimal(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{name}: {exc}") from None
    if rate < 0:
        raise ConfigError(f"{name} must not be negative, got {rate}")
    return rate


def _account_options(base_currency: str, borrow_rate: Any, financing_rate: Any) -> dict[str, str]:
    """Non-default account options (defaults leave run ids as they were)."""
    options = {}
    if base_currency != "USD":
        options["base_currency"] = base_currency
    for name, value in (("borrow_rate", borrow_rate), ("financing_rate", financing_rate)):
        rate = _rate(value, name)
        if rate:
            options[name] = str(rate)
    return options


def run_id_for(
    source_hash: str,
    params: Mapping[str, Any],
    bundle_hash: str,
    start: dt.date,
    end: dt.date,
    capital: Decimal,
    commission: Any,
    slippage: Any,
    fill_timing: str,
    benchmark: str = "",
    accounts: Mapping[str, str] | None = None,
) -> str:
    payload: dict[str, Any] = {
        "strategy": source_hash,
        "params": params,
        "bundle": bundle_hash,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "capital": str(capital),
        "commission": repr(commission),
        "slippage": repr(slippage),
        "fill_timing": fill_timing,
        "seed": 0,
    }
    if benchmark:  # only when given: run ids without a benchmark stay as they were
        payload["benchmark"] = benchmark
    if accounts:
        payload["accounts"] = dict(accounts)
    key = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(key.encode()).hexdigest()[:16]
