"""ferrofactor.dask: the pipeline on date-chunked Dask arrays, on a LocalCluster of 2 processes.

The oracle is the in-memory path (itself tested against ff.baseline, statsmodels, linearmodels,
pandas): every Dask result must equal it to the last bit (``assert_array_equal``, NaN in the
same places). The panels have ragged listings (late listings, delistings, suspensions), an
all-NaN date, and date blocks of uneven lengths (1 to 200 dates) whose edges cut through every
window: 21, 42, 105, 231, 252 and 600 dates (the last above the kernels' 512-row re-anchoring
interval).
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import polars as pl
import pytest

import ferrofactor as ff

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
ffd = ff.dask

T, N = 620, 48
CHUNKS = (90, 1, 160, 37, 200, 132)  # edges at 90, 91, 251, 288, 488
NAN_DATE = 300  # every field of every asset missing on this date
EQ = np.testing.assert_array_equal


def _panel(seed: int = 5) -> ff.Panel:
    p = ff.datasets.synthetic_universe(n_assets=N, n_days=T, n_industries=6, seed=seed)
    fields = {}
    for k in p.float_fields:
        a = p[k].copy()
        a[NAN_DATE] = np.nan
        fields[k] = a
    fields["returns"][NAN_DATE + 1] = np.nan  # no price the day before
    return p.with_fields(fields)


P = _panel()


@pytest.fixture(scope="module", autouse=True)
def client():
    """Every test of this module runs on 2 worker processes (1 thread each).

    The scheduler's HTTP server starts even with ``dashboard_address=None`` (on 8787, with a
    warning when another cluster holds that port); ``":0"`` takes a free port instead.
    """
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                  dashboard_address=":0") as cluster, distributed.Client(cluster) as c:
        yield c


@pytest.fixture(scope="module")
def dpanel():
    return ffd.DaskPanel.from_panel(P, chunks=CHUNKS)


def test_float_industry_codes_are_integral_or_refused():
    """As ff.Panel: integral floats (codes read from a CSV) are codes; 1.5 or NaN is refused
    naming the field (a cast truncated 1.5 to 1, and NaN to -2147483648), for numpy input at once
    and for a dask array at compute()."""
    dates = np.arange("2024-01-01", "2024-01-05", dtype="datetime64[D]")
    labels = ["x", "y", "z"]
    ok = ffd.DaskPanel(dates, ["A", "B", "C"], {"returns": np.zeros((4, 3))},
                       {"industry": (np.array([[0.0, 1.0, 2.0]] * 4), labels)})
    assert ok["industry"].dtype == np.int32
    EQ(ok.compute()["industry"], np.array([[0, 1, 2]] * 4))
    for bad, shown in ((1.5, "1.5"), (np.nan, "nan")):
        codes = np.array([[0.0, 1.0, bad]] * 4)
        with pytest.raises(TypeError, match=rf"code field 'industry' must be an integer code array, got dtype "
                                            rf"float64 with non-integer values \(e.g. {shown}\)"):
            ffd.DaskPanel(dates, ["A", "B", "C"], {"returns": np.zeros((4, 3))}, {"industry": (codes, labels)})
        lazy = ffd.DaskPanel(dates, ["A", "B", "C"], {"returns": np.zeros((4, 3))},
                             {"industry": (da.from_array(codes, chunks=(2, 3)), labels)})
        with pytest.raises(TypeError, match="non-integer values"):
            lazy.compute()


def test_code_fields_are_checked_as_in_memory():
    """DaskPanel code fields are checked as ff.Panel checks them (codes >= -1, fitting in int32,
    a label each), for numpy input at once and for a dask array when computed; an int64 code of
    2^32 + 1 was cast to int32 as label 1 ('y') with no error, -5 or a code past the labels
    failed later in another function's words."""
    dates = np.arange("2024-01-01", "2024-01-05", dtype="datetime64[D]")
    labels = ["x", "y", "z"]
    for bad, msg in ((2**32 + 1, "codes must fit in int32, got maximum 4294967297"),
                     (-5, r"codes must be >= -1 \(-1 = none\), got minimum -5"),
                     (5, "has code 5 but only 3 labels")):
        codes = np.array([[0, 1, bad]] * 4, dtype=np.int64)
        with pytest.raises(ValueError, match="^code field 'industry' " + msg):
            ff.Panel(dates, ["A", "B", "C"], codes={"industry": (codes, labels)})
        with pytest.raises(ValueError, match="^code field 'industry' " + msg):
            ffd.DaskPanel(dates, ["A", "B", "C"], codes={"industry": (codes, labels)})
        lazy = ffd.DaskPanel(dates, ["A", "B", "C"], codes={"industry": (da.from_array(codes, chunks=(2, 3)), labels)})
        with pytest.raises(ValueError, match="^code field 'industry' " + msg):
            lazy.compute()


def test_float_industry_codes_beyond_int32_are_labels_as_in_memory():
    """Integral float codes (read from a CSV) are read as int64, as in memory: 10-digit codes
    were cast to int32 (-2^31, 'industry codes must be >= -1 ... got minimum -2147483648')."""
    rng = np.random.default_rng(0)
    r = rng.normal(0, 0.02, (40, 30))
    g = rng.choice([4510301010, 4510301011, 10], (40, 30)).astype(float)
    sty = rng.normal(size=(40, 30, 1))
    mem = ff.cross_section_regress(r, sty, g, cap=np.ones((40, 30)))
    for codes in (g, da.from_array(g, chunks=(10, -1))):
        got = ffd.cross_section_regress(da.from_array(r, chunks=(10, -1)), sty, codes, cap=np.ones((40, 30))).compute()
        assert got.factor_names == mem.factor_names == ["market", "10", "4510301010", "4510301011", "style_0"]
        EQ(got.factor_returns, mem.factor_returns)
    with pytest.raises(ValueError, match="industry holds integral codes as large as 1e\\+19"):
        ffd.cross_section_regress(da.from_array(r, chunks=(10, -1)), sty, np.full((40, 30), 1e19))


def test_regression_refuses_infinite_returns_when_computed():
    """As in memory: an infinite return (or style) is refused, naming it, when the lazy result is
    computed (it was dropped quietly as a missing value), in cross_section_regress and FactorModel."""
    rng = np.random.default_rng(0)
    r = rng.normal(0, 0.02, (40, 30))
    sty = rng.normal(size=(40, 30, 1))
    r[25, 3] = np.inf
    lazy = ffd.cross_section_regress(da.from_array(r, chunks=(10, -1)), sty, market=False)
    with pytest.raises(ValueError, match=r"returns must not contain infinite values \(1 found"):
        lazy.compute()
    ex = ff.Exposures(sty, market=False)
    with pytest.raises(ValueError, match=r"returns must not contain infinite values \(1 found"):
        ff.FactorModel(market=False, industry_constraint=None, weights="equal").fit(
            da.from_array(r, chunks=(10, -1)), ex).factor_returns.compute()
    sty[25, 3, 0], r[25, 3] = -np.inf, 0.0
    with pytest.raises(ValueError, match=r"styles must not contain infinite values \(1 found"):
        ffd.cross_section_regress(da.from_array(r, chunks=(10, -1)), sty, market=False).compute()


