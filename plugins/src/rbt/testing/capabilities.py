"""Capabilities drive skips: a case that needs a feature runs only for providers declaring it.

The provider record (:attr:`rbt.kernel.registry.Provider.capabilities`) is the single
source of truth, for the kit, for ``rbt plugins`` and for the docs::

    class BrokerConformance(...):
        @requires(CANCEL)
        def test_tc_b04_cancel_an_open_order(self, ...): ...

A case decorated with :func:`requires` is skipped, with the missing names in the
reason, when the provider under test lacks any of them. No pytest marker is
involved, so ``--strict-markers`` needs no registration in the plugin's repository.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

__all__ = [
    "CANCEL",
    "LIMIT_ORDERS",
    "ORDER_ADDITIVE",
    "VOLUME_LIMIT",
    "missing_capabilities",
    "required_capabilities",
    "requires",
]

#: A slippage model with a ``volume_limit`` attribute (fraction of the bar's volume)
#: that never fills more than ``volume_limit × volume − volume_used`` on one bar.
VOLUME_LIMIT = "volume_limit"
#: A commission model whose fees for an order split into fills (same price) add up to
#: the fee of one fill of the whole order (per-order minimums and rounding applied once).
ORDER_ADDITIVE = "order_additive"
#: A broker that can cancel an open order.
CANCEL = "cancel"
#: A broker that accepts limit orders.
LIMIT_ORDERS = "limit"

_ATTR = "__rbt_requires__"
F = TypeVar("F", bound=Callable[..., object])


def requires(*capabilities: str) -> Callable[[F], F]:
    """Mark a conformance case as needing ``capabilities`` of the provider under test."""

    def mark(function: F) -> F:
        existing: frozenset[str] = getattr(function, _ATTR, frozenset())
        setattr(function, _ATTR, existing | frozenset(capabilities))
        return function

    return mark


def required_capabilities(function: object) -> frozenset[str]:
    """The capabilities :func:`requires` attached to ``function`` (empty if none)."""
    found: frozenset[str] = getattr(function, _ATTR, frozenset())
    return found


def missing_capabilities(function: object, declared: Iterable[str]) -> list[str]:
    """Required capabilities of ``function`` that ``declared`` lacks, sorted."""
    return sorted(required_capabilities(function) - frozenset(declared))
