"""The strategy base class and the adapter for Zipline-style module functions."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any, ClassVar

__all__ = ["FunctionStrategy", "TradingAlgorithm"]


class TradingAlgorithm:
    """Subclass this for a class-style strategy; override what you need.

    The same methods as Zipline's module functions, with ``self`` first. Declare
    parameters in ``PARAMS`` and read them from ``context.params``. Optional
    hooks ``on_order_fill``, ``on_order_cancel`` and ``on_order_reject`` run in
    every mode when defined: on the class or the instance from the start, or set on
    the instance later (looked for again after the strategy's own code runs; a hook
    added to the class during a run is not seen).
    """

    PARAMS: ClassVar[Mapping[str, Any]] = {}

    def initialize(self, context: Any) -> None:
        """Called once before the first session."""

    def handle_data(self, context: Any, data: Any) -> None:
        """Called on every bar."""

    def before_trading_start(self, context: Any, data: Any) -> None:
        """Called before each session opens."""

    def analyze(self, context: Any, perf: Any) -> None:
        """Called once after the run with the performance frame (pandas)."""


class FunctionStrategy(TradingAlgorithm):
    """Wrap Zipline-style functions (from a module or given directly) as a strategy."""

    def __init__(
        self,
        initialize: Callable[[Any], None] | None = None,
        handle_data: Callable[[Any, Any], None] | None = None,
        before_trading_start: Callable[[Any, Any], None] | None = None,
        analyze: Callable[[Any, Any], None] | None = None,
        params: Mapping[str, Any] | None = None,
        hooks: Mapping[str, Callable[..., Any]] | None = None,
        name: str = "strategy",
    ) -> None:
        self._initialize = initialize
        self._handle_data = handle_data
        if handle_data is not None:  # called once per bar: the function itself, no wrapper
            self.handle_data = handle_data  # type: ignore[method-assign]
        self._before = before_trading_start
        self._analyze = analyze
        self.PARAMS = dict(params or {})  # type: ignore[misc]
        self.name = name
        for hook, func in (hooks or {}).items():
            setattr(self, hook, func)

    @classmethod
    def from_module(cls, module: ModuleType) -> FunctionStrategy:
        """Collect ``initialize``, ``handle_data``, ... and ``PARAMS`` from a module."""
        get = lambda name: getattr(module, name, None)  # noqa: E731
        hooks = {
            h: get(h)
            for h in ("on_order_fill", "on_order_cancel", "on_order_reject", "on_broker_message")
            if callable(get(h))
        }
        return cls(
            get("initialize"),
            get("handle_data"),
            get("before_trading_start"),
            get("analyze"),
            params=get("PARAMS") or {},
            hooks=hooks,
            name=module.__name__,
        )

    def initialize(self, context: Any) -> None:
        if self._initialize is not None:
            self._initialize(context)

    def handle_data(self, context: Any, data: Any) -> None:
        if self._handle_data is not None:
            self._handle_data(context, data)

    def before_trading_start(self, context: Any, data: Any) -> None:
        if self._before is not None:
            self._before(context, data)

    def analyze(self, context: Any, perf: Any) -> None:
        if self._analyze is not None:
            self._analyze(context, perf)
