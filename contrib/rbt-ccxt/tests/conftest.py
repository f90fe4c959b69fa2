"""Fixtures of rbt-ccxt's tests: the venue simulator (a subprocess on 127.0.0.1) and the
loopback-only network guard, imported by name (this conftest is not top-level in the rbt
repository); every test here runs with sockets restricted to 127.0.0.1."""

from __future__ import annotations

import pytest
from rbt_ccxt.testing import EventLog, broker_for
from rbt_venue_sim.pytest_plugin import loopback_only, venue_sim, venue_sim_factory

__all__ = ["EventLog", "broker_for", "loopback_only", "venue_sim", "venue_sim_factory"]


@pytest.fixture(autouse=True)
def _loopback_guard(loopback_only: None) -> None:
    """Applies :func:`~rbt_venue_sim.pytest_plugin.loopback_only` to every test here."""


@pytest.fixture(autouse=True)
def _installed_plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests see the installed plugins, as a user's process does: the framework's own
    test session switches entry-point autoload off, which would hide ``ccxt.binance``."""
    monkeypatch.delenv("RBT_DISABLE_PLUGIN_AUTOLOAD", raising=False)
