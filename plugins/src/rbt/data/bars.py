"""In-memory bar arrays: what a loaded bundle hands to the data portal.

Every field is a 2-D array ``[bar, asset]`` aligned on one timeline, so the
portal serves ``data.history`` as array *views* without building frames.
Floats are what strategies see; the exact stored values are integer
mantissas with a per-asset decimal scale (value = mantissa / 10**scale).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from decimal import Decimal

import attrs
import numpy as np
import numpy.typing as npt

from rbt.data.actions import CorporateActions
from rbt.kernel.clock import Frequency
from rbt.kernel.model import Asset
from rbt.kernel.numeric import EXACT_CONTEXT

__all__ = [
    "DERIVABLE",
    "OHLCV",
    "BarArrays",
    "DerivedMantissas",
    "bars_from_floats",
    "content_digest",
    "derive_mantissas",
]

OHLCV = ("open", "high", "low", "close", "volume")
#: Mantissas below this are recovered exactly from their float: ``rint(f * 10**s)`` is off
#: by at most ``|m| * 2**-52``, well under one half.
DERIVABLE = 2**50


def derive_mantissas(
    floats: npt.NDArray[np.float64], scales: npt.NDArray[np.int64]
) -> npt.NDArray[np.int64]:
    """``rint(floats * 10**scales)`` per column, 0 for NaN: exact below :data:`DERIVABLE`."""
    values = np.multiply(floats, np.power(10.0, scales)[None, :])
    np.rint(values, out=values)  # in place: one temporary, not three
    np.nan_to_num(values, copy=False)
    return values.astype(np.int64)


def _mantissa(value: float, factor: float) -> int:
    """One stored float's mantissa (``factor``: 10 ** its scale); 0 where NaN (no bar)."""
    return 0 if value != value else round(value * factor)


