//! Batched time-series OLS: one regression per asset of its returns on common factor returns,
//! with ragged histories, plain (nonrobust) or Bartlett-kernel Newey-West (HAC) covariance.
//!
//! For every asset `i` (column of `y`, `(T, N)`) the model is
//!
//! ```text
//! y_ti = [α_i] + Σ_k β_ik f_tk + e_ti,     t ∈ U_i,
//! ```
//!
//! where `U_i` are the rows on which `y_ti` and every factor `f_t·` are finite (rows missing for
//! the asset are dropped, so histories may start, stop and have holes). With `p` parameters
//! (`K + 1` with the intercept) and `n_i = |U_i|`:
//!
//! - `β̂ = (XᵀX)⁻¹ Xᵀy` (Cholesky of `XᵀX`; a numerically singular design gives NaN);
//! - nonrobust: `Cov = s² (XᵀX)⁻¹`, `s² = SSR / (n − p)`;
//! - HAC: `Cov = (XᵀX)⁻¹ S (XᵀX)⁻¹` with scores `s_t = x_t e_t` and
//!   `S = Σ_t s_t s_tᵀ + Σ_{j=1..L} (1 − j/(L+1)) Σ_t (s_t s_{t−j}ᵀ + s_{t−j} s_tᵀ)`, no
//!   small-sample correction. Lags count *used* rows: the asset's rows are taken consecutively
//!   after dropping missing ones, exactly as a regression on the asset's dropped data does
//!   (statsmodels' `OLS(..., missing="drop").fit(cov_type="HAC")`). The default `L` is
//!   `floor(4 (n_i/100)^(2/9))` per asset;
//! - `R² = 1 − SSR/SST` with SST centred with an intercept, uncentred without;
//!   `R²_adj = 1 − (n − c)/(n − p) (1 − R²)`, `c` = 1 with an intercept, else 0.
//!
//! Assets with fewer than `min_obs` used rows, or a singular design, give NaN outputs (and NaN
//! residuals); `nobs` is always reported.
//!
//! # Layout and speed
//! Work runs in parallel over groups of [`LANES`] adjacent assets. The assets of a group are
//! processed in lockstep, one date at a time, with the asset as the innermost (SIMD) dimension:
//! the factor row is shared, an unused row has weight 0 and contributes an exact 0 to every sum,
//! and the HAC lag buffer of an asset only shifts on its used rows (a select, not arithmetic).
//! So every sum is accumulated over the asset's own used rows in date order, exactly as a
//! sequential per-asset loop would, and each asset's result is bit-identical whatever its
//! neighbours, the grouping, or the number of threads. No fused multiply-add is used, so the
//! AVX path and the portable path agree bit for bit.

use ndarray::{Array1, Array2, Array3, ArrayView2, ArrayViewMut2, Axis};
use rayon::prelude::*;

use crate::error::Result;
use crate::linalg::Cholesky;
use crate::parallel;
use crate::value_error;

/// Assets processed together (the SIMD width of the inner loops).
pub const LANES: usize = 8;

type Lane = [f64; LANES];
const ZERO: Lane = [0.0; LANES];

/// The covariance estimator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cov {
    /// `s² (XᵀX)⁻¹`.
    NonRobust,
    /// Bartlett-kernel Newey-West, no small-sample correction.
    Hac,
}

impl Cov {
    pub fn parse(s: &str) -> Result<Cov> {
        match s {
            "nonrobust" => Ok(Cov::NonRobust),
            "hac" => Ok(Cov::Hac),
            _ => Err(value_error!("cov must be one of ['nonrobust', 'hac'], got {s:?}")),
        }
    }
}

/// The default Newey-West lags for `n` observations: `floor(4 (n/100)^(2/9))`.
pub fn default_lags(n: usize) -> usize {
    (4.0 * (n as f64 / 100.0).powf(2.0 / 9.0)).floor() as usize
}

