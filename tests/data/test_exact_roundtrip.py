"""Property: any decimal text within the supported scale is stored and read back exactly."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rbt.data.bundles import load_bundle
from rbt.data.home import RbtHome
from rbt.data.ingest import ingest
from rbt.data.source import MAX_SCALE


@st.composite
def decimal_texts(draw: st.DrawFn) -> list[str]:
    """Positive decimals with up to MAX_SCALE places that fit an int64 mantissa, as text."""
    scale = draw(st.integers(0, MAX_SCALE))
    digits = 18 - scale
    values = draw(st.lists(st.integers(1, 10**digits - 1), min_size=1, max_size=8))
    texts = []
    for v in values:
        text = str(Decimal(v).scaleb(-scale))
        pad = draw(st.integers(0, 2)) if "." in text else 0  # trailing zeros are allowed
        texts.append(f"{text}{'0' * pad}" if "E" not in text else format(Decimal(v).scaleb(
            -scale), "f"))
    return texts


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=decimal_texts())
def test_prices_round_trip_exactly(texts, tmp_path_factory, manager):
    root: Path = tmp_path_factory.mktemp("prop")
    (root / "csv").mkdir()
    days = ["2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05", "2024-01-08", "2024-01-09",
            "2024-01-10", "2024-01-11"]
    lines = ["date,open,high,low,close,volume"]
    lines += [f"{days[i]},{t},{t},{t},{t},{t}" for i, t in enumerate(texts)]
    (root / "csv" / "X.csv").write_text("\n".join(lines) + "\n")
    home = RbtHome(root / "home")
    ingest(home, "csv", "p", {"path": str(root / "csv")}, manager=manager)
    bars = load_bundle(home, "p")
    for row, text in enumerate(texts):
        for field in ("open", "high", "low", "close", "volume"):
            assert bars.exact(field, row, 0) == Decimal(text)
        assert bars.floats["close"][row, 0] == float(text)
