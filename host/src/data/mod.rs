//! Dataset readers: BEELINE/GENELink folders and user datasets, and the pairs drawn from them.
//!
//! Every reader turns its input into one [`Dataset`]: genes in a canonical order, the TFs and
//! ground-truth edges as indices into those genes, and the expression matrix when there is one.
//! Ground truth is always taken **by gene name** (`BL--network.csv`, or a user's edge list);
//! BEELINE's `Label.csv` repeats the same edges as row indices and is not read, so a label file
//! copied next to the wrong `Target.csv` cannot silently shift every edge.
//!
//! Files are read streaming (csv over a gzip decoder when the file starts with the gzip magic
//! bytes), and every problem is reported with the file, and the line and column where one applies.
mod beeline;
mod expression;
mod h5ad;
mod labels;
mod pairs;
mod table;
mod user;

use std::fmt;
use std::path::{Path, PathBuf};

use ugrn_sdk::{DatasetView, Expression, GeneSymbol, Pair};

pub use beeline::{BEELINE_DATASETS, BEELINE_NETWORKS, BEELINE_SIZES, BeelineSource};
pub use h5ad::H5adExpression;
pub(crate) use h5ad::read_obs_column;
pub(crate) use labels::{index_genes, read_edges, read_tf_names};
pub use pairs::{NegativeSet, Negatives, PairCounts, PairSet, sample_pairs, split_validation};
pub use user::{UserDatasetSpec, load_user_dataset};

/// One dataset, ready for pair sampling and probing.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// BEELINE dataset name (`mDC`) or the user's name for it.
    pub name: String,
    /// `STRING`, `Non-Specific`, `Specific`, `Lofgof`, or `custom` for user datasets.
    pub network: String,
    /// BEELINE's `TFs+N` gene subset; `None` for user datasets.
    pub size: Option<u32>,
    /// Every gene, in expression-row order; all indices below point into this.
    pub genes: Vec<GeneSymbol>,
    /// The TFs, ascending and distinct.
    pub tfs: Vec<usize>,
    /// Ground-truth edges, sorted and distinct. May include self-loops or non-TF sources; pair
    /// sampling counts those instead of using them.
    pub edges: Vec<Pair>,
    /// Rows follow `genes`.
    pub expression: Option<Expression>,
    /// The expression file read, or where it was looked for when absent.
    pub expression_source: String,
    /// Things the reader dropped or repaired, one sentence each, for the run report.
    pub notes: Vec<String>,
}

impl Dataset {
    /// What a probe sees of this dataset.
    pub fn view(&self) -> DatasetView<'_> {
        DatasetView {
            name: &self.name,
            genes: &self.genes,
            expression: self.expression.as_ref(),
            expression_source: &self.expression_source,
        }
    }
}

/// Where in a file a problem is: the path, then `:line` and the column or HDF5 object when known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub path: PathBuf,
    pub line: Option<u64>,
    /// "column `Gene2`" in a CSV, "object `var/_index`" in an `.h5ad` file.
    pub detail: Option<String>,
}

impl Location {
    pub fn file(path: &Path) -> Self {
        Location { path: path.to_path_buf(), line: None, detail: None }
    }

    pub fn line(path: &Path, line: u64) -> Self {
        Location { path: path.to_path_buf(), line: Some(line), detail: None }
    }

    pub fn with_column(mut self, column: &str) -> Self {
        self.detail = Some(format!("column `{column}`"));
        self
    }

