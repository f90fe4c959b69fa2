"""Session-wide test settings for the whole repository.

* ``RBT_DISABLE_PLUGIN_AUTOLOAD=1``: stray installed plugins cannot change results;
  a test that wants entry points passes ``autoload=True`` (or an allow-list) explicitly.
* ``RBT_HOME`` points at a fresh temporary directory, so no test writes into the
  developer's real home (calendar caches, bundles, the database).
* ``decimal.FloatOperation`` is trapped: ``Decimal(0.1)`` and ``Decimal(1) < 0.5`` raise
  (equality stays silent, as CPython documents).
* The conformance kit's pytest plugin is loaded here, for every test directory. pytest only
  honours ``pytest_plugins`` in a top-level conftest, so ``contrib/*/tests/conftest.py``
  cannot declare it inside this repository (a standalone copy of a contrib package can).
"""

from __future__ import annotations

import decimal
import os
import shutil
import tempfile

import pytest

os.environ["RBT_DISABLE_PLUGIN_AUTOLOAD"] = "1"
_TEST_HOME = tempfile.mkdtemp(prefix="rbt-test-home-")
os.environ["RBT_HOME"] = _TEST_HOME

for _context in (decimal.DefaultContext, decimal.getcontext()):
    _context.traps[decimal.FloatOperation] = True
del _context

pytest_plugins = ["rbt.testing.pytest_plugin"]


def pytest_configure(config: pytest.Config) -> None:
    # pandas 3.1 deprecates Series.values on tz-aware data and attributes the warning to
    # pandas.core.series (not to exchange_calendars, which calls it in ExchangeCalendar's
    # __init__), so the pyproject's by-module filter misses it. Filtered by its message.
    config.addinivalue_line(
        "filterwarnings",
        "ignore:Series.values returning an ndarray that drops timezone:DeprecationWarning",
    )


def pytest_unconfigure() -> None:
    shutil.rmtree(_TEST_HOME, ignore_errors=True)
