"""Walk-forward analysis: optimize in-sample, evaluate out-of-sample, roll on.

Windows are counted in sessions of the bundle's calendar. ``anchored=False`` rolls
both ends forward by the out-of-sample length; ``anchored=True`` keeps the first
in-sample session and grows the in-sample window. The out-of-sample returns are
stitched into one equity curve; the walk-forward efficiency (Pardo) is the annualized
out-of-sample return over the mean annualized in-sample return of the chosen
parameters.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from rbt.data.home import RbtHome
from rbt.kernel.errors import ConfigError

__all__ = ["WalkForwardResult", "walk_forward", "windows"]


def windows(
    sessions: Sequence[dt.date], in_sample: int, out_of_sample: int, *, anchored: bool = False
) -> list[tuple[dt.date, dt.date, dt.date, dt.date]]:
    """``(is_start, is_end, oos_start, oos_end)`` for each window (last one may be short)."""
    if in_sample < 2 or out_of_sample < 1:
        raise ConfigError("in_sample must be >= 2 sessions and out_of_sample >= 1")
    if len(sessions) < in_sample + out_of_sample:
        raise ConfigError(
            f"{len(sessions)} sessions are fewer than one window "
            f"({in_sample} in-sample + {out_of_sample} out-of-sample)"
        )
    out = []
    oos_start = in_sample
    while oos_start < len(sessions):
        is_lo = 0 if anchored else oos_start - in_sample
        oos_hi = min(len(sessions), oos_start + out_of_sample) - 1
        out.append(
            (sessions[is_lo], sessions[oos_start - 1], sessions[oos_start], sessions[oos_hi])
        )
        oos_start += out_of_sample
    return out


@attrs.frozen
class WalkForwardResult:
    windows: list[dict[str, Any]]
    oos: Any  # Polars: session, returns, equity, window
    efficiency: float
    oos_annual_return: float
    is_annual_return: float
    oos_sharpe: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "windows": [
                {k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in w.items()}
                for w in self.windows
            ],
            "efficiency": self.efficiency,
            "oos_annual_return": self.oos_annual_return,
            "is_annual_return": self.is_annual_return,
            "oos_sharpe": self.oos_sharpe,
            "oos_final_equity": float(self.oos["equity"][-1]) if len(self.oos) else None,
        }


def _annual(returns: np.ndarray, periods: int = 252) -> float:
    if not len(returns):
        return float("nan")
    growth = float(np.prod(1.0 + returns))
    return growth ** (periods / len(returns)) - 1.0 if growth > 0 else -1.0


def walk_forward(
    strategy: Any,
    space: Any,
    *,
    start: Any,
    end: Any,
    in_sample: int,
    out_of_sample: int,
    anchored: bool = False,
    bundle: str = "demo",
    home: RbtHome | str | Path | None = None,
    params: Mapping[str, Any] | None = None,
    objective: Any = "sharpe",
    capital: float = 1.0,
    executor: Any = "local",
    progress: Any = None,
    **search: Any,
) -> WalkForwardResult:
    """Optimize on each in-sample window (:func:`~rbt.research.optimize`, ``**search``
    passed on), run the winner out-of-sample, stitch the out-of-sample returns."""
    import polars as pl

    from rbt.plugins.calendars import get_calendar
    from rbt.research.executors import make_executor
    from rbt.research.sweep import DEFAULT_METRICS, _strategy_ref, optimize
    from rbt.research.worker import _bars, run_trial

    home = home if isinstance(home, RbtHome) else RbtHome(home) if home is not None else RbtHome()
    shared = search.get("shared")
    bars = shared["bars"] if shared else _bars(str(home.root), bundle)[0]
    cal = get_calendar(bars.calendar)
    s0 = dt.date.fromisoformat(str(start))
    s1 = dt.date.fromisoformat(str(end))
    sessions = list(cal.sessions(s0, s1))
    wins = windows(sessions, in_sample, out_of_sample, anchored=anchored)
    ref, _ = _strategy_ref(strategy)
    own = isinstance(executor, str)
    execu = make_executor(executor, workers=search.pop("workers", None))
    metric_names = list(search.get("metrics") or DEFAULT_METRICS)
    try:
        rows, pieces = [], []
        for k, (a, b, c, d) in enumerate(wins):
            sweep = optimize(
                ref,
                space,
                start=a,
                end=b,
                bundle=bundle,
                home=home,
                params=params,
                objective=objective,
                executor=execu,
                tag=f"wf:{k}",
                **search,
            )
            best = sweep.best(1)
            if not best:
                raise ConfigError(f"window {k}: every in-sample trial failed")
            chosen = best[0]
            task = {
                "trial_id": f"oos-{sweep.sweep_id}",
                "strategy": ref,
                "home": str(home.root),
                "bundle": bundle,
                "start": c.isoformat(),
                "end": d.isoformat(),
                "params": {**dict(params or {}), **chosen["params"]},
                "metrics": metric_names,
                "returns": True,
                "backtest": dict(search.get("backtest") or {}),
            }
            out = run_trial(task, dict(shared) if shared else None)
            if out["status"] != "ok":
                raise ConfigError(f"window {k}: out-of-sample run failed:\n{out['error']}")
            r = np.asarray(out["returns"], dtype=float)
            pieces.append(
                pl.DataFrame(
                    {
                        "session": [dt.date.fromisoformat(x) for x in out["sessions"]],
                        "returns": r,
                        "window": [k] * len(r),
                    }
                )
            )
            oos_value = (
                out["metrics"].get(objective)
                if isinstance(objective, str)
                else float(objective(out["metrics"]))
            )
            is_ann = chosen["metrics"].get("annual_return", float("nan"))
            oos_ann = out["metrics"].get("annual_return", float("nan"))
            rows.append(
                {
                    "window": k,
                    "is_start": a,
                    "is_end": b,
                    "oos_start": c,
                    "oos_end": d,
                    "params": chosen["params"],
                    "is_value": chosen["value"],
                    "oos_value": oos_value,
                    "is_annual_return": is_ann,
                    "oos_annual_return": oos_ann,
                    "efficiency": oos_ann / is_ann
                    if is_ann and math.isfinite(is_ann)
                    else float("nan"),
                    "sweep_id": sweep.sweep_id,
                    "trials": len(sweep.trials),
                }
            )
            if progress is not None:
                progress(k + 1, len(wins))
    finally:
        if own:
            execu.close()
    oos = pl.concat(pieces)
    returns = oos["returns"].to_numpy()
    oos = oos.with_columns(equity=pl.Series(capital * np.cumprod(1.0 + returns)))
    periods = 365 if bars.calendar == "ALWAYS_OPEN" else 252
    oos_ann = _annual(returns, periods)
    is_ann = float(np.mean([w["is_annual_return"] for w in rows]))
    sd = float(np.std(returns, ddof=1)) if len(returns) > 1 else 0.0
    sharpe = float(np.mean(returns) / sd * math.sqrt(periods)) if sd > 0 else float("nan")
    return WalkForwardResult(
        windows=rows,
        oos=oos,
        efficiency=oos_ann / is_ann if is_ann else float("nan"),
        oos_annual_return=oos_ann,
        is_annual_return=is_ann,
        oos_sharpe=sharpe,
    )
