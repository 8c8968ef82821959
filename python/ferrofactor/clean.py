"""Cross-sectional cleaning of factor exposures, one date (row) at a time.

Every function takes a panel ``x`` shaped ``(T, N)`` (dates × assets), float, with NaN where
missing, and returns a new C-contiguous float64 array of the same shape. The work runs in Rust,
in parallel over dates, with the GIL released; results do not depend on the number of threads.

Conventions shared by all functions:

- Only finite values take part: NaN (and ±inf, treated as missing) come back NaN.
- ``industry`` (winsorize, standardize, neutralize): ``(T, N)`` integer industry codes, ``-1`` =
  none. The statistics are computed within each industry on each date; values whose code is
  ``-1`` come back NaN. Any integer codes (e.g. 8-digit GICS) are accepted. As a frame (below),
  a (date, asset) it does not fill (no row of a long frame, a null) has code ``-1``.
- Labels: ``x`` (and the other ``(T, N)`` arguments) may be a Polars DataFrame, long (``date``,
  ``asset``, one value column) or wide (``date`` plus one column per asset); the result then
  comes back as a frame of the same form with the same labels.
- ``weights`` (standardize, winsorize with ``method="sigma"``): ``(T, N)``, non-negative, e.g.
  market cap. They only move the centre (a weighted mean, as in Barra); the dispersion is always
  the equal-weighted sample standard deviation (ddof = 1). A NaN weight means the value does not
  count in the weighted mean but is still transformed. A date (or group) whose usable weight sum
  is 0 (all weights NaN or 0) comes back all NaN.

Numeric arrays of another dtype (float32, int, bool) or layout (Fortran order, strided views) are
converted once; non-numeric arrays raise ``TypeError``; wrong shapes and bad values raise
``ValueError`` naming the argument.
"""

from __future__ import annotations

import math
from numbers import Real
from typing import Any

import numpy as np
from scipy.special import ndtri

from ferrofactor import _core
from ferrofactor._validate import (
    as_float_array,
    as_industry,
    check_bool,
    check_choice,
    check_shape,
    frame_io,
)


__all__ = ["neutralize", "rank", "standardize", "winsorize"]

WINSOR_METHODS = ("sigma", "quantile", "mad")



def _weights(weights: Any, shape: tuple[int, ...]) -> np.ndarray | None:
    w = as_float_array("weights", weights, 2, allow_none=True)
    if w is None:
        return None
    check_shape("weights", w, shape, "the shape of x")
    # Negative or infinite values are rejected by the Rust kernel, row by row in the pass that
    # already reads the weights (a ValueError naming `weights`, with the count, as
    # _validate.check_weights words it); checking here too would cost two more passes over a
    # full-universe panel.
    return w


