"""Equal-weight rebalancing every five bars with per-bar checks: ``data.can_trade`` of the
universe, a short pandas history, every position's value read, ``record`` per bar,
``get_open_orders``, and ``order_target_percent`` on every asset at each rebalance.

One of the strategies the canonical benchmark never saw (``benchmarks/idioms.py``)."""

from rbt.api import get_open_orders, order_target_percent, record, symbols

PARAMS = {"n_assets": 10, "prefix": "SYM"}


def initialize(context):
    n = context.params.n_assets
    context.assets = symbols(*(f"{context.params.prefix}{i:03d}" for i in range(n)))
    context.bar = 0


def handle_data(context, data):
    context.bar += 1
    tradable = data.can_trade(context.assets)
    prices = data.history(context.assets, "price", 5, "1d")
    momentum = prices.iloc[-1] / prices.iloc[0]
    positions = context.portfolio.positions
    exposure = sum(p.amount * p.last_sale_price for p in positions.values())
    record(exposure=exposure, held=len(positions))
    if context.bar % 5 == 0 and not get_open_orders():
        weight = 1.0 / len(context.assets)
        for asset in context.assets:
            if tradable[asset]:
                order_target_percent(asset, weight if momentum[asset] > 1 else weight / 2)
