"""Two recorded runs side by side: inputs, metrics and trades."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from rbt.runs.registry import RunRecord

__all__ = ["diff_runs"]

_INPUTS = (
    "strategy_hash", "bundle", "bundle_hash", "start", "end", "capital_base", "commission",
    "slippage", "fill_timing", "final_value",
)  # fmt: skip


def _trade_summary(record: RunRecord) -> tuple[dict[str, dict[str, Any]], str | None]:
    """Per symbol: fills, bought, sold, round trips and their P&L (from the result files)."""
    from rbt.analytics.run_data import load_run
    from rbt.kernel.errors import DataUnavailableError

    try:
        run = load_run(record.results_path)
    except DataUnavailableError as exc:
        return {}, str(exc)
    out: dict[str, dict[str, Any]] = {}
    for row in run.transactions.iter_rows(named=True):
        entry = out.setdefault(
            row["symbol"],
            {"fills": 0, "bought": Decimal(0), "sold": Decimal(0), "round_trips": 0,
             "pnl": Decimal(0)},
        )  # fmt: skip
        amount = Decimal(str(row["amount"]))
        entry["fills"] += 1
        if amount > 0:
            entry["bought"] += amount
        else:
            entry["sold"] -= amount
    for trip in run.round_trips:
        entry = out[trip.symbol]
        entry["round_trips"] += 1
        entry["pnl"] += trip.pnl
    return {
        symbol: {k: (str(v) if isinstance(v, Decimal) else v) for k, v in values.items()}
        for symbol, values in sorted(out.items())
    }, None


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def diff_runs(a: RunRecord, b: RunRecord) -> dict[str, Any]:
    """Inputs, parameters, metrics and per-asset trades of ``a`` and ``b`` side by side.

    Every list holds ``{"name", "a", "b", ...}`` rows; metrics add ``diff`` (b - a), inputs
    and parameters add ``same``.
    """
    from rbt.plugins.metrics import METRICS

    def side(m: Mapping[str, Any], key: str) -> Any:
        return m.get(key)

    inputs = []
    for key in _INPUTS:
        va, vb = side(a.manifest, key), side(b.manifest, key)
        inputs.append({"name": key, "a": va, "b": vb, "same": va == vb})
    inputs.append(
        {
            "name": "benchmark",
            "a": a.benchmark,
            "b": b.benchmark,
            "same": a.benchmark == b.benchmark,
        }
    )
    params = []
    for key in sorted(set(a.params) | set(b.params)):
        va, vb = a.params.get(key), b.params.get(key)
        params.append({"name": key, "a": va, "b": vb, "same": va == vb})
    order = [n for n in METRICS if n in a.metrics or n in b.metrics]
    order += sorted((set(a.metrics) | set(b.metrics)) - set(order))
    metrics = []
    for key in order:
        va, vb = _number(a.metrics.get(key)), _number(b.metrics.get(key))
        delta = vb - va if va is not None and vb is not None else None
        metrics.append({"name": key, "a": va, "b": vb, "diff": delta})
    trades_a, error_a = _trade_summary(a)
    trades_b, error_b = _trade_summary(b)
    trades = []
    for symbol in sorted(set(trades_a) | set(trades_b)):
        trades.append({"name": symbol, "a": trades_a.get(symbol), "b": trades_b.get(symbol)})
    return {
        "a": {"id": a.id, "strategy": a.strategy, "start": a.start.isoformat(),
              "end": a.end.isoformat()},
        "b": {"id": b.id, "strategy": b.strategy, "start": b.start.isoformat(),
              "end": b.end.isoformat()},
        "inputs": inputs,
        "params": params,
        "metrics": metrics,
        "trades": trades,
        "errors": [e for e in (error_a, error_b) if e],
    }  # fmt: skip
