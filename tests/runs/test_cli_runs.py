"""``rbt runs list|show|diff``, ``rbt report`` and ``rbt run --report --benchmark`` on the
ingested demo bundle and the example strategy.

The CLI runs in-process through :func:`rbt.cli.main.main` (the console script's own entry,
exit codes included) to keep the suite fast; tests/cli runs the installed script as a process.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import attrs
import pytest

from rbt.cli.main import main

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "dual_moving_average.py"
DATES = ("--start", "2016-01-04", "--end", "2017-06-30")


@attrs.frozen
class Done:
    returncode: int
    stdout: str
    stderr: str


def rbt(*args: str, home: Path) -> Done:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([*args, "--home", str(home)])
    return Done(code, out.getvalue(), err.getvalue())


@pytest.fixture(autouse=True)
def _wide_tables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # Rich folds cells to the terminal's width


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, dict]:
    """The demo bundle and two runs of the example with different parameters."""
    home = tmp_path_factory.mktemp("runs-home")
    assert rbt("ingest", "demo", home=home).returncode == 0
    first = rbt("run", str(EXAMPLE), *DATES, "--json", home=home)
    assert first.returncode == 0, first.stderr
    second = rbt("run", str(EXAMPLE), *DATES, "--param", "fast=10", "--param", "slow=60",
                 "--json", home=home)  # fmt: skip
    assert second.returncode == 0, second.stderr
    return home, json.loads(first.stdout), json.loads(second.stdout)


def test_runs_list_recent_first(two_runs) -> None:
    home, first, second = two_runs
    done = rbt("runs", "list", "--json", home=home)
    assert done.returncode == 0, done.stderr
    listed = json.loads(done.stdout)
    assert [r["id"] for r in listed] == [second["run_id"], first["run_id"]]
    assert listed[0]["params"]["fast"] == 10
    assert listed[0]["strategy"] == str(EXAMPLE)
    assert listed[0]["results_path"] == second["path"]
    table = rbt("runs", "list", home=home)
    assert table.returncode == 0
    assert first["run_id"] in table.stdout
    assert "dual_moving_average.py" in table.stdout


def test_runs_show(two_runs) -> None:
    home, first, _ = two_runs
    shown = json.loads(rbt("runs", "show", first["run_id"][:8], "--json", home=home).stdout)
    assert shown["id"] == first["run_id"]
    assert shown["metrics"] == pytest.approx(first["metrics"])
    assert shown["bundle"] == "demo"
    assert shown["bundle_hash"] == first["manifest"]["bundle_hash"]
    text = rbt("runs", "show", first["run_id"], home=home)
    assert text.returncode == 0
    assert "sharpe" in text.stdout
    assert "rustybt-framework" in text.stdout


def test_runs_diff_two_runs_of_the_example(two_runs) -> None:
    home, first, second = two_runs
    done = rbt("runs", "diff", first["run_id"], second["run_id"], "--json", home=home)
    assert done.returncode == 0, done.stderr
    diff = json.loads(done.stdout)
    params = {p["name"]: p for p in diff["params"]}
    assert (params["fast"]["a"], params["fast"]["b"]) == (20, 10)
    assert (params["slow"]["a"], params["slow"]["b"]) == (100, 60)
    metrics = {m["name"]: m for m in diff["metrics"]}
    assert metrics["total_return"]["a"] == pytest.approx(first["metrics"]["total_return"])
    assert metrics["total_return"]["b"] == pytest.approx(second["metrics"]["total_return"])
    assert metrics["trades"]["diff"] == second["metrics"]["trades"] - first["metrics"]["trades"]
    fills_a = sum(t["a"]["fills"] for t in diff["trades"] if t["a"])
    assert fills_a == first["metrics"]["trades"]
    table = rbt("runs", "diff", first["run_id"], second["run_id"], home=home)
    assert table.returncode == 0
    for text in ("Metrics", "sharpe", "Trades per asset", "fast", "AAA"):
        assert text in table.stdout, text


def test_unknown_run_id_is_a_usage_error_listing_recent_ids(two_runs) -> None:
    home, first, second = two_runs
    for args in (("runs", "show", "deadbeef"), ("runs", "diff", first["run_id"], "nope"),
                 ("report", "deadbeef")):  # fmt: skip
        done = rbt(*args, home=home)
        assert done.returncode == 2, (args, done.stderr)
        assert "unknown run id" in done.stderr
        assert first["run_id"] in done.stderr
        assert second["run_id"] in done.stderr


def test_report_command(two_runs, tmp_path: Path) -> None:
    home, first, _ = two_runs
    out = tmp_path / "r.html"
    done = rbt("report", first["run_id"], "--output", str(out), "--json", home=home)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"run_id": first["run_id"], "report": str(out)}
    assert out.read_text().count('class="plotly-graph-div"') >= 6


def test_run_with_report_and_a_csv_benchmark_with_gaps(two_runs, tmp_path: Path) -> None:
    home, first, _ = two_runs
    bench = tmp_path / "bench.csv"
    bench.write_text("date,return\n2016-01-05,0.01\n2016-01-09,0.02\n2016-01-06,-0.01\n")
    done = rbt("run", str(EXAMPLE), *DATES, "--benchmark", str(bench), "--report", "--json",
               home=home)  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert Path(out["report"]).is_file()
    assert out["run_id"] != first["run_id"]  # the benchmark is part of the run's identity
    assert out["manifest"]["benchmark"]["extra_dates"] == 1  # a Saturday
    assert out["manifest"]["benchmark"]["missing_sessions"] > 300
    assert "sessions without a return (taken as 0.0)" in done.stderr  # the warning


def test_run_with_an_unknown_benchmark_symbol(two_runs) -> None:
    home, _, _ = two_runs
    done = rbt("run", str(EXAMPLE), *DATES, "--benchmark", "AAAB", home=home)
    assert done.returncode == 2
    assert "benchmark 'AAAB'" in done.stderr
