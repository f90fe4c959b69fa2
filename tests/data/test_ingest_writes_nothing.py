"""Bad input writes nothing: no bundle, and no database either (not even a migrated, empty
one) — the asset database is opened only after the bundle is written."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from rbt.data.bundles import list_bundles
from rbt.data.ingest import ingest
from rbt.kernel.errors import SchemaError

RBT = Path(sys.executable).with_name("rbt")
ROWS = [
    "Date,Open,High,Low,Close,Volume",
    "2024-01-02,1.5,2,1,1.75,10",
    "2024-01-03,2,2.5,1.5,abc,20",  # line 3: close is not a number
]


def test_bad_csv_leaves_a_fresh_home_without_database_or_bundle(home, csv_dir, manager):
    directory = csv_dir({"AAA": ROWS})
    with pytest.raises(SchemaError, match=r"AAA\.csv, line 3, field 'close'"):
        ingest(home, "csv", "bad", {"path": str(directory)}, manager=manager)
    assert not (home.root / "rbt.sqlite").exists()
    assert list_bundles(home) == []


def test_a_good_ingest_after_it_creates_the_database(home, csv_dir, manager):
    directory = csv_dir({"AAA": ROWS[:2]})
    ingest(home, "csv", "good", {"path": str(directory)}, manager=manager)
    assert (home.root / "rbt.sqlite").is_file()
    assert [b.name for b in list_bundles(home)] == ["good"]


@pytest.mark.skipif(not RBT.is_file(), reason="the rbt script is not beside the interpreter")
def test_cli_bad_csv_prints_the_error_and_writes_nothing(tmp_path, csv_dir):
    directory = csv_dir({"AAA": ROWS})
    home = tmp_path / "cli-home"
    env = {k: v for k, v in os.environ.items() if k != "RBT_DATABASE_URL"}
    out = subprocess.run(
        [str(RBT), "ingest", "csv", "--path", str(directory), "--home", str(home)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert out.returncode != 0
    assert "line 3" in out.stderr + out.stdout
    assert "close" in out.stderr + out.stdout
    assert not (home / "rbt.sqlite").exists()
    assert not (home / "bundles").exists() or not any((home / "bundles").rglob("*.parquet"))
