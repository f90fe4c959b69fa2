"""The engine's exact session-close value on a portal that grows as bars arrive (live,
paper and shadow runs), and strategy hooks attached after the engine was built.

A real kernel session, the simulated broker and a :class:`GrowingPortal` fed by a
:class:`StreamClock`: the engine steps while bars arrive, so the portal's arrays are
replaced between session closes (what a cached close table must survive)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from rbt.api import cancel_order, order
from rbt.api.algorithm import TradingAlgorithm
from rbt.api.engine import Engine
from rbt.api.params import merge_params
from rbt.api.runner import resolve_model
from rbt.kernel.broker import ClientOrderIds
from rbt.kernel.events import SessionClosed
from rbt.kernel.ledger import Ledger
from rbt.kernel.model import Asset, Fill
from rbt.kernel.registry import ProviderKind
from rbt.kernel.session import Session
from rbt.live.feed import Bar
from rbt.live.stream import GrowingPortal, RecordedBarStream, StreamClock
from rbt.plugins import plugin_manager
from rbt.plugins.calendars import get_calendar

DAY = 86_400_000_000_000
T0 = 1_704_067_200_000_000_000  # 2024-01-01 00:00 UTC
SYMBOLS = ("AAA", "BBB")


def _assets() -> list[Asset]:
    """Whole-unit assets of the base currency: the engine's integer close path."""
    return [
        Asset(
            sid=i + 1,
            symbol=s,
            calendar="always_open",
            tick_size=Decimal("0.01"),
            lot_size=Decimal("1"),
        )
        for i, s in enumerate(SYMBOLS)
    ]


def _bar(end: int, price: Decimal) -> Bar:
    return Bar(end, price, price, price, price, Decimal(1_000_000), 10)


class _Run:
    """A strategy stepped over a recorded stream of daily bars on a growing portal."""

    def __init__(self, strategy: TradingAlgorithm) -> None:
        calendar = get_calendar("always_open")
        assets = _assets()
        self.portal = GrowingPortal(assets, calendar, StreamClock.frequency_for(DAY), capacity=2)
        pm = plugin_manager()
        commission = resolve_model(pm, ProviderKind.COMMISSION_MODEL, "per_share")
        slippage = resolve_model(pm, ProviderKind.SLIPPAGE_MODEL, "fixed_bps")
        broker = pm.get_provider(ProviderKind.BROKER, "sim").create(
            self.portal, commission=commission, slippage=slippage, fill_timing="next_close"
        )
        self.ledger = Ledger(Decimal(10) ** 12, "USD")
        self.session = Session(
            portal=self.portal,
            broker=broker,
            ledger=self.ledger,
            order_ids=ClientOrderIds("t", "close-table"),
            manager=pm,
        )
        by_symbol = {a.symbol: a for a in assets}
        sessions = list(calendar.sessions(dt.date(2024, 1, 1), dt.date(2024, 12, 31)))
        self.engine = Engine(
            strategy,
            self.session,
            self.portal,
            merge_params(strategy.PARAMS, {}),
            sessions,
            lambda ticker, _as_of: by_symbol[ticker],
            commission,
            slippage,
            record_positions=True,
        )
        # after the engine's own SessionClosed handler: the ledger's exact marks then
        self.expected: list[tuple[Decimal, list[tuple[int, Decimal, Decimal]]]] = []
        self.session.bus.subscribe(SessionClosed, self._ledger_close)

    def _ledger_close(self, event: SessionClosed) -> None:
        holdings = [(a.sid, q, p) for a, q, p in self.ledger.iter_holdings()]
        self.expected.append((self.ledger.positions_value(), holdings))

    def run(self, messages: Sequence[tuple[str, Bar]]) -> None:
        stream = RecordedBarStream("recorded", SYMBOLS, DAY, messages)
        clock = StreamClock(stream, self.portal, get_calendar("always_open"))
        self.engine.initialize()

        async def drive() -> None:
            self.session.start()
            async for event in clock.events():  # steps between the portal's appends
                self.session.step(event)

        asyncio.run(drive())
        self.session.finish("completed")

    def recorded(self) -> list[tuple[Decimal, list[tuple[int, Decimal, Decimal]]]]:
        return [(r.positions_value, list(r.positions)) for r in self.engine.records]


class _BuyAndHold(TradingAlgorithm):
    """Buys whole units on chosen bars, then holds them over the following closes."""

    def __init__(self, buys: dict[int, list[tuple[str, int]]]) -> None:
        self.buys = buys
        self.bar = 0

    def handle_data(self, context: Any, data: Any) -> None:
        from rbt.api import symbol

        for ticker, amount in self.buys.get(self.bar, []):
            order(symbol(ticker), amount)
        self.bar += 1


def _daily(prices: Sequence[tuple[Decimal | None, Decimal | None]]) -> list[tuple[str, Bar]]:
    messages = []
    for i, pair in enumerate(prices):
        end = T0 + (i + 1) * DAY
        for ticker, price in zip(SYMBOLS, pair, strict=True):
            if price is not None:
                messages.append((ticker, _bar(end, price)))
    return messages


def _check(run: _Run) -> None:
    assert len(run.engine.records) == len(run.expected)
    for (value, rows), (exact, holdings) in zip(run.recorded(), run.expected, strict=True):
        assert value == exact
        assert value.as_tuple() == exact.as_tuple()  # the same exponent as the ledger's
        assert rows == holdings


