//! The speed of light of `ff.time_series_regress(..., cov="hac", lags=5)` at N = 5000, T = 2520,
//! K = 4 (p = 5 parameters with the intercept) on this machine.
//!
//! Run: `cargo run --release --manifest-path benches/hac_floor/Cargo.toml`
//!
//! Per asset and date, the least work of the regression and its Newey-West covariance:
//! - `Xᵀy`: p multiply-adds (pass 1);
//! - the residual `e = y − xᵀβ`: p multiply-adds, and `SSR += e²`;
//! - the scores `z = x e`: p multiplies;
//! - the Bartlett window sum `W += z − z_{−L−1}` (a ring of L + 1 scores): 2p adds;
//! - `S += W Wᵀ`: p(p+1)/2 = 15 multiply-adds.
//!
//! Eight assets run in lockstep (two 4-lane AVX registers, and, where the CPU has AVX-512, one
//! 512-bit register: the kernel's two SIMD builds), exactly as the kernel does, but with
//! everything the kernel must also do left out: no missing values (no holes, no ragged starts or
//! ends, no per-asset rotation of the ring), no solves, no SST, no covariance sandwich, no
//! residual panel, and the assets' data already in the core's cache (four 8-asset buffers reused
//! in turn; reading the (T, N) panel from memory once takes another ≈ 5 ms, `y.sum(0)` in numpy).
//! So the time printed is a floor that no implementation of this algorithm reaches. The groups
//! are split over 1 and then 2 threads (the machine's cores); the minimum of 15 repetitions is
//! printed for each (`FLOOR_DEBUG=1` also prints each thread's own time per repetition).

#[cfg(target_arch = "x86_64")]
mod kernel {
    use std::arch::x86_64::*;

    pub const P: usize = 5;
    pub const L: usize = 5;

    /// One group of 8 assets over `t_len` dates: `ybuf` is `[date][lane]`, `x` is `[date][p]`.
    /// Returns a checksum (so that nothing is optimised away).
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn group(ybuf: &[f64], x: &[f64], t_len: usize, beta: &[[f64; 8]; P]) -> f64 {
        assert!(ybuf.len() >= t_len * 8 && x.len() >= t_len * P);
        let yp = ybuf.as_ptr();
        let sum = |v: __m256d| {
            let mut a = [0.0; 4];
            _mm256_storeu_pd(a.as_mut_ptr(), v);
            a.iter().sum::<f64>()
        };
        let mut check = 0.0;
        // pass 1: Xᵀy
        let mut xty = [[_mm256_setzero_pd(); 2]; P];
        for t in 0..t_len {
            let y0 = _mm256_loadu_pd(yp.add(t * 8));
            let y1 = _mm256_loadu_pd(yp.add(t * 8 + 4));
            for (a, acc) in xty.iter_mut().enumerate() {
                let xa = _mm256_broadcast_sd(&x[t * P + a]);
                acc[0] = _mm256_fmadd_pd(xa, y0, acc[0]);
                acc[1] = _mm256_fmadd_pd(xa, y1, acc[1]);
            }
        }
        for acc in &xty {
            check += sum(acc[0]) + sum(acc[1]);
        }
        // pass 2, one 4-lane half at a time (the 15 sums of S then stay in registers)
        for h in 0..2 {
            let b: [__m256d; P] =
                std::array::from_fn(|a| _mm256_loadu_pd(beta[a].as_ptr().add(h * 4)));
            let mut ring = [[_mm256_setzero_pd(); P]; L + 1];
            let mut w = [_mm256_setzero_pd(); P];
            let mut s = [_mm256_setzero_pd(); P * (P + 1) / 2];
            let mut ssr = _mm256_setzero_pd();
            let mut head = 0usize;
            for t in 0..t_len {
                let yv = _mm256_loadu_pd(yp.add(t * 8 + h * 4));
                let xs: [__m256d; P] = std::array::from_fn(|a| _mm256_broadcast_sd(&x[t * P + a]));
                let mut fit = _mm256_setzero_pd();
                for a in 0..P {
                    fit = _mm256_fmadd_pd(xs[a], b[a], fit);
                }
                let e = _mm256_sub_pd(yv, fit);
                ssr = _mm256_fmadd_pd(e, e, ssr);
                let slot = &mut ring[head];
                for a in 0..P {
                    let z = _mm256_mul_pd(xs[a], e);
                    w[a] = _mm256_add_pd(w[a], _mm256_sub_pd(z, slot[a]));
                    slot[a] = z;
                }
                head = if head == L { 0 } else { head + 1 };
                let mut q = 0;
                for a in 0..P {
                    for bb in a..P {
                        s[q] = _mm256_fmadd_pd(w[a], w[bb], s[q]);
                        q += 1;
                    }
                }
            }
            check += s.iter().map(|&v| sum(v)).sum::<f64>() + sum(ssr);
        }
        check
    }

