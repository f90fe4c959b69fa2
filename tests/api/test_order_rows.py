"""Plain market orders kept as rows until read (``SimBroker.take_row``,
``OrderTracker.add_row``) give exactly what orders built from the start give
(``RBT_ORDER_ROWS=off``): every frame's schema and full text, everything the strategy saw
(as ``repr``, so Decimal exponents count), the order ids — whatever else the run does
meanwhile: limit orders, cancels, replacements, reads of its orders, hooks attached mid-run,
orders from ``before_trading_start``, a switch to a cash account, assets it may not trade
(listing dates, auto-close, minimum notional, unknown), lots of 100 and ``1E+2``, splits and
dividends, bars without a price or volume, minute bars, a narrow Decimal context, costs
under which no row is taken."""

from __future__ import annotations

import decimal
from decimal import Decimal
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from rbt.api import (
    cancel_order,
    get_open_orders,
    get_order,
    order,
    order_percent,
    order_target,
    replace_order,
)
from rbt.api.algorithm import TradingAlgorithm
from rbt.api.engine import current_engine
from rbt.data.actions import CorporateActions, DividendAction, SplitAction
from rbt.data.bars import bars_from_floats
from rbt.data.portal import BarPortal
from rbt.finance.commission import NoCommission
from rbt.finance.execution import LimitOrder
from rbt.finance.slippage import NoSlippage
from rbt.kernel.broker import ClientOrderIds
from rbt.kernel.ledger import Ledger
from rbt.kernel.model import MARKET, Asset, Order
from rbt.kernel.orders import validation_check
from rbt.kernel.session import Session
from rbt.plugins.sim_broker import SimBroker
from tests.timing.conftest import minute

from .conftest import CAL, SESSIONS, build_bars

DAYS = SESSIONS[:22]
ASSETS = (
    Asset(sid=1, symbol="AAA"),
    Asset(sid=2, symbol="CCC", lot_size=Decimal("0.001")),  # fractional amounts
    Asset(sid=3, symbol="SPL"),  # split 2:1 mid-run, a dividend early on
    Asset(sid=4, symbol="ACL", auto_close_date=DAYS[11]),  # closed out by the engine
    Asset(sid=5, symbol="END", end_date=DAYS[7]),  # orders after its end are denied
    Asset(sid=6, symbol="STA", start_date=DAYS[5]),  # orders before its start are denied
    Asset(sid=7, symbol="LOT", lot_size=Decimal(100)),
    Asset(sid=8, symbol="EXP", lot_size=Decimal("1E+2")),  # a lot with a positive exponent
    Asset(sid=9, symbol="MIN", min_notional=Decimal(100)),  # checked at the last price
)
UNKNOWN = Asset(sid=99, symbol="ZZZ")  # not in the bundle: rejected
ACTIONS = CorporateActions(
    splits=(SplitAction(3, DAYS[12], Decimal(2)),),
    dividends=(DividendAction(3, DAYS[3], DAYS[5], Decimal("0.37")),),
)
#: what a plan step does: market orders (most), then the rest (see _Program._step)
KINDS = 17
#: a narrow Decimal context: ("local" or "global", its precision), or None
Narrow = tuple[str, int] | None


