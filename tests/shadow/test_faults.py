"""A rejected live order, a missing live fill and shadow failures are classified
correctly and never stop trading."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from rbt.data.db import open_database
from rbt.data.home import RbtHome
from rbt.kernel.costs import BarSnapshot
from rbt.kernel.model import Order
from rbt.shadow import ShadowBacktestEngine
from rbt.shadow.breaker import AlignmentBreaker
from rbt.shadow.checks import ExecutionQuality, Measurement, Observation, SignalAlignment
from rbt.shadow.store import load_rows

from .conftest import run_with_shadow


def _common(home: RbtHome) -> dict[str, Any]:
    return {
        "start": "2016-02-01",
        "end": "2016-03-31",
        "bundle": "demo",
        "home": home,
        "capital_base": 1_000_000,
        "commission": "none",
        "slippage": "none",
    }


def _home(tmp_path: Path, shared: RbtHome) -> RbtHome:
    home = RbtHome(tmp_path / "home")
    home.root.mkdir(parents=True, exist_ok=True)
    (home.root / "bundles").symlink_to(shared.root / "bundles")
    return home


def _executions(home: RbtHome, run_id: str) -> list[dict[str, Any]]:
    return [r["details"] for r in load_rows(open_database(home), run_id, "execution")]


def test_rejected_live_order_is_a_fill_rate_error_not_a_signal_miss(
    tmp_path: Path, shadow_home: RbtHome, strategies: dict[str, Path]
) -> None:
    home = _home(tmp_path, shadow_home)
    shadow = ShadowBacktestEngine()
    # the 3rd submit is lost on the wire: resolved by client id as REJECTED, never resent
    result, _ = run_with_shadow(
        strategies["every_bar"], shadow, lost_at=frozenset({3}), **_common(home)
    )
    assert result.trading_state == "ACTIVE"
    status = shadow.status()
    assert status["state"] == "running"
    assert status["metrics"]["match_rate"]["value"] == 1.0  # the decision was the same
    rejected = [e for e in _executions(home, result.run_id) if e["kind"] == "live_rejected"]
    assert len(rejected) == 1
    assert rejected[0]["live"]["id"].endswith("-3")
    assert rejected[0]["live"]["status"] == "rejected"
    assert rejected[0]["fill_rate_error"] == 1.0
    assert rejected[0]["shadow"]["status"] == "filled"
    # the rolling fill-rate error showed it while it was in the window (1 of <= 20)
    series = load_rows(open_database(home), result.run_id, "fill_rate_error")
    assert max(float(r["value"]) for r in series) >= 1 / 20


class NeverFillsOne:
    """The live venue never fills order number ``n`` (it keeps working, silently)."""

    def __init__(self, n: int) -> None:
        self.suffix = f"-{n}"

    def fill(
        self, order: Order, bar: BarSnapshot, base_price: Decimal, volume_used: Decimal
    ) -> tuple[Decimal, Decimal] | None:
        if order.id.endswith(self.suffix):
            return None
        return order.open_amount, base_price

    def __repr__(self) -> str:
        return f"NeverFillsOne({self.suffix})"


def test_missing_live_fill_after_the_grace_period(
    tmp_path: Path, shadow_home: RbtHome, strategies: dict[str, Path]
) -> None:
    home = _home(tmp_path, shadow_home)
    shadow = ShadowBacktestEngine(slippage="none")
    options = {**_common(home), "slippage": NeverFillsOne(4)}
    result, _ = run_with_shadow(strategies["every_bar"], shadow, **options)
    assert result.trading_state == "ACTIVE"
    missing = [e for e in _executions(home, result.run_id) if e["kind"] == "missing_live_fill"]
    assert len(missing) == 1
    sample = missing[0]
    assert sample["live"]["id"].endswith("-4")
    assert sample["live"]["status"] == "accepted"  # still working at the venue
    assert sample["fill_rate_error"] == 1.0
    # judged grace_bars (2) bars after the shadow's order was done
    assert sample["bar"] == sample["shadow"]["closed_bar"] + 2
    others = [e for e in _executions(home, result.run_id) if e["kind"] != "missing_live_fill"]
    assert others
    assert {e["kind"] for e in others} == {"ok"}


class FailsAfter:
    """The shadow's slippage model breaks at its ``n``-th fill."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.calls = 0

    def fill(
        self, order: Order, bar: BarSnapshot, base_price: Decimal, volume_used: Decimal
    ) -> tuple[Decimal, Decimal] | None:
        self.calls += 1
        if self.calls >= self.n:
            raise ZeroDivisionError("model bug in the shadow")
        return order.open_amount, base_price

    def __repr__(self) -> str:
        return f"FailsAfter({self.n})"


def test_shadow_exception_is_reported_and_trading_goes_on(
    tmp_path: Path, shadow_home: RbtHome, strategies: dict[str, Path]
) -> None:
    home = _home(tmp_path, shadow_home)
    shadow = ShadowBacktestEngine(slippage=FailsAfter(5))
    result, _ = run_with_shadow(strategies["every_bar"], shadow, **_common(home))
    assert result.trading_state == "ACTIVE"
    assert result.completed
    sessions = result.perf.height
    assert result.transactions.height >= 2 * (sessions - 2)  # live traded to the end
    status = shadow.status()
    assert status["state"] == "failed"
    assert "ZeroDivisionError: model bug in the shadow" in status["error"]
    db = open_database(home)
    rows = load_rows(db, result.run_id, "shadow_failed")
    assert len(rows) == 1
    assert rows[0]["details"]["traceback"]
    with db.connect() as conn:
        audit = conn.exec_driver_sql(
            "SELECT payload FROM order_audit_log WHERE event = 'shadow_failed'"
        ).fetchall()
    assert len(audit) == 1
    assert "model bug" in audit[0][0]
    from rbt.shadow.report import shadow_status

    assert shadow_status(db, result.run_id)["state"] == "failed"


