"""Defined behaviour: empty universe, windows longer than the history, NaN inputs,
ticker changes, and each built-in's Polars form against its own numpy ``compute``."""

from __future__ import annotations

import datetime as dt
import warnings
from typing import Any

import numpy as np
import pytest

from rbt.kernel.errors import RbtError
from rbt.kernel.model import Asset
from rbt.pipeline import CustomFactor, Pipeline, PipelineEngine
from rbt.pipeline.classifiers import AssetClassifier, StaticClassifier
from rbt.pipeline.data import USEquityPricing
from rbt.pipeline.factors import (
    EWMA,
    RSI,
    VWAP,
    AnnualizedVolatility,
    AverageDollarVolume,
    BollingerBands,
    Latest,
    PercentChange,
    Returns,
    SimpleMovingAverage,
)
from rbt.pipeline.filters import StaticAssets
from tests.pipeline.conftest import SESSIONS, random_bars

CLOSE = USEquityPricing.close


def _compute(bars: Any, pipeline: Pipeline, days: list[dt.date] = SESSIONS) -> dict:
    result = PipelineEngine(bars, days).compute(pipeline)
    return {d: result.output(d) for d in days}


def test_empty_universe_gives_empty_frames_with_the_columns() -> None:
    bars = random_bars(n_assets=4)
    out = _compute(
        bars,
        Pipeline(
            {"sma": SimpleMovingAverage(inputs=[CLOSE], window_length=3), "up": CLOSE.latest > 0},
            screen=CLOSE.latest > 1e12,
        ),
    )
    for frame in out.values():
        assert frame.empty
        assert list(frame.columns) == ["sma", "up"]
        assert frame["sma"].dtype == np.float64
        assert frame["up"].dtype == bool


def test_a_bundle_without_assets_and_the_first_session() -> None:
    bars = random_bars(n_assets=3)
    out = _compute(bars, Pipeline({"c": CLOSE.latest}))
    assert out[SESSIONS[0]].empty  # nothing is known before the bundle's first close
    assert len(out[SESSIONS[1]]) == 3


def test_window_longer_than_the_history_is_nan_until_enough_bars() -> None:
    bars = random_bars(n_assets=3)
    calls: list[dt.date] = []

    class Mean(CustomFactor):
        inputs = (CLOSE,)
        window_length = 30

        def compute(self, today: Any, assets: Any, out: Any, close: Any) -> None:
            calls.append(today.date())
            out[:] = close.mean(axis=0)

    long = len(SESSIONS) + 5
    out = _compute(
        bars,
        Pipeline(
            {
                "sma": SimpleMovingAverage(inputs=[CLOSE], window_length=30),
                "mean": Mean(),
                "longer": SimpleMovingAverage(inputs=[CLOSE], window_length=long),
            }
        ),
    )
    for i, day in enumerate(SESSIONS[1:], start=1):
        frame = out[day]
        assert frame["longer"].isna().all()
        assert frame["sma"].isna().all() == (i < 30)
        assert frame["mean"].isna().all() == (i < 30)
    assert calls == SESSIONS[30:]  # compute is called only with a full window


def test_nan_inputs_follow_zipline_numpy_semantics() -> None:
    bars = random_bars(n_assets=5, holes=0.2, seed=3)
    close = bars.floats["close"]
    sma = SimpleMovingAverage(inputs=[CLOSE], window_length=5)
    ret = Returns(window_length=5)
    out = _compute(
        bars,
        Pipeline(
            {
                "sma": sma,
                "ret": ret,
                "rank": ret.rank(),
                "top": ret.top(2),
                "q": ret.quantiles(2),
                "z": ret.zscore(),
            }
        ),
    )
    for i, day in enumerate(SESSIONS):
        if i < 5:
            continue
        frame = out[day]
        window = close[i - 5 : i]
        with (
            np.errstate(all="ignore"),
            pytest.warns(RuntimeWarning) if np.isnan(window).all(axis=0).any() else _nothing(),
        ):
            expected_sma = np.nanmean(window, axis=0)
        cols = [bars.column(a) for a in frame.index]
        np.testing.assert_allclose(frame["sma"], expected_sma[cols], rtol=1e-12)
        expected_ret = (window[-1] - window[0]) / window[0]
        np.testing.assert_allclose(frame["ret"], expected_ret[cols], rtol=1e-12)
        nan = frame["ret"].isna()
        assert frame["rank"][nan].isna().all()  # NaN ranks NaN
        assert not frame["top"][nan].any()  # and never qualifies
        assert (frame["q"][nan] == -1).all()  # missing label
        assert frame["z"][nan].isna().all()
        valid = frame["ret"][~nan]
        if len(valid) > 1:
            assert frame["z"][~nan].mean() == pytest.approx(0, abs=1e-12)
            assert sorted(frame["rank"][~nan]) == list(range(1, len(valid) + 1))


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *args: object) -> None:
        return None


def test_ticker_changes_follow_the_sid() -> None:
    a = Asset(sid=7, symbol="NEWNAME")  # the bundle's ticker as of its end
    b = Asset(sid=8, symbol="OTHER")
    bars = random_bars(n_assets=2, assets=[a, b])
    out = _compute(
        bars,
        Pipeline({"c": CLOSE.latest}, screen=StaticAssets([a]) | StaticClassifier({8: 1}).eq(2)),
    )
    frame = out[SESSIONS[-1]]
    assert list(frame.index) == [a]
    assert frame.index[0].symbol == "NEWNAME"


