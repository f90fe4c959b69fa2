"""``rbt ingest``: read a data source, validate everything, write a bundle atomically.

Steps: resolve the source through the plugin manager, read every symbol
(batched when the source supports :class:`~rbt.data.source.BatchDataSource`),
validate (:mod:`rbt.data.validate`), place bars on the calendar (a daily bar's
``ts`` is its session close; an intraday bar's session is the first session
closing at or after it), write the Parquet bundle atomically, then record the
assets in the database. Any failure leaves the previous bundle and its
database rows untouched.

Sids are deterministic: the sorted symbols get ``0..N-1``.

.. versionadded:: 0.1
"""

from __future__ import annotations

import contextlib
import datetime as dt
import inspect
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import attrs
import numpy as np
import polars as pl

from rbt.data.actions import ADJUSTMENTS, FUNDING, actions_frames
from rbt.data.assets_sqlite import ASSET_COLUMNS, is_current, record_bundle_sqlite
from rbt.data.bundles import (
    Manifest,
    bundle_lock,
    check_bundle_name,
    finish_publish,
    rollback_publish,
    write_bundle,
)
from rbt.data.exact import to_mantissas
from rbt.data.home import RbtHome
from rbt.data.runs import run_starts
from rbt.data.source import (
    BAR_COLUMNS,
    LINE_COLUMN,
    PRICE_FIELDS,
    BarBatch,
    BatchDataSource,
    DataSource,
)
from rbt.data.validate import check_batch, check_sessions
from rbt.kernel.clock import Frequency, TradingCalendar
from rbt.kernel.errors import ConfigError, SchemaError
from rbt.kernel.manager import RbtPluginManager
from rbt.kernel.registry import ProviderKind

__all__ = ["Progress", "ingest"]

#: ``progress(symbol, done, total)`` after each symbol is read.
Progress = Callable[[str, int, int], None]
_BATCH = 64  # symbols parsed per vectorized pass: bounded memory, regular progress
_NS_PER_DAY = 86_400_000_000_000
#: ``assets.parquet``: the database's asset columns (less ``bundle``) and ``bar_count``
_ASSET_TABLE = (*(c for c in ASSET_COLUMNS if c not in ("bundle", "note")), "bar_count", "note")


def ingest(
    home: RbtHome | None,
    source_name: str,
    bundle_name: str,
    options: Mapping[str, Any] | None = None,
    progress: Progress | None = None,
    manager: RbtPluginManager | None = None,
) -> Manifest:
    """Ingest ``source_name`` into bundle ``bundle_name``.

    :param home: the RBT home (default: ``$RBT_HOME``).
    :param source_name: a ``DATA_SOURCE`` provider name (``csv``, ``demo``, ...).
    :param bundle_name: the bundle to create or replace.
    :param options: keyword arguments of the source's factory (``path``, ``tz``, ...).
    :param progress: called with ``(symbol, done, total)`` as symbols are read.
    :param manager: plugin manager (default: built-ins plus installed plugins).
    :return: the new bundle's manifest.
    :raises SchemaError: for bad input, naming file, line and field; nothing is written.
    :raises ConfigError: for unknown options or an unknown calendar.
    """
    home = home or RbtHome()
    check_bundle_name(bundle_name)
    database = _Database(home)
    try:
        return _ingest(home, source_name, bundle_name, options, progress, manager, database)
    finally:
        database.wait()  # never leave the thread working on a home the caller may remove


def _ingest(
    home: RbtHome,
    source_name: str,
    bundle_name: str,
    options: Mapping[str, Any] | None,
    progress: Progress | None,
    manager: RbtPluginManager | None,
    database: _Database,
) -> Manifest:
    from rbt.plugins.calendars import get_calendar

    if manager is None:
        from rbt.plugins import plugin_manager

        manager = plugin_manager()
    provider = manager.get_provider(ProviderKind.DATA_SOURCE, source_name)
    source: DataSource = _create(provider.load(), source_name, dict(options or {}))
    symbols = sorted(source.symbols())
    if not symbols:
        raise SchemaError(f"data source {source_name!r} has no symbols to ingest")
    if len(set(symbols)) != len(symbols):
        raise SchemaError(f"data source {source_name!r} lists a symbol twice")
    calendar = get_calendar(source.calendar)
    batches = _read(source, symbols, progress, source.frequency)
    frames, scales = _combine(batches)
    bars = _place_on_calendar(frames, batches, source.frequency, calendar)
    assets = _asset_table(source, symbols, bars, scales, calendar.name)
    bars = _rescale(bars, assets, scales)
    order = _time_order(bars)  # the writer threads gather each year's rows in this order
    extra = _actions(source, symbols, source_name)
    first, last = bars["ts"].min(), bars["ts"].max()
    meta = {
        "source": source_name,
        "source_options": _jsonable(source.options),
        "note": " ".join(sorted({source.asset_info(s).note for s in symbols} - {""})),
        "frequency": source.frequency.value,
        "calendar": calendar.name,
        "first": _iso(first),
        "last": _iso(last),
        "first_session": bars["session"].min().isoformat(),  # type: ignore[union-attr]
        "last_session": bars["session"].max().isoformat(),  # type: ignore[union-attr]
        "asset_count": len(symbols),
        "row_count": bars.height,
    }
    with bundle_lock(home, bundle_name):
        published = write_bundle(home, bundle_name, bars, assets, meta, extra, order)
        try:
            database.record(published.manifest, assets)
        except BaseException:
            rollback_publish(home, published)
            raise
        finish_publish(published)
    return published.manifest


