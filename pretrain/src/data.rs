//! From expression corpora to masked training batches: the vocabulary, per-cell binning, the
//! held-out split, gene sampling and value masking.
use std::collections::{BTreeMap, BTreeSet, HashMap};

use candle_core::{Device, Tensor};
use rand::Rng;
use rand::seq::index;
use rand_chacha::ChaCha8Rng;
use ugrn_backbone_scgpt::{CLS_VALUE, SPECIAL_TOKENS, Vocab, bin_expression};
use ugrn_candle_shared::Context;
use ugrn_sdk::{Error, Result};

use crate::corpus::Corpus;

/// Input value of padding and of masked positions (scGPT's `pad_value`, `mask_value`).
pub(crate) const PAD_VALUE: f32 = -2.0;
pub(crate) const MASK_VALUE: f32 = -1.0;

/// Token symbols in id order: the corpora's gene symbols upper-cased (so mouse and human
/// spellings of one gene share a token), sorted, then the special tokens.
pub(crate) fn vocabulary(corpora: &[Corpus]) -> Vec<String> {
    let genes: BTreeSet<String> = corpora.iter().flat_map(|c| c.genes.iter().map(|g| g.to_uppercase())).collect();
    genes.into_iter().chain(SPECIAL_TOKENS.iter().map(|s| s.to_string())).collect()
}

/// The backbone's vocabulary over `symbols` (id = position).
pub(crate) fn vocab_of(symbols: &[String]) -> Result<Vocab> {
    let ids: HashMap<String, u32> = symbols.iter().enumerate().map(|(i, s)| (s.clone(), i as u32)).collect();
    if ids.len() != symbols.len() {
        return Err(Error::invalid("a gene symbol collides with a special token (<pad>, <cls>, <eoc>)"));
    }
    Vocab::new(ids).map_err(Error::invalid)
}

/// One cell as the model sees it before sampling: its expressed genes with their bins.
#[derive(Debug, Clone)]
pub(crate) struct Cell {
    pub(crate) tokens: Vec<u32>,
    pub(crate) values: Vec<f32>,
}

/// Bins every cell of `corpus` (over all its genes, as the oracle bins a context) and keeps the
/// expressed genes the vocabulary knows. Cells with none come back as `None`.
pub(crate) fn cells(corpus: &Corpus, vocab: &Vocab, n_bins: usize) -> Result<Vec<Option<Cell>>> {
    let m = &corpus.expression.values;
    if corpus.genes.len() != m.rows {
        return Err(Error::invalid(format!(
            "corpus {}: {} gene symbols for {} expression rows",
            corpus.name,
            corpus.genes.len(),
            m.rows
        )));
    }
    if corpus.expression.cell_names.len() != m.cols {
        return Err(Error::invalid(format!(
            "corpus {}: {} cell names for {} expression columns",
            corpus.name,
            corpus.expression.cell_names.len(),
            m.cols
        )));
    }
    let tokens: Vec<Option<u32>> = corpus.genes.iter().map(|g| vocab.token_id(g)).collect();
    let mut column = vec![0f32; m.rows];
    (0..m.cols)
        .map(|c| {
            for (g, v) in column.iter_mut().enumerate() {
                *v = m.get(g, c);
            }
            let bins = bin_expression(&column, n_bins).map_err(|e| {
                Error::invalid(format!("corpus {}, cell {:?}: {e}", corpus.name, corpus.expression.cell_names[c]))
            })?;
            let (tokens, values): (Vec<u32>, Vec<f32>) =
                tokens.iter().zip(&bins).filter_map(|(t, &b)| t.filter(|_| b > 0.0).map(|t| (t, b))).unzip();
            Ok((!tokens.is_empty()).then_some(Cell { tokens, values }))
        })
        .collect()
}

/// Training and validation cells over all corpora, and the names of the validation cells.
pub(crate) struct Split {
    pub(crate) train: Vec<Cell>,
    pub(crate) validation: Vec<Cell>,
    /// Corpus name → names of its held-out cells, in the corpus's column order.
    pub(crate) validation_names: BTreeMap<String, Vec<String>>,
    /// Cells left out because no expressed gene of theirs is in the vocabulary.
    pub(crate) empty: usize,
}

