"""The simulated broker against hand-computed fills (Zipline defaults, design.md §2.1a.1).

Every test drives real objects — :class:`BarPortal`, :class:`SimBroker`, a
:class:`Ledger` and a kernel :class:`Session` — with a :class:`SimClock` over real
XNYS sessions (2024-03-04 .. 2024-03-15, ten sessions, no holiday). Orders are
placed from the session's strategy turn, exactly where ``handle_data`` runs.

Zipline's defaults, which every expected number below is derived from:

* an order placed on bar *t* is matched from bar *t+1* on, at that bar's close;
* ``FixedBasisPointsSlippage(5, 0.1)``: price = close × (1 ± 0.0005) against the
  order, quantity ≤ int(0.1 × bar volume) per bar per asset, shared by all orders
  of the asset on that bar; the rest carries over to later bars;
* ``PerShare(0.001)``: $0.001 per share, minimum per *order* (0 by default);
* a bar with no data (NaN) or zero volume fills nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from decimal import Decimal

import numpy as np
import pytest

from rbt.data.bars import bars_from_floats
from rbt.data.portal import BarPortal
from rbt.finance.commission import NoCommission, PerDollar, PerShare, PerTrade
from rbt.finance.slippage import FixedBasisPointsSlippage, FixedSlippage, NoSlippage
from rbt.kernel.broker import ClientOrderIds
from rbt.kernel.clock import SimClock
from rbt.kernel.errors import ConfigError
from rbt.kernel.events import OrderFilled, StrategyTurn
from rbt.kernel.ledger import Ledger
from rbt.kernel.model import Asset, Fill, Order, OrderStatus, OrderStyle, OrderType
from rbt.kernel.session import Session
from rbt.plugins.calendars import get_calendar
from rbt.plugins.sim_broker import SimBroker

CAL = get_calendar("XNYS")
SESSIONS = list(CAL.sessions(dt.date(2024, 3, 4), dt.date(2024, 3, 15)))
A = Asset(sid=1, symbol="AAA")
B = Asset(sid=2, symbol="BBB")
D = Decimal
CAPITAL = D(1_000_000)


def make_bars(
    close: Sequence[Sequence[float]],
    volume: Sequence[Sequence[float]],
    open_: Sequence[Sequence[float]] | None = None,
    assets: Sequence[Asset] = (A,),
):
    """Bars for ``assets`` over the first ``len(close)`` sessions ([bar][asset] lists)."""
    c = np.array(close, dtype=float)
    o = np.array(open_, dtype=float) if open_ is not None else c - 0.5
    return bars_from_floats(
        list(assets),
        SESSIONS[: len(c)],
        {
            "open": o,
            "high": np.fmax(o, c) + 1,
            "low": np.fmin(o, c) - 1,
            "close": c,
            "volume": np.array(volume, dtype=float),
        },
    )


def col(*values: float) -> list[list[float]]:
    """One asset's column: ``col(10, 11)`` is ``[[10], [11]]``."""
    return [[v] for v in values]


