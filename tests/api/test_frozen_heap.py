"""A backtest freezes the objects alive before it for its garbage collections, and gives
them back after it, also when it fails; a process that freezes objects itself keeps them."""

from __future__ import annotations

import gc
from typing import Any

import pytest

from rbt.api.algorithm import TradingAlgorithm


class _SeesTheCollector(TradingAlgorithm):
    """Notes what the collector looks like from inside the run; may fail on purpose."""

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.frozen_inside = -1
        self.marker = ["made before the run"]  # a tracked object, alive through the run
        self.marker_collectable_inside: bool | None = None

    def initialize(self, context: Any) -> None:
        self.frozen_inside = gc.get_freeze_count()
        # gc.get_objects() lists what collections walk: not the frozen generation
        self.marker_collectable_inside = _walked(self.marker)

    def handle_data(self, context: Any, data: Any) -> None:
        if self.fail:
            raise RuntimeError("the strategy fails")


def _walked(obj: object) -> bool:
    return any(o is obj for o in gc.get_objects())


def test_the_run_freezes_the_heap_it_starts_with_and_unfreezes_it(run) -> None:
    assert gc.get_freeze_count() == 0
    strategy = _SeesTheCollector()
    assert _walked(strategy.marker)
    run(strategy)
    assert strategy.marker_collectable_inside is False  # frozen during the run
    assert strategy.frozen_inside > 0
    assert gc.get_freeze_count() == 0  # and given back
    assert _walked(strategy.marker)


def test_a_failing_run_unfreezes_the_heap_too(run) -> None:
    strategy = _SeesTheCollector(fail=True)
    with pytest.raises(RuntimeError, match="the strategy fails"):
        run(strategy)
    assert strategy.frozen_inside > 0
    assert gc.get_freeze_count() == 0


def test_a_process_that_freezes_objects_itself_is_left_alone(run) -> None:
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()  # falls as frozen objects are freed, never rises
        young = [[] for _ in range(5000)]  # alive at the start of the run, not frozen
        strategy = _SeesTheCollector()
        run(strategy)
        # a run that froze the heap would have frozen the young lists too (5000 more)
        assert strategy.frozen_inside <= frozen
        del young
        assert 0 < gc.get_freeze_count() <= frozen  # nor unfrozen after it
    finally:
        gc.unfreeze()


def test_a_process_without_the_collector_is_left_alone(run) -> None:
    gc.disable()
    try:
        strategy = _SeesTheCollector()
        run(strategy)
        assert strategy.frozen_inside == 0
        assert strategy.marker_collectable_inside is True
        assert not gc.isenabled()
    finally:
        gc.enable()
