"""Return-based performance metrics over simple per-period returns (float64, NumPy).

Every function takes ``returns`` (simple, non-cumulative returns, one per
session) and, where it annualizes, ``periods_per_year`` (252 for exchange
calendars, 365 for 24/7 markets). Where empyrical-reloaded defines the metric
the formula is the same and results agree to 1e-9 relative / 1e-12 absolute
(tested); the conventions below replace empyrical's NaN/inf results so that
no report ever shows NaN and no metric raises a division error:

* **gaps**: a NaN return (a period without data) counts as a flat period, 0.0;
* **empty** input, or fewer observations than the statistic needs (2 for a
  standard deviation, a regression or a beta), gives 0.0;
* a ratio whose **denominator is zero** (no variation for Sharpe, no downside
  for Sortino, no drawdown for Calmar, no losing period for Omega, a zero 5th
  percentile for the tail ratio, a constant benchmark for beta) is 0.0;
* a run that loses everything (compounded growth <= 0) has an annual return of -1.0.

Imports NumPy: keep it off ``rbt --help``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "alpha_beta",
    "annual_return",
    "annual_volatility",
    "calmar_ratio",
    "clean_returns",
    "conditional_value_at_risk",
    "drawdown_series",
    "max_drawdown",
    "max_drawdown_duration",
    "monthly_returns",
    "omega_ratio",
    "percentile",
    "rolling_beta",
    "rolling_sharpe",
    "sharpe_ratio",
    "sortino_ratio",
    "stability_of_timeseries",
    "tail_ratio",
    "total_return",
    "value_at_risk",
]

Returns = npt.NDArray[np.float64]
#: Below this benchmark variance beta is undefined (empyrical's threshold).
_MIN_VARIANCE = 1.0e-30


def clean_returns(returns: npt.ArrayLike) -> Returns:
    """``returns`` as a 1-d float64 array with gaps (NaN) as flat periods (0.0)."""
    array = np.asarray(returns, dtype=np.float64).reshape(-1)
    if np.isnan(array).any():
        array = np.where(np.isnan(array), 0.0, array)
    return array


def _finite(value: Any) -> float:
    value = float(value)
    return value if math.isfinite(value) else 0.0


def total_return(returns: npt.ArrayLike) -> float:
    """Compounded return over the whole series."""
    r = clean_returns(returns)
    return float(np.prod(1.0 + r) - 1.0) if len(r) else 0.0


def annual_return(returns: npt.ArrayLike, periods_per_year: int) -> float:
    """Compound annual growth rate (empyrical's ``annual_return``/``cagr``)."""
    r = clean_returns(returns)
    if not len(r):
        return 0.0
    growth = float(np.prod(1.0 + r))
    if growth <= 0:
        return -1.0
    years = len(r) / periods_per_year
    try:
        return _finite(growth ** (1 / years) - 1)
    except OverflowError:  # a huge growth over a short run: undefined, reported as 0.0
        return 0.0


def annual_volatility(returns: npt.ArrayLike, periods_per_year: int) -> float:
    """Annualized sample standard deviation (ddof=1)."""
    r = clean_returns(returns)
    if len(r) < 2:
        return 0.0
    return _finite(_std(r) * periods_per_year ** (1.0 / 2.0))


def _std(r: Returns) -> float:
    # identical values have exactly zero deviation (not a ~1e-18 residue of the mean)
    if r.max() == r.min():
        return 0.0
    return float(np.std(r, ddof=1))


def sharpe_ratio(returns: npt.ArrayLike, periods_per_year: int) -> float:
    """Annualized Sharpe ratio with a zero risk-free rate; 0.0 when returns do not vary."""
    r = clean_returns(returns)
    if len(r) < 2:
        return 0.0
    std = _std(r)
    if std == 0:
        return 0.0
    return _finite(np.mean(r) / std * np.sqrt(periods_per_year))


def downside_risk(returns: npt.ArrayLike, periods_per_year: int) -> float:
    """Annualized downside deviation below 0."""
    r = clean_returns(returns)
    if not len(r):
        return 0.0
    downside = np.clip(r, -np.inf, 0.0)
    return _finite(np.sqrt(np.mean(np.square(downside))) * np.sqrt(periods_per_year))


def sortino_ratio(returns: npt.ArrayLike, periods_per_year: int) -> float:
    """Annualized mean return over annualized downside deviation; 0.0 without downside."""
    r = clean_returns(returns)
    if len(r) < 2:
        return 0.0
    risk = downside_risk(r, periods_per_year)
    if risk == 0:
        return 0.0
    return _finite(np.mean(r) * periods_per_year / risk)


def drawdown_series(returns: npt.ArrayLike) -> Returns:
    """Drawdown of the compounded equity curve after each period (<= 0)."""
    r = clean_returns(returns)
    # anchored at 100 and scaled after the product, as empyrical does: with tiny returns
    # the rounding of the anchor decides the drawdown's low digits (and ratios built on it)
    equity = np.concatenate([[100.0], np.cumprod(1.0 + r) * 100.0])
    peaks = np.fmax.accumulate(equity)
    with np.errstate(divide="ignore", invalid="ignore"):
        drawdown = (equity - peaks) / peaks
    return np.nan_to_num(drawdown[1:], nan=0.0, posinf=0.0, neginf=-1.0)


def max_drawdown(returns: npt.ArrayLike) -> float:
    """Largest peak-to-trough fall of the compounded equity curve (negative, or 0.0)."""
    r = clean_returns(returns)
    return float(np.min(drawdown_series(r))) if len(r) else 0.0


def max_drawdown_duration(returns: npt.ArrayLike) -> float:
    """Longest time under water, in periods: from a peak until it is regained (or the end).

    A period counts when its equity is below the running peak; 0.0 if it never is.
    """
    underwater = drawdown_series(returns) < 0
    if not underwater.any():
        return 0.0
    # runs of periods under water: from each rise of the flag to its next fall
    edges = np.diff(np.concatenate(([0], underwater.view(np.int8), [0])))
    return float((np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)).max())


