"""The report of a run: one self-contained HTML file and Parquet outputs.

:func:`write_report` writes, into one directory:

- ``report.html``: every section of the run (data coverage; factor returns and the Fama-MacBeth
  table; the risk model, its factor volatilities and bias statistics against their band; the
  signal evaluation (information coefficient, mean forward return by quantile, turnover, IC
  decay, and the IC on residual returns); the portfolios with their exposure bars, risk decompositions and holdings; the backtest
  (performance table, cumulative value and drawdown, attribution of the long-short book); the
  monitoring alerts; skipped sections and why; the stages' timings and the configuration). Self-contained: the style sheet is inline and
  every plot is embedded as an SVG or PNG ``data:`` image; nothing is requested from anywhere.
  Every number in a table carries its full value in a ``data-value`` attribute (the text shows
  it rounded), so scripts can read the report exactly, each table by its id (unique in the page,
  as every id is; the sections of the tables ``portfolios`` and ``alerts`` are
  ``portfolios-section`` and ``alerts-section``). Settings read as words: an unset one says what
  that means (``vra_half_life``: "off (no volatility-regime adjustment)"), never ``None``.
- Parquet files (each listed in the report): ``factor_returns`` (date × factor, wide),
  ``fama_macbeth`` (factor table), ``exposures`` (date, asset, styles, industry; rows without
  any exposure left out), ``specific_risk`` (date, asset, daily specific volatility; finite
  values only), ``factor_volatility`` (date × factor, daily), ``bias_test`` (per portfolio),
  ``minimum_variance`` (per date), ``signal_ic`` (date × horizon: the signal's information
  coefficient), ``signal_evaluation`` (per horizon: IC tests, turnover, autocorrelation),
  ``quantile_returns`` (quantile × horizon), ``backtest_value`` and ``backtest_returns`` (date ×
  book, net of costs), ``attribution`` (date × factor contributions of the long-short book, with its
  total, gross, specific, unexplained and costs), ``alerts``, ``weights`` (asset × portfolio), ``risk_decomposition``
  (portfolio × factor, the portfolio date a Date).
- ``summary.json``: the run's key numbers, stages and skipped sections (what ``--json`` prints).
- ``ferrofactor-manifest.json``: the names of the files the run wrote.

Files are written to a temporary directory beside the target and moved into place at the end,
so a failed run leaves no half-written report behind. The directory holds one run: the next run
replaces the files the manifest lists and removes those it does not write again; output-named
files no manifest lists stop it unless ``overwrite=True``; other files are left alone
(:func:`check_output_dir`).
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import io
import json
import os
import platform
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import polars as pl

from ferrofactor.constants import PERIODS_PER_YEAR, POSITION_TOL
from ferrofactor.pipeline import Reporter, RunResult, StageRunner, finite_median, have

__all__ = ["PARQUET_OUTPUTS", "html_table", "outputs", "write_report"]

#: The file in an output directory listing what the run that wrote it wrote (names in the
#: directory): the next run replaces those and removes the ones it does not write again.
MANIFEST = "ferrofactor-manifest.json"

#: The Parquet outputs, in the order they are written.
PARQUET_OUTPUTS = ("factor_returns", "fama_macbeth", "exposures", "specific_risk", "factor_volatility",
                   "bias_test", "minimum_variance", "signal_ic", "signal_evaluation", "quantile_returns",
                   "backtest_value", "backtest_returns", "attribution", "alerts", "weights", "risk_decomposition")

#: Element ids that differ from the section's name: the tables ``portfolios`` and ``alerts`` (keys
#: scripts read) keep those names, so their sections are ``portfolios-section`` and
#: ``alerts-section`` (every id in the page is unique; a link to ``#portfolios`` still lands in
#: the portfolios section, on its table).
SECTION_IDS = {"portfolios": "portfolios-section", "alerts": "alerts-section"}

_CSS = """
body{font-family:-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;margin:0;color:#222;background:#fafafa}
header{background:#1f3b57;color:#fff;padding:18px 32px}header h1{margin:0 0 4px 0;font-size:22px}
header p{margin:2px 0;font-size:13px;opacity:.9}nav{background:#e8edf2;padding:8px 32px;font-size:13px}
nav a{margin-right:16px;color:#1f3b57;text-decoration:none}main{padding:8px 32px 40px 32px;max-width:1200px}
section{background:#fff;border:1px solid #ddd;border-radius:6px;padding:12px 20px;margin:18px 0}
h2{font-size:18px;margin:6px 0 10px 0;color:#1f3b57}h3{font-size:15px;margin:16px 0 6px 0}
table{border-collapse:collapse;font-size:12px;margin:6px 0 12px 0}
th,td{padding:3px 9px;border-bottom:1px solid #e3e3e3}th{background:#f2f4f7;text-align:left}
td.num{text-align:right;font-variant-numeric:tabular-nums}caption{text-align:left;font-weight:600;padding:4px 0}
figure{margin:8px 0 14px 0}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:12px;color:#555}.note{font-size:12px;color:#555}.skip{color:#8a4b00}
pre{background:#f5f5f5;padding:8px;font-size:11px;overflow:auto;max-height:420px}
.grid{display:flex;flex-wrap:wrap;gap:18px}.grid>div{flex:1 1 420px}
"""


# ---------------------------------------------------------------------------------------------
# HTML pieces
# ---------------------------------------------------------------------------------------------


def _esc(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _fmt_number(v: float, spec: str) -> str:
    if not np.isfinite(v):
        return "nan" if np.isnan(v) else ("inf" if v > 0 else "−inf")
    if spec == "%":
        return f"{v:.2%}"
    return format(v, spec)


def _auto_spec(name: str, vals: np.ndarray) -> str:
    from ferrofactor.results import _column_format

    return _column_format(name, vals)


def html_table(df: pl.DataFrame, *, caption: str = "", formats: Mapping[str, str] | None = None,
               table_id: str = "", max_rows: int | None = None) -> str:
    """A Polars frame as an HTML table: numbers right-aligned with one format per column (``%``
    for percent) and their exact value in ``data-value`` (``repr`` of the float)."""
    from ferrofactor._validate import check_int

    if not isinstance(df, pl.DataFrame):
        raise TypeError(f"df must be a polars DataFrame, got {type(df).__name__}")
    for arg, v in (("caption", caption), ("table_id", table_id)):
        if not isinstance(v, str):
            raise TypeError(f"{arg} must be a str, got {type(v).__name__}")
    if formats is not None and not isinstance(formats, Mapping):
        raise TypeError(f"formats must be a mapping column → format, got {type(formats).__name__}")
    max_rows = None if max_rows is None else check_int("max_rows", max_rows, 0)
    formats = dict(formats or {})
    cols = df.columns
    out = [f'<table{f" id={_q(table_id)}" if table_id else ""}>']
    if caption:
        out.append(f"<caption>{_esc(caption)}</caption>")
    out.append("<thead><tr>" + "".join(f"<th>{_esc(c)}</th>" for c in cols) + "</tr></thead><tbody>")
    specs = {}
    for c in cols:
        s = df[c]
        if s.dtype.is_numeric() and s.dtype != pl.Boolean:
            specs[c] = formats.get(c) or _auto_spec(c, s.to_numpy())
    rows = df.head(max_rows) if max_rows is not None else df
    data = {c: rows[c].to_list() for c in cols}
    for i in range(rows.height):
        cells = []
        for c in cols:
            v = data[c][i]
            if c in specs and v is not None:
                if specs[c] == "d" or isinstance(v, int):
                    cells.append(f'<td class="num" data-value="{int(v)}">{_esc(v if specs[c] != "%" else _fmt_number(float(v), "%"))}</td>')
                else:
                    fv = float(v)
                    cells.append(f'<td class="num" data-value="{fv!r}">{_esc(_fmt_number(fv, specs[c]))}</td>')
            else:
                cells.append(f"<td>{'' if v is None else _esc(v)}</td>")
        out.append(f"<tr>{''.join(cells)}</tr>")
    out.append("</tbody></table>")
    if max_rows is not None and df.height > max_rows:
        out.append(f'<p class="note">{max_rows} of {df.height} rows shown.</p>')
    return "".join(out)


def _q(s: str) -> str:
    return '"' + _esc(s) + '"'


def _setting_pairs(section: str, values: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """``(key, value)`` rows of configuration settings for :func:`_kv_table`: a number stays a
    number (exact in ``data-value``); anything else is :func:`ferrofactor.config.setting_text`:
    written as in the configuration, an unset setting as what that means ("off (no
    volatility-regime adjustment)")."""
    from ferrofactor.config import setting_text

    out: list[tuple[str, Any]] = []
    for k, v in values.items():
        num = isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))
        out.append((k, v if num else setting_text(section, k, v)))
    return out


def _kv_table(pairs: Sequence[tuple[Any, ...]], caption: str = "", table_id: str = "") -> str:
    """Key/value rows: a number right-aligned with its exact value in ``data-value``; anything
    else as words (a boolean as yes/no, a missing value as "—", a sequence as its items), never a
    Python repr. A float is shown with 4 significant digits, or in the format of a third item
    (``("Share inside the band", 0.93, "%")``: ``93.00%``). Settings go through
    :func:`_setting_pairs` first, which says what unset means."""
    out = [f'<table{f" id={_q(table_id)}" if table_id else ""}>']
    if caption:
        out.append(f"<caption>{_esc(caption)}</caption>")
    for k, v, *spec in pairs:
        if v is None:
            v = "—"
        elif isinstance(v, (bool, np.bool_)):
            v = "yes" if v else "no"
        elif isinstance(v, (list, tuple)):
            v = ", ".join(str(x) for x in v)
        if isinstance(v, (float, np.floating)) and not isinstance(v, bool):
            fv = float(v)
            shown = _fmt_number(fv, spec[0] if spec else ".4g")
            out.append(f'<tr><th>{_esc(k)}</th><td class="num" data-value="{fv!r}">{_esc(shown)}</td></tr>')
        elif isinstance(v, (int, np.integer)) and not isinstance(v, bool):
            out.append(f'<tr><th>{_esc(k)}</th><td class="num" data-value="{int(v)}">{int(v)}</td></tr>')
        else:
            out.append(f"<tr><th>{_esc(k)}</th><td>{_esc(v)}</td></tr>")
    out.append("</table>")
    return "".join(out)


class _Figures:
    """Renders matplotlib figures into ``<figure><img src="data:...">`` elements."""

    def __init__(self, enabled: bool, fmt: str, advance: Callable[[], None]) -> None:
        self.enabled = enabled
        self.fmt = fmt
        self.advance = advance
        self.count = 0

    def __call__(self, make: Callable[[], Any], caption: str, fig_id: str) -> str:
        if not self.enabled:
            return ""
        fig = make()
        buf = io.BytesIO()
        if self.fmt == "svg":
            fig.savefig(buf, format="svg", metadata={"Date": None})
            mime = "image/svg+xml"
        else:
            fig.savefig(buf, format="png", dpi=110, metadata={"Software": None})
            mime = "image/png"
        data = base64.b64encode(buf.getvalue()).decode("ascii")
        self.count += 1
        self.advance()
        return (f'<figure id={_q(fig_id)}><img alt={_q(caption)} src="data:{mime};base64,{data}">'
                f"<figcaption>{_esc(caption)}</figcaption></figure>")


# ---------------------------------------------------------------------------------------------
# Frames (the Parquet outputs and the tables of the report)
# ---------------------------------------------------------------------------------------------


def outputs(res: RunResult) -> dict[str, pl.DataFrame]:
    """The Parquet outputs of a run as Polars frames (see the module docstring)."""
    return {name: make() for name, make in _output_makers(res).items()}


def _output_makers(res: RunResult) -> dict[str, Callable[[], pl.DataFrame]]:
    """The Parquet outputs of a run, each as a function that builds its frame (so the report
    builds, writes and drops them one at a time)."""
    out: dict[str, Callable[[], pl.DataFrame]] = {}
    m, risk, ex = res.model, res.risk, res.exposures
    if m is not None:
        out["factor_returns"] = lambda: m.to_polars("factor_returns")
    if res.fama_macbeth is not None:
        out["fama_macbeth"] = lambda: res.fama_macbeth.to_polars("params_table")
    if ex is not None:
        out["exposures"] = lambda: _exposures_frame(ex)
    if risk is not None:
        out["specific_risk"] = lambda: _specific_risk_frame(risk)
        out["factor_volatility"] = lambda: risk.to_polars("factor_volatility")
    if res.bias_test is not None:
        b = res.bias_test.bias
        out["bias_test"] = lambda: pl.DataFrame({
            "portfolio": np.arange(np.size(b.bias), dtype=np.int64), "bias": np.atleast_1d(b.bias),
            "n_obs": np.atleast_1d(b.n_obs), "lower": np.atleast_1d(b.lower), "upper": np.atleast_1d(b.upper),
            "inside": np.atleast_1d(b.inside)})
    if res.min_var is not None:
        mv = res.min_var
        out["minimum_variance"] = lambda: pl.DataFrame({
            "date": np.asarray(mv.dates), "realized": mv.realized[:, 0], "forecast_vol": mv.forecast_vol[:, 0],
            "standardized": mv.standardized[:, 0]})
    if res.evaluation is not None:
        e = res.evaluation
        out["signal_ic"] = lambda: e.to_polars("ic")
        out["signal_evaluation"] = lambda: e.to_polars("ic_summary")
        out["quantile_returns"] = lambda: e.to_polars("quantiles")
    if res.backtest is not None:
        out["backtest_value"] = lambda: res.backtest.to_polars("value")
        out["backtest_returns"] = lambda: res.backtest.to_polars("returns")
    if res.attribution is not None:
        a = res.attribution
        out["attribution"] = lambda: a.to_polars("contributions").join(a.to_polars("returns"), on="date",
                                                                       how="left", maintain_order="left")
    if res.alerts is not None:
        out["alerts"] = lambda: res.alerts
    if res.books:
        def weights() -> pl.DataFrame:
            cols = {"asset": [str(a) for a in res.panel.assets]}
            cols.update({name: np.asarray(b.weights, dtype=float) for name, b in res.books.items()})
            return pl.DataFrame(cols)

        def decompositions() -> pl.DataFrame:
            frames = []
            for name, b in res.books.items():
                f = b.decomposition.to_polars("factors")
                # a Date as in every other output (joinable on date), or the row position as
                # Int64 without dates, as the alerts' date column is
                if isinstance(b.date, np.datetime64):
                    day = pl.lit(b.date.astype("datetime64[D]").item(), dtype=pl.Date)
                else:
                    day = pl.lit(int(b.date), dtype=pl.Int64)
                frames.append(f.select(pl.lit(name).alias("portfolio"), day.alias("date"), pl.all()))
            return pl.concat(frames)

        out["weights"] = weights
        out["risk_decomposition"] = decompositions
    return out


def _exposures_frame(ex: Any) -> pl.DataFrame:
    """``ex.to_polars()`` (date, asset, styles, industry label) restricted to the rows with a
    style that is not NaN or an industry: the rows are chosen on the arrays first, so only the
    kept rows are built (the full frame of a 3000 × 2520 panel has 7.6 million rows)."""
    from ferrofactor.results import _label_series

    T, N = ex.shape
    names = list(ex.style_names)
    styles = ex.styles
    keep = np.zeros((T, N), dtype=bool)
    if names and styles is not None:
        for k in range(len(names)):
            keep |= ~np.isnan(styles[:, :, k])
    if ex.industry is not None:
        keep |= ex.industry >= 0
    idx = np.flatnonzero(keep)
    t_idx, n_idx = np.divmod(idx, N) if N else (idx, idx)
    cols = [_label_series("date", ex._axis_labels("date"), T).gather(t_idx),
            _label_series("asset", ex._axis_labels("asset"), N).gather(n_idx)]
    cols += [pl.Series(n, styles[:, :, k][keep]) for k, n in enumerate(names)]
    if ex.industry is not None:
        cols.append(ex._industry_labels_series(ex.industry[keep]))
    return pl.DataFrame(cols)


def _specific_risk_frame(risk: Any) -> pl.DataFrame:
    """``risk.to_polars("specific_risk", form="long")`` restricted to its finite values, built
    from the finite cells only."""
    from ferrofactor.results import _label_series

    sr = np.asarray(risk.specific_risk)
    T, N = sr.shape
    ok = np.isfinite(sr)
    t_idx, n_idx = np.divmod(np.flatnonzero(ok), N) if N else (np.zeros(0, np.int64),) * 2
    return pl.DataFrame([_label_series("date", risk._axis_labels("date"), T).gather(t_idx),
                         _label_series("asset", risk._axis_labels("asset"), N).gather(n_idx),
                         pl.Series("specific_risk", sr[ok])])


def _coverage_table(panel: Any) -> pl.DataFrame:
    T, N = panel.shape
    rows: dict[str, list[Any]] = {"field": [], "share_of_cells": [], "mean_assets_per_date": [], "first_date": []}
    for f in panel.float_fields:
        ok = np.isfinite(panel[f])
        per = ok.sum(axis=1)
        first = np.flatnonzero(per > 0)
        rows["field"].append(f)
        rows["share_of_cells"].append(float(ok.mean()) if ok.size else float("nan"))
        rows["mean_assets_per_date"].append(float(per.mean()) if T else float("nan"))
        rows["first_date"].append(str(panel.dates[first[0]]) if first.size else "")
    for c in panel.code_fields:
        ok = panel[c] >= 0
        per = ok.sum(axis=1)
        first = np.flatnonzero(per > 0)
        rows["field"].append(f"{c} ({len(panel.labels(c))} labels)")
        rows["share_of_cells"].append(float(ok.mean()) if ok.size else float("nan"))
        rows["mean_assets_per_date"].append(float(per.mean()) if T else float("nan"))
        rows["first_date"].append(str(panel.dates[first[0]]) if first.size else "")
    return pl.DataFrame(rows)


def _groups(res: RunResult) -> dict[str, list[int]]:
    from ferrofactor.plotting import factor_groups

    ex = res.exposures
    return factor_groups(res.model.factor_names, ex.industry_names, ex.style_names, ex.market)


# ---------------------------------------------------------------------------------------------
# Sections
# ---------------------------------------------------------------------------------------------


def _section_data(res: RunResult, fig: _Figures) -> str:
    p = res.panel
    T, N = p.shape
    pairs = [("Source", res.source or "the configured files"), ("Dates", T), ("Assets", N),
             ("First date", str(p.dates[0])), ("Last date", str(p.dates[-1]))]
    body = [_kv_table(pairs, table_id="data-panel"),
            html_table(_coverage_table(p), caption="Fields: share of the date × asset cells with a value",
                       formats={"share_of_cells": "%", "mean_assets_per_date": ".1f"}, table_id="data-fields"),
            fig(lambda: p.plot(), "Assets with a value per date (returns, market cap, fundamentals, industries)",
                "fig-coverage")]
    return _section("data", "Data coverage", body)


def _section_factor_returns(res: RunResult, fig: _Figures) -> str:
    m, fm = res.model, res.fama_macbeth
    est = m.estimated
    md = m.model
    pairs = [("Factors", len(m.factor_names)), ("Dates estimated", int(est.sum())),
             ("Mean R² (estimated dates)", float(np.nanmean(m.r2[est])) if est.any() else float("nan")),
             ("Mean observations per date", float(np.mean(m.n_obs[est])) if est.any() else float("nan")),
             ("Exposure lag (dates)", md.lag), ("Regression weights", md.weights),
             ("Industry constraint", _industry_constraint_text(md, m.exposures)),
             ("Return winsorisation", _setting_pairs("model", {"winsorize_returns": md.winsorize_returns})[0][1])]
    fmt = {c: ".4e" for c in ("estimate", "std_error", "ci_lower", "ci_upper")}
    fmt.update({"tstat": ".2f", "pvalue": ".4f"})
    table = fm.summary().tables[0][1]
    ann = table.select("parameter", (pl.col("estimate") * PERIODS_PER_YEAR).alias("annualized_mean"))
    body = [_kv_table(pairs, table_id="model-header"),
            fig(lambda: m.plot(), "Cumulative factor returns (compounded), by group", "fig-factor-returns"),
            "<h3>Fama-MacBeth table</h3>",
            f'<p class="note">Mean factor return per date with {_esc(fm.cov_type)} standard errors '
            f"({'Newey-West, Bartlett kernel, bandwidth ' + format(float(fm.bandwidth), 'g') if fm.cov_type == 'kernel' else 'plain'})"
            f"; 95% intervals with t(dates − 1); {fm.n_periods if np.ndim(fm.n_periods) == 0 else 'per-factor'} dates.</p>",
            '<div class="grid"><div>',
            html_table(table.join(ann, on="parameter", how="left", maintain_order="left"),
                       formats={**fmt, "annualized_mean": "%"}, table_id="fama-macbeth"),
            "</div><div>",
            fig(lambda: fm.plot(), "Mean factor returns a year with 95% intervals", "fig-fama-macbeth"),
            "</div></div>"]
    if res.truth:
        t = pl.DataFrame({"factor": list(res.truth), "correlation": list(res.truth.values())})
        body += ["<h3>Recovery of the simulated truth</h3>",
                 '<p class="note">The synthetic universe knows its factor returns: the correlation of the '
                 "estimated with the true returns, for the factors defined alike in both (the market and the "
                 "industries; the model's styles come from noisy descriptors).</p>",
                 html_table(t, formats={"correlation": ".4f"}, table_id="truth")]
    return _section("factor-returns", "Factor returns", body)


def _industry_constraint_text(model: Any, ex: Any) -> str:
    """How the industry factor returns are tied down, in words (the model stores None when
    there is no market factor: the industries then need no constraint)."""
    if not len(getattr(ex, "industry_names", ()) or ()):
        return "none (no industry factors)"
    c = model.industry_constraint
    if c is None:
        return "none (no market factor: the industry factors are not constrained)"
    return str(c)


def _section_risk(res: RunResult, fig: _Figures) -> str:
    risk = res.risk
    s = risk.summary()
    head = dict(s.header)
    # the summary's second table is "at the date shown" (its header's date): the report says which
    spec_caption = s.tables[1][0].replace("at the date shown", f"on {head['Date shown']}")
    body = [fig(lambda: risk.plot(), "Forecast factor volatilities (a year), by group", "fig-factor-volatility"),
            '<div class="grid"><div>',
            html_table(s.tables[0][1], caption=f"{s.tables[0][0]}, on {head['Date shown']} and on average",
                       formats={"vol_annualized": "%", "mean_vol_annualized": "%"}, table_id="factor-volatility"),
            "</div><div>",
            html_table(s.tables[1][1], caption=f"{spec_caption}, {head['Covered assets']} covered assets",
                       formats={"specific_vol_annualized": ".4f"}, table_id="specific-risk"),
            _kv_table(_risk_settings(res, s), caption="Settings", table_id="risk-settings"),
            "</div></div>"]
    lo, hi = res.validation_dates
    dates = risk.dates
    span = f"{dates[lo]}..{dates[hi]}" if dates is not None else f"{lo}..{hi}"
    v = res.config["validation"]
    if res.bias_test is not None:
        b = res.bias_test.bias
        pairs = [("Portfolios", int(np.size(b.bias))), ("Forecast dates", int(len(res.bias_test.dates))),
                 ("Median bias", finite_median(b.bias)), ("Share inside the band", float(b.share_inside), "%"),
                 ("Band (median)", f"[{finite_median(b.lower):.4f}, {finite_median(b.upper):.4f}]")]
        body += ["<h3>Bias test of random long-only portfolios</h3>",
                 f'<p class="note">{int(np.size(b.bias))} random long-only portfolios (seed {v["seed"]}), each '
                 f"restricted to the assets covered on the forecast date; forecast dates {span}. The bias statistic "
                 "is the standard deviation of return / forecast volatility: above the band the model "
                 "under-forecasts risk, below it over-forecasts.</p>",
                 _kv_table(pairs, table_id="bias-test"),
                 fig(lambda: res.bias_test.plot(window=v["window"]), "Bias statistics against their band",
                     "fig-bias-test")]
    if res.min_var is not None:
        b = res.min_var.bias
        pairs = [("Forecast dates", int(len(res.min_var.dates))), ("Bias", float(np.atleast_1d(b.bias)[0])),
                 ("Band", f"[{float(np.atleast_1d(b.lower)[0]):.4f}, {float(np.atleast_1d(b.upper)[0]):.4f}]"),
                 ("Inside", bool(np.atleast_1d(b.inside)[0]))]
        body += ["<h3>Minimum-variance test</h3>",
                 '<p class="note">The fully invested minimum-variance portfolio of each forecast date: it loads on '
                 "the directions the model finds least risky, where under-forecasting shows first.</p>",
                 _kv_table(pairs, table_id="minimum-variance"),
                 fig(lambda: res.min_var.plot(window=v["window"]), "Rolling bias of the minimum-variance portfolio",
                     "fig-minimum-variance")]
    return _section("risk", "Risk model", body)


def _risk_settings(res: RunResult, s: Any) -> list[tuple[str, Any]]:
    """The risk model's size (from its summary) and its settings ([risk], as the model holds
    them), each in words: an unset one says what that means."""
    counts = {"Dates", "Assets", "Factors", "Covered assets", "Dates with Σf clipped"}
    pairs: list[tuple[str, Any]] = [(k, int(v) if v.isdigit() else v) for k, v in s.header if k in counts]
    risk = res.risk
    values = {k: getattr(risk, k, v) for k, v in res.config["risk"].items()}
    return pairs + _setting_pairs("risk", values)


def _section_signal(res: RunResult, fig: _Figures) -> str:
    e = res.evaluation
    if e is None:
        return ""
    s = e.summary()
    tables = dict(s.tables)
    ic = next(t for c, t in s.tables if c == "Information coefficient")
    quant = next((c, t) for c, t in s.tables if c.startswith("Mean forward return by quantile"))
    turn = next((c, t) for c, t in s.tables if c.startswith("Mean turnover"))
    decay = next((c, t) for c, t in s.tables if c.startswith("IC decay"))
    ic_fmt = {"ic_mean": ".4f", "ic_std": ".4f", "ic_ir": ".3f", "nw_tstat": ".2f", "nw_pvalue": ".4f",
              "tstat (plain)": ".2f", "pvalue (plain)": ".4f"}
    sg = res.config["signal"]
    body = [f'<p class="note">The signal of each date (known at its close) against the compounded returns of the '
            f"next h dates, h in {', '.join(map(str, e.horizons.tolist()))}; Spearman IC per date, {sg['quantiles']} "
            "quantiles. Forward returns of consecutive dates overlap: read the Newey-West (nw_) tests.</p>",
            html_table(ic, caption="Information coefficient", formats=ic_fmt, table_id="signal-ic"),
            fig(lambda: e.plot(), "Signal evaluation: IC over time, IC decay, mean return by quantile, "
                "cumulative quantile returns, turnover", "fig-signal"),
            '<div class="grid"><div>',
            html_table(quant[1], caption=quant[0], formats={c: (".2f" if c.startswith("nw_") else ".3%")
                                                            for c in quant[1].columns[1:]},
                       table_id="signal-quantiles"),
            "</div><div>",
            html_table(decay[1], caption=decay[0], formats={"ic_mean": ".4f", "nw_tstat": ".2f"},
                       table_id="signal-decay"),
            "</div></div>",
            html_table(turn[1], caption=turn[0], formats={c: ".4f" for c in turn[1].columns[1:]},
                       table_id="signal-turnover")]
    res_t = tables.get("IC on residual (specific) returns")
    if res_t is not None:
        body += ["<h3>On residual returns</h3>",
                 '<p class="note">The same IC against the factor model\'s residual (specific) returns: what '
                 "the signal says beyond the factors the risk model already prices.</p>",
                 html_table(res_t, formats={"ic_mean": ".4f", "nw_tstat": ".2f", "nw_pvalue": ".4f"},
                            table_id="signal-residual-ic")]
    return _section("signal", "Signal evaluation", body)


def _section_portfolios(res: RunResult, fig: _Figures) -> str:
    if not res.books:
        return ""
    from ferrofactor.plotting import exposure_bars

    groups = _groups(res)
    rows: dict[str, list[Any]] = {"portfolio": [], "volatility": [], "factor_share": [], "specific_share": [],
                                  "positions": [], "long": [], "short": []}
    for b in res.books.values():
        d = b.decomposition
        var = d.total_vol ** 2
        rows["portfolio"].append(b.name)
        rows["volatility"].append(d.total_vol)
        rows["factor_share"].append(d.factor_var / var if var > 0 else float("nan"))
        rows["specific_share"].append(d.specific_var / var if var > 0 else float("nan"))
        w = np.asarray(b.weights)
        rows["positions"].append(int(np.sum(np.abs(w) > POSITION_TOL)))
        rows["long"].append(float(w[w > 0].sum()))
        rows["short"].append(float(w[w < 0].sum()))
    date = next(iter(res.books.values())).date
    body = [f'<p class="note">Portfolios formed at the close of {_esc(date)} from the signal and the risk model '
            "known then; volatilities are ex-ante, a year.</p>",
            html_table(pl.DataFrame(rows), caption="Portfolios",
                       formats={"volatility": "%", "factor_share": "%", "specific_share": "%", "long": ".4f",
                                "short": ".4f"}, table_id="portfolios")]
    assets = res.panel.assets
    for b in res.books.values():
        d = b.decomposition
        body.append(f"<h3>{_esc(b.title)}</h3><p class='note'>{_esc(b.description)}</p>")
        if b.optimization is not None:
            o = b.optimization
            body.append(_kv_table([("Status", o.status), ("Objective", float(o.objective)),
                                   ("Turnover", float(o.turnover)), ("Cost", float(o.cost)),
                                   ("Largest constraint violation", float(o.max_violation)),
                                   ("Solve time (s)", float(o.solve_time))], table_id=f"opt-{b.name}"))
        f = d.to_polars("factors")
        order = np.argsort(-np.abs(np.nan_to_num(f["factor_contrib"].to_numpy())), kind="stable")[:15]
        top = f[order.tolist()].rename({"exposures": "exposure", "factor_contrib": "contribution"})
        w = np.asarray(b.weights)
        idx = np.argsort(-np.abs(w), kind="stable")[:10]
        hold = pl.DataFrame({"asset": [str(assets[j]) for j in idx], "weight": w[idx],
                             "risk_contribution": np.asarray(d.asset_contrib)[idx]})

        def bars(b=b, d=d):
            if b.optimization is not None:
                return b.optimization.plot()
            return exposure_bars(d.factor_names, d.exposures, groups=groups,
                                 title=f"Factor exposures of the {b.title.lower()} portfolio on {b.date}")

        body += [fig(bars, f"Factor exposures: {b.title}", f"fig-exposures-{b.name}"),
                 '<div class="grid"><div>',
                 html_table(top.select("factor", "exposure", "factor_vol", "factor_corr", "contribution"),
                            caption=f"Risk decomposition (a year): total {d.total_vol:.2%}, largest contributions",
                            formats={"exposure": ".4f", "factor_vol": ".4f", "factor_corr": ".3f",
                                     "contribution": ".5f"}, table_id=f"risk-{b.name}"),
                 "</div><div>",
                 html_table(hold, caption="Largest positions", formats={"weight": ".4%", "risk_contribution": ".5f"},
                            table_id=f"holdings-{b.name}"),
                 "</div></div>",
                 fig(lambda d=d: d.plot(), f"Contributions to volatility: {b.title}", f"fig-risk-{b.name}")]
    return _section(SECTION_IDS["portfolios"], "Portfolios", body)


def _section_backtest(res: RunResult, fig: _Figures) -> str:
    bt = res.backtest
    if bt is None:
        return ""
    b, p = res.config["backtest"], res.config["portfolio"]
    perf = bt.summary().tables[0][1].select(
        "book", "annual_return", "annual_volatility", "sharpe_ratio", "sortino_ratio", "max_drawdown",
        "calmar_ratio", "monthly_win_rate", pl.col("mean_turnover").alias("turnover_per_rebalance"), "total_costs")
    pct = {c: "%" for c in ("annual_return", "annual_volatility", "max_drawdown", "monthly_win_rate",
                            "turnover_per_rebalance")}
    when = "every date" if b["rebalance"] == "daily" else f"the first trading date of each {b['rebalance'][:-2]}"
    delist = (f"Delisted assets are paid out on the dates of {res.delistings_source} (known when they happen)."
              if res.delistings is not None else
              "Delisting dates are inferred as the first date after an asset's last price (data.delistings "
              "unset), which reads later data.")
    body = [f'<p class="note">Each book trades at the close of {when} to targets from that date\'s signal '
            f"and earns the returns from the next date on, paying {b['cost_bps']:g} bps of the traded value. "
            "Books: <b>market</b>, every asset with a signal at cap weights; <b>top</b>, the top "
            f"{p['percentile'] * 100:.10g}% of the signal at equal weights; <b>quantile</b>, +0.5/n on the top and −0.5/n "
            f"on the bottom {p['percentile'] * 100:.10g}% (ferrofactor.strategies.TopN). Statistics of the net returns "
            "from each book's first rebalance on (ferrofactor.metrics); total costs in units of the initial "
            f"value. {delist}</p>",
            html_table(perf, caption="Performance", formats={**pct, "sharpe_ratio": ".2f", "sortino_ratio": ".2f",
                                                               "calmar_ratio": ".2f", "total_costs": ".4f"},
                       table_id="backtest-performance"),
            fig(lambda: _plotting().backtest_figure(bt), "Cumulative value and drawdown of the books",
                "fig-backtest")]
    a = res.attribution
    if a is not None:
        g = a.by_group()
        # the exposures of the model's lag (model.lag): B_{t-lag} explains the return of t
        known = ("known at the previous close" if a.lag == 1 else
                 "of the same close: model.lag = 0" if a.lag == 0 else f"known {a.lag} closes before, model.lag")
        body += ["<h3>Attribution of the long-short quantile book</h3>",
                 f'<p class="note">Its net return of each date split into exposures ({known}) '
                 "× factor returns, the specific return and the costs (ferrofactor.attribute); the lines add up "
                 f"to the net return on every date. Cumulative return {float(a.cumulative_return[-1]):.2%}.</p>",
                 '<div class="grid"><div>',
                 html_table(g.table(), caption="By factor group (a year)",
                            formats={"mean_exposure": ".4f", "annual_contribution": "%", "tstat": ".2f",
                                     "vol_contribution": "%", "share_of_variance": "%"}, table_id="attribution"),
                 "</div><div>",
                 html_table(_top_lines(a.table(), 10), caption="Largest factor contributions (a year)",
                            formats={"mean_exposure": ".4f", "annual_contribution": "%", "tstat": ".2f",
                                     "vol_contribution": "%", "share_of_variance": "%"},
                            table_id="attribution-factors"),
                 "</div></div>"]
    return _section("backtest", "Backtest", body)


def _top_lines(table: pl.DataFrame, k: int) -> pl.DataFrame:
    """The ``k`` factor rows of an attribution table with the largest |annual contribution|."""
    lines = {"specific", "unexplained", "costs", "total"}
    f = table.filter(~pl.col("line").is_in(list(lines)))
    order = np.argsort(-np.abs(np.nan_to_num(f["annual_contribution"].to_numpy())), kind="stable")[:k]
    return f[order.tolist()]


def _plotting() -> Any:
    from ferrofactor import plotting

    return plotting


def _section_alerts(res: RunResult) -> str:
    al = res.alerts
    if al is None:
        return ""
    if al.height == 0:
        return _section(SECTION_IDS["alerts"], "Alerts",
                        ['<p class="note">No alerts (ferrofactor.monitor, seed 000\'s thresholds).</p>'])
    # position alerts name "<book>/<asset>": counted per book here, the assets are in the list below
    book = pl.when(pl.col("kind") == "position").then(pl.col("subject").str.replace(r"/[^/]*$", "")) \
        .otherwise(pl.col("subject"))
    counts = al.with_columns(book.alias("book")).group_by("kind", "book", maintain_order=True) \
        .agg(pl.len().alias("alerts"), pl.col("date").max().alias("last"))
    counts = counts.with_columns(pl.col("last").cast(pl.String))
    latest = al.sort("date", descending=True, maintain_order=True).head(20).with_columns(pl.col("date").cast(pl.String))
    body = [f'<p class="note">{al.height} alerts of the backtest books (ferrofactor.monitor with seed 000\'s '
            "thresholds: turnover at a rebalance, concentration, decay of a book's returns).</p>",
            html_table(counts, caption="Alerts by kind and book", table_id="alerts-count"),
            html_table(latest.select("date", "kind", "subject", "value", "threshold", "message"),
                       caption="The latest 20", formats={"value": ".4f", "threshold": ".4f"}, table_id="alerts")]
    return _section(SECTION_IDS["alerts"], "Alerts", body)


def _section_skipped(res: RunResult, extra: Sequence[tuple[str, str]]) -> str:
    items = list(res.skipped) + list(extra)
    if not items:
        return ""
    lis = "".join(f"<li><b>{_esc(k)}</b>: {_esc(v)}</li>" for k, v in items)
    return _section("skipped", "Skipped", [f'<ul class="skip">{lis}</ul>'])


def _versions() -> list[tuple[str, str]]:
    import ferrofactor as ff

    out = [("ferrofactor", ff.__version__), ("python", platform.python_version()), ("numpy", np.__version__),
           ("polars", pl.__version__)]
    for mod in ("matplotlib", "cvxpy"):
        if have(mod):
            import importlib

            out.append((mod, getattr(importlib.import_module(mod), "__version__", "?")))
        else:
            out.append((mod, "not installed"))
    out.append(("threads", str(ff.get_num_threads())))
    return out


def _section_run(res: RunResult, command: str) -> str:
    st = pl.DataFrame({"stage": [s.name for s in res.stages], "wall_s": [s.wall for s in res.stages],
                       "cpu_s": [s.cpu for s in res.stages], "status": [s.status for s in res.stages],
                       "note": [s.note for s in res.stages]})
    body = [html_table(st, caption="Stages (CPU time counts every thread of the process)",
                       formats={"wall_s": ".2f", "cpu_s": ".2f"}, table_id="stages"),
            _kv_table([("Command", command or "—")] + _versions(), caption="Environment", table_id="environment"),
            "<h3>Configuration (defaults filled in)</h3>", f"<pre>{_esc(res.config.to_toml())}</pre>"]
    if res.files:
        body.append("<h3>Files</h3><ul>" + "".join(f"<li>{_esc(f)}</li>" for f in res.files) + "</ul>")
    return _section("run", "Run", body)


def _section(sid: str, title: str, body: Sequence[str]) -> str:
    return f'<section id={_q(sid)}><h2>{_esc(title)}</h2>{"".join(body)}</section>'


# ---------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------


def render_html(res: RunResult, *, command: str = "", reporter: Reporter | None = None) -> tuple[str, list[tuple[str, str]]]:
    """The report's HTML text, and the sections skipped while rendering (e.g. plots without
    matplotlib) with their reasons."""
    reporter = reporter or Reporter()
    rep = res.config["report"]
    extra: list[tuple[str, str]] = []
    plots = rep["plots"]
    if plots and not have("matplotlib"):
        plots = False
        extra.append(("plots", "matplotlib is not installed (the plot extra: pip install \".[plot]\" in the ferrofactor "
                               "source tree, or pip install \"ferrofactor[plot]\" from a package index): tables only"))
    elif not plots:
        extra.append(("plots", "report.plots = false"))
    fig = _Figures(plots, rep["image_format"], lambda: reporter.advance())
    sections = [
        ("data", "Data coverage", _section_data(res, fig)),
        ("factor-returns", "Factor returns", _section_factor_returns(res, fig)),
        ("risk", "Risk model", _section_risk(res, fig)),
        ("signal", "Signal evaluation", _section_signal(res, fig)),
        (SECTION_IDS["portfolios"], "Portfolios", _section_portfolios(res, fig)),
        ("backtest", "Backtest", _section_backtest(res, fig)),
        (SECTION_IDS["alerts"], "Alerts", _section_alerts(res)),
    ]
    sections.append(("skipped", "Skipped", _section_skipped(res, extra)))
    sections.append(("run", "Run", _section_run(res, command)))
    nav = "".join(f'<a href="#{sid}">{_esc(t)}</a>' for sid, t, body in sections if body)
    import ferrofactor as ff

    when = _dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    p = res.panel
    sub = (f"{p.shape[1]} assets × {p.shape[0]} dates, {p.dates[0]}..{p.dates[-1]} · "
           f"{_esc(res.source or 'configured data')} · ferrofactor {ff.__version__} · {when}")
    doc = ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
           f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{_esc(rep['title'])}</title>"
           f"<style>{_CSS}</style></head><body><header><h1>{_esc(rep['title'])}</h1><p>{sub}</p></header>"
           f"<nav>{nav}</nav><main>{''.join(body for _, _, body in sections)}</main></body></html>\n")
    return doc, extra


def n_figures(res: RunResult) -> int:
    """How many figures the report draws (for the progress bar)."""
    if not res.config["report"]["plots"] or not have("matplotlib"):
        return 0
    return (4 + (res.bias_test is not None) + (res.min_var is not None) + (res.evaluation is not None)
            + (res.backtest is not None) + 2 * len(res.books))


def _output_names() -> set[str]:
    """Every name a run may write into its output directory."""
    return {"report.html", "summary.json", MANIFEST} | {f"{n}.parquet" for n in PARQUET_OUTPUTS}


def _read_manifest(path: str) -> set[str] | None:
    """The output names a manifest lists (anything else it lists is ignored: only ferrofactor's
    own output names inside the directory are ever removed), or None if it is not one."""
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return None
    files = data.get("files") if isinstance(data, dict) and "ferrofactor" in data else None
    if not isinstance(files, list):
        return None
    names = _output_names()
    return {f for f in files if isinstance(f, str) and f in names} | {MANIFEST}


class OutputDirError(FileExistsError):
    """The output directory holds files named like ferrofactor's outputs that no manifest lists
    (``names``; ``why`` says which manifest): a run would replace them or mix with them."""

    def __init__(self, out_dir: str, names: Sequence[str], why: str, how: str = "overwrite=True") -> None:
        self.out_dir, self.names, self.why = out_dir, list(names), why
        super().__init__(self.message(how))

    def message(self, how: str) -> str:
        n = len(self.names)
        shown = ", ".join(self.names[:6]) + (f" and {n - 6} more" if n > 6 else "")
        they, them = ("they", "them") if n > 1 else ("it", "it")
        return (f"{self.out_dir!r} holds {n} file{'s' if n > 1 else ''} named like ferrofactor's outputs that "
                f"{self.why} ({shown}): {they} may not come from a ferrofactor run (or come from a version "
                f"without manifests), and this run would replace {them} or leave {them} beside its own outputs. "
                f"Nothing was written. Choose a new or empty directory, or pass {how} to replace or remove "
                "such files there (other files are never touched).")


def check_output_dir(out_dir: str, *, overwrite: bool = False) -> tuple[list[str], list[str]]:
    """What a run into ``out_dir`` would replace or remove, checked before anything is written.

    A run owns the files its previous run listed in ``out_dir/ferrofactor-manifest.json``: it
    replaces them, and removes those it does not write again (so the directory never mixes two
    runs). Files with a name of ferrofactor's outputs (``report.html``, ``summary.json``, the
    manifest, ``<output>.parquet``) that no manifest lists are not the run's: they stop it
    (``FileExistsError`` naming them) unless ``overwrite``, which replaces or removes them too.
    Every other file in ``out_dir`` is left alone.

    Returns
    -------
    (owned, foreign) : lists of str
        Names of output files in ``out_dir`` that an earlier run's manifest lists, and those no
        manifest lists (non-empty only with ``overwrite``).

    Raises
    ------
    FileExistsError
        ``out_dir`` holds output-named files no manifest lists (and not ``overwrite``:
        :class:`OutputDirError`, naming them), or an output name that is a directory (never
        removed), or ``out_dir`` is not a directory.
    """
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise FileExistsError(f"{out_dir!r} exists and is not a directory")
    if not os.path.isdir(out_dir):
        return [], []
    names = _output_names()
    present = sorted(n for n in os.listdir(out_dir) if n in names)
    dirs = [n for n in present
            if os.path.isdir(os.path.join(out_dir, n)) and not os.path.islink(os.path.join(out_dir, n))]
    if dirs:
        raise FileExistsError(f"{out_dir!r} holds the director{'ies' if len(dirs) > 1 else 'y'} "
                              f"{', '.join(dirs)}, named like ferrofactor's output files: move "
                              f"{'them' if len(dirs) > 1 else 'it'} or choose another output directory")
    listed = _read_manifest(os.path.join(out_dir, MANIFEST)) if MANIFEST in present else set()
    unreadable = MANIFEST in present and listed is None
    listed = listed or set()
    owned = [n for n in present if n in listed]
    foreign = [n for n in present if n not in listed]
    if foreign and not overwrite:
        why = (f"no manifest lists (its {MANIFEST} cannot be read)" if unreadable else
               f"no {MANIFEST} lists" if MANIFEST not in present else f"its {MANIFEST} does not list")
        raise OutputDirError(out_dir, foreign, why)
    return owned, foreign


def _write_manifest(out_dir: str, names: Sequence[str], command: str) -> None:
    import ferrofactor as ff

    path = os.path.join(out_dir, MANIFEST)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump({"ferrofactor": ff.__version__, "command": command,
                   "written": _dt.datetime.now().isoformat(timespec="seconds"),
                   "note": "the files the last ferrofactor run wrote here; the next run into this directory "
                           "replaces them and removes those it does not write again. Other files are left alone.",
                   "files": [n for n in names if n != MANIFEST]}, fh, indent=2)
    os.replace(tmp, path)


def write_report(res: RunResult, out_dir: str, *, command: str = "", reporter: Reporter | None = None,
                 summary: Callable[[], dict[str, Any]] | None = None, overwrite: bool = False) -> list[str]:
    """Write ``report.html``, the Parquet outputs and ``summary.json`` into ``out_dir`` (created
    if needed), with ``ferrofactor-manifest.json`` listing them, as a stage named ``report``.

    The directory holds one run: the files an earlier run listed in its manifest are replaced,
    and those this run does not write (a Parquet output of a section now switched off, say) are
    removed. Output-named files no manifest lists stop the run before anything is written
    (``overwrite=True`` replaces or removes them too); every other file is left alone (see
    :func:`check_output_dir`).

    Everything is written to a temporary directory beside ``out_dir`` first and moved into
    place at the end: if anything fails before that, ``out_dir`` is left as it was.

    Returns
    -------
    list of str
        The paths written.
    """
    from ferrofactor._validate import check_bool

    overwrite = check_bool("overwrite", overwrite)
    reporter = reporter or Reporter()
    run = StageRunner(res, reporter)
    rep = res.config["report"]
    frames = _output_makers(res) if rep["parquet"] else {}
    total = n_figures(res) + len(frames) + 2
    out_dir = os.path.abspath(out_dir)
    parent = os.path.dirname(out_dir)
    with run.stage("report", total=total) as st:
        owned, foreign = check_output_dir(out_dir, overwrite=overwrite)
        os.makedirs(parent, exist_ok=True)
        tmp = tempfile.mkdtemp(prefix=".ferrofactor-", dir=parent)
        try:
            names = []
            for name, make in frames.items():
                make().write_parquet(os.path.join(tmp, f"{name}.parquet"), compression="zstd", compression_level=1)
                names.append(f"{name}.parquet")
                reporter.advance(description=f"{name}.parquet")
            written = ["report.html", *names, *(["summary.json"] if summary is not None else []), MANIFEST]
            res.files = [os.path.join(out_dir, n) for n in written]
            text, extra = render_html(res, command=command, reporter=reporter)
            for k, v in extra:
                if (k, v) not in res.skipped:
                    res.skipped.append((k, v))
            with open(os.path.join(tmp, "report.html"), "w", encoding="utf-8") as fh:
                fh.write(text)
            reporter.advance(description="report.html")
            st.note = f"{len(names)} Parquet files, report.html ({len(text) / 1e6:.1f} MB) in {out_dir}"
            os.makedirs(out_dir, exist_ok=True)
            # the manifest first lists the earlier files and this run's: interrupted from here on,
            # the next run still knows every output file in the directory
            _write_manifest(out_dir, sorted(set(owned) | set(foreign) | set(written)), command)
            for n in ["report.html", *names]:
                os.replace(os.path.join(tmp, n), os.path.join(out_dir, n))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        stale = [n for n in owned if n not in written]
        removed = [n for n in foreign if n not in written] + stale
        for n in removed:
            try:
                os.remove(os.path.join(out_dir, n))
            except FileNotFoundError:
                pass
        if stale:
            st.note += (f"; removed {len(stale)} file{'s' if len(stale) > 1 else ''} of the earlier run "
                        f"({', '.join(stale)})")
        if foreign:
            st.note += (f"; overwrite: replaced or removed {len(foreign)} output-named file"
                        f"{'s' if len(foreign) > 1 else ''} no manifest listed ({', '.join(foreign)})")
    if summary is not None:
        # written last, with this stage's timing known to the caller
        path = os.path.join(out_dir, "summary.json")
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(summary(), fh, indent=2, default=str)
        reporter.advance()
    _write_manifest(out_dir, written, command)
    return list(res.files)
