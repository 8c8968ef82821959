"""The pipeline's own helpers (the stages are the library's calls, tested in their modules and end
to end in test_cli.py): the load stage's check for dates with hardly any prices."""

from __future__ import annotations

import ferrofactor as ff
import numpy as np
import polars as pl
import pytest
from ferrofactor.pipeline import SPARSE_SHARE, sparse_dates, sparse_dates_note

nan = np.nan


def _prices(counts, n=20):
    """(T, n) prices with ``counts[t]`` assets priced on row t (the first ones)."""
    px = np.full((len(counts), n), nan)
    for t, c in enumerate(counts):
        px[t, :c] = 10.0
    return px


def test_sparse_dates_hand_worked():
    days = np.array(["2016-06-02", "2016-06-03", "2016-06-04", "2016-06-06", "2016-06-07"], dtype="datetime64[D]")
    # median of [20, 20, 1, 20, 2] is 20: 1 and 2 assets are below 10 % of it (2), 2 is not below 2
    d, n, med = sparse_dates(_prices([20, 20, 1, 20, 2]), days)
    assert med == 20.0 and d.tolist() == [days[2]] and n.tolist() == [1]
    d, n, _ = sparse_dates(_prices([20, 20, 1, 20, 1]), days)
    assert d.tolist() == [days[2], days[4]] and n.tolist() == [1, 1]
    # a date with no price at all (a row of nulls) counts too; the threshold is a setting
    d, n, _ = sparse_dates(_prices([20, 20, 0, 20, 15]), days, share=0.8)
    assert d.tolist() == [days[2], days[4]] and n.tolist() == [0, 15]
    assert SPARSE_SHARE == 0.1
    # nothing to report: empty
    d, n, med = sparse_dates(_prices([20, 19, 18]), days[:3])
    assert d.size == 0 and n.size == 0 and med == 19.0


def test_sparse_dates_bad_input():
    with pytest.raises(ValueError, match=r"dates must have shape \(3,\)"):
        sparse_dates(_prices([1, 2, 3]), np.arange(4))
    for share in (0, 1.5, -0.1, True, "0.1"):
        with pytest.raises(ValueError, match="share must be a number in"):
            sparse_dates(_prices([1, 2, 3]), np.arange(3), share=share)


def test_the_load_notes_words():
    days = np.array(["2016-06-03", "2016-06-04", "2016-06-06", "2016-06-11", "2016-06-13"], dtype="datetime64[D]")
    assets = [f"A{j:02d}" for j in range(20)]
    one = ff.Panel(days, assets, {"close": _prices([20, 1, 20, 20, 20])})
    assert sparse_dates_note(one, "close") == (
        "1 date has prices for fewer than 10 % of the median 20 assets (2016-06-04: 1): a non-trading day in "
        "the data? it splits the returns around it")
    two = ff.Panel(days, assets, {"close": _prices([20, 1, 20, 0, 20])})
    assert sparse_dates_note(two, "close") == (
        "2 dates have prices for fewer than 10 % of the median 20 assets (2016-06-04: 1, 2016-06-11: 0): "
        "non-trading days in the data? they split the returns around them")
    # at most five listed
    many = ff.Panel(np.arange(13).astype("datetime64[D]"), assets, {"close": _prices([20] * 7 + [1] * 6)})
    assert sparse_dates_note(many, "close").startswith(
        "6 dates have prices for fewer than 10 % of the median 20 assets (1970-01-08: 1, 1970-01-09: 1, "
        "1970-01-10: 1, 1970-01-11: 1, 1970-01-12: 1, ... (1 more)): ")
    # ordinary data, or no such field: nothing to say
    assert sparse_dates_note(ff.Panel(days, assets, {"close": _prices([20, 18, 20, 3, 20])}), "close") == ""
    assert sparse_dates_note(one, "adj_close") == ""


def test_flat_dates_hand_worked():
    from ferrofactor.pipeline import flat_dates

    sig = np.array([[0.0, 0.0, nan, 0.0],           # every style filled with 0
                    [1e-17, -8e-17, 0.0, nan],      # ... up to the rounding of an industry-mean fill
                    [0.3, -0.3, 0.0, 0.1],
                    [nan, nan, nan, nan],           # no value: NaN already, not "flat"
                    [2.0, nan, nan, nan]])          # one asset: nothing to rank
    assert flat_dates(sig).tolist() == [True, True, False, False, True]