def test_regression_refuses_bad_weights_and_cap_in_the_last_lag_rows():
    """As in memory: a negative or infinite weight or cap in the last `lag` rows (which no
    block's kernel reads) is refused when computed, as with lag=0 (it passed with lag >= 1)."""
    rng = np.random.default_rng(0)
    r = rng.normal(0, 0.02, (40, 30))
    sty = rng.normal(size=(40, 30, 1))
    g = rng.integers(0, 3, (40, 30))
    cap = np.exp(rng.normal(8, 1, (40, 30)))
    for name in ("weights", "cap"):
        for value, msg in ((-1.0, "must be non-negative"), (np.inf, "must not contain infinite")):
            kw = {"weights": np.ones((40, 30)), "cap": cap.copy()}
            kw[name][-1, 3] = value
            kw = {k: da.from_array(v, chunks=(10, -1)) for k, v in kw.items()}
            for lag in (0, 2):
                with pytest.raises(ValueError, match=f"{name} {msg}"):
                    ffd.cross_section_regress(da.from_array(r, chunks=(10, -1)), sty, g, lag=lag,
                                              **kw).compute()


def test_rolling_beta_and_market_return_refuse_infinite_returns_when_computed():
    """As in memory (the blocks run the in-memory kernels): an infinite return or cap is refused
    when the lazy result is computed, not skipped as missing."""
    rng = np.random.default_rng(1)
    r = rng.normal(0, 0.02, (60, 12))
    cap = np.exp(rng.normal(size=(60, 12)))
    bad = r.copy()
    bad[33, 4] = np.inf
    beta, _ = ffd.rolling_beta(da.from_array(bad, chunks=(20, -1)), r.mean(axis=1), 10)
    with pytest.raises(ValueError, match=r"returns must not contain infinite values \(1 found"):
        beta.compute()
    with pytest.raises(ValueError, match=r"returns must not contain infinite values \(1 found"):
        ffd.market_return(da.from_array(bad, chunks=(20, -1)), cap).compute()
    cap[45, 1] = np.inf
    with pytest.raises(ValueError, match=r"cap must not contain infinite values \(1 found"):
        ffd.market_return(da.from_array(r, chunks=(20, -1)), cap).compute()


def test_specific_variance_refuses_infinite_residuals_and_caps_when_computed():
    """As RiskModel.from_arrays in memory: an infinite residual was skipped as missing and an
    infinite (or negative) cap accepted, both silently moving the specific variances."""
    rng = np.random.default_rng(0)
    T, N = 120, 20
    e = rng.normal(0, 0.02, (T, N))
    cap = np.exp(rng.normal(size=(T, N)))
    sty, ind = rng.normal(size=(T, N, 2)), rng.integers(0, 3, (T, N)).astype(np.int32)
    dex = ffd.DaskExposures(da.from_array(sty, chunks=(40, -1, -1)), da.from_array(ind, chunks=(40, -1)),
                            ["a", "b"], ["0", "1", "2"], True, None, None)
    settings = {"specific_min_periods": 20, "specific_half_life": 30}
    ffd.specific_variance(da.from_array(e, chunks=(40, -1)), dex, cap, settings)[0].compute()
    bad = e.copy()
    bad[70, 4] = np.inf
    with pytest.raises(ValueError, match=r"residuals must not contain infinite values \(1 found"):
        ffd.specific_variance(da.from_array(bad, chunks=(40, -1)), dex, cap, settings)[0].compute()
    for v, what in ((np.inf, "infinite"), (-1.0, "non-negative")):
        badc = cap.copy()
        badc[70, 4] = v
        with pytest.raises(ValueError, match=f"cap must .*{what}"):
            ffd.specific_variance(da.from_array(e, chunks=(40, -1)), dex, badc, settings)[0].compute()


def test_descriptors_refuse_infinite_returns_and_caps_when_computed():
    """As in memory, whichever descriptors are asked for: volatility alone skipped an infinite
    return as missing, and with a market given an infinite cap was masked as 'unlisted'."""
    panel = ff.datasets.synthetic_universe(n_assets=20, n_days=120, seed=4)
    for field in ("returns", "market_cap"):
        fields = {k: np.array(panel[k]) for k in ("returns", "market_cap")}
        fields[field][70, 3] = np.inf
        dp = ffd.DaskPanel.from_panel(ff.Panel(panel.dates, panel.assets, fields), chunks=40)
        lazy = ffd.compute_descriptors(dp, window=20, market=np.zeros(120) + 0.001 * np.arange(120) % 0.01,
                                       names=["volatility", "log_market_cap"])
        with pytest.raises(ValueError, match=f"{field} must not contain infinite values \\(1 found"):
            dask.compute(*[lazy[k] for k in lazy.float_fields])


def test_core_does_not_import_dask():
    code = "import sys, ferrofactor as ff; ff.FactorModel(); assert 'dask' not in sys.modules, sorted(m for m in sys.modules if 'dask' in m)"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_panel_blocks_hold_whole_cross_sections(dpanel):
    assert dpanel.chunks == CHUNKS and dpanel.shape == (T, N)
    assert dpanel["returns"].chunks == (CHUNKS, (N,))
    assert dpanel["industry"].dtype == np.int32
    back = dpanel.compute()
    assert back.fields == P.fields
    for k in P.fields:
        EQ(back[k], P[k])
    EQ(back.labels("industry"), P.labels("industry"))
    re = dpanel.rechunk(100)
    assert re.chunks == (100,) * 6 + (20,)
    EQ(re.persist()["close"].compute(), P["close"])
    # arrays whose blocks split the assets are rechunked to whole cross-sections
    x = da.from_array(P["returns"], chunks=(50, 7))
    EQ(ffd.rank(x).compute(), ff.rank(P["returns"]))


# --- reading a partitioned dataset ---------------------------------------------------------------
@pytest.fixture(scope="module")
def hive(tmp_path_factory):
    d = tmp_path_factory.mktemp("hive")
    paths = ff.datasets.write_sample(d, panel=ff.datasets.synthetic_universe(n_assets=40, n_days=560, seed=2))
    prices = pl.read_parquet(paths["prices"]).with_columns(pl.col("date").dt.year().alias("year"))
    root = d / "prices"
    for (y,), g in prices.group_by(["year"]):
        os.makedirs(root / f"year={y}")
        # two files per year, rows split by asset
        g = g.drop("year").sort("asset", "date")
        h = g.height // 2
        g[:h].write_parquet(root / f"year={y}" / "part-0.parquet")
        g[h:].write_parquet(root / f"year={y}" / "part-1.parquet")
    return root, paths


def test_read_universe_partitioned_equals_in_memory(hive):
    root, paths = hive
    mem = ff.read_universe(str(root / "**" / "*.parquet"), paths["fundamentals"], paths["classifications"])
    lazy = ffd.read_universe(root, paths["fundamentals"], pl.read_parquet(paths["classifications"]), chunks=45)
    assert lazy.chunks == (45,) * 12 + (20,)
    assert all(lazy[f].chunks == (lazy.chunks, (40,)) for f in lazy.fields)
    got = lazy.compute()
    assert got.fields == mem.fields  # prices, derived fields, fundamentals, industry; no 'year'
    EQ(got.dates, mem.dates)
    EQ(got.assets, mem.assets)
    for f in mem.fields:
        EQ(got[f], mem[f], err_msg=f)
    EQ(got.labels("industry"), mem.labels("industry"))
    # a block's first returns need the close of the date before (in the previous block)
    assert np.isfinite(got["returns"][45]).any()
    # the same path argument works in memory: a directory is the same files, hive keys no fields
    for source in (root, str(root) + "/"):
        assert ff.read_universe(source, paths["fundamentals"], paths["classifications"]).equals(mem)


