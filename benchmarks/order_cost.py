"""What an order costs inside a run, against the same work done in a tight loop.

Two measurements on the bench bundles, warm, in one process (CPU seconds, median of
``--runs`` after one untimed run):

* **in a run** (scenario MIN): a strategy with the canonical per-bar code (the history
  window, both sums, ``context.portfolio.positions`` and ``portfolio_value``) that trades
  its one asset every K bars: buy 100, then back to flat. With K = 7 and K = 37 it holds a
  position about half the time either way, so the difference of the two runs over the
  difference of their order counts is what one order and its fill cost among the bars
  around them. Two more runs, never trading and buying once to hold, give what holding a
  position costs per bar (the portfolio reads' held path);
* **in a tight loop** (scenario M): 2,000 market orders placed in one ``handle_data``
  (20 per asset) and filled together at the next bar, timed inside the run: placing, and
  the next bar's matching and booking, per order.

Orders in a run cost several times what the same code costs in a loop: between two orders
the strategy's own code and numpy run thousands of times, and the order path (sixty-odd
functions, a dozen objects per order) starts cold each time. A faster order path has to
touch less, not only run fewer instructions::

    uv run python benchmarks/order_cost.py
    uv run python benchmarks/order_cost.py --runs 5

The bundles are the ones ``benchmarks/run.py`` ingests (``bench_min``, ``bench_m``); the
data is generated if missing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rbt.api import order, order_target, run_backtest, symbols
from rbt.api.algorithm import FunctionStrategy
from rbt.plugins import plugin_manager

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from run import ensure_data, run_kwargs  # noqa: E402  (benchmarks/run.py, next to this file)

FAST, SLOW = 10, 50
HOLD, NEVER = -1, 0  # "every K bars" for: buy once and hold; never trade


def _every(k: int) -> FunctionStrategy:
    """The canonical per-bar code on MIN000, trading every ``k`` bars (HOLD, NEVER)."""

    def initialize(context: Any) -> None:
        context.assets = symbols("MIN000")
        context.bar = 0

    def handle_data(context: Any, data: Any) -> None:
        closes = data.history(context.assets, "close", SLOW, "1m", frame="numpy")
        fast = closes[-FAST:].sum(axis=0) / FAST
        slow = closes.sum(axis=0) / SLOW
        long_ = fast > slow
        portfolio = context.portfolio
        positions = portfolio.positions
        value = portfolio.portfolio_value
        for i, asset in enumerate(context.assets):  # the canonical exit test, not acted on
            if asset in positions and not long_[i] and value < 0:
                break
        context.bar += 1
        asset = context.assets[0]
        if k == HOLD:
            if context.bar == SLOW:
                order(asset, 100)
        elif k != NEVER and context.bar % k == 0:
            if asset in positions:
                order_target(asset, 0)
            else:
                order(asset, 100)

    return FunctionStrategy(initialize, handle_data, params={})


def _median_cpu(make: Callable[[], FunctionStrategy], kwargs: dict[str, Any], runs: int) -> Any:
    """(median CPU seconds, fills) of ``runs`` runs after an untimed one."""
    result = run_backtest(make(), **kwargs)
    seconds = []
    for _ in range(runs):
        start = time.process_time()
        result = run_backtest(make(), **kwargs)
        seconds.append(time.process_time() - start)
    return statistics.median(seconds), len(result.transactions)


def in_a_run(runs: int) -> tuple[dict[str, tuple[float, int]], int]:
    """Scenario MIN: CPU seconds and fills trading every 7 and 37 bars, holding and never;
    and the number of bars."""
    meta = ensure_data("MIN")
    kwargs = {**run_kwargs("MIN", meta, plugin_manager()), "params": {}}
    timed = {
        name: _median_cpu(lambda k=k: _every(k), kwargs, runs)
        for name, k in (("every 7", 7), ("every 37", 37), ("hold", HOLD), ("never", NEVER))
    }
    return timed, meta["asset_bars"]


def in_a_loop(runs: int) -> tuple[float, float]:
    """Scenario M: (placing, filling) µs per order, 2,000 orders placed on one bar."""
    meta = ensure_data("M")
    kwargs = {**run_kwargs("M", meta, plugin_manager()), "params": {}}
    per_asset = 20
    placing: list[float] = []
    filling: list[float] = []

    def initialize(context: Any) -> None:
        context.assets = symbols(*(f"SYM{i:03d}" for i in range(100)))
        context.bar = 0
        context.placed_at = None

    def handle_data(context: Any, data: Any) -> None:
        now = time.perf_counter()
        if context.placed_at is not None:  # the broker matched and booked them this bar
            filling.append(now - context.placed_at)
            context.placed_at = None
        context.bar += 1
        if 60 <= context.bar < 60 + 2 * runs and context.bar % 2 == 0:
            side = 1 if context.bar % 4 == 0 else -1
            start = time.perf_counter()
            for asset in context.assets:
                for _ in range(per_asset):
                    order(asset, side)
            placing.append(time.perf_counter() - start)
            context.placed_at = time.perf_counter()

    run_backtest(FunctionStrategy(initialize, handle_data, params={}), **kwargs)
    n = 100 * per_asset
    return statistics.median(placing) / n * 1e6, statistics.median(filling) / n * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    got, bars = in_a_run(args.runs)
    for name, (seconds, fills) in got.items():
        print(f"MIN, trading {name:9s} {seconds:7.3f} CPU s  {fills:6d} fills")
    (t7, n7), (t37, n37) = got["every 7"], got["every 37"]
    per_order = (t7 - t37) / (n7 - n37) * 1e6
    held = (got["hold"][0] - got["never"][0]) / bars * 1e6
    print(f"in a run: ≈ {per_order:.1f} µs per order and its fill; holding ≈ {held:.2f} µs/bar")
    place, fill = in_a_loop(args.runs)
    print(f"in a loop (M, 2,000 orders on one bar): placing {place:.1f} µs, filling {fill:.1f} µs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