class Sim:
    """A session with a simulated broker; ``at(i, fn)`` runs ``fn`` in bar ``i``'s turn."""

    def __init__(self, bars, *, commission=None, slippage=None, fill_timing="next_close"):
        self.n = len(bars.sessions)
        self.portal = BarPortal(bars, CAL)
        self.broker = SimBroker(
            self.portal,
            commission=commission or PerShare(),
            slippage=slippage or FixedBasisPointsSlippage(),
            fill_timing=fill_timing,
        )
        self.ledger = Ledger(CAPITAL)
        self.session = Session(
            portal=self.portal,
            broker=self.broker,
            ledger=self.ledger,
            order_ids=ClientOrderIds("t", "run"),
        )
        self.actions: dict[int, list[Callable[[Sim], None]]] = {}
        self.fill_bar: dict[str, list[int]] = {}
        self.positions_seen: dict[int, Decimal] = {}
        self.session.bus.subscribe(StrategyTurn, self._turn)
        self.session.bus.subscribe(OrderFilled, self._filled)

    def at(self, bar: int, fn: Callable[[Sim], None]) -> None:
        self.actions.setdefault(bar, []).append(fn)

    def order_at(
        self, bar: int, asset: Asset, amount: int | str, style: OrderStyle | None = None
    ) -> list[str]:
        ids: list[str] = []
        self.at(
            bar,
            lambda s: ids.append(s.session.place_order(asset, D(amount), style or OrderStyle()).id),
        )
        return ids

    def _turn(self, event: StrategyTurn) -> None:
        bar = SESSIONS.index(event.session)
        self.positions_seen[bar] = self.ledger.position_amount(A)
        for fn in self.actions.get(bar, []):
            fn(self)

    def _filled(self, event: OrderFilled) -> None:
        self.fill_bar.setdefault(event.fill.order_id, []).append(
            SESSIONS.index(self.session.session_label)
        )

    def run(self) -> Sim:
        self.session.run(SimClock(CAL, SESSIONS[0], SESSIONS[self.n - 1]))
        return self

    def order(self, order_id: str) -> Order:
        order = self.session.orders.get(order_id)
        assert order is not None
        return order

    def fills(self, order_id: str) -> list[Fill]:
        return [f for f in self.session.fills if f.order_id == order_id]

    def amounts_prices_fees(self, order_id: str) -> list[tuple[Decimal, Decimal, Decimal]]:
        return [(f.amount, f.price, f.commission) for f in self.fills(order_id)]


def test_zipline_defaults_round_trip():
    """Buy 100 on bar 0, sell 100 on bar 2 (closes 10, 20, 30, 40; volume 10 000).

    * buy fills on bar 1 at 20 × 1.0005 = 20.01, commission 100 × 0.001 = 0.10;
    * sell fills on bar 3 at 40 × 0.9995 = 39.98, commission 0.10;
    * cash = 1 000 000 − 2 001 − 0.10 + 3 998 − 0.10 = 1 001 996.80;
    * realized P&L = 3 998 − 2 001 = 1 997 (commissions are booked apart).
    """
    sim = Sim(make_bars(col(10, 20, 30, 40), col(10_000, 10_000, 10_000, 10_000)))
    buy = sim.order_at(0, A, 100)
    sell = sim.order_at(2, A, -100)
    sim.run()
    assert sim.amounts_prices_fees(buy[0]) == [(D(100), D("20.01"), D("0.1"))]
    assert sim.amounts_prices_fees(sell[0]) == [(D(-100), D("39.98"), D("0.1"))]
    assert sim.fill_bar == {buy[0]: [1], sell[0]: [3]}
    assert sim.ledger.cash == D("1001996.80")
    assert sim.ledger.realized_pnl == D(1997)
    assert sim.ledger.commissions == D("0.20")
    assert sim.ledger.position_amount(A) == 0
    assert sim.order(buy[0]).status is OrderStatus.FILLED
    assert sim.order(sell[0]).commission == D("0.1")


def test_fills_are_booked_before_the_strategy_sees_the_bar():
    """The bar-1 turn already sees the position bought on bar 0 (events.py rank order)."""
    sim = Sim(make_bars(col(10, 20, 30), col(10_000, 10_000, 10_000)))
    sim.order_at(0, A, 100)
    sim.run()
    assert sim.positions_seen == {0: D(0), 1: D(100), 2: D(100)}


def test_fill_timing_next_open():
    """``fill_timing="next_open"``: bar 1's open (19.40) × 1.0005 = 19.4097."""
    bars = make_bars(col(10, 20, 30), col(10_000, 10_000, 10_000), open_=col(9.9, 19.4, 29.1))
    sim = Sim(bars, fill_timing="next_open")
    ids = sim.order_at(0, A, 100)
    sim.run()
    assert sim.amounts_prices_fees(ids[0]) == [(D(100), D("19.4097"), D("0.1"))]
    assert sim.fill_bar[ids[0]] == [1]


def test_unknown_fill_timing_is_a_config_error():
    bars = make_bars(col(10), col(100))
    with pytest.raises(ConfigError, match="next_close, next_open"):
        SimBroker(
            BarPortal(bars, CAL),
            commission=PerShare(),
            slippage=NoSlippage(),
            fill_timing="same_close",
        )


