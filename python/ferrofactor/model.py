"""Cross-sectional factor models: the batched regression and its result.

``cross_section_regress`` runs one weighted least-squares regression per date of the returns on
the exposures (market, industries as codes, styles) in the Rust core, in parallel over dates.
``FactorModel`` fits it with explicitly lagged exposures (and optional robust clipping of return
outliers) and summarises the factor returns à la Fama-MacBeth; ``fama_macbeth`` is the classic
estimator on (T, N, K) characteristics. Their results live in :mod:`ferrofactor.results`.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np

from ferrofactor import _core
from ferrofactor._validate import (
    as_code_array,
    as_float_array,
    check_choice,
    check_shape,
    check_weights,
)
from ferrofactor.clean import winsorize
from ferrofactor.exposures import Exposures
from ferrofactor.results import COV_TYPES, FactorModelResult, FamaMacBethResult

__all__ = ["CrossSectionResult", "cross_section_regress"]

_CONSTRAINTS = ("cap", "equal", None)


class CrossSectionResult:
    """Per-date results of :func:`cross_section_regress`.

    Attributes
    ----------
    factor_returns : ndarray, shape (T, P)
        Factor returns (decimal, per period), in the order of ``factor_names``. NaN for an
        industry with no member on a date and for every factor on a degenerate date.
    residuals : ndarray, shape (T, N)
        Specific returns ``r - X f``; NaN where the observation was not used.
    r2 : ndarray, shape (T,)
        Weighted R². Centred when the design spans a constant (``market=True``, or industries
        without a constraint), uncentred otherwise (the statsmodels convention).
    std_errors : ndarray, shape (T, P)
        Classic WLS standard errors, ``σ² = Σ w e² / (n_obs − p_free)`` with ``p_free`` the number
        of free parameters after the industry constraint. NaN when ``n_obs == p_free``.
    tstats : ndarray, shape (T, P)
        ``factor_returns / std_errors``.
    n_obs : ndarray of int64, shape (T,)
        Observations used on each date (reported also for degenerate dates).
    factor_names : list of str, length P
        ``["market"] + industry names + style names``.
    """

    def __init__(
        self,
        factor_returns: np.ndarray,
        residuals: np.ndarray,
        r2: np.ndarray,
        std_errors: np.ndarray,
        tstats: np.ndarray,
        n_obs: np.ndarray,
        factor_names: Sequence[str],
    ) -> None:
        self.factor_returns = factor_returns
        self.residuals = residuals
        self.r2 = r2
        self.std_errors = std_errors
        self.tstats = tstats
        self.n_obs = n_obs
        self.factor_names = list(factor_names)

    def to_polars(self, dates: Any = None):
        """Factor returns as a wide Polars frame: a ``date`` column and one column per factor.

        Parameters
        ----------
        dates : array_like, shape (T,), optional
            Values of the ``date`` column (e.g. ``datetime64[D]``); default ``0..T-1``.

        Returns
        -------
        polars.DataFrame
            Shape (T, 1 + P).
        """
        import polars as pl

        T = self.factor_returns.shape[0]
        if dates is None:
            dates = np.arange(T, dtype=np.int64)
        else:
            dates = np.asarray(dates)
            if dates.shape != (T,):
                raise ValueError(f"dates has shape {dates.shape}, expected ({T},)")
        if "date" in self.factor_names:
            raise ValueError("a factor is named 'date', which clashes with the date column")
        cols = {"date": dates}
        for j, name in enumerate(self.factor_names):
            cols[name] = self.factor_returns[:, j]
        return pl.DataFrame(cols)

    def __repr__(self) -> str:
        T, P = self.factor_returns.shape
        return f"CrossSectionResult(T={T}, factors={P}, mean n_obs={float(np.mean(self.n_obs)) if T else 0:.1f})"


def cross_section_regress(
    returns: Any,
    styles: Any = None,
    industry: Any = None,
    weights: Any = None,
    market: bool = True,
    industry_constraint: str | None = "cap",
    cap: Any = None,
    style_names: Sequence[str] | None = None,
    industry_names: Sequence[str] | None = None,
) -> CrossSectionResult:
    """Batched cross-sectional weighted least squares, one regression per date.

    For each date ``t`` fits ``r_ti = [f_mkt] + f_{g(ti)} + Σ_k x_tik f_k + e_ti`` by WLS, with
    industry factors built from the codes (never as dummies) and, when a market factor is
    present, the industry factor returns constrained so that ``Σ_g c_g f_g = 0``.

    Parameters
    ----------
    returns : array_like, shape (T, N)
        Asset returns (decimal), NaN where missing. ``returns[t]`` should be explained by
        exposures known at ``t-1``: lag the exposures yourself (``Exposures.lag``).
    styles : array_like, shape (T, N, K), optional
        Style exposures; an observation with any NaN style is dropped on that date.
    industry : array_like of int, shape (T, N), optional
        Industry codes ``0..G-1``, -1 = none (dropped). ``G = len(industry_names)`` when names
        are given, else ``max code + 1``.
    weights : array_like, shape (T, N), optional
        Regression weights (e.g. ``sqrt(cap)``). NaN or 0 drops the observation; negative or
        infinite values raise ``ValueError``. Default: ``sqrt(cap)`` when ``cap`` is given,
        else equal weights.
    market : bool, default True
        Include a market (intercept) factor.
    industry_constraint : {"cap", "equal", None}, default "cap"
        ``"cap"``: ``Σ_g cap_g f_g = 0`` with ``cap_g`` the summed ``cap`` of the industry's
        used members that date (the market factor is then the cap-weighted market);
        ``"equal"``: ``Σ_g f_g = 0``; ``None``: no constraint, only valid with ``market=False``
        (else the design is singular). Industries empty on a date are left out.
    cap : array_like, shape (T, N), optional
        Market capitalisations, required for ``"cap"`` when industries are used. NaN drops the
        observation (only when the cap constraint is in use); negative or infinite values raise.
    style_names, industry_names : sequence of str, optional
        Factor names; default ``style_0..`` and ``industry_0..``.

    Returns
    -------
    CrossSectionResult
        ``factor_returns`` (T, P), ``residuals`` (T, N), ``r2`` (T,), ``std_errors`` (T, P),
        ``tstats`` (T, P), ``n_obs`` (T,) and ``factor_names`` with
        ``P = market + G + K``. A style that is constant over a date's used observations (no
        dispersion, e.g. all zeros while a descriptor warms up) drops out of that date: its
        factor return, standard error and t-statistic are NaN and the other factors are still
        estimated. Dates with fewer usable observations than free parameters, or a singular
        design, are NaN (their ``n_obs`` is still reported); nothing is raised for them.

    Raises
    ------
    TypeError
        A non-numeric array.
    ValueError
        Shapes that do not match ``returns``, bad weights or cap, industry codes out of range,
        an unknown constraint, a missing ``cap``, or ``industry_constraint=None`` with
        ``market=True`` and industries.

    Examples
    --------
    >>> import numpy as np, ferrofactor as ff
    >>> g = np.array([1.28, 0.55, 0.15, -0.26, -1.72])
    >>> r = np.array([1.2, 0.3, -0.1, -0.4, -1.5]) / 100
    >>> res = ff.cross_section_regress(r[None], styles=g[None, :, None], market=False)
    >>> round(float(res.factor_returns[0, 0]), 5)
    0.00876
    """
    check_choice("industry_constraint", industry_constraint, _CONSTRAINTS)
    y = as_float_array("returns", returns, 2)
    T, N = y.shape
    sty = as_float_array("styles", styles, 3, allow_none=True)
    if sty is not None and sty.shape[:2] != (T, N):
        raise ValueError(
            f"styles has shape {sty.shape}, expected ({T}, {N}, K) to match returns {y.shape}"
        )
    K = 0 if sty is None else sty.shape[2]

    codes = None
    G = 0
    if industry is not None:
        codes = as_code_array("industry", industry, 2)
        check_shape("industry", codes, (T, N), f"to match returns {y.shape}")
        max_code = int(codes.max()) if codes.size else -1
        if industry_names is not None:
            G = len(industry_names)
            if max_code >= G:
                raise ValueError(
                    f"industry has code {max_code} but only {G} industry_names (codes must be < {G})"
                )
        else:
            G = max_code + 1
    elif industry_names is not None:
        raise ValueError("industry_names given without industry")

    # Negative / infinite weights and cap are rejected by the kernel while it reads each date
    # (one pass instead of several numpy passes); weights=None with cap means sqrt(cap).
    w = as_float_array("weights", weights, 2, allow_none=True)
    if w is not None:
        check_shape("weights", w, (T, N), f"to match returns {y.shape}")
    c = as_float_array("cap", cap, 2, allow_none=True)
    if c is not None:
        check_shape("cap", c, (T, N), f"to match returns {y.shape}")
    if codes is not None and industry_constraint == "cap" and c is None:
        raise ValueError(
            "industry_constraint='cap' needs cap (T, N) market capitalisations; "
            "pass cap or use industry_constraint='equal'"
        )
    if codes is not None and market and industry_constraint is None:
        raise ValueError(
            "industry_constraint=None with market=True and industries makes the design singular "
            "(the industry dummies sum to the market column); use 'cap' or 'equal', or market=False"
        )
    if not market and sty is None and codes is None:
        raise ValueError("the design has no factors: set market=True or give styles or industry")

    if style_names is None:
        style_names = [f"style_{k}" for k in range(K)]
    else:
        style_names = [str(s) for s in style_names]
        if len(style_names) != K:
            raise ValueError(f"style_names has {len(style_names)} names but styles has {K} styles")
    if industry_names is None:
        industry_names = [f"industry_{g}" for g in range(G)]
    else:
        industry_names = [str(s) for s in industry_names]
    names = (["market"] if market else []) + list(industry_names) + list(style_names)
    if len(set(names)) != len(names):
        raise ValueError(f"factor names must be unique, got {names}")

    f, e, r2, se, ts, n_obs = _core.cross_section_regress(
        y, sty, codes, G, w, c, bool(market), industry_constraint
    )
    return CrossSectionResult(f, e, r2, se, ts, n_obs, names)


# --- FactorModel and Fama-MacBeth ---
__all__ += ["FactorModel", "fama_macbeth", "robust_clip_returns"]

MAD_SCALE = 1.4826  # 1 / Φ⁻¹(3/4): makes the MAD a consistent estimate of σ for normal data
WEIGHT_OPTIONS = ("sqrt_cap", "equal")
INDUSTRY_CONSTRAINTS = ("cap", "equal", None)


def robust_clip_returns(returns: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Clip each date's returns at a robust z-score.

    On every date the finite returns with ``|r − median| / (1.4826 · MAD) > threshold`` are set to
    ``median ± threshold · 1.4826 · MAD`` (MAD = median absolute deviation from the median, over
    that date's finite returns; numpy's median). NaN (and ±inf) stay as they are. A date with
    MAD = 0 (more than half of its returns equal, e.g. many zero returns) is left unchanged rather
    than collapsed onto its median. The per-date medians run in the Rust ``winsorize`` kernel
    (``ff.winsorize(method="mad")``).

    Parameters
    ----------
    returns : array_like, shape (T, N)
    threshold : float > 0
        Robust z-score above which a return is clipped (e.g. 5).

    Returns
    -------
    clipped : ndarray, shape (T, N)
        A new array.
    n_clipped : ndarray of int64, shape (T,)
        Number of clipped values per date.

    Examples
    --------
    >>> import numpy as np, ferrofactor as ff
    >>> clipped, n = ff.robust_clip_returns(np.array([[0.0, 0.01, 0.02, 0.03, 0.04, 0.5]]), 3.0)
    >>> clipped.round(4), n
    (array([[0.    , 0.01  , 0.02  , 0.03  , 0.04  , 0.0917]]), array([1]))
    """
    r = as_float_array("returns", returns, 2)
    threshold = _check_threshold(threshold)
    fin = np.isfinite(r)
    clipped = np.where(fin, winsorize(r, method="mad", limit=threshold), r)
    # MAD = 0: winsorize collapses the date onto its median; such a date (and only such a date)
    # comes back constant although its returns were not, and is restored.
    lo_c = np.where(fin, clipped, np.inf).min(axis=1)
    hi_c = np.where(fin, clipped, -np.inf).max(axis=1)
    lo_r = np.where(fin, r, np.inf).min(axis=1)
    hi_r = np.where(fin, r, -np.inf).max(axis=1)
    mad_zero = (lo_c == hi_c) & (lo_r < hi_r)
    clipped[mad_zero] = r[mad_zero]
    n_clipped = np.count_nonzero(fin & (clipped != r), axis=1).astype(np.int64)
    return clipped, n_clipped


