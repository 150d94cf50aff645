//! The plugin and its model oracle on the fixture.

use crate::common::*;
use candle_core::{D, DType, Device, Tensor};
use ugrn_backbone_scgpt::{DEFAULT_BACKGROUND, ScGpt, bin_expression, dual::Dual};
use ugrn_sdk::{Backbone, CellBatch, Matrix, ModelOracle, ParamKind, ParamValue, Pass, PluginKind};

#[test]
fn describes_itself() {
    let info = ScGpt.describe();
    assert_eq!((info.name.as_str(), info.kind), ("backbone-scgpt", PluginKind::Backbone));
    assert_eq!(info.params.len(), 1);
    assert_eq!(info.params[0].name, "file");
    assert_eq!(info.params[0].kind, ParamKind::Choice(vec!["auto".into(), "safetensors".into(), "pt".into()]));
    assert_eq!(info.params[0].default, ParamValue::Str("auto".into()));
}

#[test]
fn model_info() {
    let oracle = load_oracle(&fixture_dir(), "safetensors", "f32").unwrap();
    let info = oracle.info();
    assert_eq!(info.family, "scgpt");
    assert_eq!(
        (info.layers, info.heads, info.embedding_dim, info.vocabulary),
        (fixture_size("nlayers"), fixture_size("nheads"), fixture_size("embsize"), fixture_vocab_len())
    );
    // `<cls>` takes one of the `max_seq_len` positions; bins run 0..n_bins-1.
    assert_eq!(info.max_context, fixture_size("max_seq_len") - 1);
    let top_bin = (fixture_size("n_bins") - 1) as f32;
    assert_eq!((info.value_min, info.value_max, info.default_background), (0.0, top_bin, DEFAULT_BACKGROUND));
    assert_eq!((info.device.as_str(), info.dtype.as_str()), ("cpu", "f32"));
    assert_eq!(info.checkpoint_sha256.len(), 64);
    assert!(info.checkpoint_sha256.chars().all(|c| c.is_ascii_hexdigit()));
    // The pt file hashes differently; a copy of the same files hashes the same; changing
    // args.json changes the hash.
    let pt = load_oracle(&fixture_dir(), "pt", "f32").unwrap();
    assert_ne!(pt.info().checkpoint_sha256, info.checkpoint_sha256);
    let tmp = tempfile::tempdir().unwrap();
    for file in ["model.safetensors", "args.json", "vocab.json"] {
        std::fs::copy(fixture_dir().join(file), tmp.path().join(file)).unwrap();
    }
    assert_eq!(load_oracle(tmp.path(), "auto", "f32").unwrap().info().checkpoint_sha256, info.checkpoint_sha256);
    let args = std::fs::read_to_string(tmp.path().join("args.json")).unwrap();
    std::fs::write(tmp.path().join("args.json"), args.replace("\"dropout\": 0.0", "\"dropout\": 0.1")).unwrap();
    assert_ne!(load_oracle(tmp.path(), "auto", "f32").unwrap().info().checkpoint_sha256, info.checkpoint_sha256);
}

#[test]
fn token_ids_match_case_insensitively() {
    let oracle = load_oracle(&fixture_dir(), "auto", "f32").unwrap();
    let vocab = fixture_vocab();
    let symbols: Vec<(&String, u32)> =
        vocab.iter().filter(|(s, _)| !s.starts_with('<')).map(|(s, &id)| (s, id)).collect();
    let [(a, a_id), (b, b_id), (c, c_id)] = [symbols[0], symbols[symbols.len() / 2], symbols[symbols.len() - 1]];
    // The gene's own spelling, lower case, and capitalised (the gene's first letter upper, the rest lower).
    let capitalised = c[..1].to_uppercase() + &c[1..].to_lowercase();
    let genes: Vec<String> = vec![a.clone(), b.to_lowercase(), capitalised, "NOT-IN-VOCAB".into(), "<cls>".into()];
    assert_eq!(oracle.token_ids(&genes), [Some(a_id), Some(b_id), Some(c_id), None, Some(vocab["<cls>"])]);
}

