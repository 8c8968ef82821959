"""Using Σ = B Σf Bᵀ + D through products, never as an N × N matrix unless asked.

Every product takes a ``date`` (a position among the model's stored dates, negative from the
end, or a date label such as ``"2024-01-31"``) and portfolio weights: an (N,) or (P, N) array, a
mapping ``{asset: weight}``, a pandas Series indexed by asset (read as that mapping, by label,
never by position) or a Polars frame with ``asset`` and ``weight`` columns (assets not listed
hold 0; an asset the model does not know is an error). A portfolio that holds an asset the
model has no forecast for on that date (no specific variance or a missing style exposure) is an
error naming the asset, never a silent NaN.

``x = Bᵀw`` is a sum per industry over its assets plus the style block (Rust, O(P·N·K));
``wᵀΣw = xᵀΣf x + Σ w² d``. The (N, N) covariance is formed only by
:meth:`ProductsMixin.covariance`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import polars as pl

from ferrofactor import _core
from ferrofactor._validate import (
    _default_range,
    _is_pandas_frame,
    as_array,
    as_field,
    as_float_array,
    by_label,
    check_bool,
    check_same_labels,
    check_shape,
    check_weights,
    frame_asset_labels,
    values_by_label,
)
from ferrofactor.constants import PERIODS_PER_YEAR
from ferrofactor.results import Result, Summary, readonly

__all__ = ["RiskDecomposition"]

_SHOW = 5



def _check_finite_weights(w: np.ndarray, cols: np.ndarray | None = None) -> None:
    """ValueError naming the first non-finite weight (portfolio, asset); ``cols``: the assets
    of ``w``'s columns when ``w`` is a column subset."""
    bad = ~np.isfinite(w)
    if bad.any():
        pi, j = (int(v[0]) for v in np.nonzero(bad))
        asset = int(cols[j]) if cols is not None else j
        raise ValueError(
            f"weights must be finite: portfolio {pi} has {w[pi, j]} at asset {asset} "
            f"({int(bad.sum())} non-finite values"
            + (" among the assets without a forecast)" if cols is not None else ")")
        )

