"""``rbt optimize``, ``rbt walk-forward`` and ``rbt robustness`` (:mod:`rbt.research`).

Everything heavy (polars, numpy, optuna, dask) is imported inside the commands.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any

import typer

from rbt.cli.output import console, print_json, table

StrategyArg = Annotated[Path, typer.Argument(help="Strategy file (.py).", show_default=False)]
StartOpt = Annotated[str, typer.Option(help="First session, YYYY-MM-DD (inclusive).")]
EndOpt = Annotated[str, typer.Option(help="Last session, YYYY-MM-DD (inclusive).")]
SpaceOpt = Annotated[
    list[str],
    typer.Option(
        "--param-space",
        "-s",
        help="NAME=int:LOW:HIGH[:STEP][:log] | float:LOW:HIGH[:STEP][:log] | cat:A,B (repeat).",
    ),
]
ParamOpt = Annotated[
    list[str] | None,
    typer.Option("--param", help="Fixed strategy parameter k=v (repeatable)."),
]
SearchOpt = Annotated[str, typer.Option(help="grid, random, bayes or genetic.")]
ExecOpt = Annotated[str, typer.Option(help="local, pool or dask.")]
WorkersOpt = Annotated[int | None, typer.Option(help="Worker processes (default: all cores).")]
AddressOpt = Annotated[
    str | None, typer.Option("--dask-address", help="Dask scheduler (default: a LocalCluster).")
]
TrialsOpt = Annotated[int | None, typer.Option(help="Number of trials (grid: a cap).")]
ObjectiveOpt = Annotated[
    str, typer.Option(help="A metric name, or an expression over metrics (sharpe * 2).")
]
DirectionOpt = Annotated[str, typer.Option(help="maximize or minimize.")]
ConstraintOpt = Annotated[
    list[str] | None,
    typer.Option("--constraint", help="Expression over parameters, e.g. 'fast < slow'."),
]
SeedOpt = Annotated[int, typer.Option(help="Seed of random, bayes and genetic searches.")]
BatchOpt = Annotated[int | None, typer.Option(help="Trials asked per synchronous batch.")]
BundleOpt = Annotated[str, typer.Option(help="Bundle to run on.")]
HomeOpt = Annotated[
    Path | None, typer.Option("--home", help="RBT home directory.", show_default=False)
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


def _home(path: Path | None) -> Any:
    from rbt.data.home import RbtHome

    return RbtHome(path) if path is not None else RbtHome()


def _objective(text: str) -> Any:
    from rbt.plugins.metrics import METRICS
    from rbt.research.sweep import Expression

    return text if text in METRICS else Expression(text)


def _executor(name: str, workers: int | None, address: str | None) -> Any:
    from rbt.research.executors import make_executor

    return make_executor(name, workers=workers, address=address)


class _Progress:
    """A Rich progress bar with ETA on stderr."""

    def __init__(self, label: str, quiet: bool) -> None:
        self.label, self.quiet = label, quiet
        self.bar: Any = None
        self.task: Any = None

    def __enter__(self) -> _Progress:
        if not self.quiet:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self.bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=console(stderr=True),
                transient=False,
            )
            self.bar.start()
            self.task = self.bar.add_task(self.label, total=None)
        return self

    def __call__(self, done: int, total: int) -> None:
        if self.bar is not None:
            self.bar.update(self.task, completed=done, total=total or None)

    def __exit__(self, *exc: Any) -> None:
        if self.bar is not None:
            self.bar.stop()


def _search_kwargs(
    search: str,
    trials: int | None,
    seed: int,
    batch_size: int | None,
    constraint: list[str] | None,
    direction: str,
) -> dict[str, Any]:
    from rbt.research.sweep import Expression

    return {
        "search": search,
        "trials": trials,
        "seed": seed,
        "batch_size": batch_size,
        "constraints": [Expression(c) for c in constraint or []],
        "direction": direction,
    }


def optimize_cmd(
    strategy: StrategyArg,
    start: StartOpt,
    end: EndOpt,
    param_space: SpaceOpt,
    param: ParamOpt = None,
    search: SearchOpt = "grid",
    executor: ExecOpt = "local",
    workers: WorkersOpt = None,
    dask_address: AddressOpt = None,
    trials: TrialsOpt = None,
    objective: ObjectiveOpt = "sharpe",
    direction: DirectionOpt = "maximize",
    constraint: ConstraintOpt = None,
    seed: SeedOpt = 0,
    batch_size: BatchOpt = None,
    top: Annotated[int, typer.Option(help="Best trials to show.")] = 5,
    heatmap: Annotated[
        Path | None, typer.Option(help="Write an HTML heatmap of the first two parameters.")
    ] = None,
    bundle: BundleOpt = "demo",
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Search STRATEGY's parameters; checkpointed, so rerunning resumes."""
    from rbt.api.params import parse_param_assignments
    from rbt.research import optimize

    ex = _executor(executor, workers, dask_address)
    try:
        with _Progress("trials", as_json) as bar:
            res = optimize(
                strategy,
                param_space,
                start=start,
                end=end,
                bundle=bundle,
                home=_home(home),
                params=parse_param_assignments(param or []),
                objective=_objective(objective),
                executor=ex,
                progress=bar,
                **_search_kwargs(search, trials, seed, batch_size, constraint, direction),
            )
    finally:
        ex.close()
    payload = res.to_dict()
    if heatmap is not None:
        from rbt.research.report import write_heatmap

        payload["heatmap"] = str(write_heatmap(res, heatmap))
    payload["best"] = payload["best"][:top]
    payload["trials_per_second"] = res.ran / res.elapsed if res.elapsed and res.ran else None
    payload["failed_trials"] = [
        {"trial_id": t["trial_id"], "params": t["params"], "error": t["error"]} for t in res.failed
    ]
    if as_json:
        print_json(payload)
        return
    out = console()
    names = list(res.space.params)
    out.print(
        table(
            f"sweep {res.sweep_id}: best {top} by {res.objective}",
            ["trial", *names, "value", "sharpe", "total_return", "max_drawdown"],
            [
                [
                    t["trial_id"],
                    *(t["params"][n] for n in names),
                    f"{t['value']:.6g}",
                    *(
                        f"{t['metrics'].get(m, math.nan):.4g}"
                        for m in ("sharpe", "total_return", "max_drawdown")
                    ),
                ]
                for t in res.best(top)
            ],
        )
    )
    out.print(
        f"{len(res.trials)} trials ({res.ran} run, {res.resumed} from checkpoint, "
        f"{len(res.failed)} failed) on {res.executor} × {res.workers} in {res.elapsed:.1f} s"
    )


