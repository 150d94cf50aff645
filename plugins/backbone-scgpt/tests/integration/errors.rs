//! Loading errors name the file, tensor or option at fault. Each test writes a modified copy of
//! the fixture into a temporary folder.

use std::collections::HashMap;
use std::path::Path;

use crate::common::*;
use candle_core::{DType, Device, Tensor};

/// Copies the fixture's args.json and vocab.json into `dir`, with `tensors` as model.safetensors.
fn write_checkpoint(dir: &Path, tensors: &HashMap<String, Tensor>) {
    for file in ["args.json", "vocab.json"] {
        std::fs::copy(fixture_dir().join(file), dir.join(file)).unwrap();
    }
    candle_core::safetensors::save(tensors, dir.join("model.safetensors")).unwrap();
}

fn load_error(dir: &Path, file: &str) -> String {
    match load_oracle(dir, file, "f32") {
        Ok(_) => panic!("loading {} (file = {file}) should fail", dir.display()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn missing_tensor_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let mut tensors = fixture_tensors();
    tensors.remove("transformer_encoder.layers.1.norm2.bias").unwrap();
    write_checkpoint(tmp.path(), &tensors);
    let weights = tmp.path().join("model.safetensors");
    assert_eq!(
        load_error(tmp.path(), "auto"),
        format!("{}: missing tensor `transformer_encoder.layers.1.norm2.bias`", weights.display())
    );
}

#[test]
fn missing_attention_projection_names_the_flash_tensor() {
    let tmp = tempfile::tempdir().unwrap();
    let mut tensors = fixture_tensors();
    tensors.remove("transformer_encoder.layers.0.self_attn.Wqkv.weight").unwrap();
    write_checkpoint(tmp.path(), &tensors);
    let err = load_error(tmp.path(), "safetensors");
    assert!(err.ends_with("missing tensor `transformer_encoder.layers.0.self_attn.Wqkv.weight`"), "{err}");
}

#[test]
fn pytorch_attention_names_load_the_same_model() {
    let tmp = tempfile::tempdir().unwrap();
    let tensors: HashMap<String, Tensor> = fixture_tensors()
        .into_iter()
        .map(|(k, v)| {
            (
                k.replace("self_attn.Wqkv.weight", "self_attn.in_proj_weight")
                    .replace("self_attn.Wqkv.bias", "self_attn.in_proj_bias"),
                v,
            )
        })
        .collect();
    assert!(tensors.contains_key("transformer_encoder.layers.1.self_attn.in_proj_bias"));
    write_checkpoint(tmp.path(), &tensors);
    let renamed = load_oracle(tmp.path(), "auto", "f32").unwrap();
    let original = load_oracle(&fixture_dir(), "auto", "f32").unwrap();
    let ids = Tensor::from_vec(vec![49u32, 3, 7, 11], (1, 4), &Device::Cpu).unwrap();
    let values = Tensor::from_vec(vec![0f32, 5.0, 1.0, 30.0], (1, 4), &Device::Cpu).unwrap();
    let a = renamed.model().readout(&ids, &values, None).unwrap();
    let b = original.model().readout(&ids, &values, None).unwrap();
    assert_eq!(to_f64(&a), to_f64(&b));
}

#[test]
fn wrong_shape_is_named_with_both_shapes() {
    let tmp = tempfile::tempdir().unwrap();
    let mut tensors = fixture_tensors();
    let d = fixture_size("embsize");
    tensors.insert("decoder.fc.0.weight".into(), Tensor::zeros((d, d / 2), DType::F32, &Device::Cpu).unwrap());
    write_checkpoint(tmp.path(), &tensors);
    assert_eq!(
        load_error(tmp.path(), "auto"),
        format!(
            "{}: tensor `decoder.fc.0.weight` has shape [{d}, {}], expected [{d}, {d}]",
            tmp.path().join("model.safetensors").display(),
            d / 2
        )
    );
}

#[test]
fn vocabulary_must_match_the_embedding() {
    let tmp = tempfile::tempdir().unwrap();
    let mut tensors = fixture_tensors();
    let (v, d) = (fixture_vocab_len(), fixture_size("embsize"));
    tensors.insert("encoder.embedding.weight".into(), Tensor::zeros((v - 1, d), DType::F32, &Device::Cpu).unwrap());
    write_checkpoint(tmp.path(), &tensors);
    let err = load_error(tmp.path(), "auto");
    let expected = format!("tensor `encoder.embedding.weight` has shape [{}, {d}], expected [{v}, {d}]", v - 1);
    assert!(err.ends_with(&expected), "{err}");
}

#[test]
fn unsupported_options_are_named() {
    let args: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture_dir().join("args.json")).unwrap()).unwrap();
    let cases = [
        ("input_emb_style", serde_json::json!("category")),
        ("input_emb_style", serde_json::json!("scaling")),
        ("input_style", serde_json::json!("normed_raw")),
        ("use_batch_labels", serde_json::json!(true)),
        ("domain_spec_batchnorm", serde_json::json!(true)),
        ("DSBN", serde_json::json!(true)),
        ("explicit_zero_prob", serde_json::json!(true)),
    ];
    for (key, value) in cases {
        let tmp = tempfile::tempdir().unwrap();
        write_checkpoint(tmp.path(), &fixture_tensors());
        let mut modified = args.clone();
        modified[key] = value.clone();
        let path = tmp.path().join("args.json");
        std::fs::write(&path, modified.to_string()).unwrap();
        let err = load_error(tmp.path(), "auto");
        let expected = format!("{}: option `{key}` = {value} is not supported", path.display());
        assert!(err.starts_with(&expected), "{key}: {err}");
    }
}

