"""Real, temporary distributions for plugin-discovery tests.

:class:`TempDistributions` writes a minimal ``*.dist-info`` (``METADATA`` plus
``entry_points.txt``) and the plugin's modules into a directory and puts it on
``sys.path``, so :mod:`importlib.metadata` finds an installed distribution for real
— no patched entry points. :meth:`TempDistributions.cleanup` restores ``sys.path``
and drops the imported modules again. The ``rbt_tmp_dists`` fixture wraps it.
"""

from __future__ import annotations

import importlib
import re
import sys
import textwrap
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType

__all__ = ["TempDistributions"]


class TempDistributions:
    """Install throw-away distributions under ``root`` (one ``sys.path`` entry each).

    :param root: an empty temporary directory.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self._paths: list[str] = []
        self._modules: set[str] = set()
        # real modules a temporary one shadows (a fake "ccxt"): restored by cleanup, so the
        # rest of the process keeps the very module objects it imported before
        self._shadowed: dict[str, ModuleType] = {}

    def install(
        self,
        dist: str,
        version: str = "1.0",
        *,
        entry_points: Mapping[str, str] | None = None,
        modules: Mapping[str, str] | None = None,
        group: str = "rbt.plugins",
    ) -> Path:
        """Install distribution ``dist`` and return its ``sys.path`` directory.

        :param entry_points: entry-point name -> ``module`` or ``module:attr``.
        :param modules: dotted module name -> source (dedented); packages get an
            ``__init__.py`` automatically.
        """
        site = self.root / f"site-{len(self._paths)}-{dist}"
        site.mkdir(parents=True)
        info = site / f"{re.sub(r'[-_.]+', '_', dist)}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n", encoding="utf-8"
        )
        if entry_points:
            lines = [f"[{group}]", *(f"{name} = {target}" for name, target in entry_points.items())]
            (info / "entry_points.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
        for dotted, source in (modules or {}).items():
            parts = dotted.split(".")
            directory = site
            for package in parts[:-1]:
                directory = directory / package
                directory.mkdir(exist_ok=True)
                (directory / "__init__.py").touch()
            (directory / f"{parts[-1]}.py").write_text(textwrap.dedent(source), encoding="utf-8")
            for i in range(len(parts)):
                name = ".".join(parts[: i + 1])
                if name in sys.modules and name not in self._modules:
                    self._shadowed.setdefault(name, sys.modules[name])
                self._modules.add(name)
        sys.path.insert(0, str(site))
        self._paths.append(str(site))
        importlib.invalidate_caches()
        return site

    def cleanup(self) -> None:
        """Take every installed distribution off ``sys.path`` and forget its modules."""
        for path in self._paths:
            while path in sys.path:
                sys.path.remove(path)
        for name in self._modules:
            sys.modules.pop(name, None)
        sys.modules.update(self._shadowed)
        self._shadowed.clear()
        self._paths.clear()
        self._modules.clear()
        importlib.invalidate_caches()
