//! Factor covariance: exponentially weighted Newey-West moments of the factor returns
//! ([`ewma_newey_west`], [`factor_covariance`]), the positive semi-definiteness test of the result
//! and the check of a user-supplied factor covariance. Conventions: see [`crate::risk`].

use ndarray::{s, Array3, ArrayView2, Axis};
use rayon::prelude::*;

use super::{bartlett, decay};
use crate::error::Result;
use crate::linalg;
use crate::parallel;
use crate::value_error;

/// Relative tolerance of the positive semi-definiteness test [`is_psd_within_rounding`].
pub const PSD_TOL: f64 = 1e-10;

/// Is the symmetric matrix positive semi-definite up to rounding? A Cholesky factorisation in
/// which a pivot `d_j` with `|d_j| ≤ PSD_TOL · a_jj` counts as zero (a dependent column, as in an
/// EWMA covariance estimated from fewer dates than factors); then the rest of its column must
/// be negligible too (`|s_i| ≤ 1e-6 · sqrt(a_ii a_jj)`). A pivot below `-PSD_TOL · a_jj` means
/// not PSD. The factorisation is `linalg`'s ([`linalg::is_semidefinite`]).
pub fn is_psd_within_rounding(a: &[f64], k: usize) -> bool {
    linalg::is_semidefinite(a, k, PSD_TOL, 1e-6)
}

/// Is the block of rows/columns whose diagonal is finite (factors with enough history; the
/// others have NaN rows) NOT positive semi-definite up to rounding? Such dates get their
/// negative eigenvalues clipped on that block by the Python layer (`numpy.linalg.eigh`).
fn valid_block_not_psd(a: &[f64], k: usize) -> bool {
    let idx: Vec<usize> = (0..k).filter(|&i| a[i * k + i].is_finite()).collect();
    let m = idx.len();
    let mut sub = vec![0.0; m * m];
    for (r, &i) in idx.iter().enumerate() {
        for (c, &j) in idx.iter().enumerate() {
            sub[r * m + c] = a[i * k + j];
        }
    }
    m > 0 && !is_psd_within_rounding(&sub, m)
}

/// Running exponentially weighted lagged cross-moments of a (T, K) series, for lags `0..=lags`.
/// `diag_only` keeps only the `(i, i)` pairs (enough for volatilities).
struct LaggedEwma {
    k: usize,
    lambda: f64,
    lags: usize,
    diag_only: bool,
    num: Vec<f64>,
    den: Vec<f64>,
    count: Vec<usize>,
}

impl LaggedEwma {
    fn new(k: usize, lambda: f64, lags: usize, diag_only: bool) -> Self {
        let per = if diag_only { k } else { k * k };
        LaggedEwma {
            k,
            lambda,
            lags,
            diag_only,
            num: vec![0.0; (lags + 1) * per],
            den: vec![0.0; (lags + 1) * per],
            count: vec![0; k],
        }
    }

    fn per(&self) -> usize {
        if self.diag_only {
            self.k
        } else {
            self.k * self.k
        }
    }

    /// Add date `t` of `f` (decay everything, then add the finite products).
    fn update(&mut self, f: &ArrayView2<f64>, t: usize) {
        let k = self.k;
        let per = self.per();
        let lam = self.lambda;
        self.num.iter_mut().for_each(|x| *x *= lam);
        self.den.iter_mut().for_each(|x| *x *= lam);
        let now = f.row(t);
        for i in 0..k {
            if now[i].is_finite() {
                self.count[i] += 1;
            }
        }
        for l in 0..=self.lags.min(t) {
            let then = f.row(t - l);
            let num = &mut self.num[l * per..(l + 1) * per];
            let den = &mut self.den[l * per..(l + 1) * per];
            if self.diag_only {
                for i in 0..k {
                    let p = now[i] * then[i];
                    if p.is_finite() {
                        num[i] += p;
                        den[i] += 1.0;
                    }
                }
            } else {
                for i in 0..k {
                    let x = now[i];
                    if !x.is_finite() {
                        continue;
                    }
                    for j in 0..k {
                        let y = then[j];
                        if y.is_finite() {
                            num[i * k + j] += x * y;
                            den[i * k + j] += 1.0;
                        }
                    }
                }
            }
        }
    }

