"""Exit codes of ``rbt`` (pytest-style)."""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    """Documented in the README's CLI reference."""

    OK = 0
    RUN_FAILED = 1  # the strategy raised, data was refused, a run could not complete
    USAGE_ERROR = 2  # bad arguments or configuration
    INTERNAL_ERROR = 3  # a bug in RustyBT
    PLUGIN_ERROR = 4  # a plugin could not be loaded, or names clash
