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
    /// The assets ordered by industry slot (assets without an industry in the last slot, `G`),
    /// each slot's assets in asset order, and where each slot starts (`G + 2` bounds).
    order: Vec<u32>,
    seg: Vec<usize>,
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
    // counting sort of the assets by slot (stable)
    let gn = lay.n_industries;
    let slot = |g: i32| if g >= 0 { g as usize } else { gn };
    let mut seg = vec![0usize; gn + 2];
    for &g in industry.iter() {
        seg[slot(g) + 1] += 1;
    }
    for s in 0..=gn {
        seg[s + 1] += seg[s];
    }
    let mut fill = seg.clone();
    let mut order = vec![0u32; n];
    for (j, &g) in industry.iter().enumerate() {
        order[fill[slot(g)]] = j as u32;
        fill[slot(g)] += 1;
    }
    Ok(Prepared { n, lay, st, ind: industry.to_vec(), order, seg, bad })
}

/// `Bᵀw` for `R` rows of weights at once (rows of length n in `w`), into `out` (R×K).
#[inline(always)]
fn exposures_block<const R: usize>(p: &Prepared, w: [&[f64]; R], out: &mut [f64]) {
    let k = p.lay.k();
    // industries and the market: each industry's weights summed over its assets (read in
    // industry order: sums in registers, two per row, R rows at once). Assets without an
    // industry make an extra slot `gn`; the market is the fixed-order sum of the slots.
    let gn = p.lay.n_industries;
    if p.lay.market || gn > 0 {
        let off = p.lay.ind_off();
        let slots = gn + 1;
        let mut acc = vec![0.0; R * slots];
        for s in 0..slots {
            let idx = &p.order[p.seg[s]..p.seg[s + 1]];
            let mut a = [[0.0f64; 2]; R];
            let mut pairs = idx.chunks_exact(2);
            for pr in &mut pairs {
                let (i0, i1) = (pr[0] as usize, pr[1] as usize);
                for r in 0..R {
                    a[r][0] += w[r][i0];
                    a[r][1] += w[r][i1];
                }
            }
            if let [i] = pairs.remainder() {
                for r in 0..R {
                    a[r][0] += w[r][*i as usize];
                }
            }
            for r in 0..R {
                acc[r * slots + s] = a[r][0] + a[r][1];
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

/// Style exposures `out[r·k + soff + q] = Σ_c w_rc st_qc` of `rows` rows of weights (`w`,
/// rows × n) with the styles transposed (`st`, ks × n). Tiles of `R` rows × `Q` styles keep their
/// sums in registers: four lanes over the assets (fused multiply-adds), reduced in a fixed order
/// with the tail of the assets, so the result depends only on the data, not on the rows' block
/// or the number of threads.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn styles_rows<const AVX: bool>(st: &[f64], ks: usize, n: usize, w: &[f64], rows: usize, out: &mut [f64], k: usize, soff: usize) {
    let mut r = 0;
    while r < rows {
        let nr = if rows - r >= 2 { 2 } else { 1 };
        let mut q = 0;
        while q < ks {
            let nq = (ks - q).min(4);
            let a = (st, n, w, r, q, &mut *out, k, soff);
            #[cfg(target_arch = "x86_64")]
            if AVX {
                // SAFETY: AVX is set only by the callers that checked the CPU has AVX2 and FMA.
                unsafe {
                    match (nr, nq) {
                        (2, 4) => avx::styles_tile::<2, 4>(a),
                        (2, _) => avx::styles_tile::<2, 1>(a),
                        (_, 4) => avx::styles_tile::<1, 4>(a),
                        _ => avx::styles_tile::<1, 1>(a),
                    }
                }
                q += if nq == 4 { 4 } else { 1 };
                continue;
            }
            match (nr, nq) {
                (2, 4) => styles_tile::<2, 4>(a),
                (2, _) => styles_tile::<2, 1>(a),
                (_, 4) => styles_tile::<1, 4>(a),
                _ => styles_tile::<1, 1>(a),
            }
            q += if nq == 4 { 4 } else { 1 };
        }
        r += nr;
    }
}

/// (styles (ks × n), n, weights, first row, first style, out, k, offset of the styles in a row)
type TileArgs<'a> = (&'a [f64], usize, &'a [f64], usize, usize, &'a mut [f64], usize, usize);

/// One tile of [`styles_rows`], portable: the four lanes as an array, `f64::mul_add`.
#[inline(always)]
fn styles_tile<const R: usize, const Q: usize>(a: TileArgs<'_>) {
    let (st, n, w, r0, q0, out, k, soff) = a;
    let mut acc = [[[0.0f64; 4]; Q]; R];
    let n4 = n / 4 * 4;
    let wr: [&[f64]; R] = std::array::from_fn(|r| &w[(r0 + r) * n..(r0 + r + 1) * n]);
    let sq: [&[f64]; Q] = std::array::from_fn(|q| &st[(q0 + q) * n..(q0 + q + 1) * n]);
    for c in (0..n4).step_by(4) {
        let wv: [[f64; 4]; R] = std::array::from_fn(|r| wr[r][c..c + 4].try_into().expect("4"));
        for q in 0..Q {
            let sv: &[f64; 4] = sq[q][c..c + 4].try_into().expect("4");
            for r in 0..R {
                for l in 0..4 {
                    acc[r][q][l] = wv[r][l].mul_add(sv[l], acc[r][q][l]);
                }
            }
        }
    }
    for r in 0..R {
        for q in 0..Q {
            let a = &acc[r][q];
            let mut tail = 0.0;
            for c in n4..n {
                tail = wr[r][c].mul_add(sq[q][c], tail);
            }
            out[(r0 + r) * k + soff + q0 + q] = ((a[0] + a[1]) + (a[2] + a[3])) + tail;
        }
    }
}

#[inline(always)]
fn exposures_rows_generic<const AVX: bool>(p: &Prepared, w: &[f64], rows: usize, out: &mut [f64]) {
    let n = p.n;
    let k = p.lay.k();
    let ks = p.lay.n_styles;
    if ks > 0 {
        styles_rows::<AVX>(&p.st, ks, n, w, rows, out, k, p.lay.style_off());
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
#[target_feature(enable = "avx2,fma")]
unsafe fn exposures_rows_avx2(p: &Prepared, w: &[f64], rows: usize, out: &mut [f64]) {
    exposures_rows_generic::<true>(p, w, rows, out)
}

/// `Bᵀw` for a block of rows; uses AVX2 and FMA when the CPU has them. The lane structure of
/// the accumulators is fixed in the code and the multiply-adds are fused on both paths
/// (`f64::mul_add`), so the result is the same with and without them.
fn exposures_rows(p: &Prepared, w: &[f64], rows: usize, out: &mut [f64]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            // SAFETY: the CPU supports AVX2 and FMA (checked above).
            unsafe { exposures_rows_avx2(p, w, rows, out) };
            return;
        }
    }
    exposures_rows_generic::<false>(p, w, rows, out)
}

/// The factor covariance of the quadratic forms `xᵀ Σf x`: NaN entries (factors whose variance
/// is not estimated yet) as 0, and the factors whose row or column holds a NaN. A portfolio with
/// no exposure to those factors never meets a NaN entry (each is multiplied by a zero
/// exposure), so the cleaned matrix gives its variance; one exposed to them takes the exact
/// path, which gives NaN where an exposed pair meets a NaN entry.
struct QuadForm {
    k: usize,
    clean: Vec<f64>,
    raw: Vec<f64>,
    nan_factors: Vec<usize>,
}

impl QuadForm {
    fn new(fc: ArrayView2<f64>) -> QuadForm {
        let k = fc.nrows();
        let raw: Vec<f64> = fc.iter().copied().collect();
        let clean = raw.iter().map(|&v| if v.is_nan() { 0.0 } else { v }).collect();
        let nan_factors = (0..k)
            .filter(|&i| (0..k).any(|j| raw[i * k + j].is_nan() || raw[j * k + i].is_nan()))
            .collect();
        QuadForm { k, clean, raw, nan_factors }
    }

    /// `xᵀ Σf x` for one row of exposures; `y` is scratch of length `k`.
    #[inline(always)]
    fn value(&self, x: &[f64], y: &mut [f64]) -> f64 {
        let k = self.k;
        if self.nan_factors.iter().any(|&i| x[i] != 0.0) {
            // exact path: only the pairs of exposed factors
            return super::quad_exposed(&self.raw, x);
        }
        // y = Σf x as a sum of rows x_i Σf[i, :] (contiguous, vectorised), then xᵀy in 8 lanes
        y.iter_mut().for_each(|v| *v = 0.0);
        for i in 0..k {
            let xi = x[i];
            if xi == 0.0 {
                continue;
            }
            for (yj, &c) in y.iter_mut().zip(&self.clean[i * k..(i + 1) * k]) {
                *yj += xi * c;
            }
        }
        let mut acc = [0.0; 8];
        let kl = k / 8 * 8;
        for c in (0..kl).step_by(8) {
            for l in 0..8 {
                acc[l] += x[c + l] * y[c + l];
            }
        }
        let mut f = lane_sum(&acc);
        for c in kl..k {
            f += x[c] * y[c];
        }
        f
    }
}

/// Factor and specific variance of a block of rows of weights `wb` (rows × n) into `fo`, `so`.
#[inline(always)]
fn variance_rows_generic<const AVX: bool>(p: &Prepared, q: &QuadForm, d: &[f64], wb: &[f64], fo: &mut [f64], so: &mut [f64]) {
    let n = p.n;
    let k = p.lay.k();
    let rows = fo.len();
    let mut x = vec![0.0; rows * k];
    if k > 0 {
        exposures_rows_generic::<AVX>(p, wb, rows, &mut x);
    }
    let mut y = vec![0.0; k];
    for r in 0..rows {
        fo[r] = q.value(&x[r * k..(r + 1) * k], &mut y);
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
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn variance_rows_avx2(p: &Prepared, q: &QuadForm, d: &[f64], wb: &[f64], fo: &mut [f64], so: &mut [f64]) {
    variance_rows_generic::<true>(p, q, d, wb, fo, so)
}

/// [`variance_rows_generic`] with AVX2 and FMA when the CPU has them (the same operations in
/// the same order on both paths, so the same results).
fn variance_rows(p: &Prepared, q: &QuadForm, d: &[f64], wb: &[f64], fo: &mut [f64], so: &mut [f64]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            // SAFETY: the CPU supports AVX2 and FMA (checked above).
            unsafe { variance_rows_avx2(p, q, d, wb, fo, so) };
            return;
        }
    }
    variance_rows_generic::<false>(p, q, d, wb, fo, so)
}

/// [`styles_tile`] with AVX registers: the same lanes and the same fused multiply-adds in the
/// same order, so the same results.
#[cfg(target_arch = "x86_64")]
mod avx {
    use super::TileArgs;
    use std::arch::x86_64::*;

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn styles_tile<const R: usize, const Q: usize>(a: TileArgs<'_>) {
        let (st, n, w, r0, q0, out, k, soff) = a;
        assert!(w.len() >= (r0 + R) * n && st.len() >= (q0 + Q) * n);
        let mut acc = [[_mm256_setzero_pd(); Q]; R];
        let n4 = n / 4 * 4;
        let wp: [*const f64; R] = std::array::from_fn(|r| w[(r0 + r) * n..].as_ptr());
        let sp: [*const f64; Q] = std::array::from_fn(|q| st[(q0 + q) * n..].as_ptr());
        let mut c = 0;
        while c < n4 {
            // SAFETY: c + 4 ≤ n, within each row (asserted lengths above)
            let wv: [__m256d; R] = std::array::from_fn(|r| unsafe { _mm256_loadu_pd(wp[r].add(c)) });
            for q in 0..Q {
                // SAFETY: as above
                let sv = unsafe { _mm256_loadu_pd(sp[q].add(c)) };
                for r in 0..R {
                    acc[r][q] = _mm256_fmadd_pd(wv[r], sv, acc[r][q]);
                }
            }
            c += 4;
        }
        for r in 0..R {
            for q in 0..Q {
                let mut l = [0.0f64; 4];
                // SAFETY: l holds 4 doubles
                unsafe { _mm256_storeu_pd(l.as_mut_ptr(), acc[r][q]) };
                let mut tail = 0.0f64;
                for c in n4..n {
                    tail = w[(r0 + r) * n + c].mul_add(st[(q0 + q) * n + c], tail);
                }
                out[(r0 + r) * k + soff + q0 + q] = ((l[0] + l[1]) + (l[2] + l[3])) + tail;
            }
        }
    }
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
    let q = QuadForm::new(factor_cov);
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
            let wb = &w[r0 * n..(r0 + fo.len()) * n];
            variance_rows(&p, &q, &d, wb, fo, so);
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

    /// Deterministic pseudo-random values in [-1, 1).
    fn lcg(seed: &mut u64) -> f64 {
        *seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((*seed >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
    }

    #[test]
    fn products_odd_shapes_every_path_agrees() {
        // n not a multiple of 4, styles not a multiple of the tile (4), an odd number of rows,
        // assets without an industry, an empty industry and one-asset industries
        let mut seed = 7u64;
        for &(n, ks, g, np) in &[(37usize, 7usize, 5usize, 5usize), (9, 1, 3, 3), (4, 4, 1, 1), (13, 10, 6, 7)] {
            let styles = Array2::from_shape_fn((n, ks), |_| lcg(&mut seed));
            let ind = Array1::from_shape_fn(n, |j| {
                if j % 5 == 3 {
                    -1
                } else if j == 0 {
                    (g - 1) as i32 // the last industry holds one asset (plus any drawn below)
                } else {
                    ((lcg(&mut seed) + 1.0) * 0.5 * (g - 1) as f64).floor().min((g as f64 - 2.0).max(0.0)) as i32
                }
            });
            let lay = Layout { market: true, n_industries: g, n_styles: ks };
            let k = lay.k();
            let w = Array2::from_shape_fn((np, n), |_| lcg(&mut seed));
            // dense B
            let b = Array2::from_shape_fn((n, k), |(j, c)| {
                if c == 0 {
                    1.0
                } else if c <= g {
                    if ind[j] == (c - 1) as i32 { 1.0 } else { 0.0 }
                } else {
                    styles[[j, c - 1 - g]]
                }
            });
            let x = factor_exposures(w.view(), styles.view(), ind.view(), lay).unwrap();
            let want = w.dot(&b);
            for (a, b) in x.iter().zip(want.iter()) {
                assert!(close(*a, *b, 1e-13), "{a} vs {b}");
            }
            // the portable path and the AVX path give the same bits
            let p = prepare(styles.view(), ind.view(), lay, None).unwrap();
            let wv = w.as_slice().unwrap();
            let mut x0 = vec![0.0; np * k];
            exposures_rows_generic::<false>(&p, wv, np, &mut x0);
            assert_eq!(x0, x.as_slice().unwrap().to_vec());
            // a row's result does not depend on the rows around it
            for r in 0..np {
                let one = factor_exposures(w.slice(ndarray::s![r..r + 1, ..]), styles.view(), ind.view(), lay).unwrap();
                assert_eq!(one.row(0), x.row(r));
            }
            // variances against the dense form
            let a = Array2::from_shape_fn((k, k), |_| lcg(&mut seed));
            let fc = a.dot(&a.t());
            let d = Array1::from_shape_fn(n, |_| lcg(&mut seed).abs());
            let (fv, sv) = portfolio_variance(w.view(), styles.view(), ind.view(), lay, fc.view(), d.view()).unwrap();
            for r in 0..np {
                let xr = want.row(r);
                assert!(close(fv[r], xr.dot(&fc.dot(&xr)), 1e-12));
                let s: f64 = (0..n).map(|j| w[[r, j]] * w[[r, j]] * d[j]).sum();
                assert!(close(sv[r], s, 1e-13));
            }
        }
    }

    #[test]
    fn unestimated_factor_is_nan_only_for_exposed_portfolios() {
        // factor 3 (the style) has no estimate: NaN row and column
        let styles = array![[0.5], [-1.0], [2.0], [0.0]];
        let ind = array![0, 1, 1, 0];
        let lay = Layout { market: true, n_industries: 2, n_styles: 1 };
        let mut fc = array![
            [0.04, 0.01, 0.0, 0.0],
            [0.01, 0.03, 0.005, 0.0],
            [0.0, 0.005, 0.02, 0.0],
            [0.0, 0.0, 0.0, 0.0]
        ];
        for i in 0..4 {
            fc[[3, i]] = f64::NAN;
            fc[[i, 3]] = f64::NAN;
        }
        let d = array![0.1, 0.2, 0.3, 0.4];
        // row 0 holds only the asset with a zero style (no exposure to factor 3); row 1 does not
        let w = array![[0.0, 0.0, 0.0, 1.0], [0.5, 0.0, 0.0, 0.5]];
        let (fv, _) = portfolio_variance(w.view(), styles.view(), ind.view(), lay, fc.view(), d.view()).unwrap();
        // row 0: x = [1, 1, 0, 0] → 0.04 + 2·0.01 + 0.03
        assert!(close(fv[0], 0.09, 1e-15), "{}", fv[0]);
        assert!(fv[1].is_nan());
    }
}
