"""A bar's exact values do not depend on the thread's Decimal context.

A strategy may narrow the context (``getcontext().prec = 4`` for its own sums); the bars
it trades on must stay what the bundle holds: 1234.125 is not 1234, and a fill at it is
booked at 1234.125. Every way the engine builds an exact value from a mantissa is read
here under a narrow context and compared, by ``repr``, with the same read under the
default one.
"""

from __future__ import annotations

import datetime as dt
import decimal
from decimal import Decimal

import attrs
import numpy as np
import pytest

from rbt.api import TradingAlgorithm, order, run_backtest, symbol
from rbt.api.engine import PositionRows
from rbt.data.bars import OHLCV, BarArrays, DerivedMantissas, bars_from_floats
from rbt.data.portal import BarPortal
from rbt.kernel.model import Asset
from rbt.plugins import plugin_manager
from rbt.plugins.calendars import get_calendar

CAL = get_calendar("XNYS")
SESSIONS = list(CAL.sessions(dt.date(2024, 1, 2), dt.date(2024, 1, 31)))
ASSETS = [Asset(sid=1, symbol="AAA", tick_size="0.001"), Asset(sid=2, symbol="BBB")]


def _bars() -> BarArrays:
    n = len(SESSIONS)
    close = np.column_stack([1234.125 + np.arange(n) * 0.5, 98765.43 - np.arange(n)])
    fields = {"open": close + 0.25, "high": close + 1, "low": close - 1, "close": close}
    volume = np.full((n, 2), 123456789.0)
    return bars_from_floats(ASSETS, SESSIONS, {**fields, "volume": volume}, calendar="XNYS")


def _reads(bars: BarArrays) -> list[object]:
    """Every exact value the engine builds from the bars' mantissas, once each way."""
    portal = BarPortal(bars, CAL)
    portal.advance(CAL.session_times(SESSIONS[5]).close)
    out: list[object] = [bars.exact(f, 3, c) for f in OHLCV for c in (0, 1)]
    out += [bars.exact_in_row(f, 4)(c) for f in ("open", "close", "volume") for c in (0, 1)]
    out += [bars.exact_bar(2, c) for c in (0, 1)]
    out += [portal.exact_prices(ASSETS, "close")]
    pricer = portal.deferred_exact_prices("close")
    assert pricer is not None
    out += [pricer(ASSETS)]
    rows = PositionRows(
        np.array([1, 2]), np.array([3, -4]), np.array([1234125, 9876543]), np.array([3, 2])
    )
    out += [tuple(rows)]
    return out


@pytest.mark.parametrize("derived", [False, True])
def test_exact_values_are_read_whole_under_a_narrow_context(derived: bool) -> None:
    bars = _bars()  # mantissa arrays given
    if derived:  # derived from the floats when read (a loaded bundle's)
        mantissas = DerivedMantissas(bars.floats, bars.price_scales, bars.volume_scales)
        bars = attrs.evolve(bars, mantissas=mantissas)
    wide = _reads(bars)
    with decimal.localcontext(prec=3):
        narrow = _reads(bars)
        assert bars.exact("close", 0, 0) == Decimal("1234.125")  # not 1.23E+3
    assert repr(narrow) == repr(wide)


class _Buys(TradingAlgorithm):
    """Narrows the thread's context for good, then buys a few shares of each asset."""

    def initialize(self, context: object) -> None:
        if self.narrow:
            decimal.getcontext().prec = 4

    def handle_data(self, context: object, data: object) -> None:
        for name in ("AAA", "BBB"):
            order(symbol(name), 3)


def _run(narrow: bool) -> tuple[list[Decimal], ...]:
    saved = decimal.getcontext().copy()
    try:
        strategy = _Buys()
        strategy.narrow = narrow  # type: ignore[attr-defined]
        result = run_backtest(
            strategy,
            start=SESSIONS[0],
            end=SESSIONS[4],
            bars=_bars(),
            capital_base=10**7,
            commission="none",
            slippage="none",
            write=False,
            manager=plugin_manager(autoload=False, strict=True),
        )
    finally:
        decimal.setcontext(saved)
    return (
        result.transactions["price"].to_list(),
        result.positions["last_price"].to_list(),
        result.perf["positions_value"].to_list(),  # valued from the mantissas at each close
    )


def test_a_strategy_that_narrows_the_context_trades_at_the_exact_prices() -> None:
    wide, narrow = _run(narrow=False), _run(narrow=True)
    assert narrow == wide
    # the first fills, at the second bar's closes (the default timing): all their digits
    assert wide[0][:2] == [Decimal("1234.625"), Decimal("98764.43")]
