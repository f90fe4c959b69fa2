"""Research: parameter search, walk-forward analysis, robustness statistics, sweep executors.

Heavy modules (optuna, dask) are imported only when a search or executor that needs
them is used.
"""

from __future__ import annotations

from rbt.research.space import Categorical, Float, Int, Space, parse_space
from rbt.research.sweep import SweepResult, optimize, trial_id

__all__ = [
    "Categorical",
    "Float",
    "Int",
    "Space",
    "SweepResult",
    "optimize",
    "parse_space",
    "trial_id",
]
