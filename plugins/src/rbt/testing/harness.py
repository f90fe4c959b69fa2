"""The test harness: an isolated plugin manager plus the kernel pieces a test needs.

:class:`RbtHarness` is what the ``rbt_harness`` fixture yields (the pytester of
``rbt``). It builds a fresh :class:`~rbt.kernel.manager.RbtPluginManager` from the
built-ins, the plugin(s) under test and nothing else — no entry point is
autoloaded, whatever the environment says — in strict mode, so a plugin that
fails to load fails the test instead of becoming a warning.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import Any

from rbt.kernel import events as ev
from rbt.kernel.bus import EventBus
from rbt.kernel.clock import Frequency, SimClock, TradingCalendar
from rbt.kernel.ledger import Ledger
from rbt.kernel.manager import RbtPluginManager, make_plugin_manager
from rbt.kernel.registry import Provider, ProviderKind

__all__ = ["EVENT_TYPES", "EventRecorder", "RbtHarness", "default_builtins", "environ_unchanged"]

#: Every event type the kernel publishes on a bus.
EVENT_TYPES: tuple[type[ev.Event], ...] = (
    ev.SessionStarted,
    ev.BeforeTradingStart,
    ev.BarClosed,
    ev.OrderUpdated,
    ev.OrderFilled,
    ev.StrategyTurn,
    ev.SessionClosed,
)


def default_builtins() -> tuple[str, ...]:
    """The product's built-in plugin modules (:data:`rbt.plugins.BUILTINS`)."""
    from rbt.plugins import BUILTINS

    return BUILTINS


#: Variables changed behind the test's back: pytest's per-phase marker, and the
#: allocator setting polars writes into the environment when it is first imported.
_RUNNER_VARIABLES = frozenset({"PYTEST_CURRENT_TEST", "_RJEM_MALLOC_CONF"})


def _environ() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in _RUNNER_VARIABLES}


@contextlib.contextmanager
def environ_unchanged() -> Iterator[None]:
    """Fail if ``os.environ`` differs on exit from what it was on entry (no env leaks).

    ``PYTEST_CURRENT_TEST`` (pytest updates it per phase) and ``_RJEM_MALLOC_CONF``
    (polars sets it on first import) are ignored.
    """
    before = _environ()
    yield
    after = _environ()
    if after != before:
        added = sorted(after.keys() - before.keys())
        removed = sorted(before.keys() - after.keys())
        changed = sorted(k for k in before.keys() & after.keys() if before[k] != after[k])
        raise AssertionError(
            "os.environ leaked out of the test: "
            f"added {added}, removed {removed}, changed {changed}; "
            "use pytest's monkeypatch.setenv/delenv, which restores them"
        )


class EventRecorder:
    """Record every event published on a bus, in delivery order (pytest's HookRecorder)."""

    def __init__(self, bus: EventBus, types: Sequence[type[ev.Event]] = EVENT_TYPES) -> None:
        self.events: list[ev.Event] = []
        for event_type in types:
            bus.subscribe(event_type, self.events.append)

    def of_type(self, event_type: type[ev.Event]) -> list[ev.Event]:
        """Recorded events of exactly ``event_type``."""
        return [e for e in self.events if type(e) is event_type]

    def names(self) -> list[str]:
        """Class names of the recorded events, in order."""
        return [type(e).__name__ for e in self.events]

    def assert_sequence(self, expected: Sequence[type[ev.Event]], *, exact: bool = False) -> None:
        """Assert ``expected`` event types occur in this order.

        :param exact: the recorded types must equal ``expected``; otherwise they must
            contain it as a subsequence (other events may come in between).
        """
        recorded = [type(e) for e in self.events]
        wanted = [t.__name__ for t in expected]
        if exact:
            assert recorded == list(expected), f"expected exactly {wanted}, got {self.names()}"
            return
        position = 0
        for event_type in recorded:
            if position < len(expected) and event_type is expected[position]:
                position += 1
        assert position == len(expected), (
            f"expected {wanted} in this order; matched the first {position}, "
            f"recorded {self.names()}"
        )

    def assert_ordered(self) -> None:
        """Assert the recorded events are in non-decreasing ``(ts, rank)`` order."""
        keys = [(e.ts, e.rank) for e in self.events]
        assert keys == sorted(keys), f"events out of (ts, rank) order: {keys}"


