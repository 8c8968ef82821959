"""Exposures: names, labels, codes as labels, frames, and the builder from a Panel."""

import numpy as np
import polars as pl
import pytest

import ferrofactor as ff
from ferrofactor import baseline as bl


def test_names_shapes_read_only():
    rng = np.random.default_rng(1)
    sty = rng.standard_normal((4, 3, 2))
    ind = np.array([[0, 1, -1]] * 4)
    e = ff.Exposures(sty, ind, style_names=["value", "momentum"], industry_names=["a", "b"])
    assert e.factor_names == ["market", "a", "b", "value", "momentum"]
    assert e.shape == (4, 3) and e.n_industries == 2
    assert e.industry.dtype == np.int32
    assert e.dates is None and e.assets is None
    with pytest.raises(ValueError):
        e.styles[0, 0, 0] = 1.0  # read-only
    np.testing.assert_array_equal(e.style("momentum"), sty[:, :, 1])


def test_mapping_of_styles_and_labels():
    d = np.arange("2024-01-01", 3, dtype="datetime64[D]")
    e = ff.Exposures({"value": np.ones((3, 2)), "size": np.zeros((3, 2))}, dates=d, assets=["A", "B"])
    assert e.style_names == ["value", "size"] and e.industry is None
    np.testing.assert_array_equal(e.dates, d)
    assert e.assets.tolist() == ["A", "B"]


def test_gics_codes_are_labels_not_sizes():
    # 8-digit codes: dense codes 0..G-1, the values kept as names, nothing sized by the largest
    gics = np.array([[10101010, 15101010, -1, 45102010], [45102010, 10101010, 15101010, -1]])
    e = ff.Exposures(np.zeros((2, 4, 1)), gics)
    assert e.industry_names == ["10101010", "15101010", "45102010"]
    np.testing.assert_array_equal(e.industry, [[0, 1, -1, 2], [2, 0, 1, -1]])
    # a mapping names the code values
    e2 = ff.Exposures(industry=gics, industry_names={10101010: "Energy", 15101010: "Materials",
                                                     45102010: "Software", 99: "Unused"})
    assert e2.industry_names == ["Unused", "Energy", "Materials", "Software"]
    np.testing.assert_array_equal(e2.industry, [[1, 2, -1, 3], [3, 1, 2, -1]])
    with pytest.raises(ValueError, match="without a name"):
        ff.Exposures(industry=gics, industry_names={10101010: "Energy"})


def test_to_polars_long_joins_back_and_wide():
    d = np.arange("2024-01-01", 2, dtype="datetime64[D]")
    sty = np.array([[[1.0], [2.0], [np.nan]], [[3.0], [4.0], [5.0]]])
    e = ff.Exposures(sty, np.array([[0, 1, -1], [1, 1, 0]]), style_names=["value"],
                     industry_names=["Tech", "Energy"], dates=d, assets=["A", "B", "C"])
    long = e.to_polars()
    assert long.columns == ["date", "asset", "value", "industry"]
    assert long.height == 6
    row = long.filter((pl.col("asset") == "B") & (pl.col("date") == pl.date(2024, 1, 2)))
    assert row["value"][0] == 4.0 and row["industry"][0] == "Energy"
    assert long.filter(pl.col("asset") == "C")["industry"].to_list() == [None, "Tech"]
    wide = e.to_polars("value", form="wide")
    assert wide.columns == ["date", "A", "B", "C"]
    np.testing.assert_array_equal(wide["B"].to_numpy(), [2.0, 4.0])
    assert e.to_polars(form="wide").equals(long)
    with pytest.raises(ValueError, match="kind must be one of"):
        e.to_polars("size")
    s = str(e.summary())
    assert "value" in s and "Energy" in s


