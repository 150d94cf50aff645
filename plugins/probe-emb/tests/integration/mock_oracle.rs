//! Emb against the mock oracle, whose embedding of token t is [t, 1, t²/10].

use ugrn_probe_emb::Emb;
use ugrn_probe_kit::testing::mock::{Mock, Recorder, genes, pair, params, request, text};
use ugrn_sdk::{ModelOracle, NoProgress, Probe};

#[test]
fn sum_adds_the_two_embeddings() {
    let g = genes(6);
    let pairs = [pair(2, 5), pair(5, 2), pair(3, 3)];
    let p = params(&Emb, &[]).unwrap();
    let oracle = Mock::new();
    let progress = Recorder::default();
    let f = Emb.features(&request(&p, &g, None, &pairs), &oracle, &progress).unwrap();
    assert_eq!(f.columns, ["emb_0", "emb_1", "emb_2"]);
    assert_eq!(Emb.columns(&p, oracle.info()).unwrap(), Some(f.columns.clone()), "as `ugrn check` sees them");
    assert_eq!(f.values.data, [7.0, 2.0, 2.9, 7.0, 2.0, 2.9, 6.0, 2.0, 1.8]);
    // Each of the three distinct genes is embedded once.
    let calls = oracle.calls("embeddings");
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].cells, 3);
    assert_eq!(*progress.advanced.lock().unwrap(), [3]);
}

#[test]
fn concat_puts_the_source_first() {
    let g = genes(6);
    let pairs = [pair(2, 5), pair(4, 1)];
    let p = params(&Emb, &[("combine", text("concat"))]).unwrap();
    let f = Emb.features(&request(&p, &g, None, &pairs), &Mock::new(), &NoProgress).unwrap();
    assert_eq!(f.columns, ["emb_0", "emb_1", "emb_2", "emb_3", "emb_4", "emb_5"]);
    assert_eq!(Emb.columns(&p, Mock::new().info()).unwrap(), Some(f.columns.clone()));
    assert_eq!(f.values.row(0), [2.0, 1.0, 0.4, 5.0, 1.0, 2.5]);
    assert_eq!(f.values.row(1), [4.0, 1.0, 1.6, 1.0, 1.0, 0.1]);
}

#[test]
fn no_pairs_give_no_rows_and_no_call() {
    let g = genes(2);
    let p = params(&Emb, &[]).unwrap();
    let oracle = Mock::new();
    let f = Emb.features(&request(&p, &g, None, &[]), &oracle, &NoProgress).unwrap();
    assert_eq!((f.values.rows, f.values.cols), (0, 3));
    assert!(oracle.calls("embeddings").is_empty());
}

#[test]
fn genes_outside_the_vocabulary_and_bad_combine_are_named() {
    let g = vec!["G1".to_string(), "ABC".to_string()];
    let p = params(&Emb, &[]).unwrap();
    let err = Emb.features(&request(&p, &g, None, &[pair(1, 0)]), &Mock::new(), &NoProgress).unwrap_err();
    assert_eq!(err.to_string(), "invalid input: gene `ABC` (pair 0) of dataset `toy` is not in the mock vocabulary");
    let err = params(&Emb, &[("combine", text("mean"))]).unwrap_err();
    assert_eq!(err.to_string(), "parameter `combine`: \"mean\" is not one of sum, concat");
}
