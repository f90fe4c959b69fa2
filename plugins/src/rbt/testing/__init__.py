"""RustyBT's conformance kit for plugin authors (PYTEST_DONT_REWRITE).

Opt in from your top-level ``conftest.py``::

    pytest_plugins = ["rbt.testing.pytest_plugin"]

then subclass the conformance classes, naming your provider::

    from rbt.testing import CommissionModelConformance

    class TestMyCommission(CommissionModelConformance):
        provider = "mine.flat_fee"

Contents (imported lazily, so ``import rbt.testing`` stays cheap):

* :class:`~rbt.testing.harness.RbtHarness` and the ``rbt_harness`` fixture;
* :mod:`rbt.testing.strategies`: Hypothesis strategies for assets, prices, orders, fills;
* conformance classes: :class:`CommissionModelConformance` (TC-C..),
  :class:`SlippageModelConformance` (TC-S..), :class:`BrokerConformance` (TC-B..),
  :class:`DataSourceConformance` (TC-D..), :class:`PackagingConformance` (TC-P..),
  :class:`LiveBrokerConformance` (TC-L.., live adapters), :class:`ShadowCheckConformance`
  (TC-SC.., shadow checks);
* :func:`requires`: capability-driven skips;
* :func:`~rbt.testing.packaging.run_packaging_checks` for ``rbt plugins check``.

The docstring marker above stops pytest from trying to rewrite this package's
``__init__`` (already executing when it registers the rewrite); the kit's
submodules are rewritten, so failed asserts inside shared suites show values.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

# Only under pytest (it is then already imported): `rbt plugins check` must not import it.
if "pytest" in sys.modules:
    sys.modules["pytest"].register_assert_rewrite("rbt.testing")

__all__ = [
    "BrokerConformance",
    "CommissionModelConformance",
    "DataSourceConformance",
    "EventRecorder",
    "LiveBrokerConformance",
    "PackagingConformance",
    "RbtHarness",
    "ShadowCheckConformance",
    "SlippageModelConformance",
    "requires",
    "run_packaging_checks",
]

_LAZY = {
    "BrokerConformance": "rbt.testing.broker",
    "CommissionModelConformance": "rbt.testing.commission",
    "DataSourceConformance": "rbt.testing.datasource",
    "LiveBrokerConformance": "rbt.testing.live_broker",
    "EventRecorder": "rbt.testing.harness",
    "PackagingConformance": "rbt.testing.packaging_conformance",
    "RbtHarness": "rbt.testing.harness",
    "ShadowCheckConformance": "rbt.testing.shadow",
    "SlippageModelConformance": "rbt.testing.slippage",
    "requires": "rbt.testing.capabilities",
    "run_packaging_checks": "rbt.testing.packaging",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'rbt.testing' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted(__all__)
