"""The exact ledger: the O(1) identity after every entry, replay, cash and realized P&L."""

from __future__ import annotations

from decimal import Decimal
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rbt.kernel.errors import LedgerInvariantError
from rbt.kernel.ledger import CashFlow, ConversionRate, Ledger
from rbt.kernel.model import Asset, AssetClass, Fill
from rbt.kernel.numeric import ZERO

EQUITY = Asset(sid=1, symbol="AAA")
COIN = Asset(
    sid=2,
    symbol="BTC/USD",
    asset_class=AssetClass.CRYPTO,
    calendar="24/7",
    tick_size="0.01",
    lot_size="0.001",
)
FUTURE = Asset(sid=3, symbol="ESZ4", asset_class=AssetClass.FUTURE, tick_size="0.25", multiplier=50)
ASSETS = (EQUITY, COIN, FUTURE)
START = Decimal("100000.00")


def _lots(asset: Asset, n: int) -> Decimal:
    return asset.lot_size * n


def _price(asset: Asset, ticks: int) -> Decimal:
    return asset.tick_size * ticks


prices_in_ticks = st.integers(min_value=1, max_value=2_000_000)
commissions = st.integers(min_value=0, max_value=2_000).map(lambda c: Decimal(c).scaleb(-2))


class _Counter:
    def __init__(self) -> None:
        self.n = 0

    def fill(self, asset: Asset, amount: Decimal, price: Decimal, commission: Decimal) -> Fill:
        self.n += 1
        return Fill(
            id=f"f{self.n}",
            order_id=f"o{self.n}",
            asset=asset,
            amount=amount,
            price=price,
            ts=self.n,
            commission=commission,
        )


@settings(max_examples=500, deadline=None)
@given(data=st.data(), steps=st.integers(min_value=1, max_value=25))
def test_random_fills_keep_the_books_exact(data: st.DataObject, steps: int) -> None:
    ledger = Ledger(START)
    ids = _Counter()
    spent = Decimal(0)  # Σ notional + commission
    fees = Decimal(0)
    flows = Decimal(0)
    held = {a.sid: Decimal(0) for a in ASSETS}
    for _ in range(steps):
        asset = data.draw(st.sampled_from(ASSETS))
        current = held[asset.sid]
        mode = data.draw(st.sampled_from(["open", "open", "close", "partial", "flip", "flow"]))
        if mode == "flow":
            flow = CashFlow(kind="dividend", amount=data.draw(commissions), ts=ids.n, asset=asset)
            ledger.apply_cash_flow(flow)
            flows += flow.amount
            continue
        lots = data.draw(st.integers(min_value=1, max_value=5000))
        if mode == "close" and current:
            amount = -current
        elif mode == "partial" and abs(current) > asset.lot_size:
            lots_held = int(abs(current) / asset.lot_size)
            part = data.draw(st.integers(min_value=1, max_value=lots_held - 1))
            amount = -_lots(asset, part) * (1 if current > 0 else -1)
        elif mode == "flip" and current:
            amount = -current - _lots(asset, lots) * (1 if current > 0 else -1)
        else:
            amount = _lots(asset, lots) * data.draw(st.sampled_from([1, -1]))
        price = _price(asset, data.draw(prices_in_ticks))
        fill = ids.fill(asset, amount, price, data.draw(commissions))
        after = ledger.apply_fill(fill)  # the O(1) identity is checked inside; never raises
        spent += fill.notional + fill.commission
        fees += fill.commission
        held[asset.sid] += amount
        assert ledger.position_amount(asset) == held[asset.sid] == after

    assert ledger.cash == START - spent + flows  # exact, to the last digit
    assert ledger.commissions == fees
    assert ledger.other_flows == flows
    assert {p.asset.sid: p.amount for p in ledger.positions().values()} == {
        sid: amount for sid, amount in held.items() if amount
    }
    ledger.verify_replay()

    # close everything: realized P&L is then exactly what the trades earned
    for asset in ASSETS:
        if held[asset.sid]:
            price = _price(asset, data.draw(prices_in_ticks))
            fill = ids.fill(asset, -held[asset.sid], price, Decimal(0))
            ledger.apply_fill(fill)
            spent += fill.notional
    assert ledger.positions() == {}
    assert ledger.realized_pnl == -(spent - fees)
    assert ledger.cash == START + ledger.realized_pnl - ledger.commissions + flows
    ledger.verify_replay()


