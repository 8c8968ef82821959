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
//! # How it is computed
//! The design rows are shared by every asset, so:
//! - `XᵀX` of an asset is `XᵀX` over all usable rows minus `x xᵀ` of the rows the asset misses
//!   (a few percent of the rows), unless that could lose accuracy (fewer used than missing rows,
//!   or a column whose sum of squares on the asset's rows is under a quarter of the whole): then
//!   its own rows are summed directly. `Xᵀy` is one multiply-add per parameter and cell.
//! - HAC: the Bartlett kernel is the autocorrelation of a box of `L + 1` ones, so with the
//!   scores `z_k = x_k e_k` of the asset's used rows (k = 0..n−1, consecutive after dropping
//!   missing rows) and the window sums `W_m = Σ_{k=m−L..m} z_k` (m = 0..n+L−1, terms outside
//!   0..n−1 are zero), `S = Σ_m W_m W_mᵀ / (L + 1)`. A window sum is updated per row (`W += z_k −
//!   z_{k−L−1}`), recomputed from its terms at the start of every tile of dates (so rounding
//!   drift stays within a tile), and `S` costs p(p+1)/2 multiply-adds per cell instead of the
//!   `p·L + p²` of the lag sums. SSR and SST are summed from the residuals (no cancellation).
//!
//! # Layout and speed
//! Work runs in parallel over blocks of [`BLOCK`] adjacent assets. Pass 1 reads the block's rows
//! of `y` once (software prefetch: the rows are 8·N bytes apart) into a buffer that stays in
//! the core's cache; the solves follow; pass 2 reads the buffer for the residuals and the HAC
//! sums. Within a block, groups of [`LANES`] assets run in lockstep, one date at a time, with the
//! asset as the innermost (SIMD) dimension: the factor row is shared, an unused row contributes
//! an exact +0 to every sum or is skipped by a select, and the HAC buffer of scores only shifts
//! on the asset's used rows. Before its first used row an asset's buffer holds zeros and takes
//! zero scores; at the row after its last used row its tail windows are summed apart and its
//! buffer emptied, so that it takes zero scores again. Only the holes inside a history need the
//! slower shifting path. So each asset's sums run over its own used rows in date order, and
//! its result is bit-identical whatever its neighbours, the blocks, or the number of threads.
//! Multiply-adds are fused, so the AVX-512 path (a lane group in one 512-bit register), the
//! AVX+FMA path (two 256-bit halves) and the portable path (`f64::mul_add`) agree bit for bit;
//! the widest the CPU has is chosen at run time. In pass 2 the AVX+FMA and portable paths store
//! a tile's window sums and sum `W Wᵀ` over them after; the AVX-512 path, which has registers
//! for the sums, adds `W Wᵀ` as it goes, in a function of its own for the runs of rows that
//! every lane of a group uses (see [`fast_run`]): each sum takes the same rows in the same order
//! either way. The AVX-512 build runs the residual rows of each tile in a function of its own
//! too ([`resid_rows`]). The residuals are written straight into the caller's (numpy) array;
//! when its rows share one alignment, blocks are laid on 64-byte lines and each lane group
//! writes whole lines with streaming stores.

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

/// Estimates and statistics of [`time_series_regress_into`] (the residuals, when asked for, are
/// written into the caller's array); `p` = parameters (intercept first when present).
#[derive(Debug, Clone)]
pub struct TsFit {
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
    /// `(N,)` collinearity of each asset's design: the smallest Cholesky pivot of its `XᵀX`
    /// over the column's own squared norm ([`Cholesky::min_pivot_ratio`], about `1 / VIF`; 1
    /// for orthogonal columns); 0 where the design is singular (no estimates), NaN where the
    /// asset has fewer than `min_obs` rows. The estimates lose about `ε / collinearity` of
    /// relative accuracy: the bindings' caller refits the near-collinear ones another way.
    pub collinearity: Array1<f64>,
}

/// Outputs of [`time_series_regress`]: the [`TsFit`] (its fields read through `Deref`) and the
/// residuals.
#[derive(Debug, Clone)]
pub struct TsOutput {
    pub fit: TsFit,
    /// `(T, N)` residuals, NaN on rows not used (and for assets without estimates).
    pub resid: Array2<f64>,
}

impl std::ops::Deref for TsOutput {
    type Target = TsFit;
    fn deref(&self) -> &TsFit {
        &self.fit
    }
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
    let mut resid = Array2::<f64>::zeros(y.dim());
    let fit = regress_impl(y, f, intercept, cov, lags, min_obs, Build::Best, Some(resid.view_mut()))?;
    Ok(TsOutput { fit, resid })
}

/// [`time_series_regress`] writing the residuals into `resid` when given (C-contiguous, shaped
/// like `y`; every element is written), or not storing the (T, N) residual panel at all when
/// `None` (the estimates and statistics do not change: the residuals are still formed per row for
/// SSR and the HAC sums, only not stored). The estimates and the residuals do not depend on
/// `cov`, so a later nonrobust call with `Some` reproduces the residuals of a `None` call bit for
/// bit. The bindings pass a fresh numpy array, so the residuals' memory comes from numpy's
/// allocator (huge pages for large arrays) and is first touched in parallel.
#[allow(clippy::too_many_arguments)]
pub fn time_series_regress_into(
    y: ArrayView2<'_, f64>,
    f: ArrayView2<'_, f64>,
    intercept: bool,
    cov: Cov,
    lags: Option<usize>,
    min_obs: usize,
    resid: Option<ArrayViewMut2<'_, f64>>,
) -> Result<TsFit> {
    regress_impl(y, f, intercept, cov, lags, min_obs, Build::Best, resid)
}

/// Which build of the kernel runs: the widest the CPU has, or (tests) a narrower one. Every build
/// does the same IEEE operations in the same order for every lane, so all agree bit for bit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Build {
    /// AVX-512 where the CPU has it, else AVX+FMA, else portable.
    Best,
    /// AVX+FMA where the CPU has it, else portable (tests).
    #[cfg_attr(not(test), allow(dead_code))]
    Avx,
    /// Plain arrays and `f64::mul_add` (tests).
    #[cfg_attr(not(test), allow(dead_code))]
    Portable,
}

