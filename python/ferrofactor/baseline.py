"""Plain-numpy reference implementations: the test oracle and the benchmark baseline.

Written for clarity, not speed: a Python loop over dates, dense one-hot designs,
``np.linalg.lstsq``/``solve``. Each function has the same signature and conventions as its fast
counterpart in ``ferrofactor`` so that tests and benchmarks can swap one for the other.
"""

from __future__ import annotations

import numpy as np  # noqa: F401


# --- io ---


def panel_from_long(row_dates, row_assets, values):
    """Dense (T, N) array from long rows by a plain per-row loop (oracle for ``Panel.from_polars``).

    Parameters: ``row_dates`` (R,) datetime64[D], ``row_assets`` (R,) str, ``values`` (R,) float.
    Returns ``(dates, assets, out)`` with sorted unique dates and assets; raises ``ValueError``
    on a repeated (date, asset).
    """
    dates = sorted(set(np.asarray(row_dates, dtype="datetime64[D]").tolist()))
    assets = sorted(set(str(a) for a in row_assets))
    t_of = {d: i for i, d in enumerate(dates)}
    a_of = {a: j for j, a in enumerate(assets)}
    out = np.full((len(dates), len(assets)), np.nan)
    seen = set()
    for d, a, v in zip(np.asarray(row_dates, dtype="datetime64[D]").tolist(), row_assets, values):
        key = (t_of[d], a_of[str(a)])
        if key in seen:
            raise ValueError(f"duplicate (date, asset) row {d}, {a}")
        seen.add(key)
        out[key] = np.nan if v is None else v
    return np.array(dates, dtype="datetime64[D]"), np.array(assets, dtype=str), out


def point_in_time(rec_assets, rec_report_dates, rec_values, dates, assets, lag=1, max_staleness=365):
    """Point-in-time values by brute force (oracle for ``read_fundamentals``).

    For every panel date d and asset a: among a's records with ``report_date + lag <= d``, take
    the one with the latest ``report_date``; show its value if ``d - (report_date + lag) <=
    max_staleness`` (None: no limit), else NaN.
    """
    dates = np.asarray(dates, dtype="datetime64[D]")
    rec_assets = [str(a) for a in rec_assets]
    avail = np.asarray(rec_report_dates, dtype="datetime64[D]") + np.timedelta64(lag, "D")
    out = np.full((len(dates), len(assets)), np.nan)
    for j, a in enumerate(assets):
        mine = [r for r in range(len(rec_assets)) if rec_assets[r] == a]
        for i, d in enumerate(dates):
            best = None
            for r in mine:
                if avail[r] <= d and (best is None or avail[r] > avail[best]):
                    best = r
            if best is None:
                continue
            if max_staleness is not None and (d - avail[best]).astype(int) > max_staleness:
                continue
            v = rec_values[best]
            out[i, j] = np.nan if v is None else v
    return out


def returns_from_prices(close):
    """``close[t] / close[t-1] - 1`` by a loop over dates; NaN where either price is missing."""
    close = np.asarray(close, dtype=float)
    out = np.full(close.shape, np.nan)
    for t in range(1, close.shape[0]):
        out[t] = close[t] / close[t - 1] - 1.0
    return out
