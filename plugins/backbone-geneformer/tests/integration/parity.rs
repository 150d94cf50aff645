//! Parity with the reference outputs Hugging Face's `BertForMaskedLM` and Geneformer V1's
//! tokenizer computed for the fixture (`cases.json`): tokenization, `last_hidden_state`, the
//! default cell embedding and the MLM logits at position 0, from `model.safetensors` (f32, f64)
//! and from the same weights written as `pytorch_model.bin`.

use crate::common::*;
use candle_core::{DType, Device, Tensor};
use ugrn_backbone_geneformer::{
    BertForMaskedLM, Checkpoint, DictionaryPaths, GeneDictionaries, WeightFile, rank_value_encode,
};

#[test]
fn tokenization_parity() {
    let cases = cases();
    let ckpt = Checkpoint::open(&fixture_dir(), WeightFile::Auto, &DictionaryPaths::default()).unwrap();
    let dictionaries =
        GeneDictionaries::load(&ckpt.token_dictionary, &ckpt.gene_median_dictionary, None, ckpt.config.vocab_size)
            .unwrap();
    let cells = cases["cells"].as_array().unwrap();
    assert!(!cells.is_empty());
    for (c, cell) in cells.iter().enumerate() {
        let genes: Vec<&str> = cell["ensembl_ids"].as_array().unwrap().iter().map(|g| g.as_str().unwrap()).collect();
        let counts = floats(&cell["counts"]);
        let n_counts = cell["n_counts"].as_f64().unwrap();
        let ids = rank_value_encode(&dictionaries, &genes, &counts, n_counts, ckpt.config.model_input_size()).unwrap();
        assert_eq!(ids, ints(&cell["input_ids"]), "cell {c}");
        // The batch holds the same cells, padded with token 0.
        let row = ints(&cases["batch"]["input_ids"][c]);
        assert_eq!(&row[..ids.len()], ids.as_slice(), "batch row {c}");
        assert!(row[ids.len()..].iter().all(|&t| t == 0), "batch row {c} pads with <pad>");
    }
}

fn check_batch(model: &BertForMaskedLM, what: &str, closeness: Closeness) {
    let cases = cases();
    let batch = &cases["batch"];
    let dims = shape(&batch["input_ids"]);
    let (b, l) = (dims[0], dims[1]);
    let ids = Tensor::from_vec(ints(&batch["input_ids"]), (b, l), model.device()).unwrap();
    let mask: Vec<u8> = ints(&batch["attention_mask"]).into_iter().map(|m| m as u8).collect();
    let mask = Tensor::from_vec(mask, (b, l), model.device()).unwrap();
    let out = model.forward(&ids, Some(&mask)).unwrap();
    assert_eq!(out.hidden_states.len(), model.config.num_hidden_layers + 1);
    let expected_hidden = floats(&batch["last_hidden_state"]);
    assert_eq!(shape(&batch["last_hidden_state"]), [b, l, model.config.hidden_size]);
    closeness.check(&format!("{what} last_hidden_state"), &to_f64(out.last_hidden_state()), &expected_hidden);
    let cell_emb = out.cell_embeddings(Some(&mask)).unwrap();
    closeness.check(
        &format!("{what} cell embedding"),
        &to_f64(&cell_emb),
        &floats(&batch["cell_emb_second_to_last_mean"]),
    );
    let logits0 = out.logits.narrow(1, 0, 1).unwrap();
    assert_eq!(shape(&batch["mlm_logits_pos0"]), [b, model.config.vocab_size]);
    closeness.check(&format!("{what} MLM logits at position 0"), &to_f64(&logits0), &floats(&batch["mlm_logits_pos0"]));
}

fn load(dir: &std::path::Path, file: WeightFile, device: &Device, dtype: DType) -> BertForMaskedLM {
    let ckpt = Checkpoint::open(dir, file, &DictionaryPaths::default()).unwrap();
    BertForMaskedLM::from_checkpoint(&ckpt, device, dtype).unwrap()
}

#[test]
fn batch_parity_safetensors() {
    let cpu = Device::Cpu;
    check_batch(
        &load(&fixture_dir(), WeightFile::Safetensors, &cpu, DType::F32),
        "safetensors f32",
        fixture_closeness(),
    );
    check_batch(
        &load(&fixture_dir(), WeightFile::Safetensors, &cpu, DType::F64),
        "safetensors f64",
        fixture_closeness(),
    );
}