/// Outputs of [`time_series_regress`]; `p` = parameters (intercept first when present).
#[derive(Debug, Clone)]
pub struct TsOutput {
    /// `(N, p)` estimates.
    pub params: Array2<f64>,
    /// `(N, p, p)` covariance of the estimates.
    pub cov: Array3<f64>,
    /// `(N,)` R², adjusted R², sum of squared residuals.
    pub r2: Array1<f64>,
    pub r2_adj: Array1<f64>,
    pub ssr: Array1<f64>,
    /// `(N,)` used rows per asset.
    pub nobs: Array1<i64>,
    /// `(N,)` HAC lags used per asset (0 for the nonrobust covariance).
    pub lags: Array1<i64>,
    /// `(T, N)` residuals, NaN on rows not used (and for assets without estimates).
    pub resid: Array2<f64>,
}

/// Per-asset results of one lane group (`nb ≤ LANES` assets).
struct GroupOut {
    params: Vec<f64>,
    cov: Vec<f64>,
    r2: Vec<f64>,
    r2_adj: Vec<f64>,
    ssr: Vec<f64>,
    nobs: Vec<i64>,
    lags: Vec<i64>,
    n_inf: usize,
}

/// Regress every column of `y` (T, N) on the factors `f` (T, K) (plus an intercept).
///
/// `lags`: `None` for the per-asset default ([`default_lags`]), ignored for `Cov::NonRobust`.
/// `min_obs` must be at least `p + 1`. Infinite values are an error (NaN marks missing).
pub fn time_series_regress(
    y: ArrayView2<'_, f64>,
    f: ArrayView2<'_, f64>,
    intercept: bool,
    cov: Cov,
    lags: Option<usize>,
    min_obs: usize,
) -> Result<TsOutput> {
    let (t_len, n) = y.dim();
    let (tf, k) = f.dim();
    if tf != t_len {
        return Err(value_error!(
            "factors have {tf} rows but y has {t_len}: one row of factor returns per date"
        ));
    }
    let p = k + intercept as usize;
    if p == 0 {
        return Err(value_error!("the regression has no parameters: give factors or intercept=True"));
    }
    if min_obs < p + 1 {
        return Err(value_error!(
            "min_obs must be at least the number of parameters + 1 ({}), got {min_obs}",
            p + 1
        ));
    }
    if f.iter().any(|v| v.is_infinite()) {
        return Err(value_error!("factors must not contain infinite values (NaN marks missing)"));
    }
    // The design rows, [1?, f_t], and whether every factor is finite on the row.
    let mut xrows = vec![0.0; t_len * p];
    let mut row_ok = vec![false; t_len];
    for (t, fr) in f.axis_iter(Axis(0)).enumerate() {
        let x = &mut xrows[t * p..(t + 1) * p];
        if intercept {
            x[0] = 1.0;
        }
        for (j, &v) in fr.iter().enumerate() {
            x[j + intercept as usize] = v;
        }
        row_ok[t] = fr.iter().all(|v| v.is_finite());
    }
    let setup = Setup { p, intercept, cov, lags, min_obs, xrows: &xrows, row_ok: &row_ok };

    let mut resid = Array2::<f64>::zeros((t_len, n));
    let n_groups = n.div_ceil(LANES);
    let outs: Vec<GroupOut> = if n == 0 {
        Vec::new()
    } else {
        (0..n_groups)
            .into_par_iter()
            .zip(resid.axis_chunks_iter_mut(Axis(1), LANES).into_par_iter())
            .map(|(g, out)| {
                let j0 = g * LANES;
                let nb = LANES.min(n - j0);
                if parallel::cancelled() {
                    return GroupOut::nan(nb, p); // the caller discards the whole result
                }
                let yv = y.slice(ndarray::s![.., j0..j0 + nb]);
                run_group(&setup, yv, out)
            })
            .collect()
    };
    let n_inf: usize = outs.iter().map(|o| o.n_inf).sum();
    if n_inf > 0 {
        return Err(value_error!(
            "y must not contain infinite values ({n_inf} found; NaN marks missing)"
        ));
    }
    let mut params = Vec::with_capacity(n * p);
    let mut covs = Vec::with_capacity(n * p * p);
    let (mut r2, mut r2_adj, mut ssr, mut nobs, mut lag_out) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for o in outs {
        params.extend(o.params);
        covs.extend(o.cov);
        r2.extend(o.r2);
        r2_adj.extend(o.r2_adj);
        ssr.extend(o.ssr);
        nobs.extend(o.nobs);
        lag_out.extend(o.lags);
    }
    let shape_err = |e: ndarray::ShapeError| value_error!("internal shape error: {e}");
    Ok(TsOutput {
        params: Array2::from_shape_vec((n, p), params).map_err(shape_err)?,
        cov: Array3::from_shape_vec((n, p, p), covs).map_err(shape_err)?,
        r2: Array1::from(r2),
        r2_adj: Array1::from(r2_adj),
        ssr: Array1::from(ssr),
        nobs: Array1::from(nobs),
        lags: Array1::from(lag_out),
        resid,
    })
}

