"""Signals built from exposures: composite scores, neutralised signals, momentum selections.

Time: a signal at row ``t`` uses exposures known at the close of ``t``; it can trade from the
close of ``t`` and earns ``returns[t + 1 ..]``. Nothing here shifts data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ferrofactor import rolling as _rolling
from ferrofactor._validate import (
    LabelsSeen,
    _is_polars_frame,
    as_dates,
    as_field,
    as_float_array,
    by_date,
    check_bool,
    check_real,
    check_same_labels,
    check_shape,
    field_axes,
    is_date_indexed,
    refuse_text_ordered_ids,
)
from ferrofactor.construct import share_count
from ferrofactor.descriptors import _min_periods, momentum
from ferrofactor.exposures import Exposures
from ferrofactor.io import _positive_where_present, bridged_returns
from ferrofactor.results import Result, Summary, readonly

__all__ = [
    "DEFAULT_STYLE_WEIGHTS",
    "MomentumSelection",
    "combined_score",
    "momentum_selection",
    "month_starts",
    "neutralize_signal",
]

#: The seed pipeline's composite: 0.25 each of value, momentum, quality and low volatility.
DEFAULT_STYLE_WEIGHTS: dict[str, float] = {
    "value": 0.25,
    "momentum": 0.25,
    "quality": 0.25,
    "low_vol": 0.25,
}


def combined_score(exposures, weights: Mapping[str, float] | None = None) -> np.ndarray:
    """The seed pipeline's composite signal ``Σ_k weight_k · style_k``, (T, N).

    Parameters
    ----------
    exposures : ferrofactor.Exposures
        With the styles named in ``weights``.
    weights : mapping of style → weight, default :data:`DEFAULT_STYLE_WEIGHTS`
        0.25 each of value, momentum, quality and low_vol. An empty mapping, or one whose weights
        are all 0, is a ``ValueError`` (the score would be 0 everywhere).

    Returns
    -------
    ndarray, shape (T, N)
        NaN where any style of non-zero weight is NaN (a style weighted 0 is left out: its
        missing values do not blank the score).
    """
    if not isinstance(exposures, Exposures):
        raise TypeError(
            f"exposures must be a ferrofactor.Exposures (named styles), got {type(exposures).__name__}"
        )
    weights = DEFAULT_STYLE_WEIGHTS if weights is None else weights
    if not isinstance(weights, Mapping):
        raise TypeError(f"weights must be a mapping of style → weight, got {type(weights).__name__}")
    if exposures.styles is None:
        raise ValueError("exposures has no styles")
    names = exposures.style_names
    if not weights:
        raise ValueError(f"weights is empty: name at least one of the exposures' styles {names}")
    checked = {}
    for s, w in weights.items():
        if s not in names:
            raise ValueError(f"weights names style {s!r}, which is not among the exposures' styles {names}")
        checked[s] = check_real(f"weights[{s!r}]", w)
    if all(w == 0 for w in checked.values()):
        raise ValueError("weights: every weight is 0, so the score would be 0 everywhere")
    out = np.zeros(exposures.shape)
    for s, w in checked.items():
        if w != 0:  # 0 · NaN would blank the score where a style switched off is missing
            out = out + w * exposures.styles[:, :, names.index(s)]
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
    exposures and the industry dummies; the residual is exactly orthogonal to each of them in the
    regression's inner product (``Σ_i w_i e_i z_i = 0``), so a portfolio proportional to it
    (to ``w ⊙ e`` with ``weights``) has no exposure to those factors on that date.

    Parameters
    ----------
    signal : array_like or Polars frame (long or wide), shape (T, N)
        A frame keeps its labels: they must equal the dates and assets of ``exposures`` (same
        order) when it carries them, else ``ValueError``; the result is then a frame of the same
        form and labels.
    exposures : ferrofactor.Exposures, optional
        Where the controls come from.
    controls : sequence of str, optional
        Style names of ``exposures`` to neutralise against (default: all of its styles).
    industry : bool, default True
        Also neutralise against the exposures' industries (if it has any).
    weights : array_like or Polars frame, shape (T, N), optional
        Regression weights (default equal). A frame is matched on its labels with ``signal`` and
        ``exposures`` (never by position).
    standardize : bool, default True
        Standardise the residual per date (mean 0, std 1; with ``weights`` the weighted mean, as
        :func:`ferrofactor.standardize` with the same weights: the plain mean would undo the
        weighted orthogonality). A date the regression fits exactly (no more assets than
        regressors) has no residual dispersion: 0, as a constant date; so does a date whose
        signal the controls explain (a constant, an industry-level signal: a residual under 1e-9
        of the signal's spread is rounding, never scaled up to ±1).

    Returns
    -------
    ndarray, shape (T, N), or a Polars frame of the form and labels of a frame ``signal``
    """
    from ferrofactor import clean
    from ferrofactor.panel import frame_from_field

    if type(signal).__name__ == "LazyFrame" and _is_polars_frame(signal):
        signal = signal.collect()
    # a frame's rows come out in date order: fine against labelled exposures and a weights frame,
    # ambiguous against exposures without dates or a weights array (paired row by row)
    e_dates = getattr(exposures, "dates", None) if isinstance(exposures, Exposures) else None
    # (a pandas signal gives an array back, rows as given: they must be in date order)
    paired = (exposures is not None and e_dates is None) or (
        weights is not None and not field_axes(weights)[0]) or not _is_polars_frame(signal)
    ids = signal.schema["asset"] if _is_polars_frame(signal) and "asset" in signal.columns else None
    e_assets = getattr(exposures, "assets", None) if isinstance(exposures, Exposures) else None
    if ids is not None and ids.is_integer() and (
            (exposures is not None and e_assets is None) or (weights is not None and not field_axes(weights)[1])):
        # a long frame's assets are sorted as text ('1', '10', '2', ...): unlabelled partners
        # would meet them in that order, which nobody would guess
        partner = "exposures (without asset labels)" if exposures is not None and e_assets is None else "weights"
        refuse_text_ordered_ids("signal", ids, partner, "give it labels (a frame, or Exposures with assets)")
    x, s_dates, s_assets = as_field("signal", signal, date_order=paired)
    industry = check_bool("industry", industry)
    standardize = check_bool("standardize", standardize)
    ctl = None
    codes = None
    if exposures is not None:
        if not isinstance(exposures, Exposures):
            raise TypeError(f"exposures must be a ferrofactor.Exposures, got {type(exposures).__name__}")
        if exposures.shape != x.shape:
            raise ValueError(f"exposures has shape {exposures.shape}, expected {x.shape} (signal)")
        exposures.check_labels("signal", s_dates, s_assets)
        names = exposures.style_names
        use = names if controls is None else list(controls)
        for c in use:
            if c not in names:
                raise ValueError(f"controls names style {c!r}, which is not among {names}")
        if use:
            idx = [names.index(c) for c in use]
            # every style in order: the array itself (no copy of the largest array, (T, N, K));
            # else one C-ordered copy of the chosen styles
            ctl = (exposures.styles if idx == list(range(len(names)))
                   else np.take(exposures.styles, idx, axis=2))
        if industry and exposures.industry is not None:
            codes = exposures.industry
    elif controls:
        raise ValueError("controls given without exposures")
    if weights is not None:
        # a frame is matched on its labels with the signal and the exposures, never by position
        weights, w_dates, w_assets = as_field(
            "weights", weights, date_order=s_dates is None and e_dates is None)
        check_same_labels("weights", w_dates, w_assets, "signal", s_dates, s_assets)
        if exposures is not None:
            exposures.check_labels("weights", w_dates, w_assets)
    res = clean.neutralize(x, controls=ctl, industry=codes, weights=weights)
    if standardize:
        # a date fitted exactly (no more assets than regressors) leaves rounding, not a signal
        clean._zero_exact_fits(res, x, 0 if ctl is None else ctl.shape[2], codes)
    # centred on the weighted mean with weights (0 up to rounding: the regression has an
    # intercept), so the standardised signal keeps the residual's weighted orthogonality; the
    # plain mean shifted it by a constant the weighted regressors are not orthogonal to
    out = clean.standardize(res, weights=weights) if standardize else res
    if not _is_polars_frame(signal):
        return out
    if "asset" in signal.columns:
        value = next(c for c in signal.columns if c not in ("date", "asset"))
        res = frame_from_field(out, s_dates, s_assets, form="long", value_name=value)
        # the ids come back as they came in, so that the result joins with the input
        return res.with_columns(res["asset"].cast(ids)) if ids is not None and ids.is_integer() else res
    return frame_from_field(out, s_dates, s_assets, form="wide")


