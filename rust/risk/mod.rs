//! Risk model kernels: factor covariance (EWMA + Newey-West), specific variance (EWMA, structural
//! fallback, Bayesian shrinkage), volatility-regime multipliers, and the products of
//! Σ = B Σf Bᵀ + D with portfolios, using industry codes (never one-hot, never N×N).
//!
//! # Conventions
//! - Factor order (the columns of factor returns, the rows/columns of Σf): `[market]` (if
//!   `market`), then industries `0..G`, then styles `0..Ks`. See [`Layout`].
//! - Time: the covariance and specific variance at row `t` use data up to and including `t`;
//!   they are the forecast for `t + 1`. Nothing later than `t` is read for row `t`.
//! - Exponential weights: half-life `h` gives decay `λ = 2^(-1/h)`; the observation `s` days
//!   before `t` gets weight `λ^s`. Returns are taken as zero-mean (no demeaning), as is usual for
//!   daily factor and specific returns.
//! - Missing values: a NaN observation is skipped (it adds no weight) but time still decays the
//!   earlier ones. For each factor pair `(i, j)` and lag `l` the weighted mean of
//!   `f_i(s) f_j(s-l)` is taken over the dates where both are finite, normalised by the sum of
//!   those dates' weights: an industry that is empty on some dates (NaN factor return) simply has
//!   fewer terms. A factor with fewer than `min_periods` finite returns up to `t` has NaN
//!   row/column in Σf at `t`.
//!
//! One file per concern: [`covariance`] (factor covariance: EWMA, Newey-West, the PSD test),
//! [`specific`] (specific variance: EWMA, structural model, shrinkage), [`regime`]
//! (volatility-regime multipliers), [`products`] (B Σf Bᵀ + D with portfolios, [`Layout`]) and
//! [`validation`] (forecast volatilities, bias-test paths and minimum-variance portfolios,
//! batched over dates; used through their module path).
//! Their items are re-exported here, so `crate::risk::X` names each of them.

use crate::error::Result;
use crate::value_error;

pub mod covariance;
pub mod products;
pub mod regime;
pub mod specific;
pub mod validation;

pub use covariance::*;
pub use products::*;
pub use regime::*;
pub use specific::*;

/// Decay per day for a half-life in days; errors for a non-positive or non-finite half-life.
pub fn decay(name: &str, half_life: f64) -> Result<f64> {
    if !(half_life > 0.0) || !half_life.is_finite() {
        return Err(value_error!("{name} must be a positive finite number of days, got {half_life}"));
    }
    Ok(0.5f64.powf(1.0 / half_life))
}

/// Bartlett weight of lag `l` for `lags` lags: `1 - l / (lags + 1)`.
#[inline]
pub fn bartlett(l: usize, lags: usize) -> f64 {
    1.0 - l as f64 / (lags as f64 + 1.0)
}

/// Check industry codes against `g` industries: each in `[-1, g)` (−1 = none).
pub(crate) fn check_codes(name: &str, codes: impl Iterator<Item = i32>, g: usize) -> Result<()> {
    for c in codes {
        if c < -1 || (c >= 0 && c as usize >= g) {
            return Err(value_error!(
                "{name} codes must be in [-1, {g}) for {g} industries, found {c}"
            ));
        }
    }
    Ok(())
}

/// `xᵀ Σf x` skipping the factors with `x = 0` (a factor nobody is exposed to may have a NaN
/// row in Σf), in a fixed order.
pub(crate) fn quad_exposed(fc: &[f64], x: &[f64]) -> f64 {
    let k = x.len();
    let mut f = 0.0;
    for i in 0..k {
        if x[i] == 0.0 {
            continue;
        }
        let mut y = 0.0;
        for j in 0..k {
            if x[j] != 0.0 {
                y += fc[i * k + j] * x[j];
            }
        }
        f += x[i] * y;
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn bad_half_life() {
        let f = array![[1.0]];
        assert!(ewma_newey_west(f.view(), 0.0, 1, 1).is_err());
        assert!(ewma_square(f.view(), -1.0).is_err());
    }
}
