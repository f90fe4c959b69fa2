"""Zipline API names RustyBT does not support: importable, and loud when used.

Every name in ``zipline.api.__all__`` can be imported from ``rbt.api``, so a
Zipline algorithm's import lines keep working. A name without an RustyBT
implementation is bound to a stand-in that raises :class:`UnsupportedZiplineAPI`
naming the alternative as soon as it is called (or, for modules and constants,
touched) — never a silent no-op. ``tests/parity/test_zipline_api_names.py`` checks the
list against zipline-reloaded's ``__all__``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NoReturn

from rbt.kernel.errors import RbtError

__all__ = ["ALTERNATIVES", "UnsupportedZiplineAPI", "engine_function", "stand_in"]


class UnsupportedZiplineAPI(RbtError, NotImplementedError):
    """A Zipline API call that RustyBT does not support (the message names the alternative)."""


#: name -> what to do instead.
ALTERNATIVES: dict[str, str] = {
    "fetch_csv": (
        "ingest the file as a bundle (`rbt ingest csv --path DIR`) and read it with "
        "data.current/data.history, or load it with pandas in initialize()"
    ),
    "set_symbol_lookup_date": (
        "symbols resolve to the bundle's tickers; use sid(N) to pin an asset whose ticker changed"
    ),
    "continuous_future": "futures are not supported in backtests yet; trade the contracts' bundle",
    "future_symbol": "futures are not supported in backtests yet; use symbol() on a bundle of them",
    "batch_market_order": "call order(asset, amount) for each asset",
    "get_environment": (
        "read the run's settings from context.params (run_backtest(params=...)) and "
        "data.current_dt; the arena is always a backtest in run_algorithm"
    ),
    "set_asset_restrictions": (
        "check a set of restricted assets yourself before order(), or use "
        "set_do_not_order_list when trading controls are available"
    ),
    "Restriction": "keep your own restricted set and check it before order()",
    "StaticRestrictions": "keep your own restricted set and check it before order()",
    "HistoricalRestrictions": "keep your own dated restricted set and check it before order()",
    "RESTRICTION_STATES": "keep your own restricted set and check it before order()",
    "set_cancel_policy": (
        "orders live until filled or cancelled (Zipline's NeverCancel); cancel them in a "
        "scheduled function with cancel_order(), or use time-in-force 'day' on an execution style"
    ),
    "cancel_policy": "orders never auto-cancel; use cancel_order() or time-in-force 'day'",
    "EODCancel": "use an execution style with tif='day' (rbt.finance.execution) or cancel_order()",
    "NeverCancel": "this is already the behaviour: orders live until filled or cancelled",
    "calendars": "use rbt.plugins.calendars.get_calendar('XNYS')",
    "events": "use schedule_function with date_rules/time_rules from rbt.api",
    "math_utils": "use numpy (np.nanmean, np.nanstd, ...)",
    "set_benchmark": (
        "benchmarks are not wired into run_algorithm yet; compare perf['returns'] with the "
        "benchmark's returns in analyze()"
    ),
    "set_max_leverage": "this build has no trading controls; check leverage in handle_data",
    "set_min_leverage": "RustyBT has no minimum-leverage control; check leverage in handle_data",
    "set_max_order_count": "this build has no trading controls; count orders yourself",
    "set_max_order_size": "this build has no trading controls; cap amounts yourself",
    "set_max_position_size": ("this build has no trading controls; cap positions yourself"),
    "set_long_only": "this build has no trading controls; never order below zero",
    "set_do_not_order_list": ("this build has no trading controls; check the list before order()"),
}


def _message(name: str) -> str:
    return (
        f"{name} is a Zipline API that RustyBT does not support: {ALTERNATIVES[name]} "
        "(see docs/migrating-from-zipline.md)"
    )


class _StandIn:
    """Bound to an unsupported Zipline name: raises when called or inspected."""

    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        object.__setattr__(self, "_name", name)

    def __call__(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise UnsupportedZiplineAPI(_message(self._name))

    def __getattr__(self, attr: str) -> NoReturn:
        if attr.startswith("__") and attr.endswith("__"):
            raise AttributeError(attr)
        raise UnsupportedZiplineAPI(_message(object.__getattribute__(self, "_name")))

    def __repr__(self) -> str:
        return f"<unsupported Zipline API {self._name}>"


def stand_in(name: str) -> Any:
    """The stand-in for the unsupported Zipline name ``name``."""
    if name not in ALTERNATIVES:
        raise KeyError(f"{name!r} has no documented alternative")
    return _StandIn(name)


def engine_function(name: str) -> Callable[..., Any]:
    """A module-level function calling the running engine's method ``name``."""
    from rbt.api.engine import Engine, current_engine

    method = getattr(Engine, name)

    def call(*args: Any, **kwargs: Any) -> Any:
        return getattr(current_engine(), name)(*args, **kwargs)

    call.__name__ = call.__qualname__ = name
    call.__doc__ = method.__doc__
    return call
