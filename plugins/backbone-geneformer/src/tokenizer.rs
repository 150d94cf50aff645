//! Geneformer V1's rank-value encoding (`geneformer/tokenizer.py`, `TranscriptomeTokenizer`).
//!
//! A cell's counts become x = counts / n_counts × 10 000 / median per gene (genes without a
//! median are not tokenized), and the cell is the tokens of its non-zero genes by descending x,
//! truncated to the model input size. Geneformer sorts with `np.argsort(-x)`, numpy's default
//! quicksort, which is not stable: its order of tied genes is unspecified and differs between
//! platforms. Here ties keep their input order (a stable sort), a fixed rule that agrees with
//! numpy whenever no two genes tie.
use ugrn_sdk::{Error, Result, TokenId};

use crate::dictionary::GeneDictionaries;

/// Geneformer's `target_sum`: counts are scaled to 10 000 per cell.
pub const TARGET_SUM: f64 = 10_000.0;

/// Indices of `values` by descending value; equal values keep their order.
pub fn descending_order(values: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    // `sort_by` is stable. Callers check that values are finite, so only NaN could compare as
    // unordered; 0.0 and -0.0 are equal, as in numpy.
    order.sort_by(|&a, &b| values[b].partial_cmp(&values[a]).unwrap_or(std::cmp::Ordering::Equal));
    order
}

/// Geneformer's normalised expression of one gene: counts / n_counts × 10 000 / median, in
/// numpy's order of operations.
pub fn normalise(counts: f64, n_counts: f64, median: f64) -> f64 {
    counts / n_counts * TARGET_SUM / median
}

/// The input ids of one cell: `genes` (Ensembl IDs) with their raw `counts`, `n_counts` the
/// cell's total count (over all genes, as Geneformer's `n_counts` column), truncated to
/// `max_len` tokens. Genes without a token and median are skipped, as Geneformer skips them.
pub fn rank_value_encode(
    dictionaries: &GeneDictionaries,
    genes: &[impl AsRef<str>],
    counts: &[f64],
    n_counts: f64,
    max_len: usize,
) -> Result<Vec<TokenId>> {
    if genes.len() != counts.len() {
        return Err(Error::invalid(format!("{} counts for {} genes", counts.len(), genes.len())));
    }
    if !(n_counts.is_finite() && n_counts > 0.0) {
        return Err(Error::invalid(format!("n_counts = {n_counts}: a cell's total count must be positive")));
    }
    let mut tokens = Vec::new();
    let mut x = Vec::new();
    for (gene, &c) in genes.iter().zip(counts) {
        let gene = gene.as_ref();
        if !c.is_finite() {
            return Err(Error::invalid(format!("count {c} of gene {gene} is not finite")));
        }
        let Some(token) = dictionaries.gene_token(gene) else { continue };
        let median = dictionaries.median(token).expect("gene tokens have a median");
        let value = normalise(c, n_counts, median);
        // `np.nonzero`: undetected genes are not in the cell.
        if value != 0.0 {
            tokens.push(token);
            x.push(value);
        }
    }
    Ok(descending_order(&x).into_iter().take(max_len).map(|i| tokens[i]).collect())
}
