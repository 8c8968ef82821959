"""``data.delistings`` of ``ferrofactor run``: point-in-time delisting dates (and returns) from a
file, passed to ``ff.backtest_many(delistings=..., delisting_returns=...)``.

The oracle is ``ff.backtest_many`` called directly on the run's panel and signal with the mapping
written here by hand (not the pipeline's reading of the file). A small sample (40 assets × 300
dates) in which asset ``X`` stops trading after row ``K`` (listed as delisted on the Saturday
after, with a delisting return of −0.5) and asset ``Y`` is suspended over rows ``K+11..K+30``
(its prices come back; it is not listed)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import ferrofactor as ff
from ferrofactor import config as C
from ferrofactor.cli import main
from ferrofactor.pipeline import StageError, backtest_strategies, run_pipeline

K = 200  # X's last price is on row K; rows K and K+1 are a Friday and a Monday
FAST = ("[validation]\nportfolios = 0\nminimum_variance = false\n[signal]\nevaluate = false\n"
        "[portfolio]\noptimize = false\n[report]\nplots = false\n")


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    d = tmp_path_factory.mktemp("delistings")
    paths = ff.datasets.write_sample(d / "s", n_assets=40, n_days=300, seed=5)
    prices = pl.read_parquet(paths["prices"])
    dates = np.unique(prices["date"].to_numpy()).astype("datetime64[D]")
    truth = pl.read_parquet(paths["delistings"])  # the sample's own delistings (point 4)
    last = prices["date"].max()
    to_end = sorted(set(prices.filter(pl.col("date") == last)["asset"].to_list()) - set(truth["asset"].to_list()))
    X, Y = to_end[0], to_end[1]
    assert (dates[K + 1] - dates[K]).astype(int) == 3  # Friday → Monday: the Saturday between is no trading date
    px = prices.filter(~((pl.col("asset") == X) & (pl.col("date") > dates[K]))).with_columns(
        pl.when((pl.col("asset") == Y) & (pl.col("date") > dates[K + 10]) & (pl.col("date") <= dates[K + 30]))
        .then(None).otherwise(pl.col("close")).alias("close"))
    px.write_parquet(d / "px.parquet")
    saturday = (dates[K] + np.timedelta64(1, "D")).item()
    rows = truth.with_columns(pl.lit(None, pl.Float64).alias("delisting_return"))
    listed = pl.concat([rows, pl.DataFrame({"asset": [X], "delisting_date": [saturday], "delisting_return": [-0.5]},
                                           schema=rows.schema)])
    listed.write_parquet(d / "dl.parquet")
    # the mapping the backtest is called with directly: ISO dates as written in the file
    mapping = {a: str(t) for a, t in zip(listed["asset"].to_list(), listed["delisting_date"].to_list())}
    return {"d": d, "dates": dates, "X": X, "Y": Y, "listed": listed, "truth": truth, "mapping": mapping}


def _toml(extra_data: str = "", extra: str = "") -> str:
    return ('[data]\nprices = "px.parquet"\nfundamentals = "s/fundamentals.parquet"\n'
            'classifications = "s/classifications.parquet"\n' + extra_data + FAST + extra)


def _run(d: Path, extra_data: str = "", name: str = "c.toml"):
    (d / name).write_text(_toml(extra_data))
    return run_pipeline(C.load_config(d / name))


WITH_FILE = 'delistings = "dl.parquet"\ndelisting_return = "delisting_return"\n'


def _direct(res, **kw):
    """ff.backtest_many on the run's panel and signal, with the pipeline's books and settings."""
    b = res.config["backtest"]
    return ff.backtest_many(res.panel, backtest_strategies(res.signal, res.panel["market_cap"],
                                                            res.config["portfolio"]["percentile"]),
                            rebalance=b["rebalance"], cost_bps=b["cost_bps"], **kw)


@pytest.fixture(scope="module")
def runs(sample):
    d = sample["d"]
    return {"listed": _run(d, WITH_FILE, "listed.toml"), "inferred": _run(d, "", "inferred.toml")}


# ---------------------------------------------------------------------------------------------
# (a) the books are those of ff.backtest_many with the listed delistings
# ---------------------------------------------------------------------------------------------


def test_the_books_equal_backtest_many_with_the_listed_delistings(sample, runs):
    res, X = runs["listed"], sample["X"]
    want = _direct(res, delistings=sample["mapping"], delisting_returns={X: -0.5})
    assert res.backtest.books == want.books == ["market", "top", "quantile"]
    for series in ("value", "returns", "costs", "turnover"):
        assert np.array_equal(getattr(res.backtest, series), getattr(want, series), equal_nan=True), series
    for name in want.books:
        assert np.array_equal(res.backtest[name].delisted, want[name].delisted)
    # what the pipeline read from the file: the dates as days, the returns (null = 0)
    assert res.delistings[X] == np.datetime64(sample["dates"][K] + 1, "D")
    assert res.delisting_returns[X] == -0.5
    assert all(v == 0.0 for a, v in res.delisting_returns.items() if a != X)
    # without the file the delistings are inferred: the same as backtest_many without delistings=
    inf = runs["inferred"]
    assert inf.delistings is None
    assert np.array_equal(inf.backtest.value, _direct(inf).value)
    # on the whole data the inference finds the listed dates (Y's prices come back; X's stop before
    # the listed date): only the delisting return differs here (the cut data differ: see below)
    assert np.array_equal(inf.backtest.value, _direct(inf, delistings=sample["mapping"]).value)


def test_the_delisting_is_paid_out_on_the_listed_date_with_its_return(sample, runs):
    exp, inf = runs["listed"], runs["inferred"]
    np.testing.assert_array_equal(exp.signal, inf.signal)  # the same data up to the backtest
    # X: last price on K, listed as delisted on the Saturday after → paid out on row K+1 (the Monday),
    # as the inference does, but at half its last value (delisting return −0.5)
    m_exp, m_inf = exp.backtest["market"], inf.backtest["market"]
    assert np.array_equal(exp.backtest.value[:K + 1], inf.backtest.value[:K + 1])
    assert m_inf.delisted[K + 1] > 0
    assert m_exp.delisted[K + 1] == 0.5 * m_inf.delisted[K + 1]
    assert m_exp.value[K + 1] == pytest.approx(m_inf.value[K + 1] - 0.5 * m_inf.delisted[K + 1], rel=1e-14)
    first_diff = np.flatnonzero((exp.backtest.value != inf.backtest.value).any(axis=1))[0]
    assert first_diff == K + 1


def test_the_attribution_of_a_book_earns_the_delisting_return(sample, runs):
    """The attribution's total is the book's net return on every date, the delisting return
    included: X, held by the market book, is paid out on K+1 at half its last value (δ = −0.5).
    X still has exposures (known at K): δ is its return on K+1, split as for any covered asset
    into factors and specific; against a 0 return (a suspension), only the specific line moves."""
    res = runs["listed"]
    x = list(res.panel.assets).index(sample["X"])
    for name in res.backtest.books:
        book = res.backtest[name]
        att = book.attribute(res.model)
        np.testing.assert_allclose(att.total, book.returns, rtol=0, atol=1e-14, err_msg=name)
    m = res.backtest["market"]
    held = m.weights_after[K, x]
    assert held > 0 and m.delisted[K + 1] > 0
    att = m.attribute(res.model)
    w = np.zeros(m.weights_after.shape)
    w[1:] = m.weights_after[:-1]
    r = np.where((w != 0) & ~np.isfinite(res.panel["returns"]), 0.0, res.panel["returns"])
    zero = ff.attribute(w, res.model, returns=r, costs=m.costs / np.r_[m.initial_value, m.value[:-1]])
    assert att.specific[K + 1] - zero.specific[K + 1] == pytest.approx(-0.5 * held, rel=1e-9)
    np.testing.assert_array_equal(att.contributions, zero.contributions)
    np.testing.assert_array_equal(att.unexplained, zero.unexplained)
    # the pipeline's attribution (of the quantile book) is the same function's
    q = res.attribution
    np.testing.assert_allclose(q.total, res.backtest["quantile"].returns, rtol=0, atol=1e-14)


def test_listed_delistings_are_point_in_time_and_inferred_ones_are_not(sample, runs):
    """Y is suspended over K+11..K+30 and trades again. Cut at K+20 (Y suspended at the end of the
    data): with the file, Y is held as suspended and the books equal the full run's up to the cut;
    inferred, Y is taken for delisted on K+11 (the cut data cannot tell) and the books differ."""
    d, e = sample["d"], str(sample["dates"][K + 20])
    n = K + 21
    cut = _run(d, WITH_FILE + f'end = "{e}"\n', "listed_cut.toml")
    assert np.array_equal(cut.backtest.value, runs["listed"].backtest.value[:n])
    cut_inf = _run(d, f'end = "{e}"\n', "inferred_cut.toml")
    assert not np.array_equal(cut_inf.backtest.value, runs["inferred"].backtest.value[:n])
    y = list(cut_inf.panel.assets).index(sample["Y"])
    assert np.all(np.isnan(cut_inf.panel["returns"][K + 11:, y]))


def test_a_csv_file_with_a_date_format_reads_the_same(sample, runs):
    d = sample["d"]
    sample["listed"].with_columns(pl.col("delisting_date").dt.strftime("%m/%d/%Y")).write_csv(d / "dl.csv")
    res = _run(d, 'delistings = "dl.csv"\ndelisting_return = "delisting_return"\ndate_format = "%m/%d/%Y"\n',
               "csv.toml")
    assert res.delistings == runs["listed"].delistings
    assert np.array_equal(res.backtest.value, runs["listed"].backtest.value)


def test_an_sql_query_reads_the_same(sample, runs):
    import sqlite3

    d = sample["d"]
    con = sqlite3.connect(d / "u.db")
    for name, df in (("prices", pl.read_parquet(d / "px.parquet")), ("delistings", sample["listed"]),
                     ("fundamentals", pl.read_parquet(d / "s" / "fundamentals.parquet")),
                     ("classifications", pl.read_parquet(d / "s" / "classifications.parquet"))):
        df = df.with_columns([pl.col(c).cast(pl.String) for c, t in df.schema.items() if t == pl.Date])
        con.execute(f"CREATE TABLE {name} ({', '.join(df.columns)})")
        con.executemany(f"INSERT INTO {name} VALUES ({', '.join('?' * df.width)})", df.rows())
    con.commit()
    con.close()
    (d / "sql.toml").write_text(
        '[data]\nconnection = "sqlite:///u.db"\nprices = "SELECT date, asset, close, volume, shares FROM prices"\n'
        'fundamentals = "SELECT * FROM fundamentals"\nclassifications = "SELECT * FROM classifications"\n'
        'delistings = "SELECT asset, delisting_date, delisting_return FROM delistings"\n'
        'delisting_return = "delisting_return"\n' + FAST)
    res = run_pipeline(C.load_config(d / "sql.toml"))
    assert res.delistings == runs["listed"].delistings
    assert res.delisting_returns == runs["listed"].delisting_returns
    assert np.array_equal(res.backtest.value, runs["listed"].backtest.value)


def test_assets_without_prices_are_ignored_with_a_note(sample, runs):
    d = sample["d"]
    extra = pl.DataFrame({"asset": ["NOT_AN_ASSET"], "delisting_date": [sample["dates"][10].item()],
                          "delisting_return": [None]}, schema=sample["listed"].schema)
    pl.concat([sample["listed"], extra]).write_parquet(d / "dl_extra.parquet")
    res = _run(d, 'delistings = "dl_extra.parquet"\ndelisting_return = "delisting_return"\n', "extra.toml")
    assert "NOT_AN_ASSET" not in res.delistings
    assert np.array_equal(res.backtest.value, runs["listed"].backtest.value)
    load = res.stages[0]
    assert load.name == "load"
    n = sample["listed"].height
    assert load.note.endswith(f"; {n} delistings (1 rows of assets not in the prices ignored)"), load.note


# ---------------------------------------------------------------------------------------------
# (b) validation: every error names the setting
# ---------------------------------------------------------------------------------------------


def _errors(d: Path, extra_data: str) -> list[str]:
    (d / "bad.toml").write_text(_toml(extra_data))
    with pytest.raises(C.ConfigError) as e:
        C.load_config(d / "bad.toml")
    return e.value.errors


def test_missing_columns_are_configuration_errors_naming_the_setting(sample, capsys):
    d = sample["d"]
    sample["listed"].rename({"delisting_date": "date"}).write_parquet(d / "dl_nodate.parquet")
    e = _errors(d, 'delistings = "dl_nodate.parquet"\n')
    assert e == [("data.delisting_date: column 'delisting_date' is not in data.delistings (columns: asset, date, "
                  "delisting_return); did you mean 'delisting_return'?")]
    # the setting names the column
    assert C.load_config(_write(d, _toml('delistings = "dl_nodate.parquet"\ndelisting_date = "date"\n')))
    e = _errors(d, 'delistings = "dl.parquet"\ndelisting_return = "dlret"\n')
    assert e == [("data.delisting_return: column 'dlret' is not in data.delistings (columns: asset, "
                  "delisting_date, delisting_return)")]
    e = _errors(d, 'delistings = "nope.parquet"\n')
    assert e == [f"data.delistings: no file matches {str(d / 'nope.parquet')!r}"]
    e = _errors(d, 'delisting_return = "delisting_return"\n')
    assert e == ["data.delisting_return: the column 'delisting_return' is read from data.delistings, which is not set"]
    # the command: exit 2, every error listed, nothing written
    code = main(["run", str(_write(d, _toml('delistings = "dl_nodate.parquet"\n'))), "--out", str(d / "o2"), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 2 and out["status"] == "config_error"
    assert out["errors"][0].startswith("data.delisting_date: column 'delisting_date' is not in data.delistings")
    assert not (d / "o2").exists()


def _write(d: Path, text: str, name: str = "w.toml") -> Path:
    (d / name).write_text(text)
    return d / name


def _load_error(d: Path, frame: pl.DataFrame, capsys, extra: str = "") -> str:
    """The run fails in the load stage, exit 1, before any model; returns the message."""
    frame.write_parquet(d / "dl_bad.parquet")
    cfg = C.load_config(_write(d, _toml('delistings = "dl_bad.parquet"\n' + extra)))
    with pytest.raises(StageError) as e:
        run_pipeline(cfg)
    assert e.value.stage == "load"
    code = main(["run", str(d / "w.toml"), "--out", str(d / "o1"), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 1 and out["status"] == "failed" and out["error"].startswith("load: ")
    assert [s["name"] for s in out["stages"]] in (["load"], [])
    assert not (d / "o1").exists()
    return str(e.value)


def test_duplicate_assets_are_refused(sample, capsys):
    listed, X = sample["listed"], sample["X"]
    msg = _load_error(sample["d"], pl.concat([listed, listed.filter(pl.col("asset") == X)]), capsys)
    assert msg == (f"load: ValueError: data.delistings: column 'asset': 1 assets appear on more than one row, e.g. "
                   f"['{X}']; an asset is delisted once: keep one row per delisted asset")


def test_dates_are_parsed_strictly(sample, capsys):
    d, listed = sample["d"], sample["listed"]
    us = listed.with_columns(pl.col("delisting_date").dt.strftime("%m/%d/%Y"))
    msg = _load_error(d, us, capsys)
    assert msg.startswith("load: ValueError: data.delistings: column 'delisting_date'")
    assert "never guessed" in msg and "date_format" in msg
    msg = _load_error(d, listed.with_columns(pl.col("delisting_date").dt.strftime("%Y%m%d").cast(pl.Int64)), capsys)
    assert msg.startswith("load: ValueError: data.delistings: column 'delisting_date' holds integers")
    msg = _load_error(d, listed.with_columns(pl.lit(None, pl.Date).alias("delisting_date")), capsys)
    assert msg.startswith("load: ValueError: data.delistings: column 'delisting_date'") and "missing dates" in msg
    msg = _load_error(d, listed.with_columns(pl.lit("2015-02-30").alias("delisting_date")), capsys)
    assert msg.startswith("load: ValueError: data.delistings: column 'delisting_date'")


def test_bad_delisting_returns_and_dates_before_the_last_price_are_refused(sample, capsys):
    d, listed, X = sample["d"], sample["listed"], sample["X"]
    bad = listed.with_columns(pl.when(pl.col("asset") == X).then(-1.5).otherwise(None).alias("delisting_return"))
    msg = _load_error(d, bad, capsys, 'delisting_return = "delisting_return"\n')
    assert msg == ("load: ValueError: data.delistings: column 'delisting_return': 1 delisting returns are not finite "
                   "and >= -1 (a price cannot go below zero; null or NaN = 0), e.g. [-1.5]")
    # X listed as delisted on row K while it still has a price there
    early = listed.with_columns(pl.when(pl.col("asset") == X).then(pl.lit(sample["dates"][K].item()))
                                .otherwise(pl.col("delisting_date")).alias("delisting_date"))
    msg = _load_error(d, early, capsys)
    assert msg.startswith(f"load: ValueError: data.delistings: asset '{X}' is delisted at {sample['dates'][K]} "
                          f"(row {K}) but still has a return (a price) on {sample['dates'][K]} (row {K})")


@pytest.mark.parametrize("form", ["Datetime", "ISO string", "string with date_format"])
def test_a_delisting_date_with_a_time_of_day_is_refused_and_midnight_is_a_date(sample, runs, capsys, form):
    """As ``delistings=`` (test_backtest_delistings): a time of day other than midnight is never
    cut to its day; midnight reads as the date."""
    d, listed, X = sample["d"], sample["listed"], sample["X"]
    fmt = {"Datetime": None, "ISO string": "%Y-%m-%d %H:%M:%S", "string with date_format": "%m/%d/%Y %H:%M"}[form]
    extra = f'date_format = "{fmt}"\n' if form == "string with date_format" else ""

    def stamps(minutes: int) -> pl.DataFrame:  # X's date at 00:00 + minutes, the others at midnight
        t = pl.col("delisting_date").cast(pl.Datetime("us")) + pl.when(pl.col("asset") == X).then(
            pl.duration(minutes=minutes)).otherwise(pl.duration(minutes=0))
        return listed.with_columns((t if fmt is None else t.dt.strftime(fmt)).alias("delisting_date"))

    stamps(0).write_parquet(d / "dl_midnight.parquet")
    res = _run(d, 'delistings = "dl_midnight.parquet"\ndelisting_return = "delisting_return"\n' + extra, "midnight.toml")
    assert res.delistings == runs["listed"].delistings
    assert np.array_equal(res.backtest.value, runs["listed"].backtest.value)
    msg = _load_error(d, stamps(13 * 60 + 30), capsys, extra)
    assert msg.startswith(f"load: ValueError: data.delistings: column 'delisting_date' must be whole days; got a "
                          f"time within a day for asset '{X}' ("), msg


@pytest.mark.parametrize("case", ["inconsistent delisting", "too few dates"])
def test_checks_of_the_study_fail_the_load_stage_they_do_not_follow_it(sample, capsys, case):
    """The checks of the study (the data cut to data.start/data.end) run in the load stage: the
    command prints "✗ load" with the error, not "✓ load" and then an error of the load stage."""
    d, listed, X, dates = sample["d"], sample["listed"], sample["X"], sample["dates"]
    if case == "inconsistent delisting":  # X listed as delisted on row K, where it still has a price
        listed.with_columns(pl.when(pl.col("asset") == X).then(pl.lit(dates[K].item()))
                            .otherwise(pl.col("delisting_date")).alias("delisting_date")).write_parquet(d / "dl_k.parquet")
        extra, want = 'delistings = "dl_k.parquet"\n', f"ValueError: data.delistings: asset '{X}' is delisted at"
    else:
        extra, want = f'end = "{dates[1]}"\n', "ValueError: the study has 2 dates and 40 assets"
    code = main(["run", str(_write(d, _toml(extra), "study.toml")), "--out", str(d / "o_study")])
    err = capsys.readouterr().err
    assert code == 1 and not (d / "o_study").exists()
    lines = [ln.strip() for ln in err.splitlines() if ln.strip()]
    stages = [ln for ln in lines if ln[:1] in "✓✗–"]  # the timing line of each stage that ended
    assert len(stages) == 1 and stages[0].startswith("✗ load "), err
    assert want in stages[0]
    assert lines[-1].startswith(f"error: load: {want}"), err


# ---------------------------------------------------------------------------------------------
# (c) the setting in the reference and the report
# ---------------------------------------------------------------------------------------------


def test_the_setting_is_documented_and_the_report_says_what_unset_means(sample, capsys):
    s = C.SCHEMA["data"]["delistings"]
    assert s.optional and s.default is None
    assert s.unset == "inferred: the first date after an asset's last price (reads later data)"
    assert C.setting_text("data", "delistings", None) == s.unset
    assert C.SCHEMA["data"]["delisting_date"].default == "delisting_date"
    assert C.SCHEMA["data"]["delisting_return"].default is None
    ref = C.reference_toml()
    assert '# delistings = "delistings.parquet"' in ref and '# delisting_date = "delisting_date"' in ref
    flat = ref.replace("\n#   ", " ")  # the wrapped documentation lines joined
    assert re.search(r"^# delistings: Delisting dates, point in time: .* Default: none \(the delisting is inferred "
                     r"as the first date after an asset's last price in all the data, which reads later data\)\.$",
                     flat, re.MULTILINE)
    assert re.search(r"^# delisting_return: .* Default: none \(delisted assets are paid out at their last value\)\.$",
                     flat, re.MULTILINE)
    assert 'delistings = "sample/delistings.parquet"' in C.example_toml()
    # the report of a run without the file: the configuration says what unset means
    d = sample["d"]
    code = main(["run", str(_write(d, _toml(), "unset.toml")), "--out", str(d / "o_unset"), "--quiet"])
    assert code == 0
    html = (d / "o_unset" / "report.html").read_text(encoding="utf-8")
    assert ("# delistings (not set): inferred: the first date after an asset&#x27;s last price (reads later data)"
            in html or "# delistings (not set): inferred: the first date after an asset's last price (reads later "
            "data)" in html)
    assert "# delisting_return (not set): none (paid out at the last value: a delisting return of 0)" in html
    assert "Delisting dates are inferred as the first date after an asset" in html  # the backtest's note
    assert "paid out on the dates of data.delistings" not in html
    # and with the file: its value, and the books written equal backtest_many with the mapping
    code = main(["run", str(_write(d, _toml(WITH_FILE), "set.toml")), "--out", str(d / "o_set"), "--quiet"])
    assert code == 0
    html = (d / "o_set" / "report.html").read_text(encoding="utf-8")
    assert 'delistings = &quot;dl.parquet&quot;' in html or 'delistings = "dl.parquet"' in html
    assert "Delisted assets are paid out on the dates of data.delistings" in html
    assert "Delisting dates are inferred" not in html
    res = run_pipeline(C.load_config(d / "set.toml"))
    want = _direct(res, delistings=sample["mapping"], delisting_returns={sample["X"]: -0.5})
    written = pl.read_parquet(d / "o_set" / "backtest_value.parquet")
    for i, name in enumerate(want.books):
        assert np.array_equal(written[name].to_numpy(), want.value[:, i])


def test_the_sample_delistings_are_the_synthetic_truth(sample):
    """``write_sample``'s delistings.parquet: the date after each asset's last listed date, for the
    assets that delist before the last date; the run with it books what backtest_many does."""
    panel = ff.datasets.synthetic_universe(n_assets=40, n_days=300, seed=5)
    listed = panel.truth.listed
    truth = sample["truth"]
    assert truth.columns == ["asset", "delisting_date"]
    T = listed.shape[0]
    want = {}
    for n, a in enumerate(panel.assets):
        rows = np.flatnonzero(listed[:, n])
        if rows[-1] + 1 < T:
            want[str(a)] = panel.dates[rows[-1] + 1]
    got = dict(zip(truth["asset"].to_list(), truth["delisting_date"].to_numpy().astype("datetime64[D]")))
    assert got == want and len(want) > 0


# ---------------------------------------------------------------------------------------------
# the demo: the synthetic universe's own delistings, point in time
# ---------------------------------------------------------------------------------------------


def test_the_demo_backtest_takes_the_synthetic_delistings():
    panel = ff.datasets.synthetic_universe(n_assets=40, n_days=300, seed=5)
    listed = panel.truth.listed
    cfg = C.default_config(validation={"portfolios": 0, "minimum_variance": False}, signal={"evaluate": False},
                           portfolio={"optimize": False}, report={"plots": False})
    res = run_pipeline(cfg, synthetic=lambda: panel)
    # by hand from the truth: the assets listed at some date but not at the last one, each at the
    # first date after its listing
    want = {}
    for j, a in enumerate(panel.assets.tolist()):
        if listed[:, j].any() and not listed[-1, j]:
            want[a] = panel.dates[int(np.flatnonzero(listed[:, j])[-1]) + 1]
    assert len(want) > 0 and res.delistings == want
    direct = _direct(res, delistings=want)
    assert all(np.array_equal(res.backtest[n].value, direct[n].value) for n in direct.books)
    assert res.delistings_source == "the synthetic universe's delistings"


def test_assets_that_stop_without_a_row_are_counted_in_the_note(sample):
    # the sample's own delistings, without X's row: X stops trading after row K with no row
    d = sample["d"]
    sample["truth"].write_parquet(d / "dl_missing_x.parquet")
    res = _run(d, 'delistings = "dl_missing_x.parquet"\n', "missing_x.toml")
    assert res.stages[0].note.endswith(
        f"; {sample['truth'].height} delistings; 1 assets stop trading before the last date without a delisting "
        "row (held as suspended)"), res.stages[0].note
    # X is held (suspended) to the end: never paid out
    j = res.panel.assets.tolist().index(sample["X"])
    assert all(res.backtest[n].weights_after[-1, j] != 0 or res.backtest[n].weights_after[K, j] == 0
               for n in res.backtest.books)


def test_a_delistings_file_whose_asset_ids_match_none_of_the_prices_is_refused(sample, capsys):
    """Ids written another way (an integer column that lost leading zeros, another case): every
    row was ignored and the delistings inferred from the last prices after all, with only a
    count in the load note. Some rows of other assets are still ignored with a note (above)."""
    listed = sample["listed"]
    msg = _load_error(sample["d"], listed.with_columns(pl.col("asset").str.to_lowercase()), capsys)
    shown = [a.lower() for a in listed["asset"].to_list()[:5]]
    assert msg.startswith(f"load: ValueError: data.delistings: none of the {listed.height} assets of ")
    assert f"is an asset of the prices: e.g. {shown} against [" in msg
    assert msg.endswith("check its column 'asset' (case, spaces, an integer column that lost the leading zeros "
                        "of 000123)")
