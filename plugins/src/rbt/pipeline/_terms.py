"""Pipeline terms: factors (floats), filters (booleans) and classifiers (labels).

A term compiles to a Polars expression over the engine's *long frame*: one row
per ``(asset column, data row)``, sorted by asset then data row, with the bar
fields as nullable floats (a missing bar or a NaN is null) and ``_exists``
(the asset is in the universe on the session that row feeds). Data row ``r``
feeds the pipeline of the *next* session: everything a session sees was known
at the previous session's close.

* Window terms (moving averages, returns, ...) are backward rolling
  expressions per asset (``.over("_col")``); rows without a full window
  (``_row < window_length - 1``) are null — "NaN until enough history".
* Cross-sectional terms (``rank``, ``zscore``, ``demean``, ``top``,
  ``percentile_between``, ``quantiles``) run ``.over("_row")`` (and the
  ``groupby`` classifier): each data row alone, so no row sees another's data.
* :class:`CustomFactor` (and custom filters/classifiers) call the user's numpy
  ``compute(today, assets, out, *inputs)`` once per session, exactly as Zipline.

Float semantics follow Zipline's numpy functions: NaN inputs are skipped by the
``nan*`` reductions Zipline uses (moving average, VWAP, Bollinger, RSI, average
dollar volume) and propagate through the others (returns, EWMA, arithmetic).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import polars as pl

if TYPE_CHECKING:
    from rbt.pipeline.engine import _Compiler

__all__ = [
    "BoundColumn",
    "Classifier",
    "CustomClassifier",
    "CustomFactor",
    "CustomFilter",
    "Factor",
    "Filter",
    "NotSpecified",
    "Term",
]


class _NotSpecified:
    def __repr__(self) -> str:
        return "NotSpecified"


#: Zipline's sentinel for "use the default" (``mask=NotSpecified``).
NotSpecified: Any = _NotSpecified()

_ROW = pl.col("_row")
_EXISTS = pl.col("_exists")


def _enough(window: int) -> pl.Expr:
    """True where a window of ``window`` rows fits in the data (per asset)."""
    return window - 1 <= _ROW


def _clean(expr: pl.Expr) -> pl.Expr:
    """NaN → null, so reductions and ranks skip it (as Zipline's nan functions do)."""
    return expr.fill_nan(None)


def _specified(value: Any) -> bool:
    return value is not None and value is not NotSpecified


class Term:
    """Base of every pipeline expression."""

    #: ``"float"``, ``"bool"``, ``"int"`` or ``"str"``.
    kind: ClassVar[str] = "float"
    window_safe: ClassVar[bool] = False

    def _expr(self, ctx: _Compiler) -> pl.Expr:  # pragma: no cover - abstract
        raise NotImplementedError

    def _deps(self) -> tuple[Term, ...]:
        return ()

    #: rows of history the term reads (0 for terms that read none themselves)
    window_length: Any = 0

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


# ------------------------------------------------------------------------------------------
# bound columns (inputs)
# ------------------------------------------------------------------------------------------
class BoundColumn(Term):
    """A column of a dataset (``USEquityPricing.close``): an input to window terms."""

    window_safe = True

    def __init__(self, name: str, dataset: str) -> None:
        self.name = name
        self.dataset = dataset

    def _expr(self, ctx: _Compiler) -> pl.Expr:
        return pl.col(self.name)

    @property
    def latest(self) -> Factor:
        """The most recent value (as of the previous close): Zipline's ``.latest``."""
        from rbt.pipeline.factors import Latest

        return Latest(inputs=[self])

    @property
    def qualname(self) -> str:
        return f"{self.dataset}.{self.name}"

    def _refuse(self, *args: Any) -> Any:
        raise TypeError(
            f"{self.qualname} is a dataset column, not a factor; use {self.qualname}.latest "
            "(or a window factor such as SimpleMovingAverage) in expressions"
        )

    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _refuse
    __truediv__ = __rtruediv__ = __pow__ = __lt__ = __le__ = __gt__ = __ge__ = _refuse
    __hash__ = Term.__hash__

    def __repr__(self) -> str:
        return f"{self.dataset}.{self.name}::float64"


# ------------------------------------------------------------------------------------------
# factors
# ------------------------------------------------------------------------------------------
def _as_term(value: Any) -> Term | float:
    if isinstance(value, Term):
        if isinstance(value, BoundColumn):
            raise TypeError(
                f"{value!r} is a dataset column; use {value.qualname}.latest in expressions"
            )
        return value
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        raise TypeError(f"cannot combine a pipeline term with {value!r}")
    return float(value)


def _operand(ctx: _Compiler, value: Term | float) -> pl.Expr:
    return ctx.expr(value) if isinstance(value, Term) else pl.lit(value, dtype=pl.Float64)


class Factor(Term):
    """A float per asset per session. Supports arithmetic, comparisons and normalizations."""

    kind = "float"

    # -- arithmetic -----------------------------------------------------------------------
    def _binary(self, op: str, other: Any, reflected: bool = False) -> Factor:
        rhs = _as_term(other)
        return _Arithmetic(op, rhs, self) if reflected else _Arithmetic(op, self, rhs)

    def __add__(self, other: Any) -> Factor:
        return self._binary("+", other)

    def __radd__(self, other: Any) -> Factor:
        return self._binary("+", other, True)

    def __sub__(self, other: Any) -> Factor:
        return self._binary("-", other)

    def __rsub__(self, other: Any) -> Factor:
        return self._binary("-", other, True)

    def __mul__(self, other: Any) -> Factor:
        return self._binary("*", other)

    def __rmul__(self, other: Any) -> Factor:
        return self._binary("*", other, True)

    def __truediv__(self, other: Any) -> Factor:
        return self._binary("/", other)

    def __rtruediv__(self, other: Any) -> Factor:
        return self._binary("/", other, True)

    def __pow__(self, other: Any) -> Factor:
        return self._binary("**", other)

    def __rpow__(self, other: Any) -> Factor:
        return self._binary("**", other, True)

    def __mod__(self, other: Any) -> Factor:
        return self._binary("%", other)

    def __neg__(self) -> Factor:
        return _Arithmetic("*", self, -1.0)

    def __abs__(self) -> Factor:
        return _Unary("abs", self)

    def abs(self) -> Factor:
        """Absolute value."""
        return _Unary("abs", self)

    def log(self) -> Factor:
        """Natural logarithm."""
        return _Unary("log", self)

    def log1p(self) -> Factor:
        """``log(1 + x)``."""
        return _Unary("log1p", self)

    def exp(self) -> Factor:
        """``e ** x``."""
        return _Unary("exp", self)

    def sqrt(self) -> Factor:
        """Square root."""
        return _Unary("sqrt", self)

    def fillna(self, fill_value: float) -> Factor:
        """Replace NaN with ``fill_value``."""
        return _FillNa(self, float(fill_value))

    def clip(self, min_bound: float, max_bound: float, mask: Any = NotSpecified) -> Factor:
        """Clip to ``[min_bound, max_bound]`` (NaN stays NaN)."""
        return _Clip(self, float(min_bound), float(max_bound), mask)

    # -- comparisons → filters ----------------------------------------------------------
    def _compare(self, op: str, other: Any) -> Filter:
        return _Comparison(op, self, _as_term(other))

    def __lt__(self, other: Any) -> Filter:
        return self._compare("<", other)

    def __le__(self, other: Any) -> Filter:
        return self._compare("<=", other)

    def __gt__(self, other: Any) -> Filter:
        return self._compare(">", other)

    def __ge__(self, other: Any) -> Filter:
        return self._compare(">=", other)

    def eq(self, other: Any) -> Filter:
        """``self == other`` as a filter (``==`` itself keeps Python's identity meaning)."""
        return self._compare("==", other)

    def ne(self, other: Any) -> Filter:
        """``self != other`` as a filter."""
        return self._compare("!=", other)

    __hash__ = Term.__hash__

    def isnan(self) -> Filter:
        """True where the value is NaN (missing)."""
        return _Predicate("isnan", self)

    def notnan(self) -> Filter:
        """True where the value is not NaN."""
        return _Predicate("notnan", self)

    def isfinite(self) -> Filter:
        """True where the value is finite."""
        return _Predicate("isfinite", self)

    isnull = isnan
    notnull = notnan

    # -- cross-sectional -------------------------------------------------------------------
    def rank(
        self,
        method: str = "ordinal",
        ascending: bool = True,
        mask: Any = NotSpecified,
        groupby: Any = NotSpecified,
    ) -> Factor:
        """Rank (1 = smallest unless ``ascending=False``) among the assets in ``mask``
        (and within each ``groupby`` label). Ordinal ties go to the lower sid first,
        as in Zipline. NaN values get a NaN rank."""
        if method not in ("ordinal", "min", "max", "dense", "average"):
            raise ValueError(f"unknown rank method {method!r}")
        return _Rank(self, method, ascending, mask, groupby)

    def zscore(self, mask: Any = NotSpecified, groupby: Any = NotSpecified) -> Factor:
        """``(x - mean) / std`` (population std) over the assets in ``mask``/each group."""
        return _Normalize("zscore", self, mask, groupby)

    def demean(self, mask: Any = NotSpecified, groupby: Any = NotSpecified) -> Factor:
        """``x - mean`` over the assets in ``mask``/each group."""
        return _Normalize("demean", self, mask, groupby)

    def top(self, N: int, mask: Any = NotSpecified, groupby: Any = NotSpecified) -> Filter:
        """The ``N`` largest values (per group); NaN never qualifies."""
        return self.rank(ascending=False, mask=mask, groupby=groupby) <= N

    def bottom(self, N: int, mask: Any = NotSpecified, groupby: Any = NotSpecified) -> Filter:
        """The ``N`` smallest values (per group); NaN never qualifies."""
        return self.rank(ascending=True, mask=mask, groupby=groupby) <= N

    def percentile_between(
        self, min_percentile: float, max_percentile: float, mask: Any = NotSpecified
    ) -> Filter:
        """Values between the ``min_percentile`` and ``max_percentile`` (0-100) of the
        row, inclusive, computed with linear interpolation (numpy's ``nanpercentile``)."""
        if not 0 <= min_percentile <= max_percentile <= 100:
            raise ValueError(
                "percentile_between needs 0 <= min_percentile <= max_percentile <= 100, "
                f"got {min_percentile}, {max_percentile}"
            )
        return _PercentileBetween(self, float(min_percentile), float(max_percentile), mask)

    def quantiles(self, bins: int, mask: Any = NotSpecified) -> Classifier:
        """Label each asset 0..bins-1 by its row quantile (pandas ``qcut``); -1 if NaN."""
        if bins < 1:
            raise ValueError(f"bins must be at least 1, got {bins}")
        return _Quantiles(self, int(bins), mask)

    def quartiles(self, mask: Any = NotSpecified) -> Classifier:
        """``quantiles(4)``."""
        return self.quantiles(4, mask)

    def quintiles(self, mask: Any = NotSpecified) -> Classifier:
        """``quantiles(5)``."""
        return self.quantiles(5, mask)

    def deciles(self, mask: Any = NotSpecified) -> Classifier:
        """``quantiles(10)``."""
        return self.quantiles(10, mask)


class _Arithmetic(Factor):
    window_safe = True

    def __init__(self, op: str, left: Term | float, right: Term | float) -> None:
        self.op, self.left, self.right = op, left, right

    def _deps(self) -> tuple[Term, ...]:
        return tuple(t for t in (self.left, self.right) if isinstance(t, Term))

    def _expr(self, ctx: _Compiler) -> pl.Expr:
        a, b = _operand(ctx, self.left), _operand(ctx, self.right)
        op = self.op
        result = (
            a + b
            if op == "+"
            else a - b
            if op == "-"
            else a * b
            if op == "*"
            else a / b
            if op == "/"
            else a % b
            if op == "%"
            else a.pow(b)
        )
        return _clean(result)


class _Unary(Factor):
    window_safe = True

    def __init__(self, op: str, term: Factor) -> None:
        self.op, self.term = op, term

    def _deps(self) -> tuple[Term, ...]:
        return (self.term,)

    def _expr(self, ctx: _Compiler) -> pl.Expr:
        x = ctx.expr(self.term)
        op = self.op
        result = (
            x.abs()
            if op == "abs"
            else x.log()
            if op == "log"
            else x.log1p()
            if op == "log1p"
            else x.exp()
            if op == "exp"
            else x.sqrt()
        )
        return _clean(result)


class _FillNa(Factor):
    def __init__(self, term: Factor, value: float) -> None:
        self.term, self.value = term, value

    def _deps(self) -> tuple[Term, ...]:
        return (self.term,)

    def _expr(self, ctx: _Compiler) -> pl.Expr:
        return ctx.expr(self.term).fill_null(self.value)


class _Clip(Factor):
    def __init__(self, term: Factor, lo: float, hi: float, mask: Any) -> None:
        self.term, self.lo, self.hi, self.mask = term, lo, hi, mask

    def _deps(self) -> tuple[Term, ...]:
        return (self.term,) + ((self.mask,) if _specified(self.mask) else ())

    def _expr(self, ctx: _Compiler) -> pl.Expr:
        value = ctx.expr(self.term).clip(self.lo, self.hi)
        return pl.when(ctx.mask_expr(self.mask)).then(value) if _specified(self.mask) else value


# -- cross-sectional (each data row on its own) -------------------------------------------
def _valid(ctx: _Compiler, value: pl.Expr, mask: Any, groupby: Any) -> pl.Expr:
    cond = _EXISTS & value.is_not_null()
    if _specified(mask):
        cond = cond & ctx.mask_expr(mask)
    if _specified(groupby):
        cond = cond & ctx.column(groupby).is_not_null()
    return cond


def _partition(ctx: _Compiler, groupby: Any) -> list[pl.Expr]:
    keys = [_ROW]
    if _specified(groupby):
        if not isinstance(groupby, Classifier):
            raise TypeError(f"groupby must be a Classifier, got {groupby!r}")
        keys.append(ctx.column(groupby))
    return keys


class _Rank(Factor):
    window_safe = True

    def __init__(self, term: Factor, method: str, ascending: bool, mask: Any, groupby: Any):
        self.term, self.method, self.ascending = term, method, ascending
        self.mask, self.groupby = mask, groupby

    def _deps(self) -> tuple[Term, ...]:
        extra = tuple(t for t in (self.mask, self.groupby) if isinstance(t, Term))
        return (self.term, *extra)

    def _expr(self, ctx: _Compiler) -> pl.Expr:
        value = ctx.column(self.term)
        keyed = pl.when(_valid(ctx, value, self.mask, self.groupby)).then(
            value if self.ascending else -value
        )
        # ordinal ties are broken by order of appearance: the frame is sorted by asset column,
        # i.e. by sid, like Zipline's stable (mergesort) argsort
        return keyed.rank(self.method).over(_partition(ctx, self.groupby)).cast(pl.Float64)


class _Normalize(Factor):
    window_safe = True

    def __init__(self, how: str, term: Factor, mask: Any, groupby: Any) -> None:
        self.how, self.term, self.mask, self.groupby = how, term, mask, groupby

    def _deps(self) -> tuple[Term, ...]:
        extra = tuple(t for t in (self.mask, self.groupby) if isinstance(t, Term))
        return (self.term, *extra)

    def _expr(self, ctx: _Compiler) -> pl.Expr:
        value = ctx.column(self.term)
        kept = pl.when(_valid(ctx, value, self.mask, self.groupby)).then(value)
        keys = _partition(ctx, self.groupby)
        centred = kept - kept.mean().over(keys)
        if self.how == "demean":
            return _clean(centred)
        return _clean(centred / kept.std(ddof=0).over(keys))


# ------------------------------------------------------------------------------------------
# filters
# ------------------------------------------------------------------------------------------
class Filter(Term):
    """A boolean per asset per session; combine with ``&``, ``|`` and ``~``."""

    kind = "bool"
    window_safe = True

    def __and__(self, other: Any) -> Filter:
        return _BoolOp("&", self, _as_filter(other))

    def __rand__(self, other: Any) -> Filter:
        return _BoolOp("&", _as_filter(other), self)

    def __or__(self, other: Any) -> Filter:
        return _BoolOp("|", self, _as_filter(other))

    def __ror__(self, other: Any) -> Filter:
        return _BoolOp("|", _as_filter(other), self)

    def __invert__(self) -> Filter:
        return _Not(self)

    def if_else(self, if_true: Factor, if_false: Factor) -> Factor:
        """``if_true`` where this filter holds, else ``if_false``."""
        return _IfElse(self, if_true, if_false)


def _as_filter(value: Any) -> Filter:
    if isinstance(value, Filter):
        return value
    raise TypeError(f"expected a Filter, got {value!r}")


class _PercentileBetween(Filter):
    def __init__(self, term: Factor, lo: float, hi: float, mask: Any) -> None:
        self.term, self.lo, self.hi, self.mask = term, lo, hi, mask

    def _deps(self) -> tuple[Term, ...]:
        return (self.term,) + ((self.mask,) if _specified(self.mask) else ())

    def _expr(self, ctx: _Compiler) -> pl.Expr:
        value = ctx.column(self.term)
        kept = pl.when(_valid(ctx, value, self.mask, NotSpecified)).then(value)
        lo = kept.quantile(self.lo / 100, "linear").over(_ROW)
        hi = kept.quantile(self.hi / 100, "linear").over(_ROW)
        return ((lo <= kept) & (kept <= hi)).fill_null(False)


class _BoolOp(Filter):
    def __init__(self, op: str, left: Term, right: Term) -> None:
        self.op, self.left, self.right = op, left, right

    def _deps(self) -> tuple[Term, ...]:
        return (self.left, self.right)

    def _expr(self, ctx: _Compiler) -> pl.Expr:
        a, b = ctx.expr(self.left), ctx.expr(self.right)
        return (a & b) if self.op == "&" else (a | b)


class _Not(Filter):
    def __init__(self, term: Term) -> None:
        self.term = term

    def _deps(self) -> tuple[Term, ...]:
        return (self.term,)

    def _expr(self, ctx: _Compiler) -> pl.Expr:
        return ~ctx.expr(self.term)


class _Comparison(Filter):
    def __init__(self, op: str, left: Term | float, right: Term | float) -> None:
        self.op, self.left, self.right = op, left, right

    def _deps(self) -> tuple[Term, ...]:
        return tuple(t for t in (self.left, self.right) if isinstance(t, Term))

    def _expr(self, ctx: _Compiler) -> pl.Expr:
        a, b = _operand(ctx, self.left), _operand(ctx, self.right)
        op = self.op
        result = (
            a < b
            if op == "<"
            else a <= b
            if op == "<="
            else a > b
            if op == ">"
            else a >= b
            if op == ">="
            else a == b
            if op == "=="
            else a != b
        )
        return result.fill_null(False)  # NaN compares False, as in numpy


class _Predicate(Filter):
    def __init__(self, how: str, term: Term) -> None:
        self.how, self.term = how, term

    def _deps(self) -> tuple[Term, ...]:
        return (self.term,)

    def _expr(self, ctx: _Compiler) -> pl.Expr:
        x = ctx.expr(self.term)
        if self.how == "isnan":
            return x.is_null()
        if self.how == "notnan":
            return x.is_not_null()
        return x.is_finite().fill_null(False)


class _IfElse(Factor):
    def __init__(self, cond: Filter, a: Factor, b: Factor) -> None:
        self.cond, self.a, self.b = cond, a, b

    def _deps(self) -> tuple[Term, ...]:
        return (self.cond, self.a, self.b)

    def _expr(self, ctx: _Compiler) -> pl.Expr:
        return pl.when(ctx.expr(self.cond)).then(ctx.expr(self.a)).otherwise(ctx.expr(self.b))


# ------------------------------------------------------------------------------------------
# classifiers
# ------------------------------------------------------------------------------------------
class Classifier(Term):
    """A label per asset per session (int64 with -1 missing, or str with None missing)."""

    kind = "int"
    window_safe = True

    def eq(self, other: Any) -> Filter:
        """Assets labelled ``other``."""
        return _LabelFilter("eq", self, (other,))

    def __ne__(self, other: object) -> Any:
        return _LabelFilter("ne", self, (other,))

    __hash__ = Term.__hash__

    def element_of(self, choices: Iterable[Any]) -> Filter:
        """Assets whose label is one of ``choices``."""
        return _LabelFilter("in", self, tuple(choices))

    def isnull(self) -> Filter:
        """Assets without a label."""
        return _LabelFilter("null", self, ())

    def notnull(self) -> Filter:
        """Assets with a label."""
        return _LabelFilter("notnull", self, ())


class _LabelFilter(Filter):
    def __init__(self, how: str, term: Classifier, values: tuple[Any, ...]) -> None:
        self.how, self.term, self.values = how, term, values

    def _deps(self) -> tuple[Term, ...]:
        return (self.term,)

    def _expr(self, ctx: _Compiler) -> pl.Expr:
        x = ctx.expr(self.term)
        if self.how == "null":
            return x.is_null()
        if self.how == "notnull":
            return x.is_not_null()
        if self.how == "in":
            return x.is_in(list(self.values)).fill_null(False)
        if self.how == "eq":
            return (x == self.values[0]).fill_null(False)
        return (x != self.values[0]).fill_null(True)


class _Quantiles(Classifier):
    def __init__(self, term: Factor, bins: int, mask: Any) -> None:
        self.term, self.bins, self.mask = term, bins, mask

    def _deps(self) -> tuple[Term, ...]:
        return (self.term,) + ((self.mask,) if _specified(self.mask) else ())

    def _expr(self, ctx: _Compiler) -> pl.Expr:
        value = ctx.column(self.term)
        kept = pl.when(_valid(ctx, value, self.mask, NotSpecified)).then(value)
        # pandas.qcut(labels=False): bins (e_k, e_k+1], the lowest one closed on the left
        label = pl.lit(0, dtype=pl.Int64)
        for k in range(1, self.bins):
            edge = kept.quantile(k / self.bins, "linear").over(_ROW)
            label = label + (kept > edge).cast(pl.Int64)
        return pl.when(kept.is_not_null()).then(label)


# ------------------------------------------------------------------------------------------
# custom terms: the user's numpy compute, once per session
# ------------------------------------------------------------------------------------------
class _CustomMixin:
    """Zipline's ``CustomFactor`` machinery: class defaults, params, windows of inputs."""

    inputs: Any = NotSpecified
    outputs: Any = NotSpecified
    params: Any = ()
    mask: Any = NotSpecified
    dtype: Any = None
    missing_value: Any = NotSpecified
    window_length: Any = NotSpecified

    def _setup(
        self,
        inputs: Any,
        window_length: Any,
        mask: Any,
        dtype: Any,
        missing_value: Any,
        outputs: Any,
        params: Mapping[str, Any],
    ) -> None:
        cls = type(self)
        chosen = inputs if _specified(inputs) else cls.inputs
        if not _specified(chosen):
            raise TypeError(f"{cls.__name__} needs inputs=[...] (e.g. [USEquityPricing.close])")
        self.inputs = tuple(chosen)
        for term in self.inputs:
            if not isinstance(term, Term):
                raise TypeError(f"{cls.__name__}: inputs must be pipeline terms, got {term!r}")
        length = window_length if _specified(window_length) else cls.window_length
        if not isinstance(length, int) or isinstance(length, bool) or length < 1:
            raise TypeError(
                f"{cls.__name__} needs a positive integer window_length, got {length!r}"
            )
        self.window_length = length
        self.mask = mask if _specified(mask) else cls.mask
        if dtype is not None:
            self.dtype = dtype
        if missing_value is not NotSpecified:
            self.missing_value = missing_value
        outs = outputs if _specified(outputs) else cls.outputs
        self.outputs = tuple(outs) if _specified(outs) else NotSpecified
        declared = cls.params
        if isinstance(declared, Mapping):
            values = dict(declared)
            unknown = sorted(set(params) - set(values))
            if unknown:
                raise TypeError(f"{cls.__name__} got unexpected params {unknown}")
            values.update(params)
        else:
            missing = [p for p in declared if p not in params]
            if missing:
                raise TypeError(f"{cls.__name__} missing required params {missing}")
            unknown = sorted(set(params) - set(declared))
            if unknown:
                raise TypeError(f"{cls.__name__} got unexpected params {unknown}")
            values = dict(params)
        self.params = values

    def _deps(self) -> tuple[Term, ...]:
        extra = (self.mask,) if isinstance(self.mask, Term) else ()
        return (*self.inputs, *extra)

    def __getattr__(self, name: str) -> Any:
        outputs = self.__dict__.get("outputs", NotSpecified)
        if _specified(outputs) and name in outputs:
            return _Output(self, name)  # type: ignore[arg-type]
        raise AttributeError(f"{type(self).__name__!r} has no attribute {name!r}")

    def __iter__(self) -> Any:
        if not _specified(self.outputs):
            raise TypeError(f"{type(self).__name__} has a single output and cannot be unpacked")
        return iter([_Output(self, name) for name in self.outputs])  # type: ignore[arg-type]

    def _uses_numpy(self) -> bool:
        return type(self).compute is not getattr(type(self), "_builtin_compute", None)

    def compute(self, today: Any, assets: Any, out: Any, *arrays: Any, **params: Any) -> None:
        raise NotImplementedError(f"{type(self).__name__} must define compute()")

    def _missing(self) -> Any:
        return (
            self.missing_value
            if self.missing_value is not NotSpecified
            else (-1 if self.kind == "int" else False if self.kind == "bool" else np.nan)
        )

    def _run_compute(self, ctx: _Compiler) -> dict[str, np.ndarray]:
        """Call ``compute`` per session; return ``name -> [T, N]`` arrays."""
        arrays = [ctx.array(t) for t in self.inputs]
        mask = ctx.bool_array(self.mask)
        length = self.window_length
        names = list(self.outputs) if _specified(self.outputs) else ["_"]
        np_dtype = {"float": np.float64, "bool": np.bool_, "int": np.int64}.get(self.kind, object)
        missing = self._missing()
        quiet = type(self).compute.__module__ == "rbt.pipeline.factors"
        results = {n: np.full(ctx.shape, missing, dtype=np_dtype) for n in names}
        for row in ctx.rows:
            if row < length - 1:
                continue  # not enough history yet: missing value
            cols = mask[row]
            if not cols.any():
                continue
            count = int(cols.sum())
            if _specified(self.outputs):
                out: Any = np.recarray(count, dtype=[(n, np_dtype) for n in names])
                out[:] = missing
            else:
                out = np.full(count, missing, dtype=np_dtype)
            windows = [a[row - length + 1 : row + 1][:, cols] for a in arrays]
            for window in windows:
                window.flags.writeable = False
            with np.errstate(all="ignore"), warnings.catch_warnings():
                if quiet:  # the built-ins' nan-reductions warn on all-NaN windows, as Zipline's
                    warnings.simplefilter("ignore", RuntimeWarning)
                self.compute(ctx.today(row), ctx.sids[cols], out, *windows, **self.params)
            for n in names:
                results[n][row, cols] = out if n == "_" else out[n]
        return results


class _Output(Term):
    """One named output of a multi-output term (``BollingerBands().upper``)."""

    kind = "float"
    window_safe = True

    def __init__(self, parent: Any, name: str) -> None:
        self.parent, self.name = parent, name

    def _deps(self) -> tuple[Term, ...]:
        return (self.parent,)

    def _expr(self, ctx: _Compiler) -> pl.Expr:
        return ctx.output(self.parent, self.name)

    def __repr__(self) -> str:
        return f"{self.parent!r}.{self.name}"


class CustomFactor(_CustomMixin, Factor):
    """Zipline's ``CustomFactor``: subclass, set ``inputs``/``window_length`` (class
    attributes or arguments) and define ``compute(self, today, assets, out, *inputs)``.

    ``inputs`` arrive as ``float64[window_length, n_assets]`` windows ending at the
    previous session's close, restricted to the assets in ``mask`` (default: the
    universe of that session); write the results into ``out``. Before
    ``window_length`` bars exist, ``compute`` is not called and the factor is NaN.
    """

    def __init__(
        self,
        inputs: Any = NotSpecified,
        window_length: Any = NotSpecified,
        mask: Any = NotSpecified,
        dtype: Any = None,
        missing_value: Any = NotSpecified,
        outputs: Any = NotSpecified,
        **params: Any,
    ) -> None:
        self._setup(inputs, window_length, mask, dtype, missing_value, outputs, params)

    def _polars(self, ctx: _Compiler, inputs: Sequence[pl.Expr]) -> pl.Expr | Mapping[str, pl.Expr]:
        """The built-ins' Polars form (used unless a subclass overrides ``compute``)."""
        raise NotImplementedError

    def _expr(self, ctx: _Compiler) -> pl.Expr:
        if _specified(self.outputs):
            raise TypeError(
                f"{type(self).__name__} has several outputs ({', '.join(self.outputs)}); "
                "use one of them, e.g. factor.upper"
            )
        return ctx.output(self, "_")


class CustomFilter(_CustomMixin, Filter):
    """A filter computed by ``compute(self, today, assets, out, *inputs)`` (``out`` bool)."""

    def __init__(
        self,
        inputs: Any = NotSpecified,
        window_length: Any = NotSpecified,
        mask: Any = NotSpecified,
        **params: Any,
    ) -> None:
        self._setup(inputs, window_length, mask, None, NotSpecified, NotSpecified, params)

    def _expr(self, ctx: _Compiler) -> pl.Expr:
        return ctx.output(self, "_").fill_null(False)


class CustomClassifier(_CustomMixin, Classifier):
    """A classifier computed by ``compute(self, today, assets, out, *inputs)``
    (``out`` int64; ``missing_value``, default -1, means no label)."""

    def __init__(
        self,
        inputs: Any = NotSpecified,
        window_length: Any = NotSpecified,
        mask: Any = NotSpecified,
        missing_value: Any = NotSpecified,
        **params: Any,
    ) -> None:
        self._setup(inputs, window_length, mask, None, missing_value, NotSpecified, params)

    def _expr(self, ctx: _Compiler) -> pl.Expr:
        value = ctx.output(self, "_")
        return pl.when(value != self._missing()).then(value)


# helpers shared with the built-in factors --------------------------------------------------
def rolling(expr: pl.Expr, window: int, how: Callable[[pl.Expr], pl.Expr]) -> pl.Expr:
    """Apply a rolling reduction ``how`` per asset; null the rows without a full window.

    Per asset (``over("_col")``), so an incremental rolling sum never carries another
    asset's later rows — Polars' rolling kernels update sums incrementally.
    """
    return pl.when(_enough(window)).then(how(expr).over("_col"))


def shifted(expr: pl.Expr, periods: int) -> pl.Expr:
    """``expr`` ``periods`` rows earlier for the same asset (null before its data)."""
    return expr.shift(periods).over("_col")
