"""Generated bad-input suite (issue 10): every public function, constructor and method.

The callables are discovered from ``ferrofactor.__all__`` and the ``__all__`` of every submodule
(and the public methods of the public classes), so a new public function is either fuzzed here
(``SPECS``) or listed in ``SKIPPED`` with the reason; ``test_every_public_callable_is_covered``
fails otherwise.

For each callable hypothesis draws arguments (see ``tests/fuzz_kinds.py``): shapes with 0, 1 and
a few dates/assets/styles, float64/float32/int/bool and Fortran/strided layouts, NaN-heavy,
infinite, huge (≥ 1e154: squares overflow) and tiny (squares underflow) values, wrong types,
ragged lists, masked arrays, out-of-range and wrongly typed options. Each call must either

- raise ``ValueError``/``TypeError`` (or a subclass) whose message names one of the arguments, or
- return a result of the documented shape with no ±inf where no infinite value was given (outputs
  that are infinite by definition for finite input, such as a t-statistic of an exact fit, are
  declared per callable); any result object must also print its ``summary()`` and convert to
  Polars; and a failed ``fit`` must leave the estimator exactly as it was.

Anything else (``RuntimeError``, ``OverflowError``, ``ZeroDivisionError``, ``IndexError``,
``MemoryError``, numpy's messages, a hang or an abort) fails. Integer settings as large as 2**80
(allocations that could abort the interpreter) are tried in a child process under an
address-space limit (``RLIMIT_AS``) and a timeout, so an abort fails that test instead of killing
the run (``test_extreme_integers_in_a_limited_child``).

Examples per callable: ``FERROFACTOR_FUZZ_EXAMPLES`` (default 12, derandomised for CI; set
``FERROFACTOR_FUZZ_RANDOM=1`` for fresh random cases). The number of cases tried is printed at
the end of the session (``-s``) and written to ``FERROFACTOR_FUZZ_COUNT_FILE`` if set.
"""

from __future__ import annotations

import copy
import functools
import importlib
import inspect
import os
import pkgutil
import re
import resource
import sqlite3
import subprocess
import sys
import tempfile
import warnings
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import ferrofactor as ff
from ferrofactor.results import Result

_optimize = importlib.import_module("ferrofactor.optimize")  # ff.optimize is the function
_construct = importlib.import_module("ferrofactor.construct")

sys.path.insert(0, os.path.dirname(__file__))
import fuzz_kinds as K  # noqa: E402

EXAMPLES = int(os.environ.get("FERROFACTOR_FUZZ_EXAMPLES", "12"))
CHILD = os.environ.get("FERROFACTOR_FUZZ_CHILD") == "1"
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=os.environ.get("FERROFACTOR_FUZZ_RANDOM") != "1",
    database=None,
    suppress_health_check=list(HealthCheck),
    print_blob=True,
    **({"phases": [Phase.explicit, Phase.reuse, Phase.generate]} if os.environ.get("FERROFACTOR_FUZZ_NOSHRINK") else {}),
)

