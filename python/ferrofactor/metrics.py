"""Performance statistics of return series, with empyrical's definitions, many series at once.

Every function takes simple decimal returns ``(T,)`` (one series, a float comes back) or
``(T, S)`` (S series, an ``(S,)`` array comes back; vectorised, no loop over series); ``returns[t]``
runs from close t−1 to close t. NaN marks a missing period. The definitions are those of
empyrical (empyrical-reloaded 0.7), which the tests check against:

- ``annual_return``: geometric, ``(Π (1 + r_t))^(P / T) − 1`` with NaN periods counted in T and
  compounded as 0 (empyrical's ``cum_returns_final``/``annual_return``);
- ``annual_volatility``: ``std(r, ddof=1) · √P`` over the finite periods;
- ``sharpe_ratio``: ``mean(r − rf) / std(r − rf, ddof=1) · √P`` (a series without dispersion has
  standard deviation 0, so ±inf, or NaN for 0/0; the same rule for the information ratio);
- ``sortino_ratio``: ``mean(r − req) · P / (√mean(min(r − req, 0)²) · √P)``;
- ``max_drawdown``: the most negative ``(W_t − max_{s≤t} W_s) / max_{s≤t} W_s`` of the wealth path
  ``W`` started at 1 before the first period (so a first-period loss is a drawdown); ≤ 0;
- ``calmar_ratio``: ``annual_return / |max_drawdown|``, NaN without a drawdown;
- ``tracking_error``: ``std(r − b, ddof=1) · √P``;
- ``information_ratio``: ``mean(r − b) / std(r − b, ddof=1) · √P`` (empyrical's ``excess_sharpe``,
  which is per period, times √P: annualised, as the seed's results table quotes it);
- ``monthly_win_rate``: the share of calendar months whose compounded return
  (``Π(1 + r) − 1``, empyrical's ``aggregate_returns(..., "monthly")``) is positive.

``P`` is ``periods_per_year`` (252 for daily data, 12 for monthly). Returns that carry dates
whose spacing does not fit ``P`` (252 on monthly dates) get a :class:`PeriodsPerYearWarning` from
every annualised statistic (each function and :func:`summary`); nothing is changed.

Dates: ``returns`` may be a Polars frame (``date`` + one column per series; its rows come out in
date order) or a pandas Series or DataFrame indexed by date (read in its own order, which must be
date order: it is never sorted; a DataFrame's columns name its series). A benchmark, risk-free
rate, required return, turnover or costs given as a Polars frame or as a pandas object indexed by
date is aligned on the returns' dates (it must cover every one; its other rows are dropped), or,
beside returns without dates, on ``dates=`` where the function takes it; otherwise it pairs row by
row (in date order). Arrays pair row by row.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
import polars as pl

from ferrofactor._validate import (
    _is_polars_frame,
    _is_polars_series,
    as_array,
    as_dates,
    as_float_array,
    by_date,
    is_date_indexed,
)
from ferrofactor.constants import PERIODS_PER_YEAR
from ferrofactor.results import Result, Summary, fixed_or_scientific, readonly

__all__ = [
    "MetricsSummary",
    "PeriodsPerYearWarning",
    "annual_return",
    "annual_volatility",
    "calmar_ratio",
    "information_ratio",
    "max_drawdown",
    "monthly_win_rate",
    "sharpe_ratio",
    "sortino_ratio",
    "summary",
    "tracking_error",
]


# ---------------------------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------------------------


def _series(
    name: str, x: Any, date_order: bool = False
) -> tuple[np.ndarray, bool, list[str] | None, np.ndarray | None]:
    """``(values (T, S), was_1d, names or None, dates or None)``. A frame's rows come out in
    date order; with ``date_order`` (it pairs row by row with inputs without dates) a wide
    frame's rows must be in date order already."""
    if _is_polars_frame(x):
        from ferrofactor.panel import field_from_frame

        # (a LazyFrame is collected there, its errors named after the argument)
        values, dates, names = field_from_frame(name, x, require_date_order=date_order)
        return values, False, [str(c) for c in names], dates
    if is_date_indexed(x):
        # read in its own order, its index giving the dates: never sorted, so it must be in
        # date order (a drawdown or a month follows the rows)
        values, dates = by_date(name, x)
        return (*_pandas_series(name, x, values), dates)
    if _is_polars_series(x):
        return as_float_array(name, x.to_numpy(), 1)[:, None], True, None, None
    arr = as_array(name, x)
    if arr.ndim == 1:
        return as_float_array(name, arr, 1)[:, None], True, None, None
    return as_float_array(name, arr, 2), False, None, None


