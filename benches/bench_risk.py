"""Risk-model benchmarks: ferrofactor vs plain numpy on the same data in the same run.

Build first: ``VIRTUAL_ENV=/work/venvs/NAME maturin develop --release``. Run:

    python -m pytest benches/bench_risk.py --benchmark-only -q            # portfolio risk
    python -m pytest benches/bench_risk.py --benchmark-only -q -m large   # + full RiskModel

Portfolio risk: 1000 portfolios, N = 5000 assets, market + 60 industries + 10 styles.
- ``ferrofactor``: Bᵀw by per-industry sums over the codes and register-tiled style products
  (Rust), then xᵀΣf x + Σ w²D;
- ``numpy_products``: X = W @ B (dense one-hot B), then xᵀΣf x + (W²) @ D;
- ``numpy_dense``: Σ = B Σf Bᵀ + diag(D) formed (N×N), then diag(W Σ Wᵀ).
"""

from __future__ import annotations

import numpy as np
import pytest

import ferrofactor as ff
from ferrofactor import baseline as bl

N, G, KS, P = 5000, 60, 10, 1000


@pytest.fixture(scope="module")
def case():
    rng = np.random.default_rng(0)
    k = 1 + G + KS
    styles = rng.standard_normal((N, KS))
    industry = rng.integers(0, G, N).astype(np.int32)
    a = rng.standard_normal((k, k)) * 0.01
    fc = a @ a.T / k
    d = rng.uniform(1e-4, 9e-4, N)
    w = rng.standard_normal((P, N)) / N
    ex = ff.Exposures(styles[None], industry[None], industry_names=[f"i{g}" for g in range(G)])
    assert ex.market and ex.n_industries == G
    model = ff.RiskModel.from_covariance(fc, d, ex)
    want = bl.risk_portfolio_risk_products(w, styles, industry, True, G, fc, d)
    np.testing.assert_allclose(model.portfolio_risk(w), want, rtol=1e-10)
    return model, w, styles, industry, fc, d


@pytest.mark.benchmark(group="portfolio_risk P=1000 N=5000 K=71")
def test_portfolio_risk_ferrofactor(benchmark, case):
    model, w, *_ = case
    benchmark(model.portfolio_risk, w)


@pytest.mark.benchmark(group="portfolio_risk P=1000 N=5000 K=71")
def test_portfolio_risk_numpy_products(benchmark, case):
    _, w, styles, industry, fc, d = case
    benchmark(bl.risk_portfolio_risk_products, w, styles, industry, True, G, fc, d)


@pytest.mark.benchmark(group="portfolio_risk P=1000 N=5000 K=71")
def test_portfolio_risk_numpy_dense(benchmark, case):
    _, w, styles, industry, fc, d = case
    benchmark.pedantic(
        bl.risk_portfolio_risk_dense, args=(w, styles, industry, True, G, fc, d), rounds=3, iterations=1
    )


def _panel(T, n, seed=0):
    """A synthetic panel: factor returns (T, K), residuals (T, N), styles, industry codes, cap."""
    rng = np.random.default_rng(seed)
    k = 1 + G + KS
    f = rng.standard_normal((T, k)) * 0.005
    res = rng.standard_normal((T, n)) * rng.uniform(0.01, 0.03, n)
    res[rng.random((T, n)) < 0.02] = np.nan
    styles = np.repeat(rng.standard_normal((1, n, KS)), T, axis=0)
    industry = np.repeat(rng.integers(0, G, (1, n)).astype(np.int32), T, axis=0)
    cap = np.repeat(np.exp(rng.normal(8, 1.5, (1, n))), T, axis=0)
    return f, res, styles, industry, cap


@pytest.mark.large
@pytest.mark.benchmark(group="RiskModel fit T=2520 N=5000 K=71")
def test_risk_model_full(benchmark):
    f, res, styles, industry, cap = _panel(2520, 5000)
    ex = ff.Exposures(styles, industry)
    model = benchmark.pedantic(ff.RiskModel.from_arrays, args=(f, res, ex, cap), rounds=1, iterations=1)
    assert model.factor_covariance.shape == (2520, 71, 71)


@pytest.mark.benchmark(group="RiskModel fit T=252 N=1000: ferrofactor vs baseline")
def test_risk_model_small_ferrofactor(benchmark):
    f, res, styles, industry, cap = _panel(252, 1000)
    ex = ff.Exposures(styles, industry)
    benchmark.pedantic(ff.RiskModel.from_arrays, args=(f, res, ex, cap), rounds=3, iterations=1)