#[test]
fn batch_parity_pytorch_bin() {
    let tmp = tempfile::tempdir().unwrap();
    for file in ["config.json", "token_dictionary.json", "gene_median_dictionary.json"] {
        std::fs::copy(fixture_dir().join(file), tmp.path().join(file)).unwrap();
    }
    // As older transformers save it: the tied decoder weight and bias stored a second time.
    let mut tensors = fixture_tensors();
    tensors.insert("cls.predictions.decoder.weight".into(), tensors["bert.embeddings.word_embeddings.weight"].clone());
    tensors.insert("cls.predictions.decoder.bias".into(), tensors["cls.predictions.bias"].clone());
    write_pytorch_checkpoint(&tmp.path().join("pytorch_model.bin"), &tensors);
    // `auto` finds the .bin when there is no safetensors file.
    check_batch(
        &load(tmp.path(), WeightFile::Auto, &Device::Cpu, DType::F32),
        "pytorch_model.bin f32",
        fixture_closeness(),
    );
}

/// Logits without padding equal those of the padded batch at attended positions: the mask only
/// hides keys.
#[test]
fn padding_only_hides_keys() {
    let cases = cases();
    let model = load(&fixture_dir(), WeightFile::Safetensors, &Device::Cpu, DType::F64);
    let row = ints(&cases["cells"][2]["input_ids"]);
    let n = row.len();
    let ids = Tensor::from_vec(row, (1, n), &Device::Cpu).unwrap();
    let alone = model.forward(&ids, None).unwrap();
    let batch = &cases["batch"];
    let dims = shape(&batch["input_ids"]);
    let all = Tensor::from_vec(ints(&batch["input_ids"]), (dims[0], dims[1]), &Device::Cpu).unwrap();
    let mask: Vec<u8> = ints(&batch["attention_mask"]).into_iter().map(|m| m as u8).collect();
    let mask = Tensor::from_vec(mask, (dims[0], dims[1]), &Device::Cpu).unwrap();
    let padded = model.forward(&all, Some(&mask)).unwrap();
    let got = to_f64(&padded.logits.narrow(0, 2, 1).unwrap().narrow(1, 0, n).unwrap());
    assert_close("unpadded vs padded logits", &to_f64(&alone.logits), &got, (1e-10, 1e-10));
}

/// bf16 keeps 8 significant bits. On the CPU (candle's bf16 kernels) the fixture's outputs stay
/// within 1.3% of their scale, and the oracle's readout and derivative within 1.6% (scale
/// mode's derivative is the worst); GPUs accumulate products in f32, so they should do no
/// worse. A bound four times that still fails any wrong operation, whose error is of the order
/// of the scale.
const BF16: Closeness = Closeness::Scaled(1.0 / 16.0);

/// The bf16 code path, checked where CI runs. The plugin offers bf16 on CUDA only, where it is
/// fast; the model runs it anywhere.
#[test]
fn bf16_parity_within_its_precision() {
    check_batch(&load(&fixture_dir(), WeightFile::Safetensors, &Device::Cpu, DType::BF16), "safetensors bf16", BF16);
}

/// The same references on a GPU. A `--features cuda` build runs its tests on one (`cuda:0`).
#[cfg(feature = "cuda")]
mod cuda {
    use ugrn_sdk::{CellBatch, Matrix, ModelOracle};

    use super::*;

    #[test]
    fn batch_parity_on_cuda() {
        let gpu = Device::new_cuda(0).expect("cuda:0: a `--features cuda` build runs its tests on a GPU");
        check_batch(
            &load(&fixture_dir(), WeightFile::Safetensors, &gpu, DType::F32),
            "cuda:0 f32",
            fixture_closeness(),
        );
        check_batch(&load(&fixture_dir(), WeightFile::Safetensors, &gpu, DType::BF16), "cuda:0 bf16", BF16);
    }

    /// The oracle's readout and derivative on the GPU against the CPU in f64, in both value modes.
    #[test]
    fn oracle_matches_the_cpu() {
        let tokens = gene_tokens(&(0..48).collect::<Vec<_>>());
        let values: Vec<f32> = (0..4 * 48).map(|k| ((k * 37) % 101) as f32 / 100.0).collect();
        let cells = CellBatch::shared(&tokens, Matrix::new(4, 48, values).unwrap()).unwrap();
        let sources = [0, 15, 30, 47];
        let widen = |m: Matrix| m.data.iter().map(|&x| x as f64).collect::<Vec<_>>();
        for mode in ["rank", "scale"] {
            let reference = load_oracle_on(&fixture_dir(), &[("value_mode", mode)], "cpu", "f64").unwrap();
            let readout = widen(reference.readout(&cells).unwrap());
            let derivative = widen(reference.readout_derivative(&cells, &sources).unwrap());
            for (dtype, closeness) in [("f32", fixture_closeness()), ("bf16", BF16)] {
                let oracle = load_oracle_on(&fixture_dir(), &[("value_mode", mode)], "cuda:0", dtype).unwrap();
                let what = format!("{mode} cuda:0 {dtype}");
                closeness.check(&format!("{what} readout"), &widen(oracle.readout(&cells).unwrap()), &readout);
                closeness.check(
                    &format!("{what} derivative"),
                    &widen(oracle.readout_derivative(&cells, &sources).unwrap()),
                    &derivative,
                );
            }
        }
    }
}
