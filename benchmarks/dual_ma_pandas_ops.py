"""``dual_ma.py`` with the pandas-returning ``data.history`` and its sums as DataFrame
reductions (``iloc``, ``sum(min_count=...)``): Zipline-style pandas arithmetic.

Reported next to the guard's variant (``dual_ma_pandas.py``), not a target: what it adds
over that variant is pandas' own per-call cost (≈ 110-190 µs per reduction here), which
no engine changes (``benchmarks/free_engine.py`` measures it with the engine free).
"""

import math

from rbt.api import order, order_target, symbols

PARAMS = {"n_assets": 10, "prefix": "SYM", "fast": 10, "slow": 50, "frequency": "1d"}


def initialize(context):
    n = context.params.n_assets
    context.assets = symbols(*(f"{context.params.prefix}{i:03d}" for i in range(n)))
    context.n = n
    context.fast = context.params.fast
    context.slow = context.params.slow
    context.freq = context.params.frequency


def handle_data(context, data):
    closes = data.history(context.assets, "close", context.slow, context.freq)  # a DataFrame
    fast = (
        closes.iloc[-context.fast :].sum(axis=0, min_count=context.fast).to_numpy() / context.fast
    )
    slow = closes.sum(axis=0, min_count=context.slow).to_numpy() / context.slow
    long_ = fast > slow
    portfolio = context.portfolio
    positions = portfolio.positions
    value = portfolio.portfolio_value
    last = closes.iloc[-1].to_numpy()
    assets = context.assets
    for i, asset in enumerate(assets):  # exits first
        if asset in positions and not long_[i]:
            order_target(asset, 0)
    for i, asset in enumerate(assets):  # then entries, in asset order
        if asset not in positions and long_[i]:
            n = math.floor(value / (context.n * last[i]) + 1e-9)
            if n > 0:
                order(asset, n)
