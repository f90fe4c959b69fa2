"""A stored run read back from ``$RBT_HOME/results/<run_id>/``."""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np
import numpy.typing as npt

from rbt.kernel.errors import DataUnavailableError

if TYPE_CHECKING:
    import polars as pl

    from rbt.analytics.metrics import MetricInputs
    from rbt.analytics.trades import RoundTrip

__all__ = ["RunData", "load_run", "periods_per_year"]


def periods_per_year(manifest: Any) -> int:
    """365 for a 24/7 calendar, else 252 (from the manifest's ``periods_per_year`` if any)."""
    value = manifest.get("periods_per_year") if hasattr(manifest, "get") else None
    return int(value) if value else 252


@attrs.frozen(kw_only=True, eq=False)
class RunData:
    """Frames, manifest and benchmark of one stored run."""

    path: Path
    manifest: dict[str, Any]
    perf: pl.DataFrame
    transactions: pl.DataFrame
    orders: pl.DataFrame
    positions: pl.DataFrame
    benchmark: npt.NDArray[np.float64] | None

    @property
    def run_id(self) -> str:
        """The run id."""
        return str(self.manifest.get("run_id", self.path.name))

    @property
    def metrics(self) -> dict[str, float]:
        """The metrics stored with the run."""
        return {
            k: (0.0 if v is None else float(v)) for k, v in self.manifest.get("metrics", {}).items()
        }

    @cached_property
    def inputs(self) -> MetricInputs:
        """Metric inputs rebuilt from the files."""
        from rbt.analytics.metrics import MetricInputs

        return MetricInputs(
            self.perf["returns"].to_numpy(),
            periods_per_year(self.manifest),
            benchmark=self.benchmark,
            perf=self.perf,
            transactions=self.transactions,
            positions=self.positions,
        )

    @property
    def round_trips(self) -> list[RoundTrip]:
        """FIFO round trips of the run's transactions."""
        return self.inputs.round_trips


def load_run(path: str | Path) -> RunData:
    """Read a results directory written by :func:`rbt.api.run_backtest`.

    :raises DataUnavailableError: the directory or one of its files is missing.
    """
    import polars as pl

    from rbt.runs.recording import BENCHMARK_FILE

    path = Path(path)
    manifest_file = path / "manifest.json"
    if not manifest_file.is_file():
        raise DataUnavailableError(f"no run results in {path} (manifest.json is missing)")
    frames = {}
    for name in ("perf", "transactions", "orders", "positions"):
        file = path / f"{name}.parquet"
        if not file.is_file():
            raise DataUnavailableError(f"run results in {path} lack {file.name}")
        frames[name] = pl.read_parquet(file)
    benchmark = None
    if (path / BENCHMARK_FILE).is_file():
        benchmark = pl.read_parquet(path / BENCHMARK_FILE)["return"].to_numpy()
    return RunData(
        path=path,
        manifest=json.loads(manifest_file.read_text(encoding="utf-8")),
        benchmark=benchmark,
        **frames,
    )
