"""pandas history from the portal's cached time index and columns equals a frame built
afresh from the same window, bar after bar (daily and minute bars, the universe mutated in
place between calls)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rbt.data.bars import OHLCV, BarArrays, bars_from_floats
from rbt.data.frames import window_frame
from rbt.data.portal import BarPortal
from rbt.kernel.clock import Frequency
from rbt.kernel.model import Asset
from rbt.plugins.calendars import get_calendar

CAL = get_calendar("XNYS")
SESSIONS = list(CAL.sessions(dt.date(2024, 1, 2), dt.date(2024, 2, 29)))
ASSETS = [Asset(sid=1 + i, symbol=f"S{i}") for i in range(3)]


def _daily() -> BarArrays:
    n = len(SESSIONS)
    close = 10 + np.arange(n * 3, dtype=float).reshape(n, 3) / 4
    fields = {name: close for name in OHLCV if name != "volume"}
    return bars_from_floats(ASSETS, SESSIONS, {**fields, "volume": np.full((n, 3), 100.0)})


def _minute(daily: BarArrays) -> BarArrays:
    """The same values stamped on minute times (one bar per minute from the first open)."""
    opened = CAL.session_times(SESSIONS[0]).open
    ts = opened + 60_000_000_000 * (1 + np.arange(len(SESSIONS), dtype=np.int64))
    return BarArrays(
        assets=daily.assets,
        ts=ts,
        sessions=np.full(len(SESSIONS), np.datetime64(SESSIONS[0], "D")),
        floats=daily.floats,
        mantissas=daily.mantissas,
        price_scales=daily.price_scales,
        volume_scales=daily.volume_scales,
        frequency=Frequency.MINUTE,
        calendar=daily.calendar,
        actions=daily.actions,
    )


def _expected(portal: BarPortal, assets: list[Asset], bar_count: int, minute: bool):
    window = portal.history(assets, "close", bar_count, "1m" if minute else "1d", frame="numpy")
    index = pd.DatetimeIndex(portal._index(bar_count))
    if minute:
        index = index.tz_localize("UTC")
    return pd.DataFrame(np.array(window), index=index, columns=list(assets))


@settings(max_examples=30, deadline=None)
@given(
    minute=st.booleans(),
    steps=st.lists(st.tuples(st.integers(1, 3), st.integers(1, 12), st.booleans()), max_size=12),
)
def test_cached_pandas_history_equals_a_fresh_frame(minute, steps) -> None:
    daily = _daily()
    bars = _minute(daily) if minute else daily
    portal = BarPortal(bars, CAL)
    times = bars.ts if minute else [CAL.session_times(d).close for d in SESSIONS]
    universe = list(ASSETS[:2])
    row = -1
    for advance, bar_count, mutate in steps:
        row = min(row + advance, len(SESSIONS) - 1)
        portal.advance(int(times[row]))
        if mutate:  # the same list object, other assets: the cached columns must not stick
            universe[:] = ASSETS[1:] if universe[0] == ASSETS[0] else ASSETS[:2]
        got = portal.history(universe, "close", bar_count, "1m" if minute else "1d")
        pd.testing.assert_frame_equal(got, _expected(portal, universe, bar_count, minute))
        assert list(got.columns) == universe


def test_a_backtest_portal_indexes_its_times_once() -> None:
    portal = BarPortal(_daily(), CAL)
    for row in range(5, 9):
        portal.advance(CAL.session_times(SESSIONS[row]).close)
        frame = portal.history(ASSETS, "close", 3, "1d")
        assert list(frame.index) == [pd.Timestamp(d) for d in SESSIONS[row - 2 : row + 1]]
    assert portal._pd_index is not None  # built on the second call, sliced after
    assert portal._pd_index[0] is portal.bars.sessions


@settings(max_examples=60, deadline=None)
@given(
    rows=st.integers(0, 6),
    cols=st.integers(1, 5),
    take=st.sampled_from(["slice", "fancy", "read-only"]),
)
def test_the_block_built_frame_equals_the_constructors(rows, cols, take) -> None:
    """window_frame (one block over the window) gives what pd.DataFrame gives: equal frames,
    one float block viewing the same memory, except that a read-only window is copied; a
    window the axes do not fit raises as the constructor does."""
    data = np.arange(7.0 * 6).reshape(7, 6)
    if take == "fancy":
        window = data[:rows][:, np.arange(cols)[::-1]]
    else:
        window = data[:rows, :cols]
        if take == "read-only":
            window.flags.writeable = False
    index = pd.DatetimeIndex(np.array(SESSIONS[:rows], dtype="datetime64[ns]"))
    columns = pd.Index([Asset(sid=90 + i, symbol=f"X{i}") for i in range(cols)])
    got = window_frame(window, index, columns)
    want = pd.DataFrame(window, index=index, columns=columns)
    pd.testing.assert_frame_equal(got, want)
    assert got._mgr.nblocks == want._mgr.nblocks == 1
    if take == "read-only":  # a view of the bars: the frame gets its own copy to write to
        assert not np.shares_memory(got.to_numpy(), window)
    else:
        assert np.shares_memory(got.to_numpy(), window) == np.shares_memory(want.to_numpy(), window)
    misfit = columns[:-1] if cols > 1 else columns.append(columns)
    with pytest.raises(ValueError) as built:
        window_frame(window, index, misfit)
    with pytest.raises(ValueError) as constructed:
        pd.DataFrame(window, index=index, columns=misfit)
    assert str(built.value) == str(constructed.value)


@pytest.mark.parametrize("fancy", [False, True])
def test_a_history_frame_under_copy_on_write_is_the_constructors_own_copy(fancy) -> None:
    """With pandas' copy-on-write mode on (pandas 3's only mode) the constructor copies a
    window: the history frame is the strategy's to write to, and writing leaves the bars."""
    portal = BarPortal(_daily(), CAL)
    portal.advance(CAL.session_times(SESSIONS[5]).close)
    universe = [ASSETS[2], ASSETS[0]] if fancy else ASSETS[:2]
    closes = portal.bars.floats["close"].copy()
    with pd.option_context("mode.copy_on_write", True):
        for _ in range(2):  # the general path, then the cached universe's fast path
            frame = portal.history(universe, "close", 3, "1d")
            window = portal.history(universe, "close", 3, "1d", frame="numpy")
            want = pd.DataFrame(window, index=frame.index, columns=frame.columns)
            pd.testing.assert_frame_equal(frame, want)
            assert not np.shares_memory(frame.to_numpy(), portal.bars.floats["close"])
            frame.iloc[0, 0] = -1.0  # the strategy's own frame
            assert frame.iloc[0, 0] == -1.0
    assert np.array_equal(portal.bars.floats["close"], closes)


