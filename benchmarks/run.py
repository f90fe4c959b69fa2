"""RustyBT speed benchmark: the canonical strategy of ../shared/bench/ through the public API.

    uv run python benchmarks/run.py            # scenarios S and M (what `nox -s bench` runs)
    uv run python benchmarks/run.py S M L      # L (500 assets) is optional
    uv run python benchmarks/run.py MIN        # one asset, 393,120 one-minute bars

For every scenario: generate the data if missing (../shared/bench/gen_data.py,
under $RBT_BENCH_HOME, default ~/.cache/rbt-bench), ingest its CSV directory
with the real CLI (``rbt ingest csv``), then run benchmarks/dual_ma.py through
``rbt.api.run_backtest`` in a fresh subprocess per run (3 runs, median), check
the final value and the fill count against the reference EXACTLY, and write
docs/benchmarks.md.  A cProfile of one extra M run is included in the doc.

Options: --runs K (default 3), --no-profile, --no-docs, --json FILE.
Exit status: 0 all exact, 1 a result differs from the reference, 2 usage,
3 a step failed (data generation, ingest, run).
See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import itertools
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import peers as peers_mod  # noqa: E402  (benchmarks/peers.py, next to this file)
from peers import ensure_venvs, first_bar_s, rbt_help_s, run_peer, startup_env  # noqa: E402

if TYPE_CHECKING:  # the framework is imported in the child processes only
    from rbt.data.bars import BarArrays
    from rbt.kernel.manager import RbtPluginManager

REPO = HERE.parent
SHARED = (REPO / ".." / "shared" / "bench").resolve()
STRATEGY = HERE / "dual_ma.py"
DOC = REPO / "docs" / "benchmarks.md"
BENCH_HOME = Path(os.environ.get("RBT_BENCH_HOME") or "~/.cache/rbt-bench").expanduser()
DATA = BENCH_HOME / "data"
#: every child process (ingest, runs) starts as on a user's machine: bytecode cached
WARM = startup_env(BENCH_HOME, warm=True)
CAPITAL = 1_000_000

# ../shared/bench/README.md, "Reference results", next-open column.
REFERENCE = {
    "S": (Decimal("1244168.500"), 658),
    "M": (Decimal("1460554.875"), 6822),
    "L": (Decimal("1406440.625"), 34001),
    "MIN": (Decimal("1365740.125"), 10711),
}
# content_sha256 of gen_data.py (generator version 1) output the reference was computed on.
DATA_SHA256 = {
    "S": "bb8b8428cef8953969a200aebc80ff346686c3ae58ec37c25a930821ebb275eb",
    "M": "d25d07b194f3d900364496c4c8bf59a3a7f940e7d58e5085d7b1addb0d4b812a",
}
# Peers quoted from ../shared/bench/results.md (parsed at run time; these are
# the fallback if that file is missing or its format changed).
PEERS = ("zipline-reloaded", "backtrader", "nautilus_trader")
PEER_FALLBACK = {
    "S": {"zipline-reloaded": 4.9e3, "backtrader": 11.3e3, "nautilus_trader": 15.9e3},
    "M": {"zipline-reloaded": 4.4e3, "backtrader": 11.8e3, "nautilus_trader": 16.0e3},
    "L": {"zipline-reloaded": 3.1e3, "backtrader": 10.0e3, "nautilus_trader": 15.6e3},
    "MIN": {"zipline-reloaded": 3.0e3, "backtrader": 9.6e3, "nautilus_trader": 14.5e3},
}
PROFILE_TOP = 15


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


LOAD_BEFORE = loadavg()


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def loud(msg: str) -> None:
    bar = "!" * 78
    log(f"\n{bar}\n{msg}\n{bar}\n")


def rbt_exe() -> str:
    local = Path(sys.executable).parent / "rbt"
    if local.exists():
        return str(local)
    found = shutil.which("rbt")
    if not found:
        raise SystemExit("the rbt CLI is not installed in this environment (uv sync)")
    return found


# -- data ---------------------------------------------------------------------------------------
def ensure_data(sc: str) -> dict:
    meta_path = DATA / sc / "meta.json"
    if not meta_path.exists():
        gen = SHARED / "gen_data.py"
        if not gen.exists():
            raise SystemExit(
                f"{gen} not found: the benchmark needs ../shared/bench/ next to the repo"
            )
        log(f"[{sc}] generating data with {gen} → {DATA}")
        subprocess.run([sys.executable, str(gen), sc, "--out", str(DATA)], check=True)
    meta = json.loads(meta_path.read_text())
    want = DATA_SHA256.get(sc)
    if want and meta.get("content_sha256") != want:
        raise SystemExit(
            f"[{sc}] data hash {meta.get('content_sha256')} != {want}: the reference answers "
            f"do not apply (regenerate with gen_data.py --force {sc})"
        )
    return meta


def csv_dir(sc: str, meta: dict) -> Path:
    return DATA / sc / ("minute" if meta["freq"] == "minute" else "daily")


def bundle_name(sc: str) -> str:
    return f"bench_{sc.lower()}"


def ingest(sc: str, meta: dict) -> dict:
    """``rbt ingest csv`` as a user runs it; the wall time of the CLI process is measured."""
    name = bundle_name(sc)  # re-ingested every time: replaces the previous version atomically
    cmd = [
        rbt_exe(), "ingest", "csv",
        "--path", str(csv_dir(sc, meta)),
        "--bundle", name,
        "--home", str(BENCH_HOME),
    ]  # fmt: skip
    if meta["freq"] == "minute":
        cmd += ["--frequency", "1m"]
    log(f"[{sc}] $ {' '.join(cmd)}")
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=WARM)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        return {"ok": False, "error": (proc.stderr or proc.stdout).strip()[-2000:], "cmd": cmd}
    rows = meta["asset_bars"]
    out = {"ok": True, "wall_s": wall, "rows": rows, "rows_per_s": rows / wall, "cmd": cmd}
    # The CLI's wall time is dominated by process start-up and imports on small inputs,
    # so the same ingest is also timed in-process (rbt.data.ingest.ingest, imports excluded).
    api = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--ingest-child", sc],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=WARM,
    )
    res = _result(api.stdout)
    if res is not None:
        out["api_s"] = res["ingest_s"]
        out["api_rows_per_s"] = rows / res["ingest_s"]
        out["first_load_s"] = res["first_load_s"]
    else:
        log(f"[{sc}] in-process ingest timing failed:\n{api.stderr.strip()[-2000:]}")
    return out


def ingest_child(sc: str) -> None:
    """Time ``rbt.data.ingest.ingest`` (the CLI's code path) with its imports done first."""
    import importlib

    for mod in (
        "numpy", "polars", "sqlalchemy", "alembic", "rbt.data.ingest", "rbt.data.bundles",
        "rbt.data.assets_db", "rbt.data.db", "rbt.plugins.csv_source", "rbt.plugins.calendars",
    ):  # fmt: skip
        with contextlib.suppress(ImportError):
            importlib.import_module(mod)
    from rbt.data.home import RbtHome
    from rbt.data.ingest import ingest as run_ingest
    from rbt.plugins import plugin_manager

    meta = json.loads((DATA / sc / "meta.json").read_text())
    options = {"path": str(csv_dir(sc, meta))}
    if meta["freq"] == "minute":
        options["frequency"] = "1m"
    pm = plugin_manager()
    home, name = RbtHome(BENCH_HOME), bundle_name(sc)
    t0 = time.perf_counter()
    run_ingest(home, "csv", name, options, manager=pm)
    ingest_s = time.perf_counter() - t0
    # The first load after an ingest decodes the bar files and writes the array cache
    # (rbt.data.array_cache) that every timed run then maps: timed here, on its own.
    from rbt.data.bundles import array_cache_file, load_bundle

    array_cache_file(home, name).unlink(missing_ok=True)
    t0 = time.perf_counter()
    load_bundle(home, name)
    first_load_s = time.perf_counter() - t0
    print("RESULT " + json.dumps({"ingest_s": ingest_s, "first_load_s": first_load_s}), flush=True)


# -- one run, in a fresh interpreter -------------------------------------------------------------
def run_kwargs(
    sc: str, meta: dict[str, Any], manager: RbtPluginManager, bars: BarArrays | None = None
) -> dict[str, Any]:
    """``run_backtest``'s arguments for scenario ``sc`` (``meta``: its meta.json): the
    benchmark's bundle, dates, capital and zero-cost next-open fills."""
    params = {"n_assets": meta["n_assets"], "prefix": meta["symbols"][0].rstrip("0123456789")}
    if meta["freq"] == "minute":
        params["frequency"] = "1m"
    return {
        "start": meta["first"][:10],
        "end": meta["last"][:10],
        "capital_base": CAPITAL,
        "bundle": bundle_name(sc),
        "bars": bars,
        "home": BENCH_HOME,
        "params": params,
        "commission": "none",
        "slippage": "none",
        "fill_timing": "next_open",
        "write": False,
        "manager": manager,
    }


def child(args: argparse.Namespace) -> None:
    """Run the strategy once and print ``RESULT {json}``; only run_backtest is timed."""
    import importlib
    import resource

    import rbt.api
    from rbt.plugins import plugin_manager

    # Imports are not engine time: load what run_backtest imports lazily before the clock
    # starts. pandas only for the strategy that asks for pandas frames: the others never
    # import it, and its 70 MB would count in their peak RSS.
    lazy = ["pandas"] if args.strategy.startswith("dual_ma_pandas") else []
    for mod in (
        "numpy", "polars", *lazy, "pyarrow", "platformdirs", "rbt.api.loader",
        "rbt.api.actions", "rbt.api.indicators", "rbt.data.bundles", "rbt.plugins.calendars",
        "rbt.plugins.metrics", "rbt.analytics.metrics", "rbt.analytics.benchmark",
        "rbt.analytics.trades", "rbt.runs.recording",
    ):  # fmt: skip
        with contextlib.suppress(ImportError):
            importlib.import_module(mod)

    meta = json.loads((DATA / args.child / "meta.json").read_text())
    strategy = HERE / f"{args.strategy}.py"
    t0 = time.perf_counter()
    pm = plugin_manager()  # plugin discovery: process setup, like the imports
    setup_s = time.perf_counter() - t0
    bars = None
    if args.fallback:
        bars = fallback_bars(args.child, meta)
    kwargs = run_kwargs(args.child, meta, pm, bars)
    before = {name.partition(".")[0] for name in sys.modules}
    if args.profile:
        import cProfile

        prof = cProfile.Profile()
        cpu_s = None
        t0 = time.perf_counter()
        prof.enable()
        result = rbt.api.run_backtest(str(strategy), **kwargs)
        prof.disable()
        run_s = time.perf_counter() - t0
        prof.dump_stats(args.profile)
    else:
        c0 = resource.getrusage(resource.RUSAGE_SELF)
        t0 = time.perf_counter()
        result = rbt.api.run_backtest(str(strategy), **kwargs)
        run_s = time.perf_counter() - t0
        c1 = resource.getrusage(resource.RUSAGE_SELF)
        cpu_s = (c1.ru_utime + c1.ru_stime) - (c0.ru_utime + c0.ru_stime)
    tx = result.transactions
    fills = len(tx)
    try:
        entries = int((tx["amount"].cast(float) > 0).sum())
    except Exception:  # column name/type is not part of the contract checked here
        entries = None
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    out = {
        "scenario": args.child,
        "strategy": args.strategy,
        "run_s": run_s,
        "cpu_s": cpu_s,
        "setup_s": setup_s,
        "final_value": str(result.final_value),
        "fills": fills,
        "entries": entries,
        "peak_rss_mb": rss_mb,
        "fallback": bool(args.fallback),
        # packages first imported inside the timed call (their import time counts there)
        "imported_in_run": sorted(
            n
            for n in {m.partition(".")[0] for m in sys.modules} - before
            if not n.startswith("rbt_strategy_")  # the strategy file itself
        ),
    }
    print("RESULT " + json.dumps(out), flush=True)


def fallback_bars(sc: str, meta: dict):
    """LAST RESORT when ``rbt ingest csv`` does not work: arrays built in memory."""
    import polars as pl

    from rbt.data.bars import bars_from_floats
    from rbt.kernel.model import Asset

    df = pl.read_parquet(DATA / sc / "bars.parquet")
    n, d = meta["n_assets"], meta["n_bars"]
    assets = [
        Asset(sid=i, symbol=s, tick_size="0.125", price_scale=3)
        for i, s in enumerate(meta["symbols"])
    ]
    fields = {
        f: df[f].to_numpy().astype(float).reshape(d, n)
        for f in ("open", "high", "low", "close", "volume")
    }
    sessions = df["date"].unique(maintain_order=True).to_numpy().astype("datetime64[D]")
    return bars_from_floats(assets, sessions, fields, price_scale=3)


def _result(stdout: str) -> dict | None:
    """The ``RESULT {json}`` line a child process printed (None without one)."""
    for line in stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    return None


def run_once(
    sc: str, fallback: bool, profile: str | None = None, strategy: str = "dual_ma"
) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", sc, "--strategy", strategy]
    if fallback:
        cmd.append("--fallback")
    if profile:
        cmd += ["--profile", profile]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=WARM)
    res = _result(proc.stdout)
    if res is not None:
        return res
    raise RuntimeError(
        f"[{sc}] run failed (exit {proc.returncode}):\n{proc.stderr.strip()[-4000:]}"
    )