class _Database:
    """Records the bundle's assets; imports the database code while the bars are read.

    An existing SQLite database at the newest migration is written with :mod:`sqlite3`
    (:mod:`rbt.data.assets_sqlite`: no SQLAlchemy import at all). Otherwise a thread
    imports SQLAlchemy/Alembic meanwhile — a few hundred ms of mostly pure-Python work
    that overlaps polars' parsing (which releases the GIL); a failure there is ignored
    (``record`` imports again and reports it). The database itself is only opened (created,
    migrated) in ``record``, after the bundle is written and under its lock: bad input
    writes nothing, not even an empty database.
    """

    def __init__(self, home: RbtHome) -> None:
        self._home = home
        self._current = is_current(home)
        self._thread: threading.Thread | None = None
        if not self._current:
            self._thread = threading.Thread(target=self._warm_up, name="rbt-ingest-db", daemon=True)
            self._thread.start()

    @staticmethod
    def _warm_up() -> None:
        with contextlib.suppress(Exception):
            # what open_database's migration check runs
            import alembic.command
            import alembic.config
            import alembic.runtime.migration  # noqa: F401
            import sqlalchemy.dialects.sqlite  # noqa: F401

            import rbt.data.assets_db  # noqa: F401  (the ORM tables record_bundle uses)

    def record(self, manifest: Manifest, assets: pl.DataFrame) -> None:
        """Replace the bundle's rows (one transaction)."""
        if self._current and record_bundle_sqlite(self._home, manifest, assets):
            return
        self.wait()
        from rbt.data.assets_db import record_bundle

        record_bundle(self._home, manifest, assets)

    def wait(self) -> None:
        """Until the warm-up thread (if any) is done."""
        if self._thread is not None:
            self._thread.join()


def _actions(
    source: DataSource, symbols: Sequence[str], source_name: str
) -> dict[str, pl.DataFrame | None]:
    """The source's corporate actions and funding rates (optional methods), validated."""
    read_adj = getattr(source, "corporate_actions", None)
    read_fund = getattr(source, "funding_rates", None)
    adjustments = read_adj() if callable(read_adj) else None
    funding = read_fund() if callable(read_fund) else None
    sid_of = {symbol: sid for sid, symbol in enumerate(symbols)}
    adj, fund = actions_frames(adjustments, funding, sid_of, source_name)
    return {ADJUSTMENTS: adj, FUNDING: fund}


def _create(factory: Callable[..., Any], name: str, options: dict[str, Any]) -> Any:
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):
        return factory(**options)
    params = signature.parameters
    if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        unknown = sorted(set(options) - set(params))
        if unknown:
            accepted = ", ".join(n for n in params if n != "self") or "none"
            raise ConfigError(
                f"data source {name!r} has no option {', '.join(unknown)}; options: {accepted}"
            )
        missing = [
            n
            for n, p in params.items()
            if p.default is p.empty and p.kind is not p.VAR_POSITIONAL and n not in options
        ]
        if missing:
            raise ConfigError(
                f"data source {name!r} needs option {', '.join(missing)} "
                f"(e.g. --option {missing[0]}=...)"
            )
    return factory(**options)