/// Holds out `round(fraction × cells)` cells of every corpus, drawn by `rng`, so that each
/// corpus is represented on both sides.
pub(crate) fn split(
    corpora: &[Corpus],
    vocab: &Vocab,
    n_bins: usize,
    fraction: f64,
    rng: &mut ChaCha8Rng,
) -> Result<Split> {
    let mut out = Split { train: Vec::new(), validation: Vec::new(), validation_names: BTreeMap::new(), empty: 0 };
    for corpus in corpora {
        let binned = cells(corpus, vocab, n_bins)?;
        let present: Vec<usize> = (0..binned.len()).filter(|&c| binned[c].is_some()).collect();
        out.empty += binned.len() - present.len();
        let held = (fraction * present.len() as f64).round() as usize;
        let mut held_out: Vec<usize> =
            index::sample(rng, present.len(), held).into_iter().map(|i| present[i]).collect();
        held_out.sort_unstable();
        let names = held_out.iter().map(|&c| corpus.expression.cell_names[c].clone()).collect();
        out.validation_names.insert(corpus.name.clone(), names);
        for (c, cell) in binned.into_iter().enumerate() {
            let Some(cell) = cell else { continue };
            if held_out.binary_search(&c).is_ok() {
                out.validation.push(cell);
            } else {
                out.train.push(cell);
            }
        }
    }
    Ok(out)
}

/// One cell's model input: `<cls>` excluded, `masked[i]` where the value is hidden.
pub(crate) struct Example {
    pub(crate) tokens: Vec<u32>,
    pub(crate) values: Vec<f32>,
    pub(crate) masked: Vec<bool>,
}

/// Samples up to `max_genes` of the cell's expressed genes (all when it has fewer, since every
/// expressed gene is informative and the zeros are what scGPT's pretraining leaves out) and masks
/// `round(ratio × genes)` of them, at least one. A fixed count instead of scGPT's per-position
/// coin flips means every cell contributes to the loss.
pub(crate) fn example(cell: &Cell, max_genes: usize, ratio: f64, rng: &mut ChaCha8Rng) -> Example {
    let n = cell.tokens.len();
    let picked: Vec<usize> = if n > max_genes { index::sample(rng, n, max_genes).into_vec() } else { (0..n).collect() };
    let count = ((ratio * picked.len() as f64).round() as usize).clamp(1, picked.len());
    let mut masked = vec![false; picked.len()];
    for i in index::sample(rng, picked.len(), count) {
        masked[i] = true;
    }
    Example {
        tokens: picked.iter().map(|&i| cell.tokens[i]).collect(),
        values: picked.iter().map(|&i| cell.values[i]).collect(),
        masked,
    }
}

/// Examples padded to one length, `<cls>` first, as flat row-major `(cells, len)` arrays.
pub(crate) struct Batch {
    pub(crate) cells: usize,
    pub(crate) len: usize,
    ids: Vec<u32>,
    input: Vec<f32>,
    target: Vec<f32>,
    /// 1 at masked positions, else 0.
    weight: Vec<f32>,
    /// 1 at padding.
    padding: Vec<u8>,
    pub(crate) masked: usize,
    /// Squared error of predicting each masked value by the mean of its cell's visible values
    /// (the middle bin when none is visible): the baseline a model has to beat.
    pub(crate) cell_mean_sq_error: f64,
}

/// The batch tensors on `device`: token ids, masked input values, targets, loss weights and the
/// padding mask.
pub(crate) struct BatchTensors {
    pub(crate) ids: Tensor,
    pub(crate) input: Tensor,
    pub(crate) target: Tensor,
    pub(crate) weight: Tensor,
    pub(crate) padding: Tensor,
}

/// The ids and values that frame a cell: `<cls>` and padding.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Framing {
    pub(crate) cls: u32,
    pub(crate) pad: u32,
    pub(crate) pad_value: f32,
    pub(crate) mask_value: f32,
    pub(crate) n_bins: usize,
}

