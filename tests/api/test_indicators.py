"""Precomputed indicators (rbt.api.indicators): point in time, causal, exact sums."""

from __future__ import annotations

import numpy as np
import pytest

from rbt.api.algorithm import TradingAlgorithm
from rbt.api.indicators import indicator, sma
from rbt.kernel.errors import RbtError

from .conftest import AAA, BBB, SESSIONS


class Reader(TradingAlgorithm):
    """Reads indicators every bar and keeps what it saw."""

    def __init__(self, build):
        super().__init__()
        self.build = build
        self.seen = []

    def initialize(self, context):
        self.ind = self.build(context)

    def handle_data(self, context, data):
        closes = data.history([AAA, BBB], "close", 3, "1d", frame="numpy")
        self.seen.append((self.ind.current.copy(), closes.sum(axis=0) / 3, self.ind.window(2)))


def test_an_indicator_row_is_the_history_window_sum_at_every_bar(run) -> None:
    strategy = Reader(lambda context: indicator(sma, "close", [AAA, BBB], 3))
    run(strategy)
    assert len(strategy.seen) == len(SESSIONS)
    for k, (current, from_history, window) in enumerate(strategy.seen):
        np.testing.assert_array_equal(current, from_history)  # NaN before bar 3 in both
        assert window.shape == (2, 2)
        np.testing.assert_array_equal(window[-1], current)
        if k == 0:
            assert np.isnan(window[0]).all()  # padded before the first bar


def test_a_single_asset_indicator_is_one_dimensional(run) -> None:
    strategy = Reader(lambda context: indicator(lambda c: c * 2, "close", AAA, name="twice"))
    run(strategy)
    current = strategy.seen[5][0]
    assert current.shape == ()
    assert float(current) == 2 * (100.0 + 0.5 * 5)


def test_an_indicator_that_looks_ahead_is_refused(run) -> None:
    def future_mean(closes):
        return np.broadcast_to(closes.mean(axis=0), closes.shape)

    strategy = Reader(lambda context: indicator(future_mean, "close", [AAA, BBB]))
    with pytest.raises(RbtError, match="looks ahead"):
        run(strategy)


def test_a_result_of_the_wrong_shape_is_refused(run) -> None:
    strategy = Reader(lambda context: indicator(lambda c: c[:-1], "close", [AAA, BBB]))
    with pytest.raises(RbtError, match="expected an array of shape"):
        run(strategy)


def test_an_indicator_is_read_only_and_needs_a_running_algorithm() -> None:
    with pytest.raises(RbtError, match="inside a running algorithm"):
        indicator(sma, "close", [AAA], 3)
    values = sma(np.arange(6, dtype=float).reshape(6, 1), 3)
    assert np.isnan(values[:2]).all()
    np.testing.assert_array_equal(values[2:, 0], [1.0, 2.0, 3.0, 4.0])
