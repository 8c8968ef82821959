"""The synthetic universe: shapes, determinism, realism, point-in-time fields, and recoverable truth."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

import ferrofactor as ff
from ferrofactor import baseline
from ferrofactor.datasets import FUNDAMENTAL_FIELDS, SyntheticTruth, load_sample, synthetic_universe, write_sample


@pytest.fixture(scope="module")
def small():
    return synthetic_universe(n_assets=200, n_days=300, n_industries=6, n_styles=3, seed=7)


@pytest.fixture(scope="module")
def full():
    # The default size (3000 x 2520), built once for the module: a few seconds.
    return synthetic_universe()


def test_shapes_and_fields(small):
    T, N = 300, 200
    assert small.shape == (T, N)
    assert small.float_fields == ("close", "volume", "shares", "returns", "market_cap", "dollar_volume", *FUNDAMENTAL_FIELDS)
    assert small.code_fields == ("industry",)
    assert np.all(np.diff(small.dates).astype(int) > 0)
    assert np.all(np.is_busday(small.dates))
    assert small.assets.tolist() == sorted(small.assets.tolist())
    tr = small.truth
    assert isinstance(tr, SyntheticTruth)
    assert tr.exposures.shape == (T, N, 3) and tr.style_names == ("value", "quality", "momentum")
    assert tr.factor_returns.shape == (T, 1 + 6 + 3) and len(tr.factor_names) == 10
    assert tr.factor_names[0] == "market" and tr.factor_names[-3:] == ("value", "quality", "momentum")
    assert tr.specific_vol.shape == (T, N) and tr.listed.shape == (T, N)
    assert np.isnan(tr.factor_returns[0]).all() and np.isfinite(tr.factor_returns[1:]).all()
    np.testing.assert_array_equal(tr.industry, small["industry"])
    assert small.labels("industry").tolist() == tr.industry_names.tolist() == sorted(tr.industry_names.tolist())
    assert {"asset", "fiscal_period_end", "report_date", *FUNDAMENTAL_FIELDS} == set(tr.fundamentals.columns)


def test_deterministic_for_a_seed(small):
    again = synthetic_universe(n_assets=200, n_days=300, n_industries=6, n_styles=3, seed=7)
    assert again.equals(small)
    np.testing.assert_array_equal(again.truth.exposures, small.truth.exposures)
    np.testing.assert_array_equal(again.truth.factor_returns, small.truth.factor_returns)
    assert again.truth.fundamentals.equals(small.truth.fundamentals)
    other = synthetic_universe(n_assets=200, n_days=300, n_industries=6, n_styles=3, seed=8)
    assert not np.array_equal(other["close"], small["close"], equal_nan=True)


def test_listings_suspensions_and_missing(small):
    listed = small.truth.listed
    close = small["close"]
    assert not np.isfinite(close[~listed]).any()  # NaN before listing and after delisting
    assert (~listed[0]).sum() > 10 and (~listed[-1]).sum() > 10  # late listings and delistings
    suspended = listed & np.isnan(close)
    assert 0 < suspended.sum() < 0.02 * listed.sum()
    r = small["returns"]
    t, n = np.nonzero(suspended[:-1])
    assert np.isnan(r[t + 1, n]).all()  # no return across a suspension
    np.testing.assert_array_equal(r, ff.returns_from_prices(close))
    assert 0 < np.isnan(small["volume"][listed & ~suspended]).mean() < 0.02
    np.testing.assert_array_equal(small["market_cap"], close * small["shares"])
    ind = small["industry"]
    assert (ind[~listed] == -1).all() and (ind[listed] >= 0).all()
    changed = (ind[1:] != ind[:-1]) & listed[1:] & listed[:-1]
    assert changed.any()  # some assets change industry while listed


def test_realism_caps_tails_and_volatility(full):
    cap = full["market_cap"][-1]
    cap = np.sort(cap[np.isfinite(cap)])[::-1]
    assert cap[: len(cap) // 100].sum() / cap.sum() > 0.15  # top 1 % hold a large share
    tr = full.truth
    z = tr.specific_returns / tr.specific_vol
    z = z[np.isfinite(z)]
    kurt = np.mean(z**4) / np.mean(z**2) ** 2
    assert kurt > 4.0  # fat tails (a normal gives 3)
    mkt = tr.factor_returns[1:, 0]
    roll = np.sqrt(np.convolve(mkt**2, np.ones(63) / 63, mode="valid"))
    assert roll.max() / roll.min() > 1.5  # volatility clusters


def test_returns_are_generated_by_the_truth(small):
    tr = small.truth
    G = len(tr.industry_names)
    f = tr.factor_returns
    T = small.shape[0]
    sys_ = np.full(small.shape, np.nan)
    ind_prev = tr.industry[:-1]
    ind_ret = np.take_along_axis(f[1:, 1 : 1 + G], np.maximum(ind_prev, 0), axis=1)
    sys_[1:] = f[1:, :1] + ind_ret + np.einsum("tnk,tk->tn", tr.exposures[:-1], f[1:, 1 + G :])
    total = sys_ + tr.specific_returns
    r = small["returns"]
    ok = np.isfinite(r)
    assert ok.sum() > 0.7 * r.size
    # the panel's returns are close[t]/close[t-1]-1 of prices built by exp(cumsum(log1p r)):
    # equal to the model's return up to accumulated rounding
    np.testing.assert_allclose(r[ok], total[ok], rtol=0, atol=1e-9)
    # the identification: cap-weighted industry returns sum to zero over assets with a return
    w = np.where(ok[1:] & (ind_prev >= 0), small["market_cap"][:-1], 0.0)
    np.testing.assert_allclose((w * ind_ret).sum(axis=1) / w.sum(axis=1), 0.0, atol=1e-15)
    assert T == 300


def test_fundamentals_are_point_in_time(small):
    rec = small.truth.fundamentals
    assets = small.assets[:15].tolist()
    sub = rec.filter(pl.col("asset").is_in(assets))
    for field in ("book_value", "earnings"):
        oracle = baseline.point_in_time(
            sub["asset"].to_list(), sub["report_date"].to_numpy(), sub[field].to_list(), small.dates, assets, 1, 365
        )
        np.testing.assert_array_equal(small[field][:, :15], oracle)
    # reports come 20-75 days after their quarter end
    lagdays = (rec["report_date"] - rec["fiscal_period_end"]).dt.total_days()
    assert lagdays.min() >= 20 and lagdays.max() <= 75
    # value and quality load on book-to-price and return on equity
    tr = small.truth
    bp = np.log(small["book_value"][-1] / small["market_cap"][-1])
    ok = np.isfinite(bp)
    assert np.corrcoef(bp[ok], tr.exposures[-1, ok, 0])[0, 1] > 0.5


def test_write_and_load_sample_round_trip(tmp_path, small):
    paths = write_sample(tmp_path, panel=small)
    assert sorted(paths) == ["classifications", "delistings", "fundamentals", "prices"]
    # delistings: the assets listed on some date but not on the last one, each at the first
    # date after its listing ends
    dl = pl.read_parquet(paths["delistings"])
    listed = small.truth.listed
    want = [a for j, a in enumerate(small.assets.tolist()) if listed[:, j].any() and not listed[-1, j]]
    assert sorted(dl["asset"].to_list()) == sorted(want) and len(want) > 0
    col = {a: j for j, a in enumerate(small.assets.tolist())}
    for a, day in zip(dl["asset"].to_list(), dl["delisting_date"].to_numpy().astype("datetime64[D]")):
        t = int(np.searchsorted(small.dates, day))
        assert small.dates[t] == day and listed[t - 1, col[a]] and not listed[t:, col[a]].any()
    prices = pl.read_parquet(paths["prices"])
    assert prices.columns == ["date", "asset", "close", "volume", "shares"]
    assert prices.height == small.truth.listed.sum()  # ragged: no rows outside listings
    back = load_sample(tmp_path)
    assert back.equals(small)
    # read_panel alone on the prices file gives the same arrays
    p = ff.read_panel(paths["prices"])
    for k in ("close", "volume", "shares"):
        np.testing.assert_array_equal(p[k], small[k])


def test_write_sample_simulates_by_default(tmp_path):
    paths = write_sample(tmp_path / "new", n_assets=30, n_days=80, seed=3)
    p = synthetic_universe(30, 80, seed=3)
    # with 30 assets an industry may have no member: its label is not in the file, so pass them
    assert load_sample(tmp_path / "new", industry_labels=p.labels("industry")).equals(p)
    assert pl.read_parquet(paths["classifications"]).columns == ["asset", "date", "industry"]


def test_argument_errors(tmp_path):
    with pytest.raises(ValueError, match="n_assets must be >= 1"):
        synthetic_universe(n_assets=0)
    with pytest.raises(TypeError, match="n_days must be an integer"):
        synthetic_universe(n_days=2.5)
    with pytest.raises(ValueError, match="panel must come from synthetic_universe"):
        write_sample(tmp_path, panel=ff.Panel(["2024-01-02"], ["A"]))


def test_edge_sizes():
    p = synthetic_universe(n_assets=1, n_days=2, n_industries=1, n_styles=0, seed=1)
    assert p.shape == (2, 1) and p.truth.exposures.shape == (2, 1, 0)
    q = synthetic_universe(n_assets=20, n_days=30, n_industries=15, n_styles=6, seed=2)
    assert q.truth.style_names[-2:] == ("latent_4", "latent_5")
    assert q.labels("industry")[0] == "industry_000"


def test_regression_on_true_exposures_recovers_factor_returns(full):
    """Per date, OLS of returns[t] on industry dummies and styles of t-1.

    The industry coefficients c_g are market + industry g; the cap-weighted constraint splits
    them: market = sum_g w_g c_g with w_g the cap share (at t-1) of industry g among the assets
    used, industry g = c_g - market. The OLS is solved through the normal equations
    (``np.linalg.solve``): the design (dummies and unit-variance styles) is well conditioned, and
    ``np.linalg.lstsq`` (SVD) costs ~200x more here, minutes for 2520 dates on two cores.
    """
    tr = full.truth
    r = full["returns"]
    cap = full["market_cap"]
    T, N = r.shape
    G, K = len(tr.industry_names), len(tr.style_names)
    est = np.full((T, 1 + G + K), np.nan)
    for t in range(1, T):
        g = tr.industry[t - 1]
        ok = np.isfinite(r[t]) & (g >= 0)
        n = int(ok.sum())
        if n < 3 * (G + K):
            continue
        X = np.zeros((n, G + K))
        X[np.arange(n), g[ok]] = 1.0
        X[:, G:] = tr.exposures[t - 1, ok]
        coef = np.linalg.solve(X.T @ X, X.T @ r[t, ok])
        w = np.bincount(g[ok], weights=cap[t - 1, ok], minlength=G)
        mkt = (w / w.sum()) @ coef[:G]
        est[t] = np.concatenate([[mkt], coef[:G] - mkt, coef[G:]])
    ok = np.isfinite(est).all(axis=1)
    assert ok.sum() > 0.99 * (T - 1)
    corr = [np.corrcoef(est[ok, j], tr.factor_returns[ok, j])[0, 1] for j in range(1 + G + K)]
    assert min(corr) > 0.95, dict(zip(tr.factor_names, np.round(corr, 3)))
    # a small-sample check of the same regression against lstsq (the plain oracle)
    t = T - 1
    g = tr.industry[t - 1]
    ok1 = np.isfinite(r[t]) & (g >= 0)
    X = np.zeros((ok1.sum(), G + K))
    X[np.arange(ok1.sum()), g[ok1]] = 1.0
    X[:, G:] = tr.exposures[t - 1, ok1]
    np.testing.assert_allclose(
        np.linalg.lstsq(X, r[t, ok1], rcond=None)[0], np.linalg.solve(X.T @ X, X.T @ r[t, ok1]), rtol=1e-8
    )
