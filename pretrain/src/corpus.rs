//! The expression matrices to pretrain on, read with the host's data readers.
use std::path::{Path, PathBuf};

use ugrn::data::{BEELINE_DATASETS, BEELINE_SIZES, BeelineSource, read_expression_file};
use ugrn_sdk::{Expression, GeneSymbol};

/// One expression matrix to pretrain on.
#[derive(Debug, Clone)]
pub struct Corpus {
    /// Names the corpus in the log, `args.json` and `validation_cells.json`.
    pub name: String,
    /// Where it was read from.
    pub source: String,
    /// Gene symbols of the matrix rows.
    pub genes: Vec<GeneSymbol>,
    pub expression: Expression,
}

/// Every BEELINE dataset with an expression matrix in `roots`, each once, at the largest gene
/// subset available (the networks' files of one dataset and size hold the same rows, and the
/// TFs+500 genes are a subset of the TFs+1000 genes).
pub fn beeline_corpora(roots: &[PathBuf]) -> Vec<Corpus> {
    let source = BeelineSource { roots: roots.to_vec() };
    let mut out = Vec::new();
    for dataset in BEELINE_DATASETS {
        let mut sizes = BEELINE_SIZES.to_vec();
        sizes.sort_unstable_by(|a, b| b.cmp(a));
        for size in sizes {
            let Ok(d) = source.load("STRING", dataset, size) else { continue };
            if let Some(expression) = d.expression {
                out.push(Corpus {
                    name: format!("{dataset} TFs+{size}"),
                    source: d.expression_source,
                    genes: d.genes,
                    expression,
                });
                break;
            }
        }
    }
    out
}

/// A user's expression file (CSV genes × cells, or `.h5ad`).
pub fn file_corpus(path: &Path) -> anyhow::Result<Corpus> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let (genes, expression) = read_expression_file(path, None)?;
    Ok(Corpus { name, source: path.display().to_string(), genes, expression })
}
