"""Strategies the canonical benchmark never saw, timed on a bench bundle.

Issue #5 is also checked "on a strategy and universe the project has not seen": these
three Zipline-style strategies (``benchmarks/idioms/``) use what the canonical one does
not — ``data.current`` and ``data.can_trade`` over a universe, pandas ``data.history``,
``order_target_percent``, ``schedule_function``, a pipeline, ``record``, reading every
position — so a slow path there shows up here. No reference answer exists for them: the
run prints each one's fills and final value, which must not change with a speed-up::

    uv run python benchmarks/idioms.py            # scenario M, 3 timed runs each
    uv run python benchmarks/idioms.py L --runs 1

Bundles as ``benchmarks/run.py`` ingests them (``bench_<sc>`` under ``$RBT_BENCH_HOME``;
run ``benchmarks/run.py <SC>`` once first). Timing: one warm-up run, then the median CPU
seconds of ``rbt.api.run_backtest`` in this process (imports and plugin discovery done).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import rbt.api
from rbt.plugins import plugin_manager

HERE = Path(__file__).resolve().parent
BENCH_HOME = Path(os.environ.get("RBT_BENCH_HOME") or "~/.cache/rbt-bench").expanduser()
IDIOMS = ("rotation_current", "pipeline_momentum", "rebalance_checks")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", nargs="?", default="M", help="S, M or L (daily)")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    sc = args.scenario.upper()
    meta = json.loads((BENCH_HOME / "data" / sc / "meta.json").read_text())
    kwargs = {
        "start": meta["first"][:10],
        "end": meta["last"][:10],
        "capital_base": 1_000_000,
        "bundle": f"bench_{sc.lower()}",
        "home": BENCH_HOME,
        "params": {"n_assets": meta["n_assets"], "prefix": meta["symbols"][0].rstrip("0123456789")},
        "write": False,
        "manager": plugin_manager(),
    }
    print(f"scenario {sc}: {meta['n_assets']} assets, median of {args.runs} CPU-timed runs")
    for name in IDIOMS:
        strategy = str(HERE / "idioms" / f"{name}.py")
        result = rbt.api.run_backtest(strategy, **kwargs)  # warm-up: caches, lazy imports
        seconds = []
        for _ in range(args.runs):
            start = time.process_time()
            result = rbt.api.run_backtest(strategy, **kwargs)
            seconds.append(time.process_time() - start)
        cpu = statistics.median(seconds)
        rate = meta["asset_bars"] / cpu / 1e3
        final = result.perf["portfolio_value"][-1]
        print(
            f"{name:18s} {cpu:7.3f} CPU s  {rate:8.1f} k asset-bars/CPU-s  "
            f"fills {len(result.transactions):6d}  final value {final}"
        )


if __name__ == "__main__":
    main()
