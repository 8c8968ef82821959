"""Plain-numpy reference implementations: the test oracle and the benchmark baseline.

Written for clarity, not speed: a Python loop over dates, dense one-hot designs,
``np.linalg.lstsq``/``solve``. Each function has the same signature and conventions as its fast
counterpart in ``ferrofactor`` so that tests and benchmarks can swap one for the other.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np  # noqa: F401


# --- cross-sectional regression and neutralize ---


def _one_hot(codes: np.ndarray, groups: list[int]) -> np.ndarray:
    """Dense (n, len(groups)) dummy matrix of ``codes`` for the listed groups."""
    return (codes[:, None] == np.asarray(groups)[None, :]).astype(float)


def cross_section_regress(
    returns,
    styles=None,
    industry=None,
    weights=None,
    market=True,
    industry_constraint="cap",
    cap=None,
    style_names=None,
    industry_names=None,
):
    """Reference for :func:`ferrofactor.cross_section_regress`: a per-date loop over a dense design.

    Per date: select the usable observations, build ``X = [1, one-hot(active industries),
    styles]``, substitute the constraint (the active industry with the largest constraint
    weight, the last of equals, expressed via the others: ``X R``), solve
    ``sqrt(W) X R θ ≈ sqrt(W) y`` with ``np.linalg.lstsq`` and map back ``f = R θ``. A style whose used values are all equal is
    left out of that date's design (NaN outputs for it). Same outputs as the fast version.
    """

    y_all = np.asarray(returns, dtype=float)
    T, N = y_all.shape
    sty = None if styles is None else np.asarray(styles, dtype=float)
    K = 0 if sty is None else sty.shape[2]
    ind = None if industry is None else np.asarray(industry).astype(np.int64)
    if ind is None:
        G = 0
    elif industry_names is not None:
        G = len(industry_names)
    else:
        G = int(ind.max()) + 1
    c_all = None if cap is None else np.asarray(cap, dtype=float)
    if weights is not None:
        w_all = np.asarray(weights, dtype=float)
    elif c_all is not None:
        w_all = np.sqrt(c_all)
    else:
        w_all = np.ones((T, N))
    use_cap = ind is not None and industry_constraint == "cap"
    constrained = ind is not None and industry_constraint is not None
    m = 1 if market else 0
    P = m + G + K

    f_out = np.full((T, P), np.nan)
    e_out = np.full((T, N), np.nan)
    r2_out = np.full(T, np.nan)
    se_out = np.full((T, P), np.nan)
    n_obs = np.zeros(T, dtype=np.int64)

    for t in range(T):
        y, w = y_all[t], w_all[t]
        used = np.isfinite(y) & np.isfinite(w) & (w > 0)
        if sty is not None:
            used &= np.all(np.isfinite(sty[t]), axis=1)
        if ind is not None:
            used &= ind[t] >= 0
        if use_cap:
            used &= np.isfinite(c_all[t])
        idx = np.flatnonzero(used)
        n = len(idx)
        n_obs[t] = n
        yu, wu = y[idx], w[idx]

        # Dense design over the full compact parameter list.
        cols, full_pos = [], []
        if market:
            cols.append(np.ones((n, 1)))
            full_pos.append(0)
        active = []
        if ind is not None:
            active = sorted(set(ind[t, idx].tolist()))
            cols.append(_one_hot(ind[t, idx], active))
            full_pos += [m + g for g in active]
        if sty is not None:
            # A style with no dispersion among the used observations drops out of the date.
            xs = sty[t, idx]
            keep = [k for k in range(K) if n > 0 and xs[:, k].max() != xs[:, k].min()]
            cols.append(xs[:, keep])
            full_pos += [m + G + k for k in keep]
        X = np.hstack(cols) if cols else np.zeros((n, 0))
        pc = X.shape[1]
        if pc == 0:
            continue

        # Constraint by substitution: f = R θ.
        R = np.eye(pc)
        if constrained and active:
            cw = np.array(
                [c_all[t, idx][ind[t, idx] == g].sum() if use_cap else 1.0 for g in active]
            )
            if not (cw > 0).any():
                continue
            # the largest (the last of equals): every coefficient cw / cw[j] is at most 1
            j = int(np.flatnonzero(cw == cw.max())[-1])
            last = m + j
            R = np.delete(np.eye(pc), last, axis=1)
            for jj in range(len(active)):
                if jj != j:
                    R[last, (m + jj) if (m + jj) < last else (m + jj - 1)] = -cw[jj] / cw[j]
        Z = X @ R
        p_free = Z.shape[1]
        if n == 0 or n < p_free:
            continue
        sw = np.sqrt(wu)
        Zw = Z * sw[:, None]
        if np.linalg.matrix_rank(Zw) < p_free:
            continue
        theta = np.linalg.lstsq(Zw, yu * sw, rcond=None)[0]
        f = R @ theta
        e = yu - X @ f
        ssr = np.sum(wu * e**2)
        centred = market or (ind is not None and industry_constraint is None and len(active) > 0)
        ybar = np.sum(wu * yu) / np.sum(wu) if centred else 0.0
        sst = np.sum(wu * (yu - ybar) ** 2)
        # every return equal: the centred SST is 0 exactly (ybar only rounds off them)
        zero_sst = not sst > 0 or (centred and bool(np.all(yu == yu[0])))
        r2_out[t] = np.nan if zero_sst else 1.0 - ssr / sst
        e_out[t, idx] = e
        f_out[t, full_pos] = f
        if n > p_free:
            sigma2 = ssr / (n - p_free)
            cov = sigma2 * R @ np.linalg.inv(Zw.T @ Zw) @ R.T
            se_out[t, full_pos] = np.sqrt(np.diag(cov))

    names = (
        (["market"] if market else [])
        + (list(industry_names) if industry_names is not None else [str(g) for g in range(G)])
        + (list(style_names) if style_names is not None else [f"style_{k}" for k in range(K)])
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        tstats = f_out / se_out
    from types import SimpleNamespace

    return SimpleNamespace(factor_returns=f_out, residuals=e_out, r2=r2_out, std_errors=se_out,
                           tstats=tstats, n_obs=n_obs, factor_names=names)


def neutralize(x, controls=None, industry=None, weights=None):
    """Reference for :func:`ferrofactor.neutralize`: per date, ``lstsq`` of x on a dense
    ``[one-hot industries, controls]`` design (or ``[1, controls]`` without industries) and
    the residual; NaN where not used or when the design is rank-deficient."""
    xa = np.asarray(x, dtype=float)
    T, N = xa.shape
    ctl = None if controls is None else np.asarray(controls, dtype=float)
    ind = None if industry is None else np.asarray(industry).astype(np.int64)
    w_all = np.ones((T, N)) if weights is None else np.asarray(weights, dtype=float)
    out = np.full((T, N), np.nan)
    for t in range(T):
        used = np.isfinite(xa[t]) & np.isfinite(w_all[t]) & (w_all[t] > 0)
        if ctl is not None:
            used &= np.all(np.isfinite(ctl[t]), axis=1)
        if ind is not None:
            used &= ind[t] >= 0
        idx = np.flatnonzero(used)
        n = len(idx)
        if ind is not None:
            cols = [_one_hot(ind[t, idx], sorted(set(ind[t, idx].tolist())))]
        else:
            cols = [np.ones((n, 1))]
        if ctl is not None:
            # a control with no dispersion among the used observations is dropped on that date
            cs = ctl[t, idx]
            cols.append(cs[:, [c for c in range(cs.shape[1]) if n > 0 and cs[:, c].max() != cs[:, c].min()]])
        X = np.hstack(cols)
        p = X.shape[1]
        if n == 0 or n < p:
            continue
        sw = np.sqrt(w_all[t, idx])
        Xw = X * sw[:, None]
        if np.linalg.matrix_rank(Xw) < p:
            continue
        beta = np.linalg.lstsq(Xw, xa[t, idx] * sw, rcond=None)[0]
        out[t, idx] = xa[t, idx] - X @ beta
    return out
# --- clean: winsorize, standardize, rank ---
# Same semantics as ferrofactor.clean (see its docstrings), one date and one group at a time.


def _clean_row_groups(x_row, groups_row):
    """Boolean masks of the finite values of each group on one date (one mask if no groups)."""
    finite = np.isfinite(x_row)
    if groups_row is None:
        return [finite]
    return [finite & (groups_row == code) for code in np.unique(groups_row[groups_row >= 0])]


def _weighted_centre(v, w):
    """Weighted mean of v over finite weights, or None when their sum is 0."""
    usable = np.isfinite(w)
    total = np.sum(w[usable])
    if total <= 0:
        return None
    return np.sum(w[usable] * v[usable]) / total


def winsorize(x, method="sigma", limit=3.0, weights=None, industry=None):
    x = np.asarray(x, dtype=np.float64)
    out = np.full(x.shape, np.nan)
    for t in range(x.shape[0]):
        g_row = None if industry is None else np.asarray(industry)[t]
        for mask in _clean_row_groups(x[t], g_row):
            v = x[t][mask]
            if weights is not None:
                centre = _weighted_centre(v, np.asarray(weights, dtype=np.float64)[t][mask])
                if centre is None:
                    continue  # zero usable weight: NaN
            if v.size < 2 or np.all(v == v[0]):
                out[t][mask] = v
                continue
            if method == "sigma":
                if weights is None:
                    centre = np.mean(v)
                std = np.std(v, ddof=1)
                if std == 0:  # spread underflows: nothing to clip
                    out[t][mask] = v
                    continue
                lo, hi = centre - limit * std, centre + limit * std
            elif method == "quantile":
                lo, hi = np.quantile(v, [limit, 1 - limit])
            elif method == "mad":
                med = np.median(v)
                mad = np.median(np.abs(v - med))
                lo, hi = med - limit * 1.4826 * mad, med + limit * 1.4826 * mad
            else:
                raise ValueError(f"unknown method {method!r}")
            out[t][mask] = np.clip(v, lo, hi)
    return out


def standardize(x, weights=None, industry=None):
    x = np.asarray(x, dtype=np.float64)
    out = np.full(x.shape, np.nan)
    for t in range(x.shape[0]):
        g_row = None if industry is None else np.asarray(industry)[t]
        for mask in _clean_row_groups(x[t], g_row):
            v = x[t][mask]
            if weights is not None:
                centre = _weighted_centre(v, np.asarray(weights, dtype=np.float64)[t][mask])
                if centre is None:
                    continue  # zero usable weight: NaN
            else:
                centre = np.mean(v) if v.size else np.nan
            std = np.std(v, ddof=1) if v.size >= 2 else 0.0
            if std == 0:  # single value, all equal, or a spread that underflows
                out[t][mask] = 0.0
                continue
            out[t][mask] = (v - centre) / std
    return out


def rank(x, gaussian=False):
    from scipy.special import ndtri
    from scipy.stats import rankdata

    x = np.asarray(x, dtype=np.float64)
    out = np.full(x.shape, np.nan)
    for t in range(x.shape[0]):
        finite = np.isfinite(x[t])
        n = int(finite.sum())
        if n:
            out[t][finite] = rankdata(x[t][finite], method="average") / (n + 1)
    return ndtri(out) if gaussian else out


# --- io ---


def panel_from_long(row_dates, row_assets, values):
    """Dense (T, N) array from long rows by a plain per-row loop (oracle for ``Panel.from_polars``).

    Parameters: ``row_dates`` (R,) datetime64[D], ``row_assets`` (R,) str, ``values`` (R,) float.
    Returns ``(dates, assets, out)`` with sorted unique dates and assets; raises ``ValueError``
    on a repeated (date, asset).
    """
    dates = sorted(set(np.asarray(row_dates, dtype="datetime64[D]").tolist()))
    assets = sorted(set(str(a) for a in row_assets))
    t_of = {d: i for i, d in enumerate(dates)}
    a_of = {a: j for j, a in enumerate(assets)}
    out = np.full((len(dates), len(assets)), np.nan)
    seen = set()
    for d, a, v in zip(np.asarray(row_dates, dtype="datetime64[D]").tolist(), row_assets, values):
        key = (t_of[d], a_of[str(a)])
        if key in seen:
            raise ValueError(f"duplicate (date, asset) row {d}, {a}")
        seen.add(key)
        out[key] = np.nan if v is None else v
    return np.array(dates, dtype="datetime64[D]"), np.array(assets, dtype=str), out


def point_in_time(rec_assets, rec_report_dates, rec_values, dates, assets, report_lag_days=1, max_staleness=365):
    """Point-in-time values by brute force (oracle for ``read_fundamentals``).

    For every panel date d and asset a: among a's records with ``report_date + report_lag_days <=
    d``, take the one with the latest ``report_date``; show its value if ``d - (report_date +
    report_lag_days) <=
    max_staleness`` (None: no limit), else NaN.
    """
    dates = np.asarray(dates, dtype="datetime64[D]")
    rec_assets = [str(a) for a in rec_assets]
    avail = np.asarray(rec_report_dates, dtype="datetime64[D]") + np.timedelta64(report_lag_days, "D")
    out = np.full((len(dates), len(assets)), np.nan)
    for j, a in enumerate(assets):
        mine = [r for r in range(len(rec_assets)) if rec_assets[r] == a]
        for i, d in enumerate(dates):
            best = None
            for r in mine:
                if avail[r] <= d and (best is None or avail[r] > avail[best]):
                    best = r
            if best is None:
                continue
            if max_staleness is not None and (d - avail[best]).astype(int) > max_staleness:
                continue
            v = rec_values[best]
            out[i, j] = np.nan if v is None else v
    return out


def returns_from_prices(close):
    """``close[t] / close[t-1] - 1`` by a loop over dates; NaN where either price is missing."""
    close = np.asarray(close, dtype=float)
    out = np.full(close.shape, np.nan)
    for t in range(1, close.shape[0]):
        out[t] = close[t] / close[t - 1] - 1.0
    return out

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
    residuals,
    styles,
    industry,
    n_industries,
    cap,
    half_life=84,
    min_periods=63,
    shrinkage=0.1,
    n_groups=10,
    ridge=1e-4,
    blend_periods=0,
    nw_lags=0,
):
    """Specific variance (T, N): EWMA of squared residuals (Newey-West adjusted with ``nw_lags``)
    blended with a structural model by
    history length (weight of the time series γ = min(1, (h - min_periods) / blend_periods)),
    then cap-group shrinkage."""
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
        if nw_lags:
            # Newey-West: + 2 Σ_l (1 - l/(L+1)) Γ_l over pairs (s, s-l) both finite; Γ0 if not > 0
            adj = var.copy()
            for lag in range(1, min(nw_lags, t) + 1):
                pair = ok[lag:] & ok[:-lag]
                nl = (w[lag:] * np.where(pair, e[lag : t + 1] * e[: t + 1 - lag], 0.0)).sum(axis=0)
                dl = (w[lag:] * pair).sum(axis=0)
                with np.errstate(invalid="ignore", divide="ignore"):
                    adj += np.where(dl > 0, 2.0 * (1.0 - lag / (nw_lags + 1.0)) * nl / dl, 0.0)
            var = np.where(adj > 0, adj, var)
        universe = np.isfinite(styles[t]).all(axis=1)
        sig = np.full(n, np.nan)
        has = universe & (nobs >= max(min_periods, 1)) & (var > 0)
        sig[has] = np.sqrt(var[has])
        gamma = np.zeros(n)
        if blend_periods == 0:
            gamma[has] = 1.0
        else:
            gamma[has] = np.minimum(1.0, (nobs[has] - max(min_periods, 1)) / blend_periods)
        need = universe & (gamma < 1.0)
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
            structural = e0 * np.exp(x[need] @ beta)
            g_need = gamma[need]
            sig[need] = np.where(g_need > 0, g_need * sig[need] + (1 - g_need) * structural, structural)
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


# --- rolling ---
# Per-date loops over explicit windows (vectorised over assets only): the oracle and benchmark
# baseline for ferrofactor.rolling. Same signatures and conventions (see ferrofactor.rolling).


def _window_weights(t: int, window: int, half_life: float | None) -> tuple[int, np.ndarray]:
    lo = max(0, t - window + 1)
    lags = (t - np.arange(lo, t + 1)).astype(float)
    w = np.ones(t + 1 - lo) if half_life is None else 0.5 ** (lags / half_life)
    return lo, w


def _rolling_stat(x, window, min_periods, half_life, stat):
    x = np.asarray(x, dtype=float)
    T, N = x.shape
    window = T if window is None else window
    mp = window if min_periods is None else min_periods
    out = np.full((T, N), np.nan)
    for t in range(T):
        lo, w = _window_weights(t, window, half_life)
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


def rolling_mean(x, window, min_periods=None, half_life=None):
    return _rolling_stat(x, window, min_periods, half_life, "mean")


def rolling_var(x, window, min_periods=None, half_life=None):
    return _rolling_stat(x, window, min_periods, half_life, "var")


def rolling_std(x, window, min_periods=None, half_life=None):
    return _rolling_stat(x, window, min_periods, half_life, "std")


def ewm_mean(x, half_life, min_periods=1, window=None):
    return _rolling_stat(x, window, min_periods, half_life, "mean")


def ewm_var(x, half_life, min_periods=1, window=None):
    return _rolling_stat(x, window, min_periods, half_life, "var")


def ewm_std(x, half_life, min_periods=1, window=None):
    return _rolling_stat(x, window, min_periods, half_life, "std")


def rolling_beta(returns, market, window=252, min_periods=None, half_life=None):
    x = np.asarray(returns, dtype=float)
    m = np.asarray(market, dtype=float)
    T, N = x.shape
    mp = window if min_periods is None else min_periods
    beta = np.full((T, N), np.nan)
    rv = np.full((T, N), np.nan)
    for t in range(T):
        lo, w = _window_weights(t, window, half_life)
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
        # a market without variance (its values equal, whatever cmm's rounding): no beta
        varies = np.where(ok, mw, np.inf).min(axis=0) < np.where(ok, mw, -np.inf).max(axis=0)
        good = (n >= mp) & (n >= 2) & (cmm > 0) & varies
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


def market_return(returns, cap=None):
    r = np.asarray(returns, dtype=float)
    T = r.shape[0]
    m = np.full(T, np.nan)
    for t in range(T):
        ok = np.isfinite(r[t])
        if cap is None or t == 0:
            w = ok.astype(float)
        else:
            c = np.asarray(cap, dtype=float)[t - 1]
            w = np.where(ok & np.isfinite(c) & (c > 0), c, 0.0)
        if w.sum() > 0:
            m[t] = np.sum(w * np.where(ok, r[t], 0.0)) / w.sum()
    return m


def compute_descriptors(
    fields,
    market=None,
    window=252,
    beta_half_life=63.0,
    vol_half_life=None,
    liquidity_window=21,
    min_fraction=0.8,
    mask_unlisted=True,
):
    import math

    def mp(span, frac=min_fraction):  # in decimal, as written (0.55 · 100 = 55)
        return max(1, math.ceil(Fraction(str(frac)) * span))

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
    out["volatility"] = rolling_std(r, window, mp(window), vol_half_life) * np.sqrt(252)
    b, rv = rolling_beta(r, m, window, mp(window), beta_half_life)
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
    frac = Fraction(str(min_fraction))  # in decimal, as written (0.55 · 100 = 55)
    mom = compounded_return(r, window, skip, max(1, math.ceil(frac * (window - skip))))
    adv = rolling_mean(dv, window, max(1, math.ceil(frac * window)))
    long = np.zeros((len(rebalance), N), dtype=bool)
    short = np.zeros((len(rebalance), N), dtype=bool)
    for i, t in enumerate(rebalance):
        ok = np.flatnonzero(np.isfinite(mom[t]) & np.isfinite(adv[t]) & (adv[t] > min_dollar_volume))
        ranked = ok[np.argsort(mom[t, ok], kind="stable")]
        n = math.floor(len(ranked) * percentile + 1e-12)  # 0.29 · 100 → 29, not 28
        if n:
            short[i, ranked[:n]] = True
            long[i, ranked[-n:]] = True
    return long, short


# --- descriptors: exposures from descriptors ---


def exposures_from_descriptors(descriptors, styles, cap=None, industry=None, winsorize_method="sigma",
                               winsorize_limit=3.0, fill="industry_mean", orthogonalize=None):
    """Reference for :func:`ferrofactor.descriptors.exposures_from_descriptors`; returns the
    (T, N, K) styles. Per-date loops for the combination and the fill."""
    names = list(styles)
    first = np.asarray(descriptors[next(iter(styles[names[0]]))], dtype=float)
    T, N = first.shape
    if cap is not None:
        capw = np.asarray(cap, dtype=float)
        capw = np.where(np.isfinite(capw) & (capw > 0), capw, np.nan)
        universe = np.isfinite(capw)
    else:
        capw = None
        universe = np.zeros((T, N), dtype=bool)
        for parts in styles.values():
            for d in parts:
                universe |= np.isfinite(np.asarray(descriptors[d], dtype=float))

    def prepare(x):
        x = np.where(universe, x, np.nan)
        if winsorize_method is not None:
            x = winsorize(x, winsorize_method, winsorize_limit)
        return standardize(x, weights=capw)

    out = np.full((T, N, len(names)), np.nan)
    for k, s in enumerate(names):
        z = {d: prepare(np.asarray(descriptors[d], dtype=float)) for d in styles[s]}
        x = np.full((T, N), np.nan)
        for t in range(T):
            for i in range(N):
                num = den = 0.0
                for d, w in styles[s].items():
                    if np.isfinite(z[d][t, i]):
                        num += w * z[d][t, i]
                        den += abs(w)
                if den > 0:
                    x[t, i] = num / den
        x = prepare(x)
        for t in range(T):
            need = universe[t] & ~np.isfinite(x[t])
            if fill == "zero":
                x[t, need] = 0.0
            elif fill == "industry_mean":
                row = x[t].copy()
                for i in np.flatnonzero(need):
                    g = -1 if industry is None else industry[t, i]
                    members = (industry[t] == g) & np.isfinite(row) if g >= 0 else np.zeros(N, bool)
                    x[t, i] = row[members].mean() if members.any() else 0.0
        if orthogonalize and s in orthogonalize:
            ctl = np.stack([out[:, :, names.index(o)] for o in orthogonalize[s]], axis=2)
            x = standardize(neutralize(x, controls=ctl, weights=capw), weights=capw)
        out[:, :, k] = x
    return out


# --- backtest accounting (seed 003) ---


def backtest(returns, targets, trade_rows, target_rows=None, tradable=None, delist_row=None,
             delist_return=None, cost_rate=0.0005, cost_side="both", initial_value=1.0, start=0,
             end=None, record_weights=False):
    """Reference for the accounting loop of :func:`ferrofactor.backtest_many`: a plain numpy loop
    over days, vectorised over the P books and the N assets (the benchmark baseline and oracle).

    Parameters
    ----------
    returns : (T, N), NaN = no price (held positions keep their value; no trade).
    targets : (P, R_t, N) target weights (NaN = 0); trade k uses row ``target_rows[k]``
        (default ``k``).
    trade_rows : (R,) increasing rows in ``start..end`` where the books trade.
    tradable : (T, N) bool, optional.
    delist_row : (N,) int, row of the delisting payout (-1 = none); delist_return : (N,).
    cost_rate : cost per unit traded (5 bps = 0.0005); cost_side : "both" | "buy" | "sell".
    start, end : first and last rows (inclusive).
    record_weights : also return ``weights_before`` / ``weights_after`` (P, L, N).

    Returns
    -------
    dict of (P, L) arrays ``value``, ``value_before``, ``costs``, ``turnover``, ``cash``,
    ``n_holdings``, ``delisted``; ``snapshots`` (P, R, N) positions after each trade; and the
    weights when asked.
    """
    r_all = np.asarray(returns, dtype=float)
    T, N = r_all.shape
    end = T - 1 if end is None else end
    w_all = np.asarray(targets, dtype=float)
    P = w_all.shape[0]
    trade_rows = np.asarray(trade_rows, dtype=np.int64)
    R = len(trade_rows)
    target_rows = np.arange(R) if target_rows is None else np.asarray(target_rows, dtype=np.int64)
    delist_row = np.full(N, -1) if delist_row is None else np.asarray(delist_row)
    delist_return = np.zeros(N) if delist_return is None else np.asarray(delist_return, dtype=float)
    L = end - start + 1
    out = {k: np.zeros((P, L)) for k in ("value", "value_before", "costs", "turnover", "cash", "n_holdings", "delisted")}
    snaps = np.zeros((P, R, N))
    if record_weights:
        wb = np.zeros((P, L, N))
        wa = np.zeros((P, L, N))
    s = np.zeros((P, N))
    c = np.full(P, float(initial_value))
    k = 0
    for t in range(start, end + 1):
        l = t - start
        r = r_all[t]
        dl = np.zeros(P)
        if t > start:
            s = s * np.where(np.isnan(r), 1.0, 1.0 + r)
            gone = delist_row == t
            if gone.any():
                dl = (s[:, gone] * (1.0 + delist_return[gone])).sum(axis=1)
                c = c + dl
                s[:, gone] = 0.0
        vf = s.sum(axis=1) + c
        s_before = s.copy()
        cost = np.zeros(P)
        half = np.zeros(P)
        if k < R and trade_rows[k] == t:
            ok = ~np.isnan(r)
            if tradable is not None:
                ok &= np.asarray(tradable)[t]
            w = np.nan_to_num(w_all[:, target_rows[k]], nan=0.0) * ok
            sv = s * ok
            A = c + sv.sum(axis=1)
            Ap = np.maximum(A, 0.0)
            sv_long, sv_short = np.maximum(sv, 0).sum(axis=1), np.maximum(-sv, 0).sum(axis=1)
            w_long, w_short = np.maximum(w, 0).sum(axis=1), np.maximum(-w, 0).sum(axis=1)
            if cost_side == "both":
                bound = sv_long + sv_short + (w_long + w_short) * Ap
            elif cost_side == "buy":
                bound = w_long * Ap + sv_short
            else:
                bound = sv_long + w_short * Ap
            avail = np.maximum(A - cost_rate * bound, 0.0)
            new = w * avail[:, None]
            d = (new - sv) * ok
            bought, sold = np.maximum(d, 0).sum(axis=1), np.maximum(-d, 0).sum(axis=1)
            cost = cost_rate * {"both": bought + sold, "buy": bought, "sell": sold}[cost_side]
            s = np.where(ok, new, s)
            c = A - new.sum(axis=1) - cost
            half = 0.5 * (bought + sold)
            snaps[:, k] = s
            k += 1
        v = s.sum(axis=1) + c
        out["value"][:, l] = v
        out["value_before"][:, l] = vf
        out["costs"][:, l] = cost
        out["turnover"][:, l] = half / vf
        out["cash"][:, l] = c
        out["n_holdings"][:, l] = (s != 0).sum(axis=1)
        out["delisted"][:, l] = dl
        if record_weights:
            wb[:, l] = s_before / vf[:, None]
            wa[:, l] = s / v[:, None]
    out["snapshots"] = snaps
    if record_weights:
        out["weights_before"], out["weights_after"] = wb, wa
    return out

def attribute(weights, returns, styles, industry, market, n_industries, factor_returns, lag,
              benchmark=None):
    """Plain per-date attribution with a dense one-hot exposure matrix (oracle and benchmark
    baseline of :func:`ferrofactor.attribute`).

    Per date t with a = w_t − b_t (NaN = 0) and B = [1, one-hot(industry), styles] of row t − lag:
    an asset is covered when t ≥ lag, its styles are finite and every factor it loads on
    (nonzero B) has a finite return at t. Returns a dict with exposures and contributions (T, K),
    specific, unexplained and gross (T,). A held asset with a missing return raises ValueError.
    """
    w = np.nan_to_num(np.asarray(weights, dtype=float))
    if benchmark is not None:
        w = w - np.nan_to_num(np.asarray(benchmark, dtype=float))
    r = np.asarray(returns, dtype=float)
    f_all = np.asarray(factor_returns, dtype=float)
    T, N = w.shape
    ks = 0 if styles is None else styles.shape[2]
    g = n_industries if industry is not None else 0
    m = int(market)
    K = m + g + ks
    out = {name: np.zeros((T, K)) for name in ("exposures", "contributions")}
    for name in ("specific", "unexplained", "gross"):
        out[name] = np.zeros(T)
    for t in range(T):
        a = w[t]
        held = a != 0
        if np.any(held & ~np.isfinite(r[t])):
            raise ValueError(f"held asset with a missing return on date {t}")
        rt = np.where(held, r[t], 0.0)
        out["gross"][t] = a @ rt
        if t < lag:
            out["unexplained"][t] = a @ rt
            continue
        s = t - lag
        B = np.zeros((N, K))
        if market:
            B[:, 0] = 1.0
        if industry is not None:
            rows = np.flatnonzero(industry[s] >= 0)
            B[rows, m + industry[s][rows]] = 1.0
        if ks:
            B[:, m + g:] = styles[s]
        f = f_all[t]
        finite_b = np.all(np.isfinite(B), axis=1)
        needs = (B != 0) & ~np.isfinite(f)[None, :]
        covered = finite_b & ~np.any(needs & finite_b[:, None], axis=1)
        Bc = np.where(covered[:, None], B, 0.0)
        Bc = np.nan_to_num(Bc)
        x = Bc.T @ a
        out["exposures"][t] = x
        out["contributions"][t] = np.where(x == 0, 0.0, x * np.where(np.isfinite(f), f, 0.0))
        fz = np.where(np.isfinite(f), f, 0.0)
        u = np.where(covered, rt - Bc @ fz, 0.0)
        out["specific"][t] = a @ u
        out["unexplained"][t] = a[~covered] @ rt[~covered]
    return out
# --- portfolio construction ---


def _rank_order(row):
    """Positions of the finite values of ``row`` sorted ascending, ties by position."""
    fin = [j for j in range(len(row)) if np.isfinite(row[j])]
    return sorted(fin, key=lambda j: (row[j], j))


def quantile_portfolio(signal, percentile=0.1, long_short=True):
    """Reference for :func:`ferrofactor.quantile_portfolio`: a loop over dates with Python's
    ``sorted``; n = floor(M · percentile) by ``math.floor`` (with the same 1e-12 guard)."""
    import math

    s = np.atleast_2d(np.asarray(signal, float))
    out = np.zeros_like(s)
    for t in range(s.shape[0]):
        order = _rank_order(s[t])
        n = math.floor(len(order) * percentile + 1e-12)
        if n == 0:
            continue
        for j in order[len(order) - n:]:
            out[t, j] = (0.5 if long_short else 1.0) / n
        if long_short:
            for j in order[:n]:
                out[t, j] = -0.5 / n
    return out[0] if np.ndim(signal) == 1 else out


def top_n(signal, n):
    """Reference for :func:`ferrofactor.top_n`: a loop over dates with Python's ``sorted``."""
    s = np.atleast_2d(np.asarray(signal, float))
    out = np.zeros_like(s)
    for t in range(s.shape[0]):
        order = _rank_order(s[t])
        k = min(n, len(order))
        for j in order[len(order) - k:]:
            out[t, j] = 1.0 / k
    return out[0] if np.ndim(signal) == 1 else out


