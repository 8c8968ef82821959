"""Argument checking shared by the public wrappers.

Each helper converts its argument once at the boundary (dtype, C order) and raises a ``TypeError``
or ``ValueError`` that names the argument and what was seen. Never ``assert``: checks must hold
under ``python -O``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def as_float_array(name: str, x: Any, ndim: int, *, allow_none: bool = False) -> np.ndarray | None:
    """Return ``x`` as a C-contiguous float64 array with ``ndim`` dimensions.

    Numeric arrays of another dtype (float32, int, bool) or layout (Fortran order, strided views)
    are converted once; non-numeric input raises ``TypeError``; a wrong number of dimensions
    raises ``ValueError``.
    """
    if x is None:
        if allow_none:
            return None
        raise TypeError(f"{name} is required, got None")
    arr = np.asarray(x)
    if arr.dtype == object or not (
        np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.bool_)
    ):
        raise TypeError(f"{name} must be a numeric array, got dtype {arr.dtype}")
    if np.issubdtype(arr.dtype, np.complexfloating):
        raise TypeError(f"{name} must be real, got dtype {arr.dtype}")
    if arr.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-dimensional, got shape {arr.shape}")
    return np.ascontiguousarray(arr, dtype=np.float64)


def as_code_array(name: str, x: Any, ndim: int = 2) -> np.ndarray:
    """Return integer codes ``x`` as a C-contiguous int32 array (-1 = none)."""
    arr = np.asarray(x)
    if not np.issubdtype(arr.dtype, np.integer):
        if np.issubdtype(arr.dtype, np.floating) and arr.size and np.all(
            np.isfinite(arr) & (arr == np.round(arr))
        ):
            pass  # integral floats (e.g. codes read from a CSV) are accepted
        else:
            raise TypeError(f"{name} must be an integer code array, got dtype {arr.dtype}")
    if arr.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-dimensional, got shape {arr.shape}")
    if arr.size:
        lo, hi = int(arr.min()), int(arr.max())
        if lo < -1:
            raise ValueError(f"{name} codes must be >= -1 (-1 = none), got minimum {lo}")
        if hi > np.iinfo(np.int32).max:
            raise ValueError(f"{name} codes must fit in int32, got maximum {hi}")
    return np.ascontiguousarray(arr, dtype=np.int32)


def check_shape(name: str, arr: np.ndarray, shape: Sequence[int], what: str = "") -> None:
    """Raise ``ValueError`` unless ``arr.shape == shape``."""
    if tuple(arr.shape) != tuple(shape):
        extra = f" ({what})" if what else ""
        raise ValueError(f"{name} has shape {arr.shape}, expected {tuple(shape)}{extra}")


def check_weights(name: str, w: np.ndarray) -> None:
    """Weights may be NaN (= drop the observation) but never negative or infinite."""
    finite = np.isfinite(w)
    if np.any(np.isinf(w)):
        raise ValueError(f"{name} must not contain infinite values ({int(np.isinf(w).sum())} found)")
    if np.any(w[finite] < 0):
        raise ValueError(f"{name} must be non-negative ({int((w[finite] < 0).sum())} negative values found)")


def check_choice(name: str, value: Any, choices: Sequence[Any]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)!r}, got {value!r}")
