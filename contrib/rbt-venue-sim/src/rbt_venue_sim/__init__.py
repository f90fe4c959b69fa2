"""rbt-venue-sim: a local exchange simulator (Binance-spot-shaped) for loopback tests."""

from __future__ import annotations

__version__ = "0.1.0"
