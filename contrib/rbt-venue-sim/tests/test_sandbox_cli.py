"""``rbt sandbox`` in a subprocess: found through the entry point, served on loopback,
used by the real ccxt client, gone (with its sandbox.json) after Ctrl-C."""

from __future__ import annotations

import json
import os
import select
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ccxt
import pytest
from rbt_venue_sim.testing import CCXT_BINANCE_OPTIONS, point_ccxt_at

RBT = [sys.executable, "-m", "rbt.cli.main"]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "RBT_DISABLE_PLUGIN_AUTOLOAD"}
    env["COLUMNS"] = "200"
    return env  # entry points on: the command is found like a third party's


class Sandbox:
    def __init__(self, home: Path, *args: str) -> None:
        self.home = home
        self.proc = subprocess.Popen(
            [*RBT, "sandbox", "--home", str(home), "--json", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            env=_env(),
        )

    def ready(self, timeout: float = 60.0) -> dict[str, Any]:
        assert self.proc.stdout is not None
        readable, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if readable else ""
        if not line:
            self.proc.kill()
            _, err = self.proc.communicate(timeout=30)
            raise AssertionError(f"rbt sandbox did not start: {err}")
        return json.loads(line)  # type: ignore[no-any-return]

    def interrupt(self) -> tuple[int, str]:
        self.proc.send_signal(signal.SIGINT)
        _, err = self.proc.communicate(timeout=30)
        return self.proc.returncode, err

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.communicate(timeout=30)


@pytest.fixture
def sandboxes() -> Iterator[list[Sandbox]]:
    started: list[Sandbox] = []
    yield started
    for sb in started:
        sb.kill()


def _gone(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def test_sandbox_serves_ccxt_and_cleans_up_on_ctrl_c(
    tmp_path: Path, sandboxes: list[Sandbox]
) -> None:
    sb = Sandbox(tmp_path, "--symbols", "BTC/USDT,ETH/USDT", "--balance", "USDT=5000")
    sandboxes.append(sb)
    printed = sb.ready()
    file = tmp_path / "sandbox.json"
    info = json.loads(file.read_text())
    assert info == printed
    assert stat.S_IMODE(file.stat().st_mode) == 0o600  # it names the sandbox secret
    assert info["rest"].startswith("http://127.0.0.1:")
    assert info["ws"].startswith("ws://127.0.0.1:")
    assert info["supervisor_pid"] == sb.proc.pid
    assert info["symbols"] == ["BTC/USDT", "ETH/USDT"]

    exchange = ccxt.binance(
        {
            "apiKey": info["api_key"],
            "secret": info["secret"],
            "options": dict(CCXT_BINANCE_OPTIONS),
        }
    )
    point_ccxt_at(exchange, info["rest"])
    markets = exchange.load_markets()
    assert {"BTC/USDT", "ETH/USDT"} <= set(markets)
    balance = exchange.fetch_balance()  # a signed request: the printed key works
    assert balance["USDT"]["free"] == 5000
    price = exchange.fetch_ohlcv("BTC/USDT", "1m", limit=1)[-1][4]
    order = exchange.create_order("BTC/USDT", "limit", "buy", 0.01, round(price * 0.5, 2))
    assert exchange.fetch_order(order["id"], "BTC/USDT")["status"] == "open"

    # a second sandbox on the same home is refused while this one runs
    second = subprocess.run(
        [*RBT, "sandbox", "--home", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        env=_env(),
        check=False,
    )
    assert second.returncode == 2
    assert f"a sandbox is already running (pid {sb.proc.pid}" in second.stderr

    code, err = sb.interrupt()
    assert code == 0, err
    assert "sandbox stopped" in err
    assert not file.exists()
    assert _gone(info["pid"])


def test_a_stale_sandbox_file_is_replaced(tmp_path: Path, sandboxes: list[Sandbox]) -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    stale = {"rest": "http://127.0.0.1:9", "pid": 1, "supervisor_pid": int(dead.stdout)}
    (tmp_path / "sandbox.json").write_text(json.dumps(stale))
    sb = Sandbox(tmp_path, "--symbols", "ETH/USDT", "--speed", "0.05")
    sandboxes.append(sb)
    info = sb.ready()
    assert json.loads((tmp_path / "sandbox.json").read_text())["pid"] == info["pid"]
    code, err = sb.interrupt()
    assert code == 0, err
    assert not (tmp_path / "sandbox.json").exists()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--balance", "USDT"], "--balance 'USDT': expected ASSET=AMOUNT"),
        (["--speed", "0"], "--speed 0.0: expected a positive number"),
        (["--symbols", "BTCUSDT"], "--symbols 'BTCUSDT': not a spot symbol BASE/QUOTE"),
        (["--path", __file__], "the venue simulator did not start (scenario file"),
        (["--path", __file__, "--bundle", "demo"], "--path and --bundle exclude each other"),
    ],
)
def test_bad_options_are_refused_clearly(tmp_path: Path, args: list[str], expected: str) -> None:
    done = subprocess.run(
        [*RBT, "sandbox", "--home", str(tmp_path), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=_env(),
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert expected in done.stderr
    assert not (tmp_path / "sandbox.json").exists()


def test_the_command_is_listed_as_a_plugin_provider() -> None:
    done = subprocess.run(
        [*RBT, "plugins", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        env=_env(),
        check=True,
    )
    listing = json.loads(done.stdout)
    (provider,) = [p for p in listing["providers"] if p["name"] == "sandbox"]
    assert provider["kind"] == "commands"
    assert provider["dist"] == "rbt-venue-sim"
    assert [e for e in listing["load_errors"] if e["name"] == "sandbox"] == []


def _past_path(tmp_path: Path, bars: int) -> tuple[Path, int]:
    """A scenario whose bars all closed already (the live feed needn't wait for the clock)."""
    minute = 60_000
    start = (int(time.time() // 60) - bars - 30) * minute
    rows = [["50000", "50020", "49980", "50010", "0"]]  # history bar
    rows += [["50010", "50030", "49990", str(50010 + 10 * i), "5"] for i in range(bars)]
    doc = {"interval": "1m", "start": start, "history": 1, "symbols": {"BTC/USDT": {"bars": rows}}}
    path = tmp_path / "path.json"
    path.write_text(json.dumps(doc))
    return path, start


LIVE_STRATEGY = """
from decimal import Decimal
from rbt.api import order, symbol

def initialize(context):
    context.btc = symbol("BTC/USDT")
    context.n = 0

def handle_data(context, data):
    if data.current(context.btc, "volume") > 0:
        context.n += 1
        if context.n == 1:
            order(context.btc, Decimal("0.01"))
"""


@pytest.mark.slow
def test_rbt_live_sandbox_finds_the_sandbox_through_its_file(
    tmp_path: Path, sandboxes: list[Sandbox]
) -> None:
    pytest.importorskip("rbt_ccxt")  # the ccxt.binance broker plugin
    import sqlite3
    import urllib.request

    path, start = _past_path(tmp_path, 3)
    home = tmp_path / "home"
    sb = Sandbox(home, "--symbols", "BTC/USDT", "--path", str(path), "--balance", "BTC=0")
    sandboxes.append(sb)
    info = sb.ready()
    strategy = tmp_path / "strategy.py"
    strategy.write_text(LIVE_STRATEGY)
    # no URL, no credentials: both come from $RBT_HOME/sandbox.json
    live = subprocess.Popen(
        [
            *RBT,
            "live",
            str(strategy),
            "--broker",
            "ccxt.binance",
            "--sandbox",
            "--symbols",
            "BTC/USDT",
            "--home",
            str(home),
            "--json",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )

    def control(action: str, body: bytes | None = None) -> Any:
        req = urllib.request.Request(
            f"{info['control']}/{action}", data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())

    def journal_ts() -> int:
        try:
            with sqlite3.connect(home / "rbt.sqlite") as conn:
                row = conn.execute("SELECT MAX(last_ts) FROM live_sessions").fetchone()
        except sqlite3.OperationalError:
            return -1
        return int(row[0]) if row and row[0] is not None else -1

    def wait(condition: Any, what: str) -> None:
        deadline = time.monotonic() + 60
        while not condition():
            assert live.poll() is None, live.communicate()[1][-3000:]
            assert time.monotonic() < deadline, what
            time.sleep(0.05)

    try:
        for i in range(3):
            wait(
                lambda: any(
                    c["kind"] == "market" and c["streams"] for c in control("state")["clients"]
                ),
                "market stream",
            )
            control("advance", b'{"bars": 1}')
            end_ns = (start + (2 + i) * 60_000) * 1_000_000
            wait(lambda end_ns=end_ns: journal_ts() >= end_ns, f"bar {i}")
        balances = control("state")["accounts"]["main"]
    finally:
        if live.poll() is None:
            live.send_signal(signal.SIGINT)
        out, err = live.communicate(timeout=60)
    assert live.returncode == 0, err[-3000:]
    assert "stopped; run the same command to resume" in out
    assert balances["BTC"]["free"] == "0.00999000"  # 0.01 bought, the fee taken in BTC
    code, err = sb.interrupt()
    assert code == 0, err
    assert not (home / "sandbox.json").exists()


def test_the_sandbox_plugin_passes_the_packaging_checks() -> None:
    from rbt.testing.packaging import run_packaging_checks

    results = run_packaging_checks("sandbox")
    assert [r.code for r in results if not r.passed] == []
    assert {r.code for r in results} >= {"TC-P01", "TC-P02", "TC-P03", "TC-P05"}
