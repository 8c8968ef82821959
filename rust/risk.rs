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

pub mod validation;

use ndarray::{s, Array1, Array2, Array3, ArrayView1, ArrayView2, ArrayView3, Axis};
use rayon::prelude::*;

use crate::error::Result;
use crate::linalg::Cholesky;
use crate::value_error;

// ---------------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------------

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

/// Relative tolerance of the positive semi-definiteness test [`is_psd_within_rounding`].
pub const PSD_TOL: f64 = 1e-10;

/// Is the symmetric matrix positive semi-definite up to rounding? A Cholesky factorisation in
/// which a pivot `d_j` with `|d_j| ≤ PSD_TOL · a_jj` counts as zero (a dependent column, as in an
/// EWMA covariance estimated from fewer dates than factors); then the rest of its column must
/// be negligible too (`|s_i| ≤ 1e-6 · sqrt(a_ii a_jj)`). A pivot below `-PSD_TOL · a_jj` means
/// not PSD.
pub fn is_psd_within_rounding(a: &[f64], k: usize) -> bool {
    let mut l = vec![0.0; k * k];
    for j in 0..k {
        let ajj = a[j * k + j];
        if ajj < 0.0 || !ajj.is_finite() {
            return false;
        }
        let mut d = ajj;
        for m in 0..j {
            d -= l[j * k + m] * l[j * k + m];
        }
        if d < -PSD_TOL * ajj {
            return false;
        }
        if d <= PSD_TOL * ajj {
            for i in (j + 1)..k {
                let mut s = a[i * k + j];
                for m in 0..j {
                    s -= l[i * k + m] * l[j * k + m];
                }
                if s.abs() > 1e-6 * (a[i * k + i] * ajj).sqrt() {
                    return false;
                }
            }
            continue; // column of L stays zero
        }
        let djj = d.sqrt();
        l[j * k + j] = djj;
        for i in (j + 1)..k {
            let mut s = a[i * k + j];
            for m in 0..j {
                s -= l[i * k + m] * l[j * k + m];
            }
            l[i * k + j] = s / djj;
        }
    }
    true
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

// ---------------------------------------------------------------------------------------------
// Factor covariance
// ---------------------------------------------------------------------------------------------

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
        .map(|m| valid_block_not_psd(m.as_slice().expect("contiguous"), k))
        .collect();
    Ok((out, not_psd))
}

// ---------------------------------------------------------------------------------------------
// Specific variance
// ---------------------------------------------------------------------------------------------

/// Exponentially weighted mean of squared values per column of `x` (T, N), for every date.
/// Returns `(var, n_obs)`: `var[t, n] = Σ_s λ^(t-s) x[s,n]² / Σ_s λ^(t-s)` over finite `x[s, n]`,
/// `s ≤ t` (NaN before the first finite value) and `n_obs[t, n]` the count of finite values.
pub fn ewma_square(x: ArrayView2<f64>, half_life: f64) -> Result<(Array2<f64>, Array2<u32>)> {
    ewma_square_nw(x, half_life, 0)
}

/// [`ewma_square`] with a Newey-West adjustment per column: `var = Γ0 + 2 Σ_{l=1..lags}
/// (1 - l/(lags+1)) Γ_l` with `Γ_l[t] = Σ_s λ^(t-s) x[s] x[s-l] / Σ_s λ^(t-s)` over the `s ≤ t`
/// where both `x[s]` and `x[s-l]` are finite (the convention of [`ewma_newey_west`]). Where the
/// adjusted value is not positive (strong negative autocorrelation, few pairs), `Γ0` is kept.
/// `lags = 0` gives exactly [`ewma_square`]'s plain EWMA.
pub fn ewma_square_nw(x: ArrayView2<f64>, half_life: f64, lags: usize) -> Result<(Array2<f64>, Array2<u32>)> {
    let lambda = decay("specific_half_life", half_life)?;
    let (t_len, n) = x.dim();
    let mut var = Array2::<f64>::zeros((t_len, n));
    let mut cnt = Array2::<u32>::zeros((t_len, n));
    const BLOCK: usize = 256;
    var.axis_chunks_iter_mut(Axis(1), BLOCK)
        .into_par_iter()
        .zip(cnt.axis_chunks_iter_mut(Axis(1), BLOCK).into_par_iter())
        .enumerate()
        .for_each(|(b, (mut v, mut c))| {
            let lo = b * BLOCK;
            let w = v.ncols();
            let mut num = vec![0.0; w];
            let mut den = vec![0.0; w];
            let mut k = vec![0u32; w];
            // lag l = 1..=lags at index (l - 1) * w + j
            let mut lnum = vec![0.0; lags * w];
            let mut lden = vec![0.0; lags * w];
            for t in 0..t_len {
                let xr = x.slice(s![t, lo..lo + w]);
                for j in 0..w {
                    let xv = xr[j];
                    num[j] *= lambda;
                    den[j] *= lambda;
                    if xv.is_finite() {
                        num[j] += xv * xv;
                        den[j] += 1.0;
                        k[j] += 1;
                    }
                    let g0 = if den[j] > 0.0 { num[j] / den[j] } else { f64::NAN };
                    let mut adj = g0;
                    for l in 1..=lags {
                        let i = (l - 1) * w + j;
                        lnum[i] *= lambda;
                        lden[i] *= lambda;
                        if t >= l {
                            let xl = x[[t - l, lo + j]];
                            if xv.is_finite() && xl.is_finite() {
                                lnum[i] += xv * xl;
                                lden[i] += 1.0;
                            }
                        }
                        if lden[i] > 0.0 {
                            adj += 2.0 * bartlett(l, lags) * lnum[i] / lden[i];
                        }
                    }
                    v[[t, j]] = if lags == 0 || !(adj > 0.0) { g0 } else { adj };
                    c[[t, j]] = k[j];
                }
            }
        });
    Ok((var, cnt))
}

