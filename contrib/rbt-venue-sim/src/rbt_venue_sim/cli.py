"""``rbt sandbox``: a local exchange to dry-run a strategy against the real adapter code.

Starts ``python -m rbt_venue_sim`` on 127.0.0.1 (a free port), prints its URLs and the
sandbox API key, writes ``$RBT_HOME/sandbox.json`` (mode 0600, atomically)::

    {"rest": "http://127.0.0.1:50123", "ws": "ws://127.0.0.1:50123", "pid": 4242,
     "supervisor_pid": 4241, "api_key": "rbt-sim-api-key", "secret": "rbt-sim-secret",
     "symbols": ["BTC/USDT"], "control": "http://127.0.0.1:50123/_sim"}

which ``rbt live --broker ccxt.binance --sandbox`` reads, and runs until Ctrl-C (SIGINT)
or SIGTERM; the file is removed on the way out. The key and secret are the simulator's
own sandbox values, not credentials of any real venue: never give it real ones.

Registered by :mod:`rbt_venue_sim.hooks` as the ``sandbox`` command provider, found
through this distribution's ``rbt.plugins`` entry point like any third-party plugin's.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import tempfile
from pathlib import Path
from types import FrameType
from typing import Annotated, Any

import typer

from rbt_venue_sim.testing import DEFAULT_API_KEY, DEFAULT_SECRET, VenueSim, start_venue_sim

__all__ = ["SANDBOX_FILE", "app", "read_sandbox_file", "sandbox"]

SANDBOX_FILE = "sandbox.json"

app = typer.Typer(
    name="sandbox",
    help="Run the local venue simulator for `rbt live --sandbox` until Ctrl-C.",
    add_completion=False,
    rich_markup_mode=None,
)


class _Stop(Exception):
    """SIGINT or SIGTERM: stop the simulator, remove the file, exit 0."""


@app.command()
def sandbox(
    symbols: Annotated[
        str, typer.Option("--symbols", help="Comma-separated BASE/QUOTE symbols to serve.")
    ] = "BTC/USDT,ETH/USDT",
    path: Annotated[
        Path | None,
        typer.Option(
            "--path", help="Scenario JSON: price path, liquidity, fees, accounts.", dir_okay=False
        ),
    ] = None,
    bundle: Annotated[
        str | None, typer.Option("--bundle", help="Replay the bars of this rbt bundle.")
    ] = None,
    history: Annotated[
        int | None, typer.Option("--history", help="Bars already in the past at start-up.")
    ] = None,
    balance: Annotated[
        list[str] | None,
        typer.Option(
            "--balance", help="Starting balance ASSET=AMOUNT (repeatable; default USDT=100000…)."
        ),
    ] = None,
    speed: Annotated[
        float | None,
        typer.Option(
            "--speed",
            help="Seconds between bars (default: bars advance only through POST /_sim/advance).",
        ),
    ] = None,
    maker_fee: Annotated[str | None, typer.Option("--maker-fee", help="e.g. 0.001")] = None,
    taker_fee: Annotated[str | None, typer.Option("--taker-fee", help="e.g. 0.001")] = None,
    api_key: Annotated[
        str, typer.Option("--api-key", help="Sandbox API key (never a real venue's).")
    ] = DEFAULT_API_KEY,
    secret: Annotated[
        str, typer.Option("--secret", help="Sandbox API secret (never a real venue's).")
    ] = DEFAULT_SECRET,
    home: Annotated[
        Path | None,
        typer.Option(
            "--home",
            help="RBT home directory (default: $RBT_HOME or the user data dir).",
            show_default=False,
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the sandbox.json content as one JSON line.")
    ] = False,
) -> None:
    """Run a local Binance-spot-shaped exchange on 127.0.0.1 until Ctrl-C."""
    from rbt.data.home import RbtHome
    from rbt.kernel.errors import ConfigError

    root = (RbtHome(home) if home is not None else RbtHome()).root
    if path is not None and bundle is not None:
        raise ConfigError("--path and --bundle exclude each other")
    if speed is not None and not speed > 0:
        raise ConfigError(f"--speed {speed}: expected a positive number of seconds per bar")
    target = root / SANDBOX_FILE
    _refuse_running(target)
    args = _sim_args(root, bundle, history, balance or [], speed, maker_fee, taker_fee)
    names = _symbols(symbols)
    try:
        sim = start_venue_sim(symbols=names, path=path, args=args, api_key=api_key, secret=secret)
    except RuntimeError as exc:  # the simulator refused its arguments: its last line says why
        lines = str(exc).strip().splitlines()
        where = f" (scenario file {path})" if path is not None else ""
        raise ConfigError(f"the venue simulator did not start{where}: {lines[-1]}") from None
    # Ctrl-C even when started in the background (where a shell ignores SIGINT)
    previous = {sig: signal.signal(sig, _raise_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        info = _describe(sim, names)
        _write_private_atomic(target, json.dumps(info, indent=2) + "\n")
        _announce(info, target, as_json)
        code = _wait(sim)
    except (KeyboardInterrupt, _Stop):
        code = 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        _remove_if_ours(target, sim.proc.pid)
        sim.stop()
    if code:
        tail = sim.stderr.strip().splitlines()[-5:]
        raise ConfigError(f"the venue simulator exited with code {code}: " + " | ".join(tail))
    typer.echo("sandbox stopped", err=True)


def _symbols(text: str) -> list[str]:
    from rbt.kernel.errors import ConfigError
    from rbt_venue_sim.markets import load_symbol_specs

    names = [s.strip() for s in text.split(",") if s.strip()]
    if not names:
        raise ConfigError("--symbols is empty")
    try:
        load_symbol_specs(names)
    except ValueError as exc:
        raise ConfigError(f"--symbols {text!r}: {exc}") from None
    return names


def _sim_args(
    root: Path,
    bundle: str | None,
    history: int | None,
    balances: list[str],
    speed: float | None,
    maker_fee: str | None,
    taker_fee: str | None,
) -> list[str]:
    from rbt.kernel.errors import ConfigError

    args: list[str] = []
    if bundle is not None:
        args += ["--bundle", bundle, "--home", str(root)]
    if history is not None:
        args += ["--history", str(history)]
    for item in balances:
        asset, sep, amount = item.partition("=")
        if not sep or not asset.strip() or not amount.strip():
            raise ConfigError(f"--balance {item!r}: expected ASSET=AMOUNT, e.g. USDT=10000")
        args += ["--balance", item]
    if speed is not None:
        args += ["--auto-advance", repr(speed)]
    if maker_fee is not None:
        args += ["--maker-fee", maker_fee]
    if taker_fee is not None:
        args += ["--taker-fee", taker_fee]
    return args


def _describe(sim: VenueSim, symbols: list[str]) -> dict[str, Any]:
    return {
        "rest": sim.base_url,
        "ws": sim.ws_url,
        "pid": sim.proc.pid,
        "supervisor_pid": os.getpid(),
        "api_key": sim.api_key,
        "secret": sim.secret,
        "symbols": symbols,
        "control": sim.base_url + "/_sim",
    }


def _announce(info: dict[str, Any], target: Path, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(info, sort_keys=True))
        return
    typer.echo(
        f"sandbox running (pid {info['pid']}), Ctrl-C to stop\n"
        f"  REST     {info['rest']}\n"
        f"  ws       {info['ws']}\n"
        f"  API key  {info['api_key']}   (sandbox only; its secret is in {target})\n"
        f"  symbols  {', '.join(info['symbols'])}\n"
        f"  control  {info['control']}   (POST /_sim/advance to reveal bars)\n"
        f"  trade    rbt live STRATEGY.py --broker ccxt.binance --sandbox"
    )


def _wait(sim: VenueSim) -> int:
    # returns only if the simulator dies by itself; Ctrl-C / SIGTERM raise out of wait()
    return int(sim.proc.wait())


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise _Stop


def read_sandbox_file(root: Path) -> dict[str, Any] | None:
    """The running sandbox's ``sandbox.json`` under RBT home ``root``, or ``None``."""
    try:
        doc = json.loads((root / SANDBOX_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    return doc if isinstance(doc, dict) else None


def _refuse_running(target: Path) -> None:
    from rbt.kernel.errors import ConfigError

    try:
        doc = json.loads(target.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return
    pid = doc.get("supervisor_pid") if isinstance(doc, dict) else None
    if isinstance(pid, int) and _alive(pid):
        raise ConfigError(
            f"a sandbox is already running (pid {pid}, {target}): stop it with Ctrl-C first"
        )
    # a stale file from a sandbox that was killed: it is replaced below


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _write_private_atomic(target: Path, text: str) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        os.fchmod(fd, 0o600)  # it names the sandbox secret
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _remove_if_ours(target: Path, pid: int) -> None:
    # another sandbox may have replaced a stale file meanwhile: leave that one alone
    with contextlib.suppress(FileNotFoundError, json.JSONDecodeError):
        if json.loads(target.read_text(encoding="utf-8")).get("pid") == pid:
            target.unlink()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
