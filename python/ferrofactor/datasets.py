"""A synthetic equity universe with known truth, and sample files the way users' data look.

:func:`synthetic_universe` simulates a daily panel from a factor model whose parameters are kept
(:class:`SyntheticTruth`, stored as ``panel.truth``), so estimators can be checked against the
truth. :func:`write_sample` writes the same universe as long Parquet files (prices, fundamentals,
classifications, delistings) and :func:`load_sample` reads them back through :mod:`ferrofactor.io`.

The model (``t`` indexes trading days; row ``t`` of an exposure is known at the close of ``t``)::

    returns[t, n] = f_market[t] + f_industry[t, industry[t-1, n]]
                    + sum_k exposures[t-1, n, k] * f_style[t, k] + specific[t, n]

so a cross-sectional regression of ``returns[t]`` on the exposures of ``t - 1`` recovers
``factor_returns[t]``. Industry factor returns are identified by the constraint of the library's
model: their sum weighted by ``market_cap[t-1]`` over the assets with a return at ``t`` is zero,
which makes ``f_market`` the cap-weighted market's return (up to the style and specific parts).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import polars as pl

from ferrofactor.io import (
    dollar_volume,
    market_cap,
    read_fundamentals,
    read_universe,
    returns_from_prices,
)
from ferrofactor._validate import check_int
from ferrofactor.panel import Panel

__all__ = ["SyntheticTruth", "load_sample", "synthetic_universe", "write_sample"]

_SECTORS = (
    "Communication Services",
    "Consumer Discretionary",
    "Consumer Staples",
    "Energy",
    "Financials",
    "Health Care",
    "Industrials",
    "Information Technology",
    "Materials",
    "Real Estate",
    "Utilities",
)
_STYLES = ("value", "quality", "momentum", "volatility")
FUNDAMENTAL_FIELDS = (
    "book_value",
    "earnings",
    "revenue",
    "net_income",
    "total_assets",
    "total_liabilities",
    "operating_cash_flow",
)


@dataclass(frozen=True)
class SyntheticTruth:
    """The parameters that generated a synthetic universe (``panel.truth``).

    Attributes
    ----------
    exposures : ndarray (T, N, K)
        Style exposures; row ``t`` is known at the close of ``t`` and drives ``returns[t+1]``.
        Roughly standard normal per style. Defined for every cell (NaN-free), listed or not.
    style_names : tuple of str, length K
        ``value`` loads on book-to-price and ``quality`` on return on equity in the fundamentals;
        ``momentum``, ``volatility`` (which also scales specific risk) and ``latent_k`` have no
        descriptor in the data.
    industry : ndarray (T, N) int32
        Industry codes in force at the close of ``t`` (-1 before listing and after delisting);
        equal to ``panel["industry"]``.
    industry_names : ndarray of str, length G
    factor_returns : ndarray (T, P)
        Columns ``factor_names``: market, the G industries, the K styles. Row ``t`` is the return
        from close ``t-1`` to close ``t``; row 0 is NaN.
    factor_names : tuple of str, length P = 1 + G + K
    specific_vol : ndarray (T, N)
        Daily volatility of the specific return at ``t`` (time-varying, defined everywhere).
    specific_returns : ndarray (T, N)
        The realised specific returns (row 0 and unlisted cells are NaN): with the factor part they
        add up to the simulated return, which equals ``panel["returns"]`` up to rounding wherever
        the latter is present.
    listed : ndarray (T, N) bool
        Whether the asset is listed at ``t`` (listing day included, delisting day excluded).
    fundamentals : polars DataFrame
        The quarterly records behind the fundamental fields: ``asset``, ``fiscal_period_end``,
        ``report_date`` and the seven values (nulls where missing).
    classifications : polars DataFrame
        ``asset``, ``date``, ``industry``: an asset's industry from ``date`` on (null = none).
    """

    exposures: np.ndarray
    style_names: tuple[str, ...]
    industry: np.ndarray
    industry_names: np.ndarray
    factor_returns: np.ndarray
    factor_names: tuple[str, ...]
    specific_vol: np.ndarray
    specific_returns: np.ndarray
    listed: np.ndarray
    fundamentals: pl.DataFrame
    classifications: pl.DataFrame


#: Largest panel synthetic_universe builds, in cells (dates × assets): about twenty float fields
#: of this size are generated (10,000 assets × 10,000 days, ~16 GB).
MAX_CELLS = 100_000_000


def _check_seed(seed: object) -> int:
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an integer, got {seed!r}")
    if not 0 <= int(seed) < 2**63:
        raise ValueError(f"seed must be in [0, 2**63), got {seed}")
    return int(seed)


def _start_day(start: object, n_days: int) -> np.datetime64:
    """The first weekday on or after ``start`` (an ISO date string, ``datetime.date`` or
    ``numpy.datetime64``), checked so that ``n_days`` weekdays stay in the dates a panel allows."""
    from ferrofactor.panel import _DATE_MAX, _DATE_MIN, _as_dates

    if isinstance(start, (bool, np.bool_, int, float, np.integer, np.floating)) or start is None:
        raise TypeError(f"start must be a date ('YYYY-MM-DD', datetime.date or numpy.datetime64), got {start!r}")
    try:  # as every date argument: strict ISO, never a timestamp cut to its day
        day = _as_dates("start", [start.strip() if isinstance(start, str) else start], check_range=False)[0]
    except (TypeError, OverflowError):
        raise ValueError(f"start could not be read as an ISO date ('YYYY-MM-DD'): {start!r}") from None
    if np.isnat(day) or not _DATE_MIN <= day <= _DATE_MAX:
        raise ValueError(f"start must lie between {_DATE_MIN} and {_DATE_MAX}, got {start!r}")
    first = np.busday_offset(day, 0, roll="forward")
    last_ok = np.busday_offset(_DATE_MAX, 0, roll="backward")
    room = int(np.busday_count(first, last_ok)) + 1
    span = int(np.busday_count(first, first + np.timedelta64(200 * 365, "D")))
    if n_days > min(room, span):
        raise ValueError(
            f"n_days ({n_days}) weekdays from start {first} run past {min(room, span)} (a panel's dates "
            f"end by {_DATE_MAX} and span at most 200 years)"
        )
    return first


def _ar1(rng: np.random.Generator, shape: tuple[int, ...], phi: float) -> np.ndarray:
    """Stationary AR(1) along axis 0 with unit variance, vectorised over the other axes.

    The recursion runs over axis 0 only (a few hundred knots, not the panel's cells).
    """
    z = rng.standard_normal(shape)
    out = np.empty(shape)
    out[0] = z[0]  # start in the stationary distribution
    innov = np.sqrt(1.0 - phi**2)
    for i in range(1, shape[0]):
        np.multiply(out[i - 1], phi, out=out[i])
        out[i] += innov * z[i]
    return out


def _slow_exposures(rng: np.random.Generator, T: int, N: int, K: int, step: int = 21) -> np.ndarray:
    """Persistent characteristics (T, N, K): a stationary AR(1) on knots every ``step`` days
    (daily persistence 1 - 1/250), linearly interpolated in between. Variance about 1 (0.96 at
    mid-knot)."""
    n_knots = (T - 1) // step + 2
    knots = _ar1(rng, (n_knots, N, K), phi=(1.0 - 1.0 / 250.0) ** step)
    pos = np.arange(T) / step
    i0 = pos.astype(np.int64)
    w = (pos - i0)[:, None, None]
    out = np.empty((T, N, K))
    # the dates between two knots share them: broadcast each pair of knots over its dates instead
    # of gathering a (T, N, K) copy of each (same products and sum, element by element)
    for j in range(n_knots - 1):
        s, e = j * step, min((j + 1) * step, T)
        if s >= T:
            break
        np.multiply(knots[j], 1.0 - w[s:e], out=out[s:e])
        out[s:e] += knots[j + 1] * w[s:e]
    return out


def _t_shocks(rng: np.random.Generator, df: float, size: tuple[int, ...]) -> np.ndarray:
    """Student-t shocks scaled to unit variance."""
    z = rng.standard_t(df, size=size)
    z *= np.sqrt((df - 2.0) / df)
    return z


def synthetic_universe(
    n_assets: int = 3000,
    n_days: int = 2520,
    n_industries: int = 10,
    n_styles: int = 4,
    seed: int = 0,
    *,
    start: str = "2015-01-02",
) -> Panel:
    """Simulate a daily equity universe from a factor model with known parameters.

    Parameters
    ----------
    n_assets : int, default 3000
        N, assets ever listed.
    n_days : int, default 2520
        T, trading days (Monday–Friday from ``start``; about ten years by default).
    n_industries : int, default 10
        G. Up to 11 use GICS sector names, more ``industry_XXX``.
    n_styles : int, default 4
        K. Names from ``value, quality, momentum, volatility``, then ``latent_k``.
    seed : int, default 0
        Everything is drawn from ``numpy.random.default_rng(seed)``: same seed, same panel.
    start : str, default "2015-01-02"
        First calendar day (rolled forward to a weekday).

    Returns
    -------
    Panel
        Float fields ``close`` (adjusted = unadjusted: no splits), ``volume`` (shares traded),
        ``shares`` (outstanding), ``returns`` (:func:`ferrofactor.returns_from_prices` of
        ``close``), ``market_cap``, ``dollar_volume`` and the point-in-time fundamentals
        ``book_value, earnings, revenue, net_income, total_assets, total_liabilities,
        operating_cash_flow`` (as :func:`ferrofactor.read_fundamentals` with ``report_lag_days=1``,
        ``max_staleness=365``); code field ``industry``. ``panel.truth`` is a
        :class:`SyntheticTruth`.

    Notes
    -----
    Realism: lognormal caps (a few mega caps, a long tail of small ones, smaller caps more
    volatile); Student-t shocks (5 degrees of freedom for factors, 4 for specific returns);
    GARCH(1, 1) market volatility that also scales industry, style and specific volatility; about
    a quarter of the assets list after the start and a fifth delist before the end (NaN outside
    the listing); suspensions of 1–5 days (close and volume NaN, so the return on and after a
    suspension is NaN); about 2 % of assets change industry once; quarterly reports 20–75 days
    after the quarter end; ~0.5 % of volumes and ~1 % of fundamental values missing.
    """
    N = check_int("n_assets", n_assets, 1, 1_000_000)
    T = check_int("n_days", n_days, 2, 100_000)
    G = check_int("n_industries", n_industries, 1, 10_000)
    K = check_int("n_styles", n_styles, 0, 1_000)
    if N * T > MAX_CELLS:
        raise ValueError(
            f"n_assets × n_days = {N} × {T} = {N * T:,} cells; synthetic_universe builds at most "
            f"{MAX_CELLS:,} (about twenty float fields of that size)"
        )
    seed = _check_seed(seed)
    first = _start_day(start, T)
    rng = np.random.default_rng(seed)

    dates = np.busday_offset(first, np.arange(T), roll="forward")
    width = max(5, len(str(N - 1)))
    assets = np.array([f"A{n:0{width}d}" for n in range(N)])
    style_names = tuple(_STYLES[:K]) + tuple(f"latent_{k}" for k in range(len(_STYLES), K))
    industry_names = np.array(_SECTORS[:G] if G <= len(_SECTORS) else [f"industry_{g:03d}" for g in range(G)])
    t_axis = np.arange(T)[:, None]

    # --- listings -----------------------------------------------------------------------------
    min_life = min(126, max(T // 4, 1))
    list_t = np.zeros(N, dtype=np.int64)
    late = rng.random(N) < 0.25
    list_t[late] = rng.integers(1, max(T - min_life, 2), size=int(late.sum()))
    delist_t = np.full(N, T, dtype=np.int64)
    gone = rng.random(N) < 0.20
    lo = np.minimum(list_t + min_life, T - 1)
    delist_t[gone] = lo[gone] + (rng.random(int(gone.sum())) * (T - lo[gone])).astype(np.int64)
    delist_t = np.clip(delist_t, list_t + 1, T)
    listed = (t_axis >= list_t) & (t_axis < delist_t)

    # --- industries ---------------------------------------------------------------------------
    p = rng.uniform(0.6, 1.4, size=G)
    ind0 = rng.choice(G, size=N, p=p / p.sum())
    switch = rng.random(N) < 0.02
    if G < 2:
        switch[:] = False
    ind1 = np.where(switch, (ind0 + rng.integers(1, max(G, 2), size=N)) % G, ind0)
    switch_t = np.where(switch, list_t + ((delist_t - list_t) * rng.uniform(0.2, 0.8, size=N)).astype(np.int64), T)
    switch &= (switch_t > list_t) & (switch_t < delist_t)
    switch_t = np.where(switch, switch_t, T)
    industry = np.where(t_axis >= switch_t, ind1, ind0).astype(np.int32)
    industry[~listed] = -1

    # --- exposures: persistent characteristics ------------------------------------------------
    exposures = _slow_exposures(rng, T, N, K) if K else np.zeros((T, N, 0))

    # --- factor returns (raw, before identification) ------------------------------------------
    z_m = _t_shocks(rng, 5.0, (T,))
    omega, alpha, beta = 0.01**2 * (1 - 0.08 - 0.90), 0.08, 0.90
    var = np.empty(T)
    f_mkt = np.empty(T)
    var[0] = 0.01**2
    for t in range(T):  # a scalar recursion along time (T steps), not a loop over the panel
        if t:
            var[t] = omega + alpha * (f_mkt[t - 1] - 0.0003) ** 2 + beta * var[t - 1]
        f_mkt[t] = 0.0003 + np.sqrt(var[t]) * z_m[t]
    regime = np.sqrt(var) / 0.01  # ~1 on average; > 1 in turbulent spells
    scale = np.sqrt(regime)
    f_ind_raw = rng.uniform(0.004, 0.008, size=G) * _t_shocks(rng, 5.0, (T, G)) * scale[:, None]
    premia = rng.normal(0.0002, 0.0001, size=K)
    f_sty = premia + rng.uniform(0.002, 0.004, size=K) * _t_shocks(rng, 5.0, (T, K)) * scale[:, None]

    # --- caps and specific risk ---------------------------------------------------------------
    cap0 = np.exp(rng.normal(np.log(2e9), 1.6, size=N))
    price0 = np.exp(rng.normal(np.log(30.0), 0.8, size=N))
    shares0 = np.round(cap0 / price0)
    rel = (cap0 / np.median(cap0)) ** -0.15
    base_vol = np.clip(0.018 * rel * np.exp(rng.normal(0, 0.25, size=N)), 0.005, 0.08)
    vol_k = style_names.index("volatility") if "volatility" in style_names else None
    specific_vol = base_vol * scale[:, None]
    if vol_k is not None:
        tilt = np.multiply(0.15, exposures[:, :, vol_k])
        specific_vol *= np.exp(tilt, out=tilt)

    # --- returns ------------------------------------------------------------------------------
    ind_prev = np.maximum(industry[:-1], 0)
    ind_ret = np.take_along_axis(f_ind_raw[1:], ind_prev, axis=1)  # (T-1, N), reused below
    systematic = np.empty((T, N))
    systematic[0] = np.nan
    np.add(f_mkt[1:, None], ind_ret, out=systematic[1:])
    if K:
        systematic[1:] += np.einsum("tnk,tk->tn", exposures[:-1], f_sty[1:])
    # in place where a (T, N) temporary would only be thrown away (same operations and order)
    specific = _t_shocks(rng, 4.0, (T, N))
    np.multiply(specific_vol, specific, out=specific)
    r_true = np.add(systematic, specific)
    np.maximum(r_true, -0.9, out=r_true)  # a price cannot fall below zero
    np.subtract(r_true, systematic, out=specific)
    unlisted = ~listed
    specific[unlisted] = np.nan
    specific[0] = np.nan

    log_growth = np.log1p(r_true)
    log_growth[0] = 0.0  # row 0 has no return
    log_growth[t_axis <= list_t] = 0.0  # price at listing = price0
    true_close = np.cumsum(log_growth, axis=0, out=log_growth)
    np.exp(true_close, out=true_close)
    np.multiply(price0, true_close, out=true_close)
    true_close[unlisted] = np.nan
    del log_growth

    # suspensions: ~2 per asset over ten years, 1-5 days each
    n_ev = rng.poisson(2.0 * T / 2520.0, size=N)
    ev_asset = np.repeat(np.arange(N), n_ev)
    ev_start = rng.integers(0, T, size=ev_asset.size)
    ev_len = rng.integers(1, 6, size=ev_asset.size)
    rep = np.repeat(np.arange(ev_asset.size), ev_len)
    offs = np.arange(rep.size) - np.repeat(np.cumsum(ev_len) - ev_len, ev_len)
    sus_t, sus_n = ev_start[rep] + offs, ev_asset[rep]
    ok = sus_t < T
    suspended = np.zeros((T, N), dtype=bool)
    suspended[sus_t[ok], sus_n[ok]] = True
    suspended &= listed

    close = true_close.copy()
    close[suspended] = np.nan

    # shares outstanding: small issuance/buy-backs at quarter ends
    q_ends = _quarter_ends(dates)
    q_t = np.searchsorted(dates, q_ends, side="right") - 1  # last trading day on/before quarter end
    q_idx = np.searchsorted(q_t, np.arange(T), side="left")  # quarter ends strictly before t
    steps = np.exp(rng.normal(0.0, 0.02, size=(len(q_ends) + 1, N)))
    steps[0] = 1.0
    shares = np.cumprod(steps, axis=0)[q_idx]
    np.multiply(shares0, shares, out=shares)
    np.round(shares, out=shares)
    shares[unlisted] = np.nan

    turnover_level = rng.normal(np.log(0.004), 0.5, size=N)
    turnover = rng.normal(0.0, 0.4, size=(T, N))
    np.add(turnover_level, turnover, out=turnover)
    np.exp(turnover, out=turnover)
    abs_r = np.abs(r_true)
    abs_r[0] = 0.0
    abs_r *= 20.0
    abs_r += 1.0
    volume = np.multiply(shares, turnover, out=turnover)
    volume *= abs_r
    np.round(volume, out=volume)
    del abs_r
    volume[suspended] = np.nan
    volume[rng.random((T, N)) < 0.005] = np.nan

    returns = returns_from_prices(close)
    mcap = market_cap(close, shares)

    # --- identification: cap-weighted industry returns sum to zero -----------------------------
    f_ind = np.full((T, G), np.nan)
    f_mkt_id = np.full(T, np.nan)
    if T > 1:
        # a return at t needs close[t-1], so these caps are finite
        w = np.where(np.isfinite(returns[1:]) & (industry[:-1] >= 0), mcap[:-1], 0.0)
        tot = w.sum(axis=1)
        c = (w * ind_ret).sum(axis=1) / np.where(tot > 0, tot, 1.0)
        f_ind[1:] = f_ind_raw[1:] - c[:, None]
        f_mkt_id[1:] = f_mkt[1:] + c
    f_sty_out = f_sty.copy()
    f_sty_out[0] = np.nan
    factor_returns = np.column_stack([f_mkt_id, f_ind, f_sty_out])
    factor_names = ("market", *industry_names.tolist(), *style_names)

    # --- fundamentals and classifications -----------------------------------------------------
    fundamentals = _fundamentals(rng, dates, assets, q_ends, q_t, listed, true_close, shares, exposures, style_names)
    classifications = _classifications(dates, assets, industry_names, ind0, ind1, switch, switch_t, list_t, delist_t)

    truth = SyntheticTruth(
        exposures=exposures,
        style_names=style_names,
        industry=industry,
        industry_names=industry_names,
        factor_returns=factor_returns,
        factor_names=factor_names,
        specific_vol=specific_vol,
        specific_returns=specific,
        listed=listed,
        fundamentals=fundamentals,
        classifications=classifications,
    )
    fund = read_fundamentals(fundamentals, dates, assets, report_lag_days=1, max_staleness=365)
    fields = {
        "close": close,
        "volume": volume,
        "shares": shares,
        "returns": returns,
        "market_cap": mcap,
        "dollar_volume": dollar_volume(close, volume),
    }
    fields.update({k: fund[k] for k in FUNDAMENTAL_FIELDS})
    return Panel(dates, assets, fields, {"industry": (industry, industry_names)}, truth=truth)


def _quarter_ends(dates: np.ndarray) -> np.ndarray:
    """Calendar quarter ends from the one before ``dates[0]`` to the last on/before ``dates[-1]``."""
    m0 = dates[0].astype("datetime64[M]")
    m1 = dates[-1].astype("datetime64[M]")
    months = np.arange(m0 - 3, m1 + 1)
    q_months = months[(months.astype(np.int64) % 12) % 3 == 2]  # Mar, Jun, Sep, Dec
    ends = (q_months + 1).astype("datetime64[D]") - 1
    return ends[ends <= dates[-1]]


def _fundamentals(
    rng: np.random.Generator,
    dates: np.ndarray,
    assets: np.ndarray,
    q_ends: np.ndarray,
    q_t: np.ndarray,
    listed: np.ndarray,
    true_close: np.ndarray,
    shares: np.ndarray,
    exposures: np.ndarray,
    style_names: tuple[str, ...],
) -> pl.DataFrame:
    """Quarterly records for every (asset, quarter end) with the asset listed at the quarter end."""
    T, N = listed.shape
    qi = np.arange(len(q_t))
    tq = np.maximum(q_t, 0)  # the quarter ended before the first date is valued on the first date
    on = listed[tq]  # (Q, N)
    qq, nn = np.nonzero(on)
    tt = tq[qq]
    R = len(nn)
    cap = true_close[tt, nn] * shares[tt, nn]

    def expo(name: str) -> np.ndarray:
        if name in style_names:
            return exposures[tt, nn, style_names.index(name)]
        return np.zeros(R)

    leverage = np.exp(rng.normal(0.4, 0.5, size=N))[nn]  # assets / book, per asset
    asset_turn = np.exp(rng.normal(-1.0, 0.4, size=N))[nn]  # quarterly revenue / assets
    book = cap * np.exp(-0.4 + 0.4 * expo("value") + rng.normal(0.0, 0.15, size=R))
    roe = 0.025 + 0.012 * expo("quality") + rng.normal(0.0, 0.008, size=R)
    net_income = book * roe
    earnings = net_income * (1.0 + rng.normal(0.0, 0.05, size=R))
    total_assets = book * (1.0 + leverage)
    total_liabilities = total_assets - book
    revenue = total_assets * asset_turn * np.exp(rng.normal(0.0, 0.1, size=R))
    ocf = net_income + total_assets * rng.normal(0.005, 0.01, size=R)
    values = {
        "book_value": book,
        "earnings": earnings,
        "revenue": revenue,
        "net_income": net_income,
        "total_assets": total_assets,
        "total_liabilities": total_liabilities,
        "operating_cash_flow": ocf,
    }
    period_end = q_ends[qi][qq]
    report = period_end + rng.integers(20, 76, size=R).astype("timedelta64[D]")
    order = np.lexsort((period_end, nn))
    cols: dict[str, object] = {
        "asset": assets[nn][order],
        "fiscal_period_end": period_end[order],
        "report_date": report[order],
    }
    for k in FUNDAMENTAL_FIELDS:
        v = values[k][order]
        miss = rng.random(R) < 0.01
        cols[k] = pl.Series(k, v).set(pl.Series(miss), None) if miss.any() else pl.Series(k, v)
    return pl.DataFrame(cols)


def _classifications(
    dates: np.ndarray,
    assets: np.ndarray,
    names: np.ndarray,
    ind0: np.ndarray,
    ind1: np.ndarray,
    switch: np.ndarray,
    switch_t: np.ndarray,
    list_t: np.ndarray,
    delist_t: np.ndarray,
) -> pl.DataFrame:
    """Rows (asset, date, industry): from listing, at a switch, and null from delisting."""
    T = len(dates)
    n_all = np.arange(len(assets))
    sw = np.flatnonzero(switch)
    dl = np.flatnonzero(delist_t < T)
    asset_idx = np.concatenate([n_all, sw, dl])
    t_idx = np.concatenate([list_t, switch_t[sw], delist_t[dl]])
    labels = np.concatenate([names[ind0], names[ind1[sw]], np.full(len(dl), "", dtype=names.dtype)])
    is_null = np.concatenate([np.zeros(len(n_all) + len(sw), bool), np.ones(len(dl), bool)])
    order = np.lexsort((t_idx, asset_idx))
    ind = pl.Series("industry", labels[order])
    ind = ind.set(pl.Series(is_null[order]), None)
    return pl.DataFrame(
        {"asset": assets[asset_idx][order], "date": dates[t_idx[order]], "industry": ind}
    )


def _directory(directory: object) -> str:
    if not isinstance(directory, (str, os.PathLike)):
        raise TypeError(f"directory must be a path (str or os.PathLike), got {type(directory).__name__}")
    return os.fspath(directory)


def write_sample(
    directory: str | os.PathLike[str],
    n_assets: int = 300,
    n_days: int = 504,
    n_industries: int = 10,
    n_styles: int = 4,
    seed: int = 0,
    *,
    panel: Panel | None = None,
) -> dict[str, str]:
    """Write a synthetic universe as long Parquet files, the way users' data look.

    Files (created in ``directory``, which is created if needed):

    - ``prices.parquet``: ``date, asset, close, volume, shares``, one row per listed
      (date, asset), nulls on suspended days and for missing volumes; no rows outside listings.
    - ``fundamentals.parquet``: ``asset, fiscal_period_end, report_date`` and the seven values
      (:attr:`SyntheticTruth.fundamentals`).
    - ``classifications.parquet``: ``asset, date, industry`` (label strings; null from delisting).
    - ``delistings.parquet``: ``asset, delisting_date``, one row per asset that delists before the
      last date: the first date it is no longer listed (the date after its last listed date, from
      :attr:`SyntheticTruth.listed`), as ``ferrofactor run``'s ``data.delistings`` reads it.

    Parameters
    ----------
    directory : path
    n_assets, n_days, n_industries, n_styles, seed
        As for :func:`synthetic_universe` (defaults are smaller: a quick sample).
    panel : Panel, optional
        A panel from :func:`synthetic_universe` to write instead of simulating a new one.

    Returns
    -------
    dict
        ``{"prices": path, "fundamentals": path, "classifications": path, "delistings": path}``.
    """
    directory = _directory(directory)
    if panel is None:
        panel = synthetic_universe(n_assets, n_days, n_industries, n_styles, seed)
    if not isinstance(panel, Panel) or not isinstance(panel.truth, SyntheticTruth):
        raise ValueError("panel must come from synthetic_universe (panel.truth is a SyntheticTruth)")
    os.makedirs(directory, exist_ok=True)
    listed = panel.truth.listed
    t_idx, a_idx = np.nonzero(listed)
    prices = pl.DataFrame(
        {
            "date": panel.dates[t_idx],
            "asset": panel.assets[a_idx],
            "close": panel["close"][t_idx, a_idx],
            "volume": panel["volume"][t_idx, a_idx],
            "shares": panel["shares"][t_idx, a_idx],
        }
    ).with_columns(pl.col("close", "volume", "shares").fill_nan(None))
    paths = {
        "prices": os.path.join(os.fspath(directory), "prices.parquet"),
        "fundamentals": os.path.join(os.fspath(directory), "fundamentals.parquet"),
        "classifications": os.path.join(os.fspath(directory), "classifications.parquet"),
        "delistings": os.path.join(os.fspath(directory), "delistings.parquet"),
    }
    prices.write_parquet(paths["prices"])
    panel.truth.fundamentals.write_parquet(paths["fundamentals"])
    panel.truth.classifications.write_parquet(paths["classifications"])
    assets, days = truth_delistings(panel)
    pl.DataFrame({"asset": assets, "delisting_date": days},
                 schema={"asset": pl.String, "delisting_date": pl.Date}).write_parquet(paths["delistings"])
    return paths


def truth_delistings(panel: Panel) -> tuple[np.ndarray, np.ndarray]:
    """The delistings of a synthetic universe, as ``ferrofactor.backtest``'s ``delistings=`` and
    ``ferrofactor run``'s ``data.delistings`` take them: ``(assets, dates)`` of the assets that
    delist before the panel's last date, each dated at the first date it is no longer listed (the
    date after its last listed one, from :attr:`SyntheticTruth.listed`)."""
    listed = panel.truth.listed
    T = listed.shape[0]
    ever = listed.any(axis=0)
    after = T - np.argmax(listed[::-1], axis=0)  # an asset is listed over one run of rows
    gone = np.flatnonzero(ever & (after < T))
    return panel.assets[gone], panel.dates[after[gone]]


def load_sample(
    directory: str | os.PathLike[str],
    *,
    report_lag_days: int = 1,
    max_staleness: int | None = 365,
    industry_labels: np.ndarray | None = None,
) -> Panel:
    """Read the files of :func:`write_sample` back into one Panel with :func:`ferrofactor.read_universe`.

    Prices (close, volume, shares) with returns, market cap and dollar volume derived from them,
    fundamentals point in time (``report_lag_days``, ``max_staleness``) and industries (labels:
    the sorted values present, or ``industry_labels``). With the defaults the result equals the
    panel that was written (``truth`` aside).
    """
    d = _directory(directory)
    return read_universe(
        os.path.join(d, "prices.parquet"),
        os.path.join(d, "fundamentals.parquet"),
        os.path.join(d, "classifications.parquet"),
        fundamental_fields=list(FUNDAMENTAL_FIELDS),
        report_lag_days=report_lag_days,
        max_staleness=max_staleness,
        industry_labels=industry_labels,
    )
