"""Value objects of the kernel: assets, bars, orders, fills, positions, accounts.

All are frozen attrs classes. Money and quantities are :class:`~decimal.Decimal`
(see :mod:`rbt.kernel.numeric`); timestamps are ``int`` nanoseconds since the
Unix epoch, UTC, and a bar is stamped with its *end* time (design.md §2.1a.4).
"""

from __future__ import annotations

import datetime as dt
import enum
import operator
import os
from collections.abc import Callable
from decimal import Decimal
from types import ModuleType
from typing import TypeVar

import attrs

from rbt.kernel.numeric import ZERO, to_decimal

_T = TypeVar("_T", bound=attrs.AttrsInstance)
_S = TypeVar("_S")

__all__ = [
    "OPEN_STATUSES",
    "Account",
    "Asset",
    "AssetClass",
    "Bar",
    "Fill",
    "Order",
    "OrderStatus",
    "OrderStyle",
    "OrderType",
    "Position",
    "TimeInForce",
    "new_fill",
    "new_order",
    "positional_builder",
    "replace_order",
    "slot_builder",
]


def _native_module() -> ModuleType | None:
    """The optional C module (:mod:`rbt.kernel._native`, built at install with a C
    compiler), or None: not built, or ``RBT_PURE_PYTHON=1`` in the environment."""
    if os.environ.get("RBT_PURE_PYTHON") == "1":
        return None
    try:
        from rbt.kernel import _native
    except ImportError:
        return None
    return _native


_NATIVE = _native_module()


def positional_builder(cls: type[_T]) -> Callable[..., _T]:
    """``cls(*values)``, the values in the order of ``cls``'s attrs fields, for a slotted
    attrs class whose ``__init__`` only stores them: the C module's builder when it is built
    (the slots set in one call, ≈ 10× faster than ``__init__``), else ``cls`` itself.

    :raises TypeError: for a class whose ``__init__`` does more (a converter, a validator,
        a pre- or post-init hook) or takes its values otherwise (keyword-only or
        ``init=False`` fields), with or without the C module.

    .. versionadded:: 0.1
    """
    fields = attrs.fields(cls)
    if (
        any(f.converter or f.validator or f.kw_only or not f.init for f in fields)
        or hasattr(cls, "__attrs_pre_init__")
        or hasattr(cls, "__attrs_post_init__")
    ):
        raise TypeError(f"{cls.__name__}'s __init__ does more than store its values in order")
    return slot_builder(cls, tuple(f.name for f in fields), cls)


def slot_builder(
    cls: type[_S], names: tuple[str, ...], fallback: Callable[..., _S]
) -> Callable[..., _S]:
    """``fallback(*values)``, where ``fallback`` builds a ``cls`` and only sets its slots
    ``names`` to ``values`` in order: the C module's builder of those slots when it is
    built (no frame), else ``fallback`` itself.

    :raises TypeError: when ``cls`` is not a slotted Python class with those slots (with
        the C module only).

    .. versionadded:: 0.1
    """
    if _NATIVE is None:
        return fallback
    builder: Callable[..., _S] = _NATIVE.SlotBuilder(cls, names)
    return builder


def _dec(value: Decimal | int | str) -> Decimal:
    return to_decimal(value)


def _positive(_inst: object, attribute: attrs.Attribute[Decimal], value: Decimal) -> None:
    if value <= 0:
        raise ValueError(f"{attribute.name} must be positive, got {value}")


def _non_negative(_inst: object, attribute: attrs.Attribute[Decimal], value: Decimal) -> None:
    if value < 0:
        raise ValueError(f"{attribute.name} must not be negative, got {value}")


def _sid(value: object) -> int:
    """An asset id as a Python ``int`` (numpy integers too): it is then its own hash."""
    if isinstance(value, bool):
        raise TypeError(f"asset sid must be an integer, got {value!r}")
    try:
        return operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"asset sid must be an integer, got {value!r}") from None


class AssetClass(enum.Enum):
    """What kind of instrument an :class:`Asset` is."""

    EQUITY = "equity"
    CRYPTO = "crypto"
    FUTURE = "future"
    PERPETUAL = "perpetual"


