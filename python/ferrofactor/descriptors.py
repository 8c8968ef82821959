"""Style descriptors: raw characteristics of each asset on each date.

Descriptors are computed on ``(T, N)`` arrays (dates × assets, NaN = missing); the Panel-level
entry :func:`compute_descriptors` reads the fields of a :class:`ferrofactor.Panel` and returns
them as a Panel on the same dates and assets.

Time: every descriptor at date ``t`` uses only data available at the close of ``t``: rolling
windows end at row ``t``, market returns use caps of ``t − 1`` and fundamental fields come point
in time from the data layer (a report is visible only from its availability date). The factor
model explains ``returns[t + 1]`` with them (``FactorModel(lag=1)``).

Cleaning descriptors into style exposures is :class:`ferrofactor.Exposures`' job
(:meth:`~ferrofactor.Exposures.from_panel`); composite signals live in :mod:`ferrofactor.signals`.

Definitions (defaults in brackets)
----------------------------------
=================  ==========================================================================
value              ``book_to_market = book_value / cap``; ``earnings_yield = earnings / cap``;
                   ``cash_flow_yield = operating_cash_flow / cap`` (NaN where the cap is not > 0)
momentum           ``momentum_12_1``, ``momentum_6_1``, ``momentum_3_1``: compounded return over
                   ``returns[t−L+1 .. t−21]`` with L = 252, 126, 63 trading days, i.e. from the
                   close L days ago to the close 21 days ago (the last month skipped) when the
                   returns carry every move (a missing return counts as no price change: see
                   :func:`momentum` on suspensions)
quality            ``roe = net_income / book_value`` (book > 0); ``profit_margin = net_income /
                   revenue`` (revenue > 0); ``asset_turnover = revenue / total_assets``;
                   ``leverage = total_liabilities / total_assets`` (assets > 0)
low volatility     ``volatility``: std of daily returns over [252] days × sqrt(252); ``beta``: on
                   the market over [252] days with half-life [63] (Barra HBETA);
                   ``residual_volatility``: that regression's residual std × sqrt(252);
                   ``max_drawdown`` over [252] days (positive fraction)
size               ``log_market_cap = log(cap)``
liquidity          ``log_dollar_volume = log(mean dollar volume over [21] days)``;
                   ``log_turnover = log(mean(dollar_volume / cap) over [21] days)``
=================  ==========================================================================

Rolling descriptors need ``min_fraction`` [0.8] of their window's values to be finite
(liquidity: 0.5), so a newly listed asset gets a value once it has enough history.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from ferrofactor import rolling as _rolling
from ferrofactor._validate import (
    LabelsSeen,
    as_field,
    as_fields,
    as_float_array,
    by_date,
    check_bool,
    check_int,
    check_real,
    check_shape,
    refuse_inf,
)
from ferrofactor.constants import PERIODS_PER_YEAR

__all__ = [
    "MOMENTUM_HORIZONS",
    "asset_turnover",
    "beta",
    "book_to_market",
    "cash_flow_yield",
    "compute_descriptors",
    "earnings_yield",
    "leverage",
    "liquidity",
    "log_market_cap",
    "market_return",
    "max_drawdown",
    "momentum",
    "profit_margin",
    "residual_volatility",
    "roe",
    "volatility",
]

#: name → (window L, skip S) in trading days: the 12-1, 6-1 and 3-1 month momenta.
MOMENTUM_HORIZONS: dict[str, tuple[int, int]] = {
    "momentum_12_1": (252, 21),
    "momentum_6_1": (126, 21),
    "momentum_3_1": (63, 21),
}


def _min_periods(span: int, min_fraction: float) -> int:
    f = check_real("min_fraction", min_fraction, lo=0.0, lo_open=True, hi=1.0)
    # ceil of the product as written: 0.55 · 100 is 55.000000000000007 in binary, whose ceil
    # (56) asked for one value more than the rule (rounded to 9 decimals first: 55)
    return max(1, math.ceil(round(f * span, 9)))


def _returns(name: str, x: Any) -> np.ndarray:
    x = as_float_array(name, x, 2)
    # an infinite return is a data error (a zero price upstream), never a missing value
    refuse_inf(name, x, "NaN marks a missing return")
    return x


def _ratio(num_name, num, den_name, den, inf_den: str = "missing") -> np.ndarray:
    """``num / den``, NaN where ``den`` is not > 0 and for ±inf quotients (NaN operands give
    NaN). An infinite ``den``: ``"missing"`` (a fundamental: NaN, as an infinite numerator),
    ``"refuse"`` (a cap, returns-like: ``ValueError``), ``"checked"`` (the caller refused it)."""
    a, b = as_fields((num_name, num), (den_name, den))
    check_shape(den_name, b, a.shape, f"the shape of {num_name}")
    if inf_den == "refuse":
        refuse_inf(den_name, b, "NaN marks a missing cap")
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        out = np.divide(a, b)
    # one mask and one masked write instead of a NaN-filled (T, N) array and a masked divide
    bad = np.less_equal(b, 0.0)
    bad |= np.isinf(out)
    if inf_den == "missing":  # x / inf is 0, a value where the denominator was missing
        bad |= np.isinf(b)
    out[bad] = np.nan
    return out


# --- value ----------------------------------------------------------------------------------


def book_to_market(book_value, cap) -> np.ndarray:
    """``book_value / cap``, (T, N); NaN where the cap is not > 0 (an infinite cap: ``ValueError``)."""
    return _ratio("book_value", book_value, "cap", cap, "refuse")


def earnings_yield(earnings, cap) -> np.ndarray:
    """``earnings / cap``, (T, N); NaN where the cap is not > 0 (an infinite cap: ``ValueError``)."""
    return _ratio("earnings", earnings, "cap", cap, "refuse")


def cash_flow_yield(operating_cash_flow, cap) -> np.ndarray:
    """``operating_cash_flow / cap``, (T, N); NaN where the cap is not > 0 (an infinite cap:
    ``ValueError``)."""
    return _ratio("operating_cash_flow", operating_cash_flow, "cap", cap, "refuse")


# --- quality --------------------------------------------------------------------------------


def roe(net_income, book_value) -> np.ndarray:
    """Return on equity ``net_income / book_value``, (T, N); NaN where book value is not > 0."""
    return _ratio("net_income", net_income, "book_value", book_value)


def profit_margin(net_income, revenue) -> np.ndarray:
    """``net_income / revenue``, (T, N); NaN where revenue is not > 0."""
    return _ratio("net_income", net_income, "revenue", revenue)


def asset_turnover(revenue, total_assets) -> np.ndarray:
    """``revenue / total_assets``, (T, N); NaN where total assets are not > 0."""
    return _ratio("revenue", revenue, "total_assets", total_assets)


def leverage(total_liabilities, total_assets) -> np.ndarray:
    """``total_liabilities / total_assets``, (T, N) (higher = more levered = lower quality)."""
    return _ratio("total_liabilities", total_liabilities, "total_assets", total_assets)


# --- momentum -------------------------------------------------------------------------------


def momentum(returns, window: int = 252, skip: int = 21, min_fraction: float = 0.8) -> np.ndarray:
    """Momentum ``window``-``skip``: the compounded return over ``returns[t−window+1 .. t−skip]``.

    The default is 12-1 months (252, 21). Needs ``ceil(min_fraction · (window − skip))`` finite
    returns in that span; a missing return counts as no price change. So it is the return from
    the close ``window`` days ago to the close ``skip`` days ago when the returns carry every
    price move: with :func:`ferrofactor.returns_from_prices` that needs ``bridge=True``, else
    the move over a suspension inside the span (whose first return after the gap is NaN) is
    left out. Shape (T, N).
    """
    r = _returns("returns", returns)
    window = check_int("window", window, 1)
    skip = check_int("skip", skip, 0)
    if skip >= window:
        raise ValueError(f"skip ({skip}) must be < window ({window})")
    mp = _min_periods(window - skip, min_fraction)
    return _rolling.compounded_return(r, window, skip, mp)


# --- low volatility, beta, drawdown -----------------------------------------------------------


def volatility(
    returns,
    window: int = 252,
    half_life: float | None = None,
    min_fraction: float = 0.8,
    annualize: bool = True,
) -> np.ndarray:
    """Standard deviation of daily returns over ``window`` days (× sqrt(252) if ``annualize``).

    Equal weights by default (ddof = 1); exponentially weighted with ``half_life`` (Barra DASTD:
    ``window=252, half_life=42``). Shape (T, N). ``window`` >= 2 (a deviation needs two returns).
    """
    r = _returns("returns", returns)
    window = check_int("window", window, 2)
    annualize = check_bool("annualize", annualize)
    mp = _min_periods(window, min_fraction)
    out = _rolling.rolling_std(r, window, mp, half_life=half_life)
    if annualize:
        out *= math.sqrt(PERIODS_PER_YEAR)
    return out


def market_return(returns, cap=None) -> np.ndarray:
    """Market return per date, (T,): cap-weighted with caps of the previous date, else equal.

    ``m[t] = Σ cap[t−1] r[t] / Σ cap[t−1]`` over assets with both known (not NaN; and cap > 0),
    so the weights are known before the return; ``m[0]`` uses equal weights when caps are given
    (no earlier cap). NaN on a date with no usable asset. An infinite return or cap is a data
    error: ``ValueError``.
    """
    r, c = as_fields(("returns", returns), ("cap", cap), optional=("cap",))
    refuse_inf("returns", r, "NaN marks a missing return")
    if c is not None:
        refuse_inf("cap", c, "NaN marks a missing cap")
    ok = np.isfinite(r)
    if c is None:
        w = ok.astype(float)
    else:
        check_shape("cap", c, r.shape, "the shape of returns")
        lag = np.empty_like(c)
        lag[:1] = 1.0
        lag[1:] = c[:-1]
        w = np.where(ok & np.isfinite(lag) & (lag > 0), lag, 0.0)
    sw = w.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        m = (w * np.where(ok, r, 0.0)).sum(axis=1) / sw
    m[sw <= 0] = np.nan
    return m


def beta(
    returns, market, window: int = 252, half_life: float | None = 63.0, min_fraction: float = 0.8
) -> np.ndarray:
    """Beta of each asset on ``market`` (T,) over ``window`` days, EW with ``half_life``. (T, N).

    ``window`` >= 2 (a slope needs two pairs)."""
    window = check_int("window", window, 2)
    mp = _min_periods(window, min_fraction)
    return _rolling.rolling_beta(returns, market, window, mp, half_life)[0]


def residual_volatility(
    returns,
    market,
    window: int = 252,
    half_life: float | None = 63.0,
    min_fraction: float = 0.8,
    annualize: bool = True,
) -> np.ndarray:
    """Residual volatility of the :func:`beta` regression (× sqrt(252) if ``annualize``).

    ``window`` >= 3 (a residual deviation needs three pairs)."""
    window = check_int("window", window, 3)
    annualize = check_bool("annualize", annualize)
    mp = _min_periods(window, min_fraction)
    out = _rolling.rolling_beta(returns, market, window, mp, half_life)[1]
    return out * math.sqrt(PERIODS_PER_YEAR) if annualize else out


def max_drawdown(returns, window: int = 252, min_fraction: float = 0.8) -> np.ndarray:
    """Largest peak-to-trough loss over ``window`` days, positive fraction. (T, N)."""
    window = check_int("window", window, 1)
    mp = _min_periods(window, min_fraction)
    return _rolling.max_drawdown(returns, window, mp)


# --- size and liquidity ---------------------------------------------------------------------


def log_market_cap(cap) -> np.ndarray:
    """``log(cap)``, (T, N); NaN where the cap is not > 0 (an infinite cap: ``ValueError``)."""
    c = as_float_array("cap", cap, 2)
    refuse_inf("cap", c, "NaN marks a missing cap")
    return _log_positive(c)


def _log_positive(x: np.ndarray) -> np.ndarray:
    """``log(x)`` where ``x`` is finite and > 0, else NaN (the logarithm taken on the whole
    array, then the other cells set to NaN: no gathered copies)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.log(x)
    bad = ~np.isfinite(x)
    bad |= x <= 0.0
    out[bad] = np.nan
    return out