#[test]
fn cells_with_their_own_tokens_batch_like_single_cells() {
    let oracle = load_oracle(&fixture_dir(), "auto", "f64").unwrap();
    let tokens = vec![1, 2, 3, 4, 10, 20, 30, 40, 5, 6, 7, 8];
    let values = Matrix::new(3, 4, vec![1.0, 5.0, 0.0, 20.0, 3.0, 3.0, 3.0, 3.0, 50.0, 0.0, 1.0, 2.0]).unwrap();
    let cells = CellBatch::new(tokens, values).unwrap();
    let batched = oracle.readout(&cells).unwrap();
    let derivative = oracle.readout_derivative(&cells, &[0, 3, 1]).unwrap();
    assert_eq!((batched.rows, batched.cols), (3, 4));
    for (c, source) in [0, 3, 1].into_iter().enumerate() {
        let one = cells.slice(c, c + 1);
        let single = oracle.readout(&one).unwrap();
        let single_d = oracle.readout_derivative(&one, &[source]).unwrap();
        for j in 0..4 {
            assert!((single.get(0, j) - batched.get(c, j)).abs() < 1e-6, "cell {c} gene {j}");
            assert!((single_d.get(0, j) - derivative.get(c, j)).abs() < 1e-6, "cell {c} gene {j}");
        }
    }
}

#[test]
fn batch_errors_are_named() {
    let oracle = load_oracle(&fixture_dir(), "auto", "f32").unwrap();
    let cells =
        CellBatch::shared(&[1, 2, 3], Matrix::new(2, 3, vec![1.0, 2.0, 3.0, 4.0, f32::NAN, 6.0]).unwrap()).unwrap();
    assert_eq!(
        oracle.readout(&cells).unwrap_err().to_string(),
        "invalid input: value NaN of cell 1, gene 1 is not finite"
    );
    let cells = CellBatch::shared(&[1, 2, 3], Matrix::new(2, 3, vec![1.0; 6]).unwrap()).unwrap();
    assert_eq!(
        oracle.readout_derivative(&cells, &[0]).unwrap_err().to_string(),
        "invalid input: 1 source positions for 2 cells"
    );
    assert_eq!(
        oracle.readout_derivative(&cells, &[0, 3]).unwrap_err().to_string(),
        "invalid input: source position 3 of cell 1 is outside its 3 genes"
    );
    let v = fixture_vocab_len();
    let cells = CellBatch::shared(&[1, 2, v as u32], Matrix::new(1, 3, vec![1.0; 3]).unwrap()).unwrap();
    assert_eq!(
        oracle.readout(&cells).unwrap_err().to_string(),
        format!("invalid input: token id {v} is outside the vocabulary of {v} tokens")
    );
    let cells = CellBatch::shared(&[1, 2, 3], Matrix::new(1, 3, vec![1.0; 3]).unwrap()).unwrap();
    let layers = fixture_size("nlayers");
    assert_eq!(
        oracle.attention_scores(&cells, layers).unwrap_err().to_string(),
        format!("invalid input: layer {layers} does not exist (the model has {layers})")
    );
}

/// Raw q·k of one head, computed element by element from the layer input and `Wqkv`.
fn reference_scores(x: &Tensor, wqkv: &Tensor, bias: &Tensor, heads: usize) -> Vec<f64> {
    let x = x.to_dtype(DType::F64).unwrap().squeeze(0).unwrap().to_vec2::<f64>().unwrap();
    let w = wqkv.to_dtype(DType::F64).unwrap().to_vec2::<f64>().unwrap();
    let b = bias.to_dtype(DType::F64).unwrap().to_vec1::<f64>().unwrap();
    let d = x[0].len();
    let hd = d / heads;
    let proj = |row: &[f64], out: usize| -> f64 { b[out] + row.iter().zip(&w[out]).map(|(a, c)| a * c).sum::<f64>() };
    let mut scores = Vec::new();
    for h in 0..heads {
        // Context genes only: tokens 1.. (the <cls> row and column are left out).
        for i in 1..x.len() {
            for j in 1..x.len() {
                scores.push((0..hd).map(|e| proj(&x[i], h * hd + e) * proj(&x[j], d + h * hd + e)).sum());
            }
        }
    }
    scores
}

