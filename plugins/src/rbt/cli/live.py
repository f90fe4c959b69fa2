"""``rbt paper``, ``rbt live``, ``rbt status``, ``rbt halt``, ``rbt resume``."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from rbt.cli.exit_codes import ExitCode
from rbt.cli.output import console, error, print_json, table

HomeOption = Annotated[
    Path | None,
    typer.Option(
        "--home",
        help="RBT home directory (default: $RBT_HOME or the user data dir).",
        show_default=False,
    ),
]
DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="Journal database URL (default: $RBT_DATABASE_URL or $RBT_HOME/rbt.sqlite), "
        "e.g. postgresql://user@127.0.0.1/rbt.",
        show_default=False,
    ),
]
RunOption = Annotated[
    str | None, typer.Option("--run", help="Run id (default: every paper/live run).")
]


def _home(path: Path | None) -> Any:
    from rbt.data.home import RbtHome

    return RbtHome(path) if path is not None else RbtHome()


# options paper and live share
PolicyOption = Annotated[
    str, typer.Option("--policy", help="Reconciliation: halt, adopt or flatten.")
]
BreakerOption = Annotated[
    list[str] | None, typer.Option("--breaker", help="drawdown=0.2, daily_loss=0.05 (repeatable)")
]
MaxOrdersOption = Annotated[
    int | None, typer.Option("--max-orders-per-session", help="Order-rate limit.")
]
ReconcileOption = Annotated[
    int | None, typer.Option("--reconcile-every", help="Reconcile every N bars.")
]
ShadowOption = Annotated[
    bool,
    typer.Option(
        "--shadow",
        help="Run a shadow backtest beside it; its alignment breaker can halt trading "
        "(rbt shadow status).",
    ),
]


def _shadow(on: bool) -> list[Any]:
    """The observers ``--shadow`` asks for: one shadow backtest on the run's own models."""
    if not on:
        return []
    from rbt.shadow import ShadowBacktestEngine

    return [ShadowBacktestEngine()]