# -- variants and start-up ------------------------------------------------------------------------
def run_variants(sc: str, fallback: bool, row: dict, runs: int) -> bool:
    """The precomputed-indicator idiom and, on M, the pandas-history guard and the pandas
    arithmetic variant, ``runs`` times each (the guard is a ratio of medians: one run of
    either side is too noisy for it).

    Adds ``row["indicator"]`` / ``row["pandas"]`` / ``row["pandas_ops"]``; returns False
    when a variant is not exact.
    """
    ok = True
    want_value, want_fills = REFERENCE[sc]
    variants = [("indicator", "dual_ma_indicator", runs)]
    if sc == "M":
        variants.append(("pandas", "dual_ma_pandas", runs))
        variants.append(("pandas_ops", "dual_ma_pandas_ops", runs))
    for key, strategy, count in variants:
        results = []
        for _ in range(count):
            try:
                results.append(run_once(sc, fallback, strategy=strategy))
            except RuntimeError as exc:
                log(str(exc))
                return False
        exact = all(
            Decimal(r["final_value"]) == want_value and r["fills"] == want_fills for r in results
        )
        if not exact:
            got = [(r["final_value"], r["fills"]) for r in results]
            loud(f"[{sc}] {strategy} NOT EXACT: {got}")
            ok = False
        med = statistics.median(r["run_s"] for r in results)
        cpu = statistics.median(r["cpu_s"] for r in results)
        row[key] = {
            "strategy": strategy,
            "median_s": med,
            "median_cpu_s": cpu,
            "rate": row["asset_bars"] / med,
            "cpu_rate": row["asset_bars"] / cpu,
            "rss_mb": max(r["peak_rss_mb"] for r in results),
            "exact": exact,
            "runs": count,
        }
        log(f"[{sc}] {strategy}: {med:.3f} s (CPU {cpu:.3f} s), exact={exact}")
    if "pandas_ops" in row:
        row["pandas_ops"]["user_code"] = free_engine(sc)
    return ok