def signal_weighted(signal, clean=True, scale="gross", limit=3.0):
    """Reference for :func:`ferrofactor.signal_weighted`: the baseline winsorise and standardise,
    then a loop over dates dividing by Σ|z| or Σz²."""
    s = np.atleast_2d(np.asarray(signal, float))
    z = standardize(winsorize(s, "sigma", limit)) if clean else s.copy()
    out = np.zeros_like(s)
    for t in range(s.shape[0]):
        row = np.where(np.isfinite(z[t]), z[t], 0.0)
        d = np.sum(np.abs(row)) if scale == "gross" else np.sum(row * row)
        if d > 0:
            out[t] = row / d
    return out[0] if np.ndim(signal) == 1 else out


def optimize_dense(alpha, cov, *, w0=None, risk_aversion=1.0, long_only=True, budget=1.0, net=None,
                   gross=None, max_weight=None, min_weight=None, turnover=None, exposures=None,
                   neutral=(), factor_bounds=None, max_volatility=None, benchmark=None,
                   linear_bps=None, solver="CLARABEL", solver_options=None):
    """Full-covariance reference for :func:`ferrofactor.optimize`: ``cp.quad_form(w, Σ)`` with
    the dense ``Σ`` (N, N), every asset a variable (pass only the assets the optimiser is free to
    move). ``exposures`` is the dense B (N, K); ``neutral`` and ``factor_bounds`` ({k: (lo, hi)})
    index its columns. Returns ``(weights, status, problem)``. The test oracle and the
    benchmarks' full-covariance form (needs cvxpy)."""
    import cvxpy as cp

    alpha = np.asarray(alpha, float)
    n = alpha.size
    w0 = np.zeros(n) if w0 is None else np.asarray(w0, float)
    b = np.zeros(n) if benchmark is None else np.asarray(benchmark, float)
    w = cp.Variable(n)
    sigma = cp.psd_wrap(np.asarray(cov, float))
    active = w - b
    obj = alpha @ w - risk_aversion * cp.quad_form(active, sigma)
    if linear_bps is not None:
        obj = obj - (np.broadcast_to(np.asarray(linear_bps, float), (n,)) / 1e4) @ cp.abs(w - w0)
    cons = []
    if long_only:
        cons.append(w >= 0)
        if budget is not None:
            cons.append(cp.sum(w) == budget)
    elif budget is not None:
        cons.append(cp.sum(w) == (0.0 if net is None else net))
    if gross is not None:
        cons.append(cp.norm1(w) <= gross)
    if max_weight is not None:
        cons.append(w <= max_weight)
    if min_weight is not None:
        cons.append(w >= min_weight)
    if turnover is not None:
        cons.append(cp.norm1(w - w0) <= turnover)
    if exposures is not None:
        bx = np.asarray(exposures, float).T @ active
        for k in neutral:
            cons.append(bx[k] == 0)
        for k, (lo, hi) in (factor_bounds or {}).items():
            if lo is not None:
                cons.append(bx[k] >= lo)
            if hi is not None:
                cons.append(bx[k] <= hi)
    if max_volatility is not None:
        cons.append(cp.quad_form(active, sigma) <= max_volatility ** 2)
    prob = cp.Problem(cp.Maximize(obj), cons)
    prob.solve(solver=solver, **(solver_options or {}))
    return (None if w.value is None else np.asarray(w.value)), prob.status, prob