    /// [`group`] with the 8 lanes in one 512-bit register (as the kernel's AVX-512 build): the
    /// same operations per lane, all 15 sums of S in registers at once (32 registers).
    ///
    /// # Safety
    /// The CPU must support AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn group512(ybuf: &[f64], x: &[f64], t_len: usize, beta: &[[f64; 8]; P]) -> f64 {
        assert!(ybuf.len() >= t_len * 8 && x.len() >= t_len * P);
        let yp = ybuf.as_ptr();
        let sum = |v: __m512d| _mm512_reduce_add_pd(v);
        let mut check = 0.0;
        let mut xty = [_mm512_setzero_pd(); P];
        for t in 0..t_len {
            let yv = _mm512_loadu_pd(yp.add(t * 8));
            for (a, acc) in xty.iter_mut().enumerate() {
                *acc = _mm512_fmadd_pd(_mm512_set1_pd(x[t * P + a]), yv, *acc);
            }
        }
        for acc in &xty {
            check += sum(*acc);
        }
        let b: [__m512d; P] = std::array::from_fn(|a| _mm512_loadu_pd(beta[a].as_ptr()));
        let mut ring = [[_mm512_setzero_pd(); P]; L + 1];
        let mut w = [_mm512_setzero_pd(); P];
        let mut s = [_mm512_setzero_pd(); P * (P + 1) / 2];
        let mut ssr = _mm512_setzero_pd();
        let mut head = 0usize;
        for t in 0..t_len {
            let yv = _mm512_loadu_pd(yp.add(t * 8));
            let xs: [__m512d; P] = std::array::from_fn(|a| _mm512_set1_pd(x[t * P + a]));
            let mut fit = _mm512_setzero_pd();
            for a in 0..P {
                fit = _mm512_fmadd_pd(xs[a], b[a], fit);
            }
            let e = _mm512_sub_pd(yv, fit);
            ssr = _mm512_fmadd_pd(e, e, ssr);
            let slot = &mut ring[head];
            for a in 0..P {
                let z = _mm512_mul_pd(xs[a], e);
                w[a] = _mm512_add_pd(w[a], _mm512_sub_pd(z, slot[a]));
                slot[a] = z;
            }
            head = if head == L { 0 } else { head + 1 };
            let mut q = 0;
            for a in 0..P {
                for bb in a..P {
                    s[q] = _mm512_fmadd_pd(w[a], w[bb], s[q]);
                    q += 1;
                }
            }
        }
        check + s.iter().map(|&v| sum(v)).sum::<f64>() + sum(ssr)
    }
}

#[cfg(target_arch = "x86_64")]
fn main() {
    use kernel::{group, group512, P};
    use std::time::Instant;
    if !(std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")) {
        eprintln!("needs AVX2 and FMA");
        return;
    }
    let (t_len, n) = (2520usize, 5000usize);
    let groups = n / 8;
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut rnd = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5
    };
    let x: Vec<f64> = (0..t_len * P)
        .map(|i| if i % P == 0 { 1.0 } else { 0.02 * rnd() })
        .collect();
    let ybufs: Vec<Vec<f64>> = (0..4)
        .map(|_| (0..t_len * 8).map(|_| 0.04 * rnd()).collect())
        .collect();
    let beta = [[0.1; 8]; P];
    let wide = std::is_x86_feature_detected!("avx512f");
    let run = |g0: usize, g1: usize, w512: bool| -> f64 {
        (g0..g1)
            .map(|g| {
                if w512 {
                    // SAFETY: AVX-512F was checked (`wide`).
                    unsafe { group512(&ybufs[g % 4], &x, t_len, &beta) }
                } else {
                    // SAFETY: AVX2 and FMA were checked above.
                    unsafe { group(&ybufs[g % 4], &x, t_len, &beta) }
                }
            })
            .sum()
    };
    println!(
        "HAC arithmetic floor, N = {n}, T = {t_len}, p = {P}, L = {}",
        kernel::L
    );
    let builds: &[bool] = if wide { &[false, true] } else { &[false] };
    for (&w512, threads) in builds.iter().flat_map(|b| [(b, 1usize), (b, 2)]) {
        let mut best = f64::INFINITY;
        let mut check = 0.0;
        for _ in 0..15 {
            let c = Instant::now();
            check = std::thread::scope(|sc| {
                let hs: Vec<_> = (0..threads)
                    .map(|i| {
                        let (g0, g1) = (groups * i / threads, groups * (i + 1) / threads);
                        sc.spawn(move || {
                            let c = Instant::now();
                            let r = run(g0, g1, w512);
                            if std::env::var("FLOOR_DEBUG").is_ok() {
                                eprintln!("thread {i}: {:.1} ms", c.elapsed().as_secs_f64() * 1e3);
                            }
                            r
                        })
                    })
                    .collect();
                hs.into_iter().map(|h| h.join().unwrap()).sum::<f64>()
            });
            best = best.min(c.elapsed().as_secs_f64());
        }
        println!(
            "{} {threads} thread(s): {:.1} ms (min of 15; checksum {check:.6e})",
            if w512 { "AVX-512" } else { "AVX2   " },
            best * 1e3
        );
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn main() {
    eprintln!("x86_64 only");
}
