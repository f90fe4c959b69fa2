"""Asset classes and accounts in runs: crypto 24/7 fractional, futures auto-close,
perpetual funding, FX valuation, borrow and financing accruals (hand-computed)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy as np
import pytest

from rbt.api import TradingAlgorithm, order, symbol
from rbt.data.actions import CorporateActions, FundingRate
from rbt.data.bundles import load_bundle
from rbt.data.home import RbtHome
from rbt.data.ingest import ingest
from rbt.kernel.errors import DataUnavailableError
from rbt.kernel.model import Asset, AssetClass

from .conftest import XNYS, daily

SESSIONS = list(XNYS.sessions(dt.date(2024, 1, 2), dt.date(2024, 1, 12)))


class BuyOnce(TradingAlgorithm):
    """Orders ``amount`` of ``ticker`` on the first bar."""

    def __init__(self, ticker: str, amount: float) -> None:
        super().__init__()
        self.ticker, self.amount, self.done = ticker, amount, False

    def handle_data(self, context, data):
        if not self.done:
            order(symbol(self.ticker), self.amount)
            self.done = True


def test_crypto_trades_fractional_amounts_every_day_of_the_week(tmp_path, run):
    """BTCUSD on the 24/7 calendar, Sat 2024-01-06 .. Wed 2024-01-10, closes 40000.00,
    40100.00, ...; lot 0.0001 from metadata.csv. Buy 0.12345 → rounds toward zero to
    0.1234, fills Sunday at 40100.00: cost 4948.34; cash 10000 − 4948.34 = 5051.66.
    Final value: 5051.66 + 0.1234 × 40400.00 = 5051.66 + 4985.36 = 10037.02.
    """
    directory = tmp_path / "csv"
    directory.mkdir()
    days = [dt.date(2024, 1, 6) + dt.timedelta(days=i) for i in range(5)]
    rows = ["date,open,high,low,close,volume"] + [
        f"{d},{40000 + 100 * i}.00,{40050 + 100 * i}.00,{39950 + 100 * i}.00,"
        f"{40000 + 100 * i}.00,12.5"
        for i, d in enumerate(days)
    ]
    (directory / "BTCUSD.csv").write_text("\n".join(rows) + "\n")
    (directory / "metadata.csv").write_text(
        "symbol,asset_class,lot_size,tick_size,min_notional\nBTCUSD,crypto,0.0001,0.01,10\n"
    )
    home = RbtHome(tmp_path / "home")
    ingest(home, "csv", "btc", {"path": str(directory), "calendar": "always_open"})
    bars = load_bundle(home, "btc")
    btc = bars.assets[0]
    assert (btc.asset_class, btc.lot_size, btc.calendar) == (
        AssetClass.CRYPTO,
        Decimal("0.0001"),
        "ALWAYS_OPEN",
    )
    result = run(BuyOnce("BTCUSD", 0.12345), bars, capital_base=10_000)
    assert result.perf["session"].to_list() == days  # the weekend trades
    assert result.transactions["amount"].to_list() == [Decimal("0.1234")]
    assert result.transactions["price"].to_list() == [Decimal("40100.00")]
    assert result.perf["cash"][-1] == Decimal("5051.66")
    assert result.perf["portfolio_value"][-1] == Decimal("10037.02")


def test_future_is_closed_at_its_last_price_after_auto_close(run):
    """ESH4 (multiplier 50), auto_close_date 2024-01-09; closes 4700.00 + 10 × day.
    Buy 2 on day 1 → fills 2024-01-03 at 4710.00. At the start of 2024-01-09 the
    position is closed at the last price (2024-01-08's close, 4740.00):
    P&L = 2 × 50 × (4740 − 4710) = 3000.00, no commission. Later orders on it are
    not tradable (``can_trade`` is False).
    """
    es = Asset(
        sid=7,
        symbol="ESH4",
        asset_class=AssetClass.FUTURE,
        multiplier=50,
        tick_size="0.25",
        auto_close_date=dt.date(2024, 1, 9),
    )
    close = 4700.0 + 10 * np.arange(len(SESSIONS))

    class Hold(BuyOnce):
        def before_trading_start(self, context, data):
            self.last_seen = (
                data.current_dt.date(),
                context.portfolio.positions[es].amount,
                data.can_trade(es),
            )

    strategy = Hold("ESH4", 2)
    result = run(strategy, daily([es], SESSIONS, close))
    tx = result.transactions
    assert tx["order_id"].to_list()[-1] == "auto_close"
    assert tx["amount"].to_list() == [Decimal(2), Decimal(-2)]
    assert tx["price"].to_list() == [Decimal("4710.00"), Decimal("4740.00")]
    assert tx["session"].to_list()[-1] == dt.date(2024, 1, 9)
    assert result.perf["cash"][-1] == Decimal("103000.00")
    assert result.perf["positions"][-1] == 0
    assert strategy.last_seen == (dt.date(2024, 1, 12), 0.0, False)


def test_perpetual_funding_is_paid_by_longs_and_received_by_shorts(run):
    """BTC-PERP at 100.00 all along (multiplier 1, lot 0.01). Long 2.5 (fills 01-03).
    Funding at 2024-01-04 and 2024-01-05 at 21:00 UTC (the daily bar of the session,
    visible at 21:00 UTC, books it), rates +0.0001 and −0.0002:
    −2.5 × 100 × 0.0001 = −0.025, then −2.5 × 100 × (−0.0002) = +0.05.
    Cash: 100000 − 250 − 0.025 + 0.05 = 99750.025.
    """
    perp = Asset(
        sid=3, symbol="BTC-PERP", asset_class=AssetClass.PERPETUAL, lot_size="0.01", calendar="XNYS"
    )
    at = [XNYS.session_times(d).close for d in (dt.date(2024, 1, 4), dt.date(2024, 1, 5))]
    funding = (FundingRate(3, at[0], Decimal("0.0001")), FundingRate(3, at[1], Decimal("-0.0002")))
    bars = daily([perp], SESSIONS, np.full(len(SESSIONS), 100.0), CorporateActions(funding=funding))
    result = run(BuyOnce("BTC-PERP", 2.5), bars)
    assert result.perf["cash"][-1] == Decimal("99750.025")
    cash = dict(zip(result.perf["session"].to_list(), result.perf["cash"].to_list(), strict=True))
    assert cash[dt.date(2024, 1, 4)] == Decimal("99749.975")


def test_foreign_quoted_asset_is_valued_at_the_conversion_rate(run):
    """SAP quoted in EUR; EURUSD in the same bundle: 1.10 until 01-05, 1.20 from 01-08.
    SAP closes 100.00 (EUR). Buy 10 → fills 01-03 at 100.00 EUR × 1.10 = 1100.00 USD.
    On 01-12: value 98900 + 10 × 100 × 1.20 = 100100.00 (an FX gain of 100.00).
    """
    sap = Asset(sid=1, symbol="SAP", quote_currency="EUR")
    eurusd = Asset(sid=2, symbol="EURUSD", asset_class=AssetClass.CRYPTO, lot_size="0.01")
    fx = np.where(np.arange(len(SESSIONS)) < 4, 1.10, 1.20)
    close = np.column_stack([np.full(len(SESSIONS), 100.0), fx])
    bars = daily([sap, eurusd], SESSIONS, close)
    result = run(BuyOnce("SAP", 10), bars)
    assert result.perf["cash"][-1] == Decimal("98900.00")
    assert result.perf["portfolio_value"][-1] == Decimal("100100.00")
    with pytest.raises(DataUnavailableError, match="EURUSD"):
        run(BuyOnce("SAP", 10), daily([sap], SESSIONS, close[:, :1]))


def test_borrow_cost_and_financing_accrue_at_each_close(run):
    """AAA at 100.00. Short 1000 (fills 01-03 at 100.00: cash 200000) — borrow 3.65 %
    a year on 100000 of shorts = 10.00 a calendar day. From 01-03 to 01-12 there are
    7 session closes covering 01-03 (1 day since 01-02), 01-04, 01-05 (1 each), 01-08
    (3 days: the weekend), 01-09, 01-10, 01-11, 01-12 → 1+1+1+3+1+1+1+1 = 10 days →
    100.00. Financing is not charged (cash is positive).

    Long 2000 with 100000 capital (cash −100000 from 01-03), financing 7.3 % a year =
    20.00 a day (on the cash after the previous accruals, compounding:
    each close charges cash × 0.073 × days / 365).
    """
    aaa = Asset(sid=1, symbol="AAA")
    bars = daily([aaa], SESSIONS, np.full(len(SESSIONS), 100.0))
    short = run(BuyOnce("AAA", -1000), bars, borrow_rate=0.0365, financing_rate=0.073)
    assert short.perf["cash"][-1] == Decimal("200000.00") - Decimal("100.00")
    assert short.perf["cash"][0] == Decimal("100000")  # the order fills on 01-03
    levered = run(BuyOnce("AAA", 2000), bars, borrow_rate="0.0365", financing_rate="0.073")
    cash = Decimal(-100000)
    previous = dt.date(2024, 1, 2)
    for day in SESSIONS[1:]:
        days = (day - previous).days
        cash += (cash * Decimal("0.073") * days / 365).quantize(Decimal("1e-12"))
        previous = day
    assert levered.perf["cash"][-1] == cash
    assert 199 < float(-cash - 100000) < 201  # ~20.00 a day for 10 days
    zero = run(BuyOnce("AAA", 2000), bars)
    assert zero.perf["cash"][-1] == Decimal(-100000)  # Zipline: no financing by default
    assert zero.run_id != levered.run_id


def test_auto_close_cancels_a_resting_order_without_breaking_the_event_order(run):
    """A resting limit on a future that auto-closes is cancelled at the auto-close
    session's first bar (order events never precede the bar in the bus's order)."""
    es = Asset(
        sid=7,
        symbol="ESH4",
        asset_class=AssetClass.FUTURE,
        multiplier=50,
        tick_size="0.25",
        auto_close_date=dt.date(2024, 1, 9),
    )
    close = 4700.0 + 10 * np.arange(len(SESSIONS))

    class Rest(TradingAlgorithm):
        def initialize(self, context):
            self.placed = None
            self.cancelled = []

        def handle_data(self, context, data):
            if self.placed is None:
                self.placed = order(es, 1, limit_price=100.0)

        def on_order_cancel(self, context, cancelled):
            self.cancelled.append(cancelled.id)

    strategy = Rest()
    result = run(strategy, daily([es], SESSIONS, close))
    assert strategy.cancelled == [strategy.placed]
    assert len(result.transactions) == 0


class WatchValue(BuyOnce):
    """BuyOnce that records the float portfolio value the strategy sees each bar."""

    def initialize(self, context):
        self.seen = []

    def handle_data(self, context, data):
        super().handle_data(context, data)
        self.seen.append(
            (context.portfolio.portfolio_value, float(context.portfolio.exact.portfolio_value))
        )


def test_float_portfolio_view_applies_fx_rates_and_multipliers(run):
    """What the strategy sees (floats) equals the exact books for a EUR-quoted stock and a
    futures contract with multiplier 50 — sizing with order_target_percent depends on it."""
    sap = Asset(sid=1, symbol="SAP", quote_currency="EUR")
    eurusd = Asset(sid=2, symbol="EURUSD", asset_class=AssetClass.CRYPTO, lot_size="0.01")
    fx = np.where(np.arange(len(SESSIONS)) < 4, 1.10, 1.20)
    close = np.column_stack([np.full(len(SESSIONS), 100.0), fx])
    strategy = WatchValue("SAP", 10)
    run(strategy, daily([sap, eurusd], SESSIONS, close))
    assert strategy.seen[-1] == (100100.0, 100100.0)
    assert all(seen == exact for seen, exact in strategy.seen)

    es = Asset(sid=7, symbol="ESH4", asset_class=AssetClass.FUTURE, multiplier=50, tick_size="0.25")
    strategy = WatchValue("ESH4", 2)
    run(strategy, daily([es], SESSIONS, 4700.0 + 10 * np.arange(len(SESSIONS))))
    assert all(seen == exact for seen, exact in strategy.seen)
    assert strategy.seen[-1][0] != strategy.seen[0][0]  # the position's P&L moves it


def test_crypto_spot_defaults_to_a_cash_account(run):
    """Design §2.1a.3: a crypto-only bundle runs on a cash account unless told otherwise.
    BTC at 40000: a buy of 3 (120000) with 100000 of cash is denied; on margin it fills."""
    btc = Asset(
        sid=3, symbol="BTC", asset_class=AssetClass.CRYPTO, lot_size="0.0001", quote_currency="USD"
    )
    bars = daily([btc], SESSIONS, np.full(len(SESSIONS), 40000.0))
    cash = run(BuyOnce("BTC", 3), bars)
    assert cash.orders["status"].to_list() == ["denied"]
    assert len(cash.transactions) == 0
    margin = run(BuyOnce("BTC", 3), bars, account="margin")
    assert len(margin.transactions) == 1
