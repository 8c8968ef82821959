"""ff.metrics against empyrical-reloaded, series by series.

Real series: the 18 size/value and size/momentum portfolios of ``linearmodels.datasets.french``
(monthly, ``periods_per_year=12``), with the risk-free rate and the market (MktRF + RF) as
benchmark. Synthetic daily series with missing periods, a series without drawdown, a constant
series and a too-short one cover empyrical's edge rules. empyrical computes one series at a time;
ferrofactor all at once. The information ratio is empyrical's per-period ``excess_sharpe`` times
√periods_per_year (annualised, as the seed's results table quotes it); the tracking error is
empyrical's ``annual_volatility`` of the active returns; the monthly win rate is the share of
positive months in empyrical's ``aggregate_returns(..., "monthly")``.
"""

from __future__ import annotations

import empyrical as ep
import numpy as np
import pandas as pd
import polars as pl
import pytest
from linearmodels.datasets import french

import ferrofactor as ff
from ferrofactor import metrics as M

RTOL = 1e-12


@pytest.fixture(scope="module")
def monthly():
    d = french.load()
    ports = [c for c in d.columns if c[0] == "S" and c[1].isdigit()]
    r = d[ports].to_numpy().copy()
    r[:5, 0] = np.nan  # a late start
    r[100, 3] = np.nan  # a hole
    return dict(r=r, rf=d["RF"].to_numpy(), mkt=(d["MktRF"] + d["RF"]).to_numpy(),
                dates=d["dates"].to_numpy().astype("datetime64[D]"), names=ports)


@pytest.fixture(scope="module")
def daily():
    rng = np.random.default_rng(7)
    t = 760
    r = rng.standard_t(4, (t, 6)) * 0.01 + 0.0004
    r[rng.random((t, 6)) < 0.03] = np.nan
    r[:, 4] = np.abs(r[:, 4])  # never loses: no drawdown
    dates = np.busday_offset(np.datetime64("2020-01-01"), np.arange(t), roll="forward")
    return dict(r=r, dates=dates, bench=rng.normal(0.0003, 0.009, t))


def _per_series(fn, r):
    return np.array([fn(r[:, i]) for i in range(r.shape[1])])


def _close(a, b):
    np.testing.assert_allclose(a, b, rtol=RTOL, atol=0)


@pytest.mark.parametrize("case", ["monthly", "daily"])
def test_each_metric_equals_empyrical(case, monthly, daily):
    d = monthly if case == "monthly" else daily
    r = d["r"]
    ppy = 12 if case == "monthly" else 252
    kw = dict(annualization=ppy)
    bench = d["mkt"] if case == "monthly" else d["bench"]
    _close(M.annual_return(r, ppy), _per_series(lambda x: ep.annual_return(x, **kw), r))
    _close(M.annual_volatility(r, ppy), _per_series(lambda x: ep.annual_volatility(x, **kw), r))
    _close(M.sharpe_ratio(r, periods_per_year=ppy), _per_series(lambda x: ep.sharpe_ratio(x, **kw), r))
    _close(M.sortino_ratio(r, periods_per_year=ppy), _per_series(lambda x: ep.sortino_ratio(x, **kw), r))
    _close(M.max_drawdown(r), _per_series(ep.max_drawdown, r))
    ours_calmar = M.calmar_ratio(r, ppy)
    ref_calmar = _per_series(lambda x: ep.calmar_ratio(x, **kw), r)
    np.testing.assert_array_equal(np.isnan(ours_calmar), np.isnan(ref_calmar))
    _close(ours_calmar[~np.isnan(ref_calmar)], ref_calmar[~np.isnan(ref_calmar)])
    _close(M.tracking_error(r, bench, ppy), _per_series(lambda x: ep.annual_volatility(x - bench, **kw), r))
    _close(M.information_ratio(r, bench, ppy),
           _per_series(lambda x: ep.excess_sharpe(x, bench) * np.sqrt(ppy), r))
    idx = pd.DatetimeIndex(d["dates"])
    sub = r[:, :3]  # empyrical's monthly aggregation is slow (a Python groupby): three series
    wins = _per_series(lambda x: float((ep.aggregate_returns(pd.Series(x, index=idx), "monthly") > 0).mean()), sub)
    _close(M.monthly_win_rate(r, d["dates"])[:3], wins)
    if case == "monthly":
        rf = d["rf"]
        _close(M.sharpe_ratio(r, rf, 12), _per_series(lambda x: ep.sharpe_ratio(x, risk_free=rf, **kw), r))
        _close(M.sortino_ratio(r, 0.002, 12),
               _per_series(lambda x: ep.sortino_ratio(x, required_return=0.002, **kw), r))
    else:
        assert M.max_drawdown(r)[4] == 0.0 and np.isnan(M.calmar_ratio(r)[4])


