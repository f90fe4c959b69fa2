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
.grid2{display:grid;grid-template-columns:3fr 2fr;gap:14px}
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


def _plotly_js() -> str:
    """The minified plotly.js shipped in the plotly package (read, not imported: fast)."""
    from importlib.resources import files

    return files("plotly").joinpath("package_data", "plotly.min.js").read_text(encoding="utf-8")


_LAYOUT: dict[str, Any] = {
    "margin": {"l": 55, "r": 20, "t": 40, "b": 40},
    "paper_bgcolor": "#ffffff",
    "plot_bgcolor": "#ffffff",
    "font": {"family": "system-ui, sans-serif", "size": 12, "color": "#1f2937"},
    "legend": {"orientation": "h", "y": 1.12, "x": 1, "xanchor": "right"},
    "hovermode": "x unified",
    "title": {"x": 0.01, "xanchor": "left", "font": {"size": 14}},
    "xaxis": {"gridcolor": "#eeeeee", "zeroline": False},
    "yaxis": {"gridcolor": "#eeeeee", "zerolinecolor": "#cccccc"},
}


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(dict(out[key]), value)
        else:
            out[key] = value
    return out


def _figure_html(
    div_id: str, traces: Sequence[Mapping[str, Any]], layout: Mapping[str, Any], height: int = 360
) -> str:
    """A plot: a div and the inline script drawing it (JSON has no NaN: gaps are null)."""
    full = _merge(_LAYOUT, {**layout, "height": height})
    data = json.dumps(list(traces), allow_nan=False, separators=(",", ":"))
    spec = json.dumps(full, allow_nan=False, separators=(",", ":"))
    config = '{"displaylogo":false,"responsive":true}'
    return (
        f'<div id="{div_id}" class="plotly-graph-div" style="height:{height}px;width:100%"></div>'
        f'<script type="text/javascript">window.rbtPlots.push(Plotly.newPlot("{div_id}",'
        f"{data},{spec},{config}));</script>"
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
    manifest = run.manifest
    metrics = run.metrics
    periods = periods_per_year(manifest)
    sessions: list[dt.date] = run.perf["session"].to_list()
    returns = R.clean_returns(run.perf["returns"].to_numpy())
    bench = run.benchmark
    has_bench = bench is not None and len(bench) == len(returns)
    bench_source = str((manifest.get("benchmark") or {}).get("source", "benchmark"))
    # a CSV benchmark is shown by its file name (the full path is in the manifest)
    bench_label = Path(bench_source[4:]).name if bench_source.startswith("csv:") else bench_source
    x = [s.isoformat() for s in sessions]
    figures: list[str] = []

    # equity vs benchmark
    traces: list[dict[str, Any]] = [
        {"type": "scatter", "x": x, "y": _series(np.cumprod(1 + returns) - 1), "name": "strategy"}
    ]
    if has_bench:
        assert bench is not None
        traces.append(
            {"type": "scatter", "x": x, "y": _series(np.cumprod(1 + bench) - 1),
             "name": bench_label}
        )  # fmt: skip
    layout: dict[str, Any] = {
        "title": {"text": "Cumulative return vs benchmark"},
        "yaxis": {"tickformat": ".0%"},
    }
    figures.append(_section("Equity", _figure_html("equity", traces, layout)))

    # drawdown / underwater
    drawdown = R.drawdown_series(returns)
    traces = [{"type": "scatter", "x": x, "y": _series(drawdown), "fill": "tozeroy",
               "name": "drawdown", "line": {"color": "#b91c1c"}}]  # fmt: skip
    layout = {
        "title": {"text": "Underwater (drawdown from the running peak)"},
        "yaxis": {"tickformat": ".0%"},
    }
    worst = _drawdown_periods(sessions, returns)
    figures.append(
        _section(
            "Drawdown",
            _figure_html("underwater", traces, layout, 300)
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
    traces = [{
        "type": "heatmap", "z": z, "x": months, "y": [str(y) for y in years], "text": text,
        "texttemplate": "%{text}",
        "colorscale": [[0, "#b91c1c"], [0.5, "#f9fafb"], [1, "#047857"]], "zmid": 0, "zmin": -limit,
        "zmax": limit, "hoverongaps": False, "colorbar": {"tickformat": ".0%"},
    }]  # fmt: skip
    layout = {
        "title": {"text": "Monthly returns"},
        "yaxis": {"autorange": "reversed", "type": "category"},
        "hovermode": "closest",
    }
    figures.append(
        _section(
            "Monthly returns",
            _figure_html("monthly", traces, layout, 120 + 28 * max(len(years), 3)),
        )
    )

    # rolling Sharpe and beta
    window = min(_ROLLING, max(2, len(returns) // 2))
    rolling = _figure_html(
        "rolling-sharpe",
        [{"type": "scatter", "x": x, "y": _series(R.rolling_sharpe(returns, window, periods)),
          "name": "Sharpe"}],
        {"title": {"text": f"Rolling Sharpe ({window} sessions)"}},
        280,
    )  # fmt: skip
    if has_bench:
        assert bench is not None
        rolling += _figure_html(
            "rolling-beta",
            [{"type": "scatter", "x": x, "y": _series(R.rolling_beta(returns, bench, window)),
              "name": "beta", "line": {"color": "#7c3aed"}}],
            {"title": {"text": f"Rolling beta vs {bench_label} ({window} sessions)"}},
            280,
        )  # fmt: skip
    figures.append(_section("Rolling statistics", rolling))

    # exposure and leverage
    exposures = run.inputs.exposures
    traces = [
        {"type": "scatter", "x": x, "y": _series(exposures["gross"]), "name": "gross leverage"},
        {"type": "scatter", "x": x, "y": _series(exposures["net"]), "name": "net exposure"},
    ]
    layout = {"title": {"text": "Exposure and leverage (fraction of portfolio value)"}}
    figures.append(_section("Exposure", _figure_html("exposure", traces, layout, 300)))

    # position concentration
    weights = _mean_weights(run, exposures["portfolio_value"])
    largest = _figure_html(
        "concentration",
        [{"type": "scatter", "x": x, "y": _series(exposures["max_weight"]), "name": "largest"}],
        {"title": {"text": "Largest position (fraction of portfolio value)"}},
        340,
    )
    by_asset = _figure_html(
        "weights",
        [{"type": "bar", "orientation": "h", "x": [w for _, w in weights],
          "y": [s for s, _ in weights], "name": "mean |weight|"}],
        {"title": {"text": "Mean absolute weight by asset (top 15)"},
         "yaxis": {"autorange": "reversed", "type": "category"}, "hovermode": "closest"},
        340,
    )  # fmt: skip
    figures.append(
        _section(
            "Concentration", f'<div class="grid2"><div>{largest}</div><div>{by_asset}</div></div>'
        )
    )

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
        "(function(){var root=document.documentElement;"
        "Promise.all(window.rbtPlots).then(function(){root.setAttribute('data-rendered',"
        "String(document.querySelectorAll('.js-plotly-plot .main-svg').length?"
        "document.querySelectorAll('.js-plotly-plot').length:0));},function(e){"
        "root.setAttribute('data-js-errors','plot: '+e);});})();"
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en" data-js-errors="0"><head><meta charset="utf-8">'
        f"<title>{html.escape(heading)}</title>"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<style>{_CSS}</style>"
        f'<script type="text/javascript">{_plotly_js()}</script>'
        '<script type="text/javascript">window.rbtPlots=[];'
        "window.addEventListener('error',function(){var root=document.documentElement;"
        "root.setAttribute('data-js-errors',"
        "String(Number(root.getAttribute('data-js-errors')||0)+1));});</script>"
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
