"""Style descriptors, their combination into style exposures, and momentum selection.

Descriptors are computed on ``(T, N)`` arrays (dates × assets, NaN = missing); the Panel-level
entry :func:`compute_descriptors` reads the fields of a :class:`ferrofactor.Panel` and returns a
dict of them. Every descriptor at date ``t`` uses only data available at the close of ``t``:
rolling windows end at row ``t``, market returns use caps of ``t − 1`` and fundamental fields come
point-in-time from the data layer (a report is visible only from its availability date). To
explain ``returns[t + 1]`` lag the result (``Exposures.lag(1)``).

Definitions (defaults in brackets)
----------------------------------
=================  ==========================================================================
value              ``book_to_market = book_value / market_cap``; ``earnings_yield =
                   earnings / market_cap``; ``cash_flow_yield = operating_cash_flow /
                   market_cap`` (NaN where the cap is not > 0)
momentum           ``momentum_12_1``, ``momentum_6_1``, ``momentum_3_1``: compounded return over
                   ``returns[t−L+1 .. t−21]`` with L = 252, 126, 63 trading days, i.e. from the
                   close L days ago to the close 21 days ago (the last month skipped)
quality            ``roe = net_income / book_value`` (book > 0); ``profit_margin = net_income /
                   revenue`` (revenue > 0); ``asset_turnover = revenue / total_assets``;
                   ``leverage = total_liabilities / total_assets`` (assets > 0)
low volatility     ``volatility``: std of daily returns over [252] days × sqrt(252); ``beta``: on
                   the market over [252] days with half-life [63] (Barra HBETA);
                   ``residual_volatility``: that regression's residual std × sqrt(252);
                   ``max_drawdown`` over [252] days (positive fraction)
size               ``log_market_cap = log(market_cap)``
liquidity          ``log_dollar_volume = log(mean dollar volume over [21] days)``;
                   ``log_turnover = log(mean(dollar_volume / market_cap) over [21] days)``
=================  ==========================================================================

Rolling descriptors need ``min_fraction`` [0.8] of their window's values to be finite
(liquidity: 0.5), so a newly listed asset gets a value once it has enough history.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ferrofactor import rolling as _rolling
from ferrofactor._validate import as_code_array, as_float_array, check_choice, check_shape

__all__ = [
    "DEFAULT_STYLES",
    "DEFAULT_STYLE_WEIGHTS",
    "MOMENTUM_HORIZONS",
    "MomentumSelection",
    "asset_turnover",
    "beta",
    "book_to_market",
    "cash_flow_yield",
    "combined_score",
    "compute_descriptors",
    "earnings_yield",
    "exposures_from_descriptors",
    "exposures_from_panel",
    "leverage",
    "liquidity",
    "log_market_cap",
    "market_return",
    "max_drawdown",
    "momentum",
    "momentum_selection",
    "month_starts",
    "neutralize_signal",
    "profit_margin",
    "residual_volatility",
    "roe",
    "volatility",
]

ANNUALIZATION = 252

#: name → (window L, skip S) in trading days: the 12-1, 6-1 and 3-1 month momenta.
MOMENTUM_HORIZONS: dict[str, tuple[int, int]] = {
    "momentum_12_1": (252, 21),
    "momentum_6_1": (126, 21),
    "momentum_3_1": (63, 21),
}

#: style → {descriptor: weight}: the seed pipeline's styles. Leverage enters quality negatively
#: and low volatility is minus volatility.
DEFAULT_STYLES: dict[str, dict[str, float]] = {
    "value": {"book_to_market": 1 / 3, "earnings_yield": 1 / 3, "cash_flow_yield": 1 / 3},
    "momentum": {"momentum_12_1": 0.5, "momentum_6_1": 0.3, "momentum_3_1": 0.2},
    "quality": {"roe": 0.25, "profit_margin": 0.25, "asset_turnover": 0.25, "leverage": -0.25},
    "low_vol": {"volatility": -1.0},
}

#: The seed pipeline's composite: 0.25 each of value, momentum, quality and low volatility.
DEFAULT_STYLE_WEIGHTS: dict[str, float] = {
    "value": 0.25,
    "momentum": 0.25,
    "quality": 0.25,
    "low_vol": 0.25,
}


def _min_periods(span: int, min_fraction: float) -> int:
    if not (isinstance(min_fraction, (int, float)) and 0 < min_fraction <= 1):
        raise ValueError(f"min_fraction must be in (0, 1], got {min_fraction!r}")
    return max(1, math.ceil(min_fraction * span))


def _ratio(num_name, num, den_name, den, positive_den: bool = True) -> np.ndarray:
    a = as_float_array(num_name, num, 2)
    b = as_float_array(den_name, den, 2)
    check_shape(den_name, b, a.shape, f"the shape of {num_name}")
    with np.errstate(invalid="ignore", divide="ignore"):
        out = a / b
    bad = ~np.isfinite(out) | ((b <= 0) if positive_den else (b == 0))
    out[bad] = np.nan
    return out


# --- value ----------------------------------------------------------------------------------


def book_to_market(book_value, market_cap) -> np.ndarray:
    """``book_value / market_cap``, (T, N); NaN where the cap is not > 0."""
    return _ratio("book_value", book_value, "market_cap", market_cap)


def earnings_yield(earnings, market_cap) -> np.ndarray:
    """``earnings / market_cap``, (T, N); NaN where the cap is not > 0."""
    return _ratio("earnings", earnings, "market_cap", market_cap)


def cash_flow_yield(operating_cash_flow, market_cap) -> np.ndarray:
    """``operating_cash_flow / market_cap``, (T, N); NaN where the cap is not > 0."""
    return _ratio("operating_cash_flow", operating_cash_flow, "market_cap", market_cap)


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

    That is the return from the close ``window`` days ago to the close ``skip`` days ago; the
    default is 12-1 months (252, 21). Needs ``ceil(min_fraction · (window − skip))`` finite
    returns in that span. Shape (T, N).
    """
    mp = _min_periods(window - skip, min_fraction)
    return _rolling.compounded_return(returns, window, skip, mp)


