"""Packaging conformance (TC-P..) as a pytest class. Subclass and name the entry point::

    from rbt.testing import PackagingConformance

    class TestPackaging(PackagingConformance):
        entry_point = "kraken"

The checks themselves live in :mod:`rbt.testing.packaging` (``rbt plugins check`` runs
them without pytest).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

import pytest

from rbt.testing.packaging import FORBIDDEN_IMPORTS, CheckResult, run_packaging_checks

__all__ = ["PackagingConformance"]


class PackagingConformance:
    """Packaging cases for an installed plugin distribution (TC-P01..)."""

    #: The entry-point name in ``rbt.plugins`` (the plugin's namespace).
    entry_point: ClassVar[str] = ""
    #: Modules importing the entry point must not pull in.
    forbidden_imports: ClassVar[Iterable[str]] = FORBIDDEN_IMPORTS

    @pytest.fixture(scope="class")
    @classmethod
    def rbt_packaging_results(cls) -> dict[str, CheckResult]:
        """Every check's result, by code (run once per class)."""
        if not cls.entry_point:
            raise TypeError(f"{cls.__qualname__} must set `entry_point` to the plugin's name")
        results = run_packaging_checks(cls.entry_point, forbidden=cls.forbidden_imports)
        return {r.code: r for r in results}

    @staticmethod
    def _check(results: dict[str, CheckResult], code: str) -> None:
        result = results[code]
        assert result.passed, f"{result.code} {result.title}: {result.detail}"

    def test_tc_p01_entry_point_resolves(
        self, rbt_packaging_results: dict[str, CheckResult]
    ) -> None:
        """TC-P01: one distribution declares it, it loads, it is not a class."""
        self._check(rbt_packaging_results, "TC-P01")

    def test_tc_p02_import_budget(self, rbt_packaging_results: dict[str, CheckResult]) -> None:
        """TC-P02: loading the entry point imports no forbidden module (fresh interpreter)."""
        self._check(rbt_packaging_results, "TC-P02")

    def test_tc_p03_provider_names_are_namespaced(
        self, rbt_packaging_results: dict[str, CheckResult]
    ) -> None:
        """TC-P03: valid Provider records named ``<entry point>.<provider>``."""
        self._check(rbt_packaging_results, "TC-P03")

    def test_tc_p04_check_pending_passes(
        self, rbt_packaging_results: dict[str, CheckResult]
    ) -> None:
        """TC-P04: no misspelt ``rbt_*`` hook."""
        self._check(rbt_packaging_results, "TC-P04")

    def test_tc_p05_factories_resolve(self, rbt_packaging_results: dict[str, CheckResult]) -> None:
        """TC-P05: every factory resolves to a callable."""
        self._check(rbt_packaging_results, "TC-P05")

    def test_tc_p06_rbt_plugin_keyword(self, rbt_packaging_results: dict[str, CheckResult]) -> None:
        """TC-P06: the distribution is findable on PyPI by its ``rbt-plugin`` keyword."""
        self._check(rbt_packaging_results, "TC-P06")
