"""Benchmarks: loading a long Parquet panel with ``ff.read_panel`` vs Polars' own ``read_parquet``.

Build with ``maturin develop --release`` first, then:

    python -m pytest benches/bench_io.py --benchmark-only -q                 # everything
    python -m pytest benches/bench_io.py --benchmark-only -q -m "not large"  # small cases only

The headline case (issue 3) is a 5000 assets × 2520 dates long Parquet file with 8 float fields
(``-m large``), written once to a temporary directory. Each group times, on the same file in the
same run, ``pl.read_parquet(path)`` (the floor: reading the bytes) and ``ff.read_panel(path)``
(reading plus dense codes for dates and assets, the duplicate check and the scatter of every field
into its (T, N) array). Target: read_panel < 2 × read_parquet.

Two layouts: ``ragged`` (rows only while an asset is listed, about 15 % of the grid missing, in
date order: the usual shape of a vendor file; the general scatter path) and ``dense`` (every
(date, asset) row, date-major: read_panel detects the full grid and reshapes without a scatter).
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

import ferrofactor as ff

FIELDS = [f"f{k}" for k in range(8)]


def _write(path, T: int, N: int, ragged: bool, seed: int = 0) -> str:
    rng = np.random.default_rng(seed)
    dates = np.busday_offset(np.datetime64("2015-01-02"), np.arange(T), roll="forward")
    assets = np.array([f"A{n:05d}" for n in range(N)])
    t_idx = np.repeat(np.arange(T), N)
    a_idx = np.tile(np.arange(N), T)
    if ragged:
        start = np.where(rng.random(N) < 0.2, rng.integers(0, T, N), 0)
        stop = np.where(rng.random(N) < 0.2, rng.integers(0, T, N), T)
        keep = (t_idx >= start[a_idx]) & (t_idx < np.maximum(stop, start + 1)[a_idx])
        t_idx, a_idx = t_idx[keep], a_idx[keep]
    df = pl.DataFrame({"date": dates[t_idx], "asset": assets[a_idx]})
    df = df.with_columns(pl.Series(f, rng.standard_normal(len(t_idx))) for f in FIELDS)
    df.write_parquet(path)
    return str(path)


def _read_polars(path):
    return pl.read_parquet(path)


def _read_panel(path):
    return ff.read_panel(path, fields=FIELDS)


IMPLS = {"pl.read_parquet": _read_polars, "ff.read_panel": _read_panel}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("bench_io")
    cache: dict[tuple[int, int, bool], str] = {}

    def get(T: int, N: int, ragged: bool) -> str:
        key = (T, N, ragged)
        if key not in cache:
            cache[key] = _write(d / f"panel_{T}x{N}_{'ragged' if ragged else 'dense'}.parquet", T, N, ragged)
        return cache[key]

    return get


def _run(benchmark, path, impl, rounds):
    fn = IMPLS[impl]
    out = benchmark.pedantic(fn, args=(path,), rounds=rounds, iterations=1, warmup_rounds=1)
    if impl == "ff.read_panel":
        assert out.float_fields == tuple(FIELDS)


# --- full universe: 2520 dates × 5000 assets, 8 fields --------------------------------------


@pytest.mark.large
@pytest.mark.benchmark(group="io read 2520x5000x8 ragged")
@pytest.mark.parametrize("impl", list(IMPLS))
def test_read_large_ragged(benchmark, files, impl):
    _run(benchmark, files(2520, 5000, True), impl, rounds=5)


@pytest.mark.large
@pytest.mark.benchmark(group="io read 2520x5000x8 dense")
@pytest.mark.parametrize("impl", list(IMPLS))
def test_read_large_dense(benchmark, files, impl):
    _run(benchmark, files(2520, 5000, False), impl, rounds=5)


# --- small: 504 dates × 1000 assets --------------------------------------------------------


@pytest.mark.benchmark(group="io read 504x1000x8 ragged")
@pytest.mark.parametrize("impl", list(IMPLS))
def test_read_small_ragged(benchmark, files, impl):
    _run(benchmark, files(504, 1000, True), impl, rounds=10)
