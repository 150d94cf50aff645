//! A user's own dataset: an expression matrix, a TF list and, optionally, ground-truth edges.
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::labels::{file_name, index_genes, read_edges, read_tfs};
use super::{DataError, Dataset, read_expression_file};

/// Where a user dataset's files are; matches a workflow's `[[dataset]]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserDatasetSpec {
    pub name: String,
    /// A genes × cells CSV (plain or gzip; first column gene names, header cell names), or an
    /// AnnData `.h5ad` file (cells × genes, as anndata stores it).
    pub expression: PathBuf,
    /// TF symbols, one per line, or a CSV with a `TF` column.
    pub tfs: PathBuf,
    /// Ground-truth edges `Gene1,Gene2[,Score]`; without it the dataset can be scored but not
    /// evaluated.
    #[serde(default)]
    pub edges: Option<PathBuf>,
    /// `.h5ad` only: the `var` column with the gene symbols (e.g. `feature_name` in CELLxGENE
    /// files); by default var's index.
    #[serde(default)]
    pub gene_column: Option<String>,
}

/// Reads a user dataset. Its genes are the expression matrix's, in the file's order.
pub fn load_user_dataset(spec: &UserDatasetSpec) -> Result<Dataset, DataError> {
    let (genes, expression) = read_expression_file(&spec.expression, spec.gene_column.as_deref())?;
    let index = index_genes(&genes);
    let genes_source = file_name(&spec.expression);
    let (tfs, mut notes) = read_tfs(&spec.tfs, &index, &genes_source)?;
    let edges = match &spec.edges {
        Some(path) => {
            let (edges, edge_notes) = read_edges(path, &index, &genes_source)?;
            notes.extend(edge_notes);
            edges
        }
        None => Vec::new(),
    };
    Ok(Dataset {
        name: spec.name.clone(),
        network: "custom".into(),
        size: None,
        genes,
        tfs,
        edges,
        expression: Some(expression),
        expression_source: spec.expression.display().to_string(),
        notes,
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use ugrn_sdk::{Matrix, Pair};

    use super::*;

    fn spec(dir: &Path, expression: &str, edges: Option<&str>) -> UserDatasetSpec {
        UserDatasetSpec {
            name: "mine".into(),
            expression: dir.join(expression),
            tfs: dir.join("tfs.txt"),
            edges: edges.map(|e| dir.join(e)),
            gene_column: None,
        }
    }

    #[test]
    fn loads_csv_expression_tfs_and_edges() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("expr.csv"), "gene,c1,c2\nMYC,1,2\nGATA1,3,4\nSPI1,5,6\n").unwrap();
        std::fs::write(dir.path().join("tfs.txt"), "GATA1\nSPI1\nFOXP3\n").unwrap();
        std::fs::write(dir.path().join("edges.csv"), "Gene1,Gene2\nGATA1,MYC\nSPI1,GATA1\n").unwrap();
        let d = load_user_dataset(&spec(dir.path(), "expr.csv", Some("edges.csv"))).unwrap();
        assert_eq!((d.name.as_str(), d.network.as_str(), d.size), ("mine", "custom", None));
        assert_eq!(d.genes, vec!["MYC", "GATA1", "SPI1"]);
        assert_eq!(d.tfs, vec![1, 2]);
        assert_eq!(d.edges, vec![Pair { source: 1, target: 0 }, Pair { source: 2, target: 1 }]);
        let e = d.expression.unwrap();
        assert_eq!(e.values, Matrix::new(3, 2, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap());
        assert_eq!(d.expression_source, dir.path().join("expr.csv").display().to_string());
        assert_eq!(d.notes, vec!["1 TFs of tfs.txt are not among the genes of expr.csv: dropped (FOXP3)"]);
    }

    #[test]
    fn loads_h5ad_expression_with_a_gene_column() {
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/data/testdata");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("tfs.txt"), "SPI1\nCEBPA\n").unwrap();
        let spec = UserDatasetSpec {
            expression: fixtures.join("csc_feature_name.h5ad"),
            gene_column: Some("feature_name".into()),
            ..spec(dir.path(), "unused", None)
        };
        let d = load_user_dataset(&spec).unwrap();
        assert_eq!(d.genes, vec!["GATA1", "SPI1", "MYC", "CEBPA"]);
        assert_eq!(d.tfs, vec![1, 3]);
        assert!(d.edges.is_empty());
        assert_eq!(d.expression.unwrap().cell_names, vec!["cell_a", "cell_b", "cell_c"]);
    }

    #[test]
    fn gene_column_on_a_csv_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let spec = UserDatasetSpec { gene_column: Some("symbol".into()), ..spec(dir.path(), "expr.csv", None) };
        let e = load_user_dataset(&spec).unwrap_err().to_string();
        let expected = format!(
            "gene_column `symbol`: applies to .h5ad expression files only, not {}",
            dir.path().join("expr.csv").display()
        );
        assert_eq!(e, expected);
    }

    #[test]
    fn spec_reads_from_a_workflow_table() {
        let spec: UserDatasetSpec = toml::from_str("name = \"x\"\nexpression = \"e.h5ad\"\ntfs = \"t.txt\"\n").unwrap();
        assert_eq!(spec.edges, None);
        assert_eq!(spec.gene_column, None);
        let typo = toml::from_str::<UserDatasetSpec>("name = \"x\"\nexpression = \"e\"\ntfs = \"t\"\nedge = \"e\"\n");
        assert!(typo.unwrap_err().to_string().contains("unknown field `edge`"));
    }
}
