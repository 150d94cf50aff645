//! Helpers shared by this crate's integration tests.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use ugrn_backbone_scgpt::{Config, ScGpt, ScGptModel, ScGptOracle, Vocab, Weights};
pub use ugrn_candle_shared::testing::{
    Closeness, Rng, assert_close, floats, ints, shape, to_f64, tolerance, write_pytorch_checkpoint,
};
use ugrn_sdk::{LoadRequest, ParamValue, Params};

pub const FIXTURE_ENV: &str = "UGRN_SCGPT_FIXTURE";

/// The fixture folder: `UGRN_SCGPT_FIXTURE`, else the shared `scgpt-tiny`.
pub fn fixture_dir() -> PathBuf {
    let path = std::env::var_os(FIXTURE_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/fixtures/scgpt-tiny")));
    assert!(path.is_dir(), "scGPT fixture folder {} not found: set {FIXTURE_ENV} to a fixture folder", path.display());
    path
}

/// A JSON file of the fixture, parsed into `T`; errors name the file.
fn fixture_file<T: serde::de::DeserializeOwned>(name: &str) -> T {
    let path = fixture_dir().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn cases() -> serde_json::Value {
    fixture_file("cases.json")
}

/// A size from the fixture's `args.json`, read as plain JSON, so tests take sizes from the
/// fixture they run on.
pub fn fixture_size(key: &str) -> usize {
    let args: serde_json::Value = fixture_file("args.json");
    args[key].as_u64().unwrap_or_else(|| panic!("args.json: `{key}` is not a count")) as usize
}

/// The fixture's `vocab.json`: symbol → token id, sorted by symbol.
pub fn fixture_vocab() -> BTreeMap<String, u32> {
    fixture_file("vocab.json")
}

/// Tokens in the fixture's `vocab.json`.
pub fn fixture_vocab_len() -> usize {
    fixture_vocab().len()
}

/// The fixture's per-element tolerance (`cases.json`).
pub fn fixture_closeness() -> Closeness {
    Closeness::of_cases(&cases())
}

pub fn load_oracle(dir: &Path, file: &str, dtype: &str) -> ugrn_sdk::Result<ScGptOracle> {
    load_oracle_on(dir, file, "cpu", dtype)
}

pub fn load_oracle_on(dir: &Path, file: &str, device: &str, dtype: &str) -> ugrn_sdk::Result<ScGptOracle> {
    let params = Params::resolve(
        &ugrn_sdk::Backbone::describe(&ScGpt).params,
        BTreeMap::from([("file".to_string(), ParamValue::Str(file.into()))]),
    )?;
    ScGpt.load_oracle(&LoadRequest {
        checkpoint: dir.to_path_buf(),
        device: device.into(),
        dtype: dtype.into(),
        params,
    })
}

/// The fixture's tensors from its safetensors file.
pub fn fixture_tensors() -> HashMap<String, Tensor> {
    candle_core::safetensors::load(fixture_dir().join("model.safetensors"), &Device::Cpu).unwrap()
}

/// A model over `tensors` (converted to `dtype`).
pub fn model_from_tensors(tensors: HashMap<String, Tensor>, config: Config, vocab: Vocab, dtype: DType) -> ScGptModel {
    let vb = VarBuilder::from_tensors(tensors, dtype, &Device::Cpu);
    ScGptModel::new(&Weights::new(vb, "test tensors"), config, vocab).unwrap()
}

/// Random weights for `config` over a vocabulary of `vocab_len` tokens, with PyTorch's
/// `in_proj_*` attention names when `pytorch_names`.
pub fn random_tensors(
    config: &Config,
    vocab_len: usize,
    pytorch_names: bool,
    rng: &mut Rng,
) -> HashMap<String, Tensor> {
    let d = config.embsize;
    let mut shapes: Vec<(String, Vec<usize>)> = vec![
        ("encoder.embedding.weight".into(), vec![vocab_len, d]),
        ("encoder.enc_norm.weight".into(), vec![d]),
        ("encoder.enc_norm.bias".into(), vec![d]),
        ("value_encoder.linear1.weight".into(), vec![d, 1]),
        ("value_encoder.linear1.bias".into(), vec![d]),
        ("value_encoder.linear2.weight".into(), vec![d, d]),
        ("value_encoder.linear2.bias".into(), vec![d]),
        ("value_encoder.norm.weight".into(), vec![d]),
        ("value_encoder.norm.bias".into(), vec![d]),
        ("decoder.fc.0.weight".into(), vec![d, d]),
        ("decoder.fc.0.bias".into(), vec![d]),
        ("decoder.fc.2.weight".into(), vec![d, d]),
        ("decoder.fc.2.bias".into(), vec![d]),
        ("decoder.fc.4.weight".into(), vec![1, d]),
        ("decoder.fc.4.bias".into(), vec![1]),
        ("mvc_decoder.gene2query.weight".into(), vec![d, d]),
        ("mvc_decoder.gene2query.bias".into(), vec![d]),
        ("mvc_decoder.W.weight".into(), vec![d, d]),
    ];
    for i in 0..config.nlayers {
        let p = format!("transformer_encoder.layers.{i}");
        let (qkv_w, qkv_b) = if pytorch_names {
            ("self_attn.in_proj_weight", "self_attn.in_proj_bias")
        } else {
            ("self_attn.Wqkv.weight", "self_attn.Wqkv.bias")
        };
        shapes.extend([
            (format!("{p}.{qkv_w}"), vec![3 * d, d]),
            (format!("{p}.{qkv_b}"), vec![3 * d]),
            (format!("{p}.self_attn.out_proj.weight"), vec![d, d]),
            (format!("{p}.self_attn.out_proj.bias"), vec![d]),
            (format!("{p}.linear1.weight"), vec![config.d_hid, d]),
            (format!("{p}.linear1.bias"), vec![config.d_hid]),
            (format!("{p}.linear2.weight"), vec![d, config.d_hid]),
            (format!("{p}.linear2.bias"), vec![d]),
            (format!("{p}.norm1.weight"), vec![d]),
            (format!("{p}.norm1.bias"), vec![d]),
            (format!("{p}.norm2.weight"), vec![d]),
            (format!("{p}.norm2.bias"), vec![d]),
        ]);
    }
    shapes
        .into_iter()
        .map(|(name, shape)| {
            let fan_in = if shape.len() == 2 { shape[1] } else { 1 };
            let is_norm_weight =
                name.ends_with("norm.weight") || name.contains("norm1.weight") || name.contains("norm2.weight");
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

/// A vocabulary of `genes` genes `G0..` followed by `<pad>`, `<cls>`, `<eoc>`.
pub fn small_vocab(genes: usize) -> Vocab {
    let mut ids: HashMap<String, u32> = (0..genes).map(|i| (format!("G{i}"), i as u32)).collect();
    for (k, s) in ["<pad>", "<cls>", "<eoc>"].iter().enumerate() {
        ids.insert(s.to_string(), (genes + k) as u32);
    }
    Vocab::new(ids).unwrap()
}
