//! The model oracle over a loaded scGPT model: one batch of cells per call, `<cls>` prepended.
use candle_core::{DType, Tensor};
use ugrn_candle_shared::{Context, kernels};
use ugrn_sdk::{AttentionMaps, CellBatch, Error, GeneSymbol, Matrix, ModelInfo, ModelOracle, Pass, Result, TokenId};

use crate::binning::bin_expression;
use crate::model::ScGptModel;

/// The value scGPT gives `<cls>` (its cell's first token).
pub const CLS_VALUE: f32 = 0.0;

/// Background value for virtual cells: bin 1, the lowest level of a gene that is expressed.
pub const DEFAULT_BACKGROUND: f32 = 1.0;

pub struct ScGptOracle {
    model: ScGptModel,
    info: ModelInfo,
}

impl ScGptOracle {
    pub fn new(model: ScGptModel, info: ModelInfo) -> Self {
        ScGptOracle { model, info }
    }

    pub fn model(&self) -> &ScGptModel {
        &self.model
    }

    /// Token ids `(cells, 1 + genes)` and values of the model dtype, `<cls>` first.
    fn inputs(&self, cells: &CellBatch) -> Result<(Tensor, Tensor)> {
        let (n, g) = (cells.cells(), cells.genes());
        if n == 0 || g == 0 {
            return Err(Error::invalid(format!("a batch of {n} cells × {g} genes has nothing to compute")));
        }
        if let Some(i) = cells.values().data.iter().position(|v| !v.is_finite()) {
            return Err(Error::invalid(format!(
                "value {} of cell {}, gene {} is not finite",
                cells.values().data[i],
                i / g,
                i % g
            )));
        }
        let mut ids = Vec::with_capacity(n * (g + 1));
        let mut values = Vec::with_capacity(n * (g + 1));
        for c in 0..n {
            ids.push(self.model.cls_id());
            ids.extend_from_slice(cells.cell_tokens(c));
            values.push(CLS_VALUE);
            values.extend_from_slice(cells.values().row(c));
        }
        let device = self.model.device();
        let ids = Tensor::from_vec(ids, (n, g + 1), device).context("token ids")?;
        let values = Tensor::from_vec(values, (n, g + 1), device)
            .and_then(|v| v.to_dtype(self.model.dtype()))
            .context("values")?;
        Ok((ids, values))
    }
}

/// The context columns (after `<cls>`) of a `(cells, tokens)` tensor as an f32 matrix.
fn context_matrix(t: &Tensor) -> Result<Matrix> {
    let (n, l) = t.dims2().context("readout shape")?;
    let data = t
        .narrow(1, 1, l - 1)
        .and_then(|c| c.to_dtype(DType::F32))
        .and_then(|c| c.flatten_all())
        .and_then(|c| c.to_vec1::<f32>())
        .context("reading the readout")?;
    Matrix::new(n, l - 1, data)
}

impl ModelOracle for ScGptOracle {
    fn info(&self) -> &ModelInfo {
        &self.info
    }

    fn token_ids(&self, genes: &[GeneSymbol]) -> Vec<Option<TokenId>> {
        genes.iter().map(|g| self.model.vocab.token_id(g)).collect()
    }

    fn readout(&self, cells: &CellBatch) -> Result<Matrix> {
        let (ids, values) = self.inputs(cells)?;
        context_matrix(&self.model.readout(&ids, &values, None)?)
    }

