//! Geneformer V1's rank-value encoding: normalisation, dropped genes, truncation, and the tie
//! rule (a stable sort: tied genes keep their input order).

use std::path::Path;

use crate::common::*;
use ugrn_backbone_geneformer::{GeneDictionaries, descending_order, normalise, rank_value_encode};

/// Dictionaries over genes A..E (tokens 2..6) with medians 2, 2, 2, 4, 0.5; F has a token but
/// no median, as `<pad>` and `<mask>` have none.
fn toy_dictionaries(dir: &Path) -> GeneDictionaries {
    let tokens = dir.join("token_dictionary.json");
    let medians = dir.join("gene_median_dictionary.json");
    std::fs::write(&tokens, r#"{"<pad>": 0, "<mask>": 1, "A": 2, "B": 3, "C": 4, "D": 5, "E": 6, "F": 7}"#).unwrap();
    std::fs::write(&medians, r#"{"A": 2.0, "B": 2.0, "C": 2.0, "D": 4.0, "E": 0.5}"#).unwrap();
    GeneDictionaries::load(&tokens, &medians, None, 8).unwrap()
}

#[test]
fn descending_order_is_stable() {
    assert_eq!(descending_order(&[1.0, 3.0, 3.0, 2.0, 3.0]), [1, 2, 4, 3, 0]);
    assert_eq!(descending_order(&[0.0, -0.0, 0.0]), [0, 1, 2]);
    assert_eq!(descending_order(&[]), Vec::<usize>::new());
}

#[test]
fn ties_keep_the_input_order() {
    let tmp = tempfile::tempdir().unwrap();
    let d = toy_dictionaries(tmp.path());
    // A, B, C share a median, so equal counts tie exactly; D at 2× the counts and 2× the median
    // ties with them too.
    let genes = ["A", "B", "C", "D"];
    assert_eq!(rank_value_encode(&d, &genes, &[5.0, 5.0, 5.0, 10.0], 100.0, 2048).unwrap(), [2, 3, 4, 5]);
    let reversed = ["D", "C", "B", "A"];
    assert_eq!(rank_value_encode(&d, &reversed, &[10.0, 5.0, 5.0, 5.0], 100.0, 2048).unwrap(), [5, 4, 3, 2]);
    // Broken ties follow the values.
    assert_eq!(rank_value_encode(&d, &genes, &[5.0, 6.0, 5.0, 10.0], 100.0, 2048).unwrap(), [3, 2, 4, 5]);
}

#[test]
fn normalisation_orders_by_counts_over_median() {
    let tmp = tempfile::tempdir().unwrap();
    let d = toy_dictionaries(tmp.path());
    // x = counts / 50 × 10 000 / median: A 400, B 100, D 50, E 200; C is not detected, F and
    // the unknown gene have no median.
    let genes = ["A", "B", "C", "D", "E", "F", "ENSG_UNKNOWN"];
    let counts = [4.0, 1.0, 0.0, 1.0, 0.5, 100.0, 100.0];
    assert_eq!(normalise(4.0, 50.0, 2.0), 400.0);
    assert_eq!(rank_value_encode(&d, &genes, &counts, 50.0, 2048).unwrap(), [2, 6, 3, 5]);
    // Truncated to the model input size after ranking.
    assert_eq!(rank_value_encode(&d, &genes, &counts, 50.0, 2).unwrap(), [2, 6]);
    assert_eq!(rank_value_encode(&d, &genes, &[0.0; 7], 50.0, 2048).unwrap(), Vec::<u32>::new());
}

#[test]
fn bad_input_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let d = toy_dictionaries(tmp.path());
    assert_eq!(
        rank_value_encode(&d, &["A"], &[1.0, 2.0], 10.0, 5).unwrap_err().to_string(),
        "invalid input: 2 counts for 1 genes"
    );
    assert_eq!(
        rank_value_encode(&d, &["A"], &[1.0], 0.0, 5).unwrap_err().to_string(),
        "invalid input: n_counts = 0: a cell's total count must be positive"
    );
    assert_eq!(
        rank_value_encode(&d, &["A", "B"], &[1.0, f64::NAN], 10.0, 5).unwrap_err().to_string(),
        "invalid input: count NaN of gene B is not finite"
    );
}

/// The fixture's cells through the fixture's dictionaries give its `input_ids` at any
/// truncation length.
#[test]
fn fixture_cells_truncate_consistently() {
    let cases = cases();
    let dir = fixture_dir();
    let d = GeneDictionaries::load(
        &dir.join("token_dictionary.json"),
        &dir.join("gene_median_dictionary.json"),
        None,
        fixture_sizes().vocab,
    )
    .unwrap();
    let cell = &cases["cells"][0];
    let genes: Vec<&str> = cell["ensembl_ids"].as_array().unwrap().iter().map(|g| g.as_str().unwrap()).collect();
    let full = ints(&cell["input_ids"]);
    for max_len in [1, 7, full.len(), full.len() + 10] {
        let ids = rank_value_encode(&d, &genes, &floats(&cell["counts"]), cell["n_counts"].as_f64().unwrap(), max_len)
            .unwrap();
        assert_eq!(ids, full[..max_len.min(full.len())], "max_len {max_len}");
    }
}
