"""Shadow-trading overhead: live event-to-order latency with the shadow on vs off.

A paper replay at max speed of the demo bundle; for every bar where the live strategy
orders, the latency is the time from the bar becoming visible in the live session
(``BarClosed`` on its bus) to the first order of that bar leaving for the broker
(``OrderUpdated`` → submitted). The shadow runs after the live session has stepped an
event, so it is outside that path; what it adds inside is two bus subscribers that
append to lists. The per-event wall time (throughput at max speed, where the next event
waits for the shadow) is reported too.

    .venv/bin/python benchmarks/shadow_overhead.py [--repeats 5] [--json]

Runs alternate off/on; the reported figures are medians over repeats of each run's
median and 95th percentile.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

EVERY_BAR = """
from rbt.api import order, symbols

def initialize(context):
    context.assets = symbols("AAA", "BBB", "CCC", "DDD", "EEE", "FFF", "GGG", "HHH", "III", "JJJ")
    context.n = 0

def handle_data(context, data):
    context.n += 1
    for asset in context.assets:
        order(asset, 10 if context.n % 2 else -10)
"""

ROOT = Path(__file__).resolve().parents[1]


class LatencyProbe:
    """A live-run observer that times bar → first order on the live session's bus."""

    name = "latency_probe"

    def __init__(self) -> None:
        self.latencies: list[int] = []  # wall clock
        self.cpu: list[int] = []  # this thread's CPU time (immune to other processes)
        self._bar_at: int | None = None
        self._cpu_at = 0

    def attach(self, run: Any) -> None:
        from rbt.kernel.events import BarClosed, OrderUpdated
        from rbt.kernel.model import OrderStatus

        submitted = OrderStatus.SUBMITTED

        def on_bar(event: BarClosed) -> None:
            self._bar_at = time.perf_counter_ns()
            self._cpu_at = time.thread_time_ns()

        def on_order(event: OrderUpdated) -> None:
            if self._bar_at is not None and event.order.status is submitted:
                self.latencies.append(time.perf_counter_ns() - self._bar_at)
                self.cpu.append(time.thread_time_ns() - self._cpu_at)
                self._bar_at = None  # the first order of the bar only

        # subscribed first: the probe's bar timestamp precedes any other work on the bar
        run.session.bus.subscribe(BarClosed, on_bar)
        run.session.bus.subscribe(OrderUpdated, on_order)

    def on_event(self, event: Any) -> None:
        pass

    def close(self) -> None:
        pass


def _percentile(values: list[int], q: float) -> float:
    ordered = sorted(values)
    return float(ordered[min(len(ordered) - 1, int(q * len(ordered)))])


def one_run(home_root: Path, bundles: Path, strategy: Path, shadow_on: bool, args: Any) -> dict:
    from rbt.data.home import RbtHome
    from rbt.live.engine import PaperRun
    from rbt.shadow import ShadowBacktestEngine

    home_root.mkdir(parents=True)
    (home_root / "bundles").symlink_to(bundles)
    probe = LatencyProbe()
    observers: list[Any] = [probe]
    if shadow_on:
        observers.append(ShadowBacktestEngine())
    run = PaperRun(
        strategy,
        start=args.start,
        end=args.end,
        bundle="demo",
        home=RbtHome(home_root),
        capital_base=10_000_000,
        observers=observers,
    )
    events = 0

    def count(event: Any) -> None:
        nonlocal events
        events += 1

    run.on_event = count
    started, cpu_started = time.perf_counter_ns(), time.process_time_ns()
    try:
        asyncio.run(run.run())
    finally:
        run.close()
    wall = time.perf_counter_ns() - started
    cpu_total = time.process_time_ns() - cpu_started
    if shadow_on:
        shadow = observers[1]
        assert shadow.failed is None, shadow.failed
        assert shadow.status()["metrics"]["match_rate"]["value"] == 1.0
    lat, cpu = probe.latencies, probe.cpu
    return {
        "median_us": statistics.median(lat) / 1e3,
        "p95_us": _percentile(lat, 0.95) / 1e3,
        "cpu_median_us": statistics.median(cpu) / 1e3,
        "cpu_p95_us": _percentile(cpu, 0.95) / 1e3,
        "cpu_total_s": cpu_total / 1e9,
        "orders_timed": len(lat),
        "per_event_us": wall / events / 1e3,
        "events": events,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--start", default="2016-01-04")
    parser.add_argument("--end", default="2017-12-29")
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--dir",
        default="/dev/shm" if Path("/dev/shm").is_dir() else None,
        help="where the temporary homes go (default: tmpfs, so fsync noise of a shared disk "
        "does not drown the CPU cost being measured)",
    )
    args = parser.parse_args()

    from rbt.data.home import RbtHome
    from rbt.data.ingest import ingest

    with tempfile.TemporaryDirectory(prefix="rbt-shadow-bench-", dir=args.dir) as tmp:
        base = Path(tmp)
        shared = RbtHome(base / "shared")
        ingest(shared, "demo", "demo", {"start": "2015-01-02", "end": "2017-12-29", "symbols": 10})
        strategy = base / "every_bar.py"
        strategy.write_text(EVERY_BAR)
        results: dict[str, list[dict]] = {"off": [], "on": []}
        for i in range(args.repeats):
            for mode in ("off", "on") if i % 2 == 0 else ("on", "off"):
                root = base / f"{mode}-{i}"
                results[mode].append(
                    one_run(root, shared.root / "bundles", strategy, mode == "on", args)
                )

    def med(mode: str, key: str) -> float:
        return statistics.median(r[key] for r in results[mode])

    summary = {
        key: {
            "off": med("off", key),
            "on": med("on", key),
            "ratio": med("on", key) / med("off", key),
        }
        for key in (
            "median_us",
            "p95_us",
            "cpu_median_us",
            "cpu_p95_us",
            "per_event_us",
            "cpu_total_s",
        )
    }
    summary["orders_timed"] = results["on"][0]["orders_timed"]
    summary["events"] = results["on"][0]["events"]
    summary["repeats"] = args.repeats
    if args.json:
        print(json.dumps(summary, indent=2))
        return
    print(f"{summary['events']} events, {summary['orders_timed']} timed bars, "
          f"{args.repeats} repeats (medians)")  # fmt: skip
    print(f"{'':32}{'shadow off':>12}{'shadow on':>12}{'ratio':>8}")
    for key, label in (
        ("median_us", "event→order median, wall (µs)"),
        ("p95_us", "event→order p95, wall (µs)"),
        ("cpu_median_us", "event→order median, CPU (µs)"),
        ("cpu_p95_us", "event→order p95, CPU (µs)"),
        ("per_event_us", "wall time per event (µs)"),
        ("cpu_total_s", "CPU time of the run (s)"),
    ):
        row = summary[key]
        print(f"{label:32}{row['off']:12.1f}{row['on']:12.1f}{row['ratio']:8.3f}")


if __name__ == "__main__":
    main()
