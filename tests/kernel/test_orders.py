"""The one order state machine: the literal table, its refusals, and the tracker."""

from __future__ import annotations

import itertools
from decimal import Decimal

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rbt.kernel.broker import ClientOrderIds, OrderTracker
from rbt.kernel.errors import InvalidTransitionError
from rbt.kernel.model import (
    MARKET,
    Asset,
    Fill,
    Order,
    OrderStatus,
    OrderStyle,
    OrderType,
    new_fill,
    new_order,
)
from rbt.kernel.orders import TERMINAL, TRANSITIONS, OrderEventKind, next_status

ASSET = Asset(sid=1, symbol="AAA")
FILL_EVENTS = frozenset({OrderEventKind.FILL, OrderEventKind.PARTIAL_FILL})
ALL_PAIRS = list(itertools.product(OrderStatus, OrderEventKind))
FORBIDDEN = [pair for pair in ALL_PAIRS if pair not in TRANSITIONS]


def _order(
    status: OrderStatus = OrderStatus.NEW, amount: int = 10, order_id: str = "t-r-1"
) -> Order:
    return Order(id=order_id, asset=ASSET, amount=Decimal(amount), created=0, status=status)


def _fill(order: Order, amount: Decimal, n: int = 1) -> Fill:
    return Fill(
        id=f"{order.id}-f{n}",
        order_id=order.id,
        asset=ASSET,
        amount=amount,
        price=Decimal("10.00"),
        ts=n,
        commission=Decimal("0.01"),
    )


@pytest.mark.parametrize(("pair", "target"), sorted(TRANSITIONS.items(), key=str), ids=str)
def test_every_transition_in_the_table_is_taken(
    pair: tuple[OrderStatus, OrderEventKind], target: OrderStatus
) -> None:
    status, event = pair
    assert next_status(status, event) is target
    if event not in FILL_EVENTS:
        tracker = OrderTracker()
        tracker.add(_order(status))
        assert tracker.transition("t-r-1", event).status is target
        assert tracker.get("t-r-1").status is target  # type: ignore[union-attr]


@pytest.mark.parametrize("pair", FORBIDDEN, ids=str)
def test_every_pair_outside_the_table_is_refused_with_a_helpful_message(
    pair: tuple[OrderStatus, OrderEventKind],
) -> None:
    status, event = pair
    allowed = sorted(e.value for (s, e) in TRANSITIONS if s is status)
    with pytest.raises(InvalidTransitionError) as info:
        next_status(status, event)
    message = str(info.value)
    assert repr(event.value) in message
    assert repr(status.value) in message
    assert ("allowed: " + (", ".join(allowed) or "none")) in message


def test_the_table_covers_every_state_and_event() -> None:
    assert {s for s, _ in TRANSITIONS} == set(OrderStatus) - {
        OrderStatus.FILLED,
        OrderStatus.REJECTED,
        OrderStatus.DENIED,
    }
    assert {e for _, e in TRANSITIONS} == set(OrderEventKind)
    # every state is reachable from NEW
    reached, frontier = {OrderStatus.NEW}, [OrderStatus.NEW]
    while frontier:
        state = frontier.pop()
        for (s, _), t in TRANSITIONS.items():
            if s is state and t not in reached:
                reached.add(t)
                frontier.append(t)
    assert reached == set(OrderStatus)


def test_terminal_states_accept_only_late_fills() -> None:
    for (status, event), target in TRANSITIONS.items():
        if status in TERMINAL:
            assert event in FILL_EVENTS, (status, event)
            assert target in TERMINAL
    assert {s for s in OrderStatus if not s.is_open} == TERMINAL
    for status in (OrderStatus.FILLED, OrderStatus.REJECTED, OrderStatus.DENIED):
        assert not any(s is status for s, _ in TRANSITIONS)


def test_a_late_fill_after_a_cancel_is_booked() -> None:
    tracker = OrderTracker()
    order = _order(OrderStatus.NEW, amount=10)
    tracker.add(order)
    for kind in (
        OrderEventKind.SUBMIT,
        OrderEventKind.ACCEPT,
        OrderEventKind.CANCEL_REQUEST,
        OrderEventKind.CANCEL,
    ):
        tracker.transition(order.id, kind)
    assert tracker.open_orders() == ()
    late = tracker.apply_fill(_fill(order, Decimal(4)))
    assert (late.status, late.filled) == (OrderStatus.CANCELLED, Decimal(4))
    last = tracker.apply_fill(_fill(order, Decimal(6), 2))
    assert (last.status, last.filled) == (OrderStatus.FILLED, Decimal(10))
    assert last.commission == Decimal("0.02")