class DerivedMantissas(Mapping[str, npt.NDArray[np.int64]]):
    """The exact mantissas of each field, built from the floats on first use.

    A loaded bundle's bars are its floats: for a field whose mantissas are all below
    :data:`DERIVABLE` in magnitude, the mantissa array is ``rint(floats * 10**scale)``
    (0 where there is no bar), rebuilt on first access and cached; single values are
    computed without building the array. Fields with larger mantissas are given in
    ``stored``; derived arrays already at hand (a cache file maps the closes') in ``built``.

    :param floats: ``field -> float64[T, N]`` (NaN where there is no bar).
    :param price_scales: decimal places of each asset's prices.
    :param volume_scales: decimal places of each asset's volumes.
    :param stored: the fields whose mantissas are not derivable (part of the content).
    :param built: mantissa arrays equal to what the floats give (not part of the content).
    """

    def __init__(
        self,
        floats: Mapping[str, npt.NDArray[np.float64]],
        price_scales: npt.NDArray[np.int64],
        volume_scales: npt.NDArray[np.int64],
        stored: Mapping[str, npt.NDArray[np.int64]] | None = None,
        *,
        built: Mapping[str, npt.NDArray[np.int64]] | None = None,
    ) -> None:
        self._floats = floats
        self._scales = (price_scales, volume_scales)
        # per column, for prices then volumes: 10 ** scale as a float (a single value's
        # mantissa from its float) and -scale (its exponent)
        self._factors = tuple([10.0**s for s in scales.tolist()] for scales in self._scales)
        self._exponents = tuple([-s for s in scales.tolist()] for scales in self._scales)
        # what the floats cannot give back; unlike ``built`` (a cache) part of the content
        self._stored = tuple(sorted(stored or {}))
        self._built: dict[str, npt.NDArray[np.int64]] = {**(built or {}), **(stored or {})}

    def __repr__(self) -> str:
        # no address: reprs of the bars (and anything hashed from them) match across runs
        return f"DerivedMantissas(fields={list(self._floats)}, stored={list(self._stored)})"

    @property
    def stored_fields(self) -> tuple[str, ...]:
        """The fields whose mantissas were given, not derived from the floats."""
        return self._stored

    def _scale(self, field: str) -> npt.NDArray[np.int64]:
        return self._scales[1] if field == "volume" else self._scales[0]

    def __getitem__(self, field: str) -> npt.NDArray[np.int64]:
        built = self._built.get(field)
        if built is None:
            built = derive_mantissas(self._floats[field], self._scale(field))
            self._built[field] = built
        return built

    def __iter__(self) -> Iterator[str]:
        return iter(self._floats)

    def __len__(self) -> int:
        return len(self._floats)

    def value(self, field: str, row: int, col: int) -> int:
        """The mantissa at ``(row, col)`` (without building the field's array)."""
        built = self._built.get(field)
        if built is not None:
            return built.item(row, col)
        f = self._floats[field].item(row, col)
        return _mantissa(f, self._factors[1 if field == "volume" else 0][col])

    def exact(self, field: str, row: int, col: int) -> Decimal:
        """The exact value at ``(row, col)``: :meth:`value` at the column's scale (a
        simulated fill's price, once per fill)."""
        exponent = self._exponents[1 if field == "volume" else 0][col]
        return Decimal(self.value(field, row, col)).scaleb(exponent, EXACT_CONTEXT)

    def exact_in_row(self, field: str, row: int) -> Callable[[int], Decimal]:
        """:meth:`exact` of ``field`` at ``row``, as a function of the column (the row's
        lookups done once: the fills of one bar)."""
        volume = field == "volume"
        exponents = self._exponents[1 if volume else 0]
        built = self._built.get(field)
        if built is not None:
            mantissas = built[row]
            return lambda col: Decimal(mantissas.item(col)).scaleb(exponents[col], EXACT_CONTEXT)
        floats, factors = self._floats[field][row], self._factors[1 if volume else 0]
        return lambda col: Decimal(_mantissa(floats.item(col), factors[col])).scaleb(
            exponents[col], EXACT_CONTEXT
        )

    def bar_values(self, row: int, col: int) -> tuple[int, int, int, int, int]:
        """:meth:`value` of open, high, low, close and volume at ``(row, col)``, the
        column's scales looked up once (a simulated fill's bar)."""
        built, floats = self._built, self._floats
        price, volume = self._factors[0][col], self._factors[1][col]
        out: list[int] = []
        for field in OHLCV:
            known = built.get(field)
            if known is not None:
                out.append(known.item(row, col))
                continue
            f = floats[field].item(row, col)
            out.append(_mantissa(f, volume if field == "volume" else price))
        o, h, low, c, v = out
        return o, h, low, c, v

    def select(
        self, idx: npt.NDArray[np.int64], floats: Mapping[str, npt.NDArray[np.float64]]
    ) -> DerivedMantissas:
        """The mantissas of the columns ``idx`` (``floats``: those columns' floats)."""
        columns = {k: np.ascontiguousarray(v[:, idx]) for k, v in self._built.items()}
        return DerivedMantissas(
            floats,
            self._scales[0][idx],
            self._scales[1][idx],
            {k: columns[k] for k in self._stored},
            built=columns,
        )


