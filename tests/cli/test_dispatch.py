"""A built-in command runs from an app holding only it: same help, usage and errors."""

from __future__ import annotations

import gc
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from rbt.cli.main import _app_for, _command_name, _gc_paused, app, main


def _names() -> list[str]:
    commands = [_command_name(c) for c in app.registered_commands]
    return [n for n in commands if n] + [g.name for g in app.registered_groups if g.name]


def _subcommands(group: str) -> list[str]:
    info = next(g for g in app.registered_groups if g.name == group)
    assert info.typer_instance is not None
    return [n for c in info.typer_instance.registered_commands if (n := _command_name(c))]


def _same(args: list[str]) -> None:
    runner = CliRunner()
    full = runner.invoke(app, args, prog_name="rbt")
    slim = runner.invoke(_app_for(args[0]), args, prog_name="rbt")
    assert (slim.exit_code, slim.output) == (full.exit_code, full.output), args


def test_every_builtin_command_has_the_full_apps_help() -> None:
    names = _names()
    assert {"run", "ingest", "bundles", "plugins", "walk-forward", "runs"} <= set(names)
    for name in names:
        _same([name, "--help"])
    for group in (g.name for g in app.registered_groups if g.name):
        _same([group])
        for sub in _subcommands(group):
            _same([group, sub, "--help"])


def test_usage_errors_are_the_full_apps() -> None:
    _same(["ingest"])  # missing SOURCE
    _same(["ingest", "csv", "--no-such-option"])
    _same(["run", "x.py", "--start"])
    _same(["runs", "no-such-subcommand"])


def test_the_slim_app_holds_one_command_and_the_callback() -> None:
    slim = _app_for("ingest")
    assert [_command_name(c) for c in slim.registered_commands] == ["ingest"]
    assert slim.registered_groups == []
    assert slim.registered_callback is app.registered_callback
    assert _app_for("--help") is app
    assert _app_for("no-such-command") is app
    assert len(app.registered_commands) > 1  # the app itself is untouched


def test_main_runs_the_slim_app_and_reports_an_unknown_command(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["ingest", "--help"]) == 0
    assert "Usage: rbt ingest [OPTIONS]" in capsys.readouterr().out
    assert main(["no-such-command"]) == 2
    assert "No such command 'no-such-command'" in capsys.readouterr().err


def test_the_console_script_closes_the_database_before_the_process_ends(tmp_path) -> None:
    """Objects are collected at exit as usual: the SQLite database is checkpointed and
    closed (no -wal/-shm files left), so a copy of rbt.sqlite alone holds everything."""
    import sqlite3

    code = (
        "import sys; from rbt.cli.main import entry; "
        f"sys.argv = ['rbt', 'halt', '--home', {str(tmp_path)!r}]; entry()"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "rbt.sqlite").exists()
    assert not (tmp_path / "rbt.sqlite-wal").exists()
    assert not (tmp_path / "rbt.sqlite-shm").exists()
    with sqlite3.connect(tmp_path / "rbt.sqlite") as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
    assert "bundles" in tables


def test_the_collector_is_paused_inside_and_restored_after() -> None:
    assert gc.isenabled()
    with _gc_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(RuntimeError), _gc_paused():
        raise RuntimeError("a failing command")
    assert gc.isenabled()
    assert main(["ingest", "--help"]) == 0
    assert gc.isenabled()
    gc.disable()
    try:
        with _gc_paused():
            pass
        assert not gc.isenabled()  # a caller's choice is kept
    finally:
        gc.enable()
