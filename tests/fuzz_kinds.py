"""Argument generators for the generated bad-input suite (tests/test_fuzz.py).

A *kind* describes one parameter of a public function: how to draw a plausible value for it
(consistent with the case's dimensions T dates, N assets, K styles) and how to draw a hostile one
(wrong type, wrong shape, ragged lists, masked arrays, out-of-range numbers, huge integers...).
Arrays are drawn from a seed and a *flavour* with numpy (NaN-heavy, huge values that overflow a
sum of squares, tiny values whose squares underflow, ties, ±inf, float32/int/bool dtypes,
Fortran-ordered or strided layouts), so that hypothesis stays fast on whole panels.

Every draw records in the case context ``ctx`` whether an infinite value was given
(``ctx.inf_given``) and the largest finite magnitude given (``ctx.max_abs``), which the checks use
("no inf where none was given").
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import polars as pl
from hypothesis import strategies as st

# --- the case context -------------------------------------------------------------------------


@dataclass
class Ctx:
    T: int
    N: int
    K: int
    inf_given: bool = False
    max_abs: float = 0.0
    extreme_ints: bool = False
    notes: dict[str, Any] = field(default_factory=dict)

    def saw(self, x: Any) -> None:
        """Record the infinities and the largest finite magnitude of an input."""
        if isinstance(x, (pl.DataFrame, pl.Series)):
            try:
                x = x.select(pl.selectors.numeric()).to_numpy() if isinstance(x, pl.DataFrame) else x.to_numpy()
            except Exception:  # noqa: BLE001 - a hostile frame
                return
        if type(x).__module__.startswith("dask") and hasattr(x, "compute"):
            try:
                x = x.compute()
            except Exception:  # noqa: BLE001 - a hostile array
                return
        if isinstance(x, (list, tuple, dict)):
            for v in (x.values() if isinstance(x, dict) else x):
                self.saw(v)
            return
        if isinstance(x, (float, np.floating)):
            x = np.array([x])
        if isinstance(x, np.ndarray) and x.dtype.kind == "f" and x.size:
            a = np.ma.getdata(x)
            if np.isinf(a).any():
                self.inf_given = True
            fin = np.abs(a[np.isfinite(a)])
            if fin.size:
                self.max_abs = max(self.max_abs, float(fin.max()))


HUGE = 1e154  # squares of values at or above this overflow float64

# --- hostile values shared by every kind --------------------------------------------------------


class _Weird:
    def __repr__(self) -> str:
        return "<weird object>"


HOSTILE_SCALARS = [None, "abc", "", "3", b"x", 2.5, -1, 0, True, False, object(), _Weird(), [],
                   {}, (1, 2), np.nan, np.inf, -np.inf, 1e308, 2**63, 2**64, -(2**70), 1j,
                   np.datetime64("2024-01-02"), np.float64("nan"), np.int64(-5), np.bool_(True)]


def hostile_scalar() -> st.SearchStrategy:
    return st.sampled_from(HOSTILE_SCALARS)


def hostile_array(ctx: Ctx, shape: tuple[int, ...]) -> st.SearchStrategy:
    """Array-like values that are wrong in type, dimension, shape, layout or content."""
    T, N = ctx.T, ctx.N
    wrong = tuple(s + 1 for s in shape)
    opts: list[Callable[[], Any]] = [
        lambda: None,
        lambda: "not an array",
        lambda: 3.0,
        lambda: [[1.0, 2.0], [3.0]],  # ragged
        lambda: [[1.0, 2.0], [3.0, "x"]],  # mixed
        lambda: np.zeros(shape + (2,)),  # one dimension too many
        lambda: np.zeros(shape[:-1]) if shape else np.zeros(2),  # one too few
        lambda: np.zeros(wrong),  # wrong shape
        lambda: np.zeros((0,) * max(len(shape), 1)),  # empty
        lambda: np.full(shape, "a", dtype=object),
        lambda: np.array(["1.0"] * int(np.prod(shape)), dtype=str).reshape(shape),
        lambda: np.zeros(shape, dtype=complex),
        lambda: np.ma.masked_array(np.ones(shape), mask=np.ones(shape, bool)),
        lambda: np.zeros(shape, dtype="datetime64[D]"),
        lambda: {"a": np.zeros(shape)},
        lambda: _Weird(),
        lambda: pl.DataFrame({"date": ["2024-01-02"], "x": [1.0]}),
        lambda: pl.Series("x", [1.0, 2.0]),
        lambda: np.full(shape, np.inf),
    ]
    del T, N
    return st.sampled_from(range(len(opts))).map(lambda i: opts[i]())


# --- float arrays --------------------------------------------------------------------------------

FLAVOURS = ["normal", "normal", "normal", "nan", "allnan", "inf", "huge", "onehuge", "max", "tiny",
            "constant", "ties", "zeros", "mixed"]


def _values(rng: np.random.Generator, shape: tuple[int, ...], flavour: str, positive: bool) -> np.ndarray:
    size = int(np.prod(shape))
    if flavour == "normal":
        x = rng.normal(0, rng.choice([1e-3, 1.0, 100.0]), size)
    elif flavour == "nan":
        x = rng.normal(size=size)
        x[rng.random(size) < 0.6] = np.nan
    elif flavour == "allnan":
        x = np.full(size, np.nan)
    elif flavour == "inf":
        x = rng.normal(size=size)
        x[rng.random(size) < 0.2] = np.inf
        x[rng.random(size) < 0.1] = -np.inf
    elif flavour == "huge":
        x = rng.normal(size=size) * 10.0 ** rng.uniform(154, 300)
    elif flavour == "onehuge":
        x = rng.normal(size=size)
        if size:
            x[rng.integers(size)] = rng.choice([1e155, -1e200, 1e300])
    elif flavour == "max":
        x = rng.choice([-1.7e308, 1.7e308, 1.0], size)
    elif flavour == "tiny":
        x = rng.normal(size=size) * 10.0 ** rng.uniform(-320, -150)
    elif flavour == "constant":
        x = np.full(size, rng.normal())
    elif flavour == "ties":
        x = rng.integers(-2, 3, size).astype(float)
    elif flavour == "zeros":
        x = np.zeros(size)
    else:  # mixed
        x = rng.normal(size=size) * 10.0 ** rng.integers(-200, 200, size)
        x[rng.random(size) < 0.2] = np.nan
    if positive:
        x = np.abs(x)
    return x.reshape(shape)


@st.composite
def float_array(draw, ctx: Ctx, shape: tuple[int, ...], *, positive: bool = False,
                finite: bool = False, flavours: list[str] | None = None) -> np.ndarray:
    seed = draw(st.integers(0, 2**32 - 1))
    flavour = draw(st.sampled_from(flavours or FLAVOURS))
    if finite and flavour in ("inf",):
        flavour = "normal"
    rng = np.random.default_rng(seed)
    x = _values(rng, shape, flavour, positive)
    layout = draw(st.sampled_from(["C", "C", "C", "F", "strided", "float32", "int", "bool"]))
    if layout == "F":
        x = np.asfortranarray(x)
    elif layout == "strided" and x.ndim >= 1:
        big = np.repeat(x, 2, axis=-1)
        x = big[..., ::2]
    elif layout == "float32":
        with np.errstate(over="ignore"):
            x = x.astype(np.float32)
    elif layout == "int":
        x = np.nan_to_num(x, nan=0.0, posinf=1.0, neginf=-1.0).clip(-1e6, 1e6).astype(np.int64)
    elif layout == "bool":
        x = np.nan_to_num(x) > 0
    ctx.saw(x)
    return x


def tn_field(ctx: Ctx, *, positive: bool = False, optional: bool = False, p_hostile: float = 0.1,
          flavours: list[str] | None = None) -> st.SearchStrategy:
    """A (T, N) float field."""
    return _maybe(ctx, float_array(ctx, (ctx.T, ctx.N), positive=positive, flavours=flavours),
                  (ctx.T, ctx.N), optional, p_hostile)


def series_t(ctx: Ctx, *, optional: bool = False, positive: bool = False) -> st.SearchStrategy:
    return _maybe(ctx, float_array(ctx, (ctx.T,), positive=positive), (ctx.T,), optional, 0.1)


def series_n(ctx: Ctx, *, optional: bool = False, positive: bool = False) -> st.SearchStrategy:
    return _maybe(ctx, float_array(ctx, (ctx.N,), positive=positive), (ctx.N,), optional, 0.1)


def styles(ctx: Ctx, *, optional: bool = False) -> st.SearchStrategy:
    return _maybe(ctx, float_array(ctx, (ctx.T, ctx.N, ctx.K)), (ctx.T, ctx.N, ctx.K), optional, 0.1)


def array(ctx: Ctx, shape: tuple[int, ...], *, optional: bool = False, positive: bool = False,
          finite: bool = False, p_hostile: float = 0.1) -> st.SearchStrategy:
    return _maybe(ctx, float_array(ctx, shape, positive=positive, finite=finite), shape, optional, p_hostile)


def _maybe(ctx: Ctx, good: st.SearchStrategy, shape: tuple[int, ...], optional: bool,
           p_hostile: float) -> st.SearchStrategy:
    choices = [good] * int(round((1 - p_hostile) * 20)) + [hostile_array(ctx, shape)] * int(round(p_hostile * 20))
    if optional:
        choices += [st.none()] * 3
    return st.one_of(*choices) if len(choices) > 1 else choices[0]


# --- integer codes ---------------------------------------------------------------------------


@st.composite
def _codes(draw, ctx: Ctx) -> np.ndarray:
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    style = draw(st.sampled_from(["dense", "gics", "sparse", "negative", "float", "none", "one"]))
    shape = (ctx.T, ctx.N)
    if style == "dense":
        c = rng.integers(-1, 3, shape)
    elif style == "gics":
        c = rng.choice([10101010, 15101010, 45203010, -1], shape)
    elif style == "sparse":
        c = rng.choice([0, 2**31 - 1, 7, 2**40, -1], shape)
    elif style == "negative":
        c = rng.integers(-5, 3, shape)
    elif style == "float":
        c = rng.integers(-1, 3, shape).astype(float)
        if c.size and rng.random() < 0.5:
            c.flat[0] = 0.5
    elif style == "none":
        c = np.full(shape, -1)
    else:
        c = np.zeros(shape, dtype=np.int32)
    return c


def industry(ctx: Ctx, *, optional: bool = True) -> st.SearchStrategy:
    return _maybe(ctx, _codes(ctx), (ctx.T, ctx.N), optional, 0.1)


# --- scalars ---------------------------------------------------------------------------------


def _typed(ctx: Ctx, strategy: st.SearchStrategy, kind: str) -> st.SearchStrategy:
    """Record that values drawn from ``strategy`` must have type ``kind`` when accepted:
    "int", "int?" (None allowed) or "bool" (a float or a string accepted there is a silent
    truncation or misreading). Kept in the case context (strategies alive, ids unique)."""
    ctx.notes.setdefault("strategies", []).append(strategy)
    ctx.notes.setdefault("typed_ids", {})[id(strategy)] = kind
    return strategy


def typed_kind(ctx: Ctx, strategy: st.SearchStrategy) -> str | None:
    return ctx.notes.get("typed_ids", {}).get(id(strategy))


def integer(ctx: Ctx, lo: int = 0, hi: int = 20, *, optional: bool = False) -> st.SearchStrategy:
    """An integer setting: mostly in [lo, hi]; sometimes out of range, a float, a bool, a
    string or (with ``ctx.extreme_ints``, in the address-space-limited child) huge."""
    opts = [st.integers(lo, hi)] * 6 + [st.integers(-3, lo - 1) if lo > -3 else st.integers(-3, -1),
                                        st.sampled_from([2.0, 2.5, float("nan"), np.float64(3.0)]),
                                        st.sampled_from([True, False, "2", None, np.int32(2), np.int64(3)])]
    if ctx.extreme_ints:
        opts += [st.sampled_from([10**6, 10**9, 10**9 + 1, 2**31, 2**32 + 1, 2**62, 2**63, 2**64,
                                  2**80, -(2**63), -(2**64)])] * 4
    else:
        opts += [st.integers(hi + 1, hi + 50)]
    if optional:
        opts += [st.none()] * 2
    return _typed(ctx, st.one_of(*opts), "int?" if optional else "int")


def real(ctx: Ctx, lo: float = -3.0, hi: float = 3.0, *, optional: bool = False) -> st.SearchStrategy:
    opts = [st.floats(lo, hi)] * 6 + [
        st.sampled_from([float("nan"), float("inf"), -float("inf"), 1e308, -1e308, 0.0, -0.0, 5e-324,
                         True, "1.0", None, 1j, np.float32(0.5), np.int64(1)]),
        st.floats(allow_nan=True, allow_infinity=True),
    ]
    if optional:
        opts += [st.none()] * 2
    return st.one_of(*opts)


def boolean(ctx: Ctx) -> st.SearchStrategy:
    return _typed(ctx, st.one_of(*([st.booleans()] * 6 + [st.sampled_from(["False", "True", 0, 1, None, np.bool_(False), 1.0])])), "bool")


def choice(ctx: Ctx, options: list[Any]) -> st.SearchStrategy:
    return st.one_of(*([st.sampled_from(options)] * 6 + [st.sampled_from(["", "SIGMA", "bogus", 0, None, 1.5, ["sigma"]])]))


def const(value: Any) -> st.SearchStrategy:
    return st.just(value)


def one_of_values(*values: Any) -> st.SearchStrategy:
    return st.sampled_from(list(values))


# --- labels ----------------------------------------------------------------------------------


@st.composite
def dates(draw, ctx: Ctx, n: int | None = None, optional: bool = True):
    n = ctx.T if n is None else n
    style = draw(st.sampled_from(["ok", "ok", "ok", "iso", "unsorted", "dup", "far", "us", "int",
                                  "objects", "nat", "wrong_len"] + (["none"] * 2 if optional else [])))
    base = np.datetime64("2020-01-01") + np.arange(n)
    if style == "none":
        return None
    if style == "ok":
        return base
    if style == "iso":
        return [str(d) for d in base]
    if style == "unsorted":
        return base[::-1].copy()
    if style == "dup":
        return np.full(n, base[0] if n else np.datetime64("2020-01-01"))
    if style == "far":
        d = base.copy()
        if n:
            d[-1] = np.datetime64("4000-01-01")
        return d
    if style == "us":
        return [f"{int(str(d)[5:7])}/{int(str(d)[8:10])}/{str(d)[:4]}" for d in base]
    if style == "int":
        return np.arange(n) + 20240101
    if style == "objects":
        return [_dt.date(2020, 1, 1) + _dt.timedelta(days=i) for i in range(n)]
    if style == "nat":
        d = base.copy()
        if n:
            d[0] = np.datetime64("NaT")
        return d
    return np.datetime64("2020-01-01") + np.arange(n + 1)


@st.composite
def assets(draw, ctx: Ctx, n: int | None = None, optional: bool = True):
    n = ctx.N if n is None else n
    style = draw(st.sampled_from(["ok", "ok", "ints", "dup", "wrong_len", "objects"] + (["none"] * 2 if optional else [])))
    if style == "none":
        return None
    if style == "ok":
        return np.array([f"A{i}" for i in range(n)])
    if style == "ints":
        return np.arange(n)
    if style == "dup":
        return np.array(["A"] * n)
    if style == "objects":
        return [object() for _ in range(n)]
    return np.array([f"A{i}" for i in range(n + 1)])


def names(ctx: Ctx, n: int, *, optional: bool = True) -> st.SearchStrategy:
    opts = [st.just([f"s{i}" for i in range(n)])] * 4 + [
        st.just([f"s{i}" for i in range(n + 1)]), st.just(["dup"] * n), st.just("abc"), st.just(123),
        st.just([1.5] * n),
    ]
    if optional:
        opts += [st.none()] * 3
    return st.one_of(*opts)
