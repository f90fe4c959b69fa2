"""Robustness statistics: is a backtest's result skill or luck?

* :func:`monte_carlo_trades` — reshuffle the order of round-trip P&Ls: bands for the
  final equity (order-invariant) and the maximum drawdown (order-dependent).
* :func:`bootstrap_returns` — resample daily returns with replacement (optionally in
  blocks): bands for the final equity and the maximum drawdown.
* :func:`noise_injection` — rerun the strategy on prices perturbed by seeded noise.
* :func:`parameter_stability` — the objective around a point of a grid sweep relative
  to the point (1: a plateau; near 0 or negative: a lucky spike).
* :func:`deflated_sharpe_ratio` / :func:`probabilistic_sharpe_ratio` /
  :func:`expected_max_sharpe` — Bailey & López de Prado (2012, 2014).
* :func:`pbo_cscv` — probability of backtest overfitting by combinatorially symmetric
  cross-validation (Bailey, Borwein, López de Prado & Zhu, 2015).

Sharpe ratios here are per period (not annualized) unless stated.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from statistics import NormalDist
from typing import Any

import numpy as np

from rbt.kernel.errors import ConfigError

__all__ = [
    "EULER_GAMMA",
    "bootstrap_returns",
    "deflated_sharpe_ratio",
    "expected_max_sharpe",
    "max_drawdown",
    "monte_carlo_trades",
    "noise_injection",
    "parameter_stability",
    "pbo_cscv",
    "probabilistic_sharpe_ratio",
]

EULER_GAMMA = 0.5772156649015329
_N = NormalDist()
_BANDS = (5.0, 50.0, 95.0)


def max_drawdown(equity: np.ndarray) -> np.ndarray:
    """Largest peak-to-trough fall (≤ 0) of each row of ``equity`` (a fraction of the peak)."""
    eq = np.atleast_2d(np.asarray(equity, dtype=float))
    peak = np.maximum.accumulate(eq, axis=1)
    return (eq / peak - 1.0).min(axis=1)


def _bands(values: np.ndarray, bands: Sequence[float]) -> dict[str, float]:
    return {f"p{b:g}": float(np.percentile(values, b)) for b in bands}


def monte_carlo_trades(
    pnls: Sequence[float],
    *,
    capital: float,
    n: int = 1000,
    seed: int = 0,
    bands: Sequence[float] = _BANDS,
) -> dict[str, Any]:
    """Shuffle the order of trade P&Ls ``n`` times (seeded); equity starts at ``capital``."""
    p = np.asarray(pnls, dtype=float)
    if not len(p):
        raise ConfigError("monte_carlo_trades: no trades")
    rng = np.random.default_rng(seed)
    orders = np.array([rng.permutation(len(p)) for _ in range(n)])
    paths = capital + np.cumsum(p[orders], axis=1)
    paths = np.concatenate([np.full((n, 1), capital), paths], axis=1)
    dd = max_drawdown(paths)
    return {
        "n": n,
        "trades": len(p),
        "final_equity": _bands(paths[:, -1], bands),
        "max_drawdown": _bands(dd, bands),
        "observed_max_drawdown": float(max_drawdown(capital + np.r_[0.0, np.cumsum(p)])[0]),
    }


def bootstrap_returns(
    returns: Sequence[float],
    *,
    capital: float = 1.0,
    n: int = 1000,
    seed: int = 0,
    block: int = 1,
    bands: Sequence[float] = _BANDS,
) -> dict[str, Any]:
    """Resample returns with replacement (blocks of ``block`` consecutive returns)."""
    r = np.asarray(returns, dtype=float)
    if len(r) < 2:
        raise ConfigError("bootstrap_returns: need at least 2 returns")
    if block < 1:
        raise ConfigError("bootstrap_returns: block must be >= 1")
    rng = np.random.default_rng(seed)
    t = len(r)
    starts = rng.integers(0, t - block + 1, size=(n, math.ceil(t / block)))
    idx = (starts[:, :, None] + np.arange(block)[None, None, :]).reshape(n, -1)[:, :t]
    paths = capital * np.cumprod(1.0 + r[idx], axis=1)
    paths = np.concatenate([np.full((n, 1), capital), paths], axis=1)
    return {
        "n": n,
        "block": block,
        "final_equity": _bands(paths[:, -1], bands),
        "max_drawdown": _bands(max_drawdown(paths), bands),
        "observed_final_equity": float(capital * np.prod(1.0 + r)),
        "observed_max_drawdown": float(max_drawdown(capital * np.r_[1.0, np.cumprod(1.0 + r)])[0]),
    }


def noisy_bars(bars: Any, sigma: float, rng: np.random.Generator) -> Any:
    """``bars`` with each OHLC price times ``1 + N(0, sigma)`` (one draw per bar and asset,
    shared by its four prices, so the bar keeps its shape: low ≤ open, close ≤ high)."""
    import attrs

    shock = 1.0 + rng.normal(0.0, sigma, size=bars.floats["close"].shape)
    shock = np.maximum(shock, 0.01)
    scale = np.power(10.0, bars.price_scales)[None, :]
    floats = dict(bars.floats)
    mantissas = dict(bars.mantissas)
    for field in ("open", "high", "low", "close"):
        noisy = bars.floats[field] * shock
        exact = np.where(np.isnan(noisy), 0, np.round(np.nan_to_num(noisy) * scale)).astype(
            np.int64
        )
        mantissas[field] = exact
        floats[field] = np.where(np.isnan(noisy), np.nan, exact / scale)
    return attrs.evolve(bars, floats=floats, mantissas=mantissas)


def noise_injection(
    strategy: Any,
    *,
    start: Any,
    end: Any,
    sigma: float = 0.005,
    n: int = 10,
    seed: int = 0,
    metric: str = "sharpe",
    bars: Any = None,
    bundle: str = "demo",
    home: Any = None,
    params: Mapping[str, Any] | None = None,
    bands: Sequence[float] = _BANDS,
    **backtest: Any,
) -> dict[str, Any]:
    """Rerun ``strategy`` on ``n`` noisy copies of the prices; the metric's distribution."""
    from rbt.api.runner import run_backtest
    from rbt.data.home import RbtHome

    if sigma < 0:
        raise ConfigError("noise_injection: sigma must be >= 0")
    h = home if isinstance(home, RbtHome) else RbtHome(home) if home is not None else RbtHome()
    if bars is None:
        from rbt.research.worker import _bars

        bars = _bars(str(h.root), bundle)[0]
    common = dict(
        start=start,
        end=end,
        home=h,
        params=params,
        write=False,
        metrics=[metric],
        bundle=bundle,
        **backtest,
    )
    base = run_backtest(strategy, bars=bars, **common).metrics[metric]
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(n):
        values.append(
            float(
                run_backtest(strategy, bars=noisy_bars(bars, sigma, rng), **common).metrics[metric]
            )
        )
    arr = np.asarray(values)
    return {
        "metric": metric,
        "sigma": sigma,
        "n": n,
        "observed": float(base),
        "values": values,
        "bands": _bands(arr, bands),
        "share_below_observed": float(np.mean(arr < base)),
    }


