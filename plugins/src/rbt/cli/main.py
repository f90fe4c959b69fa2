"""The ``rbt`` Typer app: run, ingest, bundles, plugins, demo.

Heavy libraries (polars, numpy, pandas, SQLAlchemy, vendor SDKs) are imported
inside commands, so ``rbt --help`` stays fast. Commands from plugins
(``rbt_register_commands``) are looked up only when their name is invoked.
"""

from __future__ import annotations

import contextlib
import copy
import gc
import json
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.main import get_command_name

from rbt.cli.credentials import register as _register_credentials
from rbt.cli.exit_codes import ExitCode
from rbt.cli.live import register as _register_live
from rbt.cli.output import console, error, print_json, table
from rbt.cli.research import register as _register_research
from rbt.cli.runs import register as _register_runs
from rbt.cli.shadow import register as _register_shadow

app = typer.Typer(
    name="rbt",
    help="RustyBT: backtest, paper-trade and trade the same strategy.",
    # plugin commands are found only when one is called: discovery imports every plugin
    epilog="Installed plugins add commands of their own (rbt-venue-sim: `rbt sandbox`); "
    "`rbt plugins` lists them under the kind `command`.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help: Typer's Rich help costs 0.2 s of imports per call
)

HomeOption = Annotated[
    Path | None,
    typer.Option(
        "--home",
        help="RBT home directory (default: $RBT_HOME or the user data dir).",
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


def _home(path: Path | None) -> Any:
    from rbt.data.home import RbtHome

    return RbtHome(path) if path is not None else RbtHome()


def _version_callback(value: bool) -> None:
    if value:
        from rbt.runs.versions import installed_version as version

        typer.echo(f"rbt {version('rustybt-framework')} (kernel {version('rbt-kernel')})")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_version_callback,
            is_eager=True,
            help="Show the version and exit.",
        ),
    ] = False,
) -> None:
    """RustyBT: backtest, paper-trade and trade the same strategy."""


