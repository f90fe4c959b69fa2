"""The backtest's array fast paths give exactly what the general Decimal paths give."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import attrs
import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from rbt.api import order, order_target
from rbt.api.algorithm import TradingAlgorithm
from rbt.api.engine import PositionBlock, PositionRows, SessionRecord
from rbt.api.portfolio import PositionView, make_view
from rbt.api.results import build_frames
from rbt.kernel.model import Asset
from tests.fresh_interpreter import imported_by

from .conftest import AAA, BBB, SESSIONS, build_bars


class Trader(TradingAlgorithm):
    """Buys and sells whole shares of two assets on a fixed pattern."""

    def initialize(self, context):
        context.bar = 0

    def handle_data(self, context, data):
        trade_on_pattern(context)


def trade_on_pattern(context) -> None:
    """The fixed pattern: whole shares of AAA and BBB, AAA closed every 11th bar."""
    k = context.bar
    if k % 7 == 0:
        order(AAA, 10 + k)
    if k % 5 == 1:
        order(BBB, 3)
    if k % 11 == 10:
        order_target(AAA, 0)
    context.bar += 1


def test_recorded_positions_value_is_the_exact_sum_of_the_positions_frame(run) -> None:
    closes = np.round(np.random.default_rng(3).uniform(10, 200, (len(SESSIONS), 2)) * 8) / 8
    result = run(Trader(), bars=build_bars(close=closes), commission="none", slippage="none")
    positions = result.positions
    assert len(positions) > 0
    for session, value in zip(
        result.perf["session"].to_list(), result.perf["positions_value"].to_list(), strict=True
    ):
        rows = positions.filter(positions["session"] == session)
        total = sum(
            (a * p for a, p in zip(rows["amount"].to_list(), rows["last_price"].to_list(),
                                   strict=True)),
            Decimal(0),
        )  # fmt: skip
        assert total == value
        k = SESSIONS.index(session)
        for sid, price in zip(rows["sid"].to_list(), rows["last_price"].to_list(), strict=True):
            assert float(price) == closes[k, sid - 1]  # the session's own close


def _records() -> list[SessionRecord]:
    d = dt.date(2024, 1, 2)

    def rows(sids: list[int], amounts: list[int], mantissas: list[int]) -> PositionRows:
        n = len(sids)
        return PositionRows(
            np.array(sids, dtype=np.int64),
            np.array(amounts, dtype=np.int64),
            np.array(mantissas, dtype=np.int64),
            np.full(n, 3, dtype=np.int64),
        )

    specs = [((1, 2), (5, -7), (100125, 3000)), (), ((2,), (9,), (0,))]
    out = []
    for k, spec in enumerate(specs):
        positions = rows(*map(list, spec)) if spec else ()
        out.append(SessionRecord(
            session=d + dt.timedelta(days=k), ts=k, cash=Decimal(1), positions_value=Decimal(0),
            fills=0, orders=0, recorded={}, positions=positions,
        ))  # fmt: skip
    return out


def test_position_rows_read_as_decimal_rows() -> None:
    rows = _records()[0].positions
    expected = ((1, Decimal(5), Decimal("100.125")), (2, Decimal(-7), Decimal("3.000")))
    assert len(rows) == 2
    assert tuple(rows) == expected
    assert rows == expected
    assert rows[1] == expected[1]


@given(
    st.lists(st.integers(-(2**63), 2**63 - 1), max_size=40),
    st.integers(0, 18),
)
def test_decimal_column_from_integers_is_each_mantissa_at_the_scale(mantissas, scale) -> None:
    # the 128-bit words are written by hand (low word, then its sign extension): every
    # int64, the extremes and zero included, must read back as mantissa / 10**scale
    from rbt.api.results import _decimal_from_ints

    column = _decimal_from_ints("x", np.array(mantissas, dtype=np.int64), scale)
    assert column.to_list() == [Decimal(m).scaleb(-scale) for m in mantissas]


def test_positions_frame_from_arrays_equals_the_row_by_row_frame() -> None:
    records = _records()
    as_tuples = [attrs.evolve(r, positions=tuple(r.positions)) for r in records]
    assets = {1: AAA, 2: BBB}
    fast = build_frames(records, [], [], assets, Decimal(1), {})[3]
    slow = build_frames(as_tuples, [], [], assets, Decimal(1), {})[3]
    assert fast.schema == slow.schema
    assert fast.equals(slow)
    assert fast["last_price"].to_list() == [Decimal("100.125"), Decimal("3.000"), Decimal("0")]


HALF = Asset(sid=2, symbol="HALF", multiplier="0.5")


@settings(max_examples=60, deadline=None)
@given(
    sessions=st.lists(
        st.lists(st.tuples(st.sampled_from([1, 2]), st.integers(-(10**6), 10**6)), max_size=2),
        min_size=1,
        max_size=12,
    ),
    scale=st.integers(0, 3),
    odd=st.none() | st.tuples(st.integers(0, 11), st.integers(0, 3)),
    block_rows=st.integers(1, 5),
    shared=st.integers(1, 12),
)
@example(sessions=[[(1, 5)], [(2, 7)]], scale=1, odd=None, block_rows=1, shared=1)
@example(sessions=[[(1, 5)], [(2, 7)]], scale=1, odd=(1, 2), block_rows=1, shared=2)
@example(sessions=[[(1, 5)], [(2, 7)]], scale=1, odd=(1, 2), block_rows=2, shared=1)
def test_positions_frame_built_in_blocks_equals_the_row_by_row_frame(
    sessions, scale, odd, block_rows, shared
) -> None:
    # blocks of at most block_rows rows (a session's rows never split), chained; prices of
    # several scales (one session's ``odd`` one, in its block or another) take the
    # row-by-row path
    from rbt.api.results import _positions_from_arrays, positions_frame

    scales = [scale] * 12
    if odd is not None:
        scales[odd[0]] = odd[1]
    d = dt.date(2024, 1, 2)
    records = []
    for k, rows in enumerate(sessions):
        positions: object = ()
        if rows:
            sids = np.array([sid for sid, _ in rows], dtype=np.int64)
            positions = PositionRows(
                sids,
                np.array([k + 1 for _ in rows], dtype=np.int64),
                np.array([m for _, m in rows], dtype=np.int64),
                np.full(len(rows), scales[k], dtype=np.int64),
            )
        records.append(SessionRecord(
            session=d + dt.timedelta(days=k), ts=k, cash=Decimal(1), positions_value=Decimal(0),
            fills=0, orders=0, recorded={}, positions=positions,
        ))  # fmt: skip
    as_tuples = [attrs.evolve(r, positions=tuple(r.positions)) for r in records]
    # the same rows as the engine records them: views of blocks that ``shared`` consecutive
    # sessions have in common (the closes valued together)
    viewed = []
    for start in range(0, len(records), shared):
        group = records[start : start + shared]
        block = PositionBlock(
            *(
                np.concatenate(
                    [getattr(r.positions, f) for r in group if len(r.positions)] or [[]]
                ).astype(np.int64)
                for f in PositionBlock._fields
            )
        )
        lo = 0
        for r in group:
            hi = lo + len(r.positions)
            rows_ = PositionRows.of_block(block, lo, hi) if hi > lo else ()
            assert rows_ == r.positions
            viewed.append(attrs.evolve(r, positions=rows_))
            lo = hi
    assets = {1: AAA, 2: HALF}  # a block holding only AAA: the multipliers' scale is still 1
    slow = positions_frame(as_tuples, assets)
    blocked = _positions_from_arrays(records, assets, block_rows=block_rows)
    used = {scales[k] for k, rows in enumerate(sessions) if rows}
    if len(used) > 1 or not used:
        assert blocked is None
        assert _positions_from_arrays(viewed, assets, block_rows=block_rows) is None
        return
    assert blocked is not None
    assert blocked.schema == slow.schema
    assert blocked.equals(slow)
    assert blocked.equals(positions_frame(records, assets))
    from_views = _positions_from_arrays(viewed, assets, block_rows=block_rows)
    assert from_views is not None
    assert from_views.schema == slow.schema
    assert from_views.equals(slow)


FINE = Asset(sid=3, symbol="FINE", multiplier="1.0000000000000000001")  # text in a frame


@pytest.mark.parametrize(
    ("sessions", "block_rows", "from_arrays"),
    [
        ([[1], [3]], 1, False),  # a Decimal block and a text block: the row-by-row path
        ([[1], [3]], 2, True),  # one block, text: as the row-by-row path
        ([[3], [3, 1]], 1, True),  # text in every block: chained
    ],
)
def test_positions_frame_with_multipliers_beyond_a_decimal_column(
    sessions, block_rows, from_arrays
) -> None:
    from rbt.api.results import _positions_from_arrays, positions_frame

    d = dt.date(2024, 1, 2)
    records = [
        SessionRecord(
            session=d + dt.timedelta(days=k), ts=k, cash=Decimal(1), positions_value=Decimal(0),
            fills=0, orders=0, recorded={},
            positions=PositionRows(
                np.array(sids), np.ones(len(sids), np.int64), np.full(len(sids), 7, np.int64),
                np.full(len(sids), 2, np.int64),
            ),
        )
        for k, sids in enumerate(sessions)
    ]  # fmt: skip
    assets = {1: AAA, 3: FINE}
    blocked = _positions_from_arrays(records, assets, block_rows=block_rows)
    as_tuples = [attrs.evolve(r, positions=tuple(r.positions)) for r in records]
    slow = positions_frame(as_tuples, assets)
    assert slow.schema["multiplier"] == pl.String
    if not from_arrays:
        assert blocked is None
        return
    assert blocked is not None
    assert blocked.schema == slow.schema
    assert blocked.equals(slow)


def test_positions_frame_does_not_import_numpy_ma() -> None:
    """Building the frame in blocks leaves ``numpy.ma`` unimported (a fresh interpreter:
    this one has it already; polars imports it for a numpy argument)."""
    code = (
        "import datetime as dt, numpy as np\n"
        "from decimal import Decimal\n"
        "from rbt.api.engine import PositionRows, SessionRecord\n"
        "from rbt.api.results import _positions_from_arrays\n"
        "from rbt.kernel.model import Asset\n"
        "one = np.ones(2, dtype=np.int64)\n"
        "rows = PositionRows(np.array([1, 2]), one, one * 5, one * 2)\n"
        "records = [SessionRecord(session=dt.date(2024, 1, 2 + k), ts=k, cash=Decimal(1),\n"
        "    positions_value=Decimal(0), fills=0, orders=0, recorded={}, positions=rows)\n"
        "    for k in range(3)]\n"
        "assets = {1: Asset(sid=1, symbol='A'), 2: Asset(sid=2, symbol='B')}\n"
        "assert len(_positions_from_arrays(records, assets, block_rows=2)) == 6\n"
    )
    assert imported_by(code, ["numpy.ma"]) == []


def test_position_views_are_immutable_records_with_zipline_fields() -> None:
    view = make_view((AAA, 3.0, 10.5, 11.0))
    assert isinstance(view, PositionView)
    assert (view.asset, view.amount, view.cost_basis, view.last_sale_price) == (
        AAA, 3.0, 10.5, 11.0,
    )  # fmt: skip
    assert view.sid == AAA.sid
    assert view == PositionView(AAA, 3.0, 10.5, 11.0)
    assert view != PositionView(AAA, 3.0, 10.5, 12.0)


def test_position_views_pickle_and_copy() -> None:
    import copy
    import pickle

    view = PositionView(AAA, 2.0, 10.0, 10.5)
    assert pickle.loads(pickle.dumps(view)) == view
    assert copy.deepcopy(view) == view


class FractionalTrader(TradingAlgorithm):
    """Whole and fractional amounts mixed: the exact record falls back to the ledger."""

    def initialize(self, context):
        context.bar = 0

    def handle_data(self, context, data):
        if context.bar == 1:
            order(FRAC, 2.5)
            order(AAA, 3)
        if context.bar == 20:
            order_target(FRAC, 0)
        context.bar += 1


FRAC = Asset(sid=3, symbol="FRAC", lot_size="0.01", tick_size="0.01")


def test_fractional_positions_take_the_ledger_path_with_the_same_values(run) -> None:
    closes = np.round(np.random.default_rng(5).uniform(10, 200, (len(SESSIONS), 2)) * 8) / 8
    bars = build_bars(assets=(AAA, FRAC), close=closes)
    result = run(FractionalTrader(), bars=bars, commission="none", slippage="none")
    positions = result.positions
    for session, value in zip(
        result.perf["session"].to_list(), result.perf["positions_value"].to_list(), strict=True
    ):
        rows = positions.filter(positions["session"] == session)
        total = sum(
            (a * p for a, p in zip(rows["amount"].to_list(), rows["last_price"].to_list(),
                                   strict=True)),
            Decimal(0),
        )  # fmt: skip
        assert total == value
    assert Decimal("2.5") in positions["amount"].to_list()


class BBBFirst(TradingAlgorithm):
    def initialize(self, context):
        context.bar = 0

    def handle_data(self, context, data):
        if context.bar == 0:
            order(BBB, 5)
        if context.bar == 1:
            order(AAA, 7)
        context.bar += 1


def test_positions_rows_follow_the_ledger_order_of_first_fills(run) -> None:
    """The ledger lists positions in the order they were first filled; so do the rows."""
    result = run(BBBFirst(), commission="none", slippage="none")
    last = result.positions.filter(result.positions["session"] == SESSIONS[-1])
    assert last["symbol"].to_list() == ["BBB", "AAA"]


def test_repeated_numpy_history_equals_a_fresh_portal_even_when_the_list_changes() -> None:
    """The cached column lookup of ``history(frame="numpy")`` never serves a stale universe."""
    from rbt.data.portal import BarPortal

    from .conftest import CAL

    ccc = Asset(sid=3, symbol="CCC")
    rng = np.random.default_rng(5)
    closes = np.round(rng.uniform(10, 200, (len(SESSIONS), 3)) * 8) / 8
    bars = build_bars(assets=(AAA, BBB, ccc), close=closes)
    cached, fresh_bars = BarPortal(bars, CAL), bars
    universe = [AAA, BBB]
    frozen = (ccc, AAA)
    for k, session in enumerate(SESSIONS):
        ts = CAL.session_times(session).close
        cached.advance(ts)
        if k == 20:
            universe[1] = ccc  # mutated in place: the cache must notice
        if k == 40:
            universe.append(BBB)
        for assets, field in ((universe, "close"), (frozen, "open"), (universe, "volume")):
            fresh = BarPortal(fresh_bars, CAL)
            fresh.advance(ts)
            got = cached.history(assets, field, 5, "1d", frame="numpy")
            want = fresh.history(list(assets), field, 5, "1d", frame="numpy")
            assert got.shape == want.shape == (5, len(assets))
            np.testing.assert_array_equal(got, want)
            if k >= 4:
                cols = [bars.column(a) for a in assets]
                np.testing.assert_array_equal(got[-1], closes[k, cols] if field == "close"
                                              else bars.floats[field][k, cols])  # fmt: skip


class _ViewReader(TradingAlgorithm):
    """Trades like :class:`Trader`; keeps every bar's positions and reads some later."""

    def initialize(self, context):
        context.bar = 0
        self.kept = []
        self.read_now = []

    def handle_data(self, context, data):
        k = context.bar
        positions = context.portfolio.positions
        self.kept.append((positions, AAA in positions, len(positions)))
        if k % 3 == 0:  # read at once on some bars, later (at the end) on the others
            self.read_now.append((k, {a: tuple(v) for a, v in positions.items()}))
        trade_on_pattern(context)


