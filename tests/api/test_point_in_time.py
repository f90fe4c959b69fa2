"""End to end: a strategy can never see a bar before that bar is processed.

Huge values are planted in the arrays (AAA's close at bar 30, BBB's volume at bar 40);
a strategy records, on every bar and before every session, the largest values and the
latest timestamps it can see through ``data.history`` (pandas, numpy, polars) and
``data.current``. They must appear exactly from their own bar on, never before.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from rbt.api import TradingAlgorithm, get_datetime
from rbt.kernel.model import Asset
from rbt.plugins.calendars import get_calendar

CAL = get_calendar("XNYS")
SESSIONS = list(CAL.sessions(dt.date(2024, 1, 2), dt.date(2024, 3, 28)))
AAA = Asset(sid=1, symbol="AAA")
BBB = Asset(sid=2, symbol="BBB")
PLANT_CLOSE, PLANT_VOLUME = 30, 40
HUGE_CLOSE, HUGE_VOLUME = 1_000_000.0, 9e12
WINDOW = 20
FIELDS = ["open", "high", "low", "close", "volume", "price"]


def _max(values) -> float:
    """Largest non-NaN value (−inf when there is none yet)."""
    arr = np.asarray(values, dtype=np.float64)
    arr = arr[~np.isnan(arr)]
    return float(arr.max()) if len(arr) else float("-inf")


class Peek(TradingAlgorithm):
    """Records what it can see; the assertions run after the backtest."""

    def initialize(self, context):
        self.context = context
        context.bars_seen = []
        context.before_seen = []

    def before_trading_start(self, context, data):
        context.before_seen.append(
            (
                data.current(AAA, "close"),
                _max(data.history(AAA, "high", WINDOW, "1d", frame="numpy")),
            )
        )

    def handle_data(self, context, data):
        long = data.history([AAA, BBB], FIELDS, WINDOW, "1d")
        closes = data.history([AAA, BBB], "close", WINDOW, "1d")
        arrays = data.history([AAA, BBB], FIELDS, WINDOW, "1d", frame="numpy")
        polars = data.history([AAA, BBB], ["high", "volume"], WINDOW, "1d", frame="polars")
        current = data.current([AAA, BBB], FIELDS)
        context.bars_seen.append(
            {
                "dt": get_datetime(),
                "current_dt": data.current_dt,
                "last_label": closes.index.max(),
                "last_long_label": long.index.get_level_values(0).max(),
                "last_polars_ts": polars["ts"].max(),
                "max_close": max(
                    _max(long["close"].to_numpy()),
                    _max(closes.to_numpy()),
                    _max(arrays["high"]),
                    float(polars["AAA.high"].max()),
                    float(current["high"].max()),
                ),
                "max_volume": max(
                    _max(arrays["volume"]),
                    float(polars["BBB.volume"].max()),
                    float(current.loc[BBB, "volume"]),
                ),
                "current_close": data.current(AAA, "close"),
            }
        )


def test_planted_future_values_are_never_seen_before_their_bar(run, build_bars):
    bars = build_bars()
    bars.floats["close"][PLANT_CLOSE, 0] = HUGE_CLOSE
    bars.floats["high"][PLANT_CLOSE, 0] = HUGE_CLOSE
    bars.floats["volume"][PLANT_VOLUME, 1] = HUGE_VOLUME
    strategy = Peek()
    run(strategy, bars=bars, commission="none", slippage="none")
    seen = strategy.context.bars_seen
    assert len(seen) == len(SESSIONS)
    for i, row in enumerate(seen):
        session = SESSIONS[i]
        close = pd.Timestamp(CAL.session_times(session).close, unit="ns", tz="UTC")
        assert row["dt"] == row["current_dt"] == close
        assert row["last_label"] == row["last_long_label"] == pd.Timestamp(session)
        assert row["last_polars_ts"] == dt.datetime(session.year, session.month, session.day)
        if i < PLANT_CLOSE:
            assert row["max_close"] < HUGE_CLOSE, f"bar {i} saw bar {PLANT_CLOSE}'s close"
        elif i < PLANT_CLOSE + WINDOW:
            assert row["max_close"] == HUGE_CLOSE
        assert (row["current_close"] == HUGE_CLOSE) is (i == PLANT_CLOSE)
        if i < PLANT_VOLUME:
            assert row["max_volume"] < HUGE_VOLUME, f"bar {i} saw bar {PLANT_VOLUME}'s volume"
        elif i < PLANT_VOLUME + WINDOW:
            assert row["max_volume"] == HUGE_VOLUME
    # before trading starts, today's bar is not out yet: the planted bar shows only after it
    before = strategy.context.before_seen
    assert len(before) == len(SESSIONS)
    for i, (current_close, max_high) in enumerate(before):
        assert (current_close == HUGE_CLOSE) is (i == PLANT_CLOSE + 1)
        assert (max_high == HUGE_CLOSE) is (PLANT_CLOSE < i <= PLANT_CLOSE + WINDOW)


def test_an_order_cannot_trade_on_the_bar_that_prompted_it(run, build_bars):
    """The strategy buys when it sees the planted close; the fill comes one bar later,
    at that next bar's (normal) close — never at the price that triggered it."""
    bars = build_bars()
    bars.floats["close"][PLANT_CLOSE, 0] = HUGE_CLOSE
    bars.mantissas["close"][PLANT_CLOSE, 0] = int(HUGE_CLOSE * 10**4)

    class Reactive(TradingAlgorithm):
        def handle_data(self, context, data):
            from rbt.api import order

            if data.current(AAA, "close") == HUGE_CLOSE:
                order(AAA, 10)

    result = run(Reactive(), bars=bars, commission="none", slippage="none")
    (fill,) = result.transactions.iter_rows(named=True)
    assert fill["session"] == SESSIONS[PLANT_CLOSE + 1]
    assert float(fill["price"]) == float(bars.floats["close"][PLANT_CLOSE + 1, 0])


def test_before_trading_start_runs_before_the_open_and_sees_only_earlier_bars(run):
    """Zipline calls before_trading_start 45 minutes before the open: ``get_datetime()``
    is that time, ``data`` shows the previous session's bar (nothing on the first
    session), and an order placed there fills at that session's own close."""

    class Early(TradingAlgorithm):
        def initialize(self, context):
            self.seen = []

        def before_trading_start(self, context, data):
            from rbt.api import order

            self.seen.append(
                (get_datetime(), data.current_dt, data.current(AAA, "close"), data.can_trade(AAA))
            )
            if len(self.seen) == 3:
                order(AAA, 5)

    strategy = Early()
    result = run(strategy, commission="none", slippage="none")
    for i, (now, current_dt, close, tradable) in enumerate(strategy.seen):
        times = CAL.session_times(SESSIONS[i])
        expected = pd.Timestamp(times.open - 45 * 60 * 10**9, unit="ns", tz="UTC")
        assert now == current_dt == expected
        if i == 0:
            assert np.isnan(close)
            assert not tradable
        else:
            assert close == 100 + 0.5 * (i - 1)
            assert tradable
    (fill,) = result.transactions.iter_rows(named=True)
    assert fill["session"] == SESSIONS[2]
    assert fill["price"] == 101
