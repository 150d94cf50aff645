//! Masked-value errors without the model, on the cells and masks the model is evaluated on: each
//! masked value predicted by its gene's training mean (identity only) and by a ridge regression
//! on the visible values of its cell (linear regulation). A model that beats the first has
//! learned genes' typical values; only one that beats the second has learned more of how genes
//! depend on each other than a linear fit does.
use std::collections::{BTreeSet, HashMap};

use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use ugrn_linalg::{cholesky_in_place, cholesky_solve};
use ugrn_sdk::{Error, Result};

use crate::data::{self, Batch, Cell, Example};

/// The ridge penalty per regressor: each gene's fit adds `RIDGE_PENALTY × d` (d genes in the fit)
/// to the diagonal of its Gram of standardised regressors. Growing with the regressors and not
/// with the cells, it matters less as cells accumulate, where a multiple of the cells would keep
/// shrinking even an exact regressor's slope (to half at 1 × cells). On ugrn-mini's held-out
/// mHSC-L cells (692 genes, fitted on its 762 training cells) 0.5 was the best of 0.1 to 2, and
/// as good as the best multiple of the cells.
pub(crate) const RIDGE_PENALTY: f64 = 0.5;

/// Most genes (those expressed in the training cells) the ridge reference is fitted over. Every
/// gene's fit is a dense Cholesky solve over all the others, d⁴/6 multiply-adds in all: about
/// two minutes at this bound on one core of a test build, hours at the 4,000 genes of all
/// BEELINE corpora.
pub const MAX_RIDGE_GENES: usize = 1000;

/// The references' squared errors per masked value, next to the model's validation loss.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub(crate) struct ValidationReferences {
    /// Each masked value predicted by the mean of its cell's visible values.
    pub(crate) cell_mean: f64,
    /// By its gene's mean over the training cells.
    pub(crate) gene_mean: f64,
    /// By the gene's ridge regression on the cell's visible values; `None` past
    /// [`MAX_RIDGE_GENES`].
    pub(crate) ridge: Option<f64>,
}

/// The gene means and ridge regressions fitted on training cells.
pub(crate) struct References {
    gene_means: GeneMeans,
    /// `None` past [`MAX_RIDGE_GENES`].
    ridge: Option<Ridge>,
    /// Genes expressed in the training cells.
    genes: usize,
}

impl References {
    /// Fits the gene means on `train`, and the ridge regressions on `train` sampled and masked
    /// as the evaluated cells are (up to `max_genes` genes, cell `i` at `ratios[i % len]`, drawn
    /// by `rng`): each regression learns from what it is scored on, a masked cell's visible
    /// genes. Fitted on whole cells instead, it learns that per-cell quantile bins sum to about
    /// a constant and, with half of a cell masked, predicts worse than the gene means.
    pub(crate) fn fit(train: &[Cell], max_genes: usize, ratios: &[f64], rng: &mut ChaCha8Rng) -> Result<References> {
        let index = GeneIndex::of(train);
        let genes = index.tokens.len();
        let ridge = if genes <= MAX_RIDGE_GENES {
            let examples: Vec<Example> = train
                .iter()
                .enumerate()
                .map(|(i, c)| data::example(c, max_genes, ratios[i % ratios.len()], rng))
                .collect();
            Some(Ridge::fit(train, &examples, index, RIDGE_PENALTY)?)
        } else {
            None
        };
        Ok(References { gene_means: GeneMeans::fit(train), ridge, genes })
    }

    /// Why the ridge reference is missing, for the log.
    pub(crate) fn ridge_note(&self) -> Option<String> {
        self.ridge.is_none().then(|| {
            format!(
                "ridge reference skipped: {} genes in the training cells, more than the {MAX_RIDGE_GENES} its \
                 dense solves are bounded to",
                self.genes
            )
        })
    }

