"""``data.history`` is adjusted as of the simulation time only (hypothesis).

For random prices and random splits/dividends, at every point of a run (each bar and
each session start) the portal's window must equal

1. the window computed independently from the raw bars and only the actions whose
   ex-date is on or before the current session (Zipline's adjustment rules), and
2. the window of a bundle from which every action with a later ex-date was deleted —
   so no future action can ever leak into what a strategy sees.

Without actions in a window, the fast path (a read-only view) must be kept.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from rbt.data.actions import CorporateActions, DividendAction, SplitAction
from rbt.data.portal import BarPortal
from rbt.kernel.model import Asset

from .conftest import XNYS, daily

ASSETS = (Asset(sid=0, symbol="A"), Asset(sid=1, symbol="B"))
SESSIONS = list(XNYS.sessions(dt.date(2024, 1, 2), dt.date(2024, 2, 29)))
N = len(SESSIONS)


def expected(
    raw: np.ndarray, actions: CorporateActions, session: dt.date, end: int, count: int, field: str
) -> np.ndarray:
    out = np.full((count, raw.shape[1]), np.nan)
    start = end - count
    for k in range(count):
        row = start + k
        if row < 0:
            continue
        out[k] = raw[row]
        for j in range(raw.shape[1]):
            for split in actions.splits:
                if split.sid == j and SESSIONS[row] < split.ex_date <= session:
                    out[k, j] *= float(split.ratio) if field == "volume" else 1 / float(split.ratio)
            if field == "volume":
                continue
            for div in actions.dividends:
                if div.sid == j and SESSIONS[row] < div.ex_date <= session:
                    ex_row = SESSIONS.index(div.ex_date)
                    prev = raw_close[ex_row - 1, j]
                    out[k, j] *= 1 - float(div.amount) / prev
    return out


raw_close: np.ndarray = np.zeros(0)


@st.composite
def scenarios(draw):
    closes = (
        np.array(
            draw(st.lists(st.integers(1_000, 20_000), min_size=N * 2, max_size=N * 2)), dtype=float
        ).reshape(N, 2)
        / 100
    )
    splits, dividends = [], []
    for _ in range(draw(st.integers(0, 3))):
        row = draw(st.integers(1, N - 1))
        sid = draw(st.integers(0, 1))
        if any(s.sid == sid and s.ex_date == SESSIONS[row] for s in splits):
            continue
        ratio = draw(st.sampled_from(["2", "3", "1.5", "0.5", "0.1", "4"]))
        splits.append(SplitAction(sid, SESSIONS[row], Decimal(ratio)))
    for _ in range(draw(st.integers(0, 3))):
        row = draw(st.integers(1, N - 1))
        sid = draw(st.integers(0, 1))
        if any(d.sid == sid and d.ex_date == SESSIONS[row] for d in dividends):
            continue
        cents = draw(st.integers(1, 500))
        dividends.append(
            DividendAction(sid, SESSIONS[row], SESSIONS[row], Decimal(cents).scaleb(-2))
        )
    actions = CorporateActions(
        splits=tuple(sorted(splits, key=lambda a: a.ex_date)),
        dividends=tuple(sorted(dividends, key=lambda a: a.ex_date)),
    )
    return (
        closes,
        actions,
        draw(st.integers(1, 12)),
        draw(st.sampled_from(["close", "volume", "high"])),
    )


@settings(max_examples=60, deadline=None)
@given(scenarios())
def test_history_never_sees_a_future_action(scenario):
    global raw_close
    closes, actions, count, field = scenario
    raw_close = closes
    bars = daily(ASSETS, SESSIONS, closes, actions)
    raw = bars.floats[field]
    portal = BarPortal(bars, XNYS)
    for row, session in enumerate(SESSIONS):
        times = XNYS.session_times(session)
        past = CorporateActions(
            splits=tuple(a for a in actions.splits if a.ex_date <= session),
            dividends=tuple(a for a in actions.dividends if a.ex_date <= session),
        )
        truncated = BarPortal(daily(ASSETS, SESSIONS, closes, past), XNYS)
        for now, end in ((times.open - 45 * 60 * 10**9, row), (times.close, row + 1)):
            portal.advance(now)
            truncated.advance(now)
            table = portal.fixed_price_table()  # a row per cursor only without actions
            if actions.splits or actions.dividends:
                assert table is None
            elif portal.row >= 0:
                np.testing.assert_array_equal(table[portal.row], portal.price_row())
            got = portal.history(list(ASSETS), field, count, "1d", frame="numpy")
            universe = [ASSETS[1], ASSETS[0], ASSETS[1]]  # any order, an asset twice
            for name in ("price", field):  # a list in one array step: each asset's own value
                one_by_one = [portal.current(a, name) for a in universe]
                np.testing.assert_array_equal(portal.current(universe, name), one_by_one)
            want = expected(raw, actions, session, end, count, field)
            np.testing.assert_allclose(got, want, rtol=1e-12, equal_nan=True)
            np.testing.assert_array_equal(
                got, truncated.history(list(ASSETS), field, count, "1d", frame="numpy")
            )
            if (
                not any(
                    SESSIONS[max(end - count, 0)] < a.ex_date <= session
                    for a in (*actions.splits, *actions.dividends)
                )
                and end - count >= 0
            ):
                assert not got.flags.writeable  # the fast path: a view, nothing copied
