"""Hand-computed cases, and the documented conventions where a metric is undefined."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rbt.analytics import MetricInputs, compute_metrics
from rbt.analytics import returns as R
from rbt.kernel.errors import ConfigError
from rbt.kernel.registry import ProviderKind
from rbt.plugins import plugin_manager
from rbt.plugins.metrics import METRICS


def test_max_drawdown_and_its_duration_by_hand() -> None:
    # equity 1.1, 0.99, 1.0395, 1.14345, 0.91476: peaks 1.1 then 1.14345
    r = np.array([0.1, -0.1, 0.05, 0.1, -0.2])
    assert R.max_drawdown(r) == pytest.approx(-0.2)
    assert R.max_drawdown_duration(r) == 2.0  # 0.99 and 1.0395 are under 1.1
    assert R.max_drawdown_duration(np.array([0.01, -0.01, -0.01, -0.01])) == 3.0
    assert R.max_drawdown_duration(np.array([0.01, 0.02])) == 0.0


def test_simple_values_by_hand() -> None:
    r = np.array([0.01, -0.02, 0.03, 0.0])
    assert R.total_return(r) == pytest.approx(1.01 * 0.98 * 1.03 - 1)
    assert R.omega_ratio(r) == pytest.approx(0.04 / 0.02)
    assert R.value_at_risk(np.arange(1, 101) / 100) == pytest.approx(np.percentile(
        np.arange(1, 101) / 100, 5))  # fmt: skip
    # CVaR: the mean of the worst int((n-1)·5 %)+1 returns
    assert R.conditional_value_at_risk(np.arange(-10, 11) / 100) == pytest.approx(-0.095)
    assert R.annual_return(np.full(252, 0.001), 252) == pytest.approx(1.001**252 - 1)
    assert R.annual_return(np.full(365, 0.001), 365) == pytest.approx(1.001**365 - 1)


ZERO_CASES = {
    "empty": np.array([]),
    "one return": np.array([0.01]),
    "all zero": np.zeros(50),
    "constant": np.full(50, 0.001),
}


@pytest.mark.parametrize("case", list(ZERO_CASES))
def test_degenerate_returns_give_defined_values(case: str) -> None:
    r = ZERO_CASES[case]
    values = compute_metrics(MetricInputs(r, 252, benchmark=np.zeros(len(r))))
    assert set(values) == set(METRICS)
    assert all(isinstance(v, float) and math.isfinite(v) for v in values.values()), values
    assert values["sharpe"] == 0.0  # no variation: 0, not a division error
    assert values["sortino"] == 0.0  # no downside
    assert values["calmar"] == 0.0  # no drawdown
    assert values["beta"] == 0.0  # a constant benchmark
    assert values["max_drawdown"] == 0.0
    assert values["round_trips"] == values["win_rate"] == values["profit_factor"] == 0.0


def test_constant_positive_returns_alpha_is_the_annualized_mean() -> None:
    r = np.full(20, 0.001)
    alpha, beta = R.alpha_beta(r, np.zeros(20), 252)
    assert beta == 0.0
    assert alpha == pytest.approx(1.001**252 - 1)
    assert R.stability_of_timeseries(r) == pytest.approx(1.0)  # a straight line


def test_gaps_count_as_flat_periods() -> None:
    r = np.array([0.01, np.nan, -0.02, 0.03, np.nan, 0.005])
    filled = np.nan_to_num(r)
    assert compute_metrics(MetricInputs(r, 252)) == compute_metrics(MetricInputs(filled, 252))


def test_a_wiped_out_run_annualizes_to_minus_one() -> None:
    assert R.annual_return(np.array([0.1, -1.0, 0.2]), 252) == -1.0
    assert R.stability_of_timeseries(np.array([0.1, -1.0, 0.2])) == 0.0


def test_metric_selection_through_the_plugin_manager() -> None:
    manager = plugin_manager(autoload=False, strict=True)
    r = np.array([0.01, -0.02, 0.03])
    assert set(compute_metrics(MetricInputs(r), ["sharpe", "omega"], manager)) == {
        "sharpe", "omega"}  # fmt: skip
    assert set(manager.providers(ProviderKind.METRIC)) >= set(METRICS)
    with pytest.raises(Exception, match=r"unknown metric 'sharp'; choose one of: .*sharpe"):
        compute_metrics(MetricInputs(r), ["sharp"], manager)
    with pytest.raises(ConfigError, match="unknown metric 'sharp'"):
        compute_metrics(MetricInputs(r), ["sharp"])


def test_a_misaligned_benchmark_is_refused() -> None:
    with pytest.raises(ValueError, match="benchmark has 2 returns for 3 sessions"):
        MetricInputs(np.zeros(3), benchmark=np.zeros(2))
