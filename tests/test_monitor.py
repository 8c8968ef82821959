"""ff.monitor: alerts as data. factor_decay against seed 000's own pandas logic run date by date;
turnover, concentration, risk bias, solver status and coverage on hand-made cases; the schema;
BacktestResult.alerts()."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import polars as pl
import pytest

import ferrofactor as ff
from ferrofactor import monitor

COLUMNS = ["date", "kind", "subject", "value", "threshold", "message"]


def _seed000_decay(df: pd.DataFrame, lookback=30):
    """Seed 000's check_factor_decay, applied to the window ending at each date."""
    out = []
    for end in range(lookback, len(df) + 1):
        recent = df.iloc[:end].tail(lookback)
        for factor in df.columns:
            fr = recent[factor]
            negative_days = (fr < 0).sum()
            if negative_days / len(recent) > 0.7:
                out.append((end - 1, "factor_decay_negative", factor))
            if fr.tail(5).mean() < fr.mean() - 2 * fr.std():
                out.append((end - 1, "factor_decay_mean", factor))
    return sorted(out)


def test_factor_decay_is_seed000s_check_on_every_date():
    rng = np.random.default_rng(0)
    T = 200
    x = rng.normal(0.0, 0.01, (T, 3))
    x[60:95, 0] = -np.abs(x[60:95, 0])  # a run of losses
    x[150:155, 1] -= 0.08  # a sharp recent drop
    dates = np.datetime64("2024-01-01") + np.arange(T)
    alerts = monitor.factor_decay(x, dates=dates, names=["value", "momentum", "quality"])
    assert alerts.columns == COLUMNS and alerts.schema["date"] == pl.Date
    got = sorted((int((d - dates[0]).astype(int)), k, s) for d, k, s in
                 zip(alerts["date"].to_numpy().astype("datetime64[D]"), alerts["kind"], alerts["subject"]))
    expect = _seed000_decay(pd.DataFrame(x, columns=["value", "momentum", "quality"]))
    assert got == expect
    assert any(k == "factor_decay_negative" and s == "value" for _, k, s in expect)
    assert any(k == "factor_decay_mean" and s == "momentum" for _, k, s in expect)
    last = monitor.factor_decay(x, dates=dates, names=["value", "momentum", "quality"], last_only=True)
    assert last.height == sum(1 for t, _, _ in expect if t == T - 1)
    # thresholds are parameters
    loose = monitor.factor_decay(x, negative_share=1.0, n_std=10.0)
    assert loose.height == 0 and loose.schema["date"] == pl.Int64


def test_factor_decay_of_a_factor_model_result():
    panel = ff.datasets.synthetic_universe(n_assets=80, n_days=120, seed=1)
    res = ff.FactorModel().fit(panel, ff.Exposures.from_panel(panel))
    alerts = monitor.factor_decay(res, lookback=20, negative_share=0.5)
    assert set(alerts["subject"].to_list()) <= set(res.factor_names)
    assert alerts.height > 0 and alerts.schema["date"] == pl.Date


def test_turnover_and_concentration():
    a = monitor.turnover(np.array([0.1, 0.51, 0.5, 2.0]), subject="book")
    assert a["date"].to_list() == [1, 3] and a["value"].to_list() == [0.51, 2.0]
    assert a["threshold"].to_list() == [0.5, 0.5] and a["message"][1] == "book: turnover 200.0% exceeds threshold 50.0%"
    w = np.array([
        [0.05] * 20,                                   # 20 x 5 %: nothing
        [0.12, 0.09, 0.09, 0.09, 0.09] + [0.52 / 15] * 15,  # one position > 10 %, top five 48 %
        [0.3, -0.15] + [0.85 / 18] * 18,                 # a large short counts too
    ])
    c = monitor.concentration(w, assets=[f"S{i}" for i in range(20)], dates=np.array(["2024-01-01", "2024-02-01", "2024-03-01"]))
    rows = sorted(zip(c["date"].cast(pl.String).to_list(), c["kind"].to_list(), c["subject"].to_list(),
                      np.round(c["value"].to_numpy(), 12).tolist()))
    top5_1 = round(0.12 + 4 * 0.09, 12)
    top5_2 = round(0.3 + 0.15 + 3 * 0.85 / 18, 12)
    # a position alert names the book and the asset: alerts of several books stay apart
    assert rows == [("2024-02-01", "position", "portfolio/S0", 0.12), ("2024-02-01", "top5", "portfolio", top5_1),
                    ("2024-03-01", "position", "portfolio/S0", 0.3), ("2024-03-01", "position", "portfolio/S1", -0.15),
                    ("2024-03-01", "top5", "portfolio", top5_2)]
    assert monitor.concentration(w, max_position=0.5, top5_share=0.9).height == 0


