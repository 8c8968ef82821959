"""Cross-sectional factor models: the batched regression and its result.

``cross_section_regress`` runs one weighted least-squares regression per date of the returns on
the exposures (market, industries as codes, styles) in the Rust core, in parallel over dates.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ferrofactor import _core
from ferrofactor._validate import (
    as_code_array,
    as_float_array,
    check_choice,
    check_shape,
)

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
        ``P = market + G + K``. Dates with fewer usable observations than free parameters, or a
        singular design, are NaN (their ``n_obs`` is still reported); nothing is raised for them.

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