def test_read_universe_csv_codes_with_leading_zeros_equal_in_memory(hive, tmp_path):
    """Classifications in a CSV: the codes are text in every block and in the labels of the
    whole source (0100 and 100 two industries), as ff.read_universe reads them."""
    root, paths = hive
    cls = pl.read_parquet(paths["classifications"])
    codes = sorted(set(cls["industry"].drop_nulls().to_list()))
    spelled = {c: ("0" if i % 2 else "") + str(100 + i) for i, c in enumerate(codes)}
    assert spelled[codes[1]] == "0101"
    spelled[codes[-1]] = "101"  # beside '0101': two industries
    cls = cls.with_columns(pl.col("industry").replace(spelled))
    cls.write_csv(tmp_path / "cls.csv")
    mem = ff.read_universe(str(root / "**" / "*.parquet"), paths["fundamentals"], str(tmp_path / "cls.csv"))
    got = ffd.read_universe(root, paths["fundamentals"], str(tmp_path / "cls.csv"), chunks=200).compute()
    assert mem.labels("industry").tolist() == sorted(set(spelled.values()))
    EQ(got.labels("industry"), mem.labels("industry"))
    EQ(got["industry"], mem["industry"])


def test_read_universe_null_values_equal_in_memory(hive, tmp_path):
    """Fundamentals and classifications in CSV files with missing values written NA (R's
    write.csv): null_values reads them as missing in every block and in the labels of the whole
    source, as ff.read_universe does (no industry named "NA")."""
    root, paths = hive
    cls = pl.read_parquet(paths["classifications"])
    cls = cls.with_columns(pl.when(pl.int_range(pl.len()) % 3 == 0).then(None).otherwise(pl.col("industry"))
                           .alias("industry"))
    cls.write_csv(tmp_path / "cls.csv", null_value="NA")
    fund = pl.read_parquet(paths["fundamentals"])
    fund = fund.with_columns(pl.when(pl.int_range(pl.len()) % 5 == 0).then(None).otherwise(pl.col("book_value"))
                             .alias("book_value"))
    fund.write_csv(tmp_path / "fund.csv", null_value="NA")
    mem = ff.read_universe(str(root / "**" / "*.parquet"), str(tmp_path / "fund.csv"), str(tmp_path / "cls.csv"),
                           null_values="NA")
    got = ffd.read_universe(root, str(tmp_path / "fund.csv"), str(tmp_path / "cls.csv"), chunks=200,
                            null_values=["NA"]).compute()
    assert "NA" not in mem.labels("industry").tolist()
    EQ(got.labels("industry"), mem.labels("industry"))
    assert got.fields == mem.fields and "book_value" in got.fields
    for f in mem.fields:
        EQ(got[f], mem[f], err_msg=f)
    # the same values as the frames with nulls, read in memory
    want = ff.read_universe(str(root / "**" / "*.parquet"), fund, cls)
    assert mem.equals(want)
    with pytest.raises(TypeError, match="null_values must be a str or a sequence of str"):
        ffd.read_universe(root, null_values=1)


def test_read_universe_errors(hive, tmp_path):
    root, paths = hive
    with pytest.raises(FileNotFoundError, match="no Parquet file"):
        ffd.read_universe(tmp_path / "nothing" / "*.parquet")
    with pytest.raises(TypeError, match="SQL connections cannot be sent"):
        ffd.read_universe(root, ("select * from f", object()))
    with pytest.raises(ValueError, match="missing columns"):
        ffd.read_universe(root, date="day")
    with pytest.raises(ValueError, match="chunks must sum"):
        ffd.read_universe(root, chunks=(10, 10))


# --- cross-sectional kernels --------------------------------------------------------------------
RNG = np.random.default_rng(11)
GICS = np.where(RNG.random((T, N)) < 0.05, -1, RNG.choice([10101010, 15102010, 40101015, 45103010], (T, N)))
GICS[:200, :4] = 25501010  # an industry that leaves after date 200 (absent from later blocks)
WEIGHTS = np.abs(RNG.normal(size=(T, N)))
CONTROLS = RNG.normal(size=(T, N, 2))


@pytest.mark.parametrize("call", [
    lambda m, x: m.winsorize(x, "sigma", 2.0, weights=WEIGHTS, industry=GICS),
    lambda m, x: m.winsorize(x, "quantile", 0.05),
    lambda m, x: m.winsorize(x, "mad", 2.5, industry=GICS),
    lambda m, x: m.standardize(x, WEIGHTS, GICS, winsorize="mad", limit=3.0),
    lambda m, x: m.standardize(x),
    lambda m, x: m.rank(x, gaussian=True),
    lambda m, x: m.neutralize(x, CONTROLS, GICS, WEIGHTS),
    lambda m, x: m.neutralize(x, industry=GICS),
], ids=["winsor-sigma", "winsor-quantile", "winsor-mad", "standardize-fused", "standardize", "rank", "neutralize", "neutralize-industry"])
def test_cross_sectional_kernels_equal(call, dpanel):
    x = dpanel["returns"]
    got = call(ffd, x)
    assert isinstance(got, da.Array) and got.chunks == x.chunks
    EQ(got.compute(), call(ff, P["returns"]))


def test_cross_section_regress_equal_with_gics_codes_and_lag(dpanel):
    sty = np.ascontiguousarray(CONTROLS)
    mem = ff.cross_section_regress(P["returns"], sty, GICS, cap=P["market_cap"], lag=2)
    lazy = ffd.cross_section_regress(dpanel["returns"], sty, GICS, cap=dpanel["market_cap"], lag=2)
    assert isinstance(lazy.factor_returns, da.Array)
    got = lazy.compute()
    assert got.factor_names == mem.factor_names
    for k in ("factor_returns", "residuals", "r2", "std_errors", "tstats", "n_obs"):
        EQ(getattr(got, k), getattr(mem, k), err_msg=k)
    assert np.all(np.isnan(got.factor_returns[:2])) and np.all(got.n_obs[:2] == 0)
    # without a market the default ("auto") leaves the industries unconstrained, as in memory
    mem = ff.cross_section_regress(P["returns"], sty, GICS, cap=P["market_cap"], market=False)
    free = ff.cross_section_regress(P["returns"], sty, GICS, cap=P["market_cap"], market=False,
                                    industry_constraint=None)
    got = ffd.cross_section_regress(dpanel["returns"], sty, GICS, cap=dpanel["market_cap"],
                                    market=False).compute()
    EQ(got.factor_returns, mem.factor_returns)
    EQ(got.factor_returns, free.factor_returns)


# --- rolling and exponentially weighted kernels ---------------------------------------------------
R = P["returns"]
M = ff.descriptors.market_return(R, P["market_cap"])


