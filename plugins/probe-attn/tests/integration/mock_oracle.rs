//! Attn: the tutorial's rank normalisation by hand, and the probe against the mock oracle.

use ugrn_probe_attn::{Attn, rank_normalize};
use ugrn_probe_kit::testing::mock::{Mock, genes, pair, params, request, text};
use ugrn_sdk::{AttentionMaps, CellBatch, Error, Expression, Matrix, ModelOracle, NoProgress, ParamValue, Probe};

#[test]
fn rank_normalisation_is_by_row_then_column_then_head_mean() {
    let head0 = [3.0, 1.0, 2.0, 0.0, 5.0, 4.0, 9.0, 7.0, 8.0];
    let head1 = head0.map(|x: f32| -x);
    let maps = AttentionMaps { cells: 1, heads: 2, genes: 3, data: [head0, head1].concat() };
    // Head 0: row ranks [[2,0,1],[0,2,1],[2,0,1]]; their column ranks (ties in row order)
    // [[1,0,0],[0,2,1],[2,1,2]]. Head 1: row ranks [[0,2,1],[2,0,1],[0,2,1]], column ranks
    // [[0,1,0],[2,0,1],[1,2,2]]. Each over 3, then the mean of the two heads.
    let expected = [1.0, 1.0, 0.0, 2.0, 2.0, 2.0, 3.0, 3.0, 4.0].map(|x: f32| x / 6.0);
    assert_eq!(rank_normalize(&maps, 0), expected);
}

/// The rank-normalised map of `cells`' first cell in `layer`, read at (target, source).
fn reference(oracle: &Mock, cells: &CellBatch, layer: usize, target: usize, source: usize) -> f32 {
    let maps = oracle.attention_scores(cells, layer).unwrap();
    rank_normalize(&maps, 0)[target * cells.genes() + source]
}

#[test]
fn virtual_cell_in_dataset_context_reads_the_targets_query_on_the_sources_key() {
    let g = genes(6);
    let pairs = [pair(1, 4), pair(4, 1), pair(0, 5), pair(2, 2)];
    let p = params(&Attn, &[("cell", text("virtual")), ("background", ParamValue::Float(3.0))]).unwrap();
    assert!(!Attn.needs_expression(&p));
    let oracle = Mock::new();
    let f = Attn.features(&request(&p, &g, None, &pairs), &oracle, &NoProgress).unwrap();
    assert_eq!(f.columns, ["attn"]);
    assert_eq!(Attn.columns(&p, oracle.info()).unwrap(), Some(f.columns.clone()), "as `ugrn check` sees them");
    // One cell serves every pair.
    let calls = oracle.calls("attention");
    assert_eq!(calls.len(), 1);
    assert_eq!((calls[0].cells, calls[0].genes), (1, 6));
    let cell = CellBatch::shared(&[0, 1, 2, 3, 4, 5], Matrix::repeat_row(&[3.0; 6], 1)).unwrap();
    for (row, p) in pairs.iter().enumerate() {
        // The default layer, -1, is the mock's last (layer 1).
        assert_eq!(f.values.get(row, 0), reference(&oracle, &cell, 1, p.target, p.source));
    }
    assert_ne!(f.values.get(0, 0), f.values.get(1, 0), "the map is read in one orientation");
    let p = params(
        &Attn,
        &[("cell", text("virtual")), ("background", ParamValue::Float(3.0)), ("layer", ParamValue::Int(0))],
    )
    .unwrap();
    let first = Attn.features(&request(&p, &g, None, &pairs), &oracle, &NoProgress).unwrap();
    assert_eq!(first.values.get(0, 0), reference(&oracle, &cell, 0, 4, 1));
    assert_ne!(first.values.get(0, 0), f.values.get(0, 0));
}

#[test]
fn mean_cell_in_pair_context_runs_one_short_cell_per_pair() {
    let g = genes(3);
    let x = Expression { cell_names: vec!["c".into()], values: Matrix::new(3, 1, vec![0.5, 4.0, 2.0]).unwrap() };
    let pairs = [pair(0, 2), pair(2, 1), pair(1, 1)];
    let p = params(&Attn, &[("context", text("pair"))]).unwrap();
    assert!(Attn.needs_expression(&p));
    let oracle = Mock::new();
    let f = Attn.features(&request(&p, &g, Some(&x), &pairs), &oracle, &NoProgress).unwrap();
    let calls = oracle.calls("attention");
    assert_eq!(calls.iter().map(|c| (c.cells, c.genes)).collect::<Vec<_>>(), [(2, 2), (1, 1)]);
    // The mock prepares 2 × the mean: G0 = 1, G1 = 8, G2 = 4.
    let cell = |tokens: &[u32], values: &[f32]| CellBatch::shared(tokens, Matrix::repeat_row(values, 1)).unwrap();
    assert_eq!(f.values.get(0, 0), reference(&oracle, &cell(&[0, 2], &[1.0, 4.0]), 1, 1, 0));
    assert_eq!(f.values.get(1, 0), reference(&oracle, &cell(&[2, 1], &[4.0, 8.0]), 1, 1, 0));
    // A one-gene map normalises to 0.
    assert_eq!(f.values.get(2, 0), 0.0);
}

#[test]
fn mean_cell_without_expression_is_not_applicable() {
    let g = genes(2);
    let p = params(&Attn, &[]).unwrap();
    let err = Attn.features(&request(&p, &g, None, &[pair(0, 1)]), &Mock::new(), &NoProgress).unwrap_err();
    assert!(
        matches!(err, Error::NotApplicable(ref m) if m.starts_with("dataset `toy` has no expression matrix")),
        "{err}"
    );
}

#[test]
fn a_layer_outside_the_model_is_named() {
    let g = genes(2);
    for layer in [2, -3] {
        let p = params(&Attn, &[("cell", text("virtual")), ("layer", ParamValue::Int(layer))]).unwrap();
        let err = Attn.features(&request(&p, &g, None, &[pair(0, 1)]), &Mock::new(), &NoProgress).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("parameter `layer`: {layer} is not a layer of this 2-layer model (0..2, or -1 = last)")
        );
    }
}
