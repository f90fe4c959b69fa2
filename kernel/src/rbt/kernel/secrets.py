"""A secret value that never prints (design.md §2.8).

``str``, ``repr``, ``format``, pickling and equality-by-display all hide the value; only
:meth:`Secret.reveal` returns it, at the one place a vendor client needs it.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import NoReturn

__all__ = ["Secret", "add_secret_listener"]

MASK = "********"

_listeners: list[Callable[[str], None]] = []


_live: weakref.WeakSet[Secret] = weakref.WeakSet()


def add_secret_listener(listener: Callable[[str], None]) -> None:
    """Call ``listener(value)`` for every live :class:`Secret` and every one created later.

    The log redaction filter (``rbt.security.redaction``) registers here, so a secret is
    masked in logs wherever it was made, even before the filter was imported. Idempotent.
    """
    if listener in _listeners:
        return
    _listeners.append(listener)
    for secret in list(_live):
        listener(secret._value)


class Secret:
    """An API key, secret or passphrase; :meth:`reveal` is the only way to read it."""

    __slots__ = ("__weakref__", "_value")

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError("a Secret holds a str")
        self._value = value
        _live.add(self)
        for listener in _listeners:
            listener(value)

    def reveal(self) -> str:
        """The plain value: hand it to the client that signs requests, nowhere else."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret({MASK!r})"

    def __str__(self) -> str:
        return MASK

    def __format__(self, spec: str) -> str:
        return MASK

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash((Secret, self._value))

    def __reduce__(self) -> NoReturn:
        raise TypeError("a Secret cannot be pickled (it would leave the process in clear)")