    /// The references' errors per masked value of `batches` (which hold some masked value).
    pub(crate) fn evaluate(&self, batches: &[Batch]) -> ValidationReferences {
        let masked = batches.iter().map(|b| b.masked).sum::<usize>() as f64;
        let (mut gene_mean, mut ridge) = (0.0, 0.0);
        for batch in batches {
            for cell in batch.cell_positions() {
                let visible: Vec<(usize, f64)> = match &self.ridge {
                    Some(r) => r.regressors(cell.clone().filter(|p| !p.masked).map(|p| (p.token, p.value))),
                    None => Vec::new(),
                };
                for g in cell.filter(|p| p.masked) {
                    let mean = self.gene_means.predict(g.token);
                    gene_mean += (g.value as f64 - mean).powi(2);
                    // A gene no training cell expresses has no regression: its guess is the mean's.
                    let fitted = self.ridge.as_ref().and_then(|r| r.predict(g.token, &visible)).unwrap_or(mean);
                    ridge += (g.value as f64 - fitted).powi(2);
                }
            }
        }
        ValidationReferences {
            cell_mean: batches.iter().map(|b| b.cell_mean_sq_error).sum::<f64>() / masked,
            gene_mean: gene_mean / masked,
            ridge: self.ridge.is_some().then_some(ridge / masked),
        }
    }
}

/// Each gene's mean value over the training cells that express it.
struct GeneMeans {
    by_token: HashMap<u32, f64>,
    /// The mean of all training values: the guess for a gene no training cell expresses.
    overall: f64,
}

impl GeneMeans {
    fn fit(train: &[Cell]) -> GeneMeans {
        let mut sums: HashMap<u32, (f64, usize)> = HashMap::new();
        // Summed in cell order, not the map's, so that a seed gives the same mean bit for bit.
        let (mut total, mut count) = (0.0, 0usize);
        for cell in train {
            for (&t, &v) in cell.tokens.iter().zip(&cell.values) {
                let s = sums.entry(t).or_default();
                s.0 += v as f64;
                s.1 += 1;
                total += v as f64;
                count += 1;
            }
        }
        GeneMeans {
            by_token: sums.into_iter().map(|(t, (sum, n))| (t, sum / n as f64)).collect(),
            overall: if count == 0 { 0.0 } else { total / count as f64 },
        }
    }

    fn predict(&self, token: u32) -> f64 {
        self.by_token.get(&token).copied().unwrap_or(self.overall)
    }
}

/// The genes expressed in training cells, numbered in token order.
struct GeneIndex {
    tokens: Vec<u32>,
    of_token: HashMap<u32, usize>,
}

impl GeneIndex {
    fn of(train: &[Cell]) -> GeneIndex {
        let tokens: Vec<u32> =
            train.iter().flat_map(|c| c.tokens.iter().copied()).collect::<BTreeSet<u32>>().into_iter().collect();
        let of_token = tokens.iter().enumerate().map(|(i, &t)| (t, i)).collect();
        GeneIndex { tokens, of_token }
    }

    /// `(token, value)`s as `(gene, value)` ascending by gene; tokens outside the index are
    /// left out, and a gene given twice (two rows of one symbol) keeps its first value.
    fn sorted(&self, values: impl Iterator<Item = (u32, f32)>) -> Vec<(usize, f64)> {
        let mut out: Vec<(usize, f64)> =
            values.filter_map(|(t, v)| Some((*self.of_token.get(&t)?, v as f64))).collect();
        out.sort_by_key(|&(g, _)| g);
        out.dedup_by_key(|&mut (g, _)| g);
        out
    }
}

/// Per gene, a ridge regression of its masked value on the standardised visible values of the
/// other genes of its cell, with an unpenalised intercept. A regressor the cell does not show
/// (not expressed, masked or not sampled) is imputed by its mean, 0 standardised: it carries no
/// information, and rows where it is hidden leave its coefficient to the rows where it is seen.
struct Ridge {
    index: GeneIndex,
    /// Each gene's mean and standard deviation over the training cells that express it.
    mean: Vec<f64>,
    scale: Vec<f64>,
    intercept: Vec<f64>,
    /// Row-major genes × genes: row g holds gene g's coefficients (its own is 0).
    coefficients: Vec<f64>,
}