def parameter_stability(
    sweep: Any,
    params: Mapping[str, Any] | None = None,
    *,
    radius: int = 1,
    grid_points: int = 5,
) -> dict[str, Any]:
    """Mean objective of the grid neighbours of ``params`` (default: the best trial) over its
    own objective. Neighbours: every finished trial within ``radius`` grid steps on each
    numeric axis and equal on each categorical one, the point itself excluded."""
    from rbt.research.space import Categorical

    space = sweep.space
    ok = [t for t in sweep.trials if t["status"] == "ok" and t["value"] is not None]
    if params is None:
        best = sweep.best(1)
        if not best:
            raise ConfigError("parameter_stability: no finished trial")
        params = best[0]["params"]
    center = next((t for t in ok if t["params"] == dict(params)), None)
    if center is None:
        raise ConfigError(f"parameter_stability: no finished trial with {dict(params)}")
    axes = {name: p.grid(grid_points) for name, p in space.params.items()}

    def index(name: str, value: Any) -> int:
        values = axes[name]
        if value in values:
            return values.index(value)
        return int(np.argmin([abs(v - value) for v in values]))

    neighbours = []
    for t in ok:
        if t is center:
            continue
        near = True
        for name, p in space.params.items():
            if isinstance(p, Categorical):
                near = t["params"][name] == params[name]
            else:
                near = abs(index(name, t["params"][name]) - index(name, params[name])) <= radius
            if not near:
                break
        if near:
            neighbours.append(t["value"])
    mean = float(np.mean(neighbours)) if neighbours else float("nan")
    value = center["value"]
    return {
        "params": dict(params),
        "value": value,
        "neighbours": len(neighbours),
        "neighbour_mean": mean,
        "neighbour_min": float(np.min(neighbours)) if neighbours else float("nan"),
        "score": mean / value if value else float("nan"),
    }


def expected_max_sharpe(n_trials: int, var_sharpe: float, mean_sharpe: float = 0.0) -> float:
    """E[max] of ``n_trials`` Sharpe ratios ~ N(mean, var): the false-strategy threshold
    (Bailey & López de Prado 2014, eq. of SR₀)."""
    if n_trials < 2:
        return mean_sharpe
    z1 = _N.inv_cdf(1.0 - 1.0 / n_trials)
    z2 = _N.inv_cdf(1.0 - 1.0 / (n_trials * math.e))
    return mean_sharpe + math.sqrt(var_sharpe) * ((1 - EULER_GAMMA) * z1 + EULER_GAMMA * z2)


