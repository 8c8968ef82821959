"""Rolling and exponentially weighted statistics along time, per asset (Rust kernels).

Every function takes a ``(T, N)`` float64 array (rows = dates, columns = assets; NaN = missing)
and returns ``(T, N)`` arrays, computed down each column independently, in parallel over blocks
of assets. Results do not depend on the number of threads.

Window conventions
------------------
* The window of length ``window`` ending at date ``t`` covers rows ``t-window+1 .. t`` (inclusive,
  clipped at 0): the value at ``t`` uses row ``t`` itself and nothing later.
* NaN/inf values are skipped. A statistic is NaN unless its window holds at least
  ``min_periods`` finite values (finite *pairs* for :func:`rolling_beta`). ``min_periods``
  defaults to the full window, like pandas' ``rolling``.
* With ``halflife=h`` the value at lag ``k = t - s`` (in rows, missing rows included, like
  pandas' ``ignore_na=False``) has weight ``0.5 ** (k / h)``; otherwise every weight is 1.
  Weighted means are ``Σ w x / Σ w``; variances are unbiased with reliability weights,
  ``Σ w (x - x̄)² / (Σ w − Σ w² / Σ w)``: ddof=1 for equal weights and exactly pandas'
  ``ewm(halflife=h, adjust=True).var(bias=False)`` for the full-history exponential case.
"""

from __future__ import annotations

import numbers

import numpy as np

from ferrofactor import _core
from ferrofactor._validate import as_float_array

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
    if isinstance(v, bool) or not isinstance(v, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {v!r}")
    if v < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {v}")
    return int(v)


def _halflife(h) -> float | None:
    if h is None:
        return None
    if isinstance(h, bool) or not isinstance(h, numbers.Real):
        raise TypeError(f"halflife must be a number or None, got {h!r}")
    if not (np.isfinite(h) and h > 0):
        raise ValueError(f"halflife must be a positive finite number, got {h}")
    return float(h)


def _window(window: int, min_periods: int | None) -> tuple[int, int]:
    window = _int("window", window, 1)
    mp = window if min_periods is None else _int("min_periods", min_periods, 1)
    return window, mp


def _check_min_periods(mp: int, span: int, what: str = "window") -> None:
    if mp > span:
        raise ValueError(f"min_periods ({mp}) must be <= {what} ({span})")


def _moment(x, window, min_periods, halflife, stat):
    x = as_float_array("x", x, 2)
    window, mp = _window(window, min_periods)
    _check_min_periods(mp, window)
    return _core.rolling_moment(x, window, mp, _halflife(halflife), stat)


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


def rolling_mean(x, window: int, min_periods: int | None = None, halflife: float | None = None):
    """Mean over a trailing window, exponentially weighted when ``halflife`` is given.

    Shapes and window as :func:`rolling_sum`; with ``halflife`` the weight of lag ``k`` is
    ``0.5 ** (k / halflife)`` (module docstring).
    """
    return _moment(x, window, min_periods, halflife, "mean")


def rolling_var(x, window: int, min_periods: int | None = None, halflife: float | None = None):
    """Unbiased variance over a trailing window (ddof=1; reliability weights with ``halflife``).

    Needs at least 2 finite values; shapes and window as :func:`rolling_sum`.
    """
    return _moment(x, window, min_periods, halflife, "var")


def rolling_std(x, window: int, min_periods: int | None = None, halflife: float | None = None):
    """Standard deviation over a trailing window: ``sqrt(rolling_var(...))``.

    Daily units for daily returns; multiply by ``sqrt(252)`` to annualise.
    """
    return _moment(x, window, min_periods, halflife, "std")


def _ewm(x, halflife, min_periods, window, stat):
    x = as_float_array("x", x, 2)
    hl = _halflife(halflife)
    if hl is None:
        raise TypeError("halflife is required for ewm_* functions, got None")
    mp = _int("min_periods", min_periods, 1)
    if window is not None:
        window = _int("window", window, 1)
        _check_min_periods(mp, window)
    return _core.rolling_moment(x, window, mp, hl, stat)


def ewm_mean(x, halflife: float, min_periods: int = 1, window: int | None = None) -> np.ndarray:
    """Exponentially weighted mean over the full history (or the last ``window`` rows).

    Weight of lag ``k`` rows: ``0.5 ** (k / halflife)``, normalised by the sum of the weights of
    the finite values (pandas ``ewm(halflife=h, adjust=True, ignore_na=False).mean()``).

    Parameters
    ----------
    x : array_like, shape (T, N)
    halflife : float
        In rows (dates), > 0.
    min_periods : int, default 1
        Finite values (in the window) needed for a result.
    window : int, optional
        Truncate the weights to the last ``window`` rows (None = full history).
    """
    return _ewm(x, halflife, min_periods, window, "mean")


def ewm_var(x, halflife: float, min_periods: int = 1, window: int | None = None) -> np.ndarray:
    """Exponentially weighted unbiased variance (pandas ``ewm(...).var(bias=False)``).

    ``Σ w (x − x̄_w)² / (Σ w − Σ w² / Σ w)``; NaN with fewer than 2 finite values.
    """
    return _ewm(x, halflife, min_periods, window, "var")


def ewm_std(x, halflife: float, min_periods: int = 1, window: int | None = None) -> np.ndarray:
    """``sqrt(ewm_var(...))``."""
    return _ewm(x, halflife, min_periods, window, "std")


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
    halflife: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Rolling beta of each asset on a market series, and the residual volatility.

    Per date t, over the pairs (returns[s, i], market[s]) of the window with both finite and
    weights ``w_s`` (1, or ``0.5 ** ((t-s)/halflife)``), a weighted least-squares fit with an
    intercept: ``beta = Σw(x−x̄)(m−m̄) / Σw(m−m̄)²`` and
    ``resid_vol = sqrt(Σw e² / Σw · n / (n − 2))`` (e the residuals, n the number of pairs; for
    equal weights this is the OLS ``sqrt(SSR / (n − 2))``). Barra's HBETA uses ``window=252,
    halflife=63``.

    Parameters
    ----------
    returns : array_like, shape (T, N)
    market : array_like, shape (T,)
        Market returns on the same dates (NaN drops the date for every asset).
    window : int, default 252
    min_periods : int, optional
        Finite pairs needed (default ``window``); beta needs ≥ 2, resid_vol ≥ 3.
    halflife : float, optional

    Returns
    -------
    beta, resid_vol : ndarray, shape (T, N)
        ``resid_vol`` in the units of ``returns`` (daily); NaN where the market has no variance.
    """
    x = as_float_array("returns", returns, 2)
    m = as_float_array("market", market, 1)
    if m.shape != (x.shape[0],):
        raise ValueError(
            f"market has shape {m.shape}, expected ({x.shape[0]},) (one value per date of returns)"
        )
    window, mp = _window(window, min_periods)
    _check_min_periods(mp, window)
    return _core.rolling_beta(x, m, window, mp, _halflife(halflife))


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
