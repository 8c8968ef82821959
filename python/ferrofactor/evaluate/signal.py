"""Signal evaluation: information coefficients, quantile returns, factor-weighted returns,
turnover, rank autocorrelation and IC decay over ``(T, N)`` panels, computed in Rust (parallel
over dates) with alphalens' definitions available for comparison.

Time convention
---------------
``signal[t]`` is known at the close of date t. ``returns[t]`` runs from the close of t − 1 to the
close of t. The forward return of horizon h at date t runs from the close of t to the close of
t + h::

    forward[h][t, i] = (1 + returns[t + 1, i]) · … · (1 + returns[t + h, i]) − 1

and is NaN when any of those returns is missing or t + h is past the last date. Every statistic
of date t pairs ``signal[t]`` with forward returns that start at t + 1: nothing computed for date
t reads ``returns[t]`` or any earlier return, and quantile membership, turnover and rank
autocorrelation at t read only signals up to t. The IC decay at lag k pairs ``signal[t]`` with
the single-date return ``returns[t + k]`` (k ≥ 1).

Samples
-------
The sample of a date is the assets with a finite signal (non-finite values are missing: a signal
is a score, not a return), an
industry (code ≥ 0) when ``industry`` codes are given (alphalens' ``groupby``; any grouping works:
sectors, countries, size buckets) and a finite weight when ``weights`` are given. Quantile
membership is decided on that sample alone, so it is known at t. Each horizon then uses the
members whose forward return is finite (the pairwise sample). Returns are NaN where missing; an
infinite return (a zero price upstream) or one below −1 is a data error and raises ``ValueError``,
as infinite or negative weights do.

``common_sample=True`` reproduces alphalens' ``get_clean_factor``: a (date, asset) enters only if
its forward return is finite at *every* horizon, and the quantiles are cut on that sample. That
is alphalens' behaviour, kept for comparison; it has two flaws: the quantile of an asset at t
depends on whether it still trades at t + max(horizons) (a look-ahead in the sample), and the
longest horizon shrinks the sample of the shortest. alphalens also drops the rows it cannot
bucket (a signal outside explicit ``bins`` edges, a date whose quantile edges repeat) from every
statistic, the IC and the factor-weighted book included: :func:`evaluate` with
``common_sample=True`` does the same. :func:`information_coefficient` and
:func:`factor_weighted_returns` take no buckets, so their common sample keeps those rows; to
reproduce alphalens there, pass the signal masked to the bucketed rows,
``np.where(quantile_returns(..., common_sample=True).labels >= 0, signal, np.nan)``. (In the
default pairwise sample the IC and the book never depend on the buckets.)

Differences from alphalens (``alphalens-reloaded`` 0.5), all documented where they matter:

- forward returns: alphalens computes ``prices.ffill().pct_change(h).shift(-h)``, equal to
  ``forward[h][t]`` above when prices are the cumulative product of ``1 + returns`` and the h
  returns after t are present; where one is missing alphalens compounds over a forward-filled
  (stale) price, ferrofactor gives NaN.
- ``filter_zscore``: alphalens drops forward returns more than z standard deviations from the
  asset's mean over the *whole* sample (look-ahead: the mean and standard deviation use future
  returns). Off by default here (``filter_zscore=None``); pass a number for alphalens' filter.
- inference: alphalens tests the mean IC with a plain t-test, as if h-day forward returns on
  consecutive dates were independent; they overlap by h − 1 dates. ferrofactor reports the plain
  test (for comparison) and a Newey-West (Bartlett) test with at least h − 1 lags (see
  :func:`evaluate`), which is the one to read.
- the quantile spread is top minus bottom (alphalens 0.5 halves it to a 100%-gross book).
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl

from ferrofactor import _core
from ferrofactor._validate import (
    _is_panel,
    _is_polars_frame,
    as_array,
    as_field,
    as_industry,
    check_bool,
    check_choice,
    check_int,
    check_real,
    check_same_labels,
    check_shape,
    check_simple_returns,
    check_weights,
    field_axes,
)
from ferrofactor.results import Result, Summary, readonly

__all__ = [
    "QuantileReturns",
    "SignalEvaluation",
    "evaluate",
    "factor_weighted_returns",
    "forward_returns",
    "information_coefficient",
    "quantile_returns",
    "quantile_turnover",
    "rank_autocorrelation",
]

DEFAULT_HORIZONS = (1, 5, 21)


# ---------------------------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------------------------


class _Data:
    """Validated inputs: signal (T, N), returns (T, N) or None, dense industry codes, weights,
    labels."""

    def __init__(self, signal: Any, returns: Any = None, industry: Any = None, weights: Any = None,
                 *, need_returns: bool = True, returns_name: str = "returns") -> None:
        # a frame's rows come out in date order: fine when every (T, N) partner carries dates
        # (checked below), ambiguous when one is an array that pairs row by row
        arrays = industry is not None or (weights is not None and not field_axes(weights)[0])
        unlabelled_returns = returns is not None and not _is_panel(returns) and not field_axes(returns)[0]
        # (a pandas frame gives arrays back, rows as given: in date order, as a wide frame used so)
        x, sd, sa = as_field("signal", signal,
                             date_order=arrays or unlabelled_returns or not _is_polars_frame(signal))
        self.frame = _is_polars_frame(signal)
        r = rd = ra = None
        if returns is not None:
            if _is_panel(returns):
                if "returns" not in returns.float_fields:
                    raise ValueError(f"{returns_name} is a Panel without a 'returns' field")
                r, rd, ra = returns["returns"], returns.dates, returns.assets
            else:
                r, rd, ra = as_field(returns_name, returns,
                                     date_order=arrays or sd is None or not _is_polars_frame(returns))
            check_shape(returns_name, r, x.shape, "(T, N) like signal")
            check_simple_returns(returns_name, r)
            check_same_labels("signal", sd, sa, returns_name, rd, ra)
        elif need_returns:
            raise TypeError(f"{returns_name} is required, got None")
        self.x = x
        self.r = np.ascontiguousarray(r, dtype=np.float64) if r is not None else None
        self.dates = sd if sd is not None else rd
        self.assets = sa if sa is not None else ra
        if industry is not None:
            codes, names = as_industry("industry", industry, x.shape)
            self.industry, self.industry_names, self.n_industries = codes, names, len(names)
        else:
            self.industry, self.industry_names, self.n_industries = None, None, 0
        if weights is not None:
            # a frame is matched by label with the signal and returns, never by position
            w, wd, wa = as_field("weights", weights, date_order=self.dates is None)
            check_shape("weights", w, x.shape, "(T, N) like signal")
            check_same_labels("weights", wd, wa, "signal", sd, sa)
            check_same_labels("weights", wd, wa, returns_name, rd, ra)
            check_weights("weights", w)
            self.weights = w
        else:
            self.weights = None

    @property
    def shape(self) -> tuple[int, int]:
        return self.x.shape


def _horizons(horizons: Any, name: str = "horizons") -> list[int]:
    """Distinct positive integers, in the order given."""
    if isinstance(horizons, numbers.Integral) and not isinstance(horizons, (bool, np.bool_)):
        horizons = [horizons]
    if isinstance(horizons, (str, bytes)) or not isinstance(horizons, (Sequence, np.ndarray, range)):
        raise TypeError(f"{name} must be a sequence of positive integers, got {horizons!r}")
    out = [check_int(f"{name}[{i}]", h, 1) for i, h in enumerate(list(horizons))]
    if not out:
        raise ValueError(f"{name} must not be empty")
    if len(set(out)) != len(out):
        raise ValueError(f"{name} must be distinct, got {out}")
    return out


def _buckets(quantiles: Any, bins: Any) -> tuple[str, int, list[float] | None]:
    """(kind, count, explicit levels/edges) for the kernel, as alphalens' quantize_factor: exactly
    one of ``quantiles`` and ``bins``."""
    if (quantiles is None) == (bins is None):
        raise ValueError(
            "pass exactly one of quantiles and bins (quantiles=None to use bins), got "
            f"quantiles={quantiles!r}, bins={bins!r}"
        )
    name, value = ("quantiles", quantiles) if bins is None else ("bins", bins)
    kind = "quantiles" if bins is None else "bins"
    if isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_)):
        return kind, check_int(name, value, 1, 10_000), None
    if isinstance(value, (str, bytes)) or not isinstance(value, (Sequence, np.ndarray)):
        raise TypeError(f"{name} must be an integer or a sequence of numbers, got {value!r}")
    arr = as_array(name, value)
    if arr.ndim != 1 or arr.size < 2 or arr.dtype.kind not in "iuf":
        raise ValueError(f"{name} must be a 1-d sequence of at least 2 numbers, got {value!r}")
    vals = arr.astype(np.float64)
    if not np.all(np.isfinite(vals)):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if kind == "quantiles":
        # a repeated level makes a bucket that can hold nothing (pandas.qcut refuses it too)
        if np.any((vals < 0) | (vals > 1)) or np.any(np.diff(vals) <= 0):
            raise ValueError(f"quantiles levels must be strictly increasing and lie in [0, 1], got {value!r}")
    elif np.any(np.diff(vals) <= 0):
        raise ValueError(f"bins edges must be strictly increasing, got {value!r}")
    return kind, len(vals) - 1, vals.tolist()


def _filter_zscore_value(z: Any) -> float | None:
    return check_real("filter_zscore", z, lo=0.0, lo_open=True, allow_none=True)


def _forward(r: np.ndarray, horizons: list[int], filter_zscore: float | None) -> np.ndarray:
    fwd = _core.evaluate_forward_returns(r, horizons)
    if filter_zscore is not None:
        _zscore_filter(fwd, filter_zscore)
    return fwd


def _nanmean(x: np.ndarray, axis: int, keepdims: bool = False) -> np.ndarray:
    """``np.nanmean`` (the same sums, the same bits) with NaN for an all-NaN slice and no warning.

    Not ``warnings.catch_warnings()`` around ``np.nanmean``: that swaps the process-wide filter
    list, and two threads inside it at once restore each other's copies, leaving "ignore
    RuntimeWarning" installed for the whole process after their calls."""
    missing = np.isnan(x)
    total = np.sum(np.where(missing, 0.0, x), axis=axis, keepdims=keepdims)
    count = np.sum(~missing, axis=axis, keepdims=keepdims)
    with np.errstate(invalid="ignore", divide="ignore"):  # (per thread: no shared state)
        return total / count