def test_concentration_of_a_pandas_series_names_the_assets_by_label():
    # a Series indexed by asset was read by position: after sort_values the alert named the
    # wrong asset ("portfolio/S3" for S0's 30 %)
    A = ["S0", "S1", "S2", "S3"]
    w = np.array([0.3, 0.25, 0.25, 0.2])
    want = monitor.concentration(w, assets=A, max_position=0.26)
    assert want["subject"].to_list() == ["portfolio/S0", "portfolio"]
    s = pd.Series(w, index=A).sort_values()
    # paired with assets= by label; alone, its labels name the assets (as a mapping's keys do)
    for x, assets in ((s, A), (s, None), (dict(zip(A, w)), None)):
        got = monitor.concentration(x, assets=assets, max_position=0.26)
        assert got.equals(want), got["subject"].to_list()
    assert monitor.concentration(pd.Series(w), assets=A, max_position=0.26).equals(want)  # default index: positions
    with pytest.raises(ValueError, match=r"^weights has no value for 1 of the 4 assets of assets=, e\.g\. \['S3'\]"):
        monitor.concentration(s.drop("S3"), assets=A)


def test_risk_bias_solver_and_coverage():
    rng = np.random.default_rng(2)
    r = rng.normal(0, 1, (300, 3)) * np.array([1.0, 2.0, 0.5])
    bias = ff.evaluate.bias_statistic(r, np.ones((300, 3)), names=["ok", "under", "over"])
    a = monitor.risk_bias(bias)
    assert sorted(a["subject"].to_list()) == ["over", "under"]
    under = a.filter(pl.col("subject") == "under")
    assert under["threshold"][0] == pytest.approx(1 + np.sqrt(2 / 300))
    assert monitor.risk_bias(np.array([0.7, 1.0, 1.3]), band=(0.8, 1.2))["value"].to_list() == [0.7, 1.3]
    with pytest.raises(ValueError, match="band is required"):
        monitor.risk_bias(np.array([1.0]))
    # not an array: a TypeError as every other check gives (it read as a 0-d array, "got shape ()")
    with pytest.raises(TypeError, match="bias must be a numeric array, got dtype object"):
        monitor.risk_bias(object(), band=(0.8, 1.2))
    with pytest.raises(TypeError, match="bias must be a numeric array"):
        monitor.risk_bias("1.2", band=(0.8, 1.2))
    s = monitor.solver(["optimal", "infeasible", "optimal", "fallback"])
    assert s["date"].to_list() == [1, 3] and s["kind"].to_list() == ["solver", "solver"]
    sig = np.ones((40, 10))
    sig[30, :6] = np.nan  # coverage 40 % against a mean of 100 %
    sig[35, :1] = np.nan  # 90 %: within 20 %
    cov = monitor.coverage(sig, lookback=5)
    assert cov["date"].to_list() == [30] and cov["value"][0] == pytest.approx(0.4)
    assert cov["threshold"][0] == pytest.approx(0.8)



