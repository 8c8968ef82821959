"""_core.build_styles: the fused exposure builder against the per-panel recipe it replaces.

Oracles: the per-panel recipe as it was written before the fused kernel (numpy glue around the
panel-level clean kernels ``ff.winsorize``/``ff.standardize`` and a numpy ``bincount`` industry
fill), written out here; the plain-numpy ``ff.baseline.exposures_from_descriptors`` (independent
clean routines and per-cell loops); and hand-worked cases. The fused kernel runs the same
per-date routines in the same order as the per-panel recipe, so those two agree bit for bit
(``assert_array_equal``); the numpy baseline sums in another order (1e-10).
"""

from __future__ import annotations

import numpy as np
import pytest

import ferrofactor as ff
from ferrofactor import _core
from ferrofactor import baseline as bl
from ferrofactor.descriptors import compute_descriptors
from ferrofactor.exposures import DEFAULT_STYLES


def per_panel_recipe(desc, styles, cap, industry, winsorize, limit, fill):
    """Steps 1–4 as separate panel-level passes (the implementation before the fused kernel)."""
    names = list(dict.fromkeys(d for parts in styles.values() for d in parts))
    arrays = {d: np.asarray(desc[d], dtype=float) for d in names}
    shape = arrays[names[0]].shape
    T, N = shape
    capw = None
    if cap is not None:
        capw = np.where(np.isfinite(cap) & (cap > 0), cap, np.nan)
        universe = np.isfinite(capw)
    else:
        universe = np.zeros(shape, dtype=bool)
        for v in arrays.values():
            universe |= np.isfinite(v)

    def prepare(x):
        x = np.where(universe, x, np.nan)
        if winsorize is not None:
            x = ff.winsorize(x, method=winsorize, limit=limit)
        return ff.standardize(x, weights=capw)

    z = {d: prepare(v) for d, v in arrays.items()}
    out = np.full((T, N, len(styles)), np.nan)
    for k, parts in enumerate(styles.values()):
        num = np.zeros(shape)
        den = np.zeros(shape)
        for d, w in parts.items():
            ok = np.isfinite(z[d])
            num[ok] += w * z[d][ok]
            den[ok] += abs(w)
        with np.errstate(invalid="ignore", divide="ignore"):
            x = prepare(np.where(den > 0, num / den, np.nan))
        need = universe & ~np.isfinite(x)
        if fill == "zero":
            x[need] = 0.0
        elif fill == "industry_mean":
            fillv = np.zeros(shape)
            if industry is not None and industry.max() >= 0:
                G = int(industry.max()) + 1
                key = np.arange(T)[:, None] * G + np.maximum(industry, 0)
                have = np.isfinite(x) & (industry >= 0)
                s = np.bincount(key[have], weights=x[have], minlength=T * G)
                c = np.bincount(key[have], minlength=T * G)
                with np.errstate(invalid="ignore", divide="ignore"):
                    mean = np.where(c > 0, s / np.maximum(c, 1), 0.0)
                fillv = np.where(industry >= 0, mean[key], 0.0)
            x[need] = fillv[need]
        out[:, :, k] = x
    return out


@pytest.fixture(scope="module")
def universe():
    panel = ff.datasets.synthetic_universe(n_assets=300, n_days=400, seed=3)
    return panel, compute_descriptors(panel)


def fused(desc, styles, cap, industry, winsorize, limit, fill):
    """The kernel called as the Python layer would: descriptors in order of first use, dense
    industry codes."""
    names = list(dict.fromkeys(d for parts in styles.values() for d in parts))
    pos = {d: j for j, d in enumerate(names)}
    parts = [[(pos[d], float(w)) for d, w in p.items()] for p in styles.values()]
    codes, g = None, 0
    if industry is not None:
        dense, values = _core.dense_codes(np.ascontiguousarray(industry, dtype=np.int64))
        codes, g = dense, len(values)
    arrays = [np.ascontiguousarray(desc[d], dtype=np.float64) for d in names]
    return _core.build_styles(arrays, parts, cap, codes, g, winsorize, limit, fill)


@pytest.mark.parametrize("winsorize,limit", [("sigma", 3.0), ("quantile", 0.025), ("mad", 3.0), (None, 3.0)])
@pytest.mark.parametrize("fill", ["industry_mean", "zero", None])
@pytest.mark.parametrize("with_cap", [True, False])
@pytest.mark.parametrize("with_industry", [True, False])
def test_equals_exposures_from_descriptors(universe, winsorize, limit, fill, with_cap, with_industry):
    panel, desc = universe
    cap = panel["market_cap"] if with_cap else None
    industry = panel["industry"] if with_industry else None
    ref = per_panel_recipe(desc, DEFAULT_STYLES, cap, industry, winsorize, limit, fill)
    got = fused(desc, DEFAULT_STYLES, cap, industry, winsorize, limit, fill)
    assert got.shape == ref.shape == (400, 300, 4)
    np.testing.assert_array_equal(got, ref)
    assert np.isfinite(got).any()


