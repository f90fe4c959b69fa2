"""Peers and start-up for benchmarks/run.py (imported by it; not run on its own).

Peers are ../shared/bench's scripts, each in its own virtualenv under
``$RBT_BENCH_HOME/venvs`` (created from the pinned ``requirements/*.txt`` with
``setup_venvs.sh`` when missing), run one at a time with ``run_peer.sh`` in this
same session, so their numbers and RustyBT's are taken under the same load.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SHARED = (HERE.parent / ".." / "shared" / "bench").resolve()

#: run_peer.sh engine key -> (venv, name in the tables)
PEERS = {
    "zipline": ("zipline", "zipline-reloaded"),
    "backtrader": ("backtrader", "backtrader"),
    "nautilus": ("nautilus", "nautilus_trader"),
    "reference": ("tools", "numpy reference"),
}
#: Which peers run on which scenario (issue #5: the event-driven peers once each on
#: S, M and MIN; the numpy reference on L, the vectorized limit).
PLAN = {
    "S": ("zipline", "backtrader", "nautilus"),
    "M": ("zipline", "backtrader", "nautilus"),
    "L": ("reference",),
    "MIN": ("zipline", "backtrader", "nautilus"),
}


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def ensure_venvs(bench_home: Path, keys: set[str]) -> set[str]:
    """Create missing peer venvs; return the keys whose venv is usable."""
    missing = sorted(
        {
            PEERS[k][0]
            for k in keys
            if not (bench_home / "venvs" / PEERS[k][0] / "bin/python").exists()
        }
    )
    if missing:
        _log(f"[peers] creating venvs {missing} with setup_venvs.sh (PyPI)")
        env = dict(os.environ, RBT_BENCH_HOME=str(bench_home))
        proc = subprocess.run(
            ["bash", str(SHARED / "setup_venvs.sh"), *missing], env=env, capture_output=True,
            text=True,
        )  # fmt: skip
        if proc.returncode != 0:
            _log(f"[peers] setup_venvs.sh failed:\n{proc.stderr.strip()[-2000:]}")
    return {k for k in keys if (bench_home / "venvs" / PEERS[k][0] / "bin/python").exists()}


def run_peer(bench_home: Path, key: str, sc: str) -> dict:
    """One ``run_peer.sh KEY SC`` run; its merged JSON plus ``rate`` (asset-bars/s)."""
    env = dict(os.environ, RBT_BENCH_HOME=str(bench_home))
    _log(f"[{sc}] peer {PEERS[key][1]} ...")
    t0 = time.perf_counter()
    proc = subprocess.run(
        ["bash", str(SHARED / "run_peer.sh"), key, sc], env=env, capture_output=True, text=True
    )
    wall = time.perf_counter() - t0
    path = bench_home / "data" / "peer-results" / f"{key}_{sc}.json"
    try:
        res = json.loads(path.read_text())
    except (OSError, ValueError):
        res = {"status": f"no result (exit {proc.returncode}): {proc.stderr.strip()[-300:]}"}
    res["engine"] = PEERS[key][1]
    res["key"] = key
    res["script_wall_s"] = wall
    if res.get("run_s") and res.get("asset_bars"):
        res["rate"] = res["asset_bars"] / res["run_s"]
    _log(
        f"[{sc}] peer {PEERS[key][1]}: {res.get('status')}, run {res.get('run_s')} s, "
        f"final {res.get('final_value')}, fills {res.get('fills')}"
    )
    return res


def startup_env(bench_home: Path, *, warm: bool) -> dict[str, str]:
    """The environment of a start-up probe.

    *warm*: Python's default — bytecode cached after the first import — kept under
    ``$RBT_BENCH_HOME/pycache`` so the source tree stays clean (this sandbox exports
    ``PYTHONDONTWRITEBYTECODE=1``, which would make every start compile every module).
    *cold*: no bytecode written, so every module of the project and its dependencies is
    compiled from source at every start (the interpreter's own standard library keeps
    the bytecode its installer wrote).
    """
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.pop("PYTHONPYCACHEPREFIX", None)
    if warm:
        env["PYTHONPYCACHEPREFIX"] = str(bench_home / "pycache")
    else:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def rbt_help_s(rbt: str, bench_home: Path, *, warm: bool, runs: int = 3) -> float:
    """Median wall seconds of ``rbt --help`` (interpreter start and imports included);
    a warm measurement runs it once first to fill the bytecode cache."""
    env = startup_env(bench_home, warm=warm)
    if warm:
        subprocess.run([rbt, "--help"], capture_output=True, check=True, env=env)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run([rbt, "--help"], capture_output=True, check=True, env=env)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def first_bar_s(
    rbt: str, bench_home: Path, bundle: str, start: str, end: str, *, warm: bool, runs: int = 3
) -> float | None:
    """Median wall seconds from launching ``rbt run`` to the strategy's first
    ``handle_data``; a warm measurement runs it once first to fill the bytecode cache."""
    env = startup_env(bench_home, warm=warm)
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        stamp = Path(tmp) / "stamp"
        cmd = [
            rbt, "run", str(HERE / "first_bar.py"), "--bundle", bundle,
            "--home", str(bench_home), "--start", start, "--end", end,
            "--commission", "none", "--slippage", "none", "--param", f"stamp={stamp}",
        ]  # fmt: skip
        for i in range(runs + (1 if warm else 0)):
            stamp.unlink(missing_ok=True)
            launched = time.time()
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
            if proc.returncode != 0 or not stamp.exists():
                _log(f"[start-up] rbt run failed:\n{proc.stderr.strip()[-1000:]}")
                return None
            if i or not warm:
                times.append(float(stamp.read_text()) - launched)
    return statistics.median(times)
