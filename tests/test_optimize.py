"""ff.optimize / ff.Optimizer: the factor-form optimiser on a RiskModel.

Oracles (independent of the code under test):
- numpy on the risk model's dense exposure matrix ``B`` (``RiskModel.exposure_matrix``) and
  dense covariance ``Σ = B Σf Bᵀ + D`` (``RiskModel.covariance``) for every constraint check;
- ``ff.baseline.optimize_dense``: the same problem with the full covariance in
  ``cvxpy.quad_form`` (no factor form, no auxiliary y, every asset a variable);
- the closed form ``(1/2λ) Σ⁻¹ α`` of unconstrained mean-variance (``np.linalg.solve``);
- hand-worked transaction costs and trade rules.

Tolerances. Clarabel stops at relative gaps and residuals of 1e-8. Equality constraints
(budget, net, neutrality) then hold to ~1e-12 here; inequalities to 1e-9, so constraint checks
use ``TOL = 1e-7``. Weights are determined only to about sqrt(gap / curvature): with the default
tolerances the factor and full-covariance forms agree to ~1e-5 in weights (and 1e-10 in
objective), so that comparison runs both solvers at 1e-12 (``TIGHT``) and asserts 1e-6.
"""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pytest

import ferrofactor as ff
from ferrofactor import baseline as bl
from ferrofactor.optimize import VIOLATION_TOL, _l1_margin, factor_root

cp = pytest.importorskip("cvxpy")

TOL = 1e-7
TIGHT = dict(tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12, tol_ktratio=1e-10)
N, G, KS = 200, 6, 3


def make_model(n=N, g=G, ks=KS, dates=3, seed=0, uncovered=10, fc=None):
    """A RiskModel from given matrices: industries 0..g-1 (three assets without one), the last
    ``uncovered`` assets without a specific variance (no forecast)."""
    rng = np.random.default_rng(seed)
    k = 1 + g + ks
    if fc is None:
        a = rng.standard_normal((dates, k, k)) * 0.004
        fc = a @ a.transpose(0, 2, 1) / k + np.eye(k) * 2e-5
    spec = rng.uniform(0.01, 0.03, (dates, n)) ** 2
    styles = rng.standard_normal((dates, n, ks))
    industry = np.repeat(rng.integers(0, g, (1, n)), dates, axis=0)
    industry[:, :3] = -1
    if uncovered:
        spec[:, n - uncovered:] = np.nan
    ex = ff.Exposures(styles, industry, style_names=[f"s{j}" for j in range(ks)],
                      industry_names=[f"ind{j}" for j in range(g)],
                      dates=np.datetime64("2024-01-02") + np.arange(dates),
                      assets=[f"A{j:03d}" for j in range(n)])
    return ff.RiskModel.from_covariance(fc, spec, ex)


@pytest.fixture(scope="module")
def model():
    return make_model()


@pytest.fixture(scope="module")
def data(model):
    rng = np.random.default_rng(1)
    c = model.covered(-1)
    alpha = np.where(c, rng.normal(0, 1e-3, N), np.nan)
    w0 = np.where(c, rng.random(N), 0.0)
    w0 /= w0.sum()
    return alpha, w0, c, model.exposure_matrix(-1), model.covariance(-1)


def vol(cov, c, w):
    return float(np.sqrt(w[c] @ cov[np.ix_(c, c)] @ w[c]))


# ------------------------------------------------------------------------ factor root


def test_factor_root_cholesky_eigen_and_missing_factors():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((5, 5))
    pd = a @ a.T + np.eye(5)
    lt, usable, method, n_clip = factor_root(pd)
    assert method == "cholesky" and usable.all() and n_clip == 0
    np.testing.assert_allclose(lt.T @ lt, pd, rtol=0, atol=1e-12)
    # Semi-definite (rank 2): Cholesky fails, the eigen form reproduces it with 2 rows.
    b = rng.standard_normal((5, 2))
    psd = b @ b.T
    lt, _, method, n_clip = factor_root(psd)
    assert method == "eigen" and lt.shape[0] == 2
    np.testing.assert_allclose(lt.T @ lt, psd, rtol=0, atol=1e-12)
    # Indefinite: the negative eigenvalue is clipped to zero (oracle: numpy eigh by hand).
    ind = psd - np.diag([0.3, 0, 0, 0, 0])
    vals, vecs = np.linalg.eigh(ind)
    want = (vecs * np.maximum(vals, 0)) @ vecs.T
    lt, _, method, n_clip = factor_root(ind)
    assert method == "eigen" and n_clip == int((vals < 0).sum()) >= 1
    np.testing.assert_allclose(lt.T @ lt, want, rtol=0, atol=1e-12)
    # A factor without history (NaN row/column) is left out.
    nan = pd.copy()
    nan[2, :] = nan[:, 2] = np.nan
    lt, usable, method, _ = factor_root(nan)
    assert usable.tolist() == [True, True, False, True, True] and not lt[:, 2].any()
    keep = [0, 1, 3, 4]
    np.testing.assert_allclose((lt.T @ lt)[np.ix_(keep, keep)], pd[np.ix_(keep, keep)], atol=1e-12)


def test_semidefinite_factor_covariance_optimises_with_clipped_root():
    # Σf of rank 3 (K = 10): the optimiser uses the eigen root; its risk equals the model's.
    rng = np.random.default_rng(3)
    k = 1 + G + KS
    b = rng.standard_normal((3, k, 3)) * 0.005
    risk = make_model(fc=b @ b.transpose(0, 2, 1))
    c = risk.covered(-1)
    alpha = np.where(c, rng.normal(0, 1e-3, N), np.nan)
    res = ff.optimize(alpha, risk, risk_aversion=20.0, max_weight=0.05)
    assert res.ok and res.factorization == "eigen"
    assert res.volatility == pytest.approx(risk.portfolio_risk(res.weights), rel=1e-12)
    wd, status, _ = bl.optimize_dense(alpha[c], risk.covariance(-1)[np.ix_(c, c)], risk_aversion=20.0,
                                      max_weight=0.05, solver_options=TIGHT)
    res_t = ff.optimize(alpha, risk, risk_aversion=20.0, max_weight=0.05, solver_options=TIGHT)
    assert np.max(np.abs(res_t.weights[c] - wd)) < 1e-6


# ------------------------------------------------------------------------ constraints


def check_common(res, c, w0=None):
    w = res.weights
    assert res.ok, res.message
    assert np.isfinite(w).all()
    assert np.all(w[~c] == 0)  # no forecast: held at zero
    assert res.max_violation <= TOL
    if w0 is not None:
        assert res.turnover == pytest.approx(np.abs(w - w0).sum(), rel=1e-14)


