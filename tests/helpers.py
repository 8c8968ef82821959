"""Shared test data: random panels with the awkward cases every kernel must survive.

``random_panel`` gives missing values (5–20 % per field), industries that are empty on some dates
(and one never used), and dates where everything is missing, so that tests exercise the
per-date NaN handling rather than the happy path.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class RandomPanel:
    returns: np.ndarray  # (T, N)
    styles: np.ndarray  # (T, N, K)
    industry: np.ndarray  # (T, N) int32, -1 = none
    weights: np.ndarray  # (T, N), sqrt(cap), NaN sometimes
    cap: np.ndarray  # (T, N) > 0
    n_industries: int
    all_nan_dates: np.ndarray  # indices of dates where every return is NaN


def random_panel(
    T: int = 30,
    N: int = 200,
    K: int = 3,
    G: int = 6,
    missing: float = 0.1,
    seed: int = 0,
) -> RandomPanel:
    rng = np.random.default_rng(seed)
    styles = rng.standard_normal((T, N, K))
    industry = rng.integers(0, G, size=(T, N)).astype(np.int32)
    # Industry G-1 is never used; industry 0 is empty on every third date.
    industry[industry == G - 1] = 0
    industry[::3][industry[::3] == 0] = 1
    industry[rng.random((T, N)) < missing / 2] = -1
    cap = np.exp(rng.normal(8.0, 1.5, size=(T, N)))
    weights = np.sqrt(cap)
    f = rng.normal(0, 0.01, size=(T, K))
    ind_ret = rng.normal(0, 0.01, size=(T, G))
    returns = (
        0.0005
        + np.einsum("tnk,tk->tn", styles, f)
        + np.take_along_axis(ind_ret, np.maximum(industry, 0), axis=1)
        + rng.standard_t(5, size=(T, N)) * 0.02
    )
    for arr in (returns, weights):
        arr[rng.random((T, N)) < missing] = np.nan
    styles[rng.random((T, N, K)) < missing / 3] = np.nan
    all_nan = np.array([T // 2]) if T > 4 else np.array([], dtype=int)
    returns[all_nan] = np.nan
    return RandomPanel(returns, styles, industry, weights, cap, G, all_nan)


def long_frame(values, names, dates, col="value"):
    """A long Polars frame (date, asset, ``col``) of a (T, N) array, its assets listed in the
    order of ``names`` on every date (so not necessarily the sorted order a frame's assets come
    out in)."""
    import polars as pl

    T, N = values.shape
    return pl.DataFrame({"date": np.repeat(dates, N), "asset": list(names) * T, col: values.ravel()})