# --- low volatility, beta, drawdown -----------------------------------------------------------


def volatility(
    returns,
    window: int = 252,
    halflife: float | None = None,
    min_fraction: float = 0.8,
    annualize: bool = True,
) -> np.ndarray:
    """Standard deviation of daily returns over ``window`` days (× sqrt(252) if ``annualize``).

    Equal weights by default (ddof = 1); exponentially weighted with ``halflife`` (Barra DASTD:
    ``window=252, halflife=42``). Shape (T, N).
    """
    mp = _min_periods(window, min_fraction)
    out = _rolling.rolling_std(returns, window, mp, halflife=halflife)
    return out * math.sqrt(ANNUALIZATION) if annualize else out


def market_return(returns, market_cap=None) -> np.ndarray:
    """Market return per date, (T,): cap-weighted with caps of the previous date, else equal.

    ``m[t] = Σ cap[t−1] r[t] / Σ cap[t−1]`` over assets with both finite (and cap > 0), so the
    weights are known before the return; ``m[0]`` uses equal weights when caps are given (no
    earlier cap). NaN on a date with no usable asset.
    """
    r = as_float_array("returns", returns, 2)
    ok = np.isfinite(r)
    if market_cap is None:
        w = ok.astype(float)
    else:
        cap = as_float_array("market_cap", market_cap, 2)
        check_shape("market_cap", cap, r.shape, "the shape of returns")
        lag = np.empty_like(cap)
        lag[0] = 1.0
        lag[1:] = cap[:-1]
        w = np.where(ok & np.isfinite(lag) & (lag > 0), lag, 0.0)
    sw = w.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        m = (w * np.where(ok, r, 0.0)).sum(axis=1) / sw
    m[sw <= 0] = np.nan
    return m