struct Setup<'a> {
    p: usize,
    intercept: bool,
    cov: Cov,
    lags: Option<usize>,
    min_obs: usize,
    xrows: &'a [f64],
    row_ok: &'a [bool],
}

impl GroupOut {
    fn nan(nb: usize, p: usize) -> GroupOut {
        GroupOut {
            params: vec![f64::NAN; nb * p],
            cov: vec![f64::NAN; nb * p * p],
            r2: vec![f64::NAN; nb],
            r2_adj: vec![f64::NAN; nb],
            ssr: vec![f64::NAN; nb],
            nobs: vec![0; nb],
            lags: vec![0; nb],
            n_inf: 0,
        }
    }
}

/// One lane group: dispatch to the AVX build of the kernel when the CPU has it.
fn run_group(s: &Setup<'_>, y: ArrayView2<'_, f64>, out: ArrayViewMut2<'_, f64>) -> GroupOut {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx") {
            // SAFETY: the CPU supports AVX (checked just above).
            return unsafe { group_avx(s, y, out) };
        }
    }
    group(s, y, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
unsafe fn group_avx(s: &Setup<'_>, y: ArrayView2<'_, f64>, out: ArrayViewMut2<'_, f64>) -> GroupOut {
    group(s, y, out)
}

/// The lanes of row `t` of `y` (nb ≤ LANES columns), zero-padded, and whether each is used.
#[inline(always)]
fn load_row(y: &ArrayView2<'_, f64>, t: usize, nb: usize, n_inf: &mut usize) -> (Lane, [bool; LANES]) {
    let mut v = ZERO;
    let mut m = [false; LANES];
    let row = y.row(t);
    for l in 0..nb {
        let x = row[l];
        *n_inf += x.is_infinite() as usize;
        m[l] = x.is_finite();
        v[l] = if m[l] { x } else { 0.0 };
    }
    (v, m)
}

#[inline(always)]
fn group(s: &Setup<'_>, y: ArrayView2<'_, f64>, mut out: ArrayViewMut2<'_, f64>) -> GroupOut {
    let p = s.p;
    let (t_len, nb) = y.dim();
    let mut n_inf = 0usize;
    let npp = p * (p + 1) / 2;

    // ---- pass 1: XᵀX (upper triangle), Xᵀy, Σy, Σy², counts -----------------------------
    let mut xtx = vec![ZERO; npp];
    let mut xty = vec![ZERO; p];
    let mut sy = ZERO;
    let mut syy = ZERO;
    let mut cnt = [0usize; LANES];
    let mut xx = vec![0.0; npp];
    for t in 0..t_len {
        let (yv, m) = load_row(&y, t, nb, &mut n_inf);
        if !s.row_ok[t] {
            continue;
        }
        let x = &s.xrows[t * p..(t + 1) * p];
        let mut mf = ZERO;
        for l in 0..LANES {
            mf[l] = if m[l] { 1.0 } else { 0.0 };
            cnt[l] += m[l] as usize;
        }
        let mut q = 0;
        for a in 0..p {
            for b in a..p {
                xx[q] = x[a] * x[b];
                q += 1;
            }
        }
        for (acc, &v) in xtx.iter_mut().zip(xx.iter()) {
            for l in 0..LANES {
                acc[l] += mf[l] * v;
            }
        }
        for (acc, &xa) in xty.iter_mut().zip(x.iter()) {
            for l in 0..LANES {
                acc[l] += xa * yv[l];
            }
        }
        for l in 0..LANES {
            sy[l] += yv[l];
            syy[l] += yv[l] * yv[l];
        }
    }

    // ---- per asset: solve --------------------------------------------------------------
    let mut beta = vec![ZERO; p];
    let mut ybar = ZERO;
    let mut valid = [false; LANES];
    let mut inverses: Vec<Option<Vec<f64>>> = vec![None; LANES];
    let mut lag_of = [0usize; LANES];
    let mut a_full = vec![0.0; p * p];
    let mut b_vec = vec![0.0; p];
    for l in 0..nb {
        if cnt[l] < s.min_obs {
            continue;
        }
        let mut q = 0;
        for a in 0..p {
            for b in a..p {
                a_full[a * p + b] = xtx[q][l];
                a_full[b * p + a] = xtx[q][l];
                q += 1;
            }
            b_vec[a] = xty[a][l];
        }
        let Some(ch) = Cholesky::new(&a_full, p) else { continue };
        ch.solve_in_place(&mut b_vec);
        for a in 0..p {
            beta[a][l] = b_vec[a];
        }
        inverses[l] = Some(ch.inverse());
        valid[l] = true;
        ybar[l] = sy[l] / cnt[l] as f64;
        lag_of[l] = match s.cov {
            Cov::NonRobust => 0,
            Cov::Hac => s.lags.unwrap_or_else(|| default_lags(cnt[l])),
        };
    }

    // ---- pass 2: residuals, SSR, SST, HAC scores ---------------------------------------
    let hac = s.cov == Cov::Hac;
    let lmax = if hac { lag_of.iter().copied().max().unwrap_or(0) } else { 0 };
    // Bartlett weights per lag and lane (0 beyond the lane's own lags).
    let mut wts = vec![ZERO; lmax];
    for (j, w) in wts.iter_mut().enumerate() {
        for l in 0..nb {
            let lj = lag_of[l];
            if j < lj {
                w[l] = 1.0 - (j + 1) as f64 / (lj + 1) as f64;
            }
        }
    }
    let mut ssr = ZERO;
    let mut sst = ZERO;
    let mut bmat = vec![ZERO; if hac { p * p } else { 0 }];
    let mut ring = vec![ZERO; lmax * p]; // ring[j*p + a]: score of the (j+1)-th previous used row
    let mut sc = vec![ZERO; p];
    let mut u = vec![ZERO; p];
    let centre = s.intercept;
    for t in 0..t_len {
        let (yv, m) = load_row(&y, t, nb, &mut n_inf);
        let mut orow = out.row_mut(t);
        if !s.row_ok[t] {
            for l in 0..nb {
                orow[l] = f64::NAN;
            }
            continue;
        }
        let x = &s.xrows[t * p..(t + 1) * p];
        let mut e = yv;
        for (bv, &xa) in beta.iter().zip(x.iter()) {
            for l in 0..LANES {
                e[l] -= xa * bv[l];
            }
        }
        let mut used = [false; LANES];
        for l in 0..LANES {
            used[l] = m[l] & valid[l];
            e[l] = if used[l] { e[l] } else { 0.0 };
        }
        for l in 0..nb {
            orow[l] = if used[l] { e[l] } else { f64::NAN };
        }
        for l in 0..LANES {
            ssr[l] += e[l] * e[l];
            let d = if used[l] { if centre { yv[l] - ybar[l] } else { yv[l] } } else { 0.0 };
            sst[l] += d * d;
        }
        if hac {
            // s_t = x_t e_t; z_t = Σ_j w_j s_{t−j}; u = s/2 + z; B += s uᵀ.
            for (sa, &xa) in sc.iter_mut().zip(x.iter()) {
                for l in 0..LANES {
                    sa[l] = xa * e[l];
                }
            }
            for a in 0..p {
                let mut z = ZERO;
                for j in 0..lmax {
                    let r = &ring[j * p + a];
                    let w = &wts[j];
                    for l in 0..LANES {
                        z[l] += w[l] * r[l];
                    }
                }
                for l in 0..LANES {
                    u[a][l] = 0.5 * sc[a][l] + z[l];
                }
            }
            for a in 0..p {
                let sa = sc[a];
                for b in 0..p {
                    let ub = &u[b];
                    let acc = &mut bmat[a * p + b];
                    for l in 0..LANES {
                        acc[l] += sa[l] * ub[l];
                    }
                }
            }
            // Shift the lag buffer of the lanes that used this row.
            if lmax > 0 {
                for j in (1..lmax).rev() {
                    for a in 0..p {
                        let prev = ring[(j - 1) * p + a];
                        let cur = &mut ring[j * p + a];
                        for l in 0..LANES {
                            cur[l] = if used[l] { prev[l] } else { cur[l] };
                        }
                    }
                }
                for a in 0..p {
                    let cur = &mut ring[a];
                    for l in 0..LANES {
                        cur[l] = if used[l] { sc[a][l] } else { cur[l] };
                    }
                }
            }
        }
    }
    let _ = syy;

    // ---- per asset: covariance and fit statistics --------------------------------------
    let mut o = GroupOut::nan(nb, p);
    for l in 0..nb {
        o.nobs[l] = cnt[l] as i64;
        o.lags[l] = lag_of[l] as i64;
        let (true, Some(inv)) = (valid[l], inverses[l].as_ref()) else {
            // no estimate: every residual of the asset is NaN
            for t in 0..t_len {
                out[[t, l]] = f64::NAN;
            }
            continue;
        };
        let n_obs = cnt[l] as f64;
        let df = n_obs - p as f64;
        for a in 0..p {
            o.params[l * p + a] = beta[a][l];
        }
        let c = &mut o.cov[l * p * p..(l + 1) * p * p];
        if hac {
            let mut meat = vec![0.0; p * p];
            for a in 0..p {
                for b in 0..p {
                    meat[a * p + b] = bmat[a * p + b][l] + bmat[b * p + a][l];
                }
            }
            sandwich(inv, &meat, p, c);
        } else {
            let s2 = ssr[l] / df;
            for (ci, &vi) in c.iter_mut().zip(inv.iter()) {
                *ci = s2 * vi;
            }
        }
        o.ssr[l] = ssr[l];
        let r2 = if sst[l] > 0.0 { 1.0 - ssr[l] / sst[l] } else { f64::NAN };
        o.r2[l] = r2;
        let k_const = if s.intercept { 1.0 } else { 0.0 };
        o.r2_adj[l] = 1.0 - (n_obs - k_const) / df * (1.0 - r2);
    }
    o.n_inf = n_inf;
    o
}

/// `c = A M A` for symmetric `A` and `M` (p × p, row-major), symmetrised exactly.
fn sandwich(a: &[f64], m: &[f64], p: usize, c: &mut [f64]) {
    let mut am = vec![0.0; p * p];
    for i in 0..p {
        for j in 0..p {
            let mut v = 0.0;
            for k in 0..p {
                v += a[i * p + k] * m[k * p + j];
            }
            am[i * p + j] = v;
        }
    }
    for i in 0..p {
        for j in 0..p {
            let mut v = 0.0;
            for k in 0..p {
                v += am[i * p + k] * a[k * p + j];
            }
            c[i * p + j] = v;
        }
    }
    for i in 0..p {
        for j in 0..i {
            let v = 0.5 * (c[i * p + j] + c[j * p + i]);
            c[i * p + j] = v;
            c[j * p + i] = v;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    /// A small deterministic pseudo-random generator (no dependency).
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> f64 {
            self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((self.0 >> 11) as f64) / ((1u64 << 53) as f64) - 0.5
        }
    }

    /// Plain per-asset reference: drop missing rows, normal equations, explicit Γ_j sums.
    fn reference(y: &[f64], f: &Array2<f64>, intercept: bool, lags: Option<usize>) -> (Vec<f64>, Vec<f64>, f64) {
        let (t_len, k) = f.dim();
        let p = k + intercept as usize;
        let mut xs = Vec::new();
        let mut ys = Vec::new();
        for t in 0..t_len {
            if y[t].is_finite() && f.row(t).iter().all(|v| v.is_finite()) {
                let mut row = Vec::new();
                if intercept {
                    row.push(1.0);
                }
                row.extend(f.row(t).iter());
                xs.push(row);
                ys.push(y[t]);
            }
        }
        let n = ys.len();
        let mut a = vec![0.0; p * p];
        let mut b = vec![0.0; p];
        for (x, &yy) in xs.iter().zip(&ys) {
            for i in 0..p {
                b[i] += x[i] * yy;
                for j in 0..p {
                    a[i * p + j] += x[i] * x[j];
                }
            }
        }
        let ch = Cholesky::new(&a, p).unwrap();
        ch.solve_in_place(&mut b);
        let inv = ch.inverse();
        let e: Vec<f64> = xs
            .iter()
            .zip(&ys)
            .map(|(x, &yy)| yy - (0..p).map(|i| x[i] * b[i]).sum::<f64>())
            .collect();
        let ssr: f64 = e.iter().map(|v| v * v).sum();
        let mut c = vec![0.0; p * p];
        match lags {
            None => {
                let s2 = ssr / (n - p) as f64;
                for i in 0..p * p {
                    c[i] = s2 * inv[i];
                }
            }
            Some(l) => {
                let s: Vec<Vec<f64>> = xs.iter().zip(&e).map(|(x, &ee)| x.iter().map(|v| v * ee).collect()).collect();
                let mut m = vec![0.0; p * p];
                for j in 0..=l.min(n - 1) {
                    let w = if j == 0 { 1.0 } else { 1.0 - j as f64 / (l + 1) as f64 };
                    for t in j..n {
                        for a_ in 0..p {
                            for b_ in 0..p {
                                let g = s[t][a_] * s[t - j][b_];
                                m[a_ * p + b_] += w * g;
                                if j > 0 {
                                    m[b_ * p + a_] += w * g;
                                }
                            }
                        }
                    }
                }
                sandwich(&inv, &m, p, &mut c);
            }
        }
        (b, c, ssr)
    }

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol * a.abs().max(b.abs()).max(1e-300)
    }

    fn data(t_len: usize, n: usize, k: usize, seed: u64) -> (Array2<f64>, Array2<f64>) {
        let mut g = Lcg(seed);
        let f = Array2::from_shape_fn((t_len, k), |_| 0.02 * g.next());
        let mut y = Array2::from_shape_fn((t_len, n), |_| 0.0);
        for i in 0..n {
            let betas: Vec<f64> = (0..k).map(|_| 1.0 + g.next()).collect();
            let start = (i * 7) % 20;
            let end = t_len - (i * 3) % 15;
            for t in 0..t_len {
                let fit: f64 = (0..k).map(|j| betas[j] * f[[t, j]]).sum();
                y[[t, i]] = if t < start || t >= end || g.next() > 0.45 {
                    f64::NAN
                } else {
                    0.001 + fit + 0.01 * g.next()
                };
            }
        }
        (y, f)
    }

    #[test]
    fn matches_the_per_asset_reference_on_ragged_histories() {
        let (y, mut f) = data(120, 11, 3, 7);
        f[[5, 1]] = f64::NAN; // a missing factor row drops the date for every asset
        for (cov, lags) in [(Cov::NonRobust, None), (Cov::Hac, Some(4)), (Cov::Hac, None)] {
            let out = time_series_regress(y.view(), f.view(), true, cov, lags, 5).unwrap();
            for i in 0..11 {
                let col: Vec<f64> = y.column(i).to_vec();
                let n_used = (0..120).filter(|&t| col[t].is_finite() && t != 5).count();
                assert_eq!(out.nobs[i] as usize, n_used);
                let l = match cov {
                    Cov::NonRobust => None,
                    Cov::Hac => Some(lags.unwrap_or(default_lags(n_used))),
                };
                let (b, c, ssr) = reference(&col, &f, true, l);
                for a in 0..4 {
                    assert!(close(out.params[[i, a]], b[a], 1e-12), "{cov:?} {i} {a}");
                    for bb in 0..4 {
                        assert!(close(out.cov[[i, a, bb]], c[a * 4 + bb], 1e-10), "{cov:?} {i} {a} {bb}");
                    }
                }
                assert!(close(out.ssr[i], ssr, 1e-12));
                // residuals where used, NaN elsewhere
                for t in 0..120 {
                    let r = out.resid[[t, i]];
                    assert_eq!(r.is_finite(), col[t].is_finite() && t != 5);
                }
            }
        }
    }

    #[test]
    fn too_few_rows_or_singular_give_nan() {
        let (mut y, f) = data(40, 3, 2, 3);
        for t in 0..40 {
            if t > 3 {
                y[[t, 0]] = f64::NAN; // 4 rows or fewer < min_obs
            }
            y[[t, 2]] = f64::NAN;
        }
        let out = time_series_regress(y.view(), f.view(), true, Cov::NonRobust, None, 5).unwrap();
        assert!(out.params.row(0).iter().all(|v| v.is_nan()));
        assert!(out.params.row(2).iter().all(|v| v.is_nan()) && out.nobs[2] == 0);
        assert!(out.params.row(1).iter().all(|v| v.is_finite()));
        assert!(out.resid.column(0).iter().all(|v| v.is_nan()));
        // a constant factor collinear with the intercept: singular → NaN
        let fc = Array2::from_elem((40, 1), 0.5);
        let out = time_series_regress(y.view(), fc.view(), true, Cov::Hac, Some(2), 4).unwrap();
        assert!(out.params.row(1).iter().all(|v| v.is_nan()));
        assert_eq!(out.nobs[1] as usize, y.column(1).iter().filter(|v| v.is_finite()).count());
    }

    #[test]
    fn bad_input_is_an_error() {
        let (mut y, f) = data(30, 2, 2, 1);
        assert!(time_series_regress(y.view(), f.view(), true, Cov::NonRobust, None, 3).is_err());
        let f2 = Array2::<f64>::zeros((29, 2));
        assert!(time_series_regress(y.view(), f2.view(), true, Cov::NonRobust, None, 4).is_err());
        y[[3, 1]] = f64::INFINITY;
        let e = time_series_regress(y.view(), f.view(), true, Cov::NonRobust, None, 4).unwrap_err();
        assert!(e.to_string().contains("infinite"));
        assert!(Cov::parse("HAC").is_err());
    }

    #[test]
    fn no_intercept_and_thread_count_independence() {
        let (y, f) = data(200, 37, 4, 11);
        let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
        let two = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        let a = one.install(|| time_series_regress(y.view(), f.view(), false, Cov::Hac, Some(3), 6).unwrap());
        let b = two.install(|| time_series_regress(y.view(), f.view(), false, Cov::Hac, Some(3), 6).unwrap());
        assert_eq!(a.params.as_slice().unwrap(), b.params.as_slice().unwrap());
        assert_eq!(a.cov.as_slice().unwrap(), b.cov.as_slice().unwrap());
        for i in 0..37 {
            let col: Vec<f64> = y.column(i).to_vec();
            let (bb, c, _) = reference(&col, &f, false, Some(3));
            for j in 0..4 {
                assert!(close(a.params[[i, j]], bb[j], 1e-12));
                assert!(close(a.cov[[i, j, j]], c[j * 4 + j], 1e-10));
            }
        }
        // An asset's result does not depend on its neighbours in the lane group.
        let single = time_series_regress(y.slice(ndarray::s![.., 9..10]), f.view(), false, Cov::Hac, Some(3), 6).unwrap();
        assert_eq!(single.params.row(0), a.params.row(9));
        assert_eq!(single.cov.index_axis(Axis(0), 0), a.cov.index_axis(Axis(0), 9));
    }

    #[test]
    fn default_lags_rule() {
        assert_eq!(default_lags(100), 4);
        assert_eq!(default_lags(2520), 8);
        assert_eq!(default_lags(819), 6);
    }
}
