"""Fixtures of the parity tests."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from rbt.data.bars import BarArrays, bars_from_floats
from rbt.kernel.model import Asset
from rbt.plugins.calendars import get_calendar


@pytest.fixture
def run_bars() -> tuple[BarArrays, list[dt.date]]:
    """Three months of bars for two assets (for quick runs that need no zipline)."""
    sessions = list(get_calendar("XNYS").sessions(dt.date(2024, 1, 2), dt.date(2024, 3, 28)))
    close = np.linspace(10, 20, len(sessions))[:, None] * np.ones((1, 2))
    fields = {
        "open": close,
        "high": close + 1,
        "low": close - 1,
        "close": close,
        "volume": np.full_like(close, 1e6),
    }
    assets = [Asset(sid=0, symbol="AAA"), Asset(sid=1, symbol="BBB")]
    return bars_from_floats(assets, sessions, fields), sessions
