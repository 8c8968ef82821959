"""The `ferrofactor demo` command runs the pipeline end to end and recovers the known truth."""

import re

from ferrofactor.cli import main


def test_demo_runs_end_to_end_and_recovers_the_market(capsys):
    assert main(["demo", "--assets", "300", "--days", "400", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    for stage in ("synthetic universe", "exposures", "factor model", "risk model", "bias test"):
        assert stage in out
    # The market factor is defined the same way in the simulation and the model.
    corr = float(re.search(r"^\s+market\s+(-?\d\.\d+)$", out, flags=re.M).group(1))
    assert corr > 0.9
    assert "Fama-MacBeth" in out


def test_unknown_command_exits_with_usage(capsys):
    import pytest

    with pytest.raises(SystemExit) as e:
        main(["nope"])
    assert e.value.code == 2