def test_one_series_gives_floats_and_edge_cases(daily):
    x = daily["r"][:, 1]
    v = M.sharpe_ratio(x)
    assert isinstance(v, float) and v == pytest.approx(ep.sharpe_ratio(x), rel=RTOL)
    assert isinstance(M.max_drawdown(x), float)
    const = np.full(50, 0.001)
    assert M.sharpe_ratio(const) == ep.sharpe_ratio(const) == np.inf  # zero dispersion: std 0
    assert M.annual_volatility(const) < 1e-15 and ep.annual_volatility(const) < 1e-15  # rounding noise only
    short = np.array([0.01])
    assert np.isnan(M.sharpe_ratio(short)) and np.isnan(ep.sharpe_ratio(short))
    assert np.isnan(M.annual_volatility(short))
    assert M.max_drawdown(np.array([-0.1, 0.05])) == pytest.approx(-0.1, abs=1e-15)  # hand-worked
    assert M.annual_return(np.array([0.1, 0.1]), periods_per_year=2) == pytest.approx(0.21, rel=1e-15)


def test_small_returns_keep_their_digits_in_compounded_metrics():
    # Daily returns of ~1e-8 (a cash-like sleeve, an attribution line): 1 + r keeps only half of
    # r's digits, so a product of 252 of them carried a relative error of ~1e-9 in the annual
    # return and the drawdown (2.8e-5 at 1e-12; empyrical has the same loss). The exact oracle
    # compounds in fractions; the annualisation is expm1(P/T · log1p(growth − 1)).
    from fractions import Fraction

    rng = np.random.default_rng(3)
    for scale in (1e-8, 1e-12):
        r = scale * (0.3 + rng.standard_normal((252, 2)))
        r[10, 1] = np.nan  # a missing period compounds as 0
        ann, mdd = [], []
        for col in r.T:
            wealth, peak, worst = Fraction(1), Fraction(1), Fraction(0)
            for v in col:
                wealth *= 1 + (Fraction(0) if np.isnan(v) else Fraction(float(v)))
                peak = max(peak, wealth)
                worst = min(worst, (wealth - peak) / peak)
            ann.append(np.expm1(np.log1p(float(wealth - 1)) * 252 / len(col)))
            mdd.append(float(worst))
        ann, mdd = np.array(ann), np.array(mdd)
        np.testing.assert_allclose(M.annual_return(r), ann, rtol=1e-13, atol=0)
        np.testing.assert_allclose(M.max_drawdown(r), mdd, rtol=1e-13, atol=0)
        np.testing.assert_allclose(M.calmar_ratio(r), ann / np.abs(mdd), rtol=1e-12, atol=0)
        s = M.summary(r)
        np.testing.assert_allclose(s.annual_return, ann, rtol=1e-13, atol=0)
        np.testing.assert_allclose(s.max_drawdown, mdd, rtol=1e-13, atol=0)
    # a loss that 1 + r rounds away is still a drawdown; a series that never loses has none
    assert M.max_drawdown(np.r_[np.full(5, 0.01), -1e-17, np.full(5, 0.01)]) == -1e-17
    assert M.max_drawdown(np.full(30, 1e-12)) == 0.0
    # a wipe-out is exactly -1 on either path
    assert M.max_drawdown(np.array([1e-9, -1.0, 1e-9, 0.5])) == -1.0
    assert M.max_drawdown(np.array([1e-9, -1.0, 1e200, 0.5])) == -1.0  # a wealth of 0 stays 0
    assert M.max_drawdown(np.array([0.5, -1.0, 0.5])) == -1.0


