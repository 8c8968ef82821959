"""Inference on small series of estimates: Newey-West bandwidths, kernel covariances and the
Fama-MacBeth summary.

The Fama-MacBeth inference (:func:`fama_macbeth_inference`) works on the small (T, K) series of
per-date estimates and follows linearmodels' ``FamaMacBeth`` exactly (linearmodels 7.1,
``FamaMacBethCovariance`` with ``debiased=True``, its default):

- dates whose estimate has any NaN (too few observations, rank-deficient cross-section, no data)
  are dropped; T counts the dates that are used;
- the parameters are the averages of the T estimates; with the deviations e_t = b_t − b̄,
  the covariance is ``(Σ_t e_t e_tᵀ + Σ_{j=1..m} w_j (Γ_j + Γ_jᵀ)) / (T · (T − 1))`` with
  ``Γ_j = Σ_t e_t e_{t−j}ᵀ`` and Bartlett weights ``w_j = 1 − j / (m + 1)``, m = the integer part of
  the bandwidth; ``"unadjusted"`` is m = 0, i.e. ``var(b_t, ddof=1) / T``;
- the automatic bandwidth is Newey and West's (1994) rule applied to the sum over parameters of the
  standardised deviations ``Σ_k e_tk / std_k`` (population std; a parameter whose estimates never
  vary, such as an industry held at 0 by the constraint, has none and is left out): pilot lags
  ``n = ceil(4 (T/100)^(2/9))``, autocovariances ``σ_j = Σ_t x_t x_{t−j} / T``,
  ``s0 = σ_0 + 2 Σ_{j≤n} σ_j``, ``s1 = 2 Σ_{j≤n} j σ_j``,
  ``m = min(ceil(1.1447 · ((s1/s0)²)^(1/3) · T^(1/3)), T − 1)``; it needs n < T − 1 (T ≥ 4);
- t-statistics are params / std_errors and p-values are two-sided from a t distribution with
  T − 1 degrees of freedom.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from ferrofactor._validate import as_float_array, check_choice, check_real

COV_TYPES = ("unadjusted", "kernel")

#: Largest kernel bandwidth (lags, in dates) :func:`bartlett_weights` builds weights for.
MAX_LAGS = 1_000_000

# Newey-West (1994) automatic bandwidth rule for the Bartlett kernel: q, c, pilot-lag exponent.
_NW_Q, _NW_C, _NW_EXPONENT = 1, 1.1447, 2.0 / 9.0


def _pilot_lags(n: int) -> int:
    return int(math.ceil(4 * (n / 100) ** _NW_EXPONENT))


def _min_periods_automatic_bandwidth() -> int:
    n = 1
    while _pilot_lags(n) >= n - 1:
        n += 1
    return n


def newey_west_bandwidth(x: np.ndarray) -> int:
    """Newey-West (1994) automatic bandwidth of the Bartlett kernel for a 1-d series ``x``.

    Returns ``min(ceil(m̂), T − 1)``; see the module docstring for the rule. Raises ``ValueError``
    when the series is too short (T < 4) or the rule is not finite (e.g. a series of zeros).
    """
    x = as_float_array("x", x, 1)
    t = x.shape[0]
    n = _pilot_lags(t)
    if n >= t - 1:
        raise ValueError(
            f"the automatic Newey-West bandwidth needs at least "
            f"{_min_periods_automatic_bandwidth()} periods, got {t} (x); pass bandwidth explicitly"
        )
    rate = 1.0 / (2 * _NW_Q + 1)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        sigma = np.empty(n + 1)
        sigma[0] = x @ x / t
        for j in range(1, n + 1):
            sigma[j] = x[j:] @ x[:-j] / t
        s0 = sigma[0] + 2 * sigma[1:].sum()
        sq = 2 * np.sum(sigma[1:] * np.arange(1, n + 1) ** _NW_Q)
        m = _NW_C * ((sq / s0) ** 2) ** rate * t**rate
    if not np.isfinite(m):
        raise ValueError(
            "the automatic Newey-West bandwidth of x is not finite (the estimates do not vary or "
            "are not finite); pass bandwidth explicitly"
        )
    return min(int(math.ceil(m)), t - 1)


def bartlett_weights(bandwidth: float) -> np.ndarray:
    """Bartlett kernel weights for lags 0..m, m = int(bandwidth): ``1 − j / (m + 1)``.

    ``bandwidth`` is a finite number in ``[0, 1e6]`` (lags, in dates)."""
    m = int(check_real("bandwidth", bandwidth, lo=0.0, hi=float(MAX_LAGS)))
    return 1.0 - np.arange(m + 1) / (m + 1)


def kernel_covariance(e: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``(eᵀe + Σ_{j≥1} w_j (Γ_j + Γ_jᵀ)) / T`` for mean-zero (T, K) ``e`` (lag-0 weight unused)."""
    e = as_float_array("e", e, 2)
    weights = as_float_array("weights", weights, 1)
    n = e.shape[0]
    if n == 0:
        return np.full((e.shape[1], e.shape[1]), np.nan)
    s = e.T @ e
    for j in range(1, len(weights)):
        op = e[j:].T @ e[:-j]
        s += weights[j] * (op + op.T)
    return s / n


