//! scGPT backbone: loads released scGPT checkpoints and serves the model oracle with exact
//! derivatives.
//!
//! [`ScGptModel`] computes what scGPT 0.2.4's `TransformerModel` computes (continuous value
//! encoding, `<cls>` cell embedding, MVC decoder) in candle, differentiable by candle's autograd
//! and, through [`ScGptModel::forward_with_tangent`], by exact forward-mode tangents. [`ScGpt`]
//! is the `backbone-scgpt` plugin that serves it as a [`ugrn_sdk::ModelOracle`]. [`init`] names
//! its parameters and their initialisation, which `ugrn-pretrain` trains from; with feature
//! `testing`, module `testing` writes checkpoints with random weights for tests and benchmarks.
mod binning;
mod checkpoint;
mod config;
pub mod dual;
pub mod init;
mod model;
mod oracle;
#[cfg(feature = "testing")]
pub mod testing;
mod vocab;

use candle_core::Device;
use ugrn_sdk::{Backbone, LoadRequest, ModelInfo, ModelOracle, ParamSpec, PluginInfo, PluginKind, Result};

pub use binning::bin_expression;
pub use checkpoint::{
    ARGS_FILE, Checkpoint, PT_FILE, SAFETENSORS_FILE, VOCAB_FILE, WeightFile, Weights, write_atomically, write_json,
};
pub use config::{Config, LAYER_NORM_EPS};
pub use model::{
    ContinuousValueEncoder, ExprDecoder, GeneEncoder, LayerNorm, MVCDecoder, ScGptModel, ScGptOutput, SelfAttention,
    TransformerEncoderLayer, VALUE_CLAMP_MAX,
};
pub use oracle::{CLS_VALUE, DEFAULT_BACKGROUND, ScGptOracle};
pub use ugrn_candle_shared::device::parse_dtype;
pub use vocab::{CLS_TOKEN, PAD_TOKEN, SPECIAL_TOKENS, Vocab};

/// The name workflows use.
pub const PLUGIN_NAME: &str = "backbone-scgpt";

/// `cpu` or `cuda:N`.
pub fn parse_device(device: &str) -> Result<Device> {
    ugrn_candle_shared::device::parse_device(device, PLUGIN_NAME, cfg!(feature = "cuda"))
}

/// The `backbone-scgpt` plugin.
#[derive(Debug, Default)]
pub struct ScGpt;

impl ScGpt {
    /// Loads a checkpoint as the concrete oracle (the trait object [`Backbone::load`] returns
    /// hides the model).
    pub fn load_oracle(&self, request: &LoadRequest) -> Result<ScGptOracle> {
        let file: WeightFile = request.params.str("file")?.parse()?;
        let device = parse_device(&request.device)?;
        let dtype = parse_dtype(&request.dtype, &device)?;
        let ckpt = Checkpoint::open(&request.checkpoint, file)?;
        let checkpoint_sha256 = ckpt.sha256()?;
        let model = ScGptModel::from_checkpoint(&ckpt, &device, dtype)?;
        // After loading, so that the loader's temporaries are returned to the system.
        if device.is_cpu() {
            ugrn_candle_shared::memory::reuse_freed_memory();
        }
        let cfg = &model.config;
        let info = ModelInfo {
            family: "scgpt".into(),
            checkpoint: request.checkpoint.display().to_string(),
            checkpoint_sha256,
            device: request.device.clone(),
            dtype: request.dtype.clone(),
            layers: cfg.nlayers,
            heads: cfg.nheads,
            embedding_dim: cfg.embsize,
            // max_seq_len counts `<cls>`.
            max_context: cfg.max_seq_len.saturating_sub(1),
            value_min: 0.0,
            value_max: (cfg.n_bins - 1) as f32,
            default_background: DEFAULT_BACKGROUND,
            vocabulary: model.vocab.len(),
        };
        Ok(ScGptOracle::new(model, info))
    }
}

impl Backbone for ScGpt {
    fn describe(&self) -> PluginInfo {
        PluginInfo {
            name: PLUGIN_NAME.into(),
            kind: PluginKind::Backbone,
            version: env!("CARGO_PKG_VERSION").into(),
            description: "scGPT (continuous values, <cls> cell embedding, MVC) from a released checkpoint folder: \
                          expression-decoder readout with exact forward-mode derivatives, gene embeddings, raw attention"
                .into(),
            params: vec![ParamSpec::choice(
                "file",
                &["auto", "safetensors", "pt"],
                "auto",
                "weight file: model.safetensors (memory-mapped; auto prefers it) or best_model.pt",
            )],
        }
    }

    fn load(&self, request: &LoadRequest) -> Result<Box<dyn ModelOracle>> {
        Ok(Box::new(self.load_oracle(request)?))
    }
}