/// Settings of [`specific_variance`].
#[derive(Debug, Clone, Copy)]
pub struct SpecificSettings {
    /// Half-life of the EWMA of squared residuals.
    pub half_life: f64,
    /// Newey-West lags of the time-series estimate (0 = none); see [`ewma_square_nw`].
    pub nw_lags: usize,
    /// Assets with fewer finite residuals than this up to `t` get the structural estimate.
    pub min_periods: usize,
    /// History over which the weight of the time-series estimate rises linearly from 0 (at
    /// `min_periods` residuals) to 1 (at `min_periods + blend_periods`); 0 = a hard switch.
    pub blend_periods: usize,
    /// Bayesian shrinkage intensity `q` (0 = none).
    pub shrinkage: f64,
    /// Number of cap groups for the shrinkage target (10 = deciles).
    pub n_groups: usize,
    /// Ridge on the industry dummies of the structural regression, as a fraction of the total
    /// regression weight (keeps industries without fitted assets at the intercept).
    pub ridge: f64,
}

/// Output of [`specific_variance`].
pub struct SpecificOut {
    /// Final specific variance D (T, N): NaN where the asset has no valid exposures.
    pub var: Array2<f64>,
    /// Raw EWMA of squared residuals (T, N).
    pub ewma_var: Array2<f64>,
    /// Number of finite residuals up to t (T, N).
    pub n_obs: Array2<u32>,
    /// 1 where the structural estimate was used (T, N).
    pub structural: Array2<u8>,
}

/// Specific variance for every date.
///
/// At date `t` an asset is in the universe when all its style exposures are finite at `t`.
/// 1. Time series: `σ_ts² = ewma_square_nw(residuals)[t]` (half-life `half_life`, `nw_lags`
///    Newey-West lags), available when
///    the asset has `h ≥ min_periods` finite residuals up to `t` and `σ_ts > 0`. Its weight is
///    `γ = min(1, (h - min_periods) / blend_periods)` (USE4's history blend; `γ = 1` when
///    `blend_periods = 0`), and `γ = 0` for assets without it.
/// 2. Structural model for the universe assets with `γ < 1`: weighted least squares (weights
///    `sqrt(cap)`) of `ln σ_ts` over the assets with a time-series estimate and finite cap, on an
///    intercept, industry dummies (ridge `ridge·Σw` on each) and the styles; the prediction is
///    `σ_str = E0 · exp(x β)` with `E0 = Σ w exp(e) / Σ w` the weighted mean of the exponentiated
///    fit residuals (smearing). Then `σ = γ σ_ts + (1 - γ) σ_str`. Needs at least `Ks + 2`
///    fitted assets; without the model, assets with a time-series estimate keep it and the others
///    are NaN.
/// 3. Bayesian shrinkage (USE4): assets with finite σ and cap > 0 are split into `n_groups`
///    groups by cap rank (`floor(rank · n_groups / n)`, ties by asset index); with the
///    cap-weighted group mean `σ̄` and `Δ = sqrt(mean (σ - σ̄)²)` over the group,
///    `v = q|σ - σ̄| / (Δ + q|σ - σ̄|)` and `σ_SH = v σ̄ + (1 - v) σ`. Assets without a valid cap
///    are not shrunk.
///
/// `D[t, n] = σ_SH²`.
pub fn specific_variance(
    residuals: ArrayView2<f64>,
    styles: ArrayView3<f64>,
    industry: ArrayView2<i32>,
    n_industries: usize,
    cap: ArrayView2<f64>,
    s: &SpecificSettings,
) -> Result<SpecificOut> {
    let (t_len, n) = residuals.dim();
    if styles.dim().0 != t_len || styles.dim().1 != n {
        return Err(value_error!(
            "styles has shape {:?}, expected ({t_len}, {n}, K) like residuals",
            styles.dim()
        ));
    }
    if industry.dim() != (t_len, n) {
        return Err(value_error!("industry has shape {:?}, expected ({t_len}, {n})", industry.dim()));
    }
    if cap.dim() != (t_len, n) {
        return Err(value_error!("cap has shape {:?}, expected ({t_len}, {n})", cap.dim()));
    }
    if !(s.shrinkage >= 0.0) || !s.shrinkage.is_finite() {
        return Err(value_error!("shrinkage must be a finite number >= 0, got {}", s.shrinkage));
    }
    if s.n_groups == 0 {
        return Err(value_error!("n_cap_groups must be >= 1"));
    }
    check_codes("industry", industry.iter().copied(), n_industries)?;
    let (ewma_var, n_obs) = ewma_square_nw(residuals, s.half_life, s.nw_lags)?;
    let mut var = Array2::<f64>::from_elem((t_len, n), f64::NAN);
    let mut structural = Array2::<u8>::zeros((t_len, n));
    var.axis_iter_mut(Axis(0))
        .into_par_iter()
        .zip(structural.axis_iter_mut(Axis(0)).into_par_iter())
        .enumerate()
        .for_each(|(t, (mut out, mut flag))| {
            let sig = specific_one_date(
                ewma_var.row(t),
                n_obs.row(t),
                styles.index_axis(Axis(0), t),
                industry.row(t),
                n_industries,
                cap.row(t),
                s,
                flag.as_slice_mut().expect("contiguous"),
            );
            for j in 0..n {
                out[j] = sig[j] * sig[j];
            }
        });
    Ok(SpecificOut { var, ewma_var, n_obs, structural })
}