def test_tracker_refuses_overfills_wrong_direction_and_zero_fills() -> None:
    tracker = OrderTracker()
    order = _order(OrderStatus.SUBMITTED, amount=-5)
    tracker.add(order)
    with pytest.raises(InvalidTransitionError, match="overfills"):
        tracker.apply_fill(_fill(order, Decimal(-6)))
    with pytest.raises(InvalidTransitionError, match="does not match"):
        tracker.apply_fill(_fill(order, Decimal(1)))
    with pytest.raises(InvalidTransitionError, match="does not match"):
        tracker.apply_fill(_fill(order, Decimal(0)))
    assert tracker.get(order.id) == order  # nothing changed


def test_tracker_refuses_duplicate_ids_and_unknown_orders() -> None:
    tracker = OrderTracker()
    tracker.add(_order())
    with pytest.raises(ValueError, match="duplicate client order id 't-r-1'"):
        tracker.add(_order())
    with pytest.raises(KeyError):
        tracker.transition("nope", OrderEventKind.SUBMIT)


def test_client_order_ids_are_unique_and_deterministic() -> None:
    first = ClientOrderIds("rbt", "run1")
    ids = [first.next() for _ in range(1000)]
    assert len(set(ids)) == len(ids)
    assert ids[:2] == ["rbt-run1-1", "rbt-run1-2"]
    again = ClientOrderIds("rbt", "run1")
    assert [again.next() for _ in range(1000)] == ids
    resumed = ClientOrderIds("rbt", "run1", start=500)  # a restart continues the sequence
    assert resumed.next() == ids[500]


# -- random event sequences through the tracker --------------------------------------
_actions = st.one_of(
    st.sampled_from(sorted(set(OrderEventKind) - FILL_EVENTS, key=lambda k: k.value)).map(
        lambda kind: ("event", kind)
    ),
    st.integers(min_value=-3, max_value=12).map(lambda n: ("fill", n)),
)


@settings(max_examples=500)
@given(
    amount=st.integers(min_value=1, max_value=10),
    sell=st.booleans(),
    actions=st.lists(_actions, max_size=25),
)
def test_random_event_sequences_never_overfill_and_follow_the_table(
    amount: int, sell: bool, actions: list[tuple[str, object]]
) -> None:
    sign = -1 if sell else 1
    tracker = OrderTracker()
    tracker.add(_order(amount=sign * amount))
    for n, (action, arg) in enumerate(actions):
        before = tracker.get("t-r-1")
        assert before is not None
        refused = False
        if action == "event":
            assert isinstance(arg, OrderEventKind)
            if (before.status, arg) in TRANSITIONS:
                after = tracker.transition(before.id, arg)
                assert after.status is TRANSITIONS[(before.status, arg)]
            else:
                refused = True
                with pytest.raises(InvalidTransitionError):
                    tracker.transition(before.id, arg)
        else:
            assert isinstance(arg, int)
            quantity = Decimal(sign * arg)
            total = before.filled + quantity
            kind = OrderEventKind.FILL if total == before.amount else OrderEventKind.PARTIAL_FILL
            legal = (
                arg > 0
                and abs(total) <= abs(before.amount)
                and (before.status, kind) in TRANSITIONS
            )
            if legal:
                after = tracker.apply_fill(_fill(before, quantity, n))
                assert after.filled == total
                if before.status in TERMINAL:  # only a late fill gets through a terminal state
                    assert after.status in {before.status, OrderStatus.FILLED}
            else:
                refused = True
                with pytest.raises(InvalidTransitionError):
                    tracker.apply_fill(_fill(before, quantity, n))
        after = tracker.get("t-r-1")
        assert after is not None
        if refused:
            assert after == before  # a refused event changes nothing
        assert abs(after.filled) <= abs(after.amount)
        assert after.filled == 0 or (after.filled > 0) == (after.amount > 0)
        assert (after.status is OrderStatus.FILLED) == (after.filled == after.amount)
        assert (after in tracker.open_orders()) == after.is_open
        assert tracker.open_amount(ASSET.sid) == (after.open_amount if after.is_open else 0)
        if before.status in TERMINAL:
            assert after.status in TERMINAL


def test_tracker_updates_are_new_objects() -> None:
    tracker = OrderTracker()
    order = _order()
    tracker.add(order)
    updated = tracker.transition(order.id, OrderEventKind.SUBMIT)
    assert order.status is OrderStatus.NEW  # frozen: the old value is untouched
    assert updated == attrs.evolve(order, status=OrderStatus.SUBMITTED)
    assert tracker.status_counts() == {OrderStatus.SUBMITTED: 1}