def test_every_constraint_holds_long_only(model, data):
    alpha, w0, c, B, cov = data
    free_vol = ff.optimize(alpha, model, risk_aversion=5.0, max_weight=0.03).volatility
    vmax = 0.97 * free_vol
    res = ff.optimize(
        alpha, model, w0=w0, risk_aversion=5.0, max_weight=0.03, min_weight=0.0, turnover=0.9,
        factor_bounds={"s0": (-0.05, 0.05), "industries": (None, 0.25)}, max_volatility=vmax,
        tcost=5.0,
    )
    check_common(res, c, w0)
    w = res.weights
    x = B[c].T @ w[c]
    assert w.min() >= -TOL and w.max() <= 0.03 + TOL
    assert abs(w.sum() - 1.0) <= TOL
    assert np.abs(w - w0).sum() <= 0.9 + TOL
    assert -0.05 - TOL <= x[1 + G] <= 0.05 + TOL
    assert x[1:1 + G].max() <= 0.25 + TOL
    assert vol(cov, c, w) <= vmax + TOL
    # The reported numbers are those of the weights (numpy oracle).
    np.testing.assert_allclose(res.exposures, x, rtol=0, atol=1e-14)
    assert res.volatility == pytest.approx(vol(cov, c, w), rel=1e-10)
    assert res.linear_cost == pytest.approx(5e-4 * np.abs(w - w0).sum(), rel=1e-12)
    # Each constraint is reported, and the largest violation is their maximum.
    assert set(res.violations) >= {"long_only", "max_weight", "min_weight", "budget", "turnover",
                                   "factor_bounds[s0]", "factor_bounds[industries]", "max_volatility"}
    assert res.max_violation == max(res.violations.values())


def test_every_constraint_holds_long_short(model, data):
    alpha, w0, c, B, cov = data
    res = ff.optimize(
        alpha, model, w0=w0, risk_aversion=10.0, long_only=False, net=0.05, gross=1.6,
        max_weight=0.04, min_weight=-0.04, turnover=2.0, neutral=["industries", "s1"],
        factor_bounds={"styles": (-0.2, 0.2)},
    )
    check_common(res, c, w0)
    w = res.weights
    x = B[c].T @ w[c]
    assert abs(w.sum() - 0.05) <= TOL
    assert np.abs(w).sum() <= 1.6 + TOL
    assert w.max() <= 0.04 + TOL and w.min() >= -0.04 - TOL
    assert np.abs(w - w0).sum() <= 2.0 + TOL
    # Industry-neutral: the net 0.05 sits on the three assets without an industry.
    assert np.abs(x[1 + G + 1]) <= 1e-7  # s1
    assert np.abs(x[1:1 + G]).max() <= 1e-7
    assert np.abs(x[1 + G:]).max() <= 0.2 + TOL


def test_every_constraint_holds_long_short_net_zero(model, data):
    alpha, w0, c, B, cov = data
    res = ff.optimize(alpha, model, risk_aversion=10.0, long_only=False, gross=1.0,
                      neutral=["market", "industries", "styles"])
    check_common(res, c)
    w = res.weights
    assert abs(w.sum()) <= TOL and np.abs(w).sum() <= 1.0 + TOL
    # Neutrality to 1e-7 on every factor (dense B oracle).
    assert np.abs(B[c].T @ w[c]).max() <= 1e-7


def test_benchmark_makes_risk_and_exposures_active(model, data):
    alpha, w0, c, B, cov = data
    bench = np.where(c, 1.0, 0.0)
    bench /= bench.sum()
    te = 0.002
    res = ff.optimize(alpha, model, benchmark=bench, risk_aversion=10.0, max_weight=0.03,
                      neutral="styles", factor_bounds={"industries": (-0.02, 0.02)}, max_volatility=te)
    check_common(res, c)
    w = res.weights
    act = B[c].T @ (w - bench)[c]
    assert np.abs(act[1 + G:]).max() <= 1e-7  # styles neutral relative to the benchmark
    assert np.abs(act[1:1 + G]).max() <= 0.02 + TOL
    assert vol(cov, c, w - bench) <= te + TOL  # tracking error cap
    assert res.active_volatility == pytest.approx(vol(cov, c, w - bench), rel=1e-10)
    np.testing.assert_allclose(res.active_exposures, act, atol=1e-14)
    # Without the benchmark the same neutrality is absolute: the weights differ.
    plain = ff.optimize(alpha, model, risk_aversion=10.0, max_weight=0.03, long_only=False,
                        budget=None, neutral="styles")
    assert np.abs(B[c].T @ plain.weights[c])[1 + G:].max() <= 1e-7


def test_neutrality_to_1e_7_end_to_end():
    panel = ff.datasets.synthetic_universe(n_assets=150, n_days=260, seed=4)
    risk = ff.RiskModel.from_factor_model(ff.FactorModel().fit(panel, ff.Exposures.from_panel(panel)))
    c = risk.covered(-1)
    alpha = np.where(c, np.random.default_rng(2).normal(0, 1e-3, 150), np.nan)
    res = ff.optimize(alpha, risk, long_only=False, gross=1.0, risk_aversion=5.0,
                      neutral=["market", "industries", "styles"])
    assert res.ok
    assert np.abs(risk.exposure_matrix(-1)[c].T @ res.weights[c]).max() <= 1e-7
    np.testing.assert_allclose(res.exposures, risk.factor_exposures(res.weights), atol=1e-15)


# ------------------------------------------------------------------------ oracles


@pytest.mark.parametrize("case", [
    dict(max_weight=0.03, turnover=1.2, use_w0=True),
    dict(long_only=False, gross=1.6, max_weight=0.05, min_weight=-0.05, neutral=["market", "industries"]),
    dict(max_weight=0.05, tcost=10.0, use_w0=True),
    dict(max_weight=0.05, factor_bounds={"s2": (-0.02, 0.02)}),
], ids=["long_only_turnover", "long_short_neutral", "linear_tcost", "factor_bound"])
def test_factor_form_equals_full_covariance_quad_form(model, data, case):
    alpha, w0, c, B, cov = data
    case = dict(case)
    use_w0 = case.pop("use_w0", False)
    res = ff.optimize(alpha, model, w0=w0 if use_w0 else None, risk_aversion=20.0,
                      solver_options=TIGHT, **case)
    assert res.ok
    neutral = []
    if "neutral" in case:
        case.pop("neutral")
        neutral = list(range(0, 1 + G))
    bounds = None
    if "factor_bounds" in case:
        bounds = {1 + G + 2: case.pop("factor_bounds")["s2"]}
    lin = case.pop("tcost", None)
    # The solver sees ℓ1 limits tightened by _l1_margin (documented); give the oracle the same.
    for key in ("turnover", "gross"):
        if key in case:
            case[key] -= _l1_margin(case[key], int(c.sum()))
    wd, status, prob = bl.optimize_dense(
        alpha[c], cov[np.ix_(c, c)], w0=w0[c] if use_w0 else None, risk_aversion=20.0,
        exposures=B[c], neutral=neutral, factor_bounds=bounds, linear_bps=lin,
        solver_options=TIGHT, **case)
    assert status == "optimal"
    assert np.max(np.abs(res.weights[c] - wd)) < 1e-6
    assert res.objective == pytest.approx(prob.value, abs=1e-10)


