//! The host's model and progress bar, reached through the imported `oracle` and `progress`
//! interfaces of world `probe`.
use std::sync::OnceLock;

use super::convert::wit_u32;
use super::probe::ugrn::plugin::{oracle, progress};
use crate::error::{Error, Result};
use crate::oracle::{AttentionMaps, CellBatch, ModelInfo, ModelOracle, Pass};
use crate::plugin::Progress;
use crate::types::{GeneSymbol, Matrix, TokenId};

impl From<oracle::ModelInfo> for ModelInfo {
    fn from(info: oracle::ModelInfo) -> Self {
        ModelInfo {
            family: info.family,
            checkpoint: info.checkpoint,
            checkpoint_sha256: info.checkpoint_sha256,
            device: info.device,
            dtype: info.dtype,
            layers: info.layers as usize,
            heads: info.heads as usize,
            embedding_dim: info.embedding_dim as usize,
            max_context: info.max_context as usize,
            value_min: info.value_min,
            value_max: info.value_max,
            default_background: info.default_background,
            vocabulary: info.vocabulary as usize,
        }
    }
}

impl TryFrom<oracle::AttentionMaps> for AttentionMaps {
    type Error = Error;
    fn try_from(maps: oracle::AttentionMaps) -> Result<Self> {
        let (cells, heads, genes) = (maps.cells as usize, maps.heads as usize, maps.genes as usize);
        if maps.data.len() != cells * heads * genes * genes {
            return Err(Error::invalid(format!(
                "attention maps of {cells} cells × {heads} heads × {genes}² genes need {} scores, got {}",
                cells * heads * genes * genes,
                maps.data.len()
            )));
        }
        Ok(AttentionMaps { cells, heads, genes, data: maps.data })
    }
}

impl From<Pass> for oracle::Pass {
    fn from(pass: Pass) -> Self {
        match pass {
            Pass::Readout => oracle::Pass::Readout,
            Pass::Derivative => oracle::Pass::Derivative,
            Pass::Attention => oracle::Pass::Attention,
        }
    }
}

impl TryFrom<&CellBatch> for oracle::CellBatch {
    type Error = Error;
    fn try_from(cells: &CellBatch) -> Result<Self> {
        Ok(oracle::CellBatch { tokens: cells.tokens().to_vec(), values: cells.values().clone().try_into()? })
    }
}

/// The host's model as a [`ModelOracle`]: every call is a call of the imported `oracle`
/// interface, which batches under the host's memory budget.
#[derive(Debug, Default)]
pub struct GuestOracle {
    /// `ModelOracle::info` lends its answer, so the first one is kept.
    info: OnceLock<ModelInfo>,
}

impl GuestOracle {
    pub fn new() -> Self {
        Self::default()
    }
}

impl ModelOracle for GuestOracle {
    fn info(&self) -> &ModelInfo {
        self.info.get_or_init(|| oracle::info().into())
    }

    fn token_ids(&self, genes: &[GeneSymbol]) -> Vec<Option<TokenId>> {
        oracle::token_ids(genes)
    }

    fn readout(&self, cells: &CellBatch) -> Result<Matrix> {
        oracle::readout(&cells.try_into()?)?.try_into()
    }

    fn readout_derivative(&self, cells: &CellBatch, sources: &[usize]) -> Result<Matrix> {
        let sources = sources.iter().map(|&s| wit_u32("source index", s)).collect::<Result<Vec<_>>>()?;
        oracle::readout_derivative(&cells.try_into()?, &sources)?.try_into()
    }

    fn gene_embeddings(&self, tokens: &[TokenId]) -> Result<Matrix> {
        oracle::gene_embeddings(tokens)?.try_into()
    }

    fn attention_scores(&self, cells: &CellBatch, layer: usize) -> Result<AttentionMaps> {
        oracle::attention_scores(&cells.try_into()?, wit_u32("layer", layer)?)?.try_into()
    }

    fn prepare_expression(&self, context: &[TokenId], expression: &[f32]) -> Result<Vec<f32>> {
        Ok(oracle::prepare_expression(context, expression)?)
    }

    fn bytes_per_cell(&self, genes: usize, pass: Pass) -> u64 {
        // A context past u32 genes needs at least as much as the largest one WIT can name.
        oracle::bytes_per_cell(u32::try_from(genes).unwrap_or(u32::MAX), pass.into())
    }
}

/// The host's progress bar as a [`Progress`], through the imported `progress` interface.
#[derive(Debug, Default)]
pub struct GuestProgress;

impl Progress for GuestProgress {
    fn set_total(&self, total: u64) {
        progress::set_total(total);
    }
    fn advance(&self, done: u64) {
        progress::advance(done);
    }
    fn set_message(&self, message: &str) {
        progress::set_message(message);
    }
}
