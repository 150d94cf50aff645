//! Dense f64 linear algebra for the reference statistics that need it (the ridge references of
//! `probe-corr` and `ugrn pretrain`): the Cholesky factor of a symmetric positive definite
//! matrix, solves with it, and (feature `testing`) Gaussian elimination as an independent check
//! for tests. Matrices are row-major `n × n` slices.

/// A pivot of the factorisation that is not positive: the matrix is not (numerically) positive
/// definite.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NotPositiveDefinite {
    pub pivot: usize,
    pub value: f64,
}

impl std::fmt::Display for NotPositiveDefinite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "matrix not positive definite (pivot {} is {})", self.pivot, self.value)
    }
}

impl std::error::Error for NotPositiveDefinite {}

/// Overwrites the lower triangle of `a` (diagonal included) with L, A = L Lᵀ; only that
/// triangle of `a` is read, and the upper one is left as it was.
pub fn cholesky_in_place(a: &mut [f64], n: usize) -> Result<(), NotPositiveDefinite> {
    assert_eq!(a.len(), n * n, "an n × n matrix");
    for i in 0..n {
        for j in 0..=i {
            let s = a[i * n + j] - dot(&a[i * n..i * n + j], &a[j * n..j * n + j]);
            if i == j {
                if s.is_nan() || s <= 0.0 {
                    return Err(NotPositiveDefinite { pivot: i, value: s });
                }
                a[i * n + i] = s.sqrt();
            } else {
                a[i * n + j] = s / a[j * n + j];
            }
        }
    }
    Ok(())
}

/// x with L Lᵀ x = b, for the factor L in the lower triangle of `l`.
pub fn cholesky_solve(l: &[f64], n: usize, mut b: Vec<f64>) -> Vec<f64> {
    for i in 0..n {
        b[i] = (b[i] - dot(&l[i * n..i * n + i], &b[..i])) / l[i * n + i];
    }
    for i in (0..n).rev() {
        b[i] /= l[i * n + i];
        let xi = b[i];
        for j in 0..i {
            b[j] -= l[i * n + j] * xi;
        }
    }
    b
}

/// Four partial sums, so that the compiler may vectorise (one running sum fixes the order of
/// the additions and forbids it); the factorisation's cost is nearly all here.
pub fn dot(x: &[f64], y: &[f64]) -> f64 {
    let mut acc = [0.0; 4];
    let (xc, yc) = (x.chunks_exact(4), y.chunks_exact(4));
    let tail: f64 = xc.remainder().iter().zip(yc.remainder()).map(|(a, b)| a * b).sum();
    for (p, q) in xc.zip(yc) {
        for k in 0..4 {
            acc[k] += p[k] * q[k];
        }
    }
    acc.iter().sum::<f64>() + tail
}

/// x with A x = b by Gaussian elimination with partial pivoting (`a` full): a solver that shares
/// nothing with the Cholesky path, for tests to check it against.
#[cfg(any(test, feature = "testing"))]
pub fn solve_by_elimination(mut a: Vec<f64>, mut b: Vec<f64>) -> Vec<f64> {
    let n = b.len();
    for k in 0..n {
        let p = (k..n).max_by(|&i, &j| a[i * n + k].abs().total_cmp(&a[j * n + k].abs())).expect("n > 0");
        for j in 0..n {
            a.swap(k * n + j, p * n + j);
        }
        b.swap(k, p);
        for i in k + 1..n {
            let f = a[i * n + k] / a[k * n + k];
            for j in k..n {
                a[i * n + j] -= f * a[k * n + j];
            }
            b[i] -= f * b[k];
        }
    }
    let mut x = vec![0.0; n];
    for i in (0..n).rev() {
        x[i] = (b[i] - (i + 1..n).map(|j| a[i * n + j] * x[j]).sum::<f64>()) / a[i * n + i];
    }
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cholesky_solves_as_elimination_does() {
        let a = vec![4.0, 1.0, 0.5, 0.2, 1.0, 3.0, 0.4, 0.1, 0.5, 0.4, 2.0, 0.3, 0.2, 0.1, 0.3, 1.5];
        let b = vec![1.0, -2.0, 0.5, 3.0];
        let mut l = a.clone();
        cholesky_in_place(&mut l, 4).unwrap();
        let x = cholesky_solve(&l, 4, b.clone());
        let y = solve_by_elimination(a.clone(), b.clone());
        for (xi, yi) in x.iter().zip(&y) {
            assert!((xi - yi).abs() < 1e-12, "{x:?} vs {y:?}");
        }
        for i in 0..4 {
            let ax: f64 = (0..4).map(|j| a[i * 4 + j] * x[j]).sum();
            assert!((ax - b[i]).abs() < 1e-12);
        }
        assert_eq!(l[1], 1.0, "the upper triangle is left as it was");
        assert!((l[0] - 2.0).abs() < 1e-15, "L[0,0] = √4");
    }

    #[test]
    fn a_matrix_that_is_not_positive_definite_is_named() {
        let mut a = vec![1.0, 2.0, 2.0, 1.0];
        let e = cholesky_in_place(&mut a, 2).unwrap_err();
        assert_eq!(e, NotPositiveDefinite { pivot: 1, value: -3.0 });
        assert_eq!(e.to_string(), "matrix not positive definite (pivot 1 is -3)");
    }

    #[test]
    fn dot_matches_the_plain_sum_at_every_length() {
        for n in 0..11 {
            let x: Vec<f64> = (0..n).map(|i| i as f64 * 0.5 - 1.0).collect();
            let y: Vec<f64> = (0..n).map(|i| 2.0 - i as f64).collect();
            let plain: f64 = x.iter().zip(&y).map(|(a, b)| a * b).sum();
            assert!((dot(&x, &y) - plain).abs() < 1e-12, "n = {n}");
        }
    }
}