@pytest.mark.parametrize("c", [1e-6, 1e-3, 1.0, 1e3])
def test_weights_do_not_depend_on_the_units_of_alpha(model, data, c):
    # α·c with λ·c is the same problem (objective × c). The solver's stopping rule has an
    # absolute part (Clarabel: gap 1e-8), so before, the objective of a small-unit alpha
    # (~1e-10) stopped the solve early: weights 4e-4 off the optimum and spurious positions.
    # The objective is now divided by its own scale; default tolerances give the same weights.
    alpha, w0, c_, B, cov = data
    wd, status, _ = bl.optimize_dense(alpha[c_], cov[np.ix_(c_, c_)], risk_aversion=20.0,
                                      max_weight=0.05, solver_options=TIGHT)
    assert status == "optimal"
    res = ff.optimize(alpha * c, model, risk_aversion=20.0 * c, max_weight=0.05)
    one = ff.optimize(alpha, model, risk_aversion=20.0, max_weight=0.05)
    assert res.ok
    np.testing.assert_allclose(res.weights, one.weights, rtol=0, atol=1e-9)
    assert np.max(np.abs(res.weights[c_] - wd)) < 5e-5  # (default tolerances: see the docstring)
    assert np.sum(np.abs(res.weights) >= 1e-6) == np.sum(np.abs(wd) >= 1e-6)
    assert res.objective / c == pytest.approx(float(alpha[c_] @ wd - 20.0 * wd @ cov[np.ix_(c_, c_)] @ wd),
                                              rel=1e-6)


@pytest.mark.filterwarnings("ignore:Solution may be inaccurate")
def test_factor_form_equals_full_covariance_with_volatility_cap(model, data):
    alpha, w0, c, B, cov = data
    res = ff.optimize(alpha, model, risk_aversion=20.0, max_weight=0.05, max_volatility=0.0068,
                      solver_options=TIGHT)
    wd, status, prob = bl.optimize_dense(alpha[c], cov[np.ix_(c, c)], risk_aversion=20.0,
                                         max_weight=0.05, max_volatility=0.0068, solver_options=TIGHT)
    # The volatility cap is a second-order cone: Clarabel reaches ~1e-9 there ("inaccurate" at
    # 1e-12 tolerances); weights agree to 1e-6, the cap holds to 1e-7.
    assert res.status in ("optimal", "optimal_inaccurate") and res.max_violation <= TOL
    assert np.max(np.abs(res.weights[c] - wd)) < 1e-6


def test_unconstrained_mean_variance_closed_form(model, data):
    alpha, _, c, _, cov = data
    for lam in (0.5, 3.0):
        res = ff.optimize(alpha, model, risk_aversion=lam, long_only=False, budget=None)
        want = np.linalg.solve(cov[np.ix_(c, c)], alpha[c]) / (2 * lam)
        assert res.ok
        # An unconstrained QP: one KKT solve, exact to rounding.
        np.testing.assert_allclose(res.weights[c], want, rtol=1e-9, atol=1e-12)
        assert np.all(res.weights[~c] == 0)


# ------------------------------------------------------------------------ failures


def fifty_assets():
    return make_model(n=50, g=3, ks=2, uncovered=0, seed=7)


def test_infeasible_is_reported_with_a_clear_message():
    risk = fifty_assets()
    alpha = np.random.default_rng(0).normal(0, 1e-3, 50)
    with pytest.warns(ff.OptimizationWarning, match="infeasible"):
        res = ff.optimize(alpha, risk, max_weight=0.01)
    assert res.status == "infeasible" and not res.ok
    assert "max_weight" in res.message and "Σw ≤ 0.5" in res.message and "budget 1" in res.message
    assert np.isnan(res.weights).all() and res.fallback is None
    assert "infeasible" in str(res.summary())


def test_turnover_too_small_to_refill_forced_sales_is_diagnosed():
    # Five holdings lose their forecast (sold: 0.1 of turnover), and the budget needs the other
    # 0.1 bought back: no portfolio has turnover < 0.2. Σw0 equals the budget, so the diagnosis
    # said "no single constraint is infeasible on its own", though turnover alone was.
    risk = fifty_assets()
    alpha = np.random.default_rng(0).normal(0, 1e-3, 50)
    alpha[:5] = np.nan
    w0 = np.full(50, 0.02)
    with pytest.warns(ff.OptimizationWarning, match="infeasible"):
        res = ff.optimize(alpha, risk, w0=w0, turnover=0.15)
    assert res.status == "infeasible"
    assert ("reaching budget 1 needs turnover ≥ 0.2 > turnover 0.15 (the free assets' Σw from 0.9 to 1 "
            "and 0.1 forced on assets held fixed (no forecast))") in res.message
    assert "no single constraint" not in res.message
    assert ff.optimize(alpha, risk, w0=w0, turnover=0.2 + 1e-3).ok  # (the bound is the least turnover)


def test_gross_too_small_for_the_held_positions_is_diagnosed():
    # Untradable holdings of gross 0.5 and Σw 0.3: a net-zero book needs the free assets at
    # Σw = −0.3, so gross ≥ 0.8. The diagnosis compared only |net| = 0 with gross and said "no
    # single constraint is infeasible on its own".
    risk = fifty_assets()
    alpha = np.random.default_rng(0).normal(0, 1e-3, 50)
    w0 = np.zeros(50)
    w0[:4] = [0.2, 0.2, -0.05, -0.05]
    tradable = np.arange(50) >= 4
    kw = dict(w0=w0, tradable=tradable, long_only=False, risk_aversion=10.0)
    with pytest.warns(ff.OptimizationWarning, match="infeasible"):
        res = ff.optimize(alpha, risk, gross=0.6, **kw)
    assert ("reaching net 0 needs gross ≥ 0.8 > gross 0.6 (the assets held fixed have gross 0.5 and "
            "Σw 0.3)") in res.message
    assert "no single constraint" not in res.message
    assert ff.optimize(alpha, risk, gross=0.8 + 1e-3, **kw).ok


def test_no_asset_with_a_forecast_is_diagnosed():
    # A style defined since recently (low_vol) loads on every asset before its factor variance is
    # estimated: no asset has a risk forecast. Before, the optimiser said "CLARABEL returned
    # 'optimal' but budget is violated by 1" (status "violated", zero weights, divide warnings)
    # and covered() still listed the assets the risk products then refused.
    panel = ff.datasets.synthetic_universe(n_assets=100, n_days=300, seed=1)
    risk = ff.RiskModel.from_factor_model(ff.FactorModel().fit(panel, ff.Exposures.from_panel(panel)))
    t = 202  # low_vol has exposures on every asset, its variance has too few factor returns
    assert not np.isfinite(risk.factor_covariance[t][risk.factor_names.index("low_vol")].max())
    assert not risk.covered(t).any()
    alpha = np.random.default_rng(0).normal(0, 1e-3, 100)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = ff.optimize(alpha, risk, date=t, max_weight=0.05)
    assert [w.category for w in caught] == [ff.OptimizationWarning]  # no RuntimeWarning
    assert res.status == "infeasible" and not res.ok and np.isnan(res.weights).all()
    assert res.message.startswith(f"no free asset: 100 of 100 assets have no risk forecast on {res.date}")
    assert "exposed to factors whose variance is not estimated yet (['low_vol'])" in res.message
    assert "the fixed weights break budget by 1" in res.message
    # a later date with every variance estimated solves
    assert ff.optimize(alpha, risk, date=260, max_weight=0.05).ok


