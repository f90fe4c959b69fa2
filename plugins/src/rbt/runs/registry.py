"""The run registry: every backtest that writes results is a row of ``runs`` in ``rbt.sqlite``.

A run id is a content hash of the run's inputs (strategy source, parameters,
bundle, dates, capital, models, benchmark), so running the same inputs again
updates the same row (``updated_at``, ``run_count``) rather than adding one.
The table comes from migration ``0002_runs`` (one Alembic history, design.md
§2.1a.7). JSON columns hold the parameters, the metrics, the manifest and the
package versions.

Imports SQLAlchemy: keep it off ``rbt --help``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import sqlalchemy as sa

from rbt.data.db import Base, open_database
from rbt.data.home import RbtHome
from rbt.kernel.errors import ConfigError
from rbt.runs.recording import package_versions

__all__ = [
    "RunRecord",
    "UnknownRunError",
    "get_run",
    "list_runs",
    "package_versions",
    "record_run",
    "runs_table",
]

runs_table = sa.Table(
    "runs",
    Base.metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("strategy", sa.Text, nullable=False),
    sa.Column("strategy_hash", sa.String(64), nullable=False),
    sa.Column("params", sa.Text, nullable=False),
    sa.Column("bundle", sa.String(200), nullable=False),
    sa.Column("bundle_hash", sa.String(64), nullable=False),
    sa.Column("start", sa.Date, nullable=False),
    sa.Column("end", sa.Date, nullable=False),
    sa.Column("capital_base", sa.Text, nullable=False),
    sa.Column("final_value", sa.Text, nullable=False),
    sa.Column("benchmark", sa.Text, nullable=True),
    sa.Column("metrics", sa.Text, nullable=False),
    sa.Column("manifest", sa.Text, nullable=False),
    sa.Column("versions", sa.Text, nullable=False),
    sa.Column("results_path", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("run_count", sa.Integer, nullable=False, server_default="1"),
    sa.Index("ix_runs_updated_at", "updated_at"),
)

_RECENT = 10


class UnknownRunError(ConfigError):
    """No run has this id (the message lists the recent ones)."""


@attrs.frozen(kw_only=True)
class RunRecord:
    """One row of the registry."""

    id: str
    strategy: str
    strategy_hash: str
    params: Mapping[str, Any]
    bundle: str
    bundle_hash: str
    start: dt.date
    end: dt.date
    capital_base: str
    final_value: str
    benchmark: str | None
    metrics: Mapping[str, float]
    manifest: Mapping[str, Any]
    versions: Mapping[str, str]
    results_path: Path
    created_at: dt.datetime
    updated_at: dt.datetime
    run_count: int

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (dates ISO, times UTC)."""
        return {
            "id": self.id,
            "strategy": self.strategy,
            "strategy_hash": self.strategy_hash,
            "params": dict(self.params),
            "bundle": self.bundle,
            "bundle_hash": self.bundle_hash,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "capital_base": self.capital_base,
            "final_value": self.final_value,
            "benchmark": self.benchmark,
            "metrics": dict(self.metrics),
            "manifest": dict(self.manifest),
            "versions": dict(self.versions),
            "results_path": str(self.results_path),
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "run_count": self.run_count,
        }


def _utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _record(row: Any) -> RunRecord:
    m = row._mapping
    return RunRecord(
        id=m["id"],
        strategy=m["strategy"],
        strategy_hash=m["strategy_hash"],
        params=json.loads(m["params"]),
        bundle=m["bundle"],
        bundle_hash=m["bundle_hash"],
        start=m["start"],
        end=m["end"],
        capital_base=m["capital_base"],
        final_value=m["final_value"],
        benchmark=m["benchmark"],
        metrics=json.loads(m["metrics"]),
        manifest=json.loads(m["manifest"]),
        versions=json.loads(m["versions"]),
        results_path=Path(m["results_path"]),
        created_at=_utc(m["created_at"]),
        updated_at=_utc(m["updated_at"]),
        run_count=int(m["run_count"]),
    )


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def record_run(
    home: RbtHome,
    *,
    run_id: str,
    strategy: str,
    manifest: Mapping[str, Any],
    metrics: Mapping[str, float],
    results_path: Path,
    now: dt.datetime | None = None,
) -> RunRecord:
    """Insert or update the row of ``run_id`` from the run's manifest and metrics."""
    now = now or dt.datetime.now(dt.UTC)
    benchmark = manifest.get("benchmark")
    values = {
        "strategy": strategy,
        "strategy_hash": str(manifest.get("strategy_hash", "")),
        "params": _dumps(manifest.get("params", {})),
        "bundle": str(manifest.get("bundle", "")),
        "bundle_hash": str(manifest.get("bundle_hash", "")),
        "start": dt.date.fromisoformat(str(manifest["start"])),
        "end": dt.date.fromisoformat(str(manifest["end"])),
        "capital_base": str(manifest.get("capital_base", "")),
        "final_value": str(manifest.get("final_value", "")),
        "benchmark": benchmark.get("source") if isinstance(benchmark, Mapping) else None,
        "metrics": _dumps(dict(metrics)),
        "manifest": _dumps(dict(manifest)),
        "versions": _dumps(manifest.get("versions") or package_versions()),
        "results_path": str(results_path),
        "updated_at": now,
    }
    engine = open_database(home)
    with engine.begin() as conn:
        found = conn.execute(
            sa.select(runs_table.c.run_count).where(runs_table.c.id == run_id)
        ).first()
        if found is None:
            conn.execute(
                runs_table.insert().values(id=run_id, created_at=now, run_count=1, **values)
            )
        else:
            conn.execute(
                runs_table.update()
                .where(runs_table.c.id == run_id)
                .values(run_count=int(found[0]) + 1, **values)
            )
        row = conn.execute(sa.select(runs_table).where(runs_table.c.id == run_id)).one()
    return _record(row)


def list_runs(home: RbtHome, limit: int | None = 20) -> list[RunRecord]:
    """Recorded runs, most recently run first."""
    query = sa.select(runs_table).order_by(runs_table.c.updated_at.desc(), runs_table.c.id.asc())
    if limit is not None:
        query = query.limit(limit)
    with open_database(home).connect() as conn:
        return [_record(row) for row in conn.execute(query)]


def get_run(home: RbtHome, ident: str) -> RunRecord:
    """The run ``ident`` (a full id or a unique prefix of one).

    :raises UnknownRunError: no such run, or an ambiguous prefix; lists the recent ids.
    """
    ident = ident.strip()
    with open_database(home).connect() as conn:
        row = conn.execute(sa.select(runs_table).where(runs_table.c.id == ident)).first()
        if row is not None:
            return _record(row)
        matches: Sequence[Any] = []
        if ident and all(c in "0123456789abcdef" for c in ident.lower()):
            matches = conn.execute(
                sa.select(runs_table).where(runs_table.c.id.startswith(ident.lower()))
            ).all()
    if len(matches) == 1:
        return _record(matches[0])
    recent = list_runs(home, limit=_RECENT)
    if len(matches) > 1:
        ids = ", ".join(sorted(m._mapping["id"] for m in matches)[:_RECENT])
        raise UnknownRunError(f"run id prefix {ident!r} is ambiguous: {ids}")
    if not recent:
        raise UnknownRunError(f"unknown run id {ident!r}: no runs recorded yet (rbt run ...)")
    listing = "; ".join(f"{r.id} ({Path(r.strategy).name}, {r.start}..{r.end})" for r in recent)
    raise UnknownRunError(f"unknown run id {ident!r}; recent runs: {listing}")
