"""rbt paper / status / halt / resume / live through the real CLI (subprocesses)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from rbt.data.home import RbtHome

RBT = [sys.executable, "-m", "rbt.cli.main"]


def _rbt(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "250"}
    return subprocess.run(
        [*RBT, *args], capture_output=True, text=True, timeout=120, check=False, env=env
    )


def test_paper_status_halt_resume_live(
    tmp_path: Path, demo_home: RbtHome, small_strategy: Path
) -> None:
    home = RbtHome(tmp_path / "home")
    home.bundles.mkdir(parents=True)
    (home.bundles / "demo").symlink_to(demo_home.bundle("demo"))
    h = ["--home", str(home.root)]
    done = _rbt(
        "paper",
        str(small_strategy),
        "--feed",
        "replay:demo",
        "--start",
        "2016-01-04",
        "--end",
        "2016-03-31",
        "--speed",
        "max",
        "--reconcile-every",
        "5",
        "--json",
        *h,
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["trading_state"] == "ACTIVE"
    with sqlite3.connect(home.root / "rbt.sqlite") as db:
        checks = [
            json.loads(p)
            for (p,) in db.execute("SELECT payload FROM order_audit_log WHERE event = 'reconcile'")
        ]
    assert len(checks) == 61 // 5  # every 5th of the 61 bars; the paper venue agrees
    assert all(c["when"] == "periodic" and not c["problems"] for c in checks)

    status = _rbt("status", "--json", *h)
    (row,) = json.loads(status.stdout)
    assert row["run_id"] == summary["run_id"]
    assert row["status"] == "completed"
    assert row["portfolio_value"] == summary["final_value"]
    assert {p["symbol"] for p in row["positions"]} <= {"AAA", "BBB"}

    assert _rbt("halt", "--reason", "lunch", *h).returncode == 0
    watch = _rbt("status", "--watch", "--count", "2", "--interval", "0.05", *h)
    assert watch.returncode == 0
    assert "HALTED (lunch)" in watch.stdout
    assert _rbt("resume", *h).returncode == 0
    assert json.loads(_rbt("status", "--json", *h).stdout)[0]["trading_state"] == "ACTIVE"

    refused = _rbt("live", str(small_strategy), "--broker", "sim")
    assert refused.returncode != 0
    assert "real money" in refused.stderr
    bad = _rbt(
        "paper",
        str(small_strategy),
        "--feed",
        "kafka:x",
        "--start",
        "2016-01-04",
        "--end",
        "2016-01-29",
        *h,
    )
    assert bad.returncode != 0
    assert "unsupported feed" in bad.stderr
