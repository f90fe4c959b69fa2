"""Conformance cases for commission models (TC-C..).

Subclass and name your provider::

    from rbt.testing import CommissionModelConformance

    class TestBpsWithMinimum(CommissionModelConformance):
        provider = "template.bps_with_minimum"
        provider_kwargs = {"basis_points": "5", "minimum": "1.00"}

The contract (:class:`rbt.kernel.costs.CommissionModel`):

* TC-C01: a fee is a ``Decimal`` (exactly, not a subclass or a float), finite, ``>= 0``,
  for every fill of an order, including later fills of a partly filled order;
* TC-C02: deterministic: equal inputs give equal fees (same digits), also from a
  freshly built model;
* TC-C03: exact: no float enters the computation (``FloatOperation`` is trapped);
* TC-C04: monotone: for a fresh order at one price, a larger ``|quantity|`` never
  costs less;
* TC-C05: zero quantity: ``calculate(order, 0, price)`` returns a non-negative
  Decimal (commonly zero; a per-order minimum may apply) and never raises — a model
  must not crash on an empty fill a venue reports;
* TC-C06 (capability ``order_additive``): fees of an order split into fills at one
  price add up to the fee of a single fill of the whole order.
"""

from __future__ import annotations

import decimal
import itertools
from decimal import Decimal
from typing import Any, ClassVar

import attrs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rbt.kernel.costs import CommissionModel
from rbt.kernel.model import Asset, Order
from rbt.kernel.registry import Provider, ProviderKind
from rbt.testing import strategies as rst
from rbt.testing._base import ProviderConformance
from rbt.testing.capabilities import ORDER_ADDITIVE, requires

__all__ = ["CommissionModelConformance"]

_SETTINGS = settings(
    max_examples=50,
    deadline=None,
    # function_scoped_fixture: the only one is the env guard, which wraps all examples on
    # purpose. differing_executors: a shared suite runs each case on many subclasses.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.differing_executors],
)


def _fee(model: Any, order: Order, amount: Decimal, price: Decimal) -> Decimal:
    with decimal.localcontext() as ctx:
        ctx.traps[decimal.FloatOperation] = True
        fee = model.calculate(order, amount, price)
    assert type(fee) is Decimal, f"fee must be a Decimal, got {type(fee).__name__} {fee!r}"
    assert fee.is_finite(), f"fee must be finite, got {fee}"
    assert fee >= 0, f"fee must not be negative, got {fee} for {amount} at {price}"
    return fee


@st.composite
def _order_and_fills(draw: st.DrawFn) -> tuple[Order, list[Decimal], Decimal]:
    asset = draw(rst.assets())
    order = draw(rst.orders(asset, max_lots=10_000))
    lots = int(abs(order.amount) / asset.lot_size)
    cuts = sorted(set(draw(st.lists(st.integers(1, max(lots - 1, 1)), max_size=4))) - {lots})
    bounds = [0, *cuts, lots]
    parts = [
        asset.lot_size * (b - a) * order.direction for a, b in itertools.pairwise(bounds) if b > a
    ]
    return order, parts, draw(rst.prices(asset, max_ticks=10**6))


