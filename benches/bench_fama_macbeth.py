"""fama_macbeth / FactorModel: ferrofactor (batched Rust regressions) vs the per-date numpy baseline.

Run: python -m pytest benches/bench_fama_macbeth.py --benchmark-only -q   (add -m large for full size)
"""

from __future__ import annotations

import numpy as np
import pytest

import ferrofactor as ff
from ferrofactor import baseline
from ferrofactor.regress import FamaMacBethResult


def panel(T, N, K, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((T, N, K))
    y = 0.0005 + x @ rng.normal(0, 0.002, K) + rng.normal(0, 0.02, (T, N))
    y[rng.random((T, N)) < 0.05] = np.nan
    return y, x


def baseline_fm(y, x):
    est, n_obs = baseline.fama_macbeth_estimates(y, x)
    return FamaMacBethResult(estimates=est, n_obs=n_obs, r2=np.full(len(n_obs), np.nan),
                             names=[f"p{k}" for k in range(est.shape[1])], cov_type="kernel")


CASES = {
    "medium": dict(T=500, N=1000, K=5),
    "large": dict(T=2520, N=5000, K=10),
}


def _params():
    for name, case in CASES.items():
        marks = [pytest.mark.large] if name == "large" else []
        yield pytest.param(name, case, marks=marks, id=name)


@pytest.mark.parametrize("name,case", list(_params()))
@pytest.mark.parametrize("impl", ["ferrofactor", "baseline"])
def test_fama_macbeth(benchmark, name, case, impl):
    y, x = panel(**case)
    benchmark.group = f"fama_macbeth {name} T={case['T']} N={case['N']} K={case['K']}"
    fn, kw = (ff.fama_macbeth, {"cov": "kernel"}) if impl == "ferrofactor" else (baseline_fm, {})
    if name == "large":  # ~1 GB of characteristics; the baseline takes ~3 min a round
        rounds = 3 if impl == "ferrofactor" else 1
        res = benchmark.pedantic(fn, args=(y, x), kwargs=kw, rounds=rounds, iterations=1)
    else:
        res = benchmark(fn, y, x, **kw)
    assert np.isfinite(res.params).all()
