"""Filters: boolean terms. Combine with ``&``, ``|``, ``~``; build from factors with
comparisons, ``top``/``bottom``, ``percentile_between``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import polars as pl

from rbt.pipeline._terms import CustomFilter, Filter

if TYPE_CHECKING:
    from rbt.pipeline.engine import _Compiler

__all__ = ["CustomFilter", "Filter", "StaticAssets", "StaticSids"]


class StaticSids(Filter):
    """True for the assets with the given sids, every session."""

    def __init__(self, sids: Iterable[int]) -> None:
        self.sids = frozenset(int(s) for s in sids)

    def _expr(self, ctx: _Compiler) -> pl.Expr:
        return pl.col("_sid").is_in(sorted(self.sids))


class StaticAssets(StaticSids):
    """True for the given assets, every session."""

    def __init__(self, assets: Iterable[Any]) -> None:
        super().__init__(a.sid for a in assets)
