"""``max_drawdown_duration`` counts runs of periods under water with array steps; the
result equals counting period by period."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from rbt.analytics import returns as R


def _by_period(returns: np.ndarray) -> float:
    longest = current = 0
    for flag in R.drawdown_series(returns) < 0:
        current = current + 1 if flag else 0
        longest = max(longest, current)
    return float(longest)


@given(
    st.lists(
        st.one_of(st.sampled_from([0.0, 0.01, -0.01, float("nan")]), st.floats(-0.5, 0.5)),
        max_size=80,
    )
)
@settings(max_examples=200, deadline=None)
def test_longest_run_under_water_equals_counting_period_by_period(values: list[float]) -> None:
    returns = np.array(values, dtype=np.float64)
    assert R.max_drawdown_duration(returns) == _by_period(returns)


def test_runs_at_the_start_and_at_the_end_count() -> None:
    assert R.max_drawdown_duration(np.array([-0.1, 0.0, 0.2, 0.1, -0.3, 0.0, 0.0])) == 3.0
    assert R.max_drawdown_duration(np.array([-0.1, -0.1, 0.5])) == 2.0
    assert R.max_drawdown_duration(np.array([])) == 0.0
