//! Geneformer backbone: loads a BERT masked-LM checkpoint in Hugging Face layout with
//! Geneformer V1's dictionaries and serves the model oracle with exact derivatives.
//!
//! [`BertForMaskedLM`] computes what Hugging Face's `BertForMaskedLM` computes (eval mode), in
//! candle, with forward-mode tangents through every layer ([`dual`]). [`rank_value_encode`] is
//! Geneformer V1's tokenizer. [`Geneformer`] is the `backbone-geneformer` plugin; its oracle
//! ([`GeneformerOracle`]) turns the SDK's cells of (gene, value) into rank-ordered sequences,
//! reads each gene's MLM log-probability of its own token, and differentiates it with respect
//! to the scale of a source gene's word embedding (see the README for the semantics).
mod bert;
mod checkpoint;
mod config;
mod dictionary;
pub mod dual;
mod oracle;
pub mod pickle;
mod tokenizer;

use std::path::PathBuf;

use candle_core::Device;
use ugrn_sdk::{Backbone, LoadRequest, ModelInfo, ModelOracle, ParamSpec, Params, PluginInfo, PluginKind, Result};

pub use bert::{
    BertAttention, BertEmbeddings, BertForMaskedLM, BertIntermediate, BertLMPredictionHead, BertLayer, BertModel,
    BertOutput, BertPredictionHeadTransform, BertSelfAttention, BertSelfOutput, LayerNorm, MaskedLmOutput,
};
pub use checkpoint::{
    BIN_FILE, CONFIG_FILE, Checkpoint, Dictionary, DictionaryPaths, SAFETENSORS_FILE, WeightFile, Weights,
};
pub use config::{Activation, Config, GENEFORMER_V1_INPUT_SIZE};
pub use dictionary::GeneDictionaries;
pub use oracle::{DEFAULT_BACKGROUND, ExpressionUnits, GeneformerOracle, ValueMode};
pub use tokenizer::{TARGET_SUM, descending_order, normalise, rank_value_encode};
pub use ugrn_candle_shared::device::parse_dtype;

/// The name workflows use.
pub const PLUGIN_NAME: &str = "backbone-geneformer";

/// `cpu` or `cuda:N`.
pub fn parse_device(device: &str) -> Result<Device> {
    ugrn_candle_shared::device::parse_device(device, PLUGIN_NAME, cfg!(feature = "cuda"))
}

/// A path parameter: empty means "look in the checkpoint folder".
fn optional_path(params: &Params, key: &str) -> Result<Option<PathBuf>> {
    let s = params.str(key)?;
    Ok(if s.is_empty() { None } else { Some(PathBuf::from(s)) })
}

/// The `backbone-geneformer` plugin.
#[derive(Debug, Default)]
pub struct Geneformer;

impl Geneformer {
    /// Loads a checkpoint as the concrete oracle (the trait object [`Backbone::load`] returns
    /// hides the model).
    pub fn load_oracle(&self, request: &LoadRequest) -> Result<GeneformerOracle> {
        let params = &request.params;
        let file: WeightFile = params.str("file")?.parse()?;
        let value_mode = ValueMode::parse(params.str("value_mode")?)?;
        let expression = ExpressionUnits::parse(params.str("expression")?)?;
        let paths = DictionaryPaths {
            token_dictionary: optional_path(params, Dictionary::Tokens.name())?,
            gene_median_dictionary: optional_path(params, Dictionary::Medians.name())?,
            gene_name_id_dict: optional_path(params, Dictionary::Names.name())?,
        };
        let device = parse_device(&request.device)?;
        let dtype = parse_dtype(&request.dtype, &device)?;
        let ckpt = Checkpoint::open(&request.checkpoint, file, &paths)?;
        let cfg = &ckpt.config;
        let dictionaries = GeneDictionaries::load(
            &ckpt.token_dictionary,
            &ckpt.gene_median_dictionary,
            ckpt.gene_name_id_dict.as_deref(),
            cfg.vocab_size,
        )?;
        let info = ModelInfo {
            family: "geneformer".into(),
            checkpoint: request.checkpoint.display().to_string(),
            checkpoint_sha256: ckpt.sha256()?,
            device: request.device.clone(),
            dtype: request.dtype.clone(),
            layers: cfg.num_hidden_layers,
            heads: cfg.num_attention_heads,
            embedding_dim: cfg.hidden_size,
            max_context: cfg.max_context(),
            value_min: 0.0,
            // Rank mode: any positive value is a fully present gene and only the order matters,
            // so against the default background 1 the range 0..2 spans every rank a source can
            // take (0 erased, below 1 after every background gene, above 1 before them).
            // Scale mode: 1 is the embedding scale the model was trained on.
            value_max: match value_mode {
                ValueMode::Rank => 2.0 * DEFAULT_BACKGROUND,
                ValueMode::Scale => 1.0,
            },
            default_background: DEFAULT_BACKGROUND,
            vocabulary: cfg.vocab_size,
        };
        let model = BertForMaskedLM::from_checkpoint(&ckpt, &device, dtype)?;
        // After loading, so that the loader's temporaries are returned to the system.
        if device.is_cpu() {
            ugrn_candle_shared::memory::reuse_freed_memory();
        }
        Ok(GeneformerOracle::new(model, dictionaries, info, value_mode, expression))
    }
}

impl Backbone for Geneformer {
    fn describe(&self) -> PluginInfo {
        let dictionary = |which: Dictionary, what: &str| {
            ParamSpec::string(
                which.name(),
                "",
                &format!(
                    "{what}: a .pkl (as Geneformer ships it) or .json file, relative to the checkpoint folder; \
                     empty = {0}.pkl, else {0}.json, in the checkpoint folder",
                    which.name()
                ),
            )
        };
        PluginInfo {
            name: PLUGIN_NAME.into(),
            kind: PluginKind::Backbone,
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Geneformer V1 (Hugging Face BertForMaskedLM, rank-value encoding): readout = a gene's MLM \
                          log-probability of its own token at its rank position, with exact forward-mode derivatives \
                          with respect to the source's word-embedding scale; word embeddings; raw attention"
                .into(),
            params: vec![
                ParamSpec::choice(
                    "file",
                    &["auto", "safetensors", "bin"],
                    "auto",
                    "weight file: model.safetensors (memory-mapped; auto prefers it) or pytorch_model.bin",
                ),
                dictionary(Dictionary::Tokens, "Ensembl ID → token id"),
                dictionary(Dictionary::Medians, "Ensembl ID → non-zero median expression over Genecorpus"),
                dictionary(
                    Dictionary::Names,
                    "gene symbol → Ensembl ID (optional: without it genes are matched by Ensembl ID only)",
                ),
                ParamSpec::choice(
                    "value_mode",
                    &["rank", "scale"],
                    "rank",
                    "what an input value does besides ordering the genes (descending, ties in context order): \
                     `rank` = value > 0 is a present gene (embedding scale 1), value <= 0 an absent one (scale 0), \
                     derivatives are d/d(scale) at the source's scale; `scale` = the value is the embedding scale \
                     (>= 0), derivatives are d/d(value)",
                ),
                ParamSpec::choice(
                    "expression",
                    &["log2p1", "log1p", "counts"],
                    "log2p1",
                    "units of real expression profiles (the Pert probe's mean cell): log2(x+1) as BEELINE's \
                     matrices, ln(x+1), or linear counts; converted back to linear before Geneformer's \
                     normalisation x / total * 10000 / median",
                ),
            ],
        }
    }

    fn load(&self, request: &LoadRequest) -> Result<Box<dyn ModelOracle>> {
        Ok(Box::new(self.load_oracle(request)?))
    }
}
