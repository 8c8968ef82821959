"""Rolling and exponentially weighted statistics along time, per asset (Rust kernels).

Every function takes a ``(T, N)`` float64 array (rows = dates, columns = assets; NaN = missing)
and returns ``(T, N)`` arrays, computed down each column independently, in parallel over blocks
of assets. Results do not depend on the number of threads.

Window conventions
------------------
* The window of length ``window`` ending at date ``t`` covers rows ``t-window+1 .. t`` (inclusive,
  clipped at 0): the value at ``t`` uses row ``t`` itself and nothing later.
* NaN/inf values are skipped by the generic statistics (sums, means, variances, EWM). The
  functions of returns (:func:`rolling_beta`, :func:`compounded_return`, :func:`max_drawdown`)
  skip NaN but refuse an infinite return with ``ValueError`` (a data error, e.g. a zero price
  upstream). A statistic is NaN unless its window holds at least
  ``min_periods`` finite values (finite *pairs* for :func:`rolling_beta`). ``min_periods``
  defaults to the full window, like pandas' ``rolling``.
* With ``half_life=h`` the value at lag ``k = t - s`` (in rows, missing rows included, like
  pandas' ``ignore_na=False``) has weight ``0.5 ** (k / h)``; otherwise every weight is 1.
  Weighted means are ``Σ w x / Σ w``; variances are unbiased with reliability weights,
  ``Σ w (x - x̄)² / (Σ w − Σ w² / Σ w)``: ddof=1 for equal weights and exactly pandas'
  ``ewm(halflife=h, adjust=True).var(bias=False)`` for the full-history exponential case.
"""

from __future__ import annotations

import numbers

import numpy as np

from ferrofactor import _core
from ferrofactor._validate import (
    as_field,
    as_float_array,
    refuse_inf,
    by_date,
    check_int,
    frame_io,
    is_date_indexed,
)

__all__ = [
    "rolling_sum",
    "rolling_mean",
    "rolling_var",
    "rolling_std",
    "ewm_mean",
    "ewm_var",
    "ewm_std",
    "rolling_beta",
    "compounded_return",
    "max_drawdown",
]


def _int(name: str, v, minimum: int) -> int:
    return check_int(name, v, minimum)


def _half_life(h) -> float | None:
    if h is None:
        return None
    if isinstance(h, (bool, np.timedelta64)) or not isinstance(h, numbers.Real):  # (numpy: a duration is Integral)
        raise TypeError(f"half_life must be a number or None, got {h!r}")
    if not (np.isfinite(h) and h > 0):
        raise ValueError(f"half_life must be a positive finite number, got {h}")
    return float(h)


def _window(window: int, min_periods: int | None) -> tuple[int, int]:
    window = _int("window", window, 1)
    mp = window if min_periods is None else _int("min_periods", min_periods, 1)
    return window, mp


def _check_min_periods(mp: int, span: int, what: str = "window") -> None:
    if mp > span:
        raise ValueError(f"min_periods ({mp}) must be <= {what} ({span})")


def _moment(x, window, min_periods, half_life, stat):
    x = as_float_array("x", x, 2)
    window, mp = _window(window, min_periods)
    _check_min_periods(mp, window)
    return _core.rolling_moment(x, window, mp, _half_life(half_life), stat)


@frame_io
def rolling_sum(x, window: int, min_periods: int | None = None) -> np.ndarray:
    """Sum of the finite values of each column over a trailing window.

    Parameters
    ----------
    x : array_like, shape (T, N)
    window : int
        Window length in rows (dates); row ``t`` uses rows ``t-window+1 .. t``.
    min_periods : int, optional
        Finite values needed for a result (default ``window``); NaN otherwise.

    Returns
    -------
    ndarray, shape (T, N)
    """
    return _moment(x, window, min_periods, None, "sum")