class RbtHarness:
    """An isolated plugin manager with helpers; one per test.

    :param builtins: built-in plugin modules (default: :data:`rbt.plugins.BUILTINS`).
    :param entry_points: entry-point names of installed plugins under test; only these
        are loaded, strictly.
    :param plugins: ``(name, object)`` pairs registered in-process.
    """

    def __init__(
        self,
        *,
        builtins: Sequence[str] | None = None,
        entry_points: Sequence[str] = (),
        plugins: Sequence[tuple[str, object]] = (),
    ) -> None:
        self._builtins = tuple(builtins) if builtins is not None else None
        self._entry_points = list(entry_points)
        self._plugins = list(plugins)
        self._manager: RbtPluginManager | None = None

    # -- plugins -----------------------------------------------------------------
    def add_entry_point(self, name: str) -> None:
        """Load the installed plugin ``name`` (entry point in ``rbt.plugins``) too."""
        self._check_not_built()
        self._entry_points.append(name)

    def add_plugin(self, name: str, plugin: object) -> None:
        """Register ``plugin`` (a module or an instance) under ``name`` too."""
        self._check_not_built()
        self._plugins.append((name, plugin))

    def _check_not_built(self) -> None:
        if self._manager is not None:
            raise RuntimeError("the harness's plugin manager is already built; add plugins first")

    @property
    def manager(self) -> RbtPluginManager:
        """The plugin manager, built on first use."""
        if self._manager is None:
            builtins = self._builtins if self._builtins is not None else default_builtins()
            self._manager = make_plugin_manager(
                builtins=builtins,
                autoload=False,
                allow=list(self._entry_points),
                plugins=self._plugins,
                strict=True,
                trace=False,
            )
        return self._manager

    def provider(self, kind: ProviderKind, name: str) -> Provider:
        """The provider record of ``kind`` called ``name``."""
        return self.manager.get_provider(kind, name)

    def create(self, kind: ProviderKind, name: str, *args: Any, **kwargs: Any) -> Any:
        """Build the object provider ``name`` of ``kind`` provides."""
        return self.provider(kind, name).create(*args, **kwargs)

    def commission_model(self, name: str, **kwargs: Any) -> Any:
        """Build commission model ``name``."""
        return self.create(ProviderKind.COMMISSION_MODEL, name, **kwargs)

    def slippage_model(self, name: str, **kwargs: Any) -> Any:
        """Build slippage model ``name``."""
        return self.create(ProviderKind.SLIPPAGE_MODEL, name, **kwargs)

    def broker(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """Build broker ``name``."""
        return self.create(ProviderKind.BROKER, name, *args, **kwargs)

    # -- kernel pieces -----------------------------------------------------------
    @staticmethod
    def ledger(starting_cash: Decimal | int | str = 100_000, base_currency: str = "USD") -> Ledger:
        """A fresh in-memory ledger."""
        return Ledger(starting_cash, base_currency)

    @staticmethod
    def sim_clock(
        start: dt.date,
        end: dt.date,
        calendar: TradingCalendar | None = None,
        frequency: Frequency = Frequency.DAILY,
    ) -> SimClock:
        """A simulated clock (default calendar: 24/7 UTC days)."""
        if calendar is None:
            from rbt.plugins.calendars import AlwaysOpenCalendar

            calendar = AlwaysOpenCalendar()
        return SimClock(calendar, start, end, frequency)

    @staticmethod
    def recorder(bus: EventBus) -> EventRecorder:
        """Record every event on ``bus``."""
        return EventRecorder(bus)
