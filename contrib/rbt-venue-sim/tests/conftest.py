"""Fixtures of the distribution, imported by name (this conftest is not top-level in the
rbt repository, where pytest refuses ``pytest_plugins``); every test here runs with the
process's sockets restricted to 127.0.0.1."""

from __future__ import annotations

import pytest
from rbt_venue_sim.pytest_plugin import loopback_only, venue_sim, venue_sim_factory

__all__ = ["loopback_only", "venue_sim", "venue_sim_factory"]


@pytest.fixture(autouse=True)
def _loopback_guard(loopback_only: None) -> None:
    """Applies :func:`~rbt_venue_sim.pytest_plugin.loopback_only` to every test here."""
