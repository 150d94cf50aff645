//! How many genes of each BEELINE dataset (STRING network, TFs+500 and TFs+1000 gene sets) the
//! real scGPT whole-human vocabulary holds. Prints the README's table
//! (`cargo test -p ugrn-backbone-scgpt --test integration vocab_coverage -- --nocapture`).
use std::collections::HashMap;
use std::io::Read;
use std::path::PathBuf;

use ugrn_backbone_scgpt::Vocab;

const VOCAB_ENV: &str = "UGRN_SCGPT_VOCAB";
const BEELINE_ENV: &str = "UGRN_BEELINE_DIR";

fn path_from(var: &str, default: &str) -> PathBuf {
    let path = std::env::var_os(var).map(PathBuf::from).unwrap_or_else(|| PathBuf::from(default));
    assert!(path.exists(), "{} not found: set {var}", path.display());
    path
}

/// scGPT_human's vocab.json: the census vocabulary plus `<pad>`, `<cls>`, `<eoc>` after it.
fn whole_human_vocab() -> Vocab {
    let path = path_from(
        VOCAB_ENV,
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/models/scgpt-whole-human-vocab/default_census_vocab.json"
        ),
    );
    let mut ids: HashMap<String, u32> = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let genes = ids.len() as u32;
    for (k, special) in ["<pad>", "<cls>", "<eoc>"].into_iter().enumerate() {
        ids.insert(special.into(), genes + k as u32);
    }
    Vocab::new(ids).unwrap()
}

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
    let vocab = whole_human_vocab();
    assert_eq!(vocab.len(), 60697);
    let root = path_from(BEELINE_ENV, concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/beeline"));
    let string = root.join("benchmark_datasets/STRING Dataset");
    // (dataset, TFs+500 genes, mapped, TFs+1000 genes, mapped)
    let expected = [
        ("hESC", 910, 849, 1410, 1301),
        ("hHEP", 948, 921, 1448, 1385),
        ("mDC", 821, 702, 1321, 1120),
        ("mESC", 1120, 937, 1620, 1326),
        ("mHSC-E", 704, 653, 1204, 1107),
        ("mHSC-GM", 632, 582, 1132, 1037),
        ("mHSC-L", 560, 495, 692, 603),
    ];
    println!("| dataset | TFs+500 genes | in vocabulary | TFs+1000 genes | in vocabulary |");
    println!("|---|---:|---:|---:|---:|");
    for (dataset, n500, m500, n1000, m1000) in expected {
        let mut row = Vec::new();
        for size in [500, 1000] {
            let genes = target_genes(&string.join(dataset).join(format!("TFs+{size}/Target.csv.gz")));
            let mapped = genes.iter().filter(|g| vocab.token_id(g).is_some()).count();
            row.push((genes.len(), mapped));
        }
        let pct = |(n, m): (usize, usize)| format!("{m} ({:.1}%)", 100.0 * m as f64 / n as f64);
        println!("| {dataset} | {} | {} | {} | {} |", row[0].0, pct(row[0]), row[1].0, pct(row[1]));
        assert_eq!(row, [(n500, m500), (n1000, m1000)], "{dataset}");
    }
}
