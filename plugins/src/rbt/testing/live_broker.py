"""Conformance cases for live brokers (TC-L..): what crash safety and reconciliation need.

A live adapter passes these against its venue (the project's venue simulator on
127.0.0.1); the paper broker passes them against its own store. The adapter supplies a
small :class:`LiveVenueHarness` — how to start its venue and build a connected broker,
and how to inject the faults the cases need::

    from rbt.testing.live_broker import LiveBrokerConformance

    class TestMyVenue(LiveBrokerConformance):
        provider = "mine.spot"

        def venue_harness(self, record, tmp_path):
            return MySimHarness(record, tmp_path)   # starts the simulator

Cases (each drives the broker's ``run()`` stream as an asyncio task, waiting on
conditions with a deadline, never on fixed sleeps):

* TC-L01 submit: a resting limit order is accepted, ``lookup`` finds it open, the venue
  fills it, the fills (exact ``Decimal``, the venue's trade ids) add up to the order;
* TC-L02 cancel (capability ``cancel``): a resting order is cancelled, ``lookup`` and
  ``snapshot`` agree it is no longer open;
* TC-L03 partial fills (``partial_fills``): two partial fills, PARTIALLY_FILLED then
  FILLED through the one state machine, quantities exact;
* TC-L04 unknown outcome (``lookup_by_client_id``): the submit's reply is lost; ``submit``
  raises ``OrderOutcomeUnknownError`` (or ``TimeoutError``/``ConnectionError``), the order
  is then found by its client id, and the venue holds it exactly once (never resent);
* TC-L05 reconnect (``reconnect``): the stream drops, the venue fills meanwhile, the
  stream comes back: the fill arrives through the catch-up and is applied once;
* TC-L06 reconciliation (``reconciliation``): ``snapshot()`` agrees with the fills —
  positions moved by exactly the fills, the partly filled order still open, the filled
  one not — and ``fills_since`` returns the trade ids the stream delivered.

Capabilities gate cases as in the rest of the kit (:func:`rbt.testing.capabilities.requires`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterator
from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import pytest

from rbt.kernel.broker import LiveBroker, OrderTracker
from rbt.kernel.model import Asset, Fill, Order, OrderStatus, OrderStyle, OrderType
from rbt.kernel.orders import OrderEventKind
from rbt.kernel.registry import Provider, ProviderKind
from rbt.testing._base import ProviderConformance
from rbt.testing.capabilities import CANCEL, requires

if TYPE_CHECKING:
    from rbt.live.paper import PaperBroker
    from rbt.live.stream import GrowingPortal

__all__ = [
    "LOOKUP",
    "PARTIAL_FILLS",
    "RECONCILIATION",
    "RECONNECT",
    "EventSink",
    "LiveBrokerConformance",
    "LiveVenueHarness",
    "PaperVenueHarness",
]

#: The broker reports fills of one order in several parts.
PARTIAL_FILLS = "partial_fills"
#: ``lookup(client_order_id)`` finds an order whose submit reply was lost.
LOOKUP = "lookup_by_client_id"
#: After its stream drops, the broker reconnects and catches up missed fills.
RECONNECT = "reconnect"
#: ``snapshot()`` and ``fills_since()`` describe the account (start-up reconciliation).
RECONCILIATION = "reconciliation"

#: How long a case waits for the venue to report something.
DEADLINE_S = 30.0


class LiveVenueHarness(Protocol):
    """What a live adapter provides to run the TC-L cases against its venue."""

    def make_broker(self) -> LiveBroker:
        """A broker connected to the (started) venue; the kit calls ``connect`` on it."""
        ...

    def now(self) -> int:
        """The venue's current time, UTC ns (orders are stamped with it)."""
        ...

    def price(self, asset: Asset) -> Decimal:
        """A current reference price of ``asset`` (resting orders are placed away from it)."""
        ...

    def quantity(self, asset: Asset) -> Decimal:
        """A small order quantity the venue accepts (lot size, minimum notional)."""
        ...

    def fill(self, client_order_id: str, amount: Decimal | None = None) -> None:
        """Make the venue fill (``amount`` of, default all of) a resting order now."""
        ...

    def drop_next_submit_response(self) -> None:
        """The venue takes the next order but its reply to the submit is lost."""
        ...

    def disconnect_stream(self) -> None:
        """Drop the broker's order-update stream (it must not come back until restored)."""
        ...

    def restore_stream(self) -> None:
        """Let the stream reconnect."""
        ...

    def close(self) -> None:
        """Stop the venue; release files and sockets."""
        ...


