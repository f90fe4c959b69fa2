"""Built-in summary metrics over daily returns (floats, NumPy).

Each metric is ``f(returns, periods_per_year) -> float`` over simple per-
session returns. Sharpe and volatility use the sample standard deviation
(ddof=1) with a zero risk-free rate, as empyrical does; annualization uses
252 periods for exchange calendars and 365 for 24/7 markets. A run with no
variation has Sharpe 0 rather than a division error.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import numpy as np
import numpy.typing as npt

from rbt.kernel import hookimpl
from rbt.kernel.registry import Provider, ProviderKind

__all__ = ["METRICS", "summary"]

Returns = npt.NDArray[np.float64]


def total_return(returns: Returns, periods_per_year: int) -> float:
    """Compounded return over the whole run."""
    return float(np.prod(1.0 + returns) - 1.0) if len(returns) else 0.0


def cagr(returns: Returns, periods_per_year: int) -> float:
    """Compound annual growth rate."""
    if not len(returns):
        return 0.0
    growth = float(np.prod(1.0 + returns))
    if growth <= 0:
        return -1.0
    return growth ** (periods_per_year / len(returns)) - 1.0


def annual_volatility(returns: Returns, periods_per_year: int) -> float:
    """Annualized standard deviation of returns."""
    if len(returns) < 2:
        return 0.0
    return float(np.std(returns, ddof=1) * math.sqrt(periods_per_year))


def sharpe_ratio(returns: Returns, periods_per_year: int) -> float:
    """Annualized Sharpe ratio (risk-free rate 0); 0 when returns do not vary."""
    if len(returns) < 2:
        return 0.0
    std = float(np.std(returns, ddof=1))
    if std == 0 or not math.isfinite(std):
        return 0.0
    return float(np.mean(returns) / std * math.sqrt(periods_per_year))


def max_drawdown(returns: Returns, periods_per_year: int) -> float:
    """Largest peak-to-trough fall of the compounded equity curve (negative or 0)."""
    if not len(returns):
        return 0.0
    equity = np.cumprod(1.0 + returns)
    peaks = np.maximum.accumulate(np.concatenate([[1.0], equity]))[1:]
    return float(np.min(equity / peaks - 1.0))


METRICS: dict[str, tuple[Callable[[Returns, int], float], str]] = {
    "total_return": (total_return, "compounded return over the run"),
    "cagr": (cagr, "compound annual growth rate"),
    "annual_volatility": (annual_volatility, "annualized standard deviation of returns"),
    "sharpe": (sharpe_ratio, "annualized Sharpe ratio, risk-free rate 0"),
    "max_drawdown": (max_drawdown, "largest peak-to-trough fall"),
}


def summary(returns: Returns, periods_per_year: int) -> dict[str, float]:
    """Every built-in metric of ``returns``."""
    return {name: func(returns, periods_per_year) for name, (func, _) in METRICS.items()}


@hookimpl
def rbt_register_metrics() -> Iterator[Provider]:
    """Register the built-in summary metrics."""
    for name, (func, text) in METRICS.items():
        yield Provider(kind=ProviderKind.METRIC, name=name, factory=func, summary=text)