@attrs.frozen(kw_only=True, eq=False)
class Asset:
    """A tradable instrument with its trading rules.

    Assets compare and hash by ``sid`` alone (as in Zipline): within one bundle
    the sid is the identity, the other fields describe it.

    :param sid: integer id, unique within a bundle.
    :param symbol: ticker as of the bundle's end.
    :param tick_size: price increment.
    :param lot_size: quantity increment (``1`` for whole shares).
    :param min_notional: smallest order value accepted.
    :param multiplier: contract multiplier (futures); ``1`` otherwise.
    :param price_scale: decimal places the bundle stores prices with.
    """

    sid: int = attrs.field(converter=_sid)
    symbol: str = attrs.field(eq=False)
    asset_class: AssetClass = attrs.field(default=AssetClass.EQUITY, eq=False)
    exchange: str = attrs.field(default="", eq=False)
    calendar: str = attrs.field(default="XNYS", eq=False)
    quote_currency: str = attrs.field(default="USD", eq=False)
    tick_size: Decimal = attrs.field(
        default=Decimal("0.01"), converter=_dec, validator=_positive, eq=False
    )
    lot_size: Decimal = attrs.field(
        default=Decimal(1), converter=_dec, validator=_positive, eq=False
    )
    min_notional: Decimal = attrs.field(
        default=ZERO, converter=_dec, validator=_non_negative, eq=False
    )
    multiplier: Decimal = attrs.field(
        default=Decimal(1), converter=_dec, validator=_positive, eq=False
    )
    price_scale: int = attrs.field(default=2, eq=False)
    start_date: dt.date | None = attrs.field(default=None, eq=False)
    end_date: dt.date | None = attrs.field(default=None, eq=False)
    auto_close_date: dt.date | None = attrs.field(default=None, eq=False)

    @property
    def fractional(self) -> bool:
        """Whether quantities below one unit are allowed."""
        return self.lot_size < 1

    # written out (not attrs-generated): ``asset in positions`` hashes once per asset per
    # bar in a typical strategy loop, and this is a third cheaper than a cached hash
    def __eq__(self, other: object) -> bool:
        if other.__class__ is self.__class__:
            return self.sid == other.sid
        return NotImplemented

    def __ne__(self, other: object) -> bool:
        if other.__class__ is self.__class__:
            return self.sid != other.sid
        return NotImplemented

    def __hash__(self) -> int:
        return self.sid

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.sid} [{self.symbol}])"


if _NATIVE is not None:
    # the same hash as __hash__ above, without its Python frame (a third of the cost of
    # ``asset in positions``); a subclass of Asset keeps calling __hash__
    _NATIVE.hash_by_slot(Asset, "sid")


@attrs.frozen(kw_only=True)
class Bar:
    """One OHLCV bar, stamped with its end time (``ts``, UTC nanoseconds)."""

    asset: Asset
    ts: int
    open: Decimal = attrs.field(converter=_dec)
    high: Decimal = attrs.field(converter=_dec)
    low: Decimal = attrs.field(converter=_dec)
    close: Decimal = attrs.field(converter=_dec)
    volume: Decimal = attrs.field(converter=_dec, validator=_non_negative)

    def __attrs_post_init__(self) -> None:
        if not (self.low <= min(self.open, self.close) and max(self.open, self.close) <= self.high):
            raise ValueError(
                f"inconsistent bar for {self.asset.symbol} at {self.ts}: "
                f"expected low <= open, close <= high, got o={self.open} h={self.high} "
                f"l={self.low} c={self.close}"
            )


class OrderType(enum.Enum):
    """How an order's price is determined."""

    __hash__ = object.__hash__  # members are singletons: hash by identity, in C

    MARKET = "market"
    LIMIT = "limit"
    STOP = "stop"
    STOP_LIMIT = "stop_limit"
    TRAILING_STOP = "trailing_stop"


class TimeInForce(enum.Enum):
    """How long an order stays working."""

    __hash__ = object.__hash__  # members are singletons: hash by identity, in C

    DAY = "day"
    GTC = "gtc"
    IOC = "ioc"
    FOK = "fok"
    GTD = "gtd"


class OrderStatus(enum.Enum):
    """States of the one order state machine (see :mod:`rbt.kernel.orders`)."""

    __hash__ = object.__hash__  # members are singletons: hash by identity, in C

    NEW = "new"
    SUBMITTED = "submitted"
    ACCEPTED = "accepted"
    PARTIALLY_FILLED = "partially_filled"
    PENDING_CANCEL = "pending_cancel"
    FILLED = "filled"
    CANCELLED = "cancelled"
    REJECTED = "rejected"
    EXPIRED = "expired"
    DENIED = "denied"

    @property
    def is_open(self) -> bool:
        """Whether the order may still fill."""
        return self in OPEN_STATUSES


#: The states in which an order may still fill.
OPEN_STATUSES = frozenset(
    {
        OrderStatus.NEW,
        OrderStatus.SUBMITTED,
        OrderStatus.ACCEPTED,
        OrderStatus.PARTIALLY_FILLED,
        OrderStatus.PENDING_CANCEL,
    }
)