def _pandas_series(name: str, x: Any, values: np.ndarray) -> tuple[np.ndarray, bool, list[str] | None]:
    """``(values (T, S), was_1d, names or None)`` of a pandas Series or DataFrame indexed by
    date, its values given (:func:`ferrofactor._validate.by_date`): a DataFrame's columns name
    its series (as a Polars frame's do), unless they are the default 0..S-1."""
    if values.ndim == 1:
        return as_float_array(name, values, 1)[:, None], True, None
    cols = x.columns
    names = None
    if not (type(cols).__name__ == "RangeIndex" and cols.start == 0 and cols.step == 1):
        names = [str(c) for c in cols]
        if len(set(names)) != len(names):
            dup = sorted({c for c in names if names.count(c) > 1})
            raise ValueError(f"{name} is a pandas frame with repeated column names {dup[:5]}: rename its columns")
    return as_float_array(name, values, 2), False, names


def _unlabelled(x: Any) -> bool:
    """An input that pairs with the returns row by row (an array or series, not a number, a
    frame with dates or a pandas object indexed by date)."""
    return x is not None and not isinstance(x, numbers.Real) and not _is_polars_frame(x) \
        and not is_date_indexed(x)


def _returns(name: str, x: Any, *partners: Any) -> tuple[np.ndarray, bool, list[str] | None, np.ndarray | None]:
    """``_series`` of the returns, which must be in date order when a partner pairs row by row."""
    r, one, names, dates = _series(name, x, date_order=any(_unlabelled(p) for p in partners))
    if np.isinf(r).any():
        raise ValueError(f"{name} must not contain infinite values (NaN marks a missing period)")
    return r, one, names, dates


def _other(name: str, x: Any, r: np.ndarray, rdates: np.ndarray | None = None,
           rnames: list[str] | None = None, given: Any = None) -> np.ndarray:
    """A benchmark / risk-free / required return: a scalar, (T,) (shared by all series) or
    (T, S), broadcast to ``r``'s shape. A frame is aligned with framed returns (``rdates``,
    ``rnames``) on its dates (it must cover every date of the returns; others are dropped) and,
    with several columns, on its column names; with returns without dates it is aligned on
    ``given`` (the ``dates=`` of the call) when given, else pairs row by row and its rows must
    be in date order. A pandas object indexed by date is read as such a frame,
    aligned on the returns' dates, else on ``given`` (the ``dates=`` of the call), else read in
    its own order (which must be date order)."""
    if isinstance(x, numbers.Real) and not isinstance(x, (bool, np.bool_)):
        if not np.isfinite(x):
            raise ValueError(f"{name} must be finite, got {x!r}")
        return np.full_like(r, float(x))
    on = rdates if rdates is not None else given
    if _is_polars_frame(x) and on is not None:
        # a Polars frame beside returns without dates: aligned on dates= (never by position)
        v, one, vnames = _aligned(name, x, r, on, rnames)
    elif is_date_indexed(x) and on is not None:
        values, _ = by_date(name, x, on, of="returns" if rdates is not None else "dates=", align=True)
        v, one, vnames = _pandas_series(name, x, values)
        if v.shape[1] > 1 and rnames is not None and vnames is not None:
            v = _on_names(name, v, vnames, rnames)
    else:
        v, one, vnames = _aligned(name, x, r, rdates, rnames)
    if v.shape[0] != r.shape[0]:
        raise ValueError(f"{name} has {v.shape[0]} periods, returns has {r.shape[0]}")
    if np.isinf(v).any():
        raise ValueError(f"{name} must not contain infinite values")
    if one or v.shape[1] == 1:
        return np.broadcast_to(v[:, :1], r.shape)
    if v.shape != r.shape:
        raise ValueError(f"{name} has shape {v.shape}, expected {r.shape} (or (T,) shared by all series)")
    return v