def beta(
    returns, market, window: int = 252, halflife: float | None = 63.0, min_fraction: float = 0.8
) -> np.ndarray:
    """Beta of each asset on ``market`` (T,) over ``window`` days, EW with ``halflife``. (T, N)."""
    mp = _min_periods(window, min_fraction)
    return _rolling.rolling_beta(returns, market, window, mp, halflife)[0]


def residual_volatility(
    returns,
    market,
    window: int = 252,
    halflife: float | None = 63.0,
    min_fraction: float = 0.8,
    annualize: bool = True,
) -> np.ndarray:
    """Residual volatility of the :func:`beta` regression (× sqrt(252) if ``annualize``)."""
    mp = _min_periods(window, min_fraction)
    out = _rolling.rolling_beta(returns, market, window, mp, halflife)[1]
    return out * math.sqrt(ANNUALIZATION) if annualize else out


def max_drawdown(returns, window: int = 252, min_fraction: float = 0.8) -> np.ndarray:
    """Largest peak-to-trough loss over ``window`` days, positive fraction. (T, N)."""
    mp = _min_periods(window, min_fraction)
    return _rolling.max_drawdown(returns, window, mp)


# --- size and liquidity ---------------------------------------------------------------------


def log_market_cap(market_cap) -> np.ndarray:
    """``log(market_cap)``, (T, N); NaN where the cap is not > 0."""
    cap = as_float_array("market_cap", market_cap, 2)
    out = np.full(cap.shape, np.nan)
    ok = np.isfinite(cap) & (cap > 0)
    out[ok] = np.log(cap[ok])
    return out


def liquidity(
    dollar_volume, market_cap=None, window: int = 21, min_fraction: float = 0.5
) -> np.ndarray:
    """Log of the mean daily dollar volume over ``window`` days, or of the mean turnover.

    With ``market_cap`` the daily turnover ``dollar_volume / market_cap`` is averaged instead (a
    size-free liquidity measure, like Barra's STOM). NaN where the mean is not > 0. (T, N).
    """
    dv = as_float_array("dollar_volume", dollar_volume, 2)
    x = dv if market_cap is None else _ratio("dollar_volume", dv, "market_cap", market_cap)
    mean = _rolling.rolling_mean(x, window, _min_periods(window, min_fraction))
    out = np.full(mean.shape, np.nan)
    ok = np.isfinite(mean) & (mean > 0)
    out[ok] = np.log(mean[ok])
    return out


# --- Panel level ----------------------------------------------------------------------------

_PRICE_FIELDS = ("returns", "market_cap")


