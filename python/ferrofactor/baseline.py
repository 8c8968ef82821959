"""Plain-numpy reference implementations: the test oracle and the benchmark baseline.

Written for clarity, not speed: a Python loop over dates, dense one-hot designs,
``np.linalg.lstsq``/``solve``. Each function has the same signature and conventions as its fast
counterpart in ``ferrofactor`` so that tests and benchmarks can swap one for the other.
"""

from __future__ import annotations

import numpy as np  # noqa: F401


# --- fama-macbeth ---
def fama_macbeth_estimates(returns, characteristics, intercept=True):
    """Per-date OLS of ``returns[t]`` (N,) on ``characteristics[t]`` (N, K) (+ a constant first).

    Observations with any NaN are dropped per date; a date with fewer observations than
    regressors or a rank-deficient design gives a NaN row. Returns ``(estimates (T, K'), n_obs (T,))``.
    """
    y = np.asarray(returns, dtype=np.float64)
    x = np.asarray(characteristics, dtype=np.float64)
    T, N, K = x.shape
    P = K + int(intercept)
    est = np.full((T, P), np.nan)
    n_obs = np.zeros(T, dtype=np.int64)
    for t in range(T):
        X = np.column_stack([np.ones(N), x[t]]) if intercept else x[t]
        ok = np.isfinite(y[t]) & np.all(np.isfinite(X), axis=1)
        n_obs[t] = ok.sum()
        if n_obs[t] < P:
            continue
        beta, _, rank, _ = np.linalg.lstsq(X[ok], y[t, ok], rcond=None)
        if rank == P:
            est[t] = beta
    return est, n_obs


def robust_clip(returns, threshold):
    """Clip each date's returns at ``median ± threshold · 1.4826 · MAD`` (NaN skipped).

    Returns ``(clipped (T, N), n_clipped (T,))``; a date whose MAD is 0 is left unchanged.
    """
    r = np.array(returns, dtype=np.float64)
    n_clipped = np.zeros(r.shape[0], dtype=np.int64)
    for t in range(r.shape[0]):
        ok = np.isfinite(r[t])
        if not ok.any():
            continue
        med = np.median(r[t, ok])
        scale = 1.4826 * np.median(np.abs(r[t, ok] - med))
        if scale == 0:
            continue
        lo, hi = med - threshold * scale, med + threshold * scale
        out = ok & ((r[t] < lo) | (r[t] > hi))
        n_clipped[t] = out.sum()
        r[t] = np.where(ok, np.clip(r[t], lo, hi), r[t])
    return r, n_clipped
