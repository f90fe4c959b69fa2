"""The shadow beside a streaming run (journal recovery: no replay to re-derive from).

After a restart the live books come back from the journal; the shadow starts from the
same books and strategy state, so the comparison resumes from agreement."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

import pytest

from rbt.data.db import open_database
from rbt.data.home import RbtHome
from rbt.live.engine import LiveRun
from rbt.live.feed import Bar, FeedError
from rbt.live.stream import RecordedBarStream
from rbt.shadow import ShadowBacktestEngine
from rbt.shadow.store import load_rows

DAY = 86_400_000_000_000
T0 = 1_704_067_200_000_000_000  # 2024-01-01 00:00 UTC
SYMBOLS = ("BTC/USDT", "ETH/USDT")

STRATEGY = """
from rbt.api import order, symbol

def initialize(context):
    context.btc = symbol("BTC/USDT")
    context.eth = symbol("ETH/USDT")
    context.n = 0

def handle_data(context, data):
    context.n += 1
    side = 1 if context.n % 2 else -1
    order(context.btc, 0.5 * side)
    if context.n % 3 == 0:
        order(context.eth, 2)
"""


def _bar(end: int, price: str) -> Bar:
    p = Decimal(price)
    return Bar(end, p, p + 1, p - 1, p, Decimal("100"), 10)


def _daily(days: int) -> list[tuple[str, Bar]]:
    out = []
    for i in range(days):
        end = T0 + (i + 1) * DAY
        out.append(("BTC/USDT", _bar(end, str(40000 + 100 * i))))
        out.append(("ETH/USDT", _bar(end, str(2000 + 5 * i))))
    return out


def _run(
    strategy: Path, home: RbtHome, messages: list[tuple[str, object]]
) -> tuple[LiveRun, ShadowBacktestEngine]:
    shadow = ShadowBacktestEngine()
    run = LiveRun(
        strategy,
        feed=RecordedBarStream("recorded", SYMBOLS, DAY, messages),
        home=home,
        capital_base=100_000,
        start="2024-01-01",
        observers=[shadow],
    )
    return run, shadow


@pytest.fixture
def strategy(tmp_path: Path) -> Path:
    path = tmp_path / "crypto.py"
    path.write_text(STRATEGY)
    return path


def test_shadow_on_a_stream_resumes_from_the_restored_books(tmp_path: Path, strategy: Path) -> None:
    home = RbtHome(tmp_path / "home")
    good = _daily(14)
    broken = [*good[:16], ("BTC/USDT", _bar(T0 + 2 * DAY, "1")), *good[16:]]  # an old bar
    run, shadow = _run(strategy, home, broken)  # type: ignore[arg-type]
    try:
        with pytest.raises(FeedError, match="out-of-order"):
            asyncio.run(run.run())
    finally:
        run.close()
    assert shadow.status()["metrics"]["match_rate"]["value"] == 1.0

    resumed, again = _run(strategy, home, good)  # type: ignore[arg-type]
    try:
        assert resumed.recovery == "journal"
        assert resumed.watermark is not None
        result = asyncio.run(resumed.run())
    finally:
        resumed.close()
    status = again.status()
    assert status["state"] == "running", status
    assert status["metrics"]["match_rate"]["value"] == 1.0
    assert status["metrics"]["slippage_error_bps"]["value"] == 0.0
    # seeded from the restored books and state: the shadow ends where live ends
    assert again.engine.context.n == resumed.engine.context.n == 14
    assert again.ledger.cash + again.ledger.positions_value() == result.final_value
    rows = load_rows(open_database(home), result.run_id)
    assert not [r for r in rows if r["metric"] in ("signal", "trip", "shadow_failed")]
    assert {r["value"] for r in rows if r["metric"] == "execution"} == {"ok"}
