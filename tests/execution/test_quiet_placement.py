"""The quiet placement path (SUBMIT and the simulator's decision in one step) is only for
a session nobody hears order states on: a Session subclass that hears the broker's
reports or the state changes itself gets every one of them, as a plain broker sends."""

from __future__ import annotations

from decimal import Decimal

from rbt.data.portal import BarPortal
from rbt.finance.commission import NoCommission
from rbt.finance.slippage import NoSlippage
from rbt.kernel.broker import ClientOrderIds
from rbt.kernel.clock import SimClock
from rbt.kernel.ledger import Ledger
from rbt.kernel.model import MARKET, Asset, Order, OrderStatus
from rbt.kernel.orders import OrderEventKind
from rbt.kernel.session import Session
from rbt.plugins.sim_broker import SimBroker

from .conftest import CAL, SESSIONS, A, ohlcv

ROWS = [(10.0, 11.0, 9.0, 10.5, 1e6)] * 3


class HearsReports(Session):
    """Keeps every broker report it is given (a journaling session, say)."""

    reports: list[tuple[str, OrderEventKind]]

    def order_event(self, order_id: str, kind: OrderEventKind, ts: int, reason: str = "") -> None:
        self.reports.append((order_id, kind))
        super().order_event(order_id, kind, ts, reason)


class HearsStates(Session):
    """Keeps every state change it makes."""

    changes: list[tuple[str, OrderEventKind]]

    def _order_changed(self, order_id: str, kind: OrderEventKind, reason: str = "") -> Order:
        self.changes.append((order_id, kind))
        return super()._order_changed(order_id, kind, reason)


def _session(cls: type[Session]) -> Session:
    portal = BarPortal(ohlcv(ROWS), CAL)
    broker = SimBroker(portal, commission=NoCommission(), slippage=NoSlippage())
    return cls(
        portal=portal, broker=broker, ledger=Ledger(Decimal(10_000)),
        order_ids=ClientOrderIds("t", "run"),
    )  # fmt: skip


def _place(session: Session) -> tuple[Order, Order]:
    session.step(next(iter(SimClock(CAL, SESSIONS[0], SESSIONS[0]))))  # the first event
    taken = session.place_order(A, Decimal(5), MARKET)
    refused = session.place_order(Asset(sid=99, symbol="ZZZ"), Decimal(5), MARKET)
    return taken, refused


def test_a_session_that_hears_broker_reports_gets_the_decision_as_a_report() -> None:
    session = _session(HearsReports)
    session.reports = []  # type: ignore[attr-defined]
    taken, refused = _place(session)
    assert taken.status is OrderStatus.ACCEPTED
    assert refused.status is OrderStatus.REJECTED
    assert refused.reason.startswith("NO_DATA")
    assert session.reports == [  # type: ignore[attr-defined]
        (taken.id, OrderEventKind.ACCEPT),
        (refused.id, OrderEventKind.REJECT),
    ]


def test_a_session_that_hears_its_state_changes_gets_each_one() -> None:
    session = _session(HearsStates)
    session.changes = []  # type: ignore[attr-defined]
    taken, refused = _place(session)
    assert session.changes == [  # type: ignore[attr-defined]
        (taken.id, OrderEventKind.SUBMIT),
        (taken.id, OrderEventKind.ACCEPT),
        (refused.id, OrderEventKind.SUBMIT),
        (refused.id, OrderEventKind.REJECT),
    ]


def test_a_plain_session_decides_quietly_with_the_same_outcome() -> None:
    session = _session(Session)
    taken, refused = _place(session)
    assert taken.status is OrderStatus.ACCEPTED
    assert refused.status is OrderStatus.REJECTED
    assert refused.reason.startswith("NO_DATA")
    assert [o.id for o in session.orders.open_orders()] == [taken.id]
