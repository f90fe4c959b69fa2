"""Parity with zipline-reloaded itself: the same algorithms on the same CSV files.

Each algorithm below is written once, as Zipline source (``from zipline.api
import ...``). The RustyBT copy is the same text with ``zipline.`` replaced by
``rbt.`` in the import lines — design.md §2.1a.1's promise, tested literally (the
pipeline strategy is the speed benchmark's file, read with the replacement reversed).
Both engines ingest the same directory of daily CSVs (zipline: its ``csvdir``
bundle, registered with country code "US" so its pipeline finds the assets;
RustyBT: ``rbt.data.ingest.ingest(..., "csv", ...)``), run with their defaults
unless the case sets models, and must agree on every session's portfolio
value, every position and every transaction to 1e-6 relative.

Prices lie on a 1/8 grid (exact in binary and in zipline's 1/1000 price
storage), so both engines see bit-identical inputs.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from rbt.api import run_backtest
from rbt.api.algorithm import FunctionStrategy
from rbt.data.home import RbtHome
from rbt.data.ingest import ingest as rbt_ingest
from rbt.plugins.calendars import get_calendar

pytest.importorskip("zipline")

pytestmark = [
    pytest.mark.slow,
    # zipline and the libraries it drives warn a lot; filtered by module, never wholesale
    pytest.mark.filterwarnings("ignore::DeprecationWarning:zipline.*"),
    pytest.mark.filterwarnings("ignore::FutureWarning:zipline.*"),
    pytest.mark.filterwarnings("ignore::UserWarning:zipline.*"),
    pytest.mark.filterwarnings("ignore::RuntimeWarning:zipline.*"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning:empyrical.*"),
    pytest.mark.filterwarnings("ignore::RuntimeWarning:empyrical.*"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning:bcolz.*"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning:sqlalchemy.*"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning:alembic.*"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning:numexpr.*"),
    pytest.mark.filterwarnings("ignore::FutureWarning:pandas.*"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning:pandas.*"),
    pytest.mark.filterwarnings("ignore::RuntimeWarning:numpy.*"),
]

N_ASSETS = 30
FIRST = dt.date(2021, 1, 4)
LAST = dt.date(2022, 6, 30)
START = dt.date(2021, 3, 1)  # two months of warm-up history for zipline's windows
END = LAST
CAPITAL = 1_000_000
RTOL = 1e-6
BUNDLE = "rbt-parity"


# ------------------------------------------------------------------------------------------
# the data: one directory of CSVs for both engines
# ------------------------------------------------------------------------------------------
def write_csvs(directory: Path) -> list[str]:
    """Random walks on a 1/8 grid; integer volumes; every XNYS session."""
    sessions = list(get_calendar("XNYS").sessions(FIRST, LAST))
    rng = np.random.default_rng(20240601)
    symbols = [f"A{i:02d}" for i in range(N_ASSETS)]
    daily = directory / "daily"
    daily.mkdir(parents=True)
    for k, symbol in enumerate(symbols):
        drift = rng.normal(0.0003, 0.0008)
        steps = rng.normal(drift, 0.02, len(sessions))
        close = np.maximum(np.round(40 * np.exp(np.cumsum(steps)) * 8) / 8, 1.0)
        gap = np.round(rng.normal(0, 0.004, len(sessions)) * close * 8) / 8
        open_ = np.maximum(close - gap, 0.875)
        high = np.maximum(open_, close) + np.round(rng.random(len(sessions)) * 4) / 8
        low = np.maximum(
            np.minimum(open_, close) - np.round(rng.random(len(sessions)) * 4) / 8, 0.125
        )
        volume = rng.integers(20_000, 400_000, len(sessions)) * (k % 3 + 1)
        frame = pd.DataFrame(
            {
                "date": [d.isoformat() for d in sessions],
                "open": open_,
                "high": high,
                "low": low,
                "close": close,
                "volume": volume,
            }
        )
        frame.to_csv(daily / f"{symbol}.csv", index=False, float_format="%.3f")
    return symbols


@pytest.fixture(scope="module")
def csv_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("parity-csv")
    write_csvs(root)
    return root


def _us_csvdir(path: Path) -> Callable[..., Any]:
    """zipline's csvdir ingest, with the exchange's country code set to "US"."""
    from zipline.data.bundles.csvdir import csvdir_equities

    inner = csvdir_equities(["daily"], str(path))

    def ingest(environ: Any, asset_db_writer: Any, *args: Any, **kwargs: Any) -> Any:
        class _USWriter:
            def write(self, equities: Any = None, **kw: Any) -> Any:
                exchanges = pd.DataFrame(
                    {"exchange": ["CSVDIR"], "canonical_name": ["CSVDIR"], "country_code": ["US"]}
                )
                return asset_db_writer.write(equities=equities, exchanges=exchanges, **kw)

        return inner(environ, _USWriter(), *args, **kwargs)

    return ingest


@pytest.fixture(scope="module")
def zipline_env(csv_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    from zipline.data import bundles

    root = tmp_path_factory.mktemp("zipline-root")
    environ = {**os.environ, "ZIPLINE_ROOT": str(root)}
    bundles.register(
        BUNDLE,
        _us_csvdir(csv_dir),
        calendar_name="XNYS",
        start_session=pd.Timestamp(FIRST),
        end_session=pd.Timestamp(LAST),
    )
    try:
        bundles.ingest(BUNDLE, environ, show_progress=False)
        yield environ
    finally:
        bundles.unregister(BUNDLE)


@pytest.fixture(scope="module")
def rbt_home(csv_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> RbtHome:
    home = RbtHome(tmp_path_factory.mktemp("rbt-home"))
    rbt_ingest(home, "csv", BUNDLE, {"path": str(csv_dir / "daily")})
    return home


# ------------------------------------------------------------------------------------------
# running one algorithm source in both engines
# ------------------------------------------------------------------------------------------
def _load(source: str, package: str) -> dict[str, Any]:
    text = textwrap.dedent(source)
    if package == "rbt":  # only the import lines change
        text = re.sub(r"^from zipline\.", "from rbt.", text, flags=re.M)
    namespace: dict[str, Any] = {"__name__": f"parity_{package}"}
    exec(compile(text, f"<{package} algorithm>", "exec"), namespace)
    return namespace


def run_zipline(
    source: str,
    environ: dict,
    start: dt.date = START,
    end: dt.date = END,
    algo: dict[str, Any] | None = None,
) -> Any:
    from zipline import run_algorithm
    from zipline.utils.calendar_utils import get_calendar as zcal

    algo = _load(source, "zipline") if algo is None else algo
    calendar = zcal("XNYS")
    sessions = calendar.sessions_in_range(pd.Timestamp(start), pd.Timestamp(end))
    benchmark = pd.Series(0.0, index=sessions.tz_localize("UTC"))
    return run_algorithm(
        start=pd.Timestamp(start),
        end=pd.Timestamp(end),
        initialize=algo["initialize"],
        handle_data=algo.get("handle_data"),
        before_trading_start=algo.get("before_trading_start"),
        capital_base=CAPITAL,
        data_frequency="daily",
        bundle=BUNDLE,
        trading_calendar=calendar,
        benchmark_returns=benchmark,
        environ=environ,
    )


def run_rbt(
    source: str,
    home: RbtHome,
    start: dt.date = START,
    end: dt.date = END,
    algo: dict[str, Any] | None = None,
) -> Any:
    algo = _load(source, "rbt") if algo is None else algo
    strategy = FunctionStrategy(
        algo["initialize"], algo.get("handle_data"), algo.get("before_trading_start"), None
    )
    return run_backtest(
        strategy, start=start, end=end, capital_base=CAPITAL, bundle=BUNDLE, home=home, write=False
    )


# ------------------------------------------------------------------------------------------
# comparing
# ------------------------------------------------------------------------------------------
def _rel(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    scale = np.maximum(np.abs(a), np.abs(b))
    diff = np.abs(a - b)
    with np.errstate(invalid="ignore", divide="ignore"):
        rel = np.where(scale > 0, diff / scale, 0.0)
    return float(rel.max()) if rel.size else 0.0


MAX_REL: dict[str, dict[str, float]] = {}


def compare(case: str, zperf: Any, result: Any) -> dict[str, float]:
    """Assert agreement; return the largest relative differences found."""
    ours = result.to_pandas()
    z_days = [ts.date() for ts in zperf.index]
    r_days = [ts.date() for ts in ours.index]
    assert z_days == r_days
    out = {"portfolio_value": _rel(zperf["portfolio_value"], ours["portfolio_value"])}
    out["cash"] = _rel(zperf["ending_cash"], ours["cash"])

    # transactions: (session, symbol) -> (amount, price), in order
    z_tx = sorted(
        (day.date(), t["sid"].symbol, float(t["amount"]), float(t["price"]))
        for day, txns in zip(zperf.index, zperf["transactions"], strict=True)
        for t in txns
    )
    r_tx = sorted(
        (row["session"], row["symbol"], float(row["amount"]), float(row["price"]))
        for row in result.transactions.iter_rows(named=True)
    )
    assert [t[:3] for t in z_tx] == [t[:3] for t in r_tx], f"{case}: transactions differ"
    out["transaction_price"] = _rel([t[3] for t in z_tx], [t[3] for t in r_tx])

    # commissions (zipline keeps them on the order: take each order's final state)
    final: dict[str, float] = {}
    for day in zperf["orders"]:
        for o in day:
            final[o["id"]] = float(o["commission"] or 0.0)
    z_comm = sum(final.values())
    r_comm = float(sum(float(c) for c in result.transactions["commission"].to_list()))
    out["commission_total"] = _rel([z_comm], [r_comm])

    # positions at every close: (session, symbol) -> amount, last price
    z_pos = sorted(
        (day.date(), p["sid"].symbol, float(p["amount"]), float(p["last_sale_price"]))
        for day, positions in zip(zperf.index, zperf["positions"], strict=True)
        for p in positions
    )
    r_pos = sorted(
        (row["session"], row["symbol"], float(row["amount"]), float(row["last_price"]))
        for row in result.positions.iter_rows(named=True)
    )
    assert [p[:3] for p in z_pos] == [p[:3] for p in r_pos], f"{case}: positions differ"
    out["position_price"] = _rel([p[3] for p in z_pos], [p[3] for p in r_pos])
    MAX_REL[case] = out
    for key, value in out.items():
        assert value <= RTOL, f"{case}: {key} differs by {value:.3g} relative"
    assert z_tx, f"{case}: the algorithm never traded"
    return out


# ------------------------------------------------------------------------------------------
# the algorithms (Zipline source)
# ------------------------------------------------------------------------------------------
DUAL_MOVING_AVERAGE = """
from zipline.api import order_target_percent, record, symbols

