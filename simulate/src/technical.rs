//! Technical noise, in SERGIO's order: outlier genes, per-cell library size, logistic dropout,
//! then Poisson counts.
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, LogNormal, Poisson, StandardNormal};
use serde::Serialize;

use crate::SimulateError;

/// How measured counts depart from the cells' true levels.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Technical {
    /// Mean total count per cell (library size) before dropout.
    pub library_mean: f64,
    /// σ of the log-normal library size (0: every cell gets `library_mean`).
    pub library_sigma: f64,
    /// Share of genes that are outliers, their levels multiplied by one log-normal factor each.
    pub outlier_share: f64,
    /// μ and σ of the outlier factor's logarithm.
    pub outlier_log_mean: f64,
    pub outlier_log_sigma: f64,
    /// Logistic dropout: a value survives with probability 1/(1 + exp(−k(ln(1 + x) − m))),
    /// m the given percentile of ln(1 + x) over the matrix; `None`: no dropout.
    pub dropout_percentile: Option<f64>,
    pub dropout_shape: f64,
}

impl Default for Technical {
    /// Library size and outlier factor as in SERGIO's examples; no outliers, no dropout.
    fn default() -> Self {
        Technical {
            library_mean: 2000.0,
            library_sigma: 0.3,
            outlier_share: 0.0,
            outlier_log_mean: 0.8,
            outlier_log_sigma: 1.0,
            dropout_percentile: None,
            dropout_shape: 1.0,
        }
    }
}

impl Technical {
    pub(crate) fn check(&self) -> Result<(), SimulateError> {
        let bad = |key: &str, why: String| Err(SimulateError::Setting { key: key.into(), why });
        if !(self.library_mean.is_finite() && self.library_mean > 0.0) {
            return bad("library-mean", format!("must be positive, got {}", self.library_mean));
        }
        if !(self.library_sigma.is_finite() && self.library_sigma >= 0.0) {
            return bad("library-sigma", format!("must be 0 or positive, got {}", self.library_sigma));
        }
        if !(0.0..=1.0).contains(&self.outlier_share) {
            return bad("outlier-share", format!("must lie in [0, 1], got {}", self.outlier_share));
        }
        if !(self.outlier_log_sigma.is_finite() && self.outlier_log_sigma >= 0.0 && self.outlier_log_mean.is_finite()) {
            return bad("outlier-log-sigma", "outlier factors need a finite μ and σ >= 0".into());
        }
        if let Some(p) = self.dropout_percentile
            && !(0.0..=100.0).contains(&p)
        {
            return bad("dropout-percentile", format!("must lie in [0, 100], got {p}"));
        }
        if !(self.dropout_shape.is_finite() && self.dropout_shape > 0.0) {
            return bad("dropout-shape", format!("must be positive, got {}", self.dropout_shape));
        }
        Ok(())
    }

    /// Counts (genes × cells, `levels[g][c]`) from true levels. Each cell's levels are scaled
    /// to its library size: count ~ Poisson(L_c · x_gc / Σ_g x_gc), L_c log-normal with mean
    /// `library_mean`.
    pub fn counts(&self, levels: &[Vec<f64>], rng: &mut ChaCha8Rng) -> Result<Vec<Vec<u32>>, SimulateError> {
        self.check()?;
        let genes = levels.len();
        let cells = levels.first().map_or(0, Vec::len);
        let mut x: Vec<Vec<f64>> = levels.to_vec();
        if self.outlier_share > 0.0 {
            for row in &mut x {
                if rng.random_bool(self.outlier_share) {
                    let z: f64 = rng.sample(StandardNormal);
                    let factor = (self.outlier_log_mean + self.outlier_log_sigma * z).exp();
                    row.iter_mut().for_each(|v| *v *= factor);
                }
            }
        }
        let library = LogNormal::new(self.library_mean.ln() - self.library_sigma.powi(2) / 2.0, self.library_sigma)
            .map_err(|e| SimulateError::Setting { key: "library-sigma".into(), why: e.to_string() })?;
        for c in 0..cells {
            let total: f64 = (0..genes).map(|g| x[g][c]).sum();
            let size = library.sample(rng);
            for row in x.iter_mut() {
                row[c] = if total > 0.0 { row[c] * size / total } else { 0.0 };
            }
        }
        if let Some(percentile) = self.dropout_percentile {
            let mut logs: Vec<f64> = x.iter().flatten().map(|v| v.ln_1p()).collect();
            logs.sort_by(f64::total_cmp);
            let mid = logs[((percentile / 100.0) * (logs.len() - 1) as f64).round() as usize];
            for v in x.iter_mut().flatten() {
                let keep = 1.0 / (1.0 + (-self.dropout_shape * (v.ln_1p() - mid)).exp());
                if !rng.random_bool(keep) {
                    *v = 0.0;
                }
            }
        }
        Ok(x.iter().map(|row| row.iter().map(|&m| poisson(m, rng)).collect()).collect())
    }
}

