"""Pictures of results (matplotlib, the optional ``plot`` extra: ``pip install ".[plot]"`` in the
ferrofactor source tree, or ``pip install "ferrofactor[plot]"`` from a package index).

Every function here returns a ``matplotlib.figure.Figure`` built without pyplot (no global figure
state, nothing shown, safe in threads and on headless machines): display it in a notebook, or
``fig.savefig(path)``. The result classes expose them as ``.plot()`` (``FactorModelResult.plot``,
``FamaMacBethResult.plot``, ``RiskModel.plot``, ``BiasResult.plot``, ``PortfolioBiasResult.plot``,
``RiskDecomposition.plot``, ``OptimizationResult.plot``, ``Exposures.plot``, ``Panel.plot``) and
the HTML report (:mod:`ferrofactor.report`) draws with the same functions.

matplotlib is imported lazily, inside the functions: ``import ferrofactor`` never needs it, and
a missing matplotlib is an ``ImportError`` that says how to install it.

Units: returns and volatilities are shown in percent; annualised figures use
:data:`ferrofactor.constants.PERIODS_PER_YEAR` (252).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ferrofactor._validate import check_bool, check_int
from ferrofactor.constants import PERIODS_PER_YEAR

__all__ = [
    "backtest_figure",
    "bias_figure",
    "coverage_figure",
    "drawdown",
    "exposure_bars",
    "factor_groups",
    "factor_returns_figure",
    "factor_volatility_figure",
    "fama_macbeth_figure",
    "have_matplotlib",
    "portfolio_bias_figure",
    "risk_decomposition_figure",
]

#: Colours of the factor groups (matplotlib's default cycle, fixed so every picture agrees).
GROUP_COLORS = {"market": "#1f77b4", "industries": "#7f7f7f", "styles": "#d62728", "other": "#2ca02c"}


def have_matplotlib() -> bool:
    """Whether matplotlib can be imported (the ``plot`` extra is installed)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def figure(rows: int = 1, cols: int = 1, size: tuple[float, float] = (9.0, 4.0), **kw: Any):
    """A pyplot-free ``Figure`` with a ``rows × cols`` grid of axes (always 2-D)."""
    try:
        from matplotlib.figure import Figure
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError(
            "plots need matplotlib (the plot extra): pip install \".[plot]\" in the ferrofactor source tree, "
            "or pip install \"ferrofactor[plot]\" from a package index (or pip install matplotlib)"
        ) from None
    fig = Figure(figsize=size, layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False, **kw)
    return fig, axes


#: Time series longer than this are drawn at every k-th date (the last date always), which
#: looks the same at report widths and draws several times faster; the values at the points
#: drawn are exact (cumulative returns and rolling statistics are computed on every date first).
MAX_POINTS = 800


def _x(dates: Any, n: int) -> np.ndarray:
    return np.asarray(dates) if dates is not None else np.arange(n)


def _thin(n: int, max_points: int = MAX_POINTS) -> np.ndarray:
    """Rows to draw of a series of ``n`` dates: all, or every k-th and the last."""
    if n <= max_points:
        return np.arange(n)
    k = -(-n // max_points)
    idx = np.arange(0, n, k)
    return idx if idx[-1] == n - 1 else np.append(idx, n - 1)


def _date_axis(ax: Any, dates: Any) -> None:
    if dates is not None:
        import matplotlib.dates as mdates

        loc = mdates.AutoDateLocator(minticks=3, maxticks=8)
        ax.xaxis.set_major_locator(loc)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(loc))


def factor_groups(
    factor_names: Sequence[str],
    industry_names: Sequence[str] = (),
    style_names: Sequence[str] = (),
    market: bool = False,
) -> dict[str, list[int]]:
    """Positions of the factors by group: ``market``, ``industries``, ``styles`` (``other`` for
    names in none of them). Empty groups are left out."""
    names = list(factor_names)
    ind, sty = set(map(str, industry_names)), set(map(str, style_names))
    groups: dict[str, list[int]] = {"market": [], "industries": [], "styles": [], "other": []}
    for j, n in enumerate(names):
        if market and n == "market" and j == 0:
            groups["market"].append(j)
        elif n in ind:
            groups["industries"].append(j)
        elif n in sty:
            groups["styles"].append(j)
        else:
            groups["other"].append(j)
    return {k: v for k, v in groups.items() if v}


