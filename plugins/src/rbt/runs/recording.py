"""After a run writes its results: the benchmark file and the registry row.

Called by :func:`rbt.api.run_backtest` when it writes results (``write=True``).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from rbt.runs.versions import PackageNotFoundError, installed_version

__all__ = ["BENCHMARK_FILE", "package_versions", "record", "strategy_label"]

#: Benchmark returns aligned to the run's sessions (``session``, ``return``), when set.
BENCHMARK_FILE = "benchmark.parquet"

_VERSIONED = ("rustybt-framework", "rbt-kernel", "numpy", "polars", "pyarrow", "pandas")


def package_versions() -> dict[str, str]:
    """Versions of Python and the packages that shape a run's results."""
    return dict(_package_versions())


@functools.cache  # read once per process
def _package_versions() -> tuple[tuple[str, str], ...]:
    import platform

    out = [("python", platform.python_version())]
    for name in _VERSIONED:
        try:
            out.append((name, installed_version(name)))
        except PackageNotFoundError:
            out.append((name, "not installed"))
    return tuple(out)


def strategy_label(strategy: Any, instance: Any) -> str:
    """A file path for a strategy run by path, else ``module:qualname`` of its class."""
    if isinstance(strategy, str | Path):
        return str(Path(strategy).expanduser().resolve())
    target = instance if isinstance(instance, type) else type(instance)
    name = f"{target.__module__}:{target.__qualname__}"
    if name == "rbt.api.algorithm:FunctionStrategy":
        init = getattr(instance, "_initialize", None)
        if init is not None:
            name = f"{init.__module__}:{init.__qualname__}"
    return name


def record(home: Any, result: Any, strategy: Any, instance: Any, benchmark: Any) -> None:
    """Write ``benchmark.parquet`` (when there is a benchmark) and record the run."""
    import polars as pl

    from rbt.runs.registry import record_run

    assert result.path is not None
    if benchmark is not None:
        pl.DataFrame(
            {
                "session": pl.Series(result.perf["session"].to_list(), dtype=pl.Date),
                "return": pl.Series(benchmark.returns.tolist(), dtype=pl.Float64),
            }
        ).write_parquet(Path(result.path) / BENCHMARK_FILE, statistics=False)
    record_run(
        home,
        run_id=result.run_id,
        strategy=strategy_label(strategy, instance),
        manifest=result.manifest,
        metrics=result.metrics,
        results_path=Path(result.path),
    )