def test_fallbacks_only_when_asked_with_a_warning():
    risk = fifty_assets()
    rng = np.random.default_rng(0)
    alpha = rng.normal(0, 1e-3, 50)
    w0 = rng.random(50)
    w0 /= w0.sum()
    with pytest.warns(ff.OptimizationWarning, match="fallback 'top_n' applied"):
        res = ff.optimize(alpha, risk, max_weight=0.01, fallback="top_n", fallback_n=10)
    assert res.status == "infeasible" and res.fallback == "top_n" and not res.ok
    np.testing.assert_array_equal(res.weights, bl.top_n(alpha, 10))
    assert res.violations["max_weight"] == pytest.approx(0.09)  # the fallback breaks the cap: said
    with pytest.warns(ff.OptimizationWarning, match="fallback 'hold'"):
        res = ff.optimize(alpha, risk, w0=w0, max_weight=0.01, fallback="hold")
    np.testing.assert_array_equal(res.weights, w0)
    # A feasible problem with a fallback set: solved, no fallback, no warning.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ok = ff.optimize(alpha, risk, max_weight=0.05, fallback="top_n")
    assert ok.ok and ok.fallback is None


def test_long_short_top_n_fallback_and_unbounded():
    risk = fifty_assets()
    alpha = np.random.default_rng(0).normal(0, 1e-3, 50)
    with pytest.warns(ff.OptimizationWarning, match="unbounded"):
        res = ff.optimize(alpha, risk, risk_aversion=0.0, long_only=False, fallback="top_n",
                          fallback_n=5, gross=None)
    assert res.status.startswith("unbounded") and res.fallback == "top_n"
    want = 0.5 * (bl.top_n(alpha, 5) - bl.top_n(-alpha, 5))
    np.testing.assert_array_equal(res.weights, want)


def test_long_only_top_n_fallback_never_shorts():
    # Untradable holdings of 1.0 above a budget of 0.9: the long-only fallback scaled the top 5
    # by budget − held = −0.1, shorting the five highest-alpha assets at −0.02 each
    risk = fifty_assets()
    alpha = np.random.default_rng(0).normal(0, 1e-3, 50)
    w0 = np.zeros(50)
    w0[:3] = [0.4, 0.4, 0.2]
    tradable = np.arange(50) >= 3
    with pytest.warns(ff.OptimizationWarning, match="fallback 'top_n' applied"):
        res = ff.optimize(alpha, risk, w0=w0, tradable=tradable, budget=0.9, fallback="top_n", fallback_n=5)
    assert res.fallback == "top_n"
    np.testing.assert_array_equal(res.weights, w0)  # held as they are, nothing bought or shorted
    assert "it breaks budget by 0.1" in res.message and res.violations["long_only"] == 0.0


def test_long_short_top_n_fallback_with_fewer_than_2n_free_assets():
    # 50 free assets and fallback_n=40: the top 40 and the bottom 40 shared 30 assets, whose
    # +g/80 and −g/80 cancelled, leaving a book of gross 0.25 instead of 1; the seed's rule
    # (TopN, quantile_portfolio) caps each side at M // 2
    risk = fifty_assets()
    alpha = np.random.default_rng(0).normal(0, 1e-3, 50)
    with pytest.warns(ff.OptimizationWarning, match="fallback 'top_n' applied"):
        res = ff.optimize(alpha, risk, long_only=False, gross=1.6, max_weight=0.001, min_weight=-0.001,
                          net=0.5, fallback="top_n", fallback_n=40)
    assert res.fallback == "top_n"
    want = 0.8 * ff.top_n(alpha, 25) - 0.8 * ff.top_n(-alpha, 25)  # +1.6/50 on the top 25, −1.6/50 on the bottom 25
    np.testing.assert_allclose(res.weights, want, rtol=1e-15, atol=0)
    assert np.abs(res.weights).sum() == pytest.approx(1.6, rel=1e-14)
    assert ((res.weights > 0).sum(), (res.weights < 0).sum()) == (25, 25)


def test_missing_solver_is_a_clear_error(model, data, monkeypatch):
    alpha = data[0]
    if "ECOS" not in cp.installed_solvers():
        with pytest.raises(ValueError, match=r"solver 'ECOS' is not installed.*pip install ecos"):
            ff.optimize(alpha, model, solver=cp.ECOS)
    monkeypatch.setattr(cp, "installed_solvers", lambda: ["CLARABEL", "SCS"])
    with pytest.raises(ValueError, match=r"solver 'ECOS' is not installed .*installed: \['CLARABEL', 'SCS'\]"):
        ff.optimize(alpha, model, solver="ecos")
    with pytest.raises(TypeError, match="solver must be a solver name"):
        ff.optimize(alpha, model, solver=3)


def test_solver_error_and_broken_constraints_are_not_silent(model, data, monkeypatch):
    alpha = data[0]
    import cvxpy.problems.problem as problem

    def boom(self, *a, **k):
        raise cp.error.SolverError("simulated failure")

    monkeypatch.setattr(problem.Problem, "solve", boom)
    with pytest.warns(ff.OptimizationWarning, match="simulated failure"):
        res = ff.optimize(alpha, model, max_weight=0.05)
    assert res.status == "solver_error" and np.isnan(res.weights).all() and not res.ok


def test_solver_options_the_solver_refuses_are_named():
    # SCS answered a bogus setting with "'bogus' is an invalid keyword argument for this
    # function", which names no argument of optimize
    risk = fifty_assets()
    alpha = np.random.default_rng(0).normal(0, 1e-3, 50)
    with pytest.raises(TypeError, match=r"^solver_options \['bogus'\] refused by CLARABEL: .*'bogus'"):
        ff.optimize(alpha, risk, solver_options={"bogus": 1})
    if "SCS" in cp.installed_solvers():
        with pytest.raises(TypeError, match=r"^solver_options \['bogus'\] refused by SCS: "):
            ff.optimize(alpha, risk, solver="SCS", solver_options={"bogus": 1})
    assert ff.optimize(alpha, risk, max_weight=0.1, solver_options={"max_iter": 200}).ok


