"""Optimiser benchmarks: the factor form (ff.optimize / ff.Optimizer) against the full-covariance
form (``ff.baseline.optimize_dense``: ``cvxpy.quad_form`` on the dense N × N Σ), and the ways of
re-solving in a loop (rebuild with constants, the chosen one; cvxpy Parameters / DPP;
``ignore_dpp=True``).

Problem everywhere: N assets, 60 industries + 10 styles + market (K = 71), long-only, Σw = 1,
``w ≤ 2 %``, turnover ``‖w − w0‖₁ ≤ 0.3`` from an equal-weighted ``w0``, ``λ = 10``, Clarabel.
The full-covariance form gets Σ already formed (not timed).

Run (after ``pip install ".[test]"``)::

    pytest benches/bench_optimize.py --benchmark-only                 # N = 500, 2000, 5000
    pytest benches/bench_optimize.py --benchmark-only -m large        # + full covariance at 5000,
                                                                      #   DPP variants, 120-date memory

The machine is shared (2 cores): read the CPU times printed by the ``-s`` runs as well as the
wall-clock minimums.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import ferrofactor as ff
from ferrofactor import baseline as bl

cp = pytest.importorskip("cvxpy")

G, KS = 60, 10
K = 1 + G + KS
SETTINGS = dict(risk_aversion=10.0, max_weight=0.02, turnover=0.3)
HERE = os.path.dirname(os.path.abspath(__file__))


def make_case(n: int, dates: int = 4, seed: int = 0):
    """A RiskModel (``dates`` dates) with slowly drifting styles, alphas per date, and w0."""
    rng = np.random.default_rng(seed)
    vols = np.r_[0.01, np.full(G, 0.005), np.full(KS, 0.003)]
    a = rng.standard_normal((dates, K, K)) * 0.3
    corr = a @ a.transpose(0, 2, 1) / K + np.eye(K)
    d = np.sqrt(np.diagonal(corr, axis1=1, axis2=2))
    corr = corr / d[:, :, None] / d[:, None, :]
    fc = corr * vols[None, :, None] * vols[None, None, :]
    spec = rng.uniform(0.01, 0.03, (dates, n)) ** 2
    styles = rng.standard_normal((1, n, KS)) + np.cumsum(rng.standard_normal((dates, n, KS)) * 0.05, axis=0)
    industry = np.repeat(rng.integers(0, G, (1, n)), dates, axis=0)
    ex = ff.Exposures(styles, industry, dates=np.datetime64("2020-01-01") + np.arange(dates),
                      assets=[f"A{j:05d}" for j in range(n)])
    risk = ff.RiskModel.from_covariance(fc, spec, ex)
    alpha = rng.normal(0, 5e-4, (dates, n))
    w0 = np.full(n, 1.0 / n)
    return risk, alpha, w0


@pytest.fixture(scope="module", params=[500, 2000, 5000], ids=lambda n: f"N={n}")
def case(request):
    n = request.param
    risk, alpha, w0 = make_case(n)
    # Both forms agree before anything is timed (weights to 1e-4 at default tolerances).
    if n <= 2000:
        res = ff.optimize(alpha[0], risk, date=0, w0=w0, **SETTINGS)
        wd, status, _ = bl.optimize_dense(alpha[0], risk.covariance(0), w0=w0, **SETTINGS)
        assert res.ok and status == "optimal" and np.max(np.abs(res.weights - wd)) < 1e-4
    return n, risk, alpha, w0


# ---------------------------------------------------------------------------------------------
# build + solve
# ---------------------------------------------------------------------------------------------


@pytest.mark.benchmark(group="optimize build+solve: factor form vs full covariance")
def test_build_solve_factor_form(benchmark, case):
    n, risk, alpha, w0 = case
    c0 = time.process_time()
    res = benchmark.pedantic(ff.optimize, args=(alpha[0], risk), rounds=5, iterations=1,
                             kwargs=dict(date=0, w0=w0, **SETTINGS))
    assert res.ok
    print(f"\nfactor form N={n}: CPU {(time.process_time() - c0) / 5:.3f} s per build+solve "
          f"(build {res.build_time:.3f} s, solver {res.solve_time:.3f} s, {res.iterations} iterations)")


@pytest.mark.benchmark(group="optimize build+solve: factor form vs full covariance")
def test_build_solve_full_covariance(benchmark, case):
    n, risk, alpha, w0 = case
    if n > 2000:
        pytest.skip("full covariance at N=5000: test_build_solve_full_covariance_5000 (-m large)")
    cov = risk.covariance(0)
    benchmark.pedantic(bl.optimize_dense, args=(alpha[0], cov), kwargs=dict(w0=w0, **SETTINGS),
                       rounds=1, iterations=1)


@pytest.mark.large
@pytest.mark.benchmark(group="optimize build+solve: factor form vs full covariance")
def test_build_solve_full_covariance_5000(benchmark):
    risk, alpha, w0 = make_case(5000, dates=1)
    cov = risk.covariance(0)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    benchmark.pedantic(bl.optimize_dense, args=(alpha[0], cov), kwargs=dict(w0=w0, **SETTINGS),
                       rounds=1, iterations=1)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"\nfull covariance N=5000: peak RSS {peak / 2**20:.2f} GiB (was {before / 2**20:.2f} GiB)")


# ---------------------------------------------------------------------------------------------
# re-solve in a loop
# ---------------------------------------------------------------------------------------------


@pytest.mark.benchmark(group="optimize re-solve (per date, 3 dates after the first)")
def test_resolve_factor_form(benchmark, case):
    n, risk, alpha, w0 = case
    opt = ff.Optimizer(**SETTINGS)
    first = opt.solve(alpha[0], risk, 0, w0)

    def loop():
        w = first.weights
        for t in (1, 2, 3):
            r = opt.solve(alpha[t], risk, t, w)
            w = r.weights
        return r

    c0 = time.process_time()
    res = benchmark.pedantic(loop, rounds=3, iterations=1)
    assert res.ok
    print(f"\nfactor-form re-solve N={n}: CPU {(time.process_time() - c0) / 9:.3f} s per date")


@pytest.mark.benchmark(group="optimize re-solve (per date, 3 dates after the first)")
def test_resolve_full_covariance(benchmark, case):
    n, risk, alpha, w0 = case
    if n > 500:
        pytest.skip("full-covariance loops only at N=500 (one N=2000 solve is timed above)")
    covs = [risk.covariance(t) for t in range(4)]
    first, _, _ = bl.optimize_dense(alpha[0], covs[0], w0=w0, **SETTINGS)

    def loop():
        w = first
        for t in (1, 2, 3):
            w, status, _ = bl.optimize_dense(alpha[t], covs[t], w0=w, **SETTINGS)
        return status

    assert benchmark.pedantic(loop, rounds=1, iterations=1) == "optimal"


# ---------------------------------------------------------------------------------------------
# How to re-solve: Parameters (DPP), ignore_dpp, rebuilding (N = 5000)
# ---------------------------------------------------------------------------------------------


def dpp_problem(risk, n):
    """The DPP form that compiles at N=5000: the quadratic free of Parameters (auxiliaries
    u = √d∘w and v = Lt y), the market and style block an N × 11 Parameter, the industries a
    constant (they do not change here), bounds and w0 as Parameters; every asset a variable."""
    import scipy.sparse as sp

    ind = risk.exposures.industry[0]
    onehot = sp.csr_matrix((np.ones(n), (np.arange(n), ind)), shape=(n, G))
    p = dict(S=cp.Parameter((n, 1 + KS)), Lt=cp.Parameter((K, K)), sd=cp.Parameter(n, nonneg=True),
             alpha=cp.Parameter(n), w0=cp.Parameter(n), ub=cp.Parameter(n))
    w, y, t = cp.Variable(n), cp.Variable(K), cp.Variable(n)
    u, v = cp.Variable(n), cp.Variable(K)
    cons = [y[0] == p["S"][:, 0] @ w, y[1:1 + G] == onehot.T @ w, y[1 + G:] == p["S"][:, 1:].T @ w,
            v == p["Lt"] @ y, u == cp.multiply(p["sd"], w), w >= 0, w <= p["ub"], cp.sum(w) == 1,
            t >= w - p["w0"], t >= p["w0"] - w, cp.sum(t) <= SETTINGS["turnover"]]
    obj = p["alpha"] @ w - SETTINGS["risk_aversion"] * (cp.sum_squares(v) + cp.sum_squares(u))
    return cp.Problem(cp.Maximize(obj), cons), p, w


def set_dpp(p, risk, alpha, w0, t, n):
    from ferrofactor.optimize import factor_root

    p["S"].value = np.c_[np.ones(n), risk.exposures.styles[t]]
    p["Lt"].value = factor_root(risk.factor_covariance[t])[0]
    p["sd"].value = np.sqrt(risk.specific_variance[t])
    p["alpha"].value = alpha[t]
    p["w0"].value = w0
    p["ub"].value = np.full(n, SETTINGS["max_weight"])


@pytest.mark.large
@pytest.mark.benchmark(group="re-solve strategies N=5000 (per date)")
@pytest.mark.parametrize("strategy", ["rebuild", "dpp", "ignore_dpp"])
def test_resolve_strategies_5000(benchmark, strategy):
    n = 5000
    risk, alpha, w0 = make_case(n)
    ref = [ff.optimize(alpha[t], risk, date=t, w0=w0, **SETTINGS) for t in range(4)]
    if strategy == "rebuild":
        opt = ff.Optimizer(**SETTINGS)

        def solve(t):
            return opt.solve(alpha[t], risk, t, w0).weights
    else:
        prob, p, w = dpp_problem(risk, n)
        set_dpp(p, risk, alpha, w0, 0, n)
        c0, t0 = time.process_time(), time.perf_counter()
        prob.solve(solver="CLARABEL", ignore_dpp=strategy == "ignore_dpp")
        print(f"\n{strategy}: first compile + solve {time.perf_counter() - t0:.3f} s "
              f"(CPU {time.process_time() - c0:.3f} s)")

        def solve(t):
            set_dpp(p, risk, alpha, w0, t, n)
            prob.solve(solver="CLARABEL", ignore_dpp=strategy == "ignore_dpp")
            return w.value

    def loop():
        return [solve(t) for t in (1, 2, 3)]

    c0 = time.process_time()
    out = benchmark.pedantic(loop, rounds=2, iterations=1)
    print(f"\n{strategy}: CPU {(time.process_time() - c0) / 6:.3f} s per re-solve, peak RSS "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10:.0f} MiB (process)")
    for t, x in zip((1, 2, 3), out):
        assert np.max(np.abs(x - ref[t].weights)) < 1e-4  # the same portfolio


_FULL_DPP = textwrap.dedent("""
    import resource, sys, json, time
    resource.setrlimit(resource.RLIMIT_AS, (4 * 2**30, 4 * 2**30))
    sys.path.insert(0, {here!r})
    import numpy as np, cvxpy as cp, scipy.sparse as sp
    from bench_optimize import make_case, SETTINGS, K
    from ferrofactor.optimize import factor_root
    n = 5000
    risk, alpha, w0 = make_case(n, dates=1)
    B = risk.exposure_matrix(0)
    Bp, Lp, sd, ap, w0p = (cp.Parameter((n, K)), cp.Parameter((K, K)), cp.Parameter(n, nonneg=True),
                           cp.Parameter(n), cp.Parameter(n))
    Bp.value, Lp.value = B, factor_root(risk.factor_covariance[0])[0]
    sd.value, ap.value, w0p.value = np.sqrt(risk.specific_variance[0]), alpha[0], w0
    w, y, t = cp.Variable(n), cp.Variable(K), cp.Variable(n)
    risk_term = cp.sum_squares(Lp @ y) + cp.sum_squares(cp.multiply(sd, w))
    cons = [y == Bp.T @ w, w >= 0, w <= 0.02, cp.sum(w) == 1, t >= w - w0p, t >= w0p - w, cp.sum(t) <= 0.3]
    prob = cp.Problem(cp.Maximize(ap @ w - 10.0 * risk_term), cons)
    t0 = time.perf_counter()
    try:
        prob.solve(solver="CLARABEL")
        out = dict(ok=True, status=prob.status, seconds=time.perf_counter() - t0)
    except MemoryError as e:
        out = dict(ok=False, error=str(e)[:200], seconds=time.perf_counter() - t0)
    print(json.dumps(out))
