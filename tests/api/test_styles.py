"""Both strategy styles, strategy files, and Zipline's ``run_algorithm`` give the same run.

Strategy files are real ``.py`` files written into ``tmp_path`` and loaded with
:func:`rbt.api.loader.load_strategy` (or given to ``run_backtest`` as a path).
"""

from __future__ import annotations

import datetime as dt
import textwrap
import traceback

import pandas as pd
import polars as pl
import pytest

from rbt.api import (
    TradingAlgorithm,
    date_rules,
    order,
    order_target_percent,
    record,
    run_algorithm,
    schedule_function,
    symbol,
)
from rbt.api.algorithm import FunctionStrategy
from rbt.api.loader import load_strategy
from rbt.kernel.errors import ConfigError
from rbt.plugins.calendars import get_calendar

SESSIONS = list(get_calendar("XNYS").sessions(dt.date(2024, 1, 2), dt.date(2024, 3, 28)))

ZIPLINE_FILE = """\
from rbt.api import date_rules, order, order_target_percent, record, schedule_function, symbol

PARAMS = {"weight": 0.5, "lookback": 5}


def initialize(context):
    context.asset = symbol("AAA")
    context.other = symbol("BBB")
    context.i = 0
    schedule_function(rebalance, date_rules.week_start())


def rebalance(context, data):
    order(context.other, 7)


def handle_data(context, data):
    prices = data.history(context.asset, "price", context.params.lookback, "1d")
    if context.i % 10 == 0:
        rising = prices.iloc[-1] > prices.iloc[0]
        order_target_percent(context.asset, context.params.weight if rising else 0.0)
    record(mean=float(prices.mean()), i=context.i)
    context.i += 1
"""


class ClassStyle(TradingAlgorithm):
    """The same strategy as :data:`ZIPLINE_FILE`, as a subclass."""

    PARAMS = {"weight": 0.5, "lookback": 5}  # noqa: RUF012

    def initialize(self, context):
        context.asset = symbol("AAA")
        context.other = symbol("BBB")
        context.i = 0
        schedule_function(self.rebalance, date_rules.week_start())

    def rebalance(self, context, data):
        order(context.other, 7)

    def handle_data(self, context, data):
        prices = data.history(context.asset, "price", context.params.lookback, "1d")
        if context.i % 10 == 0:
            rising = prices.iloc[-1] > prices.iloc[0]
            order_target_percent(context.asset, context.params.weight if rising else 0.0)
        record(mean=float(prices.mean()), i=context.i)
        context.i += 1


def _without_ids(frame: pl.DataFrame) -> pl.DataFrame:
    """Order ids embed the run id (which hashes the strategy source): compare the rest."""
    return frame.drop([c for c in ("id", "order_id") if c in frame.columns])


