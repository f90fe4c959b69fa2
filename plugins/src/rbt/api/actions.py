"""Point-in-time bookings of a backtest that no order causes.

:class:`AccountEvents` subscribes to the session's bus and books into the exact
ledger (every booking is a ledger entry, so the replay at the end covers it):

At each **session start** (before ``before_trading_start``), in this order:

1. **splits** with this session as ex-date (known once the previous session
   closed): :meth:`Ledger.apply_split` — amount × ratio rounded toward zero to
   the lot, cost per share ÷ ratio, the fraction paid out at the new cost per
   share (Zipline's rule). Open orders for the asset are cancelled at the
   session's first bar, before any matching (the strategy hears
   ``on_order_cancel``) — a deliberate difference: Zipline rescales them, most
   brokers cancel them, and a stale limit price is worse;
2. **cash dividends** with this ex-date: ``amount held at the previous close ×
   dividend per share`` (× multiplier, converted to the base currency at the
   rate in force) becomes a receivable (``stage="accrue"``; shorts owe it);
3. receivables whose **pay-date** is this session are paid into cash
   (``stage="settle"``). As in Zipline, an unpaid dividend is not part of the
   portfolio value until it is paid (it is in ``Ledger.receivables``);
4. **auto-close**: a position in an asset whose ``auto_close_date`` is on or
   before this session is closed at its last price (a fill with
   ``order_id="auto_close"``, no commission), and the asset's open orders are
   cancelled at the first bar — as Zipline does for futures and delisted assets.

At each **bar**, before the broker matches orders: conversion rates of the
quote currencies of the bundle's assets are set from the bundle's conversion
series (see :func:`conversion_assets`), then **funding** payments of
perpetuals whose funding time has come are booked as cash:
``−amount × mark price × multiplier × rate`` (a long pays a positive rate).

At each **session close**, after the marks and before performance is recorded:
**borrow cost** of short positions (``|market value| × borrow_rate × days /
365``) and **financing** of negative cash (``cash × financing_rate × days /
365``), ``days`` = calendar days since the previous session's close (1 for the
first session). Both rates default to 0 (Zipline charges neither). Amounts are
rounded half-even to 1e-12.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from decimal import ROUND_HALF_EVEN, Decimal

from rbt.data.bars import BarArrays
from rbt.data.portal import BarPortal
from rbt.kernel.clock import TradingCalendar
from rbt.kernel.errors import DataUnavailableError
from rbt.kernel.events import BarClosed, SessionClosed, SessionStarted
from rbt.kernel.ledger import CashFlow, ConversionRate, Split
from rbt.kernel.model import Asset, Fill
from rbt.kernel.numeric import LEDGER_SCALE, ZERO, ledger_context
from rbt.kernel.session import Session

__all__ = ["AccountEvents", "conversion_assets"]

_DAYS_PER_YEAR = Decimal(365)


def conversion_assets(bars: BarArrays, base_currency: str) -> dict[str, tuple[Asset, bool]]:
    """For each quote currency other than ``base_currency``, its conversion series.

    The series is an asset of the same bundle named ``<CCY><BASE>`` (its close is
    the price of one CCY in BASE, e.g. ``EURUSD``) or ``<BASE><CCY>`` (inverted),
    optionally with a ``/``, ``-`` or ``_`` between the codes.

    :return: currency -> (asset, inverted).
    :raises DataUnavailableError: for a currency without a series.
    """
    by_symbol = {
        a.symbol.upper().replace("/", "").replace("-", "").replace("_", ""): a for a in bars.assets
    }
    found: dict[str, tuple[Asset, bool]] = {}
    for asset in bars.assets:
        currency = asset.quote_currency
        if not currency or currency.upper() == base_currency.upper() or currency in found:
            continue
        direct = by_symbol.get(f"{currency.upper()}{base_currency.upper()}")
        inverse = by_symbol.get(f"{base_currency.upper()}{currency.upper()}")
        if direct is not None and direct.quote_currency.upper() == base_currency.upper():
            found[currency] = (direct, False)
        elif inverse is not None:
            found[currency] = (inverse, True)
        elif direct is not None:
            found[currency] = (direct, False)
        else:
            raise DataUnavailableError(
                f"{asset!r} is quoted in {currency} but the account's base currency is "
                f"{base_currency}; add a conversion series {currency}{base_currency} (or "
                f"{base_currency}{currency}) to the bundle"
            )
    return found


class AccountEvents:
    """Book splits, dividends, auto-closes, funding, FX rates, borrow and financing.

    Create it *before* the engine, so its session-close accruals come before the
    engine records the session.

    :param on_positions_changed: called after a split or an auto-close changed
        positions (the engine resynchronizes its float mirror).
    """

    def __init__(
        self,
        session: Session,
        portal: BarPortal,
        calendar: TradingCalendar,
        *,
        borrow_rate: Decimal = ZERO,
        financing_rate: Decimal = ZERO,
        on_positions_changed: Callable[[], None] | None = None,
    ) -> None:
        self.session = session
        self.ledger = session.ledger
        self.portal = portal
        self.calendar = calendar
        self.borrow_rate = borrow_rate
        self.financing_rate = financing_rate
        self._changed = on_positions_changed or (lambda: None)
        bars = portal.bars
        self._asset_of = {a.sid: a for a in bars.assets}
        actions = bars.actions
        self._splits = [(self._known_at(a.ex_date), a) for a in actions.splits]
        self._dividends = [(self._known_at(a.ex_date), a) for a in actions.dividends]
        self._next_split = self._next_dividend = self._next_funding = 0
        self._funding = list(actions.funding)
        self._unpaid: list[tuple[int, CashFlow]] = []
        self._auto_close = sorted(
            (a.auto_close_date, a.sid) for a in bars.assets if a.auto_close_date is not None
        )
        self._fx = conversion_assets(bars, self.ledger.base_currency)
        self._previous_session: dt.date | None = None
        self._to_cancel: set[int] = set()
        # nothing to do otherwise (cancellations come from splits and auto-closes, unpaid
        # dividends from dividends): no subscription, so the session builds no event
        bus = session.bus
        if self._splits or self._dividends or self._auto_close:
            bus.subscribe(SessionStarted, self._session_started)
        if self._fx or self._funding or self._splits or self._auto_close:
            bus.subscribe(BarClosed, self._bar_closed)
        if self.borrow_rate or self.financing_rate:
            bus.subscribe(SessionClosed, self._session_closed)

    def _known_at(self, day: dt.date) -> int:
        """The close of the last session before ``day``: actions of ``day`` are known after it."""
        before = self.calendar.sessions(day - dt.timedelta(days=30), day - dt.timedelta(days=1))
        return self.calendar.session_times(before[-1]).close if before else -(2**62)

    # -- session start ---------------------------------------------------------------
    def _session_started(self, event: SessionStarted) -> None:
        now, changed = event.ts, False
        while self._next_split < len(self._splits) and self._splits[self._next_split][0] < now:
            split = self._splits[self._next_split][1]
            self._next_split += 1
            asset = self._asset_of.get(split.sid)
            if asset is None:
                continue
            self._cancel_open_orders(asset)
            if self.ledger.position_amount(asset):
                self.ledger.apply_split(Split(asset=asset, ratio=split.ratio, ts=now))
                changed = True
        while (
            self._next_dividend < len(self._dividends)
            and self._dividends[self._next_dividend][0] < now
        ):
            dividend = self._dividends[self._next_dividend][1]
            self._next_dividend += 1
            asset = self._asset_of.get(dividend.sid)
            held = self.ledger.position_amount(asset) if asset is not None else ZERO
            if asset is None or not held or not dividend.amount:
                continue
            with ledger_context():
                amount = held * dividend.amount * asset.multiplier * self._rate(asset)
            flow = CashFlow(kind="dividend", amount=amount, ts=now, asset=asset, stage="accrue")
            self.ledger.apply_cash_flow(flow)
            self._unpaid.append((self._known_at(dividend.pay_date), flow))
        due = [flow for known, flow in self._unpaid if known < now]
        if due:
            self._unpaid = [(k, f) for k, f in self._unpaid if k >= now]
            for flow in due:
                self.ledger.apply_cash_flow(
                    CashFlow(
                        kind=flow.kind, amount=flow.amount, ts=now, asset=flow.asset, stage="settle"
                    )
                )
        if self._auto_close and self._auto_close[0][0] <= event.session:
            changed = self._close_expired(event.session, now) or changed
        if changed:
            self._changed()

    def _cancel_open_orders(self, asset: Asset) -> None:
        # order events rank after the bar (rbt.kernel.events), so the cancellation is
        # carried out at the session's first bar, before the broker matches anything
        self._to_cancel.add(asset.sid)

    def _cancel_pending(self) -> None:
        sids, self._to_cancel = self._to_cancel, set()
        for order in list(self.session.orders.open_orders()):
            if order.asset.sid in sids:
                self.session.cancel_order(order.id)

    def _close_expired(self, session: dt.date, now: int) -> bool:
        changed = False
        while self._auto_close and self._auto_close[0][0] <= session:
            _, sid = self._auto_close.pop(0)
            asset = self._asset_of[sid]
            self._cancel_open_orders(asset)
            held = self.ledger.position_amount(asset)
            if not held:
                continue
            price = self.portal.exact_price(asset, "price")
            if price is None:
                price = self.ledger.positions()[asset].last_price
            fill = Fill(
                id=f"auto_close-{sid}-{session.isoformat()}",
                order_id="auto_close",
                asset=asset,
                amount=-held,
                price=price,
                ts=now,
            )
            self.ledger.apply_fill(fill)
            self.session.fills.append(fill)
            changed = True
        return changed

    # -- bars ------------------------------------------------------------------------
    def _bar_closed(self, event: BarClosed) -> None:
        if self._to_cancel:
            self._cancel_pending()
        now = event.ts
        for currency, (asset, inverted) in self._fx.items():
            price = self.portal.exact_price(asset, "price")
            if price is not None and price > 0:
                with ledger_context():
                    rate = Decimal(1) / price if inverted else price
                self.ledger.set_rate(ConversionRate(currency=currency, rate=rate, ts=now))
        funding = self._funding
        while self._next_funding < len(funding) and funding[self._next_funding].ts <= now:
            item = funding[self._next_funding]
            self._next_funding += 1
            perp = self._asset_of.get(item.sid)
            held = self.ledger.position_amount(perp) if perp is not None else ZERO
            if perp is None or not held:
                continue
            mark = self.portal.exact_price(perp, "price")
            if mark is None:
                continue
            with ledger_context():
                amount = -held * mark * perp.multiplier * item.rate * self._rate(perp)
            if amount:
                self.ledger.apply_cash_flow(
                    CashFlow(kind="funding", amount=amount, ts=now, asset=perp)
                )

    # -- session close ---------------------------------------------------------------
    def _session_closed(self, event: SessionClosed) -> None:
        # subscribed only with a borrow or financing rate
        previous, self._previous_session = self._previous_session, event.session
        days = (event.session - previous).days if previous is not None else 1
        ledger = self.ledger
        with ledger_context():
            if self.borrow_rate:
                for asset, amount, last in list(ledger.iter_holdings()):
                    if amount >= 0:
                        continue
                    value = -amount * last * asset.multiplier * self._rate(asset)
                    cost = (value * self.borrow_rate * days / _DAYS_PER_YEAR).quantize(
                        LEDGER_SCALE, rounding=ROUND_HALF_EVEN
                    )
                    if cost:
                        ledger.apply_cash_flow(
                            CashFlow(kind="borrow", amount=-cost, ts=event.ts, asset=asset)
                        )
            if self.financing_rate and ledger.cash < 0:
                interest = (ledger.cash * self.financing_rate * days / _DAYS_PER_YEAR).quantize(
                    LEDGER_SCALE, rounding=ROUND_HALF_EVEN
                )
                if interest:
                    ledger.apply_cash_flow(CashFlow(kind="financing", amount=interest, ts=event.ts))

    def _rate(self, asset: Asset) -> Decimal:
        if asset.quote_currency in self._fx:
            return self.ledger.rate(asset.quote_currency)
        return Decimal(1)

    @property
    def unpaid(self) -> Sequence[CashFlow]:
        """Dividends earned and not yet paid."""
        return [flow for _, flow in self._unpaid]
