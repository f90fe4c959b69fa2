"""Deferred marks (``Ledger.defer_marks``) give the books eager marking would give."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from rbt.kernel.ledger import Ledger, Split
from rbt.kernel.model import Asset, Fill

ASSETS = [Asset(sid=i, symbol=f"A{i}", tick_size="0.125") for i in range(4)]

# one step: ("fill", asset, amount, price eighths) | ("mark", prices in eighths) | ("read",)
#          | ("split", asset)
_step = st.one_of(
    st.tuples(
        st.just("fill"),
        st.integers(0, 3),
        st.integers(-50, 50).filter(bool),
        st.integers(1, 4000),
    ),
    st.tuples(st.just("mark"), st.lists(st.integers(1, 4000), min_size=4, max_size=4)),
    st.tuples(st.just("read"), st.integers(0, 3)),
    st.tuples(st.just("split"), st.integers(0, 3)),
)


def _pricer(prices: Sequence[int]):
    table = {a.sid: Decimal(p) / 8 for a, p in zip(ASSETS, prices, strict=True)}

    def price(assets: Sequence[Asset]) -> list[Decimal | None]:
        return [table[a.sid] for a in assets]

    return price


def _state(ledger: Ledger) -> tuple[object, ...]:
    return (
        ledger.books(),
        ledger.positions_value(),
        sorted((a.sid, amount, last) for a, amount, last in ledger.iter_holdings()),
    )


@settings(max_examples=150, deadline=None)
@given(st.lists(_step, max_size=40))
def test_deferred_marks_equal_eager_marks(steps: list[tuple]) -> None:
    eager, lazy = Ledger(Decimal(100_000)), Ledger(Decimal(100_000))
    n = 0
    for step in steps:
        if step[0] == "fill":
            _, i, amount, eighths = step
            n += 1
            fill = Fill(
                id=f"f{n}",
                order_id=f"o{n}",
                asset=ASSETS[i],
                amount=Decimal(amount),
                price=Decimal(eighths) / 8,
                ts=n,
            )
            eager.apply_fill(fill)
            lazy.apply_fill(fill)
        elif step[0] == "mark":
            pricer = _pricer(step[1])
            for asset, _amount, _last in list(eager.iter_holdings()):
                price = pricer([asset])[0]
                assert price is not None
                eager.mark(asset, price)
            lazy.defer_marks(pricer)
        elif step[0] == "split":
            split = Split(asset=ASSETS[step[1]], ratio=Decimal(2), ts=n)
            assert eager.apply_split(split) == lazy.apply_split(split)
        else:  # read one position: settles that holding only
            assert eager.position(ASSETS[step[1]]) == lazy.position(ASSETS[step[1]])
    assert _state(eager) == _state(lazy)


def test_a_fill_after_a_deferred_mark_keeps_its_own_price() -> None:
    ledger = Ledger(Decimal(1000))
    a, b = ASSETS[0], ASSETS[1]
    for k, asset in enumerate((a, b)):
        ledger.apply_fill(
            Fill(id=f"f{k}", order_id=f"o{k}", asset=asset, amount=Decimal(1),
                 price=Decimal(10), ts=k)
        )  # fmt: skip
    ledger.defer_marks(_pricer([96, 104, 8, 8]))  # a → 12, b → 13
    ledger.apply_fill(
        Fill(id="f9", order_id="o9", asset=a, amount=Decimal(1), price=Decimal(11), ts=9)
    )
    held = {asset.sid: last for asset, _amount, last in ledger.iter_holdings()}
    assert held == {0: Decimal(11), 1: Decimal(13)}
    assert ledger.positions_value() == Decimal(2 * 11 + 13)