@pytest.mark.parametrize("universe", ["adjacent", "fancy", "one asset"])
def test_history_frames_are_the_strategys_own_and_numpy_windows_read_only(universe) -> None:
    """Without copy-on-write (pandas 2's default) too, a pandas history is the strategy's to
    write to, as in Zipline (``fillna(inplace=True)``, ``iloc`` assignment), and writing
    leaves the bars; a numpy window refuses writes on every path (padded, fancy, cached)."""
    portal = BarPortal(_daily(), CAL)
    portal.advance(CAL.session_times(SESSIONS[5]).close)
    assets = {"adjacent": ASSETS[:2], "fancy": [ASSETS[2], ASSETS[0]], "one asset": ASSETS[1]}
    chosen = assets[universe]
    closes = portal.bars.floats["close"].copy()
    with pd.option_context("mode.copy_on_write", False):
        for bar_count in (10, 3, 3):  # padded; then the general path and the cached one
            frame = portal.history(chosen, "close", bar_count, "1d")
            frame.iloc[-1] = -1.0
            frame.fillna(0.0, inplace=True)
            assert (frame.iloc[-1] == -1.0).all()
            window = portal.history(chosen, "close", bar_count, "1d", frame="numpy")
            assert not window.flags.writeable
            with pytest.raises(ValueError, match="read-only"):
                window[-1] = 0.0
    assert np.array_equal(portal.bars.floats["close"], closes)