def test_volume_cap_carries_over_and_skips_empty_bars():
    """Buy 1000 on bar 0; the cap is int(10 % of each bar's volume).

    ===  =====  =======  =========================  ========================
    bar  close  volume   fill                        why
    ===  =====  =======  =========================  ========================
    1    11     5 009    500 @ 11 × 1.0005 = 11.0055  int(500.9) = 500
    2    12     0        —                           zero volume
    3    NaN    NaN      —                           no bar
    4    13     3 005    300 @ 13.0065                int(300.5) = 300
    5    14     100 000  200 @ 14.007                 only 200 left
    ===  =====  =======  =========================  ========================

    Commissions $0.001/share per fill: 0.5, 0.3, 0.2 — 1.0 in total, as for one fill.
    """
    nan = float("nan")
    sim = Sim(make_bars(col(10, 11, 12, nan, 13, 14), col(50, 5009, 0, nan, 3005, 100_000)))
    ids = sim.order_at(0, A, 1000)
    sim.run()
    assert sim.amounts_prices_fees(ids[0]) == [
        (D(500), D("11.0055"), D("0.5")),
        (D(300), D("13.0065"), D("0.3")),
        (D(200), D("14.007"), D("0.2")),
    ]
    assert sim.fill_bar[ids[0]] == [1, 4, 5]
    order = sim.order(ids[0])
    assert order.status is OrderStatus.FILLED
    assert (order.filled, order.commission) == (D(1000), D("1.0"))
    assert sim.ledger.cash == CAPITAL - D("5502.75") - D("3901.95") - D("2801.4") - D(1)


def test_volume_cap_is_shared_by_all_orders_of_an_asset_on_a_bar():
    """Orders on bar 0: AAA +300, AAA −400, BBB +300.

    Bar 1 (AAA volume 5 000 → cap 500; BBB volume 1 000 → cap 100): AAA's first
    order takes 300, the second only the 200 left; BBB has its own cap, 100.
    Bar 2 (same volumes): AAA's second order gets its last 200; BBB another 100.
    Bar 3: BBB's last 100. Sells fill at close × 0.9995, buys at close × 1.0005.
    """
    close = [[10, 50], [11, 51], [12, 52], [13, 53]]
    volume = [[5000, 1000]] * 4
    sim = Sim(make_bars(close, volume, assets=(A, B)))
    a_buy = sim.order_at(0, A, 300)
    a_sell = sim.order_at(0, A, -400)
    b_buy = sim.order_at(0, B, 300)
    sim.run()
    assert sim.amounts_prices_fees(a_buy[0]) == [(D(300), D("11.0055"), D("0.3"))]
    assert sim.amounts_prices_fees(a_sell[0]) == [
        (D(-200), D("10.9945"), D("0.2")),
        (D(-200), D("11.994"), D("0.2")),
    ]
    assert sim.fill_bar[a_sell[0]] == [1, 2]
    assert [f.amount for f in sim.fills(b_buy[0])] == [D(100)] * 3
    assert sim.fill_bar[b_buy[0]] == [1, 2, 3]
    assert sim.ledger.position_amount(A) == D(-100)
    assert sim.ledger.position_amount(B) == D(300)


def test_an_order_on_the_last_bar_never_fills():
    """Nothing comes after the last bar, so its order stays open (and unfilled)."""
    sim = Sim(make_bars(col(10, 11, 12), col(10_000, 10_000, 10_000)))
    ids = sim.order_at(2, A, 100)
    sim.run()
    assert sim.fills(ids[0]) == []
    assert sim.order(ids[0]).status is OrderStatus.ACCEPTED
    assert sim.ledger.cash == CAPITAL


def test_an_order_waits_for_the_assets_next_bar():
    """Bar 1 has no AAA bar (NaN): the order placed on bar 0 fills on bar 2 (12 × 1.0005)."""
    nan = float("nan")
    sim = Sim(make_bars(col(10, nan, 12), col(10_000, nan, 10_000)))
    ids = sim.order_at(0, A, 10)
    sim.run()
    assert sim.amounts_prices_fees(ids[0]) == [(D(10), D("12.006"), D("0.01"))]
    assert sim.fill_bar[ids[0]] == [2]


