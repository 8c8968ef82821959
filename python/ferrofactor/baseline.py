"""Plain-numpy reference implementations: the test oracle and the benchmark baseline.

Written for clarity, not speed: a Python loop over dates, dense one-hot designs,
``np.linalg.lstsq``/``solve``. Each function has the same signature and conventions as its fast
counterpart in ``ferrofactor`` so that tests and benchmarks can swap one for the other.
"""

from __future__ import annotations

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
    styles]``, substitute the constraint (the last active industry with a positive constraint
    weight expressed via the others: ``X R``), solve ``sqrt(W) X R θ ≈ sqrt(W) y`` with
    ``np.linalg.lstsq`` and map back ``f = R θ``. Same outputs as the fast version.
    """
    from ferrofactor.model import CrossSectionResult

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
            cols.append(sty[t, idx])
            full_pos += [m + G + k for k in range(K)]
        X = np.hstack(cols) if cols else np.zeros((n, 0))
        pc = X.shape[1]

        # Constraint by substitution: f = R θ.
        R = np.eye(pc)
        if constrained and active:
            cw = np.array(
                [c_all[t, idx][ind[t, idx] == g].sum() if use_cap else 1.0 for g in active]
            )
            pos = np.flatnonzero(cw > 0)
            if len(pos) == 0:
                continue
            j = int(pos[-1])
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
        r2_out[t] = 1.0 - ssr / sst if sst > 0 else np.nan
        e_out[t, idx] = e
        f_out[t, full_pos] = f
        if n > p_free:
            sigma2 = ssr / (n - p_free)
            cov = sigma2 * R @ np.linalg.inv(Zw.T @ Zw) @ R.T
            se_out[t, full_pos] = np.sqrt(np.diag(cov))

    names = (
        (["market"] if market else [])
        + (list(industry_names) if industry_names is not None else [f"industry_{g}" for g in range(G)])
        + (list(style_names) if style_names is not None else [f"style_{k}" for k in range(K)])
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        tstats = f_out / se_out
    return CrossSectionResult(f_out, e_out, r2_out, se_out, tstats, n_obs, names)


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
            cols.append(ctl[t, idx])
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


def winsorize(x, method="sigma", limit=3.0, weights=None, groups=None):
    x = np.asarray(x, dtype=np.float64)
    out = np.full(x.shape, np.nan)
    for t in range(x.shape[0]):
        g_row = None if groups is None else np.asarray(groups)[t]
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


def standardize(x, weights=None, groups=None):
    x = np.asarray(x, dtype=np.float64)
    out = np.full(x.shape, np.nan)
    for t in range(x.shape[0]):
        g_row = None if groups is None else np.asarray(groups)[t]
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


def point_in_time(rec_assets, rec_report_dates, rec_values, dates, assets, lag=1, max_staleness=365):
    """Point-in-time values by brute force (oracle for ``read_fundamentals``).

    For every panel date d and asset a: among a's records with ``report_date + lag <= d``, take
    the one with the latest ``report_date``; show its value if ``d - (report_date + lag) <=
    max_staleness`` (None: no limit), else NaN.
    """
    dates = np.asarray(dates, dtype="datetime64[D]")
    rec_assets = [str(a) for a in rec_assets]
    avail = np.asarray(rec_report_dates, dtype="datetime64[D]") + np.timedelta64(lag, "D")
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
