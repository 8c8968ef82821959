"""Issue 10 (hardening): one regression test per family of breaks, with the issue's own example.

The generated suite (tests/test_fuzz.py) keeps the families fixed across every public function;
these tests pin the examples the bad-input campaign reported, so a regression names its family.
"""

from __future__ import annotations

import copy
import datetime as dt

import numpy as np
import polars as pl
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import ferrofactor as ff
from ferrofactor import baseline


def _panel(T=300, N=40, seed=0):
    rng = np.random.default_rng(seed)
    r = rng.normal(0, 0.01, (T, N))
    cap = np.exp(rng.normal(8, 1, (T, N)))
    return rng, r, cap


# --- 1. codes are labels, not sizes -------------------------------------------------------------


def test_family1_gics_codes_are_labels_not_sizes():
    # Four 8-digit GICS codes on a 300 x 40 panel used to size the design by the largest code
    # (60 GB, an abort) and Exposures spent 41 s creating 25 million names.
    rng, r, cap = _panel()
    gics = np.array([10101010, 15101010, 45203010, 60101010])
    g = gics[rng.integers(0, 4, r.shape)]
    res = ff.cross_section_regress(r, industry=g, cap=cap)
    assert res.factor_names == ["market", "10101010", "15101010", "45203010", "60101010"]
    # the same regression with dense codes 0..3 (oracle: the plain-numpy baseline)
    dense = np.searchsorted(gics, g)
    want = baseline.cross_section_regress(r, industry=dense, weights=np.sqrt(cap), cap=cap,
                                          market=True, industry_constraint="cap")
    assert_allclose(res.factor_returns, want.factor_returns, rtol=1e-10, atol=1e-14)
    ex = ff.Exposures(rng.normal(size=(300, 40, 2)), g)
    assert ex.industry_names == ["10101010", "15101010", "45203010", "60101010"]
    assert_array_equal(ex.industry, dense)
    # the cleaning kernels group by the same labels
    x = rng.normal(size=r.shape)
    assert_array_equal(ff.standardize(x, industry=g), ff.standardize(x, industry=dense))


# --- 2. dates are never guessed ------------------------------------------------------------------


def test_family2_us_dates_need_date_format():
    # "01/02/2024" read as day/month made a report visible two months before it was published.
    prices = pl.DataFrame({"date": ["01/02/2024", "01/03/2024"], "asset": ["A", "A"], "close": [1.0, 2.0]})
    with pytest.raises(ValueError, match=r"column 'date'.*not ISO dates.*date_format"):
        ff.read_panel(prices)
    assert_array_equal(ff.read_panel(prices, date_format="%m/%d/%Y").dates,
                       np.array(["2024-01-02", "2024-01-03"], dtype="datetime64[D]"))
    report = pl.DataFrame({"asset": ["A"], "report_date": ["03/01/2024"], "eps": [1.5]})  # March 1st
    days = np.array(["2024-01-04", "2024-02-29", "2024-03-04"], dtype="datetime64[D]")
    with pytest.raises(ValueError, match="report_date"):
        ff.read_fundamentals(report, days, ["A"])
    eps = ff.read_fundamentals(report, days, ["A"], date_format="%m/%d/%Y")["eps"][:, 0]
    assert_array_equal(np.isnan(eps), [True, True, False])  # not visible before March 2nd
    # integer dates with the same argument; refused without it
    ints = pl.DataFrame({"date": [20240102], "asset": ["A"], "close": [1.0]})
    with pytest.raises(ValueError, match="integers"):
        ff.read_panel(ints)
    assert str(ff.read_panel(ints, date_format="%Y%m%d").dates[0]) == "2024-01-02"
    # result labels are read as strictly: no integer day numbers, no guessed text
    with pytest.raises(TypeError, match="dates"):
        ff.cross_section_regress(np.zeros((1, 3)), market=True, dates=[20240102])
    with pytest.raises(ValueError, match="dates"):
        ff.cross_section_regress(np.zeros((1, 3)), market=True, dates=["01/02/2024"])


# --- 3. integer settings bounded and typed ----------------------------------------------------