def test_cancel_stops_further_fills():
    """Buy 1000 on bar 0 with volume 5 000 (cap 500): 500 fill on bar 1; cancelled in
    bar 1's turn, nothing fills on bars 2-3. An order cancelled on the bar it was
    placed never fills at all."""
    sim = Sim(make_bars(col(10, 11, 12, 13), col(5000, 5000, 5000, 5000)))
    partial = sim.order_at(0, A, 1000)
    untouched = sim.order_at(0, A, 50)
    sim.at(1, lambda s: s.session.cancel_order(partial[0]))
    immediate = sim.order_at(2, A, 70)
    sim.at(2, lambda s: s.session.cancel_order(immediate[0]))
    sim.run()
    assert [f.amount for f in sim.fills(partial[0])] == [D(500)]
    order = sim.order(partial[0])
    assert (order.status, order.filled) == (OrderStatus.CANCELLED, D(500))
    # the second order of bar 0 got nothing on bar 1 (cap used up), then filled on bar 2
    assert sim.fill_bar[untouched[0]] == [2]
    assert sim.fills(immediate[0]) == []
    assert sim.order(immediate[0]).status is OrderStatus.CANCELLED
    assert sim.broker.open_orders() == []
    assert sim.ledger.position_amount(A) == D(550)


@pytest.mark.parametrize(
    "style",
    [
        OrderStyle(type=OrderType.LIMIT, limit_price=D("10.5")),
        OrderStyle(type=OrderType.STOP, stop_price=D("12.5")),
        OrderStyle(type=OrderType.STOP_LIMIT, limit_price=D("13"), stop_price=D("12.5")),
    ],
)
def test_non_market_orders_are_accepted(style):
    """Limit/stop styles are simulated (issue #3; their fills: tests/execution/)."""
    sim = Sim(make_bars(col(10, 11, 12), col(10_000, 10_000, 10_000)))
    ids = sim.order_at(0, A, 100, style)
    sim.run()
    assert sim.order(ids[0]).status is not OrderStatus.REJECTED


def test_per_share_minimum_applies_per_order_not_per_fill():
    """``PerShare(0.001, min_trade_cost=1)``; buy 3000 on bar 0, volumes 5 000, 5 000, 50 000.

    fill 1: 500 shares → max(1, 0.5) = 1.00 paid;
    fill 2: 500 more  → max(1, 1.0) − 1 = 0;
    fill 3: 2000 more → max(1, 3.0) − 1 = 2.00. Total 3.00 = 3000 × 0.001.
    A separate 100-share order pays the minimum, 1.00, not 0.10.
    """
    bars = make_bars(col(10, 11, 12, 13, 14), col(5000, 5000, 5000, 50_000, 50_000))
    sim = Sim(bars, commission=PerShare(cost="0.001", min_trade_cost=1))
    big = sim.order_at(0, A, 3000)
    small = sim.order_at(3, A, 100)
    sim.run()
    assert [f.commission for f in sim.fills(big[0])] == [D(1), D(0), D("2.000")]
    assert sim.order(big[0]).commission == D(3)
    assert [f.commission for f in sim.fills(small[0])] == [D(1)]
    assert sim.ledger.commissions == D(4)


def test_per_trade_charges_once_per_order():
    """``PerTrade(5)``: 5.00 on an order's first fill, 0 on its later (capped) fills."""
    bars = make_bars(col(10, 11, 12), col(5000, 5000, 5000))
    sim = Sim(bars, commission=PerTrade(cost=5))
    ids = sim.order_at(0, A, 800)
    sim.run()
    assert [(f.amount, f.commission) for f in sim.fills(ids[0])] == [(D(500), D(5)), (D(300), D(0))]


def test_per_dollar_charges_on_each_fills_notional():
    """``PerDollar(0.0015)``: 500 @ 11.0055 → 5 502.75 × 0.0015 = 8.254125 (exact, unrounded)."""
    bars = make_bars(col(10, 11), col(5000, 5000))
    sim = Sim(bars, commission=PerDollar())
    ids = sim.order_at(0, A, 500)
    sim.run()
    assert sim.amounts_prices_fees(ids[0]) == [(D(500), D("11.0055"), D("8.254125"))]


