"""A sweep process SIGKILLed half-way resumes without redoing or double-counting trials."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import sqlalchemy as sa

from rbt.research import optimize
from rbt.research.store import SweepStore

UNIVERSE = {"universe": "AAA,BBB,CCC,DDD,EEE"}
WINDOW = {"start": "2018-06-01", "end": "2018-12-31"}
SPACE = {"fast": "int:2:13", "slow": "int:30:60:10"}  # 12 x 4 = 48 trials


def _count(home) -> int:
    engine = sa.create_engine(home.database_url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text("select count(*) from trials")).scalar() or 0
    except sa.exc.OperationalError:  # the table is not there yet
        return 0
    finally:
        engine.dispose()


def test_sweep_killed_half_way_resumes(home, example, tmp_path):
    script = tmp_path / "sweep.py"
    script.write_text(
        textwrap.dedent(
            f"""
            from rbt.research import optimize
            if __name__ == "__main__":
                optimize({str(example)!r}, {SPACE!r}, home={str(home.root)!r},
                         params={UNIVERSE!r}, batch_size=4, **{WINDOW!r})
            """
        )
    )
    proc = subprocess.Popen([sys.executable, str(script)], env=os.environ.copy())
    try:
        deadline = time.monotonic() + 120
        while _count(home) < 12:
            assert proc.poll() is None, "the sweep ended before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    store = SweepStore(home)
    (sweep,) = store.sweeps()
    assert sweep["status"] == "running"
    before = store.trials(sweep["id"])
    assert 12 <= len(before) < 48

    res = optimize(example, SPACE, home=home, params=UNIVERSE, batch_size=4, **WINDOW)
    assert res.sweep_id == sweep["id"]
    assert res.resumed == len(before)
    assert res.ran == 48 - len(before)
    after = store.trials(res.sweep_id)
    assert len(after) == len(res.trials) == 48  # nothing lost, nothing twice
    for tid, rec in before.items():  # finished trials were not run again
        assert after[tid]["finished_at"] == rec["finished_at"]
    assert store.sweeps()[0]["status"] == "finished"
    fresh = optimize(
        example, SPACE, home=home, params=UNIVERSE, batch_size=4, checkpoint=False, **WINDOW
    )
    assert [t["metrics"] for t in fresh.trials] == [t["metrics"] for t in res.trials]
    assert [t["trial_id"] for t in fresh.trials] == [t["trial_id"] for t in res.trials]
