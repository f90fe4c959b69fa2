"""Round trips (FIFO) from the transactions frame, and per-trade statistics.

A **round trip** is a quantity opened by one fill and closed by a later fill of
the same asset, matched first-in first-out: a closing fill consumes the oldest
open lots first, a fill larger than the open position closes it and opens the
rest in the other direction, and a fill spanning several lots gives one round
trip per lot it closes. Profit and loss are exact (``Decimal``):
``direction × (exit − entry) × quantity`` minus the commissions of both fills,
shared pro rata by quantity; prices are per unit and P&L is scaled by the
frame's ``multiplier`` column (contracts; 1 when absent). Positions still open
at the end are not round trips.

Statistics over the closed round trips (conventions: no trades → every
statistic is 0.0; no losing trade → profit factor 0.0, since it is undefined):

* ``win_rate``: share of round trips with a positive P&L;
* ``profit_factor``: gross profit / gross loss;
* ``expectancy``: mean P&L per round trip (currency);
* ``avg_holding_days``: mean time from entry fill to exit fill, in days (24 h).

:func:`round_trips_by_fill` is the definition, fill by fill; a Decimal transactions frame
is matched in integer arrays (:mod:`rbt.analytics.fifo`) with the same results, and
:func:`round_trip_statistics` computes the statistics from them without building the
round trips when no fill pays a commission.
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections import deque
from collections.abc import Iterable, Sequence
from decimal import Decimal
from operator import itemgetter
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np

from rbt.analytics.fifo import FifoMatches, fifo_matches, fits_sums

if TYPE_CHECKING:
    import polars as pl

__all__ = [
    "RoundTrip",
    "round_trip_statistics",
    "round_trips",
    "round_trips_by_fill",
    "round_trips_frame",
    "trade_statistics",
]

_NS_PER_DAY = 86_400 * 1_000_000_000


@attrs.frozen(kw_only=True)
class RoundTrip:
    """One FIFO-matched open/close pair."""

    sid: int
    symbol: str
    direction: str  # "long" or "short"
    amount: Decimal  # matched quantity (positive)
    entry_ts: int
    exit_ts: int
    entry_session: dt.date | None
    exit_session: dt.date | None
    entry_price: Decimal
    exit_price: Decimal
    commission: Decimal
    pnl: Decimal
    multiplier: Decimal = Decimal(1)

    @property
    def holding_days(self) -> float:
        """Time held, in days."""
        return (self.exit_ts - self.entry_ts) / _NS_PER_DAY

    @property
    def return_pct(self) -> float:
        """P&L over the entry notional."""
        notional = self.entry_price * self.amount * self.multiplier
        return float(self.pnl / notional) if notional else 0.0


@attrs.define
class _Lot:
    amount: Decimal  # signed, remaining
    price: Decimal
    commission: Decimal  # not yet allocated to a round trip
    ts: int
    session: dt.date | None


_SHARE_QUANTUM = Decimal("1e-12")


def _share(commission: Decimal, matched: Decimal, of: Decimal) -> Decimal:
    # the whole remainder when the rest is matched: full matches stay exact, and the
    # shares of one commission always add up to it
    if matched == of:
        return commission
    return (commission * matched / of).quantize(_SHARE_QUANTUM)


def _dec(value: Any) -> Decimal:
    if isinstance(value, Decimal):
        return value
    if value is None:
        return Decimal(0)
    return Decimal(str(value))


#: The columns a fill is read from (``symbol``, ``session``, ``commission`` and
#: ``multiplier`` are optional).
_COLUMNS = ("sid", "symbol", "ts", "session", "amount", "price", "commission", "multiplier")
_TS = itemgetter(2)


def _fills(transactions: pl.DataFrame | Iterable[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """``(sid, symbol, ts, session, amount, price, commission, multiplier)`` per fill, in
    the frame's order (a frame is read column by column: no dict per row)."""
    if hasattr(transactions, "get_column"):
        frame: Any = transactions
        present = set(frame.columns)
        n = frame.height
        columns: list[list[Any]] = [
            frame.get_column(name).to_list() if name in present else [None] * n for name in _COLUMNS
        ]
        sids, ts = columns[0], columns[2]
        columns[0] = [int(v) for v in sids]
        columns[2] = [int(v) for v in ts]
        return list(zip(*columns, strict=True))
    return [
        (
            int(row["sid"]),
            row.get("symbol"),
            int(row["ts"]),
            row.get("session"),
            row["amount"],
            row["price"],
            row.get("commission"),
            row.get("multiplier"),
        )
        for row in transactions
    ]


