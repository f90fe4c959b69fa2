"""The HTML report of a run: one self-contained file, interactive plots, no network.

plotly.js is inlined once in ``<head>``; every figure is a ``<div>`` plus an
inline script, so the file opens offline (no CDN, no ``<script src=...>``).
Sections: headline metrics; equity vs benchmark; drawdown (underwater curve
and the worst drawdown periods); monthly returns heatmap; rolling Sharpe and
beta; exposure and leverage; position concentration; the trade list (FIFO
round trips); every metric; the run's manifest (strategy hash, parameters,
bundle hash, versions). Numbers are formatted finite: no ``NaN`` in a table.

After the plots are drawn, ``<html data-rendered="N">`` holds the number of
plots on the page (``data-js-errors`` counts script errors), which the
headless-Chromium test reads.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rbt.analytics import returns as R
from rbt.analytics.run_data import RunData, load_run, periods_per_year

if TYPE_CHECKING:
    from rbt.data.home import RbtHome

__all__ = ["REPORT_FILE", "render_report", "write_report"]

#: Default file name, inside the run's results directory.
REPORT_FILE = "report.html"
_MAX_TRADES = 2000
_ROLLING = 126  # six months of sessions

_PERCENT = {
    "total_return", "cagr", "annual_return", "annual_volatility", "max_drawdown", "alpha",
    "var", "cvar", "exposure", "net_exposure", "time_in_market", "win_rate", "turnover",
}  # fmt: skip
_GROUPS: dict[str, Sequence[str]] = {
    "Returns": ("total_return", "cagr", "annual_volatility", "sharpe", "sortino", "calmar",
                "omega", "tail_ratio", "stability"),
    "Risk": ("max_drawdown", "max_drawdown_duration", "var", "cvar"),
    "Benchmark": ("alpha", "beta"),
    "Trading": ("trades", "round_trips", "win_rate", "profit_factor", "expectancy",
                "avg_holding_days", "turnover", "exposure", "net_exposure", "time_in_market"),
}  # fmt: skip
_LABELS = {
    "total_return": "Total return", "cagr": "CAGR", "annual_return": "Annual return",
    "annual_volatility": "Volatility (ann.)", "sharpe": "Sharpe", "sortino": "Sortino",
    "calmar": "Calmar", "omega": "Omega", "tail_ratio": "Tail ratio", "stability": "Stability",
    "max_drawdown": "Max drawdown", "max_drawdown_duration": "Max drawdown duration (sessions)",
    "alpha": "Alpha (ann.)", "beta": "Beta", "var": "VaR 95 % (1 session)",
    "cvar": "CVaR 95 % (1 session)", "trades": "Fills", "round_trips": "Round trips",
    "win_rate": "Win rate", "profit_factor": "Profit factor", "expectancy": "Expectancy / trade",
    "avg_holding_days": "Avg holding (days)", "turnover": "Turnover (ann.)",
    "exposure": "Gross exposure (mean)", "net_exposure": "Net exposure (mean)",
    "time_in_market": "Time in market",
}  # fmt: skip

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1f2937;
background:#f6f7f9}
header{background:#111827;color:#f9fafb;padding:18px 28px}
header h1{margin:0;font-size:20px}header p{margin:4px 0 0;color:#9ca3af;font-size:13px}
main{padding:16px 28px;max-width:1400px;margin:auto}
section{background:#fff;border-radius:8px;box-shadow:0 1px 3px #0001;margin:14px 0;
padding:12px 18px}
h2{font-size:16px;margin:6px 0 10px}
.cards{display:flex;flex-wrap:wrap;gap:10px}
.card{background:#fff;border-radius:8px;box-shadow:0 1px 3px #0001;padding:10px 16px;
min-width:130px}
.card b{display:block;font-size:20px}.card span{font-size:12px;color:#6b7280}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(280px,1fr));gap:14px}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{padding:4px 8px;border-bottom:1px solid #eee;text-align:right}
th:first-child,td:first-child{text-align:left}
.scroll{max-height:480px;overflow:auto}
pre{font-size:12px;background:#f3f4f6;padding:10px;overflow:auto}
.neg{color:#b91c1c}.pos{color:#047857}
.manifest td{word-break:break-all}
"""


