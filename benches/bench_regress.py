"""Benchmarks: ff.cross_section_regress / ff.neutralize vs ff.baseline on the same data, same run.

Run (after ``maturin develop --release``)::

    python -m pytest benches/bench_regress.py --benchmark-only -q            # N=3000, T=1000
    python -m pytest benches/bench_regress.py --benchmark-only -q -m large   # N=5000, T=2520

The baselines are slow (a Python loop over dates), so they run once (``pedantic(rounds=1)``).
"""

from __future__ import annotations

import os

# The baseline solves many small least-squares problems; a multi-threaded BLAS only thrashes on
# them (on the 2-core machine, ~15x slower under load). Measure the baseline at its best: one BLAS
# thread. This must happen before numpy is first imported; when running several benchmark modules
# in one session, set OPENBLAS_NUM_THREADS=1 in the environment instead.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from types import SimpleNamespace  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import ferrofactor as ff  # noqa: E402
from ferrofactor import baseline as bl  # noqa: E402


def make_data(T: int, N: int, G: int, K: int, missing: float = 0.05, seed: int = 0):
    rng = np.random.default_rng(seed)
    styles = rng.standard_normal((T, N, K))
    styles[rng.random((T, N, K)) < missing / 4] = np.nan
    industry = rng.integers(0, G, size=(T, N), dtype=np.int32)
    industry[rng.random((T, N)) < missing / 4] = -1
    cap = np.exp(rng.normal(8.0, 1.5, size=(T, N)))
    f = rng.normal(0, 0.01, size=(T, K))
    returns = np.einsum("tnk,tk->tn", np.nan_to_num(styles), f)
    returns += rng.normal(0, 0.01, size=(T, G))[np.arange(T)[:, None], np.maximum(industry, 0)]
    returns += rng.normal(0, 0.02, size=(T, N))
    returns[rng.random((T, N)) < missing] = np.nan
    return SimpleNamespace(
        returns=returns,
        styles=styles,
        industry=industry,
        cap=cap,
        weights=np.sqrt(cap),
        # neutralize: a signal and two controls, C-contiguous like any prepared panel field
        signal=np.ascontiguousarray(styles[:, :, 0]),
        controls=np.ascontiguousarray(styles[:, :, 1:3]),
    )


def _skip_unless_large(request):
    if "large" not in (request.config.getoption("markexpr") or ""):
        pytest.skip("full-universe case: run with -m large")


@pytest.fixture(scope="module")
def default_data():
    return make_data(T=1000, N=3000, G=11, K=3)


@pytest.fixture(scope="module")
def large_data(request):
    _skip_unless_large(request)
    return make_data(T=2520, N=5000, G=60, K=10)


def _regress(mod, d):
    return mod.cross_section_regress(
        d.returns, d.styles, d.industry, d.weights, industry_constraint="cap", cap=d.cap
    )


def _neutralize(mod, d):
    return mod.neutralize(d.signal, d.controls, d.industry, d.weights)


# --- regression, N=3000, T=1000, 11 industries, 3 styles ----------------------------------
@pytest.mark.benchmark(group="regress N=3000 T=1000 G=11 K=3")
def test_regress_default_ferrofactor(benchmark, default_data):
    res = benchmark(_regress, ff, default_data)
    assert np.isfinite(res.factor_returns).all()


@pytest.mark.benchmark(group="regress N=3000 T=1000 G=11 K=3")
def test_regress_default_baseline(benchmark, default_data):
    res = benchmark.pedantic(_regress, args=(bl, default_data), rounds=1, iterations=1)
    assert np.isfinite(res.factor_returns).all()


# --- neutralize, N=3000, T=1000, 11 industries, 2 controls --------------------------------
@pytest.mark.benchmark(group="neutralize N=3000 T=1000 G=11 C=2")
def test_neutralize_default_ferrofactor(benchmark, default_data):
    benchmark(_neutralize, ff, default_data)


@pytest.mark.benchmark(group="neutralize N=3000 T=1000 G=11 C=2")
def test_neutralize_default_baseline(benchmark, default_data):
    benchmark.pedantic(_neutralize, args=(bl, default_data), rounds=1, iterations=1)


# --- full universe: N=5000, T=2520, 60 industries, 10 styles -------------------------------
@pytest.mark.large
@pytest.mark.benchmark(group="regress N=5000 T=2520 G=60 K=10")
def test_regress_large_ferrofactor(benchmark, large_data):
    res = benchmark.pedantic(_regress, args=(ff, large_data), rounds=5, iterations=1)
    assert np.isfinite(res.factor_returns).all()


@pytest.mark.large
@pytest.mark.benchmark(group="regress N=5000 T=2520 G=60 K=10")
def test_regress_large_baseline(benchmark, large_data):
    res = benchmark.pedantic(_regress, args=(bl, large_data), rounds=1, iterations=1)
    assert np.isfinite(res.factor_returns).all()
