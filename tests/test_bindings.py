"""The PyO3 glue (rust/bindings): panics stay quiet and become RuntimeError."""

import pytest

import ferrofactor as ff
import ferrofactor._core as core


@pytest.mark.parametrize("threads", [1, 2])
def test_panic_becomes_quiet_runtime_error(capfd, monkeypatch, threads):
    # A panic inside a parallel kernel (a bug, never bad input) must reach Python as a
    # RuntimeError carrying the panic message and its location, and print nothing: the default
    # Rust hook would write "thread '...' panicked at ..." (and a backtrace) to stderr.
    monkeypatch.delenv("FERROFACTOR_PANIC_VERBOSE", raising=False)
    monkeypatch.setenv("RUST_BACKTRACE", "1")
    ff.set_num_threads(threads)
    try:
        with pytest.raises(RuntimeError, match=r"ferrofactor internal error") as info:
            core._panic_for_test()
    finally:
        ff.set_num_threads(0)
    out, err = capfd.readouterr()
    assert err == ""
    assert out == ""
    assert "deliberate panic for the test suite (item 37)" in str(info.value)
    assert "bindings/mod.rs:" in str(info.value)


def test_panic_hook_can_be_made_verbose(capfd, monkeypatch):
    # The escape hatch for debugging: the default hook's output comes back.
    monkeypatch.setenv("FERROFACTOR_PANIC_VERBOSE", "1")
    with pytest.raises(RuntimeError, match="deliberate panic"):
        core._panic_for_test()
    _, err = capfd.readouterr()
    assert "panicked at" in err and "deliberate panic" in err
