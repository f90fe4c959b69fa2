"""Time in force, OCO groups, brackets and cancel/replace in the simulated broker.

Bars ``(open, high, low, close, volume)``; no slippage or commission unless stated.
"""

from __future__ import annotations

from decimal import Decimal

from rbt.finance.slippage import FixedBasisPointsSlippage
from rbt.kernel.model import OrderStatus, OrderStyle, OrderType, TimeInForce

from .conftest import SESSIONS, A, Sim, ohlcv

D = Decimal
VOL = 100_000.0
FLAT = (10.0, 10.0, 10.0, 10.0, VOL)  # never reaches 9.50 or 10.50


def limit(price: str, **kw) -> OrderStyle:
    return OrderStyle(type=OrderType.LIMIT, limit_price=D(price), **kw)


def test_day_order_expires_at_the_close_of_its_session():
    """DAY limit 9.50 placed on bar 0 works on bar 1's session only: bar 1 stays above,
    it expires at bar 1's close (reason DAY); bar 2 would have filled it. A GTC twin fills."""
    sim = Sim(ohlcv([FLAT, FLAT, (10, 10, 9, 9.5, VOL)]))
    day = sim.place(0, 100, limit("9.50", time_in_force=TimeInForce.DAY))
    gtc = sim.place(0, 100, limit("9.50"))
    sim.run()
    order = sim.order(day)
    assert (order.status, order.reason_code) == (OrderStatus.EXPIRED, "DAY")
    assert sim.fills(day) == []
    assert sim.prices(gtc) == [(D(100), D("9.50"))]


def test_gtd_expires_after_its_date():
    """GTD good till bar 2's session: not reached on bars 1-2 → expired after bar 2; bar 3
    would have filled it."""
    sim = Sim(ohlcv([FLAT, FLAT, FLAT, (10, 10, 9, 9.5, VOL)]))
    ids = sim.place(0, 100, limit("9.50", time_in_force=TimeInForce.GTD, good_till=SESSIONS[2]))
    sim.run()
    order = sim.order(ids)
    assert (order.status, order.reason_code) == (OrderStatus.EXPIRED, "GTD")
    assert sim.fills(ids) == []


def test_gtd_in_the_past_is_denied():
    sim = Sim(ohlcv([FLAT, FLAT, FLAT]))
    ids = sim.place(1, 100, limit("9.50", time_in_force=TimeInForce.GTD, good_till=SESSIONS[0]))
    sim.run()
    assert (sim.order(ids).status, sim.order(ids).reason_code) == (
        OrderStatus.DENIED,
        "INVALID_STYLE",
    )


def test_ioc_fills_what_the_volume_cap_allows_and_expires_the_rest():
    """FixedBps caps a bar at 10 % of its volume 5 000 = 500: IOC 1 000 fills 500 at
    bar 1's close 10 × 1.0005 = 10.005 and the other 500 expire (IOC)."""
    sim = Sim(ohlcv([FLAT, (10, 10, 10, 10, 5000), FLAT]), slippage=FixedBasisPointsSlippage())
    ids = sim.place(0, 1000, OrderStyle(time_in_force=TimeInForce.IOC))
    sim.run()
    assert sim.prices(ids) == [(D(500), D("10.005"))]
    order = sim.order(ids)
    assert (order.status, order.filled, order.reason_code) == (OrderStatus.EXPIRED, D(500), "IOC")


def test_fok_is_all_or_nothing():
    """Same bar: FOK 1 000 cannot fill completely (cap 500) → nothing, expired (FOK).
    FOK 400 fills completely."""
    sim = Sim(ohlcv([FLAT, (10, 10, 10, 10, 5000)]), slippage=FixedBasisPointsSlippage())
    big = sim.place(0, 1000, OrderStyle(time_in_force=TimeInForce.FOK))
    small = sim.place(0, 400, OrderStyle(time_in_force=TimeInForce.FOK))
    sim.run()
    assert sim.fills(big) == []
    assert (sim.order(big).status, sim.order(big).reason_code) == (OrderStatus.EXPIRED, "FOK")
    assert sim.prices(small) == [(D(400), D("10.005"))]
    assert sim.order(small).status is OrderStatus.FILLED