def _read(
    source: DataSource, symbols: Sequence[str], progress: Progress | None, frequency: Frequency
) -> list[BarBatch]:
    total = len(symbols)
    chunks = [(lo, symbols[lo : lo + _BATCH]) for lo in range(0, total, _BATCH)]
    if not isinstance(source, BatchDataSource):
        batches = []
        for lo, chunk in chunks:
            batch = _batch_from_frames(source, chunk, progress, lo, total)
            check_batch(batch)
            batches.append(batch)
        return batches

    def read(chunk: Sequence[str]) -> BarBatch:
        batch = _conform(source.read_batch(chunk), frequency)
        check_batch(batch)
        return batch

    workers = 2 if getattr(source, "thread_safe_batches", False) and len(chunks) > 1 else 1
    if workers == 1:
        results: Iterator[BarBatch] = map(read, (chunk for _, chunk in chunks))
    else:
        # Two batches at a time: one's Python/numpy work overlaps the other's parsing
        # (polars and numpy release the GIL). Results are taken in order, so the first
        # bad file in symbol order is the one reported.
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="rbt-ingest")
        futures = [pool.submit(read, chunk) for _, chunk in chunks]
        results = (f.result() for f in futures)
    batches = []
    try:
        for (lo, chunk), batch in zip(chunks, results, strict=True):
            batches.append(batch)
            if progress is not None:
                for i, symbol in enumerate(chunk, start=lo + 1):
                    progress(symbol, i, total)
    finally:
        if workers > 1:
            pool.shutdown(cancel_futures=True)
    return batches


def _batch_from_frames(
    source: DataSource, symbols: Sequence[str], progress: Progress | None, done: int, total: int
) -> BarBatch:
    frames, price_scales, volume_scales, origins = [], [], [], []
    for index, symbol in enumerate(symbols):
        origin = source.origin(symbol)
        frame = source.read(symbol)
        missing = [c for c in BAR_COLUMNS if c not in frame.columns]
        if missing:
            raise SchemaError(
                f"{origin}: frame of {symbol} lacks column(s) {', '.join(missing)}; "
                f"expected {', '.join(BAR_COLUMNS)}"
            )
        frame, price_scale = to_mantissas(frame, PRICE_FIELDS, origin)
        frame, volume_scale = to_mantissas(frame, ("volume",), origin)
        keep = [*BAR_COLUMNS, *([LINE_COLUMN] if LINE_COLUMN in frame.columns else [])]
        frame = frame.select(keep).with_columns(
            _utc(frame["ts"], source.frequency, origin),
            pl.lit(index, dtype=pl.UInt32).alias("symbol_index"),
        )
        frames.append(frame.select("symbol_index", *keep))
        price_scales.append(price_scale)
        volume_scales.append(volume_scale)
        origins.append(origin)
        if progress is not None:
            progress(symbol, done + index + 1, total)
    return BarBatch(
        symbols=tuple(symbols),
        frame=pl.concat(frames, how="diagonal_relaxed"),
        price_scales=tuple(price_scales),
        volume_scales=tuple(volume_scales),
        origins=tuple(origins),
    )


def _conform(batch: BarBatch, frequency: Frequency) -> BarBatch:
    """``batch`` with the dtypes the steps after assume (itself when it has them already).

    A :class:`BatchDataSource` is third-party code: its daily ``ts`` may be a
    ``pl.Datetime`` (taken as the session date, local to its time zone), its mantissas
    any integer type, its intraday times any unit or time zone.
    """
    frame = batch.frame
    schema = frame.schema
    where = f"{batch.origins[0] if batch.origins else 'batch'} (batch of {len(batch.symbols)})"
    missing = [c for c in ("symbol_index", *BAR_COLUMNS) if c not in schema]
    if missing:
        raise SchemaError(
            f"{where}: frame lacks column(s) {', '.join(missing)}; "
            f"expected symbol_index, {', '.join(BAR_COLUMNS)}"
        )
    fixes: list[pl.Expr] = []
    for name in ("symbol_index", *PRICE_FIELDS, "volume"):
        dtype = schema[name]
        if not dtype.is_integer():
            raise SchemaError(
                f"{where}: column {name!r} has dtype {dtype}; expected integer mantissas (Int64)"
            )
        wanted = pl.UInt32 if name == "symbol_index" else pl.Int64
        if dtype != wanted:
            fixes.append(pl.col(name).cast(wanted))
    ts = schema["ts"]
    if frequency is Frequency.DAILY:
        if isinstance(ts, pl.Datetime):
            fixes.append(pl.col("ts").dt.date())
        elif ts != pl.Date:
            raise SchemaError(
                f"{where}: column 'ts' has dtype {ts}; daily bars need pl.Date session labels"
            )
    elif not isinstance(ts, pl.Datetime) or ts.time_zone is None:
        raise SchemaError(
            f"{where}: column 'ts' has dtype {ts}; intraday bars need "
            'pl.Datetime("ns", "UTC") end times'
        )
    elif ts != pl.Datetime("ns", "UTC"):
        fixes.append(pl.col("ts").dt.convert_time_zone("UTC").dt.cast_time_unit("ns"))
    return attrs.evolve(batch, frame=frame.with_columns(fixes)) if fixes else batch


