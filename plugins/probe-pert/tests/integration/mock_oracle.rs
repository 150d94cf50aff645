//! Pert against the closed-form mock oracle.

use ugrn_probe_kit::testing::mock::{ALPHA, Mock, all_pairs, assert_close, genes, pair, params, request, text, w};
use ugrn_probe_pert::Pert;
use ugrn_sdk::{Error, Expression, Matrix, ModelOracle, NoProgress, Probe};

/// G0..G3 and X (outside the vocabulary) over two cells; the mock prepares 2 × the mean, so the
/// mean cell over G0..G3 is [4, 2, 10, 0] (sum 16).
fn expression() -> (Vec<String>, Expression) {
    let mut g = genes(4);
    g.push("X".into());
    let values = vec![1.0, 3.0, 0.0, 2.0, 5.0, 5.0, 0.0, 0.0, 9.0, 9.0];
    (g, Expression { cell_names: vec!["c1".into(), "c2".into()], values: Matrix::new(5, 2, values).unwrap() })
}

const MEAN: [f64; 4] = [4.0, 2.0, 10.0, 0.0];

/// readout_j(x) − readout_j(x with i at 0) for a cell whose values sum to `sum`:
/// w(j, i)·x_i + ALPHA·(sum² − (sum − x_i)²).
fn expected(i: usize, j: usize, sum: f64) -> f64 {
    let xi = MEAN[i];
    w(j as u32, i as u32) * xi + ALPHA * (sum * sum - (sum - xi).powi(2))
}

#[test]
fn dataset_context_zeroes_the_source_in_the_real_mean_cell() {
    let (g, x) = expression();
    let pairs = [pair(2, 1), pair(0, 2), pair(3, 1), pair(2, 2)];
    let p = params(&Pert, &[]).unwrap();
    let oracle = Mock::new();
    let f = Pert.features(&request(&p, &g, Some(&x), &pairs), &oracle, &NoProgress).unwrap();
    assert_eq!(f.columns, ["pert_baseline"]);
    assert_eq!(Pert.columns(&p, oracle.info()).unwrap(), Some(f.columns.clone()), "as `ugrn check` sees them");
    // By hand for (G2 → G1): w(1, 2)·10 + 0.01·(16² − 6²) = −3 + 2.2 = −0.8.
    assert_close(f.values.get(0, 0), -0.8);
    for (row, p) in pairs.iter().enumerate() {
        assert_close(f.values.get(row, 0), expected(p.source, p.target, 16.0));
    }
    // A source at 0 already has nothing to remove.
    assert_close(f.values.get(2, 0), 0.0);
    // One mean cell for all and one zeroed cell per source, in one call.
    let calls = oracle.calls("readout");
    assert_eq!(calls.len(), 1);
    assert_eq!((calls[0].cells, calls[0].genes), (1 + 3, 4));
}

#[test]
fn pair_context_takes_the_two_genes_of_the_mean_cell() {
    let (g, x) = expression();
    let pairs = [pair(2, 1), pair(2, 2), pair(0, 1)];
    let p = params(&Pert, &[("context", text("pair")), ("mode", text("origin"))]).unwrap();
    let f = Pert.features(&request(&p, &g, Some(&x), &pairs), &Mock::new(), &NoProgress).unwrap();
    assert_eq!(f.columns, ["pert_origin"]);
    // (G2 → G1) in the cell [10, 2]: −3 + 0.01·(12² − 2²) = −1.6.
    assert_close(f.values.get(0, 0), -1.6);
    assert_close(f.values.get(1, 0), expected(2, 2, 10.0));
    assert_close(f.values.get(2, 0), expected(0, 1, 6.0));
}

#[test]
fn without_expression_it_is_not_applicable() {
    let g = genes(3);
    let pairs = all_pairs(0..2, &[2]);
    let p = params(&Pert, &[]).unwrap();
    assert!(Pert.needs_expression(&p));
    let err = Pert.features(&request(&p, &g, None, &pairs), &Mock::new(), &NoProgress).unwrap_err();
    assert_eq!(
        err,
        Error::NotApplicable(
            "dataset `toy` has no expression matrix (expected from toy/expression.csv); the real mean cell \
             needs one"
                .into()
        )
    );
}

#[test]
fn expression_of_the_wrong_shape_is_named() {
    let (g, x) = expression();
    let pairs = [pair(0, 1)];
    let p = params(&Pert, &[]).unwrap();
    let err = Pert.features(&request(&p, &g[..4], Some(&x), &pairs), &Mock::new(), &NoProgress).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid input: expression of dataset `toy` (toy/expression.csv) has 5 genes × 2 cells for 4 genes"
    );
}

#[test]
fn unknown_mode_is_named() {
    let err = params(&Pert, &[("mode", text("score"))]).unwrap_err();
    assert_eq!(err.to_string(), "parameter `mode`: \"score\" is not one of origin, baseline");
}
