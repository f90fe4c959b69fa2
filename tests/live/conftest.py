"""Shared fixtures of the live/paper tests: a demo bundle in a temporary home."""

from __future__ import annotations

from pathlib import Path

import pytest

from rbt.data.home import RbtHome
from rbt.data.ingest import ingest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"

SMALL = '''
"""A small strategy: alternates long and flat in two assets, with a limit order too."""
from rbt.api import order, order_target, symbol

def initialize(context):
    context.a = symbol("AAA")
    context.b = symbol("BBB")
    context.n = 0
    context.fills = 0

def handle_data(context, data):
    context.n += 1
    if context.n % 3 == 0:
        order_target(context.a, 100 if context.portfolio.positions[context.a].amount == 0 else 0)
    if context.n % 5 == 0:
        price = data.current(context.b, "close")
        order(context.b, 50, limit_price=round(price * 0.99, 2))

def on_order_fill(context, fill):
    context.fills += 1
'''


def make_home(root: Path) -> RbtHome:
    home = RbtHome(root)
    ingest(home, "demo", "demo", {"start": "2015-01-02", "end": "2017-12-29", "symbols": 20})
    return home


@pytest.fixture(scope="session")
def demo_home(tmp_path_factory: pytest.TempPathFactory) -> RbtHome:
    return make_home(tmp_path_factory.mktemp("live-home"))


@pytest.fixture(scope="session")
def small_strategy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("strategies") / "small.py"
    path.write_text(SMALL)
    return path
