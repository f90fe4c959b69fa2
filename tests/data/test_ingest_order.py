"""The (ts, sid) order of ingested bars: a transpose when dense, lexsort otherwise."""

from __future__ import annotations

import numpy as np
import polars as pl
from hypothesis import given
from hypothesis import strategies as st

from rbt.data.ingest import _time_order


@given(
    times=st.lists(st.sets(st.integers(0, 12), min_size=1), min_size=1, max_size=6),
    dense=st.booleans(),
    sids=st.permutations(range(6)),
)
def test_time_order_is_the_lexsort_of_ts_then_sid(
    times: list[set[int]], dense: bool, sids: list[int]
) -> None:
    if dense:
        times = [times[0]] * len(times)  # every sid at the same times
    sid = np.concatenate([np.full(len(t), s, np.uint32) for s, t in zip(sids, times, strict=False)])
    ts = np.concatenate([np.array(sorted(t), np.int64) * 60 for t in times])
    bars = pl.DataFrame({"sid": sid, "ts": ts})
    assert np.array_equal(_time_order(bars), np.lexsort((sid, ts)))


def test_a_dense_universe_is_ordered_by_a_transpose() -> None:
    sid = np.repeat(np.arange(3, dtype=np.uint32), 4)
    ts = np.tile(np.arange(4, dtype=np.int64), 3)
    order = _time_order(pl.DataFrame({"sid": sid, "ts": ts}))
    assert order.tolist() == [0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11]
