"""``data`` in ``handle_data(context, data)``: Zipline's BarData over the portal."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from rbt.data.portal import BarPortal, as_sequence
from rbt.kernel.model import Asset

__all__ = ["BarData"]


class BarData:
    """Point-in-time market data for the strategy (floats, Zipline's shapes)."""

    __slots__ = ("_portal", "history")

    def __init__(self, portal: BarPortal) -> None:
        self._portal = portal
        # ``data.history(assets, fields, bar_count, frequency, frame="pandas")``: the
        # trailing window ending at the current bar (:meth:`BarPortal.history`); bound
        # directly, it costs one call per bar, not two
        self.history = portal.history

    def current(self, assets: Asset | Sequence[Asset], fields: str | Sequence[str]) -> Any:
        """Latest values: a float, or pandas objects for several assets/fields."""
        return self._portal.current(assets, fields)

    def can_trade(self, assets: Asset | Sequence[Asset]) -> Any:
        """Whether each asset is listed and has a price now."""
        if isinstance(assets, Asset):
            return self._portal.can_trade(assets)
        return self._per_asset(assets, self._portal.can_trade_each)

    def is_stale(self, assets: Asset | Sequence[Asset]) -> Any:
        """Whether each asset traded before but has no bar now."""
        if isinstance(assets, Asset):
            return self._portal.is_stale(assets)
        return self._per_asset(assets, self._portal.is_stale_each)

    def _per_asset(self, assets: Iterable[Asset], each: Callable[[Sequence[Asset]], Any]) -> Any:
        """``each(assets)`` as a pandas Series indexed by the assets (read once)."""
        import pandas as pd

        assets = as_sequence(assets)
        index = self._portal.asset_index(assets, assets)
        return pd.Series(each(assets), index=index, copy=False)

    @property
    def current_dt(self) -> Any:
        """The simulation time as a UTC pandas Timestamp."""
        import pandas as pd

        return pd.Timestamp(self._portal.now, unit="ns", tz="UTC")
