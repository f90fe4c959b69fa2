"""The promise: a strategy file runs unchanged in backtest and in paper over a replay.

Orders (compared without ids), fills, daily positions and the final value are equal.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from rbt.api.runner import run_backtest
from rbt.data.home import RbtHome
from rbt.live.engine import run_paper

from .conftest import EXAMPLES

CASES = {
    "dual_moving_average": (
        EXAMPLES / "dual_moving_average.py",
        {"universe": "AAA,BBB,CCC,DDD,EEE", "fast": 10, "slow": 40},
    ),
    "monthly_momentum": (EXAMPLES / "monthly_momentum.py", {"lookback": 63}),
}


def _without_ids(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.drop([c for c in frame.columns if "id" in c.split("_") or c == "id"])


def _compare(strategy: Path, home: RbtHome, params: dict[str, Any], **kw: Any) -> Any:
    common = {
        "start": "2016-01-04",
        "end": "2017-06-30",
        "bundle": "demo",
        "home": home,
        "params": params,
        "capital_base": 1_000_000,
    }
    backtest = run_backtest(strategy, write=False, **common)
    paper = run_paper(strategy, **common, **kw)
    assert paper.orders.height > 0
    assert _without_ids(paper.orders).equals(_without_ids(backtest.orders))
    assert _without_ids(paper.transactions).equals(_without_ids(backtest.transactions))
    assert paper.positions.equals(backtest.positions)
    cent = Decimal("0.01")
    assert paper.final_value.quantize(cent) == Decimal(backtest.manifest["final_value"]).quantize(
        cent
    )
    assert paper.perf["portfolio_value"].equals(backtest.perf["portfolio_value"])
    return backtest, paper


@pytest.mark.parametrize("name", sorted(CASES))
def test_examples_run_unchanged_in_paper(name: str, demo_home: RbtHome) -> None:
    path, params = CASES[name]
    _compare(path, demo_home, params)


def test_small_function_strategy_with_limit_orders_and_hooks(
    demo_home: RbtHome, small_strategy: Path
) -> None:
    backtest, paper = _compare(small_strategy, demo_home, {})
    assert paper.orders["id"].str.starts_with("paper-").all()
    assert backtest.orders["id"].str.starts_with("bt-").all()
