"""A loaded bundle's bars are its floats; its exact mantissas are rebuilt from them, exactly."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from rbt.data.bars import DERIVABLE, OHLCV, BarArrays, DerivedMantissas, derive_mantissas
from rbt.data.bundles import load_bundle
from rbt.data.ingest import ingest
from rbt.data.source import MAX_SCALE


@settings(max_examples=300, deadline=None)
@given(
    mantissas=st.lists(st.integers(-(DERIVABLE - 1), DERIVABLE - 1), min_size=1, max_size=20),
    scale=st.integers(0, MAX_SCALE),
)
def test_mantissas_below_the_bound_come_back_from_their_floats(mantissas, scale):
    m = np.array(mantissas, dtype=np.int64)[:, None]
    scales = np.array([scale], dtype=np.int64)
    floats = m / np.power(10.0, scales)[None, :]  # what load_bundle keeps
    assert np.array_equal(derive_mantissas(floats, scales), m)
    derived = DerivedMantissas({"close": floats}, scales, scales)
    for row, value in enumerate(mantissas):
        assert derived.value("close", row, 0) == value  # the scalar path, no array built
    assert np.array_equal(derived["close"], m)


@settings(max_examples=150, deadline=None)
@given(
    data=st.lists(
        st.tuples(*[st.integers(-(10**9), 10**9) for _ in OHLCV], st.booleans()),
        min_size=1,
        max_size=6,
    ),
    scales=st.tuples(st.integers(0, 8), st.integers(0, 8)),
    built=st.sets(st.sampled_from(OHLCV)),
)
def test_bar_values_are_each_fields_value(data, scales, built):
    """A fill's five mantissas at once equal value() of each field, with some fields'
    arrays built and rows without a bar (NaN floats: 0)."""
    price_scale, volume_scale = scales
    floats = {}
    for k, field in enumerate(OHLCV):
        scale = volume_scale if field == "volume" else price_scale
        column = [np.nan if empty else row[k] / 10.0**scale for *row, empty in data]
        floats[field] = np.array(column, dtype=np.float64)[:, None]
    derived = DerivedMantissas(floats, np.array([price_scale]), np.array([volume_scale]))
    for field in built:
        derived[field]  # builds and caches the field's array
    for row in range(len(data)):
        want = tuple(derived.value(field, row, 0) for field in OHLCV)
        assert derived.bar_values(row, 0) == want
        if data[row][-1]:
            assert want == (0, 0, 0, 0, 0)
        for field, mantissa in zip(OHLCV, want, strict=True):  # a fill's price, exactly
            scale = volume_scale if field == "volume" else price_scale
            got = derived.exact(field, row, 0)
            assert got.as_tuple() == Decimal(mantissa).scaleb(-scale).as_tuple()


def _assert_exact_bars(bars: BarArrays) -> None:
    """exact_bar (a fill's whole bar at once) is exact() of each field: values and exponents."""
    rows, cols = bars.shape
    for row in range(rows):
        for col in range(cols):
            got = bars.exact_bar(row, col)
            want = tuple(bars.exact(field, row, col) for field in OHLCV)
            assert [d.as_tuple() for d in got] == [d.as_tuple() for d in want]


def test_loaded_bundle_gives_exact_values_and_builds_arrays_on_demand(home, manager, csv_dir):
    rows = [
        "2024-01-02,10.25,11,9.5,10.75,100",
        "2024-01-03,10.75,12.125,10,12,0",
        "2024-01-04,12,12.5,11.875,12.25,250",
    ]
    directory = csv_dir(
        {
            "A": ["date,open,high,low,close,volume", *rows],
            "B": ["date,open,high,low,close,volume", rows[1]],  # sparse: NaN / 0 elsewhere
        }
    )
    ingest(home, "csv", "d", {"path": str(directory)}, manager=manager)
    bars = load_bundle(home, "d")
    mantissas = bars.mantissas
    assert isinstance(mantissas, DerivedMantissas)
    _assert_exact_bars(bars)  # every field from its floats
    assert bars.exact("high", 1, 0) == Decimal("12.125")
    assert bars.exact("close", 0, 1) == 0  # no bar: mantissa 0, as before
    assert mantissas["high"][:, 0].tolist() == [11000, 12125, 12500]
    assert mantissas["volume"][:, 1].tolist() == [0, 0, 0]
    assert list(mantissas) == ["open", "high", "low", "close", "volume"]
    _assert_exact_bars(bars)  # high and volume from their built arrays now
    picked = bars.select([bars.assets[1]])
    assert picked.exact("open", 1, 0) == Decimal("10.75")
    assert picked.mantissas["open"].tolist() == [[0], [10750], [0]]


def test_a_field_with_huge_mantissas_is_stored_not_derived(home, manager, csv_dir):
    big = "123456789012345678"  # 18 digits: beyond what a float64 holds exactly
    rows = [f"2024-01-02,1,1,1,1,{big}", "2024-01-03,2,2,2,2,7", "2024-01-04,3,3,3,3,9"]
    directory = csv_dir(
        {
            "A": ["date,open,high,low,close,volume", *rows],
            "B": ["date,open,high,low,close,volume", rows[2]],
        }
    )
    ingest(home, "csv", "h", {"path": str(directory)}, manager=manager)
    bars = load_bundle(home, "h")
    assert bars.exact("volume", 0, 0) == Decimal(big)
    assert bars.mantissas["volume"][:, 0].tolist() == [int(big), 7, 9]
    assert bars.mantissas["volume"][:, 1].tolist() == [0, 0, 9]
    assert bars.exact("close", 2, 1) == Decimal(3)
    _assert_exact_bars(bars)  # volume stored, prices derived
