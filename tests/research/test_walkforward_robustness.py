"""Walk-forward analysis on real backtests; robustness statistics against hand-computed
cases from the literature's formulas."""

from __future__ import annotations

import datetime as dt
import math
from statistics import NormalDist

import numpy as np
import pytest

from rbt.api.runner import run_backtest
from rbt.kernel.errors import ConfigError
from rbt.plugins.calendars import get_calendar
from rbt.research import optimize
from rbt.research.robustness import (
    bootstrap_returns,
    deflated_sharpe_from_returns,
    deflated_sharpe_ratio,
    expected_max_sharpe,
    max_drawdown,
    monte_carlo_trades,
    noise_injection,
    parameter_stability,
    pbo_cscv,
    probabilistic_sharpe_ratio,
)
from rbt.research.walkforward import walk_forward, windows

UNIVERSE = {"universe": "AAA,BBB,CCC,DDD,EEE"}
SPACE = {"fast": "int:5:15:5", "slow": "int:30:50:10"}


def test_windows_rolling_and_anchored():
    days = [dt.date(2020, 1, 1) + dt.timedelta(days=i) for i in range(10)]
    rolling = windows(days, 4, 3)
    assert rolling == [
        (days[0], days[3], days[4], days[6]),
        (days[3], days[6], days[7], days[9]),
    ]
    anchored = windows(days, 4, 2, anchored=True)
    assert [w[0] for w in anchored] == [days[0]] * 3
    assert [(w[1], w[2], w[3]) for w in anchored] == [
        (days[3], days[4], days[5]),
        (days[5], days[6], days[7]),
        (days[7], days[8], days[9]),
    ]
    with pytest.raises(ConfigError):
        windows(days, 8, 3)


@pytest.mark.parametrize("anchored", [False, True])
def test_walk_forward_stitches_out_of_sample_runs(home, example, anchored):
    wf = walk_forward(
        example,
        SPACE,
        start="2018-06-01",
        end="2019-06-28",
        in_sample=120,
        out_of_sample=60,
        anchored=anchored,
        home=home,
        params=UNIVERSE,
        objective="sharpe",
    )
    sessions = list(get_calendar("XNYS").sessions(dt.date(2018, 6, 1), dt.date(2019, 6, 28)))
    assert len(wf.windows) == math.ceil((len(sessions) - 120) / 60)
    assert wf.oos["session"].to_list() == sessions[120:]  # contiguous, no overlap
    first = wf.windows[0]
    # the in-sample winner is the best of an in-sample sweep ...
    sweep = optimize(
        example,
        SPACE,
        start=first["is_start"],
        end=first["is_end"],
        home=home,
        params=UNIVERSE,
        checkpoint=False,
    )
    assert first["params"] == sweep.best_params
    # ... and its out-of-sample leg is a plain backtest on the next window
    oos = run_backtest(
        example,
        start=first["oos_start"],
        end=first["oos_end"],
        home=home,
        params={**UNIVERSE, **first["params"]},
        write=False,
    )
    seg = wf.oos.filter(wf.oos["window"] == 0)
    assert seg["returns"].to_list() == oos.perf["returns"].to_list()
    assert first["oos_value"] == oos.metrics["sharpe"]
    equity = np.cumprod(1 + wf.oos["returns"].to_numpy())
    assert wf.oos["equity"].to_list() == pytest.approx(equity.tolist(), rel=1e-12)
    ann = equity[-1] ** (252 / len(equity)) - 1
    assert wf.oos_annual_return == pytest.approx(ann)
    is_mean = np.mean([w["is_annual_return"] for w in wf.windows])
    assert wf.efficiency == pytest.approx(ann / is_mean)
    if anchored:
        assert {w["is_start"] for w in wf.windows} == {sessions[0]}


