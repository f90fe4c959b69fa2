"""Analytics of a run: metrics, round trips, benchmark alignment.

* :mod:`rbt.analytics.returns` — return metrics on float64 arrays (empyrical's formulas,
  with documented conventions instead of NaN);
* :mod:`rbt.analytics.trades` — FIFO round trips and per-trade statistics (exact);
* :mod:`rbt.analytics.fifo` — the same FIFO matching in integer arrays (the fast path);
* :mod:`rbt.analytics.benchmark` — benchmark returns and the alignment rule;
* :mod:`rbt.analytics.metrics` — the METRIC providers and :func:`compute_metrics`;
* :mod:`rbt.analytics.run_data` — a stored run's frames read back from its results directory.

Imports NumPy; keep it off ``rbt --help``.
"""

from __future__ import annotations

from rbt.analytics.metrics import BUILTIN_METRICS, MetricInputs, compute_metrics

__all__ = ["BUILTIN_METRICS", "MetricInputs", "compute_metrics"]
