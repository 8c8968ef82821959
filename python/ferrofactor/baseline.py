"""Plain-numpy reference implementations: the test oracle and the benchmark baseline.

Written for clarity, not speed: a Python loop over dates, dense one-hot designs,
``np.linalg.lstsq``/``solve``. Each function has the same signature and conventions as its fast
counterpart in ``ferrofactor`` so that tests and benchmarks can swap one for the other.
"""

from __future__ import annotations

import numpy as np  # noqa: F401


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
