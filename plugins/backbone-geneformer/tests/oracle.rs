//! The plugin and its model oracle on the fixture: rank layout, readout, gene symbols, word
//! embeddings, raw attention, expression preparation.
mod common;

use candle_core::{D, DType, Device, Tensor};
use common::*;
use ugrn_backbone_geneformer::{DEFAULT_BACKGROUND, Geneformer, descending_order};
use ugrn_sdk::{Backbone, CellBatch, Matrix, ModelOracle, ParamKind, ParamValue, Pass, PluginKind};

#[test]
fn describes_itself() {
    let info = Geneformer.describe();
    assert_eq!((info.name.as_str(), info.kind), ("backbone-geneformer", PluginKind::Backbone));
    let names: Vec<&str> = info.params.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        ["file", "token_dictionary", "gene_median_dictionary", "gene_name_id_dict", "value_mode", "expression"]
    );
    assert_eq!(info.params[4].kind, ParamKind::Choice(vec!["rank".into(), "scale".into()]));
    assert_eq!(info.params[4].default, ParamValue::Str("rank".into()));
    assert_eq!(info.params[5].default, ParamValue::Str("log2p1".into()));
}

#[test]
fn model_info() {
    let oracle = load_oracle(&fixture_dir(), &[], "f32").unwrap();
    let info = oracle.info();
    assert_eq!(info.family, "geneformer");
    assert_eq!((info.layers, info.heads, info.embedding_dim, info.vocabulary, info.max_context), (2, 4, 32, 62, 64));
    assert_eq!((info.value_min, info.value_max, info.default_background), (0.0, f32::MAX, DEFAULT_BACKGROUND));
    assert_eq!(load_oracle(&fixture_dir(), &[("value_mode", "scale")], "f32").unwrap().info().value_max, 1.0);
    assert_eq!(info.checkpoint_sha256.len(), 64);
    // A copy hashes the same; another dictionary or config hashes differently.
    let tmp = tempfile::tempdir().unwrap();
    write_checkpoint(tmp.path(), &fixture_tensors());
    std::fs::copy(fixture_dir().join("model.safetensors"), tmp.path().join("model.safetensors")).unwrap();
    assert_eq!(load_oracle(tmp.path(), &[], "f32").unwrap().info().checkpoint_sha256, info.checkpoint_sha256);
    let names = real_dictionaries_dir().join("gene_name_id_dict.json");
    let with_names = load_oracle(tmp.path(), &[("gene_name_id_dict", names.to_str().unwrap())], "f32").unwrap();
    assert_ne!(with_names.info().checkpoint_sha256, info.checkpoint_sha256);
    let config = std::fs::read_to_string(tmp.path().join("config.json")).unwrap();
    std::fs::write(
        tmp.path().join("config.json"),
        config.replace("\"initializer_range\": 0.02", "\"initializer_range\": 0.03"),
    )
    .unwrap();
    assert_ne!(load_oracle(tmp.path(), &[], "f32").unwrap().info().checkpoint_sha256, info.checkpoint_sha256);
}