class _Program(TradingAlgorithm):
    """Carries out ``plan`` — ``(bar, asset, amount, kind)`` steps — and logs, as text,
    what the strategy sees of its portfolio every bar and whatever its steps read."""

    def __init__(self, plan: list[tuple[int, int, int, int]], narrow: Narrow) -> None:
        self.plan = plan
        # a narrow Decimal context: around the strategy's steps ("local"), or the thread's
        # from initialize on ("global": the engine then computes in it too)
        self.narrow = narrow
        self.log: list[Any] = []
        self.ids: list[str | None] = []
        self.rows_held = 0  # the most orders held as rows at once (how the run went)

    def initialize(self, context: Any) -> None:
        context.bar = 0
        if self.narrow is not None and self.narrow[0] == "global":
            decimal.getcontext().prec = self.narrow[1]

    def before_trading_start(self, context: Any, data: Any) -> None:
        for bar, k, amount, kind in self.plan:
            if bar == context.bar and kind == 16:
                self.ids.append(order(ASSETS[k], amount))

    def handle_data(self, context: Any, data: Any) -> None:
        portfolio = context.portfolio
        self.log.append(
            (
                repr(portfolio.portfolio_value),
                repr(portfolio.cash),
                sorted(
                    (a.sid, repr(p.amount), repr(p.cost_basis), repr(p.last_sale_price))
                    for a, p in portfolio.positions.items()
                ),
            )
        )
        for bar, k, amount, kind in self.plan:
            if bar == context.bar:
                if self.narrow is None or self.narrow[0] == "global":
                    self._step(data, ASSETS[k], amount, kind)
                    continue
                with decimal.localcontext(prec=self.narrow[1]):
                    self._step(data, ASSETS[k], amount, kind)
        session = current_engine().session
        self.rows_held = max(self.rows_held, len(session.orders._rows))
        context.bar += 1

    def _step(self, data: Any, asset: Asset, amount: int, kind: int) -> None:
        try:
            if kind <= 4:  # market orders: tenths of a CCC, whole lots of the others
                fractional = asset.symbol == "CCC"
                size = Decimal(amount) / 10 if fractional else amount * asset.lot_size
                if kind == 4 and not fractional:  # more digits than a narrow context keeps
                    size = int(size) * 1001  # (an int: exact, whatever the context)
                self.ids.append(order(asset, size))
            elif kind == 5:
                self.ids.append(order_target(asset, 0))
            elif kind == 6:
                for working in get_open_orders(asset):
                    cancel_order(working)
            elif kind == 7:
                self.log.append(
                    ([repr(get_order(i)) for i in self.ids if i], repr(get_open_orders()))
                )
            elif kind == 8 and not hasattr(self, "on_order_fill"):
                self.on_order_fill = lambda context, fill: self.log.append(repr(fill))
            elif kind == 9 and not hasattr(self, "on_order_cancel"):
                self.on_order_cancel = lambda context, o: self.log.append(repr(o))
            elif kind == 10:
                last = next((i for i in reversed(self.ids) if i), None)
                if last is not None:
                    self.ids.append(replace_order(last, amount=abs(amount) + 1))
            elif kind == 11:  # a limit near the close: fills on some bars, not others
                price = data.current(asset, "close")
                if price == price:
                    self.ids.append(order(asset, amount, style=LimitOrder(round(price, 2))))
            elif kind == 12:
                self.ids.append(order_percent(asset, 0.01))
            elif kind == 13:
                current_engine().set_account("cash")
            elif kind == 14:
                self.ids.append(order(UNKNOWN, amount))
            elif kind == 15:
                session = current_engine().session
                self.log.append(([repr(f) for f in session.fills], len(session.orders)))
        except Exception as error:  # the same refusal both ways
            self.log.append((kind, type(error).__name__, str(error)))


def _bars(seed: int, minutes: bool) -> Any:
    rng = np.random.default_rng(seed)
    if minutes:  # three sessions of minute bars (a bar and volume every minute)
        walk = rng.uniform(5, 60, len(ASSETS))
        return minute(ASSETS, DAYS[:3], lambda i, j: walk[j] + (i * (j + 3)) % 17 * 0.125)
    shape = (len(DAYS), len(ASSETS))
    close = np.round(rng.uniform(5, 60, shape) * 8) / 8
    close[rng.random(shape) < 0.08] = np.nan  # some bars missing
    volume = rng.integers(0, 4, shape) * 800.0  # some without volume
    fields = {"open": close - 0.25, "high": close + 1, "low": close - 1, "close": close}
    return bars_from_floats(
        list(ASSETS), DAYS, {**fields, "volume": volume}, calendar="XNYS", actions=ACTIONS
    )


def _both(
    run: Any, monkeypatch: pytest.MonkeyPatch, plan: list[Any], bars: Any,
    narrow: Narrow = None, **kw: Any,
) -> list[tuple[_Program, Any]]:  # fmt: skip
    """The same plan run with rows on, then off."""
    results = []
    for switch in ("on", "off"):
        monkeypatch.setenv("RBT_ORDER_ROWS", switch)
        strategy = _Program(sorted(plan), narrow)
        try:
            result = run(strategy, bars=bars, start=bars.sessions[0].item(),
                         end=bars.sessions[-1].item(), capital_base=100_000, **kw)  # fmt: skip
        except Exception as error:  # a run a narrow context breaks: the same error both ways
            result = f"{type(error).__name__}: {error}"
        finally:
            decimal.getcontext().prec = decimal.DefaultContext.prec
        results.append((strategy, result))
    return results


def _text(frame: pl.DataFrame) -> str:
    with pl.Config(tbl_rows=-1, tbl_cols=-1, tbl_width_chars=10_000, fmt_str_lengths=1_000):
        return f"{frame.schema}\n{frame}"


def _assert_same(results: list[Any]) -> None:
    (rows, with_rows), (objects, without) = results
    if isinstance(with_rows, str) or isinstance(without, str):
        assert with_rows == without
    else:
        for name in ("perf", "transactions", "orders", "positions"):
            assert _text(getattr(with_rows, name)) == _text(getattr(without, name)), name
    assert rows.log == objects.log
    assert rows.ids == objects.ids
    assert objects.rows_held == 0


