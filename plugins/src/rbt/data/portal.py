"""The backtest data portal over in-memory :class:`~rbt.data.bars.BarArrays`.

Point in time: the cursor is the last bar *visible* at the clock's time. A
daily bar becomes visible at its session's close, a minute bar at its end.
``history`` windows end at the cursor and are array views, so asking for the
same universe every bar builds no frame and copies nothing (``frame="numpy"``).
Windows reaching before the first bar are padded with NaN.

**Corporate actions, point in time.** Bars are stored as traded. A split or
dividend becomes *known* once the last session before its ex-date has closed.
``history`` windows are adjusted (Zipline's way: prices before the ex-date ×
``1/ratio`` for a split and × ``1 − amount / previous close`` for a dividend,
volumes × ``ratio`` for a split) for known actions only, so a window ending at
*t* never reflects an action with a later ex-date. The forward-filled
``price`` (and ``exact_price``, for splits, exactly) of an asset whose last bar
is before a known action is adjusted too. When no known action falls in a
window, the window is the same read-only array view as without actions.

**Daily history from minute bars.** ``history(..., "1d")`` on a minute bundle
aggregates each session's minutes (first open, highest high, lowest low, last
close, summed volume; NaN for a session without a bar of that asset). The
last row is the *current* session's partial bar, built only from the minutes
visible at the cursor (none at ``before_trading_start``: the window then ends
with the previous, complete session). Labels are session dates.
"""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from decimal import Decimal
from operator import attrgetter, is_
from typing import Any

import numpy as np
import numpy.typing as npt

from rbt.data.bars import OHLCV, BarArrays
from rbt.data.frames import owned, window_frame
from rbt.kernel.clock import Frequency, TradingCalendar
from rbt.kernel.errors import DataError
from rbt.kernel.model import Asset
from rbt.kernel.numeric import EXACT_CONTEXT, ledger_context
from rbt.kernel.portal import advance_each

__all__ = ["BarPortal", "read_only"]

_FIELDS = (*OHLCV, "price")
_SID = attrgetter("sid")
_FREQUENCIES = {f.value: f for f in Frequency}  # the canonical spellings, parsed once
_FRAMES = ("pandas", "numpy", "polars")
#: Below this many times (a daily session's one bar) walk() advances bar by bar: one
#: search over the arrays costs more than a few cursor steps.
_WALK_SEARCH_MIN = 8


def _universe_key(universe: Any) -> tuple[Any, list[Asset] | None] | None:
    """What a per-universe cache keeps to recognise ``universe`` on the next call: the object
    itself, plus a copy for a list (compared element by element, identity first); a tuple is
    immutable, the same object has the same assets. None: another type, not cached."""
    if universe.__class__ is tuple:
        return universe, None
    if universe.__class__ is list:
        return universe, list(universe)
    return None


