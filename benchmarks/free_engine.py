"""The user's own code with a free engine: an upper bound for any engine under it.

Runs the body of ``benchmarks/dual_ma.py``'s ``handle_data`` — the same numpy window,
sums, ``asset in positions`` loops and sizing — over a bench bundle's closes, with the
engine replaced by plain Python: the window is a slice, positions a dict, the portfolio
value a float, and an order an assignment. What is left is what CPython costs for the
strategy as a user writes it, so ``N·D / seconds`` is the most any engine could reach::

    uv run python benchmarks/free_engine.py M L MIN
    uv run python benchmarks/free_engine.py M --json     # one RESULT line per scenario

Three idioms: ``dual_ma.py``'s window sums, ``dual_ma_indicator.py``'s precomputed rows
and ``dual_ma_pandas_ops.py``'s DataFrame reductions. The last is timed on frames built
before the clock starts (as if ``data.history`` cost nothing), so it bounds that variant:
it takes at least the numpy variant's time plus the difference of the two user codes, and
staying within 3x of the numpy variant then needs that one to take at least half of the
difference, whatever the engine.

The bundles are the ones ``benchmarks/run.py`` ingests (``bench_m`` ... under
``$RBT_BENCH_HOME``). The positions follow the strategy (entries and exits at the signal
close, no next-open fills), which is close enough for membership tests to cost the same.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from rbt.api.indicators import sma
from rbt.data.bundles import load_bundle
from rbt.data.home import RbtHome
from rbt.kernel.model import Asset

BENCH_HOME = Path(os.environ.get("RBT_BENCH_HOME") or "~/.cache/rbt-bench").expanduser()
FAST, SLOW = 10, 50


Signals = Callable[[int], tuple[np.ndarray, np.ndarray]]


def _seconds(signals: Signals, bars: int, assets: list[Asset]) -> float:
    """CPU seconds of the strategy's per-bar code: ``signals(t)`` gives bar ``t``'s long
    flags and closes (one call per bar, as ``handle_data`` is), then the orders' loops."""
    n = len(assets)
    positions: dict[Asset, int] = {}
    value = 1_000_000.0
    start = time.process_time()
    for t in range(bars):
        long_, last = signals(t)
        for i, asset in enumerate(assets):  # exits first
            if asset in positions and not long_[i]:
                del positions[asset]
        for i, asset in enumerate(assets):  # then entries, in asset order
            if asset not in positions and long_[i]:
                shares = math.floor(value / (n * last[i]) + 1e-9)
                if shares > 0:
                    positions[asset] = shares
    return time.process_time() - start


def user_code_seconds(closes: np.ndarray, assets: list[Asset]) -> float:
    """``dual_ma.py``: a numpy window per bar (NaN-padded at first), sums over it / k."""
    padding = np.full((SLOW, len(assets)), np.nan)

    def signals(t: int) -> tuple[np.ndarray, np.ndarray]:
        window = closes[t - SLOW + 1 : t + 1] if t >= SLOW - 1 else padding
        fast = window[-FAST:].sum(axis=0) / FAST
        slow = window.sum(axis=0) / SLOW
        return fast > slow, window[-1]

    return _seconds(signals, len(closes), assets)


def indicator_code_seconds(closes: np.ndarray, assets: list[Asset]) -> float:
    """``dual_ma_indicator.py``: the precomputed averages' rows read per bar (each a fresh
    row view, as ``Indicator.current`` gives)."""
    fast_sma, slow_sma = sma(closes, FAST), sma(closes, SLOW)

    def signals(t: int) -> tuple[np.ndarray, np.ndarray]:
        return fast_sma[t] > slow_sma[t], closes[t]

    return _seconds(signals, len(closes), assets)


