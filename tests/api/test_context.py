"""``context``: the float portfolio over the exact ledger, ``record``, ``symbol``, the
initialize-only setters, and the module functions outside a run."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

import rbt.api as api
from rbt.api import (
    TradingAlgorithm,
    order,
    record,
    set_commission,
    set_slippage,
    symbol,
    symbols,
)
from rbt.finance.commission import PerTrade
from rbt.finance.slippage import FixedSlippage
from rbt.kernel.errors import ConfigError, RbtError
from rbt.kernel.model import Account, Asset
from rbt.plugins.calendars import get_calendar

D = Decimal
SESSIONS = list(get_calendar("XNYS").sessions(dt.date(2024, 1, 2), dt.date(2024, 3, 28)))
AAA = Asset(sid=1, symbol="AAA")
BBB = Asset(sid=2, symbol="BBB")

#: bar → orders placed in its handle_data
TRADES = {0: [(AAA, 100), (BBB, -40)], 3: [(AAA, -30)], 5: [(BBB, 90)], 8: [(AAA, -170)]}


class Watcher(TradingAlgorithm):
    """Trades on a few bars and snapshots ``context.portfolio`` on every bar."""

    def initialize(self, context):
        self.snapshots = []
        context.bar = 0

    def handle_data(self, context, data):
        p = context.portfolio
        exact = p.exact
        self.snapshots.append(
            {
                "cash": p.cash,
                "portfolio_value": p.portfolio_value,
                "positions_value": p.positions_value,
                "returns": p.returns,
                "pnl": p.pnl,
                "starting_cash": p.starting_cash,
                "capital_used": p.capital_used,
                "positions": {
                    a: (v.amount, v.cost_basis, v.last_sale_price) for a, v in p.positions.items()
                },
                "missing": p.positions[Asset(sid=77, symbol="NONE")].amount,
                "prices": {a: data.current(a, "price") for a in (AAA, BBB)},
                "account": context.account.portfolio_value,
                "exact": exact,
            }
        )
        for asset, amount in TRADES.get(context.bar, []):
            order(asset, amount)
        context.bar += 1


def test_portfolio_floats_match_the_exact_ledger(run):
    strategy = Watcher()
    result = run(strategy)
    perf_values = [D(str(v)) for v in result.perf["portfolio_value"]]
    perf_cash = [D(str(v)) for v in result.perf["cash"]]
    positions_seen = 0
    for i, snap in enumerate(strategy.snapshots):
        exact: Account = snap["exact"]
        assert isinstance(exact, Account)
        assert isinstance(exact.cash, Decimal)
        assert isinstance(exact.portfolio_value, Decimal)
        assert snap["cash"] == float(exact.cash)
        assert snap["starting_cash"] == float(exact.starting_cash) == 1_000_000.0
        assert snap["positions_value"] == pytest.approx(float(exact.positions_value), rel=1e-12)
        assert snap["portfolio_value"] == pytest.approx(float(exact.portfolio_value), rel=1e-12)
        assert snap["account"] == snap["portfolio_value"]
        expected_returns = float(exact.portfolio_value / exact.starting_cash - 1)
        assert snap["returns"] == pytest.approx(expected_returns, rel=1e-9, abs=1e-15)
        assert snap["pnl"] == pytest.approx(
            float(exact.portfolio_value - exact.starting_cash), rel=1e-9, abs=1e-6
        )
        assert snap["capital_used"] == pytest.approx(float(exact.starting_cash - exact.cash))
        assert snap["missing"] == 0.0
        # handle_data runs at the session close, after the bar's fills: what the strategy
        # sees is what the perf frame records for that session
        assert exact.portfolio_value == perf_values[i]
        assert exact.cash == perf_cash[i]
        for asset, (amount, cost_basis, last) in snap["positions"].items():
            positions_seen += 1
            assert last == snap["prices"][asset]  # valued at the current bar's close
            assert cost_basis > 0
            assert amount != 0
    assert positions_seen > 0
    # the books at the end, from the result's frames
    final = strategy.snapshots[-1]
    assert final["positions"][BBB][0] == -40 + 90
    assert final["positions"][AAA][0] == 100 - 30 - 170
    assert result.final_value == perf_values[-1]


def test_cost_basis_is_the_average_fill_price(run):
    """Zero costs: 100 AAA at bar 1's close 100.50, then +100 at bar 2's 101.00 →
    average cost 100.75."""

    class Buyer(TradingAlgorithm):
        def initialize(self, context):
            context.bar = 0

        def handle_data(self, context, data):
            if context.bar in (0, 1):
                order(AAA, 100)
            if context.bar == 3:
                self.position = context.portfolio.positions[AAA]
            context.bar += 1

    strategy = Buyer()
    run(strategy, commission="none", slippage="none")
    assert strategy.position.amount == 200.0
    assert strategy.position.cost_basis == 100.75
    assert strategy.position.last_sale_price == 101.5


class Recorder(TradingAlgorithm):
    def initialize(self, context):
        context.bar = 0

    def handle_data(self, context, data):
        record(bar=context.bar, price=data.current(AAA, "price"))
        if context.bar % 2 == 0:
            record("even", context.bar)
        if context.bar == 3:
            record(late=D("1.5"))
        context.bar += 1


def test_record_adds_perf_columns(run):
    """Recorded names become perf columns, one value per session; a value recorded
    earlier carries forward until recorded again (Zipline); before the first record
    the column is null."""
    result = run(Recorder())
    perf = result.perf
    n = len(SESSIONS)
    assert perf["bar"].to_list() == list(range(n))
    assert perf["price"].to_list() == [100 + 0.5 * i for i in range(n)]
    assert perf["even"].to_list() == [i - i % 2 for i in range(n)]
    assert perf["late"].to_list() == [None] * 3 + [1.5] * (n - 3)
    pandas_perf = result.to_pandas()
    assert list(pandas_perf["bar"]) == list(range(n))


def test_record_rejects_unpaired_arguments(run):
    class Odd(TradingAlgorithm):
        def handle_data(self, context, data):
            record("x")

    with pytest.raises(TypeError, match="name/value pairs"):
        run(Odd())


class Lookup(TradingAlgorithm):
    def initialize(self, context):
        self.found = (symbol("AAA"), symbols("BBB", "AAA"), api.sid(2))
        try:
            symbol("AAB")
        except LookupError as exc:
            self.error = str(exc)


def test_symbol_lookup_and_suggestions(run):
    strategy = Lookup()
    run(strategy)
    assert strategy.found == (AAA, [BBB, AAA], BBB)
    assert "unknown symbol 'AAB'" in strategy.error
    assert "did you mean AAA" in strategy.error


def test_unknown_symbol_propagates_as_lookup_error(run):
    class Typo(TradingAlgorithm):
        def initialize(self, context):
            self.asset = symbol("ZZZZ")

    with pytest.raises(LookupError, match="unknown symbol 'ZZZZ'"):
        run(Typo())


class CustomCosts(TradingAlgorithm):
    def initialize(self, context):
        set_commission(PerTrade(cost=7))
        set_slippage(us_equities=FixedSlippage(spread="0.5"))
        context.bar = 0

    def handle_data(self, context, data):
        if context.bar == 0:
            order(AAA, 10)
        context.bar += 1


def test_set_commission_and_slippage_in_initialize(run):
    """PerTrade(7) and FixedSlippage(0.5): 10 AAA at bar 1's close 100.50 + 0.25."""
    result = run(CustomCosts())
    (fill,) = result.transactions.iter_rows(named=True)
    assert (fill["amount"], fill["price"], fill["commission"]) == (D(10), D("100.75"), D(7))


