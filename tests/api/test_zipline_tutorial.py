"""Zipline's own tutorial algorithm, with only its import lines changed, runs here.

The code below is the dual moving average from Zipline's beginner tutorial
(keyword arguments, ``context.i`` counter, ``'price'`` field, ``record`` with
floats, ``analyze(context, perf)`` over the pandas frame), written the way a
Zipline user has it. Only ``zipline.api`` became ``rbt.api`` and ``AAPL`` a
demo symbol.
"""

from __future__ import annotations

import pandas as pd
import pytest

from rbt.api import order_target, record, run_algorithm, symbol
from rbt.data.home import RbtHome
from rbt.data.ingest import ingest

SEEN: dict[str, object] = {}


def initialize(context):  # type: ignore[no-untyped-def]
    context.i = 0
    context.asset = symbol("AAA")


def handle_data(context, data):  # type: ignore[no-untyped-def]
    # Skip first 300 days to get full windows
    context.i += 1
    if context.i < 300:
        return

    # Compute averages
    # data.history() has to be called with the same params
    # from above and returns a pandas dataframe.
    short_mavg = data.history(context.asset, "price", bar_count=100, frequency="1d").mean()
    long_mavg = data.history(context.asset, "price", bar_count=300, frequency="1d").mean()

    # Trading logic
    if short_mavg > long_mavg:
        # order_target orders as many shares as needed to
        # achieve the desired number of shares.
        order_target(context.asset, 100)
    elif short_mavg < long_mavg:
        order_target(context.asset, 0)

    # Save values for later inspection
    record(AAA=data.current(context.asset, "price"), short_mavg=short_mavg, long_mavg=long_mavg)


def analyze(context, perf):  # type: ignore[no-untyped-def]
    SEEN["perf"] = perf
    SEEN["final"] = perf.portfolio_value.iloc[-1]


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory: pytest.TempPathFactory) -> RbtHome:
    home = RbtHome(tmp_path_factory.mktemp("tutorial"))
    ingest(home, "demo", "demo", {"start": "2015-01-02", "end": "2018-12-31", "symbols": 3})
    return home


def test_the_zipline_tutorial_runs_with_only_imports_changed(demo_home: RbtHome) -> None:
    perf = run_algorithm(
        start=pd.Timestamp("2015-01-02", tz="utc"),
        end=pd.Timestamp("2018-12-31", tz="utc"),
        initialize=initialize,
        capital_base=100_000,
        handle_data=handle_data,
        analyze=analyze,
        bundle="demo",
        home=demo_home,
    )
    assert isinstance(perf, pd.DataFrame)
    assert {"portfolio_value", "returns", "AAA", "short_mavg", "long_mavg"} <= set(perf.columns)
    assert perf["short_mavg"].iloc[:299].isna().all()  # nothing recorded before day 300
    assert perf["short_mavg"].iloc[299:].notna().all()
    assert SEEN["final"] == perf.portfolio_value.iloc[-1]
    assert perf["transactions"].iloc[-1] > 0  # it traded
