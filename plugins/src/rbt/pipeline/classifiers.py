"""Classifiers: a label per asset (int64 with -1 for none, or str with None).

Group normalizations by a classifier (``factor.demean(groupby=sector)``),
filter on labels (``sector.eq("tech")``), or bucket a factor with
``factor.quantiles(n)``. Sector-like labels come from asset metadata:
:class:`StaticClassifier` (a mapping you supply) or :class:`AssetClassifier`
(an attribute of the bundle's assets, e.g. ``exchange``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import polars as pl

from rbt.pipeline._terms import Classifier, CustomClassifier

if TYPE_CHECKING:
    from rbt.pipeline.engine import _Compiler

__all__ = ["AssetClassifier", "Classifier", "CustomClassifier", "StaticClassifier"]


def _key_sid(key: Any, by_symbol: Mapping[str, int]) -> int:
    if isinstance(key, str):
        try:
            return by_symbol[key]
        except KeyError:
            raise KeyError(f"StaticClassifier: unknown symbol {key!r}") from None
    sid = getattr(key, "sid", key)
    if isinstance(sid, bool) or not isinstance(sid, int):
        raise TypeError(f"StaticClassifier keys are assets, sids or symbols, got {key!r}")
    return sid


class StaticClassifier(Classifier):
    """Fixed labels from a mapping keyed by asset, sid or symbol; unmapped assets have none.

    Labels are all ints or all strs (a sector code or name).
    """

    def __init__(self, labels: Mapping[Any, int | str]) -> None:
        values = list(labels.values())
        if values and all(isinstance(v, str) for v in values):
            self.kind = "str"  # type: ignore[misc]
        elif all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            self.kind = "int"  # type: ignore[misc]
        else:
            raise TypeError("StaticClassifier labels must be all int or all str")
        self.labels = dict(labels)

    def _expr(self, ctx: _Compiler) -> pl.Expr:
        by_symbol = ctx.symbols
        mapping = {_key_sid(k, by_symbol): v for k, v in self.labels.items()}
        dtype = pl.String if self.kind == "str" else pl.Int64
        return pl.col("_sid").replace_strict(mapping, default=None, return_dtype=dtype)


class AssetClassifier(Classifier):
    """The value of an :class:`~rbt.kernel.model.Asset` attribute as a label
    (``"exchange"``, ``"asset_class"``, ``"quote_currency"``, ``"symbol"``, ...)."""

    kind = "str"

    def __init__(self, attribute: str) -> None:
        self.attribute = attribute

    def _expr(self, ctx: _Compiler) -> pl.Expr:
        mapping = {}
        for asset in ctx.assets:
            if not hasattr(asset, self.attribute):
                raise AttributeError(f"assets have no attribute {self.attribute!r}")
            value = getattr(asset, self.attribute)
            value = getattr(value, "value", value)  # enums → their value
            mapping[asset.sid] = None if value in (None, "") else str(value)
        return pl.col("_sid").replace_strict(mapping, default=None, return_dtype=pl.String)