def test_family3_integer_settings_are_bounded_and_typed():
    rng, r, cap = _panel(T=30, N=10)
    with pytest.raises(ValueError, match="lag"):
        ff.cross_section_regress(r, lag=10**9)
    with pytest.raises(ValueError, match="n_cap_groups"):
        ff.RiskModel(n_cap_groups=2**62)
    for bad in (-1, 2**64, 10**6):
        with pytest.raises(ValueError, match=r"\bn\b"):
            ff.set_num_threads(bad)
    for bad in (2.0, True, "2"):
        with pytest.raises(TypeError, match=r"\bn\b"):
            ff.set_num_threads(bad)
    assert ff.get_num_threads() >= 1
    with pytest.raises(ValueError, match="window"):
        ff.rolling_mean(r, 2**64)
    with pytest.raises(TypeError, match="window"):
        ff.rolling_mean(r, 2.5)  # not truncated to 2
    with pytest.raises(ValueError, match="n_days"):
        ff.datasets.synthetic_universe(n_assets=10**6, n_days=10**5)  # refused before allocating
    # a Newey-West lag count is bounded by the dates (each lag costs K^2 memory per date)
    with pytest.raises(ValueError, match="vol_lags"):
        ff.risk.covariance.factor_covariance(rng.normal(size=(20, 3)), 10.0, 20.0, 10**6, 1, 5)
    # floats are not date positions, strings are not flags
    panel = ff.datasets.synthetic_universe(n_assets=30, n_days=80, seed=1)
    res = ff.FactorModel().fit(panel, ff.Exposures.from_panel(panel))
    risk = ff.RiskModel(min_periods=5, specific_min_periods=5, specific_blend_periods=5).fit(res)
    w = np.where(risk.covered(-1), 1.0, 0.0)
    with pytest.raises(TypeError, match="date"):
        risk.portfolio_risk(w, date=40.7)
    with pytest.raises(TypeError, match="market"):
        ff.FactorModel(market="False")
    with pytest.raises(TypeError, match="annualize"):
        risk.portfolio_risk(w, annualize="yes")


# --- 4. fits are atomic, inputs consistent --------------------------------------------------------


def test_family4_failed_refit_leaves_the_model_unchanged_and_mismatched_exposures_are_refused():
    panel = ff.datasets.synthetic_universe(n_assets=30, n_days=80, seed=2)
    ex = ff.Exposures.from_panel(panel)
    res = ff.FactorModel().fit(panel, ex)
    risk = ff.RiskModel(min_periods=5, specific_min_periods=5, specific_blend_periods=5).fit(res)
    before = {k: v for k, v in vars(risk).items()}
    cov = risk.factor_covariance.copy()
    with pytest.raises(ValueError, match="keep_dates"):
        risk.fit(res, keep_dates=[0, 10**6])  # a bad argument of the refit
    with pytest.raises(ValueError, match="newey_west_lags"):
        copy.copy(risk).fit(ff.FactorModel().fit(panel.select(dates=panel.dates[:3]),
                                                 _select(ex, 3)))  # 3 dates, 5 lags
    assert all(vars(risk)[k] is v for k, v in before.items())
    assert_array_equal(risk.factor_covariance, cov)
    # exposures without a market factor against a model with one: refused, never mis-mapped
    no_market = ff.Exposures(ex.styles, ex.industry, style_names=ex.style_names,
                             industry_names=ex.industry_names, market=False,
                             dates=ex.dates, assets=ex.assets)
    with pytest.raises(ValueError, match="market"):
        ff.FactorModel().fit(panel, no_market)
    with pytest.raises(ValueError, match="factor_returns"):
        ff.RiskModel.from_arrays(res.factor_returns, res.residuals, no_market, panel["market_cap"])
    with pytest.raises(ValueError, match="factor_covariance"):
        ff.RiskModel.from_covariance(risk.factor_covariance, risk.specific_variance, no_market)


def _select(ex, n):
    return ff.Exposures(ex.styles[:n], ex.industry[:n], style_names=ex.style_names,
                        industry_names=ex.industry_names, dates=ex.dates[:n], assets=ex.assets)


# --- 5. numerical range -----------------------------------------------------------------------------