def calmar_ratio(returns: npt.ArrayLike, periods_per_year: int) -> float:
    """Annual return over the absolute max drawdown; 0.0 without a drawdown."""
    r = clean_returns(returns)
    worst = max_drawdown(r)
    if worst >= 0:
        return 0.0
    return _finite(annual_return(r, periods_per_year) / abs(worst))


def omega_ratio(returns: npt.ArrayLike) -> float:
    """Sum of gains over sum of losses (threshold 0); 0.0 without a losing period."""
    r = clean_returns(returns)
    gains = float(np.sum(r[r > 0.0]))
    losses = -float(np.sum(r[r < 0.0]))
    return _finite(gains / losses) if losses > 0 else 0.0


def percentile(values: Returns, q: float) -> float:
    """``float(np.percentile(values, q))`` (method "linear") for a non-empty 1-d float64
    array without NaN, bit for bit.

    Why not ``np.percentile``: its first call imports ``numpy.ma`` (≈ 50 ms, through
    ``np.unique``), inside every run's metrics. The steps are numpy's own: the virtual index
    ``(n - 1) · q / 100``, a partition at the same points, and its two-sided interpolation.
    """
    n = len(values)
    virtual = (n - 1) * (q / 100)
    below = math.floor(virtual)
    above = below + 1
    if virtual >= n - 1:  # at or past the top: numpy takes the last element for both sides
        below = above = -1
    # the same partition points as numpy's (sorted, unique; -1 is the last element): equal
    # values such as -0.0 and 0.0 then land where numpy puts them
    ordered = np.partition(values, sorted({0, -1, below, above}))
    low, high = float(ordered[below]), float(ordered[above])
    gamma = virtual - below
    diff = high - low
    if gamma >= 0.5:
        return high - diff * (1 - gamma)
    return low + diff * gamma


def tail_ratio(returns: npt.ArrayLike) -> float:
    """|95th percentile| over |5th percentile| of returns; 0.0 when the latter is 0."""
    r = clean_returns(returns)
    if not len(r):
        return 0.0
    low = abs(percentile(r, 5))
    return _finite(abs(percentile(r, 95)) / low) if low > 0 else 0.0