def _check_threshold(threshold) -> float:
    if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real):
        raise TypeError(f"winsorize_returns must be a number or None, got {threshold!r}")
    threshold = float(threshold)
    if not np.isfinite(threshold) or threshold <= 0:
        raise ValueError(f"winsorize_returns must be a positive finite z-score, got {threshold!r}")
    return threshold


def _shift(a: np.ndarray | None, lag: int, fill=np.nan) -> np.ndarray | None:
    """Rows shifted forward by ``lag``: row t holds row t − lag of ``a`` (first rows ``fill``)."""
    if a is None or lag == 0:
        return a
    out = np.full_like(a, fill)
    if lag < a.shape[0]:
        out[lag:] = a[: a.shape[0] - lag]
    return out


class FactorModel:
    """Cross-sectional factor model: one weighted regression of returns on exposures per date.

    ``returns[t]`` (close t−1 to close t) is regressed on the exposures known ``lag`` dates
    earlier: ``r_t = B_{t−lag} f_t + e_t``. The constructor stores and validates settings only;
    :meth:`fit` does the work (scikit-learn style).

    Parameters
    ----------
    market : bool, default True
        Include a market factor (intercept). Must agree with ``exposures.market``.
    industry_constraint : {"cap", "equal", None}, default "cap"
        With a market factor, the industry factor returns are constrained to a zero cap-weighted
        ("cap": the market factor is then the cap-weighted market) or equal-weighted ("equal") sum.
        ``None`` only without a market factor.
    weights : "sqrt_cap", "equal" or array_like (T, N), default "sqrt_cap"
        Regression weights: sqrt(market cap), all ones, or given per date and asset
        (non-negative; NaN or 0 drops the observation).
    lag : int >= 0, default 1
        Dates between the exposures (and cap, weights) and the returns they explain. 0 is
        allowed for studies that align the data themselves.
    winsorize_returns : float, optional
        If given, returns whose robust z-score ``|r − median| / (1.4826 · MAD)`` on their date
        exceeds this threshold are clipped to the threshold for the fit only (see
        :func:`robust_clip_returns`); residuals are reported against the original returns.

    Examples
    --------
    >>> import numpy as np, ferrofactor as ff
    >>> rng = np.random.default_rng(0)
    >>> T, N = 20, 50
    >>> exp = ff.Exposures(rng.standard_normal((T, N, 2)), style_names=["value", "momentum"])
    >>> res = ff.FactorModel(weights="equal", industry_constraint=None).fit(
    ...     rng.normal(0, 0.01, (T, N)), exp)
    >>> res.factor_returns.shape
    (20, 3)
    """

    def __init__(self, market=True, industry_constraint="cap", weights="sqrt_cap", lag=1,
                 winsorize_returns=None) -> None:
        if not isinstance(market, (bool, np.bool_)):
            raise TypeError(f"market must be True or False, got {market!r}")
        check_choice("industry_constraint", industry_constraint, INDUSTRY_CONSTRAINTS)
        if isinstance(weights, str):
            check_choice("weights", weights, WEIGHT_OPTIONS)
        elif weights is None:
            raise ValueError(
                f"weights must be one of {list(WEIGHT_OPTIONS)!r} or an array (T, N), got None"
            )
        else:
            weights = as_float_array("weights", weights, 2)
            check_weights("weights", weights)
        if isinstance(lag, (bool, np.bool_)) or not isinstance(lag, numbers.Integral):
            raise TypeError(f"lag must be an integer, got {lag!r}")
        if lag < 0:
            raise ValueError(f"lag must be >= 0 (exposures known lag dates before the returns), got {lag}")
        if winsorize_returns is not None:
            winsorize_returns = _check_threshold(winsorize_returns)
        self.market = bool(market)
        self.industry_constraint = industry_constraint
        self.weights = weights
        self.lag = int(lag)
        self.winsorize_returns = winsorize_returns

    def __repr__(self) -> str:
        w = self.weights if isinstance(self.weights, str) else f"array{self.weights.shape}"
        return (f"FactorModel(market={self.market}, industry_constraint={self.industry_constraint!r}, "
                f"weights={w!r}, lag={self.lag}, winsorize_returns={self.winsorize_returns})")

    def fit(self, returns, exposures: Exposures, cap=None) -> FactorModelResult:
        """Run the per-date regressions.

        Parameters
        ----------
        returns : array_like, shape (T, N)
            Simple decimal returns, ``returns[t]`` from close t−1 to close t; NaN where missing.
        exposures : Exposures, shape (T, N)
            Exposures observed at close t (row t); lagged here by ``lag``.
        cap : array_like, shape (T, N), optional
            Market capitalisation at close t (> 0, NaN where unknown), lagged by ``lag`` like the
            exposures. Needed for ``weights="sqrt_cap"`` and for ``industry_constraint="cap"``
            with industries.

        Returns
        -------
        FactorModelResult
        """
        r = as_float_array("returns", returns, 2)
        if not isinstance(exposures, Exposures):
            raise TypeError(f"exposures must be a ferrofactor.Exposures, got {type(exposures).__name__}")
        T, N = r.shape
        if tuple(exposures.shape) != (T, N):
            raise ValueError(
                f"exposures has shape {tuple(exposures.shape)}, expected {(T, N)} "
                "(the shape of returns (T, N))"
            )
        if exposures.market != self.market:
            raise ValueError(
                f"FactorModel(market={self.market}) but exposures.market is {exposures.market}; "
                "make them agree"
            )
        has_ind = exposures.industry is not None
        need_cap = self.weights == "sqrt_cap" if isinstance(self.weights, str) else False
        need_cap = need_cap or (has_ind and self.market and self.industry_constraint == "cap")
        cap_arr = as_float_array("cap", cap, 2, allow_none=True)
        if cap_arr is None and need_cap:
            raise ValueError(
                "cap is required for weights='sqrt_cap' and for industry_constraint='cap' with "
                "industries; pass cap (T, N) or use weights='equal', industry_constraint='equal'"
            )
        if cap_arr is not None:
            check_shape("cap", cap_arr, (T, N), "the shape of returns (T, N)")
            check_weights("cap", cap_arr)
        if isinstance(self.weights, str):
            # explicit ones: cross_section_regress defaults to sqrt(cap) whenever cap is given
            w_raw = np.ones((T, N)) if self.weights == "equal" else np.sqrt(cap_arr)
        else:
            check_shape("weights", self.weights, (T, N), "the shape of returns (T, N)")
            w_raw = self.weights
        if has_ind and self.market and self.industry_constraint is None:
            raise ValueError(
                "industry_constraint=None with a market factor and industries makes the design "
                "singular; use 'cap' or 'equal', or market=False"
            )

        lag = self.lag
        lagged = exposures.lag(lag)
        w = _shift(w_raw, lag)
        cap_l = _shift(cap_arr, lag)
        if self.winsorize_returns is not None:
            r_fit, n_clipped = robust_clip_returns(r, self.winsorize_returns)
        else:
            r_fit, n_clipped = r, np.zeros(T, dtype=np.int64)
        reg = cross_section_regress(
            r_fit,
            styles=lagged.styles,
            industry=lagged.industry,
            weights=w,
            market=self.market,
            industry_constraint=self.industry_constraint if has_ind else None,
            cap=cap_l,
            style_names=lagged.style_names or None,
            industry_names=lagged.industry_names or None,
        )
        residuals = np.asarray(reg.residuals)
        if self.winsorize_returns is not None:
            # Same fitted values B f; residuals of the original returns, not of the clipped ones.
            residuals = residuals + (r - r_fit)
        return FactorModelResult(
            factor_returns=np.asarray(reg.factor_returns),
            residuals=residuals,
            r2=np.asarray(reg.r2),
            std_errors=np.asarray(reg.std_errors),
            tstats=np.asarray(reg.tstats),
            n_obs=np.asarray(reg.n_obs),
            factor_names=list(reg.factor_names),
            exposures=lagged,
            n_clipped=n_clipped,
            model=self,
        )