@pytest.mark.parametrize("name", ["date", "asset", "industry"])
def test_to_polars_refuses_a_style_named_as_a_label_column(name):
    # a style named "date" or "asset" replaced that label column in the frame (dates or assets
    # silently lost); "industry" (with industries) failed inside Polars (a ComputeError)
    d = np.arange("2024-01-01", 2, dtype="datetime64[D]")
    e = ff.Exposures({name: np.ones((2, 3)), "value": np.zeros((2, 3))}, np.array([[0, 1, -1], [1, 1, 0]]),
                     dates=d, assets=["A", "B", "C"])
    with pytest.raises(ValueError, match=f"style '{name}' clashes with the '{name}' column"):
        e.to_polars()
    if name != "industry":
        with pytest.raises(ValueError, match=f"'{name}' names both a label column and a value column"):
            e.to_polars(name, form="long")
    else:
        assert e.to_polars(name, form="long").columns == ["date", "asset", "industry"]
    assert e.to_polars(name, form="wide").columns == ["date", "A", "B", "C"]
    # without industries a style may be named "industry"
    assert ff.Exposures({"industry": np.ones((2, 3))}).to_polars().columns == ["date", "asset", "industry"]


def test_bad_input_names_the_argument():
    with pytest.raises(ValueError, match="styles has shape"):
        ff.Exposures(np.zeros((4, 3, 2)), np.zeros((4, 2), dtype=int))
    with pytest.raises(ValueError, match="style_names has 1 names"):
        ff.Exposures(np.zeros((4, 3, 2)), style_names=["x"])
    with pytest.raises(ValueError, match=r"industry codes must lie in -1\.\.0"):
        ff.Exposures(industry=np.full((2, 2), 2), industry_names=["a"])
    with pytest.raises(TypeError, match="styles must be a numeric array"):
        ff.Exposures(np.full((2, 2, 1), "x"))
    with pytest.raises(ValueError, match="infinite"):
        ff.Exposures(np.full((2, 2, 1), np.inf))
    with pytest.raises(TypeError, match="market must be True or False"):
        ff.Exposures(np.zeros((2, 2, 1)), market="False")
    with pytest.raises(ValueError, match="dates has shape"):
        ff.Exposures(np.zeros((2, 2, 1)), dates=["2024-01-01"])
    with pytest.raises(ValueError, match="unique"):
        ff.Exposures(np.zeros((2, 2, 2)), style_names=["a", "a"])


def test_builders_refuse_an_infinite_cap():
    """An infinite cap (a data error) was read as 'outside the universe' by from_descriptors,
    silently moving the cap-weighted means of that date's styles; from_panel, the regression and
    the risk model refuse it."""
    p = ff.datasets.synthetic_universe(n_assets=30, n_days=80, seed=4)
    desc = ff.compute_descriptors(p, window=20)
    cap = np.array(p["market_cap"])
    ff.Exposures.from_descriptors(desc, cap=cap)
    cap[60, 3] = np.inf
    with pytest.raises(ValueError, match=r"cap must not contain infinite values \(1 found"):
        ff.Exposures.from_descriptors(desc, cap=cap)
    with pytest.raises(ValueError, match=r"market_cap must not contain infinite values \(1 found"):
        ff.Exposures.from_panel(p.with_fields({"market_cap": cap}), descriptor_options={"window": 20})


def test_callers_array_stays_writeable():
    sty = np.zeros((2, 2, 1))
    ff.Exposures(sty)
    sty[0, 0, 0] = 1.0
    assert sty.flags.writeable


