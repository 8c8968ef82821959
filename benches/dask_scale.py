"""The out-of-core run of ferrofactor.dask, by hand (not in CI), and the dataset writer of
benches/bench_dask.py.

    python benches/dask_scale.py write  DIR --assets 10000 --days 5040      # partitioned Parquet
    python benches/dask_scale.py dask   DIR [--memory-limit 2GB]             # 2 workers
    python benches/dask_scale.py memory DIR                                  # in-memory reference
    python benches/dask_scale.py compare DIR

``write`` simulates a daily universe year by year (never the whole panel in memory) and writes
``DIR/prices/year=YYYY/part-0.parquet`` (long rows: date, asset and 8 float fields: close,
shares, volume and the as-reported fundamentals book_value, earnings, operating_cash_flow,
net_income, revenue) and ``DIR/classifications.parquet`` (industries, with switches). Listings
are ragged (late listings, delistings, suspended days).

``dask`` runs read → descriptors → exposures → factor model → risk model on a
``LocalCluster(n_workers=2, threads_per_worker=1, memory_limit=...)`` (``RAYON_NUM_THREADS=1``
in the workers), samples every worker's resident memory every 0.2 s, and saves the factor
returns and a JSON of figures. ``memory`` runs the same pipeline in memory in this process
(``ff.read_universe`` of the same files) and saves its factor returns and peak RSS; ``compare``
checks that the two are equal bit for bit.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import threading
import time

import numpy as np
import polars as pl

#: The styles of the scale run: the default ones, with quality from the fields written
#: (return on equity and profit margin; total assets/liabilities are not among the 8 fields).
STYLES = {
    "value": {"book_to_market": 1 / 3, "earnings_yield": 1 / 3, "cash_flow_yield": 1 / 3},
    "momentum": {"momentum_12_1": 0.5, "momentum_6_1": 0.3, "momentum_3_1": 0.2},
    "quality": {"roe": 0.5, "profit_margin": 0.5},
    "low_vol": {"volatility": -1.0},
}
FIELDS = ("close", "shares", "volume", "book_value", "earnings", "operating_cash_flow", "net_income", "revenue")


def write_dataset(root: str, n_assets: int, n_days: int, seed: int = 0, start: str = "2005-01-03",
                  n_industries: int = 20) -> dict[str, str]:
    """Write the dataset described in the module docstring; returns its paths."""
    rng = np.random.default_rng(seed)
    T, N = n_days, n_assets
    dates = np.busday_offset(np.datetime64(start, "D"), np.arange(T), roll="forward")
    assets = np.array([f"A{n:06d}" for n in range(N)])
    life = min(300, T // 3)
    list_t = np.where(rng.random(N) < 0.25, rng.integers(1, max(T - life, 2), N), 0)
    span = T - list_t - life
    delist_t = np.where((rng.random(N) < 0.2) & (span > 0), list_t + life + (rng.random(N) * np.maximum(span, 0)).astype(np.int64), T)
    ind = rng.integers(0, n_industries, N)
    names = np.array([f"industry_{g:02d}" for g in range(n_industries)])
    switch = rng.random(N) < 0.02
    switch_t = np.where(switch, list_t + (delist_t - list_t) // 2, T)
    ind2 = (ind + 1 + rng.integers(0, n_industries - 1, N)) % n_industries
    cls = pl.DataFrame({
        "asset": np.concatenate([assets, assets[switch]]),
        "date": np.concatenate([dates[list_t], dates[switch_t[switch]]]),
        "industry": np.concatenate([names[ind], names[ind2[switch]]]),
    }).sort("asset", "date")
    os.makedirs(os.path.join(root, "prices"), exist_ok=True)
    cls_path = os.path.join(root, "classifications.parquet")
    cls.write_parquet(cls_path)

    beta = rng.normal(1.0, 0.3, N)
    vol = np.exp(rng.normal(np.log(0.018), 0.35, N))
    log_close = np.log(np.exp(rng.normal(3.0, 0.8, N)))
    shares = np.exp(rng.normal(17.0, 1.2, N))
    book = np.exp(log_close) * shares * np.exp(rng.normal(-0.4, 0.4, N))
    margin = rng.normal(0.08, 0.04, N)
    years = dates.astype("datetime64[Y]").astype(int) + 1970
    for y in np.unique(years):
        ts = np.flatnonzero(years == y)
        Ty = len(ts)
        mkt = rng.standard_t(5, Ty) * 0.008
        fi = rng.standard_t(5, (Ty, n_industries)) * 0.004
        spec = rng.standard_t(4, (Ty, N)) * vol / np.sqrt(2.0)
        r = mkt[:, None] * beta + fi[:, ind] + spec
        r = np.maximum(r, -0.9)
        lc = log_close + np.cumsum(np.log1p(r), axis=0)
        log_close = lc[-1]
        close = np.exp(lc)
        listed = (ts[:, None] >= list_t) & (ts[:, None] < delist_t)
        suspended = rng.random((Ty, N)) < 0.001
        close[suspended] = np.nan
        volume = shares * np.exp(rng.normal(np.log(0.004), 0.7, (Ty, N)))
        volume[rng.random((Ty, N)) < 0.005] = np.nan
        # as-reported fundamentals: a step per quarter (63 dates), NaN before the first report
        q = (ts // 63)[:, None]
        book_t = book * np.exp(0.01 * np.sin(q + np.arange(N)))
        revenue = book_t * 0.3 * np.exp(0.05 * np.cos(q * 0.7 + np.arange(N)))
        net_income = revenue * margin
        earnings = net_income * 1.02
        ocf = net_income * 1.1 + book_t * 0.002
        t_idx, a_idx = np.nonzero(listed)
        frame = pl.DataFrame({
            "date": dates[ts][t_idx], "asset": assets[a_idx],
            "close": close[t_idx, a_idx], "shares": np.broadcast_to(shares, (Ty, N))[t_idx, a_idx],
            "volume": volume[t_idx, a_idx], "book_value": book_t[t_idx, a_idx],
            "earnings": earnings[t_idx, a_idx], "operating_cash_flow": ocf[t_idx, a_idx],
            "net_income": net_income[t_idx, a_idx], "revenue": revenue[t_idx, a_idx],
        }).with_columns(pl.col(FIELDS).fill_nan(None))
        d = os.path.join(root, "prices", f"year={y}")
        os.makedirs(d, exist_ok=True)
        frame.write_parquet(os.path.join(d, "part-0.parquet"), row_group_size=256_000)
        del frame, close, volume, spec, r, lc
    return {"prices": os.path.join(root, "prices"), "classifications": cls_path}


def run_dask(root: str, memory_limit: str = "2GB", chunks: int = 252, workers: int = 2,
             keep_risk_dates: int | None = None) -> dict:
    """The pipeline on Dask, 2 local workers; returns the figures (and saves them)."""
    import dask
    import distributed
    import psutil

    import ferrofactor as ff

    peaks: dict[str, int] = {}
    stop = threading.Event()

    def rss() -> int:
        return psutil.Process().memory_info().rss

    figures: dict = {"memory_limit": memory_limit, "chunks": chunks, "workers": workers}
    with distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                  memory_limit=memory_limit, dashboard_address=None,
                                  env={"RAYON_NUM_THREADS": "1"}) as cluster, \
            distributed.Client(cluster) as client:

        def sample() -> None:
            while not stop.is_set():
                try:
                    for w, v in client.run(rss).items():
                        peaks[w] = max(peaks.get(w, 0), v)
                except Exception:  # noqa: BLE001 - a worker restarting: keep sampling
                    pass
                stop.wait(0.2)

        th = threading.Thread(target=sample, daemon=True)
        th.start()
        t0 = time.perf_counter()
        panel = ff.dask.read_universe(os.path.join(root, "prices"), None,
                                      os.path.join(root, "classifications.parquet"), chunks=chunks)
        t1 = time.perf_counter()
        ex = ff.dask.DaskExposures.from_panel(panel, STYLES)
        result = ff.FactorModel().fit(panel, ex)
        t2 = time.perf_counter()
        keep = None if keep_risk_dates is None else np.arange(panel.shape[0] - keep_risk_dates, panel.shape[0])
        risk = ff.RiskModel().fit(result, keep_dates=keep)
        t3 = time.perf_counter()
        stop.set()
        th.join()
        figures.update(
            T=panel.shape[0], N=panel.shape[1], blocks=len(panel.chunks),
            seconds_axes_and_first_block=t1 - t0, seconds_factor_model=t2 - t1,
            seconds_risk_model_gather_and_fit=t3 - t2,
            worker_peak_rss_gb={w: v / 1e9 for w, v in peaks.items()},
            client_peak_rss_gb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6,
            risk_dates=int(risk.specific_variance.shape[0]),
        )
        del dask
    np.save(os.path.join(root, "factor_returns_dask.npy"), result.factor_returns)
    with open(os.path.join(root, "figures_dask.json"), "w") as f:
        json.dump(figures, f, indent=1)
    return figures


def run_memory(root: str) -> dict:
    """The same pipeline in memory (this process); saves the factor returns and peak RSS."""
    import ferrofactor as ff

    t0 = time.perf_counter()
    panel = ff.read_universe(os.path.join(root, "prices", "**", "*.parquet"), None,
                             os.path.join(root, "classifications.parquet"))
    t1 = time.perf_counter()
    ex = ff.Exposures.from_panel(panel, STYLES)
    result = ff.FactorModel().fit(panel, ex)
    t2 = time.perf_counter()
    figures = dict(T=panel.shape[0], N=panel.shape[1], seconds_read=t1 - t0, seconds_factor_model=t2 - t1,
                   peak_rss_gb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6)
    np.save(os.path.join(root, "factor_returns_memory.npy"), result.factor_returns)
    with open(os.path.join(root, "figures_memory.json"), "w") as f:
        json.dump(figures, f, indent=1)
    return figures


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["write", "dask", "memory", "compare"])
    ap.add_argument("dir")
    ap.add_argument("--assets", type=int, default=10_000)
    ap.add_argument("--days", type=int, default=5_040)
    ap.add_argument("--memory-limit", default="2GB")
    ap.add_argument("--chunks", type=int, default=252)
    ap.add_argument("--keep-risk-dates", type=int, default=None)
    a = ap.parse_args()
    if a.what == "write":
        t = time.perf_counter()
        print(write_dataset(a.dir, a.assets, a.days), f"{time.perf_counter() - t:.1f} s")
    elif a.what == "dask":
        print(json.dumps(run_dask(a.dir, a.memory_limit, a.chunks, keep_risk_dates=a.keep_risk_dates), indent=1))
    elif a.what == "memory":
        print(json.dumps(run_memory(a.dir), indent=1))
    else:
        x = np.load(os.path.join(a.dir, "factor_returns_dask.npy"))
        y = np.load(os.path.join(a.dir, "factor_returns_memory.npy"))
        print("shape", x.shape, "equal bit for bit:", np.array_equal(x, y, equal_nan=True),
              "finite:", int(np.isfinite(x).sum()))


if __name__ == "__main__":
    main()