def fama_macbeth(returns, characteristics, intercept=True, cov="unadjusted", bandwidth=None,
                 *, names=None, dates=None) -> FamaMacBethResult:
    """Fama-MacBeth regression: one OLS per date, inference on the series of estimates.

    Numbers equal linearmodels' ``FamaMacBeth(...).fit(cov_type=cov, bandwidth=bandwidth)``
    (its default ``debiased=True`` and Bartlett kernel); see :mod:`ferrofactor.results` for the
    exact definitions. The per-date regressions are the batched Rust kernel
    (``cross_section_regress`` with no industries and the intercept as the market factor).

    Parameters
    ----------
    returns : array_like, shape (T, N)
        Dependent variable, NaN where missing.
    characteristics : array_like, shape (T, N, K)
        Regressors, aligned with ``returns`` as given (no lag is applied here); an observation with
        any NaN is dropped on its date.
    intercept : bool, default True
        Add a constant (first parameter, named ``"const"``).
    cov : {"unadjusted", "kernel"}, default "unadjusted"
        Standard errors of the mean of the estimates, or Newey-West (Bartlett kernel) standard
        errors.
    bandwidth : float, optional
        Kernel bandwidth, ``0 <= bandwidth < T`` (number of dates used); default: Newey-West's
        (1994) automatic rule, which needs at least 4 dates. Only for ``cov="kernel"``.
    names : sequence of str, optional
        Names of the K characteristics; default ``x0..``.
    dates : array_like of datetime64[D], shape (T,), optional
        Labels for ``to_polars``.

    Returns
    -------
    FamaMacBethResult
        ``params``, ``std_errors``, ``tstats``, ``pvalues`` (K + intercept,), ``estimates``
        (T, K + intercept) per date (NaN where a date has fewer observations than parameters or a
        singular design), ``n_obs`` (T,), ``r2`` (T,). Dates with NaN estimates are not used.

    Examples
    --------
    >>> import numpy as np, ferrofactor as ff
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((60, 100, 2))
    >>> y = 0.01 + x @ np.array([0.02, 0.0]) + rng.normal(0, 0.05, (60, 100))
    >>> res = ff.fama_macbeth(y, x, cov="kernel")
    >>> res.params.round(2)
    array([0.01, 0.02, 0.  ])
    """
    r = as_float_array("returns", returns, 2)
    x = as_float_array("characteristics", characteristics, 3)
    if not isinstance(intercept, (bool, np.bool_)):
        raise TypeError(f"intercept must be True or False, got {intercept!r}")
    check_choice("cov", cov, COV_TYPES)
    T, N = r.shape
    check_shape("characteristics", x, (T, N, x.shape[2]), "(T, N, K) with (T, N) of returns")
    K = x.shape[2]
    if K == 0:
        raise ValueError(f"characteristics must have at least one column (K >= 1), got shape {x.shape}")
    if bandwidth is not None:
        if cov != "kernel":
            raise ValueError(f"bandwidth is only used with cov='kernel', got cov={cov!r}")
        if isinstance(bandwidth, bool) or not isinstance(bandwidth, numbers.Real):
            raise TypeError(f"bandwidth must be a number or None, got {bandwidth!r}")
    if names is None:
        names = [f"x{k}" for k in range(K)]
    names = [str(n) for n in names]
    if len(names) != K:
        raise ValueError(f"names has {len(names)} names but characteristics has K = {K}")
    if intercept and "const" in names:
        raise ValueError("'const' is the name of the intercept; rename that characteristic")
    if dates is not None:
        dates = np.asarray(dates, dtype="datetime64[D]")
        check_shape("dates", dates, (T,))
    reg = cross_section_regress(
        r, styles=x, industry=None, weights=None, market=bool(intercept),
        industry_constraint=None, style_names=names,
    )
    est = np.array(reg.factor_returns)
    r2 = np.array(reg.r2)
    # A date is used when every parameter is estimated (linearmodels drops rank-deficient dates).
    # The kernel drops a characteristic with no dispersion from its date and estimates the rest;
    # Fama-MacBeth needs every characteristic, so such a date is dropped whole.
    partial = ~np.all(np.isfinite(est), axis=1)
    est[partial] = np.nan
    r2[partial] = np.nan
    return FamaMacBethResult(
        estimates=est, n_obs=np.asarray(reg.n_obs), r2=r2,
        names=(["const"] if intercept else []) + names, cov_type=cov, bandwidth=bandwidth,
        dates=dates,
    )
