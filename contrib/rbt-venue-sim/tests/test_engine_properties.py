"""Properties of the matching engine over random operation sequences (hypothesis).

* no user account ever has a negative free or locked balance;
* every asset is conserved over all accounts (users, the synthetic market, fees);
* no fill is outside its order's limit (a buy never pays more, a sell never gets less);
* an order never fills more than its quantity; a user's locked balance equals the sum of
  its open orders' locks;
* the same operations give the same fills (determinism).
"""

from __future__ import annotations

import itertools
from decimal import Decimal as D

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rbt_venue_sim.engine import (
    FEE_ACCOUNT,
    MARKET_ACCOUNT,
    Bar,
    Engine,
    LiquidityModel,
    OrderType,
    Side,
    TimeInForce,
    VenueError,
)
from rbt_venue_sim.markets import load_symbol_specs

ACCOUNTS = ("a", "b")
TYPES = (
    OrderType.LIMIT,
    OrderType.MARKET,
    OrderType.LIMIT_MAKER,
    OrderType.STOP_LOSS,
    OrderType.STOP_LOSS_LIMIT,
    OrderType.TAKE_PROFIT,
    OrderType.TAKE_PROFIT_LIMIT,
)

place_op = st.tuples(
    st.just("place"),
    st.sampled_from(ACCOUNTS),
    st.sampled_from((Side.BUY, Side.SELL)),
    st.sampled_from(TYPES),
    st.integers(1, 40_000),  # qty in steps of 0.00001
    st.integers(-40, 40),  # limit price offset from 50000 in units of 10.00
    st.integers(-40, 40),  # stop price offset
    st.sampled_from((TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK)),
    st.sampled_from(("EXPIRE_MAKER", "NONE", "EXPIRE_TAKER", "EXPIRE_BOTH")),
)
cancel_op = st.tuples(st.just("cancel"), st.sampled_from(ACCOUNTS), st.integers(0, 30))
move_op = st.tuples(st.just("move"), st.integers(-40, 40), st.booleans())
bar_op = st.tuples(
    st.just("bar"),
    st.integers(-40, 40),
    st.integers(0, 300),
    st.integers(0, 300),
    st.integers(-40, 40),
    st.integers(0, 50),
)
fill_op = st.tuples(st.just("fill"), st.integers(0, 30), st.integers(1, 40_000))
ops_strategy = st.lists(
    st.one_of(place_op, place_op, place_op, cancel_op, move_op, bar_op, fill_op),
    min_size=4,
    max_size=40,
)
liquidity_strategy = st.builds(
    LiquidityModel,
    half_spread_bps=st.sampled_from((D(0), D(1), D(25))),
    levels=st.integers(0, 4),
    level_qty=st.sampled_from((None, D("0.01"), D("0.13"))),
    participation=st.sampled_from((None, D("0.1"), D(1))),
)


def _price(offset: int) -> D:
    return D(50000) + D(offset) * 10


def run(ops, liquidity):
    ticks = itertools.count(1_700_000_000_000)
    eng = Engine(
        load_symbol_specs(["BTC/USDT"]),
        prices={"BTCUSDT": D(50000)},
        clock=lambda: next(ticks),
        liquidity=liquidity,
        maker_rate=D("0.00075"),
        taker_rate=D("0.001"),
    )
    for acct in ACCOUNTS:
        eng.add_account(acct, {"USDT": D(20000), "BTC": D("0.4")})
    start = eng.totals()
    placed = []
    for n, op in enumerate(ops):
        kind = op[0]
        try:
            if kind == "place":
                _, acct, side, type_, qty, poff, soff, tif, stp = op
                has_limit = type_.has_limit_price
                order, _ = eng.place_order(
                    acct,
                    "BTCUSDT",
                    side,
                    type_,
                    quantity=D(qty) / 100_000,
                    price=_price(poff) if has_limit else None,
                    stop_price=_price(soff) if type_.is_stop else None,
                    time_in_force=tif
                    if type_
                    in (OrderType.LIMIT, OrderType.STOP_LOSS_LIMIT, OrderType.TAKE_PROFIT_LIMIT)
                    else None,
                    client_order_id=f"o{n}",
                    stp_mode=stp,
                )
                placed.append(order)
            elif kind == "cancel" and placed:
                _, acct, i = op
                order = placed[i % len(placed)]
                eng.cancel_order(order.account, "BTCUSDT", order_id=order.order_id)
            elif kind == "move":
                eng.set_price("BTCUSDT", _price(op[1]), gap=op[2])
            elif kind == "bar":
                _, o, up, down, c, vol = op
                o_p, c_p = _price(o), _price(c)
                bar = Bar(
                    open_time=n,
                    open=o_p,
                    high=max(o_p, c_p) + up,
                    low=max(D(1), min(o_p, c_p) - down),
                    close=c_p,
                    volume=D(vol) / 10,
                )
                eng.apply_bar("BTCUSDT", bar)
            elif kind == "fill" and placed:
                order = placed[op[1] % len(placed)]
                eng.external_fill("BTCUSDT", order.order_id, D(op[2]) / 100_000)
        except VenueError:
            pass
        check(eng, start, placed)
    return eng


def check(eng: Engine, start, placed) -> None:
    assert eng.totals() == start
    for acct in ACCOUNTS:
        for asset, (free, locked) in eng.balances(acct).items():
            assert free >= 0, (acct, asset, free)
            assert locked >= 0, (acct, asset, locked)
        for asset in ("USDT", "BTC"):
            open_locks = sum(
                (o.locked for o in eng.open_orders(acct) if o.locked_asset == asset), D(0)
            )
            assert eng.balance(acct, asset)[1] == open_locks
    by_id = {o.order_id: o for o in placed}
    for f in eng.fills:
        order = by_id[f.order_id]
        if order.type.has_limit_price:
            if f.side is Side.BUY:
                assert f.price <= order.price
            else:
                assert f.price >= order.price
        assert f.qty > 0
        assert f.commission >= 0
    for o in placed:
        if o.orig_qty:
            assert o.executed_qty <= o.orig_qty
        assert o.locked >= 0
    for name in (MARKET_ACCOUNT, FEE_ACCOUNT):
        assert name in eng.accounts


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=ops_strategy, liquidity=liquidity_strategy)
def test_invariants_hold_over_random_operations(ops, liquidity):
    run(ops, liquidity)


@settings(max_examples=30, deadline=None)
@given(ops=ops_strategy, liquidity=liquidity_strategy)
def test_same_operations_same_fills(ops, liquidity):
    def key(eng):
        return [
            (f.trade_id, f.order_id, f.account, f.side, f.price, f.qty, f.commission)
            for f in eng.fills
        ]

    assert key(run(ops, liquidity)) == key(run(ops, liquidity))
