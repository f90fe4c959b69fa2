"""Benchmark alignment (CSV, bundle asset, set_benchmark) and the book metrics, on real runs."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import empyrical as ep
import numpy as np
import pytest

from rbt.analytics.benchmark import align_returns, read_returns_csv, resolve_benchmark
from rbt.api import TradingAlgorithm, order, run_backtest, set_benchmark, symbol
from rbt.data.bars import bars_from_floats
from rbt.kernel.errors import ConfigError
from rbt.kernel.model import Asset
from rbt.plugins import plugin_manager
from rbt.plugins.calendars import get_calendar

from .conftest import spy_csv

SESSIONS = list(get_calendar("XNYS").sessions(dt.date(2017, 1, 3), dt.date(2017, 12, 29)))
AAA, IDX = Asset(sid=1, symbol="AAA"), Asset(sid=2, symbol="IDX")


def make_bars():
    rng = np.random.default_rng(3)
    close = 50.0 * np.cumprod(1 + rng.normal(0.0005, 0.01, (len(SESSIONS), 2)), axis=0)
    return bars_from_floats([AAA, IDX], SESSIONS, {
        "open": close, "high": close * 1.01, "low": close * 0.99, "close": close,
        "volume": np.full(close.shape, 1e8)})  # fmt: skip


BARS = make_bars()
MANAGER = plugin_manager(autoload=False, strict=True)


class BuyAndHold(TradingAlgorithm):
    def initialize(self, context):
        context.done = False

    def handle_data(self, context, data):
        if not context.done:
            order(symbol("AAA"), 1000)
            context.done = True


class WithBenchmark(BuyAndHold):
    def initialize(self, context):
        super().initialize(context)
        set_benchmark(symbol("IDX"))


def run(strategy=BuyAndHold, **kwargs):
    kwargs.setdefault("write", False)
    kwargs.update(commission="none", slippage="none", capital_base=100_000)
    return run_backtest(
        strategy, start=SESSIONS[0], end=SESSIONS[-1], bars=BARS, manager=MANAGER, **kwargs
    )


def test_csv_alignment_rule(tmp_path: Path) -> None:
    s = SESSIONS[:5]  # Tue 3 .. Mon 9 Jan 2017 (the 7th and 8th are a weekend)
    path = tmp_path / "bench.csv"
    path.write_text(
        "Date,Return\n"
        "2016-12-30,0.5\n"  # before the run: ignored
        f"{s[0]},0.01\n"
        f"{s[1]},\n"  # empty: a gap
        f"{s[2]},0.02\n"  # s[3] is missing
        "2017-01-07,0.03\n"  # a Saturday: extra, dropped
        f"{s[4]} 00:00:00+00:00,-0.01\n"
    )
    bench = align_returns(read_returns_csv(path), s, "csv")
    assert bench.returns.tolist() == [0.01, 0.0, 0.02, 0.0, -0.01]
    assert (bench.missing, bench.extra) == (2, 1)
    assert bench.missing_dates == (s[1], s[3])
    assert bench.manifest()["first_missing"] == [s[1].isoformat(), s[3].isoformat()]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("when,ret\n2017-01-03,0.1\n", "line 1: expected columns date,return"),
        ("date,return\n2017-01-03,0.1\n03/01/2017,0.2\n", "line 3: expected a date"),
        ("date,return\n2017-01-03,abc\n", "line 2: return 'abc' is not a number"),
        ("date,return\n2017-01-03,0.1\n2017-01-03,0.2\n", "line 3: date 2017-01-03 appears twice"),
        ("date,return\n2017-01-03,-1.5\n", "is not a valid return"),
        ("", "empty benchmark file"),
    ],
)
def test_malformed_csv_is_rejected_naming_the_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        read_returns_csv(path)


def test_unknown_benchmark_symbol_suggests_close_matches() -> None:
    with pytest.raises(ConfigError, match="did you mean IDX"):
        resolve_benchmark("IDY", bars=BARS, sessions=SESSIONS, bundle="b")


def test_real_spy_csv_as_benchmark_equals_empyrical() -> None:
    result = run(benchmark=spy_csv())
    bench = result.manifest["benchmark"]
    assert bench["source"] == f"csv:{spy_csv().resolve()}"
    assert bench["missing_sessions"] == 0  # the real SPY file has every 2017 XNYS session
    spy = read_returns_csv(spy_csv())
    b = np.array([spy[s] for s in SESSIONS])
    r = result.perf["returns"].to_numpy()
    alpha, beta = ep.alpha_beta_aligned(r, b, annualization=252)
    assert result.metrics["beta"] == pytest.approx(beta, rel=1e-9, abs=1e-12)
    assert result.metrics["alpha"] == pytest.approx(alpha, rel=1e-9, abs=1e-12)


def test_bundle_asset_benchmark_and_set_benchmark() -> None:
    by_strategy = run(WithBenchmark)
    explicit = run(BuyAndHold, benchmark="IDX")
    assert by_strategy.manifest["benchmark"]["source"] == "symbol:IDX"
    assert by_strategy.metrics["beta"] == explicit.metrics["beta"] != 0.0
    closes = BARS.floats["close"][:, 1]
    expected = np.concatenate([[np.nan], closes[1:] / closes[:-1] - 1])
    # the first session has no earlier close in these bars: missing (0.0), counted
    assert by_strategy.manifest["benchmark"]["missing_sessions"] == 1
    r = by_strategy.perf["returns"].to_numpy()
    b = np.nan_to_num(expected)
    alpha, beta = ep.alpha_beta_aligned(r, b, annualization=252)
    assert by_strategy.metrics["beta"] == pytest.approx(beta, rel=1e-9)
    assert by_strategy.metrics["alpha"] == pytest.approx(alpha, rel=1e-9)
    # an explicit benchmark overrides the strategy's, and is part of the run id
    overridden = run(WithBenchmark, benchmark=spy_csv())
    assert overridden.manifest["benchmark"]["source"].startswith("csv:")
    assert overridden.run_id != by_strategy.run_id
    assert run(BuyAndHold).run_id != explicit.run_id
    assert "benchmark" not in run(BuyAndHold).manifest
    assert run(BuyAndHold).metrics["beta"] == 0.0  # no benchmark: 0, documented


def test_set_benchmark_only_in_initialize() -> None:
    class Late(BuyAndHold):
        def handle_data(self, context, data):
            set_benchmark(symbol("IDX"))

    with pytest.raises(Exception, match=r"set_benchmark\(\) can only be called in initialize"):
        run(Late)


def test_book_metrics_by_hand() -> None:
    result = run()
    perf = result.perf
    value = np.array([float(v) for v in perf["portfolio_value"]])
    held = np.array([float(v) for v in perf["positions_value"]])
    n = len(perf)
    (fill,) = result.transactions.iter_rows(named=True)
    i = perf["session"].to_list().index(fill["session"])
    notional = float(fill["amount"]) * float(fill["price"])
    assert result.metrics["turnover"] == pytest.approx(notional / value[i] / n * 252)
    assert result.metrics["exposure"] == pytest.approx(np.mean(held / value))
    assert result.metrics["net_exposure"] == pytest.approx(np.mean(held / value))
    assert result.metrics["time_in_market"] == pytest.approx(np.count_nonzero(held) / n)
    assert result.metrics["trades"] == 1.0
    assert result.metrics["round_trips"] == 0.0  # still open at the end: not a round trip
