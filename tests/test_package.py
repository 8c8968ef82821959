"""Package-level behaviour: threads, stubs, exports."""

import ferrofactor as ff
import ferrofactor._core as core


def test_set_num_threads_round_trip():
    before = ff.get_num_threads()
    try:
        ff.set_num_threads(1)
        assert ff.get_num_threads() == 1
        ff.set_num_threads(2)
        assert ff.get_num_threads() == 2
    finally:
        ff.set_num_threads(0)
    assert ff.get_num_threads() == before


def test_stub_names_match_extension():
    # A quick local check of the names only; CI runs `python -m mypy.stubtest ferrofactor._core`,
    # which checks every signature and type against the built module.
    import pathlib
    import re

    stub = pathlib.Path(ff.__file__).with_name("_core.pyi").read_text()
    stubbed = set(re.findall(r"^def (\w+)\(", stub, flags=re.M))
    built = {n for n in dir(core) if not n.startswith("__") and callable(getattr(core, n))}
    assert stubbed == built == set(core.__all__)
