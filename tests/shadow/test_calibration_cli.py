"""Calibration recovers an injected slippage and fee; the CLI views of a shadow run."""

from __future__ import annotations

import json
import math
import random
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from rbt.cli.main import main as rbt_main
from rbt.data.db import open_database
from rbt.data.home import RbtHome
from rbt.finance.commission import PerDollar
from rbt.finance.slippage import FixedBasisPointsSlippage
from rbt.shadow import ShadowBacktestEngine
from rbt.shadow.calibration import CalibrationError, calibrate, calibrate_run

from .conftest import run_with_shadow


@pytest.fixture(scope="module")
def drifted_run(
    tmp_path_factory: pytest.TempPathFactory, shadow_home: RbtHome, strategies: dict[str, Path]
) -> tuple[RbtHome, str]:
    """Live pays 15 bps of slippage and 7 bps of fees; the shadow's backtest models are
    free (slippage none, commission none)."""
    home = RbtHome(tmp_path_factory.mktemp("calibration"))
    (home.root / "bundles").symlink_to(shadow_home.root / "bundles")
    shadow = ShadowBacktestEngine(slippage="none", commission="none", mode="live")
    result, _ = run_with_shadow(
        strategies["every_bar"],
        shadow,
        start="2016-02-01",
        end="2016-03-31",
        bundle="demo",
        home=home,
        capital_base=1_000_000,
        slippage=FixedBasisPointsSlippage(basis_points=15, volume_limit=1),
        commission=PerDollar(cost="0.0007"),
    )
    assert result.trading_state == "ACTIVE"  # 15 bps < the live threshold of 50
    return home, result.run_id


def test_calibration_recovers_the_injected_slippage_and_fee(
    drifted_run: tuple[RbtHome, str],
) -> None:
    home, run_id = drifted_run
    result = calibrate_run(open_database(home), run_id)
    assert result.fills > 50
    best = result.best_slippage
    assert best.provider == "fixed_bps"
    assert float(best.params["basis_points"]) == pytest.approx(15, abs=1e-6)
    assert best.rmse_bps == pytest.approx(0, abs=1e-6)
    fee = result.best_fee
    assert fee.provider == "per_dollar"
    assert float(fee.params["cost"]) == pytest.approx(0.0007, rel=1e-6)
    # the shadow's current (free) models are off by exactly what was injected
    assert result.current_slippage_rmse_bps == pytest.approx(15, abs=1e-6)
    assert result.current_fee_rmse_bps == pytest.approx(7, abs=1e-6)


def _sample(share: float, slip: float, price: float = 100.0, qty: int = 100) -> dict[str, Any]:
    live_price = Decimal(str(price)) * (1 + Decimal(str(slip)))
    return {
        "live": {
            "filled": str(qty),
            "avg_price": str(live_price),
            "ref_price": str(price),
            "volume_share": share,
            "commission": str(Decimal("0.01") * qty),
        },
        "shadow": {"filled": str(qty), "avg_price": str(price), "ref_price": str(price),
                   "commission": "0"},
    }  # fmt: skip


def test_calibration_picks_the_square_root_law_when_slippage_follows_it() -> None:
    rng = random.Random(7)
    shares = [rng.uniform(0.001, 0.2) for _ in range(40)]
    samples = [_sample(s, 0.1 * math.sqrt(s)) for s in shares]
    result = calibrate(samples)
    best = result.best_slippage
    assert best.provider == "volume_impact"
    assert float(best.params["coefficient"]) == pytest.approx(0.1, rel=1e-4)
    assert result.best_fee.provider == "per_share"
    assert float(result.best_fee.params["cost"]) == pytest.approx(0.01, rel=1e-6)


def test_calibration_needs_enough_fills() -> None:
    with pytest.raises(CalibrationError, match="at least 5 live fills"):
        calibrate([_sample(0.01, 0.001)] * 3)


def test_cli_status_report_and_calibrate(
    drifted_run: tuple[RbtHome, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home, run_id = drifted_run
    root = str(home.root)
    assert rbt_main(["shadow", "status", run_id, "--home", root, "--json"]) == 0
    (status,) = json.loads(capsys.readouterr().out)
    assert status["run_id"] == run_id
    assert status["state"] == "completed"
    assert status["metrics"]["match_rate"]["value"] == 1.0
    assert status["metrics"]["slippage_error_bps"]["value"] == pytest.approx(15, abs=1e-6)
    assert status["thresholds"]["slippage_bps"] == 50.0
    assert rbt_main(["shadow", "status", "--home", root]) == 0
    assert run_id in capsys.readouterr().out
    assert rbt_main(["shadow", "status", "--home", root, "--watch", "--count", "1",
                     "--interval", "0"]) == 0  # fmt: skip
    assert "match rate" in capsys.readouterr().out

    out = tmp_path / "shadow.html"
    assert rbt_main(["shadow", "report", run_id, "-o", str(out), "--home", root, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["report"] == str(out)
    page = out.read_text()
    assert "<script src" not in page  # self-contained
    assert page.count("Plotly.newPlot(") == 4
    assert "Signal match rate" in page
    assert "Slippage error" in page
    assert run_id in page

    assert rbt_main(["shadow", "calibrate", run_id, "--home", root, "--json"]) == 0
    suggested = json.loads(capsys.readouterr().out)["suggested"]
    assert suggested["slippage"]["provider"] == "fixed_bps"
    assert float(suggested["slippage"]["params"]["basis_points"]) == pytest.approx(15)
    assert rbt_main(["shadow", "calibrate", run_id, "--home", root]) == 0
    assert "--slippage fixed_bps" in capsys.readouterr().out

    assert rbt_main(["shadow", "status", "nope", "--home", root]) == 2
    assert "no shadow metrics" in capsys.readouterr().err
