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
//! neighbours, the grouping, or the number of threads. Multiply-adds are fused, so the
//! AVX+FMA path and the portable path (`f64::mul_add`) agree bit for bit.

use ndarray::{Array1, Array2, Array3, ArrayView2, ArrayViewMut2, Axis};
use rayon::prelude::*;

use crate::error::Result;
use crate::linalg::Cholesky;
use crate::parallel;
use crate::value_error;

/// Assets processed together (the SIMD width of the inner loops).
pub const LANES: usize = 8;

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
            _ => Err(value_error!(
                "cov must be one of ['nonrobust', 'hac'], got {s:?}"
            )),
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
    regress_impl(y, f, intercept, cov, lags, min_obs, false)
}

/// [`time_series_regress`], optionally forcing the portable (non-SIMD) build (tests).
fn regress_impl(
    y: ArrayView2<'_, f64>,
    f: ArrayView2<'_, f64>,
    intercept: bool,
    cov: Cov,
    lags: Option<usize>,
    min_obs: usize,
    portable: bool,
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
        return Err(value_error!(
            "the regression has no parameters: give factors or intercept=True"
        ));
    }
    if min_obs < p + 1 {
        return Err(value_error!(
            "min_obs must be at least the number of parameters + 1 ({}), got {min_obs}",
            p + 1
        ));
    }
    if f.iter().any(|v| v.is_infinite()) {
        return Err(value_error!(
            "factors must not contain infinite values (NaN marks missing)"
        ));
    }
    let row_ok: Vec<bool> = f
        .axis_iter(Axis(0))
        .map(|r| r.iter().all(|v| v.is_finite()))
        .collect();
    // With an intercept the factors are shifted by their mean over the usable rows (`c`): the
    // slopes are unchanged, the intercept of the shifted design is α + cᵀβ, and the design is far
    // better conditioned (the intercept column is nearly orthogonal to the shifted factors). The
    // estimates and covariance are mapped back exactly at the end (`J = [[1, −cᵀ], [0, I]]`).
    let mut shift = vec![0.0; k];
    if intercept {
        let mut cnt = 0usize;
        for (t, fr) in f.axis_iter(Axis(0)).enumerate() {
            if row_ok[t] {
                cnt += 1;
                for (c, &v) in shift.iter_mut().zip(fr.iter()) {
                    *c += v;
                }
            }
        }
        if cnt > 0 {
            shift.iter_mut().for_each(|c| *c /= cnt as f64);
        }
    }
    // The design rows [1?, f_t − c].
    let mut xrows = vec![0.0; t_len * p];
    for (t, fr) in f.axis_iter(Axis(0)).enumerate() {
        let x = &mut xrows[t * p..(t + 1) * p];
        if intercept {
            x[0] = 1.0;
        }
        for (j, &v) in fr.iter().enumerate() {
            x[j + intercept as usize] = v - shift[j];
        }
    }
    let npp = p * (p + 1) / 2;
    let mut xxrows = vec![0.0; t_len * npp];
    for t in 0..t_len {
        let x = &xrows[t * p..(t + 1) * p];
        let mut q = t * npp;
        for a in 0..p {
            for b in a..p {
                xxrows[q] = x[a] * x[b];
                q += 1;
            }
        }
    }
    // Rows must be contiguous (a copy only for an input that is not C-contiguous).
    let y = y.as_standard_layout();
    let y = y.view();
    let setup = Setup {
        p,
        intercept,
        cov,
        lags,
        min_obs,
        xrows: &xrows,
        xxrows: &xxrows,
        row_ok: &row_ok,
        shift: &shift,
        portable,
    };

    let mut resid = Array2::<f64>::zeros((t_len, n));
    let n_chunks = n.div_ceil(CHUNK);
    let outs: Vec<ChunkOut> = if n == 0 {
        Vec::new()
    } else {
        (0..n_chunks)
            .into_par_iter()
            .zip(resid.axis_chunks_iter_mut(Axis(1), CHUNK).into_par_iter())
            .map(|(c, out)| {
                let j0 = c * CHUNK;
                let nc = CHUNK.min(n - j0);
                if parallel::cancelled() {
                    return ChunkOut::nan(nc, p); // the caller discards the whole result
                }
                let yv = y.slice(ndarray::s![.., j0..j0 + nc]);
                run_chunk(&setup, yv, out)
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

/// Assets per parallel task: the task streams its rows of `y` (CHUNK contiguous values per date)
/// and keeps the state of its lane groups in cache.
const CHUNK: usize = 256;

struct Setup<'a> {
    p: usize,
    intercept: bool,
    cov: Cov,
    lags: Option<usize>,
    min_obs: usize,
    xrows: &'a [f64],
    /// `(T, p(p+1)/2)` products `x_a x_b` (a ≤ b) of each design row.
    xxrows: &'a [f64],
    row_ok: &'a [bool],
    shift: &'a [f64],
    portable: bool,
}

/// Per-asset results of one chunk (`nc ≤ CHUNK` assets).
struct ChunkOut {
    params: Vec<f64>,
    cov: Vec<f64>,
    r2: Vec<f64>,
    r2_adj: Vec<f64>,
    ssr: Vec<f64>,
    nobs: Vec<i64>,
    lags: Vec<i64>,
    n_inf: usize,
}

impl ChunkOut {
    fn nan(nc: usize, p: usize) -> ChunkOut {
        ChunkOut {
            params: vec![f64::NAN; nc * p],
            cov: vec![f64::NAN; nc * p * p],
            r2: vec![f64::NAN; nc],
            r2_adj: vec![f64::NAN; nc],
            ssr: vec![f64::NAN; nc],
            nobs: vec![0; nc],
            lags: vec![0; nc],
            n_inf: 0,
        }
    }
}

/// One chunk: dispatch to the AVX+FMA build of the kernel when the CPU has it. Both builds do
/// the same IEEE operations in the same order (the portable one fuses its multiply-adds with
/// `f64::mul_add`, correctly rounded like the FMA instruction), so they agree bit for bit.
fn run_chunk(s: &Setup<'_>, y: ArrayView2<'_, f64>, out: ArrayViewMut2<'_, f64>) -> ChunkOut {
    #[cfg(target_arch = "x86_64")]
    {
        if !s.portable
            && std::is_x86_feature_detected!("avx")
            && std::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU supports AVX and FMA (checked just above).
            return unsafe { chunk_avx(s, y, out) };
        }
    }
    chunk::<Portable>(s, y, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx,fma")]
unsafe fn chunk_avx(
    s: &Setup<'_>,
    y: ArrayView2<'_, f64>,
    out: ArrayViewMut2<'_, f64>,
) -> ChunkOut {
    chunk::<avx::Avx>(s, y, out)
}

/// `LANES` doubles processed together. Masks are values of the same type whose lanes are all
/// ones (true) or all zeros (false).
trait Lanes: Copy {
    fn zero() -> Self;
    fn splat(x: f64) -> Self;
    /// Load `s` (length ≤ LANES), padding with NaN.
    fn load(s: &[f64]) -> Self;
    /// Store the first `d.len()` lanes.
    fn store(self, d: &mut [f64]);
    fn add(self, o: Self) -> Self;
    fn sub(self, o: Self) -> Self;
    fn mul(self, o: Self) -> Self;
    /// Mask of the finite lanes.
    fn finite(self) -> Self;
    /// Number of ±inf lanes.
    fn n_inf(self) -> usize;
    /// `self` where `mask`, +0.0 elsewhere (a bitwise and).
    fn and(self, mask: Self) -> Self;
    /// `a` where `mask`, else `b`.
    fn select(mask: Self, a: Self, b: Self) -> Self;
    /// `self + a·b` with one rounding (fused multiply-add).
    fn fma(self, a: Self, b: Self) -> Self;
    /// Whether every / any lane of a mask is set.
    fn all(self) -> bool;
    fn any(self) -> bool;
    fn to_array(self) -> [f64; LANES];
    fn from_array(a: [f64; LANES]) -> Self;
}

/// The portable lanes (plain arrays), for CPUs without AVX.
#[derive(Clone, Copy)]
struct Portable([f64; LANES]);

impl Lanes for Portable {
    #[inline(always)]
    fn zero() -> Self {
        Portable([0.0; LANES])
    }
    #[inline(always)]
    fn splat(x: f64) -> Self {
        Portable([x; LANES])
    }
    #[inline(always)]
    fn load(s: &[f64]) -> Self {
        let mut a = [f64::NAN; LANES];
        a[..s.len()].copy_from_slice(s);
        Portable(a)
    }
    #[inline(always)]
    fn store(self, d: &mut [f64]) {
        let n = d.len();
        d.copy_from_slice(&self.0[..n]);
    }
    #[inline(always)]
    fn add(self, o: Self) -> Self {
        Portable(std::array::from_fn(|l| self.0[l] + o.0[l]))
    }
    #[inline(always)]
    fn sub(self, o: Self) -> Self {
        Portable(std::array::from_fn(|l| self.0[l] - o.0[l]))
    }
    #[inline(always)]
    fn mul(self, o: Self) -> Self {
        Portable(std::array::from_fn(|l| self.0[l] * o.0[l]))
    }
    #[inline(always)]
    fn finite(self) -> Self {
        Portable(std::array::from_fn(|l| {
            if self.0[l].is_finite() {
                f64::from_bits(u64::MAX)
            } else {
                0.0
            }
        }))
    }
    #[inline(always)]
    fn n_inf(self) -> usize {
        self.0.iter().filter(|v| v.is_infinite()).count()
    }
    #[inline(always)]
    fn and(self, mask: Self) -> Self {
        Portable(std::array::from_fn(|l| {
            f64::from_bits(self.0[l].to_bits() & mask.0[l].to_bits())
        }))
    }
    #[inline(always)]
    fn select(mask: Self, a: Self, b: Self) -> Self {
        Portable(std::array::from_fn(|l| {
            if mask.0[l].to_bits() != 0 {
                a.0[l]
            } else {
                b.0[l]
            }
        }))
    }
    #[inline(always)]
    fn fma(self, a: Self, b: Self) -> Self {
        Portable(std::array::from_fn(|l| a.0[l].mul_add(b.0[l], self.0[l])))
    }
    #[inline(always)]
    fn all(self) -> bool {
        self.0.iter().all(|v| v.to_bits() != 0)
    }
    #[inline(always)]
    fn any(self) -> bool {
        self.0.iter().any(|v| v.to_bits() != 0)
    }
    #[inline(always)]
    fn to_array(self) -> [f64; LANES] {
        self.0
    }
    #[inline(always)]
    fn from_array(a: [f64; LANES]) -> Self {
        Portable(a)
    }
}

#[cfg(target_arch = "x86_64")]
mod avx {
    //! AVX lanes: two 256-bit registers. Only used from `chunk_avx` (the CPU has AVX and FMA
    //! there).
    use super::{Lanes, LANES};
    use std::arch::x86_64::*;

    #[derive(Clone, Copy)]
    pub(super) struct Avx([__m256d; 2]);

    macro_rules! both {
        ($f:ident, $a:expr, $b:expr) => {
            // SAFETY: only reached from code compiled and dispatched for AVX.
            unsafe { Avx([$f($a.0[0], $b.0[0]), $f($a.0[1], $b.0[1])]) }
        };
    }

    impl Lanes for Avx {
        #[inline(always)]
        fn zero() -> Self {
            unsafe { Avx([_mm256_setzero_pd(); 2]) }
        }
        #[inline(always)]
        fn splat(x: f64) -> Self {
            unsafe { Avx([_mm256_set1_pd(x); 2]) }
        }
        #[inline(always)]
        fn load(s: &[f64]) -> Self {
            if s.len() == LANES {
                // SAFETY: 8 readable doubles.
                unsafe {
                    Avx([
                        _mm256_loadu_pd(s.as_ptr()),
                        _mm256_loadu_pd(s.as_ptr().add(4)),
                    ])
                }
            } else {
                let mut a = [f64::NAN; LANES];
                a[..s.len()].copy_from_slice(s);
                Self::from_array(a)
            }
        }
        #[inline(always)]
        fn store(self, d: &mut [f64]) {
            if d.len() == LANES {
                // SAFETY: 8 writable doubles.
                unsafe {
                    _mm256_storeu_pd(d.as_mut_ptr(), self.0[0]);
                    _mm256_storeu_pd(d.as_mut_ptr().add(4), self.0[1]);
                }
            } else {
                let n = d.len();
                d.copy_from_slice(&self.to_array()[..n]);
            }
        }
        #[inline(always)]
        fn add(self, o: Self) -> Self {
            both!(_mm256_add_pd, self, o)
        }
        #[inline(always)]
        fn sub(self, o: Self) -> Self {
            both!(_mm256_sub_pd, self, o)
        }
        #[inline(always)]
        fn mul(self, o: Self) -> Self {
            both!(_mm256_mul_pd, self, o)
        }
        #[inline(always)]
        fn finite(self) -> Self {
            // x − x is 0 for finite x, NaN for NaN and ±inf.
            unsafe {
                let z = _mm256_setzero_pd();
                Avx([
                    _mm256_cmp_pd::<_CMP_EQ_OQ>(_mm256_sub_pd(self.0[0], self.0[0]), z),
                    _mm256_cmp_pd::<_CMP_EQ_OQ>(_mm256_sub_pd(self.0[1], self.0[1]), z),
                ])
            }
        }
        #[inline(always)]
        fn n_inf(self) -> usize {
            self.to_array().iter().filter(|v| v.is_infinite()).count()
        }
        #[inline(always)]
        fn and(self, mask: Self) -> Self {
            both!(_mm256_and_pd, self, mask)
        }
        #[inline(always)]
        fn select(mask: Self, a: Self, b: Self) -> Self {
            unsafe {
                Avx([
                    _mm256_blendv_pd(b.0[0], a.0[0], mask.0[0]),
                    _mm256_blendv_pd(b.0[1], a.0[1], mask.0[1]),
                ])
            }
        }
        #[inline(always)]
        fn fma(self, a: Self, b: Self) -> Self {
            unsafe {
                Avx([
                    _mm256_fmadd_pd(a.0[0], b.0[0], self.0[0]),
                    _mm256_fmadd_pd(a.0[1], b.0[1], self.0[1]),
                ])
            }
        }
        #[inline(always)]
        fn all(self) -> bool {
            unsafe { (_mm256_movemask_pd(self.0[0]) & _mm256_movemask_pd(self.0[1])) == 0xf }
        }
        #[inline(always)]
        fn any(self) -> bool {
            unsafe { (_mm256_movemask_pd(self.0[0]) | _mm256_movemask_pd(self.0[1])) != 0 }
        }
        #[inline(always)]
        fn to_array(self) -> [f64; LANES] {
            let mut a = [0.0; LANES];
            unsafe {
                _mm256_storeu_pd(a.as_mut_ptr(), self.0[0]);
                _mm256_storeu_pd(a.as_mut_ptr().add(4), self.0[1]);
            }
            a
        }
        #[inline(always)]
        fn from_array(a: [f64; LANES]) -> Self {
            unsafe {
                Avx([
                    _mm256_loadu_pd(a.as_ptr()),
                    _mm256_loadu_pd(a.as_ptr().add(4)),
                ])
            }
        }
    }
}

/// The running sums of one lane group.
struct Group<V> {
    xtx: Vec<V>,
    xty: Vec<V>,
    sy: V,
    cnt: V,
    beta: Vec<V>,
    ybar: V,
    valid: V,
    inv: Vec<Option<Vec<f64>>>,
    lag_of: [usize; LANES],
    wts: Vec<V>,
    ring: Vec<V>,
    head: usize,
    bmat: Vec<V>,
    ssr: V,
    sst: V,
}

/// Row `t` of the chunk (`y` is a column slice of a C-contiguous array: rows are contiguous).
#[inline(always)]
fn row_of<'b>(y: &ArrayView2<'b, f64>, t: usize) -> &'b [f64] {
    y.index_axis_move(Axis(0), t)
        .to_slice()
        .expect("rows of a C-contiguous array")
}

/// Dates per tile of the row loops.
const TILE: usize = 32;

/// Copy the rows of a tile (each `nc` values) into `buf`, group-major: `buf[(g·TILE + tt)·LANES
/// + l] = rows[tt][g·LANES + l]`; padding lanes stay NaN.
#[inline(always)]
fn fill_tile(rows: &[&[f64]], buf: &mut [f64]) {
    for (tt, r) in rows.iter().enumerate() {
        for (g, piece) in r.chunks(LANES).enumerate() {
            let dst = (g * TILE + tt) * LANES;
            buf[dst..dst + piece.len()].copy_from_slice(piece);
        }
    }
}

#[inline(always)]
fn chunk<V: Lanes>(
    s: &Setup<'_>,
    y: ArrayView2<'_, f64>,
    mut out: ArrayViewMut2<'_, f64>,
) -> ChunkOut {
    let p = s.p;
    let (t_len, nc) = y.dim();
    let n_groups = nc.div_ceil(LANES);
    let span = |g: usize| g * LANES..g * LANES + LANES.min(nc - g * LANES);
    let npp = p * (p + 1) / 2;
    let hac = s.cov == Cov::Hac;
    let mut n_inf = 0usize;
    let mut groups: Vec<Group<V>> = (0..n_groups)
        .map(|_| Group {
            xtx: vec![V::zero(); npp],
            xty: vec![V::zero(); p],
            sy: V::zero(),
            cnt: V::zero(),
            beta: vec![V::zero(); p],
            ybar: V::zero(),
            valid: V::zero(),
            inv: vec![None; LANES],
            lag_of: [0; LANES],
            wts: Vec::new(),
            ring: Vec::new(),
            head: 0,
            bmat: Vec::new(),
            ssr: V::zero(),
            sst: V::zero(),
        })
        .collect();
    let one = V::splat(1.0);
    // One tile of y (and of the residuals), group-major: [group][date in tile][lane], so that a
    // group reads contiguous memory; lanes past the chunk's last asset are NaN (unused).
    let mut ybuf = vec![f64::NAN; n_groups * TILE * LANES];
    let mut obuf = vec![f64::NAN; n_groups * TILE * LANES];

    // ---- pass 1: XᵀX (upper triangle), Xᵀy, Σy, counts ---------------------------------
    // Rows are taken in tiles of TILE dates; each lane group runs through a tile with its sums
    // hot in L1 (the order of the additions per asset is still the date order).
    for t0 in (0..t_len).step_by(TILE) {
        let t1 = (t0 + TILE).min(t_len);
        let rows: Vec<&[f64]> = (t0..t1).map(|t| row_of(&y, t)).collect();
        for (t, yr) in (t0..t1).zip(rows.iter()) {
            if !s.row_ok[t] {
                n_inf += yr.iter().filter(|v| v.is_infinite()).count();
            }
        }
        fill_tile(&rows, &mut ybuf);
        for (g, gs) in groups.iter_mut().enumerate() {
            for (tt, t) in (t0..t1).enumerate() {
                if !s.row_ok[t] {
                    continue;
                }
                let x = &s.xrows[t * p..(t + 1) * p];
                let xx = &s.xxrows[t * npp..(t + 1) * npp];
                let yv = V::load(&ybuf[(g * TILE + tt) * LANES..(g * TILE + tt + 1) * LANES]);
                let m = yv.finite();
                n_inf += yv.n_inf();
                let yz = yv.and(m);
                let mf = one.and(m);
                gs.cnt = gs.cnt.add(mf);
                for (acc, &v) in gs.xtx.iter_mut().zip(xx.iter()) {
                    *acc = acc.fma(mf, V::splat(v));
                }
                for (acc, &xa) in gs.xty.iter_mut().zip(x.iter()) {
                    *acc = acc.fma(V::splat(xa), yz);
                }
                gs.sy = gs.sy.add(yz);
            }
        }
    }

    // ---- per asset: solve --------------------------------------------------------------
    let mut a_full = vec![0.0; p * p];
    let mut b_vec = vec![0.0; p];
    for (g, gs) in groups.iter_mut().enumerate() {
        let nb = span(g).len();
        let cnt = gs.cnt.to_array();
        let xtx: Vec<[f64; LANES]> = gs.xtx.iter().map(|v| v.to_array()).collect();
        let xty: Vec<[f64; LANES]> = gs.xty.iter().map(|v| v.to_array()).collect();
        let sy = gs.sy.to_array();
        let mut beta = vec![[0.0; LANES]; p];
        let mut ybar = [0.0; LANES];
        let mut valid = [0.0; LANES];
        for l in 0..nb {
            let n_l = cnt[l] as usize;
            if n_l < s.min_obs {
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
            let Some(ch) = Cholesky::new(&a_full, p) else {
                continue;
            };
            ch.solve_in_place(&mut b_vec);
            for a in 0..p {
                beta[a][l] = b_vec[a];
            }
            gs.inv[l] = Some(ch.inverse());
            valid[l] = f64::from_bits(u64::MAX);
            ybar[l] = sy[l] / cnt[l];
            gs.lag_of[l] = match s.cov {
                Cov::NonRobust => 0,
                Cov::Hac => s.lags.unwrap_or_else(|| default_lags(n_l)),
            };
        }
        gs.beta = beta.into_iter().map(V::from_array).collect();
        gs.ybar = V::from_array(ybar);
        gs.valid = V::from_array(valid);
        if hac {
            let lmax = gs.lag_of.iter().copied().max().unwrap_or(0);
            // Bartlett weights per lag and lane (0 beyond the lane's own lags).
            gs.wts = (0..lmax)
                .map(|j| {
                    V::from_array(std::array::from_fn(|l| {
                        let lj = gs.lag_of[l];
                        if j < lj {
                            1.0 - (j + 1) as f64 / (lj + 1) as f64
                        } else {
                            0.0
                        }
                    }))
                })
                .collect();
            gs.ring = vec![V::zero(); lmax * p]; // ring[j*p + a]: score of the (j+1)-th previous used row
            gs.bmat = vec![V::zero(); p * p];
        }
    }

    // ---- pass 2: residuals, SSR, SST, HAC scores ---------------------------------------
    let centre = s.intercept;
    let half = V::splat(0.5);
    let nan = V::splat(f64::NAN);
    let mut sc = vec![V::zero(); p];
    let mut u = vec![V::zero(); p];
    let mut xs = vec![V::zero(); p];
    for t0 in (0..t_len).step_by(TILE) {
        let t1 = (t0 + TILE).min(t_len);
        let rows: Vec<&[f64]> = (t0..t1).map(|t| row_of(&y, t)).collect();
        let mut otile = out.slice_mut(ndarray::s![t0..t1, ..]);
        let mut orows: Vec<&mut [f64]> = otile
            .outer_iter_mut()
            .map(|r| r.into_slice().expect("rows of a C-contiguous output"))
            .collect();
        fill_tile(&rows, &mut ybuf);
        for (g, gs) in groups.iter_mut().enumerate() {
            for (tt, t) in (t0..t1).enumerate() {
                if !s.row_ok[t] {
                    continue;
                }
                let at = (g * TILE + tt) * LANES..(g * TILE + tt + 1) * LANES;
                let x = &s.xrows[t * p..(t + 1) * p];
                for a in 0..p {
                    xs[a] = V::splat(x[a]);
                }
                let yv = V::load(&ybuf[at.clone()]);
                let used = yv.finite().and(gs.valid);
                let yz = yv.and(used);
                let mut fit = V::zero();
                for (bv, &xa) in gs.beta.iter().zip(xs.iter()) {
                    fit = fit.fma(xa, *bv);
                }
                let e = yz.sub(fit).and(used);
                V::select(used, e, nan).store(&mut obuf[at]);
                let d = if centre {
                    yz.sub(gs.ybar).and(used)
                } else {
                    yz
                };
                gs.ssr = gs.ssr.fma(e, e);
                gs.sst = gs.sst.fma(d, d);
                if !hac || !used.any() {
                    continue; // a row no lane uses adds exact zeros to the HAC sums: skip it
                }
                // s_t = x_t e_t; u = s/2 + Σ_j w_j s_{t−j}; B += s uᵀ. The lag buffer is
                // circular: logical lag j+1 sits in slot (head + j) mod lmax.
                let lmax = gs.wts.len();
                for a in 0..p {
                    sc[a] = xs[a].mul(e);
                }
                // u = s/2 + Σ_j w_j s_{t−j}: lags outer, parameters inner (independent sums)
                for (ua, &sa) in u.iter_mut().zip(sc.iter()) {
                    *ua = half.mul(sa);
                }
                let mut slot = gs.head;
                for w in gs.wts.iter() {
                    let rs = &gs.ring[slot * p..slot * p + p];
                    for (ua, &r) in u.iter_mut().zip(rs) {
                        *ua = ua.fma(*w, r);
                    }
                    slot = if slot + 1 == lmax { 0 } else { slot + 1 };
                }
                for a in 0..p {
                    let sa = sc[a];
                    let row = &mut gs.bmat[a * p..(a + 1) * p];
                    for (acc, ub) in row.iter_mut().zip(u.iter()) {
                        *acc = acc.fma(sa, *ub);
                    }
                }
                if lmax > 0 {
                    let h = if gs.head == 0 { lmax - 1 } else { gs.head - 1 };
                    if used.all() {
                        // every lane moves one lag on: overwrite the oldest slot, move the head
                        for a in 0..p {
                            gs.ring[h * p + a] = sc[a];
                        }
                    } else {
                        // The lanes that skip this row must keep their lags: rotate their slots
                        // back by one so that their logical order is unchanged.
                        let nxt = |q: usize| if q + 1 == lmax { 0 } else { q + 1 };
                        for a in 0..p {
                            let saved = gs.ring[h * p + a];
                            let mut q = h;
                            gs.ring[q * p + a] = V::select(used, sc[a], gs.ring[nxt(q) * p + a]);
                            for _ in 1..lmax - 1 {
                                q = nxt(q);
                                gs.ring[q * p + a] =
                                    V::select(used, gs.ring[q * p + a], gs.ring[nxt(q) * p + a]);
                            }
                            if lmax > 1 {
                                q = nxt(q);
                                gs.ring[q * p + a] = V::select(used, gs.ring[q * p + a], saved);
                            } else {
                                gs.ring[q * p + a] = V::select(used, sc[a], saved);
                            }
                        }
                    }
                    gs.head = h;
                }
            }
        }
        // The tile's residuals, group-major in obuf, back to the output rows.
        for (tt, (t, or)) in (t0..t1).zip(orows.iter_mut()).enumerate() {
            if !s.row_ok[t] {
                or.iter_mut().for_each(|v| *v = f64::NAN);
                continue;
            }
            for g in 0..n_groups {
                let sp = span(g);
                let src = (g * TILE + tt) * LANES;
                or[sp.clone()].copy_from_slice(&obuf[src..src + sp.len()]);
            }
        }
    }

    // ---- per asset: covariance and fit statistics, mapped back to the unshifted factors ----
    let mut o = ChunkOut::nan(nc, p);
    let k_const = if s.intercept { 1.0 } else { 0.0 };
    let mut meat = vec![0.0; p * p];
    let mut c = vec![0.0; p * p];
    for (g, gs) in groups.iter().enumerate() {
        let cnt = gs.cnt.to_array();
        let beta: Vec<[f64; LANES]> = gs.beta.iter().map(|v| v.to_array()).collect();
        let bmat: Vec<[f64; LANES]> = gs.bmat.iter().map(|v| v.to_array()).collect();
        let ssr = gs.ssr.to_array();
        let sst = gs.sst.to_array();
        for l in 0..span(g).len() {
            let j = g * LANES + l;
            o.nobs[j] = cnt[l] as i64;
            o.lags[j] = gs.lag_of[l] as i64;
            let Some(inv) = gs.inv[l].as_ref() else {
                // no estimate: every residual of the asset is NaN
                for t in 0..t_len {
                    out[[t, j]] = f64::NAN;
                }
                continue;
            };
            let n_obs = cnt[l];
            let df = n_obs - p as f64;
            if hac {
                for a in 0..p {
                    for b in 0..p {
                        meat[a * p + b] = bmat[a * p + b][l] + bmat[b * p + a][l];
                    }
                }
                sandwich(inv, &meat, p, &mut c);
            } else {
                let s2 = ssr[l] / df;
                for (ci, &vi) in c.iter_mut().zip(inv.iter()) {
                    *ci = s2 * vi;
                }
            }
            let prm = &mut o.params[j * p..(j + 1) * p];
            for a in 0..p {
                prm[a] = beta[a][l];
            }
            let cv = &mut o.cov[j * p * p..(j + 1) * p * p];
            cv.copy_from_slice(&c);
            if s.intercept {
                unshift(prm, cv, s.shift, p);
            }
            o.ssr[j] = ssr[l];
            let r2 = if sst[l] > 0.0 {
                1.0 - ssr[l] / sst[l]
            } else {
                f64::NAN
            };
            o.r2[j] = r2;
            o.r2_adj[j] = 1.0 - (n_obs - k_const) / df * (1.0 - r2);
        }
    }
    o.n_inf = n_inf;
    o
}

/// Map the estimates and covariance of the shifted design `[1, f − c]` back to `[1, f]`:
/// `α = α' − cᵀβ`, `Cov = J Cov' Jᵀ` with `J = [[1, −cᵀ], [0, I]]`.
fn unshift(prm: &mut [f64], cv: &mut [f64], shift: &[f64], p: usize) {
    let mut a = prm[0];
    for (k, &ck) in shift.iter().enumerate() {
        a -= ck * prm[k + 1];
    }
    prm[0] = a;
    // row 0 of J C: C_0j − Σ_k c_k C_{k+1, j}; then column 0 likewise (symmetric result)
    let mut r0 = vec![0.0; p];
    for j in 0..p {
        let mut v = cv[j];
        for (k, &ck) in shift.iter().enumerate() {
            v -= ck * cv[(k + 1) * p + j];
        }
        r0[j] = v;
    }
    let mut c00 = r0[0];
    for (k, &ck) in shift.iter().enumerate() {
        c00 -= ck * r0[k + 1];
    }
    cv[0] = c00;
    for j in 1..p {
        cv[j] = r0[j];
        cv[j * p] = r0[j];
    }
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
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((self.0 >> 11) as f64) / ((1u64 << 53) as f64) - 0.5
        }
    }

    /// Plain per-asset reference: drop missing rows, normal equations, explicit Γ_j sums.
    fn reference(
        y: &[f64],
        f: &Array2<f64>,
        intercept: bool,
        lags: Option<usize>,
    ) -> (Vec<f64>, Vec<f64>, f64) {
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
                let s: Vec<Vec<f64>> = xs
                    .iter()
                    .zip(&e)
                    .map(|(x, &ee)| x.iter().map(|v| v * ee).collect())
                    .collect();
                let mut m = vec![0.0; p * p];
                for j in 0..=l.min(n - 1) {
                    let w = if j == 0 {
                        1.0
                    } else {
                        1.0 - j as f64 / (l + 1) as f64
                    };
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
        for (cov, lags) in [
            (Cov::NonRobust, None),
            (Cov::Hac, Some(4)),
            (Cov::Hac, None),
        ] {
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
                        assert!(
                            close(out.cov[[i, a, bb]], c[a * 4 + bb], 1e-10),
                            "{cov:?} {i} {a} {bb}"
                        );
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
        assert_eq!(
            out.nobs[1] as usize,
            y.column(1).iter().filter(|v| v.is_finite()).count()
        );
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
        let one = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let two = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        let a = one.install(|| {
            time_series_regress(y.view(), f.view(), false, Cov::Hac, Some(3), 6).unwrap()
        });
        let b = two.install(|| {
            time_series_regress(y.view(), f.view(), false, Cov::Hac, Some(3), 6).unwrap()
        });
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
        let single = time_series_regress(
            y.slice(ndarray::s![.., 9..10]),
            f.view(),
            false,
            Cov::Hac,
            Some(3),
            6,
        )
        .unwrap();
        assert_eq!(single.params.row(0), a.params.row(9));
        assert_eq!(
            single.cov.index_axis(Axis(0), 0),
            a.cov.index_axis(Axis(0), 9)
        );
    }

    #[test]
    fn simd_and_portable_builds_agree_bit_for_bit_and_short_lags_work() {
        let (y, f) = data(150, 300, 3, 5); // more than one chunk, a partial lane group
        for (cov, lags) in [
            (Cov::Hac, None),
            (Cov::Hac, Some(1)),
            (Cov::Hac, Some(0)),
            (Cov::NonRobust, None),
        ] {
            let a = regress_impl(y.view(), f.view(), true, cov, lags, 5, false).unwrap();
            let b = regress_impl(y.view(), f.view(), true, cov, lags, 5, true).unwrap();
            assert_eq!(a.params.as_slice().unwrap(), b.params.as_slice().unwrap());
            assert_eq!(a.cov.as_slice().unwrap(), b.cov.as_slice().unwrap());
            assert_eq!(
                a.resid.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                b.resid.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
            );
            assert_eq!(a.r2.as_slice().unwrap(), b.r2.as_slice().unwrap());
            for i in [0usize, 137, 299] {
                let col: Vec<f64> = y.column(i).to_vec();
                let n_used = col.iter().filter(|v| v.is_finite()).count();
                let l = match cov {
                    Cov::NonRobust => None,
                    Cov::Hac => Some(lags.unwrap_or(default_lags(n_used))),
                };
                let (bb, c, _) = reference(&col, &f, true, l);
                for j in 0..4 {
                    assert!(close(a.params[[i, j]], bb[j], 1e-12));
                    assert!(
                        close(a.cov[[i, j, j]], c[j * 4 + j], 1e-10),
                        "{cov:?} {lags:?} {i} {j}"
                    );
                }
            }
        }
    }

    #[test]
    fn default_lags_rule() {
        assert_eq!(default_lags(100), 4);
        assert_eq!(default_lags(2520), 8);
        assert_eq!(default_lags(819), 6);
    }
}