class CommissionModelConformance(ProviderConformance):
    """Conformance cases every commission model passes (TC-C01..)."""

    kind: ClassVar[ProviderKind] = ProviderKind.COMMISSION_MODEL

    def test_tc_c00_builds_a_commission_model(self, rbt_provider_record: Provider) -> None:
        """TC-C00: the factory builds an object with ``calculate(order, amount, price)``."""
        assert isinstance(self.make(rbt_provider_record), CommissionModel)

    @_SETTINGS
    @given(case=_order_and_fills())
    def test_tc_c01_fees_are_non_negative_decimals(
        self, rbt_provider_record: Provider, case: tuple[Order, list[Decimal], Decimal]
    ) -> None:
        """TC-C01: every fill of an order costs a finite, non-negative Decimal."""
        model = self.make(rbt_provider_record)
        order, parts, price = case
        for part in parts:
            fee = _fee(model, order, part, price)
            order = attrs.evolve(
                order, filled=order.filled + part, commission=order.commission + fee
            )

    @_SETTINGS
    @given(case=_order_and_fills())
    def test_tc_c02_fees_are_deterministic(
        self, rbt_provider_record: Provider, case: tuple[Order, list[Decimal], Decimal]
    ) -> None:
        """TC-C02: equal inputs give equal fees with the same digits, from any instance."""
        first, second = self.make(rbt_provider_record), self.make(rbt_provider_record)
        order, parts, price = case
        for part in parts:
            fees = {str(_fee(m, order, part, price)) for m in (first, second, first)}
            assert len(fees) == 1, f"non-deterministic fees {fees} for {part} at {price}"
            order = attrs.evolve(
                order, filled=order.filled + part, commission=order.commission + Decimal(fees.pop())
            )

    @_SETTINGS
    @given(case=_order_and_fills())
    def test_tc_c03_fees_are_exact(
        self, rbt_provider_record: Provider, case: tuple[Order, list[Decimal], Decimal]
    ) -> None:
        """TC-C03: no float enters the computation; the inputs are left untouched."""
        model = self.make(rbt_provider_record)
        order, parts, price = case
        before = (order, list(parts), price)
        with decimal.localcontext() as ctx:
            ctx.traps[decimal.FloatOperation] = True
            for part in parts:
                fee = model.calculate(order, part, price)
                assert not isinstance(fee, float)
        assert (order, parts, price) == before

    @_SETTINGS
    @given(data=st.data())
    def test_tc_c04_fees_are_monotone_in_quantity(
        self, rbt_provider_record: Provider, data: st.DataObject
    ) -> None:
        """TC-C04: for a fresh order at one price, more quantity never costs less."""
        model = self.make(rbt_provider_record)
        asset: Asset = data.draw(rst.assets())
        price = data.draw(rst.prices(asset, max_ticks=10**6))
        small, large = sorted(
            data.draw(st.lists(rst.quantities(asset, max_lots=10**5), min_size=2, max_size=2))
        )
        side = data.draw(st.sampled_from((1, -1)))
        fees = []
        for quantity in (small, large):
            order = Order(id="t-mono-1", asset=asset, amount=quantity * side, created=0)
            fees.append(_fee(model, order, quantity * side, price))
        assert fees[0] <= fees[1], f"{small} costs {fees[0]} but {large} costs {fees[1]} at {price}"

    @_SETTINGS
    @given(data=st.data())
    def test_tc_c05_a_zero_quantity_fill_does_not_raise(
        self, rbt_provider_record: Provider, data: st.DataObject
    ) -> None:
        """TC-C05: an empty fill costs a non-negative Decimal and never raises."""
        model = self.make(rbt_provider_record)
        order = data.draw(rst.orders(partially_filled=data.draw(st.booleans())))
        _fee(model, order, Decimal(0), data.draw(rst.prices(order.asset)))

    @requires(ORDER_ADDITIVE)
    @_SETTINGS
    @given(case=_order_and_fills())
    def test_tc_c06_split_fills_add_up_to_one_fill(
        self, rbt_provider_record: Provider, case: tuple[Order, list[Decimal], Decimal]
    ) -> None:
        """TC-C06: fees of an order split into fills at one price add up to one fill's fee."""
        model = self.make(rbt_provider_record)
        order, parts, price = case
        whole = _fee(model, order, order.amount, price)
        running = order
        for part in parts:
            fee = _fee(model, running, part, price)
            running = attrs.evolve(
                running, filled=running.filled + part, commission=running.commission + fee
            )
        assert running.commission == whole, (
            f"fills {parts} cost {running.commission} in total, one fill costs {whole}"
        )
