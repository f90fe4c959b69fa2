"""The ``demo`` data source: SYNTHETIC daily bars, generated deterministically.

**The data is synthetic.** It is made up by a random-number generator with
fixed seeds and does not describe any real security; the symbols (``AAA`` ..
``ZZZ``, ``XAA`` .. ``XDD``) are placeholders. It exists so ``rbt ingest demo``
and the examples work offline.

Thirty symbols trade every XNYS session from 2015-01-02 to 2024-12-31. Each
follows a random walk with its own volatility and a drift that switches
regime every few months, so trends of different lengths and strengths occur —
material for a moving-average crossover. Prices lie on a 0.01 grid.

Corporate actions (synthetic too): ``XBB`` splits 2-for-1 with ex-date
2020-08-31, and ``XAA`` and ``XBB`` pay a quarterly cash dividend of 0.5 % of
the previous close (rounded to the cent; ex-date the first session on or
after the 15th of February, May, August and November, paid ten sessions
later). Their bars are *as traded*: before the split the prices are twice
(and the volumes half) the generated walk, and every ex-date lowers all later
prices by the dividend's share of the previous close — the generated walk is
the total-return path. The other 28 symbols have no actions.

Determinism: only ``numpy.random.PCG64`` integer/uniform output and IEEE
``+ - * /`` and rounding are used (normal variates come from a sum of twelve
uniforms, not from ``exp``/``log``, whose last bits may differ between C
libraries), so every machine produces byte-identical bars.

.. versionadded:: 0.1
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from rbt.data.exact import from_mantissas
from rbt.data.source import AssetInfo
from rbt.kernel.clock import Frequency
from rbt.kernel.errors import ConfigError

__all__ = ["DEMO_SYMBOLS", "DemoSource"]

DEMO_SYMBOLS: tuple[str, ...] = (
    *(chr(c) * 3 for c in range(ord("A"), ord("Z") + 1)),
    "XAA",
    "XBB",
    "XCC",
    "XDD",
)
_NOTE = "SYNTHETIC demo data (random walk, fixed seeds); not a real security"
_SEED = 20150102
#: symbol -> (ex-date, ratio) of its split; symbols paying quarterly dividends.
DEMO_SPLITS: dict[str, tuple[dt.date, int]] = {"XBB": (dt.date(2020, 8, 31), 2)}
DEMO_DIVIDEND_PAYERS: tuple[str, ...] = ("XAA", "XBB")
_DIVIDEND_RATE = 0.005
_PAY_LAG = 10  # sessions from ex-date to pay-date


def _normals(rng: np.random.Generator, size: int) -> npt.NDArray[np.float64]:
    # Irwin-Hall: the sum of 12 uniforms minus 6 has mean 0 and variance 1.
    return rng.random((size, 12)).sum(axis=1) - 6.0  # type: ignore[no-any-return]


def _cents(values: npt.NDArray[np.floating[Any]]) -> npt.NDArray[np.int64]:
    cents: npt.NDArray[np.int64] = np.maximum(np.rint(values * 100.0), 1).astype(np.int64)
    return cents


def generate(symbol_index: int, sessions: int) -> dict[str, npt.NDArray[np.int64]]:
    """Bars of one demo symbol as integer cents (prices) and shares (volume)."""
    rng = np.random.Generator(np.random.PCG64([_SEED, symbol_index]))
    vol = 0.008 + 0.0005 * (symbol_index % 17)  # daily volatility 0.8% .. 1.6%
    # Regimes of 40..160 sessions, each with its own drift (-0.2% .. +0.25% a day).
    drift = np.empty(sessions)
    at = 0
    while at < sessions:
        length = int(rng.integers(40, 161))
        drift[at : at + length] = (rng.random() * 0.45 - 0.2) / 100.0
        at += length
    returns = drift + vol * _normals(rng, sessions)
    start = 20.0 + 5.0 * (symbol_index * 7 % 37)
    close = start * np.cumprod(1.0 + returns)
    gap = 0.3 * vol * _normals(rng, sessions)
    open_ = np.r_[start, close[:-1]] * (1.0 + gap)
    wick_hi = np.abs(0.5 * vol * _normals(rng, sessions))
    wick_lo = np.abs(0.5 * vol * _normals(rng, sessions))
    c, o = _cents(close), _cents(open_)
    high = np.maximum(_cents(np.maximum(close, open_) * (1.0 + wick_hi)), np.maximum(c, o))
    low = np.minimum(_cents(np.minimum(close, open_) * (1.0 - wick_lo)), np.minimum(c, o))
    base = 200_000 + 50_000 * (symbol_index % 11)
    volume = (
        base + rng.integers(0, base, size=sessions) + (np.abs(returns) * 20 * base).astype(np.int64)
    )
    return {"open": o, "high": high, "low": low, "close": c, "volume": volume.astype(np.int64)}


class DemoSource:
    """SYNTHETIC daily bars for thirty made-up symbols (see the module doc).

    :param start: first session (default 2015-01-02).
    :param end: last session (default 2024-12-31).
    :param symbols: how many of :data:`DEMO_SYMBOLS` to offer (default all 30).
    """

    frequency = Frequency.DAILY
    calendar = "XNYS"

    def __init__(
        self, start: str = "2015-01-02", end: str = "2024-12-31", symbols: int | str = 30
    ) -> None:
        try:
            self._start, self._end = (
                dt.date.fromisoformat(str(start)),
                dt.date.fromisoformat(str(end)),
            )
            count = int(symbols)
        except ValueError as exc:
            raise ConfigError(
                f"demo source: {exc}; expected start/end like 2015-01-02 and a symbol count"
            ) from exc
        if not 1 <= count <= len(DEMO_SYMBOLS):
            raise ConfigError(f"demo source: symbols={count}; expected 1..{len(DEMO_SYMBOLS)}")
        if self._start > self._end:
            raise ConfigError(f"demo source: start {self._start} is after end {self._end}")
        self._symbols = DEMO_SYMBOLS[:count]
        self._sessions: Sequence[dt.date] | None = None

    @property
    def options(self) -> Mapping[str, Any]:
        """Effective options, as recorded in the bundle manifest."""
        return {
            "start": self._start.isoformat(),
            "end": self._end.isoformat(),
            "symbols": len(self._symbols),
            "synthetic": True,
        }

    def symbols(self) -> Sequence[str]:
        """The demo symbols."""
        return list(self._symbols)

    def origin(self, symbol: str) -> str:
        """``demo:<symbol>`` (generated, not read from a file)."""
        return f"demo:{symbol}"

    def asset_info(self, symbol: str) -> AssetInfo:
        """A made-up NYSE-like equity, marked SYNTHETIC."""
        return AssetInfo(
            symbol=symbol, exchange="DEMO", calendar="XNYS", tick_size="0.01", note=_NOTE
        )

    def _all_sessions(self) -> Sequence[dt.date]:
        if self._sessions is None:
            from rbt.plugins.calendars import get_calendar

            # Generate over the full default span, then cut, so a shorter range
            # shows the same prices as the full demo on the same days.
            full = get_calendar("XNYS").sessions(dt.date(2015, 1, 2), dt.date(2024, 12, 31))
            self._sessions = full
        return self._sessions

    def _as_traded(
        self, symbol: str
    ) -> tuple[dict[str, npt.NDArray[np.int64]], list[tuple[str, int, int, int]]]:
        """Bars as traded and the actions ``(kind, ex row, pay row, value in cents/ratio)``."""
        index = DEMO_SYMBOLS.index(symbol)
        sessions = self._all_sessions()
        bars = generate(index, len(sessions))
        actions: list[tuple[str, int, int, int]] = []
        split = DEMO_SPLITS.get(symbol)
        if split is not None:
            ex = int(
                np.searchsorted(
                    np.array(sessions, dtype="datetime64[D]"), np.datetime64(split[0], "D")
                )
            )
            for f in ("open", "high", "low", "close"):
                bars[f] = np.r_[bars[f][:ex] * split[1], bars[f][ex:]]
            bars["volume"] = np.r_[bars["volume"][:ex] // split[1], bars["volume"][ex:]]
            actions.append(("split", ex, ex, split[1]))
        if symbol in DEMO_DIVIDEND_PAYERS:
            generated = {f: bars[f].astype(np.float64) for f in ("open", "high", "low", "close")}
            factor = np.ones(len(sessions))
            level = 1.0
            for ex in self._dividend_rows(sessions):
                previous = int(np.rint(generated["close"][ex - 1] * level))
                cents = max(1, int(np.rint(previous * _DIVIDEND_RATE)))
                level = level * (1.0 - cents / previous)
                factor[ex:] = level
                actions.append(("dividend", ex, min(ex + _PAY_LAG, len(sessions) - 1), cents))
            for f, values in generated.items():
                bars[f] = np.maximum(np.rint(values * factor), 1).astype(np.int64)
        return bars, actions

    @staticmethod
    def _dividend_rows(sessions: Sequence[dt.date]) -> list[int]:
        days = np.array(sessions, dtype="datetime64[D]")
        rows = []
        for year in range(sessions[0].year, sessions[-1].year + 1):
            for month in (2, 5, 8, 11):
                row = int(np.searchsorted(days, np.datetime64(dt.date(year, month, 15), "D")))
                if 0 < row < len(sessions) - _PAY_LAG:
                    rows.append(row)
        return rows

    def corporate_actions(self) -> pl.DataFrame | None:
        """The demo's split and dividends within the ingested range (see the module doc)."""
        sessions = self._all_sessions()
        rows = []
        for symbol in self._symbols:
            if symbol not in DEMO_SPLITS and symbol not in DEMO_DIVIDEND_PAYERS:
                continue
            for kind, ex, pay, value in self._as_traded(symbol)[1]:
                if not self._start <= sessions[ex] <= self._end:
                    continue
                text = str(value) if kind == "split" else f"{value // 100}.{value % 100:02d}"
                rows.append(
                    {
                        "symbol": symbol,
                        "kind": kind,
                        "ex_date": sessions[ex],
                        "pay_date": None if kind == "split" else sessions[pay],
                        "value": text,
                    }
                )
        if not rows:
            return None
        return pl.DataFrame(
            rows,
            schema={
                "symbol": pl.String,
                "kind": pl.String,
                "ex_date": pl.Date,
                "pay_date": pl.Date,
                "value": pl.String,
            },
        )

    def read(self, symbol: str) -> pl.DataFrame:
        """The symbol's bars as traded (``ts`` as ``pl.Date``, prices ``pl.Decimal(38, 2)``)."""
        sessions = self._all_sessions()
        bars = self._as_traded(symbol)[0]
        days = pl.Series("ts", sessions, dtype=pl.Date)
        frame = pl.DataFrame(
            [
                days,
                *(from_mantissas(bars[f], 2, f) for f in ("open", "high", "low", "close")),
                pl.Series("volume", bars["volume"], dtype=pl.Int64),
            ]
        )
        return frame.filter(pl.col("ts").is_between(self._start, self._end))
