"""The Decimal policy: how money and quantities are built and rounded.

Rules (design.md §2.1, style.md §2.9):

* Decimals are built from ``str`` or ``int`` only; :func:`to_decimal` rejects
  ``float`` because ``Decimal(0.1)`` is not one tenth. The strategy-facing
  boundary converts floats explicitly with :func:`decimal_from_float`.
* Every rounding names its mode. Quantities round toward zero; limit prices
  round to the passive side (buys down, sells up).
* Ledger arithmetic runs in :func:`ledger_context` (38 digits, traps on).
* Values built from stored mantissas (bars, marks, positions' rows) use
  :data:`EXACT_CONTEXT`, so a strategy that narrows the thread's context cannot round them.
"""

from __future__ import annotations

import math
import threading
from contextlib import AbstractContextManager
from decimal import (
    MAX_EMAX,
    MAX_PREC,
    MIN_EMIN,
    ROUND_CEILING,
    ROUND_DOWN,
    ROUND_FLOOR,
    ROUND_HALF_EVEN,
    Context,
    Decimal,
    DivisionByZero,
    FloatOperation,
    InvalidOperation,
    Overflow,
    getcontext,
    localcontext,
    setcontext,
)
from typing import Literal

__all__ = [
    "EXACT_CONTEXT",
    "LEDGER_CONTEXT",
    "LEDGER_EXPONENT",
    "LEDGER_SCALE",
    "ZERO",
    "Side",
    "decimal_from_float",
    "enter_ledger_context",
    "has_exponent_zero",
    "ledger_context",
    "quantize",
    "round_price",
    "round_quantity",
    "to_decimal",
]

ZERO = Decimal(0)
#: Decimal places kept for values that need a division (apportioned cost basis).
LEDGER_EXPONENT = -12
LEDGER_SCALE = Decimal(1).scaleb(LEDGER_EXPONENT)
#: 38 significant digits: every product of a price and a quantity we store is exact.
LEDGER_CONTEXT = Context(
    prec=38,
    rounding=ROUND_HALF_EVEN,
    traps=[InvalidOperation, DivisionByZero, Overflow, FloatOperation],
)
#: A context that never rounds: ``Decimal(mantissa).scaleb(exponent, EXACT_CONTEXT)`` is
#: ``mantissa × 10**exponent`` exactly, whatever context the thread has (a strategy may
#: narrow it: ``getcontext().prec = 4`` must not round a bar's 1234.125 to 1234).
EXACT_CONTEXT = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN)
_ONE = Decimal(1)
#: integers below this have fewer digits than the ledger context keeps
_PLAIN_LIMIT = 10 ** (LEDGER_CONTEXT.prec - 1)

Side = Literal["buy", "sell"]


def ledger_context() -> AbstractContextManager[Context]:
    """Return a context manager running arithmetic with the ledger's precision and traps."""
    return localcontext(LEDGER_CONTEXT)


_THREAD = threading.local()


def enter_ledger_context() -> Context:
    """Make the ledger's context current in this thread; return the one to restore.

    :func:`ledger_context` without copying the context on every entry (a per-fill
    cost): each thread sets its own copy of :data:`LEDGER_CONTEXT`. Pair it with
    ``decimal.setcontext(previous)`` in a ``finally``. Only for code that leaves the
    context as it is: the copy is shared by every use in the thread (:func:`quantize`
    changes the rounding, so it keeps :func:`ledger_context`).
    """
    previous = getcontext()
    try:
        ctx = _THREAD.ledger
    except AttributeError:
        ctx = _THREAD.ledger = LEDGER_CONTEXT.copy()
    setcontext(ctx)
    return previous


def to_decimal(value: Decimal | int | str) -> Decimal:
    """Convert ``value`` to a finite Decimal.

    :raises TypeError: for ``float`` (use :func:`decimal_from_float` at a boundary) and ``bool``.
    :raises ValueError: for text that is not a number, NaN or infinity.
    """
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, bool) or not isinstance(value, int | str):
        raise TypeError(
            f"expected Decimal, int or str, got {type(value).__name__} {value!r}; "
            "floats are converted only at the strategy boundary (decimal_from_float)"
        )
    else:
        try:
            result = Decimal(value)
        except InvalidOperation:
            raise ValueError(f"not a decimal number: {value!r}") from None
    if not result.is_finite():
        raise ValueError(f"expected a finite number, got {value!r}")
    return result


def decimal_from_float(value: float) -> Decimal:
    """Convert a float to the Decimal of its shortest round-tripping text.

    ``decimal_from_float(0.1) == Decimal("0.1")``. This is the only sanctioned
    float entry point and is meant for the strategy-facing API.

    :raises ValueError: for NaN or infinity.
    """
    if not math.isfinite(value):
        raise ValueError(f"expected a finite number, got {value!r}")
    return Decimal(repr(float(value)))


def quantize(value: Decimal, increment: Decimal, rounding: str) -> Decimal:
    """Round ``value`` to a multiple of ``increment`` with the named rounding mode.

    Works for any positive increment, not only powers of ten (``0.05``, ``0.125``).
    The result carries the increment's exponent, so equal values serialize equally.
    """
    if increment <= 0:
        raise ValueError(f"increment must be positive, got {increment}")
    with ledger_context() as ctx:
        ctx.rounding = rounding
        steps = (value / increment).to_integral_value(rounding=rounding)
        return (steps * increment).quantize(increment, rounding=ROUND_HALF_EVEN)


def round_quantity(quantity: Decimal, lot_size: Decimal) -> Decimal:
    """Round an order quantity toward zero to a whole number of lots."""
    if _is_whole_unit(lot_size) and _is_plain_integer(quantity):
        return quantity  # already whole units with the lot's exponent: nothing to round
    return quantize(quantity, lot_size, ROUND_DOWN)


def has_exponent_zero(value: Decimal) -> bool:
    """``value`` is finite with exponent 0 (``5``, not ``5.0`` or ``5E+1``).

    ``same_quantum`` answers without building ``as_tuple()``'s named tuple (an order's
    hot path asks this several times; as_tuple costs ten times more).
    """
    return value.same_quantum(_ONE)


def _is_whole_unit(increment: Decimal) -> bool:
    """``increment`` is exactly ``Decimal(1)`` (exponent 0)."""
    return increment == 1 and increment.same_quantum(_ONE)


def _is_plain_integer(value: Decimal) -> bool:
    """A finite integer with exponent 0 and fewer digits than the ledger context keeps."""
    return value.same_quantum(_ONE) and value.copy_abs() < _PLAIN_LIMIT


def round_price(price: Decimal, tick_size: Decimal, side: Side) -> Decimal:
    """Round a limit price to the tick grid on the passive side.

    A buy rounds down and a sell rounds up, so rounding never makes an order
    more aggressive than the user asked.
    """
    if side not in ("buy", "sell"):
        raise ValueError(f"side must be 'buy' or 'sell', got {side!r}")
    return quantize(price, tick_size, ROUND_FLOOR if side == "buy" else ROUND_CEILING)
