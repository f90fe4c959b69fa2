"""``context.portfolio.positions`` is lazy; every dict idiom a strategy uses must see the
views, also through a bound method taken before the first read or a second lazy dict."""

from __future__ import annotations

import copy
import pickle
from collections import ChainMap

from rbt.api.portfolio import LazyPositions, Positions, make_view
from rbt.kernel.model import Asset

AAA = Asset(sid=1, symbol="AAA")
BBB = Asset(sid=2, symbol="BBB")
VIEWS = {AAA: make_view((AAA, 3.0, 10.5, 11.0)), BBB: make_view((BBB, -2.0, 5.0, 4.5))}


STAND_IN = ["a mirror row"]  # what the engine's lazy positions hold until a view is read


def _views(positions: LazyPositions, views: dict) -> object:
    # the positions still hold what stands in for the views (dict's own methods see it)
    assert list(dict.values(positions)) == [STAND_IN] * len(views)
    return iter(views.items())


def lazy() -> LazyPositions:
    positions = LazyPositions(dict.fromkeys(VIEWS, STAND_IN))
    # (function, its arguments): called with the positions, which hold what stands in
    positions._build = (_views, VIEWS)  # type: ignore[attr-defined]
    return positions


def test_every_read_of_a_value_sees_the_views_never_what_stands_in() -> None:
    reads = [
        lambda p: dict(p),
        lambda p: {**p},
        lambda p: dict(p.items()),
        lambda p: dict(zip(p, p.values(), strict=True)),
        lambda p: {a: p[a] for a in list(p.keys())},
        lambda p: {a: p.get(a) for a in list(p.keys())},
        lambda p: dict(copy.copy(p)),
        lambda p: dict(copy.deepcopy(p)),
        lambda p: dict(pickle.loads(pickle.dumps(p))),
        lambda p: dict(sorted(p.items(), key=lambda kv: kv[0].sid)),
        lambda p: {} | p,
        lambda p: dict(ChainMap(p)),
    ]
    for read in reads:
        assert read(lazy()) == VIEWS
    assert AAA in lazy()
    assert len(lazy()) == 2
    assert set(lazy().keys()) == set(VIEWS)


def test_a_bound_method_taken_before_the_first_read_keeps_working() -> None:
    p = lazy()
    get = p.get  # bound while lazy, called again after the change
    assert [get(a).amount for a in (AAA, BBB)] == [3.0, -2.0]
    p = lazy()
    assert max(p, key=lambda a, get=p.get: get(a).amount) == AAA
    p = lazy()
    items = p.items
    assert list(items()) == list(VIEWS.items())
    assert list(items()) == list(VIEWS.items())
    assert type(p) is Positions


def test_two_lazy_positions_compare_by_their_views() -> None:
    assert lazy() == lazy()
    assert lazy() != {}  # != is a wrapped method of its own
    assert lazy() == VIEWS
    assert VIEWS == lazy()  # noqa: SIM300 - plain dict on the left: the subclass answers
    assert (lazy() | lazy()) == VIEWS
    assert ({} | lazy()) == VIEWS
