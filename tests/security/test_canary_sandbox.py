"""Scenario 14 on the live path: ``rbt live --broker ccxt.binance --sandbox`` with canary
credentials, through the real ccxt client, DEBUG logging everywhere and ccxt's verbose
mode forced on by default; the venue answers one order with a 401 whose body quotes the
canary API key and rejects another quoting the canary secret (venues do echo what they
were sent). Then stdout, stderr, the log file, every file of the home and every table of
the database (orders, fills, the audit log, broker connections) are searched for the
canaries and their encoded forms: zero occurrences.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("rbt_ccxt")
sim_testing = pytest.importorskip("rbt_venue_sim.testing")

from tests.security.canary import CANARY, STORE_PASSWORD, leaks  # noqa: E402

MINUTE_MS = 60_000
N_BARS = 6
CLOSES = [50000, 50040, 49980, 50110, 50200, 50150, 50090]

HARNESS = textwrap.dedent(
    '''
    """rbt with DEBUG logging to stderr and a file, and ccxt verbose on by default."""
    import logging
    import sys

    import ccxt

    logging.basicConfig(
        level=logging.DEBUG,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
        handlers=[logging.FileHandler(sys.argv[1]), logging.StreamHandler(sys.stderr)],
    )
    # the scenario's injected fault: every ccxt client starts verbose (it prints signed
    # requests and their headers); the adapter must switch it off
    ccxt.Exchange.verbose = True
    from rbt.cli.main import main

    sys.exit(main(sys.argv[2:]))
    '''
)

STRATEGY = textwrap.dedent(
    """
    from decimal import Decimal

    from rbt.api import order, symbol

    def initialize(context):
        context.btc = symbol("BTC/USDT")
        context.n = 0

    def handle_data(context, data):
        if not data.current(context.btc, "volume") > 0:
            return
        context.n += 1
        if context.n in (1, 2, 3):
            order(context.btc, Decimal("0.01"))
        elif context.n == 5:
            order(context.btc, Decimal("-0.01"))
    """
)


def _path(work: Path) -> tuple[Path, int]:
    start = (int(time.time() // 60) - N_BARS - 30) * MINUTE_MS  # every bar already closed
    bars: list[list[str]] = []
    prev = CLOSES[0]
    for close in CLOSES:
        volume = "0" if not bars else "5"  # the history bar is not traded
        bars.append(
            [str(prev), str(max(prev, close) + 20), str(min(prev, close) - 20), str(close), volume]
        )
        prev = close
    doc = {
        "interval": "1m",
        "start": start,
        "history": 1,
        "symbols": {"BTC/USDT": {"bars": bars}},
        "liquidity": {"half_spread_bps": "0"},
    }
    path = work / "path.json"
    path.write_text(json.dumps(doc))
    return path, start


def _journal_ts(db: Path) -> int:
    if not db.exists():
        return -1
    try:
        with sqlite3.connect(db) as conn:
            row = conn.execute("SELECT MAX(last_ts) FROM live_sessions").fetchone()
    except sqlite3.OperationalError:  # not migrated yet
        return -1
    return int(row[0]) if row and row[0] is not None else -1


def _wait(condition: Any, proc: subprocess.Popen[str], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            raise AssertionError(f"rbt live exited while waiting for {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def live_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    work = tmp_path_factory.mktemp("canary-live")
    home = work / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("RBT_CRED")}
    env.pop("RBT_DISABLE_PLUGIN_AUTOLOAD", None)  # the ccxt broker is an installed plugin
    env.update(RBT_HOME=str(home), RBT_CREDENTIALS_PASSWORD=STORE_PASSWORD, COLUMNS="200")
    texts: dict[str, str] = {}

    stdin = f"{CANARY['apiKey']}\n{CANARY['secret']}\n"
    added = subprocess.run(
        [
            sys.executable,
            "-m",
            "rbt.cli.main",
            "credentials",
            "add",
            "canary",
            "--venue",
            "binance",
            "--stdin",
            "--json",
        ],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert added.returncode == 0, added.stderr
    texts["add: stdout"], texts["add: stderr"] = added.stdout, added.stderr

    path, start = _path(work)
    # the simulator's account holds the canary key: only a client signing with it gets in
    sim = sim_testing.start_venue_sim(
        symbols=["BTC/USDT"],
        path=path,
        api_key=CANARY["apiKey"],
        secret=CANARY["secret"],
        args=["--balance", "BTC=0"],
    )
    harness, strategy = work / "harness.py", work / "strategy.py"
    harness.write_text(HARNESS)
    strategy.write_text(STRATEGY)
    proc = subprocess.Popen(
        [
            sys.executable,
            str(harness),
            str(work / "live.log"),
            "live",
            str(strategy),
            "--broker",
            "ccxt.binance",
            "--sandbox",
            "--sandbox-url",
            sim.base_url,
            "--credentials",
            "canary",
            "--symbols",
            "BTC/USDT",
            "--json",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        # the venue echoes what it was sent: a 401 quoting the key, a reject quoting the
        # secret (one each, on the first two order placements)
        sim.add_fault(
            "http_error",
            method="POST",
            path="/api/v3/order",
            status=401,
            body=json.dumps({"code": -2015, "msg": f"Invalid API-key {CANARY['apiKey']}"}),
        )
        sim.add_fault(
            "reject",
            method="POST",
            path="/api/v3/order",
            code=-1022,
            msg=f"Signature for this request is not valid (secret {CANARY['secret']})",
        )
        db = home / "rbt.sqlite"
        for i in range(N_BARS):
            _wait(
                lambda: any(c["kind"] == "market" and c["streams"] for c in sim.state()["clients"]),
                proc,
                "the market stream",
            )
            sim.advance(1)
            end_ns = (start + (2 + i) * MINUTE_MS) * 1_000_000
            _wait(lambda end_ns=end_ns: _journal_ts(db) >= end_ns, proc, f"bar {i}")
        requests = sim.requests()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        sim.stop()
    texts["live: stdout"], texts["live: stderr"] = out, err
    return {
        "work": work,
        "home": home,
        "code": proc.returncode,
        "texts": texts,
        "requests": requests,
    }


def test_the_run_traded_through_ccxt_with_the_canary_key(live_run: dict[str, Any]) -> None:
    assert live_run["code"] == 0, live_run["texts"]["live: stderr"][-3000:]
    orders = [r for r in live_run["requests"] if r.get("path") == "/api/v3/order"]
    assert len(orders) >= 3  # the 401, the reject and at least one accepted order
    log = (live_run["work"] / "live.log").read_text()
    assert "ccxt" in log or "rbt" in log  # DEBUG records were written (masked)
    with sqlite3.connect(live_run["home"] / "rbt.sqlite") as conn:
        (fills,) = conn.execute("SELECT COUNT(*) FROM fills").fetchone()
    assert fills >= 1


def test_no_canary_in_output_logs_or_files(live_run: dict[str, Any]) -> None:
    found = {label: leaks(text) for label, text in live_run["texts"].items()}
    files = [p for p in live_run["work"].rglob("*") if p.is_file()]
    found |= {str(p): leaks(p.read_bytes()) for p in files}
    assert {k: v for k, v in found.items() if v} == {}


def test_no_canary_in_any_table(live_run: dict[str, Any]) -> None:
    with sqlite3.connect(live_run["home"] / "rbt.sqlite") as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        dump = "\n".join(conn.iterdump())
    assert {"orders", "fills", "order_audit_log", "broker_connections"} <= tables
    assert leaks(dump) == []
