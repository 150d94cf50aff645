//! GDT through the real scGPT backbone reproduces the fixture's `virtual.gdt`, the derivatives
//! PyTorch autograd took through scGPT's own code.
use ugrn_probe_kit::testing::scgpt;

use std::collections::BTreeMap;

use ugrn_probe_gdt::Gdt;
use ugrn_sdk::{DatasetView, NoProgress, Pair, ParamValue, Params, Probe, ProbeRequest};

#[test]
fn gdt_matches_the_fixture() {
    let cases = scgpt::cases();
    let v = &cases["virtual"];
    let context = scgpt::ids(&v["context_gene_ids"]);
    let genes = scgpt::gene_names(&context);
    let sources: Vec<usize> =
        scgpt::ids(&v["sources"]).iter().map(|s| context.iter().position(|c| c == s).unwrap()).collect();
    // Each source with every context gene, itself included, as the fixture has them.
    let pairs: Vec<Pair> =
        sources.iter().flat_map(|&source| (0..genes.len()).map(move |target| Pair { source, target })).collect();
    let baselines = scgpt::numbers(&v["gdt_baselines"]);
    let given = BTreeMap::from([
        ("background".to_string(), ParamValue::Float(v["background"].as_f64().unwrap())),
        ("baselines".to_string(), ParamValue::List(baselines.iter().map(|&x| ParamValue::Float(x)).collect())),
        ("context".to_string(), ParamValue::Str("dataset".into())),
    ]);
    let params = Params::resolve(&Gdt.describe().params, given).unwrap();
    let request = ProbeRequest {
        params: &params,
        dataset: DatasetView { name: "scgpt-tiny", genes: &genes, expression: None, expression_source: "none" },
        pairs: &pairs,
    };
    let f = Gdt.features(&request, scgpt::oracle().as_ref(), &NoProgress).unwrap();
    // gdt[s][t][j]
    let expected = scgpt::numbers(&v["gdt"]);
    let (n, m) = (genes.len(), baselines.len());
    assert_eq!(expected.len(), sources.len() * m * n);
    let tolerance = scgpt::tolerance(&cases);
    for (row, pair) in pairs.iter().enumerate() {
        let s = row / n;
        for t in 0..m {
            let want = expected[(s * m + t) * n + pair.target];
            scgpt::assert_within(&format!("gdt of pair {row}, baseline {t}"), f.values.get(row, t), want, tolerance);
        }
    }
}
