//! Loading errors name the file, tensor or option at fault. Each test writes a modified copy of
//! the fixture into a temporary folder.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::common::*;
use candle_core::{DType, Device, Tensor};
use ugrn_backbone_scgpt::testing::write_random_checkpoint;

/// Copies the fixture's args.json and vocab.json into `dir`, with `tensors` as model.safetensors.
fn write_checkpoint(dir: &Path, tensors: &HashMap<String, Tensor>) {
    for file in ["args.json", "vocab.json"] {
        std::fs::copy(fixture_dir().join(file), dir.join(file)).unwrap();
    }
    candle_core::safetensors::save(tensors, dir.join("model.safetensors")).unwrap();
}

/// A checkpoint folder of `tensors` in each weight format, with the `file` parameter that
/// reads it and the weight file's path.
fn write_both_formats(tensors: &HashMap<String, Tensor>) -> Vec<(tempfile::TempDir, &'static str, PathBuf)> {
    let safetensors = tempfile::tempdir().unwrap();
    write_checkpoint(safetensors.path(), tensors);
    let pt = tempfile::tempdir().unwrap();
    for file in ["args.json", "vocab.json"] {
        std::fs::copy(fixture_dir().join(file), pt.path().join(file)).unwrap();
    }
    write_pytorch_checkpoint(&pt.path().join("best_model.pt"), tensors);
    let (st_path, pt_path) = (safetensors.path().join("model.safetensors"), pt.path().join("best_model.pt"));
    vec![(safetensors, "safetensors", st_path), (pt, "pt", pt_path)]
}

/// Sets `key` of the args.json in `dir`.
fn set_arg(dir: &Path, key: &str, value: serde_json::Value) {
    let path = dir.join("args.json");
    let mut args: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    args[key] = value;
    std::fs::write(&path, args.to_string()).unwrap();
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
fn missing_tensor_of_a_pt_file_is_named() {
    let mut tensors = fixture_tensors();
    tensors.remove("value_encoder.norm.weight").unwrap();
    let (_dir, file, weights) = write_both_formats(&tensors).pop().unwrap();
    assert_eq!(
        load_error(weights.parent().unwrap(), file),
        format!("{}: missing tensor `value_encoder.norm.weight`", weights.display())
    );
}

#[test]
fn unknown_tensor_is_named() {
    // Batch-label tensors shape what the encoder computes, so an args.json that asks for none
    // cannot ignore them.
    let mut tensors = fixture_tensors();
    let d = fixture_size("embsize");
    tensors.insert("batch_encoder.embedding.weight".into(), Tensor::zeros((3, d), DType::F32, &Device::Cpu).unwrap());
    for (dir, file, weights) in write_both_formats(&tensors) {
        assert_eq!(
            load_error(dir.path(), file),
            format!("{}: 1 tensor is not used by the model: `batch_encoder.embedding.weight`", weights.display())
        );
    }
}

#[test]
fn integer_tensor_is_named_with_its_dtype() {
    for (dtype, name) in [(DType::I32, "I32"), (DType::I64, "I64")] {
        let mut tensors = fixture_tensors();
        let bias = tensors["decoder.fc.0.bias"].to_dtype(dtype).unwrap();
        tensors.insert("decoder.fc.0.bias".into(), bias);
        for (dir, file, weights) in write_both_formats(&tensors) {
            assert_eq!(
                load_error(dir.path(), file),
                format!(
                    "{}: tensor `decoder.fc.0.bias` has dtype {name}; weights must be one of F16, BF16, F32, F64",
                    weights.display()
                ),
                "{file}"
            );
        }
    }
}

/// The loader's message for unused tensors: the count, the first five names, sorted, and how
/// many more.
fn unused_tensors_message(mut unused: Vec<String>) -> String {
    unused.sort();
    assert!(unused.len() > 5, "a layer has more tensors than the message names");
    let named: Vec<String> = unused[..5].iter().map(|name| format!("`{name}`")).collect();
    format!("{} tensors are not used by the model: {} and {} more", unused.len(), named.join(", "), unused.len() - 5)
}

#[test]
fn fewer_layers_than_the_checkpoint_names_the_unused_layer() {
    let layers = fixture_size("nlayers");
    assert!(layers >= 2, "the fixture needs two layers to drop one");
    let last = layers - 1;
    let prefix = format!("transformer_encoder.layers.{last}.");
    let unused = fixture_tensors().into_keys().filter(|name| name.starts_with(&prefix)).collect();
    let expected = format!(
        "{}; option `nlayers` = {last} may be wrong: the file also has layer {last}",
        unused_tensors_message(unused)
    );
    // The safetensors file and the fixture's own best_model.pt, as PyTorch wrote it.
    let tmp = tempfile::tempdir().unwrap();
    write_checkpoint(tmp.path(), &fixture_tensors());
    std::fs::copy(fixture_dir().join("best_model.pt"), tmp.path().join("best_model.pt")).unwrap();
    set_arg(tmp.path(), "nlayers", last.into());
    for (file, weights) in [("safetensors", "model.safetensors"), ("pt", "best_model.pt")] {
        assert_eq!(
            load_error(tmp.path(), file),
            format!("{}: {expected}", tmp.path().join(weights).display()),
            "{file}"
        );
    }
}

#[test]
fn every_layer_beyond_nlayers_is_listed() {
    // A random checkpoint two layers deeper than the fixture, read with the fixture's nlayers.
    let layers = fixture_size("nlayers");
    let tmp = tempfile::tempdir().unwrap();
    let deeper = tmp.path().join("deeper-args.json");
    let mut args: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture_dir().join("args.json")).unwrap()).unwrap();
    args["nlayers"] = (layers + 2).into();
    std::fs::write(&deeper, args.to_string()).unwrap();
    let dir = tmp.path().join("checkpoint");
    write_random_checkpoint(&deeper, &fixture_dir().join("vocab.json"), &dir, 1).unwrap();
    set_arg(&dir, "nlayers", layers.into());
    let weights = dir.join("model.safetensors");
    let extra =
        [format!("transformer_encoder.layers.{layers}."), format!("transformer_encoder.layers.{}.", layers + 1)];
    let unused = candle_core::safetensors::load(&weights, &Device::Cpu)
        .unwrap()
        .into_keys()
        .filter(|name| extra.iter().any(|prefix| name.starts_with(prefix)))
        .collect();
    assert_eq!(
        load_error(&dir, "auto"),
        format!(
            "{}: {}; option `nlayers` = {layers} may be wrong: the file also has layers {layers}, {}",
            weights.display(),
            unused_tensors_message(unused),
            layers + 1
        )
    );
}

