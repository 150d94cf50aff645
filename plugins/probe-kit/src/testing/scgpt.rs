//! The scGPT reference fixture (`scgpt-tiny`, whose `cases.json` scGPT's own code computed)
//! behind the real backbone, shared by the probe suites.
use std::collections::HashMap;
use std::path::PathBuf;

use serde_json::Value;
use ugrn_backbone_scgpt::ScGpt;
use ugrn_sdk::{Backbone, GeneSymbol, LoadRequest, ModelOracle, Params, TokenId};

pub const FIXTURE_ENV: &str = "UGRN_SCGPT_FIXTURE";

/// `UGRN_SCGPT_FIXTURE`, else the shared `scgpt-tiny` beside the repository.
pub fn fixture_dir() -> PathBuf {
    let dir = std::env::var_os(FIXTURE_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/fixtures/scgpt-tiny")));
    assert!(dir.is_dir(), "scGPT fixture folder {} not found: set {FIXTURE_ENV} to a fixture folder", dir.display());
    dir
}

fn json(file: &str) -> Value {
    let path = fixture_dir().join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn cases() -> Value {
    json("cases.json")
}

/// The fixture's checkpoint loaded by the backbone plugin with its default parameters, on the CPU in f32.
pub fn oracle() -> Box<dyn ModelOracle> {
    let request = LoadRequest {
        checkpoint: fixture_dir(),
        device: "cpu".into(),
        dtype: "f32".into(),
        params: Params::defaults(&ScGpt.describe().params),
    };
    ScGpt.load(&request).unwrap_or_else(|e| panic!("loading {}: {e}", fixture_dir().display()))
}

/// The vocabulary names of `ids`.
pub fn gene_names(ids: &[TokenId]) -> Vec<GeneSymbol> {
    let vocab = json("vocab.json");
    let names: HashMap<u64, &str> = vocab
        .as_object()
        .expect("vocab.json is an object")
        .iter()
        .map(|(k, v)| (v.as_u64().unwrap(), k.as_str()))
        .collect();
    ids.iter().map(|&id| names[&(id as u64)].to_string()).collect()
}

/// Every number of a (nested) JSON array, flattened.
pub fn numbers(v: &Value) -> Vec<f64> {
    match v {
        Value::Array(items) => items.iter().flat_map(numbers).collect(),
        other => vec![other.as_f64().unwrap_or_else(|| panic!("not a number: {other}"))],
    }
}

pub fn ids(v: &Value) -> Vec<TokenId> {
    numbers(v).into_iter().map(|x| x as TokenId).collect()
}

/// `cases.json`'s tolerance: `(abs, rel)`.
pub fn tolerance(cases: &Value) -> (f64, f64) {
    (cases["tolerance"]["abs"].as_f64().unwrap(), cases["tolerance"]["rel"].as_f64().unwrap())
}

/// `|got − expected| ≤ abs + rel·|expected|`.
#[track_caller]
pub fn assert_within(what: &str, got: f32, expected: f64, (abs, rel): (f64, f64)) {
    let limit = abs + rel * expected.abs();
    assert!((got as f64 - expected).abs() <= limit, "{what}: got {got}, expected {expected} (± {limit})");
}
