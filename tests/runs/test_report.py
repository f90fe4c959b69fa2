"""The HTML report: one self-contained file, checked in real headless Chromium.

Chromium runs with the flags CI uses (``--headless --no-sandbox --disable-gpu
--disable-background-networking --disable-component-update``); the test reads the
dumped DOM (plotly's SVG roots, the page's own render/error counters) and Chromium's
console log on stderr. Skipped, saying why, only when no chromium binary is installed
(``.ci/run`` installs Debian's).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from rbt.analytics.run_data import load_run
from rbt.report.html import REPORT_FILE, render_report, write_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--enable-logging=stderr",
    "--v=0",
    "--virtual-time-budget=10000",
]
#: equity, underwater, monthly, rolling Sharpe, rolling beta, exposure, largest position, weights
PLOTS = 8
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (apt-get install -y chromium)"
)


def chromium(page: Path, tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    profile = tmp_path / "chromium-profile"
    return subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *extra, page.resolve().as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def console_errors(stderr: str) -> list[str]:
    # Chromium logs page console messages as ...:CONSOLE(line)] "message", source: ...
    return [
        line
        for line in stderr.splitlines()
        if "CONSOLE" in line and re.search(r"error|uncaught|failed", line, re.I)
    ]


def test_report_is_one_self_contained_file(make_run, home) -> None:
    result = make_run()
    path = write_report(home, result.run_id)
    assert path == result.path / REPORT_FILE
    text = path.read_text(encoding="utf-8")
    assert not re.search(r"<script[^>]*\bsrc\s*=", text, re.I), "no external scripts"
    assert not re.search(r"<link[^>]*\bhref\s*=\s*[\"']?https?:", text, re.I)
    assert text.count('class="plotly-graph-div"') == PLOTS
    for heading in ("Equity", "Drawdown", "Monthly returns", "Rolling statistics", "Exposure",
                    "Concentration", "Trades", "Metrics", "Manifest"):  # fmt: skip
        assert f"<h2>{heading}" in text, heading
    # the manifest: strategy hash, parameters, bundle hash, versions
    for value in (result.manifest["strategy_hash"], "synthetic-seed-7", "rustybt-framework",
                  "symbol:IDX", "<td>fast</td>"):  # fmt: skip
        assert value in text, value


def _table_cells(text: str) -> list[str]:
    return re.findall(r"<td>(.*?)</td>", text)


def test_zero_trades_and_zero_volatility_render_without_nan(make_run, home, tmp_path) -> None:
    idle = tmp_path / "idle.py"
    idle.write_text("def initialize(context):\n    pass\n", encoding="utf-8")
    result = make_run(strategy=idle)
    assert result.metrics["annual_volatility"] == 0.0
    assert result.metrics["round_trips"] == 0.0
    text = render_report(load_run(result.path))
    cells = _table_cells(text)
    assert cells
    assert not [c for c in cells if re.search(r"\bnan\b|\binf", c, re.I)]
    assert "No closed round trips." in text


@needs_chromium
def test_report_renders_in_headless_chromium(make_run, home, tmp_path) -> None:
    result = make_run()
    path = write_report(home, result.run_id)
    done = chromium(path, tmp_path, "--dump-dom")
    assert done.returncode == 0, done.stderr[-2000:]
    dom = done.stdout
    assert f'data-rendered="{PLOTS}"' in dom, "every plot was drawn"
    assert 'data-js-errors="0"' in dom
    assert dom.count('class="main-svg"') >= PLOTS  # plotly's SVG roots
    assert "heatmaplayer" in dom  # the monthly returns heatmap
    assert console_errors(done.stderr) == []


@needs_chromium
def test_a_broken_page_is_detected(tmp_path) -> None:
    # the checks above can fail: a script error is seen in the console log and the DOM
    page = tmp_path / "broken.html"
    page.write_text(
        '<html data-js-errors="0"><body><script>'
        "window.addEventListener('error',function(){document.documentElement"
        ".setAttribute('data-js-errors','1')});</script>"
        "<script>undefinedFunction();</script></body></html>",
        encoding="utf-8",
    )
    done = chromium(page, tmp_path, "--dump-dom")
    assert 'data-js-errors="1"' in done.stdout
    assert console_errors(done.stderr), done.stderr[-2000:]


@needs_chromium
def test_screenshot(make_run, home, tmp_path) -> None:
    result = make_run()
    path = write_report(home, result.run_id)
    shot = tmp_path / "report.png"
    done = chromium(path, tmp_path, "--hide-scrollbars", "--window-size=1400,2400",
                    f"--screenshot={shot}")  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 50_000  # a rendered page, not a blank one
