"""``rbt ingest`` as a real process: what it imports, its options, its output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

RBT = Path(sys.executable).with_name("rbt")
#: Libraries ``rbt ingest csv`` never needs on a home whose database is up to date.
NOT_FOR_INGEST = ("rbt.api", "pandas", "pyarrow", "sqlalchemy", "alembic", "rbt.analytics")

_DAYS = ("2024-01-02", "2024-01-03", "2024-01-04")


def _rbt(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RBT_HOME": str(home), "COLUMNS": "200"}
    return subprocess.run(
        [str(RBT), *args], capture_output=True, text=True, env=env, timeout=300, check=False
    )


@pytest.fixture(scope="module")
def csv_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("csv")
    for symbol, base in (("AAA", 10), ("BBB", 20)):
        rows = [
            f"{d},{base}.5,{base + 1}.25,{base}.125,{base}.75,{100 + i}"
            for i, d in enumerate(_DAYS)
        ]
        (directory / f"{symbol}.csv").write_text(
            "date,open,high,low,close,volume\n" + "\n".join(rows)
        )
    return directory


def test_ingest_on_a_current_home_imports_no_engine_and_no_orm(
    csv_dir: Path, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    first = _rbt(
        "ingest", "csv", "--path", str(csv_dir), "--bundle", "b", "--home", str(home), home=home
    )
    assert first.returncode == 0, first.stderr  # creates and migrates the database
    code = (
        "import sys; from rbt.cli.main import main; "
        f"code = main(['ingest', 'csv', '--path', {str(csv_dir)!r}, '--bundle', 'b', "
        f"'--home', {str(home)!r}, '--json']); "
        f"print('LOADED', sorted(m for m in {NOT_FOR_INGEST!r} if m in sys.modules)); "
        "sys.exit(code)"
    )
    env = {**os.environ, "RBT_HOME": str(home)}  # (its calendar cache: filled by the first)
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "LOADED []" in done.stdout
    manifest = json.loads(done.stdout[: done.stdout.index("LOADED")])
    assert (manifest["asset_count"], manifest["row_count"]) == (2, 6)


def test_ingest_option_is_parsed_and_recorded(csv_dir: Path, tmp_path: Path) -> None:
    done = _rbt(
        "ingest", "csv", "--path", str(csv_dir), "--bundle", "b", "-o", "lot_size=10",
        "--option", "exchange=NYSE", "--json", home=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    options = json.loads(done.stdout)["source_options"]
    assert (options["lot_size"], options["exchange"]) == ("10", "NYSE")


def test_ingest_option_without_equals_is_a_usage_error(csv_dir: Path, tmp_path: Path) -> None:
    done = _rbt("ingest", "csv", "--path", str(csv_dir), "-o", "lot_size", home=tmp_path)
    assert done.returncode == 2
    assert "expects key=value, got 'lot_size'" in done.stderr
    assert not (tmp_path / "bundles").exists()
