"""The HTML report read as a reader and as a script would: every setting shown in words (an unset
option says what it means, never ``None`` or a Python repr), every element id unique (the table
ids are the keys scripts read, the section ids the navigation's anchors).

Small in-process runs of the pipeline (``run_pipeline`` + ``render_html``) and the shared demo run
of the console script (``conftest.demo_run``)."""

from __future__ import annotations

import re
from collections import Counter
from html.parser import HTMLParser

import ferrofactor as ff
import numpy as np
import polars as pl
import pytest
from ferrofactor import config as C
from ferrofactor.config import default_config
from ferrofactor.pipeline import run_pipeline
from ferrofactor.report import render_html


class _Page(HTMLParser):
    """Every id, every nav href, every key/value row of the ``<table id=...>`` tables (first cell →
    (text, data-value)), the text of every table cell and the text of the ``<pre>`` block."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: list[str] = []
        self.hrefs: list[str] = []
        self.sections: list[str] = []
        self.kv: dict[str, dict[str, tuple[str, str | None]]] = {}
        self.cells: list[str] = []
        self.pre = ""
        self._tid: str | None = None
        self._row: list[tuple[str, str | None]] | None = None
        self._cell: list | None = None
        self._in_pre = False
        self._in_nav = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.append(a["id"])
        if tag == "section":
            self.sections.append(a.get("id"))
        elif tag == "nav":
            self._in_nav = True
        elif tag == "a" and self._in_nav:
            self.hrefs.append(a.get("href"))
        elif tag == "table":
            self._tid = a.get("id")
            if self._tid:
                self.kv[self._tid] = {}
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = ["", a.get("data-value")]
        elif tag == "pre":
            self._in_pre = True

    def handle_data(self, data):
        if self._cell is not None:
            self._cell[0] += data
        if self._in_pre:
            self.pre += data

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append((self._cell[0], self._cell[1]))
            if tag == "td":
                self.cells.append(self._cell[0])
            self._cell = None
        elif tag == "tr" and self._row is not None:
            if self._tid and len(self._row) == 2:
                self.kv[self._tid][self._row[0][0]] = self._row[1]
            self._row = None
        elif tag == "table":
            self._tid = None
        elif tag == "pre":
            self._in_pre = False
        elif tag == "nav":
            self._in_nav = False


def parse(text: str) -> _Page:
    p = _Page()
    p.feed(text)
    return p


def _run(**overrides):
    cfg = default_config(**{"report": {"plots": False}, **overrides})
    res = run_pipeline(cfg, source="synthetic universe (test)",
                       synthetic=lambda: ff.datasets.synthetic_universe(n_assets=60, n_days=300, seed=1))
    text, _ = render_html(res, command="ferrofactor test")
    return res, text


@pytest.fixture(scope="module")
def unset_run():
    """The defaults (vra_half_life and winsorize_returns unset), without a market factor (no
    industry constraint then), the backtest and its alerts on, no optimiser (fast)."""
    return _run(model={"market": False}, portfolio={"optimize": False})


# the words of a Python repr that a reader should never see in the report
_REPRS = re.compile(r"^(None|True|False|\(.*\)|\{.*\})$")


def test_unset_settings_say_what_they_mean(unset_run):
    _, text = unset_run
    page = parse(text)
    risk = page.kv["risk-settings"]
    assert risk["vra_half_life"][0] == C.SCHEMA["risk"]["vra_half_life"].unset
    assert risk["vra_half_life"][0].startswith("off")
    # a setting with a value keeps its exact number in data-value
    assert risk["vol_half_life"] == ("84", "84.0")
    assert risk["newey_west_lags"][0] == "[5, 2]"  # as written in the configuration, not a tuple
    model = page.kv["model-header"]
    assert model["Industry constraint"][0].startswith("none") and "market" in model["Industry constraint"][0]
    assert model["Return winsorisation"][0] == C.SCHEMA["model"]["winsorize_returns"].unset
    # the configuration block lists the unset settings too, each saying what it means
    assert re.search(r"^# vra_half_life \(not set\): off", page.pre, re.MULTILINE), page.pre
    assert re.search(r"^# winsorize_returns \(not set\): off", page.pre, re.MULTILINE)
    assert re.search(r"^# date \(not set\): the last date", page.pre, re.MULTILINE)


def test_no_table_cell_shows_none_or_a_python_repr(unset_run):
    _, text = unset_run
    page = parse(text)
    bad = [c for c in page.cells if _REPRS.match(c.strip())]
    assert bad == []
    assert not re.search(r"\bNone\b", page.pre)
    # a boolean reads as a word
    assert page.kv["minimum-variance"]["Inside"][0] in ("yes", "no")


def test_a_share_reads_as_a_percentage_and_a_count_as_an_integer(unset_run):
    """The bias test's share of portfolios inside the band is a percentage (it read "0" or "1");
    the assets the specific risk covers are an integer beside the other counts (they read
    "2366.0000", a row of the table of specific volatilities)."""
    res, text = unset_run
    page = parse(text)
    share = float(res.bias_test.bias.share_inside)
    assert page.kv["bias-test"]["Share inside the band"] == (f"{share:.2%}", repr(share))
    n = int(np.isfinite(res.risk.specific_variance[-1]).sum())
    assert 0 < n <= 60
    assert page.kv["risk-settings"]["Covered assets"] == (str(n), str(n))
    assert list(page.kv["specific-risk"]) == ["statistic", "p05", "p25", "median", "p75", "p95"]
    assert f"on {res.risk.dates[-1]}, {n} covered assets</caption>" in text


def test_set_settings_show_their_value():
    _, text = _run(risk={"vra_half_life": 42.0}, model={"winsorize_returns": 8.0},
                   portfolio={"optimize": False}, backtest={"enabled": False})
    page = parse(text)
    assert page.kv["risk-settings"]["vra_half_life"] == ("42", "42.0")
    assert page.kv["model-header"]["Return winsorisation"] == ("8", "8.0")
    assert page.kv["model-header"]["Industry constraint"][0] == "cap"
    assert "vra_half_life = 42.0" in page.pre and "(not set)" not in page.pre.split("[risk]")[1].split("[")[0]


def test_every_optional_setting_says_what_unset_means():
    for section, settings in C.SCHEMA.items():
        for key, s in settings.items():
            if s.optional or s.required or C._default(s) is None:
                assert s.unset, f"{section}.{key}: no text for 'not set'"


# ---------------------------------------------------------------------------------------------
# ids
# ---------------------------------------------------------------------------------------------


def _check_ids(text: str) -> _Page:
    page = parse(text)
    dup = sorted(k for k, n in Counter(page.ids).items() if n > 1)
    assert dup == [], f"duplicate ids in the report: {dup}"
    # every navigation link points at a section of the page
    assert page.hrefs == [f"#{s}" for s in page.sections]
    return page


def test_every_id_is_unique_in_a_small_report(unset_run):
    page = _check_ids(unset_run[1])
    # the tables scripts read keep their ids
    assert {"portfolios", "alerts", "alerts-count", "backtest-performance", "risk-settings"} <= set(page.kv)


def test_every_id_is_unique_in_the_demo_report(demo_run):
    assert demo_run.proc.returncode == 0, demo_run.proc.stderr[-3000:]
    page = _check_ids((demo_run.out / "report.html").read_text(encoding="utf-8"))
    assert page.sections == ["data", "factor-returns", "risk", "signal", "portfolios-section", "backtest",
                             "alerts-section", "run"]
    # the public table keys are unchanged
    assert {"portfolios", "alerts", "opt-optimized", "risk-optimized", "holdings-optimized"} <= set(page.kv)


@pytest.mark.parametrize("lag, words", [(1, "exposures (known at the previous close)"),
                                        (2, "exposures (known 2 closes before, model.lag)"),
                                        (0, "exposures (of the same close: model.lag = 0)")])
def test_the_attribution_note_says_the_model_lag_it_uses(lag, words):
    """ferrofactor.attribute explains the return of t with the exposures of t − model.lag; the
    note said "known at the previous close" whatever the lag (a look-ahead of lag 0 included)."""
    res, text = _run(model={"lag": lag}, portfolio={"optimize": False},
                     validation={"portfolios": 0, "minimum_variance": False}, signal={"evaluate": False})
    assert res.attribution.lag == res.model.model.lag == lag
    note = re.search(r"<p class=\"note\">Its net return of each date split into (exposures \([^)]*\))", text)
    assert note is not None and note.group(1) == words


def test_the_specific_risk_table_says_its_date(unset_run):
    """Its caption read "Specific risk (annualised) at the date shown, N covered assets": the
    risk summary's words for a header the report does not show, so no date was given."""
    res, text = unset_run
    last = str(res.risk.dates[-1])
    caption = re.search(r'<table id="specific-risk"><caption>([^<]*)</caption>', text).group(1)
    n = int(res.risk.covered(len(res.risk.dates) - 1).sum())
    assert caption == f"Specific risk (annualised) on {last}, {n} covered assets"
    assert "the date shown" not in text


def test_every_dated_parquet_output_has_a_date_column(unset_run):
    """risk_decomposition wrote its portfolio date as text ('2016-02-05') where every other output
    has a Date column: joined with factor_returns or exposures on date it matched nothing (Polars
    refused the join, pandas' merge too)."""
    from ferrofactor.report import outputs

    res, _ = unset_run
    frames = outputs(res)
    for name, f in frames.items():
        if "date" in f.columns:
            assert f["date"].dtype == pl.Date, name
    dec = frames["risk_decomposition"]
    day = res.risk.dates[res.portfolio_date]
    assert dec["date"].unique().to_list() == [day.astype(object)]
    joined = dec.join(frames["factor_returns"].select("date"), on="date", how="inner")
    assert joined.height == dec.height
