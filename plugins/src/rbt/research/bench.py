"""Scaling of sweeps: trials per second against workers, per executor.

    python -m rbt.research.bench [--trials 200] [--workers 1,2]

A grid of the example dual moving-average strategy on the demo bundle (5 symbols,
2018-06-01..2018-12-31) in a temporary home. Each executor is warmed up first (worker
processes started, bundle loaded) so the timing is the steady state; checkpointing is
on, as in normal use. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[4] / "examples" / "dual_moving_average.py"


def main() -> None:
    from rbt.data.home import RbtHome
    from rbt.data.ingest import ingest
    from rbt.research import optimize
    from rbt.research.executors import DaskExecutor, InProcessExecutor, PoolExecutor

    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=2, help="best of N timed sweeps")
    ap.add_argument(
        "--workers", default=",".join(str(i) for i in range(1, (os.cpu_count() or 1) + 1))
    )
    args = ap.parse_args()
    home = RbtHome(tempfile.mkdtemp(prefix="rbt-bench-"))
    ingest(home, "demo", "demo", {"symbols": 5, "start": "2018-01-02", "end": "2019-12-31"})
    fast_hi = 1 + args.trials // 10
    space = {"fast": f"int:2:{fast_hi}", "slow": "int:30:120:10"}
    common = {
        "start": "2018-06-01",
        "end": "2018-12-31",
        "home": home,
        "params": {"universe": "AAA,BBB,CCC,DDD,EEE"},
    }
    rows = []

    def measure(label: str, ex: object, workers: int, tag: str) -> None:
        optimize(
            EXAMPLE,
            {"fast": "int:2:5", "slow": "int:30:30"},
            executor=ex,
            checkpoint=False,
            **common,
        )  # warm-up: workers started, bundle loaded
        best = None
        for k in range(args.repeat):
            t0 = time.perf_counter()
            res = optimize(EXAMPLE, space, executor=ex, tag=f"{tag}-{k}", **common)
            dt = time.perf_counter() - t0
            trial_s = sum(t["duration"] for t in res.trials) / len(res.trials)
            if best is None or dt < best[3]:
                best = (label, workers, res.ran, dt, res.ran / dt, trial_s)
        rows.append(best)
        print(
            f"{label:8} {workers} workers: {best[2]} trials in {best[3]:.2f} s "
            f"= {best[4]:.1f}/s (load {os.getloadavg()[0]:.2f})",
            flush=True,
        )

    measure("local", InProcessExecutor(), 1, "local")
    for w in [int(x) for x in args.workers.split(",")]:
        pool = PoolExecutor(workers=w)
        measure("pool", pool, w, f"pool{w}")
        pool.close()
    for w in [int(x) for x in args.workers.split(",")]:
        dask = DaskExecutor(workers=w)
        measure("dask", dask, w, f"dask{w}")
        dask.close()
    base = rows[0][4]
    print(
        "\n| executor | workers | trials | seconds | trials/s | speed-up | efficiency "
        "| mean trial s |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for label, w, n, dt, rate, trial_s in rows:
        print(
            f"| {label} | {w} | {n} | {dt:.2f} | {rate:.1f} | {rate / base:.2f}× "
            f"| {rate / base / w:.0%} | {trial_s:.3f} |"
        )


if __name__ == "__main__":
    main()
