"""Scenario 14 (reliability.md §E): canary secrets never leak.

Canary credentials are stored with ``rbt credentials``, then everything that can run with
them runs with DEBUG logging to stderr and a log file: the credentials commands with
``--json``, a process that resolves them and logs them carelessly the way a vendor SDK
would (signed URLs, API-key headers, an exception carrying a signed URL), a paper run and
a backtest with its HTML report. Afterwards stdout, stderr, the log files, every file under
``$RBT_HOME``, every table of the SQLite database (the audit log included) and the reports
are searched for the canaries and their base64, hex and URL-encoded forms: zero
occurrences.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from rbt.data.home import RbtHome
from rbt.data.ingest import ingest
from tests.security.canary import CANARY, STORE_PASSWORD, leaks

HARNESS = textwrap.dedent(
    '''
    """Run the rbt CLI with DEBUG logging to stderr and a log file (sys.argv[1])."""
    import logging
    import sys

    logging.basicConfig(
        level=logging.DEBUG,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
        handlers=[logging.FileHandler(sys.argv[1]), logging.StreamHandler(sys.stderr)],
    )
    for name in ("ccxt", "urllib3", "aiohttp", "websockets"):
        logging.getLogger(name).setLevel(logging.DEBUG)  # library verbosity forced on
    from rbt.cli.main import main

    sys.exit(main(sys.argv[2:]))
    '''
)

# what a careless adapter or SDK does with resolved credentials; the filter must catch it
CARELESS = textwrap.dedent(
    """
    import logging
    import sys

    logging.basicConfig(
        level=logging.DEBUG,
        handlers=[logging.FileHandler(sys.argv[1]), logging.StreamHandler(sys.stderr)],
    )
    from rbt.data.home import RbtHome
    from rbt.security.credentials import resolve
    from rbt.security.redaction import install_redaction

    install_redaction()  # what the CLI and the live engine do at start
    creds = resolve(RbtHome(sys.argv[2]), "canary")
    key, secret = creds["apiKey"].reveal(), creds["secret"].reveal()
    log = logging.getLogger("ccxt.base.exchange")
    log.debug("GET https://api.binance.com/api/v3/account?timestamp=1&signature=%s", secret)
    log.debug("request headers %r", {"X-MBX-APIKEY": key, "Content-Type": "json"})
    log.info("credentials %s", creds)
    logging.getLogger("rbt.live").warning("signing with %s / %s / %s", key, secret,
                                          creds["password"].reveal())
    try:
        raise RuntimeError(f"binance 401 GET https://x/sapi?apiKey={key}&signature={secret}")
    except RuntimeError:
        log.exception("request failed for %s", key)
    print(creds)
    """
)

STRATEGY = textwrap.dedent(
    """
    from rbt.api import order_target, symbol

    def initialize(context):
        context.asset = symbol("AAA")
        context.n = 0

    def handle_data(context, data):
        context.n += 1
        if context.n % 5 == 0:
            order_target(context.asset, 100 if context.n % 10 else 0)
    """
)


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RBT_CRED")}
    return {
        **env,
        "RBT_HOME": str(home),
        "RBT_CREDENTIALS_PASSWORD": STORE_PASSWORD,
        "COLUMNS": "200",
        **extra,
    }


class Outputs:
    """Everything the processes of one scenario printed, plus their log files."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.texts: dict[str, str] = {}

    def run(
        self, label: str, args: list[str], *, stdin: str = "", env: dict[str, str]
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            args, input=stdin, capture_output=True, text=True, timeout=300, env=env, check=False
        )
        self.texts[f"{label}: stdout"] = done.stdout
        self.texts[f"{label}: stderr"] = done.stderr
        return done

    def rbt(self, label: str, *args: str, stdin: str = "", **env: str) -> dict[str, object]:
        log = self.work / f"{label}.log"
        harness = self.work / "harness.py"
        harness.write_text(HARNESS)
        home = self.work / "home"
        done = self.run(
            label,
            [sys.executable, str(harness), str(log), *args, "--home", str(home)],
            stdin=stdin,
            env=_env(home, **env),
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return json.loads(done.stdout) if done.stdout.lstrip().startswith(("{", "[")) else {}


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Outputs:
    work = tmp_path_factory.mktemp("canary")
    home = RbtHome(work / "home")
    ingest(home, "demo", "demo", {"start": "2016-01-04", "end": "2016-03-31", "symbols": 2})
    out = Outputs(work)
    stdin = "\n".join(CANARY[k] for k in ("apiKey", "secret", "password")) + "\n"
    added = out.rbt(
        "add",
        "credentials",
        "add",
        "canary",
        "--venue",
        "binance",
        "--stdin",
        "--json",
        stdin=stdin,
    )
    assert added["name"] == "canary"
    env_names = {
        "RBT_CRED_CANARY_ENV_API_KEY": CANARY["apiKey"],
        "RBT_CRED_CANARY_ENV_SECRET": CANARY["secret"],
    }
    out.rbt(
        "add-from-env",
        "credentials",
        "add",
        "canary-env",
        "--venue",
        "binance",
        "--from-env",
        "--json",
        **env_names,
    )
    listed = out.rbt("list", "credentials", "list", "--json", **env_names)
    assert isinstance(listed, list)
    # the store's two entries, and the environment's one under its variable's spelling
    assert {(r["name"], r["source"]) for r in listed} == {
        ("canary", "store"),
        ("canary-env", "store"),
        ("canary_env", "env"),
    }
    out.rbt("verify", "credentials", "verify", "--json")

    careless = work / "careless.py"
    careless.write_text(CARELESS)
    done = out.run(
        "careless",
        [sys.executable, str(careless), str(work / "careless.log"), str(home.root)],
        env=_env(home.root),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "ccxt.base.exchange" in done.stderr  # the records were written, masked

    strategy = work / "strategy.py"
    strategy.write_text(STRATEGY)
    paper = out.rbt(
        "paper",
        "paper",
        str(strategy),
        "--feed",
        "replay:demo",
        "--start",
        "2016-01-04",
        "--end",
        "2016-03-31",
        "--speed",
        "max",
        "--json",
        **env_names,
    )
    assert paper["orders"], paper
    backtest = out.rbt(
        "backtest",
        "run",
        str(strategy),
        "--start",
        "2016-01-04",
        "--end",
        "2016-03-31",
        "--report",
        "--json",
        **env_names,
    )
    assert backtest["report"]
    out.rbt("status", "status", "--json")
    return out


def test_the_careless_logging_was_masked_not_dropped(scenario: Outputs) -> None:
    log = (scenario.work / "careless.log").read_text()
    assert "X-MBX-APIKEY" in log
    assert "signature=********" in log
    assert "RuntimeError: binance 401" in log
    assert "Secret('********')" in scenario.texts["careless: stdout"]


def test_no_canary_in_any_output(scenario: Outputs) -> None:
    found = {label: leaks(text) for label, text in scenario.texts.items()}
    assert {k: v for k, v in found.items() if v} == {}


def test_no_canary_in_any_file(scenario: Outputs) -> None:
    files = [p for p in scenario.work.rglob("*") if p.is_file()]
    assert any(p.suffix == ".log" for p in files)
    assert any(p.name == "report.html" for p in files)
    assert any(p.name == "rbt.sqlite" for p in files)
    found = {str(p): leaks(p.read_bytes()) for p in files}
    assert {k: v for k, v in found.items() if v} == {}


def test_no_canary_in_any_table(scenario: Outputs) -> None:
    db = scenario.work / "home" / "rbt.sqlite"
    with sqlite3.connect(db) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        dump = "\n".join(conn.iterdump())
    assert len(tables) > 3
    assert "audit" in " ".join(tables)
    assert leaks(dump) == []