def test_classifiers_from_metadata_group_normalizations() -> None:
    assets = [
        Asset(sid=i, symbol=f"S{i}", exchange="NYSE" if i % 2 else "NASDAQ") for i in range(6)
    ]
    bars = random_bars(n_assets=6, assets=assets)
    exchange = AssetClassifier("exchange")
    ret = Returns(window_length=3)
    out = _compute(
        bars,
        Pipeline(
            {
                "ex": exchange,
                "d": ret.demean(groupby=exchange),
                "nyse": exchange.eq("NYSE"),
                "r": ret.rank(groupby=exchange),
            }
        ),
    )
    frame = out[SESSIONS[-1]]
    assert list(frame["ex"]) == ["NASDAQ", "NYSE"] * 3
    assert list(frame["nyse"]) == [False, True] * 3
    for label in ("NASDAQ", "NYSE"):
        group = frame[frame["ex"] == label]
        assert group["d"].sum() == pytest.approx(0, abs=1e-12)
        assert sorted(group["r"]) == [1.0, 2.0, 3.0]
    with pytest.raises(TypeError, match="all int or all str"):
        StaticClassifier({0: 1, 1: "x"})


@pytest.mark.parametrize(
    "factor",
    [
        Latest(inputs=[CLOSE]),
        Returns(window_length=4),
        PercentChange(inputs=[CLOSE], window_length=3),
        SimpleMovingAverage(inputs=[CLOSE], window_length=6),
        EWMA.from_span(inputs=[CLOSE], window_length=6, span=4),
        VWAP(window_length=5),
        AverageDollarVolume(window_length=5),
        RSI(window_length=7),
        AnnualizedVolatility(window_length=6),
    ],
    ids=lambda f: type(f).__name__,
)
@pytest.mark.parametrize("holes", [0.0, 0.15])
def test_each_polars_form_equals_its_numpy_compute(factor: Any, holes: float) -> None:
    base = type(factor)

    def compute(self: Any, *args: Any, **kwargs: Any) -> None:
        with warnings.catch_warnings():  # numpy's nan-reductions warn on all-NaN windows
            warnings.simplefilter("ignore", RuntimeWarning)
            base.compute(self, *args, **kwargs)  # an override: forces the numpy path

    numpy_twin = type("NumpyTwin", (base,), {"compute": compute})
    twin = numpy_twin.__new__(numpy_twin)
    twin.__dict__.update(factor.__dict__)
    assert twin._uses_numpy()
    assert not factor._uses_numpy()
    bars = random_bars(n_assets=5, holes=holes, seed=11)
    fast = _compute(bars, Pipeline({"x": factor}))
    slow = _compute(bars, Pipeline({"x": twin}))
    for day in SESSIONS:
        np.testing.assert_allclose(
            fast[day]["x"], slow[day]["x"], rtol=1e-10, equal_nan=True, err_msg=str(day)
        )


def test_bollinger_bands_outputs_match_numpy() -> None:
    bars = random_bars(n_assets=4, holes=0.1, seed=5)
    bb = BollingerBands(window_length=8, k=2.5)
    lower, middle, upper = bb
    out = _compute(bars, Pipeline({"lower": lower, "middle": middle, "upper": bb.upper}))
    close = bars.floats["close"]
    for i, day in enumerate(SESSIONS[8:], start=8):
        window = close[i - 8 : i]
        with np.errstate(all="ignore"):
            mid, std = np.nanmean(window, axis=0), np.nanstd(window, axis=0)
        frame = out[day]
        cols = [bars.column(a) for a in frame.index]
        np.testing.assert_allclose(frame["middle"], mid[cols], rtol=1e-10)
        np.testing.assert_allclose(frame["upper"], (mid + 2.5 * std)[cols], rtol=1e-10)
        np.testing.assert_allclose(frame["lower"], (mid - 2.5 * std)[cols], rtol=1e-10)
    assert upper is not None


def test_bad_terms_are_refused_clearly() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        Returns(window_length=1)
    with pytest.raises(TypeError, match="positive integer window_length"):
        SimpleMovingAverage(inputs=[CLOSE])
    with pytest.raises(TypeError, match="needs inputs"):
        SimpleMovingAverage(window_length=3)
    with pytest.raises(TypeError, match="missing required params"):
        BollingerBands(window_length=3)
    with pytest.raises(TypeError, match=r"use EquityPricing\.close\.latest"):
        CLOSE + 1
    with pytest.raises(TypeError, match="dataset column"):
        CLOSE.__gt__(1)
    with pytest.raises(TypeError, match="cannot combine"):
        CLOSE.latest + "x"
    with pytest.raises(ValueError, match="percentile_between"):
        CLOSE.latest.percentile_between(50, 10)
    bars = random_bars(n_assets=2)
    minute = type(bars.frequency).MINUTE
    import attrs

    with pytest.raises(RbtError, match="daily bundles"):
        PipelineEngine(attrs.evolve(bars, frequency=minute), SESSIONS)
