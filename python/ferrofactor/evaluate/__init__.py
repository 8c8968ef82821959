"""Evaluation: signal evaluation (information coefficient, quantile returns, turnover, decay) and
risk-model validation (bias statistics, the minimum-variance test, residual correlation).

Two concerns, one namespace: :mod:`ferrofactor.evaluate.signal` (judging a signal before a
portfolio is built from it), :mod:`ferrofactor.evaluate.risk_validation` (judging a risk model's
forecasts) and :mod:`ferrofactor.evaluate.plots` (matplotlib figures of signal evaluations).
Everything is re-exported here: ``ff.evaluate.evaluate(...)``, ``ff.evaluate.bias_test(...)``.
"""

from __future__ import annotations

from ferrofactor.evaluate.risk_validation import (
    BiasResult,
    MinimumVarianceResult,
    PortfolioBiasResult,
    ResidualCorrelation,
    bias_statistic,
    bias_test,
    minimum_variance_test,
    residual_correlation,
)
from ferrofactor.evaluate.signal import (
    QuantileReturns,
    SignalEvaluation,
    evaluate,
    factor_weighted_returns,
    forward_returns,
    information_coefficient,
    quantile_returns,
    quantile_turnover,
    rank_autocorrelation,
)

__all__ = [
    # signal evaluation
    "evaluate",
    "SignalEvaluation",
    "forward_returns",
    "information_coefficient",
    "quantile_returns",
    "QuantileReturns",
    "factor_weighted_returns",
    "quantile_turnover",
    "rank_autocorrelation",
    # risk-model validation
    "BiasResult",
    "MinimumVarianceResult",
    "PortfolioBiasResult",
    "ResidualCorrelation",
    "bias_statistic",
    "bias_test",
    "minimum_variance_test",
    "residual_correlation",
]
