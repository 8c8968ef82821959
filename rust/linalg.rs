//! Small dense symmetric positive-definite algebra for the K×K / P×P systems of the kernels
//! (P ≤ a few hundred): Cholesky factorisation with a scale-free singularity test, solves and
//! inverse, and the positive semi-definiteness test of the risk model. One factorisation loop
//! ([`factor`]) serves both, with a pivot policy (definite or semi-definite). Row-major
//! `Vec<f64>` storage; the large dimensions never come here.

/// Relative pivot tolerance: column j is declared dependent on the previous columns when its
/// Cholesky pivot falls below `PIVOT_TOL * a[j][j]` (i.e. the column's squared norm left after
/// projecting out the others is under 1e-12 of its own squared norm).
pub const PIVOT_TOL: f64 = 1e-12;

/// Lower-triangular Cholesky factor `L` (row-major, p×p) with `A = L Lᵀ`.
#[derive(Debug, Clone)]
pub struct Cholesky {
    p: usize,
    l: Vec<f64>,
}

impl Cholesky {
    /// Factor the symmetric matrix `a` (row-major p×p; only the lower triangle is read).
    /// Returns `None` when `a` is not numerically positive definite (a singular design).
    pub fn new(a: &[f64], p: usize) -> Option<Cholesky> {
        let l = factor(a, p, &Definite { reference: |j| a[j * p + j] })?;
        Some(Cholesky { p, l })
    }

    /// As [`Cholesky::new`], but column j's pivot is tested against `PIVOT_TOL * reference[j]`
    /// instead of `a[j][j]`. Used when `a` is a Schur complement `C − Bᵀ A⁻¹ B`: the reference is
    /// then `C`'s diagonal (the columns' own squared norms), so that a column explained by the
    /// eliminated block is declared dependent exactly as in the factorisation of the whole matrix.
    pub fn new_relative_to(a: &[f64], p: usize, reference: &[f64]) -> Option<Cholesky> {
        debug_assert_eq!(reference.len(), p);
        let l = factor(a, p, &Definite { reference: |j| reference[j] })?;
        Some(Cholesky { p, l })
    }

    pub fn dim(&self) -> usize {
        self.p
    }

    /// `min_j L_jj² / a_jj` for the factored matrix `a` (a Gram matrix `XᵀX`): the smallest share
    /// of a column's squared norm left after projecting out the columns before it (1 for
    /// orthogonal columns, about `1 / VIF` of the most collinear one; [`PIVOT_TOL`] at least).
    /// The normal equations lose about `ε / ratio` of relative accuracy to rounding.
    pub fn min_pivot_ratio(&self, a: &[f64]) -> f64 {
        let p = self.p;
        (0..p)
            .map(|j| self.l[j * p + j] * self.l[j * p + j] / a[j * p + j])
            .fold(f64::INFINITY, f64::min)
    }

    /// Solve `A x = b` in place.
    pub fn solve_in_place(&self, b: &mut [f64]) {
        let p = self.p;
        let l = &self.l;
        for i in 0..p {
            let mut s = b[i];
            for k in 0..i {
                s -= l[i * p + k] * b[k];
            }
            b[i] = s / l[i * p + i];
        }
        for i in (0..p).rev() {
            let mut s = b[i];
            for k in (i + 1)..p {
                s -= l[k * p + i] * b[k];
            }
            b[i] = s / l[i * p + i];
        }
    }

    /// `A⁻¹` as a dense row-major p×p matrix.
    pub fn inverse(&self) -> Vec<f64> {
        let p = self.p;
        let mut inv = vec![0.0; p * p];
        let mut col = vec![0.0; p];
        for j in 0..p {
            col.iter_mut().for_each(|c| *c = 0.0);
            col[j] = 1.0;
            self.solve_in_place(&mut col);
            for i in 0..p {
                inv[i * p + j] = col[i];
            }
        }
        // Symmetrise exactly so that downstream variances are bit-for-bit symmetric.
        for i in 0..p {
            for j in 0..i {
                let m = 0.5 * (inv[i * p + j] + inv[j * p + i]);
                inv[i * p + j] = m;
                inv[j * p + i] = m;
            }
        }
        inv
    }

    /// `aᵀ A⁻¹ a = ‖L⁻¹ a‖²`; `a` is overwritten with `L⁻¹ a`.
    pub fn inverse_quadratic_form(&self, a: &mut [f64]) -> f64 {
        let p = self.p;
        let l = &self.l;
        let mut q = 0.0;
        for i in 0..p {
            let mut s = a[i];
            for k in 0..i {
                s -= l[i * p + k] * a[k];
            }
            a[i] = s / l[i * p + i];
            q += a[i] * a[i];
        }
        q
    }