def _utc(ts: pl.Series, frequency: Frequency, origin: str) -> pl.Series:
    dtype = ts.dtype
    if frequency is Frequency.DAILY:
        if dtype != pl.Date:
            raise SchemaError(
                f"{origin}: column 'ts' has dtype {dtype}; daily bars need pl.Date session labels"
            )
        return ts
    if not isinstance(dtype, pl.Datetime) or dtype.time_zone is None:
        raise SchemaError(
            f"{origin}: column 'ts' has dtype {dtype}; intraday bars need "
            'pl.Datetime("ns", "UTC") end times'
        )
    return ts.dt.convert_time_zone("UTC").dt.cast_time_unit("ns")


def _combine(batches: Sequence[BarBatch]) -> tuple[list[pl.DataFrame], dict[str, Any]]:
    """Each batch's bars with global sids, and every symbol's scales."""
    frames, offset = [], 0
    price_scales: list[int] = []
    volume_scales: list[int] = []
    for batch in batches:
        frames.append(
            batch.frame.select(
                (pl.col("symbol_index").cast(pl.UInt32) + offset).alias("sid"),
                *BAR_COLUMNS,  # (line numbers stay in the batches, for messages)
            )
        )
        offset += len(batch.symbols)
        price_scales += batch.price_scales
        volume_scales += batch.volume_scales
    scales = {
        "price": np.array(price_scales, dtype=np.int64),
        "volume": np.array(volume_scales, dtype=np.int64),
    }
    return frames, scales


