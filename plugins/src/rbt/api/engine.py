"""The engine behind ``rbt.api``: one strategy on one session.

It owns the strategy's view of the run — ``context``, ``data``, order
functions, scheduled functions, recorded variables — and records per-session
performance. The kernel :class:`~rbt.kernel.session.Session` owns the books,
the orders and the event order; the engine subscribes to its bus and is the
session's strategy turn (:attr:`~rbt.kernel.session.Session.turn`).
"""

from __future__ import annotations

import contextvars
import datetime as dt
import math
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from decimal import Decimal
from typing import Any, NamedTuple

import attrs
import numpy as np
import numpy.typing as npt

from rbt.api import controls as _controls
from rbt.api.algorithm import FunctionStrategy, TradingAlgorithm
from rbt.api.bar_data import BarData
from rbt.api.params import Params
from rbt.api.portfolio import LazyPositions, Portfolio, Positions, PositionView, make_view
from rbt.api.results import PERF_COLUMNS
from rbt.api.schedule import DateRule, TimeRule, date_rules, time_rules
from rbt.data.portal import BarPortal
from rbt.finance.execution import BracketOrder, ExecutionStyle, place_bracket_exits
from rbt.kernel.clock import Frequency
from rbt.kernel.costs import CommissionModel, SlippageModel
from rbt.kernel.errors import ConfigError, RbtError
from rbt.kernel.events import (
    BeforeTradingStart,
    OrderFilled,
    OrderUpdated,
    SessionClosed,
)
from rbt.kernel.model import (
    MARKET,
    Asset,
    AssetClass,
    Fill,
    Order,
    OrderStatus,
    OrderStyle,
    OrderType,
    positional_builder,
    slot_builder,
)
from rbt.kernel.numeric import (
    EXACT_CONTEXT,
    ZERO,
    decimal_from_float,
    has_exponent_zero,
    round_quantity,
)
from rbt.kernel.orders import round_order, validation_check
from rbt.kernel.session import Session

__all__ = ["Context", "Engine", "PositionRows", "SessionRecord", "current_engine"]

_CURRENT: contextvars.ContextVar[Engine] = contextvars.ContextVar("rbt_engine")
_NEAR_INTEGER = 1e-4  # Zipline: amounts within 1e-4 of a whole lot snap to it
#: getrefcount() of an object only the engine holds: its attribute, a local and the
#: call's own argument (weak references do not count: a strategy keeps its positions by
#: holding them). Without getrefcount (not CPython) every bar's positions are new.
_ONLY_OURS = 3
_refcount: Callable[[object], int] | None = getattr(sys, "getrefcount", None)

_MAX_PLAIN = 10**37  # integers below this have fewer digits than the ledger context keeps


#: The strategy hook an order's new status calls (if the strategy defines it).
_HOOK_OF_STATUS = {
    OrderStatus.CANCELLED: "on_order_cancel",
    OrderStatus.EXPIRED: "on_order_cancel",  # a time in force ended it
    OrderStatus.REJECTED: "on_order_reject",
    OrderStatus.DENIED: "on_order_reject",
}


def _is_one(multiplier: Decimal) -> bool:
    """Multiplier exactly ``Decimal(1)`` (exponent 0: products keep the price's exponent)."""
    return multiplier == 1 and has_exponent_zero(multiplier)


def current_engine() -> Engine:
    """The engine running the calling strategy.

    :raises RbtError: outside a running algorithm.
    """
    try:
        return _CURRENT.get()
    except LookupError:
        raise RbtError(
            "this rbt.api function works only inside a running algorithm "
            "(initialize, handle_data, before_trading_start or a scheduled function)"
        ) from None


class Context:
    """The strategy's ``context``: free for user attributes, plus ``portfolio``,
    ``account``, ``params`` and ``exact``-valued books through ``portfolio.exact``."""

    def __init__(self, portfolio: Portfolio, params: Params) -> None:
        self.portfolio = portfolio
        self.params = params

    @property
    def account(self) -> Portfolio:
        """Zipline's ``context.account`` (same figures as the portfolio here)."""
        return self.portfolio


def _take_cells(
    values: npt.NDArray[np.int64], rows: npt.NDArray[np.int64], cols: npt.NDArray[np.int64]
) -> npt.NDArray[np.int64]:
    """``values[rows, cols]``: one take of the flat array when it is contiguous (about half
    the time of the two-dimensional fancy index), of the first column when every column is
    the same one (a broadcast row: a bundle without gaps' last-bar rows)."""
    if values.strides[1] == 0:
        return values[:, 0].take(rows)
    if values.flags.c_contiguous:
        width = values.shape[1]
        return values.ravel().take(rows.astype(np.int64, copy=False) * width + cols)
    return values[rows, cols]


class PositionBlock(NamedTuple):
    """Open positions of consecutive sessions, row after row, as read-only int64 arrays."""

    sids: npt.NDArray[np.int64]
    amounts: npt.NDArray[np.int64]  # whole amounts
    mantissas: npt.NDArray[np.int64]  # of the last prices
    scales: npt.NDArray[np.int64]  # of the last prices