def compute_descriptors(
    panel: Any,
    *,
    market=None,
    window: int = 252,
    beta_halflife: float | None = 63.0,
    vol_halflife: float | None = None,
    liquidity_window: int = 21,
    min_fraction: float = 0.8,
    fields: Mapping[str, str] | None = None,
    mask_unlisted: bool = True,
) -> dict[str, np.ndarray]:
    """Every descriptor that the panel's fields allow, as a dict of (T, N) arrays.

    Parameters
    ----------
    panel : ferrofactor.Panel or mapping of field name → (T, N) array
        Needs ``returns`` and ``market_cap``; uses, when present, ``dollar_volume`` and the
        point-in-time fundamentals ``book_value``, ``earnings``, ``operating_cash_flow``,
        ``net_income``, ``revenue``, ``total_assets``, ``total_liabilities``.
    market : array_like, shape (T,), optional
        Market returns for beta; default :func:`market_return` (cap-weighted, lagged caps).
    window : int, default 252
        Window of volatility, beta, residual volatility and drawdown.
    beta_halflife, vol_halflife : float or None, default 63 and None
    liquidity_window : int, default 21
    min_fraction : float, default 0.8
        Fraction of each rolling window that must be finite.
    fields : mapping, optional
        Renames: ``{"returns": "ret", ...}`` if the panel's fields have other names.
    mask_unlisted : bool, default True
        Set every descriptor to NaN where ``market_cap`` is not finite and > 0 (before listing,
        after delisting, suspended days), so that no stale window survives a delisting.

    Returns
    -------
    dict
        Keys (those computable): ``book_to_market, earnings_yield, cash_flow_yield,
        momentum_12_1, momentum_6_1, momentum_3_1, roe, profit_margin, asset_turnover, leverage,
        volatility, beta, residual_volatility, max_drawdown, log_market_cap, log_dollar_volume,
        log_turnover``.
    """
    names = dict(fields or {})

    def has(name: str) -> bool:
        return names.get(name, name) in panel

    def get(name: str) -> np.ndarray:
        key = names.get(name, name)
        if key not in panel:
            raise ValueError(f"panel has no field {key!r} (needed for descriptors)")
        return as_float_array(key, panel[key], 2)

    r = get("returns")
    cap = get("market_cap")
    check_shape("market_cap", cap, r.shape, "the shape of returns")
    m = market_return(r, cap) if market is None else as_float_array("market", market, 1)
    out: dict[str, np.ndarray] = {}
    if has("book_value"):
        out["book_to_market"] = book_to_market(get("book_value"), cap)
    if has("earnings"):
        out["earnings_yield"] = earnings_yield(get("earnings"), cap)
    if has("operating_cash_flow"):
        out["cash_flow_yield"] = cash_flow_yield(get("operating_cash_flow"), cap)
    for name, (L, S) in MOMENTUM_HORIZONS.items():
        out[name] = momentum(r, L, S, min_fraction)
    if has("net_income") and has("book_value"):
        out["roe"] = roe(get("net_income"), get("book_value"))
    if has("net_income") and has("revenue"):
        out["profit_margin"] = profit_margin(get("net_income"), get("revenue"))
    if has("revenue") and has("total_assets"):
        out["asset_turnover"] = asset_turnover(get("revenue"), get("total_assets"))
    if has("total_liabilities") and has("total_assets"):
        out["leverage"] = leverage(get("total_liabilities"), get("total_assets"))
    out["volatility"] = volatility(r, window, vol_halflife, min_fraction)
    mp = _min_periods(window, min_fraction)
    b, rv = _rolling.rolling_beta(r, m, window, mp, beta_halflife)
    out["beta"] = b
    out["residual_volatility"] = rv * math.sqrt(ANNUALIZATION)
    out["max_drawdown"] = max_drawdown(r, window, min_fraction)
    out["log_market_cap"] = log_market_cap(cap)
    if has("dollar_volume"):
        dv = get("dollar_volume")
        out["log_dollar_volume"] = liquidity(dv, None, liquidity_window)
        out["log_turnover"] = liquidity(dv, cap, liquidity_window)
    if mask_unlisted:
        dead = ~(np.isfinite(cap) & (cap > 0))
        for v in out.values():
            v[dead] = np.nan
    return out


# --- exposures from descriptors -------------------------------------------------------------


def _clean():
    # The cleaning kernels (winsorize/standardize/neutralize) live in ferrofactor.clean.
    from ferrofactor import clean

    return clean


def _industry_fill(x: np.ndarray, codes: np.ndarray | None, need: np.ndarray) -> np.ndarray:
    """Fill ``need`` cells with their date's industry mean (0 without an industry or members)."""
    out = x.copy()
    T, N = x.shape
    fill = np.zeros((T, N))
    if codes is not None:
        G = int(codes.max()) + 1 if codes.size else 0
        if G > 0:
            key = np.arange(T)[:, None] * G + np.maximum(codes, 0)
            have = np.isfinite(x) & (codes >= 0)
            s = np.bincount(key[have], weights=x[have], minlength=T * G)
            c = np.bincount(key[have], minlength=T * G)
            with np.errstate(invalid="ignore", divide="ignore"):
                mean = np.where(c > 0, s / np.maximum(c, 1), 0.0)
            fill = np.where(codes >= 0, mean[key], 0.0)
    out[need] = fill[need]
    return out


