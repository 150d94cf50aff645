//! The BEELINE benchmark in GENELink's layout (see data/beeline/README.md):
//! `<root>/benchmark_datasets/<Net> Dataset/<dataset>/TFs+<N>/` holding `Target.csv` (genes in
//! expression-row order), `TF.csv`, `BL--network.csv` (edges by name) and, where available,
//! `BL--ExpressionData.csv`; each plain or gzipped (`.csv.gz`).
use std::path::{Path, PathBuf};

use super::expression::{align_rows, read_expression_csv};
use super::labels::{file_name, index_genes, read_edges, read_gene_list, read_tfs};
use super::table::find_csv;
use super::{DataError, Dataset, Location};

/// Ground-truth networks, as spelled in the folder names `<Net> Dataset`.
pub const BEELINE_NETWORKS: [&str; 4] = ["STRING", "Non-Specific", "Specific", "Lofgof"];
pub const BEELINE_DATASETS: [&str; 7] = ["hESC", "hHEP", "mDC", "mESC", "mHSC-E", "mHSC-GM", "mHSC-L"];
/// The `TFs+N` gene subsets: every TF plus the N most variable genes.
pub const BEELINE_SIZES: [u32; 2] = [500, 1000];

/// BEELINE data roots, searched in order: the first root holding a dataset's folder supplies its
/// genes, TFs and edges; the expression matrix comes from the first root that has one, so a
/// repository copy without the large matrices can sit in front of a full copy.
#[derive(Debug, Clone, PartialEq)]
pub struct BeelineSource {
    pub roots: Vec<PathBuf>,
}

/// `name` as spelled in `valid`, ignoring ASCII case.
fn canonical(key: &'static str, name: &str, valid: &[&'static str]) -> Result<&'static str, DataError> {
    valid
        .iter()
        .copied()
        .find(|v| v.eq_ignore_ascii_case(name))
        .ok_or_else(|| DataError::param(key, name, format!("unknown BEELINE {key}; valid ones: {}", valid.join(", "))))
}

impl BeelineSource {
    /// The repository's own copy (`data/beeline`: labels only) first, then the shared data
    /// folder beside the repository (`../shared/data/beeline`, with expression matrices).
    pub fn for_repo(repo_root: &Path) -> Self {
        BeelineSource {
            roots: vec![
                repo_root.join("data").join("beeline"),
                repo_root.join("..").join("shared").join("data").join("beeline"),
            ],
        }
    }

