"""Which files of a directory the CSV source takes as symbols."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from rbt.data.csv_dir import CsvDirectorySource, _is_csv_name

_ROW = "date,open,high,low,close,volume\n2024-01-02,1,2,1,1.5,10\n"


@given(st.text(alphabet="aB.cCsSvV_", max_size=8))
def test_csv_names_are_those_whose_path_suffix_is_csv(name: str) -> None:
    assert _is_csv_name(name) == (bool(name) and Path(name).suffix.lower() == ".csv")


def test_symbols_are_the_csv_files_sorted_by_name(tmp_path: Path) -> None:
    for name in ("b.csv", "A.CSV", "a.b.csv", "..csv", ".csv", "c.txt", "metadata.csv"):
        (tmp_path / name).write_text(_ROW if name != "metadata.csv" else "symbol\n")
    (tmp_path / "dir.csv").mkdir()
    (tmp_path / "link.csv").symlink_to(tmp_path / "b.csv")
    source = CsvDirectorySource(tmp_path)
    assert source.symbols() == [".", "A", "a.b", "b", "link"]
    assert source.origin("A") == str(tmp_path.resolve() / "A.CSV")
