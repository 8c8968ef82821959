"""Factor covariance: EWMA volatilities and correlations with Newey-West terms, made PSD.

``Σf[t]`` (K, K) for every date: exponentially weighted volatilities (half-life
``vol_half_life``) and correlations (``corr_half_life``), each with a Newey-West adjustment
(Bartlett weights, ``newey_west_lags = (vol_lags, corr_lags)``), combined as ``diag(σ) C diag(σ)``
(the time recursion in Rust, ``_core.risk_factor_covariance``). The Newey-West terms and the
pairwise handling of missing returns can break positive semi-definiteness: on the dates where the
matrix is not PSD beyond rounding (a Cholesky pivot below ``-1e-10·a_jj``, tested in Rust) its
negative eigenvalues are clipped to zero on the block of factors with a finite diagonal, with
LAPACK (``numpy.linalg.eigh``). Row ``t`` uses factor returns up to and including ``t``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ferrofactor import _core
from ferrofactor._validate import as_float_array, check_int, check_real

__all__ = ["check_psd", "factor_covariance"]

# Relative tolerance of the PSD check of a user factor covariance (as PSD_TOL in the Rust core).
PSD_TOL = 1e-10


def check_lags(name: str, lags: Any, t: int) -> int:
    """A Newey-West lag count: an integer in ``0..T`` (T = the number of dates; more lags than
    dates have no data, and each lag costs memory and time in every date's update)."""
    v = check_int(name, lags, 0)
    if v > t:
        raise ValueError(f"{name} ({v}) must be at most the number of dates ({t})")
    return v


def check_psd(name: str, fc: np.ndarray) -> None:
    """ValueError unless ``fc`` (K, K) is finite, symmetric (Rust check) and positive
    semi-definite: smallest eigenvalue ≥ -1e-10 · largest |eigenvalue|."""
    fc = as_float_array(name, fc, 2)
    try:
        _core.risk_check_factor_covariance(fc)
    except ValueError as e:
        # the kernel names its argument factor_covariance: name it as the caller knows it
        msg = str(e)
        msg = name + msg[len("factor_covariance"):] if msg.startswith("factor_covariance") else f"{name}: {msg}"
        raise ValueError(msg) from None
    if fc.shape[0] == 0:
        return
    vals = np.linalg.eigvalsh(fc)
    lo, hi = float(vals.min()), float(np.abs(vals).max())
    if lo < -PSD_TOL * hi:
        raise ValueError(f"{name} must be positive semi-definite, smallest eigenvalue is {lo:.3e}")


def clip_valid_blocks(cov: np.ndarray, not_psd: np.ndarray) -> np.ndarray:
    """Clip negative eigenvalues in place on the dates flagged ``not_psd`` (T,), on the block of
    factors with a finite diagonal: ``V max(Λ, 0) Vᵀ`` (symmetrised). Returns the (T,) flags of
    the dates actually clipped. Dates with the same valid block share one batched ``eigh``."""
    clipped = np.zeros(cov.shape[0], bool)
    dates = np.flatnonzero(not_psd)
    if dates.size == 0:
        return clipped
    masks = np.isfinite(np.diagonal(cov[dates], axis1=1, axis2=2))
    patterns, group = np.unique(masks, axis=0, return_inverse=True)
    for g, ok in enumerate(patterns):
        if not ok.any():
            continue
        ts = dates[group.reshape(-1) == g]
        cols = np.flatnonzero(ok)
        sub = cov[ts][:, cols][:, :, cols]
        vals, vecs = np.linalg.eigh(sub)
        neg = vals.min(axis=1) < 0
        if not neg.any():
            continue
        vals, vecs, ts = vals[neg], vecs[neg], ts[neg]
        fixed = (vecs * np.maximum(vals, 0.0)[:, None, :]) @ vecs.transpose(0, 2, 1)
        fixed = 0.5 * (fixed + fixed.transpose(0, 2, 1))
        cov[np.ix_(ts, cols, cols)] = fixed
        clipped[ts] = True
    return clipped


def factor_covariance(f, vol_half_life, corr_half_life, vol_lags, corr_lags, min_periods):
    """Factor covariance (T, K, K) from the Rust recursion, made PSD on the dates where it is not
    PSD beyond rounding. Returns ``(cov, clipped (T,))``.

    ``f`` (T, K) factor returns (NaN = missing); half-lives positive finite numbers (dates);
    ``vol_lags``/``corr_lags`` Newey-West lags ``0 <= lags <= T``; ``min_periods >= 1``."""
    f = as_float_array("f", f, 2)
    t = f.shape[0]
    vol_half_life = check_real("vol_half_life", vol_half_life, lo=0.0, lo_open=True)
    corr_half_life = check_real("corr_half_life", corr_half_life, lo=0.0, lo_open=True)
    vol_lags = check_lags("vol_lags", vol_lags, t)
    corr_lags = check_lags("corr_lags", corr_lags, t)
    min_periods = check_int("min_periods", min_periods, 1)
    cov, not_psd = _core.risk_factor_covariance(f, vol_half_life, corr_half_life, vol_lags, corr_lags, min_periods)
    return cov, clip_valid_blocks(cov, not_psd)
