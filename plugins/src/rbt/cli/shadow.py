"""``rbt shadow status | report | calibrate``: the shadow backtest's view of a run."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer

from rbt.cli.exit_codes import ExitCode
from rbt.cli.output import console, error, print_json, table

app = typer.Typer(
    name="shadow",
    help="Shadow trading: how live execution compares with its backtest.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
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


def _db(home: Path | None) -> Any:
    from rbt.data.db import open_database
    from rbt.data.home import RbtHome

    return open_database(RbtHome(home) if home is not None else RbtHome())


def _statuses(db: Any, run_id: str | None) -> list[dict[str, Any]]:
    from rbt.shadow.report import shadow_status
    from rbt.shadow.store import run_ids

    ids = [run_id] if run_id else run_ids(db)
    return [shadow_status(db, r) for r in ids]


def _fmt(value: Any, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _view(rows: list[dict[str, Any]]) -> Any:
    """One two-column table per run (narrow terminals keep ids and reasons readable)."""
    from rich.console import Group

    def metric(row: dict[str, Any], name: str, spec: str) -> str:
        m = row["metrics"].get(name)
        return "-" if m is None else f"{_fmt(m['value'], spec)}  ({m['samples']} samples)"

    tables = []
    for r in rows:
        state = r["trading_state"] or "-"
        if r["state_reason"]:
            state += f" ({r['state_reason']})"
        fields = [
            ("shadow", r["state"]),
            ("kill switch", state),
            ("match rate", metric(r, "match_rate", ".4f")),
            ("slippage error (bps)", metric(r, "slippage_error_bps", ".2f")),
            ("fill-rate error", metric(r, "fill_rate_error", ".2%")),
            ("commission error (bps)", metric(r, "commission_error_bps", ".2f")),
            ("signals", ", ".join(f"{k} {v}" for k, v in r["signals"].items() if v) or "-"),
            ("paired fills", ", ".join(f"{k} {v}" for k, v in r["paired_fills"].items()) or "-"),
            ("updated", r["updated"]),
        ]
        if r["trip_outstanding"]:
            fields.append(("trip", (r["trip"] or {}).get("reason", "")))
        if r["error"]:
            fields.append(("error", r["error"]))
        tables.append(table(f"shadow of run {r['run_id']}", ["", "value"], fields))
    return Group(*tables) if tables else "no shadow runs"


@app.command()
def status(
    run_id: Annotated[str | None, typer.Argument(help="Run id (default: every run).")] = None,
    home: HomeOption = None,
    as_json: JsonOption = False,
    watch: Annotated[bool, typer.Option("--watch", help="Live-updating view.")] = False,
    interval: Annotated[float, typer.Option("--interval", help="Refresh seconds.")] = 1.0,
    count: Annotated[int, typer.Option("--count", help="Stop after N refreshes (0: never).")] = 0,
) -> None:
    """Match rate, slippage, fill-rate and commission errors, breaker state."""
    db = _db(home)
    if as_json:
        print_json(_statuses(db, run_id))
        return
    if not watch:
        console().print(_view(_statuses(db, run_id)))
        return
    from rich.live import Live

    shown = 0
    with Live(_view(_statuses(db, run_id)), console=console(), auto_refresh=False) as live:
        while count == 0 or shown < count:
            live.update(_view(_statuses(db, run_id)), refresh=True)
            shown += 1
            time.sleep(interval)


@app.command()
def report(
    run_id: Annotated[str, typer.Argument(help="Run id.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="HTML file to write.")],
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Write a self-contained HTML report (match rate and slippage error over time)."""
    from rbt.shadow.report import write_html

    path = write_html(_db(home), run_id, output)
    if as_json:
        print_json({"run_id": run_id, "report": str(path)})
    else:
        console().print(f"report: {path}")


@app.command()
def calibrate(
    run_id: Annotated[str, typer.Argument(help="Run id.")],
    home: HomeOption = None,
    as_json: JsonOption = False,
    min_fills: Annotated[int, typer.Option("--min-fills", help="Fewest live fills to fit.")] = 5,
) -> None:
    """Suggest slippage and fee parameters that would have matched the live fills."""
    from rbt.shadow.calibration import CalibrationError, calibrate_run

    try:
        result = calibrate_run(_db(home), run_id, min_fills)
    except CalibrationError as exc:
        error(str(exc))
        raise typer.Exit(ExitCode.RUN_FAILED) from None
    if as_json:
        print_json({"run_id": run_id, **result.to_json()})
        return
    out = console()
    rows = [
        [c.kind, c.provider, ", ".join(f"{k}={v}" for k, v in c.params.items()),
         f"{c.rmse_bps:.3f}"]
        for c in (*result.slippage, *result.fees)
    ]  # fmt: skip
    out.print(table(f"calibration of {run_id} ({result.fills} live fills)",
                    ["kind", "provider", "parameters", "rms error (bps)"], rows))  # fmt: skip
    best_s, best_f = result.best_slippage, result.best_fee
    out.print(
        f"suggested: --slippage {best_s.provider} "
        f"({', '.join(f'{k}={v}' for k, v in best_s.params.items())}); "
        f"--commission {best_f.provider} "
        f"({', '.join(f'{k}={v}' for k, v in best_f.params.items())})"
    )
    out.print(
        f"current model error: slippage {result.current_slippage_rmse_bps:.3f} bps, "
        f"fees {result.current_fee_rmse_bps:.3f} bps"
    )


def register(root: typer.Typer) -> None:
    """Add ``rbt shadow`` to the root app."""
    root.add_typer(app, name="shadow")
