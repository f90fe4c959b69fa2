"""Factors with Zipline's names, parameters and numbers, computed as Polars expressions.

Each built-in keeps Zipline's numpy ``compute`` as its specification; a
subclass that overrides ``compute`` runs that instead (``CustomFactor``
semantics). ``tests/pipeline/test_factors.py`` checks every Polars form
against its numpy ``compute`` and ``tests/parity`` against zipline-reloaded.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import polars as pl

from rbt.pipeline._terms import (
    CustomFactor,
    Factor,
    rolling,
    shifted,
)
from rbt.pipeline.data import EquityPricing

if TYPE_CHECKING:
    from rbt.pipeline.engine import _Compiler

__all__ = [
    "EWMA",
    "EWMSTD",
    "RSI",
    "VWAP",
    "AnnualizedVolatility",
    "AverageDollarVolume",
    "BollingerBands",
    "CustomFactor",
    "DailyReturns",
    "ExponentialWeightedMovingAverage",
    "ExponentialWeightedMovingStdDev",
    "Factor",
    "Latest",
    "LinearWeightedMovingAverage",
    "MaxDrawdown",
    "PercentChange",
    "Returns",
    "SimpleMovingAverage",
    "WeightedAverageValue",
]


def _mean(w: int):  # type: ignore[no-untyped-def]
    return lambda e: e.rolling_mean(w, min_samples=1)


def _sum(w: int):  # type: ignore[no-untyped-def]
    return lambda e: e.rolling_sum(w, min_samples=1)


class Latest(CustomFactor):
    """The most recent value of ``inputs[0]`` (what ``column.latest`` returns)."""

    window_length = 1
    window_safe = True

    def compute(self, today: Any, assets: Any, out: Any, data: Any) -> None:
        out[:] = data[-1]

    _builtin_compute = compute

    def _polars(self, ctx: _Compiler, inputs: Sequence[pl.Expr]) -> pl.Expr:
        return inputs[0]


class Returns(CustomFactor):
    """``(close[-1] - close[0]) / close[0]`` over ``window_length`` closes (at least 2)."""

    inputs = (EquityPricing.close,)
    window_safe = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.window_length < 2:
            raise ValueError(
                f"Returns expected a window length of at least 2, got {self.window_length}; "
                "for daily returns use window_length=2"
            )

    def compute(self, today: Any, assets: Any, out: Any, close: Any) -> None:
        out[:] = (close[-1] - close[0]) / close[0]

    _builtin_compute = compute

    def _polars(self, ctx: _Compiler, inputs: Sequence[pl.Expr]) -> pl.Expr:
        old = shifted(inputs[0], self.window_length - 1)
        return (inputs[0] - old) / old


class DailyReturns(Returns):
    """Returns over two closes."""

    window_length = 2


class PercentChange(CustomFactor):
    """``(new - old) / abs(old)`` over the window."""

    window_safe = True

    def compute(self, today: Any, assets: Any, out: Any, values: Any) -> None:
        out[:] = (values[-1] - values[0]) / abs(values[0])

    _builtin_compute = compute

    def _polars(self, ctx: _Compiler, inputs: Sequence[pl.Expr]) -> pl.Expr:
        old = shifted(inputs[0], self.window_length - 1)
        return (inputs[0] - old) / old.abs()


class SimpleMovingAverage(CustomFactor):
    """Mean of the window, skipping NaN (``nanmean``)."""

    def compute(self, today: Any, assets: Any, out: Any, data: Any) -> None:
        out[:] = np.nanmean(data, axis=0)

    _builtin_compute = compute

    def _polars(self, ctx: _Compiler, inputs: Sequence[pl.Expr]) -> pl.Expr:
        return rolling(inputs[0], self.window_length, _mean(self.window_length))


class WeightedAverageValue(CustomFactor):
    """``nansum(base * weight) / nansum(weight)`` over the window."""

    def compute(self, today: Any, assets: Any, out: Any, base: Any, weight: Any) -> None:
        out[:] = np.nansum(base * weight, axis=0) / np.nansum(weight, axis=0)

    _builtin_compute = compute

    def _polars(self, ctx: _Compiler, inputs: Sequence[pl.Expr]) -> pl.Expr:
        w = self.window_length
        base, weight = inputs
        # two separate nansums, as numpy: a weight whose base is NaN still counts below
        num = rolling(base * weight, w, lambda e: e.rolling_sum(w, min_samples=1).fill_null(0.0))
        den = rolling(weight, w, lambda e: e.rolling_sum(w, min_samples=1).fill_null(0.0))
        return num / den


class VWAP(WeightedAverageValue):
    """Volume-weighted average close over the window."""

    inputs = (EquityPricing.close, EquityPricing.volume)


class AverageDollarVolume(CustomFactor):
    """``nansum(close * volume) / window_length``."""

    inputs = (EquityPricing.close, EquityPricing.volume)

    def compute(self, today: Any, assets: Any, out: Any, close: Any, volume: Any) -> None:
        out[:] = np.nansum(close * volume, axis=0) / len(close)

    _builtin_compute = compute

    def _polars(self, ctx: _Compiler, inputs: Sequence[pl.Expr]) -> pl.Expr:
        w = self.window_length
        close, volume = inputs
        total = rolling(close * volume, w, lambda e: e.rolling_sum(w, min_samples=1).fill_null(0.0))
        return total / w


def exponential_weights(length: int, decay_rate: float) -> np.ndarray:
    """``[decay_rate ** length, ..., decay_rate ** 2, decay_rate]`` (oldest first)."""
    return np.full(length, decay_rate, np.float64) ** np.arange(length + 1, 1, -1)


class _ExponentialWeightedFactor(CustomFactor):
    params = ("decay_rate",)

    @classmethod
    def from_span(cls, inputs: Any, window_length: int, span: float, **kwargs: Any) -> Any:
        """``decay_rate = 1 - 2 / (1 + span)`` (pandas' ``span``)."""
        if span <= 1:
            raise ValueError(f"`span` must be a positive number. {span} was passed.")
        return cls(
            inputs=inputs,
            window_length=window_length,
            decay_rate=1.0 - (2.0 / (1.0 + span)),
            **kwargs,
        )

    @classmethod
    def from_halflife(cls, inputs: Any, window_length: int, halflife: float, **kwargs: Any) -> Any:
        """``decay_rate = exp(log(0.5) / halflife)``."""
        if halflife <= 0:
            raise ValueError(f"`halflife` must be a positive number. {halflife} was passed.")
        return cls(
            inputs=inputs,
            window_length=window_length,
            decay_rate=math.exp(math.log(0.5) / halflife),
            **kwargs,
        )

    @classmethod
    def from_center_of_mass(
        cls, inputs: Any, window_length: int, center_of_mass: float, **kwargs: Any
    ) -> Any:
        """``decay_rate = 1 - 1 / (1 + center_of_mass)``."""
        return cls(
            inputs=inputs,
            window_length=window_length,
            decay_rate=1.0 - (1.0 / (1.0 + center_of_mass)),
            **kwargs,
        )


class ExponentialWeightedMovingAverage(_ExponentialWeightedFactor):
    """Weighted mean with weights ``decay_rate ** k`` (k = 1 for the latest); NaN propagates."""

    def compute(self, today: Any, assets: Any, out: Any, data: Any, decay_rate: float) -> None:
        out[:] = np.average(data, axis=0, weights=exponential_weights(len(data), decay_rate))

    _builtin_compute = compute

    def _polars(self, ctx: _Compiler, inputs: Sequence[pl.Expr]) -> pl.Expr:
        w = self.window_length
        weights = exponential_weights(w, self.params["decay_rate"])
        total = float(weights.sum())
        # NaN (not null) inside the window propagates, as np.average does
        return rolling(
            inputs[0].fill_null(float("nan")),
            w,
            lambda e: e.rolling_sum(w, weights=weights.tolist()) / total,
        )


class ExponentialWeightedMovingStdDev(_ExponentialWeightedFactor):
    """Exponentially weighted standard deviation (bias-corrected, as Zipline)."""

    def compute(self, today: Any, assets: Any, out: Any, data: Any, decay_rate: float) -> None:
        weights = exponential_weights(len(data), decay_rate)
        mean = np.average(data, axis=0, weights=weights)
        variance = np.average((data - mean) ** 2, axis=0, weights=weights)
        squared_weight_sum = np.sum(weights) ** 2
        bias_correction = squared_weight_sum / (squared_weight_sum - np.sum(weights**2))
        out[:] = np.sqrt(variance * bias_correction)


EWMA = ExponentialWeightedMovingAverage
EWMSTD = ExponentialWeightedMovingStdDev


class LinearWeightedMovingAverage(CustomFactor):
    """Weights 1..n (latest heaviest), NaN counted as zero, as Zipline."""

    def compute(self, today: Any, assets: Any, out: Any, data: Any) -> None:
        ndays = data.shape[0]
        weights = np.arange(1, ndays + 1, dtype=np.float64).reshape(ndays, 1)
        out[:] = np.nansum(data * weights, axis=0) / ((ndays * (ndays + 1)) / 2)


class MaxDrawdown(CustomFactor):
    """Largest peak-to-trough fall in the window, relative to the trough (as Zipline)."""

    def compute(self, today: Any, assets: Any, out: Any, data: Any) -> None:
        drawdowns = np.fmax.accumulate(data, axis=0) - data
        drawdowns[np.isnan(drawdowns)] = -np.inf
        drawdown_ends = np.nanargmax(drawdowns, axis=0)
        for i, end in enumerate(drawdown_ends):
            peak = np.nanmax(data[: end + 1, i])
            out[i] = (peak - data[end, i]) / data[end, i]


class RSI(CustomFactor):
    """Relative strength index: ``100 - 100 / (1 + up / down)`` of mean daily moves."""

    window_length = 15
    inputs = (EquityPricing.close,)
    window_safe = True

    def compute(self, today: Any, assets: Any, out: Any, closes: Any) -> None:
        diffs = np.diff(closes, axis=0)
        ups = np.nanmean(np.clip(diffs, 0, np.inf), axis=0)
        downs = abs(np.nanmean(np.clip(diffs, -np.inf, 0), axis=0))
        out[:] = 100 - (100 / (1 + (ups / downs)))

    _builtin_compute = compute

    def _polars(self, ctx: _Compiler, inputs: Sequence[pl.Expr]) -> pl.Expr:
        w = self.window_length
        diffs = inputs[0] - shifted(inputs[0], 1)
        ups = rolling(diffs.clip(lower_bound=0.0), w, _mean(w - 1))
        downs = rolling(diffs.clip(upper_bound=0.0), w, _mean(w - 1)).abs()
        return 100 - (100 / (1 + (ups / downs)))


class BollingerBands(CustomFactor):
    """``middle`` = mean, ``upper``/``lower`` = middle ± k · std (population, NaN skipped)."""

    params = ("k",)
    inputs = (EquityPricing.close,)
    outputs = ("lower", "middle", "upper")

    def compute(self, today: Any, assets: Any, out: Any, close: Any, k: float) -> None:
        difference = k * np.nanstd(close, axis=0)
        out.middle = middle = np.nanmean(close, axis=0)
        out.upper = middle + difference
        out.lower = middle - difference

    _builtin_compute = compute

    def _polars(self, ctx: _Compiler, inputs: Sequence[pl.Expr]) -> Mapping[str, pl.Expr]:
        w = self.window_length
        middle = rolling(inputs[0], w, _mean(w))
        difference = self.params["k"] * rolling(
            inputs[0], w, lambda e: e.rolling_std(w, min_samples=1, ddof=0)
        )
        return {"lower": middle - difference, "middle": middle, "upper": middle + difference}


class AnnualizedVolatility(CustomFactor):
    """``nanstd(daily returns) * sqrt(annualization_factor)`` over the window."""

    inputs = (Returns(window_length=2),)
    params: ClassVar[Mapping[str, float]] = {"annualization_factor": 252.0}
    window_length = 252

    def compute(
        self, today: Any, assets: Any, out: Any, returns: Any, annualization_factor: float
    ) -> None:
        out[:] = np.nanstd(returns, axis=0) * (annualization_factor**0.5)

    _builtin_compute = compute

    def _polars(self, ctx: _Compiler, inputs: Sequence[pl.Expr]) -> pl.Expr:
        w = self.window_length
        factor = self.params["annualization_factor"] ** 0.5
        return rolling(inputs[0], w, lambda e: e.rolling_std(w, min_samples=1, ddof=0)) * factor