# -- run ------------------------------------------------------------------------------
@app.command()
def run(
    strategy: Annotated[Path, typer.Argument(help="Strategy file (.py).", show_default=False)],
    start: Annotated[str, typer.Option(help="First session, YYYY-MM-DD (inclusive).")],
    end: Annotated[str, typer.Option(help="Last session, YYYY-MM-DD (inclusive).")],
    capital: Annotated[str, typer.Option(help="Starting cash.")] = "10000000",
    bundle: Annotated[str, typer.Option(help="Bundle to run on.")] = "demo",
    param: Annotated[
        list[str] | None,
        typer.Option("--param", help="Override a strategy parameter: k=v (repeatable)."),
    ] = None,
    fill_timing: Annotated[
        str, typer.Option(help="next_close (Zipline default) or next_open.")
    ] = "next_close",
    commission: Annotated[
        str, typer.Option(help="Commission model provider (see rbt plugins).")
    ] = "per_share",
    slippage: Annotated[
        str, typer.Option(help="Slippage model provider (see rbt plugins).")
    ] = "fixed_bps",
    benchmark: Annotated[
        str | None,
        typer.Option(help="Benchmark: a symbol of the bundle or a date,return CSV file."),
    ] = None,
    report: Annotated[
        bool, typer.Option("--report", help="Also write the HTML report of the run.")
    ] = False,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Backtest STRATEGY on a bundle and print a summary."""
    from rbt.api.params import parse_param_assignments
    from rbt.api.runner import run_backtest

    params = parse_param_assignments(param or [])
    try:
        result = run_backtest(
            strategy,
            start=start,
            end=end,
            capital_base=capital,
            bundle=bundle,
            params=params,
            commission=commission,
            slippage=slippage,
            fill_timing=fill_timing,
            home=_home(home),
            benchmark=benchmark,
        )
    except Exception as exc:
        if _is_user_code_error(exc, strategy):
            _print_user_traceback(exc, strategy)
            raise typer.Exit(ExitCode.RUN_FAILED) from None
        raise
    from rbt.cli.runs import after_run

    report_path = after_run(result, _home(home), report)
    if as_json:
        print_json(
            {
                "run_id": result.run_id,
                "final_value": str(result.final_value),
                "metrics": dict(result.metrics),
                "path": str(result.path),
                "manifest": dict(result.manifest),
                "report": None if report_path is None else str(report_path),
            }
        )
        return
    _print_summary(result)
    if report_path is not None:
        console().print(f"report: {report_path}")


def _is_user_code_error(exc: BaseException, strategy: Path) -> bool:
    target = str(strategy.resolve())
    return any(
        Path(frame.filename).resolve().as_posix() == Path(target).as_posix()
        for frame in traceback.extract_tb(exc.__traceback__)
    )


def _print_user_traceback(exc: BaseException, strategy: Path) -> None:
    # show the user's frames, not the engine's: the error is in their code
    target = strategy.resolve().as_posix()
    frames = [
        f
        for f in traceback.extract_tb(exc.__traceback__)
        if Path(f.filename).resolve().as_posix() == target
    ]
    err = console(stderr=True)
    err.print("[bold red]error:[/] the strategy raised an exception")
    for frame in traceback.format_list(frames):
        err.print(frame.rstrip(), markup=False)
    err.print(f"{type(exc).__name__}: {exc}", markup=False)


def _print_summary(result: Any) -> None:
    m = result.metrics
    rows = [
        ("Final value", f"{result.final_value:,.2f}"),
        ("Total return", f"{m['total_return']:.2%}"),
        ("CAGR", f"{m['cagr']:.2%}"),
        ("Volatility (ann.)", f"{m['annual_volatility']:.2%}"),
        ("Sharpe", f"{m['sharpe']:.2f}"),
        ("Max drawdown", f"{m['max_drawdown']:.2%}"),
        ("Trades", f"{int(m['trades'])}"),
        ("Sessions", f"{len(result.perf)}"),
    ]
    out = console()
    out.print(
        table(
            f"Backtest {result.run_id}  ({result.manifest['start']} .. {result.manifest['end']})",
            ["metric", "value"],
            rows,
        )
    )
    if result.path is not None:
        out.print(f"results: {result.path}")


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """The cyclic garbage collector off inside (restored after).

    Imports allocate hundreds of thousands of long-lived objects, which the collector
    walks again and again (~40 ms per ``rbt ingest``) to find almost no garbage;
    reference counting still frees everything else at once.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


# -- data --------------------------------------------------------------------------------
@app.command()
@_gc_paused()  # the whole ingest: imports polars, numpy, ...; builds few cycles itself
def ingest(
    source: Annotated[
        str, typer.Argument(help="Data source provider: csv, demo, ... (see rbt plugins).")
    ],
    bundle: Annotated[
        str | None, typer.Option(help="Bundle name (default: the source name).")
    ] = None,
    path: Annotated[Path | None, typer.Option(help="Input directory (csv).")] = None,
    calendar: Annotated[
        str | None, typer.Option(help="Trading calendar, e.g. XNYS or always_open.")
    ] = None,
    tz: Annotated[str | None, typer.Option(help="Time zone of naive intraday timestamps.")] = None,
    frequency: Annotated[str | None, typer.Option(help="Bar interval: 1d or 1m.")] = None,
    option: Annotated[
        list[str] | None, typer.Option("--option", "-o", help="Source option k=v (repeatable).")
    ] = None,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Read SOURCE into a Parquet bundle (validated, written atomically)."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    from rbt.data.ingest import ingest as run_ingest

    options: dict[str, Any] = {}
    if option:  # (rbt.api, which parses them, imports the whole engine: only when needed)
        from rbt.api.params import parse_param_assignments

        options.update(parse_param_assignments(option))
    for key, value in (
        ("path", path),
        ("calendar", calendar),
        ("tz", tz),
        ("frequency", frequency),
    ):
        if value is not None:
            options[key] = str(value)
    name = bundle or source.replace(".", "_")
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console(stderr=True),
        transient=as_json,
    ) as bar:
        task = bar.add_task(f"ingest {source} → {name}", total=None)

        def progress(symbol: str, done: int, total: int) -> None:
            bar.update(
                task,
                completed=done,
                total=total,
                description=f"ingest {source} → {name}: {symbol}",
            )

        manifest = run_ingest(_home(home), source, name, options, progress=progress)
    if as_json:
        print_json(json.loads(manifest.to_json()))
        return
    console().print(
        f"bundle [bold]{name}[/] written: {manifest.asset_count} assets, "
        f"{manifest.row_count} bars, {manifest.first_session} .. {manifest.last_session} "
        f"({manifest.frequency}, {manifest.calendar})"
    )


def _jsonable(obj: Any) -> Any:
    import attrs

    return attrs.asdict(obj) if attrs.has(type(obj)) else obj


@app.command()
def bundles(home: HomeOption = None, as_json: JsonOption = False) -> None:
    """List the bundles in the RBT home."""
    from rbt.data.bundles import list_bundles

    found = list_bundles(_home(home))
    rows = [_jsonable(b) for b in found]
    if as_json:
        print_json(rows)
        return
    if not rows:
        console().print("no bundles yet: try `rbt ingest demo`")
        return
    columns = ["name", "frequency", "calendar", "first", "last", "assets", "rows", "status"]
    body = [[r[c] for c in columns] for r in rows]
    for row, r in zip(body, rows, strict=True):
        row[3], row[4] = str(r["first"])[:10], str(r["last"])[:10]
    headers = ["name", "freq", "cal", "first", "last", "assets", "bars", "status"]
    console().print(table("Bundles", headers, body))


# -- plugins -----------------------------------------------------------------------------
@app.command()
def plugins(as_json: JsonOption = False) -> None:
    """List plugins, their providers, capabilities, versions and load errors."""
    from rbt.kernel.registry import ProviderKind
    from rbt.plugins import plugin_manager

    pm = plugin_manager()
    providers = [
        {
            "kind": kind.value,
            "name": p.name,
            "plugin": p.plugin,
            "dist": p.dist,
            "version": p.version,
            "capabilities": sorted(p.capabilities),
            "summary": p.summary,
        }
        for kind in ProviderKind
        for p in pm.providers(kind).values()
    ]
    infos: list[dict[str, Any]] = [
        {
            "name": i.name,
            "dist": i.dist,
            "version": i.version,
            "builtin": i.builtin,
            "hooks": list(i.hooks),
        }
        for i in pm.plugin_infos()
    ]
    errors = [
        {"name": e.name, "dist": e.dist, "version": e.version, "error": e.reason}
        for e in pm.load_errors
    ]
    if as_json:
        print_json({"plugins": infos, "providers": providers, "load_errors": errors})
        return
    out = console()
    out.print(
        table(
            "Plugins",
            ["plugin", "distribution", "version", "hooks"],
            [[i["name"], i["dist"], i["version"], len(i["hooks"])] for i in infos],
        )
    )
    out.print(
        table(
            "Providers",
            ["kind", "name", "plugin", "capabilities", "summary"],
            [
                [p["kind"], p["name"], p["plugin"], ",".join(p["capabilities"]), p["summary"]]
                for p in providers
            ],
        )
    )
    if errors:
        out.print(
            table(
                "Load errors",
                ["plugin", "distribution", "error"],
                [[e["name"], f"{e['dist']} {e['version']}", e["error"]] for e in errors],
            )
        )


# -- runs and reports (rbt.cli.runs) --------------------------------------------------------
_register_runs(app)
_register_live(app)
_register_research(app)
_register_shadow(app)
_register_credentials(app)


# -- entry point ----------------------------------------------------------------------------
def _plugin_command(name: str) -> Any:
    from rbt.kernel.registry import ProviderKind
    from rbt.plugins import plugin_manager

    provider = plugin_manager().providers(ProviderKind.COMMAND).get(name)
    return provider.load() if provider is not None else None


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and map errors to exit codes (see :class:`ExitCode`)."""
    args = list(sys.argv[1:] if argv is None else argv)
    target: Any = app
    prog_name = "rbt"
    with _gc_paused():  # start-up: imports (the kernel's, a plugin's)
        from rbt.security.redaction import install_redaction

        install_redaction()  # before any command or plugin command logs anything
        if args and not args[0].startswith("-") and args[0] not in _builtin_commands():
            plugin_app = _plugin_command(args[0])
            if plugin_app is not None:
                target, prog_name, args = plugin_app, f"rbt {args[0]}", args[1:]
        elif args:
            target = _app_for(args[0])
    try:
        # without standalone mode click returns the code of a typer.Exit instead of raising it
        code = target(args=args, prog_name=prog_name, standalone_mode=False)
    except typer.Exit as done:
        return int(done.exit_code)
    except SystemExit as done:
        return int(done.code or 0)
    except Exception as exc:
        return _exit_code_for(exc)
    return int(code) if isinstance(code, int) else ExitCode.OK


def _exit_code_for(exc: Exception) -> int:
    from rbt.kernel.errors import ConfigError, PluginError, RbtError, UnknownPluginError

    if isinstance(exc, UnknownPluginError):  # a mistyped name is the user's, not a plugin's
        error(str(exc))
        return ExitCode.USAGE_ERROR
    if isinstance(exc, PluginError):
        error(str(exc))
        return ExitCode.PLUGIN_ERROR
    if isinstance(exc, ConfigError | ValueError | LookupError):
        error(str(exc))
        return ExitCode.USAGE_ERROR
    if isinstance(exc, RbtError):
        error(str(exc))
        return ExitCode.RUN_FAILED
    if isinstance(exc, typer.Abort):
        error("aborted")
        return ExitCode.RUN_FAILED
    show = getattr(exc, "show", None)
    if callable(show):  # click's usage errors (Typer vendors click)
        show()
        return int(getattr(exc, "exit_code", ExitCode.USAGE_ERROR))
    from rbt.security.redaction import redact

    sys.stderr.write(redact(traceback.format_exc()))  # vendor errors quote signed URLs
    return ExitCode.INTERNAL_ERROR


def _app_for(name: str) -> typer.Typer:
    """``app`` with only the command or group called ``name`` (``app`` if it has none).

    Typer turns every registered command into a click command on each call, inspecting
    each signature (~35 ms for all of rbt's); the one that runs is enough. The callback
    (``--version``) and settings are the app's own, so usage lines, help, options and
    errors are those of the full app (``tests/cli/test_dispatch.py`` compares them).
    """
    commands = [c for c in app.registered_commands if _command_name(c) == name]
    groups = [g for g in app.registered_groups if g.name == name]
    if not commands and not groups:
        return app  # an option or an unknown name: the full app words the error
    slim = copy.copy(app)
    slim.registered_commands, slim.registered_groups = commands, groups
    return slim


def _command_name(info: Any) -> str | None:
    if info.name:
        return str(info.name)
    return get_command_name(info.callback.__name__) if info.callback is not None else None


def _builtin_commands() -> set[str]:
    commands = {_command_name(c) for c in app.registered_commands}
    return {name for name in commands if name} | {g.name for g in app.registered_groups if g.name}


def entry() -> None:
    """Console-script entry point."""
    sys.exit(main())


if __name__ == "__main__":
    entry()