def test_max_drawdown_and_trade_order_monte_carlo():
    assert max_drawdown(np.array([10, 11, 9, 12]))[0] == pytest.approx(9 / 11 - 1)
    mc = monte_carlo_trades([1.0, -2.0], capital=10.0, n=200, seed=1)
    # the final equity does not depend on the order; the drawdown does:
    # (+1, -2): 10 → 11 → 9, dd = 9/11 − 1; (−2, +1): 10 → 8 → 9, dd = −0.2
    assert mc["final_equity"] == {"p5": 9.0, "p50": 9.0, "p95": 9.0}
    assert mc["max_drawdown"]["p5"] == pytest.approx(-0.2)
    assert mc["max_drawdown"]["p95"] == pytest.approx(9 / 11 - 1)
    assert mc == monte_carlo_trades([1.0, -2.0], capital=10.0, n=200, seed=1)


def test_bootstrap_returns_bands():
    rng = np.random.default_rng(0)
    r = rng.normal(0.0005, 0.01, 500)
    bs = bootstrap_returns(r, capital=100.0, n=2000, seed=3)
    fe, dd = bs["final_equity"], bs["max_drawdown"]
    assert fe["p5"] < fe["p50"] < fe["p95"]
    assert dd["p5"] < dd["p50"] < dd["p95"] <= 0
    # the median of resampled final equity is near exp(T·mean log return) · capital
    assert fe["p50"] == pytest.approx(100 * math.exp(500 * np.mean(np.log1p(r))), rel=0.1)
    assert bs["observed_final_equity"] == pytest.approx(100 * np.prod(1 + r))
    assert bs == bootstrap_returns(r, capital=100.0, n=2000, seed=3)
    blocks = bootstrap_returns(r, capital=100.0, n=500, seed=3, block=20)
    assert blocks["block"] == 20
    # constant returns: every resample is the observed path
    flat = bootstrap_returns([0.01] * 10, n=50)
    assert flat["final_equity"]["p5"] == pytest.approx(1.01**10)


def test_noise_injection(home, example):
    common = {
        "start": "2018-06-01",
        "end": "2018-12-31",
        "home": home,
        "params": {**UNIVERSE, "fast": 5, "slow": 40},
        "n": 3,
        "seed": 4,
    }
    none = noise_injection(example, sigma=0.0, **common)
    assert none["values"] == [none["observed"]] * 3
    noisy = noise_injection(example, sigma=0.01, **common)
    assert noisy["observed"] == none["observed"]
    assert len(set(noisy["values"])) == 3
    assert noisy == noise_injection(example, sigma=0.01, **common)


def test_parameter_stability(home, example):
    sweep = optimize(
        example,
        {"fast": "int:5:15:5", "slow": "int:30:50:10"},
        home=home,
        params=UNIVERSE,
        start="2018-06-01",
        end="2018-12-31",
        checkpoint=False,
    )
    values = {(t["params"]["fast"], t["params"]["slow"]): t["value"] for t in sweep.trials}
    st = parameter_stability(sweep, {"fast": 10, "slow": 40})
    ring = [values[(f, s)] for f in (5, 10, 15) for s in (30, 40, 50) if (f, s) != (10, 40)]
    assert st["neighbours"] == 8
    assert st["score"] == pytest.approx(np.mean(ring) / values[(10, 40)])
    corner = parameter_stability(sweep, {"fast": 5, "slow": 30})
    assert corner["neighbours"] == 3
    best = parameter_stability(sweep)
    assert best["params"] == sweep.best_params


