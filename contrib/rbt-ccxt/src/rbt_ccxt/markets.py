"""ccxt markets → kernel :class:`~rbt.kernel.model.Asset`, and orders → wire values.

Precision and limits come from ccxt's market structure (``precision`` in TICK_SIZE mode,
``limits``) as ``Decimal(str(x))`` (reliability.md §D.1: never grid arithmetic in
float). Rounding is the kernel's :func:`~rbt.kernel.orders.round_order` — quantity
toward zero to the lot, limit price to the passive side of the tick, stop prices so
they never trigger earlier — so backtest, paper and live round alike; the notional
check after rounding is :func:`~rbt.kernel.orders.validate_order`.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import attrs

from rbt.kernel.model import Asset, AssetClass, Order, OrderType
from rbt.kernel.orders import ReasonCode, reason, round_order, validate_order

__all__ = ["WireOrder", "asset_from_market", "prepare_order", "stable_sid", "to_decimal"]


def to_decimal(value: Any) -> Decimal:
    """A ccxt number (float, int or str) as an exact Decimal via its shortest text."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    return Decimal(str(value))


def wire(value: Decimal) -> str:
    """The string sent on the wire: ``format(d, 'f')``, no exponent (§D.1.5)."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def stable_sid(exchange: str, symbol: str) -> int:
    """A sid that depends only on the venue and symbol (stable across restarts)."""
    return zlib.crc32(f"{exchange}:{symbol}".encode()) & 0x7FFFFFFF


def _scale(step: Decimal) -> int:
    exponent = step.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


#: ccxt's precision modes (``ccxt.base.decimal_to_precision``)
DECIMAL_PLACES = 2
TICK_SIZE = 4


def _step(value: Any, precision_mode: int) -> Decimal:
    if precision_mode == DECIMAL_PLACES:
        return Decimal(1).scaleb(-int(value))
    if precision_mode != TICK_SIZE:
        raise ValueError(f"unsupported ccxt precision mode {precision_mode}")
    return to_decimal(value)


def asset_from_market(
    exchange: str, market: Mapping[str, Any], precision_mode: int = TICK_SIZE
) -> Asset:
    """The kernel asset of one ccxt spot market (24/7 calendar, quote currency, grid).

    ``precision_mode``: ccxt 4.5.90's binance uses TICK_SIZE (``0.01``); recorded
    markets of older versions store DECIMAL_PLACES (``2``).
    """
    precision = market.get("precision") or {}
    limits = market.get("limits") or {}
    tick = _step(precision["price"], precision_mode)
    lot = _step(precision["amount"], precision_mode)
    min_cost = (limits.get("cost") or {}).get("min")
    return Asset(
        sid=stable_sid(exchange, str(market["symbol"])),
        symbol=str(market["symbol"]),
        asset_class=AssetClass.CRYPTO,
        exchange=exchange,
        calendar="always_open",
        quote_currency=str(market["quote"]),
        tick_size=tick,
        lot_size=lot,
        min_notional=to_decimal(min_cost) if min_cost is not None else Decimal(0),
        price_scale=_scale(tick),
    )


def assets_from_markets(
    exchange: str,
    markets: Mapping[str, Mapping[str, Any]],
    symbols: Sequence[str],
    precision_mode: int = TICK_SIZE,
) -> list[Asset]:
    """Assets of ``symbols`` (unknown symbols raise ``KeyError``); sids checked unique."""
    assets = [asset_from_market(exchange, markets[s], precision_mode) for s in symbols]
    sids = [a.sid for a in assets]
    if len(set(sids)) != len(sids):  # pragma: no cover - a crc32 collision
        raise ValueError(f"sid collision among {symbols}: {sids}")
    return assets


@attrs.frozen
class WireOrder:
    """What ccxt's ``create_order`` is called with, after rounding."""

    symbol: str
    type: str
    side: str
    amount: Decimal  # unsigned, rounded to the lot
    price: Decimal | None
    params: dict[str, Any]

    @property
    def args(self) -> tuple[str, str, str, str, str | None]:
        """Positional ``create_order`` arguments, numbers as exact strings."""
        price = wire(self.price) if self.price is not None else None
        return (self.symbol, self.type, self.side, wire(self.amount), price)


def prepare_order(
    order: Order, venue_asset: Asset, *, last_price: Decimal | None = None
) -> WireOrder | str:
    """Round ``order`` to the venue grid and check it; a wire order, or a denial reason.

    The reason reads ``"CODE: message"`` (codes of :class:`~rbt.kernel.orders.ReasonCode`).
    """
    style = order.style
    if style.type not in (OrderType.MARKET, OrderType.LIMIT):
        return reason(ReasonCode.UNSUPPORTED, f"{style.type.value} orders are not supported")
    if not order.amount.is_finite() or order.amount == 0:
        return reason(ReasonCode.INVALID_QUANTITY, f"quantity {order.amount} is not valid")
    amount, rounded_style = round_order(venue_asset, order.amount, style)
    if amount == 0:
        return reason(
            ReasonCode.INVALID_QUANTITY,
            f"quantity {order.amount} rounds to zero on the lot {venue_asset.lot_size}",
        )
    rounded = attrs.evolve(order, asset=venue_asset, amount=amount, style=rounded_style)
    denial = validate_order(rounded, last_price=last_price)
    if denial is not None:
        return denial
    params: dict[str, Any] = {"newClientOrderId": order.id}
    limit = rounded_style.limit_price
    if style.type is OrderType.LIMIT:
        tif = rounded_style.time_in_force.value.upper()
        if tif not in ("GTC", "IOC", "FOK"):
            return reason(
                ReasonCode.UNSUPPORTED, f"time in force {tif} is not offered by the venue"
            )
        params["timeInForce"] = tif
    return WireOrder(
        symbol=venue_asset.symbol,
        type=style.type.value,
        side="buy" if amount > 0 else "sell",
        amount=abs(amount),
        price=limit if style.type is OrderType.LIMIT else None,
        params=params,
    )