def exposures_from_descriptors(
    descriptors: Mapping[str, Any],
    styles: Mapping[str, Mapping[str, float]] | None = None,
    *,
    cap=None,
    industry=None,
    industry_names: Sequence[str] | None = None,
    winsorize: str | None = "sigma",
    winsorize_limit: float = 3.0,
    fill: str | None = "industry_mean",
    orthogonalize: Mapping[str, Sequence[str]] | None = None,
    market: bool = True,
    dates=None,
    assets=None,
):
    """Build style exposures from descriptors (the seed pipeline's recipe, per date).

    For each style ``k`` with descriptor weights ``{d: w_d}``:

    1. each descriptor is winsorised (``winsorize`` method, ``winsorize_limit``) and
       standardised (cap-weighted mean, equal-weighted std) per date;
    2. the style is ``Σ w_d z_d / Σ |w_d|`` over the descriptors available for that asset and
       date (missing descriptors drop out and the weights are rescaled, as in Barra);
    3. the style is winsorised and standardised again;
    4. missing exposures of assets in the universe are filled (``fill``): ``"industry_mean"``
       (the date's mean within the asset's industry; 0 = the cap-weighted mean without an
       industry), ``"zero"``, or ``None`` (left NaN);
    5. optionally (``orthogonalize={"low_vol": ["value"], ...}``) a style is replaced by the
       residual of a cap-weighted regression on an intercept and the listed styles (which must
       come earlier in ``styles``), then re-standardised.

    Parameters
    ----------
    descriptors : mapping of name → (T, N) array
        E.g. the output of :func:`compute_descriptors`.
    styles : mapping of style → {descriptor: weight}, default :data:`DEFAULT_STYLES`
        Value, momentum (0.5/0.3/0.2 on 12-1/6-1/3-1), quality (leverage at −1/4) and low
        volatility (−volatility). A negative weight enters the descriptor with a minus sign.
    cap : array_like, shape (T, N), optional
        Market cap: weights of the standardisation mean and the orthogonalisation regression,
        and the universe (assets with a finite, positive cap). Without it: equal weights, and
        the universe is every asset with at least one finite descriptor on that date.
    industry : array_like of int, shape (T, N), optional
        Industry codes (-1 = none), kept in the result and used by ``fill="industry_mean"``.
    industry_names : sequence of str, optional
    winsorize : {"sigma", "quantile", "mad"} or None, default "sigma"
    winsorize_limit : float, default 3.0
    fill : {"industry_mean", "zero"} or None, default "industry_mean"
    orthogonalize : mapping of style → sequence of styles, optional
    market, dates, assets
        Passed to :class:`ferrofactor.Exposures`.

    Returns
    -------
    ferrofactor.Exposures
        ``styles`` (T, N, K) in the order of ``styles``; NaN outside the universe.
    """
    from ferrofactor.exposures import Exposures

    clean = _clean()
    styles = DEFAULT_STYLES if styles is None else styles
    if not styles:
        raise ValueError("styles must name at least one style")
    if winsorize is not None:
        check_choice("winsorize", winsorize, ("sigma", "quantile", "mad"))
    if fill is not None:
        check_choice("fill", fill, ("industry_mean", "zero"))
    desc: dict[str, np.ndarray] = {}
    shape = None
    for style, parts in styles.items():
        if not parts:
            raise ValueError(f"style {style!r} has no descriptors")
        for d, w in parts.items():
            if d not in descriptors:
                raise ValueError(
                    f"style {style!r} needs descriptor {d!r}, which is not among the descriptors "
                    f"given: {sorted(descriptors)}"
                )
            if not (isinstance(w, (int, float)) and np.isfinite(w) and w != 0):
                raise ValueError(f"weight of {d!r} in style {style!r} must be a non-zero number, got {w!r}")
            if d not in desc:
                desc[d] = as_float_array(d, descriptors[d], 2)
                if shape is None:
                    shape = desc[d].shape
                check_shape(d, desc[d], shape, "the shape of the other descriptors")
    T, N = shape
    capw = None
    if cap is not None:
        capw = as_float_array("cap", cap, 2)
        check_shape("cap", capw, shape, "the shape of the descriptors")
        capw = np.where(np.isfinite(capw) & (capw > 0), capw, np.nan)
        universe = np.isfinite(capw)
    else:
        universe = np.zeros(shape, dtype=bool)
        for v in desc.values():
            universe |= np.isfinite(v)
    codes = None
    if industry is not None:
        codes = as_code_array("industry", industry, 2)
        check_shape("industry", codes, shape, "the shape of the descriptors")
    orth = dict(orthogonalize or {})
    names = list(styles)
    for s, others in orth.items():
        if s not in styles:
            raise ValueError(f"orthogonalize names style {s!r}, which is not among {names}")
        for o in others:
            if o not in styles or names.index(o) >= names.index(s):
                raise ValueError(
                    f"style {s!r} can only be orthogonalised against styles before it in {names}, got {o!r}"
                )

    def prepare(x: np.ndarray) -> np.ndarray:
        x = np.where(universe, x, np.nan)
        if winsorize is not None:
            x = clean.winsorize(x, method=winsorize, limit=winsorize_limit)
        return clean.standardize(x, weights=capw)

    z = {d: prepare(v) for d, v in desc.items()}
    out = np.full((T, N, len(styles)), np.nan)
    for k, (style, parts) in enumerate(styles.items()):
        num = np.zeros(shape)
        den = np.zeros(shape)
        for d, w in parts.items():
            ok = np.isfinite(z[d])
            num[ok] += w * z[d][ok]
            den[ok] += abs(w)
        with np.errstate(invalid="ignore", divide="ignore"):
            x = np.where(den > 0, num / den, np.nan)
        x = prepare(x)
        need = universe & ~np.isfinite(x)
        if fill == "zero":
            x[need] = 0.0
        elif fill == "industry_mean":
            x = _industry_fill(x, codes, need)
        if style in orth:
            ctl = np.stack([out[:, :, names.index(o)] for o in orth[style]], axis=2)
            x = clean.standardize(clean.neutralize(x, controls=ctl, weights=capw), weights=capw)
        out[:, :, k] = x
    return Exposures(
        out,
        codes,
        style_names=names,
        industry_names=industry_names if codes is not None else None,
        market=market,
        dates=dates,
        assets=assets,
    )


