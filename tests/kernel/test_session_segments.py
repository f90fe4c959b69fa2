"""A session walks a clock's segments exactly as it walks the clock's events one by one."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rbt.data.bars import BarArrays, bars_from_floats
from rbt.data.portal import BarPortal
from rbt.finance.commission import PerShare
from rbt.finance.slippage import FixedBasisPointsSlippage
from rbt.kernel.broker import ClientOrderIds
from rbt.kernel.clock import ClockEvent, Frequency, SimClock
from rbt.kernel.errors import EventOrderError
from rbt.kernel.events import (
    BarClosed,
    BeforeTradingStart,
    Event,
    OrderFilled,
    SessionClosed,
    SessionStarted,
    StrategyTurn,
)
from rbt.kernel.ledger import Ledger
from rbt.kernel.model import MARKET, Asset
from rbt.kernel.session import Session
from rbt.plugins.calendars import get_calendar
from rbt.plugins.sim_broker import SimBroker

CAL = get_calendar("XNYS")
SESSIONS = list(CAL.sessions(dt.date(2024, 3, 4), dt.date(2024, 3, 12)))
A = Asset(sid=1, symbol="AAA")
B = Asset(sid=2, symbol="BBB")
EVENT_TYPES = (
    SessionStarted, BeforeTradingStart, BarClosed, StrategyTurn, OrderFilled, SessionClosed,
)  # fmt: skip


def _bars(n: int):
    rng = np.random.default_rng(n)
    close = np.round(rng.uniform(50, 60, (n, 2)) * 4) / 4
    return bars_from_floats(
        [A, B],
        SESSIONS[:n],
        {
            "open": close - 0.25,
            "high": close + 1,
            "low": close - 1,
            "close": close,
            "volume": np.full((n, 2), 1e6),
        },
    )


def _minute_bars(sessions: int, keep: float, seed: int) -> BarArrays:
    """Minute bars of A and B over the first ``sessions`` sessions, each minute kept with
    probability ``keep`` (a missing minute: the cursor stays on the bar before it)."""
    rng = np.random.default_rng(seed)
    times = [CAL.session_times(d) for d in SESSIONS[:sessions]]
    minute = 60_000_000_000
    ends = np.concatenate([np.arange(t.open + minute, t.close + 1, minute) for t in times])
    kept = ends[rng.random(len(ends)) < keep]
    session_of = np.searchsorted([t.close for t in times], kept, side="left")
    close = np.round(rng.uniform(50, 60, (len(kept), 2)) * 4) / 4
    floats = {
        "open": close - 0.25,
        "high": close + 1,
        "low": close - 1,
        "close": close,
        "volume": np.full((len(kept), 2), 1e6),
    }
    return BarArrays(
        assets=(A, B),
        ts=kept.astype(np.int64),
        sessions=np.array(SESSIONS[:sessions], dtype="datetime64[D]")[session_of],
        floats=floats,
        mantissas={
            k: np.rint(v * (1 if k == "volume" else 10**4)).astype(np.int64)
            for k, v in floats.items()
        },
        price_scales=np.full(2, 4, dtype=np.int64),
        volume_scales=np.zeros(2, dtype=np.int64),
        frequency=Frequency.MINUTE,
        calendar="XNYS",
    )


def _run(
    n: int,
    orders: dict[int, list[tuple[Asset, int]]],
    *,
    segments: bool,
    bars: BarArrays | None = None,
) -> list[tuple]:
    """Every event a subscriber sees (type, ts, what it carries) and the books at the end."""
    bars = _bars(n) if bars is None else bars
    portal = BarPortal(bars, CAL)
    broker = SimBroker(portal, commission=PerShare(), slippage=FixedBasisPointsSlippage())
    ledger = Ledger(Decimal(100_000))
    session = Session(
        portal=portal, broker=broker, ledger=ledger, order_ids=ClientOrderIds("t", "seg")
    )
    seen: list[tuple] = []
    turns = iter(range(10**6))

    def record(event: Event) -> None:
        carried = getattr(event, "session", None) or getattr(event, "fill", None)
        seen.append((type(event).__name__, event.ts, carried, portal.row))

    def turn(event: StrategyTurn) -> None:
        for asset, amount in orders.get(next(turns), []):
            session.place_order(asset, Decimal(amount), MARKET)

    for kind in EVENT_TYPES:
        session.bus.subscribe(kind, record)
    session.bus.subscribe(StrategyTurn, turn)
    clock = SimClock(CAL, SESSIONS[0], SESSIONS[n - 1], bars.frequency)
    session.run(clock if segments else list(clock))  # a list has no segments()
    books = (ledger.cash, tuple(ledger.iter_holdings()), len(session.fills))
    return [*seen, books]


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(1, len(SESSIONS)),
    orders=st.dictionaries(
        st.integers(0, len(SESSIONS) - 1),
        st.lists(st.tuples(st.sampled_from([A, B]), st.integers(-50, 50).filter(bool)), max_size=3),
        max_size=6,
    ),
)
def test_segments_and_events_give_the_same_run(n, orders) -> None:
    assert _run(n, orders, segments=True) == _run(n, orders, segments=False)


@settings(max_examples=15, deadline=None)
@given(
    n=st.integers(1, 3),
    keep=st.sampled_from([1.0, 0.9, 0.3]),
    seed=st.integers(0, 2**16),
    orders=st.dictionaries(
        st.integers(0, 3 * 390 - 1),
        st.lists(st.tuples(st.sampled_from([A, B]), st.integers(-50, 50).filter(bool)), max_size=3),
        max_size=12,
    ),
)
def test_minute_segments_walked_by_the_portal_give_the_events_run(n, keep, seed, orders) -> None:
    """Minute sessions go through ``BarPortal.walk`` (one search per session, missing minutes
    included): every event, cursor row and fill as when each bar is its own event."""
    bars = _minute_bars(n, keep, seed)
    walked = _run(n, orders, segments=True, bars=bars)
    assert walked == _run(n, orders, segments=False, bars=bars)
    assert sum(1 for row in walked[:-1] if row[0] == "StrategyTurn") == 390 * n


@pytest.mark.parametrize("calendar", ["XNYS", "ALWAYS_OPEN"])
def test_segments_list_exactly_the_clocks_events(calendar) -> None:
    clock = SimClock(
        get_calendar(calendar), dt.date(2024, 3, 8), dt.date(2024, 3, 11), Frequency.MINUTE
    )
    from_segments = []
    for seg in clock.segments():
        from_segments.append(("start", seg.start, seg.session))
        from_segments.extend(("bar", ts, seg.session) for ts in seg.bars)
        from_segments.append(("end", seg.close, seg.session))
    events = [(e.kind.name, e.ts, e.session) for e in clock if e.kind.name != "SESSION_START"]
    names = {"BEFORE_TRADING_START": "start", "BAR": "bar", "SESSION_END": "end"}
    assert from_segments == [(names[k], ts, s) for k, ts, s in events]
    assert all(isinstance(e, ClockEvent) for e in clock)


def _session_with_a_late_event() -> Session:
    """A session whose first bar's close publishes an event from the far future (a
    misbehaving plugin): whatever the bus takes next must be refused."""
    portal = BarPortal(_bars(3), CAL)
    session = Session(
        portal=portal,
        broker=SimBroker(portal, commission=PerShare(), slippage=FixedBasisPointsSlippage()),
        ledger=Ledger(Decimal(1000)),
        order_ids=ClientOrderIds("t", "late"),
    )
    late = 2**62
    session.bus.subscribe(
        BarClosed,
        lambda e: None if e.ts >= late else session.bus.publish(BarClosed(late, e.session)),
    )
    return session


@pytest.mark.parametrize("segments", [True, False])
def test_a_turn_after_a_later_event_is_refused_on_both_paths(segments) -> None:
    session = _session_with_a_late_event()
    session.bus.subscribe(StrategyTurn, lambda e: None)  # the strategy turn that follows
    clock = SimClock(CAL, SESSIONS[0], SESSIONS[2])
    with pytest.raises(EventOrderError, match=r"StrategyTurn at .* published after"):
        session.run(clock if segments else list(clock))


@pytest.mark.parametrize("segments", [True, False])
def test_a_session_event_nobody_hears_is_still_checked_on_both_paths(segments) -> None:
    # no subscriber to the session's own events: none is built, each is still checked
    session = _session_with_a_late_event()
    clock = SimClock(CAL, SESSIONS[0], SESSIONS[2])
    assert not {SessionStarted, BeforeTradingStart, SessionClosed} & set(session.bus.handlers)
    with pytest.raises(EventOrderError, match=r"SessionClosed at ts=\d+ rank=4 published after"):
        session.run(clock if segments else list(clock))


class _CountingSession(Session):
    """A session subclass with its own step (as the live session has)."""

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.kinds: list[str] = []

    def step(self, event: ClockEvent) -> None:
        self.kinds.append(event.kind.name)
        super().step(event)


class _NoBarsOnFriday(SimClock):
    """A clock that orders its own events: Fridays have no bar."""

    def __iter__(self):
        for event in super().__iter__():
            if event.kind.name == "BAR" and event.session.weekday() == 4:
                continue
            yield event


def _plain_session(cls: type[Session] = Session) -> Session:
    portal = BarPortal(_bars(5), CAL)
    broker = SimBroker(portal, commission=PerShare(), slippage=FixedBasisPointsSlippage())
    return cls(portal=portal, broker=broker, ledger=Ledger(Decimal(1000)),
               order_ids=ClientOrderIds("t", "sub"))  # fmt: skip


def test_a_session_subclass_with_its_own_step_sees_every_bar() -> None:
    session = _plain_session(_CountingSession)
    session.run(SimClock(CAL, SESSIONS[0], SESSIONS[4]))
    assert session.kinds.count("BAR") == 5  # type: ignore[attr-defined]


def test_the_live_session_is_in_its_step_during_every_turn() -> None:
    from rbt.live.session import LiveSession

    session = _plain_session(LiveSession)
    seen: list[bool] = []
    session.bus.subscribe(StrategyTurn, lambda e: seen.append(session.in_step))  # type: ignore[attr-defined]
    session.run(SimClock(CAL, SESSIONS[0], SESSIONS[4]))
    assert seen == [True] * 5


def test_a_clock_that_orders_its_own_events_is_followed() -> None:
    session = _plain_session()
    turns: list[dt.date] = []
    session.bus.subscribe(StrategyTurn, lambda e: turns.append(e.session))
    session.run(_NoBarsOnFriday(CAL, SESSIONS[0], SESSIONS[4]))
    assert turns == [d for d in SESSIONS[:5] if d.weekday() != 4]
    assert len(turns) == 4
