"""Risk-validation kernels batched over dates (rust/risk/validation.rs) against dense numpy.

Oracles: the dense asset covariance ``B Σf Bᵀ + D`` built in numpy from one-hot industries
(``np.linalg.solve`` for the minimum-variance portfolio, quadratic forms for volatilities), a
per-date numpy loop for the bias-test paths, and the existing per-date product
``_core.risk_portfolio_variance``.
"""

from __future__ import annotations

import numpy as np
import pytest

import ferrofactor as ff
from ferrofactor import _core


def make_model(D=6, N=40, G=4, Ks=3, market=True, seed=0, holes=True):
    rng = np.random.default_rng(seed)
    K = int(market) + G + Ks
    styles = rng.standard_normal((D, N, Ks))
    industry = rng.integers(-1 if G else -1, max(G, 0), size=(D, N)).astype(np.int32) if G else np.full((D, N), -1, np.int32)
    spec = rng.uniform(1e-4, 9e-4, size=(D, N))
    L = rng.standard_normal((D, K, K)) * 0.01
    cov = np.einsum("dij,dkj->dik", L, L) + 1e-5 * np.eye(K)
    if holes:
        styles[rng.random((D, N, Ks)) < 0.03] = np.nan
        spec[rng.random((D, N)) < 0.05] = np.nan
    return dict(styles=styles, industry=industry, market=market, n_industries=G, factor_cov=cov,
                specific_var=spec)


def args(m):
    return (m["styles"], m["industry"], m["market"], m["n_industries"], m["factor_cov"], m["specific_var"])


def dense_b(m, d):
    st, ind = m["styles"][d], m["industry"][d]
    N, Ks = st.shape
    G = m["n_industries"]
    cols = [np.ones((N, 1))] if m["market"] else []
    cols.append((ind[:, None] == np.arange(G)[None, :]).astype(float))
    cols.append(st)
    return np.hstack(cols)


def dense_var(m, d, w):
    """wᵀ(B Σf Bᵀ + D)w over the held assets (dense numpy)."""
    held = w != 0
    b = dense_b(m, d)[held]
    cov = b @ m["factor_cov"][d] @ b.T + np.diag(m["specific_var"][d][held])
    return float(w[held] @ cov @ w[held])


# --- forecast volatility ----------------------------------------------------------------------


@pytest.mark.parametrize("market,G", [(True, 4), (False, 3), (True, 0)])
def test_forecast_volatility_equals_dense_and_the_per_date_product(market, G):
    m = make_model(market=market, G=G, seed=1)
    D, N = m["specific_var"].shape
    rng = np.random.default_rng(2)
    w = rng.uniform(-0.05, 0.1, (D, N))
    covered = np.isfinite(m["specific_var"]) & np.isfinite(m["styles"]).all(axis=2)
    w[~covered] = 0.0
    vol = _core.risk_forecast_volatility(w, *args(m))
    for d in range(D):
        np.testing.assert_allclose(vol[d], np.sqrt(dense_var(m, d, w[d])), rtol=1e-10)
        st, ind = np.ascontiguousarray(m["styles"][d]), np.ascontiguousarray(m["industry"][d])
        fv, sv = _core.risk_portfolio_variance(w[d:d + 1], st, ind, market, G,
                                               np.ascontiguousarray(m["factor_cov"][d]),
                                               np.ascontiguousarray(m["specific_var"][d]))
        np.testing.assert_allclose(vol[d], np.sqrt(fv[0] + sv[0]), rtol=1e-12)


def test_forecast_volatility_nan_where_a_held_asset_has_no_forecast():
    m = make_model(seed=3, holes=False)
    m["specific_var"][2, 5] = np.nan
    m["styles"][4, 7, 1] = np.nan
    w = np.full(m["specific_var"].shape, 0.02)
    vol = _core.risk_forecast_volatility(w, *args(m))
    assert np.isnan(vol[[2, 4]]).all() and np.isfinite(np.delete(vol, [2, 4])).all()
    w[2, 5] = w[4, 7] = 0.0
    assert np.isfinite(_core.risk_forecast_volatility(w, *args(m))).all()


# --- bias paths -------------------------------------------------------------------------------