    fn readout_derivative(&self, cells: &CellBatch, sources: &[usize]) -> Result<Matrix> {
        if sources.len() != cells.cells() {
            return Err(Error::invalid(format!("{} source positions for {} cells", sources.len(), cells.cells())));
        }
        if let Some((c, s)) = sources.iter().enumerate().find(|(_, s)| **s >= cells.genes()) {
            return Err(Error::invalid(format!(
                "source position {s} of cell {c} is outside its {} genes",
                cells.genes()
            )));
        }
        let (ids, values) = self.inputs(cells)?;
        let width = cells.genes() + 1;
        let mut one_hot = vec![0f32; cells.cells() * width];
        for (c, &s) in sources.iter().enumerate() {
            one_hot[c * width + 1 + s] = 1.0;
        }
        let tangent = Tensor::from_vec(one_hot, (cells.cells(), width), self.model.device())
            .and_then(|t| t.to_dtype(self.model.dtype()))
            .context("tangent")?;
        let (_, derivative) = self.model.forward_with_tangent(&ids, &values, &tangent, None)?;
        context_matrix(&derivative)
    }

    fn gene_embeddings(&self, tokens: &[TokenId]) -> Result<Matrix> {
        if tokens.is_empty() {
            return Ok(Matrix::zeros(0, self.model.config.embsize));
        }
        let ids = Tensor::from_slice(tokens, tokens.len(), self.model.device()).context("token ids")?;
        let emb = self.model.gene_embeddings(&ids)?;
        let data = emb
            .to_dtype(DType::F32)
            .and_then(|e| e.flatten_all())
            .and_then(|e| e.to_vec1::<f32>())
            .context("reading gene embeddings")?;
        Matrix::new(tokens.len(), self.model.config.embsize, data)
    }

    fn attention_scores(&self, cells: &CellBatch, layer: usize) -> Result<AttentionMaps> {
        let (ids, values) = self.inputs(cells)?;
        let scores = self.model.attention_scores(&ids, &values, layer)?;
        let g = cells.genes();
        let data = scores
            .narrow(2, 1, g)
            .and_then(|s| s.narrow(3, 1, g))
            .and_then(|s| s.to_dtype(DType::F32))
            .and_then(|s| s.flatten_all())
            .and_then(|s| s.to_vec1::<f32>())
            .context("reading attention scores")?;
        Ok(AttentionMaps { cells: cells.cells(), heads: self.model.config.nheads, genes: g, data })
    }

    fn prepare_expression(&self, context: &[TokenId], expression: &[f32]) -> Result<Vec<f32>> {
        if context.len() != expression.len() {
            return Err(Error::invalid(format!(
                "{} expression values for a context of {} genes",
                expression.len(),
                context.len()
            )));
        }
        bin_expression(expression, self.model.config.n_bins).map_err(Error::invalid)
    }

    fn bytes_per_cell(&self, genes: usize, pass: Pass) -> u64 {
        let cfg = &self.model.config;
        let tokens = (genes + 1) as u64;
        let (d, f, h) = (cfg.embsize as u64, cfg.d_hid as u64, cfg.nheads as u64);
        // Tensors alive at the peak of one layer: attention maps and per-token activations; the
        // tangent pass carries a tangent beside each and a few temporaries. On the CPU in f32
        // the attention kernel holds the maps of one head per running task; a batch of one cell
        // may have min(heads, tasks) of them in flight, so each cell is charged that many. On
        // other devices and dtypes every head's maps exist at once. About 1.1–1.9× the peaks the
        // bench measures at whole-human size (README), so batches stay inside the budget.
        let one_head_at_a_time = self.model.device().is_cpu() && self.model.dtype() == DType::F32;
        let in_flight = h.min(kernels::attention_tasks_in_flight() as u64);
        let (maps, per_token) = match (pass, one_head_at_a_time) {
            (Pass::Readout, true) => (in_flight, 8 * d + 2 * f),
            (Pass::Derivative, true) => (2 * in_flight, 16 * d + 4 * f),
            (Pass::Readout, false) => (3 * h, 12 * d + 2 * f),
            (Pass::Derivative, false) => (7 * h, 24 * d + 4 * f),
            (Pass::Attention, _) => (3 * h, 8 * d),
        };
        self.model.dtype().size_in_bytes() as u64 * (maps * tokens * tokens + per_token * tokens)
    }
}
