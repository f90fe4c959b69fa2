"""Built-in METRIC providers (the implementations live in :mod:`rbt.analytics`).

Each provider's factory is ``f(inputs: MetricInputs) -> float`` (see
:mod:`rbt.analytics.metrics`); factories are given as text so registering
them imports nothing heavy. ``rbt run`` computes every registered metric
unless ``run_backtest(metrics=[...])`` picks some.

:func:`summary` keeps the returns-only entry point: ``summary(returns, 252)``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from rbt.kernel import hookimpl
from rbt.kernel.registry import Provider, ProviderKind

__all__ = ["METRICS", "summary"]

#: name → (attribute of :mod:`rbt.analytics.metrics`, summary), in display order.
METRICS: dict[str, tuple[str, str]] = {
    "total_return": ("total_return", "compounded return over the run"),
    "cagr": ("annual_return", "compound annual growth rate (annual return)"),
    "annual_return": ("annual_return", "compound annual growth rate (empyrical's name)"),
    "annual_volatility": ("annual_volatility", "annualized standard deviation of returns"),
    "sharpe": ("sharpe", "annualized Sharpe ratio, risk-free rate 0"),
    "sortino": ("sortino", "annualized Sortino ratio, required return 0"),
    "calmar": ("calmar", "annual return over max drawdown"),
    "omega": ("omega", "Omega ratio, threshold 0"),
    "tail_ratio": ("tail_ratio", "95th over 5th percentile of returns (absolute)"),
    "stability": ("stability", "R² of a line fit to cumulative log returns"),
    "max_drawdown": ("max_drawdown", "largest peak-to-trough fall"),
    "max_drawdown_duration": ("max_drawdown_duration", "longest time under water, in sessions"),
    "alpha": ("alpha", "annualized alpha vs the benchmark (0 without one)"),
    "beta": ("beta", "beta vs the benchmark (0 without one)"),
    "var": ("value_at_risk", "historical 95 % value at risk of a session's return"),
    "cvar": ("conditional_value_at_risk", "historical 95 % expected shortfall"),
    "turnover": ("turnover", "annualized traded notional over portfolio value"),
    "exposure": ("exposure", "mean gross exposure over portfolio value"),
    "net_exposure": ("net_exposure", "mean net exposure over portfolio value"),
    "time_in_market": ("time_in_market", "share of sessions with an open position"),
    "trades": ("trades", "number of fills"),
    "round_trips": ("round_trips_count", "closed FIFO round trips"),
    "win_rate": ("win_rate", "share of round trips with a profit"),
    "profit_factor": ("profit_factor", "gross profit over gross loss of round trips"),
    "expectancy": ("expectancy", "mean P&L per round trip"),
    "avg_holding_days": ("avg_holding_days", "mean holding time of round trips, days"),
}


def summary(returns: Any, periods_per_year: int) -> dict[str, float]:
    """Every built-in metric that needs only ``returns`` (no books, no benchmark)."""
    from rbt.analytics.metrics import MetricInputs, compute_metrics

    names = [
        "total_return", "cagr", "annual_volatility", "sharpe", "sortino", "calmar", "omega",
        "tail_ratio", "stability", "max_drawdown", "max_drawdown_duration", "var", "cvar",
    ]  # fmt: skip
    return compute_metrics(MetricInputs(returns, periods_per_year), names)


@hookimpl
def rbt_register_metrics() -> Iterator[Provider]:
    """Register the built-in metrics."""
    for name, (attr, text) in METRICS.items():
        yield Provider(
            kind=ProviderKind.METRIC,
            name=name,
            factory=f"rbt.analytics.metrics:{attr}",
            summary=text,
        )