fn poisson(mean: f64, rng: &mut ChaCha8Rng) -> u32 {
    if mean <= 0.0 {
        return 0;
    }
    let draw: f64 = Poisson::new(mean).expect("a positive finite mean").sample(rng);
    draw as u32
}

/// log2(1 + CP10k) per cell, genes × cells: BEELINE's log-normalised expression.
pub fn log_normalise(counts: &[Vec<u32>]) -> Vec<Vec<f64>> {
    let cells = counts.first().map_or(0, Vec::len);
    let totals: Vec<f64> = (0..cells).map(|c| counts.iter().map(|row| f64::from(row[c])).sum()).collect();
    counts
        .iter()
        .map(|row| {
            row.iter()
                .zip(&totals)
                .map(|(&n, &t)| if t > 0.0 { (f64::from(n) / t * 1e4).ln_1p() / std::f64::consts::LN_2 } else { 0.0 })
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    fn technical(library_sigma: f64) -> Technical {
        Technical { library_mean: 400.0, library_sigma, ..Technical::default() }
    }

    fn moments(row: &[u32]) -> (f64, f64) {
        let n = row.len() as f64;
        let mean = row.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
        let var = row.iter().map(|&v| (f64::from(v) - mean).powi(2)).sum::<f64>() / (n - 1.0);
        (mean, var)
    }

    /// Four equal genes share a library of 400: each count is Poisson(100), mean = variance.
    /// With a log-normal library (σ = 0.5) the mean stays 100 and the variance grows by the
    /// library's: 100 + 100²·(e^{σ²} − 1).
    #[test]
    fn counts_are_poisson_after_library_scaling() {
        let cells = 20_000;
        let levels = vec![vec![3.0; cells]; 4];
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let fixed = technical(0.0).counts(&levels, &mut rng).unwrap();
        let (mean, var) = moments(&fixed[0]);
        assert!((mean - 100.0).abs() < 4.0 * (100.0 / cells as f64).sqrt(), "mean {mean}");
        assert!((var / 100.0 - 1.0).abs() < 0.05, "Poisson variance {var}");

        let scaled = technical(0.5).counts(&levels, &mut rng).unwrap();
        let (mean, var) = moments(&scaled[1]);
        let want = 100.0 + 100.0f64.powi(2) * (0.25f64.exp() - 1.0);
        assert!((mean - 100.0).abs() < 1.5, "mean {mean}");
        assert!((var / want - 1.0).abs() < 0.08, "variance {var} vs {want}");
    }

    /// Levels 1 and 30 of a library of 400 give ln(1 + x) of 2.63 and 5.96; the 25th
    /// percentile is the low gene's, so it survives half the time and the high gene always.
    #[test]
    fn dropout_removes_low_values_first() {
        let cells = 5000;
        let levels = vec![vec![1.0; cells], vec![30.0; cells]];
        let t = Technical { dropout_percentile: Some(25.0), dropout_shape: 4.0, ..technical(0.0) };
        let counts = t.counts(&levels, &mut ChaCha8Rng::seed_from_u64(5)).unwrap();
        let zeros = |row: &[u32]| row.iter().filter(|&&v| v == 0).count() as f64 / cells as f64;
        let (low, high) = (zeros(&counts[0]), zeros(&counts[1]));
        assert!((0.47..0.53).contains(&low), "the low gene should lose half: {low} zeros");
        assert!(high < 0.001, "the high gene should lose nothing: {high} zeros");
    }

    #[test]
    fn log_normalisation_is_log2_cp10k() {
        let counts = vec![vec![1, 0], vec![3, 0]];
        let x = log_normalise(&counts);
        assert!((x[0][0] - (1.0f64 + 2500.0).log2()).abs() < 1e-12);
        assert!((x[1][0] - (1.0f64 + 7500.0).log2()).abs() < 1e-12);
        assert_eq!(x[0][1], 0.0, "an empty cell stays 0");
    }
}
