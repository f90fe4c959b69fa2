"""Developer sessions. Every session runs in the workspace's locked uv environment.

nox -s tests      # the whole test suite (what CI runs)
nox -s lint       # ruff check + format check
nox -s typing     # mypy --strict on the kernel and the conformance kit
nox -s examples   # run every example end to end on the demo bundle
nox -s bench      # the peer benchmark, same-run peers (see benchmarks/README.md)
"""

from __future__ import annotations

import os
import tempfile

import nox

nox.needs_version = ">=2024.10.9"
nox.options.sessions = ["lint", "typing", "tests"]
nox.options.error_on_missing_interpreters = bool(os.environ.get("CI"))

UV_RUN = ("uv", "run", "--locked", "--all-packages")


def _uv(session: nox.Session, *args: str, env: dict[str, str] | None = None) -> None:
    session.run(*UV_RUN, *args, external=True, env=env)


@nox.session(venv_backend="none")
def tests(session: nox.Session) -> None:
    """Run the test suite on both cores."""
    _uv(session, "pytest", "-n", "auto", "-q", *session.posargs)


@nox.session(venv_backend="none")
def lint(session: nox.Session) -> None:
    """ruff: lint and formatting."""
    _uv(session, "ruff", "check", ".")
    _uv(session, "ruff", "format", "--check", ".")


@nox.session(venv_backend="none")
def typing(session: nox.Session) -> None:
    """mypy --strict on the kernel and the conformance kit."""
    _uv(session, "mypy", "kernel/src/rbt/kernel", "plugins/src/rbt/testing")


@nox.session(venv_backend="none")
def examples(session: nox.Session) -> None:
    """Ingest the demo bundle into a temporary home and run every example."""
    with tempfile.TemporaryDirectory() as home:
        _uv(session, "rbt", "ingest", "demo", "--home", home)
        for name in sorted(os.listdir("examples")):
            if name.endswith(".py"):
                _uv(
                    session,
                    "rbt",
                    "run",
                    f"examples/{name}",
                    "--start",
                    "2016-01-04",
                    "--end",
                    "2024-12-31",
                    "--home",
                    home,
                )


@nox.session(venv_backend="none")
def bench(session: nox.Session) -> None:
    """The peer benchmark (~15 min on 2 cores): RustyBT 3x on S, M, L and MIN (history and
    precomputed-indicator idioms, pandas guard on M, start-up), zipline-reloaded,
    backtrader and nautilus_trader once on S, M and MIN and the numpy reference on L, all
    in this session; writes docs/benchmarks.md. Arguments replace the scenario list."""
    args = session.posargs or ["S", "M", "L", "MIN", "--peers"]
    _uv(session, "python", "benchmarks/run.py", *args)
