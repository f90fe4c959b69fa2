"""Measure CSV ingest throughput and bundle load time (not collected by pytest).

    .venv/bin/python tests/data/bench_ingest.py [CSV_DIR]

Without CSV_DIR it writes 500 files x 2520 daily rows of synthetic exact-text
prices into a temporary directory (the shape of the benchmark's L scenario);
pass ``$RBT_BENCH_HOME/data/L/daily`` to use the benchmark's own files. Runs in
a fresh RBT home: one warm-up ingest (imports, calendar cache, database
migrations), then ``ingest`` and ``load_bundle`` timed --repeat times (best and
median reported).
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import tempfile
import time
from pathlib import Path


def _write_csv_dir(directory: Path) -> Path:
    spec = importlib.util.spec_from_file_location(
        "data_conftest", Path(__file__).with_name("conftest.py")
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.write_csv_dir(directory, 500, 2520)  # type: ignore[no-any-return]


def main(argv: list[str] | None = None) -> int:
    from rbt.data.bundles import load_bundle
    from rbt.data.home import RbtHome
    from rbt.data.ingest import ingest

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv_dir", nargs="?", type=Path)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="rbt-bench-") as tmp:
        directory = args.csv_dir or _write_csv_dir(Path(tmp) / "csv")
        home = RbtHome(Path(tmp) / "home")
        options = {"path": str(directory)}
        ingest(home, "csv", "warmup", options)
        ingest_times, load_times = [], []
        rows = 0
        for _ in range(args.repeat):
            start = time.perf_counter()
            manifest = ingest(home, "csv", "bench", options)
            ingest_times.append(time.perf_counter() - start)
            rows = manifest.row_count
            start = time.perf_counter()
            bars = load_bundle(home, "bench")
            load_times.append(time.perf_counter() - start)
        best, median = min(ingest_times), statistics.median(ingest_times)
        sys.stdout.write(
            f"{directory}: {manifest.asset_count} files, {rows:,} rows\n"
            f"ingest: best {best:.3f} s ({rows / best:,.0f} rows/s), "
            f"median {median:.3f} s ({rows / median:,.0f} rows/s)\n"
            f"load_bundle {bars.shape}: best {min(load_times):.3f} s, "
            f"median {statistics.median(load_times):.3f} s\n"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