def test_dispersion_of_returns_of_any_finite_magnitude():
    # Returns around 1e-160 have squares that underflow: the volatility and tracking error came
    # out 0 and the Sharpe, Sortino and information ratios ±inf. Columns whose sum of squares
    # falls below 1e-270 (or overflows) are summed again scaled by a power of two. Oracle: the
    # same returns at unit scale (the ratios are scale-free, the volatilities scale).
    rng = np.random.default_rng(0)
    r = 0.01 * rng.standard_normal((500, 2)) + 0.0005
    r[7, 1] = np.nan
    b = 0.01 * rng.standard_normal(500)
    for scale in (1e-160, 1e-300):
        x, y = r * scale, b * scale
        np.testing.assert_allclose(M.annual_volatility(x) / scale, M.annual_volatility(r), rtol=1e-14, atol=0)
        np.testing.assert_allclose(M.tracking_error(x, y) / scale, M.tracking_error(r, b), rtol=1e-14, atol=0)
        np.testing.assert_allclose(M.sharpe_ratio(x), M.sharpe_ratio(r), rtol=1e-14, atol=0)
        np.testing.assert_allclose(M.sortino_ratio(x), M.sortino_ratio(r), rtol=1e-14, atol=0)
        np.testing.assert_allclose(M.information_ratio(x, y), M.information_ratio(r, b), rtol=1e-13, atol=0)
    const = np.full(50, 0.001)
    assert M.sharpe_ratio(const) == np.inf and M.sharpe_ratio(np.zeros(50)) != M.sharpe_ratio(np.zeros(50))


def test_summary_table_of_many_series(monthly):
    r, dates, mkt, rf = monthly["r"], monthly["dates"], monthly["mkt"], monthly["rf"]
    turnover = np.abs(np.random.default_rng(2).normal(0.3, 0.1, r.shape))
    costs = np.full(len(r), 4.2e-4)
    s = ff.metrics.summary(r, dates=dates, benchmark=mkt, risk_free=rf, turnover=turnover, costs=costs,
                           periods_per_year=12)
    assert isinstance(s, ff.MetricsSummary)
    _close(s.annual_return, M.annual_return(r, 12))
    _close(s.sharpe_ratio, M.sharpe_ratio(r, rf, 12))
    _close(s.max_drawdown, M.max_drawdown(r))
    _close(s.monthly_win_rate, M.monthly_win_rate(r, dates))
    _close(s.information_ratio, M.information_ratio(r, mkt, 12))
    _close(s.tracking_error, M.tracking_error(r, mkt, 12))
    _close(s.average_turnover, turnover.mean(axis=0))
    np.testing.assert_allclose(s.average_cost, 4.2e-4, rtol=1e-13)  # a mean of 819 equal values
    text = str(s.summary())
    for label in ("Annualized Return", "Sharpe Ratio", "Max Drawdown", "Win Rate (monthly)",
                  "Information Ratio", "Average Turnover", "Average Cost"):
        assert label in text
    frame = s.to_polars()
    assert frame.height == r.shape[1] and "sharpe_ratio" in frame.columns
    # without the optional inputs, their metrics are absent (None), not zero
    s2 = ff.metrics.summary(r, periods_per_year=12)
    assert s2.monthly_win_rate is None and s2.information_ratio is None and s2.average_cost is None
    assert "Information Ratio" not in str(s2.summary())


def test_summary_table_never_prints_a_small_cost_as_zero():
    """A backtest's average cost (~2e-5 per day at 5 bps) printed as 0.0000 in the four-decimal
    table: a column holding such a value is in scientific notation (one format per column)."""
    r = np.random.default_rng(0).normal(0.0005, 0.01, (300, 2))
    s = ff.metrics.summary(r, turnover=np.full(300, 0.02), costs=np.full(300, 2e-5))
    line = next(x for x in str(s.summary()).splitlines() if x.startswith("Average Cost"))
    assert line.split()[-2:] == ["2.0000e-05", "2.0000e-05"], line
    sharpe = next(x for x in str(s.summary()).splitlines() if x.startswith("Sharpe Ratio"))
    assert "e-0" in sharpe  # the same format down the column
    # without such a value: four decimals, as before
    text = str(ff.metrics.summary(r, costs=np.full(300, 2e-4)).summary())
    assert "0.0002" in text and "e-0" not in text


def test_summary_takes_a_polars_frame_with_dates(monthly):
    r, dates, names = monthly["r"][:, :3], monthly["dates"], monthly["names"][:3]
    frame = pl.DataFrame({"date": dates, **{n: r[:, j] for j, n in enumerate(names)}})
    s = ff.metrics.summary(frame, periods_per_year=12)
    assert s.series_names == names
    _close(s.monthly_win_rate, M.monthly_win_rate(r, dates))
    assert names[1] in str(s.summary())
    assert M.monthly_win_rate(frame) == pytest.approx(list(s.monthly_win_rate), rel=RTOL)