def test_a_solver_that_cannot_take_the_problem_says_why():
    # OSQP takes quadratic programmes only: with max_volatility (a second-order cone) the
    # message listed infeasibility causes ("no single constraint is infeasible on its own, their
    # combination is (relax turnover, ...)"), advice that cannot help
    if "OSQP" not in cp.installed_solvers():
        pytest.skip("OSQP is not installed")
    risk = fifty_assets()
    alpha = np.random.default_rng(0).normal(0, 1e-3, 50)
    with pytest.warns(ff.OptimizationWarning, match="cannot solve this problem"):
        res = ff.optimize(alpha, risk, risk_aversion=10.0, max_weight=0.1, max_volatility=0.01, solver="OSQP")
    assert res.status == "solver_error" and not res.ok
    assert res.message.startswith(
        "solver 'OSQP' cannot solve this problem, which has a quadratic objective (risk_aversion > 0), a "
        "second-order cone (max_volatility): use 'CLARABEL' (the default) or 'SCS'")
    assert "infeasible" not in res.message and "relax" not in res.message
    assert ff.optimize(alpha, risk, risk_aversion=10.0, max_weight=0.1, solver="OSQP").ok


# ------------------------------------------------------------------------ holdings rules


def test_tradable_mask_and_assets_without_forecast(model, data):
    alpha, w0, c, B, cov = data
    w0 = w0.copy()
    w0[-1] = 0.02  # an asset without a forecast, tradable: sold to 0
    w0 /= w0.sum()
    tradable = np.ones(N, bool)
    tradable[[5, 6]] = False  # suspended: held at w0
    a = alpha.copy()
    a[7] = np.nan  # no alpha: held at 0
    res = ff.optimize(a, model, w0=w0, tradable=tradable, max_weight=0.05, turnover=1.5)
    assert res.ok
    assert res.weights[5] == w0[5] and res.weights[6] == w0[6]
    assert res.weights[7] == 0 and res.weights[-1] == 0
    assert not res.free[[5, 6, 7]].any() and not res.free[~c].any()
    assert abs(res.weights.sum() - 1) <= TOL


def test_untradable_holding_without_forecast_is_kept_and_noted(model, data):
    alpha, w0, c, B, cov = data
    w0 = w0.copy()
    w0[-1] = 0.05
    w0 /= w0.sum()
    tradable = np.ones(N, bool)
    tradable[-1] = False
    res = ff.optimize(alpha, model, w0=w0, tradable=tradable, max_weight=0.05)
    assert res.ok and res.weights[-1] == w0[-1]
    assert any("no risk forecast" in n for n in res.notes)
    assert res.risk_decomposition is None  # the model cannot decompose an uncovered holding


def test_min_position_drops_and_rescales_only_if_constraints_hold(model, data):
    alpha, w0, c, B, cov = data
    base = ff.optimize(alpha, model, risk_aversion=50.0, max_weight=0.2)
    small = (base.weights > 0) & (base.weights < 0.01)
    assert small.any()  # interior-point solutions hold ~1e-9 of the assets at the bound 0
    res = ff.optimize(alpha, model, risk_aversion=50.0, max_weight=0.2, min_position=0.01)
    assert res.ok and any("dropped" in n for n in res.notes)
    w = res.weights
    assert np.all((w == 0) | (w >= 0.01)) and abs(w.sum() - 1) <= TOL
    kept = base.weights >= 0.01
    np.testing.assert_allclose(w[kept], base.weights[kept] / base.weights[kept].sum(), rtol=1e-12)
    # With the cap binding, rescaling would break it: the solution is kept as it was.
    capped = ff.optimize(alpha, model, risk_aversion=5.0, max_weight=0.02)
    res2 = ff.optimize(alpha, model, risk_aversion=5.0, max_weight=0.02, min_position=0.019)
    assert any("min_position not applied" in n and "max_weight" in n for n in res2.notes)
    np.testing.assert_array_equal(res2.weights, capped.weights)


# ------------------------------------------------------------------------ transaction costs


def test_transaction_costs_hand_worked(model, data):
    alpha, w0, c, B, cov = data
    rng = np.random.default_rng(5)
    volume = rng.uniform(1e6, 1e8, N)
    volume[10] = np.nan  # no volume: cannot trade
    tc = ff.TransactionCost(linear_bps=np.full(N, 3.0), impact=1.0, volume=volume, value=1e8)
    res = ff.optimize(alpha, model, w0=w0, risk_aversion=5.0, max_weight=0.05, tcost=tc)
    assert res.ok and res.weights[10] == w0[10]
    z = np.abs(res.weights - w0)
    sigma = np.sqrt(np.diag(np.nan_to_num(cov)) + 0.0)
    ok = np.isfinite(volume)
    impact = np.sum((sigma * z ** 1.5 * np.sqrt(1e8 / np.where(ok, volume, 1.0)))[ok & c])
    assert res.linear_cost == pytest.approx(3e-4 * z.sum(), rel=1e-12)
    assert res.impact_cost == pytest.approx(impact, rel=1e-10)
    assert res.cost == pytest.approx(res.linear_cost + res.impact_cost, rel=1e-15)
    # Costs reduce trading; a prohibitive cost means no trade at all.
    free = ff.optimize(alpha, model, w0=w0, risk_aversion=5.0, max_weight=0.05)
    assert res.turnover < free.turnover
    frozen = ff.optimize(alpha, model, w0=w0, risk_aversion=5.0, max_weight=0.05, tcost=1e4)
    assert np.abs(frozen.weights - w0).max() < 1e-7
    # An Optimizer's tcost is the default of every solve; a solve's tcost replaces it.
    opt = ff.Optimizer(risk_aversion=5.0, max_weight=0.05, tcost=1e4)
    assert np.abs(opt.solve(alpha, model, -1, w0).weights - w0).max() < 1e-7
    np.testing.assert_array_equal(opt.solve(alpha, model, -1, w0, tcost=tc).weights, res.weights)
    # Without the impact term, an asset without volume still cannot trade (held at w0, noted)
    lin_only = ff.optimize(alpha, model, w0=w0, risk_aversion=5.0, max_weight=0.05,
                           tcost=ff.TransactionCost(linear_bps=3.0, volume=volume))
    assert lin_only.weights[10] == w0[10] and not lin_only.free[10]
    assert any("1 assets without volume" in n for n in lin_only.notes)
    assert np.abs(lin_only.weights - w0)[np.arange(N) != 10].max() > 1e-3  # the others trade
    with pytest.raises(ValueError, match="tcost.impact needs volume"):
        ff.TransactionCost(impact=1.0)
    with pytest.raises(ValueError, match="tcost.linear_bps must be >= 0"):
        ff.optimize(alpha, model, tcost=-1.0)


