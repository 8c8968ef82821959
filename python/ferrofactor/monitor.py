"""Monitoring alerts as data (seed 000's ``FactorMonitor``), never printed.

Every check returns a Polars frame with one row per alert and a fixed schema:

=========  ======================================================================
date       the date the condition holds (``Date``; ``Int64`` positions without dates)
kind       ``factor_decay_negative``, ``factor_decay_mean``, ``turnover``, ``position``,
           ``top5``, ``risk_bias``, ``solver``, ``coverage``
subject    what it is about (a factor, a book, a portfolio; a position: ``<book>/<asset>``)
value      the measured value
threshold  the threshold it crossed (NaN where the check has none, e.g. a solver status)
message    one readable line
=========  ======================================================================

Each threshold is a parameter whose default is the seed's value (seed 000): 30-day lookback,
70 % negative days, the last 5 days' mean below the lookback mean minus 2 standard deviations,
turnover above 50 % of the portfolio, a position above 10 %, the top five above 40 %. The seed
gives no number for the risk-model bias band (the band of the bias test, ``1 ± sqrt(2/n)``, is
used), nor for coverage (a drop of 20 % below the mean of the previous 21 dates).

Time: a check at date ``t`` uses values up to ``t`` only.

Labels: every check takes arrays or Polars frames (long, or wide: a ``date`` column plus one
column per factor / asset / portfolio), as the rest of the library does. A frame's dates date the
alerts and its columns name the subjects; its ``date`` column is never read as data. Values are
finite or NaN (= missing): infinite values and thresholds are refused with a ``ValueError``.

Examples
--------
>>> import numpy as np, ferrofactor as ff
>>> ff.monitor.turnover(np.array([0.2, 0.7]), subject="book")["message"].to_list()
['book: turnover 70.0% exceeds threshold 50.0%']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import polars as pl

from ferrofactor._validate import (
    _is_polars_frame,
    _is_polars_series,
    _refuse_containers,
    as_array,
    as_field,
    as_float_array,
    as_names,
    by_date,
    by_label,
    check_bool,
    check_int,
    check_real,
    check_same_labels,
    is_date_indexed,
    values_by_label,
)

__all__ = [
    "SCHEMA",
    "concat",
    "concentration",
    "coverage",
    "empty",
    "factor_decay",
    "risk_bias",
    "solver",
    "turnover",
]

KINDS = ("factor_decay_negative", "factor_decay_mean", "turnover", "position", "top5", "risk_bias",
         "solver", "coverage")


def SCHEMA(dated: bool = True) -> dict[str, Any]:
    """The alert frame's schema (``date`` is ``Date``, or ``Int64`` positions without dates)."""
    dated = check_bool("dated", dated)
    return {"date": pl.Date if dated else pl.Int64, "kind": pl.String, "subject": pl.String,
            "value": pl.Float64, "threshold": pl.Float64, "message": pl.String}


def empty(dated: bool = True) -> pl.DataFrame:
    """An alert frame without alerts."""
    return pl.DataFrame(schema=SCHEMA(check_bool("dated", dated)))


def _frame(dates: Any, when: np.ndarray, kind: Any, subject: Any, value: Any, threshold: Any,
           message: list[str]) -> pl.DataFrame:
    n = len(message)
    dated = dates is not None
    if dated:
        d = np.asarray(dates, dtype="datetime64[D]")[when] if n else np.array([], dtype="datetime64[D]")
    else:
        d = np.asarray(when, dtype=np.int64)
    def col(x: Any) -> list:
        return list(x) if isinstance(x, (list, tuple, np.ndarray)) else [x] * n
    return pl.DataFrame(
        {"date": pl.Series(d), "kind": col(kind), "subject": [str(s) for s in col(subject)],
         "value": np.asarray(col(value), dtype=float), "threshold": np.asarray(col(threshold), dtype=float),
         "message": message},
        schema=SCHEMA(dated),
    )


