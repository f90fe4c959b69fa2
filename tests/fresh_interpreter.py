"""Which modules a fresh interpreter imports while running some code (for tests that keep
an import off a hot path: this interpreter has imported everything already)."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterable


def imported_by(code: str, modules: Iterable[str]) -> list[str]:
    """Those of ``modules`` that a new interpreter has imported after running ``code``.

    :raises AssertionError: when ``code`` fails (its stderr in the message).
    """
    probe = f"{code}\nimport sys\nprint(sorted(m for m in {list(modules)!r} if m in sys.modules))\n"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    loaded: list[str] = ast.literal_eval(done.stdout.strip().splitlines()[-1])
    return loaded
