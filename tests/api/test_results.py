"""Results: exact Polars frames, reproducible files, run ids, and the ledger replay."""

from __future__ import annotations

import datetime as dt
import json
import textwrap
from decimal import Decimal

import polars as pl
import pytest

from rbt.api import TradingAlgorithm, order, order_target_percent, record
from rbt.data.home import RbtHome
from rbt.kernel.errors import LedgerInvariantError
from rbt.kernel.ledger import Ledger
from rbt.kernel.model import Asset, Fill
from rbt.plugins.calendars import get_calendar

D = Decimal
SESSIONS = list(get_calendar("XNYS").sessions(dt.date(2024, 1, 2), dt.date(2024, 3, 28)))
AAA = Asset(sid=1, symbol="AAA")
BBB = Asset(sid=2, symbol="BBB")
ASSETS = {1: AAA, 2: BBB}


class Trader(TradingAlgorithm):
    PARAMS = {"weight": 0.3}  # noqa: RUF012

    def initialize(self, context):
        context.i = 0

    def handle_data(self, context, data):
        if context.i % 7 == 0:
            order_target_percent(AAA, context.params.weight if context.i % 14 else 0.1)
            order(BBB, -13 if context.i % 3 else 17)
        record(signal=context.i * 0.5)
        context.i += 1


def _decimal(frame: pl.DataFrame, column: str) -> bool:
    return isinstance(frame.schema[column], pl.Decimal)


def test_frames_have_exact_decimal_columns(run):
    result = run(Trader())
    assert result.perf.height == len(SESSIONS)
    assert result.perf["session"].to_list() == SESSIONS
    for column in ("portfolio_value", "cash", "positions_value", "pnl"):
        assert _decimal(result.perf, column), column
    assert result.perf.schema["returns"] == pl.Float64
    assert result.perf["signal"].to_list() == [i * 0.5 for i in range(len(SESSIONS))]
    for column in ("amount", "price", "commission"):
        assert _decimal(result.transactions, column), column
    for column in ("amount", "filled", "commission"):
        assert _decimal(result.orders, column), column
    for column in ("amount", "last_price"):
        assert _decimal(result.positions, column), column
    assert result.transactions.height > 10
    assert set(result.orders["status"]) <= {"filled", "partially_filled", "accepted"}
    # fills happen at most at the last session, and the perf rows count them
    assert result.perf["transactions"][-1] == result.transactions.height
    assert result.perf["orders"][-1] == result.orders.height


def test_final_value_equals_the_ledger_and_a_replay_of_the_fills(run):
    """Rebuild the books from the transactions frame alone: its cash, positions valued at
    the last closes, and the final value must equal what the run reports."""
    capital = D(1_000_000)
    result = run(Trader())
    fills = [
        Fill(
            id=r["id"],
            order_id=r["order_id"],
            asset=ASSETS[r["sid"]],
            amount=r["amount"],
            price=r["price"],
            ts=r["ts"],
            commission=r["commission"],
        )
        for r in result.transactions.iter_rows(named=True)
    ]
    ledger = Ledger.replay(capital, fills)
    last = result.perf.row(-1, named=True)
    assert ledger.cash == last["cash"]
    closes = result.positions.filter(pl.col("session") == SESSIONS[-1])
    for row in closes.iter_rows(named=True):
        ledger.mark(ASSETS[row["sid"]], row["last_price"])
        assert ledger.position_amount(ASSETS[row["sid"]]) == row["amount"]
    assert ledger.positions_value() == last["positions_value"]
    assert ledger.account().portfolio_value == result.final_value == last["portfolio_value"]
    assert D(result.manifest["final_value"]) == result.final_value
    # the pnl column adds up to the change in value, exactly
    assert capital + sum(result.perf["pnl"].to_list(), D(0)) == result.final_value
    # an exact close: AAA's last close is 100 + 0.5 × 60 = 130
    assert closes.filter(pl.col("sid") == 1)["last_price"].to_list() == [D(130)]