def _labels(name: str, dates: Any, n: int) -> np.ndarray | None:
    """Date labels (n,) as datetime64[D], or None for integer positions (kept by :func:`_when`)."""
    if dates is None:
        return None
    d = as_array(name, dates)
    if d.shape != (n,):
        raise ValueError(f"{name} has shape {d.shape}, expected ({n},) (one label per row)")
    if d.dtype.kind in "iu":
        return None
    from ferrofactor.panel import _as_dates

    try:  # as every date argument: never a guessed format, never a timestamp cut to its day
        return _as_dates(name, dates if isinstance(dates, pl.Series) else d, check_range=False)
    except TypeError:
        raise ValueError(f"{name} could not be read as dates (datetime64, ISO strings or integer positions)") from None


def _labelled(name: str, x: Any, dates: Any, labels: Any, labels_arg: str, *,
              vector: bool = True, date_order: bool = False) -> tuple[np.ndarray, Any, Any]:
    """A checked input as ``(values (T, K), dates, labels)``, the way the rest of the library
    reads fields (:func:`ferrofactor._validate.as_field`).

    A Polars frame (wide: ``date`` plus one column per subject; long: ``date``, ``asset``, one
    value column) gives its dates and its column (asset) names: its ``date`` column is never read
    as values. Explicit ``dates`` / ``labels`` given with a frame must equal the frame's (labels
    are matched, never replaced). An array (or a Polars Series) is ``(T, K)``, or ``(T,)`` read
    as one column when ``vector``; infinite values are refused (NaN = missing). A pandas Series
    or DataFrame indexed by date gives its dates (:func:`_indexed_by_date`); a pandas DataFrame's
    named columns (not a default ``RangeIndex``) name the subjects, as a frame's do.
    """
    cols = None
    if type(x).__name__ == "DataFrame" and type(x).__module__.startswith("pandas"):
        c = x.columns
        if type(c).__name__ != "RangeIndex":  # named columns name the subjects
            cols = [str(a) for a in c.tolist()]
    if is_date_indexed(x):
        x, dates = _indexed_by_date(name, x, dates)
    if _is_polars_frame(x):
        v, fdates, fnames = as_field(name, x, date_order=date_order)
        T, K = v.shape
        if dates is not None:
            d = _labels("dates", dates, T)
            if d is None:
                raise ValueError(f"{name} is a frame with dates; dates= must be the same dates or omitted, "
                                 "got integer positions")
            check_same_labels("dates", d, None, name, fdates, None)
        names = [str(a) for a in fnames.tolist()]
        out, dates, labels = v, fdates, _columns_as_labels(name, names, labels, labels_arg)
    else:
        _refuse_containers(name, x)
        if _is_polars_series(x):
            x = x.to_numpy()
        arr = as_array(name, x)
        if vector and arr.ndim == 1:
            arr = arr[:, None]
        out = as_float_array(name, arr, 2)
        if cols is not None:
            labels = _columns_as_labels(name, cols, labels, labels_arg)
    if np.isinf(out).any():
        raise ValueError(f"{name} must not contain infinite values ({int(np.isinf(out).sum())} found; "
                         "NaN = missing)")
    return out, dates, labels


def _columns_as_labels(name: str, cols: list[str], labels: Any, labels_arg: str) -> list[str]:
    """A frame's column names as the subjects' labels; ``labels`` given beside it must equal them
    (matched, never replaced)."""
    if labels is not None and as_names(labels_arg, labels, len(cols)) != cols:
        raise ValueError(f"{labels_arg} {list(labels)!r} differ from the columns of {name} {cols!r}; "
                         "omit it (a frame names its own columns) or rename the columns")
    return cols


def _indexed_by_date(name: str, x: Any, dates: Any) -> tuple[np.ndarray, np.ndarray]:
    """A pandas Series or DataFrame indexed by date as ``(values, dates)``: its index labels the
    alerts (read in its order, which must be date order: never sorted); explicit ``dates`` must
    equal it (never replace it)."""
    values, own = by_date(name, x)
    if dates is not None:
        d = _labels("dates", dates, len(own))
        if d is None:
            raise ValueError(f"{name} is indexed by date; dates= must be the same dates or omitted, "
                             "got integer positions")
        check_same_labels("dates", d, None, name, own, None)
    return values, own


def _when(d: np.ndarray | None, dates: Any, rows: np.ndarray) -> np.ndarray:
    """Positions to report without date labels: the given integer labels, else the rows."""
    if d is None and dates is not None:
        return np.asarray(dates, dtype=np.int64)[rows]
    return rows


