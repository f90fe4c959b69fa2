"""Helpers for tests of the adapter against rbt-venue-sim (no network beyond loopback).

:class:`EventLog` is a :class:`~rbt.kernel.broker.BrokerEvents` sink that applies every
report to the kernel's own :class:`~rbt.kernel.broker.OrderTracker` (the one state
machine), so an invalid transition or an overfill fails the test where it happens.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from rbt.kernel.broker import OrderTracker, VenueEndpoint
from rbt.kernel.model import Asset, Fill, Order, OrderStatus, OrderStyle, OrderType
from rbt.kernel.orders import OrderEventKind
from rbt.kernel.secrets import Secret

__all__ = [
    "EventLog",
    "broker_for",
    "sandbox_endpoint",
    "streaming",
    "until",
    "user_stream_subscribed",
]


def sandbox_endpoint(sim: Any) -> VenueEndpoint:
    """The endpoint of a running :class:`rbt_venue_sim.testing.VenueSim`."""
    return VenueEndpoint(
        mode="sandbox",
        urls={"rest": sim.base_url, "ws": sim.ws_url},
        credentials={"apiKey": Secret(sim.api_key), "secret": Secret(sim.secret)},
    )


def broker_for(sim: Any, symbols: Sequence[str] = ("BTC/USDT",), **options: Any) -> Any:
    """A ``ccxt.binance`` broker pointed at ``sim`` with its own rate limiter."""
    from rbt_ccxt.broker import CcxtBroker
    from rbt_ccxt.limiter import VenueRateLimiter

    options.setdefault("limiter", VenueRateLimiter(f"test@{sim.base_url}"))
    return CcxtBroker(sandbox_endpoint(sim), exchange="binance", symbols=symbols, **options)


class EventLog:
    """A broker event sink over the kernel's order tracker, recording what arrived."""

    def __init__(self) -> None:
        self.tracker = OrderTracker()
        self.events: list[tuple[str, OrderEventKind | None, str]] = []
        self.fills: list[Fill] = []
        self.seq = 0

    def new_order(
        self,
        asset: Asset,
        amount: str | Decimal,
        *,
        limit: str | None = None,
        order_id: str | None = None,
        created: int = 0,
    ) -> Order:
        """An order in state SUBMITTED, tracked, ready for ``broker.submit``."""
        self.seq += 1
        style = (
            OrderStyle(type=OrderType.LIMIT, limit_price=Decimal(limit))
            if limit is not None
            else OrderStyle()
        )
        order = Order(
            id=order_id or f"t-run-{self.seq}",
            asset=asset,
            amount=Decimal(amount),
            created=created,
            style=style,
            status=OrderStatus.NEW,
        )
        self.tracker.add(order)
        return self.tracker.transition(order.id, OrderEventKind.SUBMIT)

    def cancel_requested(self, order_id: str) -> None:
        self.tracker.transition(order_id, OrderEventKind.CANCEL_REQUEST)

    # -- BrokerEvents --------------------------------------------------------------
    def order_event(self, order_id: str, kind: OrderEventKind, ts: int, reason: str = "") -> None:
        self.events.append((order_id, kind, reason))
        self.tracker.transition(order_id, kind, reason)

    def fill(self, fill: Fill) -> None:
        self.events.append((fill.order_id, None, fill.id))
        self.fills.append(fill)
        self.tracker.apply_fill(fill)

    # -- reading -------------------------------------------------------------------
    def order(self, order_id: str) -> Order:
        order = self.tracker.get(order_id)
        assert order is not None, order_id
        return order

    def kinds(self, order_id: str) -> list[str]:
        """The events of one order: kind values, ``fill`` for fills."""
        return [k.value if k is not None else "fill" for o, k, _ in self.events if o == order_id]

    def filled(self, order_id: str) -> Decimal:
        return sum((f.amount for f in self.fills if f.order_id == order_id), Decimal(0))