def stability_of_timeseries(returns: npt.ArrayLike) -> float:
    """R² of a linear fit to the cumulative log returns; 0.0 when undefined."""
    r = clean_returns(returns)
    if len(r) < 2 or (r <= -1.0).any():
        return 0.0
    y = np.cumsum(np.log1p(r))
    x = np.arange(len(y), dtype=np.float64)
    # scipy.stats.linregress's r (empyrical's implementation): population covariances
    ssxm, ssxym, _, ssym = np.cov(x, y, bias=True).flat
    if ssxm == 0 or ssym == 0:
        return 0.0
    rho = min(max(ssxym / math.sqrt(ssxm * ssym), -1.0), 1.0)
    return _finite(rho**2)


def value_at_risk(returns: npt.ArrayLike, cutoff: float = 0.05) -> float:
    """Historical VaR: the ``cutoff`` percentile of returns (a return, usually negative)."""
    r = clean_returns(returns)
    return percentile(r, 100 * cutoff) if len(r) else 0.0


def conditional_value_at_risk(returns: npt.ArrayLike, cutoff: float = 0.05) -> float:
    """Historical CVaR (expected shortfall): mean of the worst ``cutoff`` share of returns."""
    r = clean_returns(returns)
    if not len(r):
        return 0.0
    index = int((len(r) - 1) * cutoff)
    return float(np.mean(np.partition(r, index)[: index + 1]))


def alpha_beta(
    returns: npt.ArrayLike, benchmark: npt.ArrayLike, periods_per_year: int
) -> tuple[float, float]:
    """Annualized alpha and beta against ``benchmark`` (aligned, same length).

    beta = Cov(r, b) / Var(b) (population moments); alpha = (1 + mean(r - beta·b))^N - 1.
    A constant benchmark (variance < 1e-30) has beta 0.0, so alpha is the annualized mean.
    """
    r, b = clean_returns(returns), clean_returns(benchmark)
    if len(r) != len(b):
        raise ValueError(f"returns ({len(r)}) and benchmark ({len(b)}) are not aligned")
    if len(r) < 2:
        return 0.0, 0.0
    residual = b - np.mean(b)
    variance = float(np.mean(np.square(residual)))
    beta = float(np.mean(residual * r)) / variance if variance >= _MIN_VARIANCE else 0.0
    beta = _finite(beta)
    with np.errstate(over="ignore", invalid="ignore"):  # overflow: inf, reported as 0.0
        alpha = (np.mean(r - beta * b) + 1) ** periods_per_year - 1
    return _finite(alpha), beta


# -- series for the report ---------------------------------------------------------------
def rolling_sharpe(returns: npt.ArrayLike, window: int, periods_per_year: int) -> Returns:
    """Sharpe ratio over each trailing ``window`` (NaN before the first full window)."""
    r = clean_returns(returns)
    out = np.full(len(r), np.nan)
    for end in range(window, len(r) + 1):
        out[end - 1] = sharpe_ratio(r[end - window : end], periods_per_year)
    return out


def rolling_beta(returns: npt.ArrayLike, benchmark: npt.ArrayLike, window: int) -> Returns:
    """Beta over each trailing ``window`` (NaN before the first full window)."""
    r, b = clean_returns(returns), clean_returns(benchmark)
    out = np.full(len(r), np.nan)
    for end in range(window, len(r) + 1):
        out[end - 1] = alpha_beta(r[end - window : end], b[end - window : end], 252)[1]
    return out


def monthly_returns(
    sessions: Sequence[Any], returns: npt.ArrayLike
) -> dict[tuple[int, int], float]:
    """Compounded return of each (year, month) present in ``sessions`` (dates)."""
    r = clean_returns(returns)
    growth: dict[tuple[int, int], float] = {}
    for session, value in zip(sessions, r, strict=True):
        key = (session.year, session.month)
        growth[key] = growth.get(key, 1.0) * (1.0 + float(value))
    return {key: g - 1.0 for key, g in growth.items()}
