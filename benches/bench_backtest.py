"""Backtest benchmarks: the Rust accounting loop against the plain-numpy loop of ff.baseline on the
same data in the same run, plus peak memory.

Build first (`maturin develop --release` or `pip install .`). Run:

    python -m pytest benches/bench_backtest.py --benchmark-only -q             # N=1000, T=504
    python -m pytest benches/bench_backtest.py --benchmark-only -q -m large    # N=5000, T=2520
    python -m pytest benches/bench_backtest.py -q -m large -k memory -s        # peak memory

The job (issue 14): the ten deciles of a signal plus the top-minus-bottom book (11 books),
rebalanced on the first trading day of each month with daily drift in between, 5 bps costs, and
suspensions (1–5 day gaps without a price, about two per asset every ten years: held, not traded).

- ``accounting``: the same (11, R, N) targets at the rebalance rows into ``_core.backtest_run``
  (one pass over the returns for all books, parallel over books) and into
  ``ff.baseline.backtest`` (a loop over days vectorised over books × assets). Same outputs:
  value, value before trading, costs, turnover, cash, holdings, delisting proceeds per book and
  day, and the positions after each trade. Checked equal to 1e-12 first.
- ``end_to_end``: ``ff.backtest_many(returns, Quantile(signal, 10), rebalance="monthly")``
  (quantile targets + accounting + result objects) against numpy decile targets (a loop over
  rebalance dates) + the baseline loop.
- ``weights``: materialising one book's (T, N) ``weights_after`` from its trades.
- ``callable``: the monthly rebalances (116) of a callable strategy at N = 2000 (the path an optimiser-driven
  strategy takes; here the "solve" is a trivial equal-weight rule, so the time is the accounting
  and the per-rebalance overhead).
- ``optimizer``: 120 monthly rebalances of ``strategies.Optimized`` (long-only, 2 % cap, a
  5 bps linear cost in the objective, risk aversion 5) at N = 2000 on a synthetic universe with a fitted risk model; the time is
  split into the optimiser's build + solve time (``result.solves``) and the accounting (the same
  targets replayed as an array strategy). Run with ``-s`` to see the split.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import ferrofactor as ff
from ferrofactor import _core
from ferrofactor import baseline as bl

SMALL = (504, 1000)
LARGE = (2520, 5000)


def make_case(T: int, N: int, seed: int = 0):
    """Returns (T, N) with suspensions (NaN), a signal, business dates and monthly rows."""
    rng = np.random.default_rng(seed)
    r = rng.standard_t(4, (T, N)) * 0.012 + 0.0003
    np.clip(r, -0.9, None, out=r)
    n_ev = rng.poisson(2.0 * T / 2520.0, size=N)
    asset = np.repeat(np.arange(N), n_ev)
    start = rng.integers(0, T, size=asset.size)
    length = rng.integers(1, 6, size=asset.size)
    for a, s, n in zip(asset.tolist(), start.tolist(), length.tolist()):
        r[s:s + n, a] = np.nan
    signal = rng.standard_normal((T, N))
    dates = np.busday_offset(np.datetime64("2010-01-04"), np.arange(T), roll="forward")
    from ferrofactor.backtest import rebalance_rows

    return r, signal, dates, rebalance_rows("monthly", dates, 0, T - 1)


def decile_targets_numpy(signal, returns, rows, q=10):
    """Plain numpy decile books (+ long-short) at the rebalance rows: a loop over dates."""
    N = signal.shape[1]
    out = np.zeros((q + 1, len(rows), N))
    for k, t in enumerate(rows):
        ok = np.flatnonzero(np.isfinite(signal[t]) & np.isfinite(returns[t]))
        order = ok[np.argsort(signal[t, ok], kind="stable")]
        M = len(order)
        rank = np.arange(M)
        bucket = np.maximum((rank * q - 1) // max(M - 1, 1), 0)
        for b in range(q):
            members = order[bucket == b]
            out[b, k, members] = 1.0 / len(members)
        out[q, k] = 0.5 * out[q - 1, k] - 0.5 * out[0, k]
    return out


def _accounting_inputs(T, N):
    r, signal, dates, rows = make_case(T, N)
    targets = np.ascontiguousarray(decile_targets_numpy(signal, r, rows))
    return r, targets, rows


def run_kernel(r, targets, rows):
    P, R, N = targets.shape
    T = r.shape[0]
    series = np.zeros((P, 7, T))
    snaps = _core.backtest_run(
        r, None, np.full(N, -1, dtype=np.int64), np.zeros(N), 0, T, True, rows, np.arange(R, dtype=np.int64),
        targets, 5e-4, "both", np.zeros((P, N)), np.ones(P), series, 0,
    )
    return series, snaps


def run_baseline(r, targets, rows):
    return bl.backtest(r, targets, rows, cost_rate=5e-4)


@pytest.fixture(scope="module")
def small():
    case = _accounting_inputs(*SMALL)
    series, _ = run_kernel(*case)
    base = run_baseline(*case)
    np.testing.assert_allclose(series[:, 0], base["value"], rtol=1e-12)
    np.testing.assert_allclose(series[:, 3], base["turnover"], rtol=1e-12, atol=1e-16)
    return case


@pytest.mark.benchmark(group="backtest accounting 11 books T=504 N=1000")
def test_accounting_small_ferrofactor(benchmark, small):
    benchmark(run_kernel, *small)


@pytest.mark.benchmark(group="backtest accounting 11 books T=504 N=1000")
def test_accounting_small_numpy(benchmark, small):
    benchmark(run_baseline, *small)


@pytest.fixture(scope="module")
def large():
    case = _accounting_inputs(*LARGE)
    series, _ = run_kernel(*case)
    base = run_baseline(*case)
    np.testing.assert_allclose(series[:, 0], base["value"], rtol=1e-12)
    np.testing.assert_allclose(series[:, 2], base["costs"], rtol=1e-12, atol=1e-16)
    np.testing.assert_allclose(series[:, 3], base["turnover"], rtol=1e-12, atol=1e-16)
    return case


@pytest.mark.large
@pytest.mark.benchmark(group="backtest accounting 11 books T=2520 N=5000")
def test_accounting_large_ferrofactor(benchmark, large):
    benchmark.pedantic(run_kernel, args=large, rounds=10, iterations=1, warmup_rounds=1)


@pytest.mark.large
@pytest.mark.benchmark(group="backtest accounting 11 books T=2520 N=5000")
def test_accounting_large_numpy(benchmark, large):
    benchmark.pedantic(run_baseline, args=large, rounds=3, iterations=1)


@pytest.fixture(scope="module")
def large_signal():
    r, signal, dates, rows = make_case(*LARGE)
    return r, signal, dates, rows


def _ff_end_to_end(r, signal, dates):
    return ff.backtest_many(r, ff.strategies.Quantile(signal, 10), rebalance="monthly", cost_bps=5, dates=dates)


def _numpy_end_to_end(r, signal, rows):
    return bl.backtest(r, decile_targets_numpy(signal, r, rows), rows, cost_rate=5e-4)


@pytest.mark.large
@pytest.mark.benchmark(group="backtest end to end 11 books T=2520 N=5000")
def test_end_to_end_ferrofactor(benchmark, large_signal):
    r, signal, dates, rows = large_signal
    res = benchmark.pedantic(_ff_end_to_end, args=(r, signal, dates), rounds=5, iterations=1)
    assert res.books[-1] == "long_short"


@pytest.mark.large
@pytest.mark.benchmark(group="backtest end to end 11 books T=2520 N=5000")
def test_end_to_end_numpy(benchmark, large_signal):
    r, signal, dates, rows = large_signal
    benchmark.pedantic(_numpy_end_to_end, args=(r, signal, rows), rounds=2, iterations=1)


@pytest.mark.large
@pytest.mark.benchmark(group="backtest weights_after of one book T=2520 N=5000")
def test_weights_after_one_book(benchmark, large_signal):
    r, signal, dates, rows = large_signal
    res = _ff_end_to_end(r, signal, dates)
    book = res["long_short"]

    def materialise():
        book._weights.clear()
        return book.weights_after

    benchmark.pedantic(materialise, rounds=5, iterations=1)


@pytest.mark.large
@pytest.mark.benchmark(group="backtest weights_after of one book T=2520 N=5000")
def test_weights_reference_numpy_divide(benchmark, large_signal):
    """Reference for the memory floor: numpy writing a fresh (T, N) array from the returns."""
    r = large_signal[0]
    benchmark.pedantic(np.divide, args=(r, 2.0), rounds=5, iterations=1)


@pytest.mark.large
@pytest.mark.benchmark(group="backtest callable strategy, 116 rebalances, N=2000")
def test_callable_120_rebalances(benchmark):
    r, signal, dates, rows = make_case(2520, 2000, seed=1)

    def equal_weight_top(t, ctx):
        s = np.where(ctx.tradable & np.isfinite(signal[t]), signal[t], -np.inf)
        top = np.argsort(s)[-200:]
        w = np.zeros(len(s))
        w[top] = 1 / 200
        return w

    res = benchmark.pedantic(ff.backtest, args=(r, equal_weight_top),
                             kwargs=dict(rebalance="monthly", dates=dates), rounds=3, iterations=1)
    assert res.traded.sum() == len(rows)


_MEMORY_SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    sys.path.insert(0, {bench_dir!r})
    import bench_backtest as b
    import ferrofactor as ff

    def mib(key):
        for line in open("/proc/self/status"):
            if line.startswith(key):
                return int(line.split()[1]) / 1024
    r, signal, dates, rows = b.make_case({T}, {N})
    inputs = (r.nbytes + signal.nbytes) / 2**20
    open("/proc/self/clear_refs", "w").write("5")  # reset the peak
    before = mib("VmRSS:")
    res = ff.backtest_many(r, ff.strategies.Quantile(signal, 10), rebalance="monthly", cost_bps=5, dates=dates)
    peak = mib("VmHWM:")
    print(json.dumps({{"inputs_mib": inputs, "rss_before_mib": before, "peak_mib": peak,
                      "extra_mib": peak - before, "books": len(res)}}))
""")