def _zscore_filter(fwd: np.ndarray, z: float) -> None:
    """alphalens' ``filter_zscore`` (in place): per horizon and asset, forward returns more than
    ``z`` sample standard deviations (ddof = 1) from the asset's mean over all dates are set to
    NaN. The mean and standard deviation use the whole sample: a look-ahead."""
    # np.nanmean / np.nanstd(ddof=1) written out (the same bits), without their warnings for
    # slices with fewer than 2 values (NaN there): see _nanmean
    missing = np.isnan(fwd)
    count = np.sum(~missing, axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        m = np.sum(np.where(missing, 0.0, fwd), axis=1, keepdims=True) / count
        d = np.where(missing, 0.0, fwd - m)
        dof = count - 1
        var = np.sum(d * d, axis=1, keepdims=True) / dof
        s = np.sqrt(np.where(dof > 0, var, np.nan))
        out = np.abs(fwd - m) > z * s
    fwd[out] = np.nan


def _common(flag: Any) -> bool:
    return check_bool("common_sample", flag)


def _frame(values: np.ndarray, dates: Any, columns: Sequence[Any]) -> pl.DataFrame:
    """A (T, K) array as a frame: ``date`` plus one column per label."""
    cols = [pl.Series("date", np.asarray(dates).astype("datetime64[D]"))]
    cols += [pl.Series(str(c), values[:, j]) for j, c in enumerate(columns)]
    return pl.DataFrame(cols)


# ---------------------------------------------------------------------------------------------
# Inference over dates
# ---------------------------------------------------------------------------------------------


def _check_nw_lags(nw_lags: Any, horizons: Sequence[int]) -> int | None:
    if nw_lags is None:
        return None
    lags = check_int("nw_lags", nw_lags, 0)
    short = [h for h in horizons if lags < h - 1]
    if short:
        h = max(short)
        raise ValueError(
            f"nw_lags={lags} is below h - 1 = {h - 1} for horizon {h}: overlapping {h}-date forward "
            f"returns are autocorrelated up to lag {h - 1}; pass nw_lags >= {h - 1} or None"
        )
    return lags


def _check_nw_lags_dates(lags: int | None, horizons: Sequence[int], n_dates: int) -> None:
    """An explicit ``nw_lags`` must be below the number of dates a series over dates can have
    (``T − h``: the last h dates have no h-date forward return), as ``time_series_regress``
    refuses ``lags`` at or beyond the number of dates: the Newey-West statistics would be NaN."""
    if lags is None:
        return
    h = max(horizons)
    usable = max(n_dates - h, 0)
    if lags >= usable:
        raise ValueError(
            f"nw_lags must be below the number of dates with an h-date forward return "
            f"(T − h = {n_dates} − {h} = {usable} for horizon {h}), got {lags}: the Newey-West "
            "statistics would be NaN; pass a smaller nw_lags or None (automatic lags)"
        )


def _mean_tests(series: np.ndarray, horizons: Sequence[int], nw_lags: int | None) -> dict[str, np.ndarray]:
    """Mean, std, plain and Newey-West tests of the mean of each column of a (T, K) series
    (column k belongs to horizon ``horizons[k]``; each column's NaN dates are dropped).

    Plain: ``se = std(ddof=1) / sqrt(n)``, t with n − 1 degrees of freedom (scipy's
    ``ttest_1samp``, what alphalens reports). Newey-West: Bartlett kernel with
    ``lags = max(h − 1, automatic)`` (the Newey-West 1994 bandwidth of the series; h − 1 when it is
    not available) or ``nw_lags``; variance ``(Σ e² + 2 Σ_j w_j Σ e_t e_{t−j}) / (n (n − 1))`` over
    the column's finite dates (statsmodels' HAC with the small-sample correction): per column the
    estimator of :func:`ferrofactor.inference.fama_macbeth_inference` (``nan_policy="column"``),
    its kernel sums by :func:`ferrofactor.inference.kernel_covariance`, without its per-call
    checks; all p-values from one call of the t distribution.
    """
    from scipy import stats

    from ferrofactor.inference import _range_exponents, bartlett_weights, kernel_covariance, newey_west_bandwidth

    series = np.asarray(series, dtype=np.float64)
    # columns beyond 2^±RANGE (returns around 1e-160: their squares underflow, standard errors of
    # 0 and infinite t-statistics) are summarised scaled by a power of two (exact), scaled back below
    ex = _range_exponents(np.where(np.isinf(series), np.nan, series))
    if ex.any():
        series = np.ldexp(series, -ex)
    k = series.shape[1]
    out = {name: np.full(k, np.nan) for name in (
        "mean", "std", "std_error", "tstat", "pvalue", "nw_std_error", "nw_tstat", "nw_pvalue")}
    out["nw_lags"] = np.zeros(k, dtype=np.int64)
    out["n_dates"] = np.zeros(k, dtype=np.int64)
    fin_all = np.isfinite(series)
    counts = fin_all.sum(axis=0)
    out["n_dates"][:] = counts
    for j in range(k):
        n = int(counts[j])
        h = int(horizons[j])
        fallback = max(h - 1, 0) if nw_lags is None else nw_lags
        out["nw_lags"][j] = fallback
        if n == 0:
            continue
        col = series[:, j]
        v = col if n == col.shape[0] else col[fin_all[:, j]]
        mean = v.sum() / n
        out["mean"][j] = mean
        e = v - mean
        ss = (e * e).sum()
        if nw_lags is None:
            lags = h - 1
            if n > 1:
                try:
                    with np.errstate(divide="ignore", invalid="ignore"):
                        stde = e / np.sqrt(ss / n)
                    auto = newey_west_bandwidth(stde)
                    lags = max(h - 1, int(auto))
                except ValueError:  # too few dates, or a series that does not vary
                    pass
        else:
            lags = nw_lags
        out["nw_lags"][j] = lags
        if n < 2:
            continue
        out["std"][j] = float(np.std(v, ddof=1))
        with np.errstate(divide="ignore", invalid="ignore"):
            out["std_error"][j] = np.sqrt(ss / n / (n - 1))
            if lags < n:
                s_nw = kernel_covariance(e[:, None], bartlett_weights(float(lags)))[0, 0]
                out["nw_std_error"][j] = np.sqrt(s_nw / (n - 1))
    if nw_lags is not None:
        # the callers refuse nw_lags >= T − h; a series with missing dates can still be shorter
        short = (counts >= 2) & (counts <= nw_lags)
        if short.any():
            import warnings

            warnings.warn(
                f"nw_lags={nw_lags} is not below the number of dates of {int(short.sum())} of {k} "
                f"series over dates (fewest: {int(counts[short].min())} dates with a value): their "
                "Newey-West statistics are NaN; pass a smaller nw_lags or None",
                RuntimeWarning, stacklevel=3,
            )
    with np.errstate(divide="ignore", invalid="ignore"):
        out["tstat"] = out["mean"] / out["std_error"]
        out["nw_tstat"] = out["mean"] / out["nw_std_error"]
        df = np.where(counts > 1, counts - 1, 1).astype(np.float64)
        pv = 2 * stats.t.sf(np.abs(np.concatenate([out["tstat"], out["nw_tstat"]])), np.concatenate([df, df]))
    out["pvalue"], out["nw_pvalue"] = pv[:k], pv[k:]
    if ex.any():
        for name in ("mean", "std", "std_error", "nw_std_error"):
            out[name] = np.ldexp(out[name], ex)
    return out


# ---------------------------------------------------------------------------------------------
# Public functions
# ---------------------------------------------------------------------------------------------


def forward_returns(returns: Any, horizons: Any = DEFAULT_HORIZONS, *,
                    filter_zscore: float | None = None) -> Any:
    """Forward returns: the compounded return from the close of t to the close of t + h.

    ``out[k, t, i] = (1 + returns[t + 1, i]) · … · (1 + returns[t + h_k, i]) − 1``, NaN where any
    of those returns is missing or ``t + h_k`` is past the last date (see the module docstring
    for the time convention and how alphalens' forward returns line up).

    Parameters
    ----------
    returns : array (T, N), Polars frame or Panel
        Simple returns, ``returns[t]`` from the close of t − 1 to the close of t; NaN = missing
        (infinite values raise ``ValueError``). A frame's rows may come in any order (they are put in date order).
    horizons : sequence of int, default (1, 5, 21)
        Forward-return lengths in dates (distinct, ≥ 1).
    filter_zscore : float, optional
        alphalens' outlier filter (look-ahead, see the module docstring); default off.

    Returns
    -------
    ndarray (H, T, N), or for a frame input a long frame (``date``, ``asset``, one column per
    horizon named ``str(h)``) with its rows in date order.

    Examples
    --------
    >>> import numpy as np, ferrofactor as ff
    >>> r = np.array([[0.1], [0.2], [-0.5]])
    >>> ff.evaluate.forward_returns(r, horizons=(1, 2))[:, :, 0].round(3).tolist()
    [[0.2, -0.5, nan], [-0.4, nan, nan]]
    """
    hs = _horizons(horizons)
    z = _filter_zscore_value(filter_zscore)
    if _is_panel(returns):
        r, dates, assets, frame = returns["returns"], returns.dates, returns.assets, False
    else:
        # a frame comes back as a frame labelled with its dates, so a wide frame's rows need not
        # be in date order: they are put in order (as a long frame's are)
        # (a pandas frame gives an array back, its rows as given: they must be in date order)
        frame = _is_polars_frame(returns)
        r, dates, assets = as_field("returns", returns, date_order=not frame)
    check_simple_returns("returns", r)
    fwd = _forward(np.ascontiguousarray(r), hs, z)
    if not frame:
        return fwd
    t, n = r.shape
    cols = [pl.Series("date", np.repeat(np.asarray(dates).astype("datetime64[D]"), n)),
            pl.Series("asset", np.tile(np.asarray(assets).astype(str), t), dtype=pl.String)]
    cols += [pl.Series(str(h), fwd[k].reshape(-1)) for k, h in enumerate(hs)]
    return pl.DataFrame(cols)


def information_coefficient(signal: Any, returns: Any, horizons: Any = DEFAULT_HORIZONS,
                            method: str = "spearman", industry: Any = None, weights: Any = None, *,
                            common_sample: bool = False, filter_zscore: float | None = None) -> Any:
    """Information coefficient per date and horizon: the cross-sectional correlation between
    ``signal[t]`` and the forward returns from t (alphalens' ``factor_information_coefficient``).

    Parameters
    ----------
    signal : array (T, N) or Polars frame
        Known at the close of each date; non-finite = missing.
    returns : array (T, N), Polars frame or Panel
        Simple returns (``returns[t]`` from close t − 1 to close t).
    horizons : sequence of int, default (1, 5, 21)
    method : {"spearman", "pearson"}
        Spearman: Pearson correlation of the average ranks (ties share their mean rank) over each
        date's pairwise sample; Pearson: of the values.
    industry : integer array (T, N), optional
        Industry codes (any integers, −1 = none). The forward returns are demeaned within date ×
        industry before the correlation (alphalens' ``group_adjust``); assets without an industry
        are left out.
    weights : array (T, N), optional
        Non-negative weights of a weighted correlation (of the ranks for Spearman: ranks are
        plain ranks, the correlation is weighted); industry means are weighted too. NaN = left out.
    common_sample : bool, default False
        alphalens' sample (every horizon finite); see the module docstring. Unlike alphalens (and
        :func:`evaluate`), rows that the buckets would leave out stay in: this function has none.
    filter_zscore : float, optional
        alphalens' look-ahead outlier filter of the forward returns; default off.

    Returns
    -------
    ndarray (T, H)
        NaN where fewer than 2 assets or no dispersion (and for the last h dates). For a frame
        ``signal``: a frame with ``date`` and one column per horizon.

    Examples
    --------
    >>> import numpy as np, ferrofactor as ff
    >>> rng = np.random.default_rng(0)
    >>> r = rng.normal(0, 0.01, (60, 50))
    >>> s = np.vstack([r[1:], np.zeros((1, 50))])  # a signal that knows tomorrow (for the demo)
    >>> ic = ff.evaluate.information_coefficient(s, r, horizons=(1,))
    >>> bool(np.allclose(ic[:-1, 0], 1.0))
    True
    """
    check_choice("method", method, ["spearman", "pearson"])
    hs = _horizons(horizons)
    common = _common(common_sample)
    z = _filter_zscore_value(filter_zscore)
    d = _Data(signal, returns, industry, weights)
    fwd = _forward(d.r, hs, z)
    ic, _ = _core.evaluate_ic(d.x, fwd, None, None, d.industry, d.n_industries, d.weights, common, method,
                              d.industry is not None)
    if d.frame:
        return _frame(ic, d.dates, hs)
    return ic


def factor_weighted_returns(signal: Any, returns: Any, horizons: Any = DEFAULT_HORIZONS, *,
                            demeaned: bool = True, industry: Any = None, equal_weight: bool = False,
                            common_sample: bool = False, filter_zscore: float | None = None) -> Any:
    """Return of the factor-weighted book over each horizon (alphalens' ``factor_returns``; the
    seed's factor portfolio: weights proportional to the demeaned signal).

    On each date and horizon, over the assets with a signal and a forward return, the weights are
    ``w_i = (s_i − mean s) / Σ_j |s_j − mean s|`` (gross 1, net 0; ``demeaned=False``: ``s_i /
    Σ |s_j|``), and the book returns ``Σ w_i forward_i``. With ``industry`` the book is industry
    neutral (alphalens' ``group_adjust``): weights are formed within each industry, then rescaled to
    a gross of 1 over the date. With
    ``equal_weight`` the assets above (below) the median get equal long (short) weights.

    Returns
    -------
    ndarray (T, H): the h-date return of the book formed at the close of t (NaN where no asset);
    a frame with ``date`` and a column per horizon for a frame ``signal``.
    """
    hs = _horizons(horizons)
    demeaned, equal_weight = check_bool("demeaned", demeaned), check_bool("equal_weight", equal_weight)
    common = _common(common_sample)
    z = _filter_zscore_value(filter_zscore)
    d = _Data(signal, returns, industry)
    fwd = _forward(d.r, hs, z)
    out = _core.evaluate_factor_weighted_returns(d.x, fwd, d.industry, d.n_industries, common, demeaned,
                                                 d.industry is not None, equal_weight)
    if d.frame:
        return _frame(out, d.dates, hs)
    return out


def quantile_turnover(signal: Any, quantiles: Any = 5, lag: int = 1, *, bins: Any = None,
                      industry: Any = None, binning_by_industry: bool = False) -> Any:
    """Share of the assets in each quantile at t that were not in it at t − lag (alphalens'
    ``quantile_turnover``), quantiles assigned per date from the signal alone (see
    :func:`quantile_returns` for ``quantiles``/``bins``/``industry``/``binning_by_industry``).

    Returns
    -------
    ndarray (T, Q): NaN for t < lag and where the quantile is empty at t or at t − lag; a frame
    with ``date`` and one column per quantile (``"1"`` = lowest) for a frame ``signal``.
    """
    lag = check_int("lag", lag, 1)
    d = _Data(signal, None, industry, need_returns=False)
    labels, q = _labels(d, quantiles, bins, binning_by_industry, None)
    out = _core.evaluate_quantile_turnover(labels, q, [lag])[:, :, 0]
    if d.frame:
        return _frame(out, d.dates, range(1, q + 1))
    return out


def rank_autocorrelation(signal: Any, lag: int = 1, *, industry: Any = None) -> Any:
    """Correlation between the signal's cross-sectional ranks at t and at t − lag (alphalens'
    ``factor_rank_autocorrelation``): each date's assets are ranked among themselves (average
    ranks), then the two rank vectors are correlated over the assets ranked on both dates.

    Returns
    -------
    ndarray (T,): NaN for t < lag, fewer than 2 common assets or no dispersion; a frame with
    ``date`` and ``autocorrelation`` for a frame ``signal``.
    """
    lag = check_int("lag", lag, 1)
    d = _Data(signal, None, industry, need_returns=False)
    out = _core.evaluate_rank_autocorrelation(d.x, d.industry, d.n_industries, None, [lag])[:, 0]
    if d.frame:
        return _frame(out[:, None], d.dates, ["autocorrelation"])
    return out


def _labels(d: _Data, quantiles: Any, bins: Any, by_industry: Any, common_fwd: np.ndarray | None):
    kind, count, values = _buckets(quantiles, bins)
    by_industry = check_bool("binning_by_industry", by_industry)
    if by_industry and d.industry is None:
        raise ValueError("binning_by_industry=True needs industry codes")
    labels = _core.evaluate_quantile_labels(d.x, d.industry, d.n_industries, d.weights, common_fwd, kind,
                                            count, values, by_industry)
    return labels, count


def quantile_returns(signal: Any, returns: Any, quantiles: Any = 5, *, bins: Any = None,
                     horizons: Any = DEFAULT_HORIZONS, demeaned: bool = True, industry: Any = None,
                     weights: Any = None, binning_by_industry: bool = False,
                     common_sample: bool = False, filter_zscore: float | None = None,
                     nw_lags: int | None = None) -> QuantileReturns:
    """Mean forward return of each signal quantile, per date and over dates (alphalens'
    ``quantize_factor`` + ``mean_return_by_quantile``).

    Quantiles are cut per date exactly as ``pandas.qcut(signal[t], quantiles)`` (equal counts;
    ties never split, which moves the edges; a date whose edges repeat has no quantiles, as in
    alphalens), or ``pandas.cut(signal[t], bins)`` (equal-width bins, or given edges). Quantile 1
    holds the lowest signals.

    Parameters
    ----------
    signal, returns, horizons : see :func:`information_coefficient`.
    quantiles : int or sequence of float, default 5
        Number of equal-count buckets, or quantile levels (e.g. ``[0, .1, .5, .9, 1]``).
    bins : int or sequence of float, optional
        Equal-width bins or edges instead (then pass ``quantiles=None``).
    demeaned : bool, default True
        Subtract each date's mean forward return (over the bucketed assets with a forward return)
        first, or with ``industry`` each date × industry's mean (alphalens' ``group_adjust``).
    industry : integer array (T, N), optional
        Industry codes (any integers, −1 = none: left out).
    weights : array (T, N), optional
        Non-negative weights: bucket means (and demeaning) are weighted means.
    binning_by_industry : bool, default False
        Cut the quantiles within each industry on each date (alphalens' ``binning_by_group``).
    common_sample, filter_zscore : alphalens' sample and outlier filter (module docstring).
    nw_lags : int, optional
        Newey-West lags of the standard errors over dates, for every bucket and the spread;
        ≥ h − 1 for every horizon and below ``T − max(horizons)`` (the dates with a forward
        return). Default: per series (each bucket and the spread, each horizon)
        ``max(h − 1, automatic)`` with the Newey-West 1994 bandwidth of that series; the lags
        used are ``nw_lags_by_quantile`` and ``nw_lags`` (spread).

    Returns
    -------
    QuantileReturns
    """
    hs = _horizons(horizons)
    demeaned = check_bool("demeaned", demeaned)
    common = _common(common_sample)
    z = _filter_zscore_value(filter_zscore)
    lags = _check_nw_lags(nw_lags, hs)
    d = _Data(signal, returns, industry, weights)
    _check_nw_lags_dates(lags, hs, d.shape[0])
    fwd = _forward(d.r, hs, z)
    labels, q = _labels(d, quantiles, bins, binning_by_industry, fwd if common else None)
    return _quantile_result(d, fwd, labels, q, hs, demeaned, lags, _bucket_text(quantiles, bins))


def _bucket_text(quantiles: Any, bins: Any) -> str:
    if bins is None:
        return f"quantiles={quantiles if isinstance(quantiles, numbers.Integral) else list(quantiles)}"
    return f"bins={bins if isinstance(bins, numbers.Integral) else list(bins)}"


def _quantile_result(d: _Data, fwd: np.ndarray, labels: np.ndarray, q: int, hs: list[int],
                     demeaned: bool, lags: int | None, buckets: str) -> QuantileReturns:
    demean = "none" if not demeaned else ("industry" if d.industry is not None else "all")
    by_date, counts = _core.evaluate_quantile_returns(labels, q, fwd, d.industry, d.n_industries,
                                                      d.weights, demean)
    return QuantileReturns(by_date, counts, labels, hs, lags, dates=d.dates, assets=d.assets,
                           demeaned=demean, buckets=buckets)


# ---------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------


def wealth_of_holdings(returns: np.ndarray, h: int) -> np.ndarray:
    """(T, ...) growth of 1 from the h-date returns of the dates 0, h, 2h, … (``returns[t]`` from
    the close of t to the close of t + h): non-overlapping holding periods, the value at date t
    the wealth after the periods that ended by t (nothing realised later); a missing return
    counts as 0 (no position)."""
    t = returns.shape[0]
    out = np.ones(returns.shape)
    wealth = np.ones(returns.shape[1:])
    for start in range(0, t, h):
        end = start + h
        if end >= t:
            out[start:] = wealth
            break
        out[start:end] = wealth
        wealth = wealth * (1.0 + np.nan_to_num(returns[start]))
    return out


class QuantileReturns(Result):
    """Forward returns by signal quantile (see :func:`quantile_returns`).

    Attributes
    ----------
    by_date : ndarray (T, Q, H)
        Mean (weighted with weights) forward return of each quantile on each date (demeaned if
        asked); NaN where the quantile is empty.
    counts : ndarray (T, Q, H)
        Number of assets behind each mean.
    mean_returns, std_errors : ndarray (Q, H)
        Mean of ``by_date`` over dates and its plain standard error ``std(ddof=1) / sqrt(n)``
        (alphalens' ``mean_return_by_quantile`` and its ``std_error_ret``).
    nw_std_errors : ndarray (Q, H)
        Newey-West standard errors, with the lags ``nw_lags_by_quantile``: the ``nw_lags``
        argument when given, else each bucket series' own ``max(h − 1, automatic)`` (at least
        h − 1: h-date returns of consecutive dates overlap).
    nw_lags_by_quantile : ndarray (Q, H) int
        The Newey-West lags behind ``nw_std_errors``.
    spread : ndarray (T, H)
        Top minus bottom quantile, per date (alphalens 0.5 reports half of it).
    spread_mean, spread_std_error, spread_nw_std_error, spread_tstat, spread_nw_tstat : (H,)
        Its mean and tests over dates (standard errors of the spread series itself, so the
        correlation of the two legs is accounted for).
    labels : ndarray (T, N) int32
        Quantile of each asset on each date, 0-based (0 = lowest), −1 = none.
    horizons, quantiles : the axis labels (quantiles 1..Q); ``nw_lags`` (H,) the lags of the
        spread tests (the spread series' own automatic lags unless ``nw_lags`` was given).
    """

    _arrays = {
        "by_date": ("date", "quantile", "horizon"), "counts": ("date", "quantile", "horizon"),
        "mean_returns": ("quantile", "horizon"), "std_errors": ("quantile", "horizon"),
        "nw_std_errors": ("quantile", "horizon"), "spread": ("date", "horizon"),
        "spread_mean": ("horizon",), "spread_std_error": ("horizon",),
        "spread_nw_std_error": ("horizon",), "spread_tstat": ("horizon",),
        "spread_nw_tstat": ("horizon",), "nw_lags": ("horizon",), "labels": ("date", "asset"),
        "nw_lags_by_quantile": ("quantile", "horizon"),
    }
    _groups = {
        "table": ("mean_returns", "std_errors", "nw_std_errors"),
        "spread_summary": ("spread_mean", "spread_std_error", "spread_nw_std_error", "spread_tstat",
                           "spread_nw_tstat", "nw_lags"),
    }
    _default_kind = "table"

    def __init__(self, by_date, counts, labels, horizons, nw_lags, *, dates=None, assets=None,
                 demeaned="all", buckets="quantiles=5") -> None:
        self._by_date, self._counts = readonly(by_date), readonly(counts)
        self._labels = readonly(labels)
        self._horizons = readonly(np.asarray(horizons, dtype=np.int64))
        self._dates, self._assets = readonly(dates), readonly(assets)
        self._demeaned, self._buckets = demeaned, buckets
        t, q, h = by_date.shape
        spread = by_date[:, -1, :] - by_date[:, 0, :] if q else np.full((t, h), np.nan)
        # one pass of tests over the Q·H bucket series (column q·H + k) and the H spreads
        hz = np.asarray(horizons, dtype=np.int64)
        tests = _mean_tests(np.concatenate([by_date.reshape(t, q * h), spread], axis=1),
                            np.concatenate([np.tile(hz, q), hz]), nw_lags)
        mean, se, nw = (tests[name][:q * h].reshape(q, h) for name in ("mean", "std_error", "nw_std_error"))
        st = {name: v[q * h:] for name, v in tests.items()}
        lags = st["nw_lags"].copy()
        self._bucket_lags = readonly(tests["nw_lags"][:q * h].reshape(q, h).copy())
        self._mean, self._se, self._nw = readonly(mean), readonly(se), readonly(nw)
        self._spread = readonly(spread)
        self._spread_tests = {k: readonly(v) for k, v in st.items()}
        self._nw_lags = readonly(lags)

    by_date = property(lambda self: self._by_date, doc="(T, Q, H) mean forward return per date.")
    counts = property(lambda self: self._counts, doc="(T, Q, H) number of assets per mean.")
    labels = property(lambda self: self._labels, doc="(T, N) 0-based quantile, -1 = none.")
    mean_returns = property(lambda self: self._mean, doc="(Q, H) mean over dates.")
    std_errors = property(lambda self: self._se, doc="(Q, H) plain standard errors.")
    nw_std_errors = property(lambda self: self._nw, doc="(Q, H) Newey-West standard errors.")
    spread = property(lambda self: self._spread, doc="(T, H) top minus bottom quantile.")
    spread_mean = property(lambda self: self._spread_tests["mean"])
    spread_std_error = property(lambda self: self._spread_tests["std_error"])
    spread_nw_std_error = property(lambda self: self._spread_tests["nw_std_error"])
    spread_tstat = property(lambda self: self._spread_tests["tstat"])
    spread_nw_tstat = property(lambda self: self._spread_tests["nw_tstat"])
    nw_lags = property(lambda self: self._nw_lags, doc="(H,) Newey-West lags of the spread tests.")
    nw_lags_by_quantile = property(lambda self: self._bucket_lags,
                                   doc="(Q, H) Newey-West lags behind each bucket's nw_std_errors.")
    horizons = property(lambda self: self._horizons)
    dates = property(lambda self: self._dates)
    assets = property(lambda self: self._assets)

    @property
    def quantiles(self) -> np.ndarray:
        """Quantile labels 1..Q (1 = lowest signal)."""
        return np.arange(1, self._by_date.shape[1] + 1)

    def _axis_labels(self, axis: str) -> Any:
        if axis == "quantile":
            return self.quantiles
        if axis == "horizon":
            return self._horizons
        return super()._axis_labels(axis)

    def turnover(self, lag: int = 1) -> np.ndarray:
        """(T, Q) share of each quantile's assets at t that were not in it at t − lag (of these
        labels; see :func:`quantile_turnover`)."""
        lag = check_int("lag", lag, 1)
        return _core.evaluate_quantile_turnover(np.ascontiguousarray(self._labels),
                                                self._by_date.shape[1], [lag])[:, :, 0]

    def cumulative_returns(self, horizon: int | None = None) -> np.ndarray:
        """(T, Q) growth of 1 in each quantile, rebalanced every h dates.

        The h-date returns of the dates 0, h, 2h, … are compounded (non-overlapping holding
        periods); the value at date t is the wealth at the close of t after the periods that
        ended by then; a missing quantile return counts as 0 (no position). ``horizon`` is one of
        :attr:`horizons` (default the first).
        """
        k = _horizon_index(self._horizons, horizon)
        return wealth_of_holdings(self._by_date[:, :, k], int(self._horizons[k]))

    def summary(self) -> Summary:
        q, h = self._mean.shape
        header = [("Dates", self._by_date.shape[0]), ("Buckets", self._buckets),
                  ("Demeaned", self._demeaned),
                  ("Mean assets per bucket", f"{np.nanmean(np.where(self._counts > 0, self._counts, np.nan)):.1f}"
                   if (self._counts > 0).any() else "0")]
        cols: dict[str, Any] = {"quantile": [str(v) for v in self.quantiles] + ["top - bottom"]}
        for k, hz in enumerate(self._horizons.tolist()):
            cols[f"mean_{hz}"] = np.append(self._mean[:, k], self.spread_mean[k])
            cols[f"nw_se_{hz}"] = np.append(self._nw[:, k], self.spread_nw_std_error[k])
            cols[f"nw_lags_{hz}"] = np.append(self._bucket_lags[:, k], self._nw_lags[k])
        notes = [f"Mean forward return over h dates per bucket (h = {', '.join(map(str, self._horizons.tolist()))}); "
                 "nw_se: Newey-West standard error, with the lags nw_lags of its row "
                 "(each series' own max(h - 1, automatic) unless nw_lags was given)."]
        return Summary("Quantile returns", header, [("", pl.DataFrame(cols))], notes)

    def plot(self, horizon: int | None = None):
        """Mean return by quantile (all horizons) and cumulative quantile returns (``horizon``):
        a matplotlib Figure."""
        from ferrofactor.evaluate import plots

        return plots.quantile_returns_figure(self, horizon)


def _horizon_index(horizons: np.ndarray, horizon: Any) -> int:
    if horizon is None:
        return 0
    h = check_int("horizon", horizon, 1)
    pos = np.flatnonzero(np.asarray(horizons) == h)
    if not pos.size:
        raise ValueError(f"horizon must be one of {np.asarray(horizons).tolist()}, got {h}")
    return int(pos[0])


class SignalEvaluation(Result):
    """Everything :func:`evaluate` computes for one signal.

    Attributes (H horizons, Q quantiles, L decay lags)
    ----------
    ic, ic_n_obs : (T, H)
        Information coefficient per date and horizon and the assets behind it.
    ic_mean, ic_std, ic_ir : (H,)
        Mean, standard deviation (ddof=1) and their ratio (alphalens' "Risk-Adjusted IC").
    ic_std_error, ic_tstat, ic_pvalue : (H,)
        Plain test of the mean IC (scipy's ``ttest_1samp``, what alphalens reports: it treats
        overlapping h-date forward returns as independent).
    ic_nw_std_error, ic_nw_tstat, ic_nw_pvalue, nw_lags : (H,)
        Newey-West test of the mean IC with ``nw_lags`` ≥ h − 1 lags: the one to read.
    n_dates : (H,) dates with an IC.
    quantile_returns : :class:`QuantileReturns`
        With ``mean_returns``, ``std_errors``, ``nw_std_errors`` (Q, H) and ``spread`` (T, H)
        also exposed here.
    factor_returns : (T, H)
        Return of the factor-weighted long-short book (:func:`factor_weighted_returns`).
    turnover : (T, Q, H)
        Quantile turnover at a lag of h dates for each horizon h (alphalens' turnover periods);
        ``mean_turnover`` (Q, H) its mean over dates.
    autocorrelation : (T, H)
        Rank autocorrelation at a lag of h dates; ``mean_autocorrelation`` (H,).
    decay_ic : (T, L)
        IC of ``signal[t]`` against the single-date return ``returns[t + k]`` for each decay lag
        k; ``ic_decay`` (L,) its mean and ``ic_decay_nw_tstat`` (L,) the Newey-West t-statistic:
        how fast the information fades.
    residual : SignalEvaluation or None
        The same evaluation on residual (specific) returns when ``residual=`` was given.
    """

    _arrays = {
        "ic": ("date", "horizon"), "ic_n_obs": ("date", "horizon"),
        "ic_mean": ("horizon",), "ic_std": ("horizon",), "ic_ir": ("horizon",),
        "ic_std_error": ("horizon",), "ic_tstat": ("horizon",), "ic_pvalue": ("horizon",),
        "ic_nw_std_error": ("horizon",), "ic_nw_tstat": ("horizon",), "ic_nw_pvalue": ("horizon",),
        "nw_lags": ("horizon",), "n_dates": ("horizon",),
        "mean_returns": ("quantile", "horizon"), "std_errors": ("quantile", "horizon"),
        "nw_std_errors": ("quantile", "horizon"), "mean_turnover": ("quantile", "horizon"),
        "spread": ("date", "horizon"), "factor_returns": ("date", "horizon"),
        "turnover": ("date", "quantile", "horizon"), "autocorrelation": ("date", "horizon"),
        "mean_autocorrelation": ("horizon",),
        "decay_ic": ("date", "lag"), "ic_decay": ("lag",), "ic_decay_nw_tstat": ("lag",),
    }
    _groups = {
        "ic_summary": ("ic_mean", "ic_std", "ic_ir", "ic_std_error", "ic_tstat", "ic_pvalue",
                       "ic_nw_std_error", "ic_nw_tstat", "ic_nw_pvalue", "nw_lags", "n_dates",
                       "mean_autocorrelation"),
        "quantiles": ("mean_returns", "std_errors", "nw_std_errors", "mean_turnover"),
        "decay": ("ic_decay", "ic_decay_nw_tstat"),
    }
    _default_kind = "ic_summary"

    def __init__(self, *, ic, ic_n_obs, quantile_returns, factor_returns, turnover,
                 autocorrelation, decay_ic, decay_lags, horizons, nw_lags, dates, assets,
                 settings, residual=None) -> None:
        self._horizons = readonly(np.asarray(horizons, dtype=np.int64))
        self._decay_lags = readonly(np.asarray(decay_lags, dtype=np.int64))
        self._ic, self._ic_n_obs = readonly(ic), readonly(ic_n_obs.astype(np.int64))
        self._qr = quantile_returns
        self._factor_returns = readonly(factor_returns)
        self._turnover, self._autocorrelation = readonly(turnover), readonly(autocorrelation)
        self._decay_ic = readonly(decay_ic)
        self._dates, self._assets = readonly(dates), readonly(assets)
        self._settings = dict(settings)
        self._residual = residual
        t = _mean_tests(ic, horizons, nw_lags)
        self._tests = {k: readonly(v) for k, v in t.items()}
        with np.errstate(invalid="ignore", divide="ignore"):
            self._ir = readonly(t["mean"] / t["std"])
        dt = _mean_tests(decay_ic, [1] * len(decay_lags), None)
        self._decay = {k: readonly(v) for k, v in dt.items()}
        self._mean_turnover = readonly(_nanmean(turnover, axis=0))
        self._mean_ac = readonly(_nanmean(autocorrelation, axis=0))

    # -- arrays ----------------------------------------------------------------------------
    ic = property(lambda self: self._ic, doc="(T, H) IC per date and horizon.")
    ic_n_obs = property(lambda self: self._ic_n_obs, doc="(T, H) assets behind each IC.")
    ic_mean = property(lambda self: self._tests["mean"])
    ic_std = property(lambda self: self._tests["std"])
    ic_ir = property(lambda self: self._ir, doc="(H,) mean / std of the IC (not annualised).")
    ic_std_error = property(lambda self: self._tests["std_error"])
    ic_tstat = property(lambda self: self._tests["tstat"])
    ic_pvalue = property(lambda self: self._tests["pvalue"])
    ic_nw_std_error = property(lambda self: self._tests["nw_std_error"])
    ic_nw_tstat = property(lambda self: self._tests["nw_tstat"])
    ic_nw_pvalue = property(lambda self: self._tests["nw_pvalue"])
    nw_lags = property(lambda self: self._tests["nw_lags"], doc="(H,) Newey-West lags used.")
    n_dates = property(lambda self: self._tests["n_dates"])
    quantile_returns = property(lambda self: self._qr, doc="The QuantileReturns result.")
    mean_returns = property(lambda self: self._qr.mean_returns)
    std_errors = property(lambda self: self._qr.std_errors)
    nw_std_errors = property(lambda self: self._qr.nw_std_errors)
    spread = property(lambda self: self._qr.spread)
    factor_returns = property(lambda self: self._factor_returns)
    turnover = property(lambda self: self._turnover)
    mean_turnover = property(lambda self: self._mean_turnover)
    autocorrelation = property(lambda self: self._autocorrelation)
    mean_autocorrelation = property(lambda self: self._mean_ac)
    decay_ic = property(lambda self: self._decay_ic)
    ic_decay = property(lambda self: self._decay["mean"], doc="(L,) mean IC at each decay lag.")
    ic_decay_nw_tstat = property(lambda self: self._decay["nw_tstat"])
    decay_lags = property(lambda self: self._decay_lags)
    horizons = property(lambda self: self._horizons)
    dates = property(lambda self: self._dates)
    assets = property(lambda self: self._assets)
    residual = property(lambda self: self._residual,
                        doc="SignalEvaluation on residual returns, or None.")
    settings = property(lambda self: dict(self._settings))

    @property
    def quantiles(self) -> np.ndarray:
        return self._qr.quantiles

    def _axis_labels(self, axis: str) -> Any:
        if axis == "quantile":
            return self.quantiles
        if axis == "horizon":
            return self._horizons
        if axis == "lag":
            return self._decay_lags
        return super()._axis_labels(axis)

    # -- summary ---------------------------------------------------------------------------
    def summary(self) -> Summary:
        s = self._settings
        t, h = self._ic.shape
        span = (f"{self._dates[0]} .. {self._dates[-1]}" if self._dates is not None and t
                else str(t))
        header = [("Dates", span), ("Assets", self._qr.labels.shape[1]),
                  ("Horizons", ", ".join(map(str, self._horizons.tolist()))),
                  ("IC method", s["method"]), ("Buckets", s["buckets"]),
                  ("Industry", s["industry"]), ("Sample", s["sample"]),
                  ("Returns", s["returns"])]
        hz = [str(v) for v in self._horizons.tolist()]
        ic_table = pl.DataFrame({
            "horizon": hz, "ic_mean": self.ic_mean, "ic_std": self.ic_std, "ic_ir": self.ic_ir,
            "nw_tstat": self.ic_nw_tstat, "nw_pvalue": self.ic_nw_pvalue,
            "nw_lags": self.nw_lags, "tstat (plain)": self.ic_tstat,
            "pvalue (plain)": self.ic_pvalue, "dates": self.n_dates,
        })
        qr = self._qr
        qcols: dict[str, Any] = {"quantile": [str(v) for v in self.quantiles] + ["top - bottom"]}
        for k, lab in enumerate(hz):
            qcols[f"mean_{lab}"] = np.append(qr.mean_returns[:, k], qr.spread_mean[k])
            qcols[f"nw_tstat_{lab}"] = np.append(
                _ratio(qr.mean_returns[:, k], qr.nw_std_errors[:, k]), qr.spread_nw_tstat[k])
        turn: dict[str, Any] = {"quantile": [str(v) for v in self.quantiles] + ["rank autocorrelation"]}
        for k, lab in enumerate(hz):
            turn[f"lag_{lab}"] = np.append(self._mean_turnover[:, k], self._mean_ac[k])
        decay = pl.DataFrame({"lag": [str(v) for v in self._decay_lags.tolist()],
                              "ic_mean": self.ic_decay, "nw_tstat": self.ic_decay_nw_tstat})
        fw = _mean_tests(self._factor_returns, self._horizons.tolist(), s.get("nw_lags"))
        fw_table = pl.DataFrame({"horizon": hz, "mean": fw["mean"], "nw_tstat": fw["nw_tstat"]})
        tables = [("Information coefficient", ic_table),
                  ("Mean forward return by quantile (demeaned: " + qr._demeaned + ")", pl.DataFrame(qcols)),
                  ("Factor-weighted long-short book", fw_table),
                  ("Mean turnover (lag = horizon) and rank autocorrelation", pl.DataFrame(turn)),
                  ("IC decay: IC with the one-date return k dates ahead", decay)]
        if self._residual is not None:
            r = self._residual
            tables.append(("IC on residual (specific) returns", pl.DataFrame({
                "horizon": hz, "ic_mean": r.ic_mean, "nw_tstat": r.ic_nw_tstat,
                "nw_pvalue": r.ic_nw_pvalue})))
        notes = ["h-date forward returns of consecutive dates overlap: read the Newey-West (nw_) "
                 "tests; the plain ones are alphalens' and overstate significance for h > 1."]
        if self._residual is not None:
            notes.append("residual: the same evaluation on residual returns, see .residual.summary().")
        return Summary("Signal evaluation", header, tables, notes)

    # -- plots -----------------------------------------------------------------------------
    def plot(self):
        """Tear sheet: IC over time, IC decay, mean return by quantile, cumulative quantile returns
        and turnover in one matplotlib Figure."""
        from ferrofactor.evaluate import plots

        return plots.evaluation_figure(self)

    def plot_ic(self, window: int = 21):
        """IC per date with a rolling mean over ``window`` dates, one panel per horizon."""
        from ferrofactor.evaluate import plots

        return plots.ic_figure(self, window)

    def plot_ic_decay(self):
        """Mean IC by decay lag (single-date returns k dates ahead) and by horizon."""
        from ferrofactor.evaluate import plots

        return plots.ic_decay_figure(self)

    def plot_quantile_returns(self):
        """Mean forward return by quantile, one group of bars per horizon."""
        from ferrofactor.evaluate import plots

        return plots.quantile_bars_figure(self._qr)

    def plot_cumulative_returns(self, horizon: int | None = None):
        """Cumulative return of each quantile, rebalanced every h dates."""
        from ferrofactor.evaluate import plots

        return plots.cumulative_figure(self._qr, horizon)

    def plot_turnover(self, horizon: int | None = None):
        """Top and bottom quantile turnover over time (lag = ``horizon``, default the first)."""
        from ferrofactor.evaluate import plots

        return plots.turnover_figure(self, horizon)


def _ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return a / b


# ---------------------------------------------------------------------------------------------
# evaluate
# ---------------------------------------------------------------------------------------------


def evaluate(signal: Any, returns: Any = None, horizons: Any = DEFAULT_HORIZONS, quantiles: Any = 5,
             industry: Any = None, residual: Any = None, *, bins: Any = None,
             method: str = "spearman", weights: Any = None, demeaned: bool = True,
             binning_by_industry: bool = False, decay_lags: Any = None, nw_lags: int | None = None,
             common_sample: bool = False, filter_zscore: float | None = None) -> SignalEvaluation:
    """Evaluate a signal: IC with plain and Newey-West inference, quantile returns, the
    factor-weighted book, turnover, rank autocorrelation and IC decay, in one pass.

    Parameters
    ----------
    signal : array (T, N) or Polars frame
        Known at the close of each date (see the module docstring for the time convention).
    returns : array (T, N), Polars frame or Panel, optional
        Simple returns. Optional when ``residual`` is given (its ``returns`` are used).
    horizons : sequence of int, default (1, 5, 21)
        Forward-return lengths in dates.
    quantiles, bins, industry, weights, demeaned, binning_by_industry :
        See :func:`quantile_returns` (industry codes also industry-adjust the IC and make the
        factor-weighted book industry neutral; weights weight the IC and the quantile means).
    residual : FactorModelResult, optional
        Also evaluate the signal on its residual (specific) returns (``result.residuals``:
        ``residuals[t]`` is the part of ``returns[t]`` the factors of the model do not explain,
        from exposures known at t − lag), compounded like returns, so the signal is judged on what
        the risk model does not already explain: :attr:`SignalEvaluation.residual`.
    method : {"spearman", "pearson"}
    decay_lags : sequence of int, optional
        Lags k (≥ 1) of the IC decay, the IC of ``signal[t]`` with the single-date return
        ``returns[t + k]`` (default: the horizons; ``range(1, 22)`` gives the full profile, at one
        more pass over the dates per lag).
    nw_lags : int, optional
        Newey-West lags for every horizon; default ``max(h − 1, automatic)`` per horizon (the
        Newey-West 1994 bandwidth of the series when larger). Must be ≥ h − 1 for every horizon
        and below ``T − max(horizons)`` (the dates with a forward return).
    common_sample, filter_zscore :
        alphalens' sample and look-ahead outlier filter, for comparison only (module docstring).

    Returns
    -------
    SignalEvaluation

    Examples
    --------
    >>> import numpy as np, ferrofactor as ff
    >>> rng = np.random.default_rng(0)
    >>> r = rng.normal(0, 0.02, (300, 200))
    >>> signal = np.vstack([np.zeros((1, 200)), r[:-1]])     # yesterday's return: no information
    >>> ev = ff.evaluate.evaluate(signal, r, horizons=(1, 5))
    >>> bool(np.all(np.abs(ev.ic_nw_tstat) < 4))
    True
    """
    check_choice("method", method, ["spearman", "pearson"])
    hs = _horizons(horizons)
    demeaned = check_bool("demeaned", demeaned)
    common = _common(common_sample)
    z = _filter_zscore_value(filter_zscore)
    lags = _check_nw_lags(nw_lags, hs)
    dl = list(hs) if decay_lags is None else _horizons(decay_lags, "decay_lags")
    res_values = None
    if residual is not None:
        from ferrofactor.model import FactorModelResult

        if not isinstance(residual, FactorModelResult):
            raise TypeError(
                f"residual must be a FactorModelResult (ff.FactorModel().fit(...)), got {type(residual).__name__}"
            )
        if returns is None:
            returns = residual.returns
            if returns is None:
                raise ValueError("returns is required: the residual result carries no returns")
        res_values = np.asarray(residual.residuals, dtype=np.float64)
    d = _Data(signal, returns, industry, weights)
    _check_nw_lags_dates(lags, hs, d.shape[0])
    if res_values is not None:
        check_shape("residual.residuals", res_values, d.shape, "(T, N) like signal")
        check_same_labels("signal", d.dates, d.assets, "residual", residual.dates, residual.assets)
        if d.dates is None and residual.dates is not None:
            d.dates = residual.dates
        if d.assets is None and residual.assets is not None:
            d.assets = residual.assets
    kind, count, values = _buckets(quantiles, bins)
    by_industry = check_bool("binning_by_industry", binning_by_industry)
    if by_industry and d.industry is None:
        raise ValueError("binning_by_industry=True needs industry codes")
    settings = {
        "method": method, "buckets": _bucket_text(quantiles, bins),
        "industry": "none" if d.industry is None else f"{d.n_industries} (industry-adjusted"
        + (", binned within industries)" if by_industry else ")"),
        "sample": "common (alphalens)" if common else "pairwise",
        "returns": "total", "nw_lags": lags, "filter_zscore": z,
    }
    spec = (kind, count, values, by_industry, method, demeaned, common, z, lags, hs, dl)
    total = _evaluate_one(d, d.r, spec, settings)
    if res_values is None:
        return total
    res = _evaluate_one(d, np.ascontiguousarray(res_values), spec,
                        dict(settings, returns="residual (specific)"))
    total._residual = res
    return total


def _evaluate_one(d: _Data, r: np.ndarray, spec: tuple, settings: dict) -> SignalEvaluation:
    """One evaluation in one Rust pass over the dates (``_core.evaluate_panel``: each date's
    signal sorted once; bit for bit the separate kernels of the public functions). Without
    alphalens' outlier filter the forward returns are computed date by date inside the pass
    (bit for bit :func:`forward_returns`), so no (H, T, N) array is built."""
    kind, count, values, by_industry, method, demeaned, common, z, lags, hs, dl = spec
    fwd = _forward(r, hs, z) if z is not None else None
    g = d.industry
    ic, n_obs, labels, by_date, counts, fw, turnover, autocorr, decay = _core.evaluate_panel(
        d.x, r, fwd, hs, g, d.n_industries, d.weights, method, kind, count, values, by_industry,
        demeaned, g is not None, common, dl)
    del fwd
    demean = "none" if not demeaned else ("industry" if g is not None else "all")
    qr = QuantileReturns(by_date, counts, labels, hs, lags, dates=d.dates, assets=d.assets,
                         demeaned=demean, buckets=settings["buckets"])
    return SignalEvaluation(ic=ic, ic_n_obs=n_obs, quantile_returns=qr, factor_returns=fw,
                            turnover=turnover, autocorrelation=autocorr, decay_ic=decay,
                            decay_lags=dl, horizons=hs, nw_lags=lags, dates=d.dates,
                            assets=d.assets, settings=settings)
