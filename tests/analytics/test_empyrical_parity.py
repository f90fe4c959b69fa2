"""Our return metrics equal empyrical-reloaded's on the same float64 returns.

Tolerance: 1e-9 relative or 1e-12 absolute. Where empyrical answers NaN or inf
(too few observations, a zero denominator), ours answers the documented finite
convention instead (0.0; -1.0 for the annual return of a wiped-out run).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import empyrical as ep
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rbt.analytics import returns as R

REL, ABS = 1e-9, 1e-12

Pair = tuple[Callable[[np.ndarray, int], float], Callable[[np.ndarray, int], float]]

#: metric → (ours, empyrical's), both f(returns, periods_per_year)
UNARY: dict[str, Pair] = {
    "total_return": (lambda r, p: R.total_return(r), lambda r, p: ep.cum_returns_final(r)),
    "annual_return": (R.annual_return, lambda r, p: ep.annual_return(r, annualization=p)),
    "cagr": (R.annual_return, lambda r, p: ep.cagr(r, annualization=p)),
    "annual_volatility": (
        R.annual_volatility,
        lambda r, p: ep.annual_volatility(r, annualization=p),
    ),
    "sharpe": (R.sharpe_ratio, lambda r, p: ep.sharpe_ratio(r, annualization=p)),
    "sortino": (R.sortino_ratio, lambda r, p: ep.sortino_ratio(r, annualization=p)),
    "downside_risk": (R.downside_risk, lambda r, p: ep.downside_risk(r, annualization=p)),
    "calmar": (R.calmar_ratio, lambda r, p: ep.calmar_ratio(r, annualization=p)),
    "omega": (lambda r, p: R.omega_ratio(r), lambda r, p: ep.omega_ratio(r, annualization=p)),
    "tail_ratio": (lambda r, p: R.tail_ratio(r), lambda r, p: ep.tail_ratio(r)),
    "stability": (
        lambda r, p: R.stability_of_timeseries(r),
        lambda r, p: ep.stability_of_timeseries(r),
    ),
    "max_drawdown": (lambda r, p: R.max_drawdown(r), lambda r, p: ep.max_drawdown(r)),
    "var": (lambda r, p: R.value_at_risk(r), lambda r, p: ep.value_at_risk(r)),
    "cvar": (
        lambda r, p: R.conditional_value_at_risk(r),
        lambda r, p: ep.conditional_value_at_risk(r),
    ),
}


def convention(name: str, theirs: float) -> float:
    # a wiped-out run (empyrical: NaN from a negative base) annualizes to -1; else 0.0
    return -1.0 if name in ("annual_return", "cagr") and math.isnan(theirs) else 0.0


def check(name: str, ours: float, theirs: float) -> None:
    assert isinstance(ours, float), (name, ours)
    assert math.isfinite(ours), (name, ours)
    theirs = float(theirs)
    if math.isfinite(theirs):
        assert math.isclose(ours, theirs, rel_tol=REL, abs_tol=ABS), (name, ours, theirs)
    else:
        assert ours == convention(name, theirs), (name, ours, theirs)


def check_all(r: np.ndarray, periods: int) -> None:
    for name, (ours, theirs) in UNARY.items():
        with np.errstate(all="ignore"):
            expected = theirs(r.copy(), periods)
        check(name, ours(r.copy(), periods), expected)


def check_alpha_beta(r: np.ndarray, b: np.ndarray, periods: int) -> None:
    with np.errstate(all="ignore"):
        alpha, beta = ep.alpha_beta_aligned(r.copy(), b.copy(), annualization=periods)
    ours_alpha, ours_beta = R.alpha_beta(r, b, periods)
    check("beta", ours_beta, beta)
    if math.isfinite(beta):
        check("alpha", ours_alpha, alpha)
    else:  # undefined beta: ours is 0, so alpha is the annualized mean return
        assert ours_alpha == pytest.approx((1 + np.mean(r)) ** periods - 1, rel=REL, abs=ABS)


@pytest.mark.parametrize("periods", [252, 365])
def test_real_spy_returns_whole_history(spy, periods: int) -> None:
    _, r = spy
    assert len(r) > 6000  # 1993-02-01 .. 2018-04-27, real daily data
    check_all(r, periods)


@pytest.mark.parametrize(
    ("start", "end"),
    [("2008-01-01", "2009-12-31"), ("2017-01-01", "2018-12-31"), ("1993-02-01", "1993-03-01")],
)
def test_real_spy_returns_by_period(spy, start: str, end: str) -> None:
    days, r = spy
    mask = np.array([start <= d.isoformat() <= end for d in days])
    check_all(r[mask], 252)


def test_alpha_beta_on_real_spy_returns(spy) -> None:
    _, spy_r = spy
    bench = spy_r[1:]
    blended = 0.6 * spy_r[1:] + 0.4 * spy_r[:-1]  # a lagged, real-data strategy
    for periods in (252, 365):
        check_alpha_beta(blended, bench, periods)
        half = len(spy_r) // 2  # two real, different stretches of the market
        check_alpha_beta(spy_r[:half], spy_r[half : 2 * half], periods)


def test_metrics_are_checked_at_all() -> None:
    # guard against a vacuous comparison: on real data empyrical answers finite numbers
    r = np.array([0.01, -0.02, 0.015, 0.003, -0.007, 0.02])
    for name, (_, theirs) in UNARY.items():
        assert math.isfinite(float(theirs(r, 252))), name


bps = st.integers(min_value=-2000, max_value=2000).map(lambda x: x / 10_000)
anything = st.floats(min_value=-0.5, max_value=0.5, allow_nan=False, width=64)
series = st.lists(st.one_of(bps, anything), min_size=0, max_size=300).map(np.array)


@settings(max_examples=300, deadline=None)
@given(r=series, periods=st.sampled_from([252, 365]))
def test_hypothesis_returns(r: np.ndarray, periods: int) -> None:
    r = r.astype(np.float64)
    if len(r) == 0:
        for name, (ours, _) in UNARY.items():
            assert ours(r, periods) == 0.0, name
        return
    check_all(r, periods)


@settings(max_examples=200, deadline=None)
@given(
    pairs=st.lists(st.tuples(bps, bps), min_size=0, max_size=200),
    periods=st.sampled_from([252, 365]),
)
def test_hypothesis_alpha_beta(pairs: list[tuple[float, float]], periods: int) -> None:
    r = np.array([p[0] for p in pairs], dtype=np.float64)
    b = np.array([p[1] for p in pairs], dtype=np.float64)
    if len(r) < 2:
        assert R.alpha_beta(r, b, periods) == (0.0, 0.0)
        return
    check_alpha_beta(r, b, periods)
