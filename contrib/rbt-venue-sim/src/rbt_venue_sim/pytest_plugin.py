"""pytest fixtures: a simulator subprocess per test, and a loopback-only network guard.

In a standalone repository: ``pytest_plugins = ["rbt_venue_sim.pytest_plugin"]``.
Inside the rbt repository (where only the top-level conftest may declare plugins),
import the fixtures by name in a conftest, as this distribution's tests do.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from rbt_venue_sim.testing import VenueSim, start_venue_sim

__all__ = ["loopback_only", "venue_sim", "venue_sim_factory"]


@pytest.fixture
def loopback_only() -> Iterator[None]:
    """Block ``socket.connect`` to anything but 127.0.0.1 (and unix sockets) in this process.

    A missed ccxt URL override then fails loudly instead of reaching the internet.
    """
    import pytest_socket

    pytest_socket.socket_allow_hosts(["127.0.0.1"], allow_unix_socket=True)
    try:
        yield
    finally:
        pytest_socket._remove_restrictions()


@pytest.fixture
def venue_sim_factory() -> Iterator[Callable[..., VenueSim]]:
    """Start simulators with :func:`~rbt_venue_sim.testing.start_venue_sim`'s arguments;
    every one is stopped (SIGTERM, then SIGKILL) when the test ends."""
    started: list[VenueSim] = []

    def start(**kwargs: Any) -> VenueSim:
        sim = start_venue_sim(**kwargs)
        started.append(sim)
        return sim

    try:
        yield start
    finally:
        for sim in started:
            sim.stop()


@pytest.fixture
def venue_sim(venue_sim_factory: Callable[..., VenueSim]) -> VenueSim:
    """A simulator serving BTC/USDT, ETH/USDT and LTC/USDT with the default account."""
    return venue_sim_factory(symbols=["BTC/USDT", "ETH/USDT", "LTC/USDT"])
