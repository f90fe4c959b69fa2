"""A streaming (non-replay) feed: closed bars from a :class:`~rbt.live.feed.BarStream`
grow a portal, and the clock events are derived from the bars' ends.

* :class:`GrowingPortal` is a :class:`~rbt.data.portal.BarPortal` whose arrays grow by
  one row per bar end (capacity doubles, so appending is amortised O(assets)); the
  derived arrays the backtest portal builds once (last bar per asset, forward-filled
  price) are extended row by row instead.
* :class:`StreamClock` turns bars into the same clock events a
  :class:`~rbt.kernel.clock.SimClock` yields for a 24/7 market (sessions are UTC days):
  ``SESSION_START`` + ``BEFORE_TRADING_START`` before the first bar of a UTC day, one
  ``BAR`` per bar end (all symbols of that end appended first), ``SESSION_END`` at the
  day's close — right after the bar ending at 24:00, or when a bar of a later day shows
  the day rolled without one.

A bar end is released when every symbol has delivered a bar for it, or when a bar with
a later end arrives (a symbol without trades in an interval gives no bar). A malformed
message, an unknown symbol, a bar not on the interval grid, or a bar older than one
already released raises :class:`~rbt.live.feed.FeedError` naming the symbol and times:
the run stops before the bad bar is used, and everything before it is committed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

import numpy as np

from rbt.data.actions import CorporateActions
from rbt.data.bars import OHLCV, BarArrays
from rbt.data.portal import BarPortal, read_only
from rbt.kernel.clock import ClockEvent, ClockEventKind, Frequency, TradingCalendar
from rbt.kernel.model import Asset
from rbt.kernel.numeric import EXACT_CONTEXT
from rbt.live.feed import Bar, BarStream, FeedError

__all__ = ["GrowingPortal", "RecordedBarStream", "StreamClock", "frequency_of", "session_of"]

NS_PER_DAY = 86_400_000_000_000
_INTERVALS = {60_000_000_000: Frequency.MINUTE, NS_PER_DAY: Frequency.DAILY}
#: volumes are stored with this many decimals at least (venues report fractional volume)
_VOLUME_DECIMALS = 8


def frequency_of(interval_ns: int) -> Frequency:
    """The bar frequency of a stream's interval (1m or 1d, design.md §2.1a.4)."""
    try:
        return _INTERVALS[interval_ns]
    except KeyError:
        raise FeedError(
            f"unsupported bar interval of {interval_ns} ns; supported: 1m and 1d"
        ) from None