#[test]
fn token_ids_by_symbol_or_ensembl_id() {
    let names = real_dictionaries_dir().join("gene_name_id_dict.pkl");
    let oracle = load_oracle(&fixture_dir(), &[("gene_name_id_dict", names.to_str().unwrap())], "f32").unwrap();
    assert_eq!(oracle.dictionaries().symbols(), 40248);
    assert_eq!(oracle.dictionaries().genes(), 60);
    let genes: Vec<String> = ["HCCS", "rala", "Sypl1", "ENSG00000022840", "GAPDH", "<pad>", "<mask>", "NOT_A_GENE"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    // GAPDH is a real gene, but not among the fixture's 60.
    assert_eq!(oracle.token_ids(&genes), [Some(2), Some(3), Some(4), Some(5), None, None, None, None]);
    // Without a symbol table only Ensembl IDs match.
    let bare = load_oracle(&fixture_dir(), &[], "f32").unwrap();
    assert_eq!(bare.token_ids(&genes), [None, None, None, Some(5), None, None, None, None]);
}

/// log softmax of the forward pass's logits at each token's own id.
fn own_log_probs_from_logits(logits: &Tensor, ids: &Tensor) -> Vec<f64> {
    let lse = logits.exp().unwrap().sum_keepdim(D::Minus1).unwrap().log().unwrap();
    let own = logits.gather(&ids.unsqueeze(2).unwrap().contiguous().unwrap(), 2).unwrap();
    to_f64(&(own - lse).unwrap())
}

/// Equal values keep the context order, and every gene is fully present: the readout is the
/// log-probability of each token under the parity-tested forward pass.
#[test]
fn background_cells_read_the_forward_pass() {
    let oracle = load_oracle(&fixture_dir(), &[], "f64").unwrap();
    let tokens: Vec<u32> = vec![37, 47, 38, 28, 5, 11, 7, 46];
    let cells = CellBatch::shared(&tokens, Matrix::repeat_row(&[DEFAULT_BACKGROUND; 8], 1)).unwrap();
    let readout = oracle.readout(&cells).unwrap();
    let ids = Tensor::from_vec(tokens, (1, 8), &Device::Cpu).unwrap();
    let logits = oracle.model().forward(&ids, None).unwrap().logits;
    let expected = own_log_probs_from_logits(&logits, &ids);
    let got: Vec<f64> = readout.data.iter().map(|&x| x as f64).collect();
    assert_close("background readout", &got, &expected, (1e-6, 1e-6));
    assert!(got.iter().all(|&x| x < 0.0));
}

/// Genes ordered by value: the same (gene, value) pairs listed in another context order give
/// the same readout per gene, and rank-mode readouts depend on values only through the order.
#[test]
fn readout_follows_the_values_not_the_context_order() {
    let oracle = load_oracle(&fixture_dir(), &[], "f64").unwrap();
    let tokens = [10u32, 3, 40, 22, 7, 55];
    let values = [2.0f32, 0.5, 5.0, 1.0, 0.0, 3.0];
    let perm = [3usize, 0, 5, 1, 4, 2];
    let permuted_tokens: Vec<u32> = perm.iter().map(|&i| tokens[i]).collect();
    let permuted_values: Vec<f32> = perm.iter().map(|&i| values[i]).collect();
    let a =
        oracle.readout(&CellBatch::new(tokens.to_vec(), Matrix::new(1, 6, values.to_vec()).unwrap()).unwrap()).unwrap();
    let b =
        oracle.readout(&CellBatch::new(permuted_tokens, Matrix::new(1, 6, permuted_values).unwrap()).unwrap()).unwrap();
    for (k, &i) in perm.iter().enumerate() {
        assert!((a.get(0, i) - b.get(0, k)).abs() < 1e-6, "gene {i}");
    }
    // Same order, other magnitudes: same readout in rank mode.
    let rescaled = [20.0f32, 0.7, 90.0, 1.5, -4.0, 30.0];
    let c = oracle
        .readout(&CellBatch::new(tokens.to_vec(), Matrix::new(1, 6, rescaled.to_vec()).unwrap()).unwrap())
        .unwrap();
    assert_eq!(a.data, c.data);
    // The laid-out sequence: descending values, the unexpressed gene last at scale 0.
    let order = descending_order(&values.iter().map(|&v| v as f64).collect::<Vec<_>>());
    let ids = Tensor::from_vec(order.iter().map(|&j| tokens[j]).collect::<Vec<_>>(), (1, 6), &Device::Cpu).unwrap();
    let scales = Tensor::from_vec(vec![1.0f64, 1.0, 1.0, 1.0, 1.0, 0.0], (1, 6), &Device::Cpu).unwrap();
    let (expected, _) = oracle.model().own_log_probs(&ids, &scales, None).unwrap();
    let expected = to_f64(&expected);
    for (p, &j) in order.iter().enumerate() {
        assert!((a.get(0, j) as f64 - expected[p]).abs() < 1e-6, "gene {j} at position {p}");
    }
}

#[test]
fn cells_with_their_own_tokens_batch_like_single_cells() {
    for mode in ["rank", "scale"] {
        let oracle = load_oracle(&fixture_dir(), &[("value_mode", mode)], "f64").unwrap();
        let tokens = vec![2, 3, 4, 5, 10, 20, 30, 40, 50, 60, 7, 8];
        let values = Matrix::new(3, 4, vec![1.0, 0.5, 0.0, 0.2, 1.0, 1.0, 1.0, 1.0, 0.9, 0.0, 0.1, 0.3]).unwrap();
        let cells = CellBatch::new(tokens, values).unwrap();
        let sources = [0, 3, 1];
        let batched = oracle.readout(&cells).unwrap();
        let derivative = oracle.readout_derivative(&cells, &sources).unwrap();
        assert_eq!((batched.rows, batched.cols, derivative.rows, derivative.cols), (3, 4, 3, 4));
        for (c, source) in sources.into_iter().enumerate() {
            let one = cells.slice(c, c + 1);
            let single = oracle.readout(&one).unwrap();
            let single_d = oracle.readout_derivative(&one, &[source]).unwrap();
            for j in 0..4 {
                assert!((single.get(0, j) - batched.get(c, j)).abs() < 1e-6, "{mode}: cell {c} gene {j}");
                assert!((single_d.get(0, j) - derivative.get(c, j)).abs() < 1e-6, "{mode}: cell {c} gene {j}");
            }
        }
    }
}

#[test]
fn gene_embeddings_are_word_embedding_rows() {
    let oracle = load_oracle(&fixture_dir(), &[], "f32").unwrap();
    let emb = oracle.gene_embeddings(&[5, 2, 61]).unwrap();
    assert_eq!((emb.rows, emb.cols), (3, 32));
    let table = to_f64(&fixture_tensors()["bert.embeddings.word_embeddings.weight"]);
    for (r, id) in [5usize, 2, 61].into_iter().enumerate() {
        let got: Vec<f64> = emb.row(r).iter().map(|&x| x as f64).collect();
        assert_eq!(got, table[id * 32..(id + 1) * 32]);
    }
    assert_eq!(oracle.gene_embeddings(&[]).unwrap().rows, 0);
}

/// Layer 0's raw scores, computed by hand from the fixture tensors (q, k of the embedding
/// output, per head, unscaled), in context order whatever the rank order.
#[test]
fn attention_scores_are_raw_q_dot_k_in_context_order() {
    let oracle = load_oracle(&fixture_dir(), &[], "f64").unwrap();
    let tokens = [12u32, 30, 44, 9, 17];
    let values = [0.5f32, 4.0, 1.0, 2.0, 3.0];
    let cells = CellBatch::new(tokens.to_vec(), Matrix::new(1, 5, values.to_vec()).unwrap()).unwrap();
    let maps = oracle.attention_scores(&cells, 0).unwrap();
    assert_eq!((maps.cells, maps.heads, maps.genes), (1, 4, 5));

    let order = descending_order(&values.iter().map(|&v| v as f64).collect::<Vec<_>>());
    let ids = Tensor::from_vec(order.iter().map(|&j| tokens[j]).collect::<Vec<_>>(), (1, 5), &Device::Cpu).unwrap();
    let embedded = oracle.model().forward(&ids, None).unwrap().hidden_states[0].squeeze(0).unwrap();
    let t = fixture_tensors();
    let project = |name: &str| {
        let w = t[&format!("bert.encoder.layer.0.attention.self.{name}.weight")].to_dtype(DType::F64).unwrap();
        let b = t[&format!("bert.encoder.layer.0.attention.self.{name}.bias")].to_dtype(DType::F64).unwrap();
        embedded.matmul(&w.t().unwrap()).unwrap().broadcast_add(&b).unwrap()
    };
    let (q, k) = (to_f64(&project("query")), to_f64(&project("key")));
    for h in 0..4 {
        let head = maps.head(0, h);
        for i in 0..5 {
            for j in 0..5 {
                let (pi, pj) =
                    (order.iter().position(|&x| x == i).unwrap(), order.iter().position(|&x| x == j).unwrap());
                let dot: f64 = (0..8).map(|e| q[pi * 32 + h * 8 + e] * k[pj * 32 + h * 8 + e]).sum();
                assert!(
                    (head[i * 5 + j] as f64 - dot).abs() < 1e-5,
                    "head {h} ({i}, {j}): {} vs {dot}",
                    head[i * 5 + j]
                );
            }
        }
    }
}

#[test]
fn prepare_expression_normalises_like_geneformer() {
    // Tokens 2 and 3: medians 1.5102975021262588 and 2.6109004008687866 (fixture).
    let (m2, m3) = (1.5102975021262588f64, 2.6109004008687866f64);
    let oracle = load_oracle(&fixture_dir(), &[], "f32").unwrap();
    // log2(x + 1) of 3, 1, 0.
    let x = oracle.prepare_expression(&[2, 3, 4], &[2.0, 1.0, 0.0]).unwrap();
    let expected = [3.0 / 4.0 * 1e4 / m2, 1.0 / 4.0 * 1e4 / m3, 0.0];
    for (g, e) in x.iter().zip(expected) {
        assert!((*g as f64 - e).abs() <= 1e-6 * e, "{g} vs {e}");
    }
    let counts = load_oracle(&fixture_dir(), &[("expression", "counts")], "f32").unwrap();
    assert_eq!(
        counts.prepare_expression(&[2, 3], &[3.0, 1.0]).unwrap(),
        [(0.75 * 1e4 / m2) as f32, (0.25 * 1e4 / m3) as f32]
    );
    let ln = load_oracle(&fixture_dir(), &[("expression", "log1p")], "f32").unwrap();
    let x = ln.prepare_expression(&[2, 3], &[3f32.ln(), 1f32.ln_1p()]).unwrap();
    assert!((x[0] as f64 - 2.0 / 3.0 * 1e4 / m2).abs() < 1e-2);
    assert_eq!(oracle.prepare_expression(&[2, 3], &[0.0, 0.0]).unwrap(), [0.0, 0.0]);
}

#[test]
fn memory_estimates_grow_with_the_pass_and_length() {
    let oracle = load_oracle(&fixture_dir(), &[], "f32").unwrap();
    let (r, d, a) = (
        oracle.bytes_per_cell(50, Pass::Readout),
        oracle.bytes_per_cell(50, Pass::Derivative),
        oracle.bytes_per_cell(50, Pass::Attention),
    );
    assert!(d > r && r > a && a > 0, "{r} {d} {a}");
    assert!(oracle.bytes_per_cell(60, Pass::Derivative) > d);
    // f32: 4 bytes × (4 maps × 4 heads × 50² + (12·32 + 2·64) per token × 50 + 3 × 62 × 50).
    assert_eq!(r, 4 * (4 * 4 * 2500 + (12 * 32 + 2 * 64) * 50 + 3 * 62 * 50));
}
