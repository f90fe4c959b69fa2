"""Commission and slippage models (``rbt.finance``): Zipline's names, defaults and semantics,
computed exactly. Every expected value is worked out in the test's docstring or comment."""

from __future__ import annotations

from decimal import Decimal

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rbt.finance.commission import NoCommission, PerDollar, PerShare, PerTrade
from rbt.finance.slippage import FixedBasisPointsSlippage, FixedSlippage, NoSlippage
from rbt.kernel.costs import BarSnapshot, CommissionModel, SlippageModel
from rbt.kernel.model import Asset, Order, OrderStatus
from rbt.kernel.registry import ProviderKind
from rbt.plugins import plugin_manager

D = Decimal
A = Asset(sid=1, symbol="AAA")
BTC = Asset(sid=2, symbol="BTC", lot_size="0.001", tick_size="0.01")
FUT = Asset(sid=3, symbol="ESH4", multiplier=50)


def order(
    amount: int | str, asset: Asset = A, filled: int | str = 0, commission: str | int = 0
) -> Order:
    return Order(
        id="o",
        asset=asset,
        amount=D(amount),
        created=0,
        status=OrderStatus.ACCEPTED,
        filled=D(filled),
        commission=D(commission),
    )


def bar(close: str = "20", volume: str | int = 10_000, open_: str = "19") -> BarSnapshot:
    c, o = D(close), D(open_)
    return BarSnapshot(open=o, high=max(o, c) + 1, low=min(o, c) - 1, close=c, volume=D(volume))


# -- commissions ------------------------------------------------------------------------


def test_zipline_default_per_share():
    """Zipline's ``PerShare()``: cost 0.001, no minimum. 150 shares → 0.15 either side."""
    model = PerShare()
    assert (model.cost, model.min_trade_cost) == (D("0.001"), D(0))
    assert model.calculate(order(150), D(150), D("20.01")) == D("0.15")
    assert model.calculate(order(-150), D(-150), D("19.99")) == D("0.15")


def test_per_share_minimum_is_per_order():
    """cost 0.005, minimum 1.00, order of 1000 filled 100 + 100 + 800:

    fill 1: max(1, 100 × 0.005 = 0.5) − 0 paid = 1.00
    fill 2: max(1, 200 × 0.005 = 1.0) − 1.00 paid = 0
    fill 3: max(1, 1000 × 0.005 = 5.0) − 1.00 paid = 4.00
    """
    model = PerShare(cost="0.005", min_trade_cost="1")
    assert model.calculate(order(1000), D(100), D(10)) == D(1)
    assert model.calculate(order(1000, filled=100, commission=1), D(100), D(10)) == 0
    assert model.calculate(order(1000, filled=200, commission=1), D(800), D(10)) == D(4)
    # sells count absolute shares
    assert model.calculate(order(-1000, filled=-200, commission=1), D(-800), D(10)) == D(4)


def test_float_parameters_convert_to_their_shortest_decimal():
    """``PerShare(cost=0.0075)`` is exactly 0.0075, not the binary float's expansion."""
    assert PerShare(cost=0.0075).cost == D("0.0075")
    assert PerDollar(cost=0.0015).cost == D("0.0015")
    assert FixedBasisPointsSlippage(basis_points=2.5, volume_limit=0.025).volume_limit == D("0.025")


def test_per_trade_is_flat_on_the_first_fill_only():
    model = PerTrade(cost="4.95")
    assert model.calculate(order(1000), D(100), D(10)) == D("4.95")
    assert model.calculate(order(1000, filled=100, commission="4.95"), D(900), D(10)) == 0
    assert PerTrade().calculate(order(10), D(10), D(1)) == 0  # Zipline's default cost is 0


def test_per_dollar_is_a_rate_on_each_fills_notional():
    """Zipline's default 0.0015: 200 × 20.01 = 4002 → 6.003; a futures contract
    counts its multiplier: 2 × 5000.25 × 50 = 500 025 → 750.0375."""
    model = PerDollar()
    assert model.calculate(order(200), D(200), D("20.01")) == D("6.003")
    assert model.calculate(order(-200), D(-200), D("20.01")) == D("6.003")
    assert model.calculate(order(2, FUT), D(2), D("5000.25")) == D("750.0375")


def test_no_commission():
    assert NoCommission().calculate(order(10), D(10), D(100)) == 0


@pytest.mark.parametrize(
    "bad",
    [
        lambda: PerShare(cost=-0.001),
        lambda: PerShare(min_trade_cost=-1),
        lambda: PerTrade(cost="-1"),
        lambda: PerDollar(cost=float("nan")),
        lambda: FixedSlippage(spread=-0.01),
        lambda: FixedBasisPointsSlippage(basis_points=-1),
        lambda: FixedBasisPointsSlippage(volume_limit=0),
    ],
)
def test_invalid_parameters_are_rejected(bad):
    with pytest.raises(ValueError):
        bad()


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(1, 5000), min_size=1, max_size=8),
    st.decimals(min_value=0, max_value=10, places=3),
    st.decimals(min_value=0, max_value=D("0.01"), places=4),
)
def test_per_share_total_does_not_depend_on_how_an_order_is_split(parts, minimum, cost):
    """However an order fills, PerShare charges max(minimum, cost × shares) in total."""
    model = PerShare(cost=cost, min_trade_cost=minimum)
    total_amount = sum(parts)
    o = order(total_amount)
    for part in parts:
        fee = model.calculate(o, D(part), D(10))
        assert fee >= 0
        o = attrs.evolve(o, filled=o.filled + part, commission=o.commission + fee)
    assert o.commission == max(minimum, total_amount * cost)