def _on_names(name: str, v: np.ndarray, vnames: list[str], rnames: list[str]) -> np.ndarray:
    absent = [c for c in rnames if c not in vnames]
    if absent:
        raise ValueError(f"{name} has no column for the series {absent[:5]} of returns")
    return v[:, [vnames.index(c) for c in rnames]]


def _aligned(name: str, x: Any, r: np.ndarray, rdates: np.ndarray | None,
             rnames: list[str] | None) -> tuple[np.ndarray, bool, list[str] | None]:
    """A Polars frame aligned with framed returns; anything else as it is (row by row)."""
    v, one, vnames, vdates = _series(name, x, date_order=rdates is None)
    if vdates is not None and rdates is not None:
        pos = np.searchsorted(vdates, rdates)
        found = (pos < len(vdates)) & (vdates[np.minimum(pos, len(vdates) - 1)] == rdates)
        if not found.all():
            miss = rdates[~found]
            raise ValueError(
                f"{name} has no row for {miss.size} of the returns' dates, e.g. "
                f"{[str(d) for d in miss[:3]]}; it must cover every date of returns"
            )
        v = v[pos]
        if v.shape[1] > 1 and rnames is not None and vnames is not None:
            v = _on_names(name, v, vnames, rnames)
    return v, one, vnames


def _given_dates(dates: Any, fd: np.ndarray | None, returns: Any = None) -> Any:
    """The dates of the periods: ``dates`` or those of the returns (a frame's, or the index of a
    pandas object indexed by date); when both are given they must agree."""
    if fd is None:
        return dates
    if dates is not None:
        d = as_dates("dates", dates, len(fd))
        if not np.array_equal(d, fd):
            if is_date_indexed(returns):
                raise ValueError(
                    "dates disagrees with the index of returns (a pandas object indexed by date, "
                    "read in its order); leave dates out to use its index"
                )
            raise ValueError(
                "dates disagrees with the dates of the returns frame (its rows come out in date "
                "order); leave dates out to use the frame's"
            )
    return fd


def _ppy(v: Any) -> float:
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real) or not np.isfinite(v) or v <= 0:
        raise ValueError(f"periods_per_year must be a positive number, got {v!r}")
    return float(v)


def _out(v: np.ndarray, one: bool):
    return float(v[0]) if one else v


def _nanmean(x: np.ndarray) -> np.ndarray:
    n = np.sum(np.isfinite(x), axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, np.nansum(x, axis=0) / n, np.nan)


def _root_mean_square(ss: np.ndarray, d: np.ndarray, n: np.ndarray) -> np.ndarray:
    """``sqrt(ss / n)`` for ``ss`` (S,) the column sums of ``d * d`` (``d`` (T, S), NaN or 0 where
    missing). A column whose sum is below 1e-270, or beyond float64, may have had its squares
    underflow (returns around 1e-160: a volatility of 0, a Sharpe ratio of ±inf) or overflow: it
    is summed again scaled by a power of two (exact) and scaled back."""
    out = np.sqrt(ss / n)
    redo = np.flatnonzero(~(ss >= 1e-270) | np.isinf(ss))
    if redo.size:
        amax = np.nanmax(np.abs(d[:, redo]), axis=0, initial=0.0) if d.shape[0] else np.zeros(redo.size)
        e = np.where((amax > 0) & np.isfinite(amax), np.frexp(amax)[1], 0)
        dk = np.ldexp(d[:, redo], -e)
        out[redo] = np.ldexp(np.sqrt(np.nansum(dk * dk, axis=0) / n[redo]), e)
    return out