def paper(
    strategy: Annotated[Path, typer.Argument(help="Strategy file.", exists=True, dir_okay=False)],
    feed: Annotated[str, typer.Option("--feed", help="replay:BUNDLE")] = "replay:demo",
    start: Annotated[str, typer.Option("--start", help="First session (inclusive).")] = "",
    end: Annotated[str, typer.Option("--end", help="Last session (inclusive).")] = "",
    speed: Annotated[str, typer.Option("--speed", help="Replay factor, or 'max'.")] = "max",
    capital: Annotated[str, typer.Option("--capital")] = "10000000",
    param: Annotated[list[str] | None, typer.Option("--param", help="k=v override")] = None,
    commission: Annotated[str, typer.Option("--commission")] = "per_share",
    slippage: Annotated[str, typer.Option("--slippage")] = "fixed_bps",
    fill_timing: Annotated[str, typer.Option("--fill-timing")] = "next_close",
    latency_ms: Annotated[int, typer.Option("--latency-ms", help="Order latency, feed time.")] = 0,
    policy: PolicyOption = "halt",
    breaker: BreakerOption = None,
    max_orders: MaxOrdersOption = None,
    reconcile_every: ReconcileOption = None,
    shadow: ShadowOption = False,
    home: HomeOption = None,
    db: DbOption = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Paper-trade STRATEGY on a replay of a bundle (restart with the same arguments to
    resume after a crash)."""
    import asyncio

    from rbt.api.params import parse_param_assignments
    from rbt.kernel.realtime import parse_speed
    from rbt.live.engine import PaperRun
    from rbt.live.risk import make_breaker

    kind, _, bundle = feed.partition(":")
    if kind != "replay" or not bundle:
        error(f"unsupported feed {feed!r}: only replay:BUNDLE for now")
        raise typer.Exit(ExitCode.USAGE_ERROR)
    if not start or not end:
        error("--start and --end are required for a replay")
        raise typer.Exit(ExitCode.USAGE_ERROR)
    run = PaperRun(
        strategy,
        start=start,
        end=end,
        bundle=bundle,
        home=_home(home),
        capital_base=capital,
        params=parse_param_assignments(param or []),
        commission=commission,
        slippage=slippage,
        fill_timing=fill_timing,
        speed=parse_speed(speed),
        latency=dt.timedelta(milliseconds=latency_ms),
        policy=policy,
        breakers=[make_breaker(b) for b in breaker or []],
        max_orders_per_session=max_orders,
        reconcile_every=reconcile_every,
        database=db,
        observers=_shadow(shadow),
    )
    try:
        result = asyncio.run(run.run())
    finally:
        run.close()
    summary = {
        "run_id": result.run_id,
        "final_value": str(result.final_value),
        "orders": result.orders.height,
        "fills": result.transactions.height,
        "trading_state": result.trading_state,
        "reason": result.state_reason,
    }
    if as_json:
        print_json(summary)
    else:
        for key, value in summary.items():
            console().print(f"{key}: {value}")


def live(
    strategy: Annotated[Path, typer.Argument(help="Strategy file.")],
    broker: Annotated[
        str, typer.Option("--broker", help="Live broker plugin, e.g. ccxt.binance.")
    ] = "",
    sandbox: Annotated[
        bool,
        typer.Option("--sandbox", help="The local venue simulator (loopback URLs only)."),
    ] = False,
    sandbox_url: Annotated[
        str | None,
        typer.Option("--sandbox-url", help="REST URL of the simulator (default: sandbox.json)."),
    ] = None,
    testnet: Annotated[bool, typer.Option("--testnet", help="The venue's testnet.")] = False,
    symbols: Annotated[
        str, typer.Option("--symbols", help="Comma-separated symbols to trade.")
    ] = "BTC/USDT",
    interval: Annotated[str, typer.Option("--interval", help="Bar interval: 1m or 1d.")] = "1m",
    credentials: Annotated[
        str | None, typer.Option("--credentials", help="Credential name (rbt credentials).")
    ] = None,
    capital: Annotated[str, typer.Option("--capital", help="Capital the run may use.")] = "10000",
    param: Annotated[list[str] | None, typer.Option("--param", help="k=v override")] = None,
    policy: PolicyOption = "halt",
    reconcile_every: ReconcileOption = None,
    shadow: ShadowOption = False,
    breaker: BreakerOption = None,
    max_orders: MaxOrdersOption = None,
    i_understand: Annotated[
        bool,
        typer.Option(
            "--i-understand-this-trades-real-money", help="Explicit confirmation of real trading."
        ),
    ] = False,
    home: HomeOption = None,
    db: DbOption = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Trade STRATEGY through a live broker plugin: the local simulator (--sandbox), a
    testnet (--testnet) or real money (only with --i-understand-this-trades-real-money).
    Restart the same command to resume after a crash (the books come from the journal and
    are reconciled with the venue before trading)."""
    import asyncio

    from rbt.api.params import parse_param_assignments
    from rbt.kernel.errors import UnknownPluginError
    from rbt.live.compose import compose_live, venue_endpoint
    from rbt.live.risk import make_breaker

    if sandbox and testnet:
        error("--sandbox and --testnet exclude each other")
        raise typer.Exit(ExitCode.USAGE_ERROR)
    if sandbox_url and not sandbox:
        error("--sandbox-url needs --sandbox")
        raise typer.Exit(ExitCode.USAGE_ERROR)
    mode = "sandbox" if sandbox else "testnet" if testnet else "live"
    if mode == "live" and not i_understand:
        error(
            "rbt live trades real money: pass --i-understand-this-trades-real-money to "
            "confirm (use --sandbox for the local simulator, or rbt paper to try a strategy)"
        )
        raise typer.Exit(ExitCode.USAGE_ERROR)
    if not broker:
        error("--broker is required (a live broker plugin; see rbt plugins)")
        raise typer.Exit(ExitCode.USAGE_ERROR)
    if not strategy.is_file():
        error(f"strategy file {strategy} does not exist")
        raise typer.Exit(ExitCode.USAGE_ERROR)
    rbt_home = _home(home)
    names = [s.strip() for s in symbols.split(",") if s.strip()]
    try:
        endpoint = venue_endpoint(rbt_home, mode, sandbox_url=sandbox_url, credentials=credentials)
        run = compose_live(
            strategy,
            broker=broker,
            endpoint=endpoint,
            symbols=names,
            interval=interval,
            home=rbt_home,
            capital_base=capital,
            params=parse_param_assignments(param or []),
            policy=policy,
            reconcile_every=reconcile_every,
            breakers=[make_breaker(b) for b in breaker or []],
            max_orders_per_session=max_orders,
            database=db,
            observers=_shadow(shadow),
        )
    except (ValueError, LookupError, UnknownPluginError) as exc:
        error(str(exc))
        raise typer.Exit(ExitCode.USAGE_ERROR) from None
    try:
        result = asyncio.run(run.run())
    except KeyboardInterrupt:
        console().print(f"{run.run_id}: stopped; run the same command to resume")
        return
    finally:
        run.close()
    summary = {
        "run_id": result.run_id,
        "mode": mode,
        "broker": broker,
        "final_value": str(result.final_value),
        "orders": result.orders.height,
        "fills": result.transactions.height,
        "trading_state": result.trading_state,
        "reason": result.state_reason,
    }
    if as_json:
        print_json(summary)
    else:
        for key, value in summary.items():
            console().print(f"{key}: {value}")


def _sessions(home: Any, run_id: str | None, url: str | None = None) -> list[dict[str, Any]]:
    import sqlalchemy as sa

    from rbt.data.db import open_database

    db = open_database(url or home)
    query = "SELECT * FROM live_sessions" + (" WHERE run_id = :r" if run_id else "")
    with db.connect() as conn:
        rows = [dict(r) for r in conn.execute(sa.text(query), {"r": run_id}).mappings()]
        for row in rows:
            row["positions"] = [
                dict(p)
                for p in conn.execute(
                    sa.text(
                        "SELECT symbol, amount, last_price FROM live_positions "
                        "WHERE run_id = :r ORDER BY symbol"
                    ),
                    {"r": row["run_id"]},
                ).mappings()
            ]
            row["open_orders"] = [
                dict(o)
                for o in conn.execute(
                    sa.text(
                        "SELECT client_order_id, symbol, amount, status, filled FROM orders "
                        "WHERE run_id = :r AND status IN ('submitting', 'submitted', "
                        "'accepted', 'partially_filled', 'pending_cancel')"
                    ),
                    {"r": row["run_id"]},
                ).mappings()
            ]
            row["updated_at"] = str(row["updated_at"])
            row["config"] = json.loads(row["config"])
            row["broker"] = row["config"].get("broker", "paper")
            value, capital = row.get("portfolio_value"), row.get("capital")
            if value is not None:
                from decimal import Decimal

                row["pnl"] = str(Decimal(value) - Decimal(str(capital)))
    if run_id and not rows:
        raise LookupError(f"no paper/live run {run_id!r}")
    return rows


def status(
    run: RunOption = None,
    home: HomeOption = None,
    db: DbOption = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    watch: Annotated[bool, typer.Option("--watch", help="Live-updating view.")] = False,
    interval: Annotated[float, typer.Option("--interval", help="Refresh seconds.")] = 1.0,
    count: Annotated[int, typer.Option("--count", help="Stop after N refreshes (0: never).")] = 0,
) -> None:
    """Positions, open orders, P&L and breaker state of paper and live runs."""
    rbt_home = _home(home)
    if as_json:
        print_json(_sessions(rbt_home, run, db))
        return
    if not watch:
        console().print(_status_table(_sessions(rbt_home, run, db)))
        return
    from rich.live import Live

    shown = 0
    with Live(
        _status_table(_sessions(rbt_home, run, db)), console=console(), auto_refresh=False
    ) as view:
        while count == 0 or shown < count:
            view.update(_status_table(_sessions(rbt_home, run, db)), refresh=True)
            shown += 1
            time.sleep(interval)


def _status_table(rows: list[dict[str, Any]]) -> Any:
    return table(
        "paper/live runs",
        ["run", "mode", "broker", "status", "state", "value", "pnl", "positions", "open orders"],
        [
            [
                r["run_id"],
                r["mode"],
                r["broker"],
                r["status"],
                r["trading_state"] + (f" ({r['state_reason']})" if r["state_reason"] else ""),
                r.get("portfolio_value") or "",
                r.get("pnl", ""),
                ", ".join(f"{p['symbol']} {p['amount']}" for p in r["positions"]) or "-",
                str(len(r["open_orders"])),
            ]
            for r in rows
        ],
    )


def _set_state(
    home: Any, run_id: str | None, state: str, reason: str, url: str | None = None
) -> list[str]:
    from rbt.data.db import open_database
    from rbt.live.journal import Journal

    rows = _sessions(home, run_id, url)
    db = open_database(url or home)
    changed = []
    for row in rows:
        journal = Journal(db, row["run_id"], venue="paper", account="paper")
        try:
            journal.set_trading_state(state, reason, time.time_ns())
        finally:
            journal.close()
        changed.append(row["run_id"])
    return changed


def halt(
    run: RunOption = None,
    reason: Annotated[str, typer.Option("--reason")] = "operator halt",
    reducing: Annotated[
        bool, typer.Option("--reducing", help="REDUCING instead of HALTED.")
    ] = False,
    home: HomeOption = None,
    db: DbOption = None,
) -> None:
    """Stop new orders (HALTED; REDUCING: only orders that shrink positions). Persisted."""
    state = "REDUCING" if reducing else "HALTED"
    for run_id in _set_state(_home(home), run, state, reason, db):
        console().print(f"{run_id}: {state}")


def resume(run: RunOption = None, home: HomeOption = None, db: DbOption = None) -> None:
    """Set the kill switch back to ACTIVE (an explicit reset after a halt)."""
    for run_id in _set_state(_home(home), run, "ACTIVE", "operator resume", db):
        console().print(f"{run_id}: ACTIVE")


def register(app: typer.Typer) -> None:
    """Add the live commands to ``app``."""
    app.command()(paper)
    app.command()(live)
    app.command()(status)
    app.command()(halt)
    app.command()(resume)