class EventSink:
    """A :class:`~rbt.kernel.broker.BrokerEvents` sink applying reports to the kernel's
    order tracker (the one state machine) and each trade id once."""

    def __init__(self) -> None:
        self.tracker = OrderTracker()
        self.fills: list[Fill] = []
        self.duplicates: list[str] = []
        self.events: list[tuple[str, OrderEventKind]] = []
        self._seen: set[str] = set()

    def add(self, order: Order) -> Order:
        """Track ``order`` (created NEW) and mark it SUBMITTED, as a session does."""
        self.tracker.add(order)
        return self.tracker.transition(order.id, OrderEventKind.SUBMIT)

    def order_event(self, order_id: str, kind: OrderEventKind, ts: int, reason: str = "") -> None:
        self.events.append((order_id, kind))
        self.tracker.transition(order_id, kind, reason)

    def fill(self, fill: Fill) -> None:
        if fill.id in self._seen:
            self.duplicates.append(fill.id)
            return
        self._seen.add(fill.id)
        self.tracker.apply_fill(fill)
        self.fills.append(fill)

    def order(self, order_id: str) -> Order:
        order = self.tracker.get(order_id)
        assert order is not None, f"unknown order {order_id}"
        return order

    def filled(self, order_id: str) -> Decimal:
        return sum((f.amount for f in self.fills if f.order_id == order_id), Decimal(0))


async def until(condition: Callable[[], bool], what: str, deadline: float = DEADLINE_S) -> None:
    """Wait (yielding to the broker's stream) until ``condition()`` holds."""
    end = time.monotonic() + deadline
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {deadline} s waiting for {what}")
        await asyncio.sleep(0.005)