def test_coverage_compares_with_the_mean_of_its_own_window():
    # the previous `lookback` dates' mean came from a running sum over the whole series, which
    # drifts: a coverage steady at 70 % came out below "100 % of its mean" on 138 of 600 dates
    sig = np.ones((600, 10))
    sig[:, :3] = np.nan
    assert monitor.coverage(sig, drop=0.0).height == 0
    # each date against (1 - drop) × the plain mean of the window before it, in numpy
    rng = np.random.default_rng(7)
    for _ in range(20):
        x = rng.normal(size=(60, 4))
        x[rng.random((60, 4)) < 0.3] = np.nan
        cov = np.isfinite(x).mean(axis=1)
        expect = [t for t in range(8, 60) if cov[t] < 0.8 * cov[t - 8:t].mean()]
        got = monitor.coverage(x, lookback=8)
        assert got["date"].to_list() == expect
        assert got["threshold"].to_list() == pytest.approx([0.8 * cov[t - 8:t].mean() for t in expect], rel=1e-14)


def test_backtest_alerts():
    rng = np.random.default_rng(3)
    r = rng.normal(0, 0.01, (80, 12))
    w = np.zeros((80, 12))
    w[:, :4] = 0.25  # four positions of 25 %: each above 10 %, top five 100 %
    res = ff.backtest(r, w, rebalance=20, cost_bps=5)
    a = res.alerts()
    assert a.columns == COLUMNS
    kinds = a["kind"].to_list()
    assert kinds.count("position") == 4 * 4 and kinds.count("top5") == 4
    # only the initial purchase out of cash trades > 50 %, and it is not checked
    assert kinds.count("turnover") == 0
    quiet = res.alerts(max_position=0.3, top5_share=1.01, turnover_threshold=2.0)
    assert set(quiet["kind"].to_list()) <= {"factor_decay_negative", "factor_decay_mean"}
    with pytest.raises(TypeError, match="unknown thresholds"):
        res.alerts(max_weight=0.2)
    books = ff.backtest_many(r, np.stack([w, w / 2]), rebalance=20)
    assert books.alerts().height >= a.height
    # a later rebalance that swaps the book is flagged: at row 40 the four holdings move to four
    # others (traded value = 2 × the book)
    w2 = w.copy()
    w2[40:] = 0.0
    w2[40:, 4:8] = 0.25
    res2 = ff.backtest(r, w2, rebalance=20, cost_bps=0)
    t = res2.alerts().filter(pl.col("kind") == "turnover")
    assert t["date"].to_list() == [40]
    assert t["value"][0] == pytest.approx(2.0 * res2.turnover[40], rel=1e-12)
    assert t["value"][0] == pytest.approx(2.0, rel=1e-12)  # all sold, as much bought, no costs
    # a book that starts in cash (no target before row 20) is not flagged for its first purchase
    w3 = w.copy()
    w3[:20] = 0.0
    assert ff.backtest(r, w3, rebalance=20).alerts().filter(pl.col("kind") == "turnover").height == 0


def test_empty_and_concat():
    e = monitor.empty()
    assert e.columns == COLUMNS and e.height == 0
    assert monitor.concat([]).height == 0
    assert monitor.concat([monitor.turnover(np.array([0.1]))]).height == 0


def _days(n):
    return [dt.date(2021, 1, 1) + dt.timedelta(days=i) for i in range(n)]


