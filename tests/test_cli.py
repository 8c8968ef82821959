"""The ``ferrofactor`` command end to end, in subprocesses: exit codes, the files written, and the
numbers of the report and of the Parquet outputs against the library called directly on the same
data with the documented defaults (the oracle: ``ff.FactorModel``, ``ff.RiskModel``,
``ff.evaluate`` (risk validation and signal evaluation), ``ff.quantile_portfolio``, ``ff.optimize`` and numpy, not the pipeline code).

The demo and the pipeline run the same library code on the same data, so the numbers must agree
exactly (compared bit for bit through the ``data-value`` attributes of the report, which hold
``repr(float)``); the optimiser's weights too (the same deterministic solve on the same inputs).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import ferrofactor as ff
from conftest import console_script

ROOT = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------------------------------------
# Reading the report
# ---------------------------------------------------------------------------------------------


class _Tables(HTMLParser):
    """Every ``<table id=...>`` of the report: its rows, each a list of (text, data-value)."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[tuple[str, str | None]]]] = {}
        self.images: list[str] = []
        self._tid: str | None = None
        self._row: list | None = None
        self._cell: list | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table":
            self._tid = a.get("id")
            if self._tid:
                self.tables[self._tid] = []
        elif tag == "tr" and self._tid:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = ["", a.get("data-value")]
        elif tag == "img":
            self.images.append(a.get("src", ""))

    def handle_data(self, data):
        if self._cell is not None:
            self._cell[0] += data

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append((self._cell[0], self._cell[1]))
            self._cell = None
        elif tag == "tr" and self._row is not None and self._tid:
            self.tables[self._tid].append(self._row)
            self._row = None
        elif tag == "table":
            self._tid = None


def read_report(path: Path) -> _Tables:
    p = _Tables()
    p.feed(path.read_text(encoding="utf-8"))
    return p


def column(rows, name: str) -> dict[str, float]:
    """A table column as {first cell: exact value}, from the header row's names."""
    head = [c[0] for c in rows[0]]
    j = head.index(name)
    return {r[0][0]: float(r[j][1]) for r in rows[1:]}


def kv(rows) -> dict[str, float | str]:
    """A key/value table as {key: exact value (or text)}."""
    return {r[0][0]: (float(r[1][1]) if r[1][1] is not None else r[1][0]) for r in rows}


def kv_text(rows) -> dict[str, str]:
    """A key/value table as {key: the text shown}."""
    return {r[0][0]: r[1][0] for r in rows}


def check_share_and_coverage(rep, share: float, covered: int) -> None:
    """The bias test's share inside the band reads as a percentage (it read 0 or 1); the assets
    the specific risk covers are an integer in the risk settings (they read 2366.0000 as a row
    of the specific-risk table of volatilities)."""
    bias = rep.tables["bias-test"]
    assert kv_text(bias)["Share inside the band"] == f"{share:.2%}"
    assert kv(bias)["Share inside the band"] == share  # the exact fraction in data-value
    settings = rep.tables["risk-settings"]
    assert kv_text(settings)["Covered assets"] == str(covered) and kv(settings)["Covered assets"] == covered
    spec = rep.tables["specific-risk"]
    assert [r[0][0] for r in spec] == ["statistic", "p05", "p25", "median", "p75", "p95"]


# ---------------------------------------------------------------------------------------------
# The oracle: the library called directly with the documented defaults
# ---------------------------------------------------------------------------------------------


def library_run(panel, vra_half_life=None):
    ex = ff.Exposures.from_panel(panel)  # exposures: styles, winsorize, fill defaults
    res = ff.FactorModel(lag=1, weights="sqrt_cap", industry_constraint="cap").fit(panel, ex)
    fm = res.fama_macbeth(cov="kernel")  # model.fama_macbeth_cov = "kernel"
    risk = ff.RiskModel(vra_half_life=vra_half_life).fit(res)
    T, N = panel.shape
    burn = 252 if 252 < T - 1 else T // 2  # validation.burn_in = 252
    ports = np.random.default_rng(0).random((100, N))  # validation.portfolios = 100, seed = 0
    bias = ff.evaluate.bias_test(risk, panel, ports, dates=np.arange(burn, T - 1))
    mv = ff.evaluate.minimum_variance_test(risk, panel)
    after = np.searchsorted(risk.dates, mv.dates) >= burn
    mv_bias = ff.evaluate.bias_statistic(mv.realized[after], mv.forecast_vol[after])
    score = ff.combined_score(ex)  # signal.weights: 0.25 each
    # signal.horizons = [1, 5, 21], signal.quantiles = 5, signal.residual = true
    ev = ff.evaluate.evaluate(score, panel, horizons=(1, 5, 21), quantiles=5, residual=res)
    t = T - 1  # portfolio.date: the last date
    covered = risk.covered(t)
    cap = np.where(covered, np.nan_to_num(panel["market_cap"][t]), 0.0)
    sig = np.where(covered, score[t], np.nan)
    books = {
        "market": cap / cap.sum(),
        "quantile": ff.quantile_portfolio(sig, percentile=0.1),  # portfolio.percentile = 0.1
    }
    alpha = 0.05 * risk.specific_risk[t] * sig  # portfolio.ic = 0.05
    opt = ff.optimize(alpha, risk, date=t, risk_aversion=10.0, max_weight=0.02,
                      tcost=ff.TransactionCost(linear_bps=5.0))
    books["optimized"] = opt.weights
    # backtest.rebalance = "monthly", backtest.cost_bps = 5; the books of the documented defaults;
    # the demo's delistings are the simulation's: the date after each delisting asset's last listed
    # date (from the truth, by hand here; a panel read from files has none: inferred)
    gone = None
    if panel.truth is not None:
        listed = panel.truth.listed
        gone = {a: panel.dates[int(np.flatnonzero(listed[:, j])[-1]) + 1]
                for j, a in enumerate(panel.assets.tolist()) if listed[:, j].any() and not listed[-1, j]}
    S = ff.strategies
    bt = ff.backtest_many(panel, {
        "market": S.TopN(score, fraction=1.0, cap=panel["market_cap"], weighting="cap", name="market"),
        "top": S.TopN(score, fraction=0.1, name="top"),
        "quantile": S.TopN(score, fraction=0.1, long_short=True, name="quantile")},
        rebalance="monthly", cost_bps=5.0, delistings=gone)
    return dict(ex=ex, res=res, fm=fm, risk=risk, bias=bias, mv_bias=mv_bias, books=books, t=t,
                n_mv=int(after.sum()), ev=ev, bt=bt, score=score)


# ---------------------------------------------------------------------------------------------
# demo, end to end (the console script in a subprocess)
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo(demo_run):
    assert demo_run.proc.returncode == 0, demo_run.proc.stderr[-3000:]
    panel = ff.datasets.synthetic_universe(n_assets=demo_run.assets, n_days=demo_run.days, seed=demo_run.seed)
    return demo_run, panel, library_run(panel, vra_half_life=42.0)


