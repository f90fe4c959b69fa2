"""Old code against new, in the same minutes: the comparison every speed claim rests on.

The machine's speed moves by up to ≈ 10 % within a session, more than most single steps
gain. So a step is measured against the code before it, the two alternating: each pair of
fresh processes runs ``benchmarks/run.py``'s timed child once with the revision's code and
once with the working tree's, in turn order, and the script reports both medians and
their ratio (below 1: the working tree is faster).

The revision's code comes from a temporary ``git worktree`` (removed at the end), with
the working tree's built C module copied in, so both sides run the same
``rbt.kernel._native``. Each child puts its own side's ``kernel/src`` and
``plugins/src`` first on ``sys.path``; everything else (the environment, the bench data,
the bundles and their array caches) is shared::

    uv run python benchmarks/ab.py HEAD~3 M            # 8 pairs on M
    uv run python benchmarks/ab.py b9a6004 L --pairs 4

Each child is the one ``nox -s bench`` times, so the figures are a first run in a fresh
process, as in ``docs/benchmarks.md``; both sides must give the same final value and fill
count. The bench data and bundles must exist (run ``benchmarks/run.py`` once).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

#: The child: the side's sources first on sys.path, then run.py's timed child.
_CHILD = r"""
import argparse, sys
root, scenario = sys.argv[1], sys.argv[2]
mine = (sys.argv[3] + "/kernel/", sys.argv[3] + "/plugins/")  # the installed sources
sys.path[:] = [p for p in sys.path if not (p + "/").startswith(mine)]
sys.path[0:0] = [root + "/kernel/src", root + "/plugins/src", root + "/benchmarks"]
import run
run.child(argparse.Namespace(child=scenario, strategy="dual_ma", fallback=False, profile=None))
import rbt.kernel.session
assert rbt.kernel.session.__file__.startswith(root), rbt.kernel.session.__file__
"""


def _worktree(revision: str, into: Path) -> Path:
    """A checkout of ``revision`` under ``into``, with this tree's built C module."""
    target = into / "old"
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", "-f", str(target), revision],
        check=True,
        capture_output=True,
    )
    module_dir = Path("kernel/src/rbt/kernel")
    for built in (ROOT / module_dir).glob("_native*.so"):
        shutil.copy2(built, target / module_dir / built.name)
    return target


def _child(root: Path, scenario: str) -> dict[str, Any]:
    """One timed run of ``scenario`` with the code under ``root``, in a fresh process."""
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(root), scenario, str(ROOT)],
        capture_output=True,
        text=True,
        cwd=tempfile.gettempdir(),  # nothing of the caller's directory on the path
        check=False,
    )
    if done.returncode:
        raise SystemExit(f"the run under {root} failed:\n{done.stderr[-3000:]}")
    line = next(x for x in done.stdout.splitlines() if x.startswith("RESULT "))
    result: dict[str, Any] = json.loads(line.removeprefix("RESULT "))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("revision", help="the old code: any git revision")
    parser.add_argument("scenario", nargs="?", default="M", help="S, M, L or MIN")
    parser.add_argument("--pairs", type=int, default=8, help="old/new pairs (default 8)")
    args = parser.parse_args()
    os.environ.setdefault("RBT_HOME", str(Path("~/.cache/rbt-bench").expanduser()))
    with tempfile.TemporaryDirectory(prefix="rbt-ab-") as scratch:
        old_root = _worktree(args.revision, Path(scratch))
        try:
            sides = {"old": old_root, "new": ROOT}
            wall: dict[str, list[float]] = {"old": [], "new": []}
            cpu: dict[str, list[float]] = {"old": [], "new": []}
            answers: set[tuple[object, object]] = set()
            for pair in range(args.pairs):
                for side in ("old", "new") if pair % 2 else ("new", "old"):
                    result = _child(sides[side], args.scenario.upper())
                    wall[side].append(result["run_s"])
                    cpu[side].append(result["cpu_s"])
                    answers.add((result["final_value"], result["fills"]))
        finally:
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(old_root)],
                check=False,
                capture_output=True,
            )
    if len(answers) != 1:
        raise SystemExit(f"the two sides disagree: {sorted(map(str, answers))}")
    for side in ("old", "new"):
        median = statistics.median(wall[side]) * 1e3
        print(
            f"{args.scenario.upper()} {side}: wall median {median:.1f} ms"
            f" (min {min(wall[side]) * 1e3:.1f}), CPU median "
            f"{statistics.median(cpu[side]) * 1e3:.1f} ms, {len(wall[side])} runs"
        )
    ratio = statistics.median(wall["new"]) / statistics.median(wall["old"])
    print(f"new / old wall: {ratio:.3f}  (final value and fills equal: {answers.pop()})")


if __name__ == "__main__":
    main()