def concat(frames: Sequence[pl.DataFrame]) -> pl.DataFrame:
    """Alert frames in one, sorted by date then kind (empty frames of either date type skipped)."""
    if isinstance(frames, (str, bytes, pl.DataFrame)) or not isinstance(frames, Sequence):
        raise TypeError(f"frames must be a sequence of alert frames, got {type(frames).__name__}")
    frames = list(frames)
    for i, f in enumerate(frames):
        if not isinstance(f, pl.DataFrame) or f.columns != list(SCHEMA()):
            raise TypeError(f"frames[{i}] is not an alert frame (columns {list(SCHEMA())}), got {type(f).__name__}")
    full = [f for f in frames if f.height]
    if len({f.schema["date"] for f in full}) > 1:
        raise ValueError("frames mix dated alerts (Date) and undated ones (Int64 positions); give every check dates")
    if not full:
        return frames[0].clear() if frames else empty()
    out = pl.concat(full, how="vertical")
    return out.sort(["date", "kind", "subject"], maintain_order=True)


# ---------------------------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------------------------


def factor_decay(factor_returns: Any, *, lookback: int = 30, negative_share: float = 0.7,
                 recent: int = 5, n_std: float = 2.0, dates: Any = None, names: Any = None,
                 last_only: bool = False) -> pl.DataFrame:
    """Factor decay, on every date with a full window (seed 000's ``check_factor_decay``).

    Over the last ``lookback`` returns of each factor up to date ``t`` (all finite):
    ``factor_decay_negative`` when the share of negative returns exceeds ``negative_share``;
    ``factor_decay_mean`` when the mean of the last ``recent`` returns is below the window's mean
    minus ``n_std`` standard deviations (ddof=1, as pandas).

    Parameters
    ----------
    factor_returns : array (T,) or (T, K), a Polars frame (``date`` plus one column per factor,
        or long), a pandas Series or DataFrame indexed by date (its index gives the dates; in
        date order, never sorted), or a result with ``factor_returns`` (a
        :class:`ferrofactor.FactorModelResult`): the frame's or result's dates and factor names
        are used. Infinite values are refused.
    lookback : int, default 30
    negative_share : float, default 0.7
    recent : int, default 5
        At most ``lookback``.
    n_std : float, default 2.0
    dates : (T,) labels, optional
        With a frame: omitted, or equal to the frame's dates.
    names : K factor names, optional
        With a frame: omitted, or equal to its column names.
    last_only : bool, default False
        Only check the last date (a live monitor).
    """
    if hasattr(factor_returns, "factor_returns"):
        res = factor_returns
        factor_returns = res.factor_returns
        dates = getattr(res, "dates", None) if dates is None else dates
        names = getattr(res, "factor_names", None) if names is None else names
    x, dates, names = _labelled("factor_returns", factor_returns, dates, names, "names")
    T, K = x.shape
    lookback = check_int("lookback", lookback, 2)
    recent = check_int("recent", recent, 1, lookback)
    negative_share = check_real("negative_share", negative_share, lo=0.0, hi=1.0)
    n_std = check_real("n_std", n_std, lo=0.0)
    last_only = check_bool("last_only", last_only)
    names = [f"factor_{k}" for k in range(K)] if names is None else as_names("names", names, K)
    d = _labels("dates", dates, T)
    if T < lookback:
        return _frame(d, np.zeros(0, dtype=np.int64), "factor_decay_negative", [], [], [], [])
    win = np.lib.stride_tricks.sliding_window_view(x, lookback, axis=0)  # (T-L+1, K, L)
    full = np.isfinite(win).all(axis=2)
    neg = (win < 0).sum(axis=2) / lookback
    mean = win.mean(axis=2)
    sd = win.std(axis=2, ddof=1)
    rmean = win[:, :, lookback - recent:].mean(axis=2)
    limit = mean - n_std * sd
    t0 = lookback - 1
    a_neg = full & (neg > negative_share)
    a_mean = full & (rmean < limit)
    if last_only:
        a_neg[:-1] = False
        a_mean[:-1] = False
    out = []
    for kind, mask, val, thr in (("factor_decay_negative", a_neg, neg, None), ("factor_decay_mean", a_mean, rmean, limit)):
        ii, kk = np.nonzero(mask)
        rows = ii + t0
        v = val[ii, kk]
        th = np.full(len(ii), negative_share) if thr is None else thr[ii, kk]
        if kind == "factor_decay_negative":
            msg = [f"{names[k]}: negative on {int(round(a * lookback))}/{lookback} days ({a:.0%} > {negative_share:.0%})"
                   for k, a in zip(kk.tolist(), v.tolist())]
        else:
            msg = [f"{names[k]}: mean of the last {recent} days {a:.4g} is below the {lookback}-day mean "
                   f"minus {n_std:g} std ({b:.4g})" for k, a, b in zip(kk.tolist(), v.tolist(), th.tolist())]
        out.append(_frame(d, _when(d, dates, rows), kind, [names[k] for k in kk.tolist()], v, th, msg))
    return concat(out)


