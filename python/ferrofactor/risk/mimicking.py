"""Factor-mimicking portfolios: the weights Ω of the cross-sectional estimator ``f = Ω r``.

For one date with exposures X (market, industry codes, styles), regression weights W and, with a
market factor and industries, the constraint ``Σ_g c_g f_g = 0`` written as ``f = R θ``, the
constrained WLS estimator is ``f = R (Rᵀ XᵀWX R)⁻¹ Rᵀ XᵀW r``, so ``Ω = R (Rᵀ XᵀWX R)⁻¹ Rᵀ XᵀW``
(K × N). Built from the codes: ``XᵀWX`` by per-industry sums (the industry block is diagonal) and
``XᵀW`` row by row; no (N, K) one-hot matrix is formed.
"""

from __future__ import annotations

import numpy as np


def mimicking_portfolios(styles, industry, market, g, weights, constraint_cap, covered):
    """Ω (K, N) for one date. ``styles`` (N, Ks), ``industry`` (N,) dense codes, ``weights`` (N,),
    ``constraint_cap`` (N,) or None, ``covered`` (N,) bool (the assets the regression may use:
    the caller leaves out those without an industry code when the model has industries, as the
    regression does). Assets not used get 0; factors with no
    member (empty industries) and styles with no dispersion among the assets used (max == min,
    e.g. all zeros while a descriptor warms up) get NaN rows, and the other rows are those of the
    regression without them, as the cross-sectional regression kernel drops such a style from its
    date; every row is NaN on a date whose design is still singular (e.g. two collinear styles)."""
    n, ks = styles.shape
    m = int(market)
    k = m + g + ks
    ok = covered & np.isfinite(weights) & (weights > 0)
    idx = np.flatnonzero(ok)
    w = weights[idx]
    codes = industry[idx] if g else np.full(idx.size, -1)
    x = styles[idx]
    members = np.bincount(codes[codes >= 0], minlength=g) if g else np.zeros(0)
    present = np.ones(k, bool)
    present[m:m + g] = members > 0
    if idx.size:
        # a style without dispersion is zero or proportional to the market / the industries: it
        # has no factor return of its own (the regression kernel drops it from the date)
        present[m + g:] = x.min(axis=0) != x.max(axis=0)
    cols = np.flatnonzero(present)
    p = len(cols)
    # XᵀW (p × n_used), column order `cols`
    xtw = np.zeros((p, idx.size))
    pos = {c: j for j, c in enumerate(cols)}
    if market:
        xtw[pos[0]] = w
    if g:
        has = np.flatnonzero(codes >= 0)
        rows = np.array([pos[m + c] for c in codes[has]], dtype=np.int64)
        xtw[rows, has] = w[has]
    styles_kept = [s for s in range(ks) if present[m + g + s]]
    for s in styles_kept:
        xtw[pos[m + g + s]] = w * x[:, s]
    # XᵀWX from the same rows: (XᵀW) X with X built implicitly
    xtwx = np.zeros((p, p))
    if market:
        xtwx[:, pos[0]] = xtw.sum(axis=1)
    if g:
        for c in np.flatnonzero(members > 0):
            sel = codes == c
            xtwx[:, pos[m + c]] = xtw[:, sel].sum(axis=1)
    for s in styles_kept:
        xtwx[:, pos[m + g + s]] = xtw @ x[:, s]
    xtwx = 0.5 * (xtwx + xtwx.T)
    r = np.eye(p)
    ind_cols = [j for j, c in enumerate(cols) if m <= c < m + g]
    if market and ind_cols:
        if constraint_cap is None:
            raise ValueError("constraint_cap is required (the model has no cap)")
        cc = constraint_cap[idx]
        cg = np.array([cc[codes == cols[j] - m].sum() for j in ind_cols])
        last = ind_cols[-1]
        r = np.delete(r, last, axis=1)
        r[last, :] = 0.0
        for j, c in zip(ind_cols[:-1], cg[:-1]):
            r[last, j - (j > last)] = -c / cg[-1]
    out = np.full((k, n), np.nan)
    try:
        omega_red = np.linalg.solve(r.T @ xtwx @ r, r.T @ xtw)
    except np.linalg.LinAlgError:  # a singular design that date (e.g. a style without dispersion)
        return out
    if not np.all(np.isfinite(omega_red)):
        return out
    out[cols] = 0.0
    out[np.ix_(cols, idx)] = r @ omega_red
    return out
