"""End to end on real market data: GOOG daily bars (shipped by the ``backtesting``
package) through the CSV source, a Parquet bundle and a moving-average crossover,
checked against an independent plain-Python computation of the same strategy.
"""

from __future__ import annotations

import csv
import shutil
from decimal import Decimal
from importlib.resources import files
from pathlib import Path

import pytest

from rbt.api import TradingAlgorithm, order, order_target, run_backtest, symbol
from rbt.data.home import RbtHome
from rbt.data.ingest import ingest

FAST, SLOW, CAPITAL = 10, 30, Decimal(100_000)


def _goog_csv() -> Path:
    return Path(str(files("backtesting") / "test" / "GOOG.csv"))


def _reference(rows: list[dict[str, str]]) -> tuple[Decimal, int]:
    """The strategy by hand: decide at each close, fill at the next open, no costs.

    Long all-in (whole shares of cash + position value at the close) while the
    10-day mean close is above the 30-day one; flat otherwise.
    """
    closes = [Decimal(r["Close"]) for r in rows]
    opens = [Decimal(r["Open"]) for r in rows]
    cash, shares, fills, pending = CAPITAL, Decimal(0), 0, Decimal(0)
    for t in range(len(rows)):
        if pending:
            cash -= pending * opens[t]
            shares += pending
            fills += 1
            pending = Decimal(0)
        if t == len(rows) - 1 or t < SLOW - 1:
            continue
        # the engine compares float means, as a Zipline user's strategy would
        fast = sum(float(c) for c in closes[t - FAST + 1 : t + 1]) / FAST
        slow = sum(float(c) for c in closes[t - SLOW + 1 : t + 1]) / SLOW
        if fast > slow and shares == 0:
            value = float(cash + shares * closes[t])
            pending = Decimal(int(value // float(closes[t])))
        elif fast <= slow and shares > 0:
            pending = -shares
    return cash + shares * closes[-1], fills


class GoogCrossover(TradingAlgorithm):
    def initialize(self, context):  # type: ignore[no-untyped-def]
        context.asset = symbol("GOOG")

    def handle_data(self, context, data):  # type: ignore[no-untyped-def]
        closes = data.history(context.asset, "close", SLOW, "1d", frame="numpy")
        if closes[0] != closes[0]:  # NaN: not enough history yet
            return
        fast = sum(closes[-FAST:].tolist()) / FAST
        slow = sum(closes.tolist()) / SLOW
        held = context.portfolio.positions[context.asset].amount
        if fast > slow and held == 0:
            price = data.current(context.asset, "close")
            order(context.asset, int(context.portfolio.portfolio_value // price))
        elif fast <= slow and held > 0:
            order_target(context.asset, 0)


@pytest.fixture(scope="module")
def goog_home(tmp_path_factory: pytest.TempPathFactory) -> RbtHome:
    root = tmp_path_factory.mktemp("goog")
    source = root / "csv"
    source.mkdir()
    shutil.copy(_goog_csv(), source / "GOOG.csv")
    home = RbtHome(root / "home")
    ingest(home, "csv", "goog", {"path": str(source), "calendar": "XNYS"})
    return home


def test_goog_crossover_matches_an_independent_computation(goog_home: RbtHome) -> None:
    with open(_goog_csv(), newline="") as handle:
        rows = list(csv.DictReader(handle))
    expected_value, expected_fills = _reference(rows)
    result = run_backtest(
        GoogCrossover,
        start=rows[0][""],
        end=rows[-1][""],
        capital_base=CAPITAL,
        bundle="goog",
        home=goog_home,
        fill_timing="next_open",
        commission="none",
        slippage="none",
        write=False,
    )
    assert expected_fills > 20  # the crossover really trades on this data
    assert len(result.transactions) == expected_fills
    assert result.final_value == expected_value
    assert len(result.perf) == len(rows)


def test_goog_with_zipline_default_costs_pays_commission_and_slippage(goog_home: RbtHome) -> None:
    free = run_backtest(
        GoogCrossover,
        start="2005-01-03",
        end="2012-12-31",
        capital_base=CAPITAL,
        bundle="goog",
        home=goog_home,
        write=False,
        commission="none",
        slippage="none",
    )
    costly = run_backtest(
        GoogCrossover,
        start="2005-01-03",
        end="2012-12-31",
        capital_base=CAPITAL,
        bundle="goog",
        home=goog_home,
        write=False,
    )
    commissions = sum(Decimal(str(c)) for c in costly.transactions["commission"].to_list())
    shares = sum(abs(Decimal(str(a))) for a in costly.transactions["amount"].to_list())
    assert commissions == shares * Decimal("0.001")  # PerShare, no minimum
    assert costly.final_value < free.final_value