/// [`time_series_regress_into`], optionally forcing a narrower build (tests).
#[allow(clippy::too_many_arguments)]
fn regress_impl(
    y: ArrayView2<'_, f64>,
    f: ArrayView2<'_, f64>,
    intercept: bool,
    cov: Cov,
    lags: Option<usize>,
    min_obs: usize,
    build: Build,
    mut resid: Option<ArrayViewMut2<'_, f64>>,
) -> Result<TsFit> {
    let (t_len, n) = y.dim();
    if let Some(r) = &resid {
        if r.dim() != (t_len, n) || !r.is_standard_layout() {
            return Err(value_error!(
                "internal: the residual output must be a C-contiguous ({t_len}, {n}) array"
            ));
        }
    }
    let (tf, k) = f.dim();
    if tf != t_len {
        return Err(value_error!(
            "factors have {tf} rows but y has {t_len}: one row of factor returns per date"
        ));
    }
    if let Some(l) = lags {
        if l >= t_len.max(1) {
            return Err(value_error!(
                "lags must be below the number of dates ({t_len}), got {l}: no asset has a lag that long"
            ));
        }
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
    // XᵀX over every usable row, in date order: an asset's XᵀX is this minus its missing rows'
    // products (or, for a short history, its own rows summed directly).
    let n_ok = row_ok.iter().filter(|&&ok| ok).count();
    let mut xtx_full = vec![0.0; npp];
    for t in (0..t_len).filter(|&t| row_ok[t]) {
        for (acc, &v) in xtx_full.iter_mut().zip(&xxrows[t * npp..(t + 1) * npp]) {
            *acc += v;
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
        xtx_full: &xtx_full,
        n_ok,
        build,
    };

    // Blocks of assets. When every row of the residuals starts at the same offset within a
    // 64-byte cache line (8·N a multiple of 64), the blocks are laid on cache lines (a short first
    // block up to the first line boundary), so that each lane group writes whole lines of
    // residuals with streaming stores (no read of the line first, no cache pollution). An asset's
    // results do not depend on the blocks.
    let addr = resid.as_ref().map_or(0, |r| r.as_ptr() as usize);
    let stream = resid.is_some() && addr % 8 == 0 && (n * 8) % 64 == 0;
    let lead = if stream { ((64 - addr % 64) % 64 / 8).min(n) } else { 0 };
    let mut widths = Vec::with_capacity(n.div_ceil(BLOCK) + 1);
    if lead > 0 {
        widths.push(lead);
    }
    let mut j0 = lead;
    while j0 < n {
        let w = BLOCK.min(n - j0);
        widths.push(w);
        j0 += w;
    }
    // (first column, width, the block's columns of the residuals when they are wanted)
    let mut blocks: Vec<(usize, usize, Option<ArrayViewMut2<'_, f64>>)> =
        Vec::with_capacity(widths.len());
    let mut rest = resid.as_mut().map(|r| r.view_mut());
    let mut j0 = 0;
    for &w in &widths {
        let out = rest.take().map(|r| {
            let (b, r) = r.split_at(Axis(1), w);
            rest = Some(r);
            b
        });
        blocks.push((j0, w, out));
        j0 += w;
    }
    let outs: Vec<ChunkOut> = blocks
        .into_par_iter()
        .map_init(Vec::new, |ybuf, (j0, nc, out)| {
            if parallel::cancelled() {
                return ChunkOut::nan(nc, p); // the caller discards the whole result
            }
            let yv = y.slice(ndarray::s![.., j0..j0 + nc]);
            run_chunk(&setup, yv, out, stream && j0 >= lead, ybuf)
        })
        .collect();
    let n_inf: usize = outs.iter().map(|o| o.n_inf).sum();
    if n_inf > 0 {
        return Err(value_error!(
            "y must not contain infinite values ({n_inf} found; NaN marks missing)"
        ));
    }
    let mut params = Vec::with_capacity(n * p);
    let mut covs = Vec::with_capacity(n * p * p);
    let (mut r2, mut r2_adj, mut ssr, mut nobs, mut lag_out, mut collin) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for o in outs {
        params.extend(o.params);
        covs.extend(o.cov);
        r2.extend(o.r2);
        r2_adj.extend(o.r2_adj);
        ssr.extend(o.ssr);
        nobs.extend(o.nobs);
        lag_out.extend(o.lags);
        collin.extend(o.collinearity);
    }
    let shape_err = |e: ndarray::ShapeError| value_error!("internal shape error: {e}");
    Ok(TsFit {
        params: Array2::from_shape_vec((n, p), params).map_err(shape_err)?,
        cov: Array3::from_shape_vec((n, p, p), covs).map_err(shape_err)?,
        r2: Array1::from(r2),
        r2_adj: Array1::from(r2_adj),
        ssr: Array1::from(ssr),
        nobs: Array1::from(nobs),
        lags: Array1::from(lag_out),
        collinearity: Array1::from(collin),
    })
}

/// Assets per parallel task: the task copies its block's whole history (BLOCK × T values, 1.3 MB
/// at T = 2520) out of `y` once, into a buffer that stays in the cache (L2 and L3) for pass 2.
/// Each row of a block is 512 bytes of `y` (8 cache lines), so the strided read of pass 1 costs
/// less per value than with 16 assets (2 lines per row): 5–8 % less CPU for the whole call, HAC
/// or not, measured at N = 5000, T = 2520 (32 and 128 assets were no better than 64).
///
/// Three layouts measured slower (one thread, the same panel, interleaved, minimum of 6 rounds,
/// except where said):
/// - pass 2 reading the block's rows of `y` again instead of the copy: 74.0 ms against 66.2 ms
///   (likely because the 40 KB row stride defeats the prefetchers that serve the copy's
///   consecutive lines);
/// - pass 1 going group by group through tiles of 32 dates, to keep each group's `Xᵀy` in
///   registers: 72.5 ms against 66.8 ms (likely because each row's 512 bytes are then read in
///   eight sweeps);
/// - pass 2 prefetching, into L2, the rows of the adjacent block (the one the worker most likely
///   takes next), one line per lane group and row, so that its pass 1 would not wait on memory:
///   77.1 ms against 70.9 ms, nonrobust 46.6 against 39.2 ms (5 rounds).
///
/// Two more were no faster (differences within the noise of these machines): pass 2 reading the
/// block's rows of `y` again with a software prefetch one tile ahead (70.3 against 70.5 ms), and
/// 32 assets per block with the rest as here (68.7 against 71.0 ms; 5 rounds each).
const BLOCK: usize = 64;

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
    /// `(p(p+1)/2,)` XᵀX over all usable rows; `n_ok` usable rows.
    xtx_full: &'a [f64],
    n_ok: usize,
    build: Build,
}

/// Per-asset results of one block (`nc ≤ BLOCK` assets).
struct ChunkOut {
    params: Vec<f64>,
    cov: Vec<f64>,
    r2: Vec<f64>,
    r2_adj: Vec<f64>,
    ssr: Vec<f64>,
    nobs: Vec<i64>,
    lags: Vec<i64>,
    collinearity: Vec<f64>,
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
            collinearity: vec![f64::NAN; nc],
            n_inf: 0,
        }
    }
}

/// One chunk: dispatch to the AVX-512 build of the kernel when the CPU has it (one 512-bit
/// register per lane group, 32 registers), else to the AVX+FMA build (two 256-bit halves). The
/// builds do the same IEEE operations in the same order for every lane (the portable one fuses
/// its multiply-adds with `f64::mul_add`, correctly rounded like the FMA instruction), so they
/// agree bit for bit.
fn run_chunk(
    s: &Setup<'_>,
    y: ArrayView2<'_, f64>,
    out: Option<ArrayViewMut2<'_, f64>>,
    stream: bool,
    ybuf: &mut Vec<f64>,
) -> ChunkOut {
    #[cfg(target_arch = "x86_64")]
    {
        if s.build == Build::Best && std::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU supports AVX-512F (checked just above).
            return unsafe { chunk_avx512(s, y, out, stream, ybuf) };
        }
        if s.build != Build::Portable
            && std::is_x86_feature_detected!("avx")
            && std::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU supports AVX and FMA (checked just above).
            return unsafe { chunk_avx(s, y, out, stream, ybuf) };
        }
    }
    by_dim::<Portable>(s, y, out, stream, ybuf)
}

