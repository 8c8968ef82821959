"""FactorModel: explicit lag, agreement with the direct regression, FM summary, clipping, bad input."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import polars as pl
import pytest
from helpers import random_panel
from linearmodels import FamaMacBeth

import ferrofactor as ff
from ferrofactor import baseline
from ferrofactor.regress import cross_section_regress


def exposures_of(p, industries=True, **kw):
    return ff.Exposures(
        p.styles,
        p.industry if industries else None,
        style_names=["value", "momentum", "size"][: p.styles.shape[2]],
        **kw,
    )


def shift(a, lag, fill=np.nan):
    out = np.full_like(a, fill)
    out[lag:] = a[: a.shape[0] - lag]
    return out


# --- the lag -------------------------------------------------------------------------------------
@pytest.mark.parametrize("lag", [1, 2])
def test_lag_perturbing_exposures_at_t_changes_only_t_plus_lag(lag):
    p = random_panel(T=12, N=80, K=3, seed=1)
    model = ff.FactorModel(weights="equal", industry_constraint=None, lag=lag)
    base = model.fit(p.returns, exposures_of(p, industries=False))
    t0 = 3  # t0 + lag avoids the all-NaN date T // 2 = 6
    styles = p.styles.copy()
    styles[t0] += np.random.default_rng(9).standard_normal(styles[t0].shape)
    moved = model.fit(
        p.returns, ff.Exposures(styles, style_names=["value", "momentum", "size"])
    )
    f0, f1 = base.factor_returns, moved.factor_returns
    # exposures at t0 are not used for returns at t0 (nor any date but t0 + lag) ...
    others = np.arange(12) != t0 + lag
    np.testing.assert_array_equal(f0[others], f1[others])
    # ... and they are what explains returns at t0 + lag
    assert np.all(np.abs(f0[t0 + lag] - f1[t0 + lag]) > 1e-8)
    # the first lag dates have no exposures
    assert np.all(np.isnan(f0[:lag])) and np.all(base.n_obs[:lag] == 0)


def test_lag_zero_uses_same_date_exposures():
    p = random_panel(T=8, N=60, K=2, seed=2)
    res = ff.FactorModel(weights="equal", industry_constraint=None, lag=0).fit(
        p.returns, exposures_of(p, industries=False)
    )
    direct = cross_section_regress(p.returns, styles=p.styles, market=True, industry_constraint=None)
    np.testing.assert_array_equal(res.factor_returns, direct.factor_returns)


# --- equals a direct regression on hand-lagged inputs -----------------------------------------------
@pytest.mark.parametrize("industries", [False, True])
def test_fit_equals_direct_regression_on_hand_lagged_exposures(industries):
    p = random_panel(T=15, N=120, K=3, seed=3)
    res = ff.FactorModel().fit(p.returns, exposures_of(p, industries), cap=p.cap)
    cap_l = shift(p.cap, 1)
    direct = cross_section_regress(
        p.returns,
        styles=shift(p.styles, 1),
        industry=shift(p.industry, 1, fill=-1) if industries else None,
        weights=np.sqrt(cap_l),
        market=True,
        industry_constraint="cap" if industries else None,
        cap=cap_l,
        style_names=["value", "momentum", "size"],
    )
    for name in ("factor_returns", "residuals", "r2", "std_errors", "tstats", "n_obs"):
        np.testing.assert_array_equal(getattr(res, name), getattr(direct, name), err_msg=name)
    assert res.factor_names == list(direct.factor_names)
    # the result keeps the unlagged exposures and the cap it was given (nothing shifted or copied)
    np.testing.assert_array_equal(res.exposures.styles, p.styles)
    assert res.cap is not None and np.shares_memory(res.cap, p.cap) and res.lag == 1


def test_custom_weights_are_lagged_like_exposures():
    p = random_panel(T=10, N=70, K=2, seed=4)
    w = np.random.default_rng(1).uniform(0.5, 2.0, size=p.returns.shape)
    res = ff.FactorModel(weights=w, industry_constraint=None).fit(
        p.returns, exposures_of(p, industries=False)
    )
    direct = cross_section_regress(
        p.returns, styles=shift(p.styles, 1), weights=shift(w, 1), market=True,
        industry_constraint=None,
    )
    np.testing.assert_array_equal(res.factor_returns, direct.factor_returns)


# --- Fama-MacBeth summary equals linearmodels ------------------------------------------------------
def linearmodels_fm(y, x, w=None):
    T, N, K = x.shape
    idx = pd.MultiIndex.from_product(
        [np.arange(N), pd.date_range("2001-01-01", periods=T)], names=["entity", "time"]
    )
    dep = pd.Series(y.T.ravel(), index=idx, name="y")
    exog = pd.DataFrame({f"x{k}": x[:, :, k].T.ravel() for k in range(K)}, index=idx)
    exog.insert(0, "const", 1.0)
    kw = {}
    if w is not None:  # linearmodels minimises Σ w e²: the same WLS weights
        keep = np.isfinite(w.T.ravel())
        dep, exog, kw = dep[keep], exog[keep], {"weights": w.T.ravel()[keep]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return FamaMacBeth(dep, exog, **kw)


@pytest.mark.parametrize("weights", ["equal", "sqrt_cap"])
def test_fama_macbeth_summary_equals_linearmodels(weights):
    p = random_panel(T=40, N=90, K=3, seed=5)
    res = ff.FactorModel(weights=weights, industry_constraint=None).fit(
        p.returns, exposures_of(p, industries=False), cap=p.cap
    )
    w = None if weights == "equal" else np.sqrt(shift(p.cap, 1))
    mod = linearmodels_fm(p.returns, shift(p.styles, 1), w)
    plain, nw = mod.fit(), mod.fit(cov_type="kernel")
    rtol = 1e-10
    np.testing.assert_allclose(res.mean_returns, plain.params.values, rtol=rtol)
    np.testing.assert_allclose(res.std_errors_mean, plain.std_errors.values, rtol=rtol)
    np.testing.assert_allclose(res.tstats_mean, plain.tstats.values, rtol=rtol)
    np.testing.assert_allclose(res.pvalues_mean, plain.pvalues.values, rtol=rtol)
    np.testing.assert_allclose(res.nw_std_errors, nw.std_errors.values, rtol=rtol)
    np.testing.assert_allclose(res.nw_tstats, nw.tstats.values, rtol=rtol)
    np.testing.assert_allclose(res.nw_pvalues, nw.pvalues.values, rtol=rtol)
    # T = 40 dates − the lag date − the all-NaN date
    np.testing.assert_array_equal(res.n_periods, 38)


def test_summary_contains_the_numbers():
    p = random_panel(T=30, N=60, K=2, seed=6)
    res = ff.FactorModel(weights="equal", industry_constraint=None, winsorize_returns=4).fit(
        p.returns, exposures_of(p, industries=False)
    )
    summary = res.summary()
    text = str(summary)
    assert res.n_clipped_total > 0

    def header(key):
        line = next(ln for ln in text.splitlines() if key + ":" in ln)
        return line.split(key + ":")[1].split()[0]

    assert header("Clipped returns") == str(res.n_clipped_total)
    assert header("NW bandwidth") == f"{res.nw_bandwidth:g}"
    assert header("Exposure lag") == "1"
    lines = text.splitlines()
    plain_at = lines.index("Plain")
    nw_at = lines.index("Newey-West")
    for i, name in enumerate(res.factor_names):
        p_line = next(ln for ln in lines[plain_at:nw_at] if ln.startswith(name + " "))
        n_line = next(ln for ln in lines[nw_at:] if ln.startswith(name + " "))
        values = [float(v) for v in p_line.split()[1:]] + [float(v) for v in n_line.split()[1:]]
        expected = [res.mean_returns[i], res.std_errors_mean[i], res.tstats_mean[i],
                    res.pvalues_mean[i], res.ci_lower[i], res.ci_upper[i], res.n_periods[i],
                    res.nw_std_errors[i], res.nw_tstats[i], res.nw_pvalues[i],
                    res.nw_ci_lower[i], res.nw_ci_upper[i]]
        np.testing.assert_allclose(values, expected, rtol=6e-4, atol=6e-5)  # 4-5 printed digits
    # the 95% intervals are mean ± t(n − 1) quantile × standard error
    from scipy import stats

    q = stats.t.ppf(0.975, res.n_periods - 1)
    np.testing.assert_allclose(res.nw_ci_upper, res.mean_returns + q * res.nw_std_errors, rtol=1e-14)
    # one format per column: every value of the mean column is printed the same way
    means = [next(ln for ln in lines[plain_at:nw_at] if ln.startswith(n + " ")).split()[1]
             for n in res.factor_names]
    assert len({("e" in m) for m in means}) == 1


def test_result_read_only_and_polars():
    p = random_panel(T=10, N=40, K=2, seed=7)
    dates = np.arange("2021-03-01", 10, dtype="datetime64[D]")
    assets = np.array([f"A{i:03d}" for i in range(40)])
    res = ff.FactorModel(weights="equal", industry_constraint=None).fit(
        p.returns, exposures_of(p, industries=False, dates=dates, assets=assets)
    )
    with pytest.raises(AttributeError):
        res.factor_returns = None
    with pytest.raises(ValueError, match="read-only"):
        res.residuals[1, 1] = 0.0
    wide = res.to_polars()
    assert wide.columns == ["date", "market", "value", "momentum"] and wide.height == 10
    long = res.to_polars("residuals", form="long")
    assert long.columns == ["date", "asset", "residuals"]
    assert long.height == 10 * 40  # one row per (date, asset): joinable back on (date, asset)
    np.testing.assert_array_equal(long["residuals"].to_numpy(), res.residuals.ravel())
    assert long["asset"].to_list()[:2] == ["A000", "A001"]
    s = res.to_polars("summary")
    assert s.columns[0] == "factor"
    np.testing.assert_array_equal(s["nw_tstats"].to_numpy(), res.nw_tstats)
    assert res.to_polars("dates").columns == ["date", "r2", "n_obs", "n_clipped"]
    with pytest.raises(ValueError, match="kind must be one of"):
        res.to_polars("nope")


# --- robust clipping -------------------------------------------------------------------------------
def test_robust_clip_hand_worked():
    r = np.array([
        [0.00, 0.01, 0.02, 0.03, 0.04, 0.50, np.nan],
        [0.01, 0.01, 0.01, 0.01, 0.01, 0.30, 0.01],  # MAD = 0: left alone
        [np.nan] * 7,
    ])
    clipped, n = ff.robust_clip_returns(r, 3.0)
    # median 0.025; |dev| = .025 .015 .005 .005 .015 .475 → MAD 0.015; bound 0.025 + 3·1.4826·0.015
    hi = 0.025 + 3 * 1.4826 * 0.015
    expected = r.copy()
    expected[0, 5] = hi
    np.testing.assert_allclose(clipped, expected, rtol=1e-15)
    np.testing.assert_array_equal(n, [1, 0, 0])
    # a return just inside the bound is untouched; a low outlier clips to the lower bound
    r2 = np.array([[0.00, 0.01, 0.02, 0.03, 0.04, -0.50]])
    c2, n2 = ff.robust_clip_returns(r2, 2.0)
    med, mad = 0.015, np.median(np.abs(r2[0] - 0.015))
    assert c2[0, 5] == pytest.approx(med - 2 * 1.4826 * mad, rel=1e-14) and n2[0] == 1


def test_robust_clip_equals_baseline():
    p = random_panel(T=20, N=100, seed=8)
    r = p.returns.copy()
    r[3, :5] = [0.8, -0.7, 1.5, 0.4, -2.0]
    a, na = ff.robust_clip_returns(r, 4.0)
    b, nb = baseline.robust_clip(r, 4.0)
    np.testing.assert_array_equal(na, nb)
    np.testing.assert_allclose(a, b, rtol=1e-15, equal_nan=True)
    assert na[3] >= 5


def test_winsorize_returns_fits_clipped_returns_and_reports_count():
    p = random_panel(T=12, N=60, K=2, seed=9)
    r = p.returns.copy()
    r[4, 7], r[8, 2] = 3.0, -2.5  # gross outliers
    exp = exposures_of(p, industries=False)
    res = ff.FactorModel(weights="equal", industry_constraint=None, winsorize_returns=5).fit(r, exp)
    clipped, n = ff.robust_clip_returns(r, 5)
    assert n[4] >= 1 and n[8] >= 1
    np.testing.assert_array_equal(res.n_clipped, n)
    assert res.n_clipped_total == int(n.sum())
    ref = ff.FactorModel(weights="equal", industry_constraint=None).fit(clipped, exp)
    np.testing.assert_array_equal(res.factor_returns, ref.factor_returns)
    # residuals are those of the original returns: same fitted values, r − B f
    np.testing.assert_allclose(res.residuals, ref.residuals + (r - clipped), rtol=1e-15,
                               equal_nan=True)
    assert res.residuals[4, 7] > 2.5
    plain = ff.FactorModel(weights="equal", industry_constraint=None).fit(r, exp)
    assert np.all(plain.n_clipped == 0)
    assert not np.allclose(plain.factor_returns[4], res.factor_returns[4])


def test_threads_give_identical_results():
    p = random_panel(T=20, N=100, K=3, seed=10)
    try:
        ff.set_num_threads(1)
        a = ff.FactorModel(weights="equal", industry_constraint=None).fit(
            p.returns, exposures_of(p, industries=False))
        ff.set_num_threads(2)
        b = ff.FactorModel(weights="equal", industry_constraint=None).fit(
            p.returns, exposures_of(p, industries=False))
    finally:
        ff.set_num_threads(0)
    np.testing.assert_array_equal(a.factor_returns, b.factor_returns)
    np.testing.assert_array_equal(a.nw_std_errors, b.nw_std_errors)


# --- bad input -------------------------------------------------------------------------------------
def test_bad_settings():
    with pytest.raises(ValueError, match=r"weights must be one of \['sqrt_cap', 'equal'\]"):
        ff.FactorModel(weights="cap")
    with pytest.raises(ValueError, match="lag must be >= 0"):
        ff.FactorModel(lag=-1)
    with pytest.raises(TypeError, match="lag must be an integer"):
        ff.FactorModel(lag=1.5)
    with pytest.raises(ValueError, match="industry_constraint must be one of"):
        ff.FactorModel(industry_constraint="none")
    with pytest.raises(ValueError, match="winsorize_returns must be > 0"):
        ff.FactorModel(winsorize_returns=0)
    with pytest.raises(TypeError, match="market must be True or False"):
        ff.FactorModel(market="yes")
    with pytest.raises(ValueError, match="weights must be non-negative"):
        ff.FactorModel(weights=-np.ones((3, 4)))
    m = ff.FactorModel(weights="equal", lag=2)
    assert (m.weights, m.lag, m.market) == ("equal", 2, True)  # settings only


def test_bad_fit_input():
    p = random_panel(T=10, N=30, K=2, seed=11)
    exp = exposures_of(p, industries=False)
    m = ff.FactorModel(industry_constraint=None)
    with pytest.raises(ValueError, match=r"exposures has shape \(10, 30\), expected \(10, 29\)"):
        m.fit(p.returns[:, :29], exp, cap=p.cap[:, :29])
    with pytest.raises(ValueError, match=r"cap has shape \(10, 29\), expected \(10, 30\)"):
        m.fit(p.returns, exp, cap=p.cap[:, :29])
    with pytest.raises(ValueError, match="cap is required"):
        m.fit(p.returns, exp)
    with pytest.raises(ValueError, match="cap must be non-negative"):
        m.fit(p.returns, exp, cap=-p.cap)
    with pytest.raises(TypeError, match="exposures must be a ferrofactor.Exposures"):
        m.fit(p.returns, p.styles, cap=p.cap)
    with pytest.raises(ValueError, match=r"weights has shape \(10, 29\), expected \(10, 30\)"):
        ff.FactorModel(weights=np.ones((10, 29)), industry_constraint=None).fit(p.returns, exp)
    with pytest.raises(ValueError, match="exposures.market is False"):
        m.fit(p.returns, exposures_of(p, industries=False, market=False), cap=p.cap)
    with pytest.raises(ValueError, match="returns must be 2-dimensional"):
        m.fit(p.returns[0], exp, cap=p.cap)


@pytest.mark.parametrize("winsorize_returns", [None, 5.0])
def test_fit_refuses_infinite_returns(winsorize_returns):
    """An infinite return is a data error (a zero price upstream): refused with the count, as
    backtest, attribute and fama_macbeth refuse it. It was dropped silently as a missing value
    (and passed through the robust clipping untouched)."""
    p = random_panel(T=10, N=30, K=2, seed=11)
    exp = exposures_of(p, industries=False)
    r = p.returns.copy()
    r[4, 7], r[6, 2] = np.inf, -np.inf
    m = ff.FactorModel(industry_constraint=None, winsorize_returns=winsorize_returns)
    with pytest.raises(ValueError, match=r"returns must not contain infinite values \(2 found; NaN marks a missing"):
        m.fit(r, exp, cap=p.cap)
    assert not hasattr(m, "result_") or m.result_ is None


def test_summary_with_industries_uses_each_factors_own_dates():
    # industry 0 is empty on every third date and industry 5 is never used (helpers.random_panel):
    # their NaN dates must not remove those dates from the other factors' averages
    p = random_panel(T=30, N=150, K=2, G=6, seed=12)
    exp = exposures_of(p, industry_names=[f"industry_{g}" for g in range(6)])
    res = ff.FactorModel().fit(p.returns, exp, cap=p.cap)
    f = res.factor_returns
    names = res.factor_names
    assert names == ["market"] + [f"industry_{g}" for g in range(6)] + ["value", "momentum"]
    count = np.isfinite(f).sum(axis=0)
    assert count[names.index("industry_5")] == 0 and count[0] == 28  # lag date, all-NaN date
    assert count[names.index("industry_0")] < count[0]
    np.testing.assert_array_equal(res.n_periods, count)
    live = count > 0
    with np.errstate(invalid="ignore"):
        np.testing.assert_allclose(res.mean_returns[live], np.nanmean(f[:, live], axis=0), rtol=1e-12)
        np.testing.assert_allclose(
            res.std_errors_mean[live],
            np.nanstd(f[:, live], axis=0, ddof=1) / np.sqrt(count[live]), rtol=1e-12,
        )
    assert np.isnan(res.mean_returns[~live]).all() and np.isfinite(res.nw_tstats[live]).all()
    line = next(ln for ln in str(res.summary()).splitlines() if ln.startswith("industry_5 "))
    assert line.split()[1] == "nan" and line.split()[-1] == "0"


def test_recovers_the_factor_returns_of_the_synthetic_universe():
    # end to end: truth exposures at close t drive returns[t + 1] (lag 1), caps from the panel
    pan = ff.datasets.synthetic_universe(n_assets=500, n_days=150, n_industries=5, n_styles=3,
                                         seed=1)
    tr = pan.truth
    exp = ff.Exposures(tr.exposures, tr.industry, style_names=list(tr.style_names),
                       industry_names=list(tr.industry_names), dates=pan.dates, assets=pan.assets)
    res = ff.FactorModel(winsorize_returns=6).fit(pan["returns"], exp, cap=pan["market_cap"])
    assert res.factor_names == list(tr.factor_names)
    f, g = res.factor_returns, tr.factor_returns
    ok = np.all(np.isfinite(f), axis=1) & np.all(np.isfinite(g), axis=1)
    assert ok.sum() >= 140
    corr = [np.corrcoef(f[ok, i], g[ok, i])[0, 1] for i in range(f.shape[1])]
    assert min(corr) > 0.9, corr
    assert res.n_clipped_total > 0  # Student-t(4) specific returns have outliers
    assert res.to_polars()["date"].to_numpy()[1] == pan.dates[1]


# --- labelled hand-offs ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def small_universe():
    panel = ff.datasets.synthetic_universe(n_assets=150, n_days=320, seed=7)
    return panel, ff.Exposures.from_panel(panel)


def test_a_factor_that_never_varies_leaves_the_others_newey_west_errors_finite():
    """One industry: the cap constraint holds its return at 0 on every date. Its estimates have
    no standardised deviation, so they stay out of the automatic bandwidth (0/0 made it NaN, and
    every factor's Newey-West standard error with it); the market and styles get the bandwidth
    and standard errors of the same model without the industry."""
    rng = np.random.default_rng(0)
    T, N = 120, 80
    r, sty, cap = rng.normal(0, 0.01, (T, N)), rng.normal(size=(T, N, 2)), rng.lognormal(5, 1, (T, N))
    one = ff.FactorModel().fit(r, ff.Exposures(sty, np.zeros((T, N), np.int32), industry_names=["all"]), cap=cap)
    none = ff.FactorModel().fit(r, ff.Exposures(sty), cap=cap)
    assert np.all(one.factor_returns[1:, 1] == 0.0)
    assert one.nw_bandwidth == none.nw_bandwidth == 7
    np.testing.assert_allclose(one.nw_std_errors[[0, 2, 3]], none.nw_std_errors, rtol=1e-12)
    assert one.nw_std_errors[1] == 0.0
    fm = one.fama_macbeth("kernel")
    np.testing.assert_allclose(fm.std_errors[[0, 2, 3]], none.fama_macbeth("kernel").std_errors, rtol=1e-12)


def test_fit_on_a_panel_equals_fit_on_arrays_and_keeps_labels(small_universe):
    panel, ex = small_universe
    a = ff.FactorModel().fit(panel, ex)
    b = ff.FactorModel().fit(panel["returns"], ex, cap=panel["market_cap"])
    np.testing.assert_array_equal(a.factor_returns, b.factor_returns)
    np.testing.assert_array_equal(a.dates, panel.dates)
    np.testing.assert_array_equal(a.assets, panel.assets)
    assert a.factor_names == ex.factor_names and a.exposures is ex
    frame = a.to_polars()
    assert frame["date"].dtype == pl.Date and frame.height == len(panel.dates)
    with pytest.raises(ValueError, match="no field 'nope'"):
        ff.FactorModel(returns_field="nope").fit(panel, ex)


def test_reordered_assets_are_refused_with_the_mismatch_named(small_universe):
    panel, ex = small_universe
    order = np.r_[1, 0, np.arange(2, len(panel.assets))]
    shuffled = panel.select(assets=panel.assets[order])
    with pytest.raises(ValueError, match=r"different assets: position 0 is A00001 in returns but A00000 in exposures.*panel.select"):
        ff.FactorModel().fit(shuffled, ex)
    # aligning as the message says makes it work
    ok = ff.FactorModel().fit(shuffled.select(assets=ex.assets), ex)
    assert np.isfinite(ok.factor_returns).any()


def test_wrong_dates_are_refused_with_the_mismatch_named(small_universe):
    panel, ex = small_universe
    moved = ff.Panel(panel.dates + 1, panel.assets, {k: panel[k] for k in panel.float_fields})
    with pytest.raises(ValueError, match=r"different dates: position 0 is 2015-01-03 in returns but 2015-01-02 in exposures"):
        ff.FactorModel().fit(moved, ex)
    with pytest.raises(ValueError, match="exposures has shape"):
        ff.FactorModel().fit(panel.select(dates=slice(None, panel.dates[-2])), ex)


def test_wide_frame_returns_are_labelled_and_checked(small_universe):
    panel, ex = small_universe
    wide = pl.DataFrame({"date": panel.dates, **{a: panel["returns"][:, j] for j, a in enumerate(panel.assets)}})
    res = ff.FactorModel().fit(wide, ex, cap=panel["market_cap"])
    ref = ff.FactorModel().fit(panel, ex)
    np.testing.assert_array_equal(res.factor_returns, ref.factor_returns)
    swapped = wide.select(["date", *list(panel.assets[::-1])])
    with pytest.raises(ValueError, match="different assets"):
        ff.FactorModel().fit(swapped, ex, cap=panel["market_cap"])
    # rows newest first: matched on dates with the exposures and a cap frame; refused with a cap
    # array, which pairs row by row (its rows would be matched to the wrong dates)
    cap = pl.DataFrame({"date": panel.dates, **{a: panel["market_cap"][:, j] for j, a in enumerate(panel.assets)}})
    res = ff.FactorModel().fit(wide.reverse(), ex, cap=cap.reverse())
    np.testing.assert_array_equal(res.factor_returns, ref.factor_returns)
    with pytest.raises(ValueError, match="returns: the rows of the wide frame are not in date order"):
        ff.FactorModel().fit(wide.reverse(), ex, cap=panel["market_cap"])


def test_weights_frame_is_matched_on_its_labels(small_universe):
    """FactorModel(weights=<frame>) keeps the frame's labels and fit compares them with those of
    returns, exposures and cap (as it does for a cap frame); a frame with its columns reversed
    was used by position."""
    from ferrofactor.panel import frame_from_field

    panel, ex = small_universe
    w = np.sqrt(np.nan_to_num(panel["market_cap"]))
    ref = ff.FactorModel(weights=w).fit(panel, ex)
    same = ff.FactorModel(weights=frame_from_field(w, panel.dates, panel.assets)).fit(panel, ex)
    np.testing.assert_array_equal(same.factor_returns, ref.factor_returns)
    np.testing.assert_array_equal(same.regression_weights, w)
    model = ff.FactorModel(weights=frame_from_field(w[:, ::-1], panel.dates, panel.assets[::-1]))
    with pytest.raises(ValueError, match="weights and returns have different assets: position 0 is "
                       f"{panel.assets[-1]} in weights but {panel.assets[0]} in returns"):
        model.fit(panel, ex)
    with pytest.raises(ValueError, match="weights and exposures have different assets"):
        model.fit(panel["returns"][:, ::-1], ex, cap=panel["market_cap"])
    assert model.result_ is None  # a failed fit changes nothing
    moved = ff.FactorModel(weights=frame_from_field(w, panel.dates + 1, panel.assets))
    with pytest.raises(ValueError, match="weights and returns have different dates"):
        moved.fit(panel, ex)
    # an array assigned to weights later carries no labels
    moved.weights = w
    np.testing.assert_array_equal(moved.fit(panel, ex).factor_returns, ref.factor_returns)
    # a weights array pairs row by row: a returns frame beside it must be in date order
    wide = frame_from_field(panel["returns"], panel.dates, panel.assets)
    with pytest.raises(ValueError, match="returns: the rows of the wide frame are not in date order"):
        ff.FactorModel(weights=w).fit(wide.reverse(), ex, cap=frame_from_field(panel["market_cap"], panel.dates, panel.assets))


def test_cap_frame_is_matched_with_the_exposures_labels(small_universe):
    """Beside returns without labels (an array), a cap frame is compared with the exposures'
    labels, as a weights frame is: a cap frame with its columns reversed was used by position
    (another asset's cap: other weights, another constraint, factor returns off by 4e-2)."""
    from ferrofactor.panel import frame_from_field

    panel, ex = small_universe
    ref = ff.FactorModel().fit(panel["returns"], ex, cap=panel["market_cap"])
    same = ff.FactorModel().fit(panel["returns"], ex, cap=frame_from_field(panel["market_cap"], panel.dates, panel.assets))
    np.testing.assert_array_equal(same.factor_returns, ref.factor_returns)
    rev = frame_from_field(panel["market_cap"][:, ::-1], panel.dates, panel.assets[::-1])
    with pytest.raises(ValueError, match="^cap and exposures have different assets: position 0 is "
                       f"{panel.assets[-1]} in cap but {panel.assets[0]} in exposures"):
        ff.FactorModel().fit(panel["returns"], ex, cap=rev)


def test_pandas_frames_dates_by_tickers_are_matched_on_their_labels(small_universe):
    """A (T, N) pandas DataFrame (DatetimeIndex × one column per ticker) keeps its labels, as a
    wide Polars frame does: returns, cap and weights with their columns reversed (or their dates
    moved) were read as bare arrays, by position (another asset's return, cap or weight)."""
    panel, ex = small_universe

    def pdf(v, dates=panel.dates, assets=panel.assets):
        return pd.DataFrame(v, index=pd.DatetimeIndex(dates), columns=list(assets))

    r, cap = panel["returns"], panel["market_cap"]
    w = np.sqrt(np.nan_to_num(cap))
    ref = ff.FactorModel().fit(r, ex, cap=cap)
    same = ff.FactorModel().fit(pdf(r), ex, cap=pdf(cap))
    np.testing.assert_array_equal(same.factor_returns, ref.factor_returns)
    np.testing.assert_array_equal(same.dates, panel.dates)
    rev = panel.assets[::-1]
    with pytest.raises(ValueError, match=f"^returns and exposures have different assets: position 0 is {rev[0]}"):
        ff.FactorModel().fit(pdf(r[:, ::-1], assets=rev), ex, cap=cap)
    with pytest.raises(ValueError, match=f"^cap and exposures have different assets: position 0 is {rev[0]}"):
        ff.FactorModel().fit(r, ex, cap=pdf(cap[:, ::-1], assets=rev))
    with pytest.raises(ValueError, match="cap and returns have different dates"):
        ff.FactorModel().fit(pdf(r), ex, cap=pdf(cap, dates=panel.dates + 1))
    wref = ff.FactorModel(weights=w).fit(panel, ex)
    np.testing.assert_array_equal(ff.FactorModel(weights=pdf(w)).fit(panel, ex).factor_returns, wref.factor_returns)
    with pytest.raises(ValueError, match="weights and returns have different assets"):
        ff.FactorModel(weights=pdf(w[:, ::-1], assets=rev)).fit(panel, ex)
    # rows newest first: matched on dates beside labelled partners, refused beside a cap array
    np.testing.assert_array_equal(
        ff.FactorModel().fit(pdf(r).iloc[::-1], ex, cap=pdf(cap).iloc[::-1]).factor_returns, ref.factor_returns)
    with pytest.raises(ValueError, match=r"returns \(a pandas DataFrame indexed by date\) is not in date order"):
        ff.FactorModel().fit(pdf(r).iloc[::-1], ex, cap=cap)
    # the default RangeIndex on both axes is an array, read by position
    np.testing.assert_array_equal(ff.FactorModel().fit(pd.DataFrame(r), ex, cap=cap).factor_returns, ref.factor_returns)


def test_lag_must_be_below_the_number_of_dates_and_failed_fit_changes_nothing(small_universe):
    panel, ex = small_universe
    m = ff.FactorModel(lag=1)
    first = m.fit(panel, ex)
    big = ff.FactorModel(lag=10**9)
    with pytest.raises(ValueError, match="lag .* must be below the number of dates"):
        big.fit(panel, ex)
    assert big.result_ is None
    with pytest.raises(ValueError):
        m.fit(panel["returns"][:, :10], ex)
    assert m.result is first  # the failed fit left the model as it was
    with pytest.raises(ff.NotFittedError):
        ff.FactorModel().result


def test_a_style_without_dispersion_drops_out_of_that_date_only(small_universe):
    panel, ex = small_universe
    base = ff.FactorModel().fit(panel, ex)
    k = ex.style_names.index("low_vol")
    j = base.factor_names.index("low_vol")
    # warm-up honesty: low_vol needs ~200 days of history; until then its filled exposure is 0 for
    # every asset, so it drops out of those dates, while the market and industries are estimated
    assert np.isnan(base.factor_returns[50:150, j]).all()
    assert np.isfinite(base.factor_returns[50:150, 0]).all()
    assert base.n_dates_estimated[j] < base.n_dates_estimated[0] - 100
    assert np.isfinite(base.factor_returns[301, j])
    styles = ex.styles.copy()
    styles[300, :, k] = np.where(np.isfinite(styles[300, :, k]), 0.0, np.nan)  # no dispersion
    ex0 = ff.Exposures(styles, ex.industry, style_names=ex.style_names,
                       industry_names=ex.industry_names, dates=ex.dates, assets=ex.assets)
    res = ff.FactorModel().fit(panel, ex0)
    assert np.isnan(res.factor_returns[301, j])  # exposures of date 300 explain date 301
    assert np.isfinite(res.factor_returns[301, :j]).sum() >= 10  # market and industries estimated
    # and equal the regression without that style on that date
    other = [n for n in ex.style_names if n != "low_vol"]
    ex1 = ff.Exposures(np.delete(styles, k, axis=2), ex.industry, style_names=other,
                       industry_names=ex.industry_names, dates=ex.dates, assets=ex.assets)
    res1 = ff.FactorModel().fit(panel, ex1)
    keep = [res.factor_names.index(n) for n in res1.factor_names]
    np.testing.assert_allclose(res.factor_returns[301, keep], res1.factor_returns[301], rtol=1e-12)
    assert res.n_dates_estimated[j] == base.n_dates_estimated[j] - 1
    text = str(res.summary())
    assert "Dates estimated" in text
    line = next(ln for ln in text.splitlines() if ln.startswith("low_vol "))
    assert line.split()[-1] == str(res.n_dates_estimated[j])


def test_fama_macbeth_of_the_result_is_a_result_and_few_dates_give_nan_with_a_reason():
    p = random_panel(T=5, N=60, K=2, seed=13)
    r = p.returns.copy()
    r[:3] = np.nan  # only dates 3 and 4 can be estimated
    res = ff.FactorModel(weights="equal", industry_constraint=None).fit(r, exposures_of(p, industries=False))
    fm = res.fama_macbeth()
    assert isinstance(fm, ff.FamaMacBethResult)
    assert np.isnan(res.nw_std_errors).all() and np.isfinite(res.mean_returns).all()
    text = str(res.summary())
    assert "Newey-West standard errors are NaN" in text
    assert "NaN" in fm.reason or "nan" in fm.reason.lower()


def test_fama_macbeth_of_the_result_refuses_a_bandwidth_without_the_kernel():
    """A bandwidth (Newey-West lags) with cov="unadjusted" was silently ignored: plain standard
    errors came back. It is refused, as ff.fama_macbeth refuses it; with "kernel" it is used."""
    p = random_panel(T=40, N=60, K=2, seed=13)
    res = ff.FactorModel(weights="equal", industry_constraint=None).fit(p.returns, exposures_of(p, industries=False))
    with pytest.raises(ValueError, match=r"bandwidth is only used with cov='kernel', got cov='unadjusted'"):
        res.fama_macbeth(cov="unadjusted", bandwidth=5)
    with pytest.raises(ValueError, match="cov must be one of"):
        res.fama_macbeth(cov="hac", bandwidth=5)
    assert res.fama_macbeth(cov="kernel", bandwidth=5).bandwidth == 5
    assert res.fama_macbeth(cov="unadjusted").bandwidth == 0


def test_without_market_the_industries_are_unconstrained():
    # FactorModel documents the industry constraint as a market-factor setting: without a
    # market the industries carry the common level. Before, the default "cap" was passed on to
    # the kernel, which forced the cap-weighted industry returns to sum to zero on every date and
    # pushed the market's move into the residuals.
    p = random_panel(T=12, N=150, K=2, G=5, missing=0.05, seed=21)
    p.returns[:] += 0.03  # a common move the industries must carry
    exp = exposures_of(p, market=False)
    model = ff.FactorModel(market=False, weights="equal", lag=1)
    assert model.industry_constraint is None
    res = model.fit(p.returns, exp, cap=p.cap)
    # oracle: the unconstrained fit, date by date, as a plain least-squares problem
    T, N = p.returns.shape
    G = exp.n_industries
    for t in range(1, T):
        y, codes, st = p.returns[t], p.industry[t - 1], p.styles[t - 1]
        ok = np.isfinite(y) & (codes >= 0) & np.isfinite(st).all(axis=1)
        if ok.sum() < G + 2:
            continue
        dummies = (codes[ok, None] == np.arange(G)[None, :]).astype(float)
        used = dummies.any(axis=0)
        x = np.column_stack([dummies[:, used], st[ok]])
        beta = np.linalg.lstsq(x, y[ok], rcond=None)[0]
        got = res.factor_returns[t, np.r_[np.flatnonzero(used), G + np.arange(st.shape[1])]]
        np.testing.assert_allclose(got, beta, rtol=1e-10, atol=1e-14)
    # the level is in the industry returns (about +3 % each), not in the residuals
    assert np.nanmean(res.factor_returns[1:, :G]) > 0.02
    assert abs(np.nanmean(res.residuals[1:])) < 1e-12


def test_result_model_is_a_copy_of_the_settings():
    # result.model handed out the result's own settings object: reusing it for another study
    # (m = res.model; m.lag = 2; m.fit(...)) changed res.lag, hence the lag res's attribution,
    # risk model and signal evaluation use, silently
    panel = ff.datasets.synthetic_universe(n_assets=60, n_days=120, seed=4)
    ex = ff.Exposures.from_panel(panel)
    res = ff.FactorModel(lag=1).fit(panel, ex)
    w = np.where(np.isfinite(panel["returns"]), 1.0 / 60, 0.0)
    before = ff.attribute(w, res).to_polars()
    m = res.model
    m.lag, m.weights = 2, "equal"
    res2 = m.fit(panel, ex)
    assert res.lag == 1 and res.model.lag == 1 and res.model.weights == "sqrt_cap" and res2.lag == 2
    assert res.model.result_ is None
    assert ff.attribute(w, res).to_polars().equals(before)
