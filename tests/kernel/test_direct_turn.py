"""The strategy's turn called directly (``Session.turn``, as the engine sets it) keeps the
bus's total order: a turn after a later event is refused, naming the StrategyTurn as a
published one is named, and it comes before the bus's StrategyTurn subscribers."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy as np
import pytest

from rbt.data.bars import bars_from_floats
from rbt.data.portal import BarPortal
from rbt.finance.commission import PerShare
from rbt.finance.slippage import FixedBasisPointsSlippage
from rbt.kernel.broker import ClientOrderIds
from rbt.kernel.clock import SimClock
from rbt.kernel.errors import EventOrderError
from rbt.kernel.events import BarClosed, StrategyTurn
from rbt.kernel.ledger import Ledger
from rbt.kernel.model import Asset
from rbt.kernel.session import Session
from rbt.plugins.calendars import get_calendar

CAL = get_calendar("XNYS")
SESSIONS = list(CAL.sessions(dt.date(2024, 3, 4), dt.date(2024, 3, 8)))
A = Asset(sid=1, symbol="AAA")


def _session() -> Session:
    from rbt.plugins.sim_broker import SimBroker

    close = np.linspace(50.0, 54.0, len(SESSIONS)).reshape(-1, 1)
    fields = {"open": close, "high": close + 1, "low": close - 1, "close": close}
    bars = bars_from_floats([A], SESSIONS, {**fields, "volume": np.full_like(close, 1e6)})
    portal = BarPortal(bars, CAL)
    broker = SimBroker(portal, commission=PerShare(), slippage=FixedBasisPointsSlippage())
    return Session(
        portal=portal, broker=broker, ledger=Ledger(Decimal(1000)),
        order_ids=ClientOrderIds("t", "turn"),
    )  # fmt: skip


@pytest.mark.parametrize("segments", [True, False])
def test_a_direct_turn_after_a_later_event_is_refused_by_name(segments: bool) -> None:
    session = _session()
    session.turn = lambda ts, label: None
    late = 2**62
    session.bus.subscribe(
        BarClosed,
        lambda e: None if e.ts >= late else session.bus.publish(BarClosed(late, e.session)),
    )
    clock = SimClock(CAL, SESSIONS[0], SESSIONS[-1])
    with pytest.raises(EventOrderError, match=r"StrategyTurn at ts=\d+ rank=3 published after"):
        session.run(clock if segments else list(clock))


def test_the_direct_turn_comes_before_the_turn_subscribers_every_bar() -> None:
    session = _session()
    seen: list[tuple[str, object]] = []
    session.bus.subscribe(StrategyTurn, lambda e: seen.append(("subscriber", e.session)))
    session.turn = lambda ts, label: seen.append(("turn", label))
    session.run(SimClock(CAL, SESSIONS[0], SESSIONS[-1]))
    assert seen == [(who, day) for day in SESSIONS for who in ("turn", "subscriber")]
