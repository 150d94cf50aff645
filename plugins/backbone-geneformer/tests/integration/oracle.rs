//! The plugin and its model oracle on the fixture: rank layout, readout, gene symbols, word
//! embeddings, raw attention, expression preparation.

use crate::common::*;
use candle_core::{D, DType, Device, Tensor};
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
    let z = fixture_sizes();
    assert_eq!(
        (info.layers, info.heads, info.embedding_dim, info.vocabulary, info.max_context),
        (z.layers, z.heads, z.hidden, z.vocab, z.positions)
    );
    assert_eq!(
        (info.value_min, info.value_max, info.default_background),
        (0.0, 2.0 * DEFAULT_BACKGROUND, DEFAULT_BACKGROUND)
    );
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
    std::fs::write(tmp.path().join("config.json"), with_other_initializer_range(&config)).unwrap();
    assert_ne!(load_oracle(tmp.path(), &[], "f32").unwrap().info().checkpoint_sha256, info.checkpoint_sha256);
}

/// `config.json` with another `initializer_range` (a key the model ignores), the rest of the
/// text unchanged.
fn with_other_initializer_range(config: &str) -> String {
    let key = "\"initializer_range\"";
    let Some(at) = config.find(key) else {
        let open = config.find('{').expect("a JSON object");
        return format!("{}{key}: 0.03, {}", &config[..=open], &config[open + 1..]);
    };
    let colon = at + key.len() + config[at + key.len()..].find(':').unwrap();
    let start = colon + 1 + config[colon + 1..].find(|c: char| !c.is_whitespace()).unwrap();
    let end = start + config[start..].find([',', '}', '\n']).unwrap();
    let old: f64 = config[start..end].trim().parse().unwrap();
    format!("{}{}{}", &config[..start], old + 0.01, &config[end..])
}

/// Symbols of the real `gene_name_id_dict` for the fixture's genes, chosen from the JSON
/// (symbol → Ensembl ID): one as written, one only its lower-case spelling matches, one only
/// its capitalised spelling matches, each for another gene (in token order), and a real gene
/// (a token of Geneformer's dictionary) that is not among the fixture's.
struct Symbols {
    exact: (String, u32),
    lower: (String, u32),
    capitalised: (String, u32),
    /// A fixture gene none of the above names.
    ensembl: (String, u32),
    not_in_fixture: String,
}

fn symbols_for_fixture_genes(names: &serde_json::Map<String, serde_json::Value>) -> Symbols {
    let genes = fixture_genes();
    let token_of: std::collections::HashMap<&str, u32> =
        genes.iter().map(|g| (g.ensembl_id.as_str(), g.token)).collect();
    // Ensembl ID → its symbols (in sorted order).
    let mut by_id: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
    for (symbol, id) in names {
        by_id.entry(id.as_str().unwrap()).or_default().push(symbol);
    }
    let is_spelling = |s: &str| !names.contains_key(s) && !token_of.contains_key(s);
    // A spelling the upper-cased lookup maps back to `s`.
    let is_spelling = |spelt: &str, s: &str| spelt != s && spelt.to_uppercase() == s && is_spelling(spelt);
    let lower = |s: &str| Some(s.to_lowercase()).filter(|l| is_spelling(l, s));
    let capitalised = |s: &str| {
        let mut chars = s.chars();
        let c: String = chars.next().into_iter().chain(chars.flat_map(char::to_lowercase)).collect();
        Some(c).filter(|c| is_spelling(c, s) && lower(s).as_ref() != Some(c))
    };
    let mut used = Vec::new();
    let mut pick = |spell: &dyn Fn(&str) -> Option<String>| {
        let found = genes
            .iter()
            .filter(|g| !used.contains(&g.token))
            .find_map(|g| {
                let symbols = by_id.get(g.ensembl_id.as_str())?;
                // Upper-case symbols, so the upper-cased lookup finds exactly this one.
                let spelt = symbols.iter().filter(|s| s.to_uppercase() == **s).find_map(|s| spell(s))?;
                Some((spelt, g.token))
            })
            .expect("a fixture gene with such a symbol in gene_name_id_dict");
        used.push(found.1);
        found
    };
    let exact = pick(&|s| Some(s.to_string()));
    let lower = pick(&lower);
    let capitalised = pick(&capitalised);
    let ensembl = genes.iter().find(|g| !used.contains(&g.token)).unwrap();
    let real_tokens: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(real_dictionaries_dir().join("token_dictionary.json")).unwrap())
            .unwrap();
    let not_in_fixture = names
        .iter()
        .find(|(_, id)| {
            let id = id.as_str().unwrap();
            id.starts_with("ENSG") && real_tokens.contains_key(id) && !token_of.contains_key(id)
        })
        .map(|(symbol, _)| symbol.clone())
        .unwrap();
    Symbols { exact, lower, capitalised, ensembl: (ensembl.ensembl_id.clone(), ensembl.token), not_in_fixture }
}

