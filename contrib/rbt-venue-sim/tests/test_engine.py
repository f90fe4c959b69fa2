"""The matching engine on its own (no server): examples of every rule it enforces."""

from __future__ import annotations

import itertools
from decimal import Decimal as D

import pytest
from rbt_venue_sim.engine import (
    FEE_ACCOUNT,
    MARKET_ACCOUNT,
    Bar,
    Engine,
    ExecutionEvent,
    LiquidityModel,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
    VenueError,
)
from rbt_venue_sim.markets import load_symbol_specs

BUY, SELL = Side.BUY, Side.SELL
LIMIT, MARKET = OrderType.LIMIT, OrderType.MARKET
GTC, IOC, FOK = TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK

_ids = itertools.count(1)


def make(
    liquidity: LiquidityModel | None = None,
    price: str = "50000",
    balances: dict[str, str] | None = None,
) -> Engine:
    ticks = itertools.count(1_700_000_000_000)
    eng = Engine(
        load_symbol_specs(["BTC/USDT"]),
        prices={"BTCUSDT": D(price)},
        clock=lambda: next(ticks),
        liquidity=liquidity,
    )
    eng.add_account("a", {k: D(v) for k, v in (balances or {"USDT": "100000", "BTC": "2"}).items()})
    return eng


def place(
    eng: Engine,
    side: Side,
    type_: OrderType = LIMIT,
    *,
    account: str = "a",
    qty: str | None = "0.01",
    price: str | None = None,
    tif: TimeInForce | None = None,
    stop: str | None = None,
    quote: str | None = None,
    cid: str | None = None,
    stp: str | None = None,
):
    if type_ in (LIMIT, OrderType.STOP_LOSS_LIMIT, OrderType.TAKE_PROFIT_LIMIT) and tif is None:
        tif = GTC
    return eng.place_order(
        account,
        "BTCUSDT",
        side,
        type_,
        quantity=D(qty) if qty else None,
        quote_order_qty=D(quote) if quote else None,
        price=D(price) if price else None,
        stop_price=D(stop) if stop else None,
        time_in_force=tif,
        client_order_id=cid or f"c{next(_ids)}",
        stp_mode=stp,
    )


def bal(eng: Engine, asset: str, account: str = "a") -> tuple[D, D]:
    return eng.balance(account, asset)


def test_synthetic_quote_around_the_price():
    eng = make()
    book = eng.book("BTCUSDT")
    assert book.syn_bids[0].price == D("49995.00")  # 1 bp below, floored to the tick
    assert book.syn_asks[0].price == D("50005.00")
    assert book.syn_asks[1].price == D("50005.01")
    assert book.syn_asks[0].qty == D("19.99800")  # 1,000,000 USDT of depth, floored to step


def test_resting_limit_locks_quote_and_cancel_releases_it():
    eng = make()
    order, fills = place(eng, BUY, price="49000.00", qty="0.1")
    assert fills == []
    assert order.status is OrderStatus.NEW
    assert bal(eng, "USDT") == (D("95100.00"), D("4900.000"))
    eng.cancel_order("a", "BTCUSDT", order_id=order.order_id)
    assert order.status is OrderStatus.CANCELED
    assert bal(eng, "USDT") == (D("100000"), D(0))


def test_market_buy_pays_taker_fee_in_the_base_asset():
    eng = make()
    order, fills = place(eng, BUY, MARKET, qty="0.1")
    assert order.status is OrderStatus.FILLED
    (fill,) = fills
    assert (fill.price, fill.qty, fill.is_maker) == (D("50005.00"), D("0.1"), False)
    assert (fill.commission, fill.commission_asset) == (D("0.00010000"), "BTC")
    assert bal(eng, "BTC") == (D("2.09990000"), D(0))
    assert bal(eng, "USDT") == (D("94999.500"), D(0))


def test_market_sell_pays_fee_in_the_quote_asset():
    eng = make()
    _, (fill,) = place(eng, SELL, MARKET, qty="0.1")
    assert fill.price == D("49995.00")
    assert (fill.commission, fill.commission_asset) == (D("4.99950000"), "USDT")
    assert bal(eng, "USDT")[0] == D("100000") + D("4999.500") - D("4.9995")


def test_crossing_limit_buy_fills_at_the_ask_and_returns_the_unused_lock():
    eng = make()
    order, (fill,) = place(eng, BUY, price="50100.00", qty="0.1")
    assert fill.price == D("50005.00")
    assert order.status is OrderStatus.FILLED
    assert bal(eng, "USDT") == (D("100000") - D("5000.500"), D(0))


