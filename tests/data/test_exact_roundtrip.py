"""Property: any decimal text within the supported scale is stored and read back exactly."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest
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
        texts.append(
            f"{text}{'0' * pad}" if "E" not in text else format(Decimal(v).scaleb(-scale), "f")
        )
    return texts


@pytest.fixture(scope="module")
def shared_home(tmp_path_factory: pytest.TempPathFactory) -> RbtHome:
    """One home for every example: re-ingesting replaces the bundle (and keeps it fast)."""
    return RbtHome(tmp_path_factory.mktemp("prop") / "home")


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(texts=decimal_texts())
def test_prices_round_trip_exactly(texts, shared_home, manager):
    home = shared_home
    directory = home.root.parent / "csv"
    directory.mkdir(exist_ok=True)
    days = [
        "2024-01-02",
        "2024-01-03",
        "2024-01-04",
        "2024-01-05",
        "2024-01-08",
        "2024-01-09",
        "2024-01-10",
        "2024-01-11",
    ]
    lines = ["date,open,high,low,close,volume"]
    lines += [f"{days[i]},{t},{t},{t},{t},{t}" for i, t in enumerate(texts)]
    (directory / "X.csv").write_text("\n".join(lines) + "\n")
    ingest(home, "csv", "p", {"path": str(directory)}, manager=manager)
    bars = load_bundle(home, "p")
    # the scale is the most significant decimals: trailing zeros do not count
    places = max(max(-Decimal(t).normalize().as_tuple().exponent, 0) for t in texts)  # type: ignore[operator]
    assert bars.price_scales[0] == places
    assert bars.volume_scales[0] == places
    for row, text in enumerate(texts):
        for field in ("open", "high", "low", "close", "volume"):
            assert bars.exact(field, row, 0) == Decimal(text)
        value = bars.floats["close"][row, 0]
        if abs(bars.mantissas["close"][row, 0]) < 2**53:  # exact in float64: correctly rounded
            assert value == float(text)
        else:  # 16+ significant digits: within one unit in the last place
            assert abs(value - float(text)) <= math.ulp(float(text))
