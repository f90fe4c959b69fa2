"""Conformance cases for brokers (TC-B..), driven through a real kernel Session.

Subclass, name the provider and, when its factory needs more than the portal,
override :meth:`BrokerConformance.make_broker`::

    from rbt.testing import BrokerConformance

    class TestKrakenSandbox(BrokerConformance):
        provider = "kraken.spot"

        def make_broker(self, record, portal):
            return record.create(sandbox=True, portal=portal)

Each case runs a small backtest-shaped session: a clock over the bars of
:meth:`BrokerConformance.make_bars` (two equities, seven XNYS sessions by
default), a :class:`~rbt.data.portal.BarPortal`, a fresh ledger, deterministic
client order ids, and a plan of orders placed at given bars. Cases:

* TC-B01: a market buy placed on a bar ends filled, and the ledger holds it;
* TC-B02: a sell closes the position again (the ledger is flat, its replay agrees);
* TC-B03 (capability ``cancel``): cancelling an open order ends it, with no fill after
  the cancellation was confirmed except a legal late fill;
* TC-B04: client order ids are the session's, unique, and echoed on every event and fill;
* TC-B05: every fill's fields are exact: ``Decimal`` amount, price and commission, int ts;
* TC-B06: fills never exceed their orders, never go the wrong way, and add up to
  ``order.filled``;
* TC-B07: orders change state only through the state machine (every recorded change is
  a transition of :data:`rbt.kernel.orders.TRANSITIONS`), and no fill precedes its order.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, ClassVar

import attrs

from rbt.kernel.broker import Broker, ClientOrderIds
from rbt.kernel.clock import SimClock
from rbt.kernel.events import OrderFilled, OrderUpdated, StrategyTurn
from rbt.kernel.ledger import Ledger
from rbt.kernel.model import Asset, Fill, Order, OrderStatus
from rbt.kernel.orders import TRANSITIONS
from rbt.kernel.portal import DataPortal
from rbt.kernel.registry import Provider, ProviderKind
from rbt.kernel.session import Session
from rbt.testing._base import ProviderConformance
from rbt.testing.capabilities import CANCEL, requires
from rbt.testing.harness import EventRecorder

if TYPE_CHECKING:
    from rbt.data.bars import BarArrays

__all__ = ["BrokerConformance", "BrokerRun"]

#: An action at a bar: called with the session at that bar's strategy turn.
Action = Callable[[Session], None]


@attrs.define
class BrokerRun:
    """One session driven to its end, with what happened on the way."""

    session: Session
    recorder: EventRecorder
    placed: list[Order] = attrs.Factory(list)

    @property
    def fills(self) -> list[Fill]:
        """Every fill the session booked, in order."""
        return list(self.session.fills)

    def order(self, order_id: str) -> Order:
        """The final state of an order."""
        order = self.session.orders.get(order_id)
        assert order is not None, f"unknown order {order_id}"
        return order


class BrokerConformance(ProviderConformance):
    """Conformance cases every broker passes (TC-B01..)."""

    kind: ClassVar[ProviderKind] = ProviderKind.BROKER
    #: first and last session of the default bars (both inclusive)
    sessions: ClassVar[tuple[dt.date, dt.date]] = (dt.date(2024, 1, 2), dt.date(2024, 1, 10))
    run_id: ClassVar[str] = "kit"

    # -- what a subclass may override -------------------------------------------------
    def make_bars(self) -> BarArrays:
        """The bars of the run: two liquid equities on XNYS sessions."""
        import numpy as np

        from rbt.data.bars import bars_from_floats
        from rbt.plugins.calendars import get_calendar

        days = get_calendar("XNYS").sessions(*self.sessions)
        n = len(days)
        assets = [Asset(sid=1, symbol="AAA"), Asset(sid=2, symbol="BBB")]
        base = np.array([[100.0 + i, 20.0 + i / 4] for i in range(n)])
        return bars_from_floats(
            assets,
            days,
            {
                "open": base,
                "high": base + 1.5,
                "low": base - 1.5,
                "close": base + 0.5,
                "volume": np.full((n, 2), 1_000_000.0),
            },
            calendar="XNYS",
        )

    def make_portal(self, bars: BarArrays) -> DataPortal:
        """The data portal the session (and a simulated broker) reads."""
        from rbt.data.portal import BarPortal
        from rbt.plugins.calendars import get_calendar

        return BarPortal(bars, get_calendar(bars.calendar))

    def make_broker(self, record: Provider, portal: DataPortal) -> Broker:
        """Build the broker under test; by default ``factory(portal, **provider_kwargs)``."""
        broker: Broker = record.create(portal, **self.provider_kwargs)
        return broker

    # -- driving ----------------------------------------------------------------------
    def run(self, record: Provider, plan: Mapping[int, Sequence[Action]]) -> BrokerRun:
        """Run a session over the bars, calling ``plan[i]`` at the i-th bar's strategy turn."""
        bars = self.make_bars()
        portal = self.make_portal(bars)
        broker = self.make_broker(record, portal)
        assert isinstance(broker, Broker), f"{broker!r} does not implement the Broker protocol"
        session = Session(
            portal=portal,
            broker=broker,
            ledger=Ledger(1_000_000),
            order_ids=ClientOrderIds("rbt", self.run_id),
        )
        result = BrokerRun(session=session, recorder=EventRecorder(session.bus))
        turns = iter(range(10**9))

        def on_turn(_event: StrategyTurn) -> None:
            for action in plan.get(next(turns), ()):
                action(session)

        session.bus.subscribe(StrategyTurn, on_turn)
        from rbt.plugins.calendars import get_calendar

        days = bars.sessions.tolist()
        session.run(SimClock(get_calendar(bars.calendar), days[0], days[-1], bars.frequency))
        result.placed.extend(o for o in session.orders)
        return result

    @staticmethod
    def order(asset_index: int, amount: int | str) -> Action:
        """An action placing a market order for ``amount`` of the run's asset ``asset_index``."""

        def place(session: Session) -> None:
            asset = session.portal.bars.assets[asset_index]  # type: ignore[attr-defined]
            from rbt.kernel.model import OrderStyle

            session.place_order(asset, Decimal(amount), OrderStyle())

        return place

    # -- cases ------------------------------------------------------------------------
    def test_tc_b00_builds_a_broker(self, rbt_provider_record: Provider) -> None:
        """TC-B00: the factory builds a named :class:`~rbt.kernel.broker.Broker`."""
        broker = self.make_broker(rbt_provider_record, self.make_portal(self.make_bars()))
        assert isinstance(broker, Broker)
        assert isinstance(broker.name, str)
        assert broker.name

    def test_tc_b01_a_market_buy_fills(self, rbt_provider_record: Provider) -> None:
        """TC-B01: a market buy placed on a bar ends filled; the ledger holds it."""
        run = self.run(rbt_provider_record, {0: [self.order(0, 100)]})
        (order,) = run.placed
        assert order.status is OrderStatus.FILLED, f"order ended {order.status}: {order.reason}"
        assert order.filled == Decimal(100)
        assert run.session.ledger.position_amount(order.asset) == Decimal(100)
        assert all(f.ts > order.created for f in run.fills), "filled on the bar it was placed"

    def test_tc_b02_a_sell_closes_the_position(self, rbt_provider_record: Provider) -> None:
        """TC-B02: buy then sell the same amount: flat, and the ledger's replay agrees."""
        run = self.run(
            rbt_provider_record,
            {
                0: [self.order(0, 100), self.order(1, -50)],
                3: [self.order(0, -100), self.order(1, 50)],
            },
        )
        assert [o.status for o in run.placed] == [OrderStatus.FILLED] * 4
        assert run.session.ledger.positions() == {}
        run.session.ledger.verify_replay()

    @requires(CANCEL)
    def test_tc_b03_cancel_an_open_order(self, rbt_provider_record: Provider) -> None:
        """TC-B03: a cancelled order ends; nothing but a legal late fill follows."""

        def place_and_cancel(session: Session) -> None:
            self.order(0, 100)(session)
            order_id = session.order_ids.prefix + str(session.order_ids.seq)
            session.cancel_order(order_id)

        run = self.run(rbt_provider_record, {1: [place_and_cancel]})
        (order,) = run.placed
        assert not order.is_open, f"order still {order.status} after a cancel"
        assert order.status in {OrderStatus.CANCELLED, OrderStatus.FILLED}, order.status
        updates = [
            e
            for e in run.recorder.of_type(OrderUpdated)
            if isinstance(e, OrderUpdated) and e.order.id == order.id
        ]
        assert any(
            e.previous is OrderStatus.PENDING_CANCEL or e.order.status is OrderStatus.PENDING_CANCEL
            for e in updates
        )

    def test_tc_b04_client_order_ids_are_unique_and_echoed(
        self, rbt_provider_record: Provider
    ) -> None:
        """TC-B04: ids are ``<tag>-<run_id>-<seq>``, unique, and echoed on events and fills."""
        plan = {i: [self.order(i % 2, 10 * (i + 1))] for i in range(4)}
        run = self.run(rbt_provider_record, plan)
        ids = [o.id for o in run.placed]
        assert ids == [f"rbt-{self.run_id}-{n}" for n in range(1, len(ids) + 1)]
        issued = set(ids)
        for event in run.recorder.events:
            if isinstance(event, OrderUpdated):
                assert event.order.id in issued
            if isinstance(event, OrderFilled):
                assert event.fill.order_id == event.order.id
                assert event.fill.order_id in issued
        fill_ids = [f.id for f in run.fills]
        assert len(fill_ids) == len(set(fill_ids)), f"duplicate fill ids {fill_ids}"
        assert all(re.fullmatch(r"\S+", f) for f in fill_ids)

    def test_tc_b05_fills_are_exact(self, rbt_provider_record: Provider) -> None:
        """TC-B05: Decimal amount, price and commission; integer ts; the order's asset."""
        run = self.run(rbt_provider_record, {0: [self.order(0, 7), self.order(1, -3)]})
        assert run.fills, "no fill to check"
        for fill in run.fills:
            for field in ("amount", "price", "commission"):
                value = getattr(fill, field)
                assert type(value) is Decimal, f"fill.{field} is {type(value).__name__}"
                assert value.is_finite()
            assert type(fill.ts) is int
            assert fill.price > 0
            assert fill.commission >= 0
            assert fill.asset == run.order(fill.order_id).asset

    def test_tc_b06_fills_never_exceed_their_orders(self, rbt_provider_record: Provider) -> None:
        """TC-B06: per order, fills go its way and add up to ``filled`` <= ``amount``."""
        plan = {0: [self.order(0, 250_000), self.order(1, -120_000)], 2: [self.order(0, -5)]}
        run = self.run(rbt_provider_record, plan)
        totals: dict[str, Decimal] = {}
        for fill in run.fills:
            order = run.order(fill.order_id)
            assert fill.amount != 0
            assert (fill.amount > 0) == (order.amount > 0), f"{fill} against {order}"
            totals[order.id] = totals.get(order.id, Decimal(0)) + fill.amount
        for order in run.placed:
            assert totals.get(order.id, Decimal(0)) == order.filled
            assert abs(order.filled) <= abs(order.amount)

    def test_tc_b07_orders_change_only_through_the_state_machine(
        self, rbt_provider_record: Provider
    ) -> None:
        """TC-B07: every recorded change is a transition of the table; fills follow orders."""
        run = self.run(rbt_provider_record, {0: [self.order(0, 10)], 1: [self.order(1, -10)]})
        reachable: dict[OrderStatus, set[OrderStatus]] = {}
        for (state, _event), target in TRANSITIONS.items():
            reachable.setdefault(state, set()).add(target)
        last: dict[str, OrderStatus] = {}
        for event in run.recorder.events:
            if isinstance(event, OrderUpdated):
                assert event.order.status in reachable.get(event.previous, set()), (
                    f"{event.order.id}: {event.previous.value} -> {event.order.status.value} "
                    "is not a transition of the order state machine"
                )
                last[event.order.id] = event.order.status
            elif isinstance(event, OrderFilled):
                assert event.fill.order_id in last, "a fill arrived before its order was sent"
                last[event.order.id] = event.order.status
        for order in run.placed:
            assert last[order.id] is order.status

    def test_tc_b08_runs_are_reproducible(self, rbt_provider_record: Provider) -> None:
        """TC-B08: the same plan on the same bars gives the same fills (ids included)."""
        plan: dict[int, list[Action]] = {0: [self.order(0, 10)], 2: [self.order(1, -4)]}
        first = self.run(rbt_provider_record, plan).fills
        second = self.run(rbt_provider_record, plan).fills
        assert first == second