def test_a_held_whole_position_is_valued_exactly_as_the_portal_grows() -> None:
    # one buy on the first bar, then six closes without a fill: the close table is not
    # rebuilt while the portal's arrays are replaced at every bar
    prices = [(Decimal(100 + i), Decimal(50 + i)) for i in range(7)]
    run = _Run(_BuyAndHold({0: [("AAA", 3)]}))
    run.run(_daily(prices))
    _check(run)
    values = [r.positions_value for r in run.engine.records]
    assert values[-1] == 3 * Decimal("106")  # marked at the newest bar's close
    assert len({v for v in values if v}) > 1


def test_a_column_that_starts_later_is_not_read_before_its_first_bar() -> None:
    # BBB has no bar until the fourth day: a held AAA position must not make the engine
    # read BBB (or a wrapped row) and later BBB holdings are valued from its own closes
    prices: list[tuple[Decimal | None, Decimal | None]] = [
        (Decimal("10.5"), None),
        (Decimal("11.25"), None),
        (Decimal("12"), None),
        (Decimal("13"), Decimal("7.77")),
        (Decimal("14"), None),
        (Decimal("15"), Decimal("8.01")),
        (Decimal("16"), None),
    ]
    run = _Run(_BuyAndHold({0: [("AAA", 2)], 3: [("BBB", 5)]}))
    run.run(_daily(prices))
    _check(run)
    assert run.engine.records[-1].positions_value == 2 * Decimal(16) + 5 * Decimal("8.01")


def test_huge_prices_on_a_grown_portal_do_not_overflow() -> None:
    # small closes when the table is built, then closes that make amount x mantissa pass
    # 2**63: the int64 dot would wrap silently
    big = Decimal(2**61) / 100
    prices = [(Decimal(1), Decimal(1)), (Decimal(1), Decimal(1))] + [(big, Decimal(1))] * 3
    run = _Run(_BuyAndHold({0: [("AAA", 40)]}))
    run.run(_daily(prices))
    _check(run)
    assert run.engine.records[-1].positions_value == 40 * big


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.one_of(st.none(), st.integers(1, 10**6)),
            st.one_of(st.none(), st.integers(1, 10**6)),
        ),
        min_size=1,
        max_size=8,
    ),
    st.dictionaries(
        st.integers(0, 7),
        st.lists(st.tuples(st.sampled_from(SYMBOLS), st.integers(-20, 20)), max_size=2),
        max_size=4,
    ),
)
def test_recorded_values_equal_the_ledgers_marks(
    cents: list[tuple[int | None, int | None]], buys: dict[int, list[tuple[str, int]]]
) -> None:
    """Invariant: on a growing portal every recorded positions value and position row
    equals the ledger's exact marks, whatever the bars and the whole-unit orders."""
    prices = [tuple(None if c is None else Decimal(c).scaleb(-2) for c in pair) for pair in cents]
    run = _Run(_BuyAndHold(buys))
    run.run(_daily(prices))  # type: ignore[arg-type]
    _check(run)
    engine = run.engine  # the overflow bound of the integer close is kept exactly
    assert engine._amount_bound == int(np.abs(engine._qty_int).sum())


class _LateHooks(TradingAlgorithm):
    """Attaches its cancel hook in ``initialize``, after the engine was built."""

    def __init__(self) -> None:
        self.cancelled: list[str] = []
        self.bar = 0
        self.placed: str | None = None

    def initialize(self, context: Any) -> None:
        self.on_order_cancel = lambda context, o: self.cancelled.append(o.id)

    def handle_data(self, context: Any, data: Any) -> None:
        from rbt.api import symbol

        if self.bar == 0:  # far below the market: it rests
            self.placed = order(symbol("AAA"), 1, limit_price=1.0)
        elif self.bar == 1:
            assert self.placed is not None
            cancel_order(self.placed)
        self.bar += 1


def test_a_cancel_hook_attached_in_initialize_is_called() -> None:
    strategy = _LateHooks()
    assert not hasattr(strategy, "on_order_cancel")  # absent when the engine is built
    run = _Run(strategy)
    run.run(_daily([(Decimal(100), Decimal(50))] * 3))
    assert strategy.placed is not None
    assert strategy.cancelled == [strategy.placed]


class _Hold(TradingAlgorithm):
    pass


def test_restored_positions_are_recorded_in_the_ledgers_order() -> None:
    """Books restored into the ledger (a journal restart, shadow seeding) list BBB before
    AAA; the recorded rows follow the ledger, not the column order."""
    run = _Run(_Hold())
    a, b = run.portal.bars.assets
    for i, asset in enumerate((b, a)):
        run.ledger.apply_fill(
            Fill(id=f"r{i}", order_id=f"o{i}", asset=asset, amount=Decimal(5),
                 price=Decimal(10), ts=T0 - DAY)
        )  # fmt: skip
    run.engine.sync_positions()
    days = [
        (s, _bar(T0 + (k + 1) * DAY, Decimal("10.5"))) for k in range(2) for s in ("AAA", "BBB")
    ]
    run.run(days)  # type: ignore[arg-type]
    assert run.recorded() == run.expected
    assert [sid for sid, _a, _p in run.recorded()[-1][1]] == [b.sid, a.sid]


def test_a_session_drives_one_engine() -> None:
    """The engine is the session's strategy turn: a second one on the same session would
    silently replace it, so it is refused."""
    import pytest

    from rbt.kernel.errors import ConfigError

    run = _Run(_Hold())
    first = run.engine
    with pytest.raises(ConfigError, match="one engine per session"):
        Engine(
            _Hold(), run.session, run.portal, first.context.params, first.sessions,
            first._lookup, first.commission, first.slippage,
        )  # fmt: skip
    assert run.session.turn == first._strategy_turn