def test_positions_read_late_are_the_snapshot_of_their_bar(run) -> None:
    """Views are built lazily, but from their own bar's prices: reading a bar's
    ``positions`` after the run gives what reading it on that bar gave."""
    from rbt.api.portfolio import Positions

    closes = np.round(np.random.default_rng(9).uniform(10, 200, (len(SESSIONS), 2)) * 8) / 8
    closes[:3, 1] = np.nan  # BBB has no bar yet: its views keep the fill price
    bars = build_bars(close=closes)
    strategy = _ViewReader()
    run(strategy, bars=bars, commission="none", slippage="none")
    read_now = dict(strategy.read_now)
    seen_held = 0
    for k, (positions, had_aaa, n) in enumerate(strategy.kept):
        assert (AAA in positions) == had_aaa
        assert len(positions) == n
        late = {a: tuple(v) for a, v in positions.items()}  # built now, after the run
        assert type(positions) is Positions  # reading turned it into a plain dict
        if k in read_now:
            assert late == read_now[k]
        for asset, (view_asset, amount, _cost, last) in late.items():
            seen_held += 1
            assert view_asset is asset
            assert amount != 0
            col = bars.column(asset)
            known = closes[: k + 1, col][~np.isnan(closes[: k + 1, col])]
            if len(known):
                assert last == known[-1]  # the bar's forward-filled close, not the last one
    assert seen_held > 0


