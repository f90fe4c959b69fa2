"""What a strategy sees of its books: float views over the exact ledger.

``context.portfolio`` has Zipline's fields as floats; ``.exact`` returns the
Decimal :class:`~rbt.kernel.model.Account`. Views are computed on access from
the ledger and the portal's prices, and cached until the next fill or bar.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

import attrs

from rbt.kernel.model import Account, Asset

if TYPE_CHECKING:
    from rbt.api.engine import Engine

__all__ = ["Portfolio", "PositionView", "Positions"]


@attrs.frozen
class PositionView:
    """One position as floats: ``amount``, ``cost_basis``, ``last_sale_price``."""

    asset: Asset
    amount: float
    cost_basis: float
    last_sale_price: float

    @property
    def sid(self) -> int:
        """The asset's sid."""
        return self.asset.sid


class Positions(Mapping[Asset, PositionView]):
    """Open positions by asset; a missing asset reads as a zero position (Zipline)."""

    def __init__(self, views: dict[Asset, PositionView]) -> None:
        self._views = views

    def __getitem__(self, asset: Asset) -> PositionView:
        view = self._views.get(asset)
        if view is None:
            return PositionView(asset, 0.0, 0.0, 0.0)
        return view

    def __contains__(self, asset: object) -> bool:
        return asset in self._views

    def __iter__(self) -> Iterator[Asset]:
        return iter(self._views)

    def __len__(self) -> int:
        return len(self._views)


class Portfolio:
    """Zipline's ``context.portfolio``: floats computed from the exact ledger."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @property
    def starting_cash(self) -> float:
        """Capital at the start."""
        return float(self._engine.ledger.starting_cash)

    @property
    def cash(self) -> float:
        """Cash now."""
        return float(self._engine.ledger.cash)

    @property
    def positions_value(self) -> float:
        """Market value of the positions at the latest prices."""
        return self._engine.positions_value_float()

    @property
    def portfolio_value(self) -> float:
        """Cash plus positions value."""
        return self.cash + self.positions_value

    @property
    def pnl(self) -> float:
        """Profit since the start."""
        return self.portfolio_value - self.starting_cash

    @property
    def returns(self) -> float:
        """Cumulative return since the start."""
        return self.portfolio_value / self.starting_cash - 1.0

    @property
    def capital_used(self) -> float:
        """Net cash spent on trades and costs."""
        return self.starting_cash - self.cash

    @property
    def positions(self) -> Positions:
        """Open positions by asset."""
        return self._engine.position_views()

    @property
    def exact(self) -> Account:
        """The exact books (Decimal), valued at the latest exact prices."""
        self._engine.session.mark_positions()  # value at the cursor's closes, not the last mark
        return self._engine.ledger.account()

    def __repr__(self) -> str:
        return (
            f"Portfolio(cash={self.cash:.2f}, positions={len(self.positions)}, "
            f"portfolio_value={self.portfolio_value:.2f})"
        )
