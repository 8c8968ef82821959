"""ferrofactor.dask against the in-memory pipeline on the same partitioned Parquet files.

The pipeline: read (prices + industries) → descriptors → exposures → factor model → risk model.
In memory: ``ff.read_universe`` of the files (a glob), then the in-memory stages (rayon on both
cores). On Dask: ``ff.dask.read_universe`` of the directory, 252 dates per block, on a
``LocalCluster(n_workers=2, threads_per_worker=1)`` with ``RAYON_NUM_THREADS=1`` in the workers
(2 × 1 threads on 2 cores), the factor returns computed block by block and the risk model on the
gathered residuals. Both give the same factor returns bit for bit (checked before timing).

    python -m pytest benches/bench_dask.py --benchmark-only -q              # N=500, T=756
    python -m pytest benches/bench_dask.py --benchmark-only -q -m large     # N=5000, T=2520

Ratio to read: Dask min ÷ in-memory min (the overhead of going through Dask on one machine).
"""

from __future__ import annotations

import os

import numpy as np
import pytest

import ferrofactor as ff

distributed = pytest.importorskip("distributed")

from dask_scale import STYLES, write_dataset  # noqa: E402  (benches/ is on sys.path)


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  env={"RAYON_NUM_THREADS": "1"}) as c, distributed.Client(c) as client:
        yield client


_ROOTS: dict[tuple[int, int], str] = {}


def _data(tmp_path_factory, n_assets, n_days):
    if (n_assets, n_days) not in _ROOTS:
        root = str(tmp_path_factory.mktemp(f"dask_{n_assets}_{n_days}"))
        write_dataset(root, n_assets, n_days, seed=1)
        _ROOTS[(n_assets, n_days)] = root
    return _ROOTS[(n_assets, n_days)]


def _memory(root):
    panel = ff.read_universe(os.path.join(root, "prices", "**", "*.parquet"), None,
                             os.path.join(root, "classifications.parquet"))
    result = ff.FactorModel().fit(panel, ff.Exposures.from_panel(panel, STYLES))
    ff.RiskModel().fit(result)
    return result.factor_returns


def _dask(root):
    panel = ff.dask.read_universe(os.path.join(root, "prices"), None,
                                  os.path.join(root, "classifications.parquet"), chunks=252)
    result = ff.FactorModel().fit(panel, ff.dask.DaskExposures.from_panel(panel, STYLES))
    ff.RiskModel().fit(result)
    return result.factor_returns


def _case(benchmark, tmp_path_factory, cluster, n_assets, n_days, which, rounds):
    root = _data(tmp_path_factory, n_assets, n_days)
    if which == "dask":
        a, b = _dask(root), _memory(root)
        assert np.array_equal(a, b, equal_nan=True)
    fn = _dask if which == "dask" else _memory
    benchmark.pedantic(fn, args=(root,), rounds=rounds, iterations=1, warmup_rounds=0)


@pytest.mark.benchmark(group="pipeline N=500 T=756")
@pytest.mark.parametrize("which", ["memory", "dask"])
def test_pipeline_small(benchmark, tmp_path_factory, cluster, which):
    _case(benchmark, tmp_path_factory, cluster, 500, 756, which, rounds=3)


@pytest.mark.large
@pytest.mark.benchmark(group="pipeline N=5000 T=2520")
@pytest.mark.parametrize("which", ["memory", "dask"])
def test_pipeline_large(benchmark, tmp_path_factory, cluster, which):
    _case(benchmark, tmp_path_factory, cluster, 5000, 2520, which, rounds=2)
