"""The one order state machine, and the one order validation, shared by every broker.

The transitions are a literal table (:data:`TRANSITIONS`) that tests enumerate.
Real venues deliver fills late: a fill after a cancel request or after the
cancel itself is legal (a late fill), and a fill may arrive before the venue's
acknowledgement.

Validation (reliability.md §D.1) happens in two steps used by backtest, paper
and live alike:

1. :func:`round_order` rounds what the strategy asked for to the instrument's
   grid: the quantity toward zero to the lot, limit prices to the passive side
   of the tick (buys down, sells up), stop triggers in the direction that does
   not trigger earlier (buy stops up, sell stops down), trailing distances up
   (wider). Rounding an already rounded order changes nothing.
2. :func:`validate_order` checks the rounded order and returns a denial reason
   ``"CODE: message"`` (codes in :class:`ReasonCode`) or None. The session runs
   it as a pre-trade check (:func:`validation_check`), so an invalid order ends
   DENIED — an order status with a reason, never an exception, and never
   anything booked.

Decisions on orders that are valid numbers but questionable:

* A limit on the "wrong" side of the market (a buy limit above the last price)
  is accepted: it is a marketable limit — a market order with a price cap —
  and is charged as a taker.
* A stop that would trigger at the current price (a buy stop at or below the
  last price, a sell stop at or above it) is denied with
  ``STOP_WOULD_TRIGGER``, as venues do ("order would immediately trigger"):
  use a market or limit order for that.
* The minimum notional is checked at the limit price (limit, stop-limit), the
  stop price (stop) or the last price (market, trailing stop); without any
  price yet it cannot be checked and the order passes.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, Decimal
from types import MappingProxyType
from typing import Any

import attrs

from rbt.kernel.errors import DataError, InvalidTransitionError
from rbt.kernel.model import (
    MARKET,
    Asset,
    Order,
    OrderStatus,
    OrderStyle,
    OrderType,
    TimeInForce,
)
from rbt.kernel.numeric import has_exponent_zero, ledger_context, quantize

__all__ = [
    "TERMINAL",
    "TRANSITIONS",
    "OrderEventKind",
    "ReasonCode",
    "next_status",
    "reason",
    "round_order",
    "validate_market",
    "validate_order",
    "validation_check",
]


class OrderEventKind(enum.Enum):
    """What can happen to an order."""

    __hash__ = object.__hash__  # members are singletons: hash by identity, in C

    SUBMIT = "submit"  # the intent left for the venue
    ACCEPT = "accept"  # the venue acknowledged it
    DENY = "deny"  # a pre-trade check refused it before the network
    REJECT = "reject"  # the venue refused it
    PARTIAL_FILL = "partial_fill"
    FILL = "fill"  # the order is now completely filled
    CANCEL_REQUEST = "cancel_request"
    CANCEL = "cancel"
    EXPIRE = "expire"


S = OrderStatus
E = OrderEventKind

#: (state, event) -> next state. Anything absent is an invalid transition.
TRANSITIONS: Mapping[tuple[OrderStatus, OrderEventKind], OrderStatus] = MappingProxyType(
    {
        (S.NEW, E.SUBMIT): S.SUBMITTED,
        (S.NEW, E.DENY): S.DENIED,
        (S.SUBMITTED, E.ACCEPT): S.ACCEPTED,
        (S.SUBMITTED, E.REJECT): S.REJECTED,
        (S.SUBMITTED, E.PARTIAL_FILL): S.PARTIALLY_FILLED,  # fill before the ack
        (S.SUBMITTED, E.FILL): S.FILLED,
        (S.SUBMITTED, E.CANCEL_REQUEST): S.PENDING_CANCEL,
        (S.SUBMITTED, E.CANCEL): S.CANCELLED,
        (S.SUBMITTED, E.EXPIRE): S.EXPIRED,
        (S.ACCEPTED, E.PARTIAL_FILL): S.PARTIALLY_FILLED,
        (S.ACCEPTED, E.FILL): S.FILLED,
        (S.ACCEPTED, E.CANCEL_REQUEST): S.PENDING_CANCEL,
        (S.ACCEPTED, E.CANCEL): S.CANCELLED,
        (S.ACCEPTED, E.EXPIRE): S.EXPIRED,
        (S.PARTIALLY_FILLED, E.PARTIAL_FILL): S.PARTIALLY_FILLED,
        (S.PARTIALLY_FILLED, E.FILL): S.FILLED,
        (S.PARTIALLY_FILLED, E.CANCEL_REQUEST): S.PENDING_CANCEL,
        (S.PARTIALLY_FILLED, E.CANCEL): S.CANCELLED,
        (S.PARTIALLY_FILLED, E.EXPIRE): S.EXPIRED,
        (S.PENDING_CANCEL, E.PARTIAL_FILL): S.PENDING_CANCEL,
        (S.PENDING_CANCEL, E.FILL): S.FILLED,  # the fill won the race
        (S.PENDING_CANCEL, E.CANCEL): S.CANCELLED,
        (S.PENDING_CANCEL, E.REJECT): S.PARTIALLY_FILLED,  # cancel refused: still working
        (S.PENDING_CANCEL, E.EXPIRE): S.EXPIRED,
        # late fills after the order already ended
        (S.CANCELLED, E.PARTIAL_FILL): S.CANCELLED,
        (S.CANCELLED, E.FILL): S.FILLED,
        (S.EXPIRED, E.PARTIAL_FILL): S.EXPIRED,
        (S.EXPIRED, E.FILL): S.FILLED,
    }
)
del S, E

#: States no event leaves, except the late fills listed in the table.
TERMINAL = frozenset(
    {
        OrderStatus.FILLED,
        OrderStatus.CANCELLED,
        OrderStatus.REJECTED,
        OrderStatus.EXPIRED,
        OrderStatus.DENIED,
    }
)


def next_status(status: OrderStatus, event: OrderEventKind) -> OrderStatus:
    """Return the state after ``event``.

    :raises InvalidTransitionError: when the table has no such transition.
    """
    try:
        return TRANSITIONS[(status, event)]
    except KeyError:
        allowed = sorted(e.value for (s, e) in TRANSITIONS if s is status)
        raise InvalidTransitionError(
            f"order event {event.value!r} is not allowed in state {status.value!r}; "
            f"allowed: {', '.join(allowed) or 'none'}"
        ) from None


# -- reasons ---------------------------------------------------------------------------


class ReasonCode(enum.Enum):
    """Machine-readable causes of denied, rejected, expired and cancelled orders."""

    INVALID_QUANTITY = "INVALID_QUANTITY"  # zero, NaN, infinite
    INVALID_PRICE = "INVALID_PRICE"  # zero, negative, NaN, infinite
    OFF_GRID = "OFF_GRID"  # quantity not a whole number of lots, price not on the tick
    BELOW_MIN_NOTIONAL = "BELOW_MIN_NOTIONAL"
    STOP_WOULD_TRIGGER = "STOP_WOULD_TRIGGER"
    INVALID_STYLE = "INVALID_STYLE"  # missing prices, bad trailing distance, GTD without date
    ASSET_NOT_TRADING = "ASSET_NOT_TRADING"  # outside the asset's listed life
    UNSUPPORTED = "UNSUPPORTED"  # a style the broker cannot simulate
    NO_DATA = "NO_DATA"  # the asset has no bars at all
    NO_VOLUME = "NO_VOLUME"  # IOC/FOK on a bar without volume
    NO_BAR = "NO_BAR"  # IOC/FOK on a bar the asset did not trade
    NOT_TRIGGERED = "NOT_TRIGGERED"  # IOC/FOK whose price was not reached
    IOC = "IOC"  # remainder of an immediate-or-cancel order
    FOK = "FOK"  # fill-or-kill could not fill completely
    DAY = "DAY"  # a day order at its session's close
    GTD = "GTD"  # a good-till-date order after its date
    OCO = "OCO"  # another order of its group filled
    BRACKET = "BRACKET"  # its bracket ended (entry gone or exits done)
    REPLACED = "REPLACED"  # cancel and replace
    TRADING_CONTROL = "TRADING_CONTROL"
    INSUFFICIENT_CASH = "INSUFFICIENT_CASH"


def reason(code: ReasonCode, message: str) -> str:
    """The reason text ``"CODE: message"`` (:attr:`Order.reason_code` parses it back)."""
    return f"{code.value}: {message}"


# -- rounding and validation (reliability.md §D.1) ----------------------------------------


def _finite(value: Decimal | None) -> bool:
    return value is not None and value.is_finite()


def round_order(asset: Asset, amount: Decimal, style: OrderStyle) -> tuple[Decimal, OrderStyle]:
    """Round ``amount`` and the prices of ``style`` to ``asset``'s grid (see the module doc).

    Non-finite values are returned unchanged, for :func:`validate_order` to deny.
    Idempotent: rounding the result again returns it unchanged.
    """
    buy = _finite(amount) and amount > 0
    if _finite(amount):
        amount = quantize(amount, asset.lot_size, ROUND_DOWN)
    tick = asset.tick_size
    changes: dict[str, Any] = {}
    limit, stop, trail = style.limit_price, style.stop_price, style.trail_amount
    if _finite(limit) and limit is not None:
        changes["limit_price"] = quantize(limit, tick, ROUND_FLOOR if buy else ROUND_CEILING)
    if _finite(stop) and stop is not None:
        # a buy stop triggers when the price rises to it: up is later; a sell stop the reverse
        changes["stop_price"] = quantize(stop, tick, ROUND_CEILING if buy else ROUND_FLOOR)
    if _finite(trail) and trail is not None:
        changes["trail_amount"] = quantize(trail, tick, ROUND_CEILING)
    if changes:
        style = attrs.evolve(style, **changes)
    return amount, style


def _on_grid(value: Decimal, increment: Decimal) -> bool:
    if increment == 1 and has_exponent_zero(value):
        return True  # an integer is on the unit grid (whatever the unit's exponent)
    with ledger_context():
        return value % increment == 0


def validate_order(
    order: Order, *, last_price: Decimal | None = None, session: dt.date | None = None
) -> str | None:
    """Return why ``order`` must be denied (``"CODE: message"``), or None when it is valid.

    :param last_price: the asset's last exact price, for the stop and notional checks.
    :param session: the current session, for the asset's listed life and GTD dates.
    """
    asset, style, amount = order.asset, order.style, order.amount
    r = ReasonCode
    denied = _quantity_denial(asset, amount)
    if denied is not None:
        return denied
    if style is not MARKET:  # the shared plain market style has no prices, links or dates
        denied = _style_denial(style, asset, session)
        if denied is not None:
            return denied
    if session is not None:
        denied = _listing_denial(asset, session)
        if denied is not None:
            return denied
    buy = amount > 0
    stop = style.stop_price
    if (
        stop is not None
        and last_price is not None
        and (stop <= last_price if buy else stop >= last_price)
    ):
        side = "buy" if buy else "sell"
        return reason(
            r.STOP_WOULD_TRIGGER,
            f"{side} stop {stop} would trigger at the last price {last_price}; "
            "use a market or limit order",
        )
    if asset.min_notional > 0:
        price = style.limit_price or style.stop_price or last_price
        if price is not None:
            notional = abs(amount) * price * asset.multiplier
            if notional < asset.min_notional:
                return reason(
                    r.BELOW_MIN_NOTIONAL,
                    f"notional {notional} is below the minimum {asset.min_notional}",
                )
    return None


def validate_market(asset: Asset, amount: Decimal, session: dt.date | None) -> str | None:
    """:func:`validate_order` of a plain market order (the shared ``MARKET`` style) of
    ``amount`` in ``asset``, for an asset without a minimum notional (no last price needed).

    .. versionadded:: 0.1
    """
    if amount and has_exponent_zero(amount) and asset.lot_size == 1:
        denied = None  # a non-zero whole number of a unit lot: finite and on the grid
    else:
        denied = _quantity_denial(asset, amount)
    if denied is None and session is not None:
        return _listing_denial(asset, session)
    return denied


def _quantity_denial(asset: Asset, amount: Decimal) -> str | None:
    """Why ``amount`` is not an order quantity of ``asset`` (zero, not finite, off the lot)."""
    if not _finite(amount) or amount == 0:
        return reason(ReasonCode.INVALID_QUANTITY, f"quantity {amount} is not a non-zero number")
    if not _on_grid(amount, asset.lot_size):
        return reason(
            ReasonCode.OFF_GRID, f"quantity {amount} is not a multiple of the lot {asset.lot_size}"
        )
    return None


def _listing_denial(asset: Asset, session: dt.date) -> str | None:
    """Why ``asset`` cannot be traded in ``session`` (before its listing, after its end, on
    or after its auto-close date)."""
    r = ReasonCode
    if asset.start_date is not None and session < asset.start_date:
        return reason(r.ASSET_NOT_TRADING, f"{asset!r} trades from {asset.start_date}")
    last = asset.end_date
    if last is not None and session > last:
        return reason(r.ASSET_NOT_TRADING, f"{asset!r} stopped trading on {last}")
    if asset.auto_close_date is not None and session >= asset.auto_close_date:
        return reason(r.ASSET_NOT_TRADING, f"{asset!r} closes out on {asset.auto_close_date}")
    return None


def _style_denial(style: OrderStyle, asset: Asset, session: dt.date | None) -> str | None:
    """Why ``style`` is invalid for ``asset`` (prices, trailing distance, GTD), or None."""
    r = ReasonCode
    kind = style.type
    needs_limit = kind in (OrderType.LIMIT, OrderType.STOP_LIMIT)
    needs_stop = kind in (OrderType.STOP, OrderType.STOP_LIMIT)
    for name, value, needed in (
        ("limit price", style.limit_price, needs_limit),
        ("stop price", style.stop_price, needs_stop),
    ):
        if value is None:
            if needed:
                return reason(r.INVALID_STYLE, f"a {kind.value} order needs a {name}")
            continue
        if not needed:
            return reason(r.INVALID_STYLE, f"a {kind.value} order takes no {name}")
        if not value.is_finite() or value <= 0:
            return reason(r.INVALID_PRICE, f"{name} {value} is not a positive number")
        if not _on_grid(value, asset.tick_size):
            return reason(r.OFF_GRID, f"{name} {value} is not on the tick {asset.tick_size}")
    if kind is OrderType.TRAILING_STOP:
        given = [v for v in (style.trail_amount, style.trail_percent) if v is not None]
        if len(given) != 1:
            return reason(r.INVALID_STYLE, "a trailing stop needs trail_amount or trail_percent")
        value = given[0]
        if not value.is_finite() or value <= 0 or (style.trail_percent is not None and value >= 1):
            return reason(
                r.INVALID_STYLE,
                f"trailing distance {value} must be positive (a percent below 1)",
            )
    elif style.trail_amount is not None or style.trail_percent is not None:
        return reason(r.INVALID_STYLE, f"a {kind.value} order takes no trailing distance")
    if style.time_in_force is TimeInForce.GTD:
        if style.good_till is None:
            return reason(r.INVALID_STYLE, "a GTD order needs good_till (its last session)")
        if session is not None and style.good_till < session:
            return reason(r.INVALID_STYLE, f"good_till {style.good_till} is before {session}")
    elif style.good_till is not None:
        return reason(r.INVALID_STYLE, "good_till is only for GTD orders")
    return None


def validation_check(order: Order, session: Any) -> str | None:
    """:func:`validate_order` as a session pre-trade check (last price from its portal)."""
    last: Decimal | None = None
    if order.style.stop_price is not None or order.asset.min_notional > 0:
        try:
            last = session.portal.exact_price(order.asset, "close")
        except (DataError, KeyError):
            last = None  # an asset without data: the broker rejects it with NO_DATA
    return validate_order(order, last_price=last, session=session.session_label)
