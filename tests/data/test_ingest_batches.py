"""Ingest of a directory spanning several read batches (read two at a time, in threads)."""

from __future__ import annotations

import numpy as np
import pytest

from rbt.data.bundles import list_bundles, load_bundle
from rbt.data.ingest import _BATCH, ingest
from rbt.kernel.errors import SchemaError

FILES = 2 * _BATCH + 5  # three batches


def test_many_files_ingest_in_symbol_order(home, manager, make_csv_dir, tmp_path):
    directory = make_csv_dir(tmp_path / "csv", FILES, 12)
    seen: list[tuple[str, int]] = []
    manifest = ingest(
        home,
        "csv",
        "many",
        {"path": str(directory)},
        progress=lambda symbol, done, total: seen.append((symbol, done)),
        manager=manager,
    )
    assert manifest.asset_count == FILES
    assert manifest.row_count == FILES * 12
    assert [done for _, done in seen] == list(range(1, FILES + 1))
    bars = load_bundle(home, "many")
    assert [a.symbol for a in bars.assets] == [f"S{i:04d}" for i in range(FILES)]
    assert bars.shape == (12, FILES)
    assert not np.isnan(bars.floats["close"]).any()


def test_the_first_bad_file_in_symbol_order_is_reported(home, manager, make_csv_dir, tmp_path):
    directory = make_csv_dir(tmp_path / "csv", FILES, 12)
    for index, line, bad in ((FILES - 2, 4, "oops"), (_BATCH + 3, 7, "-1.5")):
        path = directory / f"S{index:04d}.csv"
        lines = path.read_text().splitlines()
        fields = lines[line - 1].split(",")
        fields[4] = bad  # close
        lines[line - 1] = ",".join(fields)
        path.write_text("\n".join(lines) + "\n")
    with pytest.raises(SchemaError) as info:
        ingest(home, "csv", "bad", {"path": str(directory)}, manager=manager)
    message = str(info.value)
    assert f"S{_BATCH + 3:04d}.csv, line 7" in message  # batch 2, before batch 3's file
    assert "'close'" in message
    assert list_bundles(home) == []  # nothing written


def test_crlf_bom_and_quoted_values_give_the_same_bundle(home, manager, tmp_path):
    rows = ["2024-01-02,1.5,2,1,1.75,10", "2024-01-03,2,2.5,1.5,2.25,20"]
    plain, odd = tmp_path / "plain", tmp_path / "odd"
    plain.mkdir()
    odd.mkdir()
    (plain / "AAA.csv").write_text("\n".join(["date,open,high,low,close,volume", *rows]) + "\n")
    quoted = [",".join(f'"{v}"' for v in row.split(",")) for row in rows]
    text = "\r\n".join(["date,open,high,low,close,volume", *quoted]) + "\r\n"
    (odd / "AAA.csv").write_bytes(b"\xef\xbb\xbf" + text.encode())
    one = ingest(home, "csv", "one", {"path": str(plain)}, manager=manager)
    two = ingest(home, "csv", "two", {"path": str(odd)}, manager=manager)
    assert one.files == two.files  # the same Parquet bytes


def test_line_numbers_stay_exact_for_files_without_a_final_newline(home, manager, tmp_path):
    directory = tmp_path / "csv"
    directory.mkdir()
    header = "date,open,high,low,close,volume"
    good = ["2024-01-02,1.5,2,1,1.75,10", "2024-01-03,2,2.5,1.5,2.25,20"]
    bad = [good[0], "2024-01-03,2,2.5,1.5,x,20"]
    (directory / "AAA.csv").write_text("\n".join([header, *good]))  # no final newline
    (directory / "BBB.csv").write_text("\n".join([header, *bad]))
    with pytest.raises(SchemaError, match=r"BBB\.csv, line 3, field 'close'"):
        ingest(home, "csv", "n", {"path": str(directory)}, manager=manager)


@pytest.mark.parametrize(
    "content",
    [
        b"date,open,high,low,close,volume",  # no newline after the header
        b"\xef\xbb\xbfdate,open,high,low,close,volume\n",
        b"date,open,high,low,close,volume\r\n \r\n\t\n",  # blank lines only
    ],
)
def test_a_file_without_data_rows_is_named_whatever_its_blanks(home, manager, tmp_path, content):
    directory = tmp_path / "csv"
    directory.mkdir()
    (directory / "AAA.csv").write_text("date,open,high,low,close,volume\n2024-01-02,1,2,1,1,5\n")
    (directory / "BBB.csv").write_bytes(content)
    with pytest.raises(SchemaError, match=r"BBB\.csv, line 2: no data rows after the header"):
        ingest(home, "csv", "e", {"path": str(directory)}, manager=manager)
