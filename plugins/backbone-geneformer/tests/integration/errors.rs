//! Loading errors name the file, tensor or option at fault, and bad oracle input is refused
//! with a message saying what is wrong. Each loading test writes a modified copy of the fixture
//! into a temporary folder.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::common::*;
use candle_core::{DType, Device, Tensor};
use ugrn_sdk::{CellBatch, Matrix, ModelOracle};

fn load_error(dir: &Path, overrides: &[(&str, &str)]) -> String {
    match load_oracle(dir, overrides, "f32") {
        Ok(_) => panic!("loading {} ({overrides:?}) should fail", dir.display()),
        Err(e) => e.to_string(),
    }
}

fn with_config(dir: &Path, key: &str, value: serde_json::Value) -> std::path::PathBuf {
    let path = dir.join("config.json");
    let mut config: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    config[key] = value;
    std::fs::write(&path, config.to_string()).unwrap();
    path
}

#[test]
fn missing_tensor_is_named() {
    let last_layer = fixture_sizes().layers - 1;
    for name in [
        format!("bert.encoder.layer.{last_layer}.output.LayerNorm.bias"),
        "cls.predictions.bias".into(),
        "bert.embeddings.token_type_embeddings.weight".into(),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let mut tensors = fixture_tensors();
        tensors.remove(&name).unwrap();
        write_checkpoint(tmp.path(), &tensors);
        let weights = tmp.path().join("model.safetensors");
        assert_eq!(load_error(tmp.path(), &[]), format!("{}: missing tensor `{name}`", weights.display()));
    }
}

/// A checkpoint folder of `tensors` in each weight format, with the `file` parameter that
/// reads it and the weight file's path.
fn write_both_formats(tensors: &HashMap<String, Tensor>) -> Vec<(tempfile::TempDir, &'static str, PathBuf)> {
    let safetensors = tempfile::tempdir().unwrap();
    write_checkpoint(safetensors.path(), tensors);
    let bin = tempfile::tempdir().unwrap();
    write_checkpoint(bin.path(), tensors);
    std::fs::remove_file(bin.path().join("model.safetensors")).unwrap();
    write_pytorch_checkpoint(&bin.path().join("pytorch_model.bin"), tensors);
    let (st_path, bin_path) = (safetensors.path().join("model.safetensors"), bin.path().join("pytorch_model.bin"));
    vec![(safetensors, "safetensors", st_path), (bin, "bin", bin_path)]
}

#[test]
fn unknown_tensor_is_named() {
    // A sequence-classification head: not part of the masked-LM model.
    let Sizes { hidden, .. } = fixture_sizes();
    let mut tensors = fixture_tensors();
    tensors.insert("classifier.weight".into(), Tensor::zeros((2, hidden), DType::F32, &Device::Cpu).unwrap());
    for (dir, file, weights) in write_both_formats(&tensors) {
        assert_eq!(
            load_error(dir.path(), &[("file", file)]),
            format!("{}: 1 tensor is not used by the model: `classifier.weight`", weights.display())
        );
    }
}

#[test]
fn integer_tensor_is_named_with_its_dtype() {
    for (dtype, name) in [(DType::I32, "I32"), (DType::I64, "I64")] {
        let mut tensors = fixture_tensors();
        let bias = tensors["cls.predictions.bias"].to_dtype(dtype).unwrap();
        tensors.insert("cls.predictions.bias".into(), bias);
        for (dir, file, weights) in write_both_formats(&tensors) {
            assert_eq!(
                load_error(dir.path(), &[("file", file)]),
                format!(
                    "{}: tensor `cls.predictions.bias` has dtype {name}; weights must be one of F16, BF16, F32, F64",
                    weights.display()
                ),
                "{file}"
            );
        }
    }
}

