//! The Corr probe against hand computations and an independent solver (Gaussian elimination).
use std::collections::BTreeMap;

use ugrn_linalg::solve_by_elimination;
use ugrn_sdk::{
    AttentionMaps, CellBatch, DatasetView, Error, Expression, Features, GeneSymbol, Matrix, ModelInfo, ModelOracle,
    NoProgress, Pair, ParamSpec, ParamValue, Params, Pass, Probe, ProbeRequest, Result, TokenId,
};

use crate::{Corr, stats};

/// An oracle that fails the test if the probe touches it: the scores use no model.
struct NoOracle;

impl ModelOracle for NoOracle {
    fn info(&self) -> &ModelInfo {
        unreachable!("probe-corr asked the oracle for its info")
    }
    fn token_ids(&self, _: &[GeneSymbol]) -> Vec<Option<TokenId>> {
        unreachable!("probe-corr asked the oracle for token ids")
    }
    fn readout(&self, _: &CellBatch) -> Result<Matrix> {
        unreachable!("probe-corr ran a readout")
    }
    fn readout_derivative(&self, _: &CellBatch, _: &[usize]) -> Result<Matrix> {
        unreachable!("probe-corr ran a derivative")
    }
    fn gene_embeddings(&self, _: &[TokenId]) -> Result<Matrix> {
        unreachable!("probe-corr read embeddings")
    }
    fn attention_scores(&self, _: &CellBatch, _: usize) -> Result<AttentionMaps> {
        unreachable!("probe-corr read attention")
    }
    fn prepare_expression(&self, _: &[TokenId], _: &[f32]) -> Result<Vec<f32>> {
        unreachable!("probe-corr prepared expression")
    }
    fn bytes_per_cell(&self, _: usize, _: Pass) -> u64 {
        unreachable!("probe-corr asked for a batch size")
    }
}

fn params(given: &[(&str, ParamValue)]) -> Result<Params> {
    let given: BTreeMap<String, ParamValue> = given.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
    Params::resolve(&Corr.describe().params, given)
}

fn ridge(lambda: f64) -> Params {
    params(&[("measure", ParamValue::Str("ridge".into())), ("ridge_lambda", ParamValue::Float(lambda))]).unwrap()
}

fn gene_names(n: usize) -> Vec<GeneSymbol> {
    (0..n).map(|g| format!("G{g}")).collect()
}

fn matrix(rows: &[Vec<f32>]) -> Expression {
    let cells = rows[0].len();
    Expression {
        cell_names: (0..cells).map(|c| format!("c{c}")).collect(),
        values: Matrix::new(rows.len(), cells, rows.concat()).unwrap(),
    }
}

fn every_pair(genes: usize) -> Vec<Pair> {
    (0..genes).flat_map(|source| (0..genes).map(move |target| Pair { source, target })).collect()
}

/// The probe's one column for `pairs` of a dataset named `toy`.
fn run(params: &Params, genes: &[GeneSymbol], expression: Option<&Expression>, pairs: &[Pair]) -> Result<Features> {
    let dataset = DatasetView { name: "toy", genes, expression, expression_source: "toy/expression.csv" };
    Corr.features(&ProbeRequest { params, dataset, pairs }, &NoOracle, &NoProgress)
}

/// Pearson's r by the two-pass textbook formula, independent of `stats`.
fn pearson(x: &[f32], y: &[f32]) -> f64 {
    let n = x.len() as f64;
    let mx = x.iter().map(|&v| v as f64).sum::<f64>() / n;
    let my = y.iter().map(|&v| v as f64).sum::<f64>() / n;
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (&a, &b) in x.iter().zip(y) {
        let (dx, dy) = (a as f64 - mx, b as f64 - my);
        sxy += dx * dy;
        sxx += dx * dx;
        syy += dy * dy;
    }
    sxy / (sxx * syy).sqrt()
}

/// Seeded uniform draws in [−1, 1) (a 64-bit LCG's top bits), so the matrices are fixed.
fn draws(seed: u64, n: usize) -> Vec<f32> {
    let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((state >> 40) as f64 / (1u64 << 24) as f64 * 2.0 - 1.0) as f32
        })
        .collect()
}

