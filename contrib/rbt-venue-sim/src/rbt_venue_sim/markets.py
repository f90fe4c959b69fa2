"""Market definitions: Binance spot ``exchangeInfo`` symbol records and their filters.

The records for BTC/USDT, ETH/USDT, ADA/USDT, LTC/USDT, XRP/USDT, DOGE/USDT and
TRX/USDT are the raw Binance records that ccxt's static-test market fixture keeps
under each market's ``info`` (``data/binance_spot_symbols.json`` names the source
commit). One deliberate change is made when they are served (see the README):

* ``orderTypes`` gains ``STOP_LOSS`` and ``TAKE_PROFIT`` (the stop-market types that
  today's Binance spot lists and the simulator implements; the recorded list predates
  them, and ccxt 4.5.90 refuses an order type that is not listed).

Any other ``BASE/QUOTE`` gets a generic record (tick 0.01, step 0.00001, min notional 5).
"""

from __future__ import annotations

import copy
import importlib.resources
import json
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

import attrs

__all__ = ["SymbolSpec", "load_symbol_specs", "symbol_record"]

_EXTRA_ORDER_TYPES = ("STOP_LOSS", "TAKE_PROFIT")
_ORDER_TYPES_ORDER = (
    "LIMIT",
    "LIMIT_MAKER",
    "MARKET",
    "STOP_LOSS",
    "STOP_LOSS_LIMIT",
    "TAKE_PROFIT",
    "TAKE_PROFIT_LIMIT",
)


def _recorded() -> dict[str, dict[str, Any]]:
    text = (
        importlib.resources.files("rbt_venue_sim") / "data" / "binance_spot_symbols.json"
    ).read_text(encoding="utf-8")
    return {rec["symbol"]: rec for rec in json.loads(text)["symbols"]}


def _generic(base: str, quote: str) -> dict[str, Any]:
    return {
        "symbol": base + quote,
        "status": "TRADING",
        "baseAsset": base,
        "baseAssetPrecision": 8,
        "quoteAsset": quote,
        "quotePrecision": 8,
        "quoteAssetPrecision": 8,
        "baseCommissionPrecision": 8,
        "quoteCommissionPrecision": 8,
        "orderTypes": list(_ORDER_TYPES_ORDER),
        "icebergAllowed": True,
        "ocoAllowed": False,
        "quoteOrderQtyMarketAllowed": True,
        "allowTrailingStop": False,
        "cancelReplaceAllowed": False,
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": False,
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": "0.01000000",
                "maxPrice": "1000000.00000000",
                "tickSize": "0.01000000",
            },
            {
                "filterType": "LOT_SIZE",
                "minQty": "0.00001000",
                "maxQty": "9000.00000000",
                "stepSize": "0.00001000",
            },
            {
                "filterType": "MARKET_LOT_SIZE",
                "minQty": "0.00000000",
                "maxQty": "1000.00000000",
                "stepSize": "0.00000000",
            },
            {
                "filterType": "NOTIONAL",
                "minNotional": "5.00000000",
                "applyMinToMarket": True,
                "maxNotional": "9000000.00000000",
                "applyMaxToMarket": False,
                "avgPriceMins": 5,
            },
            {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": 200},
            {"filterType": "MAX_NUM_ALGO_ORDERS", "maxNumAlgoOrders": 5},
        ],
        "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
    }


def symbol_record(unified: str) -> dict[str, Any]:
    """The exchangeInfo record served for ``unified`` (``"BTC/USDT"``)."""
    base, sep, quote = unified.partition("/")
    if not sep or not base or not quote or not (base + quote).isalnum():
        raise ValueError(f"not a spot symbol BASE/QUOTE: {unified!r}")
    base, quote = base.upper(), quote.upper()
    rec = _recorded().get(base + quote)
    if rec is None:
        return _generic(base, quote)
    rec = copy.deepcopy(rec)
    types = set(rec["orderTypes"]) | set(_EXTRA_ORDER_TYPES)
    rec["orderTypes"] = [t for t in _ORDER_TYPES_ORDER if t in types]
    return rec