@frame_io
def rolling_mean(x, window: int, min_periods: int | None = None, half_life: float | None = None):
    """Mean over a trailing window, exponentially weighted when ``half_life`` is given.

    Shapes and window as :func:`rolling_sum`; with ``half_life`` the weight of lag ``k`` is
    ``0.5 ** (k / half_life)`` (module docstring).
    """
    return _moment(x, window, min_periods, half_life, "mean")


@frame_io
def rolling_var(x, window: int, min_periods: int | None = None, half_life: float | None = None):
    """Unbiased variance over a trailing window (ddof=1; reliability weights with ``half_life``).

    Needs at least 2 finite values; shapes and window as :func:`rolling_sum`.
    """
    return _moment(x, window, min_periods, half_life, "var")


@frame_io
def rolling_std(x, window: int, min_periods: int | None = None, half_life: float | None = None):
    """Standard deviation over a trailing window: ``sqrt(rolling_var(...))``.

    Daily units for daily returns; multiply by ``sqrt(252)`` to annualise.
    """
    return _moment(x, window, min_periods, half_life, "std")


def _ewm(x, half_life, min_periods, window, stat):
    x = as_float_array("x", x, 2)
    hl = _half_life(half_life)
    if hl is None:
        raise TypeError("half_life is required for ewm_* functions, got None")
    mp = _int("min_periods", min_periods, 1)
    if window is not None:
        window = _int("window", window, 1)
        _check_min_periods(mp, window)
    return _core.rolling_moment(x, window, mp, hl, stat)


@frame_io
def ewm_mean(x, half_life: float, min_periods: int = 1, window: int | None = None) -> np.ndarray:
    """Exponentially weighted mean over the full history (or the last ``window`` rows).

    Weight of lag ``k`` rows: ``0.5 ** (k / half_life)``, normalised by the sum of the weights of
    the finite values (pandas ``ewm(halflife=h, adjust=True, ignore_na=False).mean()``).

    Parameters
    ----------
    x : array_like, shape (T, N)
    half_life : float
        In rows (dates), > 0.
    min_periods : int, default 1
        Finite values (in the window) needed for a result.
    window : int, optional
        Truncate the weights to the last ``window`` rows (None = full history).
    """
    return _ewm(x, half_life, min_periods, window, "mean")


@frame_io
def ewm_var(x, half_life: float, min_periods: int = 1, window: int | None = None) -> np.ndarray:
    """Exponentially weighted unbiased variance (pandas ``ewm(...).var(bias=False)``).

    ``Σ w (x − x̄_w)² / (Σ w − Σ w² / Σ w)``; NaN with fewer than 2 finite values.
    """
    return _ewm(x, half_life, min_periods, window, "var")


@frame_io
def ewm_std(x, half_life: float, min_periods: int = 1, window: int | None = None) -> np.ndarray:
    """``sqrt(ewm_var(...))``."""
    return _ewm(x, half_life, min_periods, window, "std")


def _returns(name, x):
    x = as_float_array(name, x, 2)
    bad = np.count_nonzero((x < -1) | (x == np.inf))
    if bad:
        raise ValueError(f"{name} must be simple returns >= -1 (not +inf); {bad} values are not")
    return x