def _nanstd(x: np.ndarray, zero_dispersion: bool = True) -> np.ndarray:
    """Standard deviation (ddof 1) over the finite values. With ``zero_dispersion`` a constant
    series has 0 (empyrical's rule for the ratios: the rounding noise of a constant series is not
    dispersion); empyrical's ``annual_volatility`` keeps the raw value."""
    fin = np.isfinite(x)
    n = fin.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        m = np.where(n > 0, np.where(fin, x, 0.0).sum(axis=0) / n, np.nan)
        d = np.where(fin, x - m, 0.0)
        sd = _root_mean_square((d * d).sum(axis=0), d, n - 1)
        xmax = np.where(fin, x, -np.inf).max(axis=0) if x.shape[0] else np.full(x.shape[1:], -np.inf)
        xmin = np.where(fin, x, np.inf).min(axis=0) if x.shape[0] else np.full(x.shape[1:], np.inf)
    sd = np.where(n < 2, np.nan, sd)
    if not zero_dispersion:
        return sd
    return np.where((xmax == xmin) & np.isfinite(sd), 0.0, sd)


# ---------------------------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------------------------


#: A compounded product of T factors ``1 + r`` carries a rounding error of up to about
#: ``T · ε`` (each ``1 + r`` keeps only the digits of ``r`` above ``ε``); where that exceeds
#: ``PRODUCT_RTOL`` of the compounded return itself (returns of ~1e-8 a day, or gains and losses
#: that nearly cancel) the metric is computed again without forming ``1 + r``.
PRODUCT_RTOL = 1e-10


def _imprecise(value: np.ndarray, t: int) -> np.ndarray:
    """Where a compounded return (or drawdown) ``value`` from a product of ``t`` factors may have
    lost more than ``PRODUCT_RTOL`` of itself to rounding (see ``PRODUCT_RTOL``)."""
    return np.abs(value) < t * np.finfo(np.float64).eps / PRODUCT_RTOL


def _annual_return(r: np.ndarray, ppy: float) -> np.ndarray:
    t = r.shape[0]
    if t < 1:
        return np.full(r.shape[1], np.nan)
    g = 1.0 + np.where(np.isnan(r), 0.0, r)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        growth = np.prod(g, axis=0)
        out = growth ** (ppy / t) - 1.0
        # a product that overflows (or underflows) float64 although its annualised value does
        # not (e.g. 10 years of large returns): the same value from the sum of logs; and one
        # close to 1 (small returns), whose rounding is a large part of growth − 1: the sum of
        # log1p(r) (pairwise, relative to each r) and expm1 keep the digits 1 + r drops
        bad = ~np.isfinite(growth) | ((growth == 0) & np.all(g != 0, axis=0)) | _imprecise(growth - 1.0, t)
        if bad.any():
            idx = np.flatnonzero(bad)
            fix = idx[np.all(g[:, idx] > 0, axis=0)]
            logs = np.sum(np.log1p(np.nan_to_num(r[:, fix], nan=0.0)), axis=0)
            out[fix] = np.expm1(logs * (ppy / t))
    return out


def annual_return(returns: Any, periods_per_year: float = PERIODS_PER_YEAR):
    """Geometric annual return ``(Π(1 + r))^(P/T) − 1`` ((T,) → float, (T, S) → (S,))."""
    r, one, _, rd = _returns("returns", returns)
    ppy = _ppy(periods_per_year)
    _check_spacing(rd, ppy)
    return _out(_annual_return(r, ppy), one)


def _annual_volatility(r: np.ndarray, ppy: float) -> np.ndarray:
    return _nanstd(r, zero_dispersion=False) * np.sqrt(ppy)


def annual_volatility(returns: Any, periods_per_year: float = PERIODS_PER_YEAR):
    """Annualised volatility ``std(r, ddof=1) · √P``."""
    r, one, _, rd = _returns("returns", returns)
    ppy = _ppy(periods_per_year)
    _check_spacing(rd, ppy)
    return _out(_annual_volatility(r, ppy), one)


def _sharpe(r: np.ndarray, rf: np.ndarray | None, ppy: float) -> np.ndarray:
    if r.shape[0] < 2:
        return np.full(r.shape[1], np.nan)
    x = r if rf is None else r - rf
    with np.errstate(invalid="ignore", divide="ignore"):
        return _nanmean(x) / _nanstd(x) * np.sqrt(ppy)


