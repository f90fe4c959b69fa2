"""The exact ledger: cash, positions, cost, realized P&L and commissions.

Positions use the average-cost method. A position's cost is kept as a total
(``cost_value`` = Σ amount × price × multiplier of the open part), so buying
never divides; closing part of a position apportions its cost with one
division rounded to :data:`~rbt.kernel.numeric.LEDGER_SCALE`.

After every fill an O(1) identity is checked::

    cash + Σ cost_value == starting cash + realized P&L − commissions + other cash flows

Cash moves by exact fill notionals, cost and realized P&L by the position
accounting, so the identity ties the two paths together. The full history of
entries is kept, and :meth:`Ledger.replay` rebuilds the books from it; a run
ends by checking that the replay equals the live books.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from decimal import ROUND_HALF_EVEN, Decimal

import attrs

from rbt.kernel.errors import LedgerInvariantError
from rbt.kernel.model import Account, Asset, Fill, Position
from rbt.kernel.numeric import LEDGER_SCALE, ZERO, ledger_context, to_decimal

__all__ = ["CashFlow", "Ledger"]


@attrs.frozen(kw_only=True)
class CashFlow:
    """Cash moving in or out without a trade: a dividend, interest, a fee, a deposit."""

    kind: str
    amount: Decimal
    ts: int
    asset: Asset | None = None


@attrs.define
class _Holding:
    asset: Asset
    amount: Decimal = ZERO
    cost_value: Decimal = ZERO
    last_price: Decimal = ZERO


class Ledger:
    """Exact books of one account.

    :param starting_cash: cash at the start, in the base currency.
    :param base_currency: the account's currency.
    """

    def __init__(self, starting_cash: Decimal | int | str, base_currency: str = "USD") -> None:
        self.base_currency = base_currency
        self.starting_cash = to_decimal(starting_cash)
        self.cash = self.starting_cash
        self.realized_pnl = ZERO
        self.commissions = ZERO
        self.other_flows = ZERO
        self._cost_total = ZERO
        self._holdings: dict[int, _Holding] = {}
        self._entries: list[Fill | CashFlow] = []

    # -- entries ---------------------------------------------------------------
    def apply_fill(self, fill: Fill) -> None:
        """Book a fill and check the books.

        :raises LedgerInvariantError: when the books no longer balance.
        """
        with ledger_context():
            holding = self._holdings.get(fill.asset.sid)
            if holding is None:
                holding = self._holdings[fill.asset.sid] = _Holding(fill.asset)
            notional = fill.notional
            self.cash -= notional + fill.commission
            self.commissions += fill.commission
            old_amount = holding.amount
            new_amount = old_amount + fill.amount
            if old_amount == 0 or (old_amount > 0) == (fill.amount > 0):
                # opening or adding: cost grows by exactly what was paid
                cost_delta = notional
            elif new_amount == 0 or (new_amount > 0) == (old_amount > 0):
                # reducing: apportion the cost of the closed part
                removed = (holding.cost_value * -fill.amount / old_amount).quantize(
                    LEDGER_SCALE, rounding=ROUND_HALF_EVEN
                )
                if new_amount == 0:
                    removed = holding.cost_value
                self.realized_pnl += -notional - removed
                cost_delta = -removed
            else:
                # flipping through zero: close everything, open the rest at the fill price
                closed_notional = -old_amount * fill.price * fill.asset.multiplier
                self.realized_pnl += -closed_notional - holding.cost_value
                cost_delta = -holding.cost_value + new_amount * fill.price * fill.asset.multiplier
            holding.amount = new_amount
            holding.cost_value += cost_delta
            holding.last_price = fill.price
            self._cost_total += cost_delta
            self._entries.append(fill)
            self._check()

    def apply_cash_flow(self, flow: CashFlow) -> None:
        """Book cash that moves without a trade."""
        with ledger_context():
            self.cash += flow.amount
            self.other_flows += flow.amount
            self._entries.append(flow)
            self._check()

    def mark(self, asset: Asset, price: Decimal) -> None:
        """Set the last price used to value ``asset`` (no cash moves)."""
        holding = self._holdings.get(asset.sid)
        if holding is not None:
            holding.last_price = price

    def _check(self) -> None:
        lhs = self.cash + self._cost_total
        rhs = self.starting_cash + self.realized_pnl - self.commissions + self.other_flows
        if lhs != rhs:
            raise LedgerInvariantError(
                f"books do not balance after entry #{len(self._entries)}: "
                f"cash + cost = {lhs}, capital + realized - commissions + flows = {rhs}"
            )

    # -- views -----------------------------------------------------------------
    @property
    def entries(self) -> tuple[Fill | CashFlow, ...]:
        """Every booked entry in booking order."""
        return tuple(self._entries)

    def positions(self) -> dict[Asset, Position]:
        """Open positions (non-zero amount), keyed by asset."""
        return {
            h.asset: Position(
                asset=h.asset, amount=h.amount, cost_value=h.cost_value, last_price=h.last_price
            )
            for h in self._holdings.values()
            if h.amount
        }

    def position_amount(self, asset: Asset) -> Decimal:
        """Signed amount held of ``asset`` (zero when none)."""
        holding = self._holdings.get(asset.sid)
        return holding.amount if holding is not None else ZERO

    def iter_holdings(self) -> Iterator[tuple[Asset, Decimal, Decimal]]:
        """Yield (asset, amount, last price) of open positions, cheaply."""
        for h in self._holdings.values():
            if h.amount:
                yield h.asset, h.amount, h.last_price

    def positions_value(self) -> Decimal:
        """Market value of all positions at their last prices."""
        with ledger_context():
            total = ZERO
            for h in self._holdings.values():
                if h.amount:
                    total += h.amount * h.last_price * h.asset.multiplier
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
        return (self.cash, self.realized_pnl, self.commissions, self.other_flows, holdings)

    # -- replay ----------------------------------------------------------------
    @classmethod
    def replay(
        cls,
        starting_cash: Decimal,
        entries: Iterable[Fill | CashFlow],
        base_currency: str = "USD",
    ) -> Ledger:
        """Rebuild a ledger from its entries."""
        ledger = cls(starting_cash, base_currency)
        for entry in entries:
            if isinstance(entry, Fill):
                ledger.apply_fill(entry)
            else:
                ledger.apply_cash_flow(entry)
        return ledger

    def verify_replay(self) -> None:
        """Check that replaying every entry reproduces these books.

        :raises LedgerInvariantError: when it does not.
        """
        replayed = Ledger.replay(self.starting_cash, self._entries, self.base_currency)
        if replayed.books() != self.books():
            raise LedgerInvariantError(
                f"replay of {len(self._entries)} entries differs from the live books: "
                f"{replayed.books()} != {self.books()}"
            )