def test_price_time_priority_between_users_and_the_synthetic_level():
    eng = make()
    eng.add_account("b", {"BTC": D(1)})
    eng.add_account("c", {"BTC": D(1)})
    eng.add_account("t", {"USDT": D(100000)})
    first, _ = place(eng, SELL, account="b", price="50004.00", qty="0.02")
    second, _ = place(eng, SELL, account="c", price="50004.00", qty="0.02")
    same_as_syn, _ = place(eng, SELL, account="b", price="50005.00", qty="0.01")
    _, fills = place(eng, BUY, MARKET, account="t", qty="0.03")
    assert [(f.account, f.price, f.qty, f.is_maker) for f in fills if f.account != "t"] == [
        ("b", D("50004.00"), D("0.02"), True),
        ("c", D("50004.00"), D("0.01"), True),
    ]
    assert first.status is OrderStatus.FILLED
    assert second.status is OrderStatus.PARTIALLY_FILLED
    # at 50005.00 the synthetic level (older) trades before the user's order
    _, fills = place(eng, BUY, MARKET, account="t", qty="0.02")
    taker = [f for f in fills if f.account == "t"]
    assert [f.price for f in taker] == [D("50004.00"), D("50005.00")]
    assert same_as_syn.executed_qty == 0


def test_ioc_partial_fill_then_expired():
    eng = make(LiquidityModel(levels=2, level_qty=D("0.01")))
    order, fills = place(eng, BUY, price="50010.00", qty="0.05", tif=IOC)
    assert [f.qty for f in fills] == [D("0.01"), D("0.01")]
    assert order.status is OrderStatus.EXPIRED
    assert order.executed_qty == D("0.02")
    assert bal(eng, "USDT")[1] == 0  # nothing stays locked


def test_fok_that_cannot_fill_entirely_expires_without_trading():
    eng = make(LiquidityModel(levels=2, level_qty=D("0.01")))
    order, fills = place(eng, BUY, price="50010.00", qty="0.05", tif=FOK)
    assert fills == []
    assert order.status is OrderStatus.EXPIRED
    assert bal(eng, "USDT") == (D("100000"), D(0))
    order, fills = place(eng, BUY, price="50010.00", qty="0.02", tif=FOK)
    assert order.status is OrderStatus.FILLED
    assert len(fills) == 2


def test_gtc_remainder_rests_partially_filled():
    eng = make(LiquidityModel(levels=1, level_qty=D("0.01")))
    order, _ = place(eng, BUY, price="50005.00", qty="0.03")
    assert order.status is OrderStatus.PARTIALLY_FILLED
    assert order in eng.book("BTCUSDT").bids
    assert bal(eng, "USDT")[1] == D("50005.00") * D("0.02")


def test_limit_maker_that_would_cross_is_rejected():
    eng = make()
    with pytest.raises(VenueError) as err:
        place(eng, BUY, OrderType.LIMIT_MAKER, price="50005.00")
    assert (err.value.code, err.value.msg) == (-2010, "Order would immediately match and take.")
    order, _ = place(eng, BUY, OrderType.LIMIT_MAKER, price="50004.99")
    assert order.status is OrderStatus.NEW


@pytest.mark.parametrize(
    ("kwargs", "msg"),
    [
        ({"price": "50000.001"}, "Filter failure: PRICE_FILTER"),
        ({"price": "0.001"}, "Filter failure: PRICE_FILTER"),
        ({"price": "49000.00", "qty": "0.000011"}, "Filter failure: LOT_SIZE"),
        ({"price": "49000.00", "qty": "0.000001"}, "Filter failure: LOT_SIZE"),
        ({"price": "49000.00", "qty": "0.0001"}, "Filter failure: NOTIONAL"),
        ({"price": "300000.00"}, "Filter failure: PERCENT_PRICE_BY_SIDE"),
    ],
)
def test_filters_reject_with_binance_messages(kwargs, msg):
    eng = make()
    with pytest.raises(VenueError) as err:
        place(eng, BUY, **kwargs)
    assert (err.value.code, err.value.msg) == (-1013, msg)
    assert eng.all_orders("a", "BTCUSDT") == []  # rejected orders leave no trace


def test_market_lot_size_applies_to_market_orders():
    eng = make(balances={"USDT": "100000000", "BTC": "1000"})
    with pytest.raises(VenueError, match="MARKET_LOT_SIZE"):
        place(eng, SELL, MARKET, qty="200")  # recorded BTCUSDT market max is 128.52621715


def test_insufficient_balance():
    eng = make(balances={"USDT": "100"})
    for kwargs in ({"price": "49000.00", "qty": "0.01"}, {"type_": MARKET, "qty": "0.01"}):
        with pytest.raises(VenueError) as err:
            place(eng, BUY, **kwargs)
        assert (err.value.code, err.value.msg) == (
            -2010,
            "Account has insufficient balance for requested action.",
        )
    with pytest.raises(VenueError, match="insufficient"):
        place(eng, SELL, price="51000.00", qty="0.01")