class _SparseKeeper(TradingAlgorithm):
    """Buys once, then takes ``positions`` every bar but keeps it only every fourth bar
    (keeping the other bars' object ids only)."""

    def initialize(self, context):
        context.bar = 0
        self.ids = []
        self.kept = {}

    def handle_data(self, context, data):
        k = context.bar
        positions = context.portfolio.positions
        self.ids.append(id(positions))
        if k % 4 == 3:
            self.kept[k] = positions
        if k == 0:
            order(AAA, 5)
        context.bar += 1


def test_unkept_positions_are_reused_and_a_kept_one_stays_its_bars(run) -> None:
    """A bar's positions nobody kept are re-dated for the next bar instead of rebuilt; the
    one a strategy keeps is its own bar's snapshot, and the next bar gets a new one."""
    closes = np.round(np.random.default_rng(4).uniform(10, 200, (len(SESSIONS), 2)) * 8) / 8
    bars = build_bars(close=closes)
    strategy = _SparseKeeper()
    run(strategy, bars=bars, commission="none", slippage="none")
    ids = strategy.ids
    assert len(ids) > 12
    # held from bar 1 (its fill), no fill after: the bar after a kept one gets a new
    # object (the kept one is alive, so its id is its own), the others the previous one
    for k in range(2, len(ids)):
        if k % 4 == 0:
            assert ids[k] != id(strategy.kept[k - 1])
        else:
            assert ids[k] == ids[k - 1]
    col = bars.column(AAA)
    for k, positions in strategy.kept.items():
        (view,) = positions.values()  # built now, after the run
        assert view.amount == 5
        assert view.last_sale_price == closes[k, col]
    assert len({closes[k, col] for k in strategy.kept}) > 1