def free_engine(sc: str) -> dict | None:
    """``benchmarks/free_engine.py``'s CPU seconds of each idiom's own code on ``sc`` and
    the floors the pandas guard puts on the numpy variant (None when it fails: the bound it
    gives is a note, not a target)."""
    script = str(Path(__file__).resolve().parent / "free_engine.py")
    cmd = [sys.executable, script, sc, "--json"]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=WARM, timeout=900)
    except subprocess.TimeoutExpired:
        log(f"[{sc}] free_engine.py took over 15 minutes; no bound written")
        return None
    res = _result(proc.stdout)
    if res is not None:
        return res
    log(f"[{sc}] free_engine.py failed (exit {proc.returncode}): {proc.stderr.strip()[-2000:]}")
    return None


def measure_startup(rows: list[dict]) -> dict:
    """``rbt --help`` and the time to the first bar of ``rbt run`` (on M when it ran)."""
    exe = rbt_exe()
    out: dict = {
        "help_s": rbt_help_s(exe, BENCH_HOME, warm=True),
        "help_cold_s": rbt_help_s(exe, BENCH_HOME, warm=False),
    }
    sc = "M" if any(r["scenario"] == "M" for r in rows) else rows[0]["scenario"]
    meta = json.loads((DATA / sc / "meta.json").read_text())
    out["first_bar_scenario"] = sc
    span = (bundle_name(sc), meta["first"][:10], meta["last"][:10])
    out["first_bar_s"] = first_bar_s(exe, BENCH_HOME, *span, warm=True)
    out["first_bar_cold_s"] = first_bar_s(exe, BENCH_HOME, *span, warm=False, runs=1)
    log(
        f"start-up: rbt --help {out['help_s']:.3f} s (cold {out['help_cold_s']:.3f} s); "
        f"first bar ({sc}) {out['first_bar_s']} s (cold {out['first_bar_cold_s']} s)"
    )
    return out