    /// Weighted mean of the pair at lag `l` (0 when the pair has no observation yet).
    #[inline]
    fn gamma(&self, l: usize, idx: usize) -> f64 {
        let d = self.den[l * self.per() + idx];
        if d > 0.0 {
            self.num[l * self.per() + idx] / d
        } else {
            0.0
        }
    }

    /// Newey-West variance of factor `i` (diag_only or full).
    fn nw_var(&self, i: usize) -> f64 {
        let idx = if self.diag_only { i } else { i * self.k + i };
        let mut v = self.gamma(0, idx);
        for l in 1..=self.lags {
            v += 2.0 * bartlett(l, self.lags) * self.gamma(l, idx);
        }
        v
    }

    /// Newey-West covariance `Γ0 + Σ_l w_l (Γ_l + Γ_lᵀ)` into `out` (k×k, full mode only).
    fn nw_cov(&self, out: &mut [f64]) {
        let k = self.k;
        for i in 0..k {
            for j in 0..k {
                let mut v = self.gamma(0, i * k + j);
                for l in 1..=self.lags {
                    v += bartlett(l, self.lags) * (self.gamma(l, i * k + j) + self.gamma(l, j * k + i));
                }
                out[i * k + j] = v;
            }
        }
        // Symmetrise exactly (Γ0 is symmetric up to rounding of identical sums; keep it exact).
        for i in 0..k {
            for j in 0..i {
                let m = 0.5 * (out[i * k + j] + out[j * k + i]);
                out[i * k + j] = m;
                out[j * k + i] = m;
            }
        }
    }
}

/// Exponentially weighted Newey-West covariance of a (T, K) series for every date: row `t` is
/// `Γ0(t) + Σ_{l=1..lags} (1 - l/(lags+1)) (Γ_l(t) + Γ_l(t)ᵀ)` with
/// `Γ_l(t)[i,j] = Σ_s λ^(t-s) f_i(s) f_j(s-l) / Σ_s λ^(t-s)` over `s ≤ t` where both are finite.
/// Factors with fewer than `min_periods` finite values up to `t` get NaN rows/columns.
/// No PSD correction (see [`factor_covariance`]).
pub fn ewma_newey_west(
    f: ArrayView2<f64>,
    half_life: f64,
    lags: usize,
    min_periods: usize,
) -> Result<Array3<f64>> {
    let lambda = decay("half_life", half_life)?;
    let (t_len, k) = f.dim();
    let mut out = Array3::<f64>::zeros((t_len, k, k));
    let mut st = LaggedEwma::new(k, lambda, lags, false);
    let mut buf = vec![0.0; k * k];
    for t in 0..t_len {
        if parallel::cancelled() {
            break; // the caller discards the whole result
        }
        st.update(&f, t);
        st.nw_cov(&mut buf);
        mask_short(&mut buf, k, &st.count, min_periods);
        out.slice_mut(s![t, .., ..])
            .as_slice_mut()
            .expect("fresh array is contiguous")
            .copy_from_slice(&buf);
    }
    Ok(out)
}

fn mask_short(buf: &mut [f64], k: usize, count: &[usize], min_periods: usize) {
    for i in 0..k {
        if count[i] < min_periods.max(1) {
            for j in 0..k {
                buf[i * k + j] = f64::NAN;
                buf[j * k + i] = f64::NAN;
            }
        }
    }
}

/// Settings of [`factor_covariance`].
#[derive(Debug, Clone, Copy)]
pub struct CovSettings {
    pub vol_half_life: f64,
    pub corr_half_life: f64,
    pub vol_lags: usize,
    pub corr_lags: usize,
    pub min_periods: usize,
}