def _files(directory):
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def test_identical_runs_write_byte_identical_files(run, tmp_path):
    first_home, second_home = tmp_path / "one", tmp_path / "two"
    first = run(Trader(), home=first_home)
    second = run(Trader(), home=second_home)
    assert first.run_id == second.run_id
    assert first.path == RbtHome(first_home).results / first.run_id
    files = _files(first.path)
    assert set(files) == {
        "perf.parquet",
        "transactions.parquet",
        "orders.parquet",
        "positions.parquet",
        "manifest.json",
    }
    assert files == _files(second.path)
    # running again into the same home replaces the directory with the same bytes
    again = run(Trader(), home=first_home)
    assert again.path == first.path
    assert _files(again.path) == files
    assert [p.name for p in first.path.parent.iterdir()] == [first.run_id]  # no leftovers
    # the files hold the same exact values as the frames
    assert pl.read_parquet(first.path / "transactions.parquet").equals(first.transactions)
    assert pl.read_parquet(first.path / "perf.parquet").equals(first.perf)
    manifest = json.loads(files["manifest.json"])
    assert manifest["run_id"] == first.run_id
    assert manifest["params"] == {"weight": 0.3}
    assert manifest["commission"] == "PerShare(cost=0.001, min_trade_cost=0)"
    assert manifest["fill_timing"] == "next_close"


def test_run_ids_follow_the_inputs(run, tmp_path):
    base = run(Trader())
    assert run(Trader()).run_id == base.run_id
    assert run(Trader(), params={"weight": "0.4"}).run_id != base.run_id
    assert run(Trader(), end=SESSIONS[-2]).run_id != base.run_id
    assert run(Trader(), capital_base=2_000_000).run_id != base.run_id
    assert run(Trader(), commission="none").run_id != base.run_id
    assert run(Trader(), fill_timing="next_open").run_id != base.run_id
    assert run(Trader(), bundle_hash="other").run_id != base.run_id
    # params equal to the defaults are the same run
    assert run(Trader(), params={"weight": "0.3"}).run_id == base.run_id


def test_a_change_in_a_strategy_helper_changes_the_run_id(run, tmp_path):
    """The run id hashes the whole strategy file, so editing a helper (not one of
    initialize/handle_data/...) is a different run, whether run by path or loaded."""
    from rbt.api.loader import load_strategy

    text = """\
        from rbt.api import order, symbol


        def size():
            return {n}


        def initialize(context):
            context.done = False


        def handle_data(context, data):
            if not context.done:
                order(symbol("AAA"), size())
                context.done = True
    """
    one, two = tmp_path / "one.py", tmp_path / "two.py"
    one.write_text(textwrap.dedent(text).replace("{n}", "10"))
    two.write_text(textwrap.dedent(text).replace("{n}", "20"))
    by_path = run(str(one))
    loaded = run(load_strategy(one).strategy)
    other = run(str(two))
    assert by_path.run_id == loaded.run_id
    assert other.run_id != by_path.run_id
    assert by_path.orders["amount"].to_list() == [D(10)]
    assert other.orders["amount"].to_list() == [D(20)]


def test_the_ledger_replay_runs_when_the_session_finishes(run):
    """Tamper with the books after the last fill: the O(1) per-fill check cannot see it,
    the replay at the end of the session must."""

    class Tamper(TradingAlgorithm):
        def initialize(self, context):
            context.i = 0

        def handle_data(self, context, data):
            if context.i == 0:
                order(AAA, 10)
            if context.i == len(SESSIONS) - 1:
                context.portfolio._engine.ledger.cash += D("0.01")
            context.i += 1

    with pytest.raises(LedgerInvariantError, match="replay of 1 entries differs"):
        run(Tamper())


def test_nothing_is_written_with_write_false(run, tmp_path, monkeypatch):
    monkeypatch.setenv("RBT_HOME", str(tmp_path / "home"))
    result = run(Trader(), write=False)
    assert result.path is None
    assert not (tmp_path / "home").exists()
