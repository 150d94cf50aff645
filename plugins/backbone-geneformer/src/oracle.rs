//! The model oracle over a loaded Geneformer: one batch of cells per call.
//!
//! A cell of the SDK is a list of context genes with a value each; Geneformer reads a cell as
//! its genes in rank order. So each cell is laid out as its genes by descending value (ties in
//! context order, as [`descending_order`] sorts), every context gene present, and each gene's
//! word embedding is scaled by a scale s derived from its value ([`ValueMode`]). Readouts,
//! derivatives and attention maps are computed over positions and handed back in context order.
use candle_core::{DType, Tensor};
use ugrn_candle_shared::Context;
use ugrn_sdk::{AttentionMaps, CellBatch, Error, GeneSymbol, Matrix, ModelInfo, ModelOracle, Pass, Result, TokenId};

use crate::bert::BertForMaskedLM;
use crate::dictionary::GeneDictionaries;
use crate::tokenizer::{descending_order, normalise};

/// Background value for virtual cells: every gene present (s = 1 in both modes), all tied, so
/// they keep the context order.
pub const DEFAULT_BACKGROUND: f32 = 1.0;

/// How an input value acts on the model besides setting the gene's rank.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueMode {
    /// A value > 0 is an expressed gene (s = 1), a value ≤ 0 an unexpressed one (s = 0: its
    /// identity is erased, its position kept). The derivative is ∂readout/∂s at the source's s.
    Rank,
    /// The value is the scale itself (s = value ≥ 0), so the derivative is ∂readout/∂value.
    Scale,
}

impl ValueMode {
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "rank" => Ok(ValueMode::Rank),
            "scale" => Ok(ValueMode::Scale),
            other => Err(Error::param("value_mode", format!("{other:?} is not one of rank, scale"))),
        }
    }

    /// The word-embedding scale of a gene with input `value`.
    pub fn scale(self, value: f32) -> f32 {
        match self {
            ValueMode::Rank => (value > 0.0) as u8 as f32,
            ValueMode::Scale => value,
        }
    }
}

/// The units of the expression profiles [`ModelOracle::prepare_expression`] receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpressionUnits {
    /// log2(x + 1) of a linear abundance, as BEELINE's matrices are.
    Log2p1,
    /// ln(x + 1) of a linear abundance.
    Log1p,
    /// A linear abundance: counts, or counts already normalised per cell (CPM, TPM).
    Counts,
}

impl ExpressionUnits {
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "log2p1" => Ok(ExpressionUnits::Log2p1),
            "log1p" => Ok(ExpressionUnits::Log1p),
            "counts" => Ok(ExpressionUnits::Counts),
            other => Err(Error::param("expression", format!("{other:?} is not one of log2p1, log1p, counts"))),
        }
    }

    /// The linear abundance behind `value`.
    pub fn linear(self, value: f64) -> f64 {
        match self {
            ExpressionUnits::Log2p1 => (value * std::f64::consts::LN_2).exp_m1(),
            ExpressionUnits::Log1p => value.exp_m1(),
            ExpressionUnits::Counts => value,
        }
    }
}

/// Cells laid out in rank order.
struct Layout {
    /// `(cells, genes)` u32, position-major.
    ids: Tensor,
    /// `(cells, genes)` word-embedding scales in the model dtype, position-major.
    scales: Tensor,
    /// `cells × genes`: the position of each context gene.
    positions: Vec<usize>,
}

pub struct GeneformerOracle {
    model: BertForMaskedLM,
    dictionaries: GeneDictionaries,
    info: ModelInfo,
    value_mode: ValueMode,
    expression: ExpressionUnits,
}

impl GeneformerOracle {
    pub fn new(
        model: BertForMaskedLM,
        dictionaries: GeneDictionaries,
        info: ModelInfo,
        value_mode: ValueMode,
        expression: ExpressionUnits,
    ) -> Self {
        GeneformerOracle { model, dictionaries, info, value_mode, expression }
    }

    pub fn model(&self) -> &BertForMaskedLM {
        &self.model
    }