#[test]
fn fewer_layers_than_the_checkpoint_names_the_unused_layer() {
    let layers = fixture_sizes().layers;
    assert!(layers >= 2, "the fixture needs two layers to drop one");
    let last = layers - 1;
    let prefix = format!("bert.encoder.layer.{last}.");
    let mut unused: Vec<String> = fixture_tensors().into_keys().filter(|name| name.starts_with(&prefix)).collect();
    unused.sort();
    assert!(unused.len() > 5, "a layer has more tensors than the message names");
    let named: Vec<String> = unused[..5].iter().map(|name| format!("`{name}`")).collect();
    let tmp = tempfile::tempdir().unwrap();
    write_checkpoint(tmp.path(), &fixture_tensors());
    with_config(tmp.path(), "num_hidden_layers", last.into());
    assert_eq!(
        load_error(tmp.path(), &[]),
        format!(
            "{}: {} tensors are not used by the model: {} and {} more; config `num_hidden_layers` = {last} may be wrong: the file also has layer {last}",
            tmp.path().join("model.safetensors").display(),
            unused.len(),
            named.join(", "),
            unused.len() - 5
        )
    );
}

#[test]
fn released_tensors_the_readout_does_not_use_still_load() {
    let Sizes { hidden, positions, .. } = fixture_sizes();
    let mut tensors = fixture_tensors();
    // As BERT pretraining and older transformers save them: the int64 `position_ids` buffer,
    // the pooler and next-sentence head, and second copies of the tied decoder weight and bias.
    let position_ids = Tensor::arange(0i64, positions as i64, &Device::Cpu).unwrap().unsqueeze(0).unwrap();
    tensors.insert("bert.embeddings.position_ids".into(), position_ids);
    let zeros = |shape: &[usize]| Tensor::zeros(shape, DType::F32, &Device::Cpu).unwrap();
    tensors.insert("bert.pooler.dense.weight".into(), zeros(&[hidden, hidden]));
    tensors.insert("bert.pooler.dense.bias".into(), zeros(&[hidden]));
    tensors.insert("cls.seq_relationship.weight".into(), zeros(&[2, hidden]));
    tensors.insert("cls.seq_relationship.bias".into(), zeros(&[2]));
    tensors.insert("cls.predictions.decoder.weight".into(), tensors["bert.embeddings.word_embeddings.weight"].clone());
    tensors.insert("cls.predictions.decoder.bias".into(), tensors["cls.predictions.bias"].clone());
    let ids = Tensor::from_vec(gene_tokens(&[3, 7, 31, 0]), (1, 4), &Device::Cpu).unwrap();
    let logits = |oracle: &ugrn_backbone_geneformer::GeneformerOracle| {
        to_f64(&oracle.model().forward(&ids, None).unwrap().logits)
    };
    let expected = logits(&load_oracle(&fixture_dir(), &[], "f32").unwrap());
    for (dir, file, _) in write_both_formats(&tensors) {
        assert_eq!(logits(&load_oracle(dir.path(), &[("file", file)], "f32").unwrap()), expected, "{file}");
    }
}

#[test]
fn wrong_shape_is_named_with_both_shapes() {
    let Sizes { hidden: d, positions: p, intermediate: f, .. } = fixture_sizes();
    let tmp = tempfile::tempdir().unwrap();
    let mut tensors = fixture_tensors();
    // A position table of half the rows the config asks for.
    tensors.insert(
        "bert.embeddings.position_embeddings.weight".into(),
        Tensor::zeros((p / 2, d), DType::F32, &Device::Cpu).unwrap(),
    );
    write_checkpoint(tmp.path(), &tensors);
    assert_eq!(
        load_error(tmp.path(), &[]),
        format!(
            "{}: tensor `bert.embeddings.position_embeddings.weight` has shape [{}, {d}], expected [{p}, {d}]",
            tmp.path().join("model.safetensors").display(),
            p / 2
        )
    );
    // A config that disagrees with the weights is reported at the first tensor it shapes.
    let tmp = tempfile::tempdir().unwrap();
    write_checkpoint(tmp.path(), &fixture_tensors());
    let other = if f >= 2 { f * 3 / 4 } else { f + 1 };
    with_config(tmp.path(), "intermediate_size", other.into());
    let err = load_error(tmp.path(), &[]);
    assert!(
        err.ends_with(&format!(
            "tensor `bert.encoder.layer.0.intermediate.dense.weight` has shape [{f}, {d}], expected [{other}, {d}]"
        )),
        "{err}"
    );
}

