"""``schedule_function`` with date rules: exactly Zipline's sessions, after ``handle_data``.

Zipline picks the n-th session of each ISO week / calendar month from the *calendar*,
not from the backtest's range: a run starting on a Wednesday does not call a
``week_start`` function that Wednesday, because that week's first session (the
Tuesday) was not in the run. The expectation is built here from the XNYS calendar
independently of the code under test, plus a few dates checked by hand.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

import numpy as np
import pytest

from rbt.api import TradingAlgorithm, date_rules, run_backtest, schedule_function, time_rules
from rbt.data.bars import bars_from_floats
from rbt.kernel.model import Asset
from rbt.plugins import plugin_manager
from rbt.plugins.calendars import get_calendar

CAL = get_calendar("XNYS")
#: Wednesday 2024-01-03 .. Tuesday 2024-03-26: partial first/last weeks and months
START, END = dt.date(2024, 1, 3), dt.date(2024, 3, 26)
RUN = list(CAL.sessions(START, END))
WIDE = list(CAL.sessions(dt.date(2023, 11, 1), dt.date(2024, 5, 31)))


def expected(kind: str, offset: int) -> list[dt.date]:
    """The n-th session from the start/end of each week/month of the calendar, in the run."""
    groups: dict[tuple[int, int], list[dt.date]] = defaultdict(list)
    for day in WIDE:
        key = tuple(day.isocalendar())[:2] if kind.startswith("week") else (day.year, day.month)
        groups[key].append(day)
    picked = set()
    for days in groups.values():
        if offset < len(days):
            picked.add(days[offset] if kind.endswith("start") else days[-1 - offset])
    return [d for d in RUN if d in picked]


RULES = {
    "every_day": date_rules.every_day(),
    "week_start": date_rules.week_start(),
    "week_start+1": date_rules.week_start(days_offset=1),
    "week_end": date_rules.week_end(),
    "week_end+2": date_rules.week_end(days_offset=2),
    "month_start": date_rules.month_start(),
    "month_start+3": date_rules.month_start(days_offset=3),
    "month_end": date_rules.month_end(),
    "month_end+1": date_rules.month_end(days_offset=1),
    "default": None,
}


class Scheduled(TradingAlgorithm):
    def initialize(self, context):
        self.calls = []
        for name, rule in RULES.items():
            schedule_function(self._make(name), rule, time_rules.market_open())

    def _make(self, name):
        def scheduled(context, data):
            self.calls.append((name, data.current_dt.date()))

        return scheduled

    def handle_data(self, context, data):
        self.calls.append(("handle_data", data.current_dt.date()))


@pytest.fixture(scope="module")
def calls(build_bars_module, manager_module):
    strategy = Scheduled()
    run_backtest(
        strategy,
        start=START,
        end=END,
        bars=build_bars_module,
        manager=manager_module,
        capital_base=100_000,
        write=False,
    )
    return strategy.calls


@pytest.fixture(scope="module")
def build_bars_module():

    sessions = list(CAL.sessions(dt.date(2024, 1, 2), dt.date(2024, 3, 28)))
    ones = np.ones((len(sessions), 1)) * 10
    return bars_from_floats(
        [Asset(sid=1, symbol="AAA")],
        sessions,
        {"open": ones, "high": ones, "low": ones, "close": ones, "volume": ones * 1000},
    )


@pytest.fixture(scope="module")
def manager_module():
    return plugin_manager(autoload=False, strict=True)


def _days(calls, name):
    return [day for n, day in calls if n == name]


@pytest.mark.parametrize(
    ("name", "kind", "offset"),
    [
        ("every_day", "every_day", 0),
        ("default", "every_day", 0),
        ("week_start", "week_start", 0),
        ("week_start+1", "week_start", 1),
        ("week_end", "week_end", 0),
        ("week_end+2", "week_end", 2),
        ("month_start", "month_start", 0),
        ("month_start+3", "month_start", 3),
        ("month_end", "month_end", 0),
        ("month_end+1", "month_end", 1),
    ],
)
def test_date_rules_fire_on_the_calendars_sessions(calls, name, kind, offset):
    want = RUN if kind == "every_day" else expected(kind, offset)
    assert _days(calls, name) == want


def test_hand_checked_dates(calls):
    """A few by hand: MLK day (Mon 2024-01-15) moves that week's start to Tuesday;
    Good Friday (2024-03-29) is outside this run, and the run's last week (25-26 March)
    has no week_end inside it; month_end of February 2024 is Thursday the 29th."""
    week_starts = _days(calls, "week_start")
    assert dt.date(2024, 1, 3) not in week_starts  # the week began on Tue 2024-01-02
    assert week_starts[:3] == [dt.date(2024, 1, 8), dt.date(2024, 1, 16), dt.date(2024, 1, 22)]
    assert dt.date(2024, 2, 20) in week_starts  # Presidents' day week
    assert _days(calls, "month_start") == [dt.date(2024, 2, 1), dt.date(2024, 3, 1)]
    assert _days(calls, "month_start+3") == [
        dt.date(2024, 1, 5),
        dt.date(2024, 2, 6),
        dt.date(2024, 3, 6),
    ]
    assert _days(calls, "month_end") == [dt.date(2024, 1, 31), dt.date(2024, 2, 29)]
    assert _days(calls, "month_end+1") == [dt.date(2024, 1, 30), dt.date(2024, 2, 28)]
    week_ends = _days(calls, "week_end")
    assert week_ends[0] == dt.date(2024, 1, 5)
    assert week_ends[-1] == dt.date(2024, 3, 22)
    assert dt.date(2024, 2, 16) in week_ends


def test_scheduled_functions_run_after_handle_data_in_scheduling_order(calls):
    by_day: dict[dt.date, list[str]] = defaultdict(list)
    for name, day in calls:
        by_day[day].append(name)
    assert list(by_day) == RUN
    order = list(RULES)
    for names in by_day.values():
        assert names[0] == "handle_data"
        assert names.count("handle_data") == 1
        rest = names[1:]
        assert rest == sorted(rest, key=order.index)


def test_negative_offsets_are_refused():
    with pytest.raises(ValueError, match="days_offset"):
        date_rules.month_start(days_offset=-1)
