"""The data-source contract: what a plugin hands to ``rbt ingest``.

A :class:`DataSource` lists its symbols and returns one Polars frame of bars per
symbol. Frames use the canonical columns of :data:`BAR_COLUMNS`:

``ts``
    ``pl.Date`` (the session label) for daily bars; ``pl.Datetime("ns", "UTC")``
    for intraday bars, stamped with the bar's *end* time (design.md §2.1a.4).
``open``, ``high``, ``low``, ``close``, ``volume``
    exact numbers: ``pl.Decimal`` (any scale up to :data:`MAX_SCALE`) or an
    integer dtype. Never floats: a float cannot round-trip every price.
``line`` (optional)
    the 1-based physical line of each row in the source file, so validation
    errors can point at it; dropped on ingest.

A source may also offer the fast path ``read_batch(symbols) -> BarBatch``:
many symbols at once as int64 mantissas (the CSV source parses a whole
directory in a few vectorized passes this way). A source whose ``read_batch``
may run in two threads at once says so with a true ``thread_safe_batches``
class attribute; ingest then reads two batches at a time.

Optional methods (``rbt ingest`` calls them when a source has them):

``corporate_actions() -> pl.DataFrame | None``
    splits and cash dividends: columns ``symbol``, ``kind`` (``split`` /
    ``dividend``), ``ex_date`` and ``pay_date`` (``pl.Date``; ``pay_date`` may be
    null: the ex-date), ``value`` (exact decimal text: the split ratio, new
    shares per old share, or the dividend per share); optional ``line`` and
    ``origin`` for messages. See :mod:`rbt.data.actions`.
``funding_rates() -> pl.DataFrame | None``
    perpetual funding: ``symbol``, ``ts`` (``pl.Datetime`` with a time zone),
    ``rate`` (exact decimal text; positive: longs pay).

Sources only *parse*. Consistency checks (OHLC order, signs, duplicates, sort
order, calendar sessions) run once, for every source alike, in
:mod:`rbt.data.validate` during ingest.

.. versionadded:: 0.1
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import attrs

from rbt.kernel.clock import Frequency
from rbt.kernel.model import AssetClass
from rbt.kernel.numeric import ZERO, to_decimal

if TYPE_CHECKING:
    import polars as pl

__all__ = [
    "BAR_COLUMNS",
    "LINE_COLUMN",
    "MAX_SCALE",
    "PRICE_FIELDS",
    "AssetInfo",
    "BarBatch",
    "BatchDataSource",
    "DataSource",
]

PRICE_FIELDS = ("open", "high", "low", "close")
BAR_COLUMNS = ("ts", *PRICE_FIELDS, "volume")
LINE_COLUMN = "line"
#: Most decimal places a stored price or volume may have. Mantissas are int64,
#: so 9 places still leave values up to ~9.2e9 (and 2 places up to ~9.2e16).
MAX_SCALE = 9


def _opt_dec(value: Decimal | int | str | None) -> Decimal | None:
    return None if value is None else to_decimal(value)


@attrs.frozen(kw_only=True)
class AssetInfo:
    """Reference data a source knows about one symbol.

    :param symbol: the symbol as users write it.
    :param asset_class: equity, crypto, future or perpetual.
    :param exchange: listing exchange or venue (free text, may be empty).
    :param calendar: trading-calendar name (``XNYS``, ``always_open``, ...).
    :param quote_currency: currency prices are quoted in.
    :param tick_size: price increment; ``None`` means one unit of the
        stored price scale (``0.01`` for prices with two decimals).
    :param lot_size: quantity increment.
    :param min_notional: smallest order value accepted.
    :param multiplier: contract multiplier.
    :param auto_close_date: date positions are closed automatically (futures).
    :param note: free text kept in the bundle, e.g. ``"SYNTHETIC"``.
    """

    symbol: str
    asset_class: AssetClass = AssetClass.EQUITY
    exchange: str = ""
    calendar: str = "XNYS"
    quote_currency: str = "USD"
    tick_size: Decimal | None = attrs.field(default=None, converter=_opt_dec)
    lot_size: Decimal = attrs.field(default=Decimal(1), converter=to_decimal)
    min_notional: Decimal = attrs.field(default=ZERO, converter=to_decimal)
    multiplier: Decimal = attrs.field(default=Decimal(1), converter=to_decimal)
    auto_close_date: dt.date | None = None
    note: str = ""


@runtime_checkable
class DataSource(Protocol):
    """A provider of historical bars (``ProviderKind.DATA_SOURCE``).

    The factory is called with the ingest options as keyword arguments
    (``rbt ingest csv --option path=...``).

    .. versionadded:: 0.1
    """

    #: Bar interval of every frame this source returns.
    frequency: Frequency
    #: Trading calendar of the bundle (daily bars must fall on its sessions).
    calendar: str

    @property
    def options(self) -> Mapping[str, Any]:
        """The source's effective options, JSON-serializable, recorded in the manifest."""
        ...

    def symbols(self) -> Sequence[str]:
        """Every symbol the source can read."""
        ...

    def read(self, symbol: str) -> pl.DataFrame:
        """All bars of ``symbol`` with the canonical columns (see the module doc).

        :raises rbt.kernel.errors.SchemaError: for input that cannot be parsed,
            naming the file, line and field.
        """
        ...

    def asset_info(self, symbol: str) -> AssetInfo:
        """Reference data of ``symbol``."""
        ...

    def origin(self, symbol: str) -> str:
        """Where ``symbol``'s rows come from (a file path), for error messages."""
        ...


@attrs.frozen(kw_only=True, eq=False)
class BarBatch:
    """Bars of several symbols as exact int64 mantissas in one long frame.

    :param symbols: the symbols; ``frame["symbol_index"]`` indexes this tuple.
    :param frame: columns ``symbol_index`` (UInt32), ``ts``, ``open..volume``
        (Int64 mantissas) and optionally ``line`` (UInt32); rows of one symbol
        are contiguous and in source order.
    :param price_scales: decimal places of each symbol's price mantissas.
    :param volume_scales: decimal places of each symbol's volume mantissas.
    :param origins: where each symbol's rows come from (file path), for messages.
    """

    symbols: tuple[str, ...]
    frame: pl.DataFrame
    price_scales: tuple[int, ...]
    volume_scales: tuple[int, ...]
    origins: tuple[str, ...]


@runtime_checkable
class BatchDataSource(DataSource, Protocol):
    """A :class:`DataSource` that can also parse many symbols in one pass."""

    def read_batch(self, symbols: Sequence[str]) -> BarBatch:
        """Bars of ``symbols`` (see :class:`BarBatch`).

        :raises rbt.kernel.errors.SchemaError: as :meth:`DataSource.read`.
        """
        ...