def test_demo_exits_0_and_writes_the_report_and_every_output(demo):
    run, panel, _ = demo
    files = sorted(os.listdir(run.out))
    assert files == sorted(["report.html", "summary.json", "factor_returns.parquet", "fama_macbeth.parquet",
                            "exposures.parquet", "specific_risk.parquet", "factor_volatility.parquet",
                            "bias_test.parquet", "minimum_variance.parquet", "signal_ic.parquet",
                            "signal_evaluation.parquet", "quantile_returns.parquet", "backtest_value.parquet",
                            "backtest_returns.parquet", "attribution.parquet", "alerts.parquet", "weights.parquet",
                            "risk_decomposition.parquet", "ferrofactor-manifest.json"])
    # nothing else is left beside the output directory (the temporary directory is gone)
    assert os.listdir(run.out.parent) == ["report"]
    summary = json.loads(run.proc.stdout)
    assert summary == json.loads((run.out / "summary.json").read_text())
    assert summary["status"] == "ok" and summary["exit_code"] == 0
    assert [s["name"] for s in summary["stages"]] == [
        "synthetic universe", "exposures", "factor model", "risk model", "risk validation", "signal",
        "signal evaluation", "portfolios", "backtest", "report"]
    assert all(s["status"] == "done" and s["wall_s"] >= 0 and s["cpu_s"] >= 0 for s in summary["stages"])
    assert summary["skipped"] == []
    assert summary["summary"]["data"]["assets"] == panel.shape[1]
    assert summary["summary"]["data"]["dates"] == panel.shape[0]
    # timing lines on stderr, one per stage
    for s in summary["stages"]:
        assert f" {s['name']} " in run.proc.stderr


def test_demo_parquet_outputs_equal_the_library(demo):
    run, panel, lib = demo
    out = run.out
    assert pl.read_parquet(out / "factor_returns.parquet").equals(lib["res"].to_polars("factor_returns"))
    assert pl.read_parquet(out / "fama_macbeth.parquet").equals(lib["fm"].to_polars("params_table"))
    ex = lib["ex"]
    want = ex.to_polars().filter(
        pl.any_horizontal([pl.col(s).is_not_nan() for s in ex.style_names]) | pl.col("industry").is_not_null())
    got = pl.read_parquet(out / "exposures.parquet")
    assert got.equals(want)
    # no (date, asset) with an exposure was left out
    styles = ex.styles
    assert got.height == int((np.isfinite(styles).any(axis=2) | (ex.industry >= 0)).sum())
    spec = pl.read_parquet(out / "specific_risk.parquet")
    sr = np.asarray(lib["risk"].specific_risk)
    ok = np.isfinite(sr)
    np.testing.assert_array_equal(spec["specific_risk"].to_numpy(), sr[ok])
    assert spec.height == int(ok.sum())
    assert pl.read_parquet(out / "factor_volatility.parquet").equals(lib["risk"].to_polars("factor_volatility"))
    np.testing.assert_array_equal(pl.read_parquet(out / "bias_test.parquet")["bias"].to_numpy(),
                                  lib["bias"].bias.bias)
    w = pl.read_parquet(out / "weights.parquet")
    assert w["asset"].to_list() == list(panel.assets)
    for name, want_w in lib["books"].items():
        np.testing.assert_array_equal(w[name].to_numpy(), want_w)
    dec = pl.read_parquet(out / "risk_decomposition.parquet")
    for name, want_w in lib["books"].items():
        d = lib["risk"].risk_decomposition(want_w, date=lib["t"], annualize=True)
        rows = dec.filter(pl.col("portfolio") == name)
        np.testing.assert_array_equal(rows["factor_contrib"].to_numpy(),
                                      np.append(d.factor_contrib, d.specific_contrib))


def test_demo_report_numbers_equal_the_library(demo):
    run, panel, lib = demo
    rep = read_report(run.out / "report.html")
    fm = lib["fm"]
    table = rep.tables["fama-macbeth"]
    for col, want in (("estimate", fm.params), ("std_error", fm.std_errors), ("tstat", fm.tstats),
                      ("pvalue", fm.pvalues), ("ci_lower", fm.ci_lower), ("ci_upper", fm.ci_upper),
                      ("annualized_mean", fm.params * 252)):
        got = column(table, col)
        assert list(got) == fm.factor_names
        np.testing.assert_array_equal(np.array(list(got.values())), want)
    res = lib["res"]
    head = kv(rep.tables["model-header"])
    assert head["Mean R² (estimated dates)"] == np.nanmean(res.r2[res.estimated])
    assert head["Dates estimated"] == res.estimated.sum()
    bias = kv(rep.tables["bias-test"])
    assert bias["Median bias"] == np.nanmedian(lib["bias"].bias.bias)
    assert bias["Share inside the band"] == lib["bias"].bias.share_inside
    check_share_and_coverage(rep, lib["bias"].bias.share_inside,
                             int(np.isfinite(lib["risk"].specific_variance[-1]).sum()))
    mv = kv(rep.tables["minimum-variance"])
    assert mv["Bias"] == float(np.atleast_1d(lib["mv_bias"].bias)[0])
    assert mv["Forecast dates"] == lib["n_mv"]
    books = rep.tables["portfolios"]
    vols = column(books, "volatility")
    for name, w in lib["books"].items():
        assert vols[name] == lib["risk"].risk_decomposition(w, date=lib["t"], annualize=True).total_vol
    # the factor volatilities on the last date, a year
    fv = column(rep.tables["factor-volatility"], "vol_annualized")
    np.testing.assert_array_equal(np.array(list(fv.values())), lib["risk"].factor_volatility[-1] * np.sqrt(252))
    # the synthetic truth: correlations of estimated and true factor returns
    truth = panel.truth
    tr = column(rep.tables["truth"], "correlation")
    j = res.factor_names.index("market")
    est, tru = res.factor_returns[:, j], truth.factor_returns[:, 0]
    ok = np.isfinite(est) & np.isfinite(tru)
    assert tr["market"] == np.corrcoef(est[ok], tru[ok])[0, 1]
    assert tr["market"] > 0.9
    # every plot embedded as a data: image (nothing fetched from anywhere)
    assert len(rep.images) == 4 + 2 + 1 + 2 * 3 + 1
    assert all(src.startswith("data:image/svg+xml;base64,") for src in rep.images)
    text = (run.out / "report.html").read_text()
    assert "http://" not in text.replace("http://www.w3.org", "") and "https://" not in text


