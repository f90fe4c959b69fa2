"""Dual moving-average crossover over the demo universe (Zipline style).

Each session, for every asset: hold an equal-weight long position while the
fast simple moving average of closes is above the slow one, else stay flat.

    rbt run examples/dual_moving_average.py --start 2016-01-04 --end 2024-12-31 \
        --capital 1000000 --param fast=20 --param slow=100

Only the imports differ from a Zipline algorithm.
"""

from rbt.api import get_open_orders, order_target, order_target_percent, record, symbols

PARAMS = {"fast": 20, "slow": 100, "universe": "AAA,BBB,CCC,DDD,EEE,FFF,GGG,HHH,III,JJJ"}


def initialize(context):
    context.assets = symbols(*context.params.universe.split(","))
    if context.params.fast >= context.params.slow:
        raise ValueError("fast must be shorter than slow")


def handle_data(context, data):
    fast_n, slow_n = context.params.fast, context.params.slow
    closes = data.history(context.assets, "close", slow_n, "1d", frame="numpy")
    fast = closes[-fast_n:].mean(axis=0)
    slow = closes.mean(axis=0)
    weight = 1.0 / len(context.assets)
    longs = 0
    for i, asset in enumerate(context.assets):
        if not data.can_trade(asset) or get_open_orders(asset):
            continue  # orders fill over several bars when volume is thin: never stack them
        if fast[i] > slow[i]:
            longs += 1
            if context.portfolio.positions[asset].amount == 0:
                order_target_percent(asset, weight)
        elif context.portfolio.positions[asset].amount != 0:
            order_target(asset, 0)
    record(
        longs=longs, leverage=context.portfolio.positions_value / context.portfolio.portfolio_value
    )
