"""`rbt paper --shadow` attaches a shadow backtest; `rbt shadow status` then shows it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rbt.cli.main import main as rbt_main
from rbt.data.home import RbtHome


@pytest.fixture
def home_root(tmp_path: Path, shadow_home: RbtHome) -> str:
    """A fresh RBT home sharing the shadow tests' demo bundle."""
    home = RbtHome(tmp_path / "home")
    home.root.mkdir()
    (home.root / "bundles").symlink_to(shadow_home.root / "bundles")
    return str(home.root)


def paper_args(strategies: dict[str, Path], root: str, end: str) -> list[str]:
    return ["paper", str(strategies["every_bar"]), "--feed", "replay:demo", "--start",
            "2016-02-01", "--end", end, "--home", root, "--json"]  # fmt: skip


def test_rbt_paper_with_shadow_records_aligned_metrics(
    home_root: str, strategies: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert rbt_main([*paper_args(strategies, home_root, "2016-02-29"), "--shadow"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["trading_state"] == "ACTIVE"
    assert summary["fills"] > 0

    assert rbt_main(["shadow", "status", summary["run_id"], "--home", home_root, "--json"]) == 0
    (status,) = json.loads(capsys.readouterr().out)
    assert status["metrics"]["match_rate"]["value"] == 1.0
    assert status["metrics"]["slippage_error_bps"]["value"] == pytest.approx(0)


def test_rbt_paper_without_shadow_records_no_metrics(
    home_root: str, strategies: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert rbt_main(paper_args(strategies, home_root, "2016-02-05")) == 0
    run_id = json.loads(capsys.readouterr().out)["run_id"]
    assert rbt_main(["shadow", "status", run_id, "--home", home_root]) == 2
    assert "no shadow metrics" in capsys.readouterr().err
