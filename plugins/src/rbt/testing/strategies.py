"""Hypothesis strategies for property tests of plugins and of the kernel.

Everything they build obeys the kernel's rules: prices are multiples of the asset's
tick size, quantities multiples of its lot size, all values exact Decimals built
from integers (never from floats).

>>> from hypothesis import given
>>> from rbt.testing.strategies import assets, prices
>>> @given(assets().flatmap(prices))
... def test_price_is_positive(price): assert price > 0
"""

from __future__ import annotations

import itertools
from decimal import Decimal

from hypothesis import strategies as st

from rbt.kernel.costs import BarSnapshot
from rbt.kernel.model import Asset, AssetClass, Fill, Order, OrderStatus

__all__ = [
    "TICK_SIZES",
    "assets",
    "bar_snapshots",
    "commissions",
    "fills",
    "orders",
    "prices",
    "quantities",
]

#: Tick sizes the strategies draw from: decimal, binary-ish and coarse increments.
TICK_SIZES = tuple(Decimal(t) for t in ("0.01", "0.0001", "0.05", "0.25", "0.5", "0.00001", "1"))
_LOT_SIZES = {
    AssetClass.EQUITY: (Decimal(1),),
    AssetClass.CRYPTO: (Decimal("0.001"), Decimal("0.00000001"), Decimal("0.1")),
    AssetClass.FUTURE: (Decimal(1),),
    AssetClass.PERPETUAL: (Decimal("0.001"), Decimal(1)),
}
_MULTIPLIERS = {
    AssetClass.EQUITY: (Decimal(1),),
    AssetClass.CRYPTO: (Decimal(1),),
    AssetClass.FUTURE: (Decimal(50), Decimal(5), Decimal("0.1")),
    AssetClass.PERPETUAL: (Decimal(1),),
}
_ids = itertools.count(1)


@st.composite
def assets(draw: st.DrawFn, asset_class: AssetClass | None = None) -> Asset:
    """Assets of any (or the given) class with realistic tick and lot sizes."""
    kind = asset_class if asset_class is not None else draw(st.sampled_from(list(AssetClass)))
    return Asset(
        sid=draw(st.integers(min_value=1, max_value=2**31)),
        symbol=draw(st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=5)),
        asset_class=kind,
        calendar="XNYS" if kind is AssetClass.EQUITY else "24/7",
        tick_size=draw(st.sampled_from(TICK_SIZES)),
        lot_size=draw(st.sampled_from(_LOT_SIZES[kind])),
        multiplier=draw(st.sampled_from(_MULTIPLIERS[kind])),
    )


def prices(asset: Asset, *, max_ticks: int = 10**7) -> st.SearchStrategy[Decimal]:
    """Positive prices on ``asset``'s tick grid (1 to ``max_ticks`` ticks)."""
    tick = asset.tick_size
    return st.integers(min_value=1, max_value=max_ticks).map(lambda n: tick * n)


def quantities(
    asset: Asset, *, max_lots: int = 10**5, signed: bool = False
) -> st.SearchStrategy[Decimal]:
    """Non-zero quantities on ``asset``'s lot grid; negative ones too when ``signed``."""
    lot = asset.lot_size
    magnitude = st.integers(min_value=1, max_value=max_lots)
    if not signed:
        return magnitude.map(lambda n: lot * n)
    return st.tuples(magnitude, st.sampled_from((1, -1))).map(lambda t: lot * t[0] * t[1])


def commissions(*, max_cents: int = 100_000) -> st.SearchStrategy[Decimal]:
    """Non-negative commissions in cents."""
    return st.integers(min_value=0, max_value=max_cents).map(lambda c: Decimal(c).scaleb(-2))


@st.composite
def orders(
    draw: st.DrawFn,
    asset: Asset | None = None,
    *,
    status: OrderStatus = OrderStatus.ACCEPTED,
    max_lots: int = 10**5,
    partially_filled: bool = False,
) -> Order:
    """Working orders (buys and sells). With ``partially_filled``, part may be filled already."""
    chosen = asset if asset is not None else draw(assets())
    amount = draw(quantities(chosen, max_lots=max_lots, signed=True))
    filled = Decimal(0)
    if partially_filled:
        lots = int(abs(amount) / chosen.lot_size)
        filled = chosen.lot_size * draw(st.integers(min_value=0, max_value=lots - 1))
        filled = filled if amount > 0 else -filled
        if filled:
            status = OrderStatus.PARTIALLY_FILLED
    return Order(
        id=f"t-hyp-{next(_ids)}",
        asset=chosen,
        amount=amount,
        created=0,
        status=status,
        filled=filled,
    )


@st.composite
def fills(draw: st.DrawFn, order: Order | None = None) -> Fill:
    """A fill of part or all of an order's open amount, in the order's direction."""
    chosen = order if order is not None else draw(orders())
    asset = chosen.asset
    open_lots = int(abs(chosen.open_amount) / asset.lot_size)
    lots = draw(st.integers(min_value=1, max_value=max(open_lots, 1)))
    return Fill(
        id=f"{chosen.id}-f{next(_ids)}",
        order_id=chosen.id,
        asset=asset,
        amount=asset.lot_size * lots * chosen.direction,
        price=draw(prices(asset)),
        ts=draw(st.integers(min_value=0, max_value=2**62)),
        commission=draw(commissions()),
    )


@st.composite
def bar_snapshots(draw: st.DrawFn, asset: Asset, *, max_volume_lots: int = 10**6) -> BarSnapshot:
    """Consistent OHLCV bars (low <= open, close <= high) on ``asset``'s grids."""
    # a third of the bars trade within 100 ticks of zero: penny stocks, sub-cent coins
    top = draw(st.sampled_from((100, 10**6, 10**6)))
    ticks = sorted(draw(st.lists(st.integers(min_value=1, max_value=top), min_size=4, max_size=4)))
    low, a, b, high = (asset.tick_size * t for t in ticks)
    open_, close = (a, b) if draw(st.booleans()) else (b, a)
    volume = asset.lot_size * draw(st.integers(min_value=0, max_value=max_volume_lots))
    return BarSnapshot(open=open_, high=high, low=low, close=close, volume=volume)
