"""Compute pipelines over a bundle's :class:`~rbt.data.bars.BarArrays` with Polars.

One lazy Polars query computes every column of a pipeline for *all* the
sessions of a run at once (window terms roll backwards over each asset's rows,
cross-sectional terms partition by data row); each session then takes its own
slice. Custom factors written in numpy add a step each (their ``compute`` is
called once per session, as in Zipline).

Point in time: the pipeline of session ``t`` reads data row ``r`` = the last
bar *before* ``t`` (Zipline runs pipelines before the open). The frame holds no
row later than the last session's ``r``; rolling windows only look backwards
and cross-sectional terms only see their own row, so session ``t``'s output
never depends on bars at or after ``t`` (``tests/pipeline/test_point_in_time.py``).

Universe on session ``t``: the assets that have a bar before ``t``, and whose
``end_date`` (bundle metadata, as Zipline's asset lifetimes) is after the
previous session. The first session of a bundle has no data yet: its output is
empty.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from rbt.data.bars import OHLCV, BarArrays
from rbt.data.frames import ColumnFrames, object_index
from rbt.kernel.clock import Frequency
from rbt.kernel.errors import RbtError
from rbt.pipeline._terms import (
    BoundColumn,
    CustomFactor,
    NotSpecified,
    Term,
    _CustomMixin,
)
from rbt.pipeline.pipeline import Pipeline

__all__ = ["PipelineEngine", "PipelineResult"]


class _Compiler:
    """Turns terms into expressions over the long frame, materializing as needed."""

    def __init__(
        self,
        frame: pl.DataFrame,
        shape: tuple[int, int],
        rows: Sequence[int],
        todays: Mapping[int, Any],
        sids: npt.NDArray[np.int64],
        exists: npt.NDArray[np.bool_],
        assets: Sequence[Any] = (),
    ) -> None:
        self.lf = frame.lazy()
        self.assets = tuple(assets)
        self.symbols = {a.symbol: a.sid for a in self.assets}
        self.shape = shape  # (data rows, assets)
        self.rows = rows
        self._todays = todays
        self.sids = sids
        self.exists = exists
        self._exprs: dict[int, pl.Expr] = {}
        self._columns: dict[int, str] = {}
        self._outputs: dict[int, Mapping[str, pl.Expr]] = {}
        self._keep: list[Any] = []
        self._numpy_terms = 0  # terms keyed by id() stay alive while compiling

    def today(self, row: int) -> Any:
        return self._todays[row]

    def expr(self, term: Term) -> pl.Expr:
        key = id(term)
        cached = self._exprs.get(key)
        if cached is None:
            cached = pl.col(term.name) if isinstance(term, BoundColumn) else term._expr(self)
            self._keep.append(term)
            self._exprs[key] = cached
        return cached

    def column(self, term: Term) -> pl.Expr:
        """``term`` as a materialized column (for window and cross-sectional inputs)."""
        if isinstance(term, BoundColumn):
            return pl.col(term.name)
        name = self._columns.get(id(term))
        if name is None:
            # compiling may add columns (and replace self.lf): compile first, then name and add
            expr = self.expr(term)
            name = f"_t{len(self._columns)}"
            self.lf = self.lf.with_columns(expr.alias(name))
            self._columns[id(term)] = name
            self._keep.append(term)
        return pl.col(name)

    def mask_expr(self, mask: Any) -> pl.Expr:
        if not isinstance(mask, Term) or mask.kind != "bool":
            raise TypeError(f"mask must be a Filter, got {mask!r}")
        return self.expr(mask)

    def _collect(self) -> pl.DataFrame:
        frame = self.lf.collect()
        self.lf = frame.lazy()
        return frame

    def _to_matrix(self, series: pl.Series) -> npt.NDArray[Any]:
        rows, assets = self.shape
        return np.ascontiguousarray(series.to_numpy().reshape(assets, rows).T)

    def array(self, term: Term) -> npt.NDArray[np.float64]:
        """``term`` as a ``float64[rows, assets]`` array (NaN for missing)."""
        name = self.column(term).meta.output_name()
        series = self._collect()[name]
        if series.dtype == pl.Boolean:
            series = series.fill_null(False)
        elif series.dtype.is_numeric():
            series = series.cast(pl.Float64).fill_null(np.nan)
        return self._to_matrix(series)

    def bool_array(self, mask: Any) -> npt.NDArray[np.bool_]:
        if mask is NotSpecified or mask is None:
            return self.exists
        self.mask_expr(mask)
        return self.exists & self.array(mask).astype(bool)

    def output(self, term: Any, name: str) -> pl.Expr:
        key = id(term)
        outputs = self._outputs.get(key)
        if outputs is None:
            outputs = self._compute_outputs(term)
            self._outputs[key] = outputs
            self._keep.append(term)
        try:
            return outputs[name]
        except KeyError:
            raise AttributeError(f"{term!r} has no output {name!r}") from None

    def _compute_outputs(self, term: _CustomMixin) -> Mapping[str, pl.Expr]:
        if isinstance(term, CustomFactor) and not term._uses_numpy():
            inputs = [self.column(t) for t in term.inputs]
            result = term._polars(self, inputs)
            exprs = dict(result) if isinstance(result, Mapping) else {"_": result}
            if term.mask is not NotSpecified and term.mask is not None:
                keep = self.mask_expr(term.mask)
                exprs = {k: pl.when(keep).then(v) for k, v in exprs.items()}
            return {k: v.fill_nan(None) for k, v in exprs.items()}
        arrays = term._run_compute(self)
        frame = self._collect()
        names = {}
        added = []
        self._numpy_terms += 1
        for out_name, values in arrays.items():
            col = f"_c{self._numpy_terms}_{len(added)}"
            flat = values.T.ravel()
            series = pl.Series(col, flat)
            if series.dtype == pl.Float64:
                series = series.fill_nan(None)
            added.append(series)
            names[out_name] = pl.col(col)
        self.lf = frame.with_columns(added).lazy()
        return names


def _to_numpy(series: pl.Series, kind: str) -> npt.NDArray[Any]:
    """A result column as numpy: NaN, False or -1 for a missing value by ``kind``;
    objects for any other kind."""
    if kind == "float":
        return series.cast(pl.Float64).fill_null(np.nan).to_numpy()
    if kind == "bool":
        return series.fill_null(False).to_numpy()
    if kind == "int":
        return series.cast(pl.Int64).fill_null(-1).to_numpy()
    return np.asarray(series.to_list(), dtype=object)


class PipelineResult:
    """One pipeline computed for a run: per-session frames, sliced on request."""

    def __init__(
        self,
        pipeline: Pipeline,
        assets: Sequence[Any],
        row_of: Mapping[dt.date, int],
        frame: pl.DataFrame,
        kinds: Mapping[str, str],
    ) -> None:
        self.pipeline = pipeline
        self._assets = assets
        self._row_of = row_of
        # every column as one numpy array for the whole run (nulls filled per kind), sliced
        # per session: a session's output costs slices, not a conversion per column
        self._columns = {name: _to_numpy(frame[name], kind) for name, kind in kinds.items()}
        self._frames = ColumnFrames(
            list(self._columns), [values.dtype for values in self._columns.values()]
        )
        self._bounds: dict[int, tuple[int, int]] = {}
        rows = frame["_row"].to_numpy()
        self._cols = frame["_col"].to_numpy()
        bounds = np.flatnonzero(np.diff(rows)) + 1
        starts = np.concatenate([[0], bounds]) if len(rows) else np.zeros(0, dtype=np.int64)
        ends = np.concatenate([bounds, [len(rows)]]) if len(rows) else starts
        for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
            self._bounds[int(rows[a])] = (a, b)

    def output(self, session: dt.date) -> Any:
        """The pipeline's pandas frame for ``session``, indexed by asset."""
        import pandas as pd

        try:
            row = self._row_of[session]
        except KeyError:
            raise RbtError(f"the pipeline was not computed for {session}") from None
        a, b = self._bounds.get(row, (0, 0))
        index = object_index([self._assets[c] for c in self._cols[a:b].tolist()])
        if not self._columns:
            return pd.DataFrame(index=index, columns=[])
        # the session's slice of each column, copied into the frame's blocks
        return self._frames.build([values[a:b] for values in self._columns.values()], index)