#[test]
fn token_ids_by_symbol_or_ensembl_id() {
    let names = real_dictionaries_dir().join("gene_name_id_dict.pkl");
    let oracle = load_oracle(&fixture_dir(), &[("gene_name_id_dict", names.to_str().unwrap())], "f32").unwrap();
    let json: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(names.with_extension("json")).unwrap()).unwrap();
    assert_eq!(oracle.dictionaries().symbols(), json.len());
    assert_eq!(oracle.dictionaries().genes(), fixture_genes().len());
    let s = symbols_for_fixture_genes(&json);
    let genes: Vec<String> =
        [&s.exact.0, &s.lower.0, &s.capitalised.0, &s.ensembl.0, &s.not_in_fixture, "<pad>", "<mask>", "NOT_A_GENE"]
            .iter()
            .map(|s| s.to_string())
            .collect();
    // `not_in_fixture` is a real gene, but not among the fixture's.
    assert_eq!(
        oracle.token_ids(&genes),
        [Some(s.exact.1), Some(s.lower.1), Some(s.capitalised.1), Some(s.ensembl.1), None, None, None, None],
        "{genes:?}"
    );
    // Without a symbol table only Ensembl IDs match.
    let bare = load_oracle(&fixture_dir(), &[], "f32").unwrap();
    assert_eq!(bare.token_ids(&genes), [None, None, None, Some(s.ensembl.1), None, None, None, None]);
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
    let tokens = gene_tokens(&[35, 45, 36, 26, 3, 9, 5, 44]);
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
    let tokens = gene_tokens(&[8, 1, 38, 20, 5, 53]);
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
        let tokens = gene_tokens(&[0, 1, 2, 3, 8, 18, 28, 38, 48, 58, 5, 6]);
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
    let Sizes { vocab, hidden: d, .. } = fixture_sizes();
    let oracle = load_oracle(&fixture_dir(), &[], "f32").unwrap();
    // Two genes and the vocabulary's last row.
    let ids = [gene_tokens(&[3])[0], gene_tokens(&[0])[0], vocab as u32 - 1];
    let emb = oracle.gene_embeddings(&ids).unwrap();
    assert_eq!((emb.rows, emb.cols), (3, d));
    let table = to_f64(&fixture_tensors()["bert.embeddings.word_embeddings.weight"]);
    for (r, id) in ids.into_iter().enumerate() {
        let id = id as usize;
        let got: Vec<f64> = emb.row(r).iter().map(|&x| x as f64).collect();
        assert_eq!(got, table[id * d..(id + 1) * d]);
    }
    assert_eq!(oracle.gene_embeddings(&[]).unwrap().rows, 0);
}

/// Layer 0's raw scores, computed by hand from the fixture tensors (q, k of the embedding
/// output, per head, unscaled), in context order whatever the rank order.
#[test]
fn attention_scores_are_raw_q_dot_k_in_context_order() {
    let Sizes { hidden: d, heads, head_dim, .. } = fixture_sizes();
    let oracle = load_oracle(&fixture_dir(), &[], "f64").unwrap();
    let tokens = gene_tokens(&[10, 28, 42, 7, 15]);
    let values = [0.5f32, 4.0, 1.0, 2.0, 3.0];
    let cells = CellBatch::new(tokens.to_vec(), Matrix::new(1, 5, values.to_vec()).unwrap()).unwrap();
    let maps = oracle.attention_scores(&cells, 0).unwrap();
    assert_eq!((maps.cells, maps.heads, maps.genes), (1, heads, 5));

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
    for h in 0..heads {
        let head = maps.head(0, h);
        for i in 0..5 {
            for j in 0..5 {
                let (pi, pj) =
                    (order.iter().position(|&x| x == i).unwrap(), order.iter().position(|&x| x == j).unwrap());
                let at = |p: usize, e: usize| p * d + h * head_dim + e;
                let dot: f64 = (0..head_dim).map(|e| q[at(pi, e)] * k[at(pj, e)]).sum();
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
    // The fixture's first three genes, their medians from gene_median_dictionary.json.
    let genes = fixture_genes();
    let (g2, g3, g4) = (genes[0].token, genes[1].token, genes[2].token);
    let (m2, m3) = (genes[0].median, genes[1].median);
    let oracle = load_oracle(&fixture_dir(), &[], "f32").unwrap();
    // log2(x + 1) of 3, 1, 0.
    let x = oracle.prepare_expression(&[g2, g3, g4], &[2.0, 1.0, 0.0]).unwrap();
    let expected = [3.0 / 4.0 * 1e4 / m2, 1.0 / 4.0 * 1e4 / m3, 0.0];
    for (g, e) in x.iter().zip(expected) {
        assert!((*g as f64 - e).abs() <= 1e-6 * e, "{g} vs {e}");
    }
    let counts = load_oracle(&fixture_dir(), &[("expression", "counts")], "f32").unwrap();
    assert_eq!(
        counts.prepare_expression(&[g2, g3], &[3.0, 1.0]).unwrap(),
        [(0.75 * 1e4 / m2) as f32, (0.25 * 1e4 / m3) as f32]
    );
    let ln = load_oracle(&fixture_dir(), &[("expression", "log1p")], "f32").unwrap();
    let x = ln.prepare_expression(&[g2, g3], &[3f32.ln(), 1f32.ln_1p()]).unwrap();
    assert!((x[0] as f64 - 2.0 / 3.0 * 1e4 / m2).abs() < 1e-2);
    assert_eq!(oracle.prepare_expression(&[g2, g3], &[0.0, 0.0]).unwrap(), [0.0, 0.0]);
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
    // f32: 4 bytes × (4 maps × heads × 50² + (12·hidden + 2·intermediate) per token × 50
    // + 3 × vocab × 50).
    let z = fixture_sizes();
    let (h, d, f, v) = (z.heads as u64, z.hidden as u64, z.intermediate as u64, z.vocab as u64);
    assert_eq!(r, 4 * (4 * h * 2500 + (12 * d + 2 * f) * 50 + 3 * v * 50));
}
