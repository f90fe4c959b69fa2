"""Orders kept as rows (``OrderTracker.add_row``): whatever is read of the tracker, and
whenever, equals what a tracker holding the orders from the start gives, fills included."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from functools import partial

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from rbt.kernel.broker import ORDER_COLUMNS, OrderTracker
from rbt.kernel.errors import InvalidTransitionError
from rbt.kernel.model import MARKET, Asset, Fill, OrderStyle, new_fill, new_order
from rbt.kernel.orders import OrderEventKind

ASSETS = (Asset(sid=1, symbol="AAA"), Asset(sid=2, symbol="BBB", lot_size=Decimal("0.01")))
_ACCEPTED = (OrderEventKind.SUBMIT, OrderEventKind.ACCEPT)


def _eager_add(tracker: OrderTracker, oid: str, asset: Asset, amount: Decimal, ts: int) -> None:
    """What the session does for an order placed as an object and accepted at once."""
    tracker.add(new_order(oid, asset, amount, ts, MARKET))
    tracker.advance(oid, _ACCEPTED)


def _columns(tracker: OrderTracker) -> dict[str, list[object]]:
    """Each order's fields, read from the built orders."""
    return {name: [getattr(o, name) for o in tracker] for name in ORDER_COLUMNS}


def _outcome(call: Callable[[], object]) -> object:
    """The call's result as text (Decimal exponents count), or its error's type and text."""
    try:
        return repr(call())
    except (InvalidTransitionError, KeyError, ValueError) as error:
        return (type(error), str(error))


# one step: ("place", asset index, amount), ("fill", which of the last orders, the
# fraction of it in quarters: 4 = all of it, 8 = twice it, -4 = the wrong way), ("read",
# what), ("cancel", order number), ("object", asset index, amount): an order built as one
_PLACE = st.tuples(st.just("place"), st.integers(0, 1), st.integers(-50, 50).filter(bool))
_FILL = st.tuples(st.just("fill"), st.integers(0, 2), st.sampled_from([1, 2, 4, 4, 4, 8, -4]))
_STEPS = st.one_of(
    _PLACE,
    _FILL,
    _PLACE,
    _FILL,
    st.tuples(
        st.just("read"), st.sampled_from(["get", "iter", "open", "amount", "counts", "columns"])
    ),
    st.tuples(st.just("cancel"), st.integers(0, 12)),
    st.tuples(st.just("object"), st.integers(0, 1), st.integers(1, 9)),
)


@settings(max_examples=300, deadline=None)
@given(steps=st.lists(_STEPS, max_size=40), batch=st.integers(1, 4))
# a second whole fill of a row not yet built; a batch whose first fill builds the rows
@example(steps=[("place", 0, 5), ("fill", 0, 4), ("fill", 0, 4)], batch=1)
@example(
    steps=[("place", 0, 1), ("fill", 0, 4), ("object", 0, 1), ("place", 0, 1), ("fill", 0, 4)],
    batch=2,
)
def test_rows_read_as_the_orders_kept_from_the_start(
    steps: list[tuple[object, ...]], batch: int
) -> None:
    """Rows placed, filled (whole, in parts, too much, the wrong way), cancelled and read in
    any order: every read, every refusal and the final orders equal the eager tracker's.
    Fills reach both through ``apply_fills`` in batches of ``batch``."""
    rows, eager = OrderTracker(), OrderTracker()
    placed: list[tuple[str, Asset, Decimal]] = []
    pending: list[Fill] = []
    filled_so_far: dict[str, int] = {}

    def flush() -> None:
        assert _outcome(partial(rows.apply_fills, pending)) == _outcome(
            partial(eager.apply_fills, pending)
        )
        pending.clear()

    for n, step in enumerate(steps):
        kind = step[0]
        if kind == "place":
            asset = ASSETS[int(step[1])]  # type: ignore[call-overload]
            amount = Decimal(int(step[2])) * asset.lot_size  # type: ignore[call-overload]
            oid = f"t-r-{len(placed) + 1}"
            placed.append((oid, asset, amount))
            rows.add_row(oid, asset, amount, n)
            _eager_add(eager, oid, asset, amount, n)
        elif kind == "object":
            asset = ASSETS[int(step[1])]  # type: ignore[call-overload]
            oid = f"t-r-{len(placed) + 1}"
            placed.append((oid, asset, Decimal(int(step[2]))))  # type: ignore[call-overload]
            style = OrderStyle(type=MARKET.type)  # not the shared MARKET: never a row
            for tracker in (rows, eager):
                tracker.add(new_order(oid, asset, Decimal(int(step[2])), n, style))  # type: ignore[call-overload]
                tracker.advance(oid, _ACCEPTED)
        elif kind == "fill" and placed:
            back = int(step[1]) % len(placed)  # type: ignore[call-overload]
            oid, asset, amount = placed[-1 - back]
            quarters = int(step[2])  # type: ignore[call-overload]
            size = (amount * quarters / 4).quantize(asset.lot_size)
            if size == 0:
                continue
            k = filled_so_far[oid] = filled_so_far.get(oid, 0) + 1
            fee = Decimal("0.01") * k
            pending.append(new_fill(f"{oid}-f{k}", oid, asset, size, Decimal("9.99"), n, fee))
            if len(pending) >= batch:
                flush()
        elif kind == "cancel" and placed:
            flush()
            oid = placed[int(step[1]) % len(placed)][0]  # type: ignore[call-overload]
            for event in (OrderEventKind.CANCEL_REQUEST, OrderEventKind.CANCEL):
                assert _outcome(partial(rows.transition, oid, event)) == _outcome(
                    partial(eager.transition, oid, event)
                )
        elif kind == "read":
            flush()
            assert len(rows) == len(eager)
            what = step[1]
            if what == "get" and placed:
                oid = placed[-1][0]
                assert repr(rows.get(oid)) == repr(eager.get(oid))
            elif what == "iter":
                assert repr(list(rows)) == repr(list(eager))
            elif what == "open":
                assert repr(rows.open_orders()) == repr(eager.open_orders())
            elif what == "amount":
                assert repr(rows.open_amount(1)) == repr(eager.open_amount(1))
            elif what == "columns":
                held = dict(rows._rows)
                assert repr(rows.columns()) == repr(_columns(eager))
                assert rows._rows == held  # read without building a row
            else:
                assert rows.status_counts() == eager.status_counts()
    flush()
    assert len(rows) == len(eager)
    assert repr(rows.columns()) == repr(_columns(eager))
    assert repr(list(rows)) == repr(list(eager))
    assert rows == eager
    assert [o.id for o in rows] == [oid for oid, _, _ in placed]
    assert rows.open_orders() == eager.open_orders()


def test_a_row_is_counted_and_known_without_being_built() -> None:
    tracker = OrderTracker()
    tracker.add_row("t-r-1", ASSETS[0], Decimal(5), 7)
    assert len(tracker) == 1
    assert "t-r-1" in tracker
    assert "t-r-2" not in tracker
    with pytest.raises(ValueError, match="duplicate client order id 't-r-1'"):
        tracker.add_row("t-r-1", ASSETS[0], Decimal(5), 7)
    with pytest.raises(ValueError, match="duplicate client order id 't-r-1'"):
        tracker.add(new_order("t-r-1", ASSETS[0], Decimal(5), 7, MARKET))
    order = tracker.get("t-r-1")
    assert order is not None
    assert (order.status.value, order.amount, order.created) == ("accepted", 5, 7)