@given(
    plan=st.lists(
        st.tuples(
            st.integers(0, 20),
            st.integers(0, len(ASSETS) - 1),
            st.integers(-60, 60).filter(bool),
            st.integers(0, KINDS - 1),
        ),
        max_size=40,
    ),
    seed=st.integers(0, 2**16),
    costs=st.sampled_from([("none", "none")] * 3 + [("per_share", "fixed_bps")]),
    timing=st.sampled_from(["next_close", "next_open"]),
    minutes=st.booleans(),
    narrow=st.sampled_from([None, None, ("local", 2), ("global", 4)]),
)
@example(  # a row read (built) inside a narrow context: its fill was taken in the default one
    plan=[(0, 0, 12, 4), (0, 2, 9, 0), (2, 0, 1, 7)],
    seed=1, costs=("none", "none"), timing="next_close", minutes=False, narrow=("local", 2),
)  # fmt: skip
@example(  # amounts the thread's narrow context rounds when they fill (rows and orders)
    plan=[(0, 0, 12, 4), (0, 6, 3, 4), (1, 0, 1, 7), (2, 0, 2, 11), (2, 0, 31, 4), (4, 0, 1, 7)],
    seed=2, costs=("none", "none"), timing="next_open", minutes=False, narrow=("global", 4),
)  # fmt: skip
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)  # the fixtures build the runner and set the switch per run: nothing is shared between examples
def test_rows_give_what_orders_built_from_the_start_give(
    run, monkeypatch, plan, seed, costs, timing, minutes, narrow
) -> None:
    commission, slippage = costs
    if minutes:  # the first 30 minutes of three sessions
        plan = [(bar % 30, k, amount, kind) for bar, k, amount, kind in plan]
    results = _both(run, monkeypatch, plan, _bars(seed, minutes), narrow, commission=commission,
                    slippage=slippage, fill_timing=timing)  # fmt: skip
    _assert_same(results)
    event(f"rows held: {results[0][0].rows_held > 0}")


@pytest.mark.parametrize("costs", [("none", "none"), ("per_share", "fixed_bps")])
def test_a_run_of_market_orders_holds_them_as_rows(run, monkeypatch, costs) -> None:
    """Market orders only, nothing reading them: each is a row until the end (until the
    next bar under costs, when the models price its fills as an order's), and the run
    still equals the one without rows."""
    plan = [(bar, k, 10 * (k + 1) * (-1) ** (bar // 3), 0) for bar in range(20) for k in (0, 1)]
    commission, slippage = costs
    results = _both(run, monkeypatch, plan, _bars(7, False), commission=commission,
                    slippage=slippage)  # fmt: skip
    _assert_same(results)
    (rows, with_rows), _ = results
    assert rows.rows_held >= 2
    assert with_rows.orders.height == len(plan)


def test_orders_read_mid_run_are_the_ones_built_from_the_start(run, monkeypatch) -> None:
    """``get_order`` and ``get_open_orders`` while rows wait for a bar, then after fills
    and a cancel: the same objects, the same states, as without rows."""
    plan = [(0, 0, 10, 0), (0, 1, 5, 0), (0, 0, 1, 7), (1, 0, 1, 7), (2, 0, -10, 0),
            (2, 1, 7, 0), (2, 1, 8, 6), (2, 2, 1, 7), (3, 0, 1, 7)]  # fmt: skip
    bars = build_bars(assets=ASSETS[:3], sessions=SESSIONS[:6])
    results = _both(run, monkeypatch, plan, bars, commission="none", slippage="none")
    _assert_same(results)
    (rows, with_rows), _ = results
    assert rows.rows_held >= 2
    statuses = with_rows.orders["status"].to_list()
    assert statuses == ["filled", "filled", "filled", "cancelled"]


def test_orders_refused_as_rows_are_denied_as_orders_are(run, monkeypatch) -> None:
    """An order below its asset's minimum notional, and one after its asset's last
    session, are never rows: placed as orders, they are denied with the same reasons."""
    plan = [(0, 0, 10, 0), (1, 8, 1, 0), (2, 0, 5, 0), (9, 4, 10, 0), (10, 0, -15, 0)]
    bars = build_bars(assets=ASSETS, sessions=DAYS)
    results = _both(run, monkeypatch, plan, bars, commission="none", slippage="none")
    _assert_same(results)
    (rows, with_rows), _ = results
    assert rows.rows_held >= 1
    denied = with_rows.orders.filter(with_rows.orders["status"] == "denied")
    assert denied["symbol"].to_list() == ["MIN", "END"]
    assert [r.split(":")[0] for r in denied["reason"]] == [
        "BELOW_MIN_NOTIONAL",
        "ASSET_NOT_TRADING",
    ]


def test_a_session_that_places_orders_its_own_way_gets_every_one() -> None:
    """A Session subclass with its own ``place_order`` (a journal, say) sees every market
    order, rows or not: none is kept as a row behind its back."""

    class Journaling(Session):
        def place_order(self, asset: Asset, amount: Decimal, style: Any) -> Order:
            self.journal.append((asset.symbol, amount))
            return super().place_order(asset, amount, style)

    portal = BarPortal(build_bars(sessions=SESSIONS[:3]), CAL)
    broker = SimBroker(portal, commission=NoCommission(), slippage=NoSlippage())
    session = Journaling(portal=portal, broker=broker, ledger=Ledger(Decimal(10_000)),
                         order_ids=ClientOrderIds("t", "r"), checks=[validation_check])  # fmt: skip
    session.journal = []
    for asset in (ASSETS[0], UNKNOWN):
        session.place_market_order(asset, Decimal(5))
    assert session.journal == [("AAA", 5), ("ZZZ", 5)]
    assert [o.style for o in session.orders] == [MARKET, MARKET]