""")


def _run(code: str, timeout: float):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout)


@pytest.mark.large
@pytest.mark.benchmark(group="re-solve strategies N=5000 (per date)")
def test_full_parameter_dpp_fails_under_a_4gb_cap(benchmark):
    """B, Lt and √d as Parameters (cvxportfolio's form): the first compile asks for a dense
    array of N × (all parameter entries) and fails under a 4 GB address-space cap (timed: the
    fresh process up to the failure)."""
    code = _FULL_DPP.format(here=HERE)
    out = benchmark.pedantic(_run, args=(code, 1800), rounds=1, iterations=1)
    assert out.returncode == 0, out.stderr[-2000:]
    res = json.loads(out.stdout.strip().splitlines()[-1])
    print("\nfull-parameter DPP at N=5000 under 4 GB:", res)
    assert not res["ok"] and "GiB" in res["error"]


_LOOP = textwrap.dedent("""
    import resource, sys, json, time
    sys.path.insert(0, {here!r})
    import numpy as np, ferrofactor as ff
    from bench_optimize import make_case, SETTINGS
    dates = 120
    risk, alpha, w0 = make_case(5000, dates=dates, seed=3)
    opt = ff.Optimizer(**SETTINGS)
    w = w0
    t0, c0 = time.perf_counter(), time.process_time()
    worst = 0.0
    for t in range(dates):
        r = opt.solve(alpha[t], risk, t, w)
        assert r.ok, r.message
        worst = max(worst, r.max_violation)
        w = r.weights
    print(json.dumps(dict(seconds=time.perf_counter() - t0, cpu=time.process_time() - c0,
                          peak_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10,
                          max_violation=worst)))
""")


@pytest.mark.large
@pytest.mark.benchmark(group="120 rebalances N=5000 (fresh process)")
def test_resolve_loop_memory(benchmark):
    """120 rebalances at N=5000 with the Optimizer (fresh process): peak RSS < 2 GB."""
    out = benchmark.pedantic(_run, args=(_LOOP.format(here=HERE), 3600), rounds=1, iterations=1)
    assert out.returncode == 0, out.stderr[-2000:]
    res = json.loads(out.stdout.strip().splitlines()[-1])
    print("\n120-rebalance loop at N=5000:", res)
    assert res["peak_mib"] < 2 * 1000**3 / 2**20
