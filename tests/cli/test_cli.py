"""The rbt command line, run as a real process (the installed console script)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

RBT = Path(sys.executable).with_name("rbt")
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "dual_moving_average.py"


def rbt(
    *args: str, home: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "RBT_HOME": str(home), "COLUMNS": "200", **(env or {})}
    return subprocess.run(
        [str(RBT), *args], capture_output=True, text=True, env=full_env, timeout=300, check=False
    )


def test_help_imports_no_heavy_library(tmp_path: Path) -> None:
    code = (
        "import sys; from rbt.cli.main import main; main(['--help']); "
        "heavy = {'polars', 'pandas', 'numpy', 'sqlalchemy', 'pyarrow'} & set(sys.modules); "
        "print('HEAVY', sorted(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "HEAVY []" in out.stdout
    assert "run" in out.stdout
    assert "ingest" in out.stdout


def test_plugins_json_lists_builtins_and_the_installed_contrib_package(tmp_path: Path) -> None:
    done = rbt("plugins", "--json", home=tmp_path, env={"RBT_DISABLE_PLUGIN_AUTOLOAD": "0"})
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    names = {(p["kind"], p["name"]) for p in report["providers"]}
    assert ("brokers", "sim") in names
    assert ("commission_models", "per_share") in names
    template = [p for p in report["providers"] if p["name"].startswith("template.")]
    assert template, "the rbt-template distribution's provider should appear"
    assert template[0]["dist"] == "rbt-template"
    assert report["load_errors"] == []


def test_unknown_commission_model_lists_the_valid_ones(tmp_path: Path) -> None:
    done = rbt(
        "run",
        str(EXAMPLE),
        "--start",
        "2016-01-04",
        "--end",
        "2016-02-01",
        "--commission",
        "per_sharez",
        home=tmp_path,
    )
    assert done.returncode == 2
    assert "unknown commission model 'per_sharez'" in done.stderr
    assert "per_share" in done.stderr


def test_start_after_end_is_a_usage_error(tmp_path: Path) -> None:
    done = rbt("run", str(EXAMPLE), "--start", "2017-01-04", "--end", "2016-01-04", home=tmp_path)
    assert done.returncode == 2
    assert "after end" in done.stderr


def test_bad_param_syntax_is_a_usage_error(tmp_path: Path) -> None:
    done = rbt(
        "run",
        str(EXAMPLE),
        "--start",
        "2016-01-04",
        "--end",
        "2016-02-01",
        "--param",
        "fast",
        home=tmp_path,
    )
    assert done.returncode == 2
    assert "key=value" in done.stderr


def test_missing_strategy_file(tmp_path: Path) -> None:
    done = rbt(
        "run",
        str(tmp_path / "nope.py"),
        "--start",
        "2016-01-04",
        "--end",
        "2016-02-01",
        home=tmp_path,
    )
    assert done.returncode == 2
    assert "strategy file not found" in done.stderr


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("demo-home")
    done = rbt("ingest", "demo", home=home)
    assert done.returncode == 0, done.stderr
    return home


def test_demo_backtest_prints_a_summary(demo_home: Path) -> None:
    done = rbt(
        "run",
        str(EXAMPLE),
        "--start",
        "2016-01-04",
        "--end",
        "2018-12-31",
        "--capital",
        "1000000",
        home=demo_home,
    )
    assert done.returncode == 0, done.stderr
    for label in ("Total return", "CAGR", "Sharpe", "Max drawdown", "Trades"):
        assert label in done.stdout


def test_run_json_and_params_change_the_run_id(demo_home: Path) -> None:
    args = ("run", str(EXAMPLE), "--start", "2016-01-04", "--end", "2017-12-29", "--json")
    first = json.loads(rbt(*args, home=demo_home).stdout)
    again = json.loads(rbt(*args, home=demo_home).stdout)
    other = json.loads(rbt(*args, "--param", "fast=10", home=demo_home).stdout)
    assert first["run_id"] == again["run_id"]
    assert first["final_value"] == again["final_value"]
    assert other["run_id"] != first["run_id"]
    assert other["manifest"]["params"]["fast"] == 10
    assert Path(first["path"], "perf.parquet").is_file()


def test_bundles_lists_the_demo(demo_home: Path) -> None:
    done = rbt("bundles", "--json", home=demo_home)
    assert done.returncode == 0, done.stderr
    assert any(b["name"] == "demo" for b in json.loads(done.stdout))


def test_a_strategy_that_raises_shows_the_users_line(demo_home: Path, tmp_path: Path) -> None:
    strategy = tmp_path / "broken.py"
    strategy.write_text(
        textwrap.dedent("""\
        from rbt.api import symbol

        def initialize(context):
            context.asset = symbol("AAA")

        def handle_data(context, data):
            ratio = 1 / 0
    """)
    )
    done = rbt("run", str(strategy), "--start", "2016-01-04", "--end", "2016-02-01", home=demo_home)
    assert done.returncode == 1
    assert f'File "{strategy}", line 7, in handle_data' in done.stderr
    assert "ZeroDivisionError" in done.stderr


def test_dates_outside_the_bundle(demo_home: Path) -> None:
    done = rbt("run", str(EXAMPLE), "--start", "1999-01-04", "--end", "2016-02-01", home=demo_home)
    assert done.returncode == 1
    assert "outside bundle 'demo'" in done.stderr


def test_unknown_symbol_suggests_close_matches(demo_home: Path, tmp_path: Path) -> None:
    strategy = tmp_path / "typo.py"
    strategy.write_text(
        "from rbt.api import symbol\n\ndef initialize(context):\n"
        "    context.asset = symbol('AAAA')\n"
    )
    done = rbt("run", str(strategy), "--start", "2016-01-04", "--end", "2016-02-01", home=demo_home)
    assert done.returncode in (1, 2)
    assert "unknown symbol 'AAAA'" in done.stderr