@attrs.frozen(kw_only=True)
class OrderStyle:
    """Order type with its prices, time in force and links to other orders.

    :param type: market, limit, stop, stop-limit or trailing stop.
    :param limit_price: limit of a limit or stop-limit order.
    :param stop_price: trigger of a stop or stop-limit order.
    :param trail_amount: a trailing stop's distance in price units.
    :param trail_percent: a trailing stop's distance as a fraction (``0.05`` = 5 %).
    :param time_in_force: DAY, GTC (the default, Zipline's), IOC, FOK or GTD.
    :param good_till: the last session a GTD order works (inclusive).
    :param oco_group: orders sharing a group cancel each other: the first fill of one
        cancels the rest (one-cancels-other).
    :param parent_id: the entry order of a bracket; this order is one of its exits and
        works only for the quantity the entry has filled (see ``rbt.plugins.sim_broker``).
    :param replaces: the order this one replaced (cancel and replace).
    """

    type: OrderType = OrderType.MARKET
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    time_in_force: TimeInForce = TimeInForce.GTC
    trail_amount: Decimal | None = None
    trail_percent: Decimal | None = None
    good_till: dt.date | None = None
    oco_group: str | None = None
    parent_id: str | None = None
    replaces: str | None = None

    @property
    def is_plain_market(self) -> bool:
        """A GTC market order without links: the simulator's fast path."""
        return (
            self.type is OrderType.MARKET
            and self.time_in_force is TimeInForce.GTC
            and self.oco_group is None
            and self.parent_id is None
        )


MARKET = OrderStyle()


@attrs.frozen(kw_only=True)
class Order:
    """An order and its current state. Changes produce a new object (``attrs.evolve``).

    ``amount`` is signed: positive buys, negative sells.
    """

    id: str
    asset: Asset
    amount: Decimal
    created: int
    style: OrderStyle = MARKET
    status: OrderStatus = OrderStatus.NEW
    filled: Decimal = ZERO
    commission: Decimal = ZERO
    reason: str = ""

    @property
    def open_amount(self) -> Decimal:
        """Signed quantity still to fill."""
        return self.amount - self.filled

    @property
    def direction(self) -> int:
        """+1 for buys, -1 for sells."""
        return 1 if self.amount > 0 else -1

    @property
    def is_open(self) -> bool:
        """Whether the order may still fill."""
        return self.status in OPEN_STATUSES

    @property
    def reason_code(self) -> str:
        """The machine-readable part of ``reason`` (``"INVALID_QUANTITY"``), or ``""``.

        Reasons read ``"CODE: message"``; see :mod:`rbt.kernel.orders` for the codes.
        """
        code, sep, _ = self.reason.partition(":")
        return code if sep and code.isupper() and " " not in code else ""


# The slots' own setters: a frozen attrs class sets each field in __init__ through
# ``object.__setattr__``, which costs a third more than the slot's setter called
# directly. Order has no converter or validator to skip, so the result is the same.
# With the C module, one call does it all (_order below is then its SlotBuilder).
_NEW_ORDER = object.__new__
_SETTERS = (Order.__dict__[f.name].__set__ for f in attrs.fields(Order))
_SET_ID, _SET_ASSET, _SET_AMOUNT, _SET_CREATED, _SET_STYLE, *_SET_REST = _SETTERS
_SET_STATUS, _SET_FILLED, _SET_COMMISSION, _SET_REASON = _SET_REST


def _order_py(
    id: str,
    asset: Asset,
    amount: Decimal,
    created: int,
    style: OrderStyle,
    status: OrderStatus,
    filled: Decimal,
    commission: Decimal,
    reason: str,
) -> Order:
    new = _NEW_ORDER(Order)
    _SET_ID(new, id)
    _SET_ASSET(new, asset)
    _SET_AMOUNT(new, amount)
    _SET_CREATED(new, created)
    _SET_STYLE(new, style)
    _SET_STATUS(new, status)
    _SET_FILLED(new, filled)
    _SET_COMMISSION(new, commission)
    _SET_REASON(new, reason)
    return new


_order: Callable[
    [str, Asset, Decimal, int, OrderStyle, OrderStatus, Decimal, Decimal, str], Order
] = (
    _order_py
    if _NATIVE is None
    else _NATIVE.SlotBuilder(Order, tuple(f.name for f in attrs.fields(Order)))
)


