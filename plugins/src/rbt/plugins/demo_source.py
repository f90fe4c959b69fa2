"""Built-in data source ``demo``: SYNTHETIC daily bars for offline demos and tests.

The generator lives in :mod:`rbt.data.demo`; this module only registers it.

.. versionadded:: 0.1
"""

from __future__ import annotations

from collections.abc import Iterator

from rbt.kernel import hookimpl
from rbt.kernel.registry import Provider, ProviderKind

__all__ = ["rbt_register_data_sources"]


@hookimpl
def rbt_register_data_sources() -> Iterator[Provider]:
    """Register the ``demo`` source."""
    yield Provider(
        kind=ProviderKind.DATA_SOURCE,
        name="demo",
        factory="rbt.data.demo:DemoSource",
        summary="SYNTHETIC daily bars: 30 made-up symbols on XNYS, 2015-2024 (fixed seeds)",
    )