pub(crate) fn collate(examples: &[Example], f: Framing) -> Batch {
    let Framing { cls, pad, pad_value, mask_value, n_bins } = f;
    let len = 1 + examples.iter().map(|e| e.tokens.len()).max().unwrap_or(0);
    let size = examples.len() * len;
    let mut b = Batch {
        cells: examples.len(),
        len,
        ids: Vec::with_capacity(size),
        input: Vec::with_capacity(size),
        target: Vec::with_capacity(size),
        weight: Vec::with_capacity(size),
        padding: Vec::with_capacity(size),
        masked: 0,
        cell_mean_sq_error: 0.0,
    };
    for e in examples {
        let fill = len - 1 - e.tokens.len();
        b.ids.push(cls);
        b.ids.extend_from_slice(&e.tokens);
        b.ids.extend(std::iter::repeat_n(pad, fill));
        b.input.push(CLS_VALUE);
        b.input.extend(e.values.iter().zip(&e.masked).map(|(&v, &m)| if m { mask_value } else { v }));
        b.input.extend(std::iter::repeat_n(pad_value, fill));
        b.target.push(CLS_VALUE);
        b.target.extend_from_slice(&e.values);
        b.target.extend(std::iter::repeat_n(pad_value, fill));
        b.weight.push(0.0);
        b.weight.extend(e.masked.iter().map(|&m| if m { 1.0 } else { 0.0 }));
        b.weight.extend(std::iter::repeat_n(0.0, fill));
        b.padding.extend(std::iter::repeat_n(0u8, 1 + e.tokens.len()));
        b.padding.extend(std::iter::repeat_n(1u8, fill));

        let visible: Vec<f64> = e.values.iter().zip(&e.masked).filter(|(_, m)| !**m).map(|(&v, _)| v as f64).collect();
        let guess =
            if visible.is_empty() { (n_bins / 2) as f64 } else { visible.iter().sum::<f64>() / visible.len() as f64 };
        for (&v, _) in e.values.iter().zip(&e.masked).filter(|(_, m)| **m) {
            b.cell_mean_sq_error += (v as f64 - guess).powi(2);
            b.masked += 1;
        }
    }
    b
}

/// A gene of a batch cell: its token, its true value, and whether the model sees it masked.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Position {
    pub(crate) token: u32,
    pub(crate) value: f32,
    pub(crate) masked: bool,
}

impl Batch {
    /// Each cell's genes, `<cls>` and padding left out.
    pub(crate) fn cell_positions(&self) -> impl Iterator<Item = impl Iterator<Item = Position> + Clone + '_> + '_ {
        (0..self.cells).map(move |c| {
            let start = c * self.len + 1;
            let genes = self.padding[start..(c + 1) * self.len].iter().take_while(|&&p| p == 0).count();
            (start..start + genes).map(move |i| Position {
                token: self.ids[i],
                value: self.target[i],
                masked: self.weight[i] != 0.0,
            })
        })
    }

    pub(crate) fn tensors(&self, device: &Device) -> Result<BatchTensors> {
        let shape = (self.cells, self.len);
        (|| {
            Ok(BatchTensors {
                ids: Tensor::from_slice(&self.ids, shape, device)?,
                input: Tensor::from_slice(&self.input, shape, device)?,
                target: Tensor::from_slice(&self.target, shape, device)?,
                weight: Tensor::from_slice(&self.weight, shape, device)?,
                padding: Tensor::from_slice(&self.padding, shape, device)?,
            })
        })()
        .context("batch tensors")
    }
}

/// Fixed batches over `cells` for evaluation: cell `i` is masked at `ratios[i % ratios.len()]`,
/// so the result does not depend on the batch size.
pub(crate) fn evaluation_batches(
    cells: &[&Cell],
    framing: Framing,
    max_genes: usize,
    ratios: &[f64],
    batch_size: usize,
    rng: &mut ChaCha8Rng,
) -> Vec<Batch> {
    let examples: Vec<Example> =
        cells.iter().enumerate().map(|(i, c)| example(c, max_genes, ratios[i % ratios.len()], rng)).collect();
    examples.chunks(batch_size).map(|chunk| collate(chunk, framing)).collect()
}

/// One training batch: the cells `order`, each sampled and masked at one mask ratio drawn for
/// the whole batch (as scGPT's collator draws one per batch).
pub(crate) fn training_batch(
    cells: &[Cell],
    order: &[usize],
    framing: Framing,
    max_genes: usize,
    ratios: &[f64],
    rng: &mut ChaCha8Rng,
) -> Batch {
    let ratio = ratios[rng.random_range(0..ratios.len())];
    let examples: Vec<Example> = order.iter().map(|&i| example(&cells[i], max_genes, ratio, rng)).collect();
    collate(&examples, framing)
}
