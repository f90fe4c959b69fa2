"""Ledger entries for corporate actions, receivables, conversion rates (hand-computed).

Each scenario's numbers are worked out in its docstring; the ledger's O(1) identity
``cash + receivables + cost == capital + realized − commissions + flows`` is checked
after every entry inside the ledger, and every test ends with a full replay.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from rbt.kernel.errors import LedgerInvariantError
from rbt.kernel.ledger import CashFlow, ConversionRate, Ledger, Split
from rbt.kernel.model import Asset, AssetClass, Fill

AAA = Asset(sid=1, symbol="AAA")
COIN = Asset(sid=2, symbol="BTC", asset_class=AssetClass.CRYPTO, lot_size="0.001")
SAP = Asset(sid=3, symbol="SAP", quote_currency="EUR")


def fill(asset: Asset, amount: str, price: str, n: int = 1, commission: str = "0") -> Fill:
    return Fill(
        id=f"f{n}",
        order_id=f"o{n}",
        asset=asset,
        amount=Decimal(amount),
        price=Decimal(price),
        ts=n,
        commission=Decimal(commission),
    )


def test_three_for_two_split_pays_the_fraction_at_the_new_cost():
    """Buy 101 AAA at 30.00 (cost 3030.00). A 3-for-2 split (ratio 1.5):
    101 × 1.5 = 151.5 → 151 shares, new cost per share 30 / 1.5 = 20.00,
    the 0.5 share is paid out at 20.00 → cash +10.00; the cost becomes 3020.00.
    Cash: 10000 − 3030 + 10 = 6980.00. No realized P&L.
    """
    ledger = Ledger("10000")
    ledger.apply_fill(fill(AAA, "101", "30.00"))
    paid = ledger.apply_split(Split(asset=AAA, ratio=Decimal("1.5"), ts=2))
    assert paid == Decimal("10.00")
    position = ledger.positions()[AAA]
    assert position.amount == 151
    assert position.cost_value == Decimal("3020.00")
    assert position.cost_basis == Decimal("20")
    assert position.last_price == Decimal("20")  # 30.00 / 1.5
    assert ledger.cash == Decimal("6980.00")
    assert ledger.realized_pnl == 0
    ledger.verify_replay()


def test_reverse_split_and_short_positions_round_toward_zero():
    """Short −25 AAA at 4.00 (cost −100.00). A 1-for-10 reverse split (ratio 0.1):
    −2.5 → −2 shares; the −0.5 share is bought back at the new cost 40.00 → cash −20.00,
    cost −80.00. Cash: 10000 + 100 − 20 = 10080.00.
    """
    ledger = Ledger("10000")
    ledger.apply_fill(fill(AAA, "-25", "4.00"))
    paid = ledger.apply_split(Split(asset=AAA, ratio=Decimal("0.1"), ts=2))
    assert paid == Decimal("-20.00")
    assert ledger.position_amount(AAA) == -2
    assert ledger.positions()[AAA].cost_value == Decimal("-80.00")
    assert ledger.cash == Decimal("10080.00")
    ledger.verify_replay()


def test_split_of_a_fractional_asset_keeps_its_lot():
    """0.0015 BTC at 40000 (cost 60.00), 1-for-2 (ratio 0.5): 0.00075 → 0.000 (lot 0.001):
    nothing is left, the whole cost 60.00 comes back as cash.
    """
    ledger = Ledger("1000")
    ledger.apply_fill(fill(COIN, "0.0015", "40000"))
    assert ledger.apply_split(Split(asset=COIN, ratio=Decimal("0.5"), ts=2)) == Decimal("60.0000")
    assert ledger.positions() == {}
    assert ledger.cash == Decimal("1000")
    ledger.verify_replay()


def test_split_without_a_position_books_nothing():
    ledger = Ledger("1000")
    assert ledger.apply_split(Split(asset=AAA, ratio=Decimal(2), ts=1)) == 0
    assert ledger.entries == ()


def test_dividend_is_a_receivable_until_its_pay_date():
    """100 AAA at 50.00; a 0.25 dividend: at the ex-date the receivable is 25.00 (cash
    unchanged, 5000.00); at the pay-date cash becomes 5025.00 and the receivable 0.
    """
    ledger = Ledger("10000")
    ledger.apply_fill(fill(AAA, "100", "50.00"))
    ledger.apply_cash_flow(
        CashFlow(kind="dividend", amount=Decimal("25.00"), ts=2, asset=AAA, stage="accrue")
    )
    assert ledger.cash == Decimal("5000.00")
    assert ledger.receivables == Decimal("25.00")
    assert ledger.other_flows == Decimal("25.00")
    ledger.apply_cash_flow(
        CashFlow(kind="dividend", amount=Decimal("25.00"), ts=3, asset=AAA, stage="settle")
    )
    assert ledger.cash == Decimal("5025.00")
    assert ledger.receivables == 0
    assert ledger.other_flows == Decimal("25.00")  # income counted once, at the ex-date
    ledger.verify_replay()


def test_bad_stage_and_ratio_are_rejected():
    with pytest.raises(ValueError, match="stage"):
        CashFlow(kind="x", amount=Decimal(1), ts=0, stage="later")
    with pytest.raises(ValueError, match="positive"):
        Split(asset=AAA, ratio=Decimal(0), ts=0)


def test_foreign_asset_settles_and_is_valued_at_the_conversion_rate():
    """EUR-quoted SAP, USD account. EURUSD 1.10: buy 10 at 100.00 EUR = 1100.00 USD
    (+ 1.00 EUR commission = 1.10 USD) → cash 10000 − 1101.10 = 8898.90.
    EURUSD 1.20, SAP marked at 110.00 → position value 10 × 110 × 1.2 = 1320.00.
    Sell 10 at 110.00 at 1.20 → +1320.00; realized = 1320 − 1100 = 220.00 (price and FX).
    """
    ledger = Ledger("10000")
    with pytest.raises(LedgerInvariantError, match="EURUSD"):
        ledger.apply_fill(fill(SAP, "10", "100.00"))
    ledger.set_rate(ConversionRate(currency="EUR", rate=Decimal("1.10"), ts=1))
    ledger.apply_fill(fill(SAP, "10", "100.00", n=1, commission="1.00"))
    assert ledger.cash == Decimal("8898.90")
    ledger.set_rate(ConversionRate(currency="EUR", rate=Decimal("1.20"), ts=2))
    ledger.mark(SAP, Decimal("110.00"))
    assert ledger.positions_value() == Decimal("1320.00")
    ledger.apply_fill(fill(SAP, "-10", "110.00", n=2))
    assert ledger.realized_pnl == Decimal("220.00")
    assert ledger.cash == Decimal("10218.90")
    ledger.verify_replay()
    ledger.set_rate(ConversionRate(currency="EUR", rate=Decimal("1.20"), ts=3))  # unchanged
    assert sum(isinstance(e, ConversionRate) for e in ledger.entries) == 2
