"""Risk model: factor covariance, specific risk, and Σ = B Σf Bᵀ + D used through products.

``RiskModel`` turns factor returns (T, K) and residuals (T, N) into, for every date ``t``,

- a factor covariance ``Σf[t]`` (K, K): exponentially weighted volatilities (half-life
  ``vol_half_life``) and correlations (``corr_half_life``), each with a Newey-West adjustment
  (Bartlett weights, ``newey_west_lags = (vol_lags, corr_lags)``), combined as
  ``diag(σ) C diag(σ)`` and made positive semi-definite by clipping negative eigenvalues
  (only when the matrix is not PSD up to rounding: a Cholesky pivot below ``-1e-10·a_jj``, tested
  in Rust; the clipping itself uses LAPACK through ``numpy.linalg.eigh``; the NW terms and the
  pairwise handling of missing returns can break PSD);
- a specific variance ``D[t]`` (N,): exponentially weighted mean of squared residuals (optionally
  Newey-West adjusted, ``specific_newey_west_lags``) blended by
  history length with a structural model (USE4: the time-series weight rises linearly from 0 at
  ``specific_min_periods`` residuals to 1 after ``specific_blend_periods`` more), then Bayesian
  shrinkage toward the cap-group mean;
- optionally, volatility-regime multipliers for factor and specific risk.

Row ``t`` uses data up to and including ``t``: it is the risk forecast for ``t + 1``.

Factor order everywhere: ``[market]`` (when ``market=True``), then industries ``0..G-1``, then
styles. Exposures at date ``t`` (``styles[t]``, ``industry[t]``) are the ones known at the close of
``t``: the portfolio products at ``t`` use them with ``Σf[t]`` and ``D[t]``.

The heavy work (time recursions, per-date specific-risk regressions, ``Bᵀw`` by scatter-add over
industry codes) runs in Rust (``ferrofactor._core.risk_*``). ``B`` is never built one-hot and the
(N, N) covariance is formed only by :meth:`RiskModel.covariance`.

Validation tools: :func:`bias_statistic`, :func:`minimum_variance_test`,
:func:`residual_correlation`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ferrofactor import _core
from ferrofactor._validate import as_code_array, as_float_array, check_shape

__all__ = [
    "RiskModel",
    "RiskDecomposition",
    "BiasResult",
    "ResidualCorrelation",
    "bias_statistic",
    "minimum_variance_test",
    "residual_correlation",
]

TRADING_DAYS = 252


def _check_half_life(name: str, value: Any) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number of days, got {value!r}") from None
    if not np.isfinite(v) or v <= 0:
        raise ValueError(f"{name} must be a positive finite number of days, got {value!r}")
    return v


def _check_int(name: str, value: Any, lo: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value < lo:
        raise ValueError(f"{name} must be >= {lo}, got {value}")
    return int(value)


def _get(obj: Any, *names: str, default: Any = None) -> Any:
    for n in names:
        if obj is not None and hasattr(obj, n):
            return getattr(obj, n)
    return default


@dataclass(frozen=True)
class RiskDecomposition:
    """Risk decomposition of one portfolio at one date (daily units).

    Attributes
    ----------
    total_vol : float
        Portfolio volatility ``σ_p = sqrt(xᵀΣf x + wᵀDw)``.
    factor_var, specific_var : float
        The factor and specific parts of the variance (they sum to ``σ_p²``).
    exposures : ndarray (K,)
        Factor exposures ``x = Bᵀw``.
    factor_var_contrib : ndarray (K,)
        ``x_k (Σf x)_k``: per-factor contributions to the factor variance (sum to ``factor_var``).
    factor_vol : ndarray (K,)
        Factor volatilities ``σ_k = sqrt(Σf_kk)``.
    factor_corr : ndarray (K,)
        Correlation of each factor with the portfolio, ``ρ_k = (Σf x)_k / (σ_k σ_p)``.
    factor_contrib : ndarray (K,)
        ``x_k σ_k ρ_k``: contributions to the volatility; with ``specific_contrib`` they sum to
        ``total_vol``.
    specific_contrib : float
        ``wᵀDw / σ_p``.
    marginal : ndarray (N,)
        Marginal contributions to risk ``∂σ_p/∂w = (B Σf x + D w) / σ_p``.
    asset_contrib : ndarray (N,)
        ``w ⊙ marginal`` (sum to ``total_vol``).
    factor_names : list of str
    """

    total_vol: float
    factor_var: float
    specific_var: float
    exposures: np.ndarray
    factor_var_contrib: np.ndarray
    factor_vol: np.ndarray
    factor_corr: np.ndarray
    factor_contrib: np.ndarray
    specific_contrib: float
    marginal: np.ndarray
    asset_contrib: np.ndarray
    factor_names: list

    def to_polars(self):
        """Per-factor table: exposure, volatility, correlation, x·σ·ρ contribution."""
        import polars as pl

        return pl.DataFrame(
            {
                "factor": list(self.factor_names) + ["specific"],
                "exposure": np.append(self.exposures, np.nan),
                "volatility": np.append(self.factor_vol, np.nan),
                "correlation": np.append(self.factor_corr, np.nan),
                "contribution": np.append(self.factor_contrib, self.specific_contrib),
                "variance_contribution": np.append(self.factor_var_contrib, self.specific_var),
            }
        )



# Relative tolerance of the PSD check of a user factor covariance (as PSD_TOL in rust/risk.rs).
_PSD_TOL = 1e-10


def _check_psd(fc: np.ndarray) -> None:
    """ValueError unless ``fc`` is square, finite, symmetric (Rust check) and positive
    semi-definite: smallest eigenvalue ≥ -1e-10 · largest |eigenvalue| (``numpy.linalg.eigvalsh``)."""
    _core.risk_check_factor_covariance(fc)
    if fc.shape[0] == 0:
        return
    vals = np.linalg.eigvalsh(fc)
    lo, hi = float(vals.min()), float(np.abs(vals).max())
    if lo < -_PSD_TOL * hi:
        raise ValueError(f"factor_covariance must be positive semi-definite, smallest eigenvalue is {lo:.3e}")


def _clip_valid_blocks(cov: np.ndarray, not_psd: np.ndarray) -> np.ndarray:
    """Clip negative eigenvalues in place on the dates flagged ``not_psd`` (T,), on the block of
    factors with a finite diagonal: ``V max(Λ, 0) Vᵀ`` (symmetrised). Returns the (T,) flags of
    the dates actually clipped (a flagged block whose eigenvalues are all ≥ 0 is left alone).
    Dates with the same valid block are decomposed in one batched ``numpy.linalg.eigh`` call."""
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


def _factor_covariance(f, vol_half_life, corr_half_life, vol_lags, corr_lags, min_periods):
    """Factor covariance (T, K, K) from the Rust recursion, made PSD on the dates where it is not
    PSD beyond rounding. Returns ``(cov, clipped (T,))``."""
    cov, not_psd = _core.risk_factor_covariance(f, vol_half_life, corr_half_life, vol_lags, corr_lags, min_periods)
    return cov, _clip_valid_blocks(cov, not_psd)

class RiskModel:
    """A factor risk model ``Σ = B Σf Bᵀ + D`` for every date of a panel.

    ``__init__`` stores settings only; :meth:`fit` (or the constructors :meth:`from_arrays`,
    :meth:`from_factor_model`, :meth:`from_covariance`) computes the model and returns it.

    Parameters
    ----------
    vol_half_life : float, default 84
        Half-life in days of the exponential weights of factor volatilities.
    corr_half_life : float, default 504
        Half-life in days of the exponential weights of factor correlations.
    newey_west_lags : (int, int), default (5, 2)
        Newey-West lags (Bartlett weights ``1 - l/(L+1)``) for volatilities and correlations.
    specific_half_life : float, default 84
        Half-life of the EWMA of squared residuals.
    specific_newey_west_lags : int, default 0
        Newey-West lags (Bartlett weights) on each asset's residuals: the time-series variance is
        ``Γ0 + 2 Σ_l (1 - l/(L+1)) Γ_l`` with EWMA autocovariances over pairs of finite residuals
        (``Γ0`` is kept where that is not positive). 0: the plain EWMA.
    shrinkage : float, default 0.1
        Bayesian shrinkage intensity ``q`` toward the cap-group mean specific volatility (USE4);
        0 disables it.
    n_cap_groups : int, default 10
        Number of cap groups (deciles) for the shrinkage target.
    min_periods : int, default 21
        A factor needs this many finite returns up to ``t`` for its row of ``Σf[t]``
        (NaN otherwise).
    specific_min_periods : int, default 63
        Assets with fewer finite residuals up to ``t`` get the structural estimate.
    specific_blend_periods : int, default 120
        From ``h = specific_min_periods`` finite residuals, the specific volatility is
        ``γ σ_ts + (1 - γ) σ_str`` with ``γ = min(1, (h - specific_min_periods) /
        specific_blend_periods)`` (USE4's history blend of the time-series and structural
        estimates); 0 switches straight to the time series.
    vra_half_life : float or None, default None
        Half-life of the volatility-regime adjustment (None = off). When on, ``Σf[t]`` is scaled
        by ``λF[t]²`` and ``D[t]`` by ``λS[t]²``, the EWMA of the squared cross-sectional bias of
        returns at ``s ≤ t`` standardised by the forecasts of ``s - 1`` (factors equally weighted,
        assets cap-weighted). Dates before the first bias value are left unscaled.
    structural_ridge : float, default 1e-4
        Ridge on the industry dummies of the structural regression, as a fraction of the total
        regression weight (industries without fitted assets fall back to the intercept).
    """

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
    ):
        self.vol_half_life = vol_half_life
        self.corr_half_life = corr_half_life
        self.newey_west_lags = newey_west_lags
        self.specific_half_life = specific_half_life
        self.specific_newey_west_lags = specific_newey_west_lags
        self.shrinkage = shrinkage
        self.n_cap_groups = n_cap_groups
        self.min_periods = min_periods
        self.specific_min_periods = specific_min_periods
        self.specific_blend_periods = specific_blend_periods
        self.vra_half_life = vra_half_life
        self.structural_ridge = structural_ridge
        self._fitted = False

    # ------------------------------------------------------------------ settings check
    def _checked_settings(self) -> dict:
        lags = self.newey_west_lags
        if not isinstance(lags, (tuple, list)) or len(lags) != 2:
            raise ValueError(f"newey_west_lags must be a pair (vol_lags, corr_lags), got {lags!r}")
        q = float(self.shrinkage)
        if not np.isfinite(q) or q < 0:
            raise ValueError(f"shrinkage must be a finite number >= 0, got {self.shrinkage!r}")
        ridge = float(self.structural_ridge)
        if not np.isfinite(ridge) or ridge < 0:
            raise ValueError(f"structural_ridge must be >= 0, got {self.structural_ridge!r}")
        return dict(
            vol_half_life=_check_half_life("vol_half_life", self.vol_half_life),
            corr_half_life=_check_half_life("corr_half_life", self.corr_half_life),
            vol_lags=_check_int("newey_west_lags[0]", lags[0], 0),
            corr_lags=_check_int("newey_west_lags[1]", lags[1], 0),
            specific_half_life=_check_half_life("specific_half_life", self.specific_half_life),
            shrinkage=q,
            n_cap_groups=_check_int("n_cap_groups", self.n_cap_groups, 1),
            min_periods=_check_int("min_periods", self.min_periods, 1),
            specific_min_periods=_check_int("specific_min_periods", self.specific_min_periods, 1),
            specific_blend_periods=_check_int("specific_blend_periods", self.specific_blend_periods, 0),
            specific_nw_lags=_check_int("specific_newey_west_lags", self.specific_newey_west_lags, 0),
            vra_half_life=None
            if self.vra_half_life is None
            else _check_half_life("vra_half_life", self.vra_half_life),
            ridge=ridge,
        )

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_arrays(
        cls,
        factor_returns,
        residuals,
        styles,
        industry,
        cap,
        *,
        market: bool = True,
        n_industries: int | None = None,
        dates=None,
        assets=None,
        factor_names=None,
        keep_dates=None,
        **settings,
    ) -> RiskModel:
        """Build from plain arrays: ``RiskModel(**settings).fit(...)``. See :meth:`fit`."""
        return cls(**settings).fit(
            factor_returns,
            residuals,
            styles,
            industry,
            cap,
            market=market,
            n_industries=n_industries,
            dates=dates,
            assets=assets,
            factor_names=factor_names,
            keep_dates=keep_dates,
        )

    @classmethod
    def from_factor_model(
        cls, result, exposures=None, cap=None, *, keep_dates=None, **settings
    ) -> RiskModel:
        """Build from a ``FactorModelResult``.

        Uses ``result.factor_returns`` (T, K) and ``result.residuals`` (T, N).

        ``exposures`` should be the (unlagged) exposures given to ``FactorModel.fit``: an
        ``Exposures`` (or an object with ``styles`` (T, N, Ks), ``industry`` (T, N), ``market``,
        optional names) or a tuple ``(styles, industry, market)``; row ``t`` (known at the close
        of ``t``) is used with the forecast made at ``t``. If omitted, ``result.exposures`` (lagged
        by ``result.lag``) are shifted back by the lag, which leaves the last ``lag`` dates
        without exposures (NaN specific variance there).

        ``cap`` (T, N) is the market cap at the close of each date as given to
        ``FactorModel.fit`` (shrinkage groups, structural weights, mimicking portfolios);
        defaults to ``result.cap`` if the result has one. The factor columns must be ordered
        ``[market], industries, styles`` (as ``FactorModelResult.factor_names``).
        """
        fr = _get(result, "factor_returns")
        res = _get(result, "residuals")
        if fr is None or res is None:
            raise TypeError("result must have factor_returns and residuals (a FactorModelResult)")
        ex = exposures if exposures is not None else _get(result, "exposures")
        if ex is None:
            raise ValueError("exposures are required (result has no .exposures)")
        styles, industry, market, n_ind, snames, inames = _unpack_exposures(ex)
        lag = int(_get(result, "lag", default=0) or 0) if exposures is None else 0
        if lag > 0:
            # result.exposures are lagged (row t = known at t - lag): shift them back so that
            # row t is what is known at t. The last `lag` dates are then unknown.
            styles = np.asarray(styles, dtype=float)
            industry = np.asarray(industry)
            st_raw = np.full(styles.shape, np.nan)
            ind_raw = np.full(industry.shape, -1, dtype=np.int32)
            st_raw[:-lag] = styles[lag:]
            ind_raw[:-lag] = industry[lag:]
            styles, industry = st_raw, ind_raw
        if cap is None:
            cap = _get(result, "cap", "market_cap")
        if cap is None:
            raise ValueError("cap (T, N) is required for the shrinkage groups (result has no .cap)")
        names = _get(result, "factor_names")
        if names is None:
            names = (["market"] if market else []) + list(inames) + list(snames)
        return cls(**settings).fit(
            np.asarray(fr),
            np.asarray(res),
            styles,
            industry,
            cap,
            market=market,
            n_industries=n_ind,
            dates=_get(result, "dates", default=_get(ex, "dates")),
            assets=_get(result, "assets", default=_get(ex, "assets")),
            factor_names=names,
            keep_dates=keep_dates,
        )

    @classmethod
    def from_covariance(
        cls,
        factor_covariance,
        specific_variance,
        styles,
        industry,
        *,
        market: bool = True,
        n_industries: int | None = None,
        cap=None,
        factor_names=None,
        assets=None,
    ) -> RiskModel:
        """A one-date model from a user factor covariance (K, K) and specific variance (N,).

        ``factor_covariance`` must be symmetric positive semi-definite; ``specific_variance``
        non-negative (NaN = asset not covered). ``styles`` (N, Ks), ``industry`` (N,).
        """
        fc = as_float_array("factor_covariance", factor_covariance, 2)
        _check_psd(fc)
        d = as_float_array("specific_variance", specific_variance, 1)
        if np.any(d[np.isfinite(d)] < 0):
            raise ValueError("specific_variance must be non-negative")
        st = as_float_array("styles", styles, 2)
        ind = as_code_array("industry", industry, 1)
        n = d.shape[0]
        check_shape("styles", st, (n, st.shape[1]), "one row per asset of specific_variance")
        check_shape("industry", ind, (n,), "one code per asset of specific_variance")
        g = int(ind.max()) + 1 if n_industries is None and ind.size else int(n_industries or 0)
        k = int(market) + g + st.shape[1]
        check_shape("factor_covariance", fc, (k, k), f"market={market}, {g} industries, {st.shape[1]} styles")
        m = cls()
        m._set_exposures(st[None], ind[None], market, g, None if cap is None else np.asarray(cap, float)[None])
        m._cov = fc[None].copy()
        m._spec = d[None].copy()
        m._dates = np.arange(1)
        m._keep = np.arange(1)
        m._assets = np.arange(n) if assets is None else np.asarray(assets)
        m._names = _default_names(factor_names, market, g, st.shape[1])
        m._factor_returns = None
        m._residuals = None
        m._clipped = np.zeros(1, bool)
        m._ewma_var = m._n_obs = m._structural = None
        m._vra_factor = m._vra_specific = None
        m._fitted = True
        return m

    # ------------------------------------------------------------------ fit
    def fit(
        self,
        factor_returns,
        residuals,
        styles,
        industry,
        cap,
        *,
        market: bool = True,
        n_industries: int | None = None,
        dates=None,
        assets=None,
        factor_names=None,
        keep_dates=None,
    ) -> RiskModel:
        """Compute the model for every date.

        Parameters
        ----------
        factor_returns : array (T, K)
            Daily factor returns, columns ``[market], industries 0..G-1, styles``; NaN = missing
            (e.g. an empty industry), skipped in the EWMA for the pairs involving it.
        residuals : array (T, N)
            Daily specific returns; NaN = missing.
        styles : array (T, N, Ks)
            Style exposures known at the close of each date. An asset with a NaN style at ``t``
            is outside the model at ``t`` (NaN specific variance).
        industry : int array (T, N)
            Industry codes ``0..G-1``, -1 = none.
        cap : array (T, N)
            Market capitalisation (shrinkage groups and weights, structural-regression weights
            ``sqrt(cap)``, cap-weighted specific regime bias).
        market : bool, default True
            Whether the first factor is the market (every asset has exposure 1).
        n_industries : int, optional
            ``G``; default ``K - market - Ks``.
        dates, assets : array-like, optional
            Labels (T,) and (N,). Default ``0..T-1`` and ``0..N-1``.
        factor_names : list of str, optional
        keep_dates : array-like, optional
            Indices (or labels, if ``dates`` is given) of the dates whose results are kept; all
            dates by default. The recursions always run over the whole history.

        Returns
        -------
        self
        """
        cfg = self._checked_settings()
        fr = as_float_array("factor_returns", factor_returns, 2)
        res = as_float_array("residuals", residuals, 2)
        st = as_float_array("styles", styles, 3)
        ind = as_code_array("industry", industry, 2)
        cp = as_float_array("cap", cap, 2)
        t, n = res.shape
        ks = st.shape[2]
        check_shape("factor_returns", fr, (t, fr.shape[1]), "one row per date of residuals")
        check_shape("styles", st, (t, n, ks), "dates × assets of residuals × styles")
        check_shape("industry", ind, (t, n), "dates × assets of residuals")
        check_shape("cap", cp, (t, n), "dates × assets of residuals")
        k = fr.shape[1]
        g = k - int(market) - ks if n_industries is None else int(n_industries)
        if g < 0 or int(market) + g + ks != k:
            raise ValueError(
                f"factor_returns has {k} columns but market={market} + {g} industries + {ks} styles"
                f" = {int(market) + g + ks}"
            )
        if ind.size and int(ind.max()) >= g:
            raise ValueError(f"industry codes must be < n_industries={g}, found {int(ind.max())}")
        cov, clipped = _factor_covariance(
            fr, cfg["vol_half_life"], cfg["corr_half_life"], cfg["vol_lags"], cfg["corr_lags"],
            cfg["min_periods"],
        )
        spec, ewma_var, n_obs, structural = _core.risk_specific_variance(
            res, st, ind, g, cp, cfg["specific_half_life"], cfg["specific_min_periods"],
            cfg["shrinkage"], cfg["n_cap_groups"], cfg["ridge"], cfg["specific_blend_periods"],
            cfg["specific_nw_lags"],
        )
        self._vra_factor = self._vra_specific = None
        if cfg["vra_half_life"] is not None:
            fvar = np.ascontiguousarray(np.diagonal(cov, axis1=1, axis2=2))
            _, lam_f = _core.risk_regime_multiplier(fr, fvar, None, cfg["vra_half_life"])
            _, lam_s = _core.risk_regime_multiplier(res, spec, cp, cfg["vra_half_life"])
            lam_f = np.where(np.isfinite(lam_f), lam_f, 1.0)
            lam_s = np.where(np.isfinite(lam_s), lam_s, 1.0)
            cov *= (lam_f**2)[:, None, None]
            spec *= (lam_s**2)[:, None]
            self._vra_factor, self._vra_specific = lam_f, lam_s
        self._dates = np.arange(t) if dates is None else np.asarray(dates)
        if self._dates.shape != (t,):
            raise ValueError(f"dates has shape {self._dates.shape}, expected ({t},)")
        self._assets = np.arange(n) if assets is None else np.asarray(assets)
        if self._assets.shape != (n,):
            raise ValueError(f"assets has shape {self._assets.shape}, expected ({n},)")
        keep = np.arange(t) if keep_dates is None else self._date_indices(keep_dates, t)
        self._keep = keep
        full = keep_dates is None
        self._cov = cov if full else cov[keep]
        self._spec = spec if full else spec[keep]
        self._clipped = clipped if full else clipped[keep]
        self._ewma_var = ewma_var if full else ewma_var[keep]
        self._n_obs = n_obs if full else n_obs[keep]
        self._structural = structural.astype(bool) if full else structural[keep].astype(bool)
        self._set_exposures(st if full else st[keep], ind if full else ind[keep], market, g,
                            cp if full else cp[keep])
        self._dates = self._dates if full else self._dates[keep]
        self._factor_returns = fr
        self._residuals = res
        self._names = _default_names(factor_names, market, g, ks)
        self._fitted = True
        return self

    def _set_exposures(self, st, ind, market, g, cap):
        self._styles = st
        self._industry = ind
        self._market = bool(market)
        self._g = int(g)
        self._cap = cap

    def _date_indices(self, keep, t):
        keep = np.atleast_1d(np.asarray(keep))
        if np.issubdtype(keep.dtype, np.integer):
            idx = np.where(keep < 0, keep + t, keep)
            if np.any((idx < 0) | (idx >= t)):
                raise ValueError(f"keep_dates indices must be in [-{t}, {t}), got {keep.tolist()}")
            return idx.astype(np.int64)
        pos = {d: i for i, d in enumerate(self._dates.tolist())}
        try:
            return np.array([pos[d] for d in keep.astype(self._dates.dtype).tolist()], np.int64)
        except KeyError as e:
            raise ValueError(f"keep_dates: date {e.args[0]!r} is not in dates") from None

    # ------------------------------------------------------------------ properties
    def _check_fitted(self):
        if not self._fitted:
            raise RuntimeError("RiskModel is not fitted: call fit() or a from_* constructor")

    @property
    def dates(self) -> np.ndarray:
        """Date labels (D,) of the stored results."""
        self._check_fitted()
        return self._dates

    @property
    def assets(self) -> np.ndarray:
        """Asset labels (N,)."""
        self._check_fitted()
        return self._assets

    @property
    def factor_names(self) -> list:
        """Factor names (K,), ordered ``[market], industries, styles``."""
        self._check_fitted()
        return list(self._names)

    @property
    def factor_covariance(self) -> np.ndarray:
        """Σf (D, K, K), daily units (read-only)."""
        self._check_fitted()
        return _ro(self._cov)

    @property
    def factor_volatility(self) -> np.ndarray:
        """Factor volatilities sqrt(diag Σf) (D, K), daily."""
        self._check_fitted()
        return np.sqrt(np.diagonal(self._cov, axis1=1, axis2=2))

    @property
    def specific_variance(self) -> np.ndarray:
        """D (D, N), daily variance; NaN where the asset is outside the model (read-only)."""
        self._check_fitted()
        return _ro(self._spec)

    @property
    def specific_risk(self) -> np.ndarray:
        """Specific volatility sqrt(D) (D, N), daily."""
        self._check_fitted()
        return np.sqrt(self._spec)

    @property
    def raw_specific_variance(self) -> np.ndarray | None:
        """Time-series estimate: EWMA of squared residuals (Newey-West adjusted when
        ``specific_newey_west_lags > 0``), before the structural blend and shrinkage (D, N)."""
        self._check_fitted()
        return None if self._ewma_var is None else _ro(self._ewma_var)

    @property
    def n_obs(self) -> np.ndarray | None:
        """Number of finite residuals up to each date (D, N)."""
        self._check_fitted()
        return None if self._n_obs is None else _ro(self._n_obs)

    @property
    def structural(self) -> np.ndarray | None:
        """True where the structural specific-risk estimate was used, in full or blended (D, N)."""
        self._check_fitted()
        return None if self._structural is None else _ro(self._structural)

    @property
    def eigenvalue_clipped(self) -> np.ndarray:
        """True on the dates where Σf was not PSD (beyond rounding) and had its negative
        eigenvalues set to zero (D,)."""
        self._check_fitted()
        return _ro(self._clipped)

    @property
    def regime_multipliers(self) -> tuple[np.ndarray, np.ndarray] | None:
        """(λF, λS) volatility-regime multipliers over all T dates, or None when off."""
        self._check_fitted()
        if self._vra_factor is None:
            return None
        return _ro(self._vra_factor), _ro(self._vra_specific)

    # ------------------------------------------------------------------ products
    def _date(self, date) -> int:
        self._check_fitted()
        d = len(self._dates)
        if isinstance(date, (int, np.integer)) and not isinstance(date, bool):
            i = int(date) + d if date < 0 else int(date)
            if not 0 <= i < d:
                raise ValueError(f"date index {date} out of range for {d} stored dates")
            return i
        hits = np.nonzero(self._dates == np.asarray(date).astype(self._dates.dtype))[0]
        if hits.size == 0:
            raise ValueError(f"date {date!r} is not among the model's dates")
        return int(hits[0])

    def _weights(self, weights) -> tuple[np.ndarray, bool]:
        w = np.asarray(weights)
        single = w.ndim == 1
        w = as_float_array("weights", w[None] if single else w, 2)
        n = self._styles.shape[1]
        if w.shape[1] != n:
            raise ValueError(
                f"weights have {w.shape[1]} assets (shape {np.asarray(weights).shape}), "
                f"the model has {n} assets"
            )
        # Finiteness is checked in Rust (only rows with a non-finite result are scanned).
        return w, single

    def _args(self, i):
        return self._styles[i], self._industry[i], self._market, self._g

    def portfolio_variance(self, weights, date=-1) -> tuple[np.ndarray, np.ndarray]:
        """Factor and specific variance (P,), (P,) of portfolios ``weights`` (P, N) at ``date``."""
        i = self._date(date)
        w, single = self._weights(weights)
        fv, sv = _core.risk_portfolio_variance(w, *self._args(i), self._cov[i], self._spec[i])
        return (fv[0], sv[0]) if single else (fv, sv)

    def portfolio_risk(self, weights, date=-1, annualize: bool = False):
        """Volatility of portfolios ``weights`` (P, N) or (N,) at ``date`` (index or label).

        ``sqrt(wᵀ(B Σf Bᵀ + D)w)`` computed as ``x = Bᵀw`` (scatter-add over industry codes,
        O(P·N·K)), ``xᵀΣf x + Σ w² D``. Daily units; ``annualize=True`` multiplies by sqrt(252).
        A portfolio holding an asset outside the model at ``date`` gets NaN.
        """
        fv, sv = self.portfolio_variance(weights, date)
        vol = np.sqrt(fv + sv)
        return vol * np.sqrt(TRADING_DAYS) if annualize else vol

    def factor_exposures(self, weights, date=-1) -> np.ndarray:
        """``Bᵀw``: factor exposures (P, K) (or (K,) for one portfolio) at ``date``."""
        i = self._date(date)
        w, single = self._weights(weights)
        x = _core.risk_factor_exposures(w, *self._args(i))
        return x[0] if single else x

    def risk_decomposition(self, weights, date=-1) -> RiskDecomposition:
        """Decompose the risk of one portfolio ``weights`` (N,) at ``date``.

        See :class:`RiskDecomposition`; all in daily units.
        """
        i = self._date(date)
        w, single = self._weights(weights)
        if not single and w.shape[0] != 1:
            raise ValueError(f"risk_decomposition takes one portfolio (N,), got shape {w.shape}")
        x = _core.risk_factor_exposures(w, *self._args(i))[0]
        fc = self._cov[i]
        held = x != 0
        sx = np.zeros_like(x)
        sx[held] = fc[np.ix_(held, held)] @ x[held]  # factors nobody holds may have NaN rows
        fcontrib = x * sx
        d = self._spec[i]
        dw = np.where(w[0] != 0, d * w[0], 0.0)
        svar = float(np.sum(w[0] * dw))
        fvar = float(np.sum(fcontrib))
        total = np.sqrt(fvar + svar)
        fvol = np.sqrt(np.diagonal(fc))
        with np.errstate(invalid="ignore", divide="ignore"):
            rho = sx / (fvol * total)
            bsx = _core.risk_exposures_times(sx[None], *self._args(i))[0]
            marginal = (bsx + dw) / total
        return RiskDecomposition(
            total_vol=float(total),
            factor_var=fvar,
            specific_var=svar,
            exposures=x,
            factor_var_contrib=fcontrib,
            factor_vol=fvol,
            factor_corr=rho,
            factor_contrib=fcontrib / total,
            specific_contrib=svar / total,
            marginal=marginal,
            asset_contrib=np.where(w[0] != 0, w[0] * marginal, 0.0),
            factor_names=self.factor_names,
        )

    def exposure_matrix(self, date=-1) -> np.ndarray:
        """Dense B (N, K) at ``date`` (one-hot industries; NaN rows for assets outside)."""
        i = self._date(date)
        st, ind, market, g = self._args(i)
        n, ks = st.shape
        b = np.zeros((n, int(market) + g + ks))
        if market:
            b[:, 0] = 1.0
        rows = np.nonzero(ind >= 0)[0]
        b[rows, int(market) + ind[rows]] = 1.0
        b[:, int(market) + g:] = st
        b[~np.all(np.isfinite(st), axis=1)] = np.nan
        return b

    def covariance(self, date=-1) -> np.ndarray:
        """Materialise the asset covariance ``B Σf Bᵀ + D`` (N, N) at ``date`` (on request only).

        Assets outside the model at ``date`` have NaN rows/columns.
        """
        i = self._date(date)
        b = self.exposure_matrix(i)
        fc = np.nan_to_num(self._cov[i])  # factors without history: no assets exposed in practice
        bz = np.nan_to_num(b)
        cov = bz @ fc @ bz.T
        cov[np.diag_indices_from(cov)] += np.nan_to_num(self._spec[i])
        bad = ~np.isfinite(b).all(axis=1) | ~np.isfinite(self._spec[i])
        cov[bad, :] = np.nan
        cov[:, bad] = np.nan
        return cov

    def factor_mimicking_portfolios(
        self, date=-1, regression_weights=None, constraint_cap=None
    ) -> np.ndarray:
        """Factor-mimicking portfolios (K, N) at ``date``.

        The rows are the weights ``Ω`` of the constrained weighted least-squares estimator
        ``f = Ω r`` of the cross-sectional regression on the exposures of ``date``: weights
        ``regression_weights`` (default ``sqrt(cap)``), and, with a market factor and
        industries, the constraint ``Σ_g c_g f_g = 0`` with ``c_g`` the total ``constraint_cap``
        (default ``cap``) of industry ``g``. Holding row ``k`` over the next period earns the
        factor return ``k`` that a regression of next-period returns on these exposures gives.
        Assets with missing exposures or weights get 0; factors without assets (empty
        industries) get NaN rows.
        """
        i = self._date(date)
        st, ind, market, g = self._args(i)
        n, ks = st.shape
        k = int(market) + g + ks
        cap = None if self._cap is None else self._cap[i]
        if regression_weights is None:
            if cap is None:
                raise ValueError("regression_weights are required (the model has no cap)")
            wts = np.sqrt(cap)
        else:
            wts = as_float_array("regression_weights", regression_weights, 1)
            check_shape("regression_weights", wts, (n,))
        ccap = cap if constraint_cap is None else as_float_array("constraint_cap", constraint_cap, 1)
        b = self.exposure_matrix(i)
        ok = np.isfinite(b).all(axis=1) & np.isfinite(wts) & (wts > 0)
        bo, wo = b[ok], wts[ok]
        present = np.ones(k, bool)
        present[int(market):int(market) + g] = bo[:, int(market):int(market) + g].sum(axis=0) > 0
        cols = np.nonzero(present)[0]
        r = np.eye(len(cols))
        ind_cols = [j for j, c in enumerate(cols) if int(market) <= c < int(market) + g]
        if market and ind_cols:
            if ccap is None:
                raise ValueError("constraint_cap is required (the model has no cap)")
            co = np.asarray(ccap, float)[ok]
            cg = np.array([co[bo[:, cols[j]] == 1].sum() for j in ind_cols])
            last = ind_cols[-1]
            r = np.delete(r, last, axis=1)
            r[last, :] = 0.0
            for j, c in zip(ind_cols[:-1], cg[:-1]):
                r[last, j - (j > last)] = -c / cg[-1]
        x = bo[:, cols] @ r
        xtw = x.T * wo
        omega_red = np.linalg.solve(xtw @ x, xtw)
        out = np.full((k, n), np.nan)
        out[cols] = 0.0
        out[np.ix_(cols, np.nonzero(ok)[0])] = r @ omega_red
        return out

    def forecast_volatility(self, weights) -> np.ndarray:
        """Risk forecasts (D,) of one portfolio per stored date: row ``d`` of ``weights`` (D, N)
        evaluated with the model of stored date ``d``."""
        w = as_float_array("weights", weights, 2)
        check_shape("weights", w, (len(self._dates), self._styles.shape[1]), "stored dates × assets")
        return np.array([self.portfolio_risk(w[d], d) for d in range(len(self._dates))])

    # ------------------------------------------------------------------ frames
    def to_polars(self, kind: str = "factor_volatility"):
        """Results as a Polars frame.

        ``kind``: ``"factor_volatility"`` (wide: date × factor), ``"factor_covariance"`` (long:
        date, factor_1, factor_2, covariance), ``"specific_risk"`` (long: date, asset,
        specific_variance, specific_vol, n_obs, structural).
        """
        import polars as pl

        self._check_fitted()
        if kind == "factor_volatility":
            vol = self.factor_volatility
            return pl.DataFrame({"date": self._dates, **{nm: vol[:, j] for j, nm in enumerate(self._names)}})
        if kind == "factor_covariance":
            d, k = self._cov.shape[:2]
            names = np.asarray(self._names, dtype=object)
            return pl.DataFrame(
                {
                    "date": np.repeat(self._dates, k * k),
                    "factor_1": np.tile(np.repeat(names, k), d).tolist(),
                    "factor_2": np.tile(np.tile(names, k), d).tolist(),
                    "covariance": self._cov.reshape(-1),
                }
            )
        if kind == "specific_risk":
            d, n = self._spec.shape
            cols = {
                "date": np.repeat(self._dates, n),
                "asset": np.tile(self._assets, d),
                "specific_variance": self._spec.reshape(-1),
                "specific_vol": np.sqrt(self._spec.reshape(-1)),
            }
            if self._n_obs is not None:
                cols["n_obs"] = self._n_obs.reshape(-1)
                cols["structural"] = self._structural.reshape(-1)
            return pl.DataFrame(cols)
        raise ValueError(
            f"kind must be one of ['factor_volatility', 'factor_covariance', 'specific_risk'], got {kind!r}"
        )

    def __repr__(self) -> str:
        if not self._fitted:
            return "RiskModel(unfitted)"
        d, n = self._spec.shape
        return f"RiskModel({d} dates, {n} assets, {len(self._names)} factors)"


def _ro(a: np.ndarray) -> np.ndarray:
    v = a.view()
    v.flags.writeable = False
    return v


def _default_names(names, market, g, ks):
    k = int(market) + g + ks
    if names is None:
        return (["market"] if market else []) + [f"industry_{i}" for i in range(g)] + [
            f"style_{i}" for i in range(ks)
        ]
    names = [str(x) for x in names]
    if len(names) != k:
        raise ValueError(f"factor_names has {len(names)} names, expected {k}")
    return names


def _unpack_exposures(ex):
    """(styles (T, N, Ks), industry (T, N), market, G or None, style names, industry names)
    from an ``Exposures`` (or any object with ``styles``/``industry``/``market``) or a tuple
    ``(styles, industry, market)``. Missing styles or industries become empty blocks."""
    if isinstance(ex, tuple):
        if len(ex) != 3:
            raise ValueError("exposures tuple must be (styles, industry, market)")
        styles, industry, market = ex
        return styles, industry, bool(market), None, [], []
    if not (hasattr(ex, "styles") and hasattr(ex, "industry")):
        raise TypeError(
            f"exposures must be an Exposures (with .styles and .industry) or a tuple, got {type(ex).__name__}"
        )
    styles, industry = ex.styles, ex.industry
    if styles is None and industry is None:
        raise ValueError("exposures has neither styles nor industry")
    shape = np.asarray(styles if styles is not None else industry).shape[:2]
    if styles is None:
        styles = np.zeros(shape + (0,))
    if industry is None:
        industry = np.full(shape, -1, dtype=np.int32)
        inames: list = []
        g = 0
    else:
        inames = list(_get(ex, "industry_names", default=None) or [])
        g = len(inames) if inames else None
    market = bool(_get(ex, "market", default=True))
    snames = list(_get(ex, "style_names", default=None) or [])
    if not snames:
        snames = [f"style_{i}" for i in range(np.asarray(styles).shape[-1])]
    if g is None:
        code_max = int(np.max(industry)) if np.size(industry) else -1
        g = code_max + 1
        inames = [f"industry_{i}" for i in range(g)]
    return styles, industry, market, g, snames, inames


# ---------------------------------------------------------------------------------------------
# Validation tools
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BiasResult:
    """Bias statistics of one or more portfolios.

    Attributes
    ----------
    bias : ndarray
        Standard deviation of the standardised returns ``z = r / σ_forecast`` (ddof=1): over the
        whole sample (shape (P,)) or over a rolling ``window`` (shape (T, P), NaN until full).
    n_obs : ndarray
        Number of finite ``z`` behind each value.
    lower, upper : ndarray
        The confidence band ``1 ± sqrt(2 / n_obs)``.
    inside : ndarray of bool
        ``lower <= bias <= upper``.
    """

    bias: np.ndarray
    n_obs: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    inside: np.ndarray


def bias_statistic(returns, forecast_vol, window: int | None = None) -> BiasResult:
    """Bias statistic of risk forecasts: the standard deviation of ``returns / forecast_vol``.

    Parameters
    ----------
    returns : array (T,) or (T, P)
        Realised returns of one or P portfolios.
    forecast_vol : array, same shape
        ``forecast_vol[t]`` is the volatility forecast for ``returns[t]``, made before it (e.g.
        the model of date ``t-1``: align it yourself, no shift is done here).
    window : int, optional
        Rolling window length in observations; None (default) = whole sample.

    Returns
    -------
    BiasResult
        ``bias`` near 1 means accurate forecasts (> 1: risk under-forecast); the band is
        ``1 ± sqrt(2/T)`` with ``T`` the number of finite standardised returns.
    """
    r = np.asarray(returns, dtype=float)
    single = r.ndim == 1
    r = as_float_array("returns", r[:, None] if single else r, 2)
    v = np.asarray(forecast_vol, dtype=float)
    v = as_float_array("forecast_vol", v[:, None] if v.ndim == 1 else v, 2)
    check_shape("forecast_vol", v, r.shape, "same as returns")
    if np.any(v[np.isfinite(v)] <= 0):
        raise ValueError("forecast_vol must be positive")
    z = r / v
    ok = np.isfinite(z)
    if window is None:
        n = ok.sum(axis=0)
        zz = np.where(ok, z, 0.0)
        mean = zz.sum(axis=0) / np.maximum(n, 1)
        var = (np.where(ok, z - mean, 0.0) ** 2).sum(axis=0) / np.maximum(n - 1, 1)
        bias = np.where(n >= 2, np.sqrt(var), np.nan)
    else:
        window = _check_int("window", window, 2)
        t, p = z.shape
        bias = np.full((t, p), np.nan)
        n = np.zeros((t, p), np.int64)
        for j in range(p):
            for e in range(window - 1, t):
                seg = z[e - window + 1 : e + 1, j]
                seg = seg[np.isfinite(seg)]
                n[e, j] = seg.size
                if seg.size >= 2:
                    bias[e, j] = seg.std(ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        half = np.sqrt(2.0 / n)
    lower, upper = 1 - half, 1 + half
    inside = (bias >= lower) & (bias <= upper)
    if single:
        bias, n, lower, upper, inside = (a[..., 0] for a in (bias, n, lower, upper, inside))
    return BiasResult(bias, n, lower, upper, inside)


def minimum_variance_test(model: RiskModel, returns, every: int = 1, budget: float = 1.0):
    """Out-of-sample test of the fully invested minimum-variance portfolio.

    At each stored date ``d`` (every ``every``-th), build ``w = Σ⁻¹1 / 1ᵀΣ⁻¹1`` over the assets
    covered by the model at ``d`` (Woodbury in factor form, never N×N), then compare its
    realised return at the next date with the forecast volatility. Minimum-variance portfolios
    load on the directions the model thinks are least risky, so an under-forecast there
    (bias > 1) is the classic symptom of too little shrinkage or missing factors.

    Parameters
    ----------
    model : RiskModel
        Fitted with all dates kept (the stored dates must index ``returns``).
    returns : array (T, N)
        Asset returns of the model's dates; ``returns[d + 1]`` is realised after the forecast of
        ``d``. NaN returns count as 0 for the held asset.
    every : int, default 1
        Rebalance stride in dates.
    budget : float, default 1.0
        Sum of weights.

    Returns
    -------
    dict with ``dates`` (indices of forecast dates), ``realized`` (next-date returns),
    ``forecast_vol`` and ``bias`` (a :class:`BiasResult`).
    """
    r = as_float_array("returns", returns, 2)
    n = model._styles.shape[1]
    check_shape("returns", r, (len(model._dates), n), "the model's dates × assets")
    every = _check_int("every", every, 1)
    idx, real, fore = [], [], []
    for d in range(0, len(model._dates) - 1, every):
        w = _min_var_weights(model, d)
        if w is None or not np.all(np.isfinite(w)):
            continue
        w = w * budget
        idx.append(d)
        real.append(float(np.nansum(w * np.where(np.isfinite(r[d + 1]), r[d + 1], 0.0))))
        fore.append(float(model.portfolio_risk(w, d)))
    real_a, fore_a = np.array(real), np.array(fore)
    return {
        "dates": np.array(idx, np.int64),
        "realized": real_a,
        "forecast_vol": fore_a,
        "bias": bias_statistic(real_a, fore_a),
    }


def _min_var_weights(model: RiskModel, d: int):
    b = model.exposure_matrix(d)
    dv = model._spec[d]
    ok = np.isfinite(b).all(axis=1) & np.isfinite(dv) & (dv > 0)
    if ok.sum() < 2:
        return None
    bo, do = b[ok], dv[ok]
    fc = model._cov[d]
    used = np.abs(bo).sum(axis=0) > 0
    bo, fc = bo[:, used], fc[np.ix_(used, used)]
    if not np.all(np.isfinite(fc)):
        return None
    # Σ⁻¹1 = D⁻¹1 − D⁻¹B (I + Σf BᵀD⁻¹B)⁻¹ Σf BᵀD⁻¹1
    dinv1 = 1.0 / do
    btd1 = bo.T @ dinv1
    m = np.eye(fc.shape[0]) + fc @ (bo.T * dinv1) @ bo
    y = dinv1 - dinv1 * (bo @ np.linalg.solve(m, fc @ btd1))
    w = np.zeros(b.shape[0])
    w[ok] = y / y.sum()
    return w


@dataclass(frozen=True)
class ResidualCorrelation:
    """Residual-correlation diagnostic.

    Attributes
    ----------
    correlation : ndarray (N, N)
        Pairwise correlation of residuals (over the dates where both are finite; NaN for pairs
        with fewer than ``min_periods`` common dates).
    groups : list of ndarray
        Groups of asset indices whose residuals co-move: connected components of the graph with
        an edge where ``correlation > threshold``, size ≥ 2, largest first.
    mean_abs_offdiag : float
        Mean |correlation| off the diagonal (near 0 when the factors explain the co-movement).
    top_eigenvalues : ndarray
        Largest eigenvalues of the correlation matrix (NaN pairs as 0); compare with the
        Marchenko-Pastur edge ``(1 + sqrt(N/T))²`` in ``mp_edge``.
    mp_edge : float
    """

    correlation: np.ndarray
    groups: list
    mean_abs_offdiag: float
    top_eigenvalues: np.ndarray
    mp_edge: float


def residual_correlation(
    residuals, threshold: float = 0.3, min_periods: int = 20, n_eigen: int = 5
) -> ResidualCorrelation:
    """Look for groups of assets whose residuals co-move: the signature of a missing factor.

    If the model has no oil factor, oil stocks' residuals stay correlated and show up here as a
    group. Meant for a few hundred to a few thousand assets (it forms the (N, N) correlation).

    Parameters
    ----------
    residuals : array (T, N)
        Specific returns (NaN = missing).
    threshold : float, default 0.3
        Correlation above which two assets are linked.
    min_periods : int, default 20
        Minimum common dates for a pair's correlation.
    n_eigen : int, default 5
        Number of top eigenvalues reported.
    """
    e = as_float_array("residuals", residuals, 2)
    min_periods = _check_int("min_periods", min_periods, 2)
    t, n = e.shape
    ok = np.isfinite(e).astype(float)
    z = np.where(ok > 0, e, 0.0)
    cnt = ok.T @ ok
    sx = z.T @ ok  # Σ x_i over the common dates with j
    sxx = (z * z).T @ ok
    sxy = z.T @ z
    with np.errstate(invalid="ignore", divide="ignore"):
        cov = sxy - sx * sx.T / cnt
        vi = sxx - sx**2 / cnt
        corr = cov / np.sqrt(vi * vi.T)
    corr[cnt < min_periods] = np.nan
    np.fill_diagonal(corr, 1.0)
    off = corr[~np.eye(n, dtype=bool)]
    mean_abs = float(np.nanmean(np.abs(off))) if off.size else float("nan")
    vals = np.linalg.eigvalsh(np.nan_to_num(corr))[::-1][:n_eigen]
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import connected_components

    adj = np.nan_to_num(corr, nan=0.0) > threshold
    np.fill_diagonal(adj, False)
    _, labels = connected_components(csr_matrix(adj), directed=False)
    groups = [np.nonzero(labels == lab)[0] for lab in np.unique(labels)]
    groups = sorted([g for g in groups if g.size >= 2], key=lambda g: (-g.size, g[0]))
    return ResidualCorrelation(corr, groups, mean_abs, vals, (1 + np.sqrt(n / t)) ** 2)
