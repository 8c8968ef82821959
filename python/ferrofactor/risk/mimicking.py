"""Factor-mimicking portfolios: the weights Ω of the cross-sectional estimator ``f = Ω r``.

For one date with exposures X (market, industry codes, styles), regression weights W and, with a
market factor and industries, the constraint ``Σ_g c_g f_g = 0`` written as ``f = R θ``, the
constrained WLS estimator is ``f = R (Rᵀ XᵀWX R)⁻¹ Rᵀ XᵀW r``, so ``Ω = R (Rᵀ XᵀWX R)⁻¹ Rᵀ XᵀW``
(K × N). Built from the codes: ``XᵀWX`` by per-industry sums (the industry block is diagonal) and
``XᵀW`` row by row; no (N, K) one-hot matrix is formed.

As in the regression kernel (``rust/regress.rs``), when the design spans a constant (a market
factor, or industries without a constraint) the styles enter centred on their weighted means
(the market, or each industry, gets ``μᵀ Ω_styles`` back afterwards), so that a style's level
against its spread costs no accuracy, and a date is singular when a pivot of the Cholesky
factorisation (industries first) falls below ``PIVOT_TOL`` of its column's own squared norm
(a centred style's: never below ``CENTRED_TOL`` of its raw one).
"""

from __future__ import annotations

import numpy as np

#: The regression kernel's relative pivot tolerance (``linalg::PIVOT_TOL``).
PIVOT_TOL = 1e-12
#: The regression kernel's floor of a centred style's reference norm (``regress::CENTRED_TOL``).
CENTRED_TOL = 1e-8


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
    styles_kept = [s for s in range(ks) if present[m + g + s]]
    # styles centred on their weighted means where the design spans a constant (a market factor,
    # or industries, unconstrained without one): see the module docstring
    raw_norm = {s: float(w @ (x[:, s] * x[:, s])) for s in styles_kept}
    mu = None
    if styles_kept and idx.size and (market or g):
        mu = (w @ x) / w.sum()
        x = x - mu
    # XᵀW (p × n_used), column order `cols`
    xtw = np.zeros((p, idx.size))
    pos = {c: j for j, c in enumerate(cols)}
    if market:
        xtw[pos[0]] = w
    if g:
        has = np.flatnonzero(codes >= 0)
        rows = np.array([pos[m + c] for c in codes[has]], dtype=np.int64)
        xtw[rows, has] = w[has]
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
    a = r.T @ xtwx @ r
    # Singular (e.g. two collinear styles, or a style constant within industries): a Cholesky
    # pivot, industries first as in the regression, below PIVOT_TOL of its column's own squared
    # norm (np.linalg.solve "solved" such a system from its rounding)
    red = np.arange(p) if r.shape[1] == p else np.delete(np.arange(p), ind_cols[-1])  # (columns of r)
    is_ind = np.isin(red, ind_cols)
    order = np.r_[np.flatnonzero(is_ind), np.flatnonzero(~is_ind)]
    ref = np.diag(a).copy()
    if mu is not None:
        for s in styles_kept:
            j = int(np.flatnonzero(red == pos[m + g + s])[0])
            ref[j] = max(ref[j], CENTRED_TOL * raw_norm[s])
    try:
        chol = np.linalg.cholesky(a[np.ix_(order, order)])
    except np.linalg.LinAlgError:
        return out
    if not np.all(np.diag(chol) ** 2 > PIVOT_TOL * ref[order]):
        return out
    omega_red = np.linalg.solve(a, r.T @ xtw)
    if not np.all(np.isfinite(omega_red)):
        return out
    out[cols] = 0.0
    out[np.ix_(cols, idx)] = r @ omega_red
    if mu is not None:
        # back from the centred styles: the constant the design spans carries μᵀ f_styles
        shift = mu[styles_kept] @ out[[m + g + s for s in styles_kept]]
        for c in [0] if market else m + np.flatnonzero(members > 0):
            out[c] -= shift
    return out
