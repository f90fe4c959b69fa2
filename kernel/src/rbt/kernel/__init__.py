"""RustyBT's microkernel: value types, exact ledger, clock, bus, contracts, plugins.

Imports only the standard library, ``attrs`` and ``pluggy``.
"""

from __future__ import annotations

from rbt.kernel.broker import Broker, BrokerEvents, ClientOrderIds, OrderTracker
from rbt.kernel.bus import EventBus
from rbt.kernel.clock import (
    Clock,
    ClockEvent,
    ClockEventKind,
    Frequency,
    SessionTimes,
    SimClock,
    TradingCalendar,
)
from rbt.kernel.hookspecs import hookimpl
from rbt.kernel.ledger import CashFlow, Ledger
from rbt.kernel.manager import RbtPluginManager, make_plugin_manager
from rbt.kernel.model import (
    Account,
    Asset,
    AssetClass,
    Bar,
    Fill,
    Order,
    OrderStatus,
    OrderStyle,
    OrderType,
    Position,
    TimeInForce,
)
from rbt.kernel.portal import DataPortal
from rbt.kernel.registry import Provider, ProviderKind
from rbt.kernel.session import Session

__version__ = "0.1.0"

__all__ = [
    "Account",
    "Asset",
    "AssetClass",
    "Bar",
    "Broker",
    "BrokerEvents",
    "CashFlow",
    "ClientOrderIds",
    "Clock",
    "ClockEvent",
    "ClockEventKind",
    "DataPortal",
    "EventBus",
    "Fill",
    "Frequency",
    "Ledger",
    "Order",
    "OrderStatus",
    "OrderStyle",
    "OrderTracker",
    "OrderType",
    "Position",
    "Provider",
    "ProviderKind",
    "RbtPluginManager",
    "Session",
    "SessionTimes",
    "SimClock",
    "TimeInForce",
    "TradingCalendar",
    "__version__",
    "hookimpl",
    "make_plugin_manager",
]