DATA = '[data]\nprices = "s/prices.parquet"\nclassifications = "s/classifications.parquet"\n'


def _sample(tmp_path, n_days=320):
    """The sample universe (40 assets, seed 3) written in ``tmp_path / "s"``: its paths."""
    return ff.datasets.write_sample(tmp_path / "s", n_assets=40, n_days=n_days, seed=3)


def _config(tmp_path, text):
    """``tmp_path / "c.toml"``: the sample's prices and classifications, then ``text``."""
    (tmp_path / "c.toml").write_text(DATA + text)


def test_a_signal_without_dispersion_is_no_signal_and_no_book_trades_on_it(tmp_path):
    """A style with no descriptor yet on a date (12-1 momentum in the data's first year) is
    filled with 0 for every asset: the composite was then the same for every asset, and the
    backtest's books, ranking ties by position, bought the last assets by name and sold the
    first ones for months; the performance table (from the first rebalance on) and the
    attribution counted those months, and an IC was computed from the rounding noise of a
    fill. Such dates now have no signal: the books start when the signal ranks something."""
    from ferrofactor.config import load_config
    from ferrofactor.pipeline import run_pipeline

    _sample(tmp_path)
    _config(tmp_path, (
        "[exposures.styles]\nmomentum = {momentum_12_1 = 1.0}\n"
        "[validation]\nportfolios = 0\nminimum_variance = false\n[signal]\nevaluate = false\n"
        "[portfolio]\noptimize = false\n[report]\nplots = false\n"))
    res = run_pipeline(load_config(tmp_path / "c.toml"))
    mom = np.asarray(ff.compute_descriptors(res.panel)["momentum_12_1"])
    first = int(np.flatnonzero(np.isfinite(mom).sum(axis=1) >= 2)[0])  # the first date momentum ranks
    assert first > 150
    assert np.isnan(res.signal[:first]).all()
    assert np.isfinite(res.signal[first]).sum() >= 2
    for name in res.backtest.books:
        held = np.flatnonzero(np.abs(np.asarray(res.backtest[name].weights_after)).sum(axis=1) > 0)
        assert held[0] >= first, name
    note = next(s.note for s in res.stages if s.name == "signal")
    assert note.startswith(f"Σ 1·momentum; no signal on {first} dates where it is the same for every asset")


def test_a_portfolio_date_without_a_signal_says_the_quantile_book_is_skipped(tmp_path):
    """On a date where the signal ranks nothing (before the styles have values) the long-short
    quantile portfolio holds nothing: it was left out of the report without a word."""
    from ferrofactor.config import load_config
    from ferrofactor.pipeline import run_pipeline

    paths = _sample(tmp_path)
    day = pl.read_parquet(paths["prices"])["date"].unique().sort()[100]
    _config(tmp_path, (
        "[exposures.styles]\nmomentum = {momentum_12_1 = 1.0}\n"
        "[validation]\nportfolios = 0\nminimum_variance = false\n[signal]\nevaluate = false\n"
        f'[portfolio]\noptimize = false\ndate = "{day}"\n[backtest]\nenabled = false\n[report]\nplots = false\n'))
    res = run_pipeline(load_config(tmp_path / "c.toml"))
    assert "quantile" not in res.books and "market" in res.books
    why = dict(res.skipped)["quantile portfolio"]
    assert why.startswith(f"the signal ranks 0 of the assets the risk model covers on {day}: no long-short book")
    note = next(s.note for s in res.stages if s.name == "portfolios")
    assert "; quantile portfolio skipped: the signal ranks 0 of the assets" in note