# --- cross-sectional momentum selection (seed 002) ------------------------------------------


class MomentumSelection(Result):
    """Top and bottom momentum sets per rebalance date (seed 002), labelled.

    Attributes (read-only)
    ----------------------
    rebalance : ndarray of int64, shape (R,)
        Row positions (on the input's dates) of the rebalances, increasing.
    dates : ndarray of datetime64[D] (R,) or None
        The rebalance dates (None when the input carried no dates).
    assets : ndarray of str (N,) or None
    long, short : ndarray of bool, shape (R, N)
        The top / bottom ``percentile`` of the eligible assets by momentum (equal counts).
    momentum : ndarray, shape (R, N)
        The ranking signal on each rebalance date (NaN where not computable).
    eligible : ndarray of bool, shape (R, N)
        Finite momentum and average dollar volume above the threshold.
    """

    _arrays = {
        "momentum": ("date", "asset"), "long": ("date", "asset"), "short": ("date", "asset"),
        "eligible": ("date", "asset"), "n_long": ("date",), "n_short": ("date",),
        "n_eligible": ("date",),
    }
    _groups = {"counts": ("n_eligible", "n_long", "n_short")}
    _default_kind = "counts"

    def __init__(self, rebalance, dates, assets, long, short, momentum, eligible, settings):
        self._rebalance = readonly(rebalance)
        self._dates = readonly(dates)
        self._assets = readonly(assets)
        self._long, self._short = readonly(long), readonly(short)
        self._momentum, self._eligible = readonly(momentum), readonly(eligible)
        self._settings = dict(settings)

    rebalance = property(lambda self: self._rebalance, doc="(R,) rebalance rows.")
    dates = property(lambda self: self._dates, doc="(R,) rebalance dates, or None.")
    assets = property(lambda self: self._assets, doc="(N,) asset labels, or None.")
    long = property(lambda self: self._long, doc="(R, N) long set.")
    short = property(lambda self: self._short, doc="(R, N) short set.")
    momentum = property(lambda self: self._momentum, doc="(R, N) momentum on rebalance dates.")
    eligible = property(lambda self: self._eligible, doc="(R, N) eligible assets.")
    n_long = property(lambda self: readonly(self._long.sum(axis=1)), doc="(R,) size of the long set.")
    n_short = property(lambda self: readonly(self._short.sum(axis=1)), doc="(R,) size of the short set.")
    n_eligible = property(lambda self: readonly(self._eligible.sum(axis=1)), doc="(R,) eligible assets.")

    def _axis_labels(self, axis: str) -> Any:
        # without dates the frames are labelled by the rebalance rows of the input (as
        # ``rebalance``), not 0..R-1: a frame joins the input's rows on ``date``
        if axis == "date" and self._dates is None:
            return self._rebalance
        return super()._axis_labels(axis)

    def summary(self) -> Summary:
        R = len(self._rebalance)
        header = [("Rebalances", R), ("Assets", self._long.shape[1])] + [
            (k.replace("_", " ").capitalize(), v) for k, v in self._settings.items()
        ]
        import polars as pl

        table = pl.DataFrame({
            "statistic": ["eligible", "long", "short"],
            "mean": [float(np.mean(self.n_eligible)) if R else np.nan,
                     float(np.mean(self.n_long)) if R else np.nan,
                     float(np.mean(self.n_short)) if R else np.nan],
            "min": [int(self.n_eligible.min()) if R else 0, int(self.n_long.min()) if R else 0,
                    int(self.n_short.min()) if R else 0],
            "max": [int(self.n_eligible.max()) if R else 0, int(self.n_long.max()) if R else 0,
                    int(self.n_short.max()) if R else 0],
        })
        return Summary("Momentum selection", header, [("Set sizes per rebalance", table)])


