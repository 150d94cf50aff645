//! The model oracle: what probes may ask of a frozen backbone. The host implements it on top of
//! a loaded backbone (adding batching under a memory budget and progress); a backbone plugin
//! implements it for one batch at a time.
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::types::{GeneSymbol, Matrix, TokenId};

/// A batch of cells, each a row of `genes` context genes with an input value each.
///
/// `tokens` and `values` are both `cells × genes`, row-major; `values` is in the backbone's
/// input units (scGPT: bin values 0..=50). Cells carry their own tokens so that many small
/// contexts (one per pair) pack into one batch. The backbone adds its own special tokens
/// (scGPT's `<cls>`); readouts, derivatives and attention maps are per context gene, special
/// tokens excluded.
#[derive(Debug, Clone, PartialEq)]
pub struct CellBatch {
    tokens: Vec<TokenId>,
    values: Matrix,
}

impl CellBatch {
    /// Cells with their own tokens: `tokens.len()` must equal `values.rows * values.cols`.
    pub fn new(tokens: Vec<TokenId>, values: Matrix) -> Result<Self> {
        if tokens.len() != values.data.len() {
            return Err(Error::invalid(format!(
                "{} tokens for {} cells × {} genes",
                tokens.len(),
                values.rows,
                values.cols
            )));
        }
        Ok(CellBatch { tokens, values })
    }

    /// Cells that all share one context.
    pub fn shared(context: &[TokenId], values: Matrix) -> Result<Self> {
        if context.len() != values.cols {
            return Err(Error::invalid(format!(
                "context of {} genes for values with {} columns",
                context.len(),
                values.cols
            )));
        }
        let mut tokens = Vec::with_capacity(values.data.len());
        for _ in 0..values.rows {
            tokens.extend_from_slice(context);
        }
        Ok(CellBatch { tokens, values })
    }

    pub fn cells(&self) -> usize {
        self.values.rows
    }
    pub fn genes(&self) -> usize {
        self.values.cols
    }
    pub fn values(&self) -> &Matrix {
        &self.values
    }
    /// All tokens, `cells × genes` row-major.
    pub fn tokens(&self) -> &[TokenId] {
        &self.tokens
    }
    pub fn cell_tokens(&self, cell: usize) -> &[TokenId] {
        &self.tokens[cell * self.genes()..(cell + 1) * self.genes()]
    }
    /// The cells `start..end`.
    pub fn slice(&self, start: usize, end: usize) -> CellBatch {
        let g = self.genes();
        CellBatch { tokens: self.tokens[start * g..end * g].to_vec(), values: self.values.slice_rows(start, end) }
    }
}

/// Per-head attention scores of one layer: `data[((c * heads + h) * genes + i) * genes + j]` is
/// the raw (pre-softmax, unscaled) q_i·k_j of cell `c`, head `h`, over context genes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttentionMaps {
    pub cells: usize,
    pub heads: usize,
    pub genes: usize,
    pub data: Vec<f32>,
}

impl AttentionMaps {
    pub fn head(&self, cell: usize, head: usize) -> &[f32] {
        let n = self.genes * self.genes;
        let start = (cell * self.heads + head) * n;
        &self.data[start..start + n]
    }
}

/// Which computation a batch is for, so the memory estimate can differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pass {
    Readout,
    Derivative,
    Attention,
}

/// What a probe may know about the model behind the oracle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// Backbone family, e.g. `scgpt`.
    pub family: String,
    /// Checkpoint folder as given.
    pub checkpoint: String,
    /// SHA-256 over the checkpoint's weight and config files; keys the feature cache.
    pub checkpoint_sha256: String,
    /// `cpu` or `cuda:N`.
    pub device: String,
    pub dtype: String,
    pub layers: usize,
    pub heads: usize,
    pub embedding_dim: usize,
    /// Longest context (genes, special tokens excluded) the model accepts.
    pub max_context: usize,
    /// The input value range the model was trained on (scGPT: 0..=n_bins-1).
    pub value_min: f32,
    pub value_max: f32,
    /// A sensible background value for virtual cells.
    pub default_background: f32,
    /// Vocabulary size.
    pub vocabulary: usize,
}

/// The counterfactual oracle probes compute through.
pub trait ModelOracle: Send + Sync {
    fn info(&self) -> &ModelInfo;

    /// Token id of each gene, `None` where the vocabulary lacks it. Mouse symbols are matched
    /// upper-cased.
    fn token_ids(&self, genes: &[GeneSymbol]) -> Vec<Option<TokenId>>;

    /// The readout (scGPT: expression decoder output) of every context gene of every cell:
    /// `cells × genes`.
    fn readout(&self, cells: &CellBatch) -> Result<Matrix>;

    /// Exact `∂readout[c][j] / ∂values[c][sources[c]]` for every context gene `j`: `cells × genes`.
    fn readout_derivative(&self, cells: &CellBatch, sources: &[usize]) -> Result<Matrix>;

    /// Gene embeddings as the model's gene encoder gives them: `tokens × embedding_dim`.
    fn gene_embeddings(&self, tokens: &[TokenId]) -> Result<Matrix>;

    /// Raw attention scores of `layer` (0-based) for every cell and head.
    fn attention_scores(&self, cells: &CellBatch, layer: usize) -> Result<AttentionMaps>;

    /// Turns a real expression profile over `context` (dataset units, e.g. a mean cell) into
    /// the model's input values (scGPT: binned as scGPT bins a cell).
    fn prepare_expression(&self, context: &[TokenId], expression: &[f32]) -> Result<Vec<f32>>;

    /// Bytes one cell of `genes` context genes needs during `pass`: the host sizes batches from
    /// this and its memory budget.
    fn bytes_per_cell(&self, genes: usize, pass: Pass) -> u64;
}