impl Ridge {
    /// Fits gene g's regression on the `examples` where g is masked (its rows), with `penalty ×
    /// d` on the Gram diagonal; a gene never masked keeps its mean over `train`. Its Gram is
    /// summed over its rows or, where they are most of the examples, as the Gram over all
    /// examples less that over the others: the cost follows the fewer of the two.
    fn fit(train: &[Cell], examples: &[Example], index: GeneIndex, penalty: f64) -> Result<Ridge> {
        let d = index.tokens.len();
        let (mean, scale) = standardisation(train, &index);
        let shown = |e: &Example, masked: bool| {
            let values = e.tokens.iter().zip(&e.values).zip(&e.masked);
            index.sorted(values.filter(|(_, m)| **m == masked).map(|((&t, &v), _)| (t, v)))
        };
        let rows: Vec<Vec<(usize, f64)>> = examples
            .iter()
            .map(|e| shown(e, false).into_iter().map(|(g, v)| (g, (v - mean[g]) / scale[g])).collect())
            .collect();
        // The examples masking each gene (ascending) with its value there.
        let mut masked_in: Vec<Vec<(usize, f64)>> = vec![Vec::new(); d];
        for (e, example) in examples.iter().enumerate() {
            for (g, v) in shown(example, true) {
                masked_in[g].push((e, v));
            }
        }
        let all: Vec<usize> = (0..examples.len()).collect();
        let (gram_all, sum_all) = gram(&rows, &all, d);

        let mut intercept = mean.clone();
        let mut coefficients = vec![0.0; d * d];
        for g in (0..d).filter(|&g| !masked_in[g].is_empty()) {
            let fitted: Vec<usize> = masked_in[g].iter().map(|&(e, _)| e).collect();
            let n = fitted.len() as f64;
            let (mut a, sum) = if 2 * fitted.len() <= examples.len() {
                gram(&rows, &fitted, d)
            } else {
                let (gram_others, sum_others) = gram(&rows, &complement(&fitted, examples.len()), d);
                let less = |x: &[f64], y: &[f64]| x.iter().zip(y).map(|(a, b)| a - b).collect::<Vec<f64>>();
                (less(&gram_all, &gram_others), less(&sum_all, &sum_others))
            };
            let x_mean: Vec<f64> = sum.iter().map(|s| s / n).collect();
            let y_mean = masked_in[g].iter().map(|&(_, y)| y).sum::<f64>() / n;
            // Centred cross-products with g's values: Σ x (y − ȳ) = Σ x y − n x̄ ȳ.
            let mut rhs: Vec<f64> = x_mean.iter().map(|m| -m * n * y_mean).collect();
            for &(e, y) in &masked_in[g] {
                for &(j, x) in &rows[e] {
                    rhs[j] += x * y;
                }
            }
            // Centred Gram Σ (x − x̄)(x − x̄)ᵀ = Σ x xᵀ − n x̄ x̄ᵀ, lower triangle, plus the penalty.
            for i in 0..d {
                for j in 0..=i {
                    a[i * d + j] -= n * x_mean[i] * x_mean[j];
                }
                a[i * d + i] += penalty * d as f64;
            }
            // g is never visible where it is masked, so its row and column are 0 but for the
            // rounding of the Gram's subtraction: decoupled exactly, its coefficient is 0.
            for j in 0..d {
                a[g * d + j] = 0.0;
                a[j * d + g] = 0.0;
            }
            a[g * d + g] = 1.0;
            rhs[g] = 0.0;
            cholesky_in_place(&mut a, d)
                .map_err(|e| Error::compute(format!("ridge reference of gene token {}: {e}", index.tokens[g])))?;
            let beta = cholesky_solve(&a, d, rhs);
            intercept[g] = y_mean - beta.iter().zip(&x_mean).map(|(b, m)| b * m).sum::<f64>();
            coefficients[g * d..(g + 1) * d].copy_from_slice(&beta);
        }
        Ok(Ridge { index, mean, scale, intercept, coefficients })
    }