def _groups_of(result: Any) -> dict[str, list[int]]:
    """Factor groups of a result that carries exposures (a FactorModelResult, a RiskModel)."""
    ex = getattr(result, "exposures", None)
    names = list(result.factor_names)
    if ex is not None and hasattr(ex, "industry_names"):
        return factor_groups(names, ex.industry_names, ex.style_names, ex.market)
    return {"all": list(range(len(names)))}


def cumulative_returns(returns: np.ndarray) -> np.ndarray:
    """Compounded cumulative return ``Π(1 + r) − 1`` along axis 0; NaN (a date without an
    estimate) counts as 0, so the line stays flat there."""
    r = np.asarray(returns, dtype=float)
    return np.cumprod(1.0 + np.where(np.isfinite(r), r, 0.0), axis=0) - 1.0


def _select_groups(groups: Mapping[str, list[int]], which: Any) -> dict[str, list[int]]:
    if which is None:
        return dict(groups)
    if not isinstance(which, (str, Sequence)):
        raise TypeError(f"groups must be a group name or a sequence of them (among {list(groups)}), got {which!r}")
    wanted = [which] if isinstance(which, str) else list(which)
    unknown = [w for w in wanted if not isinstance(w, str) or w not in groups]
    if unknown:
        raise ValueError(f"groups must be among {list(groups)}, got {unknown}")
    if not wanted:
        raise ValueError(f"groups selects no group; choose among {list(groups)} (or None for all)")
    return {w: groups[w] for w in wanted}


def factor_returns_figure(result: Any, groups: Any = None, max_lines: int = 12):
    """Cumulative factor returns (compounded, in percent), one panel per factor group.

    Parameters
    ----------
    result : CrossSectionResult or FactorModelResult
        A FactorModelResult is split into market / industries / styles panels; otherwise one
        panel holds every factor.
    groups : str or sequence of str, optional
        Only these groups (e.g. ``"styles"``).
    max_lines : int, default 12
        Groups with more factors show the ``max_lines`` with the largest final |cumulative
        return| (the title says how many are left out).
    """
    max_lines = check_int("max_lines", max_lines, 1)
    f = np.asarray(result.factor_returns)
    names = list(result.factor_names)
    sel = _select_groups(_groups_of(result), groups)
    dates = getattr(result, "dates", None)
    x = _x(dates, f.shape[0])
    fig, axes = figure(len(sel), 1, (9.0, 2.8 * len(sel) + 0.4), sharex=True)
    rows = _thin(len(x))
    for ax, (g, idx) in zip(axes[:, 0], sel.items()):
        cum = cumulative_returns(f[:, idx]) * 100.0
        order = np.argsort(-np.abs(cum[-1]) if len(cum) else np.zeros(len(idx)), kind="stable")
        shown = order[:max_lines]
        for j in shown:
            ax.plot(x[rows], cum[rows, j], lw=1.1, label=names[idx[j]])
        hidden = len(idx) - len(shown)
        ax.set_title(f"{g}" + (f" ({hidden} smaller not shown)" if hidden > 0 else ""), fontsize=9, loc="left")
        ax.axhline(0.0, color="black", lw=0.5)
        ax.set_ylabel("cumulative, %")
        ax.grid(True, lw=0.3, alpha=0.6)
        ax.legend(fontsize=7, ncol=min(4, max(1, len(shown))), loc="upper left", frameon=False)
        _date_axis(ax, dates)
    fig.suptitle("Cumulative factor returns", fontsize=11)
    return fig