def test_from_panel_takes_every_label_and_equals_the_baseline_recipe():
    p = ff.datasets.synthetic_universe(n_assets=120, n_days=320, seed=4)
    e = ff.Exposures.from_panel(p)
    np.testing.assert_array_equal(e.dates, p.dates)
    np.testing.assert_array_equal(e.assets, p.assets)
    assert e.industry_names == list(p.labels("industry"))
    np.testing.assert_array_equal(e.industry, p["industry"])
    desc = ff.descriptors.compute_descriptors(p)
    assert isinstance(desc, ff.Panel)
    want = bl.exposures_from_descriptors(
        {k: desc[k] for k in desc.float_fields}, ff.exposures.DEFAULT_STYLES, cap=p["market_cap"],
        industry=p["industry"],
    )
    np.testing.assert_allclose(e.styles, want, rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="no code field 'sector'"):
        ff.Exposures.from_panel(p, industry="sector")
    without = ff.Exposures.from_panel(p, industry=None)
    assert without.industry is None and without.factor_names[0] == "market"


def test_frames_keep_their_labels():
    """Polars frames among the styles are matched on their labels, with each other and with
    dates/assets, and label the exposures; they were stacked by position (a frame with columns
    c, b, a beside one with a, b, c mixed assets) and their labels dropped."""
    from ferrofactor.panel import frame_from_field

    d = np.array(["2024-01-02", "2024-01-03"], dtype="datetime64[D]")
    A = np.array(["a", "b", "c"])
    x = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    f_abc = frame_from_field(x, d, A)
    f_cba = frame_from_field(x[:, ::-1], d, A[::-1])
    # the same labels (a wide frame's rows in any order, a long frame): stacked, and labelled
    e = ff.Exposures({"s1": f_abc, "s2": f_abc.reverse(), "s3": frame_from_field(x, d, A, form="long")})
    np.testing.assert_array_equal(e.styles, np.stack([x, x, x], axis=2))
    np.testing.assert_array_equal(e.dates, d)
    assert e.assets.tolist() == ["a", "b", "c"]
    with pytest.raises(ValueError, match=r"styles\['s2'\] and styles\['s1'\] have different assets: "
                       r"position 0 is c in styles\['s2'\] but a in styles\['s1'\]"):
        ff.Exposures({"s1": f_abc, "s2": f_cba})
    with pytest.raises(ValueError, match=r"styles\['s1'\] and the dates/assets given have different "
                       r"assets: position 0 is c in styles\['s1'\] but a in the dates/assets given"):
        ff.Exposures({"s1": f_cba}, dates=d, assets=A)
    with pytest.raises(ValueError, match=r"styles\['s1'\] and the dates/assets given have different dates"):
        ff.Exposures({"s1": f_abc}, dates=d + 7)
    # given labels equal to the frame's; an array beside a frame (its rows must be in date order)
    e = ff.Exposures({"s1": f_cba, "s2": x[:, ::-1]}, dates=d, assets=A[::-1])
    np.testing.assert_array_equal(e.style("s1"), x[:, ::-1])
    with pytest.raises(ValueError, match=r"styles\['s1'\]: the rows of the wide frame are not in date order"):
        ff.Exposures({"s1": f_abc.reverse(), "s2": x})


def test_from_descriptors_matches_frames_on_labels():
    """A cap frame (and descriptor frames) are matched on their labels with the Panel's, each
    other's and the given dates/assets; a cap frame with its columns reversed was used by
    position (other styles, silently)."""
    from ferrofactor.panel import frame_from_field

    p = ff.datasets.synthetic_universe(n_assets=40, n_days=300, seed=1)
    desc = ff.compute_descriptors(p)
    cap = p["market_cap"]
    ref = ff.Exposures.from_descriptors(desc, cap=cap)
    same = ff.Exposures.from_descriptors(desc, cap=frame_from_field(cap, p.dates, p.assets))
    np.testing.assert_array_equal(same.styles, ref.styles)
    frames = {k: frame_from_field(desc[k], p.dates, p.assets) for k in desc.float_fields}
    labelled = ff.Exposures.from_descriptors(frames, cap=cap)
    np.testing.assert_array_equal(labelled.styles, ref.styles)
    np.testing.assert_array_equal(labelled.dates, p.dates)
    np.testing.assert_array_equal(labelled.assets, p.assets)
    cap_rev = frame_from_field(cap[:, ::-1], p.dates, p.assets[::-1])
    with pytest.raises(ValueError, match="cap and descriptors have different assets: position 0 is "
                       "A00039 in cap but A00000 in descriptors"):
        ff.Exposures.from_descriptors(desc, cap=cap_rev)
    with pytest.raises(ValueError, match=r"cap and descriptors\['book_to_market'\] have different assets"):
        ff.Exposures.from_descriptors(frames, cap=cap_rev)
    with pytest.raises(ValueError, match="descriptors and the dates/assets given have different dates"):
        ff.Exposures.from_descriptors(desc, cap=cap, dates=p.dates + 1)


