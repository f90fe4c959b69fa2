"""Views of a run's shadow metrics: the status dict and the self-contained HTML report.

Both read ``alignment_metrics`` (and the kill switch from ``live_sessions``). The report
inlines plotly.js (read from the plotly package, never fetched) and draws match rate,
slippage error, fill-rate error and live vs shadow value over time; it lists the
breaker's trip report (the metrics and orders that crossed), the decisions that did not
match exactly and the worst paired fills.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from rbt.shadow.store import load_rows

__all__ = ["render_html", "shadow_status", "write_html"]

_EVENTS = ("trip", "breaker_reset", "shadow_failed", "shadow_started")
_SERIES = ("match_rate", "slippage_error_bps", "fill_rate_error", "commission_error_bps")


def _float(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _iso(ts: int) -> str:
    return dt.datetime.fromtimestamp(ts / 1e9, dt.UTC).isoformat(timespec="seconds")


def shadow_status(db: Any, run_id: str) -> dict[str, Any]:
    """The shadow's state, latest metrics, counts and trip report for ``run_id``.

    :raises LookupError: when the run has no shadow metrics.
    """
    rows = load_rows(db, run_id)
    if not rows:
        raise LookupError(f"run {run_id!r} has no shadow metrics (was the shadow on?)")
    latest: dict[str, dict[str, Any]] = {}
    for row in rows:  # series: the latest in time; events (trip, reset, ...): as written
        seen = latest.get(row["metric"])
        if row["metric"] in _EVENTS and seen is not None and seen["id"] > row["id"]:
            continue
        latest[row["metric"]] = row
    with db.connect() as conn:
        session = conn.execute(
            sa.text(
                "SELECT mode, status, trading_state, state_reason FROM live_sessions "
                "WHERE run_id = :r"
            ),
            {"r": run_id},
        ).fetchone()
    trip = latest.get("trip")
    reset = latest.get("breaker_reset")
    failed = latest.get("shadow_failed")
    started = latest.get("shadow_started")
    outstanding = trip is not None and (reset is None or reset["id"] < trip["id"])
    if failed is not None and (started is None or failed["id"] > started["id"]):
        state = "failed"
    elif outstanding:
        state = "tripped"
    else:
        state = "running" if session is None or session[1] == "running" else str(session[1])
    metrics = {}
    for name in _SERIES:
        found = latest.get(name)
        if found is not None:
            metrics[name] = {
                "value": _float(found["value"]),
                "samples": found["details"].get("samples", 0),
                "ts": found["ts"],
            }
    counts = (latest.get("match_rate") or {}).get("details", {}).get("counts", {})
    fills = (latest.get("fill_rate_error") or {}).get("details", {}).get("counts", {})
    return {
        "run_id": run_id,
        "state": state,
        "mode": None if session is None else session[0],
        "run_status": None if session is None else session[1],
        "trading_state": None if session is None else session[2],
        "state_reason": None if session is None else session[3],
        "metrics": metrics,
        "signals": counts,
        "paired_fills": fills,
        "thresholds": None if started is None else started["details"].get("thresholds"),
        "trip": None if trip is None else {"ts": trip["ts"], **trip["details"]},
        "trip_outstanding": outstanding,
        "error": None if failed is None else failed["value"],
        "updated": _iso(rows[-1]["ts"]),
    }


def _plotly_js() -> str:
    from importlib.resources import files

    return files("plotly").joinpath("package_data", "plotly.min.js").read_text(encoding="utf-8")


def _figure(div_id: str, title: str, traces: Sequence[dict[str, Any]], y_title: str) -> str:
    layout = {
        "title": {"text": title, "x": 0.01, "xanchor": "left", "font": {"size": 14}},
        "height": 320,
        "margin": {"l": 60, "r": 20, "t": 40, "b": 40},
        "yaxis": {"title": {"text": y_title}, "gridcolor": "#eee"},
        "xaxis": {"gridcolor": "#eee"},
        "legend": {"orientation": "h", "y": 1.15, "x": 1, "xanchor": "right"},
        "hovermode": "x unified",
    }
    data = json.dumps(list(traces), allow_nan=False, separators=(",", ":"))
    spec = json.dumps(layout, allow_nan=False, separators=(",", ":"))
    return (
        f'<div id="{div_id}" style="height:320px;width:100%"></div>'
        f'<script>window.rbtPlots.push(Plotly.newPlot("{div_id}",{data},{spec},'
        '{"displaylogo":false,"responsive":true}));</script>'
    )


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _fmt(value: Any, spec: str) -> str:
    number = _float(value)
    return "-" if number is None else format(number, spec)


_CSS = (
    "body{font-family:system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1f2937}"
    "header{background:#111827;color:#f9fafb;padding:16px 28px}header h1{margin:0;font-size:20px}"
    "header p{margin:4px 0 0;color:#9ca3af;font-size:13px}main{padding:12px 28px;max-width:1300px;"
    "margin:auto}section{background:#fff;border-radius:8px;box-shadow:0 1px 3px #0001;"
    "margin:12px 0;padding:10px 16px}.cards{display:flex;flex-wrap:wrap;gap:10px}"
    ".card{background:#fff;border-radius:8px;box-shadow:0 1px 3px #0001;padding:10px 16px;"
    "min-width:140px}.card b{display:block;font-size:20px}.card span{font-size:12px;color:#6b7280}"
    "table{border-collapse:collapse;width:100%;font-size:13px}th,td{padding:4px 8px;"
    "border-bottom:1px solid #eee;text-align:left}.bad{color:#b91c1c}h2{font-size:16px}"
)


def render_html(db: Any, run_id: str) -> str:
    """The shadow report of ``run_id`` as one HTML document (no network needed)."""
    status = shadow_status(db, run_id)
    rows = load_rows(db, run_id)
    series: dict[str, tuple[list[str], list[float | None]]] = {}
    for row in rows:
        if row["metric"] in (*_SERIES, "portfolio"):
            xs, ys = series.setdefault(row["metric"], ([], []))
            xs.append(_iso(row["ts"]))
            ys.append(_float(row["value"]))
    thresholds = status.get("thresholds") or {}

    def line(metric: str, name: str) -> dict[str, Any]:
        xs, ys = series.get(metric, ([], []))
        return {"x": xs, "y": ys, "type": "scatter", "mode": "lines+markers", "name": name}

    def limit(metric: str, value: Any, name: str) -> list[dict[str, Any]]:
        xs = series.get(metric, ([], []))[0]
        number = _float(value)
        if not xs or number is None:
            return []
        dash = {"dash": "dash", "color": "#b91c1c"}
        return [
            {"x": [xs[0], xs[-1]], "y": [number, number], "type": "scatter", "mode": "lines",
             "name": name, "line": dash}
        ]  # fmt: skip

    live_x, live_y = [], []
    for row in rows:
        if row["metric"] == "portfolio":
            live_x.append(_iso(row["ts"]))
            live_y.append(_float(row["details"].get("live")))
    figures = [
        _figure("match", "Signal match rate", [line("match_rate", "match rate"),
                *limit("match_rate", thresholds.get("match_rate"), "breaker")], "rate"),
        _figure("slip", "Slippage error (live − shadow)",
                [line("slippage_error_bps", "rolling mean"),
                 *limit("slippage_error_bps", thresholds.get("slippage_bps"), "breaker")], "bps"),
        _figure("fill", "Fill-rate error", [line("fill_rate_error", "rolling mean"),
                *limit("fill_rate_error", thresholds.get("fill_rate_error"), "breaker")], "error"),
        _figure("value", "Portfolio value", [line("portfolio", "shadow"),
                {"x": live_x, "y": live_y, "type": "scatter", "mode": "lines", "name": "live"}],
                "value"),
    ]  # fmt: skip
    metrics = status["metrics"]
    cards = [
        ("state", status["state"]),
        ("kill switch", status["trading_state"] or "-"),
        ("match rate", _fmt((metrics.get("match_rate") or {}).get("value"), ".4f")),
        ("slippage error (bps)", _fmt((metrics.get("slippage_error_bps") or {}).get("value"),
                                      ".2f")),
        ("fill-rate error", _fmt((metrics.get("fill_rate_error") or {}).get("value"), ".2%")),
        ("commission error (bps)",
         _fmt((metrics.get("commission_error_bps") or {}).get("value"), ".2f")),
    ]  # fmt: skip
    card_html = "".join(
        f"<div class='card'><b>{html.escape(str(v))}</b><span>{html.escape(k)}</span></div>"
        for k, v in cards
    )
    sections = [f"<section><div class='cards'>{card_html}</div></section>"]
    trip = status.get("trip")
    if trip:
        crossed = trip.get("crossed", [])
        trip_rows = []
        for c in crossed:
            orders = ", ".join(
                f"{o.get('live') or '-'} / {o.get('shadow') or '-'} {o.get('symbol', '')}"
                for o in c.get("orders", [])[:10]
            )
            trip_rows.append([c["metric"], _fmt(c["value"], ".4g"), c["threshold"],
                              c["samples"], orders])  # fmt: skip
        sections.append(
            f"<section><h2 class='bad'>Breaker tripped at {html.escape(_iso(trip['ts']))}</h2>"
            f"<p>{html.escape(str(trip.get('reason', '')))}</p>"
            + _table(["metric", "value", "threshold", "samples", "orders (live / shadow)"],
                     trip_rows)
            + "</section>"
        )  # fmt: skip
    if status.get("error"):
        sections.append(
            f"<section><h2 class='bad'>Shadow failed</h2><p>{html.escape(status['error'])}</p>"
            "</section>"
        )
    sections.append("<section>" + "".join(figures) + "</section>")
    signal_rows = [
        [_iso(r["ts"]), r["value"],
         (r["details"].get("live") or {}).get("id", "-"),
         (r["details"].get("shadow") or {}).get("id", "-"),
         ((r["details"].get("live") or r["details"].get("shadow")) or {}).get("symbol", ""),
         (r["details"].get("live") or {}).get("amount", "-"),
         (r["details"].get("shadow") or {}).get("amount", "-")]
        for r in rows if r["metric"] == "signal"
    ][-200:]  # fmt: skip
    sections.append(
        "<section><h2>Decisions that did not match exactly</h2>"
        + (_table(["time", "kind", "live order", "shadow order", "symbol", "live amount",
                   "shadow amount"], signal_rows) if signal_rows else "<p>none</p>")
        + "</section>"
    )  # fmt: skip
    executions = [r for r in rows if r["metric"] == "execution"]
    executions.sort(key=lambda r: -abs(_float(r["details"].get("slippage_bps")) or 0.0))
    exec_rows = [
        [_iso(r["ts"]), r["value"], r["details"]["live"]["id"], r["details"]["live"]["symbol"],
         _fmt(r["details"].get("slippage_bps"), ".2f"),
         _fmt(r["details"].get("fill_rate_error"), ".2%"),
         r["details"]["live"].get("avg_price") or "-",
         r["details"]["shadow"].get("avg_price") or "-"]
        for r in executions[:50]
    ]  # fmt: skip
    sections.append(
        "<section><h2>Paired fills with the largest slippage error</h2>"
        + (_table(["time", "kind", "live order", "symbol", "slippage (bps)", "fill-rate error",
                   "live price", "shadow price"], exec_rows) if exec_rows else "<p>none</p>")
        + "</section>"
    )  # fmt: skip
    title = f"Shadow report — run {run_id}"
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{_CSS}</style>"
        f"<script>{_plotly_js()}</script><script>window.rbtPlots=[];</script></head><body>"
        f"<header><h1>{html.escape(title)}</h1><p>mode {html.escape(str(status['mode']))} · "
        f"updated {html.escape(status['updated'])}</p></header><main>"
        + "".join(sections)
        + "</main></body></html>"
    )


def write_html(db: Any, run_id: str, path: str | Path) -> Path:
    """Write the report atomically (temporary file, then rename)."""
    import os
    import tempfile

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    text = render_html(db, run_id)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)  # a report to share, not a secret (mkstemp makes it 0600)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
