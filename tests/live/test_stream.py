"""A streaming (non-replay) feed: closed bars grow the portal and drive the clock (24/7
sessions), the paper broker trades on them, and bad messages stop the run clearly."""

from __future__ import annotations

import asyncio
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rbt.data.home import RbtHome
from rbt.kernel.clock import ClockEvent, ClockEventKind
from rbt.kernel.model import Asset, AssetClass
from rbt.live.engine import LiveRun
from rbt.live.feed import Bar, FeedError
from rbt.live.stream import GrowingPortal, RecordedBarStream, StreamClock, session_of
from rbt.plugins.calendars import get_calendar

MIN = 60_000_000_000
DAY = 86_400_000_000_000
T0 = 1_704_067_200_000_000_000  # 2024-01-01 00:00 UTC
SYMBOLS = ("BTC/USDT", "ETH/USDT")

STRATEGY = """
from rbt.api import order, symbol

def initialize(context):
    context.btc = symbol("BTC/USDT")
    context.n = 0
    context.fills = 0

def handle_data(context, data):
    context.n += 1
    if context.n % 4 == 1:
        order(context.btc, 0.5)
    elif context.n % 4 == 3:
        order(context.btc, -0.5)

def on_order_fill(context, fill):
    context.fills += 1
"""


def bar(end: int, price: str, volume: str = "100") -> Bar:
    p = Decimal(price)
    return Bar(end, p, p + 1, p - 1, p, Decimal(volume), 10)


def daily(days: int, start: int = T0) -> list[tuple[str, Bar]]:
    out = []
    for i in range(days):
        end = start + (i + 1) * DAY
        out.append(("BTC/USDT", bar(end, str(40000 + 100 * i))))
        out.append(("ETH/USDT", bar(end, str(2000 + 5 * i))))
    return out


def stream(messages: list[tuple[str, Bar]], interval: int = DAY) -> RecordedBarStream:
    return RecordedBarStream("recorded", SYMBOLS, interval, messages)


@pytest.fixture
def strategy(tmp_path: Path) -> Path:
    path = tmp_path / "crypto.py"
    path.write_text(STRATEGY)
    return path


def _assets() -> list[Asset]:
    return [
        Asset(
            sid=i + 1,
            symbol=s,
            asset_class=AssetClass.CRYPTO,
            calendar="always_open",
            quote_currency="USDT",
            tick_size=Decimal("0.01"),
            lot_size=Decimal("0.0001"),
        )
        for i, s in enumerate(SYMBOLS)
    ]


async def _collect(clock: StreamClock) -> list[ClockEvent]:
    return [e async for e in clock.events()]


def test_minute_bars_make_utc_day_sessions() -> None:
    calendar = get_calendar("always_open")
    portal = GrowingPortal(_assets(), calendar, StreamClock.frequency_for(MIN), capacity=2)
    start = T0 + DAY - 3 * MIN  # 23:57 .. 00:02 across midnight
    messages = []
    for k in range(1, 6):
        end = start + k * MIN
        messages.append(("BTC/USDT", bar(end, "100")))
        if k != 2:  # ETH has no trade in one minute: its bar is missing, BTC's is released
            messages.append(("ETH/USDT", bar(end, "10")))
    events = asyncio.run(_collect(StreamClock(stream(messages, MIN), portal, calendar)))
    kinds = [(e.kind.name, e.session.isoformat()) for e in events]
    assert kinds == [
        ("SESSION_START", "2024-01-01"),
        ("BEFORE_TRADING_START", "2024-01-01"),
        ("BAR", "2024-01-01"),
        ("BAR", "2024-01-01"),
        ("BAR", "2024-01-01"),  # ends at 24:00: closes the day at once
        ("SESSION_END", "2024-01-01"),
        ("SESSION_START", "2024-01-02"),
        ("BEFORE_TRADING_START", "2024-01-02"),
        ("BAR", "2024-01-02"),
        ("BAR", "2024-01-02"),
    ]
    assert [e.ts for e in events if e.kind is ClockEventKind.BAR] == [
        start + k * MIN for k in range(1, 6)
    ]
    assert portal.size == 5  # grew past its initial capacity of 2
    eth = _assets()[1]
    portal.advance(start + 2 * MIN)
    assert portal.is_stale(eth)  # no ETH bar in that minute
    assert portal.current(eth, "price") == 10.0  # forward-filled
    assert portal.exact_price(eth, "close") == Decimal("10")
    hist = portal.history(_assets(), "close", 3, "1m", frame="numpy")
    assert hist.shape == (3, 2)
    assert hist[-1, 0] == 100.0
    portal.advance(start + 5 * MIN)
    for field in ("close", "price"):  # windows of the growing arrays are read-only too
        with pytest.raises(ValueError, match="read-only"):
            portal.history(_assets(), field, 3, "1m", frame="numpy")[0, 0] = 0.0
    daily_close = portal.history(_assets()[0], "close", 2, "1d")  # sessions from minutes
    assert [str(d.date()) for d in daily_close.index] == ["2024-01-01", "2024-01-02"]
    assert daily_close.tolist() == [100.0, 100.0]