#[test]
fn attention_scores_are_raw_query_key_products() {
    let oracle = load_oracle(&fixture_dir(), "auto", "f64").unwrap();
    let model = oracle.model();
    let context = [3u32, 17, 29, 41, 8];
    let values = [0.0f32, 12.0, 1.0, 50.0, 7.0];
    let cells = CellBatch::shared(&context, Matrix::new(1, 5, values.to_vec()).unwrap()).unwrap();
    let ids = Tensor::from_vec([model.cls_id()].into_iter().chain(context).collect::<Vec<_>>(), (1, 6), &Device::Cpu)
        .unwrap();
    let vals = Tensor::from_vec(
        [0.0f64].into_iter().chain(values.iter().map(|&v| v as f64)).collect::<Vec<_>>(),
        (1, 6),
        &Device::Cpu,
    )
    .unwrap();
    // Layer 0 sees gene embeddings plus value embeddings; layer 1 sees layer 0's output.
    let mut x =
        (model.encoder.forward(&ids).unwrap() + model.value_encoder.forward(&Dual::constant(vals)).unwrap().x).unwrap();
    for (layer, l) in model.layers.iter().enumerate() {
        let maps = oracle.attention_scores(&cells, layer).unwrap();
        let heads = fixture_size("nheads");
        assert_eq!((maps.cells, maps.heads, maps.genes, maps.data.len()), (1, heads, 5, heads * 25));
        let attn = &l.self_attn;
        let expected = reference_scores(&x, &attn.wqkv.weight, attn.wqkv.bias.as_ref().unwrap(), heads);
        let got: Vec<f64> = maps.data.iter().map(|&v| v as f64).collect();
        assert_close(&format!("layer {layer} scores"), &got, &expected, (1e-4, 1e-5));
        x = l.forward(&Dual::constant(x), None).unwrap().x;
    }
    assert_eq!(x.dim(D::Minus1).unwrap(), fixture_size("embsize"));
}

#[test]
fn prepare_expression_bins_like_scgpt() {
    let oracle = load_oracle(&fixture_dir(), "auto", "f32").unwrap();
    let expression = [0.0, 2.5, 0.1, 7.0, 0.0, 1.2];
    let binned = oracle.prepare_expression(&[0, 1, 2, 3, 4, 5], &expression).unwrap();
    let n_bins = fixture_size("n_bins");
    assert_eq!(binned, bin_expression(&expression, n_bins).unwrap());
    // Four non-zero values: the smallest in bin 1, the largest in the top bin.
    assert_eq!((binned[0], binned[2], binned[3], binned[4]), (0.0, 1.0, (n_bins - 1) as f32, 0.0));
    assert_eq!(
        oracle.prepare_expression(&[0, 1], &expression).unwrap_err().to_string(),
        "invalid input: 6 expression values for a context of 2 genes"
    );
}

#[test]
fn memory_estimate_grows_with_context_and_pass() {
    let oracle = load_oracle(&fixture_dir(), "auto", "f32").unwrap();
    let (h, d, f) = (fixture_size("nheads") as u64, fixture_size("embsize") as u64, fixture_size("d_hid") as u64);
    // At 3 genes (4 tokens), f32 on the CPU, one head's maps per running task, at most one task
    // per head: 4·(m·4² + (8·d + 2·d_hid)·4), m = min(heads, tasks); the derivative twice that.
    let m = h.min(ugrn_candle_shared::kernels::attention_tasks_in_flight() as u64);
    assert_eq!(oracle.bytes_per_cell(3, Pass::Readout), 4 * (m * 16 + (8 * d + 2 * f) * 4));
    assert_eq!(oracle.bytes_per_cell(3, Pass::Derivative), 4 * (2 * m * 16 + (16 * d + 4 * f) * 4));
    let small = oracle.bytes_per_cell(100, Pass::Readout);
    // Ten times the genes: the maps grow 100×, the activations 10×.
    assert!(oracle.bytes_per_cell(1000, Pass::Readout) > 20 * small);
    // f64 takes the composed path, where every head's maps exist at once: 8·(3·heads·4² + (12·d + 2·d_hid)·4).
    let f64_oracle = load_oracle(&fixture_dir(), "auto", "f64").unwrap();
    assert_eq!(f64_oracle.bytes_per_cell(3, Pass::Readout), 8 * (3 * h * 16 + (12 * d + 2 * f) * 4));
    assert_eq!(f64_oracle.bytes_per_cell(3, Pass::Derivative), 8 * (7 * h * 16 + (24 * d + 4 * f) * 4));
}
