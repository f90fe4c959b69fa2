"""The launcher (``python -m rbt_venue_sim``): port 0 printed, loopback only, SIGTERM,
scripted price paths and a bundle's bars as the feed, and the control API."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import urllib.request
from decimal import Decimal

import aiohttp
import pytest
from rbt_venue_sim.testing import start_venue_sim


def get(url: str):
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.loads(resp.read())


def test_subprocess_prints_its_port_and_stops_on_sigterm(venue_sim_factory):
    sim = venue_sim_factory(symbols=["BTC/USDT"])
    assert sim.base_url == f"http://127.0.0.1:{sim.port}"
    assert get(sim.base_url + "/_sim/health")["ok"] is True
    assert get(sim.base_url + "/api/v3/ping") == {}

    async def hold_a_socket():
        async with aiohttp.ClientSession() as session:
            ws = await session.ws_connect(sim.ws_url + "/ws/btcusdt@trade")
            receiving = asyncio.create_task(ws.receive(timeout=10))
            await asyncio.sleep(0.05)
            await asyncio.get_running_loop().run_in_executor(None, sim.stop)
            msg = await receiving
            return msg.type, ws.close_code

    kind, code = asyncio.run(hold_a_socket())
    assert kind is aiohttp.WSMsgType.CLOSE
    assert code == 1001  # closed by the server's graceful shutdown
    assert sim.proc.returncode == 0


def test_only_loopback_addresses_are_bound():
    out = subprocess.run(
        [sys.executable, "-m", "rbt_venue_sim", "--host", "0.0.0.0"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode != 0
    assert "loopback addresses only" in out.stderr


def test_scripted_path_history_advance_and_liquidity(tmp_path, venue_sim_factory):
    scenario = {
        "interval": "1m",
        "start": 1_700_000_040_000 - 1_700_000_040_000 % 60_000,
        "history": 2,
        "symbols": {
            "BTC/USDT": {
                "bars": [
                    ["50000", "50100", "49900", "50050", "10"],
                    ["50050", "50200", "50000", "50150", "12"],
                    ["50150", "50150", "49000", "49100", "30"],
                ]
            },
            "ETH/USDT": {"prices": ["3000", "3010", "2990"], "volume": "5"},
        },
        "liquidity": {"half_spread_bps": "0", "levels": 1, "level_qty": "0.01"},
        "fees": {"maker": "0.0002", "taker": "0.0004"},
    }
    path = tmp_path / "scripted.json"
    path.write_text(json.dumps(scenario))
    sim = venue_sim_factory(symbols=["BTC/USDT", "ETH/USDT"], path=path)
    start = scenario["start"]
    klines = get(f"{sim.base_url}/api/v3/klines?symbol=BTCUSDT&interval=1m")
    assert [k[0] for k in klines] == [start, start + 60_000]
    assert klines[1][1:6] == [
        "50050.00000000",
        "50200.00000000",
        "50000.00000000",
        "50150.00000000",
        "12.00000000",
    ]
    depth = get(f"{sim.base_url}/api/v3/depth?symbol=BTCUSDT")
    assert depth["bids"] == [["50149.99000000", "0.01000000"]]  # one tick, level_qty
    assert depth["asks"] == [["50150.01000000", "0.01000000"]]
    done = sim.advance(5)
    assert done["revealed"] == [start + 120_000]  # only one bar was left
    assert done["prices"] == {"BTCUSDT": "49100.00000000", "ETHUSDT": "2990.00000000"}
    state = sim.state()
    assert state["cursor"] == state["bars"] == 3


@pytest.mark.slow  # ingesting a bundle imports polars, sqlalchemy and alembic (~8 s)
def test_bundle_bars_feed_the_simulator(tmp_path, venue_sim_factory):
    from rbt.data.home import RbtHome
    from rbt.data.ingest import ingest

    csv_dir = tmp_path / "csv"
    csv_dir.mkdir()
    (csv_dir / "BTCUSDT.csv").write_text(
        "date,open,high,low,close,volume\n"
        "2024-01-02,42000.5,43000,41000.25,42500.75,12.5\n"
        "2024-01-03,42500.75,44000,42000,43900.01,20\n"
    )
    home = tmp_path / "home"
    ingest(
        RbtHome(home),
        "csv",
        "crypto",
        {
            "path": str(csv_dir),
            "calendar": "always_open",
            "asset_class": "crypto",
            "quote_currency": "USDT",
            "lot_size": "0.00001",
        },
    )
    sim = venue_sim_factory(symbols=["BTC/USDT"], args=["--bundle", "crypto", "--home", str(home)])
    (kline,) = get(f"{sim.base_url}/api/v3/klines?symbol=BTCUSDT&interval=1d")
    assert kline[1:5] == ["42000.50000000", "43000.00000000", "41000.25000000", "42500.75000000"]
    assert sim.advance(1)["prices"]["BTCUSDT"] == "43900.01000000"
    days = get(f"{sim.base_url}/api/v3/klines?symbol=BTCUSDT&interval=1d")
    assert days[1][0] - days[0][0] == 86_400_000


def test_control_api_state_requests_and_errors(venue_sim_factory):
    sim = venue_sim_factory(symbols=["BTC/USDT"], args=["--balance", "USDT=123.45"])
    usdt = sim.state()["accounts"]["main"]["USDT"]
    assert Decimal(usdt["free"]) == Decimal("123.45")
    assert Decimal(usdt["locked"]) == 0
    get(sim.base_url + "/api/v3/time")
    (entry,) = sim.requests()
    assert (entry["method"], entry["path"], entry["status"]) == ("GET", "/api/v3/time", 200)
    sim.clear_requests()
    assert sim.requests() == []
    with pytest.raises(RuntimeError, match="unknown fault kind"):
        sim.add_fault("explode")
    rule = sim.add_fault("delay", seconds=0.1, path="/api/v3/time", count=2)
    assert sim.control("GET", "faults") == [rule]
    sim.clear_faults()
    assert sim.control("GET", "faults") == []


def test_start_failure_is_reported(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"symbols": {"BTC/USDT": {"bars": [["1", "0.5", "2", "1", "1"]]}}}))
    with pytest.raises(RuntimeError, match="inconsistent OHLCV"):
        start_venue_sim(symbols=["BTC/USDT"], path=bad)
