"""Portfolio constructions without a solver, and trade lists.

Solver-free constructions vectorised over dates (rows): :func:`quantile_portfolio` (top and
bottom percentile, seed 002), :func:`signal_weighted` (weights proportional to the cleaned
signal: the factor portfolio of seed 004) and :func:`top_n` (equal weight, the fallback of seed
000). Each takes a signal ``(N,)`` or ``(T, N)`` (or a Polars frame, long or wide, which gives a
frame of the same form back) and returns weights of the same shape, 0 where not held; NaN in
the signal = not eligible. Ties are broken by asset position (the later asset ranks higher),
as in :func:`ferrofactor.momentum_selection`.

Time: the weights of row ``t`` use the signal of row ``t`` only (known at the close of ``t``);
they trade at that close and earn ``returns[t + 1 ..]``. Nothing here shifts data.

:func:`trades` turns target and current weights into a trade list (Polars frame) in shares.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import polars as pl

from ferrofactor._validate import (
    as_array,
    as_float_array,
    by_label,
    check_bool,
    check_choice,
    check_int,
    check_real,
    frame_io,
)

__all__ = ["quantile_portfolio", "signal_weighted", "top_n", "trades"]


def _signal(name: str, x: Any) -> tuple[np.ndarray, bool]:
    """(T, N) float64 and whether one (N,) cross-section was given."""
    arr = as_array(name, x) if not hasattr(x, "to_numpy") else x.to_numpy()
    single = np.ndim(arr) == 1
    s = as_float_array(name, arr[None] if single else arr, 2)
    if np.isinf(s).any():
        raise ValueError(f"{name} must not contain infinite values (NaN = not eligible)")
    return s, single


def _ascending_order(s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row: positions sorted by value ascending (NaN last, ties by position), and the count
    of finite values."""
    key = np.where(np.isfinite(s), s, np.inf)
    return np.argsort(key, axis=1, kind="stable"), np.isfinite(s).sum(axis=1)


