"""ferrofactor: equity factor models on full-universe daily panels, with a Rust core.

Import as ``import ferrofactor as ff``. Arrays follow one convention throughout: a panel field is
a C-contiguous float64 array shaped ``(T, N)`` (dates × assets) with NaN where missing; styles
are ``(T, N, K)``; industry codes are ``(T, N)`` int32 with -1 for "none".

``ff.baseline`` holds plain-numpy reference implementations of every kernel (the test oracle and
the benchmark baseline).
"""

from __future__ import annotations

from ferrofactor import datasets
from ferrofactor._core import get_num_threads, set_num_threads
from ferrofactor import descriptors
from ferrofactor.descriptors import (
    combined_score,
    compute_descriptors,
    momentum_selection,
    neutralize_signal,
)
from ferrofactor.rolling import (
    compounded_return,
    ewm_mean,
    ewm_std,
    ewm_var,
    max_drawdown,
    rolling_beta,
    rolling_mean,
    rolling_std,
    rolling_sum,
    rolling_var,
)
from ferrofactor.clean import neutralize, rank, standardize, winsorize
from ferrofactor.exposures import Exposures
from ferrofactor.io import (
    dollar_volume,
    market_cap,
    read_classifications,
    read_fundamentals,
    read_panel,
    read_universe,
    returns_from_prices,
)
from ferrofactor.model import (
    CrossSectionResult,
    FactorModel,
    cross_section_regress,
    fama_macbeth,
    robust_clip_returns,
)
from ferrofactor.panel import Panel
from ferrofactor.results import FactorModelResult, FamaMacBethResult
from ferrofactor import risk
from ferrofactor.risk import RiskModel

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "CrossSectionResult",
    "Exposures",
    "Panel",
    "cross_section_regress",
    "FactorModel",
    "FactorModelResult",
    "FamaMacBethResult",
    "fama_macbeth",
    "robust_clip_returns",
    "datasets",
    "dollar_volume",
    "RiskModel",
    "risk",
    "get_num_threads",
    "market_cap",
    "read_classifications",
    "read_fundamentals",
    "read_panel",
    "read_universe",
    "returns_from_prices",
    "neutralize",
    "set_num_threads",
    # descriptors
    "descriptors",
    "combined_score",
    "compute_descriptors",
    "momentum_selection",
    "neutralize_signal",
    # rolling
    "compounded_return",
    "ewm_mean",
    "ewm_std",
    "ewm_var",
    "max_drawdown",
    "rolling_beta",
    "rolling_mean",
    "rolling_std",
    "rolling_sum",
    "rolling_var",
    # clean
    "rank",
    "standardize",
    "winsorize",
]