class RiskDecomposition(Result):
    """Risk decomposition of one portfolio at one date.

    Units: daily, or annualised (volatilities × sqrt(252), variances × 252) when built with
    ``annualize=True`` (``annualized`` tells).

    Attributes
    ----------
    total_vol : float
        Portfolio volatility ``σ_p = sqrt(xᵀΣf x + wᵀDw)``.
    factor_var, specific_var : float
        The factor and specific parts of the variance (they sum to ``σ_p²``).
    exposures : ndarray (K,)
        Factor exposures ``x = Bᵀw``.
    factor_var_contrib : ndarray (K,)
        ``x_k (Σf x)_k``: contributions to the factor variance (sum to ``factor_var``).
    factor_vol : ndarray (K,)
        Factor volatilities ``σ_k = sqrt(Σf_kk)``.
    factor_corr : ndarray (K,)
        Correlation of each factor with the portfolio, ``ρ_k = (Σf x)_k / (σ_k σ_p)``.
    factor_contrib : ndarray (K,)
        ``x_k σ_k ρ_k``; with ``specific_contrib`` they sum to ``total_vol``.
    specific_contrib : float
        ``wᵀDw / σ_p``.
    marginal : ndarray (N,)
        Marginal contributions ``∂σ_p/∂w = (B Σf x + D w) / σ_p``.
    asset_contrib : ndarray (N,)
        ``w ⊙ marginal`` (sum to ``total_vol``).
    factor_names, assets, date
    """

    _arrays = {
        "exposures": ("factor",), "factor_var_contrib": ("factor",), "factor_vol": ("factor",),
        "factor_corr": ("factor",), "factor_contrib": ("factor",), "marginal": ("asset",),
        "asset_contrib": ("asset",), "weights": ("asset",),
    }
    _groups = {
        "factors": ("exposures", "factor_vol", "factor_corr", "factor_contrib", "factor_var_contrib"),
        "assets": ("weights", "marginal", "asset_contrib"),
    }
    _default_kind = "factors"

    def __init__(self, *, total_vol, factor_var, specific_var, exposures, factor_var_contrib,
                 factor_vol, factor_corr, factor_contrib, specific_contrib, marginal, asset_contrib,
                 weights, factor_names, assets, date, annualized) -> None:
        self._s = dict(total_vol=float(total_vol), factor_var=float(factor_var),
                       specific_var=float(specific_var), specific_contrib=float(specific_contrib))
        # copies ((N,) or (K,)): weights was a view of the caller's array, which a loop over
        # portfolios may update in place after the decomposition
        self._a = {k: readonly(np.array(v)) for k, v in dict(
            exposures=exposures, factor_var_contrib=factor_var_contrib, factor_vol=factor_vol,
            factor_corr=factor_corr, factor_contrib=factor_contrib, marginal=marginal,
            asset_contrib=asset_contrib, weights=weights).items()}
        self._factor_names = list(factor_names)
        self._assets = readonly(assets)
        self._date = date
        self._annualized = bool(annualized)

    total_vol = property(lambda self: self._s["total_vol"])
    factor_var = property(lambda self: self._s["factor_var"])
    specific_var = property(lambda self: self._s["specific_var"])
    specific_contrib = property(lambda self: self._s["specific_contrib"])
    exposures = property(lambda self: self._a["exposures"], doc="(K,) x = Bᵀw.")
    factor_var_contrib = property(lambda self: self._a["factor_var_contrib"], doc="(K,) x_k (Σf x)_k.")
    factor_vol = property(lambda self: self._a["factor_vol"], doc="(K,) factor volatilities.")
    factor_corr = property(lambda self: self._a["factor_corr"], doc="(K,) factor–portfolio correlations.")
    factor_contrib = property(lambda self: self._a["factor_contrib"], doc="(K,) x σ ρ contributions.")
    marginal = property(lambda self: self._a["marginal"], doc="(N,) marginal contributions.")
    asset_contrib = property(lambda self: self._a["asset_contrib"], doc="(N,) w ⊙ marginal.")
    weights = property(lambda self: self._a["weights"], doc="(N,) the portfolio.")
    factor_names = property(lambda self: list(self._factor_names))
    assets = property(lambda self: self._assets)
    date = property(lambda self: self._date, doc="The date (label or position) decomposed.")
    annualized = property(lambda self: self._annualized)

    def to_polars(self, kind: str | None = None, form: str = "wide") -> pl.DataFrame:
        """``"factors"`` (default): one row per factor plus a ``specific`` row (exposure,
        volatility, correlation, x·σ·ρ contribution, variance contribution); ``"assets"``: per
        asset; or any single array."""
        if kind in (None, "factors"):
            f = super().to_polars("factors")
            extra = pl.DataFrame({
                "factor": ["specific"], "exposures": [None], "factor_vol": [None],
                "factor_corr": [None], "factor_contrib": [self.specific_contrib],
                "factor_var_contrib": [self.specific_var],
            }, schema=f.schema)
            return pl.concat([f, extra])
        return super().to_polars(kind, form)

    def summary(self) -> Summary:
        unit = "annualised" if self._annualized else "daily"
        header = [("Date", self._date), ("Total volatility", f"{self.total_vol:.6g}"),
                  ("Factor variance", f"{self.factor_var:.6g}"),
                  ("Specific variance", f"{self.specific_var:.6g}"), ("Units", unit)]
        return Summary("Risk decomposition", header, [("", self.to_polars("factors"))])

    def plot(self, top: int = 15) -> Any:
        """The ``top`` largest contributions to volatility (factors and specific) as bars; a
        matplotlib ``Figure`` (needs the ``plot`` extra)."""
        from ferrofactor.plotting import risk_decomposition_figure

        return risk_decomposition_figure(self, top=top)

    def __repr__(self) -> str:
        return f"RiskDecomposition(total_vol={self.total_vol:.6g}, date={self._date})"


