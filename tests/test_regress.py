"""cross_section_regress and neutralize against independent oracles.

Oracles: ``ff.baseline`` (dense one-hot design, constraint by substitution, ``np.linalg.lstsq``),
statsmodels WLS, the hand-worked single-factor case, and algebraic identities (the constraint,
factor-mimicking portfolios, residual orthogonality).
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

import ferrofactor as ff
from ferrofactor import baseline as bl
from helpers import long_frame, random_panel

FIELDS = ("factor_returns", "residuals", "r2", "std_errors", "tstats", "n_obs")


def assert_close(a, b, rtol=1e-10, name=""):
    """Equal NaN pattern, then |a - b| <= rtol * |b| element-wise.

    Residuals are differences y - Xf that can be arbitrarily close to zero, where cancellation
    makes the element-wise relative error meaningless; for them (and only them) the scale is the
    largest |b| in the same row (date), i.e. 1e-10 relative to the date's residual scale.
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    assert a.shape == b.shape, name
    np.testing.assert_array_equal(np.isnan(a), np.isnan(b), err_msg=f"{name}: NaN pattern")
    if name == "residuals":
        scale = np.nanmax(np.abs(np.where(np.isnan(b), 0, b)), axis=-1, keepdims=True)
        scale = np.broadcast_to(scale, b.shape)
    else:
        scale = np.abs(b)
    ok = np.isnan(b) | (np.abs(a - b) <= rtol * scale)
    assert ok.all(), f"{name}: max rel err {np.nanmax(np.abs(a - b) / np.maximum(scale, 1e-300))}"


def assert_same(res, ref):
    assert res.factor_names == ref.factor_names
    for f in FIELDS:
        assert_close(getattr(res, f), getattr(ref, f), name=f)


@pytest.fixture(scope="module")
def panel():
    return random_panel(T=24, N=150, K=3, G=6, missing=0.15, seed=1)


# --------------------------------------------------------------------------------------------
# Against the baseline
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "market,constraint",
    [(True, "cap"), (True, "equal"), (False, "cap"), (False, "equal"), (False, None)],
)
@pytest.mark.parametrize("missing,seed", [(0.05, 2), (0.20, 3)])
def test_equals_baseline(market, constraint, missing, seed):
    p = random_panel(T=20, N=120, K=3, G=6, missing=missing, seed=seed)
    names = [f"ind{g}" for g in range(p.n_industries)]  # the last is never used
    kw = dict(
        weights=p.weights, market=market, industry_constraint=constraint, cap=p.cap,
        industry_names=names,
    )
    res = ff.cross_section_regress(p.returns, p.styles, p.industry, **kw)
    ref = bl.cross_section_regress(p.returns, p.styles, p.industry, **kw)
    assert_same(res, ref)
    # The awkward cases really are in the data: an all-NaN date, an always-empty industry,
    # and industry 0 empty on every third date.
    assert res.n_obs[p.all_nan_dates[0]] == 0
    assert np.isnan(res.factor_returns[p.all_nan_dates[0]]).all()
    m = int(market)
    assert np.isnan(res.factor_returns[:, m + p.n_industries - 1]).all()
    assert np.isnan(res.factor_returns[::3, m]).all()
    assert np.isfinite(res.factor_returns[1, m])


def test_no_styles_equals_baseline(panel):
    p = panel
    kw = dict(weights=p.weights, cap=p.cap)
    res = ff.cross_section_regress(p.returns, None, p.industry, **kw)
    assert_same(res, bl.cross_section_regress(p.returns, None, p.industry, **kw))
    # without names the industries are the distinct codes present, named by their values (the
    # panel never uses its last industry, so it is not a factor)
    G = int(p.industry.max()) + 1
    assert G == p.n_industries - 1
    assert res.factor_names == ["market"] + [str(g) for g in range(G)]


def test_gics_codes_are_labels_not_sizes():
    # 8-digit GICS codes must neither allocate by the largest code nor change the regression
    rng = np.random.default_rng(0)
    T, N = 300, 40
    codes = np.array([10101010, 15101010, 20101010, 45102010])
    dense = rng.integers(0, 4, (T, N))
    r = rng.normal(0, 0.01, (T, N))
    cap = np.exp(rng.normal(8, 1, (T, N)))
    res = ff.cross_section_regress(r, industry=codes[dense], cap=cap)
    ref = ff.cross_section_regress(r, industry=dense, cap=cap, industry_names=[str(c) for c in codes])
    assert res.factor_names == ["market", "10101010", "15101010", "20101010", "45102010"]
    np.testing.assert_array_equal(res.factor_returns, ref.factor_returns)
    # a mapping gives them names
    named = ff.cross_section_regress(r, industry=codes[dense], cap=cap,
                                     industry_names={10101010: "Energy", 15101010: "Materials",
                                                     20101010: "Capital Goods", 45102010: "Software"})
    assert named.factor_names[1:] == ["Energy", "Materials", "Capital Goods", "Software"]


@pytest.mark.parametrize("market", [True, False])
def test_no_industries_equals_baseline(panel, market):
    p = panel
    res = ff.cross_section_regress(p.returns, p.styles, weights=p.weights, market=market)
    ref = bl.cross_section_regress(p.returns, p.styles, weights=p.weights, market=market)
    assert_same(res, ref)
    assert res.factor_names == (["market"] if market else []) + ["style_0", "style_1", "style_2"]


def test_market_only_is_weighted_mean(panel):
    p = panel
    res = ff.cross_section_regress(p.returns, weights=p.weights)
    ok = np.isfinite(p.returns) & np.isfinite(p.weights)
    live = ok.sum(1) > 0
    ok[~live] = True  # avoid 0/0 on the all-NaN date; checked separately below
    w = np.where(ok, p.weights, 0.0)
    mean = (w * np.where(ok, p.returns, 0.0)).sum(1) / w.sum(1)
    np.testing.assert_allclose(res.factor_returns[live, 0], mean[live], rtol=1e-12)
    assert np.isnan(res.factor_returns[~live, 0]).all()


def test_thread_count_does_not_change_results(panel):
    p = panel
    args = (p.returns, p.styles, p.industry, p.weights)
    try:
        ff.set_num_threads(1)
        one = ff.cross_section_regress(*args, cap=p.cap)
        n1 = ff.neutralize(p.returns, p.styles, p.industry, p.weights)
        ff.set_num_threads(2)
        two = ff.cross_section_regress(*args, cap=p.cap)
        n2 = ff.neutralize(p.returns, p.styles, p.industry, p.weights)
    finally:
        ff.set_num_threads(0)
    for f in FIELDS:
        np.testing.assert_array_equal(getattr(one, f), getattr(two, f))
    np.testing.assert_array_equal(n1, n2)


def test_weights_default_to_sqrt_cap(panel):
    p = panel
    a = ff.cross_section_regress(p.returns, p.styles, p.industry, cap=p.cap)
    b = ff.cross_section_regress(p.returns, p.styles, p.industry, np.sqrt(p.cap), cap=p.cap)
    np.testing.assert_array_equal(a.factor_returns, b.factor_returns)


# --------------------------------------------------------------------------------------------
# Independent oracles
# --------------------------------------------------------------------------------------------


