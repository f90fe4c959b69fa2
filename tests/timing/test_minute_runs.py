"""Minute-bar runs: session open/close, the 2024-07-03 early close, time rules, 1d from 1m.

XNYS 2024-07-02 trades 09:30–16:00 ET (13:30–20:00 UTC), 2024-07-03 closes early at
13:00 ET (17:00 UTC), 2024-07-04 is a holiday, 2024-07-05 is a full day.
A minute bar is stamped with its end: the first bar of a day ends 09:31 ET.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy as np
import pandas as pd

from rbt.api import TradingAlgorithm, date_rules, order, schedule_function, time_rules
from rbt.kernel.model import Asset

from .conftest import XNYS, minute

AAA = Asset(sid=1, symbol="AAA")
SESSIONS = list(XNYS.sessions(dt.date(2024, 7, 2), dt.date(2024, 7, 5)))
NY = "America/New_York"


def price(i: int, _col: int) -> float:
    return 100.0 + 0.01 * i  # rises one cent a minute through the run


class Timed(TradingAlgorithm):
    def initialize(self, context):
        self.fired: dict[str, list[pd.Timestamp]] = {}
        self.bars = 0
        self.daily_seen = []
        for name, rule in {
            "open1": time_rules.market_open(),
            "open30": time_rules.market_open(minutes=30),
            "close1": time_rules.market_close(),
            "close_h": time_rules.market_close(hours=1, minutes=5),
        }.items():
            schedule_function(self._make(name), date_rules.every_day(), rule)
        schedule_function(self._make("every"), date_rules.every_day(), time_rules.every_minute())
        schedule_function(
            self._make("full_days_only"),
            date_rules.every_day(),
            time_rules.market_open(),
            half_days=False,
        )

    def _make(self, name):
        def fire(context, data):
            self.fired.setdefault(name, []).append(data.current_dt.tz_convert(NY))
            if name == "open1" and data.current_dt.date() == dt.date(2024, 7, 3):
                order(AAA, 10)
            if name == "open30":
                self.daily_seen.append(
                    (
                        data.current_dt,
                        data.history(AAA, ["open", "high", "low", "close", "volume"], 2, "1d"),
                    )
                )

        return fire

    def before_trading_start(self, context, data):
        self.before_daily = data.history(AAA, "close", 2, "1d")

    def handle_data(self, context, data):
        self.bars += 1


def _times(stamps):
    return [(t.date().isoformat(), t.strftime("%H:%M")) for t in stamps]


def test_time_rules_fire_at_their_minute_with_the_early_close(run):
    bars = minute([AAA], SESSIONS, price)
    strategy = Timed()
    result = run(strategy, bars)
    assert strategy.bars == 390 + 210 + 390 == len(bars.ts)
    fired = {k: _times(v) for k, v in strategy.fired.items()}
    days = ["2024-07-02", "2024-07-03", "2024-07-05"]
    assert fired["open1"] == [(d, "09:31") for d in days]
    assert fired["open30"] == [(d, "10:00") for d in days]
    assert fired["close1"] == [
        ("2024-07-02", "15:59"),
        ("2024-07-03", "12:59"),
        ("2024-07-05", "15:59"),
    ]
    assert fired["close_h"] == [
        ("2024-07-02", "14:55"),
        ("2024-07-03", "11:55"),
        ("2024-07-05", "14:55"),
    ]
    assert len(fired["every"]) == 990
    assert fired["full_days_only"] == [("2024-07-02", "09:31"), ("2024-07-05", "09:31")]
    # the order placed at 09:31 on 07-03 fills on the next minute bar (09:32) at its close
    tx = result.transactions
    assert tx.height == 1
    fill_ts = pd.Timestamp(tx["ts"][0], unit="ns", tz="UTC").tz_convert(NY)
    assert fill_ts.strftime("%Y-%m-%d %H:%M") == "2024-07-03 09:32"
    row = int(np.searchsorted(bars.ts, tx["ts"][0]))
    assert tx["price"][0] == Decimal(str(round(price(row, 0), 2)))
    # one perf row per session, stamped at each session's close (17:00 UTC on 07-03)
    perf = result.perf
    assert perf["session"].to_list() == SESSIONS
    closes = [
        pd.Timestamp(t, unit="ns", tz="UTC").tz_convert(NY).strftime("%H:%M") for t in perf["ts"]
    ]
    assert closes == ["16:00", "13:00", "16:00"]


def test_daily_history_from_minutes_ends_with_the_partial_session(run):
    """At 10:00 ET on 07-03 (minute row 390 + 29), the 1d window is
    [07-02 complete, 07-03 from 09:31 to 10:00]: open = first open, close = last close,
    high/low = extremes so far, volume = 30 minutes × 1000."""
    bars = minute([AAA], SESSIONS, price)
    strategy = Timed()
    run(strategy, bars)
    at, frame = strategy.daily_seen[1]
    assert at.tz_convert(NY).strftime("%Y-%m-%d %H:%M") == "2024-07-03 10:00"
    assert [d.date() for d in frame.index] == [dt.date(2024, 7, 2), dt.date(2024, 7, 3)]
    day1, day2 = frame.iloc[0], frame.iloc[1]
    assert day1["open"] == round(price(0, 0) - 0.01, 2)
    assert day1["close"] == round(price(389, 0), 2)
    assert day1["high"] == round(price(389, 0) + 0.02, 2)
    assert day1["low"] == round(price(0, 0) - 0.02, 2)
    assert day1["volume"] == 390 * 1000
    assert day2["open"] == round(price(390, 0) - 0.01, 2)
    assert day2["close"] == round(price(390 + 29, 0), 2)
    assert day2["high"] == round(price(390 + 29, 0) + 0.02, 2)
    assert day2["volume"] == 30 * 1000
    # before trading on 07-05 the window ends with the complete early-closed 07-03
    assert [d.date() for d in strategy.before_daily.index] == [
        dt.date(2024, 7, 2),
        dt.date(2024, 7, 3),
    ]
    assert strategy.before_daily.iloc[-1] == round(price(599, 0), 2)
