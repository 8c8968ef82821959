"""Plain-numpy reference implementations: the test oracle and the benchmark baseline.

Written for clarity, not speed: a Python loop over dates, dense one-hot designs,
``np.linalg.lstsq``/``solve``. Each function has the same signature and conventions as its fast
counterpart in ``ferrofactor`` so that tests and benchmarks can swap one for the other.
"""

from __future__ import annotations

import numpy as np  # noqa: F401


# --- risk ---
# Plain versions of ferrofactor.risk / rust/risk.rs: explicit weights per date (O(T²)), dense
# one-hot B, np.linalg.eigh / lstsq. Same conventions: half-life h → λ = 0.5**(1/h); zero-mean
# moments; NaN observations skipped pairwise; row t uses data up to and including t.


def _risk_onehot_b(styles, industry, market, n_industries):
    """Dense B (N, K): [market], one-hot industries, styles."""
    n, ks = styles.shape
    b = np.zeros((n, int(market) + n_industries + ks))
    if market:
        b[:, 0] = 1.0
    for j in range(n):
        if industry[j] >= 0:
            b[j, int(market) + industry[j]] = 1.0
    b[:, int(market) + n_industries :] = styles
    return b


def risk_ewma_newey_west(x, half_life, lags, min_periods=1):
    """EWMA Newey-West covariance (T, K, K) of a (T, K) series, one date at a time."""
    x = np.asarray(x, dtype=float)
    t_len, k = x.shape
    lam = 0.5 ** (1.0 / half_life)
    out = np.full((t_len, k, k), np.nan)
    for t in range(t_len):
        gam = []
        for lag in range(lags + 1):
            if lag > t:
                gam.append(np.zeros((k, k)))
                continue
            # Γ_lag[i, j] = Σ_s λ^(t-s) x[s, i] x[s-lag, j] / Σ_s λ^(t-s), s over dates where both are finite
            now = x[lag : t + 1]
            then = x[: t + 1 - lag]
            w = lam ** (t - np.arange(lag, t + 1))
            both = np.isfinite(now)[:, :, None] & np.isfinite(then)[:, None, :]
            prod = np.where(both, np.nan_to_num(now)[:, :, None] * np.nan_to_num(then)[:, None, :], 0.0)
            num = np.einsum("s,sij->ij", w, prod)
            den = np.einsum("s,sij->ij", w, both.astype(float))
            with np.errstate(invalid="ignore", divide="ignore"):
                gam.append(np.where(den > 0, num / den, 0.0))
        cov = gam[0].copy()
        for lag in range(1, lags + 1):
            cov += (1 - lag / (lags + 1)) * (gam[lag] + gam[lag].T)
        cov = 0.5 * (cov + cov.T)
        count = np.isfinite(x[: t + 1]).sum(axis=0)
        short = count < max(min_periods, 1)
        cov[short, :] = np.nan
        cov[:, short] = np.nan
        out[t] = cov
    return out


def risk_factor_covariance(f, vol_half_life=84, corr_half_life=504, vol_lags=5, corr_lags=2, min_periods=21):
    """Factor covariance diag(σ) C diag(σ) per date, negative eigenvalues clipped. Returns (cov, clipped)."""
    vol = risk_ewma_newey_west(f, vol_half_life, vol_lags, min_periods)
    cor = risk_ewma_newey_west(f, corr_half_life, corr_lags, min_periods)
    t_len, k = np.asarray(f).shape
    out = np.full((t_len, k, k), np.nan)
    clipped = np.zeros(t_len, bool)
    for t in range(t_len):
        sig = np.sqrt(np.maximum(np.diag(vol[t]), 0.0))
        s = cor[t]
        d = np.sqrt(np.outer(np.diag(s), np.diag(s)))
        with np.errstate(invalid="ignore", divide="ignore"):
            c = np.where(d > 0, s / d, 0.0)
        c = np.where(np.isnan(d), np.nan, c)
        cov = np.outer(sig, sig) * c
        np.fill_diagonal(cov, sig**2)
        ok = np.isfinite(np.diag(cov))
        sub = cov[np.ix_(ok, ok)]
        if sub.size:
            vals, vecs = np.linalg.eigh(sub)
            if vals.min() < 0:
                sub = (vecs * np.maximum(vals, 0.0)) @ vecs.T
                cov[np.ix_(ok, ok)] = sub
                clipped[t] = True
        out[t] = cov
    return out, clipped


