"""``rbt optimize``, ``rbt walk-forward`` and ``rbt robustness`` as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from rbt.research.store import SweepStore

RBT = Path(sys.executable).with_name("rbt")
WINDOW = ["--start", "2018-06-01", "--end", "2018-12-31"]
UNIVERSE = ["--param", "universe=AAA,BBB,CCC,DDD,EEE"]


def rbt(*args: str, home) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RBT_HOME": str(home.root), "COLUMNS": "200"}
    return subprocess.run(
        [str(RBT), *args], capture_output=True, text=True, env=env, timeout=300, check=False
    )


def test_optimize_json_and_resume(home, example):
    args = [
        "optimize",
        str(example),
        *WINDOW,
        *UNIVERSE,
        "--param-space",
        "fast=int:5:15:5",
        "--param-space",
        "slow=int:30:50:10",
        "--constraint",
        "fast < slow",
        "--search",
        "random",
        "--trials",
        "6",
        "--seed",
        "3",
        "--objective",
        "sharpe",
        "--executor",
        "pool",
        "--workers",
        "2",
        "--json",
        "--heatmap",
        str(home.root / "heat.html"),
    ]
    done = rbt(*args, home=home)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["ran"] >= 1
    assert out["failed"] == 0
    assert out["executor"] == "pool"
    best = out["best"][0]
    assert best["value"] == best["metrics"]["sharpe"]
    assert len(SweepStore(home).trials(out["sweep_id"])) == out["trials"]
    html = (home.root / "heat.html").read_text()
    assert "heatmap" in html
    assert "fast" in html
    assert "slow" in html
    again = json.loads(rbt(*args, home=home).stdout)
    assert again["sweep_id"] == out["sweep_id"]
    assert (again["ran"], again["resumed"]) == (0, out["trials"])
    assert again["best"] == out["best"]


def test_optimize_text_output_and_bad_space(home, example):
    done = rbt(
        "optimize",
        str(example),
        *WINDOW,
        *UNIVERSE,
        "-s",
        "fast=int:5:10:5",
        "-s",
        "slow=int:30:40:10",
        "--objective",
        "total_return / -max_drawdown",
        home=home,
    )
    assert done.returncode == 0, done.stderr
    assert "best 5 by expr:total_return / -max_drawdown" in done.stdout
    assert "4 trials (4 run, 0 from checkpoint, 0 failed)" in done.stdout
    bad = rbt("optimize", str(example), *WINDOW, "-s", "fast=int:30:5", home=home)
    assert bad.returncode == 2
    assert "'fast'" in bad.stderr


def test_walk_forward_and_robustness_json(home, example):
    done = rbt(
        "walk-forward",
        str(example),
        "--start",
        "2018-06-01",
        "--end",
        "2019-03-29",
        *UNIVERSE,
        "-s",
        "fast=int:5:10:5",
        "-s",
        "slow=int:30:40:10",
        "--in-sample",
        "100",
        "--out-of-sample",
        "50",
        "--anchored",
        "--json",
        home=home,
    )
    assert done.returncode == 0, done.stderr
    wf = json.loads(done.stdout)
    assert len(wf["windows"]) >= 2
    assert {w["is_start"] for w in wf["windows"]} == {"2018-06-01"}
    assert isinstance(wf["efficiency"], float)

    sweep = json.loads(
        rbt(
            "optimize",
            str(example),
            *WINDOW,
            *UNIVERSE,
            "-s",
            "fast=int:5:15:5",
            "-s",
            "slow=int:30:50:10",
            "--json",
            home=home,
        ).stdout
    )
    done = rbt(
        "robustness",
        str(example),
        *WINDOW,
        *UNIVERSE,
        "--param",
        "fast=5",
        "--param",
        "slow=40",
        "--sweep",
        sweep["sweep_id"],
        "--pbo",
        "--samples",
        "200",
        "--noise",
        "0.01",
        "--noise-runs",
        "2",
        "--json",
        home=home,
    )
    assert done.returncode == 0, done.stderr
    rob = json.loads(done.stdout)
    assert rob["deflated_sharpe"]["n_trials"] == 9
    assert 0 <= rob["deflated_sharpe"]["dsr"] <= 1
    assert 0 <= rob["pbo"]["pbo"] <= 1
    assert rob["pbo"]["configurations"] == 9
    b = rob["bootstrap"]["final_equity"]
    assert b["p5"] <= b["p50"] <= b["p95"]
    assert rob["monte_carlo_trades"]["trades"] > 0
    assert len(rob["noise"]["values"]) == 2
    text = rbt(
        "robustness",
        str(example),
        *WINDOW,
        *UNIVERSE,
        "--trials",
        "50",
        "--samples",
        "100",
        home=home,
    )
    assert text.returncode == 0, text.stderr
    assert "deflated Sharpe ratio" in text.stdout