#[test]
fn untied_decoder_needs_its_weight() {
    let tmp = tempfile::tempdir().unwrap();
    write_checkpoint(tmp.path(), &fixture_tensors());
    with_config(tmp.path(), "tie_word_embeddings", false.into());
    assert_eq!(
        load_error(tmp.path(), &[]),
        format!(
            "{}: missing tensor `cls.predictions.decoder.weight` (config `tie_word_embeddings` = false, so the decoder is not the word embedding)",
            tmp.path().join("model.safetensors").display()
        )
    );
    // With the weight stored (here a copy of the word embedding) it loads the same model.
    let mut tensors = fixture_tensors();
    tensors.insert("cls.predictions.decoder.weight".into(), tensors["bert.embeddings.word_embeddings.weight"].clone());
    write_checkpoint(tmp.path(), &tensors);
    with_config(tmp.path(), "tie_word_embeddings", false.into());
    let untied = load_oracle(tmp.path(), &[], "f32").unwrap();
    let tied = load_oracle(&fixture_dir(), &[], "f32").unwrap();
    let ids = Tensor::from_vec(gene_tokens(&[3, 7, 31, 0]), (1, 4), &Device::Cpu).unwrap();
    assert_eq!(
        to_f64(&untied.model().forward(&ids, None).unwrap().logits),
        to_f64(&tied.model().forward(&ids, None).unwrap().logits)
    );
}

#[test]
fn unsupported_options_are_named() {
    let cases = [
        ("hidden_act", serde_json::json!("gelu_new")),
        ("position_embedding_type", serde_json::json!("relative_key_query")),
        ("is_decoder", serde_json::json!(true)),
        ("add_cross_attention", serde_json::json!(true)),
        ("model_type", serde_json::json!("roberta")),
    ];
    for (key, value) in cases {
        let tmp = tempfile::tempdir().unwrap();
        write_checkpoint(tmp.path(), &fixture_tensors());
        let path = with_config(tmp.path(), key, value.clone());
        let err = load_error(tmp.path(), &[]);
        let expected = format!("{}: option `{key}` = {value} is not supported", path.display());
        assert!(err.starts_with(&expected), "{key}: {err}");
    }
    let tmp = tempfile::tempdir().unwrap();
    write_checkpoint(tmp.path(), &fixture_tensors());
    let hidden = fixture_sizes().hidden;
    let heads = (fixture_sizes().heads + 1..).find(|h| !hidden.is_multiple_of(*h)).unwrap();
    let path = with_config(tmp.path(), "num_attention_heads", heads.into());
    assert_eq!(
        load_error(tmp.path(), &[]),
        format!("{}: option `num_attention_heads` = {heads} does not divide `hidden_size` = {hidden}", path.display())
    );
}

#[test]
fn weight_file_choice() {
    let tmp = tempfile::tempdir().unwrap();
    write_checkpoint(tmp.path(), &fixture_tensors());
    std::fs::remove_file(tmp.path().join("model.safetensors")).unwrap();
    assert_eq!(
        load_error(tmp.path(), &[]),
        format!("{}: no weights: neither model.safetensors nor pytorch_model.bin is present", tmp.path().display())
    );
    write_pytorch_checkpoint(&tmp.path().join("pytorch_model.bin"), &fixture_tensors());
    assert_eq!(
        load_error(tmp.path(), &[("file", "safetensors")]),
        format!("{}: weight file not found (file = safetensors)", tmp.path().join("model.safetensors").display())
    );
    assert_eq!(load_oracle(tmp.path(), &[], "f32").unwrap().model().config.hidden_size, fixture_sizes().hidden);
    assert_eq!(
        load_error(Path::new("/nonexistent/checkpoint"), &[]),
        "/nonexistent/checkpoint: checkpoint folder not found"
    );
}

