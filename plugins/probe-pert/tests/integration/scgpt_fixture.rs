//! Pert through the real scGPT backbone equals the same computation done by hand through the
//! same oracle: readout of the binned mean cell minus readout with the source's bin set to 0.
use ugrn_probe_kit::testing::scgpt;

use ugrn_probe_pert::Pert;
use ugrn_sdk::{CellBatch, DatasetView, Expression, Matrix, NoProgress, Pair, Params, Probe, ProbeRequest};

#[test]
fn pert_is_the_zero_out_difference_on_the_binned_mean_cell() {
    let cases = scgpt::cases();
    let tokens: Vec<u32> = (0..10).collect();
    let genes = scgpt::gene_names(&tokens);
    // Ten genes over three cells: means 0, 0.5, 1, …, 4.5 with different spreads.
    let values: Vec<f32> = (0..10)
        .flat_map(|g| {
            let m = g as f32 * 0.5;
            [m - 0.1 * g as f32, m, m + 0.1 * g as f32]
        })
        .collect();
    let means: Vec<f32> = (0..10).map(|g| g as f32 * 0.5).collect();
    let expression = Expression {
        cell_names: vec!["a".into(), "b".into(), "c".into()],
        values: Matrix::new(10, 3, values).unwrap(),
    };
    let sources = [1, 4, 9];
    let pairs: Vec<Pair> =
        sources.iter().flat_map(|&source| (0..10).map(move |target| Pair { source, target })).collect();
    let params = Params::defaults(&Pert.describe().params);
    let request = ProbeRequest {
        params: &params,
        dataset: DatasetView {
            name: "hand-made",
            genes: &genes,
            expression: Some(&expression),
            expression_source: "test",
        },
        pairs: &pairs,
    };
    let oracle = scgpt::oracle();
    let f = Pert.features(&request, oracle.as_ref(), &NoProgress).unwrap();

    let binned = oracle.prepare_expression(&tokens, &means).unwrap();
    let mut cells = vec![binned.clone()];
    for &s in &sources {
        let mut zeroed = binned.clone();
        zeroed[s] = 0.0;
        cells.push(zeroed);
    }
    let batch = CellBatch::shared(&tokens, Matrix::new(4, 10, cells.concat()).unwrap()).unwrap();
    let r = oracle.readout(&batch).unwrap();
    let tolerance = scgpt::tolerance(&cases);
    for (row, p) in pairs.iter().enumerate() {
        let zeroed = 1 + sources.iter().position(|&s| s == p.source).unwrap();
        let want = r.get(0, p.target) as f64 - r.get(zeroed, p.target) as f64;
        scgpt::assert_within(&format!("pert of pair {row}"), f.values.get(row, 0), want, tolerance);
    }
    // The mean cell is really binned: the unexpressed gene 0 in bin 0, larger means in higher bins.
    assert_eq!(binned[0], 0.0);
    assert!(binned[9] > binned[1], "{binned:?}");
}
