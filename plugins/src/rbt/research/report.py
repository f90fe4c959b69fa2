"""A parameter heatmap of a sweep, as a self-contained HTML file (plotly.js inlined)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from rbt.kernel.errors import ConfigError

__all__ = ["heatmap_grid", "write_heatmap"]


def heatmap_grid(sweep: Any, x: str, y: str) -> tuple[list[Any], list[Any], list[list[float]]]:
    """``(xs, ys, z)``: the mean objective of finished trials at each (x, y); NaN where none."""
    names = list(sweep.space.params)
    for n in (x, y):
        if n not in names:
            raise ConfigError(f"heatmap: {n!r} is not a parameter of the sweep ({names})")
    cells: dict[tuple[Any, Any], list[float]] = {}
    for t in sweep.trials:
        if t["status"] == "ok" and t["value"] is not None and math.isfinite(t["value"]):
            cells.setdefault((t["params"][x], t["params"][y]), []).append(t["value"])
    xs = sorted({k[0] for k in cells}, key=lambda v: (str(type(v)), v))
    ys = sorted({k[1] for k in cells}, key=lambda v: (str(type(v)), v))
    z = [
        [sum(cells[(a, b)]) / len(cells[(a, b)]) if (a, b) in cells else math.nan for a in xs]
        for b in ys
    ]
    return xs, ys, z


def write_heatmap(sweep: Any, path: str | Path, x: str | None = None, y: str | None = None) -> Path:
    """Write the heatmap of the objective over parameters ``x`` and ``y`` (default: the
    first two; the mean over the other parameters)."""
    import plotly.graph_objects as go

    names = list(sweep.space.params)
    if len(names) < 2 and (x is None or y is None):
        raise ConfigError("heatmap: the sweep needs two parameters")
    x = x or names[0]
    y = y or next(n for n in names if n != x)
    xs, ys, z = heatmap_grid(sweep, x, y)
    fig = go.Figure(
        go.Heatmap(
            x=[str(v) for v in xs],
            y=[str(v) for v in ys],
            z=z,
            colorscale="Viridis",
            colorbar={"title": sweep.objective},
        )
    )
    fig.update_layout(
        title=f"sweep {sweep.sweep_id}: {sweep.objective} ({sweep.direction}) by {x} and {y}",
        xaxis_title=x,
        yaxis_title=y,
    )
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(fig.to_html(include_plotlyjs=True, full_html=True), encoding="utf-8")
    return out