def test_the_descriptors_of_a_study_look_back_before_data_start(tmp_path):
    """data.start cut the panel before the descriptors were computed, so a study starting a
    year into the data had no 12-1 momentum (nor volatility, beta) for its first year: every
    asset's exposure was the fill, 0, as if no price before data.start had been known. The
    exposures are now those of the whole history up to data.end, on the study's dates."""
    from ferrofactor.config import load_config
    from ferrofactor.pipeline import run_pipeline

    paths = _sample(tmp_path, n_days=400)
    dates = pl.read_parquet(paths["prices"])["date"].unique().sort()
    start, end = dates[260], dates[380]
    (tmp_path / "c.toml").write_text(
        f'[data]\nprices = "s/prices.parquet"\nfundamentals = "s/fundamentals.parquet"\n'
        f'classifications = "s/classifications.parquet"\nstart = "{start}"\nend = "{end}"\n'
        "[validation]\nportfolios = 0\nminimum_variance = false\n[signal]\nevaluate = false\n"
        "[portfolio]\noptimize = false\n[backtest]\nenabled = false\n[report]\nplots = false\n")
    res = run_pipeline(load_config(tmp_path / "c.toml"))
    assert str(res.panel.dates[0]) == str(start) and str(res.panel.dates[-1]) == str(end)
    full = ff.read_universe(paths["prices"], paths["fundamentals"], paths["classifications"])
    full = full.select(dates=slice(None, str(end)), assets=res.panel.assets)
    want = ff.Exposures.from_panel(full, industry="industry")
    T = res.panel.shape[0]
    np.testing.assert_array_equal(res.exposures.styles, np.asarray(want.styles)[-T:])
    np.testing.assert_array_equal(res.exposures.industry, np.asarray(want.industry)[-T:])
    assert list(res.exposures.dates) == list(res.panel.dates) and list(res.exposures.assets) == list(res.panel.assets)
    mom = np.asarray(res.exposures.styles)[0, :, res.exposures.style_names.index("momentum")]
    assert np.nanstd(mom) > 0.5  # ranked on the study's first date, not the fill
    # without data.start the study is its own history: the run is unchanged
    (tmp_path / "d.toml").write_text((tmp_path / "c.toml").read_text().replace(f'start = "{start}"\n', ""))
    whole = run_pipeline(load_config(tmp_path / "d.toml"))
    alone = ff.Exposures.from_panel(whole.panel, industry="industry")
    np.testing.assert_array_equal(whole.exposures.styles, alone.styles)
    # (the same numbers as the study's, up to the order of the sums over its other assets)
    np.testing.assert_allclose(np.asarray(whole.exposures.styles)[-T:][:, np.isin(whole.panel.assets, res.panel.assets)],
                               res.exposures.styles, rtol=1e-12, atol=1e-14)


def test_the_minimum_variance_test_runs_on_the_bias_tests_dates_with_validation_every(tmp_path):
    """validation.every thinned the bias test from validation.burn_in on (positions burn,
    burn + every, ...) but the minimum-variance test from position 0 (0, every, ...) before
    cutting it at burn: with burn_in not a multiple of every the two tests ran on different
    dates, though the pipeline documents "the same dates as the bias test"."""
    from ferrofactor.config import load_config
    from ferrofactor.evaluate import minimum_variance_test
    from ferrofactor.pipeline import run_pipeline

    _sample(tmp_path)
    _config(tmp_path, (
        "[exposures.styles]\nmomentum = {momentum_3_1 = 1.0}\n"
        "[validation]\nportfolios = 5\nburn_in = 252\nevery = 5\n[signal]\nevaluate = false\n"
        "[portfolio]\noptimize = false\n[backtest]\nenabled = false\n[report]\nplots = false\n"))
    res = run_pipeline(load_config(tmp_path / "c.toml"))
    dates = np.asarray(res.risk.dates)
    want = dates[np.arange(252, len(dates) - 1, 5)]
    np.testing.assert_array_equal(np.asarray(res.bias_test.dates), want)
    np.testing.assert_array_equal(np.asarray(res.min_var.dates), want)
    # the numbers of those dates: the library's test on every date, at the same positions
    mv = minimum_variance_test(res.risk, res.panel)
    at = np.isin(np.asarray(mv.dates), want)
    np.testing.assert_array_equal(np.asarray(res.min_var.realized), np.asarray(mv.realized)[at])
    np.testing.assert_array_equal(np.asarray(res.min_var.forecast_vol), np.asarray(mv.forecast_vol)[at])


