"""Conformance cases for slippage models (TC-S..).

Subclass and name your provider::

    from rbt.testing import SlippageModelConformance

    class TestMySlippage(SlippageModelConformance):
        provider = "mine.spread"

The contract (:class:`rbt.kernel.costs.SlippageModel`): ``fill(order, bar, base_price,
volume_used)`` returns None or ``(signed amount, price)`` with

* TC-S01: exactly ``Decimal`` values (a 2-tuple), computed without floats;
* TC-S02: ``0 < |amount| <= |order.open_amount|``: never more than is still open,
  never an empty fill (return None instead);
* TC-S03: ``amount`` has the order's sign: never the wrong direction;
* TC-S04: a finite, positive price;
* TC-S05: deterministic: equal inputs, equal answers, from any instance;
* TC-S06: the amount is a whole number of the asset's lots;
* TC-S07 (capability ``volume_limit``): the model has a ``volume_limit`` attribute and
  ``|amount| + volume_used <= volume_limit × bar.volume``.
"""

from __future__ import annotations

import decimal
from decimal import Decimal
from typing import Any, ClassVar

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rbt.kernel.costs import BarSnapshot, SlippageModel
from rbt.kernel.model import Order
from rbt.kernel.numeric import ledger_context
from rbt.kernel.registry import Provider, ProviderKind
from rbt.testing import strategies as rst
from rbt.testing._base import ProviderConformance
from rbt.testing.capabilities import VOLUME_LIMIT, requires

__all__ = ["SlippageModelConformance"]

_SETTINGS = settings(
    max_examples=50,
    deadline=None,
    # see rbt.testing.commission: the env guard, and one suite shared by many subclasses
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.differing_executors],
)

Case = tuple[Order, BarSnapshot, Decimal, Decimal]


@st.composite
def _cases(draw: st.DrawFn) -> Case:
    asset = draw(rst.assets())
    order = draw(rst.orders(asset, max_lots=10**4, partially_filled=True))
    bar = draw(rst.bar_snapshots(asset, max_volume_lots=10**5))
    base_price = draw(st.sampled_from((bar.open, bar.close)))
    volume_used = asset.lot_size * draw(st.integers(0, int(bar.volume / asset.lot_size)))
    return order, bar, base_price, volume_used


def _fill(model: Any, case: Case) -> tuple[Decimal, Decimal] | None:
    order, bar, base_price, volume_used = case
    with decimal.localcontext() as ctx:
        ctx.traps[decimal.FloatOperation] = True
        result = model.fill(order, bar, base_price, volume_used)
    if result is None:
        return None
    assert isinstance(result, tuple), f"fill must return None or (amount, price), got {result!r}"
    assert len(result) == 2, f"fill must return None or (amount, price), got {result!r}"
    amount, price = result
    assert type(amount) is Decimal, f"amount must be a Decimal, got {type(amount).__name__}"
    assert type(price) is Decimal, f"price must be a Decimal, got {type(price).__name__}"
    return amount, price


class SlippageModelConformance(ProviderConformance):
    """Conformance cases every slippage model passes (TC-S01..)."""

    kind: ClassVar[ProviderKind] = ProviderKind.SLIPPAGE_MODEL

    def test_tc_s00_builds_a_slippage_model(self, rbt_provider_record: Provider) -> None:
        """TC-S00: the factory builds an object with ``fill(order, bar, base_price, used)``."""
        assert isinstance(self.make(rbt_provider_record), SlippageModel)

    @_SETTINGS
    @given(case=_cases())
    def test_tc_s01_fills_are_exact_decimals(
        self, rbt_provider_record: Provider, case: Case
    ) -> None:
        """TC-S01: None or a 2-tuple of Decimals, computed without floats."""
        _fill(self.make(rbt_provider_record), case)

    @_SETTINGS
    @given(case=_cases())
    def test_tc_s02_never_more_than_the_open_amount(
        self, rbt_provider_record: Provider, case: Case
    ) -> None:
        """TC-S02: a fill is non-empty and at most the order's open amount."""
        result = _fill(self.make(rbt_provider_record), case)
        if result is not None:
            order = case[0]
            assert 0 < abs(result[0]) <= abs(order.open_amount), (
                f"filled {result[0]} of an order with {order.open_amount} open"
            )

    @_SETTINGS
    @given(case=_cases())
    def test_tc_s03_never_the_wrong_direction(
        self, rbt_provider_record: Provider, case: Case
    ) -> None:
        """TC-S03: the fill's sign is the order's."""
        result = _fill(self.make(rbt_provider_record), case)
        if result is not None:
            assert (result[0] > 0) == (case[0].amount > 0), (
                f"filled {result[0]} for an order of {case[0].amount}"
            )

    @_SETTINGS
    @given(case=_cases())
    def test_tc_s04_price_is_positive_and_finite(
        self, rbt_provider_record: Provider, case: Case
    ) -> None:
        """TC-S04: a finite, positive price."""
        result = _fill(self.make(rbt_provider_record), case)
        if result is not None:
            assert result[1].is_finite(), f"price {result[1]}"
            assert result[1] > 0, f"price {result[1]}"

    @_SETTINGS
    @given(case=_cases())
    def test_tc_s05_fills_are_deterministic(
        self, rbt_provider_record: Provider, case: Case
    ) -> None:
        """TC-S05: equal inputs, equal answers (same digits), from any instance."""
        first, second = self.make(rbt_provider_record), self.make(rbt_provider_record)
        answers = {repr(_fill(model, case)) for model in (first, second, first)}
        assert len(answers) == 1, f"non-deterministic fills: {answers}"

    @_SETTINGS
    @given(case=_cases())
    def test_tc_s06_fills_whole_lots(self, rbt_provider_record: Provider, case: Case) -> None:
        """TC-S06: the amount is a whole number of lots."""
        result = _fill(self.make(rbt_provider_record), case)
        if result is not None:
            with ledger_context():
                assert result[0] % case[0].asset.lot_size == 0, (
                    f"{result[0]} is not a multiple of the lot size {case[0].asset.lot_size}"
                )

    @requires(VOLUME_LIMIT)
    @_SETTINGS
    @given(case=_cases())
    def test_tc_s07_respects_the_volume_limit(
        self, rbt_provider_record: Provider, case: Case
    ) -> None:
        """TC-S07: ``|amount| + volume_used <= volume_limit × bar volume``."""
        model = self.make(rbt_provider_record)
        limit = model.volume_limit
        assert type(limit) is Decimal, f"volume_limit {limit!r} must be a Decimal"
        assert limit > 0, f"volume_limit {limit!r} must be positive"
        result = _fill(model, case)
        _, bar, _, used = case
        if result is not None:
            with ledger_context():
                assert abs(result[0]) + used <= limit * bar.volume, (
                    f"filled {result[0]} with {used} already used of volume {bar.volume} "
                    f"(limit {limit})"
                )