def turnover(turnover: Any, *, threshold: float = 0.5, dates: Any = None, subject: str | None = None) -> pl.DataFrame:
    """Turnover above ``threshold`` (seed 000's ``check_turnover``: traded value / portfolio value).

    Parameters
    ----------
    turnover : array (D,), Polars Series, a Polars frame with ``date`` and one value column, or a pandas Series indexed by date
        Traded value over the portfolio value at each date (two-sided, seed 000's measure; a
        backtest's one-sided ``turnover`` is half of it). NaN = no trade (skipped); infinite
        values are refused. A pandas index gives the dates (in date order, never sorted).
    threshold : float, default 0.5
        Finite.
    dates : (D,) labels, optional
        With a frame: omitted, or equal to the frame's dates.
    subject : str, optional
        Default: the frame's value column, else "portfolio".
    """
    if _is_polars_frame(turnover):
        x, dates, cols = _labelled("turnover", turnover, dates, None, "subject")
        if x.shape[1] != 1:
            raise ValueError(f"turnover must be one series: a frame with a date column and one value column, "
                             f"got {x.shape[1]} columns {cols[:5]!r}")
        v = x[:, 0]
        subject = cols[0] if subject is None else subject
    else:
        if _is_polars_series(turnover):
            turnover = turnover.to_numpy()
        if is_date_indexed(turnover):  # its index labels the alerts
            turnover, dates = _indexed_by_date("turnover", turnover, dates)
        v = as_float_array("turnover", turnover, 1)
        if np.isinf(v).any():
            raise ValueError(f"turnover must not contain infinite values ({int(np.isinf(v).sum())} found; "
                             "NaN = no trade)")
    subject = "portfolio" if subject is None else str(subject)
    threshold = check_real("threshold", threshold, lo=0.0)
    d = _labels("dates", dates, len(v))
    rows = np.flatnonzero(v > threshold)
    msg = [f"{subject}: turnover {x:.1%} exceeds threshold {threshold:.1%}" for x in v[rows].tolist()]
    return _frame(d, _when(d, dates, rows), "turnover", subject, v[rows], threshold, msg)


