"""Shared harness of the execution tests: real bars, portal, SimBroker, Ledger and Session.

Bars are given per bar as ``(open, high, low, close, volume)`` on consecutive XNYS
sessions from 2024-03-04; orders are placed in a bar's strategy turn (where
``handle_data`` runs), so an order placed on bar *t* is matched from bar *t+1* on.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from decimal import Decimal

import numpy as np

from rbt.data.bars import bars_from_floats
from rbt.data.portal import BarPortal
from rbt.finance.commission import NoCommission
from rbt.finance.slippage import NoSlippage
from rbt.kernel.broker import ClientOrderIds
from rbt.kernel.clock import SimClock
from rbt.kernel.events import OrderFilled, StrategyTurn
from rbt.kernel.ledger import Ledger
from rbt.kernel.model import Asset, Fill, Order, OrderStyle
from rbt.kernel.orders import validation_check
from rbt.kernel.session import Session
from rbt.plugins.calendars import get_calendar
from rbt.plugins.sim_broker import SimBroker

CAL = get_calendar("XNYS")
SESSIONS = list(CAL.sessions(dt.date(2024, 3, 4), dt.date(2024, 4, 30)))
A = Asset(sid=1, symbol="AAA")
D = Decimal
CAPITAL = D(1_000_000)
Row = tuple[float, float, float, float, float]


def ohlcv(rows: Sequence[Row], asset: Asset = A):
    """Daily bars of one asset from ``(open, high, low, close, volume)`` rows."""
    arr = np.array(rows, dtype=float)
    names = ("open", "high", "low", "close", "volume")
    fields = {name: arr[:, [i]] for i, name in enumerate(names)}
    return bars_from_floats([asset], SESSIONS[: len(rows)], fields)


class Sim:
    """A session over ``bars``; ``at(i, fn)`` runs ``fn(sim)`` in bar ``i``'s turn."""

    def __init__(
        self,
        bars,
        *,
        commission=None,
        slippage=None,
        fill_timing="next_close",
        validate: bool = True,
    ):
        self.n = len(bars.sessions)
        self.portal = BarPortal(bars, CAL)
        self.broker = SimBroker(
            self.portal,
            commission=commission or NoCommission(),
            slippage=slippage or NoSlippage(),
            fill_timing=fill_timing,
        )
        self.ledger = Ledger(CAPITAL)
        self.session = Session(
            portal=self.portal,
            broker=self.broker,
            ledger=self.ledger,
            order_ids=ClientOrderIds("t", "run"),
            checks=[validation_check] if validate else [],
        )
        self.actions: dict[int, list[Callable[[Sim], None]]] = {}
        self.fill_bar: dict[str, list[int]] = {}
        self.session.bus.subscribe(StrategyTurn, self._turn)
        self.session.bus.subscribe(OrderFilled, self._filled)

    def at(self, bar: int, fn: Callable[[Sim], None]) -> None:
        self.actions.setdefault(bar, []).append(fn)

    def place(
        self, bar: int, amount: int | str, style: OrderStyle | None = None, asset: Asset = A
    ) -> list[str]:
        """Place an order in bar ``bar``'s turn; its id lands in the returned list."""
        ids: list[str] = []
        self.at(
            bar,
            lambda s: ids.append(s.session.place_order(asset, D(amount), style or OrderStyle()).id),
        )
        return ids

    def _turn(self, event: StrategyTurn) -> None:
        for fn in self.actions.get(SESSIONS.index(event.session), []):
            fn(self)

    def _filled(self, event: OrderFilled) -> None:
        self.fill_bar.setdefault(event.fill.order_id, []).append(
            SESSIONS.index(self.session.session_label)
        )

    def run(self) -> Sim:
        self.session.run(SimClock(CAL, SESSIONS[0], SESSIONS[self.n - 1]))
        return self

    def order(self, ids: list[str] | str) -> Order:
        order = self.session.orders.get(ids if isinstance(ids, str) else ids[0])
        assert order is not None
        return order

    def fills(self, ids: list[str] | str) -> list[Fill]:
        oid = ids if isinstance(ids, str) else ids[0]
        return [f for f in self.session.fills if f.order_id == oid]

    def prices(self, ids: list[str] | str) -> list[tuple[Decimal, Decimal]]:
        return [(f.amount, f.price) for f in self.fills(ids)]