class Broken:
    """A third-party check with a bug."""

    name = "broken"

    def observe(self, observation: Observation) -> Sequence[Measurement]:
        raise KeyError("bug")


def test_a_broken_check_is_dropped_alone(
    tmp_path: Path, shadow_home: RbtHome, strategies: dict[str, Path]
) -> None:
    home = _home(tmp_path, shadow_home)
    checks = [SignalAlignment(), Broken(), ExecutionQuality(), AlignmentBreaker()]
    shadow = ShadowBacktestEngine(checks=checks)
    result, _ = run_with_shadow(strategies["every_bar"], shadow, **_common(home))
    assert [c.name for c in shadow.checks] == [
        "signal_alignment",
        "execution_quality",
        "alignment_breaker",
    ]
    status = shadow.status()
    assert status["state"] == "running"
    assert status["metrics"]["match_rate"]["value"] == 1.0
    rows = load_rows(open_database(home), result.run_id, "shadow_check_failed")
    assert len(rows) == 1
    assert rows[0]["details"]["name"] == "broken"


def test_unloadable_strategy_fails_the_shadow_not_the_run(
    tmp_path: Path, shadow_home: RbtHome, strategies: dict[str, Path]
) -> None:
    home = _home(tmp_path, shadow_home)
    shadow = ShadowBacktestEngine(strategy=tmp_path / "missing.py")
    result, _ = run_with_shadow(strategies["every_bar"], shadow, **_common(home))
    assert result.completed
    assert result.transactions.height > 0
    assert shadow.status()["state"] == "failed"
    assert "strategy file not found" in (shadow.failed or "")


def test_a_restart_gives_a_failed_shadow_a_fresh_start(
    tmp_path: Path, shadow_home: RbtHome, strategies: dict[str, Path]
) -> None:
    from rbt.kernel.clock import ClockEvent, ClockEventKind
    from rbt.shadow.report import shadow_status

    from .conftest import StopRun

    home = _home(tmp_path, shadow_home)
    broken = ShadowBacktestEngine(slippage=FailsAfter(3))

    def stop(event: ClockEvent) -> bool:
        return broken.failed is not None and event.kind is ClockEventKind.SESSION_END

    with pytest.raises(StopRun):
        run_with_shadow(strategies["every_bar"], broken, stop_after=stop, **_common(home))
    db = open_database(home)
    with db.connect() as conn:
        (run_id,) = conn.exec_driver_sql("SELECT run_id FROM live_sessions").fetchone()
    assert shadow_status(db, run_id)["state"] == "failed"
    fresh = ShadowBacktestEngine(slippage="none")
    result, _ = run_with_shadow(strategies["every_bar"], fresh, **_common(home))
    status = shadow_status(db, result.run_id)
    assert status["state"] == "completed"
    assert status["error"] is not None  # the earlier failure stays on record
    assert fresh.status()["metrics"]["match_rate"]["value"] == 1.0
    assert len(load_rows(db, result.run_id, "shadow_started")) == 2


class CountsOrders:
    """A third-party check: how many orders each side decided (a plugin's provider)."""

    name = "mine.order_count"

    def __init__(self, settings: object) -> None:
        self.live = self.shadow = 0

    def observe(self, observation: Observation) -> Sequence[Measurement]:
        self.live += len(observation.live_new)
        self.shadow += len(observation.shadow_new)
        if not (observation.live_new or observation.shadow_new):
            return ()
        return (
            Measurement(
                check=self.name,
                metric="order_count_gap",
                value=float(self.live - self.shadow),
                samples=self.live + self.shadow,
            ),
        )


def test_a_plugin_check_runs_beside_the_built_ins(
    tmp_path: Path, shadow_home: RbtHome, strategies: dict[str, Path]
) -> None:
    from rbt.kernel import hookimpl
    from rbt.kernel.registry import Provider, ProviderKind
    from rbt.plugins import plugin_manager

    class Mine:
        @hookimpl
        def rbt_register_shadow_checks(self) -> Any:
            yield Provider(
                kind=ProviderKind.SHADOW_CHECK, name="mine.order_count", factory=CountsOrders
            )

    home = _home(tmp_path, shadow_home)
    shadow = ShadowBacktestEngine(manager=plugin_manager(plugins=[("mine", Mine())]))
    run_with_shadow(strategies["every_bar"], shadow, **_common(home))
    names = [c.name for c in shadow.checks]
    assert names[-1] == "alignment_breaker"  # breakers last, after the plugin's check
    assert "mine.order_count" in names
    gap = shadow.status()["metrics"]["order_count_gap"]
    assert gap["value"] == 0.0
    assert gap["samples"] > 0


def test_venue_latency_shows_as_slippage_error_not_as_a_signal_miss(
    tmp_path: Path, shadow_home: RbtHome, strategies: dict[str, Path]
) -> None:
    import datetime as dt

    home = _home(tmp_path, shadow_home)
    shadow = ShadowBacktestEngine(mode="live")  # 50 bps: this drift is measured, not tripped
    # orders reach the paper venue a day late: they fill a bar after the shadow's
    result, _ = run_with_shadow(
        strategies["every_bar"], shadow, latency=dt.timedelta(days=1), **_common(home)
    )
    status = shadow.status()
    assert status["metrics"]["match_rate"]["value"] == 1.0  # the same decisions
    samples = _executions(home, result.run_id)
    assert samples
    assert all(s["live"]["created"] == s["shadow"]["created"] for s in samples)
    assert any(abs(s["slippage_bps"] or 0) > 1 for s in samples)  # other bars, other prices
    assert status["metrics"]["fill_rate_error"]["value"] == 0.0