def bias_paths_numpy(weights, returns, rows, normalize, m):
    D = len(rows)
    P = weights.shape[0]
    G = m["n_industries"]
    realized, forecast = np.full((D, P), np.nan), np.full((D, P), np.nan)
    for d, row in enumerate(rows):
        if row + 1 >= returns.shape[0]:
            continue
        r = returns[row + 1]
        live = (np.isfinite(m["specific_var"][d]) & np.isfinite(m["styles"][d]).all(axis=1)
                & np.isfinite(r))
        if G:
            live &= m["industry"][d] >= 0
        for p in range(P):
            w = np.where(live, weights[p], 0.0)
            if normalize and w.sum() != 0:
                w = w * weights[p].sum() / w.sum()
            realized[d, p] = np.sum(w[live] * r[live])
            forecast[d, p] = np.sqrt(dense_var(m, d, w))
    return realized, forecast


@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("market,G", [(True, 4), (False, 0)])
def test_bias_paths_equal_a_per_date_numpy_loop(normalize, market, G):
    m = make_model(D=5, N=50, G=G, market=market, seed=4)
    rng = np.random.default_rng(5)
    T = 9
    returns = rng.normal(0, 0.02, (T, 50))
    returns[rng.random((T, 50)) < 0.1] = np.nan
    weights = rng.random((7, 50))
    weights[3] -= 0.5  # a long-short one
    rows = np.array([0, 2, 3, 7, 8], np.int64)  # the last has no next row: NaN
    want = bias_paths_numpy(weights, returns, rows, normalize, m)
    outs = []
    for threads in (1, 2):
        ff.set_num_threads(threads)
        try:
            outs.append(_core.risk_bias_paths(weights, returns, rows, normalize, *args(m)))
        finally:
            ff.set_num_threads(0)
    for a, b in zip(outs[0], outs[1]):
        np.testing.assert_array_equal(a, b)
    realized, forecast = outs[0]
    assert np.isnan(realized[4]).all() and np.isnan(forecast[4]).all()
    np.testing.assert_allclose(realized, want[0], rtol=1e-10, atol=1e-15)
    np.testing.assert_allclose(forecast, want[1], rtol=1e-10)


def test_bias_paths_bad_input():
    m = make_model(D=2, N=10, seed=6)
    w = np.ones((3, 10))
    r = np.zeros((4, 10))
    with pytest.raises(ValueError, match=r"rows\[1\] = 4 is not a row of returns"):
        _core.risk_bias_paths(w, r, np.array([0, 4]), True, *args(m))
    with pytest.raises(ValueError, match="rows has 1 entries"):
        _core.risk_bias_paths(w, r, np.array([0]), True, *args(m))
    w[1, 2] = np.inf
    with pytest.raises(ValueError, match="portfolio 1 has inf at asset 2"):
        _core.risk_bias_paths(w, r, np.array([0, 1]), True, *args(m))
    with pytest.raises(ValueError, match="returns has shape"):
        _core.risk_bias_paths(np.ones((3, 10)), np.zeros((4, 9)), np.array([0, 1]), True, *args(m))


# --- minimum variance -------------------------------------------------------------------------


@pytest.mark.parametrize("market,G", [(True, 3), (False, 3), (True, 0)])
def test_min_variance_equals_dense_solve(market, G):
    m = make_model(D=5, N=25, G=G, market=market, seed=7)
    w = _core.risk_min_variance(*args(m))
    for d in range(5):
        ok = np.isfinite(m["styles"][d]).all(axis=1) & np.isfinite(m["specific_var"][d])
        b = dense_b(m, d)[ok]
        cov = b @ m["factor_cov"][d] @ b.T + np.diag(m["specific_var"][d][ok])
        y = np.linalg.solve(cov, np.ones(ok.sum()))
        np.testing.assert_allclose(w[d, ok], y / y.sum(), rtol=1e-10)
        assert np.all(w[d, ~ok] == 0.0)
        np.testing.assert_allclose(w[d].sum(), 1.0, rtol=1e-12)


