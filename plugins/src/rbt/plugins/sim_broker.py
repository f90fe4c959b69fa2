"""The simulated broker: matches open orders against each new bar.

Timing (Zipline's, design.md §2.1a.1): an order placed on bar *t* is matched
from bar *t+1* on. The fill model picks the reference price on that bar —
``next_close`` (the default, Zipline's) or ``next_open``. The slippage model
then decides how much fills and at what price, the commission model what it
costs. A bar without data or with zero volume fills nothing; the order stays
open. Market orders only for now (limit/stop styles arrive with issue #3).
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import attrs

from rbt.data.portal import BarPortal
from rbt.kernel import hookimpl
from rbt.kernel.broker import BrokerEvents
from rbt.kernel.costs import BarSnapshot, CommissionModel, SlippageModel
from rbt.kernel.errors import ConfigError
from rbt.kernel.model import Fill, Order, OrderType
from rbt.kernel.numeric import ZERO
from rbt.kernel.orders import OrderEventKind
from rbt.kernel.registry import Provider, ProviderKind

__all__ = ["FILL_TIMINGS", "SimBroker"]

#: Fill-model names and the bar field they take the reference price from.
FILL_TIMINGS = {"next_close": "close", "next_open": "open"}


class SimBroker:
    """A backtest broker over a :class:`~rbt.data.portal.BarPortal`.

    :param portal: the run's data portal (already advanced to the bar).
    :param commission: commission model.
    :param slippage: slippage model.
    :param fill_timing: ``"next_close"`` or ``"next_open"``.
    """

    name = "sim"

    def __init__(
        self,
        portal: BarPortal,
        *,
        commission: CommissionModel,
        slippage: SlippageModel,
        fill_timing: str = "next_close",
    ) -> None:
        try:
            self._price_field = FILL_TIMINGS[fill_timing]
        except KeyError:
            raise ConfigError(
                f"unknown fill timing {fill_timing!r}; choose one of: {', '.join(FILL_TIMINGS)}"
            ) from None
        self.portal = portal
        self.commission = commission
        self.slippage = slippage
        self.fill_timing = fill_timing
        self._events: BrokerEvents | None = None
        self._working: dict[str, Order] = {}
        self._fill_seq: dict[str, int] = {}
        self._matched_row = -1

    def connect(self, events: BrokerEvents) -> None:
        """Report to ``events``."""
        self._events = events

    def submit(self, order: Order) -> None:
        """Accept ``order``; it is matched from the next bar on."""
        events = self._require_events()
        if order.style.type is not OrderType.MARKET:
            events.order_event(
                order.id,
                OrderEventKind.REJECT,
                self.portal.now,
                f"{order.style.type.value} orders are not simulated yet",
            )
            return
        try:
            self.portal.bars.column(order.asset)
        except KeyError:
            reason = f"{order.asset!r} has no data in this bundle"
            events.order_event(order.id, OrderEventKind.REJECT, self.portal.now, reason)
            return
        events.order_event(order.id, OrderEventKind.ACCEPT, self.portal.now)
        self._working[order.id] = attrs.evolve(order, status=order.status)

    def cancel(self, order_id: str) -> None:
        """Cancel a working order at once."""
        if self._working.pop(order_id, None) is not None:
            self._require_events().order_event(order_id, OrderEventKind.CANCEL, self.portal.now)

    def open_orders(self) -> list[Order]:
        """Orders still working."""
        return list(self._working.values())

    def on_bar(self, ts: int) -> None:
        """Match working orders placed before ``ts`` against the bar at the cursor."""
        row = self.portal.row
        if row == self._matched_row:
            return  # no new bar (a session missing from the data): never re-match the old one
        self._matched_row = row
        if not self._working:
            return
        events = self._require_events()
        bars = self.portal.bars
        volumes = bars.floats["volume"]
        used: dict[int, Decimal] = {}
        for order in list(self._working.values()):
            if order.created >= ts or row < 0:
                continue
            col = bars.column(order.asset)
            if not bars.has_bar(row, col) or not volumes[row, col] > 0:
                continue
            snapshot = BarSnapshot(
                open=bars.exact("open", row, col),
                high=bars.exact("high", row, col),
                low=bars.exact("low", row, col),
                close=bars.exact("close", row, col),
                volume=bars.exact("volume", row, col),
            )
            base = snapshot.open if self._price_field == "open" else snapshot.close
            sid = order.asset.sid
            result = self.slippage.fill(order, snapshot, base, used.get(sid, ZERO))
            if result is None:
                continue
            amount, price = result
            if amount == 0:
                continue
            commission = self.commission.calculate(order, amount, price)
            seq = self._fill_seq.get(order.id, 0) + 1
            self._fill_seq[order.id] = seq
            fill = Fill(
                id=f"{order.id}-f{seq}",
                order_id=order.id,
                asset=order.asset,
                amount=amount,
                price=price,
                ts=ts,
                commission=commission,
            )
            used[sid] = used.get(sid, ZERO) + abs(amount)
            filled = order.filled + amount
            if filled == order.amount:
                del self._working[order.id]
            else:
                self._working[order.id] = attrs.evolve(
                    order, filled=filled, commission=order.commission + commission
                )
            events.fill(fill)

    def close(self) -> None:
        """Nothing to release."""

    def _require_events(self) -> BrokerEvents:
        if self._events is None:
            raise RuntimeError("SimBroker.connect() must be called before use")
        return self._events


@hookimpl
def rbt_register_brokers() -> Iterator[Provider]:
    """Register the simulated broker."""
    yield Provider(
        kind=ProviderKind.BROKER,
        name="sim",
        factory="rbt.plugins.sim_broker:SimBroker",
        summary="backtest broker: fills against bars with slippage and commission models",
        capabilities={"market", "cancel", "partial_fills"},
    )


@hookimpl
def rbt_register_fill_models() -> Iterator[Provider]:
    """Register the fill timings."""
    for name, field in FILL_TIMINGS.items():
        yield Provider(
            kind=ProviderKind.FILL_MODEL,
            name=name,
            factory=lambda f=name: f,
            summary=f"an order placed on a bar fills at the next bar's {field}",
        )