@pytest.mark.benchmark(group="RiskModel fit T=252 N=1000: ferrofactor vs baseline")
def test_risk_model_small_baseline(benchmark):
    f, res, styles, industry, cap = _panel(252, 1000)

    def run():
        bl.risk_factor_covariance(f, 84, 504, 5, 2, 21)
        bl.risk_specific_variance(res, styles, industry, G, cap, 84, 63, 0.1, 10, 1e-4, 120)

    benchmark.pedantic(run, rounds=1, iterations=1)


# --- risk validation batched over dates (issue 9 §3, §6) --------------------------------------
# The demo's bias test: 200 random long-only portfolios over D = 1250 stored dates, N = 3000,
# market + 30 industries + 4 styles, against the per-date loop it replaces (one
# ``_core.risk_portfolio_variance`` call per date on the restricted, renormalised weights).

VD, VN, VP, VG, VKS = 1250, 3000, 200, 30, 4


@pytest.fixture(scope="module")
def validation_case():
    rng = np.random.default_rng(1)
    k = 1 + VG + VKS
    styles = rng.standard_normal((VD, VN, VKS))
    styles[rng.random((VD, VN, VKS)) < 0.02] = np.nan
    industry = rng.integers(-1, VG, (VD, VN)).astype(np.int32)
    spec = rng.uniform(1e-4, 9e-4, (VD, VN))
    a = rng.standard_normal((k, k)) * 0.01
    cov = np.ascontiguousarray(np.broadcast_to(a @ a.T / k + 1e-6 * np.eye(k), (VD, k, k)))
    returns = rng.normal(0, 0.02, (2 * VD + 1, VN))
    returns[rng.random(returns.shape) < 0.02] = np.nan
    w = rng.random((VP, VN))
    rows = np.arange(VD, 2 * VD, dtype=np.int64)
    return w, returns, rows, (styles, industry, True, VG, cov, spec)


def bias_paths_per_date_loop(w, returns, rows, model):
    from ferrofactor import _core

    styles, industry, market, g, cov, spec = model
    real = np.full((len(rows), w.shape[0]), np.nan)
    fore = np.full_like(real, np.nan)
    for d, row in enumerate(rows):
        r = returns[row + 1]
        live = np.isfinite(spec[d]) & np.isfinite(styles[d]).all(axis=1) & (industry[d] >= 0) & np.isfinite(r)
        wd = w * live
        wd *= (w.sum(axis=1) / wd.sum(axis=1))[:, None]
        fv, sv = _core.risk_portfolio_variance(wd, styles[d], industry[d], market, g, cov[d], spec[d])
        fore[d] = np.sqrt(fv + sv)
        real[d] = wd @ np.where(live, r, 0.0)
    return real, fore


def bias_paths_kernel(w, returns, rows, model):
    from ferrofactor import _core

    return _core.risk_bias_paths(w, returns, rows, True, *model)


@pytest.mark.large
@pytest.mark.benchmark(group="bias paths P=200 D=1250 N=3000 K=35")
@pytest.mark.parametrize("impl", ["ferrofactor batched", "per-date loop"])
def test_bias_paths(benchmark, validation_case, impl):
    fn = bias_paths_kernel if impl == "ferrofactor batched" else bias_paths_per_date_loop
    rounds = 5 if impl == "ferrofactor batched" else 1
    out = benchmark.pedantic(fn, args=validation_case, rounds=rounds, iterations=1)
    assert out[0].shape == (VD, VP)


def test_bias_paths_impls_agree(validation_case):
    w, returns, rows, model = validation_case
    sl = slice(0, 40)
    small = (w, returns, rows[sl], tuple(a[sl] if isinstance(a, np.ndarray) else a for a in model))
    a, b = bias_paths_kernel(*small), bias_paths_per_date_loop(*small)
    np.testing.assert_allclose(a[0], b[0], rtol=1e-10)
    np.testing.assert_allclose(a[1], b[1], rtol=1e-10)


@pytest.mark.large
@pytest.mark.benchmark(group="minimum variance D=1250 N=3000 K=35")
def test_min_variance_batched(benchmark, validation_case):
    from ferrofactor import _core

    out = benchmark.pedantic(_core.risk_min_variance, args=validation_case[3], rounds=5, iterations=1)
    assert out.shape == (VD, VN)
