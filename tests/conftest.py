"""Shared fixtures: one run of the ``ferrofactor`` console script (``demo`` at a small size), used
by the end-to-end CLI tests and by the browser test of its HTML report."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

#: The demo run shared by the tests: small, with every optional extra the test extra installs.
DEMO = {"assets": 200, "days": 320, "seed": 4}


def console_script() -> list[str]:
    """The installed ``ferrofactor`` console script (beside this Python), else ``python -m``."""
    exe = Path(sys.executable).with_name("ferrofactor")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "ferrofactor"]


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "report"
    cmd = console_script() + ["demo", "--assets", str(DEMO["assets"]), "--days", str(DEMO["days"]),
                              "--seed", str(DEMO["seed"]), "--out", str(out), "--json"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    return SimpleNamespace(proc=proc, out=out, cmd=cmd, **DEMO)