def exposures_from_panel(
    panel: Any,
    styles: Mapping[str, Mapping[str, float]] | None = None,
    *,
    industry_field: str | None = "industry",
    descriptor_options: Mapping[str, Any] | None = None,
    **kwargs: Any,
):
    """Descriptors and style exposures of a Panel in one call.

    ``compute_descriptors(panel, **descriptor_options)`` followed by
    :func:`exposures_from_descriptors` with ``cap=panel["market_cap"]``, the industry codes and
    names of ``panel[industry_field]`` (if present; None = no industries), and the panel's dates
    and assets. Other keyword arguments go to :func:`exposures_from_descriptors`.

    Returns
    -------
    ferrofactor.Exposures
        Row t known at the close of t; use ``.lag(1)`` to explain ``returns[t + 1]``.
    """
    desc = compute_descriptors(panel, **dict(descriptor_options or {}))
    kwargs.setdefault("cap", panel["market_cap"])
    if industry_field is not None and industry_field in panel and "industry" not in kwargs:
        kwargs["industry"] = panel[industry_field]
        if hasattr(panel, "labels"):
            kwargs.setdefault("industry_names", list(panel.labels(industry_field)))
    for attr in ("dates", "assets"):
        if hasattr(panel, attr):
            kwargs.setdefault(attr, getattr(panel, attr))
    return exposures_from_descriptors(desc, styles, **kwargs)