def test_set_commission_by_provider_name(run):
    class Named(TradingAlgorithm):
        def initialize(self, context):
            set_commission("none")
            set_slippage("none")
            context.bar = 0

        def handle_data(self, context, data):
            if context.bar == 0:
                order(AAA, 10)
            context.bar += 1

    (fill,) = run(Named()).transactions.iter_rows(named=True)
    assert (fill["price"], fill["commission"]) == (D("100.5"), D(0))


@pytest.mark.parametrize(
    "setter", [lambda: set_commission(PerTrade(cost=1)), lambda: set_slippage(FixedSlippage())]
)
def test_setters_outside_initialize_are_refused(run, setter):
    class Late(TradingAlgorithm):
        def handle_data(self, context, data):
            setter()

    with pytest.raises(RbtError, match=r"can only be called in initialize\(\)"):
        run(Late())


@pytest.mark.parametrize(
    "bad", [lambda: set_commission(), lambda: set_commission(object()), lambda: set_slippage(42)]
)
def test_setters_check_their_model(run, bad):
    class Wrong(TradingAlgorithm):
        def initialize(self, context):
            bad()

    with pytest.raises(ConfigError):
        run(Wrong())


@pytest.mark.parametrize(
    "call",
    [
        lambda: api.order(AAA, 1),
        lambda: api.order_value(AAA, 1),
        lambda: api.record(x=1),
        lambda: api.symbol("AAA"),
        lambda: api.get_open_orders(),
        lambda: api.get_datetime(),
        lambda: api.schedule_function(lambda c, d: None),
        lambda: api.set_commission("none"),
        lambda: api.cancel_order("x"),
        lambda: api.order_target_percent(AAA, 0.1),
    ],
)
def test_module_functions_outside_a_run_raise_a_clear_error(call):
    with pytest.raises(RbtError, match="only inside a running algorithm"):
        call()


def test_params_are_read_only_inside_the_run(run):
    class Reader(TradingAlgorithm):
        PARAMS = {"window": 5}  # noqa: RUF012 - the documented way to declare them

        def initialize(self, context):
            self.window = (context.params["window"], context.params.window)
            with pytest.raises(AttributeError, match="read-only"):
                context.params.window = 3
            with pytest.raises(AttributeError, match="declared: window"):
                _ = context.params.windw

    strategy = Reader()
    run(strategy)
    assert strategy.window == (5, 5)