#[test]
fn dictionary_errors_name_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    write_checkpoint(tmp.path(), &fixture_tensors());
    std::fs::remove_file(tmp.path().join("token_dictionary.json")).unwrap();
    assert_eq!(
        load_error(tmp.path(), &[]),
        format!(
            "{}: no token_dictionary: neither token_dictionary.pkl nor token_dictionary.json is present (parameter `token_dictionary` names another file)",
            tmp.path().display()
        )
    );
    assert_eq!(
        load_error(tmp.path(), &[("token_dictionary", "tokens.json")]),
        format!(
            "{}: token_dictionary not found (parameter `token_dictionary`)",
            tmp.path().join("tokens.json").display()
        )
    );

    // A token outside the model's vocabulary.
    let vocab = fixture_sizes().vocab;
    let genes = fixture_genes();
    let (first, second) = (&genes[0], &genes[1]);
    let path = tmp.path().join("tokens.json");
    let tokens = serde_json::json!({"<pad>": 0, "<mask>": 1, &first.ensembl_id: vocab});
    std::fs::write(&path, tokens.to_string()).unwrap();
    assert_eq!(
        load_error(tmp.path(), &[("token_dictionary", "tokens.json")]),
        format!(
            "{}: token id {vocab} of {:?} is outside the model's vocabulary of {vocab} tokens (config `vocab_size`)",
            path.display(),
            first.ensembl_id
        )
    );
    // A gene with a median but no token: the fixture's token dictionary without its second gene.
    let mut tokens = fixture_token_dictionary();
    tokens.remove(&second.ensembl_id).unwrap();
    std::fs::write(&path, serde_json::to_string(&tokens).unwrap()).unwrap();
    let err = load_error(tmp.path(), &[("token_dictionary", "tokens.json")]);
    assert_eq!(
        err,
        format!(
            "{}: gene {:?} has a median but no token in {}",
            tmp.path().join("gene_median_dictionary.json").display(),
            second.ensembl_id,
            path.display()
        )
    );
    // A file that is not a pickle.
    let pkl = tmp.path().join("token_dictionary.pkl");
    std::fs::write(&pkl, b"\x80\x04not a pickle").unwrap();
    assert_eq!(load_error(tmp.path(), &[]), format!("{}: unsupported pickle opcode 0x6e at byte 2", pkl.display()));
    // A median that is not positive.
    std::fs::remove_file(&pkl).unwrap();
    std::fs::copy(fixture_dir().join("token_dictionary.json"), tmp.path().join("token_dictionary.json")).unwrap();
    let medians = tmp.path().join("gene_median_dictionary.json");
    std::fs::write(&medians, serde_json::json!({&first.ensembl_id: 0.0}).to_string()).unwrap();
    assert_eq!(
        load_error(tmp.path(), &[]),
        format!("{}: median of {:?} is 0; it must be positive", medians.display(), first.ensembl_id)
    );
}

#[test]
fn device_and_dtype_errors() {
    let err =
        |device: &str, dtype: &str| match ugrn_backbone_geneformer::Geneformer.load_oracle(&ugrn_sdk::LoadRequest {
            checkpoint: fixture_dir(),
            device: device.into(),
            dtype: dtype.into(),
            params: params(&[]),
        }) {
            Ok(_) => panic!("{device} {dtype} should fail"),
            Err(e) => e.to_string(),
        };
    if !cfg!(feature = "cuda") {
        assert_eq!(
            err("cuda:0", "f32"),
            "parameter `device`: \"cuda:0\" needs backbone-geneformer built with the `cuda` feature (this build is CPU-only)"
        );
    }
    assert_eq!(err("tpu", "f32"), "parameter `device`: \"tpu\" is not `cpu` or `cuda:N`");
    assert_eq!(err("cpu", "bf16"), "parameter `dtype`: bf16 runs on CUDA devices only; use f32 or f64 on the CPU");
    assert_eq!(err("cpu", "f8"), "parameter `dtype`: \"f8\" is not one of f32, f64, bf16, f16");
}

