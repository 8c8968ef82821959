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


# --- Ctrl-C ------------------------------------------------------------------------------------

# A child process that builds a long kernel call, reports when it enters it, and reports what
# happened: "interrupted <seconds in the call>" then, after a small call of the same kernel that
# must still give the right answer (the cancellation is reset), "ok"; or "finished".
# Sizes: on the 2-core development machine the specific-variance call runs ≈ 46 s with 2 threads
# (measured with the cancellation checks disabled: the test then fails with "took 45.2 s to
# stop"), longer with 1; the sequential EWMA Newey-West call ≈ 100 s (28 s at half the T, cost
# ∝ T² · K²). An interrupt that works stops them within a second or two.
_CHILD = r"""
import signal, sys, time
import numpy as np
signal.signal(signal.SIGINT, signal.default_int_handler)  # even if the parent ignores SIGINT
import ferrofactor as ff
import ferrofactor._core as core

kernel, threads = sys.argv[1], int(sys.argv[2])
ff.set_num_threads(threads)
rng = np.random.default_rng(0)
if kernel == "specific":
    T, N = 2000, 1000
    r = rng.standard_normal((T, N))
    st = rng.standard_normal((T, N, 1))
    ind = np.zeros((T, N), np.int32)
    cap = np.ones((T, N))
    def call(t, n):
        return core.risk_specific_variance(
            r[:t, :n].copy(), st[:t, :n].copy(), ind[:t, :n].copy(), 1, cap[:t, :n].copy(),
            20.0, 10, 0.1, 10, 1e-8, 50, t - 1)
elif kernel == "dense_codes":
    # ≈ 70 s on 2 cores: 20 million codes with about as many distinct values (issue 10: the
    # newer kernels check for cancellation per chunk too)
    T, N = 20_000, 1000
    codes = rng.integers(0, 10**9, (T, N))
    def call(t, n):
        return core.dense_codes(codes[:t, :n].copy())
elif kernel == "bias_paths":
    # ≈ 33 s on 2 cores (11 s with 4000 portfolios): 12000 portfolios over 1500 dates of 1000 assets
    T, N, K, G, P = 1500, 1000, 8, 10, 12000
    st = rng.standard_normal((T, N, K))
    ind = rng.integers(0, G, (T, N)).astype(np.int32)
    k = 1 + G + K
    cov = np.broadcast_to(np.eye(k) * 1e-4, (T, k, k)).copy()
    spec = np.full((T, N), 1e-4)
    w = rng.random((P, N))
    r = rng.standard_normal((T + 1, N)) * 0.01
    def call(t, n):
        return core.risk_bias_paths(
            w[:, :n].copy(), r[:t + 1, :n].copy(), np.arange(t, dtype=np.int64), True,
            st[:t, :n].copy(), ind[:t, :n].copy(), True, G, cov[:t].copy(), spec[:t, :n].copy())
else:
    T, N = 2000, 30
    f = rng.standard_normal((T, N))
    def call(t, n):
        return (core.risk_ewma_newey_west(f[:t, :n].copy(), 20.0, t - 1, 1),)
small = call(60, 7)
print("calling", flush=True)
t0 = time.perf_counter()
try:
    call(T, N)
except KeyboardInterrupt:
    print(f"interrupted {time.perf_counter() - t0:.3f}", flush=True)
    again = call(60, 7)
    assert all(np.array_equal(a, b, equal_nan=True) for a, b in zip(small, again))
    print("ok", flush=True)
    sys.exit(0)
print("finished", flush=True)
sys.exit(1)
"""


@pytest.mark.parametrize(
    ("kernel", "threads"),
    [("specific", 1), ("specific", 2), ("ewma_newey_west", 2), ("dense_codes", 2), ("bias_paths", 2)],
)
def test_ctrl_c_stops_a_long_kernel(kernel, threads):
    import selectors
    import signal
    import subprocess
    import sys
    import time

    proc = subprocess.Popen(
        [sys.executable, "-c", _CHILD, kernel, str(threads)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # Wait (generously: the machine may be busy) until the child is about to call the kernel.
        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ)
        assert sel.select(timeout=120), "the child never reached the kernel call"
        assert proc.stdout.readline().strip() == "calling", proc.stderr.read()
        time.sleep(1.0)  # well inside the kernel by now
        sent = time.perf_counter()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        stopped_after = time.perf_counter() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    lines = out.split()
    assert proc.returncode == 0, (out, err)
    assert lines[0] == "interrupted" and lines[-1] == "ok", (out, err)
    # It was interrupted inside the kernel (it had run for the second we waited), and it stopped
    # quickly: far below the ≈ 46-100 s the call takes, with room for a busy machine.
    assert float(lines[1]) >= 0.9
    assert stopped_after < 10.0, f"took {stopped_after:.1f} s to stop"
    # Nothing printed by Rust on the way.
    assert err == ""


# --- fork --------------------------------------------------------------------------------------

# A process that has run a kernel forks (multiprocessing's "fork" start method, Linux's default
# before Python 3.14); the children run kernels too. The parent's pool threads do not exist in a
# child: a kernel sent to that pool would wait for them forever.
_FORK_CHILD = r"""
import multiprocessing as mp, sys, threading
import numpy as np
import ferrofactor as ff

def work(seed):
    x = np.random.default_rng(seed).standard_normal((200, 300))
    return ff.winsorize(x, method="mad").tobytes(), ff.get_num_threads()

if __name__ == "__main__":
    threads = int(sys.argv[1])
    ff.set_num_threads(threads)
    want = [work(s) for s in (0, 1)]  # the parent's pool is running from here on
    stop = threading.Event()
    def busy():  # and a parent thread is inside a kernel while it forks
        x = np.random.default_rng(2).standard_normal((300, 500))
        while not stop.is_set():
            ff.standardize(x)
    t = threading.Thread(target=busy)
    t.start()
    try:
        with mp.get_context("fork").Pool(2) as pool:
            got = pool.map(work, [0, 1])
    finally:
        stop.set()
        t.join()
    assert got == want, "a forked child's results differ from the parent's"
    print("ok", want[0][1], flush=True)
"""


@pytest.mark.parametrize("threads", [0, 2])
def test_kernels_run_in_a_forked_child(threads):
    import os
    import signal
    import subprocess
    import sys

    # its own session, so that a hung child and its forked workers can all be stopped
    proc = subprocess.Popen([sys.executable, "-c", _FORK_CHILD, str(threads)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail("a kernel called in a forked child never returned (the parent's pool was used)")
    assert proc.returncode == 0, err
    assert out.split()[0] == "ok", (out, err)
    # the child runs on as many threads as the parent asked for
    assert int(out.split()[1]) == (threads or ff.get_num_threads())
