//! Specific variance: per-asset EWMA of squared residuals (optionally Newey-West adjusted),
//! blended with a structural model for short histories, and Bayesian shrinkage toward cap-group
//! means ([`specific_variance`]). Conventions: see [`crate::risk`].

use ndarray::{s, Array2, ArrayView1, ArrayView2, ArrayView3, Axis};
use rayon::prelude::*;

use super::{bartlett, check_codes, decay};
use crate::error::Result;
use crate::linalg::Cholesky;
use crate::parallel;
use crate::value_error;

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
    ewma_square_nw_resume(x, half_life, lags, None).map(|(v, c, _)| (v, c))
}

/// Rows of the recursion state of [`ewma_square_nw_resume`] for `lags` Newey-West lags.
pub fn ewma_state_rows(lags: usize) -> usize {
    3 + 3 * lags
}

/// [`ewma_square_nw`] resumed from a carried state, returning the state after the last row.
///
/// The state is a `(3 + 3·lags, N)` array (N = columns of `x`), per column: row 0 the decayed
/// sum of squares, row 1 the decayed weight, row 2 the count of finite values (an integer), rows
/// `3 + (l−1)` and `3 + lags + (l−1)` the decayed cross-product sum and weight of lag `l`, and
/// the last `lags` rows the last `lags` values of `x` seen (oldest first, NaN before the first
/// row). `None` is the state before any row (zeros, NaN values). Running rows `[0, a)` and then
/// rows `[a, T)` from the returned state gives exactly (bit for bit) one pass over `[0, T)`:
/// the recursion performs the same operations in the same order.
pub fn ewma_square_nw_resume(
    x: ArrayView2<f64>,
    half_life: f64,
    lags: usize,
    state: Option<ArrayView2<f64>>,
) -> Result<(Array2<f64>, Array2<u32>, Array2<f64>)> {
    let lambda = decay("specific_half_life", half_life)?;
    let (t_len, n) = x.dim();
    let rows = ewma_state_rows(lags);
    let fresh;
    let st = match state {
        Some(st) => {
            check_state(st, lags, n)?;
            st
        }
        None => {
            let mut z = Array2::<f64>::zeros((rows, n));
            z.slice_mut(s![3 + 2 * lags.., ..]).fill(f64::NAN);
            fresh = z;
            fresh.view()
        }
    };
    let mut var = Array2::<f64>::zeros((t_len, n));
    let mut cnt = Array2::<u32>::zeros((t_len, n));
    let mut out_state = Array2::<f64>::zeros((rows, n));
    const BLOCK: usize = 256;
    var.axis_chunks_iter_mut(Axis(1), BLOCK)
        .into_par_iter()
        .zip(cnt.axis_chunks_iter_mut(Axis(1), BLOCK).into_par_iter())
        .zip(out_state.axis_chunks_iter_mut(Axis(1), BLOCK).into_par_iter())
        .enumerate()
        .for_each(|(b, ((mut v, mut c), mut so))| {
            let lo = b * BLOCK;
            let w = v.ncols();
            let mut num: Vec<f64> = st.slice(s![0, lo..lo + w]).to_vec();
            let mut den: Vec<f64> = st.slice(s![1, lo..lo + w]).to_vec();
            let mut k: Vec<u32> = st.slice(s![2, lo..lo + w]).iter().map(|&c| c as u32).collect();
            // lag l = 1..=lags at index (l - 1) * w + j
            let mut lnum: Vec<f64> = st.slice(s![3..3 + lags, lo..lo + w]).iter().copied().collect();
            let mut lden: Vec<f64> = st.slice(s![3 + lags..3 + 2 * lags, lo..lo + w]).iter().copied().collect();
            let tail = st.slice(s![3 + 2 * lags.., lo..lo + w]);
            // x[t - l, j]: from x when t >= l, else from the carried values (row lags - l + t)
            let lagged = |t: usize, l: usize, j: usize| -> f64 {
                if t >= l {
                    x[[t - l, lo + j]]
                } else {
                    tail[[lags + t - l, j]]
                }
            };
            for t in 0..t_len {
                if parallel::cancelled() {
                    return; // the caller discards the whole result
                }
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
                        let xl = lagged(t, l, j);
                        if xv.is_finite() && xl.is_finite() {
                            lnum[i] += xv * xl;
                            lden[i] += 1.0;
                        }
                        if lden[i] > 0.0 {
                            adj += 2.0 * bartlett(l, lags) * lnum[i] / lden[i];
                        }
                    }
                    v[[t, j]] = if lags == 0 || !(adj > 0.0) { g0 } else { adj };
                    c[[t, j]] = k[j];
                }
            }
            for j in 0..w {
                so[[0, j]] = num[j];
                so[[1, j]] = den[j];
                so[[2, j]] = k[j] as f64;
                for l in 0..lags {
                    so[[3 + l, j]] = lnum[l * w + j];
                    so[[3 + lags + l, j]] = lden[l * w + j];
                    // the value `lags - i` rows before the end: x[t_len - lags + i]
                    let back = lags - l; // rows before the end, lags..=1
                    so[[3 + 2 * lags + l, j]] =
                        if t_len >= back { x[[t_len - back, lo + j]] } else { tail[[lags + t_len - back, j]] };
                }
            }
        });
    Ok((var, cnt, out_state))
}

