"""Parameter sweeps: ask a search for batches, run them on an executor, checkpoint each trial.

    from rbt.research import optimize
    result = optimize(
        "examples/dual_moving_average.py", {"fast": "int:5:30", "slow": "int:40:120:10"},
        start="2018-06-01", end="2019-12-31", search="random", trials=200, executor="pool",
        objective="sharpe", constraints=[lambda p: p["fast"] < p["slow"]],
    )
    result.table            # Polars: one row per trial
    result.best(5)

A sweep's id hashes its whole configuration; a trial's id hashes the sweep id and its
parameters. Running the same sweep again resumes it: finished trials are read back
from the database, never run twice.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from rbt.data.home import RbtHome
from rbt.kernel.errors import ConfigError
from rbt.research.space import Space, parse_space

__all__ = ["Expression", "SweepResult", "optimize", "trial_id"]

DEFAULT_METRICS = ("sharpe", "total_return", "annual_return", "max_drawdown", "sortino", "trades")


def _hash(payload: Any) -> str:
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _shared_data_id(shared: Mapping[str, Any]) -> str:
    """The id of the bars in ``shared``: its ``bundle_hash``, else a hash of their content.

    Never a ``repr``: an object's default repr holds its address, which would give the same
    sweep another id in every process (and a rerun would never resume). ``""`` when
    ``shared`` has no bars (the workers read the bundle).
    """
    from rbt.data.bars import BarArrays, content_digest

    if shared.get("bundle_hash"):
        return str(shared["bundle_hash"])
    bars = shared.get("bars")
    if isinstance(bars, BarArrays):
        return content_digest(bars)[:16]
    if bars is None:
        return ""
    raise ConfigError(
        f"shared['bars']: expected BarArrays, got {type(bars).__name__}; "
        "or give shared['bundle_hash'] naming the data"
    )


def trial_id(sweep_id: str, params: Mapping[str, Any]) -> str:
    """The id of a trial: a hash of its sweep's id and its parameters."""
    return _hash({"sweep": sweep_id, "params": dict(params)})


def _callable_id(fn: Callable[..., Any]) -> str:
    """A stable id of a function (its code), or its ``rbt_id`` when it has one."""
    given = getattr(fn, "rbt_id", None)
    if isinstance(given, str):
        return given
    from rbt.api.runner import code_bytes

    digest = hashlib.sha256(code_bytes(fn)).hexdigest()[:12]
    return f"{getattr(fn, '__qualname__', repr(fn))}:{digest}"


class Expression:
    """A constraint or objective written as a Python expression over names, e.g.
    ``"fast < slow"`` (parameters) or ``"total_return / -max_drawdown"`` (metrics)."""

    def __init__(self, text: str) -> None:
        self.text = text
        try:
            self._code = compile(text, "<expression>", "eval")
        except SyntaxError as exc:
            raise ConfigError(f"expression {self.text!r}: {exc.msg}") from None

    @property
    def names(self) -> tuple[str, ...]:
        """The names the expression reads."""
        return tuple(n for n in self._code.co_names if n not in ("abs", "min", "max"))

    @property
    def rbt_id(self) -> str:
        return f"expr:{self.text}"

    def __call__(self, names: Mapping[str, Any]) -> Any:
        return eval(self._code, {"__builtins__": {"abs": abs, "min": min, "max": max}}, dict(names))


@attrs.frozen
class SweepResult:
    """The trials of a sweep (one row each, in request order) and its best ones."""

    sweep_id: str
    objective: str
    direction: str
    trials: list[dict[str, Any]]
    space: Space
    resumed: int = 0  # trials read back from a checkpoint, not run
    ran: int = 0  # trials run by this call
    elapsed: float = 0.0
    executor: str = ""
    workers: int = 1

    @property
    def table(self) -> Any:
        """A Polars frame: trial_id, number, status, value, each parameter, each metric, error."""
        import polars as pl

        names = list(self.space.params)
        metric_names = sorted({m for t in self.trials for m in t["metrics"]})
        rows = []
        for t in self.trials:
            row = {
                "trial_id": t["trial_id"],
                "number": t["number"],
                "status": t["status"],
                "value": t["value"],
            }
            for n in names:
                row[n] = t["params"].get(n)
            for m in metric_names:
                row[m] = t["metrics"].get(m)
            row["error"] = t.get("error")
            rows.append(row)
        schema_overrides = {
            "value": pl.Float64,
            "error": pl.Utf8,
            **dict.fromkeys(metric_names, pl.Float64),
        }
        return pl.DataFrame(rows, schema_overrides=schema_overrides, infer_schema_length=None)

    def best(self, n: int = 1) -> list[dict[str, Any]]:
        """The ``n`` best finished trials by the objective (ties: earlier trial first)."""
        sign = 1.0 if self.direction == "maximize" else -1.0
        ok = [
            t
            for t in self.trials
            if t["status"] == "ok" and t["value"] is not None and math.isfinite(t["value"])
        ]
        return sorted(ok, key=lambda t: (-sign * t["value"], t["number"]))[:n]

    @property
    def best_params(self) -> dict[str, Any]:
        best = self.best(1)
        if not best:
            raise ConfigError(f"sweep {self.sweep_id}: no trial finished")
        return dict(best[0]["params"])

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [t for t in self.trials if t["status"] != "ok"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "sweep_id": self.sweep_id,
            "objective": self.objective,
            "direction": self.direction,
            "trials": len(self.trials),
            "failed": len(self.failed),
            "resumed": self.resumed,
            "ran": self.ran,
            "elapsed": self.elapsed,
            "executor": self.executor,
            "workers": self.workers,
            "best": [
                {k: t[k] for k in ("trial_id", "number", "params", "value", "metrics")}
                for t in self.best(5)
            ],
        }