class _MembershipOnly(TradingAlgorithm):
    """Holds AAA, then swaps it for BBB; only ever tests membership (never keeps or reads
    the positions), next to what the ledger holds."""

    def initialize(self, context):
        context.bar = 0
        self.seen = []

    def handle_data(self, context, data):
        from rbt.api.engine import current_engine

        k = context.bar
        positions = context.portfolio.positions
        ledger = current_engine().ledger
        held = [a for a in (AAA, BBB) if ledger.position_amount(a) != 0]
        self.seen.append(([a for a in (AAA, BBB) if a in positions], held, len(positions)))
        if k == 0:
            order(AAA, 5)
        if k == 4:
            order_target(AAA, 0)
            order(BBB, 4)
        context.bar += 1


def test_reused_positions_follow_a_change_of_holdings(run) -> None:
    """An unread snapshot is re-dated only while the positions are the same: after AAA is
    swapped for BBB, membership tests see BBB, not AAA."""
    strategy = _MembershipOnly()
    run(strategy, commission="none", slippage="none")
    for members, held, n in strategy.seen:
        assert members == held
        assert n == len(held)
    kinds = {tuple(held) for _, held, _ in strategy.seen}
    assert kinds == {(), (AAA,), (BBB,)}


def test_lazy_positions_behave_as_a_dict() -> None:
    import copy
    import pickle

    from rbt.api.portfolio import LazyPositions, Positions

    views = {AAA: make_view((AAA, 3.0, 10.5, 11.0)), BBB: make_view((BBB, -2.0, 5.0, 4.5))}

    def lazy() -> LazyPositions:
        positions = LazyPositions(dict.fromkeys(views))
        # (function, its arguments): called with the positions first
        positions._build = (lambda _positions, built: iter(built.items()), views)
        return positions

    p = lazy()
    assert AAA in p
    assert len(p) == 2
    assert list(p.keys()) == [AAA, BBB]
    assert type(p) is LazyPositions  # membership builds nothing
    for read in (
        dict, lambda q: {**q}, lambda q: dict(q.items()), copy.copy, copy.deepcopy,
        lambda q: pickle.loads(pickle.dumps(q)), lambda q: {a: q[a] for a in q},
    ):  # fmt: skip
        got = read(lazy())
        assert got == views
    p = lazy()
    assert p[Asset(sid=9, symbol="ZZZ")].amount == 0.0  # missing: a zero position
    assert type(p) is Positions
    assert p == views
    p = lazy()
    assert p.get(BBB).amount == -2.0
    assert list(p.values()) == list(views.values())