#[allow(clippy::too_many_arguments)]
fn specific_one_date(
    ewma_var: ArrayView1<f64>,
    n_obs: ArrayView1<u32>,
    styles: ArrayView2<f64>,
    industry: ArrayView1<i32>,
    g: usize,
    cap: ArrayView1<f64>,
    s: &SpecificSettings,
    flag: &mut [u8],
) -> Vec<f64> {
    let (n, ks) = styles.dim();
    let mut sig = vec![f64::NAN; n];
    let universe: Vec<bool> = (0..n).map(|j| styles.row(j).iter().all(|x| x.is_finite())).collect();
    let mut need = Vec::new(); // universe assets with γ < 1
    let mut gamma = vec![0.0; n];
    let min_p = s.min_periods.max(1);
    for j in 0..n {
        if !universe[j] {
            continue;
        }
        let v = ewma_var[j];
        let h = n_obs[j] as usize;
        if h >= min_p && v > 0.0 && v.is_finite() {
            sig[j] = v.sqrt();
            gamma[j] = if s.blend_periods == 0 { 1.0 } else { ((h - min_p) as f64 / s.blend_periods as f64).min(1.0) };
        }
        if gamma[j] < 1.0 {
            need.push(j);
        }
    }
    // 2. structural fallback
    if !need.is_empty() {
        let p = 1 + g + ks;
        let fit: Vec<usize> = (0..n)
            .filter(|&j| sig[j].is_finite() && cap[j].is_finite() && cap[j] > 0.0)
            .collect();
        if fit.len() >= ks + 2 {
            let mut a = vec![0.0; p * p];
            let mut b = vec![0.0; p];
            let mut x = vec![0.0; p];
            let mut wsum = 0.0;
            for &j in &fit {
                let w = cap[j].sqrt();
                let y = sig[j].ln();
                let nz = design_row(&mut x, industry[j], styles.row(j), g);
                wsum += w;
                for &r in &nz {
                    b[r] += w * x[r] * y;
                    for &c in &nz {
                        a[r * p + c] += w * x[r] * x[c];
                    }
                }
            }
            for gi in 0..g {
                a[(1 + gi) * p + 1 + gi] += s.ridge * wsum;
            }
            if let Some(ch) = Cholesky::new(&a, p) {
                ch.solve_in_place(&mut b);
                let beta = b;
                let pred = |j: usize, x: &mut Vec<f64>| -> f64 {
                    let nz = design_row(x, industry[j], styles.row(j), g);
                    nz.iter().map(|&r| x[r] * beta[r]).sum::<f64>()
                };
                let mut e0n = 0.0;
                for &j in &fit {
                    let w = cap[j].sqrt();
                    e0n += w * (sig[j].ln() - pred(j, &mut x)).exp();
                }
                let e0 = e0n / wsum;
                for &j in &need {
                    let st = e0 * pred(j, &mut x).exp();
                    let g = gamma[j];
                    sig[j] = if g > 0.0 { g * sig[j] + (1.0 - g) * st } else { st };
                    flag[j] = 1;
                }
            }
        }
    }
    // 3. Bayesian shrinkage toward the cap-group mean
    if s.shrinkage > 0.0 {
        let mut idx: Vec<usize> = (0..n)
            .filter(|&j| sig[j].is_finite() && cap[j].is_finite() && cap[j] > 0.0)
            .collect();
        let m = idx.len();
        let q = s.shrinkage;
        // The asset of cap rank i (ties by index) is in group floor(i·G/m), so group g holds the
        // ranks [ceil(g·m/G), ceil((g+1)·m/G)). Partition around those boundaries (O(N log G),
        // no full sort); members within a group are then summed in index order.
        let ng = s.n_groups;
        let bounds: Vec<usize> = (0..=ng).map(|g| (g * m).div_ceil(ng)).collect();
        let by_cap = |a: &usize, b: &usize| cap[*a].total_cmp(&cap[*b]).then(a.cmp(b));
        let mut lo = 0;
        for &b in &bounds[1..ng] {
            if b > lo && b < m {
                idx[lo..].select_nth_unstable_by(b - lo, by_cap);
                lo = b;
            }
        }
        for g in 0..ng {
            let (start, end) = (bounds[g], bounds[g + 1]);
            if start >= end {
                continue;
            }
            idx[start..end].sort_unstable();
            let members = &idx[start..end];
            let cw: f64 = members.iter().map(|&j| cap[j]).sum();
            let mean = members.iter().map(|&j| cap[j] * sig[j]).sum::<f64>() / cw;
            let delta = (members.iter().map(|&j| (sig[j] - mean).powi(2)).sum::<f64>()
                / members.len() as f64)
                .sqrt();
            let shrunk: Vec<f64> = members
                .iter()
                .map(|&j| {
                    let d = q * (sig[j] - mean).abs();
                    let v = if delta + d > 0.0 { d / (delta + d) } else { 0.0 };
                    v * mean + (1.0 - v) * sig[j]
                })
                .collect();
            for (&j, v) in members.iter().zip(shrunk) {
                sig[j] = v;
            }
        }
    }
    sig
}