def _d(value: Any) -> Decimal:
    return Decimal(str(value))


@attrs.frozen(kw_only=True)
class SymbolSpec:
    """Trading rules of one symbol, as Decimals, parsed from its exchangeInfo record."""

    symbol: str  # venue id, "BTCUSDT"
    unified: str  # "BTC/USDT"
    base: str
    quote: str
    tick_size: Decimal
    min_price: Decimal
    max_price: Decimal
    step_size: Decimal
    min_qty: Decimal
    max_qty: Decimal
    market_min_qty: Decimal
    market_max_qty: Decimal
    market_step_size: Decimal
    min_notional: Decimal
    max_notional: Decimal
    apply_min_to_market: bool
    apply_max_to_market: bool
    bid_multiplier_up: Decimal | None
    bid_multiplier_down: Decimal | None
    ask_multiplier_up: Decimal | None
    ask_multiplier_down: Decimal | None
    max_num_orders: int
    max_num_algo_orders: int
    base_commission_precision: int
    quote_commission_precision: int
    order_types: tuple[str, ...]
    default_stp: str
    allowed_stp: tuple[str, ...]
    record: Mapping[str, Any] = attrs.field(eq=False, repr=False)

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> SymbolSpec:
        f = {flt["filterType"]: flt for flt in record["filters"]}
        price = f["PRICE_FILTER"]
        lot = f["LOT_SIZE"]
        mlot = f.get("MARKET_LOT_SIZE", {"minQty": "0", "maxQty": lot["maxQty"], "stepSize": "0"})
        notional = f.get("NOTIONAL") or f.get("MIN_NOTIONAL") or {}
        pps = f.get("PERCENT_PRICE_BY_SIDE")
        return cls(
            symbol=record["symbol"],
            unified=f"{record['baseAsset']}/{record['quoteAsset']}",
            base=record["baseAsset"],
            quote=record["quoteAsset"],
            tick_size=_d(price["tickSize"]),
            min_price=_d(price["minPrice"]),
            max_price=_d(price["maxPrice"]),
            step_size=_d(lot["stepSize"]),
            min_qty=_d(lot["minQty"]),
            max_qty=_d(lot["maxQty"]),
            market_min_qty=_d(mlot["minQty"]),
            market_max_qty=_d(mlot["maxQty"]),
            market_step_size=_d(mlot["stepSize"]),
            min_notional=_d(notional.get("minNotional", "0")),
            max_notional=_d(notional.get("maxNotional", "9000000000")),
            apply_min_to_market=bool(notional.get("applyMinToMarket", True)),
            apply_max_to_market=bool(notional.get("applyMaxToMarket", False)),
            bid_multiplier_up=_d(pps["bidMultiplierUp"]) if pps else None,
            bid_multiplier_down=_d(pps["bidMultiplierDown"]) if pps else None,
            ask_multiplier_up=_d(pps["askMultiplierUp"]) if pps else None,
            ask_multiplier_down=_d(pps["askMultiplierDown"]) if pps else None,
            max_num_orders=int(f.get("MAX_NUM_ORDERS", {}).get("maxNumOrders", 200)),
            max_num_algo_orders=int(f.get("MAX_NUM_ALGO_ORDERS", {}).get("maxNumAlgoOrders", 5)),
            base_commission_precision=int(record.get("baseCommissionPrecision", 8)),
            quote_commission_precision=int(record.get("quoteCommissionPrecision", 8)),
            order_types=tuple(record["orderTypes"]),
            default_stp=record.get("defaultSelfTradePreventionMode", "NONE"),
            allowed_stp=("NONE", *record.get("allowedSelfTradePreventionModes", ())),
            record=record,
        )


def load_symbol_specs(symbols: Iterable[str]) -> list[SymbolSpec]:
    """Specs for unified symbols (``["BTC/USDT", "ETH/USDT"]``), in the given order."""
    specs: list[SymbolSpec] = []
    seen: set[str] = set()
    for unified in symbols:
        spec = SymbolSpec.from_record(symbol_record(unified.strip()))
        if spec.symbol not in seen:
            seen.add(spec.symbol)
            specs.append(spec)
    return specs
