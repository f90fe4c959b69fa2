"""The Decimal policy: exact construction, rounding to any increment, passive prices."""

from __future__ import annotations

import decimal
import math
from decimal import (
    ROUND_05UP,
    ROUND_CEILING,
    ROUND_DOWN,
    ROUND_FLOOR,
    ROUND_HALF_DOWN,
    ROUND_HALF_EVEN,
    ROUND_HALF_UP,
    ROUND_UP,
    Decimal,
    localcontext,
)

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rbt.kernel.numeric import (
    LEDGER_CONTEXT,
    decimal_from_float,
    quantize,
    round_price,
    round_quantity,
    to_decimal,
)

MODES = (
    ROUND_DOWN,
    ROUND_UP,
    ROUND_FLOOR,
    ROUND_CEILING,
    ROUND_HALF_UP,
    ROUND_HALF_DOWN,
    ROUND_HALF_EVEN,
    ROUND_05UP,
)

# increments that are not powers of ten on purpose: 0.05, 0.125, 25, 0.0001 ...
increments = st.builds(
    lambda mantissa, exponent: Decimal(mantissa).scaleb(exponent),
    st.integers(min_value=1, max_value=1000),
    st.integers(min_value=-8, max_value=2),
)
values = st.builds(
    lambda mantissa, exponent: Decimal(mantissa).scaleb(exponent),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.integers(min_value=-10, max_value=0),
)


def _is_multiple(value: Decimal, increment: Decimal) -> bool:
    with localcontext(LEDGER_CONTEXT):
        return value % increment == 0


@settings(max_examples=500)
@given(value=values, increment=increments, mode=st.sampled_from(MODES))
def test_quantize_gives_a_multiple_of_the_increment_within_one_step(
    value: Decimal, increment: Decimal, mode: str
) -> None:
    result = quantize(value, increment, mode)
    assert _is_multiple(result, increment)
    assert abs(result - value) < increment
    # the increment's exponent, so equal values serialize equally
    assert result.as_tuple().exponent == increment.as_tuple().exponent


@settings(max_examples=500)
@given(value=values, increment=increments, mode=st.sampled_from(MODES))
def test_quantize_rounds_in_the_direction_of_its_mode(
    value: Decimal, increment: Decimal, mode: str
) -> None:
    result = quantize(value, increment, mode)
    if mode == ROUND_DOWN:
        assert abs(result) <= abs(value)
        assert result == 0 or (result > 0) == (value > 0)
    elif mode == ROUND_UP:
        assert abs(result) >= abs(value)
    elif mode == ROUND_FLOOR:
        assert result <= value
    elif mode == ROUND_CEILING:
        assert result >= value
    elif mode in (ROUND_HALF_UP, ROUND_HALF_DOWN, ROUND_HALF_EVEN):
        assert abs(result - value) * 2 <= increment
    if _is_multiple(value, increment):
        assert result == value  # already on the grid: nothing to round


@pytest.mark.parametrize(
    ("value", "increment", "mode", "expected"),
    [
        ("1.005", "0.01", ROUND_HALF_UP, "1.01"),  # not banker's rounding by accident
        ("1.005", "0.01", ROUND_HALF_EVEN, "1.00"),
        ("10.07", "0.05", ROUND_FLOOR, "10.05"),
        ("10.07", "0.05", ROUND_CEILING, "10.10"),
        ("-10.07", "0.05", ROUND_DOWN, "-10.05"),
        ("0.3", "0.125", ROUND_HALF_EVEN, "0.250"),
        ("137", "25", ROUND_DOWN, "125"),
    ],
)
def test_quantize_examples(value: str, increment: str, mode: str, expected: str) -> None:
    result = quantize(Decimal(value), Decimal(increment), mode)
    assert str(result) == expected


@pytest.mark.parametrize("increment", ["0", "-0.01"])
def test_quantize_refuses_a_non_positive_increment(increment: str) -> None:
    with pytest.raises(ValueError, match="increment must be positive"):
        quantize(Decimal("1"), Decimal(increment), ROUND_DOWN)


@settings(max_examples=500)
@given(quantity=values, lot=increments)
def test_round_quantity_never_increases_the_magnitude(quantity: Decimal, lot: Decimal) -> None:
    result = round_quantity(quantity, lot)
    assert abs(result) <= abs(quantity)
    assert abs(quantity) - abs(result) < lot
    assert result == 0 or (result > 0) == (quantity > 0)
    assert _is_multiple(result, lot)


