"""The trial worker: top-level functions, importable in a spawned process or a Dask worker.

A worker process loads each bundle once (by home and name) and keeps it for every
later trial it runs: bars are never shipped per task. In-memory bars given as the
``shared`` object are sent once per worker (a pool initializer, or a Dask scatter).
"""

from __future__ import annotations

import os
import time
import traceback
from typing import Any

__all__ = ["run_trial"]

_BARS: dict[tuple[str, str], tuple[Any, str]] = {}
_SHARED: dict[str, Any] = {}
_LOADS: list[tuple[str, str]] = []  # bundles loaded by this process (once each)


def init_worker(shared: Any) -> None:
    """Pool initializer: keep the shared objects for every task of this process."""
    _SHARED["value"] = shared


def _bars(home: str, bundle: str) -> tuple[Any, str]:
    key = (home, bundle)
    if key not in _BARS:
        from rbt.data.bundles import bundle_hash, load_bundle
        from rbt.data.home import RbtHome

        h = RbtHome(home)
        _BARS[key] = (load_bundle(h, bundle), bundle_hash(h, bundle))
        _LOADS.append(key)
    return _BARS[key]


def run_trial(task: dict[str, Any], shared: Any = None) -> dict[str, Any]:
    """Run one backtest; never raises for a strategy error (the trial is ``failed``)."""
    t0 = time.perf_counter()
    if shared is None:
        shared = _SHARED.get("value")
    out: dict[str, Any] = {"trial_id": task["trial_id"]}
    try:
        from rbt.api.runner import run_backtest

        bars = (shared or {}).get("bars") if isinstance(shared, dict) else None
        bundle_hash = (shared or {}).get("bundle_hash", "") if isinstance(shared, dict) else ""
        if bars is None:
            bars, bundle_hash = _bars(task["home"], task["bundle"])
        result = run_backtest(
            task["strategy"],
            start=task["start"],
            end=task["end"],
            bundle=task["bundle"],
            bars=bars,
            bundle_hash=bundle_hash,
            home=task["home"],
            params=task["params"],
            write=False,
            metrics=task["metrics"],
            **task.get("backtest", {}),
        )
        out.update(
            status="ok",
            metrics={k: float(v) for k, v in result.metrics.items()},
            run_id=result.run_id,
            error=None,
        )
        if task.get("returns"):
            out["returns"] = result.perf["returns"].to_numpy()
            out["sessions"] = [d.isoformat() for d in result.perf["session"].to_list()]
    except Exception:
        out.update(status="failed", metrics={}, run_id=None, error=traceback.format_exc())
    out["duration"] = time.perf_counter() - t0
    out["worker"] = os.getpid()
    out["bundle_loads"] = len(_LOADS)
    return out