def _finite(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return 0.0
    return number if math.isfinite(number) else 0.0


def _fmt(name: str, value: Any) -> str:
    number = _finite(value)
    if name in _PERCENT:
        return f"{number:.2%}"
    if name in ("trades", "round_trips", "max_drawdown_duration"):
        return f"{number:,.0f}"
    if name == "expectancy":
        return f"{number:,.2f}"
    return f"{number:.3f}"


def _series(values: Any) -> list[float | None]:
    """Floats for plotly, NaN/inf as gaps (null), never the text NaN."""
    return [float(v) if math.isfinite(float(v)) else None for v in np.asarray(values, float)]


def _figure_html(fig: Any, div_id: str, height: int = 360) -> str:
    fig.update_layout(
        height=height,
        margin={"l": 50, "r": 20, "t": 40, "b": 40},
        template="plotly_white",
        legend={"orientation": "h", "y": 1.12},
        hovermode="x unified",
    )
    return str(
        fig.to_html(
            full_html=False,
            include_plotlyjs=False,
            div_id=div_id,
            config={"displaylogo": False, "responsive": True},
        )
    )


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]], cls: str = "") -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _drawdown_periods(
    sessions: Sequence[dt.date], returns: np.ndarray, top: int = 5
) -> list[list[str]]:
    """The ``top`` deepest drawdowns: peak, trough, recovery, depth, length in sessions."""
    drawdown = R.drawdown_series(returns)
    periods: list[tuple[float, int, int, int | None]] = []
    i, n = 0, len(drawdown)
    while i < n:
        if drawdown[i] < 0:
            start = i
            while i < n and drawdown[i] < 0:
                i += 1
            trough = start + int(np.argmin(drawdown[start:i]))
            periods.append((float(drawdown[trough]), start, trough, i if i < n else None))
        i += 1
    periods.sort()
    rows = []
    for depth, start, trough, end in periods[:top]:
        peak = sessions[start - 1] if start > 0 else sessions[0]
        recovery = sessions[end].isoformat() if end is not None else "not recovered"
        length = (end if end is not None else n) - start
        rows.append(
            [peak.isoformat(), sessions[trough].isoformat(), recovery, f"{depth:.2%}", str(length)]
        )
    return rows