fn check_state(st: ArrayView2<f64>, lags: usize, n: usize) -> Result<()> {
    let rows = ewma_state_rows(lags);
    if st.dim() != (rows, n) {
        return Err(value_error!(
            "state has shape {:?}, expected ({rows}, {n}) (3 + 3 * nw_lags rows, one column per asset)",
            st.dim()
        ));
    }
    // What one pass can carry: the decayed sum of squares is >= 0, and +inf once a square
    // overflowed (residuals around 1e154 and beyond); the lag cross-product sums are any value
    // (±inf, or NaN from inf − inf, after such an overflow); the decayed weights are finite and
    // >= 0 and the counts whole numbers. A resumed run must carry these on exactly as one pass.
    let sums_ok = st.row(0).iter().all(|&v| v >= 0.0);
    let weights_ok = st.row(1).iter().all(|&v| v.is_finite() && v >= 0.0)
        && st.slice(s![3 + lags..3 + 2 * lags, ..]).iter().all(|&v| v.is_finite() && v >= 0.0);
    let counts_ok = st.row(2).iter().all(|&c| c >= 0.0 && c <= u32::MAX as f64 && c.fract() == 0.0);
    if !(sums_ok && weights_ok && counts_ok) {
        return Err(value_error!(
            "state is not a state of this recursion (sums of squares >= 0, weights finite and >= 0, counts whole numbers >= 0)"
        ));
    }
    Ok(())
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
    specific_variance_resume(residuals, styles, industry, n_industries, cap, s, None).map(|(o, _)| o)
}

