"""The pipeline from the user's files: Parquet and CSV → read_universe → exposures → factor model
→ risk model from the result alone; every result's long frame joins back to the input frame on
(date, asset) with no row lost."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

import ferrofactor as ff


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("sample")
    paths = ff.datasets.write_sample(d, n_assets=150, n_days=320, seed=5)
    # the same prices as CSV, the way a user's export looks
    csv = d / "prices.csv"
    pl.read_parquet(paths["prices"]).write_csv(csv)
    return paths, csv


def _pipeline(prices, paths):
    panel = ff.read_universe(prices, paths["fundamentals"], paths["classifications"])
    ex = ff.Exposures.from_panel(panel)
    result = ff.FactorModel().fit(panel, ex)
    risk = ff.RiskModel.from_factor_model(result)
    return panel, ex, result, risk


def test_parquet_and_csv_give_the_same_pipeline(files):
    paths, csv = files
    p1, e1, r1, k1 = _pipeline(paths["prices"], paths)
    p2, e2, r2, k2 = _pipeline(str(csv), paths)
    np.testing.assert_array_equal(p1.dates, p2.dates)
    np.testing.assert_array_equal(p1.assets, p2.assets)
    np.testing.assert_array_equal(r1.factor_returns, r2.factor_returns)
    np.testing.assert_array_equal(k1.specific_variance, k2.specific_variance)
    # the pipeline is the in-memory one on the same universe
    mem = ff.datasets.synthetic_universe(n_assets=150, n_days=320, seed=5)
    assert r1.factor_names == ["market", *mem.labels("industry").tolist(), "value", "momentum",
                               "quality", "low_vol"]


def test_every_long_frame_joins_back_to_the_input_frame(files):
    paths, _ = files
    panel, ex, result, risk = _pipeline(paths["prices"], paths)
    prices = pl.read_parquet(paths["prices"]).select("date", "asset")
    # the results cover every (date, asset) cell of the panel, so every input row finds its cell
    for frame in (
        ex.to_polars(),
        result.to_polars("residuals", form="long"),
        risk.to_polars("specific_risk", form="long"),
    ):
        assert frame.schema["date"] == pl.Date and frame.schema["asset"] == pl.String
        joined = prices.join(frame, on=["date", "asset"], how="left")
        assert joined.height == prices.height
        matched = prices.join(frame, on=["date", "asset"], how="semi")
        assert matched.height == prices.height  # no input row lost
        assert frame.height == len(panel.dates) * len(panel.assets)
    # factor-level frames carry the dates and factor names
    wide = result.to_polars()
    assert wide["date"].to_list() == panel.dates.astype("datetime64[D]").tolist()
    long = result.to_polars("factor_returns", form="long")
    assert long.columns == ["date", "factor", "factor_returns"]
    assert set(long["factor"].unique().to_list()) == set(result.factor_names)


def test_risk_model_needs_nothing_but_the_result(files):
    paths, _ = files
    panel, ex, result, risk = _pipeline(paths["prices"], paths)
    assert risk.exposures is ex and risk.factor_names == result.factor_names
    np.testing.assert_array_equal(risk.dates, panel.dates)
    w = np.where(risk.covered(-1), 1.0, 0.0)
    w /= w.sum()
    vol = risk.portfolio_risk(w, date=panel.dates[-1], annualize=True)
    assert 0.02 < vol < 1.0
