"""The data-portal contract: point-in-time market data for strategies and brokers.

A portal has a cursor (the clock's current bar). Nothing stamped after the
cursor is ever visible: ``current`` returns the bar ending at the cursor (or
the last one before it), ``history`` returns windows ending at the cursor.
Implementations live in plugins (the Parquet bundle reader, live feeds).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal
from typing import Any, Protocol, runtime_checkable

from rbt.kernel.model import Asset

__all__ = ["FIELDS", "DataPortal", "advance_each"]

#: Bar fields every portal serves. ``price`` is the last close, forward-filled.
FIELDS = ("open", "high", "low", "close", "volume", "price")


@runtime_checkable
class DataPortal(Protocol):
    """Point-in-time access to bars.

    A portal may also offer ``walk(times) -> Iterator[int]``: yield each of ``times``
    (ascending) with the cursor advanced to it, as ``advance(ts)`` would. A backtest
    session walks each session's bars through it when present (a cheaper cursor for
    minute bars), and calls :meth:`advance` per bar otherwise.
    """

    def advance(self, ts: int) -> None:
        """Move the cursor to ``ts`` (never backwards; to the current time, a no-op)."""
        ...

    @property
    def now(self) -> int:
        """The cursor, UTC nanoseconds."""
        ...

    def current(self, assets: Asset | Sequence[Asset], fields: str | Sequence[str]) -> Any:
        """Values at the cursor as floats (NaN where there is no bar)."""
        ...

    def history(
        self,
        assets: Asset | Sequence[Asset],
        fields: str | Sequence[str],
        bar_count: int,
        frequency: str,
        frame: str = "pandas",
    ) -> Any:
        """The last ``bar_count`` bars up to and including the cursor."""
        ...

    def can_trade(self, asset: Asset) -> bool:
        """Whether ``asset`` is listed and has a price at the cursor."""
        ...

    def is_stale(self, asset: Asset) -> bool:
        """Whether ``asset`` is listed but has no bar at the cursor."""
        ...

    def exact_price(self, asset: Asset, field: str) -> Decimal | None:
        """The exact stored value of ``field`` at the cursor, or None without a bar."""
        ...

    def exact_prices(self, assets: Sequence[Asset], field: str) -> Sequence[Decimal | None]:
        """:meth:`exact_price` of several assets at once (marking positions each close)."""
        ...


def advance_each(portal: DataPortal, times: Iterable[int]) -> Iterator[int]:
    """Yield each of ``times`` with ``portal`` advanced to it, one :meth:`~DataPortal.advance`
    per time: what a portal's optional ``walk(times)`` does, for any portal."""
    advance = portal.advance
    for ts in times:
        advance(ts)
        yield ts