def render_report(run: RunData, *, title: str | None = None) -> str:
    """The report of ``run`` as one HTML document (plotly.js inlined)."""
    import plotly.graph_objects as go
    from plotly.offline import get_plotlyjs
    from plotly.subplots import make_subplots

    manifest = run.manifest
    metrics = run.metrics
    periods = periods_per_year(manifest)
    sessions: list[dt.date] = run.perf["session"].to_list()
    returns = R.clean_returns(run.perf["returns"].to_numpy())
    bench = run.benchmark
    has_bench = bench is not None and len(bench) == len(returns)
    bench_label = (manifest.get("benchmark") or {}).get("source", "benchmark")
    x = [s.isoformat() for s in sessions]
    figures: list[str] = []

    # equity vs benchmark
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=x, y=_series(np.cumprod(1 + returns) - 1), name="strategy"))
    if has_bench:
        assert bench is not None
        fig.add_trace(go.Scatter(x=x, y=_series(np.cumprod(1 + bench) - 1), name=bench_label))
    fig.update_layout(title="Cumulative return vs benchmark", yaxis_tickformat=".0%")
    figures.append(_section("Equity", _figure_html(fig, "equity")))

    # drawdown / underwater
    drawdown = R.drawdown_series(returns)
    fig = go.Figure(
        go.Scatter(x=x, y=_series(drawdown), fill="tozeroy", name="drawdown", line_color="#b91c1c")
    )
    fig.update_layout(title="Underwater (drawdown from the running peak)", yaxis_tickformat=".0%")
    worst = _drawdown_periods(sessions, returns)
    figures.append(
        _section(
            "Drawdown",
            _figure_html(fig, "underwater", 300)
            + "<h2>Worst drawdowns</h2>"
            + (
                _table(["peak", "trough", "recovery", "depth", "sessions"], worst)
                if worst
                else "<p>No drawdown.</p>"
            ),
        )
    )

    # monthly returns heatmap
    monthly = R.monthly_returns(sessions, returns)
    years = sorted({y for y, _ in monthly})
    z = [[monthly.get((y, m)) for m in range(1, 13)] for y in years]
    text = [[("" if v is None else f"{v:.1%}") for v in row] for row in z]
    months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    limit = max((abs(v) for row in z for v in row if v is not None), default=0.01) or 0.01
    fig = go.Figure(
        go.Heatmap(
            z=z, x=months, y=[str(y) for y in years], text=text, texttemplate="%{text}",
            colorscale="RdYlGn", zmid=0, zmin=-limit, zmax=limit, hoverongaps=False,
            colorbar={"tickformat": ".0%"},
        )
    )  # fmt: skip
    fig.update_layout(title="Monthly returns", yaxis_autorange="reversed")
    figures.append(
        _section("Monthly returns", _figure_html(fig, "monthly", 120 + 28 * max(len(years), 3)))
    )

    # rolling Sharpe and beta
    window = min(_ROLLING, max(2, len(returns) // 2))
    rows = 2 if has_bench else 1
    titles = [f"Rolling Sharpe ({window} sessions)"]
    if has_bench:
        titles.append(f"Rolling beta vs {bench_label} ({window} sessions)")
    fig = make_subplots(rows=rows, cols=1, shared_xaxes=True, subplot_titles=titles)
    fig.add_trace(
        go.Scatter(x=x, y=_series(R.rolling_sharpe(returns, window, periods)), name="Sharpe"),
        row=1,
        col=1,
    )
    if has_bench:
        assert bench is not None
        fig.add_trace(
            go.Scatter(x=x, y=_series(R.rolling_beta(returns, bench, window)), name="beta"),
            row=2,
            col=1,
        )
    figures.append(_section("Rolling statistics", _figure_html(fig, "rolling", 260 * rows + 60)))

    # exposure and leverage
    exposures = run.inputs.exposures
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=x, y=_series(exposures["gross"]), name="gross leverage"))
    fig.add_trace(go.Scatter(x=x, y=_series(exposures["net"]), name="net exposure"))
    fig.update_layout(title="Exposure and leverage (fraction of portfolio value)")
    figures.append(_section("Exposure", _figure_html(fig, "exposure", 300)))

    # position concentration
    fig = make_subplots(
        rows=1, cols=2, column_widths=[0.62, 0.38],
        subplot_titles=["Largest position (fraction of portfolio value)",
                        "Mean absolute weight by asset (top 15)"],
    )  # fmt: skip
    fig.add_trace(go.Scatter(x=x, y=_series(exposures["max_weight"]), name="largest"), 1, 1)
    weights = _mean_weights(run, exposures["portfolio_value"])
    fig.add_trace(
        go.Bar(x=[w for _, w in weights], y=[s for s, _ in weights], orientation="h",
               name="mean |weight|"),
        1, 2,
    )  # fmt: skip
    fig.update_yaxes(autorange="reversed", row=1, col=2)
    figures.append(_section("Concentration", _figure_html(fig, "concentration", 340)))

    # trade list
    trips = run.round_trips
    trade_rows = [
        [
            t.symbol, t.direction, f"{t.amount}", str(t.entry_session), str(t.exit_session),
            f"{t.entry_price}", f"{t.exit_price}", f"{_finite(t.pnl):,.2f}",
            f"{t.return_pct:.2%}", f"{t.holding_days:.1f}",
        ]
        for t in trips[:_MAX_TRADES]
    ]  # fmt: skip
    note = (
        f"<p>First {_MAX_TRADES} of {len(trips)} round trips.</p>"
        if len(trips) > _MAX_TRADES
        else ""
    )
    trades_html = (
        '<div class="scroll">'
        + _table(
            [
                "asset",
                "side",
                "qty",
                "entry",
                "exit",
                "entry px",
                "exit px",
                "P&L",
                "return",
                "days",
            ],
            trade_rows,
            "trades",
        )
        + "</div>"
        if trips
        else "<p>No closed round trips.</p>"
    )
    figures.append(_section(f"Trades ({len(trips)} round trips, FIFO)", note + trades_html))

    # metric tables and manifest
    tables = "".join(
        f"<div><h2>{group}</h2>"
        + _table(["metric", "value"], [[_LABELS.get(n, n), _fmt(n, metrics.get(n))]
                                       for n in names if n in metrics], "metrics")
        + "</div>"
        for group, names in _GROUPS.items()
    )  # fmt: skip
    shown = {n for names in _GROUPS.values() for n in names} | {"annual_return"}
    others = [[n, _fmt(n, v)] for n, v in metrics.items() if n not in shown]
    if others:
        tables += "<div><h2>Other metrics</h2>" + _table(["metric", "value"], others) + "</div>"
    cards = "".join(
        f'<div class="card"><span>{_LABELS[n]}</span><b>{_fmt(n, metrics.get(n))}</b></div>'
        for n in ("total_return", "cagr", "sharpe", "max_drawdown", "annual_volatility", "beta")
        if n in metrics
    )
    heading = title or f"Backtest {run.run_id}"
    sub = (
        f"{manifest.get('start')} .. {manifest.get('end')} · bundle {manifest.get('bundle')} · "
        f"capital {manifest.get('capital_base')} · final value {manifest.get('final_value')}"
    )
    body = (
        f'<div class="cards">{cards}</div>'
        + "".join(figures)
        + _section("Metrics", f'<div class="grid">{tables}</div>')
        + _section("Manifest", _manifest_html(manifest))
    )
    script = (
        "(function(){var errors=0;window.addEventListener('error',function(){errors++;"
        "document.documentElement.setAttribute('data-js-errors',String(errors));});"
        "function mark(){document.documentElement.setAttribute('data-rendered',"
        "String(document.querySelectorAll('.js-plotly-plot .main-svg').length>0?"
        "document.querySelectorAll('.js-plotly-plot').length:0));}"
        "if(document.readyState==='complete'){mark();}else{window.addEventListener('load',mark);}"
        "})();"
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en" data-js-errors="0"><head><meta charset="utf-8">'
        f"<title>{html.escape(heading)}</title>"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<style>{_CSS}</style>"
        f'<script type="text/javascript">{get_plotlyjs()}</script>'
        "</head><body>"
        f"<header><h1>{html.escape(heading)}</h1><p>{html.escape(sub)}</p></header>"
        f"<main>{body}</main>"
        f'<script type="text/javascript">{script}</script>'
        "</body></html>\n"
    )