def round_trips(transactions: pl.DataFrame | Iterable[dict[str, Any]]) -> list[RoundTrip]:
    """FIFO round trips of a transactions frame (columns sid, symbol, ts, session, amount,
    price, commission), in the order they close."""
    matches = fifo_matches(transactions)
    if matches is None:
        return round_trips_by_fill(transactions)
    return _from_matches(matches)


def round_trips_by_fill(
    transactions: pl.DataFrame | Iterable[dict[str, Any]],
) -> list[RoundTrip]:
    """:func:`round_trips` fill by fill, lot by lot: the definition, for any input (dict rows,
    text or float columns); :func:`fifo_matches` computes the same matching in arrays."""
    rows = _fills(transactions)
    # fills in time order; the frame's order breaks ties (it is the fill order): a stable
    # sort by time alone, linear when the frame is in time order already
    ordered = sorted(rows, key=_TS)
    books: dict[int, deque[_Lot]] = {}
    trips: list[RoundTrip] = []
    for sid, symbol, ts, session, raw_amount, raw_price, raw_commission, raw_mult in ordered:
        amount = _dec(raw_amount)
        if amount == 0:
            continue
        price, commission = _dec(raw_price), _dec(raw_commission)
        multiplier = _dec(raw_mult or 1)
        lots = books.setdefault(sid, deque())
        remaining = amount
        while remaining != 0 and lots and (lots[0].amount > 0) != (remaining > 0):
            lot = lots[0]
            matched = min(abs(lot.amount), abs(remaining))
            sign = Decimal(1) if lot.amount > 0 else Decimal(-1)
            entry_fee = _share(lot.commission, matched, abs(lot.amount))
            exit_fee = _share(commission, matched, abs(remaining))
            lot.commission -= entry_fee
            commission -= exit_fee
            fees = entry_fee + exit_fee
            trips.append(
                RoundTrip(
                    sid=sid,
                    symbol=str(symbol or sid),
                    direction="long" if sign > 0 else "short",
                    amount=matched,
                    entry_ts=lot.ts,
                    exit_ts=ts,
                    entry_session=lot.session,
                    exit_session=session,
                    entry_price=lot.price,
                    exit_price=price,
                    commission=fees,
                    pnl=sign * (price - lot.price) * matched * multiplier - fees,
                    multiplier=multiplier,
                )
            )
            lot.amount -= sign * matched
            remaining += sign * matched
            if lot.amount == 0:
                lots.popleft()
        if remaining != 0:
            lots.append(_Lot(remaining, price, commission, ts, session))
    return trips


def trade_statistics(trips: Sequence[RoundTrip]) -> dict[str, float]:
    """Round-trip count, win rate, profit factor, expectancy, average holding time."""
    if not trips:
        return dict.fromkeys(_STATISTICS, 0.0)
    pnl = [t.pnl for t in trips]
    return _statistics(pnl, [t.holding_days for t in trips])


_STATISTICS = ("round_trips", "win_rate", "profit_factor", "expectancy", "avg_holding_days")


def _statistics(pnl: Sequence[Decimal], holding_days: list[float]) -> dict[str, float]:
    n = len(pnl)
    gains = sum((p for p in pnl if p > 0), Decimal(0))
    losses = -sum((p for p in pnl if p < 0), Decimal(0))
    return {
        "round_trips": float(n),
        "win_rate": sum(1 for p in pnl if p > 0) / n,
        "profit_factor": float(gains / losses) if losses > 0 else 0.0,
        "expectancy": float(sum(pnl, Decimal(0)) / n),
        # a sum in closing order, as the per-trip definition adds them
        "avg_holding_days": sum(holding_days) / n,
    }


