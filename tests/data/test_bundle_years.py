"""Bars split into year files: each year's rows, in (ts, sid) order, whatever the input order."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
from hypothesis import given
from hypothesis import strategies as st

from rbt.data.bundles import _by_year

_EPOCH = dt.date(1970, 1, 1)


def _bars(days: list[int], sids: int, seed: int) -> pl.DataFrame:
    """Every sid at every day (days since 1970), rows shuffled."""
    session = np.repeat(np.array(sorted(set(days)), dtype=np.int32), sids)
    sid = np.tile(np.arange(sids, dtype=np.uint32), len(set(days)))
    rows = np.random.default_rng(seed).permutation(len(session))
    return pl.DataFrame(
        {
            "ts": session[rows].astype(np.int64) * 86_400_000_000_000 + 75_600_000_000_000,
            "session": pl.Series(session[rows]).cast(pl.Date),
            "sid": sid[rows],
            **{f: np.arange(len(rows), dtype=np.int64) for f in ("open", "high", "low", "close")},
            "volume": rows.astype(np.int64),
        }
    )


@given(
    days=st.lists(st.integers(-800, 3000), min_size=1, max_size=40),
    sids=st.integers(1, 4),
    seed=st.integers(0, 2**16),
)
def test_each_year_holds_its_rows_in_time_then_sid_order(
    days: list[int], sids: int, seed: int
) -> None:
    bars = _bars(days, sids, seed)
    order = np.lexsort((bars["sid"].to_numpy(), bars["ts"].to_numpy()))
    parts = _by_year(bars, order)
    expected = bars.sort("ts", "sid")
    years = sorted({(_EPOCH + dt.timedelta(days=d)).year for d in days})
    assert [year for year, _ in parts] == years  # years without bars get no file
    for year, build in parts:
        frame = build()
        assert frame.equals(expected.filter(pl.col("session").dt.year() == year))


def test_without_an_order_a_sorted_frame_is_sliced_by_year() -> None:
    bars = _bars([0, 1, 400, 401, 1200], 2, seed=3).sort("ts", "sid")
    parts = _by_year(bars)
    assert [year for year, _ in parts] == [1970, 1971, 1973]
    assert [build().height for _, build in parts] == [4, 4, 2]
