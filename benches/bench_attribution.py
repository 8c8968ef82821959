"""Benchmarks: ff.attribute against the plain-numpy ff.baseline.attribute on the same data.

Run (after ``pip install .`` or ``maturin develop --release``)::

    python -m pytest benches/bench_attribution.py --benchmark-only -q            # T=504, N=2000
    python -m pytest benches/bench_attribution.py --benchmark-only -q -m large   # T=2520, N=5000

Data: market + 60 industries (codes) + 10 styles = 71 factors, lag 1, weights held on ~90 % of
the assets with a return, 5 % of the returns missing (not held). The model is a risk model built
from the exposures (``RiskModel.from_covariance``) plus the factor returns, so both sides get the
same arrays. The baseline loops over dates with a dense one-hot exposure matrix (N × 71), as a
plain numpy implementation would; it runs once (``pedantic(rounds=1)``).
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

import ferrofactor as ff
from ferrofactor import baseline as bl


def make_data(T: int, N: int, G: int = 60, K: int = 10, seed: int = 0):
    rng = np.random.default_rng(seed)
    styles = rng.standard_normal((T, N, K))
    industry = np.repeat(rng.integers(0, G, size=(1, N), dtype=np.int32), T, axis=0)
    ex = ff.Exposures(styles, industry, industry_names=[f"ind{g}" for g in range(G)])
    P = ex.n_factors
    f = rng.normal(0, 0.005, (T, P))
    r = rng.normal(0.0003, 0.02, (T, N))
    r[rng.random((T, N)) < 0.05] = np.nan
    w = np.where(np.isfinite(r) & (rng.random((T, N)) < 0.9), rng.random((T, N)), 0.0)
    w /= w.sum(axis=1, keepdims=True)
    # Σf and D are not used by the attribution: tiny placeholders (one stored date per row)
    risk = ff.RiskModel.from_covariance(np.broadcast_to(np.eye(P), (T, P, P)), np.full((T, N), 1e-4), ex)
    return SimpleNamespace(ex=ex, risk=risk, f=f, r=r, w=w, costs=np.full(T, 1e-4))


def _skip_unless_large(request):
    if "large" not in (request.config.getoption("markexpr") or ""):
        pytest.skip("full-universe case: run with -m large")


@pytest.fixture(scope="module")
def default_data():
    return make_data(T=504, N=2000)


@pytest.fixture(scope="module")
def large_data(request):
    _skip_unless_large(request)
    return make_data(T=2520, N=5000)


def _ff(d):
    return ff.attribute(d.w, (d.risk, d.f), returns=d.r, costs=d.costs)


def _baseline(d):
    ex = d.ex
    return bl.attribute(d.w, d.r, ex.styles, ex.industry, ex.market, ex.n_industries, d.f, 1)


@pytest.mark.benchmark(group="attribute T=504 N=2000 K=71")
def test_attribute_default_ferrofactor(benchmark, default_data):
    att = benchmark(_ff, default_data)
    assert np.abs(att.total - att.contributions.sum(1) - att.specific - att.unexplained + att.costs).max() < 1e-12


@pytest.mark.benchmark(group="attribute T=504 N=2000 K=71")
def test_attribute_default_baseline(benchmark, default_data):
    o = benchmark.pedantic(_baseline, args=(default_data,), rounds=1, iterations=1)
    np.testing.assert_allclose(o["contributions"], _ff(default_data).contributions, rtol=0, atol=1e-13)


@pytest.mark.large
@pytest.mark.benchmark(group="attribute T=2520 N=5000 K=71")
def test_attribute_large_ferrofactor(benchmark, large_data):
    benchmark.pedantic(_ff, args=(large_data,), rounds=7, iterations=1)


@pytest.mark.large
@pytest.mark.benchmark(group="attribute T=2520 N=5000 K=71")
def test_attribute_large_baseline(benchmark, large_data):
    benchmark.pedantic(_baseline, args=(large_data,), rounds=1, iterations=1)