/// Factor covariance for every date from factor returns `f` (T, K):
/// `Σf(t) = diag(σ(t)) C(t) diag(σ(t))` where
/// - `σ_i(t)² = max(0, NW variance of factor i)` with half-life `vol_half_life` and
///   `vol_lags` Newey-West lags;
/// - `C(t)` is the correlation matrix of the NW covariance with half-life `corr_half_life` and
///   `corr_lags` lags (`S_ij / sqrt(S_ii S_jj)`, a factor with `S_ii ≤ 0` gets zero correlations);
/// - `not_psd[t]` reports whether the block of factors with enough history is not positive
///   semi-definite beyond rounding ([`is_psd_within_rounding`]); the matrix is returned as is
///   (the Python layer clips negative eigenvalues on those dates with LAPACK).
///
/// Row `t` uses `f[..=t]` only: it is the forecast for `t + 1`.
pub fn factor_covariance(f: ArrayView2<f64>, s: &CovSettings) -> Result<(Array3<f64>, Vec<bool>)> {
    let lv = decay("vol_half_life", s.vol_half_life)?;
    let lc = decay("corr_half_life", s.corr_half_life)?;
    let (t_len, k) = f.dim();
    let mut out = Array3::<f64>::zeros((t_len, k, k));
    let mut vol = LaggedEwma::new(k, lv, s.vol_lags, true);
    let mut cor = LaggedEwma::new(k, lc, s.corr_lags, false);
    let mut sc = vec![0.0; k * k];
    let mut sig = vec![0.0; k];
    for t in 0..t_len {
        if parallel::cancelled() {
            break; // the caller discards the whole result
        }
        vol.update(&f, t);
        cor.update(&f, t);
        cor.nw_cov(&mut sc);
        for i in 0..k {
            sig[i] = if vol.count[i] >= s.min_periods.max(1) {
                vol.nw_var(i).max(0.0).sqrt()
            } else {
                f64::NAN
            };
        }
        let mut row = out.slice_mut(s![t, .., ..]);
        let o = row.as_slice_mut().expect("fresh array is contiguous");
        for i in 0..k {
            o[i * k + i] = sig[i] * sig[i];
            for j in 0..i {
                let d = sc[i * k + i] * sc[j * k + j];
                let c = if d > 0.0 { sc[i * k + j] / d.sqrt() } else { 0.0 };
                let v = (sig[i] * sig[j]) * c;
                o[i * k + j] = v;
                o[j * k + i] = v;
            }
        }
    }
    let not_psd: Vec<bool> = out
        .axis_iter(Axis(0))
        .into_par_iter()
        .map(|m| !parallel::cancelled() && valid_block_not_psd(m.as_slice().expect("contiguous"), k))
        .collect();
    Ok((out, not_psd))
}