def test_pandas_series_by_asset_are_paired_by_label(model, data):
    # a pandas Series indexed by asset was read by position: reordering the Series (the same
    # {asset: value}) moved the weights by up to 0.10
    pd = pytest.importorskip("pandas")
    alpha, w0, c, B, cov = data
    A = model.assets
    perm = np.random.default_rng(3).permutation(N)
    rng = np.random.default_rng(4)
    bench = np.where(c, rng.random(N), 0.0)
    bench /= bench.sum()
    cap = np.where(np.arange(N) % 7 == 0, 0.03, 0.05)
    tradable = np.arange(N) % 11 != 0
    volume = rng.uniform(1e6, 1e8, N)
    bps = rng.uniform(1.0, 5.0, N)
    sigma = rng.uniform(0.01, 0.03, N)

    def by_asset(x):
        return pd.Series(x, index=A).iloc[perm]

    kw = dict(risk_aversion=5.0, turnover=1.5)
    tc = ff.TransactionCost(linear_bps=bps, impact=1.0, volume=volume, value=1e8, volatility=sigma)
    want = ff.optimize(alpha, model, w0=w0, benchmark=bench, max_weight=cap, min_weight=0.0 * cap,
                       tradable=tradable, tcost=tc, **kw)
    tc_s = ff.TransactionCost(linear_bps=by_asset(bps), impact=by_asset(np.ones(N)), volume=by_asset(volume),
                              value=1e8, volatility=by_asset(sigma))
    got = ff.optimize(by_asset(alpha), model, w0=by_asset(w0), benchmark=by_asset(bench), max_weight=by_asset(cap),
                      min_weight=by_asset(0.0 * cap), tradable=by_asset(tradable), tcost=tc_s, **kw)
    assert want.ok and got.ok
    np.testing.assert_array_equal(got.weights, want.weights)
    assert got.cost == want.cost and repr(tc_s) == "TransactionCost(linear_bps=per asset, impact=per asset)"
    # an Optimizer keeps the bounds by asset and pairs them at each solve
    opt = ff.Optimizer(max_weight=by_asset(cap), **kw)
    np.testing.assert_array_equal(opt.solve(by_asset(alpha), model).weights,
                                  ff.optimize(alpha, model, max_weight=cap, **kw).weights)
    # alpha, w0 and benchmark follow their mapping form: assets not listed are NaN / 0
    part = ff.optimize(by_asset(alpha)[c[perm]], model, w0=by_asset(w0)[w0[perm] != 0], **kw)
    np.testing.assert_array_equal(part.weights, ff.optimize(alpha, model, w0=w0, **kw).weights)
    # a Series with the default index 0..N-1 is read by position, like an array
    np.testing.assert_array_equal(ff.optimize(pd.Series(alpha), model, **kw).weights,
                                  ff.optimize(alpha, model, **kw).weights)
    # arguments without a mapping form need every asset, once, and only the model's
    with pytest.raises(ValueError, match=r"^max_weight has no value for 1 of the 200 assets of the risk model, "
                                         r"e\.g\. \['A000'\]; give every asset a value"):
        ff.optimize(alpha, model, max_weight=pd.Series(cap, index=A)[1:])
    with pytest.raises(ValueError, match=r"^tradable names assets that are not among those of the risk model: "
                                         r"\['X'\]$"):
        ff.optimize(alpha, model, tradable=pd.concat([by_asset(tradable), pd.Series([True], index=["X"])]))
    with pytest.raises(TypeError, match=r"^tradable must hold booleans \(True/False\) for every asset$"):
        ff.optimize(alpha, model, tradable=by_asset(np.ones(N)))
    with pytest.raises(ValueError, match=r"^tcost\.volume \(a pandas Series\) has the asset 'A001' twice in its index$"):
        ff.TransactionCost(volume=pd.Series([1.0, 2.0], index=["A001", "A001"]))
    with pytest.raises(ValueError, match=r"^tcost\.linear_bps must be finite and non-negative$"):
        ff.TransactionCost(linear_bps=by_asset(-bps))
    with pytest.raises(ValueError, match=r"^alpha names assets the risk model does not have: \['X'\]$"):
        ff.optimize(pd.Series([0.01], index=["X"]), model)
    unlabelled = ff.RiskModel.from_covariance(model.factor_covariance[-1], model.specific_variance[-1],
                                              ff.Exposures(model.exposures.styles[-1:], model.exposures.industry[-1:]))
    with pytest.raises(ValueError, match=r"^max_weight is given by asset label \(a mapping or a pandas Series with "
                                         r"an index\), but the risk model has no asset labels to pair it with"):
        ff.optimize(alpha, unlabelled, max_weight=by_asset(cap))


# ------------------------------------------------------------------------ re-solves


def test_optimizer_resolve_equals_optimize(model, data):
    alpha, w0, c, B, cov = data
    opt = ff.Optimizer(risk_aversion=5.0, max_weight=0.05, turnover=0.6)
    w = w0
    for date in ("2024-01-02", 1, -1):
        a = opt.solve(alpha, model, date, w0=w)
        b = ff.optimize(alpha, model, date=date, w0=w, risk_aversion=5.0, max_weight=0.05, turnover=0.6)
        assert a.ok and a.date == b.date
        np.testing.assert_array_equal(a.weights, b.weights)
        w = a  # an OptimizationResult is accepted as w0
    assert str(a.date) == "2024-01-04"


def test_a_result_as_w0_is_paired_by_asset_label(model, data):
    # w0 given as the OptimizationResult of a risk model that lists the same assets in another
    # order was read by position: each asset started from another asset's weight (off by 0.05)
    alpha, w0, c, B, cov = data
    perm = np.random.default_rng(5).permutation(N)
    ex = model.exposures
    other = ff.RiskModel.from_covariance(
        model.factor_covariance[-1], model.specific_variance[-1][perm],
        ff.Exposures(ex.styles[-1:, perm], ex.industry[-1:, perm], style_names=ex.style_names,
                     industry_names=ex.industry_names, dates=ex.dates[-1:], assets=np.asarray(ex.assets)[perm]))
    prev = ff.optimize(alpha[perm], other, risk_aversion=5.0, max_weight=0.05)
    assert prev.ok and np.max(np.abs(prev.weights - prev.weights[np.argsort(perm)])) > 0.01
    kw = dict(risk_aversion=5.0, max_weight=0.05, turnover=0.6)
    got = ff.optimize(alpha, model, w0=prev, **kw)
    by_label = dict(zip(prev.assets, prev.weights))
    np.testing.assert_array_equal(got.w0, [by_label[a] for a in model.assets])
    np.testing.assert_array_equal(got.weights, ff.optimize(alpha, model, w0=got.w0, **kw).weights)
    # a result holding an asset this risk model does not have is refused, naming it; one it
    # holds at 0 (e.g. delisted since) is not a holding
    def without(j):
        keep = np.arange(N) != j
        return ff.RiskModel.from_covariance(
            model.factor_covariance[-1], model.specific_variance[-1][keep],
            ff.Exposures(ex.styles[-1:, keep], ex.industry[-1:, keep], style_names=ex.style_names,
                         industry_names=ex.industry_names, dates=ex.dates[-1:], assets=ex.assets[keep]))

    held = int(np.flatnonzero(got.weights != 0)[0])
    with pytest.raises(ValueError, match=rf"^w0 names assets the risk model does not have: "
                                         rf"\['{model.assets[held]}'\]$"):
        ff.optimize(np.delete(alpha, held), without(held), w0=got)
    assert got.weights[-1] == 0  # (A199 has no forecast)
    np.testing.assert_array_equal(ff.optimize(alpha[:-1], without(N - 1), w0=got).w0, got.weights[:-1])