def pandas_code_seconds(
    closes: np.ndarray, assets: list[Asset], *, propagate_nan: bool = False
) -> float:
    """``dual_ma_pandas_ops.py``: the same sums as DataFrame reductions (``min_count``: NaN
    until the window is full, as the numpy sums), on a frame per bar made beforehand.

    ``propagate_nan``: ``skipna=False`` instead, the cheapest pandas spelling of the same
    sums (NaN in, NaN out, as numpy's), to show the bound does not hang on the spelling.
    """
    padding = np.full((SLOW, len(assets)), np.nan)
    columns = pd.Index(assets, dtype=object)
    # data.history's shape: dates without a freq, assets as objects
    dates = pd.DatetimeIndex(pd.date_range("2000-01-03", periods=len(closes), freq="B").values)
    frames = [
        pd.DataFrame(closes[t - SLOW + 1 : t + 1], dates[t - SLOW + 1 : t + 1], columns)
        if t >= SLOW - 1
        else pd.DataFrame(padding, dates[:SLOW], columns)
        for t in range(len(closes))
    ]
    fast_kw = {"skipna": False} if propagate_nan else {"min_count": FAST}
    slow_kw = {"skipna": False} if propagate_nan else {"min_count": SLOW}

    def signals(t: int) -> tuple[np.ndarray, np.ndarray]:
        frame = frames[t]
        fast = frame.iloc[-FAST:].sum(axis=0, **fast_kw).to_numpy() / FAST
        slow = frame.sum(axis=0, **slow_kw).to_numpy() / SLOW
        return fast > slow, frame.iloc[-1].to_numpy()

    return _seconds(signals, len(closes), assets)


def _pandas_nan_propagating(closes: np.ndarray, assets: list[Asset]) -> float:
    return pandas_code_seconds(closes, assets, propagate_nan=True)


def measure(sc: str) -> dict[str, float]:
    """CPU seconds of each idiom's user code on scenario ``sc`` (best of 3); the pandas
    idioms on daily data only (a frame per bar)."""
    bars = load_bundle(RbtHome(BENCH_HOME), f"bench_{sc.lower()}")
    closes = np.ascontiguousarray(bars.floats["close"])
    measured: dict[str, float] = {}
    for idiom, code in (
        ("history", user_code_seconds),
        ("indicator", indicator_code_seconds),
        ("pandas", pandas_code_seconds),
        ("pandas, skipna=False", _pandas_nan_propagating),
    ):
        if idiom.startswith("pandas") and len(closes) > 10_000:
            continue
        measured[idiom] = min(code(closes, list(bars.assets)) for _ in range(3))
    return measured


def floor_within_3x(measured: dict[str, float], idiom: str = "pandas") -> float:
    """The least time the numpy variant may take with a pandas ``idiom`` within 3x of it:
    that variant takes at least the numpy one's time T plus the difference of their user
    codes, and T + difference <= 3 T needs T >= difference / 2."""
    return (measured[idiom] - measured["history"]) / 2


def main(argv: list[str]) -> None:
    as_json = "--json" in argv
    for sc in [a.upper() for a in argv if a != "--json"] or ["M"]:
        meta = json.loads((BENCH_HOME / "data" / sc / "meta.json").read_text())
        cells = meta["asset_bars"]
        measured = measure(sc)
        floors = {i: floor_within_3x(measured, i) for i in measured if i.startswith("pandas")}
        if as_json:
            result = {"scenario": sc, "asset_bars": cells, "seconds": measured, "floors": floors}
            print("RESULT " + json.dumps(result))
            continue
        for idiom, seconds in measured.items():
            print(
                f"{sc} ({idiom} idiom): user code with a free engine {seconds:.3f} CPU s "
                f"-> at most {cells / seconds / 1e3:,.0f} k asset-bars/s"
            )
        for idiom, floor in floors.items():
            print(
                f"{sc} ({idiom}): within 3 x the numpy variant only while that takes "
                f">= {floor:.3f} s, so at most {cells / floor / 1e3:,.0f} k asset-bars/s"
            )


if __name__ == "__main__":
    main(sys.argv[1:])