@given(
    st.lists(
        st.tuples(
            st.integers(1, 3),  # sid
            st.integers(0, 6),  # ts: ties and out-of-order times
            st.integers(-5, 5),  # amount (zero rows are skipped)
            st.integers(1, 80),  # price in eighths
            st.integers(0, 3),  # commission in cents
        ),
        max_size=40,
    )
)
@settings(max_examples=60, deadline=None)
def test_round_trips_read_from_frame_columns_equal_the_row_by_row_reading(fills) -> None:
    """``round_trips`` reads a transactions frame column by column; the result equals
    reading the same fills as dict rows (the documented time order, frame order on ties)."""
    import polars as pl

    from rbt.analytics.trades import round_trips

    rows = [
        {
            "sid": sid, "symbol": f"S{sid}", "ts": ts, "session": None,
            "amount": Decimal(q), "price": Decimal(p) / 8, "commission": Decimal(c) / 100,
        }
        for sid, ts, q, p, c in fills
    ]  # fmt: skip
    frame = pl.DataFrame(
        {
            "sid": pl.Series([r["sid"] for r in rows], dtype=pl.Int64),
            "symbol": pl.Series([r["symbol"] for r in rows], dtype=pl.String),
            "ts": pl.Series([r["ts"] for r in rows], dtype=pl.Int64),
            "amount": pl.Series([r["amount"] for r in rows], dtype=pl.Decimal(38, 0)),
            "price": pl.Series([r["price"] for r in rows], dtype=pl.Decimal(38, 3)),
            "commission": pl.Series([r["commission"] for r in rows], dtype=pl.Decimal(38, 2)),
        }
    )
    from_frame = round_trips(frame)
    assert from_frame == round_trips(rows)
    # the FIFO books balance: every closed quantity was opened earlier, per asset
    for trip in from_frame:
        assert trip.entry_ts <= trip.exit_ts
        assert trip.amount > 0