def test_family5_one_huge_value_does_not_zero_the_date():
    # (1e155)^2 overflows: the whole date used to come back as zeros from standardize (fused
    # path too). The z-scores are scale-free: oracle = numpy on the values scaled by 2^-600.
    for big in (1e154, 1e155, 1e200, 1e300, 1.7e308):
        x = np.array([[1.0, 2.0, 3.0, big], [4.0, np.nan, 5.0, 6.0]])
        scale = np.array([[2.0**-600], [1.0]])  # per date: the second is ordinary
        want = baseline.standardize(x * scale)
        assert_allclose(ff.standardize(x), want, rtol=1e-14)
        assert_allclose(ff.standardize(x)[0], [-0.5, -0.5, -0.5, 1.5], rtol=1e-12)
        for method in ("sigma", "mad", "quantile"):
            lim = 0.1 if method == "quantile" else 3.0
            fused = ff.standardize(x, winsorize=method, limit=lim)
            two_calls = ff.standardize(ff.winsorize(x, method, lim))
            assert_array_equal(fused, two_calls)
            assert np.isfinite(fused[:, [0, 2, 3]]).all() and (fused[0] != 0).any()
        w = np.array([[1e300, 1e300, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0]])  # weight sums overflow too
        got = ff.standardize(x, weights=w)
        assert_allclose(got, baseline.standardize(x * scale, weights=w * 2.0**-600), rtol=1e-12)
    # A bad tick leaving a rolling window no longer leaves its rounding error behind
    r = np.array([[0.01], [-0.02], [1e10], [0.005], [0.01], [-0.01], [0.02]])
    got = ff.rolling_std(r, 2)
    assert_allclose(got[4:], baseline.rolling_std(r, 2)[4:], rtol=1e-12)
    assert_allclose(got[2:4], baseline.rolling_std(r, 2)[2:4], rtol=1e-12)
    # and a regression with a huge style is solved, not NaN
    rng, ret, cap = _panel(T=3, N=50)
    sty = rng.normal(size=(3, 50, 1))
    a = ff.cross_section_regress(ret, sty)
    b = ff.cross_section_regress(ret, sty * 1e200)
    assert_allclose(b.factor_returns[:, 1] * 1e200, a.factor_returns[:, 1], rtol=1e-10)
    assert_allclose(b.residuals, a.residuals, rtol=1e-10, atol=1e-16)


# --- 6. NaN-heavy inputs give NaN, not exceptions -------------------------------------------------


@pytest.mark.parametrize("n_dates", [1, 2, 3])
def test_family6_few_estimable_dates_give_nan_and_a_reason(n_dates):
    rng = np.random.default_rng(n_dates)
    T, N = 12, 30
    x = rng.normal(size=(T, N, 1))
    y = 0.01 * x[:, :, 0] + rng.normal(0, 0.05, (T, N))
    y[n_dates:] = np.nan  # only 1-3 dates can be estimated
    res = ff.fama_macbeth(y, x, cov="kernel")
    assert np.isnan(res.std_errors).all()
    assert "Newey-West" in res.reason and res.reason in str(res.summary())
    panel = ff.datasets.synthetic_universe(n_assets=30, n_days=40, seed=3)
    ex = ff.Exposures.from_panel(panel)
    ret = panel["returns"].copy()
    ret[1 + n_dates:] = np.nan
    fm = ff.FactorModel().fit(ret, ex, cap=panel["market_cap"])
    assert np.isnan(fm.nw_std_errors).all()
    assert "Newey-West standard errors are NaN" in str(fm.summary())


# --- 7. exception types and messages -----------------------------------------------------------


def test_family7_only_value_and_type_errors_naming_the_argument(tmp_path):
    with pytest.raises(ValueError, match="returns must be a rectangular array"):
        ff.robust_clip_returns([[0.1, 0.2], [0.3]], 3.0)
    clipped, n = ff.robust_clip_returns(np.zeros((4, 0)), 3.0)  # N = 0: no numpy reduction error
    assert clipped.shape == (4, 0) and n.tolist() == [0, 0, 0, 0]
    panel = ff.datasets.synthetic_universe(n_assets=20, n_days=60, seed=4)
    with pytest.raises(TypeError, match="liquidity_window"):
        ff.descriptors.compute_descriptors(panel, liquidity_window=2.5)
    with pytest.raises(ValueError, match="vol_half_life"):
        ff.descriptors.compute_descriptors(panel, vol_half_life=-1.0)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(ValueError, match=r"empty\.csv"):
        ff.read_panel(str(empty))
    with pytest.raises(TypeError, match="masked array"):
        ff.standardize(np.ma.masked_array(np.ones((2, 3)), mask=np.eye(2, 3, dtype=bool)))
    with pytest.raises(ValueError, match="residuals"):
        ff.evaluate.residual_correlation(np.zeros((0, 5)))
    with pytest.raises(TypeError, match="exposures"):
        ff.combined_score(np.zeros((3, 4)))
    with pytest.raises(ValueError, match="read_panel|source|no rows"):
        ff.read_panel(pl.DataFrame({"date": [], "asset": [], "close": []},
                                   schema={"date": pl.Date, "asset": pl.String, "close": pl.Float64}))
    with pytest.raises(TypeError, match="directory"):
        ff.datasets.load_sample(3)


# --- 8. panics stay quiet, Ctrl-C works ---------------------------------------------------------


