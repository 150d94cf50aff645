//! Helpers shared by this crate's integration tests.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use ugrn_backbone_geneformer::{BertForMaskedLM, Config, Geneformer, GeneformerOracle, Weights};
pub use ugrn_candle_shared::testing::{
    Closeness, Rng, assert_close, floats, ints, shape, to_f64, write_pytorch_checkpoint,
};
use ugrn_sdk::{Backbone, LoadRequest, ParamValue, Params};

pub const FIXTURE_ENV: &str = "UGRN_GENEFORMER_FIXTURE";

/// The fixture folder: `UGRN_GENEFORMER_FIXTURE`, else the shared `geneformer-tiny`.
pub fn fixture_dir() -> PathBuf {
    let path = std::env::var_os(FIXTURE_ENV).map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/fixtures/geneformer-tiny"))
    });
    assert!(
        path.is_dir(),
        "Geneformer fixture folder {} not found: set {FIXTURE_ENV} to a fixture folder",
        path.display()
    );
    path
}

/// Geneformer V1's real dictionaries (`UGRN_GENEFORMER_DICTIONARIES` overrides).
pub fn real_dictionaries_dir() -> PathBuf {
    let path = std::env::var_os("UGRN_GENEFORMER_DICTIONARIES").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/models/geneformer-v1-tokenizer-data"))
    });
    assert!(path.is_dir(), "{} not found: set UGRN_GENEFORMER_DICTIONARIES", path.display());
    path
}

pub fn cases() -> serde_json::Value {
    fixture_json("cases.json")
}

/// The fixture's per-element tolerance (`cases.json`).
pub fn fixture_closeness() -> Closeness {
    Closeness::of_cases(&cases())
}

pub fn fixture_config() -> Config {
    Config::from_file(&fixture_dir().join("config.json")).unwrap()
}

/// A JSON file of the fixture, parsed as plain JSON (not through the crate's parsers, so the
/// tests' expectations stay independent of what they check).
pub fn fixture_json(file: &str) -> serde_json::Value {
    let path = fixture_dir().join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The fixture's model sizes, read from its raw `config.json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sizes {
    pub vocab: usize,
    pub hidden: usize,
    pub heads: usize,
    /// `hidden / heads`.
    pub head_dim: usize,
    pub layers: usize,
    pub intermediate: usize,
    /// `max_position_embeddings`: the most genes a cell may hold.
    pub positions: usize,
}

pub fn fixture_sizes() -> Sizes {
    let config = fixture_json("config.json");
    let size = |key: &str| {
        config[key].as_u64().unwrap_or_else(|| panic!("fixture config.json: `{key}` is not a size: {}", config[key]))
            as usize
    };
    let (hidden, heads) = (size("hidden_size"), size("num_attention_heads"));
    Sizes {
        vocab: size("vocab_size"),
        hidden,
        heads,
        head_dim: hidden / heads,
        layers: size("num_hidden_layers"),
        intermediate: size("intermediate_size"),
        positions: size("max_position_embeddings"),
    }
}

/// A gene of the fixture: an entry of both its token and its median dictionary.
#[derive(Debug, Clone, PartialEq)]
pub struct FixtureGene {
    pub ensembl_id: String,
    pub token: u32,
    pub median: f64,
}

/// The fixture's token dictionary as plain JSON: every entry, special tokens included.
pub fn fixture_token_dictionary() -> BTreeMap<String, u32> {
    let json = fixture_json("token_dictionary.json");
    let entries = json.as_object().expect("fixture token_dictionary.json: an object");
    entries.iter().map(|(k, v)| (k.clone(), v.as_u64().expect("a token id") as u32)).collect()
}

/// The fixture's genes (tokens with a median), by token id (Geneformer's files list them in
/// that order).
pub fn fixture_genes() -> Vec<FixtureGene> {
    let tokens = fixture_token_dictionary();
    let medians = fixture_json("gene_median_dictionary.json");
    let mut genes: Vec<FixtureGene> = medians
        .as_object()
        .expect("fixture gene_median_dictionary.json: an object")
        .iter()
        .map(|(id, m)| FixtureGene {
            ensembl_id: id.clone(),
            token: *tokens.get(id).unwrap_or_else(|| panic!("fixture gene {id} has a median but no token")),
            median: m.as_f64().expect("a median"),
        })
        .collect();
    genes.sort_by_key(|g| g.token);
    genes
}

/// The tokens of the fixture's genes at these indices (by token id, wrapping around).
pub fn gene_tokens(indices: &[usize]) -> Vec<u32> {
    let genes = fixture_genes();
    indices.iter().map(|&i| genes[i % genes.len()].token).collect()
}

/// Load parameters: the plugin's defaults with `overrides`.
pub fn params(overrides: &[(&str, &str)]) -> Params {
    let given: BTreeMap<String, ParamValue> =
        overrides.iter().map(|(k, v)| (k.to_string(), ParamValue::Str(v.to_string()))).collect();
    Params::resolve(&Geneformer.describe().params, given).unwrap()
}