class PositionRows(Sequence[tuple[int, Decimal, Decimal]]):
    """A session's open positions as ``(sid, amount, last price)`` rows, stored as integer
    arrays (whole amounts, price mantissas and their decimal scales) and turned into
    Decimals only when read: recording 100 positions at every close costs four small
    arrays, not 200 Decimals. Compares equal to the same rows as a tuple.

    The arrays are rows ``lo:hi`` of a :data:`PositionBlock` that many sessions share (the
    closes valued together): a session's rows are cut from it when read, and the
    positions frame reads a block's rows in one piece.
    """

    __slots__ = ("block", "hi", "lo")

    def __init__(
        self,
        sids: npt.NDArray[np.int64],
        amounts: npt.NDArray[np.int64],
        mantissas: npt.NDArray[np.int64],
        scales: npt.NDArray[np.int64],
    ) -> None:
        self.block = PositionBlock(sids, amounts, mantissas, scales)
        self.lo, self.hi = 0, len(sids)

    @classmethod
    def of_block(cls, block: PositionBlock, lo: int, hi: int) -> PositionRows:
        """Rows ``lo:hi`` of ``block``, nothing copied."""
        rows = cls.__new__(cls)
        rows.block, rows.lo, rows.hi = block, lo, hi
        return rows

    @property
    def sids(self) -> npt.NDArray[np.int64]:
        return self.block.sids[self.lo : self.hi]

    @property
    def amounts(self) -> npt.NDArray[np.int64]:
        return self.block.amounts[self.lo : self.hi]

    @property
    def mantissas(self) -> npt.NDArray[np.int64]:
        return self.block.mantissas[self.lo : self.hi]

    @property
    def scales(self) -> npt.NDArray[np.int64]:
        return self.block.scales[self.lo : self.hi]

    def __len__(self) -> int:
        return self.hi - self.lo

    def _rows(self) -> tuple[tuple[int, Decimal, Decimal], ...]:
        return tuple(
            (sid, Decimal(q), Decimal(m).scaleb(-sc, EXACT_CONTEXT))
            for sid, q, m, sc in zip(
                self.sids.tolist(),
                self.amounts.tolist(),
                self.mantissas.tolist(),
                self.scales.tolist(),
                strict=True,
            )
        )

    def __getitem__(self, index: Any) -> Any:
        return self._rows()[index]

    def __iter__(self) -> Iterator[tuple[int, Decimal, Decimal]]:
        return iter(self._rows())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, PositionRows | tuple | list):
            return self._rows() == tuple(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"PositionRows({self._rows()!r})"


@attrs.frozen
class SessionRecord:
    """Exact state at one session's close, and what the strategy recorded.

    ``positions``: ``(sid, amount, last price)`` of each open position, a tuple or a
    :class:`PositionRows` (the same rows, materialized on read).
    """

    session: dt.date
    ts: int
    cash: Decimal
    positions_value: Decimal
    fills: int
    orders: int
    recorded: Mapping[str, Any]
    positions: Sequence[tuple[int, Decimal, Decimal]]


#: ``SessionRecord(*fields)`` a pending close becomes, in one call (one per session)
_new_record = positional_builder(SessionRecord)
#: ``PositionRows.of_block(block, lo, hi)``, in one call (one per session)
_block_rows = slot_builder(PositionRows, ("block", "lo", "hi"), PositionRows.of_block)

#: Pending closes are valued in chunks of this many sessions, and at the latest when they
#: hold this many amount cells (sessions × columns): bounded memory for any universe.
_PENDING_CHUNK = 512
_PENDING_CELLS = 8_000_000
#: A chunk gathers at most this many cells at once (fewer sessions for a wide universe:
#: each of its arrays is sessions × columns, 8 bytes a cell)
_CHUNK_CELLS = 1_000_000


#: A session's record before its positions are valued (:meth:`Engine.records`): where it
#: goes in the records, its session, ts, cash, fill and order counts and recorded values,
#: the cursor row of its close and its snapshot of the books' whole amounts (a row of
#: ``Engine._snap_rows``). A tuple: one is built at every close.
_PendingClose = tuple[int, dt.date, int, Decimal, int, int, Mapping[str, Any], int, int]
_CLOSE_ROW, _CLOSE_SNAP = 7, 8  # a pending close's cursor row and snapshot
#: The snapshot rows' buffer is kept for the next valuations while it holds at most this
#: many cells; a larger one (a wide universe's) is let go after each valuation
_SNAP_KEPT_CELLS = 1_000_000


@attrs.frozen
class _Scheduled:
    func: Callable[[Any, Any], None]
    sessions: frozenset[dt.date]
    time_rule: TimeRule | None
    times: frozenset[int] | None = None  # minute bars: the bar end times it fires at


def _mirror_floats(row: list[Any]) -> tuple[float, float, float]:
    """A mirror row's amount, cost basis and last booked price as floats, kept in the row
    (a fill replaces the row: an older snapshot keeps its own)."""
    _col, amount, cost_value, last, multiplier, _ = row
    floats = row[5] = (float(amount), float(cost_value / amount / multiplier), float(last))
    return floats  # (cost basis: Position.cost_basis)


def _build_views(
    table: LazyPositions, portal: BarPortal, row: int, now: int
) -> Iterator[tuple[Asset, PositionView]]:
    """``(asset, view)`` pairs from lazy positions holding a snapshot of the mirror's rows,
    and the forward-filled closes as of cursor ``row`` at time ``now``."""
    prices = portal.price_row_as_of(row, now) if row >= 0 else None
    # dict's own methods: the positions' methods would build the views first
    assets, rows_ = list(dict.keys(table)), list(dict.values(table))
    cols = [m[0] for m in rows_]
    floats = [m[5] or _mirror_floats(m) for m in rows_]
    amounts = [f[0] for f in floats]
    costs = [f[1] for f in floats]
    lasts = fallback = [f[2] for f in floats]
    if prices is not None:
        row = prices.tolist()
        lasts = [
            p if p == p else f  # NaN: no close yet, keep the fill price
            for p, f in zip(map(row.__getitem__, cols), fallback, strict=True)
        ]
    rows = zip(assets, amounts, costs, lasts, strict=True)
    return zip(assets, map(make_view, rows), strict=True)


def _has_before_trading_start(strategy: TradingAlgorithm) -> bool:
    """Whether ``strategy`` does anything before the open (the base class's method does not)."""
    if "before_trading_start" in vars(strategy):
        return True
    method = type(strategy).before_trading_start
    if method is FunctionStrategy.before_trading_start:  # calls the function it was given
        return strategy._before is not None  # type: ignore[attr-defined]
    return method is not TradingAlgorithm.before_trading_start


class Engine:
    """Run a :class:`TradingAlgorithm` on a composed :class:`Session`.

    :param strategy: the user's strategy.
    :param session: the kernel session (portal, broker, ledger).
    :param portal: the bar portal the session uses.
    :param params: the merged parameters.
    :param symbol_lookup: resolves a ticker to an asset as of a date.
    """

    def __init__(
        self,
        strategy: TradingAlgorithm,
        session: Session,
        portal: BarPortal,
        params: Params,
        sessions: Sequence[dt.date],
        symbol_lookup: Callable[[str, dt.date | None], Asset],
        commission: CommissionModel,
        slippage: SlippageModel,
        record_positions: bool = True,
        account: str = "margin",
    ) -> None:
        self.strategy = strategy
        self.session = session
        self.portal = portal
        self.ledger = session.ledger
        self.sessions = sessions
        self._lookup = symbol_lookup
        self.data = BarData(portal)
        self.context = Context(Portfolio(self), params)
        # per session, its record, or what it will be made of (see _session_closed)
        self._records: list[SessionRecord | None] = []  # None: pending, in _pending
        self._pending: list[_PendingClose] = []
        self._recorded: dict[str, Any] = {}
        self._scheduled: list[_Scheduled] = []
        self._record_positions = record_positions
        self._initialized = False
        self.commission = commission
        self.slippage = slippage
        # orders: validation first (kernel, reliability.md §D.1), then account and controls
        self._controls: list[_controls.Control] = []
        session.checks.insert(0, validation_check)
        self.account = "margin"
        self.set_account(account)
        self.benchmark: Asset | None = None  # set_benchmark (rbt.analytics.benchmark)
        n = portal.bars.shape[1]
        self._qty = np.zeros(n)
        # per column: contract multiplier, and the quote currency when it is not the base
        assets = portal.bars.assets
        self._mult = np.array([float(a.multiplier) for a in assets])
        self._unit_mult = bool((self._mult == 1.0).all())  # amount × 1.0: no product needed
        base = self.ledger.base_currency
        self._foreign = {
            i: a.quote_currency
            for i, a in enumerate(assets)
            if a.quote_currency and a.quote_currency != base
        }
        # the held columns (open positions), and how many there are
        self._held_mask = np.zeros(n, dtype=np.bool_)
        self._n_held = 0
        self._held_idx = np.zeros(0, dtype=np.intp)
        self._held_idx_stale = False
        # exact whole amounts per column, and the held columns that are not a whole amount
        # (or not of a plain base-currency asset): these send session closes to the ledger
        self._qty_int = np.zeros(n, dtype=np.int64)
        self._amount_bound = 0  # sum of |whole amount| over the columns: bounds the close dot
        self._inexact: set[int] = set()
        self._plain = [
            i not in self._foreign and _is_one(a.multiplier) for i, a in enumerate(assets)
        ]
        self._sids = np.array([a.sid for a in assets], dtype=np.int64)
        # order of each column's first fill: the ledger lists positions in that order, and
        # the recorded rows follow it (result files as the ledger path writes them)
        self._first_fill = np.full(n, -1, dtype=np.int64)
        self._fill_ranks = 0
        self._value_cache: tuple[int, int, float] = (-2, -1, 0.0)
        self._book_version = 0  # counts changes of the books
        # the portal arrays the bundle-wide values below were computed on (a growing
        # portal, live, paper or shadow, replaces them on every bar: not used there)
        self._bundle_bars: Any = None
        self._first_bar_row: npt.NDArray[np.int64] | None = None
        self._uniform_scale: int | None = None  # one price scale for the whole bundle
        self._all_seen_row = 2**62  # from this row every column has had a bar (uniform scale)
        # whole amounts per version of the books, for the closes valued later: the version
        # the last snapshot is of, and per snapshot its amounts and their sum of |amount|
        self._snap_version = -1
        self._snap_rows = np.zeros((0, n), dtype=np.int64)  # the first _snap_count are used
        self._snap_count = 0
        self._snap_bounds: list[int] = []
        # (version of the books, first row from which its held columns are valued from arrays)
        self._held_start: tuple[int, int] = (-1, 0)
        # the one held column, the fill count it is valid for, and its amount × multiplier
        # and the portal's price table when it has a fixed one (BarPortal.fixed_price_table)
        self._single_col: tuple[int, int, float, npt.NDArray[np.float64] | None] | None = None
        # asset -> [column, amount, cost value, last booked price, multiplier, floats], the
        # ledger's Decimals, replaced per fill; turned into floats (kept in the row's last
        # slot) only when a view is read
        self._mirror: dict[Asset, list[Any]] = {}
        self._views = Positions()
        self._views_row = -2  # the cursor row self._views is for (-2: none, rebuild)
        # whether self._views, when lazy, holds the mirror's rows as they are (no fill since)
        self._views_current = False
        bus = session.bus
        if session.turn is not None or session.booked is not None:
            raise ConfigError("this session already drives a strategy (one engine per session)")
        session.turn = self._strategy_turn
        session.booked = self._booked
        bus.subscribe(SessionClosed, self._session_closed)
        # only the strategy's hooks need fill events and order updates: without them the
        # session builds no OrderFilled event per fill (and books a bar's fills together)
        # nor an OrderUpdated per state change. A hook may be attached later (in
        # initialize, say): looked for again after the strategy's own code runs
        self._hears_fills = False
        self._hears_updates = False
        self._hears_open = False  # before_trading_start: no event per session without it
        # a hook attached to the instance adds to its attributes: looked for only then
        self._strategy_attrs: dict[str, Any] = getattr(strategy, "__dict__", {})
        self._attrs_seen = -1
        self._watch_hooks()

    def _watch_hooks(self) -> None:
        """Subscribe to fills once the strategy has a fill hook, to order updates once it
        has a cancel or reject hook, and to the time before the open once it has a
        ``before_trading_start``.

        Looked for when the engine is made, after ``initialize`` and whenever the strategy
        instance gains an attribute: a hook of its class, or one attached to the instance
        at any time, is heard (from then on, after the bus's earlier subscribers); one
        added to the class mid-run is not.
        """
        strategy = self.strategy
        self._attrs_seen = len(self._strategy_attrs)
        if self._hears_updates and self._hears_fills and self._hears_open:
            return
        if not self._hears_open and _has_before_trading_start(strategy):
            self.session.bus.subscribe(BeforeTradingStart, self._before_trading_start)
            self._hears_open = True
        if not self._hears_fills and hasattr(strategy, "on_order_fill"):
            self.session.bus.subscribe(OrderFilled, self._order_filled)
            self._hears_fills = True
        if not self._hears_updates and (
            hasattr(strategy, "on_order_cancel") or hasattr(strategy, "on_order_reject")
        ):
            self.session.bus.subscribe(OrderUpdated, self._order_updated)
            self._hears_updates = True

    # -- lifecycle ---------------------------------------------------------------
    @contextmanager
    def active(self) -> Iterator[None]:
        """Make this engine the target of the module-level ``rbt.api`` functions."""
        token = _CURRENT.set(self)
        try:
            yield
        finally:
            _CURRENT.reset(token)
            self._watch_hooks()  # the strategy's code may have attached a hook

    def initialize(self) -> None:
        """Run the strategy's ``initialize``."""
        with self.active():
            self.strategy.initialize(self.context)
        self._initialized = True

    def _before_trading_start(self, event: BeforeTradingStart) -> None:
        with self.active():
            self.strategy.before_trading_start(self.context, self.data)

    def _strategy_turn(self, ts: int, session: dt.date) -> None:
        if _CURRENT.get(None) is not self:  # current for this turn only (a backtest's run
            token = _CURRENT.set(self)  # is inside active(): no switch per bar)
            try:
                self._strategy_turn(ts, session)
            finally:
                _CURRENT.reset(token)
            return
        self.strategy.handle_data(self.context, self.data)
        for item in self._scheduled:
            if session in item.sessions and (item.times is None or ts in item.times):
                item.func(self.context, self.data)
        if len(self._strategy_attrs) != self._attrs_seen:
            self._watch_hooks()  # as active() does, when the strategy gained an attribute

    @property
    def records(self) -> list[SessionRecord]:
        """Every closed session's record, in order (the engine's own list: read the
        property again for the sessions closed since)."""
        if self._pending:
            self._value_pending_closes()
        return self._records  # type: ignore[return-value]  # none pending: all records

    def _session_closed(self, event: SessionClosed) -> None:
        ledger = self.ledger
        if self._n_held and self._from_arrays(self.portal.row):
            # valued from the bars' integer arrays, many sessions at once, when read
            if self._snap_version != self._book_version:
                self._snapshot()
            records, pending_closes = self._records, self._pending
            pending_closes.append(
                (
                    len(records),
                    event.session,
                    event.ts,
                    ledger.cash,
                    len(self.session.fills),
                    len(self.session.orders),
                    dict(self._recorded),
                    self.portal.row,
                    self._snap_count - 1,
                )
            )
            records.append(None)
            pending = len(pending_closes)
            if (
                not self.portal.fixed_arrays  # replaced next bar: value it while they hold
                or pending >= _PENDING_CHUNK
                or pending * len(self._qty_int) >= _PENDING_CELLS
            ):
                self._value_pending_closes()  # bounded: the snapshot rows are reused
            return
        value, positions = ZERO, ()
        if self._n_held:  # the general path: the ledger's marks (foreign quotes, fractions, ...)
            value = ledger.positions_value()
            if self._record_positions:
                positions = tuple(
                    (a.sid, amount, price) for a, amount, price in ledger.iter_holdings()
                )
        self._records.append(
            SessionRecord(
                session=event.session,
                ts=event.ts,
                cash=ledger.cash,
                positions_value=value,
                fills=len(self.session.fills),
                orders=len(self.session.orders),
                recorded=dict(self._recorded),
                positions=positions,
            )
        )

    def _snapshot(self) -> None:
        """Keep the books' whole amounts as of now (a row of ``_snap_rows``, which grows
        by doubling) for the closes valued later."""
        rows, k = self._snap_rows, self._snap_count
        if k == len(rows):
            width = rows.shape[1]
            first = max(1, min(16, _PENDING_CELLS // max(1, width)))  # within the pending bound
            grown = np.empty((max(first, 2 * k), width), dtype=np.int64)
            grown[:k] = rows
            rows = self._snap_rows = grown
        rows[k] = self._qty_int
        self._snap_bounds.append(self._amount_bound)
        self._snap_count = k + 1
        self._snap_version = self._book_version

    def _from_arrays(self, row: int) -> bool:
        """Whether the open positions can be valued at the cursor's closes from the bars'
        integer arrays, equal (value and exponent) to marking every position and summing
        the ledger's ``amount × price × multiplier``: every open position is a whole amount
        of a base-currency asset with multiplier 1 whose asset has had a bar, the held
        columns share one price scale, and no corporate action adjusts the prices."""
        if self._inexact or row < 0 or self.session.mark_field not in ("close", "price"):
            return False
        portal = self.portal
        source = portal.close_mantissa_source()
        if source is None:
            return False
        last_rows, _closes, scales = source
        if not portal.fixed_arrays:  # a growing portal's arrays: this bar's checks
            cols = self._held_columns()
            held_scales = scales[cols]
            return bool(
                int(last_rows[row, cols].min()) >= 0
                and int(held_scales.min()) == int(held_scales.max())
            )
        if self._bundle_bars is not portal.bars:
            self._bundle_facts(last_rows, scales)
        if row >= self._all_seen_row:  # every column has had a bar, one price scale: any holding
            return True
        version, start = self._held_start  # once per version of the books
        if version != self._book_version:
            cols = self._held_columns()
            assert self._first_bar_row is not None
            start = int(self._first_bar_row[cols].max())
            if self._uniform_scale is None:
                held_scales = scales[cols]
                if int(held_scales.min()) != int(held_scales.max()):
                    start = 2**62  # mixed price scales: the ledger values them
            self._held_start = (self._book_version, start)
        return row >= start

    def _bundle_facts(
        self, last_rows: npt.NDArray[np.int64], price_scales: npt.NDArray[np.int64]
    ) -> None:
        """Once, for fixed portal arrays: per column the first row with a bar, the one price
        scale (None when they differ) and the row from which every column has had a bar
        (never reached with mixed scales)."""
        seen = last_rows >= 0
        self._first_bar_row = first = np.where(seen[-1], np.argmax(seen, axis=0), len(seen))
        uniform = price_scales.size and int(price_scales.min()) == int(price_scales.max())
        self._uniform_scale = int(price_scales[0]) if uniform else None
        self._all_seen_row = int(first.max(initial=0)) if uniform else 2**62
        self._bundle_bars = self.portal.bars

    def _value_pending_closes(self) -> None:
        """Turn the pending closes into records: each one's positions value (one integer
        dot of whole amounts and close mantissas, Decimal at the held columns' scale) and
        its rows in the ledger's order of positions, for many sessions at once."""
        source = self.portal.close_mantissa_source()
        assert source is not None
        last_rows, closes, scales = source
        order = np.argsort(self._first_fill, kind="stable")  # the ledger's order of positions
        sids, col_scales = self._sids[order], scales[order]
        pending_closes, records, snap_rows = self._pending, self._records, self._snap_rows
        record_positions = self._record_positions
        size = max(1, min(_PENDING_CHUNK, _CHUNK_CELLS // max(1, len(order))))
        for start in range(0, len(pending_closes), size):
            chunk = pending_closes[start : start + size]
            snap_ids = [p[_CLOSE_SNAP] for p in chunk]  # ascending: taken in order
            # each session's amounts, in the ledger's order, gathered at once
            amounts = snap_rows[np.ix_(np.array(snap_ids), order)]
            rows = np.array([p[_CLOSE_ROW] for p in chunk], dtype=np.int64)
            # the held cells, session after session, each in the ledger's order: only they
            # are priced (a held column has had a bar by its close, so its last row is one)
            held = amounts != 0
            flat = np.flatnonzero(held)  # of a boolean mask: several times np.nonzero's speed
            session_of, column = np.divmod(flat, amounts.shape[1])
            q = amounts.ravel().take(flat)
            cols = order.take(column)
            m = _take_cells(closes, _take_cells(last_rows, rows.take(session_of), cols), cols)
            sid, scale = sids.take(column), col_scales.take(column)
            counts = np.count_nonzero(held, axis=1)
            cumulative = np.cumsum(counts)
            ends = cumulative.tolist()
            # |sum q*m| <= sum |q| * max |m|: below 2**62 the int64 sums are exact
            largest = max(int(m.max(initial=0)), -int(m.min(initial=0)))  # abs(-2**63) wraps
            bound = max(self._snap_bounds[snap_ids[0] : snap_ids[-1] + 1])
            if bound * largest < 2**62:
                sums = np.zeros(len(chunk), dtype=np.int64)
                some = counts > 0  # each run of cells summed from its first (reduceat)
                if some.any():
                    sums[some] = np.add.reduceat(q * m, (cumulative - counts)[some])
                totals = sums.tolist()
            else:  # exact Python integers
                pairs = list(zip(q.tolist(), m.tolist(), strict=True))
                totals = [
                    sum(a * b for a, b in pairs[lo:hi])
                    for lo, hi in zip([0, *ends[:-1]], ends, strict=True)
                ]
            lo = 0
            for column in (sid, q, m, scale):  # shared by the records and their frame
                column.flags.writeable = False
            block = PositionBlock(sid, q, m, scale)
            for (i, session, ts, cash, fills, orders, recorded, _, _), hi, total in zip(
                chunk, ends, totals, strict=True
            ):
                # the held columns' scale (a session without a held cell is not pending)
                value = Decimal(total).scaleb(-scale.item(lo), EXACT_CONTEXT) if hi > lo else ZERO
                positions = _block_rows(block, lo, hi) if record_positions else ()
                records[i] = _new_record(
                    session, ts, cash, value, fills, orders, recorded, positions
                )
                lo = hi
        self._pending = []
        self._snap_count = 0
        self._snap_bounds = []
        self._snap_version = -1
        if self._snap_rows.size > _SNAP_KEPT_CELLS:  # a wide universe's: not kept for the run
            self._snap_rows = self._snap_rows[:0].copy()

    def sync_positions(self) -> None:
        """Rebuild the float position mirror from the ledger (after a split or an auto-close)."""
        self._qty[:] = 0.0
        self._qty_int[:] = 0
        self._amount_bound = 0
        self._held_mask[:] = False
        self._n_held = 0
        self._inexact = set()
        self._mirror.clear()
        self._views_row = -2
        self._views_current = False
        for asset, amount, _last in self.ledger.iter_holdings():
            col = self.portal.bars.column(asset)
            self._qty[col] = float(amount)
            self._held_mask[col] = True
            self._n_held += 1
            self._set_exact_amount(col, amount)
            if self._first_fill.item(col) < 0:  # restored books: ranked in the ledger's order
                self._first_fill[col] = self._fill_ranks
                self._fill_ranks += 1
            self._refresh_view(asset, col, self.ledger.holding(asset))
        self._held_idx_stale = True
        self._value_cache = (-2, -1, 0.0)
        self._single_col = None
        self._book_version += 1

    def _set_exact_amount(self, col: int, amount: Decimal) -> int | None:
        """Keep ``amount`` of column ``col`` as a whole number where it is one (returned),
        else None."""
        before = abs(self._qty_int.item(col))
        if self._plain[col] and has_exponent_zero(amount) and abs(amount) < 2**53:
            whole = int(amount)
            self._qty_int[col] = whole
            self._amount_bound += abs(whole) - before
            self._inexact.discard(col)
            return whole
        self._qty_int[col] = 0
        self._amount_bound -= before
        if amount:
            self._inexact.add(col)
        else:
            self._inexact.discard(col)
        return None

    def _booked(self, fills: Sequence[Fill], amounts: Sequence[Decimal]) -> None:
        """Mirror fills just booked (``amounts``: each one's position amount after it)."""
        column, holding = self.portal.bars.column, self.ledger.holding
        qty, first, held_mask = self._qty, self._first_fill, self._held_mask
        self._book_version += 1
        for fill, amount in zip(fills, amounts, strict=True):
            asset = fill.asset
            col = column(asset)
            whole = self._set_exact_amount(col, amount if amount else ZERO)
            # a whole amount's float is exact; any other adds the fill (the float view's sum)
            qty[col] = float(whole) if whole is not None else qty.item(col) + float(fill.amount)
            if first.item(col) < 0:
                first[col] = self._fill_ranks
                self._fill_ranks += 1
            held = amount != 0
            if held != held_mask.item(col):
                held_mask[col] = held
                self._n_held += 1 if held else -1
                if not held:
                    qty[col] = 0.0
                self._held_idx_stale = True  # rebuilt once, when next read
            self._refresh_view(asset, col, holding(asset))  # the books after the last fill

    def _order_filled(self, event: OrderFilled) -> None:
        hook = getattr(self.strategy, "on_order_fill", None)
        if hook is not None:
            with self.active():
                hook(self.context, event.fill)

    def _order_updated(self, event: OrderUpdated) -> None:
        name = _HOOK_OF_STATUS.get(event.order.status)
        hook = getattr(self.strategy, name, None) if name else None
        if hook is not None:
            with self.active():
                hook(self.context, event.order)

    # -- portfolio views ------------------------------------------------------------
    def _held_columns(self) -> npt.NDArray[np.intp]:
        """Columns of the open positions, ascending."""
        if self._held_idx_stale:
            self._held_idx = self._held_mask.nonzero()[0]  # ascending, in C
            self._held_idx_stale = False
        return self._held_idx

    def positions_value_float(self) -> float:
        """Positions valued at the latest (forward-filled) closes, as a float."""
        row = self.portal.row
        version = self._book_version  # moves with every fill (and every resync)
        cached = self._value_cache
        if cached[0] == row and cached[1] == version:
            return cached[2]
        held = self._n_held
        value = 0.0
        if held == 1 and not self._foreign and row >= 0:
            # one position (single-asset strategies): no array steps; Python floats multiply
            # exactly as float64 scalars do, in the same order
            single = self._single_col
            if single is None or single[1] != version:
                c = int(self._held_columns()[0])
                weight = self._qty.item(c) * self._mult.item(c)
                single = self._single_col = (c, version, weight, self.portal.fixed_price_table())
            table = single[3]
            if table is None:
                value = single[2] * self.portal.price_at(single[0])
            else:  # price_at() without the call
                value = single[2] * table.item(row, single[0])
        elif held and row >= 0:
            idx = self._held_columns()
            prices = self.portal.price_row()
            weights = self._qty.take(idx)
            if not self._unit_mult:
                weights = weights * self._mult.take(idx)
            if self._foreign:  # foreign-quoted positions at the rate in force (float view)
                weights = weights * np.array(
                    [self._float_rate(col) for col in idx.tolist()], dtype=np.float64
                )
            value = float(np.dot(weights, prices.take(idx)))
        self._value_cache = (row, version, value)
        return value

    def _float_rate(self, col: int) -> float:
        currency = self._foreign.get(col)
        if currency is None:
            return 1.0
        try:
            return float(self.ledger.rate(currency))
        except KeyError:  # no rate yet: the exact books refuse to value it too
            return float("nan")

    def position_views(self) -> Positions:
        """Open positions as float views: a snapshot at the current bar.

        Amounts and cost bases come from a mirror of the ledger's Decimals updated fill
        by fill (turned into floats once per row, when a view is first read); only the
        last prices are read per bar, from the forward-filled closes, in one array step.

        A bar's snapshot that nobody read or kept (CPython's reference count) serves the
        next bar too, re-dated: a weak reference to it, or an attribute set on it, then
        follows it to the later bar, where keeping the object itself keeps its bar's.
        """
        portal = self.portal
        row = portal.row
        if row == self._views_row:  # this bar's snapshot (a fill resets _views_row)
            return self._views
        self._views_row = row
        if not self._mirror:  # flat: nothing priced, an empty snapshot
            views = self._views
            if views.__class__ is not Positions or views:  # the last one was used otherwise
                views = self._views = Positions()
            return views
        # the views are built when the strategy first reads one (most only test
        # membership), from this bar's prices: the row is kept, not re-read
        build = (_build_views, portal, row, portal.now)
        views = self._views
        if (
            views.__class__ is LazyPositions  # unread (a read makes it a plain Positions)
            and self._views_current
            and _refcount is not None
            and _refcount(self._views) == _ONLY_OURS  # an attribute load: an owned reference
        ):
            # the last bar's, of the same positions, unread and held by nobody else (a
            # strategy that keeps one gets a new one next bar): re-dated, not rebuilt
            views.__dict__["_build"] = build
            return views
        # the mirror's rows as of now (a fill replaces a row, never edits one) stand in for
        # the views until one is read (only dict's own unbound methods, dict.values(views)
        # say, could see them: the views' methods build first)
        views = self._views = LazyPositions(self._mirror)  # type: ignore[arg-type]
        views._build = build
        self._views_current = True
        return views

    def _refresh_view(
        self, asset: Asset, col: int, state: tuple[Decimal, Decimal, Decimal] | None
    ) -> None:
        """Mirror the ledger's ``(amount, cost value, last price)`` of ``asset`` (None:
        flat); the next positions read builds its views anew."""
        if state is None:
            self._mirror.pop(asset, None)
        else:
            self._mirror[asset] = [col, *state, asset.multiplier, None]
        self._views_row = -2
        self._views_current = False

    # -- the API -------------------------------------------------------------------
    def order(
        self,
        asset: Asset,
        amount: float | int | Decimal,
        limit_price: float | None = None,
        stop_price: float | None = None,
        style: Any = None,
    ) -> str | None:
        """Place an order for ``amount`` (signed) of ``asset``; return its id, or None for 0.

        ``style`` is a kernel :class:`OrderStyle` or an :mod:`rbt.finance.execution` style
        (a ``BracketOrder`` also places its exits). Prices round to the tick on the
        passive side (:func:`rbt.kernel.orders.round_order`); an invalid order is
        DENIED with a reason (``get_order(id).reason``), not raised.
        """
        if not isinstance(asset, Asset):
            raise TypeError(f"order() expects an Asset (use symbol('...')), got {asset!r}")
        quantity = self._quantity(asset, amount)
        if quantity == 0:
            return None
        if style is None and limit_price is None and stop_price is None:  # a market order
            order_id = self.session.place_market_order(asset, quantity)
            for control in self._controls:
                control.raise_failure()
            return order_id
        bracket = style if isinstance(style, BracketOrder) else None
        if bracket is not None:
            style = bracket.entry
        if isinstance(style, ExecutionStyle):
            style = style.to_style()
        kernel_style = self._style(limit_price, stop_price, style)
        if kernel_style.type is not OrderType.MARKET:  # the quantity is on the lot already
            quantity, kernel_style = round_order(asset, quantity, kernel_style)
        order = self.session.place_order(asset, quantity, kernel_style)
        for control in self._controls:
            control.raise_failure()
        if bracket is not None:
            place_bracket_exits(self.session, order, bracket)
        return order.id

    def _quantity(self, asset: Asset, amount: float | int | Decimal) -> Decimal:
        lot = asset.lot_size
        if amount.__class__ is int and -_MAX_PLAIN < amount < _MAX_PLAIN and _is_one(lot):
            return Decimal(amount)  # whole units of a whole-unit lot: round_quantity's no-op
        if amount.__class__ is Decimal:  # order_target's difference, say
            return round_quantity(amount, lot)
        if isinstance(amount, float):
            if not math.isfinite(amount):
                raise ValueError(f"order amount must be finite, got {amount!r}")
            lots = amount / float(lot)
            nearest = round(lots)
            if abs(lots - nearest) < _NEAR_INTEGER:
                return Decimal(nearest) * lot
            if abs(amount) < 2**53 and _is_one(lot):
                # toward zero to whole units: the float's integer part is its shortest
                # text's (round_quantity(decimal_from_float(amount), lot), without the text)
                return Decimal(int(amount))
            amount = decimal_from_float(amount)
        elif isinstance(amount, bool) or not isinstance(amount, int | Decimal):
            raise TypeError(f"order amount must be a number, got {amount!r}")
        return round_quantity(Decimal(amount), lot)

    @staticmethod
    def _style(limit: float | None, stop: float | None, style: OrderStyle | None) -> OrderStyle:
        if style is not None:
            return style
        if limit is None and stop is None:
            return MARKET  # frozen: one shared instance
        kind = (
            OrderType.STOP_LIMIT
            if limit is not None and stop is not None
            else OrderType.LIMIT
            if limit is not None
            else OrderType.STOP
        )
        as_dec = lambda v: None if v is None else decimal_from_float(float(v))  # noqa: E731
        return OrderStyle(type=kind, limit_price=as_dec(limit), stop_price=as_dec(stop))

    def _last_price(self, asset: Asset) -> float:
        price = self.data.current(asset, "price")
        if math.isnan(price):
            raise RbtError(f"cannot size an order for {asset!r}: it has no price yet")
        return float(price)

    def _units_worth(self, asset: Asset, value: float) -> float | None:
        """``value`` (currency) of ``asset`` in units at its last price; None at price 0."""
        price = self._last_price(asset)
        if price == 0:
            return None
        return float(value) / (price * float(asset.multiplier))

    # the order_* family passes its options on by position: no keyword dict built and
    # taken apart at each of its levels (a third of a rebalancing loop's order calls)
    def order_value(
        self,
        asset: Asset,
        value: float,
        limit_price: float | None = None,
        stop_price: float | None = None,
        style: Any = None,
    ) -> str | None:
        """Order ``value`` (currency) worth of ``asset`` at its last price."""
        amount = self._units_worth(asset, value)
        if amount is None:
            return None
        return self.order(asset, amount, limit_price, stop_price, style)

    def order_percent(
        self,
        asset: Asset,
        percent: float,
        limit_price: float | None = None,
        stop_price: float | None = None,
        style: Any = None,
    ) -> str | None:
        """Order ``percent`` of the portfolio value."""
        value = self.context.portfolio.portfolio_value * percent
        return self.order_value(asset, value, limit_price, stop_price, style)

    def order_target(
        self,
        asset: Asset,
        target: float | int | Decimal,
        limit_price: float | None = None,
        stop_price: float | None = None,
        style: Any = None,
    ) -> str | None:
        """Order the difference between ``target`` and the current position.

        Open orders are not netted, as in Zipline.
        """
        held = self.ledger.position_amount(asset)
        if isinstance(target, float):
            return self.order(asset, target - float(held), limit_price, stop_price, style)
        return self.order(asset, Decimal(target) - held, limit_price, stop_price, style)

    def order_target_value(
        self,
        asset: Asset,
        target: float,
        limit_price: float | None = None,
        stop_price: float | None = None,
        style: Any = None,
    ) -> str | None:
        """Order so the position is worth ``target``."""
        amount = self._units_worth(asset, target)
        if amount is None:
            return None
        return self.order_target(asset, amount, limit_price, stop_price, style)

    def order_target_percent(
        self,
        asset: Asset,
        target: float,
        limit_price: float | None = None,
        stop_price: float | None = None,
        style: Any = None,
    ) -> str | None:
        """Order so the position is ``target`` of the portfolio value."""
        value = self.context.portfolio.portfolio_value * target
        return self.order_target_value(asset, value, limit_price, stop_price, style)

    def cancel_order(self, order: str | Order) -> None:
        """Cancel an open order (by id or object)."""
        self.session.cancel_order(order.id if isinstance(order, Order) else order)

    def get_order(self, order_id: str) -> Order | None:
        """The order with ``order_id``."""
        return self.session.orders.get(order_id)

    def get_open_orders(self, asset: Asset | None = None) -> Any:
        """Open orders of ``asset``, or ``{asset: [orders]}`` for all (Zipline's shapes)."""
        open_orders = self.session.orders.open_orders()
        if asset is not None:
            return [o for o in open_orders if o.asset == asset]
        grouped: dict[Asset, list[Order]] = {}
        for o in open_orders:
            grouped.setdefault(o.asset, []).append(o)
        return grouped

    def replace_order(
        self,
        order: str | Order,
        amount: float | int | Decimal | None = None,
        limit_price: float | None = None,
        stop_price: float | None = None,
        style: Any = None,
    ) -> str | None:
        """Cancel and replace: cancel ``order`` and place a new order linked to it.

        The new order has ``style.replaces`` set to the old id, the old order's asset,
        time in force and links, and by default its unfilled amount and prices; give
        ``amount``, prices or a ``style`` to change them. Returns the new id, or None
        when the old order is no longer open (nothing is placed). In the simulator the
        cancel takes effect at once; at a live venue a fill may race it.
        """
        old = self.session.orders.get(order.id if isinstance(order, Order) else order)
        if old is None:
            raise KeyError(f"unknown order id {order!r}")
        if not old.is_open:
            return None
        self.session.cancel_order(old.id)
        current = self.session.orders.get(old.id) or old
        quantity = current.open_amount if amount is None else self._quantity(old.asset, amount)
        if quantity == 0:
            return None
        if isinstance(style, ExecutionStyle):
            style = style.to_style()
        new_style = style
        if new_style is None:
            new_style = old.style
            if limit_price is not None or stop_price is not None:
                new_style = attrs.evolve(
                    self._style(limit_price, stop_price, None),
                    time_in_force=old.style.time_in_force,
                    good_till=old.style.good_till,
                    oco_group=old.style.oco_group,
                    parent_id=old.style.parent_id,
                )
        new_style = attrs.evolve(new_style, replaces=old.id)
        quantity, new_style = round_order(old.asset, quantity, new_style)
        placed = self.session.place_order(old.asset, quantity, new_style)
        for control in self._controls:
            control.raise_failure()
        return placed.id

    # -- trading controls and the account (rbt.api.controls) -----------------------------
    def _add_control(self, name: str, control: _controls.Control) -> None:
        self._require_initializing(name)
        self._controls.append(control)
        self.session.checks.append(control)

    def set_max_leverage(self, max_leverage: float, on_error: str = "fail") -> None:
        """Deny orders that would take gross leverage above ``max_leverage``."""
        self._add_control("set_max_leverage", _controls.max_leverage(self, max_leverage, on_error))

    def set_max_position_size(
        self,
        asset: Asset | None = None,
        max_shares: float | None = None,
        max_notional: float | None = None,
        on_error: str = "fail",
    ) -> None:
        """Limit the position an order may leave (in ``asset``, or in every asset)."""
        control = _controls.max_position_size(self, asset, max_shares, max_notional, on_error)
        self._add_control("set_max_position_size", control)

    def set_max_order_size(
        self,
        asset: Asset | None = None,
        max_shares: float | None = None,
        max_notional: float | None = None,
        on_error: str = "fail",
    ) -> None:
        """Limit the size of one order (of ``asset``, or of every asset)."""
        control = _controls.max_order_size(self, asset, max_shares, max_notional, on_error)
        self._add_control("set_max_order_size", control)

    def set_max_order_count(self, max_count: int, on_error: str = "fail") -> None:
        """Limit the number of orders per session."""
        self._add_control(
            "set_max_order_count", _controls.max_order_count(self, max_count, on_error)
        )

    def set_long_only(self, on_error: str = "fail") -> None:
        """Deny orders that would leave a short position."""
        self._add_control("set_long_only", _controls.long_only(self, on_error))

    def set_do_not_order_list(self, restricted_list: Any, on_error: str = "fail") -> None:
        """Deny orders for the assets of ``restricted_list``."""
        control = _controls.do_not_order_list(self, restricted_list, on_error)
        self._add_control("set_do_not_order_list", control)

    def set_account(self, account: str) -> None:
        """``"margin"`` (default, no cash check) or ``"cash"`` (buys limited to free cash)."""
        if account not in _controls.ACCOUNTS:
            raise ConfigError(
                f"account must be one of {', '.join(_controls.ACCOUNTS)}, got {account!r}"
            )
        checks = self.session.checks
        if account == "cash" and _controls.cash_account_check not in checks:
            checks.insert(1, _controls.cash_account_check)
        elif account == "margin" and _controls.cash_account_check in checks:
            checks.remove(_controls.cash_account_check)
        self.account = account

    def symbol(self, ticker: str) -> Asset:
        """The asset with ``ticker`` as of the current session."""
        return self._lookup(ticker, self.session.session_label)

    def record(self, *args: Any, **kwargs: Any) -> None:
        """Record named values for this session (``record(x=1)`` or ``record("x", 1)``)."""
        if len(args) % 2:
            raise TypeError("record() takes name/value pairs or keyword arguments")
        pairs = dict(zip(args[::2], args[1::2], strict=True))
        pairs.update(kwargs)
        clash = sorted(set(pairs) & PERF_COLUMNS)
        if clash:  # a recorded float must not replace an exact column of the results
            raise ValueError(
                f"record(): {', '.join(clash)} is a built-in performance column; "
                "record it under another name"
            )
        self._recorded.update(pairs)

    def schedule_function(
        self,
        func: Callable[[Any, Any], None],
        date_rule: DateRule | None = None,
        time_rule: TimeRule | None = None,
        half_days: bool = True,
        calendar: Any = None,
    ) -> None:
        """Run ``func(context, data)`` on the sessions ``date_rule`` selects."""
        rule = date_rule or date_rules.every_day()
        # Zipline counts sessions within whole calendar weeks/months, not within the run:
        # a run starting mid-week must not treat its first session as the week's start
        first, last = self.sessions[0], self.sessions[-1]
        lo = min(first.replace(day=1), first - dt.timedelta(days=first.weekday()))
        next_month = (last.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
        hi = max(next_month - dt.timedelta(days=1), last + dt.timedelta(days=6 - last.weekday()))
        in_run = set(self.sessions)
        wide = self.portal.calendar.sessions(lo, hi)
        sessions = frozenset(s for s in rule.sessions(wide) if s in in_run)
        if not half_days:
            sessions = frozenset(s for s in sessions if not self._is_half_day(s))
        times = None
        if self.portal.bars.frequency is Frequency.MINUTE:  # fire at one minute (schedule.py)
            rule_t = time_rule or time_rules.market_open()
            if rule_t.anchor != "every_minute":
                calendar = self.portal.calendar
                times = frozenset(
                    rule_t.fire_time(t.open, t.close) for t in map(calendar.session_times, sessions)
                )
        self._scheduled.append(_Scheduled(func, sessions, time_rule, times))

    def _is_half_day(self, session: dt.date) -> bool:
        times = self.portal.calendar.session_times(session)
        return times.close - times.open < 6 * 3600 * 1_000_000_000

    def set_commission(
        self,
        model: Any = None,
        *,
        us_equities: Any = None,
        us_futures: Any = None,
        asset_class: Mapping[Any, Any] | None = None,
    ) -> None:
        """Choose commission models (instances or provider names); only in ``initialize``.

        ``model`` applies to every asset; ``us_equities``, ``us_futures`` and
        ``asset_class={"crypto": ..., AssetClass.PERPETUAL: ...}`` to one asset class.
        """
        self._require_initializing("set_commission")
        self._set_models("commission", model, us_equities, us_futures, asset_class)

    def set_slippage(
        self,
        model: Any = None,
        *,
        us_equities: Any = None,
        us_futures: Any = None,
        asset_class: Mapping[Any, Any] | None = None,
    ) -> None:
        """Choose slippage models (instances or provider names); only in ``initialize``.

        Per asset class as :meth:`set_commission`.
        """
        self._require_initializing("set_slippage")
        self._set_models("slippage", model, us_equities, us_futures, asset_class)

    def _set_models(
        self,
        what: str,
        model: Any,
        us_equities: Any,
        us_futures: Any,
        asset_class: Mapping[Any, Any] | None,
    ) -> None:
        by_class: dict[AssetClass, Any] = {}
        for key, chosen in (asset_class or {}).items():
            try:
                cls = key if isinstance(key, AssetClass) else AssetClass(str(key).lower())
            except ValueError:
                names = ", ".join(c.value for c in AssetClass)
                raise ConfigError(f"unknown asset class {key!r}; choose one of: {names}") from None
            by_class[cls] = chosen
        if us_equities is not None:
            by_class[AssetClass.EQUITY] = us_equities
        if us_futures is not None:
            by_class[AssetClass.FUTURE] = us_futures
        if model is None and not by_class:
            example = (
                "commission.PerShare(cost=0.005)"
                if what == "commission"
                else ("slippage.FixedBasisPointsSlippage()")
            )
            raise ConfigError(f"set_{what} needs a model, e.g. {example}")
        broker = self.session.broker
        if model is not None:
            resolved = self._resolve_model(model, what)
            setattr(self, what, resolved)
            setattr(broker, what, resolved)
        if by_class:
            table = getattr(broker, f"{what}_by_class", None)
            if table is None:
                raise ConfigError(f"broker {broker.name!r} has no per-asset-class {what} models")
            for cls, chosen in by_class.items():
                table[cls] = self._resolve_model(chosen, what)
            if model is None and AssetClass.EQUITY in by_class:
                setattr(self, what, table[AssetClass.EQUITY])

    def set_benchmark(self, benchmark: Asset) -> None:
        """Compare the run with ``benchmark``'s returns (alpha, beta, the report); only in
        ``initialize``. ``run_backtest(benchmark=...)`` / ``rbt run --benchmark`` override it."""
        self._require_initializing("set_benchmark")
        if not isinstance(benchmark, Asset):
            raise TypeError(
                f"set_benchmark() expects an Asset (use symbol('...')), got {benchmark!r}"
            )
        self.benchmark = benchmark

    def _resolve_model(self, model: Any, what: str) -> Any:
        if not isinstance(model, str):
            if not (hasattr(model, "calculate") or hasattr(model, "fill")):
                raise ConfigError(f"{model!r} is not a {what} model")
            return model
        from rbt.kernel.registry import ProviderKind
        from rbt.plugins import plugin_manager

        kind = (
            ProviderKind.COMMISSION_MODEL if what == "commission" else ProviderKind.SLIPPAGE_MODEL
        )
        manager = self.session.manager or plugin_manager()
        return manager.get_provider(kind, model).create()

    def _require_initializing(self, name: str) -> None:
        if self._initialized:
            raise RbtError(f"{name}() can only be called in initialize()")

    def get_datetime(self, tz: Any = None) -> Any:
        """The simulation time as a pandas Timestamp (UTC unless ``tz``)."""
        stamp = self.data.current_dt
        return stamp.tz_convert(tz) if tz is not None else stamp

    # -- pipeline (rbt.pipeline) ----------------------------------------------------------
    def attach_pipeline(
        self, pipeline: Any, name: str, chunks: Any = None, eager: bool = True
    ) -> Any:
        """Register ``pipeline``; ``pipeline_output(name)`` returns it each session."""
        self._require_initializing("attach_pipeline")
        from rbt.pipeline.engine import PipelineEngine

        engine = self.__dict__.get("_pipeline_engine")
        if engine is None:
            engine = PipelineEngine(self.portal.bars, self.sessions)
            self._pipeline_engine = engine
        return engine.attach(pipeline, name)

    def pipeline_output(self, name: str) -> Any:
        """This session's output of the pipeline attached as ``name`` (pandas, by asset)."""
        engine = self.__dict__.get("_pipeline_engine")
        if engine is None:
            raise RbtError(
                f"no pipeline named {name!r} is attached; "
                "call attach_pipeline(pipeline, name) in initialize()"
            )
        session = self.session.session_label
        if session is None:
            raise RbtError("pipeline_output() is available from before_trading_start on")
        return engine.output(name, session)
