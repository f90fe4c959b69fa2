"""Load a strategy from a Python file: module functions or a TradingAlgorithm subclass."""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from pathlib import Path

import attrs

from rbt.api.algorithm import FunctionStrategy, TradingAlgorithm
from rbt.kernel.errors import ConfigError

__all__ = ["LoadedStrategy", "load_strategy"]


@attrs.frozen
class LoadedStrategy:
    """A strategy ready to run, with the hash of its source."""

    strategy: TradingAlgorithm
    source_hash: str
    path: Path | None


def load_strategy(path: str | Path) -> LoadedStrategy:
    """Import ``path`` and build its strategy.

    The file defines either ``initialize`` (plus optional ``handle_data``,
    ``before_trading_start``, ``analyze``, ``PARAMS``) or exactly one subclass of
    :class:`TradingAlgorithm`. Exceptions raised while importing the file propagate
    unchanged, so the traceback points at the user's line.

    :raises ConfigError: for a missing file or a file that defines no strategy.
    """
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"strategy file not found: {file}")
    source = file.read_bytes()
    digest = hashlib.sha256(source).hexdigest()
    module_name = f"rbt_strategy_{digest[:16]}"
    spec = importlib.util.spec_from_file_location(module_name, file)
    if spec is None or spec.loader is None:
        raise ConfigError(f"cannot import {file} as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses/pickle inside the strategy need it
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(module_name, None)
        raise
    classes = [
        obj
        for obj in vars(module).values()
        if isinstance(obj, type)
        and issubclass(obj, TradingAlgorithm)
        and obj not in (TradingAlgorithm, FunctionStrategy)
        and obj.__module__ == module_name
    ]
    if len(classes) > 1:
        names = ", ".join(c.__name__ for c in classes)
        raise ConfigError(f"{file} defines several TradingAlgorithm subclasses ({names}); keep one")
    if classes:
        return LoadedStrategy(classes[0](), digest, file)
    if not callable(getattr(module, "initialize", None)):
        raise ConfigError(
            f"{file} defines no strategy: write initialize(context) "
            "(and handle_data(context, data)) or a subclass of rbt.api.TradingAlgorithm"
        )
    return LoadedStrategy(FunctionStrategy.from_module(module), digest, file)