#: Dask graphs and matplotlib figures cost 10-100x a plain call: a third of the examples
FUZZ_SLOW = settings(FUZZ, max_examples=max(2, EXAMPLES // 3))
#: one wrongly typed flag or count per case (a refusal is quick)
FUZZ_TYPED = settings(FUZZ, max_examples=max(2, EXAMPLES // 2))

COUNT = {"cases": 0, "errors": 0, "results": 0}


# ---------------------------------------------------------------------------------------------
# Objects the methods are called on (small, built once)
# ---------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def pool() -> dict[str, Any]:
    panel = ff.datasets.synthetic_universe(n_assets=14, n_days=70, n_industries=3, n_styles=2, seed=3)
    ex = ff.Exposures.from_panel(panel, descriptor_options={"window": 10, "liquidity_window": 5})
    res = ff.FactorModel().fit(panel, ex)
    risk = ff.RiskModel(vol_half_life=10, corr_half_life=20, specific_half_life=10, min_periods=3,
                        specific_min_periods=3, specific_blend_periods=3).fit(res)
    T, N = panel.shape
    rng = np.random.default_rng(0)
    cs = ff.cross_section_regress(panel["returns"], ex.styles, dates=panel.dates, assets=panel.assets)
    results = {
        "exposures": ex, "result": res, "fmb_result": res.fama_macbeth(),
        "fmb": ff.fama_macbeth(panel["returns"][1:], ex.styles[:-1]), "cs": cs, "risk": risk,
        "decomposition": risk.risk_decomposition(np.where(risk.covered(-2), 1.0, 0.0) / max(risk.covered(-2).sum(), 1), date=-2),
        "bias": ff.evaluate.bias_statistic(rng.normal(size=(20, 2)), np.ones((20, 2))),
        "bias_test": ff.evaluate.bias_test(risk, panel, rng.random((2, N)), dates=np.arange(40, 60)),
        "min_var": ff.evaluate.minimum_variance_test(risk, panel, every=7),
        "residual_correlation": ff.evaluate.residual_correlation(res, min_periods=5),
        "momentum_selection": ff.momentum_selection(panel, window=20, skip=2, min_dollar_volume=0.0),
        "optimization": _optimize.optimize(rng.normal(0, 0.01, N), risk, date=-1),
        "ts": ff.time_series_regress(panel["returns"][:, :4], res.factor_returns[:, :2], cov="hac", lags=2),
        "ts_frame": ff.time_series_regress(
            pl.DataFrame({"date": panel.dates, "A": panel["returns"][:, 0], "B": panel["returns"][:, 1]}),
            pl.DataFrame({"date": panel.dates, "mkt": res.factor_returns[:, 0]})),
        "ts_empty": ff.time_series_regress(np.full((5, 2), np.nan), np.zeros((5, 1))),
        "alpha": ff.alpha_test(rng.normal(size=(T, 2)) * 0.01, {"one": res.factor_returns[:, :1], "two": res.factor_returns[:, [0, -1]]}),
        "attribution": ff.attribute(np.where(np.isfinite(panel["returns"]), 1.0 / N, 0.0), res),
        "attribution_empty": ff.attribute(np.zeros((T, N)), res, costs=np.full(T, 1e-4)),
        "metrics": ff.metrics.summary(rng.normal(size=(T, 2)) * 0.01, dates=panel.dates, benchmark=rng.normal(size=T) * 0.01),
        "metrics_one": ff.metrics.summary(np.array([0.01]), turnover=np.array([0.5]), costs=np.array([0.0])),
        "evaluation": ff.evaluate.evaluate(ex.styles[:, :, 0], residual=res, horizons=(1, 5), decay_lags=(1, 2, 3)),
        "evaluation_nan": ff.evaluate.evaluate(np.full((4, 3), np.nan), np.zeros((4, 3)), horizons=(1, 2), quantiles=2),
        "quantile_returns": ff.evaluate.quantile_returns(ex.styles[:, :, 0], panel, 3, horizons=(1, 5)),
        "quantile_returns_nan": ff.evaluate.quantile_returns(np.full((3, 2), np.nan), np.zeros((3, 2)), 2, horizons=(1,)),
    }
    tmp = tempfile.mkdtemp(prefix="ff-fuzz-")
    files = {
        "empty_csv": os.path.join(tmp, "empty.csv"), "garbage_parquet": os.path.join(tmp, "garbage.parquet"),
        "prices_csv": os.path.join(tmp, "prices.csv"), "prices_parquet": os.path.join(tmp, "prices.parquet"),
        "no_ext": os.path.join(tmp, "prices"), "missing": os.path.join(tmp, "nope.parquet"),
        "glob": os.path.join(tmp, "*.csv"), "dir": tmp,
    }
    open(files["empty_csv"], "w").close()
    with open(files["garbage_parquet"], "w") as f:
        f.write("date,asset,close\n2024-01-02,A,1.0\n")
    frame = pl.DataFrame({"date": ["2024-01-02", "2024-01-03"], "asset": ["A", "A"], "close": [1.0, 1.1]})
    frame.write_csv(files["prices_csv"])
    frame.write_parquet(files["prices_parquet"])
    frame.write_csv(files["no_ext"])
    con = sqlite3.connect(":memory:", check_same_thread=False)
    con.execute("create table prices(date text, asset text, close real)")
    con.executemany("insert into prices values (?, ?, ?)", frame.rows())
    return dict(results, panel=panel, T=T, N=N, K=ex.styles.shape[2], files=files, con=con, tmp=tmp)


def pool_dims(ctx_T: int | None = None) -> tuple[int, int, int]:
    p = pool()
    return p["T"], p["N"], p["K"]


# ---------------------------------------------------------------------------------------------
# Specs
# ---------------------------------------------------------------------------------------------


@dataclass(eq=False)
class Spec:
    """How to fuzz one callable.

    ``fn``: the callable, or ``fn(pool) -> callable`` when ``bound`` (methods of pooled objects,
    estimators built per case). ``params(ctx) -> {name: strategy}``. ``out(result, ctx, kwargs)``
    checks shapes. ``inf_ok``: output names that may be infinite for finite input;
    ``inf_if_huge``: outputs that may overflow when a value ≥ 1e154 was given (squares).
    ``dims``: "free" (drawn), or "pool" (the pooled panel's T, N, K).
    """

    fn: Callable
    params: Callable[[K.Ctx], dict[str, st.SearchStrategy]]
    out: Callable[[Any, K.Ctx, dict], None] | None = None
    inf_ok: tuple[str, ...] = ()
    inf_if_huge: tuple[str, ...] = ()
    inf_if_max: tuple[str, ...] = ()  # a spread of values near ±1.8e308 (a std of ±1.7e308 is 2.4e308)
    aliases: tuple[str, ...] = ()
    bound: bool = False
    dims: str = "free"
    estimator: bool = False  # a method that must leave its object unchanged when it raises
    extreme: bool = True  # has integer settings worth trying at extreme values
    always: tuple[str, ...] = ()  # never left at their default (e.g. a default full-size universe)


def shape_of(x: Any) -> tuple[int, ...] | None:
    if isinstance(x, np.ndarray) and not isinstance(x, np.ma.MaskedArray):
        return x.shape
    return None


def expect(arr: Any, shape: tuple[int, ...] | None, what: str = "result") -> None:
    if shape is None:
        return
    assert isinstance(arr, np.ndarray), f"{what} is {type(arr).__name__}, expected an ndarray"
    assert arr.shape == tuple(shape), f"{what} has shape {arr.shape}, expected {shape}"


def same_as(arg: str) -> Callable:
    """The result has the shape of argument ``arg`` (when it was an ndarray)."""
    def check(out, ctx, kw):
        if isinstance(out, pl.DataFrame):
            return
        expect(out, shape_of(kw.get(arg)))
    return check


def _plain(kw: dict, name: str) -> np.ndarray | None:
    """``kw[name]`` as float64 when it is a plain numeric ndarray (else None: no oracle)."""
    x = kw.get(name)
    if isinstance(x, np.ndarray) and not isinstance(x, np.ma.MaskedArray) and x.dtype.kind in "fiub" and x.ndim == 2:
        with np.errstate(over="ignore"):
            return x.astype(np.float64)
    return None


def _standardize_oracle(out, ctx, kw):
    """Without weights, industries or winsorisation: each date's z-scores equal numpy's on the
    values scaled by a power of two (exact), whatever their magnitude (issue 10, family 5:
    a value of 1e154 or more used to turn the whole date into zeros)."""
    same_as("x")(out, ctx, kw)
    x = _plain(kw, "x")
    if x is None or any(kw.get(k) is not None for k in ("weights", "industry", "winsorize")):
        return
    for t in range(x.shape[0]):
        row = x[t]
        fin = np.isfinite(row)
        want = np.full(row.shape, np.nan)
        v = row[fin]
        if v.size >= 2 and v.min() != v.max():
            e = np.floor(np.log2(np.abs(v).max()))
            y = v * 2.0 ** -e if abs(e) < 1000 else (v * 2.0 ** (-e / 2)) * 2.0 ** (-e / 2)
            want[fin] = (y - y.mean()) / y.std(ddof=1)
        elif v.size:
            want[fin] = 0.0
        np.testing.assert_allclose(out[t], want, rtol=1e-9, atol=1e-9, err_msg=f"date {t}: {row}")


def _rolling_oracle(name: str) -> Callable:
    """The rolling statistics equal the plain-numpy baseline (one window at a time) when no
    square can overflow or underflow; tolerance relative to the window's own magnitude (a value
    that left the window must not leave its rounding error behind: issue 10, family 5)."""
    def check(out, ctx, kw):
        same_as("x")(out, ctx, kw)
        x = _plain(kw, "x")
        if x is None or not isinstance(out, np.ndarray):
            return
        fin = np.abs(x[np.isfinite(x)])
        if fin.size and (fin.max() > 1e150 or fin[fin > 0].min(initial=1.0) < 1e-150):
            return
        stat = name.split("_")[1]
        fn = getattr(ff.baseline, name)
        args = {k: kw[k] for k in ("window", "min_periods", "half_life") if k in kw}
        hl = args.get("half_life")
        if isinstance(hl, (float, int)) and hl > 0 and 0.5 ** (x.shape[0] / hl) < 1e-300:
            return  # the oracle's weights 0.5 ** (lag / half_life) underflow to 0 (0 / 0 = NaN)
        try:
            want = fn(x, **args)
        except Exception:  # noqa: BLE001 - the oracle does not validate; ours accepted it
            return
        T = x.shape[0]
        w = kw.get("window")
        for t in range(T):
            lo = 0 if w is None else max(0, t - int(w) + 1)
            win = np.abs(np.where(np.isfinite(x[lo:t + 1]), x[lo:t + 1], 0.0)).max(axis=0, initial=0.0)
            scale = win**2 if stat == "var" else win * (T if stat == "sum" else 1)
            bad = ~(np.isclose(out[t], want[t], rtol=1e-7, atol=0, equal_nan=True)
                    | (np.abs(out[t] - want[t]) <= 1e-9 * scale))
            assert not bad.any(), f"{stat} at date {t}: {out[t]} vs oracle {want[t]} (x={x[:, bad]})"
    return check


def tn(ctx: K.Ctx) -> tuple[int, int]:
    return (ctx.T, ctx.N)


P = K  # shorthand in the tables below

WINSOR = ["sigma", "quantile", "mad"]


def _rolling(stat_has_half_life: bool) -> Callable:
    def params(c):
        d = {"x": K.tn_field(c), "window": K.integer(c, 1, 8), "min_periods": K.integer(c, 1, 8, optional=True)}
        if stat_has_half_life:
            d["half_life"] = K.real(c, 0.1, 50, optional=True)
        return d
    return params


def _ewm(c):
    return {"x": K.tn_field(c), "half_life": K.real(c, 0.1, 50), "min_periods": K.integer(c, 1, 8),
            "window": K.integer(c, 1, 8, optional=True)}


def _beta_out(out, ctx, kw):
    s = shape_of(kw.get("returns"))
    assert isinstance(out, tuple) and len(out) == 2
    expect(out[0], s, "beta")
    expect(out[1], s, "resid_vol")


def _csr_params(c):
    return {
        "returns": K.tn_field(c), "styles": K.styles(c, optional=True), "industry": K.industry(c),
        "weights": K.tn_field(c, positive=True, optional=True), "market": K.boolean(c),
        "industry_constraint": K.choice(c, ["cap", "equal", None]), "cap": K.tn_field(c, positive=True, optional=True),
        "style_names": K.names(c, c.K), "industry_names": st.one_of(st.none(), st.none(), st.just(["a", "b", "c", "d"]), st.just({0: "x"})),
        "lag": K.integer(c, 0, 4), "dates": K.dates(c), "assets": K.assets(c),
    }


def _csr_out(out, ctx, kw):
    s = shape_of(kw.get("returns"))
    if s is not None:
        expect(out.residuals, s, "residuals")
        assert out.factor_returns.shape[0] == s[0]
        assert out.factor_returns.shape[1] == len(out.factor_names)


def _fmb_params(c):
    return {"returns": K.tn_field(c), "characteristics": K.styles(c), "intercept": K.boolean(c),
            "cov": K.choice(c, ["unadjusted", "kernel"]), "bandwidth": K.real(c, 0, 10, optional=True),
            "names": K.names(c, c.K), "dates": K.dates(c), "assets": K.assets(c)}


def _fmb_out(out, ctx, kw):
    k = out.estimates.shape[1]
    assert out.params.shape == (k,) and out.cov.shape == (k, k)


def _clip_out(out, ctx, kw):
    s = shape_of(kw.get("returns"))
    expect(out[0], s, "clipped")
    if s is not None:
        expect(out[1], (s[0],), "n_clipped")


def _ms_params(c):
    return {"returns": K.tn_field(c), "dollar_volume": K.tn_field(c, positive=True, optional=True),
            "rebalance": st.one_of(st.none(), st.just(np.arange(c.T)), st.just(np.ones(c.T, bool)),
                                   st.just(np.array([c.T + 3])), st.just(np.array([1.5])), st.just([0, 0])),
            "window": K.integer(c, 1, 8), "skip": K.integer(c, 0, 4), "min_dollar_volume": K.real(c, 0, 10),
            "percentile": K.real(c, 0, 0.5), "min_fraction": K.real(c, 0, 1), "dates": K.dates(c),
            "assets": K.assets(c)}


def _desc_mapping(c):
    fields = st.fixed_dictionaries({"returns": K.tn_field(c), "market_cap": K.tn_field(c, positive=True)},
                                   optional={"dollar_volume": K.tn_field(c, positive=True),
                                             "book_value": K.tn_field(c), "earnings": K.tn_field(c),
                                             "revenue": K.tn_field(c), "net_income": K.tn_field(c),
                                             "total_assets": K.tn_field(c), "total_liabilities": K.tn_field(c),
                                             "operating_cash_flow": K.tn_field(c)})
    return st.one_of(fields, fields, st.just(pool()["panel"]), K.hostile_scalar())


def _long_frame(c, value_cols=("close",), date_col="date"):
    """A long (date, asset, values) frame, sometimes broken (duplicates, non-ISO or far dates,
    nulls, missing or non-numeric columns)."""
    @st.composite
    def build(draw):
        n = draw(st.integers(0, 6))
        style = draw(st.sampled_from(["ok", "ok", "ok", "dup", "us", "int", "far", "null", "missing",
                                      "text", "dt", "bool"]))
        days = [f"2024-01-{d:02d}" for d in draw(st.lists(st.integers(1, 28), min_size=n, max_size=n))]
        assets_ = draw(st.lists(st.sampled_from(["A", "B", "C", "007"]), min_size=n, max_size=n))
        cols: dict[str, Any] = {date_col: days, "asset": assets_}
        rng = np.random.default_rng(draw(st.integers(0, 99)))
        for v in value_cols:
            cols[v] = list(np.abs(rng.normal(size=n)) + 0.5)
        if style == "dup" and n:
            cols[date_col] = [days[0]] * n
            cols["asset"] = ["A"] * n
        elif style == "us":
            cols[date_col] = [f"01/{d[-2:]}/2024" for d in days]
        elif style == "int":
            cols[date_col] = [int(d.replace("-", "")) for d in days]
        elif style == "far" and n:
            cols[date_col] = days[:-1] + ["9999-01-01"]
        elif style == "null" and n:
            cols[date_col] = [None] + days[1:]
        elif style == "missing":
            cols.pop("asset")
        elif style == "text" and value_cols:
            cols[value_cols[0]] = ["x"] * n
        elif style == "dt":
            cols[date_col] = [np.datetime64(d) for d in days]
        elif style == "bool" and value_cols:
            cols[value_cols[0]] = [True] * n
        try:
            return pl.DataFrame(cols, strict=False)
        except Exception:  # noqa: BLE001 - polars refused our own broken columns
            return pl.DataFrame({date_col: days, "asset": assets_})
    return build()


def _source(c, value_cols=("close",), date_col="date"):
    f = pool()["files"]
    return st.one_of(_long_frame(c, value_cols, date_col), _long_frame(c, value_cols, date_col),
                     _long_frame(c, value_cols, date_col).map(lambda d: d.lazy()),
                     st.sampled_from([f["empty_csv"], f["garbage_parquet"], f["prices_csv"], f["prices_parquet"],
                                      f["no_ext"], f["missing"], f["glob"], f["dir"], 42, None, ("select 1",),
                                      ("select * from prices", pool()["con"]), ("select bogus", pool()["con"])]))


def _axis_dates(c):
    return st.one_of(st.just(np.datetime64("2024-01-01") + np.arange(30)), K.dates(c), st.just([]))


def _axis_assets(c):
    return st.one_of(st.just(np.array(["A", "B", "C", "007"])), K.assets(c), st.just([]))


def _panel_params(c):
    return {"dates": K.dates(c, optional=False), "assets": K.assets(c, optional=False),
            "fields": st.one_of(st.fixed_dictionaries({"close": K.tn_field(c)}), st.just({}), st.none(),
                                st.just({1: np.zeros((c.T, c.N))}), st.just({"x": "abc"})),
            "codes": st.one_of(st.none(), st.fixed_dictionaries({"industry": st.tuples(K.industry(c, optional=False), st.just(np.array(["a", "b", "c"])))}),
                               st.just({"industry": np.zeros((c.T, c.N))}))}


def _ex_params(c):
    return {"styles": st.one_of(K.styles(c, optional=True), st.fixed_dictionaries({"v": K.tn_field(c)})),
            "industry": K.industry(c), "style_names": K.names(c, c.K),
            "industry_names": st.one_of(st.none(), st.none(), st.just(["a", "b", "c"]), st.just({0: "x", 1: "y", -1: "z"})),
            "market": K.boolean(c), "dates": K.dates(c), "assets": K.assets(c)}


def _pool_weights(c, *, single=True):
    p = pool()
    risk = p["risk"]
    ok = np.where(risk.covered(-1), 1.0, 0.0)
    opts = [st.just(ok / max(ok.sum(), 1)), K.array(c, (c.N,)), K.array(c, (2, c.N)),
            st.just({"A00000": 1.0}), st.just({"nope": 1.0}), st.just(pl.DataFrame({"asset": ["A00000"], "weight": [1.0]})),
            st.just(pl.DataFrame({"x": [1.0]}))]
    return st.one_of(*opts)


def _pool_date(c):
    p = pool()
    d = p["risk"].dates
    return st.one_of(st.integers(-p["T"] - 2, p["T"] + 2), st.sampled_from([str(d[-1]), d[0], "2099-01-01", "garbage",
                                                                            40.7, 1.0, True, None, np.int64(-1), np.datetime64("NaT")]))


def _risk_settings(c):
    return {"vol_half_life": K.real(c, 0.5, 50), "corr_half_life": K.real(c, 0.5, 50),
            "newey_west_lags": st.one_of(st.tuples(K.integer(c, 0, 3), K.integer(c, 0, 3)), st.just((1,)), st.just("ab"), st.just([1, 2])),
            "specific_half_life": K.real(c, 0.5, 50), "specific_newey_west_lags": K.integer(c, 0, 3),
            "shrinkage": K.real(c, 0, 1), "n_cap_groups": K.integer(c, 1, 5), "min_periods": K.integer(c, 1, 10),
            "specific_min_periods": K.integer(c, 1, 10), "specific_blend_periods": K.integer(c, 0, 10),
            "vra_half_life": K.real(c, 0.5, 50, optional=True), "structural_ridge": K.real(c, 0, 1)}


def _sub(d: dict, *keys: str) -> Callable:
    return lambda c: {k: v for k, v in d(c).items() if not keys or k in keys}


def _opt_settings(c):
    return {"risk_aversion": K.real(c, 0, 10), "long_only": K.boolean(c), "budget": K.real(c, -1, 2, optional=True),
            "net": K.real(c, -1, 1, optional=True), "gross": K.real(c, 0, 3, optional=True),
            "max_weight": st.one_of(st.none(), K.real(c, 0, 1), K.array(c, (c.N,))),
            "min_weight": st.one_of(st.none(), K.real(c, -1, 0)), "turnover": K.real(c, 0, 2, optional=True),
            "factor_bounds": st.one_of(st.none(), st.just({"market": (None, 1.0)}), st.just({"styles": (-0.1, 0.1)}),
                                       st.just({"nope": (0, 1)}), st.just({"market": 1.0})),
            "neutral": st.one_of(st.none(), st.just("industries"), st.just(["value"]), st.just("nope"), st.just(3)),
            "max_volatility": K.real(c, 0, 0.1, optional=True), "tcost": st.one_of(st.none(), K.real(c, 0, 50)),
            "min_position": K.real(c, 0, 0.1, optional=True),
            "solver": st.one_of(st.none(), st.sampled_from(["CLARABEL", "NOPE", 3])),
            "solver_options": st.one_of(st.none(), st.just({"bogus_option": 1}), st.just("x")),
            "fallback": st.one_of(st.none(), K.choice(c, ["hold", "top_n"])), "fallback_n": K.integer(c, 1, 20)}


def _fm(p):
    return ff.FactorModel()


def _res_out(out, ctx, kw):
    assert isinstance(out, Result)


DESC_RATIO = {
    "book_to_market": ("book_value", "cap"), "earnings_yield": ("earnings", "cap"),
    "cash_flow_yield": ("operating_cash_flow", "cap"), "roe": ("net_income", "book_value"),
    "profit_margin": ("net_income", "revenue"), "asset_turnover": ("revenue", "total_assets"),
    "leverage": ("total_liabilities", "total_assets"),
}


def _ratio_spec(a: str, b: str) -> Callable:
    return lambda c: {a: K.tn_field(c), b: K.tn_field(c)}


SPECS: dict[str, Spec] = {
    # --- threads -------------------------------------------------------------------------------
    "ferrofactor._threads.set_num_threads": Spec(ff.set_num_threads, lambda c: {"n": K.integer(c, 0, 4)}),
    "ferrofactor._threads.get_num_threads": Spec(ff.get_num_threads, lambda c: {}, extreme=False),
    # --- cleaning --------------------------------------------------------------------------------
    "ferrofactor.clean.winsorize": Spec(ff.winsorize, lambda c: {
        "x": K.tn_field(c), "method": K.choice(c, WINSOR), "limit": K.real(c, 0.01, 5),
        "weights": K.tn_field(c, positive=True, optional=True), "industry": K.industry(c)}, same_as("x"), extreme=False),
    "ferrofactor.clean.standardize": Spec(ff.standardize, lambda c: {
        "x": K.tn_field(c), "weights": K.tn_field(c, positive=True, optional=True), "industry": K.industry(c),
        "winsorize": st.one_of(st.none(), K.choice(c, WINSOR)), "limit": K.real(c, 0.01, 5)}, _standardize_oracle, extreme=False),
    "ferrofactor.clean.rank": Spec(ff.rank, lambda c: {"x": K.tn_field(c), "gaussian": K.boolean(c)},
                                   same_as("x"), inf_ok=("result",), extreme=False),
    "ferrofactor.clean.neutralize": Spec(ff.neutralize, lambda c: {
        "x": K.tn_field(c), "controls": K.styles(c, optional=True), "industry": K.industry(c),
        "weights": K.tn_field(c, positive=True, optional=True)}, same_as("x"), extreme=False),
    # --- rolling ---------------------------------------------------------------------------------
    "ferrofactor.rolling.rolling_sum": Spec(ff.rolling_sum, _rolling(False), _rolling_oracle("rolling_sum"), inf_if_huge=("result",)),
    "ferrofactor.rolling.rolling_mean": Spec(ff.rolling_mean, _rolling(True), _rolling_oracle("rolling_mean")),
    "ferrofactor.rolling.rolling_var": Spec(ff.rolling_var, _rolling(True), _rolling_oracle("rolling_var"), inf_if_huge=("result",)),
    "ferrofactor.rolling.rolling_std": Spec(ff.rolling_std, _rolling(True), _rolling_oracle("rolling_std"), inf_if_max=("result",)),
    "ferrofactor.rolling.ewm_mean": Spec(ff.ewm_mean, _ewm, _rolling_oracle("ewm_mean")),
    "ferrofactor.rolling.ewm_var": Spec(ff.ewm_var, _ewm, _rolling_oracle("ewm_var"), inf_if_huge=("result",)),
    "ferrofactor.rolling.ewm_std": Spec(ff.ewm_std, _ewm, _rolling_oracle("ewm_std"), inf_if_max=("result",)),
    "ferrofactor.rolling.rolling_beta": Spec(ff.rolling_beta, lambda c: {
        "returns": K.tn_field(c), "market": K.series_t(c), "window": K.integer(c, 1, 8),
        "min_periods": K.integer(c, 1, 8, optional=True), "half_life": K.real(c, 0.1, 50, optional=True)},
        _beta_out, inf_if_huge=("result[0]", "result[1]")),
    "ferrofactor.rolling.compounded_return": Spec(ff.compounded_return, lambda c: {
        "returns": K.tn_field(c), "window": K.integer(c, 1, 8), "skip": K.integer(c, 0, 4),
        "min_periods": K.integer(c, 1, 8, optional=True)}, same_as("returns"), inf_if_huge=("result",)),
    "ferrofactor.rolling.max_drawdown": Spec(ff.max_drawdown, lambda c: {
        "returns": K.tn_field(c), "window": K.integer(c, 1, 8), "min_periods": K.integer(c, 1, 8, optional=True)},
        same_as("returns")),
    # --- regressions -----------------------------------------------------------------------------
    "ferrofactor.regress.cross_section_regress": Spec(ff.cross_section_regress, _csr_params, _csr_out,
                                                      inf_ok=("tstats",), inf_if_huge=("factor_returns", "std_errors", "residuals")),
    "ferrofactor.regress.fama_macbeth": Spec(ff.fama_macbeth, _fmb_params, _fmb_out, inf_ok=("tstats",),
                                             inf_if_huge=("params", "estimates", "cov", "std_errors", "ci_lower", "ci_upper"),
                                             extreme=False),
    "ferrofactor.regress.robust_clip_returns": Spec(ff.robust_clip_returns, lambda c: {
        "returns": K.tn_field(c), "threshold": K.real(c, 0.01, 10)}, _clip_out, extreme=False),
    # --- data ------------------------------------------------------------------------------------
    "ferrofactor.io.returns_from_prices": Spec(ff.returns_from_prices, lambda c: {"close": K.tn_field(c, positive=True)},
                                               same_as("close"), inf_if_huge=("result",), extreme=False),
    "ferrofactor.io.market_cap": Spec(ff.market_cap, lambda c: {"close": K.tn_field(c, positive=True), "shares": K.tn_field(c, positive=True)},
                                      same_as("close"), inf_if_huge=("result",), extreme=False),
    "ferrofactor.io.dollar_volume": Spec(ff.dollar_volume, lambda c: {"close": K.tn_field(c, positive=True), "volume": K.tn_field(c, positive=True)},
                                         same_as("close"), inf_if_huge=("result",), extreme=False),
    "ferrofactor.io.read_frame": Spec(ff.io.read_frame, lambda c: {
        "source": _source(c), "connection": st.one_of(st.none(), st.none(), st.just(pool()["con"]), st.just("sqlite:///nope.db"), st.just("nota uri")),
        "format": st.one_of(st.none(), st.none(), K.choice(c, ["csv", "parquet", "ipc"])),
        "string_columns": st.one_of(st.just(()), st.just(["asset"]), st.just("asset"))}, extreme=False),
    "ferrofactor.io.read_panel": Spec(ff.read_panel, lambda c: {
        "source": _source(c), "date": st.one_of(st.just("date"), st.just("date"), st.just("nope"), st.just(1)),
        "asset": st.one_of(st.just("asset"), st.just("asset"), st.just(None)),
        "fields": st.one_of(st.none(), st.none(), st.just(["close"]), st.just(["nope"]), st.just("close")),
        "codes": st.one_of(st.none(), st.none(), st.just(["asset"]), st.just(["close"])),
        "connection": st.one_of(st.none(), st.none(), st.just(pool()["con"])),
        "date_format": st.one_of(st.none(), st.none(), st.just("%m/%d/%Y"), st.just("%Y%m%d"), st.just("ymd"), st.just(3)),
        "dates": st.one_of(st.none(), st.none(), _axis_dates(c)), "assets": st.one_of(st.none(), st.none(), _axis_assets(c))},
        aliases=("source", "query", "column", "df", "prices", "close"), extreme=False),
    "ferrofactor.io.read_fundamentals": Spec(ff.read_fundamentals, lambda c: {
        "source": _source(c, ("eps",), "report_date"), "dates": _axis_dates(c), "assets": _axis_assets(c),
        "fields": st.one_of(st.none(), st.just(["eps"]), st.just(["nope"])),
        "report_lag_days": K.integer(c, 0, 10), "max_staleness": K.integer(c, 0, 400, optional=True),
        "date_format": st.one_of(st.none(), st.none(), st.just("%m/%d/%Y"), st.just("%Y%m%d"))},
        aliases=("source", "query", "column", "report_date", "eps")),
    "ferrofactor.io.read_classifications": Spec(ff.read_classifications, lambda c: {
        "source": _source(c, ("industry",)), "dates": _axis_dates(c), "assets": _axis_assets(c),
        "labels": st.one_of(st.none(), st.none(), st.just(["a"]), st.just([1, 2]), st.just(["x", "x"])),
        "report_lag_days": K.integer(c, 0, 10),
        "date_format": st.one_of(st.none(), st.none(), st.just("%m/%d/%Y"))},
        aliases=("source", "query", "column", "industry", "date")),
    "ferrofactor.io.read_universe": Spec(ff.read_universe, lambda c: {
        "prices": _source(c, ("close", "shares", "volume")),
        "fundamentals": st.one_of(st.none(), _source(c, ("book_value",), "report_date")),
        "classifications": st.one_of(st.none(), _source(c, ("industry",))),
        "report_lag_days": K.integer(c, 0, 10), "max_staleness": K.integer(c, 0, 400, optional=True),
        "classification_lag_days": K.integer(c, 0, 10),
        "shares": st.one_of(st.just("shares"), st.none(), st.just(3)),
        "date_format": st.one_of(st.none(), st.none(), st.just("%m/%d/%Y"))},
        aliases=("prices", "fundamentals", "classifications", "source", "query", "column", "close", "returns")),
    "ferrofactor.panel.Panel": Spec(ff.Panel, _panel_params,
                                    lambda out, c, kw: None, aliases=("field", "code", "labels")),
    "ferrofactor.panel.Panel.select": Spec(lambda p: p["panel"].select, lambda c: {
        "dates": st.one_of(st.none(), st.just(slice("2015-01-05", "2015-02-01")), st.just(slice(None, None, 2)),
                           st.just(np.ones(c.T, bool)), st.just(["2015-01-05"]), st.just(["1900-01-01"]), st.just(["01/05/2015"]),
                           st.just(np.ones(3, bool)), st.just(np.arange(3))),
        "assets": st.one_of(st.none(), st.just(["A00001"]), st.just(["zz"]), st.just(np.ones(c.N, bool)), st.just([1, 2]),
                            st.just(["A00001", "A00001"]))}, bound=True, dims="pool",
        aliases=("dates.start", "dates.stop"), extreme=False),
    "ferrofactor.panel.Panel.with_fields": Spec(lambda p: p["panel"].with_fields, lambda c: {
        "fields": st.one_of(st.none(), st.fixed_dictionaries({"new": K.tn_field(c)})),
        "codes": st.one_of(st.none(), st.just({"industry": (np.zeros((c.T, c.N), np.int32), ["a"])}),
                           st.just({"industry": (np.full((c.T, c.N), 5), ["a"])}))}, bound=True, dims="pool",
        aliases=("field", "code"), extreme=False),
    # Panel and DaskPanel share their field access (panel._Fields): fuzzed once, on a Panel
    "ferrofactor.panel._Fields.labels": Spec(lambda p: p["panel"].labels, lambda c: {"name": st.sampled_from(["industry", "returns", "nope", 3])},
                                           bound=True, dims="pool", extreme=False),
    "ferrofactor.panel.Panel.to_polars": Spec(lambda p: p["panel"].to_polars, lambda c: {"drop_missing": K.boolean(c)},
                                              bound=True, dims="pool", extreme=False),
    "ferrofactor.panel.Panel.from_polars": Spec(ff.Panel.from_polars, lambda c: {
        "df": _long_frame(c), "fields": st.one_of(st.none(), st.just(["close"]), st.just(["asset"])),
        "codes": st.one_of(st.none(), st.just(["asset"])),
        "date_format": st.one_of(st.none(), st.none(), st.just("%m/%d/%Y"), st.just(7)),
        "dates": st.one_of(st.none(), _axis_dates(c)), "assets": st.one_of(st.none(), _axis_assets(c))},
        aliases=("df", "column", "close"), extreme=False),
    "ferrofactor.panel.Panel.equals": Spec(lambda p: p["panel"].equals, lambda c: {"other": st.sampled_from([pool()["panel"], None, 3, "x"])},
                                           bound=True, dims="pool", extreme=False),
    "ferrofactor.panel.field_from_frame": Spec(ff.panel.field_from_frame, lambda c: {
        "name": st.just("x"), "frame": _long_frame(c), "date": st.sampled_from(["date", "nope"]),
        "asset": st.sampled_from(["asset", "nope"])}, aliases=("column", "close"), extreme=False),
    "ferrofactor.panel.frame_from_field": Spec(ff.panel.frame_from_field, lambda c: {
        "values": K.tn_field(c), "dates": K.dates(c), "assets": K.assets(c),
        "form": K.choice(c, ["wide", "long"]), "value_name": st.sampled_from(["value", "date", 3])}, extreme=False),
    # --- exposures -------------------------------------------------------------------------------
    "ferrofactor.exposures.Exposures": Spec(ff.Exposures, _ex_params, aliases=("styles", "industry"), extreme=False),
    "ferrofactor.exposures.Exposures.from_descriptors": Spec(ff.Exposures.from_descriptors, lambda c: {
        "descriptors": st.one_of(st.fixed_dictionaries({"volatility": K.tn_field(c), "book_to_market": K.tn_field(c)}),
                                 st.just(pool()["panel"]), st.just({}), K.hostile_scalar()),
        "styles": st.one_of(st.none(), st.just({"v": {"volatility": 1.0}}), st.just({"v": {"volatility": 0}}),
                            st.just({"v": {"nope": 1.0}}), st.just({"v": {"volatility": "1"}}), st.just({})),
        "cap": K.tn_field(c, positive=True, optional=True), "industry": K.industry(c),
        "market": K.boolean(c), "winsorize": st.one_of(st.none(), K.choice(c, WINSOR)),
        "winsorize_limit": K.real(c, 0.01, 5), "fill": st.one_of(st.none(), K.choice(c, ["industry_mean", "zero"])),
        "orthogonalize": st.one_of(st.none(), st.just({"v": []}), st.just({"v": ["w"]}), st.just({"zz": []})),
        "dates": K.dates(c), "assets": K.assets(c)}, aliases=("descriptors", "style", "styles", "weight"), extreme=False),
    "ferrofactor.exposures.Exposures.from_panel": Spec(ff.Exposures.from_panel, lambda c: {
        "panel": st.one_of(st.just(pool()["panel"]), K.hostile_scalar()),
        "cap": st.sampled_from(["market_cap", "nope", 3]), "industry": st.sampled_from(["industry", None, "returns"]),
        "market": K.boolean(c), "winsorize": st.one_of(st.none(), K.choice(c, WINSOR)),
        "winsorize_limit": K.real(c, 0.01, 5), "fill": st.one_of(st.none(), K.choice(c, ["industry_mean", "zero"])),
        "descriptor_options": st.one_of(st.none(), st.fixed_dictionaries({"window": K.integer(c, 2, 30)}),
                                        st.fixed_dictionaries({"liquidity_window": K.integer(c, 1, 30)}),
                                        st.just({"bogus": 1}))}, dims="pool",
        aliases=("style", "descriptor_options", "bogus", "window", "liquidity_window")),
    "ferrofactor.exposures.Exposures.to_polars": Spec(lambda p: p["exposures"].to_polars, lambda c: {
        "kind": st.one_of(st.none(), st.sampled_from(["exposures", "industry", "value", "nope", 3])),
        "form": K.choice(c, ["wide", "long"])}, bound=True, dims="pool", extreme=False),
    "ferrofactor.exposures.Exposures.summary": Spec(lambda p: p["exposures"].summary, lambda c: {}, bound=True,
                                                    dims="pool", extreme=False),
    "ferrofactor.risk.model.RiskModel.to_polars": Spec(lambda p: _risk_to_polars, lambda c: {
        "fitted": K.boolean(c),
        "kind": st.one_of(st.none(), st.sampled_from(["factor_covariance", "specific_risk", "structural", "nope", 3])),
        "form": K.choice(c, ["wide", "long"])}, bound=True, dims="pool", aliases=("fitted",), extreme=False),
    "ferrofactor.exposures.Exposures.style": Spec(lambda p: p["exposures"].style, lambda c: {"name": st.sampled_from(["value", "nope", 3, None])},
                                                  bound=True, dims="pool", extreme=False),
    "ferrofactor.exposures.Exposures.check_labels": Spec(lambda p: p["exposures"].check_labels, lambda c: {
        "what": st.just("returns"), "dates": st.one_of(st.just(pool()["panel"].dates), K.dates(c)),
        "assets": st.one_of(st.just(pool()["panel"].assets), K.assets(c))}, bound=True, dims="pool",
        aliases=("returns", "exposures"), extreme=False),
    # --- the factor model ------------------------------------------------------------------------
    "ferrofactor.model.FactorModel": Spec(ff.FactorModel, lambda c: {
        "market": K.boolean(c), "industry_constraint": K.choice(c, ["cap", "equal", None]),
        "weights": st.one_of(K.choice(c, ["sqrt_cap", "equal"]), K.tn_field(c, positive=True)),
        "lag": K.integer(c, 0, 5), "winsorize_returns": K.real(c, 0.1, 10, optional=True),
        "returns_field": st.sampled_from(["returns", 3]), "cap_field": st.sampled_from(["market_cap", None])}),
    "ferrofactor.model.FactorModel.fit": Spec(lambda p: _computing(ff.FactorModel().fit), lambda c: {
        "returns": st.one_of(st.just(pool()["panel"]), K.tn_field(c), st.just(dpool()["dp"]), _dk(K.tn_field(c))),
        "exposures": st.one_of(st.just(pool()["exposures"]), st.just(ff.Exposures(industry=np.zeros((c.T, c.N), int))),
                               st.just(ff.Exposures(industry=np.zeros((c.T, c.N), int), market=False)), K.hostile_scalar(),
                               st.just(dpool()["dex"])),
        "cap": K.tn_field(c, positive=True, optional=True)}, bound=True, dims="pool", estimator=True,
        inf_ok=("tstats",), inf_if_huge=("factor_returns", "std_errors", "residuals", "mean_returns", "std_errors_mean",
                                        "nw_std_errors", "ci_lower", "ci_upper", "nw_ci_lower", "nw_ci_upper"),
        aliases=("returns_field", "cap_field", "market"), extreme=False),
    "ferrofactor.model.FactorModelResult.fama_macbeth": Spec(lambda p: p["result"].fama_macbeth, lambda c: {
        "cov": K.choice(c, ["unadjusted", "kernel"]), "bandwidth": K.real(c, 0, 100, optional=True)}, bound=True,
        dims="pool", inf_ok=("tstats",), extreme=False),
    "ferrofactor.regress.FamaMacBethResult.conf_int": Spec(lambda p: p["fmb"].conf_int, lambda c: {"level": K.real(c, 0, 1)},
                                                           bound=True, dims="pool", extreme=False),
    # --- risk ------------------------------------------------------------------------------------
    "ferrofactor.risk.model.RiskModel": Spec(ff.RiskModel, _risk_settings, aliases=("newey_west_lags",)),
    "ferrofactor.risk.model.RiskModel.fit": Spec(lambda p: copy.copy(p["risk"]).fit, lambda c: {
        "result": st.one_of(st.just(pool()["result"]), st.just(ff.FactorModel(weights="equal", industry_constraint="equal").fit(pool()["panel"]["returns"], pool()["exposures"])),
                            K.hostile_scalar(), st.just(dpool()["dres"])),
        "keep_dates": st.one_of(st.none(), st.just([0, -1]), st.just([c.T + 5]), st.just(["2015-01-05"]), st.just([1.5]),
                                st.just(["garbage"]), st.just(np.array([True, False])))},
        bound=True, dims="pool", estimator=True, aliases=("cap", "keep_dates"), extreme=False),
    "ferrofactor.risk.model.RiskModel.from_factor_model": Spec(ff.RiskModel.from_factor_model, lambda c: dict(
        _risk_settings(c), result=st.just(pool()["result"])), dims="pool", aliases=("newey_west_lags",)),
    "ferrofactor.risk.model.RiskModel.from_arrays": Spec(ff.RiskModel.from_arrays, lambda c: {
        "factor_returns": st.one_of(st.just(pool()["result"].factor_returns), K.array(c, (c.T, len(pool()["exposures"].factor_names)))),
        "residuals": st.one_of(st.just(pool()["result"].residuals), K.tn_field(c)),
        "exposures": st.one_of(st.just(pool()["exposures"]),
                               st.just(ff.Exposures(pool()["exposures"].styles, market=False)), K.hostile_scalar()),
        "cap": st.one_of(st.just(pool()["panel"]["market_cap"]), K.tn_field(c, positive=True)),
        "keep_dates": st.one_of(st.none(), st.just([0, -1]), st.just([c.T + 5]))}, dims="pool",
        inf_if_huge=("factor_covariance", "specific_variance", "factor_volatility", "specific_risk", "raw_specific_variance"),
        extreme=False),
    "ferrofactor.risk.model.RiskModel.from_covariance": Spec(ff.RiskModel.from_covariance, lambda c: {
        "factor_covariance": st.one_of(st.just(np.eye(len(pool()["exposures"].factor_names))), K.array(c, (3, 3)),
                                       st.just(-np.eye(len(pool()["exposures"].factor_names)))),
        "specific_variance": st.one_of(st.just(np.ones(c.N)), K.array(c, (c.N,)), K.array(c, (c.T, c.N))),
        "exposures": st.one_of(st.just(pool()["exposures"]), K.hostile_scalar()),
        "cap": st.one_of(st.none(), K.tn_field(c, positive=True))}, dims="pool", extreme=False),
    "ferrofactor.risk.model.RiskModel.summary": Spec(lambda p: p["risk"].summary, lambda c: {"date": _pool_date(c)},
                                                     bound=True, dims="pool", extreme=False),
    "ferrofactor.risk.products.ProductsMixin.portfolio_variance": Spec(lambda p: p["risk"].portfolio_variance, lambda c: {
        "weights": _pool_weights(c), "date": _pool_date(c)}, bound=True, dims="pool", aliases=("date",), extreme=False),
    "ferrofactor.risk.products.ProductsMixin.portfolio_risk": Spec(lambda p: p["risk"].portfolio_risk, lambda c: {
        "weights": _pool_weights(c), "date": _pool_date(c), "annualize": K.boolean(c)}, bound=True, dims="pool", extreme=False),
    "ferrofactor.risk.products.ProductsMixin.factor_exposures": Spec(lambda p: p["risk"].factor_exposures, lambda c: {
        "weights": _pool_weights(c), "date": _pool_date(c)}, bound=True, dims="pool", extreme=False),
    "ferrofactor.risk.products.ProductsMixin.risk_decomposition": Spec(lambda p: p["risk"].risk_decomposition, lambda c: {
        "weights": _pool_weights(c), "date": _pool_date(c), "annualize": K.boolean(c)}, bound=True, dims="pool",
        inf_if_huge=("total_vol",), extreme=False),
    "ferrofactor.risk.products.ProductsMixin.exposure_matrix": Spec(lambda p: p["risk"].exposure_matrix, lambda c: {"date": _pool_date(c)},
                                                                    bound=True, dims="pool", extreme=False),
    "ferrofactor.risk.products.ProductsMixin.covariance": Spec(lambda p: p["risk"].covariance, lambda c: {"date": _pool_date(c)},
                                                               bound=True, dims="pool", extreme=False),
    "ferrofactor.risk.products.ProductsMixin.covered": Spec(lambda p: p["risk"].covered, lambda c: {"date": _pool_date(c)},
                                                            bound=True, dims="pool", extreme=False),
    "ferrofactor.risk.products.ProductsMixin.forecast_volatility": Spec(lambda p: p["risk"].forecast_volatility, lambda c: {
        "weights": st.one_of(st.just(np.where(np.isfinite(pool()["risk"].specific_variance), 1.0, 0.0)), K.tn_field(c))},
        bound=True, dims="pool", inf_if_huge=("result",), extreme=False),
    "ferrofactor.risk.products.ProductsMixin.factor_mimicking_portfolios": Spec(lambda p: p["risk"].factor_mimicking_portfolios, lambda c: {
        "date": _pool_date(c), "regression_weights": st.one_of(st.none(), K.array(c, (c.N,), positive=True)),
        "constraint_cap": st.one_of(st.none(), K.array(c, (c.N,), positive=True))}, bound=True, dims="pool",
        inf_if_huge=("result",), extreme=False),
    "ferrofactor.risk.covariance.check_psd": Spec(ff.risk.covariance.check_psd, lambda c: {
        "name": st.just("factor_covariance"), "fc": st.one_of(K.array(c, (c.K, c.K)), st.just(np.eye(2)), st.just(-np.eye(2)))},
        aliases=("factor_covariance",), extreme=False),
    "ferrofactor.risk.covariance.factor_covariance": Spec(ff.risk.covariance.factor_covariance, lambda c: {
        "f": K.array(c, (c.T, c.K)), "vol_half_life": K.real(c, 0.5, 50), "corr_half_life": K.real(c, 0.5, 50),
        "vol_lags": K.integer(c, 0, 3), "corr_lags": K.integer(c, 0, 3), "min_periods": K.integer(c, 1, 5)},
        lambda out, c, kw: None, inf_if_huge=("result[0]",)),
    # --- signals ---------------------------------------------------------------------------------
    "ferrofactor.signals.combined_score": Spec(ff.combined_score, lambda c: {
        "exposures": st.one_of(st.just(pool()["exposures"]), st.just(ff.Exposures(industry=np.zeros((2, 2), int))), K.hostile_scalar(),
                               st.just(np.zeros((2, 2)))),
        "weights": st.one_of(st.none(), st.just({"value": 1.0}), st.just({"nope": 1.0}), st.just({"value": "x"}),
                             st.just({"value": np.nan}), st.just([1.0]))}, dims="pool", aliases=("weights",), extreme=False),
    "ferrofactor.signals.neutralize_signal": Spec(ff.neutralize_signal, lambda c: {
        "signal": K.tn_field(c), "exposures": st.one_of(st.none(), st.just(pool()["exposures"]), st.just(np.zeros((c.T, c.N)))),
        "controls": st.one_of(st.none(), st.just(["value"]), st.just(["nope"]), st.just([])),
        "industry": K.boolean(c), "weights": K.tn_field(c, positive=True, optional=True), "standardize": K.boolean(c)},
        same_as("signal"), dims="pool", extreme=False),
    "ferrofactor.signals.momentum_selection": Spec(ff.momentum_selection, _ms_params),
    "ferrofactor.signals.month_starts": Spec(ff.signals.month_starts, lambda c: {"dates": st.one_of(K.dates(c, optional=False), K.hostile_scalar())},
                                             extreme=False),
    # --- descriptors -----------------------------------------------------------------------------
    **{f"ferrofactor.descriptors.{n}": Spec(getattr(ff.descriptors, n), _ratio_spec(a, b), same_as(a), inf_if_huge=("result",), extreme=False)
       for n, (a, b) in DESC_RATIO.items()},
    "ferrofactor.descriptors.momentum": Spec(ff.descriptors.momentum, lambda c: {
        "returns": K.tn_field(c), "window": K.integer(c, 1, 8), "skip": K.integer(c, 0, 4), "min_fraction": K.real(c, 0, 1)},
        same_as("returns"), inf_if_huge=("result",)),
    "ferrofactor.descriptors.volatility": Spec(ff.descriptors.volatility, lambda c: {
        "returns": K.tn_field(c), "window": K.integer(c, 1, 8), "half_life": K.real(c, 0.1, 50, optional=True),
        "min_fraction": K.real(c, 0, 1), "annualize": K.boolean(c)}, same_as("returns"), inf_if_max=("result",)),
    "ferrofactor.descriptors.market_return": Spec(ff.descriptors.market_return, lambda c: {
        "returns": K.tn_field(c), "cap": K.tn_field(c, positive=True, optional=True)},
        lambda out, c, kw: expect(out, (shape_of(kw["returns"]) or (None,))[0:1] if shape_of(kw["returns"]) else None),
        inf_if_huge=("result",), extreme=False),
    "ferrofactor.descriptors.beta": Spec(ff.descriptors.beta, lambda c: {
        "returns": K.tn_field(c), "market": K.series_t(c), "window": K.integer(c, 1, 8),
        "half_life": K.real(c, 0.1, 50, optional=True), "min_fraction": K.real(c, 0, 1)}, same_as("returns"),
        inf_if_huge=("result",)),
    "ferrofactor.descriptors.residual_volatility": Spec(ff.descriptors.residual_volatility, lambda c: {
        "returns": K.tn_field(c), "market": K.series_t(c), "window": K.integer(c, 1, 8),
        "half_life": K.real(c, 0.1, 50, optional=True), "min_fraction": K.real(c, 0, 1), "annualize": K.boolean(c)},
        same_as("returns"), inf_if_huge=("result",)),
    "ferrofactor.descriptors.max_drawdown": Spec(ff.descriptors.max_drawdown, lambda c: {
        "returns": K.tn_field(c), "window": K.integer(c, 1, 8), "min_fraction": K.real(c, 0, 1)}, same_as("returns")),
    "ferrofactor.descriptors.log_market_cap": Spec(ff.descriptors.log_market_cap, lambda c: {"cap": K.tn_field(c)},
                                                   same_as("cap"), extreme=False),
    "ferrofactor.descriptors.liquidity": Spec(ff.descriptors.liquidity, lambda c: {
        "dollar_volume": K.tn_field(c, positive=True), "cap": K.tn_field(c, positive=True, optional=True),
        "window": K.integer(c, 1, 8), "min_fraction": K.real(c, 0, 1)}, same_as("dollar_volume")),
    "ferrofactor.descriptors.compute_descriptors": Spec(ff.descriptors.compute_descriptors, lambda c: {
        "panel": _desc_mapping(c), "market": K.series_t(c, optional=True), "window": K.integer(c, 2, 8),
        "beta_half_life": K.real(c, 0.1, 50, optional=True), "vol_half_life": K.real(c, 0.1, 50, optional=True),
        "liquidity_window": K.integer(c, 1, 8), "min_fraction": K.real(c, 0, 1),
        "fields": st.one_of(st.none(), st.just({"returns": "nope"})), "mask_unlisted": K.boolean(c)},
        aliases=("market_cap", "returns", "nope", "dollar_volume", "book_value", "earnings", "revenue", "net_income",
                 "total_assets", "total_liabilities", "operating_cash_flow"),
        inf_if_huge=tuple(f"[{n}]" for n in ("book_to_market", "earnings_yield", "cash_flow_yield", "roe", "profit_margin",
                                             "asset_turnover", "leverage", "momentum_12_1", "momentum_6_1", "momentum_3_1",
                                             "beta", "residual_volatility", "volatility"))),
    # --- evaluation ------------------------------------------------------------------------------
    "ferrofactor.evaluate.risk_validation.bias_statistic": Spec(ff.evaluate.bias_statistic, lambda c: {
        "returns": st.one_of(K.tn_field(c), K.series_t(c)), "forecast_vol": st.one_of(K.tn_field(c, positive=True), K.series_t(c, positive=True)),
        "window": K.integer(c, 2, 8, optional=True), "dates": K.dates(c), "names": K.names(c, c.N)}, extreme=True),
    "ferrofactor.evaluate.risk_validation.bias_test": Spec(ff.evaluate.bias_test, lambda c: {
        "model": st.one_of(st.just(pool()["risk"]), st.just(ff.RiskModel()), K.hostile_scalar()),
        "returns": st.one_of(st.just(pool()["panel"]), K.tn_field(c)),
        "portfolios": st.one_of(K.array(c, (2, c.N), positive=True), K.array(c, (c.N,))),
        "dates": st.one_of(st.none(), st.just(np.arange(5)), st.just([c.T + 3]), st.just(["2015-01-06"]), st.just([2.5])),
        "every": K.integer(c, 1, 5), "normalize": K.boolean(c)}, dims="pool", inf_if_huge=("realized", "forecast_vol")),
    "ferrofactor.evaluate.risk_validation.minimum_variance_test": Spec(ff.evaluate.minimum_variance_test, lambda c: {
        "model": st.one_of(st.just(pool()["risk"]), st.just(ff.RiskModel()), K.hostile_scalar()),
        "returns": st.one_of(st.just(pool()["panel"]), K.tn_field(c)),
        "every": K.integer(c, 1, 5), "budget": K.real(c, -2, 2)}, dims="pool", inf_if_huge=("realized",)),
    "ferrofactor.evaluate.risk_validation.residual_correlation": Spec(ff.evaluate.residual_correlation, lambda c: {
        "residuals": st.one_of(K.tn_field(c), st.just(pool()["result"])), "threshold": K.real(c, -1, 1),
        "min_periods": K.integer(c, 2, 6), "n_eigen": K.integer(c, 1, 4), "assets": K.assets(c)}),
    # --- inference -------------------------------------------------------------------------------
    "ferrofactor.inference.newey_west_bandwidth": Spec(ff.inference.newey_west_bandwidth, lambda c: {"x": K.series_t(c)}, extreme=False),
    "ferrofactor.inference.bartlett_weights": Spec(ff.inference.bartlett_weights, lambda c: {"bandwidth": K.real(c, 0, 20)}),
    "ferrofactor.inference.kernel_covariance": Spec(ff.inference.kernel_covariance, lambda c: {
        "e": K.array(c, (c.T, c.K)), "weights": st.one_of(st.just(ff.inference.bartlett_weights(2)), K.array(c, (3,)))},
        inf_if_huge=("result",), extreme=False),
    "ferrofactor.inference.fama_macbeth_inference": Spec(ff.inference.fama_macbeth_inference, lambda c: {
        "estimates": K.array(c, (c.T, c.K)), "cov": K.choice(c, ["unadjusted", "kernel"]),
        "bandwidth": K.real(c, 0, 10, optional=True), "nan_policy": K.choice(c, ["row", "column"])},
        inf_ok=("['tstats']",), inf_if_huge=("['params']", "['cov']", "['std_errors']"), extreme=False),
    # --- datasets and the summary ----------------------------------------------------------------
    "ferrofactor.datasets.synthetic_universe": Spec(ff.datasets.synthetic_universe, lambda c: {
        "n_assets": K.integer(c, 1, 6), "n_days": K.integer(c, 2, 30), "n_industries": K.integer(c, 1, 4),
        "n_styles": K.integer(c, 0, 3), "seed": K.integer(c, 0, 5), "start": st.sampled_from(["2015-01-02", "01/02/2015", "9999-12-31", 3])},
        always=("n_assets", "n_days")),
    "ferrofactor.datasets.write_sample": Spec(lambda p: functools.partial(ff.datasets.write_sample, p["tmp"]), lambda c: {
        "n_assets": K.integer(c, 1, 6), "n_days": K.integer(c, 2, 30), "n_industries": K.integer(c, 1, 4),
        "n_styles": K.integer(c, 0, 3), "seed": K.integer(c, 0, 5)}, bound=True, always=("n_assets", "n_days")),
    "ferrofactor.datasets.load_sample": Spec(ff.datasets.load_sample, lambda c: {
        "directory": st.sampled_from([pool()["tmp"], "/nonexistent-ff", 3]), "report_lag_days": K.integer(c, 0, 10),
        "max_staleness": K.integer(c, 0, 400, optional=True)}, aliases=("prices", "fundamentals", "classifications", "directory")),
    # --- portfolio construction and optimisation ---------------------------------------------
    "ferrofactor.construct.quantile_portfolio": Spec(_construct.quantile_portfolio, lambda c: {
        "signal": st.one_of(K.tn_field(c), K.series_n(c)), "percentile": K.real(c, 0, 0.5), "long_short": K.boolean(c)},
        same_as("signal"), extreme=False),
    "ferrofactor.construct.top_n": Spec(_construct.top_n, lambda c: {
        "signal": st.one_of(K.tn_field(c), K.series_n(c)), "n": K.integer(c, 0, 6)}, same_as("signal")),
    "ferrofactor.construct.signal_weighted": Spec(_construct.signal_weighted, lambda c: {
        "signal": st.one_of(K.tn_field(c), K.series_n(c)), "clean": K.boolean(c),
        "scale": K.choice(c, ["gross", "long", "none"]), "limit": K.real(c, 0.1, 5)}, same_as("signal"), extreme=False),
    "ferrofactor.construct.trades": Spec(_construct.trades, lambda c: {
        "target": K.series_n(c), "current": K.series_n(c, optional=True), "prices": K.series_n(c, optional=True, positive=True),
        "portfolio_value": K.real(c, 0, 1e9, optional=True), "min_trade": K.real(c, 0, 0.1), "lot": K.integer(c, 1, 100),
        "assets": K.assets(c)}, aliases=("target", "current", "prices")),
    "ferrofactor.optimize.factor_root": Spec(_optimize.factor_root, lambda c: {
        "factor_covariance": st.one_of(K.array(c, (c.K, c.K)), st.just(np.eye(3)), st.just(-np.eye(2)),
                                       st.just(np.array([[1.0, 2.0], [2.0, 1.0]])))}, extreme=False),
    "ferrofactor.optimize.TransactionCost": Spec(_optimize.TransactionCost, lambda c: {
        "linear_bps": st.one_of(K.real(c, 0, 50), K.series_n(c)), "impact": st.one_of(st.none(), K.real(c, 0, 1)),
        "volume": st.one_of(st.none(), K.series_n(c, positive=True)), "value": K.real(c, 0, 1e9, optional=True),
        "volatility": st.one_of(st.none(), K.series_n(c, positive=True))}, extreme=False),
    "ferrofactor.optimize.optimize": Spec(_optimize.optimize, lambda c: dict(_opt_settings(c), **{
        "alpha": st.one_of(K.array(c, (c.N,)), st.just({"A00001": 0.01}), st.just(pl.DataFrame({"asset": ["A00001"], "value": [1.0]}))),
        "risk": st.one_of(st.just(pool()["risk"]), st.just(ff.RiskModel()), K.hostile_scalar()),
        "date": _pool_date(c), "w0": st.one_of(st.none(), K.array(c, (c.N,))),
        "benchmark": st.one_of(st.none(), K.array(c, (c.N,), positive=True)),
        "tradable": st.one_of(st.none(), st.just(np.ones(c.N, bool)), st.just(np.zeros(c.N, bool)), st.just(np.ones(3, bool)))}),
        dims="pool", inf_if_huge=("objective", "volatility"), aliases=("alpha", "risk", "factor_bounds", "neutral")),
    "ferrofactor.optimize.Optimizer": Spec(_optimize.Optimizer, _opt_settings, aliases=("factor_bounds", "neutral")),
    "ferrofactor.optimize.Optimizer.solve": Spec(lambda p: _optimize.Optimizer(long_only=True).solve, lambda c: {
        "alpha": st.one_of(K.array(c, (c.N,)), K.hostile_scalar()), "risk": st.one_of(st.just(pool()["risk"]), K.hostile_scalar()),
        "date": _pool_date(c), "w0": st.one_of(st.none(), K.array(c, (c.N,))),
        "tcost": st.one_of(st.none(), K.real(c, 0, 50))}, bound=True, dims="pool", extreme=False),
    "ferrofactor.optimize.OptimizationResult.to_polars": Spec(lambda p: _any_result_to_polars, lambda c: {
        "which": st.just("optimization"), "kind": st.one_of(st.none(), st.sampled_from(["weights", "exposures", "nope", 3])),
        "form": K.choice(c, ["wide", "long"])}, bound=True, dims="pool", aliases=("kind", "form"), extreme=False),
    "ferrofactor.optimize.OptimizationResult.summary": Spec(lambda p: _any_result_summary, lambda c: {"which": st.just("optimization")},
                                                            bound=True, dims="pool", extreme=False),
    "ferrofactor.results.Summary": Spec(ff.Summary, lambda c: {
        "title": st.sampled_from(["t", 3, None]), "header": st.sampled_from([(), [("a", 1)], [1, 2], "ab"]),
        "tables": st.sampled_from([(), [("", pl.DataFrame({"a": [1.0]}))], [("x", 3)], "ab"]),
        "notes": st.sampled_from([(), ["n"], 3])}, aliases=("header", "tables", "notes", "title"), extreme=False),
    "ferrofactor.results.Summary.to_polars": Spec(lambda p: p["result"].summary().to_polars, lambda c: {"table": K.integer(c, 0, 2)},
                                                  bound=True, dims="pool", extreme=False),
    "ferrofactor.results.Result.to_polars": Spec(lambda p: _any_result_to_polars, lambda c: {
        "which": st.sampled_from(sorted(k for k, v in pool().items() if isinstance(v, Result))),
        "kind": st.one_of(st.none(), st.sampled_from(["factor_returns", "residuals", "styles", "industry", "bias", "nope", 3,
                                                      "exposures", "dates", "summary", "counts", "table", "correlation"])),
        "form": K.choice(c, ["wide", "long"])}, bound=True, dims="pool", aliases=("kind", "form"), extreme=False),
    "ferrofactor.results.Result.summary": Spec(lambda p: _any_result_summary, lambda c: {
        "which": st.sampled_from(sorted(k for k, v in pool().items() if isinstance(v, Result)))}, bound=True, dims="pool",
        extreme=False),
}


def _any_result_to_polars(which, kind=None, form="wide"):
    return pool()[which].to_polars(kind, form)


def _risk_to_polars(fitted=True, kind=None, form="wide"):
    return (pool()["risk"] if fitted is True else ff.RiskModel()).to_polars(kind, form)


def _any_result_summary(which):
    return pool()[which].summary()


SKIPPED: dict[str, str] = {
    "ferrofactor.baseline": "plain-numpy test oracles and benchmark baselines, not hardened API",
    "ferrofactor.results.NotFittedError": "an exception class",
    "ferrofactor.results.Result": "abstract base; its to_polars/summary are fuzzed on every pooled result",
    "ferrofactor.model.FactorModelResult": "constructed by FactorModel.fit (fuzzed), not by users",
    "ferrofactor.regress.CrossSectionResult": "constructed by cross_section_regress (fuzzed), not by users",
    "ferrofactor.regress.FamaMacBethResult": "constructed by fama_macbeth (fuzzed), not by users",
    "ferrofactor.risk.products.RiskDecomposition": "constructed by RiskModel.risk_decomposition (fuzzed)",
    "ferrofactor.evaluate.risk_validation.BiasResult": "constructed by bias_statistic (fuzzed)",
    "ferrofactor.evaluate.risk_validation.PortfolioBiasResult": "constructed by bias_test (fuzzed)",
    "ferrofactor.evaluate.risk_validation.MinimumVarianceResult": "constructed by minimum_variance_test (fuzzed)",
    "ferrofactor.evaluate.risk_validation.ResidualCorrelation": "constructed by residual_correlation (fuzzed)",
    "ferrofactor.signals.MomentumSelection": "constructed by momentum_selection (fuzzed)",
    "ferrofactor.datasets.SyntheticTruth": "a record built by synthetic_universe (fuzzed)",
    "ferrofactor.optimize.OptimizationWarning": "a warning class",
    "ferrofactor.metrics.PeriodsPerYearWarning": "a warning class",
    "ferrofactor.optimize.OptimizationResult": "constructed by optimize / Optimizer.solve (fuzzed)",
}


# ---------------------------------------------------------------------------------------------
# Time series, attribution, metrics, signal evaluation and Dask (merged from main)
# ---------------------------------------------------------------------------------------------

ANY = "*"  # in inf_if_huge: every output may overflow when a value >= 1e154 was given


def _wide(c, ncols: int, prefix: str = "a", *, positive: bool = False) -> st.SearchStrategy:
    """A wide Polars frame: ``date`` (T consecutive days) + ``ncols`` float columns."""
    def build(x):
        d = np.datetime64("2020-01-01") + np.arange(x.shape[0])
        with np.errstate(over="ignore"):
            return pl.DataFrame({"date": d, **{f"{prefix}{j}": x[:, j].astype(np.float64) for j in range(x.shape[1])}})
    return K.float_array(c, (c.T, ncols), positive=positive).map(build)


def _horizons_kind(c, name_hi: int = 5) -> st.SearchStrategy:
    return st.one_of(st.lists(K.integer(c, 1, name_hi), min_size=1, max_size=3), st.just((1, 2)), st.just([1]),
                     K.integer(c, 1, name_hi), st.sampled_from([[], [1, 1], [0], "1", [1.5], (True,), None, [np.int64(2)]]))


def _buckets_kind(c) -> st.SearchStrategy:
    return st.one_of(K.integer(c, 1, 5), st.sampled_from([[0, 0.5, 1], [0.0, 0.3, 0.7, 1.0], [0.5], [1, 0], "5", [0, np.nan, 1],
                                                          np.array([0.0, 1.0]), [0, 2]]))


def _returns_out(key: str) -> Callable:
    """Metrics: (T,) in gives a float, (T, S) an (S,) array."""
    def check(out, ctx, kw):
        r = kw.get("returns")
        if isinstance(r, np.ndarray) and not isinstance(r, np.ma.MaskedArray):
            if r.ndim == 1:
                assert isinstance(out, float), f"{key}: a (T,) series gives {type(out).__name__}"
            elif r.ndim == 2:
                expect(out, (r.shape[1],), key)
    return check


def _metric_params(*extra: str) -> Callable:
    def params(c):
        d = {"returns": st.one_of(K.tn_field(c), K.series_t(c), _wide(c, c.N)), "periods_per_year": K.real(c, 0.5, 400)}
        if "risk_free" in extra:
            d["risk_free"] = st.one_of(K.real(c, -0.01, 0.01), K.series_t(c), K.tn_field(c))
        if "required_return" in extra:
            d["required_return"] = st.one_of(K.real(c, -0.01, 0.01), K.series_t(c))
        if "benchmark" in extra:
            d["benchmark"] = st.one_of(K.series_t(c), K.tn_field(c), K.real(c, -0.01, 0.01))
        if "no_ppy" in extra:
            d.pop("periods_per_year")
        return d
    return params


def _ts_out(out, ctx, kw):
    y = kw.get("y")
    if isinstance(y, np.ndarray) and y.ndim in (1, 2):
        n = 1 if y.ndim == 1 else y.shape[1]
        assert out.params.shape[0] == n and out.resid.shape == (y.shape[0], n)
        assert out.params.shape[1] == len(out.param_names)


def _ev_signal(c):
    return st.one_of(K.tn_field(c), K.tn_field(c), _wide(c, c.N))


def _fwd_out(out, ctx, kw):
    r = shape_of(kw.get("returns"))
    if r is not None and isinstance(out, np.ndarray):
        assert out.ndim == 3 and out.shape[1:] == r, f"forward returns {out.shape} for returns {r}"


def _th_out(out, ctx, kw):
    """(T, H) per date and horizon."""
    s = shape_of(kw.get("signal"))
    if s is not None and isinstance(out, np.ndarray):
        assert out.ndim == 2 and out.shape[0] == s[0], f"{out.shape} for a signal of shape {s}"


def _pool_attr(c):
    p = pool()
    res, risk = p["result"], p["risk"]
    fr = res.factor_returns
    return st.one_of(st.just(res), st.just(res), st.just((risk, fr)), st.just((risk, fr, 2)), st.just((risk, fr, "1")),
                     st.just((risk, fr, 1.0)), st.just((risk,)), st.just(risk), st.just((risk, fr[:, :1])),
                     st.just(ff.FactorModel()), K.hostile_scalar())


def _plot(fn):
    """Call a figure-returning method and close nothing (Figures are built without pyplot)."""
    @functools.wraps(fn)
    def call(*a, **kw):
        fig = fn(*a, **kw)
        from matplotlib.figure import Figure

        assert isinstance(fig, Figure), f"a plot returned {type(fig).__name__}, not a Figure"
        import io

        from matplotlib.backends.backend_agg import FigureCanvasAgg

        fig.set_dpi(20)
        FigureCanvasAgg(fig).print_png(io.BytesIO())  # drawn (at a low resolution): errors surface at draw time
        return None
    return call


def _pooled(which: str, method: str) -> Callable:
    return lambda p: getattr(p[which], method)


def _pick_pooled(method: str, names: tuple[str, ...], wrap: Callable | None = None,
                 source: Callable | None = None) -> Callable:
    """A bound spec over several pooled objects (of ``source()``, default the pool): ``which``
    picks one."""
    def fn(p):
        src = source() if source is not None else p

        def call(which, **kw):
            f = getattr(src[which], method)
            return (wrap(f) if wrap else f)(**kw)
        return call
    return fn


def _which(*names: str) -> st.SearchStrategy:
    return st.sampled_from(list(names))


SPECS.update({
    # --- time series regressions -------------------------------------------------------------
    "ferrofactor.timeseries.time_series_regress": Spec(ff.time_series_regress, lambda c: {
        "y": st.one_of(K.tn_field(c), K.series_t(c), _wide(c, c.N)), "factors": st.one_of(K.array(c, (c.T, c.K)), K.array(c, (c.T, c.K)), _wide(c, c.K, "f")),
        "intercept": K.boolean(c), "cov": K.choice(c, ["nonrobust", "hac"]), "lags": K.integer(c, 0, 4, optional=True),
        "min_obs": K.integer(c, 1, 8, optional=True), "factor_names": K.names(c, c.K)},
        _ts_out, inf_ok=("tstats",), inf_if_huge=(ANY,), aliases=("y", "factors")),
    "ferrofactor.timeseries.alpha_test": Spec(ff.alpha_test, lambda c: {
        "returns": st.one_of(K.tn_field(c), K.series_t(c), _wide(c, c.N)),
        "factor_sets": st.one_of(st.fixed_dictionaries({"A": K.array(c, (c.T, c.K))}, optional={"B": K.array(c, (c.T, 1))}),
                                 st.fixed_dictionaries({"F": _wide(c, max(c.K, 1), "f")}),
                                 st.sampled_from([{}, {3: np.zeros((2, 1))}, [np.zeros((2, 1))], None, "CAPM"])),
        "lags": K.integer(c, 0, 4, optional=True), "periods_per_year": K.real(c, 0.5, 400)},
        inf_ok=("alpha_tstat",), inf_if_huge=(ANY,)),
    "ferrofactor.timeseries.TimeSeriesResult.conf_int": Spec(_pick_pooled("conf_int", ()), lambda c: {
        "which": _which("ts", "ts_frame", "ts_empty"), "level": K.real(c, 0, 1)}, bound=True, dims="pool", extreme=False),
    "ferrofactor.timeseries.TimeSeriesResult.summary": Spec(_pick_pooled("summary", ()), lambda c: {
        "which": _which("ts", "ts_frame", "ts_empty"),
        "asset": st.one_of(st.none(), st.integers(-5, 5), st.sampled_from(["A", "B", "nope", 1.5, True, np.int64(0)])),
        "level": K.real(c, 0, 1)}, bound=True, dims="pool", extreme=False),
    "ferrofactor.timeseries.TimeSeriesResult.plot_exposures": Spec(_pick_pooled("plot_exposures", (), _plot), lambda c: {
        "which": _which("ts", "ts_frame", "ts_empty"),
        "asset": st.one_of(st.integers(-5, 5), st.sampled_from(["A", "nope", 1.5, None])), "level": K.real(c, 0, 1),
        "ax": st.sampled_from([None, None, None, 3, "ax"])}, bound=True, dims="pool", extreme=False),
    "ferrofactor.timeseries.AlphaTestResult.betas": Spec(lambda p: p["alpha"].betas, lambda c: {
        "name": st.sampled_from(["one", "two", "nope", 3, None])}, bound=True, dims="pool", extreme=False),
    "ferrofactor.timeseries.AlphaTestResult.summary": Spec(_pooled("alpha", "summary"), lambda c: {}, bound=True, dims="pool", extreme=False),
    # --- attribution -----------------------------------------------------------------------------
    "ferrofactor.attribution.attribute": Spec(ff.attribute, lambda c: {
        "weights": st.one_of(K.tn_field(c), st.just(np.where(np.isfinite(pool()["panel"]["returns"]), 1.0 / c.N, 0.0))),
        "model": _pool_attr(c), "returns": K.tn_field(c, optional=True), "benchmark": K.tn_field(c, optional=True),
        "costs": K.series_t(c, optional=True)}, dims="pool", inf_if_huge=(ANY,),
        aliases=("model", "lag", "factor_returns", "weights", "returns")),
    "ferrofactor.attribution.link_contributions": Spec(ff.attribution.link_contributions, lambda c: {
        "contributions": K.array(c, (c.T, c.K)), "total": K.series_t(c)},
        lambda out, c, kw: expect(out, shape_of(kw["contributions"])), inf_if_huge=(ANY,), extreme=False),
    "ferrofactor.attribution.AttributionResult.by_group": Spec(_pick_pooled("by_group", ()), lambda c: {
        "which": _which("attribution", "attribution_empty")}, bound=True, dims="pool", extreme=False),
    "ferrofactor.attribution.AttributionResult.table": Spec(_pick_pooled("table", ()), lambda c: {
        "which": _which("attribution", "attribution_empty"), "periods_per_year": K.real(c, 0.5, 400)},
        bound=True, dims="pool", inf_if_huge=(ANY,), extreme=False),
    "ferrofactor.attribution.AttributionResult.summary": Spec(_pick_pooled("summary", ()), lambda c: {
        "which": _which("attribution", "attribution_empty"), "periods_per_year": K.real(c, 0.5, 400)},
        bound=True, dims="pool", extreme=False),
    # --- metrics ---------------------------------------------------------------------------------
    "ferrofactor.metrics.annual_return": Spec(ff.metrics.annual_return, _metric_params(), _returns_out("annual_return"),
                                              inf_ok=("result",), extreme=False),
    "ferrofactor.metrics.annual_volatility": Spec(ff.metrics.annual_volatility, _metric_params(), _returns_out("annual_volatility"),
                                                  inf_if_huge=("result",), extreme=False),
    "ferrofactor.metrics.sharpe_ratio": Spec(ff.metrics.sharpe_ratio, _metric_params("risk_free"), _returns_out("sharpe_ratio"),
                                             inf_ok=("result",), extreme=False),
    "ferrofactor.metrics.sortino_ratio": Spec(ff.metrics.sortino_ratio, _metric_params("required_return"), _returns_out("sortino_ratio"),
                                              inf_ok=("result",), extreme=False),
    "ferrofactor.metrics.max_drawdown": Spec(ff.metrics.max_drawdown, _metric_params("no_ppy"), _returns_out("max_drawdown"),
                                             inf_if_huge=("result",), extreme=False),
    "ferrofactor.metrics.calmar_ratio": Spec(ff.metrics.calmar_ratio, _metric_params(), _returns_out("calmar_ratio"), extreme=False),
    "ferrofactor.metrics.tracking_error": Spec(ff.metrics.tracking_error, _metric_params("benchmark"), _returns_out("tracking_error"),
                                               inf_if_huge=("result",), aliases=("benchmark",), extreme=False),
    "ferrofactor.metrics.information_ratio": Spec(ff.metrics.information_ratio, _metric_params("benchmark"),
                                                  _returns_out("information_ratio"), inf_ok=("result",), aliases=("benchmark",), extreme=False),
    "ferrofactor.metrics.monthly_win_rate": Spec(ff.metrics.monthly_win_rate, lambda c: {
        "returns": st.one_of(K.tn_field(c), K.series_t(c), _wide(c, c.N)), "dates": K.dates(c)},
        _returns_out("monthly_win_rate"), extreme=False),
    "ferrofactor.metrics.summary": Spec(ff.metrics.summary, lambda c: {
        "returns": st.one_of(K.tn_field(c), K.series_t(c), _wide(c, c.N)), "dates": K.dates(c),
        "benchmark": st.one_of(st.none(), K.series_t(c), K.tn_field(c)), "risk_free": st.one_of(st.none(), K.real(c, -0.01, 0.01), K.series_t(c)),
        "turnover": st.one_of(st.none(), K.series_t(c), K.tn_field(c)), "costs": st.one_of(st.none(), K.series_t(c)),
        "periods_per_year": K.real(c, 0.5, 400)},
        inf_ok=("sharpe_ratio", "sortino_ratio", "information_ratio", "annual_return"),
        inf_if_huge=("annual_volatility", "tracking_error", "average_turnover", "average_cost", "max_drawdown"),
        aliases=("benchmark", "risk_free", "turnover", "costs", "free", "cost"), extreme=False),
    "ferrofactor.metrics.MetricsSummary.summary": Spec(_pick_pooled("summary", ()), lambda c: {"which": _which("metrics", "metrics_one")},
                                                       bound=True, dims="pool", extreme=False),
    # --- signal evaluation -----------------------------------------------------------------------
    "ferrofactor.evaluate.signal.forward_returns": Spec(ff.evaluate.forward_returns, lambda c: {
        "returns": st.one_of(K.tn_field(c), _wide(c, c.N), st.just(pool()["panel"])), "horizons": _horizons_kind(c),
        "filter_zscore": K.real(c, 0.1, 5, optional=True)}, _fwd_out, inf_if_huge=(ANY,), aliases=("horizons",)),
    "ferrofactor.evaluate.signal.information_coefficient": Spec(ff.evaluate.information_coefficient, lambda c: {
        "signal": _ev_signal(c), "returns": K.tn_field(c), "horizons": _horizons_kind(c),
        "method": K.choice(c, ["spearman", "pearson"]), "industry": K.industry(c),
        "weights": K.tn_field(c, positive=True, optional=True), "common_sample": K.boolean(c),
        "filter_zscore": K.real(c, 0.1, 5, optional=True)}, _th_out, aliases=("horizons",)),
    "ferrofactor.evaluate.signal.factor_weighted_returns": Spec(ff.evaluate.factor_weighted_returns, lambda c: {
        "signal": _ev_signal(c), "returns": K.tn_field(c), "horizons": _horizons_kind(c), "demeaned": K.boolean(c),
        "industry": K.industry(c), "equal_weight": K.boolean(c), "common_sample": K.boolean(c),
        "filter_zscore": K.real(c, 0.1, 5, optional=True)}, _th_out, inf_if_huge=(ANY,), aliases=("horizons",)),
    "ferrofactor.evaluate.signal.quantile_turnover": Spec(ff.evaluate.quantile_turnover, lambda c: {
        "signal": _ev_signal(c), "quantiles": st.one_of(st.none(), _buckets_kind(c)), "lag": K.integer(c, 1, 4),
        "bins": st.one_of(st.none(), st.none(), _buckets_kind(c)), "industry": K.industry(c),
        "binning_by_industry": K.boolean(c)}, _th_out, aliases=("quantiles", "bins")),
    "ferrofactor.evaluate.signal.rank_autocorrelation": Spec(ff.evaluate.rank_autocorrelation, lambda c: {
        "signal": _ev_signal(c), "lag": K.integer(c, 1, 4), "industry": K.industry(c)},
        lambda out, c, kw: expect(out, shape_of(kw["signal"])[:1] if shape_of(kw["signal"]) else None)),
    "ferrofactor.evaluate.signal.quantile_returns": Spec(ff.evaluate.quantile_returns, lambda c: {
        "signal": _ev_signal(c), "returns": K.tn_field(c), "quantiles": st.one_of(st.none(), _buckets_kind(c)),
        "bins": st.one_of(st.none(), st.none(), _buckets_kind(c)), "horizons": _horizons_kind(c), "demeaned": K.boolean(c),
        "industry": K.industry(c), "weights": K.tn_field(c, positive=True, optional=True), "binning_by_industry": K.boolean(c),
        "common_sample": K.boolean(c), "filter_zscore": K.real(c, 0.1, 5, optional=True), "nw_lags": K.integer(c, 0, 30, optional=True)},
        inf_ok=("spread_tstat", "spread_nw_tstat"), inf_if_huge=(ANY,), aliases=("quantiles", "bins", "horizons")),
    "ferrofactor.evaluate.signal.evaluate": Spec(ff.evaluate.evaluate, lambda c: {
        "signal": _ev_signal(c), "returns": K.tn_field(c, optional=True), "horizons": _horizons_kind(c),
        "quantiles": st.one_of(st.none(), _buckets_kind(c)), "industry": K.industry(c),
        "residual": st.one_of(st.none(), st.none(), st.none(), st.just(pool()["result"]), K.hostile_scalar()),
        "bins": st.one_of(st.none(), st.none(), _buckets_kind(c)), "method": K.choice(c, ["spearman", "pearson"]),
        "weights": K.tn_field(c, positive=True, optional=True), "demeaned": K.boolean(c), "binning_by_industry": K.boolean(c),
        "decay_lags": st.one_of(st.none(), _horizons_kind(c)), "nw_lags": K.integer(c, 0, 30, optional=True),
        "common_sample": K.boolean(c), "filter_zscore": K.real(c, 0.1, 5, optional=True)},
        inf_ok=("ic_tstat", "ic_nw_tstat", "ic_ir", "ic_decay_nw_tstat"), inf_if_huge=(ANY,),
        aliases=("quantiles", "bins", "horizons", "decay_lags", "residual")),
    "ferrofactor.evaluate.signal.QuantileReturns.cumulative_returns": Spec(_pick_pooled("cumulative_returns", ()), lambda c: {
        "which": _which("quantile_returns", "quantile_returns_nan"), "horizon": K.integer(c, 1, 5, optional=True)},
        bound=True, dims="pool", inf_if_huge=(ANY,), extreme=False),
    "ferrofactor.evaluate.signal.QuantileReturns.turnover": Spec(_pick_pooled("turnover", ()), lambda c: {
        "which": _which("quantile_returns", "quantile_returns_nan"), "lag": K.integer(c, 1, 5)}, bound=True, dims="pool"),
    "ferrofactor.evaluate.signal.QuantileReturns.summary": Spec(_pick_pooled("summary", ()), lambda c: {
        "which": _which("quantile_returns", "quantile_returns_nan")}, bound=True, dims="pool", extreme=False),
    "ferrofactor.evaluate.signal.QuantileReturns.plot": Spec(_pick_pooled("plot", (), _plot), lambda c: {
        "which": _which("quantile_returns", "quantile_returns_nan"), "horizon": K.integer(c, 1, 5, optional=True)},
        bound=True, dims="pool", extreme=False),
    "ferrofactor.evaluate.signal.SignalEvaluation.summary": Spec(_pick_pooled("summary", ()), lambda c: {
        "which": _which("evaluation", "evaluation_nan")}, bound=True, dims="pool", extreme=False),
    "ferrofactor.evaluate.signal.SignalEvaluation.plot": Spec(_pick_pooled("plot", (), _plot), lambda c: {
        "which": _which("evaluation", "evaluation_nan")}, bound=True, dims="pool", extreme=False),
    "ferrofactor.evaluate.signal.SignalEvaluation.plot_ic": Spec(_pick_pooled("plot_ic", (), _plot), lambda c: {
        "which": _which("evaluation", "evaluation_nan"), "window": K.integer(c, 1, 30)}, bound=True, dims="pool", extreme=False),
    "ferrofactor.evaluate.signal.SignalEvaluation.plot_ic_decay": Spec(_pick_pooled("plot_ic_decay", (), _plot), lambda c: {
        "which": _which("evaluation", "evaluation_nan")}, bound=True, dims="pool", extreme=False),
    "ferrofactor.evaluate.signal.SignalEvaluation.plot_quantile_returns": Spec(_pick_pooled("plot_quantile_returns", (), _plot), lambda c: {
        "which": _which("evaluation", "evaluation_nan")}, bound=True, dims="pool", extreme=False),
    "ferrofactor.evaluate.signal.SignalEvaluation.plot_cumulative_returns": Spec(_pick_pooled("plot_cumulative_returns", (), _plot), lambda c: {
        "which": _which("evaluation", "evaluation_nan"), "horizon": K.integer(c, 1, 5, optional=True)}, bound=True, dims="pool", extreme=False),
    "ferrofactor.evaluate.signal.SignalEvaluation.plot_turnover": Spec(_pick_pooled("plot_turnover", (), _plot), lambda c: {
        "which": _which("evaluation", "evaluation_nan"), "horizon": K.integer(c, 1, 5, optional=True)}, bound=True, dims="pool", extreme=False),
    # --- risk validation: result methods ----------------------------------------------------------
    "ferrofactor.evaluate.risk_validation.BiasResult.summary": Spec(lambda p: _any_result_summary, lambda c: {"which": st.just("bias")},
                                                                    bound=True, dims="pool", extreme=False),
    "ferrofactor.evaluate.risk_validation.BiasResult.to_polars": Spec(lambda p: _any_result_to_polars, lambda c: {
        "which": st.just("bias"), "kind": st.one_of(st.none(), st.sampled_from(["bias", "nope", 3, "standardized"])),
        "form": K.choice(c, ["wide", "long"])}, bound=True, dims="pool", aliases=("kind", "form"), extreme=False),
    "ferrofactor.evaluate.risk_validation.PortfolioBiasResult.summary": Spec(lambda p: _any_result_summary, lambda c: {
        "which": st.just("bias_test")}, bound=True, dims="pool", extreme=False),
    "ferrofactor.evaluate.risk_validation.ResidualCorrelation.summary": Spec(lambda p: _any_result_summary, lambda c: {
        "which": st.just("residual_correlation")}, bound=True, dims="pool", extreme=False),
})

SKIPPED.update({
    "ferrofactor.timeseries.TimeSeriesResult": "constructed by time_series_regress (fuzzed)",
    "ferrofactor.timeseries.AlphaTestResult": "constructed by alpha_test (fuzzed)",
    "ferrofactor.attribution.AttributionResult": "constructed by attribute (fuzzed)",
    "ferrofactor.metrics.MetricsSummary": "constructed by metrics.summary (fuzzed)",
    "ferrofactor.evaluate.signal.QuantileReturns": "constructed by quantile_returns / evaluate (fuzzed)",
    "ferrofactor.evaluate.signal.SignalEvaluation": "constructed by evaluate (fuzzed)",
    "ferrofactor.evaluate.plots": "figure helpers whose only argument is a result object; fuzzed through the "
                                  "results' .plot* methods (SignalEvaluation.plot_*, QuantileReturns.plot) with bad "
                                  "arguments, on a normal and a NaN-only evaluation",
})


# --- Dask: every wrapper is checked against the in-memory function it mirrors (bit for bit) ---


@functools.lru_cache(maxsize=None)
def dpool() -> dict[str, Any]:
    import dask
    import ferrofactor.dask as ffd

    dask.config.set(scheduler="synchronous")  # one thread: the 2-core CI runs tests, not a cluster
    p = pool()
    panel = p["panel"]
    dp = ffd.DaskPanel.from_panel(panel, chunks=25)
    dex = ffd.DaskExposures.from_panel(dp, descriptor_options={"window": 10, "liquidity_window": 5})
    dres = ff.FactorModel().fit(dp, dex)
    lcs = ffd.cross_section_regress(dp["returns"], dex.styles, dates=panel.dates, assets=panel.assets)
    sig = dex.styles[:, :, 0]
    lqr = ffd.quantile_returns(sig, dp, 3, horizons=(1, 5))
    lev = ffd.evaluate(sig, residual=dres, horizons=(1, 5), decay_lags=(1, 2, 3))
    tmp = os.path.join(p["tmp"], "hive")
    for year, days in (("2024", ["2024-12-30", "2024-12-31"]), ("2025", ["2025-01-02", "2025-01-03"])):
        os.makedirs(os.path.join(tmp, f"year={year}"), exist_ok=True)
        pl.DataFrame({"date": np.array([d for d in days for _ in range(2)], dtype="datetime64[D]"), "asset": ["A", "B"] * 2,
                      "close": [1.0, 2.0, 1.1, 2.2], "shares": [10.0] * 4, "volume": [5.0] * 4}).write_parquet(
            os.path.join(tmp, f"year={year}", "part-0.parquet"))
    bad = os.path.join(p["tmp"], "badhive")
    os.makedirs(bad, exist_ok=True)
    with open(os.path.join(bad, "x.parquet"), "w") as f:
        f.write("not parquet")
    return {"ffd": ffd, "dp": dp, "dex": dex, "dres": dres, "lcs": lcs, "lqr": lqr, "lev": lev, "hive": tmp, "bad": bad}


def _to_dask(pair):
    x, ch = pair
    if ch is None or not isinstance(x, np.ndarray) or isinstance(x, np.ma.MaskedArray) or x.ndim == 0:
        return x
    import dask.array as da

    return da.from_array(x, chunks=(ch,) + (-1,) * (x.ndim - 1))


def _dk(strategy: st.SearchStrategy) -> st.SearchStrategy:
    """Arrays of ``strategy`` as dask arrays chunked by 1, 2 or 4 dates (now and then left numpy)."""
    return st.tuples(strategy, st.sampled_from([1, 2, 4, 4, 4, None])).map(_to_dask)


def _np_of(v: Any) -> Any:
    import dask.array as da

    if isinstance(v, da.Array):
        return v.compute()
    if isinstance(v, dict):
        return {k: _np_of(x) for k, x in v.items()}
    return v


def _computed(out: Any) -> Any:
    import dask.array as da

    if isinstance(out, da.Array):
        return out.compute()
    if isinstance(out, tuple):
        return tuple(_computed(o) for o in out)
    if type(out).__name__ in ("DaskPanel", "DaskExposures", "LazyCrossSection", "DaskFactorModelResult",
                              "LazyQuantileReturns", "LazySignalEvaluation"):
        return out.compute()
    return out


def _computing(fn: Callable) -> Callable:
    """Call a lazy Dask wrapper and compute its result (data errors surface in compute())."""
    @functools.wraps(fn)
    def call(*a, **kw):
        return _computed(fn(*a, **kw))
    if hasattr(fn, "__self__"):
        call.__self__ = fn.__self__  # the estimator whose state a failed call must leave alone
    return call


def _equal(got: Any, want: Any, what: str) -> None:
    if isinstance(want, tuple):
        for i, (g, w) in enumerate(zip(got, want)):
            _equal(g, w, f"{what}[{i}]")
        return
    if isinstance(want, ff.Panel):
        assert got.fields == want.fields, what
        for k in want.fields:
            _equal(got[k], want[k], f"{what}[{k!r}]")
        return
    if isinstance(want, Result):
        assert type(got) is type(want), f"{what}: {type(got).__name__} vs {type(want).__name__}"
        for k in type(want)._arrays:
            g, w = getattr(got, k), getattr(want, k)
            if w is None:
                assert g is None, f"{what}.{k}"
            else:
                _equal(g, w, f"{what}.{k}")
        return
    np.testing.assert_array_equal(np.asarray(got), np.asarray(want), err_msg=f"dask {what} differs from in memory")


def _mirror(mem_fn: Callable, first: str) -> Callable:
    """The computed dask result equals the in-memory function on the same (computed) inputs; a
    case the in-memory function refuses must not succeed on Dask. (Only when the main argument
    was a dask array: otherwise the wrapper must have refused it.)"""
    def check(out, ctx, kw):
        import dask.array as da

        assert any(isinstance(kw.get(k), da.Array) for k in DASK_ARRAYS), "the dask wrapper accepted no dask array"
        args = {k: _np_of(v) for k, v in kw.items()}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                want = mem_fn(**args)
            except (ValueError, TypeError) as e:
                raise AssertionError(f"dask accepted a case the in-memory function refuses: {e}") from None
        _equal(out, want, "result")
    return check


DASK_ARRAYS = ("x", "weights", "industry", "controls", "returns", "market", "cap", "styles", "signal")

_DASK_MIRRORS = {  # dask wrapper -> in-memory spec (same parameters, arrays on dask)
    "winsorize": "ferrofactor.clean.winsorize", "standardize": "ferrofactor.clean.standardize",
    "rank": "ferrofactor.clean.rank", "neutralize": "ferrofactor.clean.neutralize",
    "rolling_sum": "ferrofactor.rolling.rolling_sum", "rolling_mean": "ferrofactor.rolling.rolling_mean",
    "rolling_var": "ferrofactor.rolling.rolling_var", "rolling_std": "ferrofactor.rolling.rolling_std",
    "ewm_mean": "ferrofactor.rolling.ewm_mean", "ewm_var": "ferrofactor.rolling.ewm_var", "ewm_std": "ferrofactor.rolling.ewm_std",
    "rolling_beta": "ferrofactor.rolling.rolling_beta", "compounded_return": "ferrofactor.rolling.compounded_return",
    "max_drawdown": "ferrofactor.rolling.max_drawdown", "market_return": "ferrofactor.descriptors.market_return",
    "cross_section_regress": "ferrofactor.regress.cross_section_regress",
    **{n: f"ferrofactor.evaluate.signal.{n}" for n in (
        "forward_returns", "information_coefficient", "factor_weighted_returns", "quantile_turnover",
        "rank_autocorrelation", "quantile_returns", "evaluate")},
}


def _dask_params(mem_key: str) -> Callable:
    def params(c):
        return {k: (_dk(v) if k in DASK_ARRAYS else v) for k, v in SPECS[mem_key].params(c).items()}
    return params


def _dask_fn(name: str) -> Callable:
    """The wrapper, computing (module attribute looked up at call time: Dask is imported lazily)."""
    def fn(p):
        return _computing(getattr(dpool()["ffd"], name))
    return fn


def _dpool(name: str, method: str | None = None, compute: bool = False) -> Callable:
    def fn(p):
        obj = dpool()[name]
        f = getattr(obj, method) if method else obj
        return _computing(f) if compute else f
    return fn


def _dask_panel_params(c):
    return {"dates": K.dates(c, optional=False), "assets": K.assets(c, optional=False),
            "fields": st.one_of(st.fixed_dictionaries({"close": _dk(K.tn_field(c))}), st.just({}), st.none(),
                                st.just({1: np.zeros((c.T, c.N))}), st.just({"x": "abc"})),
            "codes": st.one_of(st.none(), st.fixed_dictionaries({"industry": st.tuples(_dk(K.industry(c, optional=False)),
                                                                                         st.just(np.array(["a", "b", "c"])))}),
                               st.just({"industry": np.zeros((c.T, c.N))}), st.just({"industry": (np.full((c.T, c.N), 7), ["a"])})),
            "chunks": st.one_of(st.none(), K.integer(c, 1, 5), st.just([c.T]), st.just([1, 1]), st.just("3"))}


def _dask_panel_fields(c):
    T, N, _ = pool_dims()
    return st.one_of(st.none(), st.fixed_dictionaries({"new": _dk(K.tn_field(c))}), st.just({"returns": np.zeros((T, N))}),
                     st.just({"bad": np.zeros((T + 1, N))}), st.just({3: np.zeros((T, N))}))


SPECS.update({
    **{f"ferrofactor.dask.{n}": Spec(_dask_fn(n), _dask_params(mk), _mirror(SPECS[mk].fn, next(iter(SPECS[mk].params(K.Ctx(1, 1, 1))))),
                                     inf_ok=SPECS[mk].inf_ok, inf_if_huge=SPECS[mk].inf_if_huge, inf_if_max=SPECS[mk].inf_if_max, aliases=SPECS[mk].aliases + DASK_ARRAYS,
                                     bound=True, extreme=SPECS[mk].extreme)
       for n, mk in _DASK_MIRRORS.items()},
    "ferrofactor.dask.DaskPanel": Spec(lambda p: _computing(dpool()["ffd"].DaskPanel), _dask_panel_params, bound=True,
                                       aliases=("field", "code", "labels", "chunks")),
    "ferrofactor.dask.DaskPanel.from_panel": Spec(lambda p: _computing(dpool()["ffd"].DaskPanel.from_panel), lambda c: {
        "panel": st.one_of(st.just(pool()["panel"]), st.just(dpool()["dp"]), K.hostile_scalar()),
        "chunks": st.one_of(K.integer(c, 1, 80), st.just([70]), st.just([35, 35]), st.just([1, 2]), st.just((10.0,)))},
        bound=True, dims="pool", aliases=("chunks",)),
    "ferrofactor.dask.DaskPanel.compute": Spec(_dpool("dp", "compute"), lambda c: {}, lambda out, c, kw: _equal(out, pool()["panel"], "panel"),
                                               bound=True, dims="pool", extreme=False),
    "ferrofactor.dask.DaskPanel.persist": Spec(_dpool("dp", "persist", compute=True), lambda c: {},
                                               lambda out, c, kw: _equal(out, pool()["panel"], "panel"), bound=True, dims="pool", extreme=False),
    "ferrofactor.dask.DaskPanel.rechunk": Spec(_dpool("dp", "rechunk", compute=True), lambda c: {
        "chunks": st.one_of(K.integer(c, 1, 80), st.just([70]), st.just([69]), st.just([0, 70]), st.just("7"))},
        lambda out, c, kw: _equal(out, pool()["panel"], "panel"), bound=True, dims="pool"),
    "ferrofactor.dask.DaskPanel.with_fields": Spec(_dpool("dp", "with_fields", compute=True), lambda c: {
        "fields": _dask_panel_fields(c),
        "codes": st.one_of(st.none(), st.just({"industry": (np.zeros(pool_dims()[:2], np.int32), ["a"])}),
                           st.just({"industry": (np.full(pool_dims()[:2], 5), ["a"])}), st.just({"returns": (np.zeros(pool_dims()[:2], int), ["a"])}))},
        bound=True, dims="pool", aliases=("field", "code"), extreme=False),
    "ferrofactor.dask.read_universe": Spec(lambda p: _computing(dpool()["ffd"].read_universe), lambda c: {
        "prices": st.sampled_from([dpool()["hive"], dpool()["hive"], os.path.join(dpool()["hive"], "*", "*.parquet"), dpool()["bad"],
                                   "/nonexistent-ff", [], 42, None, [pool()["files"]["prices_csv"]], pool()["files"]["prices_parquet"]]),
        "chunks": st.one_of(K.integer(c, 1, 5), st.just([2, 2]), st.just([1])),
        "report_lag_days": K.integer(c, 0, 10), "max_staleness": K.integer(c, 0, 400, optional=True),
        "classification_lag_days": K.integer(c, 0, 10), "date_format": st.one_of(st.none(), st.none(), st.just("%Y-%m-%d"), st.just(3)),
        "price_fields": st.one_of(st.none(), st.none(), st.just(["close"]), st.just(["nope"]), st.just("close")),
        "shares": st.one_of(st.just("shares"), st.none(), st.just(3)),
        "dates": st.one_of(st.none(), st.none(), _axis_dates(c)), "assets": st.one_of(st.none(), st.none(), _axis_assets(c))},
        bound=True, aliases=("prices", "column", "close", "source"), ),
    "ferrofactor.dask.compute_descriptors": Spec(lambda p: _computing(dpool()["ffd"].compute_descriptors), lambda c: {
        "panel": st.one_of(st.just(dpool()["dp"]), st.just(dpool()["dp"]), st.just(pool()["panel"]), K.hostile_scalar()),
        "market": st.one_of(st.none(), st.none(), _dk(K.series_t(c))), "window": K.integer(c, 2, 30),
        "beta_half_life": K.real(c, 0.1, 50, optional=True), "vol_half_life": K.real(c, 0.1, 50, optional=True),
        "liquidity_window": K.integer(c, 1, 30), "min_fraction": K.real(c, 0, 1),
        "fields": st.one_of(st.none(), st.just({"returns": "nope"})), "mask_unlisted": K.boolean(c),
        "names": st.one_of(st.none(), st.just(["beta"]), st.just(["nope"]), st.just(["book_to_market"]), st.just(3))},
        lambda out, c, kw: _equal(out, ff.descriptors.compute_descriptors(
            pool()["panel"], **{k: _np_of(v) for k, v in kw.items() if k != "panel"}), "descriptors")
        if isinstance(kw.get("panel"), type(dpool()["dp"])) else None,
        bound=True, dims="pool", inf_if_huge=(ANY,), aliases=("market_cap", "returns", "nope", "names", "fields")),
    "ferrofactor.dask.DaskExposures": Spec(lambda p: dpool()["ffd"].DaskExposures, lambda c: {
        "styles": st.one_of(_dk(K.styles(c)), st.none()), "industry": st.one_of(_dk(K.industry(c))),
        "style_names": K.names(c, c.K, optional=False), "industry_names": st.one_of(st.just(["a", "b", "c"]), st.just([]), st.just("ab"), st.none()),
        "market": K.boolean(c), "dates": K.dates(c), "assets": K.assets(c)}, bound=True,
        aliases=("styles", "industry", "style_names", "industry_names")),
    "ferrofactor.dask.DaskExposures.compute": Spec(_dpool("dex", "compute"), lambda c: {}, bound=True, dims="pool", extreme=False),
    "ferrofactor.dask.DaskExposures.persist": Spec(_dpool("dex", "persist", compute=True), lambda c: {}, bound=True, dims="pool",
                                                   extreme=False),
    "ferrofactor.dask.DaskExposures.from_panel": Spec(lambda p: _computing(dpool()["ffd"].DaskExposures.from_panel), lambda c: {
        "panel": st.one_of(st.just(dpool()["dp"]), st.just(pool()["panel"]), K.hostile_scalar()),
        "cap": st.sampled_from(["market_cap", "nope", 3]), "industry": st.sampled_from(["industry", None, "returns"]),
        "market": K.boolean(c), "winsorize": st.one_of(st.none(), K.choice(c, WINSOR)),
        "winsorize_limit": K.real(c, 0.01, 5), "fill": st.one_of(st.none(), K.choice(c, ["industry_mean", "zero"])),
        "descriptor_options": st.one_of(st.just({"window": 10, "liquidity_window": 5}),
                                        st.fixed_dictionaries({"window": K.integer(c, 2, 30), "liquidity_window": K.integer(c, 1, 30)}),
                                        st.just({"bogus": 1}), st.just("x"))},
        bound=True, dims="pool", aliases=("style", "descriptor_options", "bogus", "window", "liquidity_window")),
    "ferrofactor.dask.DaskExposures.from_descriptors": Spec(lambda p: _computing(dpool()["ffd"].DaskExposures.from_descriptors), lambda c: {
        "descriptors": st.one_of(st.fixed_dictionaries({"volatility": _dk(K.tn_field(c)), "book_to_market": _dk(K.tn_field(c))}),
                                 st.just({}), K.hostile_scalar(), st.just({"volatility": np.zeros((c.T, c.N))})),
        "styles": st.one_of(st.none(), st.just({"v": {"volatility": 1.0}}), st.just({"v": {"nope": 1.0}}), st.just({})),
        "cap": _dk(K.tn_field(c, positive=True, optional=True)), "industry": _dk(K.industry(c)),
        "industry_names": st.one_of(st.none(), st.none(), st.just(["a", "b", "c"]), st.just({0: "x"})),
        "market": K.boolean(c), "winsorize": st.one_of(st.none(), K.choice(c, WINSOR)),
        "winsorize_limit": K.real(c, 0.01, 5), "fill": st.one_of(st.none(), K.choice(c, ["industry_mean", "zero"])),
        "dates": K.dates(c), "assets": K.assets(c)}, bound=True, aliases=("descriptors", "style", "styles", "weight"), extreme=False),
    "ferrofactor.dask.DaskFactorModelResult.compute": Spec(_dpool("dres", "compute"), lambda c: {}, bound=True, dims="pool",
                                                           inf_ok=("tstats",), extreme=False),
    "ferrofactor.dask.DaskFactorModelResult.fama_macbeth": Spec(_dpool("dres", "fama_macbeth"), lambda c: {
        "cov": K.choice(c, ["unadjusted", "kernel"]), "bandwidth": K.real(c, 0, 100, optional=True)}, bound=True,
        dims="pool", inf_ok=("tstats",), extreme=False),
    "ferrofactor.dask.LazyQuantileReturns.compute": Spec(_dpool("lqr", "compute"), lambda c: {},
                                                         lambda out, c, kw: _equal(out, pool()["quantile_returns"], "quantile_returns"),
                                                         bound=True, dims="pool", extreme=False),
    "ferrofactor.dask.LazySignalEvaluation.compute": Spec(_dpool("lev", "compute"), lambda c: {},
                                                          lambda out, c, kw: _equal(out, pool()["evaluation"], "evaluation"),
                                                          bound=True, dims="pool", inf_ok=("ic_tstat", "ic_nw_tstat", "ic_ir", "ic_decay_nw_tstat"),
                                                          extreme=False),
    "ferrofactor.dask.specific_variance": Spec(lambda p: _computing(dpool()["ffd"].specific_variance), lambda c: {
        "residuals": st.one_of(st.just(dpool()["dres"].residuals), _dk(K.tn_field(c))),
        "exposures": st.one_of(st.just(dpool()["dex"]), st.just(pool()["exposures"]), K.hostile_scalar()),
        "cap": st.one_of(st.just(dpool()["dp"]["market_cap"]), _dk(K.tn_field(c, positive=True))),
        "settings": st.one_of(st.none(), st.fixed_dictionaries({}, optional={k: v for k, v in _risk_settings(c).items() if k.startswith("specific") or k in ("n_cap_groups", "structural_ridge")}),
                              st.just({"bogus": 1}), st.just("x"))},
        bound=True, dims="pool", inf_if_huge=(ANY,),
        aliases=("settings", "bogus", "residuals", "exposures", "cap", *_risk_settings(K.Ctx(1, 1, 1)))),
    "ferrofactor.dask.LazyCrossSection.compute": Spec(_dpool("lcs", "compute"), lambda c: {},
                                                      lambda out, c, kw: _equal(out, pool()["cs"], "cross_section_regress"),
                                                      bound=True, dims="pool", inf_ok=("tstats",), extreme=False),
})

SKIPPED.update({
    "ferrofactor.dask.DaskFactorModelResult": "constructed by FactorModel.fit on a DaskPanel (fuzzed: FactorModel.fit, dask inputs)",
    "ferrofactor.dask.LazyCrossSection": "constructed by ferrofactor.dask.cross_section_regress (fuzzed)",
    "ferrofactor.dask.LazyQuantileReturns": "constructed by ferrofactor.dask.quantile_returns (fuzzed; computed in every case)",
    "ferrofactor.dask.LazySignalEvaluation": "constructed by ferrofactor.dask.evaluate (fuzzed; computed in every case)",
})

# --- backtests, strategies, monitoring (merged from main: bt) --------------------------------


@functools.lru_cache(maxsize=None)
def bpool() -> dict[str, Any]:
    p = pool()
    panel, T, N = p["panel"], p["T"], p["N"]
    rng = np.random.default_rng(5)
    sig = rng.normal(size=(T, N))
    one = ff.backtest(panel, ff.strategies.TopN(sig, 3), rebalance=5, cost_bps=5)
    books = ff.backtest_many(panel, ff.strategies.Quantile(sig, 3), rebalance="weekly", cost_bps=5)
    flat = ff.backtest(np.zeros((4, 2)), np.zeros((4, 2)), rebalance=1)  # never invested
    opt = ff.backtest(panel, ff.strategies.Optimized(np.where(np.isfinite(panel["returns"]), sig * 1e-3, np.nan),
                                                     p["risk"], long_only=True, max_weight=0.5),
                      rebalance=20, start=40)
    return {"one": one, "books": books, "flat": flat, "opt": opt, "signal": sig}


@st.composite
def _targets(draw, c):
    """Target weights (T, N): valid (|w| summing to at most 1), or anything a user might pass."""
    kind = draw(st.sampled_from(["valid", "valid", "valid", "raw", "callable", "callable_none", "callable_bad",
                                 "quantile", "topn", "weighted", "mapping", "list", "stack"]))
    seed = draw(st.integers(0, 99))
    rng = np.random.default_rng(seed)
    T, N = c.T, c.N
    if kind == "valid":
        x = draw(K.float_array(c, (T, N)))
        with np.errstate(all="ignore"):
            w = np.abs(np.nan_to_num(np.asarray(x, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0))
            tot = w.sum(axis=1, keepdims=True) if w.size else w
            return np.where(tot > 1, w / np.where(tot > 0, tot, 1.0), w) if w.size else w
    if kind == "raw":
        return draw(K.tn_field(c))
    if kind == "callable":
        return lambda t, ctx: np.full(len(ctx.weights), 1.0 / max(len(ctx.weights), 1))
    if kind == "callable_none":
        return lambda t, ctx: None
    if kind == "callable_bad":
        return lambda t, ctx: draw(st.sampled_from(["x", np.ones(N + 1), {"nope": 1.0}, np.full(N, np.inf), [[1.0]]]))
    sig = rng.normal(size=(T, N))
    try:
        if kind == "quantile":
            return ff.strategies.Quantile(sig, 2, books=["long_short"])
        if kind == "topn":
            return ff.strategies.TopN(sig, 1)
        if kind == "weighted":
            return ff.strategies.SignalWeighted(sig)
    except (ValueError, TypeError):
        return sig
    if kind == "mapping":
        return {"a": np.zeros((T, N)), "b": lambda t, ctx: None}
    if kind == "list":
        return [np.zeros((T, N)), np.zeros((T, N))]
    return np.zeros((2, T, N))


def _rebalance(c):
    return st.one_of(K.choice(c, ["daily", "weekly", "monthly"]), K.integer(c, 1, 5),
                     st.just(np.ones(c.T, bool)), st.just(np.arange(c.T)), st.just([0, c.T + 2]), st.just([1.5]),
                     st.just(["2020-01-02"]), st.just(["1999-01-01"]), st.just(np.ones(c.T + 1, bool)), st.just(True))


def _bt_position(c):
    return st.one_of(st.none(), st.none(), st.integers(-c.T - 1, c.T + 1), st.sampled_from(["2020-01-02", "garbage", 1.5, True]))


def _bt_params(many: bool) -> Callable:
    def params(c):
        d = {"panel_or_returns": st.one_of(K.tn_field(c, positive=True), K.tn_field(c), _wide(c, c.N, positive=True)),
             ("strategies" if many else "strategy"): _targets(c),
             "rebalance": _rebalance(c), "cost_bps": K.real(c, 0, 50), "cost_side": K.choice(c, ["both", "buy", "sell"]),
             "initial_value": K.real(c, 0.1, 1e6),
             "tradable": st.one_of(st.none(), st.none(), st.just(np.ones((c.T, c.N), bool)), K.tn_field(c)),
             "start": _bt_position(c), "end": _bt_position(c),
             "delisting_returns": st.one_of(st.none(), st.none(), K.real(c, -1, 1), K.series_n(c), st.just({"A0": -0.5})),
             "prices": st.one_of(st.none(), st.none(), st.none(), st.just("close")),
             "dates": K.dates(c), "assets": K.assets(c)}
        return d
    return params


def _strategy_run(cls: Any) -> Callable:
    """Build a strategy and run it in a backtest on zero returns of its signal's shape (its
    targets are computed there)."""
    @functools.wraps(cls)
    def call(*a, **kw):
        s = cls(*a, **kw)
        sig = getattr(s, "_signal", getattr(s, "_alpha", None))
        r = np.zeros(sig.shape)
        if sig.shape[0] and sig.shape[1]:
            ff.backtest_many(r, s, rebalance=1, cost_bps=5.0, risk_model=pool()["risk"] if sig.shape == (pool()["T"], pool()["N"]) else None)
        return s
    call.__signature__ = inspect.signature(cls)
    return call


def _signal_strategy_params(c, **extra):
    d = {"signal": st.one_of(K.tn_field(c), _wide(c, c.N)), "universe": st.one_of(st.none(), st.none(), st.just(np.ones((c.T, c.N), bool)), K.tn_field(c)),
         "industry": K.industry(c), "industry_weights": st.one_of(K.choice(c, ["equal", "cap"]), st.just({"0": 1.0}), st.just(np.ones(3)), st.just([1, -1])),
         "cap": K.tn_field(c, positive=True, optional=True)}
    d.update(extra)
    return d


def _alerts_out(out, ctx, kw):
    assert isinstance(out, pl.DataFrame) and out.columns == ["date", "kind", "subject", "value", "threshold", "message"], out


SPECS.update({
    "ferrofactor.backtest.backtest": Spec(ff.backtest, _bt_params(False), aliases=(
        "targets", "strategy", "returns", "prices", "rebalance", "delisting_returns", "book", "weights"),
        inf_if_huge=(ANY,)),
    "ferrofactor.backtest.backtest_many": Spec(ff.backtest_many, _bt_params(True), aliases=(
        "targets", "strategy", "strategies", "returns", "prices", "rebalance", "delisting_returns", "book", "weights"),
        inf_if_huge=(ANY,)),
    "ferrofactor.backtest.rebalance_rows": Spec(importlib.import_module("ferrofactor.backtest").rebalance_rows, lambda c: {
        "rebalance": _rebalance(c), "dates": st.one_of(st.none(), st.just(np.datetime64("2020-01-01") + np.arange(c.T)), K.dates(c)),
        "start": K.integer(c, 0, 4), "end": K.integer(c, 0, 8)}, aliases=("rebalance",)),
    "ferrofactor.backtest.BacktestResult.metrics": Spec(_pick_pooled("metrics", (), None, source=lambda: bpool()), lambda c: {
        "which": _which("one", "flat", "opt"), "benchmark": st.one_of(st.none(), K.array(c, (pool()["T"],)), K.array(c, (3,))),
        "risk_free": st.one_of(st.none(), K.real(c, -0.01, 0.01), K.array(c, (pool()["T"],))), "periods_per_year": K.real(c, 0.5, 400)},
        bound=True, dims="pool", inf_ok=("sharpe_ratio", "sortino_ratio", "information_ratio", "annual_return"),
        inf_if_huge=(ANY,), aliases=("benchmark", "risk_free"), extreme=False),
    "ferrofactor.backtest.BacktestResult.summary": Spec(_pick_pooled("summary", (), None, source=lambda: bpool()), lambda c: {"which": _which("one", "flat", "opt")},
                                                        bound=True, dims="pool", extreme=False),
    "ferrofactor.backtest.BacktestResult.trade_weights": Spec(_pick_pooled("trade_weights", (), None, source=lambda: bpool()), lambda c: {"which": _which("one", "flat", "opt")},
                                                              bound=True, dims="pool", extreme=False),
    "ferrofactor.backtest.BacktestResult.alerts": Spec(_pick_pooled("alerts", (), None, source=lambda: bpool()), lambda c: {
        "which": _which("one", "flat", "opt"), "turnover_threshold": K.real(c, 0, 1), "max_position": K.real(c, 0, 1),
        "top5_share": K.real(c, 0, 1), "lookback": K.integer(c, 2, 40), "negative_share": K.real(c, 0, 1),
        "recent": K.integer(c, 1, 5), "n_std": K.real(c, 0, 3)}, _alerts_out, bound=True, dims="pool",
        aliases=("threshold", "thresholds", "recent", "lookback", "top5_share", "negative_share", "n_std")),
    "ferrofactor.backtest.BacktestResult.plot": Spec(_pick_pooled("plot", (), _plot, source=lambda: bpool()), lambda c: {
        "which": _which("one", "flat", "opt"), "ax": st.sampled_from([None, None, None, 3, "ax"])}, bound=True, dims="pool", extreme=False),
    "ferrofactor.backtest.BacktestBooks.metrics": Spec(_pick_pooled("metrics", (), None, source=lambda: bpool()), lambda c: {
        "which": st.just("books"), "benchmark": st.one_of(st.none(), K.array(c, (pool()["T"],))),
        "risk_free": st.one_of(st.none(), K.real(c, -0.01, 0.01)), "periods_per_year": K.real(c, 0.5, 400)},
        bound=True, dims="pool", inf_ok=("sharpe_ratio", "sortino_ratio", "information_ratio", "annual_return"),
        inf_if_huge=(ANY,), aliases=("benchmark", "risk_free"), extreme=False),
    "ferrofactor.backtest.BacktestBooks.summary": Spec(_pick_pooled("summary", (), None, source=lambda: bpool()), lambda c: {"which": st.just("books")},
                                                       bound=True, dims="pool", extreme=False),
    "ferrofactor.backtest.BacktestBooks.alerts": Spec(_pick_pooled("alerts", (), None, source=lambda: bpool()), lambda c: {
        "which": st.just("books"), "turnover_threshold": K.real(c, 0, 1), "max_position": K.real(c, 0, 1),
        "lookback": K.integer(c, 2, 40), "bogus": st.just(1)}, _alerts_out, bound=True, dims="pool",
        aliases=("threshold", "thresholds", "bogus", "recent", "lookback", "top5_share", "negative_share", "n_std")),
    "ferrofactor.backtest.BacktestBooks.plot": Spec(_pick_pooled("plot", (), _plot, source=lambda: bpool()), lambda c: {
        "which": st.just("books"), "ax": st.sampled_from([None, None, None, 3, "ax"])}, bound=True, dims="pool", extreme=False),
    # --- strategies (built, then run in a backtest of their shape) ---------------------------------
    "ferrofactor.strategies.Quantile": Spec(_strategy_run(ff.strategies.Quantile), lambda c: _signal_strategy_params(
        c, quantiles=K.integer(c, 2, 5), long_short=K.boolean(c), reverse=K.boolean(c),
        books=st.one_of(st.none(), st.just(["long_short"]), st.just("Q1"), st.just(["Q1", "Q1"]), st.just(["nope"]), st.just(3)),
        weighting=K.choice(c, ["equal", "cap"])), aliases=("returns", "books", "industry_weights")),
    "ferrofactor.strategies.SignalWeighted": Spec(_strategy_run(ff.strategies.SignalWeighted), lambda c: _signal_strategy_params(
        c, demean=K.boolean(c), name=st.sampled_from(["sw", 3, ""])), aliases=("returns", "industry_weights")),
    "ferrofactor.strategies.TopN": Spec(_strategy_run(ff.strategies.TopN), lambda c: {
        "signal": st.one_of(K.tn_field(c), _wide(c, c.N)), "n": K.integer(c, 1, 6, optional=True),
        "fraction": K.real(c, 0, 1, optional=True), "long_short": K.boolean(c),
        "universe": st.one_of(st.none(), st.just(np.ones((c.T, c.N), bool))), "cap": K.tn_field(c, positive=True, optional=True),
        "weighting": K.choice(c, ["equal", "cap"]), "name": st.sampled_from([None, "top", 3])}, aliases=("returns",)),
    "ferrofactor.strategies.Optimized": Spec(_strategy_run(ff.strategies.Optimized), lambda c: {
        "alpha": st.one_of(K.tn_field(c), st.just(np.full((pool()["T"], pool()["N"]), 1e-3))),
        "risk_model": st.one_of(st.none(), st.just(pool()["risk"]), K.hostile_scalar()),
        "optimizer": st.one_of(st.none(), st.none(), st.just(_optimize.Optimizer(long_only=True)), st.just("x")),
        "name": st.sampled_from(["opt", 3]), "long_only": K.boolean(c), "risk_aversion": K.real(c, 0, 10)},
        aliases=("returns", "alpha", "risk_model", "optimizer", "risk")),
    # --- monitoring --------------------------------------------------------------------------------
    "ferrofactor.monitor.SCHEMA": Spec(ff.monitor.SCHEMA, lambda c: {"dated": K.boolean(c)}, extreme=False),
    "ferrofactor.monitor.empty": Spec(ff.monitor.empty, lambda c: {"dated": K.boolean(c)}, extreme=False),
    "ferrofactor.monitor.concat": Spec(ff.monitor.concat, lambda c: {"frames": st.sampled_from([
        [], [ff.monitor.empty()], [ff.monitor.empty(), ff.monitor.empty(False)], [ff.monitor.turnover(np.array([0.9]))],
        [ff.monitor.turnover(np.array([0.9])), ff.monitor.turnover(np.array([0.9]), dates=np.array(["2020-01-01"], "datetime64[D]"))],
        [pl.DataFrame({"x": [1]})], "x", None, [3]])}, aliases=("frames",), extreme=False),
    "ferrofactor.monitor.factor_decay": Spec(ff.monitor.factor_decay, lambda c: {
        "factor_returns": st.one_of(K.array(c, (c.T, c.K)), K.series_t(c), st.just(pool()["result"])),
        "lookback": K.integer(c, 2, 8), "negative_share": K.real(c, 0, 1), "recent": K.integer(c, 1, 4),
        "n_std": K.real(c, 0, 3), "dates": st.one_of(K.dates(c), st.just(np.arange(c.T)), st.just(np.arange(2))),
        "names": K.names(c, c.K), "last_only": K.boolean(c)}, _alerts_out),
    "ferrofactor.monitor.turnover": Spec(ff.monitor.turnover, lambda c: {
        "turnover": K.series_t(c), "threshold": K.real(c, 0, 1),
        "dates": st.one_of(K.dates(c), st.just(np.arange(c.T)), st.just(np.arange(2))), "subject": st.sampled_from(["p", 3, None])},
        _alerts_out, extreme=False),
    "ferrofactor.monitor.concentration": Spec(ff.monitor.concentration, lambda c: {
        "weights": st.one_of(K.tn_field(c), K.series_n(c)), "max_position": K.real(c, 0, 1), "top5_share": K.real(c, 0, 1),
        "dates": st.one_of(K.dates(c), st.just(np.arange(c.T)), st.just(np.arange(2))), "assets": K.assets(c),
        "subject": st.sampled_from(["p", 3])}, _alerts_out, extreme=False),
    "ferrofactor.monitor.risk_bias": Spec(ff.monitor.risk_bias, lambda c: {
        "bias": st.one_of(st.just(pool()["bias"]), K.series_n(c), K.tn_field(c)),
        "band": st.one_of(st.none(), st.just((0.8, 1.2)), st.just((1.2, 0.8)), st.just((np.nan, 1.0)), st.just("ab"), st.just((1.0,))),
        "dates": st.one_of(K.dates(c), st.just(np.arange(2))), "names": K.names(c, c.N)}, _alerts_out, aliases=("band", "bias"),
        extreme=False),
    "ferrofactor.monitor.solver": Spec(ff.monitor.solver, lambda c: {
        "statuses": st.sampled_from([["optimal", "infeasible"], [], "optimal", 3, [None], [pool()["optimization"]]]),
        "dates": st.one_of(st.none(), st.just(np.array(["2020-01-01", "2020-01-02"], "datetime64[D]")), st.just(np.arange(2)), st.just(3)),
        "ok": st.sampled_from([("optimal",), "optimal", 3, []]), "subject": st.sampled_from(["opt", 3])},
        _alerts_out, aliases=("statuses", "ok"), extreme=False),
    "ferrofactor.monitor.coverage": Spec(ff.monitor.coverage, lambda c: {
        "signal": K.tn_field(c), "universe": st.one_of(st.none(), st.just(np.ones((c.T, c.N), bool)), K.tn_field(c)),
        "drop": K.real(c, 0, 1), "lookback": K.integer(c, 1, 8),
        "dates": st.one_of(K.dates(c), st.just(np.arange(c.T)), st.just(np.arange(2))), "subject": st.sampled_from(["s", 3])},
        _alerts_out),
})

SKIPPED.update({
    "ferrofactor.backtest.BacktestResult": "constructed by backtest / backtest_many (fuzzed); its __init__ refuses direct use",
    "ferrofactor.backtest.BacktestBooks": "constructed by backtest_many (fuzzed)",
    "ferrofactor.backtest.Context": "built by the backtest for callable strategies (fuzzed through backtest with callables)",
    "ferrofactor.strategies.Strategy": "abstract base of the built-in strategies (each fuzzed)",
})


# --- .plot methods, configuration, report (merged from main: cli) ------------------------------

_config = importlib.import_module("ferrofactor.config")
_report = importlib.import_module("ferrofactor.report")
_plotting = importlib.import_module("ferrofactor.plotting")


def _config_raw(c):
    """A parsed TOML mapping, sometimes wrong in key, type or range."""
    return st.one_of(
        st.just({}), st.just({"model": {"lag": 1}}),
        st.fixed_dictionaries({"model": st.fixed_dictionaries({}, optional={
            "lag": K.integer(c, 0, 3), "market": K.boolean(c), "weights": K.choice(c, ["sqrt_cap", "equal"])})}),
        st.fixed_dictionaries({"risk": st.fixed_dictionaries({}, optional={
            "vol_half_life": K.real(c, 1, 100), "n_cap_groups": K.integer(c, 1, 10)})}),
        st.sampled_from([{"modle": {}}, {"model": {"lagg": 1}}, {"model": 3}, {"model": {"lag": "1"}}, {"model": {"lag": -1}},
                         {"model": {"lag": True}}, {"data": {"prices": "/nonexistent.parquet"}}, [], "x", None,
                         {"backtest": {"cost_bps": float("nan")}}, {"risk": {"vol_half_life": 1e308}}]))


SPECS.update({
    **{k: Spec(_pick_pooled("plot", (), _plot), params, bound=True, dims="pool", aliases=aliases, extreme=False)
       for k, params, aliases in (
           ("ferrofactor.exposures.Exposures.plot", lambda c: {
               "which": st.just("exposures"), "asset": st.one_of(st.none(), st.integers(-20, 20), st.sampled_from(["A00001", "nope", 1.5])),
               "date": _pool_date(c)}, ("asset", "date")),
           ("ferrofactor.panel.Panel.plot", lambda c: {
               "which": st.just("panel"), "fields": st.sampled_from([None, ["returns"], ["nope"], "returns", [], [3], ["industry"]])},
            ("fields",)),
           ("ferrofactor.regress.CrossSectionResult.plot", lambda c: {
               "which": _which("result", "cs"), "groups": st.sampled_from([None, ["styles"], "styles", ["nope"], 3, []]),
               "max_lines": K.integer(c, 1, 20)}, ("groups",)),
           ("ferrofactor.regress.FamaMacBethResult.plot", lambda c: {
               "which": _which("fmb", "fmb_result"), "annualize": K.boolean(c)}, ()),
           ("ferrofactor.risk.model.RiskModel.plot", lambda c: {
               "which": st.just("risk"), "groups": st.sampled_from([None, ["styles"], "market", ["nope"], 3]),
               "max_lines": K.integer(c, 1, 20)}, ("groups",)),
           ("ferrofactor.risk.products.RiskDecomposition.plot", lambda c: {
               "which": st.just("decomposition"), "top": K.integer(c, 1, 20)}, ()),
           ("ferrofactor.optimize.OptimizationResult.plot", lambda c: {
               "which": st.just("optimization"), "title": st.sampled_from([None, "t", 3])}, ("title",)),
       )},
    "ferrofactor.plotting.have_matplotlib": Spec(_plotting.have_matplotlib, lambda c: {}, extreme=False),
    "ferrofactor.config.validate": Spec(_config.validate, lambda c: {
        "raw": _config_raw(c), "path": st.sampled_from([None, "x.toml", 3]), "base": st.sampled_from([".", "/nonexistent", 3]),
        "check_data": K.boolean(c), "require_data": K.boolean(c)}, aliases=("raw", "config", "model", "risk", "data", "backtest")),
    "ferrofactor.config.default_config": Spec(lambda p: lambda **kw: _config.default_config(**kw.get("overrides", {})), lambda c: {
        "overrides": _config_raw(c).filter(lambda r: isinstance(r, dict))}, bound=True, aliases=("overrides", "config", "model", "risk", "data", "backtest"), extreme=False),
    "ferrofactor.config.load_config": Spec(_config.load_config, lambda c: {
        "path": st.sampled_from(["/nonexistent.toml", pool()["files"]["prices_csv"], pool()["files"]["empty_csv"], 3, None]),
        "check_data": K.boolean(c)}, aliases=("path", "config"), extreme=False),
    "ferrofactor.config.reference_toml": Spec(_config.reference_toml, lambda c: {
        "values": st.one_of(st.none(), _config_raw(c)), "header": st.sampled_from(["", "h\nx", 3])},
        aliases=("values", "header"), extreme=False),
    "ferrofactor.config.example_toml": Spec(_config.example_toml, lambda c: {}, extreme=False),
    "ferrofactor.config.Config.resolve": Spec(lambda p: _config.default_config().resolve, lambda c: {
        "p": st.sampled_from(["a.csv", "/abs/a.csv", "", 3, None])}, bound=True, dims="pool", aliases=("p",), extreme=False),
    "ferrofactor.config.Config.to_toml": Spec(lambda p: _config.default_config().to_toml, lambda c: {}, bound=True, dims="pool",
                                              extreme=False),
    "ferrofactor.report.html_table": Spec(_report.html_table, lambda c: {
        "df": st.one_of(_wide(c, c.N), st.just(pl.DataFrame({"a": ["<b>", None], "b": [1.5, float("nan")]})), st.just(pl.DataFrame()),
                        K.hostile_scalar()),
        "caption": st.sampled_from(["", "<i>c</i>", 3]), "formats": st.sampled_from([None, {"a0": ".2f"}, {"a0": "%"}, {"a0": "bogus"}, 3]),
        "table_id": st.sampled_from(["", "t", 3]), "max_rows": K.integer(c, 0, 5, optional=True)},
        aliases=("df", "formats", "caption", "table_id")),
})

SKIPPED.update({
    "ferrofactor.plotting": "figure helpers whose argument is a result object; fuzzed through every result's .plot method "
                            "(Panel, Exposures, CrossSectionResult/FactorModelResult, FamaMacBethResult, RiskModel, "
                            "RiskDecomposition, OptimizationResult, backtests, signal evaluation) with bad arguments",
    "ferrofactor.cli": "the console script; its options become a Config (config.validate, fuzzed) and library calls (fuzzed)",
    "ferrofactor.bench": "the benchmark runner (timings, full-size panels), not an input-handling API",
    "ferrofactor.pipeline": "the staged run of a validated Config (config.validate / load_config fuzzed; each stage calls "
                            "fuzzed library functions); Book, Reporter, RunResult, Skip, StageError, StageRecord and "
                            "StageRunner are its machinery",
    "ferrofactor.report.outputs": "takes a pipeline RunResult (pipeline skipped above)",
    "ferrofactor.report.write_report": "takes a pipeline RunResult (pipeline skipped above)",
    "ferrofactor.config.Config": "constructed by validate / load_config / default_config (fuzzed); its methods are fuzzed",
    "ferrofactor.config.ConfigError": "an exception class",
    "ferrofactor.config.Setting": "a schema record",
})


#: slow callables (Dask graphs, matplotlib figures, a whole evaluation): fewer examples each
SLOW = tuple(k for k in SPECS if k.startswith("ferrofactor.dask.") or ".plot" in k)


# ---------------------------------------------------------------------------------------------
# Discovery
# ---------------------------------------------------------------------------------------------


def _public_modules() -> list[Any]:
    mods = [ff]
    for m in pkgutil.walk_packages(ff.__path__, "ferrofactor."):
        if any(part.startswith("_") for part in m.name.split(".")[1:]):
            continue
        try:
            mods.append(importlib.import_module(m.name))
        except ImportError:  # an optional extra that is not installed
            continue
    return mods


def public_callables() -> dict[str, Any]:
    """Qualified name → object for every public function, class and public method of a public
    class, from ``__all__`` (modules without ``__all__`` that ``ferrofactor.__all__`` exports:
    their public functions)."""
    found: dict[str, Any] = {}
    exported_modules = {getattr(ff, n) for n in ff.__all__ if inspect.ismodule(getattr(ff, n))}
    for mod in _public_modules():
        names = getattr(mod, "__all__", None)
        if names is None:
            if mod not in exported_modules:
                continue
            names = [n for n, v in vars(mod).items() if not n.startswith("_") and callable(v)
                     and getattr(v, "__module__", "") == mod.__name__]
        for n in names:
            obj = getattr(mod, n)
            if inspect.ismodule(obj) or not callable(obj):
                continue
            key = f"{obj.__module__}.{obj.__qualname__}"
            if not key.startswith("ferrofactor"):
                continue
            found[key] = obj
            if inspect.isclass(obj):
                for mn, mv in inspect.getmembers(obj):
                    if mn.startswith("_") or not (inspect.isfunction(mv) or inspect.ismethod(mv)):
                        continue
                    func = getattr(mv, "__func__", mv)
                    mkey = f"{func.__module__}.{func.__qualname__}"
                    if mkey.startswith("ferrofactor"):
                        found[mkey] = mv
    return found


def _covered(key: str) -> bool:
    return key in SPECS or key in SKIPPED or any(key.startswith(s + ".") for s in SKIPPED)


def test_every_public_callable_is_covered():
    missing = sorted(k for k in public_callables() if not _covered(k))
    assert not missing, (
        "public callables without a fuzz spec (add one to SPECS in tests/test_fuzz.py, or a "
        f"reason to SKIPPED): {missing}"
    )
    stale = sorted(k for k in SPECS if k not in public_callables())
    assert not stale, f"SPECS for callables that are no longer public: {stale}"


# ---------------------------------------------------------------------------------------------
# Running one case
# ---------------------------------------------------------------------------------------------

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _names_argument(msg: str, names: set[str]) -> bool:
    words = set(_WORD.findall(msg))
    return bool(words & names)


def _arrays(out: Any, prefix: str = "result", depth: int = 0):
    """(name, ndarray) pairs of every float array a result holds (tuples, dicts, Panels,
    Exposures and Result objects are walked)."""
    if depth > 3:
        return
    if isinstance(out, np.ndarray):
        if out.dtype.kind == "f":
            yield prefix, out
    elif isinstance(out, (np.floating, float)):
        yield prefix, np.asarray(out)
    elif isinstance(out, tuple):
        for i, v in enumerate(out):
            yield from _arrays(v, f"{prefix}[{i}]", depth + 1)
    elif isinstance(out, dict):
        for k, v in out.items():
            yield from _arrays(v, f"[{k!r}]" if depth == 0 else f"{prefix}[{k!r}]", depth + 1)
    elif isinstance(out, ff.Panel):
        for k in out.float_fields:
            yield f"[{k}]", out[k]
    elif isinstance(out, Result):
        for k in type(out)._arrays:
            try:
                v = getattr(out, k)
            except ValueError:  # an unfitted estimator
                return
            if isinstance(v, np.ndarray) and v.dtype.kind == "f":
                yield k, v


def _exercise(out: Any) -> None:
    """A returned result must summarise and convert (NaN-heavy results included)."""
    if isinstance(out, Result):
        fitted = not isinstance(out, ff.RiskModel) or out._fitted
        if fitted:
            str(out.summary())
            out.to_polars()
    if isinstance(out, ff.Panel):
        out.to_polars()


def _state(obj: Any) -> dict[str, Any]:
    return {k: v for k, v in vars(obj).items()}


def run_case(key: str, spec: Spec, kwargs: dict[str, Any], ctx: K.Ctx) -> None:
    COUNT["cases"] += 1
    fn = spec.fn(pool()) if spec.bound else spec.fn
    owner = getattr(fn, "__self__", None) if spec.estimator else None
    before = _state(owner) if owner is not None else None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = fn(**kwargs)
    except (ValueError, TypeError) as e:
        COUNT["errors"] += 1
        allowed = set(kwargs) | _all_params(key, spec) | set(spec.aliases)
        values = [v for v in kwargs.values() if isinstance(v, str) and len(v) > 2]
        values += [v[0] for v in kwargs.values() if isinstance(v, tuple) and v and isinstance(v[0], str)]
        assert _names_argument(str(e), allowed) or any(v in str(e) for v in values), (
            f"{key}: {type(e).__name__} does not name an argument ({sorted(kwargs)}): {e}"
        )
        if owner is not None:
            after = _state(owner)
            changed = [k for k in before if after.get(k) is not before[k]]
            assert not changed, f"{key} raised but changed {changed} of its object (fits are atomic)"
        return
    except KeyError as e:
        if key.endswith((".labels", ".style")):  # mapping-style lookups document KeyError
            COUNT["errors"] += 1
            return
        raise AssertionError(f"{key} raised KeyError: {e}") from e
    except FileNotFoundError as e:
        COUNT["errors"] += 1
        assert _names_argument(str(e), set(kwargs) | set(spec.aliases)) or "/" in str(e), str(e)
        return
    finally:
        if key.endswith("set_num_threads"):
            ff.set_num_threads(0)
    COUNT["results"] += 1
    _check_types_accepted(key, kwargs, ctx)
    if spec.out is not None:
        spec.out(out, ctx, kwargs)
    if not ctx.inf_given:
        for name, arr in _arrays(out):
            if name in spec.inf_ok or (ctx.max_abs >= K.HUGE and (name in spec.inf_if_huge or ANY in spec.inf_if_huge)) \
                    or (ctx.max_abs >= 1e306 and name in spec.inf_if_max):
                continue
            assert not np.isinf(arr).any(), (
                f"{key}: output {name} holds ±inf although no infinite value was given "
                f"(largest |input| {ctx.max_abs:.3g})"
            )
    _exercise(out)


@functools.lru_cache(maxsize=None)
def _optional_params(key: str, spec: Spec) -> frozenset[str]:
    """Parameters with a default (or taken by ``**settings``): sometimes left out."""
    fn = spec.fn(pool()) if spec.bound else spec.fn
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):  # a builtin without a signature
        return frozenset()
    names = {n for n, p in sig.parameters.items() if p.default is not inspect.Parameter.empty}
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in sig.parameters.values()):
        names |= set(spec.params(K.Ctx(1, 1, 1))) - set(sig.parameters)
    return frozenset(names)


@functools.lru_cache(maxsize=None)
def _all_params(key: str, spec: Spec) -> frozenset[str]:
    """Every parameter name of the callable (an error may name one that was left at its
    default, e.g. "cap is required for weights='sqrt_cap'")."""
    fn = spec.fn(pool()) if spec.bound else spec.fn
    try:
        return frozenset(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return frozenset()


_DIMS = st.tuples(st.sampled_from([0, 1, 2, 3, 4, 6, 9]), st.sampled_from([0, 1, 2, 3, 5, 8]),
                  st.sampled_from([0, 1, 2, 3]))


def _check_types_accepted(key: str, kwargs: dict[str, Any], ctx: K.Ctx) -> None:
    """A call that succeeded must not have taken a non-boolean flag or a non-integer count
    (issue 10, family 3: "False" read as True, 2.5 truncated to 2)."""
    import numbers

    for name, kind in ctx.notes.get("typed", {}).items():
        if name not in kwargs:
            continue
        v = kwargs[name]
        if kind == "bool":
            assert isinstance(v, (bool, np.bool_)), f"{key} accepted {name}={v!r} as a flag"
        elif not (kind == "int?" and v is None):
            assert isinstance(v, numbers.Integral) and not isinstance(v, (bool, np.bool_)), (
                f"{key} accepted {name}={v!r} as an integer")


_WRONG_TYPES = {"bool": ["False", "True", 0, 1, None, 1.0, np.float64(0.0)],
                "int": [2.0, 2.5, "2", True, None, np.float64(3.0), float("nan")],
                "int?": [2.0, 2.5, "2", True, np.float64(3.0), float("nan")]}


def _draw_case(data, key: str, spec: Spec, extreme: bool, force_typed: bool = False) -> tuple[dict[str, Any], K.Ctx]:
    if spec.dims == "pool":
        T, N, Kd = pool_dims()
    else:
        T, N, Kd = data.draw(_DIMS, label="dims")
    ctx = K.Ctx(T, N, Kd, extreme_ints=extreme)
    strategies = spec.params(ctx)
    optional = _optional_params(key, spec)
    kwargs = {}
    for name, strat in strategies.items():
        if name in optional and name not in spec.always and data.draw(st.integers(0, 9), label=f"use {name}") == 0:
            continue  # leave it at its default now and then
        kwargs[name] = data.draw(strat, label=name)
        ctx.saw(kwargs[name])
        kind = K.typed_kind(ctx, strat)
        if kind is not None:
            ctx.notes.setdefault("typed", {})[name] = kind
    if force_typed:
        typed = {n: K.typed_kind(ctx, s) for n, s in strategies.items() if K.typed_kind(ctx, s)}
        name = data.draw(st.sampled_from(sorted(typed)), label="wrongly typed")
        kwargs[name] = data.draw(st.sampled_from(_WRONG_TYPES[typed[name]]), label=f"{name} (wrong type)")
        ctx.notes.setdefault("typed", {})[name] = typed[name]
    return kwargs, ctx


@pytest.mark.parametrize("key", sorted(k for k in SPECS if k not in SLOW))
@FUZZ
@given(data=st.data())
def test_fuzz(key, data):
    spec = SPECS[key]
    kwargs, ctx = _draw_case(data, key, spec, extreme=False)
    run_case(key, spec, kwargs, ctx)


@pytest.mark.parametrize("key", sorted(SLOW))
@FUZZ_SLOW
@given(data=st.data())
def test_fuzz_slow(key, data):
    """Dask wrappers (a graph per case) and matplotlib figures: fewer examples each."""
    spec = SPECS[key]
    kwargs, ctx = _draw_case(data, key, spec, extreme=False)
    run_case(key, spec, kwargs, ctx)


def _typed_keys() -> list[str]:
    keys = []
    for k, spec in SPECS.items():
        ctx = K.Ctx(2, 2, 1)
        params = spec.params(ctx)
        if any(K.typed_kind(ctx, s) for s in params.values()):
            keys.append(k)
    return sorted(keys)


@pytest.mark.parametrize("key", _typed_keys())
@FUZZ_TYPED
@given(data=st.data())
def test_fuzz_typed_settings(key, data):
    """Issue 10, family 3, for every flag and count at once: one boolean flag or integer
    setting is given a value of the wrong type ("False", 1, None, 2.5, 2.0, "2", True) and the
    call must refuse it (``_check_types_accepted`` fails a call that succeeds)."""
    spec = SPECS[key]
    kwargs, ctx = _draw_case(data, key, spec, extreme=False, force_typed=True)
    run_case(key, spec, kwargs, ctx)


@pytest.mark.skipif(not CHILD, reason="runs in the address-space-limited child (test_extreme_integers_in_a_limited_child)")
@pytest.mark.parametrize("key", sorted(k for k, s in SPECS.items() if s.extreme))
@FUZZ
@given(data=st.data())
def test_fuzz_extreme_integers(key, data):
    spec = SPECS[key]
    kwargs, ctx = _draw_case(data, key, spec, extreme=True)
    run_case(key, spec, kwargs, ctx)


def _limit_address_space() -> None:
    """Child process: cap the address space at what it uses after start-up + 3 GiB, so a huge
    allocation fails (numpy: MemoryError; Rust: abort) instead of taking the machine."""
    with open("/proc/self/status") as f:
        vm = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:"))
    limit = vm + 3 * 2**30
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


if CHILD:
    pool()  # built before the limit
    _limit_address_space()


@pytest.mark.skipif(CHILD or not sys.platform.startswith("linux"), reason="the parent starts the child (Linux)")
def test_extreme_integers_in_a_limited_child():
    """Integer settings up to 2**80 for every callable that takes one, in a child pytest under
    RLIMIT_AS and a timeout: an abort, a hang or a MemoryError fails this test (with the child's
    output) instead of killing the run."""
    env = dict(os.environ, FERROFACTOR_FUZZ_CHILD="1", RAYON_NUM_THREADS="2")
    cmd = [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", "-p", "no:warnings",
           "--tb=short", f"{__file__}::test_fuzz_extreme_integers"]
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600,
                              cwd=os.path.dirname(os.path.dirname(__file__)))
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"the child timed out (a hang?): {str(e.stdout)[-3000:]}")
    tail = (proc.stdout + proc.stderr)[-6000:]
    assert proc.returncode == 0, f"child exited with {proc.returncode} (negative = killed by a signal):\n{tail}"
    m = re.search(r"FUZZ CASES (\d+)", proc.stdout)
    if m:
        COUNT["cases"] += int(m.group(1))


def pytest_sessionfinish_report() -> str:
    return f"FUZZ CASES {COUNT['cases']} (errors {COUNT['errors']}, results {COUNT['results']})"


@pytest.fixture(scope="module", autouse=True)
def _report_count():
    yield
    line = pytest_sessionfinish_report()
    print("\n" + line)
    path = os.environ.get("FERROFACTOR_FUZZ_COUNT_FILE")
    if path:
        with open(path, "a") as f:
            f.write(line + ("  [child]" if CHILD else "") + "\n")
