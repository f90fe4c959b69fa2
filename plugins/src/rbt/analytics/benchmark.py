"""Benchmark returns: from a bundle asset or a returns CSV, aligned to the run's sessions.

**Alignment rule** (one return per session of the run, nothing else):

* the benchmark is reindexed onto the run's sessions; a session the benchmark
  has no return for (missing date, empty or NaN value, an asset without a bar
  that session) counts as a **0.0 return** and is counted in ``missing``
  (reported in the manifest as ``benchmark.missing_sessions``, with the first
  few dates, and printed as a warning by ``rbt run``);
* a benchmark date inside the run's range that is not a session (a weekend,
  a holiday) is **dropped** — not compounded into the next session — and
  counted in ``extra``; dates outside the run's range are ignored;
* for a bundle asset, the return of a session is its close over the asset's previous
  close in the bundle, minus 1 (the first session of a run uses the close before it
  when the bundle has one; the asset's first bar has no return: missing).

A returns CSV has a header with a ``date`` column and a ``return`` column
(case-insensitive; ``returns`` is accepted too). Dates are ``YYYY-MM-DD``,
optionally followed by a time (``1993-02-01 00:00:00+00:00``, as in the SPY
file zipline ships): the date part is the session. Returns are simple decimal
returns (0.01 is 1 %). A malformed file is rejected whole, naming the line.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt

from rbt.kernel.errors import ConfigError
from rbt.kernel.model import Asset

__all__ = ["Benchmark", "align_returns", "from_bars", "read_returns_csv", "resolve_benchmark"]

_SHOWN_MISSING = 10


@attrs.frozen(kw_only=True)
class Benchmark:
    """Benchmark returns aligned to a run's sessions.

    :param label: where they come from: ``symbol:SPY``, ``csv:/path/spy.csv``, ``series``.
    :param digest: content hash of the source returns (part of the run id when explicit).
    :param returns: one float per session of the run.
    :param missing: sessions without a benchmark return (taken as 0.0).
    :param extra: benchmark dates inside the run's range that are not sessions (dropped).
    """

    label: str
    digest: str
    returns: npt.NDArray[np.float64] = attrs.field(eq=False)
    missing: int = 0
    extra: int = 0
    missing_dates: tuple[dt.date, ...] = ()

    def manifest(self) -> dict[str, Any]:
        """What the run's manifest records about the benchmark."""
        return {
            "source": self.label,
            "digest": self.digest,
            "missing_sessions": self.missing,
            "extra_dates": self.extra,
            "first_missing": [d.isoformat() for d in self.missing_dates],
        }


