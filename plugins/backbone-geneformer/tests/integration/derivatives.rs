//! Exact derivatives: forward-mode tangents of the readout (each token's MLM log-probability of
//! its own id) with respect to the word-embedding scales, against central finite differences
//! in f64, for the model and through the oracle in both value modes.

use crate::common::*;
use candle_core::{DType, Device, Tensor};
use ugrn_backbone_geneformer::{BertForMaskedLM, descending_order};
use ugrn_sdk::{CellBatch, Matrix, ModelOracle};

/// Random cells of `genes` distinct gene tokens (ids 2.. as in Geneformer, 0 and 1 being
/// `<pad>` and `<mask>`) with scales around 1.
fn random_cells(model: &BertForMaskedLM, cells: usize, genes: usize, rng: &mut Rng) -> (Tensor, Tensor) {
    let vocab = model.config.vocab_size;
    let ids: Vec<u32> = (0..cells).flat_map(|_| rng.distinct(genes, 2, vocab)).collect();
    let scales: Vec<f64> =
        (0..cells * genes).map(|i| if i < genes { 1.0 } else { 0.2 + 1.3 * rng.uniform() }).collect();
    (
        Tensor::from_vec(ids, (cells, genes), &Device::Cpu).unwrap(),
        Tensor::from_vec(scales, (cells, genes), &Device::Cpu).unwrap(),
    )
}

/// The tangent along a one-hot (odd cells: dense) direction vs a central difference.
fn check_tangent_against_fd(model: &BertForMaskedLM, ids: &Tensor, scales: &Tensor, rng: &mut Rng, what: &str) {
    let (b, l) = scales.dims2().unwrap();
    let mut dir = vec![0.0f64; b * l];
    for c in 0..b {
        if c % 2 == 0 {
            dir[c * l + rng.below(l)] = 1.0;
        } else {
            (0..l).for_each(|j| dir[c * l + j] = 2.0 * rng.uniform() - 1.0);
        }
    }
    let dir = Tensor::from_vec(dir, (b, l), &Device::Cpu).unwrap();
    let (value, tangent) = model.own_log_probs(ids, scales, Some(&dir)).unwrap();
    let (plain, none) = model.own_log_probs(ids, scales, None).unwrap();
    assert!(none.is_none());
    assert_eq!(to_f64(&value), to_f64(&plain), "{what}: the tangent changed the value");
    let h = 1e-5;
    let at = |sign: f64| model.own_log_probs(ids, &(scales + (&dir * (sign * h)).unwrap()).unwrap(), None).unwrap().0;
    let fd = to_f64(&((at(1.0) - at(-1.0)).unwrap() / (2.0 * h)).unwrap());
    let exact = to_f64(&tangent.unwrap());
    assert!(exact.iter().any(|x| x.abs() > 1e-4), "{what}: derivative is trivially zero");
    assert_close(what, &exact, &fd, (1e-9, 1e-6));
}

#[test]
fn tangents_match_finite_differences_random_weights() {
    let mut rng = Rng::new(7);
    for act in ["relu", "gelu"] {
        let cfg = small_config(act);
        let model = model_from_tensors(random_tensors(&cfg, &mut rng), cfg, DType::F64);
        let (ids, scales) = random_cells(&model, 4, 11, &mut rng);
        check_tangent_against_fd(&model, &ids, &scales, &mut rng, &format!("random weights, {act}"));
    }
}

#[test]
fn tangents_match_finite_differences_fixture_weights() {
    let mut rng = Rng::new(11);
    let model = fixture_model_f64();
    // 25 genes, or as many as the fixture's positions and gene tokens allow.
    let Sizes { positions, vocab, .. } = fixture_sizes();
    let (ids, scales) = random_cells(&model, 3, 25.min(positions).min(vocab - 2), &mut rng);
    check_tangent_against_fd(&model, &ids, &scales, &mut rng, "fixture weights");
    // At scale 0 (an erased identity) as well.
    let zeros = scales.zeros_like().unwrap();
    check_tangent_against_fd(&model, &ids, &zeros, &mut rng, "fixture weights at scale 0");
}

/// Values with distinct levels (no tie within 1e-3), so a small step never reorders genes.
fn distinct_values(n: usize, rng: &mut Rng) -> Vec<f32> {
    let mut levels: Vec<f32> = (0..n).map(|i| 0.1 + 0.05 * i as f32).collect();
    for i in (1..n).rev() {
        levels.swap(i, rng.below(i + 1));
    }
    levels
}

