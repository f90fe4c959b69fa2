"""The conformance kit's pytest plugin. Opt in from your top-level ``conftest.py``::

    pytest_plugins = ["rbt.testing.pytest_plugin"]

It is deliberately not a ``pytest11`` entry point, so installing ``rbt`` never changes
unrelated pytest runs.

Fixtures:

``rbt_harness``
    an :class:`~rbt.testing.harness.RbtHarness`: an isolated plugin manager (built-ins
    plus what you add, nothing autoloaded, strict), ledgers, clocks, event recorders.
    The test fails if it leaves ``os.environ`` changed.
``rbt_environ_guard``
    only the ``os.environ`` leak check, for tests that need no harness.
``rbt_tmp_dists``
    a :class:`~rbt.testing.distributions.TempDistributions`: install real throw-away
    distributions with entry points for discovery tests; removed after the test.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from rbt.testing.distributions import TempDistributions
from rbt.testing.harness import RbtHarness, environ_unchanged

__all__ = ["rbt_environ_guard", "rbt_harness", "rbt_tmp_dists"]


@pytest.fixture
def rbt_environ_guard() -> Iterator[None]:
    """Fail the test if it leaves ``os.environ`` changed."""
    with environ_unchanged():
        yield


@pytest.fixture
def rbt_harness(rbt_environ_guard: None) -> RbtHarness:
    """An isolated harness: built-ins plus the plugin under test, nothing autoloaded."""
    return RbtHarness()


@pytest.fixture
def rbt_tmp_dists(tmp_path: Path) -> Iterator[TempDistributions]:
    """Install real throw-away distributions (``*.dist-info`` on ``sys.path``) for a test."""
    dists = TempDistributions(tmp_path / "dists")
    try:
        yield dists
    finally:
        dists.cleanup()
