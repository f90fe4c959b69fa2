"""Synthetic CSV directories for tests and the ingest benchmark (exact text, no floats)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np

from rbt.plugins.calendars import get_calendar


def xnys_sessions(count: int, start: dt.date = dt.date(2010, 1, 4)) -> list[dt.date]:
    """The first ``count`` XNYS sessions from ``start``."""
    days = get_calendar("XNYS").sessions(start, start + dt.timedelta(days=count * 2))
    return list(days[:count])


def write_csv_dir(directory: Path, n_files: int, n_rows: int, seed: int = 7) -> Path:
    """Write ``n_files`` valid daily CSVs of ``n_rows`` XNYS sessions each into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    dates = [d.isoformat() for d in xnys_sessions(n_rows)]
    rng = np.random.default_rng(seed)
    for i in range(n_files):
        steps = rng.integers(-150, 151, size=n_rows)
        close = 10_000 + np.abs(np.cumsum(steps))  # cents, > 0
        open_ = close + rng.integers(-50, 51, size=n_rows)
        open_ = np.maximum(open_, 1)
        high = np.maximum(open_, close) + rng.integers(0, 80, size=n_rows)
        low = np.maximum(np.minimum(open_, close) - rng.integers(0, 80, size=n_rows), 1)
        vol = rng.integers(0, 5_000_000, size=n_rows)
        lines = ["Date,Open,High,Low,Close,Volume"]
        lines += [
            f"{d},{o // 100}.{o % 100:02d},{h // 100}.{h % 100:02d},{lo // 100}.{lo % 100:02d},"
            f"{c // 100}.{c % 100:02d},{v}"
            for d, o, h, lo, c, v in zip(dates, open_, high, low, close, vol, strict=True)
        ]
        (directory / f"S{i:04d}.csv").write_text("\n".join(lines) + "\n")
    return directory