def liquidity(
    dollar_volume, cap=None, window: int = 21, min_fraction: float = 0.5
) -> np.ndarray:
    """Log of the mean daily dollar volume over ``window`` days, or of the mean turnover.

    With ``cap`` the daily turnover ``dollar_volume / cap`` is averaged instead (a size-free
    liquidity measure, like Barra's STOM; an infinite cap: ``ValueError``). NaN where the mean is
    not > 0. (T, N).
    """
    return _liquidity(dollar_volume, cap, window, min_fraction, "refuse")


def _liquidity(dollar_volume, cap, window: int, min_fraction: float, inf_cap: str) -> np.ndarray:
    window = check_int("window", window, 1)
    x = as_float_array("dollar_volume", dollar_volume, 2) if cap is None else \
        _ratio("dollar_volume", dollar_volume, "cap", cap, inf_cap)
    mean = _rolling.rolling_mean(x, window, _min_periods(window, min_fraction))
    return _log_positive(np.asarray(mean, dtype=float))


# --- Panel level ----------------------------------------------------------------------------

def compute_descriptors(
    panel: Any,
    *,
    market=None,
    window: int = 252,
    beta_half_life: float | None = 63.0,
    vol_half_life: float | None = None,
    liquidity_window: int = 21,
    min_fraction: float = 0.8,
    fields: Mapping[str, str] | None = None,
    mask_unlisted: bool = True,
    names: Any = None,
) -> Any:
    """Every descriptor that the panel's fields allow (or only those in ``names``).

    Parameters
    ----------
    panel : ferrofactor.Panel or mapping of field name → (T, N) array or Polars frame
        Needs ``returns`` and ``market_cap``; uses, when present, ``dollar_volume`` and the
        point-in-time fundamentals ``book_value``, ``earnings``, ``operating_cash_flow``,
        ``net_income``, ``revenue``, ``total_assets``, ``total_liabilities``. The frames of a
        mapping (long, or wide with rows in date order) must carry the same dates and assets,
        in the same order, else ``ValueError`` naming the field (never paired by position).
        NaN marks a missing value; an infinite return or market cap is a data error (a zero
        price upstream): ``ValueError`` naming the field.
    market : array_like, shape (T,), optional
        Market returns for beta; default :func:`market_return` (cap-weighted, lagged caps). A
        pandas Series indexed by date must carry the dates of the panel (or of its frames), in
        their order, else ``ValueError`` (never paired by position); beside fields without dates
        it is read in its order, which must be date order.
    window : int, default 252
        Window of volatility, beta, residual volatility and drawdown.
    beta_half_life, vol_half_life : float or None, default 63 and None
        Half-lives (days) of the beta regression and of the volatility (None = equal weights).
    liquidity_window : int, default 21
    min_fraction : float, default 0.8
        Fraction of each rolling window that must be finite.
    fields : mapping, optional
        Renames: ``{"returns": "ret", ...}`` if the panel's fields have other names.
    mask_unlisted : bool, default True
        Set every descriptor to NaN where ``market_cap`` is NaN or not > 0 (before listing,
        after delisting, suspended days), so that no stale window survives a delisting.
    names : collection of str, optional
        Compute only these descriptors (e.g. those a set of styles uses); an unknown name, or one
        the panel's fields cannot give, is a ``ValueError``. Default: every one the fields allow.

    Returns
    -------
    Panel (when ``panel`` is a Panel: same dates and assets) or dict of (T, N) arrays
        Fields (those computable): ``book_to_market, earnings_yield, cash_flow_yield,
        momentum_12_1, momentum_6_1, momentum_3_1, roe, profit_margin, asset_turnover, leverage,
        volatility, beta, residual_volatility, max_drawdown, log_market_cap, log_dollar_volume,
        log_turnover``.
    """
    from ferrofactor.panel import Panel

    window = check_int("window", window, 2)
    liquidity_window = check_int("liquidity_window", liquidity_window, 1)
    beta_half_life = check_real("beta_half_life", beta_half_life, lo=0.0, lo_open=True, allow_none=True)
    vol_half_life = check_real("vol_half_life", vol_half_life, lo=0.0, lo_open=True, allow_none=True)
    check_real("min_fraction", min_fraction, lo=0.0, lo_open=True, hi=1.0)
    mask_unlisted = check_bool("mask_unlisted", mask_unlisted)
    if not isinstance(panel, (Panel, Mapping)):
        raise TypeError(f"panel must be a Panel or a mapping of field → (T, N) array, got {type(panel).__name__}")
    renames = dict(fields or {})

    def has(name: str) -> bool:
        return renames.get(name, name) in panel

    fields_read: dict[str, np.ndarray] = {}
    labelled = LabelsSeen()  # the labels of the frames read (Polars, pandas)

    def get(name: str) -> np.ndarray:
        key = renames.get(name, name)
        if key not in panel:
            raise ValueError(f"panel has no field {key!r} (needed for descriptors)")
        if key not in fields_read:
            # a frame keeps its labels: the frames of a mapping must carry the same dates and
            # assets (same order), never be paired by position
            arr, f_dates, f_assets = as_field(key, panel[key])
            labelled.add(key, f_dates, f_assets)
            if fields_read:  # every field has the shape of returns (the first one read)
                check_shape(key, arr, next(iter(fields_read.values())).shape, "the shape of returns")
            fields_read[key] = arr
        return fields_read[key]

    r = get("returns")
    cap = get("market_cap")
    # an infinite return or cap is a data error (whichever descriptors are asked for): it was
    # skipped as missing by volatility and the market return (moving every beta of its window)
    refuse_inf(renames.get("returns", "returns"), r, "NaN marks a missing return")
    refuse_inf(renames.get("market_cap", "market_cap"), cap, "NaN marks a missing cap")
    def ratio_cap(name: str) -> np.ndarray:  # a value descriptor: the cap was refused above
        return _ratio(name, get(name), "cap", cap, "checked")

    # name → (fields it needs, how to compute it); computed in this order
    recipes: dict[str, tuple[tuple[str, ...], Any]] = {
        "book_to_market": (("book_value",), lambda: ratio_cap("book_value")),
        "earnings_yield": (("earnings",), lambda: ratio_cap("earnings")),
        "cash_flow_yield": (("operating_cash_flow",), lambda: ratio_cap("operating_cash_flow")),
        **{name: ((), (lambda L=L, S=S: momentum(r, L, S, min_fraction)))
           for name, (L, S) in MOMENTUM_HORIZONS.items()},
        "roe": (("net_income", "book_value"), lambda: roe(get("net_income"), get("book_value"))),
        "profit_margin": (("net_income", "revenue"),
                          lambda: profit_margin(get("net_income"), get("revenue"))),
        "asset_turnover": (("revenue", "total_assets"),
                           lambda: asset_turnover(get("revenue"), get("total_assets"))),
        "leverage": (("total_liabilities", "total_assets"),
                     lambda: leverage(get("total_liabilities"), get("total_assets"))),
        "volatility": ((), lambda: volatility(r, window, vol_half_life, min_fraction)),
        "beta": ((), lambda: beta_pair()[0]),
        "residual_volatility": ((), lambda: beta_pair()[1] * math.sqrt(PERIODS_PER_YEAR)),
        "max_drawdown": ((), lambda: max_drawdown(r, window, min_fraction)),
        "log_market_cap": ((), lambda: _log_positive(cap)),
        "log_dollar_volume": (("dollar_volume",),
                              lambda: liquidity(get("dollar_volume"), None, liquidity_window)),
        "log_turnover": (("dollar_volume",),
                         lambda: _liquidity(get("dollar_volume"), cap, liquidity_window, 0.5, "checked")),
    }
    pair: list = []

    def beta_pair():
        if not pair:  # one rolling regression gives both beta and residual volatility
            if market is None:
                m = market_return(r, cap)
            else:  # a pandas Series indexed by date: on the dates of the panel (or of its frames)
                known = (panel.dates, "the panel") if isinstance(panel, Panel) else \
                    (labelled.dates[1], labelled.dates[0]) if labelled.dates is not None else (None, "")
                m = as_float_array("market", by_date("market", market, known[0], of=known[1])[0], 1)
            pair.extend(_rolling.rolling_beta(r, m, window, _min_periods(window, min_fraction), beta_half_life))
        return pair

    if names is None:
        wanted = [n for n, (need, _) in recipes.items() if all(has(f) for f in need)]
    else:
        if isinstance(names, str) or not all(isinstance(n, str) for n in names):
            raise TypeError(f"names must be a collection of descriptor names, got {names!r}")
        wanted = list(dict.fromkeys(names))
        for n in wanted:
            if n not in recipes:
                raise ValueError(f"names: unknown descriptor {n!r}; known: {list(recipes)}")
            missing = [f for f in recipes[n][0] if not has(f)]
            if missing:
                raise ValueError(f"names: descriptor {n!r} needs the fields {missing}, which the panel lacks")
    out: dict[str, np.ndarray] = {n: recipes[n][1]() for n in recipes if n in wanted}
    if mask_unlisted and out:
        dead = ~(np.isfinite(cap) & (cap > 0))
        if dead.any():
            for v in out.values():
                v[dead] = np.nan
    if isinstance(panel, Panel):
        return Panel(panel.dates, panel.assets, out)
    return out
