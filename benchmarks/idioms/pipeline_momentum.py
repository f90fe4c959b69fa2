"""Pipeline momentum: five factors and a screen computed by the pipeline, read every
session in ``before_trading_start``, weekly ``order_target_percent`` into the picks.
``tests/parity/test_parity.py`` runs this file in zipline-reloaded too (``zipline.``
imports) and checks both engines agree.

One of the strategies the canonical benchmark never saw (``benchmarks/idioms.py``)."""

from rbt.api import (
    attach_pipeline,
    date_rules,
    order_target_percent,
    pipeline_output,
    record,
    schedule_function,
    time_rules,
)
from rbt.pipeline import CustomFactor, Pipeline
from rbt.pipeline.data import USEquityPricing
from rbt.pipeline.factors import RSI, AverageDollarVolume, Returns, SimpleMovingAverage

PARAMS = {"n_assets": 10, "prefix": "SYM"}


class Trend(CustomFactor):
    inputs = [USEquityPricing.close]  # noqa: RUF012 - Zipline's class attribute, as users write it
    window_length = 15

    def compute(self, today, assets, out, close):
        out[:] = close[-1] / close.mean(axis=0)


def initialize(context):
    momentum = Returns(window_length=20)
    liquid = AverageDollarVolume(window_length=10).percentile_between(20, 100)
    trend = Trend()
    sma = SimpleMovingAverage(inputs=[USEquityPricing.close], window_length=10)
    pipe = Pipeline(
        columns={
            "momentum": momentum,
            "trend": trend,
            "z": momentum.zscore(mask=liquid),
            "rsi": RSI(),
            "above": USEquityPricing.close.latest > sma,
        },
        screen=momentum.top(5, mask=liquid) & (trend > 0.9),
    )
    attach_pipeline(pipe, "momentum")
    schedule_function(rebalance, date_rules.week_start(), time_rules.market_open())


def before_trading_start(context, data):
    context.out = pipeline_output("momentum")


def rebalance(context, data):
    picks = context.out.index
    for asset in context.portfolio.positions:
        if asset not in picks:
            order_target_percent(asset, 0.0)
    for asset in picks:
        order_target_percent(asset, 0.19)
    record(n_picks=len(picks))
