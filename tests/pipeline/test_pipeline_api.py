"""attach_pipeline / pipeline_output in a backtest: Zipline's shapes and timing."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd
import pytest

from rbt.api import attach_pipeline, order_target_percent, pipeline_output, run_backtest
from rbt.api.algorithm import FunctionStrategy
from rbt.data.bars import BarArrays
from rbt.kernel.errors import RbtError
from rbt.pipeline import CustomFactor, Pipeline
from rbt.pipeline.data import EquityPricing, USEquityPricing
from rbt.pipeline.factors import Returns, SimpleMovingAverage
from tests.pipeline.conftest import SESSIONS


def _run(
    bars: BarArrays,
    initialize: Any,
    handle_data: Any = None,
    before: Any = None,
    start: dt.date = SESSIONS[0],
    end: dt.date = SESSIONS[-1],
) -> Any:
    strategy = FunctionStrategy(initialize, handle_data, before, None)
    return run_backtest(
        strategy, start=start, end=end, bars=bars, write=False, capital_base=1_000_000
    )


def test_output_is_a_frame_by_asset_from_the_previous_close(bars: BarArrays) -> None:
    seen: dict[dt.date, pd.DataFrame] = {}

    def initialize(context: Any) -> None:
        sma = SimpleMovingAverage(inputs=[USEquityPricing.close], window_length=5)
        attach_pipeline(
            Pipeline(
                {
                    "sma": sma,
                    "close": EquityPricing.close.latest,
                    "up": Returns(window_length=2) > 0,
                }
            ),
            "p",
        )

    def before(context: Any, data: Any) -> None:
        seen[context.session_label] = pipeline_output("p")

    def handle(context: Any, data: Any) -> None:
        frame = pipeline_output("p")  # the same frame all session long
        pd.testing.assert_frame_equal(frame, seen[context.session_label])

    def initialize_with_label(context: Any) -> None:
        initialize(context)

    def before_labelled(context: Any, data: Any) -> None:
        context.session_label = data.current_dt.tz_convert("America/New_York").date()
        before(context, data)

    _run(bars, initialize_with_label, handle, before_labelled)
    close = bars.floats["close"]
    for i, session in enumerate(SESSIONS):
        frame = seen[session]
        if i == 0:
            assert frame.empty
            assert list(frame.columns) == ["sma", "close", "up"]
            continue
        assert list(frame.index) == list(bars.assets)
        assert frame["close"].dtype == np.float64
        assert frame["up"].dtype == bool
        np.testing.assert_array_equal(frame["close"].to_numpy(), close[i - 1])
        if i >= 5:
            np.testing.assert_allclose(
                frame["sma"].to_numpy(), close[i - 5 : i].mean(axis=0), rtol=1e-12
            )
        else:
            assert frame["sma"].isna().all()  # NaN until five closes exist
        if i >= 2:
            np.testing.assert_array_equal(frame["up"].to_numpy(), close[i - 1] > close[i - 2])


def test_screen_and_a_custom_factor_drive_orders(bars: BarArrays) -> None:
    class Momentum(CustomFactor):
        inputs = (USEquityPricing.close,)
        window_length = 10

        def compute(self, today: Any, assets: Any, out: Any, close: Any) -> None:
            out[:] = close[-1] / close[0] - 1

    picks: list[set[int]] = []

    def initialize(context: Any) -> None:
        momentum = Momentum()
        attach_pipeline(Pipeline({"m": momentum}, screen=momentum.top(3)), "mom")

    def handle(context: Any, data: Any) -> None:
        frame = pipeline_output("mom")
        picks.append({a.sid for a in frame.index})
        for asset in context.portfolio.positions:
            if asset not in frame.index:
                order_target_percent(asset, 0)
        for asset in frame.index:
            order_target_percent(asset, 0.3)

    result = _run(bars, initialize, handle)
    close = bars.floats["close"]
    for i, chosen in enumerate(picks):
        if i < 10:
            assert chosen == set()  # ten closes are needed: nothing before session 10
            continue
        momentum = close[i - 1] / close[i - 10] - 1
        assert chosen == set(np.argsort(-momentum, kind="stable")[:3].tolist())
    assert result.transactions.height > 0


def test_pipeline_output_errors_are_clear(bars: BarArrays) -> None:
    def no_pipeline(context: Any) -> None:
        pass

    def handle(context: Any, data: Any) -> None:
        pipeline_output("missing")

    with pytest.raises(RbtError, match="no pipeline named 'missing' is attached"):
        _run(bars, no_pipeline, handle)

    def attach_late(context: Any, data: Any) -> None:
        attach_pipeline(Pipeline(), "late")

    with pytest.raises(RbtError, match="only be called in initialize"):
        _run(bars, no_pipeline, attach_late)

    def twice(context: Any) -> None:
        attach_pipeline(Pipeline(), "p")
        attach_pipeline(Pipeline(), "p")

    with pytest.raises(RbtError, match="already attached"):
        _run(bars, twice)

    def not_a_pipeline(context: Any) -> None:
        attach_pipeline({"sma": 1}, "p")

    with pytest.raises(TypeError, match="expects a Pipeline"):
        _run(bars, not_a_pipeline)


def test_pipeline_column_validation() -> None:
    with pytest.raises(TypeError, match=r"use EquityPricing.close.latest"):
        Pipeline({"c": USEquityPricing.close})
    with pytest.raises(TypeError, match="a pipeline screen must be a Filter"):
        Pipeline(screen=SimpleMovingAverage(inputs=[USEquityPricing.close], window_length=2))
    from rbt.pipeline.factors import BollingerBands

    with pytest.raises(TypeError, match="several outputs"):
        Pipeline({"bb": BollingerBands(window_length=5, k=2)})
    p = Pipeline()
    p.add(USEquityPricing.close.latest, "c")
    with pytest.raises(KeyError, match="already exists"):
        p.add(USEquityPricing.close.latest, "c")
    p.add(USEquityPricing.open.latest, "c", overwrite=True)
    assert list(p.columns) == ["c"]
    p.set_screen(USEquityPricing.close.latest > 1)
    with pytest.raises(ValueError, match="already has a screen"):
        p.set_screen(USEquityPricing.close.latest > 2)
    assert p.remove("c") is not None
    assert p.columns == {}
