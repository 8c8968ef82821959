"""Cross-sectional cleaning over the Rust kernels, per date (rows of a (T, N) array)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ferrofactor import _core
from ferrofactor._validate import as_code_array, as_float_array, check_shape


def neutralize(x: Any, controls: Any = None, industry: Any = None, weights: Any = None) -> np.ndarray:
    """Residual of a per-date weighted regression of ``x`` on an intercept, controls and industries.

    For each date ``t`` regresses ``x[t]`` by weighted least squares on a constant, the columns of
    ``controls[t]`` and the industry dummies of ``industry[t]`` (used as codes, never expanded),
    and returns the residual. The residual is orthogonal, in the weighted inner product, to every
    regressor: ``Σ_i w_i e_i z_i = 0`` for the constant, each control and each industry dummy.

    Parameters
    ----------
    x : array_like, shape (T, N)
        Values to neutralise, NaN where missing.
    controls : array_like, shape (T, N, C), optional
        Control variables (e.g. log size); an observation with any NaN control is dropped.
    industry : array_like of int, shape (T, N), optional
        Industry codes ``0..G-1``, -1 = none (dropped).
    weights : array_like, shape (T, N), optional
        Regression weights; NaN or 0 drops the observation, negative or infinite raises.
        Default: equal weights.

    Returns
    -------
    ndarray, shape (T, N)
        Residuals; NaN where the observation was not used, and on dates with fewer usable
        observations than regressors or a singular design.

    Examples
    --------
    >>> import numpy as np, ferrofactor as ff
    >>> ff.neutralize(np.array([[1.0, 2.0, 3.0, 6.0]]))
    array([[-2., -1.,  0.,  3.]])
    """
    xv = as_float_array("x", x, 2)
    T, N = xv.shape
    ctl = as_float_array("controls", controls, 3, allow_none=True)
    if ctl is not None and ctl.shape[:2] != (T, N):
        raise ValueError(f"controls has shape {ctl.shape}, expected ({T}, {N}, C) to match x {xv.shape}")
    codes = None
    G = 0
    if industry is not None:
        codes = as_code_array("industry", industry, 2)
        check_shape("industry", codes, (T, N), f"to match x {xv.shape}")
        G = int(codes.max()) + 1 if codes.size else 0
    w = as_float_array("weights", weights, 2, allow_none=True)
    if w is not None:
        check_shape("weights", w, (T, N), f"to match x {xv.shape}")
        # negative / infinite weights are rejected by the kernel while it reads each date
    return _core.neutralize(xv, ctl, codes, G, w)