# ------------------------------------------------------------------------ result and inputs


def test_result_is_labelled_and_consistent_with_the_risk_model(model, data):
    alpha, w0, c, B, cov = data
    res = ff.optimize(dict(zip(model.assets[:150], alpha[:150])), model, risk_aversion=5.0,
                      max_weight=0.05)
    assert np.isnan(res.alpha[150:]).all() and not res.free[150:].any()
    frame = res.to_polars("weights")
    assert frame.columns == ["asset", "weights"] and frame["asset"][0] == "A000"
    hold = res.to_polars()
    assert hold.columns == ["asset", "weights", "w0", "trades", "alpha", "free"]
    dec = res.risk_decomposition
    assert dec.total_vol == pytest.approx(res.volatility, rel=1e-12)
    np.testing.assert_allclose(model.factor_exposures(res.weights), res.exposures, atol=1e-15)
    assert res.volatility_annualized == pytest.approx(res.volatility * np.sqrt(252), rel=1e-15)
    with pytest.raises(ValueError):
        res.weights[0] = 1.0
    s = str(res.summary())
    assert "Constraints checked" in s and "Largest positions" in s


def test_bad_input_names_the_argument(model, data):
    alpha = data[0]
    with pytest.raises(TypeError, match="risk must be a fitted ferrofactor.RiskModel"):
        ff.optimize(alpha, np.eye(3))
    with pytest.raises(ff.NotFittedError):
        ff.optimize(alpha, ff.RiskModel())
    with pytest.raises(ValueError, match=r"alpha has shape \(3,\)"):
        ff.optimize(np.zeros(3), model)
    with pytest.raises(ValueError, match="alpha must not contain infinite"):
        ff.optimize(np.where(np.arange(N) == 0, np.inf, 0.0), model)
    with pytest.raises(ValueError, match="w0 must be finite"):
        ff.optimize(alpha, model, w0=np.full(N, np.nan))
    with pytest.raises(ValueError, match="alpha names assets the risk model does not have"):
        ff.optimize({"nope": 1.0}, model)
    with pytest.raises(ValueError, match="neutral: unknown factor 'size'"):
        ff.optimize(alpha, model, neutral="size")
    with pytest.raises(ValueError, match=r"factor_bounds\['s0'\]: low 1.0 > high 0.0"):
        ff.optimize(alpha, model, factor_bounds={"s0": (1.0, 0.0)})
    with pytest.raises(ValueError, match="net applies to long-short"):
        ff.optimize(alpha, model, net=0.0)
    with pytest.raises(ValueError, match="budget applies to long-only"):
        ff.optimize(alpha, model, long_only=False, budget=0.5)
    with pytest.raises(ValueError, match="fallback must be one of"):
        ff.optimize(alpha, model, fallback="equal")
    with pytest.raises(ValueError, match="risk_aversion must be >= 0"):
        ff.optimize(alpha, model, risk_aversion=-1.0)
    with pytest.raises(TypeError, match="long_only must be True or False"):
        ff.optimize(alpha, model, long_only=1)
    with pytest.raises(ValueError, match="max_weight must not contain NaN"):
        ff.optimize(alpha, model, max_weight=np.full(N, np.nan))
    with pytest.raises(ValueError, match=r"max_weight has shape \(4,\)"):
        ff.optimize(alpha, model, max_weight=np.ones(4))
    with pytest.raises(ValueError, match="min_weight 0.5 > max_weight 0.1"):
        ff.optimize(alpha, model, min_weight=0.5, max_weight=0.1)
    with pytest.raises(TypeError, match="tradable must be a boolean array"):
        ff.optimize(alpha, model, tradable=np.ones(N))
    with pytest.raises(ValueError, match="benchmark holds 10 assets without a risk forecast"):
        ff.optimize(alpha, model, benchmark=np.full(N, 1.0 / N))
    with pytest.raises(ValueError, match="date position 7 is out of range"):
        ff.optimize(alpha, model, date=7)
    with pytest.raises(TypeError, match="date must be a date label or an integer position"):
        ff.optimize(alpha, model, date=1.0)


def test_an_asset_given_twice_by_label_is_refused(model, data):
    # a Polars frame (asset, value) listing an asset twice was read row by row, the last row
    # silently winning: w0 of a book holding 0.5 + 0.5 of A001 started from 0.5
    pl = pytest.importorskip("polars")
    alpha = data[0]
    A = list(model.assets)
    twice = pl.DataFrame({"asset": A + ["A005"], "alpha": list(alpha) + [1.0]})
    with pytest.raises(ValueError, match=r"^alpha names asset 'A005' twice \(1 assets given more than once\)$"):
        ff.optimize(twice, model)
    with pytest.raises(ValueError, match=r"^w0 names asset 'A001' twice"):
        ff.optimize(alpha, model, w0=pl.DataFrame({"asset": ["A001", "A001"], "w0": [0.5, 0.5]}))
    with pytest.raises(ValueError, match=r"^benchmark names asset 'A002' twice"):
        ff.optimize(alpha, model, benchmark=pl.DataFrame({"asset": ["A002", "A002"], "b": [0.5, 0.5]}))
    # a value that is not a number names the argument (was numpy's bare "could not convert")
    with pytest.raises(TypeError, match=r"^alpha must be a numeric array"):
        ff.optimize({"A000": "x"}, model)
    # once each, in any order, is the array in the risk model's order
    perm = np.random.default_rng(2).permutation(N)
    frame = pl.DataFrame({"asset": [A[j] for j in perm], "alpha": alpha[perm]})
    np.testing.assert_array_equal(ff.optimize(frame, model, max_weight=0.05).weights,
                                  ff.optimize(alpha, model, max_weight=0.05).weights)


def test_an_empty_group_or_list_of_factor_constraints_holds_trivially():
    # factor_bounds={"styles": ...} on a model without styles crashed in the checks with numpy's
    # "zero-size array to reduction operation maximum which has no identity", and neutral=[]
    # with "need at least one array to concatenate"; neutral="styles" there already solved
    model = make_model(n=40, g=3, ks=0, dates=1, uncovered=0)
    alpha = np.random.default_rng(0).normal(0, 1e-3, 40)
    kw = dict(risk_aversion=10.0, max_weight=0.2)
    want = ff.optimize(alpha, model, **kw)
    for extra in (dict(factor_bounds={"styles": (-1.0, 1.0)}), dict(neutral=[]), dict(neutral="styles")):
        res = ff.optimize(alpha, model, **extra, **kw)
        assert res.ok and res.max_violation <= TOL
        np.testing.assert_allclose(res.weights, want.weights, rtol=0, atol=1e-9)
    assert ff.optimize(alpha, model, factor_bounds={"styles": (-1.0, 1.0)}, **kw).violations["factor_bounds[styles]"] == 0.0