/// Fill the structural design row (intercept, industry dummy, styles); returns the non-zero
/// column indices.
fn design_row(x: &mut [f64], code: i32, st: ArrayView1<f64>, g: usize) -> Vec<usize> {
    let mut nz = Vec::with_capacity(2 + st.len());
    x[0] = 1.0;
    nz.push(0);
    if code >= 0 {
        x[1 + code as usize] = 1.0;
        nz.push(1 + code as usize);
    }
    for (k, &v) in st.iter().enumerate() {
        x[1 + g + k] = v;
        nz.push(1 + g + k);
    }
    nz
}

fn check_codes(name: &str, codes: impl Iterator<Item = i32>, g: usize) -> Result<()> {
    for c in codes {
        if c < -1 || (c >= 0 && c as usize >= g) {
            return Err(value_error!(
                "{name} codes must be in [-1, {g}) for {g} industries, found {c}"
            ));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Volatility regime adjustment
// ---------------------------------------------------------------------------------------------

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
            if t == 0 {
                return f64::NAN;
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

// ---------------------------------------------------------------------------------------------
// Products with B = [market | industry codes | styles]
// ---------------------------------------------------------------------------------------------

/// The factor layout of B: `[market]`, industries `0..G`, styles `0..Ks`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Layout {
    pub market: bool,
    pub n_industries: usize,
    pub n_styles: usize,
}

impl Layout {
    pub fn k(&self) -> usize {
        self.market as usize + self.n_industries + self.n_styles
    }
    fn ind_off(&self) -> usize {
        self.market as usize
    }
    fn style_off(&self) -> usize {
        self.market as usize + self.n_industries
    }
}

/// Exposures of one date prepared for products: styles transposed to (Ks, N) with NaN → 0, the
/// industry codes, and the list of assets whose exposures or specific variance are missing (a
/// portfolio holding one of them gets NaN risk).
struct Prepared {
    n: usize,
    lay: Layout,
    st: Vec<f64>,
    ind: Vec<i32>,
    bad: Vec<usize>,
}

fn prepare(
    styles: ArrayView2<f64>,
    industry: ArrayView1<i32>,
    lay: Layout,
    spec: Option<ArrayView1<f64>>,
) -> Result<Prepared> {
    let (n, ks) = styles.dim();
    if ks != lay.n_styles {
        return Err(value_error!("styles have {ks} columns, expected {}", lay.n_styles));
    }
    if industry.len() != n {
        return Err(value_error!(
            "industry has {} assets, styles have {n}",
            industry.len()
        ));
    }
    check_codes("industry", industry.iter().copied(), lay.n_industries)?;
    let mut st = vec![0.0; ks * n];
    let mut bad = Vec::new();
    for j in 0..n {
        let mut ok = true;
        for k in 0..ks {
            let v = styles[[j, k]];
            if v.is_finite() {
                st[k * n + j] = v;
            } else {
                ok = false;
            }
        }
        if let Some(d) = &spec {
            if !(d[j].is_finite() && d[j] >= 0.0) {
                ok = false;
            }
        }
        if !ok {
            bad.push(j);
        }
    }
    Ok(Prepared { n, lay, st, ind: industry.to_vec(), bad })
}

/// `Bᵀw` for `R` rows of weights at once (rows of length n in `w`), into `out` (R×K).
#[inline(always)]
fn exposures_block<const R: usize>(p: &Prepared, w: [&[f64]; R], out: &mut [f64]) {
    let k = p.lay.k();
    // industries (scatter-add over codes, R independent chains) and the market (Σ w): one pass.
    // Assets without an industry go to an extra slot `gn`; the market is the fixed-order sum of
    // the slots.
    let gn = p.lay.n_industries;
    if p.lay.market || gn > 0 {
        let off = p.lay.ind_off();
        let slots = gn + 1;
        let mut acc = vec![0.0; R * slots];
        for (c, &g) in p.ind.iter().enumerate() {
            let g = if g >= 0 { g as usize } else { gn };
            for r in 0..R {
                acc[r * slots + g] += w[r][c];
            }
        }
        for r in 0..R {
            let a = &acc[r * slots..(r + 1) * slots];
            if gn > 0 {
                out[r * k + off..r * k + off + gn].copy_from_slice(&a[..gn]);
            }
            if p.lay.market {
                out[r * k] = a.iter().sum();
            }
        }
    }
}

/// Fixed-order sum of 8 lanes (the same on every CPU).
#[inline(always)]
fn lane_sum(a: &[f64; 8]) -> f64 {
    ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]))
}

