"""The whole demo pipeline at full size, stage by stage (issue 9 §6 targets at 3000 × 2520:
descriptors → exposures ≤ 2 s, the demo ≤ 10 s end to end).

Run (full size, a few minutes):

    python -m pytest benches/bench_pipeline.py --benchmark-only -m large

Each stage is timed on the same synthetic universe (3000 assets × 2520 dates, seed 0) built once;
``test_core_pipeline_end_to_end`` times issue 9's pipeline (universe → descriptors → exposures →
factor model → risk model → bias test) in one call; ``test_demo_end_to_end`` times
``ferrofactor demo`` (every stage and the HTML report, issue 15's ≤ 30 s).
"""

from __future__ import annotations

import numpy as np
import pytest

import ferrofactor as ff

N, T = 3000, 2520
pytestmark = pytest.mark.large


@pytest.fixture(scope="module")
def universe():
    return ff.datasets.synthetic_universe(n_assets=N, n_days=T, seed=0)


@pytest.fixture(scope="module")
def fitted(universe):
    ex = ff.Exposures.from_panel(universe)
    res = ff.FactorModel().fit(universe, ex)
    risk = ff.RiskModel.from_factor_model(res, vra_half_life=42)
    return ex, res, risk


def test_synthetic_universe(benchmark):
    benchmark.pedantic(ff.datasets.synthetic_universe, kwargs=dict(n_assets=N, n_days=T, seed=0),
                       rounds=2, iterations=1)


def test_descriptors_to_exposures(benchmark, universe):
    ex = benchmark.pedantic(ff.Exposures.from_panel, args=(universe,), rounds=3, iterations=1)
    assert ex.shape == (T, N)


def test_factor_model(benchmark, universe, fitted):
    ex = fitted[0]
    benchmark.pedantic(lambda: ff.FactorModel().fit(universe, ex), rounds=3, iterations=1)


def test_risk_model(benchmark, fitted):
    res = fitted[1]
    benchmark.pedantic(lambda: ff.RiskModel.from_factor_model(res, vra_half_life=42), rounds=3,
                       iterations=1)


def test_bias_test_200_random_portfolios(benchmark, universe, fitted):
    risk = fitted[2]
    w = np.random.default_rng(0).random((200, N))
    dates = np.arange(T // 2, T - 1)
    out = benchmark.pedantic(ff.evaluate.bias_test, args=(risk, universe, w),
                             kwargs=dict(dates=dates), rounds=3, iterations=1)
    assert out.realized.shape == (len(dates), 200)


def _core_pipeline():
    """Issue 9's pipeline in one call: universe → descriptors → exposures → factor model → risk
    model → bias test of 200 random portfolios (the stages above, universe included)."""
    u = ff.datasets.synthetic_universe(n_assets=N, n_days=T, seed=0)
    ex = ff.Exposures.from_panel(u)
    res = ff.FactorModel().fit(u, ex)
    risk = ff.RiskModel.from_factor_model(res, vra_half_life=42)
    w = np.random.default_rng(0).random((200, N))
    return ff.evaluate.bias_test(risk, u, w, dates=np.arange(T // 2, T - 1))


def test_core_pipeline_end_to_end(benchmark):
    out = benchmark.pedantic(_core_pipeline, rounds=2, iterations=1)
    assert out.realized.shape == (T - 1 - T // 2, 200)


def test_demo_end_to_end(benchmark, tmp_path, capsys):
    """``ferrofactor demo`` at its default size (3000 × 2520): every stage and the report
    (issue 15: ≤ 30 s on the 2-core machine), in this process (no interpreter start-up)."""
    from ferrofactor.cli import main

    def run():
        assert main(["demo", "--quiet", "--out", str(tmp_path / "demo")]) == 0

    benchmark.pedantic(run, rounds=2, iterations=1)
    capsys.readouterr()
