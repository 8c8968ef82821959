"""The README's quick start runs as written."""

import pathlib
import re

import numpy as np

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def test_quick_start_runs_as_written():
    text = README.read_text()
    code = re.search(r"## Quick start\n\n```python\n(.*?)```", text, flags=re.S).group(1)
    ns: dict = {}
    exec(compile(code, str(README), "exec"), ns)
    # The cap-weighted portfolio's risk decomposition adds up to its volatility.
    dec = ns["risk"].risk_decomposition(ns["w"], date=ns["date"])
    total = dec.factor_contrib.sum() + dec.specific_contrib
    np.testing.assert_allclose(total, dec.total_vol, rtol=1e-10)
    assert ns["frame"].shape == (300, 1 + len(ns["result"].factor_names))
    assert ns["resid"].height == 300 * 500 and ns["resid"].columns == ["date", "asset", "residuals"]


def test_setup_commands_are_the_ones_ci_runs():
    text = README.read_text()
    assert 'pip install . && ferrofactor demo' in text
    assert 'pip install ".[test]" && pytest' in text
    ci = (README.parent / ".ci" / "run").read_text()
    assert 'pip install ".[test]"' in ci and "\npytest\n" in ci


def test_time_series_and_attribution_section_runs_as_written():
    import matplotlib

    matplotlib.use("Agg")
    text = README.read_text()
    code = re.search(r"### Time-series regressions, attribution and performance\n.*?```python\n(.*?)```",
                     text, flags=re.S).group(1)
    ns: dict = {}
    exec(compile(code, str(README), "exec"), ns)
    att = ns["att"]
    resid = att.total - att.contributions.sum(axis=1) - att.specific - att.unexplained + att.costs
    assert np.abs(resid).max() < 1e-12
    assert ns["res"].params.shape == (2, 4) and ns["alpha"].alpha.shape == (1, 2)


def test_signal_evaluation_section_runs_after_the_quick_start():
    # The section's snippet continues the quick start (its panel, exposures and result).
    import matplotlib

    matplotlib.use("Agg")
    text = README.read_text()
    ns: dict = {}
    for pattern in (r"## Quick start\n\n```python\n(.*?)```", r"### Signal evaluation\n.*?```python\n(.*?)```"):
        code = re.search(pattern, text, flags=re.S).group(1)
        exec(compile(code, str(README), "exec"), ns)
    ev = ns["ev"]
    assert ev.ic.shape[1] == 3 and ev.residual is not None
    assert np.isfinite(ev.residual.ic_mean).all()