    pub fn dictionaries(&self) -> &GeneDictionaries {
        &self.dictionaries
    }

    fn layout(&self, cells: &CellBatch) -> Result<Layout> {
        let (n, g) = (cells.cells(), cells.genes());
        if n == 0 || g == 0 {
            return Err(Error::invalid(format!("a batch of {n} cells × {g} genes has nothing to compute")));
        }
        if g > self.info.max_context {
            return Err(Error::invalid(format!(
                "cells of {g} genes exceed the {} genes the model takes (config `max_position_embeddings`)",
                self.info.max_context
            )));
        }
        let values = &cells.values().data;
        for (i, &v) in values.iter().enumerate() {
            if !v.is_finite() {
                return Err(Error::invalid(format!("value {v} of cell {}, gene {} is not finite", i / g, i % g)));
            }
            if self.value_mode == ValueMode::Scale && v < 0.0 {
                return Err(Error::invalid(format!(
                    "value {v} of cell {}, gene {} is negative; with value_mode = \"scale\" a value scales the gene's embedding",
                    i / g,
                    i % g
                )));
            }
        }
        let mut ids = Vec::with_capacity(n * g);
        let mut scales = Vec::with_capacity(n * g);
        let mut positions = vec![0; n * g];
        for c in 0..n {
            let row = cells.values().row(c);
            let tokens = cells.cell_tokens(c);
            let order = descending_order(&row.iter().map(|&v| v as f64).collect::<Vec<_>>());
            for (p, &j) in order.iter().enumerate() {
                ids.push(tokens[j]);
                scales.push(self.value_mode.scale(row[j]));
                positions[c * g + j] = p;
            }
        }
        let device = self.model.device();
        let ids = Tensor::from_vec(ids, (n, g), device).context("token ids")?;
        let scales =
            Tensor::from_vec(scales, (n, g), device).and_then(|s| s.to_dtype(self.model.dtype())).context("scales")?;
        Ok(Layout { ids, scales, positions })
    }

    /// A position-major `(cells, genes)` tensor back in context order.
    fn to_context_order(&self, t: &Tensor, layout: &Layout) -> Result<Matrix> {
        let (n, g) = t.dims2().context("readout shape")?;
        let data: Vec<f32> = t
            .to_dtype(DType::F32)
            .and_then(|t| t.flatten_all())
            .and_then(|t| t.to_vec1())
            .context("reading the readout")?;
        let ordered = (0..n * g).map(|i| data[(i / g) * g + layout.positions[i]]).collect();
        Matrix::new(n, g, ordered)
    }
}

impl ModelOracle for GeneformerOracle {
    fn info(&self) -> &ModelInfo {
        &self.info
    }

    fn token_ids(&self, genes: &[GeneSymbol]) -> Vec<Option<TokenId>> {
        genes.iter().map(|g| self.dictionaries.token_id(g)).collect()
    }

    fn readout(&self, cells: &CellBatch) -> Result<Matrix> {
        let layout = self.layout(cells)?;
        let (readout, _) = self.model.own_log_probs(&layout.ids, &layout.scales, None)?;
        self.to_context_order(&readout, &layout)
    }

    fn readout_derivative(&self, cells: &CellBatch, sources: &[usize]) -> Result<Matrix> {
        let (n, g) = (cells.cells(), cells.genes());
        if sources.len() != n {
            return Err(Error::invalid(format!("{} source positions for {n} cells", sources.len())));
        }
        if let Some((c, s)) = sources.iter().enumerate().find(|(_, s)| **s >= g) {
            return Err(Error::invalid(format!("source position {s} of cell {c} is outside its {g} genes")));
        }
        let layout = self.layout(cells)?;
        let mut one_hot = vec![0f32; n * g];
        for (c, &s) in sources.iter().enumerate() {
            one_hot[c * g + layout.positions[c * g + s]] = 1.0;
        }
        let tangent = Tensor::from_vec(one_hot, (n, g), self.model.device())
            .and_then(|t| t.to_dtype(self.model.dtype()))
            .context("tangent")?;
        let (_, derivative) = self.model.own_log_probs(&layout.ids, &layout.scales, Some(&tangent))?;
        let derivative = derivative.ok_or_else(|| Error::compute("the readout lost its tangent"))?;
        self.to_context_order(&derivative, &layout)
    }

