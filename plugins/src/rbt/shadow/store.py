"""Shadow metrics in the ``alignment_metrics`` table (migration ``0004_live``).

One row per ``(run_id, ts, metric)`` with a text ``value`` ('' for none) and JSON
``details``. Written by the shadow engine:

* at every session close, a checkpoint of the latest ``match_rate``,
  ``slippage_error_bps``, ``fill_rate_error``, ``commission_error_bps`` and
  ``portfolio`` (shadow and live values);
* as they happen, ``signal`` (a decision that was not an exact match), ``execution``
  (a paired fill, with both sides' prices, quantities and reference prices — what
  calibration reads), ``trip`` (the breaker's report), ``breaker_reset``,
  ``shadow_failed`` and ``shadow_started``.

Rows are buffered and committed at session closes and at once for trips and failures.
A restart continues the series: rows at or before the latest stored ``ts`` are not
written again (the restarted shadow re-derives them).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

__all__ = ["ShadowStore", "load_rows", "run_ids"]

_INSERT = sa.text(
    "INSERT INTO alignment_metrics (run_id, ts, metric, value, details) "
    "VALUES (:r, :ts, :m, :v, :d)"
)


def _text(value: Any) -> str:
    return "" if value is None else repr(value) if isinstance(value, float) else str(value)


class ShadowStore:
    """Buffered writes of one run's shadow metrics through ``conn``."""

    def __init__(self, conn: Connection, run_id: str, commit: Callable[[], None]) -> None:
        self.conn = conn
        self.run_id = run_id
        self._commit = commit
        self._rows: list[dict[str, Any]] = []
        row = conn.execute(
            sa.text("SELECT MAX(ts) FROM alignment_metrics WHERE run_id = :r"), {"r": run_id}
        ).fetchone()
        self.high_water: int | None = row[0] if row else None
        self._last_event = {
            name: self.latest(name) for name in ("trip", "breaker_reset", "shadow_failed")
        }
        commit()

    def latest(self, metric: str) -> dict[str, Any] | None:
        """The last written row of ``metric`` (id, ts, value, details), or None."""
        row = self.conn.execute(
            sa.text(
                "SELECT id, ts, value, details FROM alignment_metrics WHERE run_id = :r AND "
                "metric = :m ORDER BY id DESC LIMIT 1"
            ),
            {"r": self.run_id, "m": metric},
        ).fetchone()
        if row is None:
            return None
        return {"id": row[0], "ts": row[1], "value": row[2], "details": json.loads(row[3])}

    def stored_event(self, metric: str) -> dict[str, Any] | None:
        """The latest ``trip`` / ``breaker_reset`` / ``shadow_failed`` row at start-up."""
        return self._last_event.get(metric)

    def add(
        self, ts: int, metric: str, value: Any, details: Mapping[str, Any], *, force: bool = False
    ) -> None:
        """Buffer a row. Series rows at or before the stored high-water mark are dropped (a
        restart re-derives them); ``force`` keeps new facts (a reset, a failure)."""
        if not force and self.high_water is not None and ts <= self.high_water:
            return
        self._rows.append(
            {
                "r": self.run_id,
                "ts": ts,
                "m": metric,
                "v": _text(value),
                "d": json.dumps(dict(details), sort_keys=True, default=str),
            }
        )

    def flush(self) -> None:
        """Insert the buffered rows and commit."""
        if not self._rows:
            return
        rows, self._rows = self._rows, []
        self.conn.execute(_INSERT, rows)
        self._commit()


def load_rows(db: Engine, run_id: str, metric: str | None = None) -> list[dict[str, Any]]:
    """A run's rows in time order (details parsed; ``id`` orders them as written)."""
    query = "SELECT id, ts, metric, value, details FROM alignment_metrics WHERE run_id = :r"
    params: dict[str, Any] = {"r": run_id}
    if metric is not None:
        query += " AND metric = :m"
        params["m"] = metric
    with db.connect() as conn:
        rows = conn.execute(sa.text(query + " ORDER BY ts, id"), params).fetchall()
    return [
        {
            "id": row_id,
            "ts": ts,
            "metric": name,
            "value": None if value == "" else value,
            "details": json.loads(details),
        }
        for row_id, ts, name, value, details in rows
    ]


def run_ids(db: Engine) -> list[str]:
    """Runs that have shadow metrics, most recently updated first."""
    with db.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT run_id, MAX(ts) AS last FROM alignment_metrics GROUP BY run_id "
                "ORDER BY last DESC"
            )
        ).fetchall()
    return [r[0] for r in rows]