@settings(max_examples=200, deadline=None)
@given(
    moves=st.lists(
        st.tuples(st.sampled_from(ASSETS), st.integers(-3000, 3000).filter(bool), prices_in_ticks),
        max_size=30,
    ),
    fees=st.lists(commissions, min_size=30, max_size=30),
    cuts=st.lists(st.integers(0, 30), max_size=6),
)
def test_fills_booked_together_equal_fills_booked_one_by_one(
    moves: list[tuple[Asset, int, int]], fees: list[Decimal], cuts: list[int]
) -> None:
    """``apply_fills`` over any split of a fill sequence (opens, adds, partial closes,
    flips) leaves the books, the entries and each fill's resulting amount as
    ``apply_fill`` one fill at a time does."""
    ids = _Counter()
    fills = [
        ids.fill(asset, _lots(asset, lots), _price(asset, ticks), fee)
        for (asset, lots, ticks), fee in zip(moves, fees, strict=False)
    ]
    one_by_one = Ledger(START)
    amounts = [one_by_one.apply_fill(f) for f in fills]
    together = Ledger(START)
    bounds = [0, *sorted(c for c in cuts if c <= len(fills)), len(fills)]
    batched = [a for lo, hi in pairwise(bounds) for a in together.apply_fills(fills[lo:hi])]
    assert batched == amounts
    assert together.books() == one_by_one.books()
    assert together.entries == one_by_one.entries
    assert together.realized_pnl == one_by_one.realized_pnl
    together.verify_replay()


@settings(max_examples=500, deadline=None)
@given(
    asset=st.sampled_from(ASSETS),
    open_ticks=prices_in_ticks,
    close_ticks=prices_in_ticks,
    open_parts=st.lists(st.integers(min_value=1, max_value=1000), min_size=1, max_size=6),
    close_cuts=st.lists(st.integers(min_value=1, max_value=10**6), max_size=5),
    short=st.booleans(),
    fees=st.lists(commissions, min_size=12, max_size=12),
)
def test_a_closed_round_trip_realizes_the_exact_price_difference(
    asset: Asset,
    open_ticks: int,
    close_ticks: int,
    open_parts: list[int],
    close_cuts: list[int],
    short: bool,
    fees: list[Decimal],
) -> None:
    ledger = Ledger(START)
    ids = _Counter()
    sign = -1 if short else 1
    p_open, p_close = _price(asset, open_ticks), _price(asset, close_ticks)
    quantity = _lots(asset, sum(open_parts))
    charged = iter(fees)
    for part in open_parts:
        ledger.apply_fill(ids.fill(asset, sign * _lots(asset, part), p_open, next(charged)))
    # close in pieces (partial closes), the last one flattens
    remaining = sum(open_parts)
    pieces = []
    for cut in close_cuts:
        if remaining <= 1:
            break
        piece = 1 + cut % (remaining - 1)
        pieces.append(piece)
        remaining -= piece
    pieces.append(remaining)
    for piece in pieces:
        ledger.apply_fill(ids.fill(asset, -sign * _lots(asset, piece), p_close, next(charged)))

    expected = (p_close - p_open) * quantity * asset.multiplier * sign
    assert ledger.positions() == {}
    assert ledger.realized_pnl == expected
    assert ledger.realized_pnl - ledger.commissions == expected - sum(
        (f.commission for f in ledger.entries if isinstance(f, Fill)), Decimal(0)
    )
    assert ledger.cash == START + expected - ledger.commissions
    ledger.verify_replay()


def test_average_cost_partial_close_and_flip() -> None:
    ledger = Ledger(START)
    ids = _Counter()
    ledger.apply_fill(ids.fill(EQUITY, Decimal(10), Decimal("100"), Decimal("1")))
    ledger.apply_fill(ids.fill(EQUITY, Decimal(10), Decimal("110"), Decimal("1")))
    (position,) = ledger.positions().values()
    assert position.cost_basis == Decimal("105")
    ledger.apply_fill(ids.fill(EQUITY, Decimal(-5), Decimal("120"), Decimal("1")))
    assert ledger.realized_pnl == Decimal("75")  # 5 × (120 − 105)
    assert ledger.positions()[EQUITY].cost_value == Decimal("1575")
    # flip from +15 to −5 at 100: close 15 at a loss of 5 each, open 5 short at 100
    ledger.apply_fill(ids.fill(EQUITY, Decimal(-20), Decimal("100"), Decimal("1")))
    assert ledger.realized_pnl == Decimal("75") - Decimal("75")
    short = ledger.positions()[EQUITY]
    assert (short.amount, short.cost_value, short.cost_basis) == (
        Decimal(-5),
        Decimal(-500),
        Decimal(100),
    )
    assert ledger.cash == START - 1000 - 1100 + 600 + 2000 - 4
    ledger.mark(EQUITY, Decimal("90"))
    account = ledger.account()
    assert account.positions_value == Decimal(-450)
    assert account.portfolio_value == ledger.cash - 450
    ledger.verify_replay()