#[inline(always)]
fn exposures_rows_generic(p: &Prepared, w: &[f64], rows: usize, out: &mut [f64]) {
    let n = p.n;
    let k = p.lay.k();
    let ks = p.lay.n_styles;
    if ks > 0 {
        // styles: a (rows × N)·(N × Ks) product (ndarray's matrixmultiply kernel, single-threaded
        // per block of rows, so the result does not depend on the number of threads)
        let wv = ArrayView2::from_shape((rows, n), w).expect("rows × n weights");
        let sv = ArrayView2::from_shape((ks, n), &p.st).expect("ks × n styles");
        let mut xs = Array2::<f64>::zeros((rows, ks));
        ndarray::linalg::general_mat_mul(1.0, &wv, &sv.t(), 0.0, &mut xs);
        let soff = p.lay.style_off();
        for r in 0..rows {
            for q in 0..ks {
                out[r * k + soff + q] = xs[[r, q]];
            }
        }
    }
    let mut r = 0;
    while r + 4 <= rows {
        let ws = [
            &w[r * n..(r + 1) * n],
            &w[(r + 1) * n..(r + 2) * n],
            &w[(r + 2) * n..(r + 3) * n],
            &w[(r + 3) * n..(r + 4) * n],
        ];
        exposures_block::<4>(p, ws, &mut out[r * k..(r + 4) * k]);
        r += 4;
    }
    while r < rows {
        exposures_block::<1>(p, [&w[r * n..(r + 1) * n]], &mut out[r * k..(r + 1) * k]);
        r += 1;
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn exposures_rows_avx2(p: &Prepared, w: &[f64], rows: usize, out: &mut [f64]) {
    exposures_rows_generic(p, w, rows, out)
}

/// `Bᵀw` for a block of rows; uses AVX2 when the CPU has it. The lane structure of the
/// accumulators is fixed in the code, so the result is the same with and without AVX2.
fn exposures_rows(p: &Prepared, w: &[f64], rows: usize, out: &mut [f64]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2 (checked above).
            unsafe { exposures_rows_avx2(p, w, rows, out) };
            return;
        }
    }
    exposures_rows_generic(p, w, rows, out)
}

/// Rows of portfolios per parallel task (a fixed split: results do not depend on thread count).
const ROWS_PER_TASK: usize = 16;

/// Error naming the first non-finite weight of the rows whose result is not finite (a NaN or
/// infinite weight always makes the result non-finite, so only those rows are scanned).
fn check_finite_rows(w: &[f64], n: usize, results: &[f64], per_row: usize) -> Result<()> {
    for (r, chunk) in results.chunks(per_row.max(1)).enumerate() {
        if chunk.iter().all(|x| x.is_finite()) {
            continue;
        }
        if let Some(j) = w[r * n..(r + 1) * n].iter().position(|x| !x.is_finite()) {
            return Err(value_error!(
                "weights must be finite: portfolio {r} has {} at asset {j}",
                w[r * n + j]
            ));
        }
    }
    Ok(())
}

fn weights_slice<'b>(w: &'b ArrayView2<'b, f64>) -> Result<&'b [f64]> {
    w.as_slice()
        .ok_or_else(|| value_error!("weights must be a C-contiguous array"))
}

/// Factor exposures `X = W B` (P, K) of the portfolios `weights` (P, N) given one date's
/// exposures. Assets with missing style exposures contribute NaN when held (weight ≠ 0).
pub fn factor_exposures(
    weights: ArrayView2<f64>,
    styles: ArrayView2<f64>,
    industry: ArrayView1<i32>,
    lay: Layout,
) -> Result<Array2<f64>> {
    let p = prepare(styles, industry, lay, None)?;
    let (np, n) = weights.dim();
    if n != p.n {
        return Err(value_error!(
            "weights have {n} assets (shape {:?}), exposures have {}",
            weights.dim(),
            p.n
        ));
    }
    let k = lay.k();
    let w = weights_slice(&weights)?;
    let mut out = Array2::<f64>::zeros((np, k));
    out.as_slice_mut()
        .expect("contiguous")
        .par_chunks_mut(ROWS_PER_TASK * k.max(1))
        .enumerate()
        .for_each(|(b, o)| {
            let r0 = b * ROWS_PER_TASK;
            let rows = if k == 0 { 0 } else { o.len() / k };
            exposures_rows(&p, &w[r0 * n..(r0 + rows) * n], rows, o);
            for r in 0..rows {
                if p.bad.iter().any(|&j| w[(r0 + r) * n + j] != 0.0) {
                    o[r * k..(r + 1) * k].iter_mut().for_each(|x| *x = f64::NAN);
                }
            }
        });
    check_finite_rows(w, n, out.as_slice().expect("contiguous"), k)?;
    Ok(out)
}