# -- profile -------------------------------------------------------------------------------------
def profile_top(path: str, n: int = PROFILE_TOP, key: str = "tottime") -> str:
    """The top ``n`` rows of a pstats listing sorted by ``key``."""
    import io
    import pstats

    buf = io.StringIO()
    pstats.Stats(path, stream=buf).strip_dirs().sort_stats(key).print_stats(n)
    lines = buf.getvalue().splitlines()
    start = next((i for i, line in enumerate(lines) if line.lstrip().startswith("ncalls")), 0)
    return "\n".join(lines[start : start + n + 1])


# -- peers ---------------------------------------------------------------------------------------
def parse_rate(text: str) -> float | None:
    m = re.fullmatch(r"\s*([\d.]+)\s*([kM]?)\s*", text)
    if not m:
        return None
    return float(m.group(1)) * {"": 1, "k": 1e3, "M": 1e6}[m.group(2)]


def peer_numbers() -> tuple[dict, str]:
    """{scenario: {engine: asset-bars/s}} from ../shared/bench/results.md."""
    path = SHARED / "results.md"
    try:
        text = path.read_text()
    except OSError:
        return PEER_FALLBACK, "built-in copy (results.md not found)"
    out: dict[str, dict[str, float]] = {}
    sc = None
    cols: list[str] = []
    for line in text.splitlines():
        h = re.match(r"## Scenario (\w+):", line)
        if h:
            sc, cols = h.group(1), []
            continue
        if sc and line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if cells and cells[0] == "engine":
                cols = cells
            elif cols and cells[0] in PEERS and "asset-bars/s" in cols:
                rate = parse_rate(cells[cols.index("asset-bars/s")])
                if rate:
                    out.setdefault(sc, {})[cells[0]] = rate
    measured = re.search(r"Measured:\s*(.+)", text)
    when = measured.group(1).strip() if measured else "?"
    box = re.search(r"Machine:\s*(.+)", text)
    where = box.group(1).strip() if box else "?"
    if not out:
        return PEER_FALLBACK, "built-in copy (results.md not parseable)"
    return out, f"`../shared/bench/results.md` (measured {when}; machine: {where})"


# -- machine -------------------------------------------------------------------------------------
def machine() -> dict:
    info: dict[str, str] = {"cores": str(os.cpu_count())}
    try:
        cpu = Path("/proc/cpuinfo").read_text()
        m = re.search(r"^model name\s*:\s*(.+)$", cpu, re.M)
        info["cpu"] = m.group(1).strip() if m else platform.processor() or "?"
    except OSError:
        info["cpu"] = platform.processor() or "?"
    try:
        mem = Path("/proc/meminfo").read_text()
        m = re.search(r"^MemTotal:\s*(\d+) kB", mem, re.M)
        info["ram"] = f"{int(m.group(1)) / 1024**2:.1f} GiB" if m else "?"
    except OSError:
        info["ram"] = "?"
    info["os"] = f"{platform.system()} {platform.release()} {platform.machine()}"
    info["python"] = platform.python_version()
    from importlib.metadata import PackageNotFoundError, version

    for dist in ("numpy", "polars", "rustybt-framework", "rbt-kernel"):
        try:
            info[dist] = version(dist)
        except PackageNotFoundError:
            info[dist] = "?"
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "kernel", "plugins"],
            cwd=REPO,
            capture_output=True,
            text=True,
        ).stdout.strip()
        info["commit"] = rev + (" + uncommitted changes in kernel/ or plugins/" if dirty else "")
    except OSError:
        info["commit"] = "?"
    return info


# -- report --------------------------------------------------------------------------------------
def fmt_rate(x: float) -> str:
    if x >= 1e6:
        return f"{x / 1e6:.2f} M"
    if x >= 1e3:
        return f"{x / 1e3:.1f} k"
    return f"{x:.0f}"


def ingest_cell(r: dict) -> str:
    """``CLI rows/s (in-process rows/s)``."""
    if not r.get("ingest_rows_per_s"):
        return "n/a"
    cell = fmt_rate(r["ingest_rows_per_s"])
    if r.get("ingest_api_rows_per_s"):
        cell += f" ({fmt_rate(r['ingest_api_rows_per_s'])})"
    return cell


