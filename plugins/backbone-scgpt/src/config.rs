//! The model hyper-parameters as scGPT writes them to `args.json`.
//!
//! `args.json` is the training script's argument dump, so it holds many keys that do not shape
//! the model (learning rate, paths, …); those are ignored. Keys that would change what the model
//! computes in a way this crate does not implement are errors naming the key.
use std::path::Path;

use serde::Deserialize;
use ugrn_candle_shared::config::{self, JsonConfig, require_sizes, unsupported};
use ugrn_sdk::Result;

/// scGPT `TransformerModel` settings read from `args.json`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Config {
    /// Model width `d_model`.
    pub embsize: usize,
    pub nheads: usize,
    /// Feed-forward width of each encoder layer.
    pub d_hid: usize,
    pub nlayers: usize,
    /// Number of expression bins (bin 0 = not expressed), so values lie in `0..=n_bins-1`.
    #[serde(default = "default_n_bins")]
    pub n_bins: usize,
    #[serde(default = "default_pad_token")]
    pub pad_token: String,
    #[serde(default = "default_pad_value")]
    pub pad_value: f64,
    #[serde(default = "default_mask_value")]
    pub mask_value: f64,
    /// Longest sequence seen in training, `<cls>` included.
    #[serde(default = "default_max_seq_len")]
    pub max_seq_len: usize,
    /// Whether the checkpoint carries the MVC decoder (`mvc_decoder.*`).
    #[serde(rename = "MVC", default)]
    pub mvc: bool,
    /// scGPT's `pre_norm` flag: layer norm before attention and feed-forward.
    #[serde(default)]
    pub pre_norm: bool,
    /// The same choice as `FlashTransformerEncoderLayer` spells it (`"pre"` or `"post"`).
    #[serde(default)]
    pub norm_scheme: Option<String>,
    #[serde(default = "default_input_style")]
    pub input_style: String,
    #[serde(default = "default_input_emb_style")]
    pub input_emb_style: String,
    #[serde(default = "default_cell_emb_style")]
    pub cell_emb_style: String,
    #[serde(default = "default_mvc_decoder_style")]
    pub mvc_decoder_style: String,
    #[serde(default = "default_fast_transformer_backend")]
    pub fast_transformer_backend: String,
    #[serde(default)]
    pub explicit_zero_prob: bool,
    #[serde(default)]
    pub use_batch_labels: bool,
    /// Domain-specific batch norm, as the fine-tuning scripts spell it.
    #[serde(rename = "DSBN", default)]
    pub dsbn: bool,
    /// Domain-specific batch norm, as `TransformerModel` spells it (`false`, `true`, `"dsbn"`,
    /// `"batchnorm"`, `"do_affine"`).
    #[serde(default)]
    pub domain_spec_batchnorm: serde_json::Value,
}

fn default_n_bins() -> usize {
    51
}
fn default_pad_token() -> String {
    "<pad>".into()
}
fn default_pad_value() -> f64 {
    -2.0
}
fn default_mask_value() -> f64 {
    -1.0
}
fn default_max_seq_len() -> usize {
    1200
}
fn default_input_style() -> String {
    "binned".into()
}
fn default_input_emb_style() -> String {
    "continuous".into()
}
fn default_cell_emb_style() -> String {
    "cls".into()
}
fn default_mvc_decoder_style() -> String {
    "inner product".into()
}
fn default_fast_transformer_backend() -> String {
    "flash".into()
}

/// LayerNorm epsilon of every norm in scGPT (PyTorch's default).
pub const LAYER_NORM_EPS: f64 = 1e-5;

impl Config {
    /// Reads and checks `args.json`.
    pub fn from_file(path: &Path) -> Result<Config> {
        config::read(path)
    }

    /// Parses and checks the text of `args.json`; the error names the key at fault.
    pub fn from_json(text: &str) -> std::result::Result<Config, String> {
        config::parse(text)
    }

    /// Whether the encoder layers normalise before attention and feed-forward.
    pub fn is_pre_norm(&self) -> bool {
        self.pre_norm || self.norm_scheme.as_deref() == Some("pre")
    }
}

