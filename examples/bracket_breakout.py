"""Breakout brackets, a trailing-stopped core holding, commissions and a split.

Class style, on the demo bundle (synthetic data):

* **core holding**: 20 % of the portfolio in XBB — which splits 2-for-1 on
  2020-08-31 — bought once at market and protected by a GTC stop ``core_stop``
  (30 %) under the price when the stop is placed;
* **breakouts** in XAA (quarterly dividends), AAA, CCC and GGG: when the
  close breaks above the highest close of the previous ``lookback`` sessions
  and nothing is held or working, buy ``weight`` of the portfolio with a
  *bracket*: a DAY limit entry a little below the close, a take-profit limit
  and a stop-loss, the two exits one-cancels-other;
* **costs**: $0.005 per share with a $1 minimum per order, plus the default
  5 bp slippage capped at 10 % of each bar's volume;
* **splits**: a split cancels the asset's open orders (they were priced in
  pre-split dollars), so a position found without working exits is protected
  again at today's prices — that is what ``protections`` counts.

    rbt run examples/bracket_breakout.py --start 2019-01-02 --end 2021-12-31 --capital 1000000
"""

from rbt.api import (
    TradingAlgorithm,
    get_open_orders,
    order,
    record,
    set_commission,
    symbol,
    symbols,
)
from rbt.finance import commission
from rbt.finance.execution import BracketOrder, LimitOrder, StopOrder


class BracketBreakout(TradingAlgorithm):
    PARAMS = {
        "lookback": 20,
        "weight": 0.15,
        "core": 0.2,
        "core_stop": 0.3,
        "take_profit": 0.08,
        "stop_loss": 0.04,
    }

    def initialize(self, context):
        context.core = symbol("XBB")
        context.breakouts = symbols("XAA", "AAA", "CCC", "GGG")
        context.core_bought = False
        context.protections = 0
        set_commission(commission.PerShare(cost=0.005, min_trade_cost=1.0))

    def handle_data(self, context, data):
        self.manage_core(context, data)
        self.trade_breakouts(context, data)
        record(holdings=len(context.portfolio.positions), protections=context.protections)

    def manage_core(self, context, data):
        core = context.core
        if get_open_orders(core):
            return
        held = context.portfolio.positions[core].amount
        if held:  # first protection, or again after a split cancelled the stop
            price = data.current(core, "price")
            order(core, -held, style=StopOrder(price * (1 - context.params.core_stop)))
            context.protections += 1
        elif not context.core_bought:
            price = data.current(core, "price")
            order(core, int(context.portfolio.portfolio_value * context.params.core / price))
            context.core_bought = True

    def trade_breakouts(self, context, data):
        p = context.params
        closes = data.history(context.breakouts, "close", p.lookback + 1, "1d", frame="numpy")
        value = context.portfolio.portfolio_value
        for i, asset in enumerate(context.breakouts):
            price = closes[-1, i]
            if price != price or get_open_orders(asset):
                continue
            held = context.portfolio.positions[asset].amount
            if held:  # exits gone (a split): one-cancels-other pair at today's prices
                group = f"protect-{asset.symbol}-{context.protections}"
                context.protections += 1
                order(asset, -held, style=LimitOrder(price * (1 + p.take_profit), oco_group=group))
                order(asset, -held, style=StopOrder(price * (1 - p.stop_loss), oco_group=group))
            elif price > closes[:-1, i].max():
                bracket = BracketOrder(
                    take_profit=price * (1 + p.take_profit),
                    stop_loss=price * (1 - p.stop_loss),
                    entry=LimitOrder(price * 0.998, tif="day"),
                )
                order(asset, int(value * p.weight / price), style=bracket)