@pytest.mark.large
def test_peak_memory_within_twice_the_inputs():
    """Peak resident memory of the end-to-end run: the inputs (returns + signal, 2 × 100 MB) are
    resident before; the run may add at most as much again (peak within 2× the inputs)."""
    from pathlib import Path

    T, N = LARGE
    code = _MEMORY_SCRIPT.format(bench_dir=str(Path(__file__).parent), T=T, N=N)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    m = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"\npeak memory: inputs {m['inputs_mib']:.0f} MiB, resident before {m['rss_before_mib']:.0f} MiB, "
          f"peak {m['peak_mib']:.0f} MiB, added by the run {m['extra_mib']:.0f} MiB")
    assert m["extra_mib"] <= m["inputs_mib"]


@pytest.mark.large
@pytest.mark.benchmark(group="backtest optimiser-driven, 120 rebalances, N=2000")
def test_optimizer_120_rebalances(benchmark):
    pytest.importorskip("cvxpy")
    import time
    import warnings

    panel = ff.datasets.synthetic_universe(n_assets=2000, n_days=2900, seed=3)
    fm = ff.FactorModel().fit(panel, ff.Exposures.from_panel(panel))
    risk = ff.RiskModel.from_factor_model(fm)
    alpha = 0.05 * ff.descriptors.momentum(panel["returns"], 252, 21)
    from ferrofactor.backtest import rebalance_rows

    start = int(rebalance_rows("monthly", panel.dates, 0, panel.shape[0] - 1)[-120])  # the last 120
    opt = ff.strategies.Optimized(alpha, risk, max_weight=0.02, tcost=5.0, risk_aversion=5.0)
    recorded = {}

    def strategy(t, ctx):
        w = opt(t, ctx)
        recorded[t] = w
        return w

    def run():
        recorded.clear()
        opt._reset()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return ff.backtest(panel, strategy, rebalance="monthly", start=start, prices="close", risk_model=risk)

    res = benchmark.pedantic(run, rounds=1, iterations=1)
    total = benchmark.stats.stats.min
    solves = opt._log
    build = sum(e["build_time"] for e in solves)
    solve = sum(e["solve_time"] for e in solves)
    arr = np.zeros(panel.shape)
    for t, w in recorded.items():
        arr[t] = 0.0 if w is None else w
    t0 = time.perf_counter()
    replay = ff.backtest(panel, arr, rebalance=np.array(sorted(recorded)), start=start, prices="close")
    accounting = time.perf_counter() - t0
    ok = [t for t, w in recorded.items() if w is not None]
    assert len(recorded) == 120 and len(ok) == len(recorded)
    np.testing.assert_allclose(replay.value, res.value, rtol=1e-12)
    benchmark.extra_info.update(rebalances=len(recorded), build_s=build, solve_s=solve, accounting_s=accounting)
    print(f"\noptimiser-driven backtest: {len(recorded)} rebalances, N=2000: total {total:.2f} s = optimiser "
          f"build {build:.2f} s + solve {solve:.2f} s + accounting {accounting:.3f} s (replayed) + the rest "
          f"{total - build - solve - accounting:.2f} s (contexts, checks)")
