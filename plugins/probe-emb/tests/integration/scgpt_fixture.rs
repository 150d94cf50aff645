//! Emb through the real scGPT backbone sums the fixture's `gene_embeddings`, which scGPT's own
//! gene encoder computed.
use ugrn_probe_kit::testing::scgpt;

use ugrn_probe_emb::Emb;
use ugrn_sdk::{DatasetView, NoProgress, Pair, Params, Probe, ProbeRequest};

#[test]
fn emb_sums_the_fixture_embeddings() {
    let cases = scgpt::cases();
    let e = &cases["gene_embeddings"];
    let ids = scgpt::ids(&e["gene_ids"]);
    let genes = scgpt::gene_names(&ids);
    let embeddings: Vec<Vec<f64>> = e["embeddings"].as_array().unwrap().iter().map(scgpt::numbers).collect();
    let n = genes.len();
    let pairs: Vec<Pair> = (0..n).map(|k| Pair { source: k, target: (5 * k + 3) % n }).collect();
    let params = Params::defaults(&Emb.describe().params);
    let request = ProbeRequest {
        params: &params,
        dataset: DatasetView { name: "scgpt-tiny", genes: &genes, expression: None, expression_source: "none" },
        pairs: &pairs,
    };
    let f = Emb.features(&request, scgpt::oracle().as_ref(), &NoProgress).unwrap();
    let d = embeddings[0].len();
    assert_eq!(f.values.cols, d);
    let tolerance = scgpt::tolerance(&cases);
    for (row, p) in pairs.iter().enumerate() {
        for k in 0..d {
            let want = embeddings[p.source][k] + embeddings[p.target][k];
            scgpt::assert_within(&format!("emb_{k} of pair {row}"), f.values.get(row, k), want, tolerance);
        }
    }
}
