"""A bar's fills booked together (``Session.book_fills``) give exactly the books, orders,
portfolio views and result frames that booking them one by one gives.

The simulator hands a bar's plain market fills to the session at once; the session books
them together only when nothing on the bus can look at the books between two of them (no
``OrderFilled`` subscriber). A strategy with an ``on_order_fill`` hook subscribes, so the
same run with a hook that only counts the fills is the one-by-one reference.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rbt.api import cancel_order, get_open_orders, order, order_target
from rbt.api.algorithm import TradingAlgorithm
from rbt.data.portal import BarPortal
from rbt.finance.commission import PerShare
from rbt.finance.execution import LimitOrder
from rbt.finance.slippage import NoSlippage
from rbt.kernel.broker import ClientOrderIds
from rbt.kernel.clock import SimClock
from rbt.kernel.events import OrderFilled, StrategyTurn
from rbt.kernel.ledger import Ledger
from rbt.kernel.model import Asset, Fill, OrderStyle, OrderType
from rbt.kernel.session import Session
from rbt.plugins.calendars import get_calendar
from rbt.plugins.sim_broker import SimBroker

from .conftest import AAA, BBB, SESSIONS, build_bars

CCC = Asset(sid=3, symbol="CCC", lot_size=Decimal("0.001"))  # fractional amounts
ASSETS = (AAA, BBB, CCC)
D = Decimal


class _Program(TradingAlgorithm):
    """Places ``plan``'s orders — ``(bar, asset, amount, kind)`` — and records what the
    strategy sees of its portfolio at every bar."""

    def __init__(self, plan: list[tuple[int, int, int, int]]) -> None:
        self.plan = plan
        self.seen: list[Any] = []

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
                sorted(o.id for orders in get_open_orders().values() for o in orders),
            )
        )
        for bar, k, amount, kind in self.plan:
            if bar != context.bar:
                continue
            asset = ASSETS[k]
            size = D(amount) / 10 if asset is CCC else amount  # CCC: tenths (inexact floats)
            if kind == 0:
                order(asset, size)
            elif kind == 1:  # a limit near the close: fills on some bars, not others
                price = data.current(asset, "close") * (1 - 0.01 * amount / abs(amount))
                order(asset, size, style=LimitOrder(round(price, 2)))
            elif kind == 2:
                order_target(asset, 0)
            else:  # cancel what still works of this asset (partial fills carry over)
                for working in get_open_orders(asset):
                    cancel_order(working)
        context.bar += 1


class _Heard(_Program):
    """The same program with a fill hook: every fill is booked and delivered on its own."""

    def on_order_fill(self, context: Any, fill: Fill) -> None:
        self.heard = getattr(self, "heard", 0) + 1


@given(
    plan=st.lists(
        st.tuples(
            st.integers(0, 24),
            st.integers(0, 2),
            st.integers(-60, 60).filter(bool),
            st.integers(0, 3),
        ),
        max_size=40,
    ),
    seed=st.integers(0, 2**16),
    costs=st.sampled_from([("none", "none"), ("per_share", "volume_share")]),
)
@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)  # the fixture only builds the runner: nothing in it changes between examples
def test_batched_fills_equal_fills_booked_one_by_one(run, plan, seed, costs) -> None:
    """Random market, limit and target orders (several per asset and bar; fractional
    amounts of CCC; small volumes, so volume-share slippage splits orders over bars):
    the batched run and the one-by-one run agree on every frame and on everything the
    strategy saw, bar by bar."""
    sessions = SESSIONS[:26]
    rng = np.random.default_rng(seed)
    closes = np.round(rng.uniform(5, 60, (len(sessions), 3)) * 8) / 8
    volume = rng.integers(0, 3, (len(sessions), 3)) * 800.0  # some bars without volume
    bars = build_bars(assets=ASSETS, sessions=sessions, close=closes, volume=volume)
    commission, slippage = costs
    results = []
    strategies = (_Program(sorted(plan)), _Heard(sorted(plan)))
    for strategy in strategies:
        results.append(
            run(strategy, bars=bars, start=sessions[0], end=sessions[-1],
                commission=commission, slippage=slippage)
        )  # fmt: skip
    batched, one_by_one = results
    for name in ("perf", "transactions", "orders", "positions"):
        assert getattr(batched, name).equals(getattr(one_by_one, name)), name
    assert strategies[0].seen == strategies[1].seen
    assert getattr(strategies[1], "heard", 0) == len(one_by_one.transactions)


class _CancelsOnFill(TradingAlgorithm):
    """Orders AAA and BBB on the first bar; AAA's fill cancels what still works of BBB."""

    def initialize(self, context: Any) -> None:
        context.placed = False
        self.open_at_fill: list[list[str]] = []

    def handle_data(self, context: Any, data: Any) -> None:
        if not context.placed:
            order(AAA, 10)
            order(BBB, 5)
            context.placed = True

    def on_order_fill(self, context: Any, fill: Fill) -> None:
        self.open_at_fill.append(
            sorted(o.asset.symbol for orders in get_open_orders().values() for o in orders)
        )
        if fill.asset == AAA:
            for working in get_open_orders(BBB):
                cancel_order(working)


