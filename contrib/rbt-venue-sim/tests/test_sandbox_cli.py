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