@pytest.mark.parametrize("name,args,kwargs", [
    ("rolling_sum", (21,), {"min_periods": 10}),
    ("rolling_mean", (252,), {"min_periods": 200}),
    ("rolling_mean", (600,), {"min_periods": 100}),  # window above the 512-row re-anchoring interval
    ("rolling_var", (5,), {}),
    ("rolling_std", (252,), {"min_periods": 100, "half_life": 42.0}),
    ("rolling_std", (700,), {"min_periods": 50}),  # window longer than T: whole columns
    ("ewm_mean", (10.0,), {}),  # full history: whole columns
    ("ewm_var", (30.0,), {"min_periods": 5, "window": 63}),
    ("ewm_std", (84.0,), {"window": 300}),
    ("compounded_return", (252, 21), {"min_periods": 150}),
    ("compounded_return", (600, 21), {"min_periods": 10}),
    ("compounded_return", (42, 0), {}),
    ("max_drawdown", (252,), {"min_periods": 100}),
])
def test_rolling_kernels_equal_across_block_edges(name, args, kwargs, dpanel):
    got = getattr(ffd, name)(dpanel["returns"], *args, **kwargs)
    assert got.chunks == dpanel["returns"].chunks
    want = getattr(ff, name)(R, *args, **kwargs)
    assert np.isfinite(want).sum() > 1000  # the comparison is not vacuous
    EQ(got.compute(), want)


