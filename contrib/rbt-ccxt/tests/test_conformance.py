"""The project's conformance kits run on the ccxt.binance providers (against rbt-venue-sim)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rbt_ccxt.testing import SimVenueHarness

from rbt.kernel.registry import Provider
from rbt.testing import DataSourceConformance, PackagingConformance
from rbt.testing.live_broker import LiveBrokerConformance


class TestLiveBroker(LiveBrokerConformance):
    provider = "ccxt.binance"

    def venue_harness(self, record: Provider, tmp_path: Path) -> Any:
        return SimVenueHarness(record)


@pytest.fixture(scope="module")
def scripted_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from rbt_venue_sim.testing import start_venue_sim

    path = tmp_path_factory.mktemp("path") / "path.json"
    bars = [[str(100 + i), str(101 + i), str(99 + i), str(100.5 + i), "3"] for i in range(180)]
    path.write_text(
        json.dumps(
            {
                "interval": "1m",
                "start": 1_700_006_400_000,
                "history": 180,
                "symbols": {"BTC/USDT": {"bars": bars}, "ETH/USDT": {"prices": ["2000"] * 180}},
            }
        )
    )
    with start_venue_sim(symbols=["BTC/USDT", "ETH/USDT"], path=path) as sim:
        yield sim


class TestDataSource(DataSourceConformance):
    provider = "ccxt.binance"

    @pytest.fixture(autouse=True)
    def _sim(self, scripted_sim: Any) -> None:
        self.sim = scripted_sim

    def make_source(self, record: Provider, tmp_path: Path) -> Any:
        return record.create(
            symbols="BTC/USDT,ETH/USDT",
            start="2023-11-15",
            end="2023-11-15",
            frequency="1m",
            url=self.sim.base_url,
        )


class TestPackaging(PackagingConformance):
    entry_point = "ccxt"
