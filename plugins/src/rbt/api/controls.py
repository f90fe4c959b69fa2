"""Trading controls and the cash-account check, as kernel pre-trade checks.

Zipline's ``set_max_leverage``, ``set_max_position_size``, ``set_max_order_size``,
``set_max_order_count``, ``set_long_only`` and ``set_do_not_order_list`` with
Zipline's signatures. Each adds a :class:`Control` to the session's pre-trade
checks; what a violation does is the user's choice (``on_error``):

* ``"fail"`` (Zipline's default): the order is recorded DENIED with a
  ``TRADING_CONTROL`` reason, then :class:`TradingControlViolation` is raised
  from the ``order`` call (the run stops unless the strategy catches it);
* ``"deny"`` (ours): the order is DENIED with the reason and the run goes on
  (``on_order_reject`` sees it);
* ``"log"`` (Zipline's): the violation is logged and the order goes through.

Sizes are judged at the asset's last price (``data.current(asset, "price")``),
positions as held now — open orders are not counted, as in Zipline. Exits of a
bracket (orders with a ``parent_id``) only close what their entry opened: the
long-only and position-size controls skip them, and the order count counts a
bracket once.

A **cash account** (``run_backtest(account="cash")``) denies a buy whose
estimated cost exceeds the free cash — cash minus what open buy orders
commit — with ``INSUFFICIENT_CASH``. Costs are estimated at the limit price
(limit, stop-limit), the stop price (stop) or the last price (market, trailing
stop), without commission; a fill at a worse price than the estimate can still
take cash slightly below zero. The default ``margin`` account has no cash
check (Zipline's).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from rbt.kernel.errors import ConfigError, RbtError
from rbt.kernel.model import Asset, Order, OrderType
from rbt.kernel.numeric import ZERO, ledger_context
from rbt.kernel.orders import ReasonCode, reason

if TYPE_CHECKING:
    from rbt.api.engine import Engine
    from rbt.kernel.session import Session

__all__ = [
    "ACCOUNTS",
    "Control",
    "TradingControlViolation",
    "cash_account_check",
]

log = logging.getLogger("rbt.api.controls")

ACCOUNTS = ("margin", "cash")
_ON_ERROR = ("fail", "deny", "log")


class TradingControlViolation(RbtError):
    """An order broke a trading control set with ``on_error="fail"`` (Zipline's name)."""

    def __init__(self, order: Order, constraint: str) -> None:
        super().__init__(
            f"order {order.id} for {order.amount} of {order.asset!r} violates {constraint}"
        )
        self.order = order
        self.asset = order.asset
        self.amount = order.amount
        self.constraint = constraint


class Control:
    """One trading control: ``rule(order) -> violation text or None``."""

    def __init__(
        self,
        engine: Engine,
        name: str,
        rule: Callable[[Order], str | None],
        on_error: str,
        *,
        skip_exits: bool = False,
    ) -> None:
        if on_error not in _ON_ERROR:
            raise ConfigError(f"on_error must be one of {', '.join(_ON_ERROR)}, got {on_error!r}")
        self.engine = engine
        self.name = name
        self.rule = rule
        self.on_error = on_error
        self.skip_exits = skip_exits
        self.failed: TradingControlViolation | None = None

    def __call__(self, order: Order, session: Session) -> str | None:
        if self.skip_exits and order.style.parent_id is not None:
            return None
        violation = self.rule(order)
        if violation is None:
            return None
        text = f"{self.name}: {violation}"
        if self.on_error == "log":
            log.warning("order %s for %s of %r: %s", order.id, order.amount, order.asset, text)
            return None
        if self.on_error == "fail":
            self.failed = TradingControlViolation(order, text)
        return reason(ReasonCode.TRADING_CONTROL, text)

    def raise_failure(self) -> None:
        """Raise the violation of the last ``on_error="fail"`` denial, once."""
        failed, self.failed = self.failed, None
        if failed is not None:
            raise failed

    def __repr__(self) -> str:
        return f"Control({self.name}, on_error={self.on_error!r})"


# -- the Zipline controls ---------------------------------------------------------------


def _price(engine: Engine, asset: Asset) -> float:
    value = float(engine.data.current(asset, "price"))
    return value if value == value else 0.0


def _held(engine: Engine, asset: Asset) -> float:
    return float(engine.ledger.position_amount(asset))


def _applies(asset: Asset | None, order: Order) -> bool:
    return asset is None or order.asset == asset


def max_order_size(
    engine: Engine, asset: Asset | None, max_shares: Any, max_notional: Any, on_error: str
) -> Control:
    """``set_max_order_size``: one order's shares and value."""

    def rule(order: Order) -> str | None:
        if not _applies(asset, order):
            return None
        amount = abs(float(order.amount))
        if max_shares is not None and amount > max_shares:
            return f"{amount:g} shares exceed the maximum order size {max_shares}"
        notional = amount * _price(engine, order.asset) * float(order.asset.multiplier)
        if max_notional is not None and notional > max_notional:
            return f"order value {notional:g} exceeds the maximum {max_notional}"
        return None

    return Control(engine, "MaxOrderSize", rule, on_error)


def max_position_size(
    engine: Engine, asset: Asset | None, max_shares: Any, max_notional: Any, on_error: str
) -> Control:
    """``set_max_position_size``: the position the order would leave."""

    def rule(order: Order) -> str | None:
        if not _applies(asset, order):
            return None
        after = abs(_held(engine, order.asset) + float(order.amount))
        if max_shares is not None and after > max_shares:
            return f"position of {after:g} shares would exceed the maximum {max_shares}"
        value = after * _price(engine, order.asset) * float(order.asset.multiplier)
        if max_notional is not None and value > max_notional:
            return f"position value {value:g} would exceed the maximum {max_notional}"
        return None

    return Control(engine, "MaxPositionSize", rule, on_error, skip_exits=True)


def max_order_count(engine: Engine, max_count: int, on_error: str) -> Control:
    """``set_max_order_count``: orders placed per session (a bracket counts once)."""
    counts: dict[Any, int] = {}

    def rule(order: Order) -> str | None:
        if order.style.parent_id is not None:
            return None
        day = engine.session.session_label
        counts[day] = counts.get(day, 0) + 1
        if counts[day] > max_count:
            return f"more than {max_count} orders on {day}"
        return None

    return Control(engine, "MaxOrderCount", rule, on_error)


def long_only(engine: Engine, on_error: str) -> Control:
    """``set_long_only``: no order may leave a short position."""

    def rule(order: Order) -> str | None:
        after = engine.ledger.position_amount(order.asset) + order.amount
        if after < 0:
            return f"the position in {order.asset!r} would be short ({after})"
        return None

    return Control(engine, "LongOnly", rule, on_error, skip_exits=True)


def do_not_order_list(engine: Engine, restricted: Any, on_error: str) -> Control:
    """``set_do_not_order_list``: assets (or a ``callable(asset) -> bool``) never to trade."""
    if callable(restricted):
        is_restricted: Callable[[Asset], bool] = restricted
    elif hasattr(restricted, "is_restricted"):  # a Zipline Restrictions-like object
        is_restricted = lambda a: bool(  # noqa: E731
            restricted.is_restricted(a, engine.get_datetime())
        )
    else:
        names = set(_as_assets(engine, restricted))
        is_restricted = names.__contains__

    def rule(order: Order) -> str | None:
        if is_restricted(order.asset):
            return f"{order.asset!r} is on the do-not-order list"
        return None

    return Control(engine, "RestrictedListOrder", rule, on_error)


def _as_assets(engine: Engine, items: Iterable[Any]) -> Iterable[Asset]:
    for item in items:
        yield item if isinstance(item, Asset) else engine.symbol(str(item))


def max_leverage(engine: Engine, limit: float, on_error: str) -> Control:
    """``set_max_leverage``: gross exposure / portfolio value after the order."""
    if limit is None or not limit > 0:
        raise ConfigError(f"max_leverage must be positive, got {limit!r}")

    def rule(order: Order) -> str | None:
        portfolio_value = engine.context.portfolio.portfolio_value
        if not portfolio_value > 0:
            return f"portfolio value {portfolio_value:g} is not positive"
        gross = 0.0
        for asset, view in engine.position_views().items():
            if asset != order.asset:
                gross += abs(view.amount * view.last_sale_price * float(asset.multiplier))
        after = _held(engine, order.asset) + float(order.amount)
        gross += abs(after * _price(engine, order.asset) * float(order.asset.multiplier))
        leverage = gross / portfolio_value
        if leverage > limit:
            return f"leverage {leverage:.4g} would exceed the maximum {limit}"
        return None

    return Control(engine, "MaxLeverage", rule, on_error, skip_exits=True)


# -- cash account ------------------------------------------------------------------------


def _reference_price(order: Order, session: Session) -> Decimal | None:
    style = order.style
    if style.type in (OrderType.LIMIT, OrderType.STOP_LIMIT):
        return style.limit_price
    if style.type is OrderType.STOP:
        return style.stop_price
    try:
        return session.portal.exact_price(order.asset, "close")
    except (RbtError, KeyError):
        return None


def cash_account_check(order: Order, session: Session) -> str | None:
    """Deny a buy whose estimated cost exceeds cash minus open buy commitments."""
    if order.amount <= 0 or order.style.parent_id is not None:
        return None
    price = _reference_price(order, session)
    if price is None:
        return reason(ReasonCode.INSUFFICIENT_CASH, f"{order.asset!r} has no price to cost")
    with ledger_context():
        committed = ZERO
        for other in session.orders.open_orders():
            if other.id == order.id or other.open_amount <= 0:
                continue
            other_price = _reference_price(other, session)
            if other_price is not None:
                committed += other.open_amount * other_price * other.asset.multiplier
        free = session.ledger.cash - committed
        cost = order.amount * price * order.asset.multiplier
        if cost > free:
            return reason(
                ReasonCode.INSUFFICIENT_CASH,
                f"cost {cost} exceeds free cash {free} (cash {session.ledger.cash} "
                f"minus {committed} committed to open buys)",
            )
    return None