def round_trip_statistics(
    transactions: pl.DataFrame | Iterable[dict[str, Any]] | None,
) -> dict[str, float]:
    """``trade_statistics(round_trips(transactions))`` without building the round trips when
    the frame allows (exact integer P&L, see :class:`FifoMatches`)."""
    if transactions is None:
        return dict.fromkeys(_STATISTICS, 0.0)
    matches = fifo_matches(transactions)
    context = decimal.getcontext()
    if matches is None or context.prec < 28 or context.rounding != decimal.ROUND_HALF_EVEN:
        # the exact integers reproduce the definition's Decimal arithmetic in the default
        # context (28 digits, half-even); under another, the definition decides
        return trade_statistics(round_trips_by_fill(transactions))
    if not len(matches):
        return dict.fromkeys(_STATISTICS, 0.0)
    pnl, scale = matches.pnl_mantissas(), matches.pnl_scale
    if pnl is not None and not matches.free:
        pnl, scale = _net_of_fees(matches, pnl, scale)
    # beyond ~27 significant digits the definition's Decimal arithmetic (28 digits) would
    # round: then its own round trips decide
    if pnl is None or float(np.abs(pnl).astype(np.float64).sum()) >= 1e26:
        return trade_statistics(_from_matches(matches))
    n = len(matches)
    if pnl.dtype != object and not fits_sums(pnl):
        pnl = pnl.astype(object)  # sums in Python integers
    gains = int(pnl[pnl > 0].sum())
    losses = -int(pnl[pnl < 0].sum())
    return {
        "round_trips": float(n),
        "win_rate": int(np.count_nonzero(pnl > 0)) / n,
        # the same exact values as the sums of the trips' Decimal P&L: the same quotients
        "profit_factor": float(_exact(gains, scale) / _exact(losses, scale)) if losses else 0.0,
        "expectancy": float(_exact(int(pnl.sum()), scale) / n),
        "avg_holding_days": sum(matches.holding_days()) / n,
    }


#: Commission shares are quantized to 1e-12 (``_SHARE_QUANTUM``): fees are exact there.
_FEE_SCALE = 12


def _net_of_fees(matches: FifoMatches, pnl: Any, scale: int) -> tuple[Any, int]:
    """``pnl`` (mantissas at ``scale``) minus each round trip's fees, exactly: mantissas at
    ``max(scale, scale of the fees)`` (int64, or Python integers when they might not fit);
    ``(None, scale)`` for commissions finer than 1e-12 or beyond 10**18 at that scale.

    A fee side is the fill's whole commission when the match takes the whole lot at once
    (entry) or the whole closing fill at once (exit) — the usual case, in arrays; the other
    shares (split lots and fills, the lot a reversing fill opens) are computed in Decimal
    in closing order by the definition's own ``_share``.
    """
    commission = matches.columns["commission"]
    commission_scale = matches.scales["commission"]
    if commission_scale > _FEE_SCALE:
        return None, scale
    up = 10 ** (_FEE_SCALE - commission_scale)
    if len(commission) and int(np.abs(commission).max()) * up >= 10**18:
        return None, scale  # fees must stay exact in int64 (and in 28 Decimal digits)
    entry, exit_, matched = matches.entry, matches.exit, matches.matched
    whole_lot = (
        (matches.lot_left == matches.lot_size)
        & (matched == matches.lot_left)
        & ~matches.lot_after_close
    )
    whole_fill = (matches.fill_left == matches.fill_size) & (matched == matches.fill_left)
    entry_fee = np.where(whole_lot, commission[entry] * up, 0)
    exit_fee = np.where(whole_fill, commission[exit_] * up, 0)
    shared = np.flatnonzero(~(whole_lot & whole_fill))
    if len(shared):
        amount_scale = -matches.scales["amount"]
        left: dict[int, Decimal] = {}  # a row's commission not yet allocated

        def share(row: int, quantity: Decimal, of: int) -> int:
            have = left.get(row)
            if have is None:
                have = Decimal(int(commission[row])).scaleb(-commission_scale)
            fee = _share(have, quantity, Decimal(of).scaleb(amount_scale))
            left[row] = have - fee
            return int(fee.scaleb(_FEE_SCALE))

        for i, lot_row, fill_row, quantity, lot_left, fill_left, by_lot, by_fill in zip(
            shared.tolist(),
            entry[shared].tolist(),
            exit_[shared].tolist(),
            matched[shared].tolist(),
            matches.lot_left[shared].tolist(),
            matches.fill_left[shared].tolist(),
            whole_lot[shared].tolist(),
            whole_fill[shared].tolist(),
            strict=True,
        ):
            size = Decimal(quantity).scaleb(amount_scale)
            if not by_lot:
                entry_fee[i] = share(lot_row, size, lot_left)
            if not by_fill:
                exit_fee[i] = share(fill_row, size, fill_left)
    fees = entry_fee + exit_fee
    # the fees' own scale: 2 for whole cents, 12 only where a share was quantized
    fee_scale = commission_scale
    while fee_scale < _FEE_SCALE and np.any(fees % 10 ** (_FEE_SCALE - fee_scale)):
        fee_scale += 1
    fees //= 10 ** (_FEE_SCALE - fee_scale)
    target = max(scale, fee_scale)
    gross_up, fee_up = 10 ** (target - scale), 10 ** (target - fee_scale)
    bound = int(np.abs(pnl).max()) * gross_up + int(np.abs(fees).max()) * fee_up
    if bound < 2**62 and gross_up < 2**62 and fee_up < 2**62:  # the factors are int64 too
        return pnl * gross_up - fees * fee_up, target
    return pnl.astype(object) * gross_up - fees.astype(object) * fee_up, target  # Python ints