    /// The diagonal of `A⁻¹` (`(A⁻¹)_jj = ‖L⁻¹ e_j‖²`, about p³/6 flops) into `out`.
    pub fn inverse_diagonal_into(&self, out: &mut Vec<f64>) {
        let p = self.p;
        let l = &self.l;
        out.clear();
        out.resize(p, 0.0);
        let mut z = vec![0.0; p];
        for j in 0..p {
            // Forward solve L z = e_j; z_i = 0 for i < j.
            let mut q = 0.0;
            for i in j..p {
                let mut s = if i == j { 1.0 } else { 0.0 };
                for k in j..i {
                    s -= l[i * p + k] * z[k];
                }
                z[i] = s / l[i * p + i];
                q += z[i] * z[i];
            }
            out[j] = q;
        }
    }

    /// log-determinant of `A`.
    pub fn log_det(&self) -> f64 {
        (0..self.p).map(|i| 2.0 * self.l[i * self.p + i].ln()).sum()
    }
}

/// Whether the symmetric matrix `a` (row-major p×p; only the lower triangle is read) is positive
/// semi-definite up to rounding: the Cholesky factorisation of [`factor`] in which a pivot `d_j`
/// with `|d_j| ≤ pivot_tol · a_jj` counts as zero (a column dependent on the previous ones); the
/// rest of such a column must then be negligible too (`|s_ij| ≤ off_tol · sqrt(a_ii a_jj)`, else
/// the matrix is indefinite, as `[[0, 1], [1, 0]]`) and the column of `L` stays zero. A negative
/// or non-finite diagonal, or a pivot below `−pivot_tol · a_jj`, means not PSD.
pub fn is_semidefinite(a: &[f64], p: usize, pivot_tol: f64, off_tol: f64) -> bool {
    factor(a, p, &SemiDefinite { a, p, pivot_tol, off_tol }).is_some()
}

/// What a [`PivotPolicy`] makes of column j's pivot.
enum Pivot {
    /// Factor the column (`d > 0`).
    Positive,
    /// A dependent column: `L`'s column stays zero, provided the rest of the column is negligible.
    Zero,
    /// Stop: the matrix is not (semi-)definite.
    Reject,
}

/// How [`factor`] treats diagonals, pivots and the entries of a zero-pivot column.
trait PivotPolicy {
    /// Is column j's diagonal `a_jj` acceptable (checked before elimination)?
    fn diagonal_ok(&self, j: usize, ajj: f64) -> bool;
    /// Classify column j's pivot `d = a_jj − Σ_k l_jk²`.
    fn pivot(&self, j: usize, ajj: f64, d: f64) -> Pivot;
    /// For a zero pivot: is the eliminated entry `s = a_ij − Σ_k l_ik l_jk` negligible?
    fn negligible(&self, i: usize, j: usize, s: f64) -> bool;
}

/// Positive definite: a pivot must exceed `PIVOT_TOL · reference(j)`.
struct Definite<R: Fn(usize) -> f64> {
    reference: R,
}

impl<R: Fn(usize) -> f64> PivotPolicy for Definite<R> {
    #[inline]
    fn diagonal_ok(&self, j: usize, ajj: f64) -> bool {
        let rj = (self.reference)(j);
        ajj > 0.0 && ajj.is_finite() && rj > 0.0 && rj.is_finite()
    }
    #[inline]
    fn pivot(&self, j: usize, _ajj: f64, d: f64) -> Pivot {
        if d > PIVOT_TOL * (self.reference)(j) {
            Pivot::Positive
        } else {
            Pivot::Reject
        }
    }
    #[inline]
    fn negligible(&self, _i: usize, _j: usize, _s: f64) -> bool {
        false // no zero pivots
    }
}

/// Positive semi-definite up to rounding; see [`is_semidefinite`].
struct SemiDefinite<'a> {
    a: &'a [f64],
    p: usize,
    pivot_tol: f64,
    off_tol: f64,
}

impl PivotPolicy for SemiDefinite<'_> {
    #[inline]
    fn diagonal_ok(&self, _j: usize, ajj: f64) -> bool {
        ajj >= 0.0 && ajj.is_finite()
    }
    #[inline]
    fn pivot(&self, _j: usize, ajj: f64, d: f64) -> Pivot {
        if d < -self.pivot_tol * ajj {
            Pivot::Reject
        } else if d <= self.pivot_tol * ajj {
            Pivot::Zero
        } else {
            Pivot::Positive
        }
    }
    #[inline]
    fn negligible(&self, i: usize, j: usize, s: f64) -> bool {
        let p = self.p;
        !(s.abs() > self.off_tol * (self.a[i * p + i] * self.a[j * p + j]).sqrt())
    }
}

