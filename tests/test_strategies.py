"""Built-in strategies: quantile books against pandas.qcut / alphalens' quantize_factor, signal
weights against alphalens' factor_weights, seed 003's industry weighting checked industry by
industry, TopN against ff.momentum_selection (seed 002), and bad arguments."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import ferrofactor as ff
from ferrofactor.strategies import quantile_buckets


class _Env:
    """A minimal backtest market for calling a strategy's targets directly."""

    def __init__(self, returns, tradable=None):
        self.returns = returns
        self.T, self.N = returns.shape
        self.dates = None
        self.assets = None
        self.tradable = tradable

    def tradable_rows(self, rows):
        ok = np.isfinite(self.returns[rows])
        if self.tradable is not None:
            ok &= self.tradable[rows]
        return ok


def _case(T=30, N=64, G=4, seed=0):
    rng = np.random.default_rng(seed)
    sig = rng.normal(size=(T, N))
    sig[rng.random((T, N)) < 0.05] = np.nan
    r = rng.normal(0, 0.01, (T, N))
    r[rng.random((T, N)) < 0.05] = np.nan
    industry = rng.integers(0, G, (T, N)) * 10 + 100  # codes 100, 110, ...: labels, not sizes
    cap = np.exp(rng.normal(0, 1, (T, N)))
    return sig, r, industry, cap


def test_quantile_buckets_follow_pandas_qcut_for_every_size():
    for Q in (2, 3, 5, 10):
        for M in range(Q, 80):
            ours = quantile_buckets(np.arange(M), np.full(M, M), Q)
            np.testing.assert_array_equal(ours, pd.qcut(np.linspace(-1.3, 2.7, M), Q, labels=False))
            counts = np.bincount(ours, minlength=Q)
            assert counts.min() >= 1 and counts.max() - counts.min() <= 1


def test_quantile_books_match_alphalens_quantize_factor():
    pytest.importorskip("alphalens")
    from alphalens.utils import quantize_factor

    sig, r, _, _ = _case()
    env = _Env(r)
    rows = np.arange(0, 30, 3)
    q = ff.strategies.Quantile(sig, 5)
    w = q._targets(env, rows)
    assert q.book_names == ["Q1", "Q2", "Q3", "Q4", "Q5", "long_short"]
    for k, t in enumerate(rows):
        ok = np.isfinite(sig[t]) & np.isfinite(r[t])
        idx = pd.MultiIndex.from_product([[pd.Timestamp("2020-01-01")], np.flatnonzero(ok)], names=["date", "asset"])
        fd = pd.DataFrame({"factor": sig[t, ok]}, index=idx)
        expect = quantize_factor(fd, quantiles=5).to_numpy() - 1
        got = np.argmax(w[:5, k][:, ok] > 0, axis=0)
        np.testing.assert_array_equal(got, expect)
        for b in range(5):
            n = int((expect == b).sum())
            np.testing.assert_allclose(w[b, k][ok][expect == b], 1 / n, rtol=1e-15)
            assert w[b, k].sum() == pytest.approx(1.0, rel=1e-14)
        assert np.all(w[:, k][:, ~ok] == 0)  # untradeable or without signal: never a target
        ls = w[5, k]
        np.testing.assert_allclose(ls, 0.5 * w[4, k] - 0.5 * w[0, k], rtol=1e-15)
        assert ls.sum() == pytest.approx(0.0, abs=1e-15) and np.abs(ls).sum() == pytest.approx(1.0, rel=1e-14)


