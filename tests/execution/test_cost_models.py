"""Cost models, hand-computed: volume share (Zipline's), volume impact, spread, maker/taker."""

from __future__ import annotations

from decimal import Decimal

import pytest

from rbt.finance.commission import MakerTaker
from rbt.finance.slippage import SpreadSlippage, VolumeImpactSlippage, VolumeShareSlippage
from rbt.kernel.costs import BarSnapshot
from rbt.kernel.model import Order, OrderStatus, OrderStyle, OrderType
from rbt.kernel.registry import ProviderKind
from rbt.plugins import plugin_manager

from .conftest import A, Sim, ohlcv

D = Decimal


def _order(amount: int) -> Order:
    return Order(id="o", asset=A, amount=D(amount), created=0, status=OrderStatus.ACCEPTED)


BAR = BarSnapshot(open=D(19), high=D(21), low=D(18), close=D(20), volume=D(10_000))


def test_volume_share_is_zipline_quadratic_impact():
    """VolumeShareSlippage(0.025, 0.1), volume 10 000 → cap int(250) = 250.
    Buy 100: share 0.01, price 20 × (1 + 0.1 × 0.0001) = 20.0002.
    Buy 1 000: capped 250, share 0.025, price 20 × (1 + 0.1 × 0.000625) = 20.00125.
    Sell 100 after 200 already used: 50 left; share 0.025 → 20 × (1 − 0.0000625) = 19.99875."""
    model = VolumeShareSlippage()
    assert model.fill(_order(100), BAR, D(20), D(0)) == (D(100), D("20.0002"))
    assert model.fill(_order(1000), BAR, D(20), D(0)) == (D(250), D("20.00125"))
    assert model.fill(_order(-100), BAR, D(20), D(200)) == (D(-50), D("19.99875"))
    assert model.fill(_order(10), BAR, D(20), D(250)) is None


def test_volume_impact_square_root():
    """VolumeImpactSlippage(0.1, 0.1): buy 100 of 10 000 → share 0.01, √0.01 = 0.1,
    price 20 × (1 + 0.1 × 0.1) = 20.2; sell 400: √0.04 = 0.2 → 20 × 0.98 = 19.6."""
    model = VolumeImpactSlippage()
    assert model.fill(_order(100), BAR, D(20), D(0)) == (D(100), D("20.2"))
    assert model.fill(_order(-400), BAR, D(20), D(0)) == (D(-400), D("19.6"))
    assert model.fill(_order(5000), BAR, D(20), D(0))[0] == D(1000)  # 10 % cap


def test_spread_from_bps_or_high_low():
    """SpreadSlippage(10 bp): half = 20 × 0.001 / 2 = 0.01 → buy 20.01, sell 19.99; the
    whole order fills. From high-low (fraction 0.5): half = 0.5 × (21 − 18) / 2 = 0.75."""
    bps = SpreadSlippage(10)
    assert bps.fill(_order(50_000), BAR, D(20), D(0)) == (D(50_000), D("20.01"))
    assert bps.fill(_order(-5), BAR, D(20), D(0)) == (D(-5), D("19.99"))
    hl = SpreadSlippage(high_low_fraction="0.5")
    assert hl.fill(_order(5), BAR, D(20), D(0)) == (D(5), D("20.75"))
    capped = SpreadSlippage(10, volume_limit="0.01")
    assert capped.fill(_order(500), BAR, D(20), D(0))[0] == D(100)


def test_maker_taker_through_the_broker_and_tiers():
    """MakerTaker(maker 0.0002, taker 0.0005, tier at 1 500 traded: 0.0001 / 0.0003).

    bar 1: market buy 100 fills at close 10 → taker 1 000 × 0.0005 = 0.50 (traded 1 000);
    bar 1: limit buy 100 @ 9.50, low 9.4, open 10 → passive at 9.50: maker 950 × 0.0002 =
      0.19 (traded 1 950, now past the tier);
    bar 2: limit buy 100 @ 9.50 opened through at 9.00 → taker at tier rate:
      900 × 0.0003 = 0.27.
    """
    model = MakerTaker("0.0002", "0.0005", tiers=[(1500, "0.0001", "0.0003")])
    bars = ohlcv([(10, 10, 10, 10, 1e5), (10, 10.2, 9.4, 10, 1e5), (9, 9.2, 8.8, 9.1, 1e5)])
    sim = Sim(bars, commission=model)
    market = sim.place(0, 100)
    passive = sim.place(0, 100, OrderStyle(type=OrderType.LIMIT, limit_price=D("9.50")))
    gap = sim.place(1, 100, OrderStyle(type=OrderType.LIMIT, limit_price=D("9.50")))
    sim.run()
    assert [f.commission for f in sim.fills(market)] == [D("0.5")]
    assert [f.commission for f in sim.fills(passive)] == [D("0.19")]
    assert [(f.price, f.commission) for f in sim.fills(gap)] == [(D(9), D("0.27"))]


@pytest.mark.parametrize(
    ("kind", "name", "cls"),
    [
        (ProviderKind.SLIPPAGE_MODEL, "volume_share", VolumeShareSlippage),
        (ProviderKind.SLIPPAGE_MODEL, "volume_impact", VolumeImpactSlippage),
        (ProviderKind.SLIPPAGE_MODEL, "spread", SpreadSlippage),
        (ProviderKind.COMMISSION_MODEL, "maker_taker", MakerTaker),
    ],
)
def test_models_are_providers(kind, name, cls):
    pm = plugin_manager(autoload=False, strict=True)
    assert isinstance(pm.get_provider(kind, name).create(), cls)