def _zero_exact_fits(res: np.ndarray, x: np.ndarray, n_controls: int = 0,
                     industry: np.ndarray | None = None) -> np.ndarray:
    """``res`` (T, N), residuals of ``x`` (T, N) from :func:`neutralize` (on ``n_controls``
    controls and the codes ``industry``), with 0 (NaN kept) on the dates that the regression fits
    exactly (no more assets than regressors): their residual is rounding, ~1e-16 of ``x``, which
    :func:`standardize` would scale up to values of about ±1. Such a date has no dispersion left,
    and standardize then gives it 0 as it does a constant date. A date with more assets than
    regressors keeps its residual however small against ``x`` (a signal around 1e10 with a unit
    spread). A date whose signal the regressors explain (a constant, an industry-level signal, a
    control plus industry levels: the residual is under 1e-9 of the spread ``max − min`` of ``x``
    over the assets used, or ``x`` has no spread there) has nothing left either: 0 too. In place;
    returns ``res``."""
    def largest(a: np.ndarray) -> np.ndarray:
        # per row, the largest |value| among the finite ones (-inf for none); NaN-skipping
        # reductions, so no float (T, N) temporary unless there is an infinite value
        if np.isinf(a).any():
            a = np.where(np.isinf(a), np.nan, a)
        return np.maximum(np.fmax.reduce(a, axis=1, initial=-np.inf), -np.fmin.reduce(a, axis=1, initial=np.inf))

    # the finite values of x the regression used (those with a residual), per row: no (T, N)
    # float temporary
    ok = ~np.isnan(res)
    ok &= np.isfinite(x)
    hi = np.max(x, axis=1, where=ok, initial=-np.inf)
    lo = np.min(x, axis=1, where=ok, initial=np.inf)
    top = largest(res)
    # the scale of the values the regression used
    exact = top <= 1e-9 * np.maximum(hi, -lo)
    # and no more assets (those with a residual) than regressors: the constant, the controls and
    # the industries present (an upper bound); only the few candidate dates are counted
    for t in np.flatnonzero(exact):
        used = ~np.isnan(res[t])
        p = 1 + n_controls
        if industry is not None:
            p += np.unique(industry[t][used]).size
        exact[t] = np.count_nonzero(used) <= p
    # a signal in the span of the regressors: its residual is rounding against its own spread
    # (which a level far from zero does not change: 1e10 + a unit spread keeps its residual)
    spread = hi - lo
    with np.errstate(invalid="ignore"):
        explained = (top <= 1e-9 * spread) | (spread == 0)
    exact |= explained & np.isfinite(top)
    res[exact] = np.where(np.isfinite(res[exact]), 0.0, np.nan)
    return res


def _industry(industry: Any, shape: tuple[int, ...]) -> np.ndarray | None:
    if industry is None:
        return None
    return as_industry("industry", industry, shape)[0]


def _limit(limit: Any, method: str) -> float:
    if isinstance(limit, bool) or not isinstance(limit, Real):
        raise TypeError(f"limit must be a real number, got {type(limit).__name__}")
    value = float(limit)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"limit must be finite and > 0, got {limit!r}")
    if method == "quantile" and not value < 0.5:
        raise ValueError(f"limit must be in (0, 0.5) for method 'quantile', got {limit!r}")
    return value


@frame_io
def winsorize(
    x: Any,
    method: str = "sigma",
    limit: float = 3.0,
    weights: Any = None,
    industry: Any = None,
) -> np.ndarray:
    """Clip each date's values at robust bounds.

    Parameters
    ----------
    x : array_like, shape (T, N)
        Values per date (rows) and asset (columns); NaN = missing.
    method : {"sigma", "quantile", "mad"}, default "sigma"
        How the bounds of each date (or date and group) are found from its finite values:

        - ``"sigma"``: ``centre ± limit·std``, centre = the weighted mean when ``weights`` are
          given, else the mean; std = the sample standard deviation (ddof = 1, equal-weighted).
        - ``"quantile"``: the ``limit`` and ``1 − limit`` quantiles, numpy's default "linear"
          definition (``np.quantile``); ``limit`` must be in (0, 0.5).
        - ``"mad"``: ``median ± limit·1.4826·MAD`` with ``MAD = median|x − median|`` (numpy's
          median: the mean of the two middle values for an even count). If more than half of the
          values equal the median, MAD = 0 and every value is clipped to the median.
    limit : float, default 3.0
        Number of standard deviations ("sigma") or MAD-sigmas ("mad"), or the tail probability
        ("quantile"). Must be finite and > 0.
    weights : array_like, shape (T, N), optional
        Non-negative weights for the centre of ``"sigma"`` (e.g. market cap); NaN = the value
        does not count in the mean but is still clipped. Only allowed with ``"sigma"``.
    industry : array_like of int, shape (T, N), optional
        Industry codes (-1 = none): bounds are computed within each industry on each date.

    Returns
    -------
    numpy.ndarray, shape (T, N), float64
        The clipped values. NaN where ``x`` is NaN (or ±inf), where the group code is -1, and on
        dates/groups whose usable weight sum is 0. A date or group with fewer than two values, or
        whose values are all equal, is returned unchanged. Any finite magnitudes work (see
        :func:`standardize`).

    Examples
    --------
    >>> import numpy as np, ferrofactor as ff
    >>> ff.winsorize(np.array([[1.0, 2.0, 3.0, 4.0, 100.0]]), method="mad", limit=1.0)
    array([[1.5174, 2.    , 3.    , 4.    , 4.4826]])
    """
    check_choice("method", method, WINSOR_METHODS)
    lim = _limit(limit, method)
    if weights is not None and method != "sigma":
        raise ValueError(f"weights is only used by method 'sigma'; got method={method!r} with weights")
    xa = as_float_array("x", x, 2)
    w = _weights(weights, xa.shape)
    g = _industry(industry, xa.shape)
    return _core.winsorize(xa, method, lim, w, g)


