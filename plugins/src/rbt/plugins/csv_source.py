"""Built-in data source ``csv``: a directory with one ``<SYMBOL>.csv`` file per symbol.

The reader lives in :mod:`rbt.data.csv_dir` (see there for the input rules and
options); this module only registers it, so listing plugins stays cheap.

.. versionadded:: 0.1
"""

from __future__ import annotations

from collections.abc import Iterator

from rbt.kernel import hookimpl
from rbt.kernel.registry import Provider, ProviderKind

__all__ = ["rbt_register_data_sources"]


@hookimpl
def rbt_register_data_sources() -> Iterator[Provider]:
    """Register the ``csv`` directory source."""
    yield Provider(
        kind=ProviderKind.DATA_SOURCE,
        name="csv",
        factory="rbt.data.csv_dir:CsvDirectorySource",
        summary="a directory of <SYMBOL>.csv files (OHLCV, daily or intraday)",
    )
