"""The SYNTHETIC demo source: deterministic, on XNYS sessions, on a 0.01 grid, marked synthetic."""

from __future__ import annotations

import datetime as dt
import hashlib
from decimal import Decimal

import numpy as np
import pytest

from rbt.data.bundles import list_bundles, load_bundle, read_manifest
from rbt.data.demo import DEMO_SYMBOLS, DemoSource, generate
from rbt.data.home import RbtHome
from rbt.data.ingest import ingest
from rbt.kernel.errors import ConfigError
from rbt.plugins.calendars import get_calendar

#: sha256 of every demo symbol's int64 (little-endian) open, high, low, close, volume
#: over the 2516 XNYS sessions 2015-01-02..2024-12-31. A change here changes every
#: demo result: bump it only on purpose.
GOLDEN = "e98d7244110c539e85be808efd6c1713f9b66a771a85441ed25038f91f16ee5f"


def test_generator_is_pinned_bit_for_bit():
    digest = hashlib.sha256()
    for index in range(len(DEMO_SYMBOLS)):
        bars = generate(index, 2516)
        for field in ("open", "high", "low", "close", "volume"):
            digest.update(bars[field].astype("<i8").tobytes())
    assert digest.hexdigest() == GOLDEN


def test_demo_ingests_identically_twice(tmp_path, manager):
    first = ingest(RbtHome(tmp_path / "one"), "demo", "demo", {}, manager=manager)
    second = ingest(RbtHome(tmp_path / "two"), "demo", "demo", {}, manager=manager)
    assert first.content_hash == second.content_hash
    assert first.files == second.files
    assert first.asset_count == 30
    assert first.row_count == 30 * 2516
    assert "SYNTHETIC" in first.note
    assert first.source_options["synthetic"] is True


def test_demo_bars_are_valid_sessions_on_a_cent_grid(home, manager):
    ingest(home, "demo", "demo", {}, manager=manager)
    bars = load_bundle(home, "demo")
    sessions = get_calendar("XNYS").sessions(dt.date(2015, 1, 2), dt.date(2024, 12, 31))
    assert [d.item() for d in bars.sessions] == list(sessions)
    assert (bars.price_scales == 2).all()
    assert not np.isnan(bars.floats["close"]).any()
    m = bars.mantissas
    assert (m["low"] > 0).all()
    assert (m["low"] <= np.minimum(m["open"], m["close"])).all()
    assert (m["high"] >= np.maximum(m["open"], m["close"])).all()
    asset = bars.assets[0]
    assert asset.symbol == "AAA"
    assert asset.tick_size == Decimal("0.01")
    assert bars.exact("close", 0, 0) == Decimal("20.01")
    # trends: some symbols end far above, some below where they started
    growth = bars.floats["close"][-1] / bars.floats["close"][0]
    assert growth.max() > 3
    assert growth.min() < 0.5
    assert list_bundles(home)[0].assets == 30


def test_shorter_range_shows_the_same_prices(home, manager):
    ingest(home, "demo", "full", {}, manager=manager)
    ingest(
        home,
        "demo",
        "short",
        {"start": "2020-01-02", "end": "2020-12-31", "symbols": 3},
        manager=manager,
    )
    full, short = load_bundle(home, "full"), load_bundle(home, "short")
    at = int(np.searchsorted(full.sessions, short.sessions[0]))
    assert np.array_equal(short.mantissas["close"], full.mantissas["close"][at : at + 253, :3])
    assert read_manifest(home, "short").first_session == "2020-01-02"


def test_bad_demo_options_are_config_errors():
    with pytest.raises(ConfigError, match=r"expected 1..30"):
        DemoSource(symbols=31)
    with pytest.raises(ConfigError, match=r"after end"):
        DemoSource(start="2020-01-02", end="2019-01-01")
