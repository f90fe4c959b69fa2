"""``dual_ma.py`` with the pandas-returning ``data.history`` (Zipline's shapes): the guard's
variant, pandas ``data.history`` within 3x of ``frame="numpy"`` on scenario M
(benchmarks/run.py, "pandas history" row).

The strategy takes the DataFrame Zipline's ``data.history`` returns and does its sums on
the frame's values (``.to_numpy()``, as Zipline code often does with ``.values``), so the
two variants differ by what the guard is about: building and returning the frame.
``dual_ma_pandas_ops.py`` does the same sums as DataFrame reductions instead.
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
    values = closes.to_numpy()
    fast = values[-context.fast :].sum(axis=0) / context.fast
    slow = values.sum(axis=0) / context.slow
    long_ = fast > slow
    portfolio = context.portfolio
    positions = portfolio.positions
    value = portfolio.portfolio_value
    last = values[-1]
    assets = context.assets
    for i, asset in enumerate(assets):  # exits first
        if asset in positions and not long_[i]:
            order_target(asset, 0)
    for i, asset in enumerate(assets):  # then entries, in asset order
        if asset not in positions and long_[i]:
            n = math.floor(value / (context.n * last[i]) + 1e-9)
            if n > 0:
                order(asset, n)