/// Factor and specific variance of each portfolio (rows of `weights`, (P, N)):
/// `xᵀ Σf x` with `x = Bᵀw` and `Σ_n w_n² D_n`. Cost O(P·N·Ks + P·N + P·K²), no N×N matrix.
/// A portfolio holding (w ≠ 0) an asset with missing exposures or specific variance gets NaN.
pub fn portfolio_variance(
    weights: ArrayView2<f64>,
    styles: ArrayView2<f64>,
    industry: ArrayView1<i32>,
    lay: Layout,
    factor_cov: ArrayView2<f64>,
    specific_var: ArrayView1<f64>,
) -> Result<(Array1<f64>, Array1<f64>)> {
    let p = prepare(styles, industry, lay, Some(specific_var))?;
    let k = lay.k();
    let (np, n) = weights.dim();
    if n != p.n {
        return Err(value_error!(
            "weights have {n} assets (shape {:?}), exposures have {}",
            weights.dim(),
            p.n
        ));
    }
    if specific_var.len() != n {
        return Err(value_error!(
            "specific variance has {} assets, exposures have {n}",
            specific_var.len()
        ));
    }
    if factor_cov.dim() != (k, k) {
        return Err(value_error!("factor covariance has shape {:?}, expected ({k}, {k})", factor_cov.dim()));
    }
    let fc: Vec<f64> = factor_cov.iter().copied().collect();
    let d: Vec<f64> = specific_var.iter().map(|&x| if x.is_finite() { x } else { 0.0 }).collect();
    let w = weights_slice(&weights)?;
    let mut fv = vec![0.0; np];
    let mut sv = vec![0.0; np];
    fv.par_chunks_mut(ROWS_PER_TASK)
        .zip(sv.par_chunks_mut(ROWS_PER_TASK))
        .enumerate()
        .for_each(|(b, (fo, so))| {
            let r0 = b * ROWS_PER_TASK;
            let rows = fo.len();
            let mut x = vec![0.0; rows * k];
            let wb = &w[r0 * n..(r0 + rows) * n];
            if k > 0 {
                exposures_rows(&p, wb, rows, &mut x);
            }
            for r in 0..rows {
                let xr = &x[r * k..(r + 1) * k];
                let mut f = 0.0;
                for i in 0..k {
                    if xr[i] == 0.0 {
                        continue; // also skips NaN rows of factors nobody is exposed to
                    }
                    let mut y = 0.0;
                    for j in 0..k {
                        if xr[j] != 0.0 {
                            y += fc[i * k + j] * xr[j];
                        }
                    }
                    f += xr[i] * y;
                }
                fo[r] = f;
                let wr = &wb[r * n..(r + 1) * n];
                let mut acc = [0.0; 8];
                let nl = n / 8 * 8;
                for c in (0..nl).step_by(8) {
                    let ws: &[f64; 8] = wr[c..c + 8].try_into().expect("8 elements");
                    let ds: &[f64; 8] = d[c..c + 8].try_into().expect("8 elements");
                    for l in 0..8 {
                        acc[l] += ws[l] * ws[l] * ds[l];
                    }
                }
                let mut s = lane_sum(&acc);
                for c in nl..n {
                    s += wr[c] * wr[c] * d[c];
                }
                so[r] = s;
                if p.bad.iter().any(|&j| wr[j] != 0.0) {
                    fo[r] = f64::NAN;
                    so[r] = f64::NAN;
                }
            }
        });
    check_finite_rows(w, n, &sv, 1)?;
    Ok((Array1::from(fv), Array1::from(sv)))
}