def test_family8_panic_is_a_quiet_runtime_error(capfd):
    # (Ctrl-C in every long kernel: tests/test_bindings.py::test_ctrl_c_stops_a_long_kernel)
    import ferrofactor._core as core

    with pytest.raises(RuntimeError, match="internal error"):
        core._panic_for_test()
    assert capfd.readouterr().err == ""


# --- 9. absurd date spans ---------------------------------------------------------------------------


def test_family9_absurd_date_spans_are_refused_before_allocating():
    # 1970 and the year 5,000,000 used to allocate 6.8 GB
    far = pl.DataFrame({"date": [dt.date(1970, 1, 1), dt.date(1970, 1, 2)], "asset": ["A", "A"], "x": [1.0, 2.0]})
    far = far.with_columns(pl.Series("date", [0, 5_000_000 * 365], dtype=pl.Int32).cast(pl.Date))
    with pytest.raises(ValueError, match="span at most 200 years"):
        ff.read_panel(far)
    with pytest.raises(ValueError, match="span at most 200 years"):
        ff.Panel(np.array([0, 5_000_000 * 365], dtype="datetime64[D]"), ["A"])


# --- found by the generated suite in the modules merged later (time series, metrics, evaluation,
# --- Dask); one test per notable break, its family in the name


def test_family3_flags_of_panel_and_dask_exposures_are_real_booleans():
    # Panel.to_polars(drop_missing="False") dropped rows (a non-empty string is truthy);
    # DaskExposures(market="False") stored market=True.
    da = pytest.importorskip("dask.array")
    import ferrofactor.dask as ffd

    p = ff.datasets.synthetic_universe(n_assets=5, n_days=10, seed=1)
    for bad in ("False", 0, None, 1.0):
        with pytest.raises(TypeError, match="drop_missing must be True or False"):
            p.to_polars(drop_missing=bad)
    styles = da.from_array(np.zeros((10, 5, 1)), chunks=(5, -1, -1))
    with pytest.raises(TypeError, match="market must be True or False"):
        ffd.DaskExposures(styles, None, ["s"], [], "False", None, None)
    ex = ffd.DaskExposures(styles, None, ["s"], [], False, None, None)
    assert ex.market is False and ex.factor_names == ["s"]


def test_family5_drawdown_and_annual_return_of_an_overflowing_wealth_path():
    # The wealth path (1 + r) cumulated overflows float64 although the drawdown and the
    # annualised return are ordinary numbers: max_drawdown gave -inf, annual_return +inf.
    r = np.array([1e200, -0.5, 0.25])  # wealth 1e200, then half of it, then +25%
    assert ff.metrics.max_drawdown(r) == pytest.approx(-0.5, rel=1e-15)
    r = np.array([1.7e308, 1.0 - 1.7e308])  # q = W / peak = 1 - 1.7e308 after the second period
    assert ff.metrics.max_drawdown(r) == pytest.approx(-1.7e308, rel=1e-12)
    daily = np.full(2520, 0.5)  # 1.5 ** 2520 overflows; per year it is 1.5 ** 252 - 1
    assert ff.metrics.annual_return(daily) == pytest.approx(1.5**252 - 1, rel=1e-12)


def test_family5_bias_statistic_of_huge_standardised_returns():
    # sum of squares of z = r / vol around 1e200 overflowed: the bias came back inf.
    r = np.array([[1e200, -1e200, 3e199], [1.0, 2.0, 3.0]]).T
    out = ff.evaluate.bias_statistic(r, np.ones((3, 2))).bias
    z = r[:, 0] / 1e199  # the same numbers at ordinary magnitude (oracle: numpy)
    assert_allclose(out, [np.std(z, ddof=1) * 1e199, 1.0], rtol=1e-14)


def test_family7_dask_on_an_empty_date_axis_and_misshapen_numpy_inputs():
    # cross_section_regress / market_return on T = 0 read a block that does not exist
    # (AttributeError from the worker); a numpy array with the wrong number of dates gave
    # dask's "Chunks do not add up to shape" without naming the argument.
    da = pytest.importorskip("dask.array")
    import ferrofactor.dask as ffd

    empty = da.from_array(np.zeros((0, 3)), chunks=(1, -1))
    res = ffd.cross_section_regress(empty).compute()
    want = ff.cross_section_regress(np.zeros((0, 3)))
    assert res.factor_returns.shape == want.factor_returns.shape == (0, 1)
    assert ffd.market_return(empty).compute().shape == (0,)
    x = da.from_array(np.ones((4, 3)), chunks=(2, -1))
    with pytest.raises(ValueError, match="weights has 5 dates, expected 4"):
        ffd.winsorize(x, weights=np.ones((5, 3)))
    with pytest.raises(TypeError, match="industry is a numpy masked array"):
        ffd.winsorize(x, industry=np.ma.masked_array(np.zeros((4, 3), int)))