const A: [f32; 5] = [1.0, 2.0, 3.0, 4.0, 5.0];
const B: [f32; 5] = [2.0, 4.0, 5.0, 4.0, 5.0];
const C: [f32; 5] = [3.0, 1.0, 2.0, 0.0, 1.0];

#[test]
fn pearson_matches_the_hand_computation_with_its_sign() {
    let g = gene_names(3);
    let x = matrix(&[A.to_vec(), B.to_vec(), C.to_vec()]);
    let pairs = [Pair { source: 2, target: 0 }, Pair { source: 0, target: 1 }, Pair { source: 1, target: 2 }];
    let f = run(&params(&[]).unwrap(), &g, Some(&x), &pairs).unwrap();
    assert_eq!(f.columns, ["pearson"]);
    // Deviations A: [−2, −1, 0, 1, 2] (Σ² 10), B: [−2, 0, 1, 0, 1] (Σ² 6), C: [1.6, −0.4, 0.6, −1.4, −0.4]
    // (Σ² 5.2); cross sums A·B = 6, A·C = −5, B·C = −3.
    let by_hand = [-5.0 / 52f64.sqrt(), 6.0 / 60f64.sqrt(), -3.0 / 31.2f64.sqrt()];
    for (row, expected) in by_hand.into_iter().enumerate() {
        assert!(
            (f.values.get(row, 0) as f64 - expected).abs() < 1e-6,
            "row {row}: {} vs {expected}",
            f.values.get(row, 0)
        );
    }
    assert!(f.values.get(0, 0) < -0.69, "C falls as A rises");
}

#[test]
fn pearson_of_every_pair_matches_the_two_pass_formula_symmetric_with_unit_diagonal() {
    let rows: Vec<Vec<f32>> = (0..4).map(|g| draws(g, 30)).collect();
    let g = gene_names(4);
    let pairs = every_pair(4);
    let f = run(&params(&[]).unwrap(), &g, Some(&matrix(&rows)), &pairs).unwrap();
    for (row, p) in pairs.iter().enumerate() {
        let expected = if p.source == p.target { 1.0 } else { pearson(&rows[p.source], &rows[p.target]) };
        assert!((f.values.get(row, 0) as f64 - expected).abs() < 1e-6, "{p:?}");
    }
    // In f64, before the f32 column.
    let z = stats::standardise(&rows.concat(), 30);
    let c = stats::correlation(&z, 30);
    assert!((c.get(1, 3) - pearson(&rows[1], &rows[3])).abs() < 1e-12);
    assert_eq!(c.get(1, 3), c.get(3, 1));
}

#[test]
fn a_constant_gene_scores_zero_never_nan() {
    let g = gene_names(4);
    let x = matrix(&[A.to_vec(), vec![2.0; 5], B.to_vec(), vec![0.1; 5]]);
    let pairs = every_pair(4);
    // The varying pair is untouched by the constant genes: r = 6/√60 (see above), and with one
    // regressor left ridge gives r / (1 + λ).
    let r = 6.0 / 60f64.sqrt();
    for (p, varying) in [(params(&[]).unwrap(), r), (ridge(1.0), r / 2.0)] {
        let f = run(&p, &g, Some(&x), &pairs).unwrap();
        for (row, pair) in pairs.iter().enumerate() {
            if [pair.source, pair.target].iter().any(|g| [1, 3].contains(g)) {
                assert_eq!(f.values.get(row, 0), 0.0, "{pair:?} of {:?}", f.columns);
            }
        }
        assert!(f.values.data.iter().all(|v| v.is_finite()), "{:?}", f.values.data);
        let a_to_b = f.values.get(2, 0) as f64;
        assert!((a_to_b - varying).abs() < 1e-6, "A → B under {:?}: {a_to_b} vs {varying}", f.columns);
    }
}

