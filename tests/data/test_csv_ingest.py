"""CSV ingest: every kind of bad input rejects the whole ingest and names file, line and field.

Files have a header on line 1 and rows on lines 2..; every case writes one good file
(``AAA``) and one bad file (``BAD``) and checks that nothing at all was written.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from rbt.data.assets_db import lookup_symbol
from rbt.data.bundles import list_bundles, load_bundle, read_manifest
from rbt.data.home import RbtHome
from rbt.data.ingest import ingest
from rbt.kernel.errors import ConfigError, DataUnavailableError, SchemaError
from rbt.plugins.calendars import get_calendar

HEADER = "Date,Open,High,Low,Close,Volume"


def good_rows(count: int, start: dt.date = dt.date(2024, 1, 2)) -> list[str]:
    """``count`` valid daily rows on XNYS sessions (open 10.10, 10.11, ...)."""
    days = get_calendar("XNYS").sessions(start, start + dt.timedelta(days=count * 2 + 10))
    return [
        f"{d.isoformat()},10.{i % 90 + 10},11.5,9.25,10.5,{1000 + i}"
        for i, d in enumerate(days[:count])
    ]


def _replace(rows: list[str], index: int, field: int, value: str) -> list[str]:
    out = list(rows)
    cells = out[index].split(",")
    cells[field] = value
    out[index] = ",".join(cells)
    return out


ROWS = good_rows(5)  # lines 2..6; open 10.10.., high 11.5, low 9.25, close 10.5
TS, OPEN, HIGH, LOW, CLOSE, VOLUME = range(6)

BAD_CASES = {
    "missing column": (
        ["Date,Open,High,Low,Close", *[r.rsplit(",", 1)[0] for r in ROWS]],
        1,
        "volume",
        "missing column",
    ),
    "bad timestamp": ([HEADER, *_replace(ROWS, 1, TS, "2024-13-45")], 3, "ts", "bad timestamp"),
    "non-numeric price": ([HEADER, *_replace(ROWS, 2, OPEN, "abc")], 4, "open", "not a number"),
    "NaN price": ([HEADER, *_replace(ROWS, 0, CLOSE, "NaN")], 2, "close", "not a number"),
    "exponent": ([HEADER, *_replace(ROWS, 0, CLOSE, "1e1")], 2, "close", "not a number"),
    "empty price": ([HEADER, *_replace(ROWS, 3, HIGH, "")], 5, "high", "empty"),
    "negative price": ([HEADER, *_replace(ROWS, 4, LOW, "-1.00")], 6, "low", "not positive"),
    "zero price": ([HEADER, *_replace(ROWS, 1, OPEN, "0")], 3, "open", "not positive"),
    "high below low": ([HEADER, *_replace(ROWS, 2, HIGH, "9.00")], 4, "high", "below low 9.25"),
    "high below close": (
        [HEADER, *_replace(ROWS, 2, HIGH, "10.45")],
        4,
        "high",
        "expected high >= max(open, close)",
    ),
    "low above open": (
        [HEADER, *_replace(ROWS, 0, LOW, "10.20")],
        2,
        "low",
        "expected low <= min(open, close)",
    ),
    "negative volume": ([HEADER, *_replace(ROWS, 3, VOLUME, "-5")], 5, "volume", "negative"),
    "duplicate timestamp": (
        [HEADER, *_replace(ROWS, 3, TS, ROWS[2].split(",")[0])],
        5,
        "ts",
        "duplicate timestamp",
    ),
    "unsorted rows": ([HEADER, ROWS[0], ROWS[2], ROWS[1], *ROWS[3:]], 4, "ts", "sorted"),
    "too many decimals": (
        [HEADER, *_replace(ROWS, 1, CLOSE, "10.1234567891")],
        3,
        "close",
        "10 decimal places",
    ),
    "not a session": (
        [HEADER, *_replace(ROWS, 4, TS, "2024-01-13")],
        6,
        "ts",
        "not a XNYS session",
    ),
}


def _assert_nothing_written(home: RbtHome, name: str) -> None:
    assert not home.bundle(name).exists()
    assert list_bundles(home) == []
    versions = home.bundles / ".versions" / name
    assert not versions.exists() or not any(versions.iterdir())
    with pytest.raises(DataUnavailableError, match=r"unknown bundle"):
        lookup_symbol(home, name, "AAA")


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_bad_input_rejects_whole_ingest_naming_file_line_and_field(case, home, csv_dir, manager):
    lines, line, field, expected = BAD_CASES[case]
    directory = csv_dir({"AAA": [HEADER, *ROWS], "BAD": lines})
    with pytest.raises(SchemaError) as info:
        ingest(home, "csv", "b", {"path": str(directory)}, manager=manager)
    message = str(info.value)
    assert "BAD.csv" in message
    assert f"line {line}" in message
    assert f"field {field!r}" in message
    assert expected in message
    _assert_nothing_written(home, "b")


def test_empty_file_and_header_only_are_rejected(home, csv_dir, manager):
    directory = csv_dir({"AAA": [HEADER, *ROWS], "BAD": ""})
    with pytest.raises(SchemaError, match=r"BAD\.csv, line 1: empty file"):
        ingest(home, "csv", "b", {"path": str(directory)}, manager=manager)
    (directory / "BAD.csv").write_text(HEADER + "\n")
    with pytest.raises(SchemaError, match=r"BAD\.csv, line 2: no data rows"):
        ingest(home, "csv", "b", {"path": str(directory)}, manager=manager)
    _assert_nothing_written(home, "b")


def test_failed_reingest_keeps_the_older_bundle_and_its_rows(home, csv_dir, manager):
    directory = csv_dir({"AAA": [HEADER, *ROWS]})
    first = ingest(home, "csv", "b", {"path": str(directory)}, manager=manager)
    (directory / "BAD.csv").write_text("\n".join([HEADER, *_replace(ROWS, 2, HIGH, "1")]) + "\n")
    with pytest.raises(SchemaError, match=r"BAD.csv, line 4"):
        ingest(home, "csv", "b", {"path": str(directory)}, manager=manager)
    assert read_manifest(home, "b") == first
    assert load_bundle(home, "b").shape == (5, 1)
    assert lookup_symbol(home, "b", "AAA").sid == 0
    with pytest.raises(DataUnavailableError, match=r"unknown symbol 'BAD'"):
        lookup_symbol(home, "b", "BAD")


def test_database_failure_rolls_the_bundle_back(home, csv_dir, manager, monkeypatch, tmp_path):
    directory = csv_dir({"AAA": [HEADER, *ROWS]})
    first = ingest(home, "csv", "b", {"path": str(directory)}, manager=manager)
    (directory / "BBB.csv").write_text("\n".join([HEADER, *ROWS]) + "\n")
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")  # the database path runs through a file: SQLite cannot open it
    monkeypatch.setenv("RBT_DATABASE_URL", f"sqlite:///{blocker}/rbt.sqlite")
    with pytest.raises(Exception, match=r"not-a-dir"):
        ingest(home, "csv", "b", {"path": str(directory)}, manager=manager)
    monkeypatch.delenv("RBT_DATABASE_URL")
    assert read_manifest(home, "b") == first
    assert [a.symbol for a in load_bundle(home, "b").assets] == ["AAA"]
    assert len(list((home.bundles / ".versions" / "b").iterdir())) == 1


def test_unknown_option_and_missing_path_are_config_errors(home, manager, tmp_path):
    with pytest.raises(ConfigError, match=r"no option colour; options: path, calendar"):
        ingest(home, "csv", "b", {"path": str(tmp_path), "colour": "red"}, manager=manager)
    with pytest.raises(ConfigError, match=r"needs option path"):
        ingest(home, "csv", "b", {}, manager=manager)
    with pytest.raises(ConfigError, match=r"no \*\.csv files"):
        ingest(home, "csv", "b", {"path": str(tmp_path)}, manager=manager)
    with pytest.raises(ConfigError, match=r"invalid bundle name"):
        ingest(home, "csv", "../x", {"path": str(tmp_path)}, manager=manager)


def test_headers_any_case_timestamp_names_blanks_and_extra_columns(home, csv_dir, manager):
    rows = xs = good_rows(3)
    directory = csv_dir(
        {
            "AAA": [
                "timestamp,VOLUME,close,LOW,High,Open,Adj Close",
                *[",".join([r.split(",")[i] for i in (0, 5, 4, 3, 2, 1)] + ["1"]) for r in rows],
            ],
            "BBB": [
                '"DateTime","Open","High","Low","Close","Volume"',
                *[",".join(f" {c} " for c in r.split(",")) for r in xs[:1]],
                "",
                *xs[1:],
            ],
        }
    )
    manifest = ingest(home, "csv", "b", {"path": str(directory)}, manager=manager)
    bars = load_bundle(home, "b")
    assert manifest.asset_count == 2
    assert bars.shape == (3, 2)
    assert bars.exact("high", 0, 0) == bars.exact("high", 0, 1) == Decimal("11.5")
    assert bars.exact("open", 2, 0) == Decimal("10.12")


def test_datetime_with_offset_is_utc_and_naive_needs_tz(home, csv_dir, manager):
    aware = [
        "ts,open,high,low,close,volume",
        "2024-03-08 09:31:00-05:00,1.5,1.5,1.5,1.5,1",
        "2024-03-11T09:31:00-04:00,1.25,1.5,1.25,1.5,2",
    ]
    directory = csv_dir({"X": aware})
    ingest(home, "csv", "m", {"path": str(directory)}, manager=manager)
    bars = load_bundle(home, "m")
    stamps = [dt.datetime.fromtimestamp(int(t) / 1e9, dt.UTC) for t in bars.ts]
    assert stamps == [
        dt.datetime(2024, 3, 8, 14, 31, tzinfo=dt.UTC),
        dt.datetime(2024, 3, 11, 13, 31, tzinfo=dt.UTC),
    ]
    assert [str(s) for s in bars.sessions] == ["2024-03-08", "2024-03-11"]
    naive = [aware[0], *[r.replace("-05:00", "").replace("-04:00", "") for r in aware[1:]]]
    (directory / "X.csv").write_text("\n".join(naive) + "\n")
    with pytest.raises(SchemaError, match=r"X\.csv, line 2, field 'ts'.*no UTC offset.*tz="):
        ingest(home, "csv", "n", {"path": str(directory)}, manager=manager)
    ingest(home, "csv", "n", {"path": str(directory), "tz": "America/New_York"}, manager=manager)
    assert list(load_bundle(home, "n").ts) == list(bars.ts)


def test_goog_csv_ingests_unedited_and_round_trips_exactly(
    home, manager, backtesting_data, tmp_path
):
    goog = backtesting_data / "GOOG.csv"
    assert goog.read_text().startswith(",Open,High,Low,Close,Volume")  # unnamed first column
    directory = _only(backtesting_data, "GOOG.csv", tmp_path / "goog")
    manifest = ingest(
        home, "csv", "goog", {"path": str(directory), "calendar": "XNYS"}, manager=manager
    )
    assert manifest.asset_count == 1
    assert manifest.frequency == "1d"
    bars = load_bundle(home, "goog")
    col = 0
    rows = [line.split(",") for line in goog.read_text().splitlines()[1:]]
    sessions = {str(s): i for i, s in enumerate(bars.sessions)}
    for cells in rows:
        row = sessions[cells[0]]
        for i, field in enumerate(("open", "high", "low", "close", "volume"), start=1):
            assert bars.exact(field, row, col) == Decimal(cells[i]), (cells[0], field)
            assert bars.floats[field][row, col] == float(cells[i])
    asset = lookup_symbol(home, "goog", "GOOG")
    assert asset.price_scale == 2
    assert asset.tick_size == Decimal("0.01")
    assert asset.start_date == dt.date(2004, 8, 19)


def _only(directory: Path, name: str, target: Path) -> Path:
    target.mkdir()
    (target / name).write_bytes((directory / name).read_bytes())
    return target


def test_eurusd_hourly_needs_tz(home, manager, backtesting_data, tmp_path):
    directory = _only(backtesting_data, "EURUSD.csv", tmp_path / "fx")
    with pytest.raises(SchemaError, match=r"EURUSD\.csv, line 2, field 'ts'.*no UTC offset"):
        ingest(home, "csv", "fx", {"path": str(directory)}, manager=manager)
    _assert_nothing_written(home, "fx")
    manifest = ingest(
        home,
        "csv",
        "fx",
        {"path": str(directory), "tz": "UTC", "calendar": "always_open"},
        manager=manager,
    )
    assert manifest.frequency == "1m"
    assert manifest.row_count == 5000
    bars = load_bundle(home, "fx")
    assert bars.exact("low", 0, 0) == Decimal("1.07083")
    assert bars.price_scales[0] == 5
