"""Parameter spaces: ints, floats, categoricals, log scales; validated before any trial runs.

A space is a mapping ``name -> Param``. :func:`parse_space` accepts ``Param`` objects,
dicts (``{"type": "int", "low": 5, "high": 30}``) or CLI text (``int:5:30``,
``float:0.01:1:log``, ``int:5:30:5`` with a grid step, ``cat:a,b,c``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import numpy as np

from rbt.kernel.errors import ConfigError

__all__ = ["Categorical", "Float", "Int", "Param", "Space", "parse_space"]


@attrs.frozen
class Int:
    """Integers ``low..high`` inclusive; ``step`` for the grid; ``log`` samples on a log scale."""

    low: int
    high: int
    step: int = 1
    log: bool = False

    def check(self, name: str) -> None:
        if (
            isinstance(self.low, bool)
            or not isinstance(self.low, int)
            or not isinstance(self.high, int)
        ):
            raise ConfigError(f"parameter {name!r}: int bounds must be integers")
        if self.low > self.high:
            raise ConfigError(f"parameter {name!r}: low {self.low} > high {self.high}")
        if not isinstance(self.step, int) or self.step < 1:
            raise ConfigError(f"parameter {name!r}: step must be a positive integer")
        if self.log and self.low <= 0:
            raise ConfigError(f"parameter {name!r}: a log scale needs low > 0")

    def grid(self, points: int) -> list[Any]:
        if self.log:
            vals = np.unique(np.round(np.geomspace(self.low, self.high, points)).astype(int))
            return [int(v) for v in vals]
        return list(range(self.low, self.high + 1, self.step))

    def sample(self, rng: np.random.Generator) -> Any:
        if self.log:
            v = math.exp(rng.uniform(math.log(self.low), math.log(self.high + 1)))
            return int(min(self.high, max(self.low, math.floor(v))))
        n = (self.high - self.low) // self.step
        return int(self.low + self.step * int(rng.integers(0, n + 1)))

    def to_unit(self, value: Any) -> float:
        if self.high == self.low:
            return 0.0
        if self.log:
            return (math.log(value) - math.log(self.low)) / (
                math.log(self.high) - math.log(self.low)
            )
        return (value - self.low) / (self.high - self.low)

    def from_unit(self, u: float) -> Any:
        u = min(1.0, max(0.0, u))
        if self.log:
            v = math.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low)))
        else:
            v = self.low + u * (self.high - self.low)
        k = round((v - self.low) / self.step)
        return int(min(self.high, max(self.low, self.low + k * self.step)))


@attrs.frozen
class Float:
    """Floats in ``[low, high]``; ``log`` for a log scale; ``step`` (or 5 points) for the grid."""

    low: float
    high: float
    step: float | None = None
    log: bool = False

    def check(self, name: str) -> None:
        for bound in (self.low, self.high):
            if (
                isinstance(bound, bool)
                or not isinstance(bound, int | float)
                or not math.isfinite(bound)
            ):
                raise ConfigError(f"parameter {name!r}: float bounds must be finite numbers")
        if self.low > self.high:
            raise ConfigError(f"parameter {name!r}: low {self.low} > high {self.high}")
        if self.step is not None and not self.step > 0:
            raise ConfigError(f"parameter {name!r}: step must be positive")
        if self.log and self.low <= 0:
            raise ConfigError(f"parameter {name!r}: a log scale needs low > 0")

    def grid(self, points: int) -> list[Any]:
        if self.step is not None:
            n = math.floor((self.high - self.low) / self.step + 1e-9)
            return [round(self.low + i * self.step, 12) for i in range(n + 1)]
        if self.log:
            return [float(v) for v in np.geomspace(self.low, self.high, points)]
        return [float(v) for v in np.linspace(self.low, self.high, points)]

    def _clip(self, v: float) -> float:
        return float(min(self.high, max(self.low, v)))

    def sample(self, rng: np.random.Generator) -> Any:
        if self.log:
            return self._clip(math.exp(rng.uniform(math.log(self.low), math.log(self.high))))
        return self._clip(rng.uniform(self.low, self.high))

    def to_unit(self, value: Any) -> float:
        if self.high == self.low:
            return 0.0
        if self.log:
            return (math.log(value) - math.log(self.low)) / (
                math.log(self.high) - math.log(self.low)
            )
        return (value - self.low) / (self.high - self.low)

    def from_unit(self, u: float) -> Any:
        u = min(1.0, max(0.0, u))
        if self.log:
            return self._clip(
                math.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low)))
            )
        return self._clip(self.low + u * (self.high - self.low))


@attrs.frozen
class Categorical:
    """One of ``choices`` (str, int, float or bool)."""

    choices: tuple[Any, ...] = attrs.field(converter=tuple)

    def check(self, name: str) -> None:
        if not self.choices:
            raise ConfigError(f"parameter {name!r}: a categorical needs at least one choice")
        if len(set(map(repr, self.choices))) != len(self.choices):
            raise ConfigError(f"parameter {name!r}: duplicate choices")
        for c in self.choices:
            if not isinstance(c, str | int | float | bool):
                raise ConfigError(f"parameter {name!r}: choice {c!r} is not str/int/float/bool")

    def grid(self, points: int) -> list[Any]:
        return list(self.choices)

    def sample(self, rng: np.random.Generator) -> Any:
        return self.choices[int(rng.integers(0, len(self.choices)))]

    def to_unit(self, value: Any) -> float:
        return self.choices.index(value) / max(1, len(self.choices) - 1)

    def from_unit(self, u: float) -> Any:
        return self.choices[min(len(self.choices) - 1, max(0, round(u * (len(self.choices) - 1))))]


Param = Int | Float | Categorical


def _number(text: str, name: str, kind: type) -> Any:
    try:
        return kind(text)
    except ValueError:
        raise ConfigError(f"parameter {name!r}: {text!r} is not a valid {kind.__name__}") from None


def _auto(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def parse_param(name: str, spec: Any) -> Param:
    """One parameter from a ``Param``, a dict or CLI text; validated."""
    if not isinstance(name, str) or not name.isidentifier():
        raise ConfigError(f"parameter {name!r}: not a valid parameter name")
    if isinstance(spec, Int | Float | Categorical):
        param = spec
    elif isinstance(spec, Mapping):
        kind = spec.get("type")
        rest = {k: v for k, v in spec.items() if k != "type"}
        try:
            if kind == "int":
                param = Int(**rest)
            elif kind == "float":
                param = Float(**rest)
            elif kind in ("cat", "categorical"):
                param = Categorical(rest["choices"])
            else:
                raise ConfigError(f"parameter {name!r}: unknown type {kind!r}")
        except TypeError as exc:
            raise ConfigError(f"parameter {name!r}: {exc}") from None
    elif isinstance(spec, str):
        kind, _, rest = spec.partition(":")
        parts = rest.split(":") if rest else []
        log = bool(parts) and parts[-1] == "log"
        if log:
            parts = parts[:-1]
        if kind == "int":
            if len(parts) not in (2, 3):
                raise ConfigError(f"parameter {name!r}: expected int:LOW:HIGH[:STEP][:log]")
            vals = [_number(p, name, int) for p in parts]
            param = Int(vals[0], vals[1], vals[2] if len(vals) == 3 else 1, log)
        elif kind == "float":
            if len(parts) not in (2, 3):
                raise ConfigError(f"parameter {name!r}: expected float:LOW:HIGH[:STEP][:log]")
            vals = [_number(p, name, float) for p in parts]
            param = Float(vals[0], vals[1], vals[2] if len(vals) == 3 else None, log)
        elif kind in ("cat", "categorical"):
            if not rest:
                raise ConfigError(f"parameter {name!r}: expected cat:A,B,C")
            param = Categorical(tuple(_auto(c) for c in rest.split(",")))
        else:
            raise ConfigError(f"parameter {name!r}: unknown type {kind!r} (int, float, cat)")
    elif isinstance(spec, Sequence):
        param = Categorical(tuple(spec))
    else:
        raise ConfigError(f"parameter {name!r}: cannot read a parameter from {spec!r}")
    param.check(name)
    return param


@attrs.frozen
class Space:
    """An ordered, validated parameter space."""

    params: Mapping[str, Param]

    def __iter__(self) -> Any:
        return iter(self.params)

    def __len__(self) -> int:
        return len(self.params)

    def grid(self, points: int = 5) -> list[dict[str, Any]]:
        """Every combination (float ranges without a step get ``points`` values)."""
        import itertools

        names = list(self.params)
        axes = [self.params[n].grid(points) for n in names]
        return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*axes)]

    def sample(self, rng: np.random.Generator) -> dict[str, Any]:
        return {n: p.sample(rng) for n, p in self.params.items()}

    def describe(self) -> dict[str, Any]:
        out = {}
        for n, p in self.params.items():
            out[n] = {"type": type(p).__name__.lower(), **attrs.asdict(p)}
        return out


def parse_space(spec: Mapping[str, Any] | Sequence[str] | Space) -> Space:
    """A :class:`Space` from a mapping or ``name=spec`` texts; raises naming the bad parameter."""
    if isinstance(spec, Space):
        return spec
    items: list[tuple[str, Any]]
    if isinstance(spec, Mapping):
        items = list(spec.items())
    else:
        items = []
        for text in spec:
            name, sep, rest = str(text).partition("=")
            if not sep:
                raise ConfigError(f"parameter space entry {text!r}: expected NAME=TYPE:...")
            items.append((name.strip(), rest.strip()))
    if not items:
        raise ConfigError("the parameter space is empty")
    params = {}
    for name, s in items:
        if name in params:
            raise ConfigError(f"parameter {name!r}: declared twice")
        params[name] = parse_param(name, s)
    return Space(params)
