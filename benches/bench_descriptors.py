"""Benchmarks: time-series descriptors, ferrofactor vs baselines on the same data in one run.

Build with ``maturin develop --release`` first, then:

    python -m pytest benches/bench_descriptors.py --benchmark-only -q                 # everything
    python -m pytest benches/bench_descriptors.py --benchmark-only -q -m "not large"  # small only

The exposure-builder case (issue 9 §6): descriptors → style exposures with the default styles
(4 styles over 11 descriptors, sigma winsorising, cap-weighted standardising, industry-mean
fill) on the synthetic universe, 2520 dates × 3000 assets (``-m large``): the fused Rust kernel
``_core.build_styles`` (with ``_core.dense_codes`` for the industry codes) against the per-panel
recipe ``descriptors.exposures_from_descriptors``. ``dense_codes`` alone is timed on 8-digit
GICS-like codes, 2520 × 5000 cells.

The headline case (issue 4): momentum 12-1, 6-1, 3-1 + annualised volatility (252 d) + beta on
the market (252 d, half-life 63) + maximum drawdown (252 d) on 2520 dates × 5000 assets, against

* ``baseline``: ``ff.baseline``'s per-window numpy loops (the same definitions, the test oracle);
* ``pandas``: the fastest pandas/numpy vectorisation of the same definitions we know of (rolling
  sums of log1p for momentum, ``rolling().std()``, windowed EW beta from EW sums computed with
  rolling sums of λ^-s-scaled products (exact in exact arithmetic, but it loses precision for
  long series, so this is a speed reference only), drawdown via numpy windows).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ferrofactor import baseline
from ferrofactor import descriptors as fd

HORIZONS = ((252, 21), (126, 21), (63, 21))
W, HL, FRAC = 252, 63.0, 0.8


def _panel(T: int, N: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    m = rng.normal(0.0003, 0.01, T)
    r = m[:, None] * rng.uniform(0.3, 1.8, N) + rng.standard_t(5, (T, N)) * 0.015
    r = np.maximum(r, -0.9)
    r[rng.random((T, N)) < 0.03] = np.nan
    lst = rng.integers(0, T // 2, N)  # listings
    r[np.arange(T)[:, None] < lst[None, :]] = np.nan
    dl = rng.integers(T // 2, 2 * T, N)  # some delist
    r[np.arange(T)[:, None] >= dl[None, :]] = np.nan
    return np.ascontiguousarray(r), m


def _mp(span):
    return int(np.ceil(FRAC * span))


def run_ferrofactor(r, m):
    out = [fd.momentum(r, L, S, FRAC) for L, S in HORIZONS]
    out.append(fd.volatility(r, W, None, FRAC))
    out.append(fd.beta(r, m, W, HL, FRAC))
    out.append(fd.max_drawdown(r, W, FRAC))
    return out


def run_baseline(r, m):
    out = [baseline.compounded_return(r, L, S, _mp(L - S)) for L, S in HORIZONS]
    out.append(baseline.rolling_std(r, W, _mp(W)) * np.sqrt(252))
    out.append(baseline.rolling_beta(r, m, W, _mp(W), HL)[0])
    out.append(baseline.max_drawdown(r, W, _mp(W)))
    return out


def run_pandas(r, m):
    df = pd.DataFrame(r)
    ok = df.notna().astype(float)
    lg = np.log1p(df.fillna(0.0))
    out = []
    for L, S in HORIZONS:
        s = lg.rolling(L - S, min_periods=1).sum().shift(S)
        c = ok.rolling(L - S, min_periods=1).sum().shift(S)
        out.append(np.where(c >= _mp(L - S), np.expm1(s), np.nan))
    out.append(df.rolling(W, min_periods=_mp(W)).std().to_numpy() * np.sqrt(252))
    # windowed EW regression from rolling sums of λ^{-s}-scaled terms (pairs with both finite)
    lam = 0.5 ** (1 / HL)
    T = len(m)
    sc = lam ** -(np.arange(T) - T + 1.0)[:, None]  # ≤ 1 at the end, large early: see docstring
    both = df.notna() & np.isfinite(m)[:, None]
    x = df.where(both, 0.0).to_numpy()
    y = np.where(both, m[:, None], 0.0)
    w = both.to_numpy() * sc
    S = {k: pd.DataFrame(v).rolling(W, min_periods=1).sum().to_numpy() for k, v in
         dict(w=w, x=w * x, y=w * y, xy=w * x * y, yy=w * y * y).items()}
    n = both.astype(float).rolling(W, min_periods=1).sum().to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        beta = (S["xy"] - S["x"] * S["y"] / S["w"]) / (S["yy"] - S["y"] ** 2 / S["w"])
    out.append(np.where(n >= _mp(W), beta, np.nan))
    out.append(baseline.max_drawdown(r, W, _mp(W)))
    return out


IMPLS = {"ferrofactor": run_ferrofactor, "baseline": run_baseline, "pandas": run_pandas}


@pytest.fixture(scope="module")
def large():
    return _panel(2520, 5000)


@pytest.mark.large
@pytest.mark.benchmark(group="descriptors mom3+vol+beta+dd 2520x5000")
@pytest.mark.parametrize("impl", list(IMPLS))
def test_descriptors_large(benchmark, large, impl):
    r, m = large
    rounds = 5 if impl == "ferrofactor" else 1
    out = benchmark.pedantic(IMPLS[impl], args=(r, m), rounds=rounds, iterations=1,
                             warmup_rounds=1 if impl == "ferrofactor" else 0)
    assert len(out) == 6


@pytest.fixture(scope="module")
def small():
    return _panel(500, 500, seed=1)


@pytest.mark.benchmark(group="descriptors mom3+vol+beta+dd 500x500")
@pytest.mark.parametrize("impl", list(IMPLS))
def test_descriptors_small(benchmark, small, impl):
    r, m = small
    out = benchmark.pedantic(IMPLS[impl], args=(r, m), rounds=3, iterations=1)
    assert len(out) == 6


def test_results_agree(small):
    # The benchmarked implementations compute the same numbers (the pandas EW beta only roughly).
    r, m = small
    a, b, p = run_ferrofactor(r, m), run_baseline(r, m), run_pandas(r, m)
    for x, y in zip(a, b):
        np.testing.assert_allclose(x, y, rtol=1e-10, atol=1e-14)
    for i in (0, 1, 2, 3, 5):
        np.testing.assert_allclose(a[i], p[i], rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(a[4], p[4], rtol=1e-4, atol=1e-8)


# --- descriptors → exposures (issue 9 §6) ----------------------------------------------------


def _exposure_inputs(n_assets: int, n_days: int, seed: int = 0):
    import ferrofactor as ff

    panel = ff.datasets.synthetic_universe(n_assets=n_assets, n_days=n_days, seed=seed)
    desc = fd.compute_descriptors(panel)
    return {d: desc[d] for d in desc.float_fields}, panel["market_cap"], panel["industry"]


def exposures_fused(desc, cap, industry, styles=None):
    from ferrofactor import _core
    from ferrofactor.exposures import DEFAULT_STYLES

    styles = DEFAULT_STYLES if styles is None else styles
    names = list(dict.fromkeys(d for parts in styles.values() for d in parts))
    pos = {d: j for j, d in enumerate(names)}
    parts = [[(pos[d], float(w)) for d, w in p.items()] for p in styles.values()]
    dense, values = _core.dense_codes(np.ascontiguousarray(industry, dtype=np.int64))
    return _core.build_styles([desc[d] for d in names], parts, cap, dense, len(values),
                              "sigma", 3.0, "industry_mean")


def exposures_recipe(desc, cap, industry, styles=None):
    """The implementation before the fused kernel: each step a panel-level pass (numpy glue
    around ``ff.winsorize``/``ff.standardize``, a numpy ``bincount`` industry fill)."""
    import ferrofactor as ff
    from ferrofactor.exposures import DEFAULT_STYLES

    styles = DEFAULT_STYLES if styles is None else styles
    names = list(dict.fromkeys(d for parts in styles.values() for d in parts))
    T, N = desc[names[0]].shape
    capw = np.where(np.isfinite(cap) & (cap > 0), cap, np.nan)
    universe = np.isfinite(capw)

    def prepare(x):
        return ff.standardize(ff.winsorize(np.where(universe, x, np.nan), "sigma", 3.0), weights=capw)

    z = {d: prepare(desc[d]) for d in names}
    out = np.full((T, N, len(styles)), np.nan)
    G = int(industry.max()) + 1
    key = np.arange(T)[:, None] * G + np.maximum(industry, 0)
    for k, parts in enumerate(styles.values()):
        num, den = np.zeros((T, N)), np.zeros((T, N))
        for d, w in parts.items():
            ok = np.isfinite(z[d])
            num[ok] += w * z[d][ok]
            den[ok] += abs(w)
        with np.errstate(invalid="ignore", divide="ignore"):
            x = prepare(np.where(den > 0, num / den, np.nan))
        need = universe & ~np.isfinite(x)
        have = np.isfinite(x) & (industry >= 0)
        s = np.bincount(key[have], weights=x[have], minlength=T * G)
        c = np.bincount(key[have], minlength=T * G)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(c > 0, s / np.maximum(c, 1), 0.0)
        x[need] = np.where(industry >= 0, mean[key], 0.0)[need]
        out[:, :, k] = x
    return out


EXPOSURE_IMPLS = {"ferrofactor fused": exposures_fused, "per-panel recipe": exposures_recipe}


@pytest.fixture(scope="module")
def exposures_large():
    return _exposure_inputs(3000, 2520)


@pytest.mark.large
@pytest.mark.benchmark(group="descriptors → exposures, default styles, 2520x3000")
@pytest.mark.parametrize("impl", list(EXPOSURE_IMPLS))
def test_exposures_large(benchmark, exposures_large, impl):
    rounds = 5 if impl == "ferrofactor fused" else 2
    out = benchmark.pedantic(EXPOSURE_IMPLS[impl], args=exposures_large, rounds=rounds,
                             iterations=1, warmup_rounds=1)
    assert out.shape == (2520, 3000, 4)


@pytest.fixture(scope="module")
def exposures_small():
    return _exposure_inputs(300, 500, seed=1)


@pytest.mark.benchmark(group="descriptors → exposures, default styles, 500x300")
@pytest.mark.parametrize("impl", list(EXPOSURE_IMPLS))
def test_exposures_small(benchmark, exposures_small, impl):
    out = benchmark.pedantic(EXPOSURE_IMPLS[impl], args=exposures_small, rounds=3, iterations=1)
    assert out.shape == (500, 300, 4)


def test_exposure_impls_agree(exposures_small):
    np.testing.assert_array_equal(exposures_fused(*exposures_small), exposures_recipe(*exposures_small))


def _gics(T: int, N: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    sectors = rng.integers(10, 61, 200) * 1_000_000 + rng.integers(10, 30, 200) * 10_000
    gics = np.unique(sectors + rng.integers(10, 30, 200) * 100 + rng.integers(10, 20, 200))[:70]
    codes = rng.choice(gics, size=(T, N)).astype(np.int64)
    codes[rng.random((T, N)) < 0.05] = -1
    return codes


@pytest.mark.large
@pytest.mark.benchmark(group="dense_codes, 70 GICS codes, 2520x5000")
@pytest.mark.parametrize("impl", ["ferrofactor", "numpy unique"])
def test_dense_codes_large(benchmark, impl):
    from ferrofactor import _core

    codes = _gics(2520, 5000)
    if impl == "ferrofactor":
        out = benchmark.pedantic(_core.dense_codes, args=(codes,), rounds=10, iterations=1, warmup_rounds=1)
    else:
        out = benchmark.pedantic(np.unique, args=(codes,), kwargs=dict(return_inverse=True), rounds=1, iterations=1)
    assert len(out) == 2
