"""The real, unmodified ccxt 4.5.90 sync client (``ccxt.binance``) against the simulator
subprocess over loopback HTTP: every REST call our broker adapter will make, the error
mapping ccxt applies to the simulator's Binance errors, and the injected faults.

Local-venue integration tests: the simulator is a real server process; nothing in
ccxt is patched, only ``urls['api']`` and three options are set (``make_exchange``).
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from pathlib import Path

import ccxt
import pytest
from rbt_venue_sim.testing import (
    CCXT_BINANCE_OPTIONS,
    VenueSim,
    point_ccxt_at,
    start_venue_sim,
)

SYMBOLS = ["BTC/USDT", "ETH/USDT", "LTC/USDT"]
SHARED = Path(__file__).resolve().parents[3].parent / "shared" / "fixtures" / "ccxt"


@pytest.fixture(scope="module")
def sim() -> Iterator[VenueSim]:
    with start_venue_sim(symbols=SYMBOLS, args=["--history", "1200", "--balance", "LTC=10"]) as s:
        yield s


@pytest.fixture(autouse=True)
def _clean(sim: VenueSim) -> Iterator[None]:
    yield
    sim.clear_faults()
    sim.set_skew(0)
    sim.set_limits(weight_limit=6000, weight_window_s=60, ban_after=3, ban_seconds=120, reset=True)
    ex = make_exchange(sim)
    ex.load_markets()
    for symbol in SYMBOLS:
        for order in ex.fetch_open_orders(symbol):
            ex.cancel_order(order["id"], symbol)


def make_exchange(sim: VenueSim, **config) -> ccxt.binance:
    # ccxt's own throttle (binance: 50 ms per cost unit, exchangeInfo costs 20) only slows
    # these tests down; the simulator's weight limits are what is tested here
    config.setdefault("enableRateLimit", False)
    ex = ccxt.binance(
        {
            "apiKey": sim.api_key,
            "secret": sim.secret,
            "options": dict(CCXT_BINANCE_OPTIONS),
            **config,
        }
    )
    return point_ccxt_at(ex, sim)


def paths_since(sim: VenueSim, seq: int) -> list[tuple[str, str]]:
    return [(r["method"], r["path"]) for r in sim.requests(since=seq)]


def last_seq(sim: VenueSim) -> int:
    reqs = sim.requests()
    return reqs[-1]["seq"] if reqs else 0


def test_load_markets_calls_exchange_info_only_and_matches_the_recorded_markets(sim):
    seq = last_seq(sim)
    ex = make_exchange(sim)
    markets = ex.load_markets()
    assert paths_since(sim, seq) == [("GET", "/api/v3/exchangeInfo")]  # no sapi, no fapi/dapi
    assert sorted(markets) == sorted(SYMBOLS)
    if SHARED.is_dir():
        recorded = json.loads((SHARED / "markets" / "binance.json").read_text())
        for symbol in SYMBOLS:
            for key in ("id", "base", "quote", "type", "spot", "taker", "maker"):
                assert markets[symbol][key] == recorded[symbol][key], (symbol, key)
            for key in ("amount", "price", "cost", "market"):
                assert markets[symbol]["limits"][key] == recorded[symbol]["limits"][key]
            # the fixture predates ccxt's TICK_SIZE precision mode: it stores decimal places
            digits = {k: 10.0**-v for k, v in recorded[symbol]["precision"].items()}
            assert markets[symbol]["precision"] == pytest.approx(digits)


def test_without_the_options_ccxt_calls_sapi_which_is_not_served(sim):
    seq = last_seq(sim)
    ex = ccxt.binance({"apiKey": sim.api_key, "secret": sim.secret})
    point_ccxt_at(ex, sim)
    with pytest.raises(ccxt.ExchangeNotAvailable, match="does not serve"):
        ex.load_markets()
    called = paths_since(sim, seq)
    assert any(path.startswith("/sapi/") for _, path in called), called


def test_fetch_time(sim):
    ex = make_exchange(sim)
    before = int(time.time() * 1000)
    server = ex.fetch_time()
    assert before - 1000 <= server <= int(time.time() * 1000) + 1000


def test_fetch_ohlcv_limit_and_pagination(sim):
    ex = make_exchange(sim)
    ex.load_markets()
    last = ex.fetch_ohlcv("BTC/USDT", "1m", limit=5)
    assert len(last) == 5
    assert [b[0] - a[0] for a, b in itertools.pairwise(last)] == [60_000] * 4
    assert len(ex.fetch_ohlcv("BTC/USDT", "1m", limit=5000)) == 1000  # ccxt caps the limit
    first = ex.fetch_ohlcv("BTC/USDT", "1m", since=0, limit=3)
    seq = last_seq(sim)
    every = ex.fetch_ohlcv("BTC/USDT", "1m", since=first[0][0], params={"paginate": True})
    calls = sim.requests(since=seq)
    assert len(every) >= 1200
    assert every[0][0] == first[0][0]
    assert all(b[0] - a[0] == 60_000 for a, b in itertools.pairwise(every))
    assert len(calls) >= 2
    assert all(c["path"] == "/api/v3/klines" for c in calls)
    assert {c["query"]["limit"] for c in calls} == {"1000"}
    five = ex.fetch_ohlcv("BTC/USDT", "5m", since=first[0][0], limit=2)
    assert five[0][0] % 300_000 == 0


def test_order_lifecycle_by_client_order_id(sim):
    ex = make_exchange(sim)
    ex.load_markets()
    cid = "rbt-test-1-0001"
    seq = last_seq(sim)
    order = ex.create_order("BTC/USDT", "limit", "buy", 0.01, 40000, {"clientOrderId": cid})
    sent = sim.requests(since=seq)[-1]
    assert sent["body"]["newClientOrderId"] == cid
    assert (order["clientOrderId"], order["status"], order["amount"]) == (cid, "open", 0.01)
    fetched = ex.fetch_order(None, "BTC/USDT", {"clientOrderId": cid})
    assert fetched["id"] == order["id"]
    assert fetched["status"] == "open"
    assert sim.requests()[-1]["query"]["origClientOrderId"] == cid
    assert [o["clientOrderId"] for o in ex.fetch_open_orders("BTC/USDT")] == [cid]
    canceled = ex.cancel_order(None, "BTC/USDT", {"clientOrderId": cid})
    assert canceled["status"] == "canceled"
    assert ex.fetch_order(order["id"], "BTC/USDT")["status"] == "canceled"
    assert ex.fetch_open_orders("BTC/USDT") == []
    with pytest.raises(ccxt.OrderNotFound):
        ex.cancel_order(order["id"], "BTC/USDT")
    with pytest.raises(ccxt.OrderNotFound):
        ex.fetch_order(None, "BTC/USDT", {"clientOrderId": "never-sent"})


def test_duplicate_client_order_id_among_open_orders_is_invalid_order(sim):
    ex = make_exchange(sim)
    ex.load_markets()
    params = {"clientOrderId": "dup-1"}
    ex.create_order("BTC/USDT", "limit", "buy", 0.01, 40000, params)
    with pytest.raises(ccxt.InvalidOrder, match="Duplicate order sent") as err:
        ex.create_order("BTC/USDT", "limit", "buy", 0.01, 40000, params)
    # ccxt 4.5.90 maps -2010 to InvalidOrder; it never raises DuplicateOrderId for binance
    assert not isinstance(err.value, ccxt.DuplicateOrderId)
    ex.cancel_order(None, "BTC/USDT", params)
    again = ex.create_order("BTC/USDT", "limit", "buy", 0.01, 40000, params)  # reusable now
    assert again["status"] == "open"


def test_insufficient_balance_is_insufficient_funds(sim):
    ex = make_exchange(sim)
    ex.load_markets()
    with pytest.raises(ccxt.InsufficientFunds):
        ex.create_order("BTC/USDT", "limit", "buy", 5, 40000)
    with pytest.raises(ccxt.InsufficientFunds):
        ex.create_order("ETH/USDT", "market", "sell", 500)


def test_filter_failures_and_post_only(sim):
    ex = make_exchange(sim)
    ex.load_markets()
    with pytest.raises(ccxt.BadRequest, match="Filter failure: NOTIONAL"):
        ex.create_order("BTC/USDT", "limit", "buy", 0.0001, 40000)
    with pytest.raises(ccxt.InvalidOrder, match="PERCENT_PRICE_BY_SIDE"):
        ex.create_order("BTC/USDT", "limit", "buy", 0.01, 5000)
    with pytest.raises(ccxt.OrderImmediatelyFillable):
        ex.create_order("BTC/USDT", "limit", "buy", 0.01, 60000, {"postOnly": True})
    assert ex.fetch_open_orders("BTC/USDT") == []


def test_bad_signature_and_unknown_key_are_authentication_errors(sim):
    ex = make_exchange(sim, secret="not-the-secret")
    ex.load_markets()
    with pytest.raises(ccxt.AuthenticationError, match="-1022"):
        ex.fetch_balance()
    ex2 = make_exchange(sim, apiKey="unknown-key")
    ex2.load_markets()
    with pytest.raises(ccxt.AuthenticationError, match="-2015"):
        ex2.fetch_balance()


def test_timestamp_outside_recv_window_is_invalid_nonce_and_time_difference_fixes_it(sim):
    ex = make_exchange(sim)
    ex.load_markets()
    sim.set_skew(30_000)  # the venue's clock runs 30 s ahead of ours
    with pytest.raises(ccxt.InvalidNonce, match="outside of the recvWindow"):
        ex.fetch_balance()
    ex.load_time_difference()  # GET /api/v3/time, then timestamps are shifted
    assert ex.fetch_balance()["USDT"]["free"] > 0
    sim.set_skew(-5_000)  # now we are 5 s ahead of the venue (after the correction: 35 s)
    with pytest.raises(ccxt.InvalidNonce, match="ahead of the server"):
        ex.fetch_balance()


def test_request_weight_headers_and_429_with_retry_after_honoured(sim):
    ex = make_exchange(sim)
    ex.load_markets()
    ex.fetch_time()
    used = int(ex.last_response_headers["X-MBX-USED-WEIGHT-1M"])
    ex.fetch_balance()
    assert int(ex.last_response_headers["X-MBX-USED-WEIGHT-1M"]) == used + 20
    sim.set_limits(weight_limit=used + 40, weight_window_s=2, reset=True)

    def hammer():
        for _ in range(50):
            ex.fetch_time()
            ex.fetch_balance()

    with pytest.raises(ccxt.DDoSProtection, match="429") as err:
        hammer()
    assert "Too much request weight used" in str(err.value)
    retry_after = int(ex.last_response_headers["Retry-After"])
    assert 1 <= retry_after <= 2
    time.sleep(retry_after + 0.05)
    assert ex.fetch_time() > 0  # honoured: served again, and never banned


def test_ignoring_429_leads_to_418_ban(sim):
    ex = make_exchange(sim)
    ex.load_markets()
    sim.set_limits(ban_after=3, ban_seconds=30)
    sim.add_fault("rate_limit", seconds=5)  # a burst: 429 for 5 s
    with pytest.raises(ccxt.DDoSProtection, match="429"):
        ex.fetch_time()
    assert 1 <= int(ex.last_response_headers["Retry-After"]) <= 5
    with pytest.raises(ccxt.DDoSProtection, match="429"):
        ex.fetch_time()  # not waiting: a violation
    with pytest.raises(ccxt.DDoSProtection, match="418") as err:
        ex.fetch_time()
    assert "IP banned until" in str(err.value)
    assert 29 <= int(ex.last_response_headers["Retry-After"]) <= 30


def test_5xx_is_exchange_not_available_and_an_accepted_order_is_found_by_client_id(sim):
    ex = make_exchange(sim)
    ex.load_markets()
    sim.add_fault("http_error", status=503, path="/api/v3/account")
    with pytest.raises(ccxt.ExchangeNotAvailable, match="503"):
        ex.fetch_balance()
    assert ex.fetch_balance()["USDT"]["total"] > 0  # one use only
    sim.add_fault("http_error", status=502, method="POST", path="/api/v3/order", process=True)
    with pytest.raises(ccxt.ExchangeNotAvailable):
        ex.create_order("BTC/USDT", "limit", "buy", 0.01, 40000, {"clientOrderId": "u-5xx"})
    found = ex.fetch_order(None, "BTC/USDT", {"clientOrderId": "u-5xx"})  # outcome resolved
    assert found["status"] == "open"
    sim.add_fault("http_error", status=500, method="POST", path="/api/v3/order")
    with pytest.raises(ccxt.ExchangeNotAvailable):
        ex.create_order("BTC/USDT", "limit", "buy", 0.01, 40000, {"clientOrderId": "u-500"})
    with pytest.raises(ccxt.OrderNotFound):  # not processed: no order
        ex.fetch_order(None, "BTC/USDT", {"clientOrderId": "u-500"})


def test_timeout_is_request_timeout_and_the_order_exists_once(sim):
    ex = make_exchange(sim, timeout=700)
    ex.load_markets()
    sim.add_fault("delay", seconds=1.5, method="POST", path="/api/v3/order")
    with pytest.raises(ccxt.RequestTimeout):
        ex.create_order("BTC/USDT", "limit", "buy", 0.01, 40000, {"clientOrderId": "u-slow"})
    time.sleep(1.0)
    orders = [o for o in ex.fetch_open_orders("BTC/USDT") if o["clientOrderId"] == "u-slow"]
    assert len(orders) == 1


def test_dropped_connection_is_network_error_and_the_order_was_accepted(sim):
    ex = make_exchange(sim)
    ex.load_markets()
    sim.add_fault("drop", method="POST", path="/api/v3/order")
    with pytest.raises(ccxt.NetworkError):
        ex.create_order("BTC/USDT", "limit", "buy", 0.01, 40000, {"clientOrderId": "u-drop"})
    assert ex.fetch_order(None, "BTC/USDT", {"clientOrderId": "u-drop"})["status"] == "open"


def test_rejected_order_faults(sim):
    ex = make_exchange(sim)
    ex.load_markets()
    sim.add_fault("reject")
    with pytest.raises(ccxt.InvalidOrder, match="rejected by the simulator"):
        ex.create_order("BTC/USDT", "limit", "buy", 0.01, 40000)
    sim.add_fault("reject", code=-1013, msg="Market is closed.")
    with pytest.raises(ccxt.MarketClosed):
        ex.create_order("BTC/USDT", "limit", "buy", 0.01, 40000)
    assert ex.fetch_open_orders("BTC/USDT") == []


def test_market_order_fills_with_fees_trades_and_balances(sim):
    ex = make_exchange(sim)
    ex.load_markets()
    before = ex.fetch_balance()
    order = ex.create_order("ETH/USDT", "market", "buy", 0.5)
    assert order["status"] == "closed"
    assert order["filled"] == 0.5
    assert order["fee"]["currency"] == "ETH"
    assert order["fee"]["cost"] == pytest.approx(0.0005)
    trades = ex.fetch_my_trades("ETH/USDT")
    mine = [t for t in trades if t["order"] == order["id"]]
    assert sum(t["amount"] for t in mine) == 0.5
    assert all(t["takerOrMaker"] == "taker" for t in mine)
    after = ex.fetch_balance()
    assert after["ETH"]["free"] == pytest.approx(before["ETH"]["free"] + 0.5 - 0.0005)
    assert after["USDT"]["free"] == pytest.approx(before["USDT"]["free"] - order["cost"])


def test_partial_fill_then_cancel(sim):
    ex = make_exchange(sim)
    ex.load_markets()
    order = ex.create_order("BTC/USDT", "limit", "sell", 0.3, 60000, {"clientOrderId": "pf-1"})
    sim.fill("BTC/USDT", client_order_id="pf-1", qty="0.1")
    partial = ex.fetch_order(order["id"], "BTC/USDT")
    assert (partial["status"], partial["filled"], partial["remaining"]) == ("open", 0.1, 0.2)
    canceled = ex.cancel_order(order["id"], "BTC/USDT")
    assert (canceled["status"], canceled["filled"]) == ("canceled", 0.1)
    (trade,) = [t for t in ex.fetch_my_trades("BTC/USDT") if t["order"] == order["id"]]
    assert (trade["price"], trade["takerOrMaker"]) == (60000, "maker")


def test_stop_loss_via_ccxt_triggers_on_a_price_move(sim):
    ex = make_exchange(sim)
    ex.load_markets()
    last = float(sim.state()["prices"]["LTCUSDT"])
    stop = round(last * 0.9, 2)
    order = ex.create_order("LTC/USDT", "market", "sell", 1, None, {"stopLossPrice": stop})
    assert order["info"]["type"] == "STOP_LOSS"
    assert order["status"] == "open"
    sim.set_price("LTC/USDT", str(round(last * 0.85, 2)))
    done = ex.fetch_order(order["id"], "LTC/USDT")
    assert done["status"] == "closed"
    assert done["filled"] == 1
    sim.set_price("LTC/USDT", str(last))
