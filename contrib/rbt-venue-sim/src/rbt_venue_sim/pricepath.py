"""Price paths: scripted JSON, a bundle's bars, or a deterministic default walk.

A scenario file (``--path``) is JSON::

    {
      "interval": "1m",                 # bar length (Binance interval names)
      "start": 1700000000000,           # open time of bar 0 in ms (optional)
      "history": 2,                     # bars already in the past at start-up
      "symbols": {
        "BTC/USDT": {"bars": [["50000", "50100", "49900", "50050", "12.5"], ...]},
        "ETH/USDT": {"prices": ["3000", "3010", "2990"], "volume": "100"}
      },
      "liquidity": {"half_spread_bps": "1", "levels": 10, "level_qty": "5",
                    "participation": "0.25"},
      "fees": {"maker": "0.001", "taker": "0.001"},
      "accounts": [{"name": "main", "api_key": "...", "secret": "...",
                    "balances": {"USDT": "100000"}}]
    }

Bars are ``[open, high, low, close, volume]`` as strings (or numbers, read with
``str()``); ``prices`` is shorthand for bars with ``open = high = low = close``.
Without ``start``, bar 0 opens ``history`` intervals before the start-up minute,
so the revealed history ends at "now". Bar ``i`` of every symbol opens at
``start + i * interval``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import attrs

from rbt_venue_sim.engine import Bar
from rbt_venue_sim.markets import SymbolSpec

__all__ = ["INTERVALS", "PricePath", "default_path", "path_from_bundle", "path_from_json"]

INTERVALS: dict[str, int] = {
    "1s": 1_000,
    "1m": 60_000,
    "3m": 180_000,
    "5m": 300_000,
    "15m": 900_000,
    "30m": 1_800_000,
    "1h": 3_600_000,
    "2h": 7_200_000,
    "4h": 14_400_000,
    "6h": 21_600_000,
    "8h": 28_800_000,
    "12h": 43_200_000,
    "1d": 86_400_000,
    "3d": 259_200_000,
    "1w": 604_800_000,
}

_DEFAULT_PRICES = {
    "BTC": Decimal(50000),
    "ETH": Decimal(3000),
    "LTC": Decimal(70),
    "ADA": Decimal("0.5"),
    "XRP": Decimal("0.6"),
    "DOGE": Decimal("0.1"),
    "TRX": Decimal("0.1"),
    "SOL": Decimal(150),
    "BNB": Decimal(300),
}


@attrs.frozen(kw_only=True)
class PricePath:
    """Bars per venue symbol on one timeline."""

    interval: str
    start: int
    history: int
    bars: Mapping[str, Sequence[Bar]]  # venue symbol -> bars

    @property
    def interval_ms(self) -> int:
        return INTERVALS[self.interval]

    @property
    def length(self) -> int:
        return max((len(b) for b in self.bars.values()), default=0)


def _dec(value: Any) -> Decimal:
    if isinstance(value, float):
        value = repr(value)
    return Decimal(str(value))


def _start(start: int | None, history: int, interval_ms: int, now_ms: int) -> int:
    if start is not None:
        return int(start)
    return (now_ms // interval_ms) * interval_ms - history * interval_ms


def path_from_json(doc: Mapping[str, Any], specs: Sequence[SymbolSpec], now_ms: int) -> PricePath:
    """Build a path from a scenario document; symbols it omits get the default walk."""
    interval = str(doc.get("interval", "1m"))
    if interval not in INTERVALS:
        raise ValueError(f"unknown interval {interval!r}")
    history = int(doc.get("history", 1))
    start = _start(doc.get("start"), history, INTERVALS[interval], now_ms)
    raw = doc.get("symbols", {})
    bars: dict[str, list[Bar]] = {}
    by_unified = {s.unified: s for s in specs}
    by_id = {s.symbol: s for s in specs}
    for name, entry in raw.items():
        spec = by_unified.get(name) or by_id.get(name)
        if spec is None:
            raise ValueError(f"path symbol {name!r} is not one of the served symbols")
        rows: list[Bar] = []
        if "bars" in entry:
            for i, row in enumerate(entry["bars"]):
                o, h, lo, c, v = (_dec(x) for x in row)
                if not (lo <= min(o, c) and h >= max(o, c) and lo > 0 and v >= 0):
                    raise ValueError(f"{name} bar {i}: inconsistent OHLCV {row!r}")
                rows.append(
                    Bar(
                        open_time=start + i * INTERVALS[interval],
                        open=o,
                        high=h,
                        low=lo,
                        close=c,
                        volume=v,
                    )
                )
        elif "prices" in entry:
            vol = _dec(entry.get("volume", "0"))
            for i, p in enumerate(entry["prices"]):
                price = _dec(p)
                if price <= 0:
                    raise ValueError(f"{name} price {i}: must be positive")
                rows.append(
                    Bar(
                        open_time=start + i * INTERVALS[interval],
                        open=price,
                        high=price,
                        low=price,
                        close=price,
                        volume=vol,
                    )
                )
        else:
            raise ValueError(f"path symbol {name!r} needs 'bars' or 'prices'")
        if len(rows) < 1:
            raise ValueError(f"path symbol {name!r} has no bars")
        bars[spec.symbol] = rows
    length = max((len(b) for b in bars.values()), default=history + 1000)
    for spec in specs:
        if spec.symbol not in bars:
            bars[spec.symbol] = _walk(spec, start, INTERVALS[interval], max(length, history + 1))
    if history < 1 or any(len(b) < history for b in bars.values()):
        raise ValueError("history must be >= 1 and at most the number of bars of every symbol")
    return PricePath(interval=interval, start=start, history=history, bars=bars)


def load_path_file(
    path: str | Path, specs: Sequence[SymbolSpec], now_ms: int
) -> tuple[PricePath, dict[str, Any]]:
    """Read a scenario file; returns the path and the whole document."""
    doc = json.loads(Path(path).read_text(encoding="utf-8"))
    return path_from_json(doc, specs, now_ms), doc


def _walk(spec: SymbolSpec, start: int, interval_ms: int, n: int) -> list[Bar]:
    """A deterministic walk (seeded by the symbol) around a typical price."""
    base = _DEFAULT_PRICES.get(spec.base, Decimal(100))
    seed = int.from_bytes(hashlib.sha256(spec.symbol.encode()).digest()[:8], "big")
    tick = spec.tick_size
    price = base
    out: list[Bar] = []
    state = seed
    for i in range(n):
        moves = []
        for _ in range(3):
            state = (state * 6364136223846793005 + 1442695040888963407) % (1 << 64)
            moves.append(Decimal((state >> 33) % 2001 - 1000) / Decimal(1_000_000))  # +-0.1 %
        o = price
        c = _round(o * (1 + moves[0]), tick)
        h = _round(max(o, c) * (1 + abs(moves[1])), tick)
        lo = _round(min(o, c) * (1 - abs(moves[2])), tick)
        vol = Decimal((state >> 20) % 1000 + 1) / Decimal(100)
        out.append(
            Bar(open_time=start + i * interval_ms, open=o, high=h, low=lo, close=c, volume=vol)
        )
        price = c
    return out


def _round(value: Decimal, tick: Decimal) -> Decimal:
    return max(tick, (value / tick).quantize(Decimal(1), rounding=ROUND_HALF_UP) * tick)


def default_path(
    specs: Sequence[SymbolSpec],
    now_ms: int,
    *,
    interval: str = "1m",
    history: int = 100,
    future: int = 1000,
) -> PricePath:
    """The default walk: ``history`` bars in the past, ``future`` bars to reveal."""
    start = _start(None, history, INTERVALS[interval], now_ms)
    length = history + future
    return PricePath(
        interval=interval,
        start=start,
        history=history,
        bars={s.symbol: _walk(s, start, INTERVALS[interval], length) for s in specs},
    )


def path_from_bundle(
    home: str | Path | None, name: str, specs: Sequence[SymbolSpec], *, history: int = 1
) -> PricePath:
    """Bars of an rbt bundle (needs ``rustybt-framework``; prices read exactly).

    A bundle asset matches a served symbol when its symbol equals the unified
    (``BTC/USDT``) or venue (``BTCUSDT``) name. Bars are stamped with their end time
    in the bundle; a kline's open time is that end minus the interval.
    """
    from rbt.data.bundles import load_bundle  # optional dependency
    from rbt.data.home import RbtHome

    arrays = load_bundle(RbtHome(home) if home is not None else RbtHome(), name)
    freq = str(getattr(arrays.frequency, "value", arrays.frequency))
    interval = {"minute": "1m", "daily": "1d", "1m": "1m", "1d": "1d"}.get(freq)
    if interval is None:
        raise ValueError(f"bundle {name!r}: frequency {freq!r} is not 1m or 1d")
    step = INTERVALS[interval]
    ends_ms = [int(t) // 1_000_000 for t in arrays.ts]
    bars: dict[str, list[Bar]] = {}
    for spec in specs:
        col = next(
            (i for i, a in enumerate(arrays.assets) if a.symbol in (spec.unified, spec.symbol)),
            None,
        )
        if col is None:
            raise ValueError(f"bundle {name!r} has no asset {spec.unified} or {spec.symbol}")
        rows = []
        for row, end in enumerate(ends_ms):
            if not arrays.has_bar(row, col):
                continue
            o, h, lo, c, v = (
                arrays.exact(f, row, col) for f in ("open", "high", "low", "close", "volume")
            )
            rows.append(Bar(open_time=end - step, open=o, high=h, low=lo, close=c, volume=v))
        if not rows:
            raise ValueError(f"bundle {name!r}: no bars for {spec.unified}")
        bars[spec.symbol] = rows
    start = min(b[0].open_time for b in bars.values())
    return PricePath(interval=interval, start=start, history=history, bars=bars)
