"""Corporate actions and funding rates kept in a bundle, applied point-in-time.

Two optional tables of a bundle (each listed and hashed in ``manifest.json``
like every other file; a bundle without actions has neither file):

``adjustments.parquet`` — one row per split or cash dividend:

=========  ==========  ==========================================================
column     type        meaning
=========  ==========  ==========================================================
kind       String      ``split`` or ``dividend``
sid        UInt32      the asset
ex_date    Date        first session the action is in effect
pay_date   Date        dividends: the session the cash is paid (null for splits)
value      String      exact decimal: split ``ratio`` = new shares per old share
                       (``2`` for 2-for-1, ``0.1`` for 1-for-10), or the dividend
                       ``amount`` per share in the asset's quote currency
=========  ==========  ==========================================================

``funding.parquet`` — perpetual futures' funding rates: ``sid`` (UInt32),
``ts`` (Int64, UTC ns: when the funding is exchanged) and ``rate`` (String,
exact decimal per funding period; positive: longs pay shorts).

Prices in the bars are stored *unadjusted* (as traded). What the backtest
does with the actions (see :mod:`rbt.api.actions`):

* an action becomes *known* once the last session before its ex-date has
  closed (so at the ex-date's session start, before ``before_trading_start``);
* positions are adjusted and dividends earned at that moment, dividends paid
  at the start of their pay-date session; funding is booked at the first bar
  at or after its timestamp;
* ``data.history`` windows are adjusted only for known actions: a window
  ending at *t* never reflects an action whose ex-date is after *t*'s session.

.. versionadded:: 0.2
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

import attrs
import polars as pl

from rbt.kernel.errors import SchemaError

__all__ = [
    "ADJUSTMENTS",
    "ADJUSTMENT_SCHEMA",
    "FUNDING",
    "FUNDING_SCHEMA",
    "CorporateActions",
    "DividendAction",
    "FundingRate",
    "SplitAction",
    "actions_frames",
]

ADJUSTMENTS = "adjustments.parquet"
FUNDING = "funding.parquet"
ADJUSTMENT_SCHEMA: Mapping[str, Any] = {
    "kind": pl.String,
    "sid": pl.UInt32,
    "ex_date": pl.Date,
    "pay_date": pl.Date,
    "value": pl.String,
}
FUNDING_SCHEMA: Mapping[str, Any] = {"sid": pl.UInt32, "ts": pl.Int64, "rate": pl.String}


@attrs.frozen
class SplitAction:
    """``ratio`` new shares per old share from ``ex_date`` on."""

    sid: int
    ex_date: dt.date
    ratio: Decimal


@attrs.frozen
class DividendAction:
    """``amount`` per share held at the close before ``ex_date``, paid on ``pay_date``."""

    sid: int
    ex_date: dt.date
    pay_date: dt.date
    amount: Decimal


@attrs.frozen
class FundingRate:
    """At ``ts`` (UTC ns) a position pays ``amount × mark price × multiplier × rate``."""

    sid: int
    ts: int
    rate: Decimal


@attrs.frozen
class CorporateActions:
    """The actions of one bundle, each tuple sorted by date then sid."""

    splits: tuple[SplitAction, ...] = ()
    dividends: tuple[DividendAction, ...] = ()
    funding: tuple[FundingRate, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.splits or self.dividends or self.funding)

    @classmethod
    def from_frames(
        cls, adjustments: pl.DataFrame | None, funding: pl.DataFrame | None
    ) -> CorporateActions:
        """Build from the bundle tables (either may be None)."""
        splits: list[SplitAction] = []
        dividends: list[DividendAction] = []
        if adjustments is not None:
            for row in adjustments.iter_rows(named=True):
                value = Decimal(row["value"])
                if row["kind"] == "split":
                    splits.append(SplitAction(row["sid"], row["ex_date"], value))
                else:
                    dividends.append(
                        DividendAction(row["sid"], row["ex_date"], row["pay_date"], value)
                    )
        rows = [] if funding is None else funding.iter_rows(named=True)
        rates = [FundingRate(r["sid"], r["ts"], Decimal(r["rate"])) for r in rows]
        return cls(
            splits=tuple(sorted(splits, key=lambda a: (a.ex_date, a.sid))),
            dividends=tuple(sorted(dividends, key=lambda a: (a.ex_date, a.sid))),
            funding=tuple(sorted(rates, key=lambda a: (a.ts, a.sid))),
        )

    def restricted(self, sids: Iterable[int]) -> CorporateActions:
        """Only the actions of ``sids``."""
        keep = set(sids)
        return CorporateActions(
            splits=tuple(a for a in self.splits if a.sid in keep),
            dividends=tuple(a for a in self.dividends if a.sid in keep),
            funding=tuple(a for a in self.funding if a.sid in keep),
        )


def _exact(text: Any, what: str, where: str) -> Decimal:
    try:
        value = Decimal(str(text).strip())
    except (InvalidOperation, ValueError):
        raise SchemaError(f"{where}, field {what!r}: {text!r} is not a decimal number") from None
    if not value.is_finite():
        raise SchemaError(f"{where}, field {what!r}: {text!r} is not a finite number")
    return value


def actions_frames(
    adjustments: pl.DataFrame | None,
    funding: pl.DataFrame | None,
    sid_of: Mapping[str, int],
    origin: str,
) -> tuple[pl.DataFrame | None, pl.DataFrame | None]:
    """Validate a source's actions and map symbols to sids (what ``rbt ingest`` writes).

    :param adjustments: columns ``symbol, kind, ex_date, pay_date, value`` and an
        optional ``line`` (1-based, for messages) and ``origin`` (the file).
    :param funding: columns ``symbol, ts (Datetime UTC), rate`` (+ ``line``, ``origin``).
    :raises SchemaError: naming file, line and field: unknown symbol or kind, a ratio
        or amount that is not a positive (non-negative) exact decimal, a pay-date
        before the ex-date, the same action twice.
    """
    out_adj = out_fund = None
    if adjustments is not None and adjustments.height:
        rows, seen = [], set()
        for i, row in enumerate(adjustments.iter_rows(named=True)):
            where = f"{row.get('origin') or origin}, line {row.get('line') or i + 1}"
            symbol = row["symbol"]
            if symbol not in sid_of:
                raise SchemaError(
                    f"{where}, field 'symbol': {symbol!r} is not a symbol of this bundle"
                )
            kind = str(row["kind"]).strip().lower()
            if kind not in ("split", "dividend"):
                raise SchemaError(f"{where}, field 'kind': {kind!r}; expected split or dividend")
            ex_date, pay_date = row["ex_date"], row.get("pay_date")
            if not isinstance(ex_date, dt.date):
                raise SchemaError(f"{where}, field 'ex_date': expected a date like 2024-01-02")
            value = _exact(row["value"], "ratio" if kind == "split" else "amount", where)
            if kind == "split":
                if value <= 0:
                    raise SchemaError(
                        f"{where}, field 'ratio': {value} must be positive "
                        "(new shares per old share)"
                    )
                pay_date = None
            else:
                if value < 0:
                    raise SchemaError(f"{where}, field 'amount': {value} must not be negative")
                pay_date = pay_date or ex_date
                if pay_date < ex_date:
                    raise SchemaError(
                        f"{where}, field 'pay_date': {pay_date} is before the ex-date {ex_date}"
                    )
            key = (kind, symbol, ex_date)
            if key in seen:
                raise SchemaError(f"{where}: a second {kind} of {symbol} on {ex_date}")
            seen.add(key)
            rows.append(
                {
                    "kind": kind,
                    "sid": sid_of[symbol],
                    "ex_date": ex_date,
                    "pay_date": pay_date,
                    "value": str(value),
                }
            )
        out_adj = pl.DataFrame(rows, schema=dict(ADJUSTMENT_SCHEMA)).sort("ex_date", "sid", "kind")
    if funding is not None and funding.height:
        rows, seen_f = [], set()
        ts = funding["ts"].dt.convert_time_zone("UTC").dt.cast_time_unit("ns").to_physical()
        for i, row in enumerate(funding.iter_rows(named=True)):
            where = f"{row.get('origin') or origin}, line {row.get('line') or i + 1}"
            symbol = row["symbol"]
            if symbol not in sid_of:
                raise SchemaError(
                    f"{where}, field 'symbol': {symbol!r} is not a symbol of this bundle"
                )
            stamp = ts[i]
            if stamp is None:
                raise SchemaError(f"{where}, field 'ts': expected a timestamp")
            if (symbol, stamp) in seen_f:
                raise SchemaError(f"{where}: a second funding rate of {symbol} at that time")
            seen_f.add((symbol, stamp))
            rows.append(
                {
                    "sid": sid_of[symbol],
                    "ts": int(stamp),
                    "rate": str(_exact(row["rate"], "rate", where)),
                }
            )
        out_fund = pl.DataFrame(rows, schema=dict(FUNDING_SCHEMA)).sort("ts", "sid")
    return out_adj, out_fund
