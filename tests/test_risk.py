"""RiskModel: factor covariance, specific variance, products with Σ = B Σf Bᵀ + D, validation tools.

Oracles: ``ff.baseline`` (explicit per-date weights, dense one-hot B, np.linalg.eigh/lstsq),
hand-worked numbers, a Lagrangian (KKT) solve of the constrained regression, and a simulated
panel with known factor and specific risk.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pytest
from helpers import random_panel

import ferrofactor as ff
from ferrofactor import _core
from ferrofactor import baseline as bl
from ferrofactor.evaluate import bias_statistic, minimum_variance_test, residual_correlation
from ferrofactor.risk.covariance import clip_valid_blocks as _clip_valid_blocks
from ferrofactor.risk.covariance import factor_covariance as _factor_covariance

RTOL = 1e-10


def rel_err(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    assert np.array_equal(np.isnan(a), np.isnan(b)), "NaN patterns differ"
    ok = np.isfinite(a)
    if not ok.any():
        return 0.0
    return float(np.max(np.abs(a[ok] - b[ok])) / max(np.max(np.abs(b[ok])), 1e-300))


def factor_returns_with_gaps(T=60, K=6, seed=0):
    rng = np.random.default_rng(seed)
    f = rng.standard_normal((T, K)) @ np.diag(np.linspace(0.005, 0.02, K))
    f[:, 1] += 0.5 * f[:, 0]
    f[::3, 2] = np.nan  # an industry empty on every third date
    f[T // 2] = np.nan  # an all-NaN date
    f[: T // 4, K - 1] = np.nan  # a factor that starts late
    return f


# ---------------------------------------------------------------------------------- hand-worked


def test_hand_worked_ewma_newey_west():
    # half-life 1 → λ = 1/2. f = [1, 2, 3]. At t = 2:
    #   Γ0 = (¼·1 + ½·4 + 1·9) / (¼ + ½ + 1) = 11.25 / 1.75
    #   Γ1 = (½·(2·1) + 1·(3·2)) / (½ + 1) = 7 / 1.5
    #   NW(1 lag) = Γ0 + (1 - 1/2)·2·Γ1
    f = np.array([[1.0], [2.0], [3.0]])
    c = _core.risk_ewma_newey_west(f, 1.0, 1, 1)
    assert c[2, 0, 0] == pytest.approx(11.25 / 1.75 + 7 / 1.5, rel=1e-14)
    assert c[0, 0, 0] == pytest.approx(1.0, rel=1e-15)
    # t = 1: Γ0 = (½·1 + 4)/1.5 = 3, Γ1 = 2/1 = 2 → 3 + 2
    assert c[1, 0, 0] == pytest.approx(5.0, rel=1e-15)
    # lags 0 with a NaN at t=1: weights of t0 decays by λ² → (¼·1 + 9)/(¼ + 1) = 7.4
    g = np.array([[1.0], [np.nan], [3.0]])
    c0 = _core.risk_ewma_newey_west(g, 1.0, 0, 1)
    assert c0[2, 0, 0] == pytest.approx(7.4, rel=1e-15)


def test_hand_worked_factor_covariance_two_factors():
    # No NW lags; vol half-life 1, corr half-life 1: then Σf = the EWMA second moment matrix.
    f = np.array([[1.0, 2.0], [-1.0, 1.0]])
    cov, _ = _core.risk_factor_covariance(f, 1.0, 1.0, 0, 0, 1)
    # weights ½, 1, sum 1.5: E[f0²] = (½+1)/1.5 = 1, E[f1²] = (2+1)/1.5 = 2, E[f0 f1] = (1-1)/1.5 = 0
    np.testing.assert_allclose(cov[1], [[1.0, 0.0], [0.0, 2.0]], rtol=0, atol=1e-15)


# ---------------------------------------------------------------------------------- baseline


@pytest.mark.parametrize("lags", [0, 2, 5])
def test_ewma_newey_west_equals_baseline(lags):
    f = factor_returns_with_gaps(T=40, K=4)
    ours = _core.risk_ewma_newey_west(f, 12.0, lags, 5)
    want = bl.risk_ewma_newey_west(f, 12.0, lags, 5)
    assert rel_err(ours, want) < RTOL


def test_factor_covariance_equals_baseline():
    f = factor_returns_with_gaps(T=60, K=6)
    # _core returns the unclipped covariance and not-PSD flags; the eigenvalue clipping of the
    # flagged dates (numpy eigh) is in ferrofactor.risk.covariance, used by RiskModel.
    ours, clipped = _factor_covariance(f, 20.0, 60.0, 5, 2, 10)
    want, want_clipped = bl.risk_factor_covariance(f, 20.0, 60.0, 5, 2, 10)
    assert rel_err(ours, want) < RTOL
    # Clipping is exercised here; the baseline also flags rounding-level negative eigenvalues.
    assert clipped.any() and not (clipped & ~want_clipped).any()
    raw, not_psd = _core.risk_factor_covariance(f, 20.0, 60.0, 5, 2, 10)
    np.testing.assert_array_equal(not_psd, clipped)
    np.testing.assert_array_equal(raw[~clipped], ours[~clipped])
    # Every finite block is PSD and symmetric.
    for c in ours:
        ok = np.isfinite(np.diag(c))
        sub = c[np.ix_(ok, ok)]
        if sub.size:
            assert np.array_equal(sub, sub.T)
            assert np.linalg.eigvalsh(sub).min() > -1e-15 * np.abs(sub).max()
    # The late factor has NaN rows until it has min_periods observations.
    assert np.isnan(ours[15, 5, 5]) and np.isfinite(ours[-1, 5, 5])


def test_factor_covariance_uses_no_future_data():
    f = factor_returns_with_gaps(T=50, K=4)
    full, fc = _factor_covariance(f, 10.0, 30.0, 3, 2, 5)
    cut, cc = _factor_covariance(np.ascontiguousarray(f[:30]), 10.0, 30.0, 3, 2, 5)
    np.testing.assert_array_equal(full[:30], cut)
    np.testing.assert_array_equal(fc[:30], cc)


def test_hand_worked_eigenvalue_clipping():
    n = np.nan
    cov = np.array(
        [
            [[2.0, 1, 0], [1, 2, 0], [0, 0, -1]],  # eigenvalues -1, 1, 3: the -1 goes
            [[0.0, n, 1], [n, n, n], [1, n, 0]],  # valid block [[0, 1], [1, 0]] → ½·ones
            [[0.0, n, 1], [n, n, n], [1, n, 0]],  # same, but not flagged: left alone
            [[n, n, n], [n, n, n], [n, n, n]],  # no valid factor
        ]
    )
    before = cov.copy()
    clipped = _clip_valid_blocks(cov, np.array([True, True, False, True]))
    np.testing.assert_array_equal(clipped, [True, True, False, False])
    np.testing.assert_allclose(cov[0], [[2.0, 1, 0], [1, 2, 0], [0, 0, 0]], rtol=0, atol=1e-15)
    np.testing.assert_allclose(cov[1][np.ix_([0, 2], [0, 2])], 0.5, rtol=0, atol=1e-15)
    assert np.isnan(cov[1][1]).all() and np.isnan(cov[1][:, 1]).all()
    np.testing.assert_array_equal(cov[2:], before[2:])
    # a flagged matrix whose eigenvalues are all ≥ 0 is not changed
    pd = np.array([[[2.0, 1.0], [1.0, 2.0]]])
    assert not _clip_valid_blocks(pd, np.array([True])).any()
    np.testing.assert_array_equal(pd, [[[2.0, 1.0], [1.0, 2.0]]])


def test_specific_variance_equals_baseline():
    p = random_panel(T=40, N=150, K=3, G=6, seed=3)
    # blend_periods 0 (hard switch to the time series) and 12 (history blend over 12 residuals)
    # with and without 3 Newey-West lags on the residuals
    for blend, lags in ((0, 0), (12, 0), (12, 3)):
        args = (p.returns, p.styles, p.industry, p.n_industries, p.cap, 10.0, 8, 0.1, 10, 1e-4, blend, lags)
        ours, ewma, nobs, structural = _core.risk_specific_variance(*args)
        want = bl.risk_specific_variance(*args)
        # Tolerance: the structural regression is solved by Cholesky here and by lstsq in the
        # baseline; the ridge-regularised system has condition number ~1e4, so agreement is ~1e-13.
        assert rel_err(ours, want) < RTOL
        assert structural.any() and (~structural.astype(bool)).any()
        assert nobs[-1].max() <= 40
        # the structural estimate enters exactly where the time series has weight < 1
        fin = np.isfinite(ours)
        short = nobs < 8 + blend
        np.testing.assert_array_equal(structural.astype(bool)[fin], short[fin])
    # Without shrinkage and fallback the result is the EWMA of squared residuals.
    args0 = (p.returns, p.styles, p.industry, p.n_industries, p.cap, 10.0, 1, 0.0, 10, 1e-4, 0, 0)
    d0, ewma0, *_ = _core.risk_specific_variance(*args0)
    has = np.isfinite(d0) & np.isfinite(ewma0) & (ewma0 > 0)
    np.testing.assert_allclose(d0[has], ewma0[has], rtol=1e-15)  # sqrt then square


def test_structural_ridge_must_be_positive():
    # The structural regression is on [intercept, industry dummies, styles]: the intercept is the
    # sum of the dummies of the classified assets, so without the ridge the system is singular
    # (always when every asset is classified; on any date where an industry has no fitted asset
    # otherwise). structural_ridge=0 was accepted and the kernel's Cholesky then failed silently:
    # every asset that needed the structural estimate got a NaN specific variance (not covered),
    # where ff.baseline (lstsq) gives numbers. A ridge >= 1e-10 is now required (below ~1e-13 the
    # kernel's Cholesky declares the system singular all the same).
    p = random_panel(T=40, N=150, K=3, G=6, seed=3)
    ind = np.where(p.industry < 0, 1, p.industry).astype(np.int32)  # every asset classified
    resid = p.returns.copy()
    resid[:, :20] = np.nan
    resid[30:, :20] = 0.01  # short histories: the structural estimate only
    ex = ff.Exposures(styles=p.styles, industry=ind, market=True)
    f = np.random.default_rng(0).normal(0, 0.01, (40, ex.n_factors))
    m = ff.RiskModel.from_arrays(f, resid, ex, p.cap, specific_min_periods=8)
    exposed = np.isfinite(p.styles[35, :20]).all(axis=1)
    assert np.isfinite(m.specific_variance[35, :20][exposed]).all()
    # why: with ridge 0 the kernel has no structural model (NaN), the baseline's lstsq has one
    args = (resid, p.styles, ind, p.n_industries, p.cap, 84.0, 8, 0.1, 10, 0.0, 120, 0)
    assert np.isnan(_core.risk_specific_variance(*args)[0][35, :20][exposed]).all()
    assert np.isfinite(bl.risk_specific_variance(*args)[35, :20][exposed]).all()
    # (a ridge below the kernel's pivot tolerance is singular all the same)
    assert np.isnan(_core.risk_specific_variance(*args[:9], 1e-14, *args[10:])[0][35, :20][exposed]).all()
    for bad in (0, 0.0, -1e-4, 1e-14):
        with pytest.raises(ValueError, match="structural_ridge must be >= 1e-10"):
            ff.RiskModel(structural_ridge=bad)
        with pytest.raises(ValueError, match="structural_ridge must be >= 1e-10"):
            ff.RiskModel.from_arrays(f, resid, ex, p.cap, structural_ridge=bad)
    # the run configuration refuses it too, before any data is read
    from ferrofactor import config

    with pytest.raises(config.ConfigError, match="structural_ridge"):
        config.validate({"risk": {"structural_ridge": 0.0}}, check_data=False, require_data=False)


def test_structural_fallback_with_a_style_zero_on_every_asset():
    # a style not defined yet on a date (zero for every asset, as low_vol before it has history)
    # makes the structural regression rank-deficient: its coefficient is 0 (the minimum-norm
    # solution of the baseline's lstsq), and the short histories still get the fallback
    p = random_panel(T=40, N=150, K=3, G=6, seed=3)
    styles = p.styles.copy()
    styles[:, :, 1] = 0.0
    resid = p.returns.copy()
    resid[:30, :7] = np.nan  # short histories
    args = (resid, styles, p.industry, p.n_industries, p.cap, 10.0, 8, 0.0, 10, 1e-4, 0, 0)
    ours, _, nobs, structural = _core.risk_specific_variance(*args)
    want = bl.risk_specific_variance(*args)
    assert np.isfinite(want[35, :7]).all() and structural[35, :7].all()  # 6 residuals < 8
    assert rel_err(ours, want) < RTOL
    np.testing.assert_array_equal(np.isfinite(ours), np.isfinite(want))


@pytest.mark.parametrize("threads", [1, 2])
def test_specific_variance_resumed_from_the_carried_state_equals_one_pass(threads):
    """``risk_specific_variance_resume`` over dates [0, a) then [a, T) from the returned state is
    ``risk_specific_variance`` over [0, T) bit for bit (cuts inside and beyond the Newey-West
    lags; 700 assets: three parallel column blocks), with 1 and 2 threads; a bad state is a
    ValueError naming it."""
    p = random_panel(T=40, N=700, K=3, G=6, seed=5)
    rows = lambda a, b: (p.returns[a:b], p.styles[a:b], p.industry[a:b], p.n_industries, p.cap[a:b])  # noqa: E731
    ff.set_num_threads(threads)
    try:
        for lags in (0, 3):
            settings = (10.0, 8, 0.1, 10, 1e-4, 12, lags)
            one = _core.risk_specific_variance(*rows(0, 40), *settings)
            assert np.isfinite(one[0]).sum() > 10_000
            for cut in (2, 25):
                *first, state = _core.risk_specific_variance_resume(*rows(0, cut), *settings, None)
                assert state.shape == (3 + 3 * lags, 700)
                *second, _ = _core.risk_specific_variance_resume(*rows(cut, 40), *settings, state)
                for a, b, whole in zip(first, second, one):
                    np.testing.assert_array_equal(np.concatenate([a, b]), whole)
            with pytest.raises(ValueError, match="state has shape"):
                _core.risk_specific_variance_resume(*rows(0, 5), *settings, np.zeros((2, 700)))
    finally:
        ff.set_num_threads(0)


def test_specific_newey_west_matches_ar1_long_run_variance():
    # AR(1) residuals with φ = 0.5 and unit innovations: the Bartlett-weighted long-run variance
    # with L = 5 lags is σ² (1 + 2 Σ_l (1 - l/6) φ^l) = 2.34375 σ², σ² = 1/(1 - φ²). With a long
    # half-life over 3000 days the cross-asset mean of the estimate is within a few percent
    # (sampling error of 200 assets × ~700 effective days); the plain EWMA estimates σ².
    rng = np.random.default_rng(12)
    T, N, phi = 3000, 200, 0.5
    z = rng.standard_normal((T, N))
    e = np.empty((T, N))
    e[0] = z[0] / np.sqrt(1 - phi**2)
    for t in range(1, T):
        e[t] = phi * e[t - 1] + z[t]
    e[rng.random((T, N)) < 0.02] = np.nan  # missing residuals break pairs, not the estimate
    st = np.zeros((T, N, 1))
    ind = np.zeros((T, N), dtype=np.int32)
    cap = np.ones((T, N))
    args = (e, st, ind, 1, cap, 500.0, 1, 0.0, 10, 1e-4, 0)
    _, plain, *_ = _core.risk_specific_variance(*args, 0)
    _, nw, *_ = _core.risk_specific_variance(*args, 5)
    s2 = 1 / (1 - phi**2)
    assert abs(np.mean(plain[-1]) / s2 - 1) < 0.05
    bartlett = 1 + 2 * sum((1 - lag / 6) * phi**lag for lag in range(1, 6))
    assert abs(np.mean(nw[-1]) / (bartlett * s2) - 1) < 0.05
    # the model passes the setting through
    ex = ff.Exposures(st, ind, industry_names=["all"], market=False)  # one industry, one style
    m = ff.RiskModel.from_arrays(np.zeros((T, 2)), e, ex, cap, specific_newey_west_lags=5,
                                 specific_half_life=500.0, min_periods=5)
    np.testing.assert_array_equal(m.raw_specific_variance, nw)


def test_regime_multiplier_equals_baseline():
    p = random_panel(T=40, N=80, seed=4)
    v = np.full_like(p.returns, 0.02**2)
    for w in (None, p.cap):
        b2, m = _core.risk_regime_multiplier(p.returns, v, w, 5.0)
        wb2, wm = bl.risk_regime_multiplier(p.returns, v, w, 5.0)
        assert rel_err(b2, wb2) < RTOL and rel_err(m, wm) < RTOL


# ---------------------------------------------------------------------------------- model

IND_NAMES = [f"industry_{g}" for g in range(6)]


def exposures_of(p, **kw):
    return ff.Exposures(p.styles, p.industry, industry_names=IND_NAMES[: p.n_industries], **kw)


def model_from_panel(seed=0, **settings):
    p = random_panel(T=50, N=120, K=3, G=6, seed=seed)
    k = 1 + p.n_industries + 3
    rng = np.random.default_rng(seed)
    f = rng.normal(0, 0.01, size=(50, k))
    f[::3, 1] = np.nan  # industry 0 is empty every third date in random_panel
    f[:, p.n_industries] = np.nan  # industry G-1 is never used
    settings = {"min_periods": 5, "specific_min_periods": 10, **settings}
    m = ff.RiskModel.from_arrays(f, p.returns, exposures_of(p), p.cap, **settings)
    return m, p, f


def test_from_arrays_matches_residual_and_cap_frames_on_the_exposures_labels():
    """Residuals and cap given as frames (a pandas DataFrame of dates × tickers, a wide Polars
    frame) keep their labels: they must be the exposures'; a cap frame with its columns reversed
    was used by position (another asset's cap: other specific risk, silently)."""
    from ferrofactor.panel import frame_from_field

    p = random_panel(T=50, N=120, K=3, G=6, seed=0)
    dates = np.arange("2024-01-01", 50, dtype="datetime64[D]")
    assets = np.array([f"A{j:03d}" for j in range(120)])
    ex = exposures_of(p, dates=dates, assets=assets)
    f = np.random.default_rng(0).normal(0, 0.01, size=(50, ex.n_factors))
    settings = {"min_periods": 5, "specific_min_periods": 10}
    ref = ff.RiskModel.from_arrays(f, p.returns, ex, p.cap, **settings)

    def pdf(x, a=assets, d=dates):
        return pd.DataFrame(x, index=pd.DatetimeIndex(d), columns=list(a))

    for res, cap in ((pdf(p.returns), pdf(p.cap).iloc[::-1]),
                     (frame_from_field(p.returns, dates, assets), frame_from_field(p.cap, dates, assets))):
        got = ff.RiskModel.from_arrays(f, res, ex, cap, **settings)
        np.testing.assert_array_equal(got.specific_variance, ref.specific_variance)
    with pytest.raises(ValueError, match="^cap and exposures have different assets: position 0 is A119"):
        ff.RiskModel.from_arrays(f, p.returns, ex, pdf(p.cap[:, ::-1], assets[::-1]), **settings)
    with pytest.raises(ValueError, match="^residuals and exposures have different dates"):
        ff.RiskModel.from_arrays(f, pdf(p.returns, d=dates + 1), ex, p.cap, **settings)
    with pytest.raises(ValueError, match="^cap and exposures have different assets"):
        ff.RiskModel.from_arrays(f, p.returns, ex, frame_from_field(p.cap[:, ::-1], dates, assets[::-1]), **settings)


def test_from_arrays_matches_factor_return_frames_on_the_factor_names():
    """Factor returns as a frame (pandas with named columns, or Polars: a date column plus one
    column per factor) name their factors: they must be the exposures', in their order. Two
    factors swapped were read by position (other covariances, silently); a Polars frame's dates
    were not compared at all."""
    p = random_panel(T=50, N=120, K=3, G=6, seed=0)
    dates = np.arange("2024-01-01", 50, dtype="datetime64[D]")
    ex = exposures_of(p, dates=dates, assets=np.array([f"A{j:03d}" for j in range(120)]))
    f = np.random.default_rng(0).normal(0, 0.01, size=(50, ex.n_factors))
    settings = {"min_periods": 5, "specific_min_periods": 10}
    ref = ff.RiskModel.from_arrays(f, p.returns, ex, p.cap, **settings)
    names = list(ex.factor_names)
    fdf = pd.DataFrame(f, index=pd.DatetimeIndex(dates), columns=names)
    fpl = pl.DataFrame({"date": dates, **{n: f[:, k] for k, n in enumerate(names)}})
    for given in (fdf, fpl, pd.DataFrame(f, index=pd.DatetimeIndex(dates))):
        got = ff.RiskModel.from_arrays(given, p.returns, ex, p.cap, **settings)
        np.testing.assert_array_equal(got.factor_covariance, ref.factor_covariance)
    swapped = [names[1], names[0], *names[2:]]
    with pytest.raises(ValueError, match=r"^factor_returns columns .* differ from the factors of exposures"):
        ff.RiskModel.from_arrays(fdf[swapped], p.returns, ex, p.cap, **settings)
    with pytest.raises(ValueError, match=r"^factor_returns columns .* differ from the factors of exposures"):
        ff.RiskModel.from_arrays(fpl.select(["date", *swapped]), p.returns, ex, p.cap, **settings)
    with pytest.raises(ValueError, match=r"^factor_returns and exposures have different dates"):
        ff.RiskModel.from_arrays(fpl.with_columns(pl.col("date") + pl.duration(days=1)), p.returns, ex,
                                 p.cap, **settings)


def test_model_equals_baseline_pieces():
    m, p, f = model_from_panel(vol_half_life=10, corr_half_life=30, newey_west_lags=(3, 1))
    cov, _ = bl.risk_factor_covariance(f, 10, 30, 3, 1, 5)
    assert rel_err(m.factor_covariance, cov) < RTOL
    d = bl.risk_specific_variance(p.returns, p.styles, p.industry, p.n_industries, p.cap, 84, 10, 0.1, 10, 1e-4, 120)
    assert rel_err(m.specific_variance, d) < RTOL
    assert m.factor_covariance.shape == (50, 10, 10)
    assert m.factor_names[:2] == ["market", "industry_0"]
    with pytest.raises(ValueError):
        m.factor_covariance[0, 0, 0] = 1.0  # read-only


def test_regime_adjustment_scales_by_multipliers():
    m0, p, f = model_from_panel()
    m1, _, _ = model_from_panel(vra_half_life=10)
    lam_f, lam_s = m1.regime_multipliers
    fvar = np.ascontiguousarray(np.diagonal(m0.factor_covariance, axis1=1, axis2=2))
    _, want_f = bl.risk_regime_multiplier(f, fvar, None, 10)
    _, want_s = bl.risk_regime_multiplier(p.returns, m0.specific_variance, p.cap, 10)
    want_f = np.where(np.isfinite(want_f), want_f, 1.0)
    want_s = np.where(np.isfinite(want_s), want_s, 1.0)
    assert rel_err(lam_f, want_f) < RTOL and rel_err(lam_s, want_s) < RTOL
    assert rel_err(m1.factor_covariance, m0.factor_covariance * (want_f**2)[:, None, None]) < RTOL
    assert rel_err(m1.specific_variance, m0.specific_variance * (want_s**2)[:, None]) < RTOL


def covered_weights(m, date, P=7, seed=0):
    rng = np.random.default_rng(seed)
    ok = np.isfinite(m.specific_variance[date]) & np.isfinite(m.exposure_matrix(date)).all(axis=1)
    w = rng.standard_normal((P, ok.size)) * ok
    w[0] = ok / ok.sum()  # long-only
    return w


@pytest.mark.parametrize("date", [-1, 20, 49])
def test_portfolio_risk_equals_materialised_covariance(date):
    m, p, _ = model_from_panel()
    w = covered_weights(m, date)
    ours = m.portfolio_risk(w, date)
    cov = m.covariance(date)
    ok = np.isfinite(np.diag(cov))
    dense = np.sqrt(np.einsum("pn,nm,pm->p", w[:, ok], cov[np.ix_(ok, ok)], w[:, ok]))
    assert rel_err(ours, dense) < RTOL
    # and the baseline's dense and product forms
    i = date % 50
    fc = np.nan_to_num(m.factor_covariance[i])
    d = np.nan_to_num(m.specific_variance[i])
    st = np.nan_to_num(p.styles[i])
    for fn in (bl.risk_portfolio_risk_dense, bl.risk_portfolio_risk_products):
        assert rel_err(ours, fn(w, st, p.industry[i], True, p.n_industries, fc, d)) < RTOL
    assert m.portfolio_risk(w[1], date) == pytest.approx(ours[1], rel=1e-15)
    assert m.portfolio_risk(w[1], date, annualize=True) == pytest.approx(ours[1] * np.sqrt(252), rel=1e-14)


def test_portfolio_holding_an_asset_without_forecast_is_an_error_naming_it():
    dates = np.arange("2020-01-01", 50, dtype="datetime64[D]")
    p = random_panel(T=50, N=120, K=3, G=6, seed=0)
    m0, _, f = model_from_panel()
    assets = [f"A{i:03d}" for i in range(120)]
    m = ff.RiskModel.from_arrays(f, p.returns, exposures_of(p, dates=dates, assets=assets), p.cap,
                                 min_periods=5, specific_min_periods=10)
    d = m.specific_variance[-1]
    bad = int(np.nonzero(~np.isfinite(d))[0][0])
    w = np.zeros(d.size)
    w[bad] = 1.0
    with pytest.raises(ValueError, match=rf"no risk forecast on 2020-02-19 .*{assets[bad]}"):
        m.portfolio_risk(w)
    # a NaN weight on that asset is reported as a NaN weight (the held check reads only the
    # columns of assets without a forecast, and checks them for finiteness first)
    w2 = np.zeros((2, d.size))
    w2[1, bad] = np.nan
    for fn in (m.portfolio_risk, m.factor_exposures):
        with pytest.raises(ValueError, match=rf"weights must be finite: portfolio 1 has nan at asset {bad} "):
            fn(w2)
    ok = np.zeros(d.size)
    ok[np.nonzero(np.isfinite(d) & np.isfinite(p.styles[-1]).all(axis=1))[0][:3]] = 1 / 3
    assert np.isfinite(m.portfolio_risk(ok))
    # by label, and as a mapping of asset → weight
    held = {assets[j]: 1 / 3 for j in np.flatnonzero(ok)}
    assert m.portfolio_risk(held, date="2020-02-19") == m.portfolio_risk(ok, date=49)
    with pytest.raises(ValueError, match="assets the model does not have"):
        m.portfolio_risk({"ZZZ": 1.0})
    with pytest.raises(ValueError, match="is not among the 50 dates"):
        m.portfolio_risk(ok, date="2021-01-01")
    with pytest.raises(TypeError, match="float"):
        m.portfolio_risk(ok, date=40.7)


def test_a_held_asset_on_a_factor_without_estimated_variance_is_an_error():
    # a style defined since recently (low_vol: zero until it has history) has exposures before
    # its factor variance has enough factor returns: the risk of assets on it is unknown
    panel = ff.datasets.synthetic_universe(n_assets=100, n_days=300, seed=1)
    res = ff.FactorModel().fit(panel, ff.Exposures.from_panel(panel))
    rk = ff.RiskModel.from_factor_model(res)
    k, s = rk.factor_names.index("low_vol"), rk.exposures.style_names.index("low_vol")
    t = next(t for t in range(len(panel.dates))
             if not np.isfinite(rk.factor_covariance[t][k, k]) and np.any(np.nan_to_num(rk.exposures.styles[t][:, s]) != 0))
    # the assets with exposures and a specific variance: some load on low_vol
    known = np.isfinite(rk.specific_variance[t]) & np.isfinite(rk.exposures.styles[t]).all(axis=1)
    on_it = known & (np.nan_to_num(rk.exposures.styles[t][:, s]) != 0)
    assert on_it.any()
    w = np.where(known, 1 / known.sum(), 0.0)
    with pytest.raises(ValueError, match=r"exposed to factors whose variance is not estimated yet .*'low_vol'"):
        rk.portfolio_risk(w, date=t)
    # covered() leaves them out (before, it included them and a portfolio of the covered assets
    # was refused), and a portfolio of the covered assets is priced
    cv = rk.covered(t)
    np.testing.assert_array_equal(cv, known & ~on_it)
    if cv.any():
        assert np.isfinite(rk.portfolio_risk(np.where(cv, 1 / cv.sum(), 0.0), date=t))
    # before the style had exposures, and once its variance is estimated, the risk is finite
    for d in (150, 260):
        cv = rk.covered(d)
        assert np.isfinite(rk.portfolio_risk(np.where(cv, 1 / cv.sum(), 0.0), date=d))


def test_factor_exposures_equal_dense():
    m, p, _ = model_from_panel()
    w = covered_weights(m, 10)
    b = np.nan_to_num(m.exposure_matrix(10))
    assert rel_err(m.factor_exposures(w, 10), w @ b) < RTOL


def test_risk_decomposition_sums_to_total():
    m, p, _ = model_from_panel()
    w = covered_weights(m, -1)[2]
    dec = m.risk_decomposition(w)
    total = m.portfolio_risk(w)
    assert dec.total_vol == pytest.approx(total, rel=1e-12)
    assert np.sum(dec.factor_contrib) + dec.specific_contrib == pytest.approx(total, rel=1e-12)
    assert np.sum(dec.asset_contrib) == pytest.approx(total, rel=1e-12)
    assert np.sum(dec.factor_var_contrib) == pytest.approx(dec.factor_var, rel=1e-12)
    assert dec.factor_var + dec.specific_var == pytest.approx(total**2, rel=1e-12)
    # x·σ·ρ form
    held = dec.exposures != 0
    xsr = dec.exposures[held] * dec.factor_vol[held] * dec.factor_corr[held]
    np.testing.assert_allclose(xsr, dec.factor_contrib[held], rtol=1e-12)
    # marginal contributions equal Σw/σ from the dense matrix
    cov = m.covariance(-1)
    ok = np.isfinite(np.diag(cov))
    np.testing.assert_allclose(dec.marginal[ok], cov[np.ix_(ok, ok)] @ w[ok] / total, rtol=1e-10, atol=1e-18)
    frame = dec.to_polars()
    assert frame.height == len(m.factor_names) + 1
    # annualised: volatilities × sqrt(252), variances × 252, and still adding up
    ann = m.risk_decomposition(w, annualize=True)
    assert ann.total_vol == pytest.approx(total * np.sqrt(252), rel=1e-12)
    assert ann.factor_var + ann.specific_var == pytest.approx(252 * total**2, rel=1e-12)
    assert np.sum(ann.factor_contrib) + ann.specific_contrib == pytest.approx(ann.total_vol, rel=1e-12)


def test_risk_decomposition_of_books_without_exposure_to_some_factors():
    """A one-industry long-only book and an industry-neutral long-short book hold no net exposure
    to most industries; those factors still co-move with the book: ρ_k = (Σf x)_k / (σ_k σ_p) for
    every estimated factor, and marginal = Σw / σ_p (the dense B Σf Bᵀ + D) for every covered
    asset. (The old code took (Σf x)_k = 0 for the factors not held: ρ = 0 instead of −0.23, and
    the held assets of the neutral book lost their industry term, 43× off.)"""
    m, p, _ = model_from_panel()
    t = -1
    cov = m.covered(t)
    ind = np.asarray(m.exposures.industry[t])
    one = np.where(cov & (ind == ind[cov][0]), 1.0, 0.0)
    one /= one.sum()
    rng = np.random.default_rng(0)
    neutral = np.zeros(len(cov))
    for g in np.unique(ind[cov]):
        idx = np.flatnonzero(cov & (ind == g))
        if idx.size >= 2:
            v = rng.normal(size=idx.size)
            neutral[idx] = v - v.mean()
    dense = m.covariance(t)
    c = np.flatnonzero(cov)
    fc = m.factor_covariance[t]
    est = np.isfinite(np.diag(fc))
    for w in (one, neutral):
        dec = m.risk_decomposition(w, t)
        sig = np.sqrt(w[c] @ dense[np.ix_(c, c)] @ w[c])
        assert dec.total_vol == pytest.approx(sig, rel=1e-12)
        np.testing.assert_allclose(dec.marginal[c], dense[np.ix_(c, c)] @ w[c] / sig, rtol=1e-10, atol=1e-18)
        x = dec.exposures
        assert (x[est] == 0).sum() >= 1  # factors without net exposure
        rho = fc[np.ix_(est, est)] @ x[est] / (np.sqrt(np.diag(fc)[est]) * sig)
        np.testing.assert_allclose(dec.factor_corr[est], rho, rtol=1e-10, atol=1e-15)
        assert np.isnan(dec.factor_corr[~est]).all()
        assert np.sum(dec.asset_contrib) == pytest.approx(sig, rel=1e-12)


def kkt_factor_returns(b, r, wts, cap, market, n_ind):
    """Constrained WLS by the Lagrangian system (an oracle independent of the model's code)."""
    ok = np.isfinite(b).all(axis=1) & np.isfinite(r) & np.isfinite(wts) & (wts > 0)
    b, r, wts, cap = b[ok], r[ok], wts[ok], cap[ok]
    cols = np.nonzero(np.abs(b).sum(axis=0) > 0)[0]
    x = b[:, cols]
    k = x.shape[1]
    a = x.T @ (x * wts[:, None])
    rhs = x.T @ (wts * r)
    ind = [j for j, c in enumerate(cols) if int(market) <= c < int(market) + n_ind]
    if market and ind:
        c = np.zeros(k)
        c[ind] = [cap[x[:, j] == 1].sum() for j in ind]
        a = np.block([[a, c[:, None]], [c[None], np.zeros((1, 1))]])
        rhs = np.append(rhs, 0.0)
    sol = np.linalg.solve(a, rhs)[:k]
    f = np.full(b.shape[1], np.nan)
    f[cols] = sol
    return f


def test_factor_mimicking_portfolios_reproduce_regression():
    m, p, _ = model_from_panel()
    rng = np.random.default_rng(5)
    for date in (3, 10, 30):  # 3: industry 0 is empty on dates divisible by 3
        omega = m.factor_mimicking_portfolios(date)
        r_next = rng.normal(0, 0.02, size=p.returns.shape[1])
        b = m.exposure_matrix(date)
        b[np.asarray(m.exposures.industry[date]) < 0] = np.nan  # the regression drops assets without an industry
        want = kkt_factor_returns(b, r_next, np.sqrt(p.cap[date]), p.cap[date], True, p.n_industries)
        got = np.where(np.isnan(omega).all(axis=1), np.nan, np.nan_to_num(omega) @ r_next)
        assert rel_err(got, want) < 1e-9  # two different solves of a K×K system; cond ~1e3
        # The FMP of factor k has unit exposure to k and zero to the others (where estimable).
        x = np.nan_to_num(omega) @ np.nan_to_num(m.exposure_matrix(date))
        est = ~np.isnan(omega).all(axis=1)
        ind = slice(1, 1 + p.n_industries)
        styles_and_market = np.r_[0, np.arange(1 + p.n_industries, x.shape[0])]
        np.testing.assert_allclose(x[np.ix_(styles_and_market, styles_and_market)], np.eye(4), atol=1e-10)
        assert est[ind].sum() < p.n_industries  # the unused industry has no portfolio


def test_factor_mimicking_portfolios_refuse_negative_or_infinite_weights_and_caps():
    """As the regression does (ValueError naming the argument): an infinite regression weight
    was dropped silently (its asset left out as if its weight were 0), a negative one too, and an
    infinite or negative constraint cap bent the industry constraint without a word."""
    panel = ff.datasets.synthetic_universe(n_assets=40, n_days=300, seed=1)
    risk = ff.RiskModel.from_factor_model(ff.FactorModel().fit(panel, ff.Exposures.from_panel(panel)))
    ok = risk.factor_mimicking_portfolios(-1, regression_weights=np.ones(40), constraint_cap=np.ones(40))
    assert np.isfinite(ok).any()
    for arg in ("regression_weights", "constraint_cap"):
        for bad, what in ((np.inf, "infinite"), (-1.0, "non-negative")):
            v = np.ones(40)
            v[3] = bad
            with pytest.raises(ValueError, match=f"{arg} must .*{what}"):
                risk.factor_mimicking_portfolios(-1, **{arg: v})
    # NaN and 0 still leave the asset out (it gets 0)
    v = np.ones(40)
    v[3], v[4] = np.nan, 0.0
    om = risk.factor_mimicking_portfolios(-1, regression_weights=v)
    assert (om[np.isfinite(om).all(axis=1)][:, [3, 4]] == 0).all()


def test_from_covariance_refuses_a_negative_or_infinite_cap_as_from_arrays_does():
    """from_arrays (and FactorModel.fit) refuse a negative or infinite cap; from_covariance kept
    it, and factor_mimicking_portfolios then silently left its asset out (weight sqrt(cap) not
    finite)."""
    rng = np.random.default_rng(0)
    n = 40
    ex = ff.Exposures(rng.normal(size=(1, n, 2)), rng.integers(0, 3, (1, n)))
    k = ex.n_factors
    for bad, what in ((-5.0, "non-negative"), (np.inf, "infinite")):
        cap = np.exp(rng.normal(size=n))
        cap[3] = bad
        with pytest.raises(ValueError, match=f"cap must .*{what}"):
            ff.RiskModel.from_covariance(np.eye(k) * 1e-4, np.full(n, 1e-4), ex, cap=cap)
    cap = np.exp(rng.normal(size=n))
    cap[3] = np.nan  # NaN: no cap, still accepted
    m = ff.RiskModel.from_covariance(np.eye(k) * 1e-4, np.full(n, 1e-4), ex, cap=cap)
    assert (m.factor_mimicking_portfolios(0)[:, 3] == 0).all()


def test_factor_mimicking_portfolios_leave_out_assets_without_an_industry():
    """The regression drops an asset with industry code −1 when the model has industries; the
    portfolios must too, so that Ω r is the regression's factor return (lag 0: returns[t] on
    exposures[t]). Ω put weight on them (0.03 each in the market row) and missed by 1e-3."""
    rng = np.random.default_rng(3)
    T, N, G = 30, 60, 3
    sty, cap, r = rng.normal(size=(T, N, 2)), rng.lognormal(5, 1, (T, N)), rng.normal(0, 0.01, (T, N))
    ind = rng.integers(0, G, (T, N)).astype(np.int32)
    ind[:, :5] = -1
    res = ff.FactorModel(lag=0).fit(r, ff.Exposures(sty, ind), cap=cap)
    rm = ff.RiskModel.from_factor_model(res, min_periods=2, specific_min_periods=2, specific_blend_periods=0)
    for t in (T - 1, T - 7):
        omega = rm.factor_mimicking_portfolios(t)
        assert (omega[:, :5] == 0).all()
        np.testing.assert_allclose(omega @ r[t], res.factor_returns[t], rtol=1e-10, atol=1e-16)


def test_factor_mimicking_portfolios_drop_a_style_without_dispersion_as_the_regression_does():
    """On a date where a style has no dispersion (all zeros while a descriptor warms up, or any
    constant) the regression drops it and estimates the other factors. The portfolios were all NaN
    (an exactly singular XᵀWX: 0 or a constant equal to the market column) or, for another
    constant (0.7), finite but wrong: Ω r missed the market's factor return and gave the dropped
    style one. Now that style's row is NaN and Ω r equals the regression's factor returns."""
    rng = np.random.default_rng(4)
    T, N, G = 30, 40, 3
    sty, cap, r = rng.normal(size=(T, N, 2)), rng.lognormal(5, 1, (T, N)), rng.normal(0, 0.01, (T, N))
    ind = rng.integers(0, G, (T, N)).astype(np.int32)
    sty[-1, :, 1], sty[-2, :, 1], sty[-3, :, 0] = 0.0, 0.7, 1.0
    res = ff.FactorModel(lag=0).fit(r, ff.Exposures(sty, ind), cap=cap)
    rm = ff.RiskModel.from_factor_model(res, min_periods=2, specific_min_periods=2, specific_blend_periods=0)
    for t, dropped in ((T - 1, 1), (T - 2, 1), (T - 3, 0)):
        omega = rm.factor_mimicking_portfolios(t)
        k = 1 + G + dropped
        assert np.isnan(omega[k]).all() and np.isnan(res.factor_returns[t, k])
        keep = np.arange(omega.shape[0]) != k
        assert np.isfinite(omega[keep]).all()
        np.testing.assert_allclose(omega[keep] @ r[t], res.factor_returns[t, keep], rtol=1e-10, atol=1e-16)


def test_factor_mimicking_portfolios_of_styles_far_from_zero_or_singular_designs_match_the_regression():
    """Ω came from the uncentred normal equations: a style at 5e4 ± 0.01 (or 1e6 ± 0.01) lost
    (level / spread)² · ε, and Ω r missed the regression's factor returns by 1 % (140 % at 1e6);
    and np.linalg.solve "solved" a singular design (a style constant within industries) from its
    rounding, where the regression gives NaN. Now the styles are centred as in the regression
    kernel and the same relative pivot test declares such a date singular."""
    rng = np.random.default_rng(17)
    n, g = 200, 4
    z, ind = rng.standard_normal((1, n, 3)), rng.integers(0, g, (1, n))
    cap, r = rng.lognormal(0, 1, (1, n)), 0.01 * rng.standard_normal((1, n))

    def both(styles, market=True, industry=ind):
        ex = ff.Exposures(styles, industry, market=market)
        k = ex.n_factors
        om = ff.RiskModel.from_covariance(np.eye(k) * 1e-4, np.full(n, 1e-4), ex, cap=cap).factor_mimicking_portfolios()
        f = ff.cross_section_regress(r, styles, industry, cap=cap, market=market).factor_returns[0]
        return np.where(np.isnan(om).all(axis=1), np.nan, np.nan_to_num(om) @ r[0]), f

    for level in (5e4, 1e6):
        for market, industry in ((True, ind), (False, ind), (True, None)):
            got, want = both(level + 0.01 * z, market, industry)
            assert np.isfinite(want).all()
            assert rel_err(got, want) < 1e-10, (level, market, industry is None)
    level = np.array([0.1, 0.7, -0.2, 1.3])[ind]
    for noise in (0.0, 1e-7):
        s = z.copy()
        s[..., 2] = level + noise * z[..., 2]
        got, want = both(s)
        assert np.isnan(want).all() and np.isnan(got).all(), noise


# ---------------------------------------------------------------------------------- bad input


def test_bad_inputs_raise_clear_errors():
    m, p, f = model_from_panel()
    ex = exposures_of(p)
    with pytest.raises(ValueError, match=r"weights have 119 assets .* the model has 120 assets"):
        m.portfolio_risk(np.ones((2, 119)))
    w_bad = covered_weights(m, -1)
    w_bad[3, 17] = np.nan
    with pytest.raises(ValueError, match="weights must be finite: portfolio 3 has nan at asset 17"):
        m.portfolio_risk(w_bad)
    w_bad[3, 17] = np.inf
    with pytest.raises(ValueError, match="weights must be finite: portfolio 3 has inf at asset 17"):
        m.factor_exposures(w_bad)
    # settings are validated in __init__, before any data is seen
    with pytest.raises(ValueError, match="vol_half_life must be > 0"):
        ff.RiskModel(vol_half_life=0)
    with pytest.raises(ValueError, match="specific_half_life must be > 0"):
        ff.RiskModel(specific_half_life=-3)
    with pytest.raises(ValueError, match="newey_west_lags must be a pair"):
        ff.RiskModel(newey_west_lags=5)
    with pytest.raises(ValueError, match="specific_blend_periods must be >= 0"):
        ff.RiskModel(specific_blend_periods=-1)
    with pytest.raises(ValueError, match="specific_newey_west_lags must be >= 0"):
        ff.RiskModel(specific_newey_west_lags=-2)
    with pytest.raises(TypeError, match="specific_newey_west_lags must be an integer"):
        ff.RiskModel(specific_newey_west_lags=1.5)
    with pytest.raises(ValueError, match="n_cap_groups must be <= 10000"):
        ff.RiskModel(n_cap_groups=2**62)
    with pytest.raises(ValueError, match="half_life must be a positive"):
        _core.risk_ewma_newey_west(f, 0.0, 1, 1)
    with pytest.raises(ValueError, match=r"exposures has shape \(50, 120\), expected \(50, 119\)"):
        ff.RiskModel.from_arrays(f, p.returns[:, :119], ex, p.cap)
    with pytest.raises(ValueError, match=r"factor_returns has shape \(50, 3\), expected \(50, 10\)"):
        ff.RiskModel.from_arrays(f[:, :3], p.returns, ex, p.cap)
    with pytest.raises(TypeError, match="exposures must be a ferrofactor.Exposures"):
        ff.RiskModel.from_arrays(f, p.returns, p.styles, p.cap)
    with pytest.raises(TypeError, match="result must be a FactorModelResult"):
        ff.RiskModel().fit(f)
    with pytest.raises(ValueError, match="date position 50 is out of range"):
        m.portfolio_risk(np.zeros(120), 50)
    with pytest.raises(ff.NotFittedError):
        ff.RiskModel().portfolio_risk(np.zeros(120))
    with pytest.raises(ff.NotFittedError):
        ff.RiskModel().summary()
    # print() and a notebook's display of an unfitted model say so (they raised NotFittedError)
    assert str(ff.RiskModel()) == "RiskModel(unfitted)"
    assert ff.RiskModel()._repr_html_() == "RiskModel(unfitted)"
    # non-PSD user factor covariance
    one = ff.Exposures(np.zeros((1, 4, 1)), np.array([[0, 0, 1, 1]]))
    bad = np.array([[1.0, 0, 0, 0], [0, 1, 2, 0], [0, 2, 1, 0], [0, 0, 0, 1]])
    with pytest.raises(ValueError, match="factor_covariance must be positive semi-definite"):
        ff.RiskModel.from_covariance(bad, np.ones(4), one)
    with pytest.raises(ValueError, match=r"^factor_covariance must be symmetric"):
        ff.RiskModel.from_covariance(np.triu(np.ones((4, 4))), np.ones(4), one)
    nan = np.eye(4)
    nan[1, 1] = np.nan
    # named once, as the caller knows it (it said "factor_covariance: factor_covariance must ...")
    with pytest.raises(ValueError, match=r"^factor_covariance must be finite"):
        ff.RiskModel.from_covariance(nan, np.ones(4), one)
    two = ff.Exposures(np.zeros((2, 4, 1)), np.array([[0, 0, 1, 1]] * 2))
    with pytest.raises(ValueError, match=r"^factor_covariance\[1\] must be finite"):
        ff.RiskModel.from_covariance(np.stack([np.eye(4), nan]), np.ones((2, 4)), two)
    with pytest.raises(ValueError, match=r"factor_covariance has shape \(1, 3, 3\), expected \(1, 4, 4\)"):
        ff.RiskModel.from_covariance(np.eye(3), np.ones(4), one)
    with pytest.raises(ValueError, match="forecast_vol must be positive"):
        bias_statistic(np.ones(5), np.zeros(5))


def test_a_failed_refit_leaves_the_model_unchanged():
    m, p, f = model_from_panel()
    before = {k: getattr(m, k).copy() for k in ("factor_covariance", "specific_variance")}
    dates_before = m.dates
    with pytest.raises(ValueError):
        m._fit(f, p.returns[:, :100], exposures_of(p), p.cap, None)  # bad shapes: nothing stored
    with pytest.raises(ValueError):
        m._fit(f, p.returns, exposures_of(p), p.cap, keep_dates=[999])
    for k, v in before.items():
        np.testing.assert_array_equal(getattr(m, k), v)
    assert m.dates is dates_before


def test_from_covariance_products():
    rng = np.random.default_rng(2)
    n = 30
    st = rng.standard_normal((n, 2))
    ind = rng.integers(0, 3, n)
    a = rng.standard_normal((6, 6))
    fc = a @ a.T * 1e-4
    d = rng.uniform(1e-4, 4e-4, n)
    ex = ff.Exposures(st[None], ind[None])
    m = ff.RiskModel.from_covariance(fc, d, ex)
    w = rng.standard_normal((4, n))
    want = bl.risk_portfolio_risk_dense(w, st, ind, True, 3, fc, d)
    assert rel_err(m.portfolio_risk(w), want) < RTOL


# ---------------------------------------------------------------------------------- threads


def test_results_identical_across_thread_counts():
    p = random_panel(T=40, N=700, K=3, G=6, seed=7)
    rng = np.random.default_rng(0)
    f = rng.normal(0, 0.01, size=(40, 10))
    w = rng.standard_normal((37, 700))
    out = []
    try:
        for nt in (1, 2):
            ff.set_num_threads(nt)
            m = ff.RiskModel.from_arrays(f, p.returns, exposures_of(p), p.cap, specific_min_periods=5)
            ok = np.isfinite(m.specific_variance[-1]) & np.isfinite(p.styles[-1]).all(axis=1)
            out.append((m.factor_covariance.copy(), m.specific_variance.copy(), m.portfolio_risk(w * ok), m.factor_exposures(w * ok)))
    finally:
        ff.set_num_threads(0)
    for a, b in zip(*out):
        np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------------------------- frames


def test_properties_frames_and_keep_dates():
    m, p, f = model_from_panel()
    dates = np.arange("2020-01-01", 50, dtype="datetime64[D]")
    ex = exposures_of(p, dates=dates, assets=[f"A{i}" for i in range(120)])
    mk = ff.RiskModel.from_arrays(f, p.returns, ex, p.cap, keep_dates=dates[[10, 40]],
                                  min_periods=5, specific_min_periods=10)
    assert mk.factor_covariance.shape == (2, 10, 10)
    np.testing.assert_array_equal(mk.dates, dates[[10, 40]])
    np.testing.assert_array_equal(mk.factor_covariance[1], m.factor_covariance[40])
    np.testing.assert_array_equal(mk.specific_variance[0], m.specific_variance[10])
    w = covered_weights(m, 40)
    np.testing.assert_array_equal(mk.portfolio_risk(w, dates[40]), m.portfolio_risk(w, 40))
    np.testing.assert_array_equal(mk.portfolio_risk(w, "2020-02-10"), m.portfolio_risk(w, 40))
    vol = m.to_polars()
    assert vol.shape == (50, 11) and vol.columns[1] == "market"
    assert m.to_polars("factor_covariance", form="long").height == 50 * 100
    assert m.to_polars("factor_covariance").shape == (50 * 10, 2 + 10)
    spec = mk.to_polars("specific_risk", form="long")
    assert spec.columns == ["date", "asset", "specific_risk"] and spec.height == 2 * 120
    assert spec["asset"][1] == "A1" and spec["date"][0] == dates[10]
    assert "Risk model" in str(m.summary())
    with pytest.raises(ValueError, match="kind must be one of"):
        m.to_polars("nope")


# ---------------------------------------------------------------------------------- validation


def test_bias_statistic_hand_checked():
    rng = np.random.default_rng(0)
    r = rng.standard_normal((200, 3)) * 0.02
    v = np.full_like(r, 0.02)
    res = bias_statistic(r, v)
    np.testing.assert_allclose(res.bias, np.std(r / v, axis=0, ddof=1), rtol=1e-12)
    np.testing.assert_allclose(res.upper, 1 + np.sqrt(2 / 200))
    rolled = bias_statistic(r[:, 0], v[:, 0], window=50)
    assert np.isnan(rolled.bias[48]) and rolled.bias[49] == pytest.approx(np.std(r[:50, 0] / 0.02, ddof=1))
    # Forecasts half the true vol: bias ≈ 2, outside the band.
    assert not bias_statistic(r[:, 0], v[:, 0] / 2).inside



def test_bias_statistic_of_one_series_converts_as_any_result():
    # one series over the whole sample (a 0-d bias): to_polars ignored kind and form, took
    # any kind ("nope" gave the table) and dropped the series' name
    rng = np.random.default_rng(0)
    r = rng.standard_normal(200)
    one = bias_statistic(r, np.ones(200), names=["book"])
    two = bias_statistic(r[:, None], np.ones((200, 1)), names=["book"])
    assert np.ndim(one.bias) == 0
    for kind in (None, "table", "bias", "n_obs", "inside"):
        for form in ("wide", "long"):
            assert one.to_polars(kind, form=form).equals(two.to_polars(kind, form=form)), (kind, form)
    assert one.to_polars()["portfolio"].to_list() == ["book"]
    assert bias_statistic(r, np.ones(200)).to_polars("bias")["portfolio"].to_list() == [0]
    with pytest.raises(ValueError, match="kind must be one of"):
        one.to_polars("nope")
    with pytest.raises(ValueError, match="form must be one of"):
        one.to_polars(form="tall")


def simulate_truth(T=1000, N=400, G=5, KS=2, seed=0):
    """Returns r[t] = B[t-1] f[t] + e[t] with constant, known factor covariance and specific vols."""
    rng = np.random.default_rng(seed)
    K = 1 + G + KS
    vols = np.r_[0.01, np.full(G, 0.005), np.full(KS, 0.003)]
    corr = 0.3 * np.ones((K, K)) + 0.7 * np.eye(K)
    fcov = corr * np.outer(vols, vols)
    f = rng.multivariate_normal(np.zeros(K), fcov, size=T)
    industry = np.tile(rng.integers(0, G, N), (T, 1)).astype(np.int32)
    styles = np.cumsum(rng.standard_normal((T, N, KS)) * 0.02, axis=0) + rng.standard_normal((1, N, KS))
    cap = np.tile(np.exp(rng.normal(8, 1, N)), (T, 1))
    svol = rng.uniform(0.01, 0.03, N)
    e = rng.standard_normal((T, N)) * svol
    b_prev = np.zeros((T, N, K))
    b_prev[:, :, 0] = 1.0
    b_prev[np.arange(T)[:, None], np.arange(N)[None], 1 + industry] = 1.0
    b_prev[:, :, 1 + G :] = styles
    b_prev = np.roll(b_prev, 1, axis=0)  # exposures of t-1 explain returns of t
    r = np.einsum("tnk,tk->tn", b_prev, f) + e
    r[0] = np.nan
    # Estimated factor returns and residuals by the (independent) KKT regression.
    fh = np.full((T, K), np.nan)
    res = np.full((T, N), np.nan)
    for t in range(1, T):
        fh[t] = kkt_factor_returns(b_prev[t], r[t], np.sqrt(cap[t - 1]), cap[t - 1], True, G)
        res[t] = r[t] - b_prev[t] @ fh[t]
    return dict(r=r, f=fh, res=res, styles=styles, industry=industry, cap=cap, G=G, svol=svol, fcov=fcov)


@pytest.fixture(scope="module")
def truth():
    s = simulate_truth()
    args = (s["f"], s["res"], ff.Exposures(s["styles"], s["industry"]), s["cap"])
    s["model"] = ff.RiskModel.from_arrays(*args)  # the defaults: NW lags (5, 2)
    s["model_no_nw"] = ff.RiskModel.from_arrays(*args, newey_west_lags=(0, 0))
    return s


def bias_of_portfolios(m, r, f, start=250):
    T = r.shape[0]
    t_fore = np.arange(start, T - 1)
    # factor portfolios: the factor return of t+1 over the factor volatility forecast at t
    res_f = bias_statistic(f[t_fore + 1], m.factor_volatility[t_fore])
    # random portfolios (long-only, long-short, sparse long-short), held fixed
    rng = np.random.default_rng(1)
    n = r.shape[1]
    w = np.vstack([rng.uniform(0, 1, n), rng.standard_normal(n), rng.standard_normal(n) * (rng.random(n) < 0.1)])
    w /= np.abs(w).sum(axis=1, keepdims=True)
    fore = np.array([m.portfolio_risk(w, t) for t in t_fore])
    res_p = bias_statistic(r[t_fore + 1] @ w.T, fore)
    return res_f, res_p


def test_bias_statistics_inside_band_on_known_truth(truth):
    # The simulated factor and specific returns are i.i.d. with constant covariance. With the
    # EWMA estimator alone (no Newey-West lags) every portfolio's bias falls inside 1 ± sqrt(2/T).
    for res in bias_of_portfolios(truth["model_no_nw"], truth["r"], truth["f"]):
        assert res.inside.all(), (res.bias, res.lower, res.upper)


def test_bias_statistics_with_newey_west_on_known_truth(truth):
    # With the default Newey-West lags (5, 2) the forecasts also carry the sampling noise of the
    # EWMA autocovariances (half-life 84 ≈ 240 effective days, so lag-1 autocorrelation noise of
    # ≈ 0.065 moving the NW variance by ≈ ±13 %), slowly varying, which the 1 ± sqrt(2/T) band
    # does not allow for. On i.i.d. truth the forecasts must still be unbiased on average: the
    # mean bias over all portfolios is inside the band, and each one is within 3 half-widths.
    res_f, res_p = bias_of_portfolios(truth["model"], truth["r"], truth["f"])
    biases = np.r_[res_f.bias, res_p.bias]
    half = res_f.upper[0] - 1
    assert abs(biases.mean() - 1) < half, biases
    assert np.all(np.abs(biases - 1) < 3 * half), biases
    assert res_p.inside.all(), (res_p.bias, res_p.lower, res_p.upper)
    # the estimated specific vols are close to the truth (shrinkage pulls a little)
    est = np.sqrt(truth["model"].specific_variance[-1])
    assert np.median(np.abs(est / truth["svol"] - 1)) < 0.1


def test_minimum_variance_test_on_known_truth(truth):
    out = minimum_variance_test(truth["model"], truth["r"], every=5)
    keep = out.dates >= 250
    b = bias_statistic(out.realized[keep, 0], out.forecast_vol[keep, 0])
    assert b.inside, (b.bias, b.lower, b.upper)
    assert out.forecast_vol.min() > 0
    np.testing.assert_allclose(out.weights.sum(axis=1), 1.0, rtol=1e-12)
    # each date's weights are the dense minimum-variance solution Σ⁻¹1 / 1ᵀΣ⁻¹1
    m = truth["model"]
    d = int(out.dates[7])
    cov = m.covariance(d)
    ok = np.isfinite(np.diag(cov))
    x = np.linalg.solve(cov[np.ix_(ok, ok)], np.ones(ok.sum()))
    np.testing.assert_allclose(out.weights[7, ok], x / x.sum(), rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(out.forecast_vol[7, 0], m.portfolio_risk(out.weights[7], d), rtol=1e-12)


def test_bias_test_of_fixed_portfolios_equals_the_per_date_products(truth):
    m, r = truth["model"], truth["r"]
    rng = np.random.default_rng(3)
    w = rng.random((4, r.shape[1]))
    test = ff.evaluate.bias_test(m, r, w, dates=np.arange(300, 320))
    for i, d in enumerate(range(300, 320)):
        live = np.isfinite(m.specific_variance[d]) & np.isfinite(r[d + 1])
        wd = np.where(live, w, 0.0)
        wd *= (w.sum(axis=1) / wd.sum(axis=1))[:, None]
        np.testing.assert_allclose(test.forecast_vol[i], m.portfolio_risk(wd, d), rtol=1e-12)
        np.testing.assert_allclose(test.realized[i], wd @ np.where(live, r[d + 1], 0.0), rtol=1e-12)
    assert test.bias.bias.shape == (4,)


def test_residual_correlation_of_a_constant_residual_is_nan_never_rounding():
    """An asset whose residual is constant (zero-filled, or a constant) has no correlation. The
    one-pass sums gave it one made of rounding: ±1e-10 or ±inf (seed 6 below: an infinite top
    eigenvalue and a co-moving 'group' of the constant asset with another)."""
    bad = []
    for seed in range(40):
        rng = np.random.default_rng(seed)
        e = rng.normal(0, 0.02, (25, 4))
        e[:, 0] = rng.choice([0.0, 0.01, 0.013, 0.3, 1.0])
        out = residual_correlation(e, min_periods=2)
        if not np.isnan(out.correlation[0, 1:]).all() or not np.isfinite(out.top_eigenvalues).all() \
                or any("0" in g for g in out.group_assets):
            bad.append(seed)
    assert bad == []
    # the other pairs equal pandas' pairwise correlation, also far from zero mean
    rng = np.random.default_rng(1)
    e = rng.normal(size=(80, 30))
    e[rng.random(e.shape) < 0.2] = np.nan
    e[:, 3] += 1e6
    want = pd.DataFrame(e).corr(min_periods=20).to_numpy()
    got = residual_correlation(e, min_periods=20).correlation
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-9)


def test_residual_correlation_finds_missing_factor():
    rng = np.random.default_rng(0)
    T, N = 300, 60
    e = rng.standard_normal((T, N))
    oil = rng.standard_normal(T)
    group = np.array([3, 17, 25, 40, 41])
    e[:, group] += 1.5 * oil[:, None]  # a factor the model forgot
    e[rng.random((T, N)) < 0.05] = np.nan
    out = residual_correlation(e, threshold=0.3)
    assert len(out.groups) == 1 and out.group_assets == [["3", "17", "25", "40", "41"]]
    with pytest.raises(ValueError, match="at least 2 dates"):
        residual_correlation(e[:0])
    np.testing.assert_array_equal(out.groups[0], group)
    assert out.top_eigenvalues[0] > out.mp_edge
    # pairwise correlation equals numpy's on the common dates
    ok = np.isfinite(e[:, 3]) & np.isfinite(e[:, 17])
    assert out.correlation[3, 17] == pytest.approx(np.corrcoef(e[ok, 3], e[ok, 17])[0, 1], rel=1e-10)


# ---------------------------------------------------------------------------------- end to end


def test_from_factor_model_on_the_synthetic_universe():
    # FactorModel (lag 1, sqrt-cap weights, cap-weighted industry constraint) → RiskModel, which
    # needs nothing but the result: the unlagged exposures, the cap and the labels travel with it.
    pan = ff.datasets.synthetic_universe(n_assets=300, n_days=160, n_industries=5, n_styles=3, seed=2)
    tr = pan.truth
    exp = ff.Exposures(tr.exposures, tr.industry, style_names=list(tr.style_names),
                       industry_names=list(tr.industry_names), dates=pan.dates, assets=pan.assets)
    cap, r = pan["market_cap"], pan["returns"]
    res = ff.FactorModel().fit(pan, exp)
    rm = ff.RiskModel.from_factor_model(res, min_periods=10, specific_min_periods=20)
    assert rm.factor_names == res.factor_names and rm.dates[5] == pan.dates[5]
    assert rm.exposures is exp
    # the last date has exposures too (nothing was lost to the lag)
    assert np.isfinite(rm.specific_variance[-1]).sum() > 200
    # Mimicking portfolios built at t from the exposures and caps of t earn the factor returns
    # the regression estimates at t + 1 (restricted to the assets that have a return at t + 1,
    # as the regression is).
    for t in (40, 100, 158):
        wts = np.where(np.isfinite(r[t + 1]), np.sqrt(cap[t]), np.nan)
        omega = rm.factor_mimicking_portfolios(t, regression_weights=wts)
        got = np.nan_to_num(omega) @ np.nan_to_num(r[t + 1])
        got[np.isnan(omega).all(axis=1)] = np.nan
        assert rel_err(got, res.factor_returns[t + 1]) < 1e-9  # two solves of a K×K system
    # a fitted FactorModel is accepted too
    model = ff.FactorModel()
    model.fit(pan, exp)
    rm2 = ff.RiskModel(min_periods=10, specific_min_periods=20).fit(model)
    np.testing.assert_array_equal(rm2.specific_variance, rm.specific_variance)
    nocap = ff.FactorModel(weights="equal", industry_constraint="equal").fit(r, exp)
    with pytest.raises(ValueError, match="the risk model needs the market cap"):
        ff.RiskModel.from_factor_model(nocap)


def test_a_negative_cap_is_refused_by_the_risk_model():
    p = random_panel(T=30, N=40, K=2, G=3, seed=1)
    ex = ff.Exposures(p.styles, p.industry)
    f = np.random.default_rng(0).normal(0, 0.01, (30, ex.n_factors))
    with pytest.raises(ValueError, match="cap must be non-negative"):
        ff.RiskModel.from_arrays(f, p.returns, ex, -p.cap)


# ---------------------------------------------------------------------------------- pandas Series by label


@pytest.fixture(scope="module")
def labelled_model():
    panel = ff.datasets.synthetic_universe(n_assets=40, n_days=300, seed=1)
    risk = ff.RiskModel.from_factor_model(ff.FactorModel().fit(panel, ff.Exposures.from_panel(panel)))
    cov = np.asarray(risk.covered(-1))
    w = np.where(cov, 1.0, 0.0)
    w[np.flatnonzero(cov)[:5]] *= 3  # not all equal: the order matters
    w /= w.sum()
    # a permutation among the covered assets only (an uncovered asset held would be refused)
    order = np.arange(w.size)
    ci = np.flatnonzero(cov)
    order[ci] = ci[np.random.default_rng(0).permutation(ci.size)]
    return panel, risk, w, order


def test_keep_dates_empty_or_nested_is_refused(labelled_model):
    # keep_dates=[] gave a model of 0 dates (every product then failed with "date position -1 is
    # out of range for 0 dates"); a nested list [[1, 2]] was flattened silently
    panel, risk, w, order = labelled_model
    args = (risk._factor_returns, risk._residuals, risk.exposures, risk.cap)
    for bad in ([], np.array([], dtype=np.int64)):
        with pytest.raises(ValueError, match="keep_dates selects no dates"):
            ff.RiskModel.from_arrays(*args, keep_dates=bad)
    with pytest.raises(ValueError, match=r"keep_dates must be a date, a position or a 1-D list of them, got shape \(1, 2\)"):
        ff.RiskModel.from_arrays(*args, keep_dates=[[1, 2]])
    # one position, a flat list, labels: as before
    assert list(ff.RiskModel.from_arrays(*args, keep_dates=-1).stored_positions) == [299]
    assert list(ff.RiskModel.from_arrays(*args, keep_dates=[3, -1]).stored_positions) == [3, 299]


def test_a_partial_date_label_is_refused_not_read_as_the_first_day(labelled_model):
    # date="2015-06" (or keep_dates=["2015-06"]) was read by numpy as 2015-06-01, a trading day of
    # the panel, and the products silently evaluated that day; arrays of dates (Panel dates)
    # refuse such labels ("dates are never guessed")
    panel, risk, w, order = labelled_model
    w0 = np.where(risk.covered("2015-06-01"), 1.0, 0.0)
    assert np.isfinite(risk.portfolio_risk(w0, date="2015-06-01"))
    for label in ("2015-06", "2015", "2015-6-1", "20150601"):
        with pytest.raises(ValueError, match="date '.*' is not an ISO date"):
            risk.portfolio_risk(w0, date=label)
        with pytest.raises(ValueError, match="date '.*' is not an ISO date"):
            risk.covered(label)
    with pytest.raises(ValueError, match="keep_dates '2015-06' is not an ISO date"):
        ff.RiskModel.from_arrays(risk._factor_returns, risk._residuals, risk.exposures, risk.cap,
                                 keep_dates=["2015-06-01", "2015-06"])
    # full ISO labels, with a midnight time, still work
    assert risk.portfolio_risk(w0, date="2015-06-01T00:00:00") == risk.portfolio_risk(w0, date="2015-06-01")


def test_a_pandas_series_of_weights_is_paired_by_asset_label(labelled_model):
    # a Series indexed by asset was read by position: after sort_values (or any reorder) the
    # products gave other numbers (portfolio_risk 0.01186 for the same {asset: weight})
    pd = pytest.importorskip("pandas")
    panel, risk, w, order = labelled_model
    s = pd.Series(w, index=panel.assets).iloc[order]
    assert not np.array_equal(s.to_numpy(), w)
    assert risk.portfolio_risk(s) == risk.portfolio_risk(w) == risk.portfolio_risk(dict(zip(panel.assets, w)))
    assert risk.portfolio_variance(s.sort_values()) == risk.portfolio_variance(w)
    np.testing.assert_array_equal(risk.factor_exposures(s), risk.factor_exposures(w))
    a, b = risk.risk_decomposition(s), risk.risk_decomposition(w)
    assert a.total_vol == b.total_vol
    np.testing.assert_array_equal(a.asset_contrib, b.asset_contrib)
    # assets not in the Series hold 0, as in a mapping; a Series with the default index is positional
    held = s[s != 0]
    assert risk.portfolio_risk(held) == risk.portfolio_risk(w)
    assert risk.portfolio_risk(pd.Series(w)) == risk.portfolio_risk(w)
    with pytest.raises(ValueError, match=r"^weights name assets the model does not have: \['ZZZ'\]$"):
        risk.portfolio_risk(pd.concat([held, pd.Series([0.0], index=["ZZZ"])]))
    with pytest.raises(ValueError, match=r"^weights \(a pandas Series\) has the asset 'A00003' twice in its index$"):
        risk.portfolio_risk(pd.Series([0.5, 0.5], index=["A00003", "A00003"]))


def test_a_pandas_frame_of_portfolios_is_paired_by_its_asset_columns(labelled_model):
    # portfolios × tickers as a pandas DataFrame were read by position, the columns ignored: in
    # another column order the products gave another portfolio's numbers
    pd = pytest.importorskip("pandas")
    panel, risk, w, order = labelled_model
    w2 = np.where(np.asarray(risk.covered(-1)), np.linspace(0.0, 1.0, w.size), 0.0)
    W = np.stack([w, w2 / w2.sum()])
    df = pd.DataFrame(W, columns=panel.assets).iloc[:, order]
    assert not np.array_equal(df.to_numpy(), W)
    np.testing.assert_array_equal(risk.factor_exposures(df), risk.factor_exposures(W))
    np.testing.assert_array_equal(risk.portfolio_risk(df), risk.portfolio_risk(W))
    # assets without a column hold 0; default RangeIndex columns are positional, as an array
    held = df.loc[:, (df != 0).any(axis=0)]
    assert held.shape[1] < W.shape[1]
    np.testing.assert_array_equal(risk.portfolio_risk(held), risk.portfolio_risk(W))
    np.testing.assert_array_equal(risk.portfolio_risk(pd.DataFrame(W)), risk.portfolio_risk(W))
    with pytest.raises(ValueError, match=r"^weights name assets the model does not have: \['ZZZ'\]$"):
        risk.portfolio_risk(held.assign(ZZZ=0.0))
    with pytest.raises(ValueError, match=r"has the asset 'A00003' twice in its columns$"):
        risk.portfolio_risk(pd.DataFrame([[0.5, 0.5]], columns=["A00003", "A00003"]))
    # forecast_volatility's (stored dates × assets) frame must carry the model's labels
    D = len(risk.dates)
    Wd = np.repeat(w[None], D, axis=0)
    Wd[:, ~np.asarray(risk.covered(-1))] = 0.0
    ok = np.array([np.asarray(risk.covered(d))[Wd[d] != 0].all() for d in range(D)])
    Wd[~ok] = 0.0  # no holding where a held asset has no forecast yet
    frame = pd.DataFrame(Wd, index=pd.DatetimeIndex(risk.dates), columns=panel.assets)
    np.testing.assert_array_equal(risk.forecast_volatility(frame), risk.forecast_volatility(Wd))
    with pytest.raises(ValueError, match="weights and the risk model have different assets"):
        risk.forecast_volatility(frame.iloc[:, order])
    with pytest.raises(ValueError, match="weights and the risk model have different dates"):
        risk.forecast_volatility(frame.set_axis(frame.index + pd.Timedelta(days=1)))


def test_per_asset_vectors_of_mimicking_portfolios_and_from_covariance_are_paired_by_label(labelled_model):
    pd = pytest.importorskip("pandas")
    panel, risk, _, _ = labelled_model
    A = panel.assets
    cap = np.nan_to_num(panel["market_cap"][-1], nan=1.0)
    wts = np.sqrt(cap) * np.linspace(1, 2, A.size)
    rev = slice(None, None, -1)
    want = risk.factor_mimicking_portfolios(-1, regression_weights=wts, constraint_cap=cap)
    got = risk.factor_mimicking_portfolios(-1, regression_weights=pd.Series(wts, index=A)[rev],
                                           constraint_cap=pd.Series(cap, index=A)[rev])
    np.testing.assert_array_equal(got, want)
    with pytest.raises(ValueError, match=r"^regression_weights has no value for 1 of the 40 assets of the risk "
                                         r"model, e\.g\. \['A00000'\]; give every asset a value"):
        risk.factor_mimicking_portfolios(-1, regression_weights=pd.Series(wts, index=A)[1:])
    # from_covariance: the specific variances (and cap) of a vendor file, indexed by asset
    ex = risk.exposures
    one = ff.Exposures(ex.styles[-1:], ex.industry[-1:], style_names=ex.style_names,
                       industry_names=ex.industry_names, dates=ex.dates[-1:], assets=A)
    spec = np.linspace(1e-4, 4e-4, A.size)
    m0 = ff.RiskModel.from_covariance(risk.factor_covariance[-1], spec, one, cap=cap)
    m1 = ff.RiskModel.from_covariance(risk.factor_covariance[-1], pd.Series(spec, index=A)[rev], one,
                                      cap=pd.Series(cap, index=A)[rev])
    np.testing.assert_array_equal(m1.specific_variance, m0.specific_variance)
    np.testing.assert_array_equal(m1.factor_mimicking_portfolios(), m0.factor_mimicking_portfolios())
    with pytest.raises(ValueError, match=r"^specific_variance names assets that are not among those of the exposures: \['X'\]$"):
        ff.RiskModel.from_covariance(risk.factor_covariance[-1], pd.Series(1e-4, index=[*A, "X"]), one)


def test_from_arrays_factor_returns_indexed_by_date_must_carry_the_exposures_dates():
    # factor returns as a pandas DataFrame indexed by date were read by position: reordered,
    # the covariance was estimated on other dates' returns with no error
    pd = pytest.importorskip("pandas")
    panel = ff.datasets.synthetic_universe(n_assets=40, n_days=120, seed=2)
    res = ff.FactorModel().fit(panel, ff.Exposures.from_panel(panel))
    f, e, ex, cap = np.asarray(res.factor_returns), res.residuals, res.exposures, panel["market_cap"]
    want = ff.RiskModel.from_arrays(f, e, ex, cap)
    fdf = pd.DataFrame(f, index=pd.DatetimeIndex(panel.dates), columns=res.factor_names)
    got = ff.RiskModel.from_arrays(fdf, e, ex, cap)
    np.testing.assert_array_equal(got.factor_covariance, want.factor_covariance)
    d0, d1 = panel.dates[-1], panel.dates[0]
    with pytest.raises(ValueError, match=rf"^factor_returns and exposures have different dates: position 0 is {d0} "
                                         rf"in factor_returns but {d1} in exposures"):
        ff.RiskModel.from_arrays(fdf.iloc[::-1], e, ex, cap)


def test_summary_reports_the_settings_the_estimates_used():
    # summary() read the settings when printed: set for the next fit, they were reported as those
    # of this one; a model from given matrices listed estimation settings it never used
    panel = ff.datasets.synthetic_universe(n_assets=60, n_days=160, seed=4)
    ex = ff.Exposures.from_panel(panel)
    res = ff.FactorModel().fit(panel, ex)
    rm = ff.RiskModel(vol_half_life=42).fit(res)
    rm.vol_half_life = 126
    header = dict(rm.summary().header)
    assert header["vol_half_life"] == "42.0"
    one = ff.Exposures(styles=np.zeros((1, 4, 2)), style_names=["a", "b"], market=True,
                       industry=np.array([[0, 0, 1, 1]]), industry_names=["x", "y"])
    given = ff.RiskModel.from_covariance(np.eye(5) * 1e-4, np.full(4, 4e-4), one)
    header = dict(given.summary().header)
    assert header["Estimated"] == "given (from_covariance)" and "vol_half_life" not in header


def test_summary_of_a_model_pickled_before_the_settings_were_recorded():
    # a RiskModel pickled by the previous release has no _fit_settings: its summary() (and so
    # str() and the notebook display) raised AttributeError after unpickling with this one
    import pickle

    panel = ff.datasets.synthetic_universe(n_assets=60, n_days=160, seed=4)
    rm = ff.RiskModel().fit(ff.FactorModel().fit(panel, ff.Exposures.from_panel(panel)))
    state = rm.__dict__.copy()
    del state["_fit_settings"]  # the state an earlier version pickled
    old = pickle.loads(pickle.dumps(rm))
    old.__dict__.clear()
    old.__setstate__(state)
    header = dict(old.summary().header)
    assert header["Estimated"] == "settings not recorded (saved by an earlier version)"
    assert "vol_half_life" not in header
    assert str(old) and old._repr_html_()


def test_forecast_volatility_matches_a_long_frame_in_any_asset_order_on_labels(labelled_model):
    # a long frame of weights carries dates and assets: matched with the model's labels, so the
    # order it lists its assets in does not matter (it used to be refused as if paired by position)
    pl = pytest.importorskip("polars")
    panel, risk, w, order = labelled_model
    D = len(risk.dates)
    Wd = np.repeat(w[None], D, axis=0)
    Wd[:, ~np.asarray(risk.covered(-1))] = 0.0
    ok = np.array([np.asarray(risk.covered(d))[Wd[d] != 0].all() for d in range(D)])
    Wd[~ok] = 0.0
    assets = np.asarray(panel.assets)
    frame = pl.DataFrame({
        "date": np.repeat(np.asarray(risk.dates), len(assets)),
        "asset": np.tile(assets[order], D),
        "w": Wd[:, order].ravel(),
    })
    np.testing.assert_array_equal(risk.forecast_volatility(frame), risk.forecast_volatility(Wd))


def test_from_arrays_refuses_infinite_factor_returns_and_residuals():
    """An infinite factor return or residual is a data error (NaN marks a missing one): the EWMA
    covariance and the specific variance skipped it quietly, as a missing value, and returned a
    model built on the remaining dates."""
    panel = ff.datasets.synthetic_universe(n_assets=40, n_days=120, seed=1)
    ex = ff.Exposures.from_panel(panel)
    res = ff.FactorModel().fit(panel, ex)
    fr, e, cap = np.array(res.factor_returns), np.array(res.residuals), panel["market_cap"]
    ff.RiskModel.from_arrays(fr, e, ex, cap)  # finite: fine
    bad = fr.copy()
    bad[60, 1], bad[70, 0] = np.inf, -np.inf
    with pytest.raises(ValueError, match=r"factor_returns must not contain infinite values \(2 found"):
        ff.RiskModel.from_arrays(bad, e, ex, cap)
    bad = e.copy()
    bad[60, 1] = np.inf
    with pytest.raises(ValueError, match=r"residuals must not contain infinite values \(1 found"):
        ff.RiskModel.from_arrays(fr, bad, ex, cap)
