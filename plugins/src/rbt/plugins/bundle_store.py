"""Built-in bundle store ``parquet``: atomic Parquet bundles under ``$RBT_HOME/bundles``.

The implementation lives in :mod:`rbt.data.bundles`; this module only
registers it, so listing plugins imports neither polars nor numpy.

.. versionadded:: 0.1
"""

from __future__ import annotations

from collections.abc import Iterator

from rbt.kernel import hookimpl
from rbt.kernel.registry import Provider, ProviderKind

__all__ = ["rbt_register_bundle_stores"]


@hookimpl
def rbt_register_bundle_stores() -> Iterator[Provider]:
    """Register the ``parquet`` bundle store."""
    yield Provider(
        kind=ProviderKind.BUNDLE_STORE,
        name="parquet",
        factory="rbt.data.bundles:ParquetBundleStore",
        summary="Parquet files with exact int64 prices, sha256 manifest, atomic swaps",
    )