def _digest(pairs: Mapping[dt.date, float]) -> str:
    text = "\n".join(f"{d.isoformat()},{v!r}" for d, v in sorted(pairs.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def align_returns(
    returns: Mapping[dt.date, float], sessions: Sequence[dt.date], label: str, digest: str = ""
) -> Benchmark:
    """Apply the alignment rule to date → return pairs."""
    values = np.zeros(len(sessions))
    missing: list[dt.date] = []
    for i, session in enumerate(sessions):
        value = returns.get(session)
        if value is None or not math.isfinite(value):
            missing.append(session)
        else:
            values[i] = value
    extra = 0
    if sessions:
        in_run = set(sessions)
        first, last = sessions[0], sessions[-1]
        extra = sum(1 for d in returns if first <= d <= last and d not in in_run)
    return Benchmark(
        label=label,
        digest=digest or _digest(dict(returns)),
        returns=values,
        missing=len(missing),
        extra=extra,
        missing_dates=tuple(missing[:_SHOWN_MISSING]),
    )


def read_returns_csv(path: str | Path) -> dict[dt.date, float]:
    """Read a ``date,return`` CSV (see the module docs); empty or NaN values are missing."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"benchmark file not found: {path}")
    out: dict[dt.date, float] = {}
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            raise ConfigError(f"{path}: empty benchmark file (expected a date,return header)")
        names = [h.strip().lower() for h in header]
        date_col = next((i for i, n in enumerate(names) if n in ("date", "session", "")), None)
        ret_col = next((i for i, n in enumerate(names) if n in ("return", "returns")), None)
        if date_col is None or ret_col is None:
            raise ConfigError(
                f"{path}: line 1: expected columns date,return; got {','.join(header)}"
            )
        for line, row in enumerate(reader, start=2):
            if not row or all(not cell.strip() for cell in row):
                continue
            try:
                text = row[date_col].strip()
                day = dt.date.fromisoformat(text[:10])
                raw = row[ret_col].strip()
            except (IndexError, ValueError):
                raise ConfigError(
                    f"{path}: line {line}: expected a date like 2020-01-31 in column "
                    f"{header[date_col]!r}, got {','.join(row)!r}"
                ) from None
            if day in out:
                raise ConfigError(f"{path}: line {line}: date {day} appears twice")
            if raw == "" or raw.lower() == "nan":
                out[day] = math.nan  # a gap: missing, counted by the alignment
                continue
            try:
                value = float(raw)
            except ValueError:
                raise ConfigError(f"{path}: line {line}: return {raw!r} is not a number") from None
            if not math.isfinite(value) or value <= -1.0:
                raise ConfigError(f"{path}: line {line}: return {raw!r} is not a valid return")
            out[day] = value
    return out


def from_bars(bars: Any, asset: Asset, sessions: Sequence[dt.date]) -> dict[dt.date, float]:
    """Close-to-close returns of ``asset`` on ``sessions`` from a bundle's bar arrays.

    The close of a session is its last bar's (daily or minute bars); a session whose
    asset has no bar, or no earlier close to compare with, has no return (missing).
    """
    try:
        column = bars.column(asset)
    except KeyError:
        raise ConfigError(f"benchmark {asset.symbol!r} is not in the bundle") from None
    closes = np.asarray(bars.floats["close"][:, column], dtype=np.float64)
    last_close: dict[dt.date, float] = {}
    order: list[dt.date] = []
    for label, close in zip(bars.sessions.astype("datetime64[D]").tolist(), closes, strict=True):
        if math.isfinite(close):
            if label not in last_close:
                order.append(label)
            last_close[label] = float(close)
    previous_of = {d: order[i - 1] for i, d in enumerate(order) if i > 0}
    out: dict[dt.date, float] = {}
    for session in sessions:
        close = last_close.get(session)
        before = previous_of.get(session)
        if close is None or before is None or last_close[before] == 0:
            continue
        out[session] = close / last_close[before] - 1.0
    return out


def resolve_benchmark(
    spec: Any, *, bars: Any, sessions: Sequence[dt.date], bundle: str = ""
) -> Benchmark | None:
    """Benchmark returns for ``spec``: None, an :class:`Asset`, a symbol of the bundle, a
    path to a returns CSV (``.csv``), a pandas Series of returns indexed by date, or a
    mapping date → return."""
    if spec is None:
        return None
    if isinstance(spec, Benchmark):
        return spec
    if isinstance(spec, Asset):
        pairs = from_bars(bars, spec, sessions)
        label = f"symbol:{spec.symbol}"
        return align_returns(pairs, sessions, label, _bars_digest(label, bundle, pairs))
    if isinstance(spec, Path) or (isinstance(spec, str) and _looks_like_file(spec)):
        path = Path(spec).expanduser().resolve()
        pairs = read_returns_csv(path)
        return align_returns(pairs, sessions, f"csv:{path}")
    if isinstance(spec, str):
        by_symbol = {a.symbol: a for a in bars.assets}
        asset = by_symbol.get(spec.strip())
        if asset is None:
            import difflib

            close = difflib.get_close_matches(spec, list(by_symbol), n=5)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise ConfigError(
                f"benchmark {spec!r}: not a symbol of bundle {bundle!r} nor a .csv file{hint}"
            )
        return resolve_benchmark(asset, bars=bars, sessions=sessions, bundle=bundle)
    if hasattr(spec, "index") and hasattr(spec, "to_numpy"):  # pandas Series
        days = [_to_date(d) for d in spec.index]
        return align_returns(
            dict(zip(days, (float(v) for v in spec.to_numpy()), strict=True)), sessions, "series"
        )
    if isinstance(spec, Mapping):
        pairs = {_to_date(k): float(v) for k, v in spec.items()}
        return align_returns(pairs, sessions, "mapping")
    raise ConfigError(
        f"benchmark: expected an asset, a symbol, a .csv path or returns; got {spec!r}"
    )


def _bars_digest(label: str, bundle: str, pairs: Mapping[dt.date, float]) -> str:
    return hashlib.sha256(f"{label}|{bundle}|{_digest(pairs)}".encode()).hexdigest()[:16]


def _looks_like_file(text: str) -> bool:
    return text.lower().endswith(".csv") or "/" in text or Path(text).expanduser().is_file()


def _to_date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if hasattr(value, "date") and callable(value.date):
        result = value.date()
        if isinstance(result, dt.date):
            return result
    return dt.date.fromisoformat(str(value)[:10])