@pytest.mark.parametrize(
    ("messages", "match"),
    [
        ([("BTC/USDT", bar(T0 + 2 * DAY, "1")), ("BTC/USDT", bar(T0 + DAY, "1"))], "out-of-order"),
        ([("DOGE/USDT", bar(T0 + DAY, "1"))], "unknown symbol 'DOGE/USDT'"),
        ([("BTC/USDT", "not a bar")], "malformed feed message"),
        ([("BTC/USDT", bar(T0 + DAY + 5, "1"))], "not on the"),
        ([("BTC/USDT", bar(T0 + DAY, "1.001"))], "more than 2 decimals"),
        (
            [("BTC/USDT", Bar(T0 + DAY, *[Decimal(1)] * 2, Decimal(3), Decimal(1), Decimal(1), 1))],
            "high/low",
        ),
        ([("BTC/USDT", bar(T0 + DAY, "1")), ("BTC/USDT", bar(T0 + DAY, "1"))], "duplicate"),
    ],
)
def test_bad_stream_messages_are_refused_clearly(
    messages: list[tuple[str, object]], match: str
) -> None:
    calendar = get_calendar("always_open")
    portal = GrowingPortal(_assets(), calendar, StreamClock.frequency_for(DAY))
    clock = StreamClock(stream(messages), portal, calendar)  # type: ignore[arg-type]
    with pytest.raises(FeedError, match=match):
        asyncio.run(_collect(clock))


def _home(tmp_path: Path) -> RbtHome:
    return RbtHome(tmp_path / "home")


def test_paper_trading_on_a_stream(tmp_path: Path, strategy: Path) -> None:
    home = _home(tmp_path)
    run = LiveRun(
        strategy, feed=stream(daily(20)), home=home, capital_base=100_000, start="2024-01-01"
    )
    try:
        result = asyncio.run(run.run())
        assert run.mode == "paper"
        assert run.recovery == "journal"
        assert run.ledger.base_currency == "USDT"
        assert result.orders.height == 10  # bars 1, 3, 5, ... of 20
        assert result.transactions.height == 10
        assert run.engine.context.fills == 10
        assert run.portal.size == 20
        # fills at the next bar's close (the backtest's timing), on the stream's prices
        first = run.session.fills[0]
        assert first.price > Decimal("40100")  # the second bar's close plus slippage
        assert run.ledger.position_amount(run.session.fills[0].asset) == 0
        with sqlite3.connect(home.root / "rbt.sqlite") as db:
            status, last_ts, mode = db.execute(
                "SELECT status, last_ts, mode FROM live_sessions"
            ).fetchone()
            (state,) = db.execute("SELECT state FROM strategy_state").fetchone()
        assert (status, mode) == ("stopped", "paper")
        assert last_ts == T0 + 20 * DAY
        assert '"n":20' in state
    finally:
        run.close()


