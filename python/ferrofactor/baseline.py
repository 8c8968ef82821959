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


# --- descriptors ---
# Reference versions of ferrofactor.descriptors built from the per-window loops above and plain
# numpy ratios (same definitions and defaults; see ferrofactor.descriptors).


def _ratio(a, b):
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    out = np.full(a.shape, np.nan)
    ok = np.isfinite(a) & np.isfinite(b) & (b > 0)
    out[ok] = a[ok] / b[ok]
    return out


def market_return(returns, market_cap=None):
    r = np.asarray(returns, dtype=float)
    T = r.shape[0]
    m = np.full(T, np.nan)
    for t in range(T):
        ok = np.isfinite(r[t])
        if market_cap is None or t == 0:
            w = ok.astype(float)
        else:
            c = np.asarray(market_cap, dtype=float)[t - 1]
            w = np.where(ok & np.isfinite(c) & (c > 0), c, 0.0)
        if w.sum() > 0:
            m[t] = np.sum(w * np.where(ok, r[t], 0.0)) / w.sum()
    return m


def compute_descriptors(
    fields,
    market=None,
    window=252,
    beta_halflife=63.0,
    vol_halflife=None,
    liquidity_window=21,
    min_fraction=0.8,
    mask_unlisted=True,
):
    import math

    def mp(span, frac=min_fraction):
        return max(1, math.ceil(frac * span))

    r = np.asarray(fields["returns"], dtype=float)
    cap = np.asarray(fields["market_cap"], dtype=float)
    m = market_return(r, cap) if market is None else np.asarray(market, dtype=float)
    f = {k: np.asarray(v, dtype=float) for k, v in fields.items()}
    out = {}
    if "book_value" in f:
        out["book_to_market"] = _ratio(f["book_value"], cap)
    if "earnings" in f:
        out["earnings_yield"] = _ratio(f["earnings"], cap)
    if "operating_cash_flow" in f:
        out["cash_flow_yield"] = _ratio(f["operating_cash_flow"], cap)
    for name, (L, S) in {"momentum_12_1": (252, 21), "momentum_6_1": (126, 21), "momentum_3_1": (63, 21)}.items():
        out[name] = compounded_return(r, L, S, mp(L - S))
    if "net_income" in f and "book_value" in f:
        out["roe"] = _ratio(f["net_income"], f["book_value"])
    if "net_income" in f and "revenue" in f:
        out["profit_margin"] = _ratio(f["net_income"], f["revenue"])
    if "revenue" in f and "total_assets" in f:
        out["asset_turnover"] = _ratio(f["revenue"], f["total_assets"])
    if "total_liabilities" in f and "total_assets" in f:
        out["leverage"] = _ratio(f["total_liabilities"], f["total_assets"])
    out["volatility"] = rolling_std(r, window, mp(window), vol_halflife) * np.sqrt(252)
    b, rv = rolling_beta(r, m, window, mp(window), beta_halflife)
    out["beta"] = b
    out["residual_volatility"] = rv * np.sqrt(252)
    out["max_drawdown"] = max_drawdown(r, window, mp(window))
    with np.errstate(invalid="ignore", divide="ignore"):
        out["log_market_cap"] = np.where(cap > 0, np.log(np.where(cap > 0, cap, 1.0)), np.nan)
        if "dollar_volume" in f:
            dv = f["dollar_volume"]
            for name, x in (("log_dollar_volume", dv), ("log_turnover", _ratio(dv, cap))):
                mean = rolling_mean(x, liquidity_window, mp(liquidity_window, 0.5))
                out[name] = np.where(mean > 0, np.log(np.where(mean > 0, mean, 1.0)), np.nan)
    if mask_unlisted:
        dead = ~(np.isfinite(cap) & (cap > 0))
        for v in out.values():
            v[dead] = np.nan
    return out


def momentum_selection(returns, dollar_volume, rebalance, window=252, skip=21, min_dollar_volume=1e7, percentile=0.1, min_fraction=0.8):
    """Seed 002 on each rebalance date: filter by average dollar volume, sort, take the ends.

    Returns (long, short) boolean (R, N) masks.
    """
    import math

    r = np.asarray(returns, dtype=float)
    dv = np.asarray(dollar_volume, dtype=float)
    N = r.shape[1]
    mom = compounded_return(r, window, skip, max(1, math.ceil(min_fraction * (window - skip))))
    adv = rolling_mean(dv, window, max(1, math.ceil(min_fraction * window)))
    long = np.zeros((len(rebalance), N), dtype=bool)
    short = np.zeros((len(rebalance), N), dtype=bool)
    for i, t in enumerate(rebalance):
        ok = np.flatnonzero(np.isfinite(mom[t]) & np.isfinite(adv[t]) & (adv[t] > min_dollar_volume))
        ranked = ok[np.argsort(mom[t, ok], kind="stable")]
        n = int(len(ranked) * percentile)
        if n:
            short[i, ranked[:n]] = True
            long[i, ranked[-n:]] = True
    return long, short