def probabilistic_sharpe_ratio(
    sharpe: float, benchmark: float, n_obs: int, skew: float = 0.0, kurtosis: float = 3.0
) -> float:
    """P[true SR > ``benchmark``] (Bailey & López de Prado 2012). ``kurtosis`` is not excess."""
    if n_obs < 2:
        raise ConfigError("probabilistic_sharpe_ratio: need n_obs >= 2")
    denom = 1.0 - skew * sharpe + (kurtosis - 1.0) / 4.0 * sharpe**2
    if denom <= 0:
        raise ConfigError("probabilistic_sharpe_ratio: non-positive variance term")
    return _N.cdf((sharpe - benchmark) * math.sqrt(n_obs - 1) / math.sqrt(denom))


def deflated_sharpe_ratio(
    sharpe: float,
    n_trials: int,
    var_sharpe: float,
    n_obs: int,
    skew: float = 0.0,
    kurtosis: float = 3.0,
) -> dict[str, float]:
    """The deflated Sharpe ratio: the PSR against the expected maximum Sharpe of
    ``n_trials`` unskilled strategies whose Sharpe ratios vary with ``var_sharpe``."""
    sr0 = expected_max_sharpe(n_trials, var_sharpe)
    return {
        "sharpe": sharpe,
        "sr0": sr0,
        "dsr": probabilistic_sharpe_ratio(sharpe, sr0, n_obs, skew, kurtosis),
    }


def deflated_sharpe_from_returns(
    returns: Sequence[float], trial_sharpes: Sequence[float]
) -> dict[str, float]:
    """DSR of ``returns`` (per-period Sharpe, sample skew and kurtosis) given the
    per-period Sharpe ratios of every trial tried."""
    r = np.asarray(returns, dtype=float)
    sd = r.std(ddof=1)
    sr = float(r.mean() / sd) if sd > 0 else 0.0
    z = (r - r.mean()) / r.std(ddof=0)
    skew = float(np.mean(z**3))
    kurt = float(np.mean(z**4))
    srs = np.asarray(trial_sharpes, dtype=float)
    var = float(srs.var(ddof=1)) if len(srs) > 1 else 0.0
    out = deflated_sharpe_ratio(sr, max(1, len(srs)), var, len(r), skew, kurt)
    out.update(skew=skew, kurtosis=kurt, var_sharpe=var, n_obs=len(r), n_trials=len(srs))
    return out


def _sharpe_columns(m: np.ndarray) -> np.ndarray:
    sd = m.std(axis=0, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(sd > 0, m.mean(axis=0) / sd, 0.0)


def pbo_cscv(
    performance: Any,
    n_splits: int = 16,
    metric: Callable[[np.ndarray], np.ndarray] = _sharpe_columns,
) -> dict[str, Any]:
    """Probability of backtest overfitting by CSCV.

    ``performance`` is a ``T × N`` matrix: returns of each of N configurations over T
    periods. Rows are cut into ``n_splits`` (even) blocks in order (the last ``T mod S``
    rows are dropped); for every choice of half the blocks as in-sample, the in-sample
    best configuration (by ``metric`` of the columns; first on ties) gets its relative
    out-of-sample rank ω = rank / (N + 1) and logit λ = ln(ω / (1 − ω)).
    PBO = share of λ ≤ 0.
    """
    m = np.asarray(performance, dtype=float)
    if m.ndim != 2 or m.shape[1] < 2:
        raise ConfigError("pbo_cscv: expected a T × N matrix with N >= 2 configurations")
    if n_splits < 2 or n_splits % 2:
        raise ConfigError("pbo_cscv: n_splits must be even and >= 2")
    t, n = m.shape
    size = t // n_splits
    if size < 1:
        raise ConfigError(f"pbo_cscv: {t} rows are fewer than {n_splits} splits")
    blocks = [m[i * size : (i + 1) * size] for i in range(n_splits)]
    logits = []
    for combo in itertools.combinations(range(n_splits), n_splits // 2):
        rest = [i for i in range(n_splits) if i not in combo]
        ins = metric(np.concatenate([blocks[i] for i in combo]))
        oos = metric(np.concatenate([blocks[i] for i in rest]))
        best = int(np.argmax(ins))
        rank = 1 + int(np.sum(oos < oos[best])) + 0.5 * int(np.sum(oos == oos[best]) - 1)
        omega = rank / (n + 1)
        logits.append(math.log(omega / (1.0 - omega)))
    lam = np.asarray(logits)
    return {
        "pbo": float(np.mean(lam <= 0)),
        "logits": logits,
        "combinations": len(logits),
        "n_splits": n_splits,
        "configurations": n,
    }