def test_seed003_industry_weighting():
    pytest.importorskip("alphalens")
    from alphalens.utils import quantize_factor

    sig, r, industry, cap = _case(N=120, G=5, seed=1)
    env = _Env(r)
    rows = np.arange(0, 30, 5)
    codes = np.unique(industry)
    for weights in ("equal", "cap", {"110": 3.0, "100": 1.0, "120": 0.0, "130": 2.0, "140": 4.0}):
        q = ff.strategies.Quantile(sig, 3, industry=industry, industry_weights=weights, cap=cap, reverse=True)
        w = q._targets(env, rows)
        for k, t in enumerate(rows):
            ok = np.isfinite(sig[t]) & np.isfinite(r[t])
            if weights == "equal":
                W = np.ones(len(codes))
            elif weights == "cap":
                W = np.array([cap[t, ok & (industry[t] == c)].sum() for c in codes])
            else:
                W = np.array([weights[str(c)] for c in codes])
            W = W / W.sum()
            idx = pd.MultiIndex.from_product([[pd.Timestamp("2020-01-01")], np.flatnonzero(ok)], names=["date", "asset"])
            fd = pd.DataFrame({"factor": sig[t, ok], "group": industry[t, ok]}, index=idx)
            expect = quantize_factor(fd, quantiles=3, by_group=True).to_numpy() - 1
            for b in range(3):
                got_members = w[b, k][ok] > 0
                want_members = (expect == b) & (W[np.searchsorted(codes, industry[t, ok])] > 0)
                np.testing.assert_array_equal(got_members, want_members)
                for g, c in enumerate(codes):
                    # each industry carries its set weight in every quantile book
                    assert w[b, k][industry[t] == c].sum() == pytest.approx(W[g], rel=1e-13, abs=1e-15)
            for g, c in enumerate(codes):
                inside = industry[t] == c
                assert w[3, k][inside].sum() == pytest.approx(0.0, abs=1e-15)  # industry-neutral
                assert np.abs(w[3, k][inside]).sum() == pytest.approx(W[g], rel=1e-13, abs=1e-15)
            np.testing.assert_array_equal(w[4, k], -w[3, k])  # short_long is the reverse


def test_cap_weights_within_buckets():
    sig, r, _, cap = _case(seed=2)
    env = _Env(r)
    w = ff.strategies.Quantile(sig, 4, cap=cap, weighting="cap", long_short=False)._targets(env, np.array([7]))
    top = w[3, 0] > 0
    np.testing.assert_allclose(w[3, 0][top], cap[7, top] / cap[7, top].sum(), rtol=1e-14)


def test_signal_weighted_matches_alphalens_factor_weights():
    pytest.importorskip("alphalens")
    from alphalens.performance import factor_weights

    sig, r, industry, _ = _case(N=50, seed=3)
    env = _Env(r)
    rows = np.array([2, 9, 20])
    for demean, group in ((True, False), (False, False), (True, True)):
        s = ff.strategies.SignalWeighted(sig, demean=demean, industry=industry if group else None)
        w = s._targets(env, rows)[0]
        for k, t in enumerate(rows):
            ok = np.isfinite(sig[t]) & np.isfinite(r[t])
            idx = pd.MultiIndex.from_product([[pd.Timestamp("2020-01-01")], np.flatnonzero(ok)], names=["date", "asset"])
            fd = pd.DataFrame({"factor": sig[t, ok], "group": industry[t, ok]}, index=idx)
            expect = factor_weights(fd, demeaned=demean, group_adjust=group).to_numpy()
            np.testing.assert_allclose(w[k, ok], expect, rtol=1e-12, atol=1e-15)
            assert np.all(w[k, ~ok] == 0)



@pytest.mark.parametrize("value", [0.1, 1.1035213301, -1.3478837634])
def test_signal_weighted_leaves_out_an_industry_without_dispersion(value):
    # "Industries whose x is all zero are left out that date": an industry whose signal is one
    # value has x = 0, but the mean of equal values, summed then divided, can be 1 ulp off
    # (3 × 0.1 / 3 is not 0.1), and the division by the gross blew that up to full weights: the
    # industry held all short (-1/6 each) in the industry-neutral long-short book, which then had
    # a net of -0.5; and a date whose whole signal is one value got a long-only book of 1/6 each.
    sig = np.array([[1.0, 2.0, 3.0, value, value, value]] * 3)
    r = np.full((3, 6), 0.01)
    industry = np.array([[0, 0, 0, 1, 1, 1]] * 3)
    env = _Env(r)
    w = ff.strategies.SignalWeighted(sig, industry=industry)._targets(env, np.array([1]))[0, 0]
    np.testing.assert_array_equal(w[3:], 0.0)
    np.testing.assert_allclose(w[:3], [-0.5, 0.0, 0.5], rtol=1e-15)
    flat = ff.strategies.SignalWeighted(np.full((3, 6), value))._targets(env, np.array([1]))[0, 0]
    np.testing.assert_array_equal(flat, 0.0)