#[test]
fn bad_cells_are_refused() {
    let Sizes { vocab, layers, positions, .. } = fixture_sizes();
    let oracle = load_oracle(&fixture_dir(), &[], "f32").unwrap();
    let err = |tokens: Vec<u32>, values: Vec<f32>, cells: usize| {
        let genes = values.len().checked_div(cells).unwrap_or(0);
        oracle
            .readout(&CellBatch::new(tokens, Matrix::new(cells, genes, values).unwrap()).unwrap())
            .unwrap_err()
            .to_string()
    };
    let two = gene_tokens(&[0, 1]);
    assert_eq!(err(two.clone(), vec![1.0, f32::NAN], 1), "invalid input: value NaN of cell 0, gene 1 is not finite");
    let beyond = vocab as u32 + 37;
    assert_eq!(
        err(vec![two[0], beyond], vec![1.0, 1.0], 1),
        format!("invalid input: token id {beyond} is outside the vocabulary of {vocab} tokens")
    );
    assert_eq!(err(vec![], vec![], 0), "invalid input: a batch of 0 cells × 0 genes has nothing to compute");
    let long = gene_tokens(&(0..=positions).collect::<Vec<_>>());
    assert_eq!(
        err(long, vec![1.0; positions + 1], 1),
        format!(
            "invalid input: cells of {} genes exceed the {positions} genes the model takes (config `max_position_embeddings`)",
            positions + 1
        )
    );
    let cells = CellBatch::new(two.clone(), Matrix::new(1, 2, vec![1.0, 1.0]).unwrap()).unwrap();
    assert_eq!(
        oracle.readout_derivative(&cells, &[2]).unwrap_err().to_string(),
        "invalid input: source position 2 of cell 0 is outside its 2 genes"
    );
    assert_eq!(
        oracle.readout_derivative(&cells, &[]).unwrap_err().to_string(),
        "invalid input: 0 source positions for 1 cells"
    );
    assert_eq!(
        oracle.attention_scores(&cells, layers).unwrap_err().to_string(),
        format!("invalid input: layer {layers} does not exist (the model has {layers})")
    );
    let scale = load_oracle(&fixture_dir(), &[("value_mode", "scale")], "f32").unwrap();
    let negative = CellBatch::new(two.clone(), Matrix::new(1, 2, vec![1.0, -0.5]).unwrap()).unwrap();
    assert_eq!(
        scale.readout(&negative).unwrap_err().to_string(),
        "invalid input: value -0.5 of cell 0, gene 1 is negative; with value_mode = \"scale\" a value scales the gene's embedding"
    );
    let pad = fixture_token_dictionary()["<pad>"];
    assert_eq!(
        oracle.prepare_expression(&[pad, two[0]], &[1.0, 1.0]).unwrap_err().to_string(),
        format!("invalid input: token {pad} (context gene 0) is not a gene with a Genecorpus median")
    );
    assert_eq!(
        oracle.prepare_expression(&two, &[1.0, -1.0]).unwrap_err().to_string(),
        "invalid input: expression -1 of context gene 1 is not a non-negative abundance in the `expression` units"
    );
    assert_eq!(
        oracle.prepare_expression(&two[..1], &[1.0, 2.0]).unwrap_err().to_string(),
        "invalid input: 2 expression values for a context of 1 genes"
    );
    assert_eq!(
        oracle.gene_embeddings(&[two[0], vocab as u32]).unwrap_err().to_string(),
        format!("invalid input: token id {vocab} is outside the vocabulary of {vocab} tokens")
    );
}
