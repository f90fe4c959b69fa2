"""What every conformance class shares: provider resolution, capability skips, env guard."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from types import MappingProxyType
from typing import Any, ClassVar

import pytest

from rbt.kernel.registry import Provider, ProviderKind
from rbt.testing.capabilities import missing_capabilities
from rbt.testing.harness import RbtHarness, environ_unchanged

__all__ = ["ProviderConformance"]


class ProviderConformance:
    """Base of the provider conformance classes. Subclass one of its subclasses.

    Class attributes a subclass sets:

    ``provider`` (required)
        the provider name under test, e.g. ``"kraken.spot"`` or ``"per_share"``.
    ``provider_kwargs``
        keyword arguments for the provider's factory (default: none).
    ``plugin``
        entry-point name of the installed plugin that registers it; default: the part
        of ``provider`` before the first dot (none for an unqualified built-in name).
    ``plugins``
        ``(name, object)`` pairs registered in-process instead of (or besides) an
        installed plugin.
    ``builtins``
        built-in modules to register (default: :data:`rbt.plugins.BUILTINS`).
    """

    kind: ClassVar[ProviderKind]
    provider: ClassVar[str] = ""
    provider_kwargs: ClassVar[Mapping[str, Any]] = MappingProxyType({})
    plugin: ClassVar[str | None] = None
    plugins: ClassVar[Sequence[tuple[str, object]]] = ()
    builtins: ClassVar[Sequence[str] | None] = None

    @classmethod
    def make_harness(cls) -> RbtHarness:
        """The isolated harness the provider is resolved in."""
        if not cls.provider:
            raise TypeError(
                f"{cls.__qualname__} must set the class attribute `provider` to the name of "
                "the provider under test, e.g. provider = 'mine.flat_fee'"
            )
        in_process = {name for name, _ in cls.plugins}
        plugin = cls.plugin
        if plugin is None and "." in cls.provider:
            plugin = cls.provider.split(".", 1)[0]
        entry_points = [plugin] if plugin and plugin not in in_process else []
        return RbtHarness(builtins=cls.builtins, entry_points=entry_points, plugins=cls.plugins)

    @classmethod
    def make(cls, record: Provider) -> Any:
        """Build a fresh object from the provider record."""
        return record.create(**cls.provider_kwargs)

    @pytest.fixture(scope="class")
    @classmethod
    def rbt_provider_record(cls) -> Provider:
        """The provider record under test, from an isolated manager."""
        return cls.make_harness().provider(cls.kind, cls.provider)

    @pytest.fixture(autouse=True)
    def _rbt_conformance_guard(
        self, request: pytest.FixtureRequest, rbt_provider_record: Provider
    ) -> Iterator[None]:
        missing = missing_capabilities(request.function, rbt_provider_record.capabilities)
        if missing:
            pytest.skip(
                f"provider {rbt_provider_record.name!r} does not declare "
                f"capabilit{'y' if len(missing) == 1 else 'ies'} {', '.join(missing)}"
            )
        with environ_unchanged():
            yield

    def test_tc_000_provider_record_is_valid(self, rbt_provider_record: Provider) -> None:
        """TC-000: the record is of the right kind, named as asked, with a valid factory."""
        assert rbt_provider_record.kind is self.kind
        assert rbt_provider_record.name == self.provider
        assert callable(rbt_provider_record.load())
