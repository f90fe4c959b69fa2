"""A third-party :class:`BatchDataSource` may hand daily ``ts`` as ``pl.Datetime`` and its
mantissas as any integer type (one batch Int32, the next Int64): ingest takes them as the
session dates and Int64 mantissas, the bundle equal to one from exact dtypes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import numpy as np
import polars as pl
import pytest

from rbt.data.bundles import load_bundle
from rbt.data.ingest import _BATCH, ingest
from rbt.data.source import AssetInfo, BarBatch, BatchDataSource
from rbt.kernel import hookimpl
from rbt.kernel.clock import Frequency
from rbt.kernel.errors import SchemaError
from rbt.kernel.manager import make_plugin_manager
from rbt.kernel.registry import Provider, ProviderKind

from .conftest import PLUGINS, xnys_sessions

SYMBOLS = [f"T{i:03d}" for i in range(_BATCH + 3)]  # two batches
DAYS = xnys_sessions(4, dt.date(2024, 1, 2))


class Batches:
    """Bars of ``SYMBOLS`` in one long frame per batch, in the dtypes ``style`` names."""

    frequency = Frequency.DAILY
    calendar = "XNYS"

    def __init__(self, style: str = "exact") -> None:
        self.style = style

    @property
    def options(self) -> Mapping[str, Any]:
        return {"style": self.style}

    def symbols(self) -> Sequence[str]:
        return SYMBOLS

    def read(self, symbol: str) -> pl.DataFrame:  # pragma: no cover (read_batch is used)
        raise NotImplementedError

    def asset_info(self, symbol: str) -> AssetInfo:
        return AssetInfo(symbol=symbol)

    def origin(self, symbol: str) -> str:
        return f"memory:{symbol}"

    def read_batch(self, symbols: Sequence[str]) -> BarBatch:
        first = SYMBOLS.index(symbols[0])
        n = len(DAYS)
        close = np.concatenate([np.arange(n) + 100 * (first + i + 1) for i in range(len(symbols))])
        ts: pl.Series = pl.Series("ts", DAYS * len(symbols), dtype=pl.Date)
        integer: Any = pl.Int64
        if self.style == "loose" and first == 0:  # only the first batch: the two differ
            ts = ts.cast(pl.Datetime("us")).dt.replace_time_zone("America/New_York")
            integer = pl.Int32
        elif self.style == "text":
            ts = ts.cast(pl.String)
        frame = pl.DataFrame(
            {
                "symbol_index": np.repeat(np.arange(len(symbols), dtype=np.uint32), n),
                "ts": ts,
                **{c: pl.Series(close, dtype=integer) for c in ("open", "high", "low", "close")},
                "volume": pl.Series(close * 10, dtype=integer),
            }
        )
        return BarBatch(
            symbols=tuple(symbols),
            frame=frame,
            price_scales=(2,) * len(symbols),
            volume_scales=(0,) * len(symbols),
            origins=tuple(self.origin(s) for s in symbols),
        )


class Plugin:
    @hookimpl
    def rbt_register_data_sources(self) -> Any:
        yield Provider(kind=ProviderKind.DATA_SOURCE, name="batches", factory=Batches)


@pytest.fixture(scope="module")
def batches_manager() -> Any:
    return make_plugin_manager(builtins=PLUGINS, plugins=[("batches", Plugin())], autoload=False)


def test_datetime_daily_ts_and_int32_mantissas_ingest_like_exact_ones(home, batches_manager):
    assert isinstance(Batches(), BatchDataSource)
    ingest(home, "batches", "exact", {"style": "exact"}, manager=batches_manager)
    ingest(home, "batches", "loose", {"style": "loose"}, manager=batches_manager)
    exact, loose = load_bundle(home, "exact"), load_bundle(home, "loose")
    assert list(loose.sessions) == list(np.array(DAYS, dtype="datetime64[D]"))
    assert np.array_equal(loose.ts, exact.ts)
    for field in ("open", "close", "volume"):
        assert np.array_equal(loose.mantissas[field], exact.mantissas[field])
    assert loose.exact("close", 3, 0) == exact.exact("close", 3, 0) == Decimal("1.03")


def test_a_ts_that_is_no_date_is_a_clear_error(home, batches_manager):
    with pytest.raises(SchemaError, match=r"memory:T000 .*'ts' has dtype String; daily bars"):
        ingest(home, "batches", "text", {"style": "text"}, manager=batches_manager)