def _reference_decimal_column(values):
    """The exact column the definition asks for: fixed-point text of every value, cast at
    the largest scale among them."""
    import polars as pl

    texts = [None if v is None else format(v, "f") for v in values]
    scale = max((len(t) - t.find(".") - 1 for t in texts if t is not None and "." in t), default=0)
    column = pl.Series("x", texts, dtype=pl.String)
    return column if scale > 38 else column.cast(pl.Decimal(38, scale))


@given(
    st.lists(
        st.one_of(
            st.none(),
            st.builds(
                lambda m, e: Decimal(m).scaleb(e),
                st.integers(-(10**12), 10**12),
                st.integers(-14, 4),  # positive exponents print as "1E+2" with str()
            ),
        ),
        max_size=12,
    )
)
@settings(max_examples=150, deadline=None)
def test_decimal_column_equals_the_fixed_point_text_reference(values) -> None:
    from rbt.api.results import decimal_column

    got = decimal_column("x", values)
    want = _reference_decimal_column(values)
    assert got.dtype == want.dtype
    assert got.to_list() == want.to_list()


def _by_cast_or_error(values):
    from rbt.api.results import _decimal_columns_by_cast

    try:
        return _decimal_columns_by_cast({"x": values})["x"]
    except Exception as error:  # an invalid text: the cast refuses it
        return type(error)


def _column_or_error(values):
    from rbt.api.results import decimal_column

    try:
        return decimal_column("x", values)
    except Exception as error:
        return type(error)


def _assert_read_as_the_string_cast(values) -> None:
    """``decimal_column`` gives the string cast's column (dtype and values), or refuses
    what the cast refuses."""
    got, want = _column_or_error(values), _by_cast_or_error(values)
    if isinstance(want, type):
        assert got is want
    else:
        assert got.dtype == want.dtype
        assert got.to_list() == want.to_list()


fixed_point_decimals = st.builds(
    lambda m, e: Decimal(m).scaleb(e),
    st.integers(-(10**12), 10**12),
    st.integers(-6, 0),  # str() writes these in fixed point
)


@given(
    st.lists(
        st.one_of(
            fixed_point_decimals,
            st.none(),
            st.builds(
                lambda m, e: Decimal(m).scaleb(e),
                st.integers(-(10**20), 10**20),
                st.integers(-22, 3),  # exponents, more than 18 digits or places
            ),
            st.integers(-(10**20), 10**20),
            st.sampled_from(
                [Decimal("NaN"), Decimal("-Infinity"), Decimal("-0"), Decimal("-0.00")]
            ),
            st.text(alphabet="0123456789-.,+ eE", max_size=6),  # any text, valid or not
        ),
        max_size=12,
    )
)
@settings(max_examples=400, deadline=None)
def test_decimal_columns_read_in_numpy_equal_the_string_cast(values) -> None:
    """The numpy reading of fixed-point texts gives the string cast's column (dtype and
    values), and where it does not apply the cast decides (nulls, exponents, invalid
    texts, wide mantissas, scales beyond a Decimal column)."""
    _assert_read_as_the_string_cast(values)


@given(
    st.one_of(
        st.none(),
        st.integers(-(10**20), 10**20),
        st.sampled_from([Decimal(0), Decimal("-0"), Decimal("0.00"), Decimal("1E+2")]),
        st.builds(
            lambda m, e: Decimal(m).scaleb(e),
            st.integers(-(10**20), 10**20),
            st.integers(-22, 3),
        ),
    ),
    st.integers(1, 5),
)
@settings(max_examples=150, deadline=None)
def test_a_column_of_one_object_equals_the_string_cast(value, rows) -> None:
    """A column holding one object in every row (the commissions of free fills, all the
    kernel's ZERO) is read from one text, as the string cast reads them all."""
    _assert_read_as_the_string_cast([value] * rows)


@given(
    st.lists(
        st.builds(  # up to 12 digits at 6 places: 18 digits
            lambda m, e: Decimal(m).scaleb(e),
            st.integers(-(10**12) + 1, 10**12 - 1),
            st.integers(-6, 0),
        ),
        min_size=1,
        max_size=30,
    )
)
@settings(max_examples=150, deadline=None)
def test_money_and_quantities_are_read_in_numpy(values) -> None:
    from rbt.api.results import _parse_fixed_point

    parsed = _parse_fixed_point([str(v) for v in values])
    assert parsed is not None
    mantissas, scale = parsed
    assert [Decimal(int(m)).scaleb(-scale) for m in mantissas] == values
    assert scale == max(-v.as_tuple().exponent for v in values)


