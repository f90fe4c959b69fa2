"""The kit's Hypothesis strategies build values that obey the kernel's rules."""

from __future__ import annotations

import sys
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from rbt.kernel.model import Asset, Bar, Fill, Order
from rbt.kernel.numeric import ledger_context
from rbt.testing import strategies as rst


def _on_grid(value: Decimal, step: Decimal) -> bool:
    with ledger_context():
        return value % step == 0


@settings(max_examples=200)
@given(st.data())
def test_prices_and_quantities_are_on_the_asset_grids(data: st.DataObject) -> None:
    asset: Asset = data.draw(rst.assets())
    price = data.draw(rst.prices(asset))
    quantity = data.draw(rst.quantities(asset, signed=True))
    assert price > 0
    assert _on_grid(price, asset.tick_size)
    assert quantity != 0
    assert _on_grid(quantity, asset.lot_size)


@settings(max_examples=200)
@given(st.data())
def test_orders_and_fills_fit_together(data: st.DataObject) -> None:
    order: Order = data.draw(rst.orders(partially_filled=True))
    assert order.is_open
    assert abs(order.filled) < abs(order.amount)
    fill: Fill = data.draw(rst.fills(order))
    assert fill.order_id == order.id
    assert (fill.amount > 0) == (order.amount > 0)
    assert abs(fill.amount) <= abs(order.open_amount)
    assert fill.commission >= 0


@settings(max_examples=200)
@given(st.data())
def test_bar_snapshots_are_consistent_bars(data: st.DataObject) -> None:
    asset: Asset = data.draw(rst.assets())
    snap = data.draw(rst.bar_snapshots(asset))
    # the kernel's Bar validates low <= open, close <= high
    Bar(
        asset=asset,
        ts=0,
        open=snap.open,
        high=snap.high,
        low=snap.low,
        close=snap.close,
        volume=snap.volume,
    )
    assert _on_grid(snap.volume, asset.lot_size)


def test_the_kit_modules_are_assertion_rewritten() -> None:
    import rbt.testing.commission  # noqa: F401 - imported for its loader

    loader = sys.modules["rbt.testing.commission"].__loader__
    assert type(loader).__name__ == "AssertionRewritingHook"