/// [`chunk`] with the parameters in registers for `p ≤ 8` (one instance per `p`).
#[inline(always)]
fn by_dim<V: Lanes>(
    s: &Setup<'_>,
    y: ArrayView2<'_, f64>,
    out: Option<ArrayViewMut2<'_, f64>>,
    stream: bool,
    ybuf: &mut Vec<f64>,
) -> ChunkOut {
    match s.p {
        1 => chunk::<V, [V; 1]>(s, y, out, stream, ybuf),
        2 => chunk::<V, [V; 2]>(s, y, out, stream, ybuf),
        3 => chunk::<V, [V; 3]>(s, y, out, stream, ybuf),
        4 => chunk::<V, [V; 4]>(s, y, out, stream, ybuf),
        5 => chunk::<V, [V; 5]>(s, y, out, stream, ybuf),
        6 => chunk::<V, [V; 6]>(s, y, out, stream, ybuf),
        7 => chunk::<V, [V; 7]>(s, y, out, stream, ybuf),
        8 => chunk::<V, [V; 8]>(s, y, out, stream, ybuf),
        _ => chunk::<V, Vec<V>>(s, y, out, stream, ybuf),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx,fma")]
unsafe fn chunk_avx(
    s: &Setup<'_>,
    y: ArrayView2<'_, f64>,
    out: Option<ArrayViewMut2<'_, f64>>,
    stream: bool,
    ybuf: &mut Vec<f64>,
) -> ChunkOut {
    let o = by_dim::<avx::Avx>(s, y, out, stream, ybuf);
    // Orders the block's streaming stores before the task ends (SSE2, part of x86_64).
    std::arch::x86_64::_mm_sfence();
    o
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn chunk_avx512(
    s: &Setup<'_>,
    y: ArrayView2<'_, f64>,
    out: Option<ArrayViewMut2<'_, f64>>,
    stream: bool,
    ybuf: &mut Vec<f64>,
) -> ChunkOut {
    let o = by_dim::<avx512::Avx512>(s, y, out, stream, ybuf);
    std::arch::x86_64::_mm_sfence();
    o
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
    /// Store all `LANES` lanes into `d`, which starts on a 64-byte line, bypassing the caches
    /// where the CPU can (a whole line of residuals nobody reads soon).
    fn stream(self, d: &mut [f64]) {
        self.store(d)
    }
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
    /// Mask of the lanes where `self < o` (false where either is NaN).
    fn lt(self, o: Self) -> Self;
    /// `self + a·b` with one rounding (fused multiply-add).
    fn fma(self, a: Self, b: Self) -> Self;
    /// Whether every / any lane of a mask is set.
    fn all(self) -> bool;
    fn any(self) -> bool;
    fn to_array(self) -> [f64; LANES];
    fn from_array(a: [f64; LANES]) -> Self;
    /// [`accumulate_outer`]; a build may override it with the same operations in the same order
    /// for every lane (so the builds still agree bit for bit).
    #[inline(always)]
    fn accumulate_outer<S: Store<Self>>(acc: &mut [Self], w: &[S], p: usize) {
        accumulate_outer(acc, w, p)
    }
    /// Whether pass 2 sums `Σ W Wᵀ` row by row as it forms the window sums ([`fast_run`]), or
    /// stores the window sums of a tile and sums them after ([`accumulate_outer`]). Both do the
    /// same operations in the same order for every entry, so the builds agree bit for bit
    /// whichever each uses: the fused way needs the `p(p+1)/2` sums and `W` in registers (the
    /// 32 of AVX-512), the other does not.
    const FUSED: bool = false;
    /// [`fast_run`]; the AVX-512 build runs it as a function of its own (see there).
    #[inline(always)]
    fn fast_run<S: Store<Self>>(r: &mut Run<'_, Self, S>, tt: usize, p: usize) -> usize {
        fast_run(r, tt, p)
    }
    /// [`resid_rows`]; the AVX-512 build runs it as a function of its own.
    #[inline(always)]
    fn resid_rows<S: Store<Self>>(r: &mut Resid<'_, '_, Self, S>, p: usize) {
        resid_rows(r, p)
    }
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
    fn lt(self, o: Self) -> Self {
        Portable(std::array::from_fn(|l| {
            if self.0[l] < o.0[l] {
                f64::from_bits(u64::MAX)
            } else {
                0.0
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
    use super::{Lanes, Store, LANES};
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
        fn stream(self, d: &mut [f64]) {
            assert!(d.len() == LANES && (d.as_ptr() as usize) % 64 == 0);
            // SAFETY: 8 writable doubles on one 64-byte line (checked).
            unsafe {
                _mm256_stream_pd(d.as_mut_ptr(), self.0[0]);
                _mm256_stream_pd(d.as_mut_ptr().add(4), self.0[1]);
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
            // |x| == inf, counted from the two compare masks
            unsafe {
                let abs = _mm256_set1_pd(f64::from_bits(0x7fff_ffff_ffff_ffff));
                let inf = _mm256_set1_pd(f64::INFINITY);
                let c0 = _mm256_cmp_pd::<_CMP_EQ_OQ>(_mm256_and_pd(self.0[0], abs), inf);
                let c1 = _mm256_cmp_pd::<_CMP_EQ_OQ>(_mm256_and_pd(self.0[1], abs), inf);
                (_mm256_movemask_pd(c0).count_ones() + _mm256_movemask_pd(c1).count_ones())
                    as usize
            }
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
        fn lt(self, o: Self) -> Self {
            unsafe {
                Avx([
                    _mm256_cmp_pd::<_CMP_LT_OQ>(self.0[0], o.0[0]),
                    _mm256_cmp_pd::<_CMP_LT_OQ>(self.0[1], o.0[1]),
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
        #[allow(clippy::needless_range_loop)]
        /// One 4-lane half at a time, in two sweeps over the rows: the triangle's rows a < 2
        /// (up to 9 sums) and then a ≥ 2 (up to 6), so that the sums and the row's values fit
        /// in the 16 registers (all 15 sums at once spilled 4 of them to the stack, a store and
        /// a reload per multiply-add). Each entry is summed over the rows in order and then
        /// added to `acc`, as the generic code: the same bits whatever the sweeps.
        #[inline(always)]
        fn accumulate_outer<S: Store<Self>>(acc: &mut [Self], w: &[S], p: usize) {
            let pd = S::dim(p);
            if pd > 5 || w.is_empty() {
                return super::accumulate_outer(acc, w, p);
            }
            let split = pd.min(2);
            for h in 0..2 {
                for (lo, hi) in [(0, split), (split, pd)] {
                    if lo == hi {
                        continue;
                    }
                    // the sums of rows lo..hi of the triangle, in order
                    // SAFETY (all intrinsics here): only reached from code built for AVX and FMA.
                    let mut r = [unsafe { _mm256_setzero_pd() }; 9];
                    for we in w {
                        let we = we.as_ref();
                        let mut q = 0;
                        for a in lo..hi {
                            let wa = we[a].0[h];
                            for b in a..pd {
                                r[q] = unsafe { _mm256_fmadd_pd(wa, we[b].0[h], r[q]) };
                                q += 1;
                            }
                        }
                    }
                    // index of (lo, lo) in the whole triangle
                    let mut q0 = 0;
                    for a in 0..lo {
                        q0 += pd - a;
                    }
                    let mut q = 0;
                    for a in lo..hi {
                        for _ in a..pd {
                            acc[q0 + q].0[h] = unsafe { _mm256_add_pd(acc[q0 + q].0[h], r[q]) };
                            q += 1;
                        }
                    }
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    //! AVX-512 lanes: one 512-bit register per lane group. Only used from `chunk_avx512` (the CPU
    //! has AVX-512F there, which implies FMA). Masks stay vectors of all-ones or all-zeros lanes,
    //! as in the other builds; a compare's mask register is widened to one.
    use super::{Lanes, Resid, Run, Store, LANES};
    use std::arch::x86_64::*;

    #[derive(Clone, Copy)]
    pub(super) struct Avx512(__m512d);

    /// A compare's mask register as a vector mask (all-ones lanes where set).
    #[inline(always)]
    fn widen(k: __mmask8) -> Avx512 {
        // SAFETY (every intrinsic of this module): only reached from code built for AVX-512F.
        unsafe { Avx512(_mm512_castsi512_pd(_mm512_maskz_mov_epi64(k, _mm512_set1_epi64(-1)))) }
    }

    /// The lanes of a vector mask that are set (any bit: as the portable build's `!= 0`).
    #[inline(always)]
    fn narrow(m: Avx512) -> __mmask8 {
        unsafe {
            let i = _mm512_castpd_si512(m.0);
            _mm512_test_epi64_mask(i, i)
        }
    }

    impl Lanes for Avx512 {
        #[inline(always)]
        fn zero() -> Self {
            unsafe { Avx512(_mm512_setzero_pd()) }
        }
        #[inline(always)]
        fn splat(x: f64) -> Self {
            unsafe { Avx512(_mm512_set1_pd(x)) }
        }
        #[inline(always)]
        fn load(s: &[f64]) -> Self {
            if s.len() == LANES {
                // SAFETY: 8 readable doubles.
                unsafe { Avx512(_mm512_loadu_pd(s.as_ptr())) }
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
                unsafe { _mm512_storeu_pd(d.as_mut_ptr(), self.0) }
            } else {
                let n = d.len();
                d.copy_from_slice(&self.to_array()[..n]);
            }
        }
        #[inline(always)]
        fn stream(self, d: &mut [f64]) {
            assert!(d.len() == LANES && (d.as_ptr() as usize) % 64 == 0);
            // SAFETY: 8 writable doubles on one 64-byte line (checked).
            unsafe { _mm512_stream_pd(d.as_mut_ptr(), self.0) }
        }
        #[inline(always)]
        fn add(self, o: Self) -> Self {
            unsafe { Avx512(_mm512_add_pd(self.0, o.0)) }
        }
        #[inline(always)]
        fn sub(self, o: Self) -> Self {
            unsafe { Avx512(_mm512_sub_pd(self.0, o.0)) }
        }
        #[inline(always)]
        fn mul(self, o: Self) -> Self {
            unsafe { Avx512(_mm512_mul_pd(self.0, o.0)) }
        }
        #[inline(always)]
        fn finite(self) -> Self {
            // x − x is 0 for finite x, NaN for NaN and ±inf.
            unsafe {
                let d = _mm512_sub_pd(self.0, self.0);
                widen(_mm512_cmp_pd_mask::<_CMP_EQ_OQ>(d, _mm512_setzero_pd()))
            }
        }
        #[inline(always)]
        fn n_inf(self) -> usize {
            // |x| == inf (the bits without the sign are those of +inf), counted from the mask
            unsafe {
                let bits = _mm512_and_si512(
                    _mm512_castpd_si512(self.0),
                    _mm512_set1_epi64(0x7fff_ffff_ffff_ffff),
                );
                let k = _mm512_cmpeq_epi64_mask(bits, _mm512_set1_epi64(0x7ff0_0000_0000_0000));
                k.count_ones() as usize
            }
        }
        #[inline(always)]
        fn and(self, mask: Self) -> Self {
            unsafe {
                Avx512(_mm512_castsi512_pd(_mm512_and_si512(
                    _mm512_castpd_si512(self.0),
                    _mm512_castpd_si512(mask.0),
                )))
            }
        }
        #[inline(always)]
        fn select(mask: Self, a: Self, b: Self) -> Self {
            unsafe { Avx512(_mm512_mask_blend_pd(narrow(mask), b.0, a.0)) }
        }
        #[inline(always)]
        fn lt(self, o: Self) -> Self {
            unsafe { widen(_mm512_cmp_pd_mask::<_CMP_LT_OQ>(self.0, o.0)) }
        }
        #[inline(always)]
        fn fma(self, a: Self, b: Self) -> Self {
            unsafe { Avx512(_mm512_fmadd_pd(a.0, b.0, self.0)) }
        }
        #[inline(always)]
        fn all(self) -> bool {
            narrow(self) == 0xff
        }
        #[inline(always)]
        fn any(self) -> bool {
            narrow(self) != 0
        }
        #[inline(always)]
        fn to_array(self) -> [f64; LANES] {
            let mut a = [0.0; LANES];
            unsafe { _mm512_storeu_pd(a.as_mut_ptr(), self.0) };
            a
        }
        #[inline(always)]
        fn from_array(a: [f64; LANES]) -> Self {
            unsafe { Avx512(_mm512_loadu_pd(a.as_ptr())) }
        }
        /// Every sum of the triangle in one sweep over the rows (15 sums and a row's 5 values fit
        /// in the 32 registers); each entry is summed over the rows in order and then added to
        /// `acc`, as the generic code: the same bits.
        #[inline(always)]
        fn accumulate_outer<S: Store<Self>>(acc: &mut [Self], w: &[S], p: usize) {
            let pd = S::dim(p);
            if pd > 5 || w.is_empty() {
                return super::accumulate_outer(acc, w, p);
            }
            let mut r = [unsafe { _mm512_setzero_pd() }; 15];
            for we in w {
                let we = we.as_ref();
                let mut q = 0;
                for a in 0..pd {
                    for b in a..pd {
                        r[q] = unsafe { _mm512_fmadd_pd(we[a].0, we[b].0, r[q]) };
                        q += 1;
                    }
                }
            }
            for (q, rq) in r.iter().enumerate().take(pd * (pd + 1) / 2) {
                acc[q] = acc[q].add(Avx512(*rq));
            }
        }
        const FUSED: bool = true;
        #[inline(always)]
        fn fast_run<S: Store<Self>>(r: &mut Run<'_, Self, S>, tt: usize, p: usize) -> usize {
            // Called through a pointer the optimiser cannot see through: rustc drops
            // `#[inline(never)]` on a `#[target_feature]` function (1.95), and inlined into the
            // kernel the window sums go to the stack again.
            let f: unsafe fn(&mut Run<'_, Avx512, S>, usize, usize) -> usize =
                std::hint::black_box(fast_run_avx512::<S>);
            // SAFETY: `Avx512` lanes are only made in `chunk_avx512`, on a CPU with AVX-512F.
            unsafe { f(r, tt, p) }
        }
        #[inline(always)]
        fn resid_rows<S: Store<Self>>(r: &mut Resid<'_, '_, Self, S>, p: usize) {
            let f: unsafe fn(&mut Resid<'_, '_, Avx512, S>, usize) =
                std::hint::black_box(resid_rows_avx512::<S>);
            // SAFETY: as for `fast_run`.
            unsafe { f(r, p) }
        }
    }

    /// [`super::resid_rows`] as a function of its own, built for AVX-512 (called as
    /// [`fast_run_avx512`] is). Inlined into the kernel, the loop took about 90 instructions per
    /// lane group and row (bounds checks, the kernel's state reloaded from the stack); here about
    /// 25. One thread, process CPU, interleaved, minimum of 10 rounds of 10 calls: nonrobust
    /// 35.7 against 38.2 ms, HAC 64.3 against 66.5 ms (N = 5000, T = 2520); the same bits.
    ///
    /// # Safety
    /// The CPU must support AVX-512F.
    #[target_feature(enable = "avx512f")]
    unsafe fn resid_rows_avx512<S: Store<Avx512>>(r: &mut Resid<'_, '_, Avx512, S>, p: usize) {
        super::resid_rows(r, p)
    }

    /// [`super::fast_run`] as a function of its own, built for AVX-512: inlined into the kernel
    /// (one very large function), `W` was kept on the stack, a store and a reload per operation;
    /// here `W` and the 15 sums (p = 5) stay in registers.
    ///
    /// # Safety
    /// The CPU must support AVX-512F.
    #[target_feature(enable = "avx512f")]
    unsafe fn fast_run_avx512<S: Store<Avx512>>(
        r: &mut Run<'_, Avx512, S>,
        tt: usize,
        p: usize,
    ) -> usize {
        super::fast_run(r, tt, p)
    }
}

/// Ask for the cache line at `p` ahead of its use (a hint: never faults, no effect elsewhere).
#[inline(always)]
fn prefetch(p: *const f64) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint; it never faults, whatever the address.
    #[allow(unused_unsafe)]
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p as *const i8);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// Rows ahead that pass 1 prefetches (the rows of a block are 8·N bytes apart: no hardware
/// prefetcher follows that stride). The hint is T0 (into L1 and L2): the non-temporal hint
/// (NTA), which would leave L2 to the block's buffer, measured 1.4–2× slower (one thread, 6
/// rounds, minimum 97.1 against 68.2 ms); T1 (into L2 only) no different (one thread, 10
/// interleaved rounds, minimum 64.3 against 63.2 ms; two threads, CPU, 65.5 against 65.9 ms).
const PREFETCH_ROWS: usize = 24;

/// Dates per tile of the second pass; the HAC window sums are buffered per tile and recomputed
/// from their terms at the start of every tile (which bounds the rounding drift of the running
/// sums to a tile).
const TILE: usize = 32;

/// Per-row values of the `p` parameters: `[V; P]` when `p` is a small constant (the loops over
/// the parameters unroll and the values live in registers), `Vec<V>` otherwise.
trait Store<V: Lanes>: AsRef<[V]> + AsMut<[V]> + Clone {
    /// The number of parameters: the constant `P`, or the runtime `p`.
    fn dim(p: usize) -> usize;
    fn zeroed(p: usize) -> Self;
}

impl<V: Lanes, const P: usize> Store<V> for [V; P] {
    #[inline(always)]
    fn dim(_p: usize) -> usize {
        P
    }
    #[inline(always)]
    fn zeroed(_p: usize) -> Self {
        [V::zero(); P]
    }
}

impl<V: Lanes> Store<V> for Vec<V> {
    #[inline(always)]
    fn dim(p: usize) -> usize {
        p
    }
    #[inline(always)]
    fn zeroed(p: usize) -> Self {
        vec![V::zero(); p]
    }
}

/// The HAC state of one lane group: each lane's last `L_l + 1` scores `z = x e` on its own used
/// rows (a circular buffer of `cap = L_max + 1` slots shared by the lanes: logical position `j`,
/// 0 = newest, sits in slot `(head + j) mod cap`; a lane that skips a row keeps its logical order
/// by a select-rotation), the running window sums `W` (the sum of the last `L_l + 1` scores) and
/// the accumulated `Σ W Wᵀ` (upper triangle).
struct Hac<V: Lanes, S: Store<V>> {
    lmax: usize,
    /// The distinct lags of the lanes, each with the mask of its lanes.
    distinct: Vec<(usize, V)>,
    /// `ge[j]`: mask of the lanes whose lag is at least `j` (j ≤ lmax).
    ge: Vec<V>,
    ring: Vec<V>,
    head: usize,
    w: S,
    acc: Vec<V>,
    /// `Σ W Wᵀ` of the tail windows of the lanes finished early (see [`Hac::finish`]), added
    /// to `acc` at the very end, as the tail windows of the other lanes are.
    tail_acc: Option<Vec<V>>,
}

impl<V: Lanes, S: Store<V>> Hac<V, S> {
    fn new(lag_of: [usize; LANES], valid: V, p: usize) -> Hac<V, S> {
        let lmax = lag_of.iter().copied().max().unwrap_or(0);
        let mut distinct: Vec<(usize, V)> = Vec::new();
        let vmask = valid.to_array();
        for l in 0..LANES {
            if vmask[l].to_bits() == 0 {
                continue;
            }
            let lag = lag_of[l];
            if !distinct.iter().any(|(d, _)| *d == lag) {
                let m = V::from_array(std::array::from_fn(|q| {
                    if vmask[q].to_bits() != 0 && lag_of[q] == lag {
                        f64::from_bits(u64::MAX)
                    } else {
                        0.0
                    }
                }));
                distinct.push((lag, m));
            }
        }
        let ge = (0..=lmax)
            .map(|j| {
                V::from_array(std::array::from_fn(|l| {
                    if lag_of[l] >= j {
                        f64::from_bits(u64::MAX)
                    } else {
                        0.0
                    }
                }))
            })
            .collect();
        Hac {
            lmax,
            distinct,
            ge,
            ring: vec![V::zero(); (lmax + 1) * p],
            head: 0,
            w: S::zeroed(p),
            acc: vec![V::zero(); p * (p + 1) / 2],
            tail_acc: None,
        }
    }

    /// Slot of logical position `j ≤ lmax`.
    #[inline(always)]
    fn slot(&self, j: usize) -> usize {
        ring_slot(self.head, self.lmax, j)
    }

    /// The windows that run past each lane's last used row, from the scores in the ring:
    /// `out[i − 1] = Σ_{j ≤ L_l − i} z_j` for i = 1..lmax (zero where i > L_l). They are the
    /// running sums `P_k = Σ_{j ≤ k} z_j` (j = 0 first, as summing each window on its own would
    /// add them) read at `k = L_l − i`: O(lmax · p), not O(lmax² · p).
    #[inline(always)]
    fn tails(&self, out: &mut [S], p: usize) {
        let lmax = self.lmax;
        if lmax == 0 {
            return;
        }
        let mut pre: Vec<S> = Vec::with_capacity(lmax);
        let mut run = S::zeroed(p);
        for k in 0..lmax {
            let sl = self.slot(k) * p;
            let rm = run.as_mut();
            for a in 0..p {
                rm[a] = rm[a].add(self.ring[sl + a]);
            }
            pre.push(run.clone());
        }
        for i in 1..=lmax {
            let wr = out[i - 1].as_mut();
            if self.distinct.len() <= 1 {
                // every lane with estimates has the lag lmax (the others hold only zeros, whose
                // running sums are zero)
                wr.copy_from_slice(pre[lmax - i].as_ref());
                continue;
            }
            for v in wr.iter_mut() {
                *v = V::zero();
            }
            for &(lag, m) in &self.distinct {
                if i <= lag {
                    let src = pre[lag - i].as_ref();
                    for a in 0..p {
                        wr[a] = V::select(m, src[a], wr[a]);
                    }
                }
            }
        }
    }

    /// Finish the lanes `m` past their last used row: sum their tail windows now (into
    /// `tail_acc`, in the order the end of the chunk sums them) and empty their ring (the
    /// caller empties their window), so that from here on they push zero scores that change
    /// nothing. An asset's sums are then the same bits whether or not its neighbours have rows
    /// after its last. (Inlined: a function of its own would be built without the AVX
    /// features of the caller, every lane operation a call.)
    #[inline(always)]
    fn finish(&mut self, m: V, tbuf: &mut [S], p: usize) {
        self.tails(tbuf, p);
        for r in tbuf.iter_mut() {
            for v in r.as_mut() {
                *v = v.and(m);
            }
        }
        let acc = self
            .tail_acc
            .get_or_insert_with(|| vec![V::zero(); p * (p + 1) / 2]);
        V::accumulate_outer(acc, tbuf, p);
        let zero = V::zero();
        for v in self.ring.iter_mut() {
            *v = V::select(m, zero, *v);
        }
    }

    /// `W = Σ_{j=0..L_l} z_j` (logical positions) afresh, in the order j = 0, 1, ...
    #[inline(always)]
    fn refresh(&mut self, p: usize) {
        // j outer, the parameters inner: p independent sums, each in the order j = 0, 1, ...
        let (head, lmax) = (self.head, self.lmax);
        let (ring, ge, w) = (&self.ring, &self.ge, self.w.as_mut());
        for v in w.iter_mut() {
            *v = V::zero();
        }
        if self.distinct.len() <= 1 {
            // every lane with estimates has the lag lmax (the others hold only zeros)
            for j in 0..=lmax {
                let r = &ring[ring_slot(head, lmax, j) * p..][..p];
                for a in 0..p {
                    w[a] = w[a].add(r[a]);
                }
            }
            return;
        }
        for j in 0..=lmax {
            let m = ge[j];
            let r = &ring[ring_slot(head, lmax, j) * p..][..p];
            for a in 0..p {
                w[a] = V::select(m, w[a].add(r[a]), w[a]);
            }
        }
    }
}

/// Slot of logical position `j ≤ lmax` in a ring of `lmax + 1` slots whose newest entry sits in
/// slot `head`.
#[inline(always)]
fn ring_slot(head: usize, lmax: usize, j: usize) -> usize {
    let s = head + j;
    if s > lmax {
        s - (lmax + 1)
    } else {
        s
    }
}

/// What pass 2 needs of one lane group: estimates, mean of y, which lanes have estimates.
struct GroupFit<V: Lanes, S: Store<V>> {
    beta: S,
    ybar: V,
    valid: V,
    inv: Vec<Option<Vec<f64>>>,
    lag_of: [usize; LANES],
    cnt: [f64; LANES],
    /// Each lane's first and last used row (as f64; +inf and −inf for a lane without
    /// estimates): before and after them a lane's HAC state may take zero scores (see pass 2).
    first: V,
    last: V,
    /// (the row after a lane's last used row, the lanes whose history ends just before it) in
    /// date order, for the lanes that end before the last date: finished there in pass 2.
    ends: Vec<(usize, V)>,
}

/// One block of assets: pass 1 copies the block's rows into a buffer that stays in cache and
/// accumulates `Xᵀy` (and `x xᵀ` of the rows an asset misses); the per-asset solves; pass 2 reads
/// the buffer for the residuals, SSR, SST and the HAC window sums.
#[inline(always)]
fn chunk<V: Lanes, S: Store<V>>(
    s: &Setup<'_>,
    y: ArrayView2<'_, f64>,
    out: Option<ArrayViewMut2<'_, f64>>,
    stream: bool,
    ybuf: &mut Vec<f64>,
) -> ChunkOut {
    let p = S::dim(s.p);
    let (t_len, nc) = y.dim();
    let n_groups = nc.div_ceil(LANES);
    let span = |g: usize| g * LANES..g * LANES + LANES.min(nc - g * LANES);
    let npp = p * (p + 1) / 2;
    let hac = s.cov == Cov::Hac;
    let one = V::splat(1.0);
    let mut n_inf = 0usize;

    // ---- pass 1: the block's rows into ybuf ([group][date][lane], NaN-padded), Xᵀy over the
    // used rows, and Σ x xᵀ over the rows each lane misses (only rows where some lane misses).
    // (the buffer is the worker's, reused from block to block: only rows with factors are
    // written and read)
    if ybuf.len() < n_groups * t_len * LANES {
        ybuf.resize(n_groups * t_len * LANES, f64::NAN);
    }
    let ybuf = &mut ybuf[..n_groups * t_len * LANES];
    let yrows: Vec<&[f64]> = y
        .outer_iter()
        .map(|r| r.to_slice().expect("rows of a C-contiguous array"))
        .collect();
    let mut xty: Vec<S> = vec![S::zeroed(p); n_groups];
    let mut miss_xx = vec![V::zero(); n_groups * npp];
    let mut n_miss = vec![V::zero(); n_groups];
    for t in 0..t_len {
        if t + PREFETCH_ROWS < t_len {
            let ahead = yrows[t + PREFETCH_ROWS];
            for c in (0..nc).step_by(8) {
                prefetch(ahead[c..].as_ptr());
            }
            prefetch(ahead[nc - 1..].as_ptr());
        }
        let yr = yrows[t];
        if !s.row_ok[t] {
            n_inf += yr.iter().filter(|v| v.is_infinite()).count();
            continue;
        }
        let x = &s.xrows[t * p..][..p];
        let xx = &s.xxrows[t * npp..][..npp];
        for g in 0..n_groups {
            let yv = V::load(&yr[span(g)]);
            let at = (g * t_len + t) * LANES;
            yv.store(&mut ybuf[at..at + LANES]);
            let m = yv.finite();
            let yz = yv.and(m);
            let acc = xty[g].as_mut();
            for a in 0..p {
                acc[a] = acc[a].fma(V::splat(x[a]), yz);
            }
            if !m.all() {
                n_inf += yv.n_inf();
                let miss = V::select(m, V::zero(), one);
                n_miss[g] = n_miss[g].add(miss);
                for (acc, &v) in miss_xx[g * npp..(g + 1) * npp].iter_mut().zip(xx) {
                    *acc = acc.fma(miss, V::splat(v));
                }
            }
        }
    }

    // ---- per asset: XᵀX, solve --------------------------------------------------------
    let mut o = ChunkOut::nan(nc, p);
    let mut a_full = vec![0.0; p * p];
    let mut b_vec = vec![0.0; p];
    let mut xtx_l = vec![0.0; npp];
    let mut fits: Vec<GroupFit<V, S>> = Vec::with_capacity(n_groups);
    for g in 0..n_groups {
        let nb = span(g).len();
        let nm = n_miss[g].to_array();
        let mx: Vec<[f64; LANES]> = miss_xx[g * npp..(g + 1) * npp]
            .iter()
            .map(|v| v.to_array())
            .collect();
        let xy: Vec<[f64; LANES]> = xty[g].as_ref().iter().map(|v| v.to_array()).collect();
        let mut bet = vec![[0.0; LANES]; p];
        let mut ybar = [0.0; LANES];
        let mut valid = [0.0; LANES];
        let mut inv: Vec<Option<Vec<f64>>> = vec![None; LANES];
        let mut lag_of = [0usize; LANES];
        let mut cnt = [0.0; LANES];
        let mut first = [f64::INFINITY; LANES];
        let mut last = [f64::NEG_INFINITY; LANES];
        for l in 0..nb {
            let n_miss_l = nm[l] as usize;
            let n_l = s.n_ok - n_miss_l;
            cnt[l] = n_l as f64;
            if n_l < s.min_obs {
                continue;
            }
            // All rows minus the missing ones, when that loses no accuracy: at least half of the
            // rows are the asset's and its rows carry at least a quarter of every column's sum
            // of squares (so no diagonal entry is a small difference of large sums; a column
            // that is zero on the asset's rows is found exactly, as a singular design).
            let mut direct = n_miss_l > n_l;
            if !direct {
                for q in 0..npp {
                    xtx_l[q] = s.xtx_full[q] - mx[q][l];
                }
                let mut d = 0;
                for a in 0..p {
                    direct |= xtx_l[d].is_nan() || xtx_l[d] < 0.25 * s.xtx_full[d];
                    d += p - a;
                }
            }
            if direct {
                // a short history (or a column nearly zero on its rows): its own rows directly
                xtx_l.iter_mut().for_each(|v| *v = 0.0);
                for t in 0..t_len {
                    if s.row_ok[t] && ybuf[(g * t_len + t) * LANES + l].is_finite() {
                        for (acc, &v) in xtx_l.iter_mut().zip(&s.xxrows[t * npp..(t + 1) * npp]) {
                            *acc += v;
                        }
                    }
                }
            }
            let mut q = 0;
            for a in 0..p {
                for b in a..p {
                    a_full[a * p + b] = xtx_l[q];
                    a_full[b * p + a] = xtx_l[q];
                    q += 1;
                }
                b_vec[a] = xy[a][l];
            }
            let Some(ch) = Cholesky::new(&a_full, p) else {
                o.collinearity[g * LANES + l] = 0.0; // singular: no estimates
                continue;
            };
            o.collinearity[g * LANES + l] = ch.min_pivot_ratio(&a_full);
            ch.solve_in_place(&mut b_vec);
            for a in 0..p {
                bet[a][l] = b_vec[a];
            }
            inv[l] = Some(ch.inverse());
            valid[l] = f64::from_bits(u64::MAX);
            if hac {
                let used =
                    |t: &usize| s.row_ok[*t] && ybuf[(g * t_len + t) * LANES + l].is_finite();
                // (an asset with estimates has used rows)
                first[l] = (0..t_len).find(used).unwrap_or(0) as f64;
                last[l] = (0..t_len).rev().find(used).unwrap_or(0) as f64;
            }
            if s.intercept {
                ybar[l] = xy[0][l] / cnt[l]; // x_0 = 1: the first entry of Xᵀy is Σ y
            }
            lag_of[l] = match s.cov {
                Cov::NonRobust => 0,
                Cov::Hac => s.lags.unwrap_or_else(|| default_lags(n_l)),
            };
        }
        let mut beta = S::zeroed(p);
        for a in 0..p {
            beta.as_mut()[a] = V::from_array(bet[a]);
        }
        let has = |l: usize| l < nb && valid[l].to_bits() != 0;
        let after_last = |l: usize| last[l] as usize + 1; // (a lane with estimates has rows)
        let mut ends: Vec<usize> = if hac {
            (0..nb).filter(|&l| has(l)).map(after_last).filter(|&r| r < t_len).collect()
        } else {
            Vec::new()
        };
        ends.sort_unstable();
        ends.dedup();
        let ends: Vec<(usize, V)> = ends
            .into_iter()
            .map(|r| {
                let m = std::array::from_fn(|l| {
                    if has(l) && after_last(l) == r {
                        f64::from_bits(u64::MAX)
                    } else {
                        0.0
                    }
                });
                (r, V::from_array(m))
            })
            .collect();
        fits.push(GroupFit {
            beta,
            ybar: V::from_array(ybar),
            valid: V::from_array(valid),
            inv,
            lag_of,
            cnt,
            first: V::from_array(first),
            last: V::from_array(last),
            ends,
        });
    }

    // ---- pass 2: residuals, SSR, SST, HAC window sums (from the buffer) ----------------
    let centre = s.intercept;
    let mut ssr = vec![V::zero(); n_groups];
    let mut sst = vec![V::zero(); n_groups];
    let mut hs: Vec<Hac<V, S>> = if hac {
        fits.iter().map(move |f| Hac::new(f.lag_of, f.valid, p)).collect()
    } else {
        Vec::new()
    };
    let mut ebuf = vec![V::zero(); TILE];
    // each group's next entry of `ends`; the tail windows of the lanes finished
    let mut next_end = vec![0usize; n_groups];
    let lmax = hs.iter().map(|h| h.lmax).max().unwrap_or(0);
    let mut tbuf: Vec<S> = vec![S::zeroed(p); lmax];
    let mut ubuf = vec![V::zero(); TILE];
    let mut wbuf: Vec<S> = vec![S::zeroed(p); TILE.max(1 + lmax)];
    // Σ W Wᵀ summed as the rows come (see `Lanes::FUSED`; up to 8 parameters: 36 sums)
    let fused = V::FUSED && p <= 8;
    let mut st = vec![V::zero(); npp];
    // the block's rows of the residuals (none when they are not wanted)
    let write = out.is_some();
    let mut out = out;
    let mut orows: Vec<&mut [f64]> = match out.as_mut() {
        Some(o) => o
            .outer_iter_mut()
            .map(|r| r.into_slice().expect("rows of a C-contiguous output"))
            .collect(),
        None => Vec::new(),
    };
    for t0 in (0..t_len).step_by(TILE) {
        let t1 = (t0 + TILE).min(t_len);
        if write {
            for t in t0..t1 {
                if !s.row_ok[t] {
                    orows[t].iter_mut().for_each(|v| *v = f64::NAN);
                }
            }
        }
        for g in 0..n_groups {
            let fit = &fits[g];
            let sp = span(g);
            // (i) residuals, SSR, SST; e and the mask of the lanes that push a score kept for (ii)
            let n = t1 - t0;
            let mut r = Resid {
                yb: &ybuf[(g * t_len + t0) * LANES..(g * t_len + t1) * LANES],
                x: &s.xrows[t0 * p..t1 * p],
                row_ok: &s.row_ok[t0..t1],
                t0,
                fit,
                centre,
                hac,
                out: write.then(|| ResidOut {
                    rows: &mut orows[t0..t1],
                    cols: sp.clone(),
                    stream,
                }),
                ebuf: &mut ebuf[..n],
                ubuf: &mut ubuf[..n],
                ssr: ssr[g],
                sst: sst[g],
            };
            V::resid_rows(&mut r, p);
            ssr[g] = r.ssr;
            sst[g] = r.sst;
            if !hac {
                continue;
            }
            // (ii) the window sums W of each used row, into wbuf
            let h = &mut hs[g];
            if t0 > 0 {
                h.refresh(p);
            }
            let mut w = h.w.clone();
            let cap = h.lmax + 1;
            // (fused) the tile's sums of W Wᵀ, the rows of wbuf already in them, the rows summed
            // by `fast_run`
            if fused {
                st.iter_mut().for_each(|v| *v = V::zero());
            }
            let mut pend = 0usize;
            let mut summed = 0usize;
            // the common case: every lane of the group has the same lag L > 0
            let single = h.lmax > 0 && h.distinct.len() == 1;
            let mut nw = 0usize;
            // the rows in segments: at the row after a lane's last used row (whether or not
            // any lane uses that row), the lane is finished; the hot loop holds no call
            let ends = &fits[g].ends;
            let mut seg0 = 0usize;
            loop {
                let seg1 = match ends.get(next_end[g]) {
                    Some(&(r, _)) if r < t1 => r - t0,
                    _ => t1 - t0,
                };
                let mut tt = seg0;
                while tt < seg1 {
                    if fused && single && ubuf[tt].all() {
                        // the rows stored so far first (their sums come first), then the run
                        accumulate_rows(&mut st, &wbuf[pend..nw], p);
                        pend = nw;
                        let from = tt;
                        let mut r = Run {
                            ubuf: &ubuf,
                            ebuf: &ebuf,
                            xrows: s.xrows,
                            t0,
                            seg1,
                            hac: h,
                            w: &mut w,
                            st: &mut st,
                        };
                        tt = V::fast_run(&mut r, tt, p);
                        summed += tt - from;
                        continue;
                    }
                    let t = t0 + tt;
                    tt += 1;
                    // the lanes that push a score (a zero one for those outside their history)
                    let used = ubuf[t - t0];
                    if !used.any() {
                        continue; // a row no lane uses leaves every HAC sum unchanged: skip it
                    }
                    let e = ebuf[t - t0];
                    let x = &s.xrows[t * p..][..p];
                    let all = used.all();
                    if all && single {
                        // every lane pushes its score z; the one leaving the window (position L)
                        // sits in the slot z takes (the ring has L + 1 slots): one sweep over the
                        // parameters, z never stored apart
                        let nh = if h.head == 0 { cap - 1 } else { h.head - 1 };
                        let slot = &mut h.ring[nh * p..nh * p + p];
                        let (wm, wr) = (w.as_mut(), wbuf[nw].as_mut());
                        for a in 0..p {
                            let za = V::splat(x[a]).mul(e);
                            wm[a] = wm[a].add(za.sub(slot[a]));
                            slot[a] = za;
                            wr[a] = wm[a];
                        }
                        h.head = nh;
                        nw += 1;
                        continue;
                    }
                    let mut z = S::zeroed(p);
                    for a in 0..p {
                        z.as_mut()[a] = V::splat(x[a]).mul(e);
                    }
                    if h.lmax == 0 {
                        w = z.clone();
                    } else {
                        // the score leaving each lane's window: logical position L_l
                        let mut old = S::zeroed(p);
                        if h.distinct.len() == 1 {
                            let sl = h.slot(h.distinct[0].0) * p;
                            for a in 0..p {
                                old.as_mut()[a] = h.ring[sl + a];
                            }
                        } else {
                            for &(lag, m) in &h.distinct {
                                let sl = h.slot(lag) * p;
                                for a in 0..p {
                                    let oa = &mut old.as_mut()[a];
                                    *oa = V::select(m, h.ring[sl + a], *oa);
                                }
                            }
                        }
                        let nh = if h.head == 0 { cap - 1 } else { h.head - 1 };
                        let (wm, zr, om) = (w.as_mut(), z.as_ref(), old.as_ref());
                        // (a slice of its own: its address and length stay in registers, not
                        // reloaded after every store into it)
                        let ring: &mut [V] = &mut h.ring;
                        if all {
                            for a in 0..p {
                                wm[a] = wm[a].add(zr[a].sub(om[a]));
                                ring[nh * p + a] = zr[a];
                            }
                        } else {
                            for a in 0..p {
                                wm[a] = V::select(used, wm[a].add(zr[a].sub(om[a])), wm[a]);
                            }
                            // used lanes push z at the new head; the others keep their logical
                            // order: new slot q takes old slot q + 1 (in place, from slot nh
                            // on, every parameter of a slot at once; the last slot, nh − 1,
                            // takes the old slot nh, read before it changed)
                            let mut old_nh = S::zeroed(p);
                            old_nh.as_mut().copy_from_slice(&ring[nh * p..nh * p + p]);
                            let mut q = nh;
                            for j in 0..cap {
                                let nxt = if q + 1 == cap { 0 } else { q + 1 };
                                for a in 0..p {
                                    let pushed = if j == 0 { zr[a] } else { ring[q * p + a] };
                                    let older = if j + 1 == cap {
                                        old_nh.as_ref()[a]
                                    } else {
                                        ring[nxt * p + a]
                                    };
                                    ring[q * p + a] = V::select(used, pushed, older);
                                }
                                q = nxt;
                            }
                        }
                        h.head = nh;
                    }
                    let (wr, wv) = (wbuf[nw].as_mut(), w.as_ref());
                    if all {
                        for a in 0..p {
                            wr[a] = wv[a];
                        }
                    } else {
                        for a in 0..p {
                            wr[a] = wv[a].and(used);
                        }
                    }
                    nw += 1;
                }
                if seg1 == t1 - t0 {
                    break;
                }
                let m = ends[next_end[g]].1;
                next_end[g] += 1;
                h.finish(m, &mut tbuf, p);
                let wm = w.as_mut();
                for a in 0..p {
                    wm[a] = V::select(m, V::zero(), wm[a]);
                }
                seg0 = seg1;
            }
            h.w = w;
            // (iii) Σ W Wᵀ: the tile's sums, each over the rows in order from zero, added to acc
            if fused {
                accumulate_rows(&mut st, &wbuf[pend..nw], p);
                if summed + nw > 0 {
                    for (a, v) in h.acc.iter_mut().zip(&st) {
                        *a = a.add(*v);
                    }
                }
            } else {
                V::accumulate_outer(&mut h.acc, &wbuf[..nw], p);
            }
        }
    }

    // ---- per asset: HAC tail windows, covariance and fit statistics -------------------
    let k_const = if s.intercept { 1.0 } else { 0.0 };
    let mut meat = vec![0.0; p * p];
    let mut c = vec![0.0; p * p];
    for (g, fit) in fits.iter().enumerate() {
        if hac {
            // the windows that run past each lane's last used row: Σ_{j ≤ L_l − i} z_j, i ≥ 1
            let h = &mut hs[g];
            h.tails(&mut wbuf[..h.lmax], p);
            V::accumulate_outer(&mut h.acc, &wbuf[..h.lmax], p);
            if let Some(t) = &h.tail_acc {
                // the lanes finished early (their ring is empty: their tails above were zero)
                for (a, &v) in h.acc.iter_mut().zip(t) {
                    *a = a.add(v);
                }
            }
        }
        let beta: Vec<[f64; LANES]> = fit.beta.as_ref().iter().map(|v| v.to_array()).collect();
        let ssr_g = ssr[g].to_array();
        let sst_g = sst[g].to_array();
        let ybar_g = fit.ybar.to_array(); // 0 without an intercept
        let acc: Vec<[f64; LANES]> = if hac {
            hs[g].acc.iter().map(|v| v.to_array()).collect()
        } else {
            Vec::new()
        };
        let (cnt, lag_of) = (&fit.cnt, &fit.lag_of);
        for l in 0..span(g).len() {
            let j = g * LANES + l;
            o.nobs[j] = cnt[l] as i64;
            o.lags[j] = lag_of[l] as i64;
            let Some(inv) = fit.inv[l].as_ref() else {
                for row in orows.iter_mut() {
                    row[j] = f64::NAN; // no estimate: every residual of the asset is NaN
                }
                continue;
            };
            let n_obs = cnt[l];
            let df = n_obs - p as f64;
            if hac {
                let scale = (lag_of[l] + 1) as f64;
                let mut q = 0;
                for a in 0..p {
                    for b in a..p {
                        let v = acc[q][l] / scale;
                        meat[a * p + b] = v;
                        meat[b * p + a] = v;
                        q += 1;
                    }
                }
                sandwich(inv, &meat, p, &mut c);
            } else {
                let s2 = ssr_g[l] / df;
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
            o.ssr[j] = ssr_g[l];
            // A y constant on the asset's rows has SST = 0 and R² = 0/0 (NaN, as statsmodels);
            // in floating point its mean, a sum of n values over n, is off the constant by up to
            // about n ulps, leaving an SST of rounding noise: an SST within n (n ε ȳ)² (every
            // deviation within that bound of the mean) is taken for 0
            let dev = n_obs * f64::EPSILON * ybar_g[l];
            let noise = n_obs * dev * dev;
            let r2 = if sst_g[l] > noise {
                1.0 - ssr_g[l] / sst_g[l]
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

/// What [`resid_rows`] works on: one lane group's rows `t0..t0 + n` of a tile (its buffered
/// values of `y`, the design rows and which have factors), its fit, the residual rows to write
/// (the block's rows, the group's columns in them, whether with streaming stores) when they are
/// wanted, the tile's buffers of residuals and push masks, and the group's SSR and SST so far.
struct Resid<'a, 'o, V: Lanes, S: Store<V>> {
    yb: &'a [f64],
    x: &'a [f64],
    row_ok: &'a [bool],
    t0: usize,
    fit: &'a GroupFit<V, S>,
    centre: bool,
    hac: bool,
    out: Option<ResidOut<'a, 'o>>,
    ebuf: &'a mut [V],
    ubuf: &'a mut [V],
    ssr: V,
    sst: V,
}

/// Where [`resid_rows`] writes: the block's residual rows of the tile, the group's columns in
/// them, and whether with streaming stores (whole 64-byte lines).
struct ResidOut<'a, 'o> {
    rows: &'a mut [&'o mut [f64]],
    cols: std::ops::Range<usize>,
    stream: bool,
}

/// Pass 2 (i) of a lane group over the rows of a tile: each row's residuals `e` (stored when
/// wanted, NaN where a lane does not use the row), SSR and SST continued in row order, and for
/// (ii) the residuals and the mask of the lanes that push a score.
#[inline(always)]
fn resid_rows<V: Lanes, S: Store<V>>(r: &mut Resid<'_, '_, V, S>, p: usize) {
    let pd = S::dim(p);
    let fit = r.fit;
    let beta = fit.beta.clone();
    let beta = beta.as_ref();
    let (ybar, valid, first, last) = (fit.ybar, fit.valid, fit.first, fit.last);
    let (centre, hac, t0) = (r.centre, r.hac, r.t0);
    let nan = V::splat(f64::NAN);
    let (mut ssr, mut sst) = (r.ssr, r.sst);
    let rows = r
        .yb
        .chunks_exact(LANES)
        .zip(r.x.chunks_exact(pd))
        .zip(r.row_ok)
        .zip(r.ebuf.iter_mut().zip(r.ubuf.iter_mut()))
        .enumerate();
    for (tt, (((yr, x), &ok), (eb, ub))) in rows {
        if !ok {
            *ub = V::zero();
            continue;
        }
        let yv = V::load(yr);
        let used = yv.finite().and(valid);
        let yz = yv.and(used);
        let mut fitv = V::zero();
        for a in 0..pd {
            fitv = fitv.fma(V::splat(x[a]), beta[a]);
        }
        let e = yz.sub(fitv).and(used);
        if let Some(o) = r.out.as_mut() {
            let orow = &mut o.rows[tt][o.cols.clone()];
            let v = V::select(used, e, nan);
            if o.stream && orow.len() == LANES {
                v.stream(orow);
            } else {
                v.store(orow);
            }
        }
        let d = if centre { yz.sub(ybar).and(used) } else { yz };
        ssr = ssr.fma(e, e);
        sst = sst.fma(d, d);
        *eb = e;
        *ub = if !hac || used.all() {
            used
        } else if used.any() {
            // A lane before its first used row (or without estimates) pushes a zero score (its
            // e is 0): its ring holds only zeros, and pushing one changes nothing, exactly as
            // skipping the row. A lane past its last used row has been finished (its tail
            // windows summed apart, its ring emptied, see `Hac::finish`) and pushes zeros
            // likewise. Only a lane inside its history that misses the row must keep its ring
            // as it is (the rotating path). A late listing or a delisting would otherwise send
            // its lane group down that path for every row before or after its history.
            let tv = V::splat((t0 + tt) as f64);
            let before = tv.lt(first);
            let idle = V::select(before, before, last.lt(tv));
            V::select(used, used, idle)
        } else {
            V::zero() // a row no lane uses: skipped in (ii)
        };
    }
    r.ssr = ssr;
    r.sst = sst;
}

/// Continue the sums `st` (upper triangle, pairs a ≤ b row by row) of `Σ_e w_e w_eᵀ` over the
/// rows `w`, in row order (each entry: one multiply-add per row, as [`accumulate_outer`] sums).
#[inline(always)]
fn accumulate_rows<V: Lanes, S: Store<V>>(st: &mut [V], w: &[S], p: usize) {
    let pd = S::dim(p);
    for we in w {
        let we = we.as_ref();
        let mut q = 0;
        for a in 0..pd {
            for b in a..pd {
                st[q] = st[q].fma(we[a], we[b]);
                q += 1;
            }
        }
    }
}

/// What [`fast_run`] works on: a lane group's pass-2 buffers for the tile that starts at date
/// `t0` (row `tt` of the tile is date `t0 + tt`), the end `seg1` of the rows it may take, the
/// group's HAC state, its window sums `w` and the tile's sums `st` of `W Wᵀ`.
struct Run<'a, V: Lanes, S: Store<V>> {
    ubuf: &'a [V],
    ebuf: &'a [V],
    xrows: &'a [f64],
    t0: usize,
    seg1: usize,
    hac: &'a mut Hac<V, S>,
    w: &'a mut S,
    st: &'a mut [V],
}

/// Pass 2 of a lane group (fused build, `p ≤ 8`), rows `tt..` of the tile, for as long as every
/// lane pushes its score (`ubuf[tt]` all true) and `tt < seg1`, with a single lag: each row's
/// scores `z = x e` enter the window sums `W` (the score leaving the window sits in the ring slot
/// `z` takes), the ring's head moves, and `W Wᵀ` is added to the tile's sums `st` (continued, in
/// row order). Returns the first row not taken. (Taking the rows with holes here too, with the
/// rotation of the general loop, the same bits, so that `W` and the sums stay in registers
/// across them, measured no faster: one thread, process CPU, minimum of 12 interleaved rounds
/// of 10 calls, 62.9 against 62.5 ms, N = 5000, T = 2520, 1 % holes.)
#[inline(always)]
fn fast_run<V: Lanes, S: Store<V>>(r: &mut Run<'_, V, S>, mut tt: usize, p: usize) -> usize {
    let Run { ubuf, ebuf, xrows, t0, seg1, .. } = *r;
    let (hac, w, st) = (&mut *r.hac, &mut *r.w, &mut *r.st);
    let pd = S::dim(p);
    let npp = pd * (pd + 1) / 2;
    let cap = hac.lmax + 1;
    let mut head = hac.head;
    let mut wl = w.clone();
    // the p(p+1)/2 ≤ 36 sums in a local array (registers for p = 5), written back at the end
    let mut sl = [V::zero(); 36];
    sl[..npp].copy_from_slice(&st[..npp]);
    {
        let wm = wl.as_mut();
        let ring = &mut hac.ring;
        while tt < seg1 && ubuf[tt].all() {
            let e = ebuf[tt];
            let x = &xrows[(t0 + tt) * pd..][..pd];
            let nh = if head == 0 { cap - 1 } else { head - 1 };
            let slot = &mut ring[nh * pd..nh * pd + pd];
            for a in 0..pd {
                let za = V::splat(x[a]).mul(e);
                wm[a] = wm[a].add(za.sub(slot[a]));
                slot[a] = za;
            }
            let mut q = 0;
            for a in 0..pd {
                for b in a..pd {
                    sl[q] = sl[q].fma(wm[a], wm[b]);
                    q += 1;
                }
            }
            head = nh;
            tt += 1;
        }
    }
    st[..npp].copy_from_slice(&sl[..npp]);
    hac.head = head;
    *w = wl;
    tt
}

/// `acc += Σ_e w_e w_eᵀ` (upper triangle, pairs a ≤ b row by row) over the rows `w`. Each row
/// `a` of the triangle is summed over the rows of `w` in registers, then added to `acc`.
#[inline(always)]
fn accumulate_outer<V: Lanes, S: Store<V>>(acc: &mut [V], w: &[S], p: usize) {
    if w.is_empty() {
        return;
    }
    // `S::dim` is the constant `P` for the register stores: both loops over the parameters then
    // unroll completely, every index is a constant and the `P − a` sums of a row stay in
    // registers across the rows of `w` (a loop `b in a..p` with a runtime `a` kept them in
    // memory, one store-to-load round trip per multiply-add).
    let pd = S::dim(p);
    let mut q0 = 0;
    for a in 0..pd {
        let mut r = S::zeroed(p);
        {
            let rm = r.as_mut();
            for we in w {
                let we = we.as_ref();
                let wa = we[a];
                for b in 0..pd {
                    if b >= a {
                        rm[b] = rm[b].fma(wa, we[b]);
                    }
                }
            }
        }
        let rr = r.as_ref();
        for b in a..pd {
            acc[q0 + b - a] = acc[q0 + b - a].add(rr[b]);
        }
        q0 += pd - a;
    }
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
    fn short_histories_many_factors_and_columns_zero_on_an_assets_rows() {
        // p = 10 (beyond the unrolled sizes); asset 3 keeps 35 of 120 rows, so its XᵀX is
        // summed from its own rows rather than as all rows minus the missing ones
        let (mut y, f) = data(120, 20, 9, 13);
        for t in 0..120 {
            if !(40..75).contains(&t) {
                y[[t, 3]] = f64::NAN;
            }
        }
        for (cov, lags) in [(Cov::NonRobust, None), (Cov::Hac, Some(3))] {
            let out = time_series_regress(y.view(), f.view(), true, cov, lags, 12).unwrap();
            for i in 0..20 {
                let col: Vec<f64> = y.column(i).to_vec();
                let (b, c, ssr) = reference(&col, &f, true, lags);
                for a in 0..10 {
                    assert!(close(out.params[[i, a]], b[a], 1e-10), "{cov:?} {i} {a}");
                    for bb in 0..10 {
                        let (u, v) = (out.cov[[i, a, bb]], c[a * 10 + bb]);
                        let scale = (c[a * 10 + a] * c[bb * 10 + bb]).sqrt();
                        assert!((u - v).abs() <= 1e-10 * scale, "{cov:?} {i} {a} {bb}");
                    }
                }
                assert!(close(out.ssr[i], ssr, 1e-10));
            }
        }
        // a factor that is zero on every row asset 5 uses (but not elsewhere): singular for
        // that asset (NaN), found exactly although the asset has most of the rows
        let (mut y, mut f) = data(120, 8, 2, 17);
        for t in 0..120 {
            if t < 80 {
                f[[t, 0]] = 0.0;
            } else {
                y[[t, 5]] = f64::NAN;
            }
        }
        let out = time_series_regress(y.view(), f.view(), true, Cov::Hac, Some(2), 5).unwrap();
        assert!(out.params.row(5).iter().all(|v| v.is_nan()));
        assert!(out.resid.column(5).iter().all(|v| v.is_nan()));
        let n5 = (0..80).filter(|&t| y[[t, 5]].is_finite()).count();
        assert_eq!(out.nobs[5] as usize, n5);
        let col: Vec<f64> = y.column(4).to_vec();
        let (b, _, _) = reference(&col, &f, true, Some(2));
        assert!((0..3).all(|a| close(out.params[[4, a]], b[a], 1e-12)));
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
        let (y, f) = data(200, 150, 4, 11); // three blocks of assets (64 + 64 + 22)
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
        for i in 0..150 {
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

    fn with_build(
        y: &Array2<f64>,
        f: &Array2<f64>,
        cov: Cov,
        lags: Option<usize>,
        build: Build,
    ) -> TsOutput {
        let mut resid = Array2::<f64>::zeros(y.dim());
        let fit = regress_impl(
            y.view(),
            f.view(),
            true,
            cov,
            lags,
            f.ncols() + 2,
            build,
            Some(resid.view_mut()),
        )
        .unwrap();
        TsOutput { fit, resid }
    }

    #[test]
    fn without_residuals_the_fit_is_the_same_and_a_nonrobust_call_gives_the_residuals() {
        // the residual panel is optional: every estimate and statistic is bit for bit the same
        // without it, and the residuals of any call are those of the nonrobust call (the
        // estimates do not depend on the covariance)
        let (y, f) = data(150, 304, 3, 9);
        let bits = |a: &[f64]| a.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        let plain = with_build(&y, &f, Cov::NonRobust, None, Build::Best);
        for (cov, lags) in [(Cov::Hac, Some(4)), (Cov::Hac, None), (Cov::NonRobust, None)] {
            let full = with_build(&y, &f, cov, lags, Build::Best);
            let bare =
                time_series_regress_into(y.view(), f.view(), true, cov, lags, 5, None).unwrap();
            assert_eq!(bits(full.params.as_slice().unwrap()), bits(bare.params.as_slice().unwrap()));
            assert_eq!(bits(full.cov.as_slice().unwrap()), bits(bare.cov.as_slice().unwrap()));
            assert_eq!(bits(full.ssr.as_slice().unwrap()), bits(bare.ssr.as_slice().unwrap()));
            assert_eq!(bits(full.r2.as_slice().unwrap()), bits(bare.r2.as_slice().unwrap()));
            assert_eq!(bits(full.r2_adj.as_slice().unwrap()), bits(bare.r2_adj.as_slice().unwrap()));
            assert_eq!(full.nobs, bare.nobs);
            assert_eq!(full.lags, bare.lags);
            assert_eq!(bits(full.resid.as_slice().unwrap()), bits(plain.resid.as_slice().unwrap()));
            assert_eq!(bits(full.params.as_slice().unwrap()), bits(plain.params.as_slice().unwrap()));
            assert_eq!(bits(full.ssr.as_slice().unwrap()), bits(plain.ssr.as_slice().unwrap()));
        }
    }

    #[test]
    fn simd_and_portable_builds_agree_bit_for_bit_and_short_lags_work() {
        // more than one block, a partial lane group; 8·N a multiple of 64, so the residuals are
        // written with streaming stores where the lines allow (a short first block); p = 2, 4, 5
        // and 8 parameters (the AVX-512 build sums Σ W Wᵀ as it goes, the others after a tile)
        for k in [1usize, 3, 4, 7] {
            let (y, f) = data(150, 304, k, 5);
            for (cov, lags) in [
                (Cov::Hac, None),
                (Cov::Hac, Some(1)),
                (Cov::Hac, Some(5)),
                (Cov::Hac, Some(0)),
                (Cov::NonRobust, None),
            ] {
                // the widest build the CPU has (AVX-512 or AVX) against AVX and the portable build
                let a = with_build(&y, &f, cov, lags, Build::Best);
                for narrower in [Build::Avx, Build::Portable] {
                    let b = with_build(&y, &f, cov, lags, narrower);
                    let bits = |x: &Array2<f64>| x.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
                    assert_eq!(bits(&a.params), bits(&b.params), "{narrower:?}");
                    assert_eq!(
                        a.cov.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                        b.cov.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                        "{narrower:?}"
                    );
                    assert_eq!(bits(&a.resid), bits(&b.resid), "{narrower:?}");
                    assert_eq!(a.r2.as_slice().unwrap(), b.r2.as_slice().unwrap());
                    assert_eq!(a.ssr.as_slice().unwrap(), b.ssr.as_slice().unwrap());
                }
                for i in [0usize, 5, 6, 137, 299, 303] {
                    let col: Vec<f64> = y.column(i).to_vec();
                    let n_used = col.iter().filter(|v| v.is_finite()).count();
                    let l = match cov {
                        Cov::NonRobust => None,
                        Cov::Hac => Some(lags.unwrap_or(default_lags(n_used))),
                    };
                    let (bb, c, _) = reference(&col, &f, true, l);
                    let p = k + 1;
                    for j in 0..p {
                        assert!(close(a.params[[i, j]], bb[j], 1e-12));
                        assert!(
                            close(a.cov[[i, j, j]], c[j * p + j], 1e-10),
                            "{k} {cov:?} {lags:?} {i} {j}"
                        );
                    }
                    // residuals where used (streamed or stored), NaN elsewhere
                    for t in 0..150 {
                        let r = a.resid[[t, i]];
                        if col[t].is_finite() {
                            let fit: f64 =
                                bb[0] + (0..k).map(|q| bb[q + 1] * f[[t, q]]).sum::<f64>();
                            assert!((r - (col[t] - fit)).abs() <= 1e-13, "{k} {i} {t}");
                        } else {
                            assert!(r.is_nan());
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn every_build_counts_the_infinite_values_of_y() {
        // ±inf in full and partial lane groups, on rows every factor has and on a row without
        // factors, among NaN: each build counts exactly the infinite cells (never NaN or a
        // finite value next to them) and reports the count
        let (mut y, mut f) = data(60, 150, 3, 7);
        f[[10, 1]] = f64::NAN; // row 10 has no factors
        let cells = [(0, 0), (3, 7), (3, 8), (10, 2), (10, 149), (25, 131), (59, 149), (40, 64)];
        for (k, &(t, i)) in cells.iter().enumerate() {
            y[[t, i]] = if k % 2 == 0 { f64::INFINITY } else { f64::NEG_INFINITY };
        }
        y[[3, 9]] = f64::NAN;
        y[[25, 130]] = f64::MAX;
        y[[40, 65]] = -f64::MIN_POSITIVE;
        for build in [Build::Best, Build::Avx, Build::Portable] {
            for cov in [Cov::Hac, Cov::NonRobust] {
                let e = regress_impl(y.view(), f.view(), true, cov, None, 5, build, None)
                    .err()
                    .expect("infinite values in y are an error");
                assert!(e.to_string().contains("(8 found;"), "{build:?} {cov:?}: {e}");
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
