//! The model hyper-parameters as Hugging Face writes them to `config.json` (`BertConfig`).
//!
//! Keys that only matter in training (dropout, initialiser range, …) or to other model classes
//! are ignored. Keys that would change what the masked-LM computes in a way this crate does not
//! implement are errors naming the key.
use std::path::Path;

use serde::Deserialize;
use ugrn_candle_shared::config::{self, JsonConfig, require_sizes, unsupported};
use ugrn_sdk::Result;

/// Geneformer V1's model input size: the tokenizer truncates every cell to this many genes.
pub const GENEFORMER_V1_INPUT_SIZE: usize = 2048;

/// The activation of the feed-forward blocks and of the MLM head's transform.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    Relu,
    /// The exact (erf) GELU, Hugging Face's `"gelu"`.
    Gelu,
}

/// `BertConfig` fields that shape `BertForMaskedLM`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Config {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    #[serde(default = "default_hidden_act")]
    pub hidden_act: String,
    /// Rows of the position table. Absent: Geneformer V1's 2048 (the position table's shape is
    /// checked against it, so a checkpoint with another table is reported, never misread).
    #[serde(default = "default_max_position_embeddings")]
    pub max_position_embeddings: usize,
    #[serde(default = "default_type_vocab_size")]
    pub type_vocab_size: usize,
    #[serde(default = "default_layer_norm_eps")]
    pub layer_norm_eps: f64,
    #[serde(default = "default_position_embedding_type")]
    pub position_embedding_type: String,
    #[serde(default)]
    pub is_decoder: bool,
    #[serde(default)]
    pub add_cross_attention: bool,
    /// Whether the MLM decoder shares the word embeddings (Hugging Face's default: yes).
    #[serde(default = "default_true")]
    pub tie_word_embeddings: bool,
    #[serde(default)]
    pub model_type: Option<String>,
}

fn default_hidden_act() -> String {
    "gelu".into()
}
fn default_max_position_embeddings() -> usize {
    GENEFORMER_V1_INPUT_SIZE
}
fn default_type_vocab_size() -> usize {
    2
}
fn default_layer_norm_eps() -> f64 {
    1e-12
}
fn default_position_embedding_type() -> String {
    "absolute".into()
}
fn default_true() -> bool {
    true
}

impl Config {
    /// Reads and checks `config.json`.
    pub fn from_file(path: &Path) -> Result<Config> {
        config::read(path)
    }

    /// Parses and checks the text of `config.json`; the error names the key at fault.
    pub fn from_json(text: &str) -> std::result::Result<Config, String> {
        config::parse(text)
    }

    pub fn activation(&self) -> Activation {
        // `check` admits only these two.
        if self.hidden_act == "relu" { Activation::Relu } else { Activation::Gelu }
    }

    /// How many genes a cell may hold: positions are absolute, so no more than the position
    /// table has rows.
    pub fn max_context(&self) -> usize {
        self.max_position_embeddings
    }

    /// Where the rank-value encoding truncates a cell: Geneformer V1's 2048, or fewer when the
    /// model has fewer positions.
    pub fn model_input_size(&self) -> usize {
        self.max_position_embeddings.min(GENEFORMER_V1_INPUT_SIZE)
    }
}