def test_family7_new_modules_name_the_argument():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="returns must be a rectangular array"):
        ff.metrics.annual_volatility([[0.1, 0.2], [0.3]])
    with pytest.raises(TypeError, match="factor_names must be a sequence"):
        ff.time_series_regress(rng.normal(size=(20, 2)), rng.normal(size=(20, 1)), factor_names=123)
    with pytest.raises(TypeError, match="contributions must be a numeric array"):
        ff.attribution.link_contributions([["a"]], [0.1])
    with pytest.raises(ff.NotFittedError, match="model is a FactorModel that is not fitted"):
        ff.attribute(np.zeros((3, 2)), ff.FactorModel())
    res = ff.time_series_regress(rng.normal(size=(20, 2)), rng.normal(size=(20, 1)))
    with pytest.raises(TypeError, match="ax must be a matplotlib Axes"):
        res.plot_exposures(0, ax="ax")


def test_misparse_monitor_statuses_and_flags_are_refused():
    # monitor.solver("optimal") read the string character by character (7 alerts for 'o', 'p',
    # ...); ok="optimal" made every status but single letters an alert; SCHEMA("False") was a
    # dated schema. Each is refused, naming the argument.
    with pytest.raises(TypeError, match="statuses must be a sequence"):
        ff.monitor.solver("optimal")
    with pytest.raises(TypeError, match="ok must be a sequence"):
        ff.monitor.solver(["optimal", "infeasible"], ok="optimal")
    out = ff.monitor.solver(["optimal", "infeasible"])
    assert out["message"].to_list() == ["optimizer: solve status 'infeasible'"]
    with pytest.raises(TypeError, match="dated must be True or False"):
        ff.monitor.SCHEMA("False")
    with pytest.raises(TypeError, match="last_only must be True or False"):
        ff.monitor.factor_decay(np.zeros((40, 1)), last_only="False")
    with pytest.raises(ValueError, match=r"dates has shape \(2,\), expected \(3,\)"):
        ff.monitor.turnover(np.array([0.9, 0.9, 0.9]), dates=np.arange(2))


def test_family3_rebalance_rows_bounded_before_allocating():
    # without dates, end=10**9 made np.arange allocate 8 GB; positions are ints, not floats
    rebalance_rows = __import__("ferrofactor.backtest", fromlist=["rebalance_rows"]).rebalance_rows
    with pytest.raises(ValueError, match="end must be <= 73049"):
        rebalance_rows("daily", None, 0, 10**9)
    with pytest.raises(TypeError, match="end must be an integer"):
        rebalance_rows("daily", None, 0, 2.0)
    d = np.datetime64("2024-01-01") + np.arange(10)
    with pytest.raises(ValueError, match="end must be <= 9"):
        rebalance_rows(2, d, 0, 10)
    assert rebalance_rows(3, d, 1, 9).tolist() == [1, 4, 7]


def test_family5_dask_specific_variance_carries_an_overflowed_sum():
    # a residual of 1e200 overflows the decayed sum of squares to +inf; the next date block
    # refused that carried state ("state is not a state of this recursion"). Blocks of 5 dates
    # now give the single-block result bit for bit (both NaN/inf where the square overflowed).
    da = pytest.importorskip("dask.array")
    import ferrofactor.dask as ffd

    panel = ff.datasets.synthetic_universe(n_assets=8, n_days=30, n_industries=2, n_styles=1, seed=2)
    ex = ff.Exposures.from_panel(panel, descriptor_options={"window": 5, "liquidity_window": 3})
    res = ff.FactorModel().fit(panel, ex)
    e = np.array(res.residuals)
    e[12, 3] = 1e200
    settings = {"specific_half_life": 5.0, "specific_min_periods": 3, "specific_blend_periods": 2}
    outs = []
    for chunks in (30, 5):
        dex = ffd.DaskExposures(da.from_array(ex.styles, chunks=(chunks, -1, -1)),
                                da.from_array(ex.industry, chunks=(chunks, -1)), ex.style_names,
                                ex.industry_names, ex.market, ex.dates, ex.assets)
        parts = ffd.specific_variance(da.from_array(e, chunks=(chunks, -1)), dex,
                                      da.from_array(panel["market_cap"], chunks=(chunks, -1)), settings)
        outs.append([np.asarray(p.compute()) for p in parts])
    for one, blocks in zip(*outs):
        assert_array_equal(blocks, one)
    assert not np.isfinite(outs[0][1][12:, 3]).all()  # the raw estimate of asset 3 overflowed