def concentration(weights: Any, *, max_position: float = 0.10, top5_share: float = 0.40, dates: Any = None,
                  assets: Any = None, subject: str = "portfolio") -> pl.DataFrame:
    """Position concentration (seed 000's ``check_concentration``), on absolute weights.

    ``position``: an asset whose ``|weight|`` exceeds ``max_position`` (subject =
    ``"<subject>/<asset>"``: the book and the asset, so that alerts of several books stacked in
    one frame stay apart); ``top5``: the five largest ``|weight|`` add up to more than
    ``top5_share`` (subject = ``subject``). For long-only books this is the seed's check exactly;
    for long-short books a large short counts as a concentration too.

    Parameters
    ----------
    weights : array (N,) or (D, N), or a Polars frame (``date`` plus one column per asset, or
        long): its dates and assets label the alerts. NaN = not held; infinite values are refused.
        A pandas DataFrame (D, N) indexed by date has its index date the alerts (in date order).
        One book may also be given by asset, a mapping ``{asset: weight}`` or a pandas Series
        indexed by asset: its labels name the assets, or, with ``assets``, are paired with them
        by label (never by position; every asset given).
    max_position : float, default 0.10
    top5_share : float, default 0.40
    dates : (D,) labels, optional
        With a frame: omitted, or equal to the frame's dates.
    assets : (N,) labels, optional
        With a frame: omitted, or equal to its asset columns.
    subject : str, default "portfolio"
        The book's name.
    """
    if _is_polars_frame(weights):
        w, dates, assets = _labelled("weights", weights, dates, assets, "assets")
    elif is_date_indexed(weights) and not _is_polars_series(weights) and np.ndim(weights) == 2:
        # a pandas DataFrame (D, N) indexed by date: its index dates the alerts
        w, dates, assets = _labelled("weights", weights, dates, assets, "assets", vector=False)
    else:
        _refuse_containers("weights", weights)
        if _is_polars_series(weights):
            weights = weights.to_numpy()
        weights = by_label("weights", weights)  # a pandas Series indexed by asset: by label
        if isinstance(weights, Mapping):
            if assets is None:  # its labels name the assets
                assets = [str(k) for k in weights]
                weights = [np.nan if v is None else v for v in weights.values()]
            else:
                weights = values_by_label("weights", weights, as_names("assets", assets, np.size(assets)),
                                          of="assets=")
        w0 = as_array("weights", weights)
        w, dates, assets = _labelled("weights", w0[None] if w0.ndim == 1 else w0, dates, assets, "assets",
                                     vector=False)
    D, N = w.shape
    subject = str(subject)
    max_position = check_real("max_position", max_position, lo=0.0)
    top5_share = check_real("top5_share", top5_share, lo=0.0)
    names = [f"asset_{i}" for i in range(N)] if assets is None else as_names("assets", assets, N)
    d = _labels("dates", dates, D)
    a = np.abs(np.nan_to_num(w, nan=0.0))
    ii, jj = np.nonzero(a > max_position)
    msg = [f"{subject}: {names[j]} position {w[i, j]:.1%} exceeds limit {max_position:.1%}"
           for i, j in zip(ii.tolist(), jj.tolist())]
    f1 = _frame(d, _when(d, dates, ii), "position", [f"{subject}/{names[j]}" for j in jj.tolist()], w[ii, jj],
                max_position, msg)
    k = min(5, N)
    top = -np.sort(-a, axis=1)[:, :k].sum(axis=1) if N else np.zeros(D)
    rows = np.flatnonzero(top > top5_share)
    msg = [f"{subject}: top 5 positions account for {x:.1%} of the portfolio (limit {top5_share:.1%})"
           for x in top[rows].tolist()]
    f2 = _frame(d, _when(d, dates, rows), "top5", subject, top[rows], top5_share, msg)
    return concat([f1, f2])


