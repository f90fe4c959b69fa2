"""Sweep checkpoints in the home's database (tables of migration ``0003_sweeps``).

Only the process driving a sweep writes; workers return results to it. Each finished
trial is committed as it arrives, so a crashed sweep resumes without redoing it.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa

from rbt.data.home import RbtHome

__all__ = ["SweepStore"]

_meta = sa.MetaData()
SWEEPS = sa.Table(
    "sweeps",
    _meta,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("strategy", sa.Text),
    sa.Column("search", sa.String(64)),
    sa.Column("objective", sa.Text),
    sa.Column("config", sa.Text),
    sa.Column("status", sa.String(16)),
    sa.Column("created_at", sa.DateTime(timezone=True)),
    sa.Column("updated_at", sa.DateTime(timezone=True)),
)
TRIALS = sa.Table(
    "trials",
    _meta,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("sweep_id", sa.String(64)),
    sa.Column("number", sa.Integer),
    sa.Column("params", sa.Text),
    sa.Column("status", sa.String(16)),
    sa.Column("value", sa.Float),
    sa.Column("metrics", sa.Text),
    sa.Column("run_id", sa.String(64)),
    sa.Column("error", sa.Text),
    sa.Column("attempts", sa.Integer),
    sa.Column("duration", sa.Float),
    sa.Column("finished_at", sa.DateTime(timezone=True)),
)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class SweepStore:
    """Read and write one home's sweeps and trials."""

    def __init__(self, home: RbtHome) -> None:
        from rbt.data.db import open_database

        self.engine = open_database(home)

    def open_sweep(
        self,
        sweep_id: str,
        *,
        strategy: str,
        search: str,
        objective: str,
        config: Mapping[str, Any],
    ) -> bool:
        """Create the sweep's row; True when it already existed (a resume)."""
        with self.engine.begin() as conn:
            row = conn.execute(sa.select(SWEEPS.c.id).where(SWEEPS.c.id == sweep_id)).first()
            if row is not None:
                conn.execute(
                    SWEEPS.update()
                    .where(SWEEPS.c.id == sweep_id)
                    .values(status="running", updated_at=_now())
                )
                return True
            conn.execute(
                SWEEPS.insert().values(
                    id=sweep_id,
                    strategy=strategy,
                    search=search,
                    objective=objective,
                    config=json.dumps(config, sort_keys=True, default=str),
                    status="running",
                    created_at=_now(),
                    updated_at=_now(),
                )
            )
            return False

    def finish_sweep(self, sweep_id: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                SWEEPS.update()
                .where(SWEEPS.c.id == sweep_id)
                .values(status="finished", updated_at=_now())
            )

    def add_trials(self, sweep_id: str, records: Iterable[Mapping[str, Any]]) -> None:
        rows = [
            {
                "id": r["trial_id"],
                "sweep_id": sweep_id,
                "number": r["number"],
                "params": json.dumps(r["params"], sort_keys=True),
                "status": r["status"],
                "value": r["value"],
                "metrics": json.dumps(r["metrics"], sort_keys=True),
                "run_id": r.get("run_id"),
                "error": r.get("error"),
                "attempts": r.get("attempts", 1),
                "duration": r.get("duration", 0.0),
                "finished_at": _now(),
            }
            for r in records
        ]
        if rows:
            with self.engine.begin() as conn:  # a retried trial replaces its failed row
                conn.execute(TRIALS.delete().where(TRIALS.c.id.in_([r["id"] for r in rows])))
                conn.execute(TRIALS.insert(), rows)

    def trials(self, sweep_id: str) -> dict[str, dict[str, Any]]:
        """Finished trials of a sweep by trial id."""
        with self.engine.connect() as conn:
            rows = (
                conn.execute(
                    sa.select(TRIALS).where(TRIALS.c.sweep_id == sweep_id).order_by(TRIALS.c.number)
                )
                .mappings()
                .all()
            )
        out = {}
        for r in rows:
            out[r["id"]] = {
                "trial_id": r["id"],
                "number": r["number"],
                "params": json.loads(r["params"]),
                "status": r["status"],
                "value": r["value"],
                "metrics": json.loads(r["metrics"]),
                "run_id": r["run_id"],
                "error": r["error"],
                "attempts": r["attempts"],
                "duration": r["duration"],
                "finished_at": r["finished_at"],
            }
        return out

    def sweeps(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(SWEEPS).order_by(SWEEPS.c.updated_at)).mappings().all()
        return [dict(r) for r in rows]
