"""Benchmarks: cross-sectional cleaning, ferrofactor vs ff.baseline on the same data in one run.

Build with ``maturin develop --release`` first, then:

    python -m pytest benches/bench_clean.py --benchmark-only -q                 # everything
    python -m pytest benches/bench_clean.py --benchmark-only -q -m "not large"  # small cases only

The headline case (issue 2) is winsorize ("sigma", cap-weighted centre) followed by standardize
(cap-weighted centre) on a full-universe panel, 5000 assets × 2520 dates (``-m large``), as two
calls and as the fused single call ``standardize(x, weights=cap, winsorize="sigma")``.
"""

from __future__ import annotations

import numpy as np
import pytest

import ferrofactor as ff
from ferrofactor import baseline


def _panel(T: int, N: int, seed: int = 0, missing: float = 0.1, G: int = 60):
    rng = np.random.default_rng(seed)
    x = rng.standard_t(4, size=(T, N))
    x[rng.random((T, N)) < missing] = np.nan
    cap = np.exp(rng.normal(8.0, 1.5, size=(T, N)))
    groups = rng.integers(-1, G, size=(T, N)).astype(np.int32)
    return x, cap, groups


def _pipeline(lib, x, cap):
    return lib.standardize(lib.winsorize(x, "sigma", 3.0, weights=cap), weights=cap)


# --- full universe: winsorize + standardize, 5000 × 2520 -------------------------------------


@pytest.fixture(scope="module")
def large():
    return _panel(2520, 5000)


def _fused(x, cap):
    return ff.standardize(x, weights=cap, winsorize="sigma", limit=3.0)


@pytest.mark.large
@pytest.mark.benchmark(group="clean winsorize+standardize 2520x5000")
@pytest.mark.parametrize("impl", ["ferrofactor", "ferrofactor-fused", "baseline"])
def test_winsorize_standardize_large(benchmark, large, impl):
    x, cap, _ = large
    if impl == "ferrofactor-fused":
        # one call: standardize(..., winsorize="sigma"), the same result as the two calls
        out = benchmark.pedantic(_fused, args=(x, cap), rounds=10, iterations=1, warmup_rounds=1)
        assert out.tobytes() == _pipeline(ff, x, cap).tobytes()
        return
    lib = ff if impl == "ferrofactor" else baseline
    rounds = 10 if impl == "ferrofactor" else 3
    out = benchmark.pedantic(_pipeline, args=(lib, x, cap), rounds=rounds, iterations=1, warmup_rounds=1 if impl == "ferrofactor" else 0)
    assert out.shape == x.shape


# --- small per-method cases: 250 dates × 1000 assets -----------------------------------------


@pytest.fixture(scope="module")
def small():
    return _panel(250, 1000, seed=1, G=20)


CASES = {
    "winsorize-sigma-cap": lambda lib, x, cap, g: lib.winsorize(x, "sigma", 3.0, weights=cap),
    "winsorize-quantile": lambda lib, x, cap, g: lib.winsorize(x, "quantile", 0.01),
    "winsorize-mad": lambda lib, x, cap, g: lib.winsorize(x, "mad", 3.0),
    "winsorize-mad-groups": lambda lib, x, cap, g: lib.winsorize(x, "mad", 3.0, industry=g),
    "standardize-cap": lambda lib, x, cap, g: lib.standardize(x, weights=cap),
    "standardize-cap-groups": lambda lib, x, cap, g: lib.standardize(x, weights=cap, industry=g),
    "rank": lambda lib, x, cap, g: lib.rank(x),
    "rank-gaussian": lambda lib, x, cap, g: lib.rank(x, gaussian=True),
}


@pytest.mark.parametrize("impl", ["ferrofactor", "baseline"])
@pytest.mark.parametrize("case", list(CASES))
def test_clean_small(benchmark, small, case, impl):
    x, cap, g = small
    lib = ff if impl == "ferrofactor" else baseline
    benchmark.group = f"clean {case} 250x1000"
    out = benchmark(CASES[case], lib, x, cap, g)
    assert out.shape == x.shape
