"""Test set-up of the plugin.

In a standalone copy of this template (its own repository, pytest run from its root),
this is the top-level conftest and the documented opt-in works::

    pytest_plugins = ["rbt.testing.pytest_plugin"]

Inside the rbt repository this conftest is *not* top-level, and pytest refuses
``pytest_plugins`` here; the repository's ``tests/conftest.py`` loads the kit for the
whole session instead. Importing the fixtures by name works in both places (and when
pytest is pointed at this directory alone), so that is what this file does.
"""

from __future__ import annotations

from rbt.testing.pytest_plugin import rbt_environ_guard, rbt_harness, rbt_tmp_dists

__all__ = ["rbt_environ_guard", "rbt_harness", "rbt_tmp_dists"]
