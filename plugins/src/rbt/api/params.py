"""Strategy parameters: declared defaults, typed overrides (design.md §2.1a.6)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from rbt.kernel.errors import ConfigError

__all__ = ["Params", "merge_params", "parse_param_assignments"]


class Params(Mapping[str, Any]):
    """Read-only parameters, by key (``params["fast"]``) or attribute (``params.fast``)."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        values = dict(values)
        object.__setattr__(self, "_values", values)
        # each name also as an instance attribute: ``params.fast`` in a per-bar loop is
        # then one dict lookup, not a failed lookup and a __getattr__ call (names the
        # class or the instance already use keep resolving to those, as before)
        attributes = vars(self)
        for key, value in values.items():
            if (
                isinstance(key, str)
                and key.isidentifier()
                and key not in attributes
                and not hasattr(type(self), key)
            ):
                attributes[key] = value

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __getattr__(self, key: str) -> Any:
        # a name that is not an attribute: a parameter the class shadows, or none
        values: dict[str, Any] = vars(self).get("_values", {})
        try:
            return values[key]
        except KeyError:
            raise AttributeError(
                f"no parameter {key!r}; declared: {', '.join(values) or 'none'}"
            ) from None

    def __setattr__(self, key: str, value: Any) -> None:
        raise AttributeError("parameters are read-only; override them with --param or params=")

    def __delattr__(self, key: str) -> None:
        raise AttributeError("parameters are read-only; override them with --param or params=")

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"Params({self._values!r})"

    def __reduce__(self) -> tuple[type[Params], tuple[dict[str, Any]]]:
        # rebuilt through __init__ (pickle, copy): the instance refuses attribute writes
        return (type(self), (self._values,))

    def to_dict(self) -> dict[str, Any]:
        """A plain copy."""
        return dict(self._values)


def _coerce(name: str, default: Any, value: Any) -> Any:
    if not isinstance(value, str) or isinstance(default, str) or default is None:
        return value
    try:
        if isinstance(default, bool):
            lowered = value.strip().lower()
            if lowered in {"1", "true", "yes", "on"}:
                return True
            if lowered in {"0", "false", "no", "off"}:
                return False
            raise ValueError(value)
        if isinstance(default, int):
            return int(value)
        if isinstance(default, float):
            return float(value)
        if isinstance(default, Decimal):
            return Decimal(value)
    except (ValueError, InvalidOperation):
        raise ConfigError(
            f"parameter {name!r}: cannot read {value!r} as {type(default).__name__} "
            f"(its default is {default!r})"
        ) from None
    return value


def merge_params(declared: Mapping[str, Any], overrides: Mapping[str, Any]) -> Params:
    """Apply ``overrides`` to ``declared`` defaults, converting text to the default's type.

    :raises ConfigError: for an undeclared name (listing the declared ones) or a bad value.
    """
    unknown = sorted(set(overrides) - set(declared))
    if unknown:
        raise ConfigError(
            f"unknown parameter(s) {', '.join(unknown)}; the strategy declares: "
            f"{', '.join(sorted(declared)) or 'none (add PARAMS = {...})'}"
        )
    values = dict(declared)
    for name, value in overrides.items():
        values[name] = _coerce(name, declared[name], value)
    return Params(values)


def parse_param_assignments(items: list[str]) -> dict[str, str]:
    """Parse ``["k=v", ...]`` from the command line.

    :raises ConfigError: for an item without ``=``.
    """
    result: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--param expects key=value, got {item!r}")
        result[key.strip()] = value
    return result
