"""The optional C module ``rbt.kernel._native`` does what the Python code it stands in for
does: orders and fills built slot by slot, and an asset's hash."""

from __future__ import annotations

import copy
import gc
import json
import os
import pickle
import shutil
import subprocess
import sys
import sysconfig
from decimal import Decimal
from pathlib import Path

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rbt.kernel import model
from rbt.kernel.model import MARKET, Asset, Fill, Order, OrderStatus, OrderStyle, OrderType

native = model._NATIVE


def _c_compiler() -> str | None:
    """The compiler the install would build the module with (None: there is none)."""
    command = (sysconfig.get_config_var("CC") or "cc").split()
    return shutil.which(command[0]) if command else None


# without a compiler the install goes on with the Python code (README): nothing to test
# here; with one, the module must have been built (the tests below fail if it was not)
pytestmark = [
    pytest.mark.skipif(
        os.environ.get("RBT_PURE_PYTHON") == "1", reason="the C module is switched off"
    ),
    pytest.mark.skipif(_c_compiler() is None, reason="no C compiler: the module is not built"),
]

ASSET = Asset(sid=3, symbol="CCC")
decimals = st.decimals(allow_nan=False, allow_infinity=False, places=4, max_value=10**9)


def test_the_c_module_is_built_and_used() -> None:
    # the install builds it with the machine's C compiler; without it every step below
    # would be the Python fallback and this file would check nothing
    assert model._NATIVE is not None
    assert model._order is not model._order_py
    assert model._fill is not None
    assert model._replace_order_tail is not None  # Order's changing fields are its last


@given(
    st.text(max_size=12),
    st.integers(-(2**40), 2**40),
    decimals,
    decimals,
    st.sampled_from(list(OrderStatus)),
    st.sampled_from([MARKET, OrderStyle(type=OrderType.LIMIT, limit_price=Decimal("1.5"))]),
)
def test_orders_built_in_c_equal_the_python_ones(oid, created, amount, filled, status, style):
    values = (oid, ASSET, amount, created, style, status, filled, Decimal("0.01"), "why")
    built, reference = model._order(*values), model._order_py(*values)
    assert type(built) is Order
    assert attrs.astuple(built, recurse=False) == attrs.astuple(reference, recurse=False)
    assert built == reference


@given(st.text(max_size=12), decimals, decimals, st.integers(0, 2**62))
def test_fills_built_in_c_equal_the_python_ones(fid, amount, price, ts):
    values = (fid, "o-1", ASSET, amount, price, ts, Decimal("0.5"))
    built = model._fill(*values)
    # the reference: attrs' own __init__ (what the Python path's slot setters also give)
    reference = Fill(
        id=fid,
        order_id="o-1",
        asset=ASSET,
        amount=amount,
        price=price,
        ts=ts,
        commission=Decimal("0.5"),
    )
    assert type(built) is Fill
    assert attrs.astuple(built, recurse=False) == attrs.astuple(reference, recurse=False)
    assert model.new_fill(*values) == reference


@given(
    st.sampled_from(list(OrderStatus)) | st.none(),
    decimals | st.none(),
    decimals | st.none(),
    st.text(max_size=8) | st.none(),
)
def test_replace_order_in_c_is_attrs_evolve(status, filled, commission, reason) -> None:
    # every field of the source differs from the others: a value kept from the wrong slot
    # shows
    order = model._order_py(
        "o-1", ASSET, Decimal(7), 5, MARKET, OrderStatus.ACCEPTED, Decimal(2), Decimal("0.3"), "r"
    )
    changes = {"status": status, "filled": filled, "commission": commission, "reason": reason}
    replaced = model.replace_order(order, **changes)
    expected = attrs.evolve(order, **{k: v for k, v in changes.items() if v is not None})
    assert type(replaced) is Order
    assert attrs.astuple(replaced, recurse=False) == attrs.astuple(expected, recurse=False)


def test_replace_tail_copies_only_its_own_class() -> None:
    class Tagged(Order):
        pass

    order = model.new_order("o-2", ASSET, Decimal(1), 0, MARKET)
    tagged = Tagged(id="o-3", asset=ASSET, amount=Decimal(2), created=1)
    with pytest.raises(TypeError, match="copies a Order, not a Tagged"):
        model._order.replace_tail(tagged, OrderStatus.FILLED)
    with pytest.raises(TypeError, match="at most 9 values"):
        model._order.replace_tail(order, *range(10))
    # replace_order itself takes the Python path for a subclass: the same fields
    assert model.replace_order(tagged, status=OrderStatus.FILLED).status is OrderStatus.FILLED
    assert model._order.replace_tail(order) == order  # nothing replaced: an equal copy