def test_frames_are_aligned_on_dates_and_names_never_by_position(monthly):
    """A benchmark / risk-free frame is aligned with framed returns on date and series name
    (rows in any order, extra dates dropped); an array pairs row by row only with a frame whose
    rows are in date order: anything else is refused, never guessed."""
    r, dates, mkt, rf = monthly["r"][:, :3], monthly["dates"], monthly["mkt"], monthly["rf"]
    names = monthly["names"][:3]
    frame = pl.DataFrame({"date": dates, **{n: r[:, j] for j, n in enumerate(names)}})
    shuffled = frame.sample(fraction=1.0, shuffle=True, seed=3)
    # a (T, S) benchmark: its columns in another order, its rows reversed, one extra date
    bench = np.column_stack([mkt, 0.5 * mkt, rf])
    extra = np.datetime64("2030-01-01")
    bframe = pl.DataFrame({
        "date": np.r_[dates, extra],
        **{n: np.r_[bench[:, j], 9.0] for j, n in reversed(list(enumerate(names)))},
    }).reverse()
    rframe = pl.DataFrame({"date": dates[::-1], "rf": rf[::-1]})
    s = ff.metrics.summary(shuffled, benchmark=bframe, risk_free=rframe, periods_per_year=12)
    ref = ff.metrics.summary(r, dates=dates, benchmark=bench, risk_free=rf, periods_per_year=12)
    for key in ("information_ratio", "tracking_error", "sharpe_ratio", "monthly_win_rate"):
        _close(getattr(s, key), getattr(ref, key))
    _close(M.information_ratio(shuffled, bframe, 12), M.information_ratio(r, bench, 12))
    _close(M.sharpe_ratio(shuffled, rframe, 12), M.sharpe_ratio(r, rf, 12))
    # an array with a frame whose rows are not in date order: which row is which date is unknown
    with pytest.raises(ValueError, match="returns: the rows of the wide frame are not in date order"):
        M.information_ratio(shuffled, bench, 12)
    with pytest.raises(ValueError, match="returns: .*not in date order"):
        ff.metrics.summary(shuffled, turnover=np.ones(len(r)), periods_per_year=12)
    with pytest.raises(ValueError, match="benchmark: .*not in date order"):
        M.tracking_error(r, bframe.head(len(r)), 12)
    # a frame in date order pairs with arrays row by row, as before
    _close(M.information_ratio(frame, bench, 12), M.information_ratio(r, bench, 12))
    # the frame must cover the returns' dates, and name every series
    with pytest.raises(ValueError, match="benchmark has no row for 19 of the returns' dates"):
        M.information_ratio(frame, bframe.tail(len(r) - 19), 12)
    with pytest.raises(ValueError, match=r"benchmark has no column for the series \['S1V1'\]"):
        M.information_ratio(frame, bframe.drop("S1V1"), 12)
    # explicit dates must agree with the frame's
    with pytest.raises(ValueError, match="dates disagrees"):
        ff.metrics.summary(frame, dates=dates + np.timedelta64(1, "D"), periods_per_year=12)
    with pytest.raises(ValueError, match="dates disagrees"):
        M.monthly_win_rate(shuffled, np.r_[dates[:-1], dates[-1] + np.timedelta64(1, "D")])
    with pytest.raises(ValueError, match=r"dates has shape \(818,\), expected \(819,\)"):
        M.monthly_win_rate(shuffled, dates[:-1])
    _close(M.monthly_win_rate(shuffled, dates), M.monthly_win_rate(r, dates))


