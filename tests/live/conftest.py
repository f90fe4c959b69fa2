"""Shared fixtures of the live/paper tests: a demo bundle in a temporary home, and journal
databases (SQLite and PostgreSQL)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from rbt.data.home import RbtHome
from rbt.data.ingest import ingest

from .postgres import SKIP_REASON, ThrowawayPostgres, binaries, create_database, drop_database

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


@pytest.fixture(scope="session")
def postgres_admin() -> Iterator[str]:
    """An admin URL of a PostgreSQL server on 127.0.0.1 (CI's, or a throwaway cluster)."""
    url = os.environ.get("RBT_TEST_POSTGRES_URL")
    if url:
        yield url
        return
    bins = binaries()
    if bins is None:
        pytest.skip(SKIP_REASON)
    server = ThrowawayPostgres(bins)
    admin = server.start()
    try:
        yield admin
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty journal database: a SQLite file, then a PostgreSQL database."""
    from rbt.data.db import dispose_all

    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'journal.sqlite'}"
        dispose_all()
        return
    admin = request.getfixturevalue("postgres_admin")
    url = create_database(admin)
    try:
        yield url
    finally:
        dispose_all()
        drop_database(admin, url)