def test_fixed_slippage_fills_everything_at_half_the_spread():
    """``FixedSlippage(spread=0.10)``: the whole 5 000 (no volume cap) at 11 + 0.05;
    a sell of 2 000 at 12 − 0.05."""
    bars = make_bars(col(10, 11, 12, 13), col(1000, 1000, 1000, 1000))
    sim = Sim(bars, commission=NoCommission(), slippage=FixedSlippage(spread="0.10"))
    buy = sim.order_at(0, A, 5000)
    sell = sim.order_at(1, A, -2000)
    sim.run()
    assert sim.amounts_prices_fees(buy[0]) == [(D(5000), D("11.05"), D(0))]
    assert sim.amounts_prices_fees(sell[0]) == [(D(-2000), D("11.95"), D(0))]


def test_no_slippage_fills_everything_at_the_reference_price_but_not_on_zero_volume():
    """``NoSlippage``: the whole order at the close; still nothing on a zero-volume bar."""
    bars = make_bars(col(10, 11, 12), col(10, 0, 10))
    sim = Sim(bars, commission=NoCommission(), slippage=NoSlippage())
    ids = sim.order_at(0, A, 1_000_000)
    sim.run()
    assert sim.amounts_prices_fees(ids[0]) == [(D(1_000_000), D(12), D(0))]
    assert sim.fill_bar[ids[0]] == [2]
    assert sim.ledger.cash == CAPITAL - D(12_000_000)  # margin account: cash may go negative


def test_fill_ids_are_deterministic():
    bars = make_bars(col(10, 11, 12), col(5000, 5000, 5000))
    first = Sim(bars)
    first.order_at(0, A, 800)
    first.run()
    second = Sim(bars)
    second.order_at(0, A, 800)
    second.run()
    assert [f.id for f in first.session.fills] == ["t-run-1-f1", "t-run-1-f2"]
    assert first.session.fills == second.session.fills
    # a done order's fill count is dropped: the broker's state does not grow with the run
    assert first.broker._fill_seq == {}


def test_a_session_missing_from_the_data_does_not_rematch_the_old_bar():
    """The bars skip 2024-03-06 (a session) entirely. An order placed on 03-05 must not
    fill on 03-06 against 03-05's bar — the price it was decided on — but on 03-07,
    the next bar: 13 × 1.0005 = 13.0065."""
    sessions = [SESSIONS[0], SESSIONS[1], SESSIONS[3], SESSIONS[4]]
    c = np.array([[10.0], [11.0], [13.0], [14.0]])
    bars = bars_from_floats(
        [A],
        sessions,
        {"open": c, "high": c, "low": c, "close": c, "volume": np.full((4, 1), 10_000.0)},
    )
    portal = BarPortal(bars, CAL)
    broker = SimBroker(portal, commission=PerShare(), slippage=FixedBasisPointsSlippage())
    session = Session(
        portal=portal, broker=broker, ledger=Ledger(CAPITAL), order_ids=ClientOrderIds("t", "run")
    )
    placed: list[str] = []

    def turn(event: StrategyTurn) -> None:
        if event.session == SESSIONS[1]:
            placed.append(session.place_order(A, D(10), OrderStyle()).id)

    session.bus.subscribe(StrategyTurn, turn)
    session.run(SimClock(CAL, SESSIONS[0], SESSIONS[4]))
    (fill,) = session.fills
    assert (fill.order_id, fill.amount, fill.price) == (placed[0], D(10), D("13.0065"))
    assert fill.ts == CAL.session_times(SESSIONS[3]).close


def test_an_order_for_an_asset_without_data_is_rejected():
    """Not a KeyError from deep inside the next bar's matching: a REJECTED order with a
    reason, like any other order the simulator cannot fill."""
    sim = Sim(make_bars(col(10, 11, 12), col(10_000, 10_000, 10_000)))
    ids = sim.order_at(0, Asset(sid=99, symbol="ZZZ"), 5)
    sim.run()
    order = sim.order(ids[0])
    assert order.status is OrderStatus.REJECTED
    assert order.reason == "NO_DATA: Asset(99 [ZZZ]) has no data in this bundle"
    assert order.reason_code == "NO_DATA"
    assert sim.session.fills == []


