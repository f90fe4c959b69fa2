"""``data.current``, ``data.can_trade`` and ``data.is_stale`` over any iterable of assets:
a generator, a set or a pandas Index answers as the same assets in a list do (each asset's
own answer)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from rbt.api.bar_data import BarData
from rbt.data.bars import bars_from_floats
from rbt.data.portal import BarPortal
from rbt.kernel.model import Asset
from rbt.plugins.calendars import get_calendar

CAL = get_calendar("XNYS")
SESSIONS = list(CAL.sessions(dt.date(2024, 3, 4), dt.date(2024, 3, 8)))
A, B, C = (Asset(sid=i, symbol=s) for i, s in enumerate("ABC", start=1))


def _data() -> BarData:
    close = np.full((len(SESSIONS), 3), 10.0)
    close[:2, 1] = np.nan  # B trades from the third session
    close[2, 2] = np.nan  # C has no bar on the third session: stale there
    fields = dict.fromkeys(("open", "high", "low", "close", "volume"), close)
    portal = BarPortal(bars_from_floats([A, B, C], SESSIONS, fields, calendar="XNYS"), CAL)
    portal.advance(CAL.session_times(SESSIONS[2]).close)
    return BarData(portal)


@pytest.mark.parametrize(
    "make",
    [lambda a: (x for x in a), lambda a: a, lambda a: tuple(a), lambda a: pd.Index(a)],
    ids=["generator", "list", "tuple", "pandas index"],
)
@pytest.mark.parametrize("method", ["can_trade", "is_stale"])
def test_any_iterable_answers_as_its_list(make, method: str) -> None:
    data = _data()
    answer = getattr(data, method)
    got = answer(make([C, A, B]))
    assert got.index.tolist() == [C, A, B]
    assert got.dtype == bool
    assert got.tolist() == [answer(a) for a in (C, A, B)]
    assert got.tolist() == ([True, True, True] if method == "can_trade" else [True, False, False])


@pytest.mark.parametrize(
    "make",
    [lambda a: (x for x in a), lambda a: tuple(a), lambda a: pd.Index(a)],
    ids=["generator", "tuple", "pandas index"],
)
def test_current_of_any_iterable_answers_as_its_list(make) -> None:
    data = _data()
    got = data.current(make([C, A, B]), "close")
    assert got.index.tolist() == [C, A, B]
    np.testing.assert_array_equal(got, [data.current(a, "close") for a in (C, A, B)])


def test_a_set_answers_per_asset() -> None:
    data = _data()
    got = data.can_trade({A, B, C})
    assert got.to_dict() == {A: True, B: True, C: True}
    assert data.is_stale({A, C}).to_dict() == {A: False, C: True}


def test_renaming_one_results_index_leaves_the_next_results_alone() -> None:
    """The universe's index data is cached, but every result has its own index object."""
    data = _data()
    universe = [A, B, C]
    first = data.current(universe, "close")
    first.index.name = "mine"
    for later in (data.current(universe, "close"), data.can_trade(universe)):
        assert later.index.name is None
        assert list(later.index) == universe