def combined_score(exposures, weights: Mapping[str, float] | None = None) -> np.ndarray:
    """The seed pipeline's composite signal ``Σ_k weight_k · style_k``, (T, N).

    Parameters
    ----------
    exposures : ferrofactor.Exposures
        With the styles named in ``weights``.
    weights : mapping of style → weight, default :data:`DEFAULT_STYLE_WEIGHTS`
        0.25 each of value, momentum, quality and low_vol.

    Returns
    -------
    ndarray, shape (T, N)
        NaN where any weighted style is NaN.
    """
    weights = DEFAULT_STYLE_WEIGHTS if weights is None else weights
    if exposures.styles is None:
        raise ValueError("exposures has no styles")
    names = exposures.style_names
    out = np.zeros(exposures.shape)
    for s, w in weights.items():
        if s not in names:
            raise ValueError(f"weights names style {s!r}, which is not among the exposures' styles {names}")
        out = out + float(w) * exposures.styles[:, :, names.index(s)]
    return out


def neutralize_signal(
    signal,
    exposures=None,
    controls: Sequence[str] | None = None,
    *,
    industry: bool = True,
    weights=None,
    standardize: bool = True,
) -> np.ndarray:
    """Remove from a signal what chosen controls explain, per date (the seed 004 procedure).

    Each date's signal is regressed (weighted least squares) on an intercept, the named style
    exposures and the industry dummies; the residual is exactly orthogonal to each of them, so a
    portfolio proportional to it has no exposure to those factors on that date.

    Parameters
    ----------
    signal : array_like, shape (T, N)
    exposures : ferrofactor.Exposures, optional
        Where the controls come from.
    controls : sequence of str, optional
        Style names of ``exposures`` to neutralise against (default: all of its styles).
    industry : bool, default True
        Also neutralise against the exposures' industries (if it has any).
    weights : array_like, shape (T, N), optional
        Regression weights (default equal).
    standardize : bool, default True
        Standardise the residual per date (mean 0, std 1).

    Returns
    -------
    ndarray, shape (T, N)
    """
    clean = _clean()
    x = as_float_array("signal", signal, 2)
    ctl = None
    codes = None
    if exposures is not None:
        if exposures.shape != x.shape:
            raise ValueError(f"exposures has shape {exposures.shape}, expected {x.shape} (signal)")
        names = exposures.style_names
        use = names if controls is None else list(controls)
        for c in use:
            if c not in names:
                raise ValueError(f"controls names style {c!r}, which is not among {names}")
        if use:
            ctl = np.ascontiguousarray(exposures.styles[:, :, [names.index(c) for c in use]])
        if industry and exposures.industry is not None:
            codes = exposures.industry
    elif controls:
        raise ValueError("controls given without exposures")
    res = clean.neutralize(x, controls=ctl, industry=codes, weights=weights)
    return clean.standardize(res) if standardize else res


# --- cross-sectional momentum selection (seed 002) ------------------------------------------


@dataclass(frozen=True)
class MomentumSelection:
    """Top and bottom momentum sets per rebalance date.

    Attributes
    ----------
    rebalance : ndarray of int, shape (R,)
        Row positions (dates) of the rebalances, increasing.
    dates : ndarray of datetime64[D], shape (R,), or None
    long, short : ndarray of bool, shape (R, N)
        The top / bottom ``percentile`` of the eligible assets by momentum (equal counts).
    momentum : ndarray, shape (R, N)
        The ranking signal on each rebalance date (NaN where not computable).
    eligible : ndarray of bool, shape (R, N)
        Finite momentum and average dollar volume above the threshold.
    """

    rebalance: np.ndarray
    dates: np.ndarray | None
    long: np.ndarray
    short: np.ndarray
    momentum: np.ndarray
    eligible: np.ndarray


def month_starts(dates) -> np.ndarray:
    """Row positions of the first date of each calendar month in sorted ``dates`` (T,)."""
    d = np.asarray(dates, dtype="datetime64[D]")
    if d.ndim != 1:
        raise ValueError(f"dates must be 1-dimensional, got shape {d.shape}")
    if d.size == 0:
        return np.zeros(0, dtype=np.int64)
    m = d.astype("datetime64[M]")
    return np.flatnonzero(np.r_[True, m[1:] != m[:-1]])


