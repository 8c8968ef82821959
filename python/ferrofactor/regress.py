"""Batched cross-sectional regressions: one weighted least-squares fit per date, in Rust.

:func:`cross_section_regress` regresses each date's returns on the exposures (market, industries
as codes, styles) in the Rust core, in parallel over dates; :func:`fama_macbeth` is the classic
two-pass estimator on (T, N, K) characteristics; :func:`robust_clip_returns` clips return
outliers per date. The estimator that applies the lag and keeps everything the next stages need
is :class:`ferrofactor.FactorModel`.

Time: with ``lag=L`` the regression of date ``t`` uses ``returns[t]`` (close t−1 to close t) and
the exposures, weights and caps of row ``t − L`` (known at the close of ``t − L``). The offset is
applied inside the kernel; nothing is shifted or copied. ``lag=0`` (the default here) regresses
rows as given.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl

from ferrofactor import _core
from ferrofactor._validate import (
    as_assets,
    as_dates,
    as_field,
    as_float_array,
    as_industry,
    as_names,
    check_bool,
    check_choice,
    check_int,
    check_real,
    check_same_labels,
    check_shape,
    check_weights,
    field_axes,
    given_labels_how,
    refuse_inf,
)
from ferrofactor.inference import COV_TYPES, fama_macbeth_inference
from ferrofactor.results import Result, Summary, readonly, short_names

__all__ = [
    "CrossSectionResult",
    "FamaMacBethResult",
    "cross_section_regress",
    "fama_macbeth",
    "robust_clip_returns",
]

INDUSTRY_CONSTRAINTS = ("cap", "equal", None)


def _t_quantile(level: float, df: Any) -> Any:
    from scipy import stats

    return stats.t.ppf(0.5 + level / 2, df)


def _check_level(level: Any) -> float:
    return check_real("level", level, lo=0.0, lo_open=True, hi=1.0 - 1e-12)


# ---------------------------------------------------------------------------------------------
# Per-date results
# ---------------------------------------------------------------------------------------------


class CrossSectionResult(Result):
    """Per-date results of :func:`cross_section_regress` (read-only, labelled).

    Attributes
    ----------
    factor_returns : ndarray (T, P)
        Factor returns (decimal, per period), in the order of ``factor_names``. NaN for an
        industry with no member on a date, for a style with no dispersion among that date's
        observations, and for every factor on a date that could not be estimated.
    residuals : ndarray (T, N)
        Specific returns ``r − X f``; NaN where the observation was not used.
    r2 : ndarray (T,)
        Weighted R². Centred when the design spans a constant (``market=True``, or industries
        without a constraint), uncentred otherwise (the statsmodels convention).
    std_errors, tstats : ndarray (T, P)
        Classic WLS standard errors ``σ² = Σ w e² / (n_obs − p_free)`` (``p_free`` the free
        parameters after the industry constraint) and ``factor_returns / std_errors``.
    n_obs : ndarray of int64 (T,)
        Observations used on each date (0 where nothing was used).
    factor_names : list of str (P,)
        ``["market"] + industry names + style names``.
    dates, assets : labels (``None`` = positional)
    """

    _arrays = {
        "factor_returns": ("date", "factor"), "std_errors": ("date", "factor"),
        "tstats": ("date", "factor"), "residuals": ("date", "asset"), "r2": ("date",),
        "n_obs": ("date",),
    }
    _groups = {"dates": ("r2", "n_obs")}
    _default_kind = "factor_returns"

    def __init__(self, *, factor_returns, residuals, r2, std_errors, tstats, n_obs, factor_names,
                 dates=None, assets=None) -> None:
        self._factor_returns = readonly(np.asarray(factor_returns))
        self._residuals = readonly(np.asarray(residuals))
        self._r2 = readonly(np.asarray(r2))
        self._std_errors = readonly(np.asarray(std_errors))
        self._tstats = readonly(np.asarray(tstats))
        self._n_obs = readonly(np.asarray(n_obs))
        self._factor_names = list(factor_names)
        self._dates = readonly(dates)
        self._assets = readonly(assets)

    factor_returns = property(lambda self: self._factor_returns, doc="(T, P) factor returns.")
    residuals = property(lambda self: self._residuals, doc="(T, N) specific returns.")
    r2 = property(lambda self: self._r2, doc="(T,) per-date weighted R².")
    std_errors = property(lambda self: self._std_errors, doc="(T, P) per-date standard errors.")
    tstats = property(lambda self: self._tstats, doc="(T, P) per-date t-statistics.")
    n_obs = property(lambda self: self._n_obs, doc="(T,) observations used per date.")
    factor_names = property(lambda self: list(self._factor_names), doc="(P,) factor names.")
    dates = property(lambda self: self._dates, doc="(T,) date labels, or None (positional).")
    assets = property(lambda self: self._assets, doc="(N,) asset labels, or None (positional).")

    @property
    def estimated(self) -> np.ndarray:
        """(T,) bool: dates on which at least one factor return was estimated."""
        return readonly(np.isfinite(self._factor_returns).any(axis=1))

    @property
    def n_dates_estimated(self) -> np.ndarray:
        """(P,) number of dates on which each factor was estimated."""
        return readonly(np.isfinite(self._factor_returns).sum(axis=0).astype(np.int64))

    def _header(self) -> list[tuple[str, Any]]:
        T, N = self._residuals.shape
        est = self.estimated
        header = [("Dates", T), ("Dates estimated", int(est.sum())), ("Assets", N),
                  ("Avg. obs per estimated date", f"{np.mean(self._n_obs[est]):.1f}" if est.any() else "nan"),
                  ("Avg. R-squared (estimated dates)",
                   f"{np.nanmean(self._r2[est]):.4f}" if np.isfinite(self._r2[est]).any() else "nan")]
        if self._dates is not None and T:
            header.append(("Span", f"{self._dates[0]}..{self._dates[-1]}"))
        return header

    def summary(self) -> Summary:
        """Per factor over the dates it was estimated: mean, std, plain t-statistic of the mean,
        dates estimated."""
        f = self._factor_returns
        inf = fama_macbeth_inference(f, "unadjusted", nan_policy="column")
        table = pl.DataFrame({
            "factor": self._factor_names,
            "mean": inf["params"],
            "std": np.sqrt(np.diag(inf["cov"]) * np.maximum(inf["n_periods"], 1)) if f.size else np.full(f.shape[1], np.nan),
            "tstat": inf["tstats"],
            "dates": self.n_dates_estimated,
        })
        notes = [inf["reason"]] if inf["reason"] else []
        return Summary("Cross-sectional regressions", self._header(), [("Factor returns", table)], notes)

    def plot(self, groups: Any = None, max_lines: int = 12) -> Any:
        """Cumulative factor returns (compounded, %), one panel per factor group (market,
        industries, styles) when the exposures are known; a matplotlib ``Figure``
        (:func:`ferrofactor.plotting.factor_returns_figure`; needs the ``plot`` extra)."""
        from ferrofactor.plotting import factor_returns_figure

        return factor_returns_figure(self, groups=groups, max_lines=max_lines)

    def __repr__(self) -> str:
        T, P = self._factor_returns.shape
        return f"{type(self).__name__}(T={T}, factors={P}, dates estimated={int(self.estimated.sum())})"


def resolve_constraint(industry_constraint: str | None, market: bool) -> str | None:
    """``industry_constraint`` checked, ``"auto"`` resolved: ``"cap"`` with a market factor,
    ``None`` without one."""
    check_choice("industry_constraint", industry_constraint, ("auto",) + INDUSTRY_CONSTRAINTS)
    if industry_constraint == "auto":
        return "cap" if market else None
    return industry_constraint


def _check_design(codes, c, market: bool, industry_constraint, sty, K: int, style_names, inames):
    """The design checks shared by the in-memory and Dask regressions; returns the factor names."""
    if codes is not None and industry_constraint == "cap" and c is None:
        raise ValueError(
            "industry_constraint='cap' (the default with market=True) needs cap (T, N) market "
            "capitalisations; pass cap or use industry_constraint='equal'"
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
    style_names = as_names("style_names", style_names, K, f"styles has {K} styles")
    return _design_names(market, inames, style_names)


def _design_names(market: bool, industry_names: Sequence[str], style_names: Sequence[str]) -> list[str]:
    names = (["market"] if market else []) + list(industry_names) + list(style_names)
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise ValueError(f"factor names must be unique; repeated: {dup}")
    return names


def cross_section_regress(
    returns: Any,
    styles: Any = None,
    industry: Any = None,
    weights: Any = None,
    *,
    market: bool = True,
    industry_constraint: str | None = "auto",
    cap: Any = None,
    style_names: Sequence[str] | None = None,
    industry_names: Any = None,
    lag: int = 0,
    dates: Any = None,
    assets: Any = None,
) -> CrossSectionResult:
    """Batched cross-sectional weighted least squares, one regression per date.

    For each date ``t`` fits ``r_ti = [f_mkt] + f_{g(i)} + Σ_k x_ik f_k + e_ti`` by WLS with the
    exposures of row ``t − lag``, industry factors built from the codes (never as dummies) and,
    when a market factor is present, the industry factor returns constrained so that
    ``Σ_g c_g f_g = 0`` (by default; see ``industry_constraint``). A style with no dispersion among a date's observations (e.g. all
    zeros) drops out of that date's regression (NaN for it; the others are estimated): the market
    or the industries span it. (Without either, a style that is a non-zero constant would be an
    intercept: pass ``market=True`` for one.)

    Parameters
    ----------
    returns : array_like or Polars frame, shape (T, N)
        Asset returns (decimal), NaN where missing; an infinite value is a data error (a zero
        price upstream), refused with ``ValueError``. A frame (long or wide) labels the result.
        A long frame's assets come out sorted: one that lists its assets in another order is
        refused beside ``styles``, ``industry``, or ``weights``/``cap`` arrays (which pair by
        position); sort it first (``frame.sort("date", "asset")``) or pass frames for both.
    styles : array_like, shape (T, N, K), optional
        Style exposures; an observation with any NaN style is dropped on that date; infinite
        values raise ``ValueError`` (as :class:`Exposures` refuses them).
    industry : array_like of int, shape (T, N), optional
        Industry codes, -1 = none (dropped). Any integer values: named by ``industry_names``
        (positions into a sequence, or a mapping {code: name}), else by their values.
    weights : array_like, shape (T, N), optional
        Regression weights (e.g. ``sqrt(cap)``). NaN or 0 drops the observation; negative or
        infinite values raise ``ValueError``. Default: ``sqrt(cap)`` when ``cap`` is given,
        else equal weights.
    market : bool, default True
        Include a market (intercept) factor.
    industry_constraint : {"auto", "cap", "equal", None}, default "auto"
        ``"cap"``: ``Σ_g cap_g f_g = 0`` with ``cap_g`` the summed ``cap`` of the industry's
        used members that date (the market factor is then the cap-weighted mean of the
        industries' levels ``f_mkt + f_g``: the cap-weighted market's return exactly when the
        regression ``weights`` are the caps and the styles have a cap-weighted mean of 0, close
        to it with the default ``sqrt(cap)`` weights, which weight within each industry by
        ``sqrt(cap)``);
        ``"equal"``: ``Σ_g f_g = 0``; ``None``: no constraint, only valid with ``market=False``
        (with a market the industry dummies sum to the market column). ``"auto"``: ``"cap"``
        with a market factor, ``None`` without one (the industries then carry the common
        level, as in ``FactorModel(market=False)``). A constraint given explicitly with
        ``market=False`` is applied: a restricted fit.
    cap : array_like, shape (T, N), optional
        Market capitalisations, required for ``"cap"`` when industries are used.
    style_names, industry_names : optional
        Factor names; default ``style_0..`` and the industry code values.
    lag : int, default 0
        Rows between the exposures (and weights, cap) and the returns they explain:
        ``0 <= lag < T``. Dates ``t < lag`` are NaN with ``n_obs`` 0.
    dates, assets : optional labels of the result (default: those of a frame ``returns``).

    Returns
    -------
    CrossSectionResult
        ``factor_returns`` (T, P), ``residuals`` (T, N), ``r2`` (T,), ``std_errors`` (T, P),
        ``tstats`` (T, P), ``n_obs`` (T,), ``factor_names``. A style that is constant over a
        date's used observations (e.g. all zeros while a descriptor warms up) drops out of that
        date: NaN for it, the other factors still estimated. Dates with fewer usable observations
        than free parameters, or a singular design, are NaN (their ``n_obs`` still reported).

    Examples
    --------
    >>> import numpy as np, ferrofactor as ff
    >>> g = np.array([1.28, 0.55, 0.15, -0.26, -1.72])
    >>> r = np.array([1.2, 0.3, -0.1, -0.4, -1.5]) / 100
    >>> res = ff.cross_section_regress(r[None], styles=g[None, :, None], market=False)
    >>> round(float(res.factor_returns[0, 0]), 5)
    0.00876
    """
    market = check_bool("market", market)
    industry_constraint = resolve_constraint(industry_constraint, market)
    # a long frame's assets come out sorted: ambiguous beside (T, N) inputs without assets
    positional = styles is not None or industry is not None or any(
        v is not None and not field_axes(v)[1] for v in (weights, cap))
    y, fdates, fassets = as_field("returns", returns, asset_order=positional)
    T, N = y.shape
    lag = check_int("lag", lag, 0)
    if T and lag >= T:
        raise ValueError(f"lag must be below the number of dates ({T}), got {lag}")
    sty = as_float_array("styles", styles, 3, allow_none=True)
    if sty is not None and sty.shape[:2] != (T, N):
        raise ValueError(
            f"styles has shape {sty.shape}, expected ({T}, {N}, K) to match returns {y.shape}"
        )
    # an infinite value is a data error, not a missing one (the kernel would drop the observation
    # quietly, as it drops NaN). The styles' rows the kernel reads are checked there, in its pass
    # over them (a pass of their own here cost a third of the regression); the last `lag` rows it
    # does not read are checked here, and an error counts them all
    refuse_inf("returns", y, "NaN marks a missing return")
    if sty is not None and lag and np.isinf(sty[T - lag:]).any():
        refuse_inf("styles", sty, "NaN marks a missing exposure")
    K = 0 if sty is None else sty.shape[2]
    codes, inames = None, []
    if industry is not None:
        codes, inames = as_industry("industry", industry, (T, N), industry_names)
    elif industry_names is not None:
        raise ValueError("industry_names given without industry")
    # frames are matched by label with returns (and with each other), never by position
    positional = positional or fassets is None
    w, wd, wa = (None, None, None) if weights is None else as_field("weights", weights, asset_order=positional)
    if w is not None:
        check_shape("weights", w, (T, N), f"to match returns {y.shape}")
    c, cd, ca = (None, None, None) if cap is None else as_field("cap", cap, asset_order=positional)
    if c is not None:
        check_shape("cap", c, (T, N), f"to match returns {y.shape}")
    # the kernel checks the weights and caps of the rows it reads; the last `lag` rows it does not
    # read are checked here (a negative or infinite value there passed with lag >= 1 and was
    # refused with lag = 0), and an error counts them all, as for the styles above
    for name, v in (("weights", w), ("cap", c)):
        if v is not None and lag:
            tail = v[T - lag:]
            if np.isinf(tail).any() or (tail < 0).any():
                check_weights(name, v)
    check_same_labels("weights", wd, wa, "returns", fdates, fassets)
    check_same_labels("cap", cd, ca, "returns", fdates, fassets)
    check_same_labels("cap", cd, ca, "weights", wd, wa)
    names = _check_design(codes, c, market, industry_constraint, sty, K, style_names, inames)
    d = as_dates("dates", dates, T)
    a = as_assets("assets", assets, N)
    check_same_labels("returns", fdates, fassets, "the dates/assets given", d, a, how=given_labels_how("returns"))
    # weights and cap frames beside returns without labels: on the dates/assets that label the result
    for name, fd, fa in (("weights", wd, wa), ("cap", cd, ca)):
        check_same_labels(name, fd, fa, "the dates/assets given", d, a,
                          how=f"give {name} on the dates and assets given, in their order")
    # (a pandas frame may label one axis only: each axis from the first input that labels it)
    d = next((v for v in (fdates, wd, cd) if v is not None), None) if d is None else d
    a = next((v for v in (fassets, wa, ca) if v is not None), None) if a is None else a
    return _regress(y, sty, codes, len(inames), w, c, market,
                    industry_constraint if codes is not None else None, lag, names, d, a)


def _regress(y, sty, codes, G, w, c, market, constraint, lag, names, dates, assets,
             cls=CrossSectionResult, **extra):
    f, e, r2, se, ts, n_obs = _core.cross_section_regress(
        y, sty, codes, G, w, c, bool(market), constraint, lag
    )
    return cls(factor_returns=f, residuals=e, r2=r2, std_errors=se, tstats=ts, n_obs=n_obs,
               factor_names=names, dates=dates, assets=assets, **extra)


# ---------------------------------------------------------------------------------------------
# Robust clipping of returns
# ---------------------------------------------------------------------------------------------


def robust_clip_returns(returns: Any, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Clip each date's returns at a robust z-score.

    On every date the finite returns with ``|r − median| / (1.4826 · MAD) > threshold`` are set to
    ``median ± threshold · 1.4826 · MAD`` (MAD = median absolute deviation from the median, over
    that date's finite returns; numpy's median). NaN stays NaN; an infinite return is a data error
(a zero price upstream) and raises ``ValueError``. A date with
    MAD = 0 (more than half of its returns equal, e.g. many zero returns) is left unchanged rather
    than collapsed onto its median. The per-date medians run in the Rust ``winsorize`` kernel.

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
    from ferrofactor.clean import winsorize

    r = as_float_array("returns", returns, 2)
    threshold = check_real("threshold", threshold, lo=0.0, lo_open=True)
    refuse_inf("returns", r, "NaN marks a missing return")
    if r.size == 0:
        return r.copy(), np.zeros(r.shape[0], dtype=np.int64)
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


# ---------------------------------------------------------------------------------------------
# Fama-MacBeth
# ---------------------------------------------------------------------------------------------


class FamaMacBethResult(Result):
    """Fama-MacBeth inference on a (T, K) series of per-date estimates (read-only, labelled).

    Attributes
    ----------
    params, std_errors, tstats, pvalues : ndarray (K,)
        Averages of the per-date estimates, their standard errors (plain or Newey-West), t-stats
        and two-sided p-values (t distribution with T − 1 degrees of freedom, T the dates used).
    cov : ndarray (K, K)
        Covariance of ``params`` (off-diagonal NaN when each factor uses its own dates).
    estimates : ndarray (T, K)
        Per-date estimates, NaN on dates that could not be estimated.
    n_obs : ndarray of int (T,), r2 : ndarray (T,)
        Observations and R² of each date's regression.
    n_periods : int or ndarray (K,)
        Dates used (per factor when each factor uses its own dates).
    factor_names : list of str
        Parameter names (``"const"`` first for :func:`fama_macbeth` with an intercept).
    reason : str
        Why standard errors are NaN, if they are (too few dates, ...), else "".
    """

    _arrays = {
        "params": ("factor",), "std_errors": ("factor",), "tstats": ("factor",),
        "pvalues": ("factor",), "ci_lower": ("factor",), "ci_upper": ("factor",),
        "cov": ("factor", "factor"), "estimates": ("date", "factor"), "n_obs": ("date",),
        "r2": ("date",),
    }
    _groups = {"params_table": ("params", "std_errors", "tstats", "pvalues", "ci_lower", "ci_upper"),
               "dates": ("n_obs", "r2")}
    _default_kind = "params_table"

    def __init__(self, *, estimates, n_obs, r2, names, cov_type, bandwidth=None, dates=None,
                 nan_policy="row", title="Fama-MacBeth Estimation Summary") -> None:
        self._estimates = readonly(np.asarray(estimates, dtype=np.float64))
        self._n_obs = readonly(np.asarray(n_obs))
        self._r2 = readonly(np.asarray(r2, dtype=np.float64))
        self._names = list(names)
        self._cov_type = cov_type
        self._dates = readonly(dates)
        self._title = title
        self._nan_policy = nan_policy
        # a bandwidth is a number of Newey-West lags: with cov="unadjusted" it would be ignored
        # (plain standard errors), which a caller asking for lags would not notice
        check_choice("cov", cov_type, COV_TYPES)
        if bandwidth is not None and cov_type != "kernel":
            raise ValueError(f"bandwidth is only used with cov='kernel', got cov={cov_type!r}")
        inf = fama_macbeth_inference(self._estimates, cov_type, bandwidth, nan_policy=nan_policy)
        self._inf = {k: readonly(v) for k, v in inf.items()}
        q = _t_quantile(0.95, np.asarray(self._inf["n_periods"]) - 1)
        with np.errstate(invalid="ignore"):
            self._lo = readonly(self._inf["params"] - q * self._inf["std_errors"])
            self._hi = readonly(self._inf["params"] + q * self._inf["std_errors"])

    params = property(lambda self: self._inf["params"], doc="(K,) mean of the per-date estimates.")
    std_errors = property(lambda self: self._inf["std_errors"], doc="(K,) standard errors.")
    tstats = property(lambda self: self._inf["tstats"], doc="(K,) t-statistics.")
    pvalues = property(lambda self: self._inf["pvalues"], doc="(K,) two-sided p-values, t(T−1).")
    ci_lower = property(lambda self: self._lo, doc="(K,) lower bound of the 95% interval.")
    ci_upper = property(lambda self: self._hi, doc="(K,) upper bound of the 95% interval.")
    cov = property(lambda self: self._inf["cov"], doc="(K, K) covariance of params.")
    estimates = property(lambda self: self._estimates, doc="(T, K) per-date estimates.")
    n_obs = property(lambda self: self._n_obs, doc="(T,) observations per date.")
    r2 = property(lambda self: self._r2, doc="(T,) per-date R².")
    n_periods = property(lambda self: self._inf["n_periods"], doc="dates used by the inference.")
    df_resid = property(lambda self: self._inf["df_resid"], doc="T − 1.")
    bandwidth = property(lambda self: self._inf["bandwidth"], doc="kernel bandwidth (0: none).")
    reason = property(lambda self: self._inf["reason"], doc="why standard errors are NaN, or ''.")
    cov_type = property(lambda self: self._cov_type)
    factor_names = property(lambda self: list(self._names), doc="(K,) parameter names.")
    names = factor_names
    dates = property(lambda self: self._dates, doc="(T,) date labels, or None.")

    def conf_int(self, level: float = 0.95) -> np.ndarray:
        """(K, 2) confidence intervals ``params ± t_{T−1}(1 − α/2) · std_errors``."""
        level = _check_level(level)
        q = _t_quantile(level, np.asarray(self.n_periods) - 1)
        with np.errstate(invalid="ignore"):
            return np.stack([self.params - q * self.std_errors, self.params + q * self.std_errors], axis=1)

    def summary(self) -> Summary:
        T = self._estimates.shape[0]
        cov_desc = ("Unadjusted" if self._cov_type == "unadjusted"
                    else f"Newey-West (Bartlett), bandwidth {self.bandwidth:g}")
        used = self._inf["used"]
        header = [
            ("Estimator", "Fama-MacBeth"), ("Dates", T),
            ("Dates used", self.n_periods if np.ndim(self.n_periods) == 0 else "per parameter"),
            ("Avg. obs per used date", f"{np.mean(self._n_obs[used]):.1f}" if used.any() else "nan"),
            ("Avg. R-squared (used dates)",
             f"{np.nanmean(self._r2[used]):.4f}" if used.any() and np.isfinite(self._r2[used]).any() else "nan"),
            ("Covariance", cov_desc),
        ]
        table = pl.DataFrame({
            "parameter": self._names, "estimate": self.params, "std_error": self.std_errors,
            "tstat": self.tstats, "pvalue": self.pvalues, "ci_lower": self._lo, "ci_upper": self._hi,
        })
        notes = [self.reason] if self.reason else []
        return Summary(self._title, header, [("", table)], notes)

    def plot(self, annualize: bool = True) -> Any:
        """Mean estimates with their 95% intervals as horizontal bars (× 252 with
        ``annualize``, in %); a matplotlib ``Figure`` (needs the ``plot`` extra)."""
        from ferrofactor.plotting import fama_macbeth_figure

        return fama_macbeth_figure(self, annualize=annualize)

    def __repr__(self) -> str:
        # short (never an array's values): the estimates in full for a few parameters, else the
        # names; the dates used as one number, or their range across parameters
        if len(self._names) <= 12:
            params = str({n: round(float(v), 6) for n, v in zip(self._names, self.params)})
        else:
            params = short_names(self._names)
        n = np.asarray(self.n_periods)
        used = str(int(n)) if n.ndim == 0 else (str(int(n[0])) if n.size and (n == n[0]).all()
                                                 else f"{int(n.min())}..{int(n.max())}" if n.size else "0")
        return f"FamaMacBethResult(params={params}, cov_type={self._cov_type!r}, n_periods={used})"


def _refit_without_intercept(dates: np.ndarray, r: np.ndarray, x: np.ndarray, f: np.ndarray,
                             r2: np.ndarray) -> None:
    """Least squares on the dates the kernel left unestimated, for a design without intercept.

    The kernel drops a characteristic without dispersion among a date's observations (with an
    intercept it is collinear with it). Without an intercept such a column (a dummy that is 1 for
    every asset that date, a single asset, an exactly identified date) is an ordinary regressor:
    linearmodels estimates the date whenever the design has full column rank, and so does this
    (``f`` and ``r2``, uncentred as the kernel's without an intercept, are filled in place).
    Only those dates are visited; every other date keeps the kernel's numbers."""
    K = x.shape[2]
    for t in dates:
        use = np.isfinite(r[t]) & np.all(np.isfinite(x[t]), axis=1)
        X, y = x[t, use], r[t, use]
        if X.shape[0] < K or np.linalg.matrix_rank(X) != K:
            continue  # rank deficient (e.g. a zero column): no estimate, as linearmodels
        b = np.linalg.lstsq(X, y, rcond=None)[0]
        e = y - X @ b
        f[t] = b
        tss = float(y @ y)
        r2[t] = 1.0 - float(e @ e) / tss if tss > 0 else np.nan


def fama_macbeth(returns, characteristics, intercept=True, cov="unadjusted", bandwidth=None,
                 *, names=None, dates=None, assets=None) -> FamaMacBethResult:
    """Fama-MacBeth regression: one OLS per date, inference on the series of estimates.

    Numbers equal linearmodels' ``FamaMacBeth(...).fit(cov_type=cov, bandwidth=bandwidth)``
    (its default ``debiased=True`` and Bartlett kernel); see :mod:`ferrofactor.inference` for the
    exact definitions. The per-date regressions are the batched Rust kernel.

    Parameters
    ----------
    returns : array_like or Polars frame, shape (T, N)
        Dependent variable, NaN where missing (±inf raises ``ValueError``). A long frame's assets
        come out sorted, and ``characteristics`` pairs with them by position: a long frame that
        lists its assets in another order is refused (sort it, ``frame.sort("date", "asset")``).
    characteristics : array_like, shape (T, N, K)
        Regressors, aligned with ``returns`` as given (no lag is applied here); an observation with
        any NaN is dropped on its date (±inf raises ``ValueError``).
    intercept : bool, default True
        Add a constant (first parameter, named ``"const"``).
    cov : {"unadjusted", "kernel"}, default "unadjusted"
        Standard errors of the mean of the estimates, or Newey-West (Bartlett kernel).
    bandwidth : float, optional
        Kernel bandwidth (``cov="kernel"`` only); default: Newey-West's (1994) automatic rule.
        Too few dates for it (fewer than 4) give NaN standard errors and a ``reason``.
    names : sequence of str, optional
        Names of the K characteristics; default ``x0..``.
    dates, assets : optional labels (default: those of a frame ``returns``). With a frame they
        must equal its dates and assets, else ``ValueError``.

    Returns
    -------
    FamaMacBethResult

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
    r, fdates, fassets = as_field("returns", returns)
    x = as_float_array("characteristics", characteristics, 3)
    intercept = check_bool("intercept", intercept)
    check_choice("cov", cov, COV_TYPES)
    T, N = r.shape
    check_shape("characteristics", x, (T, N, x.shape[2]), "(T, N, K) with (T, N) of returns")
    K = x.shape[2]
    if K == 0:
        raise ValueError(f"characteristics must have at least one column (K >= 1), got shape {x.shape}")
    # an infinite value is a data error, not a missing one: linearmodels refuses it, and dropping
    # the observation quietly would hide it. The characteristics' are found by the kernel in its
    # own pass over them (a pass of their own here cost a third of the call)
    refuse_inf("returns", r, "NaN marks a missing value")
    if bandwidth is not None:
        if cov != "kernel":
            raise ValueError(f"bandwidth is only used with cov='kernel', got cov={cov!r}")
        check_real("bandwidth", bandwidth, lo=0.0)
    names = [f"x{k}" for k in range(K)] if names is None else [str(n) for n in names]
    if len(names) != K:
        raise ValueError(f"names has {len(names)} names but characteristics has K = {K}")
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"names must be unique, got {dup} more than once")
    if intercept and "const" in names:
        raise ValueError("'const' is the name of the intercept; rename that characteristic")
    if not intercept:
        # A constant column (linearmodels' FamaMacBeth(dep, [const, x]) usage) would be dropped
        # on every date as a characteristic without dispersion (the kernel takes such a column
        # for one the intercept spans), leaving no date estimated: say what to pass instead.
        # A date with fewer than two values of a characteristic (one asset, N = 1 or N = 0) says
        # nothing about its dispersion: only dates with two or more count here. np.fmin/fmax
        # reduce as np.nanmin / np.nanmax do, without their warning on all-NaN dates and without
        # warnings.catch_warnings(), which is not thread-safe (two threads inside it at once leave
        # its "ignore" filter installed for the whole process)
        seen = np.count_nonzero(np.isfinite(x), axis=1) >= 2  # (T, K)
        lo = np.fmin.reduce(x, axis=1, initial=np.inf)
        hi = np.fmax.reduce(x, axis=1, initial=-np.inf)
        for k in range(K):
            if seen[:, k].any() and np.all((lo[seen[:, k], k] == hi[seen[:, k], k]) & (lo[seen[:, k], k] != 0)):
                raise ValueError(
                    f"characteristic {names[k]!r} is a non-zero constant on every date: an intercept. "
                    "Pass intercept=True (its estimate is named 'const') instead of a constant column"
                )
    d = as_dates("dates", dates, T)
    a = as_assets("assets", assets, N)
    # a frame's labels and those given must match (as in cross_section_regress), never be replaced
    check_same_labels("returns", fdates, fassets, "the dates/assets given", d, a, how=given_labels_how("returns"))
    d = fdates if d is None else d
    try:
        f, _, r2, _, _, n_obs = _core.cross_section_regress(r, x, None, 0, None, None, intercept, None, 0)
    except ValueError as e:
        msg = str(e)
        if msg.startswith("styles must not contain infinite values"):
            raise ValueError("characteristics" + msg[len("styles"):].replace("exposure", "value")) from None
        raise
    # A date is used when every parameter is estimated (linearmodels drops rank-deficient dates).
    # The kernel drops a characteristic with no dispersion from its date and estimates the rest;
    # Fama-MacBeth needs every characteristic, so such a date is dropped whole.
    partial = ~np.all(np.isfinite(f), axis=1)
    f[partial] = np.nan
    r2[partial] = np.nan
    if not intercept and partial.any():
        _refit_without_intercept(np.flatnonzero(partial), r, x, f, r2)
    return FamaMacBethResult(
        estimates=f, n_obs=n_obs, r2=r2, names=(["const"] if intercept else []) + names,
        cov_type=cov, bandwidth=bandwidth, dates=d,
    )
