"""Conformance cases for data sources (TC-D..): the contract of :mod:`rbt.data.source`.

Subclass, name the provider and build the source over valid input you supply::

    from rbt.testing import DataSourceConformance

    class TestMyCsv(DataSourceConformance):
        provider = "mine.csv"

        def make_source(self, record, tmp_path):
            (tmp_path / "AAA.csv").write_text("date,open,high,low,close,volume\\n...")
            return record.create(path=str(tmp_path))

Sources only parse (consistency checks run at ingest, for every source alike), so
these cases describe what a source returns for *valid* input:

* TC-D01: ``symbols()`` is a non-empty sequence of unique, non-empty strings;
* TC-D02: ``read(symbol)`` returns a Polars frame with exactly the canonical columns
  ``ts, open, high, low, close, volume`` (plus the optional ``line``);
* TC-D03: exact dtypes: ``ts`` is ``Date`` for daily sources, ``Datetime("ns", "UTC")``
  for intraday ones; prices and volume are ``Decimal`` or integers — never floats;
* TC-D04: timestamps are UTC, non-null, strictly increasing and unique;
* TC-D05: no nulls in the bar columns;
* TC-D06: ``asset_info(symbol)`` describes that symbol; ``origin(symbol)`` names where it
  comes from; ``options`` is JSON-serializable;
* TC-D07: reading is deterministic: reading twice gives equal frames.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import pytest

from rbt.kernel.clock import Frequency
from rbt.kernel.registry import Provider, ProviderKind
from rbt.testing._base import ProviderConformance

if TYPE_CHECKING:
    import polars as pl

__all__ = ["DataSourceConformance"]


class DataSourceConformance(ProviderConformance):
    """Conformance cases every data source passes (TC-D01..)."""

    kind: ClassVar[ProviderKind] = ProviderKind.DATA_SOURCE

    def make_source(self, record: Provider, tmp_path: Path) -> Any:
        """Build the source under test over valid input (default: ``factory(**kwargs)``)."""
        return record.create(**self.provider_kwargs)

    @pytest.fixture
    def rbt_source(self, rbt_provider_record: Provider, tmp_path: Path) -> Any:
        """The source under test."""
        return self.make_source(rbt_provider_record, tmp_path)

    @pytest.fixture
    def rbt_frames(self, rbt_source: Any) -> dict[str, pl.DataFrame]:
        """Every symbol's frame, read once."""
        return {symbol: rbt_source.read(symbol) for symbol in rbt_source.symbols()}

    def test_tc_d00_builds_a_data_source(self, rbt_source: Any) -> None:
        """TC-D00: the factory builds a :class:`rbt.data.source.DataSource`."""
        from rbt.data.source import DataSource

        assert isinstance(rbt_source, DataSource)
        assert isinstance(rbt_source.frequency, Frequency)
        assert isinstance(rbt_source.calendar, str)

    def test_tc_d01_symbols(self, rbt_source: Any) -> None:
        """TC-D01: a non-empty sequence of unique, non-empty strings."""
        symbols = list(rbt_source.symbols())
        assert symbols, "the source lists no symbol"
        assert all(isinstance(s, str) and s for s in symbols), symbols
        assert len(set(symbols)) == len(symbols), f"duplicate symbols in {symbols}"

    def test_tc_d02_canonical_columns(self, rbt_frames: dict[str, pl.DataFrame]) -> None:
        """TC-D02: exactly the canonical columns (plus the optional ``line``)."""
        import polars as pl

        from rbt.data.source import BAR_COLUMNS, LINE_COLUMN

        for symbol, frame in rbt_frames.items():
            assert isinstance(frame, pl.DataFrame), f"{symbol}: {type(frame).__name__}"
            columns = [c for c in frame.columns if c != LINE_COLUMN]
            assert columns == list(BAR_COLUMNS), f"{symbol}: columns {frame.columns}"
            assert frame.height > 0, f"{symbol}: no rows"

    def test_tc_d03_exact_dtypes(
        self, rbt_source: Any, rbt_frames: dict[str, pl.DataFrame]
    ) -> None:
        """TC-D03: ``ts`` Date (daily) or Datetime(ns, UTC); exact numbers, never floats."""
        import polars as pl

        from rbt.data.source import MAX_SCALE, PRICE_FIELDS

        daily = rbt_source.frequency is Frequency.DAILY
        for symbol, frame in rbt_frames.items():
            ts = frame.schema["ts"]
            if daily:
                assert ts == pl.Date, f"{symbol}: daily ts must be Date, got {ts}"
            else:
                assert ts == pl.Datetime("ns", "UTC"), (
                    f"{symbol}: intraday ts must be Datetime('ns', 'UTC'), got {ts}"
                )
            for column in (*PRICE_FIELDS, "volume"):
                dtype = frame.schema[column]
                assert not dtype.is_float(), f"{symbol}.{column} is a float ({dtype})"
                assert dtype.is_integer() or isinstance(dtype, pl.Decimal), (
                    f"{symbol}.{column} must be Decimal or an integer, got {dtype}"
                )
                if isinstance(dtype, pl.Decimal):
                    assert (dtype.scale or 0) <= MAX_SCALE, f"{symbol}.{column}: scale {dtype}"

    def test_tc_d04_timestamps_strictly_increase(self, rbt_frames: dict[str, pl.DataFrame]) -> None:
        """TC-D04: non-null, unique, strictly increasing, UTC."""
        for symbol, frame in rbt_frames.items():
            ts = frame["ts"]
            assert ts.null_count() == 0, f"{symbol}: null timestamps"
            assert ts.n_unique() == frame.height, f"{symbol}: duplicate timestamps"
            values = ts.to_list()
            assert all(a < b for a, b in itertools.pairwise(values)), (
                f"{symbol}: timestamps are not strictly increasing"
            )

    def test_tc_d05_no_nulls(self, rbt_frames: dict[str, pl.DataFrame]) -> None:
        """TC-D05: every bar column is complete."""
        from rbt.data.source import BAR_COLUMNS

        for symbol, frame in rbt_frames.items():
            nulls = {c: frame[c].null_count() for c in BAR_COLUMNS if frame[c].null_count()}
            assert not nulls, f"{symbol}: nulls in {nulls}"

    def test_tc_d06_reference_data(self, rbt_source: Any) -> None:
        """TC-D06: asset_info and origin per symbol; JSON-serializable options."""
        from rbt.data.source import AssetInfo

        for symbol in rbt_source.symbols():
            info = rbt_source.asset_info(symbol)
            assert isinstance(info, AssetInfo)
            assert info.symbol == symbol
            origin = rbt_source.origin(symbol)
            assert isinstance(origin, str)
            assert origin
        json.dumps(dict(rbt_source.options))

    def test_tc_d07_reads_are_deterministic(
        self, rbt_source: Any, rbt_frames: dict[str, pl.DataFrame]
    ) -> None:
        """TC-D07: reading again gives an equal frame."""
        for symbol, frame in rbt_frames.items():
            again = rbt_source.read(symbol)
            assert again.equals(frame), f"{symbol}: a second read differs"
