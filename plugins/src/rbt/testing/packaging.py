"""Packaging checks for an installed plugin (TC-P..), without pytest.

Used by :class:`~rbt.testing.packaging_conformance.PackagingConformance` in tests and
by ``rbt plugins check NAME``::

    for result in run_packaging_checks("kraken"):
        print(result.code, "ok" if result.passed else "FAILED", result.title, result.detail)

Checks:

* TC-P01: exactly one distribution declares the entry point ``NAME`` in ``rbt.plugins``,
  it resolves, and it is a module or an instance (not a class);
* TC-P02: the import budget — importing the entry point in a fresh interpreter imports
  no module from :data:`FORBIDDEN_IMPORTS` (vendor SDKs and heavy frame libraries
  belong in factories, resolved only when a provider is used);
* TC-P03: every provider record is a :class:`~rbt.kernel.registry.Provider` of the
  hook's kind, named validly and namespaced ``NAME.``;
* TC-P04: ``check_pending()`` passes: no misspelt ``rbt_*`` hook;
* TC-P05: every provider's factory resolves to a callable;
* TC-P06: the distribution carries the ``rbt-plugin`` keyword (PyPI discoverability).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterable
from importlib.metadata import EntryPoint, entry_points
from typing import Any

import attrs
import pluggy

from rbt.kernel.manager import ENTRY_POINT_GROUP, RbtPluginManager
from rbt.kernel.registry import NAME_PATTERN, Provider, ProviderKind

__all__ = ["FORBIDDEN_IMPORTS", "CheckResult", "imported_modules", "run_packaging_checks"]

#: Top-level modules a plugin's entry point must not import (the import budget).
FORBIDDEN_IMPORTS = frozenset(
    {"ccxt", "ib_async", "binance", "polars", "pyarrow", "sqlalchemy", "pandas"}
)

_PROBE = """
import importlib.metadata as md, json, sys
sys.path[:] = json.loads(sys.argv[1])
before = set(sys.modules)
(ep,) = [e for e in md.entry_points(group={group!r}) if e.name == {name!r}][:1]
ep.load()
print(json.dumps(sorted(set(sys.modules) - before)))
"""


@attrs.frozen
class CheckResult:
    """The outcome of one packaging check."""

    code: str
    title: str
    passed: bool
    detail: str = ""


def imported_modules(name: str, *, python: str = sys.executable, timeout: float = 60) -> list[str]:
    """Modules that loading entry point ``name`` imports, measured in a fresh interpreter.

    The interpreter runs isolated (``-I``) with this process's ``sys.path``, so it sees
    the same installed distributions.

    :raises RuntimeError: when the entry point cannot be loaded there.
    """
    result = subprocess.run(
        [
            python,
            "-I",
            "-c",
            _PROBE.format(group=ENTRY_POINT_GROUP, name=name),
            json.dumps(sys.path),
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"loading entry point {name!r} failed:\n{result.stderr.strip()}")
    found: list[str] = json.loads(result.stdout.strip().splitlines()[-1])
    return found


def _records(plugin: object) -> Iterable[tuple[ProviderKind, Any]]:
    for kind in ProviderKind:
        impl: Callable[[], Iterable[Any]] | None = getattr(plugin, kind.hook_name, None)
        if impl is not None:
            for record in impl() or ():
                yield kind, record


def run_packaging_checks(
    name: str, *, forbidden: Iterable[str] = FORBIDDEN_IMPORTS, python: str = sys.executable
) -> list[CheckResult]:
    """Run every packaging check on the installed plugin ``name``; never raises for a failure."""
    results: list[CheckResult] = []
    claims: list[EntryPoint] = [
        ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == name
    ]
    plugin: object = None
    title = "entry point resolves to a module or an instance"
    if not claims:
        installed = sorted({ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)})
        results.append(
            CheckResult(
                "TC-P01",
                title,
                False,
                f"no entry point {name!r} in group {ENTRY_POINT_GROUP!r}; "
                f"installed: {', '.join(installed) or 'none'}",
            )
        )
    elif len(claims) > 1:
        dists = sorted(f"{ep.dist.name if ep.dist else '?'}" for ep in claims)
        results.append(
            CheckResult(
                "TC-P01", title, False, f"{name!r} is declared by several distributions: {dists}"
            )
        )
    else:
        try:
            plugin = claims[0].load()
        except Exception as exc:  # the check reports, it does not crash
            results.append(
                CheckResult(
                    "TC-P01", title, False, f"{claims[0].value}: {type(exc).__name__}: {exc}"
                )
            )
        else:
            if isinstance(plugin, type):
                results.append(
                    CheckResult(
                        "TC-P01",
                        title,
                        False,
                        f"{claims[0].value} is the class "
                        f"{plugin.__qualname__}; point at a module or an "
                        "instance",
                    )
                )
                plugin = None
            else:
                results.append(CheckResult("TC-P01", title, True, claims[0].value))
    if plugin is None:
        skipped = "not run: TC-P01 failed"
        for code, text in (
            ("TC-P02", "import budget"),
            ("TC-P03", "provider names"),
            ("TC-P04", "check_pending"),
            ("TC-P05", "factories resolve"),
            ("TC-P06", "rbt-plugin keyword"),
        ):
            results.append(CheckResult(code, text, False, skipped))
        return results

    # TC-P02: the import budget, in a fresh interpreter
    title = f"importing the entry point adds none of {', '.join(sorted(forbidden))}"
    try:
        new = imported_modules(name, python=python)
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        results.append(CheckResult("TC-P02", title, False, str(exc)))
    else:
        bad = sorted({m.split(".")[0] for m in new} & set(forbidden))
        results.append(
            CheckResult(
                "TC-P02",
                title,
                not bad,
                f"imported: {', '.join(bad)}" if bad else f"{len(new)} modules imported",
            )
        )

    # TC-P03: provider records valid and namespaced
    title = f"providers are valid Provider records named '{name}.<provider>'"
    problems: list[str] = []
    records: list[Provider] = []
    try:
        for kind, record in _records(plugin):
            if not isinstance(record, Provider):
                problems.append(f"{kind.hook_name} yielded {record!r}, not a Provider")
            elif record.kind is not kind:
                problems.append(f"{kind.hook_name} yielded {record.name!r} of kind {record.kind}")
            elif not NAME_PATTERN.match(record.name) or not (
                record.name.startswith(name + ".")
                or (kind is ProviderKind.COMMAND and record.name == name)  # `rbt <plugin>`
            ):
                problems.append(f"provider name {record.name!r} must start with {name + '.'!r}")
            else:
                records.append(record)
    except Exception as exc:  # a register hook that raises is a failure of this check
        problems.append(f"a register hook raised {type(exc).__name__}: {exc}")
    if not records and not problems:
        problems.append("the plugin registers no provider")
    results.append(
        CheckResult(
            "TC-P03", title, not problems, "; ".join(problems) or ", ".join(r.name for r in records)
        )
    )

    # TC-P04: no misspelt hook
    title = "check_pending(): every rbt_* function is a known hook"
    manager = RbtPluginManager()
    try:
        manager.register_module(plugin, name)
        manager.check_pending()
    except (pluggy.PluginValidationError, ValueError) as exc:
        results.append(CheckResult("TC-P04", title, False, str(exc)))
    else:
        results.append(CheckResult("TC-P04", title, True))

    # TC-P05: factories resolve
    title = "every provider's factory resolves to a callable"
    failures = []
    for record in records:
        try:
            record.load()
        except Exception as exc:  # reported, not raised
            failures.append(f"{record.name}: {exc}")
    results.append(CheckResult("TC-P05", title, not failures, "; ".join(failures)))

    # TC-P06: discoverable on PyPI
    title = "the distribution has the 'rbt-plugin' keyword"
    dist = claims[0].dist
    keywords = ",".join((dist.metadata.get_all("Keywords") or []) if dist is not None else [])
    words = {w.strip() for w in keywords.replace(",", " ").split()}
    results.append(
        CheckResult("TC-P06", title, "rbt-plugin" in words, f"keywords: {keywords or 'none'}")
    )
    return results
