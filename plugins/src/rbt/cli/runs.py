"""``rbt runs list|show|diff`` and ``rbt report``: the run registry on the command line.

Only Typer is imported at module level (``rbt --help`` stays fast); SQLAlchemy,
Polars and plotly are imported inside the commands. An unknown run id is a
usage error (exit code 2) whose message lists the recent run ids; a unique
prefix of an id is accepted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from rbt.cli.output import console, print_json, table

__all__ = ["register", "report", "runs_app"]

HomeOption = Annotated[
    Path | None,
    typer.Option(
        "--home",
        help="RBT home directory (default: $RBT_HOME or the user data dir).",
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]

runs_app = typer.Typer(
    name="runs",
    help="Recorded backtests: list, show, diff.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _home(path: Path | None) -> Any:
    from rbt.data.home import RbtHome

    return RbtHome(path) if path is not None else RbtHome()


def _pct(value: Any) -> str:
    try:
        return f"{float(value):.2%}"
    except (TypeError, ValueError):
        return "-"


def _num(value: Any, spec: str = ".3f") -> str:
    try:
        return format(float(value), spec)
    except (TypeError, ValueError):
        return "-"


def _short(text: str, width: int = 40) -> str:
    # the full parameters are in `rbt runs show`
    return text if len(text) <= width else text[: width - 1] + "…"


def _strategy_name(strategy: str) -> str:
    return Path(strategy).name if "/" in strategy else strategy


@runs_app.command("list")
def list_runs(
    limit: Annotated[int, typer.Option(help="How many runs (most recent first).")] = 20,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """List recorded runs, most recent first."""
    from rbt.runs.registry import list_runs as _list

    found = _list(_home(home), limit=limit)
    if as_json:
        print_json([r.to_json() for r in found])
        return
    if not found:
        console().print("no runs recorded yet: try `rbt run STRATEGY.py --start ... --end ...`")
        return
    rows = [
        [
            r.id,
            r.updated_at.strftime("%Y-%m-%d %H:%M:%S"),
            _strategy_name(r.strategy),
            _short(", ".join(f"{k}={v}" for k, v in sorted(r.params.items()))),
            f"{r.start}..{r.end}",
            _pct(r.metrics.get("total_return")),
            _num(r.metrics.get("sharpe"), ".2f"),
            _pct(r.metrics.get("max_drawdown")),
            _num(r.metrics.get("trades"), ".0f"),
        ]
        for r in found
    ]
    headers = ["id", "run at (UTC)", "strategy", "params", "dates", "return", "sharpe", "max dd",
               "fills"]  # fmt: skip
    console().print(table("Runs", headers, rows))


@runs_app.command("show")
def show(
    run_id: Annotated[str, typer.Argument(help="Run id (or a unique prefix).")],
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show one run: inputs, parameters, metrics, versions, where its results are."""
    from rbt.runs.registry import get_run

    record = get_run(_home(home), run_id)
    if as_json:
        print_json(record.to_json())
        return
    out = console()
    inputs = [
        ["strategy", record.strategy],
        ["strategy hash", record.strategy_hash],
        ["bundle", f"{record.bundle} ({record.bundle_hash[:16]})"],
        ["dates", f"{record.start} .. {record.end}"],
        ["capital", record.capital_base],
        ["final value", record.final_value],
        ["benchmark", record.benchmark or "-"],
        ["commission", str(record.manifest.get("commission", ""))],
        ["slippage", str(record.manifest.get("slippage", ""))],
        ["fill timing", str(record.manifest.get("fill_timing", ""))],
        ["results", str(record.results_path)],
        ["first run", record.created_at.isoformat()],
        ["last run", f"{record.updated_at.isoformat()} ({record.run_count}×)"],
    ]
    out.print(table(f"Run {record.id}", ["field", "value"], inputs))
    if record.params:
        out.print(table("Parameters", ["name", "value"], sorted(record.params.items())))
    out.print(
        table(
            "Metrics", ["metric", "value"], [[k, _num(v, ".6g")] for k, v in record.metrics.items()]
        )
    )
    out.print(table("Versions", ["package", "version"], sorted(record.versions.items())))


@runs_app.command("diff")
def diff(
    a: Annotated[str, typer.Argument(help="First run id (or a unique prefix).")],
    b: Annotated[str, typer.Argument(help="Second run id (or a unique prefix).")],
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Two runs side by side: inputs, parameters, metrics and trades per asset."""
    from rbt.runs.diff import diff_runs
    from rbt.runs.registry import get_run

    rbt_home = _home(home)
    result = diff_runs(get_run(rbt_home, a), get_run(rbt_home, b))
    if as_json:
        print_json(result)
        return
    ida, idb = result["a"]["id"], result["b"]["id"]
    out = console()
    changed = [row for row in result["inputs"] + result["params"] if not row["same"]]
    out.print(
        table(
            "Inputs and parameters that differ",
            ["name", ida, idb],
            [[r["name"], r["a"], r["b"]] for r in changed] or [["(none)", "", ""]],
        )
    )
    out.print(
        table(
            "Metrics",
            ["metric", ida, idb, "b - a"],
            [[r["name"], _num(r["a"], ".6g"), _num(r["b"], ".6g"), _num(r["diff"], "+.6g")]
             for r in result["metrics"]],
        )
    )  # fmt: skip

    def cell(side: dict[str, Any] | None) -> list[str]:
        if side is None:
            return ["-", "-", "-"]
        return [str(side["fills"]), str(side["round_trips"]), f"{float(side['pnl']):,.2f}"]

    out.print(
        table(
            "Trades per asset (fills, round trips, round-trip P&L)",
            ["asset", f"{ida} fills", "trips", "P&L", f"{idb} fills", "trips", "P&L"],
            [[r["name"], *cell(r["a"]), *cell(r["b"])] for r in result["trades"]],
        )
    )
    for message in result["errors"]:
        out.print(f"note: {message}")


def report(
    run_id: Annotated[str, typer.Argument(help="Run id (or a unique prefix).")],
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Where to write (default: the run's report.html)."),
    ] = None,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Write the self-contained HTML report of a recorded run."""
    from rbt.report.html import write_report
    from rbt.runs.registry import get_run

    rbt_home = _home(home)
    record = get_run(rbt_home, run_id)
    path = write_report(rbt_home, record.id, output)
    if as_json:
        print_json({"run_id": record.id, "report": str(path)})
        return
    console().print(f"report: {path}")


def register(app: typer.Typer) -> None:
    """Add ``report`` and the ``runs`` group to the main app."""
    app.command("report")(report)
    app.add_typer(runs_app, name="runs")


def after_run(result: Any, home: Any, report: bool) -> Path | None:
    """After ``rbt run``: warn about benchmark gaps; write the report when asked."""
    from rich.markup import escape

    bench = result.manifest.get("benchmark")
    if isinstance(bench, dict) and bench.get("missing_sessions"):
        first = ", ".join(bench.get("first_missing", [])[:5])
        console(stderr=True).print(
            f"[yellow]warning:[/] benchmark {escape(str(bench['source']))}: "
            f"{bench['missing_sessions']} sessions without a return (taken as 0.0), e.g. {first}"
        )
    if not report or result.path is None:
        return None
    from rbt.report.html import write_report

    return write_report(home, result.run_id)
