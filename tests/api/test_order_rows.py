"""Plain market orders kept as rows until read (``SimBroker.take_row``,
``OrderTracker.add_row``) give exactly what orders built from the start give
(``RBT_ORDER_ROWS=off``): every frame, column scales included, and everything the strategy
saw, bar by bar — whatever else the run does meanwhile (limit orders, cancels, reads of its
orders, a fill hook attached mid-run, assets it may not trade, bars without a price or
volume, costs under which no row is taken)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from rbt.api import cancel_order, get_open_orders, get_order, order, order_target
from rbt.api.algorithm import TradingAlgorithm
from rbt.api.engine import current_engine
from rbt.finance.execution import LimitOrder
from rbt.kernel.model import Asset, Fill

from .conftest import AAA, BBB, SESSIONS, build_bars

CCC = Asset(sid=3, symbol="CCC", lot_size=Decimal("0.001"))  # fractional amounts
DDD = Asset(sid=4, symbol="DDD", end_date=SESSIONS[12])  # not traded after its end: denied
EEE = Asset(sid=5, symbol="EEE", min_notional=Decimal(100))  # checked at the last price
ASSETS = (AAA, BBB, CCC, DDD, EEE)


class _Program(TradingAlgorithm):
    """Places ``plan``'s orders — ``(bar, asset, amount, kind)`` — and records what the
    strategy sees of its portfolio (and, when asked, of its orders) at every bar."""

    def __init__(self, plan: list[tuple[int, int, int, int]]) -> None:
        self.plan = plan
        self.seen: list[Any] = []
        self.ids: list[str] = []
        self.rows_held = 0  # the most orders held as rows at once (how the run went)

    def initialize(self, context: Any) -> None:
        context.bar = 0

    def handle_data(self, context: Any, data: Any) -> None:
        portfolio = context.portfolio
        self.seen.append(
            (
                portfolio.portfolio_value,
                portfolio.cash,
                sorted(
                    (a.sid, p.amount, p.cost_basis, p.last_sale_price)
                    for a, p in portfolio.positions.items()
                ),
            )
        )
        for bar, k, amount, kind in self.plan:
            if bar != context.bar:
                continue
            asset = ASSETS[k]
            size = Decimal(amount) / 10 if asset is CCC else amount  # CCC: tenths
            if kind <= 2:  # mostly market orders
                self.ids.append(order(asset, size))
            elif kind == 3:  # a limit near the close: fills on some bars, not others
                price = data.current(asset, "close") * (1 - 0.01 * amount / abs(amount))
                if price == price:
                    self.ids.append(order(asset, size, style=LimitOrder(round(price, 2))))
            elif kind == 4:
                self.ids.append(order_target(asset, 0))
            elif kind == 5:  # cancel what still works of this asset
                for working in get_open_orders(asset):
                    cancel_order(working)
            elif kind == 6:  # read the orders: the last one placed, and the open ones
                last = next((i for i in reversed(self.ids) if i is not None), None)
                self.seen.append((get_order(last) if last else None, get_open_orders()))
            elif kind == 7 and not hasattr(self, "on_order_fill"):  # a fill hook from now on
                self.on_order_fill = self._heard
        self.rows_held = max(self.rows_held, len(current_engine().session.orders._rows))
        context.bar += 1

    def _heard(self, context: Any, fill: Fill) -> None:
        self.seen.append(("fill", fill.id, fill.amount, fill.price))


def _bars(seed: int) -> Any:
    sessions = SESSIONS[:26]
    rng = np.random.default_rng(seed)
    closes = np.round(rng.uniform(5, 60, (len(sessions), len(ASSETS))) * 8) / 8
    closes[rng.random(closes.shape) < 0.08] = np.nan  # some bars missing
    volume = rng.integers(0, 4, (len(sessions), len(ASSETS))) * 800.0  # some without volume
    return build_bars(assets=ASSETS, sessions=sessions, close=closes, volume=volume)


def _both(run: Any, monkeypatch: pytest.MonkeyPatch, plan: list[Any], bars: Any, **kw: Any):
    results = []
    for switch in ("on", "off"):
        monkeypatch.setenv("RBT_ORDER_ROWS", switch)
        strategy = _Program(sorted(plan))
        result = run(strategy, bars=bars, start=bars.sessions[0].item(),
                     end=bars.sessions[-1].item(), **kw)  # fmt: skip
        results.append((strategy, result))
    return results


def _assert_same(results: list[Any]) -> None:
    (rows, with_rows), (objects, without) = results
    for name in ("perf", "transactions", "orders", "positions"):
        assert getattr(with_rows, name).equals(getattr(without, name)), name
        assert str(getattr(with_rows, name)) == str(getattr(without, name)), name  # the text
    assert rows.seen == objects.seen
    assert rows.ids == objects.ids
    assert objects.rows_held == 0


@given(
    plan=st.lists(
        st.tuples(
            st.integers(0, 24),
            st.integers(0, len(ASSETS) - 1),
            st.integers(-60, 60).filter(bool),
            st.integers(0, 7),
        ),
        max_size=40,
    ),
    seed=st.integers(0, 2**16),
    costs=st.sampled_from([("none", "none"), ("none", "none"), ("per_share", "fixed_bps")]),
    timing=st.sampled_from(["next_close", "next_open"]),
)
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)  # the fixtures build the runner and set the switch per run: nothing is shared between examples
def test_rows_give_what_orders_built_from_the_start_give(
    run, monkeypatch, plan, seed, costs, timing
) -> None:
    commission, slippage = costs
    event(f"costs {commission}")
    results = _both(run, monkeypatch, plan, _bars(seed), commission=commission,
                    slippage=slippage, fill_timing=timing)  # fmt: skip
    _assert_same(results)
    event(f"rows held: {results[0][0].rows_held > 0}")


def test_a_run_of_market_orders_holds_them_as_rows(run, monkeypatch) -> None:
    """Market orders only, no costs, nothing reading them: each is a row until the end,
    and the run still equals the one without rows."""
    plan = [(bar, k, 10 * (k + 1) * (-1) ** (bar // 3), 0) for bar in range(20) for k in range(3)]
    results = _both(run, monkeypatch, plan, _bars(7), commission="none", slippage="none")
    _assert_same(results)
    (rows, with_rows), _ = results
    assert rows.rows_held >= 3
    assert with_rows.orders.height == len(plan)
    assert set(with_rows.orders["status"]) <= {"filled", "accepted"}


def test_orders_read_mid_run_are_the_ones_built_from_the_start(run, monkeypatch) -> None:
    """``get_order`` of a row and ``get_open_orders`` while rows wait for a bar, then a
    cancel of one: the same objects, the same states, as without rows."""
    plan = [(0, 0, 10, 0), (0, 1, 5, 0), (0, 4, 1, 6), (1, 4, 1, 6), (2, 0, -10, 0),
            (2, 1, 7, 0), (2, 1, 8, 5), (2, 4, 1, 6), (3, 4, 1, 6)]  # fmt: skip
    bars = build_bars(assets=ASSETS, sessions=SESSIONS[:6])
    results = _both(run, monkeypatch, plan, bars, commission="none", slippage="none")
    _assert_same(results)
    (rows, with_rows), _ = results
    reads = [entry for entry in rows.seen if len(entry) == 2]
    assert [r[0].status.value for r in reads] == ["accepted", "filled", "cancelled", "cancelled"]
    assert [len(r[1]) for r in reads] == [2, 0, 1, 0]  # open orders by asset
    assert with_rows.orders["status"].to_list() == ["filled", "filled", "filled", "cancelled"]


def test_orders_refused_as_rows_are_denied_as_orders_are(run, monkeypatch) -> None:
    """An order below its asset's minimum notional, and one after its asset's last
    session, are never rows: placed as orders, they are denied with the same reasons."""
    plan = [(0, 0, 10, 0), (1, 4, 1, 0), (2, 0, 5, 0), (14, 3, 10, 0), (15, 0, -15, 0)]
    bars = build_bars(assets=ASSETS, sessions=SESSIONS[:20])
    results = _both(run, monkeypatch, plan, bars, commission="none", slippage="none")
    _assert_same(results)
    (rows, with_rows), _ = results
    assert rows.rows_held >= 1
    denied = with_rows.orders.filter(with_rows.orders["status"] == "denied")
    assert denied["symbol"].to_list() == ["EEE", "DDD"]
    assert [r.split(":")[0] for r in denied["reason"]] == [
        "BELOW_MIN_NOTIONAL",
        "ASSET_NOT_TRADING",
    ]
