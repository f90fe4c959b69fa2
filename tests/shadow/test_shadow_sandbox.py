"""Against the venue simulator (rbt-venue-sim, a subprocess on 127.0.0.1) through the real
ccxt client: an injected, growing slippage (about 2, then 22, then 82 bps) trips the
alignment breaker at the sandbox threshold (50 bps) within the documented number of
paired fills; trading halts; a restart stays halted until ``rbt resume``.

The slippage comes from the simulator's own order book: a half spread of 2 bps and
levels 10 bps apart holding 0.001 BTC each, so an order of k × 0.001 BTC walks k levels
and pays 2 + 5 (k − 1) bps on average. The strategy grows its orders from 1 to 5 to 17
levels; the shadow keeps the backtest's models (no slippage, fills at the next open)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest

rbt_ccxt = pytest.importorskip("rbt_ccxt", reason="rbt-ccxt (contrib) is not installed")
venue_plugin = pytest.importorskip(
    "rbt_venue_sim.pytest_plugin", reason="rbt-venue-sim (contrib) is not installed"
)
venue_sim_factory = venue_plugin.venue_sim_factory  # the fixture, by name

MINUTE_MS = 60_000
PHASE = 8  # bars per phase: 1 level, then 5, then 17
N_BARS = 3 * PHASE + 8
PRICE = 50000
WINDOW, MIN_FILLS, THRESHOLD = 20, 5, 50.0  # documented sandbox defaults

STRATEGY = f"""
from decimal import Decimal
from rbt.api import order, symbol

def initialize(context):
    context.btc = symbol("BTC/USDT")
    context.n = 0

def handle_data(context, data):
    if not data.current(context.btc, "volume") > 0:
        return  # the history bar, before the run
    context.n += 1
    levels = 1 if context.n <= {PHASE} else 5 if context.n <= {2 * PHASE} else 17
    side = 1 if context.n % 2 else -1
    order(context.btc, side * Decimal("0.001") * levels)