@pytest.mark.parametrize("fill", ["industry_mean", "zero"])
def test_close_to_the_plain_numpy_baseline(universe, fill):
    # Independent code (per-date numpy clean routines, per-cell loops); a subset of dates keeps
    # the loops short. 1e-10 relative: the sums run in another order.
    panel, desc = universe
    rows = slice(250, 280)
    sub = {d: desc[d][rows] for d in desc.float_fields}
    cap, industry = panel["market_cap"][rows], panel["industry"][rows]
    want = bl.exposures_from_descriptors(sub, DEFAULT_STYLES, cap=cap, industry=industry, fill=fill)
    got = fused(sub, DEFAULT_STYLES, cap, industry, "sigma", 3.0, fill)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    assert np.isfinite(got).mean() > 0.5


def test_thread_count_does_not_matter(universe):
    panel, desc = universe
    outs = []
    for threads in (1, 2):
        ff.set_num_threads(threads)
        try:
            outs.append(fused(desc, DEFAULT_STYLES, panel["market_cap"], panel["industry"], "sigma", 3.0, "industry_mean"))
        finally:
            ff.set_num_threads(0)
    np.testing.assert_array_equal(outs[0], outs[1])


def test_hand_worked_without_cap():
    # One date, 4 assets; style = (z_a + z_b) / 2 where both exist, else the one there is.
    # a = (1, 2, 3, NaN) → z_a = (−1, 0, 1, NaN); b = (2, NaN, 4, 6) → z_b = (−1, NaN, 0, 1);
    # combined c = (−1, 0, 0.5, 1), then standardised: (c − 0.125) / sd(c, ddof=1).
    a = np.array([[1.0, 2.0, 3.0, np.nan]])
    b = np.array([[2.0, np.nan, 4.0, 6.0]])
    got = _core.build_styles([a, b], [[(0, 1.0), (1, 1.0)]], None, None, 0, None, 3.0, "zero")
    c = np.array([-1.0, 0.0, 0.5, 1.0])
    np.testing.assert_allclose(got[0, :, 0], (c - c.mean()) / c.std(ddof=1), rtol=1e-14)


def test_hand_worked_industry_fill():
    # Universe = assets with a cap. Asset 3 has no descriptor: the mean of its industry's styles
    # (assets 1 and 2); asset 6 has none and no industry: 0; asset 5 has no cap: NaN.
    x = np.array([[1.0, 2.0, 4.0, np.nan, 3.0, 9.0, np.nan]])
    cap = np.array([[1.0, 1.0, 1.0, 1.0, 1.0, np.nan, 1.0]])
    codes = np.array([[0, 1, 1, 1, -1, 0, -1]], np.int32)
    got = _core.build_styles([x], [[(0, 2.0)]], cap, codes, 2, None, 3.0, "industry_mean")[0, :, 0]
    z = (np.array([1.0, 2.0, 4.0, 3.0]) - 2.5) / np.sqrt(5 / 3)
    np.testing.assert_allclose(got[[0, 1, 2, 4]], z, rtol=1e-13)
    np.testing.assert_allclose(got[3], (z[1] + z[2]) / 2, rtol=1e-13)
    assert got[6] == 0.0 and np.isnan(got[5])


def test_bad_arguments():
    x = np.zeros((2, 3))
    ok = dict(cap=None, industry=None, n_industries=0, winsorize=None, limit=3.0, fill=None)

    def call(descs, parts, **kw):
        args = {**ok, **kw}
        return _core.build_styles(descs, parts, args["cap"], args["industry"], args["n_industries"],
                                  args["winsorize"], args["limit"], args["fill"])

    with pytest.raises(ValueError, match=r"descriptors\[1\] has shape"):
        call([x, np.zeros((2, 4))], [[(0, 1.0)]])
    with pytest.raises(ValueError, match="descriptors must hold at least one"):
        call([], [[(0, 1.0)]])
    with pytest.raises(ValueError, match=r"parts\[0\] names descriptor 3"):
        call([x], [[(3, 1.0)]])
    with pytest.raises(ValueError, match="weights must be finite and non-zero"):
        call([x], [[(0, np.nan)]])
    with pytest.raises(ValueError, match=r"parts\[1\] is empty"):
        call([x], [[(0, 1.0)], []])
    with pytest.raises(ValueError, match="winsorize must be one of"):
        call([x], [[(0, 1.0)]], winsorize="clip")
    with pytest.raises(ValueError, match="limit must be in"):
        call([x], [[(0, 1.0)]], winsorize="quantile", limit=0.6)
    with pytest.raises(ValueError, match="fill must be one of"):
        call([x], [[(0, 1.0)]], fill="mean")
    with pytest.raises(ValueError, match="cap has shape"):
        call([x], [[(0, 1.0)]], cap=np.ones((3, 2)))
    with pytest.raises(ValueError, match="industry codes must lie in -1..1"):
        call([x], [[(0, 1.0)]], industry=np.full((2, 3), 2, np.int32), n_industries=2)
