"""ff.fama_macbeth against linearmodels' FamaMacBeth (the oracle), on real and random panels.

linearmodels 7.1 is the reference: FamaMacBeth(...).fit(cov_type=..., bandwidth=...) with its
defaults (debiased=True, Bartlett kernel, Newey-West automatic bandwidth). Tolerance 1e-10
relative: the maths is the same; only the per-date solver differs (Cholesky in Rust vs lstsq).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from helpers import random_panel
from linearmodels import FamaMacBeth
from linearmodels.datasets import french

import ferrofactor as ff
from ferrofactor import baseline
from ferrofactor.inference import fama_macbeth_inference, newey_west_bandwidth

RTOL = 1e-10


def to_linearmodels(y, x, intercept=True, names=None):
    """(T, N) and (T, N, K) arrays → linearmodels' (entity, time) MultiIndex data."""
    T, N, K = x.shape
    names = names or [f"x{k}" for k in range(K)]
    idx = pd.MultiIndex.from_product(
        [np.arange(N), pd.date_range("2000-01-31", periods=T, freq="ME")], names=["entity", "time"]
    )
    dep = pd.Series(np.asarray(y).T.ravel(), index=idx, name="y")
    exog = pd.DataFrame({n: x[:, :, k].T.ravel() for k, n in enumerate(names)}, index=idx)
    if intercept:
        exog.insert(0, "const", 1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # dates with deficient rank are reported by a warning
        return FamaMacBeth(dep, exog)


def assert_same(ours, theirs, rtol=RTOL):
    np.testing.assert_allclose(ours.params, theirs.params.values, rtol=rtol, atol=0)
    np.testing.assert_allclose(ours.std_errors, theirs.std_errors.values, rtol=rtol, atol=0)
    np.testing.assert_allclose(ours.tstats, theirs.tstats.values, rtol=rtol, atol=0)
    np.testing.assert_allclose(ours.pvalues, theirs.pvalues.values, rtol=rtol, atol=0)
    np.testing.assert_allclose(ours.cov, theirs.cov.values, rtol=rtol, atol=0)
    assert ours.df_resid == theirs.df_resid
    # per-date estimates: linearmodels lists only dates that have data
    lm_all = theirs.all_params.values
    ok = ours.n_obs > 0
    np.testing.assert_allclose(ours.estimates[ok], lm_all, rtol=1e-9, atol=1e-14)


# --- real data: Ken French's portfolios with rolling betas as characteristics -------------------
@pytest.fixture(scope="module")
def french_panel():
    """Excess returns of the 30 portfolios (T=819 months) and their 60-month rolling betas on
    MktRF, SMB, HML estimated from months t-60..t-1 only (known before month t's return)."""
    d = french.load()
    ports = [c for c in d.columns if c not in ("dates", "MktRF", "SMB", "HML", "Mom", "RF")]
    y = d[ports].to_numpy() - d[["RF"]].to_numpy()  # (T, N) excess returns
    f = d[["MktRF", "SMB", "HML"]].to_numpy()
    T, N = y.shape
    window = 60
    betas = np.full((T, N, 3), np.nan)
    for t in range(window, T):
        X = np.column_stack([np.ones(window), f[t - window : t]])
        coef = np.linalg.lstsq(X, y[t - window : t], rcond=None)[0]  # (4, N)
        betas[t] = coef[1:].T
    return y, betas, ["beta_mkt", "beta_smb", "beta_hml"]


@pytest.fixture(scope="module")
def french_linearmodels(french_panel):
    y, betas, names = french_panel
    return to_linearmodels(y, betas, names=names)  # built once: linearmodels is the slow part


@pytest.mark.parametrize("cov", ["unadjusted", "kernel"])
def test_french_betas_equal_linearmodels(french_panel, french_linearmodels, cov):
    y, betas, names = french_panel
    ours = ff.fama_macbeth(y, betas, cov=cov, names=names)
    theirs = french_linearmodels.fit(cov_type=cov)
    assert ours.n_periods == 819 - 60
    assert ours.names == ["const"] + names
    assert_same(ours, theirs)


def test_french_kernel_given_bandwidth_and_no_intercept(french_panel):
    y, betas, names = french_panel
    y, betas = y[-300:], betas[-300:]  # the last 25 years: keeps linearmodels' time down
    ours = ff.fama_macbeth(y, betas, intercept=False, cov="kernel", bandwidth=12, names=names)
    theirs = to_linearmodels(y, betas, intercept=False, names=names).fit(
        cov_type="kernel", bandwidth=12
    )
    assert ours.bandwidth == 12
    assert_same(ours, theirs)


def test_french_automatic_bandwidth_is_linearmodels_rule(french_panel):
    from linearmodels.iv.covariance import kernel_optimal_bandwidth

    y, betas, _ = french_panel
    ours = ff.fama_macbeth(y, betas, cov="kernel")
    est = ours.estimates[np.all(np.isfinite(ours.estimates), axis=1)]
    e = est - est.mean(0)
    stde = np.sum(e / e.std(0), axis=1)
    assert ours.bandwidth == kernel_optimal_bandwidth(stde, "bartlett") == newey_west_bandwidth(stde)


# --- random panels with missing values, an all-NaN date and thin dates -------------------------
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("cov", ["unadjusted", "kernel"])
def test_random_panel_with_missing_values(seed, cov):
    p = random_panel(T=40, N=80, K=3, seed=seed, missing=0.15)
    y = p.returns.copy()
    # a thin date: fewer observations than parameters → no estimate, not counted (as linearmodels)
    y[5, 3:] = np.nan
    ours = ff.fama_macbeth(y, p.styles, cov=cov)
    theirs = to_linearmodels(y, p.styles).fit(cov_type=cov)
    assert np.all(np.isnan(ours.estimates[5])) and ours.n_obs[5] <= 3
    assert np.all(np.isnan(ours.estimates[p.all_nan_dates]))
    assert ours.n_periods == 40 - 2
    assert_same(ours, theirs)


def test_estimates_equal_numpy_baseline():
    p = random_panel(T=25, N=60, K=2, seed=4)
    ours = ff.fama_macbeth(p.returns, p.styles)
    est, n_obs = baseline.fama_macbeth_estimates(p.returns, p.styles)
    np.testing.assert_array_equal(ours.n_obs, n_obs)
    np.testing.assert_allclose(ours.estimates, est, rtol=1e-10, atol=1e-15)


def test_inference_hand_worked():
    # three dates, one parameter: b = (1, 2, 6): mean 3, deviations (-2, -1, 3)
    est = np.array([[1.0], [2.0], [6.0], [np.nan]])
    out = fama_macbeth_inference(est, "unadjusted")
    assert out["params"][0] == 3.0
    # var = (4 + 1 + 9) / (3 * 2)
    np.testing.assert_allclose(out["std_errors"][0], np.sqrt(14 / 6), rtol=1e-15)
    # bandwidth 1: Bartlett weight 1/2 on lag 1: Γ1 = (-1)(-2) + 3(-1) = -1 → 14 + 2·½·(−1) = 13
    out = fama_macbeth_inference(est, "kernel", bandwidth=1)
    np.testing.assert_allclose(out["std_errors"][0], np.sqrt(13 / 6), rtol=1e-15)
    assert out["n_periods"] == 3 and out["df_resid"] == 2


def test_column_policy_equals_row_policy_without_partial_gaps():
    rng = np.random.default_rng(3)
    est = rng.standard_normal((60, 3))
    est[10] = np.nan
    for cov in ("unadjusted", "kernel"):
        a = fama_macbeth_inference(est, cov)
        b = fama_macbeth_inference(est, cov, nan_policy="column")
        assert a["bandwidth"] == b["bandwidth"]
        for k in ("params", "std_errors", "tstats", "pvalues"):
            np.testing.assert_allclose(a[k], b[k], rtol=1e-12)
    est[20, 1] = np.nan  # a gap in one parameter only: the others keep date 20
    b = fama_macbeth_inference(est, "unadjusted", nan_policy="column")
    np.testing.assert_array_equal(b["n_periods"], [59, 58, 59])
    np.testing.assert_allclose(b["params"], np.nanmean(est, axis=0), rtol=1e-12)
    np.testing.assert_allclose(
        b["std_errors"], np.nanstd(est, axis=0, ddof=1) / np.sqrt([59, 58, 59]), rtol=1e-12
    )


@pytest.mark.parametrize("level", [1e4, 1e6, 1e7])
def test_characteristics_far_from_zero(level):
    # characteristics in levels (a spread of 1 around 1e6): the slopes, their t-statistics and
    # the R² are those of the centred characteristics; the intercept moves by −level · slopes.
    # Before, the per-date normal equations lost (level / spread)² · ε: slopes 9 % off and
    # t-statistics 46 % off at 1e6, dates dropped at 1e7
    p = random_panel(T=30, N=200, K=2, G=3, missing=0.05, seed=7)
    ref = ff.fama_macbeth(p.returns, p.styles)
    shift = level * np.array([1.0, -3.0])
    res = ff.fama_macbeth(p.returns, p.styles + shift)
    tol = 1e-15 * level * 1e3
    np.testing.assert_allclose(res.params[1:], ref.params[1:], rtol=tol)
    np.testing.assert_allclose(res.tstats[1:], ref.tstats[1:], rtol=tol)
    np.testing.assert_allclose(res.r2, ref.r2, rtol=tol)
    np.testing.assert_allclose(res.params[0], ref.params[0] - shift @ ref.params[1:],
                               rtol=0, atol=tol * abs(shift @ ref.params[1:]))


@pytest.mark.parametrize("cov", ["unadjusted", "kernel"])
@pytest.mark.parametrize("nan_policy", ["row", "column"])
def test_inference_on_estimates_of_any_finite_magnitude(cov, nan_policy):
    """Estimates around 1e-160 (returns of that size) have squares that underflow: the standard
    errors came out 0 and the t-statistics inf or NaN (and beyond 1e154 the squares overflow).
    The inference now scales such columns by powers of two and scales back: the t-statistics are
    those of the unit-scale series and the rest scales with it. Oracle: the unit-scale inference."""
    rng = np.random.default_rng(8)
    b = 0.01 * rng.standard_normal((80, 3)) + [0.002, 0.0, -0.001]
    b[5, 1] = np.nan
    base = fama_macbeth_inference(b, cov, nan_policy=nan_policy)
    for scale in (np.array([1e-160, 1.0, 1e200]), np.array([1e-300, 1e-300, 1e-300])):
        got = fama_macbeth_inference(b * scale, cov, nan_policy=nan_policy)
        np.testing.assert_allclose(got["params"] / scale, base["params"], rtol=1e-14, atol=0)
        np.testing.assert_allclose(got["std_errors"] / scale, base["std_errors"], rtol=1e-13, atol=0)
        np.testing.assert_allclose(got["tstats"], base["tstats"], rtol=1e-13, atol=0)
        assert got["bandwidth"] == pytest.approx(base["bandwidth"], rel=1e-12)
    rng = np.random.default_rng(9)
    x = rng.standard_normal((40, 60, 2))
    y = 0.01 * (x @ [0.5, -0.2] + rng.standard_normal((40, 60)))
    want = ff.fama_macbeth(y, x, cov=cov)
    got = ff.fama_macbeth(1e-160 * y, x, cov=cov)
    np.testing.assert_allclose(got.tstats, want.tstats, rtol=1e-12, atol=0)
    np.testing.assert_allclose(got.std_errors / 1e-160, want.std_errors, rtol=1e-12, atol=0)


def test_threads_give_identical_results():
    p = random_panel(T=30, N=100, K=3, seed=5)
    try:
        ff.set_num_threads(1)
        a = ff.fama_macbeth(p.returns, p.styles, cov="kernel")
        ff.set_num_threads(2)
        b = ff.fama_macbeth(p.returns, p.styles, cov="kernel")
    finally:
        ff.set_num_threads(0)
    np.testing.assert_array_equal(a.estimates, b.estimates)
    np.testing.assert_array_equal(a.std_errors, b.std_errors)


def test_result_is_read_only_and_converts_to_polars():
    p = random_panel(T=12, N=50, K=2, seed=6)
    dates = np.arange("2020-01-01", 12, dtype="datetime64[D]")
    res = ff.fama_macbeth(p.returns, p.styles, names=["value", "size"], dates=dates)
    with pytest.raises(AttributeError):
        res.params = np.zeros(3)
    with pytest.raises(ValueError, match="read-only"):
        res.params[0] = 1.0
    frame = res.to_polars()
    assert frame["factor"].to_list() == ["const", "value", "size"]
    np.testing.assert_array_equal(frame["tstats"].to_numpy(), res.tstats)
    np.testing.assert_array_equal(frame["ci_lower"].to_numpy(), res.conf_int()[:, 0])
    wide = res.to_polars("estimates")
    assert wide.columns == ["date", "const", "value", "size"]
    assert wide.height == 12 and wide["date"].to_numpy()[3] == dates[3]
    assert res.to_polars("dates").columns == ["date", "n_obs", "r2"]
    text = str(res.summary())
    for i, name in enumerate(["const", "value", "size"]):
        line = next(ln for ln in text.splitlines() if ln.startswith(name + " "))
        assert f"{res.tstats[i]:.4f}" in line


# --- bad input ------------------------------------------------------------------------------------
def test_bad_input():
    p = random_panel(T=10, N=30, K=2, seed=7)
    y, x = p.returns, p.styles
    with pytest.raises(ValueError, match="cov must be one of"):
        ff.fama_macbeth(y, x, cov="robust")
    with pytest.raises(ValueError, match=r"characteristics has shape \(10, 29, 2\)"):
        ff.fama_macbeth(y, x[:, :29])
    with pytest.raises(ValueError, match="characteristics must be 3-dimensional"):
        ff.fama_macbeth(y, x[:, :, 0])
    with pytest.raises(TypeError, match="returns must be a numeric array"):
        ff.fama_macbeth(np.full((10, 30), "a"), x)
    with pytest.raises(ValueError, match="bandwidth is only used with cov='kernel'"):
        ff.fama_macbeth(y, x, bandwidth=3)
    with pytest.raises(ValueError, match="bandwidth must be >= 0"):
        ff.fama_macbeth(y, x, cov="kernel", bandwidth=-1)
    # too few dates are not an error: NaN standard errors and the reason, in the summary too
    r = ff.fama_macbeth(y, x, cov="kernel", bandwidth=9)
    assert np.isnan(r.std_errors).all() and "not below the number of dates used" in r.reason
    r3 = ff.fama_macbeth(y[:3], x[:3], cov="kernel")
    assert np.isnan(r3.std_errors).all() and np.isfinite(r3.params).all()
    assert "needs at least 4 periods" in r3.reason and r3.reason in str(r3.summary())
    with pytest.raises(ValueError, match="names has 1 names but characteristics has K = 2"):
        ff.fama_macbeth(y, x, names=["a"])
    with pytest.raises(ValueError, match="at least one column"):
        ff.fama_macbeth(y, x[:, :, :0])
    with pytest.raises(ValueError, match=r"names must be unique, got \['a'\] more than once"):
        ff.fama_macbeth(y, x, names=["a", "a"])
    # linearmodels' FamaMacBeth(dep, [const, x]) spelling: a constant column without intercept
    # would be dropped on every date (no estimate at all); it is refused, naming the intercept
    xc = np.concatenate([np.full((10, 30, 1), 1.0), x], axis=2)
    with pytest.raises(ValueError, match=r"characteristic 'one' is a non-zero constant on every date: an "
                                         r"intercept. Pass intercept=True"):
        ff.fama_macbeth(y, xc, intercept=False, names=["one", "a", "b"])
    # a zero column (a characteristic not yet known) is no intercept: dropped on its dates
    xz = x.copy()
    xz[:2, :, 1] = 0.0
    assert np.isnan(ff.fama_macbeth(y, xz, intercept=False).estimates[:2]).all()


def test_infinite_values_are_refused_not_dropped():
    """An infinite return or characteristic was dropped as if missing, and finite numbers came
    back; linearmodels refuses it ('array must not contain infs or NaNs'), as
    time_series_regress does: a ValueError naming the argument."""
    p = random_panel(T=10, N=30, K=2, seed=7)
    y, x = p.returns.copy(), p.styles.copy()
    y[4, 1] = np.inf
    with pytest.raises(ValueError, match=r"returns must not contain infinite values \(1 found"):
        ff.fama_macbeth(y, x)
    y[4, 1] = np.nan  # missing is fine
    x[3, 2, 0], x[5, 0, 1] = -np.inf, np.inf
    with pytest.raises(ValueError, match=r"characteristics must not contain infinite values \(2 found"):
        ff.fama_macbeth(y, x, cov="kernel")
    x[3, 2, 0] = x[5, 0, 1] = np.nan
    assert np.isfinite(ff.fama_macbeth(y, x).params).all()


def test_levels_on_levels_are_accurate():
    """A characteristic far from zero against its spread (5e4 ± 0.02) and a dependent variable
    far from zero (3e4): the kernel centres the characteristic, but took the bucket sums
    Σ w (x − μ) as Σ w x − μ Σ w, whose rounding (as large as the true sum) times the level of y
    went into the slope: relative errors of 1e-3 against the exact least squares (lstsq: 1e-10).
    The sums are now taken from the centred values."""
    from fractions import Fraction

    rng = np.random.default_rng(1)
    T, N = 4, 30
    x = 5e4 + 0.018 * rng.normal(size=(T, N, 1))
    y = 3e4 + 0.5 * (x[:, :, 0] - 5e4) / 0.018 * 0.01 + rng.normal(0, 0.05, (T, N))
    res = ff.fama_macbeth(y, x)
    for t in range(T):
        xs, ys = [Fraction(float(v)) for v in x[t, :, 0]], [Fraction(float(v)) for v in y[t]]
        mx, my = sum(xs) / N, sum(ys) / N
        b = sum((a - mx) * (c - my) for a, c in zip(xs, ys)) / sum((a - mx) ** 2 for a in xs)
        np.testing.assert_allclose(res.estimates[t], [float(my - b * mx), float(b)], rtol=1e-7)
    # the same through the factor model's kernel: residuals as lstsq's
    cs = ff.cross_section_regress(y, x)
    for t in range(T):
        X = np.column_stack([np.ones(N), x[t, :, 0]])
        e = y[t] - X @ np.linalg.lstsq(X, y[t], rcond=None)[0]
        np.testing.assert_allclose(cs.residuals[t], e, rtol=0, atol=1e-6 * np.abs(e).max())


@pytest.mark.parametrize("cov", ["unadjusted", "kernel"])
def test_exactly_identified_and_collinear_dates_as_linearmodels(cov):
    p = random_panel(T=30, N=50, K=3, seed=0)
    y, x = p.returns.copy(), p.styles.copy()
    ok = np.flatnonzero(np.isfinite(y[7]) & np.all(np.isfinite(x[7]), axis=1))
    y[7, ok[4:]] = np.nan  # exactly P = 4 observations: an exact fit, which linearmodels keeps
    x[9, :, 1] = 0.5  # a constant characteristic, collinear with the intercept: date dropped
    x[11, :, 2] = 2.0 * x[11, :, 0]  # two collinear characteristics: date dropped
    ours = ff.fama_macbeth(y, x, cov=cov)
    assert ours.n_obs[7] == 4 and np.all(np.isfinite(ours.estimates[7]))
    assert np.all(np.isnan(ours.estimates[[9, 11]]))
    assert ours.n_periods == 30 - 3
    assert_same(ours, to_linearmodels(y, x).fit(cov_type=cov))


@pytest.mark.parametrize("cov", ["unadjusted", "kernel"])
def test_without_intercept_a_constant_date_or_a_single_asset_is_estimated_as_linearmodels(cov):
    """Without an intercept a characteristic with no dispersion on a date (a dummy that is 1 for
    every asset that date) is an ordinary regressor, and so is any characteristic of a single
    asset: linearmodels estimates those dates. They were dropped (the kernel takes such a
    column for one an intercept spans), so params differed; N = 1 was refused as "a non-zero
    constant on every date: an intercept", and N = 0 raised numpy's "zero-size array to reduction
    operation fmin"."""
    p = random_panel(T=30, N=50, K=2, seed=3)
    y, x = p.returns.copy(), p.styles.copy()
    x[4, :, 1] = 1.0  # constant on two dates only
    x[9, :, 0] = -0.5
    full = ff.fama_macbeth(p.returns, p.styles, intercept=False, cov=cov).n_periods
    ours = ff.fama_macbeth(y, x, intercept=False, cov=cov)
    assert np.all(np.isfinite(ours.estimates[[4, 9]]))
    assert ours.n_periods == full
    assert_same(ours, to_linearmodels(y, x, intercept=False).fit(cov_type=cov))
    # a zero column is still rank deficient: that date is dropped, as linearmodels drops it
    xz = x.copy()
    xz[4, :, 1] = 0.0
    ours = ff.fama_macbeth(y, xz, intercept=False, cov=cov)
    assert np.all(np.isnan(ours.estimates[4])) and ours.n_periods == full - 1
    assert_same(ours, to_linearmodels(y, xz, intercept=False).fit(cov_type=cov))
    # one asset: each date is exactly identified (y / x)
    y1, x1 = y[:, :1], x[:, :1, :1]
    ours = ff.fama_macbeth(y1, x1, intercept=False, cov=cov)
    np.testing.assert_allclose(ours.estimates[:, 0], y1[:, 0] / x1[:, 0, 0], rtol=1e-12)
    assert_same(ours, to_linearmodels(y1, x1, intercept=False).fit(cov_type=cov))
    # no asset: nothing to estimate, NaN (as with an intercept)
    empty = ff.fama_macbeth(np.zeros((5, 0)), np.zeros((5, 0, 1)), intercept=False, cov=cov)
    assert np.isnan(empty.params).all() and (empty.n_obs == 0).all()


def test_frame_labels_and_given_labels_must_match():
    """A dated frame labels the result; dates/assets given beside it must be its own (they
    relabelled the result silently, where cross_section_regress refused the same inputs)."""
    from ferrofactor.panel import frame_from_field

    rng = np.random.default_rng(0)
    T, N = 30, 40
    dates = pd.bdate_range("2021-01-04", periods=T).values.astype("M8[D]")
    assets = [f"a{i:02d}" for i in range(N)]
    x = rng.standard_normal((T, N, 2))
    y = 0.01 + x @ np.array([0.02, 0.0]) + rng.normal(0, 0.05, (T, N))
    fr = frame_from_field(y, dates, assets)
    ref = ff.fama_macbeth(y, x)
    res = ff.fama_macbeth(fr, x)
    np.testing.assert_array_equal(res.params, ref.params)
    np.testing.assert_array_equal(res.dates, dates)
    np.testing.assert_array_equal(ff.fama_macbeth(fr, x, dates=dates, assets=assets).dates, dates)
    with pytest.raises(ValueError, match="returns and the dates/assets given have different dates: "
                       "position 0 is 2021-01-04 in returns but 2022-01-04 in the dates/assets given"):
        ff.fama_macbeth(fr, x, dates=dates + 365)
    with pytest.raises(ValueError, match="returns and the dates/assets given have different assets: "
                       "position 0 is a00 in returns but a39 in the dates/assets given"):
        ff.fama_macbeth(fr, x, assets=assets[::-1])
    np.testing.assert_array_equal(ff.fama_macbeth(y, x, dates=dates + 365).dates, dates + 365)


def test_concurrent_fits_leave_the_warning_filters_alone():
    # The intercept check silenced nanmin/nanmax's all-NaN warning with warnings.catch_warnings(),
    # which is not thread-safe: threads inside it at once left "ignore RuntimeWarning" installed
    # for the whole process. Now it uses np.fmin/np.fmax.reduce (the same values, no warning).
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(0)
    x = rng.standard_normal((100, 1000, 2))  # large enough for numpy to release the GIL
    x[3] = np.nan  # an all-NaN date
    y = 0.01 + x @ np.array([0.02, 0.0]) + rng.normal(0, 0.05, (100, 1000))
    want = ff.fama_macbeth(y, x, intercept=False).params
    before = list(warnings.filters)
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda i: ff.fama_macbeth(y, x, intercept=False).params, range(200)))
    assert list(warnings.filters) == before
    assert all(np.array_equal(g, want) for g in got)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the all-NaN date warns no more
        ff.fama_macbeth(y, x, intercept=False)
    # a constant column is still recognised as an intercept
    with pytest.raises(ValueError, match="a non-zero constant on every date"):
        ff.fama_macbeth(y, np.concatenate([np.ones((100, 1000, 1)), x], axis=2), intercept=False)
