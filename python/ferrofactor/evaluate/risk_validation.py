"""Risk-model validation: bias statistics, the minimum-variance test, residual correlation.
(Signal evaluation lives beside it in :mod:`ferrofactor.evaluate.signal`.)

Time: a risk forecast made with the model of date ``d`` (data up to the close of ``d``) is
compared with the return realised over the next date, ``returns[d + 1]``. Nothing is shifted
silently: :func:`bias_statistic` takes forecasts already aligned with the returns they forecast,
and the model-based tests align them themselves, as documented.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from ferrofactor import _core
from ferrofactor._validate import (
    as_dates,
    as_field,
    as_float_array,
    by_date,
    check_bool,
    check_int,
    check_real,
    check_same_labels,
    check_shape,
    is_date_indexed,
    refuse_inf,
)
from ferrofactor.results import NotFittedError, Result, Summary, readonly

__all__ = [
    "BiasResult",
    "MinimumVarianceResult",
    "PortfolioBiasResult",
    "ResidualCorrelation",
    "bias_statistic",
    "bias_test",
    "minimum_variance_test",
    "residual_correlation",
]


# ---------------------------------------------------------------------------------------------
# Bias statistic
# ---------------------------------------------------------------------------------------------


class BiasResult(Result):
    """Bias statistics of one or more portfolios.

    Attributes
    ----------
    bias : ndarray
        Standard deviation (ddof=1) of the standardised returns ``z = r / σ_forecast``: over the
        whole sample, shape (P,) (a 0-d array for a single series), or over a rolling ``window``,
        shape (T, P) (NaN until the window is full).
    n_obs : ndarray
        Number of finite ``z`` behind each value.
    lower, upper : ndarray
        The approximate 95% band ``1 ± sqrt(2 / n_obs)``.
    inside : ndarray of bool
        ``lower <= bias <= upper``.
    share_inside : float
        Share of the finite bias values inside the band.
    """

    _arrays = {"bias": ("portfolio",), "n_obs": ("portfolio",), "lower": ("portfolio",),
               "upper": ("portfolio",), "inside": ("portfolio",)}
    _groups = {"table": ("bias", "n_obs", "lower", "upper", "inside")}
    _default_kind = "table"

    def __init__(self, bias, n_obs, lower, upper, inside, *, window=None, dates=None, names=None):
        self._bias, self._n_obs = readonly(bias), readonly(n_obs)
        self._lower, self._upper, self._inside = readonly(lower), readonly(upper), readonly(inside)
        self._window = window
        self._dates = readonly(dates)
        self._names = None if names is None else list(names)
        if window is not None:
            axes = ("date", "portfolio") if np.ndim(bias) == 2 else ("date",)
            self._arrays = {k: axes for k in BiasResult._arrays}

    bias = property(lambda self: self._bias)
    n_obs = property(lambda self: self._n_obs)
    lower = property(lambda self: self._lower)
    upper = property(lambda self: self._upper)
    inside = property(lambda self: self._inside)
    window = property(lambda self: self._window)
    dates = property(lambda self: self._dates)

    @property
    def share_inside(self) -> float:
        ok = np.isfinite(self._bias)
        return float(np.mean(self._inside[ok])) if ok.any() else float("nan")

    def _axis_labels(self, axis: str) -> Any:
        if axis == "portfolio":
            return self._names
        return super()._axis_labels(axis)

    def to_polars(self, kind: str | None = None, form: str = "wide") -> pl.DataFrame:
        if np.ndim(self._bias) == 0:
            # one series over the whole sample: one row, labelled as a (1,) result is (its name,
            # else 0), with the arrays the kind asks for (checked as for any result)
            kind = self._default_kind if kind is None else kind
            if form not in ("wide", "long"):
                raise ValueError(f"form must be one of ['wide', 'long'], got {form!r}")
            names = self._groups.get(kind, (kind,) if kind in self._arrays else None)
            if names is None:
                raise ValueError(f"kind must be one of {self.kinds}, got {kind!r}")
            return self._frame_long(("portfolio",), {k: np.reshape(getattr(self, k), 1) for k in names})
        return super().to_polars(kind, form)

    def summary(self) -> Summary:
        b = np.atleast_1d(self._bias)
        fin = b[np.isfinite(b)]
        header = [("Window", "whole sample" if self._window is None else self._window),
                  ("Series", b.shape[-1] if b.ndim else 1),
                  ("Share inside the band", f"{self.share_inside:.3f}")]
        q = np.quantile(fin, [0.05, 0.5, 0.95]) if fin.size else np.full(3, np.nan)
        table = pl.DataFrame({"statistic": ["p05", "median", "p95", "mean"],
                              "bias": [*q.tolist(), float(fin.mean()) if fin.size else np.nan]})
        return Summary("Bias statistic", header, [("", table)],
                       ["bias > 1: risk under-forecast; < 1: over-forecast; band 1 ± sqrt(2/n)"])

    def plot(self) -> Any:
        """Bias statistics against their band (per portfolio, or rolling over time); a
        matplotlib ``Figure`` (needs the ``plot`` extra)."""
        from ferrofactor.plotting import bias_figure

        return bias_figure(self)


def _one_or_two_d(name: str, x: Any) -> np.ndarray:
    """A (T,) or (T, P) float array (as :func:`as_float_array` checks it)."""
    arr = x if isinstance(x, np.ndarray) else None
    if arr is None:
        try:
            arr = as_float_array(name, x, 1)
        except ValueError:
            arr = as_float_array(name, x, 2)
        return arr
    return as_float_array(name, arr, 1 if arr.ndim == 1 else 2)


def bias_statistic(returns: Any, forecast_vol: Any, window: int | None = None, *,
                   dates: Any = None, names: Any = None) -> BiasResult:
    """Bias statistic of risk forecasts: the standard deviation of ``returns / forecast_vol``.

    Parameters
    ----------
    returns : array (T,) or (T, P)
        Realised returns of one or P portfolios, NaN where missing; an infinite return is a
        data error and raises ``ValueError``.
    forecast_vol : array, same shape
        ``forecast_vol[t]`` is the volatility forecast for ``returns[t]``, made before it (align
        it yourself: no shift is done here). Positive where finite; a non-finite forecast
        (NaN, ±inf) is missing, as a NaN return is.
    window : int, optional
        Rolling window length in observations (>= 2); None (default) = whole sample.
    dates, names : optional labels of the T dates and the P series.

    ``returns`` may be a pandas Series or DataFrame indexed by date: its index gives the dates
    (read in its order, which must be date order; ``dates`` omitted or equal to it).
    ``forecast_vol`` indexed by date must carry the dates (of ``returns``, or ``dates``), in
    their order, else ``ValueError``: never paired by position.

    Returns
    -------
    BiasResult
        ``bias`` near 1 means accurate forecasts (> 1: risk under-forecast); the band is
        ``1 ± sqrt(2/n)`` with ``n`` the number of finite standardised returns.
    """
    returns, rdates = by_date("returns", returns)
    if rdates is not None and dates is not None:
        check_same_labels("dates", as_dates("dates", dates, len(rdates)), None, "returns", rdates, None,
                          how="leave dates out (the index of returns gives them) or pass the same dates")
    if rdates is not None:
        dates = rdates
    r0 = _one_or_two_d("returns", returns)
    refuse_inf("returns", r0, "NaN marks a missing return")
    if is_date_indexed(forecast_vol):
        known = None if dates is None else as_dates("dates", dates, r0.shape[0])
        forecast_vol = by_date("forecast_vol", forecast_vol, known,
                               of="returns" if rdates is not None else "dates=")[0]
    single = r0.ndim == 1
    r = r0[:, None] if single else r0
    v0 = _one_or_two_d("forecast_vol", forecast_vol)
    v = v0[:, None] if v0.ndim == 1 else v0
    check_shape("forecast_vol", v, r.shape, "same as returns")
    if np.any(v[np.isfinite(v)] <= 0):
        raise ValueError("forecast_vol must be positive where finite")
    t, p = r.shape
    with np.errstate(invalid="ignore", divide="ignore"):
        z = r / v
    # an infinite forecast is missing (r / inf = 0 was counted as a standardised return of 0,
    # pulling the bias towards 0 and narrowing the band)
    z[~np.isfinite(z) | ~np.isfinite(v)] = np.nan
    ok = np.isfinite(z)
    if window is None:
        n = ok.sum(axis=0)
        # scaled by a power of two per series (exact) so that sums and squares of standardised
        # returns around 1e154 and beyond neither overflow nor underflow (issue 10, family 5)
        zz = np.where(ok, z, 0.0)
        top = np.abs(zz).max(axis=0, initial=0.0)
        scale = np.exp2(np.floor(np.log2(np.where(top > 0, top, 1.0))))
        zz = zz / scale
        mean = zz.sum(axis=0) / np.maximum(n, 1)
        var = (np.where(ok, zz - mean, 0.0) ** 2).sum(axis=0) / np.maximum(n - 1, 1)
        bias = np.where(n >= 2, np.sqrt(var) * scale, np.nan)
    else:
        window = check_int("window", window, 2)
        bias = _core.rolling_moment(np.ascontiguousarray(z), window, 2, None, "std")
        n = np.rint(_core.rolling_moment(ok.astype(np.float64), window, 1, None, "sum")).astype(np.int64)
        bias[: window - 1] = np.nan
        n[: window - 1] = 0
    with np.errstate(divide="ignore", invalid="ignore"):
        half = np.where(n > 0, np.sqrt(2.0 / np.maximum(n, 1)), np.nan)  # no band without data
    lower, upper = 1 - half, 1 + half
    inside = (bias >= lower) & (bias <= upper)
    d = as_dates("dates", dates, t)  # checked even when unused (whole sample): never a silent pass
    d = d if window is not None else None
    if names is not None:
        from ferrofactor._validate import as_names

        names = as_names("names", names, p)
    if single:
        bias, n, lower, upper, inside = (a[..., 0] for a in (bias, n, lower, upper, inside))
    return BiasResult(bias, n, lower, upper, inside, window=window, dates=d, names=names)


# ---------------------------------------------------------------------------------------------
# Model-based tests
# ---------------------------------------------------------------------------------------------


def _model_returns(model: Any, returns: Any) -> tuple[np.ndarray, np.ndarray, Any, Any]:
    """Returns on the model's fitted dates, the rows (positions) of its stored dates, and the
    returns' dates and assets (None without labels).

    A Panel's or frame's labels are matched with the model's, never by position: its assets must
    be the model's, and its dates at the stored positions the model's stored dates (the model
    keeps no labels for the other fitted dates), else ``ValueError`` naming ``returns``."""
    from ferrofactor.panel import Panel
    from ferrofactor.risk import RiskModel

    if not isinstance(model, RiskModel):
        raise TypeError(f"model must be a fitted RiskModel, got {type(model).__name__}")
    if not model._fitted:
        raise NotFittedError("model is a RiskModel that is not fitted: call fit(result) or a from_* constructor first")
    if isinstance(returns, Panel):
        r, r_dates, r_assets = returns["returns"], returns.dates, returns.assets
    else:
        # a frame's rows come out in date order: compared with the model's dates when it has
        # them, else paired by position with its fitted dates (then they must be in date order)
        r, r_dates, r_assets = as_field("returns", returns, date_order=model._dates is None)
    r = as_float_array("returns", r, 2)
    # an infinite return is a data error (a missing one counts as 0 or leaves the portfolio's
    # asset out; an infinite one did too, silently)
    refuse_inf("returns", r, "NaN marks a missing return")
    if model._factor_returns is None:
        raise ValueError("the model was built from given matrices (from_covariance): no fitted dates to test on")
    t = model._factor_returns.shape[0]
    check_shape("returns", r, (t, model._spec.shape[1]), "the model's fitted dates × assets")
    keep = np.asarray(model._keep, dtype=np.int64)
    full = len(keep) == t
    check_same_labels(
        "returns" if full else "returns (on the model's stored dates)",
        None if r_dates is None else r_dates[keep], r_assets, "the model", model._dates, model._assets,
        how="pass the returns on the model's fitted dates and its assets, in its order "
        "(e.g. panel.select(assets=model.assets))",
    )
    return r, keep, r_dates, r_assets


def _forecast_dates(model: Any, keep: np.ndarray, stored: np.ndarray, r_dates: Any) -> np.ndarray:
    """Labels of the tested forecast dates: the model's, else those of labelled returns (rows
    ``keep[stored]``), else the positions among the stored dates."""
    if model._dates is not None:
        return model._dates[stored]
    if r_dates is not None:
        return r_dates[keep[stored]]
    return stored


class PortfolioBiasResult(Result):
    """Out-of-sample risk forecasts of fixed portfolios, date by date.

    Attributes
    ----------
    dates : (D,) the forecast dates (labels or positions); ``realized``/``forecast_vol`` (D, P):
    the return over the next date and the model's volatility forecast of the portfolio restricted
    to the assets covered on the forecast date (renormalised with ``normalize``, one-signed
    portfolios only: see :func:`bias_test`); ``bias`` a :class:`BiasResult` per portfolio.
    """

    _arrays = {"realized": ("date", "portfolio"), "forecast_vol": ("date", "portfolio"),
               "standardized": ("date", "portfolio")}
    _default_kind = "standardized"

    def __init__(self, dates, realized, forecast, title):
        self._dates = readonly(dates)
        self._realized, self._forecast = readonly(realized), readonly(forecast)
        self._title = title
        # a forecast of zero risk (e.g. a portfolio holding nothing covered that date) cannot
        # standardise its return: that date is left out of the bias statistic
        with np.errstate(invalid="ignore"):
            ok = np.isfinite(realized) & np.isfinite(forecast) & (forecast > 0)
        self._bias = bias_statistic(np.where(ok, realized, np.nan), np.where(ok, forecast, np.nan))

    dates = property(lambda self: self._dates)
    realized = property(lambda self: self._realized, doc="(D, P) next-date returns.")
    forecast_vol = property(lambda self: self._forecast, doc="(D, P) forecast volatilities.")
    bias = property(lambda self: self._bias, doc="BiasResult per portfolio over the dates.")

    @property
    def standardized(self) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return readonly(self._realized / self._forecast)

    def _axis_labels(self, axis: str) -> Any:
        if axis == "portfolio":
            return None
        return super()._axis_labels(axis)

    def summary(self) -> Summary:
        s = self._bias.summary()
        return Summary(self._title, [("Dates", len(self._realized)),
                                     ("Portfolios", self._realized.shape[1])] + s.header[2:],
                       s.tables, s.notes)

    def plot(self, window: int = 63) -> Any:
        """Whole-sample bias per portfolio against its band, and the ``window``-date rolling bias
        over time with the band ``1 ± sqrt(2/window)``; a matplotlib ``Figure`` (needs the
        ``plot`` extra)."""
        from ferrofactor._validate import check_int
        from ferrofactor.plotting import portfolio_bias_figure

        return portfolio_bias_figure(self, window=check_int("window", window, 2))


def bias_test(model: Any, returns: Any, portfolios: Any, *, dates: Any = None, every: int = 1,
              normalize: bool = True) -> PortfolioBiasResult:
    """Bias test of fixed portfolios (e.g. random long-only ones): at every ``every``-th stored
    date ``d`` each portfolio is restricted to the assets the model covers at ``d`` and that have a
    return at ``d + 1`` (and, with ``normalize``, rescaled to its original sum), its volatility is
    forecast with the model of ``d`` and compared with its return over ``d + 1``. Batched over
    dates and portfolios in Rust.

    ``normalize`` rescales only the portfolios whose weights are all of one sign (long-only or
    short-only: the sum is their size). A long-short portfolio is restricted, not rescaled: its
    sum (0 for a dollar-neutral one, up to rounding) says nothing of its size, and rescaling the
    restricted portfolio to it would shrink it to nothing (a forecast of 0, the date left out of
    the bias) or flip its sign.

    Parameters
    ----------
    model : RiskModel
    returns : array (T, N), Polars frame or Panel (its ``returns`` field)
        Returns on the model's fitted dates (NaN = missing; an infinite return raises
        ``ValueError``). A Panel's or frame's labels must be the model's
        (its assets, in order; its dates at the model's stored dates), else ``ValueError``;
        they label the result when the model has none.
    portfolios : array (P, N)
    dates : array of positions or labels of the model's stored dates, optional
        The forecast dates to test (default: all); then every ``every``-th of them.
    every : int, default 1
    normalize : bool, default True

    Returns
    -------
    PortfolioBiasResult
    """
    r, keep, r_dates, _ = _model_returns(model, returns)
    w = _one_or_two_d("portfolios", portfolios)
    w = w[None] if w.ndim == 1 else w
    check_shape("portfolios", w, (w.shape[0], r.shape[1]), "(P, N) with the model's assets")
    if not np.isfinite(w).all():
        raise ValueError("portfolios must be finite")
    every = check_int("every", every, 1)
    normalize = check_bool("normalize", normalize)
    if dates is None:
        stored = np.arange(0, len(keep), every)
    else:
        from ferrofactor._validate import date_positions

        # as every date argument: datetime64 in any unit, a zoned Polars series at its wall
        # time, a time of day other than midnight refused (never cut to its day)
        stored = np.unique(date_positions("dates", dates, model._dates, len(keep)))[::every]
    stored = stored.astype(np.int64)
    st, ind, market, g = model._stack_args()
    at = (np.ascontiguousarray(keep[stored]), *_at_stored(stored, st, ind), market, g,
          *_at_stored(stored, model._cov), _covered_spec(model, stored))
    # long-short portfolios are never rescaled (see the docstring): one kernel call per kind
    mixed = (w > 0).any(axis=1) & (w < 0).any(axis=1) if normalize else np.zeros(len(w), bool)
    if mixed.any() and not mixed.all():
        realized = np.empty((len(stored), len(w)))
        forecast = np.empty((len(stored), len(w)))
        for sel, norm in ((mixed, False), (~mixed, True)):
            realized[:, sel], forecast[:, sel] = _core.risk_bias_paths(np.ascontiguousarray(w[sel]), r, at[0],
                                                                       norm, *at[1:])
    else:
        realized, forecast = _core.risk_bias_paths(w, r, at[0], normalize and not mixed.any(), *at[1:])
    del at
    dates = _forecast_dates(model, keep, stored, r_dates)
    return PortfolioBiasResult(dates, realized, forecast, "Bias test of fixed portfolios")


def _at_stored(stored: np.ndarray, *arrays: np.ndarray) -> list[np.ndarray]:
    """The rows ``stored`` of each (D, ...) array, C-contiguous for the kernels: a view when they
    are a run of consecutive rows (the default ``every=1`` over every stored date), since a
    model's styles are its largest array (D, N, K) and a copy of them is not needed."""
    if stored.size and np.array_equal(stored, np.arange(stored[0], stored[0] + stored.size)):
        sl = slice(int(stored[0]), int(stored[0]) + stored.size)
        return [np.ascontiguousarray(a[sl]) for a in arrays]
    return [np.ascontiguousarray(a[stored]) for a in arrays]


def _covered_spec(model: Any, stored: np.ndarray) -> np.ndarray:
    """The specific variance of the stored dates ``stored`` (as :func:`_at_stored`), NaN where an
    asset is exposed to a factor whose variance is not estimated yet that date (a new industry,
    a style with too few factor returns): the kernels cover the assets with finite styles and
    specific variance, and so then cover exactly :meth:`RiskModel.covered`'s assets. Without
    such a factor on any of the dates, the array of :func:`_at_stored` itself; else at most one
    (D, N) copy, the masks built in blocks of dates."""
    spec = _at_stored(stored, model._spec)[0]
    known = np.isfinite(np.diagonal(model._cov, axis1=1, axis2=2)[stored])
    rows = np.flatnonzero(~known.all(axis=1))
    if rows.size == 0:
        return spec
    st, ind, market, g = model._stack_args()
    m = int(bool(market))
    copied = False
    for lo in range(0, rows.size, 64):  # blocks of dates: (64, N) temporaries
        blk = rows[lo:lo + 64]
        kn, at = known[blk], stored[blk]
        bad = np.zeros((blk.size, spec.shape[1]), dtype=bool)
        if m:
            bad |= ~kn[:, :1]
        if g:
            codes = ind[at]
            bad |= (codes >= 0) & ~np.take_along_axis(kn[:, m:m + g], np.clip(codes, 0, g - 1), axis=1)
        for q in np.flatnonzero(~kn[:, m + g:].all(axis=0)):
            x = st[at, :, q]
            bad |= (x != 0) & ~np.isnan(x) & ~kn[:, m + g + q, None]
        if bad.any():
            if not copied and np.shares_memory(spec, model._spec):
                spec = spec.copy()  # (a view of the model's array when the dates are consecutive)
            copied = True
            part = spec[blk]
            part[bad] = np.nan
            spec[blk] = part
    return spec


class MinimumVarianceResult(PortfolioBiasResult):
    """The minimum-variance test: :class:`PortfolioBiasResult` with one portfolio per date
    (``weights`` (D, N), the fully invested minimum-variance portfolio of each forecast date)."""

    _arrays = dict(PortfolioBiasResult._arrays, weights=("date", "asset"))

    def __init__(self, dates, realized, forecast, weights, assets):
        super().__init__(dates, realized, forecast, "Minimum-variance test")
        self._weights = readonly(weights)
        self._assets = readonly(assets)

    weights = property(lambda self: self._weights, doc="(D, N) minimum-variance weights.")
    assets = property(lambda self: self._assets)


def minimum_variance_test(model: Any, returns: Any, every: int = 1, budget: float = 1.0) -> MinimumVarianceResult:
    """Out-of-sample test of the fully invested minimum-variance portfolio.

    At each stored date ``d`` (every ``every``-th) the portfolio ``w = Σ⁻¹1 / 1ᵀΣ⁻¹1`` over the
    assets covered at ``d`` (Woodbury in factor form, never N×N; batched over dates in Rust) is
    scaled to ``budget``; its realised return over ``d + 1`` (a missing return counts as 0) is
    compared with its forecast volatility. Minimum-variance portfolios load on the directions the
    model thinks are least risky, so an under-forecast there (bias > 1) is the classic symptom of
    too little shrinkage or missing factors.

    ``returns`` (T, N) on the model's fitted dates: an array, a Polars frame or a Panel (its
    ``returns`` field), whose labels must be the model's, as in :func:`bias_test`; NaN is
    missing, an infinite return raises ``ValueError``.

    Returns
    -------
    MinimumVarianceResult
        Dates where no portfolio could be formed (fewer than 2 covered assets) are left out.
    """
    r, keep, r_dates, r_assets = _model_returns(model, returns)
    every = check_int("every", every, 1)
    budget = check_real("budget", budget)
    stored = np.arange(0, len(keep), every)
    stored = stored[keep[stored] + 1 < r.shape[0]]  # a forecast needs the next date's return
    st, ind, market, g = model._stack_args()
    at = (*_at_stored(stored, st, ind), market, g, *_at_stored(stored, model._cov), _covered_spec(model, stored))
    w = _core.risk_min_variance(*at)
    w *= budget  # (in place: no second (D, N) array)
    good = np.isfinite(w).all(axis=1)
    # the forecast of every stored date on the same arrays (each date on its own; a date
    # without a portfolio takes zero weights and is dropped after), so that they are not copied
    w[~good] = 0.0
    forecast = _core.risk_forecast_volatility(w, *at)[good]
    del at
    stored, w = stored[good], np.ascontiguousarray(w[good])
    rows = keep[stored]
    realized = np.empty(len(rows))
    for lo in range(0, len(rows), 256):  # blocks of dates: no (D, N) copy of the returns
        nxt = r[rows[lo:lo + 256] + 1]
        realized[lo:lo + 256] = np.sum(w[lo:lo + 256] * np.where(np.isfinite(nxt), nxt, 0.0), axis=1)
    dates = _forecast_dates(model, keep, stored, r_dates)
    assets = model._assets if model._assets is not None else r_assets
    return MinimumVarianceResult(dates, realized[:, None], forecast[:, None], w, assets)


# ---------------------------------------------------------------------------------------------
# Residual correlation
# ---------------------------------------------------------------------------------------------


class ResidualCorrelation(Result):
    """Residual-correlation diagnostic.

    Attributes
    ----------
    correlation : ndarray (N, N)
        Pairwise correlation of residuals over the dates where both are finite (NaN for pairs
        with fewer than ``min_periods`` common dates).
    groups : list of ndarray
        Groups of asset positions whose residuals co-move: connected components of the graph with
        an edge where ``correlation > threshold``, size ≥ 2, largest first.
    group_assets : list of list of str
        The same groups as asset labels (positions as strings without labels).
    mean_abs_offdiag : float
        Mean |correlation| off the diagonal (near 0 when the factors explain the co-movement).
    top_eigenvalues : ndarray
        Largest eigenvalues of the correlation matrix (NaN pairs as 0), to compare with the
        Marchenko-Pastur edge ``mp_edge = (1 + sqrt(N/T))²``.
    """

    _arrays = {"correlation": ("asset", "asset"), "top_eigenvalues": ("rank",)}
    _default_kind = "top_eigenvalues"

    def __init__(self, correlation, groups, mean_abs, eig, mp_edge, assets):
        self._corr = readonly(correlation)
        self._comoving = [readonly(g) for g in groups]
        self._mean_abs = float(mean_abs)
        self._eig = readonly(eig)
        self._mp = float(mp_edge)
        self._assets = readonly(assets)

    correlation = property(lambda self: self._corr)
    groups = property(lambda self: list(self._comoving))
    mean_abs_offdiag = property(lambda self: self._mean_abs)
    top_eigenvalues = property(lambda self: self._eig)
    mp_edge = property(lambda self: self._mp)
    assets = property(lambda self: self._assets)

    @property
    def group_assets(self) -> list[list[str]]:
        lab = self._assets
        return [[str(lab[i]) if lab is not None else str(i) for i in g] for g in self._comoving]

    def _axis_labels(self, axis: str) -> Any:
        if axis == "rank":
            return None
        return super()._axis_labels(axis)

    def summary(self) -> Summary:
        n = self._corr.shape[0]
        header = [("Assets", n), ("Mean |correlation| off the diagonal", f"{self._mean_abs:.4f}"),
                  ("Marchenko-Pastur edge", f"{self._mp:.4f}"), ("Co-moving groups", len(self._comoving))]
        table = pl.DataFrame({"group": list(range(len(self._comoving))),
                              "size": [len(g) for g in self._comoving],
                              "assets": [", ".join(a[:8]) + (" ..." if len(a) > 8 else "")
                                         for a in self.group_assets]})
        eig = pl.DataFrame({"rank": list(range(1, len(self._eig) + 1)), "eigenvalue": self._eig})
        return Summary("Residual correlation", header, [("Groups", table), ("Top eigenvalues", eig)])


def residual_correlation(residuals: Any, threshold: float = 0.3, min_periods: int = 20,
                         n_eigen: int = 5, *, assets: Any = None) -> ResidualCorrelation:
    """Look for groups of assets whose residuals co-move: the signature of a missing factor.

    If the model has no oil factor, oil stocks' residuals stay correlated and show up here as a
    group. Meant for a few hundred to a few thousand assets (it forms the (N, N) correlation).

    Parameters
    ----------
    residuals : array (T, N), or a FactorModelResult (its residuals and assets)
        Specific returns (NaN = missing; an infinite value is a data error: ``ValueError``);
        T ≥ 2.
    threshold : float, default 0.3
        Correlation above which two assets are linked, in (-1, 1).
    min_periods : int, default 20
        Minimum common dates for a pair's correlation (>= 2).
    n_eigen : int, default 5
        Number of top eigenvalues reported.
    assets : optional labels (N,).
    """
    from ferrofactor._validate import as_assets
    from ferrofactor.regress import CrossSectionResult

    if isinstance(residuals, CrossSectionResult):
        assets = residuals.assets if assets is None else assets
        residuals = residuals.residuals
    elif type(residuals).__module__ == "ferrofactor.dask" and hasattr(residuals, "residuals"):
        # (np.asarray of the result object gave 'must be a numeric array, got dtype object')
        raise TypeError(
            f"residuals is a ferrofactor.dask {type(residuals).__name__}, whose residuals stay on the "
            "cluster; this test forms the (N, N) correlation in memory: pass result.compute() (the "
            "in-memory result) or result.residuals.compute()"
        )
    e = as_float_array("residuals", residuals, 2)
    refuse_inf("residuals", e, "NaN marks a missing residual")
    threshold = check_real("threshold", threshold, lo=-1.0, hi=1.0)
    min_periods = check_int("min_periods", min_periods, 2)
    n_eigen = check_int("n_eigen", n_eigen, 1)
    t, n = e.shape
    if t < 2 or n < 2:
        raise ValueError(f"residuals must have at least 2 dates and 2 assets, got shape {e.shape}")
    assets = as_assets("assets", assets, n)
    ok = np.isfinite(e).astype(float)
    # Each asset centred on its own mean first: the sums below then cancel far less, and an asset
    # whose residual is constant (e.g. zero-filled) is exactly 0, so it has no correlation (NaN)
    # rather than one made of rounding (up to ±inf, an infinite eigenvalue and a spurious group).
    n_fin = ok.sum(axis=0)
    mu = np.divide(np.where(ok > 0, e, 0.0).sum(axis=0), n_fin, out=np.zeros(n), where=n_fin > 0)
    z = np.where(ok > 0, e - mu, 0.0)
    cnt = ok.T @ ok
    sx = z.T @ ok  # Σ x_i over the common dates with j
    sxx = (z * z).T @ ok
    sxy = z.T @ z
    with np.errstate(invalid="ignore", divide="ignore"):
        cov = sxy - sx * sx.T / cnt
        vi = sxx - sx**2 / cnt
        # no dispersion over the dates in common (up to rounding): no correlation
        vi[vi <= 1e-12 * sxx] = np.nan
        corr = np.clip(cov / np.sqrt(vi * vi.T), -1.0, 1.0)
    corr[cnt < min_periods] = np.nan
    np.fill_diagonal(corr, 1.0)
    off = corr[~np.eye(n, dtype=bool)]
    mean_abs = float(np.nanmean(np.abs(off))) if np.isfinite(off).any() else float("nan")
    vals = np.linalg.eigvalsh(np.nan_to_num(corr))[::-1][:n_eigen]
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import connected_components

    adj = np.nan_to_num(corr, nan=0.0) > threshold
    np.fill_diagonal(adj, False)
    _, labels = connected_components(csr_matrix(adj), directed=False)
    groups = [np.nonzero(labels == lab)[0] for lab in np.unique(labels)]
    groups = sorted([g for g in groups if g.size >= 2], key=lambda g: (-g.size, g[0]))
    return ResidualCorrelation(corr, groups, mean_abs, vals, (1 + np.sqrt(n / t)) ** 2, assets)