def test_topn_is_seed002s_selection():
    panel = ff.datasets.synthetic_universe(n_assets=150, n_days=320, seed=4)
    sel = ff.momentum_selection(panel, window=126, skip=21, min_dollar_volume=5e6, percentile=0.1)
    mom = ff.descriptors.momentum(panel["returns"], 126, 21, 0.8)
    adv = ff.rolling_mean(panel["dollar_volume"], 126, min_periods=int(np.ceil(0.8 * 126)))
    # everything eligible in the selection is also tradable here (the same rows, returns as the
    # tradable test): restrict the selection's eligibility the same way for the comparison
    rows = sel.rebalance
    env = _Env(panel["returns"])
    tradable = env.tradable_rows(rows)
    top = ff.strategies.TopN(mom, fraction=0.1, long_short=True, universe=np.nan_to_num(adv) > 5e6)
    w = top._targets(env, rows)[0]
    for k in range(len(rows)):
        e = sel.eligible[k] & tradable[k]
        M = int(e.sum())
        n = int(np.floor(M * 0.1))
        order = np.argsort(np.where(e, sel.momentum[k], np.inf), kind="stable")
        long = np.zeros(150, bool)
        long[order[M - n:M]] = True
        short = np.zeros(150, bool)
        short[order[:n]] = True
        expect = np.where(long, 0.5 / max(n, 1), 0.0) - np.where(short, 0.5 / max(n, 1), 0.0)
        np.testing.assert_allclose(w[k], expect, rtol=1e-15)
        if np.array_equal(e, sel.eligible[k]):  # nothing untradeable: exactly the selection
            np.testing.assert_array_equal(w[k] > 0, sel.long[k])
            np.testing.assert_array_equal(w[k] < 0, sel.short[k])


def test_topn_long_only_and_small_universes():
    sig = np.array([[3.0, 1.0, 2.0, 2.0, np.nan]])
    env = _Env(np.zeros((1, 5)))
    w = ff.strategies.TopN(sig, 2)._targets(env, np.array([0]))[0, 0]
    np.testing.assert_allclose(w, [0.5, 0, 0, 0.5, 0])  # ties: the later asset ranks higher
    w = ff.strategies.TopN(sig, 9)._targets(env, np.array([0]))[0, 0]
    np.testing.assert_allclose(w, [0.25, 0.25, 0.25, 0.25, 0])  # n capped at the 4 eligible
    w = ff.strategies.TopN(sig, 3, long_short=True)._targets(env, np.array([0]))[0, 0]
    np.testing.assert_allclose(w, [0.25, -0.25, -0.25, 0.25, 0])  # n capped at floor(4/2)
    w = ff.strategies.Quantile(sig, 5)._targets(env, np.array([0]))
    assert not w.any()  # 4 eligible assets cannot make 5 quantiles


def test_strategies_run_in_a_backtest():
    sig, r, industry, cap = _case(T=60, N=40, seed=5)
    res = ff.backtest_many(r, {"q": ff.strategies.Quantile(sig, 4, books=["long_short", "Q4"]),
                               "sw": ff.strategies.SignalWeighted(sig, industry=industry)}, rebalance=10)
    assert res.books == ["q:long_short", "q:Q4", "sw"]
    assert np.all(res["q:Q4"].cash >= 0)