def _section(title: str, content: str) -> str:
    return f"<section><h2>{html.escape(title)}</h2>{content}</section>"


def _mean_weights(run: RunData, portfolio_value: np.ndarray) -> list[tuple[str, float]]:
    import polars as pl

    positions = run.positions
    if not len(positions):
        return []
    index = {s: i for i, s in enumerate(run.perf["session"].to_list())}
    values = positions.select(
        "session",
        "symbol",
        (pl.col("amount").cast(pl.Float64) * pl.col("last_price").cast(pl.Float64))
        .abs()
        .alias("notional"),
    )
    totals: dict[str, float] = {}
    for session, symbol, notional in values.iter_rows():
        i = index.get(session)
        if i is not None and portfolio_value[i] > 0:
            totals[symbol] = totals.get(symbol, 0.0) + notional / portfolio_value[i]
    n = max(len(index), 1)
    ranked = sorted(((s, v / n) for s, v in totals.items()), key=lambda item: -item[1])
    return [(s, _finite(v)) for s, v in ranked[:15]]


def _manifest_html(manifest: Mapping[str, Any]) -> str:
    keys = [
        ("run id", "run_id"), ("strategy hash", "strategy_hash"), ("bundle", "bundle"),
        ("bundle hash", "bundle_hash"), ("start", "start"), ("end", "end"),
        ("capital", "capital_base"), ("final value", "final_value"),
        ("commission", "commission"), ("slippage", "slippage"), ("fill timing", "fill_timing"),
    ]  # fmt: skip
    rows = [[label, str(manifest.get(key, ""))] for label, key in keys]
    bench = manifest.get("benchmark")
    if isinstance(bench, Mapping):
        rows.append(["benchmark", str(bench.get("source"))])
        rows.append(
            [
                "benchmark alignment",
                f"{bench.get('missing_sessions', 0)} sessions missing (0 return), "
                f"{bench.get('extra_dates', 0)} extra dates dropped",
            ]
        )
    params = [[k, json.dumps(v)] for k, v in sorted((manifest.get("params") or {}).items())]
    versions = [[k, str(v)] for k, v in sorted((manifest.get("versions") or {}).items())]
    full = json.dumps(
        {k: v for k, v in manifest.items() if k != "metrics"}, indent=2, sort_keys=True, default=str
    )
    return (
        '<div class="grid">'
        + "<div>" + _table(["run", ""], rows, "manifest") + "</div>"
        + "<div><h2>Parameters</h2>" + _table(["parameter", "value"], params, "manifest")
        + "</div>"
        + "<div><h2>Versions</h2>" + _table(["package", "version"], versions) + "</div>"
        + "</div>"
        + f"<details><summary>manifest.json</summary><pre>{html.escape(full)}</pre></details>"
    )  # fmt: skip


def write_report(home: RbtHome, run_id: str, output: str | Path | None = None) -> Path:
    """Write the report of the recorded run ``run_id`` (or a unique prefix) and return its path.

    Default location: ``report.html`` in the run's results directory.
    """
    from rbt.runs.registry import get_run

    record = get_run(home, run_id)
    run = load_run(record.results_path)
    target = Path(output) if output is not None else record.results_path / REPORT_FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    strategy = Path(record.strategy).name if "/" in record.strategy else record.strategy
    text = render_report(run, title=f"{strategy} — run {record.id}")
    staging = target.with_name(f".{target.name}.tmp")
    staging.write_text(text, encoding="utf-8")
    staging.replace(target)
    return target