def test_demo_signal_evaluation_equals_the_library(demo):
    """The signal evaluation in the Parquet outputs, the report and the JSON summary: exactly
    ``ff.evaluate.evaluate`` on the same signal and returns with the documented defaults."""
    run, panel, lib = demo
    ev = lib["ev"]
    out = run.out
    ic = pl.read_parquet(out / "signal_ic.parquet")
    assert ic.equals(ev.to_polars("ic")) and ic.columns == ["date", "1", "5", "21"]
    assert ic.height == panel.shape[0]
    assert pl.read_parquet(out / "signal_evaluation.parquet").equals(ev.to_polars("ic_summary"))
    q = pl.read_parquet(out / "quantile_returns.parquet")
    assert q.equals(ev.to_polars("quantiles")) and q.height == 5 * 3
    rep = read_report(out / "report.html")
    t = rep.tables["signal-ic"]
    assert list(column(t, "ic_mean")) == ["1", "5", "21"]
    for col, want in (("ic_mean", ev.ic_mean), ("ic_std", ev.ic_std), ("nw_tstat", ev.ic_nw_tstat),
                      ("nw_pvalue", ev.ic_nw_pvalue), ("tstat (plain)", ev.ic_tstat)):
        np.testing.assert_array_equal(np.array(list(column(t, col).values())), want)
    qt = column(rep.tables["signal-quantiles"], "mean_21")
    np.testing.assert_array_equal(np.array(list(qt.values())),
                                  np.append(ev.mean_returns[:, 2], ev.quantile_returns.spread_mean[2]))
    np.testing.assert_array_equal(np.array(list(column(rep.tables["signal-decay"], "ic_mean").values())),
                                  ev.ic_decay)
    np.testing.assert_array_equal(np.array(list(column(rep.tables["signal-residual-ic"], "ic_mean").values())),
                                  ev.residual.ic_mean)
    # an independent check of one number: the 1-date IC of one date is the Spearman correlation
    # of the signal with the next date's returns (scipy)
    from scipy.stats import spearmanr

    score, r = ff.combined_score(lib["ex"]), panel["returns"]
    finite = np.flatnonzero(np.isfinite(ev.ic[:, 0]))
    t0 = int(finite[len(finite) // 2])
    ok = np.isfinite(score[t0]) & np.isfinite(r[t0 + 1])
    assert ev.ic[t0, 0] == pytest.approx(spearmanr(score[t0][ok], r[t0 + 1][ok]).statistic, rel=1e-10)
    s = json.loads((out / "summary.json").read_text())["summary"]["signal_evaluation"]
    assert s["horizons"] == [1, 5, 21]
    assert s["ic_mean"] == ev.ic_mean.tolist() and s["residual_ic_mean"] == ev.residual.ic_mean.tolist()


def test_demo_backtest_attribution_and_alerts_equal_the_library(demo):
    """The backtest outputs equal ``ff.backtest_many`` on the same signal; the report's
    statistics are the textbook ones computed here from the net returns (numpy); the attribution
    of the long-short book adds up to that book's net returns on every date (two modules'
    accounting against each other) and equals ``ff.attribute`` on the held weights."""
    run, panel, lib = demo
    bt, out = lib["bt"], run.out
    assert bt.books == ["market", "top", "quantile"]
    assert pl.read_parquet(out / "backtest_value.parquet").equals(bt.to_polars("value"))
    assert pl.read_parquet(out / "backtest_returns.parquet").equals(bt.to_polars("returns"))
    assert pl.read_parquet(out / "alerts.parquet").equals(bt.alerts())
    rep = read_report(out / "report.html")
    perf = rep.tables["backtest-performance"]
    summary = json.loads((out / "summary.json").read_text())["summary"]
    for name in bt.books:
        b = bt[name]
        first = int(np.argmax(b.traded & (b.n_holdings > 0)))  # the first rebalance that buys
        r = b.returns[first:]
        sharpe = r.mean() / r.std(ddof=1) * np.sqrt(252)
        assert column(perf, "sharpe_ratio")[name] == pytest.approx(sharpe, rel=1e-10)
        value = np.cumprod(1 + r)
        mdd = (value / np.maximum.accumulate(np.r_[1.0, value])[1:] - 1).min()
        assert column(perf, "max_drawdown")[name] == pytest.approx(mdd, rel=1e-10)
        assert column(perf, "total_costs")[name] == pytest.approx(b.costs.sum(), rel=1e-12)
        assert summary["backtest"][name]["final_value"] == b.value[-1]
    q = bt["quantile"]
    att = pl.read_parquet(out / "attribution.parquet")
    np.testing.assert_allclose(att["total"].to_numpy(), q.returns, rtol=0, atol=1e-14)
    w = np.zeros(q.weights_after.shape)
    w[1:] = q.weights_after[:-1]  # held over t: the weights after the trade at t−1
    r = panel["returns"]
    r = np.where((w != 0) & ~np.isfinite(r), 0.0, r)  # a held asset without a return earns 0
    want = ff.attribute(w, lib["res"], returns=r, costs=q.costs / np.r_[1.0, q.value[:-1]])
    assert att.equals(want.to_polars("contributions").join(want.to_polars("returns"), on="date"))
    total = column(rep.tables["attribution"], "annual_contribution")["total"]
    assert total == pytest.approx(q.returns.mean() * 252, rel=1e-10)
    n_alerts = bt.alerts().height
    assert summary["alerts"] == n_alerts > 0
    assert len(rep.tables["alerts"]) == 1 + min(20, n_alerts)  # header + the latest 20
    counts = rep.tables["alerts-count"]
    j = [c[0] for c in counts[0]].index("alerts")
    assert sum(int(row[j][1]) for row in counts[1:]) == n_alerts
    # position alerts ("<book>/<asset>") are counted per book, not one row per asset
    b = [c[0] for c in counts[0]].index("book")
    assert {row[b][0] for row in counts[1:]} <= set(bt.alerts()["subject"].str.replace(r"/[^/]*$", "").to_list())
    assert not any("/" in row[b][0] for row in counts[1:])


# ---------------------------------------------------------------------------------------------
# run on the sample files with the example config
# ---------------------------------------------------------------------------------------------


def _run(args, cwd=None, env=None, timeout=600):
    return subprocess.run(console_script() + list(args), capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=timeout)


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    d = tmp_path_factory.mktemp("example")
    shutil.copy(ROOT / "examples" / "config.toml", d / "config.toml")
    s = _run(["sample", str(d / "sample"), "--assets", "120", "--days", "300", "--seed", "2", "--quiet"])
    assert s.returncode == 0, s.stderr
    assert s.stdout == "" and s.stderr == ""  # --quiet
    r = _run(["run", str(d / "config.toml"), "--json"])
    return d, s, r


def test_example_config_runs_on_the_sample_files(example):
    d, _, r = example
    assert r.returncode == 0, r.stderr[-3000:]
    out = d / "report"  # report.out = "report", relative to the config file
    summary = json.loads(r.stdout)
    assert summary["status"] == "ok" and summary["out"] == str(out)
    assert summary["stages"][0]["name"] == "load"
    assert (out / "report.html").is_file() and (out / "weights.parquet").is_file()
    # the numbers: the library on the same files (read_universe with the documented defaults)
    panel = ff.read_universe(d / "sample" / "prices.parquet", d / "sample" / "fundamentals.parquet",
                             d / "sample" / "classifications.parquet")
    assert panel.equals(ff.datasets.load_sample(d / "sample"))
    lib = library_run(panel)
    assert pl.read_parquet(out / "factor_returns.parquet").equals(lib["res"].to_polars("factor_returns"))
    w = pl.read_parquet(out / "weights.parquet")
    for name, want_w in lib["books"].items():
        np.testing.assert_array_equal(w[name].to_numpy(), want_w)
    rep = read_report(out / "report.html")
    np.testing.assert_array_equal(np.array(list(column(rep.tables["fama-macbeth"], "estimate").values())),
                                  lib["fm"].params)


def test_run_from_sqlite_needs_nothing_extra(tmp_path):
    """The same sample as SQLite tables, read with SQL queries (the standard library's sqlite3):
    the factor returns equal those of the Parquet files."""
    import sqlite3

    paths = ff.datasets.write_sample(tmp_path / "s", n_assets=80, n_days=300, seed=3)
    con = sqlite3.connect(tmp_path / "u.db")
    for name, p in paths.items():
        df = pl.read_parquet(p)
        df = df.with_columns([pl.col(c).cast(pl.String) for c, t in df.schema.items() if t == pl.Date])
        _to_sqlite(con, name, df)
    con.close()
    (tmp_path / "c.toml").write_text(
        '[data]\nconnection = "sqlite:///u.db"\n'
        'prices = "SELECT date, asset, close, volume, shares FROM prices"\n'
        'fundamentals = "SELECT * FROM fundamentals"\nclassifications = "SELECT * FROM classifications"\n'
        "[signal]\nevaluate = false\n[report]\nplots = false\nparquet = true\n")
    r = _run(["run", str(tmp_path / "c.toml"), "--out", str(tmp_path / "o"), "--json"])
    assert r.returncode == 0, r.stderr[-3000:]
    panel = ff.read_universe(paths["prices"], paths["fundamentals"], paths["classifications"])
    lib = library_run(panel)
    assert pl.read_parquet(tmp_path / "o" / "factor_returns.parquet").equals(lib["res"].to_polars())
    summary = json.loads(r.stdout)
    assert ("plots", "report.plots = false") in [(s["section"], s["reason"]) for s in summary["skipped"]]
    # signal.evaluate = false: no evaluation stage, section or output
    assert "signal evaluation" not in [s["name"] for s in summary["stages"]]
    assert "signal_evaluation" not in summary["summary"]
    assert not (tmp_path / "o" / "signal_ic.parquet").exists()
    assert 'id="signal"' not in (tmp_path / "o" / "report.html").read_text()


def _to_sqlite(con, name, df):
    cols = df.columns
    con.execute(f"CREATE TABLE {name} ({', '.join(cols)})")
    con.executemany(f"INSERT INTO {name} VALUES ({', '.join('?' * len(cols))})", df.rows())
    con.commit()


# ---------------------------------------------------------------------------------------------
# exit codes, --quiet, --json, python -m, missing extras
# ---------------------------------------------------------------------------------------------


def test_a_failing_stage_exits_1_names_the_stage_and_writes_nothing(tmp_path):
    paths = ff.datasets.write_sample(tmp_path / "s", n_assets=40, n_days=300, seed=1)
    prices = pl.read_parquet(paths["prices"])
    pl.concat([prices, prices.head(3)]).write_parquet(tmp_path / "dup.parquet")  # duplicate rows
    (tmp_path / "c.toml").write_text('[data]\nprices = "dup.parquet"\nfundamentals = "s/fundamentals.parquet"\n')
    r = _run(["run", str(tmp_path / "c.toml"), "--out", str(tmp_path / "o"), "--json"])
    assert r.returncode == 1
    assert "error: load:" in r.stderr and "duplicate" in r.stderr
    summary = json.loads(r.stdout)
    assert summary["status"] == "failed" and summary["exit_code"] == 1 and summary["error"].startswith("load:")
    assert [(s["name"], s["status"]) for s in summary["stages"]] == [("load", "failed")]
    assert "duplicate" in summary["stages"][0]["note"]
    assert not (tmp_path / "o").exists()
    assert sorted(os.listdir(tmp_path)) == ["c.toml", "dup.parquet", "s"]


def test_a_failing_stage_lists_the_stages_that_ran_in_the_json(small_sample, tmp_path, capsys):
    """--json after a failed stage: the stages that ran, with their notes, and the failed one
    last marked "failed" (it listed none), beside the summary of what they produced."""
    cfg = _config(small_sample, "fails.toml", '[signal]\nevaluate = false\n[validation]\nportfolios = 0\n'
                  'minimum_variance = false\n[backtest]\nenabled = false\n[risk]\nmin_periods = 299\n')
    # a risk model that covers no asset yet: the portfolios stage fails, after six stages ran
    code, j, _ = _main_json(["run", str(cfg), "--out", str(tmp_path / "o")], capsys)
    assert code == 1
    assert j["status"] == "failed" and j["error"].startswith("portfolios: ValueError: the risk model covers 0 assets")
    assert [(s["name"], s["status"]) for s in j["stages"]] == [
        ("load", "done"), ("exposures", "done"), ("factor model", "done"), ("risk model", "done"),
        ("risk validation", "done"), ("signal", "done"), ("portfolios", "failed")]
    assert j["stages"][-1]["note"].startswith("ValueError: the risk model covers 0 assets")
    assert j["stages"][0]["note"].startswith("60 assets × 300 dates")
    assert j["summary"]["data"]["assets"] == 60 and j["summary"]["factor_model"]["dates_estimated"] > 0
    assert j["wall_s"] > 0 and j["files"] == [] and j["out"] is None
    assert not (tmp_path / "o").exists()


def test_usage_errors_exit_2(capsys):
    from ferrofactor.cli import main

    r = _run(["nope"])  # through the console script
    assert r.returncode == 2 and "usage: ferrofactor" in r.stderr
    from ferrofactor._threads import MAX_THREADS

    # more threads than the pool takes: a usage error naming --threads, before any work
    for args in (["demo", "--assets", "x"], ["run"], ["demo", "--days", "-3"], ["sample"],
                 ["demo", "--threads", str(MAX_THREADS + 1)]):
        with pytest.raises(SystemExit) as e:
            main(args)
        assert e.value.code == 2, args
        assert "usage: ferrofactor" in capsys.readouterr().err
    assert main(["demo", "--days", "100"]) == 2
    assert "--days" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["demo", "--threads", str(MAX_THREADS + 1)])
    assert f"argument --threads: at most {MAX_THREADS} threads" in capsys.readouterr().err


def test_sample_into_a_directory_it_cannot_create_fails_with_exit_1_not_a_traceback(tmp_path, capsys):
    """`sample` under a path whose parent is a file: exit 1 (the run failed) with the error, and
    the JSON summary with --json, as run and demo fail (it raised NotADirectoryError before)."""
    from ferrofactor.cli import main

    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    target = str(blocker / "sample")
    assert main(["sample", target, "--assets", "20", "--days", "30"]) == 1
    assert "cannot write into" in capsys.readouterr().err
    code, js, err = _main_json(["sample", target, "--assets", "20", "--days", "30"], capsys)
    assert code == 1 and js["status"] == "failed" and js["exit_code"] == 1 and js["files"] == []
    assert target in js["error"] and "cannot write into" in err


def test_quiet_prints_nothing_on_a_successful_run_with_a_skipped_solve(tmp_path):
    """--quiet "prints nothing but errors": a demo whose optimised portfolio is infeasible (50
    assets, max weight 2 %) succeeds, says so in its stage note and report, and printed the
    solver's OptimizationWarning (with its source line) on stderr all the same."""
    r = _run(["demo", "--assets", "50", "--days", "300", "--out", str(tmp_path / "o"), "--quiet"])
    assert r.returncode == 0, r.stderr
    assert r.stdout == "" and r.stderr == "", r.stderr
    loud = _run(["demo", "--assets", "50", "--days", "300", "--out", str(tmp_path / "o"), "--overwrite"])
    assert loud.returncode == 0 and "infeasible" in loud.stderr  # the run does meet the failed solve


def test_a_demo_too_small_for_its_factor_model_is_a_usage_error(tmp_path, capsys):
    """The demo accepted --assets 2 and up, but its factor model has 15 factors (the market, 10
    industries, 4 styles): with 10 assets no date's regression was estimable, and the run failed
    at the portfolios stage (exit 1) after every other stage, advising a later portfolio.date or
    lower settings, which the demo has none of. Too small a demo is a usage error (exit 2,
    nothing written); the smallest accepted one runs."""
    from ferrofactor.cli import main

    out = tmp_path / "o"
    assert main(["demo", "--assets", "10", "--days", "300", "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "--assets must be >= 20 (each date's regression needs more listed assets than the demo model's 15 " \
           "factors" in err and "got --assets 10 --days 300" in err
    assert not out.exists()
    assert main(["demo", "--assets", "20", "--days", "300", "--out", str(out), "--quiet"]) == 0


def test_python_m_and_config_reference(capsys):
    r = subprocess.run([sys.executable, "-m", "ferrofactor", "config"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0
    from ferrofactor.cli import main
    from ferrofactor.config import reference_toml

    assert r.stdout.endswith(reference_toml())
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    help_text = capsys.readouterr().out
    assert all(c in help_text for c in ("run", "demo", "sample", "bench", "config"))


def test_without_matplotlib_and_cvxpy_the_demo_runs_and_says_what_was_skipped(tmp_path):
    """A fresh ``pip install .`` has neither extra: the demo still runs, the report has tables
    only, and both the summary and the report say which sections were skipped and why. (The
    extras are hidden from the import system: ``sys.modules[name] = None`` makes importing them
    fail as on a machine without them.)"""
    code = ("import sys\nfor m in ('matplotlib', 'cvxpy'): sys.modules[m] = None\n"
            "from ferrofactor.cli import main\n"
            f"sys.exit(main(['demo', '--assets', '60', '--days', '300', '--out', {str(tmp_path / 'o')!r}]))\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "skipped: plots" in r.stdout and "matplotlib is not installed" in r.stdout
    assert "skipped: optimized portfolio" in r.stdout and "cvxpy is not installed" in r.stdout
    assert '".[plot]"' in r.stdout and '".[optimize]"' in r.stdout  # the install hints, not eaten as markup
    html = (tmp_path / "o" / "report.html").read_text()
    assert "<img" not in html and 'id="skipped"' in html and "ferrofactor[plot]" in html
    w = pl.read_parquet(tmp_path / "o" / "weights.parquet")
    assert w.columns == ["asset", "market", "quantile"]


def test_bench_quick_prints_ratios_of_agreeing_kernels():
    r = _run(["bench", "--quick", "--json"], timeout=900)
    assert r.returncode == 0, r.stderr[-2000:]
    rows = json.loads(r.stdout)["rows"]
    assert len(rows) == 6
    for row in rows:
        assert row["ferrofactor_s"] > 0 and row["baseline_s"] > 0
        assert row["ratio"] == pytest.approx(row["baseline_s"] / row["ferrofactor_s"])
        # the two implementations agree (the oracle tests hold them to 1e-10 relative; values
        # here are O(1) or smaller)
        assert row["max_abs_diff"] < 1e-8, row


def test_the_summary_table_prints_nan_for_a_test_without_enough_dates():
    # the run summary stores NaN as None (JSON): the printed table says nan, never a traceback
    from types import SimpleNamespace

    from ferrofactor.cli import _summary_rows

    summary = {"bias_test": {"portfolios": 200, "median_bias": None, "share_inside": None},
               "minimum_variance": {"bias": None, "lower": None, "upper": None, "dates": 1},
               "portfolios": {"long_only": {"volatility_annualized": None}}}
    res = SimpleNamespace(summary=lambda: summary, truth=None, skipped=[], wall=1.0, cpu=1.0)
    rows = dict(_summary_rows(res, None))
    assert rows["bias test"] == "200 random portfolios: median bias nan, nan inside the band"
    assert rows["minimum variance"] == "bias nan (band nan..nan) over 1 dates"
    assert rows["portfolios"] == "long_only nan ex-ante vol a year"



def test_the_summary_prints_bracketed_text_literally(tmp_path, capsys):
    """Values are text, not rich markup: ``[optimize]`` in a skipped-section note, or brackets in
    a path, print as they are (rich would take them for style tags and drop them)."""
    from types import SimpleNamespace

    from ferrofactor.cli import _Out, _print_summary, _summary_rows, main

    res = SimpleNamespace(summary=lambda: {}, truth=None, wall=1.0, cpu=1.0,
                          skipped=[("optimized portfolio", 'cvxpy is not installed (pip install ".[optimize]")')])
    _print_summary(_Out(False, False), "ferrofactor [run]", _summary_rows(res, "/tmp/runs[bold]/x"))
    printed = capsys.readouterr().out
    assert 'pip install ".[optimize]"' in printed
    assert "ferrofactor [run]" in printed and "runs[bold]" in printed

    out = tmp_path / "run[plot]"  # a path with brackets, printed by the start line and the summary
    assert main(["demo", "--assets", "60", "--days", "300", "--out", str(out)]) == 0
    cap = capsys.readouterr()
    assert f"report to {out}" in " ".join(cap.err.split())
    assert "run[plot]" in cap.out and (out / "report.html").exists()


def test_demo_help_does_not_mention_a_config(capsys):
    from ferrofactor.cli import main

    with pytest.raises(SystemExit):
        main(["demo", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    # demo has no configuration: its --threads defaults to all cores
    assert "--threads" in text and "all cores" in text and "config's threads" not in text
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    assert "config's threads" in " ".join(capsys.readouterr().out.split())


# ---------------------------------------------------------------------------------------------
# the output directory: a run replaces its own earlier files, never a user's
# ---------------------------------------------------------------------------------------------

MANIFEST = "ferrofactor-manifest.json"


@pytest.fixture(scope="module")
def small_sample(tmp_path_factory):
    d = tmp_path_factory.mktemp("outdir")
    ff.datasets.write_sample(d / "s", n_assets=60, n_days=300, seed=5)
    return d


def _config(d: Path, name: str, extra: str = "") -> Path:
    p = d / name
    p.write_text('[data]\nprices = "s/prices.parquet"\nfundamentals = "s/fundamentals.parquet"\n'
                 'classifications = "s/classifications.parquet"\n'
                 "[portfolio]\noptimize = false\n[report]\nplots = false\n" + extra)
    return p


def _main_json(args, capsys):
    from ferrofactor.cli import main

    code = main(list(args) + ["--json"])
    cap = capsys.readouterr()
    return code, json.loads(cap.out), cap.err


def test_a_second_run_removes_the_first_runs_files_it_does_not_write_again(small_sample, tmp_path, capsys):
    d = small_sample
    out = tmp_path / "o"
    full, no_backtest = _config(d, "full.toml"), _config(d, "nobt.toml", "[backtest]\nenabled = false\n")
    code, s1, _ = _main_json(["run", str(full), "--out", str(out)], capsys)
    assert code == 0
    assert (out / "backtest_value.parquet").is_file() and (out / "alerts.parquet").is_file()
    manifest = json.loads((out / MANIFEST).read_text())
    assert sorted(manifest["files"]) == sorted(os.path.basename(f) for f in s1["files"] if not f.endswith(MANIFEST))
    (out / "notes.txt").write_text("mine")  # the user's own file beside the outputs
    (out / "mine").mkdir()
    code, s2, err = _main_json(["run", str(no_backtest), "--out", str(out)], capsys)
    assert code == 0, err
    for gone in ("backtest_value.parquet", "backtest_returns.parquet", "attribution.parquet", "alerts.parquet"):
        assert not (out / gone).exists(), gone
    assert "removed 4 files of the earlier run" in err
    written = sorted(os.path.basename(f) for f in s2["files"])
    assert sorted(os.listdir(out)) == sorted(written + ["notes.txt", "mine"])
    assert (out / "notes.txt").read_text() == "mine"
    assert sorted(json.loads((out / MANIFEST).read_text())["files"]) == sorted(n for n in written if n != MANIFEST)
    # report.parquet = false: no Parquet file of either earlier run is left
    code, _, _ = _main_json(["run", str(_config(d, "noparquet.toml", "parquet = false\n")), "--out", str(out)],
                             capsys)
    assert code == 0
    assert sorted(os.listdir(out)) == sorted(["report.html", "summary.json", MANIFEST, "notes.txt", "mine"])
    # nothing is left beside the output directory either
    assert sorted(os.listdir(tmp_path)) == ["o"]


def test_output_files_ferrofactor_did_not_write_stop_the_run_unless_overwrite(small_sample, tmp_path, capsys):
    out = tmp_path / "o"
    out.mkdir()
    (out / "weights.parquet").write_text("the user's own weights")
    (out / "notes.txt").write_text("mine")
    cfg = _config(small_sample, "full.toml")
    code, j, err = _main_json(["run", str(cfg), "--out", str(out)], capsys)
    assert code == 2
    assert j["status"] == "usage_error" and j["exit_code"] == 2
    assert "weights.parquet" in err and "--overwrite" in err
    # nothing ran, nothing was written or removed
    assert sorted(os.listdir(out)) == ["notes.txt", "weights.parquet"]
    assert (out / "weights.parquet").read_text() == "the user's own weights"
    # --overwrite: replaced, the other file left alone
    code, j, err = _main_json(["run", str(cfg), "--out", str(out), "--overwrite"], capsys)
    assert code == 0, err
    assert pl.read_parquet(out / "weights.parquet").columns == ["asset", "market", "quantile"]
    assert (out / "notes.txt").read_text() == "mine"
    assert (out / MANIFEST).is_file()


def test_a_folder_of_unrelated_files_is_used_and_left_alone(small_sample, tmp_path, capsys):
    out = tmp_path / "o"
    out.mkdir()
    (out / "data.parquet").write_text("x")
    code, _, err = _main_json(["run", str(_config(small_sample, "full.toml")), "--out", str(out)], capsys)
    assert code == 0, err
    assert (out / "data.parquet").read_text() == "x" and (out / "report.html").is_file()


def test_a_manifest_never_removes_files_outside_the_outputs(small_sample, tmp_path, capsys):
    """Only names of ferrofactor's outputs inside the directory are removed, whatever an (edited
    or foreign) manifest lists."""
    out = tmp_path / "o"
    out.mkdir()
    (tmp_path / "outside.txt").write_text("keep")
    (out / "notes.txt").write_text("keep")
    (out / "report.html").write_text("an earlier report")
    (out / MANIFEST).write_text(json.dumps({"ferrofactor": "0", "files": [
        "../outside.txt", "notes.txt", str(tmp_path / "outside.txt"), "report.html"]}))
    code, _, err = _main_json(["run", str(_config(small_sample, "full.toml")), "--out", str(out)], capsys)
    assert code == 0, err
    assert (tmp_path / "outside.txt").read_text() == "keep" and (out / "notes.txt").read_text() == "keep"
    assert (out / "report.html").read_text() != "an earlier report"


def test_the_demo_reruns_into_its_own_folder(tmp_path, capsys):
    from ferrofactor.cli import main

    out = tmp_path / "demo"
    args = ["demo", "--assets", "80", "--days", "300", "--out", str(out), "--quiet"]
    assert main(args) == 0
    first = sorted(os.listdir(out))
    assert MANIFEST in first
    assert main(args) == 0  # its own earlier output: replaced, no --overwrite needed
    assert sorted(os.listdir(out)) == first


def test_the_help_and_readme_describe_the_output_directory(capsys):
    from ferrofactor import cli, report
    from ferrofactor.cli import main

    assert cli._MANIFEST == report.MANIFEST == MANIFEST

    for cmd in ("run", "demo"):
        with pytest.raises(SystemExit):
            main([cmd, "--help"])
        text = " ".join(capsys.readouterr().out.split())
        assert "--overwrite" in text and MANIFEST in text, cmd
    readme = " ".join((ROOT / "README.md").read_text().split())
    assert MANIFEST in readme and "--overwrite" in readme


# ---------------------------------------------------------------------------------------------
# the load stage: CSV missing-value markers, dates with hardly any prices
# ---------------------------------------------------------------------------------------------


def test_a_csv_with_na_markers_and_a_stray_saturday_row(small_sample, tmp_path, capsys):
    """Prices written by R (missing closes as NA) with one asset's Friday row repeated on the
    Saturday: data.null_values reads the NA as missing, and the load stage's note (on stderr, in
    summary.json and in the report's stages table) names the Saturday, a date priced for one asset,
    where a warning was missing (every other asset loses the Monday return, silently)."""
    prices = pl.read_parquet(small_sample / "s" / "prices.parquet")
    prices = prices.with_columns(pl.when(pl.int_range(pl.len()) % 41 == 0).then(None).otherwise(pl.col("close"))
                                 .alias("close"))
    friday = prices.filter(pl.col("date").dt.weekday() == 5)["date"].unique().sort()[10]
    stray = prices.filter((pl.col("date") == friday) & pl.col("close").is_not_null()).head(1)
    stray = stray.with_columns((pl.col("date") + pl.duration(days=1)).alias("date"))
    saturday = stray["date"][0]
    pl.concat([prices, stray]).sort("date", "asset").write_csv(tmp_path / "prices.csv", null_value="NA")
    cfg = tmp_path / "c.toml"
    cfg.write_text('[data]\nprices = "prices.csv"\nnull_values = ["NA"]\n'
                   f'fundamentals = "{small_sample / "s" / "fundamentals.parquet"}"\n'
                   f'classifications = "{small_sample / "s" / "classifications.parquet"}"\n'
                   "[signal]\nevaluate = false\n[portfolio]\noptimize = false\n[backtest]\nenabled = false\n"
                   "[report]\nplots = false\nparquet = false\n")
    code, j, err = _main_json(["run", str(cfg), "--out", str(tmp_path / "o")], capsys)
    assert code == 0, err
    # the oracle: the library on the same file, and the count by hand
    panel = ff.read_universe(tmp_path / "prices.csv", small_sample / "s" / "fundamentals.parquet",
                             small_sample / "s" / "classifications.parquet", null_values="NA")
    assert np.isnan(panel["close"]).sum() > 0 and j["summary"]["data"]["dates"] == panel.shape[0] == 301
    counts = np.isfinite(panel["close"]).sum(axis=1)
    median = float(np.median(counts))
    assert counts[list(panel.dates).index(np.datetime64(saturday))] == 1 and (counts >= 0.1 * median).sum() == 300
    want = (f"1 date has prices for fewer than 10 % of the median {median:g} assets ({saturday}: 1): a "
            "non-trading day in the data? it splits the returns around it")
    load = j["stages"][0]
    assert load["name"] == "load" and load["note"].endswith("; " + want)
    assert json.loads((tmp_path / "o" / "summary.json").read_text())["stages"][0]["note"] == load["note"]
    rep = read_report(tmp_path / "o" / "report.html")
    assert rep.tables["stages"][1][0][0] == "load" and rep.tables["stages"][1][-1][0] == load["note"]
    # the report's numbers of this run: the share inside the band a percentage, the covered
    # assets an integer
    res = library_run_risk(panel)
    check_share_and_coverage(rep, res["bias"].bias.share_inside,
                             int(np.isfinite(res["risk"].specific_variance[-1]).sum()))


def test_a_study_ending_at_c_does_not_depend_on_assets_listed_after_c(small_sample, tmp_path, capsys):
    """data.end = c: an asset that first trades after c is left out of the study (its load note
    says so). Kept, it shifted the random portfolios of the bias test, whose numbers then
    depended on assets listed after the study's end (0.852 against 0.884 for a portfolio)."""
    prices = pl.read_parquet(small_sample / "s" / "prices.parquet")
    dates = prices["date"].unique().sort()
    c = dates[200]
    later = prices.filter((pl.col("asset") == prices["asset"][0]) & (pl.col("date") > c)).with_columns(
        pl.lit("Z99999").alias("asset"))
    pl.concat([prices, later]).write_parquet(tmp_path / "px_later.parquet")
    runs = {}
    for name, px in (("base", small_sample / "s" / "prices.parquet"), ("later", tmp_path / "px_later.parquet")):
        cfg = tmp_path / f"{name}.toml"
        cfg.write_text(f'[data]\nprices = "{px}"\nend = "{c}"\n'
                       f'fundamentals = "{small_sample / "s" / "fundamentals.parquet"}"\n'
                       f'classifications = "{small_sample / "s" / "classifications.parquet"}"\n'
                       "[signal]\nevaluate = false\n[portfolio]\noptimize = false\n[backtest]\nenabled = false\n"
                       "[report]\nplots = false\n")
        code, j, err = _main_json(["run", str(cfg), "--out", str(tmp_path / name)], capsys)
        assert code == 0, err
        runs[name] = j
    assert pl.read_parquet(tmp_path / "later" / "bias_test.parquet").equals(
        pl.read_parquet(tmp_path / "base" / "bias_test.parquet"))
    s0, s1 = runs["base"]["summary"], runs["later"]["summary"]
    assert s1["data"]["assets"] == s0["data"]["assets"] and s1["bias_test"] == s0["bias_test"]
    left = [int(re.search(r"; (\d+) assets without a price between data.start and data.end left out",
                          runs[k]["stages"][0]["note"]).group(1)) for k in ("base", "later")]
    assert left[1] == left[0] + 1  # the sample's own late listings, and Z99999


def test_portfolio_percentile_labels_positions_and_an_empty_selection(small_sample, tmp_path, capsys):
    """portfolio.percentile = 0.125 is labelled 12.5 % (not 12 %); the optimised book counts its
    positions above 1e-6 (the solver leaves up to ~1e-7 on the assets it does not hold: 51 were
    counted for 20 held); a percentile that selects no asset is said in the portfolios stage's note,
    naming the key (the quantile book was left out without a word)."""
    base = ('[data]\nprices = "s/prices.parquet"\nfundamentals = "s/fundamentals.parquet"\n'
            'classifications = "s/classifications.parquet"\n[signal]\nevaluate = false\n'
            "[backtest]\nenabled = false\n[report]\nplots = false\n")
    cfg = small_sample / "pct.toml"
    cfg.write_text(base + "[portfolio]\npercentile = 0.125\nmax_weight = 0.5\n")
    code, j, err = _main_json(["run", str(cfg), "--out", str(tmp_path / "o")], capsys)
    assert code == 0, err
    html_text = (tmp_path / "o" / "report.html").read_text()
    assert "on the bottom 12.5% of the signal" in html_text and "12% of" not in html_text
    from ferrofactor.constants import POSITION_TOL

    assert POSITION_TOL == 1e-6
    weights = pl.read_parquet(tmp_path / "o" / "weights.parquet")["optimized"].to_numpy()
    held = int(np.sum(np.abs(weights) > 1e-6))
    assert j["summary"]["portfolios"]["optimized"]["positions"] == held < len(weights)
    assert np.abs(weights[np.abs(weights) <= 1e-6]).sum() < 1e-4  # the rest is solver residue
    cfg.write_text(base + "[portfolio]\npercentile = 0.001\nmax_weight = 0.5\n")
    code, j, err = _main_json(["run", str(cfg), "--out", str(tmp_path / "p")], capsys)
    assert code == 0, err
    assert "quantile" not in j["summary"]["portfolios"]
    note = next(s["note"] for s in j["stages"] if s["name"] == "portfolios")
    assert re.search(r"; quantile portfolio skipped: portfolio\.percentile = 0\.001 selects no asset: "
                     r"floor\(\d+ × 0\.001\) = 0 of the \d+ assets with a signal on \d{4}-\d\d-\d\d "
                     r"\(at least [0-9.]+ selects one\)", note), note


def library_run_risk(panel):
    """The risk model and its bias test with the documented defaults (the part of
    :func:`library_run` the report's risk section shows)."""
    ex = ff.Exposures.from_panel(panel)
    res = ff.FactorModel(lag=1, weights="sqrt_cap", industry_constraint="cap").fit(panel, ex)
    risk = ff.RiskModel().fit(res)
    T, N = panel.shape
    burn = 252 if 252 < T - 1 else T // 2
    ports = np.random.default_rng(0).random((100, N))
    return {"risk": risk, "bias": ff.evaluate.bias_test(risk, panel, ports, dates=np.arange(burn, T - 1))}


def test_a_bias_test_with_no_forecast_prints_no_numpy_warning(small_sample, tmp_path, capsys):
    """Factor variances known only from the last date (risk.min_periods = the shortest factor
    history): every bias-test date lacks a forecast. The run completes, says so in its note, and
    numpy's "All-NaN slice encountered" RuntimeWarning (np.nanmedian in the note, the JSON summary
    and the report: four warnings printed even with --quiet) no longer reaches the terminal."""
    import warnings

    cfg = _config(small_sample, "nobias.toml", "[exposures]\nwindow = 20\n"
                  "styles.value = { book_to_market = 1.0 }\nstyles.low_vol = { volatility = -1.0 }\n"
                  "[risk]\nmin_periods = 283\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        code, j, err = _main_json(["run", str(cfg), "--out", str(tmp_path / "o")], capsys)
    assert code == 0, err
    notes = {s["name"]: s["note"] for s in j["stages"]}
    assert notes["risk validation"].startswith("bias test: no forecast to test")
    assert j["summary"]["bias_test"]["median_bias"] is None
    bias = {row[0][0]: row[1] for row in read_report(tmp_path / "o" / "report.html").tables["bias-test"]}
    assert bias["Median bias"][1] == "nan"


@pytest.mark.parametrize("day", ["1990-01-02", "2030-01-02", "weekend"])
def test_a_portfolio_date_outside_the_study_fails_the_load_stage(small_sample, tmp_path, capsys, day):
    """A portfolio.date that is not a date of the data (before the first price, after the last,
    a day without prices inside them) was found by the portfolios stage, after the exposures, the
    factor and risk models, the risk validation and the signal had run (minutes on a full
    universe); the configuration's note promised it "found when the data are loaded". The load
    stage refuses it now, naming the setting, before any model is fitted."""
    dates = pl.read_parquet(small_sample / "s" / "prices.parquet")["date"].unique().sort()
    if day == "weekend":
        known = set(dates.to_list())
        day = next(str(d) for d in pl.date_range(dates[0], dates[-1], eager=True).to_list() if d not in known)
    cfg = _config(small_sample, "pdate.toml", "[validation]\nportfolios = 0\n")
    cfg.write_text(cfg.read_text().replace("[portfolio]\n", f'[portfolio]\ndate = "{day}"\n'))
    code, j, _ = _main_json(["run", str(cfg), "--out", str(tmp_path / "o")], capsys)
    assert code == 1
    assert j["error"].startswith(f"load: ValueError: portfolio.date {day} is not among the 300 dates")
    assert j["error"].endswith("(portfolio.date must be a date of the study)")
    assert [(s["name"], s["status"]) for s in j["stages"]] == [("load", "failed")]
    assert not (tmp_path / "o").exists()


def test_a_portfolio_date_the_risk_model_does_not_cover_says_why(small_sample, tmp_path, capsys):
    """A study shorter than the risk model's warm-up (here risk.min_periods = 299 factor returns in
    300 dates: the styles, which start later, have none) failed with "the risk model covers 0
    assets ...: no portfolio can be formed" alone; the message names the factors without a
    variance and the setting that decides it."""
    cfg = _config(small_sample, "short.toml", "[risk]\nmin_periods = 299\n")
    code, j, err = _main_json(["run", str(cfg), "--out", str(tmp_path / "o")], capsys)
    assert code == 1 and j["error"].startswith("portfolios: ValueError: the risk model covers 0 assets")
    assert "no variance yet for 15 factors ['market', 'Communication Services', 'Consumer Discretionary', " \
           "'Consumer Staples', 'Energy'] and 10 more (fewer than risk.min_periods = 299 factor returns so far)" \
           in j["error"]
    assert "needs more history before portfolio.date" in err


def test_sparse_dates_are_not_reported_for_ordinary_data(small_sample):
    from ferrofactor.pipeline import sparse_dates_note

    panel = ff.datasets.load_sample(small_sample / "s")
    assert sparse_dates_note(panel, "close") == ""


def test_sample_suggests_a_next_command_that_reads_the_files_it_wrote(tmp_path, capsys):
    # `ferrofactor sample DIR` told every DIR to run examples/config.toml next, which reads
    # examples/sample/*.parquet (paths relative to the config): after `ferrofactor sample sample`
    # (the README's Dask section) that command stopped with "no file matches" (exit 2).
    from ferrofactor.cli import main

    def next_line(d):
        assert main(["sample", str(d), "--assets", "20", "--days", "30"]) == 0
        return " ".join(re.sub(r"[│┃┌┐└┘├┤┬┴┼─━]", " ", capsys.readouterr().out).split())

    text = next_line(tmp_path / "sample")
    assert "ferrofactor run examples/config.toml (its" not in text
    assert "ferrofactor run CONFIG.toml, its [data] paths naming these files" in text
    text = next_line(tmp_path / "examples" / "sample")  # where examples/config.toml reads
    assert "ferrofactor run examples/config.toml (its data section names sample/*.parquet)" in text


def test_run_threads_0_overrides_the_configs_threads(small_sample, tmp_path, capsys, monkeypatch):
    # --threads 0 (rayon's default: RAYON_NUM_THREADS, else all cores) was taken for "not given"
    # and the config's `threads` was used instead: a config with threads = 1 could not be run on
    # all cores from the command line.
    cfg = _config(small_sample, "one_thread.toml")
    cfg.write_text("threads = 1\n" + cfg.read_text())
    monkeypatch.setenv("RAYON_NUM_THREADS", "3")
    try:
        code, _, err = _main_json(["run", str(cfg), "--out", str(tmp_path / "o"), "--threads", "0"], capsys)
        assert code == 0
        assert "run: 3 threads" in err
        code, _, err = _main_json(["run", str(cfg), "--out", str(tmp_path / "o")], capsys)
        assert code == 0 and "run: 1 threads" in err  # without --threads: the config's
    finally:
        monkeypatch.undo()
        ff.set_num_threads(0)


def test_sample_never_replaces_files_in_dir_without_overwrite(tmp_path, capsys):
    """`ferrofactor sample DIR` overwrote DIR/prices.parquet (and the three others) without a
    word: pointed at a folder of one's own data it destroyed it, where run and demo refuse to
    replace files they did not write unless --overwrite."""
    from ferrofactor.cli import main

    d = tmp_path / "data"
    d.mkdir()
    (d / "prices.parquet").write_bytes(b"my own prices")
    (d / "notes.txt").write_text("kept")
    assert main(["sample", str(d), "--assets", "5", "--days", "10"]) == 2
    err = capsys.readouterr().err
    assert "holds prices.parquet: the sample would replace it. Nothing was written." in " ".join(err.split())
    assert (d / "prices.parquet").read_bytes() == b"my own prices"
    assert sorted(p.name for p in d.iterdir()) == ["notes.txt", "prices.parquet"]
    assert main(["sample", str(d), "--assets", "5", "--days", "10", "--json"]) == 2
    j = json.loads(capsys.readouterr().out)
    assert j["status"] == "usage_error" and j["exit_code"] == 2 and j["error"].startswith(f"{str(d)!r} holds prices.parquet")
    # --overwrite replaces the four sample files, and only them; a new directory needs nothing
    assert main(["sample", str(d), "--assets", "5", "--days", "10", "--overwrite", "--quiet"]) == 0
    assert ff.read_universe(str(d / "prices.parquet")).shape[1] == 5 and (d / "notes.txt").read_text() == "kept"
    assert main(["sample", str(tmp_path / "new"), "--assets", "5", "--days", "10", "--quiet"]) == 0