/// Genes 0 and 1 drawn at random, gene 2 = 2·gene0 − gene1 + noise of 1/100 of their scale.
fn linear_target(cells: usize) -> Vec<Vec<f32>> {
    let (g0, g1, noise) = (draws(10, cells), draws(11, cells), draws(12, cells));
    let g2 = (0..cells).map(|c| 2.0 * g0[c] - g1[c] + 0.01 * noise[c]).collect();
    vec![g0, g1, g2]
}

fn sd(x: &[f32]) -> f64 {
    let n = x.len() as f64;
    let mean = x.iter().map(|&v| v as f64).sum::<f64>() / n;
    (x.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n).sqrt()
}

#[test]
fn ridge_recovers_the_signs_and_sizes_of_a_linear_target() {
    let rows = linear_target(200);
    let g = gene_names(3);
    let x = matrix(&rows);
    let pairs = [Pair { source: 0, target: 2 }, Pair { source: 1, target: 2 }, Pair { source: 2, target: 2 }];
    let f = run(&ridge(1.0), &g, Some(&x), &pairs).unwrap();
    assert_eq!(f.columns, ["ridge"]);
    let (b0, b1) = (f.values.get(0, 0), f.values.get(1, 0));
    assert!(b0 > 0.0 && b1 < 0.0, "{b0}, {b1}");
    // Standardised, the true coefficients are 2·sd0/sd2 and −sd1/sd2: about 2 : 1 for genes drawn
    // alike, and λ = 1 shrinks both by about the same factor.
    let ratio = b0 as f64 / -b1 as f64;
    let true_ratio = 2.0 * sd(&rows[0]) / sd(&rows[1]);
    assert!((ratio - true_ratio).abs() < 0.2 * true_ratio, "{ratio} vs {true_ratio}");
    assert!(b0 < 2.0 * sd(&rows[0]) as f32 / sd(&rows[2]) as f32 * 0.75, "λ = 1 shrinks: {b0}");
    assert_eq!(f.values.get(2, 0), 0.0, "a gene is not its own regressor");

    // λ → 0: least squares of z2 on (z0, z1), from the 2 × 2 normal equations
    // [1 r01; r01 1] β = [r02; r12] solved by hand.
    let f = run(&ridge(1e-10), &g, Some(&x), &pairs).unwrap();
    let (r01, r02, r12) = (pearson(&rows[0], &rows[1]), pearson(&rows[0], &rows[2]), pearson(&rows[1], &rows[2]));
    let ls0 = (r02 - r01 * r12) / (1.0 - r01 * r01);
    let ls1 = (r12 - r01 * r02) / (1.0 - r01 * r01);
    assert!((f.values.get(0, 0) as f64 - ls0).abs() < 1e-5, "{} vs {ls0}", f.values.get(0, 0));
    assert!((f.values.get(1, 0) as f64 - ls1).abs() < 1e-5, "{} vs {ls1}", f.values.get(1, 0));
    // Back in expression units that is the generating 2 and −1.
    let (sd0, sd1, sd2) = (sd(&rows[0]), sd(&rows[1]), sd(&rows[2]));
    assert!((ls0 * sd2 / sd0 - 2.0).abs() < 0.01 && (ls1 * sd2 / sd1 + 1.0).abs() < 0.01, "{ls0}, {ls1}");
}

#[test]
fn precision_matrix_coefficients_equal_a_direct_ridge_solve_per_target() {
    // 6 genes over 20 cells, and over 4 (fewer cells than genes: C is singular, C + λI is not).
    for cells in [20, 4] {
        let rows: Vec<Vec<f32>> = (0..6).map(|g| draws(100 + g, cells)).collect();
        let lambda = 0.3;
        let z = stats::standardise(&rows.concat(), cells);
        let coefficients = stats::ridge_coefficients(stats::correlation(&z, cells), lambda).unwrap();
        for target in 0..6 {
            // (C₋ⱼ₋ⱼ + λI) β = C₋ⱼⱼ with C from the two-pass formula.
            let others: Vec<usize> = (0..6).filter(|&g| g != target).collect();
            let mut a = Vec::new();
            for &r in &others {
                for &c in &others {
                    a.push(if r == c { 1.0 + lambda } else { pearson(&rows[r], &rows[c]) });
                }
            }
            let b = others.iter().map(|&r| pearson(&rows[r], &rows[target])).collect();
            for (&source, beta) in others.iter().zip(solve_by_elimination(a, b)) {
                let got = coefficients.get(source, target);
                assert!((got - beta).abs() < 1e-9, "{cells} cells, {source} → {target}: {got} vs {beta}");
            }
            assert_eq!(coefficients.get(target, target), 0.0);
        }
    }
}

