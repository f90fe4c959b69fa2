"""Parameter spaces, grid/random search, objectives, constraints, failed trials, resume."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sqlalchemy as sa

from rbt.data.db import open_database
from rbt.kernel.errors import ConfigError
from rbt.research import Categorical, Float, Int, optimize, parse_space, trial_id

UNIVERSE = {"universe": "AAA,BBB,CCC,DDD,EEE"}
WINDOW = {"start": "2018-06-01", "end": "2018-12-31"}


def fast_lt_slow(p):
    return p["fast"] < p["slow"]


def test_space_kinds_grid_and_sampling():
    space = parse_space(
        ["fast=int:5:30:5", "rate=float:0.001:1:log", "w=float:0:1:0.25", "mode=cat:a,b,3"]
    )
    assert space.params["fast"] == Int(5, 30, 5)
    assert space.params["rate"] == Float(0.001, 1.0, None, True)
    assert space.params["mode"] == Categorical(("a", "b", 3))
    assert space.params["fast"].grid(5) == [5, 10, 15, 20, 25, 30]
    assert space.params["w"].grid(5) == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert space.params["rate"].grid(4) == pytest.approx([0.001, 0.01, 0.1, 1.0])
    assert len(space.grid(4)) == 6 * 4 * 5 * 3
    rng = np.random.default_rng(7)
    draws = [space.sample(rng) for _ in range(2000)]
    assert all(5 <= d["fast"] <= 30 and d["fast"] % 5 == 0 for d in draws)
    rates = np.array([d["rate"] for d in draws])
    assert rates.min() >= 0.001
    assert rates.max() <= 1.0
    # log-uniform: about a third of the draws in each decade
    assert 0.28 < np.mean(rates < 0.01) < 0.39
    assert {d["mode"] for d in draws} == {"a", "b", 3}
    again = [space.sample(np.random.default_rng(7)) for _ in range(1)]
    assert again[0] == draws[0]
    # dict and object forms
    assert parse_space({"fast": {"type": "int", "low": 1, "high": 3}}).params["fast"] == Int(1, 3)
    assert parse_space({"k": ["x", "y"]}).params["k"] == Categorical(("x", "y"))


@pytest.mark.parametrize(
    ("spec", "name"),
    [
        (["fast=int:30:5"], "fast"),  # low > high
        (["ok=int:1:2", "slow=int:a:5"], "slow"),
        (["rate=float:0:1:log"], "rate"),  # log needs low > 0
        (["mode=cat:a,a"], "mode"),
        (["p=date:1:2"], "p"),
        (["fast=int:1:5:0"], "fast"),  # step 0
        (["fast=int:1"], "fast"),
        (["x=float:1:nan"], "x"),
    ],
)
def test_invalid_space_names_the_parameter(spec, name):
    with pytest.raises(ConfigError, match=f"'{name}'"):
        parse_space(spec)


def test_invalid_space_rejected_before_any_trial(home, example):
    for space in (["fast=int:30:5", "slow=int:40:60"], ["fast=int:5:10", "nope=int:1:2"]):
        with pytest.raises(ConfigError, match=r"fast|nope"):
            optimize(example, space, home=home, params=UNIVERSE, **WINDOW)
    engine = open_database(home)
    with engine.connect() as conn:
        assert conn.execute(sa.text("select count(*) from trials")).scalar() == 0
        assert conn.execute(sa.text("select count(*) from sweeps")).scalar() == 0


def test_grid_search_table_best_constraints_and_trial_ids(home, example):
    res = optimize(
        example,
        {"fast": "int:5:20:5", "slow": "int:20:50:10"},
        home=home,
        params=UNIVERSE,
        constraints=[fast_lt_slow],
        objective="sharpe",
        **WINDOW,
    )
    table = res.table
    assert res.ran == len(table) == 15  # 4 x 4 = 16 minus fast=20/slow=20
    assert set(table.columns) >= {"trial_id", "number", "status", "value", "fast", "slow", "sharpe"}
    assert (table["fast"] < table["slow"]).all()
    assert table["status"].to_list() == ["ok"] * 15
    assert table["value"].to_list() == table["sharpe"].to_list()
    for row in table.iter_rows(named=True):
        assert row["trial_id"] == trial_id(res.sweep_id, {"fast": row["fast"], "slow": row["slow"]})
    best = res.best(3)
    assert [b["value"] for b in best] == sorted(table["value"].to_list(), reverse=True)[:3]
    assert res.best_params == best[0]["params"]
    # a real backtest with the best parameters gives the recorded metric
    from rbt.api.runner import run_backtest

    check = run_backtest(
        example, params={**UNIVERSE, **res.best_params}, home=home, write=False, **WINDOW
    )
    assert check.metrics["sharpe"] == best[0]["value"]


def test_objective_function_and_minimize(home, example):
    space = {"fast": "int:5:15:5", "slow": "int:30:40:10"}
    common = dict(home=home, params=UNIVERSE, checkpoint=False, **WINDOW)
    low_dd = optimize(example, space, objective="max_drawdown", direction="minimize", **common)
    assert low_dd.best(1)[0]["value"] == min(low_dd.table["max_drawdown"].to_list())

    def ret_over_dd(m):
        return m["total_return"] / abs(m["max_drawdown"])

    custom = optimize(example, space, objective=ret_over_dd, **common)
    for row in custom.table.iter_rows(named=True):
        assert row["value"] == pytest.approx(row["total_return"] / abs(row["max_drawdown"]))
    assert custom.best(1)[0]["value"] == max(custom.table["value"].to_list())


def test_random_search_is_seeded(home, example):
    space = {"fast": "int:3:30", "slow": "int:31:120:log"}
    common = {
        "home": home,
        "params": UNIVERSE,
        "search": "random",
        "trials": 6,
        "checkpoint": False,
    }
    a = optimize(example, space, seed=1, **common, **WINDOW)
    b = optimize(example, space, seed=1, **common, **WINDOW)
    c = optimize(example, space, seed=2, **common, **WINDOW)
    assert a.table.equals(b.table)
    pa = [t["params"] for t in a.trials]
    assert pa != [t["params"] for t in c.trials]
    assert all(3 <= p["fast"] <= 30 and 31 <= p["slow"] <= 120 for p in pa)


def test_failed_trial_is_recorded_with_traceback_and_sweep_goes_on(home, flaky):
    res = optimize(flaky, {"x": "int:1:5"}, home=home, objective="total_return", **WINDOW)
    by_x = {t["params"]["x"]: t for t in res.trials}
    assert by_x[3]["status"] == "failed"
    assert "Traceback" in by_x[3]["error"]
    assert "x=3 is not allowed" in by_x[3]["error"]
    assert by_x[3]["value"] is None
    assert [by_x[x]["status"] for x in (1, 2, 4, 5)] == ["ok"] * 4
    assert len(res.failed) == 1
    assert res.best_params["x"] in (1, 2, 4, 5)
    # checkpointed too, with the traceback
    stored = {
        t["params"]["x"]: t
        for t in __import__("rbt.research.store", fromlist=["x"])
        .SweepStore(home)
        .trials(res.sweep_id)
        .values()
    }
    assert stored[3]["status"] == "failed"
    assert "x=3 is not allowed" in stored[3]["error"]


def test_rerun_resumes_from_checkpoint_without_running(home, example):
    space = {"fast": "int:5:15:5", "slow": "int:30:40:10"}
    first = optimize(example, space, home=home, params=UNIVERSE, **WINDOW)
    again = optimize(example, space, home=home, params=UNIVERSE, **WINDOW)
    assert (first.ran, first.resumed) == (6, 0)
    assert (again.ran, again.resumed) == (0, 6)
    assert again.sweep_id == first.sweep_id
    assert again.table.equals(first.table)
    other = optimize(example, space, home=home, params=UNIVERSE, seed=5, **WINDOW)
    assert other.sweep_id != first.sweep_id
    assert other.ran == 6


def test_early_stopping(home, example):
    res = optimize(
        example,
        {"fast": "int:2:40", "slow": "int:50:50"},
        home=home,
        params=UNIVERSE,
        batch_size=1,
        early_stopping=3,
        checkpoint=False,
        **WINDOW,
    )
    assert len(res.trials) < 39
    values = [t["value"] for t in res.trials]
    best_at = int(np.argmax(values))
    assert len(values) - 1 - best_at == 3
    assert all(math.isfinite(v) for v in values)


def test_expression_objective_reads_any_metric(home, example):
    from rbt.research.sweep import Expression

    res = optimize(
        example,
        {"fast": "int:5:10:5", "slow": "int:30:30"},
        home=home,
        params=UNIVERSE,
        objective=Expression("calmar + abs(min(cvar, 0))"),
        checkpoint=False,
        **WINDOW,
    )
    for t in res.trials:
        m = t["metrics"]
        assert t["value"] == m["calmar"] + abs(min(m["cvar"], 0))