    /// A cell's standardised regressors from its visible `(token, value)`s; genes the fit never
    /// saw are left out, as their coefficients would be 0.
    fn regressors(&self, visible: impl Iterator<Item = (u32, f32)>) -> Vec<(usize, f64)> {
        let mut row = self.index.sorted(visible);
        for (g, v) in &mut row {
            *v = (*v - self.mean[*g]) / self.scale[*g];
        }
        row
    }

    /// Gene `token`'s fitted value given the cell's regressors; `None` for a gene the fit never
    /// saw.
    fn predict(&self, token: u32, regressors: &[(usize, f64)]) -> Option<f64> {
        let g = *self.index.of_token.get(&token)?;
        let row = &self.coefficients[g * self.index.tokens.len()..];
        Some(self.intercept[g] + regressors.iter().map(|&(j, x)| row[j] * x).sum::<f64>())
    }
}

/// Each gene's mean and standard deviation over the training cells expressing it. A constant
/// gene gets scale 1: its standardised values are all 0, so it predicts nothing.
fn standardisation(train: &[Cell], index: &GeneIndex) -> (Vec<f64>, Vec<f64>) {
    let d = index.tokens.len();
    let (mut sum, mut sq, mut count) = (vec![0.0; d], vec![0.0; d], vec![0usize; d]);
    for cell in train {
        for (g, v) in index.sorted(cell.tokens.iter().copied().zip(cell.values.iter().copied())) {
            sum[g] += v;
            sq[g] += v * v;
            count[g] += 1;
        }
    }
    let mean: Vec<f64> = sum.iter().zip(&count).map(|(s, &n)| s / n as f64).collect();
    let scale = (0..d)
        .map(|g| {
            let variance = sq[g] / count[g] as f64 - mean[g].powi(2);
            if variance > 1e-12 { variance.sqrt() } else { 1.0 }
        })
        .collect();
    (mean, scale)
}

/// `Σ x xᵀ` (lower triangle, row-major d × d) and `Σ x` over the sparse `rows` numbered in
/// `picked`.
fn gram(rows: &[Vec<(usize, f64)>], picked: &[usize], d: usize) -> (Vec<f64>, Vec<f64>) {
    let (mut a, mut sum) = (vec![0.0; d * d], vec![0.0; d]);
    for &r in picked {
        let row = &rows[r];
        for (k, &(i, xi)) in row.iter().enumerate() {
            sum[i] += xi;
            // Rows ascend by gene, so every j here is at most i.
            for &(j, xj) in &row[..=k] {
                a[i * d + j] += xi * xj;
            }
        }
    }
    (a, sum)
}