def risk_specific_variance(
    residuals, styles, industry, n_industries, cap, half_life=84, min_periods=63, shrinkage=0.1, n_groups=10, ridge=1e-4
):
    """Specific variance (T, N): EWMA of squared residuals, structural fallback, cap-group shrinkage."""
    e = np.asarray(residuals, dtype=float)
    t_len, n = e.shape
    ks = styles.shape[2]
    g = n_industries
    lam = 0.5 ** (1.0 / half_life)
    out = np.full((t_len, n), np.nan)
    for t in range(t_len):
        # 1. time series
        w = lam ** (t - np.arange(t + 1))[:, None]
        ok = np.isfinite(e[: t + 1])
        num = (w * np.where(ok, e[: t + 1] ** 2, 0.0)).sum(axis=0)
        den = (w * ok).sum(axis=0)
        nobs = ok.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            var = num / den
        universe = np.isfinite(styles[t]).all(axis=1)
        sig = np.full(n, np.nan)
        has = universe & (nobs >= max(min_periods, 1)) & (var > 0)
        sig[has] = np.sqrt(var[has])
        need = universe & ~has
        # 2. structural: WLS of ln σ on [1, industry dummies, styles] with ridge on dummies
        c = cap[t]
        fit = np.isfinite(sig) & np.isfinite(c) & (c > 0)
        if need.any() and fit.sum() >= ks + 2:
            x = np.zeros((n, 1 + g + ks))
            x[:, 0] = 1.0
            for j in range(n):
                if industry[t, j] >= 0:
                    x[j, 1 + industry[t, j]] = 1.0
            x[:, 1 + g :] = np.nan_to_num(styles[t])
            sw = np.sqrt(c[fit])
            pen = np.zeros((g, 1 + g + ks))
            pen[np.arange(g), 1 + np.arange(g)] = np.sqrt(ridge * sw.sum())
            a = np.vstack([x[fit] * np.sqrt(sw)[:, None], pen])
            y = np.concatenate([np.log(sig[fit]) * np.sqrt(sw), np.zeros(g)])
            beta = np.linalg.lstsq(a, y, rcond=None)[0]
            e0 = np.sum(sw * np.exp(np.log(sig[fit]) - x[fit] @ beta)) / sw.sum()
            sig[need] = e0 * np.exp(x[need] @ beta)
        # 3. shrinkage toward the cap-weighted mean of the cap group
        if shrinkage > 0:
            idx = np.nonzero(np.isfinite(sig) & np.isfinite(c) & (c > 0))[0]
            idx = idx[np.lexsort((idx, c[idx]))]
            m = idx.size
            grp = np.arange(m) * n_groups // m
            new = sig.copy()
            for q in np.unique(grp):
                mem = idx[grp == q]
                mean = np.sum(c[mem] * sig[mem]) / np.sum(c[mem])
                delta = np.sqrt(np.mean((sig[mem] - mean) ** 2))
                dd = shrinkage * np.abs(sig[mem] - mean)
                with np.errstate(invalid="ignore", divide="ignore"):
                    v = np.where(delta + dd > 0, dd / (delta + dd), 0.0)
                new[mem] = v * mean + (1 - v) * sig[mem]
            sig = new
        out[t] = sig**2
    return out


def risk_regime_multiplier(x, forecast_var, weights, half_life):
    """(B², λ): cross-sectional bias of x[t] standardised by forecast_var[t-1], and its EWMA root."""
    x = np.asarray(x, dtype=float)
    t_len, m = x.shape
    b2 = np.full(t_len, np.nan)
    for t in range(1, t_len):
        w = np.ones(m) if weights is None else weights[t - 1]
        v = forecast_var[t - 1]
        ok = np.isfinite(x[t]) & np.isfinite(v) & (v > 0) & np.isfinite(w) & (w > 0)
        if ok.any():
            b2[t] = np.sum(w[ok] * x[t, ok] ** 2 / v[ok]) / np.sum(w[ok])
    lam = 0.5 ** (1.0 / half_life)
    mult = np.full(t_len, np.nan)
    for t in range(t_len):
        s = np.arange(t + 1)
        ok = np.isfinite(b2[: t + 1])
        if ok.any():
            wts = lam ** (t - s[ok])
            mult[t] = np.sqrt(np.sum(wts * b2[: t + 1][ok]) / wts.sum())
    return b2, mult


def risk_portfolio_risk_dense(weights, styles, industry, market, n_industries, factor_cov, specific_var):
    """sqrt(diag(W Σ Wᵀ)) with Σ = B Σf Bᵀ + diag(D) formed densely (N, N)."""
    b = _risk_onehot_b(styles, industry, market, n_industries)
    sigma = b @ factor_cov @ b.T + np.diag(specific_var)
    return np.sqrt(np.sum((weights @ sigma) * weights, axis=1))


def risk_portfolio_risk_products(weights, styles, industry, market, n_industries, factor_cov, specific_var):
    """The same through products: X = W B, then xᵀΣf x + Σ w² D (no N×N)."""
    b = _risk_onehot_b(styles, industry, market, n_industries)
    x = weights @ b
    return np.sqrt(np.sum((x @ factor_cov) * x, axis=1) + (weights**2) @ specific_var)
