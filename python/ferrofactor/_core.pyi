"""Type stubs for the Rust extension module ``ferrofactor._core``.

The public API lives in the Python modules; these are the raw kernels they wrap. All float arrays
are C-contiguous float64, all code arrays C-contiguous int32, as converted by the wrappers.
"""

import numpy as np
import numpy.typing as npt

def set_num_threads(n: int) -> None: ...
def get_num_threads() -> int: ...

# --- rolling (python/ferrofactor/rolling.py) ---

def rolling_moment(
    x: npt.NDArray[np.float64], window: int | None, min_periods: int, halflife: float | None, stat: str
) -> npt.NDArray[np.float64]: ...
def rolling_beta(
    x: npt.NDArray[np.float64], market: npt.NDArray[np.float64], window: int, min_periods: int,
    halflife: float | None,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]: ...
def compounded_return(
    x: npt.NDArray[np.float64], window: int, skip: int, min_periods: int
) -> npt.NDArray[np.float64]: ...
def max_drawdown(x: npt.NDArray[np.float64], window: int, min_periods: int) -> npt.NDArray[np.float64]: ...
def cross_section_regress(
    returns: npt.npt.NDArray[np.float64],
    styles: npt.npt.NDArray[np.float64] | None,
    industry: npt.npt.NDArray[np.int32] | None,
    n_industries: int,
    weights: npt.npt.NDArray[np.float64] | None,
    cap: npt.npt.NDArray[np.float64] | None,
    market: bool,
    industry_constraint: str | None,
) -> tuple[
    npt.npt.NDArray[np.float64],
    npt.npt.NDArray[np.float64],
    npt.npt.NDArray[np.float64],
    npt.npt.NDArray[np.float64],
    npt.npt.NDArray[np.float64],
    npt.npt.NDArray[np.int64],
]: ...
def neutralize(
    x: npt.npt.NDArray[np.float64],
    controls: npt.npt.NDArray[np.float64] | None,
    industry: npt.npt.NDArray[np.int32] | None,
    n_industries: int,
    weights: npt.npt.NDArray[np.float64] | None,
) -> npt.npt.NDArray[np.float64]: ...

# --- clean (rust/clean.rs) ---
def winsorize(
    x: npt.npt.NDArray[np.float64],
    method: str,
    limit: float,
    weights: npt.npt.NDArray[np.float64] | None = None,
    groups: npt.npt.NDArray[np.int32] | None = None,
) -> npt.npt.NDArray[np.float64]: ...
def standardize(
    x: npt.npt.NDArray[np.float64],
    weights: npt.npt.NDArray[np.float64] | None = None,
    groups: npt.npt.NDArray[np.int32] | None = None,
) -> npt.npt.NDArray[np.float64]: ...
def rank(x: npt.npt.NDArray[np.float64]) -> npt.npt.NDArray[np.float64]: ...
