"""Benchmarks: ff.time_series_regress against statsmodels per asset and a batched numpy solve.

Run (after ``pip install .`` or ``maturin develop --release``)::

    python -m pytest benches/bench_timeseries.py --benchmark-only -q            # N=1000, T=1260
    python -m pytest benches/bench_timeseries.py --benchmark-only -q -m large   # N=5000, T=2520

Data: K=4 factors, ragged histories (listing dates spread over the first 200 days plus 1 % random
holes: about 5 % of the cells missing). HAC with 5 lags. statsmodels (``OLS(...,
missing="drop").fit(cov_type="HAC", cov_kwds={"maxlags": 5})`` and its params, bse, tvalues,
pvalues, rsquared, resid) is timed on the first 100 assets and scaled by N/100 for the ratio
(its per-asset cost does not depend on N). The batched numpy baseline solves the nonrobust case
for all assets at once: masked cross products by matrix products (BLAS), one batched
``np.linalg.solve``, residuals, ``s² (XᵀX)⁻¹``. One more full-size case runs ferrofactor's HAC on
the same panel with a third of the assets delisting on a random date in the second half.

ferrofactor forms the (T, N) residual panel on the first access to ``result.resid`` (as statsmodels
does) unless ``resid=True`` asks for it in the same pass. Both peers above produce residuals, so
the ``*_with_resid`` rows (``resid=True``) are the like-for-like comparison when the residuals
are needed; ``*_resid_on_access`` times the call and a later first access. p-values are formed on
first access too: the HAC cases read them (the statsmodels loop reads its own), the nonrobust
ones do not (the numpy baseline forms none).
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

import ferrofactor as ff

LAGS = 5


def make_data(T: int, N: int, K: int = 4, seed: int = 0, delist: bool = False):
    rng = np.random.default_rng(seed)
    f = rng.normal(0.0003, 0.01, (T, K))
    y = 0.0001 + f @ rng.normal(1.0, 0.4, (K, N)) + rng.normal(0, 0.02, (T, N))
    start = rng.integers(0, 200, N)
    y[np.arange(T)[:, None] < start[None, :]] = np.nan
    y[rng.random((T, N)) < 0.01] = np.nan
    if delist:
        # a third of the assets delist on a random date in the second half
        end = np.where(rng.random(N) < 1 / 3, rng.integers(T // 2, T, N), T)
        y[np.arange(T)[:, None] >= end[None, :]] = np.nan
    return SimpleNamespace(y=y, f=f)


def _skip_unless_large(request):
    if "large" not in (request.config.getoption("markexpr") or ""):
        pytest.skip("full-universe case: run with -m large")


@pytest.fixture(scope="module")
def default_data():
    return make_data(T=1260, N=1000)


@pytest.fixture(scope="module")
def large_data(request):
    _skip_unless_large(request)
    return make_data(T=2520, N=5000)


@pytest.fixture(scope="module")
def large_delisted(request):
    _skip_unless_large(request)
    return make_data(T=2520, N=5000, delist=True)


def statsmodels_loop(d, n_assets=100):
    import statsmodels.api as sm

    x = sm.add_constant(d.f)
    out = []
    for i in range(n_assets):
        r = sm.OLS(d.y[:, i], x, missing="drop").fit(cov_type="HAC", cov_kwds={"maxlags": LAGS})
        out.append((r.params, r.bse, r.tvalues, r.pvalues, r.rsquared, r.resid))
    return out


def numpy_batched_nonrobust(d):
    """All assets at once, nonrobust: params, std errors, R², residuals."""
    y, f = d.y, d.f
    T, N = y.shape
    x = np.column_stack([np.ones(T), f])
    p = x.shape[1]
    m = np.isfinite(y)
    yz = np.where(m, y, 0.0)
    mf = m.astype(np.float64)
    xx = (x[:, :, None] * x[:, None, :]).reshape(T, p * p)
    xtx = (mf.T @ xx).reshape(N, p, p)
    xty = yz.T @ x
    beta = np.linalg.solve(xtx, xty[:, :, None])[:, :, 0]
    resid = np.where(m, yz - x @ beta.T, np.nan)
    n = m.sum(axis=0)
    ssr = np.nansum(resid * resid, axis=0)
    s2 = ssr / (n - p)
    cov = s2[:, None, None] * np.linalg.inv(xtx)
    se = np.sqrt(np.diagonal(cov, axis1=1, axis2=2))
    ybar = yz.sum(axis=0) / n
    sst = np.sum(np.where(m, y - ybar, 0.0) ** 2, axis=0)
    return beta, se, 1 - ssr / sst, resid


def _ff(d, cov):
    res = ff.time_series_regress(d.y, d.f, cov=cov, lags=LAGS if cov == "hac" else None)
    if cov == "hac":
        res.pvalues  # (formed on first access) the statsmodels loop reads them; numpy forms none
    return res


def _ff_with_resid(d, cov):
    # the residual panel formed in the same pass (resid=True), as the peers do
    res = ff.time_series_regress(d.y, d.f, cov=cov, lags=LAGS if cov == "hac" else None, resid=True)
    assert res.resid.shape == d.y.shape
    if cov == "hac":
        res.pvalues
    return res


def _ff_resid_on_access(d, cov):
    res = _ff(d, cov)
    assert res.resid.shape == d.y.shape
    return res


# ferrofactor's cases: the call, the call with the residual panel in the same pass, the call and
# a first access to ``resid``
CASES = {
    "hac": (_ff, "hac"),
    "hac_with_resid": (_ff_with_resid, "hac"),
    "hac_resid_on_access": (_ff_resid_on_access, "hac"),
    "nonrobust": (_ff, "nonrobust"),
    "nonrobust_with_resid": (_ff_with_resid, "nonrobust"),
}


# --- N=1000, T=1260 ---------------------------------------------------------------------------
@pytest.mark.benchmark(group="time_series_regress N=1000 T=1260 K=4")
@pytest.mark.parametrize("case", list(CASES))
def test_ts_default_ferrofactor(benchmark, default_data, case):
    fn, cov = CASES[case]
    res = benchmark(fn, default_data, cov)
    assert np.isfinite(res.params).all()


@pytest.mark.benchmark(group="time_series_regress N=1000 T=1260 K=4")
def test_ts_default_nonrobust_numpy_batched(benchmark, default_data):
    beta, *_ = benchmark(numpy_batched_nonrobust, default_data)
    np.testing.assert_allclose(beta, _ff(default_data, "nonrobust").params, rtol=1e-8, atol=1e-12)


@pytest.mark.benchmark(group="time_series_regress N=1000 T=1260 K=4")
def test_ts_default_hac_statsmodels_100_assets(benchmark, default_data):
    benchmark.pedantic(statsmodels_loop, args=(default_data,), rounds=3, iterations=1)


# --- full size: N=5000, T=2520 ----------------------------------------------------------------
@pytest.mark.large
@pytest.mark.benchmark(group="time_series_regress N=5000 T=2520 K=4")
@pytest.mark.parametrize("case", list(CASES))
def test_ts_large_ferrofactor(benchmark, large_data, case):
    fn, cov = CASES[case]
    res = benchmark.pedantic(fn, args=(large_data, cov), rounds=7, iterations=1)
    assert np.isfinite(res.params).all()


@pytest.mark.large
@pytest.mark.benchmark(group="time_series_regress N=5000 T=2520 K=4")
def test_ts_large_nonrobust_numpy_batched(benchmark, large_data):
    benchmark.pedantic(numpy_batched_nonrobust, args=(large_data,), rounds=5, iterations=1)


@pytest.mark.large
@pytest.mark.benchmark(group="time_series_regress N=5000 T=2520 K=4")
def test_ts_large_hac_statsmodels_100_assets(benchmark, large_data):
    benchmark.pedantic(statsmodels_loop, args=(large_data,), rounds=3, iterations=1)


@pytest.mark.large
@pytest.mark.benchmark(group="time_series_regress N=5000 T=2520 K=4")
def test_ts_large_ferrofactor_hac_a_third_delisted(benchmark, large_delisted):
    # the same panel with a third of the assets delisting in the second half (fewer cells: a
    # lane past its history takes zero scores, it does not slow its lane group down)
    res = benchmark.pedantic(_ff, args=(large_delisted, "hac"), rounds=7, iterations=1)
    assert np.isfinite(res.params).all()
