"""The strategy API: Zipline's functions and ``run_algorithm``, plus the class style.

A Zipline algorithm runs with its ``zipline.api`` imports changed to ``rbt.api``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rbt.api.algorithm import TradingAlgorithm
from rbt.api.functions import (
    attach_pipeline,
    cancel_order,
    get_datetime,
    get_open_orders,
    get_order,
    order,
    order_percent,
    order_target,
    order_target_percent,
    order_target_value,
    order_value,
    pipeline_output,
    record,
    replace_order,
    schedule_function,
    set_benchmark,
    set_commission,
    set_do_not_order_list,
    set_long_only,
    set_max_leverage,
    set_max_order_count,
    set_max_order_size,
    set_max_position_size,
    set_slippage,
    sid,
    symbol,
    symbols,
)
from rbt.api.results import BacktestResult
from rbt.api.runner import run_backtest
from rbt.api.schedule import date_rules, time_rules
from rbt.api.unsupported import UnsupportedZiplineAPI

__all__ = [
    "BacktestResult",
    "TradingAlgorithm",
    "UnsupportedZiplineAPI",
    "attach_pipeline",
    "cancel_order",
    "date_rules",
    "get_datetime",
    "get_open_orders",
    "get_order",
    "order",
    "order_percent",
    "order_target",
    "order_target_percent",
    "order_target_value",
    "order_value",
    "pipeline_output",
    "record",
    "replace_order",
    "run_algorithm",
    "run_backtest",
    "schedule_function",
    "set_benchmark",
    "set_commission",
    "set_do_not_order_list",
    "set_long_only",
    "set_max_leverage",
    "set_max_order_count",
    "set_max_order_size",
    "set_max_position_size",
    "set_slippage",
    "sid",
    "symbol",
    "symbols",
    "time_rules",
]


def run_algorithm(
    start: Any,
    end: Any,
    initialize: Callable[[Any], None] | None = None,
    capital_base: float = 10_000_000.0,
    handle_data: Callable[[Any, Any], None] | None = None,
    before_trading_start: Callable[[Any, Any], None] | None = None,
    analyze: Callable[[Any, Any], None] | None = None,
    data_frequency: str = "daily",
    bundle: str = "demo",
    bundle_timestamp: Any = None,
    trading_calendar: Any = None,
    metrics_set: str = "default",
    benchmark_returns: Any = None,
    default_extension: bool = True,
    extensions: Any = (),
    strategies_dir: Any = None,
    environ: Any = None,
    custom_loader: Any = None,
    blotter: str = "default",
    **options: Any,
) -> Any:
    """Zipline's ``run_algorithm``: same signature, returns the pandas ``perf`` frame.

    RustyBT options go in keywords: ``params``, ``home``, ``commission``,
    ``slippage``, ``fill_timing``, ``bars``, ``write``. Zipline arguments we do
    not support raise a clear error rather than being ignored.
    """
    from rbt.api.algorithm import FunctionStrategy
    from rbt.kernel.errors import ConfigError

    unsupported = {
        "bundle_timestamp": bundle_timestamp,
        "custom_loader": custom_loader,
        "strategies_dir": strategies_dir,
        "extensions": extensions or None,
    }
    for name, value in unsupported.items():
        if value is not None:
            raise ConfigError(f"run_algorithm({name}=...) is not supported yet by RustyBT")
    if data_frequency not in ("daily", "1d"):
        raise ConfigError(
            f"data_frequency={data_frequency!r}: only daily bundles are supported for now"
        )
    if initialize is None:
        raise ConfigError("run_algorithm needs initialize")
    strategy = FunctionStrategy(
        initialize,
        handle_data,
        before_trading_start,
        None,
        params=options.pop("declared_params", None),
    )
    if benchmark_returns is not None:  # a pandas Series of returns by date, as in Zipline
        options.setdefault("benchmark", benchmark_returns)
    result = run_backtest(
        strategy,
        start=start,
        end=end,
        capital_base=capital_base,
        bundle=bundle,
        analyze=analyze,
        **options,
    )
    return result.to_pandas()


def _bind_zipline_names() -> None:
    """Make every name of ``zipline.api`` importable from here (design.md §2.1a.1).

    Zipline's finance modules and model classes map to ``rbt.finance``; a name with no
    RustyBT implementation gets a stand-in that raises :class:`UnsupportedZiplineAPI`
    naming the alternative; one the engine implements calls the running engine. Names
    imported above are never replaced.
    """
    import importlib

    from rbt.api import unsupported

    namespace = globals()
    for module in ("commission", "slippage", "execution"):
        namespace.setdefault(module, importlib.import_module(f"rbt.finance.{module}"))
    slippage = namespace.get("slippage")
    for model in ("FixedBasisPointsSlippage", "FixedSlippage", "VolumeShareSlippage"):
        if slippage is not None and hasattr(slippage, model):
            namespace.setdefault(model, getattr(slippage, model))
    from rbt.api.engine import Engine

    for name in unsupported.ALTERNATIVES:
        if name not in namespace and callable(getattr(Engine, name, None)):
            namespace[name] = unsupported.engine_function(name)  # the engine implements it
        namespace.setdefault(name, unsupported.stand_in(name))


_bind_zipline_names()
