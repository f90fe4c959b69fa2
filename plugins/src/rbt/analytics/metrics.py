"""The built-in metrics as METRIC providers, and :func:`compute_metrics`.

A METRIC provider's factory is a function ``f(inputs: MetricInputs) -> float``;
:class:`MetricInputs` carries the run's returns, its annualization, the aligned
benchmark returns and the result frames, and computes shared things (round
trips, exposures) once. Results are finite floats: a provider returning NaN or
inf is reported as 0.0 (see :mod:`rbt.analytics.returns` for the conventions).

Book metrics (definitions; checked against hand-computed cases):

* ``turnover``: mean over sessions of traded notional (Σ|amount × price| of that
  session's fills) / portfolio value at its close, × periods per year (annual);
* ``exposure``: mean gross exposure, Σ|amount × last price| / portfolio value;
* ``net_exposure``: mean of positions value / portfolio value;
* ``time_in_market``: share of sessions ending with an open position;
* ``trades``: number of fills.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from rbt.analytics import returns as R
from rbt.analytics.trades import (
    RoundTrip,
    round_trip_statistics,
    round_trips,
    trade_statistics,
)
from rbt.plugins.metrics import METRICS

if TYPE_CHECKING:
    import polars as pl

    from rbt.kernel.manager import RbtPluginManager

__all__ = ["BUILTIN_METRICS", "MetricInputs", "compute_metrics", "exposure_series"]


class MetricInputs:
    """What a metric may read about one run.

    :param returns: simple returns, one per session.
    :param periods_per_year: 252 for exchange calendars, 365 for 24/7 markets.
    :param benchmark: benchmark returns aligned to the same sessions, or None.
    :param perf: the perf frame (for exposures and turnover), or None.
    :param transactions: the transactions frame (round trips, turnover), or None.
    :param positions: the positions frame (gross exposure, concentration), or None.
    """

    def __init__(
        self,
        returns: npt.ArrayLike,
        periods_per_year: int = 252,
        *,
        benchmark: npt.ArrayLike | None = None,
        perf: pl.DataFrame | None = None,
        transactions: pl.DataFrame | None = None,
        positions: pl.DataFrame | None = None,
    ) -> None:
        self.returns = R.clean_returns(returns)
        self.periods_per_year = int(periods_per_year)
        self.benchmark = None if benchmark is None else R.clean_returns(benchmark)
        if self.benchmark is not None and len(self.benchmark) != len(self.returns):
            raise ValueError(
                f"benchmark has {len(self.benchmark)} returns for {len(self.returns)} sessions"
            )
        self.perf = perf
        self.transactions = transactions
        self.positions = positions

    @cached_property
    def round_trips(self) -> list[RoundTrip]:
        """FIFO round trips of the transactions."""
        return round_trips(self.transactions) if self.transactions is not None else []

    @cached_property
    def trade_stats(self) -> dict[str, float]:
        """Per-trade statistics of :attr:`round_trips` (computed from the transactions'
        arrays when the round trips themselves have not been asked for)."""
        if "round_trips" in self.__dict__:
            return trade_statistics(self.round_trips)
        return round_trip_statistics(self.transactions)

    @cached_property
    def alpha_beta(self) -> tuple[float, float]:
        """(alpha, beta) against the benchmark; (0.0, 0.0) without one."""
        if self.benchmark is None:
            return 0.0, 0.0
        return R.alpha_beta(self.returns, self.benchmark, self.periods_per_year)

    @cached_property
    def exposures(self) -> dict[str, npt.NDArray[np.float64]]:
        """Per-session exposure series (see :func:`exposure_series`)."""
        if self.perf is None:
            return {}
        return exposure_series(self.perf, self.positions, self.transactions)


def _f(value: Any) -> float:
    value = float(value)
    return value if math.isfinite(value) else 0.0


def exposure_series(
    perf: pl.DataFrame, positions: pl.DataFrame | None, transactions: pl.DataFrame | None
) -> dict[str, npt.NDArray[np.float64]]:
    """Per-session ``portfolio_value``, ``gross``/``net`` exposure (fractions of the
    portfolio value), ``max_weight`` (largest single position), ``turnover``."""
    import polars as pl

    sessions = perf["session"]
    value = perf["portfolio_value"].cast(pl.Float64).to_numpy()
    net_value = perf["positions_value"].cast(pl.Float64).to_numpy()
    n = perf.height
    gross_value = np.abs(net_value)
    largest = np.zeros(n)
    if positions is not None and len(positions):
        held = _notional(positions, "last_price")
        per_session = held.group_by("session").agg(
            pl.col("notional").sum().alias("gross"), pl.col("notional").max().alias("largest")
        )
        gross_value = np.zeros(n)
        rows, at = _place(sessions, per_session["session"])
        gross_value[at] = per_session["gross"].to_numpy()[rows]
        largest[at] = per_session["largest"].to_numpy()[rows]
    traded = np.zeros(n)
    if transactions is not None and len(transactions):
        notional = _notional(transactions, "price")
        per_session = notional.group_by("session").agg(pl.col("notional").sum())
        rows, at = _place(sessions, per_session["session"])
        traded[at] = per_session["notional"].to_numpy()[rows]
    positive = value > 0
    denominator = np.where(positive, value, 1.0)

    def ratio(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return np.where(positive, x / denominator, 0.0)

    return {
        "portfolio_value": value,
        "gross": ratio(gross_value),
        "net": ratio(net_value),
        "max_weight": ratio(largest),
        "turnover": ratio(traded),
        "held": (gross_value > 0).astype(np.float64),
    }


# -- the providers -----------------------------------------------------------------------
def total_return(x: MetricInputs) -> float:
    return R.total_return(x.returns)


def annual_return(x: MetricInputs) -> float:
    return R.annual_return(x.returns, x.periods_per_year)


def annual_volatility(x: MetricInputs) -> float:
    return R.annual_volatility(x.returns, x.periods_per_year)


def sharpe(x: MetricInputs) -> float:
    return R.sharpe_ratio(x.returns, x.periods_per_year)


def sortino(x: MetricInputs) -> float:
    return R.sortino_ratio(x.returns, x.periods_per_year)


def calmar(x: MetricInputs) -> float:
    return R.calmar_ratio(x.returns, x.periods_per_year)


def omega(x: MetricInputs) -> float:
    return R.omega_ratio(x.returns)


def tail_ratio(x: MetricInputs) -> float:
    return R.tail_ratio(x.returns)


def stability(x: MetricInputs) -> float:
    return R.stability_of_timeseries(x.returns)


def max_drawdown(x: MetricInputs) -> float:
    return R.max_drawdown(x.returns)


def max_drawdown_duration(x: MetricInputs) -> float:
    return R.max_drawdown_duration(x.returns)


def alpha(x: MetricInputs) -> float:
    return x.alpha_beta[0]


def beta(x: MetricInputs) -> float:
    return x.alpha_beta[1]


def value_at_risk(x: MetricInputs) -> float:
    return R.value_at_risk(x.returns)


def conditional_value_at_risk(x: MetricInputs) -> float:
    return R.conditional_value_at_risk(x.returns)


def _mean(series: npt.NDArray[np.float64] | None) -> float:
    return float(np.mean(series)) if series is not None and len(series) else 0.0


def turnover(x: MetricInputs) -> float:
    return _mean(x.exposures.get("turnover")) * x.periods_per_year


def exposure(x: MetricInputs) -> float:
    return _mean(x.exposures.get("gross"))


def net_exposure(x: MetricInputs) -> float:
    return _mean(x.exposures.get("net"))


def time_in_market(x: MetricInputs) -> float:
    return _mean(x.exposures.get("held"))


def trades(x: MetricInputs) -> float:
    return float(len(x.transactions)) if x.transactions is not None else 0.0


def _trade_stat(name: str) -> Callable[[MetricInputs], float]:
    def metric(x: MetricInputs) -> float:
        return x.trade_stats[name]

    metric.__name__ = metric.__qualname__ = name
    return metric


round_trips_count = _trade_stat("round_trips")
win_rate = _trade_stat("win_rate")
profit_factor = _trade_stat("profit_factor")
expectancy = _trade_stat("expectancy")
avg_holding_days = _trade_stat("avg_holding_days")

#: name → (attribute of this module, summary), in display order.
BUILTIN_METRICS = METRICS


def compute_metrics(
    inputs: MetricInputs,
    names: Sequence[str] | None = None,
    manager: RbtPluginManager | None = None,
) -> dict[str, float]:
    """Metrics of ``inputs`` by name: ``names`` (default: every registered METRIC provider,
    or the built-ins without a plugin manager).

    :raises UnknownPluginError: a name no provider has (the valid ones are listed).
    """
    if manager is None:
        chosen = list(names) if names is not None else list(BUILTIN_METRICS)
        out: dict[str, float] = {}
        for name in chosen:
            if name not in BUILTIN_METRICS:
                from rbt.kernel.errors import ConfigError

                raise ConfigError(f"unknown metric {name!r}; known: {', '.join(BUILTIN_METRICS)}")
            out[name] = _f(globals()[BUILTIN_METRICS[name][0]](inputs))
        return out
    from rbt.kernel.registry import ProviderKind

    if names is None:
        names = list(manager.providers(ProviderKind.METRIC))
    return {
        name: _f(manager.get_provider(ProviderKind.METRIC, name).load()(inputs)) for name in names
    }


def _place(sessions: pl.Series, keys: pl.Series) -> tuple[Any, Any]:
    """``(k, i)`` arrays: the positions ``k`` in ``keys`` of the run's ``sessions`` and their
    rows ``i`` in the run (a repeated session: its last row; keys not among them, and null
    keys, are left out; both are the run's ``pl.Date`` columns). One search over the
    dates' day numbers, not a Python date per row."""
    days = sessions.to_physical().to_numpy()
    wanted = keys.cast(sessions.dtype).to_physical().to_numpy()
    order = np.argsort(days, kind="stable")  # equal days keep their run order
    ordered = days[order]
    last = np.searchsorted(ordered, wanted, side="right") - 1  # the last of equal days
    found = last >= 0
    found[found] = ordered[last[found]] == wanted[found]
    return np.nonzero(found)[0], order[last[found]]


def _notional(frame: pl.DataFrame, price: str) -> pl.DataFrame:
    """``session`` and ``notional`` (``|amount × price × multiplier|`` in floats) of each row
    of ``frame``: the three columns cast to Float64 and multiplied, left to right.

    In numpy, chunk by chunk, when every factor's floats can be read there
    (:func:`_chunk_floats`): the values polars' casts give and the same IEEE products,
    without polars' Decimal casts (≈ 5 ns a value each); the chunks of the result are the
    inputs' chunks, as polars' own product keeps them. The per-session sums stay with
    polars: its float summation order decides their last bits.
    """
    import polars as pl

    from rbt.api.results import numpy_series

    names = ["amount", price, *(["multiplier"] if "multiplier" in frame.columns else [])]
    session = frame.get_column("session")
    chunks = _product_chunks([frame.get_column(name) for name in names], session)
    if chunks is not None:
        notional = pl.concat(
            [numpy_series("notional", np.abs(chunk, out=chunk)) for chunk in chunks],
            rechunk=False,
        )
        return pl.DataFrame([session, notional])
    return frame.select(
        "session",
        (pl.col("amount").cast(pl.Float64) * pl.col(price).cast(pl.Float64) * _multiplier(frame))
        .abs()
        .alias("notional"),
    )


def _product_chunks(
    columns: Sequence[pl.Series], like: pl.Series
) -> list[npt.NDArray[np.float64]] | None:
    """The product of ``columns`` cast to Float64 (left to right), one array per chunk of
    ``like``; None unless every column is a Decimal column chunked as ``like`` whose chunks
    :func:`_chunk_floats` reads."""
    import polars as pl
    import pyarrow as pa

    if not len(like) or not all(isinstance(column.dtype, pl.Decimal) for column in columns):
        return None
    lengths = [len(chunk) for chunk in like.get_chunks()]
    try:  # Arrow views, no copy (the Arrow stream export: polars >= 1.x, pyarrow >= 16)
        arrays = [pa.chunked_array(column) for column in columns]
    except (TypeError, OSError, pa.ArrowException):  # older versions: polars' casts
        return None
    if any([len(chunk) for chunk in array.chunks] != lengths for array in arrays):
        return None
    products: list[npt.NDArray[np.float64]] = []
    factor = np.empty(max(lengths), dtype=np.float64)  # one buffer for every later factor
    chunks = zip(*(array.chunks for array in arrays), strict=True)
    for length, parts in zip(lengths, chunks, strict=True):
        product = np.empty(length, dtype=np.float64)
        if not _chunk_floats(parts[0], product):
            return None
        for part in parts[1:]:
            if not _chunk_floats(part, factor[:length]):
                return None
            np.multiply(product, factor[:length], out=product)
        products.append(product)
    return products


#: Integers up to this magnitude are exact doubles (as are 10**0 .. 10**22).
_EXACT = 2**53


def _chunk_floats(chunk: Any, out: npt.NDArray[np.float64]) -> bool:
    """Write a pyarrow decimal128 chunk cast to float64 into ``out`` as polars casts it, when
    it has no null and every mantissa is at most 2**53 in magnitude (True); else False.

    Each value is ``mantissa / 10**scale``: two exact doubles, so the one division is the
    correctly rounded value, which is what polars' cast gives (older polars divided the
    same two doubles). The mantissas are read from the 128-bit words in place.
    """
    import pyarrow as pa

    if not pa.types.is_decimal128(chunk.type):  # its words are 16 bytes a value
        return False
    scale = chunk.type.scale
    if chunk.null_count or scale > 22:
        return False
    words = np.frombuffer(
        chunk.buffers()[1], dtype=np.int64, count=2 * len(chunk), offset=16 * chunk.offset
    ).reshape(-1, 2)
    low, high = words[:, 0], words[:, 1]
    if not len(low):
        return True
    smallest = int(low.min())
    if smallest < -_EXACT or int(low.max()) > _EXACT:
        return False
    # the high words extend the low words' signs: all 0 when no value is negative (the usual
    # books: one count), else compared one by one
    signs = np.count_nonzero(high) == 0 if smallest >= 0 else np.array_equal(high, low >> 63)
    if not signs:
        return False
    np.divide(low, 10.0**scale, out=out)  # 10.0**0 = 1.0: the exact conversion
    return True


def _multiplier(frame: pl.DataFrame) -> pl.Expr:
    """Contract multipliers of a frame's rows (1 for frames written before the column)."""
    import polars as pl

    if "multiplier" in frame.columns:
        return pl.col("multiplier").cast(pl.Float64)
    return pl.lit(1.0)