"""


def _path(tmp_path: Path) -> tuple[Path, int]:
    now_min = int(time.time() // 60) * MINUTE_MS
    start = now_min - (N_BARS + 30) * MINUTE_MS  # all in the past: each bar closes at once
    bars = [[str(PRICE)] * 4 + ["0" if i == 0 else "5"] for i in range(N_BARS + 1)]
    path = tmp_path / "path.json"
    path.write_text(
        json.dumps(
            {
                "interval": "1m",
                "start": start,
                "history": 1,
                "symbols": {"BTC/USDT": {"bars": bars}},
                "liquidity": {
                    "half_spread_bps": "2",
                    "levels": 40,
                    "level_step_ticks": 5000,  # 50 USDT: 10 bps of 50 000
                    "level_qty": "0.001",
                },
                "fees": {"maker": "0", "taker": "0"},
            }
        )
    )
    return path, start


def _journal_ts(db: Path) -> int:
    if not db.exists():
        return -1
    try:
        with sqlite3.connect(db) as conn:
            row = conn.execute("SELECT MAX(last_ts) FROM live_sessions").fetchone()
    except sqlite3.OperationalError:
        return -1
    return int(row[0]) if row and row[0] is not None else -1


def _expected_trip() -> int:
    """Paired fills counted when the rolling mean first exceeds 50 bps (one per bar)."""
    errors: list[float] = []
    for n in range(1, N_BARS + 1):
        levels = 1 if n <= PHASE else 5 if n <= 2 * PHASE else 17
        errors.append(2 + 5 * (levels - 1))
        window = errors[-WINDOW:]
        if len(errors) >= MIN_FILLS and sum(window) / len(window) > THRESHOLD:
            return n
    raise AssertionError("never trips")


def _run(home: Path, strategy: Path, sim: Any, start: int, until_ns: int) -> Any:
    from rbt_ccxt.broker import binance_broker
    from rbt_ccxt.feed import CcxtBarStream
    from rbt_ccxt.testing import sandbox_endpoint

    from rbt.live.engine import LiveRun
    from rbt.shadow import ShadowBacktestEngine

    endpoint = sandbox_endpoint(sim)
    feed = CcxtBarStream(endpoint, symbols=["BTC/USDT"], interval="1m", grace=0.3,
                         until=until_ns)  # fmt: skip
    shadow = ShadowBacktestEngine(slippage="none", commission="none", fill_timing="next_open")
    run = LiveRun(
        strategy,
        feed=feed,
        broker=binance_broker(endpoint, symbols=["BTC/USDT"]),  # tests switch autoload off
        endpoint=endpoint,
        home=home,
        capital_base="100000",
        commission="none",
        slippage="none",
        fill_timing="next_open",
        start=time.strftime("%Y-%m-%d", time.gmtime(start / 1000)),
        observers=[shadow],
    )
    return run, shadow


def _lockstep(sim: Any, db: Path, start: int, errors: list[str]) -> None:
    """Reveal one bar at a time, each once the run has checkpointed the previous one."""
    try:
        for i in range(N_BARS):
            deadline = time.monotonic() + 60
            while not any(c["kind"] == "market" and c["streams"] for c in sim.state()["clients"]):
                if time.monotonic() > deadline:
                    raise TimeoutError("the run never subscribed to the market stream")
                time.sleep(0.05)
            sim.advance(1)
            end_ns = (start + (2 + i) * MINUTE_MS) * 1_000_000
            while _journal_ts(db) < end_ns:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"bar {i} was not processed")
                time.sleep(0.05)
    except Exception as exc:  # reported by the test, not lost in the thread
        errors.append(repr(exc))


@pytest.mark.slow
def test_growing_venue_slippage_trips_the_breaker(venue_sim_factory: Any, tmp_path: Path) -> None:
    from rbt.cli.main import main as rbt_main
    from rbt.data.db import open_database
    from rbt.data.home import RbtHome
    from rbt.shadow.store import load_rows

    path, start = _path(tmp_path)
    sim = venue_sim_factory(symbols=["BTC/USDT"], path=path, args=["--balance", "BTC=1"])
    strategy = tmp_path / "grow.py"
    strategy.write_text(STRATEGY)
    home = RbtHome(tmp_path / "home")
    db = home.root / "rbt.sqlite"
    until_ns = (start + (1 + N_BARS) * MINUTE_MS) * 1_000_000
    run, shadow = _run(home.root, strategy, sim, start, until_ns)
    errors: list[str] = []
    driver = threading.Thread(target=_lockstep, args=(sim, db, start, errors), daemon=True)
    driver.start()
    try:
        asyncio.run(run.run())
    except ValueError:
        pass  # building a streaming run's result frames may fail; the trading is what counts
    finally:
        run.close()
    driver.join(timeout=120)
    assert not errors, errors

    assert shadow.failed is None, shadow.failed
    engine = open_database(home)
    trips = load_rows(engine, run.run_id, "trip")
    assert len(trips) == 1, shadow.status()
    (crossed,) = trips[0]["details"]["crossed"]
    assert crossed["metric"] == "slippage_error_bps"
    assert crossed["threshold"] == THRESHOLD
    assert crossed["value"] > THRESHOLD
    executions = [
        r for r in load_rows(engine, run.run_id, "execution") if r["ts"] <= trips[0]["ts"]
    ]
    assert len(executions) == _expected_trip()
    assert 2 * PHASE < len(executions) <= 2 * PHASE + WINDOW  # within the documented bound
    first = executions[0]["details"]["slippage_bps"]
    assert first == pytest.approx(2, abs=0.01)  # the venue's half spread, nothing else
    # trading halted: no live fill after the trip's bar
    assert run.session.trading_state == "HALTED"
    # (fill times are the venue's wall clock; order times are bar times)
    after = [o for o in run.session.orders if o.created > trips[0]["ts"]]
    assert after
    assert {o.status.value for o in after} == {"denied"}

    # a restart stays HALTED until rbt resume (composed again: the persisted kill switch)
    again, _ = _run(home.root, strategy, sim, start, until_ns)
    try:
        assert again.session.trading_state == "HALTED"
        assert "alignment breaker" in again.session.state_reason
    finally:
        again.close()
    assert rbt_main(["resume", "--run", run.run_id, "--home", str(home.root)]) == 0
    resumed, _ = _run(home.root, strategy, sim, start, until_ns)
    try:
        assert resumed.session.trading_state == "ACTIVE"
    finally:
        resumed.close()
