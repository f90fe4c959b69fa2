"""The strategy-facing side: execution styles, brackets, replace, controls, cash account.

Runs go through :func:`rbt.api.run_backtest` on real daily bars: AAA closes at
100 + 0.5·i on session i (open = close − 0.25, high/low = close ± 1), volume 1e6;
capital 1 000 000; no costs unless stated.
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest

from rbt.api import (
    TradingAlgorithm,
    get_order,
    order,
    replace_order,
    set_commission,
    set_do_not_order_list,
    set_long_only,
    set_max_leverage,
    set_max_order_count,
    set_max_order_size,
    set_max_position_size,
    set_slippage,
)
from rbt.api.controls import TradingControlViolation
from rbt.data.bars import bars_from_floats
from rbt.finance.commission import PerTrade
from rbt.finance.execution import BracketOrder, LimitOrder, MarketOrder, StopOrder
from rbt.kernel.model import Asset, OrderStatus
from rbt.plugins import plugin_manager

from .conftest import SESSIONS

D = Decimal
AAA = Asset(sid=1, symbol="AAA")
BBB = Asset(sid=2, symbol="BBB")
N = 10


def _bars():
    close = 100.0 + 0.5 * np.arange(N, dtype=float)[:, None] * np.array([[1.0, 0.5]])
    close[:, 1] = close[:, 1] / 2
    return bars_from_floats(
        [AAA, BBB],
        SESSIONS[:N],
        {
            "open": close - 0.25,
            "high": close + 1,
            "low": close - 1,
            "close": close,
            "volume": np.full((N, 2), 1e6),
        },
        calendar="XNYS",
    )


def run(strategy, **kw):
    from rbt.api import run_backtest

    kw.setdefault("commission", "none")
    kw.setdefault("slippage", "none")
    return run_backtest(
        strategy,
        start=SESSIONS[0],
        end=SESSIONS[N - 1],
        bars=_bars(),
        capital_base=1_000_000,
        write=False,
        manager=plugin_manager(autoload=False, strict=True),
        **kw,
    )


class Script(TradingAlgorithm):
    """``setup(context)`` in initialize; ``steps[bar]()`` on that bar; hooks recorded."""

    def __init__(self, steps, setup=None):
        self.steps, self.setup, self.out, self.events = steps, setup, {}, []

    def initialize(self, context):
        context.bar = 0
        if self.setup:
            self.setup(context)

    def handle_data(self, context, data):
        step = self.steps.get(context.bar)
        if step:
            self.out[context.bar] = step()
        context.bar += 1

    def on_order_reject(self, context, o):
        self.events.append(("reject", o.id, o.reason_code))

    def on_order_cancel(self, context, o):
        self.events.append(("cancel", o.id, o.status.value))


def test_zipline_styles_round_to_the_tick_on_the_passive_side():
    """Bar 0 (AAA 100.00): buy LimitOrder(99.996) → 99.99 (down); sell StopOrder(98.004)
    → 98.00 (down: a sell stop triggers later lower). Bar 1 (open 100.25, low 99.50): the
    low reaches 99.99 and the open is above it, so the limit fills at 99.99; the market
    order at bar 1's close 100.50; the stop is never reached."""
    s = Script(
        {
            0: lambda: (
                order(AAA, 10, style=LimitOrder(99.996)),
                order(AAA, -5, style=StopOrder(98.004)),
                order(AAA, 1, style=MarketOrder()),
            )
        }
    )
    result = run(s)
    buy, sell, market = s.out[0]
    rows = {r["id"]: r for r in result.orders.iter_rows(named=True)}
    assert rows[buy]["type"] == "limit"
    assert rows[buy]["status"] == "filled"
    tx = {r["order_id"]: r for r in result.transactions.iter_rows(named=True)}
    assert tx[buy]["price"] == D("99.99")
    assert tx[market]["price"] == D("100.50")
    assert rows[sell]["status"] == "accepted"


def test_bracket_order_from_the_api():
    """Bar 0: buy 10 with BracketOrder(take_profit=101.20, stop_loss=95). Entry fills on bar
    1 at close 100.50; bar 2's high is 102.00 ≥ 101.20 → TP at 101.20 (open 100.75 below);
    SL cancelled. Realized P&L 10 × 0.70 = 7."""
    s = Script({0: lambda: order(AAA, 10, style=BracketOrder(take_profit=101.2, stop_loss=95))})
    result = run(s)
    statuses = sorted(r["status"] for r in result.orders.iter_rows(named=True))
    assert statuses == ["cancelled", "filled", "filled"]
    prices = sorted(r["price"] for r in result.transactions.iter_rows(named=True))
    assert prices == [D("100.50"), D("101.20")]
    assert result.perf["cash"][-1] == D(1_000_007)


def test_replace_order_from_the_api():
    """Bar 0: limit 90 (never reached). Bar 1: replace_order(price 101.00) → old cancelled,
    new order linked; bar 2 (low 100.00) fills it at min(open 100.75, 101.00) = 100.75."""
    ids = {}

    def bar0():
        ids["old"] = order(AAA, 5, limit_price=90.0)

    def bar1():
        ids["new"] = replace_order(ids["old"], limit_price=101.0)
        ids["new_order"] = get_order(ids["new"])

    s = Script({0: bar0, 1: bar1})
    result = run(s)
    assert ids["new_order"].style.replaces == ids["old"]
    rows = {r["id"]: r["status"] for r in result.orders.iter_rows(named=True)}
    assert rows == {ids["old"]: "cancelled", ids["new"]: "filled"}
    assert ("cancel", ids["old"], "cancelled") in s.events
    (price,) = result.transactions["price"].to_list()
    assert price == D("100.75")