class ProductsMixin:
    """The products of :class:`~ferrofactor.RiskModel` (see the module docstring)."""

    # -- helpers ------------------------------------------------------------------------------
    def _args(self, i: int):
        ex = self._exposures
        n = self._spec.shape[1]
        st = ex.styles[i] if ex.styles is not None else np.zeros((n, 0))
        ind = ex.industry[i] if ex.industry is not None else np.full(n, -1, np.int32)
        return np.ascontiguousarray(st), np.ascontiguousarray(ind), ex.market, ex.n_industries

    def _weights(self, weights: Any, finite: bool = True) -> tuple[np.ndarray, bool]:
        """(P, N) float64 weights and whether a single (N,) portfolio was given. ``finite=False``
        leaves the finiteness check to a kernel that reads every weight and raises the same
        error (``risk_portfolio_variance``): one pass over a large (P, N) less."""
        n = self._spec.shape[1]
        weights = by_label("weights", weights)  # a pandas Series indexed by asset: that mapping
        if isinstance(weights, Mapping) or type(weights).__name__ == "DataFrame" and \
                (type(weights).__module__ or "").startswith("polars"):
            if isinstance(weights, Mapping):
                keys, vals = list(weights.keys()), list(weights.values())
            else:
                if not {"asset", "weight"} <= set(weights.columns):
                    raise ValueError(
                        f"weights frame must have columns 'asset' and 'weight', got {weights.columns}"
                    )
                keys, vals = weights["asset"].to_list(), weights["weight"].to_list()
            if self._assets is None:
                raise ValueError("weights by asset need a model with asset labels; pass an (N,) array")
            pos = {a: j for j, a in enumerate(self._assets.tolist())}
            unknown = [k for k in keys if str(k) not in pos]
            if unknown:
                raise ValueError(f"weights name assets the model does not have: {unknown[:_SHOW]}")
            w = np.zeros(n)
            for k, v in zip(keys, vals):
                w[pos[str(k)]] += float(v)
            return w[None], True
        if _is_pandas_frame(weights) and not _default_range(weights.columns):
            # portfolios × assets, the columns naming the assets: paired by label, as a Series is
            # (an asset without a column holds 0), never by position
            if self._assets is None:
                raise ValueError("weights by asset need a model with asset labels; pass a (P, N) array")
            cols = frame_asset_labels("weights", weights)
            pos = {a: j for j, a in enumerate(self._assets.tolist())}
            unknown = [c for c in cols if c not in pos]
            if unknown:
                raise ValueError(f"weights name assets the model does not have: {unknown[:_SHOW]}")
            vals = as_float_array("weights", weights.to_numpy(), 2)
            w = np.zeros((vals.shape[0], n))
            w[:, [pos[c] for c in cols]] = vals
            if finite:
                _check_finite_weights(w)
            return w, False
        arr = as_array("weights", weights)
        single = arr.ndim == 1
        w = as_float_array("weights", arr[None] if single else arr, 2)
        if w.shape[1] != n:
            raise ValueError(f"weights have {w.shape[1]} assets (shape {arr.shape}), the model has {n} assets")
        if finite:
            _check_finite_weights(w)
        return w, single

    def _vector(self, name: str, x: Any) -> np.ndarray:
        """An (N,) float vector: an array in the model's asset order, or a mapping / pandas
        Series indexed by asset, paired by label (every asset given)."""
        x = by_label(name, x)
        if isinstance(x, Mapping):
            return values_by_label(name, x, self._assets, of="the risk model")
        return as_float_array(name, x, 1)

    def _exposed(self, i: int) -> np.ndarray:
        """(N,) assets whose exposures are all known at stored date i."""
        st = self._exposures.styles
        if st is not None and st.shape[2]:
            return np.isfinite(st[i]).all(axis=1)
        return np.ones(self._spec.shape[1], dtype=bool)

    def _covered(self, i: int) -> np.ndarray:
        """(N,) assets with a forecast at stored date i: known exposures and specific variance,
        and no exposure to a factor whose variance is not estimated yet."""
        return self._exposed(i) & np.isfinite(self._spec[i]) & ~self._unestimated(i)[0]

    def covered(self, date: Any = -1) -> np.ndarray:
        """(N,) bool: the assets the model has a forecast for at ``date``: known exposures and
        specific variance, and no exposure to a factor whose variance is not estimated yet (a
        style or industry with too few factor returns so far). Portfolios may hold only these:
        the products refuse weights on any other asset."""
        return readonly(self._covered(self._date(date)))

    def _unestimated(self, i: int) -> tuple[np.ndarray, list[str]]:
        """(N,) assets that load on a factor whose variance is not estimated at stored date i
        (too few factor returns yet, e.g. a new industry or a style defined since recently), and
        the names of those factors."""
        known = np.isfinite(np.diagonal(self._cov[i]))
        n = self._spec.shape[1]
        if known.all():
            return np.zeros(n, dtype=bool), []
        st, ind, market, g = self._args(i)
        m = int(bool(market))
        bad = np.full(n, m == 1 and not known[0])
        if g:
            bad |= (ind >= 0) & ~known[m:m + g][np.clip(ind, 0, g - 1)]
        if st.shape[1]:
            bad |= ((np.nan_to_num(st) != 0) & ~known[m + g:][None, :]).any(axis=1)  # (NaN: not covered)
        labels = getattr(self, "factor_names", None)
        names = [str(labels[k]) if labels is not None else str(k) for k in np.flatnonzero(~known)]
        return bad, names

    def _check_held(self, w: np.ndarray, i: int) -> None:
        """Refuse weights on assets without a forecast at stored date i. Only the columns of
        those assets are read (usually none), not the whole (P, N) array."""
        unest, factors = self._unestimated(i)
        cand = np.flatnonzero(unest | ~self._covered(i))
        if cand.size == 0:
            return
        wc = w[:, cand]
        _check_finite_weights(wc, cand)  # a NaN weight is reported as such, not as a holding
        held = np.zeros(w.shape[1], dtype=bool)
        held[cand] = (wc != 0).any(axis=0)
        label = self._dates[i] if self._dates is not None else i

        def names(idx: np.ndarray) -> list[str]:
            return [str(self._assets[j]) if self._assets is not None else f"#{j}" for j in idx[:_SHOW]]

        if (held & unest).any():
            idx = np.flatnonzero(held & unest)
            raise ValueError(
                f"weights hold {idx.size} assets exposed to factors whose variance is not estimated "
                f"yet on {label} ({factors[:_SHOW]}: too few factor returns), e.g. {names(idx)}; their "
                "risk is unknown: give them zero weight or use a later date"
            )
        held_bad = held & ~self._covered(i)
        if held_bad.any():
            idx = np.flatnonzero(held_bad)
            raise ValueError(
                f"weights hold {idx.size} assets with no risk forecast on {label} (no specific "
                f"variance or a missing style exposure), e.g. {names(idx)}; give them zero weight"
            )

    # -- products -----------------------------------------------------------------------------
    def portfolio_variance(self, weights: Any, date: Any = -1) -> tuple[Any, Any]:
        """Factor and specific variance of the portfolios, (P,) and (P,) (floats for one), daily."""
        i = self._date(date)
        w, single = self._weights(weights, finite=False)  # the kernel checks every weight
        self._check_held(w, i)
        fv, sv = _core.risk_portfolio_variance(w, *self._args(i), self._cov[i], self._spec[i])
        return (float(fv[0]), float(sv[0])) if single else (fv, sv)

    def portfolio_risk(self, weights: Any, date: Any = -1, annualize: bool = False) -> Any:
        """Volatility ``sqrt(wᵀ(B Σf Bᵀ + D)w)`` of the portfolios at ``date``: (P,), or a float
        for one portfolio. Daily; ``annualize=True`` multiplies by sqrt(252)."""
        annualize = check_bool("annualize", annualize)
        fv, sv = self.portfolio_variance(weights, date)
        vol = np.sqrt(np.asarray(fv) + np.asarray(sv))
        if annualize:
            vol = vol * np.sqrt(PERIODS_PER_YEAR)
        return float(vol) if np.ndim(vol) == 0 else vol

    def factor_exposures(self, weights: Any, date: Any = -1) -> np.ndarray:
        """``Bᵀw``: factor exposures (P, K), or (K,) for one portfolio, at ``date``."""
        i = self._date(date)
        w, single = self._weights(weights)
        self._check_held(w, i)
        x = _core.risk_factor_exposures(w, *self._args(i))
        return x[0] if single else x

    def risk_decomposition(self, weights: Any, date: Any = -1, annualize: bool = False) -> RiskDecomposition:
        """Decompose the risk of one portfolio at ``date`` (:class:`RiskDecomposition`); daily
        units, or annualised with ``annualize=True``."""
        annualize = check_bool("annualize", annualize)
        i = self._date(date)
        w, single = self._weights(weights)
        if w.shape[0] != 1:
            raise ValueError(f"weights must be one portfolio (N,) for risk_decomposition, got shape {w.shape}")
        self._check_held(w, i)
        args = self._args(i)
        x = _core.risk_factor_exposures(w, *args)[0]
        fc = self._cov[i]
        held = x != 0
        # (Σf x)_k for every factor k, held or not: a factor the book has no net exposure to still
        # co-moves with it (its correlation, and the marginal risk of the assets exposed to it). A
        # factor without a covariance at the date (NaN row: not estimated) is absent from the
        # model there, as in covariance(): 0 (its correlation is NaN)
        est = np.isfinite(np.diagonal(fc))
        sx = np.zeros_like(x)
        sx[est] = fc[np.ix_(est, held)] @ x[held]
        fcontrib = x * sx
        d = self._spec[i]
        dw = np.where(w[0] != 0, d * w[0], 0.0)
        svar = float(np.sum(w[0] * dw))
        fvar = float(np.sum(fcontrib))
        total = np.sqrt(fvar + svar)
        fvol = np.sqrt(np.diagonal(fc))
        with np.errstate(invalid="ignore", divide="ignore"):
            rho = sx / (fvol * total)
            bsx = _core.risk_exposures_times(sx[None], *args)[0]
            marginal = (bsx + dw) / total
        s = np.sqrt(PERIODS_PER_YEAR) if annualize else 1.0
        v = PERIODS_PER_YEAR if annualize else 1.0
        return RiskDecomposition(
            total_vol=total * s, factor_var=fvar * v, specific_var=svar * v, exposures=x,
            factor_var_contrib=fcontrib * v, factor_vol=fvol * s, factor_corr=rho,
            factor_contrib=fcontrib / total * s, specific_contrib=svar / total * s,
            marginal=marginal * s, asset_contrib=np.where(w[0] != 0, w[0] * marginal, 0.0) * s,
            weights=w[0], factor_names=self._names, assets=self._assets,
            date=self._dates[i] if self._dates is not None else i, annualized=annualize,
        )

    def exposure_matrix(self, date: Any = -1) -> np.ndarray:
        """Dense B (N, K) at ``date`` (one-hot industries; NaN rows where a style is unknown)."""
        i = self._date(date)
        st, ind, market, g = self._args(i)
        n, ks = st.shape
        b = np.zeros((n, int(market) + g + ks))
        if market:
            b[:, 0] = 1.0
        rows = np.nonzero(ind >= 0)[0]
        b[rows, int(market) + ind[rows]] = 1.0
        b[:, int(market) + g:] = st
        b[~self._exposed(i)] = np.nan
        return b

    def covariance(self, date: Any = -1) -> np.ndarray:
        """Materialise the asset covariance ``B Σf Bᵀ + D`` (N, N) at ``date`` (on request only;
        NaN rows/columns for assets not covered)."""
        i = self._date(date)
        b = self.exposure_matrix(i)
        fc = np.nan_to_num(self._cov[i])  # factors without history: no assets exposed in practice
        bz = np.nan_to_num(b)
        cov = bz @ fc @ bz.T
        cov[np.diag_indices_from(cov)] += np.nan_to_num(self._spec[i])
        bad = ~self._covered(i)
        cov[bad, :] = np.nan
        cov[:, bad] = np.nan
        return cov

    def forecast_volatility(self, weights: Any) -> np.ndarray:
        """Risk forecasts (D,) of one portfolio per stored date: row ``d`` of ``weights`` (D, N)
        evaluated with the model of stored date ``d`` (in Rust, parallel over dates). A held
        asset without a forecast on its date is an error naming it. A frame (Polars, or pandas
        indexed by date and/or with asset columns) must carry the model's stored dates and assets,
        in their order, else ``ValueError`` (never paired by position)."""
        self._check_fitted()
        # (a long frame's assets, sorted, are matched with the model's when it has them)
        w, w_dates, w_assets = as_field("weights", weights, asset_order=self._assets is None)
        if w_dates is not None or w_assets is not None:
            check_same_labels("weights", w_dates, w_assets, "the risk model", self._dates, self._assets,
                              how="select the model's stored dates and assets first (risk.dates, risk.assets)")
        D, N = self._spec.shape
        check_shape("weights", w, (D, N), "stored dates × assets")
        if not np.isfinite(w).all():
            raise ValueError("weights must be finite")
        vol = _core.risk_forecast_volatility(w, *self._stack_args(), self._cov, self._spec)
        bad = ~np.isfinite(vol)
        if bad.any():
            self._check_held(w[[int(np.flatnonzero(bad)[0])]], int(np.flatnonzero(bad)[0]))
        return vol

    def _stack_args(self):
        ex = self._exposures
        D, N = self._spec.shape
        st = ex.styles if ex.styles is not None else np.zeros((D, N, 0))
        ind = ex.industry if ex.industry is not None else np.full((D, N), -1, np.int32)
        return np.ascontiguousarray(st), np.ascontiguousarray(ind), ex.market, ex.n_industries

    def factor_mimicking_portfolios(self, date: Any = -1, regression_weights: Any = None,
                                    constraint_cap: Any = None) -> np.ndarray:
        """Factor-mimicking portfolios (K, N) at ``date``: the rows of ``Ω`` in ``f = Ω r``, the
        constrained weighted least-squares estimator of the cross-sectional regression on the
        exposures of ``date`` (weights ``regression_weights``, default ``sqrt(cap)``; with a
        market factor and industries the constraint ``Σ_g c_g f_g = 0``, ``c_g`` the total
        ``constraint_cap`` (default ``cap``) of industry ``g``). Holding row k over the next
        period earns the factor return k of a regression of next-period returns on these
        exposures. Assets the regression does not use (unknown exposures; no industry when the
        model has industries; a weight of 0 or NaN) get 0; factors without assets, and styles with
        no dispersion among the assets used (which the regression drops from its date), get NaN
        rows; a date whose design is still singular gives NaN everywhere. ``regression_weights`` and
        ``constraint_cap`` are (N,) arrays in the model's asset order, or a mapping / pandas
        Series indexed by asset (paired by label; every asset given); negative or infinite
        values are a ``ValueError``, as the regression's weights and caps are."""
        from ferrofactor.risk.mimicking import mimicking_portfolios

        i = self._date(date)
        n = self._spec.shape[1]
        cap = None if self._cap is None else self._cap[i]
        if regression_weights is None:
            if cap is None:
                raise ValueError("regression_weights are required (the model has no cap)")
            with np.errstate(invalid="ignore"):
                wts = np.sqrt(cap)
        else:
            wts = self._vector("regression_weights", regression_weights)
            check_shape("regression_weights", wts, (n,))
            # as the regression refuses them (an infinite weight was dropped silently, a negative
            # one left out as if 0; an infinite or negative cap bent the constraint)
            check_weights("regression_weights", wts)
        ccap = cap if constraint_cap is None else self._vector("constraint_cap", constraint_cap)
        if constraint_cap is not None:
            check_shape("constraint_cap", ccap, (n,))
            check_weights("constraint_cap", ccap)
        st, ind, market, g = self._args(i)
        # the assets the regression uses: known exposures, an industry when the model has
        # industries (it drops code −1), a cap where the cap constraint needs it
        used = self._exposed(i)
        if g:
            used = used & (ind >= 0)
            if market and ccap is not None:
                used = used & np.isfinite(ccap)
        return mimicking_portfolios(st, ind, market, g, wts, ccap, used)