impl JsonConfig for Config {
    fn check(&self) -> std::result::Result<(), String> {
        require_sizes(&[
            ("embsize", self.embsize),
            ("nheads", self.nheads),
            ("d_hid", self.d_hid),
            ("nlayers", self.nlayers),
            ("n_bins", self.n_bins),
            ("max_seq_len", self.max_seq_len),
        ])?;
        if !self.embsize.is_multiple_of(self.nheads) {
            return Err(format!("option `nheads` = {} does not divide `embsize` = {}", self.nheads, self.embsize));
        }
        if self.n_bins < 3 {
            return Err(format!("option `n_bins` = {} leaves no expression bins (need at least 3)", self.n_bins));
        }
        if self.input_style != "binned" {
            return Err(unsupported("input_style", format!("{:?}", self.input_style), "\"binned\""));
        }
        if self.input_emb_style != "continuous" {
            return Err(unsupported("input_emb_style", format!("{:?}", self.input_emb_style), "\"continuous\""));
        }
        if self.cell_emb_style != "cls" {
            return Err(unsupported("cell_emb_style", format!("{:?}", self.cell_emb_style), "\"cls\""));
        }
        // The detached variant only differs in training (no gradient into the gene embeddings).
        if !matches!(self.mvc_decoder_style.as_str(), "inner product" | "inner product, detach") {
            return Err(unsupported("mvc_decoder_style", format!("{:?}", self.mvc_decoder_style), "\"inner product\""));
        }
        // "flash" and PyTorch's own attention compute the same; "linear" is a different model.
        if self.fast_transformer_backend != "flash" {
            return Err(unsupported(
                "fast_transformer_backend",
                format!("{:?}", self.fast_transformer_backend),
                "\"flash\"",
            ));
        }
        if let Some(scheme) = &self.norm_scheme {
            if scheme != "pre" && scheme != "post" {
                return Err(unsupported("norm_scheme", format!("{scheme:?}"), "\"pre\", \"post\""));
            }
            if self.pre_norm && scheme == "post" {
                return Err("options `pre_norm` = true and `norm_scheme` = \"post\" contradict each other".into());
            }
        }
        if self.explicit_zero_prob {
            return Err(unsupported("explicit_zero_prob", true, "false"));
        }
        if self.use_batch_labels {
            return Err(unsupported("use_batch_labels", true, "false"));
        }
        if self.dsbn {
            return Err(unsupported("DSBN", true, "false"));
        }
        match &self.domain_spec_batchnorm {
            serde_json::Value::Null | serde_json::Value::Bool(false) => {}
            other => return Err(unsupported("domain_spec_batchnorm", other, "false")),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"{"embsize": 8, "nheads": 2, "d_hid": 16, "nlayers": 1}"#;

    fn with(key: &str, value: serde_json::Value) -> String {
        let mut v: serde_json::Value = serde_json::from_str(MINIMAL).unwrap();
        v[key] = value;
        v.to_string()
    }

    #[test]
    fn defaults_follow_scgpt() {
        let c = Config::from_json(MINIMAL).unwrap();
        assert_eq!((c.n_bins, c.pad_token.as_str(), c.pad_value, c.max_seq_len), (51, "<pad>", -2.0, 1200));
        assert!(!c.mvc);
        assert!(!c.is_pre_norm());
    }

    #[test]
    fn pre_norm_either_spelling() {
        assert!(Config::from_json(&with("pre_norm", true.into())).unwrap().is_pre_norm());
        assert!(Config::from_json(&with("norm_scheme", "pre".into())).unwrap().is_pre_norm());
        assert!(!Config::from_json(&with("norm_scheme", "post".into())).unwrap().is_pre_norm());
    }

    #[test]
    fn unsupported_options_are_named() {
        let cases = [
            ("input_emb_style", serde_json::json!("category"), "option `input_emb_style` = \"category\""),
            ("input_emb_style", serde_json::json!("scaling"), "option `input_emb_style` = \"scaling\""),
            ("input_style", serde_json::json!("log1p"), "option `input_style` = \"log1p\""),
            ("use_batch_labels", serde_json::json!(true), "option `use_batch_labels` = true"),
            ("DSBN", serde_json::json!(true), "option `DSBN` = true"),
            ("domain_spec_batchnorm", serde_json::json!("dsbn"), "option `domain_spec_batchnorm` = \"dsbn\""),
            ("explicit_zero_prob", serde_json::json!(true), "option `explicit_zero_prob` = true"),
            ("cell_emb_style", serde_json::json!("avg-pool"), "option `cell_emb_style` = \"avg-pool\""),
            ("fast_transformer_backend", serde_json::json!("linear"), "option `fast_transformer_backend`"),
            ("norm_scheme", serde_json::json!("sandwich"), "option `norm_scheme` = \"sandwich\""),
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
            Config::from_json(&with("nheads", 3.into())).unwrap_err(),
            "option `nheads` = 3 does not divide `embsize` = 8"
        );
        let err = Config::from_json(&with("embsize", "wide".into())).unwrap_err();
        assert!(err.starts_with("key `embsize`: invalid type: string \"wide\""), "{err}");
        let err = Config::from_json(r#"{"embsize": 8, "nheads": 2, "d_hid": 16}"#).unwrap_err();
        assert!(err.contains("missing field `nlayers`"), "{err}");
    }
}