    pub fn with_object(mut self, object: &str) -> Self {
        self.detail = Some(format!("object `{object}`"));
        self
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(detail) = &self.detail {
            write!(f, ", {detail}")?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DataError {
    /// A file or folder is missing, unreadable, or has bad content.
    #[error("{location}: {reason}")]
    File { location: Location, reason: String },
    /// A request naming no known dataset, network or size, or a setting that does not apply.
    #[error("{key} `{value}`: {reason}")]
    Param { key: &'static str, value: String, reason: String },
}

impl DataError {
    pub(crate) fn file(location: Location, reason: impl fmt::Display) -> Self {
        DataError::File { location, reason: reason.to_string() }
    }

    pub(crate) fn param(key: &'static str, value: impl fmt::Display, reason: impl fmt::Display) -> Self {
        DataError::Param { key, value: value.to_string(), reason: reason.to_string() }
    }
}

impl From<DataError> for ugrn_sdk::Error {
    fn from(e: DataError) -> Self {
        match e {
            DataError::File { location, reason } => ugrn_sdk::Error::file(location, reason),
            DataError::Param { key, value, reason } => ugrn_sdk::Error::param(key, format!("`{value}`: {reason}")),
        }
    }
}

/// Whether `path` names an AnnData file (by its extension, as the readers choose).
pub(crate) fn is_h5ad(path: &Path) -> bool {
    path.extension().is_some_and(|e| e.eq_ignore_ascii_case("h5ad"))
}

/// Reads an expression file on its own: a genes × cells CSV (plain or gzip), or an `.h5ad`
/// file whose gene symbols are var's index or var's `gene_column`. Returns the genes in file
/// order with the matrix. Also used where no TF list is involved, e.g. pretraining corpora.
pub fn read_expression_file(
    path: &Path,
    gene_column: Option<&str>,
) -> Result<(Vec<GeneSymbol>, Expression), DataError> {
    if is_h5ad(path) {
        return h5ad::read_h5ad(path, gene_column);
    }
    match gene_column {
        Some(column) => Err(DataError::param(
            "gene_column",
            column,
            format!("applies to .h5ad expression files only, not {}", path.display()),
        )),
        None => expression::read_expression_csv(path),
    }
}

/// Up to three examples and how many more, for notes about dropped items.
fn examples(items: &[String]) -> String {
    let shown = items.iter().take(3).cloned().collect::<Vec<_>>().join(", ");
    match items.len() {
        0..=3 => shown,
        n => format!("{shown} and {} more", n - 3),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn location_names_file_line_and_column() {
        let loc = Location::line(Path::new("d/BL--network.csv"), 7).with_column("Gene2");
        assert_eq!(loc.to_string(), "d/BL--network.csv:7, column `Gene2`");
        assert_eq!(Location::file(Path::new("x.csv")).to_string(), "x.csv");
        let object = Location::file(Path::new("a.h5ad")).with_object("X/indptr");
        assert_eq!(object.to_string(), "a.h5ad, object `X/indptr`");
    }

    #[test]
    fn data_errors_convert_to_sdk_errors() {
        let e = DataError::file(Location::line(Path::new("a.csv"), 3), "bad");
        assert_eq!(e.to_string(), "a.csv:3: bad");
        let sdk: ugrn_sdk::Error = e.into();
        assert_eq!(sdk, ugrn_sdk::Error::file("a.csv:3", "bad"));

        let e = DataError::param("network", "Foo", "unknown");
        assert_eq!(e.to_string(), "network `Foo`: unknown");
        let sdk: ugrn_sdk::Error = e.into();
        assert_eq!(sdk.to_string(), "parameter `network`: `Foo`: unknown");
    }

    #[test]
    fn examples_shows_three_then_counts_the_rest() {
        let items: Vec<String> = ["A", "B", "C", "D", "E"].iter().map(|s| s.to_string()).collect();
        assert_eq!(examples(&items[..2]), "A, B");
        assert_eq!(examples(&items), "A, B, C and 2 more");
    }

    #[test]
    fn expression_file_dispatches_on_the_extension() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("expr.csv.gz");
        std::fs::write(&csv, ",c1\nMYC,1\n").unwrap();
        let (genes, e) = read_expression_file(&csv, None).unwrap();
        assert_eq!((genes, e.values.data), (vec!["MYC".to_string()], vec![1.0]));
        let h5ad = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/data/testdata/dense.h5ad");
        assert_eq!(read_expression_file(&h5ad, None).unwrap().0, vec!["GATA1", "SPI1", "MYC", "CEBPA"]);
        let e = read_expression_file(&csv, Some("symbol")).unwrap_err();
        let expected = format!("gene_column `symbol`: applies to .h5ad expression files only, not {}", csv.display());
        assert_eq!(e.to_string(), expected);
    }
}