def _select(s: np.ndarray, n_long: np.ndarray, n_short: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Boolean (T, N) masks of the ``n_long`` highest and ``n_short`` lowest finite values."""
    T, N = s.shape
    order, m = _ascending_order(s)
    pos = np.arange(N)[None, :]
    rows = np.arange(T)[:, None]
    long = np.zeros((T, N), bool)
    short = np.zeros((T, N), bool)
    long[rows, order] = (pos >= (m - n_long)[:, None]) & (pos < m[:, None])
    short[rows, order] = pos < n_short[:, None]
    return long, short


def share_count(m: Any, share: float) -> np.ndarray:
    """``floor(m · share)`` assets (int64, elementwise over ``m``), computed as ``floor(m · share
    + 1e-12)`` so that a product that is an integer in exact arithmetic is not floored to the
    integer below (0.29 · 100 is 28.999999999999996 in floating point: 29, not 28). The guard
    exceeds the rounding error of any product below 8192 (of a decimal ``share`` and a count)."""
    return np.floor(np.asarray(m) * share + 1e-12).astype(np.int64)


@frame_io
def quantile_portfolio(signal: Any, percentile: float = 0.1, long_short: bool = True) -> np.ndarray:
    """Equal-weighted top (and bottom) percentile of the signal, per date (seed 002).

    With ``M`` finite signal values on a date, ``n = floor(M · percentile)`` (computed as
    ``floor(M · percentile + 1e-12)`` so that 0.29 · 100 gives 29, not 28): the ``n`` highest
    get ``+0.5/n`` and the ``n`` lowest ``−0.5/n`` (``long_short=True``: net 0, gross 1), or
    the ``n`` highest get ``1/n`` (``long_short=False``). A date with ``n = 0`` holds nothing.

    Parameters
    ----------
    signal : array_like (N,) or (T, N), or a Polars frame (long or wide)
        NaN = not eligible.
    percentile : float, default 0.1
        In (0, 0.5] (long-short) or (0, 1] (long-only).
    long_short : bool, default True

    Returns
    -------
    ndarray of the signal's shape (or a frame of its form)

    Examples
    --------
    >>> import numpy as np, ferrofactor as ff
    >>> ff.quantile_portfolio(np.array([0.3, -1.0, 2.0, np.nan, 0.1]), percentile=0.25).tolist()
    [0.0, -0.5, 0.5, 0.0, 0.0]
    """
    long_short = check_bool("long_short", long_short)
    percentile = check_real("percentile", percentile, lo=0.0, lo_open=True, hi=0.5 if long_short else 1.0)
    s, single = _signal("signal", signal)
    m = np.isfinite(s).sum(axis=1)
    n = share_count(m, percentile)
    long, short = _select(s, n, n if long_short else np.zeros_like(n))
    with np.errstate(divide="ignore"):
        size = np.where(n > 0, (0.5 if long_short else 1.0) / np.maximum(n, 1), 0.0)[:, None]
    w = long * size - short * size
    w = w + 0.0  # no negative zeros
    return w[0] if single else w


@frame_io
def top_n(signal: Any, n: int) -> np.ndarray:
    """Equal weight on the ``n`` highest signal values per date (seed 000's fallback).

    Each of the ``min(n, M)`` highest of the ``M`` finite values gets ``1/min(n, M)`` (weights
    sum to 1 on every date with a finite value; a date without any holds nothing).

    Parameters
    ----------
    signal : array_like (N,) or (T, N), or a Polars frame (long or wide)
    n : int
        ≥ 1.

    Examples
    --------
    >>> import numpy as np, ferrofactor as ff
    >>> ff.top_n(np.array([0.3, -1.0, 2.0, np.nan]), 2).tolist()
    [0.5, 0.0, 0.5, 0.0]
    """
    n = check_int("n", n, lo=1)
    s, single = _signal("signal", signal)
    m = np.isfinite(s).sum(axis=1)
    k = np.minimum(n, m)
    long, _ = _select(s, k, np.zeros_like(k))
    w = long * np.where(k > 0, 1.0 / np.maximum(k, 1), 0.0)[:, None]
    return w[0] if single else w


@frame_io
def signal_weighted(signal: Any, clean: bool = True, scale: str = "gross", limit: float = 3.0) -> np.ndarray:
    """Weights proportional to the (cleaned) signal, per date: the factor portfolio of seed 004.

    Cleaning (``clean=True``, per date): winsorise at ``mean ± limit·std`` then centre and scale
    to unit standard deviation (:func:`ferrofactor.standardize` with ``winsorize="sigma"``), so
    the weights sum to 0 (a dollar-neutral long-short book). Then ``w = z / Σ|z|`` (``scale =
    "gross"``: gross 1, each side 0.5 when centred) or ``w = z / Σ z²`` (``scale="exposure"``:
    unit exposure ``Σ w z = 1``, the portfolio whose return is the slope of the cross-sectional
    regression of returns on ``z``).

    Parameters
    ----------
    signal : array_like (N,) or (T, N), or a Polars frame (long or wide)
        NaN = not held.
    clean : bool, default True
        False: use the signal as given (not centred: a positive signal gives a long-only book).
    scale : {"gross", "exposure"}, default "gross"
    limit : float, default 3.0
        Winsorisation limit in standard deviations (with ``clean``).

    Returns
    -------
    ndarray of the signal's shape (or a frame of its form); a date whose values are all NaN
    holds nothing, nor (with ``clean``) one whose values are all equal (``clean=False`` holds
    such a date in proportion to its values, e.g. equal weights for a constant positive signal).

    Examples
    --------
    >>> import numpy as np, ferrofactor as ff
    >>> w = ff.signal_weighted(np.array([1.0, 2.0, 3.0, 6.0]))
    >>> bool(abs(w.sum()) < 1e-15), float(np.abs(w).sum())
    (True, 1.0)
    """
    from ferrofactor.clean import standardize

    clean = check_bool("clean", clean)
    check_choice("scale", scale, ("gross", "exposure"))
    limit = check_real("limit", limit, lo=0.0, lo_open=True)
    s, single = _signal("signal", signal)
    z = standardize(s, winsorize="sigma", limit=limit) if clean else s
    z = np.where(np.isfinite(z), z, 0.0)
    denom = np.abs(z).sum(axis=1) if scale == "gross" else (z * z).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        w = np.where(denom[:, None] > 0, z / denom[:, None], 0.0)
    return w[0] if single else w


# ---------------------------------------------------------------------------------------------
# Trade list
# ---------------------------------------------------------------------------------------------


def _labelled(name: str, x: Any, allow_none: bool = False):
    """(labels or None, values) of a weights/prices argument."""
    from ferrofactor.optimize import OptimizationResult

    if x is None:
        if allow_none:
            return None, None
        raise TypeError(f"{name} is required")
    if isinstance(x, OptimizationResult):
        w = np.asarray(x.weights, float)
        if not np.isfinite(w).all():
            raise ValueError(f"{name} is a failed OptimizationResult (NaN weights): {x.message}")
        return (None if x.assets is None else [str(a) for a in x.assets]), w
    x = by_label(name, x)  # a pandas Series indexed by asset: the mapping it stands for
    if isinstance(x, Mapping):
        labels = [str(k) for k in x]
        if len(set(labels)) != len(labels):  # e.g. the keys 3 and "3": never the last one silently
            dup = next(a for a in labels if labels.count(a) > 1)
            raise ValueError(f"{name} names asset {dup!r} twice")
        return labels, as_float_array(name, [np.nan if v is None else v for v in x.values()], 1)
    arr = as_float_array(name, x.to_numpy() if hasattr(x, "to_numpy") else x, 1)
    return None, arr


def _round_half_away(x: np.ndarray) -> np.ndarray:
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def trades(target: Any, current: Any = None, prices: Any = None, portfolio_value: float | None = None, *,
           min_trade: float = 0.001, lot: int = 1, assets: Any = None) -> pl.DataFrame:
    """The trade list from current to target weights, in shares (seed 000).

    For each asset whose weight changes: the traded value ``(target − current) · value``, in
    shares at ``prices`` rounded to the nearest multiple of ``lot`` (half away from zero); a
    position closed entirely (target 0) sells every current share (whole shares, not lots).
    Trades with ``|target − current| < min_trade``, or that round to 0 shares, are left out of
    the orders and reported in the frame with ``side="skip"`` and a ``note``.

    Parameters
    ----------
    target : array_like (N,), mapping {asset: weight}, pandas Series or OptimizationResult
        A pandas Series indexed by asset is read as the mapping (by label, never by position);
        one with the default index 0..N-1 as an array.
    current : array_like (N,), mapping, pandas Series or OptimizationResult, optional
        Default: the ``w0`` of an OptimizationResult target, else 0 (a portfolio built from cash).
    prices : array_like (N,), mapping {asset: price} or pandas Series
        Needed (finite, > 0) for every asset that trades.
    portfolio_value : float
        > 0, in the currency of the prices.
    min_trade : float, default 0.001
        Minimum weight change worth trading (0.1 %).
    lot : int, default 1
        Round lot in shares.
    assets : array_like of str (N,), optional
        Labels of array inputs (an OptimizationResult brings its own). Mappings are aligned on
        their keys; arrays and mappings cannot be mixed without labels.

    Returns
    -------
    polars.DataFrame
        One row per asset whose weight changes, in label order: ``asset``, ``price``,
        ``current_weight``, ``target_weight``, ``shares`` (Int64, signed), ``value`` (signed
        ``shares · price``), ``traded_weight`` (``value / portfolio_value``), ``side``
        (``"buy"``, ``"sell"`` or ``"skip"``), ``note`` (why skipped, else null).

    Examples
    --------
    >>> import ferrofactor as ff
    >>> t = ff.trades({"A": 0.5, "B": 0.5}, {"A": 0.3, "C": 0.7}, {"A": 10.0, "B": 20.0, "C": 7.0}, 1000.0)
    >>> t.select("asset", "shares", "side").rows()
    [('A', 20, 'buy'), ('B', 25, 'buy'), ('C', -100, 'sell')]
    """
    from ferrofactor.optimize import OptimizationResult

    value = check_real("portfolio_value", portfolio_value, lo=0.0, lo_open=True)
    min_trade = check_real("min_trade", min_trade, lo=0.0)
    lot = check_int("lot", lot, lo=1)
    if current is None and isinstance(target, OptimizationResult):
        current = target.w0
    t_lab, t_val = _labelled("target", target)
    c_lab, c_val = _labelled("current", current, allow_none=True)
    p_lab, p_val = _labelled("prices", prices)
    if assets is not None:
        assets = [str(a) for a in np.asarray(assets).tolist()]
        if len(set(assets)) != len(assets):
            raise ValueError("assets must be unique")
    # -- one label axis ------------------------------------------------------------------
    given = [(n, lab, v) for n, lab, v in (("target", t_lab, t_val), ("current", c_lab, c_val),
                                              ("prices", p_lab, p_val)) if v is not None]
    if assets is None:
        # a mapping's (or a pandas Series') order is its own: an array beside it has nothing to
        # be paired with (an OptimizationResult's labels are the model's order, as its arrays')
        labels = {"target": t_lab, "current": c_lab, "prices": p_lab}
        mapped = [n for n, x in (("target", target), ("current", current), ("prices", prices))
                  if labels[n] is not None and not isinstance(x, OptimizationResult)]
        bare = [n for n, lab, _ in given if lab is None]
        if mapped and bare:
            raise ValueError(
                f"{bare[0]} is an array but {mapped[0]} is given by asset label (a mapping or a pandas "
                f"Series): pass assets= (the labels of the arrays' positions), or {bare[0]} by label too"
            )
        if all(lab is None for _, lab, _ in given):
            assets = [str(j) for j in range(t_val.size)]
        else:
            assets = []
            seen = set()
            for n, lab, _ in given:
                if lab is not None and n != "prices":
                    for a in lab:
                        if a not in seen:
                            seen.add(a)
                            assets.append(a)
            if not assets:
                assets = list(p_lab)

    def align(name, lab, v, fill):
        if v is None:
            return np.full(len(assets), fill)
        if lab is None:
            if v.size != len(assets):
                raise ValueError(f"{name} has {v.size} values for {len(assets)} assets; pass mappings "
                                 "or assets= to align them")
            return v
        pos = {a: j for j, a in enumerate(assets)}
        unknown = [a for a in lab if a not in pos]
        if unknown and name != "prices":
            raise ValueError(f"{name} names assets not in assets=: {unknown[:5]}")
        out = np.full(len(assets), fill)
        for a, x in zip(lab, v):
            if a in pos:
                out[pos[a]] = x
        return out

    tw = align("target", t_lab, t_val, 0.0)
    cw = align("current", c_lab, c_val, 0.0)
    px = align("prices", p_lab, p_val, np.nan)
    for name, v in (("target", tw), ("current", cw)):
        if not np.isfinite(v).all():
            raise ValueError(f"{name} weights must be finite")
    dw = tw - cw
    changed = dw != 0
    trade = changed & (np.abs(dw) >= min_trade)
    bad_px = trade & ~(np.isfinite(px) & (px > 0))
    if bad_px.any():
        names = [assets[j] for j in np.flatnonzero(bad_px)[:5]]
        raise ValueError(f"prices must be finite and > 0 for every asset that trades; missing or bad for {names}")
    with np.errstate(invalid="ignore", divide="ignore"):
        raw = np.where(trade, dw * value / np.where(trade, px, 1.0), 0.0)
        shares = _round_half_away(raw / lot) * lot
        close = trade & (tw == 0)
        shares = np.where(close, -_round_half_away(cw * value / np.where(trade, px, 1.0)), shares)
    skip_small = changed & ~trade
    skip_lot = trade & (shares == 0)
    side = np.where(shares > 0, "buy", np.where(shares < 0, "sell", "skip"))
    note = np.where(skip_small, f"below min_trade {min_trade:g}",
                    np.where(skip_lot, f"rounds to 0 shares (lot {lot})", None))
    idx = np.flatnonzero(changed)
    val = shares * np.where(trade, px, 0.0)
    return pl.DataFrame({
        "asset": [assets[j] for j in idx],
        "price": px[idx],
        "current_weight": cw[idx],
        "target_weight": tw[idx],
        "shares": pl.Series(shares[idx].astype(np.int64), dtype=pl.Int64),
        "value": val[idx] + 0.0,
        "traded_weight": val[idx] / value + 0.0,
        "side": side[idx].tolist(),
        "note": pl.Series([None if x is None else str(x) for x in note[idx].tolist()], dtype=pl.String),
    })
