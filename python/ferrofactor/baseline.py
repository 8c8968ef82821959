"""Plain-numpy reference implementations: the test oracle and the benchmark baseline.

Written for clarity, not speed: a Python loop over dates, dense one-hot designs,
``np.linalg.lstsq``/``solve``. Each function has the same signature and conventions as its fast
counterpart in ``ferrofactor`` so that tests and benchmarks can swap one for the other.
"""

from __future__ import annotations

import numpy as np


# --- rolling ---
# Per-date loops over explicit windows (vectorised over assets only): the oracle and benchmark
# baseline for ferrofactor.rolling. Same signatures and conventions (see ferrofactor.rolling).


def _window_weights(t: int, window: int, halflife: float | None) -> tuple[int, np.ndarray]:
    lo = max(0, t - window + 1)
    lags = (t - np.arange(lo, t + 1)).astype(float)
    w = np.ones(t + 1 - lo) if halflife is None else 0.5 ** (lags / halflife)
    return lo, w


def _rolling_stat(x, window, min_periods, halflife, stat):
    x = np.asarray(x, dtype=float)
    T, N = x.shape
    window = T if window is None else window
    mp = window if min_periods is None else min_periods
    out = np.full((T, N), np.nan)
    for t in range(T):
        lo, w = _window_weights(t, window, halflife)
        win = x[lo : t + 1]
        ok = np.isfinite(win)
        W = np.where(ok, w[:, None], 0.0)
        n = ok.sum(axis=0)
        sw = W.sum(axis=0)
        xs = np.where(ok, win, 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            if stat == "sum":
                val = xs.sum(axis=0)
            else:
                mean = (W * xs).sum(axis=0) / sw
                if stat == "mean":
                    val = mean
                else:
                    ss = (W * (xs - mean) ** 2).sum(axis=0)
                    denom = sw - (W**2).sum(axis=0) / sw
                    val = np.where((n >= 2) & (denom > 0), ss / denom, np.nan)
                    if stat == "std":
                        val = np.sqrt(val)
        out[t] = np.where(n >= mp, val, np.nan)
    return out


def rolling_sum(x, window, min_periods=None):
    return _rolling_stat(x, window, min_periods, None, "sum")


def rolling_mean(x, window, min_periods=None, halflife=None):
    return _rolling_stat(x, window, min_periods, halflife, "mean")


def rolling_var(x, window, min_periods=None, halflife=None):
    return _rolling_stat(x, window, min_periods, halflife, "var")


def rolling_std(x, window, min_periods=None, halflife=None):
    return _rolling_stat(x, window, min_periods, halflife, "std")


def ewm_mean(x, halflife, min_periods=1, window=None):
    return _rolling_stat(x, window, min_periods, halflife, "mean")


def ewm_var(x, halflife, min_periods=1, window=None):
    return _rolling_stat(x, window, min_periods, halflife, "var")


def ewm_std(x, halflife, min_periods=1, window=None):
    return _rolling_stat(x, window, min_periods, halflife, "std")


def rolling_beta(returns, market, window=252, min_periods=None, halflife=None):
    x = np.asarray(returns, dtype=float)
    m = np.asarray(market, dtype=float)
    T, N = x.shape
    mp = window if min_periods is None else min_periods
    beta = np.full((T, N), np.nan)
    rv = np.full((T, N), np.nan)
    for t in range(T):
        lo, w = _window_weights(t, window, halflife)
        xw, mw = x[lo : t + 1], m[lo : t + 1, None]
        ok = np.isfinite(xw) & np.isfinite(mw)
        W = np.where(ok, w[:, None], 0.0)
        n = ok.sum(axis=0)
        sw = W.sum(axis=0)
        xs = np.where(ok, xw, 0.0)
        ms = np.where(ok, mw, 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            xbar = (W * xs).sum(axis=0) / sw
            mbar = (W * ms).sum(axis=0) / sw
            cxy = (W * (xs - xbar) * (ms - mbar)).sum(axis=0)
            cmm = (W * (ms - mbar) ** 2).sum(axis=0)
            b = cxy / cmm
            resid = np.where(ok, xs - (xbar - b * mbar) - b * ms, 0.0)
            ssr = (W * resid**2).sum(axis=0)
            r = np.sqrt(ssr / sw * n / (n - 2))
        good = (n >= mp) & (n >= 2) & (cmm > 0)
        beta[t] = np.where(good, b, np.nan)
        rv[t] = np.where(good & (n > 2), r, np.nan)
    return beta, rv


def compounded_return(returns, window, skip=0, min_periods=None):
    x = np.asarray(returns, dtype=float)
    T, N = x.shape
    mp = (window - skip) if min_periods is None else min_periods
    out = np.full((T, N), np.nan)
    for t in range(skip, T):
        lo, hi = max(0, t - window + 1), t - skip
        win = x[lo : hi + 1]
        n = np.isfinite(win).sum(axis=0)
        val = np.prod(1.0 + np.where(np.isfinite(win), win, 0.0), axis=0) - 1.0
        out[t] = np.where(n >= mp, val, np.nan)
    return out


def max_drawdown(returns, window, min_periods=None):
    x = np.asarray(returns, dtype=float)
    T, N = x.shape
    mp = window if min_periods is None else min_periods
    out = np.full((T, N), np.nan)
    for t in range(T):
        win = x[max(0, t - window + 1) : t + 1]
        n = np.isfinite(win).sum(axis=0)
        wealth = np.vstack([np.ones((1, N)), np.cumprod(1.0 + np.where(np.isfinite(win), win, 0.0), axis=0)])
        peak = np.maximum.accumulate(wealth, axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            dd = np.nanmax(1.0 - wealth / peak, axis=0)
        out[t] = np.where(n >= mp, dd, np.nan)
    return out
