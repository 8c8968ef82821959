"""Plain-numpy reference implementations: the test oracle and the benchmark baseline.

Written for clarity, not speed: a Python loop over dates, dense one-hot designs,
``np.linalg.lstsq``/``solve``. Each function has the same signature and conventions as its fast
counterpart in ``ferrofactor`` so that tests and benchmarks can swap one for the other.
"""

from __future__ import annotations

import numpy as np  # noqa: F401
