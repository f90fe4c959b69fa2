"""How fast the history idiom could get if the orders cost nothing: an estimate.

Runs ``benchmarks/dual_ma.py`` on a bench bundle three ways, through the same
``rbt.api.run_backtest`` call ``run.py`` times, warm and in one process (CPU seconds,
median of ``--runs`` after one untimed run):

* **as written** — the benchmark itself;
* **orders free** — the very same ``handle_data`` bytecode, with ``order`` and
  ``order_target`` bound to a function that does nothing: the same history window, sums,
  portfolio reads and loops, but no order, fill or position ever;
* **empty** — ``handle_data`` that does nothing: bundle, clock, broker, result frames.

``N·D / (orders-free seconds)`` estimates the most the engine can reach on a scenario
without making something other than the orders cheaper. It is not a strict bound, and errs
both ways. With no position ever held, every long asset is sized and "ordered" at every bar
(M: ≈ 128 k no-op calls instead of 6.8 k orders; L: ≈ 637 k instead of 34 k), which adds
user work. The portfolio reads take their flat path, which is cheaper than with positions
held. On M the two roughly cancel; on L the first weighs more, so L's figure is low by
≈ 15 %::

    uv run python benchmarks/engine_bounds.py M L MIN
    uv run python benchmarks/engine_bounds.py M --runs 7

The bundles are the ones ``benchmarks/run.py`` ingests (``bench_m`` ... under
``$RBT_BENCH_HOME``, the data generated if missing); run that first.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rbt.api import run_backtest
from rbt.api.algorithm import FunctionStrategy
from rbt.plugins import plugin_manager

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from run import ensure_data, run_kwargs  # noqa: E402  (benchmarks/run.py, next to this file)


def _nothing(*args: Any, **kwargs: Any) -> None:
    return None


def _variants() -> dict[str, Callable[[], FunctionStrategy]]:
    """Fresh strategies per run (a strategy object holds its run's state)."""
    spec = importlib.util.spec_from_file_location("dual_ma", HERE / "dual_ma.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    initialize, handle_data, params = module.initialize, module.handle_data, module.PARAMS
    # the same code object, its globals with the two order functions replaced
    free_globals = {**vars(module), "order": _nothing, "order_target": _nothing}
    orders_free = types.FunctionType(handle_data.__code__, free_globals, "handle_data")

    def make(handle: Callable[[Any, Any], None]) -> Callable[[], FunctionStrategy]:
        return lambda: FunctionStrategy(initialize, handle, params=params)

    return {
        "as written": make(handle_data),
        "orders free": make(orders_free),
        "empty": make(_nothing),
    }


def measure(scenario: str, meta: dict[str, Any], runs: int) -> dict[str, float]:
    """Median CPU seconds of each variant on ``scenario`` (``meta``: its meta.json), one
    untimed run first."""
    kwargs = run_kwargs(scenario, meta, plugin_manager())
    medians = {}
    for name, make in _variants().items():
        run_backtest(make(), **kwargs)
        seconds = []
        for _ in range(runs):
            start = time.process_time()
            run_backtest(make(), **kwargs)
            seconds.append(time.process_time() - start)
        medians[name] = statistics.median(seconds)
    return medians


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenarios", nargs="+", choices=["S", "M", "L", "MIN"])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    for scenario in args.scenarios:
        meta = ensure_data(scenario)
        got = measure(scenario, meta, args.runs)
        line = ", ".join(f"{name} {s:.3f} CPU s" for name, s in got.items())
        rate = meta["asset_bars"] / got["orders free"]
        print(f"{scenario}: {line} -> orders free: ≈ {rate / 1e3:,.1f} k asset-bars/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