def test_deflated_sharpe_matches_bailey_lopez_de_prado_example():
    # Bailey & López de Prado (2014), "The Deflated Sharpe Ratio", numerical example:
    # annualized SR 2.5 over 5 years of daily data (T = 1250), N = 100 trials with an
    # annualized variance of Sharpe ratios of 0.5, skew −3, kurtosis 10 → SR₀ ≈ 0.1132
    # (per day) and DSR ≈ 0.9004.
    sr = 2.5 / math.sqrt(250)
    out = deflated_sharpe_ratio(
        sr, n_trials=100, var_sharpe=0.5 / 250, n_obs=1250, skew=-3, kurtosis=10
    )
    assert out["sr0"] == pytest.approx(0.1132, abs=5e-5)
    assert out["dsr"] == pytest.approx(0.9004, abs=5e-4)
    # by hand from the formulas
    g = 0.5772156649015329
    z = NormalDist().inv_cdf
    sr0 = math.sqrt(0.5 / 250) * ((1 - g) * z(1 - 1 / 100) + g * z(1 - 1 / (100 * math.e)))
    assert expected_max_sharpe(100, 0.5 / 250) == pytest.approx(sr0, rel=1e-12)
    stat = (sr - sr0) * math.sqrt(1249) / math.sqrt(1 + 3 * sr + 9 / 4 * sr**2)
    assert out["dsr"] == pytest.approx(NormalDist().cdf(stat), rel=1e-12)
    # PSR with normal returns reduces to Φ(SR √(T−1) / √(1 + SR²/2))
    assert probabilistic_sharpe_ratio(0.1, 0.0, 101) == pytest.approx(
        NormalDist().cdf(0.1 * 10 / math.sqrt(1 + 0.01 / 2))
    )
    # one trial: no deflation
    assert deflated_sharpe_ratio(0.1, 1, 0.0, 101)["dsr"] == pytest.approx(
        probabilistic_sharpe_ratio(0.1, 0.0, 101)
    )


def test_deflated_sharpe_from_returns():
    rng = np.random.default_rng(5)
    r = rng.normal(0.001, 0.01, 1000)
    out = deflated_sharpe_from_returns(r, [0.02, 0.05, 0.1, 0.01])
    assert out["sharpe"] == pytest.approx(r.mean() / r.std(ddof=1))
    assert out["n_trials"] == 4
    assert out["n_obs"] == 1000
    assert out["kurtosis"] == pytest.approx(3, abs=0.5)
    assert 0 <= out["dsr"] <= 1


def test_pbo_cscv_hand_computed_cases():
    mean = lambda m: m.mean(axis=0)  # noqa: E731
    # Two configurations that each win one half and lose the other: always overfit.
    swap = pbo_cscv([[1, 0], [0, 1]], n_splits=2, metric=mean)
    assert swap["pbo"] == 1.0
    assert swap["logits"] == pytest.approx([math.log(0.5)] * 2)  # ω = 1/3
    # A dominant configuration: never overfit, λ = ln((2/3)/(1/3)) = ln 2.
    dom = pbo_cscv([[1, 0], [2, 0]], n_splits=2, metric=mean)
    assert dom["pbo"] == 0.0
    assert dom["logits"] == pytest.approx([math.log(2)] * 2)
    # S = 4 blocks of one row, N = 2: the 6 in-sample halves, by hand:
    # {0,1}: IS 5 vs 2 → c0, OOS 2.5 vs 3.5 → overfit;  {0,2}: 4 vs 3.5 → c0, 3.5 vs 2 → ok
    # {0,3}: 4.5 vs 2 → c0, 3 vs 3.5 → overfit;         {1,2}: 3 vs 3.5 → c1, 2 vs 4.5 → overfit
    # {1,3}: 3.5 vs 2 → c0, 4 vs 3.5 → ok;              {2,3}: 2.5 vs 3.5 → c1, 2 vs 5 → overfit
    m = [[3, 1], [2, 1], [1, 2.5], [1.5, 1]]
    mixed = pbo_cscv(m, n_splits=4, metric=mean)
    assert mixed["combinations"] == 6
    assert mixed["pbo"] == pytest.approx(4 / 6)
    ln2 = math.log(2)
    assert mixed["logits"] == pytest.approx([-ln2, ln2, -ln2, -ln2, ln2, -ln2])
    # noise only: PBO near 1/2; a truly better configuration: PBO near 0
    rng = np.random.default_rng(9)
    noise = rng.normal(0, 0.01, (800, 20))
    assert 0.2 < pbo_cscv(noise, n_splits=8)["pbo"] < 0.8
    noise[:, 3] += 0.01
    assert pbo_cscv(noise, n_splits=8)["pbo"] == 0.0
    with pytest.raises(ConfigError):
        pbo_cscv(noise, n_splits=3)
