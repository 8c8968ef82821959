"""The pipeline on Dask: date-chunked panels, out of core and on ``dask.distributed``.

Install the extra: ``pip install ".[dask]"`` in the ferrofactor source tree, or
``pip install "ferrofactor[dask]"`` from a package index (``dask[array]`` and ``distributed``). The
core package never imports Dask; ``ff.dask`` is imported on first use.

What it is
----------
Every panel field here is a ``dask.array`` shaped ``(T, N)`` and chunked along dates only: each
block holds whole cross-sections (``chunks=((b0, b1, ...), (N,))``). Nothing is materialised
whole. The functions mirror the in-memory API and *call it on each block*, so a ``compute()``
gives the in-memory result bit for bit:

- :func:`read_universe` reads a partitioned (e.g. hive ``year=2020/``) Parquet dataset into a
  :class:`DaskPanel` (dates, assets, float fields, industry codes with their labels). Each block
  is one :func:`ferrofactor.read_universe` call over the files that hold its dates, plus the
  date before it (``returns`` on a block's first date needs the previous close).
- Cross-sectional kernels (:func:`winsorize`, :func:`standardize`, :func:`rank`,
  :func:`neutralize`, :func:`cross_section_regress`) are ``map_blocks`` over the date blocks.
- Rolling and exponentially weighted kernels (:func:`rolling_mean`, ..., :func:`ewm_std`,
  :func:`rolling_beta`, :func:`compounded_return`) run each block with the rows before it
  (an overlap): see "Overlaps" below. Kernels whose value at ``t`` depends on the whole history
  (full-history ``ewm_*`` with ``window=None``, :func:`max_drawdown`, whose log-wealth is a
  running sum from the first date, and any window at least ``T`` long) are run on blocks of
  whole columns (the array is rechunked by assets and back): each column's result depends only
  on that column, so this is exact too.
- :func:`compute_descriptors` and :meth:`DaskExposures.from_panel` build descriptors and style
  exposures block by block; ``ff.FactorModel().fit(dask_panel, dask_exposures)`` runs the
  regressions block by block (each block also gets the ``lag`` rows of exposures before it) and
  returns a :class:`DaskFactorModelResult`: factor returns ``(T, P)`` in memory, residuals
  ``(T, N)`` kept on the cluster; ``ff.RiskModel().fit(dask_result)`` runs the factor covariance
  in memory on the ``(T, K)`` factor returns and the specific risk on the cluster, block by
  block (:func:`specific_variance`: a chain of tasks, each holding one date block and the
  EWMA recursion state of ``3 + 3·nw_lags`` numbers per asset that the previous block left);
  the residuals are never gathered, the ``(T, N)`` outputs, exposures and cap are (the
  in-memory :class:`~ferrofactor.RiskModel` holds them for its products).
- Signal evaluation (:func:`evaluate`, :func:`forward_returns`,
  :func:`information_coefficient`, :func:`quantile_returns`, :func:`factor_weighted_returns`,
  :func:`quantile_turnover`, :func:`rank_autocorrelation`): the per-date parts run on the date
  blocks, each block with the dates before it that turnover and rank autocorrelation compare
  with (the horizons) and the dates after it that its forward returns and IC decay are about
  (a look-ahead tail of ``max(horizons, decay_lags)`` rows, by definition of a forward
  return); the time-series parts (means, Newey-West tests, mean turnover) run in memory on the
  gathered per-date outputs.

Time: exactly as in memory. Outside the signal evaluation a block never reads a row after its
last date (the overlaps only reach back; a column block's kernel reads its whole column, but
the kernels themselves never look ahead: row ``t`` of a column depends on its rows up to ``t``
only), so nothing is known earlier on Dask than in memory;
the evaluation's forward returns read the returns after each date, as in memory, and nothing
else.

Overlaps
--------
The Rust rolling kernels (``rust/rolling.rs``: sums, means, variances, the windowed ``ewm_*``,
``rolling_beta``, ``compounded_return``) keep running sums and re-anchor them (recompute them
from scratch over the window, with a fresh shift and precision reference) at the rows
``t % I == 0``, ``I = min(window, 512)``, of the array they are given. They also re-anchor at
once when the data ask for it (the window's variance cancelling against its shift, e.g. two
equal values in a window of 2 or 3; its sum of squares falling a million-fold below its peak
as an outlier leaves; a value beyond the window's scale), but those do not move the schedule.
So right after a scheduled re-anchoring over a full window the kernel's state depends on that
window alone, and each block is given the rows from a multiple of ``I`` at least
``window − 1`` rows before the block's first scheduled re-anchoring: the block then repeats the
in-memory arithmetic exactly. The overlap is between ``window − 1`` and ``window + 2I`` rows.
(Before the schedule was absolute, a data-triggered re-anchoring shifted every later one and a
block differed from the in-memory run in the last bits; ``tests/test_dask.py`` checks small
windows on stale, gappy data.)

Errors
------
Settings are checked when the graph is built (the in-memory function is called on a 1 × 1
probe, so the messages are the same). Errors that depend on the data (a negative weight, a
duplicate row) are raised by ``compute()`` (or by :func:`read_universe` / ``fit``, which
compute), with the in-memory message; a count in it (``(50 negative values found)``) is that of
the block of dates that raised it (for the evaluation, with the dates the block reads around
it), not of the whole array.

Labels, as in memory: the in-memory inputs beside the dask arrays (weights, cap, a signal, DaskPanel
fields) may be Polars frames, or pandas DataFrames indexed by date or with asset columns; a frame
keeps its labels, which must equal those of the labelled
inputs beside it (a DaskPanel's dates and assets, the exposures', another frame's, the
``dates``/``assets`` given), else the in-memory ``ValueError`` naming it, checked when the graph is
built; a frame is never paired by position with labelled inputs.

Distributed
-----------
Everything runs on whatever scheduler is active: the threaded one by default, or a
``dask.distributed.Client`` (``Client(LocalCluster(n_workers=2))`` or ``Client("tcp://scheduler:8786")``).
The Rust kernels release the GIL and use rayon threads: set ``RAYON_NUM_THREADS`` (in the
workers' environment) so that ``dask threads per worker × RAYON_NUM_THREADS`` is about the
number of cores of a worker's machine; see the README.

Graph keys
----------
Every block operation names its keys ``ff-<operation>-<token>`` (``ff-winsorize-…``,
``ff-dense-industry-…``, ``ff-evaluate-…``, ``ff-block-<function>-…`` for elementwise
descriptor steps), the token covering everything the output depends on: the block function
with its bound settings, the input arrays' names (tokens of their own inputs), chunks and
dtypes. The same call gives the same keys, so a block shared by several computations (the
dense industry codes read by ``fit`` and again by the evaluation) is computed under one key;
any other setting or input gives other keys.

The ``compute()``/``persist()`` methods here and ``fit`` submit their graphs culled but not
fused (``optimize_graph=False``), so a key is always the same task with the same dependencies.
Dask's default optimisation fuses a block into its neighbour in one graph and not in another
(depending on which outputs that graph asks for), and the distributed scheduler, still holding
the key from the first graph (a persisted result depends on it), then logs "Detected different
`run_spec` for key …" (https://github.com/dask/dask/issues/9888). When computing the arrays
of these objects yourself while earlier results are persisted on the cluster, pass
``optimize_graph=False`` to ``dask.compute``/``dask.persist`` for the same reason.
"""

from __future__ import annotations

import functools
import glob as _glob
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

try:
    import dask
    import dask.array as da
    from dask.core import flatten as _flatten
    from dask.highlevelgraph import HighLevelGraph
    from dask.utils import funcname as _funcname
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "ferrofactor.dask needs Dask (dask[array] and distributed): pip install \".[dask]\" in the "
        "ferrofactor source tree, or pip install \"ferrofactor[dask]\" from a package index"
    ) from exc

import polars as pl

from ferrofactor import _core, clean, descriptors as _desc, rolling as _rolling
from ferrofactor._validate import (
    _is_polars_frame,
    as_field,
    as_float_array,
    as_industry,
    by_date,
    check_bool,
    check_choice,
    check_int,
    check_real,
    check_same_labels,
    check_simple_returns,
    check_weights,
    refuse_inf,
    is_labelled_frame,
)
from ferrofactor.constants import PERIODS_PER_YEAR
from ferrofactor.exposures import Exposures
from ferrofactor.panel import Panel, _as_assets, _as_dates, _check_unique, _Fields, _frozen
from ferrofactor.results import readonly

__all__ = [
    "DaskExposures",
    "DaskFactorModelResult",
    "DaskPanel",
    "LazyCrossSection",
    "LazyQuantileReturns",
    "LazySignalEvaluation",
    "compounded_return",
    "compute_descriptors",
    "cross_section_regress",
    "evaluate",
    "ewm_mean",
    "ewm_std",
    "ewm_var",
    "factor_weighted_returns",
    "forward_returns",
    "information_coefficient",
    "market_return",
    "max_drawdown",
    "neutralize",
    "quantile_returns",
    "quantile_turnover",
    "rank",
    "rank_autocorrelation",
    "read_universe",
    "rolling_beta",
    "rolling_mean",
    "rolling_std",
    "rolling_sum",
    "rolling_var",
    "specific_variance",
    "standardize",
    "winsorize",
]

#: Re-anchoring interval cap of the Rust rolling kernels (``ANCHOR`` in rust/rolling.rs).
_ANCHOR = 512


#: Default dates per block (about one trading year).
DATES_PER_CHUNK = 252


# ---------------------------------------------------------------------------------------------
# Chunks and arrays
# ---------------------------------------------------------------------------------------------


