"""Start the simulator as a subprocess and talk to its control API (stdlib only).

Used by this distribution's tests, the pytest fixtures in
:mod:`rbt_venue_sim.pytest_plugin`, and ``rbt sandbox``::

    with start_venue_sim(symbols=["BTC/USDT"]) as sim:
        exchange = ccxt.binance({"apiKey": sim.api_key, "secret": sim.secret,
                                 "options": CCXT_BINANCE_OPTIONS})
        point_ccxt_at(exchange, sim)
        exchange.load_markets()
        sim.advance(1)
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from typing import Any

__all__ = [
    "CCXT_BINANCE_OPTIONS",
    "DEFAULT_API_KEY",
    "DEFAULT_SECRET",
    "VenueSim",
    "ccxt_binance_urls",
    "point_ccxt_at",
    "start_venue_sim",
]

DEFAULT_API_KEY = "rbt-sim-api-key"
DEFAULT_SECRET = "rbt-sim-secret"

#: ccxt 4.5.90 ``binance`` options the simulator needs: spot markets only, and no
#: ``sapi`` calls in ``load_markets`` (``fetchCurrencies`` would call
#: ``sapi/v1/capital/config/getall``, ``fetchMargins`` ``sapi/v1/margin/allPairs`` and
#: ``.../isolated/allPairs``; the simulator serves neither).
CCXT_BINANCE_OPTIONS: dict[str, Any] = {
    "fetchMarkets": {"types": ["spot"]},
    "fetchCurrencies": False,
    "fetchMargins": False,
}


def ccxt_binance_urls(base_url: str, ws_url: str | None = None) -> dict[str, Any]:
    """ccxt 4.5.90 ``binance`` / ``ccxt.pro.binance`` ``urls['api']`` pointed at the simulator.

    Every REST entry of ccxt's table (``public``, ``private``, ``v1``, ``sapi*``,
    ``fapi*``, ``dapi*``, ``eapi*``, ``papi*``) is rewritten, so a call the simulator
    does not serve fails against 127.0.0.1 instead of reaching the internet; spot uses
    ``public`` and ``private`` (``<base>/api/v3``). WebSocket: ``ws.spot`` and
    ``ws.margin`` -> ``<ws>/ws`` (market streams), ``ws['ws-api'].spot`` ->
    ``<ws>/ws-api/v3`` (user data); every other ``ws`` entry also points at 127.0.0.1.
    """
    ws = ws_url or base_url.replace("http://", "ws://", 1)
    rest = {
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
    urls: dict[str, Any] = {k: base_url + v for k, v in rest.items()}
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


def point_ccxt_at(exchange: Any, sim: VenueSim | str) -> Any:
    """Rewrite every ``exchange.urls['api']`` entry (REST and ``ws``) to the simulator.

    Checks that no ``http``/``ws`` URL left in ``urls['api']`` names another host.
    """
    base = sim.base_url if isinstance(sim, VenueSim) else sim
    new = ccxt_binance_urls(base)
    api = exchange.urls["api"]
    for key, value in list(api.items()):
        if isinstance(value, str):
            api[key] = new.get(key, base + "/unserved/" + key)
    api["ws"] = new["ws"]
    leftovers = [
        v for v in _strings(api) if not v.startswith(("http://127.0.0.1", "ws://127.0.0.1"))
    ]
    if leftovers:
        raise AssertionError(f"ccxt URLs not pointed at the simulator: {leftovers}")
    return exchange


def _strings(obj: Any) -> Iterator[str]:
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from _strings(v)


class VenueSim:
    """A running simulator subprocess and its control API."""

    def __init__(
        self,
        proc: subprocess.Popen[str],
        ready: dict[str, Any],
        api_key: str,
        secret: str,
        stderr_tail: collections.deque[str],
    ) -> None:
        self.proc = proc
        self.port: int = ready["port"]
        self.base_url: str = ready["base_url"]
        self.ws_url: str = ready["ws_url"]
        self.api_key = api_key
        self.secret = secret
        self._stderr_tail = stderr_tail
        self._threads: Sequence[threading.Thread] = ()

    @property
    def stderr(self) -> str:
        """The last lines the simulator wrote to stderr (for diagnostics)."""
        return "".join(self._stderr_tail)

    # -------------------------------------------------------------- control API
    def control(self, method: str, action: str, body: Any = None, *, query: str = "") -> Any:
        data = json.dumps(body).encode() if body is not None else None
        url = f"{self.base_url}/_sim/{action}" + (f"?{query}" if query else "")
        req = urllib.request.Request(
            url, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return json.loads(resp.read())
        except urllib.error.HTTPError as err:
            raise RuntimeError(f"/_sim/{action}: {err.code} {err.read().decode()}") from None

    def state(self) -> dict[str, Any]:
        return self.control("GET", "state")  # type: ignore[no-any-return]

    def advance(self, bars: int = 1) -> dict[str, Any]:
        return self.control("POST", "advance", {"bars": bars})  # type: ignore[no-any-return]

    def set_price(self, symbol: str, price: str, *, gap: bool = False) -> dict[str, Any]:
        return self.control("POST", "price", {"symbol": symbol, "price": price, "gap": gap})  # type: ignore[no-any-return]

    def fill(
        self,
        symbol: str,
        *,
        order_id: int | None = None,
        client_order_id: str | None = None,
        qty: str | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"symbol": symbol, "qty": qty}
        if order_id is not None:
            body["orderId"] = order_id
        if client_order_id is not None:
            body["origClientOrderId"] = client_order_id
        return self.control("POST", "fill", body)  # type: ignore[no-any-return]

    def add_fault(self, kind: str, **params: Any) -> dict[str, Any]:
        return self.control("POST", "faults", {"kind": kind, **params})  # type: ignore[no-any-return]

    def clear_faults(self) -> None:
        self.control("DELETE", "faults")

    def set_skew(self, skew_ms: int) -> dict[str, Any]:
        return self.control("POST", "clock", {"skew_ms": skew_ms})  # type: ignore[no-any-return]

    def set_limits(self, **limits: Any) -> dict[str, Any]:
        return self.control("POST", "limits", limits)  # type: ignore[no-any-return]

    def close_sockets(self, kind: str = "all", *, refuse_seconds: float = 0.0) -> int:
        """Close WebSockets of ``kind``; refuse new ones for ``refuse_seconds``."""
        body = {"kind": kind, "refuse_seconds": refuse_seconds}
        return int(self.control("POST", "close", body)["closed"])

    def requests(self, since: int = 0) -> list[dict[str, Any]]:
        return self.control("GET", "requests", query=f"since={since}")  # type: ignore[no-any-return]

    def clear_requests(self) -> None:
        self.control("DELETE", "requests")

    # -------------------------------------------------------------- lifecycle
    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM, wait; SIGKILL if it does not stop. Returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=timeout)
        _close_pipes(self.proc, self._threads)
        return int(self.proc.returncode)

    def __enter__(self) -> VenueSim:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_venue_sim(
    *,
    symbols: Sequence[str] = ("BTC/USDT", "ETH/USDT"),
    path: str | os.PathLike[str] | None = None,
    args: Sequence[str] = (),
    api_key: str = DEFAULT_API_KEY,
    secret: str = DEFAULT_SECRET,
    timeout: float = 30.0,
    python: str = sys.executable,
) -> VenueSim:
    """Launch ``python -m rbt_venue_sim`` on 127.0.0.1 with a free port; wait until ready."""
    cmd = [
        python,
        "-m",
        "rbt_venue_sim",
        "--port",
        "0",
        "--symbols",
        ",".join(symbols),
        "--api-key",
        api_key,
        "--secret",
        secret,
        *args,
    ]
    if path is not None:
        cmd += ["--path", os.fspath(path)]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL
    )
    lines: queue.Queue[str | None] = queue.Queue()
    stderr_tail: collections.deque[str] = collections.deque(maxlen=200)

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    def pump_stderr() -> None:  # drained, so a chatty server never blocks on a full pipe
        assert proc.stderr is not None
        for line in proc.stderr:
            stderr_tail.append(line)

    threads = [
        threading.Thread(target=pump, daemon=True),
        threading.Thread(target=pump_stderr, daemon=True),
    ]
    for t in threads:
        t.start()
    ready = None
    try:
        while ready is None:
            line = lines.get(timeout=timeout)
            if line is None:
                proc.wait(timeout=timeout)
                time.sleep(0.1)  # let the stderr pump finish
                err = "".join(stderr_tail)
                raise RuntimeError(f"rbt-venue-sim exited before it was ready: {err}")
            with contextlib.suppress(json.JSONDecodeError):
                msg = json.loads(line)
                if isinstance(msg, dict) and msg.get("event") == "ready":
                    ready = msg
    except BaseException:
        proc.kill()
        proc.wait()
        _close_pipes(proc, threads)
        raise
    sim = VenueSim(proc, ready, api_key, secret, stderr_tail)
    sim._threads = threads
    return sim


def _close_pipes(proc: subprocess.Popen[str], threads: Sequence[threading.Thread]) -> None:
    for t in threads:
        t.join(timeout=5)
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()
