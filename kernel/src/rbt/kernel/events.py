"""Events carried by the :class:`~rbt.kernel.bus.EventBus`.

Every event has a timestamp ``ts`` (UTC ns) and a class-level ``rank``; the
bus delivers events in non-decreasing ``(ts, rank)`` order. Within one
timestamp the order is, for every run mode:

====  ======================  ==============================================
rank  event                   meaning
====  ======================  ==============================================
0     SessionStarted          a trading session begins
1     BeforeTradingStart      the strategy's ``before_trading_start``
2     BarClosed               the bar ending at ``ts`` is now visible
3     OrderUpdated/Filled     broker events caused by that bar (matching),
      StrategyTurn            then the strategy's turn (``handle_data``,
      OrderUpdated            scheduled functions), then the orders it placed
4     SessionClosed           positions are marked, performance recorded
====  ======================  ==============================================

So a bar is visible before any fill it causes, fills of a bar are booked
before the strategy sees the bar (``handle_data`` then sees the updated
portfolio), and an order placed at a bar can fill at the next bar at the
earliest.
"""

from __future__ import annotations

import datetime as dt
from typing import ClassVar

import attrs

from rbt.kernel.model import Fill, Order, OrderStatus

__all__ = [
    "BarClosed",
    "BeforeTradingStart",
    "Event",
    "OrderFilled",
    "OrderUpdated",
    "SessionClosed",
    "SessionStarted",
    "StrategyTurn",
]


@attrs.frozen
class Event:
    """Base of all bus events."""

    ts: int
    rank: ClassVar[int] = 0


@attrs.frozen
class SessionStarted(Event):
    """A trading session begins."""

    session: dt.date
    rank: ClassVar[int] = 0


@attrs.frozen
class BeforeTradingStart(Event):
    """Time for the strategy's ``before_trading_start``."""

    session: dt.date
    rank: ClassVar[int] = 1


@attrs.frozen
class BarClosed(Event):
    """The bars ending at ``ts`` are visible through the portal."""

    session: dt.date
    rank: ClassVar[int] = 2


@attrs.frozen
class OrderUpdated(Event):
    """An order changed state."""

    order: Order
    previous: OrderStatus
    rank: ClassVar[int] = 3


@attrs.frozen
class OrderFilled(Event):
    """A fill was booked in the ledger."""

    fill: Fill
    order: Order
    rank: ClassVar[int] = 3


@attrs.frozen
class StrategyTurn(Event):
    """The strategy decides on the bar ending at ``ts`` (after that bar's fills)."""

    session: dt.date
    rank: ClassVar[int] = 3


@attrs.frozen
class SessionClosed(Event):
    """A trading session ended; positions are marked at the close."""

    session: dt.date
    rank: ClassVar[int] = 4
