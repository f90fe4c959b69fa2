"""Execution styles with Zipline's names: ``zipline.finance.execution`` → ``rbt.finance.execution``.

``order(asset, 100, style=LimitOrder(10.5))`` works as in Zipline. Each style
becomes a kernel :class:`~rbt.kernel.model.OrderStyle` (:meth:`ExecutionStyle.to_style`);
prices are converted from float at this boundary and rounded to the asset's
tick by :func:`rbt.kernel.orders.round_order` when the order is placed (limits to
the passive side, stops so they trigger later). Unlike Zipline, which checks
limits and stops against the close, the simulated broker triggers them on the
bar's high and low — see the table in :mod:`rbt.plugins.sim_broker`.

Ours, beyond Zipline's: every style takes ``tif`` (``"day"``, ``"gtc"``, ``"ioc"``,
``"fok"``, ``"gtd"``), ``good_till`` (GTD's last session) and ``oco_group``;
:class:`TrailingStopOrder` and :class:`BracketOrder`.
"""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal
from typing import Any

from rbt.kernel.model import Order, OrderStyle, OrderType, TimeInForce
from rbt.kernel.numeric import decimal_from_float, to_decimal
from rbt.kernel.orders import round_order

__all__ = [
    "BracketOrder",
    "ExecutionStyle",
    "LimitOrder",
    "MarketOrder",
    "StopLimitOrder",
    "StopOrder",
    "TrailingStopOrder",
    "place_bracket_exits",
]


def _price(value: Any, name: str) -> Decimal:
    """A price from the strategy: NaN and infinity raise (Zipline's BadOrderParameters)."""
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{name} must be a finite number, got {value!r}")
        return decimal_from_float(value)
    if isinstance(value, bool) or not isinstance(value, int | str | Decimal):
        raise TypeError(f"{name} must be a number, got {value!r}")
    try:
        return to_decimal(value)
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from None


def _tif(value: str | TimeInForce) -> TimeInForce:
    if isinstance(value, TimeInForce):
        return value
    try:
        return TimeInForce(str(value).lower())
    except ValueError:
        names = ", ".join(t.value for t in TimeInForce)
        raise ValueError(f"unknown time in force {value!r}; choose one of: {names}") from None


class ExecutionStyle:
    """Base of the styles: how long the order works and which OCO group it is in."""

    _type = OrderType.MARKET

    def __init__(
        self,
        *,
        exchange: str | None = None,
        tif: str | TimeInForce = TimeInForce.GTC,
        good_till: dt.date | None = None,
        oco_group: str | None = None,
    ) -> None:
        self.exchange = exchange
        self.tif = _tif(tif)
        self.good_till = good_till
        self.oco_group = oco_group
        self.limit_price: Decimal | None = None
        self.stop_price: Decimal | None = None

    def get_limit_price(self, is_buy: bool) -> float | None:
        """Zipline's accessor: the limit price as a float, or None."""
        return None if self.limit_price is None else float(self.limit_price)

    def get_stop_price(self, is_buy: bool) -> float | None:
        """Zipline's accessor: the stop price as a float, or None."""
        return None if self.stop_price is None else float(self.stop_price)

    def to_style(self) -> OrderStyle:
        """The kernel order style."""
        return OrderStyle(
            type=self._type,
            limit_price=self.limit_price,
            stop_price=self.stop_price,
            time_in_force=self.tif,
            good_till=self.good_till,
            oco_group=self.oco_group,
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.to_style()!r})"


class MarketOrder(ExecutionStyle):
    """Fill at the fill model's price (next close by default)."""


