"""Frames built from their blocks (``rbt.data.frames``) are the frames pandas' constructors
build: equal, same dtypes and block layout, their own copy of the data, and the
constructors themselves wherever the fast path does not apply (copy-on-write, odd input)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rbt.data.frames import ColumnFrames, object_index
from rbt.kernel.model import Asset

KINDS = {
    "float": np.dtype(np.float64),
    "int": np.dtype(np.int64),
    "bool": np.dtype(np.bool_),
    "object": np.dtype(object),
}


def _column(kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    if kind == "float":
        values = rng.normal(size=n)
        values[rng.random(n) < 0.2] = np.nan
        return values
    if kind == "int":
        return rng.integers(-5, 5, size=n)
    if kind == "bool":
        return rng.random(n) < 0.5
    return np.array([f"c{i}" if i % 3 else None for i in range(n)], dtype=object)


def _layout(frame: pd.DataFrame) -> list[tuple[str, list[int]]]:
    return sorted((str(b.dtype), list(b.mgr_locs.as_array)) for b in frame._mgr.blocks)


@settings(max_examples=80, deadline=None)
@given(
    kinds=st.lists(st.sampled_from(sorted(KINDS)), min_size=1, max_size=6),
    rows=st.integers(0, 7),
    seed=st.integers(0, 2**16),
)
def test_a_block_built_frame_is_the_constructors_frame(kinds, rows, seed) -> None:
    rng = np.random.default_rng(seed)
    names = [f"{kind}{i}" for i, kind in enumerate(kinds)]
    source = [_column(kind, 3 * rows + 2, rng) for kind in kinds]
    arrays = [values[rows : 2 * rows] for values in source]  # a session's slices
    index = object_index([Asset(sid=10 + i, symbol=f"S{i}") for i in range(rows)])
    built = ColumnFrames(names, [KINDS[k] for k in kinds]).build(arrays, index)
    expected = pd.DataFrame(dict(zip(names, arrays, strict=True)), index=index)
    pd.testing.assert_frame_equal(built, expected)
    assert _layout(built) == _layout(expected)
    for block in built._mgr.blocks:  # the frame owns its data, as the constructor's does
        assert not any(np.shares_memory(block.values, values) for values in source)


def test_copy_on_write_and_unexpected_input_go_to_the_constructor() -> None:
    frames = ColumnFrames(["a", "b"], [np.dtype(np.float64), np.dtype(np.bool_)])
    index = object_index(["x", "y"])
    a, b = np.array([1.0, 2.0]), np.array([True, False])
    with pd.option_context("mode.copy_on_write", True):
        got = frames.build([a, b], index)
        pd.testing.assert_frame_equal(got, pd.DataFrame({"a": a, "b": b}, index=index))
    as_int = np.array([1, 2])  # not the dtype the frames were made for: the constructor's
    pd.testing.assert_frame_equal(
        frames.build([as_int, b], index), pd.DataFrame({"a": as_int, "b": b}, index=index)
    )
    short = np.array([1.0, 2.0, 3.0])  # not the index's length: the constructor's error
    with pytest.raises(ValueError) as built:
        frames.build([short, b], index)
    with pytest.raises(ValueError) as constructed:
        pd.DataFrame({"a": short, "b": b}, index=index)
    assert str(built.value) == str(constructed.value)


@given(st.lists(st.integers(0, 50), max_size=8))
def test_an_object_index_is_the_constructors(sids) -> None:
    assets = [Asset(sid=s, symbol=f"S{s}") for s in sids]
    got = object_index(assets)
    pd.testing.assert_index_equal(got, pd.Index(assets, dtype=object))
    assert list(got) == assets
