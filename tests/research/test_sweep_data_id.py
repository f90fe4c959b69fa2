"""A sweep over in-memory bars (no ``bundle_hash``) has the same id wherever the bars are
loaded, so running it again resumes it: the data id hashes the bars' content."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from rbt.data.bars import DerivedMantissas
from rbt.data.bundles import load_bundle
from rbt.kernel.errors import ConfigError
from rbt.research import optimize

COMMON = {
    "params": {"universe": "AAA,BBB"},
    "start": "2018-06-01",
    "end": "2018-09-28",
    "objective": "total_return",
    "executor": "local",
}
SPACE = {"fast": "int:3:4", "slow": "int:30:30"}  # two trials


def test_rerun_on_separately_loaded_bars_resumes(home, example):
    first = load_bundle(home, "demo")
    again = load_bundle(home, "demo")
    assert isinstance(first.mantissas, DerivedMantissas)  # (its repr used to hold an address)
    one = optimize(example, SPACE, home=home, shared={"bars": first}, **COMMON)
    two = optimize(example, SPACE, home=home, shared={"bars": again}, **COMMON)
    assert one.ran == 2
    assert two.sweep_id == one.sweep_id
    assert (two.resumed, two.ran) == (2, 0)


def test_content_digest_is_the_same_in_another_process(home):
    from rbt.data.bars import content_digest

    code = (
        "import sys\n"
        "from rbt.data.bars import content_digest\n"
        "from rbt.data.bundles import load_bundle\n"
        "from rbt.data.home import RbtHome\n"
        "print(content_digest(load_bundle(RbtHome(sys.argv[1]), 'demo')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(home.root)], capture_output=True, text=True, check=True
    )
    bars = load_bundle(home, "demo")
    bars.mantissas["close"]  # a built cache is not content: the digest stays the same
    assert out.stdout.strip() == content_digest(bars)
    assert "0x" not in repr(bars)


def test_content_digest_sees_one_changed_value(home):
    """A ``repr`` elides the middle of large arrays; the digest covers every value."""
    from rbt.data.bars import content_digest

    bars = load_bundle(home, "demo")
    before = content_digest(bars)
    middle = bars.floats["close"].shape[0] // 2
    bars.floats["close"][middle, 1] = np.nextafter(bars.floats["close"][middle, 1], np.inf)
    assert content_digest(bars) != before
    assert content_digest(bars.select(bars.assets[:2])) != content_digest(bars)


def test_shared_bars_of_another_type_are_refused(home, example):
    with pytest.raises(ConfigError, match=r"shared\['bars'\]: expected BarArrays, got dict"):
        optimize(example, SPACE, home=home, shared={"bars": {}}, **COMMON)