def session_of(end: int) -> dt.date:
    """The UTC day a bar ending at ``end`` belongs to (a bar ending at 24:00 closes its day)."""
    return dt.datetime.fromtimestamp((end - 1) // 1_000_000_000, dt.UTC).date()


def _decimals(value: Decimal) -> int:
    exponent = value.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


class GrowingPortal(BarPortal):
    """A bar portal that starts empty and grows as closed bars arrive.

    :param assets: the tradable assets (columns, in this order).
    :param calendar: the market's calendar (24/7 for crypto).
    :param frequency: the bars' frequency.
    """

    fixed_arrays = False  # replaced by longer ones as bars arrive

    def __init__(
        self,
        assets: Sequence[Asset],
        calendar: TradingCalendar,
        frequency: Frequency,
        capacity: int = 256,
    ) -> None:
        self.frequency = frequency
        n = len(assets)
        self._assets = tuple(assets)
        self._cap = max(1, capacity)
        self._n = 0
        self._ts = np.zeros(self._cap, dtype=np.int64)
        self._days = np.zeros(self._cap, dtype="datetime64[D]")
        self._f = {k: np.full((self._cap, n), np.nan) for k in OHLCV}
        self._m = {k: np.zeros((self._cap, n), dtype=np.int64) for k in OHLCV}
        self._last_buf = np.full((self._cap, n), -1, dtype=np.int64)
        self._price_buf = np.full((self._cap, n), np.nan)
        self._price_scales = np.array(
            [max(a.price_scale, _decimals(a.tick_size)) for a in assets], dtype=np.int64
        )
        self._volume_scales = np.array(
            [max(_VOLUME_DECIMALS, _decimals(a.lot_size)) for a in assets], dtype=np.int64
        )
        self._calendar_name = calendar.name
        super().__init__(self._arrays(), calendar)
        self._sync()

    @property
    def size(self) -> int:
        """How many bar ends the portal holds."""
        return self._n

    @property
    def last_end(self) -> int | None:
        """End of the newest bar row, or None while empty."""
        return int(self._ts[self._n - 1]) if self._n else None

    def _arrays(self) -> BarArrays:
        n = self._n
        return BarArrays(
            frequency=self.frequency,
            calendar=self._calendar_name,
            assets=self._assets,
            ts=self._ts[:n],
            sessions=self._days[:n],
            floats={k: v[:n] for k, v in self._f.items()},
            mantissas={k: v[:n] for k, v in self._m.items()},
            price_scales=self._price_scales,
            volume_scales=self._volume_scales,
            actions=CorporateActions(),
        )

    def _sync(self) -> None:
        """Point the backtest portal's caches at the current rows."""
        n = self._n
        self.bars = self._arrays()
        self._floats = self._read_only_fields()
        self._visible = self._ts[:n]
        self._last_row = self._last_buf[:n]
        self._price = read_only(self._price_buf[:n])
        self._daily = None
        self._session_start = None
        self._session_of_row = None
        if self.now > -(2**63):
            self.row = int(np.searchsorted(self._visible, self.now, side="right")) - 1

    def _grow(self) -> None:
        cap = self._cap * 2

        def bigger(a: Any, fill: object) -> Any:  # same dtype, twice the rows
            out = np.full((cap, *a.shape[1:]), fill, dtype=a.dtype)
            out[: self._cap] = a
            return out

        self._ts = bigger(self._ts, 0)
        self._days = bigger(self._days, np.datetime64(0, "D"))
        self._f = {k: bigger(v, np.nan) for k, v in self._f.items()}
        self._m = {k: bigger(v, 0) for k, v in self._m.items()}
        self._last_buf = bigger(self._last_buf, -1)
        self._price_buf = bigger(self._price_buf, np.nan)
        self._cap = cap

    def append(self, end: int, bars: Mapping[int, Bar]) -> None:
        """Add the row of bars ending at ``end`` (column index → bar; missing: no bar).

        :raises FeedError: for an end not after the newest row, or a price that does not
            fit the asset's decimals.
        """
        last = self.last_end
        if last is not None and end <= last:
            raise FeedError(f"bar end {end} is not after the last appended end {last}")
        row_values: dict[int, dict[str, tuple[float, int]]] = {}
        for col, bar in bars.items():
            row_values[col] = self._exact(col, bar)
        if self._n == self._cap:
            self._grow()
        r = self._n
        self._ts[r] = end
        self._days[r] = np.datetime64(session_of(end), "D")
        prev_last = self._last_buf[r - 1] if r else np.full(len(self._assets), -1, np.int64)
        self._last_buf[r] = prev_last
        for col, values in row_values.items():
            for field, (floating, mantissa) in values.items():
                self._f[field][r, col] = floating
                self._m[field][r, col] = mantissa
            self._last_buf[r, col] = r
        last_rows = self._last_buf[r]
        has = last_rows >= 0
        price = np.full(len(self._assets), np.nan)
        price[has] = self._f["close"][last_rows[has], np.flatnonzero(has)]
        self._price_buf[r] = price
        self._n = r + 1
        self._sync()

    def _exact(self, col: int, bar: Bar) -> dict[str, tuple[float, int]]:
        asset = self._assets[col]
        out: dict[str, tuple[float, int]] = {}
        for field in OHLCV:
            value = getattr(bar, field)
            volume = field == "volume"
            scale = int(self._volume_scales[col] if volume else self._price_scales[col])
            try:
                scaled = Decimal(value).scaleb(scale, EXACT_CONTEXT)
            except (InvalidOperation, TypeError, ValueError):
                raise FeedError(
                    f"{asset.symbol} bar at {bar.end}: {field}={value!r} is not a number"
                ) from None
            if not scaled.is_finite() or value < 0 or (not volume and value <= 0):
                raise FeedError(f"{asset.symbol} bar at {bar.end}: bad {field} {value!r}")
            if volume:
                scaled = scaled.to_integral_value(rounding="ROUND_DOWN")
            elif scaled != scaled.to_integral_value():
                raise FeedError(
                    f"{asset.symbol} bar at {bar.end}: {field} {value} has more than {scale} "
                    f"decimals (tick size {asset.tick_size})"
                )
            mantissa = int(scaled)
            out[field] = (mantissa / 10**scale, mantissa)
        if not out["low"][1] <= min(out["open"][1], out["close"][1]) or not out["high"][1] >= max(
            out["open"][1], out["close"][1]
        ):
            raise FeedError(
                f"{asset.symbol} bar at {bar.end}: high/low do not bound open and close ({bar})"
            )
        return out


class StreamClock:
    """Closed bars of a :class:`BarStream` → portal rows and clock events (24/7 sessions).

    :param stream: the venue's bar stream.
    :param portal: the growing portal the bars are appended to.
    :param calendar: a 24/7 calendar (UTC days).
    :param after: a restart's watermark: bars ending at or before it (a feed that sends
        recent history first) only refill the portal's history; no events.
    """

    def __init__(
        self,
        stream: BarStream,
        portal: GrowingPortal,
        calendar: TradingCalendar,
        before_open: dt.timedelta = dt.timedelta(minutes=45),
        after: int | None = None,
    ) -> None:
        self.stream = stream
        self.portal = portal
        self.calendar = calendar
        self.interval = stream.interval_ns
        frequency_of(self.interval)
        self._col = {a.symbol: i for i, a in enumerate(portal.bars.assets)}
        missing = [s for s in stream.symbols if s not in self._col]
        if missing:
            raise FeedError(f"stream {stream.name!r} streams unknown symbols {missing}")
        self._symbols = frozenset(stream.symbols)
        self._before_open_ns = int(before_open.total_seconds()) * 1_000_000_000
        self._pending_end: int | None = None
        self._pending: dict[int, Bar] = {}
        self._released = -(2**63)
        self._skip_until = after if after is not None else -(2**63)
        self._session: dt.date | None = None
        self._previous_close = -(2**63)
        self.bars_seen = 0

    frequency_for = staticmethod(frequency_of)

    async def events(self) -> AsyncIterator[ClockEvent]:
        """Clock events as bars close; ends when the stream ends (after flushing)."""
        async for message in self.stream.bars():
            for event in self._take(message):
                yield event
        for event in self._flush():
            yield event

    def _take(self, message: object) -> Iterator[ClockEvent]:
        if not (isinstance(message, tuple) and len(message) == 2 and isinstance(message[1], Bar)):
            raise FeedError(
                f"malformed feed message {message!r} from {self.stream.name!r}: "
                "expected (symbol, Bar)"
            )
        symbol, bar = message
        col = self._col.get(symbol) if symbol in self._symbols else None
        if col is None:
            raise FeedError(f"feed message for unknown symbol {symbol!r} (bar end {bar.end})")
        if not isinstance(bar.end, int) or bar.end % self.interval:
            raise FeedError(
                f"{symbol} bar end {bar.end!r} is not on the {self.interval} ns interval grid"
            )
        self.bars_seen += 1
        if bar.end <= self._released or (
            self._pending_end is not None and bar.end < self._pending_end
        ):
            raise FeedError(
                f"out-of-order feed message: {symbol} bar ending {bar.end} after bars "
                f"ending {max(self._released, self._pending_end or self._released)}"
            )
        if self._pending_end is not None and bar.end > self._pending_end:
            yield from self._flush()
        if col in self._pending:
            raise FeedError(f"duplicate {symbol} bar ending {bar.end}")
        self._pending_end = bar.end
        self._pending[col] = bar
        if len(self._pending) == len(self._symbols):
            yield from self._flush()

    def _flush(self) -> Iterator[ClockEvent]:
        end = self._pending_end
        if end is None:
            return
        if end <= self._skip_until:  # traded before a restart: history only, no events
            self.portal.append(end, self._pending)
            self._pending, self._pending_end = {}, None
            self._released = end
            return
        day = session_of(end)
        if self._session is not None and day != self._session:
            yield self._close_session()
        if self._session != day:
            times = self.calendar.session_times(day)
            start = max(times.open - self._before_open_ns, self._previous_close + 1)
            self._session = day
            yield ClockEvent(ClockEventKind.SESSION_START, start, day)
            yield ClockEvent(ClockEventKind.BEFORE_TRADING_START, start, day)
        self.portal.append(end, self._pending)
        self._pending, self._pending_end = {}, None
        self._released = end
        yield ClockEvent(ClockEventKind.BAR, end, day)
        if end == self.calendar.session_times(day).close:
            yield self._close_session()

    def _close_session(self) -> ClockEvent:
        """The SESSION_END of the current session (which is then over)."""
        day = self._session
        assert day is not None
        close = self.calendar.session_times(day).close
        self._session = None
        self._previous_close = close
        return ClockEvent(ClockEventKind.SESSION_END, close, day)


class RecordedBarStream:
    """A :class:`~rbt.live.feed.BarStream` over recorded ``(symbol, Bar)`` messages.

    Replays a recording (or bars built in a notebook) through the streaming engine:
    the messages go out as they are, in their order (validation is the engine's job),
    ``pause`` seconds apart (0: just yield to the event loop).
    """

    def __init__(
        self,
        name: str,
        symbols: Sequence[str],
        interval_ns: int,
        messages: Iterator[tuple[str, Bar]] | Sequence[tuple[str, Bar]],
        pause: float = 0.0,
    ) -> None:
        self.name = name
        self.symbols = tuple(symbols)
        self.interval_ns = interval_ns
        self._messages = messages
        self.pause = pause
        self.closed = False
        self.sent = 0

    async def bars(self) -> AsyncIterator[tuple[str, Bar]]:
        import asyncio

        for message in self._messages:
            if self.closed:
                return
            await asyncio.sleep(self.pause)
            self.sent += 1
            yield message

    async def aclose(self) -> None:
        self.closed = True