def _write(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_module_functions_file_and_class_style_give_identical_runs(run, tmp_path):
    path = _write(tmp_path, "zipline_style.py", ZIPLINE_FILE)
    loaded = load_strategy(path)
    assert isinstance(loaded.strategy, FunctionStrategy)
    assert loaded.path == path
    assert dict(loaded.strategy.PARAMS) == {"weight": 0.5, "lookback": 5}
    from_file = run(loaded.strategy)
    from_path = run(str(path))
    from_class = run(ClassStyle())
    assert len(from_class.transactions) > 5
    assert from_class.perf.equals(from_file.perf)
    assert from_class.perf.equals(from_path.perf)
    for name in ("transactions", "orders", "positions"):
        assert _without_ids(getattr(from_class, name)).equals(
            _without_ids(getattr(from_file, name))
        )
    assert from_file.run_id == from_path.run_id
    assert from_class.final_value == from_file.final_value


def test_a_file_with_a_subclass_loads_the_subclass(tmp_path):
    path = _write(
        tmp_path,
        "class_style.py",
        """
        from rbt.api import TradingAlgorithm

        class Helper:
            pass

        class Mine(TradingAlgorithm):
            PARAMS = {"n": 3}
    """,
    )
    loaded = load_strategy(path)
    assert type(loaded.strategy).__name__ == "Mine"
    assert loaded.strategy.PARAMS == {"n": 3}


def test_a_file_without_a_strategy_is_a_config_error(tmp_path):
    path = _write(tmp_path, "empty.py", "X = 1\n")
    with pytest.raises(ConfigError, match="defines no strategy"):
        load_strategy(path)


def test_a_file_with_two_subclasses_is_a_config_error(tmp_path):
    path = _write(
        tmp_path,
        "two.py",
        """
        from rbt.api import TradingAlgorithm

        class A(TradingAlgorithm):
            pass

        class B(TradingAlgorithm):
            pass
    """,
    )
    with pytest.raises(ConfigError, match=r"several TradingAlgorithm subclasses \(A, B\)"):
        load_strategy(path)


def test_a_missing_file_is_a_config_error(tmp_path, run):
    with pytest.raises(ConfigError, match="strategy file not found"):
        load_strategy(tmp_path / "nope.py")
    with pytest.raises(ConfigError, match="strategy file not found"):
        run(str(tmp_path / "nope.py"))


def _user_frames(excinfo, path):
    return [
        (f.filename, f.lineno, f.line)
        for f in traceback.extract_tb(excinfo.tb)
        if f.filename == str(path)
    ]


def test_an_error_in_handle_data_propagates_with_the_users_line(run, tmp_path):
    path = _write(
        tmp_path,
        "broken.py",
        """\
        def initialize(context):
            context.n = 0


        def handle_data(context, data):
            context.n += 1
            if context.n == 3:
                raise ZeroDivisionError("boom on bar three")
    """,
    )
    with pytest.raises(ZeroDivisionError, match="boom on bar three") as excinfo:
        run(str(path))
    assert _user_frames(excinfo, path)[-1] == (
        str(path),
        8,
        'raise ZeroDivisionError("boom on bar three")',
    )


def test_an_error_at_import_propagates_with_the_users_line(run, tmp_path):
    path = _write(
        tmp_path,
        "bad_import.py",
        """\
        PARAMS = {}
        value = {}["missing"]
    """,
    )
    with pytest.raises(KeyError) as excinfo:
        run(path)
    assert _user_frames(excinfo, path)[-1][:2] == (str(path), 2)


def test_an_error_in_initialize_propagates(run, tmp_path):
    path = _write(
        tmp_path,
        "bad_init.py",
        """\
        from rbt.api import symbol

        def initialize(context):
            context.asset = symbol("NOPE")
    """,
    )
    with pytest.raises(LookupError, match="unknown symbol 'NOPE'") as excinfo:
        run(path)
    assert _user_frames(excinfo, path)[-1][:2] == (str(path), 4)


# -- run_algorithm ---------------------------------------------------------------------


def _initialize(context):
    context.asset = symbol("AAA")
    context.i = 0


def _handle_data(context, data):
    if context.i in (0, 5):
        order(context.asset, 100 if context.i == 0 else -60)
    record(price=data.current(context.asset, "price"))
    context.i += 1


class SameAsFunctions(TradingAlgorithm):
    def initialize(self, context):
        _initialize(context)

    def handle_data(self, context, data):
        _handle_data(context, data)


def test_run_algorithm_with_ziplines_signature(run, bars, manager):
    seen = {}

    def analyze(context, perf):
        seen["context"] = context
        seen["perf"] = perf

    perf = run_algorithm(
        pd.Timestamp(SESSIONS[0]),
        pd.Timestamp(SESSIONS[-1]),
        _initialize,
        1_000_000,
        _handle_data,
        analyze=analyze,
        bars=bars,
        manager=manager,
        write=False,
    )
    assert isinstance(perf, pd.DataFrame)
    assert len(perf) == len(SESSIONS)
    assert isinstance(perf.index, pd.DatetimeIndex)
    assert str(perf.index.tz) == "UTC"
    assert [ts.date() for ts in perf.index] == SESSIONS
    for column in ("portfolio_value", "cash", "returns", "price"):
        assert perf[column].dtype == "float64"
    assert seen["perf"] is not None
    pd.testing.assert_frame_equal(seen["perf"], perf)
    assert seen["context"].asset.symbol == "AAA"
    assert seen["context"].i == len(SESSIONS)
    # the same algorithm as a class gives the same numbers
    result = run(SameAsFunctions())
    expected = result.to_pandas()
    pd.testing.assert_frame_equal(perf, expected)


def test_run_algorithm_refuses_what_it_does_not_support(bars, manager):
    kwargs = {"bars": bars, "manager": manager, "write": False}
    start, end = SESSIONS[0], SESSIONS[-1]
    with pytest.raises(ConfigError, match="needs initialize"):
        run_algorithm(start, end, **kwargs)
    with pytest.raises(ConfigError, match="bundle_timestamp"):
        run_algorithm(
            start, end, _initialize, bundle_timestamp=pd.Timestamp("2024-01-01"), **kwargs
        )
    with pytest.raises(ConfigError, match="only daily"):
        run_algorithm(start, end, _initialize, data_frequency="minute", **kwargs)


def test_analyze_of_a_strategy_receives_the_pandas_perf(run):
    class WithAnalyze(TradingAlgorithm):
        def analyze(self, context, perf):
            self.perf = perf

    strategy = WithAnalyze()
    result = run(strategy)
    pd.testing.assert_frame_equal(strategy.perf, result.to_pandas())
