"""Type stubs for the Rust extension module ``ferrofactor._core``.

The public API lives in the Python modules; these are the raw kernels they wrap. All float arrays
are C-contiguous float64, all code arrays C-contiguous int32, as converted by the wrappers.
"""

def set_num_threads(n: int) -> None: ...
def get_num_threads() -> int: ...
