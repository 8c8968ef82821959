"""Time-series regressions: per-asset factor regressions (betas, alphas) and the alpha test.

The third of the three regressions of a factor model (seed 004): through time, one asset (or
strategy) at a time, its returns on the returns of factors one already has:

.. math::

    y_{t,i} = \\alpha_i + \\sum_k \\beta_{i,k} f_{t,k} + e_{t,i}

Time: ``y[t]`` and ``factors[t]`` are returns over the *same* period (close t−1 to close t); the
regression is contemporaneous and explains, it does not forecast (no lag is applied or needed).
Rows where ``y`` or any factor is missing are dropped per asset, so assets may have ragged
histories (listings, delistings, suspensions).

- :func:`time_series_regress`: one OLS per column of ``y`` (batched in Rust, parallel over blocks
  of assets), nonrobust or Newey-West (Bartlett HAC) covariance, equal to statsmodels'
  ``OLS(y, add_constant(F), missing="drop").fit()`` / ``.fit(cov_type="HAC",
  cov_kwds={"maxlags": lags})`` per asset.
- :func:`alpha_test`: a strategy's alpha against several factor lists ("CAPM", "FF3", ...), with
  Newey-West t-statistics: alpha is always alpha *against a specific factor list*.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from typing import Any

import numpy as np
import polars as pl
from scipy import special, stats

from ferrofactor import _core
from ferrofactor._validate import (
    _is_polars_frame,
    as_array,
    as_float_array,
    as_names,
    by_date,
    check_bool,
    check_choice,
    check_int,
    is_date_indexed,
)
from ferrofactor.constants import PERIODS_PER_YEAR
from ferrofactor.inference import RANGE, _range_exponents
from ferrofactor.results import Result, Summary, fixed_or_scientific, readonly

__all__ = ["AlphaTestResult", "TimeSeriesResult", "alpha_test", "time_series_regress"]

COV_TYPES = ("nonrobust", "hac")
# the columns of the summary table and of the long frames besides the factors
_RESERVED = ("asset", "param", "alpha_tstat", "alpha_pvalue", "r2", "nobs")


# ---------------------------------------------------------------------------------------------
# Inputs: arrays or labelled Polars frames joined on date
# ---------------------------------------------------------------------------------------------


def _labelled(
    name: str, x: Any, *, columns: str, date_order: bool
) -> tuple[np.ndarray, np.ndarray | None, list[str] | None, bool]:
    """``(values (T, C), dates or None, column names or None, was_1d)`` of an array or frame.

    A Polars frame needs a ``date`` column; for ``y`` it may be long (``date, asset, value``) or
    wide (``date`` + one column per asset), for factors wide (``date`` + one column per factor).
    Its rows come out in date order; with ``date_order`` (the other input has no dates and
    pairs row by row) a wide frame must have its rows in date order already. A pandas Series or
    DataFrame indexed by date gives its dates too (:func:`ferrofactor._validate.by_date`), its
    rows as given, which must then be in date order with ``date_order``.
    """
    if is_date_indexed(x):
        values, dates = by_date(name, x, positional=date_order)
        if values.ndim == 1:
            return as_float_array(name, values, 1)[:, None].copy(), dates, None, True
        return as_float_array(name, values, 2), dates, None, False
    if _is_polars_frame(x):
        from ferrofactor.panel import field_from_frame

        if type(x).__name__ == "LazyFrame":
            x = x.collect()
        if columns == "factors" and "asset" in x.columns:
            raise ValueError(f"{name} must be a wide frame (date + one column per factor), not a long frame")
        # (a long frame's assets, sorted, name the result's columns: nothing pairs with them)
        values, dates, names = field_from_frame(name, x, require_date_order=date_order,
                                                require_asset_order=False)
        return values, dates, [str(c) for c in names], False
    if isinstance(x, pl.Series):
        arr = as_float_array(name, x.to_numpy(), 1)
        return arr[:, None], None, [x.name] if x.name else None, True
    arr = as_array(name, x) if not isinstance(x, np.ndarray) else x
    if getattr(arr, "ndim", None) == 1:
        return as_float_array(name, arr, 1)[:, None].copy(), None, None, True
    return as_float_array(name, x, 2), None, None, False


def _pandas_names(name: str, x: Any, what: str = "factors") -> list[str] | None:
    """The column names of a pandas DataFrame or the name of a pandas Series (they name the
    ``what``: factors, or the assets of ``y``); None for other inputs and for unnamed pandas data
    (a Series without a name, a frame with the default columns 0, 1, ...). pandas data is
    otherwise read as an array (rows pair by position)."""
    module = type(x).__module__ or ""
    if not module.startswith("pandas"):
        return None
    kind = type(x).__name__
    if kind == "Series":
        return None if x.name is None else [str(x.name)]
    if kind == "DataFrame":
        cols = x.columns
        if type(cols).__name__ == "RangeIndex" and cols.start == 0 and cols.step == 1:
            return None
        labels = [str(c) for c in cols]
        if len(set(labels)) != len(labels):
            dup = sorted({c for c in labels if labels.count(c) > 1})
            raise ValueError(
                f"{name} is a pandas frame with repeated column names {dup[:5]}: rename its columns "
                f"(they name the {what})"
            )
        return labels
    return None


def _join(y: np.ndarray, yd: np.ndarray | None, f: np.ndarray, fd: np.ndarray | None, yname: str,
          fname: str):
    """Align ``y`` and the factors on their dates (inner join when both carry dates)."""
    if yd is None or fd is None:
        if y.shape[0] != f.shape[0]:
            raise ValueError(
                f"{fname} has {f.shape[0]} rows but {yname} has {y.shape[0]}; pass arrays of the same "
                "length or Polars frames with a 'date' column (joined on date)"
            )
        return y, f, yd if yd is not None else fd
    common, iy, jf = np.intersect1d(yd, fd, assume_unique=True, return_indices=True)
    if common.size == 0:
        raise ValueError(
            f"{yname} and {fname} have no date in common ({yd[0]}..{yd[-1]} vs {fd[0]}..{fd[-1]})"
        )
    return np.ascontiguousarray(y[iy]), np.ascontiguousarray(f[jf]), common


def _position(name: str, key: Any, labels: Any, n: int, what: str) -> int:
    """An integer position or a label on an axis of ``n`` items."""
    if isinstance(key, (bool, np.bool_)):
        raise TypeError(f"{name} must be a {what} label or an integer position, got {key!r}")
    if isinstance(key, numbers.Integral):
        i = int(key)
        j = i + n if i < 0 else i
        if labels is not None:
            lab = [str(v) for v in np.asarray(labels).tolist()]
            if str(i) in lab and lab.index(str(i)) != j:
                raise ValueError(
                    f"{name}={i} is ambiguous: the {what} labelled '{i}' is at position "
                    f"{lab.index(str(i))}; pass the label as a string ('{i}') or a position that "
                    "is not also a label"
                )
        if not 0 <= j < n:
            raise ValueError(f"{name} position {i} is out of range for {n} {what}s")
        return j
    if labels is None:
        raise ValueError(f"{name}={key!r} is a label, but the {what}s carry no labels; pass a position")
    lab = [str(v) for v in np.asarray(labels).tolist()]
    if str(key) not in lab:
        raise ValueError(f"{name} {key!r} is not among the {what}s ({lab[:5]}{'...' if n > 5 else ''})")
    return lab.index(str(key))


# ---------------------------------------------------------------------------------------------
# time_series_regress
# ---------------------------------------------------------------------------------------------


class TimeSeriesResult(Result):
    """Per-asset time-series regressions (result of :func:`time_series_regress`).

    Arrays (read-only; ``p = 1 + K`` parameters with an intercept, named ``param_names`` =
    ``["alpha", *factor_names]``, else ``K``):

    - ``params``, ``std_errors``, ``tstats``, ``pvalues`` (N, p; the p-values are computed on
      first access, as statsmodels does); ``cov_params`` (N, p, p);
    - ``alpha`` (N,) (None without an intercept), ``betas`` (N, K);
    - ``r2``, ``r2_adj``, ``nobs`` (rows used), ``df_resid`` (``nobs − p``, 0 where ``nobs < p``),
      ``lags`` (HAC lags used; 0 for nonrobust) (N,);
    - ``resid`` (T, N), NaN on the rows an asset did not use; computed on first access (like
      statsmodels' ``resid``), from ``y`` and the factors, which the result keeps; reading it
      after either was changed in place raises a ``ValueError`` (the estimates no longer match);
    - ``conf_int(level=0.95)`` (N, p, 2).

    Assets with fewer than ``min_obs`` usable rows, or a singular design (a factor constant over
    the asset's rows, or factors collinear on them: a condition number of the column-scaled
    design above 1e10), have NaN estimates and NaN residuals. The normal equations (Rust, in
    parallel) serve ordinary designs; an asset whose factors are nearly collinear on its rows
    (1 / VIF below ``COLLINEAR`` = 1e-2) is refitted by an SVD of its design, which keeps the
    estimates and standard errors within about ``ε · cond(X)`` (see ``_refit_collinear``; about
    0.6 ms per refitted asset at T = 2520, so a factor set collinear for every asset of a
    5000-asset panel takes 3 s instead of 40 ms).
    Inference follows statsmodels:
    nonrobust p-values and intervals use the t distribution with ``nobs − p`` degrees of freedom;
    HAC ones the normal distribution (statsmodels' default for robust covariances).
    """

    _arrays = {
        "params": ("asset", "param"), "std_errors": ("asset", "param"), "tstats": ("asset", "param"),
        "pvalues": ("asset", "param"), "cov_params": ("asset", "param", "param"),
        "alpha": ("asset",), "betas": ("asset", "factor"), "r2": ("asset",), "r2_adj": ("asset",),
        "nobs": ("asset",), "df_resid": ("asset",), "lags": ("asset",), "resid": ("date", "asset"),
    }
    _groups = {"fit": ("r2", "r2_adj", "nobs", "df_resid", "lags")}
    _default_kind = "params"

    def __init__(self, *, params, cov, r2, r2_adj, nobs, lags, resid, intercept, factor_names,
                 dates, assets, cov_type, y_name="y", ssr=None, std_errors=None) -> None:
        n, p = params.shape
        self._intercept = bool(intercept)
        self._factor_names = list(factor_names)
        self._param_names = (["alpha"] if intercept else []) + self._factor_names
        self._dates, self._assets = readonly(dates), readonly(assets)
        self._cov_type = cov_type
        self._y_name = y_name
        self._params = readonly(params)
        self._cov = readonly(cov)
        with np.errstate(invalid="ignore", divide="ignore"):
            # (given where a variance is beyond float64 although its standard error is not)
            se = np.sqrt(np.diagonal(cov, axis1=1, axis2=2)) if std_errors is None else std_errors
            t = params / se
        self._se = readonly(np.ascontiguousarray(se))
        self._t = readonly(t)
        self._nobs = readonly(nobs)
        self._df = readonly(np.maximum(nobs - p, 0))  # an asset with fewer rows than parameters: 0, never negative
        self._pv = None  # on first access: Student's t tails cost ~0.3 µs an entry (9 ms at N=5000)
        self._r2, self._r2_adj = readonly(r2), readonly(r2_adj)
        self._lags = readonly(lags)
        # ``resid``: the (T, N) array, or ``(y, factors, min_obs)`` to compute it from on first
        # access (with ``ssr`` to check that the inputs are unchanged)
        self._resid = readonly(resid) if isinstance(resid, np.ndarray) else None
        self._resid_inputs = None if isinstance(resid, np.ndarray) else resid
        self._ssr = ssr

    # -- labels ---------------------------------------------------------------------------
    def _axis_labels(self, axis: str) -> Any:
        if axis == "param":
            return self._param_names
        return super()._axis_labels(axis)

    dates = property(lambda self: self._dates, doc="(T,) dates of the rows, or None.")
    assets = property(lambda self: self._assets, doc="(N,) asset labels, or None.")
    factor_names = property(lambda self: list(self._factor_names), doc="(K,) factor names.")
    param_names = property(lambda self: list(self._param_names), doc="(p,) parameter names.")
    cov_type = property(lambda self: self._cov_type, doc="'nonrobust' or 'hac'.")
    intercept = property(lambda self: self._intercept, doc="Whether the model has an intercept.")

    # -- arrays ---------------------------------------------------------------------------
    params = property(lambda self: self._params, doc="(N, p) estimates.")
    std_errors = property(lambda self: self._se, doc="(N, p) standard errors.")
    tstats = property(lambda self: self._t, doc="(N, p) t-statistics (z for HAC).")

    @property
    def pvalues(self) -> np.ndarray:
        """(N, p) two-sided p-values: normal for HAC (as statsmodels' HAC fit), Student's t with
        ``df_resid`` degrees of freedom for nonrobust (computed on first access)."""
        if self._pv is None:
            t = self._t
            # the special functions behind stats.norm.sf / stats.t.sf (the same values bit for
            # bit, without the distribution machinery's argument checks: half the time at N = 5000)
            with np.errstate(invalid="ignore"):
                if self._cov_type == "hac":
                    pv = 2 * special.ndtr(-np.abs(t))
                else:
                    pv = 2 * special.stdtr(np.maximum(self._df, 1)[:, None], -np.abs(t))
            pv[~np.isfinite(t)] = np.nan
            self._pv = readonly(pv)
        return self._pv
    cov_params = property(lambda self: self._cov, doc="(N, p, p) covariance of the estimates.")
    r2 = property(lambda self: self._r2, doc="(N,) R² (centred with an intercept; uncentred, 1 − SSR/Σy², "
                  "with intercept=False, even when a factor is constant, where statsmodels detects an "
                  "implicit constant and centres; NaN, 0/0, for a y "
                  "constant on the asset's rows, where statsmodels gives NaN or, when its mean of y "
                  "rounds off the constant, a ratio of rounding noise).")
    r2_adj = property(lambda self: self._r2_adj, doc="(N,) adjusted R².")
    nobs = property(lambda self: self._nobs, doc="(N,) rows used per asset.")
    df_resid = property(lambda self: self._df, doc="(N,) residual degrees of freedom nobs − p (0 for an asset with "
                        "fewer rows than parameters, which has no estimates).")
    lags = property(lambda self: self._lags, doc="(N,) Newey-West lags used (0 for nonrobust).")

    @property
    def resid(self) -> np.ndarray:
        """(T, N) residuals, NaN where a row was not used (computed on first access)."""
        if self._resid is None:
            y, f, min_obs = self._resid_inputs
            # the residuals do not depend on the covariance: a nonrobust run gives them, with
            # estimates and SSR bit for bit those of this fit unless y or f changed since
            out = _fit(y, f, self._intercept, "nonrobust", None, min_obs, True)
            prm, ssr, resid = out[0], out[4], out[7]
            if not (np.array_equal(prm, self._params, equal_nan=True)
                    and np.array_equal(ssr, self._ssr, equal_nan=True)):
                raise ValueError(
                    "y or factors were modified in place after time_series_regress, so its residuals "
                    "can no longer be computed from them; run the regression again")
            self._resid = readonly(resid)
            self._resid_inputs = None
        return self._resid

    def _used_rows(self, i: int) -> np.ndarray:
        """Positions of the rows asset ``i`` used (none without an estimate)."""
        if self._resid is not None:
            return np.flatnonzero(np.isfinite(self._resid[:, i]))
        if not np.isfinite(self._params[i]).all():
            return np.zeros(0, dtype=np.int64)
        y, f, _ = self._resid_inputs
        return np.flatnonzero(np.isfinite(y[:, i]) & np.isfinite(f).all(axis=1))

    @property
    def alpha(self) -> np.ndarray | None:
        """(N,) intercepts (per period), or None without an intercept."""
        return readonly(self._params[:, 0]) if self._intercept else None

    @property
    def betas(self) -> np.ndarray:
        """(N, K) factor loadings."""
        return readonly(self._params[:, int(self._intercept):])

    def conf_int(self, level: float = 0.95) -> np.ndarray:
        """(N, p, 2) confidence intervals ``[lower, upper]`` at ``level`` (t(nobs − p) for
        nonrobust, normal for HAC, as statsmodels)."""
        if isinstance(level, (bool, np.bool_)) or not isinstance(level, numbers.Real) or not 0 < level < 1:
            raise ValueError(f"level must be a number in (0, 1), got {level!r}")
        q = self._quantile(level)
        lo, hi = self._params - q * self._se, self._params + q * self._se
        return np.stack([lo, hi], axis=-1)

    def _quantile(self, level: float) -> np.ndarray:
        a = 0.5 + level / 2
        if self._cov_type == "hac":
            return np.full((len(self._nobs), 1), stats.norm.ppf(a))
        with np.errstate(invalid="ignore"):
            return stats.t.ppf(a, np.maximum(self._df, 1))[:, None]

    # -- summaries ------------------------------------------------------------------------
    def _asset_label(self, i: int) -> str:
        return str(self._assets[i]) if self._assets is not None else (self._y_name if len(self._nobs) == 1 else str(i))

    def summary(self, asset: Any = None, level: float = 0.95) -> Summary:
        """Without ``asset``: one row per asset (alpha, its t-statistic and p-value, betas, R²,
        observations). With ``asset`` (label or position): that asset's regression laid out like
        statsmodels' ``OLS.summary()`` (header with R², observations, covariance type; one row
        per parameter with coef, std err, t (z for HAC), P>|t|, confidence interval)."""
        n = len(self._nobs)
        cov_label = "HAC" if self._cov_type == "hac" else "nonrobust"
        if asset is None and n != 1:
            data: dict[str, Any] = {"asset": [self._asset_label(i) for i in range(n)]}
            if self._intercept:
                data.update(alpha=self._params[:, 0], alpha_tstat=self._t[:, 0], alpha_pvalue=self.pvalues[:, 0])
            for j, name in enumerate(self._factor_names):
                data[name] = self.betas[:, j]
            data.update(r2=self._r2, nobs=self._nobs)
            header = [("Model", "OLS per asset"), ("Assets", n), ("Covariance Type", cov_label),
                      ("Median No. Observations", int(np.median(self._nobs)) if n else 0)]
            if self._cov_type == "hac":
                header.append(("HAC lags (median)", int(np.median(self._lags)) if n else 0))
            notes = ["alpha is per period (not annualised)."] if self._intercept else []
            return Summary("Time-series regressions", header, [("", pl.DataFrame(data))], notes)
        i = 0 if asset is None else _position("asset", asset, self._assets, n, "asset")
        p = len(self._param_names)
        ci = self.conf_int(level)[i]
        lo_name, hi_name = f"[{(1 - level) / 2:.3f}", f"{0.5 + level / 2:.3f}]"
        stat = "z" if self._cov_type == "hac" else "t"
        table = pl.DataFrame({
            "": self._param_names, "coef": self._params[i], "std err": self._se[i], stat: self._t[i],
            f"P>|{stat}|": self.pvalues[i], lo_name: ci[:, 0], hi_name: ci[:, 1],
        })
        # without an intercept R² is uncentred (1 − SSR/Σy²): labelled so, as statsmodels does
        unc = "" if self._intercept else " (uncentered)"
        header = [
            ("Dep. Variable", self._asset_label(i)), (f"R-squared{unc}", f"{self._r2[i]:.3f}"),
            ("Model", "OLS"), (f"Adj. R-squared{unc}", f"{self._r2_adj[i]:.3f}"),
            ("Method", "Least Squares"), ("No. Observations", int(self._nobs[i])),
            ("Df Residuals", int(self._df[i])), ("Df Model", p - int(self._intercept)),
            ("Covariance Type", cov_label),
        ]
        if self._cov_type == "hac":
            header.append(("HAC lags", int(self._lags[i])))
        used = self._used_rows(i) if self._dates is not None else None
        if used is not None and used.size:
            header.append(("Sample", f"{self._dates[used[0]]} - {self._dates[used[-1]]}"))
        notes = []
        if self._cov_type == "hac":
            notes.append(f"Standard Errors are heteroscedasticity and autocorrelation robust (HAC) using "
                         f"{int(self._lags[i])} lags and without small sample correction")
        if not np.isfinite(self._params[i]).all():
            notes.append(f"no estimate: {int(self._nobs[i])} usable rows (min_obs not met) or a singular design")
        # four decimals, unless a value would print as 0.0000 (a daily alpha of 3e-5, 0.75 % a
        # year): then that column in scientific notation, as statsmodels switches to %g
        return Summary("OLS Regression Results", header, [("", table)], notes,
                       formats={c: fixed_or_scientific(table[c].to_numpy()) for c in ("coef", "std err", lo_name, hi_name)})

    def plot_exposures(self, asset: Any = 0, level: float = 0.95, ax: Any = None):
        """Bar chart of one asset's betas with ``level`` confidence intervals (seed 001's
        picture). Needs matplotlib (extra ``plot``). Returns the matplotlib Figure."""
        try:
            from matplotlib.figure import Figure
        except ImportError as e:  # pragma: no cover - the test extra installs it
            raise ImportError("plot_exposures needs matplotlib (the plot extra): pip install \".[plot]\" in the "
                              "ferrofactor source tree, or pip install \"ferrofactor[plot]\" from a package index") from e
        i = _position("asset", asset, self._assets, len(self._nobs), "asset")
        k0 = int(self._intercept)
        b = self._params[i, k0:]
        ci = self.conf_int(level)[i, k0:]
        if ax is None:
            # built without pyplot (no global figure state, nothing shown), as the other plots
            fig = Figure(figsize=(max(4.0, 1.2 * len(b) + 2), 3.5))
            ax = fig.subplots()
        elif not (hasattr(ax, "bar") and hasattr(ax, "figure")):
            raise TypeError(f"ax must be a matplotlib Axes or None, got {type(ax).__name__}")
        else:
            fig = ax.figure
        x = np.arange(len(b))
        ax.bar(x, b, yerr=np.vstack([b - ci[:, 0], ci[:, 1] - b]), capsize=4, color="#4C72B0")
        ax.axhline(0.0, color="black", linewidth=0.8)
        ax.set_xticks(x)
        ax.set_xticklabels(self._factor_names)
        ax.set_ylabel("beta")
        ax.set_title(f"Factor exposures of {self._asset_label(i)} ({level * 100:.10g}% intervals)")
        ax.grid(True, axis="y", alpha=0.3)
        return fig

    def __repr__(self) -> str:
        return (f"TimeSeriesResult(assets={len(self._nobs)}, params={self._param_names}, "
                f"cov_type={self._cov_type!r})")


def time_series_regress(
    y: Any,
    factors: Any,
    *,
    intercept: bool = True,
    cov: str = "nonrobust",
    lags: int | None = None,
    min_obs: int | None = None,
    factor_names: Any = None,
    resid: bool = False,
) -> TimeSeriesResult:
    """Regress every asset's returns on factor returns through time (one OLS per asset).

    ``y[t, i] = α_i + Σ_k β_ik factors[t, k] + e[t, i]`` over the rows where ``y[t, i]`` and every
    factor are finite (ragged histories are fine; each asset keeps its own rows). Batched in Rust
    and parallel over blocks of assets; results do not depend on the number of threads.

    Parameters
    ----------
    y : array_like (T, N) or (T,), Polars frame, or pandas DataFrame or Series
        Returns (or excess returns) of N assets; NaN where missing. A frame is long
        (``date, asset, value``) or wide (``date`` + one column per asset). A pandas DataFrame
        (or Series) has its column names (or the Series' name) naming the assets; indexed by
        date it is a frame (its index the dates), else it is read as an array.
    factors : array_like (T, K), Polars frame, or pandas DataFrame or Series
        Factor returns over the same periods. A frame is wide: ``date`` + one column per factor
        (the column names name the factors). A pandas DataFrame (or Series) indexed by date is
        a frame too (its index the dates; it is never sorted), its column names (or the
        Series' name) naming the factors; with another index it is read as an array (rows
        pair by position). When both inputs are frames (Polars, or pandas indexed by date) they
        are joined on ``date`` (inner join); with one frame and one array the lengths must
        match and the array's rows pair with the frame's rows, which must then be in date order
        (a pandas index out of date order is refused).
    intercept : bool, default True
        Estimate an intercept (``alpha``, per period).
    cov : {"nonrobust", "hac"}, default "nonrobust"
        ``"nonrobust"``: ``s² (XᵀX)⁻¹``. ``"hac"``: Newey-West with Bartlett weights
        ``1 − j/(lags+1)`` and no small-sample correction (statsmodels'
        ``fit(cov_type="HAC", cov_kwds={"maxlags": lags})``). Lags count the asset's *used*
        rows, consecutive after missing ones are dropped, as a regression on its dropped data.
    lags : int, optional
        HAC lags (only with ``cov="hac"``), below the number of dates. Default per asset:
        ``floor(4 (n/100)^(2/9))`` with n the asset's used rows.
    min_obs : int, optional
        Assets with fewer usable rows get NaN. Default ``K + 2``; at least the number of
        parameters + 1.
    factor_names : sequence of str, optional
        Names of the K factors for array input (default: a pandas frame's column names or a
        Series' name, else ``f0, f1, ...``; a Polars frame's column names always).
    resid : bool, default False
        Form the (T, N) residual panel in the same pass. By default it is formed on the first
        access to ``result.resid`` (a second pass over y; most uses never read it); pass True
        when you know you will.

    Returns
    -------
    TimeSeriesResult
        ``params`` (N, 1 + K) with columns ``["alpha", *factor_names]``, ``std_errors``,
        ``tstats``, ``pvalues``, ``alpha``, ``betas``, ``conf_int()``, ``r2``, ``r2_adj``,
        ``nobs``, ``resid`` (T, N; computed on first access), ``summary(asset=...)``,
        ``plot_exposures(asset)``.

    Examples
    --------
    >>> import numpy as np, ferrofactor as ff
    >>> rng = np.random.default_rng(0)
    >>> f = rng.normal(0, 0.01, (500, 3))
    >>> y = 0.0002 + f @ np.array([[1.0, 0.5], [0.3, -0.2], [0.0, 0.8]]) + rng.normal(0, 0.01, (500, 2))
    >>> res = ff.time_series_regress(y, f, cov="hac", lags=5, factor_names=["MKT", "SMB", "HML"])
    >>> res.params.shape, res.param_names
    ((2, 4), ['alpha', 'MKT', 'SMB', 'HML'])
    >>> bool(abs(res.betas[0, 0] - 1.0) < 0.1)
    True
    """
    return _regress(y, factors, intercept=intercept, cov=cov, lags=lags, min_obs=min_obs,
                    factor_names=factor_names, resid=resid)


#: Assets whose design is this collinear or more (the smallest share of a column's squared norm
#: left after projecting out the others, about 1 / VIF: see ``_refit_collinear``) are refitted.
COLLINEAR = 1e-2

#: Singular: the column-scaled design's smallest singular value below this share of its largest
#: (a condition number above 1e10); its estimates are NaN.
SINGULAR = 1e-10


def _svd_design(f: np.ndarray, intercept: bool):
    """SVD of an asset's column-scaled design ``[1, f]`` (or ``f``): ``(x, norm, U, S, Vᵀ,
    shift)``, or None when it is singular (a zero column, or S_min ≤ ``SINGULAR`` · S_max). The
    raw design is used (centring perturbs the columns in floating point), unless it is singular
    only through the intercept (a factor far from zero against its spread, which the kernel's
    centred design does not mind): then the factors centred on ``shift``, their mean."""
    n = len(f)
    for centred in (False, True) if intercept else (False,):
        shift = f.mean(axis=0) if centred else None
        x = np.column_stack([np.ones(n), f - shift if centred else f]) if intercept else f
        norm = np.sqrt((x * x).sum(axis=0))
        if not (norm > 0).all():
            return None  # a column zero on the asset's rows (a factor constant, with an intercept)
        u, sv, vt = np.linalg.svd(x / norm, full_matrices=False)
        if sv[-1] > SINGULAR * sv[0]:
            return x, norm, u, sv, vt, shift
    return None


def _refit_collinear(out: tuple, y: np.ndarray, f: np.ndarray, intercept: bool, cov: str,
                     lags: int | None = None) -> tuple:
    """The kernel's outputs with the near-collinear assets refitted by an SVD of their design.

    The kernel solves the normal equations (a Cholesky factorisation of ``XᵀX``), which lose
    about ``ε / c`` of accuracy relative to the size of the estimates, ``c`` the design's
    collinearity (the smallest share of a column's squared norm left after projecting out the
    others, about 1 / VIF; the kernel's last output): a small coefficient next to large ones
    loses more of its own digits. Where ``c < COLLINEAR`` (VIF above 100; and where the
    factorisation found the design singular), the asset is fitted again from its rows
    (:func:`_svd_design`): the design's columns scaled to unit norm, ``X = U S Vᵀ``;
    ``β = V S⁻¹ Uᵀ y``, ``e = y − U Uᵀ y``,
    ``(XᵀX)⁻¹ = V S⁻² Vᵀ`` and the HAC sandwich ``V S⁻¹ (Σ_l w_l Σ_t q_t q_{t−l}ᵀ + ...) S⁻¹ Vᵀ``
    with scores ``q_t = u_t e_t`` (Bartlett weights over the asset's own rows, the kernel's
    lags), scaled back: they lose about ``ε · cond(X)``, not ``ε · cond(X)²``
    (statsmodels' pinv forms the scores from x and loses more in the HAC sandwich). A
    design whose smallest singular value is below ``SINGULAR`` of its largest, raw and centred,
    stays singular (NaN estimates, lags 0). Ordinary designs (c near 1) never come here: they
    cost nothing."""
    params, covm, r2, r2_adj, ssr, nobs, lag_used, panel, collin = out
    redo = np.flatnonzero(collin < COLLINEAR)  # (NaN: too few rows, no estimates either way)
    if not len(redo):
        return params, covm, r2, r2_adj, ssr, nobs, lag_used, panel
    params, covm, r2, r2_adj, ssr, lag_used = (np.array(a) for a in (params, covm, r2, r2_adj, ssr, lag_used))
    ok_f = np.isfinite(f).all(axis=1)
    p = f.shape[1] + int(intercept)
    eps = np.finfo(np.float64).eps
    for i in redo:
        rows = ok_f & np.isfinite(y[:, i])
        yy, ff_ = y[rows, i], f[rows]
        n = len(yy)
        params[i], covm[i], r2[i], r2_adj[i], ssr[i] = np.nan, np.nan, np.nan, np.nan, np.nan
        lag_used[i] = 0  # (no estimates: no lags, as for a design the kernel found singular)
        if panel is not None:
            panel[:, i] = np.nan
        fit = _svd_design(ff_, intercept)
        if fit is None:
            continue  # singular
        x, norm, u, sv, vt, shift = fit
        uy = u.T @ yy
        b = (vt.T @ (uy / sv)) / norm
        e = yy - u @ uy  # y minus its projection: no cancellation of collinear columns
        s_r = float(e @ e)
        df = n - p
        # (XᵀX)⁻¹ Xᵀ = V S⁻¹ Uᵀ: the covariances are formed in the basis of U, whose columns are
        # orthonormal, so the scores never go through x · v, a cancellation along the collinear
        # direction v (the HAC sandwich would lose ε · cond² there)
        if cov == "hac":
            q = u * e[:, None]
            # (the kernel gives no lags to a design it found singular: the default's formula)
            lag = lags if lags is not None else int(np.floor(4 * (n / 100) ** (2 / 9)))
            lag_used[i] = lag
            meat = q.T @ q
            for j in range(1, min(lag, n - 1) + 1):
                g = q[j:].T @ q[:-j]
                meat += (1 - j / (lag + 1)) * (g + g.T)
            w = vt.T / sv
            c = w @ meat @ w.T / np.outer(norm, norm)
        else:
            c = s_r / df * ((vt.T / sv**2) @ vt) / np.outer(norm, norm)
        if shift is not None:  # back from the centred factors: α = α_c − shiftᵀβ
            m = np.eye(p)
            m[0, 1:] = -shift
            b, c = m @ b, m @ c @ m.T
        ybar = yy.mean() if intercept else 0.0
        sst = float(((yy - ybar) ** 2).sum())
        dev = n * eps * ybar
        rr = 1 - s_r / sst if sst > n * dev * dev else np.nan
        params[i], covm[i], ssr[i] = b, c, s_r
        r2[i], r2_adj[i] = rr, 1 - (n - int(intercept)) / df * (1 - rr)
        if panel is not None:
            panel[rows, i] = e
    return params, covm, r2, r2_adj, ssr, nobs, lag_used, panel


def _fit(y: np.ndarray, f: np.ndarray, intercept: bool, cov: str, lags: int | None, min_obs: int,
         resid: bool) -> tuple:
    """The kernel (and ``_refit_collinear``) on validated (T, N) ``y`` and (T, K) ``f``: ``(params,
    cov, r2, r2_adj, ssr, nobs, lags, resid panel or None, std_errors or None)``.

    Factors, or an asset's y, beyond the kernel's range (``RANGE``: their sums of squares overflow
    or underflow, which gave NaN, or silently estimates off by 1e-4 and standard errors of 0 with
    infinite t-statistics) are fitted scaled by powers of two, which is exact, and the outputs
    scaled back; the standard errors are then returned too (a variance may be beyond float64 when
    its standard error is not). Such y are found from their SSR (cheaper than a pass over y).
    Ordinary inputs take the kernel's numbers as they are."""
    ef = _range_exponents(f)
    fk = np.ascontiguousarray(np.ldexp(f, -ef)) if ef.any() else f
    params, covm, r2, r2_adj, ssr, nobs, lag_used, panel = _refit_collinear(
        _core.time_series_regress(y, fk, intercept, cov, lags, min_obs, resid), y, fk, intercept, cov, lags)
    with np.errstate(invalid="ignore"):
        far = np.flatnonzero((nobs >= min_obs) & ~((ssr >= 2.0**(-2 * RANGE)) & (ssr <= 2.0**(2 * RANGE))))
    ey = np.zeros(y.shape[1], dtype=np.int64)
    if far.size:
        ey[far] = _range_exponents(y[:, far])
        far = far[ey[far] != 0]
    if far.size:
        yk = np.ascontiguousarray(np.ldexp(y[:, far], -ey[far][None, :]))
        sub = _refit_collinear(_core.time_series_regress(yk, fk, intercept, cov, lags, min_obs, resid),
                               yk, fk, intercept, cov, lags)
        params, covm, r2, r2_adj, ssr, lag_used = (np.array(a) for a in (params, covm, r2, r2_adj, ssr, lag_used))
        for a, b in zip((params, covm, r2, r2_adj, ssr, lag_used), (*sub[:5], sub[6])):
            a[far] = b
        if panel is not None:
            panel = np.array(panel)
            panel[:, far] = sub[7]
    if not (ef.any() or far.size):
        return params, covm, r2, r2_adj, ssr, nobs, lag_used, panel, None
    e = ey[:, None] - np.r_[np.zeros(int(intercept), np.int64), ef][None, :]  # α in y's units, β in y / f
    with np.errstate(invalid="ignore", over="ignore", under="ignore"):
        se = np.ldexp(np.sqrt(np.diagonal(covm, axis1=1, axis2=2)), e)
        params, covm = np.ldexp(params, e), np.ldexp(covm, e[:, :, None] + e[:, None, :])
        ssr = np.ldexp(ssr, 2 * ey)
        if panel is not None:
            panel = np.ldexp(panel, ey[None, :])
    return params, covm, r2, r2_adj, ssr, nobs, lag_used, panel, se


def _regress(y: Any, factors: Any, *, intercept: bool, cov: str, lags: int | None, min_obs: int | None,
             factor_names: Any, resid: bool, y_name: str = "y", f_name: str = "factors") -> TimeSeriesResult:
    """:func:`time_series_regress`, its errors naming the inputs ``y_name`` and ``f_name`` (the
    alpha test's ``returns`` and ``factor_sets['CAPM']``)."""
    intercept = check_bool("intercept", intercept)
    resid = check_bool("resid", resid)
    check_choice("cov", cov, COV_TYPES)
    if lags is not None:
        lags = check_int("lags", lags, 0)
        if cov != "hac":
            raise ValueError("lags applies to cov='hac' only; pass cov='hac' or drop lags")
    # two frames (Polars, or pandas indexed by date) are joined on date; a frame and an array
    # pair row by row (the frame's rows must then be in date order)
    both = all(_is_polars_frame(v) or is_date_indexed(v) for v in (y, factors))
    yv, yd, ynames, y1d = _labelled(y_name, y, columns="y", date_order=not both)
    fv, fd, fnames, f1d = _labelled(f_name, factors, columns="factors", date_order=not both)
    if fnames is not None and factor_names is not None:
        raise ValueError("factor_names is for array factors; a frame's columns already name them")
    k = fv.shape[1]
    if factor_names is not None:
        names = as_names("factor_names", factor_names, k, f"{f_name} has {k} columns")
    elif fnames is not None:
        names = fnames
    else:
        pnames = _pandas_names(f_name, factors)
        names = pnames if pnames is not None else [f"f{j}" for j in range(k)]
    if "alpha" in names and intercept:
        raise ValueError("a factor may not be named 'alpha' (the intercept's name)")
    taken = sorted(set(names) & set(_RESERVED))
    if taken:
        raise ValueError(
            f"factor names {taken} are the names of other columns of the results (asset, param, "
            "alpha_tstat, alpha_pvalue, r2, nobs): rename the factors"
        )
    if ynames is None:  # a pandas frame's columns (a Series' name) name the assets, as for factors
        ynames = _pandas_names(y_name, y, "assets")
    yv, fv, dates = _join(yv, yd, fv, fd, y_name, f_name)
    p = k + int(intercept)
    if p == 0:
        raise ValueError("the regression has no parameters: give factors or intercept=True")
    min_obs = k + 2 if min_obs is None else check_int("min_obs", min_obs, p + 1)
    if np.isinf(fv).any():
        raise ValueError(f"{f_name} must not contain infinite values (NaN marks a missing row)")
    if y_name != "y" and np.isinf(yv).any():  # (the kernel's own check names y)
        raise ValueError(f"{y_name} must not contain infinite values (NaN marks a missing value)")
    fv = np.ascontiguousarray(fv)
    # unless asked for, the (T, N) residuals are left for the first access to ``result.resid``
    # (most uses never read them; they cost as much memory as y and a third of the time)
    params, covm, r2, r2_adj, ssr, nobs, lag_used, panel, se = _fit(yv, fv, intercept, cov, lags, min_obs, resid)
    return TimeSeriesResult(
        params=params, cov=covm, r2=r2, r2_adj=r2_adj, nobs=nobs, lags=lag_used,
        resid=panel if resid else (yv, fv, min_obs), ssr=ssr, std_errors=se,
        intercept=intercept, factor_names=names, dates=dates,
        assets=None if ynames is None else np.asarray(ynames), cov_type=cov,
    )


# ---------------------------------------------------------------------------------------------
# alpha_test
# ---------------------------------------------------------------------------------------------


class _AlphaSummary(Summary):
    """The alpha test's summary: its columns are one number format each (``.4g``), but the
    count rows (observations, lags) are printed as integers (``.4g`` showed 12345 as 1.234e+04)."""

    _COUNT_ROWS = ("No. Observations", "NW lags")

    def _cells(self, df: pl.DataFrame) -> tuple[list[str], list[list[str]]]:
        heads, rows = super()._cells(df)
        labels = df[df.columns[0]].to_list()
        for i, lab in enumerate(labels):
            if lab in self._COUNT_ROWS:
                for j in range(1, len(heads)):
                    v = df[i, j]
                    if v is not None and np.isfinite(v):
                        rows[i][j] = str(int(v))
        return heads, rows


class AlphaTestResult(Result):
    """Alphas of S return series against M factor lists (result of :func:`alpha_test`).

    Arrays (S, M) (``series`` × ``set``): ``alpha`` (per period), ``alpha_annual``
    (``alpha · periods_per_year``), ``alpha_tstat`` and ``alpha_pvalue`` (Newey-West, normal
    distribution), ``r2``, ``nobs``, ``lags``. ``results[name]`` is the full
    :class:`TimeSeriesResult` of factor list ``name`` (betas, their t-statistics, residuals),
    ``betas(name)`` its (S, K) betas. ``summary()`` has one column per factor list.
    """

    _arrays = {name: ("series", "set") for name in
               ("alpha", "alpha_annual", "alpha_tstat", "alpha_pvalue", "r2", "nobs", "lags")}
    _groups = {"table": ("alpha", "alpha_annual", "alpha_tstat", "alpha_pvalue", "r2", "nobs", "lags")}
    _default_kind = "alpha"

    def __init__(self, results: dict[str, TimeSeriesResult], series_names: list[str] | None,
                 periods_per_year: float) -> None:
        self._results = dict(results)
        self._sets = list(results)
        self._series = series_names
        self._ppy = periods_per_year

        def col(f):
            return readonly(np.column_stack([f(r) for r in self._results.values()]))

        self._alpha = col(lambda r: r.params[:, 0])
        self._alpha_annual = readonly(self._alpha * periods_per_year)
        self._tstat = col(lambda r: r.tstats[:, 0])
        self._pvalue = col(lambda r: r.pvalues[:, 0])
        self._r2 = col(lambda r: r.r2)
        self._nobs = col(lambda r: r.nobs)
        self._lags = col(lambda r: r.lags)

    def _axis_labels(self, axis: str) -> Any:
        if axis == "series":
            return self._series
        if axis == "set":
            return self._sets
        return super()._axis_labels(axis)

    alpha = property(lambda self: self._alpha, doc="(S, M) alpha per period.")
    alpha_annual = property(lambda self: self._alpha_annual, doc="(S, M) alpha × periods_per_year.")
    alpha_tstat = property(lambda self: self._tstat, doc="(S, M) Newey-West t-statistic of alpha.")
    alpha_pvalue = property(lambda self: self._pvalue, doc="(S, M) two-sided p-value (normal).")
    r2 = property(lambda self: self._r2, doc="(S, M) R².")
    nobs = property(lambda self: self._nobs, doc="(S, M) periods used.")
    lags = property(lambda self: self._lags, doc="(S, M) Newey-West lags used.")
    factor_sets = property(lambda self: list(self._sets), doc="(M,) names of the factor lists.")
    series_names = property(lambda self: None if self._series is None else list(self._series),
                            doc="(S,) names of the series (a copy), or None.")
    results = property(lambda self: dict(self._results), doc="name → TimeSeriesResult.")
    periods_per_year = property(lambda self: self._ppy)

    def betas(self, name: str) -> np.ndarray:
        """(S, K) betas of the factor list ``name``."""
        if name not in self._results:
            raise ValueError(f"name must be one of {self._sets}, got {name!r}")
        return self._results[name].betas

    def summary(self) -> Summary:
        """One column per factor list, one table per series: alpha per period and annualised,
        its Newey-West t-statistic and p-value, the betas (NaN where a factor is not in the
        list), R², periods and lags."""
        factors: list[str] = []
        for r in self._results.values():
            factors += [f for f in r.factor_names if f not in factors]
        tables = []
        n_series = self._alpha.shape[0]
        for s in range(n_series):
            rows = ["alpha", "alpha (annualised)", "alpha t-stat (NW)", "alpha p-value"]
            rows += [f"beta {f}" for f in factors] + ["R-squared", "No. Observations", "NW lags"]
            data: dict[str, Any] = {"": rows}
            for m, (name, r) in enumerate(self._results.items()):
                b = [float(r.betas[s, r.factor_names.index(f)]) if f in r.factor_names else None
                     for f in factors]
                data[name] = [float(self._alpha[s, m]), float(self._alpha_annual[s, m]),
                              float(self._tstat[s, m]), float(self._pvalue[s, m]), *b,
                              float(self._r2[s, m]), float(self._nobs[s, m]), float(self._lags[s, m])]
            caption = "" if n_series == 1 else (str(self._series[s]) if self._series is not None else f"series {s}")
            tables.append((caption, pl.DataFrame(data, schema={"": pl.String, **{n: pl.Float64 for n in self._results}})))
        header = [("Factor lists", len(self._sets)), ("Series", n_series),
                  ("Covariance Type", "HAC (Newey-West, Bartlett)"), ("Periods per year", self._ppy)]
        notes = ["Alpha is alpha against a specific factor list: read across the columns.",
                 "Annualised alpha = alpha per period × periods_per_year; p-values from the normal distribution."]
        return _AlphaSummary("Alpha test", header, tables, notes, formats={n: ".4g" for n in self._sets})

    def __repr__(self) -> str:
        return f"AlphaTestResult(series={self._alpha.shape[0]}, factor_sets={self._sets})"


def alpha_test(
    returns: Any,
    factor_sets: Mapping[str, Any],
    *,
    lags: int | None = None,
    periods_per_year: float = PERIODS_PER_YEAR,
) -> AlphaTestResult:
    """Alpha of a strategy against several factor lists, with Newey-West t-statistics.

    For each factor list ``F`` (e.g. ``"CAPM"``: the market; ``"FF3"``: market, size, value;
    ``"FF3+MOM"``; ``"model"``: the factor returns of your own model) the regression
    ``returns[t] = α + F[t] β + e[t]`` is run by :func:`time_series_regress` with
    ``cov="hac"``. A positive alpha with a decent t-statistic is return no listed factor can
    claim; as lists get richer the alpha usually shrinks.

    Parameters
    ----------
    returns : array_like (T,) or (T, S), Polars frame, or pandas Series or DataFrame
        The strategy's return series (S of them); a frame has a ``date`` column and one column
        per series (or is long: ``date, asset, value``). A pandas frame's column names (a
        Series' name) name the series; indexed by date it is a frame (its index the dates).
    factor_sets : mapping name → array_like (T, K), Polars frame or pandas frame
        Factor returns per list; frames (Polars: ``date`` + one column per factor; pandas
        indexed by date) are joined with a framed ``returns`` (Polars, or pandas indexed by
        date) on ``date``, each list on its own common dates; arrays (and pandas data with
        another index) pair with ``returns`` row by row, a frame's rows then in date order.

        Factor names: a frame's column names (Polars or pandas) or a Series' name. The summary
        puts the betas of one factor name in one row across lists, so name your factors (pass
        frames) to line a factor up across lists. Unnamed factors (plain arrays, unnamed
        Series) are named after their list: the columns of list ``"CAPM"`` are
        ``"CAPM f0", "CAPM f1", ...``, so unnamed columns of different lists are never shown as
        one factor.
    lags : int, optional
        Newey-West lags; default ``floor(4 (n/100)^(2/9))`` with n the periods used.
    periods_per_year : float, default 252
        For the annualised alpha (``alpha × periods_per_year``); 12 for monthly data. With
        dated inputs whose spacing does not fit it (252 on monthly dates), a
        :class:`ferrofactor.metrics.PeriodsPerYearWarning`, as in :mod:`ferrofactor.metrics`.

    Returns
    -------
    AlphaTestResult

    Examples
    --------
    >>> import numpy as np, ferrofactor as ff
    >>> rng = np.random.default_rng(1)
    >>> mkt, smb = rng.normal(0.0004, 0.01, 1000), rng.normal(0, 0.005, 1000)
    >>> strat = 0.0003 + 0.5 * mkt + 0.8 * smb + rng.normal(0, 0.004, 1000)
    >>> res = ff.alpha_test(strat, {"CAPM": mkt[:, None], "2F": np.column_stack([mkt, smb])}, lags=5)
    >>> res.alpha.shape, res.factor_sets
    ((1, 2), ['CAPM', '2F'])
    """
    if not isinstance(factor_sets, Mapping):
        raise TypeError("factor_sets must be a non-empty mapping name → factor returns (T, K), "
                        f"got {type(factor_sets).__name__}")
    if not factor_sets:
        raise ValueError("factor_sets is empty: give at least one factor list, e.g. {'CAPM': market}")
    if isinstance(periods_per_year, (bool, np.bool_)) or not isinstance(periods_per_year, numbers.Real) \
            or not np.isfinite(periods_per_year) or periods_per_year <= 0:
        raise ValueError(f"periods_per_year must be a positive number, got {periods_per_year!r}")
    results = {}
    names = None
    for name, fs in factor_sets.items():
        if not isinstance(name, str):
            raise TypeError(f"factor_sets keys must be names (str), got {name!r}")
        if not name:
            raise ValueError("factor_sets keys must be non-empty names (they head the summary's columns)")
        fname = f"factor_sets[{name!r}]"
        try:
            own_names = None
            if not _is_polars_frame(fs) and _pandas_names(fname, fs) is None:
                values, _, own, _ = _labelled(fname, fs, columns="factors", date_order=False)
                if own is None:  # unnamed columns: named after their list (never merged across lists)
                    own_names = [f"{name} f{j}" for j in range(values.shape[1])]
            r = _regress(returns, fs, intercept=True, cov="hac", lags=lags, min_obs=None,
                         factor_names=own_names, resid=False, y_name="returns", f_name=fname)
        except (ValueError, TypeError) as e:
            msg = str(e)
            if fname in msg or msg.startswith(("returns", "lags")):
                raise  # (it names its argument)
            raise type(e)(f"{fname}: {msg}") from None
        results[name] = r
        names = None if r.assets is None else [str(a) for a in r.assets]
    if r.dates is not None:
        # dated inputs (e.g. monthly Fama-French factors): the annualised alpha is alpha ×
        # periods_per_year, so a default of 252 on monthly dates is off by 21, as in ff.metrics
        from ferrofactor.metrics import _check_spacing

        _check_spacing(r.dates, periods_per_year)
    return AlphaTestResult(results, names, float(periods_per_year))