def test_a_fill_hook_runs_before_the_next_order_of_the_bar_is_matched(run) -> None:
    """With a fill hook every fill is reported as it happens: AAA's hook sees BBB still
    working and cancels it before BBB is matched (nothing of the bar is held back)."""
    strategy = _CancelsOnFill()
    result = run(strategy, bars=build_bars(sessions=SESSIONS[:5]), start=SESSIONS[0],
                 end=SESSIONS[4])  # fmt: skip
    assert result.transactions["symbol"].to_list() == ["AAA"]
    assert strategy.open_at_fill == [["BBB"]]
    statuses = dict(zip(result.orders["symbol"], result.orders["status"], strict=True))
    assert statuses == {"AAA": "filled", "BBB": "cancelled"}


def _session(subscribe: bool) -> tuple[Session, list[tuple[list[Fill], list[Decimal]]]]:
    """A session over AAA and BBB with the simulator; ``booked`` records each call."""
    cal = get_calendar("XNYS")
    bars = build_bars(sessions=SESSIONS[:4])
    portal = BarPortal(bars, cal)
    broker = SimBroker(portal, commission=PerShare(), slippage=NoSlippage())
    session = Session(
        portal=portal, broker=broker, ledger=Ledger(D(100_000)), order_ids=ClientOrderIds("t", "r")
    )
    calls: list[tuple[list[Fill], list[Decimal]]] = []
    session.booked = lambda fills, amounts: calls.append((list(fills), list(amounts)))

    def place(event: StrategyTurn) -> None:
        if event.session == SESSIONS[0]:
            for asset, amount in ((AAA, 10), (BBB, 5), (AAA, -4)):
                session.place_order(asset, D(amount), OrderStyle())
            session.place_order(BBB, D(3), OrderStyle(type=OrderType.LIMIT, limit_price=D(60)))
            session.place_order(AAA, D(1), OrderStyle())

    session.bus.subscribe(StrategyTurn, place)
    if subscribe:
        session.bus.subscribe(OrderFilled, lambda event: None)
    session.run(SimClock(cal, SESSIONS[0], SESSIONS[3]))
    return session, calls


def test_a_bars_plain_fills_reach_the_books_together_around_a_special_order() -> None:
    """Oldest first: the plain fills before the limit order form one batch, the limit's
    fill is reported alone, the plain fill after it starts a new batch; the amounts are
    each fill's position afterwards."""
    session, calls = _session(subscribe=False)
    assert [[f.amount for f in fills] for fills, _ in calls] == [[10, 5, -4], [3], [1]]
    assert [amounts for _, amounts in calls] == [[10, 5, 6], [8], [7]]
    assert session.fills == [f for fills, _ in calls for f in fills]
    assert all(session.orders.get(f.order_id).filled == f.amount for f in session.fills)


def test_an_order_filled_subscriber_gets_every_fill_booked_on_its_own() -> None:
    """With someone on the bus, every fill is booked and mirrored alone, in the same order
    and with the same books as the batches."""
    one_by_one, calls = _session(subscribe=True)
    batched, _ = _session(subscribe=False)
    assert [len(fills) for fills, _ in calls] == [1] * 5
    assert [a for _, amounts in calls for a in amounts] == [10, 5, 6, 8, 7]
    assert one_by_one.ledger.books() == batched.ledger.books()
    assert one_by_one.fills == batched.fills