def fama_macbeth_figure(fm: Any, annualize: bool = True):
    """Mean factor returns with their 95% intervals (Fama-MacBeth), as horizontal bars.

    ``annualize``: means and intervals × 252 (per period otherwise), in percent.
    """
    annualize = check_bool("annualize", annualize)
    scale = (PERIODS_PER_YEAR if annualize else 1.0) * 100.0
    names = list(fm.factor_names)
    m = np.asarray(fm.params) * scale
    lo, hi = np.asarray(fm.ci_lower) * scale, np.asarray(fm.ci_upper) * scale
    n = len(names)
    fig, axes = figure(1, 1, (7.0, 0.22 * n + 1.2))
    ax = axes[0, 0]
    y = np.arange(n)[::-1]
    sig = (lo > 0) | (hi < 0)
    colors = np.where(sig, "#d62728", "#7f7f7f")
    ax.barh(y, m, color=colors, alpha=0.8, height=0.6)
    err = np.vstack([m - lo, hi - m])
    ax.errorbar(m, y, xerr=np.where(np.isfinite(err), err, 0.0), fmt="none", ecolor="black", lw=0.8)
    ax.set_yticks(y)
    ax.set_yticklabels(names, fontsize=7)
    ax.axvline(0.0, color="black", lw=0.6)
    unit = "% a year" if annualize else "% per period"
    ax.set_xlabel(f"mean factor return ({unit}), 95% interval ({fm.cov_type})")
    ax.grid(True, axis="x", lw=0.3, alpha=0.6)
    ax.set_title("Fama-MacBeth mean factor returns (red: interval excludes 0)", fontsize=9, loc="left")
    return fig


def factor_volatility_figure(risk: Any, groups: Any = None, max_lines: int = 12):
    """Annualised factor volatilities ``sqrt(252 · Σf_kk)`` over the stored dates (percent),
    one panel per factor group."""
    max_lines = check_int("max_lines", max_lines, 1)
    vol = np.asarray(risk.factor_volatility) * np.sqrt(PERIODS_PER_YEAR) * 100.0
    names = list(risk.factor_names)
    sel = _select_groups(_groups_of(risk), groups)
    dates = risk.dates
    x = _x(dates, vol.shape[0])
    fig, axes = figure(len(sel), 1, (9.0, 2.6 * len(sel) + 0.4), sharex=True)
    for ax, (g, idx) in zip(axes[:, 0], sel.items()):
        v = vol[:, idx]
        # mean level of each factor's finite volatilities, 0 for one with none (a style that needs
        # more history than the sample: np.nanmean warned "Mean of empty slice" from the plot)
        fin = np.isfinite(v)
        n_fin = fin.sum(axis=0)
        level = np.where(fin, v, 0.0).sum(axis=0) / np.maximum(n_fin, 1)
        order = np.argsort(-np.nan_to_num(level), kind="stable")[:max_lines]
        rows = _thin(len(x))
        for j in order:
            ax.plot(x[rows], v[rows, j], lw=1.0, label=names[idx[j]])
        hidden = len(idx) - len(order)
        ax.set_title(f"{g}" + (f" ({hidden} lower not shown)" if hidden > 0 else ""), fontsize=9, loc="left")
        ax.set_ylabel("volatility, % a year")
        ax.set_ylim(bottom=0)
        ax.grid(True, lw=0.3, alpha=0.6)
        ax.legend(fontsize=7, ncol=min(4, max(1, len(order))), loc="upper left", frameon=False)
        _date_axis(ax, dates)
    fig.suptitle("Forecast factor volatilities", fontsize=11)
    return fig


def _band_plot(ax: Any, bias: np.ndarray, lower: np.ndarray, upper: np.ndarray, label: str) -> None:
    b = np.asarray(bias, dtype=float)
    order = np.argsort(np.where(np.isfinite(b), b, np.inf), kind="stable")
    xs = np.arange(1, len(b) + 1)
    inside = (b >= lower) & (b <= upper)
    ax.fill_between(xs, np.asarray(lower)[order], np.asarray(upper)[order], color="#2ca02c", alpha=0.15,
                    step="mid", label="95% band 1 ± sqrt(2/n)")
    ax.scatter(xs, b[order], s=10, c=np.where(inside[order], "#1f77b4", "#d62728"), label=label, zorder=3)
    ax.axhline(1.0, color="black", lw=0.6)
    ax.set_xlabel("portfolio (sorted by bias)")
    ax.set_ylabel("bias statistic")
    ax.grid(True, lw=0.3, alpha=0.6)