def test_checks_read_a_frames_labels_never_its_date_column_as_data():
    d = _days(40)
    # concentration: A0 at 30 %, the others at 5 %: two position alerts on A0, no top5 (40 % is not > 40 %)
    w = pl.DataFrame({"date": d[:2], "A0": [0.3, 0.3], "A1": [0.05, 0.05], "A2": [0.05, 0.05]})
    c = monitor.concentration(w, subject="book")
    assert c.schema["date"] == pl.Date and c["date"].to_list() == d[:2]
    assert c["kind"].to_list() == ["position"] * 2 and c["subject"].to_list() == ["book/A0"] * 2
    assert c["value"].to_list() == [0.3, 0.3]
    long = w.unpivot(index="date", variable_name="asset", value_name="w")
    assert monitor.concentration(long, subject="book").equals(c)
    assert monitor.concentration(w, subject="book", assets=["A0", "A1", "A2"], dates=d[:2]).equals(c)
    with pytest.raises(ValueError, match="differ from the columns"):
        monitor.concentration(w, assets=["x", "y", "z"])
    with pytest.raises(ValueError, match="different dates"):
        monitor.concentration(w, dates=d[5:7])
    # the same book as an array with its labels gives the same frame
    arr = w.drop("date").to_numpy()
    assert monitor.concentration(arr, dates=np.array(d[:2]), assets=["A0", "A1", "A2"], subject="book").equals(c)
    # coverage: 3 of 4 assets lose their signal on day 25 -> 25 %, dated 2021-01-26
    x = np.ones((40, 4))
    x[25, :3] = np.nan
    sig = pl.DataFrame({"date": d, **{f"A{j}": x[:, j] for j in range(4)}})
    cov = monitor.coverage(sig)
    assert cov["date"].to_list() == [dt.date(2021, 1, 26)] and cov["value"].to_list() == [0.25]
    assert monitor.coverage(sig, universe=pl.DataFrame({"date": d, **{f"A{j}": [True] * 40 for j in range(4)}})).equals(cov)
    # factor_decay: 'mom' negative every day -> alerts on 'mom' from the 30th date on
    fr = pl.DataFrame({"date": d, "mom": -0.01 * np.ones(40)})
    fd = monitor.factor_decay(fr)
    assert fd.height == 11 and set(fd["subject"]) == {"mom"} and fd["date"].min() == d[29]
    assert monitor.factor_decay(fr, names=["mom"]).equals(fd)
    assert monitor.factor_decay(fr["mom"], dates=np.array(d), names=["mom"]).equals(fd)
    # turnover: a one-column frame; its column names the subject
    tf = pl.DataFrame({"date": d[:3], "book": [0.1, 0.7, 0.2]})
    t = monitor.turnover(tf)
    assert t["date"].to_list() == [d[1]] and t["subject"].to_list() == ["book"]
    with pytest.raises(ValueError, match="one value column"):
        monitor.turnover(w)
    # risk_bias: a rolling frame of bias statistics, one column per portfolio
    bf = pl.DataFrame({"date": d[:3], "p": [1.0, 1.5, 0.5]})
    rb = monitor.risk_bias(bf, band=(0.8, 1.2))
    assert rb["date"].to_list() == [d[1], d[2]] and set(rb["subject"]) == {"p"}
    # solver: a frame with date and status columns
    s = monitor.solver(pl.DataFrame({"date": d[:3], "status": ["optimal", "infeasible", "optimal"]}))
    assert s["date"].to_list() == [d[1]]


def test_risk_bias_of_one_portfolios_rolling_statistic_is_t_by_1():
    rng = np.random.default_rng(0)
    r = rng.normal(0, 2.0, 60)  # realised vol 2 against a forecast of 1: risk under-forecast
    v = np.ones(60)
    dates = np.datetime64("2021-01-01") + np.arange(60)
    want = monitor.risk_bias(ff.evaluate.bias_statistic(r[:, None], v[:, None], window=20, dates=dates))
    got = monitor.risk_bias(ff.evaluate.bias_statistic(r, v, window=20, dates=dates))
    assert want.height > 0 and got.schema["date"] == pl.Date
    assert got.equals(want)
    named = monitor.risk_bias(ff.evaluate.bias_statistic(r, v, window=20, dates=dates, names=["book"]))
    assert set(named["subject"]) == {"book"} and named["date"].to_list() == want["date"].to_list()
    assert set(monitor.risk_bias(ff.evaluate.bias_statistic(r, v, window=20, dates=dates), names=["book"])["subject"]) == {"book"}