#: Columns whose largest magnitude is beyond 2^±RANGE are scaled by a power of two before sums of
#: their squares and cross-products, which need about 2^±500 of headroom (see ``_range_exponents``).
RANGE = 300


def _range_exponents(a: np.ndarray) -> np.ndarray:
    """Per column of ``a`` (T, C): the binary exponent of its largest finite magnitude where that
    is beyond ``2^±RANGE`` (scaling the column by ``2^-e`` brings it to [0.5, 1)), else 0."""
    with np.errstate(invalid="ignore"):
        amax = np.nanmax(np.abs(a), axis=0, initial=0.0) if a.size else np.zeros(a.shape[1])
    far = (amax > 2.0**RANGE) | ((amax > 0) & (amax < 2.0**-RANGE))
    return np.where(far, np.frexp(amax)[1], 0).astype(np.int64)


def fama_macbeth_inference(
    estimates: np.ndarray, cov: str = "unadjusted", bandwidth: float | None = None,
    *, nan_policy: str = "row",
) -> dict:
    """Fama-MacBeth summary of a (T, K) series of per-date estimates.

    Parameters
    ----------
    estimates : ndarray, shape (T, K)
        One row of estimates per date, NaN where not estimated.
    cov : {"unadjusted", "kernel"}
        Plain standard errors of the mean, or Newey-West (Bartlett kernel) standard errors.
    bandwidth : float, optional
        Kernel bandwidth (its integer part is the number of lags), ``0 <= bandwidth < T``.
        Default: the Newey-West (1994) automatic rule. Ignored for ``"unadjusted"``.
    nan_policy : {"row", "column"}
        ``"row"`` (linearmodels): a date with any NaN is dropped for every parameter.
        ``"column"``: each parameter uses the dates where it is finite (an industry that is
        empty on a date does not remove the date for the other factors); in the kernel sums a
        missing deviation counts as 0 at its calendar position, the automatic bandwidth uses the
        sum over parameters of the available standardised deviations on dates with any finite
        estimate, and T is counted per parameter. Without partial NaN rows both policies agree.

    Returns
    -------
    dict with params (K,), cov (K, K) (NaN off-diagonal under "column"), std_errors, tstats,
    pvalues (K,), n_periods (int for "row", (K,) ints for "column"), df_resid, bandwidth (float;
    0 for unadjusted, NaN if unavailable), used (T,) bool (dates used by any parameter) and
    reason (str): empty, or why the standard errors are NaN (no dates, a single date, too few
    dates for the automatic bandwidth, a bandwidth not below the number of dates used). Too few
    estimable dates never raise: NaN-heavy panels give NaN standard errors and say why.

    Raises
    ------
    ValueError
        A bad ``cov``/``nan_policy`` or a negative / non-finite ``bandwidth``.
    """
    est = as_float_array("estimates", estimates, 2)
    check_choice("cov", cov, COV_TYPES)
    check_choice("nan_policy", nan_policy, ("row", "column"))
    if bandwidth is not None:
        if isinstance(bandwidth, bool) or not isinstance(bandwidth, (int, float, np.integer, np.floating)):
            raise TypeError(f"bandwidth must be a number or None, got {bandwidth!r}")
        if not np.isfinite(bandwidth) or bandwidth < 0:
            raise ValueError(f"bandwidth must be a non-negative finite number, got {bandwidth!r}")
    K = est.shape[1]
    ex = _range_exponents(np.where(np.isinf(est), np.nan, est))
    if ex.any():
        # estimates beyond 2^±RANGE (e.g. from returns around 1e-160): their squares underflow
        # (standard errors of 0, infinite t-statistics) or overflow; the same inference on the
        # columns scaled by powers of two (exact), scaled back
        out = fama_macbeth_inference(np.ldexp(est, -ex), cov, bandwidth, nan_policy=nan_policy)
        with np.errstate(over="ignore", under="ignore"):
            out["params"] = np.ldexp(out["params"], ex)
            out["std_errors"] = np.ldexp(out["std_errors"], ex)
            out["cov"] = np.ldexp(out["cov"], ex[:, None] + ex[None, :])
        return out
    fin = np.isfinite(est)
    if nan_policy == "row":
        used = np.all(fin, axis=1)
        b = est[used]
        mask = np.ones_like(b, dtype=bool)
    else:
        used = np.any(fin, axis=1)
        b = np.where(fin, est, 0.0)[used]
        mask = fin[used]
    counts = mask.sum(axis=0)  # periods per parameter
    n_rows = b.shape[0]
    nan_k = np.full(K, np.nan)
    n_periods = int(n_rows) if nan_policy == "row" else counts.astype(np.int64)
    out = {
        "params": nan_k.copy(), "cov": np.full((K, K), np.nan), "std_errors": nan_k.copy(),
        "tstats": nan_k.copy(), "pvalues": nan_k.copy(), "n_periods": n_periods,
        "df_resid": n_periods - 1, "bandwidth": 0.0 if cov == "unadjusted" else np.nan,
        "used": used, "reason": "",
    }
    if n_rows == 0:
        out["reason"] = "no date has an estimate"
        return out
    with np.errstate(divide="ignore", invalid="ignore"):
        if nan_policy == "row":
            params = b.mean(axis=0)
        else:
            params = np.where(counts > 0, b.sum(axis=0) / counts, np.nan)
    out["params"] = params
    e = np.where(mask, b - params, 0.0) if nan_policy == "column" else b - params
    if cov == "unadjusted":
        bw = 0.0
    else:
        if bandwidth is None:
            # parameters whose estimates never vary (e.g. an industry forced to 0 by the
            # constraint in a one-industry model) have no standardised deviation: left out of
            # the sum (0/0 would make every parameter's bandwidth NaN)
            with np.errstate(divide="ignore", invalid="ignore"):
                if nan_policy == "row":
                    sd = e.std(0)
                    live = sd > 0
                else:  # (e is 0 where a parameter has no estimate)
                    sd = np.sqrt((e**2).sum(axis=0) / np.maximum(counts, 1))
                    live = (counts > 1) & (sd > 0)
                stde = np.sum(e[:, live] / sd[live][None, :], axis=1)
            try:
                bw = float(newey_west_bandwidth(stde))
            except ValueError as exc:  # too few dates, or estimates that do not vary
                out["reason"] = f"Newey-West standard errors are NaN: {exc}"
                return out
        else:
            bw = float(bandwidth)
            if bw >= n_rows:
                out["reason"] = (
                    f"Newey-West standard errors are NaN: the bandwidth {bandwidth!r} is not below "
                    f"the number of dates used ({n_rows})"
                )
                return out
    out["bandwidth"] = bw
    w = bartlett_weights(bw)
    with np.errstate(divide="ignore", invalid="ignore"):
        if nan_policy == "row":
            if n_rows < 2:
                out["reason"] = "standard errors are NaN: a single date has an estimate"
                return out
            c = kernel_covariance(e, w) / (n_rows - 1)
            se = np.sqrt(np.diag(c))
        else:
            # per parameter: the kernel sums over its calendar series with gaps as 0
            s = (e * e).sum(axis=0)
            for j in range(1, len(w)):
                s += 2 * w[j] * (e[j:] * e[:-j]).sum(axis=0)
            var = s / counts / (counts - 1)
            var[(counts < 2) | (bw >= counts)] = np.nan
            if np.any(counts < 2):
                few = int(np.sum(counts < 2))
                out["reason"] = f"standard errors are NaN for {few} parameters estimated on fewer than 2 dates"
            c = np.full((K, K), np.nan)
            c[np.diag_indices(K)] = var
            se = np.sqrt(var)
        t = params / se
        pv = 2 * stats.t.sf(np.abs(t), np.asarray(n_periods) - 1)
    out.update(cov=c, std_errors=se, tstats=t, pvalues=pv)
    return out


