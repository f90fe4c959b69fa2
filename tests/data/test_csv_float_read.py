"""Values parsed as float64 by the CSV reader give the text path's batch, or its error.

The CSV source reads short values (no field above ``MAX_TEXT`` characters, no
exponent) as float64 in ``pl.read_csv``; anything else, and anything that
parser or the float fast path declines, goes through the text. Both paths must
give the same bars, scales, line numbers and error messages.
"""

from __future__ import annotations

import re
import tempfile
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rbt.data.csv_dir import CsvDirectorySource, _fields_at_most
from rbt.data.source import BarBatch
from rbt.kernel.errors import SchemaError

_DAYS = ("2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05", "2024-01-08")
#: Values a file may hold, good and bad: blanks, quotes, signs, long digit strings, text.
_ODD = (" 12.5", '"7.25"', "+3", ".5", "5.", "-0", "inf", "NaN", "", "1 5", "x", "1e3", "0012.50")


@st.composite
def value(draw: st.DrawFn) -> str:
    if draw(st.integers(0, 24)) == 0:
        return draw(st.sampled_from(_ODD))
    scale = draw(st.integers(0, 6))
    digits = draw(st.integers(1, 18))
    text = format(Decimal(draw(st.integers(1, 10**digits - 1))).scaleb(-scale), "f")
    return text + "0" * draw(st.integers(0, 2)) if "." in text else text


@st.composite
def csv_file(draw: st.DrawFn) -> str:
    rows = draw(st.integers(1, len(_DAYS)))
    names = draw(st.permutations(["open", "high", "low", "close", "volume"]))  # header groups
    lines = [",".join(["date", *names])]
    for day in _DAYS[:rows]:
        lines.append(",".join([day, *(draw(value()) for _ in range(5))]))
    return "\n".join(lines) + draw(st.sampled_from(["\n", "", "\n\n"]))


def _batch(source: CsvDirectorySource, floats: bool) -> BarBatch | str:
    try:
        return source._read_batch(source.symbols(), floats=floats)
    except SchemaError as exc:
        return str(exc)


@settings(max_examples=120, deadline=None)
@given(files=st.lists(csv_file(), min_size=1, max_size=3))
def test_float_read_gives_the_text_paths_batch_or_error(files: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        for i, text in enumerate(files):
            (directory / f"S{i}.csv").write_text(text)
        source = CsvDirectorySource(directory)
        fast, text = _batch(source, floats=True), _batch(source, floats=False)
    if isinstance(text, str) or isinstance(fast, str):
        assert fast == text
        return
    assert fast.frame.equals(text.frame)
    assert (fast.price_scales, fast.volume_scales) == (text.price_scales, text.volume_scales)


def test_the_benchmark_shape_takes_the_float_read(tmp_path: Path) -> None:
    (tmp_path / "AAA.csv").write_text(
        "date,open,high,low,close,volume\n2010-01-04,254.25,260.25,251.625,259,4474738\n"
    )
    source = CsvDirectorySource(tmp_path)
    members = [(0, (tmp_path / "AAA.csv").read_bytes().split(b"\n", 1)[1], 1)]
    raw = source._parse_group((0, 1, 2, 3, 4, 5, 5), members, ["AAA.csv"], floats=True)
    assert raw["close"].dtype.is_float()
    batch = source.read_batch(["AAA"])
    assert batch.frame.row(0)[2:7] == (254250, 260250, 251625, 259000, 4474738)
    assert (batch.price_scales, batch.volume_scales) == ((3,), (0,))


@given(st.binary(max_size=80), st.integers(1, 20), st.integers(1, 30))
def test_fields_at_most_finds_the_longest_run_above_comma(
    data: bytes, width: int, window: int
) -> None:
    longest = max((len(m) for m in re.findall(rb"[\x2d-\xff]+", data)), default=0)
    assert _fields_at_most(data, width) == (longest <= width)
    assert _fields_at_most(data, width, window) == (longest <= width)  # runs across windows


@pytest.mark.parametrize(
    ("field", "short"),
    [(b"123456789012345", True), (b"1234567890123456", False), (b'"1234567.89012345"', False)],
)
def test_fields_at_most_on_csv_lines(field: bytes, short: bool) -> None:
    assert _fields_at_most(b"2024-01-02," + field + b",1\n", 15) is short
