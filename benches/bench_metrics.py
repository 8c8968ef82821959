"""Benchmarks: ff.metrics.summary over many series against empyrical called per series.

Run::

    python -m pytest benches/bench_metrics.py --benchmark-only -q            # 200 series × 2520 days
    python -m pytest benches/bench_metrics.py --benchmark-only -q -m large   # 1000 series × 2520 days

Both compute the seed's table for every series: annualised return, volatility, Sharpe (with a
risk-free series), Sortino, max drawdown, Calmar, monthly win rate, information ratio and tracking
error against a benchmark, average turnover and cost. empyrical computes one series per call; it
is timed on the first 50 series and scaled by S/50 for the ratio (its cost per series does not
depend on S; its monthly aggregation is a pandas groupby per series).
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

import ferrofactor as ff

PPY = 252


def make_data(T: int, S: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    r = rng.standard_t(5, (T, S)) * 0.01 + 0.0003
    r[rng.random((T, S)) < 0.01] = np.nan
    dates = np.busday_offset(np.datetime64("2014-01-01"), np.arange(T), roll="forward")
    return SimpleNamespace(r=r, dates=dates, bench=rng.normal(0.0003, 0.01, T), rf=np.full(T, 0.0001),
                           turnover=np.abs(rng.normal(0.05, 0.02, (T, S))), costs=np.full((T, S), 2e-5))


def _skip_unless_large(request):
    if "large" not in (request.config.getoption("markexpr") or ""):
        pytest.skip("full-universe case: run with -m large")


@pytest.fixture(scope="module")
def default_data():
    return make_data(T=2520, S=200)


@pytest.fixture(scope="module")
def large_data(request):
    _skip_unless_large(request)
    return make_data(T=2520, S=1000)


def _ff(d):
    return ff.metrics.summary(d.r, dates=d.dates, benchmark=d.bench, risk_free=d.rf, turnover=d.turnover,
                              costs=d.costs, periods_per_year=PPY)


def empyrical_loop(d, n_series=50):
    import empyrical as ep
    import pandas as pd

    idx = pd.DatetimeIndex(d.dates)
    out = []
    for i in range(n_series):
        x = d.r[:, i]
        out.append((
            ep.annual_return(x, annualization=PPY), ep.annual_volatility(x, annualization=PPY),
            ep.sharpe_ratio(x, risk_free=d.rf, annualization=PPY), ep.sortino_ratio(x, annualization=PPY),
            ep.max_drawdown(x), ep.calmar_ratio(x, annualization=PPY),
            float((ep.aggregate_returns(pd.Series(x, index=idx), "monthly") > 0).mean()),
            ep.excess_sharpe(x, d.bench) * np.sqrt(PPY), ep.annual_volatility(x - d.bench, annualization=PPY),
            np.nanmean(d.turnover[:, i]), np.nanmean(d.costs[:, i]),
        ))
    return out


@pytest.mark.benchmark(group="metrics.summary S=200 T=2520")
def test_metrics_default_ferrofactor(benchmark, default_data):
    s = benchmark(_ff, default_data)
    ref = empyrical_loop(default_data, 3)
    np.testing.assert_allclose(s.sharpe_ratio[:3], [x[2] for x in ref], rtol=1e-12)


@pytest.mark.benchmark(group="metrics.summary S=200 T=2520")
def test_metrics_default_empyrical_50_series(benchmark, default_data):
    benchmark.pedantic(empyrical_loop, args=(default_data,), rounds=3, iterations=1)


@pytest.mark.large
@pytest.mark.benchmark(group="metrics.summary S=1000 T=2520")
def test_metrics_large_ferrofactor(benchmark, large_data):
    benchmark.pedantic(_ff, args=(large_data,), rounds=7, iterations=1)


@pytest.mark.large
@pytest.mark.benchmark(group="metrics.summary S=1000 T=2520")
def test_metrics_large_empyrical_50_series(benchmark, large_data):
    benchmark.pedantic(empyrical_loop, args=(large_data,), rounds=3, iterations=1)
