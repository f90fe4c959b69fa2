"""Weekly momentum rotation, Zipline style: ``data.current`` of the whole universe every
bar, a pandas ``data.history`` ranking every week, ``order_target_percent`` into the top 10.

One of the strategies the canonical benchmark never saw (``benchmarks/idioms.py``)."""

from rbt.api import date_rules, order_target_percent, schedule_function, symbols, time_rules

PARAMS = {"n_assets": 10, "prefix": "SYM"}


def initialize(context):
    n = context.params.n_assets
    context.assets = symbols(*(f"{context.params.prefix}{i:03d}" for i in range(n)))
    schedule_function(rebalance, date_rules.week_start(), time_rules.market_open())


def rebalance(context, data):
    prices = data.history(context.assets, "price", 21, "1d")
    returns = prices.iloc[-1] / prices.iloc[0] - 1
    top = set(returns.nlargest(10).index)
    for asset in context.assets:
        if asset in top:
            order_target_percent(asset, 0.099)
        elif asset in context.portfolio.positions:
            order_target_percent(asset, 0)


def handle_data(context, data):
    context.last = data.current(context.assets, "price")
