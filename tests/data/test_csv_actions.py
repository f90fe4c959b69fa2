"""The csv source's reference files: metadata.csv, splits.csv, dividends.csv, funding.csv.

Real files are written, ingested into a real bundle and loaded back.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from rbt.data.bundles import load_bundle, read_manifest
from rbt.data.ingest import ingest
from rbt.kernel.errors import SchemaError
from rbt.kernel.model import AssetClass

BARS = [
    "Date,Open,High,Low,Close,Volume",
    "2024-01-02,10.00,10.50,9.50,10.00,100",
    "2024-01-03,10.00,10.50,9.50,10.00,100",
    "2024-01-04,5.00,5.25,4.75,5.00,200",
]


def test_actions_and_metadata_are_ingested_exactly(home, manager, csv_dir):
    directory = csv_dir(
        {
            "AAA": BARS,
            "ESH4": BARS,
            "metadata": [
                "symbol,asset_class,tick_size,lot_size,min_notional,multiplier,expiration_date",
                "ESH4,future,0.25,1,,50,2024-03-15",
                "AAA,,0.01,1,5.5,,",
            ],
            "splits": ["Symbol,Ex_Date,Ratio", "AAA,2024-01-04,2"],
            "dividends": [
                "symbol,ex_date,pay_date,amount",
                "AAA,2024-01-03,2024-01-10,0.125",
                "AAA,2024-01-04,,0.1",
            ],
        }
    )
    manifest = ingest(home, "csv", "acts", {"path": str(directory)}, manager=manager)
    assert "adjustments.parquet" in manifest.files  # hashed like every other file
    assert manifest.asset_count == 2  # the reference files are not symbols
    bars = load_bundle(home, "acts")
    aaa, es = bars.assets
    assert (aaa.symbol, es.symbol) == ("AAA", "ESH4")
    assert es.asset_class is AssetClass.FUTURE
    assert (es.tick_size, es.multiplier, es.auto_close_date) == (
        Decimal("0.25"),
        Decimal(50),
        dt.date(2024, 3, 15),
    )
    assert aaa.min_notional == Decimal("5.5")
    actions = bars.actions
    assert [(s.sid, s.ex_date, s.ratio) for s in actions.splits] == [
        (0, dt.date(2024, 1, 4), Decimal(2))
    ]
    assert [(d.ex_date, d.pay_date, d.amount) for d in actions.dividends] == [
        (dt.date(2024, 1, 3), dt.date(2024, 1, 10), Decimal("0.125")),
        (dt.date(2024, 1, 4), dt.date(2024, 1, 4), Decimal("0.1")),
    ]
    again = ingest(home, "csv", "acts2", {"path": str(directory)}, manager=manager)
    assert again.content_hash == read_manifest(home, "acts").content_hash


def test_funding_rates_are_ingested_in_utc(home, manager, csv_dir):
    directory = csv_dir(
        {
            "BTCPERP": BARS,
            "metadata": ["symbol,asset_class,lot_size", "BTCPERP,perpetual,0.001"],
            "funding": [
                "symbol,timestamp,rate",
                "BTCPERP,2024-01-03T08:00:00+00:00,0.0001",
                "BTCPERP,2024-01-03T16:00:00Z,-0.00005",
            ],
        }
    )
    manifest = ingest(home, "csv", "perp", {"path": str(directory)}, manager=manager)
    assert "funding.parquet" in manifest.files
    funding = load_bundle(home, "perp").actions.funding
    assert [f.rate for f in funding] == [Decimal("0.0001"), Decimal("-0.00005")]
    assert funding[0].ts == int(dt.datetime(2024, 1, 3, 8, tzinfo=dt.UTC).timestamp()) * 10**9


@pytest.mark.parametrize(
    ("name", "lines", "message"),
    [
        ("splits", ["symbol,ex_date,ratio", "ZZZ,2024-01-04,2"], r"splits.csv, line 2.*'ZZZ'"),
        ("splits", ["symbol,ex_date,ratio", "AAA,2024-01-04,0"], r"line 2, field 'ratio'"),
        ("splits", ["symbol,ex_date,ratio", "AAA,2024-01-04,1e400x"], r"field 'ratio'"),
        ("splits", ["symbol,ex_date", "AAA,2024-01-04"], r"missing column\(s\) ratio"),
        (
            "dividends",
            ["symbol,ex_date,pay_date,amount", "AAA,2024-01-04,2024-01-03,1"],
            r"field 'pay_date'.*before",
        ),
        ("dividends", ["symbol,ex_date,amount", "AAA,2024-13-04,1"], r"line 2, field 'ex_date'"),
        ("dividends", ["symbol,ex_date,amount", "AAA,2024-01-04,-1"], r"must not be negative"),
        (
            "dividends",
            ["symbol,ex_date,amount", "AAA,2024-01-04,1", "AAA,2024-01-04,2"],
            r"line 3: a second dividend",
        ),
        ("metadata", ["symbol,asset_class", "AAA,bond"], r"metadata.csv, line 2, field"),
    ],
)
def test_bad_reference_rows_name_file_line_and_field(home, manager, csv_dir, name, lines, message):
    directory = csv_dir({"AAA": BARS, name: lines})
    with pytest.raises(SchemaError, match=message):
        ingest(home, "csv", "bad", {"path": str(directory)}, manager=manager)