class _SubmitsAtTheNextBar(SimBroker):
    """A venue that receives each order at the next bar, just before it matches (a
    subclass with its own submit and on_bar, as a latency model may be written)."""

    def __init__(self, portal: BarPortal) -> None:
        super().__init__(portal, commission=PerShare(), slippage=FixedBasisPointsSlippage())
        self.held: list[Order] = []

    def submit(self, order: Order) -> None:
        self.held.append(order)

    def on_bar(self, ts: int) -> None:
        held, self.held = self.held, []
        for order in held:
            SimBroker.submit(self, order)
        super().on_bar(ts)


@pytest.mark.parametrize("busy", [False, True])
def test_an_order_submitted_in_on_bar_before_matching_fills_on_that_bar(busy: bool) -> None:
    """An order placed on bar 0 and handed to the simulator in bar 1's on_bar, before it
    matches, fills on bar 1 (placed before it), whether or not other orders were working
    (here a limit order that never fills): 11 × 1.0005 = 11.0055."""
    portal = BarPortal(make_bars(col(10, 11, 12), col(10_000, 10_000, 10_000)), CAL)
    broker = _SubmitsAtTheNextBar(portal)
    session = Session(
        portal=portal, broker=broker, ledger=Ledger(CAPITAL), order_ids=ClientOrderIds("t", "run")
    )
    placed: list[str] = []

    def turn(event: StrategyTurn) -> None:
        if event.session == SESSIONS[0]:
            if busy:
                session.place_order(A, D(1), OrderStyle(type=OrderType.LIMIT, limit_price=D(1)))
                SimBroker.submit(broker, broker.held.pop())
            placed.append(session.place_order(A, D(10), OrderStyle()).id)

    session.bus.subscribe(StrategyTurn, turn)
    session.run(SimClock(CAL, SESSIONS[0], SESSIONS[2]))
    (fill,) = session.fills
    assert (fill.order_id, fill.price) == (placed[0], D("11.0055"))
    assert fill.ts == CAL.session_times(SESSIONS[1]).close


def _row_broker(cls: type[SimBroker] = SimBroker, **models: object) -> SimBroker:
    """A simulator over AAA's bars, connected to a session (the switch is read then)."""
    portal = BarPortal(make_bars([[10.0], [11.0]], [[1000.0], [1000.0]]), CAL)
    models = {"commission": NoCommission(), "slippage": NoSlippage(), **models}
    broker = cls(portal, **models)  # type: ignore[arg-type]
    Session(
        portal=portal, broker=broker, ledger=Ledger(CAPITAL), order_ids=ClientOrderIds("t", "r")
    )
    return broker


def test_rows_are_taken_only_by_the_simulator_itself(monkeypatch) -> None:
    """``take_row`` is offered, and refused (None) for a subclass or with
    ``RBT_ORDER_ROWS=off``; it keeps nothing (False) for an asset without data, or while an
    order works as one. Under a commission model the rows become orders at the next bar."""

    class Subclass(SimBroker):
        pass

    monkeypatch.delenv("RBT_ORDER_ROWS", raising=False)
    assert _row_broker().take_row is not None
    assert _row_broker(Subclass).take_row is None
    monkeypatch.setenv("RBT_ORDER_ROWS", "off")
    assert _row_broker().take_row is None
    monkeypatch.delenv("RBT_ORDER_ROWS")
    priced = _row_broker(commission=PerShare())
    assert priced.take_row is not None
    assert priced.take_row("t-1", A, D(5), 0, SESSIONS[0])
    assert [o.id for o in priced.open_orders()] == ["t-1"]  # read: the row is an order now
    broker = _row_broker()
    take = broker.take_row
    assert take is not None
    assert not take("t-1", B, D(5), 0, SESSIONS[0])  # BBB: not in the bars
    assert take("t-2", A, D(5), 0, SESSIONS[0])
    assert broker.open_orders()[0].id == "t-2"  # asked for its orders: the row becomes one
    assert not take("t-3", A, D(5), 0, SESSIONS[0])  # t-2 works as an Order now