def momentum_selection(
    returns,
    dollar_volume,
    rebalance,
    *,
    window: int = 252,
    skip: int = 21,
    min_dollar_volume: float = 1e7,
    percentile: float = 0.1,
    min_fraction: float = 0.8,
    dates=None,
) -> MomentumSelection:
    """Cross-sectional momentum: rank by ``window``-``skip`` momentum after a liquidity filter.

    On each rebalance date t (known at the close of t, to trade for ``returns[t+1 ..]``): an
    asset is eligible if its momentum (:func:`momentum`) is finite and its mean dollar volume over
    ``window`` days up to t exceeds ``min_dollar_volume``; with ``M`` eligible assets the
    ``n = floor(M · percentile)`` highest momenta are ``long`` and the ``n`` lowest ``short``
    (ties broken by asset position, deterministically).

    Parameters
    ----------
    returns, dollar_volume : array_like, shape (T, N)
    rebalance : array_like of int (R,) or bool (T,)
        Rebalance rows (e.g. :func:`month_starts`), or a boolean mask over dates.
    window, skip : int, default 252, 21
        12-1 months.
    min_dollar_volume : float, default 1e7
    percentile : float, default 0.1
        In (0, 0.5].
    min_fraction : float, default 0.8
        Fraction of each window that must be finite (momentum and dollar volume).
    dates : array_like of datetime64[D], shape (T,), optional
        Carried to the result's ``dates``.

    Returns
    -------
    MomentumSelection
    """
    r = as_float_array("returns", returns, 2)
    dv = as_float_array("dollar_volume", dollar_volume, 2)
    check_shape("dollar_volume", dv, r.shape, "the shape of returns")
    T, N = r.shape
    if not (isinstance(percentile, (int, float)) and 0 < percentile <= 0.5):
        raise ValueError(f"percentile must be in (0, 0.5], got {percentile!r}")
    if not (isinstance(min_dollar_volume, (int, float)) and np.isfinite(min_dollar_volume)):
        raise ValueError(f"min_dollar_volume must be a finite number, got {min_dollar_volume!r}")
    reb = np.asarray(rebalance)
    if reb.dtype == bool:
        if reb.shape != (T,):
            raise ValueError(f"rebalance mask has shape {reb.shape}, expected ({T},)")
        reb = np.flatnonzero(reb)
    elif np.issubdtype(reb.dtype, np.integer) and reb.ndim == 1:
        if reb.size and (reb.min() < 0 or reb.max() >= T):
            raise ValueError(f"rebalance rows must be in [0, {T}), got {reb.min()}..{reb.max()}")
        if np.any(np.diff(reb) <= 0):
            raise ValueError("rebalance rows must be strictly increasing")
    else:
        raise TypeError(f"rebalance must be integer rows or a boolean mask, got dtype {reb.dtype}")
    if dates is not None:
        dates = np.asarray(dates, dtype="datetime64[D]")
        if dates.shape != (T,):
            raise ValueError(f"dates has shape {dates.shape}, expected ({T},)")
    mom = momentum(r, window, skip, min_fraction)[reb]
    adv = _rolling.rolling_mean(dv, window, _min_periods(window, min_fraction))[reb]
    eligible = np.isfinite(mom) & np.isfinite(adv) & (adv > min_dollar_volume)
    R = reb.size
    long = np.zeros((R, N), dtype=bool)
    short = np.zeros((R, N), dtype=bool)
    # One stable sort per row: ineligible assets get +inf and go last (vectorised over dates).
    key = np.where(eligible, mom, np.inf)
    order = np.argsort(key, axis=1, kind="stable")
    n = np.floor(eligible.sum(axis=1) * percentile).astype(np.int64)
    M = eligible.sum(axis=1)
    pos = np.arange(N)[None, :]
    rows = np.arange(R)[:, None]
    short[rows, order] = pos < n[:, None]
    long[rows, order] = (pos >= (M - n)[:, None]) & (pos < M[:, None])
    return MomentumSelection(reb.astype(np.int64), None if dates is None else dates[reb], long, short, mom, eligible)