def test_risk_bias_of_a_bias_test_says_to_pass_its_bias():
    # a bias_test / minimum_variance_test result raised "bias must be (P,) or (T, P), got shape ()"
    panel = ff.datasets.synthetic_universe(n_assets=40, n_days=120, seed=1)
    risk = ff.RiskModel.from_factor_model(ff.FactorModel().fit(panel, ff.Exposures.from_panel(panel)))
    test = ff.evaluate.bias_test(risk, panel, np.full((2, 40), 1 / 40), dates=np.arange(60, 110))
    with pytest.raises(TypeError, match=r"bias is a PortfolioBiasResult; pass its \.bias"):
        monitor.risk_bias(test)
    assert monitor.risk_bias(test.bias).columns == COLUMNS


def test_infinite_values_and_thresholds_are_refused():
    with pytest.raises(ValueError, match="turnover must not contain infinite"):
        monitor.turnover(np.array([0.1, np.inf]))
    with pytest.raises(ValueError, match="threshold must be finite"):
        monitor.turnover(np.array([0.1]), threshold=np.inf)
    assert monitor.turnover(np.array([0.1, np.nan, 0.9]))["date"].to_list() == [2]  # NaN: no trade
    with pytest.raises(ValueError, match="weights must not contain infinite"):
        monitor.concentration(np.array([0.1, -np.inf]))
    with pytest.raises(ValueError, match="max_position must be finite"):
        monitor.concentration(np.array([0.1]), max_position=np.inf)
    with pytest.raises(ValueError, match="factor_returns must not contain infinite"):
        monitor.factor_decay(np.r_[np.zeros(30), np.inf])
    with pytest.raises(ValueError, match="n_std must be finite"):
        monitor.factor_decay(np.zeros(40), n_std=np.inf)
    with pytest.raises(ValueError, match="bias must not contain infinite"):
        monitor.risk_bias(np.array([1.0, np.inf]), band=(0.8, 1.2))
    with pytest.raises(ValueError, match=r"band\[1\] must be finite"):
        monitor.risk_bias(np.array([1.0]), band=(0.8, np.inf))
    with pytest.raises(ValueError, match="signal must not contain infinite"):
        monitor.coverage(np.full((30, 3), np.inf))


def test_pandas_data_indexed_by_date_labels_the_alerts_with_its_dates():
    # a pandas Series / DataFrame indexed by date was read as an array: its dates were dropped
    # (alerts dated by row number), and dates= given beside it was never compared with them.
    # Now its index dates the alerts (read in its order, which must be date order)
    d = np.datetime64("2021-01-01") + np.arange(40)
    idx = pd.DatetimeIndex(d)
    x = -0.01 * np.ones((40, 1))
    want = monitor.factor_decay(x, dates=d, names=["mom"])
    assert want.height == 11 and want.schema["date"] == pl.Date
    assert monitor.factor_decay(pd.Series(x[:, 0], index=idx), names=["mom"]).equals(want)
    assert monitor.factor_decay(pd.DataFrame(x, index=idx), dates=d, names=["mom"]).equals(want)
    with pytest.raises(ValueError, match=r"^dates and factor_returns have different dates: position 0 is 2021-01-02"):
        monitor.factor_decay(pd.DataFrame(x, index=idx), dates=d + 1, names=["mom"])
    with pytest.raises(ValueError, match=r"^factor_returns \(a pandas DataFrame indexed by date\) is not in date order"):
        monitor.factor_decay(pd.DataFrame(x, index=idx).iloc[::-1], names=["mom"])
    t = np.array([0.1, 0.7, 0.2])
    want_t = monitor.turnover(t, dates=d[:3], subject="book")
    assert want_t["date"].to_list() == [dt.date(2021, 1, 2)]
    assert monitor.turnover(pd.Series(t, index=idx[:3]), subject="book").equals(want_t)
    with pytest.raises(ValueError, match=r"^turnover \(a pandas Series indexed by date\) is not in date order"):
        monitor.turnover(pd.Series(t, index=idx[:3]).iloc[::-1])
    # a rolling bias statistic indexed by date: rolling, dated by its index (it was read as the
    # whole-sample statistics of 3 portfolios)
    b = np.array([1.0, 1.5, 0.5])
    want_b = monitor.risk_bias(b[:, None], band=(0.8, 1.2), dates=d[:3], names=["p"])
    assert want_b["date"].to_list() == [dt.date(2021, 1, 2), dt.date(2021, 1, 3)]
    assert monitor.risk_bias(pd.Series(b, index=idx[:3]), band=(0.8, 1.2), names=["p"]).equals(want_b)
    # signal (T, N) for coverage
    sig = np.ones((40, 4))
    sig[25, :3] = np.nan
    assert monitor.coverage(pd.DataFrame(sig, index=idx))["date"].to_list() == [dt.date(2021, 1, 26)]
    # the default index stays positional
    assert monitor.turnover(pd.Series(t), subject="book")["date"].to_list() == [1]


