//! Products of Σ = B Σf Bᵀ + D with portfolios, B = [market | industry codes | styles] used as
//! codes (never one-hot, never N×N): factor exposures Bᵀw, portfolio factor and specific
//! variance, and B v. The factor order is [`Layout`]'s.

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis};
use rayon::prelude::*;

use super::check_codes;
use crate::error::Result;
use crate::parallel;
use crate::value_error;

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
            let v = w[r * n + j];
            // spelled as Python prints it (nan, inf, -inf), as the Python-side checks do
            let shown = if v.is_nan() { "nan" } else if v > 0.0 { "inf" } else { "-inf" };
            let bad = w.iter().filter(|x| !x.is_finite()).count();
            return Err(value_error!(
                "weights must be finite: portfolio {r} has {shown} at asset {j} ({bad} non-finite values)"
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
            if parallel::cancelled() {
                return; // the caller discards the whole result
            }
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
            if parallel::cancelled() {
                return; // the caller discards the whole result
            }
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
            if parallel::cancelled() {
                return; // the caller discards the whole result
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol * (1.0 + a.abs().max(b.abs()))
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
}
