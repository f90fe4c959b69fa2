"""Live hooks and scheduling in replay time: on_order_fill, on_order_cancel,
on_order_reject, on_broker_message, schedule_function and before_trading_start."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from rbt.data.home import RbtHome
from rbt.live.engine import run_paper

HOOKS = """
from rbt.api import (cancel_order, date_rules, get_datetime, order, schedule_function,
                     set_max_order_size, symbol, time_rules)

def initialize(context):
    context.a = symbol("AAA")
    context.seen = {"fill": 0, "cancel": 0, "reject": 0, "message": 0, "bts": 0, "weekly": 0}
    context.bts_days = []
    set_max_order_size(max_shares=100, on_error="deny")
    schedule_function(weekly, date_rules.week_start(), time_rules.market_open())

def weekly(context, data):
    context.seen["weekly"] += 1

def before_trading_start(context, data):
    context.seen["bts"] += 1
    context.bts_days.append(get_datetime().date().isoformat())

def handle_data(context, data):
    if context.seen["bts"] == 2 and not context.seen["fill"]:
        order(context.a, 10)
        resting = order(context.a, 10, limit_price=0.01)
        cancel_order(resting)
        order(context.a, 1000)  # beyond the control: denied before the broker

def on_order_fill(context, fill):
    context.seen["fill"] += 1

def on_order_cancel(context, order):
    context.seen["cancel"] += 1

def on_order_reject(context, order):
    context.seen["reject"] += 1

def on_broker_message(context, message):
    context.seen["message"] += 1
"""


def test_live_hooks_and_replay_time_schedule(tmp_path: Path, demo_home: RbtHome) -> None:
    path = tmp_path / "hooks.py"
    path.write_text(HOOKS)
    home = RbtHome(tmp_path / "home")
    home.bundles.mkdir(parents=True)
    (home.bundles / "demo").symlink_to(demo_home.bundle("demo"))
    result = run_paper(path, home=home, start="2016-01-04", end="2016-02-26", bundle="demo")
    with sqlite3.connect(home.root / "rbt.sqlite") as db:
        (state,) = db.execute("SELECT state FROM strategy_state").fetchone()
    seen = json.loads(state)["attrs"]["seen"]
    days = json.loads(state)["attrs"]["bts_days"]
    assert result.completed
    assert seen["fill"] == 1
    assert seen["cancel"] == 1
    assert seen["reject"] == 1
    assert seen["message"] >= 3  # accepts, the cancel and the fill, as the venue sent them
    assert seen["bts"] == len(days) == 38  # one per replayed session, in replay time
    assert days[0] == "2016-01-04"
    assert seen["weekly"] == 8