    /// Loads one dataset. `network` and `dataset` ignore ASCII case; `size` is 500 or 1000.
    pub fn load(&self, network: &str, dataset: &str, size: u32) -> Result<Dataset, DataError> {
        let network = canonical("network", network, &BEELINE_NETWORKS)?;
        let dataset = canonical("dataset", dataset, &BEELINE_DATASETS)?;
        if !BEELINE_SIZES.contains(&size) {
            return Err(DataError::param("size", size, "valid sizes: 500 (TFs+500), 1000 (TFs+1000)"));
        }
        if network == "Lofgof" && dataset != "mESC" {
            return Err(DataError::param("dataset", dataset, "the Lofgof network exists only for mESC"));
        }
        let relative = Path::new("benchmark_datasets")
            .join(format!("{network} Dataset"))
            .join(dataset)
            .join(format!("TFs+{size}"));
        let folders: Vec<PathBuf> = self.roots.iter().map(|r| r.join(&relative)).collect();
        let labels = folders.iter().find(|f| f.is_dir()).ok_or_else(|| {
            let roots: Vec<String> = self.roots.iter().map(|r| r.display().to_string()).collect();
            DataError::file(Location::file(&relative), format!("not found under any data root ({})", roots.join(", ")))
        })?;
        let require = |stem: &str| {
            find_csv(labels, stem).ok_or_else(|| {
                DataError::file(Location::file(&labels.join(format!("{stem}.csv"))), "missing (nor is there a .csv.gz)")
            })
        };

        let target = require("Target")?;
        let genes = read_gene_list(&target)?;
        let index = index_genes(&genes);
        let genes_source = file_name(&target);
        let (tfs, mut notes) = read_tfs(&require("TF")?, &index, &genes_source)?;
        let (edges, edge_notes) = read_edges(&require("BL--network")?, &index, &genes_source)?;
        notes.extend(edge_notes);

        let (expression, expression_source) = match folders.iter().find_map(|f| find_csv(f, "BL--ExpressionData")) {
            Some(path) => {
                let (rows, raw) = read_expression_csv(&path)?;
                let (expression, expression_notes) = align_rows(&genes, &rows, raw, &path, &genes_source)?;
                notes.extend(expression_notes);
                (Some(expression), path.display().to_string())
            }
            None => {
                let looked: Vec<String> = folders.iter().map(|f| f.display().to_string()).collect();
                (None, format!("no BL--ExpressionData.csv(.gz) in {}", looked.join("; ")))
            }
        };
        Ok(Dataset {
            name: dataset.to_string(),
            network: network.to_string(),
            size: Some(size),
            genes,
            tfs,
            edges,
            expression,
            expression_source,
            notes,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use ugrn_sdk::{Matrix, Pair};

    use super::*;
    use crate::data::{NegativeSet, Negatives, sample_pairs};

    /// Writes `name` under `dir`, gzipped when it ends in `.gz`.
    fn put(dir: &Path, name: &str, text: &str) {
        std::fs::create_dir_all(dir).unwrap();
        let path = dir.join(name);
        if name.ends_with(".gz") {
            let mut enc =
                flate2::write::GzEncoder::new(std::fs::File::create(path).unwrap(), flate2::Compression::default());
            enc.write_all(text.as_bytes()).unwrap();
            enc.finish().unwrap();
        } else {
            std::fs::write(path, text).unwrap();
        }
    }

    fn folder(root: &Path, network: &str, dataset: &str, size: u32) -> PathBuf {
        root.join("benchmark_datasets").join(format!("{network} Dataset")).join(dataset).join(format!("TFs+{size}"))
    }

    /// A four-gene mDC folder; `gz` picks `.csv.gz` or `.csv` files.
    fn tiny(root: &Path, gz: bool, network_csv: &str) -> PathBuf {
        let dir = folder(root, "STRING", "mDC", 500);
        let ext = if gz { "csv.gz" } else { "csv" };
        put(&dir, &format!("Target.{ext}"), ",Gene,index\n0,MYC,0\n1,GATA1,1\n2,SPI1,2\n3,CEBPA,3\n");
        put(&dir, &format!("TF.{ext}"), ",TF,index\n0,GATA1,1\n1,SPI1,2\n");
        put(&dir, &format!("BL--network.{ext}"), network_csv);
        // Label.csv is deliberately wrong: the reader must take edges by name from BL--network.csv.
        put(&dir, &format!("Label.{ext}"), ",TF,Target\n0,3,3\n");
        dir
    }

    #[test]
    fn reads_plain_and_gzipped_folders_alike() {
        for gz in [false, true] {
            let root = tempfile::tempdir().unwrap();
            tiny(root.path(), gz, "Gene1,Gene2\nGATA1,MYC\nSPI1,GATA1\nGATA1,MYC\n");
            let d = BeelineSource { roots: vec![root.path().to_path_buf()] }.load("string", "MDC", 500).unwrap();
            assert_eq!((d.name.as_str(), d.network.as_str(), d.size), ("mDC", "STRING", Some(500)));
            assert_eq!(d.genes, vec!["MYC", "GATA1", "SPI1", "CEBPA"]);
            assert_eq!(d.tfs, vec![1, 2]);
            assert_eq!(d.edges, vec![Pair { source: 1, target: 0 }, Pair { source: 2, target: 1 }]);
            assert_eq!(
                d.notes,
                vec![format!("1 repeated edges of BL--network.{} counted once", if gz { "csv.gz" } else { "csv" })]
            );
        }
    }

    #[test]
    fn score_column_and_edges_outside_target_are_handled() {
        let root = tempfile::tempdir().unwrap();
        tiny(root.path(), false, "Gene1,Gene2,Score\nGATA1,MYC,10.5\nSPI1,FOXP3,2\nTBX21,MYC,1\n");
        let d = BeelineSource { roots: vec![root.path().to_path_buf()] }.load("STRING", "mDC", 500).unwrap();
        assert_eq!(d.edges, vec![Pair { source: 1, target: 0 }]);
        assert_eq!(
            d.notes,
            vec!["2 edges of BL--network.csv name genes outside Target.csv: dropped (SPI1→FOXP3, TBX21→MYC)"]
        );
    }

    #[test]
    fn missing_expression_is_none_with_the_places_looked() {
        let (first, second) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        tiny(first.path(), false, "Gene1,Gene2\nGATA1,MYC\n");
        let source = BeelineSource { roots: vec![first.path().to_path_buf(), second.path().to_path_buf()] };
        let d = source.load("STRING", "mDC", 500).unwrap();
        assert_eq!(d.expression, None);
        let looked = [first.path(), second.path()].map(|r| folder(r, "STRING", "mDC", 500).display().to_string());
        assert_eq!(d.expression_source, format!("no BL--ExpressionData.csv(.gz) in {}; {}", looked[0], looked[1]));
    }

    #[test]
    fn expression_from_a_later_root_is_reordered_by_gene_name() {
        let (labels, full) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        tiny(labels.path(), false, "Gene1,Gene2\nGATA1,MYC\n");
        // The later root has different labels (ignored: the first root's folder wins) and the matrix.
        let other = tiny(full.path(), true, "Gene1,Gene2\nSPI1,CEBPA\n");
        put(&other, "BL--ExpressionData.csv.gz", ",c1,c2\nCEBPA,7,8\nGATA1,3,4\nMYC,1,2\nSPI1,5,6\nEXTRA,0,0\n");
        let source = BeelineSource { roots: vec![labels.path().to_path_buf(), full.path().to_path_buf()] };
        let d = source.load("STRING", "mDC", 500).unwrap();
        assert_eq!(d.edges, vec![Pair { source: 1, target: 0 }]);
        let e = d.expression.unwrap();
        assert_eq!(e.cell_names, vec!["c1", "c2"]);
        assert_eq!(e.values, Matrix::new(4, 2, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]).unwrap());
        assert_eq!(d.expression_source, other.join("BL--ExpressionData.csv.gz").display().to_string());
        assert_eq!(d.notes, vec!["1 rows of BL--ExpressionData.csv.gz are for genes outside Target.csv: ignored"]);
    }

    #[test]
    fn expression_missing_a_gene_is_an_error_naming_the_file() {
        let root = tempfile::tempdir().unwrap();
        let dir = tiny(root.path(), false, "Gene1,Gene2\nGATA1,MYC\n");
        put(&dir, "BL--ExpressionData.csv", ",c1\nMYC,1\nGATA1,2\n");
        let e = BeelineSource { roots: vec![root.path().to_path_buf()] }.load("STRING", "mDC", 500).unwrap_err();
        let path = dir.join("BL--ExpressionData.csv");
        assert_eq!(e.to_string(), format!("{}: 2 genes of Target.csv have no row here (SPI1, CEBPA)", path.display()));
    }

    #[test]
    fn malformed_line_names_file_and_line() {
        let root = tempfile::tempdir().unwrap();
        let dir = tiny(root.path(), true, "Gene1,Gene2\nGATA1,MYC\nSPI1\nSPI1,GATA1\n");
        let e = BeelineSource { roots: vec![root.path().to_path_buf()] }.load("STRING", "mDC", 500).unwrap_err();
        let path = dir.join("BL--network.csv.gz");
        assert_eq!(e.to_string(), format!("{}:3: no `Gene2` field (field 2): the row has only 1", path.display()));
    }

    #[test]
    fn missing_label_file_is_an_error_naming_it() {
        let root = tempfile::tempdir().unwrap();
        let dir = tiny(root.path(), false, "Gene1,Gene2\nGATA1,MYC\n");
        std::fs::remove_file(dir.join("TF.csv")).unwrap();
        let e = BeelineSource { roots: vec![root.path().to_path_buf()] }.load("STRING", "mDC", 500).unwrap_err();
        assert_eq!(e.to_string(), format!("{}: missing (nor is there a .csv.gz)", dir.join("TF.csv").display()));
    }

    #[test]
    fn unknown_requests_list_the_valid_choices() {
        let source = BeelineSource { roots: vec![] };
        let e = |n: &str, d: &str, s: u32| source.load(n, d, s).unwrap_err().to_string();
        assert_eq!(
            e("TRRUST", "mDC", 500),
            "network `TRRUST`: unknown BEELINE network; valid ones: STRING, Non-Specific, Specific, Lofgof"
        );
        assert_eq!(
            e("STRING", "mHSC", 500),
            "dataset `mHSC`: unknown BEELINE dataset; valid ones: hESC, hHEP, mDC, mESC, mHSC-E, mHSC-GM, mHSC-L"
        );
        assert_eq!(e("STRING", "mDC", 2000), "size `2000`: valid sizes: 500 (TFs+500), 1000 (TFs+1000)");
        assert_eq!(e("lofgof", "hESC", 500), "dataset `hESC`: the Lofgof network exists only for mESC");
        let relative = Path::new("benchmark_datasets/Lofgof Dataset/mESC/TFs+1000");
        assert_eq!(e("Lofgof", "mESC", 1000), format!("{}: not found under any data root ()", relative.display()));
    }

    fn repo() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
    }

    #[test]
    fn real_mdc_labels_from_the_repository_copy() {
        let d = BeelineSource::for_repo(&repo()).load("STRING", "mDC", 500).unwrap();
        assert_eq!((d.genes.len(), d.tfs.len(), d.edges.len()), (821, 321, 4815));
        assert_eq!(d.notes, Vec::<String>::new());
        // The repository keeps the quickstart's matrices, mDC's among them, so it comes from it.
        let shipped =
            repo().join("data/beeline/benchmark_datasets/STRING Dataset/mDC/TFs+500/BL--ExpressionData.csv.gz");
        assert_eq!(d.expression_source, shipped.display().to_string());
        assert_eq!(d.expression.map(|e| e.cell_names.len()), Some(383));
    }

    #[test]
    fn real_hhep_expression_from_the_shared_copy() {
        let d = BeelineSource::for_repo(&repo()).load("STRING", "hHEP", 500).unwrap();
        let e = d.expression.expect("hHEP TFs+500 has an expression matrix in shared/data/beeline");
        assert_eq!((e.values.rows, e.values.cols, e.cell_names.len()), (948, 425, 425));
        assert_eq!((d.tfs.len(), d.edges.len()), (448, 7523));
    }

    /// Candidates and positives of STRING and Non-Specific TFs+500, as tabled in
    /// data/beeline/README.md: (dataset, STRING (candidates, positives), Non-Specific (...)).
    #[test]
    fn candidate_and_positive_counts_match_the_readme_table() {
        let source = BeelineSource { roots: vec![repo().join("data").join("beeline")] };
        let expected = [
            ("hESC", (372690, 4257), (372690, 3441)),
            ("hHEP", (424256, 7523), (424256, 4129)),
            ("mDC", (263220, 4815), (263220, 3067)),
            ("mESC", (693780, 7762), (693780, 6893)),
            ("mHSC-E", (143412, 1371), (143412, 1425)),
            ("mHSC-GM", (83292, 748), (83292, 743)),
            ("mHSC-L", (33540, 137), (33540, 279)),
        ];
        let mut table = Vec::new();
        for dataset in BEELINE_DATASETS {
            let counts = ["STRING", "Non-Specific"].map(|network| {
                let d = source.load(network, dataset, 500).unwrap();
                let c = sample_pairs(&d, Negatives::Ratio(1.0), NegativeSet::Uniform, 0, |_| true).counts;
                (c.candidates, c.positives)
            });
            table.push((dataset, counts[0], counts[1]));
        }
        assert_eq!(table, expected);
    }
}
