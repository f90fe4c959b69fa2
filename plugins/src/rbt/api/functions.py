"""Zipline's module-level API functions, bound to the running engine."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from rbt.api.engine import current_engine
from rbt.api.schedule import DateRule, TimeRule
from rbt.kernel.model import Asset, Order, OrderStyle

__all__ = [
    "attach_pipeline",
    "cancel_order",
    "get_datetime",
    "get_open_orders",
    "get_order",
    "order",
    "order_percent",
    "order_target",
    "order_target_percent",
    "order_target_value",
    "order_value",
    "pipeline_output",
    "record",
    "replace_order",
    "schedule_function",
    "set_benchmark",
    "set_commission",
    "set_do_not_order_list",
    "set_long_only",
    "set_max_leverage",
    "set_max_order_count",
    "set_max_order_size",
    "set_max_position_size",
    "set_slippage",
    "sid",
    "symbol",
    "symbols",
]


def order(
    asset: Asset,
    amount: float | int | Decimal,
    limit_price: float | None = None,
    stop_price: float | None = None,
    style: Any = None,
) -> str | None:
    """Place an order for ``amount`` shares (negative sells); return its id or None.

    ``style``: an ``rbt.finance.execution`` style (``LimitOrder(10)``, ``BracketOrder(...)``)
    or a kernel ``OrderStyle``."""
    return current_engine().order(asset, amount, limit_price, stop_price, style)


def order_value(
    asset: Asset,
    value: float,
    limit_price: float | None = None,
    stop_price: float | None = None,
    style: OrderStyle | None = None,
) -> str | None:
    """Order ``value`` worth of ``asset`` at its last price."""
    return current_engine().order_value(asset, value, limit_price, stop_price, style)


def order_percent(
    asset: Asset,
    percent: float,
    limit_price: float | None = None,
    stop_price: float | None = None,
    style: OrderStyle | None = None,
) -> str | None:
    """Order ``percent`` (0.1 = 10 %) of the portfolio value."""
    return current_engine().order_percent(asset, percent, limit_price, stop_price, style)


def order_target(
    asset: Asset,
    target: float | int | Decimal,
    limit_price: float | None = None,
    stop_price: float | None = None,
    style: OrderStyle | None = None,
) -> str | None:
    """Order up or down to hold ``target`` shares."""
    return current_engine().order_target(asset, target, limit_price, stop_price, style)


def order_target_value(
    asset: Asset,
    target: float,
    limit_price: float | None = None,
    stop_price: float | None = None,
    style: OrderStyle | None = None,
) -> str | None:
    """Order up or down to hold ``target`` worth of ``asset``."""
    return current_engine().order_target_value(asset, target, limit_price, stop_price, style)


def order_target_percent(
    asset: Asset,
    target: float,
    limit_price: float | None = None,
    stop_price: float | None = None,
    style: OrderStyle | None = None,
) -> str | None:
    """Order up or down to hold ``target`` (0.1 = 10 %) of the portfolio value."""
    return current_engine().order_target_percent(asset, target, limit_price, stop_price, style)


def cancel_order(order_param: str | Order) -> None:
    """Cancel an open order."""
    current_engine().cancel_order(order_param)


def replace_order(
    order_param: str | Order,
    amount: float | int | Decimal | None = None,
    limit_price: float | None = None,
    stop_price: float | None = None,
    style: Any = None,
) -> str | None:
    """Cancel an open order and place a new one linked to it; return the new id."""
    return current_engine().replace_order(order_param, amount, limit_price, stop_price, style)


def set_max_leverage(max_leverage: float, on_error: str = "fail") -> None:
    """Deny orders taking gross leverage above ``max_leverage`` (see ``rbt.api.controls``)."""
    current_engine().set_max_leverage(max_leverage, on_error)


def set_max_position_size(
    asset: Asset | None = None,
    max_shares: float | None = None,
    max_notional: float | None = None,
    on_error: str = "fail",
) -> None:
    """Limit the position in ``asset`` (or any asset) an order may leave."""
    current_engine().set_max_position_size(asset, max_shares, max_notional, on_error)


def set_max_order_size(
    asset: Asset | None = None,
    max_shares: float | None = None,
    max_notional: float | None = None,
    on_error: str = "fail",
) -> None:
    """Limit the size of one order of ``asset`` (or of any asset)."""
    current_engine().set_max_order_size(asset, max_shares, max_notional, on_error)


def set_max_order_count(max_count: int, on_error: str = "fail") -> None:
    """Limit the number of orders per session."""
    current_engine().set_max_order_count(max_count, on_error)


def set_long_only(on_error: str = "fail") -> None:
    """Deny orders that would leave a short position."""
    current_engine().set_long_only(on_error)


def set_do_not_order_list(restricted_list: Any, on_error: str = "fail") -> None:
    """Deny orders for the assets of ``restricted_list``."""
    current_engine().set_do_not_order_list(restricted_list, on_error)


def get_order(order_id: str) -> Order | None:
    """The order with ``order_id``."""
    return current_engine().get_order(order_id)


def get_open_orders(asset: Asset | None = None) -> Any:
    """Open orders for ``asset``, or a dict of all by asset."""
    return current_engine().get_open_orders(asset)


def symbol(symbol_str: str) -> Asset:
    """The asset for a ticker, as of the current session."""
    return current_engine().symbol(symbol_str)


def symbols(*symbol_strs: str) -> list[Asset]:
    """The assets for several tickers."""
    engine = current_engine()
    return [engine.symbol(s) for s in symbol_strs]


def sid(sid_int: int) -> Asset:
    """The asset with a given sid."""
    engine = current_engine()
    for asset in engine.portal.bars.assets:
        if asset.sid == sid_int:
            return asset
    raise LookupError(f"no asset with sid {sid_int} in this bundle")


def record(*args: Any, **kwargs: Any) -> None:
    """Record values for this session: ``record(signal=x)``."""
    current_engine().record(*args, **kwargs)


def schedule_function(
    func: Callable[[Any, Any], None],
    date_rule: DateRule | None = None,
    time_rule: TimeRule | None = None,
    half_days: bool = True,
    calendar: Any = None,
) -> None:
    """Run ``func(context, data)`` on the sessions ``date_rule`` picks."""
    current_engine().schedule_function(func, date_rule, time_rule, half_days, calendar)


def set_commission(
    model: Any = None,
    *,
    us_equities: Any = None,
    us_futures: Any = None,
    asset_class: Any = None,
) -> None:
    """Choose commission models, for all assets or per asset class (in ``initialize``)."""
    current_engine().set_commission(
        model, us_equities=us_equities, us_futures=us_futures, asset_class=asset_class
    )


def set_benchmark(benchmark: Asset) -> None:
    """Compare the run with ``benchmark``'s returns (in ``initialize``)."""
    current_engine().set_benchmark(benchmark)


def set_slippage(
    model: Any = None,
    *,
    us_equities: Any = None,
    us_futures: Any = None,
    asset_class: Any = None,
) -> None:
    """Choose slippage models, for all assets or per asset class (in ``initialize``)."""
    current_engine().set_slippage(
        model, us_equities=us_equities, us_futures=us_futures, asset_class=asset_class
    )


def get_datetime(tz: Any = None) -> Any:
    """The simulation time."""
    return current_engine().get_datetime(tz)


def attach_pipeline(pipeline: Any, name: str, chunks: Any = None, eager: bool = True) -> Any:
    """Register a :class:`rbt.pipeline.Pipeline` (in ``initialize``); returns it."""
    return current_engine().attach_pipeline(pipeline, name, chunks, eager)


def pipeline_output(name: str) -> Any:
    """This session's output of pipeline ``name``: a pandas frame indexed by asset,
    computed from data up to the previous session's close."""
    return current_engine().pipeline_output(name)