class LiveBrokerConformance(ProviderConformance):
    """Conformance cases every live broker passes (TC-L01..L06)."""

    kind: ClassVar[ProviderKind] = ProviderKind.BROKER
    #: the instrument the cases trade (one the venue lists)
    symbol: ClassVar[str] = "BTC/USDT"

    def venue_harness(self, record: Provider, tmp_path: Path) -> LiveVenueHarness:
        """Start the venue and return its harness. Subclasses must override this."""
        raise NotImplementedError(
            f"{type(self).__qualname__} must define venue_harness(record, tmp_path) "
            "returning a LiveVenueHarness for its venue"
        )

    @pytest.fixture
    def venue(self, rbt_provider_record: Provider, tmp_path: Path) -> Iterator[LiveVenueHarness]:
        """The started venue, stopped after the case."""
        harness = self.venue_harness(rbt_provider_record, tmp_path)
        try:
            yield harness
        finally:
            harness.close()

    # -- driving ----------------------------------------------------------------------
    def drive(
        self,
        venue: LiveVenueHarness,
        scenario: Callable[[LiveBroker, EventSink, Asset], Awaitable[None]],
    ) -> tuple[LiveBroker, EventSink]:
        """Run ``scenario`` with the broker's stream running beside it."""
        broker = venue.make_broker()
        assert isinstance(broker, LiveBroker), f"{broker!r} is not a LiveBroker"
        sink = EventSink()
        broker.connect(sink)
        listed = {a.symbol: a for a in broker.instruments()}
        assert self.symbol in listed, f"the venue does not list {self.symbol}"
        asset = listed[self.symbol]

        async def main() -> None:
            stream = asyncio.create_task(broker.run())
            try:
                await asyncio.sleep(0)
                await scenario(broker, sink, asset)
                if stream.done():
                    stream.result()  # the stream died: show why
            finally:
                broker.close()
                stream.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await stream

        asyncio.run(main())
        return broker, sink

    def resting(
        self, venue: LiveVenueHarness, asset: Asset, case: str, n: int = 1, factor: int = 1
    ) -> Order:
        """A limit buy well below the market (it rests until the venue fills it)."""
        price = venue.price(asset) * Decimal("0.95")
        price = (price / asset.tick_size).to_integral_value(ROUND_DOWN) * asset.tick_size
        return Order(
            id=f"kit-{case}-{n}-{venue.now() % 1_000_000_007}",
            asset=asset,
            amount=venue.quantity(asset) * factor,
            created=venue.now(),
            style=OrderStyle(type=OrderType.LIMIT, limit_price=price),
        )

    @staticmethod
    def _accepted(sink: EventSink, order_id: str) -> Callable[[], bool]:
        return lambda: sink.order(order_id).status is not OrderStatus.SUBMITTED

    # -- cases ------------------------------------------------------------------------
    def test_tc_l01_submit_rest_and_fill(self, venue: LiveVenueHarness) -> None:
        """TC-L01: accepted, found open by client id, filled by the venue, exactly."""
        box: dict[str, Order] = {}

        async def scenario(broker: LiveBroker, sink: EventSink, asset: Asset) -> None:
            order = box["order"] = self.resting(venue, asset, "l01")
            broker.submit(sink.add(order))
            await until(self._accepted(sink, order.id), "the order to be accepted")
            assert sink.order(order.id).status is OrderStatus.ACCEPTED
            found = broker.lookup(order.id)
            assert found is not None, "lookup does not find an accepted order"
            assert found.status == "open", found
            assert found.amount == order.amount
            venue.fill(order.id)
            await until(lambda: sink.order(order.id).status is OrderStatus.FILLED, "the fill")
            done = broker.lookup(order.id)
            assert done is not None
            assert done.status == "filled"
            assert done.filled == order.amount

        _broker, sink = self.drive(venue, scenario)
        order = box["order"]
        assert sink.filled(order.id) == order.amount
        for fill in sink.fills:
            for field in ("amount", "price", "commission"):
                assert type(getattr(fill, field)) is Decimal, f"fill.{field} is not a Decimal"
            assert type(fill.ts) is int
            assert fill.order_id == order.id
            assert fill.price > 0

    @requires(CANCEL)
    def test_tc_l02_cancel(self, venue: LiveVenueHarness) -> None:
        """TC-L02: a resting order is cancelled; lookup and snapshot agree."""

        async def scenario(broker: LiveBroker, sink: EventSink, asset: Asset) -> None:
            order = self.resting(venue, asset, "l02")
            broker.submit(sink.add(order))
            await until(self._accepted(sink, order.id), "the order to be accepted")
            sink.tracker.transition(order.id, OrderEventKind.CANCEL_REQUEST)
            broker.cancel(order.id)
            await until(lambda: not sink.order(order.id).is_open, "the cancel")
            assert sink.order(order.id).status is OrderStatus.CANCELLED
            found = broker.lookup(order.id)
            assert found is not None
            assert found.status in ("cancelled", "canceled"), found
            assert order.id not in {o.client_order_id for o in broker.snapshot().open_orders}

        _broker, sink = self.drive(venue, scenario)
        assert sink.fills == []

    @requires(PARTIAL_FILLS)
    def test_tc_l03_partial_fills(self, venue: LiveVenueHarness) -> None:
        """TC-L03: two partial fills through the state machine, exact quantities."""
        box: dict[str, Order] = {}

        async def scenario(broker: LiveBroker, sink: EventSink, asset: Asset) -> None:
            order = box["order"] = self.resting(venue, asset, "l03", factor=2)
            half = order.amount / 2
            broker.submit(sink.add(order))
            await until(self._accepted(sink, order.id), "the order to be accepted")
            venue.fill(order.id, half)
            await until(lambda: sink.filled(order.id) == half, "the first partial fill")
            assert sink.order(order.id).status is OrderStatus.PARTIALLY_FILLED
            found = broker.lookup(order.id)
            assert found is not None
            assert found.status == "open"
            assert found.filled == half
            venue.fill(order.id, half)
            await until(lambda: sink.order(order.id).status is OrderStatus.FILLED, "the rest")

        _broker, sink = self.drive(venue, scenario)
        order = box["order"]
        assert sink.filled(order.id) == order.amount
        assert sink.order(order.id).filled == order.amount
        assert len({f.id for f in sink.fills}) == len(sink.fills) >= 2

    @requires(LOOKUP)
    def test_tc_l04_unknown_outcome_resolved_by_client_id(self, venue: LiveVenueHarness) -> None:
        """TC-L04: a lost submit reply raises; the order is found by client id, once."""
        raised: list[BaseException] = []

        async def scenario(broker: LiveBroker, sink: EventSink, asset: Asset) -> None:
            order = self.resting(venue, asset, "l04")
            venue.drop_next_submit_response()
            tracked = sink.add(order)
            try:
                broker.submit(tracked)
            except (TimeoutError, ConnectionError) as exc:  # OrderOutcomeUnknownError too
                raised.append(exc)
            assert raised, "submit returned normally although its reply was lost"
            found = broker.lookup(order.id)  # the resolution: by client id, never a resend
            assert found is not None, "the venue took the order but lookup does not find it"
            assert found.client_order_id == order.id
            assert found.amount == order.amount
            await asyncio.sleep(0.05)  # let a (wrong) retry layer resend, if it would
            ours = [o for o in broker.snapshot().open_orders if o.client_order_id == order.id]
            assert len(ours) == 1, f"the venue holds {len(ours)} orders with the client id"

        self.drive(venue, scenario)

    @requires(RECONNECT)
    def test_tc_l05_fills_while_disconnected_arrive_once(self, venue: LiveVenueHarness) -> None:
        """TC-L05: fills made while the stream was down arrive after it reconnects, once."""
        box: dict[str, Order] = {}

        async def scenario(broker: LiveBroker, sink: EventSink, asset: Asset) -> None:
            order = box["order"] = self.resting(venue, asset, "l05")
            broker.submit(sink.add(order))
            await until(self._accepted(sink, order.id), "the order to be accepted")
            venue.disconnect_stream()
            venue.fill(order.id)
            venue.restore_stream()
            await until(
                lambda: sink.order(order.id).status is OrderStatus.FILLED, "the caught-up fill"
            )
            venue_ids = [f.id for f in broker.fills_since(0) if f.order_id == order.id]
            assert sorted(venue_ids) == sorted(f.id for f in sink.fills)

        _broker, sink = self.drive(venue, scenario)
        order = box["order"]
        assert sink.filled(order.id) == order.amount  # applied once, duplicates dropped

    @requires(RECONCILIATION)
    def test_tc_l06_snapshot_agrees_with_fills(self, venue: LiveVenueHarness) -> None:
        """TC-L06: positions move by exactly the fills; open orders are the unfinished ones."""

        async def scenario(broker: LiveBroker, sink: EventSink, asset: Asset) -> None:
            full = self.resting(venue, asset, "l06", 1)
            part = self.resting(venue, asset, "l06", 2, factor=2)
            before = broker.snapshot().positions.get(asset.symbol, Decimal(0))
            for order in (full, part):
                broker.submit(sink.add(order))
                await until(self._accepted(sink, order.id), "the orders to be accepted")
            venue.fill(full.id)
            venue.fill(part.id, part.amount / 2)
            await until(lambda: sink.filled(full.id) == full.amount, "the full fill")
            await until(lambda: sink.filled(part.id) == part.amount / 2, "the partial fill")
            after = broker.snapshot()
            moved = after.positions.get(asset.symbol, Decimal(0)) - before
            assert moved == full.amount + part.amount / 2, (
                f"the venue's position moved by {moved}, the fills add up to "
                f"{full.amount + part.amount / 2}"
            )
            open_ids = {o.client_order_id: o for o in after.open_orders}
            assert part.id in open_ids
            assert full.id not in open_ids
            assert open_ids[part.id].filled == part.amount / 2
            ours = {f.id for f in broker.fills_since(0) if f.order_id in (full.id, part.id)}
            assert ours == {f.id for f in sink.fills}

        self.drive(venue, scenario)


