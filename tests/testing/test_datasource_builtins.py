"""The kit's data-source cases run against the built-in CSV directory source."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rbt.kernel.registry import Provider
from rbt.testing import DataSourceConformance

CSV = ("rbt.plugins.csv_source",)


class TestCsvDaily(DataSourceConformance):
    builtins = CSV
    provider = "csv"

    def make_source(self, record: Provider, tmp_path: Path) -> Any:
        (tmp_path / "AAA.csv").write_text(
            "Date,Open,High,Low,Close,Volume\n"
            "2024-01-02,100.00,101.50,99.25,100.75,120000\n"
            "2024-01-03,100.75,102.00,100.50,101.25,98000\n"
            "2024-01-04,101.25,101.25,99.00,99.50,143000\n"
        )
        (tmp_path / "BBB.csv").write_text(
            "date,open,high,low,close,volume\n"
            "2024-01-02,20.125,20.5,20,20.25,5000\n"
            "2024-01-03,20.25,20.25,19.875,20,6100\n"
        )
        return record.create(path=str(tmp_path))


class TestCsvIntraday(DataSourceConformance):
    builtins = CSV
    provider = "csv"

    def make_source(self, record: Provider, tmp_path: Path) -> Any:
        (tmp_path / "BTCUSD.csv").write_text(
            "timestamp,open,high,low,close,volume\n"
            "2024-03-01T00:01:00Z,61000.5,61010,60990,61005.25,1.25\n"
            "2024-03-01T00:02:00Z,61005.25,61020,61000,61015,0.5\n"
            "2024-03-01T00:03:00Z,61015,61015,60950.75,60960,2.125\n"
        )
        return record.create(
            path=str(tmp_path), calendar="always_open", asset_class="crypto", lot_size="0.001"
        )