def _deny(setup, step):
    s = Script({0: step}, setup)
    result = run(s)
    return s, result


@pytest.mark.parametrize(
    ("setup", "amount", "name"),
    [
        (lambda c: set_max_order_size(max_shares=100, on_error="deny"), 101, "MaxOrderSize"),
        (
            lambda c: set_max_order_size(AAA, max_notional=10_000, on_error="deny"),
            101,
            "MaxOrderSize",
        ),
        (lambda c: set_max_position_size(max_shares=50, on_error="deny"), 51, "MaxPositionSize"),
        (lambda c: set_long_only(on_error="deny"), -1, "LongOnly"),
        (lambda c: set_do_not_order_list([AAA], on_error="deny"), 1, "RestrictedListOrder"),
        (lambda c: set_max_leverage(0.5, on_error="deny"), 5001, "MaxLeverage"),
    ],
)
def test_controls_deny_with_a_reason(setup, amount, name):
    """Each control on AAA at 100.00: the violating order is DENIED (TRADING_CONTROL: name)
    and on_order_reject sees it; 5 001 × 100 = 500 100 > 0.5 × 1 000 000 for leverage."""
    s, result = _deny(setup, lambda: order(AAA, amount))
    (row,) = result.orders.iter_rows(named=True)
    assert row["status"] == "denied"
    assert row["reason"].startswith(f"TRADING_CONTROL: {name}: ")
    assert s.events == [("reject", row["id"], "TRADING_CONTROL")]
    assert len(result.transactions) == 0


def test_controls_let_valid_orders_through():
    _s, result = _deny(
        lambda c: (
            set_max_order_size(max_shares=100, on_error="deny"),
            set_long_only(on_error="deny"),
        ),
        lambda: order(AAA, 100),
    )
    assert result.orders["status"].to_list() == ["filled"]


def test_on_error_fail_raises_and_log_allows(caplog):
    """Zipline's default on_error="fail" raises TradingControlViolation from order();
    "log" logs the violation and the order goes through."""
    with pytest.raises(TradingControlViolation, match="LongOnly"):
        run(Script({0: lambda: order(AAA, -1)}, lambda c: set_long_only()))
    _s, result = _deny(lambda c: set_long_only(on_error="log"), lambda: order(AAA, -1))
    assert result.orders["status"].to_list() == ["filled"]
    assert "LongOnly" in caplog.text


def test_max_order_count_per_session():
    """Two orders a session: the third on bar 0 is denied; bar 1 starts afresh."""
    s = Script(
        {0: lambda: [order(AAA, 1) for _ in range(3)], 1: lambda: order(AAA, 1)},
        lambda c: set_max_order_count(2, on_error="deny"),
    )
    result = run(s)
    assert result.orders["status"].to_list() == ["filled", "filled", "denied", "filled"]


def test_cash_account_denies_buys_beyond_free_cash():
    """Cash account, capital 1 000 000, AAA at 100.00 on bar 0: buy 9 000 (900 000) passes;
    buy 2 000 more (200 000) exceeds the free 100 000 (900 000 committed) → DENIED
    INSUFFICIENT_CASH; a sell is never checked. A margin account accepts both."""
    steps = {0: lambda: [order(AAA, 9000), order(AAA, 2000), order(BBB, -10)]}
    cash = Script(steps)
    result = run(cash, account="cash")
    assert result.orders["status"].to_list() == ["filled", "denied", "filled"]
    assert result.orders["reason"][1].startswith("INSUFFICIENT_CASH: cost 200000")
    margin = run(Script(steps))
    assert margin.orders["status"].to_list() == ["filled", "filled", "filled"]


def test_set_commission_and_slippage_per_asset_class():
    """Equities pay PerTrade(7) (us_equities=); the generic default stays 'none';
    asset_class={"crypto": ...} is accepted by name."""

    def setup(c):
        set_commission("none", us_equities=PerTrade(7), asset_class={"crypto": "per_dollar"})
        set_slippage(us_equities="none")

    result = run(Script({0: lambda: order(AAA, 1)}, setup))
    assert result.transactions["commission"].to_list() == [D(7)]


def test_unknown_asset_class_is_a_config_error():
    from rbt.kernel.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown asset class"):
        run(Script({}, lambda c: set_commission(asset_class={"bonds": "none"})))


def test_expired_and_denied_orders_reach_the_hooks():
    from rbt.kernel.model import TimeInForce

    s = Script(
        {
            0: lambda: (
                order(AAA, 1, style=LimitOrder(50, tif=TimeInForce.DAY)),
                order(AAA, 1, limit_price=-5.0),
            )
        }
    )
    run(s)
    kinds = sorted((e[0], e[2]) for e in s.events)
    assert kinds == [("cancel", "expired"), ("reject", "INVALID_PRICE")]
    assert OrderStatus.EXPIRED.value == "expired"
