"""Every public result class follows the one result protocol (generated over the classes).

The classes are discovered from ``ferrofactor.results.Result``'s subclasses, not hand-listed; the
pipeline below must produce an instance of each, so a new result class without an instance here
fails the test. For each instance: its labelled arrays are read-only numpy arrays (and cannot be
reassigned), every kind converts to a Polars frame long and wide (long: one column per axis plus
the value columns, one row per cell), and ``summary()`` is a ``Summary`` with text and HTML.
"""

from __future__ import annotations

import copy
import importlib
import pickle
import pkgutil

import numpy as np
import polars as pl
import pytest

import ferrofactor as ff
from ferrofactor.results import Result, Summary


def _all_result_classes():
    for m in pkgutil.walk_packages(ff.__path__, "ferrofactor."):
        if m.name.split(".")[-1].startswith("_") or m.name.endswith(".cli"):
            continue
        try:
            importlib.import_module(m.name)
        except ImportError:  # an optional extra that is not installed
            continue
    seen, stack = set(), [Result]
    while stack:
        cls = stack.pop()
        for sub in cls.__subclasses__():
            if sub not in seen and not sub.__name__.startswith("_"):
                seen.add(sub)
                stack.append(sub)
    return sorted(seen, key=lambda c: c.__name__)


CLASSES = _all_result_classes()


@pytest.fixture(scope="module")
def instances():
    panel = ff.datasets.synthetic_universe(n_assets=120, n_days=300, seed=11)
    ex = ff.Exposures.from_panel(panel)
    res = ff.FactorModel().fit(panel, ex)
    risk = ff.RiskModel.from_factor_model(res)
    d = -2
    w = np.where(risk.covered(d), 1.0, 0.0)
    w /= w.sum()
    rng = np.random.default_rng(0)
    out = [
        ex,
        res,
        res.fama_macbeth(),
        ff.fama_macbeth(panel["returns"][1:], ex.styles[:-1]),
        ff.cross_section_regress(panel["returns"], ex.styles, dates=panel.dates, assets=panel.assets),
        risk,
        risk.risk_decomposition(w, date=d),
        ff.evaluate.bias_statistic(rng.normal(size=(50, 3)), np.ones((50, 3))),
        ff.evaluate.bias_test(risk, panel, rng.random((3, 120)), dates=np.arange(250, 290)),
        ff.evaluate.minimum_variance_test(risk, panel, every=10),
        ff.evaluate.residual_correlation(res),
        ff.momentum_selection(panel, window=126, min_dollar_volume=0.0),
        ff.backtest(panel, ff.strategies.Quantile(ex.styles[:, :, 0], 5, books=["long_short"])),
        ff.backtest_many(panel, ff.strategies.Quantile(ex.styles[:, :, 0], 3), rebalance="weekly"),
        ff.time_series_regress(panel["returns"][:, :5], res.factor_returns[:, :2], cov="hac", lags=3),
        ff.alpha_test(rng.normal(size=(300, 2)) * 0.01, {"two": res.factor_returns[:, [0, -1]]}),
        ff.attribute(np.where(np.isfinite(panel["returns"]), 1.0 / 120, 0.0), res),
        ff.metrics.summary(rng.normal(size=(300, 2)) * 0.01, dates=panel.dates, benchmark=rng.normal(size=300) * 0.01),
        ff.evaluate.evaluate(ex.styles[:, :, 0], residual=res, horizons=(1, 5)),
        ff.evaluate.quantile_returns(ex.styles[:, :, 0], panel, 5, horizons=(1, 5)),
        ff.optimize(np.where(risk.covered(d), rng.normal(0, 1e-3, 120), np.nan), risk, date=d,
                    benchmark=w, max_weight=0.05),
    ]
    return {type(o): o for o in out}


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_result_class_follows_the_protocol(cls, instances):
    assert cls in instances, f"no instance of {cls.__name__} in the protocol test: add one"
    obj = instances[cls]
    assert obj._arrays, f"{cls.__name__} declares no labelled arrays"
    for name, axes in obj._arrays.items():
        arr = getattr(obj, name)
        if arr is None:
            continue
        assert isinstance(arr, np.ndarray), (cls.__name__, name)
        assert arr.ndim == len(axes) or np.ndim(arr) == 0, (cls.__name__, name, arr.shape, axes)
        if arr.size:
            with pytest.raises(ValueError):
                arr.flat[0] = 0  # read-only
        with pytest.raises(AttributeError):
            setattr(obj, name, arr)  # properties cannot be reassigned
    for kind in obj.kinds:
        if kind in obj._arrays and getattr(obj, kind) is None:
            continue
        long = obj.to_polars(kind, form="long")
        wide = obj.to_polars(kind, form="wide")
        assert isinstance(long, pl.DataFrame) and isinstance(wide, pl.DataFrame)
        if kind in obj._arrays and np.ndim(getattr(obj, kind)) > 0:
            arr = np.asarray(getattr(obj, kind))
            assert long.height == arr.size, (cls.__name__, kind)
    s = obj.summary()
    assert isinstance(s, Summary)
    assert len(str(s)) > 40 and s._repr_html_().startswith("<div")
    assert obj._repr_html_() == s._repr_html_()


