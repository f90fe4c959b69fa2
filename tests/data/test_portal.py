"""Point-in-time properties of :class:`rbt.data.portal.BarPortal` (design.md §2.1 *portal*).

Every cell of the generated bar arrays encodes the row it belongs to
(``value // 1000 - 1 == row``), so any value the portal returns can be traced
back to its bar: the central property is that no value from a row after the
cursor is ever returned, by ``current``, ``history`` (numpy, pandas, polars) or
``exact_price``.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
from decimal import Decimal
from typing import NamedTuple

import numpy as np
import pandas as pd
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rbt.data.bars import OHLCV, BarArrays, bars_from_floats
from rbt.data.portal import BarPortal
from rbt.kernel.errors import DataError
from rbt.kernel.model import Asset
from rbt.plugins.calendars import get_calendar

CAL = get_calendar("XNYS")
ALL_SESSIONS = list(CAL.sessions(dt.date(2023, 1, 3), dt.date(2024, 6, 28)))
FIELD_ID = {"open": 1, "high": 2, "low": 3, "close": 4}
SCALE = 4


def _value(field: str, row: int, col: int, frac: int) -> float:
    """A value that names its row: ``(row + 1) * 1000 + ...`` (volume: whole units)."""
    if field == "volume":
        return float((row + 1) * 1000 + col)
    return (row + 1) * 1000 + col * 100 + FIELD_ID[field] * 10 + frac / 10**SCALE


def _row_of(value: float) -> int:
    return int(value // 1000) - 1


def make_bars(n_rows: int, n_assets: int, holes: np.ndarray, fracs: np.ndarray, first: int = 0):
    assets = [Asset(sid=10 + i, symbol=f"S{i}") for i in range(n_assets)]
    sessions = ALL_SESSIONS[first : first + n_rows]
    fields = {}
    for name in OHLCV:
        arr = np.empty((n_rows, n_assets))
        for r in range(n_rows):
            for c in range(n_assets):
                arr[r, c] = np.nan if holes[r, c] else _value(name, r, c, int(fracs[r, c]))
        fields[name] = arr
    return (
        assets,
        sessions,
        bars_from_floats(assets, sessions, fields, calendar="XNYS", price_scale=SCALE),
    )


class Scenario(NamedTuple):
    assets: list[Asset]
    sessions: list[dt.date]
    bars: BarArrays
    portal: BarPortal
    cursor: int
    ts: int
    bar_count: int
    holes: np.ndarray


@st.composite
def scenarios(draw):
    n_rows = draw(st.integers(1, 20))
    n_assets = draw(st.integers(1, 4))
    holes = np.array(
        draw(
            st.lists(
                st.lists(st.booleans(), min_size=n_assets, max_size=n_assets),
                min_size=n_rows,
                max_size=n_rows,
            )
        ),
        dtype=bool,
    )
    fracs = np.array(
        draw(
            st.lists(
                st.lists(st.integers(0, 9999), min_size=n_assets, max_size=n_assets),
                min_size=n_rows,
                max_size=n_rows,
            )
        ),
        dtype=np.int64,
    )
    first = draw(st.integers(0, len(ALL_SESSIONS) - n_rows))
    assets, sessions, bars = make_bars(n_rows, n_assets, holes, fracs, first)
    portal = BarPortal(bars, CAL)
    # a cursor: before the first close, at a close, or anywhere up to the next close
    cursor = draw(st.integers(-1, n_rows - 1))
    closes = [CAL.session_times(s).close for s in sessions]
    if cursor < 0:
        ts = closes[0] - draw(st.integers(1, 10**14))
    else:
        upper = closes[cursor + 1] - 1 if cursor + 1 < n_rows else closes[cursor] + 10**14
        ts = draw(st.integers(closes[cursor], upper))
    bar_count = draw(st.integers(1, n_rows + 5))
    return Scenario(assets, sessions, bars, portal, cursor, ts, bar_count, holes)


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


def _expected(bars, holes, field: str, row: int, col: int) -> float:
    """Reference value of ``field`` at ``row`` (price: last close at or before ``row``)."""
    if row < 0:
        return math.nan
    if field == "price":
        for r in range(row, -1, -1):
            if not holes[r, col]:
                return float(bars.floats["close"][r, col])
        return math.nan
    return float(bars.floats[field][row, col])


def _assert_no_future(values, cursor: int) -> None:
    arr = np.asarray(values, dtype=np.float64).ravel()
    finite = arr[~np.isnan(arr)]
    if len(finite):
        assert max(_row_of(v) for v in finite) <= cursor, "a value from after the cursor leaked"


FIELDS = ("open", "high", "low", "close", "volume", "price")
SETTINGS = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@SETTINGS
@given(scenarios())
def test_cursor_is_the_last_bar_whose_close_has_passed(s):
    portal = s.portal
    cursor = s.cursor
    ts = s.ts
    portal.advance(ts)
    assert portal.row == cursor
    assert portal.now == ts


@SETTINGS
@given(scenarios())
def test_current_never_returns_a_future_row_and_price_forward_fills(s):
    assets = s.assets
    bars = s.bars
    portal = s.portal
    cursor = s.cursor
    ts = s.ts
    holes = s.holes
    portal.advance(ts)
    for col, asset in enumerate(assets):
        for field in FIELDS:
            got = portal.current(asset, field)
            assert isinstance(got, float)
            assert _same(got, _expected(bars, holes, field, cursor, col)), (field, col)
            _assert_no_future([got], cursor)
    frame = portal.current(assets, ["close", "price", "volume"])
    assert list(frame.index) == assets
    for col, asset in enumerate(assets):
        for field in ("close", "price", "volume"):
            assert _same(frame.loc[asset, field], _expected(bars, holes, field, cursor, col))
    series = portal.current(assets, "price")
    assert [
        _same(series[a], _expected(bars, holes, "price", cursor, c)) for c, a in enumerate(assets)
    ] == [True] * len(assets)


def _window_reference(bars, holes, field, cursor, bar_count, col):
    return [
        _expected(bars, holes, field, r, col) if r >= 0 else math.nan
        for r in range(cursor - bar_count + 1, cursor + 1)
    ]


@SETTINGS
@given(scenarios(), st.sampled_from(FIELDS))
def test_history_numpy_windows_end_at_cursor_with_nan_padding(s, field):
    assets = s.assets
    bars = s.bars
    portal = s.portal
    cursor = s.cursor
    ts = s.ts
    bar_count = s.bar_count
    holes = s.holes
    portal.advance(ts)
    window = portal.history(assets, field, bar_count, "1d", frame="numpy")
    assert window.shape == (bar_count, len(assets))
    _assert_no_future(window, cursor)
    for col in range(len(assets)):
        ref = _window_reference(bars, holes, field, cursor, bar_count, col)
        assert all(_same(a, b) for a, b in zip(window[:, col].tolist(), ref, strict=True))
    # rows before the first bar are NaN padding, whatever the field
    missing = bar_count - (cursor + 1)
    if missing > 0:
        assert np.isnan(window[:missing]).all()
    single = portal.history(assets[0], field, bar_count, "1d", frame="numpy")
    assert single.shape == (bar_count,)
    assert all(_same(a, b) for a, b in zip(single.tolist(), window[:, 0].tolist(), strict=True))
    several = portal.history(assets, ["close", field], bar_count, "1d", frame="numpy")
    assert set(several) == {"close", field}
    _assert_no_future(several["close"], cursor)


@SETTINGS
@given(scenarios())
def test_history_pandas_and_polars_end_at_the_cursor_session(s):
    assets = s.assets
    sessions = s.sessions
    portal = s.portal
    cursor = s.cursor
    ts = s.ts
    bar_count = s.bar_count
    portal.advance(ts)
    n_real = min(bar_count, cursor + 1)
    labels = [pd.Timestamp(d) for d in sessions[cursor - n_real + 1 : cursor + 1]] if n_real else []

    series = portal.history(assets[0], "close", bar_count, "1d")
    assert isinstance(series, pd.Series)
    assert len(series) == bar_count
    assert list(series.index[bar_count - n_real :]) == labels
    assert series.index[: bar_count - n_real].isna().all()  # NaT before the first bar
    _assert_no_future(series.to_numpy(), cursor)

    frame = portal.history(assets, "price", bar_count, "1d")
    assert list(frame.columns) == assets
    assert frame.shape == (bar_count, len(assets))
    _assert_no_future(frame.to_numpy(), cursor)
    if n_real:
        assert frame.index.max() == pd.Timestamp(sessions[cursor])

    long = portal.history(assets, ["open", "close", "volume"], bar_count, "1d")
    assert long.shape == (bar_count * len(assets), 3)
    _assert_no_future(long.to_numpy(), cursor)
    dates = long.index.get_level_values(0)
    if n_real:
        assert dates.max() == pd.Timestamp(sessions[cursor])

    one_asset = portal.history(assets[0], ["high", "low"], bar_count, "1d")
    assert list(one_asset.columns) == ["high", "low"]
    _assert_no_future(one_asset.to_numpy(), cursor)

    polars = portal.history(assets, ["close", "price"], bar_count, "1d", frame="polars")
    assert isinstance(polars, pl.DataFrame)
    expected_columns = [f"{a.symbol}.{f}" for f in ("close", "price") for a in assets]
    assert polars.columns == ["ts", *expected_columns]
    assert polars.height == bar_count
    _assert_no_future(polars.drop("ts").to_numpy(), cursor)
    stamps = polars["ts"].drop_nulls().to_list()
    visible = sessions[cursor - n_real + 1 : cursor + 1]
    assert stamps == [dt.datetime(d.year, d.month, d.day) for d in visible]
    assert polars["ts"].null_count() == bar_count - n_real


@SETTINGS
@given(scenarios())
def test_can_trade_is_stale_and_exact_price(s):
    assets = s.assets
    bars = s.bars
    portal = s.portal
    cursor = s.cursor
    ts = s.ts
    holes = s.holes
    portal.advance(ts)
    universe = [*assets[::-1], assets[0]]  # any order, an asset twice: each one's own answer
    assert portal.can_trade_each(universe).tolist() == [portal.can_trade(a) for a in universe]
    assert portal.is_stale_each(universe).tolist() == [portal.is_stale(a) for a in universe]
    for col, asset in enumerate(assets):
        traded_before = cursor >= 0 and not holes[: cursor + 1, col].all()
        has_bar_now = cursor >= 0 and not holes[cursor, col]
        assert portal.can_trade(asset) is traded_before
        assert portal.is_stale(asset) is (traded_before and not has_bar_now)
        exact = portal.exact_price(asset, "close")
        if not traded_before:
            assert exact is None
            assert portal.exact_price(asset, "price") is None
            continue
        last = max(r for r in range(cursor + 1) if not holes[r, col])
        mantissa = int(bars.mantissas["close"][last, col])
        assert exact == Decimal(mantissa).scaleb(-SCALE)
        assert exact == Decimal(repr(portal.current(asset, "price")))
        assert _row_of(float(exact)) == last <= cursor
        assert portal.exact_price(asset, "price") == exact
        # other fields are exact only with a bar at the cursor (no forward fill)
        exact_open = portal.exact_price(asset, "open")
        if has_bar_now:
            assert exact_open == Decimal(int(bars.mantissas["open"][cursor, col])).scaleb(-SCALE)
            volume = Decimal(int(bars.mantissas["volume"][cursor, col]))
            assert portal.exact_price(asset, "volume") == volume
        else:
            assert exact_open is None


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios(), st.lists(st.integers(0, 10**15), min_size=1, max_size=6))
def test_walking_forward_keeps_every_window_in_the_past(s, steps):
    """Several advances on one portal (cached derived arrays) still never look ahead."""
    assets = s.assets
    sessions = s.sessions
    portal = s.portal
    ts = s.ts
    bar_count = s.bar_count
    closes = [CAL.session_times(d).close for d in sessions]
    now = ts
    for step in [0, *steps]:
        now += step
        portal.advance(now)
        row = int(np.searchsorted(closes, now, side="right")) - 1
        assert portal.row == row
        for field in FIELDS:
            _assert_no_future(portal.history(assets, field, bar_count, "1d", frame="numpy"), row)
            _assert_no_future([portal.current(a, field) for a in assets], row)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    scenarios(),
    st.lists(st.integers(0, 10**14), min_size=1, max_size=40),
    st.none() | st.tuples(st.integers(0, 39), st.integers(1, 10**14)),
)
def test_walk_moves_the_cursor_as_advance_does_at_every_time(s, steps, back):
    """``walk(times)`` yields each time with the cursor where ``advance(ts)`` puts it
    (one search for many times, a step per time for few); a time before the cursor
    raises as advance() does, after the times before it were walked."""
    if back is not None:  # one step backwards somewhere
        steps[back[0] % len(steps)] = -back[1]
    times = list(itertools.accumulate(steps, initial=s.ts))[1:]
    walked, stepped = BarPortal(s.bars, CAL), BarPortal(s.bars, CAL)
    walked.advance(s.ts)
    stepped.advance(s.ts)
    seen = []
    try:
        for ts in walked.walk(times):
            seen.append((ts, walked.now, walked.row))
    except DataError:
        error = True
    else:
        error = False
    expected = []
    try:
        for ts in times:
            stepped.advance(ts)
            expected.append((ts, stepped.now, stepped.row))
    except DataError:
        assert error, "advance() raised where walk() did not"
    else:
        assert not error, "walk() raised where advance() did not"
    assert seen == expected


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios(), st.integers(-(10**14), 10**14), st.integers(1, 10**13), st.integers(1, 60))
def test_walk_over_a_range_moves_the_cursor_as_advance_does(s, offset, step, count):
    """A minute session's bar ends come as a range: the same cursor at every time, and
    a range starting before the cursor raises as advance() does."""
    times = range(s.ts + offset, s.ts + offset + count * step, step)
    walked, stepped = BarPortal(s.bars, CAL), BarPortal(s.bars, CAL)
    walked.advance(s.ts)
    stepped.advance(s.ts)
    if offset < 0:
        with pytest.raises(DataError, match="backwards"):
            list(walked.walk(times))
        return
    seen = [(ts, walked.now, walked.row) for ts in walked.walk(times)]
    expected = []
    for ts in times:
        stepped.advance(ts)
        expected.append((ts, stepped.now, stepped.row))
    assert seen == expected


def test_moving_backwards_is_an_error():
    _, sessions, bars = make_bars(3, 1, np.zeros((3, 1), bool), np.zeros((3, 1), np.int64))
    portal = BarPortal(bars, CAL)
    close = CAL.session_times(sessions[1]).close
    portal.advance(close)
    with pytest.raises(DataError, match="backwards"):
        portal.advance(close - 1)


def test_bar_is_invisible_until_its_session_close():
    """A daily bar is stamped with its session and visible from the close, not the open."""
    assets, sessions, bars = make_bars(2, 1, np.zeros((2, 1), bool), np.zeros((2, 1), np.int64))
    portal = BarPortal(bars, CAL)
    times = CAL.session_times(sessions[1])
    portal.advance(times.open)
    assert portal.row == 0
    portal.advance(times.close - 1)
    assert portal.row == 0
    assert _row_of(portal.current(assets[0], "close")) == 0
    portal.advance(times.close)
    assert portal.row == 1
    assert _row_of(portal.current(assets[0], "close")) == 1


def test_can_trade_respects_listing_dates():
    a = Asset(sid=10, symbol="S0")
    _, sessions, bars = make_bars(6, 1, np.zeros((6, 1), bool), np.zeros((6, 1), np.int64))
    portal = BarPortal(bars, CAL)
    portal.advance(CAL.session_times(sessions[3]).close)
    listed_later = Asset(sid=10, symbol="S0", start_date=sessions[4])
    delisted = Asset(sid=10, symbol="S0", end_date=sessions[2])
    auto_closed = Asset(sid=10, symbol="S0", end_date=sessions[5], auto_close_date=sessions[2])
    assert portal.can_trade(a)
    assert not portal.can_trade(listed_later)
    assert not portal.can_trade(delisted)
    assert not portal.can_trade(auto_closed)
    one_day = Asset(sid=10, symbol="S0", start_date=sessions[3], end_date=sessions[3])
    assert portal.can_trade(one_day)
    universe = [a, listed_later, delisted, auto_closed, one_day]
    assert portal.can_trade_each(universe).tolist() == [True, False, False, False, True]


_DAY = st.one_of(st.none(), st.integers(0, 5))


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(_DAY, _DAY, _DAY), min_size=1, max_size=6),
    st.integers(0, 5),
    st.data(),
)
def test_can_trade_each_is_can_trade_of_each_under_listing_dates(dates, cursor, data):
    """Any listing dates, any session: the one-step answer is each asset's own, also for a
    universe that changes its objects (equal by sid), is mutated or grows between calls."""
    _, sessions, bars = make_bars(6, 1, np.zeros((6, 1), bool), np.zeros((6, 1), np.int64))
    portal = BarPortal(bars, CAL)
    portal.advance(CAL.session_times(sessions[cursor]).close)

    def day(k):
        return None if k is None else sessions[k]

    universe = [
        Asset(sid=10, symbol="S0", start_date=day(a), end_date=day(b), auto_close_date=day(c))
        for a, b, c in dates
    ]
    assert portal.can_trade_each(universe).tolist() == [portal.can_trade(a) for a in universe]
    k = data.draw(st.integers(0, len(universe) - 1))
    universe[k] = Asset(sid=10, symbol="S0", end_date=sessions[0])  # delisted: never tradable
    assert portal.can_trade_each(universe).tolist() == [portal.can_trade(a) for a in universe]
    assert not portal.can_trade_each(universe)[k] or cursor == 0
    universe.append(Asset(sid=10, symbol="S0", start_date=sessions[5]))  # grown: listed later
    assert portal.can_trade_each(universe).tolist() == [portal.can_trade(a) for a in universe]
    assert not portal.can_trade_each(universe)[-1] or cursor == 5
    fresh = [Asset(sid=10, symbol="S0") for _ in universe]  # equal by sid, never delisted
    assert portal.can_trade_each(fresh).all()


def test_history_arguments_are_checked():
    assets, sessions, bars = make_bars(3, 2, np.zeros((3, 2), bool), np.zeros((3, 2), np.int64))
    portal = BarPortal(bars, CAL)
    portal.advance(CAL.session_times(sessions[2]).close)
    with pytest.raises(ValueError, match="bar_count"):
        portal.history(assets, "close", 0, "1d")
    with pytest.raises(ValueError, match="frame"):
        portal.history(assets, "close", 2, "1d", frame="arrow")
    with pytest.raises(DataError, match="not supported"):
        portal.history(assets, "close", 2, "1m")
    with pytest.raises(DataError, match="unknown bar field"):
        portal.current(assets[0], "vwap")
    with pytest.raises(DataError, match="not in this bundle"):
        portal.current(Asset(sid=99, symbol="ZZZ"), "close")


def test_numpy_history_is_a_read_only_view_for_contiguous_assets():
    assets, sessions, bars = make_bars(5, 3, np.zeros((5, 3), bool), np.zeros((5, 3), np.int64))
    portal = BarPortal(bars, CAL)
    portal.advance(CAL.session_times(sessions[4]).close)
    universe = assets[:2]
    for field in ("close", "price"):
        first = portal.history(universe, field, 3, "1d", frame="numpy")
        again = portal.history(universe, field, 3, "1d", frame="numpy")  # the cached path
        for window in (first, again):
            assert not window.flags.writeable
            with pytest.raises(ValueError, match="read-only"):
                window[0, 0] = 0.0
        if field == "close":
            assert np.shares_memory(first, bars.floats["close"])
    assert bars.floats["close"].flags.writeable  # the bundle's own arrays stay as they were


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 40),
    st.sampled_from([1, 3, 127, 128, 300]),
    st.floats(0.0, 1.0),
    st.integers(0, 2**32 - 1),
)
def test_last_bar_rows_is_the_latest_row_with_a_close_in_narrow_and_wide_arrays(
    rows, cols, gaps, seed
):
    # narrow arrays take numpy's running maximum, wide ones a row-by-row loop: both must
    # give, per cell, the last row at or before it whose close is there (-1 before any)
    from rbt.data.portal import last_bar_rows

    rng = np.random.default_rng(seed)
    close = rng.random((rows, cols))
    close[rng.random((rows, cols)) < gaps] = np.nan
    got = last_bar_rows(close)
    for col in range(cols):
        last = -1
        for row in range(rows):
            if not math.isnan(close[row, col]):
                last = row
            assert got[row, col] == last


@settings(max_examples=40, deadline=None)
@given(
    st.integers(1, 12),
    st.integers(1, 4),
    st.sampled_from([0.0, 0.0, 0.3]),  # no gap anywhere (the closes served as they are) twice
    st.integers(0, 2**32 - 1),
)
def test_forward_filled_prices_with_and_without_gaps(rows, cols, gaps, seed):
    from rbt.data.portal import last_bar_rows

    rng = np.random.default_rng(seed)
    holes = rng.random((rows, cols)) < gaps
    fracs = rng.integers(0, 10**SCALE, (rows, cols))
    assets, _, bars = make_bars(rows, cols, holes, fracs)
    portal = BarPortal(bars, CAL)
    close = bars.floats["close"]
    last = last_bar_rows(close)  # the general path's rows
    closes = [CAL.session_times(day).close for day in bars.sessions.tolist()]
    for t, ts in enumerate(closes):
        portal.advance(ts)  # a daily bar is visible from its session's close
        assert portal.row == t
        filled = [close[last[t, c], c] if last[t, c] >= 0 else np.nan for c in range(cols)]
        np.testing.assert_array_equal(portal.price_row(), filled)
        np.testing.assert_array_equal(portal.current(assets, "price"), filled)
        window = portal.history(assets, "price", t + 1, "1d", frame="numpy")
        np.testing.assert_array_equal(window[-1], filled)
        with pytest.raises(ValueError, match="read-only"):
            window[-1, 0] = 0.0
        exact = portal.exact_prices(assets, "close")
        want = [
            None if last[t, c] < 0 else bars.exact("close", int(last[t, c]), c) for c in range(cols)
        ]
        assert exact == want
    assert bars.floats["close"].flags.writeable  # the bundle's own arrays stay as they were
    np.testing.assert_array_equal(portal.close_mantissa_source()[0], last)
