"""Risk-model benchmarks: ferrofactor vs plain numpy on the same data in the same run.

Build first: ``VIRTUAL_ENV=/work/venvs/NAME maturin develop --release``. Run:

    python -m pytest benches/bench_risk.py --benchmark-only -q            # portfolio risk
    python -m pytest benches/bench_risk.py --benchmark-only -q -m large   # + full RiskModel

Portfolio risk: 1000 portfolios, N = 5000 assets, market + 60 industries + 10 styles.
- ``ferrofactor``: Bᵀw by scatter-add over industry codes (Rust), then xᵀΣf x + Σ w²D;
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
    model = ff.RiskModel.from_covariance(fc, d, styles, industry, market=True, n_industries=G)
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
    model = benchmark.pedantic(
        ff.RiskModel.from_arrays, args=(f, res, styles, industry, cap), rounds=1, iterations=1
    )
    assert model.factor_covariance.shape == (2520, 71, 71)


@pytest.mark.benchmark(group="RiskModel fit T=252 N=1000: ferrofactor vs baseline")
def test_risk_model_small_ferrofactor(benchmark):
    f, res, styles, industry, cap = _panel(252, 1000)
    benchmark.pedantic(ff.RiskModel.from_arrays, args=(f, res, styles, industry, cap), rounds=3, iterations=1)


@pytest.mark.benchmark(group="RiskModel fit T=252 N=1000: ferrofactor vs baseline")
def test_risk_model_small_baseline(benchmark):
    f, res, styles, industry, cap = _panel(252, 1000)

    def run():
        bl.risk_factor_covariance(f, 84, 504, 5, 2, 21)
        bl.risk_specific_variance(res, styles, industry, G, cap, 84, 63, 0.1, 10, 1e-4, 120)

    benchmark.pedantic(run, rounds=1, iterations=1)