async def until(predicate: Any, *, timeout: float = 20.0, interval: float = 0.02) -> Any:
    """Poll ``predicate()`` (sync; run in a thread) until it is truthy; return its value."""
    import asyncio

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = await asyncio.to_thread(predicate)
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout} s: {predicate}")
        await asyncio.sleep(interval)


def user_stream_subscribed(sim: Any, count: int = 1) -> bool:
    """Whether ``count`` user-data subscriptions are live at the simulator."""
    clients = sim.state()["clients"]
    return sum(1 for c in clients if c["kind"] in ("api", "user") and c["account"]) >= count


def streaming(broker: Any, sim: Any, scenario: Any, *, timeout: float = 60.0) -> Any:
    """Run ``await scenario()`` while ``broker.run()`` streams (after it subscribed)."""
    import asyncio

    async def main() -> Any:
        task = asyncio.create_task(broker.run())
        try:
            await until(lambda: task.done() or user_stream_subscribed(sim))
            if task.done():
                task.result()
            return await asyncio.wait_for(scenario(), timeout)
        finally:
            broker.close()
            await asyncio.wait_for(task, 30)

    return asyncio.run(main())


class SimVenueHarness:
    """The :class:`rbt.testing.live_broker.LiveVenueHarness` of ``ccxt.binance``: a venue
    simulator subprocess and the fault API calls the TC-L cases need.

    The simulator runs with zero fees: Binance charges a spot buyer's fee in the base
    asset, so with fees the venue's position would trail the sum of the fills by the fee
    (TC-L06 compares them); the fee path is tested in ``tests/test_broker.py``.
    """

    def __init__(self, record: Any, symbol: str = "BTC/USDT") -> None:
        from rbt_venue_sim.testing import start_venue_sim

        self.record = record
        self.symbol = symbol
        self.sim = start_venue_sim(symbols=[symbol], args=["--maker-fee", "0", "--taker-fee", "0"])
        self._brokers: list[Any] = []

    def make_broker(self) -> Any:
        from rbt_ccxt.limiter import VenueRateLimiter

        broker = self.record.create(
            sandbox_endpoint(self.sim),
            symbols=[self.symbol],
            backoff=(0.05, 0.5),
            limiter=VenueRateLimiter(f"kit@{self.sim.base_url}"),
        )
        self._brokers.append(broker)
        return broker

    def now(self) -> int:
        return int(self.sim.control("GET", "health")["server_time"]) * 1_000_000

    def price(self, asset: Asset) -> Decimal:
        market_id = asset.symbol.replace("/", "")
        return Decimal(self.sim.state()["prices"][market_id])

    def quantity(self, asset: Asset) -> Decimal:
        # the smallest whole number of lots worth twice the minimum notional
        price = self.price(asset)
        lots = (2 * max(asset.min_notional, Decimal(1)) / price / asset.lot_size).to_integral_value(
            rounding="ROUND_CEILING"
        )
        return lots * asset.lot_size

    def fill(self, client_order_id: str, amount: Decimal | None = None) -> None:
        self.sim.fill(
            self.symbol,
            client_order_id=client_order_id,
            qty=None if amount is None else format(amount, "f"),
        )

    def drop_next_submit_response(self) -> None:
        self.sim.add_fault("drop", method="POST", path="/api/v3/order")

    def disconnect_stream(self) -> None:
        self.sim.close_sockets("api", refuse_seconds=300)

    def restore_stream(self) -> None:
        self.sim.close_sockets("none")

    def close(self) -> None:
        for broker in self._brokers:
            broker.close()
        self.sim.stop()


# -- the live engine in a subprocess (rbt_ccxt.liverun), the simulator in lockstep --------
MINUTE_MS = 60_000


