"""Every example runs on the demo bundle; the bracket example's documented result holds.

The numbers below are the ones README.md explains (section "The bracket example");
the demo data is deterministic, so they are exact.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from rbt.api import run_backtest
from rbt.data.home import RbtHome
from rbt.data.ingest import ingest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory: pytest.TempPathFactory) -> RbtHome:
    home = RbtHome(tmp_path_factory.mktemp("examples"))
    ingest(home, "demo", "demo", {})
    return home


@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.glob("*.py")))
def test_example_runs_and_trades(name: str, demo_home: RbtHome) -> None:
    result = run_backtest(
        EXAMPLES / name,
        start="2019-01-02",
        end="2020-12-31",
        capital_base=1_000_000,
        home=demo_home,
        write=False,
    )
    assert len(result.transactions) > 0
    assert result.final_value > 0


def test_bracket_example_result_as_the_readme_explains(demo_home: RbtHome) -> None:
    result = run_backtest(
        EXAMPLES / "bracket_breakout.py",
        start="2019-01-02",
        end="2021-12-31",
        capital_base=1_000_000,
        home=demo_home,
        write=False,
    )
    assert result.final_value == Decimal("1412505.466140")
    assert len(result.transactions) == 123
    assert sum(result.transactions["commission"].to_list()) == Decimal("1174.250")
    xbb = result.positions.filter(pl.col("symbol") == "XBB")
    amounts = dict(zip(xbb["session"].to_list(), xbb["amount"].to_list(), strict=True))
    assert amounts[dt.date(2020, 8, 28)] == 1624  # before the 2-for-1 split ...
    assert amounts[dt.date(2020, 8, 31)] == 3248  # ... and on its ex-date
    stops = result.orders.filter((pl.col("symbol") == "XBB") & (pl.col("type") == "stop"))
    assert stops["status"].to_list() == ["cancelled", "accepted"]  # re-protected after it
    assert stops["amount"].to_list() == [Decimal(-1624), Decimal(-3248)]