def risk_bias(bias: Any, *, band: tuple[float, float] | None = None, dates: Any = None,
              names: Any = None) -> pl.DataFrame:
    """A risk model out of its bias band.

    Parameters
    ----------
    bias : BiasResult (:func:`ferrofactor.evaluate.bias_statistic`), array (P,) / (T, P), or a
        Polars frame (rolling: ``date`` plus one column per portfolio)
        Bias statistics (whole sample, or rolling with dates). A result is rolling when it has a
        ``window``: a rolling result of one portfolio (bias of shape (T,)) is read as (T, 1). A
        plain array is rolling when 2-d; a pandas Series or DataFrame indexed by date is rolling,
        its index giving the dates (in date order, never sorted). Infinite values are refused.
    band : (lower, upper), optional
        Default: the result's own band ``1 ± sqrt(2/n)`` (required for a plain array or frame).
    dates, names : labels of the rows (rolling) and of the portfolios (a frame carries its own:
        omitted, or equal to the frame's).
    """
    lower = upper = None
    if hasattr(bias, "bias") and hasattr(bias, "lower"):
        res = bias
        b = np.asarray(res.bias, dtype=float)
        lower, upper = np.asarray(res.lower, dtype=float), np.asarray(res.upper, dtype=float)
        rolling = getattr(res, "window", None) is not None
        if rolling and b.ndim == 1:  # one portfolio's rolling series: (T,) is (T, 1)
            b, lower, upper = b[:, None], lower[:, None], upper[:, None]
        dates = getattr(res, "dates", None) if dates is None else dates
        if names is None and getattr(res, "_names", None) is not None:
            names = res._names
        if np.isinf(b).any():
            raise ValueError(f"bias must not contain infinite values ({int(np.isinf(b).sum())} found)")
    elif _is_polars_frame(bias):
        b, dates, names = _labelled("bias", bias, dates, names, "names")
        rolling = True
    else:
        _refuse_containers("bias", bias)
        if _is_polars_series(bias):
            bias = bias.to_numpy()
        by_dates = is_date_indexed(bias)
        if by_dates:  # rolling, one row per date of its index (which labels the alerts)
            bias, dates = _indexed_by_date("bias", bias, dates)
        if hasattr(bias, "bias") and hasattr(bias, "standardized"):  # bias_test / minimum_variance_test
            raise TypeError(f"bias is a {type(bias).__name__}; pass its .bias (the BiasResult of its portfolios)")
        b = as_array("bias", bias)
        if b.ndim == 0 and not np.issubdtype(b.dtype, np.number):
            as_float_array("bias", b, 1)  # not an array (a 0-d object array): the TypeError of the other checks
        if b.ndim not in (1, 2):
            raise ValueError(f"bias must be (P,) or (T, P), got shape {b.shape}")
        b = as_float_array("bias", b, b.ndim)
        if np.isinf(b).any():
            raise ValueError(f"bias must not contain infinite values ({int(np.isinf(b).sum())} found)")
        rolling = b.ndim == 2 or by_dates
        if by_dates and b.ndim == 1:  # one portfolio's rolling series: (T,) is (T, 1)
            b = b[:, None]
    if band is not None:
        if isinstance(band, (str, bytes)) or not isinstance(band, Sequence) or len(band) != 2:
            raise TypeError(f"band must be a pair (lower, upper), got {band!r}")
        lo = check_real("band[0]", band[0])
        hi = check_real("band[1]", band[1])
        if lo > hi:
            raise ValueError(f"band must be (lower, upper) with lower <= upper, got {band!r}")
        lower, upper = np.full(b.shape, lo), np.full(b.shape, hi)
    if lower is None:
        raise ValueError("band is required when bias is a plain array")
    b2 = b if rolling else b.reshape(1, -1)
    lo2, hi2 = lower.reshape(b2.shape), upper.reshape(b2.shape)
    D, P = b2.shape
    names = [f"portfolio_{p}" for p in range(P)] if names is None else as_names("names", names, P)
    d = _labels("dates", dates, D) if rolling else None
    out = []
    for side, mask, thr in (("above", np.isfinite(b2) & (b2 > hi2), hi2), ("below", np.isfinite(b2) & (b2 < lo2), lo2)):
        ii, pp = np.nonzero(mask)
        what = "under" if side == "above" else "over"
        msg = [f"{names[p]}: bias statistic {b2[i, p]:.3f} is {side} its band ({thr[i, p]:.3f}): risk "
               f"{what}-forecast" for i, p in zip(ii.tolist(), pp.tolist())]
        out.append(_frame(d, _when(d, dates if rolling else None, ii), "risk_bias",
                          [names[p] for p in pp.tolist()], b2[ii, pp], thr[ii, pp], msg))
    return concat(out)


