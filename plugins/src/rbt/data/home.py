"""``$RBT_HOME``: where bundles, the database, results and credentials live.

Layout (design.md §2.1a.7)::

    $RBT_HOME/
      bundles/<name>/        Parquet bundles with their manifest
      rbt.sqlite             the one database (assets, runs, ...), Alembic-managed
      results/<run_id>/      result files of each run
      cache/                 derived data that can be rebuilt (calendar schedules, the
                             decoded arrays of loaded bundles)
      credentials            the encrypted credential store

Default: ``platformdirs.user_data_dir("rbt")``; every command takes ``--home``.
"""

from __future__ import annotations

import os
from pathlib import Path

import attrs

__all__ = ["RbtHome", "default_home"]


def default_home() -> Path:
    """``$RBT_HOME`` if set, else the platform's user data directory for ``rbt``."""
    env = os.environ.get("RBT_HOME")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("rbt", appauthor=False))


@attrs.frozen
class RbtHome:
    """Paths below one RBT home directory."""

    root: Path = attrs.field(factory=default_home, converter=lambda p: Path(p).expanduser())

    @property
    def bundles(self) -> Path:
        """Directory of all bundles."""
        return self.root / "bundles"

    def bundle(self, name: str) -> Path:
        """Directory of bundle ``name``."""
        return self.bundles / name

    @property
    def database_url(self) -> str:
        """SQLAlchemy URL of the database (``RBT_DATABASE_URL`` overrides the SQLite file)."""
        return os.environ.get("RBT_DATABASE_URL") or f"sqlite:///{self.root / 'rbt.sqlite'}"

    @property
    def results(self) -> Path:
        """Directory of run results."""
        return self.root / "results"

    @property
    def cache(self) -> Path:
        """Directory of rebuildable caches."""
        return self.root / "cache"

    @property
    def credentials(self) -> Path:
        """The encrypted credential store."""
        return self.root / "credentials"