class LimitOrder(ExecutionStyle):
    """Buy at ``limit_price`` or lower, sell at it or higher."""

    _type = OrderType.LIMIT

    def __init__(self, limit_price: Any, asset: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.asset = asset
        self.limit_price = _price(limit_price, "limit_price")


class StopOrder(ExecutionStyle):
    """A market order once the price reaches ``stop_price``."""

    _type = OrderType.STOP

    def __init__(self, stop_price: Any, asset: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.asset = asset
        self.stop_price = _price(stop_price, "stop_price")


class StopLimitOrder(ExecutionStyle):
    """A limit order at ``limit_price`` once the price reaches ``stop_price``."""

    _type = OrderType.STOP_LIMIT

    def __init__(self, limit_price: Any, stop_price: Any, asset: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.asset = asset
        self.limit_price = _price(limit_price, "limit_price")
        self.stop_price = _price(stop_price, "stop_price")


class TrailingStopOrder(ExecutionStyle):
    """A stop that follows the market by ``trail_amount`` (price units) or
    ``trail_percent`` (``0.05`` = 5 %); give exactly one."""

    _type = OrderType.TRAILING_STOP

    def __init__(self, trail_amount: Any = None, trail_percent: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if (trail_amount is None) == (trail_percent is None):
            raise ValueError("TrailingStopOrder needs exactly one of trail_amount, trail_percent")
        self.trail_amount = None if trail_amount is None else _price(trail_amount, "trail_amount")
        self.trail_percent = (
            None if trail_percent is None else _price(trail_percent, "trail_percent")
        )

    def to_style(self) -> OrderStyle:
        """The kernel order style."""
        return OrderStyle(
            type=self._type,
            trail_amount=self.trail_amount,
            trail_percent=self.trail_percent,
            time_in_force=self.tif,
            good_till=self.good_till,
            oco_group=self.oco_group,
        )


class BracketOrder:
    """An entry with a take-profit limit and a stop-loss, placed together.

    ``order(asset, 100, style=BracketOrder(take_profit=110, stop_loss=95))`` buys
    100 at market; once (and as far as) it fills, a sell limit at 110 and a sell
    stop at 95 protect it, cancelling each other (see :mod:`rbt.plugins.sim_broker`).
    The exits are GTC. ``order`` returns the entry's id; if any of the three is
    denied, the others are cancelled.

    :param entry: the entry's style (market by default; a limit or stop works too).
    :param take_profit: the exit limit price (above the entry for a long bracket).
    :param stop_loss: the exit stop price (below the entry for a long bracket).
    """

    def __init__(
        self,
        take_profit: Any = None,
        stop_loss: Any = None,
        entry: ExecutionStyle | None = None,
    ) -> None:
        if take_profit is None and stop_loss is None:
            raise ValueError("BracketOrder needs take_profit, stop_loss or both")
        self.entry = entry or MarketOrder()
        self.take_profit = None if take_profit is None else _price(take_profit, "take_profit")
        self.stop_loss = None if stop_loss is None else _price(stop_loss, "stop_loss")

    def exits(self, parent_id: str) -> list[OrderStyle]:
        """The exit styles for entry ``parent_id`` (one OCO group)."""
        group = f"bracket-{parent_id}"
        styles = []
        if self.take_profit is not None:
            styles.append(
                OrderStyle(
                    type=OrderType.LIMIT,
                    limit_price=self.take_profit,
                    oco_group=group,
                    parent_id=parent_id,
                )
            )
        if self.stop_loss is not None:
            styles.append(
                OrderStyle(
                    type=OrderType.STOP,
                    stop_price=self.stop_loss,
                    oco_group=group,
                    parent_id=parent_id,
                )
            )
        return styles

    def __repr__(self) -> str:
        return (
            f"BracketOrder(take_profit={self.take_profit}, stop_loss={self.stop_loss}, "
            f"entry={self.entry!r})"
        )


def place_bracket_exits(session: Any, entry: Order, bracket: BracketOrder) -> list[Order]:
    """Place the exits of ``bracket`` for the just-placed ``entry`` on ``session``.

    All or nothing: when the entry or an exit is denied or rejected, the legs already
    placed are cancelled (the entry's cancel cancels its exits).
    """
    if not entry.is_open:
        return []
    register = getattr(session.broker, "register_bracket_entry", None)
    if register is not None:
        register(entry.id)
    placed: list[Order] = []
    for style in bracket.exits(entry.id):
        amount, rounded = round_order(entry.asset, -entry.amount, style)
        child = session.place_order(entry.asset, amount, rounded)
        placed.append(child)
        if not child.is_open:
            session.cancel_order(entry.id)
            for other in placed:
                session.cancel_order(other.id)
            break
    return placed