def test_concentration_of_a_pandas_frame_indexed_by_date_dates_the_alerts():
    # a (D, N) pandas DataFrame indexed by date: its index dates the alerts (it was dropped,
    # the alerts dated by row number, and dates= paired with its rows whatever its index said)
    d = np.array(["2024-01-01", "2024-02-01", "2024-03-01"], dtype="datetime64[D]")
    w = np.array([[0.05] * 20, [0.3] + [0.7 / 19] * 19, [0.05] * 20])
    want = monitor.concentration(w, dates=d)
    assert want["date"].to_list() == [dt.date(2024, 2, 1)] * 2
    wdf = pd.DataFrame(w, index=pd.DatetimeIndex(d))
    assert monitor.concentration(wdf).equals(want)
    with pytest.raises(ValueError, match="^dates and weights have different dates: position 0 is 2024-01-02"):
        monitor.concentration(wdf, dates=d + 1)
    with pytest.raises(ValueError, match=r"^weights \(a pandas DataFrame indexed by date\) is not in date order"):
        monitor.concentration(wdf.iloc[::-1])


def test_a_pandas_frames_column_names_name_the_subjects():
    # a pandas DataFrame's columns were ignored: alerts said asset_0 / factor_2, and assets= or
    # names= was paired with the columns by position whatever they were called
    d = np.array(["2024-01-01", "2024-02-01", "2024-03-01"], dtype="datetime64[D]")
    w = np.array([[0.05] * 20, [0.3] + [0.7 / 19] * 19, [0.05] * 20])
    cols = [f"S{j:02d}" for j in range(20)][::-1]  # not in sorted order: names, not positions
    wdf = pd.DataFrame(w, index=pd.DatetimeIndex(d), columns=cols)
    got = monitor.concentration(wdf)
    assert got.equals(monitor.concentration(w, dates=d, assets=cols))
    assert "portfolio/S19" in got["subject"].to_list()  # the first column holds the 30 % position
    with pytest.raises(ValueError, match=r"^assets \[.*\] differ from the columns of weights"):
        monitor.concentration(wdf, assets=sorted(cols))
    rng = np.random.default_rng(5)
    f = rng.normal(0.0, 0.01, (60, 3))
    f[20:55, 1] = -np.abs(f[20:55, 1])  # a run of losses
    fdf = pd.DataFrame(f, index=pd.bdate_range("2024-01-01", periods=60), columns=["value", "momentum", "size"])
    dec = monitor.factor_decay(fdf)
    assert dec.height and set(dec["subject"].to_list()) <= {"value", "momentum", "size"}
    assert dec.equals(monitor.factor_decay(f, dates=fdf.index.values.astype("datetime64[D]"),
                                           names=["value", "momentum", "size"]))
