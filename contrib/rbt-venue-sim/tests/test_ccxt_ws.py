"""ccxt 4.5.90's async clients (``ccxt.pro.binance``) against the simulator: market streams,
the spot user-data stream over the WebSocket API (``userDataStream.subscribe.signature``,
which is what this ccxt version uses for spot), and injected socket drops and report faults.

The report faults (duplicate / reorder) are checked on the wire with a plain aiohttp
WebSocket client as well, since ccxt's order cache folds a duplicate into one order.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import Iterator

import aiohttp
import ccxt
import ccxt.pro as ccxtpro
import pytest
from rbt_venue_sim.testing import CCXT_BINANCE_OPTIONS, VenueSim, point_ccxt_at, start_venue_sim


@pytest.fixture(scope="module")
def sim() -> Iterator[VenueSim]:
    with start_venue_sim(symbols=["BTC/USDT", "ETH/USDT"]) as s:
        yield s


@pytest.fixture(autouse=True)
def _clean(sim: VenueSim) -> Iterator[None]:
    yield
    sim.clear_faults()


def make_pro(sim: VenueSim) -> ccxtpro.binance:
    ex = ccxtpro.binance(
        {
            "apiKey": sim.api_key,
            "secret": sim.secret,
            "enableRateLimit": False,
            "options": dict(CCXT_BINANCE_OPTIONS),
        }
    )
    return point_ccxt_at(ex, sim)


def run(coro_fn, sim: VenueSim):
    async def main():
        ex = make_pro(sim)
        try:
            return await asyncio.wait_for(coro_fn(ex), 20)
        finally:
            await ex.close()

    return asyncio.run(main())


async def in_thread(fn, *args, **kwargs):
    return await asyncio.get_running_loop().run_in_executor(None, lambda: fn(*args, **kwargs))


async def settle(sim: VenueSim, *, user: int = 0, streams: tuple[str, ...] = ()) -> None:
    """Wait until the simulator has ``user`` subscribed user-data sockets and the streams."""
    for _ in range(500):
        clients = (await in_thread(sim.state))["clients"]
        users = sum(1 for c in clients if c["kind"] in ("api", "user") and c["account"])
        subscribed = {s for c in clients if c["kind"] == "market" for s in c["streams"]}
        if users >= user and set(streams) <= subscribed:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the subscriptions never reached the simulator")


def test_watch_orders_and_my_trades_receive_fills(sim):
    async def scenario(ex):
        await ex.load_markets()
        orders_task = asyncio.create_task(ex.watch_orders("BTC/USDT"))
        trades_task = asyncio.create_task(ex.watch_my_trades("BTC/USDT"))
        await settle(sim, user=1)
        placed = await ex.create_order(
            "BTC/USDT", "market", "buy", 0.02, params={"clientOrderId": "ws-mkt-1"}
        )
        orders = await orders_task
        while orders[-1]["status"] != "closed":  # the NEW report, then the TRADE one
            orders = await ex.watch_orders("BTC/USDT")
        trades = await trades_task
        assert orders[-1]["id"] == placed["id"]
        assert orders[-1]["clientOrderId"] == "ws-mkt-1"
        assert orders[-1]["status"] == "closed"
        assert orders[-1]["filled"] == 0.02
        assert [t["order"] for t in trades] == [placed["id"]]
        assert trades[0]["fee"]["currency"] == "BTC"
        # a resting order filled by the price path is reported as maker
        price = float((await in_thread(sim.state))["prices"]["BTCUSDT"])
        limit = round(price * 0.99, 2)
        resting = await ex.create_order("BTC/USDT", "limit", "buy", 0.01, limit)
        trades_task = asyncio.create_task(ex.watch_my_trades("BTC/USDT"))
        await asyncio.sleep(0.05)
        await in_thread(sim.set_price, "BTC/USDT", str(round(price * 0.98, 2)))
        trades = await trades_task
        assert trades[-1]["order"] == resting["id"]
        assert trades[-1]["takerOrMaker"] == "maker"
        assert trades[-1]["price"] == limit
        await in_thread(sim.set_price, "BTC/USDT", str(price))

    run(scenario, sim)
    log = [r["path"] for r in sim.requests()]
    assert "/ws-api/v3#userDataStream.subscribe.signature" in log
    assert "/api/v3/userDataStream" not in log  # ccxt 4.5.90 spot: no REST listenKey


def test_watch_ohlcv_and_trades(sim):
    async def scenario(ex):
        await ex.load_markets()
        ohlcv_task = asyncio.create_task(ex.watch_ohlcv("ETH/USDT", "1m"))
        trades_task = asyncio.create_task(ex.watch_trades("ETH/USDT"))
        await settle(sim, streams=("ethusdt@kline_1m", "ethusdt@trade"))
        revealed = await in_thread(sim.advance, 1)
        candles = await ohlcv_task
        trades = await trades_task
        assert candles[-1][0] == revealed["revealed"][0]
        assert candles[-1][4] == float(revealed["prices"]["ETHUSDT"])
        assert trades
        assert all(t["symbol"] == "ETH/USDT" for t in trades)

    run(scenario, sim)


def test_socket_drop_mid_stream_is_observed_and_rest_catch_up_finds_missed_fills(sim):
    async def scenario(ex):
        await ex.load_markets()
        first = asyncio.create_task(ex.watch_orders("BTC/USDT"))
        await settle(sim, user=1)
        await ex.create_order("BTC/USDT", "market", "buy", 0.01)
        orders = await first
        while orders[-1]["status"] != "closed":  # NEW, then TRADE: read up to the fill
            orders = await ex.watch_orders("BTC/USDT")
        await asyncio.sleep(0.2)  # the balance update that follows is consumed too
        pending = asyncio.create_task(ex.watch_orders("BTC/USDT"))
        await asyncio.sleep(0.1)
        closed = await in_thread(sim.close_sockets, "api")
        assert closed == 1
        with pytest.raises(ccxt.NetworkError):
            await pending
        # a fill while disconnected is not replayed by the venue ...
        missed = await ex.create_order(
            "BTC/USDT", "market", "buy", 0.01, params={"clientOrderId": "while-down"}
        )
        # ... a new watch reconnects and re-subscribes, and REST catch-up finds the fill
        again = asyncio.create_task(ex.watch_orders("BTC/USDT"))
        await settle(sim, user=1)
        after = await ex.create_order("BTC/USDT", "market", "buy", 0.01)
        seen = await again
        assert seen[-1]["id"] == after["id"]  # a report of the order placed after reconnect
        trades = await ex.fetch_my_trades("BTC/USDT")
        assert missed["id"] in {t["order"] for t in trades}

    run(scenario, sim)
    subs = [r for r in sim.requests() if r["path"].endswith("subscribe.signature")]
    assert len(subs) >= 2


def test_market_stream_drop_is_observed(sim):
    async def scenario(ex):
        await ex.load_markets()
        first = asyncio.create_task(ex.watch_trades("BTC/USDT"))
        await settle(sim, streams=("btcusdt@trade",))
        await in_thread(sim.advance, 1)
        await first
        await asyncio.sleep(0.3)  # the bar's other trades arrive and are consumed
        pending = asyncio.create_task(ex.watch_trades("BTC/USDT"))
        await asyncio.sleep(0.1)
        assert await in_thread(sim.close_sockets, "market") == 1
        with pytest.raises(ccxt.NetworkError):
            await pending

    run(scenario, sim)


# ---------------------------------------------------------------- raw WebSocket API client
def _signed(api_key: str, secret: str) -> dict[str, str]:
    params = {"apiKey": api_key, "timestamp": str(int(time.time() * 1000))}
    payload = "&".join(f"{k}={params[k]}" for k in sorted(params))
    params["signature"] = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
    return params


async def _user_stream(sim: VenueSim, session: aiohttp.ClientSession, secret: str | None = None):
    ws = await session.ws_connect(sim.ws_url + "/ws-api/v3")
    await ws.send_str(
        json.dumps(
            {
                "id": "s1",
                "method": "userDataStream.subscribe.signature",
                "params": _signed(sim.api_key, secret or sim.secret),
            }
        )
    )
    ack = json.loads((await ws.receive(timeout=5)).data)
    return ws, ack


async def _reports(ws, n: int) -> list[dict]:
    out = []
    while len(out) < n:
        msg = json.loads((await ws.receive(timeout=5)).data)
        if msg.get("event", {}).get("e") == "executionReport":
            out.append(msg["event"])
    return out


def _place_limit(sim: VenueSim, cid: str) -> None:
    import ccxt as sync_ccxt

    ex = point_ccxt_at(
        sync_ccxt.binance(
            {
                "apiKey": sim.api_key,
                "secret": sim.secret,
                "enableRateLimit": False,
                "options": dict(CCXT_BINANCE_OPTIONS),
            }
        ),
        sim,
    )
    ex.load_markets()
    ex.create_order("BTC/USDT", "market", "buy", 0.01, params={"clientOrderId": cid})


def test_ws_api_signature_is_verified(sim):
    async def main():
        async with aiohttp.ClientSession() as session:
            ws, ack = await _user_stream(sim, session, secret="wrong")
            await ws.close()
            assert ack["status"] == 400
            assert ack["error"] == {
                "code": -1022,
                "msg": "Signature for this request is not valid.",
            }
            ws, ack = await _user_stream(sim, session)
            await ws.close()
            assert ack["status"] == 200
            assert "subscriptionId" in ack["result"]

    asyncio.run(main())


def test_duplicate_and_reordered_execution_reports_on_the_wire(sim):
    async def main():
        async with aiohttp.ClientSession() as session:
            ws, _ = await _user_stream(sim, session)
            try:
                await in_thread(sim.add_fault, "duplicate_reports", count=2)
                await in_thread(_place_limit, sim, "dup-rep")
                reports = await _reports(ws, 4)
                assert [(r["c"], r["x"]) for r in reports] == [
                    ("dup-rep", "NEW"),
                    ("dup-rep", "NEW"),
                    ("dup-rep", "TRADE"),
                    ("dup-rep", "TRADE"),
                ]
                assert reports[2] == reports[3]  # same trade id: a true duplicate
                await in_thread(sim.add_fault, "reorder_reports", count=2)
                await in_thread(_place_limit, sim, "reo-rep")
                reports = await _reports(ws, 2)
                assert [(r["c"], r["x"]) for r in reports] == [
                    ("reo-rep", "TRADE"),
                    ("reo-rep", "NEW"),
                ]  # the fill before the ack
                await in_thread(sim.add_fault, "drop_reports", count=2)
                await in_thread(_place_limit, sim, "gone-rep")
                await in_thread(_place_limit, sim, "next-rep")
                reports = await _reports(ws, 2)
                assert {r["c"] for r in reports} == {"next-rep"}
            finally:
                await ws.close()

    asyncio.run(main())


def test_noisy_reports_and_refused_reconnects_on_the_wire(sim):
    async def main():
        async with aiohttp.ClientSession() as session:
            ws, _ = await _user_stream(sim, session)
            try:
                await in_thread(sim.add_fault, "noisy_reports", count=2, set={"l": "0.00500000"})
                await in_thread(_place_limit, sim, "noisy-rep")
                reports = await _reports(ws, 4)
                trades = [r for r in reports if r["x"] == "TRADE"]
                assert len(trades) == 2
                assert trades[0]["t"] == trades[1]["t"]  # same trade id ...
                assert trades[1]["l"] == "0.00500000" != trades[0]["l"]  # ... other numbers
            finally:
                await ws.close()
            # closed with a refusal window: upgrades get 503 until it ends
            await in_thread(sim.close_sockets, "api", refuse_seconds=30)
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await session.ws_connect(sim.ws_url + "/ws-api/v3")
            assert refused.value.status == 503
            await in_thread(sim.close_sockets, "none")  # lifts it
            ws, ack = await _user_stream(sim, session)
            await ws.close()
            assert ack["status"] == 200

    asyncio.run(main())


def test_rest_listen_key_user_stream(sim):
    async def main():
        async with aiohttp.ClientSession() as session:
            headers = {"X-MBX-APIKEY": sim.api_key}
            async with session.post(
                sim.base_url + "/api/v3/userDataStream", headers=headers
            ) as resp:
                key = (await resp.json())["listenKey"]
            ws = await session.ws_connect(f"{sim.ws_url}/ws/{key}")
            try:
                await asyncio.sleep(0.1)
                await in_thread(_place_limit, sim, "lk-1")
                events = []
                while len(events) < 3:
                    events.append(json.loads((await ws.receive(timeout=5)).data))
                kinds = [e["e"] for e in events]
                assert kinds.count("executionReport") == 2
                assert "outboundAccountPosition" in kinds
            finally:
                await ws.close()

    asyncio.run(main())


def test_watch_balance_follows_fills(sim):
    async def scenario(ex):
        await ex.load_markets()
        before = await ex.fetch_balance()
        balance_task = asyncio.create_task(ex.watch_balance())
        await settle(sim, user=1)
        await ex.create_order("ETH/USDT", "market", "buy", 0.1)
        balance = await balance_task
        assert balance["ETH"]["free"] == pytest.approx(before["ETH"]["free"] + 0.1 - 0.0001)
        book = await ex.fetch_order_book("ETH/USDT", 5)
        assert book["bids"][0][0] < book["asks"][0][0]

    run(scenario, sim)
