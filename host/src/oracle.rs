//! The host's model oracle: a loaded backbone behind batching under a memory budget.
//!
//! Probes may hand the oracle any number of cells; it splits them into batches whose estimated
//! size (the backbone's `bytes_per_cell`) fits the budget, so memory stays bounded whatever the
//! probe asks. Batches run one after another: the backbone parallelises inside a batch (candle's
//! own threads), and two levels of threads would only fight over the cores.
use ugrn_sdk::{AttentionMaps, CellBatch, GeneSymbol, Matrix, ModelInfo, ModelOracle, Pass, Result, TokenId};

use crate::plugin::Hosted;

pub struct BatchedOracle {
    inner: Hosted<dyn ModelOracle>,
    budget_bytes: u64,
}

impl BatchedOracle {
    pub fn new(inner: Hosted<dyn ModelOracle>, budget_bytes: u64) -> Self {
        BatchedOracle { inner, budget_bytes }
    }

    /// Cells per batch for `genes` context genes during `pass` (at least one).
    pub fn batch_size(&self, genes: usize, pass: Pass) -> usize {
        let per_cell = self.inner.bytes_per_cell(genes, pass).max(1);
        usize::try_from(self.budget_bytes / per_cell).unwrap_or(usize::MAX).max(1)
    }

    fn batched(
        &self,
        cells: &CellBatch,
        pass: Pass,
        mut f: impl FnMut(&CellBatch, usize, usize) -> Result<Matrix>,
    ) -> Result<Matrix> {
        let size = self.batch_size(cells.genes(), pass);
        if cells.cells() <= size {
            return f(cells, 0, cells.cells());
        }
        let mut parts = Vec::with_capacity(cells.cells().div_ceil(size));
        for start in (0..cells.cells()).step_by(size) {
            let end = (start + size).min(cells.cells());
            parts.push(f(&cells.slice(start, end), start, end)?);
        }
        Matrix::vstack(&parts)
    }
}

impl ModelOracle for BatchedOracle {
    fn info(&self) -> &ModelInfo {
        self.inner.info()
    }
    fn token_ids(&self, genes: &[GeneSymbol]) -> Vec<Option<TokenId>> {
        self.inner.token_ids(genes)
    }
    fn readout(&self, cells: &CellBatch) -> Result<Matrix> {
        self.batched(cells, Pass::Readout, |batch, _, _| self.inner.readout(batch))
    }
    fn readout_derivative(&self, cells: &CellBatch, sources: &[usize]) -> Result<Matrix> {
        if sources.len() != cells.cells() {
            return Err(ugrn_sdk::Error::invalid(format!(
                "{} source positions for {} cells",
                sources.len(),
                cells.cells()
            )));
        }
        self.batched(cells, Pass::Derivative, |batch, start, end| {
            self.inner.readout_derivative(batch, &sources[start..end])
        })
    }
    fn gene_embeddings(&self, tokens: &[TokenId]) -> Result<Matrix> {
        self.inner.gene_embeddings(tokens)
    }
    fn attention_scores(&self, cells: &CellBatch, layer: usize) -> Result<AttentionMaps> {
        let size = self.batch_size(cells.genes(), Pass::Attention);
        let mut maps: Option<AttentionMaps> = None;
        for start in (0..cells.cells()).step_by(size) {
            let end = (start + size).min(cells.cells());
            let part = self.inner.attention_scores(&cells.slice(start, end), layer)?;
            match &mut maps {
                None => maps = Some(part),
                Some(m) => {
                    m.cells += part.cells;
                    m.data.extend_from_slice(&part.data);
                }
            }
        }
        Ok(maps.unwrap_or(AttentionMaps { cells: 0, heads: self.info().heads, genes: cells.genes(), data: Vec::new() }))
    }
    fn prepare_expression(&self, context: &[TokenId], expression: &[f32]) -> Result<Vec<f32>> {
        self.inner.prepare_expression(context, expression)
    }
    fn bytes_per_cell(&self, genes: usize, pass: Pass) -> u64 {
        self.inner.bytes_per_cell(genes, pass)
    }
}