@pytest.mark.parametrize(
    "texts",
    [
        [],
        ["1", "None"],
        ["1E+2"],
        ["NaN"],
        ["+1"],
        [" 1"],
        ["1.", "2"],
        [".5"],
        ["-"],
        [""],
        ["1", ""],
        ["1.2.3"],
        ["1-2"],
        ["--1"],
        ["1,2"],
        ["1234567890123456789"],  # 19 digits: beyond an int64 mantissa here
        ["1.5", "123456789012345678"],  # 18 whole digits at scale 1
        ["0." + "0" * 18 + "1"],  # scale 19: a text column
    ],
)
def test_other_texts_are_left_to_the_string_cast(texts) -> None:
    from rbt.api.results import _parse_fixed_point

    assert _parse_fixed_point(texts) is None


class _RandomTrader(TradingAlgorithm):
    """Places a drawn list of (bar, asset, amount) market orders and, on every bar, checks
    the float views against the exact ledger (the mirror is fed per fill)."""

    def __init__(self, plan, assets):
        self.plan = plan
        self.assets = assets
        self.checked = 0

    def initialize(self, context):
        context.bar = 0

    def handle_data(self, context, data):
        from rbt.api.engine import current_engine

        engine = current_engine()
        positions = context.portfolio.positions
        held = dict(engine.ledger.positions())
        assert set(positions) == set(held)
        for asset, position in held.items():
            view = positions[asset]
            assert view.amount == float(position.amount)
            assert view.cost_basis == float(position.cost_basis)
            self.checked += 1
        for bar, k, amount in self.plan:
            if bar == context.bar:
                order(self.assets[k], amount)
        context.bar += 1


@given(
    plan=st.lists(
        st.tuples(st.integers(0, 25), st.integers(0, 2), st.integers(-40, 40).filter(bool)),
        max_size=25,
    ),
    holes=st.lists(st.integers(0, 12), min_size=3, max_size=3),
    seed=st.integers(0, 2**16),
)
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)  # the fixture only builds the runner: nothing in it changes between examples
def test_recorded_books_from_arrays_equal_the_ledger_marks(run, plan, holes, seed) -> None:
    """Random orders (longs, shorts, flips, closes) over three assets whose first bars come
    late: every session's positions value from the integer-array path equals Σ amount ×
    the session's forward-filled exact close, in the ledger's order of positions."""
    ccc = Asset(sid=3, symbol="CCC")
    assets = (AAA, BBB, ccc)
    sessions = SESSIONS[:30]
    closes = np.round(np.random.default_rng(seed).uniform(1, 90, (len(sessions), 3)) * 8) / 8
    for col, hole in enumerate(holes):
        closes[:hole, col] = np.nan  # no bar yet: orders wait, values skip it
    bars = build_bars(assets=assets, sessions=sessions, close=closes)
    strategy = _RandomTrader(sorted(plan), assets)
    result = run(strategy, bars=bars, start=sessions[0], end=sessions[-1],
                 commission="none", slippage="none")  # fmt: skip
    positions = result.positions
    for k, (session, value) in enumerate(
        zip(result.perf["session"].to_list(), result.perf["positions_value"].to_list(), strict=True)
    ):
        rows = positions.filter(positions["session"] == session) if len(positions) else None
        total = Decimal(0)
        if rows is not None:
            for sid, amount, price in zip(
                rows["sid"].to_list(), rows["amount"].to_list(), rows["last_price"].to_list(),
                strict=True,
            ):  # fmt: skip
                col = sid - 1
                seen = closes[: k + 1, col][~np.isnan(closes[: k + 1, col])]
                assert float(price) == seen[-1]  # the forward-filled close of this session
                total += amount * price
        assert total == value


def test_closes_valued_in_chunks_and_mid_run_equal_one_batch(run, monkeypatch) -> None:
    """The pending session closes are valued in chunks, and mid-run once they hold many
    cells: any chunking gives the records of one batch at the end (values, rows, order)."""
    ccc = Asset(sid=3, symbol="CCC")
    assets = (AAA, BBB, ccc)
    sessions = SESSIONS[:40]
    closes = np.round(np.random.default_rng(7).uniform(1, 90, (len(sessions), 3)) * 8) / 8
    closes[:9, 2] = np.nan  # CCC trades from the 10th bar: the closes before are the ledger's
    bars = build_bars(assets=assets, sessions=sessions, close=closes)
    plan = [(b, b % 3, (-1) ** b * (5 + b)) for b in range(0, 38, 2)]

    def frames() -> tuple[list[object], list[object]]:
        result = run(_RandomTrader(plan, assets), bars=bars, start=sessions[0],
                     end=sessions[-1], commission="none", slippage="none")  # fmt: skip
        return result.perf.rows(), result.positions.rows()

    whole = frames()
    import rbt.api.engine as engine_module

    monkeypatch.setattr(engine_module, "_PENDING_CHUNK", 3)
    monkeypatch.setattr(engine_module, "_PENDING_CELLS", 12)  # 4 sessions of 3 columns
    assert frames() == whole
    monkeypatch.setattr(engine_module, "_CHUNK_CELLS", 7)  # a wide universe: 2 sessions
    assert frames() == whole
    assert len(whole[1]) > 40  # positions were held over many sessions


