"""The conformance kit, run on this plugin: copy this file into your own plugin."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from rbt.testing import CommissionModelConformance, PackagingConformance


class TestBpsWithMinimum(CommissionModelConformance):
    provider = "template.bps_with_minimum"
    # a commission model needs no built-in plugin; leave `builtins` at its default to
    # test a provider next to every built-in (brokers, data sources)
    builtins = ()


class TestBpsWithMinimumNoMinimum(CommissionModelConformance):
    provider = "template.bps_with_minimum"
    provider_kwargs: ClassVar[Mapping[str, str]] = {"basis_points": "12.5", "minimum": "0"}
    builtins = ()


class TestPackaging(PackagingConformance):
    entry_point = "template"
