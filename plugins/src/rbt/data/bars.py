"""In-memory bar arrays: what a loaded bundle hands to the data portal.

Every field is a 2-D array ``[bar, asset]`` aligned on one timeline, so the
portal serves ``data.history`` as array *views* without building frames.
Floats are what strategies see; the exact stored values are integer
mantissas with a per-asset decimal scale (value = mantissa / 10**scale).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal

import attrs
import numpy as np
import numpy.typing as npt

from rbt.data.actions import CorporateActions
from rbt.kernel.clock import Frequency
from rbt.kernel.model import Asset

__all__ = ["OHLCV", "BarArrays", "bars_from_floats"]

OHLCV = ("open", "high", "low", "close", "volume")


@attrs.frozen(kw_only=True, eq=False)
class BarArrays:
    """Bars of many assets on one timeline.

    :param assets: column ``i`` of every array belongs to ``assets[i]``.
    :param ts: bar end times, UTC ns, strictly increasing, shape ``(T,)``.
    :param sessions: session label (``datetime64[D]``) of each bar, shape ``(T,)``.
    :param floats: ``field -> float64[T, N]``; NaN where an asset has no bar.
    :param mantissas: ``field -> int64[T, N]``; exact values (0 where no bar).
    :param price_scales: decimal places of each asset's prices, ``int64[N]``.
    :param volume_scales: decimal places of each asset's volumes, ``int64[N]``.
    :param actions: splits, dividends and funding rates (prices are unadjusted).
    """

    frequency: Frequency
    calendar: str
    assets: tuple[Asset, ...]
    ts: npt.NDArray[np.int64]
    sessions: npt.NDArray[np.datetime64]
    floats: Mapping[str, npt.NDArray[np.float64]]
    mantissas: Mapping[str, npt.NDArray[np.int64]]
    price_scales: npt.NDArray[np.int64]
    volume_scales: npt.NDArray[np.int64]
    actions: CorporateActions = attrs.field(factory=CorporateActions)
    _column_index: dict[int, int] = attrs.field(init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "_column_index", {a.sid: i for i, a in enumerate(self.assets)})

    @property
    def shape(self) -> tuple[int, int]:
        """(bars, assets)."""
        return (len(self.ts), len(self.assets))

    def column(self, asset: Asset) -> int:
        """Column index of ``asset``.

        :raises KeyError: for an asset not in these arrays.
        """
        return self._column_index[asset.sid]

    def exact(self, field: str, row: int, col: int) -> Decimal:
        """The exact stored value of ``field`` at ``(row, col)``."""
        scale = self.volume_scales[col] if field == "volume" else self.price_scales[col]
        return Decimal(int(self.mantissas[field][row, col])).scaleb(-int(scale))

    def has_bar(self, row: int, col: int) -> bool:
        """Whether asset ``col`` has a bar at ``row``."""
        return not np.isnan(self.floats["close"][row, col])

    def select(self, assets: Sequence[Asset]) -> BarArrays:
        """A copy restricted to ``assets`` (in that order)."""
        idx = np.array([self.column(a) for a in assets], dtype=np.int64)
        return attrs.evolve(
            self,
            assets=tuple(assets),
            floats={k: np.ascontiguousarray(v[:, idx]) for k, v in self.floats.items()},
            mantissas={k: np.ascontiguousarray(v[:, idx]) for k, v in self.mantissas.items()},
            price_scales=self.price_scales[idx],
            volume_scales=self.volume_scales[idx],
            actions=self.actions.restricted(a.sid for a in assets),
        )


def bars_from_floats(
    assets: Sequence[Asset],
    sessions: Sequence[object],
    fields: Mapping[str, npt.ArrayLike],
    *,
    calendar: str = "XNYS",
    price_scale: int = 4,
    actions: CorporateActions | None = None,
) -> BarArrays:
    """Build daily :class:`BarArrays` from ``[session, asset]`` float arrays (tests, examples).

    Prices are rounded to ``price_scale`` decimals to get their exact mantissas;
    volumes are stored as whole units. NaN marks a missing bar.
    """
    days = np.asarray(sessions, dtype="datetime64[D]")
    floats: dict[str, npt.NDArray[np.float64]] = {}
    mantissas: dict[str, npt.NDArray[np.int64]] = {}
    for name in OHLCV:
        values = np.asarray(fields[name], dtype=np.float64)
        if values.shape != (len(days), len(assets)):
            raise ValueError(
                f"{name}: expected shape {(len(days), len(assets))}, got {values.shape}"
            )
        scale = 0 if name == "volume" else price_scale
        exact = np.where(np.isnan(values), 0, np.round(np.nan_to_num(values) * 10**scale)).astype(
            np.int64
        )
        mantissas[name] = exact
        floats[name] = np.where(np.isnan(values), np.nan, exact / 10**scale)
    return BarArrays(
        frequency=Frequency.DAILY,
        calendar=calendar,
        assets=tuple(assets),
        ts=days.astype("datetime64[ns]").astype(np.int64),
        sessions=days,
        floats=floats,
        mantissas=mantissas,
        price_scales=np.full(len(assets), price_scale, dtype=np.int64),
        volume_scales=np.zeros(len(assets), dtype=np.int64),
        actions=actions or CorporateActions(),
    )