def test_ioc_limit_not_reached_expires_on_its_first_bar():
    sim = Sim(ohlcv([FLAT, FLAT, (10, 10, 9, 9.5, VOL)]))
    ids = sim.place(0, 100, limit("9.50", time_in_force=TimeInForce.IOC))
    sim.run()
    assert (sim.order(ids).status, sim.order(ids).reason_code) == (
        OrderStatus.EXPIRED,
        "NOT_TRIGGERED",
    )


def test_ioc_on_a_zero_volume_bar_expires():
    sim = Sim(ohlcv([FLAT, (10, 10, 10, 10, 0)]))
    ids = sim.place(0, 100, OrderStyle(time_in_force=TimeInForce.IOC))
    sim.run()
    assert sim.order(ids).reason_code == "NO_VOLUME"


def test_oco_first_fill_cancels_the_others():
    """Hold 100 (bought on bar 0, filled bar 1 at 10). On bar 1: sell limit 10.50 and sell
    stop 9.50 in group "exit". Bar 2 reaches 10.80: the limit fills at 10.50, the stop is
    cancelled (OCO)."""
    sim = Sim(ohlcv([FLAT, FLAT, (10.2, 10.8, 10.1, 10.6, VOL), (9, 9, 8, 8.5, VOL)]))
    sim.place(0, 100)
    take = sim.place(1, -100, limit("10.50", oco_group="exit"))
    loss = sim.place(
        1, -100, OrderStyle(type=OrderType.STOP, stop_price=D("9.50"), oco_group="exit")
    )
    sim.run()
    assert sim.prices(take) == [(D(-100), D("10.50"))]
    assert (sim.order(loss).status, sim.order(loss).reason_code) == (OrderStatus.CANCELLED, "OCO")
    assert sim.ledger.position_amount(A) == 0


def test_oco_when_one_bar_reaches_both_the_stop_is_assumed_first():
    """Bar 2 (o 10, h 10.8, l 9.2) touches the limit 10.50 and the stop 9.50: the order of
    high and low is unknown, so the adverse case — the stop — fills (at 9.50)."""
    sim = Sim(ohlcv([FLAT, FLAT, (10, 10.8, 9.2, 10, VOL)]))
    sim.place(0, 100)
    take = sim.place(1, -100, limit("10.50", oco_group="exit"))
    loss = sim.place(
        1, -100, OrderStyle(type=OrderType.STOP, stop_price=D("9.50"), oco_group="exit")
    )
    sim.run()
    assert sim.prices(loss) == [(D(-100), D("9.50"))]
    assert sim.order(take).status is OrderStatus.CANCELLED


def test_oco_a_gap_through_the_limit_decides_for_the_limit():
    """Bar 2 opens at 11 (through the limit 10.50) and later falls to 9.2: the limit filled
    at the open first (11), the stop is cancelled."""
    sim = Sim(ohlcv([FLAT, FLAT, (11, 11.2, 9.2, 9.5, VOL)]))
    sim.place(0, 100)
    take = sim.place(1, -100, limit("10.50", oco_group="exit"))
    loss = sim.place(
        1, -100, OrderStyle(type=OrderType.STOP, stop_price=D("9.50"), oco_group="exit")
    )
    sim.run()
    assert sim.prices(take) == [(D(-100), D(11))]
    assert sim.order(loss).status is OrderStatus.CANCELLED


def _bracket(sim: Sim, bar: int, amount: int, entry: OrderStyle, tp: str, sl: str):
    ids: dict[str, str] = {}

    def place(s: Sim) -> None:
        parent = s.session.place_order(A, D(amount), entry)
        s.broker.register_bracket_entry(parent.id)
        ids["entry"] = parent.id
        group = f"bracket-{parent.id}"
        ids["tp"] = s.session.place_order(
            A,
            D(-amount),
            OrderStyle(
                type=OrderType.LIMIT, limit_price=D(tp), oco_group=group, parent_id=parent.id
            ),
        ).id
        ids["sl"] = s.session.place_order(
            A,
            D(-amount),
            OrderStyle(type=OrderType.STOP, stop_price=D(sl), oco_group=group, parent_id=parent.id),
        ).id

    sim.at(bar, place)
    return ids