def _strategy_ref(strategy: Any) -> tuple[str, str]:
    """A picklable reference (a file path) and its content hash."""
    if isinstance(strategy, str | Path) and Path(strategy).is_file():
        path = str(Path(strategy).resolve())
        return path, hashlib.sha256(Path(path).read_bytes()).hexdigest()
    raise ConfigError(f"strategy: expected a strategy file path, got {strategy!r}")


def _score(value: float | None, direction: str) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return value if direction == "maximize" else -value


def optimize(
    strategy: Any,
    space: Mapping[str, Any] | Sequence[str] | Space,
    *,
    start: Any,
    end: Any,
    search: Any = "grid",
    trials: int | None = None,
    objective: str | Callable[[Mapping[str, float]], float] = "sharpe",
    direction: str = "maximize",
    constraints: Sequence[Callable[[dict[str, Any]], bool]] = (),
    executor: Any = "local",
    workers: int | None = None,
    seed: int = 0,
    batch_size: int | None = None,
    bundle: str = "demo",
    home: RbtHome | str | Path | None = None,
    params: Mapping[str, Any] | None = None,
    metrics: Sequence[str] | None = None,
    backtest: Mapping[str, Any] | None = None,
    shared: Mapping[str, Any] | None = None,
    early_stopping: int | None = None,
    checkpoint: bool = True,
    progress: Callable[[int, int], None] | None = None,
    grid_points: int = 5,
    tag: str = "",
) -> SweepResult:
    """Search ``space`` for the parameters of ``strategy`` that optimize ``objective``.

    :param strategy: a strategy file path (workers load it by path).
    :param space: ``{"fast": "int:5:30", ...}``, ``["fast=int:5:30"]``, or a :class:`Space`;
        validated before any trial runs (:class:`ConfigError` names the bad parameter).
    :param search: ``grid``, ``random``, ``bayes``, ``genetic`` (OPTIMIZER providers) or an object.
    :param objective: a metric name or ``f(metrics) -> float``.
    :param constraints: ``f(params) -> bool``; infeasible parameters are never run.
    :param executor: ``local``, ``pool``, ``dask`` (EXECUTOR providers) or an executor object.
    :param params: fixed strategy parameters, merged under each trial's.
    :param shared: objects sent once to each worker; ``{"bars": BarArrays, "bundle_hash": ...}``
        runs on those bars instead of the bundle.
    :param early_stopping: stop after this many trials without a better objective.
    :param checkpoint: record each finished trial in the home's database and resume from it.
    :param progress: ``f(done, total)`` after each trial.
    """
    from rbt.research.optimizers import make_optimizer

    space = parse_space(space)
    if direction not in ("maximize", "minimize"):
        raise ConfigError(f"direction must be 'maximize' or 'minimize', got {direction!r}")
    if trials is not None and trials < 1:
        raise ConfigError(f"trials must be positive, got {trials}")
    ref, strategy_hash = _strategy_ref(strategy)
    _check_params_declared(ref, space, params or {})
    home = home if isinstance(home, RbtHome) else RbtHome(home) if home is not None else RbtHome()
    metric_names = list(metrics or DEFAULT_METRICS)
    if isinstance(objective, str):
        if objective not in metric_names:
            metric_names.append(objective)
        objective_name = objective
    elif callable(objective):
        objective_name = _callable_id(objective)
        for name in getattr(objective, "names", ()):  # an Expression's metrics
            if name not in metric_names:
                metric_names.append(name)
    else:
        raise ConfigError(f"objective: expected a metric name or a function, got {objective!r}")
    search_name = (
        search if isinstance(search, str) else getattr(search, "name", type(search).__name__)
    )
    batch = batch_size or {"bayes": 8, "genetic": 16}.get(search_name, 64)
    data_id = _shared_data_id(shared or {})
    if not data_id:  # the workers read the bundle
        from rbt.data.bundles import bundle_hash

        data_id = bundle_hash(home, bundle)
    config = {
        "strategy": strategy_hash,
        "space": space.describe(),
        "search": search_name,
        "trials": trials,
        "seed": seed,
        "batch": batch,
        "objective": objective_name,
        "direction": direction,
        "start": str(start),
        "end": str(end),
        "bundle": bundle,
        "data": data_id,
        "params": dict(params or {}),
        "metrics": metric_names,
        "backtest": dict(backtest or {}),
        "constraints": [_callable_id(c) for c in constraints],
        "grid_points": grid_points,
        "tag": tag,
    }
    sweep_id = _hash(config)
    optimizer = make_optimizer(
        search,
        space,
        trials=trials,
        batch_size=batch,
        seed=seed,
        constraints=list(constraints),
        grid_points=grid_points,
    )
    store = None
    done: dict[str, dict[str, Any]] = {}
    if checkpoint:
        from rbt.research.store import SweepStore

        store = SweepStore(home)
        store.open_sweep(
            sweep_id, strategy=ref, search=search_name, objective=objective_name, config=config
        )
        from rbt.research.executors import WORKER_DIED

        # a trial whose worker kept dying is run again on resume (a strategy error is not)
        done = {
            k: v
            for k, v in store.trials(sweep_id).items()
            if not (v["status"] == "failed" and (v["error"] or "").startswith(WORKER_DIED))
        }
    own_executor = isinstance(executor, str)
    from rbt.research.executors import make_executor
    from rbt.research.worker import run_trial

    execu = make_executor(executor, workers=workers)
    shared_obj = dict(shared) if shared else None  # one object: sent to each worker once
    total = trials or (getattr(optimizer, "_points", None) and len(optimizer._points)) or 0
    results: dict[str, dict[str, Any]] = {}
    order: list[str] = []
    number = 0
    resumed = ran = 0
    best_score = -math.inf
    since_best = 0
    t0 = time.perf_counter()

    def value_of(metrics_: Mapping[str, float]) -> float | None:
        try:
            v = metrics_[objective] if isinstance(objective, str) else objective(metrics_)
        except Exception:
            return None
        return None if v is None else float(v)

    try:
        while True:
            asked = optimizer.ask()
            if not asked:
                break
            ids = []
            todo: list[dict[str, Any]] = []
            for p in asked:
                merged = {k: p[k] for k in space.params}
                tid = trial_id(sweep_id, merged)
                ids.append(tid)
                if tid in results or any(t["trial_id"] == tid for t in todo):
                    continue
                if tid in done:
                    rec = done[tid]
                    rec["number"] = number
                    results[tid] = rec
                    order.append(tid)
                    number += 1
                    resumed += 1
                    continue
                todo.append(
                    {
                        "trial_id": tid,
                        "number": number,
                        "strategy": ref,
                        "home": str(home.root),
                        "bundle": bundle,
                        "start": str(start),
                        "end": str(end),
                        "params": {**dict(params or {}), **merged},
                        "metrics": metric_names,
                        "backtest": dict(backtest or {}),
                        "space_params": merged,
                    }
                )
                order.append(tid)
                number += 1
            for i, out in execu.map(run_trial, todo, shared_obj):
                task = todo[i]
                rec = {
                    "trial_id": task["trial_id"],
                    "number": task["number"],
                    "params": task["space_params"],
                    "status": out["status"],
                    "metrics": out.get("metrics", {}),
                    "run_id": out.get("run_id"),
                    "error": out.get("error"),
                    "duration": out.get("duration", 0.0),
                    "attempts": 1,
                    "worker": out.get("worker"),
                    "bundle_loads": out.get("bundle_loads"),
                }
                rec["value"] = value_of(rec["metrics"]) if rec["status"] == "ok" else None
                if rec["status"] == "ok" and rec["value"] is None:
                    rec["error"] = "objective is not a finite number"
                results[rec["trial_id"]] = rec
                ran += 1
                if store is not None:
                    store.add_trials(sweep_id, [rec])
                if progress is not None:
                    progress(len(results), max(total, len(results)))
            scores = [_score(results[t]["value"], direction) for t in ids]
            optimizer.tell(asked, scores)
            if early_stopping:
                for s in scores:
                    if s is not None and s > best_score:
                        best_score, since_best = s, 0
                    else:
                        since_best += 1
                if since_best >= early_stopping:
                    break
        if store is not None:
            store.finish_sweep(sweep_id)
    finally:
        if own_executor:
            execu.close()
    trials_out = [results[t] for t in order]
    for i, t in enumerate(trials_out):
        t["number"] = i
    return SweepResult(
        sweep_id=sweep_id,
        objective=objective_name,
        direction=direction,
        trials=trials_out,
        space=space,
        resumed=resumed,
        ran=ran,
        elapsed=time.perf_counter() - t0,
        executor=getattr(execu, "name", type(execu).__name__),
        workers=getattr(execu, "workers", 1),
    )


def _check_params_declared(ref: str, space: Space, fixed: Mapping[str, Any]) -> None:
    """Every searched parameter must be one the strategy declares in ``PARAMS``."""
    from rbt.api.loader import load_strategy

    declared = dict(load_strategy(ref).strategy.PARAMS or {})
    for name in [*space.params, *fixed]:
        if name not in declared:
            raise ConfigError(
                f"parameter {name!r}: not declared in the strategy's PARAMS "
                f"({', '.join(sorted(declared)) or 'none'})"
            )
