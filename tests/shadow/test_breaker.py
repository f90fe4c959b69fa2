"""An injected, growing live slippage (2 → 20 → 80 bps) trips the alignment breaker at
the documented threshold within the documented number of paired fills; trading halts;
a restart stays halted until ``rbt resume``, which re-arms the breaker."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from rbt.cli.main import main as rbt_main
from rbt.data.db import open_database
from rbt.data.home import RbtHome
from rbt.kernel.clock import ClockEvent, ClockEventKind
from rbt.kernel.costs import BarSnapshot
from rbt.kernel.model import Order
from rbt.shadow import ShadowBacktestEngine
from rbt.shadow.store import load_rows

from .conftest import StopRun, run_with_shadow

PHASE = 30  # paired fills per phase before the slippage grows
WINDOW, MIN_FILLS, THRESHOLD = 20, 5, 10.0  # the documented paper defaults


class GrowingSlippage:
    """The live venue's slippage: 2 bps for the first PHASE fills, then 20, then 80.

    Fills the whole order at the reference price moved against it (a real slippage model
    on the paper broker; the shadow keeps the backtest's zero-slippage model).
    """

    def __init__(self) -> None:
        self.fills = 0

    def bps(self, n: int) -> int:
        return 2 if n < PHASE else 20 if n < 2 * PHASE else 80

    def fill(
        self, order: Order, bar: BarSnapshot, base_price: Decimal, volume_used: Decimal
    ) -> tuple[Decimal, Decimal] | None:
        bps = self.bps(self.fills)
        self.fills += 1
        return order.open_amount, base_price * (1 + order.direction * Decimal(bps) / 10_000)

    def __repr__(self) -> str:
        return "GrowingSlippage(2, 20, 80 bps)"


def _expected_trip(samples_per_bar: int = 2) -> int:
    """Paired fills counted when the rolling mean first exceeds the threshold, judged once
    per bar (each bar brings ``samples_per_bar`` paired fills)."""
    slip = GrowingSlippage()
    errors: list[int] = []
    while True:
        n = len(errors)
        errors.extend([slip.bps(n + k) for k in range(samples_per_bar)])
        window = errors[-WINDOW:]
        if len(errors) >= MIN_FILLS and sum(window) / len(window) > THRESHOLD:
            return len(errors)


def _common(home: RbtHome) -> dict[str, Any]:
    return {
        "start": "2016-01-04",
        "end": "2016-06-30",
        "bundle": "demo",
        "home": home,
        "capital_base": 1_000_000,
        "commission": "none",
    }


def test_growing_slippage_trips_halts_and_survives_restart(
    tmp_path: Path, shadow_home: RbtHome, strategies: dict[str, Path]
) -> None:
    home = RbtHome(tmp_path / "home")
    (home.root / "bundles").parent.mkdir(parents=True, exist_ok=True)
    (home.root / "bundles").symlink_to(shadow_home.root / "bundles")
    strategy = strategies["every_bar"]
    db = open_database(home)

    # 1. run until the third session close after the trip, then stop
    closes: list[int] = []

    def stop(event: ClockEvent) -> bool:
        if shadow.tripped is not None and event.kind is ClockEventKind.SESSION_END:
            closes.append(event.ts)
        return len(closes) == 3

    shadow = ShadowBacktestEngine(slippage="none")
    with pytest.raises(StopRun):
        run_with_shadow(
            strategy, shadow, stop_after=stop, slippage=GrowingSlippage(), **_common(home)
        )
    assert shadow.tripped is not None
    trips = load_rows(db, _run_id(db), "trip")
    assert len(trips) == 1
    report = trips[0]["details"]
    crossed = {c["metric"]: c for c in report["crossed"]}
    assert set(crossed) == {"slippage_error_bps"}, report
    slip = crossed["slippage_error_bps"]
    assert slip["value"] > THRESHOLD
    assert slip["threshold"] == THRESHOLD
    assert slip["samples"] == WINDOW
    # the report names the orders: the worst paired fills of the window, all 20 bps ones
    assert slip["orders"]
    assert all(o["live"].startswith("paper-") for o in slip["orders"])
    assert all(abs(o["slippage_bps"] - 20) < 1e-6 for o in slip["orders"])
    # the documented bound: at the expected count, within WINDOW fills after 20 bps began
    executions = [r for r in load_rows(db, _run_id(db), "execution") if r["ts"] <= trips[0]["ts"]]
    assert len(executions) == _expected_trip()
    assert PHASE < len(executions) <= PHASE + WINDOW
    # no trip in the 2 bps phase
    assert all(abs(r["details"]["slippage_bps"] - 2) < 1e-6 for r in executions[:PHASE])

    # trading halted: every live order after the trip was denied by the kill switch
    state = _session_row(db)
    assert state["trading_state"] == "HALTED"
    assert "alignment breaker" in state["state_reason"]
    after = _orders_after(db, trips[0]["ts"])
    assert after
    assert {o["status"] for o in after} == {"denied"}

    # 2. restart: the same command resumes; the run stays HALTED, no second trip
    again = ShadowBacktestEngine(slippage="none")
    result, _run = run_with_shadow(strategy, again, slippage=GrowingSlippage(), **_common(home))
    assert result.trading_state == "HALTED"
    assert "alignment breaker" in _session_row(db)["state_reason"]
    assert again.tripped is not None
    assert again.status()["state"] == "tripped"
    assert len(load_rows(db, result.run_id, "trip")) == 1
    assert {o["status"] for o in _orders_after(db, trips[0]["ts"])} == {"denied"}
    assert _filled_after(db, trips[0]["ts"] + 86_400 * 10**9) == 0
    # the HTML report names the trip and its orders
    from rbt.shadow.report import render_html

    page = render_html(db, result.run_id)
    assert "Breaker tripped" in page
    assert slip["orders"][0]["live"] in page
    # the series continued: one checkpoint per session, no duplicate timestamps
    rates = [r["ts"] for r in load_rows(db, result.run_id, "match_rate")]
    assert rates == sorted(set(rates))


def test_resume_rearms_the_breaker(
    tmp_path: Path, shadow_home: RbtHome, strategies: dict[str, Path]
) -> None:
    home = RbtHome(tmp_path / "home")
    (home.root / "bundles").parent.mkdir(parents=True, exist_ok=True)
    (home.root / "bundles").symlink_to(shadow_home.root / "bundles")
    db = open_database(home)

    def stop(event: ClockEvent) -> bool:  # at the session close after the trip
        return shadow.tripped is not None and event.kind is ClockEventKind.SESSION_END

    shadow = ShadowBacktestEngine(slippage="none")
    with pytest.raises(StopRun):
        run_with_shadow(
            strategies["every_bar"], shadow, stop_after=stop, slippage=GrowingSlippage(),
            **_common(home),
        )  # fmt: skip
    run_id = _run_id(db)
    # the operator resets the kill switch while the run is stopped
    assert rbt_main(["resume", "--run", run_id, "--home", str(home.root)]) == 0
    again = ShadowBacktestEngine(slippage="none")
    result, _ = run_with_shadow(
        strategies["every_bar"], again, slippage=GrowingSlippage(), **_common(home)
    )
    resets = load_rows(db, run_id, "breaker_reset")
    assert resets, "the reset re-arms the breaker"
    trips = load_rows(db, run_id, "trip")
    # re-armed with fresh windows: live traded again, then the 80 bps phase tripped anew
    assert len(trips) == 2
    assert trips[1]["ts"] > resets[-1]["ts"]
    assert _filled_after(db, resets[-1]["ts"]) > 0
    assert result.trading_state == "HALTED"


def _run_id(db: Any) -> str:
    with db.connect() as conn:
        (run_id,) = conn.exec_driver_sql("SELECT run_id FROM live_sessions").fetchone()
    return str(run_id)


def _session_row(db: Any) -> dict[str, Any]:
    with db.connect() as conn:
        row = conn.exec_driver_sql(
            "SELECT trading_state, state_reason FROM live_sessions"
        ).fetchone()
    return {"trading_state": row[0], "state_reason": row[1]}


def _orders_after(db: Any, ts: int) -> list[dict[str, Any]]:
    with db.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT client_order_id, status FROM orders WHERE created > ?", (ts,)
        ).fetchall()
        denied = conn.exec_driver_sql(
            "SELECT client_order_id, payload FROM order_audit_log WHERE event = 'denied' "
            "AND ts > ?",
            (ts,),
        ).fetchall()
    out = [{"id": r[0], "status": r[1]} for r in rows]
    out += [{"id": r[0], "status": "denied"} for r in denied]
    return out


def _filled_after(db: Any, ts: int) -> int:
    with db.connect() as conn:
        (count,) = conn.exec_driver_sql("SELECT COUNT(*) FROM fills WHERE ts > ?", (ts,)).fetchone()
    return int(count)
