"""A result may receive its orders frame as a function: built on first read, once, the same
frame as building it at once (and the same file)."""

from __future__ import annotations

import functools
from decimal import Decimal

import attrs
import polars as pl

from rbt.api import order
from rbt.api.algorithm import TradingAlgorithm
from rbt.api.results import BacktestResult, orders_frame, write_results
from rbt.kernel.model import Asset, Order, OrderStatus

from .conftest import AAA, BBB


def _orders() -> list[Order]:
    return [
        Order(id=f"o{i}", asset=asset, amount=Decimal(q), created=i,
              status=OrderStatus.FILLED, filled=Decimal(q))
        for i, (asset, q) in enumerate([(AAA, 3), (BBB, -2), (Asset(sid=9, symbol="Z"), 1)])
    ]  # fmt: skip


def _result(orders: object) -> BacktestResult:
    empty = pl.DataFrame()
    return BacktestResult(
        run_id="r",
        perf=empty,
        transactions=empty,
        orders=orders,  # type: ignore[arg-type]
        positions=empty,
        metrics={},
        manifest={},
    )


def test_orders_handed_over_as_a_function_are_built_once_on_first_read(tmp_path) -> None:
    calls: list[int] = []
    orders = _orders()

    def build() -> pl.DataFrame:
        calls.append(1)
        return orders_frame(orders)

    lazy = _result(build)
    assert calls == []
    first = lazy.orders
    assert lazy.orders is first  # kept
    assert calls == [1]
    assert first.equals(orders_frame(orders))
    assert attrs.evolve(lazy, path=tmp_path).orders is first

    eager_dir = write_results(_result(orders_frame(orders)), tmp_path / "eager")
    lazy_dir = write_results(_result(functools.partial(orders_frame, orders)), tmp_path / "lazy")
    assert (lazy_dir / "orders.parquet").read_bytes() == (eager_dir / "orders.parquet").read_bytes()


class _TwoBuys(TradingAlgorithm):
    def initialize(self, context):
        context.n = 0

    def handle_data(self, context, data):
        context.n += 1
        if context.n in (2, 5):
            order(AAA, 10)


def test_a_run_result_reads_its_orders(run) -> None:
    """Whatever the runner hands over, ``result.orders`` is the frame of the run's orders."""
    frame = run(_TwoBuys()).orders
    assert isinstance(frame, pl.DataFrame)
    assert frame["amount"].to_list() == [Decimal(10), Decimal(10)]
    assert frame["status"].to_list() == ["filled", "filled"]