def test_a_bias_test_with_one_date_says_so_not_that_the_risk_model_covers_nothing(tmp_path):
    """validation.every (or burn_in) leaving one forecast date to test gives no bias statistic (a
    standard deviation needs two dates); the stage's note blamed the risk model's coverage
    ("the risk model covers none of the portfolios' assets on the test dates") though it had a
    forecast for every portfolio on that date, pointing at the wrong settings."""
    from ferrofactor.config import load_config
    from ferrofactor.pipeline import run_pipeline

    _sample(tmp_path)
    _config(tmp_path, (
        "[exposures.styles]\nmomentum = {momentum_3_1 = 1.0}\n"
        "[validation]\nportfolios = 5\nburn_in = 252\nevery = 1000\nminimum_variance = false\n"
        "[signal]\nevaluate = false\n[portfolio]\noptimize = false\n[backtest]\nenabled = false\n"))
    res = run_pipeline(load_config(tmp_path / "c.toml"))
    assert len(res.bias_test.dates) == 1 and np.isfinite(np.asarray(res.bias_test.forecast_vol)).all()
    assert np.isnan(res.bias_test.bias.bias).all()
    note = next(s.note for s in res.stages if s.name == "risk validation")
    assert note == ("bias test: 1 forecast date to test, too few for a bias statistic (at least 2: "
                    "validation.burn_in = 252, validation.every = 1000, 320 dates)")


def test_a_style_named_like_an_industry_names_the_setting(tmp_path):
    """A style named like an industry of the classifications ("Energy") made two factors of one
    name: the exposures stage failed with "factor names must be unique; repeated: ['Energy']",
    naming no setting. It names exposures.styles.Energy and the way out; without the industries
    the name is free."""
    from ferrofactor.config import load_config
    from ferrofactor.pipeline import StageError, run_pipeline

    paths = _sample(tmp_path)
    name = str(pl.read_parquet(paths["classifications"])["industry"][0])
    text = (DATA + f'[exposures.styles]\n"{name}" = {{beta = 1.0}}\nmomentum = {{momentum_3_1 = 1.0}}\n'
            "[validation]\nportfolios = 0\nminimum_variance = false\n[signal]\nevaluate = false\n"
            "[portfolio]\noptimize = false\n[backtest]\nenabled = false\n")
    (tmp_path / "c.toml").write_text(text)
    with pytest.raises(StageError) as e:
        run_pipeline(load_config(tmp_path / "c.toml"))
    assert e.value.stage == "exposures"
    assert str(e.value.error) == (f"exposures.styles.{name}: {name!r} is also an industry of data.classifications "
                                  "(column 'industry'), and factor names must be unique: name the style otherwise "
                                  "(or exposures.industries = false)")
    (tmp_path / "d.toml").write_text(text.replace("[exposures.styles]\n", "[exposures]\nindustries = false\n"
                                                                          "[exposures.styles]\n"))
    res = run_pipeline(load_config(tmp_path / "d.toml"))
    assert name in res.model.factor_names


def test_an_optimised_portfolio_that_breaks_its_constraints_is_skipped(tmp_path, monkeypatch):
    """The report's optimised book was refused only when its weights were NaN; a solve whose
    weights break a constraint beyond VIOLATION_TOL (status "violated", weights kept for
    inspection) became the "Optimised long-only, max weight ..." book anyway. A result that is
    not ``ok`` is now skipped, with its status and message."""
    pytest.importorskip("cvxpy")
    import importlib

    from ferrofactor.config import load_config
    from ferrofactor.pipeline import run_pipeline

    opt_mod = importlib.import_module("ferrofactor.optimize")  # (ff.optimize is the function)
    real = opt_mod._Case.violations

    def broken(self, w):  # a solver "solution" 1e-3 over the weight cap
        return {**real(self, w), "max_weight": 1e-3}

    monkeypatch.setattr(opt_mod._Case, "violations", broken)
    _sample(tmp_path)
    _config(tmp_path, 'fundamentals = "s/fundamentals.parquet"\n[validation]\nportfolios = 0\n'
                      "minimum_variance = false\n[signal]\nevaluate = false\n[backtest]\nenabled = false\n"
                      "[report]\nplots = false\n[portfolio]\nmax_weight = 0.1\n")
    with pytest.warns(ff.OptimizationWarning, match="max_weight is violated"):
        res = run_pipeline(load_config(tmp_path / "c.toml"))
    assert "optimized" not in res.books
    why = dict(res.skipped)["optimized portfolio"]
    assert why.startswith("the solve failed: violated: CLARABEL returned 'optimal' but max_weight is violated by 0.001")