def test_pandas_frames_keep_their_labels():
    """pandas DataFrames (DatetimeIndex × tickers) among the styles, the descriptors and as cap
    are matched on their labels and label the exposures, as Polars frames are; a cap frame with
    its columns reversed was used by position (other styles, silently)."""
    import pandas as pd

    p = ff.datasets.synthetic_universe(n_assets=40, n_days=300, seed=1)

    def pdf(x, assets=p.assets, d=p.dates):
        return pd.DataFrame(x, index=pd.DatetimeIndex(d), columns=list(assets))

    desc = ff.compute_descriptors(p)
    cap = p["market_cap"]
    ref = ff.Exposures.from_descriptors(desc, cap=cap)
    same = ff.Exposures.from_descriptors({k: pdf(desc[k]) for k in desc.float_fields}, cap=pdf(cap))
    np.testing.assert_array_equal(same.styles, ref.styles)
    np.testing.assert_array_equal(same.dates, p.dates)
    np.testing.assert_array_equal(same.assets, p.assets)
    with pytest.raises(ValueError, match="cap and descriptors have different assets: position 0 is "
                       "A00039 in cap but A00000 in descriptors"):
        ff.Exposures.from_descriptors(desc, cap=pdf(cap[:, ::-1], p.assets[::-1]))
    with pytest.raises(ValueError, match="cap and descriptors have different dates"):
        ff.Exposures.from_descriptors(desc, cap=pdf(cap, d=p.dates + 1))
    x = desc["book_to_market"]
    e = ff.Exposures({"s1": pdf(x), "s2": pdf(x).iloc[::-1]})
    np.testing.assert_array_equal(e.styles, np.stack([x, x], axis=2))
    np.testing.assert_array_equal(e.dates, p.dates)
    with pytest.raises(ValueError, match=r"styles\['s2'\] and styles\['s1'\] have different assets"):
        ff.Exposures({"s1": pdf(x), "s2": pdf(x[:, ::-1], p.assets[::-1])})
    # a frame labelling only its assets and one labelling only its dates give both labels
    e = ff.Exposures({"s1": pd.DataFrame(x, columns=list(p.assets)), "s2": pd.DataFrame(x, index=pd.DatetimeIndex(p.dates))})
    np.testing.assert_array_equal(e.dates, p.dates)
    np.testing.assert_array_equal(e.assets, p.assets)


def test_labels_are_read_only_and_never_the_callers_arrays():
    # Exposures kept the caller's assets array and gave it back writeable (shared with every
    # FactorModelResult and RiskModel built on them): writing into either relabelled them all
    assets = np.array(["A", "B", "C"])
    ex = ff.Exposures(styles=np.zeros((2, 3, 1)), style_names=["s"],
                      dates=np.array(["2024-01-02", "2024-01-03"]), assets=assets)
    assets[0] = "B"
    assert ex.assets.tolist() == ["A", "B", "C"]
    for arr in (ex.dates, ex.assets):
        with pytest.raises(ValueError, match="read-only"):
            arr[0] = arr[-1]
    panel = ff.datasets.synthetic_universe(n_assets=30, n_days=60, seed=2)
    ex = ff.Exposures.from_panel(panel)
    with pytest.raises(ValueError, match="read-only"):
        ex.assets[0] = "ZZZ"