# -- slippage -----------------------------------------------------------------------------


def test_zipline_default_fixed_basis_points():
    """5 bp against the order at the reference price, at most int(10 % × volume).

    buy 100 at close 20 → 20 × 1.0005 = 20.01; sell → 20 × 0.9995 = 19.99.
    """
    model = FixedBasisPointsSlippage()
    assert (model.basis_points, model.volume_limit) == (D(5), D("0.1"))
    assert model.fill(order(100), bar(), D(20), D(0)) == (D(100), D("20.01"))
    assert model.fill(order(-100), bar(), D(20), D(0)) == (D(-100), D("19.99"))
    # the reference price is whatever the fill model passes (next open: 19)
    assert model.fill(order(100), bar(), D(19), D(0)) == (D(100), D("19.0095"))


def test_fixed_basis_points_volume_cap():
    """Volume 1 234: cap int(123.4) = 123. An order of 500 gets 123; with 100 already
    used by another order on this bar, 23; with 123 used, nothing (None)."""
    model = FixedBasisPointsSlippage()
    b = bar(volume=1234)
    assert model.fill(order(500), b, D(20), D(0)) == (D(123), D("20.01"))
    assert model.fill(order(-500), b, D(20), D(100)) == (D(-23), D("19.99"))
    assert model.fill(order(500), b, D(20), D(123)) is None
    # the open amount, not the original amount, is what is still to fill
    assert model.fill(order(500, filled=490), b, D(20), D(0)) == (D(10), D("20.01"))
    # custom limits: 2.5 % of 1 234 = 30.85 → 30
    custom = FixedBasisPointsSlippage(basis_points=10, volume_limit="0.025")
    assert custom.fill(order(500), b, D(20), D(0)) == (D(30), D("20.02"))


def test_fixed_basis_points_cap_respects_fractional_lots():
    """BTC with lot 0.001 and bar volume 12.3456: 10 % = 1.23456 → 1.234 (whole lots,
    toward zero)."""
    model = FixedBasisPointsSlippage()
    got = model.fill(order("5", BTC), bar(close="60000", volume="12.3456"), D(60000), D(0))
    assert got == (D("1.234"), D("60030"))


def test_fixed_slippage_and_no_slippage_fill_the_whole_open_amount():
    """FixedSlippage(0.10): ± 0.05 on the reference price, no volume cap. NoSlippage:
    the reference price itself. Zipline's FixedSlippage default spread is 0."""
    tiny = bar(volume=1)
    spread = FixedSlippage(spread="0.10")
    assert spread.fill(order(1000), tiny, D(20), D(0)) == (D(1000), D("20.05"))
    assert spread.fill(order(-1000, filled=-400), tiny, D(20), D(0)) == (D(-600), D("19.95"))
    assert FixedSlippage().fill(order(5), tiny, D(20), D(0)) == (D(5), D(20))
    assert NoSlippage().fill(order(-7), tiny, D(20), D(0)) == (D(-7), D(20))


def test_models_satisfy_the_kernel_protocols():
    for model in (PerShare(), PerTrade(), PerDollar(), NoCommission()):
        assert isinstance(model, CommissionModel)
    for model in (FixedBasisPointsSlippage(), FixedSlippage(), NoSlippage()):
        assert isinstance(model, SlippageModel)


def test_providers_build_the_zipline_defaults():
    """The registered names build the classes at Zipline's paths with Zipline's defaults,
    and their reprs (which go into run ids) show the exact parameters."""
    pm = plugin_manager(autoload=False, strict=True)
    create = lambda kind, name: pm.get_provider(kind, name).create()  # noqa: E731
    per_share = create(ProviderKind.COMMISSION_MODEL, "per_share")
    assert repr(per_share) == "PerShare(cost=0.001, min_trade_cost=0)"
    assert isinstance(create(ProviderKind.COMMISSION_MODEL, "per_trade"), PerTrade)
    assert isinstance(create(ProviderKind.COMMISSION_MODEL, "per_dollar"), PerDollar)
    assert isinstance(create(ProviderKind.COMMISSION_MODEL, "none"), NoCommission)
    bps = create(ProviderKind.SLIPPAGE_MODEL, "fixed_bps")
    assert repr(bps) == "FixedBasisPointsSlippage(basis_points=5, volume_limit=0.1)"
    assert isinstance(create(ProviderKind.SLIPPAGE_MODEL, "fixed_spread"), FixedSlippage)
    assert isinstance(create(ProviderKind.SLIPPAGE_MODEL, "none"), NoSlippage)