#[test]
fn weight_file_choice() {
    let tmp = tempfile::tempdir().unwrap();
    for file in ["args.json", "vocab.json"] {
        std::fs::copy(fixture_dir().join(file), tmp.path().join(file)).unwrap();
    }
    assert_eq!(
        load_error(tmp.path(), "auto"),
        format!("{}: no weights: neither model.safetensors nor best_model.pt is present", tmp.path().display())
    );
    std::fs::copy(fixture_dir().join("best_model.pt"), tmp.path().join("best_model.pt")).unwrap();
    assert_eq!(
        load_error(tmp.path(), "safetensors"),
        format!("{}: weight file not found (file = safetensors)", tmp.path().join("model.safetensors").display())
    );
    // `auto` falls back to best_model.pt.
    let oracle = load_oracle(tmp.path(), "auto", "f32").unwrap();
    assert_eq!(oracle.model().config.embsize, fixture_size("embsize"));
}

#[test]
fn bad_vocabulary_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    write_checkpoint(tmp.path(), &fixture_tensors());
    let path = tmp.path().join("vocab.json");
    std::fs::write(&path, r#"{"GENE000": 0, "<pad>": 1, "<cls>": 5}"#).unwrap();
    assert_eq!(load_error(tmp.path(), "auto"), format!("{}: token id 5 of \"<cls>\" is outside 0..3", path.display()));
}

#[test]
fn device_and_dtype_errors() {
    let dir = fixture_dir();
    let request = |device: &str, dtype: &str| ugrn_sdk::LoadRequest {
        checkpoint: dir.clone(),
        device: device.into(),
        dtype: dtype.into(),
        params: ugrn_sdk::Params::defaults(&ugrn_sdk::Backbone::describe(&ugrn_backbone_scgpt::ScGpt).params),
    };
    let err = |device: &str, dtype: &str| match ugrn_backbone_scgpt::ScGpt.load_oracle(&request(device, dtype)) {
        Ok(_) => panic!("{device} {dtype} should fail"),
        Err(e) => e.to_string(),
    };
    if !cfg!(feature = "cuda") {
        assert_eq!(
            err("cuda:0", "f32"),
            "parameter `device`: \"cuda:0\" needs backbone-scgpt built with the `cuda` feature (this build is CPU-only)"
        );
    }
    assert_eq!(err("tpu", "f32"), "parameter `device`: \"tpu\" is not `cpu` or `cuda:N`");
    assert_eq!(err("cpu", "bf16"), "parameter `dtype`: bf16 runs on CUDA devices only; use f32 or f64 on the CPU");
    assert_eq!(err("cpu", "f8"), "parameter `dtype`: \"f8\" is not one of f32, f64, bf16, f16");
}
