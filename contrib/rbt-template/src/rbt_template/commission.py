"""A commission model: basis points of notional with a per-order minimum.

Required and optional methods of a commission model (the kernel's
:class:`rbt.kernel.costs.CommissionModel` protocol):

=================================  ========  ==================================================
method                             required  contract
=================================  ========  ==================================================
``calculate(order, amount, price)``  yes     fee of one fill: a non-negative ``Decimal``
``__repr__()``                       no      shown by ``rbt plugins`` and in run reports
=================================  ========  ==================================================
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from rbt.kernel.model import Order
from rbt.kernel.numeric import ZERO, ledger_context, to_decimal

__all__ = ["BpsWithMinimum"]

CENT = Decimal("0.01")
_PER_BASIS_POINT = Decimal("0.0001")


class BpsWithMinimum:
    """``basis_points`` of each fill's notional, at least ``minimum`` per order.

    Rules, all exact:

    * a fill's fee is ``basis_points × 0.0001 × |amount × price × multiplier|``,
      rounded to the cent with ``ROUND_HALF_UP`` (0.005 → 0.01);
    * the minimum applies once per order: a fill pays at least what brings the
      order's total commission up to ``minimum`` (``order.commission`` is the total of
      the earlier fills);
    * an empty fill (``amount == 0``) costs nothing.

    Because each fill is rounded on its own, splitting an order may cost a cent more
    or less than one fill; this model therefore does not declare the kit's
    ``order_additive`` capability.

    :param basis_points: rate in basis points (``5`` = 0.05 %); ``int``, ``str`` or ``Decimal``.
    :param minimum: smallest total commission per order, in the account currency.
    """

    def __init__(
        self, basis_points: Decimal | int | str = 5, minimum: Decimal | int | str = "1.00"
    ) -> None:
        self.basis_points = to_decimal(basis_points)
        self.minimum = to_decimal(minimum)
        if self.basis_points < 0 or self.minimum < 0:
            raise ValueError(
                f"basis_points and minimum must not be negative, got "
                f"basis_points={self.basis_points}, minimum={self.minimum}"
            )

    def calculate(self, order: Order, amount: Decimal, price: Decimal) -> Decimal:
        """Return the commission of filling ``amount`` of ``order`` at ``price``."""
        if amount == 0:
            return ZERO.quantize(CENT)
        with ledger_context():
            notional = abs(amount * price * order.asset.multiplier)
            fee = (notional * self.basis_points * _PER_BASIS_POINT).quantize(
                CENT, rounding=ROUND_HALF_UP
            )
            top_up = self.minimum - order.commission
            return max(fee, top_up, ZERO).quantize(CENT, rounding=ROUND_HALF_UP)

    def __repr__(self) -> str:
        return f"BpsWithMinimum(basis_points={self.basis_points}, minimum={self.minimum})"
