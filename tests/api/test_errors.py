"""Bad run arguments fail before anything runs, with the error type and message a user
can act on (``ConfigError`` for arguments, ``DataUnavailableError`` for data)."""

from __future__ import annotations

import datetime as dt

import pytest

from rbt.api import TradingAlgorithm, run_algorithm
from rbt.kernel.errors import ConfigError, DataUnavailableError, UnknownPluginError
from rbt.plugins.calendars import get_calendar

SESSIONS = list(get_calendar("XNYS").sessions(dt.date(2024, 1, 2), dt.date(2024, 3, 28)))


class Counting(TradingAlgorithm):
    calls = 0

    def initialize(self, context):
        type(self).calls += 1


@pytest.fixture(autouse=True)
def _reset_calls():
    Counting.calls = 0
    yield
    # none of the failing runs below may have started the strategy
    assert Counting.calls == 0


def test_start_after_end(run):
    with pytest.raises(ConfigError, match="start 2024-03-01 is after end 2024-02-01"):
        run(Counting(), start="2024-03-01", end="2024-02-01")


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (dt.date(2023, 12, 29), SESSIONS[-1]),  # a session before the first bar
        (SESSIONS[0], dt.date(2024, 4, 1)),  # a session after the last bar
        (dt.date(2020, 1, 2), dt.date(2020, 1, 31)),
    ],
)
def test_dates_outside_the_bars(run, start, end):
    with pytest.raises(
        DataUnavailableError,
        match=rf"dates {start}\.\.{end} are outside bundle 'demo', which covers "
        r"2024-01-02\.\.2024-03-28",
    ):
        run(Counting(), start=start, end=end)


def test_a_range_without_sessions(run):
    with pytest.raises(DataUnavailableError, match="no XNYS sessions between 2024-01-13"):
        run(Counting(), start="2024-01-13", end="2024-01-15")  # Saturday .. MLK day


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"start": "2024-13-01"}, "start: expected a date like 2020-01-31, got '2024-13-01'"),
        ({"end": 20240301}, "end: expected a date, got 20240301"),
        ({"capital_base": 0}, "capital must be positive, got 0"),
        ({"capital_base": -5.5}, "capital must be positive, got -5.5"),
        ({"capital_base": "lots"}, "capital: not a decimal number"),
        ({"fill_timing": "same_bar"}, "unknown fill timing 'same_bar'"),
    ],
)
def test_bad_arguments_are_config_errors(run, kwargs, message):
    with pytest.raises(ConfigError, match=message):
        run(Counting(), **kwargs)


def test_unknown_cost_model_names_list_the_valid_ones(run):
    with pytest.raises(UnknownPluginError, match="per_sharez") as excinfo:
        run(Counting(), commission="per_sharez")
    assert "per_share" in str(excinfo.value).replace("per_sharez", "")
    with pytest.raises(LookupError, match="fixed_bps"):
        run(Counting(), slippage="fixed_bp")


def test_not_a_strategy(run):
    with pytest.raises(ConfigError, match="not a strategy"):
        run(object())


def test_run_algorithm_dates_are_checked_too(bars, manager):
    with pytest.raises(DataUnavailableError, match="outside bundle"):
        run_algorithm(
            "2023-06-01",
            "2023-06-30",
            lambda context: None,
            bars=bars,
            manager=manager,
            write=False,
        )
    with pytest.raises(ConfigError, match="is after end"):
        run_algorithm(
            SESSIONS[5], SESSIONS[1], lambda context: None, bars=bars, manager=manager, write=False
        )
