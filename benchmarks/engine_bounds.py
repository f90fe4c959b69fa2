"""How fast the history idiom could get if the orders cost nothing: an upper bound.

Runs ``benchmarks/dual_ma.py`` on a bench bundle three ways, through the same
``rbt.api.run_backtest`` call ``run.py`` times, warm and in one process (CPU seconds,
median of ``--runs`` after one untimed run):

* **as written** — the benchmark itself;
* **orders free** — the very same ``handle_data`` bytecode, with ``order`` and
  ``order_target`` bound to a function that does nothing: the same history window, sums,
  portfolio reads and loops, but no order, fill or position ever (so the portfolio reads
  take their flat path, and every long asset is sized at every bar);
* **empty** — ``handle_data`` that does nothing: bundle, clock, broker, result frames.

``N·D / (orders-free seconds)`` is then the most the engine can reach on that scenario
without making something other than the orders cheaper::

    uv run python benchmarks/engine_bounds.py M MIN
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


def measure(scenario: str, runs: int) -> dict[str, float]:
    """Median CPU seconds of each variant on ``scenario`` (one untimed run first)."""
    kwargs = run_kwargs(scenario, ensure_data(scenario), plugin_manager())
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
        cells = ensure_data(scenario)["asset_bars"]
        got = measure(scenario, args.runs)
        line = ", ".join(f"{name} {s:.3f} CPU s" for name, s in got.items())
        bound = cells / got["orders free"]
        print(f"{scenario}: {line} -> orders free: at most {bound / 1e3:,.1f} k asset-bars/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
