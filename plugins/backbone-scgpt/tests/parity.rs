//! Parity with the reference outputs that scGPT 0.2.4's own model code computed for the fixture
//! (`cases.json`), loading the weights from both `model.safetensors` and `best_model.pt`.
mod common;

use candle_core::{DType, Device, Tensor};
use common::*;
use ugrn_backbone_scgpt::{Checkpoint, ScGptModel, WeightFile};
use ugrn_sdk::{CellBatch, Matrix, ModelOracle};

fn load_model(file: WeightFile, dtype: DType) -> ScGptModel {
    let ckpt = Checkpoint::open(&fixture_dir(), file).unwrap();
    ScGptModel::from_checkpoint(&ckpt, &Device::Cpu, dtype).unwrap()
}

fn check_batch(file: WeightFile, dtype: DType) {
    let cases = cases();
    let tol = tolerance(&cases);
    let batch = &cases["batch"];
    let dims = shape(&batch["gene_ids"]);
    let (b, l) = (dims[0], dims[1]);
    let model = load_model(file, dtype);
    let ids = Tensor::from_vec(ints(&batch["gene_ids"]), (b, l), &Device::Cpu).unwrap();
    let values = Tensor::from_vec(floats(&batch["values"]), (b, l), &Device::Cpu).unwrap().to_dtype(dtype).unwrap();
    let mask: Vec<u8> = batch["padding_mask"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r.as_array().unwrap().iter().map(|m| m.as_bool().unwrap() as u8))
        .collect();
    let mask = Tensor::from_vec(mask, (b, l), &Device::Cpu).unwrap();
    let out = model.forward(&ids, &values, Some(&mask)).unwrap();
    let what = |name: &str| format!("{file} {dtype:?} {name}");
    assert_close(&what("mlm_output"), &to_f64(&out.mlm_output), &floats(&batch["mlm_output"]), tol);
    assert_close(&what("cell_emb"), &to_f64(&out.cell_emb), &floats(&batch["cell_emb"]), tol);
    let mvc = out.mvc_output.as_ref().expect("the fixture has an MVC decoder");
    assert_close(&what("mvc_output"), &to_f64(mvc), &floats(&batch["mvc_output"]), tol);
    let token1 = out.encoder_output.narrow(1, 1, 1).unwrap();
    assert_close(&what("encoder_output_token1"), &to_f64(&token1), &floats(&batch["encoder_output_token1"]), tol);
    // The readout-only path computes the same.
    let readout = model.readout(&ids, &values, Some(&mask)).unwrap();
    assert_eq!(to_f64(&readout), to_f64(&out.mlm_output));
}

#[test]
fn batch_parity_safetensors() {
    check_batch(WeightFile::Safetensors, DType::F32);
    check_batch(WeightFile::Safetensors, DType::F64);
}

#[test]
fn batch_parity_pt() {
    check_batch(WeightFile::Pt, DType::F32);
}

#[test]
fn gene_embedding_parity() {
    let cases = cases();
    let case = &cases["gene_embeddings"];
    let ids = ints(&case["gene_ids"]);
    for file in ["safetensors", "pt"] {
        let oracle = load_oracle(&fixture_dir(), file, "f32").unwrap();
        let emb = oracle.gene_embeddings(&ids).unwrap();
        assert_eq!((emb.rows, emb.cols), (ids.len(), shape(&case["embeddings"])[1]));
        let got: Vec<f64> = emb.data.iter().map(|&x| x as f64).collect();
        assert_close(&format!("{file} gene embeddings"), &got, &floats(&case["embeddings"]), tolerance(&cases));
    }
}

/// Virtual cells over the fixture's context: every gene at `background` but `source` at `value`.
fn virtual_cells(context: usize, background: f32, sources_values: &[(usize, f32)]) -> Matrix {
    let mut m = Matrix::repeat_row(&vec![background; context], sources_values.len());
    for (c, &(s, v)) in sources_values.iter().enumerate() {
        m.set(c, s, v);
    }
    m
}

fn check_virtual(file: &str) {
    let cases = cases();
    let tol = tolerance(&cases);
    let case = &cases["virtual"];
    assert_eq!(case["cls_value"].as_f64(), Some(ugrn_backbone_scgpt::CLS_VALUE as f64));
    let context = ints(&case["context_gene_ids"]);
    let background = case["background"].as_f64().unwrap() as f32;
    let sources: Vec<usize> = ints(&case["sources"]).into_iter().map(|s| s as usize).collect();
    let targets: Vec<f32> = floats(&case["vvp_targets"]).into_iter().map(|v| v as f32).collect();
    let baselines: Vec<f32> = floats(&case["gdt_baselines"]).into_iter().map(|v| v as f32).collect();
    let oracle = load_oracle(&fixture_dir(), file, "f32").unwrap();
    let g = context.len();

    let base = oracle
        .readout(&CellBatch::shared(&context, virtual_cells(g, background, &[(0, background)])).unwrap())
        .unwrap();
    let (mut vvp, mut gdt) = (Vec::new(), Vec::new());
    for &s in &sources {
        let perturbed: Vec<(usize, f32)> = targets.iter().map(|&v| (s, v)).collect();
        let out =
            oracle.readout(&CellBatch::shared(&context, virtual_cells(g, background, &perturbed)).unwrap()).unwrap();
        for m in 0..targets.len() {
            vvp.extend((0..g).map(|j| (out.get(m, j) - base.get(0, j)) as f64));
        }
        let at: Vec<(usize, f32)> = baselines.iter().map(|&v| (s, v)).collect();
        let cells = CellBatch::shared(&context, virtual_cells(g, background, &at)).unwrap();
        let d = oracle.readout_derivative(&cells, &vec![s; baselines.len()]).unwrap();
        gdt.extend(d.data.iter().map(|&x| x as f64));
    }
    assert_close(&format!("{file} vvp"), &vvp, &floats(&case["vvp"]), tol);
    assert_close(&format!("{file} gdt"), &gdt, &floats(&case["gdt"]), tol);
}

#[test]
fn virtual_parity_safetensors() {
    check_virtual("safetensors");
}

#[test]
fn virtual_parity_pt() {
    check_virtual("pt");
}
