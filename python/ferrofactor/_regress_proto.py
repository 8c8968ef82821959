"""TEMPORARY prototype of cross_section_regress (until branch regress lands). NOT COMMITTED."""
from types import SimpleNamespace

import numpy as np


def cross_section_regress(returns, styles=None, industry=None, weights=None, market=True,
                          industry_constraint="cap", cap=None, style_names=None,
                          industry_names=None):
    if industry is not None:
        raise NotImplementedError
    T, N = returns.shape
    K = styles.shape[2]
    P = K + int(market)
    f = np.full((T, P), np.nan); res = np.full((T, N), np.nan); r2 = np.full(T, np.nan)
    se = np.full((T, P), np.nan); n_obs = np.zeros(T, dtype=np.int64)
    w_all = np.ones((T, N)) if weights is None else weights
    for t in range(T):
        X = np.column_stack([np.ones(N), styles[t]]) if market else styles[t]
        ok = np.isfinite(returns[t]) & np.all(np.isfinite(X), 1) & np.isfinite(w_all[t]) & (w_all[t] > 0)
        n_obs[t] = ok.sum()
        if n_obs[t] <= P:
            continue
        sw = np.sqrt(w_all[t, ok])
        beta, _, rank, _ = np.linalg.lstsq(X[ok] * sw[:, None], returns[t, ok] * sw, rcond=None)
        if rank < P:
            continue
        f[t] = beta
        res[t, ok] = returns[t, ok] - X[ok] @ beta
    names = (["market"] if market else []) + list(style_names or [f"style_{k}" for k in range(K)])
    return SimpleNamespace(factor_returns=f, residuals=res, r2=r2, std_errors=se, tstats=f / se,
                           n_obs=n_obs, factor_names=names)