def test_a_built_order_holds_its_values_and_lets_them_go() -> None:
    reason = "".join(["a reason ", "kept only by the order"])  # a fresh object
    before = sys.getrefcount(reason)
    order = model._order(
        "x", ASSET, Decimal(1), 0, MARKET, OrderStatus.NEW, Decimal(0), Decimal(0), reason
    )
    assert sys.getrefcount(reason) == before + 1
    assert gc.is_tracked(order)  # slots hold objects: the collector must see it
    assert pickle.loads(pickle.dumps(order)) == order
    assert copy.copy(order) == order
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        order.status = OrderStatus.FILLED  # type: ignore[misc]
    del order
    assert sys.getrefcount(reason) == before


def test_the_builder_refuses_what_it_cannot_build() -> None:
    with pytest.raises(TypeError, match="takes 9 values, got 2"):
        model._order("x", ASSET)
    with pytest.raises(TypeError, match="positional"):
        model._fill(id="f")
    with pytest.raises(TypeError, match="has no slot 'nope'"):
        native.SlotBuilder(Order, ("id", "nope"))
    with pytest.raises(TypeError, match="has no slot 'is_open'"):
        native.SlotBuilder(Order, ("is_open",))  # a property, not a slot
    with pytest.raises(TypeError):
        native.SlotBuilder("Order", ("id",))


class _Slotted:
    __slots__ = ("a", "b")


class _Elsewhere:
    __slots__ = ("x",)


_Elsewhere.stolen = _Slotted.__dict__["b"]  # another class's slot, at its offset


class _SlottedDict(dict):  # type: ignore[type-arg]
    __slots__ = ("a",)


def test_the_builder_refuses_layouts_it_would_write_past() -> None:
    # what object.__new__ and the slot setters refuse, the C code must refuse too: it
    # writes at raw offsets
    with pytest.raises(TypeError, match="is a slot of _Slotted"):
        native.SlotBuilder(_Elsewhere, ("stolen",))
    with pytest.raises(TypeError, match="is a slot of _Slotted"):
        native.hash_by_slot(_Elsewhere, "stolen")
    for cls in (dict, _SlottedDict, Asset.__mro__[-1]):
        with pytest.raises(TypeError, match=r"object\.__new__ builds"):
            native.SlotBuilder(cls, ())
    abstract = type("Abstract", (_Slotted,), {})
    abstract.__abstractmethods__ = frozenset({"f"})  # as ABCMeta marks a class abstract
    with pytest.raises(TypeError, match=r"object\.__new__ builds"):
        native.SlotBuilder(abstract, ("a",))
    built = native.SlotBuilder(_Slotted, ("b", "a"))(1, 2)
    assert (built.a, built.b) == (2, 1)


@given(st.integers(-(2**70), 2**70) | st.sampled_from([-2, -1, 0, 2**61, 2**63, -(2**63)]))
def test_an_asset_hashes_as_its_python_hash_method_makes_it_hash(sid):
    class Listed(Asset):  # made after the C hash was set: it hashes through __hash__
        pass

    asset = Asset(sid=sid, symbol="S")
    # CPython's rule for what __hash__ returns: -1 becomes -2, an int beyond the machine
    # word its own hash; the C hash must follow it
    assert hash(asset) == hash(Listed(sid=sid, symbol="S"))
    assert asset in {Asset(sid=sid, symbol="T"): 1}


def _hash_method_calls(value: object) -> int:
    calls = 0

    def count(frame, event, arg):  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += event == "call" and frame.f_code is Asset.__hash__.__code__

    sys.setprofile(count)
    try:
        hash(value)
    finally:
        sys.setprofile(None)
    return calls


def test_only_asset_itself_hashes_in_c() -> None:
    class Listed(Asset):
        pass

    assert _hash_method_calls(Asset(sid=4, symbol="A")) == 0  # no Python frame
    assert _hash_method_calls(Listed(sid=4, symbol="L")) == 1  # its __hash__, as before


def test_hash_by_slot_keeps_one_offset_and_needs_the_value() -> None:
    native.hash_by_slot(Asset, "sid")  # again (a reloaded model): the same offset, accepted

    class Other:
        __slots__ = ("sid",)  # its first slot: not where Asset's sid is

    with pytest.raises(RuntimeError, match="one slot offset per process"):
        native.hash_by_slot(Other, "sid")
    with pytest.raises(TypeError, match="has no slot"):
        native.hash_by_slot(Asset, "symbol_of")
    blank = Asset.__new__(Asset)  # no __init__: no sid yet
    with pytest.raises(AttributeError, match="no value to hash"):
        hash(blank)


_RUN = """
import json, sys
from rbt.api import run_backtest
from rbt.kernel import model
result = run_backtest({strategy!r}, start="2019-01-02", end="2021-12-31", home={home!r},
                      capital_base=1_000_000, write=False)
print(json.dumps({{"native": model._NATIVE is not None, "final": str(result.final_value),
                  "fills": result.transactions.height,
                  "tx": result.transactions.write_csv(), "pos": result.positions.write_csv()}}))
"""