/// [`specific_variance`] over a run of dates resumed from the recursion state of the dates
/// before it (`None`: no date before), returning the state after its last date (see
/// [`ewma_square_nw_resume`] for the layout). Everything but the EWMA recursion is per date, so
/// running the dates `[0, a)` and then `[a, T)` from the returned state gives exactly one pass
/// over `[0, T)`; the state holds `3 + 3·nw_lags` numbers per asset.
pub fn specific_variance_resume(
    residuals: ArrayView2<f64>,
    styles: ArrayView3<f64>,
    industry: ArrayView2<i32>,
    n_industries: usize,
    cap: ArrayView2<f64>,
    s: &SpecificSettings,
    state: Option<ArrayView2<f64>>,
) -> Result<(SpecificOut, Array2<f64>)> {
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
    let (ewma_var, n_obs, state_out) = ewma_square_nw_resume(residuals, s.half_life, s.nw_lags, state)?;
    let mut var = Array2::<f64>::from_elem((t_len, n), f64::NAN);
    let mut structural = Array2::<u8>::zeros((t_len, n));
    var.axis_iter_mut(Axis(0))
        .into_par_iter()
        .zip(structural.axis_iter_mut(Axis(0)).into_par_iter())
        .enumerate()
        .for_each(|(t, (mut out, mut flag))| {
            if parallel::cancelled() {
                return; // the caller discards the whole result
            }
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
    Ok((SpecificOut { var, ewma_var, n_obs, structural }, state_out))
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
            // A style that is zero on every fitted asset (e.g. a style not yet defined on this
            // date) has a zero row and column: its coefficient is 0, as the minimum-norm
            // least-squares solution gives it, instead of a singular system and no fallback.
            for r in 1 + g..p {
                if a[r * p + r] == 0.0 {
                    a[r * p + r] = 1.0;
                }
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

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, Array3};

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

    /// Residuals with NaN runs (late listing, a gap, an all-NaN date) for the resume tests.
    fn ragged(t: usize, n: usize) -> Array2<f64> {
        Array2::from_shape_fn((t, n), |(d, j)| {
            let v = ((d * 31 + j * 17) % 23) as f64 / 23.0 - 0.4;
            let listed = d >= j % 5 && !(d % 11 == 3 && j % 2 == 0) && d != 9;
            if listed { 0.01 * v } else { f64::NAN }
        })
    }

    #[test]
    fn ewma_resume_two_halves_equal_one_pass() {
        let x = ragged(40, 300); // 300 columns: two parallel column blocks
        for lags in [0usize, 1, 3] {
            let (v, c, st) = ewma_square_nw_resume(x.view(), 7.0, lags, None).unwrap();
            let (v1, c1) = ewma_square_nw(x.view(), 7.0, lags).unwrap();
            assert!(v.iter().zip(v1.iter()).all(|(a, b)| a.to_bits() == b.to_bits()));
            assert_eq!(c, c1);
            assert_eq!(st.dim(), (ewma_state_rows(lags), 300));
            // cuts inside the lag reach (1, 2) and beyond it, and an empty half
            for cut in [0usize, 1, 2, 9, 10, 25, 40] {
                let (va, ca, sa) = ewma_square_nw_resume(x.slice(s![..cut, ..]), 7.0, lags, None).unwrap();
                let (vb, cb, sb) = ewma_square_nw_resume(x.slice(s![cut.., ..]), 7.0, lags, Some(sa.view())).unwrap();
                let both = ndarray::concatenate(Axis(0), &[va.view(), vb.view()]).unwrap();
                assert!(both.iter().zip(v.iter()).all(|(a, b)| a.to_bits() == b.to_bits()), "lags {lags} cut {cut}");
                assert_eq!(ndarray::concatenate(Axis(0), &[ca.view(), cb.view()]).unwrap(), c);
                assert!(sb.iter().zip(st.iter()).all(|(a, b)| a.to_bits() == b.to_bits()), "state, lags {lags} cut {cut}");
            }
            // three pieces, the middle one shorter than the lags
            let (_, _, s1) = ewma_square_nw_resume(x.slice(s![..20, ..]), 7.0, lags, None).unwrap();
            let (v2, _, s2) = ewma_square_nw_resume(x.slice(s![20..21, ..]), 7.0, lags, Some(s1.view())).unwrap();
            let (v3, _, _) = ewma_square_nw_resume(x.slice(s![21.., ..]), 7.0, lags, Some(s2.view())).unwrap();
            assert!(v2.iter().zip(v.slice(s![20..21, ..]).iter()).all(|(a, b)| a.to_bits() == b.to_bits()));
            assert!(v3.iter().zip(v.slice(s![21.., ..]).iter()).all(|(a, b)| a.to_bits() == b.to_bits()));
        }
    }

    #[test]
    fn ewma_resume_refuses_a_bad_state() {
        let x = ragged(5, 4);
        let bad_shape = Array2::<f64>::zeros((3, 4));
        assert!(ewma_square_nw_resume(x.view(), 5.0, 1, Some(bad_shape.view())).is_err());
        let mut st = Array2::<f64>::zeros((6, 4));
        st[[2, 0]] = 1.5; // a count that is not a whole number
        assert!(ewma_square_nw_resume(x.view(), 5.0, 1, Some(st.view())).is_err());
        st[[2, 0]] = 1.0;
        st[[1, 1]] = -1.0; // a negative weight
        assert!(ewma_square_nw_resume(x.view(), 5.0, 1, Some(st.view())).is_err());
        st[[1, 1]] = 0.0;
        st[[5, 3]] = f64::NAN; // carried values may be missing
        assert!(ewma_square_nw_resume(x.view(), 5.0, 1, Some(st.view())).is_ok());
        st[[0, 2]] = -1.0; // a negative sum of squares
        assert!(ewma_square_nw_resume(x.view(), 5.0, 1, Some(st.view())).is_err());
        st[[0, 2]] = f64::NAN;
        assert!(ewma_square_nw_resume(x.view(), 5.0, 1, Some(st.view())).is_err());
    }

    #[test]
    fn ewma_resume_carries_an_overflowed_sum_like_one_pass() {
        // a residual of 1e200 makes the sum of squares +inf and, with lags, the cross products
        // ±inf/NaN: the resumed run must accept that state and give the one-pass values
        let mut x = ragged(12, 3);
        x[[4, 0]] = 1e200;
        x[[5, 0]] = -1e200;
        x[[6, 1]] = 1e200;
        for lags in [0usize, 2] {
            let (v, _, _) = ewma_square_nw_resume(x.view(), 4.0, lags, None).unwrap();
            for cut in [5usize, 7, 9] {
                let (va, _, sa) = ewma_square_nw_resume(x.slice(s![..cut, ..]), 4.0, lags, None).unwrap();
                let (vb, _, _) = ewma_square_nw_resume(x.slice(s![cut.., ..]), 4.0, lags, Some(sa.view())).unwrap();
                let both = ndarray::concatenate(Axis(0), &[va.view(), vb.view()]).unwrap();
                assert!(both.iter().zip(v.iter()).all(|(a, b)| a.to_bits() == b.to_bits()), "lags {lags} cut {cut}");
            }
        }
    }

    #[test]
    fn specific_resume_two_halves_equal_one_pass() {
        let (t, n) = (30, 40);
        let resid = ragged(t, n);
        let styles = Array3::from_shape_fn((t, n, 2), |(d, j, k)| {
            if d == 9 && j % 3 == 0 { f64::NAN } else { ((j * 7 + k * 3 + d) % 13) as f64 / 6.0 - 1.0 }
        });
        let industry = Array2::from_shape_fn((t, n), |(_, j)| if j % 9 == 0 { -1 } else { (j % 3) as i32 });
        let cap = Array2::from_shape_fn((t, n), |(d, j)| if (d + j) % 17 == 0 { f64::NAN } else { 1.0 + j as f64 });
        for nw_lags in [0usize, 2] {
            let s = SpecificSettings { half_life: 6.0, nw_lags, min_periods: 4, blend_periods: 5, shrinkage: 0.2, n_groups: 3, ridge: 1e-4 };
            let one = specific_variance(resid.view(), styles.view(), industry.view(), 3, cap.view(), &s).unwrap();
            assert!(one.structural.iter().any(|&f| f == 1) && one.var.iter().any(|v| v.is_finite()));
            for cut in [1usize, 2, 10, 29] {
                let (a, sa) = specific_variance_resume(resid.slice(s![..cut, ..]), styles.slice(s![..cut, .., ..]),
                    industry.slice(s![..cut, ..]), 3, cap.slice(s![..cut, ..]), &s, None).unwrap();
                let (b, _) = specific_variance_resume(resid.slice(s![cut.., ..]), styles.slice(s![cut.., .., ..]),
                    industry.slice(s![cut.., ..]), 3, cap.slice(s![cut.., ..]), &s, Some(sa.view())).unwrap();
                for (part, whole) in [(&a.var, one.var.slice(s![..cut, ..])), (&b.var, one.var.slice(s![cut.., ..])),
                                      (&a.ewma_var, one.ewma_var.slice(s![..cut, ..])), (&b.ewma_var, one.ewma_var.slice(s![cut.., ..]))] {
                    assert!(part.iter().zip(whole.iter()).all(|(x, y)| x.to_bits() == y.to_bits()), "nw {nw_lags} cut {cut}");
                }
                assert_eq!(b.n_obs, one.n_obs.slice(s![cut.., ..]));
                assert_eq!(b.structural, one.structural.slice(s![cut.., ..]));
            }
        }
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
