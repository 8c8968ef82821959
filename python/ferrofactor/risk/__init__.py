"""The risk model Σ = B Σf Bᵀ + D: estimation (:mod:`.model`), factor covariance
(:mod:`.covariance`), products (:mod:`.products`) and factor-mimicking portfolios
(:mod:`.mimicking`). Validation tools (bias statistics, the minimum-variance test, residual
correlation) live in :mod:`ferrofactor.evaluate`."""

from ferrofactor.risk.model import RiskModel
from ferrofactor.risk.products import RiskDecomposition

__all__ = ["RiskDecomposition", "RiskModel"]