    fn gene_embeddings(&self, tokens: &[TokenId]) -> Result<Matrix> {
        let d = self.model.config.hidden_size;
        if tokens.is_empty() {
            return Ok(Matrix::zeros(0, d));
        }
        let ids = Tensor::from_slice(tokens, tokens.len(), self.model.device()).context("token ids")?;
        let data = self
            .model
            .word_embeddings(&ids)?
            .to_dtype(DType::F32)
            .and_then(|e| e.flatten_all())
            .and_then(|e| e.to_vec1::<f32>())
            .context("reading word embeddings")?;
        Matrix::new(tokens.len(), d, data)
    }

    fn attention_scores(&self, cells: &CellBatch, layer: usize) -> Result<AttentionMaps> {
        let layout = self.layout(cells)?;
        let scores = self.model.attention_scores(&layout.ids, &layout.scales, layer)?;
        let (n, heads, g, _) = scores.dims4().context("attention shape")?;
        let data: Vec<f32> = scores
            .to_dtype(DType::F32)
            .and_then(|s| s.flatten_all())
            .and_then(|s| s.to_vec1())
            .context("reading attention scores")?;
        let mut maps = Vec::with_capacity(data.len());
        for c in 0..n {
            let pos = &layout.positions[c * g..(c + 1) * g];
            for h in 0..heads {
                let block = &data[(c * heads + h) * g * g..(c * heads + h + 1) * g * g];
                for &pi in pos {
                    maps.extend(pos.iter().map(|&pj| block[pi * g + pj]));
                }
            }
        }
        Ok(AttentionMaps { cells: n, heads, genes: g, data: maps })
    }

    fn prepare_expression(&self, context: &[TokenId], expression: &[f32]) -> Result<Vec<f32>> {
        if context.len() != expression.len() {
            return Err(Error::invalid(format!(
                "{} expression values for a context of {} genes",
                expression.len(),
                context.len()
            )));
        }
        let mut linear = Vec::with_capacity(expression.len());
        for (i, &v) in expression.iter().enumerate() {
            let x = self.expression.linear(v as f64);
            if !x.is_finite() || x < 0.0 {
                return Err(Error::invalid(format!(
                    "expression {v} of context gene {i} is not a non-negative abundance in the `expression` units"
                )));
            }
            linear.push(x);
        }
        // The context's total stands in for the cell's n_counts: it scales every gene alike,
        // so it never changes the order.
        let total: f64 = linear.iter().sum();
        context
            .iter()
            .zip(&linear)
            .enumerate()
            .map(|(i, (&token, &x))| {
                let median = self.dictionaries.median(token).ok_or_else(|| {
                    Error::invalid(format!("token {token} (context gene {i}) is not a gene with a Genecorpus median"))
                })?;
                Ok(if x == 0.0 { 0.0 } else { normalise(x, total, median) as f32 })
            })
            .collect()
    }

    fn bytes_per_cell(&self, genes: usize, pass: Pass) -> u64 {
        let cfg = &self.model.config;
        let l = genes as u64;
        let (d, f, h, v) = (
            cfg.hidden_size as u64,
            cfg.intermediate_size as u64,
            cfg.num_attention_heads as u64,
            cfg.vocab_size as u64,
        );
        // Alive at the peak: attention maps (heads × tokens²), per-token activations, and the
        // vocabulary-wide logits of the head; the tangent pass carries a tangent beside each.
        let (maps, per_token, vocab_wide) = match pass {
            Pass::Readout => (4, 12 * d + 2 * f, 3),
            Pass::Derivative => (10, 24 * d + 4 * f, 5),
            Pass::Attention => (3, 8 * d, 0),
        };
        self.model.dtype().size_in_bytes() as u64 * (maps * h * l * l + per_token * l + vocab_wide * v * l)
    }
}