def initialize(context):
    context.assets = symbols("A00", "A01", "A02", "A03", "A04")

def handle_data(context, data):
    closes = data.history(context.assets, "price", bar_count=30, frequency="1d")
    for asset in context.assets:
        fast = closes[asset][-10:].mean()
        slow = closes[asset].mean()
        order_target_percent(asset, 0.18 if fast > slow else 0.0)
    record(fast0=closes[context.assets[0]][-10:].mean())
"""

BUY_AND_HOLD = """
from zipline.api import order_target_percent, symbol

def initialize(context):
    context.bought = False

def handle_data(context, data):
    if not context.bought:
        for name in ("A05", "A06", "A07", "A08", "A09", "A10", "A11", "A12", "A13", "A14"):
            order_target_percent(symbol(name), 0.095)
        context.bought = True
"""

MONTHLY_REBALANCE = """
from zipline.api import (date_rules, order_target_percent, schedule_function, symbols,
                         time_rules)

def initialize(context):
    context.assets = symbols(*["A%02d" % i for i in range(30)])
    schedule_function(rebalance, date_rules.month_start(), time_rules.market_open())

def rebalance(context, data):
    returns = data.history(context.assets, "close", 21, "1d").iloc[[0, -1]]
    change = returns.iloc[1] / returns.iloc[0] - 1
    ranks = change.rank()
    weights = ranks / ranks.sum() * 0.95
    for asset in context.assets:
        if data.can_trade(asset):
            order_target_percent(asset, float(weights[asset]))