def _exact(mantissa: int, scale: int) -> Decimal:
    return Decimal(mantissa).scaleb(-scale)


def _from_matches(matches: FifoMatches) -> list[RoundTrip]:
    """The round trips of :func:`fifo_matches`, with the Decimal values (and commission
    shares) the fill-by-fill definition computes, operation for operation."""
    frame, n = matches.frame, len(matches)
    if not n:
        return []
    present = set(frame.columns)

    def column(name: str) -> list[Any]:
        return frame.get_column(name).to_list() if name in present else [None] * frame.height

    price = [_dec(v) for v in column("price")]
    commission = [_dec(v) for v in column("commission")]
    multiplier = column("multiplier")
    symbol, session = column("symbol"), column("session")
    sid, ts = matches.columns["sid"].tolist(), matches.columns["ts"].tolist()
    amount_scale = -matches.scales["amount"]
    trips: list[RoundTrip] = []
    for entry, exit_, sign_, matched_, lot_left, fill_left in zip(
        matches.entry.tolist(),
        matches.exit.tolist(),
        matches.sign.tolist(),
        matches.matched.tolist(),
        matches.lot_left.tolist(),
        matches.fill_left.tolist(),
        strict=True,
    ):
        matched = Decimal(matched_).scaleb(amount_scale)
        entry_fee = _share(commission[entry], matched, Decimal(lot_left).scaleb(amount_scale))
        exit_fee = _share(commission[exit_], matched, Decimal(fill_left).scaleb(amount_scale))
        commission[entry] -= entry_fee
        commission[exit_] -= exit_fee
        fees = entry_fee + exit_fee
        sign = _ONE if sign_ > 0 else _MINUS_ONE
        mult = _dec(multiplier[exit_] or 1)
        trips.append(
            RoundTrip(
                sid=sid[exit_],
                symbol=str(symbol[exit_] or sid[exit_]),
                direction="long" if sign_ > 0 else "short",
                amount=matched,
                entry_ts=ts[entry],
                exit_ts=ts[exit_],
                entry_session=session[entry],
                exit_session=session[exit_],
                entry_price=price[entry],
                exit_price=price[exit_],
                commission=fees,
                pnl=sign * (price[exit_] - price[entry]) * matched * mult - fees,
                multiplier=mult,
            )
        )
    return trips


_ONE, _MINUS_ONE = Decimal(1), Decimal(-1)


def round_trips_frame(trips: Sequence[RoundTrip]) -> pl.DataFrame:
    """Round trips as a Polars frame (exact Decimal prices and P&L)."""
    import polars as pl

    from rbt.api.results import decimal_column

    return pl.DataFrame(
        {
            "sid": pl.Series([t.sid for t in trips], dtype=pl.Int64),
            "symbol": pl.Series([t.symbol for t in trips], dtype=pl.String),
            "direction": pl.Series([t.direction for t in trips], dtype=pl.String),
            "amount": decimal_column("amount", [t.amount for t in trips]),
            "entry_session": pl.Series([t.entry_session for t in trips], dtype=pl.Date),
            "exit_session": pl.Series([t.exit_session for t in trips], dtype=pl.Date),
            "entry_price": decimal_column("entry_price", [t.entry_price for t in trips]),
            "exit_price": decimal_column("exit_price", [t.exit_price for t in trips]),
            "commission": decimal_column("commission", [t.commission for t in trips]),
            "pnl": decimal_column("pnl", [t.pnl for t in trips]),
            "return": pl.Series([t.return_pct for t in trips], dtype=pl.Float64),
            "holding_days": pl.Series([t.holding_days for t in trips], dtype=pl.Float64),
        }
    )
