"""No look-ahead: planting arbitrary future bars never changes an earlier pipeline output.

The whole run is computed in one pass (rolling windows, cross-sectional ranks, numpy
custom factors), so a window reaching forward or a normalization across days would
show up here: the output for session ``k`` may only depend on bars before ``k``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from rbt.data.bars import bars_from_floats
from rbt.pipeline import CustomFactor, Pipeline, PipelineEngine
from rbt.pipeline.classifiers import StaticClassifier
from rbt.pipeline.data import USEquityPricing
from rbt.pipeline.factors import (
    EWMA,
    RSI,
    VWAP,
    AnnualizedVolatility,
    AverageDollarVolume,
    BollingerBands,
    Returns,
    SimpleMovingAverage,
)
from tests.pipeline.conftest import SESSIONS, random_bars

N_SESSIONS = 40
DAYS = SESSIONS[:N_SESSIONS]


class LastOverFirst(CustomFactor):
    inputs = (USEquityPricing.close, USEquityPricing.volume)
    window_length = 4

    def compute(self, today: Any, assets: Any, out: Any, close: Any, volume: Any) -> None:
        out[:] = close[-1] / close[0] + np.nansum(volume, axis=0) * 1e-9


def _pipeline() -> Pipeline:
    close = USEquityPricing.close
    sma = SimpleMovingAverage(inputs=[close], window_length=5)
    ret = Returns(window_length=3)
    sector = StaticClassifier({0: 1, 1: 1, 2: 2, 3: 2, 4: 3})
    lower, _middle, upper = BollingerBands(window_length=6, k=1.5)
    custom = LastOverFirst()
    return Pipeline(
        {
            "sma": sma,
            "ret": ret,
            "rsi": RSI(window_length=6),
            "vwap": VWAP(window_length=4),
            "adv": AverageDollarVolume(window_length=4),
            "ewma": EWMA(inputs=[close], window_length=5, decay_rate=0.7),
            "vol": AnnualizedVolatility(window_length=6),
            "upper": upper,
            "lower": lower,
            "custom": custom,
            "custom_rank": custom.rank(groupby=sector),
            "z": ret.zscore(groupby=sector),
            "demean": sma.demean(mask=ret.notnan()),
            "rank": ret.rank(ascending=False),
            "q": ret.quantiles(3),
            "top": ret.top(2),
            "between": sma.percentile_between(20, 80),
            "mix": (sma / close.latest - 1) * 100,
        },
        screen=sma.notnan() | ret.isnan(),
    )


def _outputs(bars: Any) -> dict[Any, pd.DataFrame]:
    engine = PipelineEngine(bars, DAYS)
    result = engine.compute(_pipeline())
    return {d: result.output(d) for d in DAYS}


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    cut=st.integers(1, N_SESSIONS - 1),
    holes=st.sampled_from([0.0, 0.1]),
    planted=st.sampled_from(["random", "nan", "huge"]),
)
def test_future_bars_never_change_earlier_outputs(
    seed: int, cut: int, holes: float, planted: str
) -> None:
    bars = random_bars(n_assets=6, sessions=DAYS, seed=seed % 1000, holes=holes)
    before = _outputs(bars)
    rng = np.random.default_rng(seed)
    fields = {}
    for name, values in bars.floats.items():
        changed = values.copy()
        shape = changed[cut:].shape
        if planted == "random":
            changed[cut:] = np.round(rng.uniform(1, 500, shape) * 8) / 8
        elif planted == "nan":
            changed[cut:] = np.nan
        else:
            changed[cut:] = 1e9
        fields[name] = changed
    after = _outputs(bars_from_floats(list(bars.assets), DAYS, fields))
    for day in DAYS[: cut + 1]:  # session `cut` uses bars up to cut - 1 only
        # labels, filters and NaN positions exactly; floats to 1e-12 (Polars' rolling kernels
        # may differ in the last bit with and without nulls elsewhere in the column)
        pd.testing.assert_frame_equal(
            before[day], after[day], check_exact=False, rtol=1e-12, atol=0
        )