def print_table(rows: list[dict]) -> None:
    head = (
        f"{'sc':<4}{'N':>5}{'D':>8}{'asset-bars':>12}{'median s':>10}{'asset-bars/s':>14}"
        f"{'ingest rows/s':>19}{'RSS MB':>8}{'final value':>16}{'fills':>7}  exact"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        ing = ingest_cell(r)
        print(
            f"{r['scenario']:<4}{r['n']:>5}{r['d']:>8}{r['asset_bars']:>12,}{r['median_s']:>10.3f}"
            f"{fmt_rate(r['rate']):>14}{ing:>19}{r['rss_mb']:>8.0f}"
            f"{r['final_value']:>16}{r['fills']:>7}  {'✓' if r['exact'] else '✗'}"
        )


#: docs/benchmarks.md keeps everything after this line when it is regenerated (sections
#: other issues append by hand, and the profile taken before issue #5).
KEEP_MARKER = "<!-- sections below are kept when benchmarks/run.py rewrites this file -->"

#: issue #5's targets: (label, scenario, key, bound, higher is better)
TARGETS = (
    ("M asset-bars/s (history idiom)", "M", "rate", 1e6),
    ("L asset-bars/s (history idiom)", "L", "rate", 2e6),
    ("MIN bars/s, history idiom", "MIN", "rate", 1e5),
    ("MIN bars/s, precomputed-indicator idiom", "MIN", "indicator_rate", 1.5e5),
)


def _kept_sections() -> str:
    try:
        text = DOC.read_text()
    except OSError:
        return ""
    if KEEP_MARKER in text:
        return text[text.index(KEEP_MARKER) + len(KEEP_MARKER) :].strip("\n")
    if "\n## Sweeps" in text:  # written before the marker existed
        return text[text.index("\n## Sweeps") + 1 :].strip("\n")
    return ""


def _targets(rows: list[dict], startup: dict | None) -> list[tuple[str, str, str, bool | None]]:
    """(target, required, measured, met) for each of issue #5's targets that was measured."""
    by = {r["scenario"]: r for r in rows}
    out: list[tuple[str, str, str, bool | None]] = []
    for label, sc, key, bound in TARGETS:
        r = by.get(sc)
        if r is None:
            continue
        value = r["rate"] if key == "rate" else (r.get("indicator") or {}).get("rate")
        if value is None:
            continue
        cpu = r["asset_bars"] / r["median_cpu_s"] if key == "rate" else r["indicator"]["cpu_rate"]
        measured = f"{fmt_rate(value)} (per CPU-s {fmt_rate(cpu)})"
        out.append((label, f"≥ {fmt_rate(bound)}", measured, value >= bound))
    m = by.get("M")
    if m:
        for peer, bound in (("zipline-reloaded", 200), ("nautilus_trader", 60)):
            p = next((x for x in m.get("peers", []) if x["engine"] == peer and x.get("rate")), None)
            if p:
                ratio = m["rate"] / p["rate"]
                out.append((f"M: RustyBT / {peer}, same run", f"≥ {bound}×", f"{ratio:.1f}×",
                            ratio >= bound))  # fmt: skip
        if m.get("pandas"):
            ratio = m["pandas"]["median_s"] / m["median_s"]
            out.append(("M: pandas data.history time / numpy", "≤ 3×", f"{ratio:.2f}×",
                        ratio <= 3))  # fmt: skip
    big = by.get("L")
    if big:
        out.append(("L whole-process peak RSS", "≤ 400 MB", f"{big['rss_mb']:.0f} MB",
                    big["rss_mb"] <= 400))  # fmt: skip
        if big.get("ingest_rows_per_s"):
            rate = big["ingest_rows_per_s"]
            api = fmt_rate(big.get("ingest_api_rows_per_s") or 0)
            out.append(("ingest rows/s (`rbt ingest csv`, L's 500 CSVs, wall)", "≥ 1 M",
                        f"{fmt_rate(rate)} (in-process {api})", rate >= 1e6))  # fmt: skip
    chain = [by[s] for s in ("S", "M", "L") if s in by]
    for a, b in itertools.pairwise(chain):
        growth = (b["median_cpu_s"] / a["median_cpu_s"]) / (b["asset_bars"] / a["asset_bars"])
        out.append((f"scaling {a['scenario']} → {b['scenario']}: CPU-time growth / "
                    "asset-bar growth", "≤ 1.3", f"{growth:.2f}", growth <= 1.3))  # fmt: skip
    if startup:
        out.append(("`rbt --help` wall", "< 0.3 s", f"{startup['help_s']:.3f} s",
                    startup["help_s"] < 0.3))  # fmt: skip
        fb = startup.get("first_bar_s")
        out.append((f"`rbt run` launch → first bar ({startup['first_bar_scenario']})", "< 1 s",
                    "failed" if fb is None else f"{fb:.3f} s",
                    None if fb is None else fb < 1.0))  # fmt: skip
    return out


def _pandas_arithmetic_note(rows: list[dict]) -> str | None:
    """The paragraph on the pandas arithmetic variant (not a target), from the same run's
    ``benchmarks/free_engine.py M``: how fast the numpy variant may get before pandas' own
    reductions alone put that variant above 3x of it, whatever the engine."""
    m = next((r for r in rows if r["scenario"] == "M"), None)
    code = ((m or {}).get("pandas_ops") or {}).get("user_code")
    floor = (code or {}).get("floors", {}).get("pandas")
    if m is None or not code or not floor or floor <= 0:
        return None
    seconds, cells = code["seconds"], code["asset_bars"]
    ops = m["pandas_ops"]["median_s"] / m["median_s"]
    skipna = code["floors"].get("pandas, skipna=False") or 0
    cheapest = f"; {fmt_rate(cells / skipna)} with `skipna=False`" if skipna > 0 else ""
    return (
        "**pandas arithmetic on top (not a target).** `dual_ma_pandas_ops.py` does the same sums "
        f"as DataFrame reductions: {ops:.2f}× the numpy variant's time in this run. With the "
        "engine free (`benchmarks/free_engine.py M`) its own code takes "
        f"{seconds['pandas']:.3f} CPU s on M against the numpy variant's "
        f"{seconds['history']:.3f} s, so it stays within 3× only while the numpy variant takes "
        f"≥ {floor:.3f} s (≤ {fmt_rate(cells / floor)} asset-bars/s{cheapest}): pandas' own "
        "cost per reduction, which no engine changes. The guard above measures the "
        "pandas-returning `data.history` itself (`dual_ma_pandas.py`: the DataFrame, then "
        "`.to_numpy()`)."
    )


def _ratio(x: float) -> str:
    return f"{x:.1f}" if x >= 1 else f"{x:.2g}"


def _peer_row(r: dict, p: dict) -> str:
    """One markdown row of the same-run peer table."""

    def num(key: str, fmt: str) -> str:
        value = p.get(key)
        return "–" if value is None else format(value, fmt)

    rate = p.get("rate")
    final = p.get("final_value")
    cells = [
        r["scenario"],
        p["engine"],
        num("run_s", ".3f"),
        fmt_rate(rate) if rate else "–",
        _ratio(r["rate"] / rate) if rate else "–",
        num("process_wall_s", ".1f"),
        num("user_s", ".1f"),
        num("peak_rss_mb", ".0f"),
        "–" if final is None else f"{float(final):,.3f}",
        num("fills", ","),
        str(p.get("status", "?")),
    ]
    return "| " + " | ".join(cells) + " |"


def write_doc(
    rows: list[dict], mach: dict, profile: dict | None, runs: int, startup: dict | None = None
) -> None:
    peers, peer_src = peer_numbers()
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    scs = " ".join(r["scenario"] for r in rows)
    fallback = any(r["fallback"] for r in rows)
    same_run = any(r.get("peers") for r in rows)
    L: list[str] = []
    a = L.append
    a("# Benchmarks")
    a("")
    a(
        "Generated by `benchmarks/run.py` — do not edit by hand above the marker near the "
        "end; rerun it. Every issue records its effect on these numbers (see "
        "`benchmarks/README.md`)."
    )
    a("")
    if fallback:
        a(
            "> **WARNING: `rbt ingest csv` did not work when these numbers were taken; the "
            "bars were built in memory with `rbt.data.bars.bars_from_floats` instead of "
            "being loaded from an ingested bundle.  Bundle opening is therefore NOT "
            "included and ingest rows/s is missing.**"
        )
        a("")
    a("## Reproduce")
    a("")
    a("```sh")
    a("nox -s bench                    # = benchmarks/run.py S M L MIN --peers  (~20 min here)")
    a(f"uv run python benchmarks/run.py {scs}{' --peers' if same_run else ''}")
    a("```")
    a("")
    a(
        "Data: `../shared/bench/gen_data.py` (generated if missing) under `$RBT_BENCH_HOME` "
        "(default `~/.cache/rbt-bench`); bundles `bench_<sc>` are ingested into that same "
        "directory as RBT home. Peers run from `../shared/bench/run_peer.sh` in their own "
        "venvs under `$RBT_BENCH_HOME/venvs` (pinned `requirements/*.txt`)."
    )
    a("")
    a("## Machine")
    a("")
    a(f"- date: {now}")
    a(f"- CPU: {mach['cpu']}, {mach['cores']} cores; RAM {mach['ram']}; {mach['os']}")
    a(
        f"- Python {mach['python']}, numpy {mach['numpy']}, polars {mach['polars']}, "
        f"rustybt-framework {mach['rustybt-framework']} (kernel {mach['rbt-kernel']})"
    )
    a(f"- repo: {mach['commit']}")
    a(
        f"- load average before / after: {LOAD_BEFORE} / {loadavg()} (the machine is shared: "
        "compare CPU-seconds and same-run ratios, which survive other load better than "
        "wall time)"
    )
    a("")
    targets = _targets(rows, startup)
    if targets:
        a("## Targets (issue #5)")
        a("")
        a("| target | required | measured | met |")
        a("|---|--:|--:|:-:|")
        for label, need, got, met in targets:
            a(f"| {label} | {need} | {got} | {'–' if met is None else '✓' if met else '✗'} |")
        a("")
        note = _pandas_arithmetic_note(rows)
        if note:
            a(note)
            a("")
    a("## Results (canonical strategy, next-open fills, zero costs)")
    a("")
    a(
        f"Median of {runs} runs, each in a fresh process. **engine s** = `time.perf_counter()` "
        'around `rbt.api.run_backtest("benchmarks/dual_ma.py", bundle=..., write=False)` '
        "only: bundle opening, strategy loading, the event loop and the result frames are "
        "inside; interpreter start, imports and plugin discovery are not. "
        "**asset-bars/s** = N·D / engine s; **asset-bars/CPU-s** = N·D / median CPU s "
        "of the same call (use it when the load average above shows a busy machine). "
        "**ingest rows/s** = rows / wall time of the "
        "`rbt ingest csv` process (CLI start-up and imports included, which dominate on "
        "small inputs); in parentheses, the same ingest timed in-process around "
        "`rbt.data.ingest.ingest(...)` with imports done first (CSV parsing, validation, "
        "Parquet bundle, asset database). **peak RSS** = "
        "`getrusage(RUSAGE_SELF).ru_maxrss` of the whole run process. **exact** = final "
        "value and fill count equal the reference (`../shared/bench/README.md`) to the last "
        "digit. The timed runs open the bundle from its array cache (`rbt.data.array_cache`), "
        "which the first load after an ingest writes; that first load is timed on its own "
        "(right after the in-process ingest, so the bundle's files are in the OS file cache; "
        "the cache file is not synced, the OS writes it back later): "
        + (
            ", ".join(
                f"{r['scenario']} {r['first_load_s']:.3f} s" for r in rows if r.get("first_load_s")
            )
            or "not measured"
        )
        + "."
    )
    a("")
    a(
        "| scenario | N | D | asset-bars | median engine s | asset-bars/s | asset-bars/CPU-s | "
        "ingest rows/s CLI (in-process) | "
        "peak RSS MB | final value | fills | exact |"
    )
    a("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|:-:|")
    for r in rows:
        ing = ingest_cell(r)
        a(
            f"| {r['scenario']} | {r['n']} | {r['d']:,} | {r['asset_bars']:,} | "
            f"{r['median_s']:.3f} | **{fmt_rate(r['rate'])}** | "
            f"{fmt_rate(r['asset_bars'] / r['median_cpu_s'])} | {ing} | {r['rss_mb']:.0f} | "
            f"{Decimal(r['final_value']):,.3f} | {r['fills']:,} | {'✓' if r['exact'] else '✗'} |"
        )
    a("")
    a(
        "Engine CPU s, median: "
        + "; ".join(f"{r['scenario']} {r['median_cpu_s']:.3f}" for r in rows)
        + ". All runs (engine s): "
        + "; ".join(f"{r['scenario']} " + ", ".join(f"{s:.3f}" for s in r["all_s"]) for r in rows)
        + "."
    )
    a("")
    variants = [r for r in rows if r.get("indicator") or r.get("pandas")]
    if variants:
        a("### Variants: precomputed indicators, pandas history")
        a("")
        a(
            "**indicator idiom**: `benchmarks/dual_ma_indicator.py` — the same strategy with "
            "both averages computed once in `initialize` by `rbt.api.indicators.indicator` "
            "(backtesting.py's `I()`), each bar reading its row. **pandas history**: "
            "`benchmarks/dual_ma_pandas.py` — `data.history(...)` returning a DataFrame "
            '(Zipline\'s shape) instead of `frame="numpy"`, its values summed as numpy '
            "arrays; guard: within 3× of the numpy variant on M. **pandas history + "
            "DataFrame sums**: `benchmarks/dual_ma_pandas_ops.py` — the same sums as pandas "
            "reductions (reported, not a target). Same timing rules; all must be exact too."
        )
        a("")
        a("| scenario | variant | runs | median engine s | asset-bars/s | asset-bars/CPU-s | "
          "vs history idiom (time) | peak RSS MB | exact |")  # fmt: skip
        a("|---|---|--:|--:|--:|--:|--:|--:|:-:|")
        for r in variants:
            for key, label in (
                ("indicator", "indicator idiom"),
                ("pandas", "pandas history"),
                ("pandas_ops", "pandas history + DataFrame sums"),
            ):
                v = r.get(key)
                if not v:
                    continue
                a(
                    f"| {r['scenario']} | {label} | {v['runs']} | {v['median_s']:.3f} | "
                    f"**{fmt_rate(v['rate'])}** | {fmt_rate(v['cpu_rate'])} | "
                    f"{v['median_s'] / r['median_s']:.2f}× | {v['rss_mb']:.0f} | "
                    f"{'✓' if v['exact'] else '✗'} |"
                )
        a("")
    if startup:
        a("### Start-up")
        a("")
        fb = startup.get("first_bar_s")
        cold = startup.get("first_bar_cold_s")
        a(
            f"`rbt --help`: {startup['help_s']:.3f} s wall (median of 3, interpreter start "
            f"included). `rbt run benchmarks/first_bar.py` on {startup['first_bar_scenario']}: "
            + ("failed" if fb is None else f"{fb:.3f} s")
            + " from launching the process to the strategy's first `handle_data` "
            "(interpreter, imports, plugin discovery, bundle opening, strategy loading). "
            "Both are **warm**, as on any Python after a first run: bytecode cached (under "
            "`$RBT_BENCH_HOME/pycache`, because this sandbox exports "
            "`PYTHONDONTWRITEBYTECODE=1`). **Cold**, every module compiled from source "
            f"on every start: `rbt --help` {startup['help_cold_s']:.3f} s, first bar "
            + ("failed" if cold is None else f"{cold:.3f} s")
            + "."
        )
        a("")
    if same_run:
        a("## Peers, measured in this run")
        a("")
        a(
            "Each peer ran once per scenario, right after RustyBT's runs of that scenario, "
            "with `../shared/bench/run_peer.sh` (its own venv, `/usr/bin/time -v`). **run s** "
            "is the peer script's own timer around its backtest call (what it includes "
            'differs per engine: ../shared/bench/README.md, "What is measured"); **process '
            "wall / user s** and **peak RSS** are the whole peer process. **RustyBT ×** = "
            "RustyBT's median asset-bars/s (history idiom) / the peer's; ratios taken in the "
            "same run survive the machine's load better than absolute rates."
        )
        a("")
        a("| scenario | engine | run s | asset-bars/s | RustyBT × | process wall s | "
          "process user s | peak RSS MB | final value | fills | status |")  # fmt: skip
        a("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|---|")
        for r in rows:
            a(
                f"| {r['scenario']} | **RustyBT** | {r['median_s']:.3f} | {fmt_rate(r['rate'])} "
                f"| 1 | – | {r['median_cpu_s']:.2f} (engine CPU) | {r['rss_mb']:.0f} | "
                f"{Decimal(r['final_value']):,.3f} | {r['fills']:,} | exact |"
            )
            for p in r.get("peers", []):
                a(_peer_row(r, p))
        a("")
        a(
            "Final values: zipline-reloaded reproduces the reference exactly; backtrader "
            "refuses orders on cash in S and MIN; nautilus_trader fills at the same bar's "
            "close (its reference is the `--fill close` column). See "
            '../shared/bench/README.md, "Engines".'
        )
        a("")
    else:
        a("## Peers")
        a("")
        a(
            f"Quoted from {peer_src}: the same strategy and data, **measured in a separate "
            "run on the same machine kind, not in this run** (run with `--peers` for the "
            "same-run comparison). Peer run s covers different work per engine (see that "
            'README, "What is measured").'
        )
        a("")
        a("| scenario | RustyBT asset-bars/s | " + " | ".join(PEERS) + " |")
        a("|---|--:|" + "--:|" * len(PEERS))
        for r in rows:
            cells = []
            for p in PEERS:
                v = peers.get(r["scenario"], {}).get(p)
                cells.append(f"{fmt_rate(v)} (RustyBT ×{r['rate'] / v:.1f})" if v else "–")
            a(f"| {r['scenario']} | {fmt_rate(r['rate'])} | " + " | ".join(cells) + " |")
        a("")
    if profile:
        a(f"## Profile: scenario {profile['scenario']} (where the time goes now)")
        a("")
        a(
            f"One extra run under cProfile (not in the table; profiling slows it to "
            f"{profile['run_s']:.2f} s vs {profile['plain_s']:.2f} s). Top {PROFILE_TOP} "
            "functions by own time (tottime); later issues compare against this list."
        )
        a("")
        a("```text")
        a(profile["table"])
        a("```")
        a("")
        a(f"The same run, top {PROFILE_TOP} by cumulative time (call-tree view):")
        a("")
        a("```text")
        a(profile["cumulative"])
        a("```")
        a("")
    a(KEEP_MARKER)
    a("")
    kept = _kept_sections()
    if kept:
        a(kept)
    text = "\n".join(L).rstrip() + "\n"
    DOC.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".benchmarks.", suffix=".md", dir=DOC.parent)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, DOC)
    log(f"wrote {DOC}")