def test_a_bad_message_stops_the_run_and_the_same_command_resumes(
    tmp_path: Path, strategy: Path
) -> None:
    home = _home(tmp_path)
    good = daily(12)
    broken = [*good[:14], ("BTC/USDT", bar(T0 + 2 * DAY, "1")), *good[14:]]  # an old bar
    run = LiveRun(
        strategy, feed=stream(broken), home=home, capital_base=100_000, start="2024-01-01"
    )
    try:
        with pytest.raises(FeedError, match="out-of-order"):
            asyncio.run(run.run())
        stopped_at = run.session.now
    finally:
        run.close()
    assert stopped_at == T0 + 7 * DAY  # bars 1..7 were traded; the bad one was not used
    resumed = LiveRun(
        strategy, feed=stream(good), home=home, capital_base=100_000, start="2024-01-01"
    )
    try:
        assert resumed.watermark == T0 + 7 * DAY
        result = asyncio.run(resumed.run())
        assert resumed.engine.context.n == 12  # the strategy state came back from the journal
        assert resumed.portal.size == 12  # bars before the watermark refilled the history
        assert result.trading_state == "ACTIVE"
    finally:
        resumed.close()

    clean_home = RbtHome(tmp_path / "clean")
    clean = LiveRun(
        strategy, feed=stream(good), home=clean_home, capital_base=100_000, start="2024-01-01"
    )
    try:
        reference = asyncio.run(clean.run())
    finally:
        clean.close()
    assert result.final_value == reference.final_value
    assert result.transactions.drop("order_id").equals(reference.transactions.drop("order_id"))


@st.composite
def _bar_plans(draw: st.DrawFn) -> list[tuple[int, tuple[bool, bool]]]:
    """Minute bar ends over up to three UTC days, each with a subset of symbols."""
    n = draw(st.integers(1, 40))
    steps = draw(st.lists(st.sampled_from([1, 1, 2, 7, 600, 1440]), min_size=n, max_size=n))
    which = draw(
        st.lists(
            st.sampled_from([(True, True), (True, False), (False, True)]), min_size=n, max_size=n
        )
    )
    ends, k = [], draw(st.integers(1_380, 1_439))  # start near midnight
    for step in steps:
        k += step
        ends.append(k)
    return list(zip(ends, which, strict=True))


@settings(max_examples=60, deadline=None, derandomize=True)
@given(_bar_plans())
def test_stream_clock_invariants(plan: list[tuple[int, tuple[bool, bool]]]) -> None:
    """Events are in (ts, kind) order; each UTC day opens once before its first bar and
    closes once; one BAR per bar end; the portal holds exactly the streamed bars."""
    calendar = get_calendar("always_open")
    portal = GrowingPortal(_assets(), calendar, StreamClock.frequency_for(MIN), capacity=1)
    messages = []
    for k, (btc, eth) in plan:
        end = T0 + k * MIN
        if btc:
            messages.append(("BTC/USDT", bar(end, str(100 + k % 7))))
        if eth:
            messages.append(("ETH/USDT", bar(end, "10")))
    events = asyncio.run(_collect(StreamClock(stream(messages, MIN), portal, calendar)))
    keys = [(e.ts, int(e.kind)) for e in events]
    assert keys == sorted(keys)
    bars = [e for e in events if e.kind is ClockEventKind.BAR]
    assert [e.ts for e in bars] == [T0 + k * MIN for k, _ in plan]
    days = sorted({session_of(e.ts) for e in bars})
    starts = [e.session for e in events if e.kind is ClockEventKind.SESSION_START]
    ends = [e.session for e in events if e.kind is ClockEventKind.SESSION_END]
    assert starts == days
    assert ends in (days, days[:-1])  # the last day closes only when its 24:00 bar came
    for e in bars:
        opened = max(
            s.ts for s in events if s.kind is ClockEventKind.SESSION_START and s.ts <= e.ts
        )
        assert session_of(e.ts) == next(
            s.session for s in events if s.kind is ClockEventKind.SESSION_START and s.ts == opened
        )
    assert portal.size == len(plan)
    portal.advance(bars[-1].ts)
    btc = _assets()[0]
    last_btc = [k for k, (has, _e) in plan if has]
    expected = Decimal(100 + last_btc[-1] % 7) if last_btc else None
    assert portal.exact_price(btc, "close") == expected
