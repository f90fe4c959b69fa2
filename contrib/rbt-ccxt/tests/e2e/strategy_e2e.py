"""A deterministic crypto strategy for the end-to-end test: buys and partly sells BTC at
fixed bars (market orders), so live and backtest trade the same quantities."""

from decimal import Decimal

from rbt.api import order, record, symbol


def initialize(context):
    context.btc = symbol("BTC/USDT")
    context.n = 0


def handle_data(context, data):
    # count bars, not clock minutes: a minute backtest calls handle_data every minute of
    # the 24/7 session, the live stream only when a bar closes
    if not data.current(context.btc, "volume") > 0:
        return
    context.n += 1
    if context.n in (1, 4):
        order(context.btc, Decimal("0.02"))
    elif context.n in (3, 6):
        order(context.btc, Decimal("-0.01"))
    record(close=data.current(context.btc, "close"))