@pytest.mark.parametrize("kind", [OrderEventKind.FILL, OrderEventKind.PARTIAL_FILL])
def test_tracker_refuses_fill_events_without_a_fill(kind: OrderEventKind) -> None:
    tracker = OrderTracker()
    asset = Asset(sid=1, symbol="X")
    tracker.add(Order(id="t-1", asset=asset, amount=Decimal(5), created=0))
    tracker.transition("t-1", OrderEventKind.SUBMIT)
    with pytest.raises(InvalidTransitionError, match="needs a Fill"):
        tracker.transition("t-1", kind)
    assert tracker.get("t-1").filled == 0  # type: ignore[union-attr]


NON_FILL_EVENTS = [kind for kind in OrderEventKind if kind not in FILL_EVENTS]


@given(
    start=st.sampled_from(list(OrderStatus)),
    kinds=st.lists(st.sampled_from(NON_FILL_EVENTS), min_size=1, max_size=4),
    reason=st.sampled_from(["", "NO_DATA: nothing"]),
)
def test_advance_equals_the_transitions_one_by_one(
    start: OrderStatus, kinds: list[OrderEventKind], reason: str
) -> None:
    """Several state changes in one step: the same last state (or the same refusal, and
    nothing changed) as taking them one at a time, with the reason on the last."""
    one_by_one, at_once = OrderTracker(), OrderTracker()
    for tracker in (one_by_one, at_once):
        tracker.add(_order(start))
    refused = ""
    try:
        for k, kind in enumerate(kinds):
            last = k == len(kinds) - 1
            expected = one_by_one.transition("t-r-1", kind, reason if last else "")
    except InvalidTransitionError as error:
        refused = str(error)
    if refused:
        with pytest.raises(InvalidTransitionError) as raised:
            at_once.advance("t-r-1", kinds, reason)
        assert str(raised.value) == refused
        assert at_once.get("t-r-1") == _order(start)
        return
    got = at_once.advance("t-r-1", kinds, reason)
    assert got == expected
    assert at_once.open_orders() == one_by_one.open_orders()
    assert at_once.status_counts() == one_by_one.status_counts()


@pytest.mark.parametrize("kind", [OrderEventKind.FILL, OrderEventKind.PARTIAL_FILL])
def test_advance_refuses_fill_events(kind: OrderEventKind) -> None:
    tracker = OrderTracker()
    tracker.add(_order())
    with pytest.raises(InvalidTransitionError, match="needs a Fill"):
        tracker.advance("t-r-1", [OrderEventKind.SUBMIT, kind])
    assert tracker.get("t-r-1") == _order()


@given(
    st.decimals(allow_nan=False, allow_infinity=False, places=4),
    st.decimals(min_value=0, max_value=10**6, places=3),
    st.integers(-(2**62), 2**62),
    st.sampled_from([MARKET, OrderStyle(type=OrderType.LIMIT, limit_price=Decimal("9.5"))]),
)
def test_the_slot_built_order_and_fill_equal_the_attrs_built_ones(
    amount: Decimal, price: Decimal, ts: int, style: OrderStyle
) -> None:
    """new_order / new_fill (the hot paths' constructors) build what the classes build:
    equal, same fields, same type, still frozen."""
    built = new_order("t-r-9", ASSET, amount, ts, style)
    expected = Order(id="t-r-9", asset=ASSET, amount=amount, created=ts, style=style)
    assert built == expected
    assert attrs.asdict(built, recurse=False) == attrs.asdict(expected, recurse=False)
    fill = new_fill("t-r-9-f1", "t-r-9", ASSET, amount, price, ts, Decimal("0.01"))
    assert fill == Fill(
        id="t-r-9-f1",
        order_id="t-r-9",
        asset=ASSET,
        amount=amount,
        price=price,
        ts=ts,
        commission=Decimal("0.01"),
    )
    assert type(built) is Order
    assert type(fill) is Fill
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        fill.amount = Decimal(1)  # type: ignore[misc]


def test_advance_reads_an_iterator_of_changes_once() -> None:
    """A row of changes given as an iterator is walked as a list is (and the row's
    remembered end state is the machine's, for later callers too)."""
    kinds = [OrderEventKind.CANCEL_REQUEST, OrderEventKind.EXPIRE]
    by_iterator, by_list = OrderTracker(), OrderTracker()
    for tracker in (by_iterator, by_list):
        tracker.add(_order(OrderStatus.SUBMITTED))
    got = by_iterator.advance("t-r-1", iter(kinds), "gone")  # type: ignore[arg-type]
    assert got.status is OrderStatus.EXPIRED
    assert by_list.advance("t-r-1", kinds, "gone") == got
