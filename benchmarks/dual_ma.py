"""The canonical benchmark strategy (../shared/bench/README.md, "Strategy definition").

Dual moving average, long/flat, over the universe SYM000 .. SYM{N-1} of a
benchmark bundle, written as a RustyBT user would write it (Zipline style):

* one ``handle_data`` per bar and one universe-wide
  ``data.history(assets, "close", 50, "1d", frame="numpy")`` per bar;
* fast = sum of the last 10 closes / 10, slow = sum of 50 closes / 50, long
  while fast > slow (strict: a tie is flat);
* exits first (``order_target(asset, 0)``), then entries in asset order with
  ``n = floor(V / (N * close) + 1e-9)`` whole shares, V = portfolio value at
  this close; open positions are never rebalanced.

Before the 50th bar the history window is NaN-padded (Zipline semantics), so
both averages are NaN, ``NaN > NaN`` is false and nothing is traded.

Run it with next-open fills and zero costs to reproduce the reference::

    rbt ingest csv --path ~/.cache/rbt-bench/data/S/daily --bundle bench_s
    rbt run benchmarks/dual_ma.py --bundle bench_s --start 2010-01-04 --end 2020-01-07 \
        --capital 1000000 --fill-timing next_open --commission none --slippage none \
        --param n_assets=10

benchmarks/run.py times exactly this file through ``rbt.api.run_backtest``.
"""

import math

from rbt.api import order, order_target, symbols

# Scenario MIN: prefix="MIN", frequency="1m" (its one asset is MIN000).
PARAMS = {"n_assets": 10, "prefix": "SYM", "fast": 10, "slow": 50, "frequency": "1d"}


def initialize(context):
    n = context.params.n_assets
    context.assets = symbols(*(f"{context.params.prefix}{i:03d}" for i in range(n)))
    context.n = n
    context.fast = context.params.fast
    context.slow = context.params.slow
    context.freq = context.params.frequency


def handle_data(context, data):
    closes = data.history(context.assets, "close", context.slow, context.freq, frame="numpy")
    fast = closes[-context.fast :].sum(axis=0) / context.fast
    slow = closes.sum(axis=0) / context.slow
    long_ = fast > slow
    portfolio = context.portfolio
    positions = portfolio.positions
    value = portfolio.portfolio_value
    last = closes[-1]
    assets = context.assets
    for i, asset in enumerate(assets):  # exits first
        if asset in positions and not long_[i]:
            order_target(asset, 0)
    for i, asset in enumerate(assets):  # then entries, in asset order
        if asset not in positions and long_[i]:
            n = math.floor(value / (context.n * last[i]) + 1e-9)
            if n > 0:
                order(asset, n)
