"""What ccxt 4.5.90 sends for this adapter, request by request, against ccxt's recorded
request fixtures (``shared/fixtures/ccxt/request/binance.json``).

Every REST request the adapter makes in a typical life (connect, place market and limit
orders, look up, cancel, snapshot, catch up, ingest candles) is captured by the simulator
and matched with the recorded case of the same unified method and path. Parameters are
compared as the fixture README says (``skipKeys`` dropped on both sides). The differences
are the table below, also in the README; a change on either side fails the test.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
from rbt_ccxt.source import CcxtOhlcvSource
from rbt_ccxt.testing import EventLog, broker_for

FIXTURE = Path("/work/shared/fixtures/ccxt/request/binance.json")

#: our request (method, path, what it is for) -> (fixture method, fixture description)
MATCHES = {
    "time": ("fetchTime", "fetchTime"),
    "market order": ("createOrder", "Spot market buy order"),
    "limit order": ("createOrder", "Spot limit buy order"),
    "lookup by client id": ("fetchOrder", "Spot fetchOrder"),
    "cancel by client id": ("cancelOrder", "Spot cancelOrder"),
    "open orders": ("fetchOpenOrders", "Spot one orders"),
    "balance": ("fetchBalance", "Spot fetch balance"),
    "trades of an order": ("fetchMyTrades", "Spot fetchMyTrades"),
    "trades since": ("fetchMyTrades", "Spot fetchMyTrades"),
    "candles": ("fetchOHLCV", "Fetch OHLCV - spot"),
}

#: the differences (parameters only ours sends, only the fixture sends, values that differ)
EXPECTED = {
    "time": ({}, {}, {}),
    "market order": (
        {"quantity": "0.01"},
        {"quoteOrderQty": "10"},  # the fixture passes a price: ccxt turns it into a cost
        {"symbol": ("BTCUSDT", "LTCUSDT")},
    ),
    "limit order": (
        {},
        {},
        {"symbol": ("BTCUSDT", "LTCUSDT"), "quantity": ("0.02", "0.2"), "price": ("*", "50")},
    ),
    "lookup by client id": (
        {"origClientOrderId": "*"},
        {"orderId": "465138"},
        {"symbol": ("BTCUSDT", "LTCUSDT")},
    ),
    "cancel by client id": (
        {"origClientOrderId": "*"},
        {"orderId": "464950"},
        {"symbol": ("BTCUSDT", "LTCUSDT")},
    ),
    "open orders": ({}, {}, {"symbol": ("BTCUSDT", "LTCUSDT")}),
    "balance": ({}, {}, {}),
    "trades of an order": (
        {"orderId": "*", "limit": "1000"},
        {},
        {"symbol": ("BTCUSDT", "LTCUSDT")},
    ),
    "trades since": ({"startTime": "*", "limit": "1000"}, {}, {"symbol": ("BTCUSDT", "LTCUSDT")}),
    "candles": ({}, {}, {"startTime": ("*", "1699381234000"), "limit": ("1000", "5")}),
}


def _case(fixture: dict, method: str, description: str) -> dict:
    return next(c for c in fixture["methods"][method] if c["description"] == description)


def _params(case: dict) -> tuple[str, dict[str, str]]:
    url = urlsplit(case["url"])
    params = dict(parse_qsl(url.query))
    if case.get("output"):
        params.update(parse_qsl(case["output"]))
    return url.path, params


def _diff(ours: dict[str, str], theirs: dict[str, str], skip: set[str]) -> tuple:
    ours = {k: v for k, v in ours.items() if k not in skip}
    theirs = {k: v for k, v in theirs.items() if k not in skip}
    only_ours = {k: ours[k] for k in sorted(ours.keys() - theirs.keys())}
    only_theirs = {k: theirs[k] for k in sorted(theirs.keys() - ours.keys())}
    changed = {
        k: (ours[k], theirs[k]) for k in sorted(ours.keys() & theirs.keys()) if ours[k] != theirs[k]
    }
    return only_ours, only_theirs, changed


def _wild(expected: tuple, actual: tuple) -> bool:
    """Compare with ``*`` standing for a value that differs per run (ids, times, prices)."""

    def same(e, a):
        if isinstance(e, dict):
            return e.keys() == a.keys() and all(same(e[k], a[k]) for k in e)
        if isinstance(e, tuple):
            return len(e) == len(a) and all(same(x, y) for x, y in zip(e, a, strict=True))
        return e == "*" or e == a

    return same(expected, actual)


def test_requests_match_the_recorded_fixtures(venue_sim_factory, tmp_path):
    if not FIXTURE.exists():
        pytest.skip("the shared ccxt fixtures are not on this machine")
    fixture = json.loads(FIXTURE.read_text())
    skip = set(fixture["skipKeys"])
    sim = venue_sim_factory(symbols=["BTC/USDT"])
    broker = broker_for(sim)
    log = EventLog()
    broker.connect(log)
    (btc,) = broker.instruments()
    captured: dict[str, dict] = {}

    def capture(name: str, action, path: str, method: str = "GET") -> None:
        sim.clear_requests()
        action()
        rows = [r for r in sim.requests() if r["path"] == path and r["method"] == method]
        assert rows, f"{name}: no {method} {path} request"
        captured[name] = {**rows[-1]["query"], **rows[-1]["body"]}

    price = Decimal(sim.state()["prices"]["BTCUSDT"])
    limit = (price * Decimal("0.9")).quantize(Decimal("0.01"))
    market = log.new_order(btc, "0.01")
    resting = log.new_order(btc, "0.02", limit=str(limit))
    capture("time", broker.sync_clock, "/api/v3/time")
    capture("market order", lambda: broker.submit(market), "/api/v3/order", "POST")
    capture("limit order", lambda: broker.submit(resting), "/api/v3/order", "POST")
    capture("lookup by client id", lambda: broker.lookup(resting.id), "/api/v3/order")
    capture("open orders", broker.snapshot, "/api/v3/openOrders")
    capture("balance", broker.snapshot, "/api/v3/account")
    log.cancel_requested(resting.id)
    capture("cancel by client id", lambda: broker.cancel(resting.id), "/api/v3/order", "DELETE")
    capture("trades since", lambda: broker.fills_since(1), "/api/v3/myTrades")
    tracked = broker._orders[market.id]
    capture("trades of an order", lambda: broker._catch_up_order(tracked), "/api/v3/myTrades")
    source = CcxtOhlcvSource(
        symbols="BTC/USDT", start="2024-01-01", end="2024-01-01", url=sim.base_url
    )
    capture("candles", lambda: source.read("BTC/USDT"), "/api/v3/klines")

    report = {}
    for name, (method, description) in MATCHES.items():
        path, theirs = _params(_case(fixture, method, description))
        assert path.endswith(
            (
                "/api/v3/time",
                "/api/v3/order",
                "/api/v3/openOrders",
                "/api/v3/account",
                "/api/v3/myTrades",
                "/api/v3/klines",
            )
        ), path
        report[name] = _diff(captured[name], theirs, skip)
    mismatched = {n: report[n] for n in report if not _wild(EXPECTED[n], report[n])}
    assert not mismatched, json.dumps(mismatched, indent=1, default=str)
    # the adapter's client ids are the engine's order ids
    assert captured["market order"]["newClientOrderId"] == market.id
    assert captured["market order"]["newOrderRespType"] == "FULL"
    assert captured["limit order"]["timeInForce"] == "GTC"
    assert captured["cancel by client id"]["origClientOrderId"] == resting.id