def test_bracket_lifecycle_take_profit():
    """Entry buy 100 at market (fills bar 1 at close 10). Exits TP 10.50 / SL 9.50 work from
    bar 2: bar 1's high 10.8 does NOT count (the entry filled at its close). Bar 2 reaches
    10.60: TP fills at 10.50; SL is cancelled (BRACKET: the exits closed the entry)."""
    sim = Sim(ohlcv([FLAT, (10, 10.8, 9.2, 10, VOL), (10.1, 10.6, 10, 10.4, VOL), FLAT]))
    ids = _bracket(sim, 0, 100, OrderStyle(), "10.50", "9.50")
    sim.run()
    assert sim.prices(ids["entry"]) == [(D(100), D(10))]
    assert sim.prices(ids["tp"]) == [(D(-100), D("10.50"))]
    assert sim.fill_bar[ids["tp"]] == [2]
    sl = sim.order(ids["sl"])
    assert (sl.status, sl.reason_code) == (OrderStatus.CANCELLED, "BRACKET")
    assert sim.ledger.position_amount(A) == 0
    assert sim.ledger.realized_pnl == D(50)


def test_bracket_lifecycle_stop_loss_gap():
    """Bar 2 gaps down to 9.00, below the SL 9.50: the stop fills at the open 9.00."""
    sim = Sim(ohlcv([FLAT, FLAT, (9, 9.1, 8.8, 9, VOL)]))
    ids = _bracket(sim, 0, 100, OrderStyle(), "10.50", "9.50")
    sim.run()
    assert sim.prices(ids["sl"]) == [(D(-100), D(9))]
    assert sim.order(ids["tp"]).status is OrderStatus.CANCELLED


def test_bracket_exits_are_cancelled_when_the_entry_never_fills():
    """DAY limit entry at 9.00 is not reached on bar 1 → expires; both exits are cancelled
    (BRACKET) without ever working."""
    sim = Sim(ohlcv([FLAT, FLAT, (10, 12, 8, 10, VOL)]))
    ids = _bracket(sim, 0, 100, limit("9.00", time_in_force=TimeInForce.DAY), "10.50", "9.50")
    sim.run()
    assert sim.order(ids["entry"]).status is OrderStatus.EXPIRED
    for leg in ("tp", "sl"):
        assert (sim.order(ids[leg]).status, sim.order(ids[leg]).reason_code) == (
            OrderStatus.CANCELLED,
            "BRACKET",
        )
    assert sim.session.fills == []


def test_bracket_exits_follow_a_partially_filled_entry():
    """Entry 1 500 with FixedBps (cap 10 % of volume 10 000 = 1 000 per bar).

    bar 1: entry fills 1 000 (at close 10 × 1.0005 = 10.005);
    bar 2 (high 10.6, TP 10.50): the entry takes its last 500 of the bar's cap, so the TP —
      working for the 1 000 filled before the bar — gets the 500 left, at its limit 10.50;
    bar 3 (high 10.6 again): TP fills the remaining 1 000 (its room: 1 500 − 500);
    then the SL is cancelled: the exits closed the whole entry.
    """
    up = (10.2, 10.6, 10, 10.4, 10_000.0)
    sim = Sim(
        ohlcv([FLAT, (10, 10, 10, 10, 10_000.0), up, up]), slippage=FixedBasisPointsSlippage()
    )
    ids = _bracket(sim, 0, 1500, OrderStyle(), "10.50", "9.50")
    sim.run()
    assert [f.amount for f in sim.fills(ids["entry"])] == [D(1000), D(500)]
    assert sim.prices(ids["tp"]) == [(D(-500), D("10.50")), (D(-1000), D("10.50"))]
    assert sim.order(ids["sl"]).status is OrderStatus.CANCELLED
    assert sim.ledger.position_amount(A) == 0


def test_cancel_and_replace_links_the_new_order():
    """Bar 1: replace the unfilled limit 9.00 by a limit 9.80 (cancel + new with
    ``replaces``); bar 2 (low 9.70) fills the new one at 9.80."""
    sim = Sim(ohlcv([FLAT, FLAT, (10, 10, 9.7, 9.9, VOL)]))
    old = sim.place(0, 100, limit("9.00"))
    new: list[str] = []

    def replace(s: Sim) -> None:
        s.session.cancel_order(old[0])
        style = limit("9.80", replaces=old[0])
        new.append(s.session.place_order(A, D(100), style).id)

    sim.at(1, replace)
    sim.run()
    assert sim.order(old).status is OrderStatus.CANCELLED
    assert sim.order(new).style.replaces == old[0]
    assert sim.prices(new) == [(D(100), D("9.80"))]
    assert sim.broker.open_orders() == []
