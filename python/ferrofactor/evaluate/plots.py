"""Plots of signal evaluations (matplotlib, the optional ``plot`` extra).

Each function returns a ``matplotlib.figure.Figure`` built without pyplot (no global figure
state, nothing shown): display it in a notebook, or ``fig.savefig(path)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ferrofactor.plotting import figure as _figure

__all__ = [
    "cumulative_figure",
    "evaluation_figure",
    "ic_decay_figure",
    "ic_figure",
    "quantile_bars_figure",
    "quantile_returns_figure",
    "turnover_figure",
]


def _x(result: Any, t: int) -> np.ndarray:
    d = getattr(result, "dates", None)
    return np.asarray(d) if d is not None else np.arange(t)


def _rolling_mean(x: np.ndarray, window: int) -> np.ndarray:
    """Mean of the finite values in the last ``window`` dates (NaN until ``window`` dates)."""
    ok = np.isfinite(x)
    c = np.concatenate([[0.0], np.cumsum(np.where(ok, x, 0.0))])
    n = np.concatenate([[0], np.cumsum(ok)])
    out = np.full(len(x), np.nan)
    if len(x) >= window:
        s = c[window:] - c[:-window]
        k = n[window:] - n[:-window]
        with np.errstate(invalid="ignore", divide="ignore"):
            out[window - 1:] = np.where(k > 0, s / k, np.nan)
    return out


def _draw_ic(ax, ev, k: int, window: int) -> None:
    x = _x(ev, ev.ic.shape[0])
    h = int(ev.horizons[k])
    ax.plot(x, ev.ic[:, k], lw=0.6, alpha=0.5, label="IC")
    ax.plot(x, _rolling_mean(ev.ic[:, k], window), lw=1.5, label=f"{window}-date mean")
    ax.axhline(0.0, color="black", lw=0.6)
    ax.set_title(f"IC, {h}-date forward returns: mean {ev.ic_mean[k]:.3f}, "
                 f"NW t {ev.ic_nw_tstat[k]:.2f}", fontsize=9)
    ax.legend(fontsize=7, loc="upper left")


def ic_figure(ev, window: int = 21):
    """IC per date with its rolling mean, one panel per horizon."""
    from ferrofactor._validate import check_int

    window = check_int("window", window, 1)
    h = len(ev.horizons)
    fig, axes = _figure(h, 1, (9.0, 2.6 * h))
    for k in range(h):
        _draw_ic(axes[k, 0], ev, k, window)
    return fig


def _draw_decay(ax, ev) -> None:
    lags = np.asarray(ev.decay_lags)
    ax.bar(lags, ev.ic_decay, color="tab:blue", alpha=0.7, label="one-date return k dates ahead")
    se = np.abs(_safe_div(ev.ic_decay, ev.ic_decay_nw_tstat))
    ax.errorbar(lags, ev.ic_decay, yerr=2 * se, fmt="none", ecolor="black", lw=0.8)
    ax.plot(np.asarray(ev.horizons), ev.ic_mean, "o-", color="tab:red", label="h-date forward return")
    ax.axhline(0.0, color="black", lw=0.6)
    ax.set_xlabel("lag / horizon (dates)")
    ax.set_title("IC decay (bars ± 2 NW s.e.) and IC by horizon", fontsize=9)
    ax.legend(fontsize=7)


def _safe_div(a, b):
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(a) / np.asarray(b)


def ic_decay_figure(ev):
    """Mean IC by decay lag (bars with ±2 Newey-West standard errors) and by horizon (line)."""
    fig, axes = _figure()
    _draw_decay(axes[0, 0], ev)
    return fig


def _draw_bars(ax, qr) -> None:
    q, h = qr.mean_returns.shape
    width = 0.8 / max(h, 1)
    xs = np.arange(1, q + 1)
    for k in range(h):
        ax.bar(xs - 0.4 + width * (k + 0.5), 1e4 * qr.mean_returns[:, k], width,
               yerr=2e4 * qr.nw_std_errors[:, k], label=f"{int(qr.horizons[k])}-date",
               error_kw={"lw": 0.8})
    ax.axhline(0.0, color="black", lw=0.6)
    ax.set_xticks(xs)
    ax.set_xlabel("quantile (1 = lowest signal)")
    ax.set_ylabel("mean forward return (bps)")
    ax.set_title("Mean forward return by quantile (± 2 NW s.e.)", fontsize=9)
    ax.legend(fontsize=7)


def quantile_bars_figure(qr):
    """Mean forward return by quantile (basis points), one bar per horizon."""
    fig, axes = _figure()
    _draw_bars(axes[0, 0], qr)
    return fig


def _draw_cumulative(ax, qr, horizon) -> None:
    from ferrofactor.evaluate.signal import _horizon_index

    k = _horizon_index(qr.horizons, horizon)
    cum = qr.cumulative_returns(int(qr.horizons[k]))
    x = _x(qr, cum.shape[0])
    cmap = _cmap(cum.shape[1])
    for q in range(cum.shape[1]):
        ax.plot(x, cum[:, q], lw=1.0, color=cmap[q], label=f"Q{q + 1}")
    ax.set_yscale("log")
    ax.set_title(f"Cumulative return by quantile ({int(qr.horizons[k])}-date holding, "
                 f"demeaned: {qr._demeaned})", fontsize=9)
    ax.legend(fontsize=7, ncol=min(cum.shape[1], 5))


def _cmap(n: int) -> list:
    from matplotlib import colormaps

    cm = colormaps["coolwarm"]
    return [cm(v) for v in np.linspace(0.0, 1.0, max(n, 2))][:n] if n > 1 else [cm(0.0)]


def cumulative_figure(qr, horizon=None):
    """Growth of 1 in each quantile, rebalanced every h dates (log scale)."""
    fig, axes = _figure()
    _draw_cumulative(axes[0, 0], qr, horizon)
    return fig


def quantile_returns_figure(qr, horizon=None):
    """Mean return by quantile and cumulative quantile returns, side by side."""
    fig, axes = _figure(1, 2, (12.0, 4.0))
    _draw_bars(axes[0, 0], qr)
    _draw_cumulative(axes[0, 1], qr, horizon)
    return fig


def _draw_turnover(ax, ev, horizon) -> None:
    from ferrofactor.evaluate.signal import _horizon_index

    k = _horizon_index(ev.horizons, horizon)
    x = _x(ev, ev.turnover.shape[0])
    q = ev.turnover.shape[1]
    ax.plot(x, ev.turnover[:, -1, k], lw=0.8, label=f"top quantile (mean {ev.mean_turnover[-1, k]:.2f})")
    ax.plot(x, ev.turnover[:, 0, k], lw=0.8, label=f"bottom quantile (mean {ev.mean_turnover[0, k]:.2f})")
    ax.set_ylim(0.0, 1.0)
    ax.set_title(f"Quantile turnover at a lag of {int(ev.horizons[k])} dates ({q} quantiles); "
                 f"rank autocorrelation {ev.mean_autocorrelation[k]:.3f}", fontsize=9)
    ax.legend(fontsize=7)


def turnover_figure(ev, horizon=None):
    """Top and bottom quantile turnover over time."""
    fig, axes = _figure()
    _draw_turnover(axes[0, 0], ev, horizon)
    return fig


def evaluation_figure(ev):
    """The tear sheet: IC over time (first horizon), IC decay, mean return by quantile,
    cumulative quantile returns and turnover."""
    fig, axes = _figure(3, 2, (13.0, 10.0))
    _draw_ic(axes[0, 0], ev, 0, 21)
    _draw_decay(axes[0, 1], ev)
    _draw_bars(axes[1, 0], ev.quantile_returns)
    _draw_cumulative(axes[1, 1], ev.quantile_returns, None)
    _draw_turnover(axes[2, 0], ev, None)
    ax = axes[2, 1]
    x = _x(ev, ev.factor_returns.shape[0])
    h0 = int(ev.horizons[0])
    # the wealth at each date after the holding periods that ended by then (as the cumulative
    # quantile returns): the book formed at t earns its return at t + h
    from ferrofactor.evaluate.signal import wealth_of_holdings

    ax.plot(x, wealth_of_holdings(ev.factor_returns[:, 0], h0), lw=1.0)
    ax.set_title(f"Factor-weighted long-short book ({h0}-date holding)", fontsize=9)
    return fig