@settings(max_examples=500)
@given(price=values.filter(lambda v: v > 0), tick=increments, side=st.sampled_from(["buy", "sell"]))
def test_round_price_is_never_more_aggressive_than_asked(
    price: Decimal, tick: Decimal, side: str
) -> None:
    result = round_price(price, tick, side)  # type: ignore[arg-type]
    if side == "buy":
        assert result <= price  # a buy never pays more than its limit
    else:
        assert result >= price  # a sell never accepts less than its limit
    assert abs(result - price) < tick
    assert _is_multiple(result, tick)


def test_round_price_rejects_an_unknown_side() -> None:
    with pytest.raises(ValueError, match="side must be 'buy' or 'sell'"):
        round_price(Decimal("1"), Decimal("0.01"), "long")  # type: ignore[arg-type]


@settings(max_examples=500)
@given(st.floats(allow_nan=True, allow_infinity=True))
def test_to_decimal_rejects_every_float(value: float) -> None:
    with pytest.raises(TypeError, match="decimal_from_float"):
        to_decimal(value)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [True, None, 1j, [1], b"1"])
def test_to_decimal_rejects_other_types(value: object) -> None:
    with pytest.raises(TypeError):
        to_decimal(value)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["NaN", "inf", "-Infinity", "abc", "", Decimal("NaN")])
def test_to_decimal_rejects_non_finite_and_non_numbers(value: str | Decimal) -> None:
    with pytest.raises(ValueError):
        to_decimal(value)


@settings(max_examples=500)
@given(st.one_of(st.integers(), values))
def test_to_decimal_keeps_ints_str_and_decimals_exact(value: int | Decimal) -> None:
    assert to_decimal(value) == value
    assert to_decimal(str(value)) == Decimal(str(value))


def test_decimal_from_float_gives_the_shortest_text() -> None:
    assert decimal_from_float(0.1) == Decimal("0.1")
    assert str(decimal_from_float(0.1)) == "0.1"
    assert decimal_from_float(1e-7) == Decimal("1E-7")
    assert decimal_from_float(-2.5) == Decimal("-2.5")


@settings(max_examples=500)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_decimal_from_float_round_trips(value: float) -> None:
    result = decimal_from_float(value)
    assert float(result) == value
    assert len(result.as_tuple().digits) <= 17


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_decimal_from_float_rejects_non_finite(value: float) -> None:
    with pytest.raises(ValueError, match="finite"):
        decimal_from_float(value)


def test_the_test_suite_traps_float_operations() -> None:
    # tests/conftest.py turns the trap on; the policy relies on it in tests
    with pytest.raises(decimal.FloatOperation):
        Decimal(0.1)  # noqa: RUF032 - the point of the test
    with pytest.raises(decimal.FloatOperation):
        _ = Decimal("1") < 0.5  # type: ignore[operator]


def test_enter_ledger_context_sets_a_per_thread_copy_and_the_caller_restores() -> None:
    import threading

    from rbt.kernel.numeric import LEDGER_CONTEXT, enter_ledger_context

    mine = decimal.getcontext()
    previous = enter_ledger_context()
    try:
        current = decimal.getcontext()
        assert previous is mine
        assert current is not LEDGER_CONTEXT  # a copy: flags never leak into the shared one
        assert current.prec == LEDGER_CONTEXT.prec == 38
        assert Decimal(1) / Decimal(3) == Decimal("0." + "3" * 38)
        with pytest.raises(decimal.DivisionByZero):
            Decimal(1) / Decimal(0)
    finally:
        decimal.setcontext(previous)
    assert decimal.getcontext() is mine
    assert Decimal(1) / Decimal(3) == Decimal("0." + "3" * mine.prec)

    seen: list[decimal.Context] = []

    def other_thread() -> None:
        before = enter_ledger_context()
        seen.append(decimal.getcontext())
        decimal.setcontext(before)

    worker = threading.Thread(target=other_thread)
    worker.start()
    worker.join()
    assert seen[0] is not current  # each thread its own copy
    assert seen[0].prec == 38


@given(
    st.one_of(
        st.decimals(allow_nan=True, allow_infinity=True),
        st.integers(-(10**40), 10**40).map(Decimal),
        st.tuples(st.integers(-(10**40), 10**40), st.integers(-5, 5)).map(
            lambda t: Decimal(t[0]).scaleb(t[1])
        ),
    )
)
def test_exponent_checks_agree_with_as_tuple(value: Decimal) -> None:
    from rbt.kernel.numeric import _is_plain_integer, _is_whole_unit, has_exponent_zero

    finite_zero = value.is_finite() and value.as_tuple().exponent == 0
    assert has_exponent_zero(value) == finite_zero
    assert _is_plain_integer(value) == (
        finite_zero and len(value.as_tuple().digits) < LEDGER_CONTEXT.prec
    )
    if not value.is_snan():  # a signalling NaN raises on ==, as it always did
        assert _is_whole_unit(value) == (finite_zero and value == 1)
