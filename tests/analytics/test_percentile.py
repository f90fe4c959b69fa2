"""``returns.percentile`` is ``np.percentile`` (method "linear") bit for bit, without its
lazy ``numpy.ma`` import."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from rbt.analytics import returns as R
from tests.fresh_interpreter import imported_by

finite = st.floats(allow_nan=False, allow_infinity=False, width=64)
some = st.sampled_from([0.0, -0.0, 0.01, -0.01, 1e-300, -1e300, float("inf"), float("-inf")])


def _bits(value: float) -> bytes:
    return np.float64(value).tobytes()  # tells -0.0 from 0.0 and compares NaN payloads


@given(
    values=st.lists(st.one_of(finite, some), min_size=1, max_size=60),
    q=st.one_of(st.sampled_from([0.0, 5.0, 5, 95, 50, 100.0]), st.floats(0, 100)),
)
@settings(max_examples=300, deadline=None)
def test_percentile_equals_numpy_bit_for_bit(values: list[float], q: float) -> None:
    array = np.array(values, dtype=np.float64)
    before = array.copy()
    with np.errstate(invalid="ignore", over="ignore"):  # inf - inf: numpy warns, NaN
        expected = float(np.percentile(array, q))
    assert _bits(R.percentile(array, q)) == _bits(expected)
    assert np.array_equal(array, before)  # the input is not reordered


def test_tail_ratio_and_var_on_2520_returns_equal_the_numpy_percentile_formulas() -> None:
    r = np.random.default_rng(7).normal(0.0004, 0.01, 2520)
    r[::50] = 0.0
    low, high = np.percentile(r, 5), np.percentile(r, 95)
    assert R.tail_ratio(r) == abs(float(high)) / abs(float(low))
    assert R.value_at_risk(r) == float(low)


def test_metrics_do_not_import_numpy_ma() -> None:
    """The whole metric set of a run leaves ``numpy.ma`` unimported (a fresh interpreter:
    this one has it already)."""
    code = (
        "import numpy as np\n"
        "from rbt.analytics import MetricInputs, compute_metrics\n"
        "r = np.random.default_rng(1).normal(0, 0.01, 500)\n"
        "compute_metrics(MetricInputs(r, 252, benchmark=r[::-1].copy()))\n"
    )
    assert imported_by(code, ["numpy.ma"]) == []
