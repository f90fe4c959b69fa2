"""The backtest data portal over in-memory :class:`~rbt.data.bars.BarArrays`.

Point in time: the cursor is the last bar *visible* at the clock's time. A
daily bar becomes visible at its session's close, a minute bar at its end.
``history`` windows end at the cursor and are array views, so asking for the
same universe every bar builds no frame and copies nothing (``frame="numpy"``).
Windows reaching before the first bar are padded with NaN.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import numpy as np
import numpy.typing as npt

from rbt.data.bars import OHLCV, BarArrays
from rbt.kernel.clock import Frequency, TradingCalendar
from rbt.kernel.errors import DataError
from rbt.kernel.model import Asset

__all__ = ["BarPortal"]

_FIELDS = (*OHLCV, "price")
_FRAMES = ("pandas", "numpy", "polars")


class BarPortal:
    """A :class:`~rbt.kernel.portal.DataPortal` over bar arrays.

    :param bars: the bundle's arrays.
    :param calendar: the bundle's calendar (daily bars are visible from the close).
    """

    def __init__(self, bars: BarArrays, calendar: TradingCalendar) -> None:
        self.bars = bars
        self.calendar = calendar
        if bars.frequency is Frequency.DAILY:
            visible = [calendar.session_times(d).close for d in bars.sessions.tolist()]
            self._visible = np.asarray(visible, dtype=np.int64)
        else:
            self._visible = np.asarray(bars.ts, dtype=np.int64)
        self._row = -1
        self._now = -(2**63)
        self._floats = bars.floats
        self._columns: dict[tuple[int, ...], slice | npt.NDArray[np.intp]] = {}
        self._price: npt.NDArray[np.float64] | None = None
        self._last_row: npt.NDArray[np.int64] | None = None
        self._pad: dict[tuple[int, int], npt.NDArray[np.float64]] = {}

    # -- cursor ------------------------------------------------------------------
    def advance(self, ts: int) -> None:
        """Move the cursor to the last bar visible at ``ts``."""
        if ts < self._now:
            raise DataError(f"portal cannot move backwards in time ({ts} < {self._now})")
        self._now = ts
        self._row = int(np.searchsorted(self._visible, ts, side="right")) - 1

    @property
    def now(self) -> int:
        """Current time, UTC ns."""
        return self._now

    @property
    def row(self) -> int:
        """Index of the cursor bar (-1 before the first bar)."""
        return self._row

    # -- derived arrays, built once on first use ------------------------------------
    def _prices(self) -> npt.NDArray[np.float64]:
        if self._price is None:
            self._price = self.bars.floats["close"][
                self._last_rows(), np.arange(self.bars.shape[1])
            ]
            self._price[self._last_rows() < 0] = np.nan
        return self._price

    def price_row(self) -> npt.NDArray[np.float64]:
        """Forward-filled closes of every asset at the cursor (NaN before a first bar)."""
        return self._prices()[self._row]

    def _last_rows(self) -> npt.NDArray[np.int64]:
        # last_row[t, i]: the latest row <= t where asset i has a bar (-1 if none yet)
        if self._last_row is None:
            has = ~np.isnan(self.bars.floats["close"])
            rows = np.where(has, np.arange(has.shape[0])[:, None], -1)
            self._last_row = np.maximum.accumulate(rows, axis=0)
        return self._last_row

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
        key = tuple(a.sid for a in assets)
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
        row = self._row
        if isinstance(assets, Asset):
            if isinstance(fields, str):
                return self._scalar(assets, fields, row)
            import pandas as pd

            return pd.Series([self._scalar(assets, f, row) for f in fields], index=list(fields))
        import pandas as pd

        if isinstance(fields, str):
            values = [self._scalar(a, fields, row) for a in assets]
            return pd.Series(values, index=list(assets), dtype="float64")
        data = {f: [self._scalar(a, f, row) for a in assets] for f in fields}
        return pd.DataFrame(data, index=list(assets))

    def _scalar(self, asset: Asset, field: str, row: int) -> float:
        if row < 0:
            return float("nan")
        return float(self._field(field)[row, self._col(asset)])

    def history(
        self,
        assets: Asset | Sequence[Asset],
        fields: str | Sequence[str],
        bar_count: int,
        frequency: str,
        frame: str = "pandas",
    ) -> Any:
        """The last ``bar_count`` bars up to and including the cursor.

        ``frame="numpy"`` returns a ``float64[bar_count, n_assets]`` array (a read-only
        view when possible), or a dict ``field -> array`` for several fields.
        ``"polars"`` returns a frame with a ``ts`` column; ``"pandas"`` Zipline's shapes.
        """
        if frame not in _FRAMES:
            raise ValueError(f"frame must be one of {', '.join(_FRAMES)}, got {frame!r}")
        if bar_count < 1:
            raise ValueError(f"bar_count must be at least 1, got {bar_count}")
        if Frequency.parse(frequency) is not self.bars.frequency:
            raise DataError(
                f"history in {frequency!r} from a {self.bars.frequency.value} bundle is not "
                "supported yet; use the bundle's own interval"
            )
        single_asset = isinstance(assets, Asset)
        asset_list: Sequence[Asset] = [assets] if isinstance(assets, Asset) else assets
        single_field = isinstance(fields, str)
        field_list: Sequence[str] = [fields] if isinstance(fields, str) else fields
        cols = self._cols(asset_list)
        windows = {f: self._window(f, cols, bar_count) for f in field_list}
        if frame == "numpy":
            if single_field:
                w = windows[field_list[0]]
                return w[:, 0] if single_asset else w
            return {f: (w[:, 0] if single_asset else w) for f, w in windows.items()}
        index = self._index(bar_count)
        if frame == "polars":
            import polars as pl

            columns: dict[str, Any] = {"ts": index}
            for f, w in windows.items():
                for j, a in enumerate(asset_list):
                    name = a.symbol if single_field else f"{a.symbol}.{f}"
                    columns[name] = w[:, j]
            return pl.DataFrame(columns)
        return self._pandas(asset_list, field_list, windows, index, single_asset, single_field)

    def _window(
        self, field: str, cols: slice | npt.NDArray[np.intp], bar_count: int
    ) -> npt.NDArray[np.float64]:
        data = self._field(field)
        end = self._row + 1
        start = end - bar_count
        if start >= 0:
            window = data[start:end, cols]
            if isinstance(cols, slice):
                window = window.view()
                window.flags.writeable = False
            return window
        # before the first bar: pad with NaN (documented)
        have = data[0:end, cols] if end > 0 else data[0:0, cols]
        pad = np.full((bar_count - have.shape[0], have.shape[1]), np.nan)
        return np.concatenate([pad, have])

    def _index(self, bar_count: int) -> Any:
        end = self._row + 1
        start = max(0, end - bar_count)
        if self.bars.frequency is Frequency.DAILY:
            labels = self.bars.sessions[start:end].astype("datetime64[ns]")
        else:
            labels = self.bars.ts[start:end].astype("datetime64[ns]")
        missing = bar_count - len(labels)
        if missing:
            labels = np.concatenate([np.full(missing, np.datetime64("NaT", "ns")), labels])
        return labels

    def _pandas(
        self,
        assets: Sequence[Asset],
        fields: Sequence[str],
        windows: dict[str, npt.NDArray[np.float64]],
        index: Any,
        single_asset: bool,
        single_field: bool,
    ) -> Any:
        import pandas as pd

        idx = pd.DatetimeIndex(index)
        if self.bars.frequency is Frequency.MINUTE:
            idx = idx.tz_localize("UTC")
        if single_field:
            w = windows[fields[0]]
            if single_asset:
                return pd.Series(w[:, 0], index=idx, name=assets[0])
            return pd.DataFrame(w, index=idx, columns=list(assets))
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
        if self._row < 0:
            return False
        col = self._col(asset)
        if self._last_rows()[self._row, col] < 0:
            return False
        session = self.bars.sessions[self._row].item()
        end = asset.auto_close_date or asset.end_date
        return not (asset.start_date and session < asset.start_date) and not (end and session > end)

    def is_stale(self, asset: Asset) -> bool:
        """Whether ``asset`` has traded before but has no bar at the cursor."""
        if self._row < 0:
            return False
        col = self._col(asset)
        last = self._last_rows()[self._row, col]
        return bool(0 <= last < self._row)

    def exact_price(self, asset: Asset, field: str) -> Decimal | None:
        """Exact stored value at the cursor; ``close``/``price`` fall back to the last bar."""
        if self._row < 0:
            return None
        col = self._col(asset)
        row = self._row
        if field in ("close", "price"):
            row = int(self._last_rows()[row, col])
            if row < 0:
                return None
            field = "close"
        elif not self.bars.has_bar(row, col):
            return None
        return self.bars.exact(field, row, col)