def month_starts(dates) -> np.ndarray:
    """Row positions of the first date of each calendar month in sorted ``dates`` (T,).

    ``dates``: datetime64, ``datetime.date`` or ISO strings, strictly increasing; integers are
    refused (20240102 is not a day number)."""
    from ferrofactor.panel import _as_dates

    d = _as_dates("dates", dates)
    if d.size == 0:
        return np.zeros(0, dtype=np.int64)
    if not np.all(d[1:] > d[:-1]):
        i = int(np.flatnonzero(d[1:] <= d[:-1])[0])
        raise ValueError(f"dates must be strictly increasing: {d[i + 1]} at position {i + 1} follows {d[i]}")
    m = d.astype("datetime64[M]")
    return np.flatnonzero(np.r_[True, m[1:] != m[:-1]])


def momentum_selection(
    returns,
    dollar_volume=None,
    rebalance=None,
    *,
    window: int = 252,
    skip: int = 21,
    min_dollar_volume: float = 1e7,
    percentile: float = 0.1,
    min_fraction: float = 0.8,
    dates=None,
    assets=None,
    prices: str | None = None,
) -> MomentumSelection:
    """Cross-sectional momentum: rank by ``window``-``skip`` momentum after a liquidity filter.

    On each rebalance date t (known at the close of t, to trade for ``returns[t+1 ..]``): an
    asset is eligible if its momentum (:func:`momentum`) is finite and its mean dollar volume over
    ``window`` days up to t exceeds ``min_dollar_volume``; with ``M`` eligible assets the
    ``n = floor(M · percentile)`` (0.29 · 100 gives 29: :func:`ferrofactor.construct.share_count`) highest
    momenta are ``long`` and the ``n`` lowest ``short``
    (ties broken by asset position, deterministically).

    Parameters
    ----------
    returns : Panel, or array_like / Polars frame / pandas DataFrame (T, N)
        A Panel gives ``returns``, ``dollar_volume``, dates and assets (then leave
        ``dollar_volume``, ``dates`` and ``assets`` unset). Frames (Polars, or pandas indexed
        by date) keep their labels: they must match each other and ``dates``/``assets`` when
        given (else ``ValueError``), and label the result.
    dollar_volume : array_like / Polars frame / pandas DataFrame (T, N)
    rebalance : array_like of int (R,) or bool (T,), optional
        Rebalance rows (e.g. :func:`month_starts`), or a boolean mask over dates (a pandas Series
        indexed by date must carry the dates, in their order; never paired by position).
        Default: the first trading day of each month (needs dates).
    window, skip : int, default 252, 21
        12-1 months.
    min_dollar_volume : float, default 1e7
    percentile : float, default 0.1
        In (0, 0.5].
    min_fraction : float, default 0.8
        Fraction of each window that must be finite (momentum and dollar volume).
    dates : array_like of datetime64[D], shape (T,), optional
    assets : array_like of str, shape (N,), optional
        Labels of the result.
    prices : str, optional
        With a Panel: a price field (e.g. ``"close"``, adjusted) to take momentum from, with
        suspensions bridged (:func:`ferrofactor.returns_from_prices` with ``bridge=True``), so that
        it is close to close across a suspension (seed 002's ``end_price / start_price − 1``).
        Default: the panel's ``returns``, in which the move over a suspension is missing (see
        :func:`momentum`). With arrays, pass such returns as ``returns``.

    Returns
    -------
    MomentumSelection
    """
    from ferrofactor.panel import Panel

    panel_given = isinstance(returns, Panel)
    if panel_given:
        if dollar_volume is not None or dates is not None or assets is not None:
            raise ValueError("with a Panel, dollar_volume, dates and assets come from the panel")
        for f in ("dollar_volume",) if prices is not None else ("returns", "dollar_volume"):
            if f not in returns:
                raise ValueError(f"panel has no field {f!r}; fields: {list(returns.fields)}")
        panel = returns
        dates, assets = panel.dates, panel.assets
        dollar_volume = panel["dollar_volume"]
        if prices is None:
            returns = panel["returns"]
        else:
            if not isinstance(prices, str):
                raise TypeError(f"prices must be the name of a price field of the panel, got {type(prices).__name__}")
            if prices not in panel.float_fields:
                raise ValueError(f"prices={prices!r} is not a float field of the panel: {list(panel.float_fields)}")
            p = as_float_array(f"prices ({prices!r})", panel[prices], 2)
            _positive_where_present(f"prices ({prices!r})", p, strict=True)
            returns = bridged_returns(p)
    elif prices is not None:
        raise ValueError("prices= is for Panels; with arrays, pass returns_from_prices(close, bridge=True) as returns")
    if dollar_volume is None:
        raise TypeError("dollar_volume is required (or pass a Panel)")
    # labelled frames (Polars, or pandas indexed by date) keep their labels: they must match
    # each other and dates=/assets=, and label the result (and give the month starts)
    seen = LabelsSeen()
    r, r_dates, r_assets = as_field("returns", returns)
    seen.add("returns", r_dates, r_assets)
    dv, v_dates, v_assets = as_field("dollar_volume", dollar_volume)
    seen.add("dollar_volume", v_dates, v_assets)
    check_shape("dollar_volume", dv, r.shape, "the shape of returns")
    dates, assets = seen.check_given(dates, assets)
    T, N = r.shape
    percentile = check_real("percentile", percentile, lo=0.0, lo_open=True, hi=0.5)
    min_dollar_volume = check_real("min_dollar_volume", min_dollar_volume)
    dates = as_dates("dates", dates, T)
    if rebalance is None:
        if dates is None:
            raise ValueError("rebalance is required when there are no dates (month starts need dates)")
        rebalance = month_starts(dates)
    if is_date_indexed(rebalance) and np.asarray(rebalance).dtype == bool:
        # a mask indexed by date: on the dates (the panel's or dates=), in their order; without
        # dates, its index in date order. Never paired by position
        rebalance = by_date("rebalance", rebalance, dates, of="the panel" if panel_given else "dates=")[0]
    reb = np.asarray(rebalance)
    if reb.dtype == bool:
        if reb.shape != (T,):
            raise ValueError(f"rebalance mask has shape {reb.shape}, expected ({T},)")
        reb = np.flatnonzero(reb)
    elif reb.dtype.kind in "iu" and reb.ndim == 1:  # (not timedelta64, which numpy counts as integer)
        if reb.size and (reb.min() < 0 or reb.max() >= T):
            raise ValueError(f"rebalance rows must be in [0, {T}), got {reb.min()}..{reb.max()}")
        if np.any(np.diff(reb) <= 0):
            raise ValueError("rebalance rows must be strictly increasing")
    else:
        raise TypeError(f"rebalance must be integer rows or a boolean mask, got dtype {reb.dtype}")
    from ferrofactor._validate import as_assets

    assets = as_assets("assets", assets, N)
    mom = momentum(r, window, skip, min_fraction)[reb]
    adv = _rolling.rolling_mean(dv, window, _min_periods(window, min_fraction))[reb]
    eligible = np.isfinite(mom) & np.isfinite(adv) & (adv > min_dollar_volume)
    R = reb.size
    long = np.zeros((R, N), dtype=bool)
    short = np.zeros((R, N), dtype=bool)
    # One stable sort per row: ineligible assets get +inf and go last (vectorised over dates).
    key = np.where(eligible, mom, np.inf)
    order = np.argsort(key, axis=1, kind="stable")
    n = share_count(eligible.sum(axis=1), percentile)
    M = eligible.sum(axis=1)
    pos = np.arange(N)[None, :]
    rows = np.arange(R)[:, None]
    short[rows, order] = pos < n[:, None]
    long[rows, order] = (pos >= (M - n)[:, None]) & (pos < M[:, None])
    return MomentumSelection(
        reb.astype(np.int64), None if dates is None else dates[reb], assets, long, short, mom, eligible,
        {"window": window, "skip": skip, "percentile": percentile, "min_dollar_volume": min_dollar_volume},
    )
