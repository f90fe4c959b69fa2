"""The exact ledger: cash, receivables, positions, cost, realized P&L and commissions.

Positions use the average-cost method. A position's cost is kept as a total
(``cost_value`` = Σ amount × price × multiplier of the open part), so buying
never divides; closing part of a position apportions its cost with one
division rounded to :data:`~rbt.kernel.numeric.LEDGER_SCALE`.

After every fill an O(1) identity is checked::

    cash + receivables + Σ cost_value
        == starting cash + realized P&L − commissions + other cash flows

Cash moves by exact fill notionals, cost and realized P&L by the position
accounting, so the identity ties the two paths together.

Entries besides fills (all replayed like fills):

* :class:`CashFlow` — cash that moves without a trade. ``stage`` says how:
  ``"cash"`` (paid now: borrow cost, financing, funding, fees), ``"accrue"``
  (earned now, paid later: a dividend on its ex-date becomes a *receivable*)
  and ``"settle"`` (a receivable is paid into cash: the dividend's pay-date;
  income was already counted when it accrued).
* :class:`Split` — a position's amount is multiplied by the ratio (rounded
  toward zero to the asset's lot), its total cost is unchanged (so the cost
  per share is divided by the ratio); the fractional remainder is paid out as
  cash at the new cost per share, as Zipline does (no realized P&L).
* :class:`ConversionRate` — the point-in-time price of one unit of a quote
  currency in the base currency. A fill of an asset quoted in another
  currency settles in the base currency at the rate in force (its notional
  and commission are multiplied by it), and positions are valued at
  ``amount × last price × multiplier × rate``. One base currency per account
  (design.md §2.1a.3). The full history of
entries is kept, and :meth:`Ledger.replay` rebuilds the books from it; a run
ends by checking that the replay equals the live books.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from decimal import ROUND_HALF_EVEN, Decimal, setcontext

import attrs

from rbt.kernel.errors import LedgerInvariantError
from rbt.kernel.model import Account, Asset, Fill, Position
from rbt.kernel.numeric import (
    LEDGER_EXPONENT,
    LEDGER_SCALE,
    ZERO,
    enter_ledger_context,
    has_exponent_zero,
    ledger_context,
    round_quantity,
    to_decimal,
)

__all__ = ["CASH_FLOW_STAGES", "CashFlow", "ConversionRate", "Ledger", "Split"]

#: How a :class:`CashFlow` moves money (see the module doc).
CASH_FLOW_STAGES = ("cash", "accrue", "settle")


def _stage(_inst: object, _attribute: object, value: str) -> None:
    if value not in CASH_FLOW_STAGES:
        raise ValueError(
            f"cash flow stage must be one of {', '.join(CASH_FLOW_STAGES)}, got {value!r}"
        )


@attrs.frozen(kw_only=True)
class CashFlow:
    """Cash moving in or out without a trade: a dividend, interest, a fee, a deposit.

    :param amount: signed, in the base currency (positive: the account receives it).
    :param stage: ``"cash"`` paid now, ``"accrue"`` earned now as a receivable,
        ``"settle"`` a receivable paid into cash.
    """

    kind: str
    amount: Decimal
    ts: int
    asset: Asset | None = None
    stage: str = attrs.field(default="cash", validator=_stage)


@attrs.frozen(kw_only=True)
class Split:
    """A stock split on its ex-date: ``ratio`` new shares per old share (2 for 2-for-1)."""

    asset: Asset
    ratio: Decimal
    ts: int

    def __attrs_post_init__(self) -> None:
        if not self.ratio > 0:
            raise ValueError(f"split ratio must be positive, got {self.ratio}")


@attrs.frozen(kw_only=True)
class ConversionRate:
    """From ``ts`` on, one unit of ``currency`` is worth ``rate`` units of the base currency."""

    currency: str
    rate: Decimal
    ts: int

    def __attrs_post_init__(self) -> None:
        if not self.rate > 0:
            raise ValueError(
                f"conversion rate of {self.currency} must be positive, got {self.rate}"
            )


Entry = Fill | CashFlow | Split | ConversionRate

#: Prices ``assets`` exactly as of one instant (None: no price, keep the previous mark).
MarkPricer = Callable[[Sequence[Asset]], Sequence[Decimal | None]]


@attrs.define
class _Holding:
    asset: Asset
    amount: Decimal = ZERO
    cost_value: Decimal = ZERO
    last_price: Decimal = ZERO
    #: ``asset`` is quoted in the base currency with multiplier exactly 1 (``Decimal(1)``,
    #: exponent 0): a fill of it has notional ``amount × price`` (the same value and
    #: exponent) and no rate
    plain_notional: bool = False


class Ledger:
    """Exact books of one account.

    :param starting_cash: cash at the start, in the base currency.
    :param base_currency: the account's currency.
    """

    #: check the identity after every fill (off only in verify_replay's own replay)
    _check_each = True

    def __init__(self, starting_cash: Decimal | int | str, base_currency: str = "USD") -> None:
        self.base_currency = base_currency
        self.starting_cash = to_decimal(starting_cash)
        self.cash = self.starting_cash
        self.realized_pnl = ZERO
        self.commissions = ZERO
        self.other_flows = ZERO
        self.receivables = ZERO
        self._cost_total = ZERO
        self._holdings: dict[int, _Holding] = {}
        self._entries: list[Entry] = []
        self._rates: dict[str, Decimal] = {}
        # marks deferred by defer_marks: the pricer, and the sids whose last price was set
        # since (a fill, a mark or a split): the pricer applies to the other open positions
        self._pending_marks: MarkPricer | None = None
        self._marked_since: set[int] = set()

    def _rate(self, asset: Asset) -> Decimal | None:
        """The conversion rate of ``asset``'s quote currency (None: the base currency)."""
        currency = asset.quote_currency
        if currency == self.base_currency or not currency:
            return None
        try:
            return self._rates[currency]
        except KeyError:
            raise LedgerInvariantError(
                f"no conversion rate for {currency} into {self.base_currency} (needed for "
                f"{asset!r}); add a conversion series such as {currency}{self.base_currency} "
                "to the bundle"
            ) from None

    # -- entries ---------------------------------------------------------------
    def apply_fill(self, fill: Fill) -> Decimal:
        """Book a fill and check the books; return the position's amount after it.

        :raises LedgerInvariantError: when the books no longer balance.
        """
        previous = enter_ledger_context()  # ledger_context(), without a copy per fill
        try:
            return self._book(fill)
        finally:
            setcontext(previous)

    def apply_fills(self, fills: Sequence[Fill]) -> list[Decimal]:
        """:meth:`apply_fill` each of ``fills`` in turn (the context entered once); return
        the position's amount after each.

        :raises LedgerInvariantError: when the books no longer balance (the fills before
            the one that broke them stay booked, as with :meth:`apply_fill`).

        .. versionadded:: 0.1
        """
        previous = enter_ledger_context()
        try:
            return [self._book(fill) for fill in fills]
        finally:
            setcontext(previous)

    def _new_holding(self, asset: Asset) -> _Holding:
        currency, multiplier = asset.quote_currency, asset.multiplier
        plain = (
            (currency == self.base_currency or not currency)
            and multiplier == 1
            and has_exponent_zero(multiplier)
        )
        return _Holding(asset, plain_notional=plain)

    def _book(self, fill: Fill) -> Decimal:
        """Book ``fill`` (in the ledger's context) and check the books."""
        asset = fill.asset
        if self._pending_marks is not None:  # the fill's price replaces a deferred mark
            self._marked_since.add(asset.sid)
        holding = self._holdings.get(asset.sid)
        if holding is None:
            holding = self._holdings[asset.sid] = self._new_holding(asset)
        commission = fill.commission
        rate = None
        # the holding's own Asset: a fill may carry another Asset of the sid, with its rules
        if holding.plain_notional and asset is holding.asset:
            notional = fill.amount * fill.price
        else:
            notional = fill.notional
            currency = asset.quote_currency
            if currency != self.base_currency and currency:
                rate = self._rate(asset)
            if rate is not None:  # settles in the base currency at the rate in force
                notional *= rate
                commission *= rate
        self.cash -= notional + commission
        if commission is not ZERO:  # adding the zero constant changes neither value nor
            self.commissions += commission  # exponent: commissions' is never above 0
        old_amount = holding.amount
        new_amount = old_amount + fill.amount
        if old_amount == 0 or (old_amount > 0) == (fill.amount > 0):
            # opening or adding: cost grows by exactly what was paid
            cost_delta = notional
        elif new_amount == 0 or (new_amount > 0) == (old_amount > 0):
            # reducing: apportion the cost of the closed part
            if new_amount == 0:  # all of it: its whole cost, no division
                removed = holding.cost_value
            else:
                removed = (holding.cost_value * -fill.amount / old_amount).quantize(
                    LEDGER_SCALE, rounding=ROUND_HALF_EVEN
                )
            self.realized_pnl += -notional - removed
            cost_delta = -removed
        else:
            # flipping through zero: close everything, open the rest at the fill price
            unit = fill.price * fill.asset.multiplier * (rate if rate is not None else 1)
            closed_notional = -old_amount * unit
            self.realized_pnl += -closed_notional - holding.cost_value
            cost_delta = -holding.cost_value + new_amount * unit
        holding.amount = new_amount
        holding.cost_value += cost_delta
        holding.last_price = fill.price
        self._cost_total += cost_delta
        self._entries.append(fill)
        if self._check_each:
            self._check()
        return new_amount

    def apply_cash_flow(self, flow: CashFlow) -> None:
        """Book money that moves without a trade (see ``stage`` in the module doc)."""
        with ledger_context():
            if flow.stage == "cash":
                self.cash += flow.amount
                self.other_flows += flow.amount
            elif flow.stage == "accrue":
                self.receivables += flow.amount
                self.other_flows += flow.amount
            else:  # settle: the receivable becomes cash
                self.receivables -= flow.amount
                self.cash += flow.amount
            self._entries.append(flow)
            self._check()

    def apply_split(self, split: Split) -> Decimal:
        """Apply a split to the position in ``split.asset``; return the cash paid out.

        The amount becomes ``amount × ratio`` rounded toward zero to the asset's
        lot; the total cost is kept, so the cost per share is divided by the
        ratio; the fractional remainder is paid as cash at the new cost per
        share (its share of the cost), as Zipline does. Without a position
        nothing is booked.
        """
        self._settle_marks((split.asset.sid,))
        holding = self._holdings.get(split.asset.sid)
        if holding is None or not holding.amount:
            return ZERO
        with ledger_context():
            raw = holding.amount * split.ratio
            whole = round_quantity(raw, split.asset.lot_size)
            paid = ZERO
            if whole == 0:
                paid = holding.cost_value
            elif whole != raw:
                paid = holding.cost_value * (raw - whole) / raw
                exponent = paid.as_tuple().exponent
                if isinstance(exponent, int) and exponent < LEDGER_EXPONENT:
                    paid = paid.quantize(LEDGER_SCALE, rounding=ROUND_HALF_EVEN)
            holding.amount = whole
            holding.cost_value -= paid
            self._cost_total -= paid
            self.cash += paid
            holding.last_price = holding.last_price / split.ratio
            self._entries.append(split)
            self._check()
            return paid

    def set_rate(self, rate: ConversionRate) -> None:
        """Set the conversion rate of a quote currency (booked only when it changes)."""
        if rate.currency == self.base_currency:
            raise ValueError(f"{rate.currency} is the base currency; it needs no rate")
        if self._rates.get(rate.currency) != rate.rate:
            self._rates[rate.currency] = rate.rate
            self._entries.append(rate)

    def rate(self, currency: str) -> Decimal:
        """The conversion rate in force for ``currency`` (1 for the base currency)."""
        if currency == self.base_currency:
            return Decimal(1)
        return self._rates[currency]

    def mark(self, asset: Asset, price: Decimal) -> None:
        """Set the last price used to value ``asset`` (no cash moves)."""
        if self._pending_marks is not None:
            self._marked_since.add(asset.sid)
        holding = self._holdings.get(asset.sid)
        if holding is not None:
            holding.last_price = price

    def defer_marks(self, pricer: MarkPricer) -> None:
        """Mark every open position with ``pricer`` when its price is next needed.

        Equivalent to calling :meth:`mark` for each open position now (``pricer`` must
        price as of now), but costs nothing until a price is read: a backtest that
        marks at every close and reads the marks rarely skips the per-position work.
        A later call replaces a pending pricer, so a pricer must never return None for
        a position an earlier pricer could price (forward-filled closes never do).
        """
        self._pending_marks = pricer
        self._marked_since = set()

    def _settle_marks(self, sids: Iterable[int] | None = None) -> None:
        """Apply deferred marks (to the holdings of ``sids`` only, when given).

        A position open now and not re-priced since the deferral was open at the
        deferral (opening one is a fill), so this marks exactly what eager marking did.
        """
        pricer = self._pending_marks
        if pricer is None:
            return
        done = self._marked_since
        if sids is None:
            held = [h for sid, h in self._holdings.items() if h.amount and sid not in done]
            self._pending_marks, self._marked_since = None, set()
        else:
            held = []
            for sid in sids:
                h = self._holdings.get(sid)
                if h is not None and h.amount and sid not in done:
                    held.append(h)
                done.add(sid)
        if held:
            for h, price in zip(held, pricer([h.asset for h in held]), strict=True):
                if price is not None:
                    h.last_price = price

    def _check(self) -> None:
        lhs = self.cash + self.receivables + self._cost_total
        rhs = self.starting_cash + self.realized_pnl - self.commissions + self.other_flows
        if lhs != rhs:
            raise LedgerInvariantError(
                f"books do not balance after entry #{len(self._entries)}: "
                f"cash + receivables + cost = {lhs}, "
                f"capital + realized - commissions + flows = {rhs}"
            )

    # -- views -----------------------------------------------------------------
    @property
    def entries(self) -> tuple[Entry, ...]:
        """Every booked entry in booking order."""
        return tuple(self._entries)

    def positions(self) -> dict[Asset, Position]:
        """Open positions (non-zero amount), keyed by asset."""
        self._settle_marks()
        return {
            h.asset: Position(
                asset=h.asset, amount=h.amount, cost_value=h.cost_value, last_price=h.last_price
            )
            for h in self._holdings.values()
            if h.amount
        }

    def position(self, asset: Asset) -> Position | None:
        """The open position in ``asset``, or None when flat."""
        self._settle_marks((asset.sid,))
        h = self._holdings.get(asset.sid)
        if h is None or not h.amount:
            return None
        return Position(
            asset=h.asset, amount=h.amount, cost_value=h.cost_value, last_price=h.last_price
        )

    def holding(self, asset: Asset) -> tuple[Decimal, Decimal, Decimal] | None:
        """``(amount, cost_value, last_price)`` of the open position in ``asset`` (None when
        flat): :meth:`position` without building the record, for per-fill mirrors."""
        sid = asset.sid
        if self._pending_marks is not None and sid not in self._marked_since:
            self._settle_marks((sid,))  # after a fill of it (the usual caller) nothing to do
        h = self._holdings.get(sid)
        if h is None or not h.amount:
            return None
        return h.amount, h.cost_value, h.last_price

    def position_amount(self, asset: Asset) -> Decimal:
        """Signed amount held of ``asset`` (zero when none)."""
        holding = self._holdings.get(asset.sid)
        return holding.amount if holding is not None else ZERO

    def iter_holdings(self) -> Iterator[tuple[Asset, Decimal, Decimal]]:
        """Yield (asset, amount, last price) of open positions, cheaply."""
        self._settle_marks()
        for h in self._holdings.values():
            if h.amount:
                yield h.asset, h.amount, h.last_price

    def positions_value(self) -> Decimal:
        """Market value of all positions at their last prices."""
        self._settle_marks()
        with ledger_context():
            total = ZERO
            for h in self._holdings.values():
                if h.amount:
                    value = h.amount * h.last_price * h.asset.multiplier
                    rate = self._rate(h.asset)
                    total += value if rate is None else value * rate
            return total

    def account(self) -> Account:
        """Snapshot of the books."""
        return Account(
            base_currency=self.base_currency,
            cash=self.cash,
            positions_value=self.positions_value(),
            starting_cash=self.starting_cash,
            realized_pnl=self.realized_pnl,
            commissions=self.commissions,
        )

    def books(self) -> tuple[object, ...]:
        """A comparable summary of the books (cash, totals and every position)."""
        holdings = tuple(
            sorted((sid, h.amount, h.cost_value) for sid, h in self._holdings.items() if h.amount)
        )
        return (
            self.cash,
            self.realized_pnl,
            self.commissions,
            self.other_flows,
            self.receivables,
            holdings,
        )

    # -- replay ----------------------------------------------------------------
    @classmethod
    def replay(
        cls,
        starting_cash: Decimal,
        entries: Iterable[Entry],
        base_currency: str = "USD",
        *,
        check_each: bool = True,
    ) -> Ledger:
        """Rebuild a ledger from its entries.

        :param check_each: check the books' identity after every fill, as live booking
            does (:meth:`verify_replay` compares the end with books checked so already).
        """
        ledger = cls(starting_cash, base_currency)
        ledger._check_each = check_each
        fills: list[Fill] = []  # a run of fills, booked together
        for entry in entries:
            if isinstance(entry, Fill):
                fills.append(entry)
                continue
            if fills:
                ledger.apply_fills(fills)
                fills = []
            if isinstance(entry, CashFlow):
                ledger.apply_cash_flow(entry)
            elif isinstance(entry, Split):
                ledger.apply_split(entry)
            else:
                ledger.set_rate(entry)
        ledger.apply_fills(fills)
        ledger._check_each = True  # booking on from here is checked as always
        return ledger

    def verify_replay(self) -> None:
        """Check that replaying every entry reproduces these books.

        :raises LedgerInvariantError: when it does not.
        """
        # every fill was checked when booked here: the replay's books are compared, whole
        replayed = Ledger.replay(
            self.starting_cash, self._entries, self.base_currency, check_each=False
        )
        if replayed.books() != self.books():
            raise LedgerInvariantError(
                f"replay of {len(self._entries)} entries differs from the live books: "
                f"{replayed.books()} != {self.books()}"
            )