def test_future_multiplier_scales_cash_and_pnl() -> None:
    ledger = Ledger(START)
    ids = _Counter()
    ledger.apply_fill(ids.fill(FUTURE, Decimal(2), Decimal("5000.25"), Decimal("4.50")))
    ledger.apply_fill(ids.fill(FUTURE, Decimal(-2), Decimal("5010.00"), Decimal("4.50")))
    assert ledger.realized_pnl == Decimal("9.75") * 2 * 50
    assert ledger.cash == START + Decimal("975.00") - Decimal("9.00")


def test_a_broken_identity_fails_fast() -> None:
    ledger = Ledger(START)
    ids = _Counter()
    ledger.apply_fill(ids.fill(EQUITY, Decimal(1), Decimal("10"), Decimal(0)))
    ledger.cash += Decimal("0.01")  # corrupt the books behind the ledger's back
    with pytest.raises(LedgerInvariantError, match="books do not balance after entry #2"):
        ledger.apply_fill(ids.fill(EQUITY, Decimal(1), Decimal("10"), Decimal(0)))


def test_replay_detects_books_that_differ_from_their_history() -> None:
    ledger = Ledger(START)
    ids = _Counter()
    ledger.apply_fill(ids.fill(EQUITY, Decimal(3), Decimal("10"), Decimal("0.5")))
    ledger.verify_replay()
    ledger.realized_pnl += 1
    with pytest.raises(LedgerInvariantError, match="replay of 1 entries differs"):
        ledger.verify_replay()


def test_ledger_refuses_float_starting_cash() -> None:
    with pytest.raises(TypeError):
        Ledger(100000.0)  # type: ignore[arg-type]


def test_asset_ids_are_python_ints_and_identity_is_the_sid() -> None:
    import numpy as np
    import pytest

    from rbt.kernel.model import Asset

    a, b = Asset(sid=np.int64(7), symbol="A"), Asset(sid=7, symbol="renamed")
    assert type(a.sid) is int
    assert a == b
    assert hash(a) == hash(b)
    assert not a.__ne__(b)
    assert a != Asset(sid=8, symbol="A")
    assert a != 7  # never equal to a bare integer
    assert {a: 1}[b] == 1
    assert hash(Asset(sid=-1, symbol="N")) == hash(-1)
    for bad in ("7", 7.0, True, None):
        with pytest.raises(TypeError, match="asset sid must be an integer"):
            Asset(sid=bad, symbol="X")


class _Textbook:
    """The booking rules of the module doc, written out with no shortcut: each fill's
    notional is ``amount × price × multiplier`` (× the rate), and every sum is taken, a
    commission of zero included. The ledger's shortcuts must give the same Decimals."""

    def __init__(self, start: Decimal, base: str, rates: dict[str, Decimal]) -> None:
        self.cash, self.realized, self.commissions = start, Decimal(0), Decimal(0)
        self.base, self.rates = base, rates
        self.held: dict[int, list[Decimal]] = {}  # sid -> [amount, cost value, last price]

    def book(self, fill: Fill) -> None:
        from decimal import ROUND_HALF_EVEN

        from rbt.kernel.numeric import LEDGER_SCALE, ledger_context

        with ledger_context():
            asset = fill.asset
            foreign = asset.quote_currency not in (self.base, "")
            rate = self.rates[asset.quote_currency] if foreign else Decimal(1)
            notional = fill.amount * fill.price * asset.multiplier
            commission = fill.commission
            if foreign:
                notional, commission = notional * rate, commission * rate
            self.cash = self.cash - (notional + commission)
            self.commissions = self.commissions + commission
            amount, cost, _last = self.held.setdefault(asset.sid, [Decimal(0)] * 3)
            new = amount + fill.amount
            if amount == 0 or (amount > 0) == (fill.amount > 0):
                delta = notional
            elif new == 0 or (new > 0) == (amount > 0):
                removed = (
                    cost
                    if new == 0
                    else (cost * -fill.amount / amount).quantize(
                        LEDGER_SCALE, rounding=ROUND_HALF_EVEN
                    )
                )
                self.realized = self.realized + (-notional - removed)
                delta = -removed
            else:
                unit = fill.price * asset.multiplier * (rate if foreign else 1)
                self.realized = self.realized + (-(-amount * unit) - cost)
                delta = -cost + new * unit
            self.held[asset.sid] = [new, cost + delta, fill.price]


