"""Plugin-specific unit tests: exact examples of the fee rules."""

from __future__ import annotations

from decimal import Decimal

import attrs
import pytest

from rbt.kernel.model import Asset, AssetClass, Order
from rbt_template.commission import BpsWithMinimum

STOCK = Asset(sid=1, symbol="AAA")
FUTURE = Asset(sid=2, symbol="ESZ4", asset_class=AssetClass.FUTURE, tick_size="0.25", multiplier=50)


def _order(asset: Asset = STOCK, amount: int = 100) -> Order:
    return Order(id="tpl-run-1", asset=asset, amount=Decimal(amount), created=0)


@pytest.mark.parametrize(
    ("amount", "price", "expected"),
    [
        (1000, "100.00", "50.00"),  # 5 bp of 100 000
        (-1000, "100.00", "50.00"),  # sells pay the same
        (10, "10.10", "1.00"),  # 0.0505 → the minimum
        (3000, "0.33", "1.00"),
    ],
)
def test_fee_examples(amount: int, price: str, expected: str) -> None:
    fee = BpsWithMinimum().calculate(_order(amount=amount), Decimal(amount), Decimal(price))
    assert str(fee) == expected


def test_rounding_is_half_up_to_the_cent() -> None:
    model = BpsWithMinimum(basis_points=1, minimum=0)
    # 1 bp of 50 = 0.005 exactly: half-up gives 0.01 (banker's rounding would give 0.00)
    assert model.calculate(_order(amount=5), Decimal(5), Decimal("10.00")) == Decimal("0.01")
    assert model.calculate(_order(amount=4), Decimal(4), Decimal("10.00")) == Decimal("0.00")


def test_the_minimum_applies_once_per_order() -> None:
    model = BpsWithMinimum(basis_points=5, minimum="1.00")
    order = _order(amount=100)
    first = model.calculate(order, Decimal(40), Decimal("10.00"))  # 0.20 → 1.00
    order = attrs.evolve(order, filled=Decimal(40), commission=first)
    second = model.calculate(order, Decimal(60), Decimal("10.00"))  # 0.30, minimum met
    assert (first, second) == (Decimal("1.00"), Decimal("0.30"))


def test_multiplier_counts_in_the_notional() -> None:
    fee = BpsWithMinimum(basis_points=1, minimum=0).calculate(
        _order(FUTURE, 2), Decimal(2), Decimal("5000.25")
    )
    assert fee == Decimal("50.00")  # 1 bp of 2 × 5000.25 × 50 = 500 025 → 50.0025 → 50.00


def test_an_empty_fill_costs_nothing() -> None:
    assert BpsWithMinimum().calculate(_order(), Decimal(0), Decimal("10")) == 0


@pytest.mark.parametrize("kwargs", [{"basis_points": -1}, {"minimum": "-0.01"}])
def test_negative_parameters_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="must not be negative"):
        BpsWithMinimum(**kwargs)  # type: ignore[arg-type]


def test_floats_are_refused() -> None:
    with pytest.raises(TypeError):
        BpsWithMinimum(basis_points=5.0)  # type: ignore[arg-type]
