"""Zipline's ``Pipeline``: named columns plus an optional screen."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rbt.pipeline._terms import BoundColumn, CustomFactor, Filter, Term, _specified

__all__ = ["Pipeline"]


def _check_column(term: Any, name: str) -> Term:
    if isinstance(term, BoundColumn):
        raise TypeError(
            f"pipeline column {name!r}: {term!r} is a dataset column, not a term; "
            f"use {term.qualname}.latest"
        )
    if not isinstance(term, Term):
        raise TypeError(
            f"pipeline column {name!r}: expected a Factor, Filter or Classifier, got {term!r}"
        )
    if isinstance(term, CustomFactor) and _specified(term.outputs):
        raise TypeError(
            f"pipeline column {name!r}: {type(term).__name__} has several outputs "
            f"({', '.join(term.outputs)}); add one of them, e.g. term.{term.outputs[0]}"
        )
    return term


def _check_screen(screen: Any) -> Filter | None:
    if screen is None:
        return None
    if not isinstance(screen, Filter):
        raise TypeError(f"a pipeline screen must be a Filter, got {screen!r}")
    return screen


class Pipeline:
    """A set of named terms computed together for every asset of the universe.

    :param columns: ``name -> Factor | Filter | Classifier``.
    :param screen: a :class:`Filter`; only assets passing it appear in the output.
    :param domain: accepted for Zipline compatibility (the bundle defines the universe).
    """

    def __init__(
        self,
        columns: Mapping[str, Term] | None = None,
        screen: Filter | None = None,
        domain: Any = None,
    ) -> None:
        self._columns: dict[str, Term] = {}
        for name, term in (columns or {}).items():
            self._columns[name] = _check_column(term, name)
        self._screen = _check_screen(screen)
        self.domain = domain

    @property
    def columns(self) -> dict[str, Term]:
        """The pipeline's columns (a copy)."""
        return dict(self._columns)

    @property
    def screen(self) -> Filter | None:
        """The screen, or None."""
        return self._screen

    def add(self, term: Term, name: str, overwrite: bool = False) -> None:
        """Add ``term`` as column ``name``."""
        if name in self._columns and not overwrite:
            raise KeyError(f"column {name!r} already exists; pass overwrite=True to replace it")
        self._columns[name] = _check_column(term, name)

    def remove(self, name: str) -> Term:
        """Remove and return column ``name``."""
        return self._columns.pop(name)

    def set_screen(self, screen: Filter, overwrite: bool = False) -> None:
        """Set the screen (``overwrite=True`` to replace an existing one)."""
        if self._screen is not None and not overwrite:
            raise ValueError("the pipeline already has a screen; pass overwrite=True")
        self._screen = _check_screen(screen)

    def __repr__(self) -> str:
        return f"Pipeline(columns={list(self._columns)}, screen={self._screen!r})"