def test_bad_input(daily):
    r = daily["r"]
    with pytest.raises(ValueError, match="periods_per_year"):
        M.annual_return(r, 0)
    with pytest.raises(ValueError, match="periods_per_year"):
        ff.metrics.summary(r, periods_per_year=True)
    bad = r.copy()
    bad[3, 2] = np.inf
    with pytest.raises(ValueError, match="returns"):
        M.sharpe_ratio(bad)
    with pytest.raises(ValueError, match="benchmark"):
        M.information_ratio(r, daily["bench"][:-1])
    with pytest.raises(ValueError, match="benchmark"):
        M.tracking_error(r, np.zeros((len(r), 2)))
    with pytest.raises(ValueError, match="dates"):
        M.monthly_win_rate(r)
    with pytest.raises(ValueError, match="dates"):
        M.monthly_win_rate(r, daily["dates"][::-1])
    # integers are not dates (20240102 is not a day number): refused, never guessed
    ymd = np.array([int(str(d).replace("-", "")) for d in daily["dates"]])
    with pytest.raises(TypeError, match="dates must be dates"):
        M.monthly_win_rate(r, ymd)
    with pytest.raises(TypeError, match="dates must be dates"):
        ff.metrics.summary(r, dates=np.arange(len(r)))
    with pytest.raises(ValueError, match="dates"):
        ff.metrics.summary(r, dates=daily["dates"][:-1])
    with pytest.raises(TypeError, match="returns"):
        M.annual_return(np.array(["a", "b"]))
    # turnover and costs are named as the arguments are (costs was "cost")
    for arg in ("turnover", "costs"):
        with pytest.raises(ValueError, match=rf"^{arg} has {len(r) - 1} periods"):
            ff.metrics.summary(r, **{arg: np.zeros(len(r) - 1)})
        with pytest.raises(ValueError, match=rf"^{arg} must not contain infinite"):
            ff.metrics.summary(r, **{arg: np.full(len(r), np.inf)})


def test_a_series_named_like_the_label_column_keeps_the_metric_labels(daily):
    # a series named "Metric" used to overwrite the column of metric labels in the table
    r = daily["r"][:, :2]
    frame = pl.DataFrame({"date": daily["dates"], "Metric": r[:, 0], "b": r[:, 1]})
    s = ff.metrics.summary(frame)
    table = s.summary().to_polars()
    labels = table[table.columns[0]].to_list()
    assert labels[:2] == ["Annualized Return", "Annualized Volatility"]
    _close(table["Metric"].to_numpy()[:1], [M.annual_return(r[:, 0])])
    _close(table["b"].to_numpy()[:1], [M.annual_return(r[:, 1])])
    assert "Annualized Return" in str(s.summary())


