"""``context.portfolio.positions`` is lazy; every dict idiom a strategy uses must see the
views, also through a bound method taken before the first read or a second lazy dict."""

from __future__ import annotations

from rbt.api.portfolio import LazyPositions, Positions, make_view
from rbt.kernel.model import Asset

AAA = Asset(sid=1, symbol="AAA")
BBB = Asset(sid=2, symbol="BBB")
VIEWS = {AAA: make_view((AAA, 3.0, 10.5, 11.0)), BBB: make_view((BBB, -2.0, 5.0, 4.5))}


def lazy() -> LazyPositions:
    positions = LazyPositions(dict.fromkeys(VIEWS))
    positions._build = (iter, VIEWS.items())  # type: ignore[attr-defined]  # (function, args)
    return positions


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