/// In scale mode the value is the embedding scale: the oracle's derivative is ∂readout/∂value,
/// which central differences of the oracle's own readout reproduce (in context order).
#[test]
fn oracle_derivative_is_the_value_derivative_in_scale_mode() {
    let mut rng = Rng::new(5);
    let oracle = load_oracle(&fixture_dir(), &[("value_mode", "scale")], "f64").unwrap();
    let Sizes { positions, vocab, .. } = fixture_sizes();
    let g = 12.min(positions).min(vocab - 2);
    let cells = 3;
    let tokens: Vec<u32> = (0..cells).flat_map(|_| rng.distinct(g, 2, vocab)).collect();
    let values: Vec<f32> = (0..cells).flat_map(|_| distinct_values(g, &mut rng)).collect();
    let sources = [0, 5.min(g - 1), g - 1];
    let batch = CellBatch::new(tokens.clone(), Matrix::new(cells, g, values.clone()).unwrap()).unwrap();
    let exact = oracle.readout_derivative(&batch, &sources).unwrap();
    // Values are 0.05 apart, so a step of 0.01 never reorders genes; f32 readouts (|x| ~ 4, so
    // ~5e-7 resolution) still resolve it to ~3e-5.
    let h = 1e-2f32;
    let shifted = |sign: f32| {
        let mut v = values.clone();
        for (c, &s) in sources.iter().enumerate() {
            v[c * g + s] += sign * h;
        }
        oracle.readout(&CellBatch::new(tokens.clone(), Matrix::new(cells, g, v).unwrap()).unwrap()).unwrap()
    };
    let (plus, minus) = (shifted(1.0), shifted(-1.0));
    let fd: Vec<f64> =
        plus.data.iter().zip(&minus.data).map(|(p, m)| (*p as f64 - *m as f64) / (2.0 * h as f64)).collect();
    let exact: Vec<f64> = exact.data.iter().map(|&x| x as f64).collect();
    assert!(exact.iter().any(|x| x.abs() > 1e-3));
    assert_close("scale-mode oracle derivative", &exact, &fd, (1e-4, 1e-2));
}

/// In rank mode the oracle's derivative is ∂readout/∂s of the source at its rank position: the
/// model's tangent for the layout the oracle builds (descending values, ties in context order),
/// handed back in context order.
#[test]
fn oracle_derivative_is_the_scale_derivative_in_rank_mode() {
    let oracle = load_oracle(&fixture_dir(), &[], "f64").unwrap();
    let model = fixture_model_f64();
    let tokens = gene_tokens(&[8, 1, 38, 20, 5, 53]);
    // Gene 4 unexpressed (s = 0, last); genes 1 and 3 tie and keep their context order.
    let values: Vec<f32> = vec![2.0, 1.0, 5.0, 1.0, 0.0, 3.0];
    let order = descending_order(&values.iter().map(|&v| v as f64).collect::<Vec<_>>());
    assert_eq!(order, [2, 5, 0, 1, 3, 4]);
    let ids: Vec<u32> = order.iter().map(|&j| tokens[j]).collect();
    let scales: Vec<f64> = order.iter().map(|&j| if values[j] > 0.0 { 1.0 } else { 0.0 }).collect();
    let ids = Tensor::from_vec(ids, (1, 6), &Device::Cpu).unwrap();
    let scales = Tensor::from_vec(scales, (1, 6), &Device::Cpu).unwrap();
    let batch = CellBatch::new(tokens.clone(), Matrix::new(1, 6, values).unwrap()).unwrap();
    let readout = oracle.readout(&batch).unwrap();
    let (expected_readout, _) = model.own_log_probs(&ids, &scales, None).unwrap();
    let expected_readout = to_f64(&expected_readout);
    for source in 0..6 {
        let position = order.iter().position(|&j| j == source).unwrap();
        let mut dir = vec![0.0f64; 6];
        dir[position] = 1.0;
        let dir = Tensor::from_vec(dir, (1, 6), &Device::Cpu).unwrap();
        let h = 1e-5;
        let at = |sign: f64| {
            to_f64(&model.own_log_probs(&ids, &(&scales + (&dir * (sign * h)).unwrap()).unwrap(), None).unwrap().0)
        };
        let fd_by_position: Vec<f64> = at(1.0).iter().zip(at(-1.0)).map(|(p, m)| (p - m) / (2.0 * h)).collect();
        let derivative = oracle.readout_derivative(&batch, &[source]).unwrap();
        for j in 0..6 {
            let p = order.iter().position(|&k| k == j).unwrap();
            assert_close(
                &format!("readout of gene {j}"),
                &[readout.get(0, j) as f64],
                &[expected_readout[p]],
                (1e-6, 1e-6),
            );
            assert_close(
                &format!("d readout[{j}] / d s[{source}]"),
                &[derivative.get(0, j) as f64],
                &[fd_by_position[p]],
                (1e-7, 1e-5),
            );
        }
    }
}