def _assert_read_only(label, arr):
    if isinstance(arr, np.ndarray) and arr.size:
        with pytest.raises(ValueError, match="read-only"):
            arr.flat[0] = arr.flat[0]
        assert not arr.flags.writeable, label


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_labels_are_read_only(cls, instances):
    # dates and assets are shared with the panel and every result built on it: writing into one
    # (e.g. ``names = result.assets; names.sort()``) relabelled them all
    obj = instances[cls]
    for name in ("dates", "assets"):
        _assert_read_only((cls.__name__, name), getattr(obj, name, None))


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_pickle_and_deepcopy_keep_the_protocol(cls, instances):
    # numpy rebuilds arrays writeable when unpickling or deep-copying: a pickled result came back
    # with writeable arrays (res.factor_returns[0] = 0 then changed its frames, not its summary)
    obj = instances[cls]
    for how, other in (("pickle", pickle.loads(pickle.dumps(obj))), ("deepcopy", copy.deepcopy(obj))):
        assert type(other) is cls
        for name in list(obj._arrays) + ["dates", "assets"]:
            _assert_read_only((cls.__name__, how, name), getattr(other, name, None))
        assert str(other.summary()) == str(obj.summary()), (cls.__name__, how)
        for kind in obj.kinds:
            if kind in obj._arrays and getattr(obj, kind) is None:
                continue
            assert other.to_polars(kind, form="long").equals(obj.to_polars(kind, form="long")), (cls.__name__, how, kind)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_repr_is_short_and_informative(cls, instances):
    # nine result classes printed as <ferrofactor....BacktestResult object at 0x7f...>
    r = repr(instances[cls])
    assert r.startswith(f"{cls.__name__}(") and "object at 0x" not in r and len(r) < 1000, r
    # no numpy repr inside ("np.float64(...)", "np.datetime64('2024-01-02')": RiskDecomposition's date)
    assert "np." not in r and "array(" not in r, r


def test_long_frames_join_back_on_date_and_asset(instances):
    res = instances[ff.FactorModelResult]
    ex = instances[ff.Exposures]
    frame = ex.to_polars()  # the exposures of every (date, asset)
    for kind in ("residuals",):
        long = res.to_polars(kind, form="long")
        joined = long.join(frame, on=["date", "asset"], how="inner")
        assert joined.height == long.height  # no row lost


def test_repr_stays_short_with_many_factors():
    # with GICS-sized industries (60 here) FactorModelResult listed every factor name (1060
    # characters) and FamaMacBethResult every estimate and an array of dates used (1932)
    panel = ff.datasets.synthetic_universe(n_assets=200, n_days=40, n_industries=60, seed=1)
    res = ff.FactorModel().fit(panel, ff.Exposures.from_panel(panel))
    P = len(res.factor_names)
    for obj in (res, res.fama_macbeth()):
        r = repr(obj)
        assert len(r) < 300 and f"({P})" in r and "'market'" in r and "'low_vol'" in r, r
    assert repr(res.fama_macbeth()).endswith(f"n_periods={int(np.min(res.n_dates_estimated))}.."
                                              f"{int(np.max(res.n_dates_estimated))})")
    few = ff.fama_macbeth(np.arange(40.0).reshape(8, 5) % 3, np.arange(80.0).reshape(8, 5, 2) ** 0.5 % 1)
    assert repr(few).startswith("FamaMacBethResult(params={'const': ") and repr(few).endswith("n_periods=8)")
