"""Strategy parameters (design.md §2.1a.6): ``PARAMS`` defaults, ``--param k=v`` overrides
converted to the default's type, and clear errors for unknown names or bad values."""

from __future__ import annotations

import copy
import pickle
import textwrap
from decimal import Decimal

import pytest

from rbt.api import TradingAlgorithm
from rbt.api.params import Params, merge_params, parse_param_assignments
from rbt.kernel.errors import ConfigError

DECLARED = {
    "fast": 10,
    "ratio": 0.5,
    "enabled": True,
    "size": Decimal("1.5"),
    "name": "x",
    "nothing": None,
}


def test_defaults_without_overrides():
    params = merge_params(DECLARED, {})
    assert isinstance(params, Params)
    assert params.to_dict() == DECLARED
    assert params.fast == params["fast"] == 10


def test_text_overrides_take_the_defaults_type():
    given = parse_param_assignments(
        ["fast=7", "ratio=0.25", "enabled=no", "size=2.75", "name=a=b", "nothing=raw"]
    )
    assert given == {
        "fast": "7",
        "ratio": "0.25",
        "enabled": "no",
        "size": "2.75",
        "name": "a=b",
        "nothing": "raw",
    }
    params = merge_params(DECLARED, given)
    assert params.to_dict() == {
        "fast": 7,
        "ratio": 0.25,
        "enabled": False,
        "size": Decimal("2.75"),
        "name": "a=b",
        "nothing": "raw",
    }
    assert type(params.fast) is int
    assert type(params.ratio) is float
    assert type(params.size) is Decimal


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1", True),
        ("true", True),
        ("YES", True),
        ("on", True),
        ("0", False),
        ("False", False),
        ("no", False),
        ("off", False),
    ],
)
def test_bool_spellings(text, value):
    assert merge_params({"flag": False}, {"flag": text}).flag is value


def test_python_values_pass_through_unchanged():
    params = merge_params(DECLARED, {"fast": 3, "ratio": 1})
    assert (params.fast, params.ratio) == (3, 1)


@pytest.mark.parametrize(
    ("name", "text", "kind"),
    [
        ("fast", "ten", "int"),
        ("fast", "1.5", "int"),
        ("ratio", "half", "float"),
        ("enabled", "maybe", "bool"),
        ("size", "1,5", "Decimal"),
    ],
)
def test_bad_values_name_the_parameter_and_type(name, text, kind):
    with pytest.raises(ConfigError, match=rf"parameter '{name}': cannot read '{text}' as {kind}"):
        merge_params(DECLARED, {name: text})


def test_params_are_read_only_and_names_the_class_uses_stay_its_own():
    params = Params({"fast": 3, "items": 7, "_values": 1, "with space": 2})
    assert params.fast == 3
    assert callable(params.items)  # the Mapping method, as a class attribute wins
    assert params["items"] == 7
    assert params["_values"] == 1
    assert params["with space"] == 2
    assert dict(params.items()) == {"fast": 3, "items": 7, "_values": 1, "with space": 2}
    with pytest.raises(AttributeError, match="read-only"):
        params.fast = 4
    with pytest.raises(AttributeError, match="read-only"):
        del params.fast
    with pytest.raises(AttributeError, match="no parameter 'slow'; declared: fast, items"):
        _ = params.slow
    assert params.fast == 3
    assert "with space" not in vars(params)  # not an attribute name: by key only
    assert Params({1: "x"})[1] == "x"  # a key that is not a name is kept, by key


class _MyParams(Params):
    pass


def test_params_survive_pickle_and_copy():
    params = merge_params(DECLARED, {"fast": "7"})
    for clone in (
        pickle.loads(pickle.dumps(params)),
        copy.copy(params),
        copy.deepcopy(params),
    ):
        assert isinstance(clone, Params)
        assert clone == params
        assert clone.fast == 7
        assert clone.size == Decimal("1.5")
        with pytest.raises(AttributeError, match="read-only"):
            clone.fast = 1
    mine = _MyParams({"fast": 2})
    assert type(pickle.loads(pickle.dumps(mine))) is _MyParams
    assert type(copy.deepcopy(mine)) is _MyParams


def test_unknown_names_list_the_declared_ones():
    with pytest.raises(ConfigError) as excinfo:
        merge_params(DECLARED, {"fsat": "1", "slow": "2"})
    message = str(excinfo.value)
    assert "unknown parameter(s) fsat, slow" in message
    assert "declares: enabled, fast, name, nothing, ratio, size" in message
    with pytest.raises(ConfigError, match=r"declares: none \(add PARAMS"):
        merge_params({}, {"x": "1"})


@pytest.mark.parametrize("item", ["fast", "=3", " =3"])
def test_assignments_need_key_and_equals(item):
    with pytest.raises(ConfigError, match="--param expects key=value"):
        parse_param_assignments([item])


def test_params_reach_the_strategy_from_a_file(run, tmp_path):
    path = tmp_path / "with_params.py"
    path.write_text(
        textwrap.dedent("""\
        PARAMS = {"window": 20, "threshold": 0.5, "label": "base"}

        SEEN = []


        def initialize(context):
            SEEN.append(dict(context.params))
    """)
    )
    from rbt.api.loader import load_strategy

    loaded = load_strategy(path)
    run(loaded.strategy, params=parse_param_assignments(["window=5", "threshold=0.75"]))
    seen = loaded.strategy._initialize.__globals__["SEEN"]
    assert seen == [{"window": 5, "threshold": 0.75, "label": "base"}]
    with pytest.raises(ConfigError, match=r"unknown parameter.*windw.*declares: label, threshold"):
        run(str(path), params={"windw": "5"})


def test_class_params_are_overridden_per_run(run):
    class Sized(TradingAlgorithm):
        PARAMS = {"shares": 10}  # noqa: RUF012

        def initialize(self, context):
            self.shares = context.params.shares

    default, custom = Sized(), Sized()
    run(default)
    run(custom, params={"shares": "25"})
    assert (default.shares, custom.shares) == (10, 25)
    assert Sized.PARAMS == {"shares": 10}