def test_duplicate_client_order_id_only_among_open_orders():
    eng = make()
    first, _ = place(eng, BUY, price="49000.00", cid="dup")
    with pytest.raises(VenueError) as err:
        place(eng, BUY, price="49000.00", cid="dup")
    assert (err.value.code, err.value.msg) == (-2010, "Duplicate order sent.")
    eng.cancel_order("a", "BTCUSDT", client_order_id="dup")
    again, _ = place(eng, BUY, price="49000.00", cid="dup")
    assert eng.get_order("a", "BTCUSDT", client_order_id="dup") is again
    assert eng.get_order("a", "BTCUSDT", order_id=first.order_id) is first


def test_unknown_orders():
    eng = make()
    with pytest.raises(VenueError) as err:
        eng.get_order("a", "BTCUSDT", order_id=999)
    assert (err.value.code, err.value.msg) == (-2013, "Order does not exist.")
    with pytest.raises(VenueError) as err:
        eng.cancel_order("a", "BTCUSDT", order_id=999)
    assert (err.value.code, err.value.msg) == (-2011, "Unknown order sent.")
    with pytest.raises(VenueError) as err:
        eng.book("NOPEUSDT")
    assert err.value.code == -1121


def test_resting_limit_fills_as_maker_when_the_path_reaches_it():
    eng = make()
    order, _ = place(eng, BUY, price="49900.00", qty="0.1")
    eng.set_price("BTCUSDT", D("49950"))
    assert order.status is OrderStatus.NEW
    eng.set_price("BTCUSDT", D("49850"))
    assert order.status is OrderStatus.FILLED
    (fill,) = eng.my_trades("a", "BTCUSDT")
    assert (fill.price, fill.is_maker) == (D("49900.00"), True)
    assert fill.commission == D("0.00010000")


def test_bar_path_order_and_fill_prices():
    eng = make()
    buy, _ = place(eng, BUY, price="49800.00", qty="0.01")
    sell, _ = place(eng, SELL, price="50200.00", qty="0.01")
    # a falling bar walks open -> high -> low -> close: the sell fills first
    eng.apply_bar(
        "BTCUSDT",
        Bar(open_time=0, open=D(50000), high=D(50300), low=D(49700), close=D(49900), volume=D(10)),
    )
    fills = eng.my_trades("a", "BTCUSDT")
    assert [(f.side, f.price) for f in fills] == [(SELL, D("50200.00")), (BUY, D("49800.00"))]
    assert buy.status is sell.status is OrderStatus.FILLED
    assert eng.last_price("BTCUSDT") == D(49900)


def test_gap_fills_a_crossed_limit_at_the_better_open():
    eng = make()
    order, _ = place(eng, BUY, price="49800.00", qty="0.01")
    eng.apply_bar(
        "BTCUSDT",
        Bar(open_time=0, open=D(49500), high=D(49600), low=D(49400), close=D(49550), volume=D(1)),
    )
    (fill,) = eng.my_trades("a", "BTCUSDT")
    assert fill.price == D("49500")
    assert order.status is OrderStatus.FILLED


def test_stop_loss_triggers_on_the_way_down_and_sells_at_the_bid():
    eng = make()
    order, _ = place(eng, SELL, OrderType.STOP_LOSS, stop="49500.00", qty="0.1")
    assert not order.is_working
    assert order.working_time == -1
    assert bal(eng, "BTC") == (D("1.9"), D("0.1"))
    eng.set_price("BTCUSDT", D("49600"))
    assert order.status is OrderStatus.NEW
    eng.set_price("BTCUSDT", D("49000"))
    assert order.status is OrderStatus.FILLED
    assert order.is_working
    (fill,) = eng.my_trades("a", "BTCUSDT")
    assert fill.price == D("49495.05")  # the synthetic bid around the trigger price
    assert fill.is_maker is False


def test_stop_limit_and_take_profit():
    eng = make()
    sl, _ = place(eng, BUY, OrderType.STOP_LOSS_LIMIT, stop="50500.00", price="50600.00")
    tp, _ = place(eng, SELL, OrderType.TAKE_PROFIT_LIMIT, stop="51000.00", price="50900.00")
    eng.set_price("BTCUSDT", D("50550"))
    assert sl.status is OrderStatus.FILLED
    assert tp.status is OrderStatus.NEW
    eng.set_price("BTCUSDT", D("51100"))
    assert tp.status is OrderStatus.FILLED
    assert [f.price for f in eng.my_trades("a", "BTCUSDT")] == [D("50505.05"), D("50994.90")]


