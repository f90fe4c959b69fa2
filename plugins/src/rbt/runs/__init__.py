"""Runs: the registry of backtests in ``rbt.sqlite`` and the comparison of two runs.

* :mod:`rbt.runs.registry` — the ``runs`` table (migration ``0002_runs``): record, list, get;
* :mod:`rbt.runs.recording` — what :func:`rbt.api.run_backtest` does after writing results;
* :mod:`rbt.runs.diff` — metrics, parameters and trades of two runs side by side;
* :mod:`rbt.runs.versions` — installed package versions, for manifests and cache keys.
"""