def test_min_variance_drops_unexposed_factors_and_flags_degenerate_dates():
    m = make_model(D=3, N=20, G=3, seed=8, holes=False)
    # date 0: industry 2 has no covered member and a NaN row in Σf (no history): still solvable
    m["specific_var"][0, m["industry"][0] == 2] = np.nan
    m["factor_cov"][0, 3, :] = m["factor_cov"][0, :, 3] = np.nan
    # date 1: a single covered asset; date 2: a NaN in the used block of Σf
    m["specific_var"][1, 1:] = np.nan
    m["factor_cov"][2, 0, 0] = np.nan
    w = _core.risk_min_variance(*args(m))
    assert np.isfinite(w[0]).all() and np.isclose(w[0].sum(), 1.0)
    assert np.isnan(w[1]).all() and np.isnan(w[2]).all()
    ok = np.isfinite(m["specific_var"][0])
    b = np.delete(dense_b(m, 0)[ok], 3, axis=1)
    fc = np.delete(np.delete(m["factor_cov"][0], 3, axis=0), 3, axis=1)
    y = np.linalg.solve(b @ fc @ b.T + np.diag(m["specific_var"][0][ok]), np.ones(ok.sum()))
    np.testing.assert_allclose(w[0, ok], y / y.sum(), rtol=1e-10)


def test_validation_kernels_check_shapes():
    m = make_model(D=2, N=10, G=2, seed=9)
    bad = dict(m, factor_cov=m["factor_cov"][:, :-1, :-1])
    with pytest.raises(ValueError, match="factor_cov has shape"):
        _core.risk_min_variance(*args(bad))
    bad = dict(m, industry=np.full((2, 10), 2, np.int32))
    with pytest.raises(ValueError, match="industry codes must lie in -1..1"):
        _core.risk_min_variance(*args(bad))
    with pytest.raises(ValueError, match="weights has shape"):
        _core.risk_forecast_volatility(np.zeros((3, 10)), *args(m))


def test_thread_count_does_not_matter():
    m = make_model(D=40, N=60, G=4, seed=10)  # several blocks of dates for the bias paths
    rng = np.random.default_rng(11)
    w = rng.random((40, 60))
    covered = np.isfinite(m["specific_var"]) & np.isfinite(m["styles"]).all(axis=2)
    w[~covered] = 0.0
    returns = rng.normal(0, 0.02, (45, 60))
    rows = np.arange(2, 42, dtype=np.int64)
    outs = []
    for threads in (1, 2):
        ff.set_num_threads(threads)
        try:
            outs.append((
                _core.risk_forecast_volatility(w, *args(m)),
                *_core.risk_bias_paths(w[:9], returns, rows, True, *args(m)),
                _core.risk_min_variance(*args(m)),
            ))
        finally:
            ff.set_num_threads(0)
    for a, b in zip(*outs):
        np.testing.assert_array_equal(a, b)
    assert np.isfinite(outs[0][0]).all() and np.isfinite(outs[0][2]).all()


def test_model_tests_match_returns_on_labels():
    """bias_test / minimum_variance_test take returns as an array, a frame or a Panel and match
    their labels with the model's (a Panel with its assets reversed was read by position and gave
    other realised returns); returns label the result when the model has no labels."""
    from ferrofactor.panel import frame_from_field

    panel = ff.datasets.synthetic_universe(n_assets=40, n_days=300, seed=1)
    ex = ff.Exposures.from_panel(panel)
    risk = ff.RiskModel.from_factor_model(ff.FactorModel().fit(panel, ex))
    P = np.full((1, 40), 1 / 40)
    mv = ff.evaluate.minimum_variance_test(risk, panel["returns"], every=10)
    bt = ff.evaluate.bias_test(risk, panel["returns"], P, every=10)
    for returns in (panel, frame_from_field(panel["returns"], panel.dates, panel.assets)):
        np.testing.assert_array_equal(ff.evaluate.minimum_variance_test(risk, returns, every=10).realized, mv.realized)
        np.testing.assert_array_equal(ff.evaluate.bias_test(risk, returns, P, every=10).realized, bt.realized)
    reordered = panel.select(assets=panel.assets[::-1])
    msg = ("returns and the model have different assets: position 0 is A00039 in returns but A00000 "
           "in the model")
    with pytest.raises(ValueError, match=msg):
        ff.evaluate.minimum_variance_test(risk, reordered)
    with pytest.raises(ValueError, match=msg):
        ff.evaluate.bias_test(risk, reordered, P)
    moved = frame_from_field(panel["returns"], panel.dates + 1, panel.assets)
    with pytest.raises(ValueError, match="returns and the model have different dates: position 0 is "
                       "2015-01-03 in returns but 2015-01-02 in the model"):
        ff.evaluate.bias_test(risk, moved, P)
    # stored dates only: the returns' dates at the stored positions are compared
    part = ff.RiskModel.from_factor_model(ff.FactorModel().fit(panel, ex), keep_dates=np.arange(100, 300, 7))
    ok = ff.evaluate.minimum_variance_test(part, panel)
    assert len(ok.dates) > 20 and np.isin(ok.dates, panel.dates[np.arange(100, 300, 7)]).all()
    with pytest.raises(ValueError, match=r"returns \(on the model's stored dates\) and the model have "
                       "different dates: position 0 is 2015-05-23 in returns .* but 2015-05-22 in the model"):
        ff.evaluate.minimum_variance_test(part, moved)
    # a model without labels: the returns' labels are used
    bare = ff.Exposures(ex.styles, ex.industry, style_names=ex.style_names, industry_names=ex.industry_names)
    risk0 = ff.RiskModel.from_factor_model(ff.FactorModel().fit(panel["returns"], bare, cap=panel["market_cap"]))
    out = ff.evaluate.minimum_variance_test(risk0, panel, every=10)
    np.testing.assert_array_equal(out.realized, mv.realized)
    np.testing.assert_array_equal(out.dates, mv.dates)
    np.testing.assert_array_equal(out.assets, panel.assets)
    assert ff.evaluate.minimum_variance_test(risk0, panel["returns"], every=10).dates.dtype.kind == "i"


