"""Helpers for tests of the adapter against rbt-venue-sim (no network beyond loopback).

:class:`EventLog` is a :class:`~rbt.kernel.broker.BrokerEvents` sink that applies every
report to the kernel's own :class:`~rbt.kernel.broker.OrderTracker` (the one state
machine), so an invalid transition or an overfill fails the test where it happens.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from rbt.kernel.broker import OrderTracker, VenueEndpoint
from rbt.kernel.model import Asset, Fill, Order, OrderStatus, OrderStyle, OrderType
from rbt.kernel.orders import OrderEventKind
from rbt.kernel.secrets import Secret

__all__ = [
    "EventLog",
    "broker_for",
    "sandbox_endpoint",
    "streaming",
    "until",
    "user_stream_subscribed",
]


def sandbox_endpoint(sim: Any) -> VenueEndpoint:
    """The endpoint of a running :class:`rbt_venue_sim.testing.VenueSim`."""
    return VenueEndpoint(
        mode="sandbox",
        urls={"rest": sim.base_url, "ws": sim.ws_url},
        credentials={"apiKey": Secret(sim.api_key), "secret": Secret(sim.secret)},
    )


def broker_for(sim: Any, symbols: Sequence[str] = ("BTC/USDT",), **options: Any) -> Any:
    """A ``ccxt.binance`` broker pointed at ``sim`` with its own rate limiter."""
    from rbt_ccxt.broker import CcxtBroker
    from rbt_ccxt.limiter import VenueRateLimiter

    options.setdefault("limiter", VenueRateLimiter(f"test@{sim.base_url}"))
    return CcxtBroker(sandbox_endpoint(sim), exchange="binance", symbols=symbols, **options)


class EventLog:
    """A broker event sink over the kernel's order tracker, recording what arrived."""

    def __init__(self) -> None:
        self.tracker = OrderTracker()
        self.events: list[tuple[str, OrderEventKind | None, str]] = []
        self.fills: list[Fill] = []
        self.seq = 0

    def new_order(
        self,
        asset: Asset,
        amount: str | Decimal,
        *,
        limit: str | None = None,
        order_id: str | None = None,
        created: int = 0,
    ) -> Order:
        """An order in state SUBMITTED, tracked, ready for ``broker.submit``."""
        self.seq += 1
        style = (
            OrderStyle(type=OrderType.LIMIT, limit_price=Decimal(limit))
            if limit is not None
            else OrderStyle()
        )
        order = Order(
            id=order_id or f"t-run-{self.seq}",
            asset=asset,
            amount=Decimal(amount),
            created=created,
            style=style,
            status=OrderStatus.NEW,
        )
        self.tracker.add(order)
        return self.tracker.transition(order.id, OrderEventKind.SUBMIT)

    def cancel_requested(self, order_id: str) -> None:
        self.tracker.transition(order_id, OrderEventKind.CANCEL_REQUEST)

    # -- BrokerEvents --------------------------------------------------------------
    def order_event(self, order_id: str, kind: OrderEventKind, ts: int, reason: str = "") -> None:
        self.events.append((order_id, kind, reason))
        self.tracker.transition(order_id, kind, reason)

    def fill(self, fill: Fill) -> None:
        self.events.append((fill.order_id, None, fill.id))
        self.fills.append(fill)
        self.tracker.apply_fill(fill)

    # -- reading -------------------------------------------------------------------
    def order(self, order_id: str) -> Order:
        order = self.tracker.get(order_id)
        assert order is not None, order_id
        return order

    def kinds(self, order_id: str) -> list[str]:
        """The events of one order: kind values, ``fill`` for fills."""
        return [k.value if k is not None else "fill" for o, k, _ in self.events if o == order_id]

    def filled(self, order_id: str) -> Decimal:
        return sum((f.amount for f in self.fills if f.order_id == order_id), Decimal(0))


async def until(predicate: Any, *, timeout: float = 20.0, interval: float = 0.02) -> Any:
    """Poll ``predicate()`` (sync; run in a thread) until it is truthy; return its value."""
    import asyncio

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = await asyncio.to_thread(predicate)
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout} s: {predicate}")
        await asyncio.sleep(interval)


def user_stream_subscribed(sim: Any, count: int = 1) -> bool:
    """Whether ``count`` user-data subscriptions are live at the simulator."""
    clients = sim.state()["clients"]
    return sum(1 for c in clients if c["kind"] in ("api", "user") and c["account"]) >= count


def streaming(broker: Any, sim: Any, scenario: Any, *, timeout: float = 60.0) -> Any:
    """Run ``await scenario()`` while ``broker.run()`` streams (after it subscribed)."""
    import asyncio

    async def main() -> Any:
        task = asyncio.create_task(broker.run())
        try:
            await until(lambda: task.done() or user_stream_subscribed(sim))
            if task.done():
                task.result()
            return await asyncio.wait_for(scenario(), timeout)
        finally:
            broker.close()
            await asyncio.wait_for(task, 30)

    return asyncio.run(main())