# the C copy of an order, its last four fields (those replace_order changes) replaced
_ORDER_TAIL = ["status", "filled", "commission", "reason"]
_replace_order_tail: Callable[..., Order] | None = None
if _NATIVE is not None and [f.name for f in attrs.fields(Order)][-4:] == _ORDER_TAIL:
    _replace_order_tail = _order.replace_tail  # type: ignore[attr-defined]


def replace_order(
    order: Order,
    *,
    status: OrderStatus | None = None,
    filled: Decimal | None = None,
    commission: Decimal | None = None,
    reason: str | None = None,
) -> Order:
    """``attrs.evolve(order, ...)`` for the fields that change as an order lives, at a
    third of the cost (the per-order hot path of every broker)."""
    if _replace_order_tail is not None and order.__class__ is Order:
        return _replace_order_tail(order, status, filled, commission, reason)
    return _order(
        order.id,
        order.asset,
        order.amount,
        order.created,
        order.style,
        order.status if status is None else status,
        order.filled if filled is None else filled,
        order.commission if commission is None else commission,
        order.reason if reason is None else reason,
    )


def new_order(
    id: str,
    asset: Asset,
    amount: Decimal,
    created: int,
    style: OrderStyle,
    status: OrderStatus = OrderStatus.NEW,
    filled: Decimal = ZERO,
    commission: Decimal = ZERO,
) -> Order:
    """``Order(id=..., asset=..., amount=..., created=..., style=..., status=...,
    filled=..., commission=...)``, a new order (by default in its first state), built as
    :func:`replace_order` builds one (every order placed)."""
    return _order(id, asset, amount, created, style, status, filled, commission, "")


@attrs.frozen(kw_only=True)
class Fill:
    """An execution: ``amount`` (signed) of ``asset`` at ``price``, with its commission."""

    id: str
    order_id: str
    asset: Asset
    amount: Decimal
    price: Decimal
    ts: int
    commission: Decimal = ZERO

    @property
    def notional(self) -> Decimal:
        """Signed value traded: amount × price × multiplier."""
        return self.amount * self.price * self.asset.multiplier


# Fill, like Order, has no converter or validator: its slots are set directly
_SET_FILL = tuple(Fill.__dict__[f.name].__set__ for f in attrs.fields(Fill))
_SET_FILL_ID, _SET_FILL_ORDER, _SET_FILL_ASSET, *_SET_FILL_REST = _SET_FILL
_SET_FILL_AMOUNT, _SET_FILL_PRICE, _SET_FILL_TS, _SET_FILL_COMMISSION = _SET_FILL_REST


# the C module's builder of a fill (one call), or None: the slots set one by one below
_fill: Callable[[str, str, Asset, Decimal, Decimal, int, Decimal], Fill] | None = (
    None
    if _NATIVE is None
    else _NATIVE.SlotBuilder(Fill, tuple(f.name for f in attrs.fields(Fill)))
)


def new_fill(
    id: str,
    order_id: str,
    asset: Asset,
    amount: Decimal,
    price: Decimal,
    ts: int,
    commission: Decimal,
) -> Fill:
    """``Fill(id=..., ...)`` built through the slots (a simulator's every fill)."""
    if _fill is not None:
        return _fill(id, order_id, asset, amount, price, ts, commission)
    new = _NEW_ORDER(Fill)
    _SET_FILL_ID(new, id)
    _SET_FILL_ORDER(new, order_id)
    _SET_FILL_ASSET(new, asset)
    _SET_FILL_AMOUNT(new, amount)
    _SET_FILL_PRICE(new, price)
    _SET_FILL_TS(new, ts)
    _SET_FILL_COMMISSION(new, commission)
    return new


@attrs.frozen(kw_only=True)
class Position:
    """A holding: signed ``amount``, its cost (``cost_value`` = amount × average cost)."""

    asset: Asset
    amount: Decimal
    cost_value: Decimal
    last_price: Decimal

    @property
    def cost_basis(self) -> Decimal:
        """Average cost per unit (zero when flat)."""
        if not self.amount:
            return ZERO
        return self.cost_value / self.amount / self.asset.multiplier

    @property
    def market_value(self) -> Decimal:
        """Value at the last price."""
        return self.amount * self.last_price * self.asset.multiplier


@attrs.frozen(kw_only=True)
class Account:
    """A snapshot of the books in the account's base currency."""

    base_currency: str
    cash: Decimal
    positions_value: Decimal
    starting_cash: Decimal
    realized_pnl: Decimal
    commissions: Decimal

    @property
    def portfolio_value(self) -> Decimal:
        """Cash plus the market value of all positions."""
        return self.cash + self.positions_value
