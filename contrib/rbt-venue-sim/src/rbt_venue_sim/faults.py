"""Fault rules: what the control API (``/_sim/faults``) can inject.

A rule is a JSON object ``{"kind": ..., "count": 1, "method": ..., "path": ...,
...parameters}``; ``method`` and ``path`` (an exact request path such as
``/api/v3/order``, or a prefix ending with ``*``) select the REST requests it
applies to; ``count`` is how many matching requests (or reports) it affects
(``-1``: until cleared). Kinds:

=================  ==========================================================
``delay``          answer after ``seconds`` (the request is processed first,
                   unless ``"before": true``)
``drop``           close the connection without an answer; the request is
                   processed first (accepted, then reset) unless
                   ``"process": false``
``http_error``     answer ``status`` (default 503) with ``body`` (default a
                   plain-text reason), without processing the request, unless
                   ``"process": true`` (accepted, then 5xx)
``reject``         refuse an order placement with ``code`` / ``msg``
                   (default -2010 "Order was rejected by the simulator.")
``rate_limit``     every request gets 429 with ``Retry-After`` for ``seconds``
                   (a burst); ignoring it leads to 418 (see the README)
``duplicate_reports``  the next ``count`` execution reports are sent twice
``reorder_reports``    the next ``count`` execution reports are held and sent
                   in reverse order once ``count`` have been collected
``drop_reports``   the next ``count`` execution reports are not sent
``noisy_reports``  the next ``count`` execution reports are sent twice, the
                   second copy with the fields of ``set`` changed (same trade
                   id, other numbers)
=================  ==========================================================
"""

from __future__ import annotations

import itertools
from typing import Any

import attrs

__all__ = ["KINDS", "FaultBook", "FaultRule"]

KINDS = frozenset(
    {
        "delay",
        "drop",
        "http_error",
        "reject",
        "rate_limit",
        "duplicate_reports",
        "reorder_reports",
        "drop_reports",
        "noisy_reports",
    }
)
REPORT_KINDS = frozenset({"duplicate_reports", "reorder_reports", "drop_reports", "noisy_reports"})


@attrs.define(kw_only=True)
class FaultRule:
    id: int
    kind: str
    count: int = 1
    method: str | None = None
    path: str | None = None
    params: dict[str, Any] = attrs.Factory(dict)
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method.upper() != method.upper():
            return False
        if self.path is not None:
            if self.path.endswith("*"):
                return path.startswith(self.path[:-1])
            return path == self.path
        return True

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "count": self.count,
            "method": self.method,
            "path": self.path,
            "hits": self.hits,
            **self.params,
        }


class FaultBook:
    """The armed rules, consumed in the order they were added."""

    def __init__(self) -> None:
        self.rules: list[FaultRule] = []
        self._ids = itertools.count(1)

    def add(self, spec: dict[str, Any]) -> FaultRule:
        spec = dict(spec)
        kind = spec.pop("kind", None)
        if kind not in KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; one of {sorted(KINDS)}")
        count = int(spec.pop("count", 1))
        method = spec.pop("method", None)
        path = spec.pop("path", None)
        rule = FaultRule(
            id=next(self._ids), kind=kind, count=count, method=method, path=path, params=spec
        )
        self.rules.append(rule)
        return rule

    def clear(self) -> None:
        self.rules.clear()

    def take(
        self, kinds: frozenset[str] | set[str], method: str = "", path: str = ""
    ) -> FaultRule | None:
        """Consume one use of the first armed rule of ``kinds`` matching the request."""
        for rule in self.rules:
            if rule.kind in kinds and (rule.kind in REPORT_KINDS or rule.matches(method, path)):
                self._use(rule)
                return rule
        return None

    def peek(self, kinds: frozenset[str] | set[str]) -> FaultRule | None:
        for rule in self.rules:
            if rule.kind in kinds:
                return rule
        return None

    def _use(self, rule: FaultRule) -> None:
        rule.hits += 1
        if rule.count > 0:
            rule.count -= 1
            if rule.count == 0:
                self.rules.remove(rule)
