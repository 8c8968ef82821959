"""time_series_regress and alpha_test against statsmodels, per asset, on Ken French's portfolios.

Oracle: statsmodels ``OLS(y, add_constant(F), missing="drop").fit()`` (nonrobust) and
``.fit(cov_type="HAC", cov_kwds={"maxlags": L})`` (Bartlett, no small-sample correction, normal
p-values), one asset at a time, on ``linearmodels.datasets.french`` (the 18 size/value and
size/momentum portfolios' excess returns on MktRF, SMB, HML, monthly 1949-2017). Ragged histories are made by cutting the start,
the end and holes out of some portfolios; statsmodels then regresses the dropped data. Agreement
is required to 1e-10 relative (statsmodels solves with a pseudo-inverse, ferrofactor with a
Cholesky of the shifted normal equations: the same maths, different rounding).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import polars as pl
import pytest
import statsmodels.api as sm
from linearmodels.datasets import french

import ferrofactor as ff
from ferrofactor import timeseries as ts

RTOL = 1e-10
FACTORS = ["MktRF", "SMB", "HML"]


@pytest.fixture(scope="module")
def data():
    d = french.load()
    ports = [c for c in d.columns if c[0] == "S" and c[1].isdigit()]
    y = d[ports].to_numpy() - d[["RF"]].to_numpy()
    f = d[FACTORS].to_numpy()
    # ragged histories: late listing, early delisting, holes, a short one
    y[:120, 0] = np.nan
    y[600:, 1] = np.nan
    y[300:330, 2] = np.nan
    y[::7, 3] = np.nan
    y[:780, 4] = np.nan  # 39 rows left
    dates = d["dates"].to_numpy().astype("datetime64[D]")
    return dict(y=y, f=f, ports=ports, dates=dates, mom=d["Mom"].to_numpy(), frame=d)


def _sm(y, f, cov, lags=None, const=True):
    x = sm.add_constant(f) if const else f
    m = sm.OLS(y, x, missing="drop")
    return m.fit() if cov == "nonrobust" else m.fit(cov_type="HAC", cov_kwds={"maxlags": lags})


def _close(a, b, rtol=RTOL):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=rtol, atol=0)


def _default_lags(n):
    return int(math.floor(4 * (n / 100) ** (2 / 9)))


@pytest.fixture(params=["kernel", "svd"])
def path(request, monkeypatch):
    """Both estimation paths: the kernel's normal equations, and the SVD refit of near-collinear
    designs forced on every asset (a collinearity threshold above 1)."""
    if request.param == "svd":
        monkeypatch.setattr(ts, "COLLINEAR", 2.0)
    return request.param


@pytest.mark.parametrize("cov,lags", [("nonrobust", None), ("hac", 6), ("hac", None), ("hac", 0)])
def test_equals_statsmodels_per_asset_on_french_portfolios(data, cov, lags, path):
    y, f = data["y"], data["f"]
    res = ff.time_series_regress(y, f, cov=cov, lags=lags, factor_names=FACTORS)
    assert res.param_names == ["alpha", *FACTORS]
    assert res.params.shape == (y.shape[1], 4) and res.resid.shape == y.shape
    ci = res.conf_int()
    ci90 = res.conf_int(0.90)
    for i in range(y.shape[1]):
        n = int(np.isfinite(y[:, i]).sum())
        L = None if cov == "nonrobust" else (lags if lags is not None else _default_lags(n))
        o = _sm(y[:, i], f, cov, L)
        assert res.nobs[i] == o.nobs == n
        assert res.lags[i] == (0 if L is None else L)
        _close(res.params[i], o.params)
        _close(res.std_errors[i], o.bse)
        _close(res.tstats[i], o.tvalues)
        _close(res.pvalues[i], o.pvalues)
        _close(ci[i], o.conf_int())
        _close(ci90[i], o.conf_int(alpha=0.10))
        _close(res.r2[i], o.rsquared)
        _close(res.r2_adj[i], o.rsquared_adj)
        _close(res.cov_params[i].diagonal(), np.diag(o.cov_params()))
        used = np.isfinite(y[:, i])
        np.testing.assert_array_equal(np.isfinite(res.resid[:, i]), used)
        np.testing.assert_allclose(res.resid[used, i], o.resid, rtol=0, atol=1e-12 * np.abs(o.resid).max())
        assert res.df_resid[i] == o.df_resid
    _close(res.alpha, res.params[:, 0])
    _close(res.betas, res.params[:, 1:])


def test_without_intercept_equals_statsmodels_uncentred(data, path):
    y, f = data["y"][:, :6], data["f"]
    for cov, lags in (("nonrobust", None), ("hac", 3)):
        res = ff.time_series_regress(y, f, intercept=False, cov=cov, lags=lags)
        assert res.param_names == ["f0", "f1", "f2"] and res.alpha is None
        for i in range(y.shape[1]):
            o = _sm(y[:, i], f, cov, lags, const=False)
            _close(res.params[i], o.params)
            _close(res.std_errors[i], o.bse)
            _close(res.r2[i], o.rsquared)  # uncentred, as statsmodels without a constant
            _close(res.r2_adj[i], o.rsquared_adj)



def test_summary_without_intercept_labels_its_r2_uncentred(data):
    # without an intercept r2 is the uncentred 1 - SSR/Σy² (statsmodels' "R-squared
    # (uncentered)"); the asset summary printed it as a plain "R-squared"
    y, f = data["y"][:, :2], data["f"]
    text = str(ff.time_series_regress(y, f, intercept=False).summary(asset=0))
    assert "R-squared (uncentered):" in text and "Adj. R-squared (uncentered):" in text
    text = str(ff.time_series_regress(y, f).summary(asset=0))
    assert "uncentered" not in text and "R-squared:" in text and "Adj. R-squared:" in text

def test_missing_factor_rows_are_dropped_for_every_asset(data):
    y, f = data["y"][:, 5:9].copy(), data["f"].copy()
    f[10:20, 1] = np.nan
    res = ff.time_series_regress(y, f, cov="hac", lags=4)
    for i in range(y.shape[1]):
        o = _sm(y[:, i], f, "hac", 4)
        _close(res.params[i], o.params)
        _close(res.std_errors[i], o.bse)
        assert np.isnan(res.resid[10:20, i]).all()



@pytest.mark.parametrize("lags", [6, None, 0, 1])
def test_histories_that_end_early_or_start_late_in_one_lane_group(data, lags):
    # Nine assets (a group of eight lanes and one more) mixing every kind of lane the HAC
    # windows treat differently: histories that end 1, 2, 5 rows before the last date (fewer
    # rows than the lag window: the rest of their tail is summed at the end) or long before it,
    # that start late, that end and also have holes, and complete ones; one factor row missing
    # after some of the ends. statsmodels regresses each asset's dropped data.
    y, f = data["y"][:, 5:14].copy(), data["f"].copy()  # complete histories to start from
    T = y.shape[0]
    y[T - 1 :, 0] = np.nan
    y[T - 2 :, 1] = np.nan
    y[T - 5 :, 2] = np.nan
    y[400:, 3] = np.nan
    y[:50, 4] = np.nan
    y[300:, 4] = np.nan
    y[::11, 5] = np.nan
    y[T - 3 :, 5] = np.nan
    y[:200, 6] = np.nan
    f[T - 4, 1] = np.nan
    f[450, 0] = np.nan
    res = ff.time_series_regress(y, f, cov="hac", lags=lags)
    for i in range(y.shape[1]):
        m = np.isfinite(y[:, i]) & np.isfinite(f).all(1)
        n = int(m.sum())
        L = lags if lags is not None else _default_lags(n)
        o = _sm(y[m, i], f[m], "hac", L)  # (the rows dropped here: add_constant refuses NaN)
        assert res.nobs[i] == n and res.lags[i] == L
        _close(res.params[i], o.params)
        _close(res.std_errors[i], o.bse)
        _close(res.cov_params[i], o.cov_params())

def test_min_obs_and_singular_designs_give_nan(data):
    y, f = data["y"][:, 5:11].copy(), data["f"]
    y[:-5, 0] = np.nan  # 5 rows = K + 2: estimable by default
    y[:-4, 1] = np.nan  # 4 rows < K + 2
    res = ff.time_series_regress(y, f)
    assert np.isfinite(res.params[0]).all() and res.nobs[0] == 5
    assert np.isnan(res.params[1]).all() and res.nobs[1] == 4
    assert np.isnan(res.resid[:, 1]).all() and np.isnan(res.pvalues[1]).all()
    # p = 1 + K = 4 parameters (K = 3 French factors): 5 rows leave 1 degree of freedom, 4 rows 0
    assert res.df_resid[:2].tolist() == [1, 0]
    y[:, 1] = np.nan  # no row at all: 0 degrees of freedom, not 0 - p
    assert ff.time_series_regress(y, f).df_resid[1] == 0
    res = ff.time_series_regress(y, f, min_obs=100)
    assert np.isnan(res.params[0]).all() and np.isfinite(res.params[2]).all()
    # a factor constant over the rows: collinear with the intercept
    fc = f.copy()
    fc[:, 2] = 0.01
    res = ff.time_series_regress(y[:, 2:4], fc)
    assert np.isnan(res.params).all() and (res.nobs == np.isfinite(y[:, 2:4]).sum(0)).all()
    assert "no estimate" in str(res.summary(asset=0))


@pytest.mark.parametrize("cov", ["nonrobust", "hac"])
def test_a_constant_y_has_no_r2(data, cov):
    """A y constant on its rows (a cash leg at a fixed rate) has SST = 0: R² is 0/0, NaN, not a
    ratio of rounding noise (its mean in floating point may be an ulp or more off the constant;
    the old kernel gave R² = −0.0002 and 0.038 here). Ragged rows in one lane group; a varying asset beside them is
    unchanged (against statsmodels)."""
    f = data["f"]
    T = len(f)
    y = np.column_stack([np.full(T, 0.01), np.full(T, 0.0123), np.full(T, -3e-5), data["y"][:, 0]])
    y[:40, 1] = np.nan
    y[::7, 2] = np.nan
    res = ff.time_series_regress(y, f, cov=cov)
    assert np.isnan(res.r2[:3]).all() and np.isnan(res.r2_adj[:3]).all()
    np.testing.assert_allclose(res.params[:3, 0], [0.01, 0.0123, -3e-5], rtol=1e-13)
    for i in range(4):
        ok = np.isfinite(y[:, i])
        ref = sm.OLS(y[ok, i], sm.add_constant(f[ok])).fit()
        if i < 3:
            # statsmodels' SST is 0 only where numpy's mean rounds to the constant; here it is
            # rounding noise and its R² a ratio of noise (0.73 for the first): y has no variance
            assert ref.centered_tss < 1e-30 * T
        else:
            assert res.r2[i] == pytest.approx(ref.rsquared, rel=1e-10)
            assert res.r2_adj[i] == pytest.approx(ref.rsquared_adj, rel=1e-10)


def _exact_ols(x, y, lags=None):
    """OLS in rational arithmetic on the float inputs: estimates, standard errors (nonrobust
    or, with ``lags``, HAC without small-sample correction) and residuals: the oracle of near-collinear designs,
    where floating-point references (statsmodels included) lose digits."""
    from fractions import Fraction as Fr

    n, p = x.shape
    xs = [[Fr(float(v)) for v in r] for r in x]
    ys = [Fr(float(v)) for v in y]
    a = [[sum(r[i] * r[j] for r in xs) for j in range(p)] + [Fr(int(i == j)) for j in range(p)] for i in range(p)]
    for c in range(p):  # Gauss-Jordan: (XᵀX)⁻¹
        a[c] = [v / a[c][c] for v in a[c]]
        for r in range(p):
            if r != c:
                a[r] = [u - a[r][c] * v for u, v in zip(a[r], a[c])]
    inv = [row[p:] for row in a]
    xy = [sum(r[i] * v for r, v in zip(xs, ys)) for i in range(p)]
    b = [sum(inv[i][j] * xy[j] for j in range(p)) for i in range(p)]
    e = [v - sum(r[j] * b[j] for j in range(p)) for r, v in zip(xs, ys)]
    if lags is None:
        s2 = sum(v * v for v in e) / (n - p)
        var = [s2 * inv[i][i] for i in range(p)]
    else:
        z = [[r[j] * v for j in range(p)] for r, v in zip(xs, e)]
        meat = [[sum(q[i] * q[j] for q in z) for j in range(p)] for i in range(p)]
        for lag in range(1, lags + 1):
            w = 1 - Fr(lag, lags + 1)
            for i in range(p):
                for j in range(p):
                    meat[i][j] += w * sum(z[t][i] * z[t - lag][j] + z[t - lag][i] * z[t][j] for t in range(lag, n))
        var = [sum(inv[i][k] * meat[k][m] * inv[m][i] for k in range(p) for m in range(p)) for i in range(p)]
    return np.array([float(v) for v in b]), np.sqrt([float(v) for v in var]), np.array([float(v) for v in e])


@pytest.mark.parametrize("cov", ["nonrobust", "hac"])
def test_near_collinear_factors_keep_full_accuracy(cov):
    """A fourth factor f0 + f1 plus a little noise: full rank, condition numbers 2e3 ... 2e8.
    The normal equations alone lose ε · cond² (8e-10 of the estimates at cond 2e5, 7e-8 at
    2e6, all NaN at 2e8); the SVD refit of the near-collinear assets loses about ε · cond: it
    stays within 1e-11 of the exact answer (rational arithmetic), 1e-10 at cond 2e6 and 1e-8
    at 2e8, standard errors (HAC too) included. statsmodels is no oracle here: its HAC standard
    errors are 8e-8 off at cond 2e6 and 6e-4 at 2e8. Residuals and R² follow. An asset with
    ordinary factors beside them is untouched (the kernel's numbers, bit for bit)."""
    rng = np.random.default_rng(1)
    T, lags = 60, (4 if cov == "hac" else None)
    f = rng.normal(0, 0.01, (T, 3))
    y = f @ np.array([1.0, 0.5, -0.3]) + rng.normal(0, 0.01, T)
    for noise, tol in ((1e-3, 1e-12), (1e-5, 1e-11), (1e-6, 1e-10), (1e-8, 1e-8)):
        fn = np.column_stack([f, f[:, 0] + f[:, 1] + noise * rng.normal(size=T)])
        res = ff.time_series_regress(y, fn, cov=cov, lags=lags, resid=True)
        x = sm.add_constant(fn)
        b, se, e = _exact_ols(x, y, lags)
        np.testing.assert_allclose(res.params[0], b, rtol=tol, atol=0, err_msg=str(noise))
        np.testing.assert_allclose(res.std_errors[0], se, rtol=tol, atol=0, err_msg=str(noise))
        np.testing.assert_allclose(res.resid[:, 0], e, rtol=0, atol=tol * np.abs(e).max())
        _close(res.r2[0], 1 - (e @ e) / ((y - y.mean()) @ (y - y.mean())), rtol=max(tol, 1e-12))
        assert res.lags[0] == (lags or 0)
    # an exactly collinear design stays singular (NaN, documented), refitted or not
    fz = np.column_stack([f, f[:, 0] + f[:, 1]])
    assert np.isnan(ff.time_series_regress(y, fz, cov=cov).params).all()
    # ordinary designs never take the refit: the same numbers as with the refit turned off
    ordinary = ff.time_series_regress(np.column_stack([y, y]), f, cov=cov)
    np.testing.assert_array_equal(ordinary.params[0], ordinary.params[1])


def test_a_small_slope_on_collinear_factors_and_a_factor_far_from_zero():
    """(1) A small slope (1e-3) beside a large one on two correlated factors (1/VIF 2e-3 ... 1e-3):
    the normal equations lose ε / c of the estimates' size, so the small slope lost 1.3e-9 of its
    own digits just above the old refit threshold (1e-3); with the threshold at 1e-2 it is refitted
    and within 1e-11 of exact. (2) A factor 1 + 1e-11 z (far from zero against its spread) beside
    mildly collinear ones: the raw column-scaled design looks singular (cond 2e11), the centred
    one does not (the kernel's view): the refit centres it and stays within 1e-11 of exact,
    where it used to give NaN (finite without the other collinearity)."""
    rng = np.random.default_rng(22)
    T = 60
    z, noise = rng.normal(size=(T, 3)), rng.normal(size=T)
    for s in (0.05, 0.034):
        f = 0.01 * np.column_stack([z[:, 0], z[:, 0] + s * z[:, 1], z[:, 2]])
        y = 0.001 + f @ [1e-3, 1.0, 0.5] + 1e-7 * noise
        b, se, _ = _exact_ols(sm.add_constant(f), y)
        res = ff.time_series_regress(y, f)
        np.testing.assert_allclose(res.params[0], b, rtol=1e-11, atol=0)
        np.testing.assert_allclose(res.std_errors[0], se, rtol=1e-11, atol=0)
    rng = np.random.default_rng(9)
    z = rng.normal(size=(T, 4))
    f = np.column_stack([1.0 + 1e-11 * z[:, 0], z[:, 1], z[:, 1] + 0.01 * z[:, 3]])
    y = 0.2 + 3e9 * (f[:, 0] - 1) + f[:, 1] - f[:, 2] + rng.normal(size=T)
    for cov, lags in (("nonrobust", None), ("hac", 3)):
        res = ff.time_series_regress(y, f, cov=cov, lags=lags)
        b, se, e = _exact_ols(sm.add_constant(f, has_constant="add"), y, lags)
        # (α = α_c − shift·β undoes the centring: 7.7e7 − 7.7e7 cancels to 2.5e-12 of α)
        np.testing.assert_allclose(res.params[0], b, rtol=1e-11, atol=0)
        np.testing.assert_allclose(res.std_errors[0], se, rtol=1e-10, atol=0)
        assert res.lags[0] == (lags or 0)
    # an exactly collinear design: no estimates and no lags, whichever path found it singular
    fz = np.column_stack([z[:, 1], z[:, 1]])
    assert np.isnan(ff.time_series_regress(y, fz, cov="hac").params).all()
    assert ff.time_series_regress(y, fz, cov="hac").lags[0] == 0


@pytest.mark.parametrize("cov", ["nonrobust", "hac"])
def test_factors_and_y_of_any_finite_magnitude(cov):
    """The kernel's sums of squares overflow or underflow for columns beyond about 1e±150: factors
    at 1e-160 gave slopes off by 2e-4 and NaN standard errors, at 1e±200 NaN everywhere, and a y
    at 1e-200 standard errors of 0 (infinite t-statistics), without a word, where the other
    kernels (cross-sectional regression, Fama-MacBeth, neutralise, betas, IC) take any finite
    magnitude. Now such columns are fitted scaled by powers of two (exact) and scaled back: the
    results are those of the unscaled problem, scaled, to rounding; ordinary columns are
    untouched (bit for bit). Oracle: the same fit at unit scale."""
    rng = np.random.default_rng(22)
    T, N = 300, 3
    f0 = rng.standard_normal((T, 2))
    y0 = 0.01 * (f0 @ rng.standard_normal((2, N)) + rng.standard_normal((T, N)))
    y0[:20, 1] = np.nan  # a ragged history
    kw = dict(cov=cov, lags=3 if cov == "hac" else None)
    base = ff.time_series_regress(y0, f0, resid=True, **kw)
    for ys, fs in ((1.0, 1e-160), (1.0, 1e-200), (1.0, 1e300), (1e-200, 1.0), (1e200, 1e-100),
                   (np.array([1.0, 1e-300, 1e290]), 1.0)):
        for eager in (True, False):
            res = ff.time_series_regress(y0 * ys, f0 * fs, resid=eager, **kw)
            scale = np.column_stack([np.broadcast_to(ys, N)] + [np.broadcast_to(ys / fs, N)] * 2)
            np.testing.assert_allclose(res.params / scale, base.params, rtol=1e-13, atol=0)
            np.testing.assert_allclose(res.std_errors / scale, base.std_errors, rtol=1e-13, atol=0)
            np.testing.assert_allclose(res.tstats, base.tstats, rtol=1e-12, atol=0)
            np.testing.assert_allclose(res.r2, base.r2, rtol=1e-13, atol=0)
            np.testing.assert_allclose(res.resid / ys, base.resid, rtol=1e-13, atol=1e-16)
    # ordinary magnitudes are the kernel's numbers, bit for bit
    for ys, fs in ((1e80, 1e-80), (1e-80, 1.0)):
        res = ff.time_series_regress(y0 * ys, f0 * fs, **kw)
        out = ts._refit_collinear(ts._core.time_series_regress(y0 * ys, f0 * fs, True, cov, kw["lags"], 4, False),
                                  y0 * ys, f0 * fs, True, cov, kw["lags"])
        assert np.array_equal(res.params, out[0], equal_nan=True)
        assert np.array_equal(res.cov_params, out[1], equal_nan=True)


def test_polars_frames_are_joined_on_date(data):
    y, f, dates, ports = data["y"][:, :4], data["f"], data["dates"], data["ports"][:4]
    # y covers rows 50.., factors rows ..700: the regression runs on the common dates
    yf = pl.DataFrame({"date": dates[50:], **{p: y[50:, j] for j, p in enumerate(ports)}})
    ff_ = pl.DataFrame({"date": dates[:700], **{n: f[:700, j] for j, n in enumerate(FACTORS)}})
    res = ff.time_series_regress(yf, ff_, cov="hac", lags=3)
    ref = ff.time_series_regress(y[50:700], f[50:700], cov="hac", lags=3, factor_names=FACTORS)
    assert res.factor_names == FACTORS and list(res.assets) == ports
    np.testing.assert_array_equal(res.dates, dates[50:700])
    np.testing.assert_array_equal(res.params, ref.params)
    np.testing.assert_array_equal(res.std_errors, ref.std_errors)
    # long y frame, reversed row order: same result
    long = yf.unpivot(index="date", variable_name="asset", value_name="ret").reverse()
    res2 = ff.time_series_regress(long, ff_, cov="hac", lags=3)
    np.testing.assert_array_equal(res2.params, res.params)
    # one frame, one array: lengths must match, the frame's dates label the rows
    res3 = ff.time_series_regress(y[:700], ff_)
    np.testing.assert_array_equal(res3.dates, dates[:700])
    frame = res.to_polars("resid", form="long")
    assert frame.columns == ["date", "asset", "resid"] and frame.height == res.resid.size


def test_a_frame_out_of_date_order_never_pairs_with_an_array(data):
    """Frames come out in date order. Two frames are joined on date whatever their row order;
    an array pairs row by row, so a wide frame whose rows are not in date order is refused
    with it (a vendor file newest first would otherwise be matched to the wrong dates)."""
    y, f, dates, ports = data["y"][:300, :3], data["f"][:300], data["dates"][:300], data["ports"][:3]
    yf = pl.DataFrame({"date": dates, **{p: y[:, j] for j, p in enumerate(ports)}})
    fframe = pl.DataFrame({"date": dates, **{n: f[:, j] for j, n in enumerate(FACTORS)}})
    ref = ff.time_series_regress(y, f, cov="hac", lags=4, factor_names=FACTORS)
    newest_first = yf.reverse()
    with pytest.raises(ValueError, match="y: the rows of the wide frame are not in date order"):
        ff.time_series_regress(newest_first, f[::-1].copy())
    with pytest.raises(ValueError, match="factors: the rows of the wide frame are not in date order"):
        ff.time_series_regress(y[::-1].copy(), fframe.reverse())
    with pytest.raises(ValueError, match=r"^factor_sets\['FF3'\]: .*not in date order"):
        ff.alpha_test(y[:, 0], {"FF3": fframe.sample(fraction=1.0, shuffle=True, seed=1)})
    # in date order, a frame and an array pair row by row; two frames join in any order
    res = ff.time_series_regress(yf, f, cov="hac", lags=4, factor_names=FACTORS)
    np.testing.assert_array_equal(res.params, ref.params)
    res = ff.time_series_regress(newest_first, fframe.sample(fraction=1.0, shuffle=True, seed=2),
                                 cov="hac", lags=4)
    np.testing.assert_array_equal(res.params, ref.params)
    np.testing.assert_array_equal(res.std_errors, ref.std_errors)
    np.testing.assert_array_equal(res.dates, dates)


def test_one_series_and_summary_layout(data):
    y, f = data["y"][:, 10], data["f"]
    res = ff.time_series_regress(y, f, cov="hac", lags=6, factor_names=FACTORS)
    o = _sm(y, f, "hac", 6)
    assert res.params.shape == (1, 4)
    _close(res.params[0], o.params)
    text = str(res.summary())
    assert "OLS Regression Results" in text and "No. Observations:" in text
    assert "Covariance Type:" in text and "HAC" in text and "P>|z|" in text
    for name, coef, se in zip(["alpha", *FACTORS], o.params, o.bse):
        line = next(ln for ln in text.splitlines() if ln.startswith(name + " "))
        assert f"{coef:.4f}" in line and f"{se:.4f}" in line
    assert f"{o.rsquared:.3f}" in text and str(int(o.nobs)) in text
    nr = ff.time_series_regress(y, f)
    assert "P>|t|" in str(nr.summary(asset=0))


def test_summary_over_assets_and_asset_selection(data):
    y, f, ports = data["y"][:, :5], data["f"], data["ports"][:5]
    frame = pl.DataFrame({"date": data["dates"], **{p: y[:, j] for j, p in enumerate(ports)}})
    res = ff.time_series_regress(frame, f)
    table = res.summary().to_polars()
    assert table["asset"].to_list() == ports
    np.testing.assert_array_equal(table["alpha"].to_numpy(), res.alpha)
    np.testing.assert_array_equal(table["f1"].to_numpy(), res.betas[:, 1])
    assert "Dep. Variable:" in str(res.summary(asset=ports[2]))
    assert str(res.summary(asset=ports[2])) == str(res.summary(asset=2))
    with pytest.raises(ValueError, match="asset"):
        res.summary(asset="nope")
    with pytest.raises(ValueError, match="out of range"):
        res.summary(asset=5)
    with pytest.raises(TypeError, match="asset"):
        res.summary(asset=True)


def test_plot_exposures_draws_betas_with_intervals(data):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.figure

    res = ff.time_series_regress(data["y"][:, :3], data["f"], factor_names=FACTORS)
    fig = res.plot_exposures(1)
    assert isinstance(fig, matplotlib.figure.Figure)
    ax = fig.axes[0]
    heights = [p.get_height() for p in ax.patches]
    np.testing.assert_allclose(heights, res.betas[1])
    assert [t.get_text() for t in ax.get_xticklabels()] == FACTORS
    assert ax.get_title() == "Factor exposures of 1 (95% intervals)"
    import matplotlib.pyplot as plt

    plt.close(fig)
    fig = res.plot_exposures(1, level=0.975)  # the level drawn, not its integer part (97%)
    assert fig.axes[0].get_title() == "Factor exposures of 1 (97.5% intervals)"
    plt.close(fig)


def test_results_do_not_depend_on_the_number_of_threads(data):
    n0 = data["y"].shape[1]
    y = np.tile(data["y"], (1, 40))  # 40 copies: several parallel chunks
    f = data["f"]
    before = ff.get_num_threads()
    try:
        ff.set_num_threads(1)
        a = ff.time_series_regress(y, f, cov="hac")
        a_resid = a.resid  # computed on first access: read it under the same thread count
        ff.set_num_threads(2)
        b = ff.time_series_regress(y, f, cov="hac")
        b_resid = b.resid
    finally:
        ff.set_num_threads(0 if before == 0 else before)
    np.testing.assert_array_equal(a.params, b.params)
    np.testing.assert_array_equal(a.cov_params, b.cov_params)
    np.testing.assert_array_equal(a_resid, b_resid)
    # a copy of an asset gets bit-identical results wherever it sits
    np.testing.assert_array_equal(a.params[:n0], a.params[n0 * 29:n0 * 30])


def test_residuals_are_computed_on_first_access_and_guarded_against_changed_inputs(data):
    y, f = data["y"].copy(), data["f"].copy()
    dates = data["dates"]
    frame = pl.DataFrame({"date": dates, **{f"p{j}": y[:, j] for j in range(y.shape[1])}})
    res = ff.time_series_regress(frame, f, cov="hac", lags=3)
    # a one-asset summary finds the asset's sample without the (T, N) panel
    text = str(res.summary(asset="p0"))
    assert res._resid is None
    first = np.flatnonzero(np.isfinite(y[:, 0]))[0]
    assert f"Sample: {dates[first]} - {dates[-1]}" in " ".join(text.split())
    # the panel equals statsmodels' residuals of the HAC fit (they do not depend on the covariance)
    for i in (0, 3, 4):
        o = _sm(y[:, i], f, "hac", 3)
        used = np.isfinite(y[:, i])
        np.testing.assert_allclose(res.resid[used, i], o.resid, rtol=0, atol=1e-12 * np.abs(o.resid).max())
        assert np.isnan(res.resid[~used, i]).all()
    assert res.resid is res.resid  # computed once
    # formed in the same pass on request: the same panel, bit for bit
    eager = ff.time_series_regress(frame, f, cov="hac", lags=3, resid=True)
    assert eager._resid is not None
    np.testing.assert_array_equal(eager.resid, res.resid)
    with pytest.raises(TypeError, match="resid"):
        ff.time_series_regress(y, f, resid="yes")
    # an exact fit (SSR at rounding level) is not mistaken for changed inputs
    exact = 0.001 + f @ np.array([1.0, 0.5, -0.2])
    ex = ff.time_series_regress(exact, f)
    assert np.nanmax(np.abs(ex.resid)) < 1e-15
    # inputs changed in place before the first access: refused, not silently wrong
    res2 = ff.time_series_regress(y, f)
    y[500, 7] += 0.01
    with pytest.raises(ValueError, match="modified in place"):
        res2.resid
    res3 = ff.time_series_regress(y, f, cov="hac")
    f[10, 1] = -f[10, 1]
    with pytest.raises(ValueError, match="modified in place"):
        res3.resid


def test_pvalues_are_computed_on_first_access(data):
    # (Student's t tails for 5000 × 5 estimates cost about half as much as the fit itself)
    y, f = data["y"], data["f"]
    for cov in ("nonrobust", "hac"):
        res = ff.time_series_regress(y, f, cov=cov)
        assert res._pv is None
        pv = res.pvalues
        assert pv is res.pvalues and not pv.flags.writeable
        o = _sm(y[:, 2], f, cov, int(res.lags[2]) if cov == "hac" else None)
        _close(pv[2], o.pvalues)
    # the tables read them too (they do not depend on which was read first)
    res = ff.time_series_regress(y, f)
    table = res.summary().to_polars()
    np.testing.assert_array_equal(table["alpha_pvalue"].to_numpy(), res.pvalues[:, 0])


def test_bad_input_is_refused_with_the_argument_named(data):
    y, f = data["y"][:, :3], data["f"]
    # statsmodels spells it "HAC": refused (options match exactly), the message names the option
    with pytest.raises(ValueError, match=r"^cov must be one of \['nonrobust', 'hac'\], got 'HAC' "
                                         r"\(options are case-sensitive: did you mean 'hac'\?\)$"):
        ff.time_series_regress(y, f, cov="HAC")
    with pytest.raises(ValueError, match=r"^cov must be one of \['nonrobust', 'hac'\], got 'robust'$"):
        ff.time_series_regress(y, f, cov="robust")
    with pytest.raises(ValueError, match="lags"):
        ff.time_series_regress(y, f, lags=3)
    with pytest.raises(ValueError, match="lags"):
        ff.time_series_regress(y, f, cov="hac", lags=-1)
    with pytest.raises(TypeError, match="lags"):
        ff.time_series_regress(y, f, cov="hac", lags=2.5)
    with pytest.raises(ValueError, match="min_obs"):
        ff.time_series_regress(y, f, min_obs=4)
    with pytest.raises(TypeError, match="intercept"):
        ff.time_series_regress(y, f, intercept=1)
    with pytest.raises(ValueError, match="factor_names"):
        ff.time_series_regress(y, f, factor_names=["a", "b"])
    with pytest.raises(ValueError, match="alpha"):
        ff.time_series_regress(y, f, factor_names=["alpha", "b", "c"])
    with pytest.raises(ValueError, match="rows"):
        ff.time_series_regress(y[:-1], f)
    bad = y.copy()
    bad[3, 1] = np.inf
    with pytest.raises(ValueError, match="infinite"):
        ff.time_series_regress(bad, f)
    badf = f.copy()
    badf[3, 1] = -np.inf
    with pytest.raises(ValueError, match="factors.*infinite"):
        ff.time_series_regress(y, badf)
    with pytest.raises(TypeError, match="y"):
        ff.time_series_regress(np.array([["a", "b"]] * 3), f[:3])
    d = data["dates"]
    yf = pl.DataFrame({"date": d[:10], "A": y[:10, 0]})
    fr = pl.DataFrame({"date": d[20:30], "MKT": f[20:30, 0]})
    with pytest.raises(ValueError, match="no date in common"):
        ff.time_series_regress(yf, fr)
    with pytest.raises(ValueError, match="long frame"):
        ff.time_series_regress(yf, yf.with_columns(asset=pl.lit("x")))
    # a date column under another name is refused, naming the argument and the rename
    with pytest.raises(ValueError, match=r"^factors: .*needs a date column 'date'.*frame.rename\(\{'dates': 'date'\}\)"):
        ff.time_series_regress(yf, fr.rename({"date": "dates"}))
    with pytest.raises(ValueError, match=r"^returns: .*needs a date column 'date'.*frame.rename\(\{'day': 'date'\}\)"):
        ff.metrics.summary(yf.rename({"date": "day"}))
    # a LazyFrame that fails to collect: the error names the argument
    with pytest.raises(ValueError, match=r"^could not read returns: ColumnNotFoundError"):
        ff.metrics.summary(yf.lazy().select("date", "nope"))


# ---------------------------------------------------------------------------------------------
# alpha test
# ---------------------------------------------------------------------------------------------


def test_alpha_test_against_statsmodels_on_several_factor_lists(data):
    d = data["frame"]
    strat = data["y"][:, 13]  # a portfolio's excess return, full history
    f3, mom = data["f"], data["mom"]
    sets = {"CAPM": f3[:, :1], "FF3": f3, "FF3+MOM": np.column_stack([f3, mom])}
    res = ff.alpha_test(strat, sets, lags=6, periods_per_year=12)
    assert res.factor_sets == ["CAPM", "FF3", "FF3+MOM"] and res.alpha.shape == (1, 3)
    for m, (name, fs) in enumerate(sets.items()):
        o = _sm(strat, fs, "hac", 6)
        _close(res.alpha[0, m], o.params[0])
        _close(res.alpha_annual[0, m], 12 * o.params[0])
        _close(res.alpha_tstat[0, m], o.tvalues[0])
        _close(res.alpha_pvalue[0, m], o.pvalues[0])
        _close(res.r2[0, m], o.rsquared)
        _close(res.betas(name)[0], o.params[1:])
        assert res.nobs[0, m] == len(d)
    text = str(res.summary())
    head = next(ln for ln in text.splitlines() if "CAPM" in ln and "FF3+MOM" in ln)
    assert head.index("CAPM") < head.index("FF3 ") < head.index("FF3+MOM")
    # unnamed array columns are named after their list ("FF3 f0", ...; frames name them), so the
    # unnamed columns of different lists never share a row of the summary
    assert res.results["FF3+MOM"].factor_names == ["FF3+MOM f0", "FF3+MOM f1", "FF3+MOM f2", "FF3+MOM f3"]
    assert "beta FF3+MOM f3" in text and "beta CAPM f0" in text and "beta FF3 f0" in text
    assert "beta f0" not in text
    long = res.to_polars("alpha", form="long")
    assert long.columns == ["series", "set", "alpha"] and long.height == 3
    table = res.to_polars("table")
    assert table.height == 3 and "alpha_tstat" in table.columns


def test_alpha_test_frames_each_list_on_its_own_dates(data):
    dates, f3, mom = data["dates"], data["f"], data["mom"]
    strat = data["y"][:, 12:14]
    r = pl.DataFrame({"date": dates, "A": strat[:, 0], "B": strat[:, 1]})
    capm = pl.DataFrame({"date": dates, "MktRF": f3[:, 0]})
    carhart = pl.DataFrame({"date": dates[24:], "MktRF": f3[24:, 0], "SMB": f3[24:, 1],
                            "HML": f3[24:, 2], "Mom": mom[24:]})
    res = ff.alpha_test(r, {"CAPM": capm, "4F": carhart}, periods_per_year=12)
    assert res.series_names == ["A", "B"]
    np.testing.assert_array_equal(res.nobs, [[len(dates), len(dates) - 24]] * 2)
    ref = ff.time_series_regress(strat[24:], np.column_stack([f3[24:], mom[24:]]), cov="hac")
    np.testing.assert_array_equal(res.alpha[:, 1], ref.alpha)
    np.testing.assert_array_equal(res.results["4F"].factor_names, ["MktRF", "SMB", "HML", "Mom"])
    assert "A" in str(res.summary()) and "B" in str(res.summary())


def test_alpha_test_summary_lines_up_betas_by_factor_not_by_position(data):
    # pandas frames keep their column names, so each row of the summary is one factor; before,
    # every list's columns were f0, f1, ... and "beta f0" held the market beta of "CAPM" and
    # "FF3" next to the SMB beta of "SMB only"
    d = data["frame"]
    strat = data["y"][:, 13]
    res = ff.alpha_test(strat, {"CAPM": d[["MktRF"]], "SMB only": d["SMB"],
                                "FF3": d[["MktRF", "SMB", "HML"]]}, periods_per_year=12)
    assert res.results["CAPM"].factor_names == ["MktRF"]
    assert res.results["SMB only"].factor_names == ["SMB"]  # a pandas Series' name
    assert res.results["FF3"].factor_names == ["MktRF", "SMB", "HML"]
    table = res.summary().tables[0][1]
    rows = dict(zip(table[""].to_list(), table.drop("").rows()))
    assert not any(r.startswith("beta f") for r in rows)
    f3 = res.betas("FF3")[0]
    _close(rows["beta MktRF"][0], res.betas("CAPM")[0, 0])
    _close(rows["beta MktRF"][2], f3[0])
    assert rows["beta MktRF"][1] is None or math.isnan(rows["beta MktRF"][1])
    _close(rows["beta SMB"][1], res.betas("SMB only")[0, 0])
    _close(rows["beta SMB"][2], f3[1])
    _close(rows["beta HML"][2], f3[2])
    # unnamed arrays: named after their list, never lined up by position across lists
    arr = ff.alpha_test(strat, {"CAPM": data["f"][:, :1], "SMB only": data["f"][:, 1],
                                "FF3": data["f"]}, periods_per_year=12)
    assert arr.results["SMB only"].factor_names == ["SMB only f0"]
    assert arr.results["FF3"].factor_names == ["FF3 f0", "FF3 f1", "FF3 f2"]
    table = arr.summary().tables[0][1]
    betas = {r: v for r, *v in table.rows() if r.startswith("beta")}
    assert len(betas) == 5
    assert all(sum(x is not None and not math.isnan(x) for x in v) == 1 for v in betas.values())
    # time_series_regress: a pandas frame names the factors too; factor_names still overrides
    assert ff.time_series_regress(strat, d[["MktRF", "SMB"]]).factor_names == ["MktRF", "SMB"]
    assert ff.time_series_regress(strat, d[["MktRF", "SMB"]], factor_names=["a", "b"]).factor_names == ["a", "b"]
    with pytest.raises(ValueError, match=r"factor_sets\['x'\].*repeated column names \['MktRF'\]"):
        ff.alpha_test(strat, {"x": d[["MktRF", "MktRF"]]})


def test_a_pandas_y_names_its_assets_as_a_pandas_frame_names_the_factors(data):
    # before, the factors' pandas column names were read but y's were dropped (assets None), so
    # a one-asset summary could not be asked for by name and alpha_test lost the series' names
    d = data["frame"]
    ports = data["ports"][:3]
    excess = d[ports].sub(d["RF"], axis=0)
    res = ff.time_series_regress(excess, d[FACTORS], cov="hac", lags=4)
    assert list(res.assets) == ports
    ref = _sm(excess[ports[1]].to_numpy(), d[FACTORS].to_numpy(), "hac", 4)
    _close(res.params[1], ref.params)
    _close(res.std_errors[1], ref.bse)
    assert f"Dep. Variable: {ports[1]}" in " ".join(str(res.summary(asset=ports[1])).split())
    assert res.to_polars("fit")["asset"].to_list() == ports
    # a Series' name names its one series, in the alpha test too
    a = ff.alpha_test(excess[ports[0]].rename("strat"), {"CAPM": d[["MktRF"]]}, periods_per_year=12)
    assert a.series_names == ["strat"]
    # unnamed pandas data stays unnamed; repeated names are refused, naming y and the assets
    assert ff.time_series_regress(pd.DataFrame(excess.to_numpy()), d[FACTORS]).assets is None
    with pytest.raises(ValueError, match=r"y is a pandas frame with repeated column names .*name the assets"):
        ff.time_series_regress(excess.set_axis(["A", "A", "B"], axis=1), d[FACTORS])


def test_alpha_test_bad_input(data):
    s = data["y"][:, 12]
    with pytest.raises(ValueError, match="factor_sets is empty"):  # a mapping, but empty: a value error
        ff.alpha_test(s, {})
    with pytest.raises(TypeError, match="factor_sets"):
        ff.alpha_test(s, data["f"])
    with pytest.raises(ValueError, match="periods_per_year"):
        ff.alpha_test(s, {"x": data["f"]}, periods_per_year=0)
    with pytest.raises(ValueError, match=r"factor_sets\['x'\]"):
        ff.alpha_test(s, {"x": data["f"][:-3]})
    with pytest.raises(ValueError, match="betas|name"):
        ff.alpha_test(s, {"x": data["f"]}).betas("y")
    # each error names the argument it is about: returns, or the factor list by its key
    with pytest.raises(ValueError, match=r"^factor_sets\['x'\] has \d+ rows but returns has \d+"):
        ff.alpha_test(s[:-3], {"x": data["f"]})
    bad = s.copy()
    bad[4] = np.inf
    with pytest.raises(ValueError, match="^returns must not contain infinite values"):
        ff.alpha_test(bad, {"x": data["f"]})
    with pytest.raises(ValueError, match=r"^factor_sets\['FF3'\] must not contain infinite values"):
        ff.alpha_test(s, {"CAPM": data["f"][:, :1], "FF3": np.where(data["f"] > 0.05, np.inf, data["f"])})
    with pytest.raises(TypeError, match="^returns must be a numeric array"):
        ff.alpha_test(np.array(["a"] * len(s)), {"x": data["f"]})
    dates = np.arange(len(s)).astype("datetime64[D]")
    with pytest.raises(ValueError, match=r"^returns and factor_sets\['x'\] have no date in common"):
        ff.alpha_test(pl.DataFrame({"date": dates, "s": s}),
                      {"x": pl.DataFrame({"date": dates + 10_000, "m": data["f"][:, 0]})})


def test_names_that_would_overwrite_result_columns_and_an_intercept_only_model(data):
    y, f = data["y"][:, :2], data["f"]
    for name in ("r2", "asset", "nobs", "alpha_tstat"):
        with pytest.raises(ValueError, match=rf"factor names \['{name}'\] are the names of other columns"):
            ff.time_series_regress(y, f[:, :2], factor_names=[name, "other"])
    # intercept only: the betas are an empty (N, 0) table, alpha is the mean
    res = ff.time_series_regress(y, np.zeros((len(y), 0)))
    assert res.betas.shape == (2, 0) and res.to_polars("betas").columns == ["asset"]
    _close(res.alpha, np.nanmean(y, axis=0))
    assert "alpha is per period" not in str(ff.time_series_regress(y, f, intercept=False).summary())


def test_lags_below_the_number_of_dates_and_long_lags_are_cheap(data):
    y, f = data["y"][:120, :3], data["f"][:120]
    with pytest.raises(ValueError, match=r"lags must be below the number of dates \(120\), got 120"):
        ff.time_series_regress(y, f, cov="hac", lags=120)
    # the longest lag allowed, on a short history inside a long panel: equals statsmodels
    yy = data["y"][:, 3].copy()
    yy[:-30] = np.nan
    res = ff.time_series_regress(yy, f_all := data["f"], cov="hac", lags=len(yy) - 1)
    o = _sm(yy, f_all, "hac", len(yy) - 1)
    _close(res.std_errors[0], o.bse)


def test_an_integer_asset_that_is_also_another_assets_label_is_ambiguous(data):
    y, f = data["y"][:, :3], data["f"]
    frame = pl.DataFrame({"date": data["dates"], "1": y[:, 0], "2": y[:, 1], "5": y[:, 2]})
    res = ff.time_series_regress(frame, f)
    with pytest.raises(ValueError, match=r"asset=1 is ambiguous: the asset labelled '1' is at position 0"):
        res.summary(asset=1)
    text = str(res.summary(asset="2"))
    assert any(ln.startswith("Dep. Variable:") and ln.split()[2] == "2" for ln in text.splitlines())
    assert str(res.summary(asset=0)) == str(res.summary(asset="1"))  # a position that is no label


def test_alpha_test_summary_prints_counts_in_full_and_needs_set_names():
    # counts in a ".4g" column were shown as 1.234e+04 (12345 periods read as 12340)
    rng = np.random.default_rng(4)
    t = 12345
    mkt = rng.normal(0.0003, 0.01, (t, 1))
    strat = 0.0002 + mkt[:, 0] + rng.normal(0, 0.01, t)
    res = ff.alpha_test(strat, {"CAPM": mkt}, lags=11)
    lines = str(res.summary()).splitlines()
    obs = next(ln for ln in lines if ln.startswith("No. Observations"))
    lag = next(ln for ln in lines if ln.startswith("NW lags"))
    assert obs.split()[-1] == "12345" and lag.split()[-1] == "11"
    assert "e+" not in obs
    alpha = next(ln for ln in lines if ln.startswith("alpha "))
    assert f"{res.alpha[0, 0]:.4g}" in alpha  # the other rows keep their format
    assert res.summary().tables[0][1]["CAPM"].to_list()[-2] == 12345.0
    # an empty name would take the place of the row labels in the summary
    with pytest.raises(ValueError, match="factor_sets"):
        ff.alpha_test(strat, {"": mkt})


def test_pandas_data_indexed_by_date_is_joined_on_date_as_a_frame(data):
    """A pandas DataFrame or Series indexed by date is a frame: joined with another frame
    (pandas or Polars) on date, as two Polars frames are. It was read by position, so factors
    with their rows reordered, or on dates shifted by a few months, gave other betas with no
    error."""
    d, dates = data["frame"], data["dates"]
    ports = data["ports"][:3]
    idx = pd.DatetimeIndex(dates)
    y = pd.DataFrame(data["y"][:, :3], index=idx, columns=ports)
    f = pd.DataFrame(data["f"], index=idx, columns=FACTORS)
    ref = ff.time_series_regress(data["y"][:, :3], data["f"], cov="hac", lags=4, factor_names=FACTORS)
    perm = np.random.default_rng(5).permutation(len(dates))
    for fx in (f.iloc[perm], f.iloc[::-1]):
        res = ff.time_series_regress(y, fx, cov="hac", lags=4)
        np.testing.assert_array_equal(res.params, ref.params)
        np.testing.assert_array_equal(res.std_errors, ref.std_errors)
        np.testing.assert_array_equal(res.dates, dates)
        assert list(res.assets) == ports and res.factor_names == FACTORS
    # on other dates: the common dates only (an inner join), never row against row
    res = ff.time_series_regress(y.iloc[5:], f.iloc[:-5], cov="hac", lags=4)
    ref5 = ff.time_series_regress(data["y"][5:-5, :3], data["f"][5:-5], cov="hac", lags=4, factor_names=FACTORS)
    np.testing.assert_array_equal(res.params, ref5.params)
    np.testing.assert_array_equal(res.dates, dates[5:-5])
    # with a Polars frame: joined on date too, whichever side is pandas
    fframe = pl.DataFrame({"date": dates, **{n: data["f"][:, j] for j, n in enumerate(FACTORS)}})
    np.testing.assert_array_equal(ff.time_series_regress(y.iloc[::-1], fframe, cov="hac", lags=4).params, ref.params)
    # with an array: row by row, so the pandas index must be in date order (never sorted)
    np.testing.assert_array_equal(ff.time_series_regress(y, data["f"], cov="hac", lags=4,
                                                         factor_names=FACTORS).params, ref.params)
    with pytest.raises(ValueError, match=r"^factors \(a pandas DataFrame indexed by date\) is not in date order "
                                         r"\(2017-02-01 follows 2017-03-01 at position 1\); it is read in its order, "
                                         r"never sorted: sort it first \(factors\.sort_index\(\)\)$"):
        ff.time_series_regress(data["y"][:, :3], f.iloc[::-1])
    with pytest.raises(ValueError, match=r"^y \(a pandas DataFrame indexed by date\) has the date 1949-01-01 twice"):
        ff.time_series_regress(pd.concat([y, y.iloc[:1]]), f)
    # the alpha test: each list joined on date with returns indexed by date
    strat = pd.Series(data["y"][:, 13], index=idx, name="strat")
    a = ff.alpha_test(strat, {"CAPM": d[["MktRF"]].set_index(idx).iloc[perm], "SMB": f["SMB"].iloc[::-1]},
                      periods_per_year=12)
    ref_a = ff.alpha_test(data["y"][:, 13], {"CAPM": data["f"][:, :1], "SMB": data["f"][:, 1]}, periods_per_year=12)
    np.testing.assert_array_equal(a.alpha, ref_a.alpha)
    np.testing.assert_array_equal(a.alpha_tstat, ref_a.alpha_tstat)
    assert a.series_names == ["strat"] and a.results["SMB"].factor_names == ["SMB"]
    with pytest.raises(ValueError, match=r"^factor_sets\['CAPM'\] \(a pandas DataFrame indexed by date\) is not in "
                                         r"date order"):
        ff.alpha_test(data["y"][:, 13], {"CAPM": f[["MktRF"]].iloc[perm]})
    # pandas data with another index is read as an array, as before
    np.testing.assert_array_equal(
        ff.time_series_regress(y.reset_index(drop=True), f.reset_index(drop=True), cov="hac", lags=4).params,
        ref.params)


def test_one_asset_summary_never_prints_a_small_alpha_as_zero():
    """A daily alpha of 1.6e-5 (0.4 % a year) printed as 0.0000 with a std err of 0.0001, where
    statsmodels' summary shows 1.617e-05 and 6.39e-05: a column holding a value below 1e-4 is in
    scientific notation (the whole column, one format per column)."""
    rng = np.random.default_rng(0)
    m = rng.normal(0.0003, 0.01, 1000)
    y = 3e-5 + 0.9 * m + rng.normal(0, 0.002, 1000)
    res = ff.time_series_regress(y[:, None], m[:, None], cov="hac", lags=5)
    rows = {line.split()[0]: line.split()[1:] for line in str(res.summary(asset=0)).splitlines()
            if line.startswith(("alpha ", "f0 "))}
    o = _sm(y[:, None], m[:, None], "hac", 5)
    assert float(rows["alpha"][0]) == pytest.approx(o.params[0], rel=1e-4) and "e-05" in rows["alpha"][0]
    assert float(rows["alpha"][1]) == pytest.approx(o.bse[0], rel=1e-4)
    assert float(rows["f0"][0]) == pytest.approx(o.params[1], rel=1e-4)
    # coefficients of ordinary size keep four decimals
    big = ff.time_series_regress((0.01 + 0.9 * m + rng.normal(0, 0.002, 1000))[:, None], m[:, None])
    rows = {line.split()[0]: line.split()[1:] for line in str(big.summary(asset=0)).splitlines()
            if line.startswith(("alpha ", "f0 "))}
    assert rows["alpha"][0] == f"{big.params[0, 0]:.4f}" and rows["f0"][0] == f"{big.params[0, 1]:.4f}"


def test_long_frame_listed_out_of_date_order_beside_array_factors_is_refused():
    # a long frame's dates come out sorted: factors given as an array in the frame's own
    # (reverse) date order used to pair silently with other dates
    rng = np.random.default_rng(6)
    T, N = 40, 3
    dates = np.datetime64("2024-01-01") + np.arange(T)
    m = rng.normal(0, 0.01, T)
    y = 1.5 * m[:, None] + rng.normal(0, 0.001, (T, N))
    frame = pl.DataFrame({"date": np.repeat(dates, N), "asset": ["a", "b", "c"] * T, "r": y.ravel()})
    with pytest.raises(ValueError, match=r"y: the long frame lists its dates out of date order"):
        ts.time_series_regress(frame.reverse(), m[::-1, None])
    # sorted by (asset, date), a late listing included: accepted, the numbers of the arrays
    ragged = frame.filter(~((pl.col("asset") == "a") & (pl.col("date") < dates[5]))).sort("asset", "date")
    got = ts.time_series_regress(ragged, m[:, None]).params
    yy = y.copy()
    yy[:5, 0] = np.nan
    np.testing.assert_allclose(np.asarray(got), np.asarray(ts.time_series_regress(yy, m[:, None]).params))


def test_alpha_test_warns_when_periods_per_year_does_not_fit_dated_inputs():
    # seed 001 on the monthly Fama-French factors: the default 252 annualised a monthly alpha
    # ×252 (21 times too large) without a word, where ff.metrics warns on the same dates
    import warnings

    rng = np.random.default_rng(3)
    dates = pd.date_range("1990-01-01", periods=240, freq="MS")
    f = pd.DataFrame(rng.normal(0.005, 0.04, (240, 3)), index=dates, columns=["MktRF", "SMB", "HML"])
    y = (0.002 + f @ np.array([1.0, 0.2, -0.1]) + rng.normal(0, 0.02, 240)).rename("fund")
    with pytest.warns(ff.metrics.PeriodsPerYearWarning, match="periods_per_year=12"):
        ff.alpha_test(y, {"FF3": f})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = ff.alpha_test(y, {"FF3": f}, periods_per_year=12)
        ff.alpha_test(y.to_numpy(), {"FF3": f.to_numpy()})  # no dates: nothing to check
    assert res.periods_per_year == 12.0
