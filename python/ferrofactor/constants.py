"""The library's constants, defined once.

- :data:`PERIODS_PER_YEAR`: trading days per year used to annualise daily statistics (252).
- :data:`MAD_SCALE`: 1 / Φ⁻¹(3/4) ≈ 1.4826, which makes the median absolute deviation a
  consistent estimate of the standard deviation of normal data.
- :data:`POSITION_TOL`: a weight above this (in absolute value) is a position when positions are
  counted (1e-6, a millionth of the book: an interior-point solver leaves up to about 1e-7 on the
  assets it does not hold).
"""

PERIODS_PER_YEAR = 252
MAD_SCALE = 1.4826
POSITION_TOL = 1e-6

__all__ = ["MAD_SCALE", "PERIODS_PER_YEAR", "POSITION_TOL"]
