"""Monthly momentum rotation, written as a TradingAlgorithm class.

At the first session of every month, rank the demo universe by its trailing
``lookback``-session return and hold the ``top`` best equally weighted; sell
everything else. Rebalancing runs through ``schedule_function``.

    rbt run examples/monthly_momentum.py --start 2016-01-04 --end 2024-12-31 \
        --capital 1000000 --param top=5
"""

from rbt.api import (
    TradingAlgorithm,
    cancel_order,
    date_rules,
    get_open_orders,
    order_target_percent,
    record,
    schedule_function,
    symbols,
    time_rules,
)

UNIVERSE = "AAA BBB CCC DDD EEE FFF GGG HHH III JJJ KKK LLL MMM NNN OOO PPP QQQ RRR SSS TTT"


class MonthlyMomentum(TradingAlgorithm):
    PARAMS = {"lookback": 126, "top": 5}

    def initialize(self, context):
        context.assets = symbols(*UNIVERSE.split())
        schedule_function(self.rebalance, date_rules.month_start(), time_rules.market_open())

    def rebalance(self, context, data):
        lookback, top = context.params.lookback, context.params.top
        closes = data.history(context.assets, "close", lookback + 1, "1d")
        momentum = (closes.iloc[-1] / closes.iloc[0] - 1.0).dropna().sort_values(ascending=False)
        winners = set(momentum.index[:top])
        for orders in get_open_orders().values():
            for order in orders:  # a month-old order that is still filling is stale
                cancel_order(order)
        for asset in context.assets:
            if asset not in winners and context.portfolio.positions[asset].amount:
                order_target_percent(asset, 0.0)
        for asset in winners:
            order_target_percent(asset, 1.0 / top)
        record(best=float(momentum.iloc[0]) if len(momentum) else 0.0, holdings=len(winners))
