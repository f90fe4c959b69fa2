"""Shared fixtures of the shadow tests: a small demo bundle and strategies."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rbt.data.home import RbtHome
from rbt.data.ingest import ingest
from rbt.kernel.clock import ClockEvent

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"

#: Trades every bar: alternately buys and sells a fixed quantity of two assets, so each
#: bar gives one paired fill per asset (no dependence on prices: live and shadow decide
#: alike even when their fill prices differ).
EVERY_BAR = """
from rbt.api import order, symbol

def initialize(context):
    context.assets = [symbol("AAA"), symbol("BBB")]
    context.n = 0

def handle_data(context, data):
    context.n += 1
    for asset in context.assets:
        order(asset, 100 if context.n % 2 else -100)
"""

#: A strategy that keeps state on context and uses a limit order (as tests/live's).
SMALL = """
from rbt.api import order, order_target, symbol

def initialize(context):
    context.a = symbol("AAA")
    context.b = symbol("BBB")
    context.n = 0

def handle_data(context, data):
    context.n += 1
    if context.n % 3 == 0:
        order_target(context.a, 100 if context.portfolio.positions[context.a].amount == 0 else 0)
    if context.n % 5 == 0:
        price = data.current(context.b, "close")
        order(context.b, 50, limit_price=round(price * 0.99, 2))
"""


@pytest.fixture(scope="session")
def shadow_home(tmp_path_factory: pytest.TempPathFactory) -> RbtHome:
    home = RbtHome(tmp_path_factory.mktemp("shadow-home"))
    ingest(home, "demo", "demo", {"start": "2015-01-02", "end": "2016-12-30", "symbols": 20})
    return home


@pytest.fixture(scope="session")
def strategies(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("shadow-strategies")
    out = {}
    for name, text in (("every_bar", EVERY_BAR), ("small", SMALL)):
        path = root / f"{name}.py"
        path.write_text(text)
        out[name] = path
    return out


class StopRun(Exception):
    """Raised by a test to stop a paper run mid-way (as a crash would)."""


def run_with_shadow(
    strategy: Any,
    shadow: Any,
    *,
    stop_after: Callable[[ClockEvent], bool] | None = None,
    **kwargs: Any,
) -> tuple[Any, Any]:
    """A paper replay with ``shadow`` attached as an observer; returns (result, run).

    ``stop_after(event)`` returning True ends the run by raising :class:`StopRun` from the
    run's ``on_event`` callback (the process "stops"; the run stays restartable).
    """
    from rbt.live.engine import PaperRun

    run = PaperRun(strategy, observers=[shadow], **kwargs)
    if stop_after is not None:

        def on_event(event: ClockEvent) -> None:
            if stop_after(event):
                raise StopRun(event)

        run.on_event = on_event
    try:
        result = asyncio.run(run.run())
    finally:
        run.close()
    return result, run