def _design_one_date(p, t, constraint="cap"):
    """Dense X (market, active industries, styles), R, used index and full positions."""
    y, w = p.returns[t], p.weights[t]
    used = np.isfinite(y) & np.isfinite(w) & (w > 0) & np.isfinite(p.styles[t]).all(1)
    used &= p.industry[t] >= 0
    idx = np.flatnonzero(used)
    codes = p.industry[t, idx]
    active = np.unique(codes)
    X = np.column_stack([np.ones(len(idx)), codes[:, None] == active[None, :], p.styles[t, idx]])
    G, K = int(p.industry.max()) + 1, p.styles.shape[2]
    pos = [0] + [1 + g for g in active] + [1 + G + k for k in range(K)]
    c = np.array([p.cap[t, idx][codes == g].sum() for g in active])
    if constraint == "equal":
        c = np.ones_like(c)
    last = len(active)  # compact index of the last active industry
    R = np.delete(np.eye(X.shape[1]), last, axis=1)
    R[last, 1 : len(active)] = -c[:-1] / c[-1]
    return X, R, idx, pos, y[idx], w[idx], c, active


@pytest.mark.parametrize("constraint", ["cap", "equal"])
def test_one_date_equals_statsmodels_wls(panel, constraint):
    # the narrow import: statsmodels.api pulls in far more (seconds on a busy machine)
    lm = pytest.importorskip("statsmodels.regression.linear_model")
    p, t = panel, 4
    X, R, idx, pos, y, w, _, _ = _design_one_date(p, t, constraint)
    fit = lm.WLS(y, X @ R, weights=w).fit()
    res = ff.cross_section_regress(
        p.returns, p.styles, p.industry, p.weights, industry_constraint=constraint, cap=p.cap
    )
    f = R @ fit.params
    se = np.sqrt(np.diag(R @ fit.cov_params() @ R.T))
    np.testing.assert_allclose(res.factor_returns[t, pos], f, rtol=1e-10)
    np.testing.assert_allclose(res.std_errors[t, pos], se, rtol=1e-10)
    np.testing.assert_allclose(res.tstats[t, pos], f / se, rtol=1e-10)
    np.testing.assert_allclose(res.r2[t], fit.rsquared, rtol=1e-10)
    assert res.n_obs[t] == fit.nobs == len(idx)
    np.testing.assert_allclose(res.residuals[t, idx], fit.resid, rtol=1e-8, atol=1e-13)


