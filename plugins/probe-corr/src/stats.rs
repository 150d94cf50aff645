//! Gene × gene statistics of a genes × cells matrix, in f64 (the f32 input is widened once, so
//! sums over thousands of cells and the inverse of a near-singular matrix keep their digits).
use ugrn_linalg::cholesky_in_place;

/// A dense `n × n` matrix of f64, row-major.
#[derive(Debug)]
pub(crate) struct Square {
    n: usize,
    data: Vec<f64>,
}

impl Square {
    fn zeros(n: usize) -> Self {
        Square { n, data: vec![0.0; n * n] }
    }

    pub(crate) fn get(&self, row: usize, col: usize) -> f64 {
        self.data[row * self.n + col]
    }

    fn row(&self, row: usize) -> &[f64] {
        &self.data[row * self.n..(row + 1) * self.n]
    }

    /// Copies the lower triangle onto the upper one.
    fn mirror_lower(&mut self) {
        for row in 0..self.n {
            for col in 0..row {
                self.data[col * self.n + row] = self.data[row * self.n + col];
            }
        }
    }
}

/// Each gene (a row of `values`, `cells` long) centred and divided by its population standard
/// deviation, so Σ_c z² = cells. A constant gene (variance exactly 0: in f64 the mean of equal
/// f32 values is that value) is all zeros rather than 0/0, so it correlates 0 with every gene.
pub(crate) fn standardise(values: &[f32], cells: usize) -> Vec<f64> {
    let mut z = Vec::with_capacity(values.len());
    for gene in values.chunks_exact(cells) {
        let mean = gene.iter().map(|&v| v as f64).sum::<f64>() / cells as f64;
        let variance = gene.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / cells as f64;
        if variance == 0.0 {
            z.extend(std::iter::repeat_n(0.0, cells));
        } else {
            let sd = variance.sqrt();
            z.extend(gene.iter().map(|&v| (v as f64 - mean) / sd));
        }
    }
    z
}

/// The correlation matrix C = Z Zᵀ / cells of standardised genes `z` (see [`standardise`]):
/// Pearson's r off the diagonal, 1 on it (0 for a constant gene).
pub(crate) fn correlation(z: &[f64], cells: usize) -> Square {
    let genes = z.len() / cells;
    let mut c = Square::zeros(genes);
    for a in 0..genes {
        let za = &z[a * cells..(a + 1) * cells];
        for b in 0..=a {
            let zb = &z[b * cells..(b + 1) * cells];
            c.data[a * genes + b] = za.iter().zip(zb).map(|(x, y)| x * y).sum::<f64>() / cells as f64;
        }
    }
    c.mirror_lower();
    c
}

/// A⁻¹ of a symmetric positive definite A, as (L⁻¹)ᵀ L⁻¹ from its Cholesky factor; `None` when A
/// is not positive definite. Each n × n step frees the one before it, so at most two are held.
fn spd_inverse(a: Square) -> Option<Square> {
    let n = a.n;
    // L overwrites A's lower triangle; only that triangle is read below.
    let mut l = a;
    cholesky_in_place(&mut l.data, n).ok()?;
    // L⁻¹ row by row from L·L⁻¹ = I: row i = (e_i − Σ_{k<i} L[i,k]·row k) / L[i,i]; row k of
    // L⁻¹ is zero past column k, so every update runs over contiguous prefixes.
    let mut l_inv = Square::zeros(n);
    for i in 0..n {
        let mut row = vec![0.0; i + 1];
        row[i] = 1.0;
        for k in 0..i {
            let lik = l.get(i, k);
            for (r, m) in row.iter_mut().zip(&l_inv.row(k)[..=k]) {
                *r -= lik * m;
            }
        }
        let pivot = l.get(i, i);
        for (dst, r) in l_inv.data[i * n..].iter_mut().zip(row) {
            *dst = r / pivot;
        }
    }
    drop(l);
    // A⁻¹[a,b] = Σ_k L⁻¹[k,a]·L⁻¹[k,b], accumulated over k for the lower triangle (b ≤ a ≤ k).
    let mut inverse = Square::zeros(n);
    for k in 0..n {
        let mk = &l_inv.row(k)[..=k];
        for (a, &mka) in mk.iter().enumerate() {
            for (p, &mkb) in inverse.data[a * n..=a * n + a].iter_mut().zip(&mk[..=a]) {
                *p += mka * mkb;
            }
        }
    }
    inverse.mirror_lower();
    Some(inverse)
}

/// Ridge coefficients for every (source i, target j), as `result.get(i, j)`: the coefficient of
/// gene i when standardised gene j is regressed on all other standardised genes,
///
/// β = argmin Σ_c (z_jc − Σ_{k≠j} β_k z_kc)² + λ · cells · Σ_{k≠j} β_k²  =  (C₋ⱼ₋ⱼ + λI)⁻¹ C₋ⱼⱼ,
///
/// read for all targets at once from P = (C + λI)⁻¹ as β_i = −P[j,i] / P[j,j]. A gene is not a
/// regressor of itself, so the diagonal is 0. `None` when C + λI is not positive definite, which
/// a positive λ rules out but for rounding.
pub(crate) fn ridge_coefficients(correlation: Square, lambda: f64) -> Option<Square> {
    let n = correlation.n;
    let mut penalised = correlation;
    for g in 0..n {
        penalised.data[g * n + g] += lambda;
    }
    let precision = spd_inverse(penalised)?;
    let mut coefficients = Square::zeros(n);
    for source in 0..n {
        for target in 0..n {
            if source != target {
                coefficients.data[source * n + target] = -precision.get(target, source) / precision.get(target, target);
            }
        }
    }
    Some(coefficients)
}
