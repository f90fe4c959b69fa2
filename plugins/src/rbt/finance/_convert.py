"""The float boundary for user-facing model parameters."""

from __future__ import annotations

from decimal import Decimal

from rbt.kernel.numeric import decimal_from_float, to_decimal


def as_decimal(
    value: float | int | str | Decimal, name: str, *, minimum: Decimal | None = None
) -> Decimal:
    """Convert a user parameter to Decimal, naming it in errors."""
    try:
        result = decimal_from_float(value) if isinstance(value, float) else to_decimal(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}: {exc}") from None
    if minimum is not None and result < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {result}")
    return result