@pytest.mark.parametrize("window,half_life", [(252, 63.0), (40, None), (600, None), (650, 20.0)])
def test_rolling_beta_equal(window, half_life, dpanel):
    b, rv = ffd.rolling_beta(dpanel["returns"], M, window, window // 3, half_life)
    wb, wrv = ff.rolling_beta(R, M, window, window // 3, half_life)
    EQ(b.compute(), wb)
    EQ(rv.compute(), wrv)


def _gappy(T: int = 160, N: int = 32, seed: int = 11) -> np.ndarray:
    """Returns-like columns and price-like ones (level 50, dispersion 0.02) with NaN runs of 1-5
    dates and unchanged values (a stale price, a zero return). Two equal values in a window of 2
    or 3 make the kernels' running variance cancel against its shift, and they re-anchor there,
    off their every-``min(window, 512)``-rows schedule."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((T, N)) * 0.02
    x[:, N // 2:] += 50.0
    stale = rng.random((T, N)) < 0.1
    for t in range(1, T):
        x[t, stale[t]] = x[t - 1, stale[t]]
    for j in range(N):
        t = int(rng.integers(0, 5))
        while t < T:
            run = int(rng.integers(1, 6))
            x[t:t + run, j] = np.nan
            t += run + int(rng.geometric(0.2))
    return x


GAPPY = _gappy()
GAPPY_MARKET = np.random.default_rng(12).standard_normal(GAPPY.shape[0]) * 0.01
GAPPY_MARKET[[7, 8, 50, 51, 52, 120]] = np.nan


@pytest.mark.parametrize("pattern", [(3,), (7,), (5, 1, 40, 2, 3)])
def test_small_windows_on_gappy_data_equal(pattern):
    # Regression: blocks started at a multiple of the re-anchoring interval differed from the
    # in-memory path in the last bits (up to ~1e-11 relative, same NaN) once the data had made
    # the kernel re-anchor off its schedule, which repeated values in windows of 2-3 do.
    T = GAPPY.shape[0]
    sizes: list[int] = []  # the pattern repeated, the last block cut at T
    while sum(sizes) < T:
        for c in pattern:
            if sum(sizes) < T:
                sizes.append(min(c, T - sum(sizes)))
    x = da.from_array(GAPPY, chunks=(tuple(sizes), -1))
    m = da.from_array(GAPPY_MARKET, chunks=(tuple(sizes),))
    calls = []
    for w in (2, 3):
        calls += [
            ("rolling_sum", (w,), {"min_periods": 1}),
            ("rolling_mean", (w,), {"min_periods": 1}),
            ("rolling_var", (w,), {"min_periods": 2}),
            ("rolling_std", (w,), {"min_periods": 2}),
            ("rolling_mean", (w,), {"min_periods": 1, "half_life": 2.0}),
            ("ewm_std", (2.0,), {"min_periods": 2, "window": w}),
            ("compounded_return", (w + 1, 1), {"min_periods": 1}),
        ]
    lazy = [getattr(ffd, name)(x, *args, **kw) for name, args, kw in calls]
    want = [getattr(ff, name)(GAPPY, *args, **kw) for name, args, kw in calls]
    labels = [f"{name}{args}{kw}" for name, args, kw in calls]
    lazy.append(ffd.rolling_beta(x, m, 2, 2)[0])  # (resid_vol needs 3 pairs)
    want.append(ff.rolling_beta(GAPPY, GAPPY_MARKET, 2, 2)[0])
    lazy.extend(ffd.rolling_beta(x, m, 3, 2))
    want.extend(ff.rolling_beta(GAPPY, GAPPY_MARKET, 3, 2))
    labels += ["beta (2,)", "beta (3,)", "resid_vol (3,)"]
    assert all(a.chunks[0] == x.chunks[0] for a in lazy)
    got = dask.compute(*lazy)
    for wnt, label in zip(want, labels, strict=True):
        assert np.isfinite(wnt).sum() > 1000, label  # not vacuous
    differ = [label for g, wnt, label in zip(got, want, labels) if not np.array_equal(g, wnt, equal_nan=True)]
    assert not differ, f"differ from the in-memory path: {differ}"


def test_market_return_reads_the_previous_date_of_cap(dpanel):
    got = ffd.market_return(dpanel["returns"], dpanel["market_cap"]).compute()
    EQ(got, M)
    assert np.isnan(got[NAN_DATE])  # no return on the all-NaN date


# --- descriptors, exposures, factor model, risk model ----------------------------------------------
def test_descriptors_equal(dpanel):
    mem = ff.compute_descriptors(P)
    lazy = ffd.compute_descriptors(dpanel)
    assert lazy.fields == mem.fields
    got = lazy.compute()
    for k in mem.fields:
        EQ(got[k], mem[k], err_msg=k)
    some = ffd.compute_descriptors(dpanel, names=["beta", "roe"], mask_unlisted=False)
    assert some.fields == ("roe", "beta")
    EQ(some["beta"].compute(), ff.compute_descriptors(P, names=["beta"], mask_unlisted=False)["beta"])
    with pytest.raises(ValueError, match="unknown descriptor"):
        ffd.compute_descriptors(dpanel, names=["alpha"])
    # a string is not a collection of names, as in memory (it was read as the names 'b', 'e', ...)
    for bad in ("beta", ["beta", 1]):
        with pytest.raises(TypeError, match="^names must be a collection of descriptor names"):
            ff.compute_descriptors(P, names=bad)
        with pytest.raises(TypeError, match="^names must be a collection of descriptor names"):
            ffd.compute_descriptors(dpanel, names=bad)


def test_a_market_indexed_by_date_pairs_by_date(dpanel):
    # as in memory: a market Series indexed by date must carry the panel's dates, in order (it
    # was read by position); beside a bare dask array it is read in its order (date order)
    import pandas as pd

    ms = pd.Series(M, index=pd.DatetimeIndex(P.dates))
    got = ffd.compute_descriptors(dpanel, market=ms, names=["beta"])["beta"].compute()
    EQ(got, ff.compute_descriptors(P, market=M, names=["beta"])["beta"])
    with pytest.raises(ValueError, match=rf"^market and the panel have different dates: position 0 is {P.dates[-1]}"):
        ffd.compute_descriptors(dpanel, market=ms.iloc[::-1], names=["beta"])
    EQ(ffd.rolling_beta(dpanel["returns"], ms, 40, 13)[0].compute(), ff.rolling_beta(R, M, 40, 13)[0])
    with pytest.raises(ValueError, match=r"^market \(a pandas Series indexed by date\) is not in date order"):
        ffd.rolling_beta(dpanel["returns"], ms.iloc[::-1], 40)


def test_exposures_equal(dpanel):
    kw = dict(orthogonalize={"low_vol": ["value"]}, descriptor_options={"vol_half_life": 42.0})
    mem = ff.Exposures.from_panel(P, **kw)
    lazy = ffd.DaskExposures.from_panel(dpanel, **kw)
    assert lazy.factor_names == mem.factor_names and lazy.styles.chunks[0] == CHUNKS
    got = lazy.compute()
    EQ(got.styles, mem.styles)
    EQ(got.industry, mem.industry)
    assert got.industry_names == mem.industry_names


@pytest.fixture(scope="module")
def exposures(dpanel):
    return ff.Exposures.from_panel(P), ffd.DaskExposures.from_panel(dpanel).persist()


@pytest.mark.parametrize("settings", [dict(lag=1), dict(lag=2, winsorize_returns=4.0), dict(lag=1, weights="equal", industry_constraint="equal")])
def test_factor_model_and_risk_model_equal(settings, dpanel, exposures):
    mem_ex, lazy_ex = exposures
    model = ff.FactorModel(**settings)
    mem = model.fit(P, mem_ex)
    lazy = model.fit(dpanel, lazy_ex)
    assert isinstance(lazy, ffd.DaskFactorModelResult) and model.result_ is lazy
    assert lazy.factor_names == mem.factor_names
    for k in ("factor_returns", "std_errors", "tstats", "r2", "n_obs", "n_clipped"):
        EQ(getattr(lazy, k), getattr(mem, k), err_msg=k)
    assert isinstance(lazy.residuals, da.Array)
    EQ(lazy.residuals.compute(), mem.residuals)
    full = lazy.compute()
    assert isinstance(full, ff.FactorModelResult)
    EQ(full.residuals, mem.residuals)
    EQ(full.nw_tstats, mem.nw_tstats)
    EQ(lazy.fama_macbeth().params, mem.fama_macbeth().params)
    # the lag crosses the block edges: the first date of every block is estimated
    starts = np.cumsum((0,) + CHUNKS[:-1])[1:]
    assert np.isfinite(lazy.factor_returns[starts[starts != NAN_DATE + 1], 0]).all()
    risk = dict(vol_half_life=42, min_periods=10, specific_min_periods=21)
    if settings["lag"] == 2:  # Newey-West lags in the carried EWMA state, regime adjustment
        risk.update(specific_newey_west_lags=3, vra_half_life=30.0)
    risk_mem = ff.RiskModel(**risk).fit(mem)
    risk_lazy = ff.RiskModel(**risk).fit(lazy)
    EQ(risk_lazy.factor_covariance, risk_mem.factor_covariance)
    for k in ("specific_variance", "raw_specific_variance", "specific_n_obs", "structural"):
        EQ(getattr(risk_lazy, k), getattr(risk_mem, k), err_msg=k)
    assert np.isfinite(risk_mem.specific_variance[starts]).any()  # block starts are covered


def test_factor_model_weights_frame_is_matched_on_its_labels():
    """As in memory: FactorModel(weights=<frame>) on Dask inputs compares the frame's labels
    with the exposures' (it was used by position)."""
    from ferrofactor.panel import frame_from_field

    ex = ff.Exposures.from_panel(P)
    w = np.sqrt(np.nan_to_num(P["market_cap"]))
    model = ff.FactorModel(weights=frame_from_field(w[:, ::-1], P.dates, P.assets[::-1]))
    with pytest.raises(ValueError, match="weights and exposures have different assets: position 0 is "
                       f"{P.assets[-1]} in weights but {P.assets[0]} in exposures"):
        model.fit(da.from_array(P["returns"], chunks=(CHUNKS, N)), ex, cap=P["market_cap"])


def _reversed_frames_are_refused(dpanel, frame):
    """The checks both frame kinds share: ``frame(x, assets)`` makes a labelled (T, N) frame; one
    with its columns reversed is refused by a DaskPanel, FactorModel.fit (cap),
    cross_section_regress (cap beside weights), from_descriptors (cap) and evaluate (weights,
    signal). Returns the reversed frames, the exposures and the message's asset part."""
    rev = {k: frame(v[:, ::-1], P.assets[::-1])
           for k, v in (("cap", P["market_cap"]), ("weights", WEIGHTS), ("signal", SIGNAL))}
    assets = rf"have different assets: position 0 is {P.assets[-1]} in"
    with pytest.raises(ValueError, match=rf"^field 'x' and the panel {assets} field 'x'"):
        ffd.DaskPanel(P.dates, P.assets, {"x": rev["cap"]}, chunks=CHUNKS)
    ex = ffd.DaskExposures.from_panel(dpanel)
    with pytest.raises(ValueError, match=rf"^cap and returns {assets} cap"):
        ff.FactorModel().fit(dpanel, ex, cap=rev["cap"])
    with pytest.raises(ValueError, match=rf"^cap and weights {assets} cap"):
        ffd.cross_section_regress(dpanel["returns"], industry=GICS, weights=frame(WEIGHTS), cap=rev["cap"])
    with pytest.raises(ValueError, match=rf"^cap and descriptors {assets} cap"):
        ffd.DaskExposures.from_descriptors(ffd.compute_descriptors(dpanel), cap=rev["cap"])
    sig = da.from_array(SIGNAL, chunks=(CHUNKS, -1))
    with pytest.raises(ValueError, match=rf"^weights and returns {assets} weights"):
        ffd.evaluate(sig, dpanel, HZ, weights=rev["weights"])
    with pytest.raises(ValueError, match=rf"^signal and returns {assets} signal"):
        ffd.evaluate(rev["signal"], dpanel, HZ)
    return rev, ex, assets


def test_polars_frames_keep_their_labels_on_dask(dpanel):
    """As in memory: a Polars frame given to a DaskPanel, to FactorModel.fit (cap), to
    cross_section_regress (weights, cap), to DaskExposures.from_descriptors (cap) or to the
    evaluation (signal, returns, weights) is matched on its labels with the labelled inputs beside
    it; the labels were dropped and the frame used by position (columns reversed: another asset's
    cap, weights, signal), with no error. An industry frame is refused as in memory."""
    from ferrofactor.panel import frame_from_field

    def frame(x, assets=P.assets):
        return frame_from_field(x, P.dates, assets)

    rev, ex, assets = _reversed_frames_are_refused(dpanel, frame)
    wf = frame(WEIGHTS)
    with pytest.raises(ValueError, match=rf"^cap and the dates/assets given {assets} cap"):
        ffd.cross_section_regress(dpanel["returns"], industry=GICS, cap=rev["cap"], assets=P.assets)
    with pytest.raises(ValueError, match=r"^descriptors and the dates/assets given have different dates"):
        ffd.DaskExposures.from_descriptors(ffd.compute_descriptors(dpanel), dates=P.dates + np.timedelta64(1, "D"))
    sig = da.from_array(SIGNAL, chunks=(CHUNKS, -1))
    for call in (lambda: ffd.information_coefficient(sig, dpanel, HZ, weights=rev["weights"]),
                 lambda: ffd.quantile_returns(sig, dpanel, horizons=HZ, weights=rev["weights"])):
        with pytest.raises(ValueError, match=rf"^weights and returns {assets} weights"):
            call()
    with pytest.raises(TypeError, match="industry must be an integer array of industry codes; for a frame"):
        ffd.cross_section_regress(dpanel["returns"], industry=frame_from_field(GICS.astype(float), P.dates, P.assets))
    # frames on the right labels give the in-memory results (a wide frame's rows in any order)
    capf = frame_from_field(P["market_cap"], P.dates, P.assets).reverse()
    mem_ex = ff.Exposures.from_panel(P)
    EQ(ff.FactorModel().fit(dpanel, ex, cap=capf).factor_returns, ff.FactorModel().fit(P, mem_ex, cap=capf).factor_returns)
    sf = frame_from_field(SIGNAL, P.dates, P.assets)
    got = ffd.evaluate(sf, dpanel["returns"], HZ, weights=wf).compute()
    want = ff.evaluate.evaluate(sf, R, HZ, weights=wf)
    EQ(got.ic, want.ic)
    EQ(got.dates, want.dates)


def test_pandas_frames_keep_their_labels_on_dask(dpanel):
    """As in memory: a pandas DataFrame (DatetimeIndex × tickers) given to a DaskPanel, to
    FactorModel.fit (cap), to cross_section_regress (weights, cap), to
    DaskExposures.from_descriptors (cap) or to the evaluation (signal, weights) is matched on its
    labels, as a Polars frame is; it was read by position (columns reversed: another asset's cap,
    weights, signal), with no error. Aligned frames give the in-memory results."""
    import pandas as pd

    def pdf(x, assets=P.assets, d=P.dates):
        return pd.DataFrame(x, index=pd.DatetimeIndex(d), columns=list(assets))

    rev, ex, assets = _reversed_frames_are_refused(dpanel, pdf)
    with pytest.raises(ValueError, match="^cap and returns have different dates"):
        ff.FactorModel().fit(dpanel, ex, cap=pdf(P["market_cap"], d=P.dates + 1))
    # beside an unlabelled dask array, read by position, its rows in date order (as a Polars frame)
    x = da.from_array(SIGNAL, chunks=(CHUNKS, -1))
    EQ(ffd.winsorize(x, weights=pdf(WEIGHTS)).compute(), ff.winsorize(SIGNAL, weights=WEIGHTS))
    with pytest.raises(ValueError, match="not in date order"):
        ffd.winsorize(x, weights=pdf(WEIGHTS).iloc[::-1])
    # frames on the right labels give the in-memory results (rows in any order beside labels)
    capf = pdf(P["market_cap"]).iloc[::-1]
    mem_ex = ff.Exposures.from_panel(P)
    EQ(ff.FactorModel().fit(dpanel, ex, cap=capf).factor_returns, ff.FactorModel().fit(P, mem_ex, cap=P["market_cap"]).factor_returns)
    got = ffd.evaluate(pdf(SIGNAL), dpanel["returns"], HZ, weights=pdf(WEIGHTS)).compute()
    want = ff.evaluate.evaluate(SIGNAL, R, HZ, weights=WEIGHTS)
    EQ(got.ic, want.ic)
    EQ(got.dates, P.dates)
    panel = ffd.DaskPanel(P.dates, P.assets, {"x": pdf(P["market_cap"]).iloc[::-1]}, chunks=CHUNKS)
    EQ(panel["x"].compute(), P["market_cap"])


def test_specific_risk_is_carried_block_to_block(fitted, exposures):
    """Each task of the specific variance reads one date block of residuals, exposures and cap
    and the O(N) state the previous block's task left: nothing gathers the residuals."""
    lazy = fitted[1]
    settings = ff.RiskModel(specific_newey_west_lags=2, vra_half_life=20.0)._settings()
    var, raw, n_obs, structural, b2 = ffd.specific_variance(lazy.residuals, exposures[1], lazy.cap, settings)
    assert var.chunks == (CHUNKS, (N,)) and b2.chunks == (CHUNKS,) and n_obs.dtype == np.uint32
    graph = dict(var.__dask_graph__())
    chain = sorted((k for k in graph if isinstance(k, tuple) and str(k[0]).startswith("ff-specific-chain")),
                   key=lambda k: k[1])
    assert len(chain) == len(CHUNKS)
    for k in chain:
        deps = dask.core.get_dependencies(graph, k)
        blocks = {d for d in deps if not str(d[0]).startswith("ff-specific-chain")}
        assert all(d[1] == k[1] for d in blocks), deps  # the block's own rows only
        assert {d for d in deps if d not in blocks} == ({(k[0], k[1] - 1)} if k[1] else set())
    mem = ff.RiskModel(specific_newey_west_lags=2, vra_half_life=20.0).fit(fitted[0])
    EQ(raw.compute(), mem.raw_specific_variance)
    # the (T,) bias statistics B² of the regime multiplier, per block, equal the in-memory kernel's
    want_b2 = ff._core.risk_regime_multiplier(lazy.residuals.compute(), var.compute(), lazy.cap.compute(), 20.0)[0]
    EQ(b2.compute(), want_b2)
    assert np.isfinite(want_b2).sum() > T // 2


# --- signal evaluation ---------------------------------------------------------------------------
# a signal with the returns' ragged listings and the all-NaN date, partly informative; horizons
# up to 42 dates: the look-ahead of a block crosses the 1- and 37-date blocks whole
SIGNAL = np.where(np.isfinite(R), np.roll(np.nan_to_num(R), -1, axis=0) + RNG.normal(0, 0.02, (T, N)), np.nan)
SIGNAL[NAN_DATE] = np.nan
HZ = (1, 5, 42)


@pytest.mark.parametrize("name,call", [
    ("forward_returns", lambda m, s, r: m.forward_returns(r, HZ)),
    ("ic", lambda m, s, r: m.information_coefficient(s, r, HZ, industry=GICS, weights=WEIGHTS)),
    ("ic-common", lambda m, s, r: m.information_coefficient(s, r, HZ, "pearson", common_sample=True)),
    ("factor-weighted", lambda m, s, r: m.factor_weighted_returns(s, r, HZ, industry=GICS)),
    ("turnover", lambda m, s, r: m.quantile_turnover(s, 5, 42, industry=GICS, binning_by_industry=True)),
    ("autocorrelation", lambda m, s, r: m.rank_autocorrelation(s, 21, industry=GICS)),
])
def test_evaluation_per_date_parts_equal(name, call, dpanel):
    sig = da.from_array(SIGNAL, chunks=(CHUNKS, -1))
    got, want = call(ffd, sig, dpanel["returns"]), call(ff.evaluate, SIGNAL, R)
    assert isinstance(got, da.Array) and got.chunks[-2 if name == "forward_returns" else 0] == CHUNKS
    assert np.isfinite(want).sum() > want.size // 2
    EQ(got.compute(), want)


def test_quantile_returns_equal(dpanel):
    lazy = ffd.quantile_returns(SIGNAL, dpanel, bins=4, quantiles=None, horizons=HZ, weights=WEIGHTS)
    assert isinstance(lazy.by_date, da.Array) and lazy.labels.chunks == (CHUNKS, (N,))
    got, want = lazy.compute(), ff.evaluate.quantile_returns(SIGNAL, R, bins=4, quantiles=None, horizons=HZ, weights=WEIGHTS)
    for k in ("by_date", "counts", "labels", "mean_returns", "nw_std_errors", "spread_nw_tstat"):
        EQ(getattr(got, k), getattr(want, k), err_msg=k)


@pytest.fixture(scope="module")
def fitted(dpanel, exposures):
    """The default factor model in memory and on Dask."""
    return ff.FactorModel().fit(P, exposures[0]), ff.FactorModel().fit(dpanel, exposures[1])


def test_evaluate_equal_with_residual(dpanel, fitted):
    """ff.dask.evaluate(...).compute() is ff.evaluate.evaluate bit for bit: per-date outputs on
    the blocks (horizons and decay lags reaching across several blocks), tests over dates in
    memory; the residual evaluation reads the Dask factor model's residuals on the cluster."""
    kw = dict(horizons=HZ, quantiles=5, industry=GICS, weights=WEIGHTS, decay_lags=(1, 2, 45))
    lazy = ffd.evaluate(da.from_array(SIGNAL, chunks=(CHUNKS, -1)), dpanel, residual=fitted[1], **kw)
    assert isinstance(lazy.ic, da.Array) and lazy.ic.chunks == (CHUNKS, (3,))
    assert isinstance(lazy.residual.labels, da.Array)
    got = lazy.compute()
    want = ff.evaluate.evaluate(SIGNAL, P, residual=fitted[0], **kw)
    assert isinstance(got, ff.evaluate.SignalEvaluation)
    for g, w in ((got, want), (got.residual, want.residual)):
        for k in g._arrays:
            EQ(getattr(g, k), getattr(w, k), err_msg=k)
        EQ(g.quantile_returns.labels, w.quantile_returns.labels)
        EQ(g.dates, w.dates)
        assert str(g.summary()) == str(w.summary())
    assert np.isfinite(want.ic).sum() > T and np.isfinite(want.residual.decay_ic[:, 2]).sum() > T // 2
    # alphalens' sample and buckets from bins, with the residual returns from the result
    kw2 = dict(horizons=(2, 21), bins=3, quantiles=None, common_sample=True, method="pearson")
    got2 = ffd.evaluate(SIGNAL, None, residual=fitted[1], **kw2).compute()
    want2 = ff.evaluate.evaluate(SIGNAL, None, residual=fitted[0], **kw2)
    for g, w in ((got2, want2), (got2.residual, want2.residual)):
        for k in ("ic", "turnover", "factor_returns", "ic_nw_tstat", "mean_returns"):
            EQ(getattr(g, k), getattr(w, k), err_msg=k)
        EQ(g.quantile_returns.by_date, w.quantile_returns.by_date)


def test_residual_correlation_of_a_dask_result_says_what_to_pass(fitted):
    """ff.evaluate.residual_correlation (in memory, an (N, N) correlation) given the Dask result:
    a TypeError saying to compute it first; it was 'residuals must be a numeric array, got dtype
    object'. Computed, it equals the in-memory result's."""
    with pytest.raises(TypeError, match=r"^residuals is a ferrofactor.dask DaskFactorModelResult.*result.compute\(\)"):
        ff.evaluate.residual_correlation(fitted[1])
    got = ff.evaluate.residual_correlation(fitted[1].compute(), min_periods=50)
    want = ff.evaluate.residual_correlation(fitted[0], min_periods=50)
    EQ(got.top_eigenvalues, want.top_eigenvalues)


def test_evaluation_bad_input(dpanel):
    sig = da.from_array(SIGNAL, chunks=(CHUNKS, -1))
    with pytest.raises(ValueError, match="filter_zscore is not available on Dask"):
        ffd.evaluate(sig, dpanel, filter_zscore=3.0)
    with pytest.raises(TypeError, match="must be a dask array"):
        ffd.information_coefficient(SIGNAL, R)
    with pytest.raises(ValueError, match="nw_lags=1 is below"):
        ffd.evaluate(sig, dpanel, horizons=(5,), nw_lags=1)
    with pytest.raises(ValueError, match="returns has shape"):
        ffd.evaluate(sig, np.ones((T, N + 1)))
    bad = R.copy()
    bad[400, 3] = np.inf
    lazy = ffd.evaluate(sig, bad)  # data: checked when computed, as in memory
    with pytest.raises(ValueError, match="returns must not contain infinite values"):
        lazy.compute()
    bad[400, 3] = -1.5
    with pytest.raises(ValueError, match=r"returns must be >= -1 \(a price cannot go below zero\), got minimum -1.5"):
        ffd.evaluate(sig, bad).compute()


def test_no_look_ahead_across_block_edges(dpanel, exposures):
    """Perturb every field from a date on (a block's first date, and a date inside a block):
    descriptors, exposures and factor returns before that date do not move, bit for bit."""
    rng = np.random.default_rng(3)
    base_ex = exposures[1].compute()
    base_f = ff.FactorModel().fit(dpanel, exposures[1]).factor_returns
    checked = ("momentum_12_1", "volatility", "beta", "max_drawdown", "log_turnover")
    base_d = dict(zip(checked, dask.compute(*[ffd.compute_descriptors(dpanel)[k] for k in checked])))
    for t0 in (251, 400):  # 251 starts a block (everything checked); 400 is inside one (descriptors)
        fields = {}
        for k in P.float_fields:
            v = P[k].copy()
            tail = v[t0:]
            tail *= rng.uniform(0.5, 1.5, tail.shape)
            tail[rng.random(tail.shape) < 0.2] = np.nan
            fields[k] = v
        fields["returns"] = np.maximum(fields["returns"], -1.0)
        moved = ffd.DaskPanel.from_panel(P.with_fields(fields), chunks=CHUNKS)
        desc_m = ffd.compute_descriptors(moved)
        for k, v in zip(checked, dask.compute(*[desc_m[k] for k in checked])):
            EQ(v[:t0], base_d[k][:t0], err_msg=k)
            assert not np.array_equal(v[t0:], base_d[k][t0:], equal_nan=True), k
        if t0 != 251:
            continue
        ex = ffd.DaskExposures.from_panel(moved).persist()
        got_ex = ex.compute()
        EQ(got_ex.styles[:t0], base_ex.styles[:t0])
        assert not np.array_equal(got_ex.styles[t0:], base_ex.styles[t0:], equal_nan=True)
        f = ff.FactorModel().fit(moved, ex).factor_returns
        EQ(f[:t0], base_f[:t0])
        assert not np.array_equal(f[t0:], base_f[t0:], equal_nan=True)


# --- bad input ---------------------------------------------------------------------------------
def test_bad_input(dpanel):
    x = dpanel["returns"]
    with pytest.raises(TypeError, match="x must be a dask array"):
        ffd.winsorize(P["returns"])
    with pytest.raises(ValueError, match="method must be one of"):
        ffd.winsorize(x, method="clip")  # settings: checked when the graph is built
    with pytest.raises(ValueError, match="min_periods"):
        ffd.rolling_mean(x, 10, min_periods=11)
    with pytest.raises(ValueError, match="weights has shape"):
        ffd.standardize(x, weights=np.ones((T, N + 1)))
    bad = -WEIGHTS
    lazy = ffd.standardize(x, weights=bad)  # data: checked when computed, as in memory
    with pytest.raises(ValueError, match="weights"):
        lazy.compute()
    with pytest.raises(ValueError, match="lag"):
        ff.FactorModel(lag=T).fit(dpanel, ffd.DaskExposures.from_panel(dpanel))
    with pytest.raises(TypeError, match="DaskPanel"):
        ffd.compute_descriptors(P)


# --- graph keys ----------------------------------------------------------------------------------
def _layers(*arrays) -> set[str]:
    out: set[str] = set()
    for a in arrays:
        out |= set(a.__dask_graph__().layers)
    return out


def test_key_names_are_per_operation_deterministic_and_unique(dpanel):
    """Every block operation names its keys ``ff-<operation>-<token of all its inputs and
    settings>`` (partial-bound settings included): the same call gives the same keys, another
    setting or another input other keys, and no key is named after the shared block wrapper
    (``_call_aligned``), whatever function it wraps."""
    x, y = dpanel["returns"], dpanel["close"]
    calls = {
        "ff-winsorize-": [lambda a: ffd.winsorize(a, "sigma", 2.0), lambda a: ffd.winsorize(a, "sigma", 3.0),
                          lambda a: ffd.winsorize(a, "mad", 2.0)],
        "ff-standardize-": [lambda a: ffd.standardize(a), lambda a: ffd.standardize(a, winsorize="mad", limit=4.0)],
        "ff-rank-": [lambda a: ffd.rank(a), lambda a: ffd.rank(a, gaussian=True)],
        "ff-neutralize-": [lambda a: ffd.neutralize(a, industry=GICS), lambda a: ffd.neutralize(a, CONTROLS, GICS)],
        "ff-by-asset-": [lambda a: ffd.ewm_mean(a, 10.0), lambda a: ffd.ewm_mean(a, 20.0),
                         lambda a: ffd.rolling_mean(a, 700, min_periods=50)],
    }
    for prefix, fns in calls.items():
        names = [f(x).name for f in fns]
        again = [f(x).name for f in fns]
        assert names == again, prefix  # deterministic
        assert len(set(names)) == len(names), (prefix, names)  # one name per setting
        assert len({f(y).name for f in fns} | set(names)) == 2 * len(names), prefix  # and per input
        for f in fns:
            layers = _layers(f(x))
            assert any(n.startswith(prefix) for n in layers), (prefix, layers)
            assert not [n for n in layers if "call_aligned" in n], layers
    # elementwise descriptor blocks (a partial-bound factor) and the exposures' industry codes
    desc = ffd.compute_descriptors(dpanel, names=["volatility", "log_market_cap"])
    assert desc["volatility"].name.startswith("ff-block-_mask_dead-")
    ex = ffd.DaskExposures.from_panel(dpanel)
    layers = _layers(desc["volatility"], desc["log_market_cap"], ex.styles, ex.industry)
    assert {"ff-block-_scale", "ff-block-log_market_cap", "ff-dense-industry", "ff-checked-codes"} <= {
        n.rsplit("-", 1)[0] for n in layers}, layers
    assert not [n for n in layers if "call_aligned" in n], layers
    # two evaluations with other settings on the same inputs share no evaluation key
    sig = da.from_array(SIGNAL, chunks=(CHUNKS, -1))
    e1 = ffd.evaluate(sig, dpanel, horizons=(1, 5), industry=GICS)
    e2 = ffd.evaluate(sig, dpanel, horizons=(1, 5), industry=GICS, quantiles=4)
    e3 = ffd.evaluate(sig, dpanel, horizons=(1, 5), industry=GICS)
    k1, k2 = (set(_layers(*e._arrays_list())) for e in (e1, e2))
    ev1 = {n for n in k1 if n.startswith("ff-evaluate-")}
    assert ev1 and not ev1 & k2
    assert k1 == set(_layers(*e3._arrays_list()))
    assert {n for n in k1 if n.startswith("ff-dense-industry-")} == {n for n in k2 if n.startswith("ff-dense-industry-")}


class _Records(__import__("logging").Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list = []

    def emit(self, record) -> None:
        self.records.append(record)


def test_readme_pipeline_submits_no_conflicting_keys(hive, client):
    """The README's ff.dask path (directory of Parquet files → exposures → factor model → risk
    model → evaluation with residuals) on the cluster: the scheduler never sees one key with two
    different tasks ("Detected different `run_spec`", which happened when the same block was
    fused into a task in one submitted graph and not in another), and the results equal the
    in-memory run bit for bit."""
    import logging

    root, paths = hive
    handler = _Records()
    logger = logging.getLogger("distributed.scheduler")
    logger.addHandler(handler)
    try:
        panel = ffd.read_universe(root, paths["fundamentals"], paths["classifications"], chunks=150)
        exposures = ffd.DaskExposures.from_panel(panel)
        result = ff.FactorModel().fit(panel, exposures)
        ff.RiskModel().fit(result)
        ev = ffd.evaluate(exposures.styles[:, :, 1], panel, horizons=(1, 5, 21), residual=result)
        got = ev.compute()
        # computed again (as a user re-running a cell would): the same keys, the same tasks
        again = ffd.evaluate(exposures.styles[:, :, 1], panel, horizons=(1, 5, 21), residual=result).compute()
        client.run_on_scheduler(lambda: None)  # the scheduler has handled every update_graph
    finally:
        logger.removeHandler(handler)
    conflicts = [r.getMessage().splitlines()[0] for r in handler.records if "run_spec" in r.getMessage()]
    assert not conflicts, conflicts
    mem = ff.read_universe(str(root / "**" / "*.parquet"), paths["fundamentals"], paths["classifications"])
    mem_ex = ff.Exposures.from_panel(mem)
    mem_fit = ff.FactorModel().fit(mem, mem_ex)
    EQ(result.factor_returns, mem_fit.factor_returns)
    want = ff.evaluate.evaluate(mem_ex.styles[:, :, 1], mem, horizons=(1, 5, 21), residual=mem_fit)
    for g in (got, again):
        EQ(g.ic, want.ic)
        EQ(g.residual.ic, want.residual.ic)
        EQ(g.quantile_returns.by_date, want.quantile_returns.by_date)


def test_labels_are_read_only_and_never_the_callers_arrays():
    # as Panel's: the labels of a DaskPanel / DaskExposures were the caller's assets array (or the
    # panel's) handed out writeable, so writing into one relabelled everything built on it
    import ferrofactor.dask as fd

    p = ff.datasets.synthetic_universe(n_assets=30, n_days=40, seed=0)
    assets = np.array(p.assets)
    dp = fd.DaskPanel(p.dates, assets, {"returns": p["returns"]}, {"industry": (p["industry"], p.labels("industry"))},
                      chunks=20)
    assets[0] = assets[1]
    assert dp.assets[0] == p.assets[0]
    dex = fd.DaskExposures.from_panel(fd.DaskPanel.from_panel(p, chunks=20))
    for arr in (dp.dates, dp.assets, dp.labels("industry"), dex.dates, dex.assets):
        with pytest.raises(ValueError, match="read-only"):
            arr[0] = arr[-1]


def test_lazy_results_have_a_short_repr(dpanel):
    # LazyCrossSection and LazyQuantileReturns printed as <ferrofactor.dask.LazyCrossSection
    # object at 0x7f...>, unlike every other result (and LazySignalEvaluation beside them)
    rng = np.random.default_rng(0)
    sig = rng.normal(size=(T, N))
    xs = ffd.cross_section_regress(dpanel["returns"], rng.normal(size=(T, N, 2)), dates=P.dates)
    q = ffd.quantile_returns(sig, dpanel, 3, horizons=(1, 5))
    for obj, want in ((xs, f"LazyCrossSection(T={T}, N={N}, factors=['market', 'style_0', 'style_1'])"),
                      (q, f"LazyQuantileReturns(T={T}, N={N}, buckets=quantiles=3, horizons=[1, 5])")):
        assert repr(obj) == want