def test_an_infinite_factor_bound_means_no_bound(model, data):
    # README: "an optimiser bound of ±inf means no bound"; factor_bounds refused -inf and inf
    # ("must be finite") while max_weight / min_weight took them
    alpha = data[0]
    kw = dict(risk_aversion=5.0, max_weight=0.05)
    want = ff.optimize(alpha, model, factor_bounds={"s0": (None, 0.02), "s1": (-0.03, None)}, **kw)
    got = ff.optimize(alpha, model, factor_bounds={"s0": (-np.inf, 0.02), "s1": (-0.03, np.inf)}, **kw)
    assert want.ok and got.ok
    np.testing.assert_array_equal(got.weights, want.weights)
    both = ff.optimize(alpha, model, factor_bounds={"styles": (float("-inf"), float("inf"))}, **kw)
    np.testing.assert_array_equal(both.weights, ff.optimize(alpha, model, **kw).weights)
    with pytest.raises(ValueError, match=r"^factor_bounds\['s0'\]\[0\] is inf: no exposure is within it"):
        ff.optimize(alpha, model, factor_bounds={"s0": (np.inf, None)})
    with pytest.raises(ValueError, match=r"^factor_bounds\['s0'\]\[1\] is -inf: no exposure is within it"):
        ff.optimize(alpha, model, factor_bounds={"s0": (None, -np.inf)})
    with pytest.raises(ValueError, match=r"^factor_bounds\['s0'\]\[1\] must be finite, got nan"):
        ff.optimize(alpha, model, factor_bounds={"s0": (None, np.nan)})


def test_import_without_cvxpy_keeps_the_rest_working(tmp_path):
    code = (
        "import sys; sys.modules['cvxpy'] = None\n"
        "import numpy as np, ferrofactor as ff\n"
        "assert ff.top_n(np.array([1.0, 2.0]), 1).tolist() == [0.0, 1.0]\n"
        "risk = ff.RiskModel.from_covariance(np.eye(4) * 1e-4, np.full(3, 1e-4),\n"
        "    ff.Exposures(np.zeros((1, 3, 1)), np.array([[0, 0, 1]])))\n"
        "try:\n"
        "    ff.optimize(np.zeros(3), risk)\n"
        "except ImportError as e:\n"
        "    assert 'ferrofactor[optimize]' in str(e), e\n"
        "else:\n"
        "    raise SystemExit('no ImportError')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_violation_tolerance_is_documented():
    assert VIOLATION_TOL == 1e-6


def test_readme_portfolio_section_runs_as_written():
    import pathlib
    import re

    text = (pathlib.Path(__file__).resolve().parents[1] / "README.md").read_text()
    code = re.search(r"### Portfolio optimisation\n.*?```python\n(.*?)```", text, flags=re.S).group(1)
    ns: dict = {}
    exec(compile(code, "README.md", "exec"), ns)
    res, orders = ns["res"], ns["orders"]
    assert res.ok and res.weights.max() <= 0.02 + TOL
    assert ns["weights"].columns == ["asset", "weights"]
    assert ns["book"].shape == (300, 300)
    buys = orders.filter(orders["side"] == "buy")
    assert buys.height > 0 and (buys["shares"] % 100 == 0).all()


def test_a_solution_that_breaks_a_constraint_is_flagged():
    # OSQP at its default tolerances (measured: turnover broken by ~0.02 at N=2000). Whatever
    # OSQP returns, the reported violation must be the one numpy computes, and a violation above
    # VIOLATION_TOL must turn the result into status "violated", ok False, with a warning.
    if "OSQP" not in cp.installed_solvers():
        pytest.skip("OSQP not installed")
    n = 2000
    risk = make_model(n=n, g=20, ks=5, dates=1, uncovered=0, seed=11)
    rng = np.random.default_rng(3)
    alpha = rng.normal(0, 5e-4, n)
    w0 = np.full(n, 1.0 / n)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = ff.optimize(alpha, risk, w0=w0, solver="OSQP", risk_aversion=10.0, max_weight=0.02,
                          turnover=0.3)
    over = max(np.abs(res.weights - w0).sum() - 0.3, 0.0)
    assert res.violations["turnover"] == pytest.approx(over, abs=1e-15)
    if res.max_violation > VIOLATION_TOL:
        assert res.status == "violated" and not res.ok and "is violated by" in res.message
        assert any(issubclass(w.category, ff.OptimizationWarning) for w in caught)
    else:
        assert res.ok and not caught


def test_results_keep_their_w0_and_alpha_when_the_callers_arrays_change(model):
    # w0 and alpha were views of the caller's arrays: a rebalancing loop that holds its book in
    # one array (w[:] = res.weights) or refills one alpha buffer rewrote every earlier result
    # (trades != weights - w0, the last alpha shown as the first's)
    rng = np.random.default_rng(3)
    opt = ff.Optimizer(max_weight=0.05)
    w, alpha, history = np.zeros(N), np.empty(N), []
    for d in (0, 1, 2):
        alpha[:] = np.where(model.covered(d), rng.normal(0, 1e-3, N), np.nan)
        history.append((opt.solve(alpha, model, date=d, w0=w), alpha.copy(), w.copy()))
        w[:] = np.nan_to_num(history[-1][0].weights)
    for res, a, w0 in history:
        assert np.array_equal(res.alpha, a, equal_nan=True) and np.array_equal(res.w0, w0)
        np.testing.assert_allclose(res.trades, res.weights - res.w0, atol=1e-15)
    decomposition = model.risk_decomposition(w, -1)
    held = w.copy()
    w[:] = 0.0
    assert np.array_equal(decomposition.weights, held)


def test_concurrent_solves_leave_the_warning_filters_alone(model, data, monkeypatch):
    # cvxpy's "Solution may be inaccurate" was silenced with warnings.catch_warnings(), which
    # swaps the process-wide filter list: solves in several threads at once left the "ignore"
    # filter installed for good, hiding the warning from the user's own cvxpy problems. Now one
    # filter is shared by the solves in progress and removed by the last.
    from concurrent.futures import ThreadPoolExecutor

    alpha = data[0]
    solve = cp.Problem.solve

    def inaccurate(self, *args, **kwargs):  # every solve says it, as cvxpy does
        warnings.warn("Solution may be inaccurate. Try another solver, adjusting the solver "
                      "settings, or solve with verbose=True for more information.", UserWarning)
        return solve(self, *args, **kwargs)

    monkeypatch.setattr(cp.Problem, "solve", inaccurate)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # ferrofactor's solves still keep it quiet
        before = list(warnings.filters)
        with ThreadPoolExecutor(6) as pool:
            oks = list(pool.map(lambda i: ff.optimize(alpha, model, date=-1, max_weight=0.05).ok, range(40)))
        assert all(oks)
        assert list(warnings.filters) == before
        with pytest.raises(UserWarning, match="Solution may be inaccurate"):  # the user's own solve
            x = cp.Variable()
            cp.Problem(cp.Minimize(cp.square(x - 1))).solve()
