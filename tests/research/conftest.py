"""Real data for the research tests: the demo bundle (5 symbols, 2018–2019) ingested once.

Each test gets its own home (its own database) whose ``bundles`` directory links to the
session's ingested bundle, so sweeps checkpoint into a fresh SQLite file.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from rbt.data.home import RbtHome
from rbt.data.ingest import ingest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def demo_bundles(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("research-demo")
    ingest(
        RbtHome(root), "demo", "demo", {"symbols": 5, "start": "2018-01-02", "end": "2019-12-31"}
    )
    return RbtHome(root).bundles


@pytest.fixture
def home(tmp_path: Path, demo_bundles: Path) -> RbtHome:
    h = RbtHome(tmp_path / "home")
    h.root.mkdir(parents=True, exist_ok=True)
    h.bundles.symlink_to(demo_bundles, target_is_directory=True)
    return h


@pytest.fixture
def example() -> Path:
    """The example dual moving-average strategy (PARAMS fast, slow, universe)."""
    return ROOT / "examples" / "dual_moving_average.py"


@pytest.fixture
def flaky(tmp_path: Path) -> Path:
    path = tmp_path / "flaky.py"
    path.write_text(textwrap.dedent(FLAKY))
    return path


@pytest.fixture
def suicidal(tmp_path: Path) -> Path:
    path = tmp_path / "suicidal.py"
    path.write_text(textwrap.dedent(SUICIDAL))
    return path


# A strategy whose result depends on x and that raises for x == 3.
FLAKY = """
    from rbt.api import order_target_percent, symbol

    PARAMS = {"x": 1, "marker": ""}

    def initialize(context):
        if context.params.x == 3:
            raise RuntimeError("x=3 is not allowed")
        context.asset = symbol("AAA")

    def handle_data(context, data):
        order_target_percent(context.asset, context.params.x / 10)
"""

# Kills its own process the first time it runs with x == 2 (marker file), then behaves.
SUICIDAL = """
    import os, signal
    from pathlib import Path
    from rbt.api import order_target_percent, symbol

    PARAMS = {"x": 1, "marker": ""}

    def initialize(context):
        marker = Path(context.params.marker)
        if context.params.x == 2 and not marker.exists():
            marker.write_text(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGKILL)
        context.asset = symbol("AAA")

    def handle_data(context, data):
        order_target_percent(context.asset, context.params.x / 10)
"""