def walk_forward_cmd(
    strategy: StrategyArg,
    start: StartOpt,
    end: EndOpt,
    param_space: SpaceOpt,
    in_sample: Annotated[int, typer.Option(help="In-sample window, sessions.")] = 252,
    out_of_sample: Annotated[int, typer.Option(help="Out-of-sample window, sessions.")] = 63,
    anchored: Annotated[bool, typer.Option(help="Grow the in-sample window from start.")] = False,
    param: ParamOpt = None,
    search: SearchOpt = "grid",
    executor: ExecOpt = "local",
    workers: WorkersOpt = None,
    dask_address: AddressOpt = None,
    trials: TrialsOpt = None,
    objective: ObjectiveOpt = "sharpe",
    direction: DirectionOpt = "maximize",
    constraint: ConstraintOpt = None,
    seed: SeedOpt = 0,
    batch_size: BatchOpt = None,
    bundle: BundleOpt = "demo",
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Walk-forward analysis: optimize in-sample, run out-of-sample, roll on."""
    from rbt.api.params import parse_param_assignments
    from rbt.research.walkforward import walk_forward

    ex = _executor(executor, workers, dask_address)
    try:
        with _Progress("windows", as_json) as bar:
            wf = walk_forward(
                strategy,
                param_space,
                start=start,
                end=end,
                in_sample=in_sample,
                out_of_sample=out_of_sample,
                anchored=anchored,
                bundle=bundle,
                home=_home(home),
                params=parse_param_assignments(param or []),
                objective=_objective(objective),
                executor=ex,
                progress=bar,
                **_search_kwargs(search, trials, seed, batch_size, constraint, direction),
            )
    finally:
        ex.close()
    payload = wf.to_dict()
    if as_json:
        print_json(payload)
        return
    out = console()
    out.print(
        table(
            "walk-forward windows",
            ["window", "in-sample", "out-of-sample", "params", "IS value", "OOS value"],
            [
                [
                    w["window"],
                    f"{w['is_start']}..{w['is_end']}",
                    f"{w['oos_start']}..{w['oos_end']}",
                    w["params"],
                    f"{w['is_value']:.4g}",
                    f"{w['oos_value']:.4g}",
                ]
                for w in payload["windows"]
            ],
        )
    )
    out.print(
        f"efficiency {wf.efficiency:.3f} (OOS annual return {wf.oos_annual_return:.2%} / "
        f"IS {wf.is_annual_return:.2%}); OOS sharpe {wf.oos_sharpe:.3f}"
    )


def robustness_cmd(
    strategy: StrategyArg,
    start: StartOpt,
    end: EndOpt,
    param: ParamOpt = None,
    sweep: Annotated[
        str | None,
        typer.Option(help="Sweep id: its trials' Sharpe ratios deflate the Sharpe ratio."),
    ] = None,
    trials: Annotated[
        int | None, typer.Option(help="Trials tried (for the DSR without --sweep).")
    ] = None,
    pbo: Annotated[bool, typer.Option(help="With --sweep: PBO by CSCV (reruns trials).")] = False,
    samples: Annotated[int, typer.Option(help="Monte Carlo / bootstrap samples.")] = 1000,
    noise: Annotated[float, typer.Option(help="Price noise σ (0: skip).")] = 0.0,
    noise_runs: Annotated[int, typer.Option(help="Noisy reruns.")] = 5,
    seed: SeedOpt = 0,
    bundle: BundleOpt = "demo",
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Robustness of one run: Monte Carlo, bootstrap, noise, deflated Sharpe, PBO."""
    import numpy as np

    from rbt.analytics.trades import round_trips
    from rbt.api.params import parse_param_assignments
    from rbt.api.runner import run_backtest
    from rbt.kernel.errors import ConfigError
    from rbt.research import robustness as rb

    h = _home(home)
    params = parse_param_assignments(param or [])
    result = run_backtest(
        strategy, start=start, end=end, bundle=bundle, home=h, params=params, write=False
    )
    returns = result.perf["returns"].to_numpy()
    capital = float(result.manifest["capital_base"])
    periods = int(result.manifest.get("periods_per_year", 252))
    payload: dict[str, Any] = {"run_id": result.run_id, "metrics": dict(result.metrics)}
    pnls = [float(t.pnl) for t in round_trips(result.transactions)]
    payload["monte_carlo_trades"] = (
        rb.monte_carlo_trades(pnls, capital=capital, n=samples, seed=seed) if pnls else None
    )
    payload["bootstrap"] = rb.bootstrap_returns(returns, capital=capital, n=samples, seed=seed)
    trial_sharpes: list[float] = []
    if sweep:
        from rbt.research.store import SweepStore

        stored = SweepStore(h).trials(sweep)
        if not stored:
            raise ConfigError(f"no trials recorded for sweep {sweep!r}")
        ok = [t for t in stored.values() if t["status"] == "ok"]
        trial_sharpes = [
            t["metrics"]["sharpe"] / math.sqrt(periods)
            for t in ok
            if math.isfinite(t["metrics"].get("sharpe", math.nan))
        ]
        if pbo:
            from rbt.research.worker import run_trial

            cols = []
            for t in ok:
                out = run_trial(
                    {
                        "trial_id": t["trial_id"],
                        "strategy": str(strategy),
                        "home": str(h.root),
                        "bundle": bundle,
                        "start": start,
                        "end": end,
                        "params": {**params, **t["params"]},
                        "metrics": ["sharpe"],
                        "returns": True,
                    }
                )
                cols.append(out["returns"])
            matrix = np.column_stack(cols)
            splits = 16 if len(matrix) >= 160 else 8 if len(matrix) >= 16 else 2
            res = rb.pbo_cscv(matrix, n_splits=splits)
            payload["pbo"] = {k: v for k, v in res.items() if k != "logits"}
    if trial_sharpes:
        payload["deflated_sharpe"] = rb.deflated_sharpe_from_returns(returns, trial_sharpes)
    elif trials:
        r = returns
        sr = float(r.mean() / r.std(ddof=1))
        # without the trials' own Sharpe ratios: their variance as that of an unskilled SR
        var = 1.0 / (len(r) - 1)
        payload["deflated_sharpe"] = rb.deflated_sharpe_ratio(sr, trials, var, len(r))
    if noise > 0:
        payload["noise"] = rb.noise_injection(
            strategy,
            start=start,
            end=end,
            sigma=noise,
            n=noise_runs,
            seed=seed,
            bundle=bundle,
            home=h,
            params=params,
        )
    if as_json:
        print_json(payload)
        return
    out = console()
    rows = []
    for key in ("monte_carlo_trades", "bootstrap"):
        block = payload.get(key)
        if block:
            for what in ("final_equity", "max_drawdown"):
                b = block[what]
                rows.append([key, what, f"{b['p5']:.6g}", f"{b['p50']:.6g}", f"{b['p95']:.6g}"])
    out.print(table(f"robustness of run {result.run_id}", ["test", "of", "p5", "p50", "p95"], rows))
    if "deflated_sharpe" in payload:
        d = payload["deflated_sharpe"]
        out.print(
            f"deflated Sharpe ratio {d['dsr']:.4f} (SR {d['sharpe']:.4f}/period, "
            f"SR0 {d['sr0']:.4f})"
        )
    if "pbo" in payload:
        out.print(f"probability of backtest overfitting {payload['pbo']['pbo']:.3f}")
    if "noise" in payload:
        n = payload["noise"]
        out.print(
            f"noise σ={noise}: {n['metric']} p5 {n['bands']['p5']:.4g} "
            f"p50 {n['bands']['p50']:.4g} p95 {n['bands']['p95']:.4g} "
            f"(observed {n['observed']:.4g})"
        )


def register(app: typer.Typer) -> None:
    """Add ``optimize``, ``walk-forward`` and ``robustness`` to the main app."""
    app.command("optimize")(optimize_cmd)
    app.command("walk-forward")(walk_forward_cmd)
    app.command("robustness")(robustness_cmd)