def test_model_tests_do_not_copy_the_styles():
    """bias_test / minimum_variance_test over every stored date hand the model's (D, N, K) styles
    to the kernels as they are: they copied them (twice for the minimum-variance test), 1.9 GiB
    each at N=10000, T=2520, K=10. numpy's allocations are traced exactly, so the bound is firm."""
    import tracemalloc

    panel = ff.datasets.synthetic_universe(n_assets=300, n_days=400, seed=1)
    ex = ff.Exposures.from_panel(panel)
    risk = ff.RiskModel.from_factor_model(ff.FactorModel().fit(panel, ex))
    styles = risk._stack_args()[0]
    P = np.full((2, 300), 1 / 300)
    every = {}
    for name, run in (("bias", lambda: ff.evaluate.bias_test(risk, panel, P)),
                      ("min_variance", lambda: ff.evaluate.minimum_variance_test(risk, panel))):
        tracemalloc.start()
        every[name] = run()
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        # at most the (D, N) weights and one temporary of them (+ small): a copy of the styles
        # alone is K = 4 such arrays
        dn = styles.shape[0] * styles.shape[1] * 8
        assert styles.shape[2] == 4 and peak < 2.5 * dn, (name, peak, dn)
    # the same numbers as the copying path (every=1 on a subset of dates takes copies)
    rows = np.arange(len(every["bias"].dates))
    sub = ff.evaluate.bias_test(risk, panel, P, dates=every["bias"].dates[rows[1:]])
    np.testing.assert_array_equal(sub.realized, every["bias"].realized[1:])
    np.testing.assert_array_equal(sub.forecast_vol, every["bias"].forecast_vol[1:])
    # and the minimum-variance test equals its kernels called on copies, date by date
    mv = every["min_variance"]
    st, ind, market, g = risk._stack_args()
    rows = np.arange(len(risk._keep) - 1)
    w = _core.risk_min_variance(st[rows].copy(), ind[rows].copy(), market, g, risk._cov[rows].copy(),
                                risk._spec[rows].copy())
    good = np.isfinite(w).all(axis=1)
    np.testing.assert_array_equal(mv.weights, w[good])
    fv = _core.risk_forecast_volatility(w[good].copy(), st[rows][good].copy(), ind[rows][good].copy(), market, g,
                                        risk._cov[rows][good].copy(), risk._spec[rows][good].copy())
    np.testing.assert_array_equal(mv.forecast_vol[:, 0], fv)