# multipliers equal to 1 with other exponents, and commissions equal to 0 in other forms,
# must not take the unit shortcut's results
_ODD_ASSETS = [
    Asset(sid=10, symbol="ONE"),
    Asset(sid=11, symbol="ONEPT0", multiplier=Decimal("1.0")),
    Asset(sid=12, symbol="TEN", multiplier=Decimal("1E+1")),
    Asset(sid=13, symbol="HALF", multiplier=Decimal("0.5"), lot_size=Decimal("0.1")),
    Asset(sid=14, symbol="EUR1", quote_currency="EUR"),
    Asset(sid=15, symbol="NOCCY", quote_currency=""),  # no currency: the base one
    # another Asset object of ONE's sid (a renamed listing, say) with other rules: its
    # fills follow them, whichever Asset opened the holding
    Asset(sid=10, symbol="ONE.X2", multiplier=Decimal(2)),
]


@settings(max_examples=400, deadline=None)
@given(
    moves=st.lists(
        st.tuples(
            st.sampled_from(_ODD_ASSETS),
            st.sampled_from(["1", "-1", "100", "1E+2", "-2E+1", "3.0", "-0.5", "7"]),
            st.sampled_from(["10", "10.125", "1E+1", "0.5", "99.990", "2"]),
            # the kernel's ZERO itself (the simulator's free fills pass it) and other zeros
            st.sampled_from([ZERO, *map(Decimal, ["0", "0.00", "-0", "1.25", "1E+1"])]),
        ),
        max_size=25,
    ),
    start=st.sampled_from(["100000", "100000.00", "1E+5"]),
    base=st.sampled_from(["USD", "EUR"]),
)
def test_every_field_is_the_textbook_decimal(
    moves: list[tuple[Asset, str, str, Decimal]], start: str, base: str
) -> None:
    """Cash, commissions, realized P&L and each holding equal the textbook booking in value,
    exponent and sign (``repr``), whatever the form of a multiplier or commission of 1 or
    0: the unit shortcut (notional = amount × price) and the skipped zero commission
    change nothing that can be seen."""
    other = "EUR" if base == "USD" else "USD"
    rates = {other: Decimal("1.10")}
    ledger = Ledger(Decimal(start), base_currency=base)
    textbook = _Textbook(Decimal(start), base, rates)
    ledger.set_rate(ConversionRate(currency=other, rate=rates[other], ts=0))
    ids = _Counter()
    for asset, amount, price, fee in moves:
        fill = ids.fill(asset, Decimal(amount), Decimal(price), fee)
        ledger.apply_fill(fill)
        textbook.book(fill)
    assert repr(ledger.cash) == repr(textbook.cash)
    assert repr(ledger.commissions) == repr(textbook.commissions)
    assert repr(ledger.realized_pnl) == repr(textbook.realized)
    for sid, (amount, cost, last) in textbook.held.items():
        h = ledger._holdings[sid]
        assert repr((h.amount, h.cost_value, h.last_price)) == repr((amount, cost, last))
        # the shortcut is taken exactly for the plain assets of the base currency
        plain = h.asset.multiplier.as_tuple() == (0, (1,), 0) and (
            h.asset.quote_currency in (base, "")
        )
        assert h.plain_notional == plain
    ledger.verify_replay()


def test_replay_checks_every_fill_unless_told_its_books_were() -> None:
    # a notional of 42 digits: cash after it rounds to the ledger context's 38, losing the
    # capital's cents, so the books stop balancing at this fill
    ids, start = _Counter(), Decimal("100000.55")
    huge = ids.fill(EQUITY, Decimal(10**12 - 1), Decimal("1" * 30), Decimal(0))
    with pytest.raises(LedgerInvariantError, match="books do not balance after entry #1"):
        Ledger.replay(start, [huge])
    # verify_replay's replay compares books that were checked fill by fill when booked
    replayed = Ledger.replay(start, [huge], check_each=False)
    assert replayed.position_amount(EQUITY) == huge.amount
    with pytest.raises(LedgerInvariantError, match="books do not balance after entry #2"):
        replayed.apply_fill(ids.fill(EQUITY, Decimal(1), Decimal(1), Decimal(0)))  # on again
