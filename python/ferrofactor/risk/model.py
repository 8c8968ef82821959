"""RiskModel: estimation and storage of Σ = B Σf Bᵀ + D for every date.

``RiskModel`` turns factor returns (T, K) and residuals (T, N) into, for every date ``t``,

- a factor covariance ``Σf[t]`` (K, K) (:mod:`ferrofactor.risk.covariance`);
- a specific variance ``D[t]`` (N,): exponentially weighted mean of squared residuals
  (optionally Newey-West adjusted) blended by history length with a structural model (USE4:
  the time-series weight rises linearly from 0 at ``specific_min_periods`` residuals to 1 after
  ``specific_blend_periods`` more), then Bayesian shrinkage toward the cap-group mean (Rust,
  ``_core.risk_specific_variance``);
- optionally, volatility-regime multipliers for factor and specific risk.

Time: row ``t`` uses factor returns and residuals up to and including ``t`` and the exposures
known at the close of ``t`` (the *unlagged* exposures a :class:`~ferrofactor.FactorModelResult`
carries): it is the risk forecast for ``returns[t + 1]``.

Estimator convention: settings go to ``__init__`` and are validated there; :meth:`RiskModel.fit`
validates its data, computes everything, and only then stores it (a failed fit leaves the model as
it was) and returns the model itself, which is what the products are computed with
(:mod:`ferrofactor.risk.products`). Factor order: ``[market], industries, styles``.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import polars as pl

from ferrofactor import _core
from ferrofactor._validate import (
    as_field,
    as_float_array,
    by_label,
    check_int,
    check_real,
    check_shape,
    check_weights,
    date_position,
    date_positions,
    factor_frame,
    is_field_frame,
    refuse_inf,
    values_by_label,
)
from ferrofactor.constants import PERIODS_PER_YEAR
from ferrofactor.exposures import Exposures
from ferrofactor.results import NotFittedError, Result, Summary, readonly
from ferrofactor.risk.covariance import check_lags, check_psd, factor_covariance
from ferrofactor.risk.products import ProductsMixin

__all__ = ["RiskModel"]

_FITTED = (
    "_cov", "_spec", "_dates", "_assets", "_names", "_clipped", "_raw_spec", "_n_obs",
    "_structural", "_vra", "_exposures", "_cap", "_keep", "_factor_returns", "_residuals",
    "_fit_settings",
)
# Smallest structural_ridge: below ~1e-13 the structural regression is singular to the kernel's
# Cholesky (pivot tolerance 1e-12), and its accuracy is ~1e-16 / ridge.
MIN_STRUCTURAL_RIDGE = 1e-10
_UNRECORDED = object()  # RiskModel.summary: a model unpickled from before _fit_settings existed


def _regime_ewma(b2: np.ndarray, half_life: float) -> np.ndarray:
    """The regime multiplier from the bias statistics B² (T,): the second half of
    ``_core.risk_regime_multiplier`` (rust/risk/regime.rs), the same operations in the same order
    (``λ = 0.5^(1/half_life)``; ``num ← λ·num + B²``, ``den ← λ·den + 1`` over finite B²;
    ``sqrt(num / den)``, NaN while ``den = 0``), for B² computed block by block (ff.dask)."""
    lam = 0.5 ** (1.0 / half_life)
    out = np.full(len(b2), np.nan)
    num = den = 0.0
    for t, b in enumerate(np.asarray(b2, dtype=np.float64).tolist()):
        num *= lam
        den *= lam
        if math.isfinite(b):
            num += b
            den += 1.0
        if den > 0.0:
            out[t] = math.sqrt(num / den)
    return out


class RiskModel(ProductsMixin, Result):
    """A factor risk model ``Σ = B Σf Bᵀ + D`` for every date of a panel.

    Parameters (all validated here)
    -------------------------------
    vol_half_life : float, default 84
        Half-life in days of the exponential weights of factor volatilities.
    corr_half_life : float, default 504
        Half-life in days of the exponential weights of factor correlations.
    newey_west_lags : (int, int), default (5, 2)
        Newey-West lags (Bartlett weights ``1 - l/(L+1)``) for volatilities and correlations.
    specific_half_life : float, default 84
        Half-life of the EWMA of squared residuals.
    specific_newey_west_lags : int, default 0
        Newey-West lags on each asset's residuals (``Γ0 + 2 Σ_l (1 - l/(L+1)) Γ_l`` with EWMA
        autocovariances; ``Γ0`` kept where that is not positive). 0: the plain EWMA.
    shrinkage : float, default 0.1
        Bayesian shrinkage intensity toward the cap-group mean specific volatility (USE4); 0 = off.
    n_cap_groups : int, default 10
        Cap groups (deciles) for the shrinkage target.
    min_periods : int, default 21
        A factor needs this many finite returns up to ``t`` for its row of ``Σf[t]``.
    specific_min_periods : int, default 63
        Assets with fewer finite residuals up to ``t`` get the structural estimate.
    specific_blend_periods : int, default 120
        Length of the USE4 history blend (0: switch straight to the time series).
    vra_half_life : float or None, default None
        Half-life of the volatility-regime adjustment (None = off): ``Σf[t]`` scaled by ``λF[t]²``
        and ``D[t]`` by ``λS[t]²`` (EWMA of the squared cross-sectional bias of standardised
        returns, factors equally weighted, assets cap-weighted).
    structural_ridge : float, default 1e-4
        Ridge on the industry dummies of the structural regression (fraction of total weight);
        at least 1e-10: the intercept is the sum of the industry dummies, so without a ridge the
        regression is singular (it also keeps industries without fitted assets at the intercept).

    Examples
    --------
    >>> import numpy as np, ferrofactor as ff
    >>> panel = ff.datasets.synthetic_universe(n_assets=200, n_days=300, seed=1)
    >>> result = ff.FactorModel().fit(panel, ff.Exposures.from_panel(panel))
    >>> risk = ff.RiskModel.from_factor_model(result)
    >>> w = np.nan_to_num(panel["market_cap"][-1]); w /= w.sum()
    >>> bool(0 < risk.portfolio_risk(w, date=-1, annualize=True) < 1)
    True
    """

    _arrays = {
        "factor_covariance": ("date", "factor", "factor"), "factor_volatility": ("date", "factor"),
        "specific_variance": ("date", "asset"), "specific_risk": ("date", "asset"),
        "raw_specific_variance": ("date", "asset"), "specific_n_obs": ("date", "asset"),
        "structural": ("date", "asset"), "eigenvalue_clipped": ("date",),
    }
    _default_kind = "factor_volatility"

    def __init__(
        self,
        vol_half_life: float = 84,
        corr_half_life: float = 504,
        newey_west_lags: tuple[int, int] = (5, 2),
        specific_half_life: float = 84,
        specific_newey_west_lags: int = 0,
        shrinkage: float = 0.1,
        n_cap_groups: int = 10,
        min_periods: int = 21,
        specific_min_periods: int = 63,
        specific_blend_periods: int = 120,
        vra_half_life: float | None = None,
        structural_ridge: float = 1e-4,
    ) -> None:
        def half_life(name, v, allow_none=False):
            return check_real(name, v, lo=0.0, lo_open=True, allow_none=allow_none)

        if not isinstance(newey_west_lags, (tuple, list)) or len(newey_west_lags) != 2:
            raise ValueError(f"newey_west_lags must be a pair (vol_lags, corr_lags), got {newey_west_lags!r}")
        self.vol_half_life = half_life("vol_half_life", vol_half_life)
        self.corr_half_life = half_life("corr_half_life", corr_half_life)
        self.newey_west_lags = (check_int("newey_west_lags[0]", newey_west_lags[0], 0, 10_000),
                                check_int("newey_west_lags[1]", newey_west_lags[1], 0, 10_000))
        self.specific_half_life = half_life("specific_half_life", specific_half_life)
        self.specific_newey_west_lags = check_int("specific_newey_west_lags", specific_newey_west_lags, 0, 10_000)
        self.shrinkage = check_real("shrinkage", shrinkage, lo=0.0)
        self.n_cap_groups = check_int("n_cap_groups", n_cap_groups, 1, 10_000)
        self.min_periods = check_int("min_periods", min_periods, 1)
        self.specific_min_periods = check_int("specific_min_periods", specific_min_periods, 1)
        self.specific_blend_periods = check_int("specific_blend_periods", specific_blend_periods, 0)
        self.vra_half_life = half_life("vra_half_life", vra_half_life, allow_none=True)
        # the intercept is the sum of the industry dummies: without the ridge (or with one below
        # the kernel's pivot tolerance, ~1e-13) the structural regression is singular and its
        # assets silently got no specific variance; the normal equations lose ~1e-16/ridge
        self.structural_ridge = check_real("structural_ridge", structural_ridge, lo=MIN_STRUCTURAL_RIDGE)
        self._fitted = False

    def _settings(self) -> dict[str, Any]:
        return dict(
            vol_half_life=self.vol_half_life, corr_half_life=self.corr_half_life,
            newey_west_lags=self.newey_west_lags, specific_half_life=self.specific_half_life,
            specific_newey_west_lags=self.specific_newey_west_lags, shrinkage=self.shrinkage,
            n_cap_groups=self.n_cap_groups, min_periods=self.min_periods,
            specific_min_periods=self.specific_min_periods,
            specific_blend_periods=self.specific_blend_periods, vra_half_life=self.vra_half_life,
            structural_ridge=self.structural_ridge,
        )

    def __repr__(self) -> str:
        if not self._fitted:
            return "RiskModel(unfitted)"
        d, n = self._spec.shape
        return f"RiskModel({d} dates, {n} assets, {len(self._names)} factors)"

    def __str__(self) -> str:
        # print() of an unfitted model says so (summary() raises NotFittedError, print must not)
        return repr(self) if not self._fitted else super().__str__()

    def _repr_html_(self) -> str:
        return html.escape(repr(self)) if not self._fitted else super()._repr_html_()

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_factor_model(cls, result: Any, *, keep_dates: Any = None, **settings: Any) -> RiskModel:
        """``RiskModel(**settings).fit(result, keep_dates=keep_dates)``: everything comes from the
        :class:`~ferrofactor.FactorModelResult` (factor returns, residuals, unlagged exposures,
        cap, labels)."""
        return cls(**settings).fit(result, keep_dates=keep_dates)

    @classmethod
    def from_arrays(cls, factor_returns: Any, residuals: Any, exposures: Exposures, cap: Any, *,
                    keep_dates: Any = None, **settings: Any) -> RiskModel:
        """Build from plain arrays: factor returns (T, K) in the order of
        ``exposures.factor_names``, residuals (T, N), the unlagged :class:`Exposures` (T, N) and
        cap (T, N). Labels come from ``exposures``. Factor returns given as a pandas DataFrame
        indexed by date, or a Polars frame, must carry the exposures' dates, in their order
        (without them: in date order), and a frame's named columns their factor names, in their
        order, else ``ValueError``; never paired by position. Residuals and cap given as
        frames (Polars, or pandas DataFrames indexed by date or with asset columns) keep their
        labels: they must be the exposures' (else ``ValueError``). NaN marks a missing factor
        return or residual; an infinite one is a data error: ``ValueError`` naming it."""
        model = cls(**settings)
        if isinstance(exposures, Exposures):
            # a frame's columns name the factors, its dates the exposures': never by position
            factor_returns = factor_frame("factor_returns", factor_returns, exposures.factor_names,
                                          exposures.dates, of="exposures")
            frames = {}
            for name, v in (("residuals", residuals), ("cap", cap)):
                if is_field_frame(v):
                    # rows come out in date order: compared with the exposures' dates when they
                    # have them, else paired by position (then they must be in date order)
                    arr, f_dates, f_assets = as_field(name, v, date_order=exposures.dates is None)
                    exposures.check_labels(name, f_dates, f_assets)
                    frames[name] = arr
            residuals, cap = frames.get("residuals", residuals), frames.get("cap", cap)
        model._fit(factor_returns, residuals, exposures, cap, keep_dates)
        return model

    @classmethod
    def from_covariance(cls, factor_covariance: Any, specific_variance: Any, exposures: Exposures,
                        *, cap: Any = None) -> RiskModel:
        """A model from given (e.g. vendor) matrices: ``factor_covariance`` (K, K) or (D, K, K),
        symmetric PSD, in the order of ``exposures.factor_names``; ``specific_variance`` (N,) or
        (D, N), non-negative (NaN = not covered); ``exposures`` with D dates (its labels label
        the model); ``cap`` (D, N) optional (factor-mimicking portfolios; non-negative, NaN =
        none, negative or infinite values are a ``ValueError``). An (N,)
        ``specific_variance`` or ``cap`` may be a mapping or a pandas Series indexed by asset:
        paired with the exposures' assets by label (every asset given), never by position."""
        if not isinstance(exposures, Exposures):
            raise TypeError(f"exposures must be a ferrofactor.Exposures, got {type(exposures).__name__}")
        D, N = exposures.shape
        K = exposures.n_factors
        fc = _stack("factor_covariance", factor_covariance, 2)
        check_shape("factor_covariance", fc, (D, K, K), f"{D} dates of exposures, factors {exposures.factor_names}")
        for i in range(D):
            check_psd("factor_covariance" if D == 1 else f"factor_covariance[{i}]", fc[i])
        sv = _stack("specific_variance", _by_asset("specific_variance", specific_variance, exposures), 1)
        check_shape("specific_variance", sv, (D, N), "dates × assets of exposures")
        if np.any(sv[np.isfinite(sv)] < 0) or np.isinf(sv).any():
            raise ValueError("specific_variance must be non-negative and finite (NaN = not covered)")
        cp = None
        if cap is not None:
            cp = _stack("cap", _by_asset("cap", cap, exposures), 1)
            check_shape("cap", cp, (D, N), "dates × assets of exposures")
            # as from_arrays and FactorModel.fit refuse them (a negative or infinite cap was kept
            # and its asset silently left out of the factor-mimicking portfolios); NaN = no cap
            check_weights("cap", cp)
        m = cls()
        m._store(dict(
            _cov=fc.copy(), _spec=sv.copy(), _dates=exposures.dates, _assets=exposures.assets,
            _names=exposures.factor_names, _clipped=np.zeros(D, bool), _raw_spec=None, _n_obs=None,
            _structural=None, _vra=None, _exposures=exposures, _cap=cp, _keep=np.arange(D),
            _factor_returns=None, _residuals=None, _fit_settings=None,
        ))
        return m

    # ------------------------------------------------------------------ fit
    def fit(self, result: Any, *, keep_dates: Any = None) -> RiskModel:
        """Estimate the model for every date from a fitted factor model.

        Parameters
        ----------
        result : FactorModelResult (or a fitted FactorModel, or a ferrofactor.dask.DaskFactorModelResult:
            then the specific variance runs on the cluster block by block, the residuals stay
            there, and the exposures, cap and (T, N) outputs are gathered into memory)
            Supplies the factor returns (T, K), residuals (T, N), the unlagged exposures (row t
            known at the close of t, used with the forecast made at t), the cap (T, N) (shrinkage
            groups, structural weights, cap-weighted regime bias) and the labels.
        keep_dates : array-like, optional
            Positions or date labels of the dates whose results are kept; all dates by default.
            The recursions always run over the whole history.

        Returns
        -------
        self
        """
        from ferrofactor.model import FactorModel, FactorModelResult

        if isinstance(result, FactorModel):
            result = result.result
        if getattr(result, "_ferrofactor_dask", False):
            # ff.dask.DaskFactorModelResult: the specific variance computed on the cluster (date
            # block by date block, the EWMA state carried); exposures, cap and outputs gathered
            fr, ex, cap, specific = result._risk_inputs(self._settings())
            self._fit(fr, None, ex, cap, keep_dates, specific=specific)
            return self
        if not isinstance(result, FactorModelResult):
            raise TypeError(
                f"result must be a FactorModelResult (from FactorModel.fit), got {type(result).__name__}; "
                "use RiskModel.from_arrays for plain arrays"
            )
        if result.cap is None:
            raise ValueError(
                "the risk model needs the market cap (shrinkage groups, structural weights): fit "
                "the factor model with cap (or a Panel with a market_cap field)"
            )
        self._fit(result.factor_returns, result.residuals, result.exposures, result.cap, keep_dates)
        return self

    def _fit(self, factor_returns, residuals, exposures, cap, keep_dates, specific=None) -> None:
        """``specific``: the outputs of ``_core.risk_specific_variance`` and the specific bias
        statistics B² (or None without ``vra_half_life``) computed elsewhere (ff.dask, block by
        block); then ``residuals`` is None and not stored."""
        if not isinstance(exposures, Exposures):
            raise TypeError(f"exposures must be a ferrofactor.Exposures, got {type(exposures).__name__}")
        fr = as_float_array("factor_returns", factor_returns, 2)
        res = None if specific is not None else as_float_array("residuals", residuals, 2)
        # an infinite factor return or residual is a data error, not a missing value (the EWMA
        # covariance and the specific variance skipped it quietly, as they skip NaN)
        refuse_inf("factor_returns", fr, "NaN marks a date not estimated")
        if res is not None:
            refuse_inf("residuals", res, "NaN marks a missing residual")
        cp = as_float_array("cap", cap, 2)
        check_weights("cap", cp)  # (a negative cap would silently drop the asset from the universe)
        t, n = res.shape if res is not None else exposures.shape
        check_shape("exposures", np.empty(exposures.shape), (t, n), "dates × assets of residuals")
        k = exposures.n_factors
        check_shape("factor_returns", fr, (t, k), f"one row per date, columns {exposures.factor_names}")
        check_shape("cap", cp, (t, n), "dates × assets of residuals")
        st = exposures.styles if exposures.styles is not None else np.zeros((t, n, 0))
        ind = exposures.industry if exposures.industry is not None else np.full((t, n), -1, np.int32)
        g = exposures.n_industries
        keep = np.arange(t) if keep_dates is None else _keep_positions(keep_dates, exposures.dates, t)
        s = self._settings()
        vol_lags, corr_lags = s["newey_west_lags"]
        check_lags("newey_west_lags[0]", vol_lags, t)
        check_lags("newey_west_lags[1]", corr_lags, t)
        check_lags("specific_newey_west_lags", s["specific_newey_west_lags"], t)
        cov, clipped = factor_covariance(
            fr, s["vol_half_life"], s["corr_half_life"], vol_lags, corr_lags, s["min_periods"],
        )
        if specific is None:
            spec, raw, n_obs, structural = _core.risk_specific_variance(
                res, np.ascontiguousarray(st), np.ascontiguousarray(ind), g, cp, s["specific_half_life"],
                s["specific_min_periods"], s["shrinkage"], s["n_cap_groups"], s["structural_ridge"],
                s["specific_blend_periods"], s["specific_newey_west_lags"],
            )
            b2_s = None
        else:
            spec, raw, n_obs, structural, b2_s = specific
            for name, a in (("specific_variance", spec), ("raw_specific_variance", raw),
                            ("specific_n_obs", n_obs), ("structural", structural)):
                check_shape(name, a, (t, n), "dates × assets of the exposures")
        vra = None
        if s["vra_half_life"] is not None:
            fvar = np.ascontiguousarray(np.diagonal(cov, axis1=1, axis2=2))
            _, lam_f = _core.risk_regime_multiplier(fr, fvar, None, s["vra_half_life"])
            if b2_s is None:
                _, lam_s = _core.risk_regime_multiplier(res, spec, cp, s["vra_half_life"])
            else:
                lam_s = _regime_ewma(b2_s, s["vra_half_life"])
            lam_f = np.where(np.isfinite(lam_f), lam_f, 1.0)
            lam_s = np.where(np.isfinite(lam_s), lam_s, 1.0)
            cov *= (lam_f**2)[:, None, None]
            spec *= (lam_s**2)[:, None]
            vra = (lam_f, lam_s)
        full = keep_dates is None
        kept = exposures if full else _select_dates(exposures, keep)
        self._store(dict(
            _cov=cov if full else cov[keep], _spec=spec if full else spec[keep],
            _dates=kept.dates, _assets=exposures.assets, _names=exposures.factor_names,
            _clipped=clipped if full else clipped[keep],
            _raw_spec=raw if full else raw[keep], _n_obs=n_obs if full else n_obs[keep],
            _structural=(structural if full else structural[keep]).astype(bool), _vra=vra,
            _exposures=kept, _cap=cp if full else cp[keep], _keep=keep,
            _factor_returns=fr, _residuals=res, _fit_settings=s,
        ))

    def _store(self, state: dict[str, Any]) -> None:
        """Store a complete fitted state at once (nothing is stored before everything is computed)."""
        for name in _FITTED:
            setattr(self, name, state[name])
        self._fitted = True

    # ------------------------------------------------------------------ properties
    def _check_fitted(self) -> None:
        if not self._fitted:
            raise NotFittedError("RiskModel is not fitted: call fit(result) or a from_* constructor")

    def _ro(self, name: str) -> Any:
        self._check_fitted()
        return readonly(getattr(self, name))

    dates = property(lambda self: self._ro("_dates"), doc="(D,) date labels of the stored results, or None.")
    assets = property(lambda self: self._ro("_assets"), doc="(N,) asset labels, or None.")
    factor_names = property(lambda self: list(self._ro("_names")),
                            doc="(K,) factor names, ordered [market], industries, styles.")
    exposures = property(lambda self: self._ro("_exposures"),
                         doc="The Exposures of the stored dates (row d known at the close of d).")
    cap = property(lambda self: self._ro("_cap"), doc="(D, N) market cap of the stored dates, or None.")
    factor_covariance = property(lambda self: self._ro("_cov"), doc="Σf (D, K, K), daily units.")
    specific_variance = property(lambda self: self._ro("_spec"),
                                 doc="D (D, N), daily variance; NaN where the asset is not covered.")
    raw_specific_variance = property(
        lambda self: self._ro("_raw_spec"),
        doc="(D, N) time-series estimate before the structural blend and shrinkage (or None).")
    specific_n_obs = property(lambda self: self._ro("_n_obs"),
                              doc="(D, N) finite residuals up to each date (or None).")
    structural = property(lambda self: self._ro("_structural"),
                          doc="(D, N) True where the structural estimate was used, in full or blended.")
    eigenvalue_clipped = property(lambda self: self._ro("_clipped"),
                                  doc="(D,) True where Σf had negative eigenvalues clipped.")
    stored_positions = property(lambda self: self._ro("_keep"),
                                doc="(D,) positions of the stored dates among the fitted dates.")

    @property
    def factor_volatility(self) -> np.ndarray:
        """(D, K) factor volatilities sqrt(diag Σf), daily."""
        self._check_fitted()
        return readonly(np.sqrt(np.diagonal(self._cov, axis1=1, axis2=2)))

    @property
    def specific_risk(self) -> np.ndarray:
        """(D, N) specific volatility sqrt(D), daily."""
        self._check_fitted()
        return readonly(np.sqrt(self._spec))

    @property
    def regime_multipliers(self) -> tuple[np.ndarray, np.ndarray] | None:
        """(λF, λS) volatility-regime multipliers over all fitted dates, or None when off."""
        self._check_fitted()
        return None if self._vra is None else (readonly(self._vra[0]), readonly(self._vra[1]))

    def _axis_labels(self, axis: str) -> Any:
        self._check_fitted()
        return super()._axis_labels(axis)

    def to_polars(self, kind: str | None = None, form: str = "wide") -> pl.DataFrame:
        self._check_fitted()
        return super().to_polars(kind, form)

    to_polars.__doc__ = Result.to_polars.__doc__

    def summary(self, date: Any = -1) -> Summary:
        """Annualised factor volatilities at ``date`` and on average, the distribution of
        annualised specific risk at ``date`` (its quantiles; the number of assets it covers there
        is the header's "Covered assets"), the settings and the dates clipped."""
        self._check_fitted()
        i = self._date(date)
        ann = np.sqrt(PERIODS_PER_YEAR)
        fvol = self.factor_volatility
        fin = np.isfinite(fvol)
        n_fin = fin.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean_vol = np.where(n_fin > 0, np.where(fin, fvol, 0.0).sum(axis=0) / n_fin, np.nan)
        table = pl.DataFrame({
            "factor": self._names,
            "vol_annualized": fvol[i] * ann,
            "mean_vol_annualized": mean_vol * ann,
        })
        sr = np.sqrt(self._spec[i]) * ann
        sr = sr[np.isfinite(sr)]
        q = np.quantile(sr, [0.05, 0.25, 0.5, 0.75, 0.95]) if sr.size else np.full(5, np.nan)
        # the count is not a volatility: in the header, where it prints as an integer
        spec = pl.DataFrame({"statistic": ["p05", "p25", "median", "p75", "p95"],
                             "specific_vol_annualized": q.tolist()})
        label = str(self._dates[i]) if self._dates is not None else str(i)
        header = [("Dates", len(self._spec)), ("Assets", self._spec.shape[1]),
                  ("Factors", len(self._names)), ("Date shown", label), ("Covered assets", int(sr.size)),
                  ("Dates with Σf clipped", int(self._clipped.sum()))]
        # the settings the estimates were made with (not those set since); none for given matrices
        # (a model pickled by a version that did not record them has no _fit_settings at all)
        settings = self.__dict__.get("_fit_settings", _UNRECORDED)
        if settings is _UNRECORDED:
            header.append(("Estimated", "settings not recorded (saved by an earlier version)"))
        elif settings is None:
            header.append(("Estimated", "given (from_covariance)"))
        else:
            header += [(k, v) for k, v in settings.items()]
        return Summary("Risk model", header, [("Factor volatility (annualised)", table),
                                              ("Specific risk (annualised) at the date shown", spec)])

    def plot(self, groups: Any = None, max_lines: int = 12) -> Any:
        """Annualised factor volatilities over the stored dates, one panel per factor group; a
        matplotlib ``Figure`` (:func:`ferrofactor.plotting.factor_volatility_figure`; needs the
        ``plot`` extra)."""
        self._check_fitted()
        from ferrofactor.plotting import factor_volatility_figure

        return factor_volatility_figure(self, groups=groups, max_lines=max_lines)

    # ------------------------------------------------------------------ dates
    def _date(self, date: Any) -> int:
        self._check_fitted()
        return date_position("date", date, self._dates, len(self._spec))


