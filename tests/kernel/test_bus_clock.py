"""The event bus's total order and the simulated clock's event stream."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rbt.kernel import events as ev
from rbt.kernel.bus import EventBus
from rbt.kernel.clock import (
    NS_PER_MINUTE,
    ClockEvent,
    ClockEventKind,
    Frequency,
    SimClock,
    TradingCalendar,
    to_ns,
)
from rbt.kernel.errors import EventOrderError
from rbt.kernel.model import Asset, Fill, Order
from rbt.plugins.calendars import AlwaysOpenCalendar, get_calendar

DAY = dt.date(2024, 3, 1)
ASSET = Asset(sid=1, symbol="AAA")
ORDER = Order(id="o-1", asset=ASSET, amount=Decimal(1), created=0)
FILL = Fill(id="f-1", order_id="o-1", asset=ASSET, amount=Decimal(1), price=Decimal(1), ts=0)


def _event(kind: type[ev.Event], ts: int) -> ev.Event:
    if kind is ev.OrderFilled:
        return ev.OrderFilled(ts, FILL, ORDER)
    if kind is ev.OrderUpdated:
        return ev.OrderUpdated(ts, ORDER, ORDER.status)
    return kind(ts, DAY)  # type: ignore[call-arg]


EVENT_TYPES = (
    ev.SessionStarted,
    ev.BeforeTradingStart,
    ev.BarClosed,
    ev.OrderUpdated,
    ev.OrderFilled,
    ev.StrategyTurn,
    ev.SessionClosed,
)


def test_handlers_run_in_subscription_order_for_their_exact_type_only() -> None:
    bus = EventBus()
    calls: list[str] = []
    for name in ("first", "second", "third"):
        bus.subscribe(ev.BarClosed, lambda e, name=name: calls.append(name))
    bus.subscribe(ev.SessionClosed, lambda e: calls.append("other type"))
    bus.subscribe(ev.Event, lambda e: calls.append("base type"))
    bus.publish(ev.BarClosed(10, DAY))
    assert calls == ["first", "second", "third"]


def test_the_documented_rank_order_within_one_timestamp() -> None:
    ranks = [t.rank for t in EVENT_TYPES]
    assert ranks == sorted(ranks)
    assert ev.BarClosed.rank < ev.OrderFilled.rank <= ev.StrategyTurn.rank < ev.SessionClosed.rank
    assert ev.OrderFilled.rank == ev.OrderUpdated.rank == ev.StrategyTurn.rank


def test_out_of_order_events_are_refused() -> None:
    bus = EventBus()
    bus.publish(ev.BarClosed(10, DAY))
    bus.publish(ev.OrderFilled(10, FILL, ORDER))
    bus.publish(ev.OrderFilled(10, FILL, ORDER))  # equal keys are fine
    expected = r"BarClosed at ts=10 rank=2 published after ts=10 rank=3"
    with pytest.raises(EventOrderError, match=expected):
        bus.publish(ev.BarClosed(10, DAY))
    with pytest.raises(EventOrderError, match="SessionStarted at ts=9"):
        bus.publish(ev.SessionStarted(9, DAY))
    bus.publish(ev.SessionStarted(11, DAY))  # a later timestamp resets the rank


@settings(max_examples=500)
@given(st.lists(st.tuples(st.sampled_from(EVENT_TYPES), st.integers(0, 5)), max_size=30))
def test_the_bus_accepts_exactly_the_non_decreasing_sequences(
    items: list[tuple[type[ev.Event], int]],
) -> None:
    bus = EventBus()
    delivered: list[ev.Event] = []
    for event_type in EVENT_TYPES:
        bus.subscribe(event_type, delivered.append)
    last = (-(2**63), 0)
    for event_type, ts in items:
        event = _event(event_type, ts)
        key = (ts, event_type.rank)
        if key < last:
            with pytest.raises(EventOrderError):
                bus.publish(event)
        else:
            bus.publish(event)
            last = key
    keys = [(e.ts, e.rank) for e in delivered]
    assert keys == sorted(keys)


# -- SimClock -----------------------------------------------------------------------


def _check_stream(clock: SimClock, calendar: TradingCalendar) -> list[ClockEvent]:
    stream = list(clock)
    keys = [(e.ts, int(e.kind)) for e in stream]
    assert keys == sorted(keys), "clock events out of (ts, kind) order"
    # replaying the stream onto a bus, mapped to kernel events, is accepted
    bus = EventBus()
    mapping = {
        ClockEventKind.SESSION_START: ev.SessionStarted,
        ClockEventKind.BEFORE_TRADING_START: ev.BeforeTradingStart,
        ClockEventKind.BAR: ev.BarClosed,
        ClockEventKind.SESSION_END: ev.SessionClosed,
    }
    for event in stream:
        bus.publish(mapping[event.kind](event.ts, event.session))  # type: ignore[call-arg]
    # per session: start, before-trading-start, bars within (open, close], end at the close
    sessions = list(clock.sessions)
    assert [e.session for e in stream if e.kind is ClockEventKind.SESSION_START] == sessions
    for session in sessions:
        times = calendar.session_times(session)
        own = [e for e in stream if e.session == session]
        assert [e.kind for e in own[:2]] == [
            ClockEventKind.SESSION_START,
            ClockEventKind.BEFORE_TRADING_START,
        ]
        assert own[-1].kind is ClockEventKind.SESSION_END
        assert own[-1].ts == times.close
        bars = [e.ts for e in own if e.kind is ClockEventKind.BAR]
        assert all(times.open < ts <= times.close for ts in bars)
        if clock.frequency is Frequency.DAILY:
            assert bars == [times.close]
        else:
            assert len(bars) == (times.close - times.open) // NS_PER_MINUTE
    return stream


def test_sim_clock_over_the_nyse_calendar_daily() -> None:
    xnys = get_calendar("XNYS")
    clock = SimClock(xnys, dt.date(2024, 6, 28), dt.date(2024, 7, 9))
    stream = _check_stream(clock, xnys)
    assert dt.date(2024, 7, 4) not in clock.sessions  # Independence Day
    assert len(clock.sessions) == 7
    first_bar = next(e for e in stream if e.kind is ClockEventKind.BAR)
    # a daily bar is stamped with the session close: 16:00 New York = 20:00 UTC in summer
    assert first_bar.ts == to_ns(dt.datetime(2024, 6, 28, 20, tzinfo=dt.UTC))


def test_sim_clock_over_the_nyse_calendar_minutes_with_an_early_close() -> None:
    xnys = get_calendar("XNYS")
    clock = SimClock(xnys, dt.date(2024, 7, 2), dt.date(2024, 7, 5), Frequency.MINUTE)
    stream = _check_stream(clock, xnys)
    bars_per_session = {
        s: sum(1 for e in stream if e.session == s and e.kind is ClockEventKind.BAR)
        for s in clock.sessions
    }
    assert bars_per_session == {
        dt.date(2024, 7, 2): 390,
        dt.date(2024, 7, 3): 210,
        dt.date(2024, 7, 5): 390,
    }


@pytest.mark.parametrize("frequency", list(Frequency))
def test_sim_clock_over_the_always_open_calendar(frequency: Frequency) -> None:
    calendar = AlwaysOpenCalendar()
    clock = SimClock(calendar, dt.date(2024, 2, 28), dt.date(2024, 3, 1), frequency)
    stream = _check_stream(clock, calendar)
    assert clock.sessions == [dt.date(2024, 2, 28), dt.date(2024, 2, 29), dt.date(2024, 3, 1)]
    bars = [e for e in stream if e.kind is ClockEventKind.BAR]
    assert len(bars) == (3 if frequency is Frequency.DAILY else 3 * 1440)


def test_sim_clock_refuses_empty_and_reversed_ranges() -> None:
    xnys = get_calendar("XNYS")
    with pytest.raises(ValueError, match="is after end"):
        SimClock(xnys, dt.date(2024, 1, 5), dt.date(2024, 1, 4))
    with pytest.raises(ValueError, match="has no sessions"):
        SimClock(xnys, dt.date(2024, 7, 6), dt.date(2024, 7, 7))  # a weekend


def test_to_ns_and_frequency_parsing() -> None:
    assert to_ns(dt.datetime(1970, 1, 1, 0, 0, 1, 5, tzinfo=dt.UTC)) == 1_000_005_000
    with pytest.raises(ValueError, match="naive datetime"):
        to_ns(dt.datetime(2024, 1, 1))
    assert Frequency.parse(" Daily ") is Frequency.DAILY
    with pytest.raises(ValueError, match="supported: 1d"):
        Frequency.parse("5m")
