"""The cross-sectional factor model: lagged batched regressions and a result that carries
everything the next stages need.

Time: ``returns[t]`` runs from close t−1 to close t and is regressed on the exposures known
``lag`` dates earlier: ``r_t = B_{t−lag} f_t + e_t`` (default ``lag=1``). The lag is an offset
inside the Rust kernel: the exposures, caps and weights are used as given (row t known at the
close of t) and never copied or shifted.

Estimator convention (every model class of ferrofactor): settings go to ``__init__`` and are
validated there; ``fit`` validates its data, computes everything, and only then stores anything,
so a failed fit leaves the object as it was. :meth:`FactorModel.fit` returns the
:class:`FactorModelResult` (also kept as ``model.result_``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from ferrofactor._validate import (
    field_axes,
    as_field,
    as_float_array,
    check_bool,
    check_choice,
    check_int,
    check_real,
    check_same_labels,
    check_shape,
    check_weights,
    refuse_inf,
)
from ferrofactor.exposures import Exposures
from ferrofactor.inference import fama_macbeth_inference
from ferrofactor.regress import (
    INDUSTRY_CONSTRAINTS,
    CrossSectionResult,
    FamaMacBethResult,
    _regress,
    _t_quantile,
    robust_clip_returns,
)
from ferrofactor.results import NotFittedError, Summary, readonly, short_names

__all__ = ["FactorModel", "FactorModelResult"]

WEIGHT_OPTIONS = ("sqrt_cap", "equal")


class FactorModelResult(CrossSectionResult):
    """Result of :meth:`FactorModel.fit`: per-date regressions, their Fama-MacBeth summary, and
    what later stages need (the risk model, attribution, signal evaluation).

    Per-date arrays (read-only, factors ordered ``[market] + industries + styles``):
    ``factor_returns`` (T, P), ``residuals`` (T, N) (of the original, unclipped returns),
    ``r2``, ``n_obs``, ``n_clipped`` (T,), ``std_errors``, ``tstats`` (T, P).

    Carried for the next stages: ``exposures`` (the *unlagged* :class:`Exposures` given to
    ``fit``: row t known at the close of t), ``cap`` (T, N) or None, ``returns`` (T, N) (the
    returns given to ``fit``), ``regression_weights`` (T, N) (row t known at t, used for
    ``returns[t + lag]``), ``lag``, ``dates``, ``assets``, ``factor_names`` and the ``model``
    settings.

    Fama-MacBeth summary over dates, each factor over the dates where it was estimated
    (``n_dates_estimated``): ``mean_returns`` (per period, not annualised), plain
    ``std_errors_mean``/``tstats_mean``/``pvalues_mean`` and Newey-West (Bartlett kernel,
    automatic bandwidth ``nw_bandwidth``) ``nw_std_errors``/``nw_tstats``/``nw_pvalues``, with
    95% intervals (t distribution with the factor's dates − 1 degrees of freedom).
    ``fama_macbeth(cov, bandwidth)`` gives the full :class:`FamaMacBethResult`.
    """

    _arrays = dict(CrossSectionResult._arrays, **{
        "n_clipped": ("date",), "mean_returns": ("factor",), "std_errors_mean": ("factor",),
        "tstats_mean": ("factor",), "pvalues_mean": ("factor",), "nw_std_errors": ("factor",),
        "nw_tstats": ("factor",), "nw_pvalues": ("factor",), "n_dates_estimated": ("factor",),
        "ci_lower": ("factor",), "ci_upper": ("factor",), "nw_ci_lower": ("factor",),
        "nw_ci_upper": ("factor",),
    })
    _groups = {
        "dates": ("r2", "n_obs", "n_clipped"),
        "summary": ("mean_returns", "std_errors_mean", "tstats_mean", "pvalues_mean", "ci_lower",
                    "ci_upper", "nw_std_errors", "nw_tstats", "nw_pvalues", "nw_ci_lower",
                    "nw_ci_upper", "n_dates_estimated"),
    }
    _default_kind = "factor_returns"

    def __init__(self, *, factor_returns, residuals, r2, std_errors, tstats, n_obs, factor_names,
                 dates, assets, exposures, cap, returns, n_clipped, model) -> None:
        super().__init__(factor_returns=factor_returns, residuals=residuals, r2=r2,
                         std_errors=std_errors, tstats=tstats, n_obs=n_obs,
                         factor_names=factor_names, dates=dates, assets=assets)
        self._exposures = exposures
        self._cap = readonly(cap)
        self._returns = readonly(returns)
        self._n_clipped = readonly(np.asarray(n_clipped))
        self._model = model
        self._plain = {k: readonly(v) for k, v in fama_macbeth_inference(
            self._factor_returns, "unadjusted", nan_policy="column").items()}
        self._nw = {k: readonly(v) for k, v in fama_macbeth_inference(
            self._factor_returns, "kernel", nan_policy="column").items()}
        q = _t_quantile(0.95, np.asarray(self._plain["n_periods"]) - 1)
        with np.errstate(invalid="ignore"):
            m = self._plain["params"]
            self._ci = (readonly(m - q * self._plain["std_errors"]), readonly(m + q * self._plain["std_errors"]))
            self._nw_ci = (readonly(m - q * self._nw["std_errors"]), readonly(m + q * self._nw["std_errors"]))

    # -- carried for the next stages ---------------------------------------------------------
    exposures = property(lambda self: self._exposures,
                         doc="The unlagged Exposures given to fit (row t known at close t).")
    cap = property(lambda self: self._cap, doc="(T, N) market cap given to fit, or None.")
    returns = property(lambda self: self._returns, doc="(T, N) returns given to fit (unclipped).")
    n_clipped = property(lambda self: self._n_clipped, doc="(T,) returns clipped per date.")
    n_clipped_total = property(lambda self: int(self._n_clipped.sum()), doc="returns clipped.")
    model = property(lambda self: self._model._frozen(),
                     doc="A copy of the FactorModel (settings) that was fit: changing or refitting "
                     "it leaves this result (its lag, weights, ...) as it is.")
    lag = property(lambda self: self._model.lag, doc="Dates between exposures and returns.")

    @property
    def regression_weights(self) -> np.ndarray:
        """(T, N) regression weights, row t known at the close of t (used for ``returns[t+lag]``):
        ``sqrt(cap)``, ones, or the array given to the model. Computed on access."""
        w = self._model.weights
        if isinstance(w, str):
            if w == "equal":
                return readonly(np.ones(self._residuals.shape))
            with np.errstate(invalid="ignore"):
                return readonly(np.sqrt(self._cap))
        return readonly(w)

    # -- Fama-MacBeth summary -----------------------------------------------------------------
    mean_returns = property(lambda self: self._plain["params"],
                            doc="(P,) mean factor return per period over the estimated dates.")
    std_errors_mean = property(lambda self: self._plain["std_errors"],
                               doc="(P,) plain standard errors of the mean factor returns.")
    tstats_mean = property(lambda self: self._plain["tstats"], doc="(P,) plain t-statistics.")
    pvalues_mean = property(lambda self: self._plain["pvalues"], doc="(P,) plain p-values.")
    ci_lower = property(lambda self: self._ci[0], doc="(P,) plain 95% interval, lower.")
    ci_upper = property(lambda self: self._ci[1], doc="(P,) plain 95% interval, upper.")
    nw_std_errors = property(lambda self: self._nw["std_errors"],
                             doc="(P,) Newey-West standard errors of the mean factor returns.")
    nw_tstats = property(lambda self: self._nw["tstats"], doc="(P,) Newey-West t-statistics.")
    nw_pvalues = property(lambda self: self._nw["pvalues"], doc="(P,) Newey-West p-values.")
    nw_ci_lower = property(lambda self: self._nw_ci[0], doc="(P,) Newey-West 95% interval, lower.")
    nw_ci_upper = property(lambda self: self._nw_ci[1], doc="(P,) Newey-West 95% interval, upper.")
    nw_bandwidth = property(lambda self: self._nw["bandwidth"],
                            doc="Newey-West bandwidth (automatic rule; NaN if too few dates).")
    n_periods = property(lambda self: self._plain["n_periods"], doc="(P,) dates per factor.")

    def fama_macbeth(self, cov: str = "kernel", bandwidth: float | None = None) -> FamaMacBethResult:
        """Fama-MacBeth inference on the factor returns with a chosen covariance and bandwidth
        (each factor over the dates where it was estimated). ``cov`` is ``"kernel"`` (Newey-West)
        or ``"unadjusted"``; ``bandwidth`` (lags, default the automatic rule) only with
        ``"kernel"``: with ``"unadjusted"`` it is refused (``ValueError``), as in
        :func:`ferrofactor.fama_macbeth`."""
        return FamaMacBethResult(
            estimates=self._factor_returns, n_obs=self._n_obs, r2=self._r2,
            names=self._factor_names, cov_type=cov, bandwidth=bandwidth, dates=self._dates,
            nan_policy="column", title="Factor returns: Fama-MacBeth summary",
        )

    def summary(self) -> Summary:
        """Mean factor returns with plain and Newey-West standard errors, t-statistics, p-values
        and 95% intervals, and the dates each factor was estimated on."""
        m = self._model
        header = self._header() + [
            ("Exposure lag", m.lag),
            ("Weights", m.weights if isinstance(m.weights, str) else "array"),
            ("Industry constraint", str(m.industry_constraint)),
            ("NW bandwidth", f"{self.nw_bandwidth:g}"),
            ("Clipped returns", self.n_clipped_total),
        ]
        plain = pl.DataFrame({
            "factor": self._factor_names, "mean": self.mean_returns, "std_error": self.std_errors_mean,
            "tstat": self.tstats_mean, "pvalue": self.pvalues_mean, "ci_lower": self.ci_lower,
            "ci_upper": self.ci_upper, "dates": self.n_dates_estimated,
        })
        nw = pl.DataFrame({
            "factor": self._factor_names, "nw_std_error": self.nw_std_errors,
            "nw_tstat": self.nw_tstats, "nw_pvalue": self.nw_pvalues, "nw_ci_lower": self.nw_ci_lower,
            "nw_ci_upper": self.nw_ci_upper,
        })
        notes = []
        for d in (self._plain, self._nw):
            if d["reason"] and d["reason"] not in notes:
                notes.append(d["reason"])
        never = [n for n, c in zip(self._factor_names, self.n_dates_estimated) if c == 0]
        if never:
            notes.append(f"never estimated: {never}")
        notes.append("Means are per period (not annualised); intervals are 95%, t(dates − 1).")
        return Summary(
            "Factor model: mean factor returns (Fama-MacBeth over dates)", header,
            [("Plain", plain), ("Newey-West", nw)], notes,
        )

    def __repr__(self) -> str:
        T, N = self._residuals.shape
        return f"FactorModelResult(T={T}, N={N}, lag={self.lag}, factors={short_names(self._factor_names)})"


def _dask_backed(x: Any) -> bool:
    """True for a ferrofactor.dask object or a dask array (checked without importing Dask)."""
    mod = type(x).__module__
    return mod == "ferrofactor.dask" or mod.startswith("dask.")


class FactorModel:
    """Cross-sectional factor model: one weighted regression of returns on lagged exposures per
    date.

    ``returns[t]`` (close t−1 to close t) is regressed on the exposures known ``lag`` dates
    earlier: ``r_t = B_{t−lag} f_t + e_t``; the regression weights and the caps of the industry
    constraint are lagged the same way. Settings are validated here; :meth:`fit` does the work.

    Parameters
    ----------
    market : bool, default True
        Include a market factor (intercept). Must agree with ``exposures.market``.
    industry_constraint : {"cap", "equal", None}, default "cap"
        With a market factor, the industry factor returns are constrained to a zero cap-weighted
        ("cap": the market factor is then the cap-weighted mean of the industries' levels
        ``f_mkt + f_g``, exactly the cap-weighted market's return with ``weights`` equal to the
        caps and styles of cap-weighted mean 0, close to it with the default ``"sqrt_cap"``) or
        equal-weighted ("equal") sum; ``None`` is refused there (the industry dummies sum to the market column). Without
        a market factor the industries carry the common level and are never constrained: the
        setting is stored as ``None`` (a constraint there would force the market's move into
        the residuals).
    weights : "sqrt_cap", "equal", array_like or Polars frame (T, N), default "sqrt_cap"
        Regression weights: sqrt(market cap), all ones, or given per date and asset (row t known
        at t; non-negative; NaN or 0 drops the observation). A frame (long, or wide with rows in
        date order) keeps its labels: :meth:`fit` refuses it (``ValueError`` naming weights)
        unless they equal those of the returns, exposures and cap that carry labels.
    lag : int >= 0, default 1
        Dates between the exposures (and cap, weights) and the returns they explain. 0 is
        allowed for studies that align the data themselves.
    winsorize_returns : float, optional
        If given, returns whose robust z-score ``|r − median| / (1.4826 · MAD)`` on their date
        exceeds this threshold are clipped to it for the fit only; residuals are reported
        against the original returns.
    returns_field, cap_field : str, default "returns", "market_cap"
        Fields read from a Panel passed to :meth:`fit`.

    Examples
    --------
    >>> import ferrofactor as ff
    >>> panel = ff.datasets.synthetic_universe(n_assets=200, n_days=300, seed=1)
    >>> exposures = ff.Exposures.from_panel(panel)
    >>> result = ff.FactorModel().fit(panel, exposures)
    >>> result.factor_returns.shape, result.lag
    ((300, 15), 1)
    """

    def __init__(self, market: bool = True, industry_constraint: str | None = "cap",
                 weights: Any = "sqrt_cap", lag: int = 1, winsorize_returns: float | None = None,
                 *, returns_field: str = "returns", cap_field: str = "market_cap") -> None:
        market = check_bool("market", market)
        check_choice("industry_constraint", industry_constraint, INDUSTRY_CONSTRAINTS)
        weight_labels = None
        if isinstance(weights, str):
            check_choice("weights", weights, WEIGHT_OPTIONS)
        elif weights is None:
            raise ValueError(
                f"weights must be one of {list(WEIGHT_OPTIONS)!r} or an array (T, N), got None"
            )
        else:
            # a frame keeps its labels: compared in fit with those of returns, exposures and cap
            weights, w_dates, w_assets = as_field("weights", weights)
            weights = readonly(weights)
            check_weights("weights", weights)
            weight_labels = (weights, w_dates, w_assets)
        lag = check_int("lag", lag, 0)
        if winsorize_returns is not None:
            winsorize_returns = check_real("winsorize_returns", winsorize_returns, lo=0.0, lo_open=True)
        for name, v in (("returns_field", returns_field), ("cap_field", cap_field)):
            if not isinstance(v, str):
                raise TypeError(f"{name} must be a field name (str), got {v!r}")
        self.market = market
        # without a market factor the industry returns are free (see the docstring)
        self.industry_constraint = industry_constraint if market else None
        self.weights = weights
        self._weights_frame = weight_labels
        self.lag = lag
        self.winsorize_returns = winsorize_returns
        self.returns_field = returns_field
        self.cap_field = cap_field
        self.result_: FactorModelResult | None = None

    def __repr__(self) -> str:
        w = self.weights if isinstance(self.weights, str) else f"array{self.weights.shape}"
        return (f"FactorModel(market={self.market}, industry_constraint={self.industry_constraint!r}, "
                f"weights={w!r}, lag={self.lag}, winsorize_returns={self.winsorize_returns})")

    def _weights_labels(self) -> tuple[Any, Any]:
        """``(dates, assets)`` of a weights frame given to ``__init__`` (None each for a string,
        an array, or an array assigned to ``weights`` later)."""
        held = getattr(self, "_weights_frame", None)
        if held is None or held[0] is not self.weights:
            return None, None
        return held[1], held[2]

    def _frozen(self) -> FactorModel:
        """A copy of the settings for the result (later changes to this object do not leak)."""
        import copy

        c = copy.copy(self)
        c.result_ = None
        return c

    @property
    def result(self) -> FactorModelResult:
        """The result of the last successful :meth:`fit`."""
        if self.result_ is None:
            raise NotFittedError("FactorModel is not fitted: call fit(panel, exposures) first")
        return self.result_

    def fit(self, returns: Any, exposures: Exposures, cap: Any = None) -> FactorModelResult:
        """Run the per-date regressions.

        Parameters
        ----------
        returns : Panel, Polars frame, or array_like (T, N)
            A Panel gives ``returns_field`` and, unless ``cap`` is passed, ``cap_field``, and its
            dates and assets. A frame (long or wide) or array gives the returns: simple decimal
            returns, ``returns[t]`` from close t−1 to close t, NaN where missing (an infinite
            value is a data error: ``ValueError``).
        exposures : Exposures, shape (T, N)
            Unlagged: row t observed at the close of t. Where both carry labels, its dates and
            assets must equal those of ``returns`` (same order), else ``ValueError``.
        cap : array_like or Polars frame (T, N), optional
            Market capitalisation at close t (> 0, NaN where unknown). Needed for
            ``weights="sqrt_cap"`` and for ``industry_constraint="cap"`` with industries. A
            frame's labels must equal those of returns, exposures and a weights frame that
            carry labels, else ``ValueError`` (never paired by position).

        Returns
        -------
        FactorModelResult
            Or, when ``returns``/``exposures`` are Dask-backed (a ``ferrofactor.dask.DaskPanel``,
            ``DaskExposures`` or dask arrays), a ``ferrofactor.dask.DaskFactorModelResult``: the
            same regressions run block by block on the dates' chunks (see :mod:`ferrofactor.dask`).
        """
        from ferrofactor.panel import Panel

        if _dask_backed(returns) or _dask_backed(exposures) or _dask_backed(cap):
            from ferrofactor.dask import _fit_factor_model  # only reached when Dask is installed

            return _fit_factor_model(self, returns, exposures, cap)
        if isinstance(returns, Panel):
            panel = returns
            if self.returns_field not in panel:
                raise ValueError(
                    f"panel has no field {self.returns_field!r} (returns_field); fields: {list(panel.fields)}"
                )
            r, r_dates, r_assets = panel[self.returns_field], panel.dates, panel.assets
            if cap is None and self.cap_field in panel:
                cap = panel[self.cap_field]
        else:
            # a frame's rows come out in date order: fine against exposures with dates (checked
            # below) and a cap frame, ambiguous against exposures without dates or a cap array
            unlabelled = getattr(exposures, "dates", None) is None or (
                cap is not None and not field_axes(cap)[0]
            ) or (not isinstance(self.weights, str) and self._weights_labels()[0] is None)
            r, r_dates, r_assets = as_field("returns", returns, date_order=unlabelled)
        r = as_float_array("returns", r, 2)
        # an infinite return is a data error (a zero price upstream), not a missing one
        refuse_inf("returns", r, "NaN marks a missing return")
        if not isinstance(exposures, Exposures):
            raise TypeError(f"exposures must be a ferrofactor.Exposures, got {type(exposures).__name__}")
        T, N = r.shape
        if tuple(exposures.shape) != (T, N):
            raise ValueError(
                f"exposures has shape {tuple(exposures.shape)}, expected {(T, N)} "
                "(the shape of returns (T, N)); align them first, e.g. panel.select(dates=..., assets=...)"
            )
        exposures.check_labels("returns", r_dates, r_assets)
        if exposures.market != self.market:
            raise ValueError(
                f"FactorModel(market={self.market}) but exposures.market is {exposures.market}; "
                "make them agree"
            )
        if T and self.lag >= T:
            raise ValueError(f"lag ({self.lag}) must be below the number of dates ({T})")
        has_ind = exposures.industry is not None
        need_cap = self.weights == "sqrt_cap" if isinstance(self.weights, str) else False
        need_cap = need_cap or (has_ind and self.market and self.industry_constraint == "cap")
        cap_arr, c_dates, c_assets = (None, None, None) if cap is None else \
            as_field("cap", cap, date_order=r_dates is None)
        if cap_arr is None and need_cap:
            raise ValueError(
                "cap is required for weights='sqrt_cap' and for industry_constraint='cap' with "
                "industries; pass cap (T, N) (or a Panel with a market_cap field) or use "
                "weights='equal', industry_constraint='equal'"
            )
        if cap_arr is not None:
            check_shape("cap", cap_arr, (T, N), "the shape of returns (T, N)")
            check_same_labels("cap", c_dates, c_assets, "returns", r_dates, r_assets)
            # and with the exposures' (beside returns without labels it was used by position)
            exposures.check_labels("cap", c_dates, c_assets)
            check_weights("cap", cap_arr)
        if isinstance(self.weights, str):
            # None lets the kernel weight by sqrt(cap) without a (T, N) copy
            w = None if self.weights == "sqrt_cap" else np.ones((T, N))
        else:
            check_shape("weights", self.weights, (T, N), "the shape of returns (T, N)")
            # a weights frame is matched on its labels, never by position (as cap is)
            w_dates, w_assets = self._weights_labels()
            check_same_labels("weights", w_dates, w_assets, "returns", r_dates, r_assets)
            exposures.check_labels("weights", w_dates, w_assets)
            if cap_arr is not None:
                check_same_labels("cap", c_dates, c_assets, "weights", w_dates, w_assets)
            w = self.weights
        if has_ind and self.market and self.industry_constraint is None:
            raise ValueError(
                "industry_constraint=None with a market factor and industries makes the design "
                "singular; use 'cap' or 'equal', or market=False"
            )
        if self.winsorize_returns is not None:
            r_fit, n_clipped = robust_clip_returns(r, self.winsorize_returns)
        else:
            r_fit, n_clipped = r, np.zeros(T, dtype=np.int64)
        dates = exposures.dates if exposures.dates is not None else r_dates
        assets = exposures.assets if exposures.assets is not None else r_assets
        result = _regress(
            r_fit, exposures.styles, exposures.industry, exposures.n_industries, w, cap_arr,
            self.market, self.industry_constraint if has_ind else None, self.lag,
            exposures.factor_names, dates, assets, cls=FactorModelResult,
            exposures=exposures, cap=cap_arr, returns=r, n_clipped=n_clipped, model=self._frozen(),
        )
        if self.winsorize_returns is not None:
            # same fitted values B f; residuals of the original returns, not of the clipped ones
            result._residuals = readonly(np.asarray(result._residuals) + (r - r_fit))
        self.result_ = result
        return result