def test_stop_that_would_trigger_immediately_is_rejected():
    eng = make()
    for side, type_, stop in (
        (SELL, OrderType.STOP_LOSS, "50000.00"),
        (BUY, OrderType.STOP_LOSS, "49000.00"),
        (SELL, OrderType.TAKE_PROFIT, "49000.00"),
        (BUY, OrderType.TAKE_PROFIT, "51000.00"),
    ):
        with pytest.raises(VenueError) as err:
            place(eng, side, type_, stop=stop)
        assert (err.value.code, err.value.msg) == (-2010, "Stop price would trigger immediately.")


def test_stop_triggered_in_a_gap_executes_at_the_open():
    eng = make()
    order, _ = place(eng, SELL, OrderType.STOP_LOSS, stop="49500.00", qty="0.1")
    eng.apply_bar(
        "BTCUSDT",
        Bar(open_time=0, open=D(48000), high=D(48100), low=D(47900), close=D(48050), volume=D(1)),
    )
    (fill,) = eng.my_trades("a", "BTCUSDT")
    assert fill.price == D("47995.20")  # bid around the open, not around the stop
    assert order.status is OrderStatus.FILLED


def test_participation_caps_fills_per_bar():
    eng = make(LiquidityModel(participation=D("0.1")))
    order, _ = place(eng, BUY, price="49900.00", qty="0.5")
    bar = Bar(open_time=0, open=D(50000), high=D(50000), low=D(49800), close=D(49950), volume=D(2))
    eng.apply_bar("BTCUSDT", bar)
    assert order.executed_qty == D("0.2")
    assert order.status is OrderStatus.PARTIALLY_FILLED
    eng.apply_bar("BTCUSDT", bar)
    eng.apply_bar("BTCUSDT", bar)
    assert order.executed_qty == D("0.5")
    assert order.status is OrderStatus.FILLED


def test_external_fill_takes_part_of_a_resting_order():
    eng = make()
    order, _ = place(eng, SELL, price="50500.00", qty="0.3")
    fills = eng.external_fill("BTCUSDT", order.order_id, D("0.1"))
    assert [(f.qty, f.is_maker) for f in fills] == [(D("0.1"), True)]
    assert order.status is OrderStatus.PARTIALLY_FILLED
    assert bal(eng, "BTC") == (D("1.7"), D("0.2"))
    with pytest.raises(VenueError):
        eng.external_fill("BTCUSDT", 999)


def test_self_trade_prevention_expire_maker():
    eng = make()
    maker, _ = place(eng, SELL, price="50001.00", qty="0.01")
    taker, fills = place(eng, BUY, price="50010.00", qty="0.01")
    assert maker.status is OrderStatus.EXPIRED_IN_MATCH
    assert taker.status is OrderStatus.FILLED
    assert fills[0].price == D("50005.00")
    maker2, _ = place(eng, SELL, price="50001.00", qty="0.01")
    taker2, _ = place(eng, BUY, price="50010.00", qty="0.01", stp="NONE")
    assert maker2.status is taker2.status is OrderStatus.FILLED  # a self-trade, allowed


def test_quote_order_qty_market_buy():
    eng = make()
    order, _fills = place(eng, BUY, MARKET, qty=None, quote="1000")
    assert order.status is OrderStatus.FILLED
    assert order.executed_qty == D("0.01999")  # floor(1000 / 50005.00) to the step
    assert order.orig_qty == order.executed_qty
    assert order.cummulative_quote_qty <= D(1000)


def test_assets_are_conserved_and_fees_collected():
    eng = make()
    start = eng.totals()
    place(eng, BUY, MARKET, qty="0.2")
    place(eng, SELL, price="50100.00", qty="0.1")
    eng.set_price("BTCUSDT", D(50200))
    assert eng.totals() == start
    fees = eng.balances(FEE_ACCOUNT)
    assert fees["BTC"][0] == D("0.0002")
    assert fees["USDT"][0] == D("5.01")
    assert eng.balances(MARKET_ACCOUNT)["BTC"][0] == D("-0.1")


def test_execution_events_in_order():
    eng = make()
    order, _ = place(eng, BUY, price="49900.00", qty="0.1")
    eng.set_price("BTCUSDT", D("49800"))
    reports = [e for e in eng.drain_events() if isinstance(e, ExecutionEvent)]
    assert [(e.execution_type, e.order.status.value) for e in reports] == [
        ("NEW", "NEW"),
        ("TRADE", "FILLED"),
    ]
    assert reports[1].fill is not None
    assert reports[1].fill.order_id == order.order_id
