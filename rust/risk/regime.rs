//! Volatility-regime adjustment: the cross-sectional bias statistic of standardised returns and
//! its exponentially weighted multiplier ([`regime_multiplier`]). Conventions: see [`crate::risk`].

use ndarray::{Array1, ArrayView2};
use rayon::prelude::*;

use super::decay;
use crate::error::Result;
use crate::parallel;
use crate::value_error;

/// Cross-sectional bias statistic and volatility-regime multiplier.
///
/// For date `t ≥ 1`: `B_t² = Σ_m w_m (x[t,m]² / v[t-1,m]) / Σ_m w_m` over the columns with finite
/// `x[t,m]`, `v[t-1,m] > 0` and weight `w[t-1,m] > 0` (all weights 1 when `weights` is None), i.e.
/// the realised returns of `t` standardised by the forecast made at `t-1`. The multiplier is
/// `λ_t = sqrt(Σ_s λ^(t-s) B_s² / Σ_s λ^(t-s))` over `s ≤ t` with finite `B_s`, NaN before the
/// first. Returns `(B², λ)`.
pub fn regime_multiplier(
    x: ArrayView2<f64>,
    forecast_var: ArrayView2<f64>,
    weights: Option<ArrayView2<f64>>,
    half_life: f64,
) -> Result<(Array1<f64>, Array1<f64>)> {
    let lambda = decay("vra_half_life", half_life)?;
    let (t_len, m) = x.dim();
    if forecast_var.dim() != (t_len, m) {
        return Err(value_error!(
            "forecast variance has shape {:?}, expected {:?}",
            forecast_var.dim(),
            (t_len, m)
        ));
    }
    if let Some(w) = &weights {
        if w.dim() != (t_len, m) {
            return Err(value_error!("weights have shape {:?}, expected {:?}", w.dim(), (t_len, m)));
        }
    }
    let b2: Vec<f64> = (0..t_len)
        .into_par_iter()
        .map(|t| {
            if t == 0 || parallel::cancelled() {
                return f64::NAN; // when cancelled, the caller discards the whole result
            }
            let (mut num, mut den) = (0.0, 0.0);
            for j in 0..m {
                let xv = x[[t, j]];
                let v = forecast_var[[t - 1, j]];
                let w = weights.as_ref().map_or(1.0, |w| w[[t - 1, j]]);
                if xv.is_finite() && v > 0.0 && v.is_finite() && w > 0.0 && w.is_finite() {
                    num += w * xv * xv / v;
                    den += w;
                }
            }
            if den > 0.0 {
                num / den
            } else {
                f64::NAN
            }
        })
        .collect();
    let mut mult = Array1::<f64>::from_elem(t_len, f64::NAN);
    let (mut num, mut den) = (0.0, 0.0);
    for t in 0..t_len {
        num *= lambda;
        den *= lambda;
        if b2[t].is_finite() {
            num += b2[t];
            den += 1.0;
        }
        if den > 0.0 {
            mult[t] = (num / den).sqrt();
        }
    }
    Ok((Array1::from(b2), mult))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol * (1.0 + a.abs().max(b.abs()))
    }

    #[test]
    fn regime_multiplier_hand_worked() {
        // two columns, forecast var 1 everywhere, x row1 = [1, 3] → B² = 5; row2 = [0, 0] → 0.
        let x = array![[0.0, 0.0], [1.0, 3.0], [0.0, 0.0]];
        let v = array![[1.0, 1.0], [1.0, 1.0], [1.0, 1.0]];
        let (b2, m) = regime_multiplier(x.view(), v.view(), None, 1.0).unwrap();
        assert!(b2[0].is_nan() && close(b2[1], 5.0, 1e-15) && close(b2[2], 0.0, 1e-15));
        assert!(m[0].is_nan() && close(m[1], 5f64.sqrt(), 1e-15));
        assert!(close(m[2], (2.5 / 1.5f64).sqrt(), 1e-15));
    }
}