def test_pandas_frames_keep_their_labels():
    """A pandas DataFrame (DatetimeIndex × tickers) as signal, cap or universe keeps its labels,
    as a Polars frame does: matched with each other and with the backtest's returns; a signal
    with its columns reversed was traded by position (each asset on another's signal)."""
    sig, r, _, cap = _case(T=60, N=40, seed=5)
    dates = np.arange("2024-01-01", 60, dtype="datetime64[D]")
    names = [f"A{j:02d}" for j in range(40)]

    def pdf(x, cols=names, d=dates):
        return pd.DataFrame(x, index=pd.DatetimeIndex(d), columns=cols)

    rf = pdf(r)
    ref = ff.backtest(r, ff.strategies.Quantile(sig, 4, cap=cap, weighting="cap", books=["long_short"]), rebalance=10)
    got = ff.backtest(rf, ff.strategies.Quantile(pdf(sig), 4, cap=pdf(cap), weighting="cap", books=["long_short"]), rebalance=10)
    np.testing.assert_array_equal(got.value, ref.value)
    with pytest.raises(ValueError, match="^signal and returns have different assets: position 0 is A39"):
        ff.backtest(rf, ff.strategies.Quantile(pdf(sig[:, ::-1], names[::-1]), 4, books=["long_short"]), rebalance=10)
    with pytest.raises(ValueError, match="^cap and signal have different assets"):
        ff.strategies.Quantile(pdf(sig), 4, cap=pdf(cap[:, ::-1], names[::-1]), weighting="cap")
    with pytest.raises(ValueError, match="^universe and signal have different dates"):
        ff.strategies.Quantile(pdf(sig), 4, universe=pdf(np.isfinite(sig), d=dates + 1))


def test_industry_weights_as_a_pandas_series_are_read_by_industry_label():
    # a Series indexed by industry was read by position, in the sorted order of the codes: the
    # weights of {"110": 3, "100": 1, ...} landed on 100, 110, ...
    sig, r, industry, cap = _case(N=120, G=5, seed=1)
    env = _Env(r)
    rows = np.arange(0, 30, 5)
    weights = {"110": 3.0, "100": 1.0, "120": 0.0, "130": 2.0, "140": 4.0}
    want = ff.strategies.Quantile(sig, 3, industry=industry, industry_weights=weights)._targets(env, rows)
    for series in (pd.Series(weights), pd.Series(list(weights.values()), index=[int(k) for k in weights])):
        got = ff.strategies.Quantile(sig, 3, industry=industry, industry_weights=series)._targets(env, rows)
        np.testing.assert_array_equal(got, want)
    # the default index 0..G-1: positions in the sorted order of the codes, like an array
    arr = np.array([weights[k] for k in sorted(weights)])
    np.testing.assert_array_equal(
        ff.strategies.Quantile(sig, 3, industry=industry, industry_weights=pd.Series(arr))._targets(env, rows), want)
    with pytest.raises(ValueError, match=r"^industry_weights \(a pandas Series\) has the industry '100' twice"):
        ff.strategies.Quantile(sig, 3, industry=industry, industry_weights=pd.Series([1.0, 2.0], index=["100", "100"]))


def test_bad_arguments():
    sig, r, industry, cap = _case()
    with pytest.raises(ValueError, match="quantiles must be >= 2"):
        ff.strategies.Quantile(sig, 1)
    with pytest.raises(ValueError, match="weighting"):
        ff.strategies.Quantile(sig, weighting="value")
    with pytest.raises(ValueError, match="cap is required"):
        ff.strategies.Quantile(sig, weighting="cap")
    with pytest.raises(ValueError, match="industry_weights"):
        ff.strategies.Quantile(sig, industry_weights=np.ones(3))
    with pytest.raises(ValueError, match="industry_weights has shape"):
        ff.strategies.Quantile(sig, industry=industry, industry_weights=np.ones(3))
    with pytest.raises(ValueError, match="not in industry"):
        ff.strategies.Quantile(sig, industry=industry, industry_weights={"999": 1.0})
    with pytest.raises(ValueError, match="unknown books"):
        ff.strategies.Quantile(sig, 4, books=["Q5"])
    with pytest.raises(ValueError, match="infinite"):
        ff.strategies.Quantile(np.full((3, 3), np.inf))
    with pytest.raises(ValueError, match="exactly one of n and fraction"):
        ff.strategies.TopN(sig)
    with pytest.raises(ValueError, match="fraction must be <= 0.5"):
        ff.strategies.TopN(sig, fraction=0.6, long_short=True)
    with pytest.raises(ValueError, match="universe has shape"):
        ff.strategies.TopN(sig, 3, universe=np.ones((2, 2), bool))
    with pytest.raises(ValueError, match="signal has shape"):
        ff.backtest(np.zeros((5, 3)), ff.strategies.TopN(sig, 3), rebalance=1)


