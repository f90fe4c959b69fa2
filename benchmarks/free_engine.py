"""The user's own code with a free engine: an upper bound for any engine under it.

Runs the body of ``benchmarks/dual_ma.py``'s ``handle_data`` — the same numpy window,
sums, ``asset in positions`` loops and sizing — over a bench bundle's closes, with the
engine replaced by plain Python: the window is a slice, positions a dict, the portfolio
value a float, and an order an assignment. What is left is what CPython costs for the
strategy as a user writes it, so ``N·D / seconds`` is the most any engine could reach::

    uv run python benchmarks/free_engine.py M L MIN

Both idioms: ``dual_ma.py``'s window sums and ``dual_ma_indicator.py``'s precomputed rows.

The bundles are the ones ``benchmarks/run.py`` ingests (``bench_m`` ... under
``$RBT_BENCH_HOME``). The positions follow the strategy (entries and exits at the signal
close, no next-open fills), which is close enough for membership tests to cost the same.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

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


def main(scenarios: list[str]) -> None:
    home = RbtHome(BENCH_HOME)
    for sc in scenarios:
        bars = load_bundle(home, f"bench_{sc.lower()}")
        closes = np.ascontiguousarray(bars.floats["close"])
        n, d = closes.shape[1], closes.shape[0]
        for idiom, measure in (
            ("history", user_code_seconds),
            ("indicator", indicator_code_seconds),
        ):
            seconds = min(measure(closes, list(bars.assets)) for _ in range(3))
            print(
                f"{sc} ({idiom} idiom): user code with a free engine {seconds:.3f} CPU s "
                f"-> at most {n * d / seconds / 1e3:,.0f} k asset-bars/s"
            )


if __name__ == "__main__":
    main([a.upper() for a in sys.argv[1:]] or ["M"])