/// Check a user-supplied factor covariance: square K×K, finite and symmetric (to 1e-10
/// relative). Positive semi-definiteness is checked by the Python layer (`numpy.linalg.eigvalsh`).
pub fn check_factor_covariance(c: ArrayView2<f64>) -> Result<()> {
    let (a, b) = c.dim();
    if a != b {
        return Err(value_error!("factor_covariance must be square, got shape ({a}, {b})"));
    }
    if c.iter().any(|x| !x.is_finite()) {
        return Err(value_error!("factor_covariance must be finite"));
    }
    let scale = c.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    for i in 0..a {
        for j in 0..i {
            if (c[[i, j]] - c[[j, i]]).abs() > 1e-10 * scale {
                return Err(value_error!(
                    "factor_covariance must be symmetric: [{i}, {j}] = {} but [{j}, {i}] = {}",
                    c[[i, j]],
                    c[[j, i]]
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol * (1.0 + a.abs().max(b.abs()))
    }

    #[test]
    fn hand_worked_newey_west_one_lag() {
        // half-life 1 (λ = 0.5), one lag (Bartlett weight 1/2), single factor f = [1, 2, 3].
        // t2: Γ0 = (0.25·1 + 0.5·4 + 9)/(1.75) = 11.25/1.75; Γ1 = (0.5·2·1 + 3·2)/(1.5) = 7/1.5
        // NW = Γ0 + 2 · 0.5 · Γ1
        let f = array![[1.0], [2.0], [3.0]];
        let c = ewma_newey_west(f.view(), 1.0, 1, 1).unwrap();
        let want = 11.25 / 1.75 + 7.0 / 1.5;
        assert!(close(c[[2, 0, 0]], want, 1e-14), "{} vs {want}", c[[2, 0, 0]]);
        // t0: only Γ0 = 1
        assert!(close(c[[0, 0, 0]], 1.0, 1e-15));
    }

    #[test]
    fn factor_covariance_combines_vol_and_corr() {
        let f = array![[0.01, 0.02], [-0.02, -0.01], [0.015, 0.005], [0.0, 0.01], [0.01, -0.02]];
        let s = CovSettings { vol_half_life: 2.0, corr_half_life: 4.0, vol_lags: 1, corr_lags: 0, min_periods: 1 };
        let (c, _) = factor_covariance(f.view(), &s).unwrap();
        let v = ewma_newey_west(f.view(), 2.0, 1, 1).unwrap();
        let r = ewma_newey_west(f.view(), 4.0, 0, 1).unwrap();
        let t = 4;
        let s0 = v[[t, 0, 0]].sqrt();
        let s1 = v[[t, 1, 1]].sqrt();
        let rho = r[[t, 0, 1]] / (r[[t, 0, 0]] * r[[t, 1, 1]]).sqrt();
        assert!(close(c[[t, 0, 0]], s0 * s0, 1e-14));
        assert!(close(c[[t, 0, 1]], s0 * rho * s1, 1e-14));
    }

    #[test]
    fn psd_within_rounding() {
        // indefinite (eigenvalues -1, 1, 3)
        let a = [2.0, 1.0, 0.0, 1.0, 2.0, 0.0, 0.0, 0.0, -1.0];
        assert!(!is_psd_within_rounding(&a, 3));
        assert!(is_psd_within_rounding(&[2.0, 1.0, 1.0, 2.0], 2));
        // rank one (semi-definite, as an EWMA covariance of fewer dates than factors): PSD
        let v = [0.3, -1.2, 0.7];
        let r1: Vec<f64> = (0..9).map(|i| v[i / 3] * v[i % 3]).collect();
        assert!(is_psd_within_rounding(&r1, 3));
        // [[0, 1], [1, 0]] has a zero pivot with a large off-diagonal: indefinite
        assert!(!is_psd_within_rounding(&[0.0, 1.0, 1.0, 0.0], 2));
        // only the finite block counts: NaN row/column of a factor with too little history
        let n = f64::NAN;
        assert!(!valid_block_not_psd(&[2.0, n, 1.0, n, n, n, 1.0, n, 2.0], 3));
        assert!(valid_block_not_psd(&[0.0, n, 1.0, n, n, n, 1.0, n, 0.0], 3));
        assert!(!valid_block_not_psd(&[n], 1));
    }

    #[test]
    fn check_factor_covariance_shape_finite_symmetric() {
        let ok = array![[2.0, 1.0], [1.0, 2.0]];
        assert!(check_factor_covariance(ok.view()).is_ok());
        assert!(check_factor_covariance(array![[1.0, 0.0, 0.0]].view()).is_err());
        assert!(check_factor_covariance(array![[1.0, f64::NAN], [f64::NAN, 1.0]].view()).is_err());
        assert!(check_factor_covariance(array![[1.0, 0.5], [0.4, 1.0]].view()).is_err());
    }
}
