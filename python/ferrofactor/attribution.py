"""Ex-post factor attribution: a portfolio's return split into exposures × factor returns.

Time: ``weights[t]`` are the holdings that earn ``returns[t]`` (held from close t−1 to close t).
They are explained by the exposures known ``lag`` dates earlier, ``B_{t−lag}`` (the same lag the
factor model used to estimate ``f_t``), so nothing known only at t explains the return of t.
Per date, with (active) weights ``w_t`` (NaN = not held):

.. math::

    x_t = B_{t-\\mathrm{lag}}^\\top w_t, \\qquad
    R_t = \\underbrace{\\textstyle\\sum_k x_{k,t} f_{k,t}}_{\\text{factors}}
        + \\underbrace{w_t^\\top u_t}_{\\text{specific}}
        + \\underbrace{\\textstyle\\sum_{i \\notin C_t} w_{i,t} r_{i,t}}_{\\text{unexplained}}
        - \\text{costs}_t,

where ``u_t = r_t − B_{t−lag} f_t`` is the specific return of the covered assets ``C_t`` (assets
whose exposures at t − lag are known and whose factors have a return at t; for the assets in the
fit these are exactly the model's residuals). What the model cannot decompose (an asset without
exposures, a date before the first exposures, a date whose regression failed) is its own
"unexplained" line, never hidden in the specific return. The identity holds on every date to
rounding (1e-12).

This replaces the seed's split "in proportion to the exposures", which is not an attribution.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
import polars as pl

from ferrofactor import _core
from ferrofactor._validate import (
    _is_polars_series,
    as_field,
    as_float_array,
    by_date,
    check_int,
    check_same_labels,
    check_shape,
    factor_frame,
    field_axes,
    is_date_indexed,
)
from ferrofactor.constants import PERIODS_PER_YEAR
from ferrofactor.results import NotFittedError, Result, Summary, readonly

__all__ = ["AttributionResult", "attribute", "link_contributions"]

_LINES = ("specific", "unexplained", "costs")


def link_contributions(contributions: np.ndarray, total: np.ndarray) -> np.ndarray:
    """Exact recursive linking of per-period contributions into cumulative ones.

    ``linked_t = linked_{t−1} + (1 + R^cum_{t−1}) c_t`` with ``R^cum_t = Π_{s≤t} (1 + R_s) − 1``:
    each contribution of period t is carried at the portfolio's value at the start of t, so if
    the columns of ``c_t`` add up to ``R_t`` on every date, the columns of ``linked_t`` add up to
    the compounded return ``R^cum_t`` exactly (up to rounding), on every date, with no residual
    to spread. (Carino's and Menchero's smoothed log-linking reach the same sum with scaled
    coefficients; this is the plain recursive, "geometric carry" method.)

    Parameters
    ----------
    contributions : ndarray (T, L)
    total : ndarray (T,)
        The period returns ``R_t`` (the sum of each row of ``contributions``).

    Returns
    -------
    ndarray (T, L)
    """
    c = as_float_array("contributions", contributions, 2)
    r = as_float_array("total", total, 1)
    check_shape("total", r, (c.shape[0],), "one period return per row of contributions")
    growth = np.cumprod(1.0 + r)
    start = np.concatenate([[1.0], growth[:-1]])  # 1 + R^cum_{t−1}
    return np.cumsum(c * start[:, None], axis=0)


class AttributionResult(Result):
    """Per-date attribution of a portfolio's (or active) return (result of :func:`attribute`).

    Per-date arrays (read-only):

    - ``exposures`` (T, K): ``x_t = B_{t−lag}ᵀ w_t``; ``contributions`` (T, K): ``x_{k,t} f_{k,t}``;
    - ``specific``, ``unexplained``, ``costs``, ``gross`` (``Σ_i w_i r_i``) and ``total``
      (``gross − costs``) (T,); ``total = contributions.sum(1) + specific + unexplained − costs``;
    - ``linked`` (T, K + 3): cumulative contributions of every factor, then specific,
      unexplained and costs (as ``−costs``), linked by exact recursive linking
      (:func:`link_contributions`) so each row adds up to the compounded total return
      ``Π(1 + total) − 1`` to that date;
    - with a benchmark: ``portfolio_return`` and ``benchmark_return`` (T,), and everything else is
      the attribution of the active weights ``w − b`` (the linked rows then add up to the
      compounded active return).

    ``by_group()`` sums the factors into ``market``, ``industries`` and ``styles``;
    ``summary(periods_per_year=252)`` gives the per-line table (mean exposure, annualised
    contribution, its t-statistic, volatility contribution, share of variance).
    """

    _arrays = {
        "exposures": ("date", "factor"), "contributions": ("date", "factor"),
        "specific": ("date",), "unexplained": ("date",), "costs": ("date",), "gross": ("date",),
        "total": ("date",), "linked": ("date", "line"), "portfolio_return": ("date",),
        "benchmark_return": ("date",),
    }
    _groups = {"returns": ("total", "gross", "specific", "unexplained", "costs")}
    _default_kind = "contributions"

    def __init__(self, *, exposures, contributions, specific, unexplained, costs, gross,
                 factor_names, groups, dates, assets, lag, active, portfolio_return=None,
                 benchmark_return=None) -> None:
        self._exposures = readonly(exposures)
        self._contributions = readonly(contributions)
        self._specific = readonly(specific)
        self._unexplained = readonly(unexplained)
        self._costs = readonly(np.array(costs))  # (T,): may be the caller's array; total is set from it now
        self._gross = readonly(gross)
        self._total = readonly(gross - costs)
        self._factor_names = list(factor_names)
        self._groups_of = list(groups)  # group name of every factor
        self._dates, self._assets = readonly(dates), readonly(assets)
        self._lag = lag
        self._active = active
        self._portfolio = readonly(portfolio_return)
        self._benchmark = readonly(benchmark_return)
        # (0 − costs, not −costs: no cost shows as 0.0, not −0.0)
        lines = np.column_stack([contributions, specific, unexplained, 0.0 - costs]) if len(specific) else \
            np.zeros((0, len(self._factor_names) + 3))
        self._linked = readonly(link_contributions(lines, self._total))

    def _axis_labels(self, axis: str) -> Any:
        if axis == "line":
            return self._factor_names + list(_LINES)
        return super()._axis_labels(axis)

    dates = property(lambda self: self._dates, doc="(T,) dates, or None.")
    assets = property(lambda self: self._assets, doc="(N,) assets, or None.")
    factor_names = property(lambda self: list(self._factor_names), doc="(K,) factor names.")
    lines = property(lambda self: self._factor_names + list(_LINES), doc="(K + 3,) names of linked columns.")
    lag = property(lambda self: self._lag, doc="Dates between the exposures and the returns.")
    active = property(lambda self: self._active, doc="Whether this attributes active weights w − b.")
    exposures = property(lambda self: self._exposures, doc="(T, K) exposures B_{t−lag}ᵀ w_t.")
    contributions = property(lambda self: self._contributions, doc="(T, K) x_{k,t} f_{k,t}.")
    specific = property(lambda self: self._specific, doc="(T,) specific return of covered assets.")
    unexplained = property(lambda self: self._unexplained, doc="(T,) return of uncovered holdings.")
    costs = property(lambda self: self._costs, doc="(T,) costs (return units, positive = paid).")
    gross = property(lambda self: self._gross, doc="(T,) Σ_i w_i r_i before costs.")
    total = property(lambda self: self._total, doc="(T,) gross − costs.")
    linked = property(lambda self: self._linked, doc="(T, K + 3) linked cumulative contributions.")
    portfolio_return = property(lambda self: self._portfolio, doc="(T,) portfolio return (benchmark given).")
    benchmark_return = property(lambda self: self._benchmark, doc="(T,) benchmark return (benchmark given).")

    @property
    def cumulative_return(self) -> np.ndarray:
        """(T,) compounded total return ``Π_{s≤t}(1 + total_s) − 1`` (the row sums of ``linked``)."""
        # R_t = R_{t−1} + (1 + R_{t−1}) total_t, summed as ``linked`` is: Π(1 + total) − 1 would
        # keep only the digits of small returns that 1 + total keeps (1e-7 relative at 1e-8 a day)
        return readonly(link_contributions(self._total[:, None], self._total)[:, 0])

    def by_group(self) -> AttributionResult:
        """The same attribution with the factors summed into ``market``, ``industries`` and
        ``styles`` (those the model has); specific, unexplained and costs are unchanged."""
        names = [g for g in ("market", "industries", "styles") if g in self._groups_of]
        idx = {g: [k for k, h in enumerate(self._groups_of) if h == g] for g in names}
        ex = np.column_stack([self._exposures[:, idx[g]].sum(axis=1) for g in names]) if names else \
            np.zeros((len(self._total), 0))
        co = np.column_stack([self._contributions[:, idx[g]].sum(axis=1) for g in names]) if names else \
            np.zeros((len(self._total), 0))
        return AttributionResult(
            exposures=ex, contributions=co, specific=self._specific, unexplained=self._unexplained,
            costs=self._costs, gross=self._gross, factor_names=names, groups=names,
            dates=self._dates, assets=self._assets, lag=self._lag, active=self._active,
            portfolio_return=self._portfolio, benchmark_return=self._benchmark,
        )

    def table(self, periods_per_year: float = PERIODS_PER_YEAR) -> pl.DataFrame:
        """The per-line table of :meth:`summary` as a Polars frame (one row per factor, then
        specific, unexplained, costs and total).

        Columns: ``mean_exposure`` (factors only), ``annual_contribution`` (mean per period ×
        ``periods_per_year``; costs enter as −costs), ``tstat`` (mean / (std/√T), ddof 1; NaN
        for a line constant, or zero, up to rounding), ``vol_contribution`` (``Cov(c, R) /
        σ(R)``, annualised by √periods_per_year: the lines add up to the annualised volatility
        of the total ``R``), ``share_of_variance`` (``Cov(c, R) / Var(R)``: the lines add up
        to 1). The seed's "Factor / Annual Return /
        t-stat" table is ``table().select("line", "annual_contribution", "tstat")``. Dates
        whose spacing does not fit ``periods_per_year`` (252 on monthly dates) give a
        :class:`ferrofactor.metrics.PeriodsPerYearWarning`, as in :mod:`ferrofactor.metrics`.
        """
        ppy = _check_ppy(periods_per_year)
        if self._dates is not None:
            # annual_contribution is mean × periods_per_year: 252 on monthly dates is off by 21
            from ferrofactor.metrics import _check_spacing

            _check_spacing(self._dates, ppy)
        c = np.column_stack([self._contributions, self._specific, self._unexplained, 0.0 - self._costs,
                             self._total])
        names = self._factor_names + list(_LINES) + ["total"]
        t = c.shape[0]
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = c.mean(axis=0) if t else np.full(c.shape[1], np.nan)
            sd = c.std(axis=0, ddof=1) if t > 1 else np.full(c.shape[1], np.nan)
            # a series constant up to rounding (e.g. a fixed cost) has no t-statistic, nor has
            # one that is zero up to rounding next to the returns (e.g. the industry lines of a
            # cap-weighted book, zero by the constraint, left with noise of order 1e-18)
            scale = np.abs(c).max() if t else 0.0
            noise = (np.abs(c).max(axis=0) <= 1e-13 * scale) if t else np.ones(c.shape[1], bool)
            tstat = np.where((sd > 1e-10 * np.abs(mean)) & ~noise, mean / (sd / np.sqrt(t)), np.nan)
            r = self._total
            rc = r - r.mean() if t else r
            cov = ((c - mean).T @ rc) / (t - 1) if t > 1 else np.full(c.shape[1], np.nan)
            var_r = cov[-1]
            vol = cov / np.sqrt(var_r) * np.sqrt(ppy)
            share = cov / var_r
        mexp = np.full(len(names), np.nan)
        k = len(self._factor_names)
        if t:
            mexp[:k] = self._exposures.mean(axis=0)
        return pl.DataFrame({
            "line": names, "mean_exposure": mexp, "annual_contribution": mean * ppy, "tstat": tstat,
            "vol_contribution": vol, "share_of_variance": share,
        })

    def summary(self, periods_per_year: float = PERIODS_PER_YEAR) -> Summary:
        """Per-line table (:meth:`table`) with the period, lag and totals in the header."""
        ppy = _check_ppy(periods_per_year)
        tab = self.table(ppy)
        t = len(self._total)
        cum = float(self.cumulative_return[-1]) if t else float("nan")
        header = [
            ("Dates", t), ("Exposure lag", self._lag), ("Attribution", "active (w − b)" if self._active else "portfolio"),
            ("Cumulative return", f"{cum:.4%}" if np.isfinite(cum) else "nan"),
            ("Periods per year", f"{ppy:g}"),
        ]
        if self._dates is not None and t:
            header.append(("Sample", f"{self._dates[0]} - {self._dates[-1]}"))
        notes = [
            "annual_contribution = mean per period × periods_per_year; tstat = mean / (std / sqrt(T)).",
            "vol_contribution = Cov(line, total) / σ(total), annualised: the lines add up to σ(total).",
            "unexplained = return of holdings the model cannot decompose (no exposures, no factor return).",
        ]
        return Summary("Factor attribution", header, [("", tab)], notes)

    def __repr__(self) -> str:
        return (f"AttributionResult(T={len(self._total)}, factors={len(self._factor_names)}, "
                f"lag={self._lag}, active={self._active})")


def _check_ppy(v: Any) -> float:
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real) or not np.isfinite(v) or v <= 0:
        raise ValueError(f"periods_per_year must be a positive number, got {v!r}")
    return float(v)


def _model_parts(model: Any):
    """(Exposures, factor_returns (T, K), lag, returns or None, dates, assets) of ``model``."""
    from ferrofactor.model import FactorModel, FactorModelResult
    from ferrofactor.risk import RiskModel

    if isinstance(model, FactorModel):
        if model.result_ is None:
            raise NotFittedError("model is a FactorModel that is not fitted: call fit(panel, exposures) first")
        model = model.result
    if isinstance(model, FactorModelResult):
        return (model.exposures, np.asarray(model.factor_returns), model.lag, model.returns,
                model.dates, model.assets)
    if isinstance(model, tuple) and model and isinstance(model[0], RiskModel):
        if len(model) not in (2, 3):
            raise TypeError("model as a tuple must be (risk_model, factor_returns) or (risk_model, factor_returns, lag)")
        risk = model[0]
        risk._check_fitted()
        lag = 1 if len(model) == 2 else check_int("lag (model[2])", model[2], 0)
        ex = risk.exposures
        # a frame's columns name the factors and its dates must be the model's: never by position
        fr = factor_frame("factor_returns (model[1])", model[1], ex.factor_names, ex.dates, of="risk model")
        return ex, fr, lag, None, ex.dates, ex.assets
    if isinstance(model, RiskModel):
        raise TypeError(
            "a RiskModel carries no factor returns for the attribution: pass model=(risk_model, "
            "factor_returns) (optionally with the lag as a third element, default 1)"
        )
    raise TypeError(
        f"model must be a FactorModelResult or a (RiskModel, factor_returns) tuple, got {type(model).__name__}"
    )


def _held_missing_error(w: np.ndarray, b: np.ndarray | None, r: np.ndarray, n_missing: np.ndarray,
                        dates: Any, assets: Any) -> ValueError:
    t = int(np.flatnonzero(n_missing)[0])
    a = np.nan_to_num(w[t]) - (np.nan_to_num(b[t]) if b is not None else 0.0)
    i = int(np.flatnonzero((a != 0) & ~np.isfinite(r[t]))[0])
    d = dates[t] if dates is not None else t
    s = assets[i] if assets is not None else i
    # the active weight a = w − b is nonzero: name the side that holds the asset
    side = "weights hold" if np.nan_to_num(w[t, i]) != 0 else "benchmark holds"
    return ValueError(
        f"{side} assets whose return is missing ({int(n_missing.sum())} cells; first on date {d}, "
        f"asset {s}); set their weights to 0 (or NaN) or fill their returns"
    )


def attribute(weights: Any, model: Any, *, returns: Any = None, benchmark: Any = None,
              costs: Any = None) -> AttributionResult:
    """Attribute a portfolio's return on every date to factors, specific return, unexplained
    return and costs (exposures × factor returns; see the module docstring).

    Parameters
    ----------
    weights : array_like or Polars frame (T, N)
        Holdings (fractions of capital) that earn ``returns[t]``, held from close t−1 to close t
        (e.g. a backtest's weights after the rebalance at t−1, not at t: for a backtest book,
        :meth:`ferrofactor.BacktestResult.attribute` does the pairing, costs and delistings).
        NaN = not held. Labels, when both sides carry them, must match the model's dates and
        assets.
    model : FactorModelResult, or (RiskModel, factor_returns[, lag])
        A fitted factor model supplies its unlagged exposures, factor returns, lag and returns.
        A risk model supplies the exposures (its stored dates must be the T dates of
        ``weights``) and the tuple the factor returns (T, K) (factors in the risk model's order;
        a Polars frame, or a pandas DataFrame indexed by date, on the risk model's dates) and
        the lag (default 1); ``returns`` is then required.
    returns : array_like or Polars frame (T, N), optional
        Asset returns; default the model's. A held asset (nonzero weight) must have a return.
    benchmark : array_like or Polars frame (T, N), optional
        Benchmark weights: the attribution is then of the active weights ``w − b``, and
        ``portfolio_return``/``benchmark_return`` are kept.
    costs : array_like (T,), optional
        Costs per date in return units (fractions of capital, positive = paid), e.g. a
        backtest's costs. Default zero. A pandas Series indexed by date must carry the model's
        dates (or those of a weights frame), in their order, else ``ValueError``; never paired
        by position.

    Returns
    -------
    AttributionResult

    Examples
    --------
    >>> import numpy as np, ferrofactor as ff
    >>> panel = ff.datasets.synthetic_universe(n_assets=200, n_days=300, seed=1)
    >>> result = ff.FactorModel().fit(panel, ff.Exposures.from_panel(panel))
    >>> cap = np.nan_to_num(panel["market_cap"])
    >>> w = np.zeros_like(cap); w[1:] = cap[:-1] / cap[:-1].sum(axis=1, keepdims=True)  # held from t−1
    >>> w[~np.isfinite(result.returns)] = 0.0  # a held asset needs a return: none held without
    >>> att = ff.attribute(w, result)
    >>> resid = att.total - att.contributions.sum(axis=1) - att.specific - att.unexplained + att.costs
    >>> bool(np.abs(resid).max() < 1e-12)
    True
    """
    ex, fr, lag, mret, mdates, massets = _model_parts(model)
    # the attribution's own lines sit beside the factors (linked columns, the table's rows): a
    # factor of the same name made two "specific" rows and a wide frame Polars refused
    clash = [f for f in ex.factor_names if f in (*_LINES, "total")]
    if clash:
        raise ValueError(f"factor {clash[0]!r} has the name of an attribution line {[*_LINES, 'total']}; "
                         "rename the style (or industry) in the exposures")
    # a wide weights frame out of date order is sorted (its dates are then checked against the
    # model's) when nothing is paired with its rows by position: a model with dates, returns and
    # benchmark frames or none, no costs array (costs indexed by date carry their dates)
    labelled = mdates is not None and (costs is None or is_date_indexed(costs)) and all(
        x is None or field_axes(x)[0] for x in (returns, benchmark))
    # a long frame's assets come out sorted: ambiguous where anything pairs with them by
    # position (a model without assets, an array among weights, returns and benchmark)
    positional = massets is None or any(
        x is not None and not field_axes(x)[1] for x in (weights, returns, benchmark))
    w, wd, wa = as_field("weights", weights, date_order=not labelled, asset_order=positional)
    t_len, n = w.shape
    if tuple(ex.shape) != (t_len, n):
        raise ValueError(
            f"weights has shape {w.shape} but the model's exposures are {tuple(ex.shape)} (dates × assets)"
        )
    check_same_labels("weights", wd, wa, "model", mdates, massets)
    if np.isinf(w).any():
        raise ValueError("weights must be finite (NaN = not held)")
    if returns is None:
        if mret is None:
            raise ValueError("returns are required with a risk model (it carries no returns)")
        r = np.ascontiguousarray(mret, dtype=np.float64)
    else:
        r, rd, ra = as_field("returns", returns, asset_order=positional)
        check_shape("returns", r, (t_len, n), "the shape of weights (T, N)")
        check_same_labels("returns", rd, ra, "model", mdates, massets)
        check_same_labels("returns", rd, ra, "weights", wd, wa)
    if np.isinf(r).any():
        raise ValueError("returns must not contain infinite values (NaN = missing)")
    b = None
    if benchmark is not None:
        b, bd, ba = as_field("benchmark", benchmark, asset_order=positional)
        check_shape("benchmark", b, (t_len, n), "the shape of weights (T, N)")
        check_same_labels("benchmark", bd, ba, "model", mdates, massets)
        check_same_labels("benchmark", bd, ba, "weights", wd, wa)
        if np.isinf(b).any():
            raise ValueError("benchmark must be finite (NaN = not held)")
    if costs is None:
        c = np.zeros(t_len)
    else:
        if _is_polars_series(costs):
            costs = costs.to_numpy()
        # a pandas Series indexed by date must carry the dates of the model (else of the weights
        # frame), in their order; without either it is read in its order, which must be date order
        known, of = (mdates, "the model") if mdates is not None else (wd, "weights")
        costs, _ = by_date("costs", costs, known, of=of)
        c = as_float_array("costs", costs, 1)
        check_shape("costs", c, (t_len,), "one cost per date")
        if not np.isfinite(c).all():
            raise ValueError("costs must be finite (0 where nothing was paid)")
    k = ex.n_factors
    check_shape("factor_returns", fr, (t_len, k), f"dates × factors {ex.factor_names}")
    if np.isinf(fr).any():
        raise ValueError("factor_returns must not contain infinite values (NaN = not estimated)")
    if lag >= max(t_len, 1):
        raise ValueError(f"lag ({lag}) must be below the number of dates ({t_len})")
    st = None if ex.styles is None else np.ascontiguousarray(ex.styles)
    ind = None if ex.industry is None else np.ascontiguousarray(ex.industry)
    expo, contrib, spec, unexpl, gross, n_missing = _core.attribute(
        w, b, r, st, ind, ex.n_industries, ex.market, np.ascontiguousarray(fr), lag,
    )
    if n_missing.any():
        raise _held_missing_error(w, b, r, n_missing, mdates, massets)
    port = bench = None
    if b is not None:
        rz = np.where(np.isfinite(r), r, 0.0)
        bz = np.nan_to_num(b)
        if ((bz != 0) & ~np.isfinite(r)).any():
            raise ValueError("benchmark holds assets whose return is missing; set their weights to 0 or fill the returns")
        bench = np.einsum("tn,tn->t", bz, rz)
        port = gross + bench
    groups = (["market"] if ex.market else []) + ["industries"] * ex.n_industries + \
        ["styles"] * (0 if ex.styles is None else ex.styles.shape[2])
    return AttributionResult(
        exposures=expo, contributions=contrib, specific=spec, unexplained=unexpl, costs=c,
        gross=gross, factor_names=ex.factor_names, groups=groups, dates=mdates if mdates is not None else wd,
        assets=massets if massets is not None else wa, lag=lag, active=b is not None,
        portfolio_return=port, benchmark_return=bench,
    )