def test_bias_statistic_pairs_pandas_data_indexed_by_date_by_date():
    # forecast_vol as a pandas Series indexed by date was read by position: reordered, each
    # return was divided by another date's forecast (another bias, no error). Now it must carry
    # the dates of returns (or dates=), in their order; returns indexed by date give the dates
    import pandas as pd

    rng = np.random.default_rng(3)
    T = 120
    vol = np.exp(rng.normal(0, 0.5, T))
    r = rng.normal(0, 1, T) * vol
    d = np.datetime64("2022-01-03") + np.arange(T)
    idx = pd.DatetimeIndex(d)
    want = ff.evaluate.bias_statistic(r, vol, window=30, dates=d)
    rs, vs = pd.Series(r, index=idx), pd.Series(vol, index=idx)
    for got in (ff.evaluate.bias_statistic(rs, vs, window=30),
                ff.evaluate.bias_statistic(r, vs, window=30, dates=d),
                ff.evaluate.bias_statistic(rs, vol, window=30, dates=d)):
        np.testing.assert_array_equal(got.bias, want.bias)
        np.testing.assert_array_equal(got.dates, d)
    assert ff.evaluate.bias_statistic(rs, vs).bias == pytest.approx(float(ff.evaluate.bias_statistic(r, vol).bias),
                                                                    rel=1e-15)
    with pytest.raises(ValueError, match=rf"^forecast_vol and returns have different dates: position 0 is {d[-1]} in "
                                         rf"forecast_vol but {d[0]} in returns \({T} positions differ\)"):
        ff.evaluate.bias_statistic(rs, vs.iloc[::-1])
    with pytest.raises(ValueError, match="^forecast_vol and dates= have different dates"):
        ff.evaluate.bias_statistic(r, vs.iloc[::-1], dates=d)
    with pytest.raises(ValueError, match="^dates and returns have different dates"):
        ff.evaluate.bias_statistic(rs, vol, window=30, dates=d + 1)
    with pytest.raises(ValueError, match=r"^returns \(a pandas Series indexed by date\) is not in date order"):
        ff.evaluate.bias_statistic(rs.iloc[::-1], vol)
    with pytest.raises(ValueError, match=r"^forecast_vol \(a pandas Series indexed by date\) is not in date order"):
        ff.evaluate.bias_statistic(r, vs.iloc[::-1])


def test_bias_statistic_reads_an_infinite_forecast_as_missing():
    """forecast_vol "positive where finite": an infinite forecast is missing, as NaN is (r / inf
    = 0 was counted as a standardised return of 0, in the bias and in n)."""
    rng = np.random.default_rng(0)
    r = rng.normal(0, 0.01, (80, 2))
    vol = np.full((80, 2), 0.01)
    inf, nan = vol.copy(), vol.copy()
    inf[[3, 10, 40], 1] = np.inf
    nan[[3, 10, 40], 1] = np.nan
    for window in (None, 20):
        a = ff.evaluate.bias_statistic(r, inf, window=window)
        b = ff.evaluate.bias_statistic(r, nan, window=window)
        np.testing.assert_array_equal(a.bias, b.bias)
        np.testing.assert_array_equal(a.n_obs, b.n_obs)
    assert ff.evaluate.bias_statistic(r, inf).n_obs.tolist() == [80, 77]


def test_bias_test_does_not_rescale_long_short_portfolios_to_their_zero_sum():
    # normalize=True (the default) rescaled every restricted portfolio to its original sum: a
    # dollar-neutral one (sum 0, or 1e-17 in floating point) was shrunk to nothing on every date
    # where an asset it holds was not live (realised ~1e-18, forecast ~1e-17, signs flipped) or
    # to exactly 0, the date then left out of its bias statistic
    panel = ff.datasets.synthetic_universe(n_assets=40, n_days=160, seed=5)
    risk = ff.RiskModel.from_factor_model(ff.FactorModel().fit(panel, ff.Exposures.from_panel(panel)),
                                          min_periods=10, specific_min_periods=20)
    r = panel["returns"].copy()
    r[np.random.default_rng(0).random(r.shape) < 0.05] = np.nan  # assets without a next return
    N = r.shape[1]
    long_only = np.random.default_rng(1).random(N)
    neutral = np.zeros(N)
    neutral[:20], neutral[20:] = 0.5 / 20, -0.5 / 20
    exact = np.zeros(N)
    exact[:4] = [0.5, 0.25, -0.5, -0.25]  # sums to exactly 0
    got = ff.evaluate.bias_test(risk, r, np.stack([long_only, neutral, exact]))
    alone = ff.evaluate.bias_test(risk, r, long_only)  # one-signed: rescaled to its sum, as before
    np.testing.assert_array_equal(got.realized[:, 0], alone.realized[:, 0])
    np.testing.assert_array_equal(got.forecast_vol[:, 0], alone.forecast_vol[:, 0])
    raw = ff.evaluate.bias_test(risk, r, np.stack([neutral, exact]), normalize=False)
    np.testing.assert_array_equal(got.realized[:, 1:], raw.realized)
    np.testing.assert_array_equal(got.forecast_vol[:, 1:], raw.forecast_vol)
    np.testing.assert_array_equal(got.bias.n_obs[1:], raw.bias.n_obs)
    partial = np.isfinite(raw.realized[:, 0]) & (raw.forecast_vol[:, 0] > 0)
    assert partial.sum() > 50 and np.all(got.forecast_vol[partial, 1] > 1e-4)
    # only long-short portfolios: the kernel runs once, unscaled
    both = ff.evaluate.bias_test(risk, r, np.stack([neutral, exact]))
    np.testing.assert_array_equal(both.realized, raw.realized)