@frame_io
def standardize(
    x: Any,
    weights: Any = None,
    industry: Any = None,
    winsorize: str | None = None,
    limit: float = 3.0,
) -> np.ndarray:
    """Z-score each date's values: ``(x − centre) / std``, optionally winsorising them first.

    Parameters
    ----------
    x : array_like, shape (T, N)
        Values per date (rows) and asset (columns); NaN = missing.
    weights : array_like, shape (T, N), optional
        Non-negative weights for the centre (e.g. market cap, as in Barra): centre = the
        weighted mean of the finite values, else their plain mean. NaN weight = the value does
        not count in the mean but is still standardised.
    industry : array_like of int, shape (T, N), optional
        Industry codes (-1 = none): standardise within each industry on each date.
    winsorize : {None, "sigma", "quantile", "mad"}, default None
        If given, winsorise each date (or date and group) with this method first, as
        :func:`winsorize` does, then standardise the clipped values. This is the fused form of
        ``standardize(winsorize(x, winsorize, limit, weights=(weights if winsorize == "sigma"
        else None), industry=industry), weights=weights, industry=industry)`` and returns exactly the
        same array (bit for bit: the same per-date routines run in the same order), but reads
        ``x`` and ``weights`` once and writes one output, so it is faster on large panels.
        ``weights`` move the centre of the ``"sigma"`` bounds and of the z-score; the
        ``"quantile"`` and ``"mad"`` bounds are unweighted.
    limit : float, default 3.0
        The winsorisation ``limit`` (see :func:`winsorize`); only used with ``winsorize``.
        Must be finite and > 0 (and < 0.5 for ``"quantile"``).

    Returns
    -------
    numpy.ndarray, shape (T, N), float64
        ``(x − centre) / std`` with std the equal-weighted sample standard deviation (ddof = 1)
        of the finite values of that date (or group). So the result has weighted mean 0 and
        sample std 1 per date. A date/group with a single value or zero dispersion (all values
        equal) gives 0 for its finite values; one whose usable weight sum is 0 gives NaN. NaN
        where ``x`` is NaN (or ±inf) or the group code is -1.

    Notes
    -----
    Any finite magnitudes are standardised correctly: a date whose plain sums would overflow (a
    value around 1e154 or above: its square overflows) or underflow (a spread around 1e-150 or
    below) is computed on its values scaled by a power of two, which is exact, so it is never
    turned into zeros. Other dates take the plain path, bit for bit.

    Examples
    --------
    >>> import numpy as np, ferrofactor as ff
    >>> ff.standardize(np.array([[1.0, 2.0, 3.0, 4.0, 5.0], [7.0, 7.0, 7.0, np.nan, 7.0]])).round(4)
    array([[-1.2649, -0.6325,  0.    ,  0.6325,  1.2649],
           [ 0.    ,  0.    ,  0.    ,     nan,  0.    ]])
    """
    lim = 3.0
    if winsorize is not None:
        check_choice("winsorize", winsorize, WINSOR_METHODS)
        lim = _limit(limit, winsorize)
    xa = as_float_array("x", x, 2)
    w = _weights(weights, xa.shape)
    g = _industry(industry, xa.shape)
    if winsorize is None:
        return _core.standardize(xa, w, g)
    return _core.standardize(xa, w, g, winsorize, lim)


