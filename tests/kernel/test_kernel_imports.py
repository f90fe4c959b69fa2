"""The kernel's dependency rule: the standard library, attrs and pluggy, nothing else."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import rbt.kernel

ALLOWED_THIRD_PARTY = {"attrs", "attr", "pluggy", "rbt"}

_PROBE = """
import importlib, json, sys
before = set(sys.modules)
for name in {modules!r}:
    importlib.import_module(name)
print(json.dumps(sorted(set(sys.modules) - before)))
"""


def _kernel_modules() -> list[str]:
    names = ["rbt.kernel"]
    names += [f"rbt.kernel.{m.name}" for m in pkgutil.iter_modules(rbt.kernel.__path__)]
    return names


def _imported_by(modules: list[str]) -> list[str]:
    # -I: isolated mode (no PYTHON* variables, no user site): only what is installed counts
    result = subprocess.run(
        [sys.executable, "-I", "-c", _PROBE.format(modules=modules)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_every_kernel_module_is_found() -> None:
    found = set(_kernel_modules())
    assert {"rbt.kernel.ledger", "rbt.kernel.manager", "rbt.kernel.session"} <= found


def test_the_kernel_imports_only_stdlib_attrs_and_pluggy() -> None:
    modules = _kernel_modules()
    new = _imported_by(modules)
    assert set(modules) <= set(new)
    outside = sorted(
        name
        for name in new
        if name.split(".")[0] not in sys.stdlib_module_names
        and name.split(".")[0] not in ALLOWED_THIRD_PARTY
    )
    assert outside == [], f"the kernel imported modules outside its dependency rule: {outside}"
    rbt_modules = sorted(n for n in new if n.split(".")[0] == "rbt")
    assert all(n == "rbt" or n.startswith("rbt.kernel") for n in rbt_modules), rbt_modules
