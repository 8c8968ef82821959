"""``ferrofactor bench``: the Rust kernels against the plain-numpy baseline (:mod:`ferrofactor.baseline`)
on the same data, as a table of ratios.

Each case builds its data once (seeded), runs ferrofactor (best of ``repeat`` wall-clock runs)
and the baseline (best of fewer runs: it is slow), checks that both give the same numbers (the
largest absolute difference of their outputs is reported), and reports ``ratio = baseline /
ferrofactor``. The pytest-benchmark suites in ``benches/`` are the reference measurements (more
rounds, full sizes); this command is the quick look from an installed package.

The baselines that solve one least-squares problem per date (regression, neutralisation) are
fastest with one BLAS thread (with threaded BLAS thousands of tiny solves get many times slower,
which would flatter the ratio): ``ferrofactor bench`` therefore runs with
``OPENBLAS_NUM_THREADS=1`` and ``MKL_NUM_THREADS=1`` unless they are set (it restarts itself with
them, since BLAS reads them when numpy is first imported).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["CASES", "run_benchmarks"]


def _best(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def _diff(a: Any, b: Any) -> float:
    """Largest |a − b| over matching finite entries (NaN where exactly one side is NaN counts as inf)."""
    if isinstance(a, (list, tuple)):
        return max(_diff(x, y) for x, y in zip(a, b))
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    na, nb = np.isnan(a), np.isnan(b)
    if (na != nb).any():
        return float("inf")
    d = np.abs(a[~na] - b[~nb])
    return float(d.max()) if d.size else 0.0


def _clean_data(T: int, N: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.standard_t(4, size=(T, N))
    x[rng.random((T, N)) < 0.1] = np.nan
    cap = np.exp(rng.normal(8.0, 1.5, size=(T, N)))
    industry = rng.integers(-1, 11, size=(T, N)).astype(np.int32)
    controls = np.ascontiguousarray(rng.standard_normal((T, N, 2)))
    return x, cap, industry, controls


def _regress_data(T: int, N: int, G: int = 11, K: int = 3, seed: int = 0):
    rng = np.random.default_rng(seed)
    styles = rng.standard_normal((T, N, K))
    industry = rng.integers(0, G, size=(T, N), dtype=np.int32)
    cap = np.exp(rng.normal(8.0, 1.5, size=(T, N)))
    f = rng.normal(0, 0.01, size=(T, K))
    r = np.einsum("tnk,tk->tn", styles, f) + rng.normal(0, 0.01, (T, G))[np.arange(T)[:, None], industry]
    r += rng.normal(0, 0.02, size=(T, N))
    r[rng.random((T, N)) < 0.05] = np.nan
    return r, styles, industry, cap


def _returns(T: int, N: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    m = rng.normal(0.0003, 0.01, T)
    r = m[:, None] * rng.uniform(0.3, 1.8, N) + rng.standard_t(5, (T, N)) * 0.015
    r = np.maximum(r, -0.9)
    r[rng.random((T, N)) < 0.03] = np.nan
    return np.ascontiguousarray(r), m


def case_clean(T: int, N: int):
    import ferrofactor as ff
    from ferrofactor import baseline as bl

    x, cap, _, _ = _clean_data(T, N)

    def run(lib):
        return lib.standardize(lib.winsorize(x, "sigma", 3.0, weights=cap), weights=cap)

    return "winsorize + standardize", lambda: run(ff), lambda: run(bl)


def case_neutralize(T: int, N: int):
    import ferrofactor as ff
    from ferrofactor import baseline as bl

    x, cap, ind, ctl = _clean_data(T, N)
    w = np.sqrt(cap)
    return ("neutralize (2 controls + industries)", lambda: ff.neutralize(x, ctl, ind, w),
            lambda: bl.neutralize(x, ctl, ind, w))


def case_regress(T: int, N: int):
    import ferrofactor as ff
    from ferrofactor import baseline as bl

    r, st, ind, cap = _regress_data(T, N)
    w = np.sqrt(cap)

    def run(lib):
        return lib.cross_section_regress(r, st, ind, w, industry_constraint="cap", cap=cap).factor_returns

    return "cross_section_regress (G=11, K=3)", lambda: run(ff), lambda: run(bl)


def case_fama_macbeth(T: int, N: int):
    import ferrofactor as ff
    from ferrofactor import baseline as bl

    r, st, _, _ = _regress_data(T, N, K=5)
    return ("fama_macbeth (K=5)", lambda: ff.fama_macbeth(r, st).estimates,
            lambda: bl.fama_macbeth_estimates(r, st)[0])


def case_descriptors(T: int, N: int):
    from ferrofactor import baseline as bl
    from ferrofactor import descriptors as fd

    r, m = _returns(T, N)
    horizons = ((252, 21), (126, 21), (63, 21))

    def mp(span):
        return int(np.ceil(0.8 * span))

    def fast():
        out = [fd.momentum(r, L, S, 0.8) for L, S in horizons]
        out += [fd.volatility(r, 252, None, 0.8), fd.beta(r, m, 252, 63.0, 0.8), fd.max_drawdown(r, 252, 0.8)]
        return out

    def slow():
        out = [bl.compounded_return(r, L, S, mp(L - S)) for L, S in horizons]
        out += [bl.rolling_std(r, 252, mp(252)) * np.sqrt(252), bl.rolling_beta(r, m, 252, mp(252), 63.0)[0],
                bl.max_drawdown(r, 252, mp(252))]
        return out

    return "descriptors (momentum ×3, vol, beta, drawdown)", fast, slow


def case_portfolio_risk(T: int, N: int):
    import ferrofactor as ff
    from ferrofactor import baseline as bl

    rng = np.random.default_rng(0)
    G, KS, P = 60, 10, 200
    k = 1 + G + KS
    styles = rng.standard_normal((N, KS))
    industry = rng.integers(0, G, N).astype(np.int32)
    a = rng.standard_normal((k, k)) * 0.01
    fc = a @ a.T / k
    d = rng.uniform(1e-4, 9e-4, N)
    w = rng.standard_normal((P, N)) / N
    ex = ff.Exposures(styles[None], industry[None], industry_names=[f"industry_{g}" for g in range(G)])
    model = ff.RiskModel.from_covariance(fc, d, ex)
    return (f"portfolio_risk (P={P}, K=71) vs dense Σ", lambda: model.portfolio_risk(w),
            lambda: bl.risk_portfolio_risk_dense(w, styles, industry, True, G, fc, d))


#: (case builder, quick size (T, N), full size (T, N))
CASES = [
    (case_clean, (250, 1000), (1000, 3000)),
    (case_neutralize, (250, 1000), (500, 3000)),
    (case_regress, (250, 1000), (1000, 3000)),
    (case_fama_macbeth, (250, 1000), (500, 1000)),
    (case_descriptors, (300, 300), (504, 2000)),
    (case_portfolio_risk, (1, 1000), (1, 3000)),
]


def run_benchmarks(quick: bool = False, reporter: Any = None) -> list[dict[str, Any]]:
    """Run every case; one row per case (kernel, size, seconds of each side, ratio, max |diff|)."""
    from ferrofactor.pipeline import Reporter, StageRecord

    reporter = reporter or Reporter()
    rows = []
    for build, small, full in CASES:
        T, N = small if quick else full
        name, fast, slow = build(T, N)
        reporter.start(name, total=2)
        t0, c0 = time.perf_counter(), time.process_time()
        fast()  # warm-up (first-touch allocations, thread pool)
        tf, a = _best(fast, 3 if quick else 5)
        reporter.advance()
        tb, b = _best(slow, 1 if not quick else 2)
        reporter.advance()
        size = f"N={N}" if build is case_portfolio_risk else f"T={T}, N={N}"
        row = {"kernel": name, "size": size, "ferrofactor_s": tf, "baseline_s": tb, "ratio": tb / tf,
               "max_abs_diff": _diff(a, b)}
        rows.append(row)
        reporter.finish(StageRecord(name, time.perf_counter() - t0, time.process_time() - c0, "done",
                                    f"{tb / tf:.1f}× ({size})"))
    return rows