def _date_chunks(name: str, chunks: Any, T: int) -> tuple[int, ...]:
    """Block lengths along dates from an int (dates per block) or a sequence summing to T."""
    if isinstance(chunks, (int, np.integer)) and not isinstance(chunks, bool):
        c = check_int(name, chunks, 1)
        if T == 0:
            return (0,)
        return tuple([c] * (T // c) + ([T % c] if T % c else []))
    if isinstance(chunks, Sequence) and not isinstance(chunks, str):
        out = tuple(check_int(f"{name}[{i}]", v, 1) for i, v in enumerate(chunks))
        if sum(out) != T:
            raise ValueError(f"{name} must sum to the number of dates ({T}), got {sum(out)}")
        return out
    raise TypeError(f"{name} must be an int (dates per block) or a sequence of block lengths, got {chunks!r}")


def _is_dask(x: Any) -> bool:
    return isinstance(x, da.Array)


def _integral_codes(block: np.ndarray, name: str) -> np.ndarray:
    """Float codes as int64, as in memory (:func:`ferrofactor._validate.as_industry`): every
    value finite and integral (codes read from a CSV), else a ``TypeError`` naming them (a cast
    would truncate 1.5 to 1, and NaN to a huge negative code); codes of 2^62 or more are a
    ``ValueError`` (floats that large have lost digits). int64, not int32: a 10-digit code read
    as a float (4510301010.0) is a label, which a cast to int32 turned into -2^31."""
    bad = ~(np.isfinite(block) & (block == np.round(block)))
    if bad.any():
        raise TypeError(f"{name} must be an integer code array, got dtype {block.dtype} with non-integer "
                        f"values (e.g. {float(block[bad].flat[0])!r}); use -1 for no industry")
    if block.size and not bool(np.all(np.abs(block) < 2**62)):
        raise ValueError(
            f"{name} holds integral codes as large as {float(np.abs(block).max()):.6g} in a "
            f"{block.dtype} array; codes must be integers that fit in int64 (floats that large "
            "have already lost digits, e.g. Python integers >= 2**63 that numpy turned into float64)"
        )
    return block.astype(np.int64)


def _code_block(name: str, n_labels: int, b: np.ndarray) -> np.ndarray:
    """A code field's block checked as :class:`ferrofactor.Panel` checks it (same messages):
    codes >= -1 that fit in int32 (a cast would wrap larger ones onto other labels) and name one
    of the ``n_labels`` labels; int32 out."""
    from ferrofactor._validate import as_code_array

    c = as_code_array(name, b, 2)
    if c.size and int(c.max()) >= n_labels:
        raise ValueError(f"{name} has code {int(c.max())} but only {n_labels} labels")
    return c


def _as_dask(name: str, x: Any, ndim: int, chunks0: tuple[int, ...], *, codes: bool = False,
             allow_none: bool = False, labelled: list | None = None) -> da.Array | None:
    """``x`` (a dask array or an array-like) as a dask array with blocks of whole cross-sections
    on the date blocks ``chunks0``; float64 (or the integer dtype of codes).

    ``labelled``: the labelled inputs of the call so far, ``(name, dates, assets)`` (a
    DaskPanel's, an Exposures', earlier frames'). A Polars frame ``x`` keeps its labels, as in
    memory: they must equal the first entry's (else a ``ValueError`` naming ``name``, never a
    pairing by position) and are appended. Without ``labelled`` (or with no labelled entry) a
    frame pairs by position, its rows in date order, as beside in-memory arrays."""
    if x is None:
        if allow_none:
            return None
        raise TypeError(f"{name} is required, got None")
    if isinstance(x, (DaskPanel, Panel)):
        raise TypeError(f"{name} must be an array, got a {type(x).__name__}; pass one of its fields")
    if _is_polars_frame(x) or (is_labelled_frame(x) and not codes and ndim == 2):
        if codes:  # as in memory (as_industry): codes are never read from a frame's columns
            raise TypeError(
                f"{name} must be an integer array of industry codes; for a frame of labels read it "
                "into a Panel (ff.read_universe / Panel.from_polars with codes=) and pass the Panel"
            )
        if ndim == 2 and labelled is not None:
            # a wide frame's rows come out in date order: fine beside labelled inputs (compared
            # below), ambiguous beside arrays paired row by row
            # (a pandas DataFrame indexed by date or with asset columns keeps its labels likewise)
            x, f_dates, f_assets = as_field(name, x, date_order=all(e[1] is None for e in labelled))
            if f_dates is not None or f_assets is not None:
                # each axis against the first entry that labels it (a pandas frame may label one)
                for ax, mine in ((1, (f_dates, None)), (2, (None, f_assets))):
                    first = next((e for e in labelled if e[ax] is not None), None)
                    if first is not None and mine[ax - 1] is not None:
                        theirs = (first[1], None) if ax == 1 else (None, first[2])
                        check_same_labels(name, *mine, first[0], *theirs,
                                          how=first[3] if len(first) > 3 else None)
                labelled.append((name, f_dates, f_assets))
    if _is_dask(x):
        if x.ndim != ndim:
            raise ValueError(f"{name} must be {ndim}-dimensional, got shape {x.shape}")
        kind = np.dtype(x.dtype).kind
        if codes:
            if kind not in "iuf":
                raise TypeError(f"{name} must be an integer array of industry codes, got dtype {x.dtype}")
            if kind == "f":  # integral floats (codes read from a CSV), checked block by block
                x = x.map_blocks(_integral_codes, name, dtype=np.int64)
        else:
            if kind not in "iufb":
                raise TypeError(f"{name} must be a numeric array, got dtype {x.dtype}")
            if x.dtype != np.float64:
                x = x.astype(np.float64)
    else:
        from ferrofactor._validate import _refuse_containers, as_array

        _refuse_containers(name, x)
        if codes:
            arr = as_array(name, x)
            if arr.dtype.kind not in "iuf":
                raise TypeError(f"{name} must be an integer array of industry codes, got dtype {arr.dtype}")
            if arr.dtype.kind == "f":
                arr = _integral_codes(arr, name)  # as ff.Panel: integral floats only
        else:
            arr = as_float_array(name, x, ndim)
        if arr.ndim != ndim:
            raise ValueError(f"{name} must be {ndim}-dimensional, got shape {arr.shape}")
        if arr.shape[0] != sum(chunks0):
            raise ValueError(f"{name} has {arr.shape[0]} dates, expected {sum(chunks0)}")
        x = da.from_array(arr, chunks=(chunks0,) + tuple(-1 for _ in range(ndim - 1)))
    if x.shape[0] != sum(chunks0):
        raise ValueError(f"{name} has {x.shape[0]} dates, expected {sum(chunks0)}")
    want = {0: chunks0, **{a: -1 for a in range(1, ndim)}}
    if x.chunks[0] != chunks0 or any(len(c) != 1 for c in x.chunks[1:]):
        x = x.rechunk(want)
    return x


def _gather(*arrays: da.Array | None, **kwargs: Any) -> list[np.ndarray | None]:
    """Compute dask arrays chunked by dates into numpy arrays in this process, block by block.

    ``dask.compute`` of a whole array would concatenate its blocks in one task on a worker (the
    whole array in one worker's memory) before sending it; here every block is computed and sent
    on its own and the blocks are joined here, so no worker ever holds more than its blocks."""
    parts = []
    for a in _culled(*arrays):  # unfused: "Graph keys" in the module docstring
        parts.append([] if a is None else list(a.to_delayed(optimize_graph=False).ravel()))
    flat = [d for p in parts for d in p]
    done = list(dask.compute(*flat, **{"optimize_graph": False, **kwargs})) if flat else []
    out: list[np.ndarray | None] = []
    k = 0
    for a, p in zip(arrays, parts):
        if a is None:
            out.append(None)
            continue
        blocks = done[k:k + len(p)]
        k += len(p)
        arr = np.empty(a.shape, dtype=a.dtype)
        row = 0
        for b in blocks:
            arr[row:row + b.shape[0]] = b
            row += b.shape[0]
        for i in range(len(p)):
            done[k - len(p) + i] = None  # free each block once copied
        out.append(arr)
    return out


def _check_shape(name: str, x: da.Array | None, shape: tuple[int, ...], what: str) -> None:
    if x is not None and tuple(x.shape[: len(shape)]) != tuple(shape):
        raise ValueError(f"{name} has shape {tuple(x.shape)}, expected {tuple(shape)} ({what})")


def _x(name: str, x: Any, ndim: int = 2) -> da.Array:
    """The main argument: a dask array (chunked by dates, rechunked to whole cross-sections)."""
    if not _is_dask(x):
        raise TypeError(
            f"{name} must be a dask array (T, N) chunked by dates, got {type(x).__name__}; "
            "use the in-memory function for numpy arrays, or dask.array.from_array(x, chunks=(b, -1))"
        )
    return _as_dask(name, x, ndim, x.chunks[0])


def _starts(chunks0: tuple[int, ...]) -> np.ndarray:
    return np.concatenate([[0], np.cumsum(chunks0)]).astype(np.int64)


def _meta(ndim: int, dtype: Any = np.float64) -> np.ndarray:
    return np.empty((0,) * ndim, dtype=dtype)


def _aligned(a: Any) -> Any:
    """A block as the Rust glue needs it: arrays that arrive from other worker processes can sit
    at unaligned addresses in the received frames (contiguous, but not 8-byte aligned); those
    are copied."""
    if isinstance(a, np.ndarray) and not a.flags.aligned:
        return a.copy()
    return a


def _call_aligned(fn, *blocks):
    return fn(*[_aligned(b) for b in blocks])


def _on_blocks(fn):
    """``fn`` for map_blocks/blockwise: every block argument aligned first."""
    return functools.partial(_call_aligned, fn)


def _op_name(op: str, *parts: Any) -> str:
    """The key name of one block operation: ``ff-<op>-<token>``, the token of everything its
    output depends on (the block function with its bound settings, the names of the input
    arrays, themselves tokens of their own inputs, chunks, dtypes). The same call gives the
    same keys; any other setting or input, other keys ("Graph keys" in the module docstring)."""
    return f"ff-{op}-{dask.base.tokenize(*parts)}"


def _names(*arrays: da.Array | None) -> list[str | None]:
    return [None if a is None else a.name for a in arrays]


def _map_blocks(op: str, fn, *arrays: da.Array | None, dtype: Any = np.float64) -> da.Array:
    """``fn`` (aligned blocks) over the date blocks of arrays with the chunks of ``arrays[0]``
    (None arguments passed as None), named :func:`_op_name` ``(op, fn, inputs, chunks, dtype)``."""
    first = arrays[0]
    dt = np.dtype(dtype)
    name = _op_name(op, fn, _names(*arrays), first.chunks, dt.str)
    return da.map_blocks(_on_blocks(fn), *arrays, name=name, dtype=dt, meta=_meta(first.ndim, dt),
                         chunks=first.chunks)


def _culled(*arrays: da.Array | None) -> list[da.Array | None]:
    """``arrays`` on one task graph holding only the tasks their blocks need, unoptimised
    (None stays None): what this module submits ("Graph keys" in the module docstring)."""
    present = [a for a in arrays if a is not None]
    if not present:
        return list(arrays)
    keys: set[Any] = set()
    for a in present:
        keys.update(_flatten(a.__dask_keys__()))
    dsk = dict(HighLevelGraph.merge(*[a.__dask_graph__() for a in present]).cull(keys))
    return [None if a is None else da.Array(HighLevelGraph.from_collections(a.name, dsk, dependencies=()),
                                            a.name, chunks=a.chunks, meta=a._meta) for a in arrays]


def _persist(*arrays: da.Array | None, **kwargs: Any) -> list[da.Array | None]:
    """``dask.persist`` of ``arrays`` as submitted by this module: unfused ("Graph keys")."""
    present = [a for a in _culled(*arrays) if a is not None]
    done = iter(dask.persist(*present, **{"optimize_graph": False, **kwargs}))
    return [None if a is None else next(done) for a in arrays]


def _run_block(func, lo: int, hi: int, skip: int, take: int, n_arrays: int, *parts):
    """Concatenate each input's chunks, cut rows ``[lo, hi)`` of the concatenation, call ``func``
    on them and keep the output rows ``[skip, skip + take)``."""
    locals_ = []
    k = 0
    for _ in range(n_arrays):
        n, offset = parts[k], parts[k + 1]
        chunks = parts[k + 2: k + 2 + n]
        k += 2 + n
        if n == 0:
            locals_.append(None)
            continue
        a = _aligned(chunks[0]) if n == 1 else np.concatenate(chunks, axis=0)
        locals_.append(a[lo - offset: hi - offset])
    out = func(*locals_)
    if isinstance(out, tuple):  # several outputs (_history_map_multi)
        return tuple(o[skip: skip + take] for o in out)
    return out[skip: skip + take]


def _history_map_multi(func, arrays: Sequence[da.Array | None], rows, outputs: Sequence[tuple[tuple[int, ...], Any]],
                       *, name: str = "ff-history") -> list[da.Array]:
    """:func:`_history_map` for a ``func`` returning a tuple of arrays (dates first): one task per
    block computes them all, and output ``k`` (trailing shape and dtype ``outputs[k]``) is a
    dask array picking the ``k``-th of each block's tuple."""
    packed = _history_map(func, arrays, rows, tail=(), dtype=object, name=name,
                          token_extra=[(tuple(t), np.dtype(d).str) for t, d in outputs])
    base = packed.__dask_graph__()
    chunks0 = packed.chunks[0]
    layers, deps = dict(base.layers), dict(base.dependencies)
    out = []
    for k, (tail, dtype) in enumerate(outputs):
        out_name = f"{packed.name}-out{k}"
        layers[out_name] = {(out_name, i) + (0,) * len(tail): (_pick_out, (packed.name, i), k)
                            for i in range(len(chunks0))}
        deps[out_name] = {packed.name}
        out.append((out_name, tail, dtype))
    graph = HighLevelGraph(layers, deps)
    return [da.Array(graph, n, chunks=(chunks0,) + tuple((m,) for m in tail), meta=_meta(1 + len(tail), dtype))
            for n, tail, dtype in out]


def _pick_out(block, k):
    return block[k]


def _history_map(func, arrays: Sequence[da.Array | None], rows, *, tail: tuple[int, ...],
                 dtype: Any = np.float64, name: str = "ff-history", token_extra: Any = None) -> da.Array:
    """Map ``func`` over the date blocks of ``arrays[0]`` with rows around each block.

    ``rows(s, e) -> (r0, r1)`` gives the rows each block ``[s, e)`` is computed from
    (``r0 <= s``, ``r1 >= e``); ``func(*local)`` gets every array's rows ``[r0, r1)`` (None stays
    None) and returns an array of ``r1 - r0`` rows whose rows ``[s - r0, e - r0)`` are kept.
    Every input must have the date chunks of ``arrays[0]`` and whole cross-sections. The output
    has those date chunks and trailing shape ``tail``; its key name is ``name`` and the token of
    ``func`` (with its bound settings), the inputs, the rows, ``tail``, ``dtype`` and
    ``token_extra``.
    """
    first = arrays[0]
    chunks0 = first.chunks[0]
    st = _starts(chunks0)
    T = int(st[-1])
    spans = [rows(int(st[i]), int(st[i + 1])) for i in range(len(chunks0))]
    token = dask.base.tokenize(func, _names(*arrays), spans, chunks0, tail, np.dtype(dtype).str, token_extra)
    out_name = f"{name}-{token}"
    dsk = {}
    for i in range(len(chunks0)):
        s, e = int(st[i]), int(st[i + 1])
        r0, r1 = spans[i]
        if not (0 <= r0 <= s <= e <= r1 <= T):  # pragma: no cover - a bug in a rows() rule
            raise AssertionError(f"bad rows ({r0}, {r1}) for block ({s}, {e})")
        # blocks j0..j1-1 hold rows [r0, r1); clamped to the blocks that exist (an empty axis has
        # one block of 0 rows, whose start equals the end of the axis)
        j0 = min(int(np.searchsorted(st, r0, side="right") - 1), len(chunks0) - 1)
        j1 = min(int(np.searchsorted(st, max(r1, r0 + 1), side="left")), len(chunks0))
        args: list[Any] = []
        for a in arrays:
            if a is None:
                args.extend([0, 0])
                continue
            zeros = (0,) * (a.ndim - 1)
            keys = [(a.name, j) + zeros for j in range(j0, max(j1, j0 + 1))]
            args.extend([len(keys), int(st[j0])])
            args.extend(keys)
        dsk[(out_name, i) + (0,) * len(tail)] = (
            _run_block, func, r0, r1, s - r0, e - s, len(arrays), *args
        )
    graph = HighLevelGraph.from_collections(out_name, dsk, dependencies=[a for a in arrays if a is not None])
    return da.Array(graph, out_name, chunks=(chunks0,) + tuple((n,) for n in tail),
                    meta=_meta(1 + len(tail), dtype))


def _same_rows(s: int, e: int) -> tuple[int, int]:
    return s, e


def _anchored_rows(window: int, T: int, shift: int = 0):
    """Rows a block needs so that a Rust rolling kernel of this ``window`` repeats the in-memory
    arithmetic (module docstring, "Overlaps"). ``shift``: the output at ``t`` reads the accumulator at
    ``t − shift`` (``compounded_return``'s skip)."""
    interval = min(window, _ANCHOR)
    k = -(-(window - 1) // interval)  # ceil((window - 1) / interval)

    def rows(s: int, e: int) -> tuple[int, int]:
        p = s - shift
        if p <= 0:
            r0 = 0
        else:
            r0 = max(0, (p // interval) * interval - k * interval)
        return r0, e

    return rows


def _by_asset(func, x: da.Array, n_out: int = 1, extra: Sequence[Any] = ()) -> Any:
    """Run a per-column time-series ``func(x_block, *extra)`` on blocks of whole columns and
    return the result(s) chunked like ``x`` (by dates). ``extra``: (T,) inputs shared by every
    column (the market), given whole to every task (lazily: nothing is computed here); one task
    per column block computes all ``n_out`` outputs."""
    T, N = x.shape
    per_block = max(1, max(x.chunks[0]) if x.chunks[0] else 1)
    cols = max(16, int(math.ceil(N * per_block / max(T, 1))))
    xa = x.rechunk({0: -1, 1: cols})
    args: list[Any] = [xa, "ij"]
    for e in extra:
        e = e if _is_dask(e) else da.from_array(np.asarray(e, dtype=np.float64))
        args.extend([e.rechunk(-1), "i"])
    fn = functools.partial(_stacked, func, n_out)
    name = _op_name("by-asset", fn, [a.name if _is_dask(a) else a for a in args], xa.chunks)
    stacked = da.blockwise(_on_blocks(fn), "kij", *args, name=name, new_axes={"k": n_out},
                           dtype=np.float64, meta=_meta(3))
    outs = [stacked[k].rechunk({0: x.chunks[0], 1: -1}) for k in range(n_out)]
    return outs[0] if n_out == 1 else tuple(outs)


def _stacked(func, n_out, *blocks):
    r = func(*blocks)
    return np.stack(r) if n_out > 1 else r[None]


# ---------------------------------------------------------------------------------------------
# DaskPanel
# ---------------------------------------------------------------------------------------------


class DaskPanel(_Fields):
    """A :class:`ferrofactor.Panel` whose fields are dask arrays chunked by dates.

    Each field is ``(T, N)`` (float64 fields; int32 code fields with their labels), chunked
    ``((b0, b1, ...), (N,))``: every block holds whole cross-sections, all fields share the
    same date blocks. ``compute()`` gives the in-memory :class:`~ferrofactor.Panel`.

    Parameters
    ----------
    dates : array-like (T,)
        Strictly increasing dates (``datetime64[D]`` or ISO strings).
    assets : array-like of str (N,)
        Unique asset ids.
    fields : mapping of name → dask array or array-like (T, N), optional
        Float fields; array-likes are wrapped, dask arrays rechunked to the date blocks.
    codes : mapping of name → (codes, labels), optional
        Integer code fields (-1 = none) and their labels (``labels[c]`` names code ``c``).
    chunks : int or sequence of int, optional
        Dates per block (or the block lengths). Default: the date blocks of the first dask
        field given, else 252.

    Examples
    --------
    >>> import ferrofactor as ff, ferrofactor.dask as ffd
    >>> p = ff.datasets.synthetic_universe(n_assets=50, n_days=60, seed=0)
    >>> dp = ffd.DaskPanel.from_panel(p, chunks=25)
    >>> dp.chunks, dp["returns"].chunks[1]
    ((25, 25, 10), (50,))
    """

    def __init__(self, dates: Any, assets: Any, fields: Mapping[str, Any] | None = None,
                 codes: Mapping[str, tuple[Any, Any]] | None = None, *, chunks: Any = None) -> None:
        d = _as_dates("dates", dates)
        if d.size > 1 and not np.all(d[1:] > d[:-1]):
            raise ValueError("dates must be strictly increasing (sorted, unique)")
        a = _as_assets("assets", assets)
        _check_unique("assets", a)
        T, N = len(d), len(a)
        for arg, m in (("fields", fields), ("codes", codes)):
            if m is not None and not isinstance(m, Mapping):
                raise TypeError(f"{arg} must be a mapping of name → array, got {type(m).__name__}")
        if chunks is None:
            first = next((v for v in (fields or {}).values() if _is_dask(v)), None)
            if first is None:
                first = next((v[0] for v in (codes or {}).values()
                              if isinstance(v, tuple) and len(v) == 2 and _is_dask(v[0])), None)
            chunks0 = first.chunks[0] if first is not None and first.shape[0] == T else _date_chunks("chunks", DATES_PER_CHUNK, T)
        else:
            chunks0 = _date_chunks("chunks", chunks, T)
        self._dates, self._assets, self._chunks = _frozen(d), _frozen(a), tuple(chunks0)
        self._float: dict[str, da.Array] = {}
        self._codes: dict[str, da.Array] = {}
        self._labels: dict[str, np.ndarray] = {}
        # a Polars frame keeps its labels: they must be the panel's (same order), as in memory
        how = ("give the frame on the panel's dates and assets, in the panel's order (or build the "
               "panel on the frame's labels)")
        panel_labels = [("the panel", d, a, how)]
        for name, x in (fields or {}).items():
            if not isinstance(name, str):
                raise TypeError(f"field names must be strings, got {name!r}")
            arr = _as_dask(f"field {name!r}", x, 2, self._chunks, labelled=list(panel_labels))
            _check_shape(f"field {name!r}", arr, (T, N), "len(dates), len(assets)")
            self._float[name] = arr
        for name, pair in (codes or {}).items():
            if name in self._float:
                raise ValueError(f"field {name!r} is given both as a float field and a code field")
            if not (isinstance(pair, tuple) and len(pair) == 2):
                raise TypeError(f"code field {name!r} must be a (codes, labels) tuple")
            c = _as_dask(f"code field {name!r}", pair[0], 2, self._chunks, codes=True)
            _check_shape(f"code field {name!r}", c, (T, N), "len(dates), len(assets)")
            labels = _as_assets(f"labels of code field {name!r}", pair[1])
            _check_unique(f"labels of code field {name!r}", labels)
            # checked as in memory (>= -1, int32, a label each): at once for an in-memory array,
            # block by block for a dask array (an int64 code of 2^32 + 1 was cast to label 1)
            check = functools.partial(_code_block, f"code field {name!r}", len(labels))
            if not _is_dask(pair[0]):
                check(np.asarray(pair[0]))
            c = _map_blocks("code-field", check, c, dtype=np.int32)
            self._codes[name] = c
            self._labels[name] = _frozen(labels)

    @classmethod
    def from_panel(cls, panel: Panel, chunks: Any = DATES_PER_CHUNK) -> DaskPanel:
        """An in-memory Panel split into date blocks (``chunks``: dates per block or lengths)."""
        if not isinstance(panel, Panel):
            raise TypeError(f"panel must be a ferrofactor.Panel, got {type(panel).__name__}")
        c = _date_chunks("chunks", chunks, panel.shape[0])
        return cls(panel.dates, panel.assets, {k: panel[k] for k in panel.float_fields},
                   {k: (panel[k], panel.labels(k)) for k in panel.code_fields}, chunks=c)

    @classmethod
    def _trusted(cls, dates, assets, chunks, fields, codes, labels) -> DaskPanel:
        obj = cls.__new__(cls)
        obj._dates, obj._assets, obj._chunks = _frozen(dates), _frozen(assets), tuple(chunks)
        obj._float, obj._codes = dict(fields), dict(codes)
        obj._labels = {k: _frozen(v) for k, v in labels.items()}
        return obj

    dates = property(lambda self: self._dates, doc="(T,) datetime64[D], strictly increasing.")
    assets = property(lambda self: self._assets, doc="(N,) str, unique.")
    chunks = property(lambda self: self._chunks, doc="Dates per block, e.g. (252, 252, 16).")

    def __repr__(self) -> str:
        T, N = self.shape
        span = f"{self._dates[0]}..{self._dates[-1]}" if T else "no dates"
        return (f"DaskPanel(T={T}, N={N}, {span}, {len(self._chunks)} blocks, "
                f"fields={list(self._float)}, codes={list(self._codes)})")

    def with_fields(self, fields: Mapping[str, Any] | None = None,
                    codes: Mapping[str, tuple[Any, Any]] | None = None) -> DaskPanel:
        """A new DaskPanel with ``fields``/``codes`` added or replaced (others shared)."""
        f = dict(self._float)
        c = {k: (v, self._labels[k]) for k, v in self._codes.items()}
        for k in fields or {}:
            c.pop(k, None)
        for k in codes or {}:
            f.pop(k, None)
        f.update(fields or {})
        c.update(codes or {})
        return DaskPanel(self._dates, self._assets, f, c, chunks=self._chunks)

    def compute(self, **kwargs: Any) -> Panel:
        """The in-memory :class:`~ferrofactor.Panel` (all fields computed in one pass)."""
        names = list(self._float) + list(self._codes)
        arrays = _gather(*[self[n] for n in names], **kwargs)
        vals = dict(zip(names, arrays))
        return Panel(self._dates, self._assets, {k: vals[k] for k in self._float},
                     {k: (vals[k], self._labels[k]) for k in self._codes})

    def persist(self, **kwargs: Any) -> DaskPanel:
        """The same panel with every field persisted (on the cluster with a distributed Client)."""
        names = list(self._float) + list(self._codes)
        arrays = _persist(*[self[n] for n in names], **kwargs)
        vals = dict(zip(names, arrays))
        return DaskPanel._trusted(self._dates, self._assets, self._chunks,
                                  {k: vals[k] for k in self._float}, {k: vals[k] for k in self._codes},
                                  self._labels)

    def rechunk(self, chunks: Any) -> DaskPanel:
        """The same fields in other date blocks (dates per block, or the block lengths)."""
        c = _date_chunks("chunks", chunks, self.shape[0])
        return DaskPanel._trusted(self._dates, self._assets, c,
                                  {k: v.rechunk({0: c}) for k, v in self._float.items()},
                                  {k: v.rechunk({0: c}) for k, v in self._codes.items()}, self._labels)


# ---------------------------------------------------------------------------------------------
# Reading a partitioned Parquet dataset
# ---------------------------------------------------------------------------------------------


def _parquet_files(prices: Any) -> tuple[list[str], set[str]]:
    """The Parquet files of ``prices`` (a directory, a glob or a list of paths) and the hive
    partition keys (``key=value`` directory names) found in their paths. A directory means the
    files ``ff.read_universe`` reads for it (``ferrofactor.io._directory_files``: every
    ``*.parquet``/``*.pq`` below it)."""
    from ferrofactor.io import _directory_files

    if isinstance(prices, (list, tuple)):
        files = [os.fspath(p) for p in prices]
        if not files:
            raise ValueError("prices: the list of files is empty")
        for f in files:
            if not os.path.isfile(f):
                raise FileNotFoundError(f"prices: no file {f!r}")
        root = os.path.commonpath([os.path.dirname(os.path.abspath(f)) for f in files])
    elif isinstance(prices, (str, os.PathLike)):
        path = os.fspath(prices)
        if os.path.isdir(path):
            root = path
            files = _directory_files(path, "parquet")
        else:
            root = None
            files = sorted(_glob.glob(path, recursive=True))
        if not files:
            raise FileNotFoundError(f"prices: no Parquet file matches {path!r}")
    else:
        raise TypeError(
            "prices must be a directory of Parquet files (e.g. hive partitions year=2020/...), a "
            f"glob, or a list of Parquet paths; got {type(prices).__name__}"
        )
    keys: set[str] = set()
    for f in files:
        rel = os.path.relpath(os.path.dirname(os.path.abspath(f)), os.path.abspath(root)) if root else os.path.dirname(f)
        for part in rel.split(os.sep):
            if "=" in part:
                keys.add(part.split("=", 1)[0])
    return files, keys


def _file_axes(path: str, date: str, asset: str, date_format: str | None):
    """Distinct days (int64, days since 1970) and asset ids (str) of one Parquet file."""
    from ferrofactor.panel import _polars_errors, _series_to_days

    what = f"prices: {path!r} as parquet"
    with _polars_errors(what):
        lf = pl.scan_parquet(path, hive_partitioning=False)
        schema = lf.collect_schema()
    missing = [c for c in (date, asset) if c not in schema]
    if missing:
        raise ValueError(f"{what}: missing columns {missing}; columns are {list(schema.names())}")
    with _polars_errors(what):
        d = lf.select(pl.col(date).unique()).collect().to_series()
        a = lf.select(pl.col(asset).unique()).collect().to_series()
    try:
        days = _series_to_days(date, d, date_format)
    except ValueError as e:
        raise ValueError(f"{what}: {e}") from None
    if a.null_count():
        raise ValueError(f"{what}: column {asset!r} has missing asset ids")
    return (np.unique(days.astype(np.int64)), np.asarray(a.cast(pl.String).to_list(), dtype=str),
            schema[date])


def _classification_labels(source: Any, code: str, format: str | None, null_values: Any = None):
    """The labels :func:`ferrofactor.read_classifications` gives the whole source (sorted values,
    or the categories of an Enum; a CSV read with the same ``null_values``), or None when the
    column cannot be read (the block reader then reports the error)."""
    from ferrofactor.io import _format_for, read_frame
    from ferrofactor.panel import _label_codes, _schema

    try:
        # a CSV's codes as text, as read_classifications reads them
        frame = read_frame(source, format=_format_for(source, format), string_columns=[code],
                           null_values=null_values)
        if code not in _schema(frame):
            return None
        s = frame.select(code).collect().to_series() if isinstance(frame, pl.LazyFrame) else frame[code]
        return _label_codes(s)[1]
    except (ValueError, TypeError, FileNotFoundError, pl.exceptions.PolarsError):
        return None


def _read_block(files, local_dates, assets, drop_first, date, fundamentals, classifications,
                date_is_date, expected, kwargs):
    """One block of :func:`read_universe`: ``ff.read_universe`` over ``files`` on ``local_dates``
    (the block's dates, preceded by the date before it when ``drop_first``)."""
    from ferrofactor.io import read_universe as _read

    lf = pl.scan_parquet(list(files), hive_partitioning=False)
    if date_is_date and len(local_dates):
        lo, hi = local_dates[0].astype(object), local_dates[-1].astype(object)
        lf = lf.filter(pl.col(date).is_between(lo, hi))
    p = _read(lf, fundamentals, classifications, dates=local_dates, assets=assets, **kwargs)
    if expected is not None and tuple(p.fields) != tuple(expected):
        raise ValueError(
            f"prices: the files of dates {local_dates[0]}..{local_dates[-1]} give fields "
            f"{list(p.fields)}, the first files {list(expected)}; give every file the same columns "
            "(or pass price_fields=)"
        )
    k = 1 if drop_first else 0
    out = {f: np.ascontiguousarray(p[f][k:]) for f in p.fields}
    labels = {f: p.labels(f) for f in p.code_fields}
    return out, labels


def read_universe(
    prices: Any,
    fundamentals: Any = None,
    classifications: Any = None,
    *,
    chunks: Any = DATES_PER_CHUNK,
    date: str = "date",
    asset: str = "asset",
    date_format: str | None = None,
    price_fields: Sequence[str] | None = None,
    close: str = "close",
    adjusted_close: str | None = None,
    shares: str | None = "shares",
    volume: str | None = "volume",
    report_date: str = "report_date",
    report_lag_days: int = 1,
    max_staleness: int | None = 365,
    fundamental_fields: Sequence[str] | None = None,
    industry: str = "industry",
    classification_date: str = "date",
    classification_lag_days: int = 0,
    industry_labels: Sequence[str] | None = None,
    format: str | None = None,
    dates: Any = None,
    assets: Any = None,
    null_values: str | Sequence[str] | None = None,
) -> DaskPanel:
    """:func:`ferrofactor.read_universe` over a partitioned Parquet dataset, as a :class:`DaskPanel`.

    The prices are long rows (``date``, ``asset``, price columns) in many Parquet files, e.g. hive
    partitions ``prices/year=2020/part-0.parquet``. The axes come from one pass over the ``date``
    and ``asset`` columns of each file (a task per file); each block of ``chunks`` dates is then
    one :func:`ferrofactor.read_universe` call over the files holding its dates (and the date
    before it, for the block's first ``returns``), with the fundamentals and classifications
    read point in time on the block's dates and the industry labels of the whole
    classifications source. So ``read_universe(...).compute()`` equals ``ff.read_universe`` of
    the same path (``ff.read_universe("prices/", ...)`` reads a directory by the same rule),
    field for field and bit for bit.

    Parameters
    ----------
    prices : directory, glob or list of Parquet paths
        A directory is searched recursively for ``*.parquet``/``*.pq`` (as in memory). The
        ``date`` column must be stored in the files (partition keys in directory names, such as
        ``year=2020``, are storage layout and never become fields).
    fundamentals, classifications : path/glob/directory or polars DataFrame/LazyFrame, optional
        As for :func:`ferrofactor.read_universe` (every block reads them; a frame is shipped to
        each worker once). SQL sources are not supported here (connections do not travel).
    chunks : int or sequence of int, default 252
        Dates per block (or the block lengths).
    date, asset, date_format, price_fields, close, adjusted_close, shares, volume, report_date,
    report_lag_days, max_staleness, fundamental_fields, industry, classification_date,
    classification_lag_days, industry_labels, format, dates, assets, null_values
        As for :func:`ferrofactor.read_universe` (``format`` and ``null_values`` apply to the
        fundamentals and classifications; the prices are Parquet). Categorical price columns are refused (their
        codes would depend on the block): leave them out with ``price_fields``.

    Returns
    -------
    DaskPanel
        Same fields, order, dates, assets and industry labels as the in-memory call.

    Raises
    ------
    ValueError, TypeError, FileNotFoundError
        As :func:`ferrofactor.read_universe` (errors of the axis pass and of the first block are
        raised here; those of later blocks by ``compute()``).
    """
    from ferrofactor.io import _check_days, _check_null_values
    from ferrofactor.panel import _check_date_format

    for arg, val in (("date", date), ("asset", asset), ("close", close), ("report_date", report_date),
                     ("industry", industry), ("classification_date", classification_date)):
        if not isinstance(val, str):
            raise TypeError(f"{arg} must be a column name (str), got {type(val).__name__}")
    report_lag_days = _check_days("report_lag_days", report_lag_days)
    max_staleness = _check_days("max_staleness", max_staleness, allow_none=True)
    classification_lag_days = _check_days("classification_lag_days", classification_lag_days)
    _check_date_format(date_format)
    null_values = _check_null_values(null_values)
    for arg, src in (("fundamentals", fundamentals), ("classifications", classifications)):
        if src is not None and not isinstance(src, (str, os.PathLike, pl.DataFrame, pl.LazyFrame)):
            raise TypeError(
                f"{arg} must be a path/glob or a polars DataFrame/LazyFrame for ff.dask.read_universe, "
                f"got {type(src).__name__} (SQL connections cannot be sent to workers: read the "
                "query into a polars DataFrame first)"
            )
    if isinstance(fundamentals, pl.LazyFrame):
        fundamentals = fundamentals.collect()
    if isinstance(classifications, pl.LazyFrame):
        classifications = classifications.collect()
    files, _hive_keys = _parquet_files(prices)

    # 1. axes: distinct dates and assets of every file (a task per file), industry labels
    tasks = [dask.delayed(_file_axes, pure=True)(f, date, asset, date_format) for f in files]
    lab_task = None
    if classifications is not None and industry_labels is None:
        lab_task = dask.delayed(_classification_labels, pure=True)(classifications, industry, format, null_values)
    got = dask.compute(*tasks, lab_task)
    axes, labels = got[:-1], got[-1]
    if industry_labels is not None:
        labels = industry_labels
    file_lo = np.array([int(a[0][0]) if len(a[0]) else np.iinfo(np.int64).max for a in axes])
    file_hi = np.array([int(a[0][-1]) if len(a[0]) else np.iinfo(np.int64).min for a in axes])
    date_is_date = all(a[2] == pl.Date for a in axes)
    if dates is None:
        all_days = np.unique(np.concatenate([a[0] for a in axes])) if axes else np.zeros(0, np.int64)
        d_axis = all_days.astype("datetime64[D]")
    else:
        d_axis = _as_dates("dates", dates)
        if d_axis.size > 1 and not np.all(d_axis[1:] > d_axis[:-1]):
            raise ValueError("dates must be strictly increasing (sorted, unique)")
    if assets is None:
        a_axis = np.unique(np.concatenate([a[1] for a in axes])) if axes else np.array([], dtype=str)
    else:
        a_axis = _as_assets("assets", assets)
        _check_unique("assets", a_axis)
    T, N = len(d_axis), len(a_axis)
    if T == 0 or N == 0:
        raise ValueError("prices: empty input: the data has no rows")
    c = _date_chunks("chunks", chunks, T)
    st = _starts(c)
    days = d_axis.astype(np.int64)

    kwargs = dict(
        date=date, asset=asset, date_format=date_format, price_fields=price_fields, close=close,
        adjusted_close=adjusted_close, shares=shares, volume=volume, report_date=report_date,
        report_lag_days=report_lag_days, max_staleness=max_staleness,
        fundamental_fields=fundamental_fields, industry=industry,
        classification_date=classification_date, classification_lag_days=classification_lag_days,
        industry_labels=None if labels is None else list(labels), format=format, null_values=null_values,
    )

    def block_args(s: int, e: int):
        r0 = max(0, s - 1)
        lo, hi = days[r0], days[e - 1]
        fs = [f for f, a, b in zip(files, file_lo, file_hi) if a <= hi and b >= lo]
        return fs, d_axis[r0:e], s > 0

    # 2. the first date, in a task: the fields, and every error a block would raise on its rows
    fs, ld, _ = block_args(0, 1)
    probe_out, probe_labels = dask.compute(dask.delayed(_read_block, pure=True)(
        fs or files[:1], ld, a_axis, False, date, fundamentals, classifications, date_is_date, None, kwargs))[0]
    fields = list(probe_out)
    codes = [f for f in fields if probe_out[f].dtype == np.int32]
    other = [f for f in codes if f != "industry"]
    if other:
        raise ValueError(
            f"prices: categorical columns {other} would get codes that depend on the block; leave "
            "them out with price_fields= (or read them with ff.read_universe)"
        )

    # 3. the graph: one read task per block, one getitem per field and block
    token = dask.base.tokenize(files, [os.path.getmtime(f) for f in files], d_axis, a_axis,
                               _source_token(fundamentals), _source_token(classifications),
                               sorted(kwargs.items(), key=lambda kv: kv[0]).__repr__(), c)
    read_name = f"ff-read-universe-{token}"
    layer: dict[Any, Any] = {}
    # The read tasks are roots of the graph (the asset axis goes into each of them), which the
    # distributed scheduler queues rather than starting every read at once.
    fund_ref, cls_ref = fundamentals, classifications
    if isinstance(fundamentals, pl.DataFrame):
        fund_ref = (f"ff-fundamentals-{token}",)
        layer[fund_ref] = fundamentals
    if isinstance(classifications, pl.DataFrame):
        cls_ref = (f"ff-classifications-{token}",)
        layer[cls_ref] = classifications
    for i in range(len(c)):
        fs, ld, drop = block_args(int(st[i]), int(st[i + 1]))
        layer[(read_name, i)] = (_read_block, fs, ld, a_axis, drop, date, fund_ref, cls_ref,
                                 date_is_date, tuple(fields), kwargs)
    layers = {read_name: layer}
    deps: dict[str, set[str]] = {read_name: set()}
    out_f, out_c = {}, {}
    for f in fields:
        name = f"ff-field-{f}-{token}"
        layers[name] = {(name, i, 0): (_field_of, (read_name, i), f) for i in range(len(c))}
        deps[name] = {read_name}
    graph = HighLevelGraph(layers, deps)
    for f in fields:
        name = f"ff-field-{f}-{token}"
        dt = np.int32 if f in codes else np.float64
        arr = da.Array(graph, name, chunks=(c, (N,)), meta=_meta(2, dt))
        (out_c if f in codes else out_f)[f] = arr
    lab = {f: np.asarray(probe_labels[f]) for f in out_c}
    return DaskPanel._trusted(d_axis, a_axis, c, out_f, out_c, lab)


def _source_token(src: Any) -> Any:
    """What identifies a fundamentals/classifications source in the read's key: a frame's
    column names, dtypes and row hashes (in order), a file's path and modification time."""
    if isinstance(src, pl.DataFrame):
        return ("frame", src.columns, [str(t) for t in src.dtypes], src.hash_rows().to_numpy())
    if isinstance(src, (str, os.PathLike)):
        path = os.fspath(src)
        if os.path.isdir(path):
            files = [f for f in _glob.glob(os.path.join(path, "**", "*"), recursive=True) if os.path.isfile(f)]
        else:
            files = [path] if os.path.exists(path) else _glob.glob(path, recursive=True)
        return ("path", path, [(f, os.path.getmtime(f)) for f in sorted(files)])
    return src


def _field_of(block: tuple[dict, dict], name: str) -> np.ndarray:
    return block[0][name]


# ---------------------------------------------------------------------------------------------
# Industry codes
# ---------------------------------------------------------------------------------------------


def _dense_industry(name: str, industry: da.Array, names: Any) -> tuple[da.Array, list[str]]:
    """Dense int32 industry codes (lazy) and their labels, exactly as :func:`as_industry` maps the
    whole array: with ``names`` None the distinct code values of the whole array are found first
    (one pass over it: ``dask.array.unique``)."""
    if names is None:
        # (dask's unique cannot reshape an empty array)
        values = (np.asarray(dask.compute(*_culled(da.unique(industry)), optimize_graph=False)[0]) if industry.size
                  else np.zeros(0, dtype=np.int64))
        if values.dtype.kind == "f":
            if not np.all(np.isfinite(values) & (values == np.round(values))):
                raise TypeError(f"{name} must be an integer array of industry codes, got dtype {values.dtype}")
            values = values.astype(np.int64)
        if values.size and int(values.min()) < -1:
            raise ValueError(f"{name} codes must be >= -1 (-1 = none), got minimum {int(values.min())}")
        mapping: Any = {int(v): str(int(v)) for v in values.tolist() if v != -1}
    else:
        mapping = names
    labels = as_industry(name, np.full((0, 0), -1, dtype=np.int64), None, mapping)[1] if not (
        isinstance(mapping, Mapping) and not mapping) else []

    codes = _map_blocks("dense-industry", functools.partial(_dense_block, name, mapping), industry, dtype=np.int32)
    return codes, labels


def _dense_block(name: str, mapping: Any, b: np.ndarray) -> np.ndarray:
    if isinstance(mapping, Mapping) and not mapping:  # every code is -1
        return as_industry(name, b)[0]
    return as_industry(name, b, None, mapping)[0]


# ---------------------------------------------------------------------------------------------
# Cross-sectional kernels (map_blocks over date blocks)
# ---------------------------------------------------------------------------------------------


def _probe(fn, *args, **kwargs) -> None:
    """Check the settings of an in-memory call on a 1 × 1 block (same errors, same messages)."""
    fn(*args, **kwargs)


_NAN11 = np.full((1, 1), np.nan)
_NONE11 = np.full((1, 1), -1, dtype=np.int32)


def winsorize(x: Any, method: str = "sigma", limit: float = 3.0, weights: Any = None,
              industry: Any = None) -> da.Array:
    """:func:`ferrofactor.winsorize` on each date block of a dask array ``x`` (T, N).

    ``weights`` and ``industry`` (T, N): dask arrays or array-likes (put on ``x``'s date blocks).
    Returns a dask array (T, N) float64 with ``x``'s chunks; ``compute()`` equals the in-memory
    call bit for bit (the statistics of a date never leave its row).
    """
    xd = _x("x", x)
    _probe(clean.winsorize, _NAN11, method, limit, weights=None if weights is None else _NAN11,
           industry=None if industry is None else _NONE11)
    w = _as_dask("weights", weights, 2, xd.chunks[0], allow_none=True)
    g = _as_dask("industry", industry, 2, xd.chunks[0], codes=True, allow_none=True)
    _check_shape("weights", w, xd.shape, "the shape of x")
    _check_shape("industry", g, xd.shape, "the shape of x")
    fn = functools.partial(_winsorize_block, method, limit)
    return _map_blocks("winsorize", fn, xd, w, g)


def _winsorize_block(method, limit, x, w, g):
    return clean.winsorize(x, method, limit, weights=w, industry=g)


def standardize(x: Any, weights: Any = None, industry: Any = None, winsorize: str | None = None,
                limit: float = 3.0) -> da.Array:
    """:func:`ferrofactor.standardize` on each date block of ``x`` (T, N); see :func:`winsorize`."""
    xd = _x("x", x)
    _probe(clean.standardize, _NAN11, weights=None if weights is None else _NAN11,
           industry=None if industry is None else _NONE11, winsorize=winsorize, limit=limit)
    w = _as_dask("weights", weights, 2, xd.chunks[0], allow_none=True)
    g = _as_dask("industry", industry, 2, xd.chunks[0], codes=True, allow_none=True)
    _check_shape("weights", w, xd.shape, "the shape of x")
    _check_shape("industry", g, xd.shape, "the shape of x")
    fn = functools.partial(_standardize_block, winsorize, limit)
    return _map_blocks("standardize", fn, xd, w, g)


def _standardize_block(method, limit, x, w, g):
    return clean.standardize(x, weights=w, industry=g, winsorize=method, limit=limit)


def rank(x: Any, gaussian: bool = False) -> da.Array:
    """:func:`ferrofactor.rank` on each date block of ``x`` (T, N)."""
    xd = _x("x", x)
    gaussian = check_bool("gaussian", gaussian)
    return _map_blocks("rank", functools.partial(_rank_block, gaussian), xd)


def _rank_block(gaussian, x):
    return clean.rank(x, gaussian=gaussian)


def neutralize(x: Any, controls: Any = None, industry: Any = None, weights: Any = None) -> da.Array:
    """:func:`ferrofactor.neutralize` on each date block of ``x`` (T, N).

    ``controls`` (T, N, C), ``industry`` and ``weights`` (T, N): dask arrays or array-likes.
    Industry codes are mapped to dense codes over the whole array first, as in memory (one pass
    over ``industry`` when this is called).
    """
    xd = _x("x", x)
    T, N = xd.shape
    ctl = _as_dask("controls", controls, 3, xd.chunks[0], allow_none=True)
    if ctl is not None and tuple(ctl.shape[:2]) != (T, N):
        raise ValueError(f"controls has shape {tuple(ctl.shape)}, expected ({T}, {N}, C) to match x {xd.shape}")
    w = _as_dask("weights", weights, 2, xd.chunks[0], allow_none=True)
    _check_shape("weights", w, xd.shape, f"to match x {xd.shape}")
    codes, G = None, 0
    if industry is not None:
        g = _as_dask("industry", industry, 2, xd.chunks[0], codes=True)
        _check_shape("industry", g, xd.shape, f"to match x {xd.shape}")
        codes, labels = _dense_industry("industry", g, None)
        G = len(labels)
    fn = functools.partial(_neutralize_block, G)
    # blockwise (map_blocks over the date blocks, with a 3-D controls argument)
    name = _op_name("neutralize", fn, _names(xd, ctl, codes, w), xd.chunks)
    return da.blockwise(_on_blocks(fn), "tn", xd, "tn", ctl, None if ctl is None else "tnk", codes,
                        None if codes is None else "tn", w, None if w is None else "tn", name=name,
                        concatenate=True, dtype=np.float64, meta=_meta(2))


def _neutralize_block(G, x, ctl, codes, w):
    xv = as_float_array("x", x, 2)
    c = None if ctl is None else as_float_array("controls", ctl, 3)
    wv = None if w is None else as_float_array("weights", w, 2)
    return _core.neutralize(xv, c, codes, G, wv)


# ---------------------------------------------------------------------------------------------
# Rolling and exponentially weighted kernels (overlaps, or whole columns)
# ---------------------------------------------------------------------------------------------


def _time_series(name: str, x: Any, window: int | None, min_fn, *, shift: int = 0,
                 span: int | None = None, extra: Sequence[Any] = (), n_out: int = 1):
    """Dispatch a per-column kernel ``min_fn(block, *extra_blocks)``: overlapping date blocks
    for a window shorter than T, else blocks of whole columns (module docstring, "Overlaps")."""
    xd = _x(name, x)
    T = xd.shape[0]
    w = span if span is not None else window
    if w is None or w >= T:
        # the (T,) extra inputs (the market) are small: given whole to every column block
        return _by_asset(min_fn, xd, n_out=n_out, extra=extra)
    rows = _anchored_rows(w, T, shift)
    if n_out == 1:
        return _history_map(min_fn, [xd, *extra], rows, tail=(xd.shape[1],), name="ff-rolling")

    packed = functools.partial(_concat_outputs, min_fn)
    both = _history_map(packed, [xd, *extra], rows, tail=(n_out * xd.shape[1],), name="ff-rolling")
    N = xd.shape[1]
    return tuple(both[:, k * N:(k + 1) * N] for k in range(n_out))


def _concat_outputs(fn, *blocks):
    return np.concatenate(fn(*blocks), axis=1)


def _moment_block(window, mp, half_life, stat, x):
    return _rolling._moment(x, window, mp, half_life, stat)


def _moment(x, window, min_periods, half_life, stat):
    _probe(_rolling._moment, _NAN11, window, min_periods, half_life, stat)
    fn = functools.partial(_moment_block, window, min_periods, half_life, stat)
    return _time_series("x", x, window, fn)


def rolling_sum(x: Any, window: int, min_periods: int | None = None) -> da.Array:
    """:func:`ferrofactor.rolling_sum` of a dask array chunked by dates ("Overlaps")."""
    return _moment(x, window, min_periods, None, "sum")


def rolling_mean(x: Any, window: int, min_periods: int | None = None, half_life: float | None = None) -> da.Array:
    """:func:`ferrofactor.rolling_mean` of a dask array chunked by dates ("Overlaps")."""
    return _moment(x, window, min_periods, half_life, "mean")


def rolling_var(x: Any, window: int, min_periods: int | None = None, half_life: float | None = None) -> da.Array:
    """:func:`ferrofactor.rolling_var` of a dask array chunked by dates ("Overlaps")."""
    return _moment(x, window, min_periods, half_life, "var")


def rolling_std(x: Any, window: int, min_periods: int | None = None, half_life: float | None = None) -> da.Array:
    """:func:`ferrofactor.rolling_std` of a dask array chunked by dates ("Overlaps")."""
    return _moment(x, window, min_periods, half_life, "std")


def _ewm_block(half_life, mp, window, stat, x):
    return _rolling._ewm(x, half_life, mp, window, stat)


def _ewm(x, half_life, min_periods, window, stat):
    _probe(_rolling._ewm, _NAN11, half_life, min_periods, window, stat)
    fn = functools.partial(_ewm_block, half_life, min_periods, window, stat)
    return _time_series("x", x, window, fn)


def ewm_mean(x: Any, half_life: float, min_periods: int = 1, window: int | None = None) -> da.Array:
    """:func:`ferrofactor.ewm_mean` of a dask array chunked by dates ("Overlaps")."""
    return _ewm(x, half_life, min_periods, window, "mean")


def ewm_var(x: Any, half_life: float, min_periods: int = 1, window: int | None = None) -> da.Array:
    """:func:`ferrofactor.ewm_var` of a dask array chunked by dates ("Overlaps")."""
    return _ewm(x, half_life, min_periods, window, "var")


def ewm_std(x: Any, half_life: float, min_periods: int = 1, window: int | None = None) -> da.Array:
    """:func:`ferrofactor.ewm_std` of a dask array chunked by dates ("Overlaps")."""
    return _ewm(x, half_life, min_periods, window, "std")


def _beta_block(window, mp, half_life, x, m):
    return _rolling.rolling_beta(x, m, window, mp, half_life)


def rolling_beta(returns: Any, market: Any, window: int = 252, min_periods: int | None = None,
                 half_life: float | None = None) -> tuple[da.Array, da.Array]:
    """:func:`ferrofactor.rolling_beta`: ``(beta, resid_vol)`` as dask arrays (T, N).

    ``market`` (T,): a dask array or an array-like, put on the date blocks of ``returns``; a
    pandas Series indexed by date is read in its order, which must be date order.
    """
    r = _x("returns", returns)
    m = _as_dask("market", by_date("market", market)[0], 1, r.chunks[0])
    _probe(_rolling.rolling_beta, _NAN11, np.full(1, np.nan), window, min_periods, half_life)
    mp = window if min_periods is None else min_periods
    fn = functools.partial(_beta_block, window, mp, half_life)
    return _time_series("returns", r, window, fn, extra=[m], n_out=2)


def _compounded_block(window, skip, mp, x):
    return _rolling.compounded_return(x, window, skip, mp)


def compounded_return(returns: Any, window: int, skip: int = 0, min_periods: int | None = None) -> da.Array:
    """:func:`ferrofactor.compounded_return` (momentum) of a dask array ("Overlaps")."""
    _probe(_rolling.compounded_return, _NAN11, window, skip, min_periods)
    fn = functools.partial(_compounded_block, window, skip, min_periods)
    return _time_series("returns", returns, window, fn, shift=skip, span=window - skip)


def _drawdown_block(window, mp, x):
    return _rolling.max_drawdown(x, window, mp)


def max_drawdown(returns: Any, window: int, min_periods: int | None = None) -> da.Array:
    """:func:`ferrofactor.max_drawdown` of a dask array.

    Runs on blocks of whole columns: the kernel's log-wealth is a running sum from the first
    date, so a block started later would round differently.
    """
    _probe(_rolling.max_drawdown, _NAN11, window, min_periods)
    fn = functools.partial(_drawdown_block, window, min_periods)
    return _time_series("returns", returns, None, fn)


# ---------------------------------------------------------------------------------------------
# Descriptors
# ---------------------------------------------------------------------------------------------


def _market_block(has_cap, r, c):
    return _desc.market_return(r, c if has_cap else None)


def market_return(returns: Any, cap: Any = None) -> da.Array:
    """:func:`ferrofactor.descriptors.market_return` (T,) of dask arrays: each block also reads
    the caps of the date before it (the weights of ``returns[t]`` are the caps of ``t − 1``)."""
    r = _x("returns", returns)
    c = _as_dask("cap", cap, 2, r.chunks[0], allow_none=True)
    _check_shape("cap", c, r.shape, "the shape of returns")
    fn = functools.partial(_market_block, c is not None)
    return _history_map(fn, [r, c], lambda s, e: (max(0, s - 1), e), tail=(), name="ff-market")


def _no_inf(name, missing, x):
    refuse_inf(name, x, missing)
    return x


def _blocks(fn, *arrays: da.Array) -> da.Array:
    """Elementwise ``fn`` over the date blocks of (T, N) arrays with equal chunks (keys
    ``ff-block-<function name>-<token>``)."""
    return _map_blocks(f"block-{_funcname(fn)}", fn, *arrays)


def _scale(factor, x):
    return x * factor


def _log_positive(mean):
    out = np.full(mean.shape, np.nan)
    ok = np.isfinite(mean) & (mean > 0)
    out[ok] = np.log(mean[ok])
    return out


def _turnover(dv, cap):
    return _desc._ratio("dollar_volume", dv, "cap", cap, "checked")  # (the cap: refused blockwise)


def _mask_dead(v, cap):
    v = v.copy()
    v[~(np.isfinite(cap) & (cap > 0))] = np.nan
    return v


def compute_descriptors(
    panel: DaskPanel,
    *,
    market: Any = None,
    window: int = 252,
    beta_half_life: float | None = 63.0,
    vol_half_life: float | None = None,
    liquidity_window: int = 21,
    min_fraction: float = 0.8,
    fields: Mapping[str, str] | None = None,
    mask_unlisted: bool = True,
    names: Any = None,
) -> DaskPanel:
    """:func:`ferrofactor.descriptors.compute_descriptors` of a :class:`DaskPanel`, lazily.

    Same settings, fields and order; each descriptor is the dask version of the in-memory kernel
    (ratios and logs per block, momentum/volatility/beta/liquidity as the module docstring's
    "Overlaps" says, the drawdown on blocks of whole columns), so ``compute()`` equals the
    in-memory result bit for bit. Nothing is computed here; descriptors that no style uses are
    never computed.
    """
    window = check_int("window", window, 2)
    liquidity_window = check_int("liquidity_window", liquidity_window, 1)
    beta_half_life = check_real("beta_half_life", beta_half_life, lo=0.0, lo_open=True, allow_none=True)
    vol_half_life = check_real("vol_half_life", vol_half_life, lo=0.0, lo_open=True, allow_none=True)
    check_real("min_fraction", min_fraction, lo=0.0, lo_open=True, hi=1.0)
    mask_unlisted = check_bool("mask_unlisted", mask_unlisted)
    if not isinstance(panel, DaskPanel):
        raise TypeError(f"panel must be a ferrofactor.dask.DaskPanel, got {type(panel).__name__}")
    renames = dict(fields or {})

    def has(name: str) -> bool:
        return renames.get(name, name) in panel.float_fields

    def get(name: str) -> da.Array:
        key = renames.get(name, name)
        if key not in panel.float_fields:
            raise ValueError(f"panel has no field {key!r} (needed for descriptors)")
        return panel[key]

    # as in memory, an infinite return or cap is refused whichever descriptors are asked for
    # (block by block when computed: a blockwise check fused into the tasks that read them)
    r = _blocks(functools.partial(_no_inf, renames.get("returns", "returns"), "NaN marks a missing return"),
                get("returns"))
    cap = _blocks(functools.partial(_no_inf, renames.get("market_cap", "market_cap"), "NaN marks a missing cap"),
                  get("market_cap"))
    # a pandas Series indexed by date must carry the panel's dates, in their order
    m = market_return(r, cap) if market is None else \
        _as_dask("market", by_date("market", market, panel.dates, of="the panel")[0], 1, r.chunks[0])
    _check_shape("market", m, (r.shape[0],), "one value per date")
    mp = functools.partial(_desc._min_periods, min_fraction=min_fraction)
    out: dict[str, da.Array] = {}
    if has("book_value"):
        out["book_to_market"] = _blocks(_desc.book_to_market, get("book_value"), cap)
    if has("earnings"):
        out["earnings_yield"] = _blocks(_desc.earnings_yield, get("earnings"), cap)
    if has("operating_cash_flow"):
        out["cash_flow_yield"] = _blocks(_desc.cash_flow_yield, get("operating_cash_flow"), cap)
    for name, (L, S) in _desc.MOMENTUM_HORIZONS.items():
        out[name] = compounded_return(r, L, S, mp(L - S))
    if has("net_income") and has("book_value"):
        out["roe"] = _blocks(_desc.roe, get("net_income"), get("book_value"))
    if has("net_income") and has("revenue"):
        out["profit_margin"] = _blocks(_desc.profit_margin, get("net_income"), get("revenue"))
    if has("revenue") and has("total_assets"):
        out["asset_turnover"] = _blocks(_desc.asset_turnover, get("revenue"), get("total_assets"))
    if has("total_liabilities") and has("total_assets"):
        out["leverage"] = _blocks(_desc.leverage, get("total_liabilities"), get("total_assets"))
    ann = functools.partial(_scale, math.sqrt(PERIODS_PER_YEAR))
    out["volatility"] = _blocks(ann, rolling_std(r, window, mp(window), half_life=vol_half_life))
    b, rv = rolling_beta(r, m, window, mp(window), beta_half_life)
    out["beta"] = b
    out["residual_volatility"] = _blocks(ann, rv)
    out["max_drawdown"] = max_drawdown(r, window, mp(window))
    out["log_market_cap"] = _blocks(_desc.log_market_cap, cap)
    if has("dollar_volume"):
        dv = get("dollar_volume")
        lmp = _desc._min_periods(liquidity_window, 0.5)
        out["log_dollar_volume"] = _blocks(_log_positive, rolling_mean(dv, liquidity_window, lmp))
        turnover = _blocks(_turnover, dv, cap)
        out["log_turnover"] = _blocks(_log_positive, rolling_mean(turnover, liquidity_window, lmp))
    if names is not None:
        # as in memory: a string is not a collection of names (its characters are not names)
        if isinstance(names, str) or not all(isinstance(n, str) for n in names):
            raise TypeError(f"names must be a collection of descriptor names, got {names!r}")
        wanted = list(dict.fromkeys(names))
        for n in wanted:
            if n not in _NEEDS:
                raise ValueError(f"names: unknown descriptor {n!r}; known: {list(_NEEDS)}")
            missing = [f for f in _NEEDS[n] if not has(f)]
            if missing:
                raise ValueError(f"names: descriptor {n!r} needs the fields {missing}, which the panel lacks")
        out = {k: v for k, v in out.items() if k in wanted}
    if mask_unlisted:
        out = {k: _blocks(_mask_dead, v, cap) for k, v in out.items()}
    return DaskPanel._trusted(panel.dates, panel.assets, panel.chunks, out, {}, {})


#: descriptor → the fields it needs besides returns and market_cap (as in memory)
_NEEDS: dict[str, tuple[str, ...]] = {
    "book_to_market": ("book_value",), "earnings_yield": ("earnings",),
    "cash_flow_yield": ("operating_cash_flow",), "momentum_12_1": (), "momentum_6_1": (),
    "momentum_3_1": (), "roe": ("net_income", "book_value"), "profit_margin": ("net_income", "revenue"),
    "asset_turnover": ("revenue", "total_assets"), "leverage": ("total_liabilities", "total_assets"),
    "volatility": (), "beta": (), "residual_volatility": (), "max_drawdown": (), "log_market_cap": (),
    "log_dollar_volume": ("dollar_volume",), "log_turnover": ("dollar_volume",),
}


# ---------------------------------------------------------------------------------------------
# Exposures
# ---------------------------------------------------------------------------------------------


class DaskExposures:
    """:class:`ferrofactor.Exposures` whose arrays are dask arrays chunked by dates.

    ``styles`` (T, N, K) float64 and ``industry`` (T, N) int32 dense codes (or None), with the
    names, ``market``, ``dates`` and ``assets`` of the in-memory object; ``compute()`` gives the
    :class:`~ferrofactor.Exposures`. Build with :meth:`from_panel` or :meth:`from_descriptors`.
    """

    def __init__(self, styles: da.Array | None, industry: da.Array | None, style_names: Sequence[str],
                 industry_names: Sequence[str], market: bool, dates: Any, assets: Any) -> None:
        from ferrofactor._validate import as_assets, as_dates

        market = check_bool("market", market)
        if styles is None and industry is None:
            raise ValueError("DaskExposures needs styles, industry or both; got neither")
        for name, x, ndim in (("styles", styles, 3), ("industry", industry, 2)):
            if x is not None and not _is_dask(x):
                raise TypeError(
                    f"{name} must be a dask array chunked by dates, got {type(x).__name__}; build "
                    "DaskExposures with from_panel / from_descriptors, or use ferrofactor.Exposures in memory"
                )
            if x is not None and x.ndim != ndim:
                raise ValueError(f"{name} must be {ndim}-dimensional, got shape {x.shape}")
        if styles is not None:
            if np.dtype(styles.dtype).kind not in "iufb":
                raise TypeError(f"styles must be a numeric array, got dtype {styles.dtype}")
            styles = _as_dask("styles", styles, 3, styles.chunks[0])
        T, N = (styles.shape[0], styles.shape[1]) if styles is not None else industry.shape
        if isinstance(style_names, (str, bytes)) or not isinstance(style_names, (Sequence, np.ndarray)):
            raise TypeError(f"style_names must be a sequence of names, got {style_names!r}")
        if isinstance(industry_names, (str, bytes)) or not isinstance(industry_names, (Sequence, np.ndarray)):
            raise TypeError(f"industry_names must be a sequence of names, got {industry_names!r}")
        style_names, industry_names = [str(v) for v in style_names], [str(v) for v in industry_names]
        k = 0 if styles is None else styles.shape[2]
        if len(style_names) != k:
            raise ValueError(f"style_names has {len(style_names)} names but styles has {k} styles")
        for name, labels in (("style_names", style_names), ("industry_names", industry_names)):
            if len(set(labels)) != len(labels):
                raise ValueError(f"{name} must be unique, got {labels}")
        if industry is not None:
            if np.dtype(industry.dtype).kind not in "iu":
                raise TypeError(f"industry must be dense integer codes (int32, -1 = none), got dtype {industry.dtype}")
            if tuple(industry.shape) != (T, N):
                raise ValueError(f"industry has shape {tuple(industry.shape)}, expected {(T, N)} (the styles' dates × assets)")
            chunks0 = styles.chunks[0] if styles is not None else industry.chunks[0]
            industry = _as_dask("industry", industry, 2, chunks0, codes=True)
            g = len(industry_names)
            industry = _map_blocks("checked-codes", functools.partial(_checked_codes, g), industry, dtype=np.int32)
        elif industry_names:
            raise ValueError("industry_names given without industry")
        self._styles, self._industry = styles, industry
        self._style_names, self._industry_names = style_names, industry_names
        self._market = market
        self._dates = readonly(as_dates("dates", dates, T))
        self._assets = readonly(as_assets("assets", assets, N))

    styles = property(lambda self: self._styles, doc="(T, N, K) dask array, or None.")
    industry = property(lambda self: self._industry, doc="(T, N) int32 dense codes (dask), or None.")
    style_names = property(lambda self: list(self._style_names))
    industry_names = property(lambda self: list(self._industry_names))
    n_industries = property(lambda self: len(self._industry_names))
    market = property(lambda self: self._market)
    dates = property(lambda self: self._dates)
    assets = property(lambda self: self._assets)

    @property
    def shape(self) -> tuple[int, int]:
        a = self._styles if self._styles is not None else self._industry
        return (a.shape[0], a.shape[1])

    @property
    def chunks(self) -> tuple[int, ...]:
        a = self._styles if self._styles is not None else self._industry
        return a.chunks[0]

    @property
    def factor_names(self) -> list[str]:
        return (["market"] if self._market else []) + self._industry_names + self._style_names

    @property
    def n_factors(self) -> int:
        return len(self.factor_names)

    def __repr__(self) -> str:
        T, N = self.shape
        return (f"DaskExposures(T={T}, N={N}, {len(self.chunks)} blocks, market={self._market}, "
                f"industries={len(self._industry_names)}, styles={self._style_names})")

    def compute(self, **kwargs: Any) -> Exposures:
        """The in-memory :class:`~ferrofactor.Exposures` (one pass)."""
        sty, ind = _gather(self._styles, self._industry, **kwargs)
        return Exposures._trusted(sty, ind, self._style_names, self._industry_names, self._market,
                                  self._dates, self._assets)

    def persist(self, **kwargs: Any) -> DaskExposures:
        """The same exposures persisted (on the cluster with a distributed Client)."""
        sty, ind = _persist(self._styles, self._industry, **kwargs)
        return DaskExposures(sty, ind, self._style_names, self._industry_names, self._market,
                             self._dates, self._assets)

    @classmethod
    def from_panel(cls, panel: DaskPanel, styles: Mapping[str, Mapping[str, float]] | None = None, *,
                   cap: str = "market_cap", industry: str | None = "industry", market: bool = True,
                   winsorize: str | None = "sigma", winsorize_limit: float = 3.0,
                   fill: str | None = "industry_mean", orthogonalize: Mapping[str, Sequence[str]] | None = None,
                   descriptor_options: Mapping[str, Any] | None = None) -> DaskExposures:
        """:meth:`ferrofactor.Exposures.from_panel` of a :class:`DaskPanel`: descriptors
        (:func:`compute_descriptors`) → cleaned styles, per date block. Lazy."""
        if not isinstance(panel, DaskPanel):
            raise TypeError(f"panel must be a ferrofactor.dask.DaskPanel, got {type(panel).__name__}")
        codes, names = panel._cap_and_industry(cap, industry)
        if descriptor_options is not None and not isinstance(descriptor_options, Mapping):
            raise TypeError(f"descriptor_options must be a mapping of compute_descriptors settings, got {descriptor_options!r}")
        options = dict(descriptor_options or {})
        # as in memory: the builder already sets NaN outside the universe, and only the
        # descriptors the styles use are asked for
        options.setdefault("mask_unlisted", False)
        if "names" not in options:
            from ferrofactor.exposures import DEFAULT_STYLES

            spec = DEFAULT_STYLES if styles is None else styles
            if isinstance(spec, Mapping):
                options["names"] = [d for parts in spec.values() if isinstance(parts, Mapping) for d in parts]
        desc = compute_descriptors(panel, **options)
        return cls.from_descriptors(
            desc, styles, cap=panel[cap], industry=codes, industry_names=names, market=market,
            winsorize=winsorize, winsorize_limit=winsorize_limit, fill=fill,
            orthogonalize=orthogonalize, dates=panel.dates, assets=panel.assets,
        )

    @classmethod
    def from_descriptors(cls, descriptors: Any, styles: Mapping[str, Mapping[str, float]] | None = None, *,
                         cap: Any = None, industry: Any = None, industry_names: Any = None,
                         market: bool = True, winsorize: str | None = "sigma", winsorize_limit: float = 3.0,
                         fill: str | None = "industry_mean",
                         orthogonalize: Mapping[str, Sequence[str]] | None = None,
                         dates: Any = None, assets: Any = None) -> DaskExposures:
        """:meth:`ferrofactor.Exposures.from_descriptors` per date block (one call per block on
        the descriptors the styles use). ``descriptors``: a DaskPanel or a mapping of dask arrays.
        Lazy, except that ``industry`` codes without ``industry_names`` are mapped to dense codes
        over the whole array first, as in memory (one pass over ``industry`` when this is called;
        :meth:`from_panel` passes the DaskPanel's labels, so it computes nothing)."""
        from ferrofactor.exposures import DEFAULT_STYLES

        # the labelled inputs (a DaskPanel, Polars frames among the descriptors and cap) must match
        # each other and dates/assets, as in memory, never be paired by position
        labelled: list = []
        if isinstance(descriptors, DaskPanel):
            labelled.append(("descriptors", descriptors.dates, descriptors.assets))
            source = {k: descriptors[k] for k in descriptors.float_fields}
        elif isinstance(descriptors, Mapping):
            source = dict(descriptors)
        else:
            raise TypeError(
                f"descriptors must be a DaskPanel or a mapping of name → dask array, got {type(descriptors).__name__}"
            )
        spec = DEFAULT_STYLES if styles is None else styles
        used: list[str] = []
        if isinstance(spec, Mapping):
            for sp in spec.values():
                if isinstance(sp, Mapping):
                    used.extend(d for d in sp if d in source and d not in used)
        if not used:
            # let the in-memory builder word the error (no style, unknown descriptor, ...)
            Exposures.from_descriptors({k: _NAN11 for k in source}, styles)
        first = source[used[0]]
        if not _is_dask(first):
            raise TypeError(f"descriptors[{used[0]!r}] must be a dask array, got {type(first).__name__}")
        chunks0 = first.chunks[0]
        arrays = [_as_dask(f"descriptors[{d!r}]", source[d], 2, chunks0, labelled=labelled) for d in used]
        T, N = arrays[0].shape
        for d, a in zip(used, arrays):
            _check_shape(f"descriptors[{d!r}]", a, (T, N), "the shape of the other descriptors")
        capd = _as_dask("cap", cap, 2, chunks0, allow_none=True, labelled=labelled)
        _check_shape("cap", capd, (T, N), "the shape of the descriptors")
        ind, inames = None, []
        if industry is not None:
            g = _as_dask("industry", industry, 2, chunks0, codes=True)
            _check_shape("industry", g, (T, N), "the shape of the descriptors")
            ind, inames = _dense_industry("industry", g, industry_names)
        elif industry_names is not None:
            raise ValueError("industry_names given without industry")
        settings = dict(market=market, winsorize=winsorize, winsorize_limit=winsorize_limit, fill=fill,
                        orthogonalize=orthogonalize)
        probe = Exposures.from_descriptors(
            {d: _NAN11 for d in used}, styles, cap=None if capd is None else _NAN11,
            industry=None if ind is None else _NONE11, industry_names=None if ind is None else inames,
            **settings,
        )
        from ferrofactor._validate import as_assets, as_dates, given_labels_how

        d_labels = as_dates("dates", dates, T)
        a_labels = as_assets("assets", assets, N)
        for e in labelled:
            check_same_labels(*e[:3], "the dates/assets given", d_labels, a_labels,
                              how=given_labels_how(e[0]))
        d_labels = next((e[1] for e in labelled if e[1] is not None), None) if d_labels is None else d_labels
        a_labels = next((e[2] for e in labelled if e[2] is not None), None) if a_labels is None else a_labels
        K = len(probe.style_names)
        fn = functools.partial(_styles_block, used, styles, inames if ind is not None else None, settings)
        sty = _history_map(fn, [*arrays, capd, ind], _same_rows, tail=(N, K), name="ff-styles")
        return cls(sty, ind, probe.style_names, probe.industry_names, probe.market, d_labels, a_labels)


def _checked_codes(g: int, b: np.ndarray) -> np.ndarray:
    """Dense industry codes of one block, checked: -1 (none) or 0..g-1."""
    if b.size and (int(b.min()) < -1 or int(b.max()) >= g):
        raise ValueError(
            f"industry codes must be dense codes -1..{g - 1} (one per industry_names entry), got "
            f"{int(b.min())}..{int(b.max())}"
        )
    return b.astype(np.int32, copy=False)


def _styles_block(used, styles, inames, settings, *blocks):
    *desc, cap, ind = blocks
    ex = Exposures.from_descriptors(dict(zip(used, desc)), styles, cap=cap, industry=ind,
                                    industry_names=inames, **settings)
    return np.asarray(ex.styles)


# ---------------------------------------------------------------------------------------------
# Regressions and the factor model
# ---------------------------------------------------------------------------------------------


def _regress_block(G, market, constraint, lag, P, clip, check_cap, y, sty, codes, w, c):
    """The regressions of one block: its rows come with the ``lag`` rows before it (the design
    of its first dates). Packed as ``[f (P), se (P), t (P), r2, n_obs, n_clipped, residuals (N)]``."""
    from ferrofactor.regress import robust_clip_returns

    T_loc = y.shape[0]
    if check_cap and c is not None:
        check_weights("cap", c)
    # the kernel checks the weights and caps of the design rows it reads; the block's last `lag`
    # rows are read by the next block, and those of the last block by none: checked here, as in
    # memory (a negative or infinite value there passed with lag >= 1)
    for name, v in (("weights", w), ("cap", c)):
        if v is not None and lag and v.shape[0]:
            tail = v[max(0, v.shape[0] - lag):]
            if np.isinf(tail).any() or (tail < 0).any():
                check_weights(name, v)
    # an infinite return (or exposure) is a data error, refused as in memory, block by block when
    # the result is computed (no extra pass over the data)
    refuse_inf("returns", y, "NaN marks a missing return")
    if sty is not None:
        refuse_inf("styles", sty, "NaN marks a missing exposure")
    if clip is not None:
        y_fit, n_clipped = robust_clip_returns(y, clip)
    else:
        y_fit, n_clipped = y, np.zeros(T_loc, dtype=np.int64)
    f, e, r2, se, ts, n_obs = _core.cross_section_regress(
        np.ascontiguousarray(y_fit), sty, codes, G, w, c, bool(market), constraint, lag
    )
    if clip is not None:
        e = e + (y - y_fit)  # residuals of the original returns, as in memory
    return np.concatenate([f, se, ts, r2[:, None], n_obs[:, None].astype(np.float64),
                           n_clipped[:, None].astype(np.float64), e], axis=1)


def _regress_packed(y, sty, codes, G, w, c, market, constraint, lag, clip=None, check_cap=False):
    """Packed per-date outputs (T, 3P + 3 + N) of the lagged regressions, block by block."""
    T, N = y.shape
    K = 0 if sty is None else sty.shape[2]
    P = int(market) + G + K
    fn = functools.partial(_regress_block, G, market, constraint, lag, P, clip, check_cap)

    def rows(s: int, e: int) -> tuple[int, int]:
        return max(0, s - lag), e

    # every block checks the caps of its rows (and of the lag rows before it): every row is
    # checked, as in memory
    return _history_map(fn, [y, sty, codes, None if w is None else w, c], rows,
                        tail=(3 * P + 3 + N,), name="ff-regress"), P


class LazyCrossSection:
    """Lazy per-date results of :func:`cross_section_regress` on dask arrays.

    ``factor_returns``, ``std_errors``, ``tstats`` (T, P), ``r2``, ``n_obs`` (T,) and
    ``residuals`` (T, N) are dask arrays (slices of one packed computation: computing several
    of them together runs the regressions once); ``compute()`` gives the in-memory
    :class:`~ferrofactor.CrossSectionResult`, equal to :func:`ferrofactor.cross_section_regress`.
    """

    def __init__(self, packed: da.Array, P: int, names: list[str], dates: Any, assets: Any) -> None:
        self._packed, self._P = packed, P
        self.factor_names, self.dates, self.assets = list(names), dates, assets

    def _cols(self, lo: int, hi: int) -> da.Array:
        return self._packed[:, lo:hi]

    factor_returns = property(lambda self: self._cols(0, self._P))
    std_errors = property(lambda self: self._cols(self._P, 2 * self._P))
    tstats = property(lambda self: self._cols(2 * self._P, 3 * self._P))
    r2 = property(lambda self: self._packed[:, 3 * self._P])
    n_obs = property(lambda self: self._packed[:, 3 * self._P + 1].astype(np.int64))
    residuals = property(lambda self: self._packed[:, 3 * self._P + 3:])

    def compute(self, **kwargs: Any):
        from ferrofactor.regress import CrossSectionResult

        pk = _gather(self._packed, **kwargs)[0]
        P = self._P
        return CrossSectionResult(
            factor_returns=pk[:, :P], std_errors=pk[:, P:2 * P], tstats=pk[:, 2 * P:3 * P],
            r2=pk[:, 3 * P], n_obs=pk[:, 3 * P + 1].astype(np.int64),
            residuals=np.ascontiguousarray(pk[:, 3 * P + 3:]), factor_names=self.factor_names,
            dates=self.dates, assets=self.assets,
        )

    def __repr__(self) -> str:
        T, N = self.residuals.shape
        return f"LazyCrossSection(T={T}, N={N}, factors={self.factor_names})"


def cross_section_regress(returns: Any, styles: Any = None, industry: Any = None, weights: Any = None, *,
                          market: bool = True, industry_constraint: str | None = "auto", cap: Any = None,
                          style_names: Sequence[str] | None = None, industry_names: Any = None,
                          lag: int = 0, dates: Any = None, assets: Any = None) -> LazyCrossSection:
    """:func:`ferrofactor.cross_section_regress` on dask arrays, block by block.

    ``returns`` (T, N) a dask array chunked by dates; ``styles`` (T, N, K), ``industry``,
    ``weights``, ``cap`` (T, N) dask arrays or array-likes. With ``lag = L`` each block also gets
    the L rows of design before it. Industry codes without ``industry_names`` are mapped to dense
    codes over the whole array first (one pass over ``industry``).
    """
    from ferrofactor.regress import _check_design, resolve_constraint
    from ferrofactor._validate import as_assets, as_dates

    market = check_bool("market", market)
    industry_constraint = resolve_constraint(industry_constraint, market)  # "auto": cap with a market
    y = _x("returns", returns)
    T, N = y.shape
    lag = check_int("lag", lag, 0)
    if T and lag >= T:
        raise ValueError(f"lag must be below the number of dates ({T}), got {lag}")
    sty = _as_dask("styles", styles, 3, y.chunks[0], allow_none=True)
    if sty is not None and tuple(sty.shape[:2]) != (T, N):
        raise ValueError(f"styles has shape {tuple(sty.shape)}, expected ({T}, {N}, K) to match returns {y.shape}")
    K = 0 if sty is None else sty.shape[2]
    codes, inames = None, []
    if industry is not None:
        g = _as_dask("industry", industry, 2, y.chunks[0], codes=True)
        _check_shape("industry", g, (T, N), f"to match returns {y.shape}")
        codes, inames = _dense_industry("industry", g, industry_names)
    elif industry_names is not None:
        raise ValueError("industry_names given without industry")
    # weights and cap frames keep their labels: a cap frame must carry those of a weights frame
    labelled: list = []
    w = _as_dask("weights", weights, 2, y.chunks[0], allow_none=True, labelled=labelled)
    _check_shape("weights", w, (T, N), f"to match returns {y.shape}")
    c = _as_dask("cap", cap, 2, y.chunks[0], allow_none=True, labelled=labelled)
    _check_shape("cap", c, (T, N), f"to match returns {y.shape}")
    names = _check_design(codes, c, market, industry_constraint, sty, K, style_names, inames)
    d = as_dates("dates", dates, T)
    a = as_assets("assets", assets, N)
    # weights and cap frames: on the dates/assets that label the result, as in memory
    for name, fd, fa in labelled:
        check_same_labels(name, fd, fa, "the dates/assets given", d, a,
                          how=f"give {name} on the dates and assets given, in their order")
    packed, P = _regress_packed(y, sty, codes, len(inames), w, c, market,
                                industry_constraint if codes is not None else None, lag)
    return LazyCrossSection(packed, P, names, d, a)


class DaskFactorModelResult:
    """Result of ``ff.FactorModel().fit`` on a :class:`DaskPanel` / :class:`DaskExposures`.

    In memory (numpy, read-only; small): ``factor_returns``, ``std_errors``, ``tstats`` (T, P),
    ``r2``, ``n_obs``, ``n_clipped`` (T,). On the cluster (dask arrays): ``residuals`` (T, N)
    (persisted by ``fit``: the regressions run once), ``returns`` and ``cap`` (T, N), and the
    :class:`DaskExposures`. Labels and settings as :class:`~ferrofactor.FactorModelResult`:
    ``factor_names``, ``dates``, ``assets``, ``model``, ``lag``.

    ``compute()`` gathers everything into the in-memory :class:`~ferrofactor.FactorModelResult`
    (equal to the in-memory fit, bit for bit); ``fama_macbeth()`` works on the in-memory factor
    returns. ``ff.RiskModel().fit(result)`` runs the factor covariance in memory on the (T, K)
    factor returns and the specific variance on the cluster (:func:`specific_variance`: date
    block after date block, the EWMA state carried; with ``vra_half_life`` also the per-date
    bias statistics of the specific regime multiplier), then gathers its (T, N) outputs, the
    exposures and the cap block by block (the RiskModel's products need them in memory). The
    residuals stay on the cluster (the fitted RiskModel does not keep them).
    """

    _ferrofactor_dask = True

    def __init__(self, *, packed, P, factor_names, dates, assets, exposures, cap, returns, model) -> None:
        self._packed = packed
        small = _gather(packed[:, :3 * P + 3])[0]
        self._factor_returns = readonly(np.ascontiguousarray(small[:, :P]))
        self._std_errors = readonly(np.ascontiguousarray(small[:, P:2 * P]))
        self._tstats = readonly(np.ascontiguousarray(small[:, 2 * P:3 * P]))
        self._r2 = readonly(np.ascontiguousarray(small[:, 3 * P]))
        self._n_obs = readonly(small[:, 3 * P + 1].astype(np.int64))
        self._n_clipped = readonly(small[:, 3 * P + 2].astype(np.int64))
        self._residuals = packed[:, 3 * P + 3:]
        self._factor_names = list(factor_names)
        self._dates, self._assets = readonly(dates), readonly(assets)
        self._exposures, self._cap, self._returns, self._model = exposures, cap, returns, model

    factor_returns = property(lambda self: self._factor_returns, doc="(T, P) factor returns (numpy).")
    std_errors = property(lambda self: self._std_errors, doc="(T, P) per-date standard errors.")
    tstats = property(lambda self: self._tstats, doc="(T, P) per-date t-statistics.")
    r2 = property(lambda self: self._r2, doc="(T,) per-date weighted R².")
    n_obs = property(lambda self: self._n_obs, doc="(T,) observations used per date.")
    n_clipped = property(lambda self: self._n_clipped, doc="(T,) returns clipped per date.")
    residuals = property(lambda self: self._residuals, doc="(T, N) residuals (dask array).")
    exposures = property(lambda self: self._exposures, doc="The unlagged DaskExposures given to fit.")
    cap = property(lambda self: self._cap, doc="(T, N) cap (dask array) or None.")
    returns = property(lambda self: self._returns, doc="(T, N) returns given to fit (dask array).")
    model = property(lambda self: self._model._frozen(),
                     doc="A copy of the FactorModel (settings) that was fit (changing it leaves this result as it is).")
    lag = property(lambda self: self._model.lag)
    factor_names = property(lambda self: list(self._factor_names))
    dates = property(lambda self: self._dates)
    assets = property(lambda self: self._assets)

    def fama_macbeth(self, cov: str = "kernel", bandwidth: float | None = None):
        """:meth:`ferrofactor.FactorModelResult.fama_macbeth` (in memory, on the factor returns)."""
        from ferrofactor.regress import FamaMacBethResult

        return FamaMacBethResult(
            estimates=self._factor_returns, n_obs=self._n_obs, r2=self._r2,
            names=self._factor_names, cov_type=cov, bandwidth=bandwidth, dates=self._dates,
            nan_policy="column", title="Factor returns: Fama-MacBeth summary",
        )

    def compute(self, **kwargs: Any):
        """The in-memory :class:`~ferrofactor.FactorModelResult` (everything gathered, one pass)."""
        from ferrofactor.model import FactorModelResult

        ex = self._exposures
        res, r, c, sty, ind = _gather(self._residuals, self._returns, self._cap, ex.styles,
                                      ex.industry, **kwargs)
        exposures = Exposures._trusted(sty, ind, ex.style_names, ex.industry_names, ex.market,
                                       ex.dates, ex.assets)
        return FactorModelResult(
            factor_returns=self._factor_returns, residuals=np.ascontiguousarray(res), r2=self._r2,
            std_errors=self._std_errors, tstats=self._tstats, n_obs=self._n_obs,
            factor_names=self._factor_names, dates=self._dates, assets=self._assets,
            exposures=exposures, cap=c, returns=r, n_clipped=self._n_clipped, model=self._model,
        )

    def _risk_inputs(self, settings: Mapping[str, Any], **kwargs: Any):
        """For ``RiskModel.fit``: ``(factor_returns, Exposures, cap, specific)`` in memory, where
        ``specific = (spec, raw, n_obs, structural, b2)`` is the specific-variance kernel's
        output computed on the cluster by :func:`specific_variance` (block by block, the EWMA
        state carried from one date block to the next) and ``b2`` (T,) the per-date bias
        statistic of the specific regime multiplier (None without ``vra_half_life``). The
        residuals stay on the cluster; the exposures, cap and outputs are gathered block by block."""
        if self._cap is None:
            raise ValueError(
                "the risk model needs the market cap (shrinkage groups, structural weights): fit "
                "the factor model with cap (or a Panel with a market_cap field)"
            )
        ex = self._exposures
        spec = specific_variance(self._residuals, ex, self._cap, settings)
        parts = _gather(self._cap, ex.styles, ex.industry, *spec, **kwargs)
        c, sty, ind = parts[:3]
        exposures = Exposures._trusted(sty, ind, ex.style_names, ex.industry_names, ex.market,
                                       ex.dates, ex.assets)
        out = tuple(parts[3:])
        if len(out) == 4:
            out = out + (None,)
        return self._factor_returns, exposures, c, out

    def __repr__(self) -> str:
        T, N = self._residuals.shape
        from ferrofactor.results import short_names

        return f"DaskFactorModelResult(T={T}, N={N}, lag={self.lag}, factors={short_names(self._factor_names)})"


# ---------------------------------------------------------------------------------------------
# Specific risk: the EWMA recursion carried from one date block to the next
# ---------------------------------------------------------------------------------------------


def _specific_block(settings, G, vra, res, sty, ind, cap, carry):
    """One date block of the specific variance: ``_core.risk_specific_variance_resume`` from the
    carried state, plus (with ``vra``) the block's per-date bias statistics B² of the regime
    multiplier (row t reads the residuals of t and the specific variance and cap of t − 1, the
    last row of the previous block being carried)."""
    res, cap = _aligned(res), _aligned(cap)
    # as RiskModel.from_arrays in memory: an infinite residual is a data error (the kernel
    # skipped it as missing) and the caps non-negative and finite, checked block by block
    refuse_inf("residuals", res, "NaN marks a missing residual")
    check_weights("cap", cap)
    b, n = res.shape
    sty = np.zeros((b, n, 0)) if sty is None else _aligned(sty)
    ind = np.full((b, n), -1, np.int32) if ind is None else _aligned(ind)
    state, prev_spec, prev_cap = carry if carry is not None else (None, None, None)
    s = settings
    spec, raw, n_obs, structural, state = _core.risk_specific_variance_resume(
        res, np.ascontiguousarray(sty), np.ascontiguousarray(ind), G, cap, s["specific_half_life"],
        s["specific_min_periods"], s["shrinkage"], s["n_cap_groups"], s["structural_ridge"],
        s["specific_blend_periods"], s["specific_newey_west_lags"], state,
    )
    outs = [spec, raw, n_obs, structural]
    last_spec = last_cap = None
    if vra is not None:
        nan_row = np.full((1, n), np.nan)
        x = np.vstack([nan_row, res])
        v = np.vstack([nan_row if prev_spec is None else prev_spec, spec])
        w = np.vstack([nan_row if prev_cap is None else prev_cap, cap])
        outs.append(_core.risk_regime_multiplier(x, v, w, vra)[0][1:])
        # a block without dates passes the previous rows on
        last_spec = spec[-1:].copy() if b else prev_spec
        last_cap = cap[-1:].copy() if b else prev_cap
    return tuple(outs), (state, last_spec, last_cap)


def _chain_part(block, k):
    return block[0][k] if k >= 0 else block[1]


def specific_variance(residuals: Any, exposures: DaskExposures, cap: Any,
                      settings: Mapping[str, Any] | None = None) -> tuple[da.Array, ...]:
    """The risk model's specific variance on the date blocks, the EWMA recursion carried between
    them: bit for bit ``ff.RiskModel(**settings)``'s ``specific_variance`` (before any regime
    adjustment), ``raw_specific_variance``, ``specific_n_obs`` and ``structural``.

    Block ``i`` is one task: ``_core.risk_specific_variance_resume`` on the block's residuals,
    exposures and cap from the state the task of block ``i − 1`` left (per asset the decayed sums,
    weights and count of the EWMA and of each Newey-West lag, and the last ``nw_lags``
    residuals: ``3 + 3·nw_lags`` numbers). The blocks run one after another (a chain of tasks),
    and a task holds one block of ``(dates, N)`` arrays plus that ``O(N)`` state; everything
    else the kernel does (the structural model, the shrinkage) is per date.

    Parameters
    ----------
    residuals : dask array (T, N)
        Residuals, e.g. :attr:`DaskFactorModelResult.residuals`.
    exposures : DaskExposures
        The unlagged exposures (row t known at the close of t).
    cap : dask array or array-like (T, N)
    settings : mapping, optional
        ``RiskModel`` settings (``RiskModel()._settings()``; the defaults when None).

    Returns
    -------
    tuple of dask arrays chunked like ``residuals``
        ``(specific_variance, raw_specific_variance, n_obs (uint32), structural (uint8))``, and
        with ``vra_half_life`` set, also the (T,) bias statistic B² of the specific regime
        multiplier (``_core.risk_regime_multiplier``'s first output).
    """
    from ferrofactor.risk import RiskModel

    if settings is not None and not isinstance(settings, Mapping):
        raise TypeError(f"settings must be a mapping of RiskModel settings, got {settings!r}")
    # validated as RiskModel validates them (unknown names, types, ranges), then its full settings
    s = RiskModel(**dict(settings or {}))._settings()
    if not isinstance(exposures, DaskExposures):
        raise TypeError(f"exposures must be a ferrofactor.dask.DaskExposures, got {type(exposures).__name__}")
    res = _x("residuals", residuals)
    T, N = res.shape
    chunks0 = res.chunks[0]
    if tuple(exposures.shape) != (T, N):
        raise ValueError(f"exposures has shape {tuple(exposures.shape)}, expected {(T, N)} (the shape of residuals)")
    # a cap frame is matched on the exposures' labels
    c = _as_dask("cap", cap, 2, chunks0, labelled=[("exposures", exposures.dates, exposures.assets)]
                 if exposures.dates is not None or exposures.assets is not None else [])
    _check_shape("cap", c, (T, N), "the shape of residuals")
    sty = None if exposures.styles is None else _as_dask("exposures.styles", exposures.styles, 3, chunks0)
    ind = None if exposures.industry is None else _as_dask("exposures.industry", exposures.industry, 2, chunks0, codes=True)
    G = exposures.n_industries
    vra = s["vra_half_life"]
    token = dask.base.tokenize(res.name, None if sty is None else sty.name, None if ind is None else ind.name,
                               c.name, sorted(s.items(), key=lambda kv: kv[0]).__repr__(), G)
    chain = f"ff-specific-chain-{token}"
    names = [f"ff-specific-{k}-{token}" for k in ("var", "raw", "n_obs", "structural", "b2")]
    dsk: dict[Any, Any] = {}
    fn = functools.partial(_specific_block, s, G, vra)
    for i in range(len(chunks0)):
        carry = None if i == 0 else (_chain_part, (chain, i - 1), -1)
        dsk[(chain, i)] = (fn, (res.name, i, 0), None if sty is None else (sty.name, i, 0, 0),
                           None if ind is None else (ind.name, i, 0), (c.name, i, 0), carry)
    deps = [a for a in (res, sty, ind, c) if a is not None]
    base = HighLevelGraph.from_collections(chain, dsk, dependencies=deps)
    layers, layer_deps = dict(base.layers), dict(base.dependencies)
    n_out = 5 if vra is not None else 4
    for k in range(n_out):
        layers[names[k]] = {((names[k], i) if k == 4 else (names[k], i, 0)): (_chain_part, (chain, i), k)
                            for i in range(len(chunks0))}
        layer_deps[names[k]] = {chain}
    graph = HighLevelGraph(layers, layer_deps)
    dtypes = (np.float64, np.float64, np.uint32, np.uint8)
    out = [da.Array(graph, names[k], chunks=(chunks0, (N,)), meta=_meta(2, dtypes[k])) for k in range(4)]
    if vra is not None:
        out.append(da.Array(graph, names[4], chunks=(chunks0,), meta=_meta(1)))
    return tuple(out)


def _fit_factor_model(model: Any, returns: Any, exposures: Any, cap: Any = None) -> DaskFactorModelResult:
    """``FactorModel.fit`` for dask-backed inputs (called by :meth:`ferrofactor.FactorModel.fit`)."""
    if isinstance(returns, DaskPanel):
        panel = returns
        if model.returns_field not in panel:
            raise ValueError(
                f"panel has no field {model.returns_field!r} (returns_field); fields: {list(panel.fields)}"
            )
        r, r_dates, r_assets = panel[model.returns_field], panel.dates, panel.assets
        if cap is None and model.cap_field in panel:
            cap = panel[model.cap_field]
    elif _is_dask(returns):
        r, r_dates, r_assets = returns, None, None
    else:
        raise TypeError(
            f"returns must be a DaskPanel or a dask array when the exposures are DaskExposures, got "
            f"{type(returns).__name__}"
        )
    y = _x("returns", r)
    T, N = y.shape
    if isinstance(exposures, Exposures):  # in-memory exposures with dask returns: put on the blocks
        exposures = DaskExposures(
            _as_dask("exposures.styles", exposures.styles, 3, y.chunks[0], allow_none=True),
            _as_dask("exposures.industry", exposures.industry, 2, y.chunks[0], codes=True, allow_none=True),
            exposures.style_names, exposures.industry_names, exposures.market, exposures.dates,
            exposures.assets)
    if not isinstance(exposures, DaskExposures):
        raise TypeError(f"exposures must be a ferrofactor.dask.DaskExposures, got {type(exposures).__name__}")
    if tuple(exposures.shape) != (T, N):
        raise ValueError(
            f"exposures has shape {tuple(exposures.shape)}, expected {(T, N)} "
            "(the shape of returns (T, N)); align them first"
        )
    check_same_labels("returns", r_dates, r_assets, "exposures", exposures.dates, exposures.assets)
    if exposures.market != model.market:
        raise ValueError(
            f"FactorModel(market={model.market}) but exposures.market is {exposures.market}; make them agree"
        )
    if T and model.lag >= T:
        raise ValueError(f"lag ({model.lag}) must be below the number of dates ({T})")
    has_ind = exposures.industry is not None
    need_cap = model.weights == "sqrt_cap" if isinstance(model.weights, str) else False
    need_cap = need_cap or (has_ind and model.market and model.industry_constraint == "cap")
    # a cap frame is matched on its labels, as in memory: those of returns, else of the exposures,
    # else of a weights frame (which is compared with both below)
    w_dates, w_assets = model._weights_labels() if not isinstance(model.weights, str) else (None, None)
    labelled = [e for e in (("returns", r_dates, r_assets), ("exposures", exposures.dates, exposures.assets),
                            ("weights", w_dates, w_assets)) if e[1] is not None or e[2] is not None][:1]
    c = _as_dask("cap", cap, 2, y.chunks[0], allow_none=True, labelled=labelled)
    if c is None and need_cap:
        raise ValueError(
            "cap is required for weights='sqrt_cap' and for industry_constraint='cap' with "
            "industries; pass cap (T, N) (or a Panel with a market_cap field) or use "
            "weights='equal', industry_constraint='equal'"
        )
    _check_shape("cap", c, (T, N), "the shape of returns (T, N)")
    if isinstance(model.weights, str):
        w = None if model.weights == "sqrt_cap" else da.ones((T, N), chunks=(y.chunks[0], N))
    else:
        if tuple(model.weights.shape) != (T, N):
            raise ValueError(f"weights has shape {model.weights.shape}, expected {(T, N)} (the shape of returns (T, N))")
        # a weights frame given to FactorModel is matched on its labels, as in memory
        check_same_labels("weights", w_dates, w_assets, "returns", r_dates, r_assets)
        check_same_labels("weights", w_dates, w_assets, "exposures", exposures.dates, exposures.assets)
        w = _as_dask("weights", model.weights, 2, y.chunks[0])
    if has_ind and model.market and model.industry_constraint is None:
        raise ValueError(
            "industry_constraint=None with a market factor and industries makes the design "
            "singular; use 'cap' or 'equal', or market=False"
        )
    sty = None if exposures.styles is None else _as_dask("exposures.styles", exposures.styles, 3, y.chunks[0])
    ind = None if exposures.industry is None else _as_dask("exposures.industry", exposures.industry, 2, y.chunks[0], codes=True)
    packed, P = _regress_packed(
        y, sty, ind, exposures.n_industries, w, c, model.market,
        model.industry_constraint if has_ind else None, model.lag, clip=model.winsorize_returns,
        check_cap=c is not None,
    )
    packed = _persist(packed)[0]
    dates = exposures.dates if exposures.dates is not None else r_dates
    assets = exposures.assets if exposures.assets is not None else r_assets
    result = DaskFactorModelResult(
        packed=packed, P=P, factor_names=exposures.factor_names, dates=dates, assets=assets,
        exposures=exposures, cap=c, returns=y, model=model._frozen(),
    )
    model.result_ = result
    return result


# ---------------------------------------------------------------------------------------------
# Signal evaluation (the per-date parts on the date blocks, with look-back and look-ahead rows)
# ---------------------------------------------------------------------------------------------


def _no_zscore(filter_zscore: Any) -> None:
    if filter_zscore is not None:
        raise ValueError(
            "filter_zscore is not available on Dask: alphalens' filter compares each forward return "
            "with the asset's mean and standard deviation over ALL dates (a whole-sample look-ahead "
            "statistic, kept in ff.evaluate for comparison with alphalens only); use "
            "ff.evaluate.evaluate in memory, or filter_zscore=None"
        )


class _EvalInputs:
    """Dask inputs of the signal evaluation on the date blocks of the signal (or of the returns
    when the signal is in memory): signal, returns (or None), dense industry codes and their
    count, weights, labels."""

    def __init__(self, signal: Any, returns: Any, industry: Any, weights: Any, *,
                 need_returns: bool = True, returns_name: str = "returns") -> None:
        dates = assets = None
        r = returns
        if isinstance(returns, (DaskPanel, Panel)):
            if "returns" not in returns.float_fields:
                raise ValueError(f"{returns_name} is a Panel without a 'returns' field")
            r, dates, assets = returns["returns"], returns.dates, returns.assets
        if isinstance(signal, (DaskPanel, Panel)):
            raise TypeError("signal must be an array (T, N), got a Panel; pass one of its fields")
        if _is_dask(signal):
            chunks0 = signal.chunks[0]
        elif r is not None and _is_dask(r):
            chunks0 = r.chunks[0]
        else:
            raise TypeError(
                f"signal (or {returns_name}) must be a dask array (T, N) chunked by dates, got "
                f"{type(signal).__name__}; use ff.evaluate for in-memory arrays"
            )
        # Polars frames keep their labels: signal, returns and weights frames must carry the
        # returns Panel's labels and each other's (same order), as in memory
        labelled: list = [] if dates is None else [(returns_name, dates, assets)]
        x = _as_dask("signal", signal, 2, chunks0, labelled=labelled)
        T, N = x.shape
        if r is None:
            if need_returns:
                raise TypeError(f"{returns_name} is required, got None")
            rd = None
        else:
            rd = _as_dask(returns_name, r, 2, chunks0, labelled=labelled)
            _check_shape(returns_name, rd, (T, N), "(T, N) like signal")
        self.x, self.r, self.dates, self.assets, self.returns_name = x, rd, dates, assets, returns_name
        self.industry, self.n_industries = None, 0
        if industry is not None:
            g = _as_dask("industry", industry, 2, chunks0, codes=True)
            _check_shape("industry", g, (T, N), "(T, N) like signal")
            self.industry, labels = _dense_industry("industry", g, None)
            self.n_industries = len(labels)
        self.weights = _as_dask("weights", weights, 2, chunks0, allow_none=True, labelled=labelled)
        _check_shape("weights", self.weights, (T, N), "(T, N) like signal")
        if self.dates is None and labelled:  # the labels of a frame label the result
            self.dates = next((e[1] for e in labelled if e[1] is not None), None)
            self.assets = next((e[2] for e in labelled if e[2] is not None), None)

    @property
    def shape(self) -> tuple[int, int]:
        return self.x.shape

    def arrays(self, r: da.Array | None = None) -> list[da.Array | None]:
        return [self.x, self.r if r is None else r, self.industry, self.weights]


def _check_block_data(returns_name: str | None, r: np.ndarray | None, w: np.ndarray | None) -> None:
    """The in-memory evaluation's data checks, on a block (raised by ``compute()``): returns
    finite or NaN (not checked for residuals, ``returns_name=None``, as in memory), weights."""
    if returns_name is not None and r is not None:
        check_simple_returns(returns_name, r)
    if w is not None:
        check_weights("weights", w)


def _ahead_rows(back: int, ahead: int, T: int):
    """Rows of a block ``[s, e)``: ``back`` dates before it (turnover, rank autocorrelation) and
    ``ahead`` after it (forward returns, IC decay); nothing else is read."""

    def rows(s: int, e: int) -> tuple[int, int]:
        return max(0, s - back), min(T, e + ahead)

    return rows


def _forward_block(hs, name, r):
    _check_block_data(name, r, None)
    return np.ascontiguousarray(_core.evaluate_forward_returns(np.ascontiguousarray(r), hs).transpose(1, 0, 2))


def forward_returns(returns: Any, horizons: Any = (1, 5, 21), *, filter_zscore: Any = None) -> da.Array:
    """:func:`ferrofactor.evaluate.forward_returns` of a dask array (or the ``returns`` of a
    :class:`DaskPanel`): ``(H, T, N)``, chunked by dates on the second axis.

    Each date block reads the ``max(horizons)`` dates after it (a look-ahead tail; the forward
    return of t compounds ``returns[t+1..t+h]`` by definition), so ``compute()`` equals the
    in-memory call bit for bit. ``filter_zscore`` (alphalens' whole-sample filter) is refused.
    """
    from ferrofactor.evaluate.signal import _horizons

    hs = _horizons(horizons)
    _no_zscore(filter_zscore)
    r = returns["returns"] if isinstance(returns, DaskPanel) and "returns" in returns else returns
    rd = _x("returns", r)
    T, N = rd.shape
    fn = functools.partial(_forward_block, hs, "returns")
    out = _history_map(fn, [rd], _ahead_rows(0, max(hs), T), tail=(len(hs), N), name="ff-forward")
    return out.transpose(1, 0, 2)


def _ic_block(hs, method, common, G, name, x, r, g, w):
    _check_block_data(name, r, w)
    fwd = _core.evaluate_forward_returns(np.ascontiguousarray(r), hs)
    return _core.evaluate_ic(x, fwd, None, None, g, G, w, common, method, g is not None)[0]


def information_coefficient(signal: Any, returns: Any, horizons: Any = (1, 5, 21), method: str = "spearman",
                            industry: Any = None, weights: Any = None, *, common_sample: bool = False,
                            filter_zscore: Any = None) -> da.Array:
    """:func:`ferrofactor.evaluate.information_coefficient` on the date blocks: ``(T, H)``.

    ``signal`` (T, N) and ``returns`` (T, N, or a :class:`DaskPanel`), ``industry`` and
    ``weights``: dask arrays or array-likes (at least one of signal and returns a dask array; the
    others are put on its date blocks). Each block reads the ``max(horizons)`` dates after it
    for its forward returns. Industry codes are mapped to dense codes over the whole array first.
    """
    from ferrofactor.evaluate.signal import _common, _horizons

    check_choice("method", method, ["spearman", "pearson"])
    hs = _horizons(horizons)
    common = _common(common_sample)
    _no_zscore(filter_zscore)
    d = _EvalInputs(signal, returns, industry, weights)
    fn = functools.partial(_ic_block, hs, method, common, d.n_industries, d.returns_name)
    return _history_map(fn, d.arrays(), _ahead_rows(0, max(hs), d.shape[0]), tail=(len(hs),), name="ff-ic")


def _fw_block(hs, common, demeaned, equal_weight, G, name, x, r, g, w):
    _check_block_data(name, r, None)
    fwd = _core.evaluate_forward_returns(np.ascontiguousarray(r), hs)
    return _core.evaluate_factor_weighted_returns(x, fwd, g, G, common, demeaned, g is not None, equal_weight)


def factor_weighted_returns(signal: Any, returns: Any, horizons: Any = (1, 5, 21), *, demeaned: bool = True,
                            industry: Any = None, equal_weight: bool = False, common_sample: bool = False,
                            filter_zscore: Any = None) -> da.Array:
    """:func:`ferrofactor.evaluate.factor_weighted_returns` on the date blocks: ``(T, H)`` (each
    block reads the ``max(horizons)`` dates after it)."""
    from ferrofactor.evaluate.signal import _common, _horizons

    hs = _horizons(horizons)
    demeaned, equal_weight = check_bool("demeaned", demeaned), check_bool("equal_weight", equal_weight)
    common = _common(common_sample)
    _no_zscore(filter_zscore)
    d = _EvalInputs(signal, returns, industry, None)
    fn = functools.partial(_fw_block, hs, common, demeaned, equal_weight, d.n_industries, d.returns_name)
    return _history_map(fn, d.arrays(), _ahead_rows(0, max(hs), d.shape[0]), tail=(len(hs),), name="ff-factor-weighted")


def _bucket_spec(quantiles: Any, bins: Any, binning_by_industry: Any, has_industry: bool):
    from ferrofactor.evaluate.signal import _buckets

    kind, count, values = _buckets(quantiles, bins)
    by_industry = check_bool("binning_by_industry", binning_by_industry)
    if by_industry and not has_industry:
        raise ValueError("binning_by_industry=True needs industry codes")
    return kind, count, values, by_industry


def _quantile_block(hs, kind, count, values, by_industry, common, demean, G, name, x, r, g, w):
    _check_block_data(name, r, w)
    fwd = _core.evaluate_forward_returns(np.ascontiguousarray(r), hs)
    labels = _core.evaluate_quantile_labels(x, g, G, w, fwd if common else None, kind, count, values, by_industry)
    by_date, counts = _core.evaluate_quantile_returns(labels, count, fwd, g, G, w, demean)
    return by_date, counts, labels


class LazyQuantileReturns:
    """:func:`quantile_returns` on Dask: ``by_date``, ``counts`` (T, Q, H) and ``labels`` (T, N)
    as dask arrays; ``compute()`` gives the :class:`ferrofactor.evaluate.QuantileReturns` (its
    means and Newey-West tests over dates computed in memory on the gathered (T, Q, H) arrays)."""

    def __init__(self, by_date, counts, labels, horizons, nw_lags, dates, assets, demeaned, buckets) -> None:
        self.by_date, self.counts, self.labels = by_date, counts, labels
        self.horizons, self.dates, self.assets = list(horizons), dates, assets
        self._nw_lags, self._demeaned, self._buckets = nw_lags, demeaned, buckets

    def compute(self, **kwargs: Any):
        from ferrofactor.evaluate.signal import QuantileReturns

        by_date, counts, labels = _gather(self.by_date, self.counts, self.labels, **kwargs)
        return QuantileReturns(by_date, counts, labels, self.horizons, self._nw_lags, dates=self.dates,
                               assets=self.assets, demeaned=self._demeaned, buckets=self._buckets)

    def __repr__(self) -> str:
        T, N = self.labels.shape
        return f"LazyQuantileReturns(T={T}, N={N}, buckets={self._buckets}, horizons={self.horizons})"


def quantile_returns(signal: Any, returns: Any, quantiles: Any = 5, *, bins: Any = None,
                     horizons: Any = (1, 5, 21), demeaned: bool = True, industry: Any = None,
                     weights: Any = None, binning_by_industry: bool = False, common_sample: bool = False,
                     filter_zscore: Any = None, nw_lags: int | None = None) -> LazyQuantileReturns:
    """:func:`ferrofactor.evaluate.quantile_returns` on the date blocks (quantile labels and
    bucket means per date; each block reads the ``max(horizons)`` dates after it). Returns a
    :class:`LazyQuantileReturns`."""
    from ferrofactor.evaluate.signal import _bucket_text, _check_nw_lags, _check_nw_lags_dates, _common, _horizons

    hs = _horizons(horizons)
    demeaned = check_bool("demeaned", demeaned)
    common = _common(common_sample)
    _no_zscore(filter_zscore)
    lags = _check_nw_lags(nw_lags, hs)
    d = _EvalInputs(signal, returns, industry, weights)
    _check_nw_lags_dates(lags, hs, d.shape[0])
    kind, count, values, by_industry = _bucket_spec(quantiles, bins, binning_by_industry, d.industry is not None)
    demean = "none" if not demeaned else ("industry" if d.industry is not None else "all")
    fn = functools.partial(_quantile_block, hs, kind, count, values, by_industry, common, demean,
                           d.n_industries, d.returns_name)
    T, N = d.shape
    by_date, counts, labels = _history_map_multi(
        fn, d.arrays(), _ahead_rows(0, max(hs), T),
        [((count, len(hs)), np.float64), ((count, len(hs)), np.uint32), ((N,), np.int32)], name="ff-quantiles")
    return LazyQuantileReturns(by_date, counts, labels, hs, lags, d.dates, d.assets, demean,
                               _bucket_text(quantiles, bins))


def _turnover_block(lag, kind, count, values, by_industry, G, x, g):
    labels = _core.evaluate_quantile_labels(x, g, G, None, None, kind, count, values, by_industry)
    return _core.evaluate_quantile_turnover(labels, count, [lag])[:, :, 0]


def quantile_turnover(signal: Any, quantiles: Any = 5, lag: int = 1, *, bins: Any = None,
                      industry: Any = None, binning_by_industry: bool = False) -> da.Array:
    """:func:`ferrofactor.evaluate.quantile_turnover` on the date blocks: ``(T, Q)``; each block
    reads the ``lag`` dates before it (the quantiles of t − lag)."""
    lag = check_int("lag", lag, 1)
    d = _EvalInputs(signal, None, industry, None, need_returns=False)
    kind, count, values, by_industry = _bucket_spec(quantiles, bins, binning_by_industry, d.industry is not None)
    fn = functools.partial(_turnover_block, lag, kind, count, values, by_industry, d.n_industries)
    return _history_map(fn, [d.x, d.industry], _ahead_rows(lag, 0, d.shape[0]), tail=(count,), name="ff-turnover")


def _autocorr_block(lag, G, x, g):
    return _core.evaluate_rank_autocorrelation(x, g, G, None, [lag])[:, 0]


def rank_autocorrelation(signal: Any, lag: int = 1, *, industry: Any = None) -> da.Array:
    """:func:`ferrofactor.evaluate.rank_autocorrelation` on the date blocks: ``(T,)``; each block
    reads the ``lag`` dates before it."""
    lag = check_int("lag", lag, 1)
    d = _EvalInputs(signal, None, industry, None, need_returns=False)
    fn = functools.partial(_autocorr_block, lag, d.n_industries)
    return _history_map(fn, [d.x, d.industry], _ahead_rows(lag, 0, d.shape[0]), tail=(), name="ff-rank-autocorrelation")


def _evaluate_block(spec, G, name, x, r, g, w):
    kind, count, values, by_industry, method, demeaned, common, hs, dl = spec
    _check_block_data(name, r, w)
    r = np.ascontiguousarray(r)
    fwd = _core.evaluate_forward_returns(r, hs)
    return tuple(_core.evaluate_panel(x, r, fwd, hs, g, G, w, method, kind, count, values, by_industry,
                                      demeaned, g is not None, common, dl))


#: the per-date outputs of ``_core.evaluate_panel``, in its order
_EVAL_OUTPUTS = ("ic", "ic_n_obs", "labels", "by_date", "counts", "factor_returns", "turnover",
                 "autocorrelation", "decay_ic")


class LazySignalEvaluation:
    """:func:`evaluate` on Dask: the per-date outputs as dask arrays chunked by dates.

    ``ic``, ``ic_n_obs``, ``factor_returns``, ``autocorrelation`` (T, H); ``by_date``,
    ``counts``, ``turnover`` (T, Q, H); ``decay_ic`` (T, L); ``labels`` (T, N) int32 quantile
    labels; ``residual``: the same on residual returns, or None. ``compute()`` gathers them
    (block by block) and gives the :class:`ferrofactor.evaluate.SignalEvaluation` of the
    in-memory call, bit for bit: its means and tests over dates (plain and Newey-West), mean
    turnover and autocorrelation are computed in memory on the gathered per-date series.
    """

    def __init__(self, arrays: Mapping[str, da.Array], *, horizons, decay_lags, nw_lags, dates, assets,
                 settings, demeaned, residual=None) -> None:
        self._arrays = dict(arrays)
        for k, v in self._arrays.items():
            setattr(self, k, v)
        self.horizons, self.decay_lags = list(horizons), list(decay_lags)
        self.dates, self.assets, self.settings = dates, assets, dict(settings)
        self._nw_lags, self._demeaned = nw_lags, demeaned
        self.residual = residual

    def _arrays_list(self) -> list[da.Array]:
        return [self._arrays[k] for k in _EVAL_OUTPUTS]

    def _build(self, values: Sequence[np.ndarray]):
        from ferrofactor.evaluate.signal import QuantileReturns, SignalEvaluation

        v = dict(zip(_EVAL_OUTPUTS, values))
        qr = QuantileReturns(v["by_date"], v["counts"], v["labels"], self.horizons, self._nw_lags,
                             dates=self.dates, assets=self.assets, demeaned=self._demeaned,
                             buckets=self.settings["buckets"])
        return SignalEvaluation(ic=v["ic"], ic_n_obs=v["ic_n_obs"], quantile_returns=qr,
                                factor_returns=v["factor_returns"], turnover=v["turnover"],
                                autocorrelation=v["autocorrelation"], decay_ic=v["decay_ic"],
                                decay_lags=self.decay_lags, horizons=self.horizons, nw_lags=self._nw_lags,
                                dates=self.dates, assets=self.assets, settings=self.settings)

    def compute(self, **kwargs: Any):
        """The in-memory :class:`~ferrofactor.evaluate.SignalEvaluation` (with its ``residual``)."""
        arrays = self._arrays_list()
        if self.residual is not None:
            arrays += self.residual._arrays_list()
        values = _gather(*arrays, **kwargs)
        k = len(_EVAL_OUTPUTS)
        total = self._build(values[:k])
        if self.residual is not None:
            total._residual = self.residual._build(values[k:])
        return total

    def __repr__(self) -> str:
        T, H = self._arrays["ic"].shape
        return (f"LazySignalEvaluation(T={T}, horizons={self.horizons}, "
                f"residual={'yes' if self.residual is not None else 'no'})")


def evaluate(signal: Any, returns: Any = None, horizons: Any = (1, 5, 21), quantiles: Any = 5,
             industry: Any = None, residual: Any = None, *, bins: Any = None, method: str = "spearman",
             weights: Any = None, demeaned: bool = True, binning_by_industry: bool = False,
             decay_lags: Any = None, nw_lags: int | None = None, common_sample: bool = False,
             filter_zscore: Any = None) -> LazySignalEvaluation:
    """:func:`ferrofactor.evaluate.evaluate` with its per-date parts on the date blocks.

    What is distributed: everything computed per date, in one task per date block
    (``_core.evaluate_panel``, as in memory): forward returns, IC, quantile labels and bucket
    returns, the factor-weighted book, quantile turnover and rank autocorrelation at a lag of each
    horizon, and the IC decay. A block reads the ``max(horizons)`` dates before it (the labels
    and ranks of t − h for turnover and autocorrelation) and the ``max(max(horizons),
    max(decay_lags))`` dates after it (the returns of t + 1 .. t + h and t + k: what the
    evaluation of date t is about). What is gathered: the per-date outputs ((T, H), (T, Q, H),
    (T, L) and the (T, N) int32 labels); ``compute()`` then runs the time-series parts in memory
    on them: means, plain and Newey-West tests, mean turnover and autocorrelation.

    Parameters
    ----------
    signal : dask array or array-like (T, N)
        Known at the close of each date.
    returns : dask array, array-like (T, N) or DaskPanel (its ``returns``), optional
        At least one of ``signal`` and ``returns`` must be a dask array; the other arrays are put
        on its date blocks. Optional when ``residual`` is given (its ``returns`` are used).
    residual : DaskFactorModelResult or FactorModelResult, optional
        Also evaluate on its residual returns (:attr:`LazySignalEvaluation.residual`).
    horizons, quantiles, industry, bins, method, weights, demeaned, binning_by_industry,
    decay_lags, nw_lags, common_sample :
        As :func:`ferrofactor.evaluate.evaluate` (industry codes are mapped to dense codes over
        the whole array first, one pass).
    filter_zscore : None
        alphalens' whole-sample filter is refused on Dask (ValueError).

    Returns
    -------
    LazySignalEvaluation
        ``compute()`` equals ``ff.evaluate.evaluate`` of the same data, bit for bit.

    Examples
    --------
    >>> import numpy as np, dask.array as da, ferrofactor as ff
    >>> rng = np.random.default_rng(0)
    >>> r = rng.normal(0, 0.02, (300, 50)); s = rng.normal(size=(300, 50))
    >>> lazy = ff.dask.evaluate(da.from_array(s, chunks=(100, -1)), r, horizons=(1, 5))
    >>> bool(np.array_equal(lazy.compute().ic, ff.evaluate.evaluate(s, r, horizons=(1, 5)).ic, equal_nan=True))
    True
    """
    from ferrofactor.evaluate.signal import _bucket_text, _check_nw_lags, _check_nw_lags_dates, _common, _horizons

    check_choice("method", method, ["spearman", "pearson"])
    hs = _horizons(horizons)
    demeaned = check_bool("demeaned", demeaned)
    common = _common(common_sample)
    _no_zscore(filter_zscore)
    lags = _check_nw_lags(nw_lags, hs)
    dl = list(hs) if decay_lags is None else _horizons(decay_lags, "decay_lags")
    res_values = res_dates = res_assets = None
    if residual is not None:
        from ferrofactor.model import FactorModelResult

        if not isinstance(residual, (FactorModelResult, DaskFactorModelResult)):
            raise TypeError(
                "residual must be a FactorModelResult or a ferrofactor.dask.DaskFactorModelResult "
                f"(ff.FactorModel().fit(...)), got {type(residual).__name__}"
            )
        if returns is None:
            returns = residual.returns
            if returns is None:
                raise ValueError("returns is required: the residual result carries no returns")
        res_values, res_dates, res_assets = residual.residuals, residual.dates, residual.assets
    d = _EvalInputs(signal, returns, industry, weights)
    T, N = d.shape
    _check_nw_lags_dates(lags, hs, T)
    dates, assets = d.dates, d.assets
    res_da = None
    if res_values is not None:
        res_da = _as_dask("residual.residuals", res_values, 2, d.x.chunks[0])
        _check_shape("residual.residuals", res_da, (T, N), "(T, N) like signal")
        check_same_labels("signal", dates, assets, "residual", res_dates, res_assets)
        dates = dates if dates is not None else res_dates
        assets = assets if assets is not None else res_assets
    kind, count, values, by_industry = _bucket_spec(quantiles, bins, binning_by_industry, d.industry is not None)
    settings = {
        "method": method, "buckets": _bucket_text(quantiles, bins),
        "industry": "none" if d.industry is None else f"{d.n_industries} (industry-adjusted"
        + (", binned within industries)" if by_industry else ")"),
        "sample": "common (alphalens)" if common else "pairwise",
        "returns": "total", "nw_lags": lags, "filter_zscore": None,
    }
    spec = (kind, count, values, by_industry, method, demeaned, common, hs, dl)
    demean = "none" if not demeaned else ("industry" if d.industry is not None else "all")
    H, Q, L = len(hs), count, len(dl)
    outputs = [((H,), np.float64), ((H,), np.uint32), ((N,), np.int32), ((Q, H), np.float64),
               ((Q, H), np.uint32), ((H,), np.float64), ((Q, H), np.float64), ((H,), np.float64),
               ((L,), np.float64)]
    rows = _ahead_rows(max(hs), max(max(hs), max(dl)), T)

    def one(r: da.Array, name: str, sett: dict) -> LazySignalEvaluation:
        fn = functools.partial(_evaluate_block, spec, d.n_industries, name)
        arrays = _history_map_multi(fn, d.arrays(r), rows, outputs, name="ff-evaluate")
        return LazySignalEvaluation(dict(zip(_EVAL_OUTPUTS, arrays)), horizons=hs, decay_lags=dl, nw_lags=lags,
                                    dates=dates, assets=assets, settings=sett, demeaned=demean)

    total = one(d.r, d.returns_name, settings)
    if res_da is not None:
        total.residual = one(res_da, None, dict(settings, returns="residual (specific)"))
    return total