def rolling_beta(
    returns,
    market,
    window: int = 252,
    min_periods: int | None = None,
    half_life: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Rolling beta of each asset on a market series, and the residual volatility.

    Per date t, over the pairs (returns[s, i], market[s]) of the window with both finite and
    weights ``w_s`` (1, or ``0.5 ** ((t-s)/half_life)``), a weighted least-squares fit with an
    intercept: ``beta = Σw(x−x̄)(m−m̄) / Σw(m−m̄)²`` and
    ``resid_vol = sqrt(Σw e² / Σw · n / (n − 2))`` (e the residuals, n the number of pairs; for
    equal weights this is the OLS ``sqrt(SSR / (n − 2))``). Barra's HBETA uses ``window=252,
    half_life=63``.

    Parameters
    ----------
    returns : array_like, shape (T, N)
        NaN drops the pair; an infinite return is a data error: ``ValueError``.
    market : array_like, shape (T,)
        Market returns on the same dates (NaN drops the date for every asset; infinite values
        raise ``ValueError``). A pandas Series
        indexed by date must carry the dates of ``returns`` (a Polars frame, or a pandas
        DataFrame indexed by date), in their order, else ``ValueError``; beside returns without
        dates it is read in its order, which must be date order (never sorted).
    window : int, default 252
    min_periods : int, optional
        Finite pairs needed (default ``window``); beta needs ≥ 2, resid_vol ≥ 3.
    half_life : float, optional

    Returns
    -------
    beta, resid_vol : ndarray, shape (T, N)
        ``resid_vol`` in the units of ``returns`` (daily); NaN where the market has no variance.
    """
    x, rdates, _ = as_field("returns", returns)
    if is_date_indexed(market):  # paired with the returns' dates by label, never by position
        if rdates is None and is_date_indexed(returns):
            rdates = by_date("returns", returns, positional=False)[1]
        market = by_date("market", market, rdates, of="returns")[0]
    m = as_float_array("market", market, 1)
    # returns, unlike the generic statistics' inputs: an infinite one is a data error (a zero
    # price upstream), refused as compounded_return and max_drawdown refuse it, not skipped
    refuse_inf("returns", x, "NaN marks a missing return")
    refuse_inf("market", m, "NaN drops the date")
    if m.shape != (x.shape[0],):
        raise ValueError(
            f"market has shape {m.shape}, expected ({x.shape[0]},) (one value per date of returns)"
        )
    window, mp = _window(window, min_periods)
    _check_min_periods(mp, window)
    return _core.rolling_beta(x, m, window, mp, _half_life(half_life))


@frame_io
def compounded_return(returns, window: int, skip: int = 0, min_periods: int | None = None):
    """Compounded return over a window, skipping the most recent ``skip`` rows (momentum).

    At date t: ``prod(1 + returns[s]) − 1`` over ``s = t−window+1 .. t−skip``, the return from
    the close of ``t−window`` to the close of ``t−skip`` (``window − skip`` daily returns).
    Momentum 12-1 is ``window=252, skip=21``. NaN returns count as no price change but not
    towards ``min_periods``.

    Parameters
    ----------
    returns : array_like, shape (T, N)
        Simple decimal returns (≥ −1).
    window, skip : int
        ``0 <= skip < window``.
    min_periods : int, optional
        Finite returns needed among the ``window − skip`` (default all of them).

    Returns
    -------
    ndarray, shape (T, N)
        NaN for the first ``window − 1`` rows when ``min_periods`` is the default.
    """
    x = _returns("returns", returns)
    window = _int("window", window, 1)
    skip = _int("skip", skip, 0)
    if skip >= window:
        raise ValueError(f"skip ({skip}) must be < window ({window})")
    span = window - skip
    mp = span if min_periods is None else _int("min_periods", min_periods, 1)
    _check_min_periods(mp, span, "window - skip")
    return _core.compounded_return(x, window, skip, mp)


@frame_io
def max_drawdown(returns, window: int, min_periods: int | None = None) -> np.ndarray:
    """Maximum drawdown over a trailing window, as a positive fraction (0 = none, 1 = wipe-out).

    At date t the wealth path starts at 1 at the close of ``t−window`` and compounds
    ``returns[t−window+1 .. t]`` (NaN = no change); the result is the largest peak-to-trough loss
    ``max_{i<=j} (1 − W_j / W_i)`` along it, the starting value included as a peak.

    Parameters
    ----------
    returns : array_like, shape (T, N)
        Simple decimal returns (≥ −1).
    window : int
    min_periods : int, optional
        Finite returns needed in the window (default ``window``).

    Returns
    -------
    ndarray, shape (T, N)
    """
    x = _returns("returns", returns)
    window, mp = _window(window, min_periods)
    _check_min_periods(mp, window)
    return _core.max_drawdown(x, window, mp)
