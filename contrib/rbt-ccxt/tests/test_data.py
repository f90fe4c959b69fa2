"""The ccxt.binance feed (closed candles over watch_ohlcv) and data source (paginated
fetch_ohlcv into a bundle) against rbt-venue-sim with a scripted price path."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from decimal import Decimal

import pytest
from rbt_ccxt.feed import CcxtBarStream
from rbt_ccxt.source import CcxtOhlcvSource
from rbt_ccxt.testing import sandbox_endpoint

from rbt.kernel.errors import ConfigError

START = 1_700_006_400_000  # 2023-11-15 00:00 UTC
MINUTE = 60_000


def _bars(n: int, base: int = 50000) -> list[list[str]]:
    out = []
    for i in range(n):
        o = base + 10 * i
        out.append([str(o), str(o + 25), str(o - 15), str(o + 5), str(1 + i % 3)])
    return out


@pytest.fixture
def path(tmp_path):
    scenario = {
        "interval": "1m",
        "start": START,
        "history": 1500,
        "symbols": {
            "BTC/USDT": {"bars": _bars(1503)},
            "ETH/USDT": {"prices": ["3000.5"] * 1503, "volume": "2.5"},
        },
    }
    file = tmp_path / "path.json"
    file.write_text(json.dumps(scenario))
    return file


def test_source_paginates_and_is_exact(venue_sim_factory, path):
    sim = venue_sim_factory(symbols=["BTC/USDT", "ETH/USDT"], path=path)
    source = CcxtOhlcvSource(
        symbols="BTC/USDT,ETH/USDT",
        start="2023-11-15",
        end="2023-11-15",
        frequency="1m",
        url=sim.base_url,
        limit=500,
    )
    btc = source.read("BTC/USDT")
    assert btc.height == 1440  # one UTC day of the 1500 revealed minutes
    first = btc.row(0, named=True)
    assert first["ts"] == dt.datetime(2023, 11, 15, 0, 1, tzinfo=dt.UTC)  # stamped with its end
    assert (first["open"], first["high"], first["low"], first["close"], first["volume"]) == (
        Decimal("50000"),
        Decimal("50025"),
        Decimal("49985"),
        Decimal("50005"),
        Decimal(1),
    )
    klines = [r for r in sim.requests() if r["path"] == "/api/v3/klines"]
    assert len(klines) >= 3  # 1440 rows at 500 per page
    assert all(r["query"]["limit"] == "500" for r in klines)
    eth = source.read("ETH/USDT")
    assert set(eth["close"].to_list()) == {Decimal("3000.5")}
    info = source.asset_info("BTC/USDT")
    assert (info.tick_size, info.lot_size, info.quote_currency) == (
        Decimal("0.01"),
        Decimal("0.00001"),
        "USDT",
    )


def test_open_candles_are_left_out(venue_sim_factory):
    sim = venue_sim_factory(symbols=["BTC/USDT"])  # the default walk ends at this minute
    today = dt.datetime.now(dt.UTC).date()
    source = CcxtOhlcvSource(
        symbols="BTC/USDT",
        start=str(today - dt.timedelta(days=1)),
        end=str(today),
        url=sim.base_url,
    )
    frame = source.read("BTC/USDT")
    now = dt.datetime.now(dt.UTC)
    assert frame.height > 0
    assert frame["ts"].max() <= now


def test_ingest_into_a_bundle(venue_sim_factory, path, tmp_path):
    from rbt.data.home import RbtHome
    from rbt.data.ingest import ingest

    sim = venue_sim_factory(symbols=["BTC/USDT", "ETH/USDT"], path=path)
    home = RbtHome(tmp_path / "home")
    manifest = ingest(
        home,
        "ccxt.binance",
        "sim_btc",
        {
            "symbols": "BTC/USDT",
            "start": "2023-11-15",
            "end": "2023-11-15",
            "frequency": "1m",
            "url": sim.base_url,
        },
    )
    assert manifest.asset_count == 1
    assert manifest.row_count == 1440


def test_bad_options_are_clear():
    with pytest.raises(ConfigError, match="symbols="):
        CcxtOhlcvSource(start="2024-01-01", end="2024-01-02")
    with pytest.raises(ConfigError, match=r"start=.*expected a date"):
        CcxtOhlcvSource(symbols="BTC/USDT", start="yesterday", end="2024-01-02")
    with pytest.raises(ConfigError, match="not a loopback"):
        CcxtOhlcvSource(
            symbols="BTC/USDT", start="2024-01-01", end="2024-01-02", url="http://api.binance.com"
        ).read("BTC/USDT")


def test_feed_yields_closed_bars_in_order(venue_sim_factory, path):
    sim = venue_sim_factory(symbols=["BTC/USDT", "ETH/USDT"], path=path)
    stream = CcxtBarStream(
        sandbox_endpoint(sim), symbols=["BTC/USDT", "ETH/USDT"], interval="1m", grace=1.0
    )

    async def main():
        got = []
        agen = stream.bars()

        async def advance_when_subscribed():
            for _ in range(500):
                subs = {
                    s for c in (await asyncio.to_thread(sim.state))["clients"] for s in c["streams"]
                }
                if {"btcusdt@kline_1m", "ethusdt@kline_1m"} <= subs:
                    break
                await asyncio.sleep(0.02)
            await asyncio.to_thread(sim.advance, 3)

        driver = asyncio.create_task(advance_when_subscribed())
        async for symbol, bar in agen:
            got.append((symbol, bar))
            if len(got) == 6:
                break
        await stream.aclose()
        await agen.aclose()
        await driver
        return got

    got = asyncio.run(asyncio.wait_for(main(), 60))
    ends = [bar.end for _, bar in got]
    assert ends == sorted(ends)
    btc = [bar for s, bar in got if s == "BTC/USDT"]
    assert [b.end for b in btc] == [
        (START + (1500 + i) * MINUTE + MINUTE) * 1_000_000 for i in range(3)
    ]
    assert btc[0].close == Decimal(50000 + 10 * 1500 + 5)
    assert all(type(b.close) is Decimal for b in btc)


def test_feed_catches_up_after_its_socket_drops(venue_sim_factory, path):
    sim = venue_sim_factory(symbols=["BTC/USDT", "ETH/USDT"], path=path)
    stream = CcxtBarStream(
        sandbox_endpoint(sim), symbols=["BTC/USDT"], interval="1m", grace=0.5, backoff=(0.05, 0.2)
    )

    async def main():
        got = []
        agen = stream.bars()

        async def drive():
            for _ in range(500):
                subs = {
                    s for c in (await asyncio.to_thread(sim.state))["clients"] for s in c["streams"]
                }
                if "btcusdt@kline_1m" in subs:
                    break
                await asyncio.sleep(0.02)
            await asyncio.to_thread(sim.advance, 1)
            while not got:
                await asyncio.sleep(0.02)
            # the market socket drops; two bars close while it cannot reconnect
            await asyncio.to_thread(sim.close_sockets, "market", refuse_seconds=1.0)
            await asyncio.to_thread(sim.advance, 2)

        driver = asyncio.create_task(drive())
        async for _symbol, bar in agen:
            got.append(bar)
            if len(got) == 3:
                break
        await stream.aclose()
        await agen.aclose()
        await driver
        return got

    bars = asyncio.run(asyncio.wait_for(main(), 60))
    assert stream.reconnects >= 1
    assert [b.end for b in bars] == [(START + (1501 + i) * MINUTE) * 1_000_000 for i in range(3)]


@pytest.mark.slow
def test_rbt_ingest_command(venue_sim_factory, path, tmp_path):
    from rbt.cli.main import main as rbt_main

    sim = venue_sim_factory(symbols=["BTC/USDT", "ETH/USDT"], path=path)
    home = tmp_path / "home"
    code = rbt_main(
        [
            "ingest",
            "ccxt.binance",
            "--bundle",
            "btc1m",
            "--frequency",
            "1m",
            "--home",
            str(home),
            "-o",
            "symbols=BTC/USDT,ETH/USDT",
            "-o",
            "start=2023-11-15",
            "-o",
            "end=2023-11-15",
            "-o",
            f"url={sim.base_url}",
            "-o",
            "limit=1000",
            "--json",
        ]
    )
    assert code == 0
    manifest = json.loads((home / "bundles" / "btc1m" / "manifest.json").read_text())
    assert manifest["source"] == "ccxt.binance"
    assert manifest["row_count"] == 2 * 1440


def test_a_venue_that_does_not_answer_is_a_clear_error(venue_sim_factory, path):
    from rbt.kernel.errors import DataUnavailableError

    sim = venue_sim_factory(symbols=["BTC/USDT", "ETH/USDT"], path=path)
    source = CcxtOhlcvSource(
        symbols="BTC/USDT", start="2023-11-15", end="2023-11-15", url=sim.base_url
    )
    source.asset_info("BTC/USDT")  # markets loaded
    sim.add_fault("http_error", path="/api/v3/klines", status=503, count=-1)
    with pytest.raises(DataUnavailableError, match="did not answer"):
        source.read("BTC/USDT")
    klines = [r for r in sim.requests() if r["path"] == "/api/v3/klines"]
    assert len(klines) == 6  # retried, then given up