def test_labelled_industry_universe_cap_frames_are_matched_by_label_not_position():
    """An industry frame (pandas, dates × assets) carries its labels like the signal, universe
    and cap: columns in another order are refused, never paired by position (which built the
    industry books from the wrong assets' industries); and with an unlabelled signal the
    labelled partner's labels are checked against the returns'."""
    rng = np.random.default_rng(3)
    T, N = 30, 8
    dates = pd.bdate_range("2024-01-01", periods=T)
    assets = [f"A{i}" for i in range(N)]
    returns = pd.DataFrame(rng.normal(0, 0.01, (T, N)), index=dates, columns=assets)
    sig = pd.DataFrame(rng.normal(size=(T, N)), index=dates, columns=assets)
    ind = pd.DataFrame(rng.integers(0, 2, (T, N)), index=dates, columns=assets)
    with pytest.raises(ValueError, match="industry and signal have different assets"):
        ff.strategies.Quantile(sig, 2, industry=ind[assets[::-1]])
    with pytest.raises(ValueError, match="industry and signal have different dates"):
        ff.strategies.SignalWeighted(sig, industry=ind.set_axis(dates + pd.Timedelta(days=1), axis=0))
    # the same frame in the signal's order is accepted and gives the by-position result
    ok = ff.backtest_many(returns, ff.strategies.Quantile(sig, 2, industry=ind), rebalance=5, cost_bps=0)
    ref = ff.backtest_many(returns, ff.strategies.Quantile(sig, 2, industry=ind.to_numpy()), rebalance=5,
                           cost_bps=0)
    np.testing.assert_array_equal(ok.value, ref.value)
    # an unlabelled signal: the labelled universe / industry must match the returns' labels
    universe = pd.DataFrame(np.ones((T, N), bool), index=dates, columns=assets[::-1])
    with pytest.raises(ValueError, match="universe and returns have different assets"):
        ff.backtest_many(returns, ff.strategies.Quantile(sig.to_numpy(), 2, universe=universe), rebalance=5)
    with pytest.raises(ValueError, match="industry and returns have different assets"):
        ff.backtest_many(returns, ff.strategies.Quantile(sig.to_numpy(), 2, industry=ind[assets[::-1]]),
                         rebalance=5)


def test_industry_weights_cap_without_industry_is_refused():
    """industry_weights="cap" weights industries; without industry codes it weighted nothing and
    only dropped the assets without a cap from equal-weighted books (silently another universe)."""
    rng = np.random.default_rng(0)
    sig = rng.normal(size=(20, 12))
    cap = np.exp(rng.normal(size=(20, 12)))
    cap[:, :4] = np.nan
    for make in (lambda **k: ff.strategies.Quantile(sig, 3, **k), lambda **k: ff.strategies.SignalWeighted(sig, **k)):
        with pytest.raises(ValueError, match="industry_weights='cap'.*industry="):
            make(industry_weights="cap", cap=cap)
        make(industry_weights="cap", cap=cap, industry=np.zeros((20, 12), dtype=int))  # with industries: fine


def test_book_names_and_books_are_checked():
    """name=None is the default book name (as for TopN), not the book "None"; a name that is
    not a string or is empty, and an empty books list, are refused naming the argument (an
    empty books list used to fail later as "strategies is empty")."""
    sig = np.random.default_rng(0).normal(size=(10, 6))
    assert ff.strategies.SignalWeighted(sig, name=None).book_names == ["signal_weighted"]
    assert ff.strategies.Optimized(sig, name=None).book_names == ["optimized"]
    assert ff.strategies.TopN(sig, 2, name="best").book_names == ["best"]
    for make in (lambda nm: ff.strategies.SignalWeighted(sig, name=nm), lambda nm: ff.strategies.TopN(sig, 2, name=nm),
                 lambda nm: ff.strategies.Optimized(sig, name=nm)):
        with pytest.raises(TypeError, match="name must be a string"):
            make(3)
        with pytest.raises(ValueError, match="name must not be empty"):
            make("")
    with pytest.raises(ValueError, match="books is empty"):
        ff.strategies.Quantile(sig, 2, books=[])