def solver(statuses: Any, *, dates: Any = None, ok: Sequence[str] = ("optimal",),
           subject: str = "optimizer") -> pl.DataFrame:
    """An infeasible or fallback solve: every status not in ``ok``.

    Parameters
    ----------
    statuses : sequence (D,) of str, or of objects with a ``status`` attribute, a Polars Series,
        or a Polars frame with a ``status`` column (and a ``date`` column that labels the alerts,
        e.g. :attr:`ferrofactor.BacktestResult.solves`)
        E.g. ``"optimal"``, ``"optimal_inaccurate"``, ``"infeasible"``, ``"fallback"`` (seed 000
        falls back to an equal-weight top-N book when the solve fails).
    dates : (D,) labels, optional
        With a frame that has a ``date`` column: omitted, or equal to it.
    ok : statuses that raise no alert, default ("optimal",)
    """
    if _is_polars_frame(statuses):
        frame = statuses.collect() if isinstance(statuses, pl.LazyFrame) else statuses
        if "status" not in frame.columns:
            raise ValueError(f"statuses is a frame without a 'status' column (columns {frame.columns})")
        if "date" in frame.columns:
            # the column itself, not .to_numpy(): a zoned Datetime is read at its wall time
            fd = _labels("statuses['date']", frame["date"], frame.height)
            if fd is None:
                raise ValueError("statuses['date'] must hold dates, got integers")
            if dates is not None:
                d0 = _labels("dates", dates, frame.height)
                if d0 is None:
                    raise ValueError("statuses is a frame with dates; dates= must be the same dates or omitted, "
                                     "got integer positions")
                check_same_labels("dates", d0, None, "statuses", fd, None)
            dates = fd
        statuses = frame["status"].to_list()
    elif _is_polars_series(statuses):
        statuses = statuses.to_list()
    for arg, v in (("statuses", statuses), ("ok", ok)):
        if isinstance(v, (str, bytes)) or not isinstance(v, (Sequence, np.ndarray)):
            raise TypeError(f"{arg} must be a sequence of statuses (a list, not a string), got {v!r}")
    st = [str(getattr(s, "status", s)) for s in statuses]
    good = {str(s) for s in ok}
    d = _labels("dates", dates, len(st))
    rows = np.array([i for i, s in enumerate(st) if s not in good], dtype=np.int64)
    msg = [f"{subject}: solve status {st[i]!r}" for i in rows.tolist()]
    return _frame(d, _when(d, dates, rows), "solver", subject, np.full(len(rows), np.nan),
                  np.full(len(rows), np.nan), msg)


def coverage(signal: Any, *, universe: Any = None, drop: float = 0.2, lookback: int = 21, dates: Any = None,
             subject: str = "signal") -> pl.DataFrame:
    """A drop in signal coverage: the share of the universe with a finite signal at ``t`` below
    ``(1 − drop)`` × its mean over the previous ``lookback`` dates.

    Parameters
    ----------
    signal : array (T, N), a Polars frame (wide or long) or a pandas DataFrame indexed by date: its dates label the alerts
        NaN = no signal; infinite values are refused.
    universe : bool array (T, N), optional
        Assets that should have a signal (default: all N); a frame must carry the signal's
        labels.
    drop : float, default 0.2
        (Not in the seed; our default.)
    lookback : int, default 21
    dates : (T,) labels, optional
    subject : str, default "signal"
    """
    # a frame's rows are put in date order: refused out of order only when an unlabelled universe
    # pairs with it row by row
    paired = universe is not None and not _is_polars_frame(universe)
    x, dates, sig_assets = _labelled("signal", signal, dates, None, "assets", vector=False, date_order=paired)
    T, N = x.shape
    drop = check_real("drop", drop, lo=0.0, hi=1.0)
    lookback = check_int("lookback", lookback, 1)
    have = np.isfinite(x)
    if universe is not None:
        from ferrofactor.strategies import _as_bool_field

        u, ud, ua = _as_bool_field("universe", universe)
        if u.shape != x.shape:
            raise ValueError(f"universe has shape {u.shape}, expected {x.shape}")
        if _is_polars_frame(signal):
            check_same_labels("universe", ud, ua, "signal", dates, sig_assets)
        have &= u
        size = u.sum(axis=1)
    else:
        size = np.full(T, N)
    with np.errstate(invalid="ignore", divide="ignore"):
        cov = np.where(size > 0, have.sum(axis=1) / np.maximum(size, 1), np.nan)
    # the mean of each window of the previous `lookback` dates, taken over the window itself (a
    # running sum drifts: a constant coverage came out a hair above its own mean, and alerted)
    prev = np.full(T, np.nan)
    if T > lookback:
        prev[lookback:] = np.lib.stride_tricks.sliding_window_view(cov[:-1], lookback).mean(axis=1)
    limit = (1 - drop) * prev
    rows = np.flatnonzero(np.isfinite(cov) & np.isfinite(limit) & (cov < limit))
    d = _labels("dates", dates, T)
    msg = [f"{subject}: coverage {cov[i]:.1%} is below {1 - drop:.0%} of its {lookback}-date mean ({prev[i]:.1%})"
           for i in rows.tolist()]
    return _frame(d, _when(d, dates, rows), "coverage", subject, cov[rows], limit[rows], msg)
