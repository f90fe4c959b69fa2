"""The run registry: a real SQLite file migrated by Alembic, filled by real runs."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import sqlalchemy as sa

from rbt.data.db import open_database, upgrade
from rbt.runs.diff import diff_runs
from rbt.runs.registry import UnknownRunError, get_run, list_runs, record_run


def test_every_written_run_is_recorded(make_run, home, strategy_file) -> None:
    result = make_run()
    (record,) = list_runs(home)
    assert record.id == result.run_id
    assert record.strategy == str(strategy_file.resolve())
    assert record.strategy_hash == result.manifest["strategy_hash"]
    assert record.params == {"fast": 5, "slow": 20}
    assert record.bundle_hash == "synthetic-seed-7"
    assert (record.start, record.end) == (dt.date(2017, 1, 3), dt.date(2018, 3, 29))
    assert record.metrics == pytest.approx(dict(result.metrics))
    assert record.results_path == result.path
    assert record.benchmark == "symbol:IDX"  # set_benchmark in the strategy
    assert record.versions["rustybt-framework"]
    assert record.final_value == str(result.final_value)
    assert record.run_count == 1
    # the row and the manifest agree
    manifest = json.loads((result.path / "manifest.json").read_text())
    assert record.manifest["run_id"] == manifest["run_id"]


def test_a_rerun_updates_its_row_and_recent_runs_come_first(make_run, home) -> None:
    first = make_run()
    other = make_run(params={"fast": 3})
    again = make_run()
    assert again.run_id == first.run_id
    records = list_runs(home)
    assert [r.id for r in records] == [first.run_id, other.run_id]
    assert records[0].run_count == 2
    assert records[0].created_at <= records[0].updated_at
    assert get_run(home, first.run_id[:6]).id == first.run_id  # a unique prefix


def test_runs_not_written_are_not_recorded(make_run, home) -> None:
    make_run(write=False)
    assert list_runs(home) == []


def test_unknown_run_id_lists_the_recent_ones(make_run, home) -> None:
    with pytest.raises(UnknownRunError, match="no runs recorded yet"):
        get_run(home, "feedbeef")
    result = make_run()
    with pytest.raises(UnknownRunError) as info:
        get_run(home, "feedbeef")
    assert "unknown run id 'feedbeef'" in str(info.value)
    assert result.run_id in str(info.value)


def test_diff_puts_metrics_params_and_trades_side_by_side(make_run, home) -> None:
    a = get_run(home, make_run().run_id)
    b = get_run(home, make_run(params={"fast": 3, "slow": 30}).run_id)
    diff = diff_runs(a, b)
    params = {row["name"]: row for row in diff["params"]}
    assert params["fast"]["a"] == 5
    assert params["fast"]["b"] == 3
    assert not params["slow"]["same"]
    metrics = {row["name"]: row for row in diff["metrics"]}
    assert metrics["sharpe"]["diff"] == pytest.approx(b.metrics["sharpe"] - a.metrics["sharpe"])
    assert {row["name"] for row in diff["trades"]} == {"AAA", "BBB"}
    aaa = next(row for row in diff["trades"] if row["name"] == "AAA")
    assert aaa["a"]["fills"] > 0
    assert aaa["b"]["fills"] > 0
    assert diff["errors"] == []


def test_migration_0002_upgrades_a_0001_database(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    engine = sa.create_engine(url)
    upgrade(engine, "0001_assets")
    assert "runs" not in sa.inspect(engine).get_table_names()
    upgrade(engine, "0002_runs")
    assert "runs" in sa.inspect(engine).get_table_names()
    with engine.connect() as conn:
        assert conn.execute(sa.text("select version_num from alembic_version")).scalar() == (
            "0002_runs"
        )
    engine.dispose()


def test_record_run_without_results_files(home, tmp_path) -> None:
    # the registry stands alone: a row needs a manifest, not a results directory
    record = record_run(
        home,
        run_id="0123456789abcdef",
        strategy="pkg.mod:Strategy",
        manifest={"start": "2020-01-02", "end": "2020-01-31", "params": {"k": 1}},
        metrics={"sharpe": 1.5},
        results_path=tmp_path / "gone",
    )
    assert record.params == {"k": 1}
    engine = open_database(home)
    with engine.connect() as conn:
        assert conn.execute(sa.text("select count(*) from runs")).scalar() == 1
    other = record_run(
        home,
        run_id="fedcba9876543210",
        strategy="pkg.mod:Strategy",
        manifest={"start": "2020-01-02", "end": "2020-01-31"},
        metrics={"sharpe": 0.5},
        results_path=tmp_path / "gone2",
    )
    diff = diff_runs(record, other)
    assert len(diff["errors"]) == 2  # no result files: said, not raised
    assert diff["trades"] == []
