"""A tiny synchronous, typed event dispatcher for per-bar traffic.

pluggy wires plugins together once; the bus carries the per-bar events,
with subscribers resolved per event type (no hook-call overhead per bar).
The bus enforces the total order documented in :mod:`rbt.kernel.events`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from rbt.kernel.errors import EventOrderError
from rbt.kernel.events import Event

__all__ = ["EventBus"]

E = TypeVar("E", bound=Event)


class EventBus:
    """Deliver events to subscribers in subscription order, checking the total order."""

    def __init__(self) -> None:
        #: event type -> handlers, in subscription order (read it; change it by subscribing)
        self.handlers: dict[type[Event], list[Callable[[Event], None]]] = {}
        self._last: tuple[int, int] = (-(2**63), 0)

    def subscribe(self, event_type: type[E], handler: Callable[[E], None]) -> None:
        """Call ``handler`` for every published event of exactly ``event_type``."""
        self.handlers.setdefault(event_type, []).append(handler)  # type: ignore[arg-type]

    def wants(self, event_type: type[Event]) -> bool:
        """Whether anything subscribes to ``event_type`` (a publisher may skip building
        an event nobody receives)."""
        return event_type in self.handlers

    def publish(self, event: Event) -> None:
        """Deliver ``event`` to its subscribers.

        :raises EventOrderError: if ``event`` comes before the previous one in
            ``(ts, rank)`` order.
        """
        self.deliver(event, self.handlers.get(type(event), ()))

    def mark(self, ts: int, rank: int, name: str) -> None:
        """Check and record an event ``name`` at ``(ts, rank)`` that a direct handler took
        without the event object being built (the session's strategy turn, once per bar;
        a fill nobody subscribes to).

        :raises EventOrderError: as :meth:`publish` (naming the event as it does).
        """
        key = (ts, rank)
        if key < self._last:
            raise EventOrderError(
                f"{name} at ts={ts} rank={rank} published after "
                f"ts={self._last[0]} rank={self._last[1]}"
            )
        self._last = key

    def deliver(self, event: Event, handlers: Sequence[Callable[[Event], None]]) -> None:
        """:meth:`publish` to ``handlers``, the subscribers of ``event``'s type as read from
        :attr:`handlers` (a publisher in a per-bar loop reads them once per run).

        :raises EventOrderError: as :meth:`publish`.
        """
        self.mark(event.ts, event.rank, type(event).__name__)
        for handler in handlers:
            handler(event)