def sharpe_ratio(returns: Any, risk_free: Any = 0.0, periods_per_year: float = PERIODS_PER_YEAR):
    """Annualised Sharpe ratio ``mean(r − rf) / std(r − rf, ddof=1) · √P``; ``risk_free`` a
    per-period rate: a number, a (T,) series or (T, S)."""
    r, one, names, rd = _returns("returns", returns, risk_free)
    rf = None if (isinstance(risk_free, numbers.Real) and risk_free == 0) else \
        _other("risk_free", risk_free, r, rd, names)
    ppy = _ppy(periods_per_year)
    _check_spacing(rd, ppy)
    return _out(_sharpe(r, rf, ppy), one)


def _sortino(r: np.ndarray, req: np.ndarray | None, ppy: float) -> np.ndarray:
    if r.shape[0] < 2:
        return np.full(r.shape[1], np.nan)
    x = r if req is None else r - req
    down = np.minimum(x, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        n = np.sum(np.isfinite(down), axis=0)
        dr = np.where(n > 0, _root_mean_square(np.nansum(down * down, axis=0), down, n), np.nan) * np.sqrt(ppy)
        return _nanmean(x) * ppy / dr


def sortino_ratio(returns: Any, required_return: Any = 0.0, periods_per_year: float = PERIODS_PER_YEAR):
    """Annualised Sortino ratio: ``mean(r − req) · P`` over the annualised downside deviation
    ``√mean(min(r − req, 0)²) · √P`` (all periods in the mean)."""
    r, one, names, rd = _returns("returns", returns, required_return)
    req = None if (isinstance(required_return, numbers.Real) and required_return == 0) else \
        _other("required_return", required_return, r, rd, names)
    ppy = _ppy(periods_per_year)
    _check_spacing(rd, ppy)
    return _out(_sortino(r, req, ppy), one)


def _max_drawdown(r: np.ndarray) -> np.ndarray:
    if r.shape[0] < 1:
        return np.full(r.shape[1], np.nan)
    g = 1.0 + np.where(np.isnan(r), 0.0, r)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        wealth = np.cumprod(g, axis=0)
        peak = np.maximum(np.maximum.accumulate(wealth, axis=0), 1.0)
        out = np.nanmin((wealth - peak) / peak, axis=0)
    bad = ~np.isfinite(wealth).all(axis=0) | ~np.isfinite(out) | _imprecise(out, r.shape[0])
    flat = np.flatnonzero(bad & (out == 0))
    if flat.size:  # (a series that never loses has no drawdown: nothing to follow)
        bad[flat[~np.any(r[:, flat] < 0, axis=0)]] = False
    if bad.any():
        # the wealth path overflowed, or the drawdown is small enough for the rounding of the
        # path (≈ T·ε) to be a large part of it: follow the drawdown from the running peak
        # instead, d_t = W_t / P_t − 1 = min(0, d_{t-1} (1 + r_t) + r_t), which stays within the
        # drawdown's own range and keeps the digits of small returns that 1 + r drops (a −100 %
        # return gives exactly −1, and a wealth of 0 stays 0: d = −1 is kept as it is)
        d = np.zeros(int(bad.sum()))
        worst = np.zeros_like(d)
        with np.errstate(over="ignore", invalid="ignore"):
            for row, grow in zip(np.nan_to_num(r[:, bad], nan=0.0), g[:, bad]):
                d = np.where(d == -1.0, -1.0, np.minimum(d * grow + row, 0.0))
                np.minimum(worst, d, out=worst)
        out[bad] = worst
    return out


def max_drawdown(returns: Any):
    """Maximum drawdown (≤ 0) of the wealth path started at 1 before the first period."""
    r, one, _, _ = _returns("returns", returns)
    return _out(_max_drawdown(r), one)


def _calmar(ann: np.ndarray, mdd: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        c = np.where(mdd < 0, ann / np.abs(mdd), np.nan)
    return np.where(np.isinf(c), np.nan, c)


def calmar_ratio(returns: Any, periods_per_year: float = PERIODS_PER_YEAR):
    """``annual_return / |max_drawdown|``; NaN without a drawdown."""
    r, one, _, rd = _returns("returns", returns)
    ppy = _ppy(periods_per_year)
    _check_spacing(rd, ppy)
    return _out(_calmar(_annual_return(r, ppy), _max_drawdown(r)), one)


def tracking_error(returns: Any, benchmark: Any, periods_per_year: float = PERIODS_PER_YEAR):
    """Annualised tracking error ``std(r − b, ddof=1) · √P``; ``benchmark`` (T,) shared by all
    series, or (T, S)."""
    r, one, names, rd = _returns("returns", returns, benchmark)
    b = _other("benchmark", benchmark, r, rd, names)
    ppy = _ppy(periods_per_year)
    _check_spacing(rd, ppy)
    return _out(_annual_volatility(r - b, ppy), one)


def information_ratio(returns: Any, benchmark: Any, periods_per_year: float = PERIODS_PER_YEAR):
    """Annualised information ratio ``mean(r − b) / std(r − b, ddof=1) · √P`` (empyrical's
    per-period ``excess_sharpe`` × √P)."""
    r, one, names, rd = _returns("returns", returns, benchmark)
    b = _other("benchmark", benchmark, r, rd, names)
    ppy = _ppy(periods_per_year)
    _check_spacing(rd, ppy)
    return _out(_sharpe(r - b, None, ppy), one)


def _month_ids(name: str, dates: Any, t: int) -> np.ndarray:
    # datetime64 / datetime.date / ISO strings, strictly increasing, one per period; never
    # integers (20240102 is not a day number) nor a guessed text format
    d = as_dates(name, dates, t)
    return d.astype("datetime64[M]").astype(np.int64)


def _monthly_win_rate(r: np.ndarray, months: np.ndarray) -> np.ndarray:
    if r.shape[0] == 0:
        return np.full(r.shape[1], np.nan)
    starts = np.flatnonzero(np.r_[True, months[1:] != months[:-1]])
    growth = np.multiply.reduceat(1.0 + np.where(np.isnan(r), 0.0, r), starts, axis=0)
    return np.mean(growth - 1.0 > 0, axis=0)


def monthly_win_rate(returns: Any, dates: Any = None):
    """Share of calendar months with a positive compounded return (``dates`` (T,), or a Polars
    frame with a ``date`` column, or a pandas Series or DataFrame indexed by date, in date order,
    as ``returns``)."""
    r, one, _, fd = _returns("returns", returns)
    dates = _given_dates(dates, fd, returns)
    if dates is None:
        raise ValueError(
            "monthly_win_rate needs dates (or a Polars frame with a 'date' column, or a pandas "
            "Series indexed by date)"
        )
    return _out(_monthly_win_rate(r, _month_ids("dates", dates, r.shape[0])), one)


# ---------------------------------------------------------------------------------------------
# The results table
# ---------------------------------------------------------------------------------------------

_METRICS = (
    "annual_return", "annual_volatility", "sharpe_ratio", "sortino_ratio", "max_drawdown",
    "calmar_ratio", "monthly_win_rate", "information_ratio", "tracking_error",
    "average_turnover", "average_cost",
)

_LABELS = {
    "annual_return": "Annualized Return", "annual_volatility": "Annualized Volatility",
    "sharpe_ratio": "Sharpe Ratio", "sortino_ratio": "Sortino Ratio", "max_drawdown": "Max Drawdown",
    "calmar_ratio": "Calmar Ratio", "monthly_win_rate": "Win Rate (monthly)",
    "information_ratio": "Information Ratio", "tracking_error": "Tracking Error",
    "average_turnover": "Average Turnover (per period)", "average_cost": "Average Cost (per period)",
}


class MetricsSummary(Result):
    """Performance table of S series (result of :func:`ferrofactor.metrics.summary`).

    One (S,) array per metric (axis ``series``): ``annual_return``, ``annual_volatility``,
    ``sharpe_ratio``, ``sortino_ratio``, ``max_drawdown``, ``calmar_ratio``, and, when their
    inputs were given, ``monthly_win_rate`` (dates), ``information_ratio`` and
    ``tracking_error`` (benchmark), ``average_turnover`` (turnover), ``average_cost`` (costs);
    the others are None. ``summary()`` lays them out as the seed's results table (one row per
    metric, one column per series); ``to_polars()`` gives one row per series.
    """

    _arrays = {m: ("series",) for m in _METRICS}
    _default_kind = "table"

    def __init__(self, values: dict[str, np.ndarray | None], names: list[str] | None,
                 periods_per_year: float, n_periods: int) -> None:
        self._values = {m: readonly(values.get(m)) for m in _METRICS}
        self._names = names
        self._ppy = periods_per_year
        self._n_periods = n_periods

    def _axis_labels(self, axis: str) -> Any:
        if axis == "series":
            return self._names
        return super()._axis_labels(axis)

    @property
    def _groups(self) -> dict[str, tuple[str, ...]]:  # type: ignore[override]
        return {"table": tuple(m for m in _METRICS if self._values[m] is not None)}

    @property
    def kinds(self) -> list[str]:
        return [m for m in _METRICS if self._values[m] is not None] + ["table"]

    series_names = property(lambda self: None if self._names is None else list(self._names),
                            doc="(S,) series names (a copy), or None.")
    periods_per_year = property(lambda self: self._ppy)
    n_periods = property(lambda self: self._n_periods, doc="Periods (T) of the series.")

    def summary(self) -> Summary:
        """The seed's results table: one row per metric, one column per series."""
        present = [m for m in _METRICS if self._values[m] is not None]
        s = len(next(iter(self._values[m] for m in present)))
        cols = self._names if self._names is not None else (["value"] if s == 1 else [f"series {i}" for i in range(s)])
        # the column of metric labels is "Metric", unless a series has that name (it must not
        # overwrite the labels)
        label = "Metric"
        while label in {str(c) for c in cols}:
            label = "_" + label
        data: dict[str, Any] = {label: [_LABELS[m] for m in present]}
        for j, c in enumerate(cols):
            data[str(c)] = [float(self._values[m][j]) for m in present]
        header = [("Periods", self._n_periods), ("Periods per year", f"{self._ppy:g}"), ("Series", s)]
        notes = ["Definitions as empyrical's; returns, volatility, drawdown and costs as decimals."]
        # four decimals, as the seed's table; a column with a value that would then print as
        # 0.0000 though it is not 0 (a backtest's average cost, ~2e-5 per day at 5 bps) is in
        # scientific notation, the whole column (one format per column)
        return Summary("Performance", header, [("", pl.DataFrame(data))], notes,
                       formats={str(c): fixed_or_scientific(data[str(c)]) for c in cols})

    def __repr__(self) -> str:
        present = [m for m in _METRICS if self._values[m] is not None]
        return f"MetricsSummary(series={len(self._values[present[0]])}, metrics={present})"


def _make_getter(name: str):
    return property(lambda self: self._values[name], doc=f"(S,) {_LABELS[name]}, or None.")


for _m in _METRICS:
    setattr(MetricsSummary, _m, _make_getter(_m))


class PeriodsPerYearWarning(UserWarning):
    """``periods_per_year`` does not match the spacing of the dates given (e.g. 252 on monthly
    dates): every annualised statistic is then off by a factor (√21 for a Sharpe ratio)."""


def _check_spacing(dates: Any, ppy: float) -> None:
    """Warn when the median spacing of ``dates`` is more than 3× away from the ``365.25 / ppy``
    calendar days that ``periods_per_year`` implies (daily trading dates: 1–1.45 days against
    1.45 at 252; month ends: 30 against 1.45, a factor 21). The dates are known, so this is a
    check, not a guess: nothing is changed."""
    d = np.asarray(dates)
    if d.size < 3 or d.dtype.kind != "M":
        return
    gaps = np.diff(d.astype("datetime64[D]").astype(np.int64))
    gaps = gaps[gaps > 0]
    if gaps.size < 2:
        return
    spacing = float(np.median(gaps))
    implied = 365.25 / ppy
    if spacing > 3 * implied or spacing < implied / 3:
        import warnings

        suggest = min((252, 52, 12, 4, 1), key=lambda p: abs(np.log(365.25 / p / spacing)))
        warnings.warn(
            f"periods_per_year={ppy:g} implies a period of {implied:.3g} days, but the dates are "
            f"{spacing:g} days apart (median): the annualised statistics assume the former "
            f"(pass periods_per_year={suggest} for these dates)", PeriodsPerYearWarning, stacklevel=3)


def summary(
    returns: Any,
    *,
    dates: Any = None,
    benchmark: Any = None,
    risk_free: Any = None,
    turnover: Any = None,
    costs: Any = None,
    periods_per_year: float = PERIODS_PER_YEAR,
) -> MetricsSummary:
    """The results table of one or many return series (vectorised over series).

    Parameters
    ----------
    returns : array_like (T,) or (T, S), Polars frame (``date`` + one column per series), or pandas Series or DataFrame indexed by date
        Periodic simple returns (net of costs if costs were paid). A pandas object indexed by
        date is read in its order, which must be date order (never sorted).
    dates : array_like (T,), optional
        Dates of the periods, for the monthly win rate (a frame's dates, or the index of a
        pandas object, are used by default).
    benchmark : array_like (T,) or (T, S), optional
        Benchmark returns: information ratio and tracking error.
    risk_free : float or array_like (T,), optional
        Per-period risk-free rate for the Sharpe ratio (default 0).
    turnover, costs : array_like (T,) or (T, S), optional
        Per-period turnover and costs (decimals); their means over the finite periods are
        reported.

    ``benchmark``, ``risk_free``, ``turnover`` and ``costs`` may be Polars frames or pandas
    objects indexed by date: they are aligned on the dates of ``returns`` (or on ``dates``
    beside returns without dates), every one of which they must cover; never paired by position.
    periods_per_year : float, default 252

    Returns
    -------
    MetricsSummary

    Examples
    --------
    >>> import numpy as np, ferrofactor as ff
    >>> r = np.random.default_rng(0).normal(0.0005, 0.01, (2520, 3))
    >>> s = ff.metrics.summary(r)
    >>> s.sharpe_ratio.shape
    (3,)
    """
    ppy = _ppy(periods_per_year)
    r, one, names, fd = _returns("returns", returns, benchmark, risk_free, turnover, costs)
    # a Polars frame or a pandas input indexed by date is aligned on the returns' dates, else
    # on dates=
    given = as_dates("dates", dates, r.shape[0]) if fd is None and dates is not None and any(
        is_date_indexed(x) or _is_polars_frame(x) for x in (benchmark, risk_free, turnover, costs)) else None
    v: dict[str, np.ndarray | None] = {}
    ann = _annual_return(r, ppy)
    mdd = _max_drawdown(r)
    rf = None if risk_free is None or (isinstance(risk_free, numbers.Real) and risk_free == 0) else \
        _other("risk_free", risk_free, r, fd, names, given)
    v.update(annual_return=ann, annual_volatility=_annual_volatility(r, ppy), sharpe_ratio=_sharpe(r, rf, ppy),
             sortino_ratio=_sortino(r, None, ppy), max_drawdown=mdd, calmar_ratio=_calmar(ann, mdd))
    dates = _given_dates(dates, fd, returns)
    if dates is not None:
        v["monthly_win_rate"] = _monthly_win_rate(r, _month_ids("dates", dates, r.shape[0]))
        _check_spacing(dates, ppy)
    if benchmark is not None:
        b = _other("benchmark", benchmark, r, fd, names, given)
        v["information_ratio"] = _sharpe(r - b, None, ppy)
        v["tracking_error"] = _annual_volatility(r - b, ppy)
    for key, arg, x in (("average_turnover", "turnover", turnover), ("average_cost", "costs", costs)):
        if x is not None:
            xv = _other(arg, x, r, fd, names, given)  # (its errors name the argument)
            v[key] = _nanmean(np.asarray(xv))
    return MetricsSummary(v, names, ppy, r.shape[0])