def bias_figure(bias: Any):
    """Bias statistics against their band ``1 ± sqrt(2/n)``: one point per portfolio (sorted;
    red outside the band) for a whole-sample :class:`~ferrofactor.evaluate.BiasResult`, or the
    rolling statistic over time with its band for a windowed one."""
    b = np.atleast_1d(np.asarray(bias.bias, dtype=float))
    lo, hi = np.atleast_1d(bias.lower), np.atleast_1d(bias.upper)
    fig, axes = figure(1, 1, (8.0, 3.2))
    ax = axes[0, 0]
    if bias.window is None:
        _band_plot(ax, b, lo, hi, "bias")
        ax.set_title(f"Bias statistics: {bias.share_inside:.0%} inside the band", fontsize=9, loc="left")
    else:
        dates = bias.dates
        x = _x(dates, b.shape[0])
        b2 = b.reshape(b.shape[0], -1)
        rows = _thin(len(x))
        for p in range(b2.shape[1]):
            ax.plot(x[rows], b2[rows, p], lw=0.9)
        ax.fill_between(x[rows], lo.reshape(b2.shape)[rows, 0], hi.reshape(b2.shape)[rows, 0], color="#2ca02c",
                        alpha=0.15, label="95% band")
        ax.axhline(1.0, color="black", lw=0.6)
        ax.set_ylabel(f"bias, {bias.window}-date window")
        ax.grid(True, lw=0.3, alpha=0.6)
        _date_axis(ax, dates)
        ax.set_title(f"Rolling bias statistic: {bias.share_inside:.0%} inside the band", fontsize=9, loc="left")
    ax.legend(fontsize=7, frameon=False)
    return fig