/// `B v` for each row of `v` (P, K): the (P, N) asset-level values of factor-space vectors
/// (e.g. `B Σf x` for marginal contributions). Assets with missing styles get NaN.
pub fn exposures_times(
    v: ArrayView2<f64>,
    styles: ArrayView2<f64>,
    industry: ArrayView1<i32>,
    lay: Layout,
) -> Result<Array2<f64>> {
    let k = lay.k();
    let (np, kv) = v.dim();
    if kv != k {
        return Err(value_error!("factor vectors have {kv} columns, expected {k}"));
    }
    let p = prepare(styles, industry, lay, None)?;
    let n = p.n;
    let mut out = Array2::<f64>::zeros((np, n));
    out.axis_iter_mut(Axis(0))
        .into_par_iter()
        .enumerate()
        .for_each(|(r, mut o)| {
            let vr = v.row(r);
            let base = if lay.market { vr[0] } else { 0.0 };
            for j in 0..n {
                let mut s = base;
                let g = p.ind[j];
                if g >= 0 {
                    s += vr[lay.ind_off() + g as usize];
                }
                for q in 0..lay.n_styles {
                    s += p.st[q * n + j] * vr[lay.style_off() + q];
                }
                o[j] = s;
            }
            for &j in &p.bad {
                o[j] = f64::NAN;
            }
        });
    Ok(out)
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
    fn hand_worked_ewma_square() {
        // half-life 1: λ = 0.5. x = [1, NaN, 2]:
        // t0: 1/1 = 1; t1: 0.5/0.5 = 1; t2: (0.25·1 + 4)/(0.25 + 1) = 3.4
        let x = array![[1.0], [f64::NAN], [2.0]];
        let (v, c) = ewma_square(x.view(), 1.0).unwrap();
        assert!(close(v[[0, 0]], 1.0, 1e-15));
        assert!(close(v[[1, 0]], 1.0, 1e-15));
        assert!(close(v[[2, 0]], 3.4, 1e-15));
        assert_eq!(c.column(0).to_vec(), vec![1, 1, 2]);
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

    #[test]
    fn bad_half_life() {
        let f = array![[1.0]];
        assert!(ewma_newey_west(f.view(), 0.0, 1, 1).is_err());
        assert!(ewma_square(f.view(), -1.0).is_err());
    }

    #[test]
    fn products_match_dense() {
        // 5 assets, market + 2 industries + 1 style.
        let styles = array![[0.5], [-1.0], [2.0], [0.0], [1.5]];
        let ind = array![0, 1, 1, -1, 0];
        let lay = Layout { market: true, n_industries: 2, n_styles: 1 };
        let fc = array![
            [0.04, 0.01, 0.0, 0.002],
            [0.01, 0.03, 0.005, 0.0],
            [0.0, 0.005, 0.02, 0.001],
            [0.002, 0.0, 0.001, 0.01]
        ];
        let d = array![0.1, 0.2, 0.3, 0.4, 0.5];
        let w = array![[0.1, 0.2, -0.3, 0.4, 0.6], [1.0, 0.0, 0.0, 0.0, 0.0]];
        let b = array![
            [1.0, 1.0, 0.0, 0.5],
            [1.0, 0.0, 1.0, -1.0],
            [1.0, 0.0, 1.0, 2.0],
            [1.0, 0.0, 0.0, 0.0],
            [1.0, 1.0, 0.0, 1.5]
        ];
        let (fv, sv) = portfolio_variance(w.view(), styles.view(), ind.view(), lay, fc.view(), d.view()).unwrap();
        let x = factor_exposures(w.view(), styles.view(), ind.view(), lay).unwrap();
        for r in 0..2 {
            let xr = b.t().dot(&w.row(r));
            for k in 0..4 {
                assert!(close(x[[r, k]], xr[k], 1e-15));
            }
            let f = xr.dot(&fc.dot(&xr));
            let s: f64 = (0..5).map(|j| w[[r, j]] * w[[r, j]] * d[j]).sum();
            assert!(close(fv[r], f, 1e-14) && close(sv[r], s, 1e-14));
        }
        let bv = exposures_times(x.view(), styles.view(), ind.view(), lay).unwrap();
        let want = x.dot(&b.t());
        for (a, b) in bv.iter().zip(want.iter()) {
            assert!(close(*a, *b, 1e-14));
        }
        // NaN style on a held asset → NaN; on an unheld asset → ignored
        let mut st2 = styles.clone();
        st2[[3, 0]] = f64::NAN;
        let w2 = array![[0.1, 0.2, 0.3, 0.0, 0.1], [0.0, 0.0, 0.0, 1.0, 0.0]];
        let (fv2, _) = portfolio_variance(w2.view(), st2.view(), ind.view(), lay, fc.view(), d.view()).unwrap();
        assert!(fv2[0].is_finite() && fv2[1].is_nan());
        // bad codes
        let bad = array![0, 2, 1, -1, 0];
        assert!(factor_exposures(w.view(), styles.view(), bad.view(), lay).is_err());
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

    #[test]
    fn ewma_square_newey_west_hand_worked() {
        // λ = 0.5 (half-life 1), one lag (Bartlett weight 1/2), x = [1, 2, NaN, 3]:
        // t=1: Γ0 = (0.5·1 + 4)/1.5 = 3, Γ1 = 1·2/1 = 2 → 3 + 2·0.5·2 = 5
        // t=2 (NaN): both sums decay, the ratios stay: 5 again
        let x = ndarray::array![[1.0], [2.0], [f64::NAN], [3.0]];
        let (v, c) = ewma_square_nw(x.view(), 1.0, 1).unwrap();
        let (v0, _) = ewma_square(x.view(), 1.0).unwrap();
        assert!(close(v[[0, 0]], 1.0, 1e-15)); // no pair yet: Γ0
        assert!(close(v[[1, 0]], 5.0, 1e-15));
        assert!(close(v[[2, 0]], 5.0, 1e-15));
        // t=3: Γ0 = (0.125·1 + 0.25·4 + 9)/(0.125 + 0.25 + 1); Γ1 = 0.25·2/0.25 = 2 (the pair
        // (3, NaN) is skipped)
        let g0 = (0.125 + 1.0 + 9.0) / 1.375;
        assert!(close(v0[[3, 0]], g0, 1e-15));
        assert!(close(v[[3, 0]], g0 + 2.0, 1e-15));
        assert_eq!(c.column(0).to_vec(), vec![1, 2, 2, 3]);
        // strong negative autocorrelation: the adjusted value would be negative, Γ0 is kept
        let y = ndarray::array![[1.0], [-1.0], [1.0], [-1.0]];
        let (vy, _) = ewma_square_nw(y.view(), 1.0, 1).unwrap();
        let (vy0, _) = ewma_square(y.view(), 1.0).unwrap();
        assert!(close(vy[[3, 0]], vy0[[3, 0]], 0.0) && vy[[3, 0]] == 1.0);
    }

    #[test]
    fn specific_history_blend() {
        // 3 dates, 30 assets, 1 style; log σ = -3 + 0.2·style exactly for the assets with full
        // history (so the structural model m_j is exact and its smearing factor is 1). Asset 4
        // has residuals 2·m on dates 1-2 (h = 2), asset 5 has 3·m on date 2 only (h = 1); both
        // have no cap, so they are outside the structural fit. With min_periods 1 and
        // blend_periods 2 at t = 2: γ = 1 (h = 3), 0.5 (h = 2), 0 (h = 1).
        let (t, n) = (3, 30);
        let mut styles = Array3::<f64>::zeros((t, n, 1));
        let mut resid = Array2::<f64>::from_elem((t, n), f64::NAN);
        let industry = Array2::<i32>::from_elem((t, n), -1);
        let mut cap = Array2::<f64>::from_elem((t, n), 1.0);
        let m = |j: usize| (-3.0 + 0.2 * (j as f64 / 10.0 - 1.5)).exp();
        for d in 0..t {
            for j in 0..n {
                styles[[d, j, 0]] = j as f64 / 10.0 - 1.5;
                let v = match j {
                    4 if d >= 1 => 2.0 * m(j),
                    4 => f64::NAN,
                    5 if d == 2 => 3.0 * m(j),
                    5 => f64::NAN,
                    _ => m(j),
                };
                resid[[d, j]] = v;
            }
            cap[[d, 4]] = f64::NAN;
            cap[[d, 5]] = f64::NAN;
        }
        let s = SpecificSettings { half_life: 10.0, nw_lags: 0, min_periods: 1, blend_periods: 2, shrinkage: 0.0, n_groups: 10, ridge: 0.0 };
        let out = specific_variance(resid.view(), styles.view(), industry.view(), 0, cap.view(), &s).unwrap();
        let sig = |o: &SpecificOut, j: usize| o.var[[2, j]].sqrt();
        assert!(close(sig(&out, 4), 1.5 * m(4), 1e-12), "{}", sig(&out, 4) / m(4));
        assert!(close(sig(&out, 5), m(5), 1e-12));
        assert!(close(sig(&out, 7), m(7), 1e-12));
        assert_eq!((out.structural[[2, 4]], out.structural[[2, 5]], out.structural[[2, 7]]), (1, 1, 0));
        // blend_periods 0: the hard switch, every asset with history keeps its own estimate
        let s0 = SpecificSettings { blend_periods: 0, ..s };
        let out0 = specific_variance(resid.view(), styles.view(), industry.view(), 0, cap.view(), &s0).unwrap();
        assert!(close(sig(&out0, 4), 2.0 * m(4), 1e-12) && close(sig(&out0, 5), 3.0 * m(5), 1e-12));
        assert_eq!((out0.structural[[2, 4]], out0.structural[[2, 5]]), (0, 0));
    }

    #[test]
    fn specific_structural_and_shrinkage() {
        // 1 date, 30 assets, 1 style; log σ = -3 + 0.2·style exactly for assets with history.
        let n = 30;
        let t = 1;
        let mut styles = Array3::<f64>::zeros((t, n, 1));
        let mut resid = Array2::<f64>::from_elem((t, n), f64::NAN);
        let industry = Array2::<i32>::from_elem((t, n), -1);
        let cap = Array2::<f64>::from_elem((t, n), 1.0);
        for j in 0..n {
            let x = j as f64 / 10.0 - 1.5;
            styles[[0, j, 0]] = x;
            if j % 3 != 0 {
                resid[[0, j]] = (-3.0 + 0.2 * x).exp();
            }
        }
        let s = SpecificSettings { half_life: 10.0, nw_lags: 0, min_periods: 1, blend_periods: 0, shrinkage: 0.0, n_groups: 10, ridge: 1e-4 };
        let out = specific_variance(resid.view(), styles.view(), industry.view(), 0, cap.view(), &s).unwrap();
        for j in 0..n {
            let want = (-3.0 + 0.2 * styles[[0, j, 0]]).exp();
            assert!(close(out.var[[0, j]].sqrt(), want, 1e-12), "{j}");
            assert_eq!(out.structural[[0, j]], (j % 3 == 0) as u8);
        }
        // shrinkage pulls toward the group mean, not past it
        let s2 = SpecificSettings { shrinkage: 0.5, n_groups: 1, ..s };
        let out2 = specific_variance(resid.view(), styles.view(), industry.view(), 0, cap.view(), &s2).unwrap();
        let mean: f64 = (0..n).map(|j| out.var[[0, j]].sqrt()).sum::<f64>() / n as f64;
        for j in 0..n {
            let a = out.var[[0, j]].sqrt();
            let b = out2.var[[0, j]].sqrt();
            assert!((b - mean).abs() <= (a - mean).abs() + 1e-15);
        }
    }
}
