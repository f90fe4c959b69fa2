"""Paper trading on a replay with the shadow on: the shadow is the backtest, so every
decision matches exactly, there is no slippage error, and the breaker never trips."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from rbt.data.db import open_database
from rbt.data.home import RbtHome
from rbt.shadow import ShadowBacktestEngine
from rbt.shadow.store import load_rows

from .conftest import EXAMPLES, run_with_shadow

CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "dual_moving_average": (
        str(EXAMPLES / "dual_moving_average.py"),
        {"universe": "AAA,BBB,CCC,DDD,EEE", "fast": 10, "slow": 40},
    ),
    "monthly_momentum": (str(EXAMPLES / "monthly_momentum.py"), {"lookback": 63}),
    "every_bar": ("every_bar", {}),
    "small": ("small", {}),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_paper_with_shadow_matches_exactly(
    name: str, shadow_home: RbtHome, strategies: dict[str, Path]
) -> None:
    spec, params = CASES[name]
    strategy = strategies.get(spec) or Path(spec)
    shadow = ShadowBacktestEngine()
    result, run = run_with_shadow(
        strategy,
        shadow,
        start="2016-01-04",
        end="2016-08-31",
        bundle="demo",
        home=shadow_home,
        params=params,
        capital_base=1_000_000,
    )
    status = shadow.status()
    assert status["state"] == "running", status
    assert result.trading_state == "ACTIVE"
    assert result.orders.height > 0
    metrics = status["metrics"]
    assert metrics["match_rate"]["value"] == 1.0
    assert metrics["match_rate"]["samples"] > 0
    assert metrics["slippage_error_bps"]["value"] == 0.0
    assert metrics["fill_rate_error"]["value"] == 0.0
    assert metrics["commission_error_bps"]["value"] == 0.0
    # the shadow is the backtest of the same decisions: the books agree to the cent
    shadow_value = shadow.ledger.cash + shadow.ledger.positions_value()
    assert shadow_value == result.final_value
    assert len(shadow.session.fills) == result.transactions.height
    # memory stays bounded: finished orders are dropped once the checks had them
    open_live = [o.id for o in run.session.orders if o.is_open]
    assert sorted(shadow.live.open_ids()) == sorted(open_live)
    assert shadow.live.tracked == len(open_live)
    rows = load_rows(open_database(shadow_home), result.run_id)
    kinds = {r["metric"] for r in rows}
    assert "trip" not in kinds
    assert "shadow_failed" not in kinds
    assert "signal" not in kinds
    rates = [Decimal(r["value"]) for r in rows if r["metric"] == "match_rate"]
    assert rates
    assert set(rates) == {Decimal(1)}
    executions = [r for r in rows if r["metric"] == "execution"]
    assert executions
    assert {r["value"] for r in executions} <= {"ok", "neither_filled"}


def test_the_shadow_does_not_change_the_live_run(
    tmp_path: Path, shadow_home: RbtHome, strategies: dict[str, Path]
) -> None:
    from rbt.live.engine import run_paper

    common: dict[str, Any] = {
        "start": "2016-01-04",
        "end": "2016-04-29",
        "bundle": "demo",
        "capital_base": 1_000_000,
    }
    with_shadow, _ = run_with_shadow(
        strategies["small"], ShadowBacktestEngine(), home=shadow_home, **common
    )
    other = RbtHome(tmp_path / "home")
    other.root.mkdir(parents=True)
    (other.root / "bundles").symlink_to(shadow_home.root / "bundles")
    without = run_paper(strategies["small"], home=other, **common)
    assert with_shadow.run_id == without.run_id
    assert with_shadow.orders.equals(without.orders)
    assert with_shadow.transactions.equals(without.transactions)
    assert with_shadow.final_value == without.final_value
