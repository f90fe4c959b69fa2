"""Runs of equal values in a 1-d array (rows of one symbol, bars of one timestamp)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["run_starts"]


def run_starts(values: npt.NDArray[np.generic]) -> npt.NDArray[np.int64]:
    """Index of the first element of each run of equal consecutive ``values``."""
    if not len(values):
        return np.zeros(0, np.int64)
    return np.flatnonzero(np.r_[True, values[1:] != values[:-1]])
