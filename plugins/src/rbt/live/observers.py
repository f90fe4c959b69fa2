"""Observers of a live run: code that watches every event of a :class:`~rbt.live.engine.LiveRun`
without being able to stop it (shadow trading builds on this).

An observer is attached once after the run is composed and before its first event; it
then sees every clock event right after the live session stepped it (same order, same
bars visible in ``run.portal``), and is closed when the run ends. An exception from an
observer is caught, audited (``observer_error``) and logged, and that observer is
detached: **an observer never stops trading**. To stop trading on purpose an observer
calls ``run.trip(reason, details)``, which sets the persisted kill switch to HALTED.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Iterable
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from rbt.kernel.clock import ClockEvent

if TYPE_CHECKING:
    from rbt.live.engine import LiveRun

__all__ = ["LiveObserver", "Observers"]

log = logging.getLogger("rbt.live.observers")


@runtime_checkable
class LiveObserver(Protocol):
    """Watches a live run (see the module docstring for the contract)."""

    name: str

    def attach(self, run: LiveRun) -> None:
        """Called once, after composition, before the first event."""
        ...

    def on_event(self, event: ClockEvent) -> None:
        """Called after the live session stepped ``event``."""
        ...

    def close(self) -> None:
        """Called once when the run ends (also after a failure)."""
        ...


class Observers:
    """The attached observers of one run; isolates their failures from trading."""

    def __init__(self, run: LiveRun, observers: Iterable[LiveObserver]) -> None:
        self.run = run
        self.active: list[LiveObserver] = list(observers)
        self.detached: list[tuple[str, str]] = []

    def _fail(self, observer: LiveObserver, stage: str, ts: int, exc: BaseException) -> None:
        name = getattr(observer, "name", type(observer).__name__)
        text = f"{type(exc).__name__}: {exc}"
        log.error("observer %s failed in %s and was detached: %s", name, stage, text)
        self.run.journal.audit(
            ts,
            "observer_error",
            None,
            {
                "observer": name,
                "stage": stage,
                "error": text,
                "where": traceback.format_exception(exc)[-2:-1],
            },
        )
        self.run.journal.commit()
        if observer in self.active:
            self.active.remove(observer)
        self.detached.append((name, text))
        if stage != "close":
            try:
                observer.close()
            except Exception as second:
                log.error("observer %s failed again while closing: %s", name, second)

    def attach(self, ts: int) -> None:
        for observer in list(self.active):
            try:
                observer.attach(self.run)
            except Exception as exc:
                self._fail(observer, "attach", ts, exc)

    def on_event(self, event: ClockEvent) -> None:
        for observer in list(self.active):
            try:
                observer.on_event(event)
            except Exception as exc:
                self._fail(observer, "on_event", event.ts, exc)

    def close(self, ts: int) -> None:
        for observer in list(self.active):
            try:
                observer.close()
            except Exception as exc:
                self._fail(observer, "close", ts, exc)
        self.active.clear()