"""

# the speed benchmark's pipeline strategy (``benchmarks/idioms/``), written with ``rbt.``
# imports: its Zipline text is the same file with ``zipline.`` imports
PIPELINE_MOMENTUM = re.sub(
    r"^from rbt\.",
    "from zipline.",
    (Path(__file__).parents[2] / "benchmarks/idioms/pipeline_momentum.py").read_text(),
    flags=re.M,
)

COSTS_AND_VOLUME_SHARE = """
from zipline.api import (order_target, schedule_function, date_rules, time_rules,
                         set_commission, set_slippage, symbols)
from zipline.finance import commission, slippage

def initialize(context):
    context.assets = symbols("A15", "A16", "A17")
    set_commission(commission.PerShare(cost=0.005, min_trade_cost=1.0))
    set_slippage(slippage.VolumeShareSlippage(volume_limit=0.025, price_impact=0.1))
    context.day = 0

def handle_data(context, data):
    context.day += 1
    if context.day % 20 == 1:
        for asset in context.assets:
            order_target(asset, 15000 if (context.day // 20) % 2 == 0 else 0)
"""


# ------------------------------------------------------------------------------------------
# the cases
# ------------------------------------------------------------------------------------------
def test_dual_moving_average(zipline_env: dict, rbt_home: RbtHome) -> None:
    zperf = run_zipline(DUAL_MOVING_AVERAGE, zipline_env)
    result = run_rbt(DUAL_MOVING_AVERAGE, rbt_home)
    compare("dual_moving_average", zperf, result)
    np.testing.assert_allclose(result.to_pandas()["fast0"], zperf["fast0"], rtol=RTOL)


def test_buy_and_hold(zipline_env: dict, rbt_home: RbtHome) -> None:
    zperf = run_zipline(BUY_AND_HOLD, zipline_env)
    result = run_rbt(BUY_AND_HOLD, rbt_home)
    compare("buy_and_hold", zperf, result)


def test_monthly_rebalance_over_many_assets(zipline_env: dict, rbt_home: RbtHome) -> None:
    zperf = run_zipline(MONTHLY_REBALANCE, zipline_env)
    result = run_rbt(MONTHLY_REBALANCE, rbt_home)
    compare("monthly_rebalance", zperf, result)


def test_pipeline_momentum(zipline_env: dict, rbt_home: RbtHome) -> None:
    zperf = run_zipline(PIPELINE_MOMENTUM, zipline_env)
    result = run_rbt(PIPELINE_MOMENTUM, rbt_home)
    compare("pipeline_momentum", zperf, result)
    np.testing.assert_array_equal(
        result.to_pandas()["n_picks"].fillna(-1), zperf["n_picks"].fillna(-1)
    )


def test_commissions_and_volume_share_slippage(zipline_env: dict, rbt_home: RbtHome) -> None:
    zperf = run_zipline(COSTS_AND_VOLUME_SHARE, zipline_env)
    result = run_rbt(COSTS_AND_VOLUME_SHARE, rbt_home)
    compare("costs_volume_share", zperf, result)


PIPELINE_FACTORS = """
import numpy as np
from zipline.api import attach_pipeline, get_datetime, pipeline_output
from zipline.pipeline import CustomClassifier, CustomFactor, Pipeline
from zipline.pipeline.data import USEquityPricing
from zipline.pipeline.factors import (
    EWMA, EWMSTD, RSI, VWAP, AnnualizedVolatility, AverageDollarVolume, BollingerBands,
    LinearWeightedMovingAverage, MaxDrawdown, Returns, SimpleMovingAverage,
)

SEEN = {}


class Bucket(CustomClassifier):
    inputs = [USEquityPricing.close]
    window_length = 1
    dtype = np.dtype("int64")
    missing_value = -1

    def compute(self, today, assets, out, close):
        out[:] = np.asarray(assets) % 3


class Range(CustomFactor):
    inputs = [USEquityPricing.high, USEquityPricing.low]
    window_length = 5

    def compute(self, today, assets, out, high, low):
        out[:] = np.nanmax(high, axis=0) - np.nanmin(low, axis=0)


def initialize(context):
    close = USEquityPricing.close
    sma = SimpleMovingAverage(inputs=[close], window_length=10)
    ret = Returns(window_length=10)
    adv = AverageDollarVolume(window_length=20)
    bucket = Bucket()
    lower, middle, upper = BollingerBands(window_length=20, k=2.0)
    liquid = adv.top(20)
    columns = {
        "latest": close.latest, "sma": sma, "ret": ret, "adv": adv, "rsi": RSI(),
        "ewma": EWMA.from_span(inputs=[close], window_length=15, span=8),
        "ewmstd": EWMSTD(inputs=[close], window_length=15, decay_rate=0.9),
        "vwap": VWAP(window_length=7), "upper": upper, "lower": lower, "middle": middle,
        "vol": AnnualizedVolatility(window_length=20), "range": Range(),
        "lwma": LinearWeightedMovingAverage(inputs=[close], window_length=6),
        "mdd": MaxDrawdown(inputs=[close], window_length=25),
        "mix": (sma - close.latest) / sma * 100 + ret ** 2,
        "rank": ret.rank(), "rank_desc_grouped": ret.rank(ascending=False, groupby=bucket),
        "rank_masked": ret.rank(mask=liquid),
        "z": ret.zscore(), "z_grouped": ret.zscore(groupby=bucket),
        "demean_masked": sma.demean(mask=liquid), "demean_grouped": ret.demean(groupby=bucket),
        "quintile": ret.quintiles(), "q3_masked": adv.quantiles(3, mask=liquid),
        "bucket": bucket,
        "top": ret.top(5), "bottom": ret.bottom(4, mask=liquid),
        "top_grouped": ret.top(2, groupby=bucket),
        "middle_band": ret.percentile_between(25, 75),
        "algebra": (ret > 0) & ~(close.latest < sma) | bucket.eq(1),
    }
    attach_pipeline(Pipeline(columns=columns), "factors")


def before_trading_start(context, data):
    SEEN[get_datetime().date()] = pipeline_output("factors")
"""


def test_pipeline_factors_match_zipline(zipline_env: dict, rbt_home: RbtHome) -> None:
    end = dt.date(2021, 8, 31)
    z_algo, r_algo = _load(PIPELINE_FACTORS, "zipline"), _load(PIPELINE_FACTORS, "rbt")
    run_zipline(PIPELINE_FACTORS, zipline_env, end=end, algo=z_algo)
    run_rbt(PIPELINE_FACTORS, rbt_home, end=end, algo=r_algo)
    z_seen, r_seen = z_algo["SEEN"], r_algo["SEEN"]
    assert sorted(z_seen) == sorted(r_seen)
    assert len(z_seen) > 100
    worst: dict[str, float] = {}
    for day in sorted(z_seen):
        z, r = z_seen[day], r_seen[day]
        assert [a.symbol for a in z.index] == [a.symbol for a in r.index], day
        assert list(z.columns) == list(r.columns)
        for column in z.columns:
            zc, rc = z[column].to_numpy(), r[column].to_numpy()
            if zc.dtype.kind == "f":
                np.testing.assert_array_equal(np.isnan(zc), np.isnan(rc), err_msg=column)
                keep = ~np.isnan(zc)
                worst[column] = max(worst.get(column, 0.0), _rel(zc[keep], rc[keep]))
            else:
                np.testing.assert_array_equal(zc, rc, err_msg=f"{day} {column}")
    MAX_REL["pipeline_factors"] = worst
    bad = {k: v for k, v in worst.items() if v > RTOL}
    assert not bad, f"pipeline columns differ beyond {RTOL}: {bad}"


# ------------------------------------------------------------------------------------------
# deliberate differences, each tested exactly (docs/migrating-from-zipline.md §3)
# ------------------------------------------------------------------------------------------
HISTORY_ON_DAY_ONE = """
from zipline.api import record, symbol

def initialize(context):
    context.asset = symbol("A00")

def handle_data(context, data):
    window = data.history(context.asset, "close", 10, "1d")
    record(n_nan=int(window.isna().sum()), last=float(window.iloc[-1]))
"""


def test_history_before_the_first_bar(zipline_env: dict, rbt_home: RbtHome) -> None:
    from zipline.errors import HistoryWindowStartsBeforeData

    end = dt.date(2021, 1, 8)
    with pytest.raises(HistoryWindowStartsBeforeData):
        run_zipline(HISTORY_ON_DAY_ONE, zipline_env, start=FIRST, end=end)
    perf = run_rbt(HISTORY_ON_DAY_ONE, rbt_home, start=FIRST, end=end).to_pandas()
    assert list(perf["n_nan"]) == [9, 8, 7, 6, 5]  # NaN-padded before the first bar


PIPELINE_WARM_UP = """
from zipline.api import attach_pipeline, pipeline_output, record
from zipline.pipeline import Pipeline
from zipline.pipeline.data import USEquityPricing
from zipline.pipeline.factors import SimpleMovingAverage

def initialize(context):
    sma = SimpleMovingAverage(inputs=[USEquityPricing.close], window_length=3)
    attach_pipeline(Pipeline({"sma": sma}), "p")

def before_trading_start(context, data):
    out = pipeline_output("p")
    record(rows=len(out), known=int(out["sma"].notna().sum()))
"""


def test_pipeline_needs_no_warm_up(zipline_env: dict, rbt_home: RbtHome) -> None:
    from zipline.data.bar_reader import NoDataOnDate

    end = dt.date(2021, 1, 8)
    with pytest.raises(NoDataOnDate):  # zipline looks for bars before the bundle's first
        run_zipline(PIPELINE_WARM_UP, zipline_env, start=FIRST, end=end)
    perf = run_rbt(PIPELINE_WARM_UP, rbt_home, start=FIRST, end=end).to_pandas()
    assert list(perf["rows"]) == [0, N_ASSETS, N_ASSETS, N_ASSETS, N_ASSETS]
    assert list(perf["known"]) == [0, 0, 0, N_ASSETS, N_ASSETS]  # NaN until 3 closes exist


FIXED_SLIPPAGE_WIDE = """
from zipline.api import order, set_slippage, symbol
from zipline.finance import slippage

def initialize(context):
    set_slippage(slippage.FixedSlippage(spread=200.0))
    context.day = 0

def handle_data(context, data):
    context.day += 1
    if context.day == 1:
        order(symbol("A03"), 10)
    elif context.day == 3:
        order(symbol("A03"), -10)
"""


def test_fixed_slippage_never_fills_at_a_non_positive_price(
    zipline_env: dict, rbt_home: RbtHome
) -> None:
    end = dt.date(2021, 3, 12)
    zperf = run_zipline(FIXED_SLIPPAGE_WIDE, zipline_env, end=end)
    z_sells = [t for day in zperf["transactions"] for t in day if t["amount"] < 0]
    assert len(z_sells) == 1
    assert z_sells[0]["price"] < 0  # zipline sells at close - 100 < 0
    result = run_rbt(FIXED_SLIPPAGE_WIDE, rbt_home, end=end)
    amounts = [float(a) for a in result.transactions["amount"].to_list()]
    assert amounts == [10.0]  # the buy fills (at close + 100), the sell never does
    sells = result.orders.filter(result.orders["amount"].cast(float) < 0)
    assert sells.height == 1
    assert sells["status"].to_list() == ["accepted"]  # still working, never filled