@pytest.mark.parametrize("tiny_code", [0, 5])
def test_a_tiny_industry_costs_no_accuracy_whatever_its_code(tiny_code):
    # One industry holds a single micro-cap (1e-6 of an average member's cap, its industry's
    # cap ~2e-8 of each other one's). The kernel expressed the last active industry via the
    # others (coefficients c_g / c_L): with the tiny one last (code 5) they were ~6e7 and the
    # factor returns lost up to 3e-5 of their value (2 % with a member at 1e-8), while with the
    # tiny one first (code 0) the same data were exact. The oracle substitutes the largest.
    lm = pytest.importorskip("statsmodels.regression.linear_model")
    rng = np.random.default_rng(5)
    N, G, K = 300, 6, 3
    others = [g for g in range(G) if g != tiny_code]
    codes = np.array(others)[rng.integers(0, G - 1, N)]
    codes[-1] = tiny_code
    cap = np.exp(rng.normal(22, 1, N))
    cap[-1] = cap[:-1].mean() * 1e-6
    y, x = rng.normal(0, 0.02, N), rng.normal(size=(N, K))
    res = ff.cross_section_regress(y[None], x[None], codes[None], cap=cap[None])
    D = (codes[:, None] == np.arange(G)).astype(float)
    c = D.T @ cap
    L = int(np.argmax(c))
    free = [g for g in range(G) if g != L]
    Z = np.column_stack([np.ones(N)] + [D[:, g] - c[g] / c[L] * D[:, L] for g in free] + [x])
    fit = lm.WLS(y, Z, weights=np.sqrt(cap)).fit()
    f_ind = np.zeros(G)
    f_ind[free] = fit.params[1:G]
    f_ind[L] = -c[free] @ f_ind[free] / c[L]
    f = np.concatenate([fit.params[:1], f_ind, fit.params[G:]])
    np.testing.assert_allclose(res.factor_returns[0], f, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(res.residuals[0], y - np.column_stack([np.ones(N), D, x]) @ f,
                               rtol=0, atol=1e-13)


@pytest.mark.parametrize("constraint", ["equal", "cap"])
@pytest.mark.parametrize("tiny", [1e-3, 1e-6, 1e-9])
def test_a_small_weight_alone_in_its_industry_costs_no_accuracy(constraint, tiny):
    # Asset 7 is alone in industry 0 with a regression weight `tiny` (the others 0.5..2): the WLS
    # problem is well determined (industry 0 fits asset 7 exactly, whatever its weight), but the
    # constrained system solved by substitution carried a rank-one term of the eliminated
    # industry's weight on every industry and lost the Schur complement to cancellation: with
    # "equal" the factor returns were off by up to 6e-8 of their value at 1e-3, 2 % at 1e-6 and
    # 1e5 times at 1e-9, with "cap" 4e-9 at 1e-6.
    # Oracle (exact by construction): industry 0 absorbs asset 7, so the other factors are the
    # WLS of the other assets on their industries' levels λ_g = f_mkt + f_g and the styles
    # (statsmodels, no small weight left); then λ_0 = y_7 − x_7 f_styles (variance σ²/w_7 more),
    # f_mkt = Σ c_g λ_g / Σ c_g and f_g = λ_g − f_mkt.
    lm = pytest.importorskip("statsmodels.regression.linear_model")
    rng = np.random.default_rng(1)
    N, G, K = 200, 5, 2
    codes = rng.integers(1, G, N)
    codes[7] = 0
    w = rng.uniform(0.5, 2, N)
    w[7] = tiny
    cap = np.exp(rng.normal(20, 1, N))
    y, x = rng.normal(0, 0.02, N), rng.normal(size=(N, K))
    res = ff.cross_section_regress(y[None], x[None], codes[None], w[None], cap=cap[None],
                                   industry_constraint=constraint)
    D = (codes[:, None] == np.arange(G)).astype(float)
    rest = np.arange(N) != 7
    fit = lm.WLS(y[rest], np.column_stack([D[rest, 1:], x[rest]]), weights=w[rest]).fit()
    sigma2 = fit.ssr / (N - G - K)  # asset 7 adds an observation and a parameter
    cov_rest = fit.normalized_cov_params * sigma2
    # (λ_0, λ_1..G-1, f_styles) = J (λ_1..G-1, f_styles) + (y_7, 0, ...)
    J = np.vstack([np.concatenate([np.zeros(G - 1), -x[7]]), np.eye(G - 1 + K)])
    theta = J @ fit.params
    theta[0] += y[7]
    cov = J @ cov_rest @ J.T
    cov[0, 0] += sigma2 / w[7]
    c = D.T @ cap if constraint == "cap" else np.ones(G)
    M = np.zeros((1 + G + K, G + K))  # f = M (λ, f_styles)
    M[0, :G] = c / c.sum()
    M[1:1 + G, :G] = np.eye(G) - c[None, :] / c.sum()
    M[1 + G:, G:] = np.eye(K)
    f = M @ theta
    se = np.sqrt(np.diag(M @ cov @ M.T))
    np.testing.assert_allclose(res.factor_returns[0], f, rtol=1e-10, atol=1e-15)
    np.testing.assert_allclose(res.std_errors[0], se, rtol=1e-10)
    np.testing.assert_allclose(res.residuals[0], y - np.column_stack([np.ones(N), D, x]) @ f,
                               rtol=0, atol=1e-14)


def test_hand_worked_single_factor():
    # Five firms, cleaned signal g and returns r (in %); no intercept, no industries, equal
    # weights: f = Σ g r / Σ g² = 4.37 / 4.9894 % ≈ 0.876 %.
    g = np.array([1.28, 0.55, 0.15, -0.26, -1.72])
    r = np.array([1.2, 0.3, -0.1, -0.4, -1.5]) / 100
    res = ff.cross_section_regress(r[None, :], styles=g[None, :, None], market=False)
    by_hand = (1.28 * 1.2 + 0.55 * 0.3 - 0.15 * 0.1 + 0.26 * 0.4 + 1.72 * 1.5) / (
        1.28**2 + 0.55**2 + 0.15**2 + 0.26**2 + 1.72**2
    ) / 100
    assert by_hand == pytest.approx(4.37 / 4.9894 / 100, rel=1e-12)
    assert res.factor_returns[0, 0] == pytest.approx(by_hand, rel=1e-12)
    assert res.factor_returns[0, 0] == pytest.approx(0.00876, abs=5e-6)
    np.testing.assert_allclose(res.residuals[0], r - g * by_hand, rtol=1e-12)
    assert res.n_obs[0] == 5
    # Uncentred R² without an intercept (the statsmodels convention).
    e = r - g * by_hand
    assert res.r2[0] == pytest.approx(1 - (e @ e) / (r @ r), rel=1e-12)
    assert res.factor_names == ["style_0"]


def test_cap_weighted_industry_returns_sum_to_zero(panel):
    p = panel
    res = ff.cross_section_regress(p.returns, p.styles, p.industry, p.weights, cap=p.cap)
    G = int(p.industry.max()) + 1
    checked = 0
    for t in range(p.returns.shape[0]):
        if res.n_obs[t] == 0:
            continue
        X, R, idx, pos, y, w, c, active = _design_one_date(p, t)
        f_ind = res.factor_returns[t, 1 + active]
        total = np.sum(c * f_ind)
        assert abs(total) <= 1e-12 * np.sum(np.abs(c * f_ind))
        inactive = np.setdiff1d(np.arange(G), active)
        assert np.isnan(res.factor_returns[t, 1 + inactive]).all()
        checked += 1
    assert checked == p.returns.shape[0] - 1


def test_the_market_factor_is_the_cap_weighted_market_only_with_cap_weights():
    """What the docstrings promise of the "cap" constraint: the market factor is the
    cap-weighted mean of the industries' levels f_mkt + f_g; exactly the cap-weighted market's
    return with cap regression weights (and styles of cap-weighted mean 0), only close to it
    with the default sqrt(cap) weights (the docstrings said "the cap-weighted market" for both)."""
    rng = np.random.default_rng(0)
    T, N = 20, 200
    cap = np.exp(rng.normal(0, 1.5, (T, N)))
    g = rng.integers(0, 5, (T, N))
    r = rng.normal(0, 0.02, (T, N)) + 0.01 * (np.log(cap) - np.log(cap).mean())  # a size effect
    s = ff.standardize(rng.normal(size=(T, N)) + 0.3 * np.log(cap), weights=cap)[:, :, None]
    capw = (cap * r).sum(1) / cap.sum(1)
    exact = ff.cross_section_regress(r, s, g, weights=cap, cap=cap).factor_returns
    np.testing.assert_allclose(exact[:, 0], capw, rtol=0, atol=1e-15)
    default = ff.cross_section_regress(r, s, g, cap=cap).factor_returns
    share = np.stack([cap[t][None, :] * (g[t][None, :] == np.arange(5)[:, None]) for t in range(T)]).sum(2)
    share /= share.sum(1, keepdims=True)
    levels = default[:, :1] + default[:, 1:6]
    np.testing.assert_allclose(default[:, 0], (share * levels).sum(1), rtol=0, atol=1e-15)
    assert np.abs(default[:, 0] - capw).max() > 1e-3  # sqrt(cap) weights: not the cap-weighted market


def test_factor_return_is_mimicking_portfolio_return(panel):
    p, t = panel, 7
    X, R, idx, pos, y, w, _, _ = _design_one_date(p, t)
    Z = X @ R
    # Rows of R (ZᵀWZ)⁻¹ ZᵀW are the factor-mimicking portfolios (the constrained (XᵀWX)⁻¹XᵀW).
    Omega = R @ np.linalg.solve(Z.T @ (w[:, None] * Z), (Z * w[:, None]).T)
    res = ff.cross_section_regress(p.returns, p.styles, p.industry, p.weights, cap=p.cap)
    np.testing.assert_allclose(res.factor_returns[t, pos], Omega @ y, rtol=1e-10)
    # Each style portfolio has unit exposure to its own style and none to the others.
    K = p.styles.shape[2]
    np.testing.assert_allclose(Omega[-K:] @ X[:, -K:], np.eye(K), atol=1e-12)
    # The market portfolio is fully invested: the cap constraint makes it the market.
    assert Omega[0].sum() == pytest.approx(1.0, rel=1e-12)


# --------------------------------------------------------------------------------------------
# Degenerate dates never raise
# --------------------------------------------------------------------------------------------


def test_degenerate_dates_give_nan():
    rng = np.random.default_rng(5)
    T, N = 4, 8
    y = rng.normal(0, 0.01, (T, N))
    x = rng.standard_normal((T, N, 2))
    y[0, 3:] = np.nan  # 3 obs, 3 parameters: exactly determined
    y[1, 2:] = np.nan  # 2 obs < 3 parameters
    x[2, :, 1] = 4.0  # constant style: drops out of the date, the rest is estimated
    x[3, :, 1] = 2 * x[3, :, 0]  # collinear styles: singular
    res = ff.cross_section_regress(y, x)
    np.testing.assert_array_equal(res.n_obs, [3, 2, 8, 8])
    assert np.isfinite(res.factor_returns[0]).all()
    assert np.isnan(res.std_errors[0]).all() and np.isnan(res.tstats[0]).all()
    np.testing.assert_allclose(res.residuals[0, :3], 0, atol=1e-14)
    for t in (1, 3):
        for f in ("factor_returns", "residuals", "r2", "std_errors", "tstats"):
            assert np.isnan(getattr(res, f)[t]).all(), (t, f)
    assert np.isfinite(res.factor_returns[2, :2]).all() and np.isnan(res.factor_returns[2, 2])
    assert np.isfinite(res.residuals[2]).all()
    ref = bl.cross_section_regress(y, x)
    # Date 0 is an exact fit: its residuals are rounding noise, compared in absolute terms.
    np.testing.assert_allclose(res.factor_returns[0], ref.factor_returns[0], rtol=1e-10)
    np.testing.assert_allclose(ref.residuals[0, :3], 0, atol=1e-14)
    for f in FIELDS:
        assert_close(getattr(res, f)[1:], getattr(ref, f)[1:], name=f)


@pytest.mark.parametrize("constant", [0.0, 1.7])
def test_style_without_dispersion_drops_out_of_its_date(constant):
    # Issue 9 §5: during a descriptor's warm-up a style is exactly 0 for every asset. On such a
    # date that style's outputs are NaN and every other factor (market and industries included)
    # equals the regression without that style; other dates are untouched.
    p = random_panel(T=8, N=120, K=3, G=5, missing=0.1, seed=21)
    styles = p.styles.copy()
    styles[3, :, 1] = constant
    names = [f"i{g}" for g in range(5)]
    kw = dict(weights=p.weights, cap=p.cap, industry_names=names)
    full = ff.cross_section_regress(p.returns, styles, p.industry, **kw)
    # The oracle: numpy/lstsq regression of date 3 without style 1 (same used observations).
    without = bl.cross_section_regress(p.returns[3:4], styles[3:4][:, :, [0, 2]], p.industry[3:4],
                                       weights=p.weights[3:4], cap=p.cap[3:4], industry_names=names)
    j = 1 + 5 + 1  # market, 5 industries, style 1
    keep = [c for c in range(full.factor_returns.shape[1]) if c != j]
    for f in ("factor_returns", "std_errors", "tstats"):
        assert np.isnan(getattr(full, f)[3, j]), f
        assert_close(getattr(full, f)[3, keep], getattr(without, f)[0], name=f)
    assert_close(full.residuals[3:4], without.residuals, name="residuals")
    assert_close(full.r2[3], without.r2[0], name="r2")
    assert np.isfinite(full.factor_returns[3, 0])
    # Bit for bit with the fast kernel run without that style (the kept columns are processed
    # exactly as if the dropped one had never been given).
    fast_without = ff.cross_section_regress(p.returns, styles[:, :, [0, 2]], p.industry, **kw)
    for f in ("factor_returns", "std_errors", "tstats"):
        np.testing.assert_array_equal(getattr(full, f)[3, keep], getattr(fast_without, f)[3])
    np.testing.assert_array_equal(full.residuals[3], fast_without.residuals[3])
    assert full.r2[3] == fast_without.r2[3]
    # Other dates: identical to the regression on the original styles.
    ref = ff.cross_section_regress(p.returns, p.styles, p.industry, **kw)
    other = np.arange(8) != 3
    np.testing.assert_array_equal(full.factor_returns[other], ref.factor_returns[other])
    # And the whole panel equals the dense numpy oracle, which applies the same rule.
    assert_same(full, bl.cross_section_regress(p.returns, styles, p.industry, **kw))


def test_neutralize_drops_constant_control():
    p = random_panel(T=4, N=60, K=2, G=4, missing=0.0, seed=22)
    ctl = p.styles.copy()
    ctl[1, :, 0] = 0.0
    e = ff.neutralize(p.returns, ctl, p.industry, p.weights)
    e1 = ff.neutralize(p.returns[1:2], ctl[1:2, :, 1:], p.industry[1:2], p.weights[1:2])
    np.testing.assert_array_equal(e[1], e1[0])
    assert np.isfinite(e[1][np.isfinite(p.returns[1]) & np.isfinite(p.weights[1])]).all()
    assert_close(e, bl.neutralize(p.returns, ctl, p.industry, p.weights), name="residuals")


@pytest.mark.parametrize("market,constraint", [(True, "cap"), (True, "equal"), (False, None)])
def test_styles_far_from_zero(panel, market, constraint):
    # A style is its spread plus a level (characteristics in levels, an offset): where the design
    # spans a constant the level only moves the market (or, without one, every industry) by
    # level · f_style; the style returns, residuals, t-statistics and R² do not change. Before, the
    # normal equations lost (level / spread)² · ε: 1e-6 of the factor returns at 1e5, wrong
    # numbers at 1e6 and NaN dates beyond.
    p = panel
    kw = dict(industry_constraint=constraint, cap=p.cap, market=market)
    ref = ff.cross_section_regress(p.returns, p.styles, p.industry, p.weights, **kw)
    for level in (1e3, 1e6, -1e7):
        shift = level * np.array([1.0, -0.5, 2.0])
        res = ff.cross_section_regress(p.returns, p.styles + shift, p.industry, p.weights, **kw)
        K = p.styles.shape[2]
        tol = 1e-15 * abs(level) * 1e3  # the level's rounding of the styles, ~1e3 spreads of slack
        for name in ("residuals", "r2", "n_obs"):
            assert_close(getattr(res, name), getattr(ref, name), rtol=max(tol, 1e-10), name=name)
        assert_close(res.factor_returns[:, -K:], ref.factor_returns[:, -K:], rtol=max(tol, 1e-10))
        assert_close(res.tstats[:, -K:], ref.tstats[:, -K:], rtol=max(tol, 1e-10))
        moved = (ref.factor_returns[:, -K:] * shift).sum(axis=1, keepdims=True)
        carriers = slice(0, 1) if market else slice(0, ref.factor_returns.shape[1] - K)
        want = ref.factor_returns[:, carriers] - moved
        np.testing.assert_allclose(res.factor_returns[:, carriers], want, rtol=0,
                                   atol=max(tol, 1e-10) * np.nanmax(np.abs(moved)))


@pytest.mark.parametrize("market,industry", [(True, False), (True, True), (False, True)])
def test_a_style_constant_but_for_rounding_is_a_singular_date(market, industry):
    # A style equal on every asset but for an ulp (rounding, not exposure) is as collinear with the
    # market / the industries as a constant: the date is singular (NaN), as before the styles were
    # centred. Centred, its spread passed the pivot test against its own tiny norm: the style's and
    # the market's factor returns were rounding over rounding (5e11 and 3e13), with no error.
    rng = np.random.default_rng(0)
    T, N = 3, 50
    y = rng.normal(0, 0.02, (T, N))
    sty = rng.normal(size=(T, N, 2))
    sty[1, :, 1] = 0.3 + np.where(rng.random(N) < 0.5, 0.0, np.spacing(0.3))
    codes = rng.integers(0, 3, (T, N)) if industry else None
    kw = dict(market=market, industry_constraint="equal" if market and industry else None)
    res = ff.cross_section_regress(y, sty, codes, **kw)
    assert np.isnan(res.factor_returns[1]).all() and np.isnan(res.r2[1])
    # the other dates are estimated, and equal those of the exactly constant style's neighbours
    ref = ff.cross_section_regress(y[[0, 2]], sty[[0, 2]], None if codes is None else codes[[0, 2]], **kw)
    np.testing.assert_array_equal(res.factor_returns[[0, 2]], ref.factor_returns)
    # a spread that is small against the level but far above its rounding is still estimated
    # (centred), equal to the style without its level
    lv = sty.copy()
    lv[1, :, 1] = 1e6 + rng.normal(size=N)
    low = lv.copy()
    low[1, :, 1] -= 1e6
    a, b = ff.cross_section_regress(y, lv, codes, **kw), ff.cross_section_regress(y, low, codes, **kw)
    np.testing.assert_allclose(a.factor_returns[1, -2:], b.factor_returns[1, -2:], rtol=1e-8)


def test_market_and_industry_errors_with_styles_far_from_zero_equal_statsmodels(panel):
    # the standard errors of the factors that carry the level, against statsmodels (a level it
    # still solves accurately)
    lm = pytest.importorskip("statsmodels.regression.linear_model")
    p, t = panel, 5
    styles = p.styles + np.array([40.0, -25.0, 60.0])
    for market, constraint in ((True, "cap"), (False, None)):
        res = ff.cross_section_regress(p.returns, styles, p.industry, p.weights, cap=p.cap,
                                       market=market, industry_constraint=constraint)
        ok = (np.isfinite(p.returns[t]) & np.isfinite(styles[t]).all(axis=1) & (p.industry[t] >= 0)
              & np.isfinite(p.weights[t]) & (p.weights[t] > 0) & np.isfinite(p.cap[t]))
        G = int(p.industry.max()) + 1
        D = np.eye(G)[p.industry[t, ok]]
        if market:
            c = np.array([p.cap[t, ok][p.industry[t, ok] == g].sum() for g in range(G)])
            R = np.vstack([np.eye(G - 1), -c[:-1] / c[-1]])
            X = np.column_stack([np.ones(ok.sum()), D @ R, styles[t, ok]])
            fit = lm.WLS(p.returns[t, ok], X, weights=p.weights[t, ok]).fit()
            f, se = fit.params[0], fit.bse[0]
            np.testing.assert_allclose(res.factor_returns[t, 0], f, rtol=1e-9)
            np.testing.assert_allclose(res.std_errors[t, 0], se, rtol=1e-9)
        else:
            X = np.column_stack([D, styles[t, ok]])
            fit = lm.WLS(p.returns[t, ok], X, weights=p.weights[t, ok]).fit()
            np.testing.assert_allclose(res.factor_returns[t, :G], fit.params[:G], rtol=1e-9)
            np.testing.assert_allclose(res.std_errors[t, :G], fit.bse[:G], rtol=1e-9)
        np.testing.assert_allclose(res.std_errors[t, -3:], fit.bse[-3:], rtol=1e-9)


def test_neutralize_controls_far_from_zero():
    # the intercept absorbs any level of a control: before, a control at 1e7 ± 1 made every date
    # "singular" (NaN), and one at 1e5 ± 1 cost 1e-6 of the residuals
    p = random_panel(T=5, N=120, K=2, G=4, missing=0.1, seed=23)
    ref = ff.neutralize(p.returns, p.styles, p.industry, p.weights)
    for level in (1e5, 1e7):
        e = ff.neutralize(p.returns, p.styles + level, p.industry, p.weights)
        assert_close(e, ref, rtol=1e-15 * level * 1e3, name="residuals")


def test_style_explained_by_industries_is_singular():
    # A style that is a combination of industry dummies (constant within each industry) is
    # collinear with the industry block: the date must be NaN, not a noisy solution.
    p = random_panel(T=6, N=80, K=2, G=4, missing=0.0, seed=11)
    styles = p.styles.copy()
    styles[2, :, 1] = np.where(p.industry[2] >= 0, 0.3 * p.industry[2] - 1.0, styles[2, :, 1])
    res = ff.cross_section_regress(p.returns, styles, p.industry, p.weights, cap=p.cap)
    assert np.isnan(res.factor_returns[2]).all() and np.isnan(res.residuals[2]).all()
    assert res.n_obs[2] > 0
    assert np.isfinite(res.factor_returns[1, 0])
    assert_same(res, bl.cross_section_regress(p.returns, styles, p.industry, p.weights, cap=p.cap))


def test_many_industries_and_styles_equal_baseline():
    # 40 industries over 300 assets (some with one or two members), 8 styles.
    p = random_panel(T=6, N=300, K=8, G=40, missing=0.1, seed=12)
    for constraint in ("cap", "equal"):
        kw = dict(weights=p.weights, cap=p.cap, industry_constraint=constraint)
        assert_same(
            ff.cross_section_regress(p.returns, p.styles, p.industry, **kw),
            bl.cross_section_regress(p.returns, p.styles, p.industry, **kw),
        )


def test_last_industry_with_zero_cap_is_not_the_one_eliminated(panel):
    # All members of the highest active industry have cap 0 on date 1: the constraint cannot
    # express that industry via the others, so the next one is eliminated instead.
    p = panel
    cap = p.cap.copy()
    last = int(p.industry[1].max())
    cap[1, p.industry[1] == last] = 0.0
    kw = dict(weights=p.weights, cap=cap)
    res = ff.cross_section_regress(p.returns, p.styles, p.industry, **kw)
    assert_same(res, bl.cross_section_regress(p.returns, p.styles, p.industry, **kw))
    assert np.isfinite(res.factor_returns[1]).sum() >= 1 + last + 3


def test_exactly_determined_date_with_industries():
    # n_obs == free parameters (market + 3 industries - 1 constraint + 1 style = 4).
    y = np.array([[0.01, -0.02, 0.03, 0.005, np.nan, np.nan]])
    x = np.array([[[0.5], [1.0], [-1.0], [2.0], [0.1], [0.2]]])
    g = np.array([[0, 1, 2, 2, 0, 1]])
    res = ff.cross_section_regress(y, x, g, cap=np.ones((1, 6)))
    assert res.n_obs[0] == 4
    assert np.isfinite(res.factor_returns).all()
    assert np.isnan(res.std_errors).all() and np.isnan(res.tstats).all()
    np.testing.assert_allclose(res.residuals[0, :4], 0, atol=1e-15)


def test_all_nan_panel_and_empty_shapes():
    y = np.full((3, 5), np.nan)
    res = ff.cross_section_regress(y, np.zeros((3, 5, 2)), np.zeros((3, 5), int), cap=np.ones((3, 5)))
    assert res.factor_returns.shape == (3, 1 + 1 + 2)
    assert np.isnan(res.factor_returns).all() and (res.n_obs == 0).all()
    res = ff.cross_section_regress(np.zeros((0, 4)))
    assert res.factor_returns.shape == (0, 1)


# --------------------------------------------------------------------------------------------
# Result object
# --------------------------------------------------------------------------------------------


def test_names_and_to_polars(panel):
    p = panel
    G = p.n_industries
    names = [f"ind{g}" for g in range(G)]
    res = ff.cross_section_regress(
        p.returns, p.styles, p.industry, p.weights, cap=p.cap,
        style_names=["value", "mom", "size"], industry_names=names,
    )
    assert res.factor_names == ["market", *names, "value", "mom", "size"]
    df = res.to_polars()
    assert df.columns == ["date", *res.factor_names]
    assert df.shape == (p.returns.shape[0], 1 + 1 + G + 3)
    np.testing.assert_array_equal(df["date"].to_numpy(), np.arange(p.returns.shape[0]))
    np.testing.assert_array_equal(df["mom"].to_numpy(), res.factor_returns[:, 1 + G + 1])
    dates = np.arange("2024-01-01", p.returns.shape[0], dtype="datetime64[D]")
    labelled = ff.cross_section_regress(p.returns, dates=dates, assets=[f"S{i}" for i in range(p.returns.shape[1])])
    assert str(labelled.to_polars()["date"].dtype) == "Date"
    long = labelled.to_polars("residuals", form="long")
    assert long.columns == ["date", "asset", "residuals"] and long["asset"][1] == "S1"
    with pytest.raises(ValueError, match="dates has shape"):
        ff.cross_section_regress(p.returns, dates=dates[:3])
    s = str(res.summary())
    assert "Dates estimated" in s and "mom" in s


# --------------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------------


def test_bad_input(panel):
    p = panel
    y, s, g, w, c = p.returns, p.styles, p.industry, p.weights, p.cap
    with pytest.raises(ValueError, match=r"returns must be 2-dimensional, got shape \(150,\)"):
        ff.cross_section_regress(y[0])
    with pytest.raises(ValueError, match=r"styles has shape \(24, 149, 3\), expected \(24, 150, K\)"):
        ff.cross_section_regress(y, s[:, :-1])
    with pytest.raises(ValueError, match=r"weights has shape \(24, 149\), expected \(24, 150\)"):
        ff.cross_section_regress(y, s, weights=w[:, :-1])
    with pytest.raises(ValueError, match=r"industry has shape \(23, 150\)"):
        ff.cross_section_regress(y, s, g[1:], cap=c)
    with pytest.raises(ValueError, match=r"cap has shape"):
        ff.cross_section_regress(y, s, g, cap=c[:, :3])
    with pytest.raises(TypeError, match="returns must be a numeric array"):
        ff.cross_section_regress(np.full((2, 3), "x"))
    with pytest.raises(TypeError, match="industry must be an integer array of industry codes"):
        ff.cross_section_regress(y, s, np.full(y.shape, "a"), cap=c)
    bad = w.copy()
    bad[3, 4] = -1.0
    with pytest.raises(ValueError, match="weights must be non-negative"):
        ff.cross_section_regress(y, s, weights=bad)
    bad[3, 4] = np.inf
    with pytest.raises(ValueError, match="weights must not contain infinite"):
        ff.cross_section_regress(y, s, weights=bad)
    # an infinite return or exposure is a data error, not a missing value (it was dropped quietly)
    bady = y.copy()
    bady[2, 1] = np.inf
    with pytest.raises(ValueError, match=r"returns must not contain infinite values \(1 found"):
        ff.cross_section_regress(bady, s, g, w, cap=c)
    with pytest.raises(ValueError, match=r"returns must not contain infinite values \(1 found"):
        ff.robust_clip_returns(bady, 5.0)
    bads = s.copy()
    bads[2, 1, 0] = -np.inf
    with pytest.raises(ValueError, match=r"styles must not contain infinite values \(1 found"):
        ff.cross_section_regress(y, bads, g, w, cap=c)
    # (the kernel counts the rows it reads; with a lag the last rows, which it does not read, are
    # checked before it, and every infinite style is counted)
    bads[-1, 3, 1] = np.inf
    for lag in (0, 1):
        with pytest.raises(ValueError, match=r"styles must not contain infinite values \(2 found"):
            ff.cross_section_regress(y, bads, g, w, cap=c, lag=lag)
    one = s.copy()
    one[-1, 3, 1] = np.inf
    with pytest.raises(ValueError, match=r"styles must not contain infinite values \(1 found"):
        ff.cross_section_regress(y, one, g, w, cap=c, lag=1)
    # weights and caps likewise: a bad value in the last `lag` rows (which the kernel does not
    # read) is refused as with lag = 0, not accepted because of the lag
    for name, good in (("weights", w), ("cap", c)):
        for bad_value, msg in ((-1.0, "must be non-negative"), (np.inf, "must not contain infinite")):
            bad = good.copy()
            bad[-1, 3] = bad_value
            kw = {"weights": w, "cap": c, name: bad}
            for lag in (0, 2):
                with pytest.raises(ValueError, match=f"{name} {msg}"):
                    ff.cross_section_regress(y, s, g, lag=lag, **kw)
    badc = c.copy()
    badc[0, 0] = -np.inf
    with pytest.raises(ValueError, match="cap must not contain infinite"):
        ff.cross_section_regress(y, s, g, w, cap=badc)
    badc[0, 0] = -3.0
    with pytest.raises(ValueError, match="cap must be non-negative"):
        ff.cross_section_regress(y, s, g, cap=badc)  # weights default to sqrt(cap)
    with pytest.raises(ValueError, match=r"industry codes must lie in -1\.\.2"):
        ff.cross_section_regress(y, s, g, w, cap=c, industry_names=["a", "b", "c"])
    badg = g.copy()
    badg[0, 0] = -2
    with pytest.raises(ValueError, match="industry codes must be >= -1"):
        ff.cross_section_regress(y, s, badg, w, cap=c)
    with pytest.raises(ValueError, match=r"industry_constraint must be one of \['auto', 'cap', 'equal', None\], got 'sum'"):
        ff.cross_section_regress(y, s, g, w, cap=c, industry_constraint="sum")
    with pytest.raises(ValueError, match=r"industry_constraint='cap' \(the default with market=True\) needs cap"):
        ff.cross_section_regress(y, s, g, w)
    with pytest.raises(ValueError, match="design singular"):
        ff.cross_section_regress(y, s, g, w, industry_constraint=None)
    with pytest.raises(ValueError, match="no factors"):
        ff.cross_section_regress(y, market=False)
    with pytest.raises(ValueError, match="style_names has 2 names but styles has 3"):
        ff.cross_section_regress(y, s, style_names=["a", "b"])


def test_other_dtypes_and_layouts_are_converted(panel):
    p = panel
    ref = ff.cross_section_regress(p.returns, p.styles, p.industry, p.weights, cap=p.cap)
    res = ff.cross_section_regress(
        np.asfortranarray(p.returns),
        np.asfortranarray(p.styles),
        p.industry.astype(np.int64, order="F"),
        p.weights[:, ::1].copy(order="F"),
        cap=p.cap.tolist(),
    )
    for f in FIELDS:
        np.testing.assert_array_equal(getattr(res, f), getattr(ref, f))
    # float32 / int inputs are converted once, not rejected.
    y32 = p.returns.astype(np.float32)
    a = ff.cross_section_regress(y32, p.styles.astype(np.float32), weights=np.ones(p.returns.shape, int))
    b = ff.cross_section_regress(y32.astype(np.float64), p.styles.astype(np.float32).astype(np.float64))
    np.testing.assert_array_equal(a.factor_returns, b.factor_returns)


# --------------------------------------------------------------------------------------------
# neutralize
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("with_controls", [True, False])
@pytest.mark.parametrize("with_industry", [True, False])
@pytest.mark.parametrize("with_weights", [True, False])
def test_neutralize_equals_baseline_and_is_orthogonal(panel, with_controls, with_industry, with_weights):
    p = panel
    ctl = p.styles[:, :, :2] if with_controls else None
    ind = p.industry if with_industry else None
    w = p.weights if with_weights else None
    x = p.styles[:, :, 2]
    e = ff.neutralize(x, ctl, ind, w)
    ref = bl.neutralize(x, ctl, ind, w)
    assert_close(e, ref, name="residuals")
    assert np.isnan(e[p.all_nan_dates]).sum() <= e.shape[1]
    ww = np.ones_like(x) if w is None else w
    for t in range(x.shape[0]):
        used = np.isfinite(e[t])
        if not used.any():
            continue
        regs = [np.ones(used.sum())]
        if ctl is not None:
            regs += list(ctl[t, used].T)
        if ind is not None:
            regs += [(ind[t, used] == g).astype(float) for g in np.unique(ind[t, used])]
        for z in regs:
            terms = ww[t, used] * e[t, used] * z
            # orthogonal to 1e-10 relative to the size of the terms being summed
            assert abs(terms.sum()) <= 1e-10 * np.abs(terms).sum() + 1e-300


def test_neutralize_simple_cases():
    x = np.array([[1.0, 2.0, 3.0, 6.0, np.nan]])
    np.testing.assert_allclose(ff.neutralize(x), [[-2.0, -1.0, 0.0, 3.0, np.nan]], rtol=1e-14)
    ind = np.array([[0, 0, 1, 1, 1]])
    np.testing.assert_allclose(ff.neutralize(x, industry=ind), [[-0.5, 0.5, -1.5, 1.5, np.nan]], rtol=1e-14)
    # A single observation: one regressor, residual exactly 0; an all-NaN date stays NaN.
    e = ff.neutralize(np.array([[np.nan, 5.0], [np.nan, np.nan]]))
    np.testing.assert_array_equal(e, [[np.nan, 0.0], [np.nan, np.nan]])


def test_neutralize_bad_input(panel):
    p = panel
    with pytest.raises(ValueError, match=r"controls has shape \(24, 150\), expected 3-dimensional|controls must be 3-dimensional"):
        ff.neutralize(p.returns, p.returns)
    with pytest.raises(ValueError, match=r"controls has shape \(24, 10, 3\), expected \(24, 150, C\)"):
        ff.neutralize(p.returns, p.styles[:, :10])
    with pytest.raises(ValueError, match="weights must be non-negative"):
        ff.neutralize(p.returns, weights=-p.weights)
    with pytest.raises(TypeError, match="x must be a numeric array"):
        ff.neutralize([["a", "b"]])
    with pytest.raises(ValueError, match=r"industry has shape \(24, 3\)"):
        ff.neutralize(p.returns, industry=p.industry[:, :3])


# --------------------------------------------------------------------------------------------
# The lag as an offset of the design rows (kernel level)
# --------------------------------------------------------------------------------------------


def _shift(a, lag, fill):
    """Rows moved down by ``lag`` (numpy), the first ``lag`` rows set to ``fill``."""
    out = np.full_like(a, fill)
    if lag < a.shape[0]:
        out[lag:] = a[: a.shape[0] - lag]
    return out


@pytest.mark.parametrize("lag", [0, 1, 2, 5, 24, 30])
@pytest.mark.parametrize("weights", ["given", "sqrt_cap"])
def test_lag_equals_shifting_the_design_in_numpy(lag, weights):
    from ferrofactor import _core

    p = random_panel(T=24, N=150, K=3, G=6, missing=0.15, seed=31)
    G = int(p.industry.max()) + 1
    w = p.weights if weights == "given" else None
    shifted = (
        _shift(p.styles, lag, np.nan),
        _shift(p.industry, lag, -1),
        G,
        None if w is None else _shift(w, lag, np.nan),
        _shift(p.cap, lag, np.nan),
    )
    ref = _core.cross_section_regress(p.returns, *shifted, True, "cap")
    outs = []
    for threads in (1, 2):
        ff.set_num_threads(threads)
        try:
            outs.append(_core.cross_section_regress(
                p.returns, p.styles, p.industry, G, w, p.cap, True, "cap", lag=lag))
        finally:
            ff.set_num_threads(0)
    for got in outs:
        for a, b in zip(got, ref):
            np.testing.assert_array_equal(a, b)  # bit for bit, NaN where NaN
    f, e, r2, se, ts, n_obs = outs[0]
    early = slice(0, min(lag, 24))
    assert np.all(n_obs[early] == 0) and np.isnan(f[early]).all() and np.isnan(e[early]).all()
    assert np.isnan(r2[early]).all() and np.isnan(se[early]).all() and np.isnan(ts[early]).all()
    if lag < 24:
        # and the dense numpy oracle on the shifted inputs agrees
        bl_ref = bl.cross_section_regress(
            p.returns, shifted[0], shifted[1], weights=shifted[3], cap=shifted[4],
            industry_names=[str(g) for g in range(G)])
        assert_close(f, bl_ref.factor_returns, name="factor_returns")
        assert_close(e, bl_ref.residuals, name="residuals")
        np.testing.assert_array_equal(n_obs[lag:], bl_ref.n_obs[lag:])


def test_lag_default_is_zero():
    from ferrofactor import _core

    p = random_panel(T=5, N=40, K=2, G=3, seed=32)
    G = int(p.industry.max()) + 1
    a = _core.cross_section_regress(p.returns, p.styles, p.industry, G, p.weights, p.cap, True, "cap")
    b = _core.cross_section_regress(p.returns, p.styles, p.industry, G, p.weights, p.cap, True, "cap", 0)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


def test_weights_and_cap_frames_are_matched_by_label_with_returns():
    rng = np.random.default_rng(2)
    T, N = 6, 8
    dates = np.arange("2024-01-01", T, dtype="datetime64[D]")
    names = [f"S{j}" for j in range(N)]
    r, cap, sty = rng.normal(0, 0.01, (T, N)), rng.random((T, N)) + 1.0, rng.normal(size=(T, N, 1))

    def wide(x, cols=names):
        return pl.DataFrame({"date": dates, **{c: x[:, names.index(c)] for c in cols}})

    ref = ff.cross_section_regress(r, styles=sty, cap=cap)
    res = ff.cross_section_regress(wide(r), styles=sty, cap=wide(cap))
    np.testing.assert_array_equal(res.factor_returns, ref.factor_returns)
    with pytest.raises(ValueError, match="cap and returns have different assets"):
        ff.cross_section_regress(wide(r), styles=sty, cap=wide(cap, names[::-1]))
    with pytest.raises(ValueError, match="cap and weights have different dates"):
        ff.cross_section_regress(r, styles=sty, weights=wide(cap), cap=wide(cap).with_columns(pl.col("date") + pl.duration(days=1)))
    # beside returns without labels, a frame must carry the dates/assets given (which label the
    # result): a cap frame with its columns reversed was used by position under assets=names
    with pytest.raises(ValueError, match="^cap and the dates/assets given have different assets: position 0 is S7"):
        ff.cross_section_regress(r, styles=sty, cap=wide(cap, names[::-1]), dates=dates, assets=names)
    with pytest.raises(ValueError, match="^weights and the dates/assets given have different dates"):
        ff.cross_section_regress(r, styles=sty, weights=wide(cap), dates=dates + 1)
    res = ff.cross_section_regress(r, styles=sty, cap=wide(cap), dates=dates, assets=names)
    np.testing.assert_array_equal(res.factor_returns, ref.factor_returns)



def test_pandas_frames_are_matched_by_label_with_returns():
    """pandas DataFrames (DatetimeIndex × tickers) as returns, weights and cap keep their labels,
    as wide Polars frames do: reversed columns or moved dates were read by position."""
    import pandas as pd

    rng = np.random.default_rng(2)
    T, N = 6, 8
    dates = np.arange("2024-01-01", T, dtype="datetime64[D]")
    names = [f"S{j}" for j in range(N)]
    r, cap, sty = rng.normal(0, 0.01, (T, N)), rng.random((T, N)) + 1.0, rng.normal(size=(T, N, 1))

    def pdf(x, cols=names, d=dates):
        return pd.DataFrame({c: x[:, names.index(c)] for c in cols}, index=pd.DatetimeIndex(d))

    ref = ff.cross_section_regress(r, styles=sty, cap=cap, weights=cap)
    res = ff.cross_section_regress(pdf(r), styles=sty, cap=pdf(cap), weights=pdf(cap))
    np.testing.assert_array_equal(res.factor_returns, ref.factor_returns)
    np.testing.assert_array_equal(res.dates, dates)
    assert list(res.assets) == names
    with pytest.raises(ValueError, match="cap and returns have different assets: position 0 is S7"):
        ff.cross_section_regress(pdf(r), styles=sty, cap=pdf(cap, names[::-1]))
    with pytest.raises(ValueError, match="weights and returns have different dates"):
        ff.cross_section_regress(pdf(r), styles=sty, weights=pdf(cap, d=dates + 1))
    with pytest.raises(ValueError, match="^cap and the dates/assets given have different assets: position 0 is S7"):
        ff.cross_section_regress(r, styles=sty, cap=pdf(cap, names[::-1]), dates=dates, assets=names)
    # with the styles an array paired row by row, returns out of date order are refused
    with pytest.raises(ValueError, match=r"returns \(a pandas DataFrame indexed by date\) is not in date order"):
        ff.cross_section_regress(pdf(r).iloc[::-1], styles=sty, cap=cap)


def test_default_constraint_follows_the_market_factor():
    # "auto" (the default) is "cap" with a market factor and no constraint without one: a
    # market=False model whose industries carry the common level, as FactorModel(market=False).
    # Before, the "cap" default also constrained market=False fits (the common move then went
    # to the residuals).
    p = random_panel(T=15, N=120, K=3, G=6, missing=0.05, seed=8)
    kw = dict(weights=p.weights, cap=p.cap)
    assert_same(ff.cross_section_regress(p.returns, p.styles, p.industry, **kw),
                ff.cross_section_regress(p.returns, p.styles, p.industry, industry_constraint="cap", **kw))
    free = ff.cross_section_regress(p.returns, p.styles, p.industry, market=False, **kw)
    ref = bl.cross_section_regress(p.returns, p.styles, p.industry, market=False,
                                   industry_constraint=None, **kw)
    assert_same(free, ref)
    # an explicit constraint without a market is still applied, as documented
    restricted = ff.cross_section_regress(p.returns, p.styles, p.industry, market=False,
                                          industry_constraint="equal", **kw)
    assert_same(restricted, bl.cross_section_regress(p.returns, p.styles, p.industry, market=False,
                                                     industry_constraint="equal", **kw))
    est = free.estimated
    ind = [not n.startswith("style_") for n in free.factor_names]
    assert free.factor_names[:sum(ind)] == ["0", "1", "2", "3", "4"]  # industry 5 is never used
    assert np.allclose(np.nansum(restricted.factor_returns[est][:, ind], axis=1), 0, atol=1e-12)
    assert np.abs(np.nansum(free.factor_returns[est][:, ind], axis=1)).max() > 1e-3


def test_long_frame_with_unsorted_assets_beside_positional_arrays_is_refused():
    # a long frame's assets come out sorted; an array given in the frame's own (unsorted) order
    # used to pair silently with other assets (fama_macbeth's slope −0.002 instead of 0.05)
    rng = np.random.default_rng(3)
    T, N = 30, 6
    names = ["f", "c", "a", "e", "b", "d"]
    dates = np.datetime64("2024-01-01") + np.arange(T)
    x = rng.standard_normal((T, N))
    r = 0.05 * x + rng.normal(0, 0.01, (T, N))
    frame = long_frame(r, names, dates, "ret")
    with pytest.raises(ValueError, match=r"returns: the long frame lists its assets in another order"):
        ff.fama_macbeth(frame, x[:, :, None])
    with pytest.raises(ValueError, match=r"returns: the long frame lists its assets in another order"):
        ff.cross_section_regress(frame, styles=x[:, :, None], market=False)
    with pytest.raises(ValueError, match=r"returns: the long frame lists its assets in another order"):
        ff.cross_section_regress(frame, weights=np.ones((T, N)))
    # the frame sorted by asset, arrays in sorted order: accepted, the numbers of the arrays
    order = np.argsort(names)
    got = ff.fama_macbeth(frame.sort("date", "asset"), x[:, order, None]).params
    np.testing.assert_allclose(got, ff.fama_macbeth(r, x[:, :, None]).params)
    # every partner labelled (or none): nothing is paired by position, accepted as given
    res = ff.cross_section_regress(frame, weights=long_frame(np.ones((T, N)), names, dates, "w"))
    assert list(res.assets) == sorted(names)
    ff.cross_section_regress(frame)


def test_long_frame_sorted_by_date_and_asset_with_a_late_listing_is_accepted_beside_arrays():
    # assets listed in sorted order on every date: a late listing does not make them ambiguous
    rng = np.random.default_rng(7)
    T, N = 20, 4
    names = ["a", "b", "c", "d"]
    dates = np.datetime64("2024-01-01") + np.arange(T)
    x = rng.standard_normal((T, N))
    r = 0.05 * x + rng.normal(0, 0.01, (T, N))
    r[:3, 0] = np.nan
    frame = long_frame(r, names, dates, "ret").drop_nulls().filter(pl.col("ret").is_not_nan())
    got = ff.fama_macbeth(frame, x[:, :, None]).params
    np.testing.assert_allclose(got, ff.fama_macbeth(r, x[:, :, None]).params)
    with pytest.raises(ValueError, match=r"returns: the long frame lists its assets in another order"):
        ff.fama_macbeth(frame.sort("asset", "date", descending=[True, False]), x[:, :, None])


@pytest.mark.parametrize("exp", [-150, -155, -160, -165, -170, -200])
def test_returns_whose_squares_are_subnormal_keep_their_standard_errors_and_r2(exp):
    """Returns around 1e-155..1e-165 have squares in the subnormal range: the factor returns were
    right, but the SSR and SST lost their digits while staying finite, so the standard errors came
    out 0 (t-statistics NaN) and R² off by up to 94 %, where returns at 1e-170 (whose squares
    vanish, a non-finite R²) were solved again scaled by powers of two. A date whose sums of
    squares fall below 1e-270 now takes that path too. Oracle: the unit-scale regression."""
    rng = np.random.default_rng(23)
    T, N, K, G = 3, 200, 2, 4
    s, ind = rng.standard_normal((T, N, K)), rng.integers(0, G, (T, N))
    cap, y = rng.lognormal(0, 1, (T, N)), 0.01 * rng.standard_normal((T, N))
    base = ff.cross_section_regress(y, s, ind, cap=cap)
    scale = 10.0**exp
    res = ff.cross_section_regress(y * scale, s, ind, cap=cap)
    np.testing.assert_allclose(res.factor_returns / scale, base.factor_returns, rtol=1e-13, atol=0)
    np.testing.assert_allclose(res.std_errors / scale, base.std_errors, rtol=1e-13, atol=0)
    np.testing.assert_allclose(res.tstats, base.tstats, rtol=1e-12, atol=0)
    np.testing.assert_allclose(res.r2, base.r2, rtol=1e-12, atol=0)
    np.testing.assert_allclose(res.residuals / scale, base.residuals, rtol=1e-12, atol=1e-17)


@pytest.mark.parametrize("market,n", [(True, 1), (True, 2), (True, 4), (False, 1), (False, 3)])
def test_r2_is_nan_when_every_return_is_equal(market, n):
    # The centred SST of equal returns is 0 exactly: R² is NaN (the documented convention, that of
    # the baseline). It was w (y − ȳ)² with ȳ = Σ w y / Σ w off y by a rounding, so that R² came
    # back 0.0 or 1.0 (e.g. one observation left beside the market once the style dropped out).
    rng = np.random.default_rng(5)
    T = 200
    y = np.repeat(rng.normal(0, 0.01, (T, 1)), n, axis=1)
    w = rng.uniform(0.5, 3.0, (T, n))
    sty = np.repeat(rng.normal(size=(T, 1, 1)), n, axis=1)  # no dispersion: dropped
    codes = np.zeros((T, n), dtype=np.int64)  # one industry (without a market: the constant)
    kw = dict(market=True) if market else dict(industry=codes, market=False, industry_constraint=None)
    res = ff.cross_section_regress(y, sty, weights=w, **kw)
    ref = bl.cross_section_regress(y, sty, weights=w, **kw)
    assert (res.n_obs == n).all()
    assert np.isnan(res.r2).all() and np.isnan(ref.r2).all()
    # the factor returns are still estimated: the level of the returns
    np.testing.assert_allclose(res.factor_returns[:, 0], y[:, 0], rtol=1e-14)
