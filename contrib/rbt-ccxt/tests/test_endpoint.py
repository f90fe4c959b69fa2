"""Client construction per endpoint mode (no request is made)."""

from __future__ import annotations

import pytest
from rbt_ccxt.endpoint import binance_urls, check_loopback, make_client, make_pro_client

from rbt.kernel.broker import VenueEndpoint
from rbt.kernel.errors import ConfigError
from rbt.kernel.secrets import Secret

KEYS = {"apiKey": Secret("k-123"), "secret": Secret("s-456")}


def _strings(obj):
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for value in obj.values():
            yield from _strings(value)


def test_sandbox_points_every_url_at_loopback():
    endpoint = VenueEndpoint("sandbox", urls={"rest": "http://127.0.0.1:5555"}, credentials=KEYS)
    for client in (make_client(endpoint, "binance"), make_pro_client(endpoint, "binance")):
        urls = list(_strings(client.urls["api"]))
        assert urls
        assert all(u.startswith(("http://127.0.0.1:5555", "ws://127.0.0.1:5555")) for u in urls)
        assert client.urls["api"]["ws"]["ws-api"]["spot"] == "ws://127.0.0.1:5555/ws-api/v3"
        assert client.verbose is False
        assert client.enableRateLimit is False  # our limiter paces requests
        assert client.options["recvWindow"] == 5000
        assert client.apiKey == "k-123"


def test_testnet_uses_ccxts_sandbox_mode_and_live_the_production_urls():
    testnet = make_client(VenueEndpoint("testnet", credentials=KEYS), "binance")
    assert "testnet.binance.vision" in testnet.urls["api"]["public"]
    live = make_client(VenueEndpoint("live", credentials=KEYS), "binance")
    assert "api.binance.com" in live.urls["api"]["public"]


def test_bad_endpoints_are_refused():
    with pytest.raises(ConfigError, match="unknown endpoint mode"):
        make_client(VenueEndpoint("paper"), "binance")
    with pytest.raises(ConfigError, match="needs urls\\['rest'\\]"):
        make_client(VenueEndpoint("sandbox"), "binance")
    with pytest.raises(ConfigError, match="no exchange"):
        make_client(VenueEndpoint("live"), "not-an-exchange")
    with pytest.raises(ConfigError, match="not a loopback"):
        check_loopback("ws://192.168.1.2:9000")
    assert binance_urls("https://127.0.0.1:1")["ws"]["spot"] == "wss://127.0.0.1:1/ws"
