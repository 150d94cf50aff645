//! The four plugin kinds.
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::oracle::{ModelInfo, ModelOracle};
use crate::params::{ParamSpec, Params};
use crate::types::{DatasetView, Evaluation, Features, LabeledFeatures, Pair};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PluginKind {
    Backbone,
    Probe,
    Translator,
    Evaluator,
}

impl std::fmt::Display for PluginKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PluginKind::Backbone => "backbone",
            PluginKind::Probe => "probe",
            PluginKind::Translator => "translator",
            PluginKind::Evaluator => "evaluator",
        })
    }
}

/// What `ugrn plugins` shows and what workflows are validated against.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PluginInfo {
    /// The name workflows use, e.g. `probe-vvp`.
    pub name: String,
    pub kind: PluginKind,
    pub version: String,
    pub description: String,
    pub params: Vec<ParamSpec>,
}

/// Where and how to load a checkpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadRequest {
    pub checkpoint: PathBuf,
    /// Resolved by the host: `cpu` or `cuda:N` (never `auto`).
    pub device: String,
    /// `f32`, `f64`, `bf16` or `f16`.
    pub dtype: String,
    pub params: Params,
}

/// A backbone turns a checkpoint folder into a model oracle.
pub trait Backbone: Send + Sync {
    fn describe(&self) -> PluginInfo;
    fn load(&self, request: &LoadRequest) -> Result<Box<dyn ModelOracle>>;
}

/// Progress reporting from a plugin to the host's progress bar. Implementations never panic.
pub trait Progress: Send + Sync {
    /// Total units (pairs) of the current step.
    fn set_total(&self, total: u64);
    fn advance(&self, done: u64);
    /// A short status shown beside the bar (e.g. the current loss).
    fn set_message(&self, _message: &str) {}
}

/// A progress sink that discards everything.
#[derive(Debug, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn set_total(&self, _: u64) {}
    fn advance(&self, _: u64) {}
}

/// What a probe is asked to compute.
#[derive(Debug, Clone, Copy)]
pub struct ProbeRequest<'a> {
    pub params: &'a Params,
    pub dataset: DatasetView<'a>,
    /// Every pair needs a row, in this order. Both genes are in the model's vocabulary.
    pub pairs: &'a [Pair],
}

/// A probe turns pairs into features through the oracle only.
pub trait Probe: Send + Sync {
    fn describe(&self) -> PluginInfo;
    /// Whether the probe reads real expression (the host reports it as not applicable on
    /// datasets without a matrix instead of calling it, and hands a probe that says no none).
    fn needs_expression(&self, params: &Params) -> bool;
    /// Whether all the probe reads of the expression, with these parameters, is each gene's
    /// mean over the cells (`Expression::gene_means`). The host may then hand it the mean cell
    /// as an expression of one cell, so that data of a million cells is never held cell by
    /// cell. Only meaningful where `needs_expression` is true.
    fn reads_mean_cell_only(&self, _params: &Params) -> bool {
        false
    }
    /// The feature columns `features` will give with these parameters on this model, known
    /// before any cell is computed, or `None` where the probe cannot say. An error is what
    /// `features` would refuse about the parameters and the model (e.g. a layer the model does
    /// not have): `ugrn check` reports it before a run.
    fn columns(&self, params: &Params, info: &ModelInfo) -> Result<Option<Vec<String>>> {
        let _ = (params, info);
        Ok(None)
    }
    fn features(
        &self,
        request: &ProbeRequest<'_>,
        oracle: &dyn ModelOracle,
        progress: &dyn Progress,
    ) -> Result<Features>;
}

/// A trained translator: opaque state (safetensors bytes for the MLP) and a training log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FittedTranslator {
    pub state: Vec<u8>,
    /// Lines worth keeping in the report (epochs run, best validation loss, …).
    pub log: Vec<String>,
}

/// A translator maps features to regulation logits.
pub trait Translator: Send + Sync {
    fn describe(&self) -> PluginInfo;
    fn fit(&self, params: &Params, train: &LabeledFeatures, validation: &LabeledFeatures) -> Result<FittedTranslator>;
    /// Logits, one per row of `features`.
    fn predict(&self, params: &Params, state: &[u8], features: &Features) -> Result<Vec<f32>>;
}

/// An evaluator scores ranked predictions against labels.
pub trait Evaluator: Send + Sync {
    fn describe(&self) -> PluginInfo;
    fn evaluate(&self, params: &Params, scores: &[f32], labels: &[bool]) -> Result<Evaluation>;
}