def test_a_backtest_gives_the_same_books_with_and_without_the_c_module(tmp_path: Path) -> None:
    from rbt.data.home import RbtHome
    from rbt.data.ingest import ingest

    home = RbtHome(tmp_path)
    ingest(home, "demo", "demo", {})
    strategy = str(Path(__file__).parents[2] / "examples" / "bracket_breakout.py")
    script = _RUN.format(strategy=strategy, home=str(tmp_path))
    runs = {}
    for pure in ("0", "1"):
        env = {**os.environ, "RBT_PURE_PYTHON": pure}
        done = subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
        )
        runs[pure] = json.loads(done.stdout.strip().splitlines()[-1])
    assert runs["0"]["native"]
    assert not runs["1"]["native"]
    assert runs["0"]["fills"] == 123  # README.md, "The bracket example"
    for key in ("final", "fills", "tx", "pos"):
        assert runs["0"][key] == runs["1"][key]


def test_a_class_holding_its_builder_is_collected() -> None:
    # the builder holds its class: without the collector's view of that reference, a class
    # made at run time that keeps its builder would never be freed
    import weakref

    @attrs.frozen
    class Made:
        a: int

    Made.build = native.SlotBuilder(Made, ("a",))  # type: ignore[attr-defined]
    assert Made.build(3) == Made(3)  # type: ignore[attr-defined]
    gone = weakref.ref(Made)
    del Made
    gc.collect()
    assert gone() is None


@attrs.frozen
class _Record:
    when: int
    value: Decimal
    rows: tuple[int, ...] = ()


@given(st.integers(-(2**62), 2**62), decimals, st.lists(st.integers(), max_size=3))
def test_a_positional_builder_builds_what_init_builds(when, value, rows) -> None:
    build = model.positional_builder(_Record)
    assert build is not _Record  # the C builder
    built = build(when, value, tuple(rows))
    assert type(built) is _Record
    assert attrs.astuple(built, recurse=False) == (when, value, tuple(rows))
    assert built == _Record(when, value, tuple(rows))
    assert hash(built) == hash(_Record(when, value, tuple(rows)))


@attrs.frozen
class _Converted:
    value: Decimal = attrs.field(converter=Decimal)


@attrs.frozen
class _Checked:
    value: int = attrs.field(validator=attrs.validators.instance_of(int))


@attrs.frozen
class _Prepared:
    value: int

    def __attrs_pre_init__(self) -> None:
        pass


@attrs.frozen
class _Finished:
    value: int

    def __attrs_post_init__(self) -> None:
        pass


@attrs.frozen(kw_only=True)
class _Keywords:
    value: int


@attrs.frozen
class _Derived:
    value: int
    twice: int = attrs.field(init=False, default=0)


_NOT_POSITIONAL = (_Converted, _Checked, _Prepared, _Finished, _Keywords, _Derived)


@pytest.mark.parametrize("cls", _NOT_POSITIONAL)
def test_a_positional_builder_refuses_classes_whose_init_does_more(cls) -> None:
    with pytest.raises(TypeError, match="does more than store its values in order"):
        model.positional_builder(cls)


def test_a_slot_builder_builds_what_its_fallback_builds() -> None:
    import numpy as np

    from rbt.api.engine import PositionBlock, PositionRows, _block_rows

    block = PositionBlock(*(np.arange(4, dtype=np.int64) + k for k in range(4)))
    assert _block_rows != PositionRows.of_block  # the C builder
    for lo, hi in ((0, 4), (1, 3), (2, 2)):
        built, reference = _block_rows(block, lo, hi), PositionRows.of_block(block, lo, hi)
        assert type(built) is PositionRows
        assert (built.block, built.lo, built.hi) == (reference.block, lo, hi)
        assert built.block is block
        assert built == reference
        assert len(built) == hi - lo
    with pytest.raises(TypeError, match="has no slot 'rows'"):
        model.slot_builder(PositionRows, ("rows",), PositionRows.of_block)


def test_without_the_c_module_the_positional_builder_is_the_class() -> None:
    # and refuses the same classes as with it
    code = (
        "import attrs, pytest\n"
        "from rbt.kernel import model\n"
        "from rbt.api.engine import SessionRecord, _new_record\n"
        "assert model._NATIVE is None\n"
        "assert model.positional_builder(SessionRecord) is SessionRecord\n"
        "assert _new_record is SessionRecord\n"
        "from rbt.api.engine import PositionRows, _block_rows\n"
        "assert _block_rows == PositionRows.of_block\n"
        "@attrs.frozen(kw_only=True)\n"
        "class K:\n"
        "    value: int\n"
        "with pytest.raises(TypeError, match='does more than store'):\n"
        "    model.positional_builder(K)\n"
    )
    env = {**os.environ, "RBT_PURE_PYTHON": "1"}
    subprocess.run([sys.executable, "-c", code], env=env, check=True)
