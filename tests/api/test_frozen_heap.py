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

    def initialize(self, context: Any) -> None:
        self.frozen_inside = gc.get_freeze_count()

    def handle_data(self, context: Any, data: Any) -> None:
        if self.fail:
            raise RuntimeError("the strategy fails")


def test_the_run_freezes_the_heap_it_starts_with_and_unfreezes_it(run) -> None:
    assert gc.get_freeze_count() == 0
    before = [object() for _ in range(10)]  # tracked only in a container: a list
    strategy = _SeesTheCollector()
    run(strategy)
    assert strategy.frozen_inside >= len(before)  # frozen during the run
    assert gc.get_freeze_count() == 0  # and given back


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
        assert not gc.isenabled()
    finally:
        gc.enable()