#[test]
fn an_unknown_measure_is_named_with_the_valid_ones() {
    let message = "parameter `measure`: \"spearman\" is not one of pearson, ridge";
    let err = params(&[("measure", ParamValue::Str("spearman".into()))]).unwrap_err();
    assert_eq!(err.to_string(), message);
    // The probe checks again itself, for parameters that did not come through its specs.
    let mut specs = Corr.describe().params;
    specs[0] = ParamSpec::string("measure", "spearman", "unchecked");
    let unchecked = Params::defaults(&specs);
    let err = run(&unchecked, &gene_names(3), Some(&matrix(&[A.to_vec(), B.to_vec(), C.to_vec()])), &[]).unwrap_err();
    assert_eq!(err.to_string(), message);
}

#[test]
fn a_ridge_lambda_that_is_not_positive_is_refused() {
    // Refused when resolved (`ugrn check`), by the declared range.
    for (lambda, shown) in [(0.0, "0"), (-1.0, "-1"), (f64::NAN, "NaN"), (f64::INFINITY, "inf")] {
        let err = params(&[("measure", ParamValue::Str("ridge".into())), ("ridge_lambda", ParamValue::Float(lambda))]);
        assert_eq!(
            err.unwrap_err().to_string(),
            format!("parameter `ridge_lambda`: {shown} is outside 1e-300..=1e300")
        );
    }
}

#[test]
fn a_penalty_lost_in_rounding_is_named() {
    // Two equal genes make C = [1 1; 1 1] exactly, and 1 + 1e-300 rounds to 1: the second
    // Cholesky pivot is 1 − 1 = 0.
    let x = matrix(&[A.to_vec(), A.to_vec()]);
    let err = run(&ridge(1e-300), &gene_names(2), Some(&x), &[]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the penalised correlation matrix of dataset `toy` (2 genes, ridge_lambda = 1e-300) is not positive \
         definite; raise ridge_lambda"
    );
    let f = run(&ridge(1.0), &gene_names(2), Some(&x), &[Pair { source: 0, target: 1 }]).unwrap();
    assert!((f.values.get(0, 0) - 0.5).abs() < 1e-6, "r / (1 + λ) = 1/2: {}", f.values.get(0, 0));
}

#[test]
fn without_expression_it_is_not_applicable_naming_the_dataset() {
    let p = params(&[]).unwrap();
    assert!(Corr.needs_expression(&p));
    let err = run(&p, &gene_names(2), None, &[Pair { source: 0, target: 1 }]).unwrap_err();
    assert_eq!(
        err,
        Error::NotApplicable(
            "dataset `toy` has no expression matrix (expected from toy/expression.csv); probe-corr's statistics \
             need one"
                .into()
        )
    );
}

#[test]
fn bad_expression_and_pairs_are_named() {
    let p = params(&[]).unwrap();
    let x = matrix(&[A.to_vec(), B.to_vec()]);
    let err = run(&p, &gene_names(3), Some(&x), &[]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid input: expression of dataset `toy` (toy/expression.csv) has 2 genes × 5 cells for 3 genes"
    );
    let infinite = matrix(&[A.to_vec(), vec![1.0, 2.0, f32::INFINITY, 0.0, 0.0]]);
    let err = run(&p, &gene_names(2), Some(&infinite), &[]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid input: expression of dataset `toy` (toy/expression.csv) has inf for gene `G1` in cell 2"
    );
    let err =
        run(&p, &gene_names(2), Some(&x), &[Pair { source: 0, target: 1 }, Pair { source: 2, target: 0 }]).unwrap_err();
    assert_eq!(err.to_string(), "invalid input: pair 1 names gene 2, but dataset `toy` has 2 genes");
}