def test_pandas_series_indexed_by_date_pair_by_date_never_by_position(monthly):
    """A pandas benchmark / risk-free / costs indexed by date is aligned on the returns' dates
    (as a Polars frame is): it was read by position, so a reordered benchmark gave another
    information ratio with no error. Returns indexed by date give their dates (monthly win rate)
    and are read in their order, which must be date order (never sorted)."""
    r, rf, mkt, dates, names = monthly["r"], monthly["rf"], monthly["mkt"], monthly["dates"], monthly["names"]
    idx = pd.DatetimeIndex(dates)
    rs, bs, rfs = pd.Series(r[:, 1], index=idx), pd.Series(mkt, index=idx), pd.Series(rf, index=idx)
    rev = np.arange(len(r))[::-1]
    ref_ir = M.information_ratio(r[:, 1], mkt, 12)
    assert M.information_ratio(rs, bs.iloc[rev], 12) == pytest.approx(ref_ir, rel=RTOL)
    assert M.tracking_error(rs, bs.sample(frac=1.0, random_state=2), 12) == \
        pytest.approx(M.tracking_error(r[:, 1], mkt, 12), rel=RTOL)
    assert M.sharpe_ratio(rs, rfs.iloc[rev], 12) == pytest.approx(M.sharpe_ratio(r[:, 1], rf, 12), rel=RTOL)
    assert M.sortino_ratio(rs, rfs.iloc[rev], 12) == pytest.approx(M.sortino_ratio(r[:, 1], rf, 12), rel=RTOL)
    # an extra date is dropped (the frame rule); a missing one is refused naming the argument
    longer = pd.concat([bs, pd.Series([9.0], index=pd.DatetimeIndex(["2030-01-31"]))]).iloc[::-1]
    assert M.information_ratio(rs, longer, 12) == pytest.approx(ref_ir, rel=RTOL)
    with pytest.raises(ValueError, match=r"^benchmark \(a pandas Series indexed by date\) has no row for 1 of "
                                         r"the 819 dates of returns, e\.g\. \['1949-01-01'\]; it must cover"):
        M.information_ratio(rs, bs.iloc[1:], 12)
    shifted = pd.Series(mkt, index=idx + pd.DateOffset(months=1))  # a month late: same length, other dates
    with pytest.raises(ValueError, match=r"^benchmark \(a pandas Series indexed by date\) has no row for 1 of"):
        M.information_ratio(rs, shifted, 12)
    # beside a Polars returns frame, and in the results table (with dates from the index)
    frame = pl.DataFrame({"date": dates, "S": r[:, 1]})
    assert M.information_ratio(frame, bs.iloc[rev], 12) == pytest.approx(ref_ir, rel=RTOL)
    s = ff.metrics.summary(rs, benchmark=bs.iloc[rev], risk_free=rfs.iloc[rev], costs=rfs.iloc[rev],
                           periods_per_year=12)
    ref = ff.metrics.summary(r[:, [1]], dates=dates, benchmark=mkt, risk_free=rf, costs=rf, periods_per_year=12)
    for key in ("information_ratio", "tracking_error", "sharpe_ratio", "monthly_win_rate", "average_cost"):
        _close(getattr(s, key), getattr(ref, key))
    assert M.monthly_win_rate(rs) == pytest.approx(float(ref.monthly_win_rate[0]), rel=RTOL)
    # beside returns without dates: on dates= when given, else in its own order (date order)
    s2 = ff.metrics.summary(r[:, [1]], dates=dates, benchmark=bs.iloc[rev], periods_per_year=12)
    _close(s2.information_ratio, ref.information_ratio)
    assert M.information_ratio(r[:, 1], bs, 12) == pytest.approx(ref_ir, rel=RTOL)
    with pytest.raises(ValueError, match=r"^benchmark \(a pandas Series indexed by date\) is not in date order "
                                         r"\(2017-02-01 follows 2017-03-01 at position 1\); it is read in its "
                                         r"order, never sorted: sort it first \(benchmark\.sort_index\(\)\)$"):
        M.information_ratio(r[:, 1], bs.iloc[rev], 12)
    # a DataFrame indexed by date: its columns name the series, a (T, S) benchmark is matched on them
    rdf = pd.DataFrame(r[:, :3], index=idx, columns=names[:3])
    bdf = pd.DataFrame(np.column_stack([mkt, 0.5 * mkt, rf]), index=idx, columns=names[:3])
    s3 = ff.metrics.summary(rdf, benchmark=bdf[names[:3][::-1]].iloc[rev], periods_per_year=12)
    assert s3.series_names == names[:3]
    _close(s3.information_ratio, M.information_ratio(r[:, :3], np.column_stack([mkt, 0.5 * mkt, rf]), 12))
    # returns are read in their order: out of date order they are refused, never sorted
    with pytest.raises(ValueError, match=r"^returns \(a pandas Series indexed by date\) is not in date order"):
        M.max_drawdown(rs.iloc[rev])
    with pytest.raises(ValueError, match=r"^returns \(a pandas Series indexed by date\) has the date 1949-01-01 twice"):
        M.sharpe_ratio(pd.concat([rs, rs.iloc[:1]]))
    with pytest.raises(ValueError, match="^dates disagrees with the index of returns"):
        ff.metrics.summary(rs, dates=dates + np.timedelta64(1, "D"), periods_per_year=12)
    # the default index stays positional, as an array
    assert M.information_ratio(pd.Series(r[:, 1]), pd.Series(mkt), 12) == pytest.approx(ref_ir, rel=RTOL)



def test_polars_frames_beside_returns_without_dates_are_aligned_on_dates_never_by_position(monthly):
    """summary(array, dates=..., benchmark=<Polars frame>): the frame is aligned on dates=, as a
    pandas object indexed by date is (the docstring: "aligned on the dates of returns (or on
    dates beside returns without dates) ... never paired by position"). It was paired by
    position: a frame on other dates (a month late) gave another information ratio, no error."""
    r, rf, mkt, dates = monthly["r"][:, [1]], monthly["rf"], monthly["mkt"], monthly["dates"]
    ref = ff.metrics.summary(r, dates=dates, benchmark=mkt, risk_free=rf, turnover=rf, costs=rf,
                             periods_per_year=12)
    extra = np.datetime64("1900-01-31")  # a date the returns do not have: dropped
    frame = pl.DataFrame({"date": np.r_[extra, dates], "v": np.r_[9.0, mkt]}).reverse()
    rfr = pl.DataFrame({"date": np.r_[extra, dates], "rf": np.r_[9.0, rf]}).reverse()
    s = ff.metrics.summary(r, dates=dates, benchmark=frame, risk_free=rfr, turnover=rfr, costs=rfr,
                           periods_per_year=12)
    for key in ("information_ratio", "tracking_error", "sharpe_ratio", "average_turnover", "average_cost"):
        _close(getattr(s, key), getattr(ref, key))
    # a month late: the same length, other dates
    late = pl.DataFrame({"date": (dates.astype("datetime64[M]") + 1).astype("datetime64[D]"), "v": mkt})
    for arg in ("benchmark", "risk_free", "turnover", "costs"):
        with pytest.raises(ValueError, match=rf"^{arg} has no row for 1 of the returns' dates"):
            ff.metrics.summary(r, dates=dates, periods_per_year=12, **{arg: late})