/// The one Cholesky loop (row-major, lower triangle read): `L` with `A = L Lᵀ`, or `None` when
/// the policy rejects a diagonal, a pivot, or a non-negligible entry of a zero-pivot column.
/// Every sum runs over `k = 0..j` in order, so results do not depend on the policy.
#[inline]
fn factor(a: &[f64], p: usize, policy: &impl PivotPolicy) -> Option<Vec<f64>> {
    debug_assert_eq!(a.len(), p * p);
    let mut l = vec![0.0; p * p];
    for j in 0..p {
        let ajj = a[j * p + j];
        if !policy.diagonal_ok(j, ajj) {
            return None;
        }
        let mut d = ajj;
        for k in 0..j {
            d -= l[j * p + k] * l[j * p + k];
        }
        match policy.pivot(j, ajj, d) {
            Pivot::Reject => return None,
            Pivot::Zero => {
                for i in (j + 1)..p {
                    let mut s = a[i * p + j];
                    for k in 0..j {
                        s -= l[i * p + k] * l[j * p + k];
                    }
                    if !policy.negligible(i, j, s) {
                        return None;
                    }
                }
                // column j of L stays zero
            }
            Pivot::Positive => {
                let djj = d.sqrt();
                l[j * p + j] = djj;
                for i in (j + 1)..p {
                    let mut s = a[i * p + j];
                    for k in 0..j {
                        s -= l[i * p + k] * l[j * p + k];
                    }
                    l[i * p + j] = s / djj;
                }
            }
        }
    }
    Some(l)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn min_pivot_ratio_is_the_share_left_after_projecting_out_earlier_columns() {
        // Orthogonal columns keep their whole norm: ratio 1.
        let c = Cholesky::new(&[4.0, 0.0, 0.0, 9.0], 2).unwrap();
        assert_eq!(c.min_pivot_ratio(&[4.0, 0.0, 0.0, 9.0]), 1.0);
        // Gram of columns (1, 0) and (1, δ): the second keeps δ² of its squared norm 1 + δ²,
        // 1 − cos² of the angle between them (1 / VIF).
        let d: f64 = 1e-3;
        let a = [1.0, 1.0, 1.0, 1.0 + d * d];
        let r = Cholesky::new(&a, 2).unwrap().min_pivot_ratio(&a);
        assert!((r - d * d / (1.0 + d * d)).abs() < 1e-9 * d * d, "{r}");
    }

    #[test]
    fn solves_a_hand_worked_system() {
        // A = [[4, 2], [2, 3]], b = [2, 1]  →  x = [0.5, 0]
        let a = [4.0, 2.0, 2.0, 3.0];
        let c = Cholesky::new(&a, 2).unwrap();
        let mut b = [2.0, 1.0];
        c.solve_in_place(&mut b);
        assert!((b[0] - 0.5).abs() < 1e-15 && b[1].abs() < 1e-15);
        let inv = c.inverse();
        // A⁻¹ = 1/8 [[3, -2], [-2, 4]]
        let want = [0.375, -0.25, -0.25, 0.5];
        for (x, y) in inv.iter().zip(want) {
            assert!((x - y).abs() < 1e-15);
        }
        assert!((c.log_det() - 8f64.ln()).abs() < 1e-14);
    }

    #[test]
    fn inverse_diagonal_and_quadratic_form() {
        let a = [4.0, 2.0, 0.5, 2.0, 3.0, 0.25, 0.5, 0.25, 2.0];
        let c = Cholesky::new(&a, 3).unwrap();
        let inv = c.inverse();
        let mut d = Vec::new();
        c.inverse_diagonal_into(&mut d);
        for j in 0..3 {
            assert!((d[j] - inv[j * 3 + j]).abs() < 1e-15);
        }
        let v = [1.0, -2.0, 0.5];
        let want: f64 = (0..3).map(|i| (0..3).map(|j| v[i] * inv[i * 3 + j] * v[j]).sum::<f64>()).sum();
        let mut w = v;
        assert!((c.inverse_quadratic_form(&mut w) - want).abs() < 1e-14);
    }

    #[test]
    fn semidefinite_test_shares_the_factorisation() {
        // positive definite: both accept
        let a = [4.0, 2.0, 0.5, 2.0, 3.0, 0.25, 0.5, 0.25, 2.0];
        assert!(Cholesky::new(&a, 3).is_some() && is_semidefinite(&a, 3, 1e-10, 1e-6));
        // rank one v vᵀ: singular for the solver, semi-definite for the test
        let v = [0.3, -1.2, 0.7];
        let r1: Vec<f64> = (0..9).map(|i| v[i / 3] * v[i % 3]).collect();
        assert!(Cholesky::new(&r1, 3).is_none() && is_semidefinite(&r1, 3, 1e-10, 1e-6));
        // zero pivot with a large entry below it, and a negative pivot: indefinite
        assert!(!is_semidefinite(&[0.0, 1.0, 1.0, 0.0], 2, 1e-10, 1e-6));
        assert!(!is_semidefinite(&[1.0, 2.0, 2.0, 1.0], 2, 1e-10, 1e-6));
        // a negative or non-finite diagonal
        assert!(!is_semidefinite(&[-1e-300], 1, 1e-10, 1e-6));
        assert!(!is_semidefinite(&[f64::INFINITY], 1, 1e-10, 1e-6));
    }

    #[test]
    fn rejects_singular_and_indefinite() {
        // Second column is twice the first: singular.
        let a = [1.0, 2.0, 2.0, 4.0];
        assert!(Cholesky::new(&a, 2).is_none());
        let b = [1.0, 2.0, 2.0, 1.0];
        assert!(Cholesky::new(&b, 2).is_none());
        let z = [0.0];
        assert!(Cholesky::new(&z, 1).is_none());
    }
}