def _place_on_calendar(
    frames: Sequence[pl.DataFrame],
    batches: Sequence[BarBatch],
    frequency: Frequency,
    calendar: TradingCalendar,
) -> pl.DataFrame:
    """All bars with ``ts`` (bar end, UTC ns) and ``session`` (its session date).

    Placed frame by frame, then concatenated: adding a column to the concatenated
    (chunked) frame would copy every column into one chunk.
    """
    epoch = dt.date(1970, 1, 1)
    if frequency is Frequency.DAILY:
        days = [f["ts"].to_physical().to_numpy() for f in frames]  # int32 days since 1970
        lo, hi = min(int(d.min()) for d in days), max(int(d.max()) for d in days)
        sessions = list(
            calendar.sessions(epoch + dt.timedelta(days=lo), epoch + dt.timedelta(days=hi))
        )
        # session index of every day in [lo, hi] (-1: not a session): one gather per bar
        known = np.array([d.toordinal() for d in sessions], dtype=np.int64) - epoch.toordinal()
        slot = np.full(hi - lo + 1, -1, dtype=np.int64)
        slot[known - lo] = np.arange(len(known))
        indexes = [slot[d - lo] for d in days]
        if any((index < 0).any() for index in indexes):
            for batch in batches:  # words the error: file, line, date
                check_sessions(batch, frequency, sessions, calendar.name)
            raise AssertionError("a bar off the calendar was not reported")  # pragma: no cover
        closes = np.array([calendar.session_times(d).close for d in sessions], dtype=np.int64)
        return pl.concat(
            (
                f.rename({"ts": "session"}).with_columns(pl.Series("ts", closes[index]))
                for f, index in zip(frames, indexes, strict=True)
            ),
            how="vertical_relaxed",  # (a third-party batch's dtypes may still differ)
        )
    for batch in batches:
        check_sessions(batch, frequency, (), calendar.name)
    stamps = [f["ts"].dt.cast_time_unit("ns").to_physical().to_numpy() for f in frames]
    first = epoch + dt.timedelta(days=min(int(ns.min()) for ns in stamps) // _NS_PER_DAY - 7)
    last = epoch + dt.timedelta(days=max(int(ns.max()) for ns in stamps) // _NS_PER_DAY + 7)
    sessions = list(calendar.sessions(first, last))
    closes = np.array([calendar.session_times(d).close for d in sessions], dtype=np.int64)
    # first session closing at or after the bar
    indexes = [np.searchsorted(closes, ns, side="left") for ns in stamps]
    if any((index >= len(sessions)).any() for index in indexes):
        raise SchemaError(
            f"bars after {sessions[-1] if sessions else first} are beyond the "
            f"{calendar.name} calendar's last session"
        )
    labels = np.array(sessions, dtype="datetime64[D]")
    return pl.concat(
        (
            f.with_columns(pl.Series("ts", ns), pl.Series("session", labels[index]))
            for f, ns, index in zip(frames, stamps, indexes, strict=True)
        ),
        how="vertical_relaxed",
    )


def _decimal_places(value: Decimal) -> int:
    exponent = value.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def _asset_table(
    source: DataSource,
    symbols: Sequence[str],
    bars: pl.DataFrame,
    scales: dict[str, Any],
    calendar_name: str,
) -> pl.DataFrame:
    span = _spans(bars)
    rows = []
    for sid, symbol in enumerate(symbols):
        info = source.asset_info(symbol)
        data_scale = int(scales["price"][sid])
        tick = info.tick_size if info.tick_size is not None else Decimal(1).scaleb(-data_scale)
        # Store prices with at least the tick's decimals, so every tick price is representable.
        price_scale = max(data_scale, _decimal_places(tick))
        rows.append(
            {
                "sid": sid,
                "symbol": symbol,
                "asset_class": info.asset_class.value,
                "exchange": info.exchange,
                # the bundle calendar's canonical name when the asset trades on it
                "calendar": calendar_name
                if info.calendar.lower() == calendar_name.lower()
                else info.calendar,
                "quote_currency": info.quote_currency,
                "tick_size": str(tick),
                "lot_size": str(info.lot_size),
                "min_notional": str(info.min_notional),
                "multiplier": str(info.multiplier),
                "price_scale": price_scale,
                "volume_scale": int(scales["volume"][sid]),
                "auto_close_date": info.auto_close_date,
                "note": info.note,
            }
        )
    table = pl.DataFrame(rows, schema_overrides={"sid": pl.UInt32, "auto_close_date": pl.Date})
    table = table.join(span, on="sid", how="left")
    return table.select(_ASSET_TABLE)


def _spans(bars: pl.DataFrame) -> pl.DataFrame:
    """First and last session and bar count of each sid.

    The rows of a sid are contiguous and sorted by time here (``check_batch``), so
    these are the ends of each run of equal sids.
    """
    sid = bars["sid"].to_numpy()
    starts = run_starts(sid)
    if len(np.unique(sid[starts])) != len(starts):  # not contiguous after all: aggregate
        return (
            bars.group_by("sid")
            .agg(
                pl.col("session").min().alias("start_date"),
                pl.col("session").max().alias("end_date"),
                pl.len().alias("bar_count"),
            )
            .sort("sid")
        )
    ends = np.r_[starts[1:], len(sid)] - 1
    session = bars["session"]
    return pl.DataFrame(
        {
            "sid": pl.Series(sid[starts], dtype=pl.UInt32),
            "start_date": session.gather(starts),
            "end_date": session.gather(ends),
            "bar_count": pl.Series(ends - starts + 1, dtype=pl.UInt32),
        }
    )


def _rescale(bars: pl.DataFrame, assets: pl.DataFrame, scales: dict[str, Any]) -> pl.DataFrame:
    raise_by = assets["price_scale"].to_numpy() - scales["price"]
    if not raise_by.any():
        return bars
    factor = pl.Series(10**raise_by, dtype=pl.Int64).gather(bars["sid"])
    return bars.with_columns([(pl.col(c) * factor).alias(c) for c in PRICE_FIELDS])


def _time_order(bars: pl.DataFrame) -> np.ndarray[Any, np.dtype[np.int64]]:
    """The rows of ``bars`` in ``(ts, sid)`` order.

    numpy's lexsort finds the sorted runs (each symbol's rows already are), which makes it
    several times faster than a two-key ``DataFrame.sort`` here. Dense bars (every sid, in
    ascending order, with the same times: the usual daily universe) need no sort at all:
    the order is a transpose.
    """
    sid, ts = bars["sid"].to_numpy(), bars["ts"].to_numpy()
    starts = run_starts(sid)
    rows = len(sid) // max(len(starts), 1)
    if len(starts) * rows == len(sid) and len(sid):
        by_sid, times = sid.reshape(-1, rows), ts.reshape(-1, rows)
        if (
            (np.diff(by_sid[:, 0].astype(np.int64)) > 0).all()
            and (by_sid == by_sid[:, :1]).all()
            and (times == times[0]).all()
        ):
            return np.arange(len(sid), dtype=np.int64).reshape(-1, rows).T.ravel()
    return np.lexsort((sid, ts))


def _iso(value: Any) -> str:
    # bar end times are UTC ns; show them as ISO text in the manifest
    stamp = dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=int(value) // 1000)
    return stamp.isoformat()


def _jsonable(options: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in options.items():
        if value is None or isinstance(value, bool | int | str):
            out[key] = value
        elif isinstance(value, Mapping):
            out[key] = _jsonable(value)
        else:
            out[key] = str(value)
    return out
