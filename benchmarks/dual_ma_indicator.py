"""The canonical benchmark strategy with precomputed indicators (``rbt.api.indicators``).

The same strategy as ``dual_ma.py`` (../shared/bench/README.md, "Strategy
definition"), written in the precomputed-indicator idiom (backtesting.py's
``I()``): both moving averages are computed once in ``initialize`` over the whole
bundle (running sums / k), and each bar reads its own row. Same orders, same
exact answer.
"""

import math

from rbt.api import order, order_target, symbols
from rbt.api.indicators import indicator, sma

PARAMS = {"n_assets": 10, "prefix": "SYM", "fast": 10, "slow": 50, "frequency": "1d"}


def initialize(context):
    n = context.params.n_assets
    context.assets = symbols(*(f"{context.params.prefix}{i:03d}" for i in range(n)))
    context.n = n
    context.fast = indicator(sma, "close", context.assets, context.params.fast)
    context.slow = indicator(sma, "close", context.assets, context.params.slow)
    context.close = indicator(lambda closes: closes, "close", context.assets, name="close")


def handle_data(context, data):
    long_ = context.fast.current > context.slow.current
    portfolio = context.portfolio
    positions = portfolio.positions
    value = portfolio.portfolio_value
    last = context.close.current
    assets = context.assets
    for i, asset in enumerate(assets):  # exits first
        if asset in positions and not long_[i]:
            order_target(asset, 0)
    for i, asset in enumerate(assets):  # then entries, in asset order
        if asset not in positions and long_[i]:
            n = math.floor(value / (context.n * last[i]) + 1e-9)
            if n > 0:
                order(asset, n)
