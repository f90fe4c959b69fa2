"""Order types in the simulated broker, hand-computed (table in ``rbt.plugins.sim_broker``).

Bars are ``(open, high, low, close, volume)``; orders are placed on bar 0 (decided at
its close) and matched from bar 1. Unless a test says otherwise: no slippage, no
commission, so every price below is read straight off the bar.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from rbt.finance.slippage import FixedBasisPointsSlippage
from rbt.kernel.model import OrderStatus, OrderStyle, OrderType

from .conftest import CAPITAL, Sim, ohlcv

D = Decimal
VOL = 100_000.0


def limit(price: str, **kw) -> OrderStyle:
    return OrderStyle(type=OrderType.LIMIT, limit_price=D(price), **kw)


def stop(price: str, **kw) -> OrderStyle:
    return OrderStyle(type=OrderType.STOP, stop_price=D(price), **kw)


def stop_limit(stop_price: str, limit_price: str) -> OrderStyle:
    return OrderStyle(
        type=OrderType.STOP_LIMIT, stop_price=D(stop_price), limit_price=D(limit_price)
    )


def test_buy_limit_fills_at_the_limit_when_the_low_reaches_it():
    """Limit 9.50. Bar 1 o=10 h=10.5 l=9.6: low above the limit, no fill. Bar 2 o=10
    l=9.4: fills at min(open 10, limit 9.50) = 9.50."""
    sim = Sim(ohlcv([(10, 10, 10, 10, VOL), (10, 10.5, 9.6, 10, VOL), (10, 10.2, 9.4, 9.8, VOL)]))
    ids = sim.place(0, 100, limit("9.50"))
    sim.run()
    assert sim.prices(ids) == [(D(100), D("9.50"))]
    assert sim.fill_bar[ids[0]] == [2]


def test_buy_limit_gapped_through_fills_at_the_better_open():
    """Limit 9.50; bar 1 opens at 9.00 (below the limit): fills at the open, 9.00."""
    sim = Sim(ohlcv([(10, 10, 10, 10, VOL), (9, 9.2, 8.8, 9.1, VOL)]))
    ids = sim.place(0, 100, limit("9.50"))
    sim.run()
    assert sim.prices(ids) == [(D(100), D(9))]


def test_sell_limit_gap_up_fills_at_the_open():
    """Sell limit 10.50; bar 1 opens at 11.00 (above it): fills at 11.00. A second sell
    limit at 11.40 fills when the high (11.50) reaches it, at 11.40."""
    sim = Sim(ohlcv([(10, 10, 10, 10, VOL), (11, 11.5, 10.9, 11.2, VOL)]))
    low = sim.place(0, -100, limit("10.50"))
    high = sim.place(0, -50, limit("11.40"))
    sim.run()
    assert sim.prices(low) == [(D(-100), D(11))]
    assert sim.prices(high) == [(D(-50), D("11.40"))]


def test_limit_fill_never_pays_slippage_beyond_the_limit():
    """Default 5 bp slippage. Passive fill at 9.50: 9.50 × 1.0005 = 9.50475 is capped
    at the limit, 9.50. Gap fill at open 9.00: 9.00 × 1.0005 = 9.0045 (below the limit)."""
    bars = ohlcv([(10, 10, 10, 10, VOL), (10, 10.2, 9.4, 9.8, VOL), (9, 9.2, 8.8, 9.1, VOL)])
    sim = Sim(bars, slippage=FixedBasisPointsSlippage())
    passive = sim.place(0, 100, limit("9.50"))
    gap = sim.place(1, 100, limit("9.50"))
    sim.run()
    assert sim.prices(passive) == [(D(100), D("9.50"))]
    assert sim.prices(gap) == [(D(100), D("9.0045"))]


def test_buy_stop_triggers_on_the_high_and_fills_at_the_stop():
    """Stop 10.50; bar 1 o=10 h=10.8: triggers, fills at max(open 10, stop 10.50) = 10.50;
    with 5 bp slippage 10.50 × 1.0005 = 10.50525."""
    sim = Sim(
        ohlcv([(10, 10, 10, 10, VOL), (10, 10.8, 9.9, 10.6, VOL)]),
        slippage=FixedBasisPointsSlippage(),
    )
    ids = sim.place(0, 100, stop("10.50"))
    sim.run()
    assert sim.prices(ids) == [(D(100), D("10.50525"))]


def test_stops_gapped_through_fill_at_the_worse_open():
    """Buy stop 10.50, bar 1 opens at 11.00: fills at 11.00 (worse than the stop).
    Sell stop 9.50 on another run, bar 1 opens at 9.00: fills at 9.00."""
    up = Sim(ohlcv([(10, 10, 10, 10, VOL), (11, 11.5, 10.9, 11.2, VOL)]))
    buy = up.place(0, 100, stop("10.50"))
    up.run()
    assert up.prices(buy) == [(D(100), D(11))]
    down = Sim(ohlcv([(10, 10, 10, 10, VOL), (9, 9.1, 8.5, 8.8, VOL)]))
    sell = down.place(0, -100, stop("9.50"))
    down.run()
    assert down.prices(sell) == [(D(-100), D(9))]


def test_stop_not_reached_stays_open():
    sim = Sim(ohlcv([(10, 10, 10, 10, VOL), (10, 10.4, 9.9, 10.2, VOL)]))
    ids = sim.place(0, 100, stop("10.50"))
    sim.run()
    assert sim.fills(ids) == []
    assert sim.order(ids).status is OrderStatus.ACCEPTED


def test_stop_limit_fills_at_the_trigger_within_the_limit():
    """Stop 10.50, limit 10.70; bar 1 o=10 h=10.8: triggers at 10.50 <= 10.70, fills 10.50."""
    sim = Sim(ohlcv([(10, 10, 10, 10, VOL), (10, 10.8, 9.9, 10.6, VOL)]))
    ids = sim.place(0, 100, stop_limit("10.50", "10.70"))
    sim.run()
    assert sim.prices(ids) == [(D(100), D("10.50"))]


def test_stop_limit_gapped_beyond_its_limit_waits_as_a_limit():
    """Stop 10.50, limit 10.70; bar 1 opens at 11.00: triggered, but 11.00 > 10.70, no fill.
    Bar 2 o=10.90 l=10.60: a limit order now, fills at min(10.90, 10.70) = 10.70."""
    bars = ohlcv([(10, 10, 10, 10, VOL), (11, 11.5, 10.9, 11.2, VOL), (10.9, 11, 10.6, 10.8, VOL)])
    sim = Sim(bars)
    ids = sim.place(0, 100, stop_limit("10.50", "10.70"))
    sim.run()
    assert sim.prices(ids) == [(D(100), D("10.70"))]
    assert sim.fill_bar[ids[0]] == [2]


def test_trailing_stop_by_amount_ratchets_with_the_high():
    """Sell 100 trailing by 1.00, placed at close 10 → trigger 9.00.

    bar 1 (o 10.5 h 12 l 10.5): low 10.5 > 9.00, no trigger; ratchets to 12 − 1 = 11.00;
    bar 2 (o 11.5 h 11.8 l 10.9): low 10.9 <= 11.00 → fills at min(11.5, 11.00) = 11.00.
    """
    bars = ohlcv([(10, 10, 10, 10, VOL), (10.5, 12, 10.5, 11.8, VOL), (11.5, 11.8, 10.9, 11, VOL)])
    sim = Sim(bars)
    ids = sim.place(0, -100, OrderStyle(type=OrderType.TRAILING_STOP, trail_amount=D(1)))
    sim.run()
    assert sim.prices(ids) == [(D(-100), D(11))]
    assert sim.fill_bar[ids[0]] == [2]


def test_trailing_stop_by_percent_and_never_loosens():
    """Buy 10 (covering a short) trailing 10 %, placed at close 10 → trigger 11.00.

    bar 1 (l 9.00): ratchets down to 9.00 × 1.1 = 9.90;
    bar 2 (l 9.50, h 9.80): 9.80 < 9.90 no trigger; 9.50 × 1.1 = 10.45 > 9.90: stays 9.90;
    bar 3 (o 10.20 gap above 9.90): fills at max(open 10.20, 9.90) = 10.20.
    """
    bars = ohlcv(
        [
            (10, 10, 10, 10, VOL),
            (9.5, 9.8, 9, 9.2, VOL),
            (9.6, 9.8, 9.5, 9.7, VOL),
            (10.2, 10.4, 10.1, 10.3, VOL),
        ]
    )
    sim = Sim(bars)
    ids = sim.place(0, 10, OrderStyle(type=OrderType.TRAILING_STOP, trail_percent=D("0.1")))
    sim.run()
    assert sim.prices(ids) == [(D(10), D("10.20"))]
    assert sim.fill_bar[ids[0]] == [3]


def test_market_orders_keep_zipline_timing_next_close_or_next_open():
    """Market order on bar 0: next_close fills at bar 1's close 10.60; next_open at 10.00."""
    bars = ohlcv([(10, 10, 10, 10, VOL), (10, 10.8, 9.9, 10.6, VOL)])
    close = Sim(bars)
    a = close.place(0, 100)
    close.run()
    opened = Sim(bars, fill_timing="next_open")
    b = opened.place(0, 100)
    opened.run()
    assert close.prices(a) == [(D(100), D("10.60"))]
    assert opened.prices(b) == [(D(100), D(10))]


@pytest.mark.parametrize("style", [limit("9.50"), stop("10.50")])
def test_nothing_fills_on_a_zero_volume_bar(style):
    """A touched limit/stop on a zero-volume bar does not fill; the order keeps working."""
    sim = Sim(ohlcv([(10, 10, 10, 10, VOL), (10, 11, 9, 10, 0)]))
    ids = sim.place(0, 100, style)
    sim.run()
    assert sim.fills(ids) == []
    assert sim.order(ids).is_open
    assert sim.ledger.cash == CAPITAL
