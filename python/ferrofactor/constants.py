"""The library's constants, defined once.

- :data:`PERIODS_PER_YEAR`: trading days per year used to annualise daily statistics (252).
- :data:`MAD_SCALE`: 1 / Φ⁻¹(3/4) ≈ 1.4826, which makes the median absolute deviation a
  consistent estimate of the standard deviation of normal data.
"""

PERIODS_PER_YEAR = 252
MAD_SCALE = 1.4826

__all__ = ["MAD_SCALE", "PERIODS_PER_YEAR"]