class PipelineEngine:
    """Computes pipelines over ``bars`` for the given ``sessions``.

    :param bars: the bundle's arrays (daily).
    :param sessions: the sessions outputs are wanted for (a run's sessions).
    """

    def __init__(self, bars: BarArrays, sessions: Sequence[dt.date]) -> None:
        if bars.frequency is not Frequency.DAILY:
            raise RbtError(
                "pipelines run on daily bundles for now; ingest daily bars for the pipeline "
                f"(this bundle is {bars.frequency.value})"
            )
        self.bars = bars
        self.sessions = list(sessions)
        days = np.asarray(bars.sessions, dtype="datetime64[D]")
        wanted = np.asarray(self.sessions, dtype="datetime64[D]")
        # the last bar strictly before each session: what was known before its open
        rows = np.searchsorted(days, wanted, side="left") - 1
        self._row_of = {s: int(r) for s, r in zip(self.sessions, rows.tolist(), strict=True)}
        self._rows = sorted({int(r) for r in rows.tolist() if r >= 0})
        self._attached: dict[str, Pipeline] = {}
        self._results: dict[str, PipelineResult] = {}

    # -- Zipline's attach_pipeline / pipeline_output --------------------------------------
    def attach(self, pipeline: Pipeline, name: str) -> Pipeline:
        """Register ``pipeline`` under ``name``."""
        if not isinstance(pipeline, Pipeline):
            raise TypeError(f"attach_pipeline expects a Pipeline, got {pipeline!r}")
        if name in self._attached:
            raise RbtError(f"a pipeline named {name!r} is already attached")
        self._attached[name] = pipeline
        return pipeline

    def output(self, name: str, session: dt.date) -> Any:
        """The output of the pipeline attached as ``name`` for ``session``."""
        result = self._results.get(name)
        if result is None:
            pipeline = self._attached.get(name)
            if pipeline is None:
                known = ", ".join(sorted(self._attached)) or "none"
                raise RbtError(
                    f"no pipeline named {name!r} is attached (attached: {known}); "
                    "call attach_pipeline(pipeline, name) in initialize()"
                )
            result = self.compute(pipeline)
            self._results[name] = result
        return result.output(session)

    # -- computing -------------------------------------------------------------------------
    def compute(self, pipeline: Pipeline) -> PipelineResult:
        """Compute ``pipeline`` for every session of this engine."""
        bars = self.bars
        n_assets = bars.shape[1]
        last = max(self._rows) if self._rows else -1
        n_rows = last + 1
        frame, exists = self._base_frame(n_rows)
        import pandas as pd

        todays = {}
        for session, row in self._row_of.items():
            if row >= 0:
                todays[row] = pd.Timestamp(session)
        sids = np.asarray([a.sid for a in bars.assets], dtype=np.int64)
        ctx = _Compiler(frame, (n_rows, n_assets), self._rows, todays, sids, exists, bars.assets)
        kinds: dict[str, str] = {}
        outputs: list[pl.Expr] = []
        for i, (name, term) in enumerate(pipeline.columns.items()):
            kinds[name] = term.kind
            outputs.append(ctx.expr(term).alias(f"_out{i}"))
        screen = ctx.expr(pipeline.screen) if pipeline.screen is not None else pl.lit(True)
        computed = ctx.lf.with_columns(*outputs, screen.fill_null(False).alias("_screen")).collect()
        # filtered only after everything is computed: windows must see every row
        picked = computed.filter(
            pl.col("_row").is_in(self._rows) & pl.col("_exists") & pl.col("_screen")
        ).sort("_row", "_col")
        renamed = picked.select(
            "_row", "_col", *[pl.col(f"_out{i}").alias(name) for i, name in enumerate(kinds)]
        )
        return PipelineResult(pipeline, bars.assets, self._row_of, renamed, kinds)

    def _base_frame(self, n_rows: int) -> tuple[pl.DataFrame, npt.NDArray[np.bool_]]:
        bars = self.bars
        n_assets = bars.shape[1]
        close = bars.floats["close"][:n_rows]
        seen = np.maximum.accumulate(~np.isnan(close), axis=0) if n_rows else close.astype(bool)
        days = np.asarray(bars.sessions[:n_rows], dtype="datetime64[D]")
        exists = seen.copy()
        for j, asset in enumerate(bars.assets):
            if asset.end_date is not None:  # known metadata, like Zipline's asset lifetimes
                exists[:, j] &= days < np.datetime64(asset.end_date, "D")
            if asset.start_date is not None:
                exists[:, j] &= days >= np.datetime64(asset.start_date, "D")
        columns: dict[str, Any] = {
            "_row": np.tile(np.arange(n_rows, dtype=np.int32), n_assets),
            "_col": np.repeat(np.arange(n_assets, dtype=np.int32), n_rows),
            "_sid": np.repeat(np.asarray([a.sid for a in bars.assets], dtype=np.int64), n_rows),
            "_exists": exists.T.ravel(),
        }
        for field in OHLCV:
            columns[field] = bars.floats[field][:n_rows].T.ravel()
        frame = pl.DataFrame(columns).with_columns([pl.col(f).fill_nan(None) for f in OHLCV])
        return frame, exists


def run_pipeline(
    pipeline: Pipeline, bars: BarArrays, start: Any, end: Any, calendar: Any = None
) -> Any:
    """Research helper: the pipeline for every session of ``bars`` from ``start`` to ``end``,
    as Zipline's ``run_pipeline`` frame (MultiIndex ``(session, asset)``)."""
    import pandas as pd

    lo, hi = pd.Timestamp(start).date(), pd.Timestamp(end).date()
    days = [d for d in bars.sessions.tolist() if lo <= d <= hi]
    engine = PipelineEngine(bars, days)
    result = engine.compute(pipeline)
    frames = {pd.Timestamp(d): result.output(d) for d in days}
    return pd.concat(frames, names=[None, None]) if frames else pd.DataFrame()