def test_bias_and_min_variance_tests_leave_out_assets_exposed_to_a_factor_not_estimated_yet():
    # a new industry (no factor return before row 80) whose members already have a specific
    # variance: RiskModel.covered leaves them out, but the kernels covered them, so the bias test
    # forecast NaN for a portfolio holding them (the date dropped instead of the portfolio being
    # restricted to the covered assets, as documented) and no minimum-variance portfolio was
    # formed on those dates at all
    rng = np.random.default_rng(0)
    T, N, G, Ks = 140, 45, 3, 2
    styles = rng.normal(size=(T, N, Ks))
    ind = np.tile(np.arange(N, dtype=np.int32) % G, (T, 1))
    f = rng.normal(0, 0.01, (T, 1 + G + Ks))
    f[:80, 1 + 2] = np.nan
    res = rng.normal(0, 0.02, (T, N))
    cap = np.exp(rng.normal(size=(T, N)))
    m = ff.RiskModel.from_arrays(f, res, ff.Exposures(styles, ind), cap, min_periods=10, specific_min_periods=10)
    r = rng.normal(0, 0.02, (T, N))
    P = np.full((1, N), 1 / N)
    bt = ff.evaluate.bias_test(m, r, P)
    mv = ff.evaluate.minimum_variance_test(m, r)
    for d in (30, 60, 100):
        cov = np.asarray(m.covered(d))
        assert (cov.sum() == 30) if d < 89 else cov.all()
        w = np.where(cov, P[0], 0.0)
        w *= P[0].sum() / w.sum()
        assert bt.forecast_vol[d, 0] == pytest.approx(m.portfolio_risk(w, date=d), rel=1e-12)
        assert bt.realized[d, 0] == pytest.approx(w @ r[d + 1], rel=1e-12)
        k = int(np.flatnonzero(mv.dates == d)[0])
        sig = m.covariance(d)[np.ix_(cov, cov)]
        y = np.linalg.solve(sig, np.ones(cov.sum()))
        np.testing.assert_allclose(mv.weights[k][cov], y / y.sum(), rtol=1e-9, atol=1e-14)
        assert np.all(mv.weights[k][~cov] == 0)
    assert mv.dates[0] == 9 and bt.bias.n_obs == T - 1 - 9


def test_infinite_returns_and_residuals_are_refused():
    """An infinite realised return (or residual) is a data error, not a missing value: bias_statistic
    skipped it as missing, minimum_variance_test counted it as a return of 0 and bias_test left
    the asset out, residual_correlation dropped it from its pairs, all silently."""
    panel = ff.datasets.synthetic_universe(n_assets=30, n_days=120, seed=2)
    res = ff.FactorModel().fit(panel, ff.Exposures.from_panel(panel))
    model = ff.RiskModel.from_factor_model(res)
    r = np.array(panel["returns"])
    r[100, 4] = np.inf
    with pytest.raises(ValueError, match=r"returns must not contain infinite values \(1 found"):
        ff.evaluate.minimum_variance_test(model, r)
    with pytest.raises(ValueError, match=r"returns must not contain infinite values \(1 found"):
        ff.evaluate.bias_test(model, r, np.full(30, 1 / 30))
    p = np.random.default_rng(0).normal(0, 0.01, (80, 2))
    p[5, 1] = -np.inf
    with pytest.raises(ValueError, match=r"returns must not contain infinite values \(1 found"):
        ff.evaluate.bias_statistic(p, np.full((80, 2), 0.01))
    e = np.array(res.residuals)
    e[50, 3] = np.inf
    with pytest.raises(ValueError, match=r"residuals must not contain infinite values \(1 found"):
        ff.evaluate.residual_correlation(e)
