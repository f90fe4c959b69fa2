"""The observer extension point: attached before the first event, called after each step,
isolated (a failing observer is audited and detached, trading goes on), and able to trip
the persisted kill switch."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path
from typing import Any

from rbt.data.home import RbtHome
from rbt.kernel.clock import ClockEvent, ClockEventKind
from rbt.live.engine import LiveRun, PaperRun, run_paper
from rbt.live.journal import verify_audit
from rbt.live.observers import LiveObserver

SPAN = {"start": "2016-01-04", "end": "2016-03-31", "bundle": "demo"}


def _home(tmp_path: Path, demo_home: RbtHome, name: str = "home") -> RbtHome:
    home = RbtHome(tmp_path / name)
    home.bundles.mkdir(parents=True)
    (home.bundles / "demo").symlink_to(demo_home.bundle("demo"))
    return home


class Recorder:
    """Sees what the session saw: the event, and the portal at the event's time."""

    name = "recorder"

    def __init__(self) -> None:
        self.run: LiveRun | None = None
        self.events: list[ClockEvent] = []
        self.attached_before_first_event = False
        self.closed = False
        self.seen_now: list[int] = []

    def attach(self, run: LiveRun) -> None:
        self.run = run
        self.attached_before_first_event = run.session.now == 0 and not self.events

    def on_event(self, event: ClockEvent) -> None:
        assert self.run is not None
        self.events.append(event)
        self.seen_now.append(self.run.portal.now)

    def close(self) -> None:
        self.closed = True


class Broken:
    """Fails at its third event."""

    name = "broken"

    def __init__(self) -> None:
        self.calls = 0
        self.closed = 0

    def attach(self, run: LiveRun) -> None:
        pass

    def on_event(self, event: ClockEvent) -> None:
        self.calls += 1
        if self.calls == 3:
            raise ZeroDivisionError("shadow model blew up")

    def close(self) -> None:
        self.closed += 1


class BrokenAtAttach:
    """Fails while attaching: never called again."""

    name = "broken-at-attach"

    def __init__(self) -> None:
        self.events = 0

    def attach(self, run: LiveRun) -> None:
        raise RuntimeError("no shadow data")

    def on_event(self, event: ClockEvent) -> None:
        self.events += 1

    def close(self) -> None:
        pass


class Tripper:
    """Trips the kill switch at the tenth session close (like a divergence breaker)."""

    name = "tripper"

    def __init__(self) -> None:
        self.run: LiveRun | None = None
        self.closes = 0

    def attach(self, run: LiveRun) -> None:
        self.run = run

    def on_event(self, event: ClockEvent) -> None:
        if event.kind is ClockEventKind.SESSION_END:
            self.closes += 1
            if self.closes == 10:
                assert self.run is not None
                self.run.trip("alignment: signal match 0.80 < 0.99", {"match_rate": "0.80"})

    def close(self) -> None:
        pass


def test_observers_see_every_event_and_failures_never_stop_trading(
    tmp_path: Path, demo_home: RbtHome, small_strategy: Path
) -> None:
    recorder, broken, early = Recorder(), Broken(), BrokenAtAttach()
    assert isinstance(recorder, LiveObserver)
    home = _home(tmp_path, demo_home)
    run = PaperRun(small_strategy, home=home, observers=[early, recorder, broken], **SPAN)
    try:
        result = asyncio.run(run.run())
        # what an observer needs is public
        assert run.strategy_spec == small_strategy
        assert run.mode == "paper"
        assert set(run.assets) == {a.sid for a in run.bars.assets}
        assert run.params is not None
        assert run.capital == 10_000_000
        assert run.commission_model is not None
        assert run.slippage_model is not None
        assert run.fill_timing == "next_close"
        assert run.calendar.name
        assert run.session.orders is not None
    finally:
        run.close()
    assert recorder.attached_before_first_event
    assert recorder.closed
    schedule = list(run.feed.schedule(run.sessions[0], run.sessions[-1]))
    assert recorder.events == schedule
    assert recorder.seen_now == [e.ts for e in recorder.events]  # called after the step
    assert broken.calls == 3  # detached after its failure
    assert broken.closed == 1
    assert result.trading_state == "ACTIVE"
    clean = run_paper(small_strategy, home=_home(tmp_path, demo_home, "clean"), **SPAN)
    assert result.final_value == clean.final_value
    assert result.transactions.drop("order_id").equals(clean.transactions.drop("order_id"))
    with sqlite3.connect(home.root / "rbt.sqlite") as db:
        rows = db.execute(
            "SELECT payload FROM order_audit_log WHERE event = 'observer_error'"
        ).fetchall()
    at_attach, payload = [json.loads(r[0]) for r in rows]
    assert (at_attach["observer"], at_attach["stage"]) == ("broken-at-attach", "attach")
    assert "RuntimeError: no shadow data" in at_attach["error"]
    assert early.events == 0
    assert payload["observer"] == "broken"
    assert payload["stage"] == "on_event"
    assert "ZeroDivisionError: shadow model blew up" in payload["error"]


def test_an_observer_trips_the_persisted_kill_switch(
    tmp_path: Path, demo_home: RbtHome, small_strategy: Path
) -> None:
    home = _home(tmp_path, demo_home)
    tripper = Tripper()
    run = PaperRun(small_strategy, home=home, observers=[tripper], **SPAN)
    try:
        result = asyncio.run(run.run())
        assert verify_audit(run.db, run.run_id) > 0
    finally:
        run.close()
    assert result.trading_state == "HALTED"
    assert result.state_reason.startswith("alignment: signal match")
    statuses: dict[str, Any] = {}
    for status in result.orders["status"].to_list():
        statuses[status] = statuses.get(status, 0) + 1
    assert statuses.get("denied", 0) > 0  # orders after the trip never reached the broker
    with sqlite3.connect(home.root / "rbt.sqlite") as db:
        (state,) = db.execute("SELECT trading_state FROM live_sessions").fetchone()
        (trip,) = db.execute("SELECT payload FROM order_audit_log WHERE event = 'trip'").fetchone()
    assert state == "HALTED"  # persisted: a restart stays halted until rbt resume
    assert json.loads(trip)["match_rate"] == "0.80"