#[test]
fn released_heads_the_readout_does_not_use_still_load() {
    let d = fixture_size("embsize");
    let zeros = |shape: &[usize]| Tensor::zeros(shape, DType::F32, &Device::Cpu).unwrap();
    let mut tensors = fixture_tensors();
    // scGPT_human's flag embedding of generative pretraining, and a fine-tuned checkpoint's
    // cell-type and adversarial batch heads (3 classes, 2 batches).
    for (name, shape) in [
        ("flag_encoder.weight", vec![2, d]),
        ("cls_decoder._decoder.0.weight", vec![d, d]),
        ("cls_decoder._decoder.0.bias", vec![d]),
        ("cls_decoder.out_layer.weight", vec![3, d]),
        ("cls_decoder.out_layer.bias", vec![3]),
        ("grad_reverse_discriminator._decoder.0.weight", vec![d, d]),
        ("grad_reverse_discriminator.out_layer.weight", vec![2, d]),
    ] {
        tensors.insert(name.into(), zeros(&shape));
    }
    let original = load_oracle(&fixture_dir(), "auto", "f32").unwrap();
    let ids = Tensor::from_vec(vec![fixture_vocab()["<cls>"], 0, 1, 2], (1, 4), &Device::Cpu).unwrap();
    let values = Tensor::from_vec(vec![0f32, 1.0, 2.0, 0.0], (1, 4), &Device::Cpu).unwrap();
    let expected = to_f64(&original.model().readout(&ids, &values, None).unwrap());
    for (dir, file, _) in write_both_formats(&tensors) {
        let oracle = load_oracle(dir.path(), file, "f32").unwrap();
        assert_eq!(to_f64(&oracle.model().readout(&ids, &values, None).unwrap()), expected, "{file}");
        // With MVC off the MVC decoder's tensors go unread, which the readout never needed.
        set_arg(dir.path(), "MVC", false.into());
        let without_mvc = load_oracle(dir.path(), file, "f32").unwrap();
        assert!(without_mvc.model().mvc_decoder.is_none());
        assert_eq!(to_f64(&without_mvc.model().readout(&ids, &values, None).unwrap()), expected, "{file}");
    }
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
