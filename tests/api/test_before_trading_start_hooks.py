"""before_trading_start runs however a strategy defines it, and only then."""

from __future__ import annotations

from rbt.api.algorithm import FunctionStrategy, TradingAlgorithm
from rbt.api.engine import _has_before_trading_start

from .conftest import SESSIONS


class Plain(TradingAlgorithm):
    pass


class Subclassed(TradingAlgorithm):
    calls = 0

    def before_trading_start(self, context, data):
        self.calls += 1


class FunctionSubclass(FunctionStrategy):
    calls = 0

    def before_trading_start(self, context, data):
        self.calls += 1


def test_only_strategies_that_define_it_have_it() -> None:
    assert not _has_before_trading_start(Plain())
    assert not _has_before_trading_start(FunctionStrategy(handle_data=lambda c, d: None))
    assert _has_before_trading_start(Subclassed())
    assert _has_before_trading_start(FunctionStrategy(before_trading_start=lambda c, d: None))
    assert _has_before_trading_start(FunctionSubclass(handle_data=lambda c, d: None))
    attached = Plain()
    attached.before_trading_start = lambda c, d: None  # an instance attribute counts too
    assert _has_before_trading_start(attached)


def test_each_definition_runs_once_per_session(run) -> None:
    counts: dict[str, int] = {}

    def module_style(context, data) -> None:
        counts["function"] = counts.get("function", 0) + 1

    attached = Plain()
    attached.before_trading_start = lambda context, data: counts.__setitem__(
        "attached", counts.get("attached", 0) + 1
    )
    run(FunctionStrategy(before_trading_start=module_style))
    run(attached)
    sub = Subclassed()
    run(sub)
    function_subclass = FunctionSubclass(handle_data=lambda c, d: None)
    run(function_subclass)
    assert function_subclass.calls == len(SESSIONS)
    assert counts == {"function": len(SESSIONS), "attached": len(SESSIONS)}
    assert sub.calls == len(SESSIONS)


class Attaching(TradingAlgorithm):
    """Attaches ``before_trading_start`` to itself in ``initialize`` or at the third bar."""

    def __init__(self, when: str) -> None:
        super().__init__()
        self.when = when
        self.bars = 0
        self.seen: list[object] = []

    def _attach(self) -> None:
        self.before_trading_start = lambda context, data: self.seen.append(data.current_dt)

    def initialize(self, context):
        if self.when == "initialize":
            self._attach()

    def handle_data(self, context, data):
        self.bars += 1
        if self.when == "third bar" and self.bars == 3:
            self._attach()


def test_a_hook_attached_during_the_run_is_heard_from_the_next_session_on(run) -> None:
    early, late = Attaching("initialize"), Attaching("third bar")
    run(early)
    run(late)
    assert len(early.seen) == len(SESSIONS)
    assert len(late.seen) == len(SESSIONS) - 3  # sessions 4 onwards
    assert late.seen == early.seen[3:]