def write_path(tmp_path: Path, closes: list[int], *, fee: str = "0") -> tuple[Path, int]:
    """A continuous 1m path whose bars all lie in the past (they close as revealed); the
    first (history) bar has volume 0. Zero fees by default: Binance spot charges a buyer
    in the base asset, so with fees the venue's position trails the fills (see README)."""
    now_min = int(time.time() // 60) * MINUTE_MS
    start = now_min - (len(closes) + 30) * MINUTE_MS
    bars: list[list[str]] = []
    prev = closes[0]
    for c in closes:
        bars.append(
            [
                str(prev),
                str(max(prev, c) + 20),
                str(min(prev, c) - 20),
                str(c),
                "0" if not bars else "5",
            ]
        )
        prev = c
    path = tmp_path / "path.json"
    path.write_text(
        json.dumps(
            {
                "interval": "1m",
                "start": start,
                "history": 1,
                "symbols": {"BTC/USDT": {"bars": bars}},
                "liquidity": {"half_spread_bps": "0"},
                "fees": {"maker": fee, "taker": fee},
            }
        )
    )
    return path, start


def journal_ts(home: Path) -> int:
    db = home / "rbt.sqlite"
    if not db.exists():
        return -1
    try:
        with sqlite3.connect(db, timeout=1) as conn:
            row = conn.execute("SELECT MAX(last_ts) FROM live_sessions").fetchone()
    except sqlite3.OperationalError:
        return -1
    return int(row[0]) if row and row[0] is not None else -1


def start_live(
    sim: Any, home: Path, strategy: Path, start: int, bars: int, *, policy: str = "halt"
) -> subprocess.Popen[str]:
    until_ns = (start + (1 + bars) * MINUTE_MS) * 1_000_000
    day = time.strftime("%Y-%m-%d", time.gmtime(start / 1000))
    # the live process finds ccxt.binance through its entry point, as a user's would (the
    # framework's tests switch plugin autoload off for their own process)
    env = {k: v for k, v in os.environ.items() if k != "RBT_DISABLE_PLUGIN_AUTOLOAD"}
    env |= {"RBT_SIM_API_KEY": sim.api_key, "RBT_SIM_SECRET": sim.secret}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "rbt_ccxt.liverun",
            str(home),
            str(strategy),
            "--rest",
            sim.base_url,
            "--start",
            day,
            "--until",
            str(until_ns),
            "--policy",
            policy,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def wait_streaming(sim: Any, proc: subprocess.Popen[str], timeout: float = 60) -> None:
    """Until the run's market stream and user stream are subscribed."""
    deadline = time.monotonic() + timeout
    while True:
        clients = sim.state()["clients"]
        if any(c["kind"] == "market" and c["streams"] for c in clients) and any(
            c["kind"] == "api" and c["account"] for c in clients
        ):
            return
        if proc.poll() is not None:
            raise AssertionError(
                f"the live run exited: {proc.stderr.read() if proc.stderr else ''}"
            )
        if time.monotonic() > deadline:
            raise AssertionError("the live run never subscribed")
        time.sleep(0.05)


def step(
    sim: Any, proc: subprocess.Popen[str], home: Path, start: int, index: int, timeout: float = 60
) -> None:
    """Reveal bar ``index`` (0-based after the history bar); wait until it is checkpointed."""
    end_ns = (start + (2 + index) * MINUTE_MS) * 1_000_000
    sim.advance(1)
    deadline = time.monotonic() + timeout
    while journal_ts(home) < end_ns:
        if proc.poll() is not None:
            raise AssertionError(
                f"the live run exited: {proc.stderr.read() if proc.stderr else ''}"
            )
        if time.monotonic() > deadline:
            raise AssertionError(f"bar {index} was not processed")
        time.sleep(0.05)


def finish(proc: subprocess.Popen[str], timeout: float = 120) -> dict[str, Any]:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err
    return dict(json.loads(out.strip().splitlines()[-1]))


def orders_at_venue(sim: Any, client_order_id: str) -> int:
    """How many order placements with this client id the venue accepted (status 200)."""
    return sum(
        1
        for r in sim.requests()
        if r["path"] == "/api/v3/order"
        and r["method"] == "POST"
        and r["body"].get("newClientOrderId") == client_order_id
        and r["status"] in (200, "dropped", None)
    )


def reap(proc: subprocess.Popen[str]) -> None:
    """SIGKILL ``proc`` if it still runs, wait for it, close its pipes."""
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=30)
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()