@frame_io
def rank(x: Any, gaussian: bool = False) -> np.ndarray:
    """Cross-sectional ranks per date, scaled to (0, 1), or their normal quantiles.

    Parameters
    ----------
    x : array_like, shape (T, N)
        Values per date (rows) and asset (columns); NaN = missing.
    gaussian : bool, default False
        If True, map the scaled ranks through the standard normal quantile function
        (``scipy.special.ndtri``), giving "rank-normal" scores.

    Returns
    -------
    numpy.ndarray, shape (T, N), float64
        ``r / (n + 1)`` where ``r`` is the average rank of the value among that date's finite
        values (1 = smallest; ties share the mean of their ranks, as
        ``scipy.stats.rankdata(method="average")``) and ``n`` their count; or ``ndtri`` of it.
        NaN where ``x`` is NaN (or ±inf).

    Examples
    --------
    >>> import numpy as np, ferrofactor as ff
    >>> ff.rank(np.array([[3.0, 1.0, 3.0, np.nan, 2.0]]))
    array([[0.7, 0.2, 0.7, nan, 0.4]])
    """
    gaussian = check_bool("gaussian", gaussian)
    xa = as_float_array("x", x, 2)
    r = _core.rank(xa)
    if gaussian:
        ndtri(r, out=r)
    return r


@frame_io
def neutralize(x: Any, controls: Any = None, industry: Any = None, weights: Any = None) -> np.ndarray:
    """Residual of a per-date weighted regression of ``x`` on an intercept, controls and industries.

    For each date ``t`` regresses ``x[t]`` by weighted least squares on a constant, the columns of
    ``controls[t]`` and the industry dummies of ``industry[t]`` (used as codes, never expanded),
    and returns the residual. The residual is orthogonal, in the weighted inner product, to every
    regressor: ``Σ_i w_i e_i z_i = 0`` for the constant, each control and each industry dummy.

    Parameters
    ----------
    x : array_like, shape (T, N)
        Values to neutralise, NaN where missing.
    controls : array_like, shape (T, N, C), optional
        Control variables (e.g. log size); an observation with any NaN control is dropped.
    industry : array_like of int, shape (T, N), optional
        Industry codes (any integers), -1 = none (dropped).
    weights : array_like, shape (T, N), optional
        Regression weights; NaN or 0 drops the observation, negative or infinite raises.
        Default: equal weights.

    Returns
    -------
    ndarray, shape (T, N)
        Residuals; NaN where the observation was not used, and on dates with fewer usable
        observations than regressors or a singular design.

    Examples
    --------
    >>> import numpy as np, ferrofactor as ff
    >>> ff.neutralize(np.array([[1.0, 2.0, 3.0, 6.0]]))
    array([[-2., -1.,  0.,  3.]])
    """
    xv = as_float_array("x", x, 2)
    T, N = xv.shape
    ctl = as_float_array("controls", controls, 3, allow_none=True)
    if ctl is not None and ctl.shape[:2] != (T, N):
        raise ValueError(f"controls has shape {ctl.shape}, expected ({T}, {N}, C) to match x {xv.shape}")
    codes = None
    G = 0
    if industry is not None:
        codes, names = as_industry("industry", industry, (T, N))
        G = len(names)
    w = as_float_array("weights", weights, 2, allow_none=True)
    if w is not None:
        check_shape("weights", w, (T, N), f"to match x {xv.shape}")
        # negative / infinite weights are rejected by the kernel while it reads each date
    return _core.neutralize(xv, ctl, codes, G, w)