@given(
    plan=st.lists(
        st.tuples(st.integers(0, 20), st.integers(0, 2), st.integers(-40, 40).filter(bool)),
        max_size=20,
    ),
    seed=st.integers(0, 2**16),
)
@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_mixed_price_scales_value_each_session_at_its_positions_scale(run, plan, seed) -> None:
    """BBB's prices have 2 decimals, AAA's and CCC's 4: sessions holding one scale are
    valued from the arrays, sessions holding both by the ledger; either way the value is
    Σ amount × the session's close."""
    ccc = Asset(sid=3, symbol="CCC")
    assets = (AAA, BBB, ccc)
    sessions = SESSIONS[:24]
    closes = np.round(np.random.default_rng(seed).uniform(1, 90, (len(sessions), 3)) * 4) / 4
    bars = build_bars(assets=assets, sessions=sessions, close=closes)
    scales = bars.price_scales.copy()
    scales[1] = 2
    mantissas = {k: np.array(v) for k, v in bars.mantissas.items()}
    for k in ("open", "high", "low", "close"):
        mantissas[k][:, 1] //= 100  # quarters: exact with 2 decimals
    bars = attrs.evolve(bars, mantissas=mantissas, price_scales=scales)
    result = run(_RandomTrader(sorted(plan), assets), bars=bars, start=sessions[0],
                 end=sessions[-1], commission="none", slippage="none")  # fmt: skip
    positions = result.positions
    for k, (session, value) in enumerate(
        zip(result.perf["session"].to_list(), result.perf["positions_value"].to_list(), strict=True)
    ):
        rows = positions.filter(positions["session"] == session) if len(positions) else None
        if rows is None or not len(rows):
            assert value == 0
            continue
        prices = rows["last_price"].to_list()
        assert [float(p) for p in prices] == [closes[k, sid - 1] for sid in rows["sid"].to_list()]
        assert value == sum(a * p for a, p in zip(rows["amount"].to_list(), prices, strict=True))


def test_positions_of_one_block_out_of_session_order_are_not_joined() -> None:
    """Rows of one block are read in one piece only where the sessions follow each other in
    it; records that take its ranges in another order (or twice) are read range by range."""
    from rbt.api.results import _positions_from_arrays, positions_frame

    block = PositionBlock(
        np.array([1, 2, 1, 2, 1], dtype=np.int64),
        np.array([5, 6, 7, 8, 9], dtype=np.int64),
        np.array([101, 202, 303, 404, 505], dtype=np.int64),
        np.full(5, 2, dtype=np.int64),
    )
    ranges = [(3, 5), (0, 2), (2, 3), (0, 2)]  # later rows first, one range twice
    d = dt.date(2024, 1, 2)
    records = [
        SessionRecord(
            session=d + dt.timedelta(days=k), ts=k, cash=Decimal(1), positions_value=Decimal(0),
            fills=0, orders=0, recorded={}, positions=PositionRows.of_block(block, lo, hi),
        )
        for k, (lo, hi) in enumerate(ranges)
    ]  # fmt: skip
    as_tuples = [attrs.evolve(r, positions=tuple(r.positions)) for r in records]
    assets = {1: AAA, 2: BBB}
    fast = _positions_from_arrays(records, assets)
    assert fast is not None
    assert fast.equals(positions_frame(as_tuples, assets))
    assert fast["amount"].to_list() == [Decimal(a) for a in (8, 9, 5, 6, 7, 5, 6)]


@given(
    shape=st.tuples(st.integers(1, 6), st.integers(1, 6)),
    seed=st.integers(0, 2**16),
    layout=st.sampled_from(["contiguous", "transposed", "broadcast"]),
)
def test_cells_taken_from_the_flat_array_are_the_fancy_index(shape, seed, layout) -> None:
    from rbt.api.engine import _take_cells

    rng = np.random.default_rng(seed)
    values = rng.integers(-(2**62), 2**62, shape)
    if layout == "transposed":  # a view that is not C-contiguous: indexed as it is
        values = values.T
    elif layout == "broadcast":  # one column for all (a bundle without gaps' last rows)
        values = np.broadcast_to(values[:, :1], shape)
    rows = rng.integers(0, values.shape[0], 20)
    cols = rng.integers(0, values.shape[1], 20)
    assert np.array_equal(_take_cells(values, rows, cols), values[rows, cols])
