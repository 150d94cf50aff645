//! Attn through the real scGPT backbone equals the tutorial's normalisation done by hand on the
//! same oracle's last-layer scores of the same virtual cell.
use std::collections::BTreeMap;

use ugrn_probe_attn::{Attn, rank_normalize};
use ugrn_probe_kit::testing::scgpt;
use ugrn_sdk::{CellBatch, DatasetView, Matrix, NoProgress, Pair, ParamValue, Params, Probe, ProbeRequest};

#[test]
fn attn_reads_the_normalised_last_layer_of_the_virtual_cell() {
    let tokens: Vec<u32> = (0..12).collect();
    let genes = scgpt::gene_names(&tokens);
    let pairs: Vec<Pair> = (0..12).map(|k| Pair { source: k, target: (7 * k + 5) % 12 }).collect();
    let given = BTreeMap::from([("cell".to_string(), ParamValue::Str("virtual".into()))]);
    let params = Params::resolve(&Attn.describe().params, given).unwrap();
    let request = ProbeRequest {
        params: &params,
        dataset: DatasetView { name: "scgpt-tiny", genes: &genes, expression: None, expression_source: "none" },
        pairs: &pairs,
    };
    let oracle = scgpt::oracle();
    let f = Attn.features(&request, oracle.as_ref(), &NoProgress).unwrap();

    let last = oracle.info().layers - 1;
    let cell = CellBatch::shared(&tokens, Matrix::repeat_row(&[1.0; 12], 1)).unwrap();
    let maps = oracle.attention_scores(&cell, last).unwrap();
    let heads = oracle.info().heads;
    assert_eq!((maps.heads, maps.genes), (heads, 12));
    let normalized = rank_normalize(&maps, 0);
    for (row, p) in pairs.iter().enumerate() {
        assert_eq!(f.values.get(row, 0), normalized[p.target * 12 + p.source], "pair {row}");
    }
    // Ranks over 12 genes, averaged over the heads: multiples of 1/(12·heads) in [0, 11/12].
    let step = (12 * heads) as f32;
    for &x in &f.values.data {
        assert!((0.0..=11.0 / 12.0).contains(&x) && (x * step - (x * step).round()).abs() < 1e-4, "{x}");
    }
}