impl JsonConfig for Config {
    fn check(&self) -> std::result::Result<(), String> {
        require_sizes(&[
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("num_hidden_layers", self.num_hidden_layers),
            ("num_attention_heads", self.num_attention_heads),
            ("intermediate_size", self.intermediate_size),
            ("max_position_embeddings", self.max_position_embeddings),
            ("type_vocab_size", self.type_vocab_size),
        ])?;
        if !self.hidden_size.is_multiple_of(self.num_attention_heads) {
            return Err(format!(
                "option `num_attention_heads` = {} does not divide `hidden_size` = {}",
                self.num_attention_heads, self.hidden_size
            ));
        }
        if let Some(model_type) = &self.model_type
            && model_type != "bert"
        {
            return Err(unsupported("model_type", format!("{model_type:?}"), "\"bert\""));
        }
        if self.hidden_act != "relu" && self.hidden_act != "gelu" {
            return Err(unsupported("hidden_act", format!("{:?}", self.hidden_act), "\"relu\", \"gelu\""));
        }
        if self.position_embedding_type != "absolute" {
            return Err(unsupported(
                "position_embedding_type",
                format!("{:?}", self.position_embedding_type),
                "\"absolute\"",
            ));
        }
        if self.is_decoder {
            return Err(unsupported("is_decoder", true, "false"));
        }
        if self.add_cross_attention {
            return Err(unsupported("add_cross_attention", true, "false"));
        }
        if !(self.layer_norm_eps.is_finite() && self.layer_norm_eps >= 0.0) {
            return Err(format!("option `layer_norm_eps` = {} must be a non-negative number", self.layer_norm_eps));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"{"vocab_size": 10, "hidden_size": 8, "num_hidden_layers": 1,
        "num_attention_heads": 2, "intermediate_size": 16}"#;

    fn with(key: &str, value: serde_json::Value) -> String {
        let mut v: serde_json::Value = serde_json::from_str(MINIMAL).unwrap();
        v[key] = value;
        v.to_string()
    }

    #[test]
    fn defaults_follow_bert_and_geneformer() {
        let c = Config::from_json(MINIMAL).unwrap();
        assert_eq!(c.activation(), Activation::Gelu);
        assert_eq!((c.max_position_embeddings, c.type_vocab_size, c.layer_norm_eps), (2048, 2, 1e-12));
        assert!(c.tie_word_embeddings);
        assert_eq!((c.max_context(), c.model_input_size()), (2048, 2048));
        let c = Config::from_json(&with("max_position_embeddings", 4096.into())).unwrap();
        assert_eq!((c.max_context(), c.model_input_size()), (4096, 2048));
        assert_eq!(Config::from_json(&with("hidden_act", "relu".into())).unwrap().activation(), Activation::Relu);
    }

    #[test]
    fn unsupported_options_are_named() {
        let cases = [
            ("hidden_act", serde_json::json!("gelu_new"), "option `hidden_act` = \"gelu_new\""),
            ("hidden_act", serde_json::json!("silu"), "option `hidden_act` = \"silu\""),
            (
                "position_embedding_type",
                serde_json::json!("relative_key"),
                "option `position_embedding_type` = \"relative_key\"",
            ),
            ("is_decoder", serde_json::json!(true), "option `is_decoder` = true"),
            ("add_cross_attention", serde_json::json!(true), "option `add_cross_attention` = true"),
            ("model_type", serde_json::json!("roberta"), "option `model_type` = \"roberta\""),
        ];
        for (key, value, expected) in cases {
            let err = Config::from_json(&with(key, value)).unwrap_err();
            assert!(err.starts_with(expected), "{key}: {err}");
            assert!(err.contains("is not supported"), "{key}: {err}");
        }
    }

    #[test]
    fn bad_values_name_the_key() {
        assert_eq!(
            Config::from_json(&with("num_attention_heads", 3.into())).unwrap_err(),
            "option `num_attention_heads` = 3 does not divide `hidden_size` = 8"
        );
        assert_eq!(
            Config::from_json(&with("num_hidden_layers", 0.into())).unwrap_err(),
            "option `num_hidden_layers` must be positive"
        );
        let err = Config::from_json(&with("hidden_size", "wide".into())).unwrap_err();
        assert!(err.starts_with("key `hidden_size`: invalid type: string \"wide\""), "{err}");
        let err = Config::from_json(r#"{"vocab_size": 10, "hidden_size": 8}"#).unwrap_err();
        assert!(err.contains("missing field `num_hidden_layers`"), "{err}");
    }
}
