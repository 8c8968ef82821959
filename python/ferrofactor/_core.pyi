"""Type stubs for the Rust extension module ``ferrofactor._core``.

The public API lives in the Python modules; these are the raw kernels they wrap. All float arrays
are C-contiguous float64, all code arrays C-contiguous int32, as converted by the wrappers.
"""

def set_num_threads(n: int) -> None: ...
def get_num_threads() -> int: ...

# --- rolling (python/ferrofactor/rolling.py) ---
import numpy as np
from numpy.typing import NDArray

def rolling_moment(
    x: NDArray[np.float64], window: int | None, min_periods: int, halflife: float | None, stat: str
) -> NDArray[np.float64]: ...
def rolling_beta(
    x: NDArray[np.float64], market: NDArray[np.float64], window: int, min_periods: int,
    halflife: float | None,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]: ...
def compounded_return(
    x: NDArray[np.float64], window: int, skip: int, min_periods: int
) -> NDArray[np.float64]: ...
def max_drawdown(x: NDArray[np.float64], window: int, min_periods: int) -> NDArray[np.float64]: ...
