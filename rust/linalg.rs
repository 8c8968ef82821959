//! Small dense symmetric positive-definite algebra for the K×K / P×P systems of the kernels
//! (P ≤ a few hundred): Cholesky factorisation with a scale-free singularity test, solves and
//! inverse. Row-major `Vec<f64>` storage; the large dimensions never come here.

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
        Self::factor(a, p, |j| a[j * p + j])
    }

    /// As [`Cholesky::new`], but column j's pivot is tested against `PIVOT_TOL * reference[j]`
    /// instead of `a[j][j]`. Used when `a` is a Schur complement `C − Bᵀ A⁻¹ B`: the reference is
    /// then `C`'s diagonal (the columns' own squared norms), so that a column explained by the
    /// eliminated block is declared dependent exactly as in the factorisation of the whole matrix.
    pub fn new_relative_to(a: &[f64], p: usize, reference: &[f64]) -> Option<Cholesky> {
        debug_assert_eq!(reference.len(), p);
        Self::factor(a, p, |j| reference[j])
    }

    fn factor(a: &[f64], p: usize, reference: impl Fn(usize) -> f64) -> Option<Cholesky> {
        debug_assert_eq!(a.len(), p * p);
        let mut l = vec![0.0; p * p];
        for j in 0..p {
            let ajj = a[j * p + j];
            let rj = reference(j);
            if !(ajj > 0.0) || !ajj.is_finite() || !(rj > 0.0) || !rj.is_finite() {
                return None;
            }
            let mut d = ajj;
            for k in 0..j {
                d -= l[j * p + k] * l[j * p + k];
            }
            if !(d > PIVOT_TOL * rj) {
                return None;
            }
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
        Some(Cholesky { p, l })
    }

    pub fn dim(&self) -> usize {
        self.p
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

#[cfg(test)]
mod tests {
    use super::*;

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