def test_periods_per_year_that_does_not_fit_the_dates_is_warned_about():
    # 252 on month-end dates annualises each month as a day (a Sharpe √21 too large); the dates
    # are known, so the mismatch is said (and nothing is changed)
    import warnings

    d = np.arange("2000-01", "2010-01", dtype="datetime64[M]").astype("datetime64[D]")
    r = np.random.default_rng(0).normal(0.01, 0.05, d.size)
    with pytest.warns(ff.metrics.PeriodsPerYearWarning,
                      match=r"periods_per_year=252 implies a period of 1.45 days, but the dates are 31 days "
                            r"apart \(median\).*pass periods_per_year=12"):
        s252 = ff.metrics.summary(r, dates=d)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s12 = ff.metrics.summary(r, dates=d, periods_per_year=12)
        daily = np.arange("2020-01-01", 400, dtype="datetime64[D]")
        daily = daily[(daily.astype("datetime64[D]").view("int64") - 4) % 7 < 5]  # weekdays
        ff.metrics.summary(np.full(daily.size, 0.001), dates=daily)
    assert s252.sharpe_ratio[0] == pytest.approx(s12.sharpe_ratio[0] * np.sqrt(21), rel=1e-12)
    with pytest.warns(ff.metrics.PeriodsPerYearWarning, match="pass periods_per_year=252"):
        ff.metrics.summary(np.full(daily.size, 0.001), dates=daily, periods_per_year=12)


def test_series_names_are_a_copy():
    # series_names handed out the summary's own list: names.sort() (or an edit) relabelled its
    # table rows, the numbers staying where they were
    rng = np.random.default_rng(0)
    d = np.datetime64("2024-01-02") + np.arange(300)
    frame = pl.DataFrame({"date": d, "b": rng.normal(size=300) * 0.01, "a": rng.normal(size=300) * 0.01})
    m = ff.metrics.summary(frame)
    names = m.series_names
    names.sort()
    assert m.series_names == ["b", "a"] and m.to_polars()["series"].to_list() == ["b", "a"]
    at = ff.alpha_test(frame, {"capm": pl.DataFrame({"date": d, "mkt": rng.normal(size=300) * 0.01})})
    names = at.series_names
    names.sort()
    assert at.series_names == ["b", "a"]


@pytest.mark.parametrize("fn", ["annual_return", "annual_volatility", "sharpe_ratio", "sortino_ratio",
                                "calmar_ratio", "tracking_error", "information_ratio"])
def test_each_annualised_metric_warns_on_dates_that_do_not_fit_periods_per_year(fn):
    # seed 001's monthly Fama-French returns: summary() warned that 252 does not fit monthly
    # dates, but sharpe_ratio & co. on the same pandas series annualised ×252 silently
    import warnings

    import pandas as pd

    rng = np.random.default_rng(4)
    dates = pd.date_range("1990-01-01", periods=120, freq="MS")
    r = pd.Series(rng.normal(0.008, 0.04, 120), index=dates, name="NoDur")
    b = pd.Series(rng.normal(0.006, 0.04, 120), index=dates)
    args = (r, b) if fn in ("tracking_error", "information_ratio") else (r,)
    f = getattr(ff.metrics, fn)
    with pytest.warns(ff.metrics.PeriodsPerYearWarning, match="periods_per_year=12"):
        f(*args)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isfinite(f(*args, periods_per_year=12))
        f(*(a.to_numpy() for a in args))  # no dates: nothing to check