def read_only(values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """A read-only view of ``values``: every slice of it is read-only too, so a history
    window handed to a strategy cannot write into the bars (``values`` itself stays
    writable for whoever fills it)."""
    view = values.view()
    view.flags.writeable = False
    return view


#: From this many columns a row-by-row running maximum beats ``np.maximum.accumulate``
#: down the columns, which strides through memory a row apart (L's 500 columns: 15 → 3 ms).
_WIDE = 128


def last_bar_rows(close: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    """``out[t, i]``: the latest row ``<= t`` where column ``i`` has a bar (a non-NaN
    close), -1 before its first."""
    rows = np.where(np.isnan(close), -1, np.arange(close.shape[0])[:, None])
    if close.shape[1] < _WIDE:
        return np.maximum.accumulate(rows, axis=0)
    maximum = np.maximum
    for t in range(1, len(rows)):  # each row a contiguous vector step
        maximum(rows[t - 1], rows[t], out=rows[t])
    return rows


class BarPortal:
    """A :class:`~rbt.kernel.portal.DataPortal` over bar arrays.

    :param bars: the bundle's arrays.
    :param calendar: the bundle's calendar (daily bars are visible from the close).
    """

    #: The arrays (``bars`` and what is derived from them) stay the same objects for the
    #: whole run: what was read from them at a bar can be read again later.
    fixed_arrays = True

    def __init__(self, bars: BarArrays, calendar: TradingCalendar) -> None:
        self.bars = bars
        self.calendar = calendar
        if bars.frequency is Frequency.DAILY:
            visible = [calendar.session_times(d).close for d in bars.sessions.tolist()]
            self._visible = np.asarray(visible, dtype=np.int64)
        else:
            self._visible = np.asarray(bars.ts, dtype=np.int64)
        #: Index of the cursor bar (-1 before the first bar), and the current time (UTC ns):
        #: plain attributes, read several times per bar; only :meth:`advance` and
        #: :meth:`walk` move them.
        self.row = -1
        self.now = -(2**63)
        self._floats = self._read_only_fields()
        self._columns: dict[tuple[int, ...], slice | npt.NDArray[np.intp]] = {}
        # the last numpy history call's (assets, their copy, frequency, columns)
        self._fast_history: tuple[Any, list[Asset] | None, str, Any] | None = None
        self._price: npt.NDArray[np.float64] | None = None
        self._last_row: npt.NDArray[np.int64] | None = None
        self._every_bar: bool | None = None  # every column has a bar at every row
        self._pad: dict[tuple[int, int], npt.NDArray[np.float64]] = {}
        self._adj = (
            _Adjustments.build(self) if (bars.actions.splits or bars.actions.dividends) else None
        )
        self._daily: dict[str, npt.NDArray[np.float64]] | None = None
        self._session_start: npt.NDArray[np.int64] | None = None
        self._session_of_row: npt.NDArray[np.int64] | None = None
        # pandas history: the bars' whole time index (built once the same timestamps array
        # is seen twice: a growing portal replaces it every bar), and the last universe's
        # column index
        self._pd_index: tuple[Any, Any] | None = None
        self._pd_seen: Any = None
        self._pd_columns: tuple[Any, list[Asset] | None, Any] | None = None
        # can_trade_each: the last universe's listing dates (its assets, by identity)
        self._listings: tuple[tuple[Asset, ...], _Listings | None] | None = None

    # -- cursor ------------------------------------------------------------------
    def advance(self, ts: int) -> None:
        """Move the cursor to the last bar visible at ``ts``."""
        if ts < self.now:
            raise DataError(f"portal cannot move backwards in time ({ts} < {self.now})")
        self.now = ts
        visible = self._visible
        nxt = self.row + 1
        n = len(visible)
        # time only moves forward: most events leave the cursor or move it by one bar
        # (item(): a Python int, compared without a numpy scalar)
        if nxt >= n or visible.item(nxt) > ts:
            return
        if nxt + 1 >= n or visible.item(nxt + 1) > ts:
            self.row = nxt
            return
        self.row = int(np.searchsorted(visible, ts, side="right")) - 1

    def walk(self, times: Sequence[int]) -> Iterator[int]:
        """Yield each of ``times`` (ascending) with the cursor advanced to it: what
        ``for ts in times: advance(ts)`` does, for a session's bars.

        A minute session's cursor rows come from one search over the arrays; each bar
        then only sets the cursor (a portal that moves its cursor otherwise, or whose
        arrays grow, advances bar by bar).
        """
        if (
            len(times) < _WALK_SEARCH_MIN
            or not self.fixed_arrays
            or type(self).advance is not BarPortal.advance
        ):
            return advance_each(self, times)
        if isinstance(times, range):  # a minute session's bar ends (SimClock): ascending
            if times.step <= 0 or times[0] < self.now:
                return advance_each(self, times)  # raises where advance() raises
            stamps = np.arange(times.start, times.stop, times.step, dtype=np.int64)
        else:
            stamps = np.asarray(times, dtype=np.int64)
            if stamps.item(0) < self.now or (np.diff(stamps) < 0).any():
                return advance_each(self, times)  # raises where advance() raises
            times = stamps.tolist()
        rows = np.searchsorted(self._visible, stamps, side="right") - 1
        return self._set_each(times, rows.tolist())

    def _set_each(self, times: Sequence[int], rows: list[int]) -> Iterator[int]:
        for ts, row in zip(times, rows, strict=True):
            if ts < self.now:  # moved past ts meanwhile (a nested advance): as advance()
                raise DataError(f"portal cannot move backwards in time ({ts} < {self.now})")
            self.now = ts
            self.row = row
            yield ts

    # -- derived arrays, built once on first use ------------------------------------
    def _read_only_fields(self) -> dict[str, npt.NDArray[np.float64]]:
        """Each field of :attr:`bars` as a read-only view, for the windows to slice."""
        return {field: read_only(values) for field, values in self.bars.floats.items()}

    def _prices(self) -> npt.NDArray[np.float64]:
        if self._price is None:
            if self._adj is None and self._no_gaps():  # nothing to fill: the closes
                self._price = read_only(self.bars.floats["close"])
                return self._price
            last = self._last_rows()
            price = self.bars.floats["close"][last, np.arange(self.bars.shape[1])]
            price[last < 0] = np.nan
            if self._adj is not None:  # forward-filled across an ex-date: in post-action units
                self._adj.bake_forward_fill(price, last)
            self._price = read_only(price)  # its rows and windows go to strategies
        return self._price

    def price_row(self) -> npt.NDArray[np.float64]:
        """Forward-filled closes of every asset at the cursor (NaN before a first bar).

        Adjusted for actions already known whose ex-date's first bar is not yet visible
        (e.g. in ``before_trading_start`` of an ex-date).
        """
        if self._adj is None:  # the usual case: one row of the cached array
            prices = self._price if self._price is not None else self._prices()
            return prices[self.row]  # type: ignore[no-any-return]
        return self.price_row_as_of(self.row, self.now)

    def fixed_price_table(self) -> npt.NDArray[np.float64] | None:
        """Forward-filled closes, rows × assets, whose row ``r`` is what :meth:`price_row`
        returns with the cursor at ``r`` for the whole run; None when there is no such
        table (arrays that grow, or corporate actions adjusting the row before its bar)."""
        if not self.fixed_arrays or self._adj is not None:
            return None
        return self._prices()

    def price_at(self, col: int) -> float:
        """``price_row()[col]`` as a Python float, without building the row."""
        if self._adj is None:
            return self._prices().item(self.row, col)
        return self.price_row().item(col)

    def price_row_as_of(self, row_index: int, now: int) -> npt.NDArray[np.float64]:
        """:meth:`price_row` as it was with the cursor at ``row_index`` and time ``now``."""
        row: npt.NDArray[np.float64] = self._prices()[row_index]
        if self._adj is not None:
            pending = self._adj.pending(now, row_index)
            if pending.size:
                row = row.copy()
                for k in pending:
                    row[self._adj.col[k]] *= self._adj.pfac[k]
        return row

    def _last_rows(self) -> npt.NDArray[np.int64]:
        # last_row[t, i]: the latest row <= t where asset i has a bar (-1 if none yet)
        if self._last_row is None:
            close = self.bars.floats["close"]
            if self._no_gaps():  # row t's own bar, for every column: no array of them
                rows = np.arange(close.shape[0], dtype=np.int64)[:, None]
                self._last_row = np.broadcast_to(rows, close.shape)
            else:
                self._last_row = last_bar_rows(close)
        return self._last_row

    def _no_gaps(self) -> bool:
        """Whether every asset has a bar at every row (no NaN close), for the whole run:
        then the latest bar at a row is the row's own, and the forward-filled closes are
        the closes. Never for arrays that grow."""
        if self._every_bar is None:
            # a NaN anywhere makes the sum NaN (so may +inf and -inf: then the general
            # path, which is right for any bars); one pass, nothing allocated
            close = self.bars.floats["close"]
            self._every_bar = self.fixed_arrays and not np.isnan(np.sum(close))
        return self._every_bar

    def _field(self, field: str) -> npt.NDArray[np.float64]:
        if field == "price":
            return self._prices()
        try:
            return self._floats[field]
        except KeyError:
            raise DataError(
                f"unknown bar field {field!r}; expected one of {', '.join(_FIELDS)}"
            ) from None

    def _cols(self, assets: Sequence[Asset]) -> slice | npt.NDArray[np.intp]:
        key = tuple(map(_SID, assets))
        cols = self._columns.get(key)
        if cols is None:
            idx = np.array([self._col(a) for a in assets], dtype=np.intp)
            n = len(idx)
            if n and np.array_equal(idx, np.arange(idx[0], idx[0] + n)):
                cols = slice(int(idx[0]), int(idx[0]) + n)  # contiguous: views, no copy
            else:
                cols = idx
            self._columns[key] = cols
        return cols

    def _col(self, asset: Asset) -> int:
        try:
            return self.bars.column(asset)
        except KeyError:
            raise DataError(f"{asset!r} is not in this bundle") from None

    # -- DataPortal ------------------------------------------------------------------
    def current(self, assets: Asset | Sequence[Asset], fields: str | Sequence[str]) -> Any:
        """Values at the cursor (floats; NaN without a bar; ``price`` forward-fills)."""
        row = self.row
        if isinstance(assets, Asset):
            if isinstance(fields, str):
                return self._scalar(assets, fields, row)
            import pandas as pd

            return pd.Series([self._scalar(assets, f, row) for f in fields], index=list(fields))
        import pandas as pd

        assets = as_sequence(assets)
        index = self.asset_index(assets, assets)
        if isinstance(fields, str):
            return pd.Series(self._row_values(assets, fields, row), index=index, copy=False)
        data = {f: self._row_values(assets, f, row) for f in fields}
        return pd.DataFrame(data, index=index, copy=False)

    def _row_values(self, assets: Sequence[Asset], field: str, row: int) -> npt.NDArray[np.float64]:
        """:meth:`_scalar` of each of ``assets``, as a new array, in one array step."""
        if row < 0:
            return np.full(len(assets), np.nan)
        cols = self._cols(assets)
        values = np.array(self._field(field)[row, cols], dtype=np.float64)
        if field == "price" and self._adj is not None:
            at = np.arange(self.bars.shape[1])[cols]
            for k in self._adj.pending(self.now, row):  # in _scalar's order: the same products
                values[at == self._adj.col[k]] *= float(self._adj.pfac[k])
        return values

    def _scalar(self, asset: Asset, field: str, row: int) -> float:
        if row < 0:
            return float("nan")
        col = self._col(asset)
        value = float(self._field(field)[row, col])
        if field == "price" and self._adj is not None:
            for k in self._adj.pending(self.now, row):
                if self._adj.col[k] == col:
                    value *= float(self._adj.pfac[k])
        return value

    def history(
        self,
        assets: Asset | Sequence[Asset],
        fields: str | Sequence[str],
        bar_count: int,
        frequency: str,
        frame: str = "pandas",
    ) -> Any:
        """The last ``bar_count`` bars up to and including the cursor.

        ``frame="numpy"`` returns a read-only ``float64[bar_count, n_assets]`` array (a
        view of the bars when the assets are adjacent columns: copy it to write to it), or a
        dict ``field -> array`` for several fields. ``"polars"`` returns a frame with a
        ``ts`` column; ``"pandas"`` Zipline's shapes, each the caller's own to write to.
        """
        # the hot path: the same universe list, one field, numpy or pandas, past the
        # padding — one slice (equal to the general path below, which it caches its column
        # lookup from)
        fast = self._fast_history
        if (
            fast is not None
            and fast[0] is assets
            and fast[2] == frequency
            and fields.__class__ is str
            and (frame == "numpy" or frame == "pandas")
            and (fast[1] is None or fast[1] == assets)
        ):
            end = self.row + 1
            start = end - bar_count
            if start >= 0 and bar_count >= 1 and self._adj is None and fields != "price":
                data = self._floats.get(fields)
                if data is not None:
                    cols = fast[3]
                    window = data[start:end, cols]  # a slice: a view of a read-only view
                    if frame == "numpy":
                        if cols.__class__ is not slice:  # a fancy index's copy
                            window.flags.writeable = False
                        return window
                    idx = self._pandas_index(bar_count, self.bars.frequency is Frequency.MINUTE)
                    return self._pandas(
                        assets, assets, (fields,), {fields: window}, idx, False, True
                    )
        if frame not in _FRAMES:
            raise ValueError(f"frame must be one of {', '.join(_FRAMES)}, got {frame!r}")
        if bar_count < 1:
            raise ValueError(f"bar_count must be at least 1, got {bar_count}")
        wanted = _FREQUENCIES.get(frequency) or Frequency.parse(frequency)
        daily_from_minutes = wanted is Frequency.DAILY and self.bars.frequency is Frequency.MINUTE
        if wanted is not self.bars.frequency and not daily_from_minutes:
            raise DataError(
                f"history in {frequency!r} from a {self.bars.frequency.value} bundle is not "
                "supported; a daily bundle serves 1d, a minute bundle 1m and 1d"
            )
        single_asset = isinstance(assets, Asset)
        asset_list: Sequence[Asset] = [assets] if isinstance(assets, Asset) else assets
        single_field = isinstance(fields, str)
        field_list: Sequence[str] = [fields] if isinstance(fields, str) else fields
        cols = self._cols(asset_list)
        if not daily_from_minutes and (frame == "numpy" or frame == "pandas"):
            key = _universe_key(assets)
            if key is not None:
                self._fast_history = (*key, frequency, cols)
        if daily_from_minutes:
            windows = {f: self._daily_window(f, cols, bar_count) for f in field_list}
        else:
            windows = {f: self._window(f, cols, bar_count) for f in field_list}
        if frame == "numpy":
            for w in windows.values():  # copies (padded, adjusted, fancy) as the views are
                w.flags.writeable = False
            if single_field:
                w = windows[field_list[0]]
                return w[:, 0] if single_asset else w
            return {f: (w[:, 0] if single_asset else w) for f, w in windows.items()}
        if frame == "pandas":
            if daily_from_minutes:
                import pandas as pd

                idx = pd.DatetimeIndex(self._daily_index(bar_count))
            else:
                idx = self._pandas_index(bar_count, self.bars.frequency is Frequency.MINUTE)
            return self._pandas(
                assets, asset_list, field_list, windows, idx, single_asset, single_field
            )
        import polars as pl  # the one frame left

        index = self._daily_index(bar_count) if daily_from_minutes else self._index(bar_count)
        columns: dict[str, Any] = {"ts": index}
        for f, w in windows.items():
            for j, a in enumerate(asset_list):
                name = a.symbol if single_field else f"{a.symbol}.{f}"
                columns[name] = w[:, j]
        return pl.DataFrame(columns)

    def _window(
        self, field: str, cols: slice | npt.NDArray[np.intp], bar_count: int
    ) -> npt.NDArray[np.float64]:
        data = self._field(field)
        end = self.row + 1
        start = end - bar_count
        if start >= 0:
            window = data[start:end, cols]  # a view is read-only, as its base is
        else:
            # before the first bar: pad with NaN (documented)
            have = data[0:end, cols] if end > 0 else data[0:0, cols]
            pad = np.full((bar_count - have.shape[0], have.shape[1]), np.nan)
            window = np.concatenate([pad, have])
        if self._adj is not None:
            window = self._adj.adjust(window, field, cols, start, self.now, None)
        return window

    # -- daily bars from minute bars ----------------------------------------------------
    def _sessions_index(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        if self._session_start is None:
            days = self.bars.sessions
            change = np.r_[True, days[1:] != days[:-1]] if len(days) else np.zeros(0, bool)
            self._session_start = np.flatnonzero(change).astype(np.int64)
            self._session_of_row = (np.cumsum(change) - 1).astype(np.int64)
        assert self._session_of_row is not None
        return self._session_start, self._session_of_row

    def _aggregate(
        self, lo: int, hi: int, field: str, cols: slice | npt.NDArray[np.intp]
    ) -> npt.NDArray[np.float64]:
        """One daily row from minute rows ``lo..hi-1`` (of the asset columns ``cols``)."""
        if field == "price":
            return np.asarray(self._prices()[hi - 1, cols], dtype=np.float64)
        block = self._floats[field][lo:hi, cols]
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns give NaN
            if field == "high":
                return np.asarray(np.nanmax(block, axis=0), dtype=np.float64)
            if field == "low":
                return np.asarray(np.nanmin(block, axis=0), dtype=np.float64)
            present = ~np.isnan(block)
            any_bar = present.any(axis=0)
            if field == "volume":
                return np.where(any_bar, np.nansum(block, axis=0), np.nan)
            if field == "open":
                first = np.argmax(present, axis=0)
            else:  # close: the last minute with a bar
                first = block.shape[0] - 1 - np.argmax(present[::-1], axis=0)
            taken = block[first, np.arange(block.shape[1])]
            return np.where(any_bar, taken, np.nan)

    def _daily_full(self, field: str) -> npt.NDArray[np.float64]:
        """Every session's aggregate over all its minutes, all assets (cached per field)."""
        if self._daily is None:
            self._daily = {}
        cached = self._daily.get(field)
        if cached is None:
            starts, _ = self._sessions_index()
            ends = np.r_[starts[1:], len(self.bars.ts)]
            every = slice(0, self.bars.shape[1])
            cached = (
                np.vstack(
                    [
                        self._aggregate(int(a), int(b), field, every)
                        for a, b in zip(starts, ends, strict=True)
                    ]
                )
                if len(starts)
                else np.zeros((0, self.bars.shape[1]))
            )
            self._daily[field] = cached
        return cached

    def _daily_window(
        self, field: str, cols: slice | npt.NDArray[np.intp], bar_count: int
    ) -> npt.NDArray[np.float64]:
        self._field(field)  # unknown fields fail here
        row = self.row
        n_assets = self._cols_count(cols)
        if row < 0:
            return np.full((bar_count, n_assets), np.nan)
        starts, session_of = self._sessions_index()
        k = int(session_of[row])
        partial = self._aggregate(int(starts[k]), row + 1, field, cols)
        full = self._daily_full(field)
        lo = k - (bar_count - 1)
        before = full[max(lo, 0) : k, cols]
        pad = np.full((max(-lo, 0), n_assets), np.nan)
        window = np.concatenate([pad, before, partial[None, :]])
        if self._adj is not None:
            window = self._adj.adjust(window, field, cols, lo, self.now, session_of)
        return window

    def _cols_count(self, cols: slice | npt.NDArray[np.intp]) -> int:
        if isinstance(cols, slice):
            return len(range(*cols.indices(self.bars.shape[1])))
        return len(cols)

    def _daily_index(self, bar_count: int) -> Any:
        if self.row < 0:
            return np.full(bar_count, np.datetime64("NaT", "ns"))
        starts, session_of = self._sessions_index()
        k = int(session_of[self.row])
        lo = max(0, k - bar_count + 1)
        labels = self.bars.sessions[starts[lo : k + 1]].astype("datetime64[ns]")
        missing = bar_count - len(labels)
        if missing:
            labels = np.concatenate([np.full(missing, np.datetime64("NaT", "ns")), labels])
        return labels

    def _index(self, bar_count: int) -> Any:
        end = self.row + 1
        start = max(0, end - bar_count)
        if self.bars.frequency is Frequency.DAILY:
            labels = self.bars.sessions[start:end].astype("datetime64[ns]")
        else:
            labels = self.bars.ts[start:end].astype("datetime64[ns]")
        missing = bar_count - len(labels)
        if missing:
            labels = np.concatenate([np.full(missing, np.datetime64("NaT", "ns")), labels])
        return labels

    def _pandas_index(self, bar_count: int, minute: bool) -> Any:
        """The window's time labels as a pandas index (UTC for minute bars): a slice of the
        bars' whole index when the window is full, else built (NaT-padded) from the labels."""
        import pandas as pd

        start = self.row + 1 - bar_count
        source = self.bars.ts if minute else self.bars.sessions
        if start >= 0:
            cached = self._pd_index
            if cached is None or cached[0] is not source:
                cached = None
                if self._pd_seen is source:  # the same arrays twice: worth indexing once
                    full = pd.DatetimeIndex(np.asarray(source).astype("datetime64[ns]"))
                    cached = self._pd_index = (source, full.tz_localize("UTC") if minute else full)
                self._pd_seen = source
            if cached is not None:
                return cached[1][start : self.row + 1]
        idx = pd.DatetimeIndex(self._index(bar_count))
        return idx.tz_localize("UTC") if minute else idx

    def asset_index(self, universe: Any, assets: Sequence[Asset]) -> Any:
        """``pd.Index(assets)`` for pandas results over ``universe`` (the object the strategy
        passed), its data kept for the same universe (by identity, then equality). Each
        result gets its own view: renaming one index leaves the others as they are."""
        import pandas as pd

        cached = self._pd_columns
        if (
            cached is not None
            and cached[0] is universe
            and (cached[1] is None or cached[1] == universe)
        ):
            return cached[2].view()
        columns = pd.Index(list(assets))
        key = _universe_key(universe)
        if key is not None:
            self._pd_columns = (*key, columns)
        return columns.view()

    def _pandas(
        self,
        universe: Any,
        assets: Sequence[Asset],
        fields: Sequence[str],
        windows: dict[str, npt.NDArray[np.float64]],
        idx: Any,
        single_asset: bool,
        single_field: bool,
    ) -> Any:
        import pandas as pd

        if single_field:
            w = windows[fields[0]]
            if single_asset:  # the strategy's own to write to, as the frames are
                return pd.Series(owned(w[:, 0]), index=idx, name=assets[0])
            return window_frame(w, idx, self.asset_index(universe, assets))
        if single_asset:
            return pd.DataFrame({f: windows[f][:, 0] for f in fields}, index=idx)
        # several assets and fields: Zipline's long frame, index (date, asset)
        n = len(idx)
        tuples = [(d, a) for d in idx for a in assets]
        multi = pd.MultiIndex.from_tuples(tuples)
        data = {f: windows[f].reshape(n * len(assets)) for f in fields}
        return pd.DataFrame(data, index=multi)

    def can_trade(self, asset: Asset) -> bool:
        """Whether ``asset`` is listed now and has traded at least once."""
        if self.row < 0:
            return False
        col = self._col(asset)
        if self._last_rows()[self.row, col] < 0:
            return False
        return _listed_on(asset, self.bars.sessions[self.row].item())

    def can_trade_each(self, assets: Sequence[Asset]) -> npt.NDArray[np.bool_]:
        """:meth:`can_trade` of each of ``assets``: the bars in one array step, the listing
        dates only for assets that have any."""
        if self.row < 0:
            return np.zeros(len(assets), dtype=np.bool_)
        out = self._last_rows()[self.row, self._cols(assets)] >= 0
        cached = self._listings
        if cached is None or len(cached[0]) != len(assets) or not all(map(is_, cached[0], assets)):
            held = tuple(assets)  # the objects: assets equal by sid may list differently
            cached = self._listings = (held, _Listings.of(held))
        listings = cached[1]
        if listings is not None:
            day = int(self.bars.sessions[self.row].astype(np.int64)) + _EPOCH_ORDINAL
            out &= (listings.first <= day) & (day <= listings.last)
        return out

    def is_stale_each(self, assets: Sequence[Asset]) -> npt.NDArray[np.bool_]:
        """:meth:`is_stale` of each of ``assets``, in one array step."""
        if self.row < 0:
            return np.zeros(len(assets), dtype=np.bool_)
        last = self._last_rows()[self.row, self._cols(assets)]
        return (last >= 0) & (last < self.row)

    def is_stale(self, asset: Asset) -> bool:
        """Whether ``asset`` has traded before but has no bar at the cursor."""
        if self.row < 0:
            return False
        col = self._col(asset)
        last = self._last_rows()[self.row, col]
        return bool(0 <= last < self.row)

    def exact_price(self, asset: Asset, field: str) -> Decimal | None:
        """Exact stored value at the cursor; ``close``/``price`` fall back to the last bar."""
        if self.row < 0:
            return None
        col = self._col(asset)
        row = self.row
        if field in ("close", "price"):
            last = int(self._last_rows()[row, col])
            if last < 0:
                return None
            value = self.bars.exact("close", last, col)
            if self._adj is not None:  # a split since that bar: in post-split units, exactly
                for ratio in self._adj.splits_after(self.now, last, col):
                    with ledger_context():
                        value = value / ratio
            return value
        if not self.bars.has_bar(row, col):
            return None
        return self.bars.exact(field, row, col)

    def exact_prices(self, assets: Sequence[Asset], field: str) -> list[Decimal | None]:
        """:meth:`exact_price` for several assets, vectorized for unadjusted closes."""
        if field not in ("close", "price") or self._adj is not None or self.row < 0:
            return [self.exact_price(asset, field) for asset in assets]
        cols = np.fromiter((self._col(a) for a in assets), dtype=np.intp, count=len(assets))
        rows = self._last_rows()[self.row, cols]
        mantissas = self.bars.mantissas["close"][np.maximum(rows, 0), cols].tolist()
        scales = self.bars.price_scales[cols].tolist()
        return [
            None if row < 0 else Decimal(m).scaleb(-s, EXACT_CONTEXT)
            for row, m, s in zip(rows.tolist(), mantissas, scales, strict=True)
        ]

    def deferred_exact_prices(
        self, field: str
    ) -> Callable[[Sequence[Asset]], list[Decimal | None]] | None:
        """:meth:`exact_prices` as of the cursor *now*, to be evaluated later.

        The session hands it to the ledger (``Ledger.defer_marks``) so marking every
        position at every close costs nothing until a mark is read. None when prices
        depend on more than the cursor row (corporate actions) or ``field`` is not a
        forward-filled close: the caller then marks at once.
        """
        if field not in ("close", "price") or self._adj is not None:
            return None
        if self.row < 0:
            return _no_prices
        # this row's last-bar indexes and the arrays they point into: bars are only ever
        # appended (GrowingPortal), so these views keep pricing as of now
        last = self._last_rows()[self.row]
        mantissas = self.bars.mantissas["close"]
        scales = self.bars.price_scales
        col_of = self._col

        def pricer(assets: Sequence[Asset]) -> list[Decimal | None]:
            cols = np.fromiter((col_of(a) for a in assets), dtype=np.intp, count=len(assets))
            rows = last[cols]
            values = mantissas[np.maximum(rows, 0), cols].tolist()
            return [
                None if r < 0 else Decimal(m).scaleb(-s, EXACT_CONTEXT)
                for r, m, s in zip(rows.tolist(), values, scales[cols].tolist(), strict=True)
            ]

        return pricer

    def close_mantissa_source(
        self,
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]] | None:
        """``(last_rows, close mantissas, price scales)``: what :meth:`exact_close_mantissas`
        indexes, for a caller that indexes it per bar itself (``last_rows[t, i]``: the
        latest row <= t with a bar of asset i, -1 before its first). None with corporate
        actions (then prices need adjusting)."""
        if self._adj is not None:
            return None
        return self._last_rows(), self.bars.mantissas["close"], self.bars.price_scales

    def exact_close_mantissas(
        self, cols: npt.NDArray[np.intp]
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]] | None:
        """Forward-filled exact closes of columns ``cols`` at the cursor as integer
        mantissas and decimal scales (value = mantissa / 10**scale).

        None when that is not what :meth:`exact_prices` gives: a column without any
        bar yet, corporate actions in the bundle, or before the first bar.
        """
        if self._adj is not None or self.row < 0:
            return None
        rows = self._last_rows()[self.row, cols]
        if len(rows) and int(rows.min()) < 0:
            return None
        return self.bars.mantissas["close"][rows, cols], self.bars.price_scales[cols]


def as_sequence(assets: Iterable[Asset]) -> Sequence[Asset]:
    """``assets`` as a list or tuple: any other iterable (a generator, a set, a pandas
    Index) is read once, for a result that reads the assets twice (values and index)."""
    if assets.__class__ is list or assets.__class__ is tuple:
        return assets
    return list(assets)


#: ``date.toordinal()`` of 1970-01-01, day 0 of ``datetime64[D]``
_EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()
_FIRST_DAY, _LAST_DAY = dt.date.min.toordinal(), dt.date.max.toordinal()


class _Listings:
    """The listed life of each asset of a universe, as day ordinals: ``first <= session <=
    last`` is :func:`_listed_on` of each."""

    __slots__ = ("first", "last")

    def __init__(self, first: npt.NDArray[np.int64], last: npt.NDArray[np.int64]) -> None:
        self.first = first
        self.last = last

    @classmethod
    def of(cls, assets: Sequence[Asset]) -> _Listings | None:
        """None when no asset has a listing date (every bar is then tradable)."""
        if not any(a.start_date or a.end_date or a.auto_close_date for a in assets):
            return None
        # ordinals, not datetime64 arrays: converting dates to datetime64 costs ~1.4 us each
        first = (a.start_date.toordinal() if a.start_date else _FIRST_DAY for a in assets)
        end = (a.auto_close_date or a.end_date for a in assets)
        last = (d.toordinal() if d else _LAST_DAY for d in end)
        n = len(assets)
        return cls(np.fromiter(first, np.int64, n), np.fromiter(last, np.int64, n))


def _listed_on(asset: Asset, session: dt.date) -> bool:
    """Whether ``session`` is inside ``asset``'s listed life (its auto-close date ends it)."""
    end = asset.auto_close_date or asset.end_date
    return not (asset.start_date and session < asset.start_date) and not (end and session > end)


def _no_prices(assets: Sequence[Asset]) -> list[Decimal | None]:
    return [None] * len(assets)


class _Adjustments:
    """Known-at arrays of a bundle's splits and dividends, sorted by when they become known.

    ``known_ts[k]``: the close of the last session before the ex-date (known strictly
    after it); ``ex_row[k]``: the first bar row visible after that (rows before it are
    adjusted); ``pfac``/``vfac``: price and volume factors; ``ratio``: the exact split
    ratio (None for dividends).
    """

    def __init__(self, rows: list[tuple[int, int, int, float, float, Decimal | None]]) -> None:
        rows.sort(key=lambda r: (r[0], r[1], r[2]))
        self.known_ts = np.array([r[0] for r in rows], dtype=np.int64)
        self.ex_row = np.array([r[1] for r in rows], dtype=np.int64)
        self.col = np.array([r[2] for r in rows], dtype=np.int64)
        self.pfac = np.array([r[3] for r in rows], dtype=np.float64)
        self.vfac = np.array([r[4] for r in rows], dtype=np.float64)
        self.ratio = [r[5] for r in rows]

    @classmethod
    def build(cls, portal: BarPortal) -> _Adjustments:
        bars, calendar = portal.bars, portal.calendar
        closes = bars.floats["close"]
        last = portal._last_rows()
        known_cache: dict[dt.date, int] = {}

        def known_at(ex_date: dt.date) -> int:
            if ex_date not in known_cache:
                before = calendar.sessions(
                    ex_date - dt.timedelta(days=30), ex_date - dt.timedelta(days=1)
                )
                known_cache[ex_date] = (
                    calendar.session_times(before[-1]).close if before else -(2**62)
                )
            return known_cache[ex_date]

        rows: list[tuple[int, int, int, float, float, Decimal | None]] = []
        for split in bars.actions.splits:
            col = bars._column_index.get(split.sid)
            if col is None:
                continue
            known = known_at(split.ex_date)
            ex_row = int(np.searchsorted(portal._visible, known, side="right"))
            rows.append(
                (known, ex_row, col, 1.0 / float(split.ratio), float(split.ratio), split.ratio)
            )
        for dividend in bars.actions.dividends:
            col = bars._column_index.get(dividend.sid)
            if col is None:
                continue
            known = known_at(dividend.ex_date)
            ex_row = int(np.searchsorted(portal._visible, known, side="right"))
            prev = int(last[ex_row - 1, col]) if ex_row >= 1 else -1
            if prev < 0:
                continue  # no close before the ex-date: nothing to adjust
            factor = 1.0 - float(dividend.amount) / float(closes[prev, col])
            if not factor > 0:
                continue  # a dividend at or above the price: Zipline skips it too
            rows.append((known, ex_row, col, factor, 1.0, None))
        return cls(rows)

    def known(self, now: int) -> int:
        """How many actions are known at ``now``."""
        return int(np.searchsorted(self.known_ts, now, side="left"))

    def pending(self, now: int, row: int) -> npt.NDArray[np.int64]:
        """Known actions whose ex-date's first bar is after ``row`` (not yet in the bars)."""
        n = self.known(now)
        lo = int(np.searchsorted(self.ex_row[:n], row, side="right"))
        return np.arange(lo, n, dtype=np.int64)

    def splits_after(self, now: int, row: int, col: int) -> list[Decimal]:
        """Exact ratios of known splits of ``col`` with ex-date rows after ``row``."""
        n = self.known(now)
        lo = int(np.searchsorted(self.ex_row[:n], row, side="right"))
        return [r for k in range(lo, n) if self.col[k] == col and (r := self.ratio[k]) is not None]

    def bake_forward_fill(
        self, price: npt.NDArray[np.float64], last: npt.NDArray[np.int64]
    ) -> None:
        """Forward-filled prices from before an ex-date, at rows after it: adjust them."""
        for k in range(len(self.ex_row)):
            e, col = int(self.ex_row[k]), int(self.col[k])
            if e >= len(price):
                continue
            stale = last[e:, col] < e
            run = int(np.argmin(stale)) if not stale.all() else len(stale)
            price[e : e + run, col] *= self.pfac[k]

    def adjust(
        self,
        window: npt.NDArray[np.float64],
        field: str,
        cols: slice | npt.NDArray[np.intp],
        start: int,
        now: int,
        session_of: npt.NDArray[np.int64] | None,
    ) -> npt.NDArray[np.float64]:
        """``window`` (rows ``start..``; session rows when ``session_of`` maps bar rows to
        sessions) adjusted for the actions known at ``now``; unchanged (the same view)
        when none falls in it."""
        n = self.known(now)
        if n == 0:
            return window
        if session_of is None:
            ex = self.ex_row[:n]
        else:  # daily rows from minutes: adjust the sessions before the ex-date's session
            ex = np.where(
                self.ex_row[:n] < len(session_of),
                session_of[np.minimum(self.ex_row[:n], len(session_of) - 1)],
                session_of[-1] + 1 if len(session_of) else 0,
            )
        hits = np.flatnonzero(ex > start)
        if not hits.size:
            return window
        factors = self.vfac if field == "volume" else self.pfac
        copied = False
        for k in hits:
            col = int(self.col[k])
            if isinstance(cols, slice):
                lo, hi, _ = cols.indices(10**12)
                positions = [col - lo] if lo <= col < hi else []
            else:
                positions = np.flatnonzero(cols == col).tolist()
            if not positions or factors[k] == 1.0:
                continue
            if not copied:
                window = np.array(window, dtype=np.float64)
                copied = True
            for j in positions:
                window[: int(ex[k]) - start, j] *= factors[k]
        return window