# -- main ----------------------------------------------------------------------------------------
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("scenarios", nargs="*", default=["S", "M"], help="S M L MIN (default: S M)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--no-profile", action="store_true")
    ap.add_argument("--no-docs", action="store_true")
    ap.add_argument("--json", type=Path, help="also write the rows as JSON here")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--ingest-child", help=argparse.SUPPRESS)
    ap.add_argument("--profile", help=argparse.SUPPRESS)
    ap.add_argument("--strategy", default="dual_ma", help=argparse.SUPPRESS)
    ap.add_argument(
        "--peers",
        action="store_true",
        help="also run zipline-reloaded, backtrader and nautilus_trader (S, M, MIN) and the "
        "numpy reference (L) in this session, from ../shared/bench (venvs under "
        "$RBT_BENCH_HOME/venvs; created with setup_venvs.sh when missing)",
    )
    ap.add_argument(
        "--no-variants",
        action="store_true",
        help="skip the precomputed-indicator variant, the pandas-history guard and start-up",
    )
    ap.add_argument("--fallback", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args)
        return 0
    if args.ingest_child:
        ingest_child(args.ingest_child)
        return 0
    scs = [s.upper() for s in args.scenarios]
    bad = [s for s in scs if s not in REFERENCE]
    if bad:
        log(f"unknown scenario(s) {bad}; choose from {', '.join(REFERENCE)}")
        return 2
    rows: list[dict] = []
    failed = False
    profile = None
    for sc in scs:
        meta = ensure_data(sc)
        ing = ingest(sc, meta)
        fallback = False
        if not ing["ok"]:
            if meta["freq"] == "minute":
                log(f"[{sc}] minute ingest not supported yet:\n{ing['error']}")
                failed = True
                continue
            loud(
                f"[{sc}] `rbt ingest csv` FAILED — falling back to in-memory arrays "
                f"(rbt.data.bars.bars_from_floats); bundle opening NOT measured.\n{ing['error']}"
            )
            fallback = True
        else:
            log(
                f"[{sc}] ingest: {ing['rows']:,} rows in {ing['wall_s']:.2f} s "
                f"= {fmt_rate(ing['rows_per_s'])} rows/s (CLI process); in-process "
                f"{ing.get('api_s', float('nan')):.2f} s = "
                f"{fmt_rate(ing.get('api_rows_per_s') or 0)} rows/s; first load (decode, "
                f"write the array cache) {ing.get('first_load_s', float('nan')):.3f} s"
            )
        results = []
        for k in range(args.runs):
            try:
                res = run_once(sc, fallback)
            except RuntimeError as exc:
                log(str(exc))
                failed = True
                break
            log(
                f"[{sc}] run {k + 1}/{args.runs}: {res['run_s']:.3f} s, final "
                f"{res['final_value']}, {res['fills']} fills, RSS {res['peak_rss_mb']:.0f} MB"
            )
            results.append(res)
        if len(results) < args.runs:
            continue
        want_value, want_fills = REFERENCE[sc]
        finals = {Decimal(r["final_value"]) for r in results}
        fills = {r["fills"] for r in results}
        exact = finals == {want_value} and fills == {want_fills}
        if not exact:
            loud(
                f"[{sc}] NOT EXACT: final value(s) {sorted(finals)} / fills {sorted(fills)}; "
                f"the reference is {want_value} / {want_fills}"
            )
            failed = True
        times = [r["run_s"] for r in results]
        med = statistics.median(times)
        rows.append(
            {
                "scenario": sc,
                "n": meta["n_assets"],
                "d": meta["n_bars"],
                "asset_bars": meta["asset_bars"],
                "median_s": med,
                "all_s": times,
                "median_cpu_s": statistics.median(r["cpu_s"] for r in results),
                "rate": meta["asset_bars"] / med,
                "ingest_rows_per_s": ing.get("rows_per_s"),
                "ingest_s": ing.get("wall_s"),
                "ingest_api_s": ing.get("api_s"),
                "ingest_api_rows_per_s": ing.get("api_rows_per_s"),
                "first_load_s": ing.get("first_load_s"),
                "rss_mb": max(r["peak_rss_mb"] for r in results),
                "final_value": results[0]["final_value"],
                "fills": results[0]["fills"],
                "exact": exact,
                "fallback": fallback,
                "imported_in_run": sorted({m for r in results for m in r["imported_in_run"]}),
            }
        )
        row = rows[-1]
        if row["imported_in_run"]:
            log(f"[{sc}] first imported inside the timed call: {row['imported_in_run']}")
        if not args.no_variants:
            failed |= not run_variants(sc, fallback, row, args.runs)
        if args.peers:
            keys = ensure_venvs(BENCH_HOME, set(peers_mod.PLAN.get(sc, ())))
            row["peers"] = [
                run_peer(BENCH_HOME, key, sc) for key in peers_mod.PLAN.get(sc, ()) if key in keys
            ]
        if sc == "M" and not args.no_profile:
            with tempfile.TemporaryDirectory() as tmp:
                path = os.path.join(tmp, "m.prof")
                res = run_once(sc, fallback, profile=path)
                table = profile_top(path)
                cumulative = profile_top(path, key="cumulative")
            profile = {
                "scenario": sc,
                "table": table,
                "cumulative": cumulative,
                "run_s": res["run_s"],
                "plain_s": med,
            }
    startup = None
    if rows and not args.no_variants:
        startup = measure_startup(rows)
    if rows:
        print()
        print_table(rows)
        if profile:
            print(f"\ncProfile, scenario {profile['scenario']}, top {PROFILE_TOP} by tottime:")
            print(profile["table"])
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    if failed:
        loud("benchmark FAILED (see above); docs/benchmarks.md not updated")
        return 1 if rows else 3
    if not args.no_docs:
        write_doc(rows, machine(), profile, args.runs, startup)
    return 0


if __name__ == "__main__":
    sys.exit(main())
