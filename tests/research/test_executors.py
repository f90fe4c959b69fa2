"""Executors: in-process, a spawned process pool and a real Dask LocalCluster (2 worker
processes) give bit-identical sweeps; killed workers get their trials retried."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rbt.data.bars import bars_from_floats
from rbt.data.home import RbtHome
from rbt.data.ingest import ingest
from rbt.kernel.model import Asset
from rbt.kernel.registry import ProviderKind
from rbt.plugins import plugin_manager
from rbt.plugins.calendars import get_calendar
from rbt.research import optimize
from rbt.research.executors import DaskExecutor, InProcessExecutor, PoolExecutor

UNIVERSE = {"universe": "AAA,BBB,CCC,DDD,EEE"}
WINDOW = {"start": "2018-06-01", "end": "2018-12-31"}


@pytest.fixture(scope="module")
def pool():
    ex = PoolExecutor(workers=2)
    yield ex
    ex.close()


@pytest.fixture(scope="module")
def cluster():
    from dask.distributed import LocalCluster

    c = LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=":0",
        silence_logs=50,
    )
    yield c
    c.close()


@pytest.fixture(scope="module")
def dask_ex(cluster):
    ex = DaskExecutor(cluster.scheduler_address)
    yield ex
    ex.close()


def test_executors_are_providers():
    pm = plugin_manager()
    names = set(pm.providers(ProviderKind.EXECUTOR))
    assert {"local", "pool", "dask"} <= names
    assert isinstance(pm.get_provider(ProviderKind.EXECUTOR, "local").create(), InProcessExecutor)
    assert {"grid", "random", "bayes", "genetic"} <= set(pm.providers(ProviderKind.OPTIMIZER))


def _metrics(res):
    return [(t["trial_id"], t["params"], t["status"], t["value"], t["metrics"]) for t in res.trials]


def test_200_trial_grid_identical_in_process_pool_and_dask(home, example, pool, dask_ex):
    space = {"fast": "int:2:21", "slow": "int:30:120:10"}
    common = dict(home=home, params=UNIVERSE, checkpoint=False, **WINDOW)
    local = optimize(example, space, executor="local", **common)
    on_pool = optimize(example, space, executor=pool, **common)
    on_dask = optimize(example, space, executor=dask_ex, **common)
    assert len(local.trials) == 200
    assert all(t["status"] == "ok" for t in local.trials)
    assert _metrics(on_pool) == _metrics(local)
    assert _metrics(on_dask) == _metrics(local)
    assert on_pool.table.equals(local.table)
    # each worker process loaded the bundle once, then reused it for every later trial
    for res in (on_pool, on_dask):
        workers = {t["worker"] for t in res.trials}
        assert 1 <= len(workers) <= 2
        assert {t["bundle_loads"] for t in res.trials} == {1}


@pytest.mark.parametrize("search", ["bayes", "genetic", "random"])
def test_seeded_searches_identical_across_backends(home, example, pool, dask_ex, search):
    space = {"fast": "int:2:30", "slow": "int:31:120"}
    common = dict(
        home=home,
        params=UNIVERSE,
        checkpoint=False,
        search=search,
        trials=24,
        batch_size=8,
        seed=11,
        **WINDOW,
    )
    local = optimize(example, space, executor="local", **common)
    assert _metrics(optimize(example, space, executor=pool, **common)) == _metrics(local)
    assert _metrics(optimize(example, space, executor=dask_ex, **common)) == _metrics(local)
    again = optimize(example, space, executor="local", **common)
    assert _metrics(again) == _metrics(local)
    other = optimize(example, space, executor="local", **{**common, "seed": 12})
    assert [t["params"] for t in other.trials] != [t["params"] for t in local.trials]


def test_killed_pool_worker_trial_is_retried(home, suicidal, tmp_path, pool):
    marker = tmp_path / "killed-once"
    res = optimize(
        suicidal,
        {"x": "int:1:6"},
        home=home,
        params={"marker": str(marker)},
        executor=pool,
        objective="total_return",
        **WINDOW,
    )
    assert marker.exists()  # a worker really died running x == 2
    assert pool.restarts >= 1
    assert [t["params"]["x"] for t in res.trials] == [1, 2, 3, 4, 5, 6]
    assert all(t["status"] == "ok" for t in res.trials)
    assert len({t["trial_id"] for t in res.trials}) == 6
    from rbt.research.store import SweepStore

    assert len(SweepStore(home).trials(res.sweep_id)) == 6  # no trial lost or counted twice
    ref = optimize(
        suicidal,
        {"x": "int:1:6"},
        home=home,
        params={"marker": str(marker)},
        executor="local",
        objective="total_return",
        checkpoint=False,
        **WINDOW,
    )
    assert _metrics(ref) == _metrics(res)


def test_killed_dask_worker_trial_is_retried(home, suicidal, tmp_path, dask_ex):
    marker = tmp_path / "killed-once-dask"
    res = optimize(
        suicidal,
        {"x": "int:1:4"},
        home=home,
        params={"marker": str(marker)},
        executor=dask_ex,
        objective="total_return",
        **WINDOW,
    )
    assert marker.exists()
    assert [t["status"] for t in res.trials] == ["ok"] * 4
    from rbt.research.store import SweepStore

    assert len(SweepStore(home).trials(res.sweep_id)) == 4


def test_in_memory_bars_shared_once(home, tmp_path, pool, dask_ex):
    """Bars built in memory go to each worker once (pool initializer / Dask scatter)."""
    sessions = list(get_calendar("XNYS").sessions(dt.date(2020, 1, 2), dt.date(2020, 6, 30)))
    rng = np.random.default_rng(3)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, (len(sessions), 2)), axis=0))
    fields = {
        "open": close,
        "high": close * 1.01,
        "low": close * 0.99,
        "close": close,
        "volume": np.full(close.shape, 1e6),
    }
    bars = bars_from_floats(
        [Asset(sid=0, symbol="AAA"), Asset(sid=1, symbol="BBB")], sessions, fields
    )
    strat = tmp_path / "ma.py"
    strat.write_text(
        "from rbt.api import order_target_percent, symbol\n"
        "PARAMS = {'n': 5}\n"
        "def initialize(context):\n    context.a = symbol('AAA')\n"
        "def handle_data(context, data):\n"
        "    c = data.history(context.a, 'close', context.params.n, '1d', frame='numpy')\n"
        "    order_target_percent(context.a, 1.0 if c[-1] > c.mean() else 0.0)\n"
    )
    common = {
        "home": home,
        "shared": {"bars": bars, "bundle_hash": "mem"},
        "start": "2020-02-03",
        "end": "2020-06-30",
        "checkpoint": False,
        "objective": "total_return",
    }
    local = optimize(strat, {"n": "int:2:12"}, executor="local", **common)
    assert _metrics(optimize(strat, {"n": "int:2:12"}, executor=pool, **common)) == _metrics(local)
    assert _metrics(optimize(strat, {"n": "int:2:12"}, executor=dask_ex, **common)) == _metrics(
        local
    )


def test_trial_whose_worker_died_past_retries_is_rerun_on_resume(home, suicidal, tmp_path):
    marker = tmp_path / "killed-once-noretry"
    common = {
        "home": home,
        "params": {"marker": str(marker)},
        "objective": "total_return",
        "start": "2018-06-01",
        "end": "2018-12-31",
    }
    ex = PoolExecutor(workers=2, max_retries=0)
    try:
        first = optimize(suicidal, {"x": "int:1:4"}, executor=ex, **common)
    finally:
        ex.close()
    died = [t for t in first.failed if "worker process died" in t["error"]]
    assert died  # x == 2 at least, with whatever shared its broken pool
    assert {t["params"]["x"] for t in died} >= {2}
    again = optimize(suicidal, {"x": "int:1:4"}, executor="local", **common)
    assert again.ran == len(died)
    assert [t["status"] for t in again.trials] == ["ok"] * 4
    from rbt.research.store import SweepStore

    stored = SweepStore(home).trials(again.sweep_id)
    assert len(stored) == 4
    assert {t["status"] for t in stored.values()} == {"ok"}


SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "bench" / "gen_data.py"


@pytest.mark.skipif(not SHARED.is_file(), reason="shared/bench is not beside the repository")
def test_sweep_on_benchmark_scenario_s_is_identical_on_pool_and_dask(tmp_path, pool, dask_ex):
    """The benchmark's scenario S (10 assets, generated by shared/bench/gen_data.py) ingested
    through the CSV source, the benchmark strategy swept over fast × slow: the pool and a
    real Dask cluster give the in-process results bit for bit."""
    out = tmp_path / "bench"
    subprocess.run(
        [sys.executable, str(SHARED), "S", "--out", str(out)], check=True, capture_output=True
    )
    home = RbtHome(tmp_path / "home")
    ingest(home, "csv", "bench_s", {"path": str(out / "S" / "daily")})
    strategy = Path(__file__).resolve().parents[2] / "benchmarks" / "dual_ma.py"
    space = {"fast": "int:5:15:5", "slow": "int:40:60:10"}
    common = {
        "home": home,
        "bundle": "bench_s",
        "checkpoint": False,
        "start": "2010-01-04",
        "end": "2011-12-30",
    }
    local = optimize(strategy, space, executor="local", **common)
    assert len(local.trials) == 9
    assert all(t["status"] == "ok" for t in local.trials)
    assert _metrics(optimize(strategy, space, executor=pool, **common)) == _metrics(local)
    assert _metrics(optimize(strategy, space, executor=dask_ex, **common)) == _metrics(local)
