"""Hypothesis properties over the fill models, through the real broker, session and ledger:

* no order fills more than its amount, nor in the wrong direction;
* every fill price is inside the bar's [low, high], widened only by the slippage
  model's largest move (5 bp for every model drawn here);
* cash and positions always reconcile: cash = capital − Σ (notional + commission),
  each position = Σ its fills, and the run's own ledger replay check passes.
"""

from __future__ import annotations

from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rbt.finance.commission import PerShare
from rbt.finance.slippage import (
    FixedBasisPointsSlippage,
    NoSlippage,
    SpreadSlippage,
    VolumeShareSlippage,
)
from rbt.kernel.model import OrderStyle, OrderType, TimeInForce
from rbt.kernel.numeric import ZERO

from .conftest import CAL, CAPITAL, SESSIONS, A, Sim, ohlcv

D = Decimal
MAX_SLIP = D("0.0005")  # FixedBps 5 bp; Spread 10 bp → half 5 bp; VolumeShare ≤ 0.1·0.025²

SLIPPAGE = st.sampled_from(
    [
        NoSlippage,
        FixedBasisPointsSlippage,
        VolumeShareSlippage,
        lambda: SpreadSlippage(10),
    ]
)


@st.composite
def bars(draw):
    n = draw(st.integers(3, 12))
    close = draw(st.integers(500, 2000))  # cents
    rows = []
    for _ in range(n):
        o = max(100, close + draw(st.integers(-80, 80)))
        c = max(100, o + draw(st.integers(-80, 80)))
        h = max(o, c) + draw(st.integers(0, 60))
        lo = max(50, min(o, c) - draw(st.integers(0, 60)))
        vol = draw(st.sampled_from([0, 50, 1000, 20_000]))
        rows.append((o / 100, h / 100, lo / 100, c / 100, float(vol)))
        close = c
    return rows


@st.composite
def orders(draw, n_bars):
    kind = draw(st.sampled_from(list(OrderType)))
    bar = draw(st.integers(0, n_bars - 1))
    amount = draw(st.integers(-3000, 3000).filter(bool))
    price = D(draw(st.integers(100, 2500))) / 100
    other = D(draw(st.integers(100, 2500))) / 100
    tif = draw(st.sampled_from(list(TimeInForce)))
    kw = {"time_in_force": tif}
    if tif is TimeInForce.GTD:
        kw["good_till"] = None  # denied (INVALID_STYLE): exercises the denial path too
    if kind is OrderType.LIMIT:
        kw["limit_price"] = price
    elif kind is OrderType.STOP:
        kw["stop_price"] = price
    elif kind is OrderType.STOP_LIMIT:
        kw.update(stop_price=price, limit_price=other)
    elif kind is OrderType.TRAILING_STOP:
        kw["trail_amount"] = D(draw(st.integers(1, 200))) / 100
    return bar, amount, OrderStyle(type=kind, **kw)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_fill_models_never_overfill_stay_in_range_and_reconcile(data):
    rows = data.draw(bars())
    slippage = data.draw(SLIPPAGE)()
    placed = data.draw(st.lists(orders(len(rows)), min_size=1, max_size=8))
    sim = Sim(ohlcv(rows), slippage=slippage, commission=PerShare())
    handles = [sim.place(bar, amount, style) for bar, amount, style in placed]
    sim.run()  # ends with the ledger's replay check
    for ids in handles:
        order = sim.order(ids)
        assert abs(order.filled) <= abs(order.amount)
        assert order.filled == 0 or (order.filled > 0) == (order.amount > 0)
        assert sum((f.amount for f in sim.fills(ids)), ZERO) == order.filled
    cash = CAPITAL
    bar_at = {CAL.session_times(day).close: i for i, day in enumerate(SESSIONS[: len(rows)])}
    for fill in sim.session.fills:
        _o, h, lo, _c, _v = rows[bar_at[fill.ts]]
        low, high = D(str(lo)), D(str(h))
        assert low * (1 - MAX_SLIP) <= fill.price <= high * (1 + MAX_SLIP), (fill, lo, h)
        cash -= fill.amount * fill.price + fill.commission
    assert sim.ledger.cash == cash
    assert sim.ledger.position_amount(A) == sum((f.amount for f in sim.session.fills), ZERO)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_orders_end_the_same_whether_or_not_anyone_watches_their_states(data):
    """Nobody subscribed to order updates: the session records SUBMIT and the simulator's
    decision in one step. With a subscriber it takes them one by one, as reported. Random
    orders (every type and time in force, some for an asset without data) end alike."""
    from rbt.kernel.events import OrderUpdated
    from rbt.kernel.model import Asset

    rows = data.draw(bars())
    placed = data.draw(st.lists(orders(len(rows)), min_size=1, max_size=8))
    no_data = Asset(sid=99, symbol="ZZZ")  # rejected: NO_DATA
    stray = data.draw(st.sets(st.integers(0, len(placed) - 1), max_size=2))
    runs = []
    for watched in (False, True):
        sim = Sim(ohlcv(rows), commission=PerShare())
        seen: list[OrderUpdated] = []
        if watched:
            sim.session.bus.subscribe(OrderUpdated, seen.append)
        for k, (bar, amount, style) in enumerate(placed):
            sim.place(bar, amount, style, asset=no_data if k in stray else A)
        sim.run()
        orders_ = [(o.id, o.status, o.filled, o.commission, o.reason) for o in sim.session.orders]
        runs.append((orders_, sim.session.fills, sim.ledger.books()))
        if watched:  # every order's path was reported: placed orders leave NEW at once
            assert {e.order.id for e in seen} == {o[0] for o in orders_}
    assert runs[0] == runs[1]