def rolling_bias(standardized: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Rolling standard deviation (ddof=1) of standardised returns over ``window`` dates per
    column, over the finite values in each window (NaN with fewer than 2), and their counts."""
    z = np.asarray(standardized, dtype=float)
    if z.ndim == 1:
        z = z[:, None]
    ok = np.isfinite(z)
    zz = np.where(ok, z, 0.0)

    def roll(a: np.ndarray) -> np.ndarray:
        c = np.concatenate([np.zeros((1, a.shape[1])), np.cumsum(a, axis=0)])
        out = c[window:] - c[:-window] if len(a) >= window else np.zeros((0, a.shape[1]))
        return np.concatenate([np.full((min(window - 1, len(a)), a.shape[1]), np.nan), out])

    n = roll(ok.astype(float))
    s1, s2 = roll(zz), roll(zz * zz)
    with np.errstate(invalid="ignore", divide="ignore"):
        var = (s2 - s1 * s1 / n) / (n - 1)
        sd = np.where(n >= 2, np.sqrt(np.maximum(var, 0.0)), np.nan)
    return sd, n


def portfolio_bias_figure(test: Any, window: int = 63):
    """A bias test of portfolios (:func:`ferrofactor.evaluate.bias_test` or
    :func:`~ferrofactor.evaluate.minimum_variance_test`): the whole-sample bias of each
    portfolio against its band (left, with several portfolios), and the ``window``-date rolling
    bias over time (its median across portfolios, the 5–95% range shaded) with the band
    ``1 ± sqrt(2/window)`` (right)."""
    z = np.asarray(test.standardized, dtype=float)
    P = z.shape[1]
    several = P > 1
    fig, axes = figure(1, 2 if several else 1, (11.0, 3.4) if several else (9.0, 3.4))
    if several:
        b = test.bias
        _band_plot(axes[0, 0], np.asarray(b.bias), np.asarray(b.lower), np.asarray(b.upper), "bias")
        axes[0, 0].set_title(f"Whole sample: {b.share_inside:.0%} of {P} inside the band", fontsize=9, loc="left")
        axes[0, 0].legend(fontsize=7, frameon=False)
    ax = axes[0, -1]
    dates = test.dates
    x = _x(dates, z.shape[0])
    sd, _ = rolling_bias(z, window)
    with np.errstate(invalid="ignore"):
        fin = np.isfinite(sd).any(axis=1)
        med = np.full(len(sd), np.nan)
        if fin.any():
            med[fin] = np.nanmedian(sd[fin], axis=1)
        if several and fin.any():
            lo5 = np.full(len(sd), np.nan)
            hi95 = np.full(len(sd), np.nan)
            lo5[fin], hi95[fin] = np.nanquantile(sd[fin], [0.05, 0.95], axis=1)
            rows = _thin(len(x))
            ax.fill_between(x[rows], lo5[rows], hi95[rows], color="#1f77b4", alpha=0.2, label="5–95% of portfolios")
    rows = _thin(len(x))
    ax.plot(x[rows], med[rows], lw=1.1, color="#1f77b4", label="median" if several else "bias")
    half = np.sqrt(2.0 / window)
    ax.axhspan(1.0 - half, 1.0 + half, color="#2ca02c", alpha=0.15, label=f"band 1 ± sqrt(2/{window})")
    ax.axhline(1.0, color="black", lw=0.6)
    ax.set_ylabel(f"bias, {window}-date window")
    ax.grid(True, lw=0.3, alpha=0.6)
    ax.legend(fontsize=7, frameon=False, loc="upper left")
    _date_axis(ax, dates)
    ax.set_title("Rolling bias statistic", fontsize=9, loc="left")
    return fig


def exposure_bars(
    names: Sequence[str],
    values: Any,
    *,
    groups: Mapping[str, list[int]] | None = None,
    active: Any = None,
    title: str = "Factor exposures",
    ylabel: str = "exposure",
):
    """Bar chart of factor exposures, one bar per factor coloured by group (seed 001's bar
    chart of a stock's betas, ``coefs.plot(kind="bar")``), with active exposures beside them
    when given."""
    v = np.asarray(values, dtype=float)
    n = len(names)
    fig, axes = figure(1, 1, (max(6.0, 0.32 * n + 2.0), 3.6))
    ax = axes[0, 0]
    xs = np.arange(n)
    colors = np.array([GROUP_COLORS["other"]] * n, dtype=object)
    for g, idx in (groups or {}).items():
        colors[idx] = GROUP_COLORS.get(g, GROUP_COLORS["other"])
    width = 0.4 if active is not None else 0.8
    ax.bar(xs - (width / 2 if active is not None else 0.0), np.nan_to_num(v), width, color=list(colors),
           label="exposure")
    if active is not None:
        ax.bar(xs + width / 2, np.nan_to_num(np.asarray(active, dtype=float)), width, color="#ff7f0e",
               alpha=0.8, label="active (vs benchmark)")
        ax.legend(fontsize=7, frameon=False)
    ax.set_xticks(xs)
    ax.set_xticklabels(list(names), rotation=60, ha="right", fontsize=7)
    ax.axhline(0.0, color="black", lw=0.6)
    ax.set_ylabel(ylabel)
    ax.grid(True, axis="y", lw=0.3, alpha=0.6)
    ax.set_title(title, fontsize=10, loc="left")
    if groups:
        from matplotlib.patches import Patch

        handles = [Patch(color=GROUP_COLORS.get(g, GROUP_COLORS["other"]), label=g) for g in groups]
        if active is not None:
            handles.append(Patch(color="#ff7f0e", label="active"))
        ax.legend(handles=handles, fontsize=7, frameon=False, ncol=len(handles))
    return fig


def risk_decomposition_figure(dec: Any, top: int = 15):
    """Contributions to the portfolio's volatility (``x_k σ_k ρ_k`` per factor and the
    specific part; they add up to the total): the ``top`` largest in magnitude, as bars."""
    top = check_int("top", top, 1)
    names = list(dec.factor_names) + ["specific"]
    c = np.concatenate([np.asarray(dec.factor_contrib, dtype=float), [dec.specific_contrib]])
    scale = 100.0
    order = np.argsort(-np.abs(np.nan_to_num(c)), kind="stable")[:top]
    fig, axes = figure(1, 1, (7.0, 0.2 * len(order) + 1.2))
    ax = axes[0, 0]
    y = np.arange(len(order))[::-1]
    ax.barh(y, c[order] * scale, color=np.where(c[order] >= 0, "#1f77b4", "#ff7f0e"), height=0.6)
    ax.set_yticks(y)
    ax.set_yticklabels([names[j] for j in order], fontsize=7)
    ax.axvline(0.0, color="black", lw=0.6)
    unit = "% a year" if dec.annualized else "% per period"
    ax.set_xlabel(f"contribution to volatility ({unit})")
    ax.grid(True, axis="x", lw=0.3, alpha=0.6)
    ax.set_title(f"Risk decomposition: total {dec.total_vol * scale:.2f} {unit}", fontsize=9, loc="left")
    return fig


def coverage_figure(panel: Any, fields: Sequence[str] | None = None):
    """Data coverage of a Panel: the number of assets with a finite value per date for each
    field (default: ``returns``, ``market_cap`` and one fundamental field when present) and, for
    each code field, the number of assets with a code."""
    if fields is None:
        fields = [f for f in ("returns", "market_cap", "book_value", "earnings") if f in panel.float_fields]
        if not fields:
            fields = list(panel.float_fields)[:4]
    fig, axes = figure(1, 1, (9.0, 3.2))
    ax = axes[0, 0]
    dates = panel.dates
    rows = _thin(len(dates))
    for f in fields:
        ax.plot(dates[rows], np.isfinite(panel[f]).sum(axis=1)[rows], lw=1.0, label=f)
    for c in panel.code_fields:
        ax.plot(dates[rows], (panel[c] >= 0).sum(axis=1)[rows], lw=1.0, ls="--", label=f"{c} (code)")
    ax.set_ylabel("assets with a value")
    ax.set_ylim(bottom=0)
    ax.grid(True, lw=0.3, alpha=0.6)
    ax.legend(fontsize=7, frameon=False, ncol=3, loc="lower right")
    _date_axis(ax, dates)
    ax.set_title(f"Coverage: {panel.shape[0]} dates × {panel.shape[1]} assets", fontsize=9, loc="left")
    return fig


def drawdown(value: np.ndarray) -> np.ndarray:
    """Drawdown ``value / running maximum − 1`` along axis 0 (≤ 0; 0 at every new high)."""
    v = np.asarray(value, dtype=float)
    return v / np.maximum.accumulate(v, axis=0) - 1.0


def backtest_figure(books: Any):
    """Cumulative value (over the initial value) and drawdown of every book of a
    :class:`~ferrofactor.backtest.BacktestBooks`, sharing the date axis."""
    value = np.asarray(books.value, dtype=float)
    names = list(books.books)
    dates = books.dates
    x = _x(dates, value.shape[0])
    rows = _thin(len(x))
    fig, axes = figure(2, 1, (9.0, 5.6), sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    top, bottom = axes[0, 0], axes[1, 0]
    initial = np.array([books[n].initial_value for n in names])
    dd = drawdown(value)
    for j, n in enumerate(names):
        top.plot(x[rows], value[rows, j] / initial[j], lw=1.1, label=n)
        bottom.plot(x[rows], dd[rows, j] * 100.0, lw=1.0, label=n)
    top.axhline(1.0, color="black", lw=0.5)
    top.set_ylabel("value / initial")
    top.set_title("Cumulative value, net of costs", fontsize=9, loc="left")
    top.legend(fontsize=7, ncol=min(4, max(1, len(names))), loc="upper left", frameon=False)
    bottom.set_ylabel("drawdown, %")
    bottom.set_title("Drawdown from the running maximum", fontsize=9, loc="left")
    for ax in (top, bottom):
        ax.grid(True, lw=0.3, alpha=0.6)
        _date_axis(ax, dates)
    return fig