def _by_asset(name: str, x: Any, exposures: Exposures) -> Any:
    """A mapping or a pandas Series indexed by asset as the (N,) vector of ``exposures``'
    assets (paired by label); anything else unchanged."""
    x = by_label(name, x)
    if isinstance(x, Mapping):
        return values_by_label(name, x, exposures.assets, of="the exposures")
    return x


def _stack(name: str, x: Any, ndim: int) -> np.ndarray:
    """A float array with ``ndim`` dimensions (one date) or ``ndim + 1`` (D dates), as
    ``(D, ...)``."""
    nd = np.ndim(x) if isinstance(x, np.ndarray) else None
    if nd is None:
        try:
            return as_float_array(name, x, ndim)[None]
        except ValueError:
            return as_float_array(name, x, ndim + 1)
    if nd == ndim:
        return as_float_array(name, x, ndim)[None]
    return as_float_array(name, x, ndim + 1)


def _keep_positions(keep: Any, dates: np.ndarray | None, t: int) -> np.ndarray:
    # one date or a flat list of them: a nested list was flattened silently, and an empty one
    # gave a model with no dates that every product then refused ("date position -1 is out of
    # range for 0 dates")
    if np.ndim(keep) > 1:
        raise ValueError(f"keep_dates must be a date, a position or a 1-D list of them, got shape {np.shape(keep)}")
    vals = np.atleast_1d(np.asarray(keep))
    if vals.size == 0:
        raise ValueError("keep_dates selects no dates: pass at least one position or date label "
                         "(or None for all dates)")
    if vals.dtype.kind in "iu":
        idx = np.where(vals < 0, vals + t, vals)
        if np.any((idx < 0) | (idx >= t)):
            raise ValueError(f"keep_dates positions must be in [-{t}, {t}), got {vals.tolist()}")
        return np.unique(idx.astype(np.int64))
    return np.unique(date_positions("keep_dates", keep, dates, t)).astype(np.int64)


def _select_dates(ex: Exposures, keep: np.ndarray) -> Exposures:
    return Exposures._trusted(
        None if ex.styles is None else np.ascontiguousarray(ex.styles[keep]),
        None if ex.industry is None else np.ascontiguousarray(ex.industry[keep]),
        ex.style_names, ex.industry_names, ex.market,
        None if ex.dates is None else ex.dates[keep], ex.assets,
    )