@attrs.frozen(kw_only=True, eq=False)
class BarArrays:
    """Bars of many assets on one timeline.

    :param assets: column ``i`` of every array belongs to ``assets[i]``.
    :param ts: bar end times, UTC ns, strictly increasing, shape ``(T,)``.
    :param sessions: session label (``datetime64[D]``) of each bar, shape ``(T,)``.
    :param floats: ``field -> float64[T, N]``; NaN where an asset has no bar.
    :param mantissas: ``field -> int64[T, N]``; exact values (0 where no bar); a
        :class:`DerivedMantissas` when they are rebuilt from the floats on demand.
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
        mantissas = self.mantissas
        if isinstance(mantissas, DerivedMantissas):
            return mantissas.exact(field, row, col)
        scale = (self.volume_scales if field == "volume" else self.price_scales).item(col)
        return Decimal(mantissas[field].item(row, col)).scaleb(-scale, EXACT_CONTEXT)

    def exact_in_row(self, field: str, row: int) -> Callable[[int], Decimal]:
        """``lambda col: exact(field, row, col)``, the row's lookups done once (the fills of
        one bar)."""
        mantissas = self.mantissas
        if isinstance(mantissas, DerivedMantissas):
            return mantissas.exact_in_row(field, row)
        values = mantissas[field][row]
        scales = self.volume_scales if field == "volume" else self.price_scales
        return lambda col: Decimal(values.item(col)).scaleb(-scales.item(col), EXACT_CONTEXT)

    def exact_bar(self, row: int, col: int) -> tuple[Decimal, Decimal, Decimal, Decimal, Decimal]:
        """``exact(field, row, col)`` of open, high, low, close and volume, in that order
        (a simulated fill's bar: the scales and the mantissa store looked up once)."""
        price, volume = -self.price_scales.item(col), -self.volume_scales.item(col)
        mantissas = self.mantissas
        if isinstance(mantissas, DerivedMantissas):
            o, h, low, c, v = mantissas.bar_values(row, col)
        else:
            o, h, low, c, v = (mantissas[f].item(row, col) for f in OHLCV)
        return (
            Decimal(o).scaleb(price, EXACT_CONTEXT),
            Decimal(h).scaleb(price, EXACT_CONTEXT),
            Decimal(low).scaleb(price, EXACT_CONTEXT),
            Decimal(c).scaleb(price, EXACT_CONTEXT),
            Decimal(v).scaleb(volume, EXACT_CONTEXT),
        )

    def has_bar(self, row: int, col: int) -> bool:
        """Whether asset ``col`` has a bar at ``row``."""
        return not np.isnan(self.floats["close"][row, col])

    def select(self, assets: Sequence[Asset]) -> BarArrays:
        """A copy restricted to ``assets`` (in that order)."""
        idx = np.array([self.column(a) for a in assets], dtype=np.int64)
        floats = {k: np.ascontiguousarray(v[:, idx]) for k, v in self.floats.items()}
        mantissas: Mapping[str, npt.NDArray[np.int64]]
        if isinstance(self.mantissas, DerivedMantissas):
            mantissas = self.mantissas.select(idx, floats)
        else:
            mantissas = {k: np.ascontiguousarray(v[:, idx]) for k, v in self.mantissas.items()}
        return attrs.evolve(
            self,
            assets=tuple(assets),
            floats=floats,
            mantissas=mantissas,
            price_scales=self.price_scales[idx],
            volume_scales=self.volume_scales[idx],
            actions=self.actions.restricted(a.sid for a in assets),
        )


def content_digest(bars: BarArrays) -> str:
    """A hex digest of what ``bars`` hold: equal bars give the same digest in any process.

    Covers frequency, calendar, assets, timeline, floats, exact mantissas, scales and
    actions. Derived mantissas are covered by the floats and scales they come from (they
    are not built for this); stored ones are hashed as given.
    """
    digest = hashlib.sha256()

    def add(label: str, array: npt.NDArray[np.generic]) -> None:
        array = np.ascontiguousarray(array)
        digest.update(f"{label}:{array.dtype.str}:{array.shape};".encode())
        digest.update(array.reshape(-1).view(np.uint8))  # (datetime64 has no buffer format)

    header = (bars.frequency.value, bars.calendar, bars.assets, bars.actions)
    digest.update(repr(header).encode())
    add("ts", bars.ts)
    add("sessions", bars.sessions)
    add("price_scales", bars.price_scales)
    add("volume_scales", bars.volume_scales)
    for field in sorted(bars.floats):
        add(f"floats.{field}", bars.floats[field])
    mantissas = bars.mantissas
    exact = mantissas.stored_fields if isinstance(mantissas, DerivedMantissas) else mantissas
    for field in sorted(exact):
        add(f"mantissas.{field}", mantissas[field])
    return digest.hexdigest()


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