class PaperVenueHarness:
    """The paper broker's venue for the TC-L cases: its own SQLite store and a growing
    portal on which :meth:`fill` prints a bar at the order's limit (a real match)."""

    MINUTE = 60_000_000_000
    T0 = 1_704_067_200_000_000_000  # 2024-01-01 00:00 UTC

    def __init__(self, record: Provider, root: Path, symbol: str = "BTC/USDT") -> None:
        from rbt.finance.commission import NoCommission
        from rbt.finance.slippage import FixedBasisPointsSlippage
        from rbt.kernel.clock import Frequency
        from rbt.kernel.model import AssetClass
        from rbt.live.paper import VenueStore
        from rbt.live.stream import GrowingPortal
        from rbt.plugins.calendars import get_calendar

        self.asset = Asset(
            sid=1,
            symbol=symbol,
            asset_class=AssetClass.CRYPTO,
            calendar="always_open",
            quote_currency=symbol.partition("/")[2] or "USD",
            tick_size=Decimal("0.01"),
            lot_size=Decimal("0.0001"),
        )
        self.portal: GrowingPortal = GrowingPortal(
            [self.asset], get_calendar("always_open"), Frequency.MINUTE
        )
        self.reference = Decimal("100.00")
        self._print(self.reference, Decimal(1000))
        self.store = VenueStore(root / "paper-venue.sqlite", cash=Decimal(1_000_000))
        self.record = record
        self.models: dict[str, Any] = {
            "commission": NoCommission(),
            "slippage": FixedBasisPointsSlippage(basis_points=0, volume_limit=1),
        }
        self.broker: PaperBroker | None = None

    def _print(self, price: Decimal, volume: Decimal) -> None:
        from rbt.live.feed import Bar

        end = (self.portal.last_end or self.T0) + self.MINUTE
        self.portal.append(end, {0: Bar(end, price, price, price, price, volume, 1)})
        self.portal.advance(end)

    def make_broker(self) -> LiveBroker:
        broker = self.record.create(
            self.portal, store=self.store, fill_timing="next_close", **self.models
        )
        self.broker = broker
        assert isinstance(broker, LiveBroker)
        return broker

    def now(self) -> int:
        return self.portal.now

    def price(self, asset: Asset) -> Decimal:
        return self.reference

    def quantity(self, asset: Asset) -> Decimal:
        return Decimal("0.5")

    def fill(self, client_order_id: str, amount: Decimal | None = None) -> None:
        assert self.broker is not None
        row = self.store.order(client_order_id)
        assert row is not None, f"the paper venue has no order {client_order_id}"
        buy = Decimal(row["amount"]) > 0
        # a print through the limit: buys fill below the reference, sells above
        price = self.reference * (Decimal("0.90") if buy else Decimal("1.10"))
        open_amount = abs(Decimal(row["amount"]) - Decimal(row["filled"]))
        self._print(price.quantize(Decimal("0.01")), amount or open_amount)
        self.broker.on_bar(self.portal.now)

    def drop_next_submit_response(self) -> None:
        assert self.broker is not None
        self.broker.unknown_outcome_at = frozenset({self.broker.submits + 1})

    def disconnect_stream(self) -> None:
        assert self.broker is not None
        self.broker.disconnect()

    def restore_stream(self) -> None:
        assert self.broker is not None
        self.broker.reconnect()

    def close(self) -> None:
        self.store.close()
