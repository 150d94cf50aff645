//! How many genes of each BEELINE dataset (STRING network, TFs+500 and TFs+1000 gene sets) map
//! to a Geneformer V1 token through the real dictionaries: symbol → Ensembl ID by
//! `gene_name_id_dict` (exact, else upper-cased), Ensembl ID → token with a median. Prints the
//! README's table (`cargo test -p ugrn-backbone-geneformer --test integration vocab_coverage -- --nocapture`).

use std::io::Read;
use std::path::PathBuf;

use crate::common::real_dictionaries_dir;
use ugrn_backbone_geneformer::GeneDictionaries;

const BEELINE_ENV: &str = "UGRN_BEELINE_DIR";

/// The `Gene` column of a BEELINE `Target.csv.gz`.
fn target_genes(path: &std::path::Path) -> Vec<String> {
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .read_to_string(&mut text)
        .unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let column = reader.headers().unwrap().iter().position(|h| h == "Gene").expect("a Gene column");
    reader.records().map(|r| r.unwrap()[column].to_string()).collect()
}

#[test]
fn beeline_vocabulary_coverage() {
    let dir = real_dictionaries_dir();
    let dictionaries = GeneDictionaries::load(
        &dir.join("token_dictionary.pkl"),
        &dir.join("gene_median_dictionary.pkl"),
        Some(&dir.join("gene_name_id_dict.pkl")),
        25426,
    )
    .unwrap();
    assert_eq!((dictionaries.genes(), dictionaries.symbols()), (25424, 40248));
    let root = std::env::var_os(BEELINE_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/beeline")));
    assert!(root.is_dir(), "{} not found: set {BEELINE_ENV}", root.display());
    let string = root.join("benchmark_datasets/STRING Dataset");
    // (dataset, TFs+500 genes, mapped, TFs+1000 genes, mapped)
    let expected = [
        ("hESC", 910, 849, 1410, 1296),
        ("hHEP", 948, 919, 1448, 1383),
        ("mDC", 821, 702, 1321, 1118),
        ("mESC", 1120, 912, 1620, 1290),
        ("mHSC-E", 704, 649, 1204, 1101),
        ("mHSC-GM", 632, 576, 1132, 1023),
        ("mHSC-L", 560, 489, 692, 592),
    ];
    println!("| dataset | TFs+500 genes | with a token | TFs+1000 genes | with a token |");
    println!("|---|---:|---:|---:|---:|");
    for (dataset, n500, m500, n1000, m1000) in expected {
        let mut row = Vec::new();
        for size in [500, 1000] {
            let genes = target_genes(&string.join(dataset).join(format!("TFs+{size}/Target.csv.gz")));
            let mapped = genes.iter().filter(|g| dictionaries.token_id(g).is_some()).count();
            row.push((genes.len(), mapped));
        }
        let pct = |(n, m): (usize, usize)| format!("{m} ({:.1}%)", 100.0 * m as f64 / n as f64);
        println!("| {dataset} | {} | {} | {} | {} |", row[0].0, pct(row[0]), row[1].0, pct(row[1]));
        assert_eq!(row, [(n500, m500), (n1000, m1000)], "{dataset}");
    }
}
