"""Build unmodified ccxt clients for a :class:`~rbt.kernel.broker.VenueEndpoint`.

* ``sandbox``: the local venue simulator. Every ``urls['api']`` entry (REST and
  WebSocket) is rewritten to the endpoint's loopback URL, and anything that is not
  127.0.0.1 / ::1 / localhost is refused, so a sandbox run cannot reach a real venue.
* ``testnet``: ccxt's own sandbox mode (``set_sandbox_mode(True)``); real internet.
* ``live``: ccxt's production URLs.

Secrets are revealed here only, at client construction; ccxt's ``verbose`` is forced
off (it prints signed requests) and checked.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator, Mapping
from typing import Any

from rbt.kernel.broker import VenueEndpoint
from rbt.kernel.errors import ConfigError

__all__ = [
    "MODES",
    "binance_urls",
    "check_loopback",
    "client_config",
    "make_client",
    "make_pro_client",
]

MODES = ("sandbox", "testnet", "live")
_LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})

#: ccxt 4.5.90 binance options for spot only: no ``sapi`` calls during load_markets
#: (currencies and margin pairs), spot markets only.
BINANCE_SPOT_OPTIONS: dict[str, Any] = {
    "fetchMarkets": {"types": ["spot"]},
    "fetchCurrencies": False,
    "fetchMargins": False,
    "defaultType": "spot",
    # Binance's recommendation; the skew check (rbt_ccxt.skew) compares against it
    "recvWindow": 5000,
}

# REST entries of ccxt 4.5.90's binance ``urls['api']`` and the paths they end in
_BINANCE_REST = {
    "public": "/api/v3",
    "private": "/api/v3",
    "v1": "/api/v1",
    "sapi": "/sapi/v1",
    "sapiV2": "/sapi/v2",
    "sapiV3": "/sapi/v3",
    "sapiV4": "/sapi/v4",
    "dapiPublic": "/dapi/v1",
    "dapiPrivate": "/dapi/v1",
    "dapiPrivateV2": "/dapi/v2",
    "dapiData": "/futures/data",
    "eapiPublic": "/eapi/v1",
    "eapiPrivate": "/eapi/v1",
    "fapiPublic": "/fapi/v1",
    "fapiPublicV2": "/fapi/v2",
    "fapiPublicV3": "/fapi/v3",
    "fapiPrivate": "/fapi/v1",
    "fapiPrivateV2": "/fapi/v2",
    "fapiPrivateV3": "/fapi/v3",
    "fapiData": "/futures/data",
    "papi": "/papi/v1",
    "papiV2": "/papi/v2",
}


def check_loopback(url: str, *, what: str = "sandbox URL") -> str:
    """Return ``url`` if it names a loopback host, else raise :class:`ConfigError`."""
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme not in ("http", "https", "ws", "wss") or parsed.hostname not in _LOOPBACK:
        raise ConfigError(
            f"{what} {url!r} is not a loopback address: --sandbox means the local venue "
            "simulator on 127.0.0.1 (use --testnet for a venue's test network)"
        )
    return url


def binance_urls(rest: str, ws: str | None = None) -> dict[str, Any]:
    """ccxt 4.5.90 ``binance`` ``urls['api']`` with every host replaced by ``rest`` / ``ws``.

    Spot uses ``public`` / ``private`` (``<rest>/api/v3``), ``ws.spot`` (``<ws>/ws``, market
    streams) and ``ws['ws-api'].spot`` (``<ws>/ws-api/v3``, user data); the other entries
    are rewritten too, so a call the simulator does not serve fails on loopback instead of
    leaving the machine.
    """
    rest = rest.rstrip("/")
    if ws is None:
        ws = "ws" + rest[len("http") :] if rest.startswith("http") else rest
    ws = ws.rstrip("/")
    urls: dict[str, Any] = {key: rest + path for key, path in _BINANCE_REST.items()}
    urls["ws"] = {
        "spot": ws + "/ws",
        "margin": ws + "/ws",
        "linear": ws + "/fws",
        "inverse": ws + "/dws",
        "stock": ws + "/equity/ws",
        "option": ws + "/public/ws",
        "optionMarket": ws + "/market/ws",
        "optionPrivate": ws + "/private/ws",
        "papi": ws + "/pm/ws",
        "ws-api": {
            "spot": ws + "/ws-api/v3",
            "linear": ws + "/ws-fapi/v1",
            "inverse": ws + "/ws-dapi/v1",
        },
    }
    return urls


def _strings(obj: Any) -> Iterator[str]:
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, Mapping):
        for value in obj.values():
            yield from _strings(value)


def client_config(endpoint: VenueEndpoint, exchange_id: str) -> dict[str, Any]:
    """The ccxt constructor config (credentials revealed here, verbose off)."""
    if endpoint.mode not in MODES:
        raise ConfigError(f"unknown endpoint mode {endpoint.mode!r}; expected one of {MODES}")
    config: dict[str, Any] = {
        "enableRateLimit": False,  # rbt_ccxt.limiter paces requests (weights, Retry-After)
        "verbose": False,
        "timeout": 10_000,
        "options": dict(BINANCE_SPOT_OPTIONS) if exchange_id == "binance" else {},
    }
    for field in ("apiKey", "secret", "password", "uid"):
        secret = endpoint.credentials.get(field)
        if secret is not None:
            config[field] = secret.reveal()
    return config


def _point(client: Any, endpoint: VenueEndpoint, exchange_id: str) -> None:
    if endpoint.mode == "testnet":
        client.set_sandbox_mode(True)
        return
    if endpoint.mode == "live":
        return
    rest = endpoint.urls.get("rest") or endpoint.urls.get("url") or endpoint.urls.get("base")
    if not rest:
        raise ConfigError("a sandbox endpoint needs urls['rest'] (the simulator's base URL)")
    check_loopback(rest)
    ws = endpoint.urls.get("ws")
    if ws:
        check_loopback(ws)
    if exchange_id != "binance":
        raise ConfigError(f"sandbox URLs are known for binance only, not {exchange_id!r}")
    new = binance_urls(rest, ws)
    api = client.urls["api"]
    for key, value in list(api.items()):
        if isinstance(value, str):
            # an entry this table does not know still must not leave the machine
            api[key] = new.get(key, rest.rstrip("/") + "/unserved/" + key)
    api["ws"] = new["ws"]
    for url in _strings(api):
        check_loopback(url, what="ccxt URL")


def _finish(client: Any, endpoint: VenueEndpoint, exchange_id: str) -> Any:
    from rbt.security.vendors import quiet_vendor_sdks

    _point(client, endpoint, exchange_id)
    # verbose off, vendor loggers at WARNING, the redaction filter installed (design §2.8)
    return quiet_vendor_sdks(client)


def make_client(endpoint: VenueEndpoint, exchange_id: str) -> Any:
    """A synchronous ``ccxt.<exchange_id>`` pointed at ``endpoint``."""
    import ccxt

    cls = getattr(ccxt, exchange_id, None)
    if cls is None:
        raise ConfigError(f"ccxt has no exchange {exchange_id!r}")
    return _finish(cls(client_config(endpoint, exchange_id)), endpoint, exchange_id)


def make_pro_client(endpoint: VenueEndpoint, exchange_id: str) -> Any:
    """An asynchronous ``ccxt.pro.<exchange_id>`` (WebSocket streams) pointed at ``endpoint``."""
    import ccxt.pro

    cls = getattr(ccxt.pro, exchange_id, None)
    if cls is None:
        raise ConfigError(f"ccxt.pro has no exchange {exchange_id!r}")
    return _finish(cls(client_config(endpoint, exchange_id)), endpoint, exchange_id)
