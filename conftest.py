"""Settings every test session shares (the framework's tests and the contrib packages').

Property tests are derandomized by default: the same examples on every run, so a red
CI run is reproducible and a green one is not luck. ``RBT_HYPOTHESIS=explore`` draws
fresh random examples instead (run it when hunting bugs; a failure prints the
``@reproduce_failure`` blob to pin it).
"""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("deterministic", derandomize=True, database=None, print_blob=True)
settings.register_profile("explore", database=None, print_blob=True)
settings.load_profile(os.environ.get("RBT_HYPOTHESIS", "deterministic"))