pub fn load_oracle(dir: &Path, overrides: &[(&str, &str)], dtype: &str) -> ugrn_sdk::Result<GeneformerOracle> {
    load_oracle_on(dir, overrides, "cpu", dtype)
}

pub fn load_oracle_on(
    dir: &Path,
    overrides: &[(&str, &str)],
    device: &str,
    dtype: &str,
) -> ugrn_sdk::Result<GeneformerOracle> {
    Geneformer.load_oracle(&LoadRequest {
        checkpoint: dir.to_path_buf(),
        device: device.into(),
        dtype: dtype.into(),
        params: params(overrides),
    })
}

/// The fixture's tensors from its safetensors file.
pub fn fixture_tensors() -> HashMap<String, Tensor> {
    candle_core::safetensors::load(fixture_dir().join("model.safetensors"), &Device::Cpu).unwrap()
}

/// A model over `tensors` (converted to `dtype`).
pub fn model_from_tensors(tensors: HashMap<String, Tensor>, config: Config, dtype: DType) -> BertForMaskedLM {
    let vb = VarBuilder::from_tensors(tensors, dtype, &Device::Cpu);
    BertForMaskedLM::load(&Weights::new(vb, "test tensors"), config).unwrap()
}

/// The fixture model in f64.
pub fn fixture_model_f64() -> BertForMaskedLM {
    model_from_tensors(fixture_tensors(), fixture_config(), DType::F64)
}

/// Copies the fixture's config and dictionaries into `dir`, with `tensors` as model.safetensors.
pub fn write_checkpoint(dir: &Path, tensors: &HashMap<String, Tensor>) {
    for file in ["config.json", "token_dictionary.json", "gene_median_dictionary.json"] {
        std::fs::copy(fixture_dir().join(file), dir.join(file)).unwrap();
    }
    candle_core::safetensors::save(tensors, dir.join("model.safetensors")).unwrap();
}

/// A BERT config of the given size and activation (tied decoder).
pub fn small_config(hidden_act: &str) -> Config {
    Config::from_json(&format!(
        r#"{{"vocab_size": 30, "hidden_size": 16, "num_hidden_layers": 3, "num_attention_heads": 4,
            "intermediate_size": 24, "max_position_embeddings": 20, "hidden_act": "{hidden_act}",
            "layer_norm_eps": 1e-12}}"#
    ))
    .unwrap()
}

/// Random weights for `config`, every tensor `BertForMaskedLM` reads, the decoder tied.
pub fn random_tensors(config: &Config, rng: &mut Rng) -> HashMap<String, Tensor> {
    let (d, f, v) = (config.hidden_size, config.intermediate_size, config.vocab_size);
    let norm = |p: &str| [(format!("{p}.weight"), vec![d]), (format!("{p}.bias"), vec![d])];
    let dense = |p: &str, i: usize, o: usize| [(format!("{p}.weight"), vec![o, i]), (format!("{p}.bias"), vec![o])];
    let mut shapes: Vec<(String, Vec<usize>)> = vec![
        ("bert.embeddings.word_embeddings.weight".into(), vec![v, d]),
        ("bert.embeddings.position_embeddings.weight".into(), vec![config.max_position_embeddings, d]),
        ("bert.embeddings.token_type_embeddings.weight".into(), vec![config.type_vocab_size, d]),
        ("cls.predictions.bias".into(), vec![v]),
    ];
    shapes.extend(norm("bert.embeddings.LayerNorm"));
    shapes.extend(dense("cls.predictions.transform.dense", d, d));
    shapes.extend(norm("cls.predictions.transform.LayerNorm"));
    for i in 0..config.num_hidden_layers {
        let p = format!("bert.encoder.layer.{i}");
        for qkv in ["query", "key", "value"] {
            shapes.extend(dense(&format!("{p}.attention.self.{qkv}"), d, d));
        }
        shapes.extend(dense(&format!("{p}.attention.output.dense"), d, d));
        shapes.extend(norm(&format!("{p}.attention.output.LayerNorm")));
        shapes.extend(dense(&format!("{p}.intermediate.dense"), d, f));
        shapes.extend(dense(&format!("{p}.output.dense"), f, d));
        shapes.extend(norm(&format!("{p}.output.LayerNorm")));
    }
    shapes
        .into_iter()
        .map(|(name, shape)| {
            let fan_in = if shape.len() == 2 { shape[1] } else { 1 };
            let is_norm_weight = name.ends_with("LayerNorm.weight");
            let n: usize = shape.iter().product();
            let data: Vec<f64> = (0..n)
                .map(|_| {
                    let u = 2.0 * rng.uniform() - 1.0;
                    if is_norm_weight { 1.0 + 0.3 * u } else { u * 1.5 / (fan_in as f64).sqrt() }
                })
                .collect();
            (name, Tensor::from_vec(data, shape, &Device::Cpu).unwrap())
        })
        .collect()
}
