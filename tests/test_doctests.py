"""The examples in the docstrings run as written (the package's doctests)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import ferrofactor

MODULES = sorted(
    m.name for m in pkgutil.walk_packages(ferrofactor.__path__, "ferrofactor.")
    if not m.name.endswith("__main__")
)


def _examples(name: str) -> list[doctest.DocTest]:
    module = importlib.import_module(name)
    # (the finder keeps the objects defined in the module, not those it imports)
    return [t for t in doctest.DocTestFinder().find(module, name) if t.examples]


CASES = [(name, t.name) for name in MODULES for t in _examples(name)]


def test_the_package_has_examples():
    assert len(CASES) >= 30, CASES


@pytest.mark.parametrize(("module", "test"), CASES, ids=[t for _, t in CASES])
def test_docstring_example_runs(module, test):
    (case,) = [t for t in _examples(module) if t.name == test]
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    runner.run(case)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {test}"