/// `0..n` less the ascending `picked`.
fn complement(picked: &[usize], n: usize) -> Vec<usize> {
    let mut out = Vec::with_capacity(n - picked.len());
    let mut next = picked.iter().peekable();
    for c in 0..n {
        if next.peek() == Some(&&c) {
            next.next();
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};

    use ugrn_linalg::solve_by_elimination;

    use super::*;
    use crate::data::{Framing, collate};

    const FRAMING: Framing = Framing { cls: 5000, pad: 5001, pad_value: -2.0, mask_value: -1.0, n_bins: 11 };

    fn cell(tokens: &[u32], values: &[f32]) -> Cell {
        Cell { tokens: tokens.to_vec(), values: values.to_vec() }
    }

    fn example(tokens: &[u32], values: &[f32], masked: &[bool]) -> Example {
        Example { tokens: tokens.to_vec(), values: values.to_vec(), masked: masked.to_vec() }
    }

    fn fit(train: &[Cell], max_genes: usize, ratio: f64) -> References {
        References::fit(train, max_genes, &[ratio], &mut ChaCha8Rng::seed_from_u64(0)).unwrap()
    }

    #[test]
    fn gene_means_match_a_hand_computation() {
        // Means: token 0 (2 + 6) / 2 = 4, token 1 (4 + 8) / 2 = 6, token 2 3; all values 23 / 5.
        let train = [cell(&[0, 1], &[2.0, 4.0]), cell(&[0, 2], &[6.0, 3.0]), cell(&[1], &[8.0])];
        let examples = [
            example(&[0, 1, 2], &[5.0, 7.0, 1.0], &[true, false, true]),
            // Token 3 is in no training cell; this cell is shorter, so the batch pads it.
            example(&[1, 3], &[2.0, 9.0], &[true, true]),
        ];
        let references = fit(&train, 10, 0.5);
        let r = references.evaluate(&[collate(&examples, FRAMING)]);
        let gene_mean = (1.0 + 4.0 + 16.0 + (9.0f64 - 4.6).powi(2)) / 4.0;
        assert!((r.gene_mean - gene_mean).abs() < 1e-12, "{r:?}, expected {gene_mean}");
        // Cell means: 7 for the first cell, the middle bin 5 for the second (nothing visible).
        assert_eq!(r.cell_mean, (4.0 + 36.0 + 9.0 + 16.0) / 4.0);
        // Batching does not change the references.
        let one_by_one = [collate(&examples[..1], FRAMING), collate(&examples[1..], FRAMING)];
        assert_eq!(references.evaluate(&one_by_one), r);
    }

    /// `cells` cells of three genes with values 1..=10: A at random, B = A, C at random.
    fn tracking(cells: usize, seed: u64) -> Vec<Cell> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..cells)
            .map(|_| {
                let (a, c) = (rng.random_range(1..=10) as f32, rng.random_range(1..=10) as f32);
                cell(&[0, 1, 2], &[a, a, c])
            })
            .collect()
    }

    #[test]
    fn ridge_predicts_a_gene_from_the_one_it_tracks_and_not_from_independent_ones() {
        // One of each cell's three genes masked in the fit.
        let references = fit(&tracking(300, 1), 3, 0.3);
        let validation = tracking(100, 2);
        let masking = |masked: [bool; 3]| -> Vec<Batch> {
            let examples: Vec<Example> = validation.iter().map(|c| example(&c.tokens, &c.values, &masked)).collect();
            vec![collate(&examples, FRAMING)]
        };
        // B masked, A visible: B's value is A's.
        let b = references.evaluate(&masking([false, true, false]));
        assert!(b.gene_mean > 5.0, "{b:?}");
        assert!(b.ridge.unwrap() < 0.05 * b.gene_mean, "{b:?}");
        // C masked: A and B say nothing about it.
        let c = references.evaluate(&masking([false, false, true]));
        assert!(c.gene_mean > 5.0, "{c:?}");
        assert!((c.ridge.unwrap() - c.gene_mean).abs() < 0.05 * c.gene_mean, "{c:?}");
        // A and B both masked: C alone is left, so B gets about its mean.
        let both = references.evaluate(&masking([true, true, false]));
        assert!((both.ridge.unwrap() - both.gene_mean).abs() < 0.05 * both.gene_mean, "{both:?}");
    }

    /// Every gene's ridge against its normal equations built densely and solved by elimination,
    /// where some genes are masked in most cells and some in few (both ways of summing the Gram)
    /// and gene 4 in none.
    #[test]
    fn ridge_coefficients_solve_the_normal_equations() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let (present, masking) = ([0.9, 0.8, 0.3, 0.9, 0.6], [0.8, 0.3, 0.5, 0.9, 0.0]);
        let mut train = Vec::new();
        let mut examples = Vec::new();
        for _ in 0..40 {
            let genes: Vec<usize> = (0..5).filter(|&g| rng.random_bool(present[g])).collect();
            let tokens: Vec<u32> = genes.iter().map(|&g| 10 * g as u32).collect();
            let values: Vec<f32> = genes.iter().map(|_| rng.random_range(1..=10) as f32).collect();
            let masked: Vec<bool> = genes.iter().map(|&g| rng.random_bool(masking[g])).collect();
            examples.push(example(&tokens, &values, &masked));
            train.push(cell(&tokens, &values));
        }
        let penalty = 0.3;
        let ridge = Ridge::fit(&train, &examples, GeneIndex::of(&train), penalty).unwrap();
        let d = 5;
        let value = |c: &Cell, g: usize| c.tokens.iter().position(|&t| t == 10 * g as u32).map(|i| c.values[i] as f64);
        for g in 0..d {
            let values: Vec<f64> = train.iter().filter_map(|c| value(c, g)).collect();
            let mean = values.iter().sum::<f64>() / values.len() as f64;
            let sd = (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / values.len() as f64).sqrt();
            assert!((ridge.mean[g] - mean).abs() < 1e-12 && (ridge.scale[g] - sd).abs() < 1e-12, "gene {g}");
        }
        // A gene's standardised visible value in an example, 0 where hidden or absent.
        let x = |e: &Example, j: usize| {
            (0..e.tokens.len())
                .find(|&i| e.tokens[i] == 10 * j as u32 && !e.masked[i])
                .map_or(0.0, |i| (e.values[i] as f64 - ridge.mean[j]) / ridge.scale[j])
        };
        let masked_value = |e: &Example, g: usize| {
            (0..e.tokens.len()).find(|&i| e.tokens[i] == 10 * g as u32 && e.masked[i]).map(|i| e.values[i] as f64)
        };
        for g in 0..d {
            let row = &ridge.coefficients[g * d..(g + 1) * d];
            let rows: Vec<(&Example, f64)> = examples.iter().filter_map(|e| Some((e, masked_value(e, g)?))).collect();
            if rows.is_empty() {
                assert_eq!((ridge.intercept[g], row), (ridge.mean[g], &[0.0; 5][..]), "gene {g}");
                continue;
            }
            let n = rows.len() as f64;
            let others: Vec<usize> = (0..d).filter(|&j| j != g).collect();
            let x_mean: Vec<f64> = others.iter().map(|&j| rows.iter().map(|(e, _)| x(e, j)).sum::<f64>() / n).collect();
            let y_mean = rows.iter().map(|(_, y)| y).sum::<f64>() / n;
            let k = others.len();
            let (mut a, mut b) = (vec![0.0; k * k], vec![0.0; k]);
            for (e, y) in &rows {
                let centred: Vec<f64> = others.iter().zip(&x_mean).map(|(&j, m)| x(e, j) - m).collect();
                for p in 0..k {
                    b[p] += centred[p] * (y - y_mean);
                    for q in 0..k {
                        a[p * k + q] += centred[p] * centred[q];
                    }
                }
            }
            for p in 0..k {
                a[p * k + p] += penalty * d as f64;
            }
            let beta = solve_by_elimination(a, b);
            assert_eq!(row[g], 0.0);
            for (p, &j) in others.iter().enumerate() {
                assert!((row[j] - beta[p]).abs() < 1e-10, "gene {g}: {row:?} vs {beta:?}");
            }
            let intercept = y_mean - beta.iter().zip(&x_mean).map(|(b, m)| b * m).sum::<f64>();
            assert!((ridge.intercept[g] - intercept).abs() < 1e-10, "gene {g}");
        }
        // Gene 4 was never masked, both gram branches ran, and a gene outside the fit has none.
        assert!(examples.iter().all(|e| masked_value(e, 4).is_none()));
        let masked_share = |g: usize| examples.iter().filter(|e| masked_value(e, g).is_some()).count();
        assert!(2 * masked_share(0) > examples.len() && 2 * masked_share(1) < examples.len());
        assert_eq!(ridge.predict(7, &[]), None);
    }

    #[test]
    fn ridge_is_skipped_past_the_bound() {
        let genes = MAX_RIDGE_GENES as u32 + 1;
        let train: Vec<Cell> = (0..genes).map(|t| cell(&[t], &[1.0 + (t % 5) as f32])).collect();
        let references = fit(&train, 10, 0.5);
        assert_eq!(
            references.ridge_note().unwrap(),
            format!(
                "ridge reference skipped: {genes} genes in the training cells, more than the {MAX_RIDGE_GENES} its dense \
                 solves are bounded to"
            )
        );
        let r = references.evaluate(&[collate(&[example(&[0, 1], &[4.0, 2.0], &[true, false])], FRAMING)]);
        assert_eq!((r.gene_mean, r.ridge), (9.0, None));
    }
}
