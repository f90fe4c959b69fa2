"""Shadow trading (design.md §2.6): a backtest of the live strategy runs beside it.

* :mod:`rbt.shadow.engine` — :class:`ShadowBacktestEngine`, a live-run observer;
* :mod:`rbt.shadow.records` — the orders and executions of either side;
* :mod:`rbt.shadow.checks` — signal alignment and execution quality (plugins);
* :mod:`rbt.shadow.breaker` — the alignment circuit breaker and its thresholds;
* :mod:`rbt.shadow.store` — the ``alignment_metrics`` rows;
* :mod:`rbt.shadow.report` — status and the HTML report;
* :mod:`rbt.shadow.calibration` — slippage and fee parameters fitted to live fills.
"""

from rbt.shadow.breaker import AlignmentBreaker, Thresholds, default_thresholds
from rbt.shadow.checks import (
    ExecutionQuality,
    Measurement,
    Observation,
    ShadowCheck,
    SignalAlignment,
)
from rbt.shadow.engine import ShadowBacktestEngine

__all__ = [
    "AlignmentBreaker",
    "ExecutionQuality",
    "Measurement",
    "Observation",
    "ShadowBacktestEngine",
    "ShadowCheck",
    "SignalAlignment",
    "Thresholds",
    "default_thresholds",
]
